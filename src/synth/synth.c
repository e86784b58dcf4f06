/* segaudit_synth(): synthetic datasets with known annotation errors.
 *
 * Each image i is made from its own random streams (seed, i, purpose):
 * the scene (synth_scene.c), the error injected into its given labels, and
 * the simulated model below.  Worker threads render whole images; the HDF5
 * writes and truth.csv rows happen in an ordered region, in image order, so
 * the files do not depend on the thread count.  Memory per thread: one
 * image of probabilities (K*H*W values) plus about 8 bytes per pixel.
 *
 * The model sees the clean labels.  At a pixel of true class t it puts
 *   - a floor e on every class (its total varies with a smooth field),
 *   - mass on the class across the nearest edge, decaying over a few pixels
 *     (blurred boundaries; right at the edge the neighbour sometimes wins),
 *   - in smooth-noise regions, mass on the class t is confused with (car vs
 *     truck, rider vs person, terrain vs vegetation, ...), sometimes most,
 *   - in rarer regions, mass on a random "distractor" class,
 *   - a few small blobs where it is confidently wrong (thin or distant
 *     things a real model misses), so that one very low pixel score is
 *     common on correctly labeled images too,
 * and the rest on t.  Its quality (floor, blur, confusion) varies per
 * image.  Only tables and bilinear value noise: no exp() per pixel. */
#include "segaudit/synth.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <omp.h>

#include "common/error.h"
#include "io/h5_write.h"
#include "io/png_io.h"
#include "synth/synth_scene.h"

/* ---- float16 ----------------------------------------------------------- */

