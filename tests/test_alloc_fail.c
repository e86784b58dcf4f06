/* Allocation failure: for N = 1, 2, ... the N-th allocation made by the
 * library fails, during a whole small audit (pass 1, pass 2, regions,
 * masks, overlays, every report file).  Every run must either fail with a
 * message, or (once N is past the last allocation) succeed; never crash,
 * and free everything it allocated.
 *
 * The library is linked with -Wl,--wrap for malloc, calloc, realloc,
 * aligned_alloc and free, so only its own calls are counted and failed;
 * the allocations inside HDF5, libpng, json-c, libgomp and libc are not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "segaudit/segaudit.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
void __wrap_free(void *p);

/* The countdown: the allocation that makes it reach 0 fails. */
static long countdown = -1;
static long calls;
/* Live allocations of the library, to find leaks (an open-addressing set;
 * the audit of the test data makes far fewer). */
#define LIVE_CAP (1 << 16)
static void *live[LIVE_CAP];
static long n_live;

static size_t slot(void *p)
{
    return ((uintptr_t)p >> 4) * 2654435761u % LIVE_CAP;
}

static void live_add(void *p)
{
    if (!p)
        return;
    size_t i = slot(p);
    while (live[i] && live[i] != (void *)1)
        i = (i + 1) % LIVE_CAP;
    live[i] = p;
    n_live++;
}

static int live_del(void *p)
{
    if (!p)
        return 0;
    size_t i = slot(p);
    while (live[i]) {
        if (live[i] == p) {
            live[i] = (void *)1; /* tombstone */
            n_live--;
            return 1;
        }
        i = (i + 1) % LIVE_CAP;
    }
    return 0;
}

/* The workers allocate too: one lock around the bookkeeping. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int fail_now(void)
{
    calls++;
    return countdown > 0 && --countdown == 0;
}

void *__wrap_malloc(size_t n)
{
    pthread_mutex_lock(&lock);
    void *p = fail_now() ? NULL : __real_malloc(n);
    live_add(p);
    pthread_mutex_unlock(&lock);
    return p;
}

void *__wrap_calloc(size_t n, size_t m)
{
    pthread_mutex_lock(&lock);
    void *p = fail_now() ? NULL : __real_calloc(n, m);
    live_add(p);
    pthread_mutex_unlock(&lock);
    return p;
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
    pthread_mutex_lock(&lock);
    void *p = fail_now() ? NULL : __real_aligned_alloc(a, n);
    live_add(p);
    pthread_mutex_unlock(&lock);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    pthread_mutex_lock(&lock);
    void *q = NULL;
    if (!fail_now()) { /* on failure p stays valid, as realloc promises */
        live_del(p);
        q = __real_realloc(p, n);
        live_add(q ? q : p);
    }
    pthread_mutex_unlock(&lock);
    return q;
}

void __wrap_free(void *p)
{
    pthread_mutex_lock(&lock);
    live_del(p);
    pthread_mutex_unlock(&lock);
    __real_free(p);
}

static char tmpdir[] = "/tmp/test_alloc_fail_XXXXXX";

/* The dataset of the run: 0 = void_255 (ignored labels, spilling),
 * 1 = downsample4 (blocks and their details). */
static int which;
/* With a cache folder: "" = none. */
static char cache_dir[512];

/* One audit with reports; returns 0 or the first error code. */
static int audit_once(const char *out, char *msg, size_t msglen)
{
    SegauditSettings s;
    segaudit_default_settings(&s);
    if (which == 0) {
        s.labels_dir = "golden/void_255/labels";
        s.probs_path = "golden/void_255/probs.h5";
        s.ignore_index[0] = 255;
        s.n_ignore = 1;
    } else {
        s.labels_dir = "golden/downsample4/labels";
        s.probs_path = "golden/downsample4/probs.h5";
        s.downsample = 4;
    }
    s.n_threads = 2;
    s.memory_limit = 65536; /* spill, to cover the scratch file */
    s.band_bytes = 1;
    char masks[512], overlays[512];
    snprintf(masks, sizeof masks, "%s/masks", out);
    snprintf(overlays, sizeof overlays, "%s/overlays", out);
    s.masks_dir = masks;
    s.overlays_dir = overlays;
    if (cache_dir[0])
        s.cache_dir = cache_dir;
    msg[0] = '\0';
    SegauditAudit *a = segaudit_audit_new();
    if (!a) {
        snprintf(msg, msglen, "out of memory");
        return SEGAUDIT_ENOMEM;
    }
    int rc = segaudit_audit_run(a, &s);
    if (rc)
        snprintf(msg, msglen, "%s", segaudit_audit_error(a));
    if (rc == 0)
        rc = segaudit_report_write(a, out, msg, msglen);
    if (rc == 0)
        rc = segaudit_report_write_html(a, out, "overlays", msg, msglen);
    segaudit_audit_free(a);
    return rc;
}

