/* Annotation errors injected into the given labels of a synthetic scene
 * (see synth_errors.h): an object overlooked (labelled as its surroundings,
 * or void), swapped for a plausible other class, or with a boundary drawn
 * too tight or too loose.  Masks are worked on in a window around the
 * object, in the scene's scratch masks. */
#include "synth/synth_errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const sa_error_kind_names[SA_N_ERR_KINDS] = {
    "none", "overlooked", "swapped", "boundary", "partial", "coarse"};

static int iround(double v) { return (int)floor(v + 0.5); }

/* Swapped labels an annotator plausibly picks instead of each class. */
static const uint8_t SWAP[SC_N][2] = {
    {SC_SIDEWALK, SC_SIDEWALK}, {SC_ROAD, SC_TERRAIN}, {SC_WALL, SC_WALL},
    {SC_FENCE, SC_BUILDING}, {SC_WALL, SC_WALL}, {SC_SIGN, SC_LIGHT},
    {SC_SIGN, SC_POLE}, {SC_LIGHT, SC_POLE}, {SC_TERRAIN, SC_TERRAIN},
    {SC_VEG, SC_SIDEWALK}, {SC_BUILDING, SC_BUILDING},
    {SC_RIDER, SC_RIDER}, {SC_PERSON, SC_PERSON}, {SC_TRUCK, SC_BUS},
    {SC_CAR, SC_BUS}, {SC_TRUCK, SC_TRAIN}, {SC_BUS, SC_TRUCK},
    {SC_BIKE, SC_BIKE}, {SC_MOTO, SC_MOTO}};

/* A window of the image: rows [y0, y1), columns [x0, x1). */
typedef struct Win {
    int y0, y1, x0, x1, h, w;
} Win;

static Win window_of(const SaScene *s, const SaObj *o, int margin)
{
    Win v;
    v.y0 = o->y0 - margin < 0 ? 0 : o->y0 - margin;
    v.x0 = o->x0 - margin < 0 ? 0 : o->x0 - margin;
    v.y1 = o->y1 + margin > (int)s->h ? (int)s->h : o->y1 + margin;
    v.x1 = o->x1 + margin > (int)s->w ? (int)s->w : o->x1 + margin;
    v.h = v.y1 - v.y0;
    v.w = v.x1 - v.x0;
    return v;
}

/* m1 gets three window-sized masks: the object, a scratch, a result. */
static int masks_for(SaScene *s, Win v)
{
    size_t n = (size_t)v.h * v.w;
    if (n > s->m_cap) {
        free(s->m1);
        free(s->m2);
        s->m1 = malloc(2 * n);
        s->m2 = malloc(n);
        s->m_cap = s->m1 && s->m2 ? n : 0;
        if (!s->m_cap)
            return -1;
    }
    return 0;
}

static void object_mask(const SaScene *s, Win v, int id, uint8_t *m)
{
    for (int y = 0; y < v.h; y++) {
        const uint16_t *row = s->obj + (size_t)(v.y0 + y) * s->w + v.x0;
        for (int x = 0; x < v.w; x++)
            m[(size_t)y * v.w + x] = row[x] == id;
    }
}

/* dst = src dilated by a (2r+1)^2 square, or, with invert, the pixels that
 * are NOT within r of a zero of src (the erosion). */
static void dilate(uint8_t *dst, const uint8_t *src, uint8_t *tmp, Win v,
                   int r, int invert)
{
    uint8_t want = invert ? 0 : 1;
    for (int y = 0; y < v.h; y++) {
        const uint8_t *in = src + (size_t)y * v.w;
        uint8_t *out = tmp + (size_t)y * v.w;
        int last = -1000000; /* last column holding `want` */
        for (int x = 0; x < v.w; x++)
            out[x] = 0;
        for (int x = 0; x < v.w + r; x++) {
            if (x < v.w && in[x] == want)
                last = x;
            if (x - r >= 0 && x - last <= 2 * r)
                out[x - r] = 1;
        }
    }
    for (int x = 0; x < v.w; x++) {
        int last = -1000000;
        for (int y = 0; y < v.h + r; y++) {
            if (y < v.h && tmp[(size_t)y * v.w + x])
                last = y;
            if (y - r >= 0)
                dst[(size_t)(y - r) * v.w + x] =
                    (uint8_t)((y - last <= 2 * r) ^ invert);
        }
    }
}

/* The most frequent given label on a ring around the object (mask m), or
 * -1 when there is none. */
static int surrounding(const SaScene *s, Win v, const uint8_t *m,
                       uint8_t *tmp, uint8_t *ring, const uint8_t *given)
{
    uint64_t hist[256] = {0};
    dilate(ring, m, tmp, v, 2, 0);
    for (int y = 0; y < v.h; y++)
        for (int x = 0; x < v.w; x++) {
            size_t i = (size_t)y * v.w + x;
            if (ring[i] && !m[i])
                hist[given[(size_t)(v.y0 + y) * s->w + v.x0 + x]]++;
        }
    int best = -1;
    for (int c = 0; c < 256; c++)
        if (hist[c] && (best < 0 || hist[c] > hist[best]))
            best = c;
    return best;
}