/* IEEE binary16 nearest to f, ties to even (F. Giesen's method). */
static inline uint16_t f32_to_f16(float f)
{
    uint32_t u, sign;
    uint16_t o;
    memcpy(&u, &f, sizeof u);
    sign = u & 0x80000000u;
    u ^= sign;
    if (u >= 0x47800000u) { /* >= 65536: inf or NaN */
        o = u > 0x7f800000u ? 0x7e00 : 0x7c00;
    } else if (u < 0x38800000u) { /* below 2^-14: subnormal or zero */
        float t;
        memcpy(&t, &u, sizeof t);
        t += 0.5f; /* the FPU rounds to nearest even */
        memcpy(&u, &t, sizeof u);
        o = (uint16_t)(u - 0x3f000000u);
    } else {
        uint32_t odd = (u >> 13) & 1u;
        u += 0xc8000fffu + odd; /* rebias the exponent and round */
        o = (uint16_t)(u >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

uint16_t sa_synth_f32_to_f16(float f)
{
    return f32_to_f16(f);
}

/* ---- smooth noise ------------------------------------------------------ */

/* Value noise: Gaussian values on a grid of cells of `cell` pixels,
 * interpolated bilinearly.  Rows are evaluated one at a time. */
typedef struct Noise {
    int gh, gw;
    float *g;     /* gh*gw grid values */
    int *ix;      /* per column: grid column left of it */
    float *tx;    /* per column: fraction towards the next */
    float *line;  /* one grid row, interpolated vertically */
    double cell;
} Noise;

static double gauss(SaRng *r)
{
    double u1 = 1.0 - sa_rng_u(r), u2 = sa_rng_u(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static int noise_alloc(Noise *n, uint32_t h, uint32_t w, double cell)
{
    n->cell = cell < 2 ? 2 : cell;
    n->gh = (int)(h / n->cell) + 2;
    n->gw = (int)(w / n->cell) + 2;
    n->g = malloc(sizeof *n->g * (size_t)n->gh * n->gw);
    n->ix = malloc(sizeof *n->ix * w);
    n->tx = malloc(sizeof *n->tx * w);
    n->line = malloc(sizeof *n->line * (size_t)n->gw);
    if (!n->g || !n->ix || !n->tx || !n->line)
        return -1;
    for (uint32_t x = 0; x < w; x++) {
        double f = x / n->cell, t;
        n->ix[x] = (int)f;
        t = f - n->ix[x];
        n->tx[x] = (float)(t * t * (3 - 2 * t)); /* smoothstep: round blobs */
    }
    return 0;
}

static void noise_free(Noise *n)
{
    free(n->g);
    free(n->ix);
    free(n->tx);
    free(n->line);
}

static void noise_seed(Noise *n, SaRng *r)
{
    for (int i = 0; i < n->gh * n->gw; i++)
        n->g[i] = (float)gauss(r);
}

/* out[x] += amp * noise(y, x) for the w columns of row y. */
static void noise_row(const Noise *n, uint32_t y, uint32_t w, float amp,
                      float *out)
{
    double fy = y / n->cell;
    int iy = (int)fy;
    float ty = (float)((fy - iy) * (fy - iy) * (3 - 2 * (fy - iy)));
    const float *a = n->g + (size_t)iy * n->gw, *b = a + n->gw;
    for (int j = 0; j < n->gw; j++)
        n->line[j] = amp * (a[j] + ty * (b[j] - a[j]));
    for (uint32_t x = 0; x < w; x++) {
        const float *l = n->line + n->ix[x];
        out[x] += l[0] + n->tx[x] * (l[1] - l[0]);
    }
}

/* ---- edges ------------------------------------------------------------- */

/* For every pixel: the distance (0 = adjacent to an edge, saturating at
 * 255 = none) to the nearest pixel of another scene class along its row
 * or column, and that class.  col and colc are w-sized scratch. */
static void edges(const SaScene *s, uint8_t *dist, uint8_t *nb, int *col,
                  uint8_t *colc)
{
    const int H = (int)s->h, W = (int)s->w;
#define SET(d_, c_) do { int d__ = (d_); if (d__ < dist[j]) { \
        dist[j] = (uint8_t)(d__ > 254 ? 254 : d__); nb[j] = (c_); } } while (0)
    for (int x = 0; x < W; x++)
        col[x] = -1;
    for (int y = 0; y < H; y++) {
        const uint8_t *row = s->cls + (size_t)y * W, *up = row - W;
        int start = 0, end = W - 1;
        for (int x = 0; x < W; x++) {
            size_t j = (size_t)y * W + x;
            if (x > 0 && row[x] != row[x - 1])
                start = x;
            dist[j] = 255;
            nb[j] = row[x];
            if (start > 0)
                SET(x - start, row[start - 1]);
        }
        for (int x = W - 1; x >= 0; x--) {
            size_t j = (size_t)y * W + x;
            if (x < W - 1 && row[x] != row[x + 1])
                end = x;
            if (end < W - 1)
                SET(end - x, row[end + 1]);
            if (y > 0 && row[x] != up[x]) {
                col[x] = y;
                colc[x] = up[x];
            }
            if (col[x] >= 0)
                SET(y - col[x], colc[x]);
        }
    }
    for (int x = 0; x < W; x++)
        col[x] = -1;
    for (int y = H - 1; y >= 0; y--) {
        const uint8_t *row = s->cls + (size_t)y * W, *down = row + W;
        for (int x = 0; x < W; x++) {
            size_t j = (size_t)y * W + x;
            if (y < H - 1 && row[x] != down[x]) {
                col[x] = y;
                colc[x] = down[x];
            }
            if (col[x] >= 0)
                SET(col[x] - y, colc[x]);
        }
    }
#undef SET
}

/* ---- the model --------------------------------------------------------- */

typedef struct Model {
    float floor;      /* total floor mass over all classes */
    float radius;     /* boundary blur, pixels */
    float bmax;       /* neighbour's share right at an edge */
    float conf_thr, conf_max; /* confusion regions: threshold, top share */
    float dist_thr, dist_max; /* distractor regions */
} Model;

/* Scene classes a distractor region is taken for, roughly by frequency. */
static const uint8_t DISTRACT[16] = {
    SC_ROAD, SC_ROAD, SC_BUILDING, SC_BUILDING, SC_VEG, SC_VEG, SC_CAR,
    SC_SIDEWALK, SC_SIDEWALK, SC_TERRAIN, SC_SKY, SC_FENCE, SC_WALL,
    SC_PERSON, SC_POLE, SC_TRUCK};

/* Noise fields and their cell sizes as fractions of H.  Per row they make
 * four fields: confidence (CONF + CONF2/2), confusion (MIX + MIX2/2), edge
 * jitter (EDGE) and distractor (DIST). */
enum { N_CONF, N_CONF2, N_MIX, N_MIX2, N_EDGE, N_DIST, N_NOISE };
static const double NOISE_CELL[N_NOISE] = {1 / 3.0, 1 / 10.0, 1 / 5.0,
                                           1 / 14.0, 1 / 24.0, 1 / 6.0};

typedef struct Worker {
    SaScene sc;
    uint8_t *given, *dist, *nb, *colc, *dcls;
    uint8_t *blob;   /* h*w: 0, or 1 + the class of a confident mistake */
    int *col;
    Noise noise[N_NOISE];
    float *field[4]; /* one row of each field */
    float *erow;     /* one row of floor values */
    uint16_t *hrow;  /* the same as float16 */
    void *tensor;
    SaH5Encoded enc;
} Worker;

static void worker_free(Worker *w)
{
    sa_scene_free(&w->sc);
    void *bufs[] = {w->given, w->dist, w->nb, w->colc, w->dcls, w->blob,
                    w->col,
                    w->field[0], w->field[1], w->field[2], w->field[3],
                    w->erow, w->hrow, w->tensor};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    for (int i = 0; i < N_NOISE; i++)
        noise_free(&w->noise[i]);
    sa_h5w_encoded_free(&w->enc);
    memset(w, 0, sizeof *w);
}

/* 0 or -1 (out of memory; w is then freed). */
static int worker_alloc(Worker *w, uint32_t h, uint32_t wd,
                        size_t tensor_bytes)
{
    size_t n = (size_t)h * wd;
    int bad = 0;
    memset(w, 0, sizeof *w);
    if (sa_scene_alloc(&w->sc, h, wd) != 0)
        return -1;
    bad |= !(w->given = malloc(n)) || !(w->dist = malloc(n)) ||
           !(w->blob = malloc(n)) ||
           !(w->nb = malloc(n)) || !(w->colc = malloc(wd)) ||
           !(w->col = malloc(sizeof *w->col * wd)) ||
           !(w->erow = malloc(sizeof *w->erow * wd)) ||
           !(w->hrow = malloc(sizeof *w->hrow * wd)) ||
           !(w->tensor = malloc(tensor_bytes));
    for (int i = 0; i < 4; i++)
        bad |= !(w->field[i] = malloc(sizeof(float) * wd));
    for (int i = 0; i < N_NOISE; i++)
        bad |= noise_alloc(&w->noise[i], h, wd, h * NOISE_CELL[i]) != 0;
    if (!bad) {
        const Noise *d = &w->noise[N_DIST];
        bad = !(w->dcls = malloc((size_t)d->gh * d->gw));
    }
    if (bad) {
        worker_free(w);
        return -1;
    }
    return 0;
}

static void model_seed(Worker *w, SaRng *r, const uint8_t *map, Model *m)
{
    float q = (float)pow(sa_rng_u(r), 1.3); /* 0 = a good model */
    float unit = (float)w->sc.h / 256.0f;
    m->floor = 0.008f + 0.05f * q;
    m->radius = (unit < 1 ? 1 : unit) * (0.8f + 1.2f * q);
    m->bmax = 0.4f + 0.12f * q;
    m->conf_thr = 1.3f - 0.6f * q;
    m->conf_max = 0.45f + 0.45f * q;
    m->dist_thr = 1.9f - 0.6f * q;
    m->dist_max = 0.5f + 0.4f * q;
    for (int i = 0; i < N_NOISE; i++)
        noise_seed(&w->noise[i], r);
    const Noise *d = &w->noise[N_DIST];
    for (int i = 0; i < d->gh * d->gw; i++)
        w->dcls[i] = map[DISTRACT[sa_rng_int(r, 16)]];

    /* Confident mistakes: about 3-12 small disks per 256x512 pixels, each
     * smaller than the smallest injected error. */
    const uint32_t H = w->sc.h, W = w->sc.w;
    memset(w->blob, 0, (size_t)H * W);
    double area = (double)H * W / (256.0 * 512.0);
    int nblob = (int)(area * (3 + 9 * q) * sa_rng_u(r) + 1.0);
    for (int b = 0; b < nblob; b++) {
        int cy = (int)sa_rng_int(r, H), cx = (int)sa_rng_int(r, W);
        float rad = (unit < 1 ? 1 : unit) * (0.6f + 1.4f * (float)sa_rng_u(r));
        uint8_t c = (uint8_t)(1 + map[DISTRACT[sa_rng_int(r, 16)]]);
        int ri = (int)rad + 1;
        for (int y = cy - ri; y <= cy + ri; y++)
            for (int x = cx - ri; x <= cx + ri; x++) {
                float dy = (float)(y - cy), dx = (float)(x - cx);
                if (y >= 0 && x >= 0 && y < (int)H && x < (int)W &&
                    dy * dy + dx * dx <= rad * rad)
                    w->blob[(size_t)y * W + x] = c;
            }
    }
}

static inline float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Probabilities of the image into w->tensor ([K][H][W], float or the raw
 * bits of float16). */
static void model_render(Worker *w, const Model *m, int K,
                         const uint8_t *map, int f16)
{
    const uint32_t H = w->sc.h, W = w->sc.w;
    const size_t plane = (size_t)H * W;
    const float inv_k = 1.0f / (float)K;
    float *pf = w->tensor;
    uint16_t *ph = w->tensor;

    edges(&w->sc, w->dist, w->nb, w->col, w->colc);
    for (uint32_t y = 0; y < H; y++) {
        static const int src[N_NOISE] = {0, 0, 1, 1, 2, 3};
        static const float amp[N_NOISE] = {1, 0.5f, 1, 0.5f, 1, 1};
        for (int i = 0; i < 4; i++)
            memset(w->field[i], 0, sizeof(float) * W);
        for (int i = 0; i < N_NOISE; i++)
            noise_row(&w->noise[i], y, W, amp[i], w->field[src[i]]);
        const float *fa = w->field[0], *fb = w->field[1],
                    *fc = w->field[2], *fd = w->field[3];
        /* the distractor class of the nearest grid point, where the
         * noise (and so the region) peaks */
        const Noise *dn = &w->noise[N_DIST];
        const uint8_t *dcls_row =
            w->dcls + (size_t)(int)(y / dn->cell + 0.5) * dn->gw;
        size_t base = (size_t)y * W;
        for (uint32_t x = 0; x < W; x++) {
            float ftot = clampf(m->floor * (1.0f + 0.6f * fa[x]), 0.002f,
                                0.3f);
            w->erow[x] = ftot * inv_k;
            if (f16)
                w->hrow[x] = f32_to_f16(w->erow[x]);
        }
        for (int k = 0; k < K; k++) {
            if (f16)
                memcpy(ph + k * plane + base, w->hrow, W * sizeof *ph);
            else
                memcpy(pf + k * plane + base, w->erow, W * sizeof *pf);
        }
        for (uint32_t x = 0; x < W; x++) {
            size_t j = base + x;
            int sc = w->sc.cls[j];
            float e = w->erow[x], rem = 1.0f - e * (float)K;
            float mb = 0, mc = 0, md = 0;
            if (w->dist[j] < 255) {
                float rad = m->radius * clampf(1.0f + 0.35f * fc[x],
                                               0.3f, 2.0f);
                float q = 1.0f - (w->dist[j] + 0.5f) / (rad + 0.5f);
                if (q > 0)
                    mb = clampf(m->bmax * (1.0f + 0.3f * fc[x]), 0, 0.75f)
                         * q;
            }
            uint8_t cf = map[sa_scene_confuse[sc]], t = map[sc];
            float z = fb[x] - m->conf_thr;
            if (cf != t && z > 0)
                mc = m->conf_max * (z > 0.7f ? 1.0f : z / 0.7f);
            z = fd[x] - m->dist_thr;
            if (z > 0)
                md = m->dist_max * (z > 0.5f ? 1.0f : z / 0.5f);
            float ex = mb + mc + md;
            if (ex > 0.97f) {
                float f = 0.97f / ex;
                mb *= f, mc *= f, md *= f, ex = 0.97f;
            }
            /* up to four classes get mass on top of the floor */
            uint8_t cls[4] = {t, map[w->nb[j]], cf,
                              dcls_row[dn->ix[x] + (dn->tx[x] > 0.5f)]};
            if (w->blob[j]) {
                cls[3] = (uint8_t)(w->blob[j] - 1);
                mb = mc = 0;
                md = ex = 1.0f;
            }
            float val[4] = {rem * (1.0f - ex), rem * mb, rem * mc, rem * md};
            for (int a = 0; a < 4; a++) {
                if (val[a] <= 0)
                    continue;
                for (int b = a + 1; b < 4; b++)
                    if (cls[b] == cls[a]) {
                        val[a] += val[b];
                        val[b] = 0;
                    }
                float v = e + val[a];
                if (f16)
                    ph[cls[a] * plane + j] = f32_to_f16(v);
                else
                    pf[cls[a] * plane + j] = v;
            }
        }
    }
}

/* ---- settings ---------------------------------------------------------- */

void segaudit_synth_default_settings(SegauditSynthSettings *s)
{
    memset(s, 0, sizeof *s);
    s->n_classes = 19;
    s->error_rate = 0.3;
    s->dtype = SEGAUDIT_SYNTH_F32;
    s->compress = SEGAUDIT_SYNTH_NONE;
    s->gzip_level = 4;
    s->void_value = -1;
}

static int validate(const SegauditSynthSettings *s, SaErr *err)
{
    const int e = SEGAUDIT_EINVAL;
    if (!s->out_dir || !*s->out_dir)
        return sa_err(err, e, "the output folder is required");
    if (s->n_images < 1 || s->n_images > ((uint64_t)1 << 40))
        return sa_err(err, e, "the number of images must be from 1 to 2^40");
    if (s->height < 16 || s->width < 16 || s->height > 65535 ||
        s->width > 65535)
        return sa_err(err, e, "the image size %ux%u is not from 16x16 to "
                      "65535x65535", s->height, s->width);
    if (s->n_classes < 2 || s->n_classes > 255)
        return sa_err(err, e, "the number of classes %d is not from 2 to 255",
                      s->n_classes);
    if (!(s->error_rate >= 0 && s->error_rate <= 1))
        return sa_err(err, e, "the error rate must be from 0 to 1");
    if (s->dtype != SEGAUDIT_SYNTH_F32 && s->dtype != SEGAUDIT_SYNTH_F16)
        return sa_err(err, e, "unknown dtype %d", s->dtype);
    if (s->compress != SEGAUDIT_SYNTH_NONE &&
        s->compress != SEGAUDIT_SYNTH_GZIP)
        return sa_err(err, e, "unknown compression %d", s->compress);
    if (s->compress == SEGAUDIT_SYNTH_GZIP &&
        (s->gzip_level < 1 || s->gzip_level > 9))
        return sa_err(err, e, "the gzip level %d is not from 1 to 9",
                      s->gzip_level);
    if (s->void_value != -1 &&
        (s->void_value < s->n_classes || s->void_value > 255))
        return sa_err(err, e, "the void value %d must be from K=%d to 255 "
                      "(not a class)", s->void_value, s->n_classes);
    if (s->n_threads < 0 || s->n_threads > 4096)
        return sa_err(err, e, "the thread count %d is not from 0 to 4096",
                      s->n_threads);
    return 0;
}

static void class_map(int K, uint8_t map[SC_N])
{
    for (int c = 0; c < SC_N; c++)
        map[c] = (uint8_t)(c * K / SC_N);
}

/* Digits of the image ids: at least 6, enough for n-1. */
static int id_width(uint64_t n)
{
    int d = 1;
    for (uint64_t v = n > 0 ? n - 1 : 0; v >= 10; v /= 10)
        d++;
    return d < 6 ? 6 : d;
}

static void format_id(char *buf, size_t size, int width, uint64_t i)
{
    snprintf(buf, size, "synth_%0*" PRIu64, width, i);
}

int sa_synth_clean_labels(const SegauditSynthSettings *s, uint64_t index,
                          uint8_t *out)
{
    SaErr err = {0};
    SaScene sc;
    uint8_t map[SC_N];
    int rc = validate(s, &err);
    if (rc)
        return rc;
    if (sa_scene_alloc(&sc, s->height, s->width) != 0)
        return SEGAUDIT_ENOMEM;
    SaRng r = sa_rng_for(s->seed, index, SA_STREAM_SCENE);
    sa_scene_render(&sc, &r);
    class_map(s->n_classes, map);
    for (size_t j = 0; j < (size_t)s->height * s->width; j++)
        out[j] = map[sc.cls[j]];
    sa_scene_free(&sc);
    return 0;
}

/* round(rate * n) images, chosen by the seed (selection sampling). */
static uint8_t *select_images(uint64_t n, double rate, uint64_t seed)
{
    uint8_t *sel = calloc(n, 1);
    uint64_t want = (uint64_t)floor(rate * (double)n + 0.5), got = 0;
    SaRng r = sa_rng_for(seed, 0, SA_STREAM_SELECT);
    if (!sel)
        return NULL;
    if (want > n)
        want = n;
    for (uint64_t i = 0; i < n && got < want; i++)
        if ((double)(n - i) * sa_rng_u(&r) < (double)(want - got)) {
            sel[i] = 1;
            got++;
        }
    return sel;
}

/* ---- files ------------------------------------------------------------- */

typedef struct Paths {
    char *dir, *labels, *probs, *probs_tmp, *truth, *truth_tmp, *classes,
        *classes_tmp;
    int made_dir, made_labels;
} Paths;

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (p) {
        memcpy(p, a, la);
        p[la] = '/';
        memcpy(p + la + 1, b, lb + 1);
    }
    return p;
}

static void paths_free(Paths *p)
{
    free(p->labels);
    free(p->probs);
    free(p->probs_tmp);
    free(p->truth);
    free(p->truth_tmp);
    free(p->classes);
    free(p->classes_tmp);
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    char *p = strdup(path);
    int rc = 0;
    if (!p)
        return -1;
    for (char *s = p + 1; *s && rc == 0; s++)
        if (*s == '/' && s[-1] != '/') {
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                rc = -1;
            *s = '/';
        }
    if (rc == 0 && mkdir(p, 0777) != 0 && errno != EEXIST)
        rc = -1;
    free(p);
    return rc;
}

/* "synth_<digits>.png": a label this command wrote. */
static int is_ours(const char *name)
{
    size_t n = strlen(name);
    if (n < 11 || strncmp(name, "synth_", 6) || strcmp(name + n - 4, ".png"))
        return 0;
    for (size_t i = 6; i < n - 4; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    return 1;
}

/* Creates the folders; refuses (or with force clears) an existing dataset. */
static int prepare(const SegauditSynthSettings *s, Paths *p, SaErr *err)
{
    struct stat st;
    p->dir = (char *)s->out_dir;
    if (!(p->labels = join(p->dir, "labels")) ||
        !(p->probs = join(p->dir, "probs.h5")) ||
        !(p->probs_tmp = join(p->dir, "probs.h5.partial")) ||
        !(p->truth = join(p->dir, "truth.csv")) ||
        !(p->truth_tmp = join(p->dir, "truth.csv.partial")) ||
        !(p->classes = join(p->dir, "classes.txt")) ||
        !(p->classes_tmp = join(p->dir, "classes.txt.partial")))
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    p->made_dir = stat(p->dir, &st) != 0;
    if (make_dirs(p->dir) != 0)
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot create the folder: %s",
                      p->dir, strerror(errno));
    p->made_labels = stat(p->labels, &st) != 0;
    if (mkdir(p->labels, 0777) != 0 && errno != EEXIST)
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot create the folder: %s",
                      p->labels, strerror(errno));
    DIR *d = opendir(p->labels);
    if (!d)
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot open: %s", p->labels,
                      strerror(errno));
    int busy = 0, rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        busy = 1;
        if (s->force && is_ours(e->d_name)) {
            char *f = join(p->labels, e->d_name);
            if (!f || unlink(f) != 0)
                rc = sa_err(err, SEGAUDIT_EIO, "%s/%s: cannot remove: %s",
                            p->labels, e->d_name,
                            f ? strerror(errno) : "out of memory");
            free(f);
        }
    }
    closedir(d);
    if (rc)
        return rc;
    int has_probs = stat(p->probs, &st) == 0;
    if (!s->force && (busy || has_probs))
        return sa_err(err, SEGAUDIT_EINPUT, "%s: already holds a dataset (%s)"
                      "; use --force (force = 1) to overwrite it", p->dir,
                      busy ? "labels/ is not empty" : "probs.h5 exists");
    if (s->force) { /* no stale part may look complete after a failure */
        const char *old[3] = {p->probs, p->truth, p->classes};
        for (int i = 0; i < 3; i++)
            if (unlink(old[i]) != 0 && errno != ENOENT)
                return sa_err(err, SEGAUDIT_EIO, "%s: cannot remove: %s",
                              old[i], strerror(errno));
    }
    return 0;
}

