/* Per-row kernels: decoding, argmax, self-confidence, softmin partials,
 * downsampling and candidate records.  See kernels.h. */
#include "kernel/kernels.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "segaudit/audit.h"
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

int sa_recbuf_reserve(SaRecBuf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    unsigned char *d = realloc(b->data, cap);
    if (!d)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

void sa_recbuf_free(SaRecBuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Scratch layout (doubles, then uint16 arrays):
 *   rowp  [K][W]   decoded probabilities of the current full-res row
 *   sfull [W]      scores of its valid pixels (softmin input)
 *   argd, mn, psum, phat [W]  per-pixel argmax, least value, sum, maximum
 *   bacc  [K][Wb]  block sums (f > 1)
 *   bp    [K]      one block's probabilities (f > 1)
 *   arg   [f][W]   full-resolution argmax of the block-row's rows */
static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t sa_kernel_scratch_size(const SaKernelParams *p)
{
    size_t K = p->K, W = p->W, f = p->f, Wb = W / f;
    size_t n = align64(K * W * sizeof(double));
    n += 5 * align64(W * sizeof(double));
    if (f > 1) {
        n += align64(K * Wb * sizeof(double));
        n += align64(K * sizeof(double));
    }
    n += align64(f * W * sizeof(uint16_t));
    n += align64(f * f * sizeof(uint16_t));
    if (f > 1)
        n += 2 * align64(f * W * sizeof(double));
    return n;
}

typedef struct Scratch {
    double *rowp, *sfull, *argd, *mn, *psum, *phat, *bacc, *bp;
    uint16_t *arg, *blab;
    double *srow, *prow; /* [f][W] full-resolution s and p̂ (f > 1) */
} Scratch;

static void carve(const SaKernelParams *p, void *mem, Scratch *sc)
{
    size_t K = p->K, W = p->W, f = p->f, Wb = W / f;
    unsigned char *c = mem;
    sc->rowp = (double *)c;
    c += align64(K * W * sizeof(double));
    sc->sfull = (double *)c;
    c += align64(W * sizeof(double));
    sc->argd = (double *)c;
    c += align64(W * sizeof(double));
    sc->mn = (double *)c;
    c += align64(W * sizeof(double));
    sc->psum = (double *)c;
    c += align64(W * sizeof(double));
    sc->phat = (double *)c;
    c += align64(W * sizeof(double));
    sc->bacc = sc->bp = NULL;
    if (f > 1) {
        sc->bacc = (double *)c;
        c += align64(K * Wb * sizeof(double));
        sc->bp = (double *)c;
        c += align64(K * sizeof(double));
    }
    sc->arg = (uint16_t *)c;
    c += align64(f * W * sizeof(uint16_t));
    sc->blab = (uint16_t *)c;
    c += align64(f * f * sizeof(uint16_t));
    sc->srow = sc->prow = NULL;
    if (f > 1) {
        sc->srow = (double *)c;
        c += align64(f * W * sizeof(double));
        sc->prow = (double *)c;
    }
}

/* Decodes row r of every channel of the band into rowp[K][W] and computes
 * the argmax (the lowest class among those equal to the maximum) and a
 * validity check.  Every loop writes each output through one select, with
 * doubles in all lanes, so that the compiler vectorises it: mn holds the
 * smallest value and psum the sum, which is NaN or infinite when some x is
 * NaN or infinite.  Returns non-zero when a value is invalid. */
#define ROW_STATS(x)                                                         \
    do {                                                                     \
        double b_ = best[w];                                                 \
        best[w] = (x) > b_ ? (x) : b_;                                       \
        argd[w] = (x) > b_ ? kd : argd[w];                                   \
        double m_ = mn[w];                                                   \
        mn[w] = (x) < m_ ? (x) : m_;                                         \
        psum[w] += (x);                                                      \
    } while (0)

/* The statistics' starting values, for columns [w0, W). */
#define ROW_STATS_START(w0)                                                  \
    do {                                                                     \
        for (size_t w = (w0); w < W; w++) {                                  \
            best[w] = -INFINITY;                                             \
            argd[w] = 0.0;                                                   \
            mn[w] = INFINITY;                                                \
            psum[w] = 0.0;                                                   \
        }                                                                    \
    } while (0)

#define DECODE_LOOP(TYPE, CONV)                                              \
    do {                                                                     \
        const TYPE *restrict src = (const TYPE *)probs + off;                \
        for (size_t w = 0; w < W; w++) {                                     \
            double x = CONV(src[w]);                                         \
            dst[w] = x;                                                      \
            ROW_STATS(x);                                                    \
        }                                                                    \
    } while (0)

/* Whether columns [w0, W) hold an invalid value (a NaN or infinite value
 * makes the sum NaN or infinite; a value below lo), and if not their
 * argmax. */
#define ROW_VERDICT(w0, lo, bad)                                             \
    do {                                                                     \
        (bad) = 0;                                                           \
        for (size_t w = (w0); w < W; w++)                                    \
            (bad) |= !(psum[w] - psum[w] == 0.0) | (mn[w] < (lo));           \
        if (!(bad))                                                          \
            for (size_t w = (w0); w < W; w++)                                \
                arg[w] = (uint16_t)argd[w];                                  \
    } while (0)

/* The same statistics over values already decoded into dst, columns
 * [w0, W). */
#define DECODE_IN_PLACE(w0)                                                  \
    do {                                                                     \
        for (size_t w = (w0); w < W; w++) {                                  \
            double x = dst[w];                                               \
            ROW_STATS(x);                                                    \
        }                                                                    \
    } while (0)

#define STATS_LOOP(TYPE)                                                     \
    do {                                                                     \
        const TYPE *restrict src = (const TYPE *)probs + off;                \
        for (size_t w = w0; w < W; w++) {                                    \
            double x = (double)src[w];                                       \
            ROW_STATS(x);                                                    \
        }                                                                    \
    } while (0)

#define AS_DOUBLE(x) ((double)(x))

/* The per-row loops are built twice on x86-64, for AVX2 and for the base
 * instruction set, and the CPU picks one at load time, so the program still
 * runs where AVX2 is missing.  Results are the same bits: every lane is a
 * pixel of its own, each pixel's sum runs over k in the same order, and
 * ISO C mode keeps the compiler from fusing multiply-adds. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define SA_ROW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SA_ROW_CLONES
#endif


SA_ROW_CLONES
static int decode_row(const SaKernelParams *p, const void *probs,
                      uint32_t band_rows, uint32_t r, double *restrict rowp,
                      double *restrict best, double *restrict argd,
                      double *restrict mn, double *restrict psum,
                      uint16_t *restrict arg)
{
    size_t K = p->K, W = p->W;
    ROW_STATS_START(0);
    for (size_t k = 0; k < K; k++) {
        size_t off = (k * band_rows + r) * W;
        const double kd = (double)k;
        double *restrict dst = rowp + k * W;
        switch (p->dtype) {
        case SA_F16:
            sa_halves_to_double((const uint16_t *)probs + off, dst, W);
            DECODE_IN_PLACE(0);
            break;
        case SA_F32: DECODE_LOOP(float, AS_DOUBLE); break;
        case SA_F64: DECODE_LOOP(double, AS_DOUBLE); break;
        }
    }
    const double lo = p->logits ? -DBL_MAX : 0.0;
    int bad;
    ROW_VERDICT(0, lo, bad);
    return bad;
}

/* The same argmax and statistics as decode_row without keeping the
 * decoded row: for probabilities (not logits) at full resolution, where a
 * pixel needs only its label's value (read again from the band,
 * stored_value) and the maximum (best).  On an invalid value the caller
 * decodes the row with decode_row to find it.
 *
 * stats_cols does columns [w0, W) channel by channel (half floats decoded
 * a channel at a time into tmp).  With AVX2 and F16C (checked at run time)
 * stats_tiles first does eight columns at a time over all channels (two
 * such tiles side by side), with the statistics in registers, and gives
 * the same results bit for bit:
 * the maximum, its class and the least value are found among the floats
 * themselves (max_ps and min_ps are the selects x > b ? x : b and
 * x < m ? x : m), which order as their doubles do; the sums are screened
 * in floats, and where one may lie far from 1, stats_cols does the whole
 * row: the same additions of the same doubles in the same order. */
SA_ROW_CLONES
static void stats_cols(const SaKernelParams *p, const void *probs,
                       uint32_t band_rows, uint32_t r, size_t w0,
                       double *restrict tmp, double *restrict best,
                       double *restrict argd, double *restrict mn,
                       double *restrict psum)
{
    size_t K = p->K, W = p->W;
    ROW_STATS_START(w0);
    for (size_t k = 0; k < K; k++) {
        size_t off = (k * band_rows + r) * W;
        const double kd = (double)k;
        switch (p->dtype) {
        case SA_F16: {
            double *restrict dst = tmp;
            sa_halves_to_double((const uint16_t *)probs + off + w0, dst + w0,
                                W - w0);
            DECODE_IN_PLACE(w0);
            break;
        }
        case SA_F32: STATS_LOOP(float); break;
        case SA_F64: STATS_LOOP(double); break;
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define SA_STATS_TILES 1
#define SA_TILE_FN \
    static inline __attribute__((always_inline, target("avx2,f16c")))

/* One tile: eight columns' statistics, in registers. */
typedef struct Tile {
    __m256 b, a, m, fs; /* maximum, its class, least value, float sum */
} Tile;

SA_TILE_FN void tile_start(Tile *t)
{
    t->b = _mm256_set1_ps(-INFINITY);
    t->a = _mm256_setzero_ps();
    t->m = _mm256_set1_ps(INFINITY);
    t->fs = _mm256_setzero_ps();
}

/* Eight values of one class, as floats. */
SA_TILE_FN __m256 tile_load(const SaKernelParams *p, const void *probs,
                            size_t i)
{
    if (p->dtype == SA_F16)
        return _mm256_cvtph_ps(
            _mm_loadu_si128((const __m128i *)((const uint16_t *)probs + i)));
    return _mm256_loadu_ps((const float *)probs + i);
}

/* Class kf's values x into the tile: the maximum, its class and the
 * least value compared as floats (every value is a float, and comparisons
 * and selects of floats and of their doubles agree), and the sum in
 * floats, to screen it. */
SA_TILE_FN void tile_add(Tile *t, __m256 x, __m256 kf)
{
    __m256 gt = _mm256_cmp_ps(x, t->b, _CMP_GT_OQ);
    t->b = _mm256_max_ps(x, t->b);
    t->a = _mm256_blendv_ps(t->a, kf, gt);
    t->m = _mm256_min_ps(x, t->m);
    t->fs = _mm256_add_ps(t->fs, x);
}

/* Stores the tile of columns [w, w + 8): the maximum (best) and the
 * argmax; and adds to *badv and *farv (see stats_tiles). */
SA_TILE_FN void tile_end(const Tile *t, size_t w, double *restrict best,
                         uint16_t *restrict arg, __m256 near, __m256 *badv,
                         __m256 *farv)
{
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    _mm256_storeu_pd(best + w, _mm256_cvtps_pd(_mm256_castps256_ps128(t->b)));
    _mm256_storeu_pd(best + w + 4,
                     _mm256_cvtps_pd(_mm256_extractf128_ps(t->b, 1)));
    /* ROW_VERDICT: a sum that is NaN or infinite (x - x is not 0), or a
     * value below 0 (a float sum that overflows where the double sum would
     * not makes the row look bad: decode_stats then does it all with
     * stats_cols) */
    *badv = _mm256_or_ps(
        *badv, _mm256_or_ps(_mm256_cmp_ps(_mm256_sub_ps(t->fs, t->fs), zero,
                                          _CMP_NEQ_UQ),
                            _mm256_cmp_ps(t->m, zero, _CMP_LT_OQ)));
    *farv = _mm256_or_ps(
        *farv, _mm256_cmp_ps(_mm256_and_ps(_mm256_sub_ps(t->fs, one),
                                           abs_mask),
                             near, _CMP_GT_OQ));
    /* the argmax (whole classes below 65536, as floats) */
    __m256i ki = _mm256_cvttps_epi32(t->a);
    _mm_storeu_si128((__m128i *)(arg + w),
                     _mm_packus_epi32(_mm256_castsi256_si128(ki),
                                      _mm256_extracti128_si256(ki, 1)));
}

/* Columns [0, W - W % 8); returns the first column left to stats_cols.
 * Of the statistics it stores the maximum (best), and gives what
 * ROW_VERDICT gives for these columns: *bad, and the argmax in arg (used
 * only when not bad); and *far, whether a column's sum may lie more than
 * SA_SUM_TOL from 1.  It does not store the sums: they are screened in
 * floats, and the caller finds them exactly (stats_cols) only where
 * *far.  Two tiles go side by side, each with its own registers: the
 * maximum and the sum of a tile wait on the class before, and two tiles
 * keep the core busy while they do (each column gets the same operations
 * in the same order either way). */
__attribute__((target("avx2,f16c"))) static size_t
stats_tiles(const SaKernelParams *p, const void *probs, uint32_t band_rows,
            uint32_t r, double *restrict best, uint16_t *restrict arg,
            int *bad, int *far)
{
    const size_t K = p->K, W = p->W, plane = (size_t)band_rows * W;
    const size_t end = W - W % 8;
    /* The float sum of K values that are not negative lies within
     * K * 2^-24 * S of the exact sum S, and the double sum within
     * K * 2^-53 * S: a pixel whose double sum lies more than SA_SUM_TOL
     * from 1 has a float sum more than this from 1 (for S <= 2, and
     * beyond 2 the float sum is far anyway). */
    const __m256 near = _mm256_set1_ps(
        (float)(SA_SUM_TOL - (double)K * 0x1p-22));
    __m256 badv = _mm256_setzero_ps(), farv = _mm256_setzero_ps();
    size_t w = 0;
    for (; w + 16 <= end; w += 16) {
        Tile t0, t1;
        tile_start(&t0);
        tile_start(&t1);
        size_t i = (size_t)r * W + w;
        for (size_t k = 0; k < K; k++, i += plane) {
            const __m256 kf = _mm256_set1_ps((float)k);
            tile_add(&t0, tile_load(p, probs, i), kf);
            tile_add(&t1, tile_load(p, probs, i + 8), kf);
        }
        tile_end(&t0, w, best, arg, near, &badv, &farv);
        tile_end(&t1, w + 8, best, arg, near, &badv, &farv);
    }
    if (w < end) {
        Tile t;
        tile_start(&t);
        size_t i = (size_t)r * W + w;
        for (size_t k = 0; k < K; k++, i += plane)
            tile_add(&t, tile_load(p, probs, i), _mm256_set1_ps((float)k));
        tile_end(&t, w, best, arg, near, &badv, &farv);
    }
    *bad = _mm256_movemask_ps(badv) != 0;
    *far = _mm256_movemask_ps(farv) != 0;
    return end;
}
#endif

/* Sets *far to whether some pixel's sum may lie more than SA_SUM_TOL
 * from 1 (0 only when none does); psum holds every column's sum when
 * *far. */
static int decode_stats(const SaKernelParams *p, const void *probs,
                        uint32_t band_rows, uint32_t r, double *restrict tmp,
                        double *restrict best, double *restrict argd,
                        double *restrict mn, double *restrict psum,
                        uint16_t *restrict arg, int *far)
{
    size_t W = p->W, w0 = 0;
    *far = 1;
#ifdef SA_STATS_TILES
    static int tiles = -1;
    if (tiles < 0)
        tiles = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    if (tiles && p->dtype != SA_F64) {
        int tbad = 0;
        w0 = stats_tiles(p, probs, band_rows, r, best, arg, &tbad, far);
        /* an invalid value, a float sum that overflows where the double
         * sum does not, or a sum that may lie far from 1: the whole row
         * the exact way (stats_cols finds the tiles' maximum and argmax
         * again, the same bits) */
        if (tbad || *far) {
            w0 = 0;
            *far = 1;
        }
    }
#endif
    stats_cols(p, probs, band_rows, r, w0, tmp, best, argd, mn, psum);
    if (!*far) {
        for (size_t w = w0; w < W && !*far; w++)
            *far = fabs(psum[w] - 1.0) > SA_SUM_TOL;
        if (*far && w0) { /* the tiles' columns need their sums too */
            w0 = 0;
            stats_cols(p, probs, band_rows, r, 0, tmp, best, argd, mn, psum);
        }
    }
    /* the columns the tiles did not judge */
    int bad;
    ROW_VERDICT(w0, 0.0, bad);
    return bad;
}

/* Value (k, row r, column w) of the band, as a double. */
static inline double stored_value(const SaKernelParams *p, const void *probs,
                                  uint32_t band_rows, uint32_t r, size_t k,
                                  size_t w)
{
    size_t i = (k * band_rows + r) * (size_t)p->W + w;
    switch (p->dtype) {
    case SA_F16: return (double)sa_half_to_float(((const uint16_t *)probs)[i]);
    case SA_F32: return (double)((const float *)probs)[i];
    default: return ((const double *)probs)[i];
    }
}

/* Each pixel's value of its label's channel in row r of the band, as a
 * double (channel 0 where the label is no class: an ignored pixel, whose
 * value is not used): the values stored_value gives, a row at a time, so
 * that half floats are converted eight at a time.  tmp holds W halves. */
SA_ROW_CLONES
static void label_values(const SaKernelParams *p, const void *probs,
                         uint32_t band_rows, uint32_t r,
                         const uint16_t *restrict lab, uint16_t *restrict tmp,
                         double *restrict dst)
{
    const size_t K = p->K, W = p->W, plane = (size_t)band_rows * W;
    const size_t row = (size_t)r * W;
    switch (p->dtype) {
    case SA_F16: {
        const uint16_t *restrict v = (const uint16_t *)probs + row;
        for (size_t w = 0; w < W; w++)
            tmp[w] = v[(lab[w] < K ? lab[w] : 0) * plane + w];
        sa_halves_to_double(tmp, dst, W);
        break;
    }
    case SA_F32: {
        const float *restrict v = (const float *)probs + row;
        for (size_t w = 0; w < W; w++)
            dst[w] = (double)v[(lab[w] < K ? lab[w] : 0) * plane + w];
        break;
    }
    case SA_F64: {
        const double *restrict v = (const double *)probs + row;
        for (size_t w = 0; w < W; w++)
            dst[w] = v[(lab[w] < K ? lab[w] : 0) * plane + w];
        break;
    }
    }
}

/* First invalid probability of the row in pixel order (then lowest class). */
static int check_row(const SaKernelParams *p, const double *rowp,
                     uint32_t *col, uint32_t *cls, double *val)
{
    size_t K = p->K, W = p->W;
    int kind = 0;
    size_t best_w = W;
    for (size_t k = 0; k < K; k++) {
        const double *v = rowp + k * W;
        for (size_t w = 0; w < best_w; w++) {
            double x = v[w];
            int bad = 0;
            if (x != x)
                bad = SA_FAULT_NAN;
            else if (isinf(x))
                bad = SA_FAULT_INF;
            else if (x < 0 && !p->logits)
                bad = SA_FAULT_NEGATIVE;
            if (bad) {
                best_w = w;
                kind = bad;
                *col = (uint32_t)w;
                *cls = (uint32_t)k;
                *val = x;
                break;
            }
        }
    }
    return kind;
}

static void softmax_row(const SaKernelParams *p, double *rowp)
{
    size_t K = p->K, W = p->W;
    for (size_t w = 0; w < W; w++) {
        double m = rowp[w];
        for (size_t k = 1; k < K; k++)
            if (rowp[k * W + w] > m)
                m = rowp[k * W + w];
        double sum = 0.0;
        for (size_t k = 0; k < K; k++) {
            double e = exp(rowp[k * W + w] - m);
            rowp[k * W + w] = e;
            sum += e;
        }
        for (size_t k = 0; k < K; k++)
            rowp[k * W + w] /= sum;
    }
}

/* argmax over k, lowest k on ties (after a softmax of logits). */
static void argmax_row(const SaKernelParams *p, const double *rowp,
                       uint16_t *arg, double *best)
{
    size_t K = p->K, W = p->W;
    memcpy(best, rowp, W * sizeof(double));
    memset(arg, 0, W * sizeof(uint16_t));
    for (size_t k = 1; k < K; k++) {
        const double *v = rowp + k * W;
        for (size_t w = 0; w < W; w++) {
            int gt = v[w] > best[w];
            best[w] = gt ? v[w] : best[w];
            arg[w] = gt ? (uint16_t)k : arg[w];
        }
    }
}

static int emit(SaRecBuf *recs, const SaRecord *r, const SaDetail *d)
{
    size_t n = sizeof *r + (size_t)r->ndetail * sizeof *d;
    if (sa_recbuf_reserve(recs, n) != 0)
        return -1;
    memcpy(recs->data + recs->len, r, sizeof *r);
    if (r->ndetail && d)
        memcpy(recs->data + recs->len + sizeof *r, d,
               (size_t)r->ndetail * sizeof *d);
    recs->len += n;
    recs->count++;
    return 0;
}

/* Decides whether a valid pixel/block is recorded, and counts it in the
 * histogram of scores above tau (pass 1). */
static int wants_record(const SaKernelParams *p, double s, int mismatch,
                        uint64_t *hist)
{
    if (p->rec_mode == SA_REC_PASS1) {
        if (s > SA_TAU && hist)
            hist[sa_hist_bucket(s) >> p->hist_shift]++;
        return mismatch || s <= SA_TAU;
    }
    if (mismatch || s <= SA_TAU)
        return 0;
    uint32_t b = sa_hist_bucket(s);
    return b >= p->min_bucket && b <= p->max_bucket;
}

static uint16_t block_label_mean(const uint16_t *v, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    uint64_t q = sum / n, r = sum % n;
    /* round half to even, in exact integer arithmetic */
    if (2 * r > n || (2 * r == n && (q & 1)))
        q++;
    return (uint16_t)q;
}

static uint16_t block_label_mode(uint16_t *v, size_t n)
{
    /* n <= f*f is small: insertion sort, then the longest run (the first,
     * i.e. lowest value, on ties) */
    for (size_t i = 1; i < n; i++) {
        uint16_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    uint16_t best = v[0];
    size_t best_run = 0, i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] == v[i])
            j++;
        if (j - i > best_run) {
            best_run = j - i;
            best = v[i];
        }
        i = j;
    }
    return best;
}

/* Pixel w of a row of an SaPixOut. */
static inline void put_pixel(const SaPixOut *o, unsigned char *row,
                             uint32_t w, double v)
{
    unsigned char *at = row + (int64_t)w * o->sw;
    if (o->f32) {
        float f = (float)v;
        memcpy(at, &f, sizeof f);
    } else {
        memcpy(at, &v, sizeof v);
    }
}

static int fault_at(SaKernelFault *f, int kind, uint32_t row, uint32_t col,
                    uint32_t cls, double value)
{
    f->kind = kind;
    f->row = row;
    f->col = col;
    f->cls = cls;
    f->value = value;
    return -1;
}

/* Pass 1 at full resolution: the pixels of row `row` (row r of the band)
 * as the general loop in sa_kernel_block_row does them, with the class
 * sums and counts of the current run of one label kept in registers and
 * written back when the label changes (the same additions in the same
 * order, so the same bits), and the scores of 1 or more (the last
 * histogram bucket) counted apart: in runs of one label or of confident
 * pixels, each pixel would otherwise wait for the previous one's store.
 * A label that is no class and not ignored is a fault here (the caller
 * leaves the check of such rows to it); sums are checked against 1 only
 * when far says some may be off.
 * Sets *nvalid to the valid pixels, *scores to their scores (sc->sfull,
 * or the row's own values when every pixel is valid) and *least to the
 * least of them (sa_softmin_least's).
 *
 * A plain row (probabilities, every label a class and none ignored, no
 * pixel scores written out, no sum far from 1) has no per-pixel check:
 * its loop is this one without them, its scores the row's own values. */
static inline __attribute__((always_inline)) int
row_pass1_loop(const SaKernelParams *p, const Scratch *sc, const void *probs,
               uint32_t band_rows, uint32_t r, const uint16_t *lab,
               const uint16_t *arg, int far, uint32_t image, uint32_t row,
               SaRowOut *out, double *class_sum, const SaBandStats *st,
               SaRecBuf *recs, SaKernelFault *fault, size_t *nvalid,
               double *least, const double **scores, const int plain)
{
    const uint32_t W = p->W;
    const int fast = plain || !p->logits;
    uint64_t *hist = st->hist;
    unsigned char *pix = NULL;
    if (!plain && p->pix)
        pix = p->pix->base + (int64_t)image * p->pix->sn +
              (int64_t)row * p->pix->sh;
    size_t nv = 0;
    uint32_t rl = UINT32_MAX; /* the run's label */
    double racc = 0.0;        /* its class sum so far */
    uint64_t rn = 0, rok = 0; /* its pixels, and those predicted as it */
    uint64_t top = 0;
    double sum_s = out->sum_s, min_s = out->min_s;
    double rmin = INFINITY; /* the row's least score */
    /* probabilities: each pixel's own value, for the row at once (argd and
     * mn are free once the row's argmax is known) */
    const double *sv = NULL;
    if (fast) {
        label_values(p, probs, band_rows, r, lab, (uint16_t *)sc->mn,
                     sc->argd);
        sv = sc->argd;
    }
    int rc = 0;
#define FLUSH_RUN()                                                          \
    do {                                                                     \
        if (rl != UINT32_MAX) {                                              \
            class_sum[rl] = racc;                                            \
            st->class_count[rl] += rn;                                       \
            st->class_pixels[rl] += rn;                                      \
            st->class_correct[rl] += rok;                                    \
            st->class_pred[rl] += rok;                                       \
        }                                                                    \
    } while (0)
    for (uint32_t w = 0; w < W; w++) {
        uint16_t l = lab[w];
        if (!plain && p->ignored[l]) {
            if (pix)
                put_pixel(p->pix, pix, w, NAN);
            continue;
        }
        if (!plain && l >= p->K) {
            rc = fault_at(fault, SA_FAULT_LABEL, row, w, 0, l);
            break;
        }
        uint16_t a = arg[w];
        double s = fast ? sv[w] : sc->rowp[(size_t)l * W + w];
        if (pix)
            put_pixel(p->pix, pix, w, s);
        if (!plain)
            sc->sfull[nv++] = s;
        if (!plain && fast && far && fabs(sc->psum[w] - 1.0) > SA_SUM_TOL) {
            if (out->far++ == 0) {
                out->far_row = row;
                out->far_col = w;
                out->far_sum = sc->psum[w];
            }
        }
        if (l != rl) {
            FLUSH_RUN();
            rl = l;
            racc = class_sum[l];
            rn = rok = 0;
        }
        racc += s;
        rn++;
        rok += a == l;
        if (a != l)
            st->class_pred[a]++;
        sum_s += s;
        rmin = s < rmin ? s : rmin;
        if (s > SA_TAU && hist) {
            if (s >= 1.0)
                top++;
            else
                hist[sa_hist_bucket(s) >> p->hist_shift]++;
        }
        if (a != l || s <= SA_TAU) {
            SaRecord rec = {
                .s = s,
                .phat = fast ? sc->phat[w] : sc->rowp[(size_t)a * W + w],
                .image = image,
                .pixel = row * W + w,
                .label = l,
                .pred = a,
                .ndetail = 0,
                .flags = a != l ? SA_REC_MISMATCH : 0,
            };
            if (emit(recs, &rec, NULL) != 0) {
                rc = fault_at(fault, SA_FAULT_NOMEM, row, w, 0, 0);
                break;
            }
        }
    }
    FLUSH_RUN();
#undef FLUSH_RUN
    if (top)
        hist[sa_hist_bucket(1.0) >> p->hist_shift] += top;
    out->sum_s = sum_s;
    /* the least so far and the row's: the first of equal ones, as if
     * taken pixel by pixel */
    out->min_s = rmin < min_s ? rmin : min_s;
    *nvalid = plain ? W : nv;
    *least = rmin;
    *scores = plain ? sv : sc->sfull;
    return rc;
}

/* Pass 1's row: the plain loop where the row allows it, else the general
 * one. */
static int row_pass1(const SaKernelParams *p, const Scratch *sc,
                     const void *probs, uint32_t band_rows, uint32_t r,
                     const uint16_t *lab, const uint16_t *arg, int far,
                     uint32_t image, uint32_t row, SaRowOut *out,
                     double *class_sum, const SaBandStats *st,
                     SaRecBuf *recs, SaKernelFault *fault, size_t *nvalid,
                     double *least, const double **scores)
{
    int plain = !p->logits && !p->pix && !far;
    for (uint32_t k = 0; plain && k < p->K; k++)
        plain = !p->ignored[k];
    uint16_t most = 0;
    for (uint32_t w = 0; plain && w < p->W; w++)
        most = lab[w] > most ? lab[w] : most;
    plain = plain && most < p->K;
    return plain ? row_pass1_loop(p, sc, probs, band_rows, r, lab, arg, far,
                                  image, row, out, class_sum, st, recs, fault,
                                  nvalid, least, scores, 1)
                 : row_pass1_loop(p, sc, probs, band_rows, r, lab, arg, far,
                                  image, row, out, class_sum, st, recs, fault,
                                  nvalid, least, scores, 0);
}


const uint16_t *sa_kernel_last_argmax(const SaKernelParams *p,
                                      void *scratch)
{
    Scratch sc;
    carve(p, scratch, &sc);
    return sc.arg;
}

int sa_kernel_block_row(const SaKernelParams *p, void *scratch,
                        const void *probs, uint32_t band_rows, uint32_t brow,
                        const uint16_t *labels, uint32_t image, uint32_t row0,
                        SaRowOut *out, double *class_sum,
                        const SaBandStats *st, SaRecBuf *recs,
                        SaKernelFault *fault)
{
    uint64_t *class_count = st->class_count, *hist = st->hist;
    const uint32_t K = p->K, W = p->W, f = p->f, Wb = W / f;
    const int stats = p->rec_mode == SA_REC_PASS1;
    /* at full resolution, probabilities need not be kept decoded */
    const int fast = f == 1 && !p->logits;
    Scratch sc;
    carve(p, scratch, &sc);

    if (f > 1)
        memset(sc.bacc, 0, (size_t)K * Wb * sizeof(double));

    for (uint32_t dy = 0; dy < f; dy++) {
        const uint16_t *lab = labels + (size_t)dy * W;
        uint16_t *arg = sc.arg + (size_t)dy * W;
        uint32_t row = row0 + dy;

        uint32_t col = 0, cls = 0;
        double val = 0;
        int kind = 0, far = 1;
        if (fast ? decode_stats(p, probs, band_rows, brow + dy, sc.rowp,
                                sc.phat, sc.argd, sc.mn, sc.psum, arg, &far)
                 : decode_row(p, probs, band_rows, brow + dy, sc.rowp,
                              sc.sfull, sc.argd, sc.mn, sc.psum, arg)) {
            if (fast) /* the decoded row, to find the bad value in it */
                decode_row(p, probs, band_rows, brow + dy, sc.rowp, sc.sfull,
                           sc.argd, sc.mn, sc.psum, arg);
            kind = check_row(p, sc.rowp, &col, &cls, &val);
        }
        /* labels are checked too, and the leftmost problem wins (pass 1
         * at full resolution checks them as it goes, when the row's
         * probabilities are valid) */
        const int own_check = !kind && f == 1 && stats;
        for (uint32_t w = 0; !own_check && w < W && (!kind || w < col); w++)
            if (lab[w] >= K && !p->ignored[lab[w]])
                return fault_at(fault, SA_FAULT_LABEL, row, w, 0, lab[w]);
        if (kind)
            return fault_at(fault, kind, row, col, cls, val);
        if (p->logits) {
            softmax_row(p, sc.rowp);
            argmax_row(p, sc.rowp, arg, sc.sfull);
        }

        size_t nv = 0;
        if (f == 1 && stats) {
            double least;
            const double *scores;
            if (row_pass1(p, &sc, probs, band_rows, brow + dy, lab, arg,
                          far, image, row, out, class_sum, st, recs, fault,
                          &nv, &least, &scores))
                return -1;
            sa_softmin_add_half(&out->softmin, scores, nv, p->T, least,
                                p->exp_half);
            out->valid_pixels += nv;
            continue;
        }
        unsigned char *pix = NULL;
        if (stats && p->pix)
            pix = p->pix->base + (int64_t)image * p->pix->sn +
                  (int64_t)row * p->pix->sh;
        for (uint32_t w = 0; w < W; w++) {
            uint16_t l = lab[w];
            double s = p->ignored[l] ? NAN
                       : fast ? stored_value(p, probs, band_rows, brow + dy, l, w)
                              : sc.rowp[(size_t)l * W + w];
            if (pix)
                put_pixel(p->pix, pix, w, s);
            if (p->ignored[l])
                continue;
            sc.sfull[nv++] = s;
            if (f > 1) {
                sc.srow[(size_t)dy * W + w] = s;
                sc.prow[(size_t)dy * W + w] = sc.rowp[(size_t)arg[w] * W + w];
            }
            if (stats) {
                if (!p->logits && fabs(sc.psum[w] - 1.0) > SA_SUM_TOL) {
                    if (out->far++ == 0) {
                        out->far_row = row;
                        out->far_col = w;
                        out->far_sum = sc.psum[w];
                    }
                }
                st->class_pixels[l]++;
                st->class_correct[l] += arg[w] == l;
                st->class_pred[arg[w]]++;
                out->sum_s += s;
                out->min_s = s < out->min_s ? s : out->min_s;
            }
            if (f == 1) { /* (pass 1 at f = 1 is row_pass1's) */
                int mis = arg[w] != l;
                if (wants_record(p, s, mis, hist)) {
                    SaRecord r = {
                        .s = s,
                        .phat = fast ? sc.phat[w]
                                     : sc.rowp[(size_t)arg[w] * W + w],
                        .image = image,
                        .pixel = row * W + w,
                        .label = l,
                        .pred = arg[w],
                        .ndetail = 0,
                        .flags = mis ? SA_REC_MISMATCH : 0,
                    };
                    if (emit(recs, &r, NULL) != 0)
                        return fault_at(fault, SA_FAULT_NOMEM, row, w, 0, 0);
                }
            }
        }
        if (stats) {
            sa_softmin_add(&out->softmin, sc.sfull, nv, p->T);
            out->valid_pixels += nv;
        }

        if (f > 1) {
            /* per row: sum over dx, then add to the block (the reference's
             * order: mean over columns, then over rows) */
            for (uint32_t k = 0; k < K; k++) {
                const double *v = sc.rowp + (size_t)k * W;
                double *acc = sc.bacc + (size_t)k * Wb;
                for (uint32_t bw = 0; bw < Wb; bw++) {
                    double t = 0.0;
                    for (uint32_t dx = 0; dx < f; dx++)
                        t += v[bw * f + dx];
                    acc[bw] += t;
                }
            }
        }
    }
    if (f == 1)
        return 0;

    /* Blocks of the block-row. */
    const double area = (double)f * f;
    SaDetail det[256];
    SaDetail *dets = det;
    size_t ff = (size_t)f * f;
    if (ff > 256) {
        dets = malloc(ff * sizeof *dets);
        if (!dets)
            return fault_at(fault, SA_FAULT_NOMEM, row0, 0, 0, 0);
    }
    int rc = 0;
    for (uint32_t bw = 0; bw < Wb; bw++) {
        size_t n = 0;
        for (uint32_t dy = 0; dy < f; dy++)
            for (uint32_t dx = 0; dx < f; dx++) {
                uint16_t l = labels[(size_t)dy * W + bw * f + dx];
                if (!p->ignored[l])
                    sc.blab[n++] = l;
            }
        if (n == 0)
            continue;
        uint16_t l = p->ds_mode == SEGAUDIT_DS_LABELS_MODE
                         ? block_label_mode(sc.blab, n)
                         : block_label_mean(sc.blab, n);
        /* the mean of two classes can land on an ignored value: such a
         * block has no class and is left out like a void one */
        if (p->ignored[l])
            continue;
        double sum = 0.0;
        for (uint32_t k = 0; k < K; k++) {
            sc.bp[k] = sc.bacc[(size_t)k * Wb + bw] / area;
            sum += sc.bp[k];
        }
        uint16_t a = 0;
        for (uint32_t k = 0; k < K; k++) {
            sc.bp[k] = sum > 0 ? sc.bp[k] / sum : 0.0;
            if (sc.bp[k] > sc.bp[a])
                a = (uint16_t)k;
        }
        double s = sc.bp[l];
        int mis = a != l;
        if (stats) {
            class_sum[l] += s;
            class_count[l]++;
        }
        if (!wants_record(p, s, mis, hist))
            continue;
        SaRecord r = {
            .s = s,
            .phat = sc.bp[a],
            .image = image,
            .pixel = (row0 / f) * Wb + bw,
            .label = l,
            .pred = a,
            .ndetail = 0,
            .flags = mis ? SA_REC_MISMATCH : 0,
        };
        for (uint32_t dy = 0; dy < f; dy++)
            for (uint32_t dx = 0; dx < f; dx++) {
                size_t x = (size_t)dy * W + bw * f + dx;
                uint16_t fl = labels[x];
                if (p->ignored[fl] || sc.arg[x] == fl)
                    continue;
                SaDetail d = {(uint16_t)(dy * f + dx), fl, sc.arg[x], 0,
                              sc.srow[x], sc.prow[x]};
                dets[r.ndetail++] = d;
            }
        if (emit(recs, &r, dets) != 0) {
            rc = fault_at(fault, SA_FAULT_NOMEM, row0, bw * f, 0, 0);
            break;
        }
    }
    if (dets != det)
        free(dets);
    return rc;
}

/* The argmax of probabilities as stored (lowest class on ties), without
 * decoding them: a value that is greater as a double is greater as
 * stored.  Half floats are compared by their bits as signed 16-bit
 * integers, which order like the values for the non-negative, finite
 * numbers that pass 1 accepted (0 to 0x7bff), with -0 (0x8000, the only
 * negative integer among them) counted as +0: a comparison that vector
 * units have. */
#define ARGMAX_LOOP(TYPE, KEY)                                               \
    do {                                                                     \
        TYPE *restrict best = (TYPE *)bestmem;                               \
        const TYPE *restrict v0 = (const TYPE *)probs + (size_t)r * W;       \
        for (size_t w = 0; w < W; w++) {                                     \
            best[w] = KEY(v0[w]);                                            \
            arg[w] = 0;                                                      \
        }                                                                    \
        for (size_t k = 1; k < K; k++) {                                     \
            const TYPE *restrict v =                                         \
                (const TYPE *)probs + (k * band_rows + r) * W;               \
            for (size_t w = 0; w < W; w++) {                                 \
                TYPE x = KEY(v[w]);                                          \
                int gt = x > best[w];                                        \
                best[w] = gt ? x : best[w];                                  \
                arg[w] = gt ? (uint16_t)k : arg[w];                          \
            }                                                                \
        }                                                                    \
    } while (0)

#define AS_IS(x) (x)
#define HALF_KEY(x) ((int16_t)((x) < 0 ? 0 : (x)))

SA_ROW_CLONES
static void argmax_stored(const SaKernelParams *p, const void *probs,
                          uint32_t band_rows, uint32_t r, void *bestmem,
                          uint16_t *restrict arg)
{
    const size_t K = p->K, W = p->W;
    switch (p->dtype) {
    case SA_F16: ARGMAX_LOOP(int16_t, HALF_KEY); break;
    case SA_F32: ARGMAX_LOOP(float, AS_IS); break;
    case SA_F64: ARGMAX_LOOP(double, AS_IS); break;
    }
}

void sa_kernel_argmax_row(const SaKernelParams *p, void *scratch,
                          const void *probs, uint32_t band_rows, uint32_t r,
                          uint16_t *arg)
{
    Scratch sc;
    carve(p, scratch, &sc);
    /* invalid values were refused by pass 1 */
    if (!p->logits) {
        argmax_stored(p, probs, band_rows, r, sc.sfull, arg);
        return;
    }
    /* logits: the argmax after the softmax, whose rounding can tie values
     * that differ as stored */
    decode_row(p, probs, band_rows, r, sc.rowp, sc.sfull, sc.argd, sc.mn,
               sc.psum, arg);
    softmax_row(p, sc.rowp);
    argmax_row(p, sc.rowp, arg, sc.sfull);
}
