/* Arrays in memory (SegauditArray): labels and probabilities given as
 * arrays instead of files, issue masks and pixel scores written into
 * arrays.
 *
 * Every golden case is loaded into memory and audited in four forms: its
 * stored type in C order (channels-first); float32 channels-last with
 * int64 labels; float64 with every other image slot of a larger buffer
 * (NaN-filled between) and the columns reversed (negative strides); and
 * quantised uint8 against the float32 file audit of the same values.
 * Each run must match expected.json, the expected masks (through
 * issues_out) and P[label] at every pixel (through pixel_scores_out, NaN
 * where the label is ignored).  Then: bad arrays and settings, and a
 * file mapping whose pages are handed back as they are read.
 * Run with the working directory tests/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <hdf5.h>
#include <sys/mman.h>

#include "golden_support.h"
#include "segaudit/segaudit.h"

/* ---- a golden case in memory ------------------------------------------- */

typedef struct Case {
    GsExpected exp;
    double *p;        /* (N,K,H,W) as float64 */
    uint16_t *raw16;  /* float16 cases: the stored bits */
    uint16_t *lab;    /* (N,H,W) */
} Case;

static void load_case(Case *c, const char *name)
{
    memset(c, 0, sizeof *c);
    gs_expected_load(&c->exp, name);
    const GsExpected *e = &c->exp;
    const size_t N = e->N, K = e->K, H = e->H, W = e->W;
    char path[GS_PATH];
    gs_path(path, "%s/%s/probs.h5", GS_GOLDEN_DIR, name);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, "/pred_probs", H5P_DEFAULT);
    assert_true(d >= 0);
    c->p = gs_calloc(N * K * H * W, sizeof *c->p);
    assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                        c->p) >= 0);
    if (strcmp(e->dtype, "float16") == 0) {
        hid_t t = H5Dget_type(d);
        c->raw16 = gs_calloc(N * K * H * W, 2);
        assert_true(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->raw16) >=
                    0);
        H5Tclose(t);
    }
    H5Dclose(d);
    H5Fclose(f);
    c->lab = gs_calloc(N * H * W, sizeof *c->lab);
    for (size_t n = 0; n < N; n++) {
        GsCheck chk;
        gs_check_init(&chk, "%s", name);
        uint32_t w = 0, h = 0;
        gs_path(path, "%s/%s/labels/%s.png", GS_GOLDEN_DIR, name, e->ids[n]);
        uint16_t *v = gs_read_png(path, &w, &h, &chk);
        gs_check_done(&chk);
        assert_true(w == W && h == H);
        memcpy(c->lab + n * H * W, v, H * W * sizeof *v);
        free(v);
    }
}

static void free_case(Case *c)
{
    free(c->p);
    free(c->raw16);
    free(c->lab);
    gs_expected_free(&c->exp);
}

static void case_settings(const Case *c, SegauditSettings *s)
{
    const GsExpected *e = &c->exp;
    segaudit_default_settings(s);
    s->temperature = e->temperature;
    s->downsample = e->downsample;
    s->n_ignore = e->n_ignore;
    memcpy(s->ignore_index, e->ignore, sizeof e->ignore);
    s->image_ids = (const char *const *)e->ids;
    s->n_image_ids = e->N;
    s->n_threads = 2;
}

static int ignored(const GsExpected *e, uint16_t l)
{
    for (int i = 0; i < e->n_ignore; i++)
        if (e->ignore[i] == l)
            return 1;
    return 0;
}

/* The masks written into issues_out equal the expected PNGs, and the
 * pixel scores are P[label] (widened from what was audited: vals). */
