/* Where the tensor's bytes are in the file, reading them there, and
 * undoing the shuffle filter: the steps that the direct reads
 * (h5_direct.c) and the streamed deflate chunks (h5_stream.c) share. */
#include "io/h5_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

/* Reads len bytes at off into dst, all of them, adding them to *bytes. */
int sa_probs_pread(const SaProbs *p, void *dst, uint64_t len, uint64_t off,
                   uint64_t n, uint64_t r0, uint64_t nrows, uint64_t *bytes,
                   SaErr *err)
{
    uint8_t *d = dst;
    while (len > 0) {
        size_t want = len > ((size_t)1 << 30) ? (size_t)1 << 30 : (size_t)len;
        ssize_t got = pread(p->fd, d, want, (off_t)off);
        if (got <= 0)
            return sa_err(err, SEGAUDIT_EIO, "%s: reading image %" PRIu64
                          " rows %" PRIu64 "-%" PRIu64 " failed (%s)",
                          p->where, n, r0, r0 + nrows - 1,
                          got < 0 ? strerror(errno) : "end of file");
        *bytes += (uint64_t)got;
        d += got;
        off += (uint64_t)got;
        len -= (uint64_t)got;
    }
    return 0;
}

/* Where chunk row c of image n is stored: its file offset, stored bytes and
 * skipped-filter mask (the last one located is cached). */
int sa_probs_chunk_at(SaProbs *p, uint64_t n, uint64_t c, uint64_t *addr,
                      uint64_t *size, unsigned *mask, SaErr *err)
{
    if (p->chunk_image == n && p->chunk_row == c) {
        *addr = p->chunk_at;
        *size = p->chunk_size;
        *mask = p->chunk_mask;
        return 0;
    }
    hsize_t coord[4] = {n, 0, c * p->chunk[2], 0};
    unsigned m = 0;
    haddr_t a = HADDR_UNDEF;
    hsize_t sz = 0;
    const uint64_t need = p->chunk_bytes;
    if (H5Dget_chunk_info_by_coord(p->dset, coord, &m, &a, &sz) < 0 ||
        a == HADDR_UNDEF)
        return h5_fail(err, p->path, p->dataset,
                       "cannot locate a chunk of the tensor");
    int bad = p->direct == SA_DIRECT_CHUNKS ? sz != need
                                            : sz == 0 || sz > 2 * need + 4096;
    if (bad || a > p->fsize || sz > p->fsize - a)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: the chunk at image %"
                      PRIu64 " row %" PRIu64 " holds %" PRIu64 " bytes at "
                      "offset %" PRIu64 " (%s %" PRIu64 " in a file of "
                      "%" PRIu64 ")", p->where, n,
                      c * p->chunk[2], (uint64_t)sz, (uint64_t)a,
                      p->direct == SA_DIRECT_CHUNKS ? "expected" : "data of",
                      need, p->fsize);
    p->chunk_image = n;
    p->chunk_row = c;
    p->chunk_at = *addr = a;
    p->chunk_size = *size = sz;
    p->chunk_mask = *mask = m;
    return 0;
}

void sa_unshuffle(uint8_t *dst, const uint8_t *src, uint64_t stride,
                  uint64_t ne, uint64_t el)
{
    if (el == 2) {
        const uint8_t *b0 = src, *b1 = src + stride;
        for (uint64_t e = 0; e < ne; e++) {
            dst[2 * e] = b0[e];
            dst[2 * e + 1] = b1[e];
        }
        return;
    }
    for (uint64_t e = 0; e < ne; e++)
        for (uint64_t b = 0; b < el; b++)
            dst[e * el + b] = src[b * stride + e];
}

int sa_probs_corrupt(const SaProbs *p, uint64_t n, uint64_t row,
                     const char *why, SaErr *err)
{
    return sa_err(err, SEGAUDIT_EINPUT, "%s: image %" PRIu64 ": a "
                  "compressed chunk at row %" PRIu64 " is corrupt (%s)",
                  p->where, n, row, why);
}
