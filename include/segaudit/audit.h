/* Running an audit and reading its results. */
#ifndef SEGAUDIT_AUDIT_H
#define SEGAUDIT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEGAUDIT_MAX_IGNORE 64

/* How an f×f block gets its label when downsampling. */
enum SegauditDownsampleLabels {
    SEGAUDIT_DS_LABELS_MEAN = 0, /* mean of the labels, rounded half-to-even
                                    (the reference's rule; default) */
    SEGAUDIT_DS_LABELS_MODE = 1  /* most frequent label, lowest on ties */
};

/* The image scores.  For every one, lower = more likely mislabeled; all
 * are over the image's non-ignored full-resolution pixels (README). */
enum SegauditScore {
    SEGAUDIT_SCORE_SOFTMIN = 0,              /* the method's image score */
    SEGAUDIT_SCORE_NUM_PIXEL_ISSUES = 1,     /* 1 - issue / valid pixels */
    SEGAUDIT_SCORE_MEAN_SELF_CONFIDENCE = 2, /* mean of s */
    SEGAUDIT_SCORE_MIN_SELF_CONFIDENCE = 3,  /* min of s */
    SEGAUDIT_SCORE_PIXEL_ACCURACY = 4,       /* fraction with a = l */
    SEGAUDIT_SCORE_CLASS_BALANCED_ACCURACY = 5, /* mean per-class accuracy */
    SEGAUDIT_SCORE_MEAN_IOU = 6,             /* mean IoU of label vs argmax */
    SEGAUDIT_N_SCORES = 7
};

/* The column name of a score ("softmin", "mean_iou", ...), or NULL. */
const char *segaudit_score_name(int score);
/* The score of a name, or -1. */
int segaudit_score_from_name(const char *name);

/* What ranks the images: any enum SegauditScore. */
enum SegauditRankBy {
    SEGAUDIT_RANK_SOFTMIN = SEGAUDIT_SCORE_SOFTMIN, /* default */
    SEGAUDIT_RANK_NUM_PIXEL_ISSUES = SEGAUDIT_SCORE_NUM_PIXEL_ISSUES
};

/* Which images are flagged as likely mislabeled (README, "The flag"): an
 * image whose strongest issue region stands out from what the dataset's
 * clean images produce by chance, estimated from the dataset itself. */
enum SegauditFlagRule {
    SEGAUDIT_FLAG_MASS = 0, /* by the largest region mass, Σ (p̂ - s)
                               over the region (default) */
    SEGAUDIT_FLAG_AREA = 1, /* by the largest region's area */
    SEGAUDIT_FLAG_NONE = 2, /* no image is flagged */
    SEGAUDIT_N_FLAG_RULES = 3
};

/* The name of a flag rule ("mass", "area", "none"), or NULL. */
const char *segaudit_flag_rule_name(int rule);
/* The rule of a name, or -1. */
int segaudit_flag_rule_from_name(const char *name);

/* How the class axis of the stored tensor is placed. */
typedef enum SegauditLayout {
    SEGAUDIT_LAYOUT_AUTO = 0, /* (N,K,H,W), unless only (N,H,W,K) fits the
                                 label size and the class names */
    SEGAUDIT_LAYOUT_NCHW = 1, /* (N,K,H,W): channels first */
    SEGAUDIT_LAYOUT_NHWC = 2  /* (N,H,W,K): channels last */
} SegauditLayout;

/* Predictions stored at 1/s of the labels' resolution (s an integer). */
typedef enum SegauditUpsample {
    SEGAUDIT_UPSAMPLE_NONE = 0,     /* refused with a message */
    SEGAUDIT_UPSAMPLE_BILINEAR = 1, /* torch interpolate, bilinear,
                                       align_corners=False */
    SEGAUDIT_UPSAMPLE_NEAREST = 2   /* torch interpolate, nearest */
} SegauditUpsample;

