/* DESIGN: one read of the prediction tensor, in bands.
 *
 * A band is `band_rows` full-resolution rows of one image, all K channels.
 * Bands are handled in batches of B.  Inside one OpenMP parallel region the
 * "single" thread is the producer and the aggregator:
 *
 *   read batch 0, spawn one task per band of it      (workers score them)
 *   loop:  read batch i+1 (label files: label tasks) (overlaps the tasks)
 *          spawn one task per band of batch i+1      (queued behind batch i)
 *          taskwait for batch i only (its tasks depend on done[i])
 *          fold batch i into the images, classes and record store, in
 *          band order                      (deterministic; overlaps the
 *                                           tasks of batch i+1)
 *
 * so that a thread that finishes the last band of batch i goes on with
 * batch i+1 instead of waiting for the others.
 *
 * HDF5 reads happen on the producer thread only.  Label files are read by
 * label tasks that the producer makes as it plans each band, one after
 * another in band order (each depends on the one label reader), on
 * whichever thread is free, while the batch before is scored; a band's
 * task depends on its label task.  Where the
 * tensor's bytes can be read directly (io/h5_direct.c), the producer only
 * plans each band's read and the worker that scores the band reads it, so
 * that reading runs on every thread; a failed read is reported when the
 * band is folded, in band order like any other fault.  Workers write
 * only their band and their thread's scratch/histogram.  Each band keeps one
 * partial per block-row, and the aggregator merges those partials in image
 * order, so results do not depend on the band size or the thread count.
 * The first error stops the loop; errors are reported in band order. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/zalloc.h"
#include "engine/cache.h"
#include "engine/engine.h"

typedef struct Band {
    uint32_t image, row0, nrows;   /* set by the producer */
    uint32_t W;                    /* the image's width, producer */
    void *probs;                   /* [K][nrows][W], producer */
    uint16_t *labels;              /* [nrows][W], producer */
    SaRowOut *rows;                /* per block-row, worker */
    double *class_sum;             /* [block-rows][K], worker */
    uint64_t *counts;              /* [4][K] integer statistics, worker */
    SaBandStats st;                /* views of counts (+ the hist) */
    SaRecBuf recs;                 /* worker */
    size_t max_record;
    SaKernelFault fault;           /* worker; kind 0 = fine */
    SaBandRead plan;               /* producer: a read left to the worker */
    int planned;                   /* producer */
    int read_rc;                   /* worker: the planned read's result, */
    SaErr read_err;                /* its message */
    uint64_t read_bytes;           /* and the bytes it read */
    int cached;                    /* producer: the band is the whole
                                      image, from its cache entry (not
                                      read, not scored) */
    int loaded;                    /* worker: 1 the entry was read and
                                      holds, 0 the image is computed after
                                      all, or an error (read_err) */
    SaCacheImage entry;            /* worker: that entry */
    uint64_t *hist;                /* --cache: the band's own histogram,
                                      in the cache's coarser buckets */
    void *amap;                    /* pass 1: the image's argmax map that
                                      the worker fills (keep.c), or NULL */
    int lab_wide;                  /* worker: a label of the band did not
                                      fit in the kept label map */
    int lab_rc;                    /* label task: its read's result and */
    SaErr lab_err;                 /* message (label files) */
} Band;

typedef struct Batch {
    Band *bands;
    int n;
} Batch;

typedef struct Pass {
    SaEngine *e;
    uint64_t images_done, bytes_done; /* for progress reports */
    SaKernelParams kp;
    int B;                 /* bands per batch */
    Batch batch[2];
    int done[2];           /* what the tasks of each batch depend on */
    void **scratch;        /* per thread */
    SaReadScratch *rs;     /* per thread: compressed chunks being read */
    uint64_t **hist;       /* per thread (pass 1) */
    double *exp_half;      /* pass 1 of float16 probabilities: the
                              softmin's exponentials (kp.exp_half) */
    /* producer position */
    uint64_t next_image, next_row;
    SaLabelReader labels;  /* the label rows being read; with label files,
                              by a chain of label tasks, one per band */
    uint64_t lab_failed;   /* label tasks: the image whose label file
                              failed, or UINT64_MAX */
    /* --cache (pass 1): each image is looked up before it is read; an
     * image of a label array is read whole for that, and its bands then
     * take their rows from lab_buf; the aggregator builds the entry of
     * each computed image */
    int caching;
    SaLabelReader prelab;
    uint16_t *lab_buf;
    uint64_t lab_image;    /* the image lab_buf holds, or UINT64_MAX */
    SaCacheImage build;
    Band spare;            /* the aggregator's, for an image whose entry
                              failed when it was loaded */
    int spare_ready;
} Pass;

