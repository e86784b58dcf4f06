/* Shared libpng plumbing.  See png_util.h. */
#include "io/png_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bound for images of unknown size; large enough for any real image,
 * small enough that libpng's row arithmetic cannot overflow. */
#define DEFAULT_DIM_LIMIT (1u << 20)
/* Ancillary chunks (iCCP, zTXt, ...) are never needed; this only stops a
 * hostile file from making libpng allocate without bound. */
#define CHUNK_MALLOC_MAX (16u << 20)

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

void sa_png_on_error(png_structp png, png_const_charp text)
{
    SaPngMsg *m = png_get_error_ptr(png);
    m->sys_errno = errno;
    snprintf(m->text, sizeof m->text, "%s", text ? text : "unknown error");
    png_longjmp(png, 1);
}

void sa_png_on_warning(png_structp png, png_const_charp text)
{
    SaPngMsg *m = png_get_error_ptr(png);
    if (!m->warning[0] && text)
        snprintf(m->warning, sizeof m->warning, "%s", text);
}

int sa_png_read_signature(FILE *fp)
{
    unsigned char sig[8];
    size_t n = fread(sig, 1, sizeof sig, fp);
    if (n < sizeof sig && ferror(fp))
        return -1;
    if (n == 0)
        return 1;
    if (n < sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0)
        return 2;
    return 0;
}

void sa_png_read_start(png_structp png, png_infop info, FILE *fp,
                       uint32_t expect_w, uint32_t expect_h)
{
    png_init_io(png, fp);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, max_u32(expect_w, DEFAULT_DIM_LIMIT),
                        max_u32(expect_h, DEFAULT_DIM_LIMIT));
    png_set_chunk_malloc_max(png, CHUNK_MALLOC_MAX);
    /* libpng only warns when an ancillary chunk is over that limit and
     * then reads it whole: no reader here needs any of them, so skip them
     * all unread (IHDR, PLTE, tRNS, IDAT and IEND are still handled) */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_read_info(png, info);
}

int sa_png_read_fail(const char *path, FILE *fp, const SaPngMsg *msg,
                     const char *what, SaErr *err)
{
    char eb[128];
    if (ferror(fp))
        return sa_err(err, SEGAUDIT_EIO, "%s: read failed: %s", path,
                      sa_errstr(msg->sys_errno, eb, sizeof eb));
    return sa_err(err, SEGAUDIT_EINPUT, "%s: %s (libpng: %s%s%s)", path,
                  what, msg->text, msg->warning[0] ? "; " : "",
                  msg->warning);
}

int sa_png_alloc_rows(uint32_t h, size_t rowbytes, unsigned char **image,
                      png_bytep **rows)
{
    *image = NULL;
    *rows = NULL;
    if (h > SIZE_MAX / rowbytes)
        return 1;
    png_bytep *r = calloc(h, sizeof *r); /* calloc checks overflow */
    unsigned char *im = malloc((size_t)h * rowbytes);
    if (!r || !im) {
        free(r);
        free(im);
        return -1;
    }
    for (uint32_t y = 0; y < h; y++)
        r[y] = im + (size_t)y * rowbytes;
    *image = im;
    *rows = r;
    return 0;
}