/* ---- Arrays in memory --------------------------------------------------
 *
 * Labels and probabilities can be given as arrays in memory instead of
 * files (a NumPy array, a memory-mapped .npy file, a buffer of one's own),
 * and issue masks and pixel scores can be written into arrays.  They are
 * read in place, band by band, never copied whole.  Elements are in the
 * machine's byte order. */
typedef enum SegauditDtype {
    SEGAUDIT_DTYPE_BOOL = 1,  /* one byte; non-zero reads as 1 */
    SEGAUDIT_DTYPE_INT8, SEGAUDIT_DTYPE_UINT8,
    SEGAUDIT_DTYPE_INT16, SEGAUDIT_DTYPE_UINT16,
    SEGAUDIT_DTYPE_INT32, SEGAUDIT_DTYPE_UINT32,
    SEGAUDIT_DTYPE_INT64, SEGAUDIT_DTYPE_UINT64,
    SEGAUDIT_DTYPE_FLOAT16,   /* IEEE half */
    SEGAUDIT_DTYPE_FLOAT32, SEGAUDIT_DTYPE_FLOAT64
} SegauditDtype;

/* An n-dimensional array: element (i0, i1, ...) is at
 * (char *)data + i0 * strides[0] + i1 * strides[1] + ...  Strides are in
 * bytes and may be negative or zero (a broadcast axis); every element must
 * be readable (inputs) or writable (outputs) for the whole run. */
typedef struct SegauditArray {
    void *data;
    int dtype;                /* enum SegauditDtype */
    int ndim;                 /* 3: (N,H,W); 4: probabilities */
    uint64_t shape[4];
    int64_t strides[4];
    int file_mapped;          /* 1: data lies in a shared, read-only or
                                 read-write mapping of a file (mmap
                                 MAP_SHARED, as np.memmap and np.load with
                                 mmap_mode "r" make): pages are handed back
                                 to the kernel once read, so that resident
                                 memory stays bounded for arrays larger
                                 than memory.  Checked against
                                 /proc/self/maps; ignored (0) where the
                                 mapping is anything else */
} SegauditArray;

/* Fills a for a C-ordered (row-major, contiguous) array of ndim (1..4)
 * dimensions. */
void segaudit_array_init(SegauditArray *a, void *data, int dtype, int ndim,
                         const uint64_t *shape);

/* Bytes of one element of dtype, or 0 when dtype is unknown. */
size_t segaudit_dtype_size(int dtype);