static int band_alloc(Pass *ps, Band *b)
{
    SaEngine *e = ps->e;
    size_t rows = ps->e->band_rows, nbr = rows / e->f;
    memset(b, 0, sizeof *b);
    b->probs = malloc((size_t)e->K * rows * e->W * e->elsize);
    b->labels = malloc(rows * e->W * sizeof(uint16_t));
    b->rows = malloc(nbr * sizeof(SaRowOut));
    b->class_sum = malloc(nbr * e->K * sizeof(double));
    b->counts = malloc(4 * (size_t)e->K * sizeof(uint64_t));
    if (b->counts) {
        b->st.class_count = b->counts;
        b->st.class_pixels = b->counts + e->K;
        b->st.class_correct = b->counts + 2 * (size_t)e->K;
        b->st.class_pred = b->counts + 3 * (size_t)e->K;
    }
    if (ps->caching)
        b->hist = malloc(SA_CACHE_HIST_BUCKETS * sizeof *b->hist);
    if (!b->probs || !b->labels || !b->rows || !b->class_sum || !b->counts ||
        (ps->caching && !b->hist))
        return sa_err(e->err, SEGAUDIT_ENOMEM,
                      "out of memory for a band of %zu rows", rows);
    return 0;
}

static void band_free(Band *b)
{
    free(b->probs);
    free(b->labels);
    free(b->rows);
    free(b->class_sum);
    free(b->counts);
    free(b->hist);
    sa_recbuf_free(&b->recs);
    sa_cache_image_free(&b->entry);
}

/* A band of image n, rows [r0, r0 + nrows), read and not yet scored. */
static void band_set(const SaEngine *e, Band *b, uint64_t n, uint64_t r0,
                     uint64_t nrows)
{
    b->image = (uint32_t)n;
    b->W = (uint32_t)sa_img_w(e, n);
    b->row0 = (uint32_t)r0;
    b->nrows = (uint32_t)nrows;
    b->recs.len = 0;
    b->recs.count = 0;
    b->fault.kind = 0;
    b->amap = NULL;
    b->lab_wide = 0;
}

/* Label task: band b's label rows from image n's label file, with the
 * pass's reader.  The tasks run one after another (each depends on the
 * reader), in the order the producer made them, which is the order of
 * the rows; a file that failed is not read further. */
static void label_task(Pass *ps, Band *b, uint64_t n, uint64_t r0,
                       uint64_t nrows)
{
    sa_err_clear(&b->lab_err);
    if (ps->lab_failed == n) {
        b->lab_rc = sa_err(&b->lab_err, SEGAUDIT_EINPUT, "%s: unreadable",
                           ps->e->label_paths[n]);
        return;
    }
    b->lab_rc = sa_labels_read(ps->e, &ps->labels, n, r0, nrows, b->labels,
                               &b->lab_err);
    if (b->lab_rc)
        ps->lab_failed = n;
}

/* Producer (or the aggregator, see compute_now): reads band b of image
 * n, rows [r0, r0 + nrows): its tensor rows, or plans their read by the
 * worker, and its labels, with lr, or from lab (the whole image's labels,
 * already read) when not NULL.  With ps, label files are read by a label
 * task instead (its result is the band's lab_rc), which the band's own
 * task depends on: off the producer's path. */
