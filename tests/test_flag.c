/* Unit tests of src/eval/flag.c: the rule that flags the images whose
 * strongest issue region stands out (median and lower-half spread of
 * ln(1 + x), threshold at the (1 - 1/m) normal quantile).
 *
 * The small cases are computed by hand on the ln(1 + x) scale, so their
 * inputs are given as expm1(v); the larger ones check properties that any
 * correct implementation has: the flagged images are exactly those above
 * one threshold, the result does not depend on the order of the images,
 * and images left out of the fit are never flagged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/flag.h"

static void near(double a, double b, double eps)
{
    if (!(fabs(a - b) <= eps))
        fail_msg("%.17g is not %.17g (within %g)", a, b, eps);
}

static SaFlagFit run(const double *v, const uint8_t *use, uint64_t n,
                     uint8_t *flag)
{
    double *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (uint64_t i = 0; i < n; i++)
        x[i] = expm1(v[i]);
    SaFlagFit fit;
    SaErr err = {0};
    assert_int_equal(sa_flag_images(x, use, n, flag, &fit, &err), 0);
    free(x);
    return fit;
}

static void test_quantile(void **state)
{
    (void)state;
    near(sa_normal_upper_quantile(0.5), 0.0, 1e-15);
    near(sa_normal_upper_quantile(0.025), 1.959963984540054, 1e-12);
    near(sa_normal_upper_quantile(0.2), 0.8416212335729143, 1e-12);
    near(sa_normal_upper_quantile(0.975), -1.959963984540054, 1e-12);
    near(sa_normal_upper_quantile(1.0 / 3000), 3.4029328353853345, 1e-12);
    /* small tail probabilities keep their precision */
    near(sa_normal_upper_quantile(1e-8), 5.612001244174789, 1e-12);
}

/* m = 5, v = 0.5 1 2 3 10: c = 2, sigma = sqrt((2.25 + 1 + 0) / 3),
 * z = q(0.8); threshold 2 + 0.8416 * 1.0408 = 2.876: v = 3 and 10. */
static void test_hand_odd(void **state)
{
    (void)state;
    const double v[] = {3, 0.5, 10, 2, 1};
    const uint8_t use[] = {1, 1, 1, 1, 1};
    uint8_t flag[5];
    SaFlagFit f = run(v, use, 5, flag);
    const uint8_t want[] = {1, 0, 1, 0, 0};
    assert_memory_equal(flag, want, 5);
    assert_int_equal(f.fitted, 1);
    assert_int_equal(f.m, 5);
    assert_int_equal(f.flagged, 2);
    near(f.center, 2.0, 1e-15);
    near(f.spread, sqrt(3.25 / 3.0), 1e-15);
    near(f.z, 0.8416212335729143, 1e-12);
    near(f.threshold, expm1(2.0 + 0.8416212335729143 * sqrt(3.25 / 3.0)),
         1e-9);
}

/* m = 6, v = 0.5 0.5 1 2 4 9: c = 1.5, lower half {0.5, 0.5, 1}: sigma =
 * sqrt((1 + 1 + 0.25) / 3); z = q(5/6) = 0.9674; threshold 2.34: v = 4
 * and 9 are flagged. */
static void test_hand_even(void **state)
{
    (void)state;
    const double v[] = {0.5, 9, 1, 0.5, 4, 2};
    const uint8_t use[] = {1, 1, 1, 1, 1, 1};
    uint8_t flag[6];
    SaFlagFit f = run(v, use, 6, flag);
    const uint8_t want[] = {0, 1, 0, 0, 1, 0};
    assert_memory_equal(flag, want, 6);
    near(f.center, 1.5, 1e-15);
    near(f.spread, sqrt(2.25 / 3.0), 1e-15);
    near(f.z, 0.9674215661017008, 1e-12);
    assert_int_equal(f.flagged, 2);
}

/* Images without an issue region (x = 0) take no part: most images
 * clean leave the others to be judged among themselves.  A lower half all
 * alike has no spread to judge chance by: nothing is flagged. */
