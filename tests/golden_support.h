/* Shared code of test_golden.c (library API) and test_cli_golden.c (the
 * program): discovery of the golden cases, their expected.json, one common
 * form for the results of an audit (GsResult), and the comparisons that
 * tests/golden/README.md defines.
 *
 * Include after <cmocka.h>.  The functions are `static inline` so that each
 * test program uses what it needs without unused-function warnings.  Paths
 * are relative to tests/, the working directory of the tests. */
#ifndef GOLDEN_SUPPORT_H
#define GOLDEN_SUPPORT_H

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/png_io.h"
#include "segaudit/segaudit.h"

#define GS_GOLDEN_DIR "golden"
#define GS_MIN_CASES 9
#define GS_PATH 1024
#define GS_MAX_IGNORE 64

/* Tolerances of tests/golden/README.md. */
#define GS_TOL_SCORE 1e-9          /* softmin, num_pixel_issues */
#define GS_TOL_THRESHOLD 1e-6      /* confident thresholds */
#define GS_TOL_THRESHOLD_F16 1e-3  /* ... when stored as float16 */

#if defined(__GNUC__)
#define GS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GS_PRINTF(a, b)
#endif

/* ---- memory and paths (failures end the test) -------------------------- */

static inline void *gs_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    assert_non_null(p);
    return p;
}

static inline char *gs_strdup(const char *s)
{
    char *p = strdup(s);
    assert_non_null(p);
    return p;
}

static inline void gs_path(char *buf, const char *fmt, ...) GS_PRINTF(2, 3);
static inline void gs_path(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, GS_PATH, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= GS_PATH)
        fail_msg("path too long: %s...", buf);
}

static inline int gs_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A new empty folder /tmp/<prefix>XXXXXX (malloc'd path). */
static inline char *gs_mkdtemp(const char *prefix)
{
    char buf[GS_PATH];
    gs_path(buf, "/tmp/%sXXXXXX", prefix);
    if (!mkdtemp(buf))
        fail_msg("mkdtemp %s: %s", buf, strerror(errno));
    return gs_strdup(buf);
}

/* Removes path and everything below it; a missing path is fine. */
static inline void gs_remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char sub[GS_PATH];
        gs_path(sub, "%s/%s", path, de->d_name);
        struct stat st;
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            gs_remove_tree(sub);
        else
            unlink(sub);
    }
    closedir(d);
    rmdir(path);
}

static inline int gs_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline void gs_free_strings(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The sorted names in folder dir; with suffix, only the names that end in
 * it.  Hidden entries ("." first) are listed too: callers look for stray
 * files.  Returns the count; *out is malloc'd (gs_free_strings). */
static inline size_t gs_list_dir(const char *dir, const char *suffix,
                                 char ***out)
{
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("%s: cannot list: %s", dir, strerror(errno));
    size_t n = 0, cap = 16;
    char **v = gs_calloc(cap, sizeof *v);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t len = strlen(name), sl = suffix ? strlen(suffix) : 0;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        if (suffix && (len < sl || strcmp(name + len - sl, suffix)))
            continue;
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
            assert_non_null(v);
        }
        v[n++] = gs_strdup(name);
    }
    closedir(d);
    qsort(v, n, sizeof *v, gs_cmp_str);
    *out = v;
    return n;
}

/* The golden cases: the sub-folders of golden/ that hold an expected.json,
 * sorted by name. */
static inline size_t gs_list_cases(char ***out)
{
    char **all;
    size_t n_all = gs_list_dir(GS_GOLDEN_DIR, NULL, &all), n = 0;
    for (size_t i = 0; i < n_all; i++) {
        char p[GS_PATH];
        gs_path(p, "%s/%s/expected.json", GS_GOLDEN_DIR, all[i]);
        if (all[i][0] != '.' && gs_exists(p))
            all[n++] = all[i];
        else
            free(all[i]);
    }
    *out = all;
    return n;
}

/* ---- collecting mismatches --------------------------------------------- */

/* Mismatches are printed as they are found (all of them, up to a limit) and
 * the test fails once at the end, so one run shows every difference. */
typedef struct GsCheck {
    char label[160]; /* "<case>" or "<case> [<run>]": starts each message */
    int errors;
} GsCheck;

#define GS_MAX_PRINTED 40

