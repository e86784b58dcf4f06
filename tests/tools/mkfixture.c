/* mkfixture: writes a small semantic-segmentation dataset (DIR/labels/<id>.png
 * and DIR/probs.h5) for the tests and the demo, optionally with exactly one
 * injected defect per defect switch.  Uses HDF5 and libpng directly, no
 * project code.  Deterministic for a given seed.  Run without arguments for
 * the usage. */
#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *USAGE =
    "usage: mkfixture --out DIR [--images N] [--size HxW] [--classes K]\n"
    "         [--dtype f16|f32|f64] [--chunked] [--gzip] [--ids vlen|fixed|none]\n"
    "         [--labels gray8|gray16|palette] [--seed S] [--scenes]\n"
    "       defects (each injects exactly one; IMG is an image index):\n"
    "         --nan-at IMG  --negative-at IMG  --label-value V --label-at IMG\n"
    "         --scale-at IMG (probabilities of that image times 1.5)\n"
    "         --rank3  --int-dtype  --extra-id  --missing-label IMG\n"
    "         --text-label IMG  --truncate-label IMG  --rgb-label IMG\n"
    "         --wrong-size-label IMG  --no-probs-dataset\n"
    "defaults: --images 3 --size 16x16 --classes 5 (19 with --scenes)\n"
    "          --dtype f32 --ids vlen --labels gray8 --seed 1\n"
    "Writes DIR/labels/img_000.png ... and DIR/probs.h5 (/pred_probs of shape\n"
    "(N,K,H,W), /image_ids); prints the injected annotation errors.\n";

static void die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mkfixture: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (code == 2) fputs(USAGE, stderr);
    exit(code);
}

