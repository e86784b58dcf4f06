/* The image ids of a tensor file (sa_probs_read_ids, declared in
 * h5_probs.h): a 1-D dataset of N strings, variable- or fixed-length, next
 * to the tensor.  Messages as in h5_internal.h. */
#include "io/h5_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <hdf5.h>

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
    if (p->group && !ids_dataset) {
        /* one dataset per image: its name is the id */
        char **v = calloc(n ? n : 1, sizeof *v);
        if (!v)
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        for (uint64_t i = 0; i < n; i++)
            if (!(v[i] = strdup(p->gnames[i]))) {
                sa_free_strings(v, n);
                return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
            }
        *ids_out = v;
        *found = 1;
        return 0;
    }
    if (p->npy || p->mem) {
        if (ids_dataset)
            return sa_err(err, SEGAUDIT_EINVAL, "%s: %s holds no ids; give "
                          "them as a text file (--ids FILE.txt, one id per "
                          "line)", p->path,
                          p->mem ? "an array" : "a .npy file");
        return 0;
    }
    if ((rc = sa_probs_open_dataset(p->file, p->path, name,
                                    ids_dataset != NULL, &dset, err)) != 0 ||
        dset < 0)
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
    if (cls == H5T_INTEGER) {
        /* numeric ids: written in decimal */
        long long *num = calloc(n ? n : 1, sizeof *num);
        ids = calloc(n ? n : 1, sizeof *ids);
        if (!num || !ids) {
            free(num);
            rc = sa_err(err, SEGAUDIT_ENOMEM, "%s:%s: out of memory",
                        p->path, name);
            goto fail;
        }
        if (H5Dread(dset, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                    num) < 0) {
            free(num);
            rc = h5_fail(err, p->path, name, "reading the ids failed");
            goto fail;
        }
        for (uint64_t i = 0; i < n; i++) {
            char buf[24];
            snprintf(buf, sizeof buf, "%lld", num[i]);
            if (!(ids[i] = strdup(buf))) {
                free(num);
                rc = sa_err(err, SEGAUDIT_ENOMEM, "%s:%s: out of memory",
                            p->path, name);
                goto fail;
            }
        }
        free(num);
        *ids_out = ids;
        *found = 1;
        ids = NULL;
        goto fail;
    }
    if (cls != H5T_STRING) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: element type is %s; "
                    "expected strings or integers", p->path, name,
                    sa_h5_class_name(cls));
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
    sa_free_strings(ids, n);
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
