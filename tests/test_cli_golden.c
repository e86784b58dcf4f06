/* The golden cases through the program: argv[1] is the segaudit binary.
 *
 * Every folder of golden/ with an expected.json is audited with
 * `segaudit audit ... --masks -q`; images.csv, classes.csv, pairs.csv and
 * report.json are parsed, must agree with each other exactly and with
 * expected.json at the tolerances of tests/golden/README.md, and the masks
 * must equal the expected ones.  Two larger cases are also run with
 * different threads, memory limit and band size, and their reports must be
 * byte-identical (report.json without its "run" object).  Plus the exit
 * statuses of --version, --help, usage errors and failed runs.
 * Run with the working directory tests/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sys/wait.h>

#include "golden_support.h"
#include "segaudit/segaudit.h"

static const char *g_bin; /* the program under test */

/* ---- running the program ------------------------------------------------ */

#define MAX_ARGS 64

typedef struct Argv {
    char *v[MAX_ARGS + 1]; /* NULL-terminated */
    int n;
} Argv;

static void argv_add(Argv *a, const char *fmt, ...) GS_PRINTF(2, 3);
static void argv_add(Argv *a, const char *fmt, ...)
{
    char buf[GS_PATH];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    assert_true(a->n < MAX_ARGS);
    a->v[a->n++] = gs_strdup(buf);
    a->v[a->n] = NULL;
}

static void argv_free(Argv *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->v[i]);
    memset(a, 0, sizeof *a);
}

/* The command line, for messages. */
static const char *argv_str(const Argv *a)
{
    static char buf[4096];
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < a->n && len < sizeof buf; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s",
                                i ? " " : "", a->v[i]);
    return buf;
}

/* The contents of path, NUL-terminated (malloc'd), or NULL when it cannot
 * be read; *len (optional) is its size. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = gs_calloc(cap, 1);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* Runs a (a->v[0] = program) with stdout and stderr written to files;
 * returns its exit status, or 128 + the signal that ended it. */
static int run_prog(const Argv *a, const char *out_path, const char *err_path)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(126);
        close(fo);
        close(fe);
        execv(a->v[0], a->v);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        assert_int_equal(errno, EINTR);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The state of one test; freed by teardown even after a failure. */
typedef struct Ctx {
    const char *case_name; /* NULL for the tests that need no case */
    GsExpected exp;
    char *tmp;             /* mkdtemp folder, removed by teardown */
    Argv args;
    char *out_text, *err_text; /* of the last run */
    GsResult json, csv;        /* the report as read from its files */
    char *want_err;            /* stderr of a -q run: the warning lines */
} Ctx;

/* Runs ctx->args, which must exit with status want; keeps its stdout and
 * stderr in ctx->out_text and ctx->err_text. */
static void run_expect(Ctx *ctx, int want)
{
    char out_path[GS_PATH], err_path[GS_PATH];
    gs_path(out_path, "%s/stdout.txt", ctx->tmp);
    gs_path(err_path, "%s/stderr.txt", ctx->tmp);
    int status = run_prog(&ctx->args, out_path, err_path);
    free(ctx->out_text);
    free(ctx->err_text);
    ctx->out_text = read_file(out_path, NULL);
    ctx->err_text = read_file(err_path, NULL);
    assert_non_null(ctx->out_text);
    assert_non_null(ctx->err_text);
    unlink(out_path);
    unlink(err_path);
    if (status != want)
        fail_msg("`%s` exited with %d, expected %d; stderr:\n%s",
                 argv_str(&ctx->args), status, want, ctx->err_text);
}

/* ctx->args = the audit of ctx's case into out, with extra arguments. */
static void audit_args(Ctx *ctx, const char *out, const char *const *extra)
{
    const GsExpected *e = &ctx->exp;
    argv_free(&ctx->args);
    argv_add(&ctx->args, "%s", g_bin);
    argv_add(&ctx->args, "audit");
    argv_add(&ctx->args, "--labels");
    argv_add(&ctx->args, "%s/%s/labels", GS_GOLDEN_DIR, e->name);
    argv_add(&ctx->args, "--probs");
    argv_add(&ctx->args, "%s/%s/probs.h5", GS_GOLDEN_DIR, e->name);
    argv_add(&ctx->args, "--out");
    argv_add(&ctx->args, "%s", out);
    argv_add(&ctx->args, "--masks");
    argv_add(&ctx->args, "-q");
    argv_add(&ctx->args, "--temperature");
    argv_add(&ctx->args, "%.17g", e->temperature);
    if (e->downsample != 1) {
        argv_add(&ctx->args, "--downsample");
        argv_add(&ctx->args, "%d", e->downsample);
    }
    for (int i = 0; i < e->n_ignore; i++) {
        argv_add(&ctx->args, "--ignore-index");
        argv_add(&ctx->args, "%d", e->ignore[i]);
    }
    for (; extra && *extra; extra++)
        argv_add(&ctx->args, "%s", *extra);
}