typedef struct SegauditSettings {
    const char *labels_dir;    /* the labels (required): a folder of label
                                  PNGs <id><suffix>, searched recursively;
                                  or a .npy file of shape (N,H,W); or an
                                  HDF5 file (with labels_dataset, or
                                  "file.h5:/dataset") of shape (N,H,W) */
    const char *label_suffix;  /* file name = <image id><suffix> (".png") */
    const char *probs_path;    /* HDF5 or .npy file with the predictions
                                  (required) */
    const char *probs_dataset; /* (N,K,H,W) dataset ("/pred_probs") */
    const char *ids_dataset;   /* dataset of image ids, or a text file of
                                  ids (one per line) when a file of that
                                  name exists; NULL (default): "/image_ids"
                                  when present, else the sorted label file
                                  names, else (label arrays) the indices */
    int ignore_index[SEGAUDIT_MAX_IGNORE]; /* label values that are void */
    int n_ignore;              /* how many of ignore_index are used (0) */
    double temperature;        /* softmin temperature, > 0 (0.1) */
    int downsample;            /* block factor f >= 1 (1) */
    int downsample_labels;     /* enum SegauditDownsampleLabels (MEAN) */
    int rank_by;               /* enum SegauditScore (SOFTMIN) */
    int logits;                /* 1: stored values are logits (0) */
    int on_error_skip;         /* 1: an image that cannot be read or has
                                  invalid values is left out (with its
                                  reason) instead of failing the run (0) */
    uint64_t max_skipped;      /* with on_error_skip, more skipped images
                                  than this fail the run (UINT64_MAX) */
    int allow_plugins;         /* 1: HDF5 may load filter plugins from
                                  HDF5_PLUGIN_PATH (0: refused) */
    int strict;                /* 1: a pixel whose probabilities sum far
                                  from 1 (|sum - 1| > 0.01) is an error;
                                  0: they are counted (0) */
    int n_threads;             /* worker threads; 0 = all cores (0) */
    uint64_t memory_limit;     /* bytes of candidate records kept in memory
                                  before spilling to scratch (1 GiB); >= 64K */
    const char *scratch_dir;   /* folder for spill files; NULL = $TMPDIR or
                                  /tmp (NULL) */
    uint64_t band_bytes;       /* tensor bytes per work band; 0 = automatic
                                  (1 MiB).  Results do not depend on it. */
    const char *const *class_names; /* K names, or NULL (NULL) */
    int n_class_names;         /* entries in class_names (0) */
    const char *masks_dir;     /* when set, <masks_dir>/<id>.png issue masks
                                  (255 = issue pixel) are written (NULL) */
    const volatile int *cancel; /* when set and *cancel becomes non-zero, the
                                   run stops with SEGAUDIT_ECANCEL (NULL) */
    const char *truth_path;    /* CSV with columns image,mislabeled (1 =
                                  known annotation error): every score is
                                  evaluated against it (NULL) */
    uint64_t min_region_area;  /* regions smaller than this are left out of
                                  the region list, not of the counts; 0:
                                  chosen from the data, one more than the
                                  median area of the dataset's issue
                                  regions (at most 65,536); the value used
                                  is in segaudit_audit_settings after the
                                  run (0) */
    const char *overlays_dir;  /* when set, <dir>/<id>.png overlays of the
                                  overlay_top worst images (NULL) */
    uint64_t overlay_top;      /* how many images get an overlay; UINT64_MAX
                                  = all (50) */
    uint32_t overlay_width;    /* each panel is scaled down to at most this
                                  width (1024) */
    const char *images_dir;    /* RGB photos <id><image_suffix> to draw the
                                  issues over (NULL: over the labels) */
    const char *image_suffix;  /* (".png") */
    const uint8_t (*palette)[3]; /* class colours for overlays, or NULL: a
                                    generated palette of well-separated
                                    colours */
    int n_palette;             /* entries in palette; must be >= K (0) */
    void (*progress)(void *ctx, int pass, uint64_t done, uint64_t total,
                     uint64_t bytes); /* called from the driving thread
                                         after each batch: pass 1 or 2 (the
                                         second read), images done of
                                         total, tensor bytes read so far
                                         (NULL) */
    void *progress_ctx;
    int layout;                /* enum SegauditLayout (AUTO) */
    double probs_scale;        /* > 0: quantised (uint8/uint16) values are
                                  value * probs_scale; 0: the dataset's
                                  scale_factor/add_offset attributes, else
                                  value / 255 or value / 65535 (0) */
    const char *labels_dataset; /* labels in an HDF5 file: the dataset
                                  ("/labels") */
    const char *label_map;     /* label values renamed before the audit: a
                                  CSV file of from,to lines, or the preset
                                  "cityscapes" (labelIds -> trainIds, void
                                  = 255) (NULL) */
    int upsample;              /* enum SegauditUpsample (NONE) */
    int dry_run;               /* 1: open and check every input (label maps
                                  read whole, a few tensor rows), score
                                  nothing; afterwards only
                                  segaudit_audit_info and the skipped
                                  images are meaningful (0) */
    const char *cache_dir;     /* when set, each image's pass-1 results are
                                  kept in this folder (created as needed)
                                  and later runs read from the tensor only
                                  the images whose labels, predictions or
                                  settings changed; results are identical
                                  to a run without it (NULL) */
    int cache_verify;          /* 1: an image's predictions are recognised
                                  by a digest of its rows (read to compute
                                  it) instead of the tensor file's size and
                                  modification time (0) */
    const SegauditArray *labels_array; /* the labels as an (N,H,W) array of
                                  integers or bool, instead of labels_dir;
                                  the ids are then the indices "0", "1",
                                  ... unless image_ids are given (NULL) */
    const SegauditArray *probs_array; /* the predictions as an array of
                                  float16/32/64 or uint8/uint16 (quantised,
                                  as probs_scale says), (N,K,H,W) or
                                  (N,H,W,K) as layout says, instead of
                                  probs_path (NULL) */
    const char *const *image_ids; /* N ids given by the caller, instead of
                                  ids_dataset (NULL) */
    uint64_t n_image_ids;      /* entries in image_ids (0) */
    const SegauditArray *issues_out; /* when set, an (N,H,W) array of bool
                                  or uint8, all 0 before the run: 1 is
                                  written at every issue pixel (NULL) */
    const SegauditArray *pixel_scores_out; /* when set, an (N,H,W) array of
                                  float32 or float64: each pixel's
                                  self-confidence s, NaN where its label is
                                  ignored (NULL).  The rows of an image
                                  skipped with on_error_skip may be partly
                                  written.  Not with cache_dir */
    const struct SegauditComm *comm; /* when set, this process is one of
                                  comm->size that audit the dataset
                                  together (segaudit-mpi sets one over
                                  MPI); NULL: this process alone (NULL) */
    int flag_rule;             /* enum SegauditFlagRule (MASS) */
    const char *truth_masks_dir; /* a folder of <id>.png true error masks
                                  (non-zero = an annotation error, the
                                  image's size): issue pixels and regions
                                  are evaluated against them; without
                                  truth_path an image is mislabeled when its
                                  mask holds an error (NULL) */
} SegauditSettings;

