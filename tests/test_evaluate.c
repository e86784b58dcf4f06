/* Unit tests of src/eval/evaluate.c: ranking metrics of one score against known
 * annotation errors (AP, AUROC, precision at P, hits in the top k) and the
 * reader of the truth CSV.
 *
 * Metrics are checked on small hand-computed rankings and, for random
 * inputs with many ties, against a brute-force reference written from the
 * definitions: the rank of an image is 1 + the number of images that
 * precede it (O(N^2)), AUROC counts (positive, negative) pairs one by one,
 * AP is the mean of TP/rank over the positives.  Truth files are written
 * into a mkdtemp folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/evaluate.h"

/* ---- Helpers ------------------------------------------------------------ */

static uint64_t g_rng = 0x853c49e6748fea9bull;

static uint64_t rng_next(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545f4914f6cdd1dull;
}

static uint64_t rng_below(uint64_t n)
{
    return rng_next() % n;
}

/* Evaluates and checks success. */
static void eval_ok(const double *score, const uint8_t *has,
                    const uint8_t *truth, uint64_t n, SaEval *ev)
{
    SaErr err;
    sa_err_clear(&err);
    int rc = sa_eval_score(score, has, truth, n, ev, &err);
    if (rc)
        print_error("sa_eval_score: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(err.code, 0);
    assert_true(ev->n == n);
}

/* |a - b| <= eps (this cmocka has no assert_double_equal). */
#define assert_near(a, b, eps) assert_near_((a), (b), (eps), __FILE__, __LINE__)

static void assert_near_(double a, double b, double eps, const char *file,
                         int line)
{
    if (!(fabs(a - b) <= eps)) {
        print_error("%.17g != %.17g (eps %g)\n", a, b, eps);
        _fail(file, line);
    }
}

static void assert_order(const SaEval *ev, const uint64_t *want, uint64_t n)
{
    for (uint64_t r = 0; r < n; r++)
        assert_true(ev->order[r] == want[r]);
}

/* ---- Ranking metrics: hand-computed cases ------------------------------- */

static void test_example(void **state)
{
    (void)state;
    const double s[] = {0.1, 0.2, 0.3, 0.4};
    const uint8_t t[] = {1, 0, 1, 0};
    SaEval ev;
    eval_ok(s, NULL, t, 4, &ev);
    const uint64_t order[] = {0, 1, 2, 3};
    assert_order(&ev, order, 4);
    assert_true(ev.n_pos == 2);
    assert_true(ev.n_scored == 4);
    assert_true(ev.has_ap);
    assert_near(ev.ap, (1.0 / 1 + 2.0 / 3) / 2, 1e-15);
    assert_true(ev.has_auroc);
    assert_true(ev.pairs_ordered == 3);
    assert_true(ev.auroc == 0.75);
    assert_true(ev.has_prec_at_p);
    assert_true(ev.tp_at_p == 1);
    assert_true(ev.prec_at_p == 0.5);
    assert_true(ev.pos_rank[0] == 1 && ev.pos_rank[1] == 3);
    assert_true(sa_eval_hits_at(&ev, 0) == 0);
    assert_true(sa_eval_hits_at(&ev, 1) == 1);
    assert_true(sa_eval_hits_at(&ev, 2) == 1);
    assert_true(sa_eval_hits_at(&ev, 3) == 2);
    assert_true(sa_eval_hits_at(&ev, 10) == 2);
    sa_eval_free(&ev);
    assert_null(ev.order);
    assert_null(ev.pos_rank);
}

static void test_unsorted_input(void **state)
{
    (void)state;
    /* Image order is not rank order: by score, images 1 3 0 2 4. */
    const double s[] = {0.7, -2.0, 5.0, 0.1, 1e300};
    const uint8_t t[] = {0, 1, 1, 0, 0};
    SaEval ev;
    eval_ok(s, NULL, t, 5, &ev);
    const uint64_t order[] = {1, 3, 0, 2, 4};
    assert_order(&ev, order, 5);
    /* truth in rank order: 1 0 0 1 0; TP 1 1 1 2 2. */
    assert_near(ev.ap, (1.0 + 2.0 / 4) / 2, 1e-15);
    /* negatives at ranks 2, 3, 5 see 1, 1, 2 positives before them. */
    assert_true(ev.pairs_ordered == 4);
    assert_true(ev.auroc == 4.0 / 6);
    assert_true(ev.tp_at_p == 1);
    sa_eval_free(&ev);
}

static void test_perfect(void **state)
{
    (void)state;
    const double s[] = {0.5, 0.1, 0.9, 0.2, 0.7};
    const uint8_t t[] = {0, 1, 0, 1, 0};
    SaEval ev;
    eval_ok(s, NULL, t, 5, &ev);
    assert_true(ev.ap == 1.0);
    assert_true(ev.auroc == 1.0);
    assert_true(ev.pairs_ordered == 6);
    assert_true(ev.prec_at_p == 1.0);
    assert_true(sa_eval_hits_at(&ev, 2) == 2);
    sa_eval_free(&ev);
}

static void test_worst(void **state)
{
    (void)state;
    const double s[] = {0.1, 0.2, 0.3, 0.4};
    const uint8_t t[] = {0, 0, 1, 1};
    SaEval ev;
    eval_ok(s, NULL, t, 4, &ev);
    assert_true(ev.auroc == 0.0);
    assert_true(ev.has_auroc);
    assert_true(ev.pairs_ordered == 0);
    assert_near(ev.ap, (1.0 / 3 + 2.0 / 4) / 2, 1e-15);
    assert_true(ev.prec_at_p == 0.0);
    assert_true(ev.has_prec_at_p);
    sa_eval_free(&ev);
}

static void test_ties_image_order(void **state)
{
    (void)state;
    SaEval ev;
    /* All equal: the order is the image order. */
    const double s[] = {0.3, 0.3, 0.3, 0.3};
    const uint64_t id[] = {0, 1, 2, 3};
    const uint8_t t1[] = {0, 1, 0, 0};
    eval_ok(s, NULL, t1, 4, &ev);
    assert_order(&ev, id, 4);
    /* The positive (index 1) loses its tie with index 0, wins the rest. */
    assert_true(ev.pairs_ordered == 2);
    assert_true(ev.auroc == 2.0 / 3);
    assert_true(ev.ap == 0.5);
    assert_true(ev.tp_at_p == 0);
    sa_eval_free(&ev);

    /* Two images, same score: positive second loses, first wins. */
    const double s2[] = {1.0, 1.0};
    const uint8_t t2[] = {0, 1}, t3[] = {1, 0};
    eval_ok(s2, NULL, t2, 2, &ev);
    assert_true(ev.auroc == 0.0);
    assert_true(ev.ap == 0.5);
    sa_eval_free(&ev);
    eval_ok(s2, NULL, t3, 2, &ev);
    assert_true(ev.auroc == 1.0);
    assert_true(ev.ap == 1.0);
    sa_eval_free(&ev);

    /* Groups of ties: 0.2 (images 1, 3) then 0.5 (images 0, 2); -0.0 and
     * 0.0 are the same score. */
    const double s4[] = {0.5, 0.2, 0.5, 0.2, 0.0, -0.0};
    const uint8_t t4[] = {0, 0, 1, 1, 0, 1};
    eval_ok(s4, NULL, t4, 6, &ev);
    const uint64_t o4[] = {4, 5, 1, 3, 0, 2};
    assert_order(&ev, o4, 6);
    /* truth by rank: 0 1 0 1 0 1; TP 0 1 1 2 2 3. */
    assert_near(ev.ap, (1.0 / 2 + 2.0 / 4 + 3.0 / 6) / 3, 1e-15);
    assert_true(ev.pairs_ordered == 0 + 1 + 2);
    assert_true(ev.auroc == 3.0 / 9);
    assert_true(ev.tp_at_p == 1);
    sa_eval_free(&ev);
}

static void test_no_score_last(void **state)
{
    (void)state;
    SaEval ev;
    /* Image 1 has no score (its value, however low, is not used). */
    const double s[] = {0.9, -1e300, 0.1};
    const uint8_t has[] = {1, 0, 1};
    const uint8_t t[] = {0, 1, 0};
    eval_ok(s, has, t, 3, &ev);
    const uint64_t o[] = {2, 0, 1};
    assert_order(&ev, o, 3);
    assert_true(ev.n_scored == 2);
    assert_true(ev.ap == 1.0 / 3);
    assert_true(ev.auroc == 0.0);
    assert_true(ev.pos_rank[0] == 3);
    sa_eval_free(&ev);

    /* Several without a score: last, in image order, after +inf; a NaN
     * score counts as no score. */
    const double s2[] = {NAN, 2.0, 0.0, INFINITY, 5.0, -INFINITY};
    const uint8_t has2[] = {1, 0, 0, 1, 1, 1};
    const uint8_t t2[] = {1, 0, 1, 0, 0, 0};
    eval_ok(s2, has2, t2, 6, &ev);
    const uint64_t o2[] = {5, 4, 3, 0, 1, 2};
    assert_order(&ev, o2, 6);
    assert_true(ev.n_scored == 3);
    /* truth by rank: 0 0 0 1 0 1; TP at ranks 4 and 6: 1, 2. */
    assert_near(ev.ap, (1.0 / 4 + 2.0 / 6) / 2, 1e-15);
    assert_true(ev.pairs_ordered == 1);
    assert_true(ev.auroc == 1.0 / 8);
    sa_eval_free(&ev);
}

static void test_no_positives(void **state)
{
    (void)state;
    const double s[] = {0.3, 0.1, 0.2};
    const uint8_t t[] = {0, 0, 0};
    SaEval ev;
    eval_ok(s, NULL, t, 3, &ev);
    assert_true(ev.n_pos == 0);
    assert_false(ev.has_ap);
    assert_false(ev.has_auroc);
    assert_false(ev.has_prec_at_p);
    assert_null(ev.pos_rank);
    assert_non_null(ev.order);
    assert_true(sa_eval_hits_at(&ev, 3) == 0);
    const uint64_t o[] = {1, 2, 0};
    assert_order(&ev, o, 3);
    sa_eval_free(&ev);
}

static void test_all_positives(void **state)
{
    (void)state;
    const double s[] = {0.3, 0.1, 0.2, 0.2};
    const uint8_t t[] = {1, 1, 1, 2}; /* any non-zero is a positive */
    SaEval ev;
    eval_ok(s, NULL, t, 4, &ev);
    assert_true(ev.n_pos == 4);
    assert_true(ev.has_ap && ev.ap == 1.0);
    assert_false(ev.has_auroc);
    assert_true(ev.has_prec_at_p && ev.prec_at_p == 1.0);
    assert_true(sa_eval_hits_at(&ev, 2) == 2);
    sa_eval_free(&ev);
}

static void test_single_image(void **state)
{
    (void)state;
    const double s[] = {0.5};
    const uint8_t pos[] = {1}, neg[] = {0};
    SaEval ev;
    eval_ok(s, NULL, pos, 1, &ev);
    assert_true(ev.has_ap && ev.ap == 1.0);
    assert_false(ev.has_auroc);
    assert_true(ev.prec_at_p == 1.0);
    assert_true(ev.order[0] == 0);
    sa_eval_free(&ev);
    eval_ok(s, NULL, neg, 1, &ev);
    assert_false(ev.has_ap);
    assert_false(ev.has_auroc);
    assert_false(ev.has_prec_at_p);
    sa_eval_free(&ev);
    /* Without a score. */
    const uint8_t has[] = {0};
    eval_ok(s, has, pos, 1, &ev);
    assert_true(ev.n_scored == 0);
    assert_true(ev.ap == 1.0);
    sa_eval_free(&ev);
}

static void test_empty_and_bad_args(void **state)
{
    (void)state;
    SaEval ev;
    SaErr err;
    eval_ok(NULL, NULL, NULL, 0, &ev);
    assert_true(ev.n_pos == 0 && !ev.has_ap && !ev.has_auroc);
    assert_null(ev.order);
    assert_true(sa_eval_hits_at(&ev, 5) == 0);
    sa_eval_free(&ev);
    sa_eval_free(NULL);

    const double s[] = {0.5};
    const uint8_t t[] = {1};
    sa_err_clear(&err);
    assert_int_equal(sa_eval_score(NULL, NULL, t, 1, &ev, &err),
                     SEGAUDIT_EINVAL);
    assert_null(ev.order);
    sa_eval_free(&ev);
    sa_err_clear(&err);
    assert_int_equal(sa_eval_score(s, NULL, NULL, 1, &ev, &err),
                     SEGAUDIT_EINVAL);
    assert_non_null(strstr(err.msg, "evaluation"));
    sa_err_clear(&err);
    assert_int_equal(sa_eval_score(s, NULL, t, 1, NULL, &err),
                     SEGAUDIT_EINVAL);
}

/* ---- Ranking metrics: random cross-check -------------------------------- */

/* Does image a rank before image b?  Straight from the definition. */
static int precedes(const double *s, const uint8_t *has, uint64_t a,
                    uint64_t b)
{
    int ha = has[a] && !isnan(s[a]), hb = has[b] && !isnan(s[b]);
    if (ha != hb)
        return ha;
    if (ha && s[a] != s[b])
        return s[a] < s[b];
    return a < b;
}

static void test_random_vs_brute_force(void **state)
{
    (void)state;
    enum { MAXN = 200 };
    double s[MAXN];
    uint8_t has[MAXN], t[MAXN];
    uint64_t rank[MAXN];
    for (int iter = 0; iter < 3000; iter++) {
        uint64_t n = 1 + rng_below(MAXN);
        uint64_t levels = 1 + rng_below(iter % 3 == 0 ? 3 : 20);
        uint64_t pos_rate = rng_below(101);      /* percent */
        uint64_t none_rate = rng_below(4) ? 0 : rng_below(40);
        for (uint64_t i = 0; i < n; i++) {
            s[i] = (double)rng_below(levels) / 4.0 - 1.0;
            has[i] = rng_below(100) >= none_rate;
            if (has[i] && rng_below(50) == 0)
                s[i] = NAN; /* no score too */
            t[i] = rng_below(100) < pos_rate;
        }
        SaEval ev;
        eval_ok(s, has, t, n, &ev);

        uint64_t P = 0, scored = 0;
        for (uint64_t i = 0; i < n; i++) {
            P += t[i] != 0;
            scored += has[i] && !isnan(s[i]);
            rank[i] = 1;
            for (uint64_t j = 0; j < n; j++)
                rank[i] += j != i && precedes(s, has, j, i);
        }
        assert_true(ev.n_pos == P);
        assert_true(ev.n_scored == scored);
        for (uint64_t i = 0; i < n; i++)
            assert_true(ev.order[rank[i] - 1] == i);

        /* AUROC: every (positive, negative) pair. */
        uint64_t good = 0;
        for (uint64_t a = 0; a < n; a++)
            for (uint64_t b = 0; b < n; b++)
                if (t[a] && !t[b])
                    good += (uint64_t)precedes(s, has, a, b);
        assert_true(ev.pairs_ordered == good);
        assert_int_equal(ev.has_auroc, P > 0 && P < n);
        if (ev.has_auroc)
            assert_true(ev.auroc == (double)good / (double)(P * (n - P)));

        /* AP: sum over ranks of (R_n - R_{n-1}) P_n, in rank order. */
        assert_int_equal(ev.has_ap, P > 0);
        assert_int_equal(ev.has_prec_at_p, P > 0);
        if (P > 0) {
            double ap = 0.0, rprev = 0.0;
            uint64_t tp = 0, tp_at_p = 0;
            for (uint64_t r = 1; r <= n; r++) {
                uint64_t i = 0;
                while (rank[i] != r)
                    i++;
                tp += t[i] != 0;
                double R = (double)tp / (double)P;
                ap += (R - rprev) * ((double)tp / (double)r);
                rprev = R;
                if (r == P)
                    tp_at_p = tp;
            }
            assert_near(ev.ap, ap, 1e-12);
            assert_true(ev.ap > 0.0 && ev.ap <= 1.0);
            assert_true(ev.tp_at_p == tp_at_p);
            assert_true(ev.prec_at_p == (double)tp_at_p / (double)P);
        }

        /* Hits in the top k. */
        for (int q = 0; q < 5; q++) {
            uint64_t k = rng_below(n + 3);
            uint64_t hits = 0;
            for (uint64_t i = 0; i < n; i++)
                hits += t[i] && rank[i] <= k;
            assert_true(sa_eval_hits_at(&ev, k) == hits);
        }
        sa_eval_free(&ev);
    }
}

static void test_large_sorted(void **state)
{
    (void)state;
    /* 100,000 images, positives exactly the 1000 lowest scores. */
    uint64_t n = 100000;
    double *s = malloc(n * sizeof *s);
    uint8_t *t = malloc(n);
    assert_non_null(s);
    assert_non_null(t);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = (i * 7919) % n; /* a permutation of 0..n-1 */
        s[i] = (double)v;
        t[i] = v < 1000;
    }
    SaEval ev;
    eval_ok(s, NULL, t, n, &ev);
    assert_true(ev.ap == 1.0 && ev.auroc == 1.0 && ev.prec_at_p == 1.0);
    assert_true(sa_eval_hits_at(&ev, 10) == 10);
    sa_eval_free(&ev);
    free(s);
    free(t);
}

