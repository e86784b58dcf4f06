/* Unit tests of src/kernel/kernels.c: half decoding, the softmin accumulator and
 * the per-block-row kernel (argmax, self-confidence, records, statistics,
 * faults, logits, downsampling).
 *
 * Expected values are computed independently: half values with ldexp,
 * softmin in long double, kernel outputs from hand-derived tables (dyadic
 * probabilities, so every dtype decodes them exactly) and from a plain
 * reference implementation of SPEC.md for random inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/kernels.h"
#include "segaudit/audit.h"

/* ---- Small helpers ------------------------------------------------------ */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
    /* xorshift64* */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, 1). */
static double rng_unif(void)
{
    return (double)(rng_next() >> 11) * 0x1p-53;
}

static uint32_t f2bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static int rel_close(double got, double want, double tol)
{
    if (got == want)
        return 1;
    double d = fabs(got - want);
    double m = fabs(want);
    return d <= tol * m;
}

/* What the current check is about (printed with failures). */
static char g_ctx[256];

#define assert_rel(got, want, tol)                                          \
    do {                                                                    \
        double g_ = (got), w_ = (want);                                     \
        if (!rel_close(g_, w_, (tol)))                                      \
            fail_msg("%s%s = %.17g, expected %.17g (rel tol %g)", g_ctx,   \
                     #got, g_, w_, (double)(tol));                          \
    } while (0)

#define assert_ctx(cond)                                                    \
    do {                                                                    \
        if (!(cond))                                                        \
            fail_msg("%sfailed: %s", g_ctx, #cond);                         \
    } while (0)

/* Exact double -> half bits for values representable in half (the test
 * data only uses such values), plus inf/NaN. */
static uint16_t d2h(double x)
{
    uint16_t sign = signbit(x) ? 0x8000u : 0;
    double a = fabs(x);
    if (isnan(x))
        return 0x7e00u;
    if (isinf(x))
        return (uint16_t)(sign | 0x7c00u);
    if (a == 0.0)
        return sign;
    if (a < 0x1p-14) {
        double m = a / 0x1p-24;
        assert_true(m == floor(m) && m < 1024);
        return (uint16_t)(sign | (uint16_t)m);
    }
    int e;
    double fr = frexp(a, &e); /* a = fr * 2^e, fr in [0.5, 1) */
    int ex = e - 1 + 15;
    double man = (fr * 2.0 - 1.0) * 1024.0;
    assert_true(ex >= 1 && ex <= 30);
    assert_true(man == floor(man));
    return (uint16_t)(sign | (uint16_t)(ex << 10) | (uint16_t)man);
}

/* Value of a stored element once decoded to double. */
static double decoded(SaDtype dt, double x)
{
    switch (dt) {
    case SA_F16: return sa_half_to_float(d2h(x));
    case SA_F32: return (double)(float)x;
    default: return x;
    }
}

static size_t dtype_size(SaDtype dt)
{
    return dt == SA_F16 ? 2 : dt == SA_F32 ? 4 : 8;
}

/* Converts n doubles into a freshly allocated buffer of dtype dt. */
static void *make_probs(SaDtype dt, const double *v, size_t n)
{
    unsigned char *buf = malloc(n * dtype_size(dt) + 1);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        if (dt == SA_F16) {
            uint16_t h = d2h(v[i]);
            memcpy(buf + 2 * i, &h, 2);
        } else if (dt == SA_F32) {
            float f = (float)v[i];
            memcpy(buf + 4 * i, &f, 4);
        } else {
            memcpy(buf + 8 * i, &v[i], 8);
        }
    }
    return buf;
}

static uint8_t g_ignored[65536];

static void init_params(SaKernelParams *p, uint32_t K, uint32_t W,
                        uint32_t f, SaDtype dt)
{
    memset(p, 0, sizeof *p);
    p->K = K;
    p->W = W;
    p->f = f;
    p->ds_mode = SEGAUDIT_DS_LABELS_MEAN;
    p->dtype = dt;
    p->logits = 0;
    p->T = 0.1;
    p->ignored = g_ignored;
    p->rec_mode = SA_REC_PASS1;
    p->max_bucket = 0;
}

/* Exactly sa_kernel_scratch_size() bytes, 64-byte aligned, filled with
 * 0xff (NaN doubles) unless told otherwise so that reads of stale scratch
 * show up. */
static void *alloc_scratch(const SaKernelParams *p, int poison)
{
    size_t n = sa_kernel_scratch_size(p);
    assert_true(n > 0);
    assert_int_equal(n % 64, 0);
    void *s = aligned_alloc(64, n);
    assert_non_null(s);
    if (poison)
        memset(s, 0xff, n);
    return s;
}

/* Outputs of one kernel call. */
typedef struct Run {
    SaRowOut out;
    double class_sum[8];
    uint64_t class_count[8], class_pixels[8], class_correct[8], class_pred[8];
    uint64_t *hist;
    SaBandStats st;
    SaRecBuf recs;
    SaKernelFault fault;
    int rc;
} Run;

static void run_init(Run *r)
{
    memset(r, 0, sizeof *r);
    sa_softmin_init(&r->out.softmin);
    r->out.min_s = INFINITY;
    r->hist = calloc(SA_HIST_BUCKETS, sizeof *r->hist);
    assert_non_null(r->hist);
    r->st.class_count = r->class_count;
    r->st.class_pixels = r->class_pixels;
    r->st.class_correct = r->class_correct;
    r->st.class_pred = r->class_pred;
    r->st.hist = r->hist;
}

static void run_free(Run *r)
{
    free(r->hist);
    sa_recbuf_free(&r->recs);
}

static void run_kernel(const SaKernelParams *p, const void *probs,
                       uint32_t band_rows, uint32_t brow,
                       const uint16_t *labels, uint32_t image, uint32_t row0,
                       Run *r)
{
    void *scratch = alloc_scratch(p, 1);
    r->rc = sa_kernel_block_row(p, scratch, probs, band_rows, brow, labels,
                                image, row0, &r->out, r->class_sum, &r->st,
                                &r->recs, &r->fault);
    free(scratch);
}

/* One full-resolution row of K x W values pr (stored as dt, probabilities
 * or logits) and labels lab, through the kernel as row `row` of image
 * `image`, into r (run_init'd here; the caller checks and frees it). */
static void run_row(SaDtype dt, int logits, uint32_t K, uint32_t W,
                    const double *pr, const uint16_t *lab, uint32_t image,
                    uint32_t row, Run *r)
{
    SaKernelParams p;
    init_params(&p, K, W, 1, dt);
    p.logits = logits;
    void *probs = make_probs(dt, pr, (size_t)K * W);
    run_init(r);
    run_kernel(&p, probs, 1, 0, lab, image, row, r);
    free(probs);
}

/* i-th record of a record buffer (and its details). */
static const SaRecord *rec_at(const SaRecBuf *b, uint64_t i,
                              const SaDetail **det)
{
    size_t off = 0;
    for (uint64_t j = 0; j < i; j++) {
        assert_true(off + sizeof(SaRecord) <= b->len);
        off += sa_record_size((const SaRecord *)(b->data + off));
    }
    assert_true(off + sizeof(SaRecord) <= b->len);
    const SaRecord *r = (const SaRecord *)(b->data + off);
    assert_true(off + sa_record_size(r) <= b->len);
    if (det)
        *det = (const SaDetail *)(r + 1);
    return r;
}

static uint64_t hist_total(const uint64_t *h)
{
    uint64_t t = 0;
    for (size_t i = 0; i < SA_HIST_BUCKETS; i++)
        t += h[i];
    return t;
}

/* Long-double softmin of SPEC.md. */
static long double softmin_ref(const double *s, size_t n, double T)
{
    long double m = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        long double z = (1.0L - s[i]) / T;
        if (z > m)
            m = z;
    }
    long double sum = 0, wsum = 0;
    for (size_t i = 0; i < n; i++) {
        long double e = expl((1.0L - s[i]) / T - m);
        sum += e;
        wsum += s[i] * e;
    }
    return wsum / sum;
}

/* ---- sa_half_to_float ----------------------------------------------------- */

/* The row conversion (F16C where the CPU has it) gives every half the
 * value sa_half_to_float gives it, at every offset of a row. */
static void test_halves_row(void **state)
{
    (void)state;
    uint16_t *h = malloc(65536 * sizeof *h);
    double *d = malloc((65536 + 16) * sizeof *d);
    assert_non_null(h);
    assert_non_null(d);
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)(i * 40503u); /* every pattern, shuffled */
    for (size_t start = 0; start < 9; start++) {
        size_t n = 65536 - start;
        sa_halves_to_double(h + start, d, n);
        for (size_t i = 0; i < n; i++) {
            double want = (double)sa_half_to_float(h[start + i]);
            if (isnan(want) ? !isnan(d[i])
                            : memcmp(&want, &d[i], sizeof want) != 0)
                fail_msg("half 0x%04x at %zu: %a, expected %a",
                         h[start + i], i, d[i], want);
        }
    }
    free(h);
    free(d);
}

static void test_half_all_patterns(void **state)
{
    (void)state;
    unsigned nan_count = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int neg = (h & 0x8000u) != 0;
        int ex = (int)((h >> 10) & 0x1fu);
        int man = (int)(h & 0x3ffu);
        float got = sa_half_to_float((uint16_t)h);
        if (ex == 31 && man != 0) {
            if (!isnan(got))
                fail_msg("half 0x%04x: expected NaN, got %a", h,
                         (double)got);
            nan_count++;
            continue;
        }
        double want;
        if (ex == 31)
            want = INFINITY;
        else if (ex == 0)
            want = ldexp((double)man, -24);
        else
            want = ldexp((double)(man + 1024), ex - 25);
        if (neg)
            want = -want;
        float wantf = (float)want;
        assert_true((double)wantf == want); /* exact in float */
        if (f2bits(got) != f2bits(wantf))
            fail_msg("half 0x%04x: got %a (0x%08x), expected %a (0x%08x)", h,
                     (double)got, f2bits(got), want, f2bits(wantf));
    }
    assert_int_equal(nan_count, 2 * 1023);

    /* a few landmarks, spelled out */
    assert_true(sa_half_to_float(0x0001) == 0x1p-24f);
    assert_true(sa_half_to_float(0x03ff) == 1023 * 0x1p-24f);
    assert_true(sa_half_to_float(0x0400) == 0x1p-14f);
    assert_true(sa_half_to_float(0x3c00) == 1.0f);
    assert_true(sa_half_to_float(0x3555) == 0x1.554p-2f);
    assert_true(sa_half_to_float(0x7bff) == 65504.0f);
    assert_true(sa_half_to_float(0xfbff) == -65504.0f);
    assert_true(sa_half_to_float(0x8001) == -0x1p-24f);
    assert_int_equal(f2bits(sa_half_to_float(0x0000)), 0x00000000u);
    assert_int_equal(f2bits(sa_half_to_float(0x8000)), 0x80000000u);
    assert_true(isinf(sa_half_to_float(0x7c00)) &&
                sa_half_to_float(0x7c00) > 0);
    assert_true(isinf(sa_half_to_float(0xfc00)) &&
                sa_half_to_float(0xfc00) < 0);
    assert_true(isnan(sa_half_to_float(0x7c01)));
    assert_true(isnan(sa_half_to_float(0x7e00)));
    assert_true(isnan(sa_half_to_float(0xffff)));
}

/* ---- softmin ---------------------------------------------------------------- */