/* ---- reading the report -------------------------------------------------- */

/* A CSV file with a known header and no quoted fields. */
typedef struct Csv {
    char *text;
    char **cells; /* n_rows * n_cols, pointing into text */
    size_t n_rows, n_cols;
} Csv;

static void csv_free(Csv *t)
{
    free(t->text);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

static void csv_load(Csv *t, const char *path, const char *header)
{
    memset(t, 0, sizeof *t);
    t->text = read_file(path, NULL);
    if (!t->text)
        fail_msg("%s: cannot read: %s", path, strerror(errno));
    size_t hl = strlen(header);
    if (strncmp(t->text, header, hl) || t->text[hl] != '\n')
        fail_msg("%s: header is not '%s'", path, header);
    t->n_cols = 1;
    for (const char *h = header; *h; h++)
        t->n_cols += *h == ',';
    size_t lines = 0;
    for (const char *s = t->text + hl + 1; *s; s++)
        lines += *s == '\n';
    t->cells = gs_calloc(lines * t->n_cols, sizeof *t->cells);
    char *s = t->text + hl + 1;
    while (*s) {
        char *eol = strchr(s, '\n');
        if (!eol)
            fail_msg("%s: last line has no newline", path);
        *eol = '\0';
        char **row = t->cells + t->n_rows * t->n_cols;
        size_t col = 0;
        for (char *f = s;; col++) {
            char *comma = strchr(f, ',');
            if (col < t->n_cols)
                row[col] = f;
            if (!comma)
                break;
            *comma = '\0';
            f = comma + 1;
        }
        if (col + 1 != t->n_cols)
            fail_msg("%s: row %zu has %zu fields, expected %zu", path,
                     t->n_rows + 1, col + 1, t->n_cols);
        t->n_rows++;
        s = eol + 1;
    }
}

static const char *csv_cell(const Csv *t, size_t row, size_t col)
{
    return t->cells[row * t->n_cols + col];
}

static uint64_t parse_u64(const char *s, const char *what, GsCheck *c)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-')
        gs_fail(c, "%s: '%s' is not a count", what, s);
    return (uint64_t)v;
}

/* A number, or an empty field: *has = 0. */
static double parse_num(const char *s, int *has, const char *what,
                        GsCheck *c)
{
    *has = *s != '\0';
    if (!*has)
        return NAN;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end)
        gs_fail(c, "%s: '%s' is not a number", what, s);
    return v;
}

/* One image, whichever file it came from; nps_has says whether its
 * num_pixel_issues was present, which must agree with the softmin's. */
static void add_image(GsResult *r, uint64_t row, GsImage im, int nps_has,
                      GsCheck *c)
{
    if (nps_has != im.has_score)
        gs_fail(c, "image %s: softmin %s but num_pixel_issues %s", im.id,
                im.has_score ? "present" : "missing",
                nps_has ? "present" : "missing");
    gs_result_set_ranked(r, row, im, c);
}

/* The images, classes and pairs of the CSV files in dir into r, which
 * already holds N, K and the dataset totals. */
