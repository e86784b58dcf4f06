/* Raw bands into the engine's form: transposition of channels-last data,
 * byte swapping, and the values of quantised integers.  See
 * probs_convert.h. */
#include "io/probs_convert.h"

#include <string.h>

int sa_store_needs_convert(const SaStoreForm *f)
{
    return f->kind != 'f' || f->swap || f->nhwc;
}

static inline uint16_t swap16(uint16_t v) { return (uint16_t)(v >> 8 | v << 8); }

static inline uint32_t swap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) |
           (v << 24);
}

static inline uint64_t swap64(uint64_t v)
{
    return (uint64_t)swap32((uint32_t)v) << 32 | swap32((uint32_t)(v >> 32));
}

/* The value of an integer, as the engine reads it. */
static inline double int_value(const SaStoreForm *f, double v)
{
    return f->scaled ? v * f->scale + f->offset : v / f->divisor;
}

/* Element i of raw into element j of dst. */
static inline void convert_one(const SaStoreForm *f, const uint8_t *raw,
                               uint8_t *dst, uint64_t i, uint64_t j)
{
    switch (f->kind) {
    case 'f':
        if (f->size == 2) {
            uint16_t v;
            memcpy(&v, raw + 2 * i, 2);
            if (f->swap)
                v = swap16(v);
            memcpy(dst + 2 * j, &v, 2);
        } else if (f->size == 4) {
            uint32_t v;
            memcpy(&v, raw + 4 * i, 4);
            if (f->swap)
                v = swap32(v);
            memcpy(dst + 4 * j, &v, 4);
        } else {
            uint64_t v;
            memcpy(&v, raw + 8 * i, 8);
            if (f->swap)
                v = swap64(v);
            memcpy(dst + 8 * j, &v, 8);
        }
        return;
    case 'u': {
        double x;
        if (f->size == 1) {
            x = raw[i];
        } else {
            uint16_t v;
            memcpy(&v, raw + 2 * i, 2);
            x = f->swap ? swap16(v) : v;
        }
        x = int_value(f, x);
        memcpy(dst + 8 * j, &x, 8);
        return;
    }
    default: { /* 'd' */
        double x;
        memcpy(&x, raw + 8 * i, 8);
        x = int_value(f, x);
        memcpy(dst + 8 * j, &x, 8);
        return;
    }
    }
}

void sa_convert_band(const SaStoreForm *form, const void *raw, void *dst,
                     uint64_t K, uint64_t nrows, uint64_t W)
{
    /* a local copy: the writes through dst cannot change it, so the
     * compiler takes the choices of convert_one out of the loops */
    const SaStoreForm local = *form, *f = &local;
    const uint8_t *r = raw;
    uint8_t *d = dst;
    const uint64_t P = nrows * W;
    if (!f->nhwc) {
        for (uint64_t i = 0; i < K * P; i++)
            convert_one(f, r, d, i, i);
        return;
    }
    /* [P][K] -> [K][P], a block of pixels at a time so that both sides
     * stay in the cache */
    const uint64_t B = 64;
    for (uint64_t p0 = 0; p0 < P; p0 += B) {
        uint64_t p1 = p0 + B < P ? p0 + B : P;
        for (uint64_t k = 0; k < K; k++)
            for (uint64_t p = p0; p < p1; p++)
                convert_one(f, r, d, p * K + k, k * P + p);
    }
}