static void check_outputs(const Case *c, const uint8_t *issues,
                          const double *scores, const double *vals,
                          GsCheck *chk)
{
    const GsExpected *e = &c->exp;
    const size_t K = e->K, H = e->H, W = e->W;
    for (size_t n = 0; n < e->N; n++) {
        char want[GS_PATH];
        gs_path(want, "%s/%s/expected_issues/%s.png", GS_GOLDEN_DIR, e->name,
                e->ids[n]);
        uint32_t w, h;
        uint16_t *m = gs_read_png(want, &w, &h, chk);
        size_t diff = 0, sdiff = 0;
        for (size_t i = 0; m && i < H * W; i++) {
            diff += (m[i] != 0) != (issues[n * H * W + i] != 0);
            uint16_t l = c->lab[n * H * W + i];
            double got = scores[n * H * W + i];
            if (ignored(e, l))
                sdiff += !isnan(got);
            else
                sdiff += got != vals[((n * K + l) * H) * W + i];
        }
        if (diff)
            gs_fail(chk, "image %s: %zu mask pixels differ", e->ids[n], diff);
        if (sdiff)
            gs_fail(chk, "image %s: %zu pixel scores differ", e->ids[n],
                    sdiff);
        free(m);
    }
}

/* Audits the case from arrays; checks everything against the golden
 * outputs; returns the results in r. */
static void audit_arrays(const Case *c, const char *form,
                         const SegauditArray *lab, const SegauditArray *probs,
                         int layout, int widened, const double *vals,
                         GsResult *r)
{
    const GsExpected *e = &c->exp;
    const size_t N = e->N, H = e->H, W = e->W;
    SegauditSettings s;
    case_settings(c, &s);
    s.labels_array = lab;
    s.probs_array = probs;
    s.layout = layout;
    uint8_t *issues = gs_calloc(N * H * W, 1);
    double *scores = gs_calloc(N * H * W, sizeof *scores);
    uint64_t shape[3] = {N, H, W};
    SegauditArray io, so;
    segaudit_array_init(&io, issues, SEGAUDIT_DTYPE_UINT8, 3, shape);
    segaudit_array_init(&so, scores, SEGAUDIT_DTYPE_FLOAT64, 3, shape);
    s.issues_out = &io;
    s.pixel_scores_out = &so;
    SegauditAudit *a = segaudit_audit_new();
    assert_non_null(a);
    int rc = segaudit_audit_run(a, &s);
    if (rc)
        fail_msg("%s [%s]: %s", e->name, form, segaudit_audit_error(a));
    gs_collect(a, r);
    if (widened) {
        /* the same values, stored wider than the case's own type */
        free(r->dtype);
        r->dtype = gs_strdup(e->dtype);
    }
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    assert_string_equal(in.ids_source, "given");
    segaudit_audit_free(a);
    GsCheck chk;
    gs_check_init(&chk, "%s [%s]", e->name, form);
    gs_check_expected(e, r, &chk);
    check_outputs(c, issues, scores, vals, &chk);
    gs_check_done(&chk);
    free(issues);
    free(scores);
}