static inline void gs_check_init(GsCheck *c, const char *fmt, ...)
    GS_PRINTF(2, 3);
static inline void gs_check_init(GsCheck *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->label, sizeof c->label, fmt, ap);
    va_end(ap);
    c->errors = 0;
}

static inline void gs_fail(GsCheck *c, const char *fmt, ...) GS_PRINTF(2, 3);
static inline void gs_fail(GsCheck *c, const char *fmt, ...)
{
    if (c->errors++ >= GS_MAX_PRINTED)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error("%s: %s\n", c->label, msg);
}

/* Ends the test when c has recorded a mismatch. */
static inline void gs_check_done(const GsCheck *c)
{
    if (c->errors)
        fail_msg("%s: %d mismatch(es)%s", c->label, c->errors,
                 c->errors > GS_MAX_PRINTED ? " (first ones printed)"
                                            : ", printed above");
}

static inline int gs_rel_close(double a, double b, double tol)
{
    if (a == b)
        return 1;
    if (!isfinite(a) || !isfinite(b))
        return 0;
    return fabs(a - b) <= tol * fmax(fabs(a), fabs(b));
}

/* ---- expected.json ------------------------------------------------------ */

typedef struct GsPair {
    uint32_t given, predicted;
    uint64_t issue_pixels;
} GsPair;

typedef struct GsExpected {
    char *name;             /* the case folder's name */
    double temperature;
    int downsample;
    int ignore[GS_MAX_IGNORE];
    int n_ignore;
    uint64_t N, K, H, W;
    char *dtype;
    char **ids;             /* N */
    int *has_softmin;       /* N: 0 where softmin is null */
    double *softmin;        /* N */
    int *has_nps;           /* N: 0 where num_pixel_issues_score is null */
    double *nps;            /* N */
    double *thresholds;     /* K */
    uint64_t n_issues;
    uint64_t *issues;       /* N: issue pixels per image */
    GsPair *pairs;
    size_t n_pairs;
} GsExpected;

/* Member key of obj; a missing key ends the test.  A JSON null is NULL. */
static inline json_object *gs_jget(json_object *obj, const char *key,
                                   const char *where)
{
    json_object *v = NULL;
    if (!json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &v))
        fail_msg("%s: no \"%s\"", where, key);
    return v;
}

/* Member key of obj, which must be an array of n elements (any n when n is
 * SIZE_MAX); returns its length. */
static inline size_t gs_jarray(json_object *obj, const char *key, size_t n,
                               const char *where, json_object **out)
{
    json_object *v = gs_jget(obj, key, where);
    if (!json_object_is_type(v, json_type_array))
        fail_msg("%s: \"%s\" is not an array", where, key);
    size_t len = json_object_array_length(v);
    if (n != SIZE_MAX && len != n)
        fail_msg("%s: \"%s\" has %zu entries, expected %zu", where, key, len,
                 n);
    *out = v;
    return len;
}

static inline uint64_t gs_ju64(json_object *v, const char *what,
                               const char *where)
{
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
        fail_msg("%s: %s is not a count", where, what);
    return json_object_get_uint64(v);
}

/* A number, or (with has) null: *has = 0. */
static inline double gs_jdouble(json_object *v, int *has, const char *what,
                                const char *where)
{
    if (!v && has) {
        *has = 0;
        return NAN;
    }
    if (!json_object_is_type(v, json_type_double) &&
        !json_object_is_type(v, json_type_int))
        fail_msg("%s: %s is not a number", where, what);
    if (has)
        *has = 1;
    return json_object_get_double(v);
}

static inline uint64_t gs_jkey_u64(json_object *obj, const char *key,
                                   const char *where)
{
    return gs_ju64(gs_jget(obj, key, where), key, where);
}

static inline json_object *gs_json_load(const char *path)
{
    json_object *root = json_object_from_file(path);
    if (!root)
        fail_msg("%s: cannot parse: %s", path, json_util_get_last_err());
    return root;
}

