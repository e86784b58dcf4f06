/* Label PNG reader on top of libpng 1.6, and the issue-mask writer (the
 * 8-bit PNG writer of png_write.c with the mask's size and row checks).
 *
 * libpng reports errors by calling our error callback, which must not
 * return: it records the message (and errno, which still holds the cause of
 * a failed fread/fwrite) in the object and longjmps back to the setjmp of
 * the operation in progress.  That operation turns it into an SaErr with the
 * context libpng does not know (path, row).  Everything that must survive
 * the longjmp lives in the heap object, not in locals.  After a libpng error
 * the png struct is unusable, so the object is marked failed. */
#include "io/png_io.h"
#include "io/png_util.h"
#include "io/png_write.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Z_BEST_SPEED: masks are mostly 0, so level 1 compresses them nearly as
 * well as level 9 and is much faster. */
#define MASK_ZLIB_LEVEL 1

struct SaLabelPng {
    char *path;
    FILE *fp;
    png_structp png;
    png_infop info;
    SaPngMsg msg;
    uint32_t w, h;
    int depth;
    int palette;
    int interlaced;
    int failed;
    uint32_t next_row;
    size_t rowbytes;     /* bytes libpng delivers per row after transforms */
    unsigned char *row;  /* one row, non-interlaced 1..8-bit images */
    unsigned char *image; /* whole image, interlaced images */
};

struct SaMaskPng {
    char *path;
    SaPngWriter out;
    uint32_t w, h;
    uint32_t next_row;
    int failed;
};

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* ---- Reader ------------------------------------------------------------ */

static int open_regular(SaLabelPng *p, SaErr *err)
{
    return sa_open_regular(p->path, "", "PNG file", &p->fp, err);
}

static int check_signature(SaLabelPng *p, SaErr *err)
{
    char eb[128];
    switch (sa_png_read_signature(p->fp)) {
    case 0:
        return 0;
    case -1:
        return sa_err(err, SEGAUDIT_EIO, "%s: read failed: %s", p->path,
                      sa_errstr(errno, eb, sizeof eb));
    case 1:
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: not a PNG file (the file is empty)", p->path);
    default:
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: not a PNG file (no PNG signature)", p->path);
    }
}

/* Reads IHDR and everything up to the first IDAT, checks the image is a
 * usable label map, and sets up the transforms.  Allocates nothing sized by
 * the image. */
static int read_header(SaLabelPng *p, uint32_t expect_w, uint32_t expect_h,
                       SaErr *err)
{
    png_uint_32 w, h;
    int depth, ctype, ilace;

    if (setjmp(png_jmpbuf(p->png))) {
        p->failed = 1;
        return sa_png_read_fail(p->path, p->fp, &p->msg,
                                "corrupt or unsupported PNG header", err);
    }
    sa_png_read_start(p->png, p->info, p->fp, expect_w, expect_h);
    png_get_IHDR(p->png, p->info, &w, &h, &depth, &ctype, &ilace, NULL, NULL);

    const char *hint = "label maps must be grayscale or palette PNGs whose "
                       "value or index is the class id";
    switch (ctype) {
    case PNG_COLOR_TYPE_GRAY:
    case PNG_COLOR_TYPE_PALETTE:
        break;
    case PNG_COLOR_TYPE_RGB:
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: is an RGB colour image; %s (convert colours to "
                      "class ids first)", p->path, hint);
    case PNG_COLOR_TYPE_RGB_ALPHA:
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: is an RGBA colour image; %s (convert colours to "
                      "class ids first)", p->path, hint);
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: is a grayscale image with an alpha channel; %s, "
                      "without alpha (drop the alpha channel first)",
                      p->path, hint);
    default:
        return sa_err(err, SEGAUDIT_EINPUT, "%s: unsupported PNG colour type "
                      "%d; %s", p->path, ctype, hint);
    }
    if (expect_w && expect_h && (w != expect_w || h != expect_h))
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: size %ux%u does not match the predictions "
                      "(W=%u, H=%u)", p->path, (unsigned)w, (unsigned)h,
                      (unsigned)expect_w, (unsigned)expect_h);

    p->w = w;
    p->h = h;
    p->depth = depth;
    p->palette = ctype == PNG_COLOR_TYPE_PALETTE;
    p->interlaced = ilace != PNG_INTERLACE_NONE;

    /* One byte per value, unscaled: a 2-bit class 3 stays 3.  No palette or
     * tRNS expansion: the index is the class. */
    if (depth < 8)
        png_set_packing(p->png);
    if (depth == 16 && host_is_little_endian())
        png_set_swap(p->png);
    if (p->interlaced)
        png_set_interlace_handling(p->png);
    png_read_update_info(p->png, p->info);
    p->rowbytes = png_get_rowbytes(p->png, p->info);
    if (p->rowbytes != (size_t)w * (depth == 16 ? 2 : 1)) {
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: unexpected row layout (%zu bytes for width %u)",
                      p->path, p->rowbytes, (unsigned)w);
    }
    return 0;
}

