/* Unit tests of src/render/classes.c (class presets, generated palettes) and
 * src/render/overlay.c (review overlays).
 *
 * Overlays are made from a synthetic 40×60 image delivered by a callback,
 * written into a mkdtemp folder and read back with libpng directly, so the
 * writer is checked against an independent decoder.  Photos are written
 * with libpng in every colour type the overlay accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "render/overlay.h"
#include "render/text.h"
#include "segaudit/classes.h"
#include "tmpdir_support.h"

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void assert_rgb(const uint8_t *px, int r, int g, int b)
{
    if (px[0] != r || px[1] != g || px[2] != b)
        fail_msg("pixel (%d,%d,%d), expected (%d,%d,%d)", px[0], px[1],
                 px[2], r, g, b);
}

/* ---- Presets ----------------------------------------------------------- */

static void test_preset_cityscapes(void **state)
{
    (void)state;
    const SegauditClassPreset *p = segaudit_class_preset("cityscapes");
    assert_non_null(p);
    assert_string_equal(p->name, "cityscapes");
    assert_int_equal(p->n_classes, 19);
    assert_int_equal(p->ignore_index, 255);
    assert_string_equal(p->class_names[0], "road");
    assert_string_equal(p->class_names[6], "traffic light");
    assert_string_equal(p->class_names[11], "person");
    assert_string_equal(p->class_names[18], "bicycle");
    assert_rgb(p->palette[0], 128, 64, 128);  /* road */
    assert_rgb(p->palette[1], 244, 35, 232);  /* sidewalk */
    assert_rgb(p->palette[10], 70, 130, 180); /* sky */
    assert_rgb(p->palette[13], 0, 0, 142);    /* car */
    assert_rgb(p->palette[18], 119, 11, 32);  /* bicycle */
}

static void voc_colour(int i, uint8_t c[3])
{
    c[0] = c[1] = c[2] = 0;
    for (int j = 0; j < 8; j++)
        for (int ch = 0; ch < 3; ch++)
            c[ch] |= (uint8_t)(((i >> (3 * j + ch)) & 1) << (7 - j));
}

static void test_preset_voc(void **state)
{
    (void)state;
    const SegauditClassPreset *p = segaudit_class_preset("pascal-voc");
    assert_non_null(p);
    assert_string_equal(p->name, "pascal-voc");
    assert_int_equal(p->n_classes, 21);
    assert_int_equal(p->ignore_index, 255);
    assert_string_equal(p->class_names[0], "background");
    assert_string_equal(p->class_names[1], "aeroplane");
    assert_string_equal(p->class_names[15], "person");
    assert_string_equal(p->class_names[20], "tvmonitor");
    assert_rgb(p->palette[0], 0, 0, 0);
    assert_rgb(p->palette[1], 128, 0, 0);
    assert_rgb(p->palette[2], 0, 128, 0);
    assert_rgb(p->palette[3], 128, 128, 0);
    assert_rgb(p->palette[15], 192, 128, 128);
    for (int i = 0; i < 21; i++) {
        uint8_t c[3];
        voc_colour(i, c);
        assert_memory_equal(p->palette[i], c, 3);
    }
}

static void test_preset_ade20k(void **state)
{
    (void)state;
    const SegauditClassPreset *p = segaudit_class_preset("ade20k");
    assert_non_null(p);
    assert_string_equal(p->name, "ade20k");
    assert_int_equal(p->n_classes, 150);
    assert_int_equal(p->ignore_index, 255);
    assert_string_equal(p->class_names[0], "wall");
    assert_string_equal(p->class_names[12], "person");
    assert_string_equal(p->class_names[20], "car");
    assert_string_equal(p->class_names[44], "chest of drawers");
    assert_string_equal(p->class_names[89], "television receiver");
    assert_string_equal(p->class_names[136], "traffic light");
    assert_string_equal(p->class_names[149], "flag");
    for (int i = 0; i < 150; i++) {
        assert_non_null(p->class_names[i]);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(p->class_names[i], p->class_names[j]);
    }
    /* The frozen table is the generated palette. */
    uint8_t gen[150][3];
    segaudit_generate_palette(gen, 150);
    assert_memory_equal(p->palette, gen, sizeof gen);
}

static void test_preset_unknown(void **state)
{
    (void)state;
    assert_null(segaudit_class_preset("coco-stuff"));
    assert_null(segaudit_class_preset(""));
    assert_null(segaudit_class_preset("cityscapes "));
    assert_null(segaudit_class_preset(NULL));
}

/* ---- Generated palettes ------------------------------------------------ */

static int rgb_key(const uint8_t c[3])
{
    return c[0] << 16 | c[1] << 8 | c[2];
}

static void check_palette(int k)
{
    uint8_t (*a)[3] = malloc((size_t)k * 3);
    uint8_t (*b)[3] = malloc((size_t)k * 3);
    uint8_t *seen = calloc(1u << 24, 1);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(seen);
    segaudit_generate_palette(a, k);
    segaudit_generate_palette(b, k);
    assert_memory_equal(a, b, (size_t)k * 3); /* deterministic */
    for (int i = 0; i < k; i++) {
        int key = rgb_key(a[i]);
        if (seen[key])
            fail_msg("k=%d: colour %d (%d,%d,%d) repeats", k, i, a[i][0],
                     a[i][1], a[i][2]);
        seen[key] = 1;
    }
    assert_false(seen[0xFF0000]); /* never the issue red */
    assert_false(seen[0x000000]); /* nor void black */
    assert_false(seen[0xFFFFFF]); /* nor the gap white */
    free(seen);
    free(b);
    free(a);
}

static void test_palette_distinct(void **state)
{
    (void)state;
    check_palette(1);
    check_palette(19);
    check_palette(150);
    check_palette(4093); /* the whole grid */
    check_palette(6000); /* beyond it */
}