static double softmin_once(const double *s, size_t n, double T)
{
    SaSoftmin a;
    sa_softmin_init(&a);
    sa_softmin_add(&a, s, n, T);
    assert_int_equal(a.n, n);
    return sa_softmin_value(&a);
}

static void test_softmin_vs_reference(void **state)
{
    (void)state;
    const double Ts[] = {0.1, 0.01, 10.0};
    const size_t sizes[] = {1, 2, 3, 7, 64, 1000, 4097};
    double *s = malloc(4097 * sizeof *s);
    assert_non_null(s);
    for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            for (int rep = 0; rep < 5; rep++) {
                size_t n = sizes[si];
                double lo = INFINITY, hi = -INFINITY;
                for (size_t i = 0; i < n; i++) {
                    /* mixture: uniform, near 1, near 0 */
                    double u = rng_unif();
                    switch (rep % 3) {
                    case 0: s[i] = u; break;
                    case 1: s[i] = 1.0 - u * u * 0.05; break;
                    default: s[i] = u < 0.1 ? u * 0.01 : 0.9 + 0.1 * u;
                    }
                    lo = fmin(lo, s[i]);
                    hi = fmax(hi, s[i]);
                }
                double got = softmin_once(s, n, Ts[ti]);
                long double want = softmin_ref(s, n, Ts[ti]);
                assert_true(isfinite(got));
                assert_true(got >= lo && got <= hi);
                assert_rel(got, (double)want, 1e-12);
            }
        }
    }
    free(s);
}

static void test_softmin_extreme_temperature(void **state)
{
    (void)state;
    /* z ranges over [0, 1000]: without the max subtraction exp overflows */
    double s[6] = {1.0, 0.0, 0.5, 1.0, 0.0, 0.999};
    double got = softmin_once(s, 6, 0.001);
    assert_true(isfinite(got));
    assert_true(got >= 0.0 && got <= 1.0);
    assert_rel(got, (double)softmin_ref(s, 6, 0.001), 1e-12);
    assert_true(got < 1e-200); /* the zeros carry (nearly) all the weight */

    double t[3] = {1.0, 1.0, 0.9995};
    got = softmin_once(t, 3, 0.001);
    assert_true(isfinite(got));
    assert_rel(got, (double)softmin_ref(t, 3, 0.001), 1e-12);

    /* even smaller T: z = 1e6 */
    double u[4] = {0.0, 1.0, 0.25, 1.0};
    got = softmin_once(u, 4, 1e-6);
    assert_true(isfinite(got));
    assert_true(got == 0.0);

    /* merged partials at T = 0.001 stay finite too */
    SaSoftmin a, b;
    sa_softmin_init(&a);
    sa_softmin_init(&b);
    sa_softmin_add(&a, s + 0, 1, 0.001); /* s = 1: z = 0 */
    sa_softmin_add(&b, s + 1, 1, 0.001); /* s = 0: z = 1000 */
    sa_softmin_merge(&a, &b);
    assert_true(isfinite(sa_softmin_value(&a)));
    assert_rel(sa_softmin_value(&a), 0.0, 0.0);
}

static void test_softmin_all_equal(void **state)
{
    (void)state;
    const double vals[] = {0.0, 0.1, 0.3, 1.0 / 3.0, 0.5, 0.7, 0.9, 1.0,
                           0.123456789, 0x1p-30};
    const size_t ns[] = {1, 2, 3, 10, 100, 1000};
    const double Ts[] = {0.1, 0.01, 10.0};
    static double s[1000]; /* static: nothing leaks when a check fails */
    for (size_t vi = 0; vi < sizeof vals / sizeof vals[0]; vi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
            for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
                size_t n = ns[ni];
                for (size_t i = 0; i < n; i++)
                    s[i] = vals[vi];
                double got = softmin_once(s, n, Ts[ti]);
                if (got != vals[vi])
                    fail_msg("all-equal scores %.17g (n=%zu, T=%g): softmin "
                             "%.17g, expected exactly the score",
                             vals[vi], n, Ts[ti], got);
            }
}

/* Partials of s[0..N) cut at random points, combined as a left fold, as
 * consecutive adds, as a pairwise tree and as a right fold: all within
 * `tol` (relative) of the one-call result. */
static void groupings(size_t N, double tol)
{
    const double Ts[] = {0.1, 0.01, 10.0};
    double *s = malloc(N * sizeof *s);
    assert_non_null(s);
    for (size_t ti = 0; ti < 3; ti++) {
        double T = Ts[ti];
        for (int rep = 0; rep < 20; rep++) {
            snprintf(g_ctx, sizeof g_ctx, "N=%zu T=%g rep %d: ", N, T, rep);
            for (size_t i = 0; i < N; i++)
                s[i] = rng_unif();
            double whole = softmin_once(s, N, T);

            /* random cut points */
            size_t cuts[34];
            size_t nc = 0;
            cuts[nc++] = 0;
            for (int c = 0; c < 32 && (size_t)c < N; c++)
                cuts[nc++] = (size_t)(rng_next() % (N + 1));
            cuts[nc++] = N;
            for (size_t i = 1; i < nc; i++) /* sort */
                for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                    size_t t = cuts[j];
                    cuts[j] = cuts[j - 1];
                    cuts[j - 1] = t;
                }
            size_t np = nc - 1;
            SaSoftmin parts[33];
            for (size_t i = 0; i < np; i++) {
                sa_softmin_init(&parts[i]);
                sa_softmin_add(&parts[i], s + cuts[i], cuts[i + 1] - cuts[i],
                               T);
            }
            /* left fold */
            SaSoftmin left;
            sa_softmin_init(&left);
            for (size_t i = 0; i < np; i++)
                sa_softmin_merge(&left, &parts[i]);
            /* one accumulator fed by consecutive adds */
            SaSoftmin adds;
            sa_softmin_init(&adds);
            for (size_t i = 0; i < np; i++)
                sa_softmin_add(&adds, s + cuts[i], cuts[i + 1] - cuts[i], T);
            /* pairwise tree */
            SaSoftmin tree[33];
            memcpy(tree, parts, sizeof tree);
            size_t m = np;
            while (m > 1) {
                size_t k = 0;
                for (size_t i = 0; i < m; i += 2) {
                    tree[k] = tree[i];
                    if (i + 1 < m)
                        sa_softmin_merge(&tree[k], &tree[i + 1]);
                    k++;
                }
                m = k;
            }
            /* right fold */
            SaSoftmin right = parts[np - 1];
            for (size_t i = np - 1; i-- > 0;) {
                SaSoftmin t = parts[i];
                sa_softmin_merge(&t, &right);
                right = t;
            }
            assert_int_equal(left.n, N);
            assert_int_equal(adds.n, N);
            assert_int_equal(tree[0].n, N);
            assert_int_equal(right.n, N);
            assert_rel(sa_softmin_value(&left), whole, tol);
            assert_rel(sa_softmin_value(&adds), whole, tol);
            assert_rel(sa_softmin_value(&tree[0]), whole, tol);
            assert_rel(sa_softmin_value(&right), whole, tol);
            long double ref = softmin_ref(s, N, T);
            assert_rel(whole, (double)ref, 1e-12);
            assert_rel(sa_softmin_value(&tree[0]), (double)ref, 1e-12);
        }
    }
    g_ctx[0] = 0;
    free(s);
}

static void test_softmin_groupings(void **state)
{
    (void)state;
    /* Short vectors: 1e-15.  Long ones: the one-call result itself is only
     * good to ~N*eps (plain summation; ~4e-15 measured at N = 2000), so
     * regrouping is held to a bound of that order. */
    groupings(8, 1e-15);
    groupings(24, 1e-15);
    groupings(2000, 1e-13);
}

/* A score that is a half float (most near 1, some subnormal, zero or 2 and
 * more, which the table does not hold), or now and then one that is not. */
static double half_score(void)
{
    uint64_t kind = rng_next() % 16;
    uint16_t h;
    if (kind < 10) /* [0.5, 1] */
        h = (uint16_t)(0x3800 + rng_next() % 0x401);
    else if (kind < 13) /* anything finite and not negative */
        h = (uint16_t)(rng_next() % 0x7c00);
    else if (kind == 13) /* zero, subnormal, smallest normal, 2 */
        h = (uint16_t)((const uint16_t[]){0, 1, 0x3ff, 0x400,
                                          0x4000}[rng_next() % 5]);
    else
        return rng_unif();
    return (double)sa_half_to_float(h);
}

/* a and b: s[0..n) summed by sa_softmin_add_ref and sa_softmin_add_half
 * (with table), each against the least score. */
static void sum_both(const double *s, size_t n, double T, const double *table,
                     SaSoftmin *a, SaSoftmin *b)
{
    double ref = sa_softmin_least(s, n);
    sa_softmin_init(a);
    sa_softmin_init(b);
    sa_softmin_add_ref(a, s, n, T, ref);
    sa_softmin_add_half(b, s, n, T, ref, table);
}

/* The table of exponentials of half floats: entry i is the exponential of
 * the half whose bits are i (as the half decoder gives it); sums with it
 * have the bits of the same sums with the exponentials computed, are
 * those of sa_softmin_add_ref (its own shift) to within a few units in the
 * last place and the SPEC's softmin (in long double) to 1e-12; all-equal
 * scores give their score exactly; rows whose least score is 2 or more,
 * and temperatures below SA_EXP_HALF_MIN_T, are summed as
 * sa_softmin_add_ref sums them, bit for bit. */
static void test_softmin_half(void **state)
{
    (void)state;
    double *table = malloc(SA_EXP_HALF * sizeof *table);
    double *s = malloc(1500 * sizeof *s);
    assert_non_null(table);
    assert_non_null(s);
    assert_int_equal(sa_softmin_half_table(SA_EXP_HALF_MIN_T / 2, table), 0);
    const double Ts[] = {0.1, 1.0, SA_EXP_HALF_MIN_T, 0.25};
    for (int ti = 0; ti < 4; ti++) {
        double T = Ts[ti];
        assert_int_equal(sa_softmin_half_table(T, table), 1);
        for (uint32_t i = 0x400; i < SA_EXP_HALF; i++) {
            double x = (double)sa_half_to_float((uint16_t)i);
            double want = exp((1.0 - x) / T - (1.0 - 0.0) / T);
            if (memcmp(&table[i], &want, sizeof want) != 0)
                fail_msg("T=%g: entry %#x (%.17g) holds %.17g, not %.17g",
                         T, i, x, table[i], want);
        }
        for (int call = 0; call < 100; call++) {
            size_t n = 1 + rng_next() % 1500;
            for (size_t i = 0; i < n; i++)
                s[i] = half_score();
            SaSoftmin a, b, c;
            sum_both(s, n, T, table, &a, &b);
            assert_int_equal(b.n, n);
            /* the table gives the bits of its exponentials computed */
            sa_softmin_init(&c);
            sa_softmin_add_half(&c, s, n, T, sa_softmin_least(s, n), NULL);
            assert_memory_equal(&b, &c, sizeof b);
            assert_rel(sa_softmin_value(&b), sa_softmin_value(&a), 1e-14);
            assert_rel(sa_softmin_value(&b), (double)softmin_ref(s, n, T),
                       1e-12);
            /* merged with a partial summed without the table */
            sa_softmin_add_ref(&a, s, n / 2 + 1, T, sa_softmin_least(s, n / 2 + 1));
            sa_softmin_add_ref(&b, s, n / 2 + 1, T, sa_softmin_least(s, n / 2 + 1));
            assert_rel(sa_softmin_value(&b), sa_softmin_value(&a), 1e-14);
        }
        /* all equal: the score itself */
        for (uint32_t h = 0x3800; h <= 0x3c00; h += 0x41) {
            double x = (double)sa_half_to_float((uint16_t)h);
            for (size_t i = 0; i < 37; i++)
                s[i] = x;
            SaSoftmin b;
            sa_softmin_init(&b);
            sa_softmin_add_half(&b, s, 37, T, x, table);
            assert_true(sa_softmin_value(&b) == x);
        }
        /* least score 2 or more: as without the table */
        for (int call = 0; call < 20; call++) {
            size_t n = 1 + rng_next() % 200;
            for (size_t i = 0; i < n; i++)
                s[i] = (double)sa_half_to_float(
                    (uint16_t)(0x4000 + rng_next() % 0x3c00));
            SaSoftmin a, b;
            sum_both(s, n, T, table, &a, &b);
            assert_memory_equal(&a, &b, sizeof a);
        }
    }
    /* below SA_EXP_HALF_MIN_T: as sa_softmin_add */
    for (size_t i = 0; i < 300; i++)
        s[i] = half_score();
    SaSoftmin a, b;
    sa_softmin_init(&a);
    sa_softmin_init(&b);
    sa_softmin_add(&a, s, 300, SA_EXP_HALF_MIN_T / 2);
    sa_softmin_add_half(&b, s, 300, SA_EXP_HALF_MIN_T / 2,
                        sa_softmin_least(s, 300), table);
    assert_memory_equal(&a, &b, sizeof a);
    free(s);
    free(table);
}