/* ---- Truth reader ------------------------------------------------------- */

static char g_dir[1024];

static int setup_dir(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/sa_test_evaluate_XXXXXX", tmp);
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    return rmdir(g_dir);
}

/* Writes content to <dir>/<name>; the path goes to path (4096 bytes). */
static void write_text(char *path, const char *name, const char *content)
{
    snprintf(path, 4096, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, strlen(content), f),
                     strlen(content));
    assert_int_equal(fclose(f), 0);
}

static char *g_ids5[] = {"img_001", "img_002", "img_003", "img_004",
                         "img_005"};

static void truth_ok(const char *content, char *const *ids, uint64_t n,
                     const uint8_t *want)
{
    char path[4096];
    write_text(path, "truth.csv", content);
    uint8_t got[64];
    memset(got, 0xAA, sizeof got);
    SaErr err;
    sa_err_clear(&err);
    int rc = sa_truth_read(path, ids, n, got, &err);
    if (rc)
        print_error("sa_truth_read: %s\n", err.msg);
    assert_int_equal(rc, 0);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(got[i], want[i]);
    unlink(path);
}

/* Expects EINPUT (or code) with a message holding each of the fragments
 * (NULL-terminated), and truth_out untouched. */
static void truth_fails(const char *content, char *const *ids, uint64_t n,
                        int code, ...)
{
    char path[4096];
    write_text(path, "truth.csv", content);
    uint8_t got[64];
    memset(got, 0xAA, sizeof got);
    SaErr err;
    sa_err_clear(&err);
    int rc = sa_truth_read(path, ids, n, got, &err);
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    va_list ap;
    va_start(ap, code);
    const char *frag;
    while ((frag = va_arg(ap, const char *)) != NULL) {
        if (!strstr(err.msg, frag))
            print_error("message '%s' lacks '%s'\n", err.msg, frag);
        assert_non_null(strstr(err.msg, frag));
    }
    va_end(ap);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(got[i], 0xAA);
    unlink(path);
}

