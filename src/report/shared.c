/* What report.c and html.c share: the baseline columns, class names and
 * the JSON sections of report.json that the page's meta object holds too.
 * See shared.h. */
#include "report/shared.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defined without a size: a count other than SA_N_BASELINES does not
 * compile against the declaration in shared.h. */
const int sa_baseline_scores[] = {
    SEGAUDIT_SCORE_MEAN_SELF_CONFIDENCE, SEGAUDIT_SCORE_MIN_SELF_CONFIDENCE,
    SEGAUDIT_SCORE_PIXEL_ACCURACY, SEGAUDIT_SCORE_CLASS_BALANCED_ACCURACY,
    SEGAUDIT_SCORE_MEAN_IOU};

const char *sa_class_name(const SegauditAudit *a, uint32_t k)
{
    const SegauditSettings *s = segaudit_audit_settings(a);
    return s->n_class_names ? s->class_names[k] : "";
}

/* ---- values ------------------------------------------------------------ */

static json_object *need(SaJson *j, json_object *v)
{
    if (!v)
        j->oom = 1;
    return v;
}

json_object *sa_json_object(SaJson *j)
{
    return need(j, json_object_new_object());
}

json_object *sa_json_array(SaJson *j)
{
    return need(j, json_object_new_array());
}

json_object *sa_json_str(SaJson *j, const char *s)
{
    return need(j, json_object_new_string(s ? s : ""));
}

json_object *sa_json_u64(SaJson *j, uint64_t v)
{
    return need(j, json_object_new_uint64(v));
}

json_object *sa_json_int(SaJson *j, int v)
{
    return need(j, json_object_new_int(v));
}

json_object *sa_json_bool(SaJson *j, int v)
{
    return need(j, json_object_new_boolean(v));
}

/* The fewest of 15, 16 and 17 significant digits that read back as v.
 * When 15 digits do, 16 do too, except at a power of two (the 15-digit
 * number is a 16-digit one, and the 16-digit one is at least as close to
 * v, so it reads back as v too unless it lies on the side of v where the
 * doubles are closer, which only a power of two has).  So 16 digits are
 * tried first: if they fail, the answer is 17 without a check (after 15,
 * at a power of two). */
void sa_fmt_double(char buf[SA_NUM_LEN], double v)
{
    snprintf(buf, SA_NUM_LEN, "%.16g", v);
    if (strtod(buf, NULL) != v) {
        int e;
        double m = frexp(v, &e);
        if (m == 0.5 || m == -0.5) {
            snprintf(buf, SA_NUM_LEN, "%.15g", v);
            if (strtod(buf, NULL) == v)
                return;
        }
        snprintf(buf, SA_NUM_LEN, "%.17g", v);
        return;
    }
    char b15[SA_NUM_LEN];
    snprintf(b15, sizeof b15, "%.15g", v);
    if (strtod(b15, NULL) == v)
        memcpy(buf, b15, sizeof b15);
}

json_object *sa_json_num(SaJson *j, int has, double v)
{
    char buf[SA_NUM_LEN];
    if (!has || !isfinite(v))
        return NULL;
    sa_fmt_double(buf, v);
    return need(j, json_object_new_double_s(v, buf));
}

/* json-c leaves the value to the caller when an insertion fails. */
void sa_json_set(SaJson *j, json_object *o, const char *key,
                 json_object *v)
{
    if (!o || json_object_object_add(o, key, v) != 0) {
        j->oom = 1;
        json_object_put(v);
    }
}

void sa_json_push(SaJson *j, json_object *arr, json_object *v)
{
    if (!arr || json_object_array_add(arr, v) != 0) {
        j->oom = 1;
        json_object_put(v);
    }
}

/* ---- sections ---------------------------------------------------------- */

json_object *sa_json_dataset(SaJson *j, const SegauditAudit *a)
{
    const SegauditSettings *s = segaudit_audit_settings(a);
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    json_object *ds = sa_json_object(j);
    sa_json_set(j, ds, "labels", sa_json_str(j, s->labels_dir));
    sa_json_set(j, ds, "label_suffix", sa_json_str(j, s->label_suffix));
    sa_json_set(j, ds, "probs", sa_json_str(j, s->probs_path));
    sa_json_set(j, ds, "dataset", sa_json_str(j, s->probs_dataset));
    json_object *shape = sa_json_object(j);
    sa_json_set(j, shape, "N", sa_json_u64(j, in.n_images));
    sa_json_set(j, shape, "K", sa_json_u64(j, in.n_classes));
    sa_json_set(j, shape, "H", sa_json_u64(j, in.height));
    sa_json_set(j, shape, "W", sa_json_u64(j, in.width));
    sa_json_set(j, ds, "shape", shape);
    sa_json_set(j, ds, "dtype", sa_json_str(j, in.dtype));
    sa_json_set(j, ds, "layout", sa_json_str(j, in.layout));
    sa_json_set(j, ds, "ids_source", sa_json_str(j, in.ids_source));
    if (in.upsampled)
        sa_json_set(j, ds, "upsampled", sa_json_u64(j, in.upsampled));
    if (in.quantised) {
        /* integers: the value read is stored * scale + offset */
        sa_json_set(j, ds, "scale", sa_json_num(j, 1, in.scale));
        sa_json_set(j, ds, "offset", sa_json_num(j, 1, in.offset));
    }
    return ds;
}