static void read_csvs(const char *dir, GsResult *r, GsCheck *c)
{
    char path[GS_PATH];
    Csv t;
    int has, nps_has;

    gs_path(path, "%s/images.csv", dir);
    csv_load(&t, path, "rank,image,softmin,num_pixel_issues,issue_pixels,"
                       "valid_pixels,index,regions,largest_region,"
                       "mean_self_confidence,"
                       "min_self_confidence,pixel_accuracy,"
                       "class_balanced_accuracy,mean_iou,region_mass,flagged");
    if (t.n_rows != r->N)
        gs_fail(c, "images.csv: %zu rows, expected %llu", t.n_rows,
                GS_ULL(r->N));
    for (size_t i = 0; i < t.n_rows && i < r->N; i++) {
        GsImage im = {
            .rank = parse_u64(csv_cell(&t, i, 0), "images.csv rank", c),
            .id = gs_strdup(csv_cell(&t, i, 1)),
            .softmin = parse_num(csv_cell(&t, i, 2), &has, "softmin", c),
            .num_pixel_issues =
                parse_num(csv_cell(&t, i, 3), &nps_has, "num_pixel_issues", c),
            .issue_pixels = parse_u64(csv_cell(&t, i, 4), "issue_pixels", c),
            .valid_pixels = parse_u64(csv_cell(&t, i, 5), "valid_pixels", c),
            .index = parse_u64(csv_cell(&t, i, 6), "index", c),
        };
        im.has_score = has;
        add_image(r, i, im, nps_has, c);
    }
    csv_free(&t);

    gs_path(path, "%s/classes.csv", dir);
    csv_load(&t, path, "class,name,labeled_pixels,threshold,"
                       "issue_pixels_given,issue_pixels_predicted,"
                       "images_affected");
    if (t.n_rows != r->K)
        gs_fail(c, "classes.csv: %zu rows, expected %llu", t.n_rows,
                GS_ULL(r->K));
    for (size_t k = 0; k < t.n_rows && k < r->K; k++) {
        if (parse_u64(csv_cell(&t, k, 0), "class", c) != k)
            gs_fail(c, "classes.csv row %zu is class %s", k + 1,
                    csv_cell(&t, k, 0));
        r->classes[k] = (GsClass){
            .labeled_pixels =
                parse_u64(csv_cell(&t, k, 2), "labeled_pixels", c),
            .threshold = parse_num(csv_cell(&t, k, 3), &has, "threshold", c),
            .issue_pixels_given =
                parse_u64(csv_cell(&t, k, 4), "issue_pixels_given", c),
            .issue_pixels_predicted =
                parse_u64(csv_cell(&t, k, 5), "issue_pixels_predicted", c),
            .images_affected =
                parse_u64(csv_cell(&t, k, 6), "images_affected", c),
        };
        if (!has)
            gs_fail(c, "classes.csv: class %zu has no threshold", k);
    }
    csv_free(&t);

    gs_path(path, "%s/pairs.csv", dir);
    csv_load(&t, path,
             "given,given_name,predicted,predicted_name,issue_pixels");
    for (size_t j = 0; j < t.n_rows; j++)
        gs_result_add_pair(
            r, (GsPair){
                   (uint32_t)parse_u64(csv_cell(&t, j, 0), "given", c),
                   (uint32_t)parse_u64(csv_cell(&t, j, 2), "predicted", c),
                   parse_u64(csv_cell(&t, j, 4), "issue_pixels", c)});
    csv_free(&t);
}

/* report.json (already parsed) into r. */
static void read_report_json(json_object *root, const char *path,
                             GsResult *r, GsCheck *c)
{
    json_object *ds = gs_jget(root, "dataset", path);
    json_object *shape = gs_jget(ds, "shape", path), *a;
    gs_result_init(r, gs_jkey_u64(shape, "N", path),
                   gs_jkey_u64(shape, "K", path));
    r->H = gs_jkey_u64(shape, "H", path);
    r->W = gs_jkey_u64(shape, "W", path);
    r->dtype = gs_strdup(json_object_get_string(gs_jget(ds, "dtype", path)));
    r->n_issues = gs_jkey_u64(root, "n_issues", path);
    r->issue_pixels = gs_jkey_u64(root, "issue_pixels", path);
    r->valid_pixels = gs_jkey_u64(root, "valid_pixels", path);
    r->images_with_issues = gs_jkey_u64(root, "images_with_issues", path);

    gs_jarray(root, "images", (size_t)r->N, path, &a);
    for (size_t i = 0; i < r->N; i++) {
        json_object *o = json_object_array_get_idx(a, i);
        int nps_has;
        GsImage im = {
            .rank = gs_jkey_u64(o, "rank", path),
            .id = gs_strdup(json_object_get_string(gs_jget(o, "image", path))),
            .index = gs_jkey_u64(o, "index", path),
            .issue_pixels = gs_jkey_u64(o, "issue_pixels", path),
            .valid_pixels = gs_jkey_u64(o, "valid_pixels", path),
        };
        im.softmin = gs_jdouble(gs_jget(o, "softmin", path), &im.has_score,
                                "softmin", path);
        im.num_pixel_issues = gs_jdouble(gs_jget(o, "num_pixel_issues", path),
                                         &nps_has, "num_pixel_issues", path);
        add_image(r, i, im, nps_has, c);
    }
    gs_jarray(root, "classes", (size_t)r->K, path, &a);
    for (size_t k = 0; k < r->K; k++) {
        json_object *o = json_object_array_get_idx(a, k);
        if (gs_jkey_u64(o, "class", path) != k)
            gs_fail(c, "report.json: classes[%zu] is another class", k);
        r->classes[k] = (GsClass){
            .labeled_pixels = gs_jkey_u64(o, "labeled_pixels", path),
            .threshold = gs_jdouble(gs_jget(o, "threshold", path), NULL,
                                    "threshold", path),
            .issue_pixels_given = gs_jkey_u64(o, "issue_pixels_given", path),
            .issue_pixels_predicted =
                gs_jkey_u64(o, "issue_pixels_predicted", path),
            .images_affected = gs_jkey_u64(o, "images_affected", path),
        };
    }
    size_t np = gs_jarray(root, "pairs", SIZE_MAX, path, &a);
    for (size_t j = 0; j < np; j++) {
        json_object *o = json_object_array_get_idx(a, j);
        gs_result_add_pair(r, (GsPair){
                                  (uint32_t)gs_jkey_u64(o, "given", path),
                                  (uint32_t)gs_jkey_u64(o, "predicted", path),
                                  gs_jkey_u64(o, "issue_pixels", path)});
    }
}

