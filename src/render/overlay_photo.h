/* The photo behind panel 3 of an overlay (internal to render/): a PNG of
 * any colour type and depth, read as 8-bit RGB one row at a time, top to
 * bottom.  Interlaced photos, which cannot be streamed, are decoded whole
 * at open.
 *
 * Messages start with "<photo path>: "; a missing file, a file that is not
 * a PNG, a corrupt one or one of another size than the labels is
 * SEGAUDIT_EINPUT, a failed read SEGAUDIT_EIO. */
#ifndef SA_OVERLAY_PHOTO_H
#define SA_OVERLAY_PHOTO_H

#include <png.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "io/png_util.h"

typedef struct SaPhoto {
    const char *path;     /* borrowed: must outlive the reader */
    FILE *fp;
    png_structp png;
    png_infop info;
    SaPngMsg msg;
    uint32_t w, h;
    int interlaced;
    size_t rowbytes;      /* W·3 after the transforms */
    unsigned char *image; /* whole image, interlaced photos only */
    uint32_t next_row;
} SaPhoto;

/* Opens the photo at path, which must be W×H, and reads its header.  On
 * failure ph may hold part of its resources: sa_photo_close() it either
 * way. */
int sa_photo_open(SaPhoto *ph, const char *path, uint32_t W, uint32_t H,
                  SaErr *err);

/* The next row, W·3 bytes (r, g, b). */
int sa_photo_read_row(SaPhoto *ph, unsigned char *dst, SaErr *err);

/* Releases ph. */
void sa_photo_close(SaPhoto *ph);

#endif