static void test_golden_case(void **state)
{
    Case c;
    load_case(&c, (const char *)*state);
    const GsExpected *e = &c.exp;
    const size_t N = e->N, K = e->K, H = e->H, W = e->W;
    const size_t P = N * K * H * W;
    const uint64_t lshape[3] = {N, H, W}, pshape[4] = {N, K, H, W};
    GsResult r[3];

    /* 1: the stored type, C order, channels-first; uint16 labels */
    SegauditArray lab, probs;
    segaudit_array_init(&lab, c.lab, SEGAUDIT_DTYPE_UINT16, 3, lshape);
    void *stored;
    int dt;
    if (c.raw16) {
        stored = c.raw16;
        dt = SEGAUDIT_DTYPE_FLOAT16;
    } else if (strcmp(e->dtype, "float32") == 0) {
        float *v = gs_calloc(P, sizeof *v);
        for (size_t i = 0; i < P; i++)
            v[i] = (float)c.p[i];
        stored = v;
        dt = SEGAUDIT_DTYPE_FLOAT32;
    } else {
        stored = c.p;
        dt = SEGAUDIT_DTYPE_FLOAT64;
    }
    segaudit_array_init(&probs, stored, dt, 4, pshape);
    audit_arrays(&c, "stored type", &lab, &probs, SEGAUDIT_LAYOUT_AUTO, 0,
                 c.p, &r[0]);

    /* 2: float32 channels-last, int64 labels (as float32 of the stored
     * values, which are float32 or narrower except in float64 cases; the
     * golden comparison then holds only for those) */
    if (strcmp(e->dtype, "float64") != 0) {
        float *nhwc = gs_calloc(P, sizeof *nhwc);
        for (size_t n = 0; n < N; n++)
            for (size_t k = 0; k < K; k++)
                for (size_t i = 0; i < H * W; i++)
                    nhwc[(n * H * W + i) * K + k] =
                        (float)c.p[(n * K + k) * H * W + i];
        int64_t *l64 = gs_calloc(N * H * W, sizeof *l64);
        for (size_t i = 0; i < N * H * W; i++)
            l64[i] = c.lab[i];
        SegauditArray lab64, pl;
        segaudit_array_init(&lab64, l64, SEGAUDIT_DTYPE_INT64, 3, lshape);
        const uint64_t nhwc_shape[4] = {N, H, W, K};
        segaudit_array_init(&pl, nhwc, SEGAUDIT_DTYPE_FLOAT32, 4, nhwc_shape);
        audit_arrays(&c, "float32 channels-last", &lab64, &pl,
                     SEGAUDIT_LAYOUT_NHWC,
                     strcmp(e->dtype, "float32") != 0, c.p, &r[1]);
        GsCheck chk;
        gs_check_init(&chk, "%s", e->name);
        free(r[1].dtype);
        r[1].dtype = gs_strdup(r[0].dtype);
        gs_result_diff(&r[0], &r[1], "stored", "channels-last", &chk);
        gs_check_done(&chk);
        gs_result_free(&r[1]);
        free(nhwc);
        free(l64);
    }

    /* 3: float64 in every other slot of a NaN-filled buffer, columns
     * reversed (negative strides), labels as int32 likewise */
    if (strcmp(e->dtype, "float64") == 0) {
        double *big = gs_calloc(2 * P, sizeof *big);
        int32_t *lbig = gs_calloc(2 * N * H * W, sizeof *lbig);
        for (size_t i = 0; i < 2 * P; i++)
            big[i] = NAN;
        for (size_t i = 0; i < 2 * N * H * W; i++)
            lbig[i] = 70000; /* out of range: must never be read */
        for (size_t n = 0; n < N; n++)
            for (size_t k = 0; k < K; k++)
                for (size_t h = 0; h < H; h++)
                    for (size_t w = 0; w < W; w++) {
                        big[(((2 * n) * K + k) * H + h) * W + (W - 1 - w)] =
                            c.p[((n * K + k) * H + h) * W + w];
                        if (k == 0)
                            lbig[((2 * n) * H + h) * W + (W - 1 - w)] =
                                c.lab[(n * H + h) * W + w];
                    }
        SegauditArray pv = {0}, lv = {0};
        pv.data = big + (W - 1);
        pv.dtype = SEGAUDIT_DTYPE_FLOAT64;
        pv.ndim = 4;
        memcpy(pv.shape, pshape, sizeof pshape);
        pv.strides[0] = (int64_t)(2 * K * H * W * 8);
        pv.strides[1] = (int64_t)(H * W * 8);
        pv.strides[2] = (int64_t)(W * 8);
        pv.strides[3] = -8;
        lv.data = lbig + (W - 1);
        lv.dtype = SEGAUDIT_DTYPE_INT32;
        lv.ndim = 3;
        memcpy(lv.shape, lshape, sizeof lshape);
        lv.strides[0] = (int64_t)(2 * H * W * 4);
        lv.strides[1] = (int64_t)(W * 4);
        lv.strides[2] = -4;
        audit_arrays(&c, "float64 strided", &lv, &pv, SEGAUDIT_LAYOUT_NCHW,
                     0, c.p, &r[2]);
        GsCheck chk;
        gs_check_init(&chk, "%s", e->name);
        gs_result_diff(&r[0], &r[2], "stored", "strided", &chk);
        gs_check_done(&chk);
        gs_result_free(&r[2]);
        free(big);
        free(lbig);
    }
    if (stored != c.p && stored != c.raw16)
        free(stored);
    gs_result_free(&r[0]);
    free_case(&c);
}