static int write_classes(const char *path, int K, SaErr *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot create: %s", path,
                      strerror(errno));
    for (int k = 0; k < K; k++) {
        if (K == SC_N)
            fprintf(f, "%s\n", sa_scene_class_names[k]);
        else
            fprintf(f, "class_%d\n", k);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return sa_err(err, SEGAUDIT_EIO, "%s: write failed: %s", path,
                      strerror(errno));
    return 0;
}

static int write_png(const char *path, const uint8_t *lab, uint32_t h,
                     uint32_t w, SaErr *err)
{
    SaMaskPng *m;
    int rc = sa_mask_png_create(&m, path, w, h, err);
    for (uint32_t y = 0; rc == 0 && y < h; y++)
        rc = sa_mask_png_write_row(m, lab + (size_t)y * w, err);
    if (rc) {
        sa_mask_png_abort(m);
        return rc;
    }
    return sa_mask_png_finish(m, err);
}

/* ---- the run ----------------------------------------------------------- */

typedef struct Job {
    const SegauditSynthSettings *s;
    const Paths *p;
    uint8_t map[SC_N];
    const uint8_t *selected; /* per image: 1 = inject an error */
    uint8_t *written;        /* per image: its label PNG exists */
    int width;               /* digits of the ids */
    SaH5Writer *h5;
    FILE *truth;
    int gzip;
} Job;

