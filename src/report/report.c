/* Report writers: images.csv, classes.csv, pairs.csv and report.json.
 * Each file is written under a temporary name in the same folder and
 * renamed when complete, so a reader never sees half a file. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/outfile.h"
#include "segaudit/segaudit.h"

/* A CSV field, quoted when it needs to be. */
static void csv_str(FILE *f, const char *s)
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

static void csv_num(FILE *f, int has, double v)
{
    if (has && isfinite(v))
        fprintf(f, "%.17g", v);
}

static const char *class_name(const SegauditAudit *a, uint32_t k)
{
    const SegauditSettings *s = segaudit_audit_settings(a);
    return s->n_class_names ? s->class_names[k] : "";
}

/* Scores written after the index column of images.csv: the baselines. */
static const int baseline_scores[] = {
    SEGAUDIT_SCORE_MEAN_SELF_CONFIDENCE, SEGAUDIT_SCORE_MIN_SELF_CONFIDENCE,
    SEGAUDIT_SCORE_PIXEL_ACCURACY, SEGAUDIT_SCORE_CLASS_BALANCED_ACCURACY,
    SEGAUDIT_SCORE_MEAN_IOU};
#define N_BASELINES (sizeof baseline_scores / sizeof baseline_scores[0])

static void write_images(const SegauditAudit *a, FILE *f)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    fputs("rank,image,softmin,num_pixel_issues,issue_pixels,valid_pixels,"
          "index,regions,largest_region", f);
    for (size_t i = 0; i < N_BASELINES; i++)
        fprintf(f, ",%s", segaudit_score_name(baseline_scores[i]));
    if (segaudit_audit_has_truth(a))
        fputs(",mislabeled", f);
    fputc('\n', f);
    for (uint64_t r = 0; r < in.n_images - in.images_skipped; r++) {
        SegauditImageResult im;
        segaudit_audit_image(a, segaudit_audit_ranked(a, r), &im);
        fprintf(f, "%llu,", (unsigned long long)im.rank);
        csv_str(f, im.id);
        fputc(',', f);
        csv_num(f, im.has_score, im.softmin);
        fputc(',', f);
        csv_num(f, im.has_score, im.num_pixel_issues);
        fprintf(f, ",%llu,%llu,%llu,%llu,%llu",
                (unsigned long long)im.issue_pixels,
                (unsigned long long)im.valid_pixels,
                (unsigned long long)im.index, (unsigned long long)im.regions,
                (unsigned long long)im.largest_region);
        for (size_t i = 0; i < N_BASELINES; i++) {
            fputc(',', f);
            csv_num(f, im.has_score, im.score[baseline_scores[i]]);
        }
        if (segaudit_audit_has_truth(a))
            fprintf(f, ",%d", segaudit_audit_truth(a, im.index));
        fputc('\n', f);
    }
}

/* regions.csv: by image rank, then largest first. */
static int write_regions(SegauditAudit *a, FILE *f)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    fputs("image,region,area,x,y,width,height,given,given_name,predicted,"
          "predicted_name,mean_self_confidence,mean_predicted_prob\n", f);
    for (uint64_t r = 0; r < in.n_images - in.images_skipped; r++) {
        uint64_t i = segaudit_audit_ranked(a, r);
        SegauditImageResult im;
        segaudit_audit_image(a, i, &im);
        for (uint64_t j = 0; j < segaudit_audit_n_regions(a, i); j++) {
            SegauditRegion g;
            int rc = segaudit_audit_region(a, i, j, &g);
            if (rc)
                return rc;
            csv_str(f, im.id);
            fprintf(f, ",%u,%llu,%u,%u,%u,%u,%u,", g.region,
                    (unsigned long long)g.area, g.x, g.y, g.width, g.height,
                    g.given);
            csv_str(f, class_name(a, g.given));
            fprintf(f, ",%u,", g.predicted);
            csv_str(f, class_name(a, g.predicted));
            fprintf(f, ",%.17g,%.17g\n", g.mean_self_confidence,
                    g.mean_predicted_prob);
        }
    }
    return 0;
}