static void test_palette_prefix_and_separation(void **state)
{
    (void)state;
    uint8_t small[19][3], big[256][3];
    segaudit_generate_palette(small, 19);
    segaudit_generate_palette(big, 256);
    /* A class keeps its colour whatever K is. */
    assert_memory_equal(small, big, sizeof small);
    /* Well separated: the first 19 differ by more than 60 in some channel
     * pair sum. */
    for (int i = 0; i < 19; i++)
        for (int j = 0; j < i; j++) {
            int d = abs(small[i][0] - small[j][0]) +
                    abs(small[i][1] - small[j][1]) +
                    abs(small[i][2] - small[j][2]);
            if (d < 60)
                fail_msg("colours %d and %d are only %d apart", i, j, d);
        }
    /* k <= 0 writes nothing. */
    uint8_t guard[1][3] = {{7, 7, 7}};
    segaudit_generate_palette(guard, 0);
    segaudit_generate_palette(guard, -3);
    segaudit_generate_palette(NULL, 5);
    assert_rgb(guard[0], 7, 7, 7);
}

/* ---- Synthetic image --------------------------------------------------- */

#define SW 60
#define SH 40
#define SK 5
#define VOID 255

static const uint8_t scene_palette[SK][3] = {
    {10, 200, 30}, {200, 100, 50}, {60, 60, 220}, {240, 240, 240},
    {128, 0, 128},
};

typedef struct Scene {
    uint32_t W, H;
    uint16_t *labels, *argmax;
    uint8_t *issues;
    uint8_t *ignored; /* 65536 flags */
    SegauditRegion regions[4];
    size_t n_regions;
    /* Calls seen by the callback. */
    uint32_t call_row0[64], call_nrows[64];
    int ncalls;
    uint32_t fail_at_row; /* fail when asked for this row (0: never) */
    int fail_sets_err;
} Scene;

static uint16_t scene_label(uint32_t x, uint32_t y)
{
    if (x < 4 && y < 4)
        return VOID;
    return x < 16 ? 0 : x < 31 ? 1 : x < 46 ? 2 : 3;
}

static uint16_t scene_argmax(uint32_t y)
{
    return (uint16_t)((y / 10 + 1) % SK);
}

/* Issue pixels: an L at column 30 rows 20..24 and row 24 columns 30..34
 * (region 1, box 30,20 5×5), and a single pixel at (x 50, y 7). */
static int scene_issue(uint32_t x, uint32_t y)
{
    if (x == 30 && y >= 20 && y <= 24)
        return 1;
    if (y == 24 && x >= 30 && x <= 34)
        return 1;
    return x == 50 && y == 7;
}

static void scene_init(Scene *s)
{
    memset(s, 0, sizeof *s);
    s->W = SW;
    s->H = SH;
    s->labels = malloc(SW * SH * sizeof *s->labels);
    s->argmax = malloc(SW * SH * sizeof *s->argmax);
    s->issues = malloc(SW * SH);
    s->ignored = calloc(65536, 1);
    assert_non_null(s->labels);
    assert_non_null(s->argmax);
    assert_non_null(s->issues);
    assert_non_null(s->ignored);
    s->ignored[VOID] = 1;
    for (uint32_t y = 0; y < SH; y++)
        for (uint32_t x = 0; x < SW; x++) {
            s->labels[y * SW + x] = scene_label(x, y);
            s->argmax[y * SW + x] = scene_argmax(y);
            s->issues[y * SW + x] = (uint8_t)scene_issue(x, y);
        }
    s->regions[0] = (SegauditRegion){.image = 0, .region = 1, .area = 9,
                                     .x = 30, .y = 20, .width = 5,
                                     .height = 5, .given = 1,
                                     .predicted = 3};
    s->regions[1] = (SegauditRegion){.image = 0, .region = 2, .area = 1,
                                     .x = 50, .y = 7, .width = 1,
                                     .height = 1, .given = 3,
                                     .predicted = 1};
    s->n_regions = 2;
}

static void scene_free(Scene *s)
{
    free(s->labels);
    free(s->argmax);
    free(s->issues);
    free(s->ignored);
}

static int scene_rows(void *ctx, uint32_t row0, uint32_t nrows,
                      uint16_t *labels, uint16_t *argmax, uint8_t *issues,
                      SaErr *err)
{
    Scene *s = ctx;
    if (s->ncalls < 64) {
        s->call_row0[s->ncalls] = row0;
        s->call_nrows[s->ncalls] = nrows;
    }
    s->ncalls++;
    if (row0 + nrows > s->H)
        return sa_err(err, SEGAUDIT_EINVAL, "rows %u+%u past the end", row0,
                      nrows);
    if (s->fail_at_row && s->fail_at_row >= row0 &&
        s->fail_at_row < row0 + nrows) {
        if (s->fail_sets_err)
            return sa_err(err, SEGAUDIT_EINPUT, "scene: row %u is broken",
                          s->fail_at_row);
        return SEGAUDIT_EINPUT;
    }
    size_t off = (size_t)row0 * s->W, n = (size_t)nrows * s->W;
    memcpy(labels, s->labels + off, n * sizeof *labels);
    memcpy(argmax, s->argmax + off, n * sizeof *argmax);
    memcpy(issues, s->issues + off, n);
    return 0;
}

static SaOverlaySpec scene_spec(const Scene *s, uint32_t out_width,
                                const char *photo)
{
    SaOverlaySpec spec = {
        .W = s->W, .H = s->H, .K = SK, .palette = scene_palette,
        .ignored = s->ignored, .out_width = out_width, .photo_path = photo,
        .regions = s->regions, .n_regions = s->n_regions,
    };
    return spec;
}

/* ---- Reading the overlay back ------------------------------------------ */

typedef struct Image {
    uint32_t w, h;
    uint8_t *rgb;  /* as RGB, whatever the file stores */
    int ctype;     /* the file's colour type */
} Image;

