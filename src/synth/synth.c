/* segaudit_synth(): synthetic datasets with known annotation errors.
 *
 * The driver: settings, which images get an error, worker threads, and
 * the order in which the files are written (the output folder and its
 * files: synth_files.c).
 *
 * Each image i is made from its own random streams (seed, i, purpose):
 * the scene (synth_scene.c), the error injected into its given labels
 * (synth_errors.c), and the simulated model (synth_model.c).  Worker
 * threads render whole images; the HDF5 writes and truth.csv rows happen
 * in an ordered region, in image order, so the files do not depend on the
 * thread count.  Memory per thread: one image of probabilities (K*H*W
 * values) plus about 8 bytes per pixel. */
#include "segaudit/synth.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "common/error.h"
#include "io/h5_write.h"
#include "synth/synth_errors.h"
#include "synth/synth_files.h"
#include "synth/synth_model.h"
#include "synth/synth_scene.h"

/* ---- settings ---------------------------------------------------------- */

void segaudit_synth_default_settings(SegauditSynthSettings *s)
{
    memset(s, 0, sizeof *s);
    s->n_classes = 19;
    s->error_rate = 0.3;
    s->dtype = SEGAUDIT_SYNTH_F32;
    s->compress = SEGAUDIT_SYNTH_NONE;
    s->gzip_level = 4;
    s->void_value = -1;
}

static int validate(const SegauditSynthSettings *s, SaErr *err)
{
    const int e = SEGAUDIT_EINVAL;
    if (!s->out_dir || !*s->out_dir)
        return sa_err(err, e, "the output folder is required");
    if (s->n_images < 1 || s->n_images > ((uint64_t)1 << 40))
        return sa_err(err, e, "the number of images must be from 1 to 2^40");
    if (s->height < 16 || s->width < 16 || s->height > 65535 ||
        s->width > 65535)
        return sa_err(err, e, "the image size %ux%u is not from 16x16 to "
                      "65535x65535", s->height, s->width);
    if (s->n_classes < 2 || s->n_classes > 255)
        return sa_err(err, e, "the number of classes %d is not from 2 to 255",
                      s->n_classes);
    if (!(s->error_rate >= 0 && s->error_rate <= 1))
        return sa_err(err, e, "the error rate must be from 0 to 1");
    if (s->dtype != SEGAUDIT_SYNTH_F32 && s->dtype != SEGAUDIT_SYNTH_F16)
        return sa_err(err, e, "unknown dtype %d", s->dtype);
    if (s->compress != SEGAUDIT_SYNTH_NONE &&
        s->compress != SEGAUDIT_SYNTH_GZIP)
        return sa_err(err, e, "unknown compression %d", s->compress);
    if (s->model < SEGAUDIT_SYNTH_STANDARD ||
        s->model > SEGAUDIT_SYNTH_OVERCONFIDENT)
        return sa_err(err, e, "unknown model %d", s->model);
    if (s->errors < 0 || s->errors > SEGAUDIT_SYNTH_ALL_ERRORS)
        return sa_err(err, e, "unknown error kinds %#x", s->errors);
    if (s->compress == SEGAUDIT_SYNTH_GZIP &&
        (s->gzip_level < 1 || s->gzip_level > 9))
        return sa_err(err, e, "the gzip level %d is not from 1 to 9",
                      s->gzip_level);
    if (s->void_value != -1 &&
        (s->void_value < s->n_classes || s->void_value > 255))
        return sa_err(err, e, "the void value %d must be from K=%d to 255 "
                      "(not a class)", s->void_value, s->n_classes);
    if (s->n_threads < 0 || s->n_threads > 4096)
        return sa_err(err, e, "the thread count %d is not from 0 to 4096",
                      s->n_threads);
    return 0;
}

static void class_map(int K, uint8_t map[SC_N])
{
    for (int c = 0; c < SC_N; c++)
        map[c] = (uint8_t)(c * K / SC_N);
}

