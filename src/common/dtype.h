/* Element types of stored probabilities, shared by the readers (which
 * deliver rows in these types) and the kernels (which decode them). */
#ifndef SA_DTYPE_H
#define SA_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum SaDtype { SA_F16 = 0, SA_F32 = 1, SA_F64 = 2 } SaDtype;

/* Bytes per element: 2, 4 or 8. */
static inline size_t sa_dtype_size(SaDtype t)
{
    return t == SA_F16 ? 2 : t == SA_F32 ? 4 : 8;
}

/* Exact value of an IEEE half given by its bits (subnormals, inf, NaN). */
float sa_half_to_float(uint16_t h);

#endif