/* cache: 0 none; 1 an empty cache for every run; 2 the cache of the clean
 * run, full.  With a cache some allocations are only for keeping results
 * (an overlay, an argmax map): a run may then succeed without them. */
static void every_allocation_fails_once(int dataset, int cache)
{
    char out[512], msg[1024];
    which = dataset;
    cache_dir[0] = '\0';
    if (cache)
        snprintf(cache_dir, sizeof cache_dir, "%s/cache%d_%d", tmpdir,
                 dataset, cache);
    snprintf(out, sizeof out, "%s/ok%d_%d", tmpdir, dataset, cache);
    assert_int_equal(mkdir(out, 0777), 0);

    /* a clean run counts the allocations */
    countdown = -1;
    calls = 0;
    long before = n_live;
    assert_int_equal(audit_once(out, msg, sizeof msg), 0);
    long total = calls;
    assert_true(total > 50);
    assert_int_equal(n_live, before);

    long failed = 0;
    if (cache == 2) {
        /* count the allocations of a run on the full cache */
        snprintf(out, sizeof out, "%s/ok%d_again", tmpdir, dataset);
        assert_int_equal(mkdir(out, 0777), 0);
        calls = 0;
        assert_int_equal(audit_once(out, msg, sizeof msg), 0);
        total = calls;
    }
    long absorbed = 0;
    for (long n = 1; n <= total; n++) {
        snprintf(out, sizeof out, "%s/run%d_%d_%ld", tmpdir, dataset, cache,
                 n);
        assert_int_equal(mkdir(out, 0777), 0);
        if (cache == 1)
            snprintf(cache_dir, sizeof cache_dir, "%s/cache%d_1_%ld",
                     tmpdir, dataset, n);
        before = n_live;
        countdown = n;
        int rc = audit_once(out, msg, sizeof msg);
        int hit = countdown == 0;
        countdown = -1;
        if (hit && rc == 0 && cache) {
            absorbed++;
        } else if (hit) {
            if (rc == 0)
                fail_msg("allocation %ld of %ld failed, yet the audit "
                         "succeeded", n, total);
            if (!msg[0])
                fail_msg("allocation %ld failed without a message", n);
            failed++;
        } else if (rc != 0) {
            fail_msg("run %ld failed without an allocation failure: %s", n,
                     msg);
        }
        if (n_live != before)
            fail_msg("allocation %ld of %ld failed: %ld blocks leaked (%s)",
                     n, total, n_live - before, msg);
    }
    printf("%ld allocations, each failed once: every run stopped with an "
           "error and freed everything", failed);
    if (cache)
        printf(" (%ld more, of what only the cache keeps, were done "
               "without)", absorbed);
    printf("\n");
}

static void test_ignored_labels_and_spilling(void **state)
{
    (void)state;
    every_allocation_fails_once(0, 0);
}

static void test_downsampling(void **state)
{
    (void)state;
    every_allocation_fails_once(1, 0);
}

static void test_empty_cache(void **state)
{
    (void)state;
    every_allocation_fails_once(0, 1);
}

static void test_full_cache(void **state)
{
    (void)state;
    every_allocation_fails_once(1, 2);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ignored_labels_and_spilling),
        cmocka_unit_test(test_downsampling),
        cmocka_unit_test(test_empty_cache),
        cmocka_unit_test(test_full_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