static void test_softmin_empty(void **state)
{
    (void)state;
    SaSoftmin a, e, b;
    sa_softmin_init(&a);
    assert_int_equal(a.n, 0);
    assert_true(isnan(sa_softmin_value(&a)));
    sa_softmin_add(&a, NULL, 0, 0.1); /* n = 0: no-op */
    assert_int_equal(a.n, 0);
    assert_true(isnan(sa_softmin_value(&a)));

    sa_softmin_init(&e);
    sa_softmin_merge(&a, &e); /* empty with empty */
    assert_int_equal(a.n, 0);
    assert_true(isnan(sa_softmin_value(&a)));

    double s[5] = {0.3, 0.9, 0.1, 0.77, 0.5};
    sa_softmin_add(&a, s, 5, 0.1);
    SaSoftmin before = a;
    sa_softmin_merge(&a, &e); /* a ⊕ empty == a, bit for bit */
    assert_memory_equal(&a, &before, sizeof a);
    sa_softmin_add(&a, s, 0, 0.1);
    assert_memory_equal(&a, &before, sizeof a);

    sa_softmin_init(&b);
    sa_softmin_merge(&b, &before); /* empty ⊕ a == a */
    assert_memory_equal(&b, &before, sizeof b);
    assert_true(sa_softmin_value(&b) == sa_softmin_value(&before));
}

/* ---- Kernel, f = 1 ------------------------------------------------------------ */

/* One hand-made row, K = 3, W = 9.  Pixel table:
 *  w  P                      label  a  s       record
 *  0  .375 .375 .25          0      0  .375    yes, flags 0 (tie -> 0)
 *  1  .25  .375 .375         2      1  .375    yes, mismatch (tie -> 1)
 *  2  .5   .25  .25          0      0  .5      yes (s == tau)
 *  3  .75  .125 .125         0      0  .75     no, hist bucket 32768
 *  4  .75  .125 .125         1      0  .125    yes, mismatch
 *  5  .0625 .0625 .875       1000   -  -       ignored
 *  6  .0625 .0625 .875       2      2  .875    no, hist bucket 49152
 *  7  0    0    1            2      2  1       no, hist bucket 65536
 *  8  1    0    0            255    -  -       ignored                     */
#define R1_K 3
#define R1_W 9
static const double r1_probs[R1_K][R1_W] = {
    {.375, .25, .5, .75, .75, .0625, .0625, 0, 1},
    {.375, .375, .25, .125, .125, .0625, .0625, 0, 0},
    {.25, .375, .25, .125, .125, .875, .875, 1, 0},
};
static const uint16_t r1_labels[R1_W] = {0, 2, 0, 0, 1, 1000, 2, 2, 255};

/* Band [K][band_rows][W] with the row at brow, other rows NaN. */
static double *band_of(const double *row, uint32_t K, uint32_t W,
                       uint32_t band_rows, uint32_t brow)
{
    double *b = malloc((size_t)K * band_rows * W * sizeof *b);
    assert_non_null(b);
    for (size_t i = 0; i < (size_t)K * band_rows * W; i++)
        b[i] = NAN;
    for (uint32_t k = 0; k < K; k++)
        memcpy(b + ((size_t)k * band_rows + brow) * W, row + (size_t)k * W,
               W * sizeof *b);
    return b;
}

static void set_ignored(void)
{
    memset(g_ignored, 0, sizeof g_ignored);
    g_ignored[255] = 1;
    g_ignored[1000] = 1;
}

static void check_rec(const SaRecord *r, double s, double phat,
                      uint32_t image, uint32_t pixel, uint16_t label,
                      uint16_t pred, uint16_t ndetail, uint16_t flags)
{
    if (r->s != s || r->phat != phat || r->image != image ||
        r->pixel != pixel || r->label != label || r->pred != pred ||
        r->ndetail != ndetail || r->flags != flags)
        fail_msg("record {s=%.17g phat=%.17g image=%u pixel=%u label=%u "
                 "pred=%u ndetail=%u flags=%u}, expected {s=%.17g "
                 "phat=%.17g image=%u pixel=%u label=%u pred=%u ndetail=%u "
                 "flags=%u}",
                 r->s, r->phat, r->image, r->pixel, r->label, r->pred,
                 r->ndetail, r->flags, s, phat, image, pixel, label, pred,
                 ndetail, flags);
}

static void test_row_f1(void **state)
{
    (void)state;
    set_ignored();
    const SaDtype dts[] = {SA_F32, SA_F64, SA_F16};
    for (size_t di = 0; di < 3; di++) {
        SaKernelParams p;
        init_params(&p, R1_K, R1_W, 1, dts[di]);
        const uint32_t band_rows = 4, brow = 2, image = 7, row0 = 11;
        double *band = band_of(&r1_probs[0][0], R1_K, R1_W, band_rows, brow);
        void *probs = make_probs(dts[di], band, (size_t)R1_K * band_rows * R1_W);
        Run r;
        run_init(&r);
        run_kernel(&p, probs, band_rows, brow, r1_labels, image, row0, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.fault.kind, SA_FAULT_NONE);

        /* records */
        const uint32_t base = row0 * R1_W;
        assert_int_equal(r.recs.count, 4);
        assert_int_equal(r.recs.len, 4 * sizeof(SaRecord));
        check_rec(rec_at(&r.recs, 0, NULL), .375, .375, image, base + 0, 0, 0,
                  0, 0);
        check_rec(rec_at(&r.recs, 1, NULL), .375, .375, image, base + 1, 2, 1,
                  0, SA_REC_MISMATCH);
        check_rec(rec_at(&r.recs, 2, NULL), .5, .5, image, base + 2, 0, 0, 0,
                  0);
        check_rec(rec_at(&r.recs, 3, NULL), .125, .75, image, base + 4, 1, 0,
                  0, SA_REC_MISMATCH);

        /* statistics */
        assert_true(r.class_sum[0] == .375 + .5 + .75);
        assert_true(r.class_sum[1] == .125);
        assert_true(r.class_sum[2] == .375 + .875 + 1.0);
        assert_int_equal(r.class_count[0], 3);
        assert_int_equal(r.class_count[1], 1);
        assert_int_equal(r.class_count[2], 3);
        assert_int_equal(r.class_pixels[0], 3);
        assert_int_equal(r.class_pixels[1], 1);
        assert_int_equal(r.class_pixels[2], 3);
        assert_int_equal(r.out.valid_pixels, 7);
        assert_int_equal(r.out.softmin.n, 7);
        const double sv[7] = {.375, .375, .5, .75, .125, .875, 1.0};
        assert_rel(sa_softmin_value(&r.out.softmin),
                   (double)softmin_ref(sv, 7, p.T), 1e-12);

        /* histogram of s > tau */
        assert_int_equal(hist_total(r.hist), 3);
        assert_int_equal(r.hist[32768], 1);
        assert_int_equal(r.hist[49152], 1);
        assert_int_equal(r.hist[SA_HIST_BUCKETS - 1], 1);
        assert_int_equal(sa_hist_bucket(.75), 32768);
        assert_int_equal(sa_hist_bucket(.875), 49152);

        run_free(&r);
        free(probs);
        free(band);
    }
}

/* The examples of the brief with non-dyadic values (all dtypes). */
static void test_row_f1_ties(void **state)
{
    (void)state;
    set_ignored();
    const SaDtype dts[] = {SA_F32, SA_F64, SA_F16};
    /* pixels: [.4 .4 .2] l=2; [.2 .4 .4] l=2; [.3 .3 .3] l=1; [.2 .2 .6] l=0 */
    const double pr[3][4] = {{.4, .2, .3, .2}, {.4, .4, .3, .2},
                             {.2, .4, .3, .6}};
    const uint16_t lab[4] = {2, 2, 1, 0};
    for (size_t di = 0; di < 3; di++) {
        SaDtype dt = dts[di];
        SaKernelParams p;
        init_params(&p, 3, 4, 1, dt);
        void *probs;
        if (dt == SA_F16) {
            /* the half nearest each value, built by hand */
            const uint16_t h[3][4] = {{0x3666, 0x3266, 0x34cd, 0x3266},
                                      {0x3666, 0x3666, 0x34cd, 0x3266},
                                      {0x3266, 0x3666, 0x34cd, 0x38cd}};
            probs = malloc(sizeof h);
            assert_non_null(probs);
            memcpy(probs, h, sizeof h);
        } else {
            probs = make_probs(dt, &pr[0][0], 12);
        }
        Run r;
        run_init(&r);
        run_kernel(&p, probs, 1, 0, lab, 0, 0, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.recs.count, 4); /* all mismatched or s <= .5 */
        const SaRecord *x;
        double v4, v2, v3, v6;
        if (dt == SA_F16) {
            v4 = sa_half_to_float(0x3666);
            v2 = sa_half_to_float(0x3266);
            v3 = sa_half_to_float(0x34cd);
            v6 = sa_half_to_float(0x38cd);
        } else {
            v4 = decoded(dt, .4);
            v2 = decoded(dt, .2);
            v3 = decoded(dt, .3);
            v6 = decoded(dt, .6);
        }
        x = rec_at(&r.recs, 0, NULL);
        check_rec(x, v2, v4, 0, 0, 2, 0, 0, SA_REC_MISMATCH);
        x = rec_at(&r.recs, 1, NULL);
        check_rec(x, v4, v4, 0, 1, 2, 1, 0, SA_REC_MISMATCH);
        x = rec_at(&r.recs, 2, NULL);
        check_rec(x, v3, v3, 0, 2, 1, 0, 0, SA_REC_MISMATCH);
        x = rec_at(&r.recs, 3, NULL);
        check_rec(x, v2, v6, 0, 3, 0, 2, 0, SA_REC_MISMATCH);
        assert_int_equal(hist_total(r.hist), 0);
        run_free(&r);
        free(probs);
    }
}