/* Reads golden/<name>/expected.json into e. */
static inline void gs_expected_load(GsExpected *e, const char *name)
{
    char path[GS_PATH];
    gs_path(path, "%s/%s/expected.json", GS_GOLDEN_DIR, name);
    memset(e, 0, sizeof *e);
    e->name = gs_strdup(name);
    json_object *root = gs_json_load(path), *a;

    json_object *par = gs_jget(root, "params", path);
    e->temperature = gs_jdouble(gs_jget(par, "temperature", path), NULL,
                                "temperature", path);
    e->downsample = (int)gs_jkey_u64(par, "downsample", path);
    json_object *ig;
    if (json_object_object_get_ex(par, "ignore_index", &ig)) {
        e->n_ignore = (int)gs_jarray(par, "ignore_index", SIZE_MAX, path, &a);
        assert_true(e->n_ignore <= GS_MAX_IGNORE);
        for (int i = 0; i < e->n_ignore; i++)
            e->ignore[i] = (int)gs_ju64(json_object_array_get_idx(a, (size_t)i),
                                        "ignore_index", path);
    }

    json_object *shape = gs_jget(root, "shape", path);
    e->N = gs_jkey_u64(shape, "N", path);
    e->K = gs_jkey_u64(shape, "K", path);
    e->H = gs_jkey_u64(shape, "H", path);
    e->W = gs_jkey_u64(shape, "W", path);
    e->dtype = gs_strdup(json_object_get_string(gs_jget(root, "dtype", path)));

    const size_t N = (size_t)e->N, K = (size_t)e->K;
    e->ids = gs_calloc(N, sizeof *e->ids);
    e->has_softmin = gs_calloc(N, sizeof *e->has_softmin);
    e->softmin = gs_calloc(N, sizeof *e->softmin);
    e->has_nps = gs_calloc(N, sizeof *e->has_nps);
    e->nps = gs_calloc(N, sizeof *e->nps);
    e->issues = gs_calloc(N, sizeof *e->issues);
    e->thresholds = gs_calloc(K, sizeof *e->thresholds);

    gs_jarray(root, "image_ids", N, path, &a);
    for (size_t i = 0; i < N; i++)
        e->ids[i] = gs_strdup(
            json_object_get_string(json_object_array_get_idx(a, i)));
    gs_jarray(root, "softmin", N, path, &a);
    for (size_t i = 0; i < N; i++)
        e->softmin[i] = gs_jdouble(json_object_array_get_idx(a, i),
                                   &e->has_softmin[i], "softmin", path);
    gs_jarray(root, "num_pixel_issues_score", N, path, &a);
    for (size_t i = 0; i < N; i++)
        e->nps[i] = gs_jdouble(json_object_array_get_idx(a, i), &e->has_nps[i],
                               "num_pixel_issues_score", path);
    gs_jarray(root, "issues_per_image", N, path, &a);
    for (size_t i = 0; i < N; i++)
        e->issues[i] = gs_ju64(json_object_array_get_idx(a, i),
                               "issues_per_image", path);
    gs_jarray(root, "confident_thresholds", K, path, &a);
    for (size_t k = 0; k < K; k++)
        e->thresholds[k] = gs_jdouble(json_object_array_get_idx(a, k), NULL,
                                      "confident_thresholds", path);
    e->n_issues = gs_jkey_u64(root, "num_issues_k", path);

    e->n_pairs = gs_jarray(root, "issue_pairs", SIZE_MAX, path, &a);
    e->pairs = gs_calloc(e->n_pairs, sizeof *e->pairs);
    for (size_t i = 0; i < e->n_pairs; i++) {
        json_object *row = json_object_array_get_idx(a, i);
        if (!json_object_is_type(row, json_type_array) ||
            json_object_array_length(row) != 3)
            fail_msg("%s: issue_pairs[%zu] is not [given, predicted, count]",
                     path, i);
        e->pairs[i].given = (uint32_t)gs_ju64(
            json_object_array_get_idx(row, 0), "issue_pairs", path);
        e->pairs[i].predicted = (uint32_t)gs_ju64(
            json_object_array_get_idx(row, 1), "issue_pairs", path);
        e->pairs[i].issue_pixels = gs_ju64(json_object_array_get_idx(row, 2),
                                           "issue_pairs", path);
    }
    json_object_put(root);
}

static inline void gs_expected_free(GsExpected *e)
{
    gs_free_strings(e->ids, (size_t)e->N);
    free(e->name);
    free(e->dtype);
    free(e->has_softmin);
    free(e->softmin);
    free(e->has_nps);
    free(e->nps);
    free(e->issues);
    free(e->thresholds);
    free(e->pairs);
    memset(e, 0, sizeof *e);
}

