/* Reader of the (N,K,H,W) prediction tensor and the image ids (HDF5).
 *
 * Every message starts with "<path>:<dataset>: " (or "<path>: " for problems
 * with the file itself).  HDF5's own error printing is switched off; where it
 * helps, the innermost HDF5 error description is appended in parentheses. */
#include "io/h5_probs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#define MAX_CLASSES 65536u
/* Each hash slot of the chunk cache costs a pointer; beyond about a million
 * slots (8 MB) a few collisions are cheaper than the table. */
#define MAX_SLOTS 1000003u
#define WHY_LEN 320

struct SaProbs {
    char *path;
    char *dataset;
    hid_t file;
    hid_t dset;
    hid_t fspace;       /* file dataspace, reused for every hyperslab */
    hid_t memtype;      /* always a copy, so it can always be closed */
    uint64_t dims[4];
    uint64_t chunk[4];  /* all 0 unless chunked */
    SaDtype dtype;
    size_t elsize;      /* bytes per element in memory */
    size_t file_elsize; /* bytes per element in the file */
    char layout[256];
};

static const char *const DIM_NAMES[4] = {"N", "K", "H", "W"};

/* ---- HDF5 error stack -------------------------------------------------- */

typedef struct WhyCtx {
    char desc[WHY_LEN - 4];
    hid_t min_num;
} WhyCtx;

static herr_t why_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    WhyCtx *w = data;
    /* Walking upward, entry 0 is where the error was detected: the most
     * specific description ("No such file", "can't read data", ...). */
    if (n == 0) {
        if (e->desc)
            snprintf(w->desc, sizeof w->desc, "%s", e->desc);
        w->min_num = e->min_num;
    }
    return 0;
}

/* " (<innermost HDF5 error>)" or "".  Must run right after the failing call:
 * the next HDF5 API call clears the stack. */
static const char *h5_why(char *buf, size_t size)
{
    WhyCtx w = {"", H5I_INVALID_HID};

    buf[0] = '\0';
    if (H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, why_cb, &w) < 0)
        return buf;
    if (w.desc[0] == '\0' && w.min_num >= 0)
        H5Eget_msg(w.min_num, NULL, w.desc, sizeof w.desc);
    if (w.desc[0] != '\0')
        snprintf(buf, size, " (%s)", w.desc);
    return buf;
}

/* Reports an HDF5 failure "<path>:<ds>: <what> (<hdf5 reason>)" as EIO. */
static int h5_fail(SaErr *err, const char *path, const char *ds,
                   const char *what)
{
    char why[WHY_LEN];
    return sa_err(err, SEGAUDIT_EIO, "%s:%s: %s%s", path, ds, what,
                  h5_why(why, sizeof why));
}

/* ---- small helpers ----------------------------------------------------- */

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length sequence";
    case H5T_ARRAY: return "array";
    default: return "unknown";
    }
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

/* a*b, saturating instead of wrapping. */
static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    return (a != 0 && b > UINT64_MAX / a) ? UINT64_MAX : a * b;
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

/* 1 when name exists, 0 when not, -1 on an HDF5 failure, -2 out of memory.
 * Checks every component: H5Lexists("/a/b") fails rather than returning 0
 * when "/a" is missing. */
static int link_exists(hid_t file, const char *name)
{
    size_t len = strlen(name);
    char *part = malloc(len + 1);
    int r = 1;

    if (!part)
        return -2;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && name[i] != '/')
            continue;
        if (i == 0 || name[i - 1] == '/')
            continue; /* leading or doubled slash: no component */
        memcpy(part, name, i);
        part[i] = '\0';
        htri_t e = H5Lexists(file, part, H5P_DEFAULT);
        if (e <= 0) {
            r = e < 0 ? -1 : 0;
            break;
        }
    }
    free(part);
    return r;
}

/* Opens name as a dataset, with messages for "missing" and "not a dataset".
 * A missing dataset is reported only when report_missing; else *out stays
 * invalid and 0 is returned. */
