/* Reader of the (N,K,H,W) prediction tensor (HDF5): opening it (shape and
 * element type, after the checks of h5_check.c), the accessors, band reads
 * and the chunk cache.  The image ids are read by h5_ids.c.
 *
 * Every message starts with "<path>:<dataset>: " (or "<path>: " for problems
 * with the file itself).  HDF5's own error printing is switched off; where it
 * helps, the innermost HDF5 error description is appended in parentheses. */
#include "io/h5_probs.h"
#include "io/h5_internal.h"
#include "io/npy.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#define MAX_CLASSES 65536u
/* Each hash slot of the chunk cache costs a pointer; beyond about a million
 * slots (8 MB) a few collisions are cheaper than the table. */
#define MAX_SLOTS 1000003u

/* ---- open -------------------------------------------------------------- */


/* The stored shape read as (N,K,H,W) or, with nhwc, (N,H,W,K): no zero
 * dimension, and at most MAX_CLASSES classes. */
static int check_shape(const SaProbs *p, int nhwc, SaErr *err)
{
    static const char *const NCHW[4] = {"N", "K", "H", "W"};
    static const char *const NHWC[4] = {"N", "H", "W", "K"};
    const uint64_t *s = p->sdims;
    for (int i = 0; i < 4; i++)
        if (s[i] == 0)
            return sa_err(err, SEGAUDIT_EINPUT, "%s: dimension %d (%s) "
                          "is 0", p->where, i,
                          (nhwc ? NHWC : NCHW)[i]);
    uint64_t K = nhwc ? s[3] : s[1];
    if (K > MAX_CLASSES)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: dimension %d (K) is %"
                      PRIu64 "; at most %u classes are supported%s",
                      p->where, nhwc ? 3 : 1, K, MAX_CLASSES,
                      nhwc ? "" : s[3] <= 1024 ? " (if the classes are the "
                      "last axis, use --layout nhwc)" : "");
    return 0;
}

/* Does name (a hard link) lead to a group of file? */
static int is_group(hid_t file, const char *name)
{
    if (strcmp(name, "/") != 0 && H5Lexists(file, name, H5P_DEFAULT) <= 0)
        return 0;
    return sa_h5_object_type(file, name) == H5O_TYPE_GROUP;
}

/* Is path a NumPy .npy file (by its magic bytes)? */
static int is_npy(const char *path)
{
    unsigned char m[6] = {0};
    /* never blocks on a FIFO: anything but a regular file is left to the
     * HDF5 opener, which says what is wrong with it */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    ssize_t got = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        got = pread(fd, m, sizeof m, 0);
    close(fd);
    return got == (ssize_t)sizeof m && memcmp(m, "\x93NUMPY", 6) == 0;
}

/* Reads a scalar numeric attribute name of the dataset, if it has one:
 * 1 (and *v), 0 when absent, or an error. */
static int cf_attr(SaProbs *p, const char *name, double *v, SaErr *err)
{
    htri_t has = H5Aexists(p->dset, name);
    if (has < 0)
        return h5_fail(err, p->path, p->dataset, "cannot read attributes");
    if (!has)
        return 0;
    hid_t a = H5Aopen(p->dset, name, H5P_DEFAULT);
    hid_t sp = a < 0 ? H5I_INVALID_HID : H5Aget_space(a);
    hid_t t = a < 0 ? H5I_INVALID_HID : H5Aget_type(a);
    int ok = a >= 0 && sp >= 0 && t >= 0 &&
             H5Sget_simple_extent_npoints(sp) == 1 &&
             (H5Tget_class(t) == H5T_FLOAT || H5Tget_class(t) == H5T_INTEGER) &&
             H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    if (a >= 0)
        H5Aclose(a);
    if (!ok)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: attribute '%s' is not "
                      "one number", p->where, name);
    return 1;
}

/* The values of integers: --probs-scale, else the CF attributes
 * scale_factor and add_offset, else value / the type's largest value. */
static int set_scale(SaProbs *p, const SaProbsOpts *o, SaErr *err)
{
    SaStoreForm *f = &p->form;
    if (f->kind != 'u')
        return 0;
    f->divisor = f->size == 1 ? 255.0 : 65535.0;
    if (o && o->scale > 0) {
        f->scaled = 1;
        f->scale = o->scale;
        f->offset = 0.0;
        return 0;
    }
    if (p->npy || p->group || p->mem)
        return 0;
    double sf = 1.0, ao = 0.0;
    int a = cf_attr(p, "scale_factor", &sf, err);
    int b = a < 0 ? a : cf_attr(p, "add_offset", &ao, err);
    if (a < 0 || b < 0)
        return a < 0 ? a : b;
    if (a || b) {
        f->scaled = 1;
        f->scale = sf;
        f->offset = ao;
    }
    return 0;
}

