/* Exact selection of the k-th smallest record in the total order
 * (s, image, pixel) over record stores that may live on disk: a radix
 * select on the 128-bit key, 16 bits per pass, that reads the stores until
 * the remaining candidates fit in a budget and finishes in memory with the
 * same radix steps (linear, no sort). */
#ifndef SA_SELECT_H
#define SA_SELECT_H

#include <stdint.h>

#include "common/error.h"
#include "kernel/kernels.h"
#include "engine/records.h"

/* Keys are selected 16 bits at a time. */
#define SA_SELECT_RADIX 65536u

typedef struct SaKey {
    uint64_t hi; /* bits of s (s >= 0, so the bits order like the values) */
    uint64_t lo; /* image << 32 | pixel */
} SaKey;

static inline SaKey sa_record_key(const SaRecord *r)
{
    SaKey k;
    double s = r->s + 0.0; /* -0.0 orders as 0.0 */
    union { double d; uint64_t u; } u = {s};
    k.hi = s == 0.0 ? 0 : u.u;
    k.lo = (uint64_t)r->image << 32 | r->pixel;
    return k;
}

static inline int sa_key_cmp(SaKey a, SaKey b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo)
        return a.lo < b.lo ? -1 : 1;
    return 0;
}

/* Sets *out to the key of the k-th smallest record (1 <= k <= total
 * records) of the n stores.  mem_budget bounds the bytes used for the
 * final in-memory selection.  *passes receives the number of reads made. */
int sa_select_kth(const SaRecStore *const *stores, int n, uint64_t k,
                  uint64_t mem_budget, SaKey *out, int *passes, SaErr *err);

/* Which records take part in a selection. */
typedef int (*SaRecFilter)(const SaRecord *r, const void *ctx);

/* The members of a group each hold some of the records (dist.c): the
 * counts and digit histograms are summed over them, and the last keys
 * (at most budget, the same on every member) shared, so that every member
 * finds the same key. */
typedef struct SaSelectGroup {
    void *ctx;
    /* v[0..n) summed over the members; rc is this member's status, the
     * result the agreed one (0: v is valid) */
    int (*sum)(void *ctx, uint64_t *v, size_t n, int rc);
    /* every member's keys (n each) into *all (malloc'd, *total of them) */
    int (*share)(void *ctx, const SaKey *mine, uint64_t n, SaKey **all,
                 uint64_t *total, int rc);
    uint64_t budget;
} SaSelectGroup;

/* The first of the key's eight 16-bit digits (its bucket in the
 * histogram that sa_select_kth_group may be given). */
static inline unsigned sa_select_first_digit(SaKey k)
{
    return (unsigned)(k.hi >> 48);
}

/* The same among the records for which keep(r, ctx) is true (keep NULL:
 * all), over a group's records (g NULL: this process's).  first_hist,
 * when not NULL, is this process's histogram (65,536 counts) of the kept
 * records' first digits, made while the records were read for something
 * else: it saves a read and leaves only its bucket to collect.  The
 * stores are read on `threads` threads, each a part of them.  When
 * *cancel becomes non-zero, stops with SEGAUDIT_ECANCEL. */
int sa_select_kth_group(const SaSelectGroup *g,
                        const SaRecStore *const *stores, int n,
                        SaRecFilter keep, const void *ctx,
                        const uint64_t *first_hist, uint64_t k,
                        uint64_t mem_budget, const volatile int *cancel,
                        int threads, SaKey *out, int *passes, SaErr *err);

/* The k-th smallest of n distinct keys (1-based), without reading the
 * stores, from first_hist (the histogram of every key's first digit) and
 * keys[0..nkeys): every key whose first digit lies in [lo, hi], gathered
 * while the histogram was made.  1 and *out when the k-th key's first
 * digit is in [lo, hi]; 0 when it is not (the caller then selects as
 * usual); keys[] is reordered.  Errors: ENOMEM. */
int sa_select_kth_gathered(const uint64_t *first_hist, uint64_t k,
                           SaKey *keys, uint64_t nkeys, unsigned lo,
                           unsigned hi, SaKey *out, SaErr *err);

#endif
