/* Opening and closing the engine: the prediction tensor and its axis
 * order, the labels and ids (labels.c), the per-image and per-class state
 * and the record stores; the passes in their order.  Runs on the calling
 * thread. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/zalloc.h"
#include "engine/cache.h"
#include "engine/dist.h"
#include "engine/engine.h"

void sa_engine_init(SaEngine *e)
{
    memset(e, 0, sizeof *e);
    /* a store that was never set up must own no descriptor (zeroed memory
     * would make it fd 0) */
    sa_recstore_init(&e->store, 0, NULL);
    sa_recstore_init(&e->store2, 0, NULL);
    sa_recstore_init(&e->regions, 0, NULL);
}

/* ---- the passes ---------------------------------------------------------- */

int sa_engine_pass1(SaEngine *e)
{
    int rc = sa_cache_open(e);
    if (rc == 0)
        rc = sa_engine_read_pass(e, SA_REC_PASS1, 0, 0);
    if (rc == 0)
        rc = sa_recstore_finish(&e->store, e->err);
    /* a group: every member's part, and the sums of the thresholds */
    if ((rc = sa_dist_pass1(e, rc)) != 0)
        return rc;
    for (uint32_t k = 0; k < e->K; k++) {
        SaClass *c = &e->classes[k];
        double t = c->count ? c->sum / (double)c->count : 0.0;
        c->threshold = t > 2e-6 ? t : 2e-6;
    }
    return 0;
}

int sa_engine_pass2(SaEngine *e, SegauditPair **pairs, uint64_t *npairs)
{
    int rc = sa_engine_issues(e, pairs, npairs);
    if (rc)
        return rc;
    for (uint64_t n = 0; n < e->N; n++) {
        SaImage *im = &e->images[n];
        im->score[SEGAUDIT_SCORE_NUM_PIXEL_ISSUES] =
            im->valid_pixels
                ? 1.0 - (double)im->issue_pixels / im->valid_pixels
                : NAN;
    }
    return 0;
}

void sa_engine_release_inputs(SaEngine *e)
{
    if (e->probs) {
        e->bytes_read = sa_probs_bytes_read(e->probs);
        e->read_path = sa_probs_read_path(e->probs);
    }
    sa_probs_close(e->probs);
    e->probs = NULL;
    sa_recstore_free(&e->store);
    sa_recstore_free(&e->store2);
    sa_cache_close(e);
}

/* ---- the axis order of the tensor ------------------------------------- */

/* How an h x w prediction fits labels of lh x lw: 1 when the sizes are
 * the same, s (2..64) when the prediction is s times smaller on both sides
 * (--upsample), 0 when it does not fit. */
static uint64_t fit_factor(uint64_t h, uint64_t w, uint64_t lh, uint64_t lw)
{
    if (h == lh && w == lw)
        return 1;
    if (!h || !w || lh % h || lw % w || lh / h != lw / w || lh / h < 2 ||
        lh / h > 64)
        return 0;
    return lh / h;
}

/* Reads the tensor as channels-last when the settings say so, or, by
 * default, when only that order fits the label size and the class names;
 * an order that does not fit while the other does is an error saying
 * so. */
static int choose_layout(SaEngine *e)
{
    uint64_t s[4];
    sa_probs_stored_shape(e->probs, s);
    uint64_t names = (uint64_t)e->set.n_class_names;
    int have = e->label_h > 0;
    int fit_nchw = (!names || s[1] == names) &&
                   (!have || fit_factor(s[2], s[3], e->label_h, e->label_w));
    int fit_nhwc = (!names || s[3] == names) &&
                   (!have || fit_factor(s[1], s[2], e->label_h, e->label_w));
    int nhwc = e->set.layout == SEGAUDIT_LAYOUT_NHWC;
    if (e->set.layout == SEGAUDIT_LAYOUT_AUTO && fit_nhwc && !fit_nchw) {
        nhwc = 1;
        e->layout_assumed = 1;
    } else if (e->set.layout != SEGAUDIT_LAYOUT_AUTO &&
               (nhwc ? !fit_nhwc && fit_nchw : !fit_nchw && fit_nhwc)) {
        return sa_err(e->err, SEGAUDIT_EINPUT,
                      "%s: shape (%llu,%llu,%llu,%llu) looks %s: the "
                      "labels are %llux%llu (HxW)%s; use --layout %s",
                      e->probs_where,
                      (unsigned long long)s[0], (unsigned long long)s[1],
                      (unsigned long long)s[2], (unsigned long long)s[3],
                      nhwc ? "channels-first (N,K,H,W)"
                           : "channels-last (N,H,W,K)",
                      (unsigned long long)e->label_h,
                      (unsigned long long)e->label_w,
                      names ? " and there are as many class names as the "
                              "other order's K" : "",
                      nhwc ? "nchw" : "nhwc");
    }
    if (nhwc != sa_probs_nhwc(e->probs))
        return sa_probs_set_layout(e->probs, nhwc, e->err);
    return 0;
}