static int band_read(SaEngine *e, Band *b, uint64_t n, uint64_t r0,
                     uint64_t nrows, SaLabelReader *lr, const uint16_t *lab,
                     Pass *ps, SaErr *err)
{
    int rc = sa_probs_plan_read(e->probs, n, r0, nrows, &b->plan, err);
    b->planned = rc == 1;
    /* the band is read by a worker a batch from now: the disk can start */
    if (b->planned)
        sa_probs_prefetch(e->probs, &b->plan);
    if (rc == 0)
        rc = sa_probs_read_band(e->probs, n, r0, nrows, b->probs, err);
    else if (rc == 1)
        rc = 0;
    if (rc == 0 && lab) {
        memcpy(b->labels, lab + r0 * sa_img_w(e, n),
               nrows * sa_img_w(e, n) * sizeof *b->labels);
    } else if (rc == 0 && ps && e->label_paths) {
#pragma omp task firstprivate(ps, b, n, r0, nrows) \
    depend(inout : ps->labels) depend(out : b->lab_rc)
        label_task(ps, b, n, r0, nrows);
    } else if (rc == 0)
        rc = sa_labels_read(e, lr, n, r0, nrows, b->labels, err);
    return rc;
}

/* Producer: moves on to the next image (the label reader moves on when
 * it is given the next image's rows). */
static void next_image(Pass *ps)
{
    ps->next_row = 0;
    ps->next_image++;
}

/* Producer, at the start of image n with --cache: looks the image up (a
 * label array's image is read whole first, for its digest).  Returns 1
 * when it has an entry (b is then the whole image, which its worker loads
 * from the cache), 0 when it is to be computed, or an error (ENOMEM, a
 * failed read of the rows for cache_verify).  Labels that cannot be read
 * are left to the bands, which report them where a run without the cache
 * does. */
static int cache_probe(Pass *ps, Band *b, uint64_t n, SaErr *err)
{
    SaEngine *e = ps->e;
    ps->lab_image = UINT64_MAX;
    int rc;
    if (!e->label_paths) {
        /* an image of a label array is named by its map's digest */
        SaErr lab_err;
        sa_err_clear(&lab_err);
        ps->prelab.digest = 1;
        rc = sa_labels_read(e, &ps->prelab, n, 0, sa_img_h(e, n),
                            ps->lab_buf, &lab_err);
        if (rc == SEGAUDIT_ENOMEM)
            return sa_err(err, rc, "%s", lab_err.msg);
        if (rc)
            return 0;
        ps->lab_image = n;
    }
    rc = sa_cache_probe(e, n, err);
    if (rc != 1)
        return rc;
    b->cached = 1;
    b->planned = 0;
    return 1;
}

/* Producer: reads the next bands into batch bt.  Returns 0 (bt->n may be 0
 * at the end) or an error, written to err: the read-ahead's own error sink,
 * so that a fault of the batch being scored, which comes first in image
 * order, is the one reported. */
static int fill(Pass *ps, Batch *bt, SaErr *err)
{
    SaEngine *e = ps->e;
    bt->n = 0;
    while (bt->n < ps->B && ps->next_image < e->own_hi) {
        if (sa_cancelled(e))
            return sa_err(err, SEGAUDIT_ECANCEL, "cancelled");
        Band *b = &bt->bands[bt->n];
        b->lab_rc = 0;
        uint64_t n = ps->next_image, r0 = ps->next_row;
        if (e->skipped[n]) {
            next_image(ps);
            continue;
        }
        const uint64_t H = sa_img_h(e, n);
        uint64_t nrows = H - r0 < e->band_rows ? H - r0 : e->band_rows;
        int rc = 0;
        if (ps->caching && r0 == 0) {
            rc = cache_probe(ps, b, n, err);
            if (rc == 1) {
                nrows = H;
                rc = 0;
                goto ready;
            }
            if (rc)
                return rc;
        }
        rc = band_read(e, b, n, r0, nrows, &ps->labels,
                       ps->lab_image == n ? ps->lab_buf : NULL, ps, err);
        if (rc) {
            /* with --on-error skip, a bad image is left out and the
             * reading goes on with the next one */
            if (!e->set.on_error_skip || rc == SEGAUDIT_ENOMEM ||
                rc == SEGAUDIT_ECANCEL)
                return rc;
            char reason[SA_ERR_MSG];
            snprintf(reason, sizeof reason, "%s", err->msg);
            sa_err_clear(err);
            if ((rc = sa_engine_skip(e, n, reason)) != 0)
                return sa_err(err, rc, "%s", e->err->msg);
            next_image(ps);
            continue;
        }
    ready:
        band_set(e, b, n, r0, nrows);
        if (!b->cached && e->kept && ps->kp.rec_mode == SA_REC_PASS1) {
            if (r0 == 0 && (sa_keep_start(e, n, err, &rc), rc))
                return rc;
            b->amap = e->kept[n];
        }
        bt->n++;
        ps->next_row += nrows;
        if (ps->next_row == H)
            next_image(ps);
    }
    return 0;
}