/* The README's rule: thresholds of float16 data were averaged in float16 by
 * the reference, so they are only good to 1e-3. */
static inline double gs_threshold_tol(const GsExpected *e)
{
    return strcmp(e->dtype, "float16") == 0 ? GS_TOL_THRESHOLD_F16
                                            : GS_TOL_THRESHOLD;
}

/* ---- results of one audit, whichever way they were obtained ------------ */

typedef struct GsImage {
    char *id;
    uint64_t index, rank;
    int has_score;
    double softmin, num_pixel_issues;
    uint64_t issue_pixels, valid_pixels;
} GsImage;

typedef struct GsClass {
    uint64_t labeled_pixels;
    double threshold;
    uint64_t issue_pixels_given, issue_pixels_predicted, images_affected;
} GsClass;

typedef struct GsResult {
    uint64_t N, K, H, W;
    char *dtype;
    uint64_t n_issues, issue_pixels, valid_pixels, images_with_issues;
    GsImage *images;   /* N, tensor order */
    uint64_t *ranked;  /* N: tensor index of the image of rank r + 1 */
    GsClass *classes;  /* K */
    GsPair *pairs;     /* in reported order */
    size_t n_pairs, cap_pairs;
} GsResult;

/* Sizes r for N images and K classes; the images' index fields are set to
 * UINT64_MAX ("not reported yet") and ranked[] to UINT64_MAX. */
static inline void gs_result_init(GsResult *r, uint64_t N, uint64_t K)
{
    memset(r, 0, sizeof *r);
    r->N = N;
    r->K = K;
    r->images = gs_calloc((size_t)N, sizeof *r->images);
    r->ranked = gs_calloc((size_t)N, sizeof *r->ranked);
    r->classes = gs_calloc((size_t)K, sizeof *r->classes);
    for (uint64_t i = 0; i < N; i++)
        r->images[i].index = r->ranked[i] = UINT64_MAX;
}

static inline void gs_result_add_pair(GsResult *r, GsPair p)
{
    if (r->n_pairs == r->cap_pairs) {
        r->cap_pairs = r->cap_pairs ? 2 * r->cap_pairs : 64;
        r->pairs = realloc(r->pairs, r->cap_pairs * sizeof *r->pairs);
        assert_non_null(r->pairs);
    }
    r->pairs[r->n_pairs++] = p;
}

/* Stores im as the image reported at rank position row (0-based); an index
 * out of range or reported twice is a mismatch. */
static inline void gs_result_set_ranked(GsResult *r, uint64_t row, GsImage im,
                                        GsCheck *c)
{
    if (row >= r->N || im.index >= r->N) {
        gs_fail(c, "ranked row %llu: index %llu out of range (N = %llu)",
                (unsigned long long)row, (unsigned long long)im.index,
                (unsigned long long)r->N);
        free(im.id);
        return;
    }
    GsImage *dst = &r->images[im.index];
    if (dst->index != UINT64_MAX) {
        gs_fail(c, "image index %llu reported twice",
                (unsigned long long)im.index);
        free(im.id);
        return;
    }
    *dst = im;
    r->ranked[row] = im.index;
}

static inline void gs_result_free(GsResult *r)
{
    if (r->images)
        for (uint64_t i = 0; i < r->N; i++)
            free(r->images[i].id);
    free(r->images);
    free(r->ranked);
    free(r->classes);
    free(r->pairs);
    free(r->dtype);
    memset(r, 0, sizeof *r);
}

/* ---- comparisons -------------------------------------------------------- */

#define GS_ULL(x) ((unsigned long long)(x))

/* Exact equality of two results (every double with ==): for determinism
 * across runs and between the report's files. */