static void test_zero_spread(void **state)
{
    (void)state;
    /* six clean images, one with a speck, three with regions */
    const double v[] = {0, 0, 0, 0.5, 0, 0, 0, 2, 2.5, 8};
    const uint8_t use[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    uint8_t flag[10];
    SaFlagFit f = run(v, use, 10, flag);
    assert_int_equal(f.m, 4);
    /* c = 2.25, lower half {0.5, 2}: sigma = sqrt((3.0625 + 0.0625) / 2),
     * z = q(3/4) = 0.6745; threshold 3.44: only v = 8 */
    const uint8_t want[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_memory_equal(flag, want, 10);
    near(f.center, 2.25, 1e-15);

    /* the lower half alike: nothing, and no threshold */
    const double same[] = {1, 1, 1, 1, 5};
    f = run(same, use, 5, flag);
    assert_int_equal(f.flagged, 0);
    assert_int_equal(f.fitted, 0);
    /* every image clean: nothing */
    const double none[] = {0, 0, 0, 0};
    f = run(none, use, 4, flag);
    assert_int_equal(f.flagged, 0);
    assert_int_equal(f.m, 0);
}

/* Images left out (skipped, no valid pixel) are neither fitted nor
 * flagged; with fewer than 3 in the fit nothing is flagged. */
static void test_use_and_too_few(void **state)
{
    (void)state;
    const double v[] = {0.5, 50, 1, 2, 3, 10};
    const uint8_t use[] = {1, 0, 1, 1, 1, 1};
    uint8_t flag[6];
    SaFlagFit f = run(v, use, 6, flag);
    assert_int_equal(f.m, 5);
    assert_int_equal(flag[1], 0);
    assert_int_equal(flag[5], 1);
    near(f.center, 2.0, 1e-15);

    const uint8_t two[] = {1, 1, 0, 0, 0, 0};
    memset(flag, 7, sizeof flag);
    f = run(v, two, 6, flag);
    assert_int_equal(f.fitted, 0);
    assert_int_equal(f.m, 2);
    assert_int_equal(f.flagged, 0);
    const uint8_t zero[6] = {0};
    assert_memory_equal(flag, zero, 6);

    SaFlagFit none;
    SaErr err = {0};
    assert_int_equal(sa_flag_images(NULL, NULL, 0, NULL, &none, &err), 0);
    assert_int_equal(none.fitted, 0);
}

/* Random values with ties: one threshold separates flagged from not, and
 * a permutation of the images permutes the flags and changes nothing
 * else (bit for bit). */
static void test_properties(void **state)
{
    (void)state;
    enum { N = 997 };
    static double x[N], y[N];
    static uint8_t use[N], use2[N], flag[N], flag2[N];
    static uint64_t perm[N];
    uint64_t r = 12345;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t u = r >> 33;
            /* a bulk of small values, ties, and a tail */
            x[i] = u % 7 == 0 ? (double)(u % 5000) : (double)(u % 12);
            use[i] = u % 11 != 0;
            perm[i] = (uint64_t)i;
        }
        for (int i = N - 1; i > 0; i--) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t j = (r >> 33) % (uint64_t)(i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int i = 0; i < N; i++) {
            y[i] = x[perm[i]];
            use2[i] = use[perm[i]];
        }
        SaFlagFit f, g;
        SaErr err = {0};
        assert_int_equal(sa_flag_images(x, use, N, flag, &f, &err), 0);
        assert_int_equal(sa_flag_images(y, use2, N, flag2, &g, &err), 0);
        assert_memory_equal(&f, &g, sizeof f);
        uint64_t count = 0;
        for (int i = 0; i < N; i++) {
            assert_int_equal(flag2[i], flag[perm[i]]);
            if (!use[i])
                assert_int_equal(flag[i], 0);
            else
                assert_int_equal(flag[i], x[i] > f.threshold);
            count += flag[i];
        }
        assert_int_equal(count, f.flagged);
        /* the bulk (0..11) is never flagged, some of the tail is */
        assert_true(f.threshold > 11.0);
        assert_true(f.flagged > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_hand_odd),
        cmocka_unit_test(test_hand_even),
        cmocka_unit_test(test_zero_spread),
        cmocka_unit_test(test_use_and_too_few),
        cmocka_unit_test(test_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