/* All labels ignored: nothing recorded, nothing counted. */
static void test_row_f1_all_ignored(void **state)
{
    (void)state;
    set_ignored();
    SaKernelParams p;
    init_params(&p, R1_K, R1_W, 1, SA_F64);
    uint16_t lab[R1_W];
    for (int i = 0; i < R1_W; i++)
        lab[i] = i % 2 ? 255 : 1000;
    Run r;
    run_init(&r);
    run_kernel(&p, r1_probs, 1, 0, lab, 0, 0, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.recs.count, 0);
    assert_int_equal(r.recs.len, 0);
    assert_int_equal(r.out.valid_pixels, 0);
    assert_int_equal(r.out.softmin.n, 0);
    assert_true(isnan(sa_softmin_value(&r.out.softmin)));
    for (int k = 0; k < R1_K; k++) {
        assert_true(r.class_sum[k] == 0.0);
        assert_int_equal(r.class_count[k], 0);
        assert_int_equal(r.class_pixels[k], 0);
    }
    assert_int_equal(hist_total(r.hist), 0);
    run_free(&r);
}

/* A NULL histogram is allowed in pass 1 (the engine passes NULL when it
 * does not need one). */
static void test_row_f1_null_hist(void **state)
{
    (void)state;
    set_ignored();
    SaKernelParams p;
    init_params(&p, R1_K, R1_W, 1, SA_F64);
    Run r;
    run_init(&r);
    void *scratch = alloc_scratch(&p, 1);
    r.st.hist = NULL;
    r.rc = sa_kernel_block_row(&p, scratch, r1_probs, 1, 0, r1_labels, 0, 0,
                               &r.out, r.class_sum, &r.st, &r.recs,
                               &r.fault);
    free(scratch);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.recs.count, 4);
    run_free(&r);
}

/* Second read: only non-mismatched s > tau with bucket <= max_bucket, and
 * no statistics. */
static void test_row_f1_above(void **state)
{
    (void)state;
    set_ignored();
    SaKernelParams p;
    init_params(&p, R1_K, R1_W, 1, SA_F64);
    p.rec_mode = SA_REC_ABOVE;
    p.max_bucket = 49152;
    Run r;
    run_init(&r);
    run_kernel(&p, r1_probs, 1, 0, r1_labels, 2, 5, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.recs.count, 2);
    check_rec(rec_at(&r.recs, 0, NULL), .75, .75, 2, 5 * R1_W + 3, 0, 0, 0,
              0);
    check_rec(rec_at(&r.recs, 1, NULL), .875, .875, 2, 5 * R1_W + 6, 2, 2, 0,
              0);
    for (int k = 0; k < R1_K; k++) {
        assert_true(r.class_sum[k] == 0.0);
        assert_int_equal(r.class_count[k], 0);
        assert_int_equal(r.class_pixels[k], 0);
    }
    assert_int_equal(r.out.valid_pixels, 0);
    assert_int_equal(hist_total(r.hist), 0);
    run_free(&r);
}

/* ---- Faults ------------------------------------------------------------------ */

/* Runs the row r1 modified by `edit` (class, col, value; label edits when
 * cls < 0), checks the fault. */
typedef struct Edit {
    int cls;      /* -1: label */
    int col;
    double value;
} Edit;

/* Applies ed to a row of W columns: values pr[cls * W + col], labels. */
static void apply_edits(double *pr, uint16_t *lab, uint32_t W,
                        const Edit *ed, int ned)
{
    for (int i = 0; i < ned; i++) {
        if (ed[i].cls < 0)
            lab[ed[i].col] = (uint16_t)ed[i].value;
        else
            pr[(size_t)ed[i].cls * W + ed[i].col] = ed[i].value;
    }
}

static void expect_fault(SaDtype dt, int logits, const Edit *ed, int ned,
                         int kind, uint32_t col, uint32_t cls, double value)
{
    set_ignored();
    double pr[R1_K][R1_W];
    uint16_t lab[R1_W];
    memcpy(pr, r1_probs, sizeof pr);
    memcpy(lab, r1_labels, sizeof lab);
    apply_edits(&pr[0][0], lab, R1_W, ed, ned);
    Run r;
    run_row(dt, logits, R1_K, R1_W, &pr[0][0], lab, 4, 13, &r);
    assert_int_equal(r.rc, -1);
    assert_int_equal(r.fault.kind, kind);
    assert_int_equal(r.fault.row, 13);
    assert_int_equal(r.fault.col, col);
    if (kind != SA_FAULT_LABEL)
        assert_int_equal(r.fault.cls, cls);
    if (isnan(value))
        assert_true(isnan(r.fault.value));
    else
        assert_true(r.fault.value == value);
    run_free(&r);
}

static void test_faults_f1(void **state)
{
    (void)state;
    const SaDtype dts[] = {SA_F32, SA_F64, SA_F16};
    for (size_t di = 0; di < 3; di++) {
        SaDtype dt = dts[di];
        Edit e1[] = {{-1, 4, 3}};
        expect_fault(dt, 0, e1, 1, SA_FAULT_LABEL, 4, 0, 3);
        Edit e1b[] = {{-1, 7, 254}};
        expect_fault(dt, 0, e1b, 1, SA_FAULT_LABEL, 7, 0, 254);
        Edit e2[] = {{1, 3, NAN}};
        expect_fault(dt, 0, e2, 1, SA_FAULT_NAN, 3, 1, NAN);
        Edit e3[] = {{2, 6, -0.25}};
        expect_fault(dt, 0, e3, 1, SA_FAULT_NEGATIVE, 6, 2, -0.25);
        Edit e4[] = {{0, 2, INFINITY}};
        expect_fault(dt, 0, e4, 1, SA_FAULT_INF, 2, 0, INFINITY);
        Edit e4t[] = {{1, 8, NAN}}; /* past the last full tile of 8 */
        expect_fault(dt, 0, e4t, 1, SA_FAULT_NAN, 8, 1, NAN);
        Edit e4b[] = {{0, 2, -INFINITY}};
        expect_fault(dt, 0, e4b, 1, SA_FAULT_INF, 2, 0, -INFINITY);
        /* leftmost pixel wins, then the lowest class */
        Edit e5[] = {{0, 6, NAN}, {2, 2, NAN}, {1, 2, -0.5}};
        expect_fault(dt, 0, e5, 3, SA_FAULT_NEGATIVE, 2, 1, -0.5);
        Edit e6[] = {{0, 5, NAN}, {2, 3, INFINITY}};
        expect_fault(dt, 0, e6, 2, SA_FAULT_INF, 3, 2, INFINITY);
        /* a label problem left of a value problem wins, and vice versa */
        Edit e7[] = {{0, 6, NAN}, {-1, 4, 7}};
        expect_fault(dt, 0, e7, 2, SA_FAULT_LABEL, 4, 0, 7);
        Edit e8[] = {{2, 1, NAN}, {-1, 4, 7}};
        expect_fault(dt, 0, e8, 2, SA_FAULT_NAN, 1, 2, NAN);
        /* with logits negative values are fine but NaN / inf are not */
        Edit e9[] = {{2, 6, -3.0}, {1, 7, NAN}};
        expect_fault(dt, 1, e9, 2, SA_FAULT_NAN, 7, 1, NAN);
        Edit e10[] = {{0, 0, -2.0}, {1, 1, -INFINITY}};
        expect_fault(dt, 1, e10, 2, SA_FAULT_INF, 1, 1, -INFINITY);
    }
}

/* Pixels whose probabilities sum far from 1, in a row of 19 pixels of 3
 * classes (0.5, 0.25, 0.25, labels w % 3) changed by ed: want of them,
 * the first at want_col with the sum want_sum.  Column 1 sums to
 * 1 + 2^-7, near enough; column 9 sums far from 1 but is ignored. */
static void far_check(SaDtype dt, const Edit *ed, int ned, uint64_t want,
                      uint32_t want_col, double want_sum)
{
    enum { K = 3, W = 19 };
    double pr[K][W];
    uint16_t lab[W];
    for (int w = 0; w < W; w++) {
        pr[0][w] = 0.5;
        pr[1][w] = 0.25;
        pr[2][w] = 0.25;
        lab[w] = (uint16_t)(w % K);
    }
    pr[0][1] = 0.5078125;
    pr[0][9] = 0.75;
    lab[9] = 255;
    apply_edits(&pr[0][0], lab, W, ed, ned);
    set_ignored();
    Run r;
    run_row(dt, 0, K, W, &pr[0][0], lab, 0, 6, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.out.far, want);
    if (want) {
        assert_int_equal(r.out.far_row, 6);
        assert_int_equal(r.out.far_col, want_col);
        assert_true(r.out.far_sum == want_sum);
    }
    assert_int_equal(r.out.valid_pixels, W - 1);
    run_free(&r);
}

/* Counted over valid pixels only, the first one named, in a full tile of
 * eight columns and in the columns after the last tile alike; and sums a
 * hair's breadth either side of the tolerance, where the float screen
 * lets the exact sums decide. */
static void test_far_sums(void **state)
{
    (void)state;
    const SaDtype dts[] = {SA_F32, SA_F64, SA_F16};
    for (size_t di = 0; di < 3; di++) {
        SaDtype dt = dts[di];
        far_check(dt, NULL, 0, 0, 0, 0);
        far_check(dt, (const Edit[]){{1, 3, 0.75}}, 1, 1, 3, 1.5);
        far_check(dt, (const Edit[]){{1, 17, 0.75}}, 1, 1, 17, 1.5);
        far_check(dt, (const Edit[]){{1, 5, 0.75}, {1, 18, 0.875}}, 2, 2, 5,
                  1.5);
        far_check(dt, (const Edit[]){{1, 16, 0.75}, {1, 2, 0.875}}, 2, 2, 2,
                  1.625);
        if (dt == SA_F16) /* (halves are too coarse for the edge) */
            continue;
        const Edit edge[] = {
            {0, 9, 0.5}, /* no far sum in the row but these */
            {1, 4, 0.25 + 0.0099998},  /* sum 1.0099998: not far */
            {1, 6, 0.25 + 0.0100002},  /* 1.0100002: far */
            {2, 10, 0.25 - 0.0100002}, /* 0.9899998: far */
            {2, 12, 0.25 - 0.0099998}, /* 0.9900002: not far */
        };
        double v = dt == SA_F32 ? (double)(float)edge[2].value : edge[2].value;
        far_check(dt, edge, 5, 2, 6, 0.5 + v + 0.25);
    }
}

/* The float screen with many classes, where its margin (K * 2^-22) is
 * widest and a float sum's rounding largest: rows of eight float32 pixels
 * of K = 2048 irregular values, one pixel of each row summing to a hair's
 * breadth either side of 1 +- SA_SUM_TOL and the others to about 1, each
 * give what the exact double sums give. */