static int open_dataset(hid_t file, const char *path, const char *name,
                        int report_missing, hid_t *out, SaErr *err)
{
    char why[WHY_LEN];
    hid_t obj = H5I_INVALID_HID;
    int rc = 0;

    *out = H5I_INVALID_HID;
    int e = link_exists(file, name);
    if (e == -2) {
        rc = sa_err(err, SEGAUDIT_ENOMEM, "%s:%s: out of memory", path, name);
        goto fail;
    }
    if (e <= 0) {
        /* e < 0: a component is not a group; HDF5's reason ("message type
         * not found") would only confuse. */
        if (report_missing)
            rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: no such dataset", path,
                        name);
        goto fail;
    }
    H5L_info_t li;
    if (H5Lget_info(file, name, &li, H5P_DEFAULT) >= 0 &&
        li.type == H5L_TYPE_EXTERNAL) {
        /* the data would come from another file, which nobody checked */
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: is an external link to "
                    "another file; external links are refused (copy the "
                    "dataset into this file)", path, name);
        goto fail;
    }
    obj = H5Oopen(file, name, H5P_DEFAULT);
    if (obj < 0) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: cannot open%s", path, name,
                    h5_why(why, sizeof why));
        goto fail;
    }
    H5I_type_t t = H5Iget_type(obj);
    if (t != H5I_DATASET) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: is not a dataset (a %s)",
                    path, name,
                    t == H5I_GROUP ? "group"
                    : t == H5I_DATATYPE ? "named datatype" : "other object");
        goto fail;
    }
    *out = obj;
    obj = H5I_INVALID_HID;
fail:
    if (obj >= 0)
        H5Oclose(obj);
    return rc;
}

/* ---- open -------------------------------------------------------------- */

/* Chooses the memory type for the file type ft (sets dtype, elsize). */
static int pick_memtype(SaProbs *p, hid_t ft, SaErr *err)
{
    const char *expect = "expected float16, float32 or float64";
    H5T_class_t cls = H5Tget_class(ft);
    size_t size = H5Tget_size(ft);

    if (cls < 0 || size == 0)
        return h5_fail(err, p->path, p->dataset,
                       "cannot read the element type");
    if (cls != H5T_FLOAT)
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%s: element type is %s; %s",
                      p->path, p->dataset, class_name(cls), expect);
    p->file_elsize = size;
    if (size == 4) {
        p->dtype = SA_F32;
        p->memtype = H5Tcopy(H5T_NATIVE_FLOAT);
    } else if (size == 8) {
        p->dtype = SA_F64;
        p->memtype = H5Tcopy(H5T_NATIVE_DOUBLE);
    } else if (size == 2) {
        size_t spos, epos, esize, mpos, msize;
        if (H5Tget_fields(ft, &spos, &epos, &esize, &mpos, &msize) < 0)
            return h5_fail(err, p->path, p->dataset,
                           "cannot read the float layout");
        size_t ebias = H5Tget_ebias(ft);
        size_t prec = H5Tget_precision(ft);
        int off = H5Tget_offset(ft);
        H5T_norm_t norm = H5Tget_norm(ft);
        /* The engine decodes the raw bits itself, so only the exact IEEE
         * binary16 layout (what h5py writes) is acceptable. */
        if (spos == 15 && epos == 7 && esize == 8 && mpos == 0 && msize == 7)
            return sa_err(err, SEGAUDIT_EINPUT, "%s:%s: element type is "
                          "bfloat16; %s", p->path, p->dataset, expect);
        if (spos != 15 || epos != 10 || esize != 5 || mpos != 0 ||
            msize != 10 || ebias != 15 || prec != 16 || off != 0 ||
            norm != H5T_NORM_IMPLIED)
            return sa_err(err, SEGAUDIT_EINPUT, "%s:%s: element type is a "
                          "16-bit float that is not IEEE half (sign bit %zu, "
                          "exponent %zu bits at %zu with bias %zu, mantissa "
                          "%zu bits at %zu); %s", p->path, p->dataset, spos,
                          esize, epos, ebias, msize, mpos, expect);
        p->dtype = SA_F16;
        /* Same type in native byte order: HDF5 then copies (or byte-swaps)
         * the 16 bits without any value conversion. */
        p->memtype = H5Tcopy(ft);
        if (p->memtype >= 0 &&
            H5Tset_order(p->memtype, H5Tget_order(H5T_NATIVE_FLOAT)) < 0)
            return h5_fail(err, p->path, p->dataset,
                           "cannot set up the float16 memory type");
    } else {
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%s: element type is a "
                      "%zu-bit float; %s", p->path, p->dataset, size * 8,
                      expect);
    }
    if (p->memtype < 0)
        return h5_fail(err, p->path, p->dataset,
                       "cannot create the memory type");
    p->elsize = H5Tget_size(p->memtype);
    return 0;
}

