/* Arrays in memory (SegauditArray of audit.h): their checks, element
 * access with any strides, and handing the pages of a file mapping back to
 * the kernel once they are read (so that an np.memmap far larger than
 * memory is audited with bounded resident memory).
 *
 * Thread-safe: nothing here keeps state but SaMemArray, which is read-only
 * after sa_mem_array_init. */
#ifndef SA_MEM_ARRAY_H
#define SA_MEM_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "segaudit/audit.h"

typedef struct SaMemArray {
    SegauditArray a;      /* copy of the caller's description */
    const char *name;     /* for messages: "labels", "pred_probs", ... */
    size_t itemsize;
    int release;          /* a shared file mapping: pages are released
                             after each read (sa_mem_release) */
    long page;            /* the page size */
    uintptr_t span_lo;    /* with release: the first page of the array */
} SaMemArray;

/* Checks a (data, dtype, ndim == want_ndim, no zero dimension, element
 * offsets that fit in 63 bits) and fills m.  allowed is a bit set of the
 * dtypes accepted (1u << SEGAUDIT_DTYPE_...); what is refused is named in
 * the message with `expected`.  Errors: SEGAUDIT_EINVAL (a malformed
 * description) or SEGAUDIT_EINPUT (a type or shape the reader cannot
 * take), messages starting with "<name>: ". */
int sa_mem_array_init(SaMemArray *m, const SegauditArray *a, const char *name,
                      int want_ndim, unsigned allowed, const char *expected,
                      SaErr *err);

/* The element at index idx (ndim entries). */
static inline const unsigned char *sa_mem_at(const SaMemArray *m,
                                             const uint64_t *idx)
{
    const unsigned char *p = m->a.data;
    for (int d = 0; d < m->a.ndim; d++)
        p += (int64_t)idx[d] * m->a.strides[d];
    return p;
}

/* The dtype's name ("float32", ...) or "unknown". */
const char *sa_mem_dtype_name(int dtype);

/* With m->release: hands back to the kernel the pages that hold any of
 * [lo, hi) (they are read again from the file if touched again); does
 * nothing without m->release. */
void sa_mem_release(const SaMemArray *m, const void *lo, const void *hi);

/* The lowest byte and the end (exclusive) of the elements of image n
 * (axis 0) whose index on row_axis is in [r0, r0+nrows) and, when
 * fix_axis > 0, whose index on fix_axis is fix; every other axis over its
 * whole range. */
void sa_mem_band_span(const SaMemArray *m, uint64_t n, int row_axis,
                      uint64_t r0, uint64_t nrows, int fix_axis, uint64_t fix,
                      const unsigned char **lo, const unsigned char **hi);

#endif
