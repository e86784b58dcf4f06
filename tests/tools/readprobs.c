/* readprobs — reads a whole (N,K,H,W) prediction tensor with the same
 * reader and band size as segaudit, and does nothing else: the I/O floor
 * that an audit's wall time is compared with.
 *
 *   readprobs [--hdf5] FILE[:DATASET] [BAND_BYTES]
 *
 * --hdf5: every read through H5Dread, whole images at a time (HDF5's own
 * speed, the "read" that audits are compared with); BAND_BYTES 0: whole
 * images.
 *
 * Prints seconds, MB/s and a checksum (so the reads cannot be skipped). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/h5_probs.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int whole = 0;
    if (argc > 1 && !strcmp(argv[1], "--hdf5")) {
        sa_probs_use_direct(0);
        whole = 1;
        argv++;
        argc--;
    }
    if (argc < 2) {
        fprintf(stderr,
                "usage: readprobs [--hdf5] FILE[:DATASET] [BAND_BYTES]\n");
        return 2;
    }
    char *path = strdup(argv[1]);
    const char *dataset = "/pred_probs";
    char *colon = strrchr(path, ':');
    if (colon) {
        *colon = '\0';
        dataset = colon + 1;
    }
    uint64_t band_bytes = argc > 2 ? strtoull(argv[2], NULL, 10) : 4 << 20;
    SaErr err = {0, ""};
    SaProbs *p = NULL;
    if (sa_probs_open(&p, path, dataset, &err) != 0) {
        fprintf(stderr, "readprobs: %s\n", err.msg);
        return 1;
    }
    uint64_t d[4];
    sa_probs_dims(p, d);
    size_t el = sa_probs_elsize(p);
    uint64_t rows = band_bytes / (d[1] * d[3] * el);
    if (rows < 1)
        rows = 1;
    if (whole || band_bytes == 0)
        rows = d[2];
    if (rows > d[2])
        rows = d[2];
    sa_probs_plan_band_rows(p, rows, &err);
    unsigned char *buf = malloc(d[1] * rows * d[3] * el);
    uint64_t sum = 0, bytes = 0;
    double t0 = now();
    for (uint64_t n = 0; n < d[0]; n++)
        for (uint64_t r = 0; r < d[2]; r += rows) {
            uint64_t nr = d[2] - r < rows ? d[2] - r : rows;
            if (sa_probs_read_band(p, n, r, nr, buf, &err) != 0) {
                fprintf(stderr, "readprobs: %s\n", err.msg);
                return 1;
            }
            sum += buf[0] + buf[d[1] * nr * d[3] * el - 1];
            bytes += d[1] * nr * d[3] * el;
        }
    double t = now() - t0;
    printf("read %llu bytes in %.3f s: %.0f MB/s (checksum %llu)\n",
           (unsigned long long)bytes, t, bytes / t / 1e6,
           (unsigned long long)sum);
    free(buf);
    sa_probs_close(p);
    free(path);
    return 0;
}
