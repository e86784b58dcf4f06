#include "eval/flag.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double sa_normal_upper_quantile(double q)
{
    /* P(Z > z) = erfc(z / sqrt 2) / 2 falls as z grows: bisect until the
     * interval stops shrinking */
    double lo = -40.0, hi = 40.0;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi)
            break;
        if (0.5 * erfc(mid / sqrt(2.0)) > q)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

int sa_flag_images(const double *x, const uint8_t *use, uint64_t n,
                   uint8_t *flag, SaFlagFit *fit, SaErr *err)
{
    *fit = (SaFlagFit){0};
    for (uint64_t i = 0; i < n; i++)
        flag[i] = 0;
    uint64_t m = 0;
    for (uint64_t i = 0; i < n; i++)
        m += use[i] && x[i] > 0;
    fit->m = m;
    if (m < 3)
        return 0;
    double *v = malloc(m * sizeof *v);
    if (!v)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    uint64_t j = 0;
    for (uint64_t i = 0; i < n; i++)
        if (use[i] && x[i] > 0)
            v[j++] = log1p(x[i]);
    qsort(v, m, sizeof *v, cmp_double);
    double c = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    double sq = 0;
    uint64_t below = 0;
    for (uint64_t i = 0; i < m && v[i] <= c; i++, below++)
        sq += (v[i] - c) * (v[i] - c);
    free(v);
    fit->center = c;
    fit->spread = sqrt(sq / (double)below);
    fit->z = sa_normal_upper_quantile(1.0 / (double)m);
    if (fit->spread == 0)
        return 0; /* no spread to judge chance by: nothing flagged */
    fit->fitted = 1;
    double t = c + fit->z * fit->spread;
    fit->threshold = expm1(t);
    for (uint64_t i = 0; i < n; i++)
        if (use[i] && x[i] > 0 && log1p(x[i]) > t) {
            flag[i] = 1;
            fit->flagged++;
        }
    return 0;
}
