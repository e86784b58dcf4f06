/* Writer of the (N,K,H,W) probability tensor and the image ids (HDF5).
 *
 * Every message starts with "<path>: ".  HDF5's own error printing is
 * switched off; the innermost HDF5 error description (for a full disk:
 * "... errno = 28, error message = 'No space left on device' ...") is
 * appended in parentheses. */
#include "io/h5_write.h"
#include "io/h5_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#define WHY_LEN 400

struct SaH5Writer {
    char *path;
    hid_t file, dset, fspace, memtype, ids, ids_space, strtype;
    SaH5WriterOpts o;
    size_t elsize;
    uint64_t ids_n;
};

/* " (<innermost HDF5 error>)" or ""; must run right after the failure. */
static const char *h5_why(char *buf, size_t size)
{
    char desc[WHY_LEN - 4];
    buf[0] = '\0';
    if (sa_h5_error_desc(desc, sizeof desc, 0)[0] == '\0')
        return buf;
    /* A failed write(2) is described with the time, the buffer address and
     * more; only the system's message ("No space left on device") helps. */
    const char *key = "error message = '", *m = strstr(desc, key);
    if (m) {
        m += strlen(key);
        snprintf(buf, size, " (%.*s)", (int)strcspn(m, "'"), m);
        return buf;
    }
    for (char *c = desc; *c; c++)
        if (*c == '\n')
            *c = ' ';
    snprintf(buf, size, " (%s)", desc);
    return buf;
}

static int h5_fail(SaErr *err, const char *path, const char *what)
{
    char why[WHY_LEN];
    return sa_err(err, SEGAUDIT_EIO, "%s: %s%s", path, what,
                  h5_why(why, sizeof why));
}

uint64_t sa_h5w_chunk_rows_for(uint64_t k, uint64_t h, uint64_t w,
                               size_t elsize, size_t target_bytes)
{
    uint64_t row = k * w * (uint64_t)elsize;
    uint64_t r = row ? (uint64_t)target_bytes / row : 1;
    if (r < 1)
        r = 1;
    return r > h ? h : r;
}

/* IEEE half in native byte order, laid out as h5py defines it. */
static hid_t half_type(void)
{
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0)
        return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 ||
        H5Tset_precision(t, 16) < 0 || H5Tset_ebias(t, 15) < 0 ||
        H5Tset_order(t, H5Tget_order(H5T_NATIVE_FLOAT)) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

static void close_ids(hid_t *id, herr_t (*fn)(hid_t))
{
    if (*id >= 0)
        fn(*id);
    *id = H5I_INVALID_HID;
}

static int check_opts(const SaH5WriterOpts *o, const char *path, SaErr *err)
{
    if (!o->n || !o->k || !o->h || !o->w)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: a dimension is 0", path);
    if (o->dtype != SA_F16 && o->dtype != SA_F32)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: only float16 and float32 "
                      "can be written", path);
    if (o->gzip_level < 0 || o->gzip_level > 9 ||
        (o->gzip_level && !o->chunk_rows) || o->chunk_rows > o->h)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: invalid chunking (rows "
                      "%llu, gzip %d)", path,
                      (unsigned long long)o->chunk_rows, o->gzip_level);
    return 0;
}

int sa_h5w_create(SaH5Writer **out, const char *path, const char *dataset,
                  const SaH5WriterOpts *o, SaErr *err)
{
    SaH5Writer *w = NULL;
    hid_t ftype = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
    int rc;

    *out = NULL;
    if ((rc = check_opts(o, path, err)) != 0)
        return rc;
    sa_h5_quiet();
    w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", path);
    }
    w->file = w->dset = w->fspace = w->memtype = H5I_INVALID_HID;
    w->ids = w->ids_space = w->strtype = H5I_INVALID_HID;
    w->o = *o;
    w->elsize = sa_dtype_size(o->dtype);

    w->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) {
        rc = h5_fail(err, path, "cannot create");
        goto fail;
    }
    if (o->dtype == SA_F16) {
        ftype = half_type();
        w->memtype = half_type();
    } else {
        ftype = H5Tcopy(H5T_IEEE_F32LE);
        w->memtype = H5Tcopy(H5T_NATIVE_FLOAT);
    }
    hsize_t dims[4] = {o->n, o->k, o->h, o->w};
    hsize_t chunk[4] = {1, o->k, o->chunk_rows, o->w};
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (ftype < 0 || w->memtype < 0 || dcpl < 0 ||
        H5Pset_obj_track_times(dcpl, 0) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 ||
        (o->chunk_rows && H5Pset_chunk(dcpl, 4, chunk) < 0) ||
        (o->gzip_level && (H5Pset_shuffle(dcpl) < 0 ||
                           H5Pset_deflate(dcpl, (unsigned)o->gzip_level) < 0))) {
        rc = h5_fail(err, path, "cannot set up the dataset");
        goto fail;
    }
    if ((w->fspace = H5Screate_simple(4, dims, NULL)) < 0 ||
        (w->dset = H5Dcreate2(w->file, dataset, ftype, w->fspace, H5P_DEFAULT,
                              dcpl, H5P_DEFAULT)) < 0) {
        rc = h5_fail(err, path, "cannot create the dataset");
        goto fail;
    }
    *out = w;
    w = NULL;