static inline void gs_result_diff(const GsResult *a, const GsResult *b,
                                  const char *name_a, const char *name_b,
                                  GsCheck *c)
{
#define GS_SAME_U64(what, x, y)                                               \
    do {                                                                      \
        if ((x) != (y))                                                       \
            gs_fail(c, "%s: %llu in %s, %llu in %s", what, GS_ULL(x), name_a, \
                    GS_ULL(y), name_b);                                       \
    } while (0)
#define GS_SAME_DBL(what, x, y)                                               \
    do {                                                                      \
        if (!((x) == (y)))                                                    \
            gs_fail(c, "%s: %.17g in %s, %.17g in %s", what, x, name_a, y,    \
                    name_b);                                                  \
    } while (0)
    char what[256];
    GS_SAME_U64("N", a->N, b->N);
    GS_SAME_U64("K", a->K, b->K);
    if (a->N != b->N || a->K != b->K)
        return;
    GS_SAME_U64("H", a->H, b->H);
    GS_SAME_U64("W", a->W, b->W);
    if (strcmp(a->dtype ? a->dtype : "", b->dtype ? b->dtype : ""))
        gs_fail(c, "dtype: %s in %s, %s in %s", a->dtype, name_a, b->dtype,
                name_b);
    GS_SAME_U64("n_issues", a->n_issues, b->n_issues);
    GS_SAME_U64("issue_pixels", a->issue_pixels, b->issue_pixels);
    GS_SAME_U64("valid_pixels", a->valid_pixels, b->valid_pixels);
    GS_SAME_U64("images_with_issues", a->images_with_issues,
                b->images_with_issues);
    for (uint64_t i = 0; i < a->N; i++) {
        const GsImage *x = &a->images[i], *y = &b->images[i];
        snprintf(what, sizeof what, "image %llu (%s)", GS_ULL(i),
                 x->id ? x->id : "?");
        if (strcmp(x->id ? x->id : "", y->id ? y->id : ""))
            gs_fail(c, "%s: id %s in %s, %s in %s", what, x->id, name_a,
                    y->id, name_b);
        GS_SAME_U64(what, x->rank, y->rank);
        GS_SAME_U64(what, x->has_score, y->has_score);
        if (x->has_score && y->has_score) {
            GS_SAME_DBL(what, x->softmin, y->softmin);
            GS_SAME_DBL(what, x->num_pixel_issues, y->num_pixel_issues);
        }
        GS_SAME_U64(what, x->issue_pixels, y->issue_pixels);
        GS_SAME_U64(what, x->valid_pixels, y->valid_pixels);
        snprintf(what, sizeof what, "ranked position %llu", GS_ULL(i));
        GS_SAME_U64(what, a->ranked[i], b->ranked[i]);
    }
    for (uint64_t k = 0; k < a->K; k++) {
        const GsClass *x = &a->classes[k], *y = &b->classes[k];
        snprintf(what, sizeof what, "class %llu", GS_ULL(k));
        GS_SAME_U64(what, x->labeled_pixels, y->labeled_pixels);
        GS_SAME_DBL(what, x->threshold, y->threshold);
        GS_SAME_U64(what, x->issue_pixels_given, y->issue_pixels_given);
        GS_SAME_U64(what, x->issue_pixels_predicted,
                    y->issue_pixels_predicted);
        GS_SAME_U64(what, x->images_affected, y->images_affected);
    }
    GS_SAME_U64("number of pairs", a->n_pairs, b->n_pairs);
    for (size_t i = 0; i < a->n_pairs && i < b->n_pairs; i++) {
        const GsPair *x = &a->pairs[i], *y = &b->pairs[i];
        if (x->given != y->given || x->predicted != y->predicted ||
            x->issue_pixels != y->issue_pixels)
            gs_fail(c, "pair %zu: (%u,%u,%llu) in %s, (%u,%u,%llu) in %s", i,
                    x->given, x->predicted, GS_ULL(x->issue_pixels), name_a,
                    y->given, y->predicted, GS_ULL(y->issue_pixels), name_b);
    }
#undef GS_SAME_U64
#undef GS_SAME_DBL
}

/* Ranks are 1..N in ranked order; scored images come first by softmin
 * ascending, ties by index; images without a score come last, by index. */