/* skipped.csv: the images left out with --on-error skip, and why. */
static void write_skipped(const SegauditAudit *a, FILE *f)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    fputs("image,index,reason\n", f);
    for (uint64_t r = in.n_images - in.images_skipped; r < in.n_images;
         r++) {
        SegauditImageResult im;
        segaudit_audit_image(a, segaudit_audit_ranked(a, r), &im);
        csv_str(f, im.id);
        fprintf(f, ",%llu,", (unsigned long long)im.index);
        csv_str(f, im.skip_reason ? im.skip_reason : "");
        fputc('\n', f);
    }
}

static void write_evaluation(const SegauditAudit *a, FILE *f)
{
    fputs("score,ap,auroc,precision_at_p,hits_at_10,positives,images\n", f);
    for (int i = 0; i < SEGAUDIT_N_SCORES; i++) {
        SegauditEvaluation ev;
        segaudit_audit_evaluation(a, i, &ev);
        fprintf(f, "%s,", segaudit_score_name(i));
        csv_num(f, ev.has_ap, ev.ap);
        fputc(',', f);
        csv_num(f, ev.has_auroc, ev.auroc);
        fputc(',', f);
        csv_num(f, ev.has_precision, ev.precision_at_p);
        fprintf(f, ",%llu,%llu,%llu\n", (unsigned long long)ev.hits_at_10,
                (unsigned long long)ev.positives,
                (unsigned long long)ev.images);
    }
}

static void write_classes(const SegauditAudit *a, FILE *f)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    fputs("class,name,labeled_pixels,threshold,issue_pixels_given,"
          "issue_pixels_predicted,images_affected\n", f);
    for (uint32_t k = 0; k < in.n_classes; k++) {
        SegauditClassResult c;
        segaudit_audit_class(a, k, &c);
        fprintf(f, "%u,", k);
        csv_str(f, c.name);
        fprintf(f, ",%llu,%.17g,%llu,%llu,%llu\n",
                (unsigned long long)c.labeled_pixels, c.threshold,
                (unsigned long long)c.issue_pixels_given,
                (unsigned long long)c.issue_pixels_predicted,
                (unsigned long long)c.images_affected);
    }
}

static void write_pairs(const SegauditAudit *a, FILE *f)
{
    fputs("given,given_name,predicted,predicted_name,issue_pixels\n", f);
    for (uint64_t i = 0; i < segaudit_audit_n_pairs(a); i++) {
        SegauditPair p;
        segaudit_audit_pair(a, i, &p);
        fprintf(f, "%u,", p.given);
        csv_str(f, class_name(a, p.given));
        fprintf(f, ",%u,", p.predicted);
        csv_str(f, class_name(a, p.predicted));
        fprintf(f, ",%llu\n", (unsigned long long)p.issue_pixels);
    }
}

/* ---- JSON -------------------------------------------------------------- */

static json_object *jdouble(double v)
{
    char buf[32];
    if (!isfinite(v))
        return NULL; /* JSON null */
    snprintf(buf, sizeof buf, "%.17g", v);
    return json_object_new_double_s(v, buf);
}

static json_object *ju64(uint64_t v)
{
    return json_object_new_uint64(v);
}

static json_object *jstr(const char *s)
{
    return json_object_new_string(s ? s : "");
}

