/* Label maps stored as one (N,H,W) integer array: a NumPy .npy file read
 * with pread, or an HDF5 dataset read by hyperslabs.  Every band is turned
 * into uint16 labels here, with the range rule of label_array.h.
 *
 * .npy: the header is parsed by npy.c; a band is one run of bytes at
 * data_offset + ((n*H + r0)*W)*itemsize.  2-byte elements are read straight
 * into the caller's buffer (every int16 and uint16 value is a label: the
 * bits of int16 -1 are those of 65535), and byte-swapped there when the
 * file's order is not the host's; other sizes go through the scratch
 * buffer and are decoded byte by byte in the file's order.
 *
 * HDF5: the dataset is opened with sa_probs_open_dataset of h5_check.c
 * (missing, external link, not a dataset); the file checks and the layout
 * and storage checks of h5_check.c take the tensor reader's object, so
 * their equivalents for this dataset are here.  HDF5 converts the stored
 * integers (and enums, as h5py stores bool) to native int16/uint16 when
 * they have at most 2 bytes, straight into the caller's buffer, and to
 * long long / unsigned long long in the scratch buffer otherwise; the
 * range check and the conversion to uint16 follow.
 *
 * Messages start with "<path>: " (.npy files, and problems with the file
 * itself) or "<path>:<dataset>: " (HDF5 datasets). */
#include "common/dtype.h"
#include "io/label_array.h"
#include "io/h5_internal.h"
#include "io/mem_array.h"
#include "io/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#define DEFAULT_DATASET "/labels"
#define MAX_COUNT ((uint64_t)UINT32_MAX) /* N, and H*W, stay below 2^32 */
#define READ_PIECE ((size_t)1 << 30) /* the largest single pread */

static const unsigned char g_npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static const char g_expected[] = "labels must be integers (signed or "
                                 "unsigned, of 1, 2, 4 or 8 bytes) or bool";

struct SaLabelArray {
    char *path;
    char *dataset;       /* HDF5 only */
    char *where;         /* "<path>" or "<path>:<dataset>", for messages */
    int npy;
    int mem;             /* an array in memory (SegauditArray) */
    SaMemArray marr;
    uint64_t dims[3];    /* N, H, W */
    char kind;           /* 'u', 'i' or 'b' */
    unsigned itemsize;   /* bytes per stored element */
    char type_name[48];
    /* .npy */
    int fd;
    int big_endian;      /* the elements are stored big-endian */
    uint64_t data_offset;
    /* HDF5 */
    hid_t file, dset, fspace;
    int h5_signed;       /* the stored integers (or the enum's base) are
                            signed: chooses the memory type */
    /* both */
    unsigned char *scratch; /* one band in its stored or widened form */
    size_t scap;
    uint64_t bytes_read;
};

/* ---- values ------------------------------------------------------------ */

/* Whether v, a 64-bit two's-complement value when is_signed and an
 * unsigned one otherwise, is a label: 0..65535, or -32768..-1 when signed.
 * Its label is then (uint16_t)v (for a negative v that is 65536+v). */
static inline int label_ok(uint64_t v, int is_signed)
{
    return v <= 65535u || (is_signed && v >= (uint64_t)0 - 32768u);
}

/* The message for value v (as in label_ok) at element i of a band of image
 * n starting at row r0. */
static int bad_value(const SaLabelArray *a, uint64_t n, uint64_t r0,
                     size_t i, int is_signed, uint64_t v, SaErr *err)
{
    const uint64_t W = a->dims[2];
    const int neg = is_signed && (v >> 63) != 0;
    return sa_err(err, SEGAUDIT_EINPUT, "%s: image %" PRIu64 ", row %"
                  PRIu64 ", column %" PRIu64 ": label %s%" PRIu64 " is out "
                  "of range; labels must be 0..65535, or -32768..-1 (read "
                  "as 65536+v, so that -1 is 65535)", a->where, n,
                  r0 + (uint64_t)i / W, (uint64_t)i % W, neg ? "-" : "",
                  neg ? (uint64_t)0 - v : v);
}

