/* Unit tests of segaudit_synth(): small datasets in a mkdtemp folder, read
 * back with the project's own readers (h5_probs, png_io), checked against
 * the clean labels (sa_synth_clean_labels) and audited with the public API.
 * Run with the working directory tests/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/h5_probs.h"
#include "kernel/kernels.h"
#include "io/png_io.h"
#include "segaudit/segaudit.h"
#include "segaudit/synth.h"
#include "synth/synth_model.h"
#include "synth/synth_scene.h"

static char g_tmp[] = "/tmp/test_synth_XXXXXX";

static char *dir_of(const char *name)
{
    static char buf[8][512];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", g_tmp, name);
    return b;
}

static void settings(SegauditSynthSettings *s, const char *name, uint64_t n,
                     uint32_t h, uint32_t w)
{
    segaudit_synth_default_settings(s);
    s->out_dir = dir_of(name);
    s->n_images = n;
    s->height = h;
    s->width = w;
}

static void synth_ok(const SegauditSynthSettings *s)
{
    char eb[1024];
    int rc = segaudit_synth(s, eb, sizeof eb);
    if (rc != 0)
        fail_msg("segaudit_synth(%s) returned %d: %s", s->out_dir, rc, eb);
}

/* ---- reading a dataset back -------------------------------------------- */

typedef struct Truth {
    char id[256];
    int mislabeled;
    char kind[32];
    uint64_t pixels;
} Truth;

