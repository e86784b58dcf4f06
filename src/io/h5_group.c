/* Predictions stored as one dataset per image: a group whose members are
 * (K,H,W) datasets (or (H,W,K) with --layout nhwc) named by the image ids,
 * as model code that writes one prediction at a time makes them.  Images
 * may differ in size; K and the element type must not.  Each dataset gets
 * the checks of a whole tensor (h5_check.c) at open; bands are read
 * through HDF5, from the one dataset that is open at a time. */
#include "io/h5_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

typedef struct Names {
    char **v;
    size_t n, cap;
    int oom;
    char *bad;      /* a member that is not a dataset */
} Names;

static herr_t collect(hid_t g, const char *name, const H5L_info_t *info,
                      void *data)
{
    Names *l = data;
    int dataset = info->type == H5L_TYPE_HARD &&
                  sa_h5_object_type(g, name) == H5O_TYPE_DATASET;
    if (!dataset) {
        l->bad = strdup(name);
        l->oom = !l->bad;
        return 1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) {
            l->oom = 1;
            return 1;
        }
        l->v = nv;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name))) {
        l->oom = 1;
        return 1;
    }
    l->n++;
    return 0;
}

/* "<group>/<name>" */
static char *member(const SaProbs *p, const char *name)
{
    size_t len = strlen(p->dataset) + strlen(name) + 2;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s/%s", p->dataset, name);
    return s;
}

int sa_probs_open_group(SaProbs *p, SaErr *err)
{
    Names l = {0};
    hid_t g = H5Gopen2(p->file, p->dataset, H5P_DEFAULT);
    if (g < 0)
        return h5_fail(err, p->path, p->dataset, "cannot open the group");
    herr_t it = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect, &l);
    H5Gclose(g);
    int rc = 0;
    if (l.oom) {
        rc = sa_err(err, SEGAUDIT_ENOMEM, "%s:%s: out of memory", p->path,
                    p->dataset);
        goto done;
    }
    if (l.bad) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: member '%s' is not a "
                    "dataset (a group of predictions holds one dataset per "
                    "image and nothing else)", p->path, p->dataset, l.bad);
        goto done;
    }
    if (it < 0) {
        rc = h5_fail(err, p->path, p->dataset, "cannot list the group");
        goto done;
    }
    if (l.n == 0) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: the group holds no "
                    "datasets", p->path, p->dataset);
        goto done;
    }
    p->gsd = calloc(l.n * 3, sizeof *p->gsd);
    p->gh = calloc(l.n, sizeof *p->gh);
    p->gw = calloc(l.n, sizeof *p->gw);
    if (!p->gsd || !p->gh || !p->gw) {
        rc = sa_err(err, SEGAUDIT_ENOMEM, "%s:%s: out of memory", p->path,
                    p->dataset);
        goto done;
    }
    p->gnames = l.v;
    p->gn = l.n;
    l.v = NULL;
    p->group = 1;
    p->gcur = UINT64_MAX;
    hid_t first = H5I_INVALID_HID;
    char *group = p->dataset;
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        char *name = member(p, p->gnames[i]);
        hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID, ft = H5I_INVALID_HID;
        if (!name) {
            rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
            break;
        }
        rc = sa_probs_open_dataset(p->file, p->path, name, 1, &d, err);
        hsize_t dd[3];
        if (rc == 0) {
            sp = H5Dget_space(d);
            int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
            if (rank != 3 || H5Sget_simple_extent_dims(sp, dd, NULL) != 3)
                rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: rank %d, expected "
                            "3 (K,H,W), or (H,W,K) with --layout nhwc, for "
                            "one image", p->path, name, rank);
        }
        if (rc == 0 && (ft = H5Dget_type(d)) < 0)
            rc = h5_fail(err, p->path, name, "cannot read the element type");
        if (rc == 0 && i == 0) {
            /* the first dataset sets the type (and the messages' name) */
            p->dataset = name;
            rc = sa_probs_pick_memtype(p, ft, err);
            p->dataset = group;
            first = H5Tcopy(ft);
            if (rc == 0 && first < 0)
                rc = h5_fail(err, p->path, name, "cannot copy the type");
            if (rc == 0)
                sa_probs_check_native(p, ft);
        } else if (rc == 0 && H5Tequal(ft, first) <= 0) {
            rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%s: element type differs "
                        "from the first image's (%s); every image must have "
                        "the same type", p->path, name, p->gnames[0]);
        }
        if (rc == 0) {
            /* the tensor's checks, as a (1, ...) tensor */
            hid_t keep = p->dset, keep_space = p->fspace;
            p->dset = d;
            p->fspace = sp;
            p->dataset = name;
            p->dims[0] = 1;
            for (int k = 0; k < 3; k++)
                p->gsd[3 * i + k] = p->dims[k + 1] = dd[k];
            memset(p->chunk, 0, sizeof p->chunk);
            rc = sa_probs_read_layout(p, err);
            if (rc == 0)
                rc = sa_probs_check_storage(p, err);
            p->dset = keep;
            p->fspace = keep_space;
            p->dataset = group;
        }
        if (ft >= 0)
            H5Tclose(ft);
        if (sp >= 0)
            H5Sclose(sp);
        if (d >= 0)
            H5Dclose(d);
        free(name);
    }
    if (first >= 0)
        H5Tclose(first);
    if (rc)
        goto done;
    memset(p->chunk, 0, sizeof p->chunk);
    p->native_le = 0; /* read through HDF5, one dataset at a time */
    p->sdims[0] = l.n;
    for (int k = 0; k < 3; k++)
        p->sdims[k + 1] = p->gsd[k];
    memcpy(p->dims, p->sdims, sizeof p->dims);
    snprintf(p->layout, sizeof p->layout, "one dataset per image (%zu)",
             l.n);
