/* Bands of probabilities stored in another form than the engine's
 * (N,K,H,W) floats in native byte order: channels-last (N,H,W,K), the other
 * byte order, or quantised unsigned integers.  A band is read as stored
 * (raw) and converted here into [K][nrows][W] elements of the engine's
 * type: the float type itself (float16 as its raw bits), or float64 for
 * integers, value / 255 (uint8) or value / 65535 (uint16), or value · scale
 * + offset when a scale is given. */
#ifndef SA_PROBS_CONVERT_H
#define SA_PROBS_CONVERT_H

#include <stdint.h>


typedef struct SaStoreForm {
    char kind;          /* 'f' IEEE float, 'u' unsigned integer, 'd' a
                           native double holding an integer (what HDF5
                           delivers for integers) */
    unsigned size;      /* bytes per stored element */
    int swap;           /* stored in the other byte order */
    int nhwc;           /* stored channels-last: raw is [nrows][W][K] */
    int scaled;         /* integers: value * scale + offset (else value /
                           divisor) */
    double scale, offset, divisor;
} SaStoreForm;

/* Whether raw bands of form f must go through sa_convert_band (else they
 * are already what the engine wants). */
int sa_store_needs_convert(const SaStoreForm *f);

/* Converts a raw band of nrows rows into dst, [K][nrows][W] elements of
 * the engine's type (the float type itself, or float64 for integers).
 * raw holds K*nrows*W stored elements, laid out as [K][nrows][W] or, for
 * channels-last, [nrows][W][K].  No allocation. */
void sa_convert_band(const SaStoreForm *f, const void *raw, void *dst,
                     uint64_t K, uint64_t nrows, uint64_t W);

#endif
