/* What a tensor file must satisfy before segaudit reads from it, and the
 * filter-plugin policy.
 *
 *  - the path is a readable regular file and an HDF5 file;
 *  - a dataset is reached through this file's own links: an external link
 *    (data from another file, which nobody checked) is refused;
 *  - the data are stored in this file: virtual datasets and external raw
 *    storage are refused, and so is a filter this HDF5 library cannot
 *    decode;
 *  - the data are all there: a truncated file, or a header that claims
 *    more than was written, is refused before anything is read;
 *  - filter plugins (code loaded from HDF5_PLUGIN_PATH) run only when the
 *    settings allow them.
 *
 * Messages as in h5_internal.h; where it helps, the innermost HDF5 error
 * description is appended in parentheses. */
#include "io/h5_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

/* ---- the file ---------------------------------------------------------- */

int sa_probs_open_file(SaProbs *p, SaErr *err)
{
    struct stat st;
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
    p->file = sa_h5_open_readonly(p->path, "not an HDF5 file", err);
    if (p->file < 0)
        rc = err->code;
fail:
    return rc;
}

void sa_probs_allow_plugins(int allow)
{
    sa_h5_init();
    /* HDF5 loads filter plugins from HDF5_PLUGIN_PATH on demand: code from
     * anywhere on that path would run on untrusted input */
    H5PLset_loading_state(allow ? H5PL_ALL_PLUGIN : 0);
}

/* ---- links ------------------------------------------------------------- */

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

#define LIST_NAMES 20      /* root datasets named when one is missing */
#define LIST_LINKS 1000    /* root links looked at for that list */
#define LIST_NAME_LEN 32   /* longer names are cut, with "..." */

/* The names of the datasets at the file's root, for the message about a
 * missing one. */
typedef struct RootList {
    char names[LIST_NAMES * (LIST_NAME_LEN + 8)];
    size_t used;
    unsigned shown, looked;
    int more;
} RootList;

static void list_append(RootList *l, const char *name)
{
    char shown[LIST_NAME_LEN + 4];
    size_t len = strlen(name), j = 0;

    for (size_t i = 0; i < len && j < LIST_NAME_LEN; i++) {
        unsigned char c = (unsigned char)name[i];
        shown[j++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (len > LIST_NAME_LEN) {
        memcpy(shown + j, "...", 3);
        j += 3;
    }
    shown[j] = '\0';
    int w = snprintf(l->names + l->used, sizeof l->names - l->used, "%s'%s'",
                     l->shown ? ", " : "", shown);
    if (w > 0)
        l->used += (size_t)w < sizeof l->names - l->used
                       ? (size_t)w : sizeof l->names - l->used - 1;
    l->shown++;
}

static herr_t list_root_cb(hid_t group, const char *name,
                           const H5L_info_t *info, void *data)
{
    RootList *l = data;

    if (++l->looked > LIST_LINKS) {
        l->more = 1;
        return 1;
    }
    /* soft and external links are not followed: an external one would
     * open another file */
    if (info->type != H5L_TYPE_HARD)
        return 0;
    if (sa_h5_object_type(group, name) != H5O_TYPE_DATASET)
        return 0;
    if (l->shown == LIST_NAMES) {
        l->more = 1;
        return 1;
    }
    list_append(l, name);
    return 0;
}

/* "no such dataset", with the datasets the file has at its root. */
static int missing_dataset(hid_t file, const char *path, const char *name,
                           SaErr *err)
{
    RootList *l = calloc(1, sizeof *l);

    if (!l)
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%s: no such dataset", path,
                      name);
    herr_t r = H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, NULL,
                          list_root_cb, l);
    int rc;
    if (r < 0 && l->shown == 0)
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: no such dataset", path,
                    name);
    else if (l->shown == 0)
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: no such dataset; the file "
                    "has no datasets at its root%s", path, name,
                    l->more ? " (among its first 1000 links)" : "");
    else
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: no such dataset; the "
                    "datasets at the file's root are %s%s", path, name,
                    l->names, l->more ? ", ..." : "");
    free(l);
    return rc;
}

int sa_probs_open_dataset(hid_t file, const char *path, const char *name,
                          int report_missing, hid_t *out, SaErr *err)
{
    char why[SA_H5_WHY_LEN];
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
            rc = missing_dataset(file, path, name, err);
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
                    sa_h5_why(why, sizeof why));
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

/* ---- storage ----------------------------------------------------------- */

int sa_probs_read_layout(SaProbs *p, SaErr *err)
{
    char why[SA_H5_WHY_LEN];
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
        int cr = H5Pget_chunk(dcpl, 4, c);
        if (cr != 4 && cr != 3) {
            rc = h5_fail(err, p->path, p->dataset,
                         "cannot read the chunk shape");
            goto fail;
        }
        /* one image's (3-D) dataset: as a (1, ...) chunk of the tensor */
        for (int i = 0; i < 4; i++)
            p->chunk[i] = cr == 4 ? c[i] : i == 0 ? 1 : c[i - 1];
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
    p->nfilters = nf;
    for (int i = 0; i < nf && i < 4; i++) {
        unsigned flags;
        size_t ncd = 0;
        p->filter_id[i] = (int)H5Pget_filter2(dcpl, (unsigned)i, &flags,
                                              &ncd, NULL, 0, NULL, NULL);
    }
    for (int i = 0; i < nf; i++) {
        unsigned flags, config;
        size_t ncd = 0;
        char name[80] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd,
                                         NULL, sizeof name, name, &config);
        if (id < 0) {
            rc = sa_err(err, SEGAUDIT_EIO, "%s:%s: cannot read filter %d%s",
                        p->path, p->dataset, i,
                        sa_h5_why(why, sizeof why));
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
int sa_probs_check_storage(SaProbs *p, SaErr *err)
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

/* ---- the element type ------------------------------------------------- */

/* Chooses the memory type for the file type ft (sets dtype, elsize). */
int sa_probs_pick_memtype(SaProbs *p, hid_t ft, SaErr *err)
{
    const char *expect = "expected float16, float32, float64, or quantised "
                         "uint8 or uint16";
    H5T_class_t cls = H5Tget_class(ft);
    size_t size = H5Tget_size(ft);

    if (cls < 0 || size == 0)
        return h5_fail(err, p->path, p->dataset,
                       "cannot read the element type");
    if (cls == H5T_INTEGER) {
        /* quantised probabilities: HDF5 delivers them as doubles */
        H5T_sign_t sign = H5Tget_sign(ft);
        if (sign != H5T_SGN_NONE || (size != 1 && size != 2))
            return sa_err(err, SEGAUDIT_EINPUT, "%s:%s: element type is "
                          "%s%zu; expected float16, float32, float64, or "
                          "quantised uint8 or uint16", p->path, p->dataset,
                          sign == H5T_SGN_NONE ? "uint" : "int", size * 8);
        p->file_elsize = size;
        p->dtype = SA_F64;
        p->memtype = H5Tcopy(H5T_NATIVE_DOUBLE);
        if (p->memtype < 0)
            return h5_fail(err, p->path, p->dataset,
                           "cannot create the memory type");
        p->elsize = 8;
        p->form.kind = 'u';
        p->form.size = (unsigned)size;
        p->form.swap = H5Tget_order(ft) != H5Tget_order(H5T_NATIVE_UINT16);
        return 0;
    }
    if (cls != H5T_FLOAT)
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%s: element type is %s; %s",
                      p->path, p->dataset, sa_h5_class_name(cls), expect);
    p->form.kind = 'f';
    p->form.size = (unsigned)size;
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