/* Worker: scores one band. */
static void work(Pass *ps, Band *b)
{
    SaEngine *e = ps->e;
    int t = omp_get_thread_num();
    uint32_t f = e->f, nbr = b->nrows / f;
    SaKernelParams kp = ps->kp;
    kp.W = b->W;
    memset(b->counts, 0, 4 * (size_t)e->K * sizeof(uint64_t));
    b->st.hist = ps->hist ? ps->hist[t] : NULL;
    b->max_record = 0;
    b->read_rc = 0;
    b->read_bytes = 0;
    if (b->cached) {
        sa_err_clear(&b->read_err);
        b->loaded = sa_cache_load(e, b->image, &b->entry, &b->read_err);
        return;
    }
    if (b->hist) {
        memset(b->hist, 0, SA_CACHE_HIST_BUCKETS * sizeof *b->hist);
        b->st.hist = b->hist;
    }
    if (b->lab_rc) /* its labels could not be read: fold reports it */
        return;
    if (b->planned) {
        sa_err_clear(&b->read_err);
        b->read_rc = sa_probs_read_planned(e->probs, &b->plan, b->probs,
                                           &b->read_bytes, &ps->rs[t],
                                           &b->read_err);
        if (b->read_rc)
            return;
    }
    const uint16_t *arg =
        b->amap ? sa_kernel_last_argmax(&kp, ps->scratch[t]) : NULL;
    for (uint32_t j = 0; j < nbr; j++) {
        if (sa_cancelled(e))
            return;
        double *cs = b->class_sum + (size_t)j * e->K;
        memset(cs, 0, e->K * sizeof(double));
        sa_softmin_init(&b->rows[j].softmin);
        b->rows[j].sum_s = 0.0;
        b->rows[j].min_s = INFINITY;
        b->rows[j].valid_pixels = 0;
        b->rows[j].far = 0;
        if (sa_kernel_block_row(&kp, ps->scratch[t], b->probs, b->nrows,
                                j * f, b->labels + (size_t)j * f * b->W,
                                b->image, b->row0 + j * f, &b->rows[j], cs,
                                &b->st, &b->recs, &b->fault) != 0)
            return;
        if (arg) /* (kept only without downsampling: f = 1) */
            sa_keep_put(e, b->amap, (size_t)(b->row0 + j) * b->W, arg, b->W);
    }
    if (b->amap && e->kept_labels) /* the label map after the argmax map */
        b->lab_wide = sa_keep_put(
            e, b->amap, ((size_t)sa_img_h(e, b->image) + b->row0) * b->W,
            b->labels, (size_t)b->nrows * b->W);
    if (f > 1)
        b->max_record = sizeof(SaRecord) + (size_t)f * f * sizeof(SaDetail);
    else
        b->max_record = sizeof(SaRecord);
}

/* A label value that is not a class (labels.c says what to do). */
static int label_error(SaEngine *e, const Band *b, SaErr *err)
{
    const SaKernelFault *f = &b->fault;
    /* the fault's row: the same whatever the band size */
    const uint16_t *lab = b->labels + (size_t)(f->row - b->row0) * b->W;
    return sa_labels_value_error(e, b->image, f->row, f->col, lab, err);
}

static int fault_error(SaEngine *e, const Band *b, SaErr *err)
{
    const SaKernelFault *f = &b->fault;
    const char *id = e->ids[b->image];
    switch (f->kind) {
    case SA_FAULT_LABEL:
        return label_error(e, b, err);
    case SA_FAULT_NAN:
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: image '%s' (index %u): NaN probability for "
                      "class %u at (row %u, col %u)",
                      e->probs_where, id, b->image, f->cls,
                      f->row, f->col);
    case SA_FAULT_INF:
    case SA_FAULT_NEGATIVE:
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: image '%s' (index %u): %s probability %g for "
                      "class %u at (row %u, col %u)%s",
                      e->probs_where, id, b->image,
                      f->kind == SA_FAULT_INF ? "infinite" : "negative",
                      f->value, f->cls, f->row, f->col,
                      f->kind == SA_FAULT_NEGATIVE
                          ? "; if the values are logits (model outputs "
                            "before the softmax), use --logits"
                          : "");
    default:
        return sa_err(err, SEGAUDIT_ENOMEM,
                      "out of memory while scoring image '%s'", id);
    }
}

