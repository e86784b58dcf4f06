/* The progress line on stderr during an audit. */
#ifndef SEGAUDIT_CLI_PROGRESS_H
#define SEGAUDIT_CLI_PROGRESS_H

#include <stdint.h>

/* The state of one progress line; starts zeroed. */
typedef struct CliProgress {
    double t0, last; /* monotonic seconds: first call, last redraw */
    int shown;       /* a line was drawn */
} CliProgress;

/* The progress callback of SegauditSettings; ctx is a CliProgress.
 * Redraws the line at most twice a second: images, MB/s, ETA. */
void cli_progress(void *ctx, int pass, uint64_t done, uint64_t total,
                  uint64_t bytes);
/* Ends the line, if one was drawn. */
void cli_progress_end(const CliProgress *p);

#endif
