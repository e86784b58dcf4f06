/* The golden cases through the public API (tests/golden/README.md).
 *
 * Every folder of golden/ with an expected.json is one test, so a new case
 * is picked up without editing this file.  Each case is audited three
 * times: with 1 thread, with 2 threads, and with 2 threads, the smallest
 * memory limit and 1-byte bands (one block-row per band, records spilled
 * to scratch).  Each run must match expected.json and the expected masks
 * at the README's tolerances, and the three runs must agree exactly.
 * Run with the working directory tests/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "golden_support.h"
#include "segaudit/segaudit.h"

typedef struct RunConfig {
    const char *name;
    int n_threads;
    uint64_t memory_limit; /* 0: the default */
    uint64_t band_bytes;   /* 0: the default */
} RunConfig;

static const RunConfig configs[] = {
    {"threads 1", 1, 0, 0},
    {"threads 2", 2, 0, 0},
    {"threads 2, memory_limit 64K, band_bytes 1", 2, 65536, 1},
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

/* The state of one case's test; freed by teardown even after a failure. */
typedef struct CaseCtx {
    GsExpected exp;
    char *tmp;                    /* mkdtemp folder: one masks folder a run */
    SegauditAudit *audit;         /* the run in progress */
    GsResult res[N_CONFIGS];
} CaseCtx;

static int case_setup(void **state)
{
    CaseCtx *ctx = gs_calloc(1, sizeof *ctx);
    gs_expected_load(&ctx->exp, (const char *)*state);
    ctx->tmp = gs_mkdtemp("test_golden_");
    *state = ctx;
    return 0;
}

static int case_teardown(void **state)
{
    CaseCtx *ctx = *state;
    segaudit_audit_free(ctx->audit);
    for (size_t i = 0; i < N_CONFIGS; i++)
        gs_result_free(&ctx->res[i]);
    gs_remove_tree(ctx->tmp);
    free(ctx->tmp);
    gs_expected_free(&ctx->exp);
    free(ctx);
    return 0;
}

/* Audits the case with configuration cfg, writing masks to masks_dir. */
static void run_audit(CaseCtx *ctx, const RunConfig *cfg,
                      const char *masks_dir, GsResult *out)
{
    const GsExpected *e = &ctx->exp;
    char labels[GS_PATH], probs[GS_PATH];
    gs_path(labels, "%s/%s/labels", GS_GOLDEN_DIR, e->name);
    gs_path(probs, "%s/%s/probs.h5", GS_GOLDEN_DIR, e->name);

    SegauditSettings s;
    segaudit_default_settings(&s);
    s.labels_dir = labels;
    s.probs_path = probs;
    s.temperature = e->temperature;
    s.downsample = e->downsample;
    s.n_ignore = e->n_ignore;
    memcpy(s.ignore_index, e->ignore, sizeof e->ignore);
    s.masks_dir = masks_dir;
    s.n_threads = cfg->n_threads;
    if (cfg->memory_limit)
        s.memory_limit = cfg->memory_limit;
    if (cfg->band_bytes)
        s.band_bytes = cfg->band_bytes;

    ctx->audit = segaudit_audit_new();
    assert_non_null(ctx->audit);
    int rc = segaudit_audit_run(ctx->audit, &s);
    if (rc != 0)
        fail_msg("%s [%s]: segaudit_audit_run returned %d (%s): %s", e->name,
                 cfg->name, rc, segaudit_strerror(rc),
                 segaudit_audit_error(ctx->audit));
    gs_collect(ctx->audit, out);
    segaudit_audit_free(ctx->audit);
    ctx->audit = NULL;
}

static void test_case(void **state)
{
    CaseCtx *ctx = *state;
    GsCheck c;
    for (size_t i = 0; i < N_CONFIGS; i++) {
        char masks[GS_PATH];
        gs_path(masks, "%s/masks%zu", ctx->tmp, i);
        assert_int_equal(mkdir(masks, 0777), 0);
        run_audit(ctx, &configs[i], masks, &ctx->res[i]);

        gs_check_init(&c, "%s [%s]", ctx->exp.name, configs[i].name);
        gs_check_expected(&ctx->exp, &ctx->res[i], &c);
        gs_check_masks(&ctx->exp, masks, &c);
        if (i > 0)
            gs_result_diff(&ctx->res[0], &ctx->res[i], configs[0].name,
                           configs[i].name, &c);
        gs_check_done(&c);
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

int main(void)
{
    g_n_cases = gs_list_cases(&g_cases);
    struct CMUnitTest *tests = gs_calloc(g_n_cases + 1, sizeof *tests);
    tests[0] = (struct CMUnitTest)cmocka_unit_test(test_enough_cases);
    for (size_t i = 0; i < g_n_cases; i++)
        tests[i + 1] = (struct CMUnitTest){
            .name = g_cases[i],
            .test_func = test_case,
            .setup_func = case_setup,
            .teardown_func = case_teardown,
            .initial_state = g_cases[i],
        };
    int failed = _cmocka_run_group_tests("golden", tests, g_n_cases + 1, NULL,
                                         NULL);
    free(tests);
    gs_free_strings(g_cases, g_n_cases);
    return failed;
}