/* ---- RNG: splitmix64 ---- */
typedef struct { uint64_t s; } Rng;
static uint64_t rng_next(Rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_u(Rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
static int rng_int(Rng *r, int n) { return n <= 1 ? 0 : (int)(rng_u(r) * n); }
static double rng_gauss(Rng *r) {
    double u1 = 1.0 - rng_u(r), u2 = rng_u(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- options ---- */
typedef struct {
    const char *out;
    int n, h, w, k, dtype, chunked, gzip, ids, lfmt, scenes;
    uint64_t seed;
    int nan_at, neg_at, lval, lval_at, missing, text, trunc, rgb, wrong_size;
    int scale_at;
    int rank3, int_dtype, extra_id, no_probs;
} Opt;
enum { IDS_VLEN, IDS_FIXED, IDS_NONE };
enum { L_GRAY8, L_GRAY16, L_PALETTE };

static long parse_long(const char *opt, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die(2, "%s: expected an integer in [%ld, %ld], got '%s'", opt, lo, hi, s);
    return v;
}

static int pick(const char *opt, const char *v, const char *const names[3]) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(v, names[i])) return i;
    die(2, "%s: expected %s, %s or %s, got '%s'", opt, names[0], names[1], names[2], v);
    return -1;
}

static void parse_args(int argc, char **argv, Opt *o) {
    memset(o, 0, sizeof *o);
    o->n = 3; o->h = 16; o->w = 16; o->k = -1; o->dtype = 4; o->seed = 1;
    o->nan_at = o->neg_at = o->lval = o->lval_at = o->missing = o->text = -1;
    o->scale_at = -1;
    o->trunc = o->rgb = o->wrong_size = -1;
    if (argc < 2) die(2, "missing arguments");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define FLAG(name, field) if (!strcmp(a, name)) { o->field = 1; continue; }
#define VAL(name) (!strcmp(a, name) && (v ? (i++, 1) : (die(2, "%s needs a value", name), 0)))
#define IMG(name, field) if (VAL(name)) { o->field = (int)parse_long(name, v, 0, 1000000); continue; }
        FLAG("--chunked", chunked) FLAG("--gzip", gzip) FLAG("--scenes", scenes)
        FLAG("--rank3", rank3) FLAG("--int-dtype", int_dtype)
        FLAG("--extra-id", extra_id) FLAG("--no-probs-dataset", no_probs)
        IMG("--nan-at", nan_at) IMG("--negative-at", neg_at) IMG("--label-at", lval_at)
        IMG("--scale-at", scale_at)
        IMG("--missing-label", missing) IMG("--text-label", text)
        IMG("--truncate-label", trunc) IMG("--rgb-label", rgb)
        IMG("--wrong-size-label", wrong_size)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); exit(0); }
        if (VAL("--out")) { o->out = v; continue; }
        if (VAL("--images")) { o->n = (int)parse_long(a, v, 1, 100000); continue; }
        if (VAL("--classes")) { o->k = (int)parse_long(a, v, 1, 65535); continue; }
        if (VAL("--seed")) { o->seed = (uint64_t)parse_long(a, v, 0, 0x7fffffffffffffffL); continue; }
        if (VAL("--label-value")) { o->lval = (int)parse_long(a, v, 0, 65535); continue; }
        if (VAL("--size")) {
            char *end;
            long h = strtol(v, &end, 10), w = 0;
            if (end != v && (*end == 'x' || *end == 'X')) {
                char *p = end + 1;
                w = strtol(p, &end, 10);
                if (end == p) w = 0;
            }
            if (*end || h < 1 || w < 1 || h > 16384 || w > 16384)
                die(2, "--size: expected HxW (e.g. 64x128), got '%s'", v);
            o->h = (int)h; o->w = (int)w;
            continue;
        }
        static const char *const DT[] = { "f16", "f32", "f64" }, *const ID[] = { "vlen", "fixed", "none" },
                                 *const LF[] = { "gray8", "gray16", "palette" };
        if (VAL("--dtype")) { o->dtype = 2 << pick(a, v, DT); continue; } /* element size */
        if (VAL("--ids")) { o->ids = pick(a, v, ID); continue; }
        if (VAL("--labels")) { o->lfmt = pick(a, v, LF); continue; }
        die(2, "unknown option '%s'", a);
    }
    if (!o->out) die(2, "--out DIR is required");
    if (strlen(o->out) > 4000) die(2, "--out: path too long");
    if (o->k < 0) o->k = o->scenes ? 19 : 5;
    if (o->k > 256 && o->lfmt != L_GRAY16) die(2, "--classes > 256 needs --labels gray16");
    if (o->gzip) o->chunked = 1;
    if ((o->lval >= 0) != (o->lval_at >= 0)) die(2, "--label-value and --label-at go together");
    if (o->lval >= 0 && (o->h < 4 || o->w < 8)) die(2, "--label-value needs --size of at least 4x8");
    if (o->lval > 255 && o->lfmt != L_GRAY16) die(2, "--label-value > 255 needs --labels gray16");
    if (o->neg_at >= 0 && o->k < 3) die(2, "--negative-at needs --classes >= 3");
    if (o->ids == IDS_NONE && o->extra_id) die(2, "--extra-id needs image ids");
    const int at[] = { o->nan_at, o->neg_at, o->lval_at, o->missing, o->text, o->trunc,
                       o->rgb, o->wrong_size, o->scale_at };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
        if (at[i] >= o->n) die(2, "image index %d out of range (--images %d)", at[i], o->n);
}

/* ---- data generation ---- */
static void fill(int *m, int h, int w, int y0, int y1, int x0, int x1, int c) {
    if (y0 < 0) y0 = 0;
    if (x0 < 0) x0 = 0;
    if (y1 > h) y1 = h;
    if (x1 > w) x1 = w;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) m[(size_t)y * w + x] = c;
}

/* Relabels pixels of class `from` inside a box to `to`; returns the count. */
static int relabel(int *g, const int *t, int w, const int box[4], int from, int to) {
    int n = 0;
    for (int y = box[0]; y < box[1]; y++)
        for (int x = box[2]; x < box[3]; x++)
            if (t[(size_t)y * w + x] == from) { g[(size_t)y * w + x] = to; n++; }
    return n;
}

