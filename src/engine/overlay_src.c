/* DESIGN: what the overlays of the worst images show, after the ranking.
 *
 * The ranking is known only after pass 2, so the overlays are one more,
 * small pass over just the images that get one, in tensor order.  The
 * source (driving thread) reads the candidate records once, merged, and
 * loads each image into a slot: its issue bitmap (the same decisions as
 * the walk in issues.c), its regions and its open label PNG.  A slot then
 * delivers its rows (labels, argmax from the tensor read in bands, issue
 * flags) on any thread, so that several images are drawn at once; reads
 * through HDF5 are serialised (it is not thread-safe), direct reads are
 * planned under the same lock and done on the slot's thread (api/overlays.c
 * loads the next image while the others are drawn).  The engine
 * only delivers rows; the API hands them to the renderer.  Memory per
 * slot: one image's issue bitmap, one band, and its thread's read scratch
 * (for deflate chunks their compressed and inflated bytes; for upsampled
 * predictions a band at the stored resolution). */
#include <stdlib.h>
#include <string.h>

#include "engine/cache.h"
#include "engine/engine.h"

struct SaOverlaySource {
    SaEngine *e;
    SaRecReader rd[2];
    int open[2];
    const SaRecord *cur[2];
    const SaDetail *det[2];
};

struct SaOverlayImage {
    SaEngine *e;
    uint64_t n;               /* the image loaded */
    SaLabelReader labels;     /* its label rows */
    uint8_t *bitmap;          /* H*W issue flags of the image */
    SegauditRegion *regions;  /* its listed regions */
    SaKernelParams kp;
    void *scratch;
    void *probs;              /* one band: [K][band_n][W] elements */
    size_t cap_bytes;         /* bytes probs holds */
    uint32_t band_r0, band_n; /* the rows it holds now (band_n 0: none) */
    uint32_t H;               /* the image's height (its width: kp.W) */
    /* --cache: the image's argmax map, from the cache (amap_cached; looked
     * up when its first rows are asked for, so not for an overlay copied
     * whole from the cache) or kept as its rows are computed (amap_rows,
     * in order) for the next run */
    uint16_t *amap;
    int amap_cached;
    uint32_t amap_rows;
    SaReadScratch rs;         /* this image's thread's, for direct reads */
};

int sa_overlay_image_rows(void *ctx, uint32_t row0, uint32_t nrows,
                          uint16_t *labels, uint16_t *argmax,
                          uint8_t *issues, SaErr *err)
{
    SaOverlayImage *r = ctx;
    SaEngine *e = r->e;
    const size_t W = r->kp.W;
    /* pass 1's label map, when it was kept: no label file read */
    const void *klab = sa_keep_labels(e, r->n);
    int rc = 0;
    if (klab)
        sa_keep_get(e, klab, (size_t)row0 * W, labels, (size_t)nrows * W);
    else if ((rc = sa_labels_read(e, &r->labels, r->n, row0, nrows, labels,
                                  err)) != 0)
        return rc;
    memcpy(issues, r->bitmap + (size_t)row0 * W, (size_t)nrows * W);
    if (r->amap && row0 == 0)
        r->amap_cached = sa_cache_argmax_get(e, r->n, r->amap);
    if (r->amap_cached) {
        memcpy(argmax, r->amap + (size_t)row0 * W,
               (size_t)nrows * W * sizeof *argmax);
        return 0;
    }
    /* pass 1's map, when it was kept: no second read */
    const void *kept = sa_keep_map(e, r->n);
    if (kept) {
        sa_keep_get(e, kept, (size_t)row0 * W, argmax, (size_t)nrows * W);
        goto got;
    }
    /* the renderer asks for a few rows at a time, one block after the
     * other; the tensor is read in bands of about the passes' size that
     * hold whole blocks, so that every row is read once (and a stream of
     * compressed rows never goes back) */
    if (row0 < r->band_r0 || row0 + nrows > r->band_r0 + r->band_n) {
        uint32_t want = e->band_rows > nrows ? e->band_rows / nrows * nrows
                                             : nrows;
        if (want > r->H - row0)
            want = r->H - row0;
        /* slots are reused for images of other widths: the capacity is
         * in bytes */
        size_t need = (size_t)e->K * want * W * e->elsize;
        if (need > r->cap_bytes) {
            void *p = realloc(r->probs, need);
            if (!p)
                return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
            r->probs = p;
            r->cap_bytes = need;
        }
        r->band_n = 0;
        /* HDF5 on one thread at a time; a direct read (planned there) on
         * this image's own thread, beside the others */
        SaBandRead plan;
        int planned;
#pragma omp critical(sa_hdf5)
        {
            planned = sa_probs_plan_read(e->probs, r->n, row0, want, &plan,
                                         err);
            if (planned == 0)
                rc = sa_probs_read_band(e->probs, r->n, row0, want, r->probs,
                                        err);
        }
        if (planned == 1) {
            uint64_t bytes = 0;
            rc = sa_probs_read_planned(e->probs, &plan, r->probs, &bytes,
                                       &r->rs, err);
#pragma omp critical(sa_hdf5)
            sa_probs_count(e->probs, bytes);
        } else if (planned < 0) {
            rc = planned;
        }
        if (rc)
            return rc;
        r->band_r0 = row0;
        r->band_n = want;
    }
    for (uint32_t i = 0; i < nrows; i++)
        sa_kernel_argmax_row(&r->kp, r->scratch, r->probs, r->band_n,
                             row0 - r->band_r0 + i,
                             argmax + (size_t)i * W);
got:
    if (r->amap && row0 == r->amap_rows) {
        memcpy(r->amap + (size_t)row0 * W, argmax,
               (size_t)nrows * W * sizeof *argmax);
        r->amap_rows += nrows;
        if (r->amap_rows == r->H)
            sa_cache_argmax_put(e, r->n, r->amap);
    }
    return 0;
}