static Image read_png(const char *path)
{
    Image im = {0, 0, NULL, 0};
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL,
                                             NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed reading %s", path);
    png_init_io(png, fp);
    /* the file's colour type, from its header (IHDR's byte 9) */
    unsigned char head[26];
    assert_int_equal(fread(head, 1, sizeof head, fp), sizeof head);
    im.ctype = head[25];
    rewind(fp);
    /* palettes expanded to RGB */
    png_read_png(png, info, PNG_TRANSFORM_EXPAND, NULL);
    assert_int_equal(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB);
    assert_true(im.ctype == PNG_COLOR_TYPE_RGB ||
                im.ctype == PNG_COLOR_TYPE_PALETTE);
    assert_int_equal(png_get_bit_depth(png, info), 8);
    assert_int_equal(png_get_rowbytes(png, info),
                     (size_t)png_get_image_width(png, info) * 3);
    im.w = png_get_image_width(png, info);
    im.h = png_get_image_height(png, info);
    png_bytepp rows = png_get_rows(png, info);
    im.rgb = malloc((size_t)im.w * im.h * 3);
    assert_non_null(im.rgb);
    for (uint32_t y = 0; y < im.h; y++)
        memcpy(im.rgb + (size_t)y * im.w * 3, rows[y], (size_t)im.w * 3);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    return im;
}

/* Pixel (x, y) of panel p (0, 1, 2) of an overlay with panel width pw. */
static const uint8_t *panel_px(const Image *im, uint32_t pw, int p,
                               uint32_t x, uint32_t y)
{
    uint32_t X = (uint32_t)p * (pw + SA_OVERLAY_GAP) + x;
    assert_true(X < im->w && y < im->h);
    return im->rgb + ((size_t)y * im->w + X) * 3;
}

static void assert_class(const uint8_t *px, int k)
{
    assert_rgb(px, scene_palette[k][0], scene_palette[k][1],
               scene_palette[k][2]);
}

static void assert_dim(const uint8_t *px, int r, int g, int b)
{
    assert_rgb(px, sa_overlay_dim((uint8_t)r), sa_overlay_dim((uint8_t)g),
               sa_overlay_dim((uint8_t)b));
}

static void assert_dim_class(const uint8_t *px, int k)
{
    assert_dim(px, scene_palette[k][0], scene_palette[k][1],
               scene_palette[k][2]);
}

static void assert_red(const uint8_t *px)
{
    assert_rgb(px, 255, 0, 0);
}

static void assert_yellow(const uint8_t *px)
{
    assert_rgb(px, 255, 255, 0);
}

/* Runs the overlay of s and reads it back; the call must succeed. */
/* Writes the overlay of spec, reads it back and removes the file. */
static Image write_spec(Scene *s, const SaOverlaySpec *spec, const char *name)
{
    char out[PATHLEN];
    SaErr err;
    sa_err_clear(&err);
    tpath(out, name);
    int rc = sa_overlay_write(spec, scene_rows, s, out, &err);
    if (rc)
        fail_msg("sa_overlay_write: %d: %s", rc, err.msg);
    Image im = read_png(out);
    unlink(out);
    return im;
}

static Image make_overlay(Scene *s, uint32_t out_width, const char *photo,
                          const char *name)
{
    SaOverlaySpec spec = scene_spec(s, out_width, photo);
    return write_spec(s, &spec, name);
}

/* ---- Geometry ---------------------------------------------------------- */

/* ---- Decoration: titles and legend ------------------------------------- */

static int band_has(const Image *im, uint32_t y0, uint32_t y1, uint32_t x0,
                    uint32_t x1, const uint8_t c[3])
{
    for (uint32_t y = y0; y < y1 && y < im->h; y++)
        for (uint32_t x = x0; x < x1 && x < im->w; x++)
            if (!memcmp(im->rgb + ((size_t)y * im->w + x) * 3, c, 3))
                return 1;
    return 0;
}

static Image make_decorated(Scene *s, const char *const *names, int n_names,
                            const char *name)
{
    SaOverlaySpec spec = scene_spec(s, 1024, NULL);
    spec.decorate = 1;
    spec.class_names = names;
    spec.n_class_names = n_names;
    return write_spec(s, &spec, name);
}

/* The panels are the undecorated overlay's, between a title band with
 * text over each panel and a legend with a swatch of every class shown
 * (and void, the issue red, the region yellow), and of no other. */
static void test_decorated(void **state)
{
    (void)state;
    Scene s;
    scene_init(&s);
    Image plain = make_overlay(&s, 1024, NULL, "plain.png");
    static const char *const names[SK] = {"road", "car", "sky", "wall",
                                          "a name far longer than a legend "
                                          "entry may show"};
    Image im = make_decorated(&s, names, SK, "deco.png");
    const uint32_t title_h = SA_GLYPH_H + 4; /* text scale 1 */
    assert_int_equal(im.w, plain.w);
    assert_true(im.h > title_h + plain.h);
    assert_memory_equal(im.rgb + (size_t)title_h * im.w * 3, plain.rgb,
                        (size_t)plain.h * plain.w * 3);
    static const uint8_t ink[3] = {0, 0, 0}, red[3] = {255, 0, 0},
                         yellow[3] = {255, 255, 0};
    for (int p = 0; p < 3; p++) {
        uint32_t x0 = (uint32_t)p * (SW + SA_OVERLAY_GAP);
        assert_true(band_has(&im, 0, title_h, x0, x0 + SW, ink));
    }
    const uint32_t ly = title_h + plain.h;
    for (int k = 0; k < SK; k++)
        assert_true(band_has(&im, ly, im.h, 0, im.w, scene_palette[k]));
    assert_true(band_has(&im, ly, im.h, 0, im.w, red));
    assert_true(band_has(&im, ly, im.h, 0, im.w, yellow));
    assert_true(band_has(&im, ly, im.h, 0, im.w, ink)); /* void, text */
    /* class colours and a few fixed ones: stored as a palette (the same
     * pixels as RGB); the undecorated overlay, streamed, as RGB */
    assert_int_equal(im.ctype, PNG_COLOR_TYPE_PALETTE);
    assert_int_equal(plain.ctype, PNG_COLOR_TYPE_RGB);
    free(plain.rgb);
    free(im.rgb);

    /* one class shown: its swatch alone, no void */
    for (size_t i = 0; i < (size_t)SW * SH; i++) {
        s.labels[i] = 1;
        s.argmax[i] = 1;
    }
    Image one = make_decorated(&s, NULL, 0, "one.png");
    const uint32_t ly1 = one.h - (one.h - title_h - SH);
    assert_true(band_has(&one, ly1, one.h, 0, one.w, scene_palette[1]));
    for (int k = 0; k < SK; k++)
        if (k != 1)
            assert_false(band_has(&one, ly1, one.h, 0, one.w,
                                  scene_palette[k]));
    /* fewer entries: a shorter legend */
    assert_true(one.h - ly1 < im.h - ly);
    free(one.rgb);
    scene_free(&s);
}

