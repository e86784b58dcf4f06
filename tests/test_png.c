/* Unit tests of src/io/png_io.c: the label PNG reader and the mask writer.
 *
 * Test images are written with libpng directly into a mkdtemp folder, so
 * the reader is checked against an independent encoder.  Run with the
 * working directory = tests/ (the golden datasets are read from there). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <zlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/png_io.h"
#include "io/png_write.h"
#include "tmpdir_support.h"

/* ---- Writing test PNGs with libpng ------------------------------------- */

static int channels_of(int ctype)
{
    switch (ctype) {
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 1;
    }
}

/* vals holds w*h*channels samples in row-major, channel-minor order. */
static void write_png(const char *path, uint32_t w, uint32_t h, int ctype,
                      int depth, int interlace, const uint16_t *vals)
{
    const int ch = channels_of(ctype);
    const size_t rowbytes = ((size_t)w * ch * depth + 7) / 8;
    unsigned char *data = calloc(h, rowbytes);
    png_bytep *rows = calloc(h, sizeof *rows);
    assert_non_null(data);
    assert_non_null(rows);
    for (uint32_t y = 0; y < h; y++) {
        unsigned char *r = data + y * rowbytes;
        rows[y] = r;
        for (size_t i = 0; i < (size_t)w * ch; i++) {
            unsigned v = vals[(size_t)y * w * ch + i];
            if (depth == 16) {
                r[2 * i] = (unsigned char)(v >> 8);
                r[2 * i + 1] = (unsigned char)(v & 255);
            } else if (depth == 8) {
                r[i] = (unsigned char)v;
            } else {
                size_t bit = i * depth;
                r[bit / 8] |= (unsigned char)(v << (8 - depth - bit % 8));
            }
        }
    }
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                              NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed writing %s", path);
    png_init_io(png, fp);
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_set_IHDR(png, info, w, h, depth, ctype,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        png_byte alpha[4] = {0, 64, 128, 192};
        int n = 1 << depth;
        for (int i = 0; i < n; i++) {
            pal[i].red = (png_byte)i;
            pal[i].green = (png_byte)(255 - i);
            pal[i].blue = (png_byte)(i * 3);
        }
        png_set_PLTE(png, info, pal, n);
        /* Transparency must not change what the reader delivers. */
        png_set_tRNS(png, info, alpha, n < 4 ? n : 4, NULL);
    }
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    assert_int_equal(fclose(fp), 0);
    free(rows);
    free(data);
}

/* A deterministic pattern that uses the whole range 0..maxv. */
static uint16_t *make_values(uint32_t w, uint32_t h, int ch, unsigned maxv)
{
    uint16_t *v = malloc((size_t)w * h * ch * sizeof *v);
    assert_non_null(v);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (int c = 0; c < ch; c++)
                v[((size_t)y * w + x) * ch + c] = (uint16_t)(
                    (x * 977u + y * 4099u + x * y * 31u + c * 7u) %
                    (maxv + 1u));
    return v;
}

static uint16_t *make_random(uint32_t w, uint32_t h, unsigned maxv)
{
    uint16_t *v = malloc((size_t)w * h * sizeof *v);
    uint32_t s = 12345;
    assert_non_null(v);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (uint16_t)((s >> 16) % (maxv + 1u));
    }
    return v;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* ---- Checking ---------------------------------------------------------- */

/* Reads the whole image, chunk rows per call, into a new buffer. */
static uint16_t *read_all(const char *path, uint32_t ew, uint32_t eh,
                          uint32_t chunk, uint32_t *w, uint32_t *h,
                          int *depth, int *palette)
{
    SaErr err = {0};
    SaLabelPng *p = NULL;
    int rc = sa_label_png_open(&p, path, ew, eh, &err);
    if (rc != 0)
        fail_msg("open %s: %d %s", path, rc, err.msg);
    *w = sa_label_png_width(p);
    *h = sa_label_png_height(p);
    *depth = sa_label_png_bit_depth(p);
    *palette = sa_label_png_is_palette(p);
    uint16_t *buf = malloc((size_t)*w * *h * sizeof *buf + 1);
    assert_non_null(buf);
    for (uint32_t y = 0; y < *h; y += chunk) {
        uint32_t n = *h - y < chunk ? *h - y : chunk;
        rc = sa_label_png_read_rows(p, buf + (size_t)y * *w, n, &err);
        if (rc != 0)
            fail_msg("read %s at %u: %d %s", path, y, rc, err.msg);
    }
    /* Nothing is left. */
    uint16_t extra[1];
    assert_int_not_equal(sa_label_png_read_rows(p, extra, 1, &err), 0);
    check_msg(&err, path, "past the end", NULL);
    sa_label_png_close(p);
    return buf;
}

