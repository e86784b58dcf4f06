/* The public audit object: the run (the engine's passes, then the ranking,
 * the evaluation and the overlays) and the result accessors.  Settings and
 * names are in settings.c, the overlays in overlays.c; the passes are the
 * engine's. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "engine/dist.h"
#include "engine/engine.h"
#include "eval/evaluate.h"
#include "eval/flag.h"
#include "eval/rank.h"

struct SegauditAudit {
    SaErr err;
    int ran;
    SaEngine e;
    SegauditSettings set;   /* the caller's, with strings copied below */
    char *strings[12];
    char **class_names;
    uint64_t *order;        /* image indices by rank */
    SegauditPair *pairs;
    uint64_t npairs;
    SegauditDatasetInfo info;
    uint8_t *truth;         /* N, with truth_path */
    SegauditEvaluation eval[SEGAUDIT_N_SCORES];
    uint8_t *flag;          /* N: 1 = flagged */
    SegauditFlagInfo flag_info;
    int has_masks;
    SegauditMaskEvaluation masks;
    SaWarnings warnings;
};

SegauditAudit *segaudit_audit_new(void)
{
    SegauditAudit *a = calloc(1, sizeof *a);
    if (a)
        sa_engine_init(&a->e);
    return a;
}

void segaudit_audit_free(SegauditAudit *a)
{
    if (!a)
        return;
    sa_engine_free(&a->e);
    for (size_t i = 0; i < sizeof a->strings / sizeof a->strings[0]; i++)
        free(a->strings[i]);
    if (a->class_names)
        for (int i = 0; i < a->set.n_class_names; i++)
            free(a->class_names[i]);
    free(a->class_names);
    free(a->order);
    free(a->truth);
    free(a->flag);
    free(a->pairs);
    sa_warnings_free(&a->warnings);
    free(a);
}

const char *segaudit_audit_error(const SegauditAudit *a)
{
    return a ? a->err.msg : "";
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- set-up ------------------------------------------------------------ */

static int copy_settings(SegauditAudit *a, const SegauditSettings *s)
{
    a->set = *s;
    const char **fields[] = {&a->set.labels_dir,  &a->set.label_suffix,
                             &a->set.probs_path,  &a->set.probs_dataset,
                             &a->set.ids_dataset, &a->set.scratch_dir,
                             &a->set.masks_dir,   &a->set.truth_path,
                             &a->set.labels_dataset, &a->set.label_map,
                             &a->set.cache_dir, &a->set.truth_masks_dir};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (!*fields[i])
            continue;
        a->strings[i] = strdup(*fields[i]);
        if (!a->strings[i])
            return sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
        *fields[i] = a->strings[i];
    }
    if (s->n_class_names > 0 && s->class_names) {
        a->class_names = calloc((size_t)s->n_class_names, sizeof(char *));
        if (!a->class_names)
            return sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
        for (int i = 0; i < s->n_class_names; i++) {
            a->class_names[i] = strdup(s->class_names[i]);
            if (!a->class_names[i])
                return sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
        }
        a->set.class_names = (const char *const *)a->class_names;
    } else {
        a->set.n_class_names = 0;
        a->set.class_names = NULL;
    }
    return 0;
}

static int setup(SegauditAudit *a)
{
    SaEngine *e = &a->e;
    int rc = sa_engine_open(e, &a->set, &a->err);
    if (rc || !a->set.truth_path)
        return rc;
    /* read before the passes, so that a bad file fails at once */
    a->truth = malloc(e->N);
    if (!a->truth)
        return sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
    return sa_truth_read(a->set.truth_path, e->ids, e->N, a->truth, &a->err);
}

/* ---- the flag and the evaluation ---------------------------------------- */

/* num / den, and whether it is defined (den > 0). */
static double ratio(uint64_t num, uint64_t den, int *has)
{
    *has = den > 0;
    return *has ? (double)num / (double)den : 0;
}

/* The harmonic mean of p and r (0 when both are 0), defined when both
 * are. */
static double f1_of(int has_p, double p, int has_r, double r, int *has)
{
    *has = has_p && has_r;
    return *has && p + r > 0 ? 2 * p * r / (p + r) : 0;
}

