/* The prediction tensor as an array in memory (SegauditArray): any strides,
 * float16/32/64 or quantised uint8/uint16 in the machine's byte order,
 * channels-first or channels-last.  A band is gathered from the array into
 * the engine's [K][nrows][W] form by the worker that scores it (the reads
 * are planned like direct file reads, h5_direct.c), with plain copies
 * where the rows are contiguous. */
#include "io/h5_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sa_mem_probs_open(SaProbs *p, const SegauditArray *arr, SaErr *err)
{
    const unsigned allowed =
        1u << SEGAUDIT_DTYPE_FLOAT16 | 1u << SEGAUDIT_DTYPE_FLOAT32 |
        1u << SEGAUDIT_DTYPE_FLOAT64 | 1u << SEGAUDIT_DTYPE_UINT8 |
        1u << SEGAUDIT_DTYPE_UINT16;
    int rc = sa_mem_array_init(&p->marr, arr, p->where, 4, allowed,
                               "expected float16, float32, float64, or "
                               "quantised uint8 or uint16", err);
    if (rc)
        return rc;
    SaStoreForm *f = &p->form;
    const size_t size = p->marr.itemsize;
    if (arr->dtype == SEGAUDIT_DTYPE_UINT8 ||
        arr->dtype == SEGAUDIT_DTYPE_UINT16) {
        f->kind = 'u';
        p->dtype = SA_F64;
        p->elsize = 8;
    } else {
        f->kind = 'f';
        p->dtype = size == 2 ? SA_F16 : size == 4 ? SA_F32 : SA_F64;
        p->elsize = size;
    }
    f->size = (unsigned)size;
    f->swap = 0;
    p->file_elsize = size;
    for (int i = 0; i < 4; i++)
        p->sdims[i] = p->dims[i] = arr->shape[i];
    p->mem = 1;
    int64_t c = (int64_t)size;
    int corder = 1;
    for (int d = 3; d >= 0; d--) {
        if (arr->shape[d] > 1 && arr->strides[d] != c)
            corder = 0;
        c *= (int64_t)arr->shape[d];
    }
    snprintf(p->layout, sizeof p->layout, "array %s, %s",
             sa_mem_dtype_name(arr->dtype), corder ? "C order" : "strided");
    return 0;
}

/* The axes of K, H and W in the array. */
static void axes(const SaProbs *p, int *kx, int *hx, int *wx)
{
    *kx = p->form.nhwc ? 3 : 1;
    *hx = p->form.nhwc ? 1 : 2;
    *wx = p->form.nhwc ? 2 : 3;
}

/* One row of W elements, stride sw bytes apart, into W contiguous ones. */
static void gather_row(uint8_t *dst, const uint8_t *src, uint64_t W,
                       int64_t sw, size_t size)
{
    if (sw == (int64_t)size) {
        memcpy(dst, src, W * size);
        return;
    }
    for (uint64_t w = 0; w < W; w++, src += sw, dst += size)
        memcpy(dst, src, size);
}

int sa_mem_probs_read(const SaProbs *p, const SaBandRead *plan, uint8_t *out,
                      uint64_t *bytes, SaReadScratch *s, SaErr *err)
{
    const SaMemArray *m = &p->marr;
    const SegauditArray *a = &m->a;
    const uint64_t K = p->dims[1], W = p->dims[3], nr = plan->nrows;
    const size_t size = m->itemsize, el = p->elsize;
    int kx, hx, wx;
    axes(p, &kx, &hx, &wx);
    const int64_t sk = a->strides[kx], sh = a->strides[hx],
                  sw = a->strides[wx];
    const uint8_t *img = (const uint8_t *)a->data +
                         (int64_t)plan->n * a->strides[0] +
                         (int64_t)plan->r0 * sh;
    SaStoreForm f = p->form;
    f.nhwc = 0;
    const int copy = f.kind == 'f';

    if (p->form.nhwc && sk == (int64_t)size && sw == (int64_t)(K * size) &&
        (nr == 1 || sh == (int64_t)(W * K * size))) {
        /* the band is one block of [nrows][W][K] */
        f.nhwc = 1;
        sa_convert_band(&f, img, out, K, nr, W);
    } else if (copy && sw == (int64_t)size &&
               (nr == 1 || sh == (int64_t)(W * size))) {
        /* each class's rows are one block */
        for (uint64_t k = 0; k < K; k++)
            memcpy(out + k * nr * W * el, img + (int64_t)k * sk,
                   nr * W * size);
    } else {
        if (!copy && sa_grow(&s->cbuf, &s->ccap, W * size))
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        for (uint64_t k = 0; k < K; k++)
            for (uint64_t r = 0; r < nr; r++) {
                const uint8_t *src = img + (int64_t)k * sk + (int64_t)r * sh;
                uint8_t *dst = out + (k * nr + r) * W * el;
                if (copy) {
                    gather_row(dst, src, W, sw, size);
                } else {
                    gather_row(s->cbuf, src, W, sw, size);
                    sa_convert_band(&f, s->cbuf, dst, 1, 1, W);
                }
            }
    }
    *bytes += K * nr * W * size;
    if (m->release) {
        const unsigned char *lo, *hi;
        /* channels interleaved: one span; else one per class */
        int per_class = (sk < 0 ? -sk : sk) > (sw < 0 ? -sw : sw);
        for (uint64_t k = 0; k < (per_class ? K : 1); k++) {
            sa_mem_band_span(m, plan->n, hx, plan->r0, nr,
                             per_class ? kx : -1, k, &lo, &hi);
            sa_mem_release(m, lo, hi);
        }
    }
    return 0;
}