/* Quantised uint8 from memory: the same results as a float64 array of
 * value / 255. */
static void test_uint8(void **state)
{
    (void)state;
    const size_t N = 3, K = 3, H = 8, W = 10, P = N * K * H * W;
    uint8_t *q = gs_calloc(P, 1);
    double *d = gs_calloc(P, sizeof *d);
    uint8_t *lab = gs_calloc(N * H * W, 1);
    uint32_t x = 12345;
    for (size_t n = 0; n < N; n++)
        for (size_t i = 0; i < H * W; i++) {
            x = x * 1103515245u + 12345u;
            unsigned a = (x >> 16) % 256, b = (x >> 8) % (256 - a);
            unsigned v[3] = {a, b, 255 - a - b};
            for (size_t k = 0; k < K; k++) {
                q[(n * K + k) * H * W + i] = (uint8_t)v[k];
                d[(n * K + k) * H * W + i] = v[k] / 255.0;
            }
            lab[n * H * W + i] = (uint8_t)((x >> 4) % 3);
        }
    const uint64_t ls[3] = {N, H, W}, ps[4] = {N, K, H, W};
    SegauditArray la, qa, da;
    segaudit_array_init(&la, lab, SEGAUDIT_DTYPE_UINT8, 3, ls);
    segaudit_array_init(&qa, q, SEGAUDIT_DTYPE_UINT8, 4, ps);
    segaudit_array_init(&da, d, SEGAUDIT_DTYPE_FLOAT64, 4, ps);
    GsResult r[2];
    for (int i = 0; i < 2; i++) {
        SegauditSettings s;
        segaudit_default_settings(&s);
        s.labels_array = &la;
        s.probs_array = i ? &da : &qa;
        SegauditAudit *a = segaudit_audit_new();
        if (segaudit_audit_run(a, &s))
            fail_msg("%s", segaudit_audit_error(a));
        gs_collect(a, &r[i]);
        if (i == 0) {
            SegauditDatasetInfo in;
            segaudit_audit_info(a, &in);
            assert_string_equal(in.ids_source, "index");
            assert_true(in.quantised);
            assert_int_equal(in.bytes_read, P);
        }
        segaudit_audit_free(a);
    }
    GsCheck chk;
    gs_check_init(&chk, "uint8");
    free(r[1].dtype);
    r[1].dtype = gs_strdup(r[0].dtype); /* "uint8" vs "float64" */
    gs_result_diff(&r[0], &r[1], "uint8", "float64", &chk);
    gs_check_done(&chk);
    assert_true(r[0].n_issues > 0);
    gs_result_free(&r[0]);
    gs_result_free(&r[1]);
    free(q);
    free(d);
    free(lab);
}

/* ---- bad arrays and settings -------------------------------------------- */

typedef struct Small {
    float p[2 * 2 * 3 * 4];
    uint8_t lab[2 * 3 * 4];
    SegauditArray pa, la;
} Small;

