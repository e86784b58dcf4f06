#include "common/zalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Called through a volatile pointer: a compiler may otherwise turn malloc
 * followed by a memset of zeros back into calloc. */
static void *(*volatile const fill)(void *, int, size_t) = memset;

void *sa_zalloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    size_t bytes = n * size;
    if (bytes == 0)
        bytes = 1;
    void *p = malloc(bytes);
    if (p)
        fill(p, 0, bytes);
    return p;
}