fail:
    if (ftype >= 0)
        H5Tclose(ftype);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (w)
        sa_h5w_abort(w);
    return rc;
}

size_t sa_h5w_image_bytes(const SaH5Writer *w)
{
    return (size_t)(w->o.k * w->o.h * w->o.w) * w->elsize;
}

/* ---- compression (no HDF5 calls) --------------------------------------- */

void sa_h5w_encoded_free(SaH5Encoded *enc)
{
    if (!enc)
        return;
    for (uint64_t i = 0; enc->data && i < enc->n_chunks; i++)
        free(enc->data[i]);
    free(enc->data);
    free(enc->sizes);
    free(enc->caps);
    free(enc->raw);
    free(enc->shuf);
    memset(enc, 0, sizeof *enc);
}

static int enc_prepare(const SaH5Writer *w, SaH5Encoded *enc, size_t chunk_b)
{
    uint64_t n = (w->o.h + w->o.chunk_rows - 1) / w->o.chunk_rows;
    if (enc->n_chunks == n && enc->raw)
        return 0;
    sa_h5w_encoded_free(enc);
    enc->n_chunks = n;
    enc->data = calloc(n, sizeof *enc->data);
    enc->sizes = calloc(n, sizeof *enc->sizes);
    enc->caps = calloc(n, sizeof *enc->caps);
    enc->raw = malloc(chunk_b);
    enc->shuf = malloc(chunk_b);
    return enc->data && enc->sizes && enc->caps && enc->raw && enc->shuf
               ? 0 : -1;
}

/* HDF5's shuffle filter: byte j of element i goes to j*n + i. */
static void shuffle(unsigned char *dst, const unsigned char *src, size_t n,
                    size_t es)
{
    if (es == 2) {
        for (size_t i = 0; i < n; i++) {
            dst[i] = src[2 * i];
            dst[n + i] = src[2 * i + 1];
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < es; j++)
            dst[j * n + i] = src[i * es + j];
}

int sa_h5w_encode(const SaH5Writer *w, const void *image, SaH5Encoded *enc,
                  SaErr *err)
{
    const uint64_t K = w->o.k, H = w->o.h, W = w->o.w, R = w->o.chunk_rows;
    const size_t es = w->elsize, rowb = (size_t)W * es;
    const size_t chunk_b = (size_t)(K * R) * rowb;
    const unsigned char *img = image;

    if (!w->o.gzip_level)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: encoding needs gzip",
                      w->path);
    if (enc_prepare(w, enc, chunk_b) != 0)
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", w->path);
    for (uint64_t c = 0; c < enc->n_chunks; c++) {
        uint64_t r0 = c * R, nr = H - r0 < R ? H - r0 : R;
        for (uint64_t k = 0; k < K; k++) {
            unsigned char *dst = enc->raw + (size_t)(k * R) * rowb;
            memcpy(dst, img + (size_t)(k * H + r0) * rowb, (size_t)nr * rowb);
            if (nr < R) /* rows below H in the last chunk: zeros */
                memset(dst + (size_t)nr * rowb, 0, (size_t)(R - nr) * rowb);
        }
        shuffle(enc->shuf, enc->raw, chunk_b / es, es);
        uLong bound = compressBound((uLong)chunk_b);
        if (enc->caps[c] < bound) {
            free(enc->data[c]);
            enc->data[c] = malloc(bound);
            enc->caps[c] = enc->data[c] ? bound : 0;
            if (!enc->data[c])
                return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory",
                              w->path);
        }
        uLongf len = enc->caps[c];
        int z = compress2(enc->data[c], &len, enc->shuf, (uLong)chunk_b,
                          w->o.gzip_level);
        if (z != Z_OK)
            return sa_err(err, z == Z_MEM_ERROR ? SEGAUDIT_ENOMEM
                          : SEGAUDIT_EIO, "%s: compressing a chunk failed "
                          "(zlib %d)", w->path, z);
        enc->sizes[c] = len;
    }
    return 0;
}

/* ---- HDF5 writes ------------------------------------------------------- */

