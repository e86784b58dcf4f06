/* 8-bit PNG files written row by row (internal to the library): the issue
 * masks (grayscale) and the review overlays (RGB, or palette when they
 * have 256 colours or fewer).
 *
 * libpng reports errors through sa_png_on_error() (png_util.h), which
 * longjmps back to the setjmp of the function in progress here; that
 * function turns the message (or errno, which still holds the cause of a
 * failed fwrite) into "<path>: write failed..." (SEGAUDIT_EIO).  After a
 * failure the writer is unusable: abort it.  A failed writer removes its
 * partial file, but only a regular file (never /dev/full and the like).
 *
 * Not thread-safe per writer; different writers may be used concurrently. */
#ifndef SA_PNG_WRITE_H
#define SA_PNG_WRITE_H

#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <zlib.h>

#include "common/error.h"
#include "io/png_util.h"

typedef struct SaPngWriter {
    const char *path; /* borrowed: must outlive the writer */
    FILE *fp;
    png_structp png;
    png_infop info;
    SaPngMsg msg;
    int may_unlink;   /* only regular files are removed */
    /* palette rows without a filter: the image data compressed here, not
     * by libpng (png_write.c says why); NULL otherwise */
    z_stream *z;
    unsigned char *zbuf; /* the IDAT chunk being filled */
    uint32_t adler;      /* Adler-32 of the rows so far */
    size_t width;
} SaPngWriter;

/* How a writer compresses: zlib level 0..9 (-1: libpng's default) and the
 * row filters libpng may choose from (PNG_FILTER_* flags; 0: its default,
 * which tries every filter on every row); and, for PNG_COLOR_TYPE_PALETTE,
 * the palette's npal (1..256) colours.  The rows of a palette PNG must
 * hold indices below npal: libpng's own check of every row is off. */
typedef struct SaPngPacking {
    int zlib_level;
    int filters;
    const uint8_t (*palette)[3];
    int npal;
} SaPngPacking;

/* Creates path (overwriting) as a width×height PNG of 8-bit samples of
 * colour type ctype (PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_RGB or
 * PNG_COLOR_TYPE_PALETTE, with pk's palette) and writes
 * its header, compressed as pk says.  what ("" or
 * " the overlay") goes into "<path>: cannot create<what>: <reason>".  On
 * failure w is released and the partial file removed. */
int sa_png_writer_create(SaPngWriter *w, const char *path, const char *what,
                         uint32_t width, uint32_t height, int ctype,
                         SaPngPacking pk, SaErr *err);

/* Appends one row (width samples of each channel). */
int sa_png_writer_row(SaPngWriter *w, const uint8_t *row, SaErr *err);

/* Ends the PNG (all rows must have been written), flushes and closes the
 * file; on failure removes it.  Releases w whatever happens. */
int sa_png_writer_finish(SaPngWriter *w, SaErr *err);

/* Releases w and removes the partial file; a released or all-zero writer
 * is left as it is. */
void sa_png_writer_abort(SaPngWriter *w);

#endif