static void small_init(Small *s)
{
    for (size_t i = 0; i < 2 * 3 * 4; i++) {
        s->lab[i] = (uint8_t)(i % 2);
        size_t n = i / 12, j = i % 12;
        s->p[(n * 2 + 0) * 12 + j] = 0.25f + (float)(i % 3) * 0.25f;
        s->p[(n * 2 + 1) * 12 + j] = 0.75f - (float)(i % 3) * 0.25f;
    }
    const uint64_t ps[4] = {2, 2, 3, 4}, ls[3] = {2, 3, 4};
    segaudit_array_init(&s->pa, s->p, SEGAUDIT_DTYPE_FLOAT32, 4, ps);
    segaudit_array_init(&s->la, s->lab, SEGAUDIT_DTYPE_UINT8, 3, ls);
}

/* Runs with s and expects code rc and a message containing want. */
static void expect_fail(const SegauditSettings *s, int rc, const char *want)
{
    SegauditAudit *a = segaudit_audit_new();
    assert_non_null(a);
    int got = segaudit_audit_run(a, s);
    const char *msg = segaudit_audit_error(a);
    if (got != rc || !strstr(msg, want))
        fail_msg("returned %d '%s'; expected %d with '%s'", got, msg, rc,
                 want);
    segaudit_audit_free(a);
}