static void check_image(const char *path, uint32_t w, uint32_t h, int depth,
                        int palette, const uint16_t *expect)
{
    static const uint32_t chunks[] = {1, 3, 0 /* all at once */};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        uint32_t chunk = chunks[c] ? chunks[c] : h;
        /* The expected size is optional; try both ways. */
        uint32_t ew = c % 2 ? 0 : w, eh = c % 2 ? 0 : h;
        uint32_t gw, gh;
        int gd, gp;
        uint16_t *got = read_all(path, ew, eh, chunk, &gw, &gh, &gd, &gp);
        assert_int_equal(gw, w);
        assert_int_equal(gh, h);
        assert_int_equal(gd, depth);
        assert_int_equal(gp, palette);
        for (size_t i = 0; i < (size_t)w * h; i++)
            if (got[i] != expect[i])
                fail_msg("%s: pixel (%zu,%zu) is %u, want %u (chunk %u)",
                         path, i % w, i / w, got[i], expect[i], chunk);
        free(got);
    }
}

static void roundtrip(const char *name, int ctype, int depth, int interlace)
{
    char path[PATHLEN];
    const uint32_t w = 37, h = 23; /* odd: rows end mid-byte when packed */
    uint16_t *v = make_values(w, h, 1, (1u << depth) - 1);
    tpath(path, name);
    write_png(path, w, h, ctype, depth, interlace, v);
    check_image(path, w, h, depth, ctype == PNG_COLOR_TYPE_PALETTE, v);
    free(v);
}

/* ---- Reading supported formats ----------------------------------------- */

static void test_gray8(void **state)
{
    (void)state;
    roundtrip("g8.png", PNG_COLOR_TYPE_GRAY, 8, 0);
}

static void test_gray16(void **state)
{
    (void)state;
    roundtrip("g16.png", PNG_COLOR_TYPE_GRAY, 16, 0);
    /* The pattern really goes beyond 8 bits. */
    uint16_t *v = make_values(37, 23, 1, 65535);
    unsigned max = 0;
    for (size_t i = 0; i < 37 * 23; i++)
        max = v[i] > max ? v[i] : max;
    assert_true(max > 60000);
    free(v);
}

static void test_palette8(void **state)
{
    (void)state;
    roundtrip("p8.png", PNG_COLOR_TYPE_PALETTE, 8, 0);
}

static void test_palette4(void **state)
{
    (void)state;
    roundtrip("p4.png", PNG_COLOR_TYPE_PALETTE, 4, 0);
}

static void test_palette1(void **state)
{
    (void)state;
    roundtrip("p1.png", PNG_COLOR_TYPE_PALETTE, 1, 0);
}

static void test_gray1(void **state)
{
    (void)state;
    roundtrip("g1.png", PNG_COLOR_TYPE_GRAY, 1, 0);
}

static void test_gray2(void **state)
{
    (void)state;
    roundtrip("g2.png", PNG_COLOR_TYPE_GRAY, 2, 0);
}

static void test_gray4(void **state)
{
    (void)state;
    roundtrip("g4.png", PNG_COLOR_TYPE_GRAY, 4, 0);
}

static void test_interlaced_gray8(void **state)
{
    (void)state;
    roundtrip("i8.png", PNG_COLOR_TYPE_GRAY, 8, 1);
}

static void test_interlaced_gray16(void **state)
{
    (void)state;
    roundtrip("i16.png", PNG_COLOR_TYPE_GRAY, 16, 1);
}

static void test_interlaced_gray2(void **state)
{
    (void)state;
    roundtrip("i2.png", PNG_COLOR_TYPE_GRAY, 2, 1);
}

static void test_interlaced_palette4(void **state)
{
    (void)state;
    roundtrip("ip4.png", PNG_COLOR_TYPE_PALETTE, 4, 1);
}

