/* Connected regions (8-connectivity) of the issue pixels of one image,
 * found row by row: memory grows with the regions and runs of the image
 * being processed, never with the image size or the dataset.
 *
 * Each row is given as runs of issue pixels; runs that touch a run of the
 * row above (8-connectivity) are merged with union-find, whose roots carry
 * the region's statistics (area, box, sums of s and p̂, and counts of given
 * and predicted classes, merged small into large). */
#ifndef SA_REGIONS_H
#define SA_REGIONS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "segaudit/audit.h"

typedef struct SaCcl SaCcl;

/* W: the widest image. */
int sa_ccl_new(SaCcl **out, uint32_t W, SaErr *err);
void sa_ccl_free(SaCcl *c);

/* Starts an image W pixels wide (at most the width given to sa_ccl_new). */
void sa_ccl_begin(SaCcl *c, uint32_t W);

/* Feeds row y (rows in increasing order; rows not fed are empty).  flag[x]
 * != 0 marks an issue pixel; given, pred, s and phat are read there. */
int sa_ccl_row(SaCcl *c, uint32_t y, const uint8_t *flag,
               const uint16_t *given, const uint16_t *pred, const double *s,
               const double *phat, SaErr *err);

/* Ends the image: *regions (owned by c, valid until the next begin) holds
 * its *n regions, largest first (ties: first pixel in raster order),
 * numbered from 1, with image set. */
int sa_ccl_end(SaCcl *c, uint64_t image, const SegauditRegion **regions,
               size_t *n, SaErr *err);

#endif