/* The parameters that report.json says the run used are those passed. */
static void check_parameters(json_object *root, const GsExpected *e,
                             const char *path, GsCheck *c)
{
    json_object *par = gs_jget(root, "parameters", path), *ig;
    double t = gs_jdouble(gs_jget(par, "temperature", path), NULL,
                          "temperature", path);
    if (t != e->temperature)
        gs_fail(c, "report.json: temperature %.17g, passed %.17g", t,
                e->temperature);
    if (gs_jkey_u64(par, "downsample", path) != (uint64_t)e->downsample)
        gs_fail(c, "report.json: downsample differs from the %d passed",
                e->downsample);
    size_t n = gs_jarray(par, "ignore_index", SIZE_MAX, path, &ig);
    int same = n == (size_t)e->n_ignore;
    for (size_t i = 0; same && i < n; i++)
        same = gs_ju64(json_object_array_get_idx(ig, i), "ignore_index",
                       path) == (uint64_t)e->ignore[i];
    if (!same)
        gs_fail(c, "report.json: ignore_index differs from the values passed");
}

/* out holds the report and the masks, and nothing else (no staging
 * folder, no temporary file). */
static void check_out_listing(const char *out, GsCheck *c)
{
    static const char *const want[] = {"classes.csv", "images.csv",
                                       "masks",       "overlays",
                                       "pairs.csv",   "regions.csv",
                                       "report.html", "report.json"};
    const size_t n_want = sizeof want / sizeof want[0];
    char **names;
    size_t n = gs_list_dir(out, NULL, &names);
    int same = n == n_want;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(names[i], want[i]) == 0;
    if (!same) {
        char got[1024] = "";
        size_t len = 0;
        for (size_t i = 0; i < n && len < sizeof got; i++)
            len += (size_t)snprintf(got + len, sizeof got - len, " %s",
                                    names[i]);
        gs_fail(c, "%s holds:%s; expected only the report and masks/", out,
                got);
    }
    gs_free_strings(names, n);
}

/* report.json's warnings: the "most images disagree with the model"
 * warning is there exactly when more than half of the scored images have
 * a pixel accuracy below 0.5 (as the images list says); the golden cases
 * have ids and probabilities that sum to 1, so there is no other.  The
 * expected stderr of a -q run is then these lines, in this order. */