/* ---- Refused colour types ---------------------------------------------- */

static void refused(const char *name, int ctype, const char *keyword)
{
    char path[PATHLEN];
    SaErr err = {0};
    SaLabelPng *p = (SaLabelPng *)&err; /* must be reset to NULL */
    uint16_t *v = make_values(5, 4, channels_of(ctype), 255);
    tpath(path, name);
    write_png(path, 5, 4, ctype, 8, 0, v);
    free(v);
    assert_int_equal(sa_label_png_open(&p, path, 0, 0, &err), SEGAUDIT_EINPUT);
    assert_null(p);
    assert_int_equal(err.code, SEGAUDIT_EINPUT);
    check_msg(&err, path, keyword, "grayscale or palette");
}

static void test_rgb(void **state)
{
    (void)state;
    refused("rgb.png", PNG_COLOR_TYPE_RGB, "RGB colour");
}

static void test_rgba(void **state)
{
    (void)state;
    refused("rgba.png", PNG_COLOR_TYPE_RGB_ALPHA, "RGBA");
}

static void test_gray_alpha(void **state)
{
    (void)state;
    refused("ga.png", PNG_COLOR_TYPE_GRAY_ALPHA, "alpha");
}

/* ---- Errors ------------------------------------------------------------ */

static void open_fails(const char *path, uint32_t ew, uint32_t eh, int code,
                       const char *k1, const char *k2)
{
    SaErr err = {0};
    SaLabelPng *p = NULL;
    assert_int_equal(sa_label_png_open(&p, path, ew, eh, &err), code);
    assert_null(p);
    assert_int_equal(err.code, code);
    check_msg(&err, path, k1, k2);
}

static void test_missing(void **state)
{
    (void)state;
    char path[PATHLEN];
    tpath(path, "does_not_exist.png");
    open_fails(path, 0, 0, SEGAUDIT_EINPUT, "cannot open", "No such file");
}

static void test_not_png(void **state)
{
    (void)state;
    char path[PATHLEN];
    tpath(path, "text.png");
    write_bytes(path, "hello, this is not an image\n", 28);
    open_fails(path, 0, 0, SEGAUDIT_EINPUT, "not a PNG", NULL);
    /* Shorter than the signature. */
    tpath(path, "short.png");
    write_bytes(path, "\x89PN", 3);
    open_fails(path, 0, 0, SEGAUDIT_EINPUT, "not a PNG", NULL);
}

static void test_empty(void **state)
{
    (void)state;
    char path[PATHLEN];
    tpath(path, "empty.png");
    write_bytes(path, "", 0);
    open_fails(path, 0, 0, SEGAUDIT_EINPUT, "not a PNG", "empty");
}

static void test_directory(void **state)
{
    (void)state;
    open_fails(g_dir, 0, 0, SEGAUDIT_EINPUT, "directory", NULL);
}

static void test_fifo(void **state)
{
    (void)state;
    char path[PATHLEN];
    tpath(path, "fifo.png");
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(20); /* a hang would otherwise stall the suite */
    open_fails(path, 0, 0, SEGAUDIT_EINPUT, "not a regular file", NULL);
    alarm(0);
    unlink(path);
}

static void test_wrong_size(void **state)
{
    (void)state;
    char path[PATHLEN];
    uint16_t *v = make_values(40, 30, 1, 255);
    tpath(path, "size.png");
    write_png(path, 40, 30, PNG_COLOR_TYPE_GRAY, 8, 0, v);
    open_fails(path, 41, 30, SEGAUDIT_EINPUT, "40x30 does not match",
               "W=41, H=30");
    open_fails(path, 40, 29, SEGAUDIT_EINPUT, "does not match", "H=29");
    /* Much larger than expected: still our message, not a libpng limit. */
    open_fails(path, 4, 3, SEGAUDIT_EINPUT, "does not match", "W=4, H=3");
    /* Interlaced images are checked before they are decoded. */
    tpath(path, "size_i.png");
    write_png(path, 40, 30, PNG_COLOR_TYPE_GRAY, 8, 1, v);
    open_fails(path, 2048, 1024, SEGAUDIT_EINPUT, "does not match",
               "W=2048, H=1024");
    free(v);
}