/* What a selection of images finds of the positives. */
static void precision_recall(SegauditPrecisionRecall *o, uint64_t selected,
                             uint64_t hits, uint64_t positives)
{
    *o = (SegauditPrecisionRecall){.selected = selected, .hits = hits};
    o->precision = ratio(hits, selected, &o->has_precision);
    o->recall = ratio(hits, positives, &o->has_recall);
    o->f1 = f1_of(o->has_precision, o->precision, o->has_recall, o->recall,
                  &o->has_f1);
}

/* Flags the images that stand out (eval/flag.h), and with a truth file
 * counts the flagged ones that are mislabeled. */
static int flag_images(SegauditAudit *a)
{
    SaEngine *e = &a->e;
    SegauditFlagInfo *f = &a->flag_info;
    f->rule = a->set.flag_rule;
    double *x = malloc(e->N * sizeof *x);
    uint8_t *use = malloc(e->N);
    a->flag = calloc(e->N ? e->N : 1, 1);
    int rc = 0;
    if (!x || !use || !a->flag)
        rc = sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
    for (uint64_t n = 0; rc == 0 && n < e->N; n++) {
        const SaImage *im = &e->images[n];
        use[n] = f->rule != SEGAUDIT_FLAG_NONE && !e->skipped[n] &&
                 im->valid_pixels > 0;
        x[n] = f->rule == SEGAUDIT_FLAG_AREA ? (double)im->largest_region
                                             : im->region_mass;
    }
    SaFlagFit fit;
    if (rc == 0 &&
        (rc = sa_flag_images(x, use, e->N, a->flag, &fit, &a->err)) == 0) {
        f->flagged = fit.flagged;
        f->fitted = fit.m;
        f->has_threshold = fit.fitted;
        f->threshold = fit.threshold;
        f->center = fit.center;
        f->spread = fit.spread;
        f->z = fit.z;
        uint64_t pos = 0, hits = 0;
        for (uint64_t n = 0; a->truth && n < e->N; n++) {
            pos += a->truth[n] != 0;
            hits += a->truth[n] && a->flag[n];
        }
        if (a->truth)
            precision_recall(&f->eval, f->flagged, hits, pos);
    }
    free(x);
    free(use);
    return rc;
}

/* The totals of the images' counts against the error masks; without a
 * truth file, the image truth they imply. */
static int mask_totals(SegauditAudit *a)
{
    SaEngine *e = &a->e;
    SegauditMaskEvaluation *m = &a->masks;
    if (!a->set.truth_masks_dir)
        return 0;
    a->has_masks = 1;
    for (uint64_t n = 0; n < e->N; n++) {
        const SaMaskCounts *c = &e->images[n].masks;
        m->images += !e->skipped[n];
        m->issue_pixels += c->issue_pixels;
        m->error_pixels += c->error_pixels;
        m->hit_pixels += c->hit_pixels;
        m->error_regions += c->error_regions;
        m->regions += c->regions;
        m->regions_matched += c->regions_matched;
        m->error_regions_found += c->error_regions_found;
    }
    if (a->info.min_region_area_auto) {
        m->regions = e->mask_regions[0];
        m->regions_matched = e->mask_regions[1];
        m->error_regions_found = e->mask_regions[2];
    }
    precision_recall(&m->pixels, m->issue_pixels, m->hit_pixels,
                     m->error_pixels);
    m->region_precision = ratio(m->regions_matched, m->regions,
                                &m->has_region_precision);
    m->region_recall = ratio(m->error_regions_found, m->error_regions,
                             &m->has_region_recall);
    m->region_f1 = f1_of(m->has_region_precision, m->region_precision,
                         m->has_region_recall, m->region_recall,
                         &m->has_region_f1);
    if (a->truth)
        return 0;
    if (!(a->truth = malloc(e->N ? e->N : 1)))
        return sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
    for (uint64_t n = 0; n < e->N; n++)
        a->truth[n] = e->images[n].masks.error_pixels > 0;
    return 0;
}