static json_object *build_json(const SegauditAudit *a)
{
    const SegauditSettings *s = segaudit_audit_settings(a);
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    json_object *root = json_object_new_object();

    json_object *tool = json_object_new_object();
    json_object_object_add(tool, "name", jstr("segaudit"));
    json_object_object_add(tool, "version", jstr(segaudit_version()));
    json_object_object_add(root, "tool", tool);

    json_object *par = json_object_new_object();
    json_object_object_add(par, "temperature", jdouble(s->temperature));
    json_object_object_add(par, "downsample",
                           json_object_new_int(s->downsample));
    json_object_object_add(par, "downsample_labels",
                           jstr(s->downsample_labels ? "mode" : "mean"));
    json_object *ig = json_object_new_array();
    for (int i = 0; i < s->n_ignore; i++)
        json_object_array_add(ig, json_object_new_int(s->ignore_index[i]));
    json_object_object_add(par, "ignore_index", ig);
    json_object_object_add(par, "rank_by",
                           jstr(segaudit_score_name(s->rank_by)));
    json_object_object_add(par, "logits", json_object_new_boolean(s->logits));
    json_object_object_add(par, "strict", json_object_new_boolean(s->strict));
    json_object_object_add(root, "parameters", par);

    json_object *ds = json_object_new_object();
    json_object_object_add(ds, "labels", jstr(s->labels_dir));
    json_object_object_add(ds, "label_suffix", jstr(s->label_suffix));
    json_object_object_add(ds, "probs", jstr(s->probs_path));
    json_object_object_add(ds, "dataset", jstr(s->probs_dataset));
    json_object *shape = json_object_new_object();
    json_object_object_add(shape, "N", ju64(in.n_images));
    json_object_object_add(shape, "K", ju64(in.n_classes));
    json_object_object_add(shape, "H", ju64(in.height));
    json_object_object_add(shape, "W", ju64(in.width));
    json_object_object_add(ds, "shape", shape);
    json_object_object_add(ds, "dtype", jstr(in.dtype));
    json_object_object_add(ds, "layout", jstr(in.layout));
    json_object_object_add(root, "dataset", ds);

    json_object_object_add(root, "n_issues", ju64(in.n_issues));
    json_object_object_add(root, "issue_pixels", ju64(in.issue_pixels));
    json_object_object_add(root, "valid_pixels", ju64(in.valid_pixels));
    json_object_object_add(root, "images_with_issues",
                           ju64(in.images_with_issues));
    json_object_object_add(root, "pixels_summing_far_from_1",
                           ju64(in.far_from_one));
    json_object_object_add(root, "images_skipped", ju64(in.images_skipped));
    json_object *sk = json_object_new_array();
    for (uint64_t r = in.n_images - in.images_skipped; r < in.n_images;
         r++) {
        SegauditImageResult im;
        segaudit_audit_image(a, segaudit_audit_ranked(a, r), &im);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "image", jstr(im.id));
        json_object_object_add(o, "index", ju64(im.index));
        json_object_object_add(o, "reason", jstr(im.skip_reason));
        json_object_array_add(sk, o);
    }
    json_object_object_add(root, "skipped", sk);

    json_object *imgs = json_object_new_array();
    for (uint64_t r = 0; r < in.n_images - in.images_skipped; r++) {
        SegauditImageResult im;
        segaudit_audit_image(a, segaudit_audit_ranked(a, r), &im);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "rank", ju64(im.rank));
        json_object_object_add(o, "image", jstr(im.id));
        json_object_object_add(o, "index", ju64(im.index));
        json_object_object_add(o, "softmin",
                               im.has_score ? jdouble(im.softmin) : NULL);
        json_object_object_add(o, "num_pixel_issues",
                               im.has_score ? jdouble(im.num_pixel_issues)
                                            : NULL);
        json_object_object_add(o, "issue_pixels", ju64(im.issue_pixels));
        json_object_object_add(o, "valid_pixels", ju64(im.valid_pixels));
        json_object_object_add(o, "regions", ju64(im.regions));
        json_object_object_add(o, "largest_region", ju64(im.largest_region));
        for (size_t i = 0; i < N_BASELINES; i++)
            json_object_object_add(
                o, segaudit_score_name(baseline_scores[i]),
                im.has_score ? jdouble(im.score[baseline_scores[i]]) : NULL);
        if (segaudit_audit_has_truth(a))
            json_object_object_add(
                o, "mislabeled",
                json_object_new_boolean(segaudit_audit_truth(a, im.index)));
        json_object_array_add(imgs, o);
    }
    json_object_object_add(root, "images", imgs);

    json_object *cls = json_object_new_array();
    for (uint32_t k = 0; k < in.n_classes; k++) {
        SegauditClassResult c;
        segaudit_audit_class(a, k, &c);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "class", ju64(k));
        json_object_object_add(o, "name", jstr(c.name));
        json_object_object_add(o, "labeled_pixels", ju64(c.labeled_pixels));
        json_object_object_add(o, "threshold", jdouble(c.threshold));
        json_object_object_add(o, "issue_pixels_given",
                               ju64(c.issue_pixels_given));
        json_object_object_add(o, "issue_pixels_predicted",
                               ju64(c.issue_pixels_predicted));
        json_object_object_add(o, "images_affected",
                               ju64(c.images_affected));
        json_object_array_add(cls, o);
    }
    json_object_object_add(root, "classes", cls);

    json_object *prs = json_object_new_array();
    for (uint64_t i = 0; i < segaudit_audit_n_pairs(a); i++) {
        SegauditPair p;
        segaudit_audit_pair(a, i, &p);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "given", ju64(p.given));
        json_object_object_add(o, "given_name", jstr(class_name(a, p.given)));
        json_object_object_add(o, "predicted", ju64(p.predicted));
        json_object_object_add(o, "predicted_name",
                               jstr(class_name(a, p.predicted)));
        json_object_object_add(o, "issue_pixels", ju64(p.issue_pixels));
        json_object_array_add(prs, o);
    }
    json_object_object_add(root, "pairs", prs);

    if (segaudit_audit_has_truth(a)) {
        json_object *ev = json_object_new_object();
        json_object_object_add(ev, "truth", jstr(s->truth_path));
        json_object *arr = json_object_new_array();
        for (int i = 0; i < SEGAUDIT_N_SCORES; i++) {
            SegauditEvaluation e;
            segaudit_audit_evaluation(a, i, &e);
            if (i == 0) {
                json_object_object_add(ev, "images", ju64(e.images));
                json_object_object_add(ev, "positives", ju64(e.positives));
            }
            json_object *o = json_object_new_object();
            json_object_object_add(o, "score", jstr(segaudit_score_name(i)));
            json_object_object_add(o, "ap", e.has_ap ? jdouble(e.ap) : NULL);
            json_object_object_add(o, "auroc",
                                   e.has_auroc ? jdouble(e.auroc) : NULL);
            json_object_object_add(o, "precision_at_p",
                                   e.has_precision
                                       ? jdouble(e.precision_at_p)
                                       : NULL);
            json_object_object_add(o, "hits_at_10", ju64(e.hits_at_10));
            json_object_array_add(arr, o);
        }
        json_object_object_add(ev, "scores", arr);
        json_object_object_add(root, "evaluation", ev);
    }

    /* What varies from run to run lives here and only here. */
    json_object *run = json_object_new_object();
    json_object_object_add(run, "threads", json_object_new_int(in.n_threads));
    json_object_object_add(run, "seconds_pass1", jdouble(in.seconds_pass1));
    json_object_object_add(run, "seconds_pass2", jdouble(in.seconds_pass2));
    json_object_object_add(run, "seconds_total", jdouble(in.seconds_total));
    json_object_object_add(run, "candidate_records", ju64(in.records));
    json_object_object_add(run, "spilled_bytes", ju64(in.spilled_bytes));
    json_object_object_add(run, "second_read",
                           json_object_new_boolean(in.second_read));
    json_object_object_add(root, "run", run);
    return root;
}