/* Beyond the default bound of 1<<20 an image is refused unless that size
 * is expected. */
static void test_huge_width(void **state)
{
    (void)state;
    char path[PATHLEN];
    const uint32_t w = 1100000;
    uint16_t *v = calloc(w, sizeof *v);
    assert_non_null(v);
    v[w - 1] = 7;
    tpath(path, "wide.png");
    write_png(path, w, 1, PNG_COLOR_TYPE_GRAY, 8, 0, v);
    open_fails(path, 0, 0, SEGAUDIT_EINPUT, "PNG header", "user limit");
    uint32_t gw, gh;
    int gd, gp;
    uint16_t *got = read_all(path, w, 1, 1, &gw, &gh, &gd, &gp);
    assert_int_equal(gw, w);
    assert_memory_equal(got, v, (size_t)w * sizeof *v);
    free(got);
    free(v);
}

static void test_past_end(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    SaLabelPng *p = NULL;
    uint16_t buf[10 * 8];
    uint16_t *v = make_values(10, 7, 1, 255);
    tpath(path, "end.png");
    write_png(path, 10, 7, PNG_COLOR_TYPE_GRAY, 8, 0, v);
    free(v);
    /* More rows than the image has, in one call. */
    assert_int_equal(sa_label_png_open(&p, path, 10, 7, &err), 0);
    assert_int_not_equal(sa_label_png_read_rows(p, buf, 8, &err), 0);
    check_msg(&err, path, "past the end", NULL);
    sa_label_png_close(p);
    /* One row after the last one. */
    sa_err_clear(&err);
    assert_int_equal(sa_label_png_open(&p, path, 10, 7, &err), 0);
    assert_int_equal(sa_label_png_read_rows(p, buf, 4, &err), 0);
    assert_int_equal(sa_label_png_read_rows(p, buf, 3, &err), 0);
    assert_int_equal(sa_label_png_read_rows(p, buf, 0, &err), 0);
    assert_int_not_equal(sa_label_png_read_rows(p, buf, 1, &err), 0);
    check_msg(&err, path, "past the end", NULL);
    sa_label_png_close(p);
}

/* Writes a noisy image (so that its data is large) and a copy cut in half. */
static void make_truncated(const char *full, const char *cut, int interlace)
{
    const uint32_t w = 256, h = 128;
    uint16_t *v = make_random(w, h, 255);
    write_png(full, w, h, PNG_COLOR_TYPE_GRAY, 8, interlace, v);
    free(v);
    FILE *fp = fopen(full, "rb");
    assert_non_null(fp);
    static unsigned char data[1 << 17];
    size_t n = fread(data, 1, sizeof data, fp);
    fclose(fp);
    assert_true(n > 10000 && n < sizeof data);
    write_bytes(cut, data, n / 2);
}

static void test_truncated(void **state)
{
    (void)state;
    char full[PATHLEN], cut[PATHLEN];
    SaErr err = {0};
    SaLabelPng *p = NULL;
    tpath(full, "trunc_full.png");
    tpath(cut, "trunc_cut.png");
    make_truncated(full, cut, 0);
    uint16_t *buf = malloc(256 * 128 * sizeof *buf);
    assert_non_null(buf);
    /* The header is intact, so open succeeds; the rows run out. */
    assert_int_equal(sa_label_png_open(&p, cut, 256, 128, &err), 0);
    assert_int_equal(sa_label_png_read_rows(p, buf, 128, &err),
                     SEGAUDIT_EINPUT);
    check_msg(&err, cut, "truncated", "at row ");
    /* The row is about half-way, not 0 and not the end. */
    const char *r = strstr(err.msg, "at row ");
    unsigned row = (unsigned)strtoul(r + 7, NULL, 10);
    assert_true(row > 16 && row < 128);
    /* The object stays unusable, without crashing. */
    sa_err_clear(&err);
    assert_int_not_equal(sa_label_png_read_rows(p, buf, 1, &err), 0);
    check_msg(&err, cut, NULL, NULL);
    sa_label_png_close(p);
    free(buf);
    /* Interlaced: decoded at open, so open reports it. */
    sa_err_clear(&err);
    tpath(full, "trunc_full_i.png");
    tpath(cut, "trunc_cut_i.png");
    make_truncated(full, cut, 1);
    open_fails(cut, 256, 128, SEGAUDIT_EINPUT, "truncated", NULL);
}