/* A group of processes auditing one dataset together.  Every member runs
 * segaudit_audit_run with the same settings (except the comm's rank) on
 * the same files; each reads and scores its own contiguous range of
 * images (balanced by pixels), and the members exchange only per-image
 * and per-class results and histograms, never pixels.  The results are
 * identical to one process's.  After the run, member 0 holds every
 * result; the others hold the per-image and per-class results and the
 * pairs of their own images (segaudit_audit_region refuses other images,
 * and skip reasons are member 0's), and write only their own images'
 * masks and overlays.  At most 65536 members.
 *
 * The functions are collective (every member calls them in the same
 * order) except send and recv; each returns 0, or non-zero when the
 * transport failed.  A transport that fails should end every member (as
 * MPI's default error handler does): the member that sees the failure
 * stops, but the others may be left waiting for it.  Lengths are in bytes
 * and may exceed 2 GiB. */
typedef struct SegauditComm {
    int rank, size;
    void *ctx;
    /* data[i] = the sum over members of data[i], i < n */
    int (*allreduce_sum)(void *ctx, uint64_t *data, size_t n);
    /* every member's len bytes, in rank order, into all (size * len) */
    int (*allgather)(void *ctx, const void *mine, void *all, size_t len);
    /* root's len bytes into buf on every member */
    int (*bcast)(void *ctx, void *buf, size_t len, int root);
    int (*send)(void *ctx, int to, const void *buf, size_t len);
    int (*recv)(void *ctx, int from, void *buf, size_t len);
} SegauditComm;

/* Fills s with the defaults documented above. */
void segaudit_default_settings(SegauditSettings *s);

/* The handle of one audit: its settings, its results, its last error. */
typedef struct SegauditAudit SegauditAudit;

/* Returns a new, empty audit, or NULL when out of memory. */
SegauditAudit *segaudit_audit_new(void);

/* Frees a; NULL is accepted. */
void segaudit_audit_free(SegauditAudit *a);

/* Runs the whole audit: reads the dataset, computes every number of the
 * SPEC, and (with masks_dir) writes the issue masks.  Returns 0 or a
 * negative SEGAUDIT_E* code; on failure segaudit_audit_error() says which
 * file, which image and what is wrong.  May be called once per object.
 * Uses settings->n_threads OpenMP threads; not re-entrant on one object. */
int segaudit_audit_run(SegauditAudit *a, const SegauditSettings *settings);