typedef struct Result {
    int kind;
    uint64_t changed;
} Result;

static int cancelled(const Job *j)
{
    return j->s->cancel && *j->s->cancel;
}

/* Everything of image i that needs no HDF5: scene, error, label PNG,
 * probabilities (compressed when gzip). */
static int render_image(Worker *w, const Job *j, uint64_t i, Result *res,
                        SaErr *err)
{
    const SegauditSynthSettings *s = j->s;
    const size_t n = (size_t)s->height * s->width;
    char id[64], name[80];
    Model m;

    SaRng r = sa_rng_for(s->seed, i, SA_STREAM_SCENE);
    sa_scene_render(&w->sc, &r);
    for (size_t k = 0; k < n; k++)
        w->given[k] = j->map[w->sc.cls[k]];
    res->kind = SA_ERR_NONE;
    res->changed = 0;
    if (j->selected[i]) {
        r = sa_rng_for(s->seed, i, SA_STREAM_ERROR);
        res->kind = sa_scene_inject(&w->sc, &r, j->map, s->void_value,
                                    w->given, &res->changed);
    }
    format_id(id, sizeof id, j->width, i);
    snprintf(name, sizeof name, "%s.png", id);
    char *path = join(j->p->labels, name);
    if (!path)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    int rc = write_png(path, w->given, s->height, s->width, err);
    free(path);
    if (rc)
        return rc;
    j->written[i] = 1;

    r = sa_rng_for(s->seed, i, SA_STREAM_MODEL);
    model_seed(w, &r, j->map, &m);
    model_render(w, &m, s->n_classes, j->map,
                 s->dtype == SEGAUDIT_SYNTH_F16);
    if (j->gzip)
        return sa_h5w_encode(j->h5, w->tensor, &w->enc, err);
    return 0;
}