/* Smooth noise: bilinear interpolation of a coarse Gaussian grid. */
static void smooth_field(Rng *r, double *f, int h, int w, int cell, double amp) {
    int gh = h / cell + 2, gw = w / cell + 2;
    double *g = malloc(sizeof *g * (size_t)gh * gw);
    if (!g) die(1, "out of memory");
    for (int i = 0; i < gh * gw; i++) g[i] = amp * rng_gauss(r);
    for (int y = 0; y < h; y++) {
        double fy = (double)y / cell, ty = fy - floor(fy);
        int iy = (int)fy;
        for (int x = 0; x < w; x++) {
            double fx = (double)x / cell, tx = fx - floor(fx);
            int ix = (int)fx;
            const double *a = g + (size_t)iy * gw + ix, *b = a + gw;
            f[(size_t)y * w + x] = (1 - ty) * ((1 - tx) * a[0] + tx * a[1]) +
                                   ty * ((1 - tx) * b[0] + tx * b[1]);
        }
    }
    free(g);
}

/* Cityscapes-style classes for --scenes. */
enum { ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEG, TERRAIN, SKY,
       PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTO, BIKE, NSCENE };
static const int CONFUSE[NSCENE] = { SIDEWALK, ROAD, WALL, BUILDING, WALL, SIGN, SIGN,
    POLE, TERRAIN, VEG, BUILDING, RIDER, PERSON, TRUCK, CAR, TRUCK, BUS, BIKE, MOTO };
static const unsigned char CITY_RGB[NSCENE][3] = {
    {128,64,128},{244,35,232},{70,70,70},{102,102,156},{190,153,153},{153,153,153},
    {250,170,30},{220,220,0},{107,142,35},{152,251,152},{70,130,180},{220,20,60},
    {255,0,0},{0,0,142},{0,0,70},{0,60,100},{0,80,100},{0,0,230},{119,11,32} };

