/* Error reporting inside the library.
 *
 * Every fallible internal function takes an SaErr* and returns 0 on success
 * or a negative SEGAUDIT_E* code; on failure it has written a message that
 * names the file, the image and the problem.  Only the CLI prints. */
#ifndef SA_ERROR_H
#define SA_ERROR_H

#include "segaudit/segaudit.h"

#define SA_ERR_MSG 1024

typedef struct SaErr {
    int code;              /* 0 or a SEGAUDIT_E* code */
    char msg[SA_ERR_MSG];  /* human-readable, no trailing newline */
} SaErr;

#if defined(__GNUC__)
#define SA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SA_PRINTF(a, b)
#endif

/* Records the first error only (later calls are ignored so that the root
 * cause survives cleanup paths).  Returns code, for `return sa_err(...)`. */
int sa_err(SaErr *e, int code, const char *fmt, ...) SA_PRINTF(3, 4);

/* Clears e. */
void sa_err_clear(SaErr *e);

#endif