int sa_h5w_write_image(SaH5Writer *w, uint64_t index, const void *image,
                       const SaH5Encoded *enc, SaErr *err)
{
    char what[96];
    const SaH5WriterOpts *o = &w->o;

    if (index >= o->n)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: image %llu out of range",
                      w->path, (unsigned long long)index);
    sa_h5_quiet();
    snprintf(what, sizeof what, "writing image %llu failed",
             (unsigned long long)index);
    if (o->gzip_level) {
        for (uint64_t c = 0; c < enc->n_chunks; c++) {
            hsize_t off[4] = {index, 0, c * o->chunk_rows, 0};
            if (H5Dwrite_chunk(w->dset, H5P_DEFAULT, 0, off, enc->sizes[c],
                               enc->data[c]) < 0)
                return h5_fail(err, w->path, what);
        }
        return 0;
    }
    hsize_t start[4] = {index, 0, 0, 0}, count[4] = {1, o->k, o->h, o->w};
    hsize_t mdims[3] = {o->k, o->h, o->w};
    hid_t ms = H5Screate_simple(3, mdims, NULL);
    int rc = 0;
    if (ms < 0 ||
        H5Sselect_hyperslab(w->fspace, H5S_SELECT_SET, start, NULL, count,
                            NULL) < 0 ||
        H5Dwrite(w->dset, w->memtype, ms, w->fspace, H5P_DEFAULT, image) < 0)
        rc = h5_fail(err, w->path, what);
    if (ms >= 0)
        H5Sclose(ms);
    return rc;
}

int sa_h5w_ids_create(SaH5Writer *w, const char *dataset, uint64_t n,
                      SaErr *err)
{
    hsize_t dim = n;
    int rc = 0;
    sa_h5_quiet();
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);

    w->strtype = H5Tcopy(H5T_C_S1);
    if (dcpl < 0 || w->strtype < 0 ||
        H5Pset_obj_track_times(dcpl, 0) < 0 ||
        H5Tset_size(w->strtype, H5T_VARIABLE) < 0 ||
        H5Tset_cset(w->strtype, H5T_CSET_UTF8) < 0 ||
        (w->ids_space = H5Screate_simple(1, &dim, NULL)) < 0 ||
        (w->ids = H5Dcreate2(w->file, dataset, w->strtype, w->ids_space,
                             H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0)
        rc = h5_fail(err, w->path, "cannot create the ids dataset");
    else
        w->ids_n = n;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return rc;
}

int sa_h5w_ids_write(SaH5Writer *w, uint64_t first, uint64_t count,
                     const char *const *ids, SaErr *err)
{
    hsize_t start = first, cnt = count;
    int rc = 0;

    if (w->ids < 0 || first > w->ids_n || count > w->ids_n - first)
        return sa_err(err, SEGAUDIT_EINVAL, "%s: ids %llu+%llu out of range",
                      w->path, (unsigned long long)first,
                      (unsigned long long)count);
    if (count == 0)
        return 0;
    sa_h5_quiet();
    hid_t ms = H5Screate_simple(1, &cnt, NULL);
    if (ms < 0 ||
        H5Sselect_hyperslab(w->ids_space, H5S_SELECT_SET, &start, NULL, &cnt,
                            NULL) < 0 ||
        H5Dwrite(w->ids, w->strtype, ms, w->ids_space, H5P_DEFAULT, ids) < 0)
        rc = h5_fail(err, w->path, "writing the image ids failed");
    if (ms >= 0)
        H5Sclose(ms);
    return rc;
}

/* Closes every handle; returns -1 when closing the file failed. */
static int close_all(SaH5Writer *w)
{
    sa_h5_quiet();
    close_ids(&w->ids, H5Dclose);
    close_ids(&w->ids_space, H5Sclose);
    close_ids(&w->strtype, H5Tclose);
    close_ids(&w->dset, H5Dclose);
    close_ids(&w->fspace, H5Sclose);
    close_ids(&w->memtype, H5Tclose);
    int rc = 0;
    if (w->file >= 0 && H5Fclose(w->file) < 0)
        rc = -1;
    w->file = H5I_INVALID_HID;
    return rc;
}

int sa_h5w_close(SaH5Writer *w, SaErr *err)
{
    int rc = 0;
    if (!w)
        return 0;
    sa_h5_quiet();
    if (w->file >= 0 && H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0)
        rc = h5_fail(err, w->path, "writing failed");
    if (close_all(w) != 0 && rc == 0)
        rc = h5_fail(err, w->path, "closing failed");
    free(w->path);
    free(w);
    return rc;
}

void sa_h5w_abort(SaH5Writer *w)
{
    if (!w)
        return;
    close_all(w);
    unlink(w->path);
    free(w->path);
    free(w);
}