/* A decorated overlay's panels are the undecorated overlay's however its
 * colours are stored: K classes coloured (k mod 256, k / 256, 77), with
 * the labels and argmax of the scene moved to classes base + (value mod
 * span). */
static void check_many(Scene *s, uint32_t K, uint32_t base, uint32_t span,
                       uint32_t out_width, int ctype)
{
    uint8_t(*pal)[3] = malloc((size_t)K * sizeof *pal);
    assert_non_null(pal);
    for (uint32_t k = 0; k < K; k++) {
        pal[k][0] = (uint8_t)(k & 255);
        pal[k][1] = (uint8_t)(k >> 8);
        pal[k][2] = 77;
    }
    for (size_t i = 0; i < (size_t)SW * SH; i++) {
        s->labels[i] = (uint16_t)(base + (i * 7) % span);
        s->argmax[i] = (uint16_t)(base + (i * 3 + i / SW) % span);
    }
    SaOverlaySpec spec = scene_spec(s, out_width, NULL);
    spec.K = K;
    spec.palette = (const uint8_t(*)[3])pal;
    Image plain = write_spec(s, &spec, "many-plain.png");
    spec.decorate = 1;
    Image im = write_spec(s, &spec, "many-deco.png");
    const uint32_t title_h = SA_GLYPH_H + 4; /* text scale 1 */
    assert_int_equal(im.ctype, ctype);
    assert_int_equal(im.w, plain.w);
    assert_memory_equal(im.rgb + (size_t)title_h * im.w * 3, plain.rgb,
                        (size_t)plain.h * plain.w * 3);
    free(plain.rgb);
    free(im.rgb);
    free(pal);
}

static void test_decorated_many_colours(void **state)
{
    (void)state;
    Scene s;
    scene_init(&s);
    /* 200 classes shown, each also dimmed: more than 256 colours, RGB */
    check_many(&s, 200, 0, 200, 1024, PNG_COLOR_TYPE_RGB);
    /* a few of 40,000 classes: too many for 16-bit colour codes, but few
     * colours, so a palette */
    check_many(&s, 40000, 39990, 6, 1024, PNG_COLOR_TYPE_PALETTE);
    /* a few of 300 classes (colours indexed as they come), and of 50
     * (indexed before the rows), at full scale and scaled down */
    check_many(&s, 300, 100, 9, 1024, PNG_COLOR_TYPE_PALETTE);
    check_many(&s, 50, 0, 50, 1024, PNG_COLOR_TYPE_PALETTE);
    check_many(&s, 300, 100, 9, SW / 3, PNG_COLOR_TYPE_PALETTE);
    check_many(&s, 50, 0, 50, SW / 3, PNG_COLOR_TYPE_PALETTE);
    scene_free(&s);
}

static void test_geometry(void **state)
{
    (void)state;
    SaOverlayGeometry g;
    assert_int_equal(sa_overlay_geometry(60, 40, 1024, &g), 0);
    assert_int_equal(g.scale, 1);
    assert_int_equal(g.panel_width, 60);
    assert_int_equal(g.width, 3 * 60 + 2 * SA_OVERLAY_GAP);
    assert_int_equal(g.height, 40);
    assert_int_equal(sa_overlay_geometry(2048, 1024, 1024, &g), 0);
    assert_int_equal(g.scale, 2);
    assert_int_equal(g.panel_width, 1024);
    assert_int_equal(g.panel_height, 512);
    assert_int_equal(sa_overlay_geometry(2049, 1, 1024, &g), 0);
    assert_int_equal(g.scale, 3);
    assert_int_equal(g.panel_width, 683);
    assert_int_equal(g.panel_height, 1);
    assert_int_equal(sa_overlay_geometry(60, 40, 20, &g), 0);
    assert_int_equal(g.scale, 3);
    assert_int_equal(g.panel_width, 20);
    assert_int_equal(g.panel_height, 14);
    assert_int_equal(sa_overlay_geometry(60, 40, 0, &g), SEGAUDIT_EINVAL);
    assert_int_equal(sa_overlay_geometry(0, 40, 10, &g), SEGAUDIT_EINVAL);
    assert_int_equal(sa_overlay_geometry(60, 0, 10, &g), SEGAUDIT_EINVAL);
}

/* ---- Overlays ---------------------------------------------------------- */