int sa_probs_open(SaProbs **out, const char *path, const char *dataset,
                  SaErr *err)
{
    return sa_probs_open_ex(out, path, dataset, NULL, err);
}

/* A new object for path and dataset, with no handle open; NULL (and the
 * error) when out of memory. */
static SaProbs *probs_new(const char *path, const char *dataset, SaErr *err)
{
    SaProbs *p = calloc(1, sizeof *p);
    if (p) {
        p->file = p->dset = p->fspace = p->memtype = H5I_INVALID_HID;
        p->fd = -1;
    }
    if (!p || !(p->path = strdup(path)) ||
        !(p->dataset = strdup(dataset))) {
        sa_probs_close(p);
        sa_err(err, SEGAUDIT_ENOMEM, "%s%s%s: out of memory", path,
               *dataset ? ":" : "", dataset);
        return NULL;
    }
    return p;
}

int sa_probs_open_ex(SaProbs **out, const char *path, const char *dataset,
                     const SaProbsOpts *opts, SaErr *err)
{
    SaProbs *p = NULL;
    hid_t ft = H5I_INVALID_HID;
    hsize_t d[4];
    int rc = 0;

    *out = NULL;
    int npy = is_npy(path);
    if (!dataset)
        dataset = npy ? "" : "/pred_probs";
    sa_h5_quiet();

    if (!(p = probs_new(path, dataset, err))) {
        rc = err->code;
        goto fail;
    }

    snprintf(p->where, sizeof p->where, npy ? "%s" : "%s:%s", path, dataset);
    if (npy) {
        /* the default dataset name means nothing for a .npy file */
        if (*dataset && strcmp(dataset, "/pred_probs") != 0) {
            rc = sa_err(err, SEGAUDIT_EINVAL, "%s: a .npy file holds one "
                        "array; no dataset name (':%s') can be given", path,
                        dataset);
            goto fail;
        }
        if ((rc = sa_npy_probs_open(p, err)) != 0)
            goto fail;
        goto shaped;
    }

    if ((rc = sa_probs_open_file(p, err)) != 0)
        goto fail;
    if (is_group(p->file, dataset)) {
        if ((rc = sa_probs_open_group(p, err)) != 0)
            goto fail;
        goto shaped;
    }
    if ((rc = sa_probs_open_dataset(p->file, path, dataset, 1, &p->dset,
                                    err)) != 0)
        goto fail;

    p->fspace = H5Dget_space(p->dset);
    int rank = p->fspace < 0 ? -1 : H5Sget_simple_extent_ndims(p->fspace);
    if (rank < 0) {
        rc = h5_fail(err, path, dataset, "cannot read the shape");
        goto fail;
    }
    if (rank != 4) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: rank %d, expected 4 "
                    "(N,K,H,W), or (N,H,W,K) with --layout nhwc", path,
                    dataset, rank);
        goto fail;
    }
    if (H5Sget_simple_extent_dims(p->fspace, d, NULL) != 4) {
        rc = h5_fail(err, path, dataset, "cannot read the shape");
        goto fail;
    }
    for (int i = 0; i < 4; i++)
        p->sdims[i] = p->dims[i] = d[i];
    if ((rc = check_shape(p, opts && opts->nhwc, err)) != 0)
        goto fail;

    ft = H5Dget_type(p->dset);
    if (ft < 0) {
        rc = h5_fail(err, path, dataset, "cannot read the element type");
        goto fail;
    }
    if ((rc = sa_probs_pick_memtype(p, ft, err)) != 0)
        goto fail;
    if ((rc = sa_probs_read_layout(p, err)) != 0)
        goto fail;
    if ((rc = sa_probs_check_storage(p, err)) != 0)
        goto fail;
    sa_probs_check_native(p, ft);

shaped:
    if ((rc = set_scale(p, opts, err)) != 0)
        goto fail;
    if ((rc = sa_probs_set_layout(p, opts ? opts->nhwc : 0, err)) != 0)
        goto fail;

    *out = p;
    p = NULL;
fail:
    if (ft >= 0)
        H5Tclose(ft);
    sa_probs_close(p);
    return rc;
}

