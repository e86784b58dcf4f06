/* What the report writers have in common: report.c (the CSV files and
 * report.json) and html.c (report.html) describe one audit with the same
 * baseline columns, the same class names and, in JSON, the same sections
 * ("dataset", "parameters", the totals, "classes", "pairs",
 * "evaluation", "run").  Each is written here, once.
 *
 * Building JSON: every builder below takes an SaJson whose oom flag is
 * set when json-c fails to allocate, so that a NULL value (a JSON null) is
 * never mistaken for a failure, or a failure for a null.  Build the whole
 * object, then check the flag once:
 *
 *     SaJson j = {0};
 *     json_object *o = sa_json_object(&j);
 *     sa_json_set(&j, o, "dataset", sa_json_dataset(&j, a));
 *     if (j.oom) { json_object_put(o); return SEGAUDIT_ENOMEM; }
 *
 * Numbers are written with %.17g (they read back exactly). */
#ifndef SA_REPORT_SHARED_H
#define SA_REPORT_SHARED_H

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>

#include "segaudit/segaudit.h"

/* The baseline scores, in the order of their columns in images.csv,
 * report.json's images and the page's image rows. */
#define SA_N_BASELINES 5
extern const int sa_baseline_scores[SA_N_BASELINES];

/* The name of class k, "" when no names were given. */
const char *sa_class_name(const SegauditAudit *a, uint32_t k);

typedef struct SaJson {
    int oom; /* set when an allocation failed; never cleared */
} SaJson;

/* Values: each returns a new object, or NULL with j->oom set. */
json_object *sa_json_object(SaJson *j);
json_object *sa_json_array(SaJson *j);
json_object *sa_json_str(SaJson *j, const char *s); /* NULL s: "" */
json_object *sa_json_u64(SaJson *j, uint64_t v);
json_object *sa_json_int(SaJson *j, int v);
json_object *sa_json_bool(SaJson *j, int v);
/* v, or NULL (a JSON null, not a failure) when !has or v is not finite. */
json_object *sa_json_num(SaJson *j, int has, double v);

/* o[key] = v and arr += v.  They take v in every case: when o or arr is
 * NULL (an earlier failure) or the insertion fails, v is freed. */
void sa_json_set(SaJson *j, json_object *o, const char *key,
                 json_object *v);
void sa_json_push(SaJson *j, json_object *arr, json_object *v);

/* The sections, as report.json holds them. */

/* {labels, label_suffix, probs, dataset, shape {N, K, H, W}, dtype,
 * layout} */
json_object *sa_json_dataset(SaJson *j, const SegauditAudit *a);
/* The run's warnings (segaudit_audit_warning), an array of strings. */
json_object *sa_json_warnings(SaJson *j, const SegauditAudit *a);
/* The first max skipped images, [{image, index, reason}], in the order of
 * skipped.csv. */
json_object *sa_json_skipped(SaJson *j, const SegauditAudit *a,
                             uint64_t max);

/* Writes s as one CSV field, quoted when it needs to be. */
void sa_csv_str(FILE *f, const char *s);
/* The shortest of v's forms with 15, 16 and 17 significant digits ("%.*g")
 * that reads back as v exactly: 0.99356250000000002 is written 0.9935625. */
#define SA_NUM_LEN 32
void sa_fmt_double(char buf[SA_NUM_LEN], double v);
/* Writes v as sa_fmt_double does, or nothing when !has or v is not finite
 * (an empty field). */
void sa_csv_num(FILE *f, int has, double v);
/* {temperature, downsample, downsample_labels, ignore_index, rank_by,
 * logits, strict} */
json_object *sa_json_parameters(SaJson *j, const SegauditAudit *a);
/* Adds n_issues, issue_pixels, valid_pixels, images_with_issues,
 * pixels_summing_far_from_1 and images_skipped to o. */
void sa_json_totals(SaJson *j, json_object *o, const SegauditAudit *a);
/* [{class, name, labeled_pixels, threshold, issue_pixels_given,
 * issue_pixels_predicted, images_affected}], one per class. */
json_object *sa_json_classes(SaJson *j, const SegauditAudit *a);
/* [{given, given_name, predicted, predicted_name, issue_pixels}], the
 * first max pairs (most issue pixels first). */
json_object *sa_json_pairs(SaJson *j, const SegauditAudit *a, uint64_t max);
/* {truth, images, positives, scores [{score, ap, auroc, precision_at_p,
 * hits_at_10}]}; only for an audit with a truth file. */
json_object *sa_json_evaluation(SaJson *j, const SegauditAudit *a);
/* {threads, seconds_pass1, seconds_pass2, seconds_total,
 * candidate_records, spilled_bytes, second_read}: what varies from run to
 * run. */
json_object *sa_json_run(SaJson *j, const SegauditAudit *a);

#endif