static void test_corrupt_header(void **state)
{
    (void)state;
    char path[PATHLEN];
    unsigned char data[4096];
    uint16_t *v = make_values(10, 10, 1, 255);
    tpath(path, "badcrc.png");
    write_png(path, 10, 10, PNG_COLOR_TYPE_GRAY, 8, 0, v);
    free(v);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = fread(data, 1, sizeof data, fp);
    fclose(fp);
    data[16 + 3] ^= 0x5a; /* width in IHDR: the CRC no longer matches */
    write_bytes(path, data, n);
    open_fails(path, 0, 0, SEGAUDIT_EINPUT, "corrupt", "libpng: ");
    /* Cut inside IHDR. */
    write_bytes(path, data, 20);
    open_fails(path, 0, 0, SEGAUDIT_EINPUT, "corrupt", NULL);
}

/* ---- Mask writer ------------------------------------------------------- */

static void test_mask_roundtrip(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    SaMaskPng *m = NULL;
    const uint32_t w = 300, h = 17;
    uint16_t *v = make_values(w, h, 1, 255);
    uint8_t row[300];
    tpath(path, "mask.png");
    write_bytes(path, "old contents, overwritten", 25);
    assert_int_equal(sa_mask_png_create(&m, path, w, h, &err), 0);
    assert_non_null(m);
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++)
            row[x] = (uint8_t)v[y * w + x];
        assert_int_equal(sa_mask_png_write_row(m, row, &err), 0);
    }
    assert_int_equal(sa_mask_png_finish(m, &err), 0);
    assert_int_equal(err.code, 0);
    check_image(path, w, h, 8, 0, v);
    free(v);
}