/* Fills p->layout and p->chunk; refuses filters HDF5 cannot decode. */
static int read_layout(SaProbs *p, SaErr *err)
{
    char why[WHY_LEN];
    hid_t dcpl = H5Dget_create_plist(p->dset);
    size_t cap = sizeof p->layout, used;
    int rc = 0;

    if (dcpl < 0) {
        rc = h5_fail(err, p->path, p->dataset,
                     "cannot read the storage layout");
        goto fail;
    }
    switch (H5Pget_layout(dcpl)) {
    case H5D_CHUNKED: {
        hsize_t c[4];
        if (H5Pget_chunk(dcpl, 4, c) != 4) {
            rc = h5_fail(err, p->path, p->dataset,
                         "cannot read the chunk shape");
            goto fail;
        }
        for (int i = 0; i < 4; i++)
            p->chunk[i] = c[i];
        snprintf(p->layout, cap, "chunked (%" PRIu64 ",%" PRIu64 ",%" PRIu64
                 ",%" PRIu64 ")", p->chunk[0], p->chunk[1], p->chunk[2],
                 p->chunk[3]);
        break;
    }
    case H5D_CONTIGUOUS: snprintf(p->layout, cap, "contiguous"); break;
    case H5D_COMPACT: snprintf(p->layout, cap, "compact"); break;
    case H5D_VIRTUAL:
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: is a virtual dataset (its "
                    "data live in other files); virtual datasets are refused "
                    "(copy the data into one dataset)", p->path, p->dataset);
        goto fail;
    default: snprintf(p->layout, cap, "unknown layout"); break;
    }
    if (H5Pget_external_count(dcpl) > 0) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: keeps its data in external "
                    "raw files; external storage is refused", p->path,
                    p->dataset);
        goto fail;
    }

    int nf = H5Pget_nfilters(dcpl);
    if (nf < 0) {
        rc = h5_fail(err, p->path, p->dataset,
                     "cannot read the filter pipeline");
        goto fail;
    }
    for (int i = 0; i < nf; i++) {
        unsigned flags, config;
        size_t ncd = 0;
        char name[80] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd,
                                         NULL, sizeof name, name, &config);
        if (id < 0) {
            rc = sa_err(err, SEGAUDIT_EIO, "%s:%s: cannot read filter %d%s",
                        p->path, p->dataset, i, h5_why(why, sizeof why));
            goto fail;
        }
        name[sizeof name - 1] = '\0';
        if (name[0] == '\0')
            snprintf(name, sizeof name, "filter %d", (int)id);
        if (H5Zfilter_avail(id) <= 0) {
            rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: stored with HDF5 filter "
                        "'%s' (id %d), which this HDF5 library cannot decode "
                        "(is its plugin installed? see HDF5_PLUGIN_PATH)",
                        p->path, p->dataset, name, (int)id);
            goto fail;
        }
        used = strlen(p->layout);
        snprintf(p->layout + used, cap - used, "%s%s", i == 0 ? " " : "+",
                 name);
    }
fail:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return rc;
}

/* A dataset whose data cannot all be in the file (a truncated file, a
 * header that claims more than was written) is refused here rather than
 * read as fill values or failing at image 2,900. */