/* The message of the last failure ("" when none).  Valid until a is freed. */
const char *segaudit_audit_error(const SegauditAudit *a);

/* ---- Results (valid after a successful run) ---------------------------- */

typedef struct SegauditDatasetInfo {
    uint64_t n_images;    /* N */
    uint32_t n_classes;   /* K */
    uint64_t height, width; /* H, W of the tensor */
    const char *dtype;    /* "float16", "float32" or "float64" */
    const char *layout;   /* "contiguous" or "chunked" (+ filters) */
    uint64_t n_issues;    /* the confident off-diagonal count n_issues */
    uint64_t issue_pixels;  /* issue pixels over the dataset */
    uint64_t valid_pixels;  /* non-ignored full-resolution pixels */
    uint64_t images_with_issues;
    uint64_t records;     /* candidate records kept by pass 1 */
    uint64_t spilled_bytes; /* bytes of records written to scratch */
    int second_read;      /* 1 when the cut-off lay above 0.5 and the tensor
                             was read a second time */
    uint64_t images_skipped; /* left out with on_error_skip; they rank after
                               all others (segaudit_audit_ranked) */
    uint64_t far_from_one;  /* valid pixels whose probabilities sum far
                               from 1 (|sum - 1| > 0.01; not with logits) */
    uint64_t far_image;     /* the first of them: image index, */
    uint32_t far_row, far_col; /* position */
    double far_sum;         /* and sum */
    int n_threads;        /* threads actually used (per process) */
    int n_ranks;          /* processes that shared the audit (1 without
                             a SegauditComm) */
    const uint64_t *exchanged_bytes; /* with n_ranks > 1: the bytes each
                             process sent and received (n_ranks), else
                             NULL */
    double seconds_pass1, seconds_pass2, seconds_total;
    uint64_t bytes_read;  /* tensor bytes read (overlays included): from
                             the file with direct reads, else as delivered
                             (uncompressed) by HDF5 */
    const char *read_path; /* "direct": bands read straight from the file
                              (contiguous, or unfiltered chunks of
                              (1,K,rows,W), little-endian); "hdf5" */
    const char *ids_source; /* "dataset": the image ids were read from the
                               tensor file; "names": they are the label
                               file names, sorted as text; "text": a text
                               file; "index": the image indices */
    int layout_assumed;   /* 1: read as channels-last because only that
                             order fits the labels and the class names */
    int quantised;        /* the probabilities are uint8/uint16 */
    uint32_t upsampled;   /* the predictions were upsampled by this factor
                             (0: stored at the labels' resolution) */
    double scale, offset; /* and are read as value * scale + offset */
    int n_warnings;       /* segaudit_audit_warning(a, 0 .. n_warnings-1) */
    /* with cache_dir: */
    uint64_t images_computed;   /* images whose tensor rows were scored */
    uint64_t images_from_cache; /* images taken from the cache */
    uint64_t cache_bytes;       /* the cache's size on disk after the run */
    int n_cache_notes;          /* segaudit_audit_cache_note(a, 0 ..
                                   n_cache_notes-1) */
    int min_region_area_auto;   /* 1: min_region_area was chosen from the
                                   data */
    int select_reads;     /* reads of the candidate records by the cut-off's
                             selection: 0 when, with cache_dir, the last
                             audit's cut-off told where to gather the keys
                             while they were counted */
} SegauditDatasetInfo;

typedef struct SegauditImageResult {
    const char *id;
    uint64_t index;          /* position in the tensor */
    uint64_t rank;           /* 1 = most likely mislabeled */
    int has_score;           /* 0: no valid pixel, scores undefined */
    double softmin;          /* softmin score */
    double num_pixel_issues; /* 1 - issue_pixels / valid_pixels */
    double score[SEGAUDIT_N_SCORES]; /* every score, by enum SegauditScore */
    uint64_t issue_pixels;
    uint64_t valid_pixels;   /* full-resolution non-ignored pixels */
    int skipped;             /* left out (on_error_skip): no scores */
    const char *skip_reason; /* why, or NULL */
    uint64_t regions;        /* connected regions of issue pixels (all) */
    uint64_t largest_region; /* area of the largest, 0 when none */
    const char *label_digest; /* SHA-256 (64 hex digits) of the label map as
                                 audited (uint16 little-endian values, row by
                                 row, after --label-map), or NULL when it was
                                 not read whole */
    double region_mass;      /* the largest, over its regions, of
                                Σ (p̂ - s) over the region; 0 when none */
    int flagged;             /* 1: likely mislabeled (flag_rule) */
} SegauditImageResult;