/* Predictions at a lower resolution than the labels, by one integer
 * factor in both directions: upsampled with --upsample, else an error
 * that says so. */
static int choose_upsample(SaEngine *e)
{
    uint64_t d[4];
    sa_probs_dims(e->probs, d);
    uint64_t lh = e->label_h, lw = e->label_w;
    uint64_t factor = lh ? fit_factor(d[2], d[3], lh, lw) : 1;
    if (factor == 1)
        return 0; /* same size, or unknown: checked again per image */
    if (factor == 0) {
        if (e->set.upsample)
            return sa_err(e->err, SEGAUDIT_EINPUT,
                          "%s: predictions of %llux%llu (HxW) cannot be "
                          "upsampled to the labels' %llux%llu: --upsample "
                          "needs one integer factor (2..64) for both sides",
                          e->probs_where,
                          (unsigned long long)d[2], (unsigned long long)d[3],
                          (unsigned long long)lh, (unsigned long long)lw);
        return 0;
    }
    uint32_t s = (uint32_t)factor;
    if (!e->set.upsample)
        return sa_err(e->err, SEGAUDIT_EINPUT,
                      "%s: predictions of %llux%llu (HxW) are %u times "
                      "smaller than the labels (%llux%llu); upsample them "
                      "with --upsample bilinear (or nearest)",
                      e->probs_where,
                      (unsigned long long)d[2], (unsigned long long)d[3], s,
                      (unsigned long long)lh, (unsigned long long)lw);
    e->upsampled = s;
    return sa_probs_set_upsample(e->probs, s,
                                 e->set.upsample == SEGAUDIT_UPSAMPLE_NEAREST
                                     ? SA_UP_NEAREST
                                     : SA_UP_BILINEAR,
                                 e->err);
}

/* The ids the caller gave (settings.image_ids), one per image. */
static int given_ids(SaEngine *e)
{
    if (e->set.n_image_ids != e->N)
        return sa_err(e->err, SEGAUDIT_EINPUT,
                      "%llu image ids were given but %s has N=%llu images",
                      (unsigned long long)e->set.n_image_ids, e->probs_where,
                      (unsigned long long)e->N);
    e->ids = calloc(e->N ? e->N : 1, sizeof *e->ids);
    if (!e->ids)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < e->N; i++) {
        const char *id = e->set.image_ids[i];
        if (!id || !(e->ids[i] = strdup(id)))
            return sa_err(e->err, id ? SEGAUDIT_ENOMEM : SEGAUDIT_EINVAL,
                          id ? "out of memory" : "image id %llu is NULL",
                          (unsigned long long)i);
    }
    e->ids_source = SA_IDS_GIVEN;
    return 0;
}

/* An output array of settings (issues_out, or pixel_scores_out when
 * scores): shape (N,H,W), its type, and where to write. */