/* In image order: the tensor and the truth row of image i. */
static int commit_image(Worker *w, const Job *j, uint64_t i,
                        const Result *res, SaErr *err)
{
    char id[64];
    int rc = sa_h5w_write_image(j->h5, i, w->tensor, &w->enc, err);
    if (rc)
        return rc;
    format_id(id, sizeof id, j->width, i);
    if (fprintf(j->truth, "%s,%d,%s,%" PRIu64 "\n", id,
                res->kind != SA_ERR_NONE, sa_error_kind_names[res->kind],
                res->changed) < 0)
        return sa_err(err, SEGAUDIT_EIO, "%s: write failed: %s",
                      j->p->truth_tmp, strerror(errno));
    return 0;
}

static int run_images(const Job *j, int threads, SaErr *err)
{
    const SegauditSynthSettings *s = j->s;
    const long long N = (long long)s->n_images;
    const size_t tensor_bytes = sa_h5w_image_bytes(j->h5);
    int failed = 0;

#pragma omp parallel num_threads(threads)
    {
        Worker w;
        SaErr e = {0};
        if (worker_alloc(&w, s->height, s->width, tensor_bytes) != 0)
            sa_err(&e, SEGAUDIT_ENOMEM, "out of memory (%zu MB per thread)",
                   (tensor_bytes + 10 * (size_t)s->height * s->width) >> 20);
#pragma omp for ordered schedule(dynamic, 1)
        for (long long i = 0; i < N; i++) {
            Result res;
            int f, rc = e.code;
#pragma omp atomic read
            f = failed;
            if (!f && !rc && cancelled(j))
                rc = sa_err(&e, SEGAUDIT_ECANCEL, "interrupted");
            if (!f && !rc)
                rc = render_image(&w, j, (uint64_t)i, &res, &e);
#pragma omp ordered
            {
#pragma omp atomic read
                f = failed;
                if (!f && !rc)
                    rc = commit_image(&w, j, (uint64_t)i, &res, &e);
            }
            if (rc) {
#pragma omp atomic write
                failed = 1;
            }
        }
        if (e.code) {
#pragma omp critical(synth_err)
            sa_err(err, e.code, "%s", e.msg);
        }
        worker_free(&w);
    }
    return err->code;
}