static inline void gs_check_ranking(const GsResult *r, GsCheck *c)
{
    for (uint64_t p = 0; p < r->N; p++) {
        uint64_t i = r->ranked[p];
        if (i >= r->N) {
            gs_fail(c, "ranked position %llu: no image", GS_ULL(p));
            return;
        }
        const GsImage *cur = &r->images[i];
        if (cur->index != i)
            gs_fail(c, "image %s: index %llu at tensor position %llu",
                    cur->id, GS_ULL(cur->index), GS_ULL(i));
        if (cur->rank != p + 1)
            gs_fail(c, "image %s: rank %llu at ranked position %llu", cur->id,
                    GS_ULL(cur->rank), GS_ULL(p));
        if (p == 0)
            continue;
        const GsImage *prev = &r->images[r->ranked[p - 1]];
        int ok;
        if (prev->has_score != cur->has_score)
            ok = prev->has_score; /* scored before unscored */
        else if (cur->has_score && prev->softmin != cur->softmin)
            ok = prev->softmin < cur->softmin;
        else
            ok = prev->index < cur->index;
        if (!ok)
            gs_fail(c, "ranking: %s (index %llu, %s %.17g) is ranked before "
                    "%s (index %llu, %s %.17g)",
                    prev->id, GS_ULL(prev->index),
                    prev->has_score ? "softmin" : "no score", prev->softmin,
                    cur->id, GS_ULL(cur->index),
                    cur->has_score ? "softmin" : "no score", cur->softmin);
    }
}

/* The summaries agree with each other: per-class and per-pair issue pixels
 * add up to the per-image ones and to the dataset total. */
static inline void gs_check_sums(const GsResult *r, int downsample,
                                 GsCheck *c)
{
    uint64_t img_issues = 0, img_valid = 0, with_issues = 0;
    for (uint64_t i = 0; i < r->N; i++) {
        img_issues += r->images[i].issue_pixels;
        img_valid += r->images[i].valid_pixels;
        with_issues += r->images[i].issue_pixels > 0;
    }
    uint64_t given = 0, predicted = 0, labeled = 0, pairs = 0;
    for (uint64_t k = 0; k < r->K; k++) {
        const GsClass *cl = &r->classes[k];
        given += cl->issue_pixels_given;
        predicted += cl->issue_pixels_predicted;
        labeled += cl->labeled_pixels;
        uint64_t pg = 0, pp = 0;
        for (size_t j = 0; j < r->n_pairs; j++) {
            if (r->pairs[j].given == k)
                pg += r->pairs[j].issue_pixels;
            if (r->pairs[j].predicted == k)
                pp += r->pairs[j].issue_pixels;
        }
        if (pg != cl->issue_pixels_given || pp != cl->issue_pixels_predicted)
            gs_fail(c, "class %llu: issue pixels given %llu, predicted %llu; "
                    "its pairs add up to %llu, %llu", GS_ULL(k),
                    GS_ULL(cl->issue_pixels_given),
                    GS_ULL(cl->issue_pixels_predicted), GS_ULL(pg), GS_ULL(pp));
        if (cl->images_affected > with_issues)
            gs_fail(c, "class %llu: %llu images affected, but only %llu "
                    "images have issues", GS_ULL(k),
                    GS_ULL(cl->images_affected), GS_ULL(with_issues));
    }
    for (size_t j = 0; j < r->n_pairs; j++) {
        pairs += r->pairs[j].issue_pixels;
        if (r->pairs[j].given >= r->K || r->pairs[j].predicted >= r->K ||
            r->pairs[j].given == r->pairs[j].predicted)
            gs_fail(c, "pair %zu: (%u,%u) is not an off-diagonal pair", j,
                    r->pairs[j].given, r->pairs[j].predicted);
    }
    if (given != r->issue_pixels || predicted != r->issue_pixels ||
        img_issues != r->issue_pixels || pairs != r->issue_pixels)
        gs_fail(c, "issue pixels: total %llu; per class given %llu, per "
                "class predicted %llu, per image %llu, per pair %llu",
                GS_ULL(r->issue_pixels), GS_ULL(given), GS_ULL(predicted),
                GS_ULL(img_issues), GS_ULL(pairs));
    if (img_valid != r->valid_pixels)
        gs_fail(c, "valid pixels: total %llu, per image %llu",
                GS_ULL(r->valid_pixels), GS_ULL(img_valid));
    if (with_issues != r->images_with_issues)
        gs_fail(c, "images with issues: %llu, per image %llu",
                GS_ULL(r->images_with_issues), GS_ULL(with_issues));
    /* At full resolution every valid pixel is labeled with one class. */
    if (downsample == 1 && labeled != r->valid_pixels)
        gs_fail(c, "labeled pixels add up to %llu, valid pixels %llu",
                GS_ULL(labeled), GS_ULL(r->valid_pixels));
}