int sa_synth_clean_labels(const SegauditSynthSettings *s, uint64_t index,
                          uint8_t *out)
{
    SaErr err = {0};
    SaScene sc;
    uint8_t map[SC_N];
    int rc = validate(s, &err);
    if (rc)
        return rc;
    if (sa_scene_alloc(&sc, s->height, s->width) != 0)
        return SEGAUDIT_ENOMEM;
    SaRng r = sa_rng_for(s->seed, index, SA_STREAM_SCENE);
    sa_scene_render(&sc, &r);
    class_map(s->n_classes, map);
    for (size_t j = 0; j < (size_t)s->height * s->width; j++)
        out[j] = map[sc.cls[j]];
    sa_scene_free(&sc);
    return 0;
}

/* round(rate * n) images, chosen by the seed (selection sampling). */
static uint8_t *select_images(uint64_t n, double rate, uint64_t seed)
{
    uint8_t *sel = calloc(n, 1);
    uint64_t want = (uint64_t)floor(rate * (double)n + 0.5), got = 0;
    SaRng r = sa_rng_for(seed, 0, SA_STREAM_SELECT);
    if (!sel)
        return NULL;
    if (want > n)
        want = n;
    for (uint64_t i = 0; i < n && got < want; i++)
        if ((double)(n - i) * sa_rng_u(&r) < (double)(want - got)) {
            sel[i] = 1;
            got++;
        }
    return sel;
}

/* ---- workers ----------------------------------------------------------- */

/* What one thread needs to make an image. */
typedef struct Worker {
    SaScene sc;
    uint8_t *given;  /* h*w given labels */
    uint8_t *error;  /* h*w true error mask: 255 where given != clean */
    SaModel *model;
    void *tensor;    /* one image of probabilities */
    SaH5Encoded enc;
} Worker;

static void worker_free(Worker *w)
{
    sa_scene_free(&w->sc);
    free(w->given);
    free(w->error);
    sa_model_free(w->model);
    free(w->tensor);
    sa_h5w_encoded_free(&w->enc);
    memset(w, 0, sizeof *w);
}

/* 0 or -1 (out of memory; w is then freed). */
static int worker_alloc(Worker *w, uint32_t h, uint32_t wd, int model,
                        size_t tensor_bytes)
{
    memset(w, 0, sizeof *w);
    if (sa_scene_alloc(&w->sc, h, wd) != 0)
        return -1;
    if (!(w->given = malloc((size_t)h * wd)) ||
        !(w->error = malloc((size_t)h * wd)) ||
        !(w->model = sa_model_new(h, wd, model)) ||
        !(w->tensor = malloc(tensor_bytes))) {
        worker_free(w);
        return -1;
    }
    return 0;
}

/* ---- the run ----------------------------------------------------------- */

typedef struct Job {
    const SegauditSynthSettings *s;
    const SaSynthFiles *p;
    uint8_t map[SC_N];
    const uint8_t *selected; /* per image: 1 = inject an error */
    uint8_t *written;        /* per image: its label PNG exists */
    int width;               /* digits of the ids */
    SaH5Writer *h5;
    FILE *truth;
    int gzip;
} Job;

typedef struct Result {
    int kind;
    uint64_t changed;
} Result;

static int cancelled(const Job *j)
{
    return j->s->cancel && *j->s->cancel;
}

/* Everything of image i that needs no HDF5: scene, error, label PNG,
 * probabilities (compressed when gzip). */