static void note(int img, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("img_%03d: ", img);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

/* Street-like scene: t = true classes, g = given (annotated) classes, both in
 * scene class ids.  Injects annotation errors into g for some images and
 * returns in *hard a box (or y0 = -1) where the model is unsure. */
static void gen_scene(Rng *r, int img, int h, int w, int *t, int *g, int hard[4]) {
    int hz = (int)(h * (0.33 + 0.08 * rng_u(r)));
    int sw_end = hz + (int)fmax(1.0, h * 0.12);
    fill(t, h, w, 0, hz, 0, w, SKY);
    int bbox[4] = { -1, 0, 0, 0 };
    for (int x = 0; x < w;) {
        int sw = w / 8 + rng_int(r, w / 5 + 1) + 1;
        int top = (int)(h * (0.05 + 0.22 * rng_u(r)));
        double u = rng_u(r);
        int c = u < 0.2 ? VEG : u < 0.3 ? WALL : BUILDING;
        fill(t, h, w, c == WALL ? hz - (int)(h * 0.1) - 1 : top, hz, x, x + sw, c);
        if (c == BUILDING && (bbox[0] < 0 || sw > bbox[3] - bbox[2]))
            bbox[0] = top + (hz - top) / 3, bbox[1] = hz, bbox[2] = x, bbox[3] = x + sw;
        x += sw;
    }
    fill(t, h, w, hz, sw_end, 0, w, SIDEWALK);
    fill(t, h, w, sw_end, h, 0, w, ROAD);
    for (int i = 1 + rng_int(r, 2); i > 0; i--) {
        int x = rng_int(r, w), ptop = hz - (int)(h * 0.22), s = (int)fmax(1.0, w / 60.0);
        fill(t, h, w, ptop, sw_end, x, x + s, POLE);
        fill(t, h, w, ptop - (int)(h * 0.06) - 1, ptop + 1, x - 2 * s, x + 3 * s, SIGN);
    }
    int pbox[4] = { -1, 0, 0, 0 }, cbox[4] = { -1, 0, 0, 0 };
    for (int i = 1 + rng_int(r, 2); i > 0; i--) {
        int pw = (int)fmax(2.0, w * 0.035), ph = (int)fmax(3.0, h * 0.18);
        int x0 = rng_int(r, w - pw), y1 = sw_end - rng_int(r, sw_end - hz);
        fill(t, h, w, y1 - ph, y1, x0, x0 + pw, PERSON);
        if (pbox[0] < 0) pbox[0] = y1 - ph, pbox[1] = y1, pbox[2] = x0, pbox[3] = x0 + pw;
    }
    if (rng_u(r) < 0.5) { /* a cyclist on the road */
        int bw = (int)fmax(3.0, w * 0.05), bh = (int)fmax(2.0, h * 0.07), x0 = rng_int(r, w - bw);
        int y1 = h - rng_int(r, (h - sw_end) / 2 + 1);
        fill(t, h, w, y1 - bh, y1, x0, x0 + bw, BIKE);
        fill(t, h, w, y1 - bh - (int)fmax(2.0, h * 0.1), y1 - bh / 2, x0 + bw / 4, x0 + bw - bw / 4, RIDER);
    }
    int ncar = 1 + rng_int(r, 3);
    for (int i = 0; i < ncar; i++) {
        int truck = i > 0 && rng_u(r) < 0.3;
        int cw = (int)fmax(3.0, w * (0.12 + 0.08 * rng_u(r)) * (truck ? 1.4 : 1.0));
        int ch = (int)fmax(2.0, h * (0.10 + 0.05 * rng_u(r)) * (truck ? 1.5 : 1.0));
        int y1 = sw_end + ch + (int)((h - sw_end - ch) * rng_u(r));
        int x0 = rng_int(r, w - cw);
        /* the last car is drawn on top, so it is the one that can be mislabeled */
        fill(t, h, w, y1 - ch, y1, x0, x0 + cw, truck ? TRUCK : CAR);
        if (!truck) cbox[0] = y1 - ch, cbox[1] = y1, cbox[2] = x0, cbox[3] = x0 + cw;
    }
    if (cbox[1] > h) cbox[1] = h;
    memcpy(g, t, sizeof *g * (size_t)h * w);
    int n;
    if (img % 3 == 1 && cbox[0] >= 0 && (n = relabel(g, t, w, cbox, CAR, ROAD)))
        note(img, "a car left labeled as road (rows %d-%d, cols %d-%d, %d px)",
             cbox[0], cbox[1] - 1, cbox[2], cbox[3] - 1, n);
    if (img % 4 == 2 && bbox[0] >= 0 && (n = relabel(g, t, w, bbox, BUILDING, WALL)))
        note(img, "building labeled as wall (rows %d-%d, cols %d-%d, %d px)",
             bbox[0], bbox[1] - 1, bbox[2], bbox[3] - 1, n);
    if (img % 6 == 5 && pbox[0] >= 0 && (n = relabel(g, t, w, pbox, PERSON, RIDER)))
        note(img, "a person labeled as rider (rows %d-%d, cols %d-%d, %d px)",
             pbox[0], pbox[1] - 1, pbox[2], pbox[3] - 1, n);
    hard[0] = -1;
    if (img % 5 == 3) {
        hard[0] = h / 2, hard[1] = h / 2 + h / 6 + 1, hard[2] = w / 3, hard[3] = w / 3 + w / 6 + 1;
        note(img, "model unsure in rows %d-%d, cols %d-%d (labels correct there)",
             hard[0], hard[1] - 1, hard[2], hard[3] - 1);
    }
}

/* Random labels (rectangles on a background) with a wrong-model region in
 * odd images; t = the class the model believes, g = the label. */
static void gen_random(Rng *r, int img, int h, int w, int k, int *t, int *g) {
    fill(g, h, w, 0, h, 0, w, rng_int(r, k));
    for (int i = 2 + rng_int(r, 5); i > 0; i--) {
        int y0 = rng_int(r, h), x0 = rng_int(r, w);
        fill(g, h, w, y0, y0 + 1 + rng_int(r, h / 2 + 1), x0, x0 + 1 + rng_int(r, w / 2 + 1),
             rng_int(r, k));
    }
    memcpy(t, g, sizeof *g * (size_t)h * w);
    if (img % 2 == 1 && k >= 2) {
        int y0 = h / 4, y1 = y0 + (h + 2) / 3, x0 = w / 4, x1 = x0 + (w + 2) / 3;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++) t[(size_t)y * w + x] = (g[(size_t)y * w + x] + 1) % k;
        note(img, "model disagrees with the label in rows %d-%d, cols %d-%d", y0, y1 - 1, x0, x1 - 1);
    }
}

