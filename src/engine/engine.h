/* The dataset engine's shared state (internal).
 *
 * Ownership: everything here is set up by sa_engine_open before pass 1 and is
 * read-only while workers run, except where a field says otherwise.  Only
 * the thread that drives a pass (the OpenMP "single" thread: producer and
 * aggregator) writes the per-image, per-class and record-store fields; the
 * workers write only their own band and their own per-thread scratch. */
#ifndef SA_ENGINE_H
#define SA_ENGINE_H

#include <stdint.h>

#include "common/error.h"
#include "io/h5_probs.h"
#include "kernel/kernels.h"
#include "engine/records.h"
#include "engine/select.h"
#include "engine/mask_eval.h"
#include "segaudit/segaudit.h"

typedef struct SaImage {
    SaSoftmin softmin;       /* pass 1 (aggregator) */
    double sum_s, min_s;     /* pass 1 (aggregator) */
    uint64_t valid_pixels;   /* pass 1 (aggregator) */
    uint64_t issue_pixels;   /* pass 2 */
    /* every image score (enum SegauditScore), NaN without valid pixels;
     * set when the image's last band is folded, num_pixel_issues after
     * pass 2 */
    double score[SEGAUDIT_N_SCORES];
    uint64_t rank;           /* 1-based */
    uint64_t regions;        /* pass 2: all regions of the image */
    uint64_t largest_region; /* pass 2: area of the largest, or 0 */
    double region_mass;      /* pass 2: the largest Σ (p̂ - s) of a region,
                                or 0 */
    SaMaskCounts masks;      /* pass 2, with truth_masks_dir */
    uint64_t region_off;     /* pass 2: byte offset in SaEngine.regions */
    uint64_t rec_off[2];     /* where its records start in the store and
                                the second store (aggregator) */
    uint64_t regions_listed; /* pass 2: regions of min_area or more */
    char label_digest[65];   /* pass 1: SHA-256 (hex) of the label map as
                                read (uint16 little-endian, after the label
                                map), "" when not read whole */
} SaImage;

/* What the image being folded adds to the dataset's totals (aggregator):
 * per class its blocks, pixels (also for the baseline scores, with correct
 * and pred) and Σ s (its block-rows', in order), and its pixels whose
 * probabilities sum far from 1.  Added to the totals when the image is
 * complete, dropped when it is skipped half-way; then cleared. */
typedef struct SaImageClasses {
    uint64_t *count, *labeled, *correct, *pred; /* K each, in this order in
                                                   one block of 4K */
    double *sum;                        /* K */
    uint64_t far;                       /* and the first of them: */
    uint32_t far_row, far_col;
    double far_sum;
} SaImageClasses;

typedef struct SaClass {
    double sum;              /* Σ s over blocks labeled k (pass 1): the
                                images' own sums, added in image order */
    uint64_t count;          /* blocks labeled k (pass 1) */
    uint64_t pixels;         /* full-resolution pixels labeled k */
    double threshold;        /* t_k */
    uint64_t given, predicted, images;
} SaClass;

/* Where the image ids came from. */
enum { SA_IDS_DATASET, SA_IDS_NAMES, SA_IDS_TEXT, SA_IDS_INDEX,
       SA_IDS_GIVEN };

struct SaLabelArray;
struct SaLabelPng;
struct SaCache;

/* images being scored at once whose argmax maps pass 1 keeps (keep.c) */
#define SA_KEEP_FLIGHT 16