/* Adam7 images cannot be streamed row by row, so they are decoded whole. */
static int decode_interlaced(SaLabelPng *p, SaErr *err)
{
    png_bytep *rows;
    int a = sa_png_alloc_rows(p->h, p->rowbytes, &p->image, &rows);
    if (a > 0)
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: interlaced image %ux%u is "
                      "too large to decode", p->path, p->w, p->h);
    if (a < 0)
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory decoding the "
                      "interlaced image (%ux%u)", p->path, p->w, p->h);
    /* rows is not modified after setjmp, so it is still valid after a
     * longjmp (C11 7.13.2.1). */
    if (setjmp(png_jmpbuf(p->png))) {
        free(rows);
        p->failed = 1;
        if (ferror(p->fp)) {
            char eb[128];
            return sa_err(err, SEGAUDIT_EIO, "%s: read failed: %s", p->path,
                          sa_errstr(p->msg.sys_errno, eb, sizeof eb));
        }
        return sa_err(err, SEGAUDIT_EINPUT, "%s: truncated or corrupt PNG "
                      "data in the interlaced image (libpng: %s)",
                      p->path, p->msg.text);
    }
    png_read_image(p->png, rows);
    free(rows);
    return 0;
}

int sa_label_png_open(SaLabelPng **out, const char *path, uint32_t expect_w,
                      uint32_t expect_h, SaErr *err)
{
    int rc;
    SaLabelPng *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p || !(p->path = strdup(path))) {
        rc = sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((rc = open_regular(p, err)) || (rc = check_signature(p, err)))
        goto fail;
    p->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &p->msg,
                                    sa_png_on_error, sa_png_on_warning);
    if (!p->png || !(p->info = png_create_info_struct(p->png))) {
        rc = sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((rc = read_header(p, expect_w, expect_h, err)))
        goto fail;
    if (p->interlaced) {
        if ((rc = decode_interlaced(p, err)))
            goto fail;
    } else if (p->depth != 16 && !(p->row = malloc(p->rowbytes))) {
        rc = sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    *out = p;
    return 0;
fail:
    sa_label_png_close(p);
    return rc;
}

uint32_t sa_label_png_width(const SaLabelPng *p) { return p->w; }
uint32_t sa_label_png_height(const SaLabelPng *p) { return p->h; }
int sa_label_png_bit_depth(const SaLabelPng *p) { return p->depth; }
int sa_label_png_is_palette(const SaLabelPng *p) { return p->palette; }

static void widen(const SaLabelPng *p, const unsigned char *src, uint16_t *dst)
{
    if (p->depth == 16) {
        memcpy(dst, src, (size_t)p->w * 2); /* already host order */
    } else {
        for (uint32_t x = 0; x < p->w; x++)
            dst[x] = src[x];
    }
}

int sa_label_png_read_rows(SaLabelPng *p, uint16_t *dst, uint32_t nrows,
                           SaErr *err)
{
    if (p->failed)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: cannot read after an "
                      "earlier error", p->path);
    if (nrows > p->h - p->next_row)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: cannot read %u rows from "
                      "row %u: past the end of the image (%u rows)", p->path,
                      nrows, p->next_row, p->h);
    if (p->image) {
        for (uint32_t i = 0; i < nrows; i++, p->next_row++)
            widen(p, p->image + (size_t)p->next_row * p->rowbytes,
                  dst + (size_t)i * p->w);
        return 0;
    }
    /* Loop state lives in *p (next_row) and in parameters that are not
     * modified, so both are valid after a longjmp. */
    const uint32_t first = p->next_row;
    if (setjmp(png_jmpbuf(p->png))) {
        p->failed = 1;
        if (ferror(p->fp)) {
            char eb[128];
            return sa_err(err, SEGAUDIT_EIO, "%s: read failed at row %u: %s",
                          p->path, p->next_row,
                          sa_errstr(p->msg.sys_errno, eb, sizeof eb));
        }
        return sa_err(err, SEGAUDIT_EINPUT, "%s: truncated or corrupt PNG "
                      "data at row %u (libpng: %s)", p->path, p->next_row,
                      p->msg.text);
    }
    for (; p->next_row < first + nrows; p->next_row++) {
        uint16_t *d = dst + (size_t)(p->next_row - first) * p->w;
        if (p->depth == 16) {
            png_read_row(p->png, (png_bytep)d, NULL);
        } else {
            png_read_row(p->png, p->row, NULL);
            widen(p, p->row, d);
        }
    }
    return 0;
}

