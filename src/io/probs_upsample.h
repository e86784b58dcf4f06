/* Predictions at a lower resolution than the labels, by an integer factor
 * s, brought to the labels' resolution row band by row band, as
 * torch.nn.functional.interpolate does with align_corners=False:
 *
 *  - bilinear: output pixel (y, x) reads the stored image at
 *    v = (y + 0.5) / s - 0.5 and u = (x + 0.5) / s - 0.5, each clamped
 *    below at 0; with i0 = floor(v) (at most h-1), i1 = i0 + 1 (or i0 on
 *    the last row), b = v - i0, and likewise j0, j1, a for u:
 *        out = (1-b)·((1-a)·P[i0][j0] + a·P[i0][j1])
 *            +    b·((1-a)·P[i1][j0] + a·P[i1][j1])
 *    in double precision, in exactly this order;
 *  - nearest: out = P[floor(y / s)][floor(x / s)] (torch's "nearest").
 *
 * The values are read as doubles from the stored type (float16 bits,
 * float32, float64). */
#ifndef SA_PROBS_UPSAMPLE_H
#define SA_PROBS_UPSAMPLE_H

#include <stdint.h>

#include "common/dtype.h"

enum { SA_UP_BILINEAR = 1, SA_UP_NEAREST = 2 };

/* The stored rows [*l0, *l0 + *ln) that output rows [r0, r0+nrows) read
 * (lh stored rows in all). */
void sa_upsample_rows(int mode, uint32_t s, uint64_t lh, uint64_t r0,
                      uint64_t nrows, uint64_t *l0, uint64_t *ln);

/* low: [K][ln][lw] values of type t, stored rows l0.. of an image of lh
 * rows (as given by sa_upsample_rows); out: [K][nrows][lw*s] doubles, the
 * output rows r0... */
void sa_upsample_band(int mode, uint32_t s, SaDtype t, const void *low,
                      uint64_t l0, uint64_t ln, uint64_t lh, uint64_t lw,
                      uint64_t K, uint64_t r0, uint64_t nrows, double *out);

#endif
