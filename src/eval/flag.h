/* The flag: which images are likely mislabeled, a yes/no per image that a
 * reviewer can act on, chosen from the dataset itself with no parameter.
 *
 * Each image has a value x >= 0 that grows with its strongest issue region
 * (the default: the region's mass, the sum over its pixels of p̂ - s; or
 * its area), 0 without one.  Clean images also have issue regions, made by
 * the model's own mistakes; what they produce by chance is estimated from
 * the lower half of the dataset, which holds clean images as long as fewer
 * than half the images are mislabeled.  On v = ln(1 + x) over the m images
 * that take part (scored ones with x > 0: an image without an issue region
 * has nothing to flag, and many such would hide the spread):
 *
 *   c     = the median of v (the mean of the two middle values when m is
 *           even);
 *   sigma = sqrt(mean over the images with v <= c of (v - c)^2), the
 *           spread of the lower half, as a normal distribution's;
 *   z     = the (1 - 1/m) quantile of the standard normal distribution,
 *           so that among m clean images fewer than one is expected above
 *           c + z sigma by chance;
 *
 * and an image is flagged when v > c + z sigma.  With fewer than 3 images
 * taking part, or sigma = 0 (the lower half all alike: no spread to judge
 * chance by), nothing is flagged.  The sums run in ascending order of v,
 * so the result depends on the values alone, never on threads. */
#ifndef SA_FLAG_H
#define SA_FLAG_H

#include <stdint.h>

#include "common/error.h"

typedef struct SaFlagFit {
    int fitted;        /* 0: fewer than 3 images took part, or sigma = 0;
                          none flagged */
    uint64_t m;        /* images that took part */
    double center;     /* c (on the ln(1 + x) scale) */
    double spread;     /* sigma */
    double z;
    double threshold;  /* flagged when x > threshold (= e^(c + z sigma) - 1) */
    uint64_t flagged;
} SaFlagFit;

/* x[i] for the n images, used where use[i] != 0; flag[i] is set to 0 or 1
 * for every image (0 where use[i] == 0).  Errors: ENOMEM. */
int sa_flag_images(const double *x, const uint8_t *use, uint64_t n,
                   uint8_t *flag, SaFlagFit *fit, SaErr *err);

/* The z with P(Z > z) = q (0 < q < 1) for a standard normal Z: the
 * (1 - q) quantile, found on the upper tail so that small q keep their
 * precision (to about 1e-15 relative). */
double sa_normal_upper_quantile(double q);

#endif