int sa_probs_open_array(SaProbs **out, const SegauditArray *arr,
                        const char *name, const SaProbsOpts *opts, SaErr *err)
{
    SaProbs *p = probs_new(name, "", err);
    int rc = 0;
    *out = NULL;
    if (!p)
        return err->code;
    snprintf(p->where, sizeof p->where, "%s", name);
    if ((rc = sa_mem_probs_open(p, arr, err)) != 0 ||
        (rc = set_scale(p, opts, err)) != 0 ||
        (rc = sa_probs_set_layout(p, opts ? opts->nhwc : 0, err)) != 0)
        goto fail;
    *out = p;
    p = NULL;
fail:
    sa_probs_close(p);
    return rc;
}

int sa_probs_set_layout(SaProbs *p, int nhwc, SaErr *err)
{
    if (p->group) {
        int rc = sa_probs_group_layout(p, nhwc, err);
        if (rc)
            return rc;
        if (p->dims[1] > MAX_CLASSES)
            return sa_err(err, SEGAUDIT_EINPUT, "%s: %" PRIu64 " classes; "
                          "at most %u are supported", p->where,
                          p->dims[1], MAX_CLASSES);
        p->form.nhwc = nhwc;
        p->convert = sa_store_needs_convert(&p->form);
        snprintf(p->described, sizeof p->described, "%s%s", p->layout,
                 nhwc ? ", channels-last (H,W,K)" : "");
        return 0;
    }
    int rc = check_shape(p, nhwc, err);
    if (rc)
        return rc;
    const uint64_t *s = p->sdims;
    uint64_t K = nhwc ? s[3] : s[1];
    p->dims[0] = s[0];
    p->dims[1] = K;
    p->dims[2] = nhwc ? s[1] : s[2];
    p->dims[3] = nhwc ? s[2] : s[3];
    p->form.nhwc = nhwc;
    p->convert = sa_store_needs_convert(&p->form);
    snprintf(p->described, sizeof p->described, "%s%s", p->layout,
             nhwc ? ", channels-last (N,H,W,K)" : "");
    sa_probs_direct_setup(p);
    return 0;
}

void sa_probs_stored_shape(const SaProbs *p, uint64_t sdims[4])
{
    memcpy(sdims, p->sdims, sizeof p->sdims);
}

/* ---- accessors --------------------------------------------------------- */

void sa_probs_dims(const SaProbs *p, uint64_t dims[4])
{
    memcpy(dims, p->dims, sizeof p->dims);
    if (p->up) {
        dims[2] *= p->up;
        dims[3] *= p->up;
    }
}

SaDtype sa_probs_dtype(const SaProbs *p) { return p->up ? SA_F64 : p->dtype; }

int sa_probs_per_image(const SaProbs *p) { return p->group; }

const char *sa_probs_where(const SaProbs *p) { return p->where; }

void sa_probs_image_size(const SaProbs *p, uint64_t n, uint64_t *h,
                         uint64_t *w)
{
    if (p->group) {
        *h = p->gh[n];
        *w = p->gw[n];
    } else {
        uint32_t s = p->up ? p->up : 1;
        *h = p->dims[2] * s;
        *w = p->dims[3] * s;
    }
}

size_t sa_probs_elsize(const SaProbs *p) { return p->up ? 8 : p->elsize; }

int sa_probs_set_upsample(SaProbs *p, uint32_t s, int mode, SaErr *err)
{
    if (p->group)
        return sa_err(err, SEGAUDIT_EINVAL, "%s:%s: predictions stored one "
                      "dataset per image cannot be upsampled", p->path,
                      p->dataset);
    if (s < 2 || (mode != SA_UP_BILINEAR && mode != SA_UP_NEAREST) ||
        p->dims[2] > UINT64_MAX / s || p->dims[3] > UINT64_MAX / s)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: cannot upsample by %u",
                      p->where, s);
    p->up = s;
    p->up_mode = mode;
    return 0;
}

const char *sa_probs_dtype_name(const SaProbs *p)
{
    if (p->form.kind == 'u')
        return p->form.size == 1 ? "uint8" : "uint16";
    switch (p->dtype) {
    case SA_F16: return "float16";
    case SA_F32: return "float32";
    default: return "float64";
    }
}

const char *sa_probs_layout(const SaProbs *p) { return p->described; }

int sa_probs_nhwc(const SaProbs *p) { return p->form.nhwc; }

int sa_probs_quantised(const SaProbs *p) { return p->form.kind == 'u'; }