static void test_truth_valid(void **state)
{
    (void)state;
    char *ids[] = {"a,b", "say \"hi\"", "plain", "img 4", "last"};
    const uint8_t want[] = {1, 0, 1, 0, 1};
    /* Extra columns, quoted fields with "" escapes and commas, a quoted
     * field with a line break, CRLF, empty lines, a byte-order mark. */
    truth_ok("\xEF\xBB\xBF"
             "image,mislabeled,error_type,error_pixels\r\n"
             "\"a,b\",1,\"swap, partial\",120\r\n"
             "\r\n"
             "\"say \"\"hi\"\"\",0,,0\r\n"
             "plain,\"1\",\"multi\r\nline\",7\r\n"
             "\n"
             "\"img 4\", 0 ,none,0\r\n"
             "last,1,x,3",
             ids, 5, want);
}

static void test_truth_column_order(void **state)
{
    (void)state;
    const uint8_t want[] = {0, 1, 0, 0, 1};
    truth_ok("error_type,mislabeled,error_pixels,Image\n"
             "none,0,0,img_001\n"
             "swap,1,10,img_002\n"
             "none,0,0,img_003\n"
             "none,0,0,img_004\n"
             "drop,1,99,img_005\n",
             g_ids5, 5, want);
    /* Rows in any order; only the two columns. */
    truth_ok("MISLABELED,image\n"
             "1,img_005\n0,img_003\n0,img_001\n1,img_002\n0,img_004\n",
             g_ids5, 5, want);
}