static void test_mask_abort(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    SaMaskPng *m = NULL;
    uint8_t row[8] = {0, 255, 0, 255, 1, 2, 3, 4};
    struct stat st;
    tpath(path, "abort.png");
    assert_int_equal(sa_mask_png_create(&m, path, 8, 4, &err), 0);
    assert_int_equal(sa_mask_png_write_row(m, row, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    sa_mask_png_abort(m);
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
    sa_mask_png_abort(NULL);
    sa_label_png_close(NULL);
}

static void test_mask_wrong_row_count(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    SaMaskPng *m = NULL;
    uint8_t row[8] = {0};
    struct stat st;
    tpath(path, "short_mask.png");
    /* Too few rows: finish fails, frees and leaves no half file. */
    assert_int_equal(sa_mask_png_create(&m, path, 8, 4, &err), 0);
    assert_int_equal(sa_mask_png_write_row(m, row, &err), 0);
    assert_int_not_equal(sa_mask_png_finish(m, &err), 0);
    check_msg(&err, path, "1 of 4 rows", NULL);
    assert_int_equal(stat(path, &st), -1);
    /* Too many rows. */
    sa_err_clear(&err);
    assert_int_equal(sa_mask_png_create(&m, path, 8, 1, &err), 0);
    assert_int_equal(sa_mask_png_write_row(m, row, &err), 0);
    assert_int_not_equal(sa_mask_png_write_row(m, row, &err), 0);
    check_msg(&err, path, "rows", NULL);
    sa_err_clear(&err);
    assert_int_equal(sa_mask_png_finish(m, &err), 0);
}

static void test_mask_create_fails(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    SaMaskPng *m = (SaMaskPng *)&err;
    tpath(path, "no_such_dir/mask.png");
    assert_int_equal(sa_mask_png_create(&m, path, 8, 8, &err), SEGAUDIT_EIO);
    assert_null(m);
    check_msg(&err, path, "cannot create", "No such file");
    sa_err_clear(&err);
    tpath(path, "zero.png");
    assert_int_not_equal(sa_mask_png_create(&m, path, 0, 8, &err), 0);
    assert_null(m);
    check_msg(&err, path, "size", NULL);
}

/* /dev/full accepts open() and fails every write with ENOSPC. */
static void test_mask_disk_full(void **state)
{
    (void)state;
    const char *path = "/dev/full";
    SaErr err = {0};
    SaMaskPng *m = NULL;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISCHR(st.st_mode) || access(path, W_OK)) {
        skip();
        return;
    }
    const uint32_t w = 512, h = 512;
    uint16_t *v = make_random(w, h, 255);
    uint8_t row[512];
    int rc = sa_mask_png_create(&m, path, w, h, &err);
    if (rc == 0) {
        for (uint32_t y = 0; y < h; y++) {
            for (uint32_t x = 0; x < w; x++)
                row[x] = (uint8_t)v[y * w + x];
            if (sa_mask_png_write_row(m, row, &err) != 0)
                break;
        }
        rc = sa_mask_png_finish(m, &err);
    }
    free(v);
    assert_int_equal(rc, SEGAUDIT_EIO);
    assert_int_equal(err.code, SEGAUDIT_EIO); /* the first error */
    check_msg(&err, path, "write failed", "No space left");
    /* The device is still there (only regular files are removed). */
    assert_int_equal(stat(path, &st), 0);
}

/* Palette rows without a filter, compressed by the writer itself: read
 * back as written, for one pixel, for runs, and for noise whose stream
 * fills several IDAT chunks; and a full disk reported at the end. */
static void palette_no_filter(const char *path, uint32_t w, uint32_t h,
                              const uint16_t *v, int want)
{
    uint8_t pal[256][3];
    for (int i = 0; i < 256; i++)
        pal[i][0] = pal[i][1] = pal[i][2] = (uint8_t)i;
    SaPngWriter pw;
    SaErr err = {0};
    uint8_t *row = malloc(w);
    assert_non_null(row);
    int rc = sa_png_writer_create(&pw, path, "", w, h, PNG_COLOR_TYPE_PALETTE,
                                  (SaPngPacking){1, PNG_FILTER_NONE, pal, 256},
                                  &err);
    for (uint32_t y = 0; rc == 0 && y < h; y++) {
        for (uint32_t x = 0; x < w; x++)
            row[x] = (uint8_t)v[(size_t)y * w + x];
        if ((rc = sa_png_writer_row(&pw, row, &err)) != 0)
            sa_png_writer_abort(&pw);
    }
    if (rc == 0)
        rc = sa_png_writer_finish(&pw, &err);
    free(row);
    assert_int_equal(rc, want);
    if (want == 0)
        check_image(path, w, h, 8, 1, v);
    else
        check_msg(&err, path, "write failed", NULL);
}

static void test_palette_writer(void **state)
{
    (void)state;
    char path[PATHLEN];
    uint16_t one = 7;
    tpath(path, "pw_one.png");
    palette_no_filter(path, 1, 1, &one, 0);
    const uint32_t w = 1500, h = 300;
    uint16_t *runs = malloc((size_t)w * h * sizeof *runs);
    assert_non_null(runs);
    for (size_t i = 0; i < (size_t)w * h; i++)
        runs[i] = (uint16_t)((i % w) / 97 + (i / w) / 50);
    tpath(path, "pw_runs.png");
    palette_no_filter(path, w, h, runs, 0);
    uint16_t *noise = make_random(w, h, 255);
    tpath(path, "pw_noise.png"); /* 450 KB of noise: seven chunks */
    palette_no_filter(path, w, h, noise, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 6 * 65536);
    if (access("/dev/full", W_OK) == 0)
        palette_no_filter("/dev/full", w, h, noise, SEGAUDIT_EIO);
    free(runs);
    free(noise);
}

/* ---- Golden datasets: the same labels stored in different formats ------- */

static void same_labels(const char *dir_a, int depth_a, int pal_a,
                        const char *dir_b, int depth_b, int pal_b)
{
    DIR *d = opendir(dir_a);
    if (!d)
        fail_msg("cannot open %s (run from tests/): %s", dir_a,
                 strerror(errno));
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".png") != 0)
            continue;
        char pa[PATHLEN], pb[PATHLEN];
        snprintf(pa, sizeof pa, "%s/%s", dir_a, de->d_name);
        snprintf(pb, sizeof pb, "%s/%s", dir_b, de->d_name);
        uint32_t wa, ha, wb, hb;
        int da, qa, db, qb;
        uint16_t *a = read_all(pa, 0, 0, 5, &wa, &ha, &da, &qa);
        uint16_t *b = read_all(pb, wa, ha, 64, &wb, &hb, &db, &qb);
        assert_int_equal(wa, wb);
        assert_int_equal(ha, hb);
        assert_int_equal(da, depth_a);
        assert_int_equal(qa, pal_a);
        assert_int_equal(db, depth_b);
        assert_int_equal(qb, pal_b);
        assert_memory_equal(a, b, (size_t)wa * ha * sizeof *a);
        free(a);
        free(b);
        files++;
    }
    closedir(d);
    assert_true(files > 0);
}