/* Aggregator: notes where the record store stands before image n starts,
 * so that a skip half-way through it can be undone (its statistics are in
 * e->cur until it is complete). */
static void image_start(SaEngine *e, const SaRecStore *st, uint64_t n)
{
    e->images[n].rec_off[st == &e->store2] = st->bytes;
    e->fold_image = n;
    e->fold_undone = 0;
    e->snap_bytes = st->bytes;
    e->snap_records = st->count;
}

/* Aggregator: undoes what image n (skipped) has folded so far. */
static int image_undo(SaEngine *e, SaRecStore *st, uint64_t n, int stats)
{
    if (e->fold_undone)
        return 0;
    e->fold_undone = 1;
    if (stats) {
        SaImage *im = &e->images[n];
        sa_softmin_init(&im->softmin);
        im->sum_s = 0;
        im->min_s = INFINITY;
        im->valid_pixels = 0;
        sa_image_classes_clear(e);
    }
    return sa_recstore_truncate(st, e->snap_bytes, e->snap_records, e->err);
}

static int compute_now(Pass *ps, uint64_t n);

/* Aggregator: folds one band. */
static int fold_band(Pass *ps, Band *b)
{
    SaEngine *e = ps->e;
    int stats = ps->kp.rec_mode == SA_REC_PASS1;
    SaRecStore *st = stats ? &e->store : &e->store2;
    int rc = 0;
    if (b->image != e->fold_image) {
        image_start(e, st, b->image);
        if (ps->caching)
            sa_cache_note_image(e, b->image);
        if (ps->caching && !b->cached &&
            (rc = sa_cache_build_begin(e, b->image, &ps->build)) != 0)
            return rc;
    }
    if (b->cached) {
        /* the whole image, from the cache; or computed now, when the
         * worker found its entry damaged */
        b->cached = 0;
        if (b->loaded < 0)
            return sa_err(e->err, b->loaded, "%s", b->read_err.msg);
        if (b->loaded == 0)
            return compute_now(ps, b->image);
        if ((rc = sa_cache_fold(e, b->image, &b->entry)) != 0)
            return rc;
        goto next;
    }
    sa_probs_count(e->probs, b->read_bytes);
    if (b->lab_wide)
        e->kept_wide[b->image] = 1;
    if (!e->skipped[b->image] && b->lab_rc) {
        /* the label task's read failed: as a failed read on the producer
         * (before the band's tensor rows, which it reads first) */
        if (!e->set.on_error_skip || b->lab_rc == SEGAUDIT_ENOMEM)
            return sa_err(e->err, b->lab_rc, "%s", b->lab_err.msg);
        if ((rc = sa_engine_skip(e, b->image, b->lab_err.msg)) != 0)
            return rc;
    }
    if (!e->skipped[b->image] && b->read_rc) {
        /* the worker's read failed: as a failed read on the producer */
        if (!e->set.on_error_skip || b->read_rc == SEGAUDIT_ENOMEM)
            return sa_err(e->err, b->read_rc, "%s", b->read_err.msg);
        if ((rc = sa_engine_skip(e, b->image, b->read_err.msg)) != 0)
            return rc;
    }
    if (!e->skipped[b->image] && stats && b->fault.kind == 0 &&
        e->set.strict) {
        /* --strict: a pixel whose probabilities do not sum to 1 */
        for (uint32_t j = 0; j < b->nrows / e->f; j++) {
            const SaRowOut *ro = &b->rows[j];
            if (!ro->far)
                continue;
            SaErr fe;
            sa_err_clear(&fe);
            sa_err(&fe, SEGAUDIT_EINPUT,
                   "%s: image '%s' (index %u): probabilities sum to "
                   "%g at (row %u, col %u), not 1 (--strict; use "
                   "--logits if these are logits)",
                   e->probs_where, e->ids[b->image],
                   b->image, ro->far_sum, ro->far_row, ro->far_col);
            if (!e->set.on_error_skip)
                return sa_err(e->err, fe.code, "%s", fe.msg);
            if ((rc = sa_engine_skip(e, b->image, fe.msg)) != 0)
                return rc;
            break;
        }
    }
    if (!e->skipped[b->image] && b->fault.kind) {
        SaErr fe;
        sa_err_clear(&fe);
        fault_error(e, b, &fe);
        if (!e->set.on_error_skip || fe.code == SEGAUDIT_ENOMEM)
            return sa_err(e->err, fe.code, "%s", fe.msg);
        if ((rc = sa_engine_skip(e, b->image, fe.msg)) != 0)
            return rc;
    }
    if (e->skipped[b->image]) {
        if ((rc = image_undo(e, st, b->image, stats)) != 0)
            return rc;
    } else {
        SaCacheImage *bld = ps->caching ? &ps->build : NULL;
        int last = b->row0 + b->nrows == sa_img_h(e, b->image);
        if (stats) {
            SaImage *im = &e->images[b->image];
            uint32_t nbr = b->nrows / e->f;
            for (uint32_t j = 0; j < nbr; j++) {
                const SaRowOut *ro = &b->rows[j];
                if (ro->far) {
                    if (e->cur.far == 0) {
                        e->cur.far_row = ro->far_row;
                        e->cur.far_col = ro->far_col;
                        e->cur.far_sum = ro->far_sum;
                    }
                    e->cur.far += ro->far;
                }
                sa_softmin_merge(&im->softmin, &ro->softmin);
                im->sum_s += ro->sum_s;
                im->min_s = ro->min_s < im->min_s ? ro->min_s : im->min_s;
                im->valid_pixels += ro->valid_pixels;
                const double *cs = b->class_sum + (size_t)j * e->K;
                for (uint32_t k = 0; k < e->K; k++)
                    e->cur.sum[k] += cs[k];
            }
            for (uint32_t k = 0; k < e->K; k++) {
                e->cur.count[k] += b->st.class_count[k];
                e->cur.labeled[k] += b->st.class_pixels[k];
                e->cur.correct[k] += b->st.class_correct[k];
                e->cur.pred[k] += b->st.class_pred[k];
            }
            if (bld) {
                sa_cache_build_hist(bld, b->hist);
                sa_cache_build_rows(bld, b->probs,
                                    (size_t)e->K * b->nrows * b->W *
                                        e->elsize);
            }
        }
        if (b->recs.count) {
            rc = sa_recstore_append(st, b->recs.data, b->recs.len,
                                    b->recs.count, b->max_record, e->err);
            if (rc == 0 && bld)
                rc = sa_cache_build_recs(e, bld, b->recs.data,
                                         b->recs.len, b->recs.count,
                                         b->max_record);
            if (rc)
                return rc;
        }
        /* the image's entry is committed as soon as it is whole */
        if (stats && last && bld &&
            (rc = sa_cache_commit(e, b->image, bld)) != 0)
            return rc;
        if (stats && last) {
            sa_image_scores(e, b->image);
            sa_keep_done(e, b->image);
        }
    }
next:
    ps->bytes_done += (uint64_t)e->K * b->nrows * b->W * e->elsize;
    if (b->row0 + b->nrows == sa_img_h(e, b->image))
        ps->images_done = (uint64_t)b->image + 1;
    return 0;
}

