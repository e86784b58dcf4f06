/* Radix select over record stores.  See select.h. */
#include "engine/select.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/zalloc.h"

#define DIGITS 8
#define RADIX SA_SELECT_RADIX

/* Digit d (0 = most significant) of a key. */
static unsigned digit(SaKey k, int d)
{
    uint64_t w = d < 4 ? k.hi : k.lo;
    int shift = 48 - 16 * (d & 3);
    return (unsigned)(w >> shift) & 0xffffu;
}

/* Does k agree with the prefix on its first d digits? */
static int has_prefix(SaKey k, SaKey prefix, int d)
{
    for (int i = 0; i < d; i++)
        if (digit(k, i) != digit(prefix, i))
            return 0;
    return 1;
}

/* The rank-th smallest (1-based) of the n distinct keys in a[], whose
 * first d digits are all equal: the same radix steps as over the stores,
 * in memory, each keeping only the bucket that holds the rank (moved to
 * the front of a[]).  At most DIGITS passes of O(n): no sort. */
static SaKey select_in_memory(SaKey *a, uint64_t n, uint64_t rank, int d,
                              uint64_t *hist)
{
    while (n > 1 && d < DIGITS) {
        memset(hist, 0, RADIX * sizeof *hist);
        for (uint64_t i = 0; i < n; i++)
            hist[digit(a[i], d)]++;
        unsigned v = 0;
        while (rank > hist[v]) {
            rank -= hist[v];
            v++;
        }
        uint64_t m = 0;
        for (uint64_t i = 0; i < n; i++)
            if (digit(a[i], d) == v)
                a[m++] = a[i];
        n = m;
        d++;
    }
    return a[rank - 1];
}

/* Calls fn(key, ctx[t]) for every kept record of every store, on
 * `threads` threads, thread t reading part t of each store: what fn adds
 * up must not depend on the order (counts, histograms, a set of keys). */
typedef void (*KeyFn)(SaKey k, void *ctx);

typedef struct Scan {
    const SaRecStore *const *stores;
    int n;
    SaRecFilter keep;
    const void *keep_ctx;
    const volatile int *cancel;
    int threads;
} Scan;

typedef struct ScanRun {
    const Scan *sc;
    KeyFn fn;
    void *const *ctx;
} ScanRun;

static int scan_part(void *p, int part, int parts, SaErr *err)
{
    const ScanRun *run = p;
    const Scan *sc = run->sc;
    for (int i = 0; i < sc->n; i++) {
        SaRecReader rd;
        int rc = sa_recreader_open_part(&rd, sc->stores[i], part, parts, err);
        if (rc)
            return rc;
        SaRecCursor cur = {&rd, NULL, 0, 0};
        const SaRecord *r;
        uint64_t seen = 0;
        while ((r = sa_reccursor_next(&cur, err)) != NULL) {
            if ((++seen & 0xfffff) == 0 && sc->cancel && *sc->cancel) {
                sa_recreader_close(&rd);
                return sa_err(err, SEGAUDIT_ECANCEL, "cancelled");
            }
            if (!sc->keep || sc->keep(r, sc->keep_ctx))
                run->fn(sa_record_key(r), run->ctx[part]);
        }
        sa_recreader_close(&rd);
        if (err->code)
            return err->code;
    }
    return 0;
}

static int scan(const Scan *sc, KeyFn fn, void *const *ctx, SaErr *err)
{
    ScanRun run = {sc, fn, ctx};
    return sa_run_parts(sc->threads, scan_part, &run, err);
}

static void count_fn(SaKey k, void *ctx)
{
    (void)k;
    ++*(uint64_t *)ctx;
}

typedef struct HistCtx {
    uint64_t *hist;
    SaKey prefix;
    int depth;
} HistCtx;

static void hist_fn(SaKey k, void *ctx)
{
    HistCtx *h = ctx;
    if (has_prefix(k, h->prefix, h->depth))
        h->hist[digit(k, h->depth)]++;
}

/* The keys with a prefix, from every thread into one array (their order
 * does not matter: the selection in memory does not depend on it).  Each
 * thread takes slots a block at a time, so that the threads share one
 * counter per block rather than per key; the slots a thread took and did
 * not fill are closed up afterwards. */
#define COLLECT_BLOCK 4096

typedef struct CollectCtx {
    SaKey *keys;
    uint64_t cap;          /* slots in keys */
    _Atomic uint64_t n;    /* slots handed out */
    SaKey prefix;
    int depth;
} CollectCtx;

typedef struct CollectSlots {
    CollectCtx *c;
    uint64_t next, end;    /* this thread's block: [next, end) */
} CollectSlots;