static int check_storage(SaProbs *p, SaErr *err)
{
    hsize_t fsize = 0;
    if (H5Fget_filesize(p->file, &fsize) < 0)
        return h5_fail(err, p->path, p->dataset, "cannot read the file size");
    uint64_t n = mul_sat(mul_sat(p->dims[0], p->dims[1]),
                         mul_sat(p->dims[2], p->dims[3]));
    uint64_t need = mul_sat(n, p->file_elsize);
    if (p->chunk[0] == 0) {
        haddr_t off = H5Dget_offset(p->dset);
        if (off == HADDR_UNDEF)
            return sa_err(err, SEGAUDIT_EINPUT, "%s:%s: holds no data (the "
                          "dataset was created but never written)", p->path,
                          p->dataset);
        if (off > fsize || need > fsize - off)
            return sa_err(err, SEGAUDIT_EINPUT, "%s:%s: needs %" PRIu64
                          " bytes from offset %" PRIu64 " but the file has "
                          "only %" PRIu64 " bytes (truncated?)",
                          p->path, p->dataset, need, (uint64_t)off,
                          (uint64_t)fsize);
        return 0;
    }
    hsize_t nchunks = 0;
    uint64_t want = 1;
    for (int i = 0; i < 4; i++)
        want = mul_sat(want, ceil_div(p->dims[i], p->chunk[i]));
    if (H5Dget_num_chunks(p->dset, p->fspace, &nchunks) >= 0 &&
        (uint64_t)nchunks < want)
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%s: only %" PRIu64 " of its "
                      "%" PRIu64 " chunks were written (the rest would read "
                      "as zeros)", p->path, p->dataset, (uint64_t)nchunks,
                      want);
    if (H5Dget_storage_size(p->dset) > fsize)
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%s: its chunks take %" PRIu64
                      " bytes but the file has only %" PRIu64 " (truncated?)",
                      p->path, p->dataset,
                      (uint64_t)H5Dget_storage_size(p->dset),
                      (uint64_t)fsize);
    return 0;
}

/* HDF5's exit-time cleanup crashes (HDF5 1.10.8) when a file it failed to
 * close is still in its tables, turning an error exit into SIGSEGV; the
 * process frees everything anyway.  Must come before the first HDF5 call. */
void sa_h5_init(void)
{
    static int done;
    if (!done) {
        done = 1;
        H5dont_atexit();
    }
}

void sa_probs_allow_plugins(int allow)
{
    sa_h5_init();
    /* HDF5 loads filter plugins from HDF5_PLUGIN_PATH on demand: code from
     * anywhere on that path would run on untrusted input */
    H5PLset_loading_state(allow ? H5PL_ALL_PLUGIN : 0);
}

/* Opens the file read-only after checking that it is a readable HDF5 file,
 * so that the common mistakes get a plain message. */
static int open_file(SaProbs *p, SaErr *err)
{
    char why[WHY_LEN];
    struct stat st;
    hid_t fapl = H5I_INVALID_HID;
    int rc = 0;

    if (stat(p->path, &st) != 0) {
        int e = errno;
        rc = sa_err(err, e == ENOENT || e == ENOTDIR ? SEGAUDIT_EINPUT
                    : SEGAUDIT_EIO, "%s: cannot open: %s", p->path,
                    strerror(e));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: not a regular file", p->path);
        goto fail;
    }
    int fd = open(p->path, O_RDONLY);
    if (fd < 0) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: cannot open: %s", p->path,
                    strerror(errno));
        goto fail;
    }
    close(fd);
    htri_t is = H5Fis_hdf5(p->path);
    if (is == 0) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: not an HDF5 file", p->path);
        goto fail;
    }
    if (is < 0) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: cannot open%s", p->path,
                    h5_why(why, sizeof why));
        goto fail;
    }
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s: cannot open%s", p->path,
                    h5_why(why, sizeof why));
        goto fail;
    }
#if H5_VERSION_GE(1, 10, 7) && !(H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 12 && \
                                 H5_VERS_RELEASE == 0)
    /* Read-only: a filesystem without locks (NFS, Lustre) is no reason to
     * refuse the file. */
    H5Pset_file_locking(fapl, 1, 1);