int sa_overlay_threads(const SaEngine *e, int want)
{
    /* compressed chunks inflated in a stream: no more images at once than
     * the reader keeps chunks open (half of them: an image's band may
     * reach back into its chunk row before), or each image would start
     * its chunk again for the others */
    int open = sa_probs_stream_slots(e->probs) / 2;
    return open > 0 && want > open ? open : want;
}

int sa_overlay_image_key(const SaOverlayImage *m, const uint8_t *extra,
                         uint8_t *key)
{
    return sa_cache_overlay_key(m->e, m->n, m->bitmap, m->regions,
                                (size_t)m->e->images[m->n].regions_listed,
                                extra, key);
}

/* Marks the issue pixels of record r in the bitmap (the walk's rule). */
static void mark(const SaEngine *e, const SaRecord *r, const SaDetail *det,
                 uint8_t *bitmap)
{
    const uint64_t W = sa_img_w(e, r->image);
    if (!e->n_issues || sa_key_cmp(sa_record_key(r), e->cut) > 0)
        return;
    if (e->f == 1) {
        if (r->flags & SA_REC_MISMATCH)
            bitmap[r->pixel] = 1;
        return;
    }
    uint64_t Wb = W / e->f, br = r->pixel / Wb, bc = r->pixel % Wb;
    for (uint16_t i = 0; i < r->ndetail; i++)
        bitmap[(br * e->f + det[i].pos / e->f) * W + bc * e->f +
               det[i].pos % e->f] = 1;
}

int sa_overlay_source_open(SaEngine *e, SaOverlaySource **out)
{
    *out = NULL;
    SaOverlaySource *s = calloc(1, sizeof *s);
    if (!s)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    s->e = e;
    int rc = 0;
    const SaRecStore *st[2] = {&e->store, &e->store2};
    for (int i = 0; i < 2 && rc == 0; i++) {
        rc = sa_recreader_open(&s->rd[i], st[i], e->err);
        if (rc == 0) {
            s->open[i] = 1;
            s->cur[i] = sa_recreader_next(&s->rd[i], &s->det[i], e->err);
            rc = e->err->code;
        }
    }
    if (rc) {
        sa_overlay_source_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void sa_overlay_source_close(SaOverlaySource *s)
{
    if (!s)
        return;
    for (int i = 0; i < 2; i++)
        if (s->open[i])
            sa_recreader_close(&s->rd[i]);
    free(s);
}

int sa_overlay_image_new(SaEngine *e, SaOverlayImage **out)
{
    *out = NULL;
    SaOverlayImage *m = calloc(1, sizeof *m);
    if (!m)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    m->e = e;
    m->kp.K = e->K;
    m->kp.W = (uint32_t)e->W;
    m->kp.f = 1;
    m->kp.rec_mode = SA_REC_NONE; /* (argmax only) */
    m->kp.dtype = e->dtype;
    m->kp.logits = e->set.logits;
    m->kp.T = e->set.temperature;
    m->kp.ignored = e->ignored;
    m->bitmap = malloc(e->max_pixels ? (size_t)e->max_pixels : 1);
    m->scratch = aligned_alloc(64, sa_kernel_scratch_size(&m->kp));
    if (e->cache)
        m->amap = malloc((e->max_pixels ? (size_t)e->max_pixels : 1) *
                         sizeof *m->amap);
    if (!m->bitmap || !m->scratch || (e->cache && !m->amap)) {
        sa_overlay_image_free(m);
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    }
    *out = m;
    return 0;
}

int sa_overlay_source_load(SaOverlaySource *s, SaOverlayImage *m, uint64_t n,
                           const SegauditRegion **regions, size_t *nreg,
                           SaErr *err)
{
    SaEngine *e = s->e;
    sa_overlay_image_end(m);
    m->H = (uint32_t)sa_img_h(e, n);
    m->kp.W = (uint32_t)sa_img_w(e, n);
    memset(m->bitmap, 0, (size_t)m->H * m->kp.W);
    for (int i = 0; i < 2; i++) {
        while (s->cur[i] && s->cur[i]->image < n)
            s->cur[i] = sa_recreader_next(&s->rd[i], &s->det[i], err);
        while (s->cur[i] && s->cur[i]->image == n) {
            mark(e, s->cur[i], s->det[i], m->bitmap);
            s->cur[i] = sa_recreader_next(&s->rd[i], &s->det[i], err);
        }
        if (err->code)
            return err->code;
    }
    const SaImage *im = &e->images[n];
    if (im->regions_listed) {
        m->regions = malloc(im->regions_listed * sizeof *m->regions);
        if (!m->regions)
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        int rc = sa_recstore_read_at(&e->regions, im->region_off, m->regions,
                                     im->regions_listed * sizeof *m->regions,
                                     err);
        if (rc)
            return rc;
    }
    m->n = n;
    m->band_n = 0;
    m->amap_rows = 0;
    m->amap_cached = 0;
    *regions = m->regions;
    *nreg = (size_t)im->regions_listed;
    sa_labels_reader_close(&m->labels);
    return 0;
}

void sa_overlay_image_end(SaOverlayImage *m)
{
    sa_labels_reader_close(&m->labels);
    free(m->regions);
    m->regions = NULL;
}

void sa_overlay_image_free(SaOverlayImage *m)
{
    if (!m)
        return;
    sa_overlay_image_end(m);
    free(m->probs);
    free(m->amap);
    free(m->scratch);
    free(m->bitmap);
    sa_read_scratch_free(&m->rs);
    free(m);
}