int segaudit_report_write(SegauditAudit *a, const char *dir,
                          char *errbuf, size_t errlen)
{
    static const char *names[] = {"images.csv",     "classes.csv",
                                  "pairs.csv",      "regions.csv",
                                  "evaluation.csv", "skipped.csv",
                                  "report.json"};
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    for (int i = 0; i < 7; i++) {
        if (i == 4 && !segaudit_audit_has_truth(a))
            continue;
        if (i == 5 && !in.images_skipped)
            continue;
        SaOut o;
        int rc = sa_out_open(&o, dir, names[i], errbuf, errlen);
        if (rc) {
            sa_out_close(&o, 0, errbuf, errlen);
            return rc;
        }
        switch (i) {
        case 0: write_images(a, o.f); break;
        case 1: write_classes(a, o.f); break;
        case 2: write_pairs(a, o.f); break;
        case 3:
            if ((rc = write_regions(a, o.f)) != 0) {
                snprintf(errbuf, errlen, "%s", segaudit_audit_error(a));
                sa_out_close(&o, 0, errbuf, errlen);
                return rc;
            }
            break;
        case 4: write_evaluation(a, o.f); break;
        case 5: write_skipped(a, o.f); break;
        default: {
            json_object *root = build_json(a);
            const char *txt = json_object_to_json_string_ext(
                root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                          JSON_C_TO_STRING_NOSLASHESCAPE);
            if (txt) {
                fputs(txt, o.f);
                fputc('\n', o.f);
            }
            json_object_put(root);
            if (!txt) {
                sa_out_close(&o, 0, errbuf, errlen);
                snprintf(errbuf, errlen, "out of memory");
                return SEGAUDIT_ENOMEM;
            }
        }
        }
        if ((rc = sa_out_close(&o, 1, errbuf, errlen)) != 0)
            return rc;
    }
    return 0;
}
