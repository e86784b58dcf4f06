/* The online softmin accumulator.  See kernels.h. */
#include "kernel/kernels.h"

#include <math.h>

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

void sa_softmin_add(SaSoftmin *a, const double *s, size_t n, double T)
{
    if (n == 0)
        return;
    SaSoftmin part;
    double ref = s[0];
    for (size_t i = 1; i < n; i++)
        ref = s[i] < ref ? s[i] : ref;
    part.m = (1.0 - ref) / T;
    part.ref = ref;
    part.sum = 0.0;
    part.wsum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = exp((1.0 - s[i]) / T - part.m);
        part.sum += e;
        part.wsum += (s[i] - ref) * e;
    }
    part.n = n;
    sa_softmin_merge(a, &part);
}

double sa_softmin_value(const SaSoftmin *a)
{
    if (a->n == 0)
        return NAN;
    return a->ref + a->wsum / a->sum;
}