static void test_golden_palette(void **state)
{
    (void)state;
    same_labels("golden/scenes_k19/labels", 8, 0,
                "golden/scenes_palette_gzip/labels", 8, 1);
}

static void test_golden_gray16(void **state)
{
    (void)state;
    same_labels("golden/void_255/labels", 8, 0,
                "golden/void_gray16_noids/labels", 16, 0);
    /* And the void label really is there. */
    uint32_t w, h;
    int dpt, pal, found = 0;
    uint16_t *v = read_all("golden/void_gray16_noids/labels/void_255_000.png",
                           0, 0, 1, &w, &h, &dpt, &pal);
    for (size_t i = 0; i < (size_t)w * h; i++)
        found |= v[i] == 255;
    free(v);
    assert_true(found);
}

/* ---- Fixture ----------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    return tmpdir_create("test_png");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove();
}

/* ---- hand-made PNGs: one chunk at a time, with zlib's crc32 ------------- */

static void put_chunk(FILE *f, const char *type, const uint8_t *data,
                      uint32_t len, int bad_crc)
{
    uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
                     (uint8_t)(len >> 8), (uint8_t)len};
    fwrite(be, 1, 4, f);
    fwrite(type, 1, 4, f);
    if (len)
        fwrite(data, 1, len, f);
    uLong c = crc32(0, (const Bytef *)type, 4);
    if (len)
        c = crc32(c, data, len);
    if (bad_crc)
        c ^= 1;
    uint8_t cb[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8),
                     (uint8_t)c};
    fwrite(cb, 1, 4, f);
}

/* An 8-bit PNG of w x h (gray, or palette with npal entries) whose rows are
 * all `value`, with one of the defects below. */
enum { OK_PNG, BAD_CRC, BAD_ZLIB };
static void hand_png(const char *path, uint32_t w, uint32_t h, int palette,
                     int npal, uint8_t value, int defect)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    fwrite(sig, 1, 8, f);
    uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16),
                        (uint8_t)(w >> 8),  (uint8_t)w,
                        (uint8_t)(h >> 24), (uint8_t)(h >> 16),
                        (uint8_t)(h >> 8),  (uint8_t)h,
                        8, (uint8_t)(palette ? 3 : 0), 0, 0, 0};
    put_chunk(f, "IHDR", ihdr, 13, 0);
    if (palette) {
        uint8_t pal[768] = {0};
        put_chunk(f, "PLTE", pal, (uint32_t)npal * 3, 0);
    }
    /* small images only: the raw rows (filter byte 0 + w values) */
    size_t raw_len = (size_t)h * (w + 1);
    uint8_t *raw = malloc(raw_len);
    assert_non_null(raw);
    for (uint32_t y = 0; y < h; y++) {
        raw[(size_t)y * (w + 1)] = 0;
        memset(raw + (size_t)y * (w + 1) + 1, value, w);
    }
    uLongf zlen = compressBound(raw_len);
    uint8_t *z = malloc(zlen);
    assert_non_null(z);
    assert_int_equal(compress(z, &zlen, raw, raw_len), Z_OK);
    if (defect == BAD_ZLIB)
        z[zlen / 2] ^= 0x55, z[zlen / 2 + 1] ^= 0xaa;
    put_chunk(f, "IDAT", z, (uint32_t)zlen, defect == BAD_CRC);
    put_chunk(f, "IEND", NULL, 0, 0);
    fclose(f);
    free(raw);
    free(z);
}

/* Reads all rows of path (w x h expected); returns the code. */
static int read_hand(const char *path, uint32_t w, uint32_t h, SaErr *err,
                     uint16_t *first)
{
    SaLabelPng *p = NULL;
    int rc = sa_label_png_open(&p, path, w, h, err);
    if (rc)
        return rc;
    uint16_t *buf = malloc((size_t)w * h * sizeof *buf);
    assert_non_null(buf);
    rc = sa_label_png_read_rows(p, buf, h, err);
    if (rc == 0 && first)
        *first = buf[0];
    free(buf);
    sa_label_png_close(p);
    return rc;
}

