/* Reading the tensor without HDF5's copies, where its bytes lie in the file
 * exactly as the engine wants them: contiguous storage, or chunks of
 * (1,K,rows,W) without filters, of little-endian IEEE floats, in a file
 * without a user block.  A band is then K reads (per chunk row) straight
 * into the band buffer, with pread on a descriptor of our own, and every
 * byte read is a byte of the band.  Anything else goes through H5Dread.
 *
 * The extent of contiguous data was checked against the file size at open
 * (h5_check.c); a chunk's extent is checked when it is first read. */
#include "io/h5_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

/* Is the file type exactly what the engine decodes, in the byte order of
 * this machine? */
static int native_bits(const SaProbs *p, hid_t ft)
{
    static const union { uint16_t u; uint8_t b[2]; } probe = {1};
    if (!probe.b[0] || H5Tget_order(ft) != H5T_ORDER_LE)
        return 0;
    if (p->dtype == SA_F32)
        return H5Tequal(ft, H5T_IEEE_F32LE) > 0;
    if (p->dtype == SA_F64)
        return H5Tequal(ft, H5T_IEEE_F64LE) > 0;
    return p->dtype == SA_F16; /* its exact layout was checked at open */
}

static uint64_t userblock(const SaProbs *p)
{
    hsize_t ub = 1;
    hid_t fcpl = H5Fget_create_plist(p->file);
    if (fcpl < 0 || H5Pget_userblock(fcpl, &ub) < 0)
        ub = 1;
    if (fcpl >= 0)
        H5Pclose(fcpl);
    return ub;
}

static int use_direct = 1;

void sa_probs_use_direct(int on) { use_direct = on; }

void sa_probs_direct_setup(SaProbs *p, hid_t ft)
{
    p->direct = SA_DIRECT_NONE;
    p->fd = -1;
    if (!use_direct || !native_bits(p, ft) || p->elsize != p->file_elsize ||
        userblock(p) != 0)
        return;
    if (p->chunk[0] == 0) {
        haddr_t off = H5Dget_offset(p->dset);
        if (off == HADDR_UNDEF)
            return;
        p->base = off;
        p->direct = SA_DIRECT_CONTIGUOUS;
    } else if (p->nfilters == 0 && p->chunk[0] == 1 &&
               p->chunk[1] == p->dims[1] && p->chunk[3] == p->dims[3]) {
        p->direct = SA_DIRECT_CHUNKS;
        p->chunk_image = UINT64_MAX;
    } else {
        return;
    }
    hsize_t fsize = 0;
    if (H5Fget_filesize(p->file, &fsize) < 0)
        fsize = 0;
    p->fsize = fsize;
    p->fd = open(p->path, O_RDONLY | O_CLOEXEC);
    if (p->fd < 0)
        p->direct = SA_DIRECT_NONE; /* H5Dread still works */
}

void sa_probs_direct_close(SaProbs *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

/* Reads len bytes at off into dst, all of them, adding them to *bytes. */
static int read_at(const SaProbs *p, void *dst, uint64_t len, uint64_t off,
                   uint64_t n, uint64_t r0, uint64_t nrows, uint64_t *bytes,
                   SaErr *err)
{
    uint8_t *d = dst;
    while (len > 0) {
        size_t want = len > ((size_t)1 << 30) ? (size_t)1 << 30 : (size_t)len;
        ssize_t got = pread(p->fd, d, want, (off_t)off);
        if (got <= 0)
            return sa_err(err, SEGAUDIT_EIO, "%s:%s: reading image %" PRIu64
                          " rows %" PRIu64 "-%" PRIu64 " failed (%s)",
                          p->path, p->dataset, n, r0, r0 + nrows - 1,
                          got < 0 ? strerror(errno) : "end of file");
        *bytes += (uint64_t)got;
        d += got;
        off += (uint64_t)got;
        len -= (uint64_t)got;
    }
    return 0;
}

/* The file offset of chunk row c of image n (cached for the last one). */
static int chunk_addr(SaProbs *p, uint64_t n, uint64_t c, uint64_t *addr,
                      SaErr *err)
{
    if (p->chunk_image == n && p->chunk_row == c) {
        *addr = p->chunk_at;
        return 0;
    }
    hsize_t coord[4] = {n, 0, c * p->chunk[2], 0};
    unsigned mask = 0;
    haddr_t a = HADDR_UNDEF;
    hsize_t size = 0;
    uint64_t need = mul_sat(mul_sat(p->chunk[1], p->chunk[2]),
                            mul_sat(p->chunk[3], p->elsize));
    if (H5Dget_chunk_info_by_coord(p->dset, coord, &mask, &a, &size) < 0 ||
        a == HADDR_UNDEF)
        return h5_fail(err, p->path, p->dataset,
                       "cannot locate a chunk of the tensor");
    if (size != need || a > p->fsize || size > p->fsize - a)
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%s: the chunk at image %"
                      PRIu64 " row %" PRIu64 " holds %" PRIu64 " bytes at "
                      "offset %" PRIu64 " (expected %" PRIu64 " in a file of "
                      "%" PRIu64 ")", p->path, p->dataset, n,
                      c * p->chunk[2], (uint64_t)size, (uint64_t)a, need,
                      p->fsize);
    p->chunk_image = n;
    p->chunk_row = c;
    p->chunk_at = a;
    *addr = a;
    return 0;
}

