/* The simulated model of `segaudit synth` (see synth_model.h).
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
 * image.  The weak model spreads far more of the mass over every class,
 * blurs three times wider and confuses over large areas, so that about a
 * third of the pixels have s <= 0.5 or a wrong argmax.  The sharp model
 * blurs less than half as wide with a third of the floor and rarer
 * confusions; the blurry one blurs three times wider; the overconfident
 * one has a fifth of the floor, stronger confusions and four times as
 * many confident mistakes, twice as large.  Only tables and bilinear value
 * noise: no exp() per pixel. */
#include "synth/synth_model.h"
#include "segaudit/synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* The quality of the model on one image. */
typedef struct Params {
    float floor;      /* total floor mass over all classes */
    float radius;     /* boundary blur, pixels */
    float bmax;       /* neighbour's share right at an edge */
    float conf_thr, conf_max; /* confusion regions: threshold, top share */
    float dist_thr, dist_max; /* distractor regions */
    float floor_max;  /* cap of the floor mass */
} Params;

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

struct SaModel {
    Params p;        /* of the image last seeded */
    int kind;        /* enum SegauditSynthModel */
    uint8_t *dist, *nb, *colc, *dcls;
    uint8_t *blob;   /* h*w: 0, or 1 + the class of a confident mistake */
    int *col;
    Noise noise[N_NOISE];
    float *field[4]; /* one row of each field */
    float *erow;     /* one row of floor values */
    uint16_t *hrow;  /* the same as float16 */
};

void sa_model_free(SaModel *m)
{
    if (!m)
        return;
    void *bufs[] = {m->dist, m->nb, m->colc, m->dcls, m->blob, m->col,
                    m->field[0], m->field[1], m->field[2], m->field[3],
                    m->erow, m->hrow};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    for (int i = 0; i < N_NOISE; i++)
        noise_free(&m->noise[i]);
    free(m);
}

SaModel *sa_model_new(uint32_t h, uint32_t wd, int kind)
{
    size_t n = (size_t)h * wd;
    SaModel *m = calloc(1, sizeof *m);
    int bad;

    if (!m)
        return NULL;
    m->kind = kind;
    bad = !(m->dist = malloc(n)) || !(m->blob = malloc(n)) ||
          !(m->nb = malloc(n)) || !(m->colc = malloc(wd)) ||
          !(m->col = malloc(sizeof *m->col * wd)) ||
          !(m->erow = malloc(sizeof *m->erow * wd)) ||
          !(m->hrow = malloc(sizeof *m->hrow * wd));
    for (int i = 0; i < 4; i++)
        bad |= !(m->field[i] = malloc(sizeof(float) * wd));
    for (int i = 0; i < N_NOISE; i++)
        bad |= noise_alloc(&m->noise[i], h, wd, h * NOISE_CELL[i]) != 0;
    if (!bad) {
        const Noise *d = &m->noise[N_DIST];
        bad = !(m->dcls = malloc((size_t)d->gh * d->gw));
    }
    if (bad) {
        sa_model_free(m);
        return NULL;
    }
    return m;
}

void sa_model_seed(SaModel *m, const SaScene *s, SaRng *r,
                   const uint8_t map[SC_N])
{
    Params *p = &m->p;
    float q = (float)pow(sa_rng_u(r), 1.3); /* 0 = a good model */
    float unit = (float)s->h / 256.0f;
    p->floor = 0.008f + 0.05f * q;
    p->radius = (unit < 1 ? 1 : unit) * (0.8f + 1.2f * q);
    p->bmax = 0.4f + 0.12f * q;
    p->conf_thr = 1.3f - 0.6f * q;
    p->conf_max = 0.45f + 0.45f * q;
    p->dist_thr = 1.9f - 0.6f * q;
    p->dist_max = 0.5f + 0.4f * q;
    p->floor_max = 0.3f;
    if (m->kind == SEGAUDIT_SYNTH_SHARP) {
        /* thin boundaries, little floor, confusions only at their peaks */
        p->floor *= 0.3f;
        p->radius *= 0.4f;
        p->conf_thr += 0.4f;
        p->dist_thr += 0.4f;
    } else if (m->kind == SEGAUDIT_SYNTH_BLURRY) {
        p->radius *= 3.0f;
        p->bmax = 0.5f + 0.1f * q;
    } else if (m->kind == SEGAUDIT_SYNTH_OVERCONFIDENT) {
        /* sure of itself: little floor, and more and larger confident
         * mistakes (below) */
        p->floor *= 0.2f;
        p->conf_max = 0.7f + 0.25f * q;
    } else if (m->kind == SEGAUDIT_SYNTH_WEAK) {
        /* much of the mass spread over every class, wide blur, confusions
         * and distractors over large areas */
        p->floor = 0.15f + 0.3f * q;
        p->floor_max = 0.75f;
        p->radius *= 3.0f;
        p->conf_thr = 0.5f - 0.5f * q;
        p->conf_max = 0.55f + 0.35f * q;
        p->dist_thr = 1.2f - 0.5f * q;
    }
    for (int i = 0; i < N_NOISE; i++)
        noise_seed(&m->noise[i], r);
    const Noise *d = &m->noise[N_DIST];
    for (int i = 0; i < d->gh * d->gw; i++)
        m->dcls[i] = map[DISTRACT[sa_rng_int(r, 16)]];

    /* Confident mistakes: about 3-12 small disks per 256x512 pixels, each
     * smaller than the smallest injected error. */
    const uint32_t H = s->h, W = s->w;
    memset(m->blob, 0, (size_t)H * W);
    double area = (double)H * W / (256.0 * 512.0);
    int over = m->kind == SEGAUDIT_SYNTH_OVERCONFIDENT;
    int nblob = (int)(area * (3 + 9 * q) * sa_rng_u(r) * (over ? 4 : 1) + 1.0);
    for (int b = 0; b < nblob; b++) {
        int cy = (int)sa_rng_int(r, H), cx = (int)sa_rng_int(r, W);
        float rad = (unit < 1 ? 1 : unit) * (0.6f + 1.4f * (float)sa_rng_u(r)) *
                    (over ? 2.0f : 1.0f);
        uint8_t c = (uint8_t)(1 + map[DISTRACT[sa_rng_int(r, 16)]]);
        int ri = (int)rad + 1;
        for (int y = cy - ri; y <= cy + ri; y++)
            for (int x = cx - ri; x <= cx + ri; x++) {
                float dy = (float)(y - cy), dx = (float)(x - cx);
                if (y >= 0 && x >= 0 && y < (int)H && x < (int)W &&
                    dy * dy + dx * dx <= rad * rad)
                    m->blob[(size_t)y * W + x] = c;
            }
    }
}