static int render_image(Worker *w, const Job *j, uint64_t i, Result *res,
                        SaErr *err)
{
    const SegauditSynthSettings *s = j->s;
    const size_t n = (size_t)s->height * s->width;

    SaRng r = sa_rng_for(s->seed, i, SA_STREAM_SCENE);
    sa_scene_render(&w->sc, &r);
    for (size_t k = 0; k < n; k++)
        w->given[k] = j->map[w->sc.cls[k]];
    res->kind = SA_ERR_NONE;
    res->changed = 0;
    if (j->selected[i]) {
        r = sa_rng_for(s->seed, i, SA_STREAM_ERROR);
        res->kind = sa_scene_inject(&w->sc, &r, j->map, s->void_value,
                                    s->errors ? s->errors
                                              : SEGAUDIT_SYNTH_OVERLOOKED |
                                                    SEGAUDIT_SYNTH_SWAPPED |
                                                    SEGAUDIT_SYNTH_BOUNDARY,
                                    w->given, &res->changed);
    }
    for (size_t k = 0; k < n; k++)
        w->error[k] = w->given[k] != j->map[w->sc.cls[k]] ? 255 : 0;
    int rc = sa_synth_write_label(j->p, j->width, i, w->given, s->height,
                                  s->width, err);
    if (rc)
        return rc;
    j->written[i] = 1; /* a failure from here on removes it (and its mask) */
    if ((rc = sa_synth_write_mask(j->p, j->width, i, w->error, s->height,
                                  s->width, err)) != 0)
        return rc;

    r = sa_rng_for(s->seed, i, SA_STREAM_MODEL);
    sa_model_seed(w->model, &w->sc, &r, j->map);
    sa_model_render(w->model, &w->sc, s->n_classes, j->map,
                    s->dtype == SEGAUDIT_SYNTH_F16, w->tensor);
    if (j->gzip)
        return sa_h5w_encode(j->h5, w->tensor, &w->enc, err);
    return 0;
}

/* In image order: the tensor and the truth row of image i. */
static int commit_image(Worker *w, const Job *j, uint64_t i,
                        const Result *res, SaErr *err)
{
    char id[64];
    int rc = sa_h5w_write_image(j->h5, i, w->tensor, &w->enc, err);
    if (rc)
        return rc;
    sa_synth_format_id(id, sizeof id, j->width, i);
    if (fprintf(j->truth, "%s,%d,%s,%" PRIu64 "\n", id,
                res->kind != SA_ERR_NONE, sa_error_kind_names[res->kind],
                res->changed) < 0)
        return sa_err(err, SEGAUDIT_EIO, "%s: write failed: %s",
                      j->p->truth_tmp, strerror(errno));
    return 0;
}

static int run_images(const Job *j, int threads, SaErr *err)
{
    const SegauditSynthSettings *s = j->s;
    const long long N = (long long)s->n_images;
    const size_t tensor_bytes = sa_h5w_image_bytes(j->h5);
    int failed = 0;

#pragma omp parallel num_threads(threads)
    {
        Worker w;
        SaErr e = {0};
        if (worker_alloc(&w, s->height, s->width, s->model, tensor_bytes) != 0)
            sa_err(&e, SEGAUDIT_ENOMEM, "out of memory (%zu MB per thread)",
                   (tensor_bytes + 10 * (size_t)s->height * s->width) >> 20);
#pragma omp for ordered schedule(dynamic, 1)
        for (long long i = 0; i < N; i++) {
            Result res;
            int f, rc = e.code;
#pragma omp atomic read
            f = failed;
            if (!f && !rc && cancelled(j))
                rc = sa_err(&e, SEGAUDIT_ECANCEL, "interrupted");
            if (!f && !rc)
                rc = render_image(&w, j, (uint64_t)i, &res, &e);
#pragma omp ordered
            {
#pragma omp atomic read
                f = failed;
                if (!f && !rc)
                    rc = commit_image(&w, j, (uint64_t)i, &res, &e);
            }
            if (rc) {
#pragma omp atomic write
                failed = 1;
            }
        }
        if (e.code) {
#pragma omp critical(synth_err)
            sa_err(err, e.code, "%s", e.msg);
        }
        worker_free(&w);
    }
    return err->code;
}