int sa_probs_plan_read(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                       SaBandRead *plan, SaErr *err)
{
    const uint64_t K = p->dims[1], H = p->dims[2], W = p->dims[3];
    const uint64_t row = W * p->elsize;
    if (!p->direct || n >= p->dims[0] || r0 > H || nrows == 0 ||
        nrows > H - r0)
        return 0; /* sa_probs_read_band reads it, or says what is wrong */
    plan->n = n;
    plan->r0 = r0;
    plan->nrows = nrows;
    if (p->direct == SA_DIRECT_CONTIGUOUS) {
        plan->npieces = 1;
        plan->at[0] = p->base + (n * K * H + r0) * row;
        plan->rows[0] = nrows;
        plan->plane = H * row;
        return 1;
    }
    const uint64_t cH = p->chunk[2];
    plan->npieces = 0;
    plan->plane = cH * row;
    for (uint64_t r = r0; r < r0 + nrows;) {
        uint64_t c = r / cH, rr = r % cH, run = cH - rr, addr;
        if (run > r0 + nrows - r)
            run = r0 + nrows - r;
        if (plan->npieces == SA_BAND_PIECES)
            return 0; /* many small chunks: let the caller read it */
        int rc = chunk_addr(p, n, c, &addr, err);
        if (rc)
            return rc;
        plan->at[plan->npieces] = addr + rr * row;
        plan->rows[plan->npieces++] = run;
        r += run;
    }
    return 1;
}

int sa_probs_read_planned(const SaProbs *p, const SaBandRead *plan,
                          void *dst, uint64_t *bytes, SaErr *err)
{
    const uint64_t K = p->dims[1], row = p->dims[3] * p->elsize;
    uint8_t *out = dst;
    uint64_t done = 0; /* rows of the band before this piece */
    for (int i = 0; i < plan->npieces; i++) {
        for (uint64_t k = 0; k < K; k++) {
            int rc = read_at(p, out + (k * plan->nrows + done) * row,
                             plan->rows[i] * row,
                             plan->at[i] + k * plan->plane, plan->n,
                             plan->r0, plan->nrows, bytes, err);
            if (rc)
                return rc;
        }
        done += plan->rows[i];
    }
    return 0;
}

void sa_probs_count(SaProbs *p, uint64_t bytes) { p->bytes_read += bytes; }

int sa_probs_direct_read(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                         void *dst, SaErr *err)
{
    SaBandRead plan;
    int rc = sa_probs_plan_read(p, n, r0, nrows, &plan, err);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return sa_probs_read_planned(p, &plan, dst, &p->bytes_read, err);
    /* more chunk rows than a plan holds: one chunk row at a time */
    const uint64_t cH = p->chunk[2], row = p->dims[3] * p->elsize;
    const uint64_t K = p->dims[1];
    uint8_t *out = dst;
    for (uint64_t r = r0; r < r0 + nrows;) {
        uint64_t c = r / cH, rr = r % cH, run = cH - rr, addr;
        if (run > r0 + nrows - r)
            run = r0 + nrows - r;
        rc = chunk_addr(p, n, c, &addr, err);
        for (uint64_t k = 0; k < K && rc == 0; k++)
            rc = read_at(p, out + (k * nrows + (r - r0)) * row, run * row,
                         addr + (k * cH + rr) * row, n, r0, nrows,
                         &p->bytes_read, err);
        if (rc)
            return rc;
        r += run;
    }
    return 0;
}