/* Decodes count .npy elements of a 1-, 4- or 8-byte type from src (in the
 * file's byte order) into dst. */
static int convert_npy(const SaLabelArray *a, const unsigned char *src,
                       size_t count, uint16_t *dst, uint64_t n, uint64_t r0,
                       SaErr *err)
{
    const unsigned size = a->itemsize;
    const int is_signed = a->kind == 'i';

    if (a->kind == 'b') {
        /* NumPy reads any non-zero byte as True */
        for (size_t i = 0; i < count; i++)
            dst[i] = src[i] != 0;
        return 0;
    }
    if (size == 1) {
        for (size_t i = 0; i < count; i++)
            dst[i] = is_signed ? (uint16_t)(int8_t)src[i] : src[i];
        return 0;
    }
    for (size_t i = 0; i < count; i++, src += size) {
        uint64_t v = 0;
        if (a->big_endian)
            for (unsigned b = 0; b < size; b++)
                v = v << 8 | src[b];
        else
            for (unsigned b = size; b-- > 0;)
                v = v << 8 | src[b];
        if (is_signed && size < 8 && (v >> (8 * size - 1)) != 0)
            v |= ~(uint64_t)0 << (8 * size); /* sign-extend to 64 bits */
        if (!label_ok(v, is_signed))
            return bad_value(a, n, r0, i, is_signed, v, err);
        dst[i] = (uint16_t)v;
    }
    return 0;
}

/* Converts count values HDF5 delivered as long long (h5_signed) or
 * unsigned long long into dst. */
static int convert_wide(const SaLabelArray *a, const void *src, size_t count,
                        uint16_t *dst, uint64_t n, uint64_t r0, SaErr *err)
{
    const int is_signed = a->h5_signed;
    const long long *s = src;
    const unsigned long long *u = src;

    for (size_t i = 0; i < count; i++) {
        uint64_t v = is_signed ? (uint64_t)s[i] : (uint64_t)u[i];
        if (a->kind == 'b')
            v = v != 0;
        if (!label_ok(v, is_signed))
            return bad_value(a, n, r0, i, is_signed, v, err);
        dst[i] = (uint16_t)v;
    }
    return 0;
}

/* ---- opening ----------------------------------------------------------- */

static int set_where(SaLabelArray *a, const char *dataset, SaErr *err)
{
    size_t len = strlen(a->path) + (dataset ? strlen(dataset) + 1 : 0) + 1;
    a->where = malloc(len);
    if (!a->where)
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", a->path);
    if (dataset)
        snprintf(a->where, len, "%s:%s", a->path, dataset);
    else
        snprintf(a->where, len, "%s", a->path);
    return 0;
}

/* No zero dimension; N and H*W below 2^32. */
static int check_shape(const SaLabelArray *a, SaErr *err)
{
    static const char *const AXIS[3] = {"N", "H", "W"};
    const uint64_t *d = a->dims;

    for (int i = 0; i < 3; i++)
        if (d[i] == 0)
            return sa_err(err, SEGAUDIT_EINPUT, "%s: shape (%" PRIu64 ", %"
                          PRIu64 ", %" PRIu64 "): dimension %d (%s) is 0; "
                          "expected (N,H,W) with at least one image of at "
                          "least one pixel", a->where, d[0], d[1], d[2], i,
                          AXIS[i]);
    if (d[0] > MAX_COUNT)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: %" PRIu64 " images; at most "
                      "%" PRIu64 " are supported", a->where, d[0], MAX_COUNT);
    if (d[1] > MAX_COUNT / d[2])
        return sa_err(err, SEGAUDIT_EINPUT, "%s: images of H=%" PRIu64 " by "
                      "W=%" PRIu64 " pixels; at most %" PRIu64 " pixels per "
                      "image are supported", a->where, d[1], d[2], MAX_COUNT);
    return 0;
}