static void test_bad_input(void **state)
{
    (void)state;
    Small sm;
    SegauditSettings s;

    small_init(&sm);
    segaudit_default_settings(&s);
    s.labels_array = &sm.la;
    s.probs_array = &sm.pa;
    SegauditAudit *a = segaudit_audit_new();
    if (segaudit_audit_run(a, &s))
        fail_msg("the small case fails: %s", segaudit_audit_error(a));
    segaudit_audit_free(a);

    /* a label that is not a class: named by image, row and column */
    sm.lab[12 + 4 + 2] = 7;
    expect_fail(&s, SEGAUDIT_EINPUT,
                "labels: image '1' (index 1): label 7 at (row 1, col 2)");
    small_init(&sm);
    /* NaN */
    sm.p[5] = NAN;
    expect_fail(&s, SEGAUDIT_EINPUT, "pred_probs: image '0' (index 0): NaN");
    small_init(&sm);
    /* dimensions, types, shapes */
    sm.pa.ndim = 3;
    expect_fail(&s, SEGAUDIT_EINPUT, "pred_probs: 3 dimensions; expected 4");
    small_init(&sm);
    sm.pa.dtype = SEGAUDIT_DTYPE_INT32;
    expect_fail(&s, SEGAUDIT_EINPUT, "pred_probs: element type is int32");
    small_init(&sm);
    sm.la.dtype = SEGAUDIT_DTYPE_FLOAT32;
    expect_fail(&s, SEGAUDIT_EINPUT, "labels: element type is float32");
    small_init(&sm);
    sm.la.dtype = 99;
    expect_fail(&s, SEGAUDIT_EINVAL, "labels: unknown element type 99");
    small_init(&sm);
    sm.la.shape[0] = 1;
    expect_fail(&s, SEGAUDIT_EINPUT, "1 label maps but pred_probs has N=2");
    small_init(&sm);
    sm.la.shape[2] = 0;
    expect_fail(&s, SEGAUDIT_EINPUT, "dimension 2 is 0");
    small_init(&sm);
    sm.pa.strides[0] = INT64_MAX;
    expect_fail(&s, SEGAUDIT_EINPUT, "reach beyond 2^63 bytes");
    small_init(&sm);
    sm.pa.data = NULL;
    expect_fail(&s, SEGAUDIT_EINVAL, "pred_probs: no data");
    small_init(&sm);

    /* given twice, or with a cache */
    s.labels_dir = "golden";
    expect_fail(&s, SEGAUDIT_EINVAL, "labels are given twice");
    s.labels_dir = NULL;
    s.probs_path = "x.h5";
    expect_fail(&s, SEGAUDIT_EINVAL, "predictions are given twice");
    s.probs_path = NULL;
    s.cache_dir = "/tmp/never";
    expect_fail(&s, SEGAUDIT_EINVAL, "cannot be used with predictions in "
                                     "memory");
    s.cache_dir = NULL;

    /* ids */
    const char *ids1[] = {"a"};
    s.image_ids = ids1;
    s.n_image_ids = 1;
    expect_fail(&s, SEGAUDIT_EINPUT, "1 image ids were given but pred_probs "
                                     "has N=2");
    const char *dup[] = {"a", "a"};
    s.image_ids = dup;
    s.n_image_ids = 2;
    expect_fail(&s, SEGAUDIT_EINPUT, "image id 'a' appears more than once");
    s.image_ids = NULL;
    s.n_image_ids = 0;

    /* outputs of the wrong shape or type */
    double out[2 * 3 * 4];
    const uint64_t os[3] = {2, 3, 5};
    SegauditArray oa;
    segaudit_array_init(&oa, out, SEGAUDIT_DTYPE_FLOAT64, 3, os);
    s.pixel_scores_out = &oa;
    expect_fail(&s, SEGAUDIT_EINVAL, "pixel_scores_out: shape (2,3,5), "
                                     "expected (N,H,W) = (2,3,4)");
    oa.shape[2] = 4;
    oa.dtype = SEGAUDIT_DTYPE_INT32;
    expect_fail(&s, SEGAUDIT_EINVAL, "float32 or float64");
    s.pixel_scores_out = NULL;
    s.issues_out = &oa;
    expect_fail(&s, SEGAUDIT_EINVAL, "issues_out: element type must be bool "
                                     "or uint8");
    /* outputs whose pixels would share bytes: a zero stride, rows that
     * overlap, elements narrower than their type */
    uint8_t mask[2 * 3 * 4];
    SegauditArray ma;
    const uint64_t ms[3] = {2, 3, 4};
    segaudit_array_init(&ma, mask, SEGAUDIT_DTYPE_UINT8, 3, ms);
    s.issues_out = &ma;
    ma.strides[0] = 0;
    expect_fail(&s, SEGAUDIT_EINVAL, "issues_out: strides (0,4,1) make "
                                     "pixels share bytes");
    ma.strides[0] = 12;
    ma.strides[1] = 2;
    expect_fail(&s, SEGAUDIT_EINVAL, "make pixels share bytes");
    s.issues_out = NULL;
    segaudit_array_init(&oa, out, SEGAUDIT_DTYPE_FLOAT64, 3, ms);
    oa.strides[2] = 4;
    oa.strides[1] = 16;
    oa.strides[0] = 48;
    s.pixel_scores_out = &oa;
    expect_fail(&s, SEGAUDIT_EINVAL, "pixel_scores_out: strides (48,16,4) "
                                     "make pixels share bytes");
    /* a reversed, size-one-broadcast-free view is fine */
    segaudit_array_init(&oa, out, SEGAUDIT_DTYPE_FLOAT64, 3, ms);
    oa.data = out + 3;
    oa.strides[2] = -8;
    SegauditAudit *ok = segaudit_audit_new();
    if (segaudit_audit_run(ok, &s))
        fail_msg("reversed output refused: %s", segaudit_audit_error(ok));
    segaudit_audit_free(ok);
    assert_true(out[3] == sm.p[0 + sm.lab[0] * 12]); /* pixel (0,0,0) */
}

/* ---- a shared file mapping: pages handed back as they are read ---------- */

static uint64_t rss_file_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "RssFile: %" SCNu64, &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* Audits an (N,K,H,W) float32 tensor of 48 MiB mapped from a file, with
 * and without file_mapped: the results are the same, and the mapped pages
 * stay resident only without it. */