json_object *sa_json_warnings(SaJson *j, const SegauditAudit *a)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    json_object *w = sa_json_array(j);
    for (int i = 0; i < in.n_warnings; i++)
        sa_json_push(j, w, sa_json_str(j, segaudit_audit_warning(a, i)));
    return w;
}

json_object *sa_json_skipped(SaJson *j, const SegauditAudit *a,
                             uint64_t max)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    json_object *sk = sa_json_array(j);
    uint64_t first = in.n_images - in.images_skipped;
    uint64_t end = in.images_skipped > max ? first + max : in.n_images;
    for (uint64_t r = first; r < end && !j->oom; r++) {
        SegauditImageResult im;
        segaudit_audit_image(a, segaudit_audit_ranked(a, r), &im);
        json_object *o = sa_json_object(j);
        sa_json_set(j, o, "image", sa_json_str(j, im.id));
        sa_json_set(j, o, "index", sa_json_u64(j, im.index));
        sa_json_set(j, o, "reason", sa_json_str(j, im.skip_reason));
        sa_json_push(j, sk, o);
    }
    return sk;
}

json_object *sa_json_parameters(SaJson *j, const SegauditAudit *a)
{
    const SegauditSettings *s = segaudit_audit_settings(a);
    json_object *par = sa_json_object(j);
    sa_json_set(j, par, "temperature", sa_json_num(j, 1, s->temperature));
    sa_json_set(j, par, "downsample", sa_json_int(j, s->downsample));
    sa_json_set(j, par, "downsample_labels",
                sa_json_str(j, s->downsample_labels ? "mode" : "mean"));
    json_object *ig = sa_json_array(j);
    for (int i = 0; i < s->n_ignore; i++)
        sa_json_push(j, ig, sa_json_int(j, s->ignore_index[i]));
    sa_json_set(j, par, "ignore_index", ig);
    sa_json_set(j, par, "rank_by",
                sa_json_str(j, segaudit_score_name(s->rank_by)));
    sa_json_set(j, par, "flag_rule",
                sa_json_str(j, segaudit_flag_rule_name(s->flag_rule)));
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    sa_json_set(j, par, "min_region_area_auto",
                sa_json_bool(j, in.min_region_area_auto));
    sa_json_set(j, par, "logits", sa_json_bool(j, s->logits));
    sa_json_set(j, par, "strict", sa_json_bool(j, s->strict));
    static const char *const LAYOUTS[] = {"auto", "nchw", "nhwc"};
    sa_json_set(j, par, "layout", sa_json_str(j, LAYOUTS[s->layout]));
    static const char *const UPS[] = {"none", "bilinear", "nearest"};
    sa_json_set(j, par, "upsample", sa_json_str(j, UPS[s->upsample]));
    sa_json_set(j, par, "label_map",
                s->label_map ? sa_json_str(j, s->label_map) : NULL);
    return par;
}

void sa_json_totals(SaJson *j, json_object *o, const SegauditAudit *a)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    sa_json_set(j, o, "n_issues", sa_json_u64(j, in.n_issues));
    sa_json_set(j, o, "issue_pixels", sa_json_u64(j, in.issue_pixels));
    sa_json_set(j, o, "valid_pixels", sa_json_u64(j, in.valid_pixels));
    sa_json_set(j, o, "images_with_issues",
                sa_json_u64(j, in.images_with_issues));
    sa_json_set(j, o, "pixels_summing_far_from_1",
                sa_json_u64(j, in.far_from_one));
    sa_json_set(j, o, "images_skipped", sa_json_u64(j, in.images_skipped));
    SegauditFlagInfo fl;
    segaudit_audit_flag(a, &fl);
    sa_json_set(j, o, "flagged_images", sa_json_u64(j, fl.flagged));
    json_object *f = sa_json_object(j);
    sa_json_set(j, f, "rule", sa_json_str(j, segaudit_flag_rule_name(fl.rule)));
    sa_json_set(j, f, "images_fitted", sa_json_u64(j, fl.fitted));
    sa_json_set(j, f, "threshold",
                sa_json_num(j, fl.has_threshold, fl.threshold));
    sa_json_set(j, f, "center", sa_json_num(j, fl.has_threshold, fl.center));
    sa_json_set(j, f, "spread", sa_json_num(j, fl.has_threshold, fl.spread));
    sa_json_set(j, f, "z", sa_json_num(j, fl.has_threshold, fl.z));
    sa_json_set(j, o, "flag", f);
}