/* Aggregator: image n, whose entry its worker found damaged, is computed
 * here as the producer would have read it, band by band on this thread
 * (with the spare band, this thread's scratch, and HDF5 on the thread
 * that reads it elsewhere), and its entry replaced.  Its reading faults
 * are those of a run without the cache. */
static int compute_now(Pass *ps, uint64_t n)
{
    SaEngine *e = ps->e;
    Band *b = &ps->spare;
    int rc = 0;
    if (!ps->spare_ready) {
        ps->spare_ready = 1; /* freed at the end, allocated or not */
        if ((rc = band_alloc(ps, b)) != 0)
            return rc;
    }
    if ((rc = sa_cache_build_begin(e, n, &ps->build)) != 0)
        return rc;
    SaLabelReader lr;
    memset(&lr, 0, sizeof lr);
    lr.digest = 1;
    const uint64_t H = sa_img_h(e, n);
    uint64_t nrows;
    for (uint64_t r0 = 0; rc == 0 && r0 < H && !e->skipped[n];
         r0 += nrows) {
        nrows = H - r0 < e->band_rows ? H - r0 : e->band_rows;
        SaErr err;
        sa_err_clear(&err);
        if ((rc = band_read(e, b, n, r0, nrows, &lr, NULL, NULL, &err)) !=
            0) {
            if (!e->set.on_error_skip || rc == SEGAUDIT_ENOMEM ||
                rc == SEGAUDIT_ECANCEL)
                rc = sa_err(e->err, rc, "%s", err.msg);
            else if ((rc = sa_engine_skip(e, n, err.msg)) == 0)
                rc = image_undo(e, &e->store, n, 1);
            break;
        }
        band_set(e, b, n, r0, nrows);
        work(ps, b);
        rc = fold_band(ps, b);
    }
    sa_labels_reader_free(&lr);
    return rc;
}