static int open_npy(SaLabelArray *a, uint64_t file_size, SaErr *err)
{
    SaNpyHeader h;
    char shape[128];
    int rc;

    if ((rc = set_where(a, NULL, err)) != 0)
        return rc;
    if ((rc = sa_npy_read_header(a->fd, a->path, file_size, &h, err)) != 0)
        return rc;
    if (h.kind != 'u' && h.kind != 'i' && h.kind != 'b')
        return sa_err(err, SEGAUDIT_EINPUT, "%s: element type is %s; %s",
                      a->path, sa_npy_type_name(&h), g_expected);
    if (h.ndim != 3)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: %s array of shape %s; "
                      "expected 3 dimensions (N,H,W)", a->path,
                      sa_npy_type_name(&h),
                      sa_npy_shape_str(&h, shape, sizeof shape));
    for (int i = 0; i < 3; i++)
        a->dims[i] = h.shape[i];
    a->kind = h.kind;
    a->itemsize = h.itemsize;
    a->big_endian = h.big_endian;
    a->data_offset = h.data_offset;
    snprintf(a->type_name, sizeof a->type_name, "%s", sa_npy_type_name(&h));
    return check_shape(a, err);
}

/* Accepts integers of 1, 2, 4 or 8 bytes and enums over them (h5py's bool
 * is an int8 enum of FALSE=0 and TRUE=1). */
static int pick_type(SaLabelArray *a, hid_t ft, SaErr *err)
{
    H5T_class_t cls = H5Tget_class(ft);
    size_t size = H5Tget_size(ft);
    hid_t base = H5I_INVALID_HID;
    int rc = 0;

    if (cls < 0 || size == 0)
        return h5_fail(err, a->path, a->dataset,
                       "cannot read the element type");
    if (cls == H5T_ENUM) {
        base = H5Tget_super(ft);
        if (base < 0)
            return h5_fail(err, a->path, a->dataset,
                           "cannot read the enum's base type");
    }
    if (cls == H5T_INTEGER ||
        (cls == H5T_ENUM && H5Tget_class(base) == H5T_INTEGER)) {
        hid_t t = cls == H5T_ENUM ? base : ft;
        H5T_sign_t sign = H5Tget_sign(t);
        size_t isz = H5Tget_size(t);
        if (sign < 0 || isz == 0) {
            rc = h5_fail(err, a->path, a->dataset,
                         "cannot read the integer type");
            goto done;
        }
        a->h5_signed = sign == H5T_SGN_2;
        snprintf(a->type_name, sizeof a->type_name, "%s%s%zu",
                 cls == H5T_ENUM ? "enum of " : "",
                 a->h5_signed ? "int" : "uint", isz * 8);
        if (isz != 1 && isz != 2 && isz != 4 && isz != 8) {
            rc = sa_err(err, SEGAUDIT_EINPUT, "%s: element type is a %zu-"
                        "byte integer; %s", a->where, isz, g_expected);
            goto done;
        }
        a->kind = a->h5_signed ? 'i' : 'u';
        a->itemsize = (unsigned)isz;
        if (cls == H5T_ENUM && isz == 1 && H5Tget_nmembers(ft) == 2) {
            unsigned char f = 0xff, t1 = 0xff;
            if (H5Tenum_valueof(ft, "FALSE", &f) >= 0 &&
                H5Tenum_valueof(ft, "TRUE", &t1) >= 0 && f == 0 && t1 == 1) {
                a->kind = 'b';
                snprintf(a->type_name, sizeof a->type_name, "bool");
            }
        }
    } else if (cls == H5T_FLOAT) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: element type is float%zu; %s",
                    a->where, size * 8, g_expected);
    } else {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: element type is %s (%zu "
                    "bytes); %s", a->where,
                    cls == H5T_ENUM ? "an enum over a non-integer type"
                                    : sa_h5_class_name(cls),
                    size, g_expected);
    }