static void test_file_mapping(void **state)
{
    (void)state;
    const size_t N = 12, K = 4, H = 512, W = 512, P = N * K * H * W;
    char *dir = gs_mkdtemp("test_arrays_");
    char path[GS_PATH];
    gs_path(path, "%s/probs.f32", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)(P * 4)), 0);
    float *w = mmap(NULL, P * 4, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(w != MAP_FAILED);
    uint8_t *lab = gs_calloc(N * H * W, 1);
    uint32_t x = 7;
    for (size_t n = 0; n < N; n++)
        for (size_t i = 0; i < H * W; i++) {
            x = x * 1664525u + 1013904223u;
            float a = (float)(x >> 8) / 16777216.0f;
            for (size_t k = 0; k < K; k++)
                w[(n * K + k) * H * W + i] = k == (x & 3) ? a : (1 - a) / 3;
            lab[n * H * W + i] = (uint8_t)((x >> 3) & 3);
        }
    assert_int_equal(msync(w, P * 4, MS_SYNC), 0);
    assert_int_equal(munmap(w, P * 4), 0);

    GsResult r[3];
    uint64_t grown[3];
    /* 0: shared, not released; 1: shared, released; 2: private (copy on
     * write), which must never be released (a change would be lost) */
    for (int mapped = 0; mapped < 3; mapped++) {
        float *m = mmap(NULL, P * 4, PROT_READ,
                        mapped == 2 ? MAP_PRIVATE : MAP_SHARED, fd, 0);
        assert_true(m != MAP_FAILED);
        const uint64_t ls[3] = {N, H, W}, ps[4] = {N, K, H, W};
        SegauditArray la, pa;
        segaudit_array_init(&la, lab, SEGAUDIT_DTYPE_UINT8, 3, ls);
        segaudit_array_init(&pa, m, SEGAUDIT_DTYPE_FLOAT32, 4, ps);
        pa.file_mapped = mapped != 0;
        SegauditSettings s;
        segaudit_default_settings(&s);
        s.labels_array = &la;
        s.probs_array = &pa;
        s.n_threads = 2;
        uint64_t before = rss_file_kb();
        SegauditAudit *a = segaudit_audit_new();
        if (segaudit_audit_run(a, &s))
            fail_msg("%s", segaudit_audit_error(a));
        grown[mapped] = rss_file_kb() - before;
        gs_collect(a, &r[mapped]);
        segaudit_audit_free(a);
        munmap(m, P * 4);
    }
    GsCheck chk;
    gs_check_init(&chk, "file mapping");
    gs_result_diff(&r[0], &r[1], "file_mapped 0", "file_mapped 1", &chk);
    gs_result_diff(&r[0], &r[2], "file_mapped 0", "private", &chk);
    gs_check_done(&chk);
    /* all 48 MiB resident without release (and for a private mapping,
     * which is never released); a few pages with it */
    if (!(grown[0] > 40 * 1024 && grown[1] < 8 * 1024 &&
          grown[2] > 40 * 1024))
        fail_msg("resident file pages grew by %" PRIu64 " KiB without "
                 "release, %" PRIu64 " KiB with it and %" PRIu64 " KiB for "
                 "a private mapping", grown[0], grown[1], grown[2]);
    for (int i = 0; i < 3; i++)
        gs_result_free(&r[i]);
    free(lab);
    close(fd);
    gs_remove_tree(dir);
    free(dir);
}

static char **g_cases;
static size_t g_n_cases;

int main(void)
{
    g_n_cases = gs_list_cases(&g_cases);
    assert_true(g_n_cases >= GS_MIN_CASES);
    struct CMUnitTest *tests = gs_calloc(g_n_cases + 3, sizeof *tests);
    size_t nt = 0;
    for (size_t i = 0; i < g_n_cases; i++)
        tests[nt++] = (struct CMUnitTest){.name = g_cases[i],
                                          .test_func = test_golden_case,
                                          .initial_state = g_cases[i]};
    tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_uint8);
    tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_bad_input);
    tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_file_mapping);
    int failed = _cmocka_run_group_tests("arrays", tests, nt, NULL, NULL);
    free(tests);
    gs_free_strings(g_cases, g_n_cases);
    return failed;
}