static int out_array(SaEngine *e, const SegauditArray *a, const char *name,
                     int scores, SaPixOut *out)
{
    memset(out, 0, sizeof *out);
    if (!a)
        return 0;
    if (!a->data || a->ndim != 3)
        return sa_err(e->err, SEGAUDIT_EINVAL, "%s: %s", name,
                      !a->data ? "no data" : "must have 3 dimensions");
    int t = a->dtype;
    int ok = scores ? t == SEGAUDIT_DTYPE_FLOAT32 || t == SEGAUDIT_DTYPE_FLOAT64
                    : t == SEGAUDIT_DTYPE_BOOL || t == SEGAUDIT_DTYPE_UINT8;
    if (!ok)
        return sa_err(e->err, SEGAUDIT_EINVAL, "%s: element type must be %s",
                      name, scores ? "float32 or float64" : "bool or uint8");
    if (a->shape[0] != e->N || a->shape[1] != e->H || a->shape[2] != e->W)
        return sa_err(e->err, SEGAUDIT_EINVAL,
                      "%s: shape (%llu,%llu,%llu), expected (N,H,W) = "
                      "(%llu,%llu,%llu)", name,
                      (unsigned long long)a->shape[0],
                      (unsigned long long)a->shape[1],
                      (unsigned long long)a->shape[2],
                      (unsigned long long)e->N, (unsigned long long)e->H,
                      (unsigned long long)e->W);
    /* every pixel its own element (workers write them at once): no zero
     * stride, and each axis, taken from the finest, steps over the whole
     * extent of the finer ones */
    for (int i = 0; i < 3; i++)
        if (a->strides[i] == INT64_MIN)
            return sa_err(e->err, SEGAUDIT_EINVAL, "%s: strides too large",
                          name);
    int ax[3] = {0, 1, 2};
    for (int i = 1; i < 3; i++)
        for (int j = i; j > 0 && llabs(a->strides[ax[j]]) <
                                     llabs(a->strides[ax[j - 1]]); j--) {
            int swap = ax[j];
            ax[j] = ax[j - 1];
            ax[j - 1] = swap;
        }
    uint64_t need = t == SEGAUDIT_DTYPE_FLOAT64 ? 8
                    : t == SEGAUDIT_DTYPE_FLOAT32 ? 4 : 1;
    for (int i = 0; i < 3; i++) {
        if (a->shape[ax[i]] == 1)
            continue; /* an axis of one step has no stride to speak of */
        uint64_t st = (uint64_t)llabs(a->strides[ax[i]]);
        if (st < need)
            return sa_err(e->err, SEGAUDIT_EINVAL, "%s: strides (%lld,%lld,"
                          "%lld) make pixels share bytes", name,
                          (long long)a->strides[0], (long long)a->strides[1],
                          (long long)a->strides[2]);
        if (st > UINT64_MAX / a->shape[ax[i]])
            return sa_err(e->err, SEGAUDIT_EINVAL, "%s: strides too large",
                          name);
        need = st * a->shape[ax[i]];
    }
    out->base = a->data;
    out->sn = a->strides[0];
    out->sh = a->strides[1];
    out->sw = a->strides[2];
    out->f32 = t == SEGAUDIT_DTYPE_FLOAT32;
    return 0;
}