/* A connected component (8-connectivity) of issue pixels of one image. */
typedef struct SegauditRegion {
    uint64_t image;          /* index of the image (tensor order) */
    uint32_t region;         /* 1 = the largest of the image, 2, ... */
    uint64_t area;           /* issue pixels */
    uint32_t x, y, width, height; /* bounding box (column, row) */
    uint32_t given;          /* majority given label, lowest on ties */
    uint32_t predicted;      /* majority predicted class, lowest on ties */
    double mean_self_confidence; /* mean of s over the region */
    double mean_predicted_prob;  /* mean of p̂ over the region */
} SegauditRegion;

typedef struct SegauditClassResult {
    uint32_t cls;
    const char *name;        /* "" when no names were given */
    uint64_t labeled_pixels; /* full-resolution pixels labeled cls */
    double threshold;        /* t_k */
    uint64_t issue_pixels_given;     /* issue pixels with L = k */
    uint64_t issue_pixels_predicted; /* issue pixels with a = k */
    uint64_t images_affected;        /* images with such an issue pixel */
} SegauditClassResult;

typedef struct SegauditPair {
    uint32_t given, predicted;
    uint64_t issue_pixels;
} SegauditPair;

void segaudit_audit_info(const SegauditAudit *a, SegauditDatasetInfo *out);
/* i-th image in tensor order, 0 <= i < n_images. */
void segaudit_audit_image(const SegauditAudit *a, uint64_t i,
                          SegauditImageResult *out);
/* Index (tensor order) of the image of rank r+1, 0 <= r < n_images. */
uint64_t segaudit_audit_ranked(const SegauditAudit *a, uint64_t r);
/* The i-th warning of the run (inputs that look wrong although every value
 * is valid: probabilities far from summing to 1, ids whose text and numeric
 * orders differ, most images disagreeing with the model), or NULL. */
const char *segaudit_audit_warning(const SegauditAudit *a, int i);

/* Note i of the cache (an entry or file that was damaged or foreign and is
 * computed again, writes that stopped), or NULL.  They do not change the
 * results, so they are not among the warnings. */
const char *segaudit_audit_cache_note(const SegauditAudit *a, int i);
void segaudit_audit_class(const SegauditAudit *a, uint32_t k,
                          SegauditClassResult *out);
/* Issue pairs, sorted by count descending, then given, then predicted. */
uint64_t segaudit_audit_n_pairs(const SegauditAudit *a);
void segaudit_audit_pair(const SegauditAudit *a, uint64_t i,
                         SegauditPair *out);
/* A set of selected images against the truth: the flagged ones, or the
 * first F of a ranking. */
typedef struct SegauditPrecisionRecall {
    uint64_t selected;        /* images selected */
    uint64_t hits;            /* of them marked mislabeled */
    int has_precision;        /* 0 when nothing is selected */
    double precision;         /* hits / selected */
    int has_recall;           /* 0 when no image is marked mislabeled */
    double recall;            /* hits / positives */
    int has_f1;               /* 0 unless both are defined */
    double f1;                /* 2 P R / (P + R), 0 when both are 0 */
} SegauditPrecisionRecall;

/* How well one score finds the known-mislabeled images (with truth_path,
 * or truth_masks_dir alone: an image is then mislabeled when its mask holds
 * an error).
 * The ranking is the score ascending, ties in image order, images without
 * a score last. */
