/* Per-row arithmetic of the method: no I/O, no threads, no allocation.
 *
 * The unit of work is a "block-row": f consecutive full-resolution rows of
 * one image (f = downsample factor; f = 1 means one row).  Every reduction
 * that ends in a reported float (softmin, class sums) is done per block-row
 * in a fixed order, and block-rows are combined in image order by the
 * engine, so results do not depend on how rows are grouped into bands or
 * on which thread ran them. */
#ifndef SA_KERNELS_H
#define SA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "common/dtype.h"

/* dst[i] = sa_half_to_float(src[i]) for n halves (with F16C where the CPU
 * has it: the same values). */
void sa_halves_to_double(const uint16_t *src, double *dst, size_t n);

/* Online softmin accumulator over pixel scores s with temperature T:
 * with z = (1-s)/T, keeps m = max z, ref = min s (the score at m),
 * sum = Σ exp(z-m) and wsum = Σ (s-ref)·exp(z-m), so that the score
 * ref + wsum/sum is exact when all scores are equal and accurate when they
 * are close.  n = number of scores (sum == 0 only while n == 0). */
typedef struct SaSoftmin {
    double m, ref, sum, wsum;
    uint64_t n;
} SaSoftmin;

void sa_softmin_init(SaSoftmin *a);
/* Adds the n scores s[0..n) (all non-ignored), computing their own max
 * first, then merges into a (so one call = one fixed-order partial). */
void sa_softmin_add(SaSoftmin *a, const double *s, size_t n, double T);
/* The least of s[0..n), as s[i] < ref ? s[i] : ref finds it from s[0]. */
double sa_softmin_least(const double *s, size_t n);
/* sa_softmin_add, given ref = sa_softmin_least(s, n) (which the caller
 * may find as it makes s). */
void sa_softmin_add_ref(SaSoftmin *a, const double *s, size_t n, double T,
                        double ref);

/* The exponentials of scores that are half floats, for one temperature:
 * float16 probabilities give such scores (as doubles), of which there are
 * 15,360 normal ones in [2^-14, 2), so that one table made per pass holds
 * the exponential of every score of the pass in that range.  Entry i
 * (1024 <= i < SA_EXP_HALF) is exp((1 - s)/T - 1/T) for the half s whose
 * bits are i.  A partial summed with the table has the exponent shift
 * m = 1/T instead of the one of its least score,
 * which keeps the least score's weight, exp(-ref/T), far from underflow
 * only for ref < 2 and T >= SA_EXP_HALF_MIN_T (other rows are summed as
 * sa_softmin_add_ref sums them). */
#define SA_EXP_HALF 16384
#define SA_EXP_HALF_MIN_T 0.01
/* Fills table (SA_EXP_HALF doubles) for temperature T: 1, or 0 when T is
 * below SA_EXP_HALF_MIN_T (the table is then not to be used). */
int sa_softmin_half_table(double T, double *table);
/* sa_softmin_add_ref, but with the shift 1/T when T >= SA_EXP_HALF_MIN_T
 * and ref < 2 (as sa_softmin_add_ref otherwise), and the exponentials of
 * the half-float scores in [2^-14, 2) taken from table, when given (made
 * by sa_softmin_half_table(T)): the same bits with the table or without
 * it, and the same value as sa_softmin_add_ref to within a few units in
 * the last place. */
void sa_softmin_add_half(SaSoftmin *a, const double *s, size_t n, double T,
                         double ref, const double *table);

/* a = a ⊕ b, exact online-softmax combination (order matters for rounding:
 * the engine always merges in image order). */
void sa_softmin_merge(SaSoftmin *a, const SaSoftmin *b);
/* Σ s·w; NaN when n == 0 (the caller reports "no score"). */
double sa_softmin_value(const SaSoftmin *a);

/* One candidate record, written by pass 1 for every valid pixel (block)
 * that is a mismatch or has s <= tau.  With f > 1 it is followed by
 * `ndetail` SaDetail entries, one per full-resolution pixel of the block
 * whose own argmax differs from its own (non-ignored) label. */