int sa_engine_open(SaEngine *e, const SegauditSettings *set, SaErr *err)
{
    int rc;
    uint64_t dims[4];

    e->set = *set;
    e->err = err;
    /* first: a member that fails from here on still takes part in the
     * group's exchanges */
    e->comm = set->comm && set->comm->size > 1 ? set->comm : NULL;
    e->probs_path = set->probs_path;
    e->probs_dataset = set->probs_dataset;
    sa_probs_allow_plugins(set->allow_plugins);
    SaProbsOpts po = {0};
    po.nhwc = set->layout == SEGAUDIT_LAYOUT_NHWC;
    po.scale = set->probs_scale;
    if (set->probs_array) {
        e->probs_path = "pred_probs";
        e->probs_dataset = "";
        rc = sa_probs_open_array(&e->probs, set->probs_array, e->probs_path,
                                 &po, e->err);
    } else {
        rc = sa_probs_open_ex(&e->probs, e->probs_path, e->probs_dataset,
                              &po, e->err);
    }
    if (rc)
        return rc;
    /* how messages name the tensor, kept past its closing */
    snprintf(e->probs_where, sizeof e->probs_where, "%s",
             sa_probs_where(e->probs));
    if (sa_probs_per_image(e->probs) && set->ids_dataset)
        return sa_err(e->err, SEGAUDIT_EINVAL,
                      "%s: the predictions are one dataset per image, and "
                      "each dataset's name is its image's id; --ids cannot "
                      "be given with them", e->probs_where);
    sa_probs_dims(e->probs, dims);
    e->N = dims[0];
    if (e->N > UINT32_MAX)
        return sa_err(e->err, SEGAUDIT_EINPUT,
                      "%s: %llu images; at most 2^32-1 are supported",
                      e->probs_where,
                      (unsigned long long)e->N);
    e->skipped = calloc(e->N, 1);
    if (!e->skipped)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    e->fold_image = UINT64_MAX;

    /* ids: --ids naming a file is a text list; else a dataset of the
     * tensor file (by default /image_ids when there is one) */
    int found = 0;
    int ids_file = sa_regular_file(set->ids_dataset);
    const char *ids_ds = ids_file ? NULL : set->ids_dataset;
    if (set->image_ids) {
        if ((rc = given_ids(e)) != 0)
            return rc;
        found = 1;
    } else if (!ids_file) {
        if ((rc = sa_probs_read_ids(e->probs, ids_ds, &e->ids, &found,
                                    e->err)) != 0)
            return rc;
        if (found)
            e->ids_source = SA_IDS_DATASET;
    }
    if ((rc = sa_labels_open(e, found)) != 0)
        return rc;
    if ((rc = choose_layout(e)) != 0 || (rc = choose_upsample(e)) != 0)
        return rc;

    sa_probs_dims(e->probs, dims);
    e->K = (uint32_t)dims[1];
    e->H = dims[2];
    e->W = dims[3];
    e->f = (uint32_t)e->set.downsample;
    e->elsize = sa_probs_elsize(e->probs);
    e->dtype = sa_probs_dtype(e->probs);
    snprintf(e->dtype_name, sizeof e->dtype_name, "%s",
             sa_probs_dtype_name(e->probs));
    e->quantised = sa_probs_quantised(e->probs);
    sa_probs_scale(e->probs, &e->scale, &e->offset);
    e->layout = strdup(sa_probs_layout(e->probs));
    if (!e->layout)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    /* one dataset per image: the largest H and W may come from different
     * images, whose own sizes are checked below */
    int per_image = sa_probs_per_image(e->probs);
    if (e->N > UINT32_MAX || e->H > UINT32_MAX || e->W > UINT32_MAX ||
        (!per_image && e->H > UINT32_MAX / e->W) || e->K > 65535)
        return sa_err(e->err, SEGAUDIT_EINPUT,
                      "%s: shape (%llu,%u,%llu,%llu) is too large (at "
                      "most 2^32-1 images, 2^32-1 pixels per image, 65535 "
                      "classes)",
                      e->probs_where,
                      (unsigned long long)e->N, e->K,
                      (unsigned long long)e->H, (unsigned long long)e->W);
    e->max_pixels = e->H * e->W;
    if (per_image) {
        e->max_pixels = 0;
        e->img_h = malloc(e->N * sizeof *e->img_h);
        e->img_w = malloc(e->N * sizeof *e->img_w);
        if (!e->img_h || !e->img_w)
            return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        for (uint64_t n = 0; n < e->N; n++) {
            uint64_t h, w;
            sa_probs_image_size(e->probs, n, &h, &w);
            e->img_h[n] = (uint32_t)h;
            e->img_w[n] = (uint32_t)w;
            if (h * w > e->max_pixels)
                e->max_pixels = h * w;
        }
    }
    for (uint64_t n = 0; n < e->N; n++) {
        uint64_t h = sa_img_h(e, n), w = sa_img_w(e, n);
        if (e->labarr && (e->label_h != h || e->label_w != w))
            return sa_err(e->err, SEGAUDIT_EINPUT,
                          "%s: label maps of %llux%llu (HxW) do not match "
                          "the predictions of image '%s' (H=%llu, W=%llu)",
                          e->set.labels_dir, (unsigned long long)e->label_h,
                          (unsigned long long)e->label_w, e->ids[n],
                          (unsigned long long)h, (unsigned long long)w);
        if ((uint64_t)h * w > UINT32_MAX)
            return sa_err(e->err, SEGAUDIT_EINPUT,
                          "%s: image '%s' of %llux%llu (HxW) has more "
                          "than 2^32-1 pixels", e->probs_where,
                          e->ids[n], (unsigned long long)h,
                          (unsigned long long)w);
        if (h % e->f || w % e->f)
            return sa_err(e->err, SEGAUDIT_EINPUT,
                          "%s: image size %llux%llu (HxW) of image '%s' "
                          "is not divisible by --downsample %u",
                          e->probs_where,
                          (unsigned long long)h, (unsigned long long)w,
                          e->ids[n], e->f);
        if (!e->img_h)
            break; /* all the same size */
    }
    if (e->set.n_class_names && (uint32_t)e->set.n_class_names != e->K)
        return sa_err(e->err, SEGAUDIT_EINVAL,
                      "%d class names were given but %s has K=%u classes",
                      e->set.n_class_names, e->probs_where,
                      e->K);

    if (e->set.palette && (uint32_t)e->set.n_palette < e->K)
        return sa_err(e->err, SEGAUDIT_EINVAL,
                      "the palette has %d colours but %s has K=%u "
                      "classes",
                      e->set.n_palette, e->probs_where,
                      e->K);

    if ((rc = out_array(e, e->set.issues_out, "issues_out", 0,
                        &e->issues_out)) != 0 ||
        (rc = out_array(e, e->set.pixel_scores_out, "pixel_scores_out", 1,
                        &e->pix_out)) != 0)
        return rc;

    e->ignored = calloc(65536, 1);
    e->images = calloc(e->N, sizeof *e->images);
    e->classes = calloc(e->K, sizeof *e->classes);
    e->hist = sa_zalloc(SA_HIST_BUCKETS, sizeof *e->hist);
    e->cur.count = calloc(4 * (size_t)e->K, sizeof(uint64_t));
    e->cur.sum = calloc(e->K, sizeof(double));
    if (!e->ignored || !e->images || !e->classes || !e->hist ||
        !e->cur.count || !e->cur.sum)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    e->cur.labeled = e->cur.count + e->K;
    e->cur.correct = e->cur.count + 2 * (size_t)e->K;
    e->cur.pred = e->cur.count + 3 * (size_t)e->K;
    /* a negative value (of a signed label array) reads as 65536 + v */
    for (int i = 0; i < e->set.n_ignore; i++)
        e->ignored[(e->set.ignore_index[i] + 65536) % 65536] = 1;
    for (uint64_t n = 0; n < e->N; n++) {
        sa_softmin_init(&e->images[n].softmin);
        e->images[n].min_s = INFINITY;
    }

    e->n_threads = e->set.n_threads > 0 ? e->set.n_threads
                                        : omp_get_num_procs();
    if (e->n_threads < 1)
        e->n_threads = 1;
    uint64_t band_bytes = e->set.band_bytes ? e->set.band_bytes
                                            : (uint64_t)1 << 20;
    uint64_t row_bytes = (uint64_t)e->K * e->W * e->elsize;
    uint64_t rows = band_bytes / row_bytes / e->f * e->f;
    /* compressed chunks read by the workers: whole chunk rows per band, so
     * that no chunk is inflated twice */
    uint64_t unit = sa_probs_band_unit(e->probs);
    if (unit) {
        uint64_t a = unit, b = e->f;
        while (b) {
            uint64_t t = a % b;
            a = b;
            b = t;
        }
        uint64_t lcm = unit / a * e->f;
        rows = rows >= lcm ? rows / lcm * lcm : lcm;
    }
    if (rows < e->f)
        rows = e->f;
    if (rows > e->H)
        rows = e->H;
    e->band_rows = (uint32_t)rows;
    if ((rc = sa_probs_plan_band_rows(e->probs, rows, e->err)) != 0)
        return rc;
    sa_recstore_init(&e->store, e->set.memory_limit, e->set.scratch_dir);
    sa_recstore_init(&e->store2, e->set.memory_limit, e->set.scratch_dir);
    uint64_t reg_limit = e->set.memory_limit / 8;
    sa_recstore_init(&e->regions, reg_limit > 65536 ? reg_limit : 65536,
                     e->set.scratch_dir);
    e->regions.item = sizeof(SegauditRegion);
    if ((rc = sa_dist_plan(e)) != 0)
        return rc;
    if (e->comm &&
        !(e->img_sum = calloc((e->own_hi - e->own_lo) * e->K + 1,
                              sizeof *e->img_sum)))
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    e->skipped_total = e->n_skipped;
    e->opened = 1;
    return 0;
}

