/* The one strict ranking of images that the report and the evaluation
 * share: by tier (0 first: images with a score; then images without one;
 * then, in the report, images left out), within tier 0 by ascending score,
 * and otherwise by image index.  Ties are never left to the sort. */
#ifndef SA_RANK_H
#define SA_RANK_H

#include <stdint.h>

#include "common/error.h"

/* Writes order[r] = the index of the image at rank r (0-based).  score[i]
 * is read only where tier[i] == 0 (and must not be NaN there).  Returns 0
 * or SEGAUDIT_ENOMEM. */
int sa_rank(const double *score, const uint8_t *tier, uint64_t n,
            uint64_t *order, SaErr *err);

#endif