static json_object *json_pr(SaJson *j, const SegauditPrecisionRecall *pr)
{
    json_object *o = sa_json_object(j);
    sa_json_set(j, o, "selected", sa_json_u64(j, pr->selected));
    sa_json_set(j, o, "hits", sa_json_u64(j, pr->hits));
    sa_json_set(j, o, "precision",
                sa_json_num(j, pr->has_precision, pr->precision));
    sa_json_set(j, o, "recall", sa_json_num(j, pr->has_recall, pr->recall));
    sa_json_set(j, o, "f1", sa_json_num(j, pr->has_f1, pr->f1));
    return o;
}

json_object *sa_json_classes(SaJson *j, const SegauditAudit *a)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    json_object *cls = sa_json_array(j);
    for (uint32_t k = 0; k < in.n_classes && !j->oom; k++) {
        SegauditClassResult c;
        segaudit_audit_class(a, k, &c);
        json_object *o = sa_json_object(j);
        sa_json_set(j, o, "class", sa_json_u64(j, k));
        sa_json_set(j, o, "name", sa_json_str(j, c.name));
        sa_json_set(j, o, "labeled_pixels", sa_json_u64(j, c.labeled_pixels));
        sa_json_set(j, o, "threshold", sa_json_num(j, 1, c.threshold));
        sa_json_set(j, o, "issue_pixels_given",
                    sa_json_u64(j, c.issue_pixels_given));
        sa_json_set(j, o, "issue_pixels_predicted",
                    sa_json_u64(j, c.issue_pixels_predicted));
        sa_json_set(j, o, "images_affected",
                    sa_json_u64(j, c.images_affected));
        sa_json_push(j, cls, o);
    }
    return cls;
}

json_object *sa_json_pairs(SaJson *j, const SegauditAudit *a, uint64_t max)
{
    uint64_t n = segaudit_audit_n_pairs(a);
    json_object *prs = sa_json_array(j);
    for (uint64_t i = 0; i < n && i < max && !j->oom; i++) {
        SegauditPair p;
        segaudit_audit_pair(a, i, &p);
        json_object *o = sa_json_object(j);
        sa_json_set(j, o, "given", sa_json_u64(j, p.given));
        sa_json_set(j, o, "given_name",
                    sa_json_str(j, sa_class_name(a, p.given)));
        sa_json_set(j, o, "predicted", sa_json_u64(j, p.predicted));
        sa_json_set(j, o, "predicted_name",
                    sa_json_str(j, sa_class_name(a, p.predicted)));
        sa_json_set(j, o, "issue_pixels", sa_json_u64(j, p.issue_pixels));
        sa_json_push(j, prs, o);
    }
    return prs;
}