static void collect_fn(SaKey k, void *ctx)
{
    CollectSlots *t = ctx;
    CollectCtx *c = t->c;
    if (!has_prefix(k, c->prefix, c->depth))
        return;
    if (t->next == t->end) {
        t->next = atomic_fetch_add_explicit(&c->n, COLLECT_BLOCK,
                                            memory_order_relaxed);
        t->end = t->next + COLLECT_BLOCK;
        if (t->end > c->cap)
            t->end = c->cap;
        if (t->next >= t->end) {
            t->next = t->end; /* more keys than counted: never happens */
            return;
        }
    }
    c->keys[t->next++] = k;
}

/* The kept records (count_fn on every thread, added up). */
static int count_kept(const Scan *sc, uint64_t *total, SaErr *err)
{
    const int T = sc->threads;
    uint64_t *counts = calloc((size_t)T, sizeof *counts);
    void **ctx = malloc((size_t)T * sizeof *ctx);
    int rc = 0;
    if (!counts || !ctx)
        rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    for (int t = 0; rc == 0 && t < T; t++)
        ctx[t] = &counts[t];
    if (rc == 0)
        rc = scan(sc, count_fn, ctx, err);
    *total = 0;
    for (int t = 0; rc == 0 && t < T; t++)
        *total += counts[t];
    free(counts);
    free(ctx);
    return rc;
}

/* hist[RADIX] (zeroed) of digit `depth` of the kept keys with the
 * prefix: one histogram per thread, added up. */
static int histogram(const Scan *sc, SaKey prefix, int depth, uint64_t *hist,
                     SaErr *err)
{
    const int T = sc->threads;
    uint64_t *more =
        T > 1 ? sa_zalloc((size_t)(T - 1) * RADIX, sizeof *more) : NULL;
    HistCtx *h = malloc((size_t)T * sizeof *h);
    void **ctx = malloc((size_t)T * sizeof *ctx);
    int rc = 0;
    if ((T > 1 && !more) || !h || !ctx)
        rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    for (int t = 0; rc == 0 && t < T; t++) {
        h[t].hist = t == 0 ? hist : more + (size_t)(t - 1) * RADIX;
        h[t].prefix = prefix;
        h[t].depth = depth;
        ctx[t] = &h[t];
    }
    if (rc == 0)
        rc = scan(sc, hist_fn, ctx, err);
    for (int t = 1; rc == 0 && t < T; t++)
        for (unsigned d = 0; d < RADIX; d++)
            hist[d] += more[(size_t)(t - 1) * RADIX + d];
    free(more);
    free(h);
    free(ctx);
    return rc;
}

/* The kept keys with c's prefix into c->keys, from every thread; their
 * number. */
static int collect(const Scan *sc, CollectCtx *c, uint64_t *nkeys, SaErr *err)
{
    const int T = sc->threads;
    CollectSlots *slots = calloc((size_t)T, sizeof *slots);
    void **ctx = malloc((size_t)T * sizeof *ctx);
    int rc = 0;
    if (!slots || !ctx)
        rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    for (int t = 0; rc == 0 && t < T; t++) {
        slots[t].c = c;
        ctx[t] = &slots[t];
    }
    if (rc == 0)
        rc = scan(sc, collect_fn, ctx, err);
    uint64_t n = atomic_load(&c->n);
    if (n > c->cap)
        n = c->cap;
    if (rc == 0) {
        /* the blocks' unfilled ends, marked and closed up */
        const SaKey hole = {UINT64_MAX, UINT64_MAX}; /* s <= 1: no key */
        for (int t = 0; t < T; t++)
            for (uint64_t i = slots[t].next; i < slots[t].end; i++)
                c->keys[i] = hole;
        uint64_t m = 0;
        for (uint64_t i = 0; i < n; i++)
            if (c->keys[i].hi != UINT64_MAX)
                c->keys[m++] = c->keys[i];
        n = m;
    }
    *nkeys = n;
    free(slots);
    free(ctx);
    return rc;
}

static void set_digit(SaKey *k, int d, unsigned v)
{
    uint64_t *w = d < 4 ? &k->hi : &k->lo;
    int shift = 48 - 16 * (d & 3);
    *w = (*w & ~((uint64_t)0xffff << shift)) | ((uint64_t)v << shift);
}

int sa_select_kth(const SaRecStore *const *stores, int n, uint64_t k,
                  uint64_t mem_budget, SaKey *out, int *passes, SaErr *err)
{
    return sa_select_kth_group(NULL, stores, n, NULL, NULL, NULL, k,
                               mem_budget, NULL, 1, out, passes, err);
}

/* Keeps the bucket of hist that holds *rank: its digit goes into the
 * prefix at depth, *rank becomes the rank within it; its size. */
