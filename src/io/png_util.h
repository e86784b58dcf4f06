/* What the libpng readers and writers share (internal): the message
 * record behind libpng's error and warning callbacks, and opening a file
 * that must be a regular one. */
#ifndef SA_PNG_UTIL_H
#define SA_PNG_UTIL_H

#include <png.h>
#include <stddef.h>
#include <stdio.h>

#include "common/error.h"

/* Filled by the callbacks below (set as libpng's error pointer). */
typedef struct SaPngMsg {
    char text[256];     /* the error */
    char warning[160];  /* the first warning, as context */
    int sys_errno;      /* errno when the error was raised */
} SaPngMsg;

/* Records the message and longjmps back to the caller's setjmp. */
void sa_png_on_error(png_structp png, png_const_charp text);
/* Warnings never stop reading; the first is kept as context. */
void sa_png_on_warning(png_structp png, png_const_charp text);

/* strerror into buf, thread-safe. */
const char *sa_errstr(int e, char *buf, size_t n);

/* Opens path for reading as a stdio stream, refusing anything but a
 * regular file: O_NONBLOCK keeps open() of a FIFO from waiting for a
 * writer, and is cleared once the file is known to be regular.  `what`
 * ("" or " the photo") goes into "cannot open%s", `kind` ("PNG file") into
 * "is a directory, not a <kind>". */
int sa_open_regular(const char *path, const char *what, const char *kind,
                    FILE **out, SaErr *err);

#endif