json_object *sa_json_evaluation(SaJson *j, const SegauditAudit *a)
{
    const SegauditSettings *s = segaudit_audit_settings(a);
    json_object *ev = sa_json_object(j);
    sa_json_set(j, ev, "truth", sa_json_str(j, s->truth_path
                                                  ? s->truth_path
                                                  : s->truth_masks_dir));
    json_object *arr = sa_json_array(j);
    for (int i = 0; i < SEGAUDIT_N_SCORES; i++) {
        SegauditEvaluation e;
        segaudit_audit_evaluation(a, i, &e);
        if (i == 0) {
            sa_json_set(j, ev, "images", sa_json_u64(j, e.images));
            sa_json_set(j, ev, "positives", sa_json_u64(j, e.positives));
        }
        json_object *o = sa_json_object(j);
        sa_json_set(j, o, "score", sa_json_str(j, segaudit_score_name(i)));
        sa_json_set(j, o, "ap", sa_json_num(j, e.has_ap, e.ap));
        sa_json_set(j, o, "auroc", sa_json_num(j, e.has_auroc, e.auroc));
        sa_json_set(j, o, "precision_at_p",
                    sa_json_num(j, e.has_precision, e.precision_at_p));
        sa_json_set(j, o, "hits_at_10", sa_json_u64(j, e.hits_at_10));
        sa_json_set(j, o, "at_flagged", json_pr(j, &e.at_flagged));
        sa_json_push(j, arr, o);
    }
    sa_json_set(j, ev, "scores", arr);
    SegauditFlagInfo fl;
    segaudit_audit_flag(a, &fl);
    sa_json_set(j, ev, "flagged", json_pr(j, &fl.eval));
    SegauditMaskEvaluation m;
    if (segaudit_audit_mask_evaluation(a, &m)) {
        json_object *mo = sa_json_object(j);
        sa_json_set(j, mo, "dir", sa_json_str(j, s->truth_masks_dir));
        sa_json_set(j, mo, "images", sa_json_u64(j, m.images));
        json_object *px = json_pr(j, &m.pixels);
        sa_json_set(j, px, "issue_pixels", sa_json_u64(j, m.issue_pixels));
        sa_json_set(j, px, "error_pixels", sa_json_u64(j, m.error_pixels));
        sa_json_set(j, mo, "pixels", px);
        json_object *rg = sa_json_object(j);
        sa_json_set(j, rg, "iou", sa_json_num(j, 1, 0.3));
        sa_json_set(j, rg, "regions", sa_json_u64(j, m.regions));
        sa_json_set(j, rg, "found", sa_json_u64(j, m.regions_matched));
        sa_json_set(j, rg, "precision",
                    sa_json_num(j, m.has_region_precision,
                                m.region_precision));
        sa_json_set(j, rg, "error_regions", sa_json_u64(j, m.error_regions));
        sa_json_set(j, rg, "error_regions_found",
                    sa_json_u64(j, m.error_regions_found));
        sa_json_set(j, rg, "recall",
                    sa_json_num(j, m.has_region_recall, m.region_recall));
        sa_json_set(j, rg, "f1", sa_json_num(j, m.has_region_f1, m.region_f1));
        sa_json_set(j, mo, "regions", rg);
        sa_json_set(j, ev, "masks", mo);
    }
    return ev;
}

json_object *sa_json_run(SaJson *j, const SegauditAudit *a)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    json_object *run = sa_json_object(j);
    sa_json_set(j, run, "threads", sa_json_int(j, in.n_threads));
    if (in.n_ranks > 1) {
        sa_json_set(j, run, "ranks", sa_json_int(j, in.n_ranks));
        json_object *ex = sa_json_array(j);
        for (int r = 0; r < in.n_ranks && in.exchanged_bytes; r++)
            sa_json_push(j, ex, sa_json_u64(j, in.exchanged_bytes[r]));
        sa_json_set(j, run, "exchanged_bytes", ex);
    }
    sa_json_set(j, run, "seconds_pass1", sa_json_num(j, 1, in.seconds_pass1));
    sa_json_set(j, run, "seconds_pass2", sa_json_num(j, 1, in.seconds_pass2));
    sa_json_set(j, run, "seconds_total", sa_json_num(j, 1, in.seconds_total));
    sa_json_set(j, run, "candidate_records", sa_json_u64(j, in.records));
    sa_json_set(j, run, "spilled_bytes", sa_json_u64(j, in.spilled_bytes));
    sa_json_set(j, run, "second_read", sa_json_bool(j, in.second_read));
    sa_json_set(j, run, "select_reads", sa_json_int(j, in.select_reads));
    sa_json_set(j, run, "bytes_read", sa_json_u64(j, in.bytes_read));
    sa_json_set(j, run, "read_path", sa_json_str(j, in.read_path));
    sa_json_set(j, run, "images_computed", sa_json_u64(j, in.images_computed));
    sa_json_set(j, run, "images_from_cache",
                sa_json_u64(j, in.images_from_cache));
    const char *dir = segaudit_audit_settings(a)->cache_dir;
    if (dir) {
        json_object *c = sa_json_object(j);
        sa_json_set(j, c, "dir", sa_json_str(j, dir));
        sa_json_set(j, c, "bytes", sa_json_u64(j, in.cache_bytes));
        json_object *notes = sa_json_array(j);
        for (int i = 0; i < in.n_cache_notes; i++)
            sa_json_push(j, notes,
                         sa_json_str(j, segaudit_audit_cache_note(a, i)));
        sa_json_set(j, c, "notes", notes);
        sa_json_set(j, run, "cache", c);
    }
    return run;
}

/* A CSV field, quoted when it needs to be. */
void sa_csv_str(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void sa_csv_num(FILE *f, int has, double v)
{
    char buf[SA_NUM_LEN];
    if (!has || !isfinite(v))
        return;
    sa_fmt_double(buf, v);
    fputs(buf, f);
}