static uint64_t keep_bucket(const uint64_t *hist, SaKey *prefix, int depth,
                            uint64_t *rank)
{
    unsigned d = 0;
    while (*rank > hist[d]) {
        *rank -= hist[d];
        d++;
    }
    set_digit(prefix, depth, d);
    return hist[d];
}

int sa_select_kth_gathered(const uint64_t *first_hist, uint64_t k,
                           SaKey *keys, uint64_t nkeys, unsigned lo,
                           unsigned hi, SaKey *out, SaErr *err)
{
    uint64_t total = 0;
    for (unsigned d = 0; d < RADIX; d++)
        total += first_hist[d];
    if (k == 0 || k > total)
        return 0;
    SaKey prefix = {0, 0};
    uint64_t rank = k;
    uint64_t count = keep_bucket(first_hist, &prefix, 0, &rank);
    unsigned d = digit(prefix, 0);
    if (d < lo || d > hi)
        return 0;
    uint64_t m = 0;
    for (uint64_t i = 0; i < nkeys; i++)
        if (digit(keys[i], 0) == d)
            keys[m++] = keys[i];
    if (m != count)
        return 0; /* not every key of the bucket: never happens */
    uint64_t *hist = malloc(RADIX * sizeof *hist);
    if (!hist)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    *out = select_in_memory(keys, m, rank, 1, hist);
    free(hist);
    return 1;
}

/* Every step that a group shares passes this member's status on, so that
 * a member that failed still takes part and every member stops at the
 * same step. */
int sa_select_kth_group(const SaSelectGroup *g,
                        const SaRecStore *const *stores, int n,
                        SaRecFilter keep, const void *keep_ctx,
                        const uint64_t *first_hist, uint64_t k,
                        uint64_t mem_budget, const volatile int *cancel,
                        int threads, SaKey *out, int *passes, SaErr *err)
{
    Scan sc = {stores, n, keep, keep_ctx, cancel, threads > 1 ? threads : 1};
    uint64_t total = 0;
    int rc = 0;
    *passes = 0;
    uint64_t *hist = malloc(RADIX * sizeof *hist);
    if (!hist)
        rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    if (rc == 0 && keep) {
        rc = count_kept(&sc, &total, err);
        ++*passes;
    } else if (rc == 0) {
        for (int i = 0; i < n; i++)
            total += stores[i]->count;
    }
    if (g)
        rc = g->sum(g->ctx, &total, 1, rc);
    if (rc)
        goto done;
    if (k == 0 || k > total) {
        rc = sa_err(err, SEGAUDIT_EINVAL, "internal: select rank %llu of %llu",
                    (unsigned long long)k, (unsigned long long)total);
        goto done;
    }
    uint64_t budget = g ? g->budget : mem_budget / sizeof(SaKey);
    if (!g && budget < 65536)
        budget = 65536;

    SaKey prefix = {0, 0};
    uint64_t count = total; /* records matching the prefix */
    uint64_t rank = k;      /* rank within them */
    int depth = 0;

    if (first_hist) {
        /* the first digits' histogram came with the records' count: only
         * the bucket that holds the rank is read again, whatever the
         * budget */
        memcpy(hist, first_hist, RADIX * sizeof *hist);
        if (g && (rc = g->sum(g->ctx, hist, RADIX, rc)) != 0)
            goto done;
        count = keep_bucket(hist, &prefix, depth++, &rank);
    }
    while (depth < DIGITS && count > budget) {
        memset(hist, 0, RADIX * sizeof *hist);
        rc = histogram(&sc, prefix, depth, hist, err);
        ++*passes;
        if (g)
            rc = g->sum(g->ctx, hist, RADIX, rc);
        if (rc)
            goto done;
        count = keep_bucket(hist, &prefix, depth++, &rank);
    }
    if (depth == DIGITS) {
        *out = prefix;
        goto done;
    }
    /* room for every key and for each thread's last block */
    CollectCtx c;
    c.cap = count + (uint64_t)sc.threads * COLLECT_BLOCK;
    c.keys = malloc((size_t)c.cap * sizeof(SaKey));
    atomic_init(&c.n, 0);
    c.prefix = prefix;
    c.depth = depth;
    uint64_t nkeys = 0;
    if (!c.keys)
        rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    if (rc == 0) {
        rc = collect(&sc, &c, &nkeys, err);
        ++*passes;
    }
    SaKey *keys = c.keys;
    if (g) {
        SaKey *all = NULL;
        uint64_t nall = 0;
        rc = g->share(g->ctx, keys, nkeys, &all, &nall, rc);
        free(keys);
        keys = all;
        nkeys = nall;
    }
    if (rc == 0)
        *out = select_in_memory(keys, nkeys, rank, depth, hist);
    free(keys);
done:
    free(hist);
    return rc;
}