/* Evaluates every score against the truth (after the flag). */
static int evaluate(SegauditAudit *a)
{
    SaEngine *e = &a->e;
    double *score = malloc(e->N * sizeof *score);
    if (!score)
        return sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < SEGAUDIT_N_SCORES && rc == 0; i++) {
        for (uint64_t n = 0; n < e->N; n++)
            score[n] = e->images[n].score[i];
        SaEval ev;
        rc = sa_eval_score(score, NULL, a->truth, e->N, &ev, &a->err);
        if (rc == 0) {
            SegauditEvaluation *o = &a->eval[i];
            o->score = i;
            o->images = ev.n;
            o->positives = ev.n_pos;
            o->has_ap = ev.has_ap;
            o->ap = ev.ap;
            o->has_auroc = ev.has_auroc;
            o->auroc = ev.auroc;
            o->has_precision = ev.has_prec_at_p;
            o->precision_at_p = ev.prec_at_p;
            o->hits_at_10 = sa_eval_hits_at(&ev, 10);
            precision_recall(&o->at_flagged, a->flag_info.flagged,
                             sa_eval_hits_at(&ev, a->flag_info.flagged),
                             ev.n_pos);
        }
        sa_eval_free(&ev);
    }
    free(score);
    return rc;
}

/* ---- ranking ----------------------------------------------------------- */

static int rank_images(SegauditAudit *a)
{
    SaEngine *e = &a->e;
    uint8_t *tier = malloc(e->N);
    double *score = malloc(e->N * sizeof *score);
    a->order = malloc(e->N * sizeof *a->order);
    int rc = 0;
    if (!tier || !score || !a->order)
        rc = sa_err(&a->err, SEGAUDIT_ENOMEM, "out of memory");
    for (uint64_t n = 0; rc == 0 && n < e->N; n++) {
        const SaImage *im = &e->images[n];
        /* scored, then no valid pixel, then skipped */
        tier[n] = e->skipped[n] ? 2 : im->valid_pixels > 0 ? 0 : 1;
        score[n] = im->score[a->set.rank_by];
    }
    if (rc == 0)
        rc = sa_rank(score, tier, e->N, a->order, &a->err);
    for (uint64_t r = 0; rc == 0 && r < e->N; r++)
        e->images[a->order[r]].rank = r + 1;
    free(tier);
    free(score);
    return rc;
}

/* ---- the run ----------------------------------------------------------- */

/* The dataset information after a run (or a dry run). */
static void fill_info(SegauditAudit *a, double t0, double t1, double t2)
{
    SaEngine *e = &a->e;
    SegauditDatasetInfo *in = &a->info;
    in->n_images = e->N;
    in->n_classes = e->K;
    in->height = e->H;
    in->width = e->W;
    in->dtype = e->dtype_name;
    in->layout = e->layout;
    in->n_issues = e->n_issues;
    for (uint64_t n = 0; n < e->N; n++) {
        in->issue_pixels += e->images[n].issue_pixels;
        in->valid_pixels += e->images[n].valid_pixels;
        in->images_with_issues += e->images[n].issue_pixels > 0;
    }
    in->records = e->store.count;
    in->spilled_bytes = e->store.file_bytes + e->store2.file_bytes;
    in->second_read = e->second_read;
    in->select_reads = e->select_reads;
    in->far_from_one = e->far;
    in->images_skipped = e->skipped_total;
    in->far_image = e->far_image;
    in->far_row = e->far_row;
    in->far_col = e->far_col;
    in->far_sum = e->far_sum;
    in->n_threads = e->n_threads;
    in->n_ranks = e->comm ? e->comm->size : 1;
    in->seconds_pass1 = t1 - t0;
    in->seconds_pass2 = t2 - t1;
    in->seconds_total = t2 - t0;
    static const char *const IDS[] = {"dataset", "names", "text", "index",
                                      "given"};
    in->ids_source = IDS[e->ids_source];
    in->layout_assumed = e->layout_assumed;
    in->quantised = e->quantised;
    in->upsampled = e->upsampled;
    in->scale = e->scale;
    in->offset = e->offset;
}

/* The HDF5 library of Debian is built without thread safety, so two audits
 * of one process never run at the same time. */
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;

static int audit_run(SegauditAudit *a, const SegauditSettings *settings);

int segaudit_audit_run(SegauditAudit *a, const SegauditSettings *settings)
{
    pthread_mutex_lock(&run_lock);
    int rc = audit_run(a, settings);
    pthread_mutex_unlock(&run_lock);
    return rc;
}

/* In a group, the run's counters of every member added up, and the cache
 * notes gathered on member 0 (after sa_engine_release_inputs). */