typedef struct SaRecord {
    double s;          /* self-confidence P[l, x] */
    double phat;       /* P[a, x] */
    uint32_t image;    /* image index in the tensor */
    uint32_t pixel;    /* (block) pixel index h*W + w */
    uint16_t label;    /* l */
    uint16_t pred;     /* a = argmax, lowest class on ties */
    uint16_t ndetail;  /* SaDetail entries that follow (f > 1) */
    uint16_t flags;    /* SA_REC_MISMATCH */
} SaRecord;

#define SA_REC_MISMATCH 1u

typedef struct SaDetail {
    uint16_t pos;     /* dy * f + dx within the block */
    uint16_t label;   /* full-resolution label */
    uint16_t pred;    /* full-resolution argmax */
    uint16_t pad;
    double s;         /* full-resolution self-confidence */
    double phat;      /* full-resolution P[pred] */
} SaDetail;

/* Byte size of a record with its details. */
static inline size_t sa_record_size(const SaRecord *r)
{
    return sizeof(SaRecord) + (size_t)r->ndetail * sizeof(SaDetail);
}

/* Histogram of s for pixels with s > tau (used only when the cut-off lies
 * above tau).  Bucket of s: floor((s - tau) * SA_HIST_SCALE) for s < 1,
 * SA_HIST_BUCKETS - 1 for s >= 1: monotone in s. */
#define SA_TAU 0.5
#define SA_HIST_SCALE 131072.0
#define SA_HIST_BUCKETS 65537

static inline uint32_t sa_hist_bucket(double s)
{
    if (s >= 1.0)
        return SA_HIST_BUCKETS - 1;
    return (uint32_t)((s - SA_TAU) * SA_HIST_SCALE);
}

/* What a kernel call records. */
enum SaRecMode {
    SA_REC_PASS1 = 0,  /* mismatch or s <= tau; accumulate statistics */
    SA_REC_ABOVE = 1,  /* second read: not a mismatch, s > tau and
                          min_bucket <= bucket(s) <= max_bucket; no
                          statistics */
    SA_REC_NONE = 2    /* argmax only (sa_kernel_argmax_row, for the
                          overlays): no scores, no records */
};

/* Constant inputs of the kernel for one audit. */
/* An (N,H,W) array that receives one value per full-resolution pixel
 * (element (n,h,w) at base + n*sn + h*sh + w*sw): float32 or float64. */
typedef struct SaPixOut {
    unsigned char *base;
    int64_t sn, sh, sw;
    int f32;               /* float32 (else float64) */
} SaPixOut;

typedef struct SaKernelParams {
    uint32_t K;            /* classes */
    uint32_t W;            /* full-resolution width */
    uint32_t f;            /* downsample factor */
    int ds_mode;           /* SEGAUDIT_DS_LABELS_MEAN / _MODE */
    SaDtype dtype;
    int logits;
    double T;              /* softmin temperature */
    const uint8_t *ignored;/* 65536 flags: label value is ignored */
    int rec_mode;          /* enum SaRecMode */
    uint32_t hist_shift;   /* SA_REC_PASS1: the histogram counts bucket
                              b in hist[b >> hist_shift] */
    uint32_t min_bucket;   /* SA_REC_ABOVE: buckets recorded */
    uint32_t max_bucket;
    const SaPixOut *pix;   /* SA_REC_PASS1: each pixel's s (NaN where the
                              label is ignored) goes here, or NULL */
    const double *exp_half;/* SA_REC_PASS1 at f = 1: the softmin's table of
                              exponentials (sa_softmin_half_table), given
                              for float16 probabilities; or NULL (the same
                              bits) */
} SaKernelParams;

/* Per-thread scratch, sized for one block-row: allocate with
 * sa_kernel_scratch_size() bytes, 64-byte aligned (nothing in it needs
 * setting up). */
size_t sa_kernel_scratch_size(const SaKernelParams *p);