/* p[c*hw + i] holds logits on entry, probabilities (summing to 1) on exit. */
static void softmax(double *p, int k, size_t hw) {
    for (size_t i = 0; i < hw; i++) {
        double m = -INFINITY, s = 0;
        for (int c = 0; c < k; c++) m = fmax(m, p[c * hw + i]);
        for (int c = 0; c < k; c++) s += (p[c * hw + i] = exp(p[c * hw + i] - m));
        for (int c = 0; c < k; c++) p[c * hw + i] /= s;
    }
}

/* IEEE binary16, round to nearest even. */
static uint16_t to_half(double d) {
    uint16_t sign = signbit(d) ? 0x8000 : 0;
    if (isnan(d)) return 0x7e00;
    d = fabs(d);
    if (d >= 65520.0) return sign | 0x7c00;
    int e;
    double m = frexp(d, &e); /* d = m * 2^e, m in [0.5, 1) */
    if (d == 0 || e - 1 < -14) return sign | (uint16_t)nearbyint(d * 0x1p24);
    double n = nearbyint(ldexp(m, 11)); /* in [1024, 2048] */
    if (n == 2048) { n = 1024; e++; }
    if (e - 1 > 15) return sign | 0x7c00;
    return sign | (uint16_t)((e - 1 + 15) << 10) | (uint16_t)((int)n - 1024);
}

/* ---- PNG ---- */
static void color_of(int c, unsigned char rgb[3]) {
    if (c < NSCENE) { memcpy(rgb, CITY_RGB[c], 3); return; }
    uint32_t x = (uint32_t)c * 2654435761u;
    rgb[0] = (unsigned char)(x >> 8), rgb[1] = (unsigned char)(x >> 16), rgb[2] = (unsigned char)(x >> 24);
}

/* fmt: L_GRAY8, L_GRAY16, L_PALETTE or 3 (RGB). */
static void write_png(const char *path, const int *lab, int h, int w, int fmt, int npal) {
    FILE *f = fopen(path, "wb");
    if (!f) die(1, "cannot create %s: %s", path, strerror(errno));
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    int bpp = fmt == L_GRAY16 ? 2 : fmt == 3 ? 3 : 1;
    unsigned char *row = malloc((size_t)w * bpp);
    if (!info || !row) die(1, "out of memory");
    if (setjmp(png_jmpbuf(p))) die(1, "libpng failed writing %s", path);
    png_init_io(p, f);
    int ct = fmt == L_PALETTE ? PNG_COLOR_TYPE_PALETTE : fmt == 3 ? PNG_COLOR_TYPE_RGB
                                                                 : PNG_COLOR_TYPE_GRAY;
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, fmt == L_GRAY16 ? 16 : 8, ct,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (fmt == L_PALETTE) {
        png_color pal[256];
        for (int c = 0; c < npal; c++) {
            unsigned char rgb[3];
            color_of(c, rgb);
            pal[c].red = rgb[0], pal[c].green = rgb[1], pal[c].blue = rgb[2];
        }
        png_set_PLTE(p, info, pal, npal);
    }
    png_write_info(p, info);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int v = lab[(size_t)y * w + x];
            if (bpp == 2) row[2 * x] = (unsigned char)(v >> 8), row[2 * x + 1] = (unsigned char)v;
            else if (bpp == 3) color_of(v, row + 3 * x);
            else row[x] = (unsigned char)v;
        }
        png_write_row(p, row);
    }
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    free(row);
    if (fclose(f)) die(1, "cannot write %s: %s", path, strerror(errno));
}

