/* Reading the tensor without HDF5's copies, where its bytes lie in the file
 * as the engine wants them: contiguous storage, or chunks of (1,K,rows,W)
 * of little-endian IEEE floats, in a file without a user block.
 *
 *  - Without filters, a band is K reads (per chunk row) straight into the
 *    band buffer, with pread on a descriptor of our own, and every byte
 *    read is a byte of the band.
 *  - With deflate (after shuffle or not) and chunks of at most 16 MiB
 *    (sa_probs_stream_above), each chunk is read whole as stored and
 *    inflated (zlib) and unshuffled by the thread that reads it, so that
 *    decompression runs on every worker; bands are then whole chunk rows
 *    (sa_probs_band_unit) so that no chunk is inflated twice.
 *  - Larger deflate chunks are inflated in a stream by the thread that
 *    reads the bands (h5_stream.c), in bounded memory.
 *
 * Anything else (other filters, other chunk shapes, big-endian data)
 * goes through H5Dread.  The extent of contiguous data was checked
 * against the file size at open (h5_check.c); a chunk's extent is checked
 * when it is located. */
#include "io/h5_internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include <hdf5.h>
#ifdef SA_HAVE_LIBDEFLATE
#include <libdeflate.h>
#else
#include <zlib.h>
#endif

/* Notes whether the file type is what the direct reads can take: IEEE
 * floats (exactly what the engine decodes) or unsigned integers of 1 or 2
 * bytes, little-endian, on a little-endian machine. */