done:
    if (base >= 0)
        H5Tclose(base);
    return rc;
}

/* The tensor's checks (h5_check.c), on the labels as a (1,N,H,W)
 * tensor: the data must be stored in this file (no virtual dataset, no
 * external raw storage), decodable by this HDF5 library, and all there (a
 * truncated file, or chunks never written, would read as zeros). */
static int check_storage(SaLabelArray *a, SaErr *err)
{
    SaProbs t;
    memset(&t, 0, sizeof t);
    t.path = a->path;
    t.dataset = a->dataset;
    t.file = a->file;
    t.dset = a->dset;
    t.fspace = a->fspace;
    t.dims[0] = 1;
    for (int i = 0; i < 3; i++)
        t.dims[i + 1] = a->dims[i];
    t.file_elsize = a->itemsize;
    int rc = sa_probs_read_layout(&t, err);
    return rc ? rc : sa_probs_check_storage(&t, err);
}

static int open_h5(SaLabelArray *a, const char *dataset, SaErr *err)
{
    hid_t ft = H5I_INVALID_HID;
    hsize_t d[3];
    int rc;

    if (!(a->dataset = strdup(dataset)))
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", a->path);
    if ((rc = set_where(a, dataset, err)) != 0)
        return rc;
    a->file = sa_h5_open_readonly(a->path, "neither a NumPy .npy file nor "
                                  "an HDF5 file (label arrays are read from "
                                  "either)", err);
    if (a->file < 0) {
        rc = err->code;
        goto done;
    }
    if ((rc = sa_probs_open_dataset(a->file, a->path, dataset, 1, &a->dset,
                                    err)) != 0)
        goto done;

    a->fspace = H5Dget_space(a->dset);
    int rank = a->fspace < 0 ? -1 : H5Sget_simple_extent_ndims(a->fspace);
    if (rank < 0) {
        rc = h5_fail(err, a->path, a->dataset, "cannot read the shape");
        goto done;
    }
    if (rank != 3) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: rank %d; expected 3 (N,H,W)",
                    a->where, rank);
        goto done;
    }
    if (H5Sget_simple_extent_dims(a->fspace, d, NULL) != 3) {
        rc = h5_fail(err, a->path, a->dataset, "cannot read the shape");
        goto done;
    }
    for (int i = 0; i < 3; i++)
        a->dims[i] = d[i];
    if ((rc = check_shape(a, err)) != 0)
        goto done;

    ft = H5Dget_type(a->dset);
    if (ft < 0) {
        rc = h5_fail(err, a->path, a->dataset, "cannot read the element type");
        goto done;
    }
    if ((rc = pick_type(a, ft, err)) != 0)
        goto done;
    rc = check_storage(a, err);
done:
    if (ft >= 0)
        H5Tclose(ft);

    return rc;
}

static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO"
           : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) || S_ISBLK(m) ? "a device"
           : "not a regular file";
}

/* A new object named path, with nothing open; NULL (and the error) when
 * out of memory. */