typedef struct SaEngine {
    SegauditSettings set;    /* copy; strings point into the caller's */
    SaErr *err;
    SaProbs *probs;
    const char *probs_path, *probs_dataset;
    uint64_t N, H, W;
    uint32_t K, f;
    size_t elsize;
    SaDtype dtype;
    char dtype_name[16];     /* "float32", ... */
    char *layout;            /* the tensor's storage, for the report */
    uint64_t bytes_read;     /* tensor bytes read, when the tensor is
                                closed */
    const char *read_path;   /* "direct" or "hdf5" (static) */
    char probs_where[1024];  /* "<file>:<dataset>" (or the .npy file), for
                                messages */
    char **ids;              /* N ids */
    int ids_source;          /* SA_IDS_* */
    char **label_paths;      /* N paths (labels in PNG files) */
    struct SaLabelArray *labarr; /* or all the labels in one array */
    uint16_t *label_map;     /* 65536 entries, or NULL */
    uint64_t label_h, label_w; /* size of the first label map (0: none) */
    int layout_assumed;      /* the tensor was read as channels-last because
                                only that fits the labels and classes */
    int quantised;           /* uint8/uint16 probabilities */
    uint32_t upsampled;      /* factor the predictions were upsampled by */
    uint64_t max_pixels;     /* pixels of the largest image */
    uint32_t *img_h, *img_w; /* per-image sizes when they differ (one
                                dataset per image), else NULL: then every
                                image is H x W; H and W are the largest */
    double scale, offset;    /* their value = stored * scale + offset */
    uint8_t *ignored;        /* 65536 flags */
    int n_threads;
    uint32_t band_rows;      /* full-resolution rows per band (multiple
                                of f) */

    SaImage *images;         /* N */
    SaImageClasses cur;      /* the image being folded */
    SaClass *classes;        /* K */
    SaRecStore store;        /* pass-1 records */
    SaRecStore store2;       /* second-read records (rare) */
    SaRecStore regions;      /* SegauditRegion entries, image by image
                                (with min_region_area 0: every region) */
    uint64_t min_area;       /* pass 2: the regions listed have at least
                                this many pixels (min_region_area, or when
                                it is 0 one more than the median area of
                                the dataset's regions) */
    uint64_t mask_regions[3]; /* with truth masks and min_region_area 0:
                                listed regions, of them matching an error
                                region, error regions found */
    uint64_t *hist;          /* SA_HIST_BUCKETS, merged from threads; with
                                hist_shift > 0, bucket b counts the scores
                                of buckets b << hist_shift and the
                                (1 << hist_shift) - 1 after it */
    uint32_t hist_shift;

    uint64_t n_issues;
    uint64_t m_below;        /* records with s <= tau */
    uint64_t far;            /* pass 1: valid pixels whose probabilities
                                sum far from 1 */
    uint64_t far_image;      /* the first of them, in image order */
    uint32_t far_row, far_col;
    double far_sum;
    SaKey cut;               /* key of the n_issues-th candidate (pass 2) */

    /* --on-error skip: images left out, and why (set by the producer and
     * the aggregator, both on the driving thread) */
    uint8_t *skipped;        /* N flags */
    struct SaSkip *skips;    /* in the order they were skipped */
    uint64_t n_skipped, cap_skips;
    /* what the aggregator folded before the current image, to undo it when
     * the image is skipped half-way */
    uint64_t fold_image;     /* image being folded, or UINT64_MAX */
    int fold_undone;         /* its folded part was undone */
    uint64_t snap_bytes, snap_records; /* the record store then */
    int second_read;
    int select_reads;      /* reads of the records by the cut-off's
                              selection (0: the cache's hint held) */
    /* --cache (cache.c) */
    struct SaCache *cache;   /* open during the passes, or NULL */
    uint64_t images_computed, images_from_cache;
    uint64_t cache_bytes;    /* its size when closed */
    char **cache_notes;      /* what it repaired or gave up, when closed */
    int n_cache_notes;
    /* a group of processes auditing together (dist.c), or NULL */
    const SegauditComm *comm;
    uint64_t *own;           /* members + 1 bounds: member r owns the
                                images [own[r], own[r+1]) */
    uint64_t own_lo, own_hi; /* this process's images (all without a
                                group) */
    double *img_sum;         /* with a group: per own image, its class sums
                                (K), folded in image order after pass 1 */
    uint64_t skipped_total;  /* images skipped over every member */
    uint64_t skips_sent;     /* skips already exchanged */
    SaPixOut pix_out;        /* settings.pixel_scores_out (base NULL:
                                none); the workers write their pixels */
    SaPixOut issues_out;     /* settings.issues_out: 1 byte per issue
                                pixel, written by pass 2 (f32 unused) */
    int opened;              /* set-up done: later skips are counted
                                against --max-skipped over the group */
    SaSelectGroup group;     /* the selection's exchanges */
    uint64_t exchanged;      /* bytes this member sent and received */
    uint64_t *exchanged_all; /* per member, at the end of the run */
    /* pass 1's argmax maps of the images that may get an overlay (keep.c),
     * so that their overlays need not read the tensor again; and, when
     * kept_labels, their label maps after them (H×W values each), so that
     * they need not read the label files again */
    void **kept;             /* N maps (NULL: not kept), or NULL */
    int kept_labels;
    uint8_t *kept_wide;      /* kept_labels: N flags, image n has a label
                                too large for its map (not used then) */
    uint64_t *kept_list;     /* the images whose maps are whole */
    uint64_t n_kept, kept_cap;
    uint64_t flight[SA_KEEP_FLIGHT]; /* images whose maps are being filled */
    int n_flight;
} SaEngine;