/* Everything the README compares, plus the invariants above. */
static inline void gs_check_expected(const GsExpected *e, const GsResult *r,
                                     GsCheck *c)
{
    if (r->N != e->N || r->K != e->K || r->H != e->H || r->W != e->W) {
        gs_fail(c, "shape (%llu,%llu,%llu,%llu), expected (%llu,%llu,%llu,"
                "%llu)", GS_ULL(r->N), GS_ULL(r->K), GS_ULL(r->H),
                GS_ULL(r->W), GS_ULL(e->N), GS_ULL(e->K), GS_ULL(e->H),
                GS_ULL(e->W));
        if (r->N != e->N || r->K != e->K)
            return;
    }
    if (!r->dtype || strcmp(r->dtype, e->dtype))
        gs_fail(c, "dtype %s, expected %s", r->dtype, e->dtype);
    if (r->n_issues != e->n_issues)
        gs_fail(c, "n_issues %llu, expected %llu", GS_ULL(r->n_issues),
                GS_ULL(e->n_issues));

    for (uint64_t i = 0; i < e->N; i++) {
        const GsImage *im = &r->images[i];
        const char *id = e->ids[i];
        if (!im->id || strcmp(im->id, id))
            gs_fail(c, "image %llu: id %s, expected %s", GS_ULL(i),
                    im->id ? im->id : "(none)", id);
        if (im->has_score != e->has_softmin[i])
            gs_fail(c, "image %s: %s, expected %s", id,
                    im->has_score ? "has a score" : "no score",
                    e->has_softmin[i] ? "a softmin" : "null softmin");
        else if (im->has_score &&
                 !gs_rel_close(im->softmin, e->softmin[i], GS_TOL_SCORE))
            gs_fail(c, "image %s: softmin %.17g, expected %.17g", id,
                    im->softmin, e->softmin[i]);
        if (im->has_score != e->has_nps[i])
            gs_fail(c, "image %s: %s, expected %s num_pixel_issues_score", id,
                    im->has_score ? "has a score" : "no score",
                    e->has_nps[i] ? "a" : "null");
        else if (im->has_score && !gs_rel_close(im->num_pixel_issues,
                                                e->nps[i], GS_TOL_SCORE))
            gs_fail(c, "image %s: num_pixel_issues %.17g, expected %.17g", id,
                    im->num_pixel_issues, e->nps[i]);
        if (im->issue_pixels != e->issues[i])
            gs_fail(c, "image %s: %llu issue pixels, expected %llu", id,
                    GS_ULL(im->issue_pixels), GS_ULL(e->issues[i]));
    }

    const double tol = gs_threshold_tol(e);
    for (uint64_t k = 0; k < e->K; k++)
        if (!gs_rel_close(r->classes[k].threshold, e->thresholds[k], tol))
            gs_fail(c, "class %llu: threshold %.17g, expected %.17g (rel. "
                    "tolerance %g)", GS_ULL(k), r->classes[k].threshold,
                    e->thresholds[k], tol);

    if (r->n_pairs != e->n_pairs)
        gs_fail(c, "%zu issue pairs, expected %zu", r->n_pairs, e->n_pairs);
    for (size_t j = 0; j < r->n_pairs && j < e->n_pairs; j++) {
        const GsPair *x = &r->pairs[j], *y = &e->pairs[j];
        if (x->given != y->given || x->predicted != y->predicted ||
            x->issue_pixels != y->issue_pixels)
            gs_fail(c, "issue pair %zu: [%u, %u, %llu], expected [%u, %u, "
                    "%llu]", j, x->given, x->predicted,
                    GS_ULL(x->issue_pixels), y->given, y->predicted,
                    GS_ULL(y->issue_pixels));
    }

    gs_check_ranking(r, c);
    gs_check_sums(r, e->downsample, c);
}

/* ---- an audit's results through the public accessors -------------------- */

