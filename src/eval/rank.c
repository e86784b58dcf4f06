/* The strict ranking of images (rank.h). */
#include <stdlib.h>

#include "eval/rank.h"

typedef struct Key {
    uint8_t tier;
    double score;
    uint64_t index;
} Key;

/* A strict weak order, total on distinct indices. */
static int cmp_key(const void *x, const void *y)
{
    const Key *a = x, *b = y;
    if (a->tier != b->tier)
        return a->tier < b->tier ? -1 : 1;
    if (a->tier == 0 && a->score != b->score)
        return a->score < b->score ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

int sa_rank(const double *score, const uint8_t *tier, uint64_t n,
            uint64_t *order, SaErr *err)
{
    if (n == 0)
        return 0;
    Key *keys = malloc(n * sizeof *keys);
    if (!keys)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        keys[i].tier = tier[i];
        keys[i].score = tier[i] == 0 ? score[i] : 0.0;
        keys[i].index = i;
    }
    qsort(keys, n, sizeof *keys, cmp_key);
    for (uint64_t r = 0; r < n; r++)
        order[r] = keys[r].index;
    free(keys);
    return 0;
}