static SaLabelArray *array_new(const char *path, SaErr *err)
{
    SaLabelArray *a = calloc(1, sizeof *a);
    if (a) {
        a->fd = -1;
        a->file = a->dset = a->fspace = H5I_INVALID_HID;
    }
    if (!a || !(a->path = strdup(path))) {
        sa_label_array_close(a);
        sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    return a;
}

int sa_label_array_open(SaLabelArray **out, const char *path,
                        const char *dataset, SaErr *err)
{
    SaLabelArray *a = NULL;
    struct stat st;
    int fd = -1, rc = 0;

    *out = NULL;
    if (!path)
        return sa_err(err, SEGAUDIT_EINVAL, "label array: no path given");
    if (!(a = array_new(path, err)))
        return err->code;

    /* O_NONBLOCK: opening a FIFO must not wait for a writer */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        rc = sa_err(err, e == ENOENT || e == ENOTDIR ? SEGAUDIT_EINPUT
                    : SEGAUDIT_EIO, "%s: cannot open: %s", path, strerror(e));
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: cannot stat: %s", path,
                    strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: not a regular file (%s)",
                    path, file_kind(st.st_mode));
        goto fail;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    unsigned char magic[sizeof g_npy_magic];
    ssize_t got;
    do
        got = pread(fd, magic, sizeof magic, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: read failed: %s", path,
                    strerror(errno));
        goto fail;
    }
    a->npy = got == (ssize_t)sizeof magic &&
             memcmp(magic, g_npy_magic, sizeof magic) == 0;
    if (a->npy) {
        if (dataset && *dataset) {
            rc = sa_err(err, SEGAUDIT_EINVAL, "%s: a .npy file holds one "
                        "array; no dataset name (':%s') can be given", path,
                        dataset);
            goto fail;
        }
        a->fd = fd;
        fd = -1;
        rc = open_npy(a, (uint64_t)st.st_size, err);
    } else {
        close(fd);
        fd = -1;
        rc = open_h5(a, dataset && *dataset ? dataset : DEFAULT_DATASET, err);
    }
    if (rc)
        goto fail;
    *out = a;
    a = NULL;
fail:
    if (fd >= 0)
        close(fd);
    sa_label_array_close(a);
    return rc;
}

int sa_label_array_open_mem(SaLabelArray **out, const SegauditArray *arr,
                            const char *name, SaErr *err)
{
    const unsigned allowed =
        1u << SEGAUDIT_DTYPE_BOOL | 1u << SEGAUDIT_DTYPE_INT8 |
        1u << SEGAUDIT_DTYPE_UINT8 | 1u << SEGAUDIT_DTYPE_INT16 |
        1u << SEGAUDIT_DTYPE_UINT16 | 1u << SEGAUDIT_DTYPE_INT32 |
        1u << SEGAUDIT_DTYPE_UINT32 | 1u << SEGAUDIT_DTYPE_INT64 |
        1u << SEGAUDIT_DTYPE_UINT64;
    SaLabelArray *a = array_new(name, err);
    int rc = 0;
    *out = NULL;
    if (!a)
        return err->code;
    if ((rc = set_where(a, NULL, err)) != 0 ||
        (rc = sa_mem_array_init(&a->marr, arr, a->where, 3, allowed,
                                g_expected, err)) != 0)
        goto fail;
    a->mem = 1;
    int t = arr->dtype;
    a->kind = t == SEGAUDIT_DTYPE_BOOL ? 'b'
              : (t == SEGAUDIT_DTYPE_INT8 || t == SEGAUDIT_DTYPE_INT16 ||
                 t == SEGAUDIT_DTYPE_INT32 || t == SEGAUDIT_DTYPE_INT64)
                  ? 'i'
                  : 'u';
    a->itemsize = (unsigned)a->marr.itemsize;
    a->big_endian = sa_host_big_endian();
    snprintf(a->type_name, sizeof a->type_name, "%s", sa_mem_dtype_name(t));
    for (int i = 0; i < 3; i++)
        a->dims[i] = arr->shape[i];
    if ((rc = check_shape(a, err)) != 0)
        goto fail;
    *out = a;
    a = NULL;
fail:
    sa_label_array_close(a);
    return rc;
}

/* ---- accessors --------------------------------------------------------- */

void sa_label_array_dims(const SaLabelArray *a, uint64_t dims[3])
{
    memcpy(dims, a->dims, sizeof a->dims);
}

int sa_label_array_signed(const SaLabelArray *a) { return a->kind == 'i'; }

const char *sa_label_array_type_name(const SaLabelArray *a)
{
    return a->type_name;
}

uint64_t sa_label_array_bytes_read(const SaLabelArray *a)
{
    return a->bytes_read;
}

/* ---- reading ----------------------------------------------------------- */

/* Makes the scratch buffer hold need bytes (its old content is not
 * kept). */