/* /image_ids in blocks, so that memory does not grow with N. */
static int write_ids(const Job *j, SaErr *err)
{
    enum { BLOCK = 4096 };
    const uint64_t N = j->s->n_images;
    char *buf = malloc((size_t)BLOCK * 64);
    const char **ptr = malloc(sizeof *ptr * BLOCK);
    int rc = !buf || !ptr ? sa_err(err, SEGAUDIT_ENOMEM, "out of memory")
                          : sa_h5w_ids_create(j->h5, "/image_ids", N, err);
    for (uint64_t first = 0; rc == 0 && first < N; first += BLOCK) {
        uint64_t cnt = N - first < BLOCK ? N - first : BLOCK;
        for (uint64_t k = 0; k < cnt; k++) {
            sa_synth_format_id(buf + k * 64, 64, j->width, first + k);
            ptr[k] = buf + k * 64;
        }
        rc = sa_h5w_ids_write(j->h5, first, cnt, ptr, err);
    }
    free(buf);
    free(ptr);
    return rc;
}

int segaudit_synth(const SegauditSynthSettings *s, char *errbuf,
                   size_t errlen)
{
    SaErr err = {0};
    SaSynthFiles p = {0};
    Job j = {0};
    uint8_t *selected = NULL;
    int rc;

    if (errbuf && errlen)
        errbuf[0] = '\0';
    if ((rc = validate(s, &err)) != 0)
        goto out;
    if ((rc = sa_synth_files_prepare(s, &p, &err)) != 0)
        goto out;
    j.s = s;
    j.p = &p;
    j.width = sa_synth_id_width(s->n_images);
    j.gzip = s->compress == SEGAUDIT_SYNTH_GZIP;
    class_map(s->n_classes, j.map);
    selected = select_images(s->n_images, s->error_rate, s->seed);
    j.written = calloc(s->n_images, 1);
    j.selected = selected;
    if (!selected || !j.written) {
        rc = sa_err(&err, SEGAUDIT_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = sa_synth_write_classes(p.classes_tmp, s->n_classes, &err)) != 0)
        goto fail;

    SaH5WriterOpts o = {s->n_images, (uint64_t)s->n_classes, s->height,
                        s->width,
                        s->dtype == SEGAUDIT_SYNTH_F16 ? SA_F16 : SA_F32, 0,
                        j.gzip ? s->gzip_level : 0};
    if (s->chunk_rows)
        o.chunk_rows = s->chunk_rows < s->height ? s->chunk_rows : s->height;
    else if (j.gzip)
        o.chunk_rows = sa_h5w_chunk_rows_for(o.k, o.h, o.w,
                                             sa_dtype_size(o.dtype),
                                             (size_t)1 << 20);
    if ((rc = sa_h5w_create(&j.h5, p.probs_tmp, "/pred_probs", &o, &err)))
        goto fail;
    if (!(j.truth = fopen(p.truth_tmp, "w"))) {
        rc = sa_err(&err, SEGAUDIT_EIO, "%s: cannot create: %s", p.truth_tmp,
                    strerror(errno));
        goto fail;
    }
    fputs("image,mislabeled,error_type,error_pixels\n", j.truth);

    int threads = s->n_threads > 0 ? s->n_threads : omp_get_max_threads();
    if ((uint64_t)threads > s->n_images)
        threads = (int)s->n_images;
    if ((rc = run_images(&j, threads, &err)) != 0 ||
        (rc = write_ids(&j, &err)) != 0)
        goto fail;
    rc = sa_h5w_close(j.h5, &err);
    j.h5 = NULL;
    if (rc)
        goto fail;
    FILE *truth = j.truth;
    j.truth = NULL;
    if ((rc = sa_synth_close_text(truth, p.truth_tmp, &err)) != 0)
        goto fail;
    if (cancelled(&j)) {
        rc = sa_err(&err, SEGAUDIT_ECANCEL, "interrupted");
        goto fail;
    }
    if ((rc = sa_synth_files_publish(&p, &err)) == 0)
        goto out;
fail:
    if (j.truth)
        fclose(j.truth);
    sa_h5w_abort(j.h5);
    sa_synth_files_remove(&p, j.written, s->n_images, j.width);
out:
    if (rc && errbuf && errlen)
        snprintf(errbuf, errlen, "%s", err.msg);
    free(selected);
    free(j.written);
    sa_synth_files_free(&p);
    return rc;
}