#endif
    p->file = H5Fopen(p->path, H5F_ACC_RDONLY, fapl);
    if (p->file < 0)
        rc = sa_err(err, SEGAUDIT_EIO, "%s: cannot open as HDF5%s", p->path,
                    h5_why(why, sizeof why));
fail:
    if (fapl >= 0)
        H5Pclose(fapl);
    return rc;
}

int sa_probs_open(SaProbs **out, const char *path, const char *dataset,
                  SaErr *err)
{
    SaProbs *p = NULL;
    hid_t ft = H5I_INVALID_HID;
    hsize_t d[4];
    int rc = 0;

    *out = NULL;
    if (!dataset)
        dataset = "/pred_probs";
    sa_h5_init();
    /* Our messages replace HDF5's stack dumps on stderr. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    p = calloc(1, sizeof *p);
    if (p)
        p->file = p->dset = p->fspace = p->memtype = H5I_INVALID_HID;
    if (!p || !(p->path = strdup(path)) ||
        !(p->dataset = strdup(dataset))) {
        rc = sa_err(err, SEGAUDIT_ENOMEM, "%s:%s: out of memory", path,
                    dataset);
        goto fail;
    }

    if ((rc = open_file(p, err)) != 0)
        goto fail;
    if ((rc = open_dataset(p->file, path, dataset, 1, &p->dset, err)) != 0)
        goto fail;

    p->fspace = H5Dget_space(p->dset);
    int rank = p->fspace < 0 ? -1 : H5Sget_simple_extent_ndims(p->fspace);
    if (rank < 0) {
        rc = h5_fail(err, path, dataset, "cannot read the shape");
        goto fail;
    }
    if (rank != 4) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: rank %d, expected 4 "
                    "(N,K,H,W)", path, dataset, rank);
        goto fail;
    }
    if (H5Sget_simple_extent_dims(p->fspace, d, NULL) != 4) {
        rc = h5_fail(err, path, dataset, "cannot read the shape");
        goto fail;
    }
    for (int i = 0; i < 4; i++) {
        p->dims[i] = d[i];
        if (d[i] == 0) {
            rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: dimension %d (%s) is 0",
                        path, dataset, i, DIM_NAMES[i]);
            goto fail;
        }
    }
    if (p->dims[1] > MAX_CLASSES) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: dimension 1 (K) is %" PRIu64
                    "; at most %u classes are supported", path, dataset,
                    p->dims[1], MAX_CLASSES);
        goto fail;
    }

    ft = H5Dget_type(p->dset);
    if (ft < 0) {
        rc = h5_fail(err, path, dataset, "cannot read the element type");
        goto fail;
    }
    if ((rc = pick_memtype(p, ft, err)) != 0)
        goto fail;
    if ((rc = read_layout(p, err)) != 0)
        goto fail;
    if ((rc = check_storage(p, err)) != 0)
        goto fail;

    *out = p;
    p = NULL;
fail:
    if (ft >= 0)
        H5Tclose(ft);
    sa_probs_close(p);
    return rc;
}

/* ---- accessors --------------------------------------------------------- */

void sa_probs_dims(const SaProbs *p, uint64_t dims[4])
{
    memcpy(dims, p->dims, sizeof p->dims);
}

SaDtype sa_probs_dtype(const SaProbs *p) { return p->dtype; }

size_t sa_probs_elsize(const SaProbs *p) { return p->elsize; }

const char *sa_probs_dtype_name(const SaProbs *p)
{
    switch (p->dtype) {
    case SA_F16: return "float16";
    case SA_F32: return "float32";
    default: return "float64";
    }
}

const char *sa_probs_layout(const SaProbs *p) { return p->layout; }

uint64_t sa_probs_chunk_rows(const SaProbs *p) { return p->chunk[2]; }

/* ---- image ids --------------------------------------------------------- */

void sa_free_ids(char **ids, uint64_t n)
{
    if (!ids)
        return;
    for (uint64_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int sa_probs_read_ids(SaProbs *p, const char *ids_dataset, char ***ids_out,
                      int *found, SaErr *err)
{
    const char *name = ids_dataset ? ids_dataset : "/image_ids";
    const uint64_t n = p->dims[0];
    hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID;
    hid_t ft = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    char **vbuf = NULL; /* variable-length read buffer */
    char *fbuf = NULL;  /* fixed-length read buffer */
    char **ids = NULL;
    hsize_t len = 0;
    int rc = 0, must_reclaim = 0;

    *ids_out = NULL;
    *found = 0;
    if ((rc = open_dataset(p->file, p->path, name, ids_dataset != NULL,
                           &dset, err)) != 0 || dset < 0)
        goto fail;

    space = H5Dget_space(dset);
    int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    if (rank < 0) {
        rc = h5_fail(err, p->path, name, "cannot read the shape");
        goto fail;
    }
    if (rank != 1) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: rank %d, expected 1 (one "
                    "id per image)", p->path, name, rank);
        goto fail;
    }
    H5Sget_simple_extent_dims(space, &len, NULL);
    if (len != n) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: has %" PRIu64 " ids but the "
                    "tensor has N=%" PRIu64 " images", p->path, name,
                    (uint64_t)len, n);
        goto fail;
    }
    ft = H5Dget_type(dset);
    H5T_class_t cls = ft < 0 ? H5T_NO_CLASS : H5Tget_class(ft);
    if (cls < 0) {
        rc = h5_fail(err, p->path, name, "cannot read the element type");
        goto fail;
    }
    if (cls != H5T_STRING) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: element type is %s; "
                    "expected strings", p->path, name, class_name(cls));
        goto fail;
    }
    htri_t vlen = H5Tis_variable_str(ft);
    size_t fsize = H5Tget_size(ft);
    if (vlen < 0 || fsize == 0) {
        rc = h5_fail(err, p->path, name, "cannot read the string type");
        goto fail;
    }
    if (vlen > 0) {
        mt = H5Tcopy(H5T_C_S1);
        if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 ||
            H5Tset_cset(mt, H5Tget_cset(ft)) < 0) {
            rc = h5_fail(err, p->path, name, "cannot set up the string type");
            goto fail;
        }
        vbuf = calloc(n, sizeof *vbuf);
    } else {
        /* A copy of the file type: same size and padding, so HDF5 copies
         * the bytes as they are and the trimming below is ours. */
        mt = H5Tcopy(ft);
        if (mt < 0) {
            rc = h5_fail(err, p->path, name, "cannot set up the string type");
            goto fail;
        }
        fbuf = calloc(n, fsize);
    }
    ids = calloc(n, sizeof *ids);
    if (!ids || (!vbuf && !fbuf)) {
        rc = sa_err(err, SEGAUDIT_ENOMEM, "%s:%s: out of memory", p->path,
                    name);
        goto fail;
    }
    /* Reclaim even after a failed read: HDF5 may have allocated some
     * strings; the buffer's NULLs are harmless. */
    must_reclaim = vbuf != NULL;
    if (H5Dread(dset, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                vbuf ? (void *)vbuf : (void *)fbuf) < 0) {
        rc = h5_fail(err, p->path, name, "reading the ids failed");
        goto fail;
    }

    for (uint64_t i = 0; i < n; i++) {
        const char *s = vbuf ? vbuf[i] : fbuf + i * fsize;
        size_t l = !s ? 0 : vbuf ? strlen(s) : strnlen(s, fsize);
        if (!vbuf)
            while (l > 0 && s[l - 1] == ' ')
                l--;
        if (l == 0) {
            rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: id %" PRIu64 " is empty",
                        p->path, name, i);
            goto fail;
        }
        ids[i] = malloc(l + 1);
        if (!ids[i]) {
            rc = sa_err(err, SEGAUDIT_ENOMEM, "%s:%s: out of memory", p->path,
                        name);
            goto fail;
        }
        memcpy(ids[i], s, l);
        ids[i][l] = '\0';
    }
    *ids_out = ids;
    *found = 1;
    ids = NULL;