static void write_label(const Opt *o, int i, const char *dir, int *lab) {
    char path[4200];
    snprintf(path, sizeof path, "%s/img_%03d.png", dir, i);
    if (i == o->missing) return;
    if (i == o->text) {
        FILE *f = fopen(path, "w");
        if (!f || fputs("this label file is plain text, not a PNG\n", f) < 0 || fclose(f))
            die(1, "cannot write %s", path);
        return;
    }
    int maxv = 0;
    for (size_t j = 0; j < (size_t)o->h * o->w; j++) maxv = lab[j] > maxv ? lab[j] : maxv;
    int npal = maxv + 1 > o->k ? maxv + 1 : o->k;
    if (i == o->wrong_size) { /* one extra row: (H+1) x W */
        int *big = malloc(sizeof *big * (size_t)(o->h + 1) * o->w);
        if (!big) die(1, "out of memory");
        memcpy(big, lab, sizeof *big * (size_t)o->h * o->w);
        memcpy(big + (size_t)o->h * o->w, lab + (size_t)(o->h - 1) * o->w, sizeof *big * (size_t)o->w);
        write_png(path, big, o->h + 1, o->w, o->lfmt, npal);
        free(big);
    } else {
        write_png(path, lab, o->h, o->w, i == o->rgb ? 3 : o->lfmt, npal);
    }
    if (i == o->trunc) {
        struct stat st;
        if (stat(path, &st) || truncate(path, st.st_size / 2)) die(1, "cannot truncate %s", path);
    }
}

/* ---- HDF5 ---- */
static void h5check(herr_t rc, const char *what, const char *path) {
    if (rc < 0) die(1, "HDF5 error (%s) in %s", what, path);
}

static hid_t half_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE); /* h5py's float16: fields, then size */
    if (t < 0 || H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 ||
        H5Tset_precision(t, 16) < 0 || H5Tset_ebias(t, 15) < 0)
        die(1, "cannot build the float16 HDF5 type");
    return t;
}

static void write_ids(const Opt *o, hid_t f, const char *path) {
    int n = o->n + (o->extra_id ? 1 : 0);
    hsize_t dim = (hsize_t)n;
    char *buf = calloc((size_t)n, 32);
    char **ptr = calloc((size_t)n, sizeof *ptr);
    if (!buf || !ptr) die(1, "out of memory");
    for (int i = 0; i < n; i++) snprintf(buf + 32 * i, 32, "img_%03d", i), ptr[i] = buf + 32 * i;
    hid_t st = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &dim, NULL);
    if (o->ids == IDS_VLEN) {
        h5check(H5Tset_size(st, H5T_VARIABLE), "string type", path);
        h5check(H5Tset_cset(st, H5T_CSET_UTF8), "string type", path);
    } else {
        h5check(H5Tset_size(st, 32), "string type", path);
        h5check(H5Tset_strpad(st, H5T_STR_NULLPAD), "string type", path);
    }
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    h5check(H5Pset_obj_track_times(dcpl, 0), "dcpl", path);
    hid_t d = H5Dcreate2(f, "image_ids", st, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) die(1, "HDF5 error creating /image_ids in %s", path);
    h5check(H5Dwrite(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     o->ids == IDS_VLEN ? (const void *)ptr : (const void *)buf), "write ids", path);
    H5Dclose(d), H5Sclose(sp), H5Tclose(st), H5Pclose(dcpl);
    free(buf), free(ptr);
}

