/* The oracle test: random small datasets written here (HDF5 + label PNGs),
 * audited by the engine through the public API, and compared with a naive
 * in-memory implementation of ../shared/SPEC.md written below (the oracle):
 * every pixel in arrays, one qsort of all valid pixels (blocks), nothing
 * streamed, nothing spilled.
 *
 * Scenarios: normalised float32/float64 (also many small images), float16
 * (tied scores: the stable tie order decides at the cut-off), ignored labels
 * (an all-void image, an ignored value inside the class range),
 * unnormalised probabilities (the engine's second read, spills, s >= 1,
 * near-zero outputs where the floor 2e-6 of t_k decides), downsampling f = 2
 * and 4 (mean and mode labels, ignored pixels inside blocks, all-void
 * blocks), logits.  Some datasets get p̂ values planted within 2e-6 of
 * t_a - eps so that eps decides.  Every dataset is audited three times:
 * 1 thread with the defaults, then 2 and 3 threads with the smallest memory
 * limit and tiny bands; every run must match the oracle (counts, pairs,
 * masks read back from PNG), and the later runs must equal the first bit
 * for bit.  Coverage counters make sure the interesting cases did occur.
 *
 * Tolerances: integers (n_issues, issue pixels, pairs, masks, class counts)
 * exactly; softmin and thresholds relative 1e-12.  A dataset whose outcome
 * depends on a value within 1e-12 of a decision boundary (p̂ vs t - eps, or
 * a computed score next to the cut-off) is redrawn with another seed.
 *
 * To reproduce one dataset: ORACLE_ONLY=<scenario>:<seed> (as printed in a
 * failure message); ORACLE_KEEP=1 keeps the files under /tmp. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "io/png_io.h"
#include "segaudit/segaudit.h"

#define EPS 1e-6
#define TMIN 2e-6
#define RTOL 1e-12

/* SegauditClassResult.labeled_pixels with f > 1: README.md ("Choices where
 * the specification is silent") says full-resolution pixels, which the
 * engine does; the comment in include/segaudit/audit.h says "pixels (blocks
 * with f > 1)".  0: full-resolution pixels (README); 1: blocks (the header
 * comment).  With f == 1 both are the same. */
#define LABELED_PIXELS_ARE_BLOCKS 0

static char root[] = "/tmp/test_oracle_XXXXXX";

/* ---- coverage counters (checked at the end of the scenarios) ------------ */

static struct {
    unsigned datasets, runs, redraws;
    unsigned second_reads, spills, cut_ties, all_void_images, void_blocks;
    unsigned cached_second_reads;
    unsigned ignored_mean_blocks;
    unsigned argmax_ties, n_issues_zero, mode_ties, clamped, clamp_decides;
    unsigned eps_planted, eps_decides;
} cov;

/* ---- random numbers (splitmix64) ---------------------------------------- */

typedef struct Rng {
    uint64_t s;
} Rng;

