/* Arrays of malloc'd strings, as the id readers return them. */
#ifndef SA_STRLIST_H
#define SA_STRLIST_H

#include <stdint.h>

/* Frees the n strings of v and v itself; NULL is accepted. */
void sa_free_strings(char **v, uint64_t n);

#endif