static void test_far_sums_many_classes(void **state)
{
    (void)state;
    enum { K = 2048, W = 8 };
    const double targets[] = {1.0100001, 1.0099999, 0.9899999, 0.9900001,
                              1.0100002, 1.0099998, 0.9899998, 0.9900002,
                              1.0100001, 0.9899999, 1.0100001, 0.9899999};
    double *pr = malloc((size_t)K * W * sizeof *pr);
    uint16_t lab[W];
    assert_non_null(pr);
    set_ignored();
    int far_rows = 0;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        uint64_t want = 0;
        double want_sum = 0;
        for (uint32_t w = 0; w < W; w++) {
            /* class 0 the argmax (Run has statistics for 8 classes) */
            double r[K], tot = 0;
            for (int k = 0; k < K; k++)
                tot += r[k] = (k == 0 ? 100.0 : 0.1) + rng_unif();
            double target = w == 3 ? targets[t] : 1.0, sum = 0;
            for (int k = 0; k < K; k++) {
                pr[(size_t)k * W + w] = target * r[k] / tot;
                sum += (double)(float)pr[(size_t)k * W + w];
            }
            if (fabs(sum - 1.0) > SA_SUM_TOL) {
                assert_int_equal(w, 3);
                want = 1;
                want_sum = sum;
            }
            lab[w] = (uint16_t)w;
        }
        far_rows += (int)want;
        Run r;
        run_row(SA_F32, 0, K, W, pr, lab, 0, 0, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.out.far, want);
        if (want) {
            assert_int_equal(r.out.far_col, 3);
            assert_true(r.out.far_sum == want_sum);
        }
        run_free(&r);
    }
    assert_true(far_rows >= 3 && far_rows <= 9); /* both sides were met */
    free(pr);
}

/* A float32 row whose float sum overflows where its double sum does not
 * (3e38 + 3e38): no fault, and the pixels after the last tile of eight
 * get their own maximum, argmax and sum. */
static void test_float_sum_overflow(void **state)
{
    (void)state;
    enum { K = 2, W = 9 };
    double pr[K][W];
    uint16_t lab[W];
    for (int w = 0; w < W; w++) {
        pr[0][w] = 0.6;
        pr[1][w] = 0.4;
        lab[w] = 1; /* mismatches: every pixel is a record */
    }
    pr[0][0] = pr[1][0] = 3e38;
    set_ignored();
    Run r;
    run_row(SA_F32, 0, K, W, &pr[0][0], lab, 0, 0, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.recs.count, W);
    for (uint32_t w = 1; w < W; w++) {
        const SaRecord *rec = rec_at(&r.recs, w, NULL);
        assert_int_equal(rec->pixel, w);
        assert_int_equal(rec->pred, 0);
        assert_true(rec->phat == (double)0.6f);
        assert_true(rec->s == (double)0.4f);
    }
    assert_int_equal(r.out.far, 1); /* column 0 sums to 6e38 */
    assert_int_equal(r.out.far_col, 0);
    run_free(&r);
}

/* One scratch, set up once for the widest image, serves images of other
 * widths (one dataset per image): float16 rows of widths 64, 40, 17, 33
 * and 8 through it give the bits a scratch of their own gives. */
static void test_scratch_widths(void **state)
{
    (void)state;
    enum { K = 3, WMAX = 64 };
    set_ignored();
    SaKernelParams p;
    init_params(&p, K, WMAX, 1, SA_F16);
    void *shared = alloc_scratch(&p, 1);
    double pr[K * WMAX];
    uint16_t lab[WMAX];
    const uint32_t widths[] = {64, 40, 17, 33, 8, 64, 40};
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        uint32_t W = widths[i];
        for (uint32_t w = 0; w < W; w++) {
            /* multiples of 2^-10: exact as half floats */
            uint32_t ka = 50 + (uint32_t)(rng_next() % 900);
            uint32_t kb = (uint32_t)(rng_next() % (1024 - ka + 1));
            double a = ka / 1024.0, b = kb / 1024.0;
            pr[w] = a;
            pr[W + w] = b;
            pr[2 * W + w] = 1.0 - a - b;
            lab[w] = (uint16_t)(rng_next() % K);
        }
        p.W = W;
        void *probs = make_probs(SA_F16, pr, (size_t)K * W);
        Run own, reuse;
        run_init(&own);
        run_init(&reuse);
        run_kernel(&p, probs, 1, 0, lab, 0, 3, &own);
        reuse.rc = sa_kernel_block_row(&p, shared, probs, 1, 0, lab, 0, 3,
                                       &reuse.out, reuse.class_sum,
                                       &reuse.st, &reuse.recs, &reuse.fault);
        assert_int_equal(own.rc, 0);
        assert_int_equal(reuse.rc, 0);
        assert_memory_equal(&own.out.softmin, &reuse.out.softmin,
                            sizeof own.out.softmin);
        run_free(&own);
        run_free(&reuse);
        free(probs);
    }
    free(shared);
}

/* -0.0 is not negative. */
static void test_negative_zero_ok(void **state)
{
    (void)state;
    set_ignored();
    const SaDtype dts[] = {SA_F32, SA_F64, SA_F16};
    for (size_t di = 0; di < 3; di++) {
        double pr[R1_K][R1_W];
        memcpy(pr, r1_probs, sizeof pr);
        pr[0][7] = -0.0;
        pr[1][7] = -0.0;
        SaKernelParams p;
        init_params(&p, R1_K, R1_W, 1, dts[di]);
        void *probs = make_probs(dts[di], &pr[0][0], (size_t)R1_K * R1_W);
        Run r;
        run_init(&r);
        run_kernel(&p, probs, 1, 0, r1_labels, 0, 0, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.recs.count, 4);
        run_free(&r);
        free(probs);
    }
}

/* ---- Logits ----------------------------------------------------------------- */

static void test_row_logits(void **state)
{
    (void)state;
    set_ignored();
    enum { K = 4, W = 6 };
    const double lg[K][W] = {
        {-1.0, 2.0, 0.5, 3.0, -7.0, 10.0},
        {2.0, 2.0, 0.5, -3.0, -7.0, -10.0},
        {0.5, -4.0, 0.5, 0.0, -7.0, 0.0},
        {-2.5, 1.0, 0.25, 1.0, -7.0, 0.0},
    };
    const uint16_t lab[W] = {1, 0, 3, 3, 2, 0};
    const SaDtype dts[] = {SA_F32, SA_F64, SA_F16};
    for (size_t di = 0; di < 3; di++) {
        SaKernelParams p;
        init_params(&p, K, W, 1, dts[di]);
        p.logits = 1;
        void *probs = make_probs(dts[di], &lg[0][0], (size_t)K * W);
        Run r;
        run_init(&r);
        run_kernel(&p, probs, 1, 0, lab, 1, 2, &r);
        assert_int_equal(r.rc, 0);

        /* reference softmax in long double */
        double s[W], ph[W];
        uint16_t a[W];
        for (int w = 0; w < W; w++) {
            long double m = lg[0][w], sum = 0;
            for (int k = 1; k < K; k++)
                if (lg[k][w] > m)
                    m = lg[k][w];
            for (int k = 0; k < K; k++)
                sum += expl(lg[k][w] - m);
            a[w] = 0;
            for (int k = 1; k < K; k++)
                if (lg[k][w] > lg[a[w]][w])
                    a[w] = (uint16_t)k;
            s[w] = (double)(expl(lg[lab[w]][w] - m) / sum);
            ph[w] = (double)(expl(lg[a[w]][w] - m) / sum);
        }
        /* ties in the logits: pixel 1 (0 and 1 -> 0... 2.0 vs 2.0),
         * pixel 2 (0,1,2 -> 0), pixel 4 (all -> 0) */
        assert_int_equal(a[1], 0);
        assert_int_equal(a[2], 0);
        assert_int_equal(a[4], 0);
        uint64_t nrec = 0;
        double csum[K] = {0};
        for (int w = 0; w < W; w++) {
            int mis = a[w] != lab[w];
            csum[lab[w]] += s[w];
            if (!(mis || s[w] <= 0.5))
                continue;
            const SaRecord *x = rec_at(&r.recs, nrec++, NULL);
            assert_rel(x->s, s[w], 1e-15);
            assert_rel(x->phat, ph[w], 1e-15);
            assert_int_equal(x->image, 1);
            assert_int_equal(x->pixel, 2 * W + w);
            assert_int_equal(x->label, lab[w]);
            assert_int_equal(x->pred, a[w]);
            assert_int_equal(x->flags, mis ? SA_REC_MISMATCH : 0);
        }
        assert_int_equal(r.recs.count, nrec);
        assert_true(nrec >= 4);
        for (int k = 0; k < K; k++)
            assert_rel(r.class_sum[k], csum[k], 1e-14);
        assert_int_equal(r.out.valid_pixels, W);
        run_free(&r);
        free(probs);
    }
}

/* ---- Random rows against a reference (f = 1 and f > 1) ----------------------- */

typedef struct RefRec {
    SaRecord r;
    SaDetail d[64];
} RefRec;

/* Reference of SPEC.md for one block-row (mean label rule unless mode),
 * on decoded doubles pr[K][f][W]. */
static uint64_t ref_block_row(uint32_t K, uint32_t W, uint32_t f, int mode,
                              const double *pr, const uint16_t *lab,
                              uint32_t image, uint32_t row0, RefRec *out,
                              double *csum, uint64_t *ccount,
                              uint64_t *cpix, uint64_t *ccorr,
                              uint64_t *cpred, uint64_t *nhist)
{
    uint64_t n = 0;
    uint32_t Wb = W / f;
    for (uint32_t bw = 0; bw < Wb; bw++) {
        uint32_t vals[64];
        uint32_t nv = 0;
        double bp[8] = {0};
        for (uint32_t dy = 0; dy < f; dy++)
            for (uint32_t dx = 0; dx < f; dx++) {
                size_t x = (size_t)dy * W + bw * f + dx;
                for (uint32_t k = 0; k < K; k++)
                    bp[k] += pr[((size_t)k * f + dy) * W + bw * f + dx];
                if (!g_ignored[lab[x]]) {
                    vals[nv++] = lab[x];
                    cpix[lab[x]]++;
                    /* the pixel's own argmax, lowest class on ties */
                    uint32_t ax = 0;
                    for (uint32_t k = 1; k < K; k++)
                        if (pr[((size_t)k * f + dy) * W + bw * f + dx] >
                            pr[((size_t)ax * f + dy) * W + bw * f + dx])
                            ax = k;
                    ccorr[lab[x]] += ax == lab[x];
                    cpred[ax]++;
                }
            }
        if (nv == 0)
            continue;
        uint32_t l;
        if (mode) {
            uint32_t best = 0, bc = 0;
            for (uint32_t c = 0; c < K; c++) {
                uint32_t cnt = 0;
                for (uint32_t i = 0; i < nv; i++)
                    cnt += vals[i] == c;
                if (cnt > bc) {
                    bc = cnt;
                    best = c;
                }
            }
            l = best;
        } else {
            uint32_t sum = 0;
            for (uint32_t i = 0; i < nv; i++)
                sum += vals[i];
            l = (uint32_t)nearbyint((double)sum / nv); /* half to even */
        }
        /* f = 1: the pixel's own values; f > 1: renormalised mean */
        double tot = 0;
        for (uint32_t k = 0; k < K; k++)
            tot += bp[k];
        if (f == 1)
            tot = 1.0;
        uint32_t a = 0;
        for (uint32_t k = 1; k < K; k++)
            if (bp[k] > bp[a])
                a = k;
        double s = bp[l] / tot, ph = bp[a] / tot;
        csum[l] += s;
        ccount[l]++;
        int mis = a != l;
        if (s > 0.5)
            ++*nhist;
        if (!(mis || s <= 0.5))
            continue;
        RefRec *rr = &out[n++];
        memset(rr, 0, sizeof *rr);
        rr->r.s = s;
        rr->r.phat = ph;
        rr->r.image = image;
        rr->r.pixel = (row0 / f) * Wb + bw;
        rr->r.label = (uint16_t)l;
        rr->r.pred = (uint16_t)a;
        rr->r.flags = mis ? SA_REC_MISMATCH : 0;
        if (f == 1)
            continue;
        for (uint32_t dy = 0; dy < f; dy++)
            for (uint32_t dx = 0; dx < f; dx++) {
                size_t x = (size_t)dy * W + bw * f + dx;
                if (g_ignored[lab[x]])
                    continue;
                uint32_t pa = 0;
                for (uint32_t k = 1; k < K; k++)
                    if (pr[((size_t)k * f + dy) * W + bw * f + dx] >
                        pr[((size_t)pa * f + dy) * W + bw * f + dx])
                        pa = k;
                if (pa == lab[x])
                    continue;
                SaDetail d = {(uint16_t)(dy * f + dx), lab[x], (uint16_t)pa,
                              0, pr[((size_t)lab[x] * f + dy) * W + bw * f + dx],
                              pr[((size_t)pa * f + dy) * W + bw * f + dx]};
                rr->d[rr->r.ndetail++] = d;
            }
    }
    return n;
}

