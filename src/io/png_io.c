/* Label PNG reader and issue-mask PNG writer on top of libpng 1.6.
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

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bound for images of unknown size; large enough for any real label map,
 * small enough that libpng's row arithmetic cannot overflow. */
#define DEFAULT_DIM_LIMIT (1u << 20)
/* Ancillary chunks (iCCP, zTXt, ...) are never needed; this only stops a
 * hostile file from making libpng allocate without bound. */
#define CHUNK_MALLOC_MAX (16u << 20)
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
    FILE *fp;
    png_structp png;
    png_infop info;
    SaPngMsg msg;
    uint32_t w, h;
    uint32_t next_row;
    int failed;
    int may_unlink; /* only regular files are removed (never /dev/...) */
};

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

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
    unsigned char sig[8];
    size_t n = fread(sig, 1, sizeof sig, p->fp);
    if (n < sizeof sig && ferror(p->fp))
        return sa_err(err, SEGAUDIT_EIO, "%s: read failed: %s", p->path,
                      sa_errstr(errno, eb, sizeof eb));
    if (n == 0)
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: not a PNG file (the file is empty)", p->path);
    if (n < sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0)
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: not a PNG file (no PNG signature)", p->path);
    return 0;
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
        char eb[128];
        p->failed = 1;
        if (ferror(p->fp))
            return sa_err(err, SEGAUDIT_EIO, "%s: read failed: %s", p->path,
                          sa_errstr(p->msg.sys_errno, eb, sizeof eb));
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: corrupt or unsupported PNG header (libpng: %s%s%s)",
                      p->path, p->msg.text, p->msg.warning[0] ? "; " : "",
                      p->msg.warning);
    }
    png_init_io(p->png, p->fp);
    png_set_sig_bytes(p->png, 8);
    png_set_user_limits(p->png, max_u32(expect_w, DEFAULT_DIM_LIMIT),
                        max_u32(expect_h, DEFAULT_DIM_LIMIT));
    png_set_chunk_malloc_max(p->png, CHUNK_MALLOC_MAX);
    /* libpng only warns when an ancillary chunk is over that limit and
     * then reads it whole: labels need none of them, so skip them all
     * unread (IHDR, PLTE, tRNS, IDAT and IEND are still handled) */
    png_set_keep_unknown_chunks(p->png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_read_info(p->png, p->info);
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
    if (p->h > SIZE_MAX / p->rowbytes)
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: interlaced image %ux%u is "
                      "too large to decode", p->path, p->w, p->h);
    png_bytep *rows = calloc(p->h, sizeof *rows); /* calloc checks overflow */
    p->image = malloc((size_t)p->h * p->rowbytes);
    if (!rows || !p->image) {
        free(rows);
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory decoding the "
                      "interlaced image (%ux%u)", p->path, p->w, p->h);
    }
    for (uint32_t y = 0; y < p->h; y++)
        rows[y] = p->image + (size_t)y * p->rowbytes;
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
    p->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &p->msg, sa_png_on_error,
                                    sa_png_on_warning);
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

static int write_fail(SaMaskPng *m, SaErr *err)
{
    char eb[128];
    m->failed = 1;
    if (m->msg.sys_errno && ferror(m->fp))
        return sa_err(err, SEGAUDIT_EIO, "%s: write failed: %s", m->path,
                      sa_errstr(m->msg.sys_errno, eb, sizeof eb));
    return sa_err(err, SEGAUDIT_EIO, "%s: write failed (libpng: %s)", m->path,
                  m->msg.text);
}

static int write_header(SaMaskPng *m, SaErr *err)
{
    if (setjmp(png_jmpbuf(m->png)))
        return write_fail(m, err);
    png_init_io(m->png, m->fp);
    /* The write struct's default limits (1e6) would refuse large masks. */
    png_set_user_limits(m->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_set_IHDR(m->png, m->info, m->w, m->h, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(m->png, MASK_ZLIB_LEVEL);
    png_write_info(m->png, m->info);
    return 0;
}

int sa_mask_png_create(SaMaskPng **out, const char *path, uint32_t w,
                       uint32_t h, SaErr *err)
{
    char eb[128];
    struct stat st;
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
    if (!(m->fp = fopen(path, "wb"))) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: cannot create: %s", path,
                    sa_errstr(errno, eb, sizeof eb));
        goto fail;
    }
    m->may_unlink = fstat(fileno(m->fp), &st) == 0 && S_ISREG(st.st_mode);
    m->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &m->msg, sa_png_on_error,
                                     sa_png_on_warning);
    if (!m->png || !(m->info = png_create_info_struct(m->png))) {
        rc = sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((rc = write_header(m, err)))
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
    if (setjmp(png_jmpbuf(m->png)))
        return write_fail(m, err);
    png_write_row(m->png, row);
    m->next_row++;
    return 0;
}

static int write_end(SaMaskPng *m, SaErr *err)
{
    if (setjmp(png_jmpbuf(m->png)))
        return write_fail(m, err);
    png_write_end(m->png, NULL);
    return 0;
}

int sa_mask_png_finish(SaMaskPng *m, SaErr *err)
{
    char eb[128];
    int rc;
    if (m->failed) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: write failed earlier", m->path);
        goto fail;
    }
    if (m->next_row != m->h) {
        rc = sa_err(err, SEGAUDIT_EINVAL, "%s: only %u of %u rows written",
                    m->path, m->next_row, m->h);
        goto fail;
    }
    if ((rc = write_end(m, err)))
        goto fail;
    /* stdio buffers: a full disk may only show up at fflush or fclose. */
    errno = 0;
    if (fflush(m->fp) != 0 || ferror(m->fp)) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: write failed: %s", m->path,
                    sa_errstr(errno ? errno : EIO, eb, sizeof eb));
        goto fail;
    }
    FILE *fp = m->fp;
    m->fp = NULL;
    if (fclose(fp) != 0) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: write failed: %s", m->path,
                    sa_errstr(errno, eb, sizeof eb));
        goto fail;
    }
    png_destroy_write_struct(&m->png, &m->info);
    free(m->path);
    free(m);
    return 0;
fail:
    /* A partial mask would look like a valid answer; remove it. */
    sa_mask_png_abort(m);
    return rc;
}

void sa_mask_png_abort(SaMaskPng *m)
{
    if (!m)
        return;
    if (m->png)
        png_destroy_write_struct(&m->png, m->info ? &m->info : NULL);
    if (m->fp)
        fclose(m->fp);
    if (m->may_unlink)
        unlink(m->path);
    free(m->path);
    free(m);
}