static int grow_scratch(SaLabelArray *a, size_t need, SaErr *err)
{
    if (need <= a->scap)
        return 0;
    free(a->scratch);
    a->scap = 0;
    a->scratch = malloc(need);
    if (!a->scratch)
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory for a band "
                      "of %zu bytes", a->where, need);
    a->scap = need;
    return 0;
}

static int pread_all(const SaLabelArray *a, unsigned char *buf, size_t len,
                     uint64_t at, uint64_t n, uint64_t r0, uint64_t nrows,
                     SaErr *err)
{
    while (len > 0) {
        size_t piece = len < READ_PIECE ? len : READ_PIECE;
        ssize_t got = pread(a->fd, buf, piece, (off_t)at);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return sa_err(err, SEGAUDIT_EIO, "%s: reading image %" PRIu64
                          " rows %" PRIu64 "-%" PRIu64 " failed: %s",
                          a->where, n, r0, r0 + nrows - 1, strerror(errno));
        if (got == 0)
            return sa_err(err, SEGAUDIT_EIO, "%s: reading image %" PRIu64
                          " rows %" PRIu64 "-%" PRIu64 ": the file ends at "
                          "byte %" PRIu64 " (was it shortened after it was "
                          "opened?)", a->where, n, r0, r0 + nrows - 1, at);
        buf += got;
        len -= (size_t)got;
        at += (uint64_t)got;
    }
    return 0;
}

static int read_npy(SaLabelArray *a, uint64_t n, uint64_t r0, uint64_t nrows,
                    uint16_t *dst, SaErr *err)
{
    const uint64_t H = a->dims[1], W = a->dims[2];
    const size_t count = (size_t)(nrows * W);
    const size_t bytes = count * a->itemsize;
    const uint64_t at = a->data_offset + (n * H + r0) * W * a->itemsize;
    unsigned char *buf = (unsigned char *)dst;
    int rc;

    if (a->itemsize != 2) {
        if ((rc = grow_scratch(a, bytes, err)) != 0)
            return rc;
        buf = a->scratch;
    }
    if ((rc = pread_all(a, buf, bytes, at, n, r0, nrows, err)) != 0)
        return rc;
    a->bytes_read += bytes;
    if (a->itemsize != 2)
        return convert_npy(a, buf, count, dst, n, r0, err);
    /* int16 and uint16: every value is a label, as its bits */
    if (a->big_endian != sa_host_big_endian())
        for (size_t i = 0; i < count; i++)
            dst[i] = (uint16_t)(dst[i] << 8 | dst[i] >> 8);
    return 0;
}

/* Rows of an array in memory, gathered row by row into the scratch buffer
 * (contiguous elements in the machine's order) and decoded like a .npy
 * band. */
static int read_mem(SaLabelArray *a, uint64_t n, uint64_t r0, uint64_t nrows,
                    uint16_t *dst, SaErr *err)
{
    const SaMemArray *m = &a->marr;
    const uint64_t W = a->dims[2];
    const size_t size = a->itemsize, row = (size_t)W * size;
    const int64_t sh = m->a.strides[1], sw = m->a.strides[2];
    int rc = grow_scratch(a, (size_t)nrows * row, err);
    if (rc)
        return rc;
    const unsigned char *img = (const unsigned char *)m->a.data +
                               (int64_t)n * m->a.strides[0];
    for (uint64_t r = 0; r < nrows; r++) {
        const unsigned char *src = img + (int64_t)(r0 + r) * sh;
        unsigned char *d = a->scratch + r * row;
        if (sw == (int64_t)size)
            memcpy(d, src, row);
        else
            for (uint64_t w = 0; w < W; w++, src += sw, d += size)
                memcpy(d, src, size);
    }
    a->bytes_read += (uint64_t)nrows * row;
    if (m->release) {
        const unsigned char *lo, *hi;
        sa_mem_band_span(m, n, 1, r0, nrows, -1, 0, &lo, &hi);
        sa_mem_release(m, lo, hi);
    }
    const size_t count = (size_t)(nrows * W);
    if (size != 2)
        return convert_npy(a, a->scratch, count, dst, n, r0, err);
    memcpy(dst, a->scratch, count * 2); /* every 16-bit value is a label */
    return 0;
}