typedef struct SegauditEvaluation {
    int score;                /* enum SegauditScore */
    uint64_t images;          /* N */
    uint64_t positives;       /* P: images marked mislabeled */
    int has_ap;               /* 0 when P = 0 */
    double ap;                /* average precision Σ (R_n - R_n-1) P_n */
    int has_auroc;            /* 0 when P = 0 or P = N */
    double auroc;             /* area under the ROC curve */
    int has_precision;        /* 0 when P = 0 */
    double precision_at_p;    /* precision among the first P images */
    uint64_t hits_at_10;      /* positives among the first 10 images */
    SegauditPrecisionRecall at_flagged; /* the first F images, F the number
                                 of flagged images: the flag's budget */
} SegauditEvaluation;

/* 1 when the audit was evaluated against a truth file or error masks. */
int segaudit_audit_has_truth(const SegauditAudit *a);
/* 1 when image i (tensor order) is marked mislabeled, 0 when not, -1 when
 * there is no truth. */
int segaudit_audit_truth(const SegauditAudit *a, uint64_t i);
/* The evaluation of one score (0 <= score < SEGAUDIT_N_SCORES). */
void segaudit_audit_evaluation(const SegauditAudit *a, int score,
                               SegauditEvaluation *out);

/* Issue pixels and regions against the true error masks (truth_masks_dir).
 * Regions are connected components (8-connectivity); a listed region
 * (min_region_area) and a true error region match when their IoU is at
 * least 0.3. */
typedef struct SegauditMaskEvaluation {
    uint64_t images;          /* images evaluated (not skipped) */
    uint64_t issue_pixels, error_pixels, hit_pixels; /* hit: both */
    SegauditPrecisionRecall pixels; /* selected = issue pixels, hits = hit
                                 pixels, recall of the error pixels */
    uint64_t regions;         /* listed issue regions */
    uint64_t regions_matched; /* of them matching a true error region */
    uint64_t error_regions;   /* true error regions */
    uint64_t error_regions_found; /* of them matched by a listed region */
    int has_region_precision; /* 0 when no region is listed */
    double region_precision;  /* regions_matched / regions */
    int has_region_recall;    /* 0 when there is no error region */
    double region_recall;     /* error_regions_found / error_regions */
    int has_region_f1;
    double region_f1;
} SegauditMaskEvaluation;

/* 1 and *out filled when the audit was evaluated against error masks,
 * else 0. */
int segaudit_audit_mask_evaluation(const SegauditAudit *a,
                                   SegauditMaskEvaluation *out);

/* The flag of a run: how the threshold was found (README, "The flag"). */
typedef struct SegauditFlagInfo {
    int rule;                 /* enum SegauditFlagRule */
    uint64_t flagged;         /* images flagged */
    uint64_t fitted;          /* images the threshold was estimated on (those
                                 with a score and an issue region) */
    int has_threshold;        /* 0: no rule, fewer than 3 such images, or
                                 no spread among them; none flagged */
    double threshold;         /* flagged when the value exceeds it */
    double center, spread, z; /* on the ln(1 + value) scale: the median,
                                 the lower half's spread, the quantile */
    SegauditPrecisionRecall eval; /* with a truth: the flagged images
                                 against the truth */
} SegauditFlagInfo;

void segaudit_audit_flag(const SegauditAudit *a, SegauditFlagInfo *out);

/* Regions of image i (tensor order) in the list: those of at least
 * min_region_area pixels, largest first (ties: top-most, then left-most). */
uint64_t segaudit_audit_n_regions(const SegauditAudit *a, uint64_t i);
/* The j-th of them; 0 or an error code (the list may live in a scratch
 * file: EIO, with the message in segaudit_audit_error()). */
int segaudit_audit_region(SegauditAudit *a, uint64_t i, uint64_t j,
                          SegauditRegion *out);

/* The settings the audit ran with (temperature, ...). */
const SegauditSettings *segaudit_audit_settings(const SegauditAudit *a);

#ifdef __cplusplus
}
#endif

#endif