/* /image_ids in blocks, so that memory does not grow with N. */
static int write_ids(const Job *j, SaErr *err)
{
    enum { BLOCK = 4096 };
    const uint64_t N = j->s->n_images;
    char *buf = malloc((size_t)BLOCK * 64);
    const char **ptr = malloc(sizeof *ptr * BLOCK);
    int rc = !buf || !ptr ? sa_err(err, SEGAUDIT_ENOMEM, "out of memory")
                          : sa_h5w_ids_create(j->h5, "/image_ids", N, err);
    for (uint64_t first = 0; rc == 0 && first < N; first += BLOCK) {
        uint64_t cnt = N - first < BLOCK ? N - first : BLOCK;
        for (uint64_t k = 0; k < cnt; k++) {
            format_id(buf + k * 64, 64, j->width, first + k);
            ptr[k] = buf + k * 64;
        }
        rc = sa_h5w_ids_write(j->h5, first, cnt, ptr, err);
    }
    free(buf);
    free(ptr);
    return rc;
}

/* After a failure: nothing that could pass for a dataset stays behind. */
static void clean_up(const Job *j, const Paths *p)
{
    char id[64], name[80];
    unlink(p->probs_tmp);
    unlink(p->truth_tmp);
    unlink(p->classes_tmp);
    for (uint64_t i = 0; j->written && i < j->s->n_images; i++) {
        if (!j->written[i])
            continue;
        format_id(id, sizeof id, j->width, i);
        snprintf(name, sizeof name, "%s.png", id);
        char *f = join(p->labels, name);
        if (f)
            unlink(f);
        free(f);
    }
    if (p->made_labels && p->labels)
        rmdir(p->labels); /* only when empty */
    if (p->made_dir)
        rmdir(p->dir);
}

