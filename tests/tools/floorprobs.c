/* floorprobs — the least that any audit of a tensor does, on every
 * thread: each band read once with segaudit's reader (the reads planned
 * on one thread and done by the workers, as in an audit), each pixel's
 * argmax over the classes taken with segaudit's kernel, and each label
 * PNG decoded.  What an audit adds to this is the method itself: the
 * scores, the softmin, the class means, the candidate records, pass 2
 * and the outputs.  scripts/bench compares it with the one-thread read.
 *
 *   floorprobs FILE[:DATASET] LABELS_DIR THREADS
 *
 * The tensor must be one that segaudit reads directly (io/h5_direct.c):
 * uncompressed, or deflate chunks, which are then inflated too.
 * Prints seconds and a checksum (so that nothing can be skipped). */
#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/h5_probs.h"
#include "io/png_io.h"
#include "kernel/kernels.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int is_png(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 4 && !strcmp(d->d_name + n - 4, ".png");
}

static int fail(const char *msg)
{
    fprintf(stderr, "floorprobs: %s\n", msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4 || atoi(argv[3]) < 1) {
        fprintf(stderr, "usage: floorprobs FILE[:DATASET] LABELS_DIR "
                        "THREADS\n");
        return 2;
    }
    char *path = strdup(argv[1]);
    const char *dataset = "/pred_probs", *labels = argv[2];
    int threads = atoi(argv[3]);
    char *colon = strrchr(path, ':');
    if (colon) {
        *colon = '\0';
        dataset = colon + 1;
    }
    double t0 = now();
    SaErr err = {0, ""};
    SaProbs *p = NULL;
    if (sa_probs_open(&p, path, dataset, &err) != 0)
        return fail(err.msg);
    uint64_t d[4];
    sa_probs_dims(p, d);
    const size_t el = sa_probs_elsize(p);
    /* bands of about 4 MiB, as segaudit's default */
    uint64_t rows = ((uint64_t)4 << 20) / (d[1] * d[3] * el);
    rows = rows < 1 ? 1 : rows > d[2] ? d[2] : rows;
    if (sa_probs_plan_band_rows(p, rows, &err) != 0)
        return fail(err.msg);
    const uint64_t per = (d[2] + rows - 1) / rows, nb = d[0] * per;
    SaBandRead *plan = malloc(nb * sizeof *plan);
    if (!plan)
        return fail("out of memory");
    for (uint64_t i = 0; i < nb; i++) {
        uint64_t n = i / per, r0 = i % per * rows;
        uint64_t nr = d[2] - r0 < rows ? d[2] - r0 : rows;
        int rc = sa_probs_plan_read(p, n, r0, nr, &plan[i], &err);
        if (rc < 0)
            return fail(err.msg);
        if (rc == 0)
            return fail("this tensor is read through HDF5 (a filter or a "
                        "byte order of its own): it has no floor here");
    }
    struct dirent **names = NULL;
    int nl = scandir(labels, &names, is_png, alphasort);
    if (nl < 0) {
        fprintf(stderr, "floorprobs: %s: cannot list the labels folder\n",
                labels);
        return 1;
    }

    SaKernelParams kp;
    memset(&kp, 0, sizeof kp);
    kp.K = (uint32_t)d[1];
    kp.W = (uint32_t)d[3];
    kp.f = 1;
    kp.dtype = sa_probs_dtype(p);
    kp.rec_mode = SA_REC_NONE;
    const size_t scratch = sa_kernel_scratch_size(&kp);
    unsigned long long sum = 0;
    int bad = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sum, bad)
    {
        void *buf = malloc(d[1] * rows * d[3] * el);
        void *sc = aligned_alloc(64, (scratch + 63) & ~(size_t)63);
        uint16_t *arg = malloc(d[3] * sizeof *arg);
        uint16_t *lab = malloc(d[3] * sizeof *lab);
        SaReadScratch rs;
        memset(&rs, 0, sizeof rs);
        SaErr e = {0, ""};
        bad += !buf || !sc || !arg || !lab;
#pragma omp for schedule(dynamic, 1) nowait
        for (uint64_t i = 0; i < nb; i++) {
            uint64_t bytes = 0;
            if (bad || sa_probs_read_planned(p, &plan[i], buf, &bytes, &rs,
                                             &e) != 0) {
                bad++;
                continue;
            }
            for (uint64_t r = 0; r < plan[i].nrows; r++) {
                sa_kernel_argmax_row(&kp, sc, buf, (uint32_t)plan[i].nrows,
                                     (uint32_t)r, arg);
                sum += arg[r % d[3]];
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < nl; i++) {
            char lp[4096];
            snprintf(lp, sizeof lp, "%s/%s", labels, names[i]->d_name);
            SaLabelPng *png = NULL;
            if (bad || sa_label_png_open(&png, lp, 0, 0, &e) != 0) {
                bad++;
                continue;
            }
            uint32_t h = sa_label_png_height(png),
                     w = sa_label_png_width(png);
            if (w > d[3]) {
                snprintf(e.msg, sizeof e.msg, "%.900s: wider than the "
                         "tensor", lp);
                e.code = 1;
                bad++;
            }
            for (uint32_t r = 0; r < h && !bad; r++) {
                if (sa_label_png_read_rows(png, lab, 1, &e) != 0)
                    bad++;
                else
                    sum += lab[r % w];
            }
            sa_label_png_close(png);
        }
        if (e.code)
#pragma omp critical
            fprintf(stderr, "floorprobs: %s\n", e.msg);
        sa_read_scratch_free(&rs);
        free(buf);
        free(sc);
        free(arg);
        free(lab);
    }
    double t = now() - t0;
    for (int i = 0; i < nl; i++)
        free(names[i]);
    free(names);
    free(plan);
    sa_probs_close(p);
    free(path);
    if (bad)
        return fail("a read failed");
    printf("read, argmax and %d label files in %.3f s on %d threads "
           "(checksum %llu)\n", nl, t, threads, sum);
    return 0;
}