static int read_h5(SaLabelArray *a, uint64_t n, uint64_t r0, uint64_t nrows,
                   uint16_t *dst, SaErr *err)
{
    char why[SA_H5_WHY_LEN];
    const uint64_t W = a->dims[2];
    const size_t count = (size_t)(nrows * W);
    const int narrow = a->itemsize <= 2;
    hsize_t start[3] = {n, r0, 0}, cnt[3] = {1, nrows, W}, mdim = count;
    hid_t mspace = H5I_INVALID_HID, memtype;
    void *into = dst;
    int rc = 0;

    sa_h5_quiet();
    if (narrow) {
        memtype = a->h5_signed ? H5T_NATIVE_INT16 : H5T_NATIVE_UINT16;
    } else {
        memtype = a->h5_signed ? H5T_NATIVE_LLONG : H5T_NATIVE_ULLONG;
        if ((rc = grow_scratch(a, count * sizeof(long long), err)) != 0)
            return rc;
        into = a->scratch;
    }
    if (H5Sselect_hyperslab(a->fspace, H5S_SELECT_SET, start, NULL, cnt,
                            NULL) < 0 ||
        (mspace = H5Screate_simple(1, &mdim, NULL)) < 0 ||
        H5Dread(a->dset, memtype, mspace, a->fspace, H5P_DEFAULT, into) < 0) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: reading image %" PRIu64 " rows %"
                    PRIu64 "-%" PRIu64 " failed%s", a->where, n, r0,
                    r0 + nrows - 1, sa_h5_why(why, sizeof why));
        goto done;
    }
    a->bytes_read += (uint64_t)count * a->itemsize;
    if (!narrow)
        rc = convert_wide(a, into, count, dst, n, r0, err);
    else if (a->kind == 'b')
        for (size_t i = 0; i < count; i++)
            dst[i] = dst[i] != 0;
    /* else: (u)int8 and (u)int16 as native int16/uint16 are labels as
     * their bits */
done:
    if (mspace >= 0)
        H5Sclose(mspace);
    return rc;
}

int sa_label_array_read(SaLabelArray *a, uint64_t n, uint64_t r0,
                        uint64_t nrows, uint16_t *dst, SaErr *err)
{
    const uint64_t N = a->dims[0], H = a->dims[1], W = a->dims[2];

    if (n >= N)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: image %" PRIu64 " out of "
                      "range (N=%" PRIu64 ")", a->where, n, N);
    if (r0 > H || nrows > H - r0)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: image %" PRIu64 ", rows %"
                      PRIu64 "+%" PRIu64 ": out of range (H=%" PRIu64 ")",
                      a->where, n, r0, nrows, H);
    if (nrows == 0)
        return 0;
    if (!dst)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: image %" PRIu64 ": no "
                      "buffer to read into", a->where, n);
    /* nrows*W < 2^32; the widest form of a band is 8 bytes a value */
    if (nrows * W > SIZE_MAX / 8)
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: a band of %" PRIu64 " "
                      "values is too large for this system", a->where,
                      nrows * W);
    if (a->mem)
        return read_mem(a, n, r0, nrows, dst, err);
    return a->npy ? read_npy(a, n, r0, nrows, dst, err)
                  : read_h5(a, n, r0, nrows, dst, err);
}

void sa_label_array_close(SaLabelArray *a)
{
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    if (a->fspace >= 0)
        H5Sclose(a->fspace);
    if (a->dset >= 0)
        H5Dclose(a->dset);
    if (a->file >= 0)
        H5Fclose(a->file);
    free(a->scratch);
    free(a->path);
    free(a->dataset);
    free(a->where);
    free(a);
}