/* Aggregator: folds one batch, in band order. */
static int fold(Pass *ps, Batch *bt)
{
    SaEngine *e = ps->e;
    int stats = ps->kp.rec_mode == SA_REC_PASS1;
    for (int i = 0; i < bt->n; i++) {
        int rc = fold_band(ps, &bt->bands[i]);
        if (rc)
            return rc;
    }
    /* in a group: this member's own images */
    if (e->set.progress)
        e->set.progress(e->set.progress_ctx, stats ? 1 : 2,
                        ps->images_done - e->own_lo, e->own_hi - e->own_lo,
                        ps->bytes_done);
    return 0;
}

/* Producer: one task per band of batch j, each after its label task (if
 * any); the taskwait on ps->done[j] waits for them and for no others. */
static void spawn(Pass *ps, int j)
{
    Batch *bt = &ps->batch[j];
    for (int i = 0; i < bt->n; i++) {
        Band *band = &bt->bands[i];
#pragma omp task firstprivate(ps, band) depend(in : ps->done[j]) \
    depend(in : band->lab_rc)
        work(ps, band);
    }
}

int sa_engine_read_pass(SaEngine *e, int rec_mode, uint32_t min_bucket,
                        uint32_t max_bucket)
{
    Pass ps;
    memset(&ps, 0, sizeof ps);
    ps.e = e;
    ps.kp.K = e->K;
    ps.kp.W = (uint32_t)e->W;
    ps.kp.f = e->f;
    ps.kp.ds_mode = e->set.downsample_labels;
    ps.kp.dtype = sa_probs_dtype(e->probs);
    ps.kp.logits = e->set.logits;
    ps.kp.T = e->set.temperature;
    ps.kp.ignored = e->ignored;
    ps.kp.rec_mode = rec_mode;
    ps.kp.min_bucket = min_bucket;
    ps.kp.max_bucket = max_bucket;
    ps.kp.pix = e->pix_out.base ? &e->pix_out : NULL;
    ps.B = 2 * e->n_threads;
    ps.labels.digest = rec_mode == SA_REC_PASS1;
    ps.caching = e->cache && rec_mode == SA_REC_PASS1;
    if (ps.caching)
        ps.kp.hist_shift = SA_CACHE_HIST_SHIFT;
    ps.lab_image = UINT64_MAX;
    ps.lab_failed = UINT64_MAX;
    ps.next_image = e->own_lo; /* in a group, this member's images */
    e->fold_image = UINT64_MAX; /* each pass starts its first image anew */
    ps.images_done = e->own_lo;
    int nt = e->n_threads, rc = 0;
    if (ps.caching && !e->label_paths &&
        !(ps.lab_buf = malloc((e->max_pixels ? e->max_pixels : 1) *
                              sizeof *ps.lab_buf)))
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");

    if (rec_mode == SA_REC_PASS1 && (rc = sa_keep_init(e)) != 0)
        goto done;
    /* float16 probabilities give scores that are half floats: the
     * exponentials of all of them, made once per pass, spare an `exp` per
     * pixel (the same bits as computing them) */
    if (rec_mode == SA_REC_PASS1 && ps.kp.f == 1 && ps.kp.dtype == SA_F16 &&
        !ps.kp.logits) {
        if (!(ps.exp_half = malloc(SA_EXP_HALF * sizeof *ps.exp_half))) {
            rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
            goto done;
        }
        if (sa_softmin_half_table(ps.kp.T, ps.exp_half))
            ps.kp.exp_half = ps.exp_half;
    }
    ps.scratch = calloc((size_t)nt, sizeof(void *));
    ps.rs = calloc((size_t)nt, sizeof *ps.rs);
    /* with --cache, each image's histogram goes to its entry and from
     * there to e->hist */
    if (rec_mode == SA_REC_PASS1 && !ps.caching)
        ps.hist = calloc((size_t)nt, sizeof(uint64_t *));
    for (int b = 0; b < 2; b++)
        ps.batch[b].bands = calloc((size_t)ps.B, sizeof(Band));
    if (!ps.scratch || !ps.rs ||
        (rec_mode == SA_REC_PASS1 && !ps.caching && !ps.hist) ||
        !ps.batch[0].bands || !ps.batch[1].bands) {
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        goto done;
    }
    size_t scratch_size = sa_kernel_scratch_size(&ps.kp);
    for (int t = 0; t < nt; t++) {
        ps.scratch[t] = aligned_alloc(64, scratch_size);
        if (ps.hist)
            ps.hist[t] = sa_zalloc(SA_HIST_BUCKETS, sizeof(uint64_t));
        if (!ps.scratch[t] || (ps.hist && !ps.hist[t])) {
            rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
            goto done;
        }
    }
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < ps.B; i++)
            if ((rc = band_alloc(&ps, &ps.batch[b].bands[i])) != 0)
                goto done;

    /* A read error stops the reading, but the bands read before it are
     * still scored, so that a fault in them (earlier in image order) is the
     * error reported, whatever the batch size and so the thread count. */
    SaErr read_err, next_err;
    sa_err_clear(&read_err);
    int read_rc = fill(&ps, &ps.batch[0], &read_err);
    int cur = 0;
