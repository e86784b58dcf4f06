/* Zeroed arrays that are counted into. */
#ifndef SA_ZALLOC_H
#define SA_ZALLOC_H

#include <stddef.h>

/* n zeroed elements of size bytes each, written once before they are
 * returned (NULL when out of memory or when n * size overflows).
 *
 * calloc hands large arrays back as fresh pages that are only zero by
 * promise: the first read of such a page maps the system's shared zero
 * page, and the first write after it then replaces that mapping, which in
 * a process with several threads interrupts every core to flush its TLB.
 * A histogram that is counted into (read, then written) pays that once per
 * page, 128 times for 512 KiB; written first, it takes the plain first-
 * touch fault and no interrupt.  Free with free(). */
void *sa_zalloc(size_t n, size_t size);

#endif
