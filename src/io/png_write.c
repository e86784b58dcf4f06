/* 8-bit PNG writer on top of libpng 1.6.  See png_write.h.
 *
 * Each setjmp lives in a small function whose state is in the writer, so
 * nothing the error path reads is a modified local of the function that
 * called setjmp (C11 7.13.2.1). */
#include "io/png_write.h"

#include <errno.h>
#include <setjmp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static int write_fail(SaPngWriter *w, SaErr *err)
{
    char eb[128];
    if (w->msg.sys_errno && ferror(w->fp))
        return sa_err(err, SEGAUDIT_EIO, "%s: write failed: %s", w->path,
                      sa_errstr(w->msg.sys_errno, eb, sizeof eb));
    return sa_err(err, SEGAUDIT_EIO, "%s: write failed (libpng: %s)",
                  w->path, w->msg.text);
}

static int write_header(SaPngWriter *w, uint32_t width, uint32_t height,
                        int ctype, SaPngPacking pk, SaErr *err)
{
    if (setjmp(png_jmpbuf(w->png)))
        return write_fail(w, err);
    png_init_io(w->png, w->fp);
    /* The write struct's default limits (1e6) would refuse large images. */
    png_set_user_limits(w->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_set_IHDR(w->png, w->info, width, height, 8, ctype,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pk.zlib_level >= 0)
        png_set_compression_level(w->png, pk.zlib_level);
    if (pk.filters)
        png_set_filter(w->png, PNG_FILTER_TYPE_BASE, pk.filters);
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        /* flat areas of a few colours, rows of long runs of one index:
         * zlib's run-length matching alone compresses them a quarter to
         * a third smaller than its level 1 (with or without the "up"
         * filter) in as many instructions; at memory level 4 (a hash
         * table of 2K entries, not 32K, which zlib slides every 32 KiB
         * though run-length matching never reads it; blocks of 1K
         * symbols) the whole write takes a fifth fewer, and the files are
         * 3-7 % smaller. */
        png_set_compression_strategy(w->png, Z_RLE);
        png_set_compression_mem_level(w->png, 4);
        png_color pal[256];
        int n = pk.npal < 1 ? 1 : pk.npal > 256 ? 256 : pk.npal;
        for (int i = 0; i < n; i++) {
            pal[i].red = pk.palette ? pk.palette[i][0] : 0;
            pal[i].green = pk.palette ? pk.palette[i][1] : 0;
            pal[i].blue = pk.palette ? pk.palette[i][2] : 0;
        }
        png_set_PLTE(w->png, w->info, pal, n);
#ifdef PNG_CHECK_FOR_INVALID_INDEX_SUPPORTED
        /* the caller's indices are in range (png_write.h); libpng's scan
         * of every row for the largest took a fifth of the time of
         * writing an overlay */
        png_set_check_for_invalid_index(w->png, 0);
#endif
    }
    png_write_info(w->png, w->info);
    return 0;
}

int sa_png_writer_create(SaPngWriter *w, const char *path, const char *what,
                         uint32_t width, uint32_t height, int ctype,
                         SaPngPacking pk, SaErr *err)
{
    char eb[128];
    struct stat st;
    int rc;

    memset(w, 0, sizeof *w);
    w->path = path;
    if (!(w->fp = fopen(path, "wb")))
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot create%s: %s", path,
                      what, sa_errstr(errno, eb, sizeof eb));
    w->may_unlink = fstat(fileno(w->fp), &st) == 0 && S_ISREG(st.st_mode);
    w->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w->msg,
                                     sa_png_on_error, sa_png_on_warning);
    if (!w->png || !(w->info = png_create_info_struct(w->png)))
        rc = sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", path);
    else
        rc = write_header(w, width, height, ctype, pk, err);
    if (rc)
        sa_png_writer_abort(w);
    return rc;
}

int sa_png_writer_row(SaPngWriter *w, const uint8_t *row, SaErr *err)
{
    if (setjmp(png_jmpbuf(w->png)))
        return write_fail(w, err);
    png_write_row(w->png, row);
    return 0;
}

static int write_end(SaPngWriter *w, SaErr *err)
{
    if (setjmp(png_jmpbuf(w->png)))
        return write_fail(w, err);
    png_write_end(w->png, NULL);
    return 0;
}

int sa_png_writer_finish(SaPngWriter *w, SaErr *err)
{
    char eb[128];
    int rc = write_end(w, err);
    if (rc)
        goto fail;
    /* stdio buffers: a full disk may only show up at fflush or fclose. */
    errno = 0;
    if (fflush(w->fp) != 0 || ferror(w->fp)) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: write failed: %s", w->path,
                    sa_errstr(errno ? errno : EIO, eb, sizeof eb));
        goto fail;
    }
    FILE *fp = w->fp;
    w->fp = NULL;
    if (fclose(fp) != 0) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: write failed: %s", w->path,
                    sa_errstr(errno, eb, sizeof eb));
        if (w->may_unlink)
            unlink(w->path);
        goto fail;
    }
    png_destroy_write_struct(&w->png, &w->info);
    return 0;
fail:
    /* A partial file would look like a valid answer; remove it. */
    sa_png_writer_abort(w);
    return rc;
}

void sa_png_writer_abort(SaPngWriter *w)
{
    if (w->png)
        png_destroy_write_struct(&w->png, w->info ? &w->info : NULL);
    if (w->fp) {
        fclose(w->fp);
        if (w->may_unlink)
            unlink(w->path);
    }
    w->png = NULL;
    w->info = NULL;
    w->fp = NULL;
}