static void test_full_scale(void **state)
{
    (void)state;
    Scene s;
    scene_init(&s);
    Image im = make_overlay(&s, 1024, NULL, "full.png");
    const uint32_t pw = SW;
    assert_int_equal(im.w, 3 * SW + 2 * SA_OVERLAY_GAP);
    assert_int_equal(im.h, SH);

    /* Streaming: one row per call at scale 1, in order. */
    assert_int_equal(s.ncalls, SH);
    for (int i = 0; i < SH; i++) {
        assert_int_equal(s.call_row0[i], i);
        assert_int_equal(s.call_nrows[i], 1);
    }
    /* Gaps. */
    for (uint32_t y = 0; y < SH; y += 13)
        for (uint32_t i = 0; i < SA_OVERLAY_GAP; i++) {
            assert_rgb(im.rgb + ((size_t)y * im.w + pw + i) * 3, 255, 255,
                       255);
            assert_rgb(im.rgb + ((size_t)y * im.w + 2 * pw + SA_OVERLAY_GAP +
                                 i) * 3, 255, 255, 255);
        }
    /* Panel 1: the labels; void is black. */
    for (uint32_t y = 0; y < SH; y++)
        for (uint32_t x = 0; x < SW; x++) {
            uint16_t l = scene_label(x, y);
            if (l == VOID)
                assert_rgb(panel_px(&im, pw, 0, x, y), 0, 0, 0);
            else
                assert_class(panel_px(&im, pw, 0, x, y), l);
        }
    assert_class(panel_px(&im, pw, 0, 20, 10), 1);
    assert_rgb(panel_px(&im, pw, 0, 1, 1), 0, 0, 0);
    /* Panel 2: the argmax. */
    assert_class(panel_px(&im, pw, 1, 5, 5), 1);
    assert_class(panel_px(&im, pw, 1, 40, 25), 3);
    assert_class(panel_px(&im, pw, 1, 59, 39), 4);
    /* Panel 3: issues in red. */
    assert_red(panel_px(&im, pw, 2, 30, 20));
    assert_red(panel_px(&im, pw, 2, 30, 22));
    assert_red(panel_px(&im, pw, 2, 33, 24));
    assert_red(panel_px(&im, pw, 2, 50, 7));
    /* Region frames just outside the boxes: columns 29 and 35, rows 19
     * and 25 for the L; a ring round the single pixel. */
    assert_yellow(panel_px(&im, pw, 2, 29, 22));
    assert_yellow(panel_px(&im, pw, 2, 29, 19));
    assert_yellow(panel_px(&im, pw, 2, 32, 19));
    assert_yellow(panel_px(&im, pw, 2, 35, 25));
    assert_yellow(panel_px(&im, pw, 2, 35, 21));
    assert_yellow(panel_px(&im, pw, 2, 49, 7));
    assert_yellow(panel_px(&im, pw, 2, 50, 6));
    assert_yellow(panel_px(&im, pw, 2, 51, 8));
    /* Inside the box but not an issue, outside it: dimmed labels. */
    assert_dim_class(panel_px(&im, pw, 2, 32, 21), 2);
    assert_dim_class(panel_px(&im, pw, 2, 28, 22), 1);
    assert_dim_class(panel_px(&im, pw, 2, 10, 30), 0);
    assert_dim_class(panel_px(&im, pw, 2, 36, 22), 2);
    assert_dim(panel_px(&im, pw, 2, 1, 1), 0, 0, 0);
    /* Every panel-3 pixel is one of: red, yellow, dimmed. */
    int red = 0, yellow = 0;
    for (uint32_t y = 0; y < SH; y++)
        for (uint32_t x = 0; x < SW; x++) {
            const uint8_t *px = panel_px(&im, pw, 2, x, y);
            if (px[0] == 255 && px[1] == 0 && px[2] == 0)
                red++;
            else if (px[0] == 255 && px[1] == 255 && px[2] == 0)
                yellow++;
        }
    assert_int_equal(red, 10);
    assert_int_equal(yellow, 2 * 7 + 2 * 5 + 8);
    free(im.rgb);
    scene_free(&s);
}

static void test_scaled(void **state)
{
    (void)state;
    Scene s;
    scene_init(&s);
    Image im = make_overlay(&s, 20, NULL, "scaled.png");
    const uint32_t pw = 20;
    assert_int_equal(im.w, 3 * 20 + 2 * SA_OVERLAY_GAP);
    assert_int_equal(im.h, 14); /* ceil(40 / 3) */

    /* Streaming: 3 rows at a time, the last block 1 row. */
    assert_int_equal(s.ncalls, 14);
    for (int i = 0; i < 14; i++) {
        assert_int_equal(s.call_row0[i], 3 * i);
        assert_int_equal(s.call_nrows[i], i < 13 ? 3 : 1);
    }
    /* Panel 1: block majority (columns 15..17 are 0, 1, 1 → 1, where the
     * top-left would be 0); an all-void block is black; a block with one
     * void pixel of nine is its majority class. */
    assert_class(panel_px(&im, pw, 0, 5, 4), 1);
    assert_rgb(panel_px(&im, pw, 0, 0, 0), 0, 0, 0);
    assert_class(panel_px(&im, pw, 0, 1, 1), 0);
    assert_class(panel_px(&im, pw, 0, 19, 13), 3); /* the short last block */
    /* Panel 2: rows 9..11 are 1, 2, 2 → 2. */
    assert_class(panel_px(&im, pw, 1, 0, 3), 2);
    assert_class(panel_px(&im, pw, 1, 7, 13), 4);
    /* Panel 3: a single issue pixel makes its whole block red. */
    assert_red(panel_px(&im, pw, 2, 16, 2));
    assert_red(panel_px(&im, pw, 2, 10, 6));
    assert_red(panel_px(&im, pw, 2, 11, 8));
    /* Frames: the L covers blocks 10..11 × 6..8 → frame columns 9 and 12,
     * rows 5 and 9; the single pixel's block is 16 × 2. */
    assert_yellow(panel_px(&im, pw, 2, 9, 7));
    assert_yellow(panel_px(&im, pw, 2, 12, 9));
    assert_yellow(panel_px(&im, pw, 2, 10, 5));
    assert_yellow(panel_px(&im, pw, 2, 15, 2));
    assert_yellow(panel_px(&im, pw, 2, 16, 1));
    assert_yellow(panel_px(&im, pw, 2, 17, 3));
    /* No issue in the block: dimmed majority label. */
    assert_dim_class(panel_px(&im, pw, 2, 11, 7), 2);
    assert_dim_class(panel_px(&im, pw, 2, 3, 12), 0);
    free(im.rgb);
    scene_free(&s);
}

/* A panel of at least 400 pixels gets 2-pixel frames; at the panel's edge
 * the frame lies on the box's own blocks. */
