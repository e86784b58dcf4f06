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

/* Does this machine store numbers big-endian?  (The readers swap the bytes
 * of files written in the other order.) */
static inline int sa_host_big_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 0;
}

/* Exact value of an IEEE half given by its bits (subnormals, inf, NaN). */
float sa_half_to_float(uint16_t h);

#endif
