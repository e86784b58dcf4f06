/* Upsampling of low-resolution prediction bands.  See probs_upsample.h. */
#include "io/probs_upsample.h"

#include <string.h>

/* Source index of output index o: i0, i1 and the weight b of i1. */
static void source(uint64_t o, uint32_t s, uint64_t in, uint64_t *i0,
                   uint64_t *i1, double *b)
{
    double v = ((double)o + 0.5) / (double)s - 0.5;
    if (v < 0)
        v = 0;
    uint64_t i = (uint64_t)v;
    if (i > in - 1)
        i = in - 1;
    *i0 = i;
    *i1 = i < in - 1 ? i + 1 : i;
    *b = v - (double)i;
}

void sa_upsample_rows(int mode, uint32_t s, uint64_t lh, uint64_t r0,
                      uint64_t nrows, uint64_t *l0, uint64_t *ln)
{
    uint64_t first, last;
    if (mode == SA_UP_NEAREST) {
        first = r0 / s;
        last = (r0 + nrows - 1) / s;
    } else {
        uint64_t a, b, c, d;
        double w;
        source(r0, s, lh, &a, &b, &w);
        source(r0 + nrows - 1, s, lh, &c, &d, &w);
        first = a;
        last = d;
    }
    *l0 = first;
    *ln = last - first + 1;
}

static inline double value(SaDtype t, const void *p, uint64_t i)
{
    switch (t) {
    case SA_F16: return (double)sa_half_to_float(((const uint16_t *)p)[i]);
    case SA_F32: return (double)((const float *)p)[i];
    default: return ((const double *)p)[i];
    }
}

/* Output columns are done in chunks whose source columns and weights are
 * worked out once for every class and row of the band. */
#define COLS 256

/* The band's bilinear rows, for one type t (inlined with t constant, so
 * that the decoding is not chosen per value). */
static inline __attribute__((always_inline)) void
bilinear(uint32_t s, SaDtype t, const void *low, uint64_t l0, uint64_t ln,
         uint64_t lh, uint64_t lw, uint64_t K, uint64_t r0, uint64_t nrows,
         double *out)
{
    const uint64_t W = lw * s;
    uint64_t j0[COLS], j1[COLS];
    double a[COLS];
    for (uint64_t x0 = 0; x0 < W; x0 += COLS) {
        const uint64_t nx = W - x0 < COLS ? W - x0 : COLS;
        for (uint64_t x = 0; x < nx; x++)
            source(x0 + x, s, lw, &j0[x], &j1[x], &a[x]);
        for (uint64_t y = 0; y < nrows; y++) {
            uint64_t i0, i1;
            double b;
            source(r0 + y, s, lh, &i0, &i1, &b);
            for (uint64_t k = 0; k < K; k++) {
                const uint64_t plane = k * ln * lw;
                const uint64_t p0 = plane + (i0 - l0) * lw;
                const uint64_t p1 = plane + (i1 - l0) * lw;
                double *o = out + (k * nrows + y) * W + x0;
                for (uint64_t x = 0; x < nx; x++) {
                    double v00 = value(t, low, p0 + j0[x]);
                    double v01 = value(t, low, p0 + j1[x]);
                    double v10 = value(t, low, p1 + j0[x]);
                    double v11 = value(t, low, p1 + j1[x]);
                    o[x] = (1.0 - b) * ((1.0 - a[x]) * v00 + a[x] * v01) +
                           b * ((1.0 - a[x]) * v10 + a[x] * v11);
                }
            }
        }
    }
}

void sa_upsample_band(int mode, uint32_t s, SaDtype t, const void *low,
                      uint64_t l0, uint64_t ln, uint64_t lh, uint64_t lw,
                      uint64_t K, uint64_t r0, uint64_t nrows, double *out)
{
    const uint64_t W = lw * s;
    if (mode == SA_UP_NEAREST) {
        for (uint64_t k = 0; k < K; k++)
            for (uint64_t y = 0; y < nrows; y++) {
                double *o = out + (k * nrows + y) * W;
                uint64_t row = k * ln * lw + ((r0 + y) / s - l0) * lw;
                for (uint64_t x = 0; x < W; x++)
                    o[x] = value(t, low, row + x / s);
            }
        return;
    }
    switch (t) {
    case SA_F16:
        bilinear(s, SA_F16, low, l0, ln, lh, lw, K, r0, nrows, out);
        break;
    case SA_F32:
        bilinear(s, SA_F32, low, l0, ln, lh, lw, K, r0, nrows, out);
        break;
    default:
        bilinear(s, SA_F64, low, l0, ln, lh, lw, K, r0, nrows, out);
        break;
    }
}