#pragma omp parallel num_threads(nt) shared(ps, cur, rc, read_rc, read_err, next_err)
#pragma omp single
    {
        spawn(&ps, cur);
        while (ps.batch[cur].n > 0) {
            Batch *bt = &ps.batch[cur];
            int next_rc = 0;
            sa_err_clear(&next_err);
            if (read_rc == 0)
                next_rc = fill(&ps, &ps.batch[1 - cur], &next_err);
            else
                ps.batch[1 - cur].n = 0;
            /* the next batch is scored as soon as a thread is free: while
             * this one is finished, and then folded */
            spawn(&ps, 1 - cur);
#pragma omp taskwait depend(inout : ps.done[cur])
            if (sa_cancelled(e))
                rc = sa_err(e->err, SEGAUDIT_ECANCEL, "cancelled");
            else
                rc = fold(&ps, bt);
            /* the bands being scored now are those of the next batch */
            if (rc == 0 && rec_mode == SA_REC_PASS1)
                sa_keep_release(e, ps.batch[1 - cur].n
                                       ? ps.batch[1 - cur].bands[0].image
                                       : UINT64_MAX);
            if (rc == 0 && read_rc)
                rc = sa_err(e->err, read_rc, "%s", read_err.msg);
            if (rc)
                break;
            read_rc = next_rc;
            read_err = next_err;
            cur = 1 - cur;
        }
    }
    if (rc == 0 && read_rc)
        rc = sa_err(e->err, read_rc, "%s", read_err.msg);
    if (rc)
        goto done;

    if (ps.hist) {
        for (int t = 0; t < nt; t++)
            for (uint32_t i = 0; i < SA_HIST_BUCKETS; i++)
                e->hist[i] += ps.hist[t][i];
    }
done:
    sa_labels_reader_free(&ps.labels);
    sa_labels_reader_free(&ps.prelab);
    sa_cache_image_free(&ps.build);
    if (ps.spare_ready)
        band_free(&ps.spare);
    free(ps.lab_buf);
    for (int b = 0; b < 2; b++) {
        if (ps.batch[b].bands)
            for (int i = 0; i < ps.B; i++)
                band_free(&ps.batch[b].bands[i]);
        free(ps.batch[b].bands);
    }
    for (int t = 0; ps.scratch && t < nt; t++)
        free(ps.scratch[t]);
    for (int t = 0; ps.rs && t < nt; t++)
        sa_read_scratch_free(&ps.rs[t]);
    free(ps.rs);
    free(ps.exp_half);
    for (int t = 0; ps.hist && t < nt; t++)
        free(ps.hist[t]);
    free(ps.scratch);
    free(ps.hist);
    return rc;
}