static void test_thick_frames_and_edges(void **state)
{
    (void)state;
    const uint32_t W = 800, H = 10;
    Scene s;
    memset(&s, 0, sizeof s);
    s.W = W;
    s.H = H;
    s.labels = calloc((size_t)W * H, sizeof *s.labels);
    s.argmax = calloc((size_t)W * H, sizeof *s.argmax);
    s.issues = calloc((size_t)W * H, 1);
    s.ignored = calloc(65536, 1);
    assert_non_null(s.labels);
    assert_non_null(s.argmax);
    assert_non_null(s.issues);
    assert_non_null(s.ignored);
    s.issues[4 * W + 100] = 1;
    s.issues[0] = 1;
    s.regions[0] = (SegauditRegion){.x = 100, .y = 4, .width = 3,
                                    .height = 2, .area = 1};
    s.regions[1] = (SegauditRegion){.x = 0, .y = 0, .width = 3, .height = 3,
                                    .area = 1};
    s.n_regions = 2;
    assert_int_equal(sa_overlay_box_px(W), 2);
    Image im = make_overlay(&s, 1024, NULL, "thick.png");
    assert_int_equal(im.w, 3 * W + 2 * SA_OVERLAY_GAP);
    /* Box 100..102 × 4..5: frame columns 98..99 and 103..104, rows 2..3
     * and 6..7. */
    assert_yellow(panel_px(&im, W, 2, 98, 5));
    assert_yellow(panel_px(&im, W, 2, 99, 5));
    assert_yellow(panel_px(&im, W, 2, 103, 4));
    assert_yellow(panel_px(&im, W, 2, 104, 4));
    assert_yellow(panel_px(&im, W, 2, 101, 2));
    assert_yellow(panel_px(&im, W, 2, 101, 3));
    assert_yellow(panel_px(&im, W, 2, 101, 7));
    assert_dim_class(panel_px(&im, W, 2, 97, 5), 0);
    assert_dim_class(panel_px(&im, W, 2, 101, 5), 0);
    assert_dim_class(panel_px(&im, W, 2, 101, 8), 0);
    assert_red(panel_px(&im, W, 2, 100, 4));
    /* Box 0..2 × 0..2 at the corner: frame rectangle 0..4 × 0..4 minus
     * 2..2 × 2..2; the issue pixel (0,0) stays red. */
    assert_red(panel_px(&im, W, 2, 0, 0));
    assert_yellow(panel_px(&im, W, 2, 0, 2));
    assert_yellow(panel_px(&im, W, 2, 1, 2));
    assert_dim_class(panel_px(&im, W, 2, 2, 2), 0);
    assert_yellow(panel_px(&im, W, 2, 3, 2));
    assert_yellow(panel_px(&im, W, 2, 4, 2));
    assert_yellow(panel_px(&im, W, 2, 2, 4));
    assert_dim_class(panel_px(&im, W, 2, 5, 2), 0);
    assert_dim_class(panel_px(&im, W, 2, 2, 5), 0);
    free(im.rgb);
    scene_free(&s);
}

/* ---- Photos ------------------------------------------------------------ */

static int channels_of(int ctype)
{
    switch (ctype) {
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 1;
    }
}

/* Writes a PNG of w×h; vals holds w·h·channels samples (palette images:
 * indices, with a gray palette PLTE[i] = (i, i, i) and a tRNS chunk). */
static void write_png(const char *path, uint32_t w, uint32_t h, int ctype,
                      int depth, int interlace, const uint16_t *vals)
{
    const int ch = channels_of(ctype);
    const size_t rowbytes = (size_t)w * ch * (depth / 8);
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
            } else {
                r[i] = (unsigned char)v;
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
    png_set_IHDR(png, info, w, h, depth, ctype,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        png_byte alpha[8] = {0, 30, 60, 90, 120, 150, 180, 210};
        for (int i = 0; i < 256; i++)
            pal[i].red = pal[i].green = pal[i].blue = (png_byte)i;
        png_set_PLTE(png, info, pal, 256);
        png_set_tRNS(png, info, alpha, 8, NULL);
    }
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    assert_int_equal(fclose(fp), 0);
    free(rows);
    free(data);
}

static uint8_t photo_r(uint32_t x, uint32_t y) { (void)y; return (uint8_t)(x * 4); }
static uint8_t photo_g(uint32_t x, uint32_t y) { (void)x; return (uint8_t)(y * 6); }
static uint8_t photo_b(uint32_t x, uint32_t y) { return (uint8_t)(2 * (x + y)); }
static uint8_t photo_gray(uint32_t x, uint32_t y)
{
    return (uint8_t)((x * 37 + y * 11) & 255);
}

/* A photo of w×h in a colour type.  Colour photos carry photo_r/g/b, gray
 * ones photo_gray; 16-bit samples are v·257 (exactly v at 8 bits); alpha
 * varies and must not matter. */
static void write_photo(const char *path, uint32_t w, uint32_t h, int ctype,
                        int depth, int interlace)
{
    const int ch = channels_of(ctype);
    uint16_t *v = malloc((size_t)w * h * ch * sizeof *v);
    assert_non_null(v);
    const unsigned mul = depth == 16 ? 257 : 1;
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint16_t *p = v + ((size_t)y * w + x) * ch;
            if ((ctype & PNG_COLOR_MASK_COLOR) &&
                ctype != PNG_COLOR_TYPE_PALETTE) {
                p[0] = (uint16_t)(photo_r(x, y) * mul);
                p[1] = (uint16_t)(photo_g(x, y) * mul);
                p[2] = (uint16_t)(photo_b(x, y) * mul);
            } else {
                p[0] = (uint16_t)(photo_gray(x, y) * mul);
            }
            if (ctype & PNG_COLOR_MASK_ALPHA)
                p[ch - 1] = (uint16_t)(((x * 13 + y) % 256) * mul);
        }
    write_png(path, w, h, ctype, depth, interlace, v);
    free(v);
}

static void test_photo_full_scale(void **state)
{
    (void)state;
    char photo[PATHLEN];
    tpath(photo, "photo_rgb8.png");
    write_photo(photo, SW, SH, PNG_COLOR_TYPE_RGB, 8, 0);
    Scene s;
    scene_init(&s);
    Image im = make_overlay(&s, 1024, photo, "photo.png");
    const uint32_t pw = SW;
    assert_int_equal(im.w, 3 * SW + 2 * SA_OVERLAY_GAP);
    /* Panels 1 and 2 do not change. */
    assert_class(panel_px(&im, pw, 0, 20, 10), 1);
    assert_class(panel_px(&im, pw, 1, 40, 25), 3);
    /* Panel 3: the dimmed photo, issues and frames on top. */
    assert_dim(panel_px(&im, pw, 2, 10, 30), 40, 180, 80);
    assert_dim(panel_px(&im, pw, 2, 32, 21), 128, 126, 106);
    assert_dim(panel_px(&im, pw, 2, 1, 1), 4, 6, 4);
    assert_red(panel_px(&im, pw, 2, 30, 22));
    assert_red(panel_px(&im, pw, 2, 50, 7));
    assert_yellow(panel_px(&im, pw, 2, 29, 22));
    int dimmed = 0;
    for (uint32_t y = 0; y < SH; y++)
        for (uint32_t x = 0; x < SW; x++) {
            const uint8_t *px = panel_px(&im, pw, 2, x, y);
            if (px[0] == sa_overlay_dim(photo_r(x, y)) &&
                px[1] == sa_overlay_dim(photo_g(x, y)) &&
                px[2] == sa_overlay_dim(photo_b(x, y)))
                dimmed++;
        }
    assert_int_equal(dimmed, SW * SH - 10 - (2 * 7 + 2 * 5 + 8));
    /* decorated: more than 256 colours, so RGB, the same panels */
    SaOverlaySpec spec = scene_spec(&s, 1024, photo);
    spec.decorate = 1;
    Image deco = write_spec(&s, &spec, "photo_deco.png");
    assert_int_equal(deco.ctype, PNG_COLOR_TYPE_RGB);
    const uint32_t title_h = SA_GLYPH_H + 4;
    assert_memory_equal(deco.rgb + (size_t)title_h * deco.w * 3, im.rgb,
                        (size_t)im.h * im.w * 3);
    free(deco.rgb);
    free(im.rgb);
    scene_free(&s);
}

