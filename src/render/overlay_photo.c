/* The overlay's photo reader (see overlay_photo.h) on top of libpng 1.6.
 *
 * libpng reports errors through sa_png_on_error(), which records the
 * message (and errno, which still holds the cause of a failed fread) and
 * longjmps back to the setjmp of the operation in progress, as in
 * png_io.c.  Each setjmp lives in a small function whose state is in the
 * SaPhoto, so nothing the error path reads is a modified local of the
 * function that called setjmp (C11 7.13.2.1). */
#include "render/overlay_photo.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_signature(SaPhoto *ph, SaErr *err)
{
    char eb[128];
    int s = sa_png_read_signature(ph->fp);
    if (s < 0)
        return sa_err(err, SEGAUDIT_EIO, "%s: read failed: %s", ph->path,
                      sa_errstr(errno, eb, sizeof eb));
    if (s > 0)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: the photo is not a PNG file",
                      ph->path);
    return 0;
}

static int libpng_fail(SaPhoto *ph, const char *what, SaErr *err)
{
    return sa_png_read_fail(ph->path, ph->fp, &ph->msg, what, err);
}

/* Reads the header, checks the size and sets up the transforms to 8-bit
 * RGB: palette → RGB, gray 1/2/4 → 8, 16 → 8, gray → RGB, alpha (and
 * the alpha a palette's tRNS becomes) dropped. */
static int read_header(SaPhoto *ph, uint32_t W, uint32_t H, SaErr *err)
{
    png_uint_32 w, h;
    int depth, ctype, ilace;

    if (setjmp(png_jmpbuf(ph->png)))
        return libpng_fail(ph, "corrupt or unsupported PNG header", err);
    /* The limits are W×H or more, so a wrong size gets its own message. */
    sa_png_read_start(ph->png, ph->info, ph->fp, W, H);
    png_get_IHDR(ph->png, ph->info, &w, &h, &depth, &ctype, &ilace, NULL,
                 NULL);
    if (w != W || h != H)
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: photo size %ux%u does not match the labels "
                      "(W=%u, H=%u)", ph->path, (unsigned)w, (unsigned)h,
                      (unsigned)W, (unsigned)H);
    ph->w = w;
    ph->h = h;
    ph->interlaced = ilace != PNG_INTERLACE_NONE;

    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(ph->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(ph->png);
    if (depth == 16) {
#ifdef PNG_READ_SCALE_16_TO_8_SUPPORTED
        png_set_scale_16(ph->png);
#else
        png_set_strip_16(ph->png);
#endif
    }
    /* Palette expansion also turns tRNS into alpha. */
    if ((ctype & PNG_COLOR_MASK_ALPHA) ||
        png_get_valid(ph->png, ph->info, PNG_INFO_tRNS))
        png_set_strip_alpha(ph->png);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(ph->png);
    if (ph->interlaced)
        png_set_interlace_handling(ph->png);
    png_read_update_info(ph->png, ph->info);
    ph->rowbytes = png_get_rowbytes(ph->png, ph->info);
    if (png_get_channels(ph->png, ph->info) != 3 ||
        png_get_bit_depth(ph->png, ph->info) != 8 ||
        ph->rowbytes != (size_t)w * 3)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: cannot convert the photo "
                      "(colour type %d, %d bits) to 8-bit RGB", ph->path,
                      ctype, depth);
    return 0;
}

/* Adam7 photos cannot be streamed; they are decoded whole. */
static int decode_interlaced(SaPhoto *ph, png_bytep *rows, SaErr *err)
{
    if (setjmp(png_jmpbuf(ph->png)))
        return libpng_fail(ph, "truncated or corrupt PNG data in the "
                           "interlaced photo", err);
    png_read_image(ph->png, rows);
    return 0;
}

int sa_photo_open(SaPhoto *ph, const char *path, uint32_t W, uint32_t H,
                  SaErr *err)
{
    int rc;
    memset(ph, 0, sizeof *ph);
    ph->path = path;
    /* O_NONBLOCK inside: a FIFO must not block the open. */
    if ((rc = sa_open_regular(path, " the photo", "PNG photo", &ph->fp,
                              err)) ||
        (rc = check_signature(ph, err)))
        return rc;
    ph->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ph->msg,
                                     sa_png_on_error, sa_png_on_warning);
    if (!ph->png || !(ph->info = png_create_info_struct(ph->png)))
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", path);
    if ((rc = read_header(ph, W, H, err)))
        return rc;
    if (ph->interlaced) {
        png_bytep *rows;
        int a = sa_png_alloc_rows(ph->h, ph->rowbytes, &ph->image, &rows);
        if (a > 0)
            return sa_err(err, SEGAUDIT_ENOMEM, "%s: interlaced photo %ux%u "
                          "is too large to decode", path, ph->w, ph->h);
        if (a < 0)
            return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory decoding "
                          "the interlaced photo (%ux%u)", path, ph->w, ph->h);
        rc = decode_interlaced(ph, rows, err);
        free(rows);
        if (rc)
            return rc;
    }
    return 0;
}

static int read_row_png(SaPhoto *ph, unsigned char *dst, SaErr *err)
{
    if (setjmp(png_jmpbuf(ph->png))) {
        char what[64];
        snprintf(what, sizeof what, "truncated or corrupt PNG data at row %u",
                 ph->next_row);
        return libpng_fail(ph, what, err);
    }
    png_read_row(ph->png, dst, NULL);
    return 0;
}

int sa_photo_read_row(SaPhoto *ph, unsigned char *dst, SaErr *err)
{
    int rc = 0;
    if (ph->image)
        memcpy(dst, ph->image + (size_t)ph->next_row * ph->rowbytes,
               ph->rowbytes);
    else
        rc = read_row_png(ph, dst, err);
    ph->next_row++;
    return rc;
}

void sa_photo_close(SaPhoto *ph)
{
    if (ph->png)
        png_destroy_read_struct(&ph->png, ph->info ? &ph->info : NULL, NULL);
    if (ph->fp)
        fclose(ph->fp);
    free(ph->image);
    ph->png = NULL;
    ph->info = NULL;
    ph->fp = NULL;
    ph->image = NULL;
}