static int publish(const Paths *p, SaErr *err)
{
    const char *from[3] = {p->classes_tmp, p->probs_tmp, p->truth_tmp};
    const char *to[3] = {p->classes, p->probs, p->truth};
    for (int i = 0; i < 3; i++)
        if (rename(from[i], to[i]) != 0)
            return sa_err(err, SEGAUDIT_EIO, "%s: cannot rename to %s: %s",
                          from[i], to[i], strerror(errno));
    return 0;
}

int segaudit_synth(const SegauditSynthSettings *s, char *errbuf,
                   size_t errlen)
{
    SaErr err = {0};
    Paths p = {0};
    Job j = {0};
    uint8_t *selected = NULL;
    int rc;

    if (errbuf && errlen)
        errbuf[0] = '\0';
    if ((rc = validate(s, &err)) != 0)
        goto out;
    if ((rc = prepare(s, &p, &err)) != 0)
        goto out;
    j.s = s;
    j.p = &p;
    j.width = id_width(s->n_images);
    j.gzip = s->compress == SEGAUDIT_SYNTH_GZIP;
    class_map(s->n_classes, j.map);
    selected = select_images(s->n_images, s->error_rate, s->seed);
    j.written = calloc(s->n_images, 1);
    j.selected = selected;
    if (!selected || !j.written) {
        rc = sa_err(&err, SEGAUDIT_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = write_classes(p.classes_tmp, s->n_classes, &err)) != 0)
        goto fail;

    SaH5WriterOpts o = {s->n_images, (uint64_t)s->n_classes, s->height,
                        s->width,
                        s->dtype == SEGAUDIT_SYNTH_F16 ? SA_F16 : SA_F32, 0,
                        j.gzip ? s->gzip_level : 0};
    if (j.gzip)
        o.chunk_rows = sa_h5w_chunk_rows_for(o.k, o.h, o.w,
                                             o.dtype == SA_F16 ? 2 : 4,
                                             (size_t)1 << 20);
    if ((rc = sa_h5w_create(&j.h5, p.probs_tmp, "/pred_probs", &o, &err)))
        goto fail;
    if (!(j.truth = fopen(p.truth_tmp, "w"))) {
        rc = sa_err(&err, SEGAUDIT_EIO, "%s: cannot create: %s", p.truth_tmp,
                    strerror(errno));
        goto fail;
    }
    fputs("image,mislabeled,error_type,error_pixels\n", j.truth);

    int threads = s->n_threads > 0 ? s->n_threads : omp_get_max_threads();
    if ((uint64_t)threads > s->n_images)
        threads = (int)s->n_images;
    if ((rc = run_images(&j, threads, &err)) != 0 ||
        (rc = write_ids(&j, &err)) != 0)
        goto fail;
    rc = sa_h5w_close(j.h5, &err);
    j.h5 = NULL;
    if (rc)
        goto fail;
    int bad = ferror(j.truth);
    if (fclose(j.truth) != 0 || bad) {
        j.truth = NULL;
        rc = sa_err(&err, SEGAUDIT_EIO, "%s: write failed: %s", p.truth_tmp,
                    strerror(errno));
        goto fail;
    }
    j.truth = NULL;
    if (cancelled(&j)) {
        rc = sa_err(&err, SEGAUDIT_ECANCEL, "interrupted");
        goto fail;
    }
    if ((rc = publish(&p, &err)) == 0)
        goto out;
fail:
    if (j.truth)
        fclose(j.truth);
    sa_h5w_abort(j.h5);
    clean_up(&j, &p);
out:
    if (rc && errbuf && errlen)
        snprintf(errbuf, errlen, "%s", err.msg);
    free(selected);
    free(j.written);
    paths_free(&p);
    return rc;
}