static void test_hand_made_ok(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    uint16_t v = 0;
    tpath(path, "hand_ok.png");
    hand_png(path, 40, 30, 0, 0, 7, OK_PNG);
    assert_int_equal(read_hand(path, 40, 30, &err, &v), 0);
    assert_int_equal(v, 7);
}

static void test_bad_crc(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    tpath(path, "bad_crc.png");
    hand_png(path, 40, 30, 0, 0, 7, BAD_CRC);
    assert_int_equal(read_hand(path, 40, 30, &err, NULL), SEGAUDIT_EINPUT);
    check_msg(&err, path, "CRC", NULL);
}

static void test_bad_zlib(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    tpath(path, "bad_zlib.png");
    hand_png(path, 40, 30, 0, 0, 7, BAD_ZLIB);
    assert_int_equal(read_hand(path, 40, 30, &err, NULL), SEGAUDIT_EINPUT);
    check_msg(&err, path, NULL, NULL);
}

static void test_huge_declared_size(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    tpath(path, "huge.png");
    /* IHDR says 10^9 x 10^9; only a tiny IDAT follows.  The size is
     * compared with the expected one before anything is allocated. */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    fwrite(sig, 1, 8, f);
    uint32_t g = 1000000000u;
    uint8_t ihdr[13] = {(uint8_t)(g >> 24), (uint8_t)(g >> 16),
                        (uint8_t)(g >> 8),  (uint8_t)g,
                        (uint8_t)(g >> 24), (uint8_t)(g >> 16),
                        (uint8_t)(g >> 8),  (uint8_t)g, 8, 0, 0, 0, 0};
    put_chunk(f, "IHDR", ihdr, 13, 0);
    put_chunk(f, "IEND", NULL, 0, 0);
    fclose(f);
    SaLabelPng *p = NULL;
    assert_int_equal(sa_label_png_open(&p, path, 2048, 1024, &err),
                     SEGAUDIT_EINPUT);
    assert_null(p);
    check_msg(&err, path, NULL, NULL);
}

static void test_palette_index_beyond_palette(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    uint16_t v = 0;
    /* 2 palette entries, index 5 everywhere: the index is the class, so it
     * is read as 5 (the engine then checks it against K) */
    tpath(path, "pal_beyond.png");
    hand_png(path, 16, 8, 1, 2, 5, OK_PNG);
    int rc = read_hand(path, 16, 8, &err, &v);
    if (rc == 0)
        assert_int_equal(v, 5);
    else
        check_msg(&err, path, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gray8),
        cmocka_unit_test(test_gray16),
        cmocka_unit_test(test_palette8),
        cmocka_unit_test(test_palette4),
        cmocka_unit_test(test_palette1),
        cmocka_unit_test(test_gray1),
        cmocka_unit_test(test_gray2),
        cmocka_unit_test(test_gray4),
        cmocka_unit_test(test_interlaced_gray8),
        cmocka_unit_test(test_interlaced_gray16),
        cmocka_unit_test(test_interlaced_gray2),
        cmocka_unit_test(test_interlaced_palette4),
        cmocka_unit_test(test_rgb),
        cmocka_unit_test(test_rgba),
        cmocka_unit_test(test_gray_alpha),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_not_png),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_wrong_size),
        cmocka_unit_test(test_huge_width),
        cmocka_unit_test(test_past_end),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt_header),
        cmocka_unit_test(test_mask_roundtrip),
        cmocka_unit_test(test_mask_abort),
        cmocka_unit_test(test_mask_wrong_row_count),
        cmocka_unit_test(test_mask_create_fails),
        cmocka_unit_test(test_mask_disk_full),
        cmocka_unit_test(test_palette_writer),
        cmocka_unit_test(test_golden_palette),
        cmocka_unit_test(test_golden_gray16),
        cmocka_unit_test(test_hand_made_ok),
        cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_bad_zlib),
        cmocka_unit_test(test_huge_declared_size),
        cmocka_unit_test(test_palette_index_beyond_palette),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