static void random_rows(uint32_t f, int mode, SaDtype dt, int reps)
{
    set_ignored();
    const uint32_t K = 5;
    for (int rep = 0; rep < reps; rep++) {
        /* f = 1: rows of several eight-column tiles and a tail */
        uint32_t Wb = 1 + (uint32_t)(rng_next() % (f == 1 ? 40 : 23));
        uint32_t W = Wb * f;
        uint32_t band_rows = f * (1 + (uint32_t)(rng_next() % 3));
        uint32_t brow = f * (uint32_t)(rng_next() % (band_rows / f));
        uint32_t row0 = f * (uint32_t)(rng_next() % 50);
        uint32_t image = (uint32_t)(rng_next() % 1000);
        size_t nb = (size_t)K * band_rows * W;
        double *band = malloc(nb * sizeof *band);
        double *pr = malloc((size_t)K * f * W * sizeof *pr);
        uint16_t *lab = malloc((size_t)f * W * sizeof *lab);
        RefRec *ref = malloc((size_t)Wb * sizeof *ref);
        assert_non_null(band);
        assert_non_null(pr);
        assert_non_null(lab);
        assert_non_null(ref);
        for (size_t i = 0; i < nb; i++)
            band[i] = NAN;
        for (uint32_t dy = 0; dy < f; dy++)
            for (uint32_t w = 0; w < W; w++) {
                /* unnormalised, sometimes peaked */
                double tot = 0, v[8];
                for (uint32_t k = 0; k < K; k++) {
                    double u = rng_unif();
                    v[k] = u * u * u;
                    tot += v[k];
                }
                double scale = rng_next() % 4 ? 1.0 / tot : 1.0;
                for (uint32_t k = 0; k < K; k++) {
                    double x;
                    if (dt == SA_F16) /* random half in [0, 1) */
                        x = sa_half_to_float(
                            (uint16_t)((rng_next() % 0x3c00u)));
                    else
                        x = decoded(dt, v[k] * scale);
                    pr[((size_t)k * f + dy) * W + w] = x;
                    band[((size_t)k * band_rows + brow + dy) * W + w] = x;
                }
                uint64_t u = rng_next() % 10;
                /* runs of one label, broken by void pixels at times */
                if (w > 0 && rng_next() % 2)
                    lab[(size_t)dy * W + w] = lab[(size_t)dy * W + w - 1];
                else
                    lab[(size_t)dy * W + w] = u == 0   ? 255
                                              : u == 1 ? 1000
                                                       : (uint16_t)(u % K);
            }
        SaKernelParams p;
        init_params(&p, K, W, f, dt);
        p.ds_mode = mode ? SEGAUDIT_DS_LABELS_MODE : SEGAUDIT_DS_LABELS_MEAN;
        void *probs = make_probs(dt, band, nb);
        Run r;
        run_init(&r);
        run_kernel(&p, probs, band_rows, brow, lab, image, row0, &r);
        assert_int_equal(r.rc, 0);
        snprintf(g_ctx, sizeof g_ctx,
                 "random row f=%u %s dtype=%d rep=%d W=%u: ", f,
                 mode ? "mode" : "mean", (int)dt, rep, W);

        double csum[8] = {0};
        uint64_t ccount[8] = {0}, cpix[8] = {0}, nh = 0;
        uint64_t ccorr[8] = {0}, cpred[8] = {0};
        uint64_t n = ref_block_row(K, W, f, mode, pr, lab, image, row0, ref,
                                   csum, ccount, cpix, ccorr, cpred, &nh);
        if (r.recs.count != n)
            fail_msg("%s%llu records, expected %llu", g_ctx,
                     (unsigned long long)r.recs.count,
                     (unsigned long long)n);
        size_t len = 0;
        for (uint64_t i = 0; i < n; i++) {
            const SaDetail *d;
            const SaRecord *x = rec_at(&r.recs, i, &d);
            const SaRecord *e = &ref[i].r;
            if (x->pixel != e->pixel || x->pred != e->pred)
                fail_msg("%srecord %llu: pixel %u pred %u, expected pixel %u "
                         "pred %u", g_ctx, (unsigned long long)i, x->pixel,
                         x->pred, e->pixel, e->pred);
            assert_rel(x->s, e->s, 1e-14);
            assert_rel(x->phat, e->phat, 1e-14);
            if (f == 1) { /* a stored value itself, the same bits */
                assert_ctx(x->s == e->s);
                assert_ctx(x->phat == e->phat);
            }
            assert_ctx(x->image == e->image);
            assert_ctx(x->pixel == e->pixel);
            assert_ctx(x->label == e->label);
            assert_ctx(x->pred == e->pred);
            assert_ctx(x->flags == e->flags);
            assert_ctx(x->ndetail == e->ndetail);
            for (uint16_t j = 0; j < e->ndetail; j++) {
                assert_ctx(d[j].pos == ref[i].d[j].pos);
                assert_ctx(d[j].label == ref[i].d[j].label);
                assert_ctx(d[j].pred == ref[i].d[j].pred);
                assert_ctx(d[j].s == ref[i].d[j].s);
                assert_ctx(d[j].phat == ref[i].d[j].phat);
            }
            len += sa_record_size(x);
        }
        assert_int_equal(r.recs.len, len);
        uint64_t valid = 0;
        for (uint32_t k = 0; k < K; k++) {
            assert_rel(r.class_sum[k], csum[k], 1e-13);
            if (f == 1) /* the same additions in the same order */
                assert_ctx(r.class_sum[k] == csum[k]);
            assert_int_equal(r.class_count[k], ccount[k]);
            assert_int_equal(r.class_pixels[k], cpix[k]);
            assert_int_equal(r.class_correct[k], ccorr[k]);
            assert_int_equal(r.class_pred[k], cpred[k]);
            valid += cpix[k];
        }
        assert_int_equal(r.out.valid_pixels, valid);
        assert_int_equal(r.out.softmin.n, valid);
        assert_int_equal(hist_total(r.hist), nh);
        run_free(&r);
        free(probs);
        free(band);
        free(pr);
        free(lab);
        free(ref);
    }
    g_ctx[0] = 0;
}

static void test_random_rows(void **state)
{
    (void)state;
    const SaDtype dts[] = {SA_F32, SA_F64, SA_F16};
    for (size_t di = 0; di < 3; di++) {
        random_rows(1, 0, dts[di], 40);
        random_rows(2, 0, dts[di], 40);
        random_rows(2, 1, dts[di], 40);
        random_rows(3, 0, dts[di], 30);
        random_rows(3, 1, dts[di], 30);
        random_rows(4, 1, dts[di], 20);
    }
}

/* ---- Kernel, f = 2 -------------------------------------------------------------- */

/* K = 3, W = 16 (8 blocks), two rows.  Pixel distributions: */
#define PA {.5, .25, .25}
#define PB {.25, .5, .25}
#define PC {.25, .25, .5}
#define PD {.375, .375, .25}
#define PE {0, .5, .5}
#define PF {.75, .125, .125}
#define PG {1, .5, .5}
static const double ds_pix[2][16][3] = {
    /* b0     b1      b2      b3      b4      b5      b6      b7 */
    {PA, PB, PC, PA, PB, PB, PD, PE, PC, PA, PA, PA, PF, PF, PG, PG},
    {PB, PC, PA, PB, PC, PE, PC, PC, PA, PC, PA, PA, PF, PF, PG, PG},
};
static const uint16_t ds_lab[2][16] = {
    {0, 1, 0, 0, 1, 1, 0, 1, 255, 0, 255, 255, 0, 0, 1, 1},
    {1, 2, 1, 1, 2, 2, 2, 2, 1, 255, 255, 1000, 0, 0, 1, 1},
};

static void ds_band(double *band, uint32_t band_rows, uint32_t brow)
{
    for (size_t i = 0; i < (size_t)3 * band_rows * 16; i++)
        band[i] = NAN;
    for (int k = 0; k < 3; k++)
        for (int dy = 0; dy < 2; dy++)
            for (int w = 0; w < 16; w++)
                band[((size_t)k * band_rows + brow + dy) * 16 + w] =
                    ds_pix[dy][w][k];
}

static void check_det(const SaDetail *d, uint16_t pos, uint16_t label,
                      uint16_t pred)
{
    if (d->pos != pos || d->label != label || d->pred != pred)
        fail_msg("detail {pos=%u label=%u pred=%u}, expected {%u %u %u}",
                 d->pos, d->label, d->pred, pos, label, pred);
}

