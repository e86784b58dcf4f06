/* Label PNG reader and issue-mask PNG writer (libpng), row-streaming.
 *
 * Label PNGs: 8- or 16-bit grayscale (also 1/2/4-bit grayscale, expanded to
 * their integer value, not scaled), and palette PNGs whose palette index is
 * the class (never expanded to colours).  RGB, RGBA and gray+alpha are
 * refused with a message saying why.  Rows are delivered top to bottom as
 * uint16 values.  Interlaced PNGs are decoded whole at open (they cannot be
 * streamed); the size is checked against the expected size first.
 *
 * Not thread-safe per object; different objects may be used concurrently. */
#ifndef SA_PNG_IO_H
#define SA_PNG_IO_H

#include <stdint.h>

#include "common/error.h"

typedef struct SaLabelPng SaLabelPng;

/* Opens path and reads its header.  When expect_w and expect_h are non-zero
 * the PNG's size must equal them; this is checked before anything of the
 * image's size is allocated.  Errors (SEGAUDIT_EINPUT unless I/O): missing
 * file, not a PNG, unsupported colour type, wrong size, corrupt header; each
 * message starts with "<path>: ". */
int sa_label_png_open(SaLabelPng **out, const char *path, uint32_t expect_w,
                      uint32_t expect_h, SaErr *err);

uint32_t sa_label_png_width(const SaLabelPng *p);
uint32_t sa_label_png_height(const SaLabelPng *p);
/* 1, 2, 4, 8 or 16; palette images report their index depth. */
int sa_label_png_bit_depth(const SaLabelPng *p);
/* 1 for palette PNGs. */
int sa_label_png_is_palette(const SaLabelPng *p);

/* Reads the next nrows rows into dst (nrows * width values).  A truncated or
 * corrupt stream is SEGAUDIT_EINPUT with a message naming the path and the
 * row.  Reading past the last row is an error. */
int sa_label_png_read_rows(SaLabelPng *p, uint16_t *dst, uint32_t nrows,
                           SaErr *err);

/* Closes p; NULL is accepted. */
void sa_label_png_close(SaLabelPng *p);

typedef struct SaMaskPng SaMaskPng;

/* Creates an 8-bit grayscale PNG of w×h at path (overwriting). */
int sa_mask_png_create(SaMaskPng **out, const char *path, uint32_t w,
                       uint32_t h, SaErr *err);
/* Appends one row of w bytes. */
int sa_mask_png_write_row(SaMaskPng *m, const uint8_t *row, SaErr *err);
/* Finishes the file (all h rows must have been written), closes it and
 * frees m whatever happens.  Write errors (disk full) are SEGAUDIT_EIO. */
int sa_mask_png_finish(SaMaskPng *m, SaErr *err);
/* Closes and frees m and removes the partial file; NULL is accepted. */
void sa_mask_png_abort(SaMaskPng *m);

#endif