void sa_probs_scale(const SaProbs *p, double *scale, double *offset)
{
    const SaStoreForm *f = &p->form;
    *scale = f->kind != 'u' ? 1.0 : f->scaled ? f->scale : 1.0 / f->divisor;
    *offset = f->kind == 'u' && f->scaled ? f->offset : 0.0;
}

uint64_t sa_probs_chunk_rows(const SaProbs *p)
{
    return p->chunk[p->form.nhwc ? 1 : 2];
}

/* ---- reading ----------------------------------------------------------- */

static int read_stored(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                       void *dst, SaErr *err);

int sa_probs_read_band(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                       void *dst, SaErr *err)
{
    if (!p->up)
        return read_stored(p, n, r0, nrows, dst, err);
    const uint64_t H = p->dims[2] * p->up;
    if (r0 > H || nrows > H - r0 || !dst)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: reading image %" PRIu64
                      " rows %" PRIu64 "+%" PRIu64 ": %s (H=%" PRIu64 ")",
                      p->where, n, r0, nrows,
                      dst ? "out of range" : "no buffer", H);
    if (nrows == 0)
        return 0;
    uint64_t l0, ln;
    sa_upsample_rows(p->up_mode, p->up, p->dims[2], r0, nrows, &l0, &ln);
    size_t need = (size_t)(p->dims[1] * ln * p->dims[3] * p->elsize);
    if (p->scratch.lcap < need) {
        void *nb = realloc(p->scratch.lbuf, need);
        if (!nb)
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        p->scratch.lbuf = nb;
        p->scratch.lcap = need;
    }
    int rc = read_stored(p, n, l0, ln, p->scratch.lbuf, err);
    if (rc == 0)
        sa_upsample_band(p->up_mode, p->up, p->dtype, p->scratch.lbuf, l0, ln,
                         p->dims[2], p->dims[3], p->dims[1], r0, nrows, dst);
    return rc;
}

/* Stored rows [r0, r0+nrows) of image n, in the stored resolution. */
static int read_stored(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                       void *dst, SaErr *err)
{
    const uint64_t N = p->dims[0], K = p->dims[1];
    uint64_t H = p->dims[2], W = p->dims[3];
    char why[SA_H5_WHY_LEN];
    hid_t mspace = H5I_INVALID_HID;
    int rc = 0;

    if (p->group && n < N) {
        H = p->gh[n];
        W = p->gw[n];
    }
    if (n >= N) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: image %" PRIu64 " out of "
                    "range (N=%" PRIu64 ")", p->where, n, N);
        goto fail;
    }
    if (r0 > H || nrows > H - r0 || !dst) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: reading image %" PRIu64
                    " rows %" PRIu64 "+%" PRIu64 ": %s (H=%" PRIu64 ")",
                    p->where, n, r0, nrows,
                    dst ? "out of range" : "no buffer", H);
        goto fail;
    }
    if (nrows == 0)
        goto fail; /* nothing to read */
    if (p->direct)
        return sa_probs_direct_read(p, n, r0, nrows, dst, err);
    if (p->group && (rc = sa_probs_group_select(p, n, err)) != 0)
        goto fail;
    if (p->dset < 0) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: reading image %" PRIu64
                    " failed (dataset not open after a failed reopen)",
                    p->where, n);
        goto fail;
    }

    hsize_t start[4] = {n, 0, r0, 0};
    hsize_t count[4] = {1, K, nrows, W};
    hsize_t mdims[3] = {K, nrows, W};
    void *into = dst;
    if (p->form.nhwc) {
        start[1] = r0;
        start[2] = 0;
        count[1] = mdims[0] = nrows;
        count[2] = mdims[1] = W;
        count[3] = mdims[2] = K;
    }
    if (p->convert) {
        /* HDF5 converts the type and byte order; the rest is done below */
        size_t need = (size_t)(K * nrows * W * p->elsize);
        if (p->scratch.ucap < need) {
            void *nb = realloc(p->scratch.ubuf, need);
            if (!nb) {
                rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
                goto fail;
            }
            p->scratch.ubuf = nb;
            p->scratch.ucap = need;
        }
        into = p->scratch.ubuf;
    }
    /* one image's dataset: the same selection without the image axis */
    const int g = p->group ? 1 : 0;
    if (H5Sselect_hyperslab(p->fspace, H5S_SELECT_SET, start + g, NULL,
                            count + g, NULL) < 0 ||
        (mspace = H5Screate_simple(3, mdims, NULL)) < 0 ||
        H5Dread(p->dset, p->memtype, mspace, p->fspace, H5P_DEFAULT, into) < 0)
        rc = sa_err(err, SEGAUDIT_EIO, "%s:%s: reading image %" PRIu64
                    " rows %" PRIu64 "-%" PRIu64 " failed%s", p->path,
                    p->dataset, n, r0, r0 + nrows - 1,
                    sa_h5_why(why, sizeof why));
    else {
        p->bytes_read += K * nrows * W * p->file_elsize;
        if (p->convert) {
            SaStoreForm f = p->form;
            f.kind = f.kind == 'u' ? 'd' : 'f';
            f.size = (unsigned)p->elsize;
            f.swap = 0;
            sa_convert_band(&f, into, dst, K, nrows, W);
        }
    }
