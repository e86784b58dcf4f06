/* Opening input files: anything but a regular file is refused with a
 * message, and open() of a FIFO never waits for a writer (O_NONBLOCK,
 * cleared once the file is known to be regular). */
#ifndef SA_FILES_H
#define SA_FILES_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/error.h"

/* strerror into buf, thread-safe. */
const char *sa_errstr(int e, char *buf, size_t n);

/* Opens path read-only into *fd (and its stat into *st).  `what` ("" or
 * " the photo") goes into "cannot open%s", `kind` ("PNG file") into "is a
 * directory, not a <kind>". */
int sa_open_regular_fd(const char *path, const char *what, const char *kind,
                       int *fd, struct stat *st, SaErr *err);

/* The same as a stdio stream. */
int sa_open_regular(const char *path, const char *what, const char *kind,
                    FILE **out, SaErr *err);

#endif
