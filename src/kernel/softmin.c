/* The online softmin accumulator.  See kernels.h. */
#include "kernel/kernels.h"

#include <math.h>
#include <string.h>

void sa_softmin_init(SaSoftmin *a)
{
    a->m = 0.0;
    a->ref = 0.0;
    a->sum = 0.0;
    a->wsum = 0.0;
    a->n = 0;
}

void sa_softmin_merge(SaSoftmin *a, const SaSoftmin *b)
{
    if (b->n == 0)
        return;
    if (a->n == 0) {
        *a = *b;
        return;
    }
    double m = a->m > b->m ? a->m : b->m;
    double ref = a->ref < b->ref ? a->ref : b->ref;
    double ea = exp(a->m - m), eb = exp(b->m - m);
    /* re-centre each part on the common reference score */
    double wa = a->wsum + (a->ref - ref) * a->sum;
    double wb = b->wsum + (b->ref - ref) * b->sum;
    a->sum = a->sum * ea + b->sum * eb;
    a->wsum = wa * ea + wb * eb;
    a->m = m;
    a->ref = ref;
    a->n += b->n;
}

/* A score's entry in the table of half floats: its bits as a half when it
 * is a normal half in [2^-14, 2), else -1.  As a double such a half has a
 * biased exponent of 1009..1023 (the half's own 1..15, plus 1008) and no
 * mantissa bits below the top 10. */
static inline long half_index(double s)
{
    uint64_t b;
    memcpy(&b, &s, sizeof b);
    uint64_t ex = b >> 52; /* the sign too: a negative score is -1 */
    if (ex - 1009 > 14 || (b & (((uint64_t)1 << 42) - 1)))
        return -1;
    return (long)(((ex - 1008) << 10) | ((b >> 42) & 0x3ff));
}

/* The exponential of score s against the shift m, as every partial
 * computes it. */
static inline double weight(double s, double T, double m)
{
    return exp((1.0 - s) / T - m);
}

/* Merges the partial of s[0..n) against the shift m into a, with the
 * exponentials of half floats from table when it is given. */
static void add_part(SaSoftmin *a, const double *s, size_t n, double T,
                     double ref, double m, const double *table)
{
    if (n == 0)
        return;
    SaSoftmin part = {.m = m, .ref = ref, .sum = 0.0, .wsum = 0.0, .n = n};
    for (size_t i = 0; i < n; i++) {
        long h = table ? half_index(s[i]) : -1;
        double e = h >= 0 ? table[h] : weight(s[i], T, m);
        part.sum += e;
        part.wsum += (s[i] - ref) * e;
    }
    sa_softmin_merge(a, &part);
}

void sa_softmin_add_ref(SaSoftmin *a, const double *s, size_t n, double T,
                        double ref)
{
    add_part(a, s, n, T, ref, (1.0 - ref) / T, NULL);
}

int sa_softmin_half_table(double T, double *table)
{
    if (!(T >= SA_EXP_HALF_MIN_T))
        return 0;
    const double m = (1.0 - 0.0) / T; /* add_half's shift */
    for (long i = 0; i < 1024; i++)
        table[i] = NAN; /* (no normal half) */
    for (long i = 1024; i < SA_EXP_HALF; i++) {
        uint64_t b = ((uint64_t)((i >> 10) + 1008) << 52) |
                     ((uint64_t)(i & 0x3ff) << 42);
        double s;
        memcpy(&s, &b, sizeof s);
        table[i] = weight(s, T, m);
    }
    return 1;
}

void sa_softmin_add_half(SaSoftmin *a, const double *s, size_t n, double T,
                         double ref, const double *table)
{
    /* the least score's weight is exp(-ref/T) >= exp(-200) */
    if (T >= SA_EXP_HALF_MIN_T && ref < 2.0)
        add_part(a, s, n, T, ref, (1.0 - 0.0) / T, table);
    else
        add_part(a, s, n, T, ref, (1.0 - ref) / T, NULL);
}

double sa_softmin_least(const double *s, size_t n)
{
    double ref = n ? s[0] : 0.0;
    for (size_t i = 1; i < n; i++)
        ref = s[i] < ref ? s[i] : ref;
    return ref;
}

void sa_softmin_add(SaSoftmin *a, const double *s, size_t n, double T)
{
    sa_softmin_add_ref(a, s, n, T, sa_softmin_least(s, n));
}

double sa_softmin_value(const SaSoftmin *a)
{
    if (a->n == 0)
        return NAN;
    return a->ref + a->wsum / a->sum;
}