/* Size of image n. */
static inline uint64_t sa_img_h(const SaEngine *e, uint64_t n)
{
    return e->img_h ? e->img_h[n] : e->H;
}
static inline uint64_t sa_img_w(const SaEngine *e, uint64_t n)
{
    return e->img_w ? e->img_w[n] : e->W;
}

/* ---- labels.c: label sources, label map, ids --------------------------- */

/* Opens the labels named by the settings (a folder of PNGs searched
 * recursively, or an (N,H,W) array), the label map, and, unless the tensor
 * file had them (ids_found), the ids: --ids as a text file, the sorted
 * label file names, or the indices.  Needs e->N, e->skipped. */
int sa_labels_open(SaEngine *e, int ids_found);
void sa_labels_free(SaEngine *e);
/* Is path a regular file?  (--ids and --label-map name a file when one
 * exists, else a dataset or a preset.) */
int sa_regular_file(const char *path);

/* Where the rows of one image come from, for one consumer (the producer,
 * or an overlay slot): label PNGs are read in order, each opened once. */
typedef struct SaLabelReader {
    struct SaLabelPng *png;
    uint64_t image, next_row;
    int digest;                /* set: each image read whole gets its
                                  label_digest */
    void *sha;                 /* its hash state (allocated on first use) */
} SaLabelReader;

/* Rows [r0, r0+nrows) of image n, mapped by the label map.  PNG rows
 * must come in order, from row 0, per reader. */
int sa_labels_read(SaEngine *e, SaLabelReader *r, uint64_t n, uint64_t r0,
                   uint64_t nrows, uint16_t *dst, SaErr *err);
void sa_labels_reader_close(SaLabelReader *r);
/* Closes r and frees its hash state. */
void sa_labels_reader_free(SaLabelReader *r);
/* "<label path>" or "<labels file>: image '<id>' (index n)", for
 * messages. */
void sa_labels_describe(const SaEngine *e, uint64_t n, char *buf, size_t len);
/* The message for label lab[col] of row `row` of image n, which is not a
 * class and not ignored: the other such values of the row (lab, the whole
 * row) and the usual remedies, most likely first.  Returns EINPUT. */
int sa_labels_value_error(const SaEngine *e, uint64_t n, uint32_t row,
                          uint32_t col, const uint16_t *lab, SaErr *err);

/* Clears e so that sa_engine_free is safe on it. */
void sa_engine_init(SaEngine *e);

/* Opens the tensor and the label files named by set (which must outlive
 * e; its strings are not copied), reads the image ids, checks them and
 * the shape against the settings, and allocates the state of the passes.
 * Errors go to err, which e keeps.  On failure, call sa_engine_free. */
int sa_engine_open(SaEngine *e, const SegauditSettings *set, SaErr *err);

/* --dry-run (check.c): every label map read whole, a few tensor rows. */
int sa_engine_check_inputs(SaEngine *e);

/* Pass 1 (one read of the tensor) and the class thresholds t_k. */
int sa_engine_pass1(SaEngine *e);

/* Pass 2 (sa_engine_issues), then every image's num_pixel_issues score. */
int sa_engine_pass2(SaEngine *e, SegauditPair **pairs, uint64_t *npairs);

/* Closes the tensor and drops the candidate records: after the overlays,
 * only the per-image, per-class and region results are kept. */
void sa_engine_release_inputs(SaEngine *e);

/* Frees everything e holds (it may be half set up). */
void sa_engine_free(SaEngine *e);

/* ---- what the overlays show (after pass 2, before
 * sa_engine_release_inputs) ---------------------------------------------- */

/* The candidate records, read once in image order (driving thread). */
typedef struct SaOverlaySource SaOverlaySource;
/* One image being drawn: its issue bitmap, regions, label PNG and a band
 * of the tensor.  Several may be drawn at once, one per thread. */
typedef struct SaOverlayImage SaOverlayImage;

int sa_overlay_source_open(SaEngine *e, SaOverlaySource **out);
/* NULL is accepted. */
void sa_overlay_source_close(SaOverlaySource *s);

int sa_overlay_image_new(SaEngine *e, SaOverlayImage **out);
/* How many images may be drawn at once, at most want (fewer when the
 * tensor's chunks are inflated in a stream). */
int sa_overlay_threads(const SaEngine *e, int want);
/* NULL is accepted. */
void sa_overlay_image_free(SaOverlayImage *m);

/* Loads image n into m (n must grow from call to call on s; driving
 * thread): its issue bitmap from the records, its listed regions
 * (*regions, valid until m is loaded again or ended) and its label PNG,
 * opened for the rows below.  Errors go to err. */
