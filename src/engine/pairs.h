/* A small open-addressing table of counts keyed by a pair of 32-bit
 * numbers: (given, predicted) class pairs in pass 2, (issue region, error
 * region) overlaps in the mask evaluation.  Grows by doubling; iterate
 * over keys[0..cap) skipping 0. */
#ifndef SA_PAIRS_H
#define SA_PAIRS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct SaPairTable {
    uint64_t *keys;   /* a << 32 | b, +1 (0 = empty) */
    uint64_t *counts;
    size_t cap, n;
} SaPairTable;

/* Adds count to the pair (a, b).  Errors: ENOMEM (the table unchanged). */
int sa_pairs_add(SaPairTable *t, uint32_t a, uint32_t b, uint64_t count,
                 SaErr *err);

/* Empties the table, keeping its memory. */
void sa_pairs_clear(SaPairTable *t);

/* Frees the memory; the table is then empty. */
void sa_pairs_free(SaPairTable *t);

static inline uint32_t sa_pair_a(uint64_t key) { return (uint32_t)((key - 1) >> 32); }
static inline uint32_t sa_pair_b(uint64_t key) { return (uint32_t)(key - 1); }

#endif