void sa_engine_free(SaEngine *e)
{
    sa_cache_close(e);
    sa_keep_free(e);
    sa_free_strings(e->cache_notes, (uint64_t)e->n_cache_notes);
    e->cache_notes = NULL;
    e->n_cache_notes = 0;
    sa_probs_close(e->probs);
    e->probs = NULL;
    if (e->ids)
        sa_free_strings(e->ids, e->N);
    e->ids = NULL;
    sa_labels_free(e);
    free(e->img_h);
    free(e->img_w);
    e->img_h = e->img_w = NULL;
    free(e->ignored);
    free(e->images);
    free(e->classes);
    free(e->hist);
    free(e->cur.count);
    e->cur.count = NULL;
    free(e->cur.sum);
    e->cur.sum = NULL;
    e->ignored = NULL;
    e->images = NULL;
    e->classes = NULL;
    e->hist = NULL;
    sa_recstore_free(&e->store);
    sa_recstore_free(&e->store2);
    sa_recstore_free(&e->regions);
    free(e->layout);
    e->layout = NULL;
    free(e->own);
    free(e->img_sum);
    free(e->exchanged_all);
    e->own = NULL;
    e->img_sum = NULL;
    e->exchanged_all = NULL;
    for (uint64_t i = 0; i < e->n_skipped; i++)
        free(e->skips[i].reason);
    free(e->skips);
    free(e->skipped);
    e->skips = NULL;
    e->skipped = NULL;
    e->n_skipped = 0;
}