int sa_overlay_source_load(SaOverlaySource *s, SaOverlayImage *m, uint64_t n,
                           const SegauditRegion **regions, size_t *nreg,
                           SaErr *err);

/* Full-resolution rows row0 .. row0+nrows-1 of m's image, in order:
 * labels, argmax and issue flags (the renderer's rows callback; ctx is the
 * SaOverlayImage).  Any thread, one per image; reads through HDF5 are
 * serialised inside, direct reads run on the calling thread. */
int sa_overlay_image_rows(void *ctx, uint32_t row0, uint32_t nrows,
                          uint16_t *labels, uint16_t *argmax,
                          uint8_t *issues, SaErr *err);

/* With --cache: the key of m's overlay, given the renderer's own settings
 * (extra, SA_CACHE_KEY bytes); 0 without a cache. */
int sa_overlay_image_key(const SaOverlayImage *m, const uint8_t *extra,
                         uint8_t *key);

/* Closes m's label PNG and frees its regions. */
void sa_overlay_image_end(SaOverlayImage *m);

/* Image n is complete: adds e->cur to the classes' totals and the far
 * count, computes every score from its pass-1 statistics and e->cur (all
 * but num_pixel_issues, which needs pass 2), and clears e->cur. */
void sa_image_scores(SaEngine *e, uint64_t n);
/* Clears e->cur (the image is complete, or dropped). */
void sa_image_classes_clear(SaEngine *e);

typedef struct SaSkip {
    uint64_t image;
    char *reason;
} SaSkip;

/* Leaves image n out of the audit with the reason given (with --on-error
 * skip): 0, or an error when more images than max_skipped were skipped. */
int sa_engine_skip(SaEngine *e, uint64_t n, const char *reason);

/* Has the caller asked the run to stop? */
static inline int sa_cancelled(const SaEngine *e)
{
    return e->set.cancel && *e->set.cancel;
}

/* Runs one read of the whole tensor with the kernel in rec_mode (pass 1,
 * or the second read that collects the scores above tau whose bucket is in
 * [min_bucket, max_bucket]). */
int sa_engine_read_pass(SaEngine *e, int rec_mode, uint32_t min_bucket,
                        uint32_t max_bucket);

/* Pass 2: n_issues, the cut-off, issue pixels, per-image and per-class
 * counts, pairs, and masks.  Pairs are returned sorted (malloc'd). */
int sa_engine_issues(SaEngine *e, SegauditPair **pairs, uint64_t *npairs);

/* --truth-masks: opens and closes image n's true error mask,
 * <dir>/<id>.png, checking its size (issues.c): 0, or the error naming the
 * image and the file. */
int sa_truth_mask_check(SaEngine *e, uint64_t n);

/* ---- keep.c: argmax maps kept from pass 1 for the overlays ------------ */

/* Decides whether pass 1 keeps argmax maps (overlays wanted, no
 * downsampling, ranking by a score known after pass 1, and the maps of
 * the overlay count fit in an eighth of --memory-limit), and whether the
 * label maps too (when both fit). */
int sa_keep_init(SaEngine *e);
/* Pass 1's producer, at the start of computed image n: its map (to be
 * filled by the workers with sa_keep_put), or NULL when maps are not
 * kept. */
void *sa_keep_start(SaEngine *e, uint64_t n, SaErr *err, int *rc);
/* Worker: n values from v into a map at value offset off (argmax rows at
 * row * W, label rows after the image's H × W argmax values).  Returns 1
 * when a value did not fit (above 255 in a map of bytes: only labels). */
int sa_keep_put(const SaEngine *e, void *map, size_t off, const uint16_t *v,
                size_t n);
/* n values from a map returned by sa_keep_map or sa_keep_labels, at
 * value offset off, into dst. */
void sa_keep_get(const SaEngine *e, const void *map, size_t off,
                 uint16_t *dst, size_t n);
/* Pass 1's aggregator, image n whole: kept if it ranks among the first
 * overlay_top of the images kept so far (the worst one given up). */
void sa_keep_done(SaEngine *e, uint64_t n);
/* Pass 1's aggregator, when no band of an image before `below` can still
 * be scored: frees the maps of such images that were skipped. */
void sa_keep_release(SaEngine *e, uint64_t below);
/* Image n's whole argmax map (for sa_keep_get), or NULL. */
const void *sa_keep_map(const SaEngine *e, uint64_t n);
/* Image n's whole label map (as pass 1 read it), or NULL. */
const void *sa_keep_labels(const SaEngine *e, uint64_t n);
void sa_keep_free(SaEngine *e);

#endif