static void test_photo_scaled(void **state)
{
    (void)state;
    char photo[PATHLEN];
    tpath(photo, "photo_rgb8s.png");
    write_photo(photo, SW, SH, PNG_COLOR_TYPE_RGB, 8, 0);
    Scene s;
    scene_init(&s);
    Image im = make_overlay(&s, 20, photo, "photo_s.png");
    /* Block 3 × 12: columns 9..11, rows 36..38: the box average. */
    assert_dim(panel_px(&im, 20, 2, 3, 12), 40, 222, 94);
    /* The last block has one row (39). */
    assert_dim(panel_px(&im, 20, 2, 3, 13), 40, 234, 98);
    /* Rounded averages: columns 0..2 rows 0..2: r = 4, g = 6, b = 4. */
    assert_dim(panel_px(&im, 20, 2, 0, 0), 4, 6, 4);
    assert_red(panel_px(&im, 20, 2, 16, 2));
    assert_yellow(panel_px(&im, 20, 2, 9, 7));
    free(im.rgb);
    scene_free(&s);
}

/* Every photo colour type gives the same overlay as its 8-bit reference. */
static void same_as(const char *ref_name, const char *name, int ctype,
                    int depth, int interlace, uint32_t out_width)
{
    char ref[PATHLEN], photo[PATHLEN];
    tpath(ref, ref_name);
    tpath(photo, name);
    write_photo(photo, SW, SH, ctype, depth, interlace);
    Scene s;
    scene_init(&s);
    Image a = make_overlay(&s, out_width, ref, "ref.png");
    Image b = make_overlay(&s, out_width, photo, "variant.png");
    assert_int_equal(a.w, b.w);
    assert_int_equal(a.h, b.h);
    if (memcmp(a.rgb, b.rgb, (size_t)a.w * a.h * 3) != 0)
        fail_msg("%s: overlay differs from %s", name, ref_name);
    free(a.rgb);
    free(b.rgb);
    scene_free(&s);
}

static void test_photo_colour_types(void **state)
{
    (void)state;
    char p[PATHLEN];
    tpath(p, "ref_rgb.png");
    write_photo(p, SW, SH, PNG_COLOR_TYPE_RGB, 8, 0);
    tpath(p, "ref_gray.png");
    write_photo(p, SW, SH, PNG_COLOR_TYPE_GRAY, 8, 0);
    for (uint32_t ow = 20; ow <= 1024; ow += 1004) {
        same_as("ref_rgb.png", "rgba8.png", PNG_COLOR_TYPE_RGB_ALPHA, 8, 0,
                ow);
        same_as("ref_rgb.png", "rgb16.png", PNG_COLOR_TYPE_RGB, 16, 0, ow);
        same_as("ref_rgb.png", "rgba16.png", PNG_COLOR_TYPE_RGB_ALPHA, 16, 0,
                ow);
        same_as("ref_rgb.png", "rgb8i.png", PNG_COLOR_TYPE_RGB, 8, 1, ow);
        same_as("ref_gray.png", "gray16.png", PNG_COLOR_TYPE_GRAY, 16, 0, ow);
        same_as("ref_gray.png", "ga8.png", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0,
                ow);
        same_as("ref_gray.png", "pal8.png", PNG_COLOR_TYPE_PALETTE, 8, 0, ow);
        same_as("ref_gray.png", "gray8i.png", PNG_COLOR_TYPE_GRAY, 8, 1, ow);
    }
    /* And the gray reference is the dimmed gray. */
    Scene s;
    scene_init(&s);
    tpath(p, "ref_gray.png");
    Image im = make_overlay(&s, 1024, p, "gray.png");
    uint8_t g = photo_gray(10, 30);
    assert_dim(panel_px(&im, SW, 2, 10, 30), g, g, g);
    free(im.rgb);
    scene_free(&s);
}

/* ---- Errors ------------------------------------------------------------ */

/* Runs an overlay that must fail with code and a message containing k1
 * (and k2 when not NULL); out must not exist afterwards. */
static void overlay_fails(Scene *s, uint32_t out_width, const char *photo,
                          const char *out, int code, const char *k1,
                          const char *k2)
{
    SaErr err;
    sa_err_clear(&err);
    SaOverlaySpec spec = scene_spec(s, out_width, photo);
    int rc = sa_overlay_write(&spec, scene_rows, s, out, &err);
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    if (!strstr(err.msg, k1) || (k2 && !strstr(err.msg, k2)))
        fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err.msg, k1,
                 k2 ? k2 : "");
    struct stat st;
    if (stat(out, &st) == 0 && S_ISREG(st.st_mode))
        fail_msg("%s was left behind", out);
}

