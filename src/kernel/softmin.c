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

void sa_exp_memo_init(SaExpMemo *m)
{
    m->gen = 0;
    memset(m->stamp, 0, sizeof m->stamp);
}

/* Index of a score in the memo: its bits as a half float when it is a
 * normal half in [2^-14, 2), else -1.  As a double such a half has a
 * biased exponent of 1009..1023 and no mantissa bits below the top 10. */
static inline long memo_index(double s)
{
    uint64_t b;
    memcpy(&b, &s, sizeof b);
    uint64_t ex = b >> 52; /* the sign too: a negative score is -1 */
    if (ex - 1009 > 14 || (b & (((uint64_t)1 << 42) - 1)))
        return -1;
    return (long)(((ex - 1008) << 10) | ((b >> 42) & 0x3ff));
}

void sa_softmin_add_memo(SaSoftmin *a, const double *s, size_t n, double T,
                         double ref, SaExpMemo *memo)
{
    if (n == 0)
        return;
    SaSoftmin part;
    part.m = (1.0 - ref) / T;
    part.ref = ref;
    part.sum = 0.0;
    part.wsum = 0.0;
    if (memo) {
        if (++memo->gen == 0) { /* wrapped: every stamp is stale */
            memset(memo->stamp, 0, sizeof memo->stamp);
            memo->gen = 1;
        }
        const uint32_t gen = memo->gen;
        for (size_t i = 0; i < n; i++) {
            double e;
            long h = memo_index(s[i]);
            if (h >= 0 && memo->stamp[h] == gen) {
                e = memo->e[h];
            } else {
                e = exp((1.0 - s[i]) / T - part.m);
                if (h >= 0) {
                    memo->stamp[h] = gen;
                    memo->e[h] = e;
                }
            }
            part.sum += e;
            part.wsum += (s[i] - ref) * e;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            double e = exp((1.0 - s[i]) / T - part.m);
            part.sum += e;
            part.wsum += (s[i] - ref) * e;
        }
    }
    part.n = n;
    sa_softmin_merge(a, &part);
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
    sa_softmin_add_memo(a, s, n, T, sa_softmin_least(s, n), NULL);
}

double sa_softmin_value(const SaSoftmin *a)
{
    if (a->n == 0)
        return NAN;
    return a->ref + a->wsum / a->sum;
}
