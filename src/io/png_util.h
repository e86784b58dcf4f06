/* What the libpng readers and writers share (internal): the message
 * record behind libpng's error and warning callbacks, opening a file that
 * must be a regular one, and the steps every reader takes: the signature,
 * the header with its limits, the message for a libpng error, and the
 * buffers for decoding an interlaced image whole. */
#ifndef SA_PNG_UTIL_H
#define SA_PNG_UTIL_H

#include <png.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "io/files.h"

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

/* Reads the 8-byte PNG signature from fp.  Returns 0 for a PNG, 1 when the
 * file is empty, 2 when it is not a PNG (shorter than the signature, or
 * another one), -1 when reading failed (errno says why). */
int sa_png_read_signature(FILE *fp);

/* Sets png up to read fp after the signature and reads the header
 * (png_read_info).  The size limits are expect_w and expect_h, or 2^20 when
 * that is more (so an image of a wrong size gets the caller's message, and
 * libpng's row arithmetic cannot overflow); ancillary chunks are skipped
 * unread.  A libpng error longjmps to the caller's setjmp. */
void sa_png_read_start(png_structp png, png_infop info, FILE *fp,
                       uint32_t expect_w, uint32_t expect_h);

/* After a libpng error while reading path: "<path>: read failed: <errno's
 * message>" (SEGAUDIT_EIO) when the stream has an error, else "<path>:
 * <what> (libpng: <error>[; <first warning>])" (SEGAUDIT_EINPUT). */
int sa_png_read_fail(const char *path, FILE *fp, const SaPngMsg *msg,
                     const char *what, SaErr *err);

/* Buffers to decode an image of h rows of rowbytes whole: *image, and
 * *rows (to free after decoding) pointing at its rows.  Returns 0; 1 when
 * the image is larger than memory can address; -1 when out of memory.
 * On failure nothing is allocated. */
int sa_png_alloc_rows(uint32_t h, size_t rowbytes, unsigned char **image,
                      png_bytep **rows);

#endif