/* Copies what the accessors of a report into r. */
static inline void gs_collect(const SegauditAudit *a, GsResult *r)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    gs_result_init(r, in.n_images, in.n_classes);
    r->H = in.height;
    r->W = in.width;
    r->dtype = gs_strdup(in.dtype ? in.dtype : "");
    r->n_issues = in.n_issues;
    r->issue_pixels = in.issue_pixels;
    r->valid_pixels = in.valid_pixels;
    r->images_with_issues = in.images_with_issues;
    for (uint64_t i = 0; i < in.n_images; i++) {
        SegauditImageResult im;
        segaudit_audit_image(a, i, &im);
        r->images[i] = (GsImage){
            .id = gs_strdup(im.id ? im.id : ""),
            .index = im.index,
            .rank = im.rank,
            .has_score = im.has_score,
            .softmin = im.softmin,
            .num_pixel_issues = im.num_pixel_issues,
            .issue_pixels = im.issue_pixels,
            .valid_pixels = im.valid_pixels,
        };
        r->ranked[i] = segaudit_audit_ranked(a, i);
    }
    for (uint32_t k = 0; k < in.n_classes; k++) {
        SegauditClassResult cl;
        segaudit_audit_class(a, k, &cl);
        r->classes[k] = (GsClass){
            .labeled_pixels = cl.labeled_pixels,
            .threshold = cl.threshold,
            .issue_pixels_given = cl.issue_pixels_given,
            .issue_pixels_predicted = cl.issue_pixels_predicted,
            .images_affected = cl.images_affected,
        };
    }
    for (uint64_t j = 0; j < segaudit_audit_n_pairs(a); j++) {
        SegauditPair p;
        segaudit_audit_pair(a, j, &p);
        gs_result_add_pair(r, (GsPair){p.given, p.predicted, p.issue_pixels});
    }
}

/* ---- masks -------------------------------------------------------------- */

/* The values of the PNG at path (malloc'd), or NULL after a mismatch. */
static inline uint16_t *gs_read_png(const char *path, uint32_t *w,
                                    uint32_t *h, GsCheck *c)
{
    SaLabelPng *p = NULL;
    SaErr err;
    sa_err_clear(&err);
    if (sa_label_png_open(&p, path, 0, 0, &err) != 0) {
        gs_fail(c, "%s", err.msg);
        return NULL;
    }
    *w = sa_label_png_width(p);
    *h = sa_label_png_height(p);
    uint16_t *v = gs_calloc((size_t)*w * *h, sizeof *v);
    if (sa_label_png_read_rows(p, v, *h, &err) != 0) {
        gs_fail(c, "%s", err.msg);
        free(v);
        v = NULL;
    }
    sa_label_png_close(p);
    return v;
}

/* Compares the PNG at got with the one at want, pixel for pixel. */
static inline void gs_check_png_equal(const char *got, const char *want,
                                      GsCheck *c)
{
    uint32_t gw = 0, gh = 0, ww = 0, wh = 0;
    uint16_t *g = gs_read_png(got, &gw, &gh, c);
    uint16_t *w = gs_read_png(want, &ww, &wh, c);
    if (g && w && (gw != ww || gh != wh))
        gs_fail(c, "%s: %ux%u, expected %ux%u like %s", got, gw, gh, ww, wh,
                want);
    else if (g && w) {
        size_t n = (size_t)gw * gh, diff = 0, first = 0;
        for (size_t i = 0; i < n; i++)
            if (g[i] != w[i] && diff++ == 0)
                first = i;
        if (diff)
            gs_fail(c, "%s: %zu pixels differ from %s; first at (x %zu, "
                    "y %zu): %u, expected %u", got, diff, want, first % gw,
                    first / gw, g[first], w[first]);
    }
    free(g);
    free(w);
}

/* masks_dir holds exactly one <id>.png per image, each equal to
 * golden/<case>/expected_issues/<id>.png. */
static inline void gs_check_masks(const GsExpected *e, const char *masks_dir,
                                  GsCheck *c)
{
    char **names;
    size_t n = gs_list_dir(masks_dir, NULL, &names);
    if (n != e->N)
        gs_fail(c, "%s: %zu files, expected one mask per image (%llu)",
                masks_dir, n, GS_ULL(e->N));
    gs_free_strings(names, n);
    for (uint64_t i = 0; i < e->N; i++) {
        char got[GS_PATH], want[GS_PATH];
        gs_path(got, "%s/%s.png", masks_dir, e->ids[i]);
        gs_path(want, "%s/%s/expected_issues/%s.png", GS_GOLDEN_DIR, e->name,
                e->ids[i]);
        if (!gs_exists(got))
            gs_fail(c, "image %s: no mask %s", e->ids[i], got);
        else
            gs_check_png_equal(got, want, c);
    }
}

#endif