fail:
    if (must_reclaim) {
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mt, space, H5P_DEFAULT, vbuf);
#else
        H5Dvlen_reclaim(mt, space, H5P_DEFAULT, vbuf);
#endif
    }
    sa_free_ids(ids, n);
    free(vbuf);
    free(fbuf);
    if (mt >= 0)
        H5Tclose(mt);
    if (ft >= 0)
        H5Tclose(ft);
    if (space >= 0)
        H5Sclose(space);
    if (dset >= 0)
        H5Dclose(dset);
    return rc;
}

/* ---- reading ----------------------------------------------------------- */

int sa_probs_read_band(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                       void *dst, SaErr *err)
{
    const uint64_t N = p->dims[0], K = p->dims[1], H = p->dims[2],
                   W = p->dims[3];
    char why[WHY_LEN];
    hid_t mspace = H5I_INVALID_HID;
    int rc = 0;

    if (n >= N) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: image %" PRIu64 " out of "
                    "range (N=%" PRIu64 ")", p->path, p->dataset, n, N);
        goto fail;
    }
    if (r0 > H || nrows > H - r0 || !dst) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: reading image %" PRIu64
                    " rows %" PRIu64 "+%" PRIu64 ": %s (H=%" PRIu64 ")",
                    p->path, p->dataset, n, r0, nrows,
                    dst ? "out of range" : "no buffer", H);
        goto fail;
    }
    if (nrows == 0)
        goto fail; /* nothing to read */
    if (p->dset < 0) {
        rc = sa_err(err, SEGAUDIT_EIO, "%s:%s: reading image %" PRIu64
                    " failed (dataset not open after a failed reopen)",
                    p->path, p->dataset, n);
        goto fail;
    }

    hsize_t start[4] = {n, 0, r0, 0};
    hsize_t count[4] = {1, K, nrows, W};
    hsize_t mdims[3] = {K, nrows, W};
    if (H5Sselect_hyperslab(p->fspace, H5S_SELECT_SET, start, NULL, count,
                            NULL) < 0 ||
        (mspace = H5Screate_simple(3, mdims, NULL)) < 0 ||
        H5Dread(p->dset, p->memtype, mspace, p->fspace, H5P_DEFAULT, dst) < 0)
        rc = sa_err(err, SEGAUDIT_EIO, "%s:%s: reading image %" PRIu64
                    " rows %" PRIu64 "-%" PRIu64 " failed%s", p->path,
                    p->dataset, n, r0, r0 + nrows - 1,
                    h5_why(why, sizeof why));
