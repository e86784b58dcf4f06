/* The progress line on stderr: images done, read rate and time left,
 * redrawn in place. */
#include <stdio.h>
#include <time.h>

#include "progress.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_progress(void *ctx, int pass, uint64_t done, uint64_t total,
                  uint64_t bytes)
{
    CliProgress *p = ctx;
    double t = now_s();
    if (p->t0 == 0)
        p->t0 = t;
    if (t - p->last < 0.5 && done < total)
        return;
    p->last = t;
    double el = t - p->t0;
    double mbs = el > 0 ? (double)bytes / el / 1e6 : 0;
    double eta = done > 0 ? el * (double)(total - done) / (double)done : 0;
    fprintf(stderr, "\r%s: %llu/%llu images, %.0f MB/s, ETA %02d:%02d ",
            pass == 1 ? "reading" : "second read",
            (unsigned long long)done, (unsigned long long)total, mbs,
            (int)(eta / 60), (int)eta % 60);
    p->shown = 1;
}

void cli_progress_end(const CliProgress *p)
{
    if (p->shown)
        fputc('\n', stderr);
}
