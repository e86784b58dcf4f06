/* Arrays of malloc'd strings.  See strlist.h. */
#include "common/strlist.h"

#include <stdlib.h>

void sa_free_strings(char **v, uint64_t n)
{
    if (!v)
        return;
    for (uint64_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