/* Sets the pixels of sel (window mask) to value; returns how many changed. */
static uint64_t paint(const SaScene *s, Win v, const uint8_t *sel,
                      uint8_t value, uint8_t *given)
{
    uint64_t n = 0;
    for (int y = 0; y < v.h; y++) {
        uint8_t *g = given + (size_t)(v.y0 + y) * s->w + v.x0;
        for (int x = 0; x < v.w; x++)
            if (sel[(size_t)y * v.w + x] && g[x] != value) {
                g[x] = value;
                n++;
            }
    }
    return n;
}

/* Applies one error of kind to object i; returns the changed pixels, 0
 * when this object cannot take this kind of error. */
static uint64_t apply(SaScene *s, SaRng *r, int kind, int i,
                      const uint8_t map[SC_N], int void_value,
                      uint8_t *given)
{
    const SaObj *o = &s->objs[i];
    int d = iround(0.006 * s->h * sa_rng_range(r, 1.0, 1.6));
    if (d < 2)
        d = 2;
    Win v = window_of(s, o, d + 3);
    if (masks_for(s, v) != 0)
        return 0;
    size_t n = (size_t)v.h * v.w;
    uint8_t *m = s->m1, *tmp = s->m1 + n, *res = s->m2;
    object_mask(s, v, i + 1, m);

    if (kind == SA_ERR_SWAPPED) {
        int pick = sa_rng_int(r, 2);
        for (int k = 0; k < 2; k++) {
            uint8_t to = map[SWAP[o->cls][(pick + k) % 2]];
            if (to != map[o->cls])
                return paint(s, v, m, to, given);
        }
        return 0;
    }
    if (kind == SA_ERR_COARSE) {
        /* drawn as its bounding box: the surroundings inside the box take
         * the object's label */
        size_t inside = 0;
        for (int y = 0; y < v.h; y++)
            for (int x = 0; x < v.w; x++) {
                int gy = v.y0 + y, gx = v.x0 + x;
                res[(size_t)y * v.w + x] = gy >= o->y0 && gy < o->y1 &&
                                           gx >= o->x0 && gx < o->x1;
                inside += res[(size_t)y * v.w + x];
            }
        /* a box barely larger than the object is no error worth the name */
        if (inside * 4 < o->area * 5)
            return 0;
        return paint(s, v, res, map[o->cls], given);
    }
    int around = surrounding(s, v, m, tmp, res, given);
    if (kind == SA_ERR_PARTIAL) {
        /* the top or bottom half of the object labeled as around it */
        if (around < 0 || o->y1 - o->y0 < 4)
            return 0;
        int mid = (o->y0 + o->y1) / 2 - v.y0, top = sa_rng_int(r, 2);
        for (int y = 0; y < v.h; y++)
            for (int x = 0; x < v.w; x++) {
                size_t k = (size_t)y * v.w + x;
                res[k] = m[k] && (top ? y < mid : y >= mid);
            }
        return paint(s, v, res, (uint8_t)around, given);
    }
    if (kind == SA_ERR_OVERLOOKED) {
        if (void_value >= 0)
            return paint(s, v, m, (uint8_t)void_value, given);
        return around < 0 ? 0 : paint(s, v, m, (uint8_t)around, given);
    }
    /* boundary: shrink when enough of the object survives, else grow */
    if (around >= 0 && sa_rng_u(r) < 0.45) {
        dilate(res, m, tmp, v, d, 1);
        uint64_t kept = 0;
        for (size_t j = 0; j < n; j++)
            kept += res[j];
        if (kept * 5 >= o->area * 2) {
            for (size_t j = 0; j < n; j++)
                res[j] = m[j] && !res[j];
            return paint(s, v, res, (uint8_t)around, given);
        }
    }
    dilate(res, m, tmp, v, d, 0);
    return paint(s, v, res, map[o->cls], given);
}

int sa_scene_inject(SaScene *s, SaRng *r, const uint8_t map[SC_N],
                    int void_value, int kinds, uint8_t *given,
                    uint64_t *changed)
{
    uint64_t min_area = (uint64_t)s->h * s->w / 800;
    int list[SA_N_ERR_KINDS], nk = 0;
    for (int k = 1; k < SA_N_ERR_KINDS; k++)
        if (kinds & (1 << (k - 1)))
            list[nk++] = k;
    if (!nk)
        return SA_ERR_NONE;
    int first = sa_rng_int(r, nk);

    if (min_area < 6)
        min_area = 6;
    *changed = 0;
    /* eligible objects first; the small ones only when nothing else works */
    for (int pass = 0; pass < 2; pass++) {
        for (int a = 0; a < nk; a++) {
            int kind = list[(first + a) % nk];
            int n = s->n_objs, start = sa_rng_int(r, n);
            for (int j = 0; j < n; j++) {
                int i = (start + j) % n;
                uint64_t area = s->objs[i].area;
                if (area == 0 || (pass == 0) != (area >= min_area))
                    continue;
                uint64_t c = apply(s, r, kind, i, map, void_value, given);
                if (c > 0) {
                    *changed = c;
                    return kind;
                }
            }
        }
    }
    return SA_ERR_NONE;
}