static void test_row_f2(void **state)
{
    (void)state;
    set_ignored();
    const SaDtype dts[] = {SA_F32, SA_F64, SA_F16};
    for (size_t di = 0; di < 3; di++) {
        for (int mode = 0; mode < 2; mode++) {
            const uint32_t band_rows = 6, brow = 2, row0 = 4, image = 3;
            double band[3 * 6 * 16];
            ds_band(band, band_rows, brow);
            SaKernelParams p;
            init_params(&p, 3, 16, 2, dts[di]);
            p.ds_mode = mode ? SEGAUDIT_DS_LABELS_MODE
                             : SEGAUDIT_DS_LABELS_MEAN;
            void *probs = make_probs(dts[di], band, sizeof band / sizeof *band);
            Run r;
            run_init(&r);
            run_kernel(&p, probs, band_rows, brow, &ds_lab[0][0], image, row0,
                       &r);
            assert_int_equal(r.rc, 0);
            const uint32_t pb = (row0 / 2) * 8; /* block row 2, Wb = 8 */
            const SaDetail *d;
            const SaRecord *x;
            assert_int_equal(r.recs.count, 6);
            /* b0: labels {0,1,1,2}: mean 1 -> 1, mode 1; P = [.3125 .375
             * .3125]; no pixel mismatched */
            x = rec_at(&r.recs, 0, &d);
            check_rec(x, .375, .375, image, pb + 0, 1, 1, 0, 0);
            /* b1: {0,0,1,1}: mean .5 -> 0, mode tie -> 0; P = [.375 .3125
             * .3125]; pixels (0,0) l0 a2 and (1,0) l1 a0 mismatched */
            x = rec_at(&r.recs, 1, &d);
            check_rec(x, .375, .375, image, pb + 1, 0, 0, 2, 0);
            check_det(&d[0], 0, 0, 2);
            check_det(&d[1], 2, 1, 0);
            /* b2: {1,1,2,2}: mean 1.5 -> 2, mode tie -> 1; P = [.1875 .4375
             * .375]; pixel (1,1) l2 a1 (tie .5/.5 -> 1) */
            x = rec_at(&r.recs, 2, &d);
            if (mode)
                check_rec(x, .4375, .4375, image, pb + 2, 1, 1, 1, 0);
            else
                check_rec(x, .375, .4375, image, pb + 2, 2, 1, 1,
                          SA_REC_MISMATCH);
            check_det(&d[0], 3, 2, 1);
            /* b3: {0,1,2,2}: mean 1.25 -> 1, mode 2; P = [.21875 .34375
             * .4375]; pixel (0,0) is a tie .375/.375 -> 0 == label */
            x = rec_at(&r.recs, 3, &d);
            if (mode)
                check_rec(x, .4375, .4375, image, pb + 3, 2, 2, 0, 0);
            else
                check_rec(x, .34375, .4375, image, pb + 3, 1, 2, 0,
                          SA_REC_MISMATCH);
            /* b4: {255,0,1,255} -> {0,1}: mean .5 -> 0, mode 0; ignored
             * pixels' probabilities still count: P = [.375 .25 .375] -> a = 0
             * (tie); pixel (1,0) l1 a0; ignored (0,0)/(1,1) not listed */
            x = rec_at(&r.recs, 4, &d);
            check_rec(x, .375, .375, image, pb + 4, 0, 0, 1, 0);
            check_det(&d[0], 2, 1, 0);
            /* b5: all ignored: nothing.  b6: all 0, P = [.75 ...]: s > tau,
             * no record, histogram.  b7: P sums to 2 per pixel ->
             * renormalised [.5 .25 .25], label 1, a = 0: every pixel */
            x = rec_at(&r.recs, 5, &d);
            check_rec(x, .25, .5, image, pb + 7, 1, 0, 4, SA_REC_MISMATCH);
            for (uint16_t j = 0; j < 4; j++)
                check_det(&d[j], j, 1, 0);
            size_t want_len = 6 * sizeof(SaRecord) + 8 * sizeof(SaDetail);
            assert_int_equal(r.recs.len, want_len);

            /* statistics: blocks by block label, pixels by own label */
            if (mode) {
                assert_int_equal(r.class_count[0], 3);
                assert_int_equal(r.class_count[1], 3);
                assert_int_equal(r.class_count[2], 1);
                assert_true(r.class_sum[0] == .375 + .375 + .75);
                assert_true(r.class_sum[1] == .375 + .4375 + .25);
                assert_true(r.class_sum[2] == .4375);
            } else {
                assert_int_equal(r.class_count[0], 3);
                assert_int_equal(r.class_count[1], 3);
                assert_int_equal(r.class_count[2], 1);
                assert_true(r.class_sum[0] == .375 + .375 + .75);
                assert_true(r.class_sum[1] == .375 + .34375 + .25);
                assert_true(r.class_sum[2] == .375);
            }
            assert_int_equal(r.class_pixels[0], 9);
            assert_int_equal(r.class_pixels[1], 12);
            assert_int_equal(r.class_pixels[2], 5);
            assert_int_equal(r.out.valid_pixels, 26);
            assert_int_equal(r.out.softmin.n, 26);
            /* softmin over the full-resolution scores */
            double sv[32];
            size_t ns = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int w = 0; w < 16; w++) {
                    uint16_t l = ds_lab[dy][w];
                    if (!g_ignored[l])
                        sv[ns++] = ds_pix[dy][w][l];
                }
            assert_int_equal(ns, 26);
            assert_rel(sa_softmin_value(&r.out.softmin),
                       (double)softmin_ref(sv, ns, p.T), 1e-12);
            /* histogram of blocks with s > tau: b6 only */
            assert_int_equal(hist_total(r.hist), 1);
            assert_int_equal(r.hist[32768], 1);
            run_free(&r);
            free(probs);
        }
    }
}

/* Label rule alone, through 1-class-agnostic blocks: f = 2, K = 4. */
static void test_block_label_rules(void **state)
{
    (void)state;
    set_ignored();
    /* each block: 4 labels (dy0 dx0, dy0 dx1, dy1 dx0, dy1 dx1), the
     * expected mean-rule and mode-rule labels */
    static const struct {
        uint16_t l[4];
        uint16_t mean, mode;
    } cases[] = {
        {{0, 1, 1, 2}, 1, 1},     {{0, 0, 1, 1}, 0, 0},
        {{1, 1, 2, 2}, 2, 1},     {{0, 1, 2, 2}, 1, 2},
        {{2, 3, 3, 3}, 3, 3},     {{0, 0, 0, 3}, 1, 0},
        {{0, 3, 3, 3}, 2, 3},     {{3, 2, 1, 0}, 2, 0},
        {{2, 2, 3, 3}, 2, 2},     {{3, 3, 0, 255}, 2, 3},
        {{255, 1, 2, 1000}, 2, 1}, {{255, 3, 255, 255}, 3, 3},
        {{1, 255, 2, 255}, 2, 1}, {{0, 3, 255, 255}, 2, 0},
        {{3, 1, 3, 1}, 2, 1},     {{2, 0, 0, 2}, 1, 0},
    };
    enum { NC = sizeof cases / sizeof cases[0], K = 4, W = 2 * NC };
    uint16_t lab[2 * W];
    for (int c = 0; c < NC; c++) {
        lab[2 * c] = cases[c].l[0];
        lab[2 * c + 1] = cases[c].l[1];
        lab[W + 2 * c] = cases[c].l[2];
        lab[W + 2 * c + 1] = cases[c].l[3];
    }
    /* uniform probabilities: s = .25 for any label, so every block is
     * recorded; a = 0 */
    double pr[K * 2 * W];
    for (size_t i = 0; i < sizeof pr / sizeof *pr; i++)
        pr[i] = 0.25;
    for (int mode = 0; mode < 2; mode++) {
        SaKernelParams p;
        init_params(&p, K, W, 2, SA_F64);
        p.ds_mode = mode ? SEGAUDIT_DS_LABELS_MODE : SEGAUDIT_DS_LABELS_MEAN;
        Run r;
        run_init(&r);
        run_kernel(&p, pr, 2, 0, lab, 0, 0, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.recs.count, NC);
        for (int c = 0; c < NC; c++) {
            const SaDetail *d;
            const SaRecord *x = rec_at(&r.recs, (uint64_t)c, &d);
            uint16_t want = mode ? cases[c].mode : cases[c].mean;
            if (x->label != want)
                fail_msg("block %d labels {%u,%u,%u,%u} rule %s: label %u, "
                         "expected %u", c, cases[c].l[0], cases[c].l[1],
                         cases[c].l[2], cases[c].l[3], mode ? "mode" : "mean",
                         x->label, want);
            assert_int_equal(x->pixel, c);
            assert_true(x->s == 0.25);
            assert_int_equal(x->pred, 0);
            assert_int_equal(x->flags, want ? SA_REC_MISMATCH : 0);
            /* details: non-ignored pixels labeled != 0 */
            uint16_t nd = 0;
            for (int j = 0; j < 4; j++)
                if (!g_ignored[cases[c].l[j]] && cases[c].l[j] != 0) {
                    assert_true(nd < x->ndetail);
                    check_det(&d[nd], (uint16_t)j, cases[c].l[j], 0);
                    nd++;
                }
            assert_int_equal(x->ndetail, nd);
        }
        run_free(&r);
    }
}

/* f = 17: f*f = 289 details exceed the kernel's stack array. */
static void test_large_block(void **state)
{
    (void)state;
    set_ignored();
    enum { F = 17, K = 2, W = 2 * F };
    double *pr = malloc((size_t)K * F * W * sizeof *pr);
    uint16_t *lab = malloc((size_t)F * W * sizeof *lab);
    assert_non_null(pr);
    assert_non_null(lab);
    for (size_t i = 0; i < (size_t)F * W; i++) {
        pr[i] = 0.75;                  /* class 0 */
        pr[(size_t)F * W + i] = 0.25;  /* class 1 */
        lab[i] = 1;
    }
    lab[5] = 255; /* block 0, pos 5 ignored */
    lab[W + F + 3] = 0; /* block 1, dy 1, dx 3 labeled 0: not a mismatch */
    SaKernelParams p;
    init_params(&p, K, W, F, SA_F64);
    Run r;
    run_init(&r);
    run_kernel(&p, pr, F, 0, lab, 9, F * 3, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.recs.count, 2);
    for (int b = 0; b < 2; b++) {
        const SaDetail *d;
        const SaRecord *x = rec_at(&r.recs, (uint64_t)b, &d);
        check_rec(x, .25, .75, 9, (uint32_t)(3 * 2 + b), 1, 0, F * F - 1,
                  SA_REC_MISMATCH);
        uint16_t skip = b == 0 ? 5 : (uint16_t)(F + 3);
        uint16_t j = 0;
        for (uint16_t pos = 0; pos < F * F; pos++) {
            if (pos == skip)
                continue;
            check_det(&d[j], pos, 1, 0);
            j++;
        }
    }
    assert_int_equal(r.recs.len,
                     2 * sizeof(SaRecord) + 2 * (F * F - 1) * sizeof(SaDetail));
    assert_int_equal(r.class_pixels[1], 2 * F * F - 2);
    assert_int_equal(r.class_pixels[0], 1);
    run_free(&r);
    free(pr);
    free(lab);
}

/* Faults in f = 2: the row is the full-resolution row; checked before any
 * record of the block-row is emitted?  Only the fault itself is checked. */
static void test_faults_f2(void **state)
{
    (void)state;
    set_ignored();
    const SaDtype dts[] = {SA_F32, SA_F64, SA_F16};
    for (size_t di = 0; di < 3; di++) {
        const uint32_t band_rows = 2, brow = 0, row0 = 6;
        double band[3 * 2 * 16];
        uint16_t lab[2][16];
        SaKernelParams p;
        init_params(&p, 3, 16, 2, dts[di]);

        /* label 3 >= K in the second row */
        ds_band(band, band_rows, brow);
        memcpy(lab, ds_lab, sizeof lab);
        lab[1][9] = 3;
        void *probs = make_probs(dts[di], band, sizeof band / sizeof *band);
        Run r;
        run_init(&r);
        run_kernel(&p, probs, band_rows, brow, &lab[0][0], 0, row0, &r);
        assert_int_equal(r.rc, -1);
        assert_int_equal(r.fault.kind, SA_FAULT_LABEL);
        assert_int_equal(r.fault.row, row0 + 1);
        assert_int_equal(r.fault.col, 9);
        assert_true(r.fault.value == 3);
        run_free(&r);
        free(probs);

        /* NaN in the second row, class 2, col 13 */
        ds_band(band, band_rows, brow);
        band[((size_t)2 * band_rows + 1) * 16 + 13] = NAN;
        probs = make_probs(dts[di], band, sizeof band / sizeof *band);
        run_init(&r);
        run_kernel(&p, probs, band_rows, brow, &ds_lab[0][0], 0, row0, &r);
        assert_int_equal(r.rc, -1);
        assert_int_equal(r.fault.kind, SA_FAULT_NAN);
        assert_int_equal(r.fault.row, row0 + 1);
        assert_int_equal(r.fault.col, 13);
        assert_int_equal(r.fault.cls, 2);
        run_free(&r);
        free(probs);

        /* negative in the first row beats inf in the second */
        ds_band(band, band_rows, brow);
        band[((size_t)1 * band_rows + 0) * 16 + 15] = -1.0;
        band[((size_t)0 * band_rows + 1) * 16 + 0] = INFINITY;
        probs = make_probs(dts[di], band, sizeof band / sizeof *band);
        run_init(&r);
        run_kernel(&p, probs, band_rows, brow, &ds_lab[0][0], 0, row0, &r);
        assert_int_equal(r.rc, -1);
        assert_int_equal(r.fault.kind, SA_FAULT_NEGATIVE);
        assert_int_equal(r.fault.row, row0);
        assert_int_equal(r.fault.col, 15);
        assert_int_equal(r.fault.cls, 1);
        assert_true(r.fault.value == -1.0);
        run_free(&r);
        free(probs);
    }
}