static inline float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void sa_model_render(SaModel *m, const SaScene *s, int K,
                     const uint8_t map[SC_N], int f16, void *tensor)
{
    const Params *p = &m->p;
    const uint32_t H = s->h, W = s->w;
    const size_t plane = (size_t)H * W;
    const float inv_k = 1.0f / (float)K;
    float *pf = tensor;
    uint16_t *ph = tensor;

    edges(s, m->dist, m->nb, m->col, m->colc);
    for (uint32_t y = 0; y < H; y++) {
        static const int src[N_NOISE] = {0, 0, 1, 1, 2, 3};
        static const float amp[N_NOISE] = {1, 0.5f, 1, 0.5f, 1, 1};
        for (int i = 0; i < 4; i++)
            memset(m->field[i], 0, sizeof(float) * W);
        for (int i = 0; i < N_NOISE; i++)
            noise_row(&m->noise[i], y, W, amp[i], m->field[src[i]]);
        const float *fa = m->field[0], *fb = m->field[1],
                    *fc = m->field[2], *fd = m->field[3];
        /* the distractor class of the nearest grid point, where the
         * noise (and so the region) peaks */
        const Noise *dn = &m->noise[N_DIST];
        const uint8_t *dcls_row =
            m->dcls + (size_t)(int)(y / dn->cell + 0.5) * dn->gw;
        size_t base = (size_t)y * W;
        for (uint32_t x = 0; x < W; x++) {
            float ftot = clampf(p->floor * (1.0f + 0.6f * fa[x]), 0.002f,
                                p->floor_max);
            m->erow[x] = ftot * inv_k;
            if (f16)
                m->hrow[x] = f32_to_f16(m->erow[x]);
        }
        for (int k = 0; k < K; k++) {
            if (f16)
                memcpy(ph + k * plane + base, m->hrow, W * sizeof *ph);
            else
                memcpy(pf + k * plane + base, m->erow, W * sizeof *pf);
        }
        for (uint32_t x = 0; x < W; x++) {
            size_t j = base + x;
            int sc = s->cls[j];
            float e = m->erow[x], rem = 1.0f - e * (float)K;
            float mb = 0, mc = 0, md = 0;
            if (m->dist[j] < 255) {
                float rad = p->radius * clampf(1.0f + 0.35f * fc[x],
                                               0.3f, 2.0f);
                float q = 1.0f - (m->dist[j] + 0.5f) / (rad + 0.5f);
                if (q > 0)
                    mb = clampf(p->bmax * (1.0f + 0.3f * fc[x]), 0, 0.75f)
                         * q;
            }
            uint8_t cf = map[sa_scene_confuse[sc]], t = map[sc];
            float z = fb[x] - p->conf_thr;
            if (cf != t && z > 0)
                mc = p->conf_max * (z > 0.7f ? 1.0f : z / 0.7f);
            z = fd[x] - p->dist_thr;
            if (z > 0)
                md = p->dist_max * (z > 0.5f ? 1.0f : z / 0.5f);
            float ex = mb + mc + md;
            if (ex > 0.97f) {
                float f = 0.97f / ex;
                mb *= f, mc *= f, md *= f, ex = 0.97f;
            }
            /* up to four classes get mass on top of the floor */
            uint8_t cls[4] = {t, map[m->nb[j]], cf,
                              dcls_row[dn->ix[x] + (dn->tx[x] > 0.5f)]};
            if (m->blob[j]) {
                cls[3] = (uint8_t)(m->blob[j] - 1);
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