static void check_warnings(Ctx *ctx, json_object *root, const char *path,
                           GsCheck *c)
{
    json_object *imgs = gs_jget(root, "images", path);
    size_t n = json_object_array_length(imgs), scored = 0, low = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(imgs, i);
        int has = 0;
        double acc = gs_jdouble(gs_jget(o, "pixel_accuracy", path), &has,
                                "pixel_accuracy", path);
        if (!has)
            continue;
        scored++;
        low += acc < 0.5;
    }
    int want = scored && 2 * low > scored;
    json_object *w = gs_jget(root, "warnings", path);
    size_t nw = json_object_array_length(w);
    if (nw != (size_t)want)
        gs_fail(c, "report.json: %zu warnings, expected %d (%zu of %zu "
                "images below 0.5 pixel accuracy)", nw, want, low, scored);
    free(ctx->want_err);
    ctx->want_err = gs_strdup("");
    for (size_t i = 0; i < nw; i++) {
        const char *t = json_object_get_string(json_object_array_get_idx(w, i));
        if (strncmp(t, "in ", 3) != 0 || !strstr(t, "disagree with the model"))
            gs_fail(c, "report.json: unexpected warning: %s", t);
        size_t len = strlen(ctx->want_err) + strlen(t) + 32;
        char *line = gs_calloc(1, len);
        snprintf(line, len, "%ssegaudit: warning: %s\n", ctx->want_err, t);
        free(ctx->want_err);
        ctx->want_err = line;
    }
}

/* Checks the report in out against ctx's expected.json; label names the
 * run in messages.  Returns report.json's "run" threads. */
static int check_report(Ctx *ctx, const char *out, const char *label)
{
    GsCheck c;
    gs_check_init(&c, "%s [%s]", ctx->exp.name, label);
    char path[GS_PATH], masks[GS_PATH];
    gs_path(path, "%s/report.json", out);
    gs_path(masks, "%s/masks", out);

    json_object *root = gs_json_load(path);
    read_report_json(root, path, &ctx->json, &c);
    check_parameters(root, &ctx->exp, path, &c);
    check_warnings(ctx, root, path, &c);
    int threads = json_object_get_int(
        gs_jget(gs_jget(root, "run", path), "threads", path));
    json_object_put(root);

    /* The CSV files carry no dataset totals: take report.json's. */
    GsResult *r = &ctx->csv;
    gs_result_init(r, ctx->json.N, ctx->json.K);
    r->H = ctx->json.H;
    r->W = ctx->json.W;
    r->dtype = gs_strdup(ctx->json.dtype);
    r->n_issues = ctx->json.n_issues;
    r->issue_pixels = ctx->json.issue_pixels;
    r->valid_pixels = ctx->json.valid_pixels;
    r->images_with_issues = ctx->json.images_with_issues;
    read_csvs(out, r, &c);

    gs_result_diff(&ctx->json, &ctx->csv, "report.json", "the CSV files", &c);
    gs_check_expected(&ctx->exp, &ctx->csv, &c);
    gs_check_masks(&ctx->exp, masks, &c);
    check_out_listing(out, &c);
    gs_result_free(&ctx->json);
    gs_result_free(&ctx->csv);
    gs_check_done(&c);
    return threads;
}

/* ---- tests ---------------------------------------------------------------- */

static int ctx_setup(void **state)
{
    Ctx *ctx = gs_calloc(1, sizeof *ctx);
    ctx->case_name = *state;
    if (ctx->case_name)
        gs_expected_load(&ctx->exp, ctx->case_name);
    ctx->tmp = gs_mkdtemp("test_cli_golden_");
    *state = ctx;
    return 0;
}

static int ctx_teardown(void **state)
{
    Ctx *ctx = *state;
    if (ctx->case_name)
        gs_expected_free(&ctx->exp);
    gs_remove_tree(ctx->tmp);
    free(ctx->tmp);
    argv_free(&ctx->args);
    free(ctx->out_text);
    free(ctx->err_text);
    free(ctx->want_err);
    gs_result_free(&ctx->json);
    gs_result_free(&ctx->csv);
    free(ctx);
    return 0;
}

/* One golden case with the default resources. */
static void test_case(void **state)
{
    Ctx *ctx = *state;
    char out[GS_PATH];
    gs_path(out, "%s/out", ctx->tmp);
    audit_args(ctx, out, NULL);
    run_expect(ctx, 0);
    check_report(ctx, out, "default");
    if (ctx->out_text[0] || strcmp(ctx->err_text, ctx->want_err) != 0)
        fail_msg("%s: -q run printed:\n%s%s\n(expected on stderr:\n%s)",
                 ctx->case_name, ctx->out_text, ctx->err_text, ctx->want_err);
}

/* The same report whatever the threads, memory limit and band size. */
typedef struct DetConfig {
    const char *name;
    int threads;
    const char *args[8];
} DetConfig;