static void test_photo_wrong_size(void **state)
{
    (void)state;
    char photo[PATHLEN], out[PATHLEN];
    tpath(photo, "small.png");
    tpath(out, "wrong_size.png");
    write_photo(photo, SW - 1, SH, PNG_COLOR_TYPE_RGB, 8, 0);
    Scene s;
    scene_init(&s);
    overlay_fails(&s, 1024, photo, out, SEGAUDIT_EINPUT, photo, "59x40");
    assert_int_equal(s.ncalls, 0); /* checked before anything is read */
    write_photo(photo, SW, SH + 1, PNG_COLOR_TYPE_GRAY, 8, 0);
    overlay_fails(&s, 20, photo, out, SEGAUDIT_EINPUT, photo, "60x41");
    scene_free(&s);
}

static void test_photo_bad_files(void **state)
{
    (void)state;
    char photo[PATHLEN], out[PATHLEN], full[PATHLEN];
    tpath(out, "bad_photo.png");
    Scene s;
    scene_init(&s);

    tpath(photo, "no_such_photo.png");
    overlay_fails(&s, 1024, photo, out, SEGAUDIT_EINPUT, photo, NULL);

    tpath(photo, "not_a_png.png");
    FILE *fp = fopen(photo, "wb");
    assert_non_null(fp);
    fputs("this is not a PNG file at all", fp);
    assert_int_equal(fclose(fp), 0);
    overlay_fails(&s, 1024, photo, out, SEGAUDIT_EINPUT, photo, "not a PNG");

    overlay_fails(&s, 1024, g_dir, out, SEGAUDIT_EINPUT, g_dir,
                  "directory");

    /* Truncated in the image data: the overlay file was already created
     * (the data is read while streaming), and must be removed. */
    tpath(full, "full_photo.png");
    tpath(photo, "truncated_photo.png");
    uint16_t *noise = malloc((size_t)SW * SH * 4 * sizeof *noise);
    assert_non_null(noise);
    uint32_t seed = 12345;
    for (size_t i = 0; i < (size_t)SW * SH * 4; i++) {
        seed = seed * 1664525u + 1013904223u;
        noise[i] = (uint16_t)(seed >> 16);
    }
    /* Noise does not compress: the image data (~19 kB) is read in several
     * pieces, so the error comes after some rows were written. */
    write_png(full, SW, SH, PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, noise);
    free(noise);
    struct stat st;
    assert_int_equal(stat(full, &st), 0);
    assert_int_equal(truncate(full, st.st_size / 2), 0);
    assert_int_equal(rename(full, photo), 0);
    s.ncalls = 0;
    overlay_fails(&s, 1024, photo, out, SEGAUDIT_EINPUT, photo, "row");
    assert_true(s.ncalls > 1);
    scene_free(&s);
}

static void test_unwritable_output(void **state)
{
    (void)state;
    char out[PATHLEN];
    tpath(out, "no/such/dir/overlay.png");
    Scene s;
    scene_init(&s);
    overlay_fails(&s, 1024, NULL, out, SEGAUDIT_EIO, out, "cannot create");
    /* The output path is a directory. */
    overlay_fails(&s, 1024, NULL, g_dir, SEGAUDIT_EIO, g_dir, NULL);
    assert_true(file_exists(g_dir));
    /* A full disk. */
    if (access("/dev/full", W_OK) == 0)
        overlay_fails(&s, 1024, NULL, "/dev/full", SEGAUDIT_EIO,
                      "/dev/full", "write failed");
    scene_free(&s);
}

static void test_callback_fails(void **state)
{
    (void)state;
    char out[PATHLEN];
    tpath(out, "callback.png");
    Scene s;
    scene_init(&s);
    /* The callback's own message is kept; the partial file is removed. */
    s.fail_at_row = 21;
    s.fail_sets_err = 1;
    overlay_fails(&s, 20, NULL, out, SEGAUDIT_EINPUT, "scene: row 21", NULL);
    assert_int_equal(s.ncalls, 8);
    /* Without a message, one naming the overlay and the rows. */
    s.fail_sets_err = 0;
    overlay_fails(&s, 20, NULL, out, SEGAUDIT_EINPUT, out, "21..23");
    scene_free(&s);
}

static void test_invalid_spec(void **state)
{
    (void)state;
    char out[PATHLEN];
    SaErr err;
    tpath(out, "invalid.png");
    Scene s;
    scene_init(&s);
    SaOverlaySpec spec = scene_spec(&s, 0, NULL);
    sa_err_clear(&err);
    assert_int_equal(sa_overlay_write(&spec, scene_rows, &s, out, &err),
                     SEGAUDIT_EINVAL);
    assert_non_null(strstr(err.msg, out));
    spec = scene_spec(&s, 1024, NULL);
    spec.K = 0;
    sa_err_clear(&err);
    assert_int_equal(sa_overlay_write(&spec, scene_rows, &s, out, &err),
                     SEGAUDIT_EINVAL);
    spec = scene_spec(&s, 1024, NULL);
    spec.palette = NULL;
    sa_err_clear(&err);
    assert_int_equal(sa_overlay_write(&spec, scene_rows, &s, out, &err),
                     SEGAUDIT_EINVAL);
    spec = scene_spec(&s, 1024, NULL);
    sa_err_clear(&err);
    assert_int_equal(sa_overlay_write(&spec, NULL, &s, out, &err),
                     SEGAUDIT_EINVAL);
    assert_false(file_exists(out));
    assert_int_equal(s.ncalls, 0);
    scene_free(&s);
}

/* ---- Fixture ----------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    return tmpdir_create("test_overlay");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preset_cityscapes),
        cmocka_unit_test(test_preset_voc),
        cmocka_unit_test(test_preset_ade20k),
        cmocka_unit_test(test_preset_unknown),
        cmocka_unit_test(test_palette_distinct),
        cmocka_unit_test(test_palette_prefix_and_separation),
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_decorated),
        cmocka_unit_test(test_decorated_many_colours),
        cmocka_unit_test(test_full_scale),
        cmocka_unit_test(test_scaled),
        cmocka_unit_test(test_thick_frames_and_edges),
        cmocka_unit_test(test_photo_full_scale),
        cmocka_unit_test(test_photo_scaled),
        cmocka_unit_test(test_photo_colour_types),
        cmocka_unit_test(test_photo_wrong_size),
        cmocka_unit_test(test_photo_bad_files),
        cmocka_unit_test(test_unwritable_output),
        cmocka_unit_test(test_callback_fails),
        cmocka_unit_test(test_invalid_spec),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
