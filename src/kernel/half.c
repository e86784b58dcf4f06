/* IEEE half-precision rows (with F16C where the CPU has it); one value at
 * a time is sa_half_to_float (common/dtype.c).  See kernels.h. */
#include "kernel/kernels.h"

#include <math.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

/* float16 rows: with F16C (checked at run time, so the program still runs
 * without it) eight halves at a time; every half is exactly a float, so
 * both ways give the same bits (NaN stays NaN). */
static void halves_plain(const uint16_t *restrict src, double *restrict dst,
                         size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (double)sa_half_to_float(src[i]);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx,f16c"))) static void
halves_f16c(const uint16_t *restrict src, double *restrict dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 f = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_pd(dst + i, _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
        _mm256_storeu_pd(dst + i + 4,
                         _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
    }
    halves_plain(src + i, dst + i, n - i);
}

void sa_halves_to_double(const uint16_t *src, double *dst, size_t n)
{
    static int f16c = -1;
    if (f16c < 0)
        f16c = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
    if (f16c)
        halves_f16c(src, dst, n);
    else
        halves_plain(src, dst, n);
}
#else
void sa_halves_to_double(const uint16_t *src, double *dst, size_t n)
{
    halves_plain(src, dst, n);
}
#endif