static int group_counters(SegauditAudit *a)
{
    SaEngine *e = &a->e;
    SegauditDatasetInfo *in = &a->info;
    uint64_t v[] = {in->records, in->spilled_bytes, e->bytes_read,
                    e->images_computed, e->images_from_cache, e->cache_bytes};
    int rc = sa_dist_sum(e, v, sizeof v / sizeof v[0], 0);
    if (rc == 0)
        rc = sa_dist_notes(e, 0);
    if (rc == 0)
        rc = sa_dist_exchanged(e);
    if (rc)
        return rc;
    in->exchanged_bytes = e->exchanged_all;
    in->records = v[0];
    in->spilled_bytes = v[1];
    in->bytes_read = v[2];
    in->images_computed = a->set.cache_dir ? v[3] : e->N - e->skipped_total;
    in->images_from_cache = v[4];
    in->cache_bytes = v[5];
    in->n_cache_notes = e->n_cache_notes;
    return 0;
}

/* Every step ends with an agreement (sa_dist_agree): in a group, every
 * member goes on, or every member stops with the same error; alone, it
 * returns the step's own status. */
static int audit_run(SegauditAudit *a, const SegauditSettings *settings)
{
    if (!a || !settings)
        return SEGAUDIT_EINVAL;
    if (a->ran)
        return sa_err(&a->err, SEGAUDIT_EINVAL,
                      "an audit object runs only once");
    a->ran = 1;
    sa_err_clear(&a->err);
    int rc = sa_settings_validate(settings, &a->err);
    if (rc)
        return rc; /* the same on every member */
    SaEngine *e = &a->e;
    e->err = &a->err;
    e->comm = settings->comm && settings->comm->size > 1 ? settings->comm
                                                         : NULL;
    if ((rc = sa_dist_agree(e, copy_settings(a, settings))) != 0)
        return rc;

    double t0 = now();
    if ((rc = sa_dist_same_inputs(e, setup(a))) != 0)
        goto fail;
    if (a->set.dry_run) {
        if ((rc = sa_dist_skips(e, sa_engine_check_inputs(e))) != 0)
            goto fail;
        double t = now();
        fill_info(a, t0, t, t);
        sa_engine_release_inputs(e);
        a->info.bytes_read = e->bytes_read;
        a->info.read_path = e->read_path;
        return 0;
    }

    if ((rc = sa_engine_pass1(e)) != 0) /* ends agreed */
        goto fail;
    double t1 = now();

    if ((rc = sa_dist_agree(e, sa_engine_pass2(e, &a->pairs,
                                               &a->npairs))) != 0)
        goto fail;
    if ((rc = sa_dist_agree(e, rank_images(a))) != 0)
        goto fail;
    /* the listing's least area, when it was chosen from the data */
    a->info.min_region_area_auto = a->set.min_region_area == 0;
    a->set.min_region_area = e->min_area;
    if ((rc = sa_dist_agree(e, mask_totals(a))) != 0)
        goto fail;
    if ((rc = sa_dist_agree(e, flag_images(a))) != 0)
        goto fail;
    if (a->truth && (rc = sa_dist_agree(e, evaluate(a))) != 0)
        goto fail;
    if ((rc = sa_dist_agree(e, sa_api_overlays(e, a->order))) != 0)
        goto fail;
    double t2 = now();

    fill_info(a, t0, t1, t2);
    if ((rc = sa_dist_agree(e, sa_warnings_build(e, &a->warnings,
                                                 &a->err))) != 0)
        goto fail;
    a->info.n_warnings = a->warnings.n;

    /* the records, the file handles and the cache are no longer needed */
    sa_engine_release_inputs(e);
    a->info.bytes_read = e->bytes_read;
    a->info.read_path = e->read_path;
    a->info.images_computed = a->set.cache_dir ? e->images_computed
                                                : e->N - e->n_skipped;
    a->info.images_from_cache = e->images_from_cache;
    a->info.cache_bytes = e->cache_bytes;
    a->info.n_cache_notes = e->n_cache_notes;
    if (e->comm && (rc = group_counters(a)) != 0)
        goto fail;
    return 0;
fail:
    sa_engine_free(e);
    return rc;
}

/* ---- accessors --------------------------------------------------------- */

void segaudit_audit_info(const SegauditAudit *a, SegauditDatasetInfo *out)
{
    *out = a->info;
}

