/* 8-bit PNG writer on top of libpng 1.6.  See png_write.h.
 *
 * Each setjmp lives in a small function whose state is in the writer, so
 * nothing the error path reads is a modified local of the function that
 * called setjmp (C11 7.13.2.1). */
#include "io/png_write.h"

#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#ifdef SA_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

/* Palette rows written without a filter (the overlays) are compressed
 * here and handed to libpng as whole IDAT chunks (png_write_chunk): the
 * same zlib stream, with the same settings, that libpng would make, but
 * deflated in raw mode with its zlib header and Adler-32 written here,
 * and the checksum taken by libdeflate, which is about ten times as fast
 * as zlib's a byte at a time.  That, and no copy of each row into
 * libpng's buffer, takes a quarter off the time of writing an overlay
 * (3.0 ms against 4.0 for a 3080×584 overlay). */
#define IDAT_BYTES 65536

static uint32_t adler_update(uint32_t a, const unsigned char *p, size_t n)
{
#ifdef SA_HAVE_LIBDEFLATE
    return libdeflate_adler32(a, p, n);
#else
    return (uint32_t)adler32_z(a, p, n);
#endif
}

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

/* The writer's own zlib stream, for palette rows without a filter. */
static int own_stream(SaPngWriter *w, uint32_t width, SaPngPacking pk,
                      SaErr *err)
{
    w->z = calloc(1, sizeof *w->z);
    w->zbuf = malloc(IDAT_BYTES);
    if (!w->z || !w->zbuf)
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", w->path);
    int level = pk.zlib_level >= 0 ? pk.zlib_level : Z_DEFAULT_COMPRESSION;
    if (deflateInit2(w->z, level, Z_DEFLATED, -15, 4, Z_RLE) != Z_OK) {
        free(w->z);
        w->z = NULL;
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", w->path);
    }
    /* the zlib header: deflate, a 32 KiB window, no dictionary, and the
     * check bits that make it a multiple of 31 */
    w->zbuf[0] = 0x78;
    w->zbuf[1] = (unsigned char)(31 - (0x78 << 8) % 31);
    w->z->next_out = w->zbuf + 2;
    w->z->avail_out = IDAT_BYTES - 2;
    w->adler = 1;
    w->width = width;
    return 0;
}

/* Writes the filled part of the chunk buffer as an IDAT chunk. */
static void flush_idat(SaPngWriter *w)
{
    size_t n = (size_t)(w->z->next_out - w->zbuf);
    if (n)
        png_write_chunk(w->png, (png_const_bytep) "IDAT", w->zbuf, n);
    w->z->next_out = w->zbuf;
    w->z->avail_out = IDAT_BYTES;
}

/* Deflates n bytes (flush: Z_NO_FLUSH or Z_FINISH), writing each full
 * chunk; libpng's errors longjmp to the caller's setjmp. */
static int deflate_bytes(SaPngWriter *w, const unsigned char *p, size_t n,
                         int flush, SaErr *err)
{
    z_stream *z = w->z;
    z->next_in = (unsigned char *)p;
    z->avail_in = (uInt)n;
    for (;;) {
        if (z->avail_out == 0)
            flush_idat(w);
        int zr = deflate(z, flush);
        if (zr == Z_STREAM_ERROR)
            return sa_err(err, SEGAUDIT_EIO, "%s: write failed (zlib: %s)",
                          w->path, z->msg ? z->msg : "stream error");
        if (flush == Z_FINISH ? zr == Z_STREAM_END
                              : z->avail_in == 0 && z->avail_out > 0)
            return 0;
    }
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
    if (rc == 0 && ctype == PNG_COLOR_TYPE_PALETTE &&
        pk.filters == PNG_FILTER_NONE)
        rc = own_stream(w, width, pk, err);
    if (rc)
        sa_png_writer_abort(w);
    return rc;
}

int sa_png_writer_row(SaPngWriter *w, const uint8_t *row, SaErr *err)
{
    if (setjmp(png_jmpbuf(w->png)))
        return write_fail(w, err);
    if (!w->z) {
        png_write_row(w->png, row);
        return 0;
    }
    static const unsigned char no_filter = 0;
    w->adler = adler_update(w->adler, &no_filter, 1);
    w->adler = adler_update(w->adler, row, w->width);
    int rc = deflate_bytes(w, &no_filter, 1, Z_NO_FLUSH, err);
    return rc ? rc : deflate_bytes(w, row, w->width, Z_NO_FLUSH, err);
}

static int write_end(SaPngWriter *w, SaErr *err)
{
    if (setjmp(png_jmpbuf(w->png)))
        return write_fail(w, err);
    if (!w->z) {
        png_write_end(w->png, NULL);
        return 0;
    }
    int rc = deflate_bytes(w, NULL, 0, Z_FINISH, err);
    if (rc)
        return rc;
    if (w->z->avail_out < 4)
        flush_idat(w);
    for (int i = 0; i < 4; i++)
        w->zbuf[w->z->next_out - w->zbuf + i] =
            (unsigned char)(w->adler >> (24 - 8 * i));
    w->z->next_out += 4;
    w->z->avail_out -= 4;
    flush_idat(w);
    /* (png_write_end would refuse a file whose IDAT it did not write) */
    png_write_chunk(w->png, (png_const_bytep) "IEND", NULL, 0);
    return 0;
}

static void own_stream_free(SaPngWriter *w)
{
    if (w->z) {
        deflateEnd(w->z);
        free(w->z);
    }
    free(w->zbuf);
    w->z = NULL;
    w->zbuf = NULL;
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
    own_stream_free(w);
    return 0;
fail:
    /* A partial file would look like a valid answer; remove it. */
    sa_png_writer_abort(w);
    return rc;
}

void sa_png_writer_abort(SaPngWriter *w)
{
    own_stream_free(w);
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
