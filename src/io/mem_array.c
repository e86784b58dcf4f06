/* Arrays in memory: checks, spans, and the release of file-mapped pages
 * (mem_array.h). */
#include "io/mem_array.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

size_t segaudit_dtype_size(int dtype)
{
    switch (dtype) {
    case SEGAUDIT_DTYPE_BOOL:
    case SEGAUDIT_DTYPE_INT8:
    case SEGAUDIT_DTYPE_UINT8: return 1;
    case SEGAUDIT_DTYPE_INT16:
    case SEGAUDIT_DTYPE_UINT16:
    case SEGAUDIT_DTYPE_FLOAT16: return 2;
    case SEGAUDIT_DTYPE_INT32:
    case SEGAUDIT_DTYPE_UINT32:
    case SEGAUDIT_DTYPE_FLOAT32: return 4;
    case SEGAUDIT_DTYPE_INT64:
    case SEGAUDIT_DTYPE_UINT64:
    case SEGAUDIT_DTYPE_FLOAT64: return 8;
    default: return 0;
    }
}

const char *sa_mem_dtype_name(int dtype)
{
    static const char *const names[] = {
        "unknown", "bool",   "int8",  "uint8",   "int16",   "uint16", "int32",
        "uint32",  "int64", "uint64", "float16", "float32", "float64"};
    return dtype >= 1 && dtype <= SEGAUDIT_DTYPE_FLOAT64 ? names[dtype]
                                                         : names[0];
}

void segaudit_array_init(SegauditArray *a, void *data, int dtype, int ndim,
                         const uint64_t *shape)
{
    memset(a, 0, sizeof *a);
    a->data = data;
    a->dtype = dtype;
    a->ndim = ndim < 0 ? 0 : ndim > 4 ? 4 : ndim;
    int64_t stride = (int64_t)segaudit_dtype_size(dtype);
    for (int d = a->ndim; d-- > 0;) {
        a->shape[d] = shape[d];
        a->strides[d] = stride;
        stride *= (int64_t)shape[d];
    }
}

/* Whether [lo, hi) lies inside one shared mapping of a file (a line of
 * /proc/self/maps whose permissions end in 's' and that names an inode). */
static int shared_file_mapping(const void *lo, const void *hi)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return 0;
    char line[4096];
    int ok = 0;
    uintptr_t a = (uintptr_t)lo, b = (uintptr_t)hi;
    while (fgets(line, sizeof line, f)) {
        uintptr_t s, e;
        char perms[8];
        unsigned long long off, inode;
        char dev[32];
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %llx %31s %llu", &s,
                   &e, perms, &off, dev, &inode) != 6)
            continue;
        if (a >= s && b <= e) {
            ok = perms[3] == 's' && inode != 0;
            break;
        }
    }
    fclose(f);
    return ok;
}

void sa_mem_band_span(const SaMemArray *m, uint64_t n, int row_axis,
                      uint64_t r0, uint64_t nrows, int fix_axis, uint64_t fix,
                      const unsigned char **lo, const unsigned char **hi)
{
    const SegauditArray *a = &m->a;
    const unsigned char *base = (const unsigned char *)a->data +
                                (int64_t)n * a->strides[0] +
                                (int64_t)r0 * a->strides[row_axis];
    if (fix_axis > 0)
        base += (int64_t)fix * a->strides[fix_axis];
    int64_t down = 0, up = 0;
    for (int d = 1; d < a->ndim; d++) {
        uint64_t len = d == row_axis ? nrows : d == fix_axis ? 1 : a->shape[d];
        int64_t ext = (int64_t)(len ? len - 1 : 0) * a->strides[d];
        if (ext < 0)
            down += ext;
        else
            up += ext;
    }
    *lo = base + down;
    *hi = base + up + m->itemsize;
}

int sa_mem_array_init(SaMemArray *m, const SegauditArray *a, const char *name,
                      int want_ndim, unsigned allowed, const char *expected,
                      SaErr *err)
{
    memset(m, 0, sizeof *m);
    m->name = name;
    if (!a->data)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: no data", name);
    if (a->ndim != want_ndim)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: %d dimensions; expected %d",
                      name, a->ndim, want_ndim);
    m->itemsize = segaudit_dtype_size(a->dtype);
    if (!m->itemsize)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: unknown element type %d",
                      name, a->dtype);
    if (!(allowed & (1u << a->dtype)))
        return sa_err(err, SEGAUDIT_EINPUT, "%s: element type is %s; %s",
                      name, sa_mem_dtype_name(a->dtype), expected);
    /* the farthest element from data, either way, must be addressable */
    uint64_t reach = m->itemsize;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] == 0)
            return sa_err(err, SEGAUDIT_EINPUT, "%s: dimension %d is 0",
                          name, d);
        uint64_t st = a->strides[d] < 0 ? (uint64_t)0 - (uint64_t)a->strides[d]
                                        : (uint64_t)a->strides[d];
        if (a->shape[d] > INT64_MAX || (st && a->shape[d] - 1 >
                                                 (INT64_MAX - reach) / st))
            return sa_err(err, SEGAUDIT_EINPUT, "%s: shape and strides "
                          "reach beyond 2^63 bytes", name);
        reach += (a->shape[d] - 1) * st;
    }
    m->a = *a;
    m->page = sysconf(_SC_PAGESIZE);
    if (a->file_mapped && m->page > 0) {
        /* the whole array's span must lie in one shared file mapping */
        const unsigned char *lo = a->data, *hi = a->data;
        for (int d = 0; d < a->ndim; d++) {
            int64_t ext = (int64_t)(a->shape[d] - 1) * a->strides[d];
            if (ext < 0)
                lo += ext;
            else
                hi += ext;
        }
        m->release = shared_file_mapping(lo, hi + m->itemsize);
        m->span_lo = (uintptr_t)lo / (uintptr_t)m->page * (uintptr_t)m->page;
    }
    return 0;
}

/* How far back a release reaches: the largest page-cache folio a fault
 * maps at once (a PMD, 2 MiB on x86-64). */
#define SA_RELEASE_BACK ((uintptr_t)2 << 20)

void sa_mem_release(const SaMemArray *m, const void *lo, const void *hi)
{
    if (!m->release)
        return;
    /* Whole pages around the range: a page shared with the next band (rows
     * rarely start on a page boundary: a .npy header is 128 bytes) would
     * otherwise stay mapped for good.  If another thread reads it at that
     * moment, it faults it in again from the page cache, unchanged: the
     * mapping is a shared one of a file, so nothing is lost, and the
     * rounded range stays inside it (mappings are whole pages). */
    uintptr_t pg = (uintptr_t)m->page;
    uintptr_t a = (uintptr_t)lo / pg * pg;
    uintptr_t b = ((uintptr_t)hi + pg - 1) / pg * pg;
    /* The page cache may hold a file in large folios (Linux 6.x), and a
     * fault maps the whole folio: reading the first rows of this range maps
     * again the tail of the range released before, whose folio it shares.
     * Released again here, up to a folio (2 MiB) back, it does not stay
     * mapped for the rest of the run (seen: 535 MB still mapped after a
     * 4 GiB audit, against 29 MB of the audit's own memory). */
    a = a - m->span_lo > SA_RELEASE_BACK ? a - SA_RELEASE_BACK : m->span_lo;
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}