fail:
    if (mspace >= 0)
        H5Sclose(mspace);
    return rc;
}

static uint64_t next_prime(uint64_t n)
{
    if (n <= 2)
        return 2;
    for (n |= 1;; n += 2) {
        uint64_t d = 3;
        while (d * d <= n && n % d != 0)
            d += 2;
        if (d * d > n)
            return n;
    }
}

int sa_probs_plan_band_rows(SaProbs *p, uint64_t nrows, SaErr *err)
{
    const uint64_t *c = p->chunk;
    char why[SA_H5_WHY_LEN];
    hid_t dapl = H5I_INVALID_HID;
    int rc = 0;

    if (c[0] == 0 || nrows == 0)
        goto fail; /* contiguous: no chunk cache involved */
    if (p->up)
        nrows = nrows / p->up + 2; /* stored rows of a band */

    /* A band of nrows rows starting anywhere touches at most
     * ceil(nrows/cH)+1 chunk rows (never more than the image has), times
     * the chunks across the other two axes. */
    const int rd = p->form.nhwc ? 1 : 2;
    const uint64_t *s = p->sdims;
    uint64_t rows = ceil_div(nrows, c[rd]) + 1;
    if (rows > ceil_div(s[rd], c[rd]))
        rows = ceil_div(s[rd], c[rd]);
    uint64_t nchunks = rows;
    for (int i = 1; i < 4; i++)
        if (i != rd)
            nchunks = mul_sat(nchunks, ceil_div(s[i], c[i]));
    size_t el = p->elsize > p->file_elsize ? p->elsize : p->file_elsize;
    uint64_t chunk_bytes = mul_sat(mul_sat(mul_sat(c[0], c[1]),
                                           mul_sat(c[2], c[3])), el);
    uint64_t bytes = mul_sat(nchunks, chunk_bytes);
    if (bytes > SIZE_MAX)
        bytes = SIZE_MAX;
    uint64_t slots = mul_sat(nchunks, 100);
    slots = slots > MAX_SLOTS ? MAX_SLOTS : next_prime(slots);

    dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl < 0 ||
        H5Pset_chunk_cache(dapl, (size_t)slots, (size_t)bytes, 1.0) < 0) {
        rc = h5_fail(err, p->path, p->dataset,
                     "cannot set up the chunk cache");
        goto fail;
    }
    /* All handles of an open dataset share one chunk cache, sized at the
     * first open: the old handle must be closed before reopening. */
    if (p->dset >= 0)
        H5Dclose(p->dset);
    p->dset = H5Dopen2(p->file, p->dataset, dapl);
    if (p->dset < 0) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: cannot reopen with a %" PRIu64
                    "-byte chunk cache%s", p->where, bytes,
                    sa_h5_why(why, sizeof why));
        /* Keep the object usable with the default cache if possible. */
        p->dset = H5Dopen2(p->file, p->dataset, H5P_DEFAULT);
    }
fail:
    if (dapl >= 0)
        H5Pclose(dapl);
    return rc;
}

uint64_t sa_probs_bytes_read(const SaProbs *p) { return p->bytes_read; }

const char *sa_probs_read_path(const SaProbs *p)
{
    return p->direct ? "direct" : "hdf5";
}

void sa_probs_close(SaProbs *p)
{
    if (!p)
        return;
    sa_probs_direct_close(p);
    sa_probs_group_free(p);
    if (p->memtype >= 0)
        H5Tclose(p->memtype);
    if (p->fspace >= 0)
        H5Sclose(p->fspace);
    if (p->dset >= 0)
        H5Dclose(p->dset);
    if (p->file >= 0)
        H5Fclose(p->file);
    free(p->path);
    free(p->dataset);
    free(p);
}