void segaudit_audit_image(const SegauditAudit *a, uint64_t i,
                          SegauditImageResult *out)
{
    const SaImage *im = &a->e.images[i];
    out->id = a->e.ids[i];
    out->index = i;
    out->rank = im->rank;
    out->has_score = im->valid_pixels > 0;
    out->softmin = im->score[SEGAUDIT_SCORE_SOFTMIN];
    out->num_pixel_issues = im->score[SEGAUDIT_SCORE_NUM_PIXEL_ISSUES];
    memcpy(out->score, im->score, sizeof out->score);
    out->issue_pixels = im->issue_pixels;
    out->valid_pixels = im->valid_pixels;
    out->skipped = a->e.skipped[i];
    out->skip_reason = NULL;
    for (uint64_t j = 0; out->skipped && j < a->e.n_skipped; j++)
        if (a->e.skips[j].image == i)
            out->skip_reason = a->e.skips[j].reason;
    out->regions = im->regions;
    out->largest_region = im->largest_region;
    out->label_digest = im->label_digest[0] ? im->label_digest : NULL;
    out->region_mass = im->region_mass;
    out->flagged = a->flag ? a->flag[i] : 0;
}

int segaudit_audit_mask_evaluation(const SegauditAudit *a,
                                   SegauditMaskEvaluation *out)
{
    *out = a->masks;
    return a->has_masks;
}

void segaudit_audit_flag(const SegauditAudit *a, SegauditFlagInfo *out)
{
    *out = a->flag_info;
}

const char *segaudit_audit_warning(const SegauditAudit *a, int i)
{
    return i >= 0 && i < a->warnings.n ? a->warnings.text[i] : NULL;
}

const char *segaudit_audit_cache_note(const SegauditAudit *a, int i)
{
    return i >= 0 && i < a->e.n_cache_notes ? a->e.cache_notes[i] : NULL;
}

uint64_t segaudit_audit_ranked(const SegauditAudit *a, uint64_t r)
{
    return a->order[r];
}

void segaudit_audit_class(const SegauditAudit *a, uint32_t k,
                          SegauditClassResult *out)
{
    const SaClass *c = &a->e.classes[k];
    out->cls = k;
    out->name = a->set.n_class_names ? a->set.class_names[k] : "";
    out->labeled_pixels = c->pixels;
    out->threshold = c->threshold;
    out->issue_pixels_given = c->given;
    out->issue_pixels_predicted = c->predicted;
    out->images_affected = c->images;
}

uint64_t segaudit_audit_n_pairs(const SegauditAudit *a) { return a->npairs; }

void segaudit_audit_pair(const SegauditAudit *a, uint64_t i,
                         SegauditPair *out)
{
    *out = a->pairs[i];
}

uint64_t segaudit_audit_n_regions(const SegauditAudit *a, uint64_t i)
{
    return a->e.images[i].regions_listed;
}

int segaudit_audit_region(SegauditAudit *a, uint64_t i, uint64_t j,
                          SegauditRegion *out)
{
    const SaImage *im = &a->e.images[i];
    const SaEngine *e = &a->e;
    if (e->comm && e->comm->rank > 0 && (i < e->own_lo || i >= e->own_hi))
        return sa_err(&a->err, SEGAUDIT_EINVAL,
                      "image %llu belongs to another rank: only rank 0 "
                      "holds every image's regions",
                      (unsigned long long)i);
    if (j >= im->regions_listed)
        return sa_err(&a->err, SEGAUDIT_EINVAL, "no region %llu in image %llu",
                      (unsigned long long)j, (unsigned long long)i);
    return sa_recstore_read_at(&a->e.regions,
                               im->region_off + j * sizeof *out, out,
                               sizeof *out, &a->err);
}

int segaudit_audit_has_truth(const SegauditAudit *a)
{
    return a->truth != NULL;
}

int segaudit_audit_truth(const SegauditAudit *a, uint64_t i)
{
    return a->truth ? a->truth[i] : -1;
}

void segaudit_audit_evaluation(const SegauditAudit *a, int score,
                               SegauditEvaluation *out)
{
    *out = a->eval[score];
}

const SegauditSettings *segaudit_audit_settings(const SegauditAudit *a)
{
    return &a->set;
}