static void test_truth_bool_values(void **state)
{
    (void)state;
    const uint8_t want[] = {1, 0, 1, 0, 1};
    truth_ok("image,mislabeled\n"
             "img_001,true\nimg_002,False\nimg_003,YES\nimg_004,no\n"
             "img_005, True \n",
             g_ids5, 5, want);
    /* An empty dataset with a header-only file. */
    truth_ok("image,mislabeled\n", NULL, 0, want);
}

static void test_truth_large(void **state)
{
    (void)state;
    /* 100,000 ids, rows in a shuffled order. */
    uint64_t n = 100000;
    char **ids = malloc(n * sizeof *ids);
    uint8_t *got = malloc(n);
    assert_non_null(ids);
    assert_non_null(got);
    for (uint64_t i = 0; i < n; i++) {
        ids[i] = malloc(16);
        assert_non_null(ids[i]);
        snprintf(ids[i], 16, "im%06llu", (unsigned long long)i);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/large.csv", g_dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "image,mislabeled,error_type\n");
    for (uint64_t k = 0; k < n; k++) {
        uint64_t i = (k * 7919 + 13) % n;
        fprintf(f, "%s,%d,x\n", ids[i], (int)(i % 3 == 0));
    }
    assert_int_equal(fclose(f), 0);
    SaErr err;
    sa_err_clear(&err);
    assert_int_equal(sa_truth_read(path, ids, n, got, &err), 0);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(got[i], i % 3 == 0);
    unlink(path);
    for (uint64_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(got);
}

static void test_truth_errors(void **state)
{
    (void)state;
    const char *head = "image,mislabeled,error_type\n";
    char buf[1024];

    /* An id not in the dataset, on line 7. */
    snprintf(buf, sizeof buf,
             "%simg_001,0,\nimg_002,0,\n\nimg_003,1,x\nimg_004,0,\nx,1,y\n"
             "img_005,0,\n", head);
    truth_fails(buf, g_ids5, 5, SEGAUDIT_EINPUT,
                "truth.csv:7: image 'x' is not in the dataset", NULL);

    /* A duplicate row. */
    snprintf(buf, sizeof buf,
             "%simg_001,0,\nimg_002,0,\nimg_003,1,x\nimg_002,1,\n", head);
    truth_fails(buf, g_ids5, 5, SEGAUDIT_EINPUT, "truth.csv:5:",
                "'img_002'", "line 3", NULL);

    /* Missing ids: one, then several. */
    snprintf(buf, sizeof buf,
             "%simg_001,0,\nimg_002,0,\nimg_004,1,x\nimg_005,0,\n", head);
    truth_fails(buf, g_ids5, 5, SEGAUDIT_EINPUT,
                "truth.csv: no row for image 'img_003'", NULL);
    snprintf(buf, sizeof buf, "%simg_002,0,\n", head);
    truth_fails(buf, g_ids5, 5, SEGAUDIT_EINPUT,
                "truth.csv: no row for image 'img_001' (and 3 more)", NULL);
    truth_fails(head, g_ids5, 5, SEGAUDIT_EINPUT,
                "truth.csv: no row for image 'img_001' (and 4 more)", NULL);

    /* Bad values. */
    snprintf(buf, sizeof buf, "%simg_001,0,\nimg_002,maybe,\n", head);
    truth_fails(buf, g_ids5, 5, SEGAUDIT_EINPUT, "truth.csv:3:", "'maybe'",
                "'img_002'", NULL);
    snprintf(buf, sizeof buf, "%simg_001,2,\n", head);
    truth_fails(buf, g_ids5, 5, SEGAUDIT_EINPUT, "truth.csv:2:", "'2'",
                NULL);
    snprintf(buf, sizeof buf, "%simg_001,,\n", head);
    truth_fails(buf, g_ids5, 5, SEGAUDIT_EINPUT, "truth.csv:2:", "''",
                NULL);
    snprintf(buf, sizeof buf, "%s,1,\n", head);
    truth_fails(buf, g_ids5, 5, SEGAUDIT_EINPUT,
                "truth.csv:2: empty image id", NULL);

    /* Missing columns. */
    truth_fails("image,error_type\nimg_001,x\n", g_ids5, 5, SEGAUDIT_EINPUT,
                "truth.csv:1:", "no 'mislabeled' column", NULL);
    truth_fails("\n\nid,mislabeled\nimg_001,1\n", g_ids5, 5,
                SEGAUDIT_EINPUT, "truth.csv:3:", "no 'image' column", NULL);
    truth_fails("image,mislabeled,image\n", g_ids5, 5, SEGAUDIT_EINPUT,
                "truth.csv:1:", "two 'image' columns", NULL);

    /* An empty file. */
    truth_fails("", g_ids5, 5, SEGAUDIT_EINPUT, "truth.csv:",
                "empty", NULL);
    truth_fails("\r\n\n", g_ids5, 5, SEGAUDIT_EINPUT, "truth.csv:",
                "empty", NULL);

    /* Broken CSV: a wrong number of fields, an unclosed quote, text after
     * a closing quote; line numbers count the breaks inside quotes. */
    snprintf(buf, sizeof buf, "%simg_001,0,a,b\n", head);
    truth_fails(buf, g_ids5, 5, SEGAUDIT_EINPUT, "truth.csv:2:",
                "4 fields but the header has 3", NULL);
    snprintf(buf, sizeof buf, "%simg_001,0,\"a\nb\"\nimg_002,0\n", head);
    truth_fails(buf, g_ids5, 5, SEGAUDIT_EINPUT, "truth.csv:4:",
                "2 fields", NULL);
    snprintf(buf, sizeof buf, "%simg_001,0,\nimg_002,0,\"abc\n", head);
    truth_fails(buf, g_ids5, 5, SEGAUDIT_EINPUT, "truth.csv:3:",
                "not closed", NULL);
    snprintf(buf, sizeof buf, "%simg_001,0,\"ab\"c\n", head);
    truth_fails(buf, g_ids5, 5, SEGAUDIT_EINPUT, "truth.csv:2:",
                "closing quote", NULL);

    /* A NUL byte. */
    {
        char path[4096];
        snprintf(path, sizeof path, "%s/truth.csv", g_dir);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        const char bin[] = "image,mislabeled\nimg_001\0,1\n";
        fwrite(bin, 1, sizeof bin - 1, f);
        fclose(f);
        uint8_t got[5];
        SaErr err;
        sa_err_clear(&err);
        assert_int_equal(sa_truth_read(path, g_ids5, 5, got, &err),
                         SEGAUDIT_EINPUT);
        assert_non_null(strstr(err.msg, "truth.csv:2:"));
        unlink(path);
    }
}

static void test_truth_unreadable(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/no_such_truth.csv", g_dir);
    uint8_t got[5] = {7, 7, 7, 7, 7};
    SaErr err;
    sa_err_clear(&err);
    assert_int_equal(sa_truth_read(path, g_ids5, 5, got, &err),
                     SEGAUDIT_EINPUT);
    assert_non_null(strstr(err.msg, "no_such_truth.csv"));
    assert_non_null(strstr(err.msg, "No such file"));
    assert_int_equal(got[0], 7);

    /* A folder is not a readable file either. */
    sa_err_clear(&err);
    assert_int_equal(sa_truth_read(g_dir, g_ids5, 5, got, &err),
                     SEGAUDIT_EINPUT);
    assert_non_null(strstr(err.msg, g_dir));
}

static void test_truth_duplicate_dataset_ids(void **state)
{
    (void)state;
    char *ids[] = {"a", "b", "a"};
    truth_fails("image,mislabeled\na,1\nb,0\n", ids, 3, SEGAUDIT_EINVAL,
                "'a'", "more than once", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_unsorted_input),
        cmocka_unit_test(test_perfect),
        cmocka_unit_test(test_worst),
        cmocka_unit_test(test_ties_image_order),
        cmocka_unit_test(test_no_score_last),
        cmocka_unit_test(test_no_positives),
        cmocka_unit_test(test_all_positives),
        cmocka_unit_test(test_single_image),
        cmocka_unit_test(test_empty_and_bad_args),
        cmocka_unit_test(test_random_vs_brute_force),
        cmocka_unit_test(test_large_sorted),
        cmocka_unit_test(test_truth_valid),
        cmocka_unit_test(test_truth_column_order),
        cmocka_unit_test(test_truth_bool_values),
        cmocka_unit_test(test_truth_large),
        cmocka_unit_test(test_truth_errors),
        cmocka_unit_test(test_truth_unreadable),
        cmocka_unit_test(test_truth_duplicate_dataset_ids),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