/* Reads truth.csv (n rows expected); returns the mislabeled count. */
static uint64_t read_truth(const char *dir, uint64_t n, Truth *t)
{
    char path[600], line[256];
    snprintf(path, sizeof path, "%s/truth.csv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "image,mislabeled,error_type,error_pixels\n");
    uint64_t bad = 0, i = 0;
    unsigned long long px;
    while (fgets(line, sizeof line, f)) {
        assert_true(i < n);
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        char *c3 = c2 ? strchr(c2 + 1, ',') : NULL;
        assert_non_null(c3);
        *c1 = *c2 = *c3 = '\0';
        snprintf(t[i].id, sizeof t[i].id, "%s", line);
        t[i].mislabeled = atoi(c1 + 1);
        snprintf(t[i].kind, sizeof t[i].kind, "%s", c2 + 1);
        assert_int_equal(sscanf(c3 + 1, "%llu", &px), 1);
        t[i].pixels = px;
        bad += (uint64_t)t[i].mislabeled;
        i++;
    }
    fclose(f);
    assert_int_equal(i, n);
    return bad;
}

/* dir/<sub>/<id>.png, 8-bit: labels/ or truth/ (the error masks). */
static uint16_t *read_png_in(const char *dir, const char *sub, const char *id,
                             uint32_t h, uint32_t w)
{
    char path[600];
    SaErr e = {0};
    SaLabelPng *p;
    snprintf(path, sizeof path, "%s/%s/%s.png", dir, sub, id);
    if (sa_label_png_open(&p, path, w, h, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(sa_label_png_bit_depth(p), 8);
    uint16_t *lab = malloc(sizeof *lab * h * w);
    assert_non_null(lab);
    assert_int_equal(sa_label_png_read_rows(p, lab, h, &e), 0);
    sa_label_png_close(p);
    return lab;
}

static uint16_t *read_label(const char *dir, const char *id, uint32_t h,
                            uint32_t w)
{
    return read_png_in(dir, "labels", id, h, w);
}

/* Checks every file of the dataset s wrote; returns the truth rows. */
static Truth *check_dataset(const SegauditSynthSettings *s)
{
    const uint64_t N = s->n_images, K = (uint64_t)s->n_classes;
    const uint32_t H = s->height, W = s->width;
    const size_t hw = (size_t)H * W;
    char path[600];
    SaErr e = {0};
    SaProbs *p;

    snprintf(path, sizeof path, "%s/probs.h5", s->out_dir);
    if (sa_probs_open(&p, path, "/pred_probs", &e))
        fail_msg("%s", e.msg);
    uint64_t d[4];
    sa_probs_dims(p, d);
    assert_int_equal(d[0], N);
    assert_int_equal(d[1], K);
    assert_int_equal(d[2], H);
    assert_int_equal(d[3], W);
    int f16 = s->dtype == SEGAUDIT_SYNTH_F16;
    assert_int_equal(sa_probs_dtype(p), f16 ? SA_F16 : SA_F32);
    const char *layout = sa_probs_layout(p);
    if (s->compress == SEGAUDIT_SYNTH_GZIP)
        assert_non_null(strstr(layout, "shuffle+deflate"));
    else if (s->chunk_rows)
        assert_non_null(strstr(layout, "chunked"));
    else
        assert_string_equal(layout, "contiguous");
    if (s->chunk_rows) {
        uint32_t want = s->chunk_rows < H ? s->chunk_rows : H;
        assert_int_equal(sa_probs_chunk_rows(p), want);
    }
    char **ids;
    int found;
    assert_int_equal(sa_probs_read_ids(p, NULL, &ids, &found, &e), 0);
    assert_true(found);

    Truth *t = calloc(N, sizeof *t);
    uint64_t bad = read_truth(s->out_dir, N, t);
    assert_int_equal(bad, (uint64_t)floor(s->error_rate * N + 0.5));

    void *buf = malloc(sa_probs_elsize(p) * K * hw);
    uint8_t *clean = malloc(hw);
    double tol = f16 ? 4e-3 : 1e-5;
    for (uint64_t i = 0; i < N; i++) {
        char want[64];
        snprintf(want, sizeof want, "synth_%06llu", (unsigned long long)i);
        assert_string_equal(ids[i], want);
        assert_string_equal(t[i].id, want);
        uint16_t *lab = read_label(s->out_dir, ids[i], H, W);
        uint16_t *err_mask = read_png_in(s->out_dir, "truth", ids[i], H, W);
        assert_int_equal(sa_synth_clean_labels(s, i, clean), 0);
        uint64_t diff = 0, voids = 0;
        for (size_t j = 0; j < hw; j++) {
            /* the error mask marks exactly the changed labels */
            if (err_mask[j] != (lab[j] != clean[j] ? 255 : 0))
                fail_msg("truth/%s.png pixel %zu: %u, label %u, clean %u",
                         ids[i], j, err_mask[j], lab[j], clean[j]);
            assert_true(clean[j] < K);
            if (lab[j] >= K) {
                assert_int_equal(lab[j], s->void_value);
                voids++;
            }
            diff += lab[j] != clean[j];
        }
        assert_int_equal(diff, t[i].pixels);
        if (t[i].mislabeled) {
            assert_true(diff > 0);
            assert_true(!strcmp(t[i].kind, "overlooked") ||
                        !strcmp(t[i].kind, "swapped") ||
                        !strcmp(t[i].kind, "boundary") ||
                        !strcmp(t[i].kind, "partial") ||
                        !strcmp(t[i].kind, "coarse"));
            /* each kind only when asked for (default: the first three) */
            int bit = !strcmp(t[i].kind, "overlooked") ? 1
                      : !strcmp(t[i].kind, "swapped")  ? 2
                      : !strcmp(t[i].kind, "boundary") ? 4
                      : !strcmp(t[i].kind, "partial")  ? 8
                                                       : 16;
            assert_true((s->errors ? s->errors : 7) & bit);
        } else {
            assert_int_equal(diff, 0);
            assert_string_equal(t[i].kind, "none");
        }
        if (voids)
            assert_string_equal(t[i].kind, "overlooked");
        assert_int_equal(sa_probs_read_band(p, i, 0, H, buf, &e), 0);
        for (size_t j = 0; j < hw; j++) {
            double sum = 0;
            for (uint64_t k = 0; k < K; k++) {
                double v = f16 ? sa_half_to_float(((uint16_t *)buf)[k * hw + j])
                               : ((float *)buf)[k * hw + j];
                if (!(v >= 0 && v <= 1))
                    fail_msg("image %llu pixel %zu class %llu: %g",
                             (unsigned long long)i, j, (unsigned long long)k,
                             v);
                sum += v;
            }
            if (fabs(sum - 1) > tol)
                fail_msg("image %llu pixel %zu: sum %.7f",
                         (unsigned long long)i, j, sum);
        }
        free(lab);
        free(err_mask);
    }
    free(buf);
    free(clean);
    sa_free_strings(ids, N);
    sa_probs_close(p);
    return t;
}

/* ---- the tests --------------------------------------------------------- */

static void test_f32_contiguous(void **state)
{
    (void)state;
    SegauditSynthSettings s;
    settings(&s, "f32", 6, 64, 128);
    s.seed = 11;
    synth_ok(&s);
    free(check_dataset(&s));
    char path[600], line[64];
    snprintf(path, sizeof path, "%s/classes.txt", s.out_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    for (int k = 0; k < 19; k++) {
        assert_non_null(fgets(line, sizeof line, f));
        line[strcspn(line, "\n")] = '\0';
        assert_string_equal(line, sa_scene_class_names[k]);
    }
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
}

static void test_f16_gzip(void **state)
{
    (void)state;
    SegauditSynthSettings s;
    settings(&s, "f16gz", 6, 64, 128);
    s.seed = 11;
    s.dtype = SEGAUDIT_SYNTH_F16;
    s.compress = SEGAUDIT_SYNTH_GZIP;
    synth_ok(&s);
    free(check_dataset(&s));
}

/* Reference float -> half, round to nearest even, via double. */
static uint16_t ref_half(float f)
{
    double d = fabs((double)f);
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    if (d >= 65520.0)
        return sign | 0x7c00;
    int e;
    double m = frexp(d, &e);
    if (d == 0 || e - 1 < -14)
        return sign | (uint16_t)nearbyint(d * 0x1p24);
    double n = nearbyint(ldexp(m, 11));
    if (n == 2048) {
        n = 1024;
        e++;
    }
    return sign | (uint16_t)((e - 1 + 15) << 10) | (uint16_t)((int)n - 1024);
}

/* The conversion against the reference: every half, the midpoints between
 * neighbours (ties go to the even one) and the floats next to them. */
static void test_f16_conversion(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 0x7c00; h++) {
        for (int sgn = 0; sgn < 2; sgn++) {
            uint16_t bits = (uint16_t)(h | (sgn ? 0x8000 : 0));
            float f = sa_half_to_float(bits);
            assert_int_equal(sa_synth_f32_to_f16(f), bits);
            float next = sa_half_to_float((uint16_t)(bits + 1));
            if (h + 1 == 0x7c00)
                next = sgn ? -65536.0f : 65536.0f;
            float mid = (float)(((double)f + (double)next) / 2);
            float cand[3] = {nextafterf(mid, 0), mid,
                             nextafterf(mid, 2 * mid)};
            for (int c = 0; c < 3; c++)
                if (sa_synth_f32_to_f16(cand[c]) != ref_half(cand[c]))
                    fail_msg("%a -> 0x%04x, expected 0x%04x",
                             (double)cand[c], sa_synth_f32_to_f16(cand[c]),
                             ref_half(cand[c]));
        }
    }
    assert_int_equal(sa_synth_f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(sa_synth_f32_to_f16(1e30f), 0x7c00);
    assert_int_equal(sa_synth_f32_to_f16(1e-30f), 0);
}

/* The float16 file holds exactly the float32 file's values, rounded to
 * nearest even; gzip or not, the values are the same. */
static void test_f16_rounding(void **state)
{
    (void)state;
    SegauditSynthSettings a, b;
    settings(&a, "round32", 2, 32, 48);
    settings(&b, "round16", 2, 32, 48);
    b.dtype = SEGAUDIT_SYNTH_F16;
    b.compress = SEGAUDIT_SYNTH_GZIP;
    b.gzip_level = 1;
    synth_ok(&a);
    synth_ok(&b);
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/probs.h5", a.out_dir);
    snprintf(pb, sizeof pb, "%s/probs.h5", b.out_dir);
    SaProbs *fa, *fb;
    SaErr e = {0};
    assert_int_equal(sa_probs_open(&fa, pa, "/pred_probs", &e), 0);
    assert_int_equal(sa_probs_open(&fb, pb, "/pred_probs", &e), 0);
    size_t n = 19 * 32 * 48;
    float *va = malloc(n * sizeof *va);
    uint16_t *vb = malloc(n * sizeof *vb);
    for (uint64_t i = 0; i < 2; i++) {
        assert_int_equal(sa_probs_read_band(fa, i, 0, 32, va, &e), 0);
        assert_int_equal(sa_probs_read_band(fb, i, 0, 32, vb, &e), 0);
        for (size_t j = 0; j < n; j++)
            if (vb[j] != ref_half(va[j]))
                fail_msg("value %zu: %a -> 0x%04x, expected 0x%04x", j,
                         (double)va[j], vb[j], ref_half(va[j]));
    }
    free(va);
    free(vb);
    sa_probs_close(fa);
    sa_probs_close(fb);
}

/* Byte-compares two files; returns 1 when equal. */
static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int eq = fa && fb;
    while (eq) {
        int ca = getc(fa), cb = getc(fb);
        eq = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return eq;
}

static int same_dataset(const char *a, const char *b, uint64_t n)
{
    static const char *const files[] = {"probs.h5", "truth.csv",
                                        "classes.txt"};
    char pa[700], pb[700];
    for (int i = 0; i < 3; i++) {
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        if (!same_file(pa, pb))
            return 0;
    }
    for (uint64_t i = 0; i < n; i++) {
        snprintf(pa, sizeof pa, "%s/labels/synth_%06llu.png", a,
                 (unsigned long long)i);
        snprintf(pb, sizeof pb, "%s/labels/synth_%06llu.png", b,
                 (unsigned long long)i);
        if (!same_file(pa, pb))
            return 0;
    }
    return 1;
}

static void test_determinism(void **state)
{
    (void)state;
    static const int compress[2] = {SEGAUDIT_SYNTH_NONE, SEGAUDIT_SYNTH_GZIP};
    for (int c = 0; c < 2; c++) {
        SegauditSynthSettings s1, s2, s3, s4;
        settings(&s1, c ? "det_gz_t1" : "det_t1", 7, 48, 80);
        settings(&s2, c ? "det_gz_t3" : "det_t3", 7, 48, 80);
        settings(&s3, c ? "det_gz_again" : "det_again", 7, 48, 80);
        settings(&s4, c ? "det_gz_seed" : "det_seed", 7, 48, 80);
        s1.compress = s2.compress = s3.compress = s4.compress = compress[c];
        s1.dtype = s2.dtype = s3.dtype = s4.dtype = SEGAUDIT_SYNTH_F16;
        s1.seed = s2.seed = s3.seed = 99;
        s4.seed = 100;
        s1.n_threads = 1;
        s2.n_threads = 3;
        s3.n_threads = 2;
        s4.n_threads = 2;
        synth_ok(&s1);
        synth_ok(&s2);
        synth_ok(&s3);
        synth_ok(&s4);
        assert_true(same_dataset(s1.out_dir, s2.out_dir, 7));
        assert_true(same_dataset(s1.out_dir, s3.out_dir, 7));
        char pa[700], pb[700];
        snprintf(pa, sizeof pa, "%s/probs.h5", s1.out_dir);
        snprintf(pb, sizeof pb, "%s/probs.h5", s4.out_dir);
        assert_false(same_file(pa, pb));
        snprintf(pa, sizeof pa, "%s/labels/synth_000000.png", s1.out_dir);
        snprintf(pb, sizeof pb, "%s/labels/synth_000000.png", s4.out_dir);
        assert_false(same_file(pa, pb));
    }
}

static void test_k5(void **state)
{
    (void)state;
    SegauditSynthSettings s;
    settings(&s, "k5", 5, 40, 64);
    s.n_classes = 5;
    s.error_rate = 0.6;
    synth_ok(&s);
    free(check_dataset(&s));
    char path[600], line[64];
    snprintf(path, sizeof path, "%s/classes.txt", s.out_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    for (int k = 0; k < 5; k++) {
        char want[32];
        snprintf(want, sizeof want, "class_%d\n", k);
        assert_non_null(fgets(line, sizeof line, f));
        assert_string_equal(line, want);
    }
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
    /* the mapping c*K/19: road (0) -> 0, sky (10) -> 2, bicycle (18) -> 4 */
    uint8_t *clean = malloc(40 * 64);
    int seen[5] = {0};
    for (uint64_t i = 0; i < 5; i++) {
        assert_int_equal(sa_synth_clean_labels(&s, i, clean), 0);
        for (int j = 0; j < 40 * 64; j++)
            seen[clean[j]] = 1;
    }
    assert_true(seen[0] && seen[1] && seen[2] && seen[3]);
    free(clean);
}

static void test_void(void **state)
{
    (void)state;
    SegauditSynthSettings s;
    settings(&s, "void", 12, 64, 128);
    s.error_rate = 1.0;
    s.void_value = 255;
    synth_ok(&s);
    Truth *t = check_dataset(&s);
    int overlooked = 0;
    for (int i = 0; i < 12; i++) {
        if (strcmp(t[i].kind, "overlooked"))
            continue;
        overlooked++;
        /* every changed pixel of an overlooked object is void */
        uint16_t *lab = read_label(s.out_dir, t[i].id, 64, 128);
        uint64_t voids = 0;
        for (int j = 0; j < 64 * 128; j++)
            voids += lab[j] == 255;
        assert_int_equal(voids, t[i].pixels);
        free(lab);
    }
    assert_true(overlooked > 0);
    free(t);
}

/* Every model kind with every error kind: the files check out (labels,
 * error masks, probabilities summing to 1); a single kind asked for is
 * the only one drawn; the models differ. */
static void test_kinds_and_models(void **state)
{
    (void)state;
    static const int models[] = {
        SEGAUDIT_SYNTH_STANDARD, SEGAUDIT_SYNTH_SHARP, SEGAUDIT_SYNTH_BLURRY,
        SEGAUDIT_SYNTH_OVERCONFIDENT, SEGAUDIT_SYNTH_WEAK};
    int seen = 0;
    for (int m = 0; m < 5; m++) {
        SegauditSynthSettings s;
        settings(&s, "kinds", 10, 64, 128);
        s.force = 1;
        s.model = models[m];
        s.seed = (uint64_t)m + 1; /* the errors' draws differ by seed */
        s.errors = SEGAUDIT_SYNTH_ALL_ERRORS;
        s.error_rate = 1.0;
        synth_ok(&s);
        Truth *t = check_dataset(&s);
        for (int i = 0; i < 10; i++) {
            static const char *const names[] = {"overlooked", "swapped",
                                                "boundary", "partial",
                                                "coarse"};
            for (int k = 0; k < 5; k++)
                if (!strcmp(t[i].kind, names[k]))
                    seen |= 1 << k;
        }
        free(t);
    }
    /* 50 errors drawn from five kinds: each appears */
    assert_int_equal(seen, SEGAUDIT_SYNTH_ALL_ERRORS);
    static const int one[] = {SEGAUDIT_SYNTH_PARTIAL, SEGAUDIT_SYNTH_COARSE};
    for (int k = 0; k < 2; k++) {
        SegauditSynthSettings s;
        settings(&s, "kinds", 8, 64, 128);
        s.force = 1;
        s.errors = one[k];
        s.error_rate = 1.0;
        synth_ok(&s);
        free(check_dataset(&s)); /* checks that no other kind is drawn */
    }
}

static void test_bad_settings(void **state)
{
    (void)state;
    SegauditSynthSettings s;
    char eb[256];
#define BAD(stmt)                                                          \
    do {                                                                   \
        settings(&s, "bad", 3, 32, 32);                                    \
        stmt;                                                              \
        assert_int_equal(segaudit_synth(&s, eb, sizeof eb),                \
                         SEGAUDIT_EINVAL);                                 \
        assert_true(eb[0] != '\0');                                        \
    } while (0)
    BAD(s.out_dir = NULL);
    BAD(s.n_images = 0);
    BAD(s.height = 8);
    BAD(s.width = 70000);
    BAD(s.n_classes = 1);
    BAD(s.n_classes = 256);
    BAD(s.error_rate = -0.1);
    BAD(s.error_rate = NAN);
    BAD(s.dtype = 7);
    BAD(s.compress = 3);
    BAD((s.compress = SEGAUDIT_SYNTH_GZIP, s.gzip_level = 0));
    BAD(s.void_value = 18);
    BAD(s.void_value = 256);
    BAD(s.n_threads = -1);
    BAD(s.model = 5);
    BAD(s.errors = 32);
    BAD(s.errors = -1);
#undef BAD
    struct stat st;
    assert_int_not_equal(stat(dir_of("bad"), &st), 0);
}

static void test_existing_dataset(void **state)
{
    (void)state;
    SegauditSynthSettings s;
    char eb[512], path[700];
    settings(&s, "exists", 4, 32, 48);
    synth_ok(&s);
    s.seed = 5;
    s.n_images = 3;
    assert_int_equal(segaudit_synth(&s, eb, sizeof eb), SEGAUDIT_EINPUT);
    assert_non_null(strstr(eb, "already holds a dataset"));
    s.force = 1;
    synth_ok(&s);
    free(check_dataset(&s));
    /* the fourth label of the old dataset is gone */
    snprintf(path, sizeof path, "%s/labels/synth_000003.png", s.out_dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

/* A write failure (a file size limit: EFBIG, as a full disk gives ENOSPC)
 * is an I/O error naming the file, and leaves nothing behind.  It runs in
 * a fresh process (this program, re-executed): the limit must not hit the
 * other tests, OpenMP does not survive a plain fork, and HDF5 1.10 may
 * crash in its exit-time cleanup after a failed close (the child leaves
 * with _exit). */
static const char *g_self;

static int write_failure_child(const char *dir)
{
    SegauditSynthSettings s;
    struct rlimit rl;
    char eb[1024];
    segaudit_synth_default_settings(&s);
    s.out_dir = dir;
    s.n_images = 6;
    s.height = 128;
    s.width = 256;
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = 200000;
    setrlimit(RLIMIT_FSIZE, &rl);
    int rc = segaudit_synth(&s, eb, sizeof eb);
    printf("child: rc %d: %s\n", rc, eb);
    fflush(stdout);
    _exit(rc == SEGAUDIT_EIO && strstr(eb, "probs.h5") ? 0 : 1);
}

static void test_write_failure(void **state)
{
    (void)state;
    char *dir = dir_of("full");
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(g_self, g_self, "--write-failure-child", dir, (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct stat st;
    if (stat(dir, &st) == 0) /* created by the run: removed again */
        fail_msg("%s left behind", dir);
}

/* The audit finds the injected errors: most mislabeled images rank among
 * the lowest softmin scores, but the model's own mistakes make some false
 * alarms too. */
static void test_audit_finds_errors(void **state)
{
    (void)state;
    SegauditSynthSettings s;
    settings(&s, "audit", 20, 128, 256);
    s.seed = 2024;
    s.error_rate = 0.3;
    synth_ok(&s);
    Truth *t = check_dataset(&s);

    SegauditSettings a;
    char labels[700], probs[700];
    snprintf(labels, sizeof labels, "%s/labels", s.out_dir);
    snprintf(probs, sizeof probs, "%s/probs.h5", s.out_dir);
    segaudit_default_settings(&a);
    a.labels_dir = labels;
    a.probs_path = probs;
    SegauditAudit *au = segaudit_audit_new();
    assert_non_null(au);
    if (segaudit_audit_run(au, &a) != 0)
        fail_msg("%s", segaudit_audit_error(au));
    int found = 0;
    for (uint64_t r = 0; r < 20; r++) {
        SegauditImageResult im;
        uint64_t i = segaudit_audit_ranked(au, r);
        segaudit_audit_image(au, i, &im);
        assert_string_equal(im.id, t[i].id);
        print_message("rank %2llu %s softmin %.4f mislabeled %d %s %llu\n",
                      (unsigned long long)r + 1, im.id, im.softmin,
                      t[i].mislabeled, t[i].kind,
                      (unsigned long long)t[i].pixels);
        if (r < 6)
            found += t[i].mislabeled;
    }
    assert_true(found >= 3);
    segaudit_audit_free(au);
    free(t);
}

/* Default settings for the dataset in dir, with overlays of the top
 * images into dir/<out>, under memory_limit (0: the default); the paths
 * live in the struct. */
typedef struct AuditArgs {
    SegauditSettings a;
    char labels[700], probs[700], overlays[720];
} AuditArgs;

static void audit_args(AuditArgs *r, const char *dir, const char *out,
                       uint64_t top, uint64_t memory_limit)
{
    snprintf(r->labels, sizeof r->labels, "%s/labels", dir);
    snprintf(r->probs, sizeof r->probs, "%s/probs.h5", dir);
    snprintf(r->overlays, sizeof r->overlays, "%s/%s", dir, out);
    segaudit_default_settings(&r->a);
    r->a.labels_dir = r->labels;
    r->a.probs_path = r->probs;
    r->a.overlay_top = top;
    r->a.overlays_dir = r->overlays;
    if (memory_limit)
        r->a.memory_limit = memory_limit;
}

/* Audits the dataset in dir with default settings and overlays of the
 * top images into dir/overlays (the caller frees). */
static SegauditAudit *audit_top_limit(const char *dir, uint64_t top,
                                      uint64_t memory_limit)
{
    AuditArgs r;
    audit_args(&r, dir, "overlays", top, memory_limit);
    SegauditAudit *au = segaudit_audit_new();
    assert_non_null(au);
    if (segaudit_audit_run(au, &r.a) != 0)
        fail_msg("%s", segaudit_audit_error(au));
    return au;
}

static SegauditAudit *audit_top(const char *dir, uint64_t top)
{
    return audit_top_limit(dir, top, 0);
}

static SegauditAudit *audit_dir(const char *dir)
{
    return audit_top(dir, 0);
}

/* The weak model makes about a third of the pixels candidates; its data
 * stored contiguous, in one chunk per image and in small chunks audit to
 * the same results. */
static void test_weak_model_layouts(void **state)
{
    (void)state;
    static const uint32_t rows[3] = {0, 256, 5};
    static const char *const name[3] = {"weak", "weak_img", "weak_rows"};
    SegauditAudit *au[3];
    for (int i = 0; i < 3; i++) {
        SegauditSynthSettings s;
        settings(&s, name[i], 4, 256, 512);
        s.seed = 5;
        s.model = SEGAUDIT_SYNTH_WEAK;
        s.chunk_rows = rows[i];
        synth_ok(&s);
        free(check_dataset(&s));
        au[i] = audit_dir(s.out_dir);
    }
    SegauditDatasetInfo in[3];
    for (int i = 0; i < 3; i++)
        segaudit_audit_info(au[i], &in[i]);
    double frac = (double)in[0].records / (double)in[0].valid_pixels;
    print_message("weak model: %.3f of the pixels are candidates\n", frac);
    assert_true(frac > 0.2 && frac < 0.6);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(in[i].records, in[0].records);
        assert_int_equal(in[i].n_issues, in[0].n_issues);
        assert_int_equal(in[i].issue_pixels, in[0].issue_pixels);
        for (uint64_t n = 0; n < 4; n++) {
            SegauditImageResult a, b;
            segaudit_audit_image(au[0], n, &a);
            segaudit_audit_image(au[i], n, &b);
            assert_true(a.softmin == b.softmin);
            assert_int_equal(a.issue_pixels, b.issue_pixels);
        }
    }
    /* every layout is read directly, each byte of the tensor once; the
     * overlays draw the argmax maps that pass 1 kept, or, when the memory
     * limit leaves no room for them, read their images once more */
    const uint64_t image_bytes = (uint64_t)19 * 256 * 512 * 4;
    for (int i = 0; i < 3; i++) {
        assert_string_equal(in[i].read_path, "direct");
        assert_int_equal(in[i].bytes_read, 4 * image_bytes);
    }
    SegauditAudit *ov = audit_top(dir_of("weak_img"), 3);
    SegauditDatasetInfo io;
    segaudit_audit_info(ov, &io);
    assert_int_equal(io.bytes_read, 4 * image_bytes);
    segaudit_audit_free(ov);
    ov = audit_top_limit(dir_of("weak_img"), 3, (uint64_t)1 << 20);
    segaudit_audit_info(ov, &io);
    assert_int_equal(io.bytes_read, 7 * image_bytes);
    segaudit_audit_free(ov);
    /* the standard model: a few percent */
    SegauditSynthSettings s;
    settings(&s, "standard", 6, 64, 128);
    s.seed = 5;
    synth_ok(&s);
    SegauditAudit *st = audit_dir(s.out_dir);
    SegauditDatasetInfo is;
    segaudit_audit_info(st, &is);
    assert_true((double)is.records / (double)is.valid_pixels < 0.15);
    segaudit_audit_free(st);
    for (int i = 0; i < 3; i++)
        segaudit_audit_free(au[i]);
}

/* Moves <dir>/labels away once pass 1 has read the last batch. */
typedef struct LabelsAway {
    char from[720], to[720];
    int moved;
} LabelsAway;

static void labels_away(void *ctx, int pass, uint64_t done, uint64_t total,
                        uint64_t bytes)
{
    LabelsAway *la = ctx;
    (void)bytes;
    if (pass == 1 && done == total && !la->moved)
        la->moved = rename(la->from, la->to) == 0;
}

/* Audits dir with overlays of the top 3 into <dir>/<out>, under
 * memory_limit, moving the label files away after pass 1 when away is
 * set; returns the run's status (0 or a SEGAUDIT_E* code), its error in
 * msg. */
static int audit_overlays(const char *dir, const char *out,
                          uint64_t memory_limit, int away, char *msg,
                          size_t n)
{
    AuditArgs r;
    audit_args(&r, dir, out, 3, memory_limit);
    LabelsAway la = {.moved = 0};
    snprintf(la.from, sizeof la.from, "%s", r.labels);
    snprintf(la.to, sizeof la.to, "%s/labels-away", dir);
    if (away) {
        r.a.progress = labels_away;
        r.a.progress_ctx = &la;
    }
    SegauditAudit *au = segaudit_audit_new();
    assert_non_null(au);
    int rc = segaudit_audit_run(au, &r.a);
    snprintf(msg, n, "%s", rc ? segaudit_audit_error(au) : "");
    segaudit_audit_free(au);
    if (away) {
        assert_true(la.moved);
        assert_int_equal(rename(la.to, la.from), 0);
    }
    return rc;
}

/* Pass 1 keeps the label maps of the images that may get an overlay
 * beside their argmax maps when both fit in an eighth of the memory
 * limit: the overlays then read no label file, and are the same files. */
static void test_overlays_from_kept_maps(void **state)
{
    (void)state;
    SegauditSynthSettings s;
    settings(&s, "kept", 4, 128, 256);
    s.seed = 5;
    s.model = SEGAUDIT_SYNTH_WEAK;
    synth_ok(&s);
    char msg[512], a[800], b[800];
    /* maps of 32 KiB (a byte a pixel); 20 of them (the top 3, 16 in
     * flight, 1 given up): argmax maps alone fit in an eighth of 8 MiB,
     * with labels in 1 GiB */
    assert_int_equal(audit_overlays(s.out_dir, "ov-files", (uint64_t)1 << 20,
                                    0, msg, sizeof msg), 0);
    assert_int_equal(audit_overlays(s.out_dir, "ov-kept", (uint64_t)1 << 30,
                                    1, msg, sizeof msg), 0);
    int files = 0;
    snprintf(a, sizeof a, "%s/ov-files", s.out_dir);
    DIR *d = opendir(a);
    assert_non_null(d);
    for (struct dirent *en; (en = readdir(d));) {
        if (en->d_name[0] == '.')
            continue;
        snprintf(a, sizeof a, "%s/ov-files/%s", s.out_dir, en->d_name);
        snprintf(b, sizeof b, "%s/ov-kept/%s", s.out_dir, en->d_name);
        assert_true(same_file(a, b));
        files++;
    }
    closedir(d);
    assert_int_equal(files, 3);
    /* argmax maps alone: the overlays read the label files */
    assert_int_not_equal(audit_overlays(s.out_dir, "ov-argmax",
                                        (uint64_t)8 << 20, 1, msg,
                                        sizeof msg), 0);
    assert_non_null(strstr(msg, "labels"));
}

static int rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return unlink(path);
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rm_tree(sub);
    }
    closedir(d);
    return rmdir(path);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(g_tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rm_tree(g_tmp);
    return 0;
}

int main(int argc, char **argv)
{
    g_self = argv[0];
    if (argc == 3 && !strcmp(argv[1], "--write-failure-child"))
        return write_failure_child(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_contiguous),
        cmocka_unit_test(test_f16_gzip),
        cmocka_unit_test(test_f16_conversion),
        cmocka_unit_test(test_f16_rounding),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_k5),
        cmocka_unit_test(test_void),
        cmocka_unit_test(test_kinds_and_models),
        cmocka_unit_test(test_bad_settings),
        cmocka_unit_test(test_existing_dataset),
        cmocka_unit_test(test_write_failure),
        cmocka_unit_test(test_audit_finds_errors),
        cmocka_unit_test(test_weak_model_layouts),
        cmocka_unit_test(test_overlays_from_kept_maps),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
