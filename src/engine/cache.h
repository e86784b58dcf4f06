/* --cache: what pass 1 found for each image, kept across runs.
 *
 * An image's entry holds everything the rest of the audit takes from its
 * pass-1 bands, in the form the aggregator folds them: the per-block-row
 * class sums (folded in order, so that the thresholds are bit-identical),
 * the image's softmin state and statistics, its integer class counts, its
 * histogram of scores above tau and its candidate records.  A run reads
 * from the tensor only the images whose entry is missing or stale, and
 * commits each image it computes as soon as it is folded.
 *
 * Slot (what the entry is for): the settings that change pass 1, the image
 * id and index.  Key (what it was computed from): the image's label digest
 * and its prediction rows: the tensor file's path, size and modification
 * time, or with cache_verify a digest of the rows themselves. */
#ifndef SA_CACHE_H
#define SA_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "io/cache_db.h"
#include "kernel/kernels.h"
#include "segaudit/audit.h"

struct SaEngine;

/* The histogram of scores above tau is kept in buckets 2^SHIFT times
 * coarser than the engine's (e->hist_shift): exact all the same, and a
 * few kilobytes per image. */
#define SA_CACHE_HIST_SHIFT 6
#define SA_CACHE_HIST_BUCKETS (((SA_HIST_BUCKETS - 1) >> SA_CACHE_HIST_SHIFT) + 1)

/* An image's pass-1 results, as the aggregator builds them (a computed
 * image) or as an entry holds them (a cached one). */
typedef struct SaCacheImage {
    const unsigned char *sum_in; /* (an entry) [K] class sums of s, and */
    const unsigned char *counts_in; /* [4][K]: blocks, pixels, correct,
                                  pred, in the blob (unaligned) */
    SaSoftmin softmin;
    double sum_s, min_s;
    uint64_t valid_pixels;
    uint64_t far;              /* (an entry) pixels far from 1, and the
                                  first: */
    uint32_t far_row, far_col;
    double far_sum;
    char label_digest[65];
    SaRecBuf recs;             /* the image's records, in order: their
                                  bytes (building) or only their length
                                  and count (an entry) */
    const unsigned char *recs_in; /* (an entry) the records, in the
                                  cache's pack (mapped) */
    size_t max_record;
    uint64_t *hist;            /* SA_CACHE_HIST_BUCKETS (building, or an
                                  entry's, decoded) */
    void *rows_sha;            /* (building, cache_verify) the digest of
                                  its rows so far, or NULL */
    void *blob;                /* (an entry) the bytes all this points in,
                                  kept from lookup to lookup */
    size_t blob_cap;
} SaCacheImage;

/* Opens e->set.cache_dir (a no-op without it). */
int sa_cache_open(struct SaEngine *e);

/* Closes it: its notes and size stay in e. */
void sa_cache_close(struct SaEngine *e);

/* Producer, at the start of image n (an image of a label array: its
 * label_digest must be set): names the image and looks for its entry.  1
 * when one is there for these inputs (sa_cache_load then reads it), 0
 * when the image must be computed (a damaged entry is noted when the
 * image is folded).  With
 * cache_verify, reads the image's rows to name them.  Errors: ENOMEM, and
 * a failed read of the rows, written to err. */
int sa_cache_probe(struct SaEngine *e, uint64_t n, SaErr *err);

/* Aggregator, when image n is folded: the note of why its entry was not
 * used (damaged, or not this version's), if so; notes come in image order
 * whatever thread found them. */
void sa_cache_note_image(struct SaEngine *e, uint64_t n);

/* Any thread, after sa_cache_probe found image n's entry: reads and
 * checks it.  1 and *out filled when it holds, 0 when the image must be
 * computed after all (a damaged entry, or one this version did not write:
 * noted when the image is folded).  *out may be used again for another image; free it
 * with sa_cache_image_free.  Errors: ENOMEM, written to err. */
int sa_cache_load(struct SaEngine *e, uint64_t n, SaCacheImage *out,
                  SaErr *err);

/* Building the entry of a computed image n (aggregator, in band order). */
int sa_cache_build_begin(struct SaEngine *e, uint64_t n, SaCacheImage *b);
int sa_cache_build_recs(struct SaEngine *e, SaCacheImage *b,
                        const void *data, size_t len, uint64_t count,
                        size_t max_record);
/* cache_verify: a band's rows (bytes as read), in order, for an image
 * computed without an entry. */
void sa_cache_build_rows(SaCacheImage *b, const void *probs, size_t bytes);
/* Adds a band's histogram (SA_CACHE_HIST_BUCKETS, the kernel's with
 * hist_shift SA_CACHE_HIST_SHIFT). */
void sa_cache_build_hist(SaCacheImage *b, const uint64_t *band_hist);

/* Commits image n's entry from b and the engine's statistics of the image
 * (call before its scores clear e->cur), and adds its histogram to
 * e->hist.  A failed write only adds a note. */
int sa_cache_commit(struct SaEngine *e, uint64_t n, SaCacheImage *b);

/* Folds a cached image's results into the engine, as its bands would have
 * been, and computes its scores.  Its records join the record store where
 * they are, in the cache's pack (or are copied into it, beyond the memory
 * limit). */
int sa_cache_fold(struct SaEngine *e, uint64_t n, const SaCacheImage *c);

void sa_cache_image_free(SaCacheImage *c);

/* The first 16-bit digit of the cut-off key of the last audit with these
 * settings (a hint for pass 2, which is exact whatever it says): 1 and
 * *digit, or 0 without one.  Kept again with sa_cache_cut_put. */
int sa_cache_cut_get(struct SaEngine *e, unsigned *digit);
void sa_cache_cut_put(struct SaEngine *e, unsigned digit);

/* ---- overlays (any thread; each a no-op without a cache) --------------- */

/* Image n's argmax map (H*W, as the overlays read it) from the cache: 1
 * when found. */
int sa_cache_argmax_get(struct SaEngine *e, uint64_t n, uint16_t *argmax);
/* Keeps it for later runs (committed by the writer thread). */
void sa_cache_argmax_put(struct SaEngine *e, uint64_t n,
                         const uint16_t *argmax);

/* The key of image n's overlay: its entry's inputs, what is drawn on them
 * (bitmap H*W, the regions) and how (extra: the renderer's own settings).
 * 0 when there is no cache (or the image has no entry key). */
int sa_cache_overlay_key(struct SaEngine *e, uint64_t n,
                         const uint8_t *bitmap, const SegauditRegion *reg,
                         size_t nreg, const uint8_t *extra,
                         uint8_t key[SA_CACHE_KEY]);
/* The overlay's PNG bytes (malloc'd) when found: 1. */
int sa_cache_overlay_get(struct SaEngine *e, uint64_t n, const uint8_t *key,
                         void **png, size_t *len);
/* Keeps the overlay's PNG bytes (png: malloc'd, taken over) for later
 * runs (committed by the writer thread). */
void sa_cache_overlay_put(struct SaEngine *e, uint64_t n, const uint8_t *key,
                          void *png, size_t len);

#endif
