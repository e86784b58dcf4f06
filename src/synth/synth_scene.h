/* Synthetic street scenes for `segaudit synth`: the clean label map of one
 * image and its objects, and the random streams everything in synth/ is
 * drawn from.  The annotation errors made of the objects are in
 * synth_errors.h.  No I/O, no threads: one SaScene per worker thread.
 *
 * Scene classes are the 19 Cityscapes train ids (SC_ROAD .. SC_BIKE); a
 * dataset with K classes maps scene class c to c*K/19. */
#ifndef SA_SYNTH_SCENE_H
#define SA_SYNTH_SCENE_H

#include <stddef.h>
#include <stdint.h>

#include "segaudit/synth.h"

enum {
    SC_ROAD, SC_SIDEWALK, SC_BUILDING, SC_WALL, SC_FENCE, SC_POLE, SC_LIGHT,
    SC_SIGN, SC_VEG, SC_TERRAIN, SC_SKY, SC_PERSON, SC_RIDER, SC_CAR,
    SC_TRUCK, SC_BUS, SC_TRAIN, SC_MOTO, SC_BIKE, SC_N
};

/* The Cityscapes names of the scene classes, in train-id order. */
extern const char *const sa_scene_class_names[SC_N];
/* The class a model (or an annotator) most often confuses c with. */
extern const uint8_t sa_scene_confuse[SC_N];

/* ---- random numbers: splitmix64 ---------------------------------------- */

typedef struct SaRng {
    uint64_t s;
} SaRng;

static inline uint64_t sa_rng_next(SaRng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double sa_rng_u(SaRng *r)
{
    return (double)(sa_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [a, b). */
static inline double sa_rng_range(SaRng *r, double a, double b)
{
    return a + (b - a) * sa_rng_u(r);
}

/* Uniform integer in [0, n); 0 when n <= 1. */
static inline int sa_rng_int(SaRng *r, int n)
{
    return n <= 1 ? 0 : (int)(sa_rng_u(r) * n);
}

/* An independent stream for (seed, image index, purpose). */
static inline SaRng sa_rng_for(uint64_t seed, uint64_t index, uint64_t stream)
{
    SaRng r = {seed};
    r.s = sa_rng_next(&r) ^ (index * 0xD1B54A32D192ED03ull);
    r.s = sa_rng_next(&r) ^ (stream * 0xABC98388FB8FAC03ull);
    sa_rng_next(&r);
    return r;
}

/* ---- scenes ------------------------------------------------------------ */

typedef struct SaObj {
    uint8_t cls;          /* scene class */
    int32_t y0, y1, x0, x1; /* bounding box of its visible pixels */
    uint64_t area;        /* visible pixels */
} SaObj;

typedef struct SaScene {
    uint32_t h, w;
    uint8_t *cls;    /* h*w clean scene classes */
    uint16_t *obj;   /* h*w: 0 = background, else 1 + index into objs */
    SaObj *objs;
    int n_objs, cap_objs;
    int horizon;     /* row of the horizon */
    uint8_t *m1, *m2; /* scratch masks of synth_errors.c */
    size_t m_cap;
} SaScene;

/* 0, or -1 when out of memory (s is then freed). */
int sa_scene_alloc(SaScene *s, uint32_t h, uint32_t w);
void sa_scene_free(SaScene *s);

/* Draws a new street scene: sky, skyline, road and sidewalks in
 * perspective, and objects of many sizes; fills objs with the visible
 * bounding box and area of each object. */
void sa_scene_render(SaScene *s, SaRng *r);

/* Test hook (in synth.c): the clean K-class labels (h*w) of image `index`
 * of the dataset that settings s describe.  Returns 0 or a negative
 * SEGAUDIT_E* code. */
int sa_synth_clean_labels(const SegauditSynthSettings *s, uint64_t index,
                          uint8_t *out);

/* Stream numbers of sa_rng_for(). */
enum { SA_STREAM_SCENE = 1, SA_STREAM_ERROR = 2, SA_STREAM_MODEL = 3,
       SA_STREAM_SELECT = 4 };

#endif
