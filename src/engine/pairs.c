#include "engine/pairs.h"

#include <stdlib.h>
#include <string.h>

static size_t slot(uint64_t key, size_t cap)
{
    return (size_t)(key * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

int sa_pairs_add(SaPairTable *t, uint32_t a, uint32_t b, uint64_t count,
                 SaErr *err)
{
    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        uint64_t *k = calloc(cap, sizeof *k), *c = calloc(cap, sizeof *c);
        if (!k || !c) {
            free(k);
            free(c);
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->keys[i])
                continue;
            size_t h = slot(t->keys[i], cap);
            while (k[h])
                h = (h + 1) & (cap - 1);
            k[h] = t->keys[i];
            c[h] = t->counts[i];
        }
        free(t->keys);
        free(t->counts);
        t->keys = k;
        t->counts = c;
        t->cap = cap;
    }
    uint64_t key = ((uint64_t)a << 32 | b) + 1;
    size_t h = slot(key, t->cap);
    while (t->keys[h] && t->keys[h] != key)
        h = (h + 1) & (t->cap - 1);
    if (!t->keys[h]) {
        t->keys[h] = key;
        t->n++;
    }
    t->counts[h] += count;
    return 0;
}

void sa_pairs_clear(SaPairTable *t)
{
    if (t->cap) {
        memset(t->keys, 0, t->cap * sizeof *t->keys);
        memset(t->counts, 0, t->cap * sizeof *t->counts);
    }
    t->n = 0;
}

void sa_pairs_free(SaPairTable *t)
{
    free(t->keys);
    free(t->counts);
    memset(t, 0, sizeof *t);
}