void sa_probs_check_native(SaProbs *p, hid_t ft)
{
    p->native_le = 0;
    if (sa_host_big_endian() || H5Tget_order(ft) != H5T_ORDER_LE)
        return;
    if (p->form.kind == 'u')
        p->native_le = 1;
    else if (p->dtype == SA_F32)
        p->native_le = H5Tequal(ft, H5T_IEEE_F32LE) > 0;
    else if (p->dtype == SA_F64)
        p->native_le = H5Tequal(ft, H5T_IEEE_F64LE) > 0;
    else
        p->native_le = 1; /* float16: its exact layout was checked at open */
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

void sa_probs_direct_setup(SaProbs *p)
{
    p->direct = SA_DIRECT_NONE;
    sa_probs_stream_free(p);
    if (p->mem) {
        p->direct = SA_DIRECT_MEM;
        return;
    }
    if (p->npy) {
        /* a .npy file is one contiguous array, read directly through the
         * descriptor it was opened with */
        p->direct = SA_DIRECT_CONTIGUOUS;
        return;
    }
    if (!use_direct || !p->native_le || userblock(p) != 0)
        return;
    if (p->chunk[0] == 0) {
        haddr_t off = H5Dget_offset(p->dset);
        if (off == HADDR_UNDEF)
            return;
        p->base = off;
        p->direct = SA_DIRECT_CONTIGUOUS;
    } else if (!p->convert && p->chunk[0] == 1 &&
               p->chunk[1] == p->dims[1] && p->chunk[3] == p->dims[3]) {
        p->chunk_image = UINT64_MAX;
        p->shuffled = -1;
        if (p->nfilters == 0) {
            p->direct = SA_DIRECT_CHUNKS;
        } else if (p->nfilters == 1 && p->filter_id[0] == H5Z_FILTER_DEFLATE) {
            p->deflated = 0;
            p->direct = SA_DIRECT_DEFLATE;
        } else if (p->nfilters == 2 && p->filter_id[0] == H5Z_FILTER_SHUFFLE &&
                   p->filter_id[1] == H5Z_FILTER_DEFLATE) {
            p->shuffled = 0;
            p->deflated = 1;
            p->direct = SA_DIRECT_DEFLATE;
        } else {
            return;
        }
        p->chunk_bytes = mul_sat(mul_sat(p->chunk[1], p->chunk[2]),
                                 mul_sat(p->chunk[3], p->elsize));
        /* chunks too large to be inflated whole by each worker are
         * inflated in a stream by the thread that reads them */
        if (p->direct == SA_DIRECT_DEFLATE && sa_probs_stream_wanted(p)) {
            p->direct = sa_probs_stream_possible(p) ? SA_DIRECT_STREAM
                                                    : SA_DIRECT_NONE;
            if (!p->direct)
                return;
        }
    } else {
        return;
    }
    hsize_t fsize = 0;
    if (H5Fget_filesize(p->file, &fsize) < 0)
        fsize = 0;
    p->fsize = fsize;
    if (p->fd < 0) /* kept when the layout is set again */
        p->fd = open(p->path, O_RDONLY | O_CLOEXEC);
    if (p->fd < 0)
        p->direct = SA_DIRECT_NONE; /* H5Dread still works */
}

void sa_probs_direct_close(SaProbs *p)
{
    if (p->pf)
        sa_prefetch_stop(p->pf);
    p->pf = NULL;
    sa_read_scratch_free(&p->scratch);
    sa_probs_stream_free(p);
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

uint64_t sa_probs_band_unit(const SaProbs *p)
{
    uint64_t unit = p->direct == SA_DIRECT_DEFLATE ? p->chunk[2] : 0;
    return p->up ? unit * p->up : unit;
}

void sa_read_scratch_free(SaReadScratch *s)
{
#ifdef SA_HAVE_LIBDEFLATE
    if (s->inflater)
        libdeflate_free_decompressor(s->inflater);
#endif
    free(s->cbuf);
    free(s->ubuf);
    free(s->lbuf);
    memset(s, 0, sizeof *s);
}

/* Reads the compressed chunk of piece i, inflates it and puts its rows
 * [first, first+rows) of every class at row `done` of out, laid out as
 * [K][stride][W] (unshuffling them when the shuffle filter was applied). */
static int read_deflated(const SaProbs *p, const SaBandRead *plan, int i,
                         uint8_t *out, uint64_t stride, uint64_t done,
                         uint64_t *bytes, SaReadScratch *s, SaErr *err)
{
    const uint64_t K = p->dims[1], W = p->dims[3], el = p->elsize;
    const uint64_t cH = p->chunk[2], row = W * el;
    const uint64_t nel = K * cH * W, need = p->chunk_bytes;
    unsigned mask = plan->mask[i];
    int inflated = !(mask & (1u << p->deflated));
    int shuffled = p->shuffled >= 0 && !(mask & (1u << p->shuffled));
    if (sa_grow(&s->cbuf, &s->ccap, (size_t)plan->size[i]) ||
        sa_grow(&s->ubuf, &s->ucap, (size_t)need))
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    int rc = sa_probs_pread(p, s->cbuf, plan->size[i], plan->at[i], plan->n,
                            plan->r0, plan->nrows, bytes, err);
    if (rc)
        return rc;
    const uint8_t *chunk = s->cbuf;
#ifdef SA_HAVE_LIBDEFLATE
    if (inflated) {
        if (!s->inflater &&
            !(s->inflater = libdeflate_alloc_decompressor()))
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        size_t got = 0;
        enum libdeflate_result lr = libdeflate_zlib_decompress(
            s->inflater, s->cbuf, (size_t)plan->size[i], s->ubuf,
            (size_t)need, &got);
        if (lr != LIBDEFLATE_SUCCESS || got != need)
            return sa_probs_corrupt(p, plan->n, plan->r0 + done, lr == LIBDEFLATE_SUCCESS
                                              ? "wrong size"
                                              : "bad deflate data", err);
        chunk = s->ubuf;
    }
#else
    if (inflated) {
        z_stream z;
        memset(&z, 0, sizeof z);
        z.next_in = s->cbuf;
        z.avail_in = (uInt)plan->size[i];
        z.next_out = s->ubuf;
        z.avail_out = (uInt)need;
        int zr = inflateInit(&z);
        if (zr == Z_OK)
            zr = inflate(&z, Z_FINISH);
        uint64_t got = need - z.avail_out;
        inflateEnd(&z);
        if (zr == Z_MEM_ERROR)
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        if (zr != Z_STREAM_END || got != need)
            return sa_probs_corrupt(p, plan->n, plan->r0 + done, zr == Z_STREAM_END ? "wrong size"
                                          : z.msg            ? z.msg
                                                             : "inflate failed",
                           err);
        chunk = s->ubuf;
    }
#endif
    if (!inflated && plan->size[i] != need) {
        return sa_err(err, SEGAUDIT_EINPUT, "%s: image %" PRIu64 ": an "
                      "uncompressed chunk holds %" PRIu64 " bytes, not %"
                      PRIu64, p->where, plan->n, plan->size[i],
                      need);
    }
    for (uint64_t k = 0; k < K; k++) {
        uint8_t *dst = out + (k * stride + done) * row;
        uint64_t e0 = (k * cH + plan->first[i]) * W, ne = plan->rows[i] * W;
        if (!shuffled)
            memcpy(dst, chunk + e0 * el, ne * el);
        else
            sa_unshuffle(dst, chunk + e0, nel, ne, el);
    }
    return 0;
}

/* Plans the read of stored rows [r0, r0+nrows) (before any upsampling). */
static int plan_stored(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                       SaBandRead *plan, SaErr *err)
{
    const uint64_t K = p->dims[1], H = p->dims[2], W = p->dims[3];
    const uint64_t row = W * p->file_elsize;
    if (!p->direct || p->direct == SA_DIRECT_STREAM || n >= p->dims[0] ||
        r0 > H || nrows == 0 ||
        nrows > H - r0)
        return 0; /* sa_probs_read_band reads it, or says what is wrong */
    plan->n = n;
    plan->r0 = r0;
    plan->nrows = nrows;
    if (p->direct == SA_DIRECT_MEM) {
        plan->npieces = 1;
        plan->rows[0] = nrows;
        return 1;
    }
    if (p->direct == SA_DIRECT_CONTIGUOUS) {
        plan->npieces = 1;
        plan->rows[0] = nrows;
        if (p->form.nhwc) {
            /* the band's rows are one range: all their pixels' K values */
            plan->at[0] = p->base + (n * H + r0) * row * K;
            plan->plane = 0;
        } else {
            plan->at[0] = p->base + (n * K * H + r0) * row;
            plan->plane = H * row;
        }
        return 1;
    }
    const uint64_t cH = p->chunk[2];
    plan->npieces = 0;
    plan->plane = cH * row;
    for (uint64_t r = r0; r < r0 + nrows;) {
        uint64_t c = r / cH, rr = r % cH, run = cH - rr, addr = 0;
        if (run > r0 + nrows - r)
            run = r0 + nrows - r;
        if (plan->npieces == SA_BAND_PIECES)
            return 0; /* many small chunks: let the caller read it */
        int i = plan->npieces;
        int rc = sa_probs_chunk_at(p, n, c, &addr, &plan->size[i],
                                   &plan->mask[i], err);
        if (rc)
            return rc;
        plan->at[i] = p->direct == SA_DIRECT_DEFLATE ? addr : addr + rr * row;
        plan->first[i] = rr;
        plan->rows[i] = run;
        plan->npieces++;
        r += run;
    }
    return 1;
}

/* A contiguous band stored in another form: read as stored into the
 * thread's scratch, then converted into out ([K][nrows][W]). */
static int exec_converted(const SaProbs *p, const SaBandRead *plan,
                          uint8_t *out, uint64_t *bytes, SaReadScratch *s,
                          SaErr *err)
{
    const uint64_t K = p->dims[1], W = p->dims[3], nr = plan->nrows;
    const uint64_t fel = p->file_elsize;
    const uint64_t piece = (p->form.nhwc ? K : 1) * nr * W * fel;
    if (sa_grow(&s->cbuf, &s->ccap, (size_t)piece))
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    if (p->form.nhwc) {
        int rc = sa_probs_pread(p, s->cbuf, piece, plan->at[0], plan->n,
                                plan->r0, nr, bytes, err);
        if (rc == 0)
            sa_convert_band(&p->form, s->cbuf, out, K, nr, W);
        return rc;
    }
    for (uint64_t k = 0; k < K; k++) {
        int rc = sa_probs_pread(p, s->cbuf, piece,
                                plan->at[0] + k * plan->plane, plan->n,
                                plan->r0, nr, bytes, err);
        if (rc)
            return rc;
        sa_convert_band(&p->form, s->cbuf,
                        out + k * nr * W * p->elsize, 1, nr, W);
    }
    return 0;
}

/* Does a plan into out, laid out as [K][stride][W], from row row0 on. */
static int exec_plan(const SaProbs *p, const SaBandRead *plan, uint8_t *out,
                     uint64_t stride, uint64_t row0, uint64_t *bytes,
                     SaReadScratch *s, SaErr *err)
{
    const uint64_t K = p->dims[1], row = p->dims[3] * p->elsize;
    if (p->mem)
        return sa_mem_probs_read(p, plan, out, bytes, s, err);
    if (p->convert)
        return exec_converted(p, plan, out, bytes, s, err);
    uint64_t done = row0; /* rows of out before this piece */
    for (int i = 0; i < plan->npieces; i++) {
        int rc = 0;
        /* with a prefetcher, what it is reading comes from the page cache
         * (the disk then gets its large requests, not the pieces') */
        if (p->direct == SA_DIRECT_DEFLATE) {
            if (p->pf)
                sa_prefetch_wait(p->pf, plan->at[i] + plan->size[i]);
            rc = read_deflated(p, plan, i, out, stride, done, bytes, s, err);
        } else
            for (uint64_t k = 0; k < K && rc == 0; k++) {
                const uint64_t at = plan->at[i] + k * plan->plane;
                if (p->pf)
                    sa_prefetch_wait(p->pf, at + plan->rows[i] * row);
                rc = sa_probs_pread(p, out + (k * stride + done) * row,
                                    plan->rows[i] * row,
                                    at, plan->n, plan->r0, plan->nrows,
                                    bytes, err);
            }
        if (rc)
            return rc;
        done += plan->rows[i];
    }
    return 0;
}

int sa_probs_plan_read(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                       SaBandRead *plan, SaErr *err)
{
    if (!p->up)
        return plan_stored(p, n, r0, nrows, plan, err);
    if (r0 > p->dims[2] * p->up || nrows == 0 ||
        nrows > p->dims[2] * p->up - r0)
        return 0;
    uint64_t l0, ln;
    sa_upsample_rows(p->up_mode, p->up, p->dims[2], r0, nrows, &l0, &ln);
    int rc = plan_stored(p, n, l0, ln, plan, err);
    plan->up_r0 = r0;
    plan->up_n = nrows;
    return rc;
}

/* The stored rows of a plan into the thread's low-resolution buffer, then
 * upsampled into dst. */
static int planned_up(const SaProbs *p, const SaBandRead *plan, void *dst,
                      uint64_t *bytes, SaReadScratch *s, SaErr *err)
{
    size_t need = (size_t)(p->dims[1] * plan->nrows * p->dims[3] * p->elsize);
    if (sa_grow(&s->lbuf, &s->lcap, need))
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    int rc = exec_plan(p, plan, s->lbuf, plan->nrows, 0, bytes, s, err);
    if (rc == 0)
        sa_upsample_band(p->up_mode, p->up, p->dtype, s->lbuf, plan->r0,
                         plan->nrows, p->dims[2], p->dims[3], p->dims[1],
                         plan->up_r0, plan->up_n, dst);
    return rc;
}

int sa_probs_read_planned(const SaProbs *p, const SaBandRead *plan,
                          void *dst, uint64_t *bytes, SaReadScratch *s,
                          SaErr *err)
{
    if (p->up)
        return planned_up(p, plan, dst, bytes, s, err);
    return exec_plan(p, plan, dst, plan->nrows, 0, bytes, s, err);
}

void sa_probs_count(SaProbs *p, uint64_t bytes) { p->bytes_read += bytes; }

/* Contiguous (N,K,H,W): rows [from, to) of the whole tensor (row index
 * image * H + row), plane by plane. */
static void prefetch_rows(const SaProbs *p, uint64_t from, uint64_t to)
{
    const uint64_t K = p->dims[1], H = p->dims[2];
    const uint64_t row = p->dims[3] * p->file_elsize;
    while (from < to) {
        uint64_t n = from / H, r = from % H, m = H - r;
        if (m > to - from)
            m = to - from;
        for (uint64_t k = 0; k < K; k++)
            posix_fadvise(p->fd, (off_t)(p->base + ((n * K + k) * H + r) *
                                                       row),
                          (off_t)(m * row), POSIX_FADV_WILLNEED);
        from += m;
    }
}

/* Asks p's prefetcher (started at the first request) for bytes
 * [begin, end) of the file; 0 when there is none, or it has stopped (the
 * caller then announces the bytes itself). */
static int want(SaProbs *p, uint64_t begin, uint64_t end)
{
    if (p->pf_off)
        return 0;
    if (!p->pf) {
        if (sa_prefetch_start(&p->pf_mem, p->path, p->fd) != 0) {
            p->pf_off = 1;
            return 0;
        }
        p->pf = &p->pf_mem;
    }
    if (sa_prefetch_want(p->pf, begin, end) == 0)
        return 1;
    p->pf_off = 1; /* kept until the close: readers may wait on it */
    return 0;
}

void sa_probs_prefetch(SaProbs *p, const SaBandRead *plan)
{
    /* (converted bands, quantised or channels-last, are laid out
     * otherwise in the file: left to the system's own read-ahead) */
    if (p->mem || p->fd < 0 || p->convert)
        return;
    const uint64_t K = p->dims[1], W = p->dims[3];
    if (p->direct == SA_DIRECT_CONTIGUOUS && !p->form.nhwc && !p->group) {
        const uint64_t H = p->dims[2], end = p->dims[0] * H;
        const uint64_t row = W * p->file_elsize, all_k = K * row;
        const uint64_t ahead = SA_PREFETCH_AHEAD / all_k;
        uint64_t at = plan->n * H + plan->r0, upto = at + plan->nrows;
        upto += ahead;
        if (upto > end)
            upto = end;
        /* in file order: from the band's image to the last class's row
         * upto - 1 (for images up to SA_PREFETCH_SPAN bytes: the
         * prefetcher reads whole images, which the page cache then holds
         * ahead of their use) */
        const uint64_t u = upto - 1, image = K * H * row;
        if (image <= SA_PREFETCH_SPAN &&
            want(p, p->base + plan->n * image,
                 p->base + (u / H) * image + ((K - 1) * H + u % H + 1) * row))
            return;
        /* a band before the last one announced (a new pass) starts over */
        if (p->pf_upto < at || p->pf_upto > upto)
            p->pf_upto = at;
        /* announced in steps of half the distance or more, so that a band
         * of a few rows does not cost K calls of its own */
        if (upto < end && p->pf_upto >= at + plan->nrows + ahead / 2)
            return;
        prefetch_rows(p, p->pf_upto, upto);
        p->pf_upto = upto;
        return;
    }
    const uint64_t row = W * p->elsize;
    const int deflate = p->direct == SA_DIRECT_DEFLATE;
    for (int i = 0; i < plan->npieces; i++) {
        /* the whole chunk, in file order */
        const uint64_t chunk = deflate ? plan->at[i]
                                       : plan->at[i] - plan->first[i] * row;
        const uint64_t len = deflate ? plan->size[i] : K * plan->plane;
        if (len <= SA_PREFETCH_SPAN && want(p, chunk, chunk + len))
            continue;
        if (deflate) {
            posix_fadvise(p->fd, (off_t)chunk, (off_t)len,
                          POSIX_FADV_WILLNEED);
            continue;
        }
        for (uint64_t k = 0; k < K; k++)
            posix_fadvise(p->fd, (off_t)(plan->at[i] + k * plan->plane),
                          (off_t)(plan->rows[i] * row), POSIX_FADV_WILLNEED);
    }
}

int sa_probs_direct_read(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                         void *dst, SaErr *err)
{
    if (p->direct == SA_DIRECT_STREAM)
        return sa_probs_stream_read(p, n, r0, nrows, dst, err);
    SaBandRead plan;
    int rc = plan_stored(p, n, r0, nrows, &plan, err);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return exec_plan(p, &plan, dst, plan.nrows, 0, &p->bytes_read,
                         &p->scratch, err);
    /* more chunk rows than a plan holds: one chunk row at a time */
    for (uint64_t r = r0; r < r0 + nrows;) {
        uint64_t part = p->chunk[2] - r % p->chunk[2];
        if (part > r0 + nrows - r)
            part = r0 + nrows - r;
        SaBandRead one;
        rc = plan_stored(p, n, r, part, &one, err);
        if (rc == 1)
            rc = exec_plan(p, &one, dst, nrows, r - r0, &p->bytes_read,
                           &p->scratch, err);
        else if (rc == 0)
            rc = sa_err(err, SEGAUDIT_EIO, "internal: no plan for a chunk "
                        "row");
        if (rc)
            return rc;
        r += part;
    }
    return 0;
}