static const DetConfig det_configs[] = {
    {"--threads 1", 1, {"--threads", "1", NULL}},
    {"--threads 2", 2, {"--threads", "2", NULL}},
    {"--threads 2 --memory-limit 64K --band-size 1", 2,
     {"--threads", "2", "--memory-limit", "64K", "--band-size", "1", NULL}},
};
#define N_DET (sizeof det_configs / sizeof det_configs[0])

static void check_same_file(const char *a, const char *b, GsCheck *c)
{
    size_t la, lb;
    char *x = read_file(a, &la), *y = read_file(b, &lb);
    if (!x || !y)
        gs_fail(c, "cannot read %s or %s", a, b);
    else if (la != lb || memcmp(x, y, la))
        gs_fail(c, "%s and %s differ", a, b);
    free(x);
    free(y);
}

/* report.json without its "run" object, re-serialised (malloc'd). */
static char *report_without_run(const char *path)
{
    json_object *root = gs_json_load(path);
    json_object_object_del(root, "run");
    char *s = gs_strdup(
        json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
    return s;
}

/* Compares the report in out with the one in ref, byte for byte. */
static void check_same_report(const char *ref, const char *out, GsCheck *c)
{
    static const char *const files[] = {"images.csv", "classes.csv",
                                        "pairs.csv", "regions.csv"};
    char a[GS_PATH], b[GS_PATH];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        gs_path(a, "%s/%s", ref, files[i]);
        gs_path(b, "%s/%s", out, files[i]);
        check_same_file(a, b, c);
    }

    gs_path(a, "%s/report.json", ref);
    gs_path(b, "%s/report.json", out);
    char *ja = report_without_run(a), *jb = report_without_run(b);
    if (strcmp(ja, jb))
        gs_fail(c, "%s and %s differ outside \"run\"", a, b);
    free(ja);
    free(jb);

    char **na, **nb;
    gs_path(a, "%s/masks", ref);
    gs_path(b, "%s/masks", out);
    size_t n = gs_list_dir(a, NULL, &na), m = gs_list_dir(b, NULL, &nb);
    if (n != m)
        gs_fail(c, "%s holds %zu files, %s %zu", a, n, b, m);
    for (size_t i = 0; i < n && i < m; i++) {
        if (strcmp(na[i], nb[i])) {
            gs_fail(c, "mask files differ: %s/%s, %s/%s", a, na[i], b, nb[i]);
            continue;
        }
        char fa[GS_PATH], fb[GS_PATH];
        gs_path(fa, "%s/%s", a, na[i]);
        gs_path(fb, "%s/%s", b, nb[i]);
        check_same_file(fa, fb, c);
    }
    gs_free_strings(na, n);
    gs_free_strings(nb, m);
}

static void test_determinism(void **state)
{
    Ctx *ctx = *state;
    char outs[N_DET][GS_PATH];
    for (size_t i = 0; i < N_DET; i++) {
        gs_path(outs[i], "%s/out%zu", ctx->tmp, i);
        audit_args(ctx, outs[i], det_configs[i].args);
        run_expect(ctx, 0);
        int threads = check_report(ctx, outs[i], det_configs[i].name);
        if (threads != det_configs[i].threads)
            fail_msg("%s [%s]: report.json says %d threads were used",
                     ctx->case_name, det_configs[i].name, threads);
    }
    GsCheck c;
    gs_check_init(&c, "%s: determinism", ctx->case_name);
    for (size_t i = 1; i < N_DET; i++)
        check_same_report(outs[0], outs[i], &c);
    gs_check_done(&c);
}

static void test_version(void **state)
{
    Ctx *ctx = *state;
    argv_add(&ctx->args, "%s", g_bin);
    argv_add(&ctx->args, "--version");
    run_expect(ctx, 0);
    const char *want = "segaudit " SEGAUDIT_VERSION_STRING "\n";
    if (strcmp(ctx->out_text, want))
        fail_msg("--version printed '%s', expected '%s'", ctx->out_text, want);
}

static void test_audit_help(void **state)
{
    Ctx *ctx = *state;
    argv_add(&ctx->args, "%s", g_bin);
    argv_add(&ctx->args, "audit");
    argv_add(&ctx->args, "--help");
    run_expect(ctx, 0);
    if (!strstr(ctx->out_text, "--labels") || !strstr(ctx->out_text, "--out"))
        fail_msg("audit --help printed no usage on stdout:\n%s",
                 ctx->out_text);
}