void sa_label_png_close(SaLabelPng *p)
{
    if (!p)
        return;
    if (p->png)
        png_destroy_read_struct(&p->png, p->info ? &p->info : NULL, NULL);
    if (p->fp)
        fclose(p->fp);
    free(p->row);
    free(p->image);
    free(p->path);
    free(p);
}

/* ---- Mask writer ------------------------------------------------------- */

int sa_mask_png_create(SaMaskPng **out, const char *path, uint32_t w,
                       uint32_t h, SaErr *err)
{
    int rc;
    SaMaskPng *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m || !(m->path = strdup(path))) {
        rc = sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (w == 0 || h == 0 || w > PNG_UINT_31_MAX || h > PNG_UINT_31_MAX) {
        rc = sa_err(err, SEGAUDIT_EINVAL, "%s: invalid mask size %ux%u",
                    path, w, h);
        goto fail;
    }
    m->w = w;
    m->h = h;
    if ((rc = sa_png_writer_create(&m->out, m->path, "", w, h,
                                   PNG_COLOR_TYPE_GRAY,
                                   (SaPngPacking){MASK_ZLIB_LEVEL, 0, NULL, 0}, err)))
        goto fail;
    *out = m;
    return 0;
fail:
    sa_mask_png_abort(m);
    return rc;
}

int sa_mask_png_write_row(SaMaskPng *m, const uint8_t *row, SaErr *err)
{
    if (m->failed)
        return sa_err(err, SEGAUDIT_EIO, "%s: write failed earlier", m->path);
    if (m->next_row >= m->h)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: more than %u rows written",
                      m->path, m->h);
    int rc = sa_png_writer_row(&m->out, row, err);
    if (rc) {
        m->failed = 1;
        return rc;
    }
    m->next_row++;
    return 0;
}

int sa_mask_png_finish(SaMaskPng *m, SaErr *err)
{
    int rc;
    if (m->failed) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: write failed earlier", m->path);
        goto done;
    }
    if (m->next_row != m->h) {
        rc = sa_err(err, SEGAUDIT_EINVAL, "%s: only %u of %u rows written",
                    m->path, m->next_row, m->h);
        goto done;
    }
    /* Releases the writer (removing a partial mask) whatever happens. */
    rc = sa_png_writer_finish(&m->out, err);
done:
    sa_mask_png_abort(m);
    return rc;
}

void sa_mask_png_abort(SaMaskPng *m)
{
    if (!m)
        return;
    /* A partial mask would look like a valid answer; remove it. */
    sa_png_writer_abort(&m->out);
    free(m->path);
    free(m);
}