static uint64_t rng_next(Rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(Rng *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }

static uint32_t rng_below(Rng *r, uint32_t n)
{
    return (uint32_t)(rng_unit(r) * n);
}

static int rng_chance(Rng *r, double p) { return rng_unit(r) < p; }

/* ---- IEEE half, independent of the library's decoder -------------------- */

/* Nearest half (ties to even) of x >= 0, finite, < 65520. */
static uint16_t half_from_double(double x)
{
    if (x == 0)
        return 0;
    if (x < 0x1p-14) {
        /* subnormal: a multiple of 2^-24; 1024 carries to the least normal */
        return (uint16_t)nearbyint(x * 0x1p24);
    }
    int e;
    frexp(x, &e);         /* x = m 2^e, m in [0.5, 1) */
    int E = e - 1;        /* x = 1.f 2^E */
    double q = nearbyint(ldexp(x, 10 - E)); /* [1024, 2048] */
    if (q == 2048) {
        q = 1024;
        E++;
    }
    assert_true(E + 15 < 31);
    return (uint16_t)(((E + 15) << 10) | ((int)q - 1024));
}

static double half_to_double(uint16_t h)
{
    int ex = (h >> 10) & 0x1f, man = h & 0x3ff;
    double v = ex == 0 ? ldexp(man, -24) : ldexp(1024 + man, ex - 25);
    return (h & 0x8000) ? -v : v;
}

/* ---- datasets ----------------------------------------------------------- */

enum ProbKind {
    PK_NORMAL,   /* normalised: Dirichlet-like or peaked */
    PK_UNIFORM,  /* independent uniform [0,1] per class */
    PK_SIGMOID,  /* several classes near 1 (independent sigmoids) */
    PK_SCALED,   /* uncalibrated, values up to 1.6 (s >= 1 occurs) */
    PK_LOGITS    /* stored values are logits */
};

/* What a scenario asks for; the seed draws the rest. */
typedef struct Spec {
    const char *name;
    int dtype;       /* 16, 32, 64; 0: 32 or 64; -1: 16, 32 or 64 */
    int kind;        /* enum ProbKind; -1: uniform, sigmoid or scaled */
    int ignore;      /* 1: ignored labels (255 and a second value) */
    int f;           /* downsample factor; 0: 2 or 4 */
    int ds_mode;     /* SEGAUDIT_DS_LABELS_*; -1: either */
    int big;         /* 1: a larger dataset (records spill past 64 KiB);
                        2: many small images */
} Spec;

typedef struct Dataset {
    char ctx[160];          /* "scenario seed=..." for messages */
    uint32_t N, K, H, W, f;
    int dtype, logits, ds_mode, rank_by;
    double T;
    int n_ignore, ignore[2];
    double *stored;         /* N*K*H*W values as stored (decoded) */
    uint16_t *half;         /* raw bits when dtype == 16 */
    uint8_t *lab;           /* N*H*W */
    char (*ids)[32];
    int write_ids, chunked;
    char dir[256];
} Dataset;

static size_t pix(const Dataset *d, size_t n, size_t h, size_t w)
{
    return (n * d->H + h) * d->W + w;
}

static size_t val(const Dataset *d, size_t n, size_t k, size_t h, size_t w)
{
    return ((n * d->K + k) * d->H + h) * d->W + w;
}

static int is_ignored(const Dataset *d, int l)
{
    for (int i = 0; i < d->n_ignore; i++)
        if (d->ignore[i] == l)
            return 1;
    return 0;
}

static void dataset_free(Dataset *d)
{
    free(d->stored);
    free(d->half);
    free(d->lab);
    free(d->ids);
    memset(d, 0, sizeof *d);
}

/* A class map with a background and a few rectangles. */
static void paint_rects(Rng *r, const Dataset *d, uint8_t *map, int nrect,
                        int cls_fixed)
{
    for (int i = 0; i < nrect; i++) {
        uint32_t h0 = rng_below(r, d->H), w0 = rng_below(r, d->W);
        uint32_t hh = 1 + rng_below(r, d->H - h0);
        uint32_t ww = 1 + rng_below(r, d->W - w0);
        uint8_t c = (uint8_t)(cls_fixed >= 0 ? (uint32_t)cls_fixed
                                             : rng_below(r, d->K));
        for (uint32_t h = h0; h < h0 + hh; h++)
            for (uint32_t w = w0; w < w0 + ww; w++)
                map[h * d->W + w] = c;
    }
}

/* Probabilities (before storage) of one pixel whose model class is c. */
static void gen_pixel(Rng *r, const Dataset *d, int kind, int style,
                      double gamma, double boost, uint32_t c, double *p)
{
    uint32_t K = d->K;
    switch (kind) {
    case PK_NORMAL: {
        double sum = 0;
        if (style == 0) { /* Dirichlet-like */
            for (uint32_t k = 0; k < K; k++) {
                p[k] = pow(rng_unit(r), gamma) * (k == c ? boost : 1.0);
                sum += p[k];
            }
        } else if (style == 1) { /* peaked at c */
            double rest = 0;
            for (uint32_t k = 0; k < K; k++) {
                p[k] = k == c ? 0 : rng_unit(r);
                rest += p[k];
            }
            double pc = 0.3 + 0.7 * rng_unit(r);
            for (uint32_t k = 0; k < K; k++)
                p[k] = k == c ? pc : (rest > 0 ? p[k] / rest * (1 - pc) : 0);
            sum = 0;
            for (uint32_t k = 0; k < K; k++)
                sum += p[k];
        }
        if (style == 2) { /* a coarse lattice: many exact ties */
            sum = 0;
            for (uint32_t k = 0; k < K; k++) {
                p[k] = (double)(rng_below(r, 5) +
                                (k == c ? rng_below(r, 4) : 0));
                sum += p[k];
            }
        }
        if (K > 1 && rng_chance(r, 0.04)) { /* an exact argmax tie */
            uint32_t j = (c + 1 + rng_below(r, K - 1)) % K;
            sum += p[c] - p[j];
            p[j] = p[c];
        }
        if (!(sum > 0)) {
            p[c] = 1;
            sum = 1;
        }
        for (uint32_t k = 0; k < K; k++)
            p[k] /= sum;
        break;
    }
    case PK_UNIFORM:
        for (uint32_t k = 0; k < K; k++)
            p[k] = rng_unit(r);
        break;
    case PK_SIGMOID:
        for (uint32_t k = 0; k < K; k++) {
            double u = rng_unit(r);
            p[k] = (k == c || rng_chance(r, 0.5)) ? 1 - 0.3 * u * u
                                                  : 0.2 * u * u * u;
        }
        break;
    case PK_SCALED:
        for (uint32_t k = 0; k < K; k++) {
            double u = rng_unit(r);
            p[k] = 1.6 * u * u * (k == c ? 1.0 : 0.8);
        }
        break;
    case PK_LOGITS:
        for (uint32_t k = 0; k < K; k++)
            p[k] = (rng_unit(r) - 0.5) * 2 * gamma + (k == c ? boost : 0);
        if (K > 1 && rng_chance(r, 0.03)) /* an exact logit tie */
            p[(c + 1) % K] = p[c];
        break;
    }
}

/* Sets one stored value, rounded to the storage type. */
static void set_stored(Dataset *d, size_t i, double v)
{
    if (d->dtype == 32)
        d->stored[i] = (float)v;
    else
        d->stored[i] = v;
}

/* With f == 1 and probabilities (not logits) in float32/64: moves p̂ of
 * some mismatched pixels to just below or above t_a - eps (t_a depends only
 * on the pixels labeled a, so it does not move), so that the eps of the
 * SPEC decides.  Gaps of 0.25e-6 and more: far from rounding. */
static void plant_eps(Dataset *d, Rng *r)
{
    if (d->f != 1 || d->logits || d->dtype == 16)
        return;
    size_t K = d->K, HW = (size_t)d->H * d->W;
    double *sum = calloc(K, sizeof *sum), *t = calloc(K, sizeof *t);
    uint64_t *cnt = calloc(K, sizeof *cnt);
    assert_true(sum && t && cnt);
    for (size_t n = 0; n < d->N; n++)
        for (size_t x = 0; x < HW; x++) {
            int l = d->lab[n * HW + x];
            if (is_ignored(d, l))
                continue;
            sum[l] += d->stored[(n * K + l) * HW + x];
            cnt[l]++;
        }
    for (size_t k = 0; k < K; k++) {
        t[k] = cnt[k] ? sum[k] / cnt[k] : 0;
        t[k] = t[k] > TMIN ? t[k] : TMIN;
    }
    static const double gaps[] = {-0.25e-6, -0.75e-6, -1.25e-6, -2e-6,
                                  0.3e-6};
    for (size_t n = 0; n < d->N; n++)
        for (size_t x = 0; x < HW; x++) {
            int l = d->lab[n * HW + x];
            if (is_ignored(d, l) || !rng_chance(r, 0.15))
                continue;
            const double *v = d->stored + n * K * HW + x;
            size_t a = 0;
            for (size_t k = 1; k < K; k++)
                if (v[k * HW] > v[a * HW])
                    a = k;
            if (a == (size_t)l || cnt[a] == 0)
                continue;
            double target = t[a] + gaps[rng_below(r, 5)];
            double second = 0;
            for (size_t k = 0; k < K; k++)
                if (k != a && v[k * HW] > second)
                    second = v[k * HW];
            if (target > second + 1e-4 && target > 0) {
                set_stored(d, (n * K + a) * HW + x, target);
                cov.eps_planted++;
            }
        }
    free(sum);
    free(t);
    free(cnt);
}

static void gen_dataset(Dataset *d, const Spec *sp, unsigned seed)
{
    Rng r = {(uint64_t)seed * 0x2545f4914f6cdd1dull + 12345};
    for (const char *c = sp->name; *c; c++)
        r.s = r.s * 131 + (unsigned char)*c;
    memset(d, 0, sizeof *d);

    d->f = sp->f ? (uint32_t)sp->f : (rng_chance(&r, 0.5) ? 2u : 4u);
    d->ds_mode = sp->ds_mode >= 0 ? sp->ds_mode : (int)rng_below(&r, 2);
    d->dtype = sp->dtype > 0 ? sp->dtype
               : sp->dtype == 0 ? (rng_chance(&r, 0.5) ? 32 : 64)
                                : (int[]){16, 32, 64}[rng_below(&r, 3)];
    int kind = sp->kind >= 0 ? sp->kind
                             : (int[]){PK_UNIFORM, PK_SIGMOID,
                                       PK_SCALED}[rng_below(&r, 3)];
    d->logits = kind == PK_LOGITS;
    d->K = 2 + rng_below(&r, 6);
    d->N = 1 + rng_below(&r, 6);
    if (d->f == 1) {
        static const uint32_t sizes[][2] = {{7, 9},  {16, 16}, {13, 47},
                                            {1, 5},  {9, 7},   {4, 4},
                                            {20, 3}, {11, 11}};
        uint32_t i = rng_below(&r, sizeof sizes / sizeof sizes[0]);
        d->H = sizes[i][0];
        d->W = sizes[i][1];
    } else {
        d->H = d->f * (1 + rng_below(&r, 6));
        d->W = d->f * (1 + rng_below(&r, 8));
    }
    if (sp->big == 2) {
        d->N = 30 + rng_below(&r, 31);
        d->H = d->f * (1 + rng_below(&r, 3));
        d->W = d->f * (1 + rng_below(&r, 4));
    } else if (sp->big) {
        d->N = 6;
        d->K = 5;
        d->H = 48;
        d->W = 64;
    }
    static const double temps[] = {0.1, 0.1, 0.1, 0.05, 0.5, 1.0};
    d->T = temps[rng_below(&r, 6)];
    d->rank_by = rng_chance(&r, 0.25) ? SEGAUDIT_RANK_NUM_PIXEL_ISSUES
                                      : SEGAUDIT_RANK_SOFTMIN;
    d->write_ids = !rng_chance(&r, 0.2);
    d->chunked = rng_chance(&r, 0.35);
    if (sp->ignore) {
        static const int second[] = {0, 1, 254, 100, -1};
        d->n_ignore = 2;
        d->ignore[0] = 255;
        d->ignore[1] = second[rng_below(&r, 5)];
        if (d->ignore[1] < 0)
            d->ignore[1] = (int)d->K; /* the first value above the classes */
    }
    snprintf(d->ctx, sizeof d->ctx,
             "[%s seed=%u N=%u K=%u H=%u W=%u dtype=f%d f=%u mode=%d "
             "logits=%d T=%g rank_by=%d ignore=%d,%d]",
             sp->name, seed, d->N, d->K, d->H, d->W, d->dtype, d->f,
             d->ds_mode, d->logits, d->T, d->rank_by,
             d->n_ignore ? d->ignore[0] : -1,
             d->n_ignore ? d->ignore[1] : -1);

    size_t HW = (size_t)d->H * d->W, nv = (size_t)d->N * d->K * HW;
    d->stored = malloc(nv * sizeof *d->stored);
    d->half = d->dtype == 16 ? malloc(nv * sizeof *d->half) : NULL;
    d->lab = malloc((size_t)d->N * HW);
    d->ids = malloc(d->N * sizeof *d->ids);
    uint8_t *truth = malloc(HW), *model = malloc(HW);
    double *p = malloc(d->K * sizeof *p);
    assert_true(d->stored && (d->dtype != 16 || d->half) && d->lab &&
                d->ids && truth && model && p);

    int all_void = sp->ignore && d->N >= 2 && rng_chance(&r, 0.6)
                       ? (int)rng_below(&r, d->N)
                       : -1;
    for (uint32_t n = 0; n < d->N; n++) {
        snprintf(d->ids[n], sizeof d->ids[n], "img%03u", n);
        memset(truth, (int)rng_below(&r, d->K), HW);
        paint_rects(&r, d, truth, (int)rng_below(&r, 5), -1);
        memcpy(model, truth, HW);
        /* the model is wrong in places */
        if (rng_chance(&r, 0.4))
            paint_rects(&r, d, model, 1, -1);
        /* the labels: noise, and sometimes a systematic error */
        static const double noise[] = {0, 0.02, 0.1, 0.3, 1.0};
        double q = noise[rng_below(&r, 5)];
        uint8_t *L = d->lab + (size_t)n * HW;
        for (size_t i = 0; i < HW; i++) {
            L[i] = truth[i];
            if (rng_chance(&r, q))
                L[i] = (uint8_t)rng_below(&r, d->K);
            if (rng_chance(&r, 0.05))
                model[i] = (uint8_t)rng_below(&r, d->K);
        }
        if (rng_chance(&r, 0.3))
            paint_rects(&r, d, L, 1, (int)rng_below(&r, d->K));
        if (sp->ignore) {
            uint32_t bw = (uint32_t[]){0, 1, 2, d->f}[rng_below(&r, 4)];
            double scatter = rng_chance(&r, 0.5) ? 0.08 : 0;
            for (uint32_t h = 0; h < d->H; h++)
                for (uint32_t w = 0; w < d->W; w++) {
                    uint8_t *l = &L[h * d->W + w];
                    if (h < bw || w < bw || h + bw >= d->H || w + bw >= d->W)
                        *l = 255;
                    else if (rng_chance(&r, scatter))
                        *l = (uint8_t)d->ignore[rng_below(&r, 2)];
                }
            if ((int)n == all_void)
                memset(L, 255, HW);
        }
        /* the model's output */
        int style = (int)rng_below(&r, 3);
        double gamma = kind == PK_LOGITS
                           ? (double[]){1, 3}[rng_below(&r, 2)]
                           : (double[]){0.5, 1, 3, 8}[rng_below(&r, 4)];
        double boost = kind == PK_LOGITS
                           ? (double[]){0, 2, 5}[rng_below(&r, 3)]
                           : (double[]){1, 3, 10}[rng_below(&r, 3)];
        /* uncalibrated outputs: an image of tiny values (t_k may fall
         * below 2e-6; float16 subnormals) */
        double dim = kind == PK_SCALED && rng_chance(&r, 0.3)
                         ? (double[]){1e-6, 4e-6, 3e-5}[rng_below(&r, 3)]
                         : 1.0;
        for (uint32_t h = 0; h < d->H; h++)
            for (uint32_t w = 0; w < d->W; w++) {
                gen_pixel(&r, d, kind, style, gamma, boost,
                          model[h * d->W + w], p);
                for (uint32_t k = 0; k < d->K; k++)
                    p[k] *= dim;
                for (uint32_t k = 0; k < d->K; k++) {
                    size_t i = val(d, n, k, h, w);
                    if (d->dtype == 16) {
                        /* half of |x|, sign kept for logits */
                        uint16_t b = half_from_double(fabs(p[k]));
                        if (p[k] < 0 && b)
                            b |= 0x8000;
                        d->half[i] = b;
                        d->stored[i] = half_to_double(b);
                    } else if (d->dtype == 32) {
                        d->stored[i] = (float)p[k];
                    } else {
                        d->stored[i] = p[k];
                    }
                }
            }
    }
    free(truth);
    free(model);
    free(p);
    if (kind != PK_LOGITS && rng_chance(&r, 0.5))
        plant_eps(d, &r);
}

/* ---- writers ------------------------------------------------------------ */

static void write_labels(const Dataset *d)
{
    char path[512];
    snprintf(path, sizeof path, "%s/labels", d->dir);
    assert_int_equal(mkdir(path, 0777), 0);
    for (uint32_t n = 0; n < d->N; n++) {
        SaMaskPng *m = NULL;
        SaErr err = {0};
        snprintf(path, sizeof path, "%s/labels/%s.png", d->dir, d->ids[n]);
        if (sa_mask_png_create(&m, path, d->W, d->H, &err) != 0)
            fail_msg("%s: %s", path, err.msg);
        for (uint32_t h = 0; h < d->H; h++)
            if (sa_mask_png_write_row(m, d->lab + pix(d, n, h, 0), &err))
                fail_msg("%s: %s", path, err.msg);
        if (sa_mask_png_finish(m, &err) != 0)
            fail_msg("%s: %s", path, err.msg);
    }
}

static hid_t half_type(void)
{
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    assert_true(t >= 0);
    assert_true(H5Tset_fields(t, 15, 10, 5, 0, 10) >= 0);
    assert_true(H5Tset_size(t, 2) >= 0);
    assert_true(H5Tset_precision(t, 16) >= 0);
    assert_true(H5Tset_ebias(t, 15) >= 0);
    return t;
}

static void write_probs(const Dataset *d)
{
    char path[512];
    snprintf(path, sizeof path, "%s/probs.h5", d->dir);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(file >= 0);

    hsize_t dims[4] = {d->N, d->K, d->H, d->W};
    hid_t space = H5Screate_simple(4, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(space >= 0 && dcpl >= 0);
    if (d->chunked) {
        hsize_t chunk[4] = {1, d->K, d->H < 3 ? d->H : 3, d->W};
        assert_true(H5Pset_chunk(dcpl, 4, chunk) >= 0);
        assert_true(H5Pset_deflate(dcpl, 1) >= 0);
    }
    size_t nv = (size_t)d->N * d->K * d->H * d->W;
    hid_t ftype, mtype;
    void *buf = NULL;
    if (d->dtype == 16) {
        ftype = half_type();
        mtype = half_type(); /* raw little-endian bits: no conversion */
        buf = d->half;
    } else if (d->dtype == 32) {
        ftype = H5Tcopy(H5T_IEEE_F32LE);
        mtype = H5Tcopy(H5T_NATIVE_FLOAT);
        float *fb = malloc(nv * sizeof *fb);
        assert_non_null(fb);
        for (size_t i = 0; i < nv; i++)
            fb[i] = (float)d->stored[i];
        buf = fb;
    } else {
        ftype = H5Tcopy(H5T_IEEE_F64LE);
        mtype = H5Tcopy(H5T_NATIVE_DOUBLE);
        buf = d->stored;
    }
    hid_t ds = H5Dcreate2(file, "/pred_probs", ftype, space, H5P_DEFAULT,
                          dcpl, H5P_DEFAULT);
    assert_true(ds >= 0);
    assert_true(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Dclose(ds);
    if (d->dtype == 32)
        free(buf);
    H5Tclose(ftype);
    H5Tclose(mtype);
    H5Pclose(dcpl);
    H5Sclose(space);

    if (d->write_ids) {
        hsize_t n = d->N;
        const char **ids = malloc(d->N * sizeof *ids);
        assert_non_null(ids);
        for (uint32_t i = 0; i < d->N; i++)
            ids[i] = d->ids[i];
        hid_t st = H5Tcopy(H5T_C_S1);
        assert_true(H5Tset_size(st, H5T_VARIABLE) >= 0);
        assert_true(H5Tset_cset(st, H5T_CSET_UTF8) >= 0);
        hid_t sp = H5Screate_simple(1, &n, NULL);
        hid_t di = H5Dcreate2(file, "/image_ids", st, sp, H5P_DEFAULT,
                              H5P_DEFAULT, H5P_DEFAULT);
        assert_true(di >= 0);
        assert_true(H5Dwrite(di, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids) >=
                    0);
        H5Dclose(di);
        H5Sclose(sp);
        H5Tclose(st);
        free(ids);
    }
    assert_true(H5Fclose(file) >= 0);
}

static void remove_tree(const char *path)
{
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[768];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(sub);
            else
                unlink(sub);
        }
        closedir(dir);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* ---- the oracle: the SPEC, naively ------------------------------------- */

typedef struct Unit {
    double s;
    uint32_t image, idx;
} Unit;

static int cmp_unit(const void *x, const void *y)
{
    const Unit *a = x, *b = y;
    if (a->s != b->s)
        return a->s < b->s ? -1 : 1;
    if (a->image != b->image)
        return a->image < b->image ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

typedef struct Oracle {
    const char *ambiguous;   /* why the dataset is too close to call */
    uint64_t n_issues, issue_pixels, valid_pixels, images_with_issues;
    uint64_t m_below;
    int second_read;
    double *thr;             /* K */
    uint64_t *units_k;       /* K: pixels (blocks) labeled k */
    uint64_t *pixels_k;      /* K: full-resolution pixels labeled k */
    uint64_t *given, *pred, *images_k; /* K */
    uint64_t *valid, *issues; /* N */
    int *has;                /* N */
    double *softmin, *npi;   /* N */
    double *base;            /* N x SEGAUDIT_N_SCORES: the baseline scores */
    SegauditRegion *regs;    /* all regions, image by image, largest first */
    uint64_t *reg_first, *reg_n; /* N: where each image's regions start */
    uint64_t *order;         /* N, by rank */
    uint8_t *mask;           /* N*H*W */
    SegauditPair *pairs;
    uint64_t npairs;
} Oracle;

static void oracle_free(Oracle *o)
{
    free(o->thr);
    free(o->units_k);
    free(o->pixels_k);
    free(o->given);
    free(o->pred);
    free(o->images_k);
    free(o->valid);
    free(o->issues);
    free(o->has);
    free(o->softmin);
    free(o->npi);
    free(o->base);
    free(o->regs);
    free(o->reg_first);
    free(o->reg_n);
    free(o->order);
    free(o->mask);
    free(o->pairs);
    memset(o, 0, sizeof *o);
}

static int cmp_pair(const void *x, const void *y)
{
    const SegauditPair *a = x, *b = y;
    if (a->issue_pixels != b->issue_pixels)
        return a->issue_pixels > b->issue_pixels ? -1 : 1;
    if (a->given != b->given)
        return a->given < b->given ? -1 : 1;
    return (a->predicted > b->predicted) - (a->predicted < b->predicted);
}

static const Oracle *rank_oracle; /* for cmp_rank (qsort has no context) */
static int rank_by_npi;

static int cmp_rank(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    const Oracle *o = rank_oracle;
    if (o->has[a] != o->has[b])
        return o->has[a] ? -1 : 1;
    if (o->has[a]) {
        double sa = rank_by_npi ? o->npi[a] : o->softmin[a];
        double sb = rank_by_npi ? o->npi[b] : o->softmin[b];
        if (sa != sb)
            return sa < sb ? -1 : 1;
    }
    return (a > b) - (a < b);
}

static uint32_t argmax(const double *p, size_t K, size_t stride)
{
    uint32_t a = 0;
    for (size_t k = 1; k < K; k++)
        if (p[k * stride] > p[a * stride])
            a = (uint32_t)k;
    return a;
}

static int cmp_region(const void *x, const void *y)
{
    const SegauditRegion *a = x, *b = y;
    if (a->area != b->area)
        return a->area > b->area ? -1 : 1;
    /* first pixel in raster order: the oracle keeps it in image */
    return (a->image > b->image) - (a->image < b->image);
}

/* Regions by flood fill (8-connectivity) of the oracle's issue mask. */
static void oracle_regions(const Dataset *d, const double *P,
                           const uint32_t *arg, Oracle *o)
{
    size_t N = d->N, K = d->K, H = d->H, W = d->W, HW = H * W;
    o->regs = malloc((HW + 1) * N * sizeof *o->regs);
    o->reg_first = calloc(N, sizeof *o->reg_first);
    o->reg_n = calloc(N, sizeof *o->reg_n);
    uint8_t *seen = calloc(HW, 1);
    size_t *stack = malloc(HW * sizeof *stack);
    uint64_t *cg = calloc(K, sizeof *cg), *cp = calloc(K, sizeof *cp);
    assert_true(o->regs && o->reg_first && o->reg_n && seen && stack && cg &&
                cp);
    size_t total = 0;
    for (size_t n = 0; n < N; n++) {
        const uint8_t *m = o->mask + n * HW;
        memset(seen, 0, HW);
        o->reg_first[n] = total;
        for (size_t start = 0; start < HW; start++) {
            if (!m[start] || seen[start])
                continue;
            SegauditRegion r = {0};
            uint32_t x0 = UINT32_MAX, y0 = UINT32_MAX, x1 = 0, y1 = 0;
            double ss = 0, sp = 0;
            memset(cg, 0, K * sizeof *cg);
            memset(cp, 0, K * sizeof *cp);
            size_t top = 0;
            stack[top++] = start;
            seen[start] = 1;
            while (top) {
                size_t q = stack[--top];
                uint32_t y = (uint32_t)(q / W), x = (uint32_t)(q % W);
                int l = d->lab[n * HW + q];
                uint32_t a = arg[n * HW + q];
                r.area++;
                x0 = x < x0 ? x : x0;
                y0 = y < y0 ? y : y0;
                x1 = x > x1 ? x : x1;
                y1 = y > y1 ? y : y1;
                ss += P[(n * K + l) * HW + q];
                sp += P[(n * K + a) * HW + q];
                cg[l]++;
                cp[a]++;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        long yy = (long)y + dy, xx = (long)x + dx;
                        if (yy < 0 || xx < 0 || yy >= (long)H ||
                            xx >= (long)W)
                            continue;
                        size_t nq = (size_t)yy * W + (size_t)xx;
                        if (m[nq] && !seen[nq]) {
                            seen[nq] = 1;
                            stack[top++] = nq;
                        }
                    }
            }
            uint32_t g = 0, pr = 0;
            for (uint32_t k = 1; k < K; k++) {
                if (cg[k] > cg[g])
                    g = k;
                if (cp[k] > cp[pr])
                    pr = k;
            }
            r.image = start; /* raster order of the first pixel, for now */
            r.x = x0;
            r.y = y0;
            r.width = x1 - x0 + 1;
            r.height = y1 - y0 + 1;
            r.given = g;
            r.predicted = pr;
            r.mean_self_confidence = ss / (double)r.area;
            r.mean_predicted_prob = sp / (double)r.area;
            o->regs[total++] = r;
        }
        o->reg_n[n] = total - o->reg_first[n];
        SegauditRegion *mine = o->regs + o->reg_first[n];
        qsort(mine, o->reg_n[n], sizeof *mine, cmp_region);
        for (uint64_t j = 0; j < o->reg_n[n]; j++) {
            mine[j].image = n;
            mine[j].region = (uint32_t)(j + 1);
        }
    }
    free(seen);
    free(stack);
    free(cg);
    free(cp);
}

/* The baseline image scores (README formulas) at full resolution, over the
 * non-ignored pixels: mean and min of s, pixel accuracy, class-balanced
 * accuracy over the classes present in the label, mean IoU over the classes
 * present in the label or the argmax. */
static void oracle_baselines(const Dataset *d, const double *P, Oracle *o)
{
    size_t N = d->N, K = d->K, HW = (size_t)d->H * d->W;
    o->base = calloc(N * SEGAUDIT_N_SCORES, sizeof *o->base);
    uint64_t *lab = calloc(K, sizeof *lab), *cor = calloc(K, sizeof *cor);
    uint64_t *prd = calloc(K, sizeof *prd);
    assert_true(o->base && lab && cor && prd);
    for (size_t n = 0; n < N; n++) {
        double *b = o->base + n * SEGAUDIT_N_SCORES;
        long double sum = 0;
        double mn = INFINITY;
        uint64_t valid = 0, correct = 0;
        memset(lab, 0, K * sizeof *lab);
        memset(cor, 0, K * sizeof *cor);
        memset(prd, 0, K * sizeof *prd);
        for (size_t x = 0; x < HW; x++) {
            int l = d->lab[n * HW + x];
            if (is_ignored(d, l))
                continue;
            double sv = P[(n * K + l) * HW + x];
            uint32_t a = argmax(P + n * K * HW + x, K, HW);
            sum += sv;
            mn = sv < mn ? sv : mn;
            valid++;
            lab[l]++;
            prd[a]++;
            if (a == (uint32_t)l) {
                cor[l]++;
                correct++;
            }
        }
        for (int i = 0; i < SEGAUDIT_N_SCORES; i++)
            b[i] = NAN;
        if (!valid)
            continue;
        double acc = 0, iou = 0;
        unsigned present = 0, either = 0;
        for (size_t k = 0; k < K; k++) {
            if (lab[k]) {
                present++;
                acc += (double)cor[k] / (double)lab[k];
            }
            if (lab[k] + prd[k]) {
                either++;
                iou += (double)cor[k] / (double)(lab[k] + prd[k] - cor[k]);
            }
        }
        b[SEGAUDIT_SCORE_MEAN_SELF_CONFIDENCE] = (double)(sum / valid);
        b[SEGAUDIT_SCORE_MIN_SELF_CONFIDENCE] = mn;
        b[SEGAUDIT_SCORE_PIXEL_ACCURACY] = (double)correct / (double)valid;
        b[SEGAUDIT_SCORE_CLASS_BALANCED_ACCURACY] = acc / present;
        b[SEGAUDIT_SCORE_MEAN_IOU] = iou / either;
    }
    free(lab);
    free(cor);
    free(prd);
}

static void oracle_build(const Dataset *d, Oracle *o)
{
    const size_t N = d->N, K = d->K, H = d->H, W = d->W, f = d->f;
    const size_t HW = H * W, Hb = H / f, Wb = W / f, HWb = Hb * Wb;
    memset(o, 0, sizeof *o);

    /* probabilities (softmax of the logits over k) and full-res argmax */
    double *P = malloc(N * K * HW * sizeof *P);
    uint32_t *arg = malloc(N * HW * sizeof *arg);
    assert_true(P && arg);
    memcpy(P, d->stored, N * K * HW * sizeof *P);
    for (size_t n = 0; n < N; n++)
        for (size_t x = 0; x < HW; x++) {
            double *p = P + n * K * HW + x;
            if (d->logits) {
                double m = p[0], sum = 0;
                for (size_t k = 1; k < K; k++)
                    if (p[k * HW] > m)
                        m = p[k * HW];
                for (size_t k = 0; k < K; k++) {
                    p[k * HW] = exp(p[k * HW] - m);
                    sum += p[k * HW];
                }
                for (size_t k = 0; k < K; k++)
                    p[k * HW] /= sum;
            }
            uint32_t a = argmax(p, K, HW);
            arg[n * HW + x] = a;
            for (size_t k = a + 1; k < K; k++)
                if (p[k * HW] == p[a * HW]) {
                    cov.argmax_ties++;
                    break;
                }
        }

    /* image scores: softmin over the full-resolution valid pixels */
    o->valid = calloc(N, sizeof *o->valid);
    o->issues = calloc(N, sizeof *o->issues);
    o->has = calloc(N, sizeof *o->has);
    o->softmin = calloc(N, sizeof *o->softmin);
    o->npi = calloc(N, sizeof *o->npi);
    assert_true(o->valid && o->issues && o->has && o->softmin && o->npi);
    for (size_t n = 0; n < N; n++) {
        long double m = -INFINITY, sw = 0, ss = 0;
        for (size_t x = 0; x < HW; x++) {
            int l = d->lab[n * HW + x];
            if (is_ignored(d, l))
                continue;
            o->valid[n]++;
            long double z = (1.0L - P[(n * K + l) * HW + x]) / d->T;
            if (z > m)
                m = z;
        }
        for (size_t x = 0; x < HW; x++) {
            int l = d->lab[n * HW + x];
            if (is_ignored(d, l))
                continue;
            long double s = P[(n * K + l) * HW + x];
            long double w = expl((1.0L - s) / d->T - m);
            sw += w;
            ss += s * w;
        }
        o->has[n] = o->valid[n] > 0;
        o->softmin[n] = o->has[n] ? (double)(ss / sw) : NAN;
        o->valid_pixels += o->valid[n];
    }
    oracle_baselines(d, P, o);

    /* units: pixels, or f×f blocks */
    size_t NU = N * HWb;
    double *us = malloc(NU * sizeof *us), *uphat = malloc(NU * sizeof *uphat);
    uint32_t *ul = malloc(NU * sizeof *ul), *ua = malloc(NU * sizeof *ua);
    uint8_t *uvalid = calloc(NU, 1);
    double *bp = malloc(K * sizeof *bp);
    assert_true(us && uphat && ul && ua && uvalid && bp);
    for (size_t n = 0; n < N; n++)
        for (size_t bh = 0; bh < Hb; bh++)
            for (size_t bw = 0; bw < Wb; bw++) {
                size_t u = n * HWb + bh * Wb + bw;
                /* label of the block from its non-ignored labels */
                uint64_t cnt[256] = {0}, sum = 0, nl = 0;
                for (size_t dy = 0; dy < f; dy++)
                    for (size_t dx = 0; dx < f; dx++) {
                        int l = d->lab[pix(d, n, bh * f + dy, bw * f + dx)];
                        if (is_ignored(d, l))
                            continue;
                        cnt[l]++;
                        sum += (uint64_t)l;
                        nl++;
                    }
                if (nl == 0) {
                    if (f > 1)
                        cov.void_blocks++;
                    continue;
                }
                uint32_t l = 0;
                if (d->ds_mode == SEGAUDIT_DS_LABELS_MODE && f > 1) {
                    int ties = 0;
                    for (uint32_t c = 1; c < 256; c++) {
                        if (cnt[c] > cnt[l])
                            l = c, ties = 0;
                        else if (cnt[c] == cnt[l] && cnt[c])
                            ties = 1;
                    }
                    cov.mode_ties += ties;
                } else {
                    /* nearbyint: round half to even */
                    l = (uint32_t)nearbyint((double)sum / (double)nl);
                }
                /* a mean that lands on an ignored value: the block is
                 * skipped (README) */
                if (is_ignored(d, (int)l)) {
                    cov.ignored_mean_blocks++;
                    continue;
                }
                /* probabilities: per-class mean (sum over dx, then rows),
                 * then divided by the sum over classes */
                double tot = 0;
                for (size_t k = 0; k < K; k++) {
                    double acc = 0;
                    for (size_t dy = 0; dy < f; dy++) {
                        double t = 0;
                        for (size_t dx = 0; dx < f; dx++)
                            t += P[(n * K + k) * HW + (bh * f + dy) * W +
                                   bw * f + dx];
                        acc += t;
                    }
                    bp[k] = acc / (double)(f * f);
                    tot += bp[k];
                }
                if (f > 1)
                    for (size_t k = 0; k < K; k++)
                        bp[k] = tot > 0 ? bp[k] / tot : 0;
                uvalid[u] = 1;
                ul[u] = l;
                ua[u] = argmax(bp, K, 1);
                us[u] = bp[l];
                uphat[u] = bp[ua[u]];
            }

    /* pass 1: thresholds */
    long double *csum = calloc(K, sizeof *csum);
    o->units_k = calloc(K, sizeof *o->units_k);
    o->pixels_k = calloc(K, sizeof *o->pixels_k);
    o->thr = calloc(K, sizeof *o->thr);
    assert_true(csum && o->units_k && o->pixels_k && o->thr);
    for (size_t x = 0; x < N * HW; x++)
        if (!is_ignored(d, d->lab[x]))
            o->pixels_k[d->lab[x]]++;
    for (size_t u = 0; u < NU; u++)
        if (uvalid[u]) {
            csum[ul[u]] += us[u];
            o->units_k[ul[u]]++;
        }
    for (size_t k = 0; k < K; k++) {
        double t = o->units_k[k] ? (double)(csum[k] / o->units_k[k]) : 0;
        o->thr[k] = t > TMIN ? t : TMIN;
        cov.clamped += o->units_k[k] && t < TMIN;
    }

    /* pass 2: n_issues, then the first n_issues units by (s, image, idx) */
    Unit *all = malloc((NU ? NU : 1) * sizeof *all);
    assert_non_null(all);
    size_t nvalid = 0;
    for (size_t u = 0; u < NU; u++) {
        if (!uvalid[u])
            continue;
        if (us[u] <= 0.5)
            o->m_below++;
        all[nvalid++] = (Unit){us[u], (uint32_t)(u / HWb),
                               (uint32_t)(u % HWb)};
        if (ua[u] == ul[u])
            continue;
        double lim = o->thr[ua[u]] - EPS;
        cov.eps_decides += uphat[u] >= lim && uphat[u] < o->thr[ua[u]];
        if (fabs(uphat[u] - lim) <= RTOL * (fabs(lim) + 1e-300))
            o->ambiguous = "p-hat within 1e-12 of t - eps";
        if (uphat[u] >= lim)
            o->n_issues++;
        /* a mismatch that the floor 2e-6 of t_k keeps out */
        cov.clamp_decides += uphat[u] < lim && o->thr[ua[u]] == TMIN;
    }
    o->second_read = o->n_issues > o->m_below;
    qsort(all, nvalid, sizeof *all, cmp_unit);
    uint8_t *cand = calloc(NU ? NU : 1, 1);
    assert_non_null(cand);
    for (size_t i = 0; i < o->n_issues; i++)
        cand[all[i].image * HWb + all[i].idx] = 1;
    if (o->n_issues > 0 && o->n_issues < nvalid) {
        double cut = all[o->n_issues - 1].s;
        if (all[o->n_issues].s == cut)
            cov.cut_ties++;
        /* s is a stored value unless the engine computes it (softmax or
         * block means): only then can its rounding differ from ours */
        for (size_t i = 0; (d->logits || f > 1) && i < nvalid; i++)
            if (all[i].s != cut &&
                fabs(all[i].s - cut) <= RTOL * fabs(cut))
                o->ambiguous = "a score within 1e-12 of the cut-off";
    }
    if (o->n_issues == 0)
        cov.n_issues_zero++;

    /* issue pixels at full resolution */
    o->mask = calloc(N * HW, 1);
    o->given = calloc(K, sizeof *o->given);
    o->pred = calloc(K, sizeof *o->pred);
    o->images_k = calloc(K, sizeof *o->images_k);
    uint64_t *pc = calloc(K * K, sizeof *pc);
    uint8_t *touched = malloc(K);
    assert_true(o->mask && o->given && o->pred && o->images_k && pc &&
                touched);
    for (size_t n = 0; n < N; n++) {
        memset(touched, 0, K);
        for (size_t h = 0; h < H; h++)
            for (size_t w = 0; w < W; w++) {
                size_t x = n * HW + h * W + w;
                size_t u = n * HWb + (h / f) * Wb + w / f;
                int l = d->lab[x];
                if (is_ignored(d, l) || !cand[u])
                    continue;
                if (f == 1 ? ua[u] == ul[u] : arg[x] == (uint32_t)l)
                    continue;
                uint32_t a = arg[x];
                o->mask[x] = 1;
                o->issues[n]++;
                o->given[l]++;
                o->pred[a]++;
                touched[l] = touched[a] = 1;
                pc[(size_t)l * K + a]++;
            }
        for (size_t k = 0; k < K; k++)
            o->images_k[k] += touched[k];
        o->issue_pixels += o->issues[n];
        o->images_with_issues += o->issues[n] > 0;
        o->npi[n] = o->has[n] ? 1.0 - (double)o->issues[n] / o->valid[n]
                              : NAN;
        if (!o->has[n])
            cov.all_void_images++;
    }
    o->pairs = malloc((K * K) * sizeof *o->pairs);
    assert_non_null(o->pairs);
    for (size_t g = 0; g < K; g++)
        for (size_t a = 0; a < K; a++)
            if (pc[g * K + a])
                o->pairs[o->npairs++] = (SegauditPair){
                    (uint32_t)g, (uint32_t)a, pc[g * K + a]};
    qsort(o->pairs, o->npairs, sizeof *o->pairs, cmp_pair);

    /* ranking: lower score first, no score last, ties by index */
    o->order = malloc(N * sizeof *o->order);
    assert_non_null(o->order);
    for (size_t n = 0; n < N; n++)
        o->order[n] = n;
    rank_oracle = o;
    rank_by_npi = d->rank_by == SEGAUDIT_RANK_NUM_PIXEL_ISSUES;
    qsort(o->order, N, sizeof *o->order, cmp_rank);

    oracle_regions(d, P, arg, o);
    free(P);
    free(arg);
    free(us);
    free(uphat);
    free(ul);
    free(ua);
    free(uvalid);
    free(bp);
    free(csum);
    free(all);
    free(cand);
    free(pc);
    free(touched);
}

/* ---- running the engine and comparing ---------------------------------- */

typedef struct RunCfg {
    int n_threads;
    uint64_t memory_limit, band_bytes;
    int cache; /* 1: with a cache folder (empty), 2: the same, now full */
} RunCfg;

static const RunCfg cfgs[] = {
    {1, (uint64_t)1 << 30, 0, 0},
    {2, 65536, 1, 0},
    {3, 65536, 5000, 0},
    {2, (uint64_t)1 << 30, 0, 1},
    {3, 65536, 5000, 2},
};
#define NCFG (sizeof cfgs / sizeof cfgs[0])

static int skip_mode; /* run_engine: --on-error skip */

static SegauditAudit *run_engine(const Dataset *d, int c, char *masks,
                                 size_t masks_len)
{
    char labels[300], probs[300];
    snprintf(labels, sizeof labels, "%s/labels", d->dir);
    snprintf(probs, sizeof probs, "%s/probs.h5", d->dir);
    snprintf(masks, masks_len, "%s/masks%d", d->dir, c);
    SegauditSettings s;
    segaudit_default_settings(&s);
    s.min_region_area = 1; /* every region listed, as the oracle lists them */
    s.labels_dir = labels;
    s.probs_path = probs;
    s.masks_dir = masks;
    s.scratch_dir = d->dir;
    s.temperature = d->T;
    s.downsample = (int)d->f;
    s.downsample_labels = d->ds_mode;
    s.rank_by = d->rank_by;
    s.logits = d->logits;
    s.n_ignore = d->n_ignore;
    for (int i = 0; i < d->n_ignore; i++)
        s.ignore_index[i] = d->ignore[i];
    s.n_threads = cfgs[c].n_threads;
    s.memory_limit = cfgs[c].memory_limit;
    s.band_bytes = cfgs[c].band_bytes;
    s.on_error_skip = skip_mode;
    char cache[320];
    snprintf(cache, sizeof cache, "%s/cache", d->dir);
    if (cfgs[c].cache)
        s.cache_dir = cache;
    SegauditAudit *a = segaudit_audit_new();
    assert_non_null(a);
    int rc = segaudit_audit_run(a, &s);
    if (rc != 0)
        fail_msg("%s cfg %d: run failed (%d): %s", d->ctx, c, rc,
                 segaudit_audit_error(a));
    cov.runs++;
    return a;
}

static int close_rel(double x, double y)
{
    return fabs(x - y) <= RTOL * fabs(y) + 1e-300;
}

static void check_masks(const Dataset *d, const Oracle *o, const char *dir,
                        const char *ctx)
{
    uint16_t *row = malloc(d->W * sizeof *row);
    assert_non_null(row);
    for (uint32_t n = 0; n < d->N; n++) {
        char path[512];
        SaLabelPng *p = NULL;
        SaErr err = {0};
        snprintf(path, sizeof path, "%s/%s.png", dir, d->ids[n]);
        if (sa_label_png_open(&p, path, d->W, d->H, &err) != 0)
            fail_msg("%s image %u: mask: %s", ctx, n, err.msg);
        for (uint32_t h = 0; h < d->H; h++) {
            if (sa_label_png_read_rows(p, row, 1, &err) != 0)
                fail_msg("%s image %u: mask: %s", ctx, n, err.msg);
            for (uint32_t w = 0; w < d->W; w++) {
                unsigned want = o->mask[pix(d, n, h, w)] ? 255 : 0;
                if (row[w] != want)
                    fail_msg("%s image %u (%s): mask pixel (h=%u, w=%u) is "
                             "%u, expected %u (label %u)",
                             ctx, n, d->ids[n], h, w, row[w], want,
                             d->lab[pix(d, n, h, w)]);
            }
        }
        sa_label_png_close(p);
    }
    free(row);
}

/* Checks labeled_pixels last (see LABELED_PIXELS_ARE_BLOCKS), so that a
 * disagreement there does not hide the other checks. */
static void check_labeled(const Dataset *d, const Oracle *o,
                          const SegauditAudit *a, const char *ctx)
{
    for (uint32_t k = 0; k < d->K; k++) {
        SegauditClassResult c;
        segaudit_audit_class(a, k, &c);
        uint64_t want = LABELED_PIXELS_ARE_BLOCKS ? o->units_k[k]
                                                  : o->pixels_k[k];
        if (c.labeled_pixels != want)
            fail_msg("%s class %u: labeled_pixels %llu, expected %llu "
                     "(blocks labeled %u: %llu, full-resolution pixels: "
                     "%llu)",
                     ctx, k, (unsigned long long)c.labeled_pixels,
                     (unsigned long long)want, k,
                     (unsigned long long)o->units_k[k],
                     (unsigned long long)o->pixels_k[k]);
    }
}

static void compare(const Dataset *d, const Oracle *o, const SegauditAudit *a,
                    const char *masks, const char *ctx)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    static const char *const dtn[] = {"float16", "float32", "float64"};
    const char *dt = dtn[d->dtype == 16 ? 0 : d->dtype == 32 ? 1 : 2];
    if (in.n_images != d->N || in.n_classes != d->K || in.height != d->H ||
        in.width != d->W || strcmp(in.dtype, dt) != 0)
        fail_msg("%s: info shape %llu,%u,%llu,%llu %s", ctx,
                 (unsigned long long)in.n_images, in.n_classes,
                 (unsigned long long)in.height,
                 (unsigned long long)in.width, in.dtype);
    if (in.n_issues != o->n_issues)
        fail_msg("%s: n_issues %llu, expected %llu", ctx,
                 (unsigned long long)in.n_issues,
                 (unsigned long long)o->n_issues);
    if (in.issue_pixels != o->issue_pixels ||
        in.valid_pixels != o->valid_pixels ||
        in.images_with_issues != o->images_with_issues)
        fail_msg("%s: info issue_pixels %llu valid %llu images %llu, "
                 "expected %llu %llu %llu",
                 ctx, (unsigned long long)in.issue_pixels,
                 (unsigned long long)in.valid_pixels,
                 (unsigned long long)in.images_with_issues,
                 (unsigned long long)o->issue_pixels,
                 (unsigned long long)o->valid_pixels,
                 (unsigned long long)o->images_with_issues);
    if (in.second_read != o->second_read)
        fail_msg("%s: second_read %d, expected %d (n_issues %llu, pixels "
                 "with s <= 0.5: %llu)",
                 ctx, in.second_read, o->second_read,
                 (unsigned long long)o->n_issues,
                 (unsigned long long)o->m_below);

    /* thresholds and per-class counts */
    for (uint32_t k = 0; k < d->K; k++) {
        SegauditClassResult c;
        segaudit_audit_class(a, k, &c);
        if (c.cls != k || !close_rel(c.threshold, o->thr[k]))
            fail_msg("%s class %u: threshold %.17g, expected %.17g", ctx, k,
                     c.threshold, o->thr[k]);
        if (c.issue_pixels_given != o->given[k] ||
            c.issue_pixels_predicted != o->pred[k] ||
            c.images_affected != o->images_k[k])
            fail_msg("%s class %u: given %llu predicted %llu images %llu, "
                     "expected %llu %llu %llu",
                     ctx, k, (unsigned long long)c.issue_pixels_given,
                     (unsigned long long)c.issue_pixels_predicted,
                     (unsigned long long)c.images_affected,
                     (unsigned long long)o->given[k],
                     (unsigned long long)o->pred[k],
                     (unsigned long long)o->images_k[k]);
    }

    /* images */
    for (uint32_t n = 0; n < d->N; n++) {
        SegauditImageResult r;
        segaudit_audit_image(a, n, &r);
        if (strcmp(r.id, d->ids[n]) != 0 || r.index != n)
            fail_msg("%s image %u: id '%s' index %llu", ctx, n, r.id,
                     (unsigned long long)r.index);
        if (r.valid_pixels != o->valid[n] || r.has_score != o->has[n])
            fail_msg("%s image %u: valid %llu has_score %d, expected %llu "
                     "%d",
                     ctx, n, (unsigned long long)r.valid_pixels, r.has_score,
                     (unsigned long long)o->valid[n], o->has[n]);
        if (r.issue_pixels != o->issues[n])
            fail_msg("%s image %u: issue_pixels %llu, expected %llu", ctx, n,
                     (unsigned long long)r.issue_pixels,
                     (unsigned long long)o->issues[n]);
        if (o->has[n] && !close_rel(r.softmin, o->softmin[n]))
            fail_msg("%s image %u: softmin %.17g, expected %.17g", ctx, n,
                     r.softmin, o->softmin[n]);
        if (o->has[n] && !close_rel(r.num_pixel_issues, o->npi[n]))
            fail_msg("%s image %u: num_pixel_issues %.17g, expected %.17g",
                     ctx, n, r.num_pixel_issues, o->npi[n]);
        for (int i = SEGAUDIT_SCORE_MEAN_SELF_CONFIDENCE;
             o->has[n] && i < SEGAUDIT_N_SCORES; i++) {
            double want = o->base[(size_t)n * SEGAUDIT_N_SCORES + i];
            if (!close_rel(r.score[i], want))
                fail_msg("%s image %u: %s %.17g, expected %.17g", ctx, n,
                         segaudit_score_name(i), r.score[i], want);
        }
    }

    /* ranking: equal to the oracle's, except between scores within 1e-12 */
    const int npi = d->rank_by == SEGAUDIT_RANK_NUM_PIXEL_ISSUES;
    for (uint32_t rk = 0; rk < d->N; rk++) {
        uint64_t e = segaudit_audit_ranked(a, rk), x = o->order[rk];
        SegauditImageResult r;
        assert_true(e < d->N);
        segaudit_audit_image(a, e, &r);
        if (r.rank != rk + 1)
            fail_msg("%s: image %llu is at position %u but has rank %llu",
                     ctx, (unsigned long long)e, rk + 1,
                     (unsigned long long)r.rank);
        if (e == x)
            continue;
        double se = npi ? o->npi[e] : o->softmin[e];
        double sx = npi ? o->npi[x] : o->softmin[x];
        if (!(o->has[e] && o->has[x] && close_rel(se, sx)))
            fail_msg("%s: rank %u is image %llu, expected %llu", ctx, rk + 1,
                     (unsigned long long)e, (unsigned long long)x);
    }

    /* pairs */
    uint64_t np = segaudit_audit_n_pairs(a);
    if (np != o->npairs)
        fail_msg("%s: %llu issue pairs, expected %llu", ctx,
                 (unsigned long long)np, (unsigned long long)o->npairs);
    for (uint64_t i = 0; i < np; i++) {
        SegauditPair p;
        segaudit_audit_pair(a, i, &p);
        const SegauditPair *q = &o->pairs[i];
        if (p.given != q->given || p.predicted != q->predicted ||
            p.issue_pixels != q->issue_pixels)
            fail_msg("%s: pair %llu is (%u,%u,%llu), expected (%u,%u,%llu)",
                     ctx, (unsigned long long)i, p.given, p.predicted,
                     (unsigned long long)p.issue_pixels, q->given,
                     q->predicted, (unsigned long long)q->issue_pixels);
    }

    check_masks(d, o, masks, ctx);

    /* regions: the same list, in the same order */
    for (uint32_t n = 0; n < d->N; n++) {
        SegauditImageResult r;
        segaudit_audit_image(a, n, &r);
        uint64_t want = o->reg_n[n];
        const SegauditRegion *mine = o->regs + o->reg_first[n];
        if (r.regions != want || segaudit_audit_n_regions(a, n) != want ||
            r.largest_region != (want ? mine[0].area : 0))
            fail_msg("%s image %u: %llu regions (largest %llu), expected "
                     "%llu (%llu)",
                     ctx, n, (unsigned long long)r.regions,
                     (unsigned long long)r.largest_region,
                     (unsigned long long)want,
                     (unsigned long long)(want ? mine[0].area : 0));
        for (uint64_t j = 0; j < want; j++) {
            SegauditRegion g;
            assert_int_equal(
                segaudit_audit_region((SegauditAudit *)a, n, j, &g), 0);
            const SegauditRegion *e = &mine[j];
            if (g.image != n || g.region != e->region || g.area != e->area ||
                g.x != e->x || g.y != e->y || g.width != e->width ||
                g.height != e->height || g.given != e->given ||
                g.predicted != e->predicted ||
                !close_rel(g.mean_self_confidence, e->mean_self_confidence) ||
                !close_rel(g.mean_predicted_prob, e->mean_predicted_prob))
                fail_msg("%s image %u region %llu: area %llu box %u,%u %ux%u "
                         "%u->%u s %.17g, expected area %llu box %u,%u %ux%u "
                         "%u->%u s %.17g",
                         ctx, n, (unsigned long long)j + 1,
                         (unsigned long long)g.area, g.x, g.y, g.width,
                         g.height, g.given, g.predicted,
                         g.mean_self_confidence, (unsigned long long)e->area,
                         e->x, e->y, e->width, e->height, e->given,
                         e->predicted, e->mean_self_confidence);
        }
    }
}

/* Run b must equal run a bit for bit. */
static void compare_runs(const Dataset *d, const SegauditAudit *a,
                         const SegauditAudit *b, const char *ctx)
{
    SegauditDatasetInfo x, y;
    segaudit_audit_info(a, &x);
    segaudit_audit_info(b, &y);
    if (x.n_issues != y.n_issues || x.issue_pixels != y.issue_pixels ||
        x.valid_pixels != y.valid_pixels || x.records != y.records ||
        x.second_read != y.second_read ||
        x.images_with_issues != y.images_with_issues)
        fail_msg("%s: info differs from the 1-thread run", ctx);
    for (uint32_t k = 0; k < d->K; k++) {
        SegauditClassResult c1, c2;
        segaudit_audit_class(a, k, &c1);
        segaudit_audit_class(b, k, &c2);
        if (c1.threshold != c2.threshold ||
            c1.labeled_pixels != c2.labeled_pixels ||
            c1.issue_pixels_given != c2.issue_pixels_given ||
            c1.issue_pixels_predicted != c2.issue_pixels_predicted ||
            c1.images_affected != c2.images_affected)
            fail_msg("%s class %u: differs from the 1-thread run "
                     "(threshold %.17g vs %.17g)",
                     ctx, k, c2.threshold, c1.threshold);
    }
    for (uint32_t n = 0; n < d->N; n++) {
        SegauditImageResult r1, r2;
        segaudit_audit_image(a, n, &r1);
        segaudit_audit_image(b, n, &r2);
        if (r1.has_score != r2.has_score || r1.rank != r2.rank ||
            r1.issue_pixels != r2.issue_pixels ||
            r1.valid_pixels != r2.valid_pixels ||
            (r1.has_score &&
             memcmp(r1.score, r2.score, sizeof r1.score) != 0))
            fail_msg("%s image %u: differs from the 1-thread run (softmin "
                     "%.17g vs %.17g, rank %llu vs %llu)",
                     ctx, n, r2.softmin, r1.softmin,
                     (unsigned long long)r2.rank,
                     (unsigned long long)r1.rank);
        if (segaudit_audit_ranked(a, n) != segaudit_audit_ranked(b, n))
            fail_msg("%s: ranked order differs at %u", ctx, n);
    }
    uint64_t np = segaudit_audit_n_pairs(a);
    if (np != segaudit_audit_n_pairs(b))
        fail_msg("%s: pair count differs from the 1-thread run", ctx);
    for (uint64_t i = 0; i < np; i++) {
        SegauditPair p, q;
        segaudit_audit_pair(a, i, &p);
        segaudit_audit_pair(b, i, &q);
        if (memcmp(&p, &q, sizeof p) != 0)
            fail_msg("%s: pair %llu differs from the 1-thread run", ctx,
                     (unsigned long long)i);
    }
}

/* ORACLE_ONLY=<scenario>:<seed> runs one dataset (to reproduce a failure;
 * the coverage assertions are then skipped); ORACLE_KEEP=1 keeps the
 * datasets in the temporary folder. */
static const char *only;

/* Generates (redrawing ambiguous datasets), writes, audits and compares. */
static void check_dataset(const Spec *sp, unsigned seed)
{
    if (only) {
        char want[96];
        snprintf(want, sizeof want, "%s:%u", sp->name, seed);
        if (strcmp(only, want) != 0)
            return;
    }
    Dataset d;
    Oracle o;
    unsigned s = seed;
    for (int attempt = 0;; attempt++) {
        gen_dataset(&d, sp, s);
        oracle_build(&d, &o);
        if (!o.ambiguous)
            break;
        print_message("note: %s %s, redrawn\n", d.ctx, o.ambiguous);
        cov.redraws++;
        oracle_free(&o);
        dataset_free(&d);
        assert_true(attempt < 20);
        s += 1000003u;
    }
    cov.datasets++;
    snprintf(d.dir, sizeof d.dir, "%s/%s_%u", root, sp->name, s);
    assert_int_equal(mkdir(d.dir, 0777), 0);
    write_labels(&d);
    write_probs(&d);

    SegauditAudit *first = NULL;
    char ctx0[256] = "";
    for (int c = 0; c < (int)NCFG; c++) {
        char masks[320], ctx[256];
        snprintf(ctx, sizeof ctx, "%s cfg=%d(threads %d, mem %llu, band %llu)",
                 d.ctx, c, cfgs[c].n_threads,
                 (unsigned long long)cfgs[c].memory_limit,
                 (unsigned long long)cfgs[c].band_bytes);
        SegauditAudit *a = run_engine(&d, c, masks, sizeof masks);
        compare(&d, &o, a, masks, ctx);
        SegauditDatasetInfo in;
        segaudit_audit_info(a, &in);
        if (in.second_read)
            cov.second_reads++;
        if (in.spilled_bytes)
            cov.spills++;
        /* a full cache computes nothing; an empty one everything */
        uint64_t scored = in.n_images - in.images_skipped;
        if (cfgs[c].cache && (in.images_from_cache != (cfgs[c].cache == 2
                                                        ? scored : 0) ||
                              in.images_computed != (cfgs[c].cache == 1
                                                      ? scored : 0)))
            fail_msg("%s: %llu images computed, %llu from the cache", ctx,
                     (unsigned long long)in.images_computed,
                     (unsigned long long)in.images_from_cache);
        if (in.second_read && cfgs[c].cache == 2)
            cov.cached_second_reads++;
        if (first) {
            compare_runs(&d, first, a, ctx);
            segaudit_audit_free(a);
        } else {
            first = a;
            snprintf(ctx0, sizeof ctx0, "%s", ctx);
        }
    }
    check_labeled(&d, &o, first, ctx0);
    segaudit_audit_free(first);
    if (!getenv("ORACLE_KEEP"))
        remove_tree(d.dir);
    oracle_free(&o);
    dataset_free(&d);
}

/* ---- --on-error skip ------------------------------------------------------
 * An image with a NaN, skipped, must leave exactly the results of the same
 * dataset without that image: thresholds, n_issues and every other image's
 * numbers bit for bit (the skipped image's folded part is undone). */

/* d without image j (its arrays copied). */
static void drop_image(const Dataset *d, uint32_t j, Dataset *out)
{
    *out = *d;
    out->N = d->N - 1;
    size_t per_val = (size_t)d->K * d->H * d->W, per_pix = (size_t)d->H * d->W;
    out->stored = malloc(out->N * per_val * sizeof *out->stored);
    out->half = d->half ? malloc(out->N * per_val * sizeof *out->half) : NULL;
    out->lab = malloc(out->N * per_pix);
    out->ids = malloc(out->N * sizeof *out->ids);
    assert_true(out->stored && out->lab && out->ids && (!d->half || out->half));
    for (uint32_t n = 0, m = 0; n < d->N; n++) {
        if (n == j)
            continue;
        memcpy(out->stored + m * per_val, d->stored + n * per_val,
               per_val * sizeof *out->stored);
        if (d->half)
            memcpy(out->half + m * per_val, d->half + n * per_val,
                   per_val * sizeof *out->half);
        memcpy(out->lab + m * per_pix, d->lab + n * per_pix, per_pix);
        memcpy(out->ids[m], d->ids[n], sizeof out->ids[m]);
        m++;
    }
    out->write_ids = 1;
}

static void check_skip(const Spec *sp, unsigned seed, int cfg)
{
    Dataset d, e;
    gen_dataset(&d, sp, seed);
    if (d.N < 3) {
        dataset_free(&d);
        return;
    }
    d.write_ids = 1; /* ids keep the images matched */
    uint32_t j = d.N / 2;
    drop_image(&d, j, &e);
    /* the bad value: a NaN in image j, in its last row */
    size_t x = val(&d, j, d.K - 1, d.H - 1, d.W / 2);
    d.stored[x] = NAN;
    if (d.half)
        d.half[x] = 0x7e00;
    snprintf(d.dir, sizeof d.dir, "%s/skip_%s_%u_%d", root, sp->name, seed,
             cfg);
    snprintf(e.dir, sizeof e.dir, "%s/skip_%s_%u_%d_ref", root, sp->name,
             seed, cfg);
    assert_int_equal(mkdir(d.dir, 0777), 0);
    assert_int_equal(mkdir(e.dir, 0777), 0);
    write_labels(&d);
    write_probs(&d);
    write_labels(&e);
    write_probs(&e);

    char masks[320];
    skip_mode = 1;
    SegauditAudit *a = run_engine(&d, cfg, masks, sizeof masks);
    skip_mode = 0;
    SegauditAudit *b = run_engine(&e, cfg, masks, sizeof masks);
    SegauditDatasetInfo ia, ib;
    segaudit_audit_info(a, &ia);
    segaudit_audit_info(b, &ib);
    const char *ctx = d.ctx;
    if (ia.images_skipped != 1 || ia.n_issues != ib.n_issues ||
        ia.issue_pixels != ib.issue_pixels)
        fail_msg("%s cfg %d: skipped %llu, n_issues %llu vs %llu, issue "
                 "pixels %llu vs %llu", ctx, cfg,
                 (unsigned long long)ia.images_skipped,
                 (unsigned long long)ia.n_issues,
                 (unsigned long long)ib.n_issues,
                 (unsigned long long)ia.issue_pixels,
                 (unsigned long long)ib.issue_pixels);
    SegauditImageResult ra, rb;
    segaudit_audit_image(a, j, &ra);
    if (!ra.skipped || ra.has_score || !ra.skip_reason ||
        !strstr(ra.skip_reason, "NaN"))
        fail_msg("%s: image %u not skipped for its NaN (%s)", ctx, j,
                 ra.skip_reason ? ra.skip_reason : "no reason");
    for (uint32_t k = 0; k < d.K; k++) {
        SegauditClassResult ca, cb;
        segaudit_audit_class(a, k, &ca);
        segaudit_audit_class(b, k, &cb);
        if (ca.threshold != cb.threshold ||
            ca.labeled_pixels != cb.labeled_pixels ||
            ca.issue_pixels_given != cb.issue_pixels_given)
            fail_msg("%s cfg %d class %u: threshold %.17g vs %.17g", ctx, cfg,
                     k, ca.threshold, cb.threshold);
    }
    for (uint32_t n = 0, m = 0; n < d.N; n++) {
        if (n == j)
            continue;
        segaudit_audit_image(a, n, &ra);
        segaudit_audit_image(b, m, &rb);
        if (strcmp(ra.id, rb.id) || ra.issue_pixels != rb.issue_pixels ||
            ra.valid_pixels != rb.valid_pixels ||
            ra.has_score != rb.has_score || ra.regions != rb.regions ||
            (ra.has_score && memcmp(ra.score, rb.score, sizeof ra.score)))
            fail_msg("%s cfg %d image %s: differs from the dataset without "
                     "the skipped image (softmin %.17g vs %.17g)",
                     ctx, cfg, ra.id, ra.softmin, rb.softmin);
        m++;
    }
    segaudit_audit_free(a);
    segaudit_audit_free(b);
    if (!getenv("ORACLE_KEEP")) {
        remove_tree(d.dir);
        remove_tree(e.dir);
    }
    dataset_free(&d);
    dataset_free(&e);
}

static void test_skip(void **state)
{
    (void)state;
    static const Spec specs[] = {
        {"skip_normal", 0, PK_NORMAL, 1, 1, 0, 0},
        {"skip_unnorm", 32, -1, 0, 1, 0, 1},
        {"skip_ds", 32, PK_NORMAL, 1, 0, -1, 0},
    };
    for (size_t i = 0; i < 3; i++)
        for (unsigned seed = 1; seed <= 4; seed++)
            check_skip(&specs[i], seed, (int)(seed % NCFG));
}

static void check_specs(const Spec *specs, size_t nspecs, unsigned nseeds)
{
    for (size_t i = 0; i < nspecs; i++)
        for (unsigned seed = 1; seed <= nseeds; seed++)
            check_dataset(&specs[i], seed);
}

/* ---- self-checks of the oracle's helpers -------------------------------- */

static void test_oracle_helpers(void **state)
{
    (void)state;
    /* half rounding: exact values, ties to even, subnormals, carries */
    assert_int_equal(half_from_double(1.0), 0x3c00);
    assert_int_equal(half_from_double(0.5), 0x3800);
    assert_int_equal(half_from_double(65504.0), 0x7bff);
    assert_int_equal(half_from_double(0x1p-24), 0x0001);
    assert_int_equal(half_from_double(0x1p-25), 0x0000);      /* tie->even */
    assert_int_equal(half_from_double(0x1.8p-24), 0x0002);    /* tie->even */
    assert_int_equal(half_from_double(0x1p-14), 0x0400);
    assert_int_equal(half_from_double(0x1.ff8p-15), 0x03ff);
    assert_int_equal(half_from_double(0x1.ffcp-15), 0x0400);  /* carry */
    assert_int_equal(half_from_double(1.0 + 0x1p-11), 0x3c00); /* tie */
    assert_int_equal(half_from_double(1.0 + 0x3p-11), 0x3c02); /* tie */
    assert_int_equal(half_from_double(2.0 - 0x1p-12), 0x4000); /* carry */
    for (uint32_t h = 0; h < 0x7c00; h++)
        assert_int_equal(half_from_double(half_to_double((uint16_t)h)), h);
    /* round half to even of block label means */
    assert_true(nearbyint(1.5) == 2 && nearbyint(2.5) == 2 &&
                nearbyint(0.5) == 0);
}

/* ---- scenarios ---------------------------------------------------------- */

static void test_normalised(void **state)
{
    (void)state;
    static const Spec specs[] = {
        {"normalised", 0, PK_NORMAL, 0, 1, 0, 0},
    };
    static const Spec many[] = {
        {"many_images", -1, PK_NORMAL, 1, 1, 0, 2},
        {"many_images_ds", -1, PK_NORMAL, 1, 2, -1, 2},
    };
    check_specs(specs, 1, 24);
    check_specs(many, 2, 4);
}

static void test_float16(void **state)
{
    (void)state;
    static const Spec specs[] = {
        {"float16", 16, PK_NORMAL, 0, 1, 0, 0},
    };
    unsigned ties = cov.cut_ties;
    check_specs(specs, 1, 20);
    /* the stable tie order must have decided at least once */
    assert_true(only || cov.cut_ties > ties);
}

static void test_ignored(void **state)
{
    (void)state;
    static const Spec specs[] = {
        {"ignored", 0, PK_NORMAL, 1, 1, 0, 0},
        {"ignored_f16", 16, PK_NORMAL, 1, 1, 0, 0},
        {"ignored_unnorm", -1, -1, 1, 1, 0, 0},
    };
    unsigned voids = cov.all_void_images;
    check_specs(specs, 3, 12);
    assert_true(only || cov.all_void_images > voids);
}

static void test_unnormalised(void **state)
{
    (void)state;
    static const Spec specs[] = {
        {"uniform", -1, PK_UNIFORM, 0, 1, 0, 0},
        {"sigmoid", -1, PK_SIGMOID, 0, 1, 0, 0},
        {"scaled", -1, PK_SCALED, 0, 1, 0, 0},
    };
    static const Spec big[] = {
        {"big_uniform", 32, PK_UNIFORM, 0, 1, 0, 1},
        {"big_sigmoid_f16", 16, PK_SIGMOID, 1, 1, 0, 1},
        {"big_normal_ds2", 64, PK_NORMAL, 1, 2, 0, 1},
    };
    unsigned reads = cov.second_reads, spills = cov.spills;
    unsigned cached = cov.cached_second_reads;
    check_specs(specs, 3, 12);
    check_specs(big, 3, 2);
    assert_true(only || cov.second_reads > reads);
    /* a second read after pass 1 came from the cache: its coarse
     * histogram found the cut-off */
    assert_true(only || cov.cached_second_reads > cached);
    assert_true(only || cov.spills > spills);
}

static void test_downsample(void **state)
{
    (void)state;
    static const Spec specs[] = {
        {"ds_mean", 0, PK_NORMAL, 0, 0, SEGAUDIT_DS_LABELS_MEAN, 0},
        {"ds_mode", 0, PK_NORMAL, 0, 0, SEGAUDIT_DS_LABELS_MODE, 0},
        {"ds_ignored", -1, PK_NORMAL, 1, 0, -1, 0},
        {"ds_f16", 16, PK_NORMAL, 0, 0, -1, 0},
        {"ds_unnorm", -1, -1, 1, 0, -1, 0},
    };
    unsigned voids = cov.void_blocks, means = cov.ignored_mean_blocks;
    check_specs(specs, 5, 10);
    assert_true(only || cov.void_blocks > voids);
    assert_true(only || cov.ignored_mean_blocks > means);
}

static void test_logits(void **state)
{
    (void)state;
    static const Spec specs[] = {
        {"logits", 0, PK_LOGITS, 0, 1, 0, 0},
        {"logits_f16_ignored", 16, PK_LOGITS, 1, 1, 0, 0},
        {"logits_ds", -1, PK_LOGITS, 1, 0, -1, 0},
    };
    check_specs(specs, 3, 10);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(root))
        return -1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    only = getenv("ORACLE_ONLY");
    if (only && !*only)
        only = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (getenv("ORACLE_KEEP"))
        print_message("datasets kept in %s\n", root);
    else
        remove_tree(root);
    print_message("oracle: %u datasets (%u redrawn), %u engine runs; "
                  "second reads %u, spilling runs %u, ties at the cut-off "
                  "%u, images without valid pixels %u, void blocks %u, "
                  "tied argmax pixels %u, mode ties %u, n_issues = 0: %u, "
                  "clamped thresholds %u (deciding %u), p-hat planted "
                  "near t - eps %u, p-hat in [t - eps, t) %u\n",
                  cov.datasets, cov.redraws, cov.runs, cov.second_reads,
                  cov.spills, cov.cut_ties, cov.all_void_images,
                  cov.void_blocks, cov.argmax_ties, cov.mode_ties,
                  cov.n_issues_zero, cov.clamped, cov.clamp_decides,
                  cov.eps_planted, cov.eps_decides);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle_helpers),
        cmocka_unit_test(test_normalised),
        cmocka_unit_test(test_float16),
        cmocka_unit_test(test_ignored),
        cmocka_unit_test(test_unnormalised),
        cmocka_unit_test(test_downsample),
        cmocka_unit_test(test_logits),
        cmocka_unit_test(test_skip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