static void test_no_arguments(void **state)
{
    Ctx *ctx = *state;
    argv_add(&ctx->args, "%s", g_bin);
    run_expect(ctx, 2);
}

/* A run that fails (missing probabilities file) exits 1, says which file,
 * and leaves no report and no staging folder, whether --out existed or
 * not (a folder it created is removed again). */
static void test_failed_run(void **state)
{
    Ctx *ctx = *state;
    for (int existed = 0; existed < 2; existed++) {
        char out[GS_PATH], path[GS_PATH];
        gs_path(out, "%s/out%d", ctx->tmp, existed);
        if (existed)
            assert_int_equal(mkdir(out, 0777), 0);
        argv_free(&ctx->args);
        argv_add(&ctx->args, "%s", g_bin);
        argv_add(&ctx->args, "audit");
        argv_add(&ctx->args, "--labels");
        argv_add(&ctx->args, "%s/three_image/labels", GS_GOLDEN_DIR);
        argv_add(&ctx->args, "--probs");
        argv_add(&ctx->args, "%s/missing.h5", ctx->tmp);
        argv_add(&ctx->args, "--out");
        argv_add(&ctx->args, "%s", out);
        argv_add(&ctx->args, "--masks");
        argv_add(&ctx->args, "-q");
        run_expect(ctx, 1);
        if (!strstr(ctx->err_text, "missing.h5"))
            fail_msg("`%s`: the message does not name the file:\n%s",
                     argv_str(&ctx->args), ctx->err_text);
        gs_path(path, "%s/images.csv", out);
        if (gs_exists(path))
            fail_msg("`%s` left %s", argv_str(&ctx->args), path);
        if (!existed) {
            if (gs_exists(out))
                fail_msg("`%s` left the folder %s it created",
                         argv_str(&ctx->args), out);
            continue;
        }
        char **names;
        size_t n = gs_list_dir(out, NULL, &names);
        char first[GS_PATH] = "";
        if (n)
            snprintf(first, sizeof first, "%s", names[0]);
        gs_free_strings(names, n);
        if (n)
            fail_msg("`%s` left %zu entries in %s, e.g. %s",
                     argv_str(&ctx->args), n, out, first);
    }
}

static char **g_cases;
static size_t g_n_cases;

static void test_enough_cases(void **state)
{
    (void)state;
    if (g_n_cases < GS_MIN_CASES)
        fail_msg("found %zu golden cases in %s/, expected at least %d",
                 g_n_cases, GS_GOLDEN_DIR, GS_MIN_CASES);
}

/* The larger cases that the determinism test runs. */
static const char *const det_cases[] = {"scenes_k19", "downsample4"};
#define N_DET_CASES (sizeof det_cases / sizeof det_cases[0])

static struct CMUnitTest ctx_test(const char *name, CMUnitTestFunction f,
                                  const char *case_name)
{
    return (struct CMUnitTest){
        .name = name,
        .test_func = f,
        .setup_func = ctx_setup,
        .teardown_func = ctx_teardown,
        .initial_state = (void *)case_name,
    };
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-OF-SEGAUDIT\n", argv[0]);
        return 2;
    }
    g_bin = argv[1];
    g_n_cases = gs_list_cases(&g_cases);

    size_t n = 0, cap = g_n_cases + N_DET_CASES + 8;
    struct CMUnitTest *tests = gs_calloc(cap, sizeof *tests);
    char det_names[N_DET_CASES][96];
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_enough_cases);
    for (size_t i = 0; i < g_n_cases; i++)
        tests[n++] = ctx_test(g_cases[i], test_case, g_cases[i]);
    for (size_t i = 0; i < N_DET_CASES; i++) {
        snprintf(det_names[i], sizeof det_names[i], "determinism %s",
                 det_cases[i]);
        tests[n++] = ctx_test(det_names[i], test_determinism, det_cases[i]);
    }
    tests[n++] = ctx_test("version", test_version, NULL);
    tests[n++] = ctx_test("audit --help", test_audit_help, NULL);
    tests[n++] = ctx_test("no arguments", test_no_arguments, NULL);
    tests[n++] = ctx_test("failed run", test_failed_run, NULL);
    assert_true(n <= cap);

    int failed = _cmocka_run_group_tests("cli golden", tests, n, NULL, NULL);
    free(tests);
    gs_free_strings(g_cases, g_n_cases);
    return failed;
}