int main(int argc, char **argv) {
    Opt o;
    parse_args(argc, argv, &o);
    const int n = o.n, h = o.h, w = o.w, k = o.k;
    const size_t hw = (size_t)h * w;
    char dir[4096], path[4096];
    snprintf(dir, sizeof dir, "%s/labels", o.out);
    snprintf(path, sizeof path, "%s/probs.h5", o.out);
    for (char *s = dir + 1; *s; s++) /* mkdir -p DIR/labels */
        if (*s == '/' && s[-1] != '/') {
            *s = 0;
            if (mkdir(dir, 0777) && errno != EEXIST) die(1, "cannot create %s: %s", dir, strerror(errno));
            *s = '/';
        }
    if (mkdir(dir, 0777) && errno != EEXIST) die(1, "cannot create %s: %s", dir, strerror(errno));
    DIR *dp = opendir(dir);
    if (!dp) die(1, "cannot open %s: %s", dir, strerror(errno));
    for (struct dirent *e; (e = readdir(dp));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            die(1, "%s is not empty; remove it first", dir);
    closedir(dp);

    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) die(1, "cannot create %s", path);
    int rank = o.rank3 ? 3 : 4;
    hsize_t dims[4] = { (hsize_t)n, (hsize_t)k, (hsize_t)h, (hsize_t)w };
    hsize_t chunk[4] = { 1, 1, (hsize_t)(h < 64 ? h : 64), (hsize_t)(w < 64 ? w : 64) };
    if (o.rank3) dims[2] = hw, chunk[2] = hw < 4096 ? hw : 4096;
    hid_t ftype = o.int_dtype ? H5Tcopy(H5T_STD_I32LE) : o.dtype == 2 ? half_type()
                : H5Tcopy(o.dtype == 4 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE);
    hid_t mtype = o.int_dtype ? H5Tcopy(H5T_NATIVE_INT32) : o.dtype == 2 ? H5Tcopy(ftype)
                : H5Tcopy(o.dtype == 4 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    h5check(H5Pset_obj_track_times(dcpl, 0), "dcpl", path); /* byte-identical reruns */
    if (o.chunked) h5check(H5Pset_chunk(dcpl, rank, chunk), "chunk", path);
    if (o.gzip) {
        h5check(H5Pset_shuffle(dcpl), "shuffle", path);
        h5check(H5Pset_deflate(dcpl, 6), "deflate", path);
    }
    hid_t fsp = H5Screate_simple(rank, dims, NULL);
    hid_t ds = H5Dcreate2(f, o.no_probs ? "other" : "pred_probs", ftype, fsp, H5P_DEFAULT, dcpl,
                          H5P_DEFAULT);
    if (ds < 0) die(1, "HDF5 error creating the probabilities dataset in %s", path);

    int *t = malloc(sizeof *t * hw), *g = malloc(sizeof *g * hw);
    double *p = malloc(sizeof *p * hw * k), *pk = malloc(sizeof *pk * hw);
    void *store = malloc(hw * k * (o.dtype > 4 ? 8 : 4));
    if (!t || !g || !p || !pk || !store) die(1, "out of memory");
    for (int i = 0; i < n; i++) {
        Rng r = { o.seed * 0x2545F4914F6CDD1Dull ^ ((uint64_t)(i + 1) << 32) };
        rng_next(&r);
        if (o.scenes) {
            int hard[4] = { -1, 0, 0, 0 };
            gen_scene(&r, i, h, w, t, g, hard);
            for (int c = 0; c < k; c++) smooth_field(&r, p + c * hw, h, w, 12, 0.8);
            smooth_field(&r, pk, h, w, 16, 1.0);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    size_t j = (size_t)y * w + x;
                    int tc = t[j], kt = tc % k, kc = CONFUSE[tc] % k;
                    double peak = 18.0 + 1.5 * pk[j];
                    if (hard[0] >= 0 && y >= hard[0] && y < hard[1] && x >= hard[2] && x < hard[3])
                        peak -= 5.0;
                    const int nb[4][2] = { { y - 1, x }, { y + 1, x }, { y, x - 1 }, { y, x + 1 } };
                    for (int q = 0; q < 4; q++) {
                        int yy = nb[q][0], xx = nb[q][1];
                        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                        int u = t[(size_t)yy * w + xx];
                        if (u % k != kt) { /* boundary: the neighbour class gets ~e^-1 */
                            peak -= 3.0;
                            p[(u % k) * hw + j] += u % k == kc ? 1.0 : 14.0;
                            break;
                        }
                    }
                    p[kt * hw + j] += peak;
                    if (kc != kt) p[kc * hw + j] += 13.0;
                }
            for (size_t j = 0; j < hw; j++) g[j] %= k;
        } else {
            gen_random(&r, i, h, w, k, t, g);
            for (size_t j = 0; j < hw * k; j++) p[j] = 0.8 * rng_gauss(&r);
            for (size_t j = 0; j < hw; j++) p[t[j] * hw + j] += 3.5 + 0.5 * rng_gauss(&r);
        }
        softmax(p, k, hw);
        /* defects */
        size_t at = (size_t)(k > 1 ? 1 : 0) * hw + (size_t)(h > 2 ? 2 : h - 1) * w + (w > 3 ? 3 : w - 1);
        if (i == o.nan_at) p[at] = NAN;
        if (i == o.neg_at) { /* top class -> -0.01, others share its mass: sum 1, others <= 1 */
            size_t px = at % hw, top = px;
            for (int c = 1; c < k; c++) top = p[c * hw + px] > p[top] ? c * hw + px : top;
            double give = (p[top] + 0.01) / (k - 1);
            for (int c = 0; c < k; c++) p[c * hw + px] += give;
            p[top] = -0.01;
        }
        if (i == o.lval_at) g[3 * (size_t)w + 7] = o.lval;
        if (i == o.scale_at)
            for (size_t j = 0; j < hw * k; j++) p[j] *= 1.5;
        write_label(&o, i, dir, g);
        size_t m = hw * k;
        if (o.int_dtype) for (size_t j = 0; j < m; j++) ((int32_t *)store)[j] = (int32_t)lround(p[j] * 1000);
        else if (o.dtype == 2) for (size_t j = 0; j < m; j++) ((uint16_t *)store)[j] = to_half(p[j]);
        else if (o.dtype == 4) for (size_t j = 0; j < m; j++) ((float *)store)[j] = (float)p[j];
        else memcpy(store, p, m * sizeof *p);
        hsize_t start[4] = { (hsize_t)i, 0, 0, 0 }, count[4];
        memcpy(count, dims, sizeof count);
        count[0] = 1;
        hsize_t mdim = (hsize_t)m;
        hid_t msp = H5Screate_simple(1, &mdim, NULL);
        h5check(H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL), "select", path);
        h5check(H5Dwrite(ds, mtype, msp, fsp, H5P_DEFAULT, store), "write probabilities", path);
        H5Sclose(msp);
    }
    if (o.ids != IDS_NONE) write_ids(&o, f, path);
    H5Dclose(ds), H5Sclose(fsp), H5Pclose(dcpl), H5Tclose(ftype), H5Tclose(mtype);
    if (H5Fclose(f) < 0) die(1, "HDF5 error closing %s", path);
    free(t), free(g), free(p), free(pk), free(store);
    printf("wrote %s: %d images %dx%d, %d classes%s\n", o.out, n, h, w, k,
           o.scenes ? " (scenes)" : "");
    return 0;
}
