/* Issue pixels and regions of one image against its true error mask
 * (`--truth-masks`): how many issue pixels are errors, how many error
 * pixels are found, and which regions match.
 *
 * Regions are the connected components (8-connectivity) of each mask.  A
 * predicted region (issue pixels) and a true region (error pixels) match
 * when their IoU, |P ∩ T| / |P ∪ T|, is at least SA_MATCH_IOU.  Which
 * predicted regions count (the listed ones, of at least some area) is
 * known only once the whole dataset is walked, so the region counts are
 * kept by area (SaAreaHists) and totalled for that area afterwards. */
#ifndef SA_MASK_EVAL_H
#define SA_MASK_EVAL_H

#include <stdint.h>

#include "common/error.h"

#define SA_MATCH_IOU 0.3

typedef struct SaMaskCounts {
    uint64_t issue_pixels, error_pixels, hit_pixels; /* hit: both */
    uint64_t error_regions;                          /* true regions */
    /* with a least area known during the walk: predicted regions of at
     * least that area, of them matching, true regions they find */
    uint64_t regions, regions_matched, error_regions_found;
} SaMaskCounts;

/* Region areas are counted exactly below SA_AREA_BUCKETS - 1; larger ones
 * together in the last bucket. */
#define SA_AREA_BUCKETS 65537
static inline uint64_t sa_area_bucket(uint64_t area)
{
    return area < SA_AREA_BUCKETS - 1 ? area : SA_AREA_BUCKETS - 1;
}

/* By area bucket: predicted regions; predicted regions that match a true
 * region; true regions by the largest area of the predicted regions that
 * match them (none: not counted). */
typedef struct SaAreaHists {
    uint64_t *regions, *matched, *found; /* SA_AREA_BUCKETS each */
} SaAreaHists;

/* The totals for the predicted regions of at least min_area pixels. */
void sa_area_hists_total(const SaAreaHists *h, uint64_t min_area,
                         uint64_t *regions, uint64_t *matched,
                         uint64_t *found);

typedef struct SaMaskScratch SaMaskScratch;

/* Scratch for images of up to max_pixels pixels; freed with
 * sa_mask_scratch_free (NULL accepted). */
int sa_mask_scratch_new(SaMaskScratch **out, uint64_t max_pixels, SaErr *err);
void sa_mask_scratch_free(SaMaskScratch *s);

/* issue[i] and error[i] != 0 mark the pixels of an h×w image (row-major,
 * h*w <= max_pixels); adds its counts to *out and its regions to *hist
 * (exact for least areas up to SA_AREA_BUCKETS - 1); with min_area > 0,
 * also the exact region counts for that least area to *out.  Errors:
 * ENOMEM. */
int sa_mask_eval_image(SaMaskScratch *s, const uint8_t *issue,
                       const uint8_t *error, uint32_t h, uint32_t w,
                       uint64_t min_area, SaMaskCounts *out,
                       SaAreaHists *hist, SaErr *err);

#endif
