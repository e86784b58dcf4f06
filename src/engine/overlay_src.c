/* DESIGN: the overlays of the worst images, after the ranking.
 *
 * The ranking is known only after pass 2, so the overlays are one more,
 * small pass over just the images that get one (--top), in tensor order:
 * their issue pixels come from a merged read of the candidate records (the
 * same decisions as the walk in issues.c), their labels from the PNG and
 * their argmax from the tensor, band by band.  Memory: one image's issue
 * bitmap, and a few rows of labels and probabilities. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/engine.h"
#include "render/overlay.h"
#include "io/png_io.h"
#include "engine/select.h"

typedef struct Rows {
    SaEngine *e;
    uint64_t n;
    SaLabelPng *png;
    const uint8_t *bitmap;   /* H*W issue flags of the image */
    SaKernelParams kp;
    void *scratch;
    void *probs;             /* K * rows * W elements */
    uint32_t cap_rows;
} Rows;

static int rows_cb(void *ctx, uint32_t row0, uint32_t nrows, uint16_t *labels,
                   uint16_t *argmax, uint8_t *issues, SaErr *err)
{
    Rows *r = ctx;
    SaEngine *e = r->e;
    if (nrows > r->cap_rows) {
        void *p = realloc(r->probs,
                          (size_t)e->K * nrows * e->W * e->elsize);
        if (!p)
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        r->probs = p;
        r->cap_rows = nrows;
    }
    int rc = sa_label_png_read_rows(r->png, labels, nrows, err);
    if (rc == 0)
        rc = sa_probs_read_band(e->probs, r->n, row0, nrows, r->probs, err);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < nrows; i++)
        sa_kernel_argmax_row(&r->kp, r->scratch, r->probs, nrows, i,
                             argmax + (size_t)i * e->W);
    memcpy(issues, r->bitmap + (size_t)row0 * e->W, (size_t)nrows * e->W);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Marks the issue pixels of record r in the bitmap (the walk's rule). */
static void mark(const SaEngine *e, const SaRecord *r, const SaDetail *det,
                 uint8_t *bitmap)
{
    if (!e->n_issues || sa_key_cmp(sa_record_key(r), e->cut) > 0)
        return;
    if (e->f == 1) {
        if (r->flags & SA_REC_MISMATCH)
            bitmap[r->pixel] = 1;
        return;
    }
    uint64_t Wb = e->W / e->f, br = r->pixel / Wb, bc = r->pixel % Wb;
    for (uint16_t i = 0; i < r->ndetail; i++)
        bitmap[(br * e->f + det[i].pos / e->f) * e->W + bc * e->f +
               det[i].pos % e->f] = 1;
}

/* One image: its issue bitmap from the records, its regions, its PNG. */
static int one(SaEngine *e, uint64_t n, Rows *rw, uint8_t *bitmap,
               const uint8_t (*palette)[3], SaRecReader rd[2],
               const SaRecord *cur[2], const SaDetail *det[2])
{
    memset(bitmap, 0, (size_t)e->H * e->W);
    for (int s = 0; s < 2; s++) {
        while (cur[s] && cur[s]->image < n)
            cur[s] = sa_recreader_next(&rd[s], &det[s], e->err);
        while (cur[s] && cur[s]->image == n) {
            mark(e, cur[s], det[s], bitmap);
            cur[s] = sa_recreader_next(&rd[s], &det[s], e->err);
        }
        if (e->err->code)
            return e->err->code;
    }
    const SaImage *im = &e->images[n];
    SegauditRegion *reg = NULL;
    if (im->regions_listed) {
        reg = malloc(im->regions_listed * sizeof *reg);
        if (!reg)
            return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        int rc = sa_recstore_read_at(&e->regions, im->region_off, reg,
                                     im->regions_listed * sizeof *reg,
                                     e->err);
        if (rc) {
            free(reg);
            return rc;
        }
    }
    char *photo = NULL, *out = NULL;
    const char *dir = e->set.overlays_dir, *id = e->ids[n];
    size_t lo = strlen(dir) + strlen(id) + 8;
    out = malloc(lo);
    if (out)
        snprintf(out, lo, "%s/%s.png", dir, id);
    if (e->set.images_dir) {
        size_t lp = strlen(e->set.images_dir) + strlen(id) +
                    strlen(e->set.image_suffix) + 2;
        photo = malloc(lp);
        if (photo)
            snprintf(photo, lp, "%s/%s%s", e->set.images_dir, id,
                     e->set.image_suffix);
    }
    int rc = 0;
    if (!out || (e->set.images_dir && !photo))
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    if (rc == 0)
        rc = sa_label_png_open(&rw->png, e->label_paths[n], (uint32_t)e->W,
                               (uint32_t)e->H, e->err);
    if (rc == 0) {
        SaOverlaySpec spec = {
            .W = (uint32_t)e->W,
            .H = (uint32_t)e->H,
            .K = e->K,
            .palette = palette,
            .ignored = e->ignored,
            .out_width = e->set.overlay_width,
            .photo_path = photo,
            .regions = reg,
            .n_regions = (size_t)im->regions_listed,
        };
        rw->n = n;
        rw->bitmap = bitmap;
        rc = sa_overlay_write(&spec, rows_cb, rw, out, e->err);
    }
    sa_label_png_close(rw->png);
    rw->png = NULL;
    free(reg);
    free(photo);
    free(out);
    return rc;
}

int sa_engine_overlays(SaEngine *e, const uint64_t *order)
{
    uint64_t ranked = e->N - e->n_skipped; /* skipped images come last */
    uint64_t top = e->set.overlay_top < ranked ? e->set.overlay_top : ranked;
    if (!e->set.overlays_dir || top == 0)
        return 0;
    if (mkdir(e->set.overlays_dir, 0777) != 0 && errno != EEXIST)
        return sa_err(e->err, SEGAUDIT_EIO, "%s: cannot create: %s",
                      e->set.overlays_dir, strerror(errno));
    uint64_t *pick = malloc(top * sizeof *pick);
    uint8_t *bitmap = malloc((size_t)e->H * e->W);
    uint8_t (*gen)[3] = NULL;
    const uint8_t (*palette)[3] = e->set.palette;
    if (!palette) {
        gen = malloc((size_t)e->K * sizeof *gen);
        if (gen)
            segaudit_generate_palette(gen, (int)e->K);
        palette = (const uint8_t(*)[3])gen;
    }
    Rows rw;
    memset(&rw, 0, sizeof rw);
    rw.e = e;
    rw.kp.K = e->K;
    rw.kp.W = (uint32_t)e->W;
    rw.kp.f = 1;
    rw.kp.dtype = sa_probs_dtype(e->probs);
    rw.kp.logits = e->set.logits;
    rw.kp.T = e->set.temperature;
    rw.kp.ignored = e->ignored;
    rw.scratch = aligned_alloc(64, sa_kernel_scratch_size(&rw.kp));
    SaRecReader rd[2];
    int open[2] = {0, 0}, rc = 0;
    const SaRecord *cur[2] = {NULL, NULL};
    const SaDetail *det[2] = {NULL, NULL};
    if (!pick || !bitmap || !palette || !rw.scratch) {
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(pick, order, top * sizeof *pick);
    qsort(pick, top, sizeof *pick, cmp_u64);
    const SaRecStore *st[2] = {&e->store, &e->store2};
    for (int s = 0; s < 2 && rc == 0; s++) {
        rc = sa_recreader_open(&rd[s], st[s], e->err);
        if (rc == 0) {
            open[s] = 1;
            cur[s] = sa_recreader_next(&rd[s], &det[s], e->err);
            rc = e->err->code;
        }
    }
    for (uint64_t i = 0; i < top && rc == 0; i++) {
        if (sa_cancelled(e))
            rc = sa_err(e->err, SEGAUDIT_ECANCEL, "cancelled");
        else
            rc = one(e, pick[i], &rw, bitmap, palette, rd, cur, det);
    }
done:
    for (int s = 0; s < 2; s++)
        if (open[s])
            sa_recreader_close(&rd[s]);
    free(rw.probs);
    free(rw.scratch);
    free(gen);
    free(bitmap);
    free(pick);
    return rc;
}