fail:
    if (mspace >= 0)
        H5Sclose(mspace);
    return rc;
}

int sa_probs_plan_band_rows(SaProbs *p, uint64_t nrows, SaErr *err)
{
    const uint64_t *c = p->chunk;
    char why[WHY_LEN];
    hid_t dapl = H5I_INVALID_HID;
    int rc = 0;

    if (c[2] == 0 || nrows == 0)
        goto fail; /* contiguous: no chunk cache involved */

    /* A band of nrows rows starting anywhere touches at most
     * ceil(nrows/cH)+1 chunk rows (never more than the image has). */
    uint64_t rows = ceil_div(nrows, c[2]) + 1;
    if (rows > ceil_div(p->dims[2], c[2]))
        rows = ceil_div(p->dims[2], c[2]);
    uint64_t nchunks = mul_sat(mul_sat(ceil_div(p->dims[1], c[1]), rows),
                               ceil_div(p->dims[3], c[3]));
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
        rc = sa_err(err, SEGAUDIT_EIO, "%s:%s: cannot reopen with a %" PRIu64
                    "-byte chunk cache%s", p->path, p->dataset, bytes,
                    h5_why(why, sizeof why));
        /* Keep the object usable with the default cache if possible. */
        p->dset = H5Dopen2(p->file, p->dataset, H5P_DEFAULT);
    }
fail:
    if (dapl >= 0)
        H5Pclose(dapl);
    return rc;
}

void sa_probs_close(SaProbs *p)
{
    if (!p)
        return;
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