done:
    if (l.v)
        for (size_t i = 0; i < l.n; i++)
            free(l.v[i]);
    free(l.v);
    free(l.bad);
    return rc;
}

int sa_probs_group_layout(SaProbs *p, int nhwc, SaErr *err)
{
    const uint64_t N = p->sdims[0];
    uint64_t K = 0, mh = 0, mw = 0;
    for (uint64_t n = 0; n < N; n++) {
        const uint64_t *d = p->gsd + 3 * n;
        uint64_t k = nhwc ? d[2] : d[0], h = nhwc ? d[0] : d[1],
                 w = nhwc ? d[1] : d[2];
        if (k == 0 || h == 0 || w == 0)
            return sa_err(err, SEGAUDIT_EINPUT, "%s:%s/%s: a dimension is 0",
                          p->path, p->dataset, p->gnames[n]);
        if (n == 0)
            K = k;
        if (k != K)
            return sa_err(err, SEGAUDIT_EINPUT, "%s:%s/%s: %" PRIu64 " classes "
                          "but image '%s' has %" PRIu64 "%s", p->path,
                          p->dataset, p->gnames[n], k, p->gnames[0], K,
                          nhwc ? "" : " (if the classes are the last axis, "
                          "use --layout nhwc)");
        if (h > UINT32_MAX || w > UINT32_MAX)
            return sa_err(err, SEGAUDIT_EINPUT, "%s:%s/%s: image too large",
                          p->path, p->dataset, p->gnames[n]);
        p->gh[n] = (uint32_t)h;
        p->gw[n] = (uint32_t)w;
        mh = h > mh ? h : mh;
        mw = w > mw ? w : mw;
    }
    p->dims[0] = N;
    p->dims[1] = K;
    p->dims[2] = mh;
    p->dims[3] = mw;
    return 0;
}

int sa_probs_group_select(SaProbs *p, uint64_t n, SaErr *err)
{
    if (p->gcur == n)
        return 0;
    if (p->fspace >= 0)
        H5Sclose(p->fspace);
    if (p->dset >= 0)
        H5Dclose(p->dset);
    p->fspace = p->dset = H5I_INVALID_HID;
    p->gcur = UINT64_MAX;
    char *name = member(p, p->gnames[n]);
    if (!name)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    p->dset = H5Dopen2(p->file, name, H5P_DEFAULT);
    if (p->dset >= 0)
        p->fspace = H5Dget_space(p->dset);
    int rc = 0;
    if (p->dset < 0 || p->fspace < 0)
        rc = h5_fail(err, p->path, name, "cannot open");
    else
        p->gcur = n;
    free(name);
    return rc;
}

void sa_probs_group_free(SaProbs *p)
{
    if (p->gnames)
        for (uint64_t i = 0; i < p->gn; i++)
            free(p->gnames[i]);
    free(p->gnames);
    free(p->gsd);
    free(p->gh);
    free(p->gw);
    p->gnames = NULL;
    p->gsd = NULL;
    p->gh = p->gw = NULL;
}