/* Statistics of one block-row (pass 1), over its full-resolution valid
 * pixels: the caller initialises softmin, sum_s = 0, min_s = +inf. */
typedef struct SaRowOut {
    SaSoftmin softmin;
    double sum_s;           /* Σ s, in pixel order */
    double min_s;           /* min s */
    uint64_t valid_pixels;  /* non-ignored pixels */
    uint64_t far;           /* pixels whose probabilities sum far from 1 */
    uint32_t far_row, far_col; /* the first of them (when far > 0) */
    double far_sum;         /* and its sum */
} SaRowOut;

/* A pixel's probabilities "sum far from 1" when |Σ_k P - 1| > this: far
 * above float16 rounding (K * 2^-11 at most for K <= 19), far below what
 * independent sigmoid outputs give. */
#define SA_SUM_TOL 0.01

/* Integer statistics of a band (order-free, so they are per band); each
 * array has K entries and is added to.  The histogram (SA_HIST_BUCKETS) is
 * per thread and may be NULL. */
typedef struct SaBandStats {
    uint64_t *class_count;   /* blocks labeled k */
    uint64_t *class_pixels;  /* full-resolution pixels labeled k */
    uint64_t *class_correct; /* ... labeled k whose argmax is k */
    uint64_t *class_pred;    /* full-resolution valid pixels predicted k */
    uint64_t *hist;          /* s > tau (pass 1) */
} SaBandStats;

/* Where the records of a band go: a growable byte buffer. */
typedef struct SaRecBuf {
    unsigned char *data;
    size_t len, cap;
    uint64_t count;         /* records */
} SaRecBuf;

/* What went wrong in a block-row (the first problem, in pixel order). */
typedef struct SaKernelFault {
    int kind;               /* SA_FAULT_* (0 = none) */
    uint32_t row, col;      /* full-resolution, within the image */
    uint32_t cls;           /* class (value faults) */
    double value;           /* the value (label or probability) */
} SaKernelFault;

enum {
    SA_FAULT_NONE = 0,
    SA_FAULT_LABEL,         /* label value >= K and not ignored */
    SA_FAULT_NAN,           /* NaN probability */
    SA_FAULT_INF,           /* infinite probability */
    SA_FAULT_NEGATIVE,      /* negative probability */
    SA_FAULT_NOMEM          /* record buffer could not grow */
};

/* Processes one block-row of image `image` whose first full-resolution row
 * is `row0`.
 *   probs   band buffer [K][band_rows][W] of dtype elements
 *   brow    index of the block-row's first row inside the band
 *   labels  [f][W] labels of the block-row's rows
 *   class_sum[K] += Σ s of valid blocks labeled k (zeroed by the caller;
 *                  this block-row's own partial)
 *   st      the band's integer statistics (added to)
 * Returns 0, or -1 with *fault set. */
int sa_kernel_block_row(const SaKernelParams *p, void *scratch,
                        const void *probs, uint32_t band_rows, uint32_t brow,
                        const uint16_t *labels, uint32_t image, uint32_t row0,
                        SaRowOut *out, double *class_sum,
                        const SaBandStats *st, SaRecBuf *recs,
                        SaKernelFault *fault);

/* The full-resolution argmax rows ([f][W]) of the last block-row that
 * sa_kernel_block_row scored with this scratch: the same values as
 * sa_kernel_argmax_row gives for those rows. */
const uint16_t *sa_kernel_last_argmax(const SaKernelParams *p,
                                      void *scratch);

/* Full-resolution argmax (after a softmax of logits) of row r of a band,
 * into arg[W].  The scratch is the kernel's (sa_kernel_scratch_size). */
void sa_kernel_argmax_row(const SaKernelParams *p, void *scratch,
                          const void *probs, uint32_t band_rows, uint32_t r,
                          uint16_t *arg);

/* Appends n bytes to b (grows geometrically); 0 or -1 when out of memory. */
int sa_recbuf_reserve(SaRecBuf *b, size_t n);
void sa_recbuf_free(SaRecBuf *b);

#endif