/* f = 2 with logits: softmax per full-resolution pixel, then the block
 * mean. */
static void test_row_f2_logits(void **state)
{
    (void)state;
    set_ignored();
    enum { K = 3, W = 4 };
    /* [K][2][W] */
    const double lg[K][2][W] = {
        {{0.0, -1.0, 3.0, 0.0}, {2.0, 0.5, -2.0, 0.0}},
        {{1.0, -1.0, 0.0, 0.0}, {0.0, 0.5, 4.0, 0.0}},
        {{-1.0, 2.0, 1.0, 0.0}, {-3.0, 0.5, 0.0, 0.0}},
    };
    const uint16_t lab[2][W] = {{2, 1, 0, 0}, {0, 2, 1, 1}};
    SaKernelParams p;
    init_params(&p, K, W, 2, SA_F64);
    p.logits = 1;
    Run r;
    run_init(&r);
    run_kernel(&p, lg, 2, 0, &lab[0][0], 0, 0, &r);
    assert_int_equal(r.rc, 0);
    /* reference */
    long double P[K][2][W];
    for (int dy = 0; dy < 2; dy++)
        for (int w = 0; w < W; w++) {
            long double m = -INFINITY, sum = 0;
            for (int k = 0; k < K; k++)
                m = fmaxl(m, lg[k][dy][w]);
            for (int k = 0; k < K; k++)
                sum += expl(lg[k][dy][w] - m);
            for (int k = 0; k < K; k++)
                P[k][dy][w] = expl(lg[k][dy][w] - m) / sum;
        }
    /* block 0: labels {2,1,0,2} mean 1.25 -> 1; block 1: {0,0,1,1} mean
     * .5 -> 0 */
    const uint16_t bl[2] = {1, 0};
    uint64_t nrec = 0;
    for (int b = 0; b < 2; b++) {
        long double bp[K], tot = 0;
        for (int k = 0; k < K; k++) {
            bp[k] = (P[k][0][2 * b] + P[k][0][2 * b + 1] + P[k][1][2 * b] +
                     P[k][1][2 * b + 1]) / 4;
            tot += bp[k];
        }
        int a = 0;
        for (int k = 1; k < K; k++)
            if (bp[k] > bp[a])
                a = k;
        double s = (double)(bp[bl[b]] / tot);
        if (!(a != bl[b] || s <= 0.5))
            continue;
        const SaDetail *d;
        const SaRecord *x = rec_at(&r.recs, nrec++, &d);
        assert_int_equal(x->pixel, b);
        assert_int_equal(x->label, bl[b]);
        assert_int_equal(x->pred, a);
        assert_rel(x->s, s, 1e-14);
        assert_rel(x->phat, (double)(bp[a] / tot), 1e-14);
        /* details: full-resolution argmax of the softmaxed values (same
         * as of the logits) */
        uint16_t nd = 0;
        for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++) {
                int w = 2 * b + dx, pa = 0;
                for (int k = 1; k < K; k++)
                    if (lg[k][dy][w] > lg[pa][dy][w])
                        pa = k;
                if (pa == lab[dy][w])
                    continue;
                assert_true(nd < x->ndetail);
                check_det(&d[nd], (uint16_t)(dy * 2 + dx), lab[dy][w],
                          (uint16_t)pa);
                nd++;
            }
        assert_int_equal(x->ndetail, nd);
    }
    assert_int_equal(r.recs.count, nrec);
    assert_true(nrec >= 1);
    run_free(&r);
}

/* ---- Scratch size ----------------------------------------------------------- */

static void test_scratch_size(void **state)
{
    (void)state;
    set_ignored();
    /* scratch not poisoned here, so valgrind sees any read of memory the
     * kernel did not write; sizes of several shapes */
    const uint32_t shapes[][3] = {{1, 1, 1}, {2, 1, 1}, {3, 7, 1},
                                  {5, 64, 1}, {3, 2, 2}, {4, 12, 3},
                                  {2, 40, 8}, {7, 33, 11}, {1, 16, 16}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        uint32_t K = shapes[i][0], W = shapes[i][1], f = shapes[i][2];
        SaKernelParams p;
        init_params(&p, K, W, f, SA_F64);
        size_t sz = sa_kernel_scratch_size(&p);
        size_t min = (size_t)K * W * 8 + (size_t)W * 8 +
                     (size_t)f * W * 2 + (size_t)f * f * 2;
        if (f > 1)
            min += (size_t)K * (W / f) * 8 + (size_t)K * 8;
        assert_true(sz >= min);
        assert_int_equal(sz % 64, 0);
        void *scratch = aligned_alloc(64, sz);
        assert_non_null(scratch);
        double *pr = malloc((size_t)K * f * W * sizeof *pr);
        uint16_t *lab = malloc((size_t)f * W * sizeof *lab);
        assert_non_null(pr);
        assert_non_null(lab);
        for (size_t j = 0; j < (size_t)K * f * W; j++)
            pr[j] = rng_unif();
        for (size_t j = 0; j < (size_t)f * W; j++)
            lab[j] = (uint16_t)(rng_next() % K);
        Run r;
        run_init(&r);
        for (int mode = 0; mode < 2; mode++) {
            p.ds_mode = mode;
            r.rc = sa_kernel_block_row(&p, scratch, pr, f, 0, lab, 0, 0,
                                       &r.out, r.class_sum, &r.st, &r.recs,
                                       &r.fault);
            assert_int_equal(r.rc, 0);
        }
        run_free(&r);
        free(scratch);
        free(pr);
        free(lab);
    }
}

/* ---- sa_recbuf ----------------------------------------------------------------- */

static void test_recbuf(void **state)
{
    (void)state;
    SaRecBuf b;
    memset(&b, 0, sizeof b);
    assert_int_equal(sa_recbuf_reserve(&b, 10), 0);
    assert_true(b.cap >= 10);
    size_t total = 0;
    for (int i = 0; i < 1000; i++) {
        size_t n = (size_t)(rng_next() % 5000);
        assert_int_equal(sa_recbuf_reserve(&b, n), 0);
        assert_true(b.cap - b.len >= n);
        memset(b.data + b.len, i & 0xff, n);
        b.len += n;
        total += n;
    }
    assert_int_equal(b.len, total);
    assert_int_equal(sa_recbuf_reserve(&b, SIZE_MAX - 8), -1);
    sa_recbuf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

/* The overlays' argmax (sa_kernel_argmax_row) on values as stored: the
 * class of the largest decoded value, the lowest on ties, for every type,
 * with ties, zeros of both signs, half subnormals and values one step
 * apart; and with logits, the class of the largest value after the
 * softmax (computed here as the kernel does), where rounding can tie
 * values that differ as stored. */
static void test_argmax_row(void **state)
{
    (void)state;
    const uint32_t W = 67, band_rows = 3;
    const SaDtype types[] = {SA_F16, SA_F32, SA_F64};
    const uint32_t Ks[] = {1, 2, 5, 19};
    for (int logits = 0; logits < 2; logits++)
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t ki = 0; ki < 4; ki++) {
            const uint32_t K = Ks[ki];
            const SaDtype dt = types[ti];
            size_t n = (size_t)K * band_rows * W;
            double *v = malloc(n * sizeof *v);
            assert_non_null(v);
            for (size_t i = 0; i < n; i++) {
                switch (rng_next() % 9) {
                case 8: /* so small that exp(-x) is 1: a tie after the
                         * softmax, not before (float and double only) */
                    v[i] = dt == SA_F16 ? 0.0 : 0x1p-60;
                    break;
                case 0: v[i] = 0.0; break;
                case 1: v[i] = -0.0; break;
                case 2: v[i] = 0x1p-20; break;  /* a half subnormal */
                case 3: v[i] = 0x1p-24; break;  /* the smallest half */
                case 4: v[i] = 0.25; break;     /* ties */
                case 5: v[i] = 0.25 + 0x1p-12; break; /* one half step up */
                default: /* multiples of 2^-10: exact in every type */
                    v[i] = floor(rng_unif() * 1024.0) / 1024.0;
                    break;
                }
            }
            void *probs = make_probs(dt, v, n);
            SaKernelParams kp = {.K = K, .W = W, .f = 1, .dtype = dt,
                                 .T = 0.1, .logits = logits,
                                 .rec_mode = SA_REC_NONE};
            void *scratch = aligned_alloc(64, sa_kernel_scratch_size(&kp));
            assert_non_null(scratch);
            uint16_t arg[67];
            double x[19];
            for (uint32_t r = 0; r < band_rows; r++) {
                sa_kernel_argmax_row(&kp, scratch, probs, band_rows, r, arg);
                for (uint32_t w = 0; w < W; w++) {
                    double m = -INFINITY, sum = 0.0;
                    for (uint32_t k = 0; k < K; k++) {
                        x[k] = decoded(dt,
                                       v[((size_t)k * band_rows + r) * W + w]);
                        m = x[k] > m ? x[k] : m;
                    }
                    if (logits) {
                        for (uint32_t k = 0; k < K; k++) {
                            x[k] = exp(x[k] - m);
                            sum += x[k];
                        }
                        for (uint32_t k = 0; k < K; k++)
                            x[k] /= sum;
                    }
                    double best = -INFINITY;
                    uint16_t want = 0;
                    for (uint32_t k = 0; k < K; k++)
                        if (x[k] > best) {
                            best = x[k];
                            want = (uint16_t)k;
                        }
                    if (arg[w] != want)
                        fail_msg("type %d, K %u, logits %d, row %u, col %u: "
                                 "argmax %u, expected %u", (int)dt, K, logits,
                                 r, w, arg[w], want);
                }
            }
            free(scratch);
            free(probs);
            free(v);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_all_patterns),
        cmocka_unit_test(test_halves_row),
        cmocka_unit_test(test_softmin_vs_reference),
        cmocka_unit_test(test_softmin_extreme_temperature),
        cmocka_unit_test(test_softmin_all_equal),
        cmocka_unit_test(test_softmin_groupings),
        cmocka_unit_test(test_softmin_empty),
        cmocka_unit_test(test_softmin_half),
        cmocka_unit_test(test_far_sums),
        cmocka_unit_test(test_far_sums_many_classes),
        cmocka_unit_test(test_float_sum_overflow),
        cmocka_unit_test(test_scratch_widths),
        cmocka_unit_test(test_row_f1),
        cmocka_unit_test(test_row_f1_ties),
        cmocka_unit_test(test_row_f1_all_ignored),
        cmocka_unit_test(test_row_f1_null_hist),
        cmocka_unit_test(test_row_f1_above),
        cmocka_unit_test(test_faults_f1),
        cmocka_unit_test(test_negative_zero_ok),
        cmocka_unit_test(test_row_logits),
        cmocka_unit_test(test_random_rows),
        cmocka_unit_test(test_row_f2),
        cmocka_unit_test(test_block_label_rules),
        cmocka_unit_test(test_large_block),
        cmocka_unit_test(test_faults_f2),
        cmocka_unit_test(test_row_f2_logits),
        cmocka_unit_test(test_argmax_row),
        cmocka_unit_test(test_scratch_size),
        cmocka_unit_test(test_recbuf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
