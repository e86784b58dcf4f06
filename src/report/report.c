/* Report writers: images.csv, classes.csv, pairs.csv, regions.csv,
 * evaluation.csv, skipped.csv and report.json (whose sections that
 * report.html holds too come from shared.c).  Each file is written under a
 * temporary name in the same folder and renamed when complete, so a reader
 * never sees half a file. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/outfile.h"
#include "report/shared.h"
#include "segaudit/segaudit.h"

static void write_images(const SegauditAudit *a, FILE *f)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    fputs("rank,image,softmin,num_pixel_issues,issue_pixels,valid_pixels,"
          "index,regions,largest_region", f);
    for (size_t i = 0; i < SA_N_BASELINES; i++)
        fprintf(f, ",%s", segaudit_score_name(sa_baseline_scores[i]));
    fputs(",region_mass,flagged", f);
    if (segaudit_audit_has_truth(a))
        fputs(",mislabeled", f);
    fputc('\n', f);
    for (uint64_t r = 0; r < in.n_images - in.images_skipped; r++) {
        SegauditImageResult im;
        segaudit_audit_image(a, segaudit_audit_ranked(a, r), &im);
        fprintf(f, "%llu,", (unsigned long long)im.rank);
        sa_csv_str(f, im.id);
        fputc(',', f);
        sa_csv_num(f, im.has_score, im.softmin);
        fputc(',', f);
        sa_csv_num(f, im.has_score, im.num_pixel_issues);
        fprintf(f, ",%llu,%llu,%llu,%llu,%llu",
                (unsigned long long)im.issue_pixels,
                (unsigned long long)im.valid_pixels,
                (unsigned long long)im.index, (unsigned long long)im.regions,
                (unsigned long long)im.largest_region);
        for (size_t i = 0; i < SA_N_BASELINES; i++) {
            fputc(',', f);
            sa_csv_num(f, im.has_score, im.score[sa_baseline_scores[i]]);
        }
        fputc(',', f);
        sa_csv_num(f, 1, im.region_mass);
        fprintf(f, ",%d", im.flagged);
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
            sa_csv_str(f, im.id);
            fprintf(f, ",%u,%llu,%u,%u,%u,%u,%u,", g.region,
                    (unsigned long long)g.area, g.x, g.y, g.width, g.height,
                    g.given);
            sa_csv_str(f, sa_class_name(a, g.given));
            fprintf(f, ",%u,", g.predicted);
            sa_csv_str(f, sa_class_name(a, g.predicted));
            fputc(',', f);
            sa_csv_num(f, 1, g.mean_self_confidence);
            fputc(',', f);
            sa_csv_num(f, 1, g.mean_predicted_prob);
            fputc('\n', f);
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
        sa_csv_str(f, im.id);
        fprintf(f, ",%llu,", (unsigned long long)im.index);
        sa_csv_str(f, im.skip_reason ? im.skip_reason : "");
        fputc('\n', f);
    }
}

static void write_pr(FILE *f, const SegauditPrecisionRecall *pr)
{
    fprintf(f, ",%llu,", (unsigned long long)pr->selected);
    sa_csv_num(f, pr->has_precision, pr->precision);
    fputc(',', f);
    sa_csv_num(f, pr->has_recall, pr->recall);
    fputc(',', f);
    sa_csv_num(f, pr->has_f1, pr->f1);
    fputc('\n', f);
}

/* One row per score, then the flag's own row: its precision, recall and F1
 * (the scores' are those of their first F images, F = flagged images). */
static void write_evaluation(const SegauditAudit *a, FILE *f)
{
    fputs("score,ap,auroc,precision_at_p,hits_at_10,positives,images,"
          "selected,precision,recall,f1\n", f);
    SegauditEvaluation ev;
    for (int i = 0; i < SEGAUDIT_N_SCORES; i++) {
        segaudit_audit_evaluation(a, i, &ev);
        fprintf(f, "%s,", segaudit_score_name(i));
        sa_csv_num(f, ev.has_ap, ev.ap);
        fputc(',', f);
        sa_csv_num(f, ev.has_auroc, ev.auroc);
        fputc(',', f);
        sa_csv_num(f, ev.has_precision, ev.precision_at_p);
        fprintf(f, ",%llu,%llu,%llu", (unsigned long long)ev.hits_at_10,
                (unsigned long long)ev.positives,
                (unsigned long long)ev.images);
        write_pr(f, &ev.at_flagged);
    }
    SegauditFlagInfo fl;
    segaudit_audit_flag(a, &fl);
    fprintf(f, "flagged,,,,,%llu,%llu", (unsigned long long)ev.positives,
            (unsigned long long)ev.images);
    write_pr(f, &fl.eval);
    /* against the error masks: positives are error pixels, then error
     * regions */
    SegauditMaskEvaluation m;
    if (!segaudit_audit_mask_evaluation(a, &m))
        return;
    fprintf(f, "issue_pixels,,,,,%llu,%llu", (unsigned long long)m.error_pixels,
            (unsigned long long)m.images);
    write_pr(f, &m.pixels);
    fprintf(f, "issue_regions,,,,,%llu,%llu,%llu,",
            (unsigned long long)m.error_regions,
            (unsigned long long)m.images, (unsigned long long)m.regions);
    sa_csv_num(f, m.has_region_precision, m.region_precision);
    fputc(',', f);
    sa_csv_num(f, m.has_region_recall, m.region_recall);
    fputc(',', f);
    sa_csv_num(f, m.has_region_f1, m.region_f1);
    fputc('\n', f);
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
        sa_csv_str(f, c.name);
        fprintf(f, ",%llu,", (unsigned long long)c.labeled_pixels);
        sa_csv_num(f, 1, c.threshold);
        fprintf(f, ",%llu,%llu,%llu\n",
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
        sa_csv_str(f, sa_class_name(a, p.given));
        fprintf(f, ",%u,", p.predicted);
        sa_csv_str(f, sa_class_name(a, p.predicted));
        fprintf(f, ",%llu\n", (unsigned long long)p.issue_pixels);
    }
}

/* ---- JSON -------------------------------------------------------------- */

/* The ranked images, the columns of images.csv. */
static json_object *json_images(SaJson *j, const SegauditAudit *a)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    int has_truth = segaudit_audit_has_truth(a);
    json_object *imgs = sa_json_array(j);
    for (uint64_t r = 0; r < in.n_images - in.images_skipped && !j->oom;
         r++) {
        SegauditImageResult im;
        segaudit_audit_image(a, segaudit_audit_ranked(a, r), &im);
        json_object *o = sa_json_object(j);
        sa_json_set(j, o, "rank", sa_json_u64(j, im.rank));
        sa_json_set(j, o, "image", sa_json_str(j, im.id));
        sa_json_set(j, o, "index", sa_json_u64(j, im.index));
        sa_json_set(j, o, "softmin", sa_json_num(j, im.has_score, im.softmin));
        sa_json_set(j, o, "num_pixel_issues",
                    sa_json_num(j, im.has_score, im.num_pixel_issues));
        sa_json_set(j, o, "issue_pixels", sa_json_u64(j, im.issue_pixels));
        sa_json_set(j, o, "valid_pixels", sa_json_u64(j, im.valid_pixels));
        sa_json_set(j, o, "regions", sa_json_u64(j, im.regions));
        sa_json_set(j, o, "largest_region", sa_json_u64(j, im.largest_region));
        sa_json_set(j, o, "region_mass", sa_json_num(j, 1, im.region_mass));
        sa_json_set(j, o, "flagged", sa_json_bool(j, im.flagged));
        sa_json_set(j, o, "label_digest",
                    im.label_digest ? sa_json_str(j, im.label_digest) : NULL);
        for (size_t i = 0; i < SA_N_BASELINES; i++) {
            int sc = sa_baseline_scores[i];
            sa_json_set(j, o, segaudit_score_name(sc),
                        sa_json_num(j, im.has_score, im.score[sc]));
        }
        if (has_truth)
            sa_json_set(j, o, "mislabeled",
                        sa_json_bool(j, segaudit_audit_truth(a, im.index)));
        sa_json_push(j, imgs, o);
    }
    return imgs;
}

/* report.json, or NULL when out of memory. */
static json_object *build_json(const SegauditAudit *a)
{
    SaJson j = {0};
    json_object *root = sa_json_object(&j);

    json_object *tool = sa_json_object(&j);
    sa_json_set(&j, tool, "name", sa_json_str(&j, "segaudit"));
    sa_json_set(&j, tool, "version", sa_json_str(&j, segaudit_version()));
    sa_json_set(&j, root, "tool", tool);

    json_object *par = sa_json_parameters(&j, a);
    sa_json_set(&j, par, "min_region_area",
                sa_json_u64(&j, segaudit_audit_settings(a)->min_region_area));
    sa_json_set(&j, root, "parameters", par);
    sa_json_set(&j, root, "dataset", sa_json_dataset(&j, a));
    sa_json_totals(&j, root, a);
    sa_json_set(&j, root, "warnings", sa_json_warnings(&j, a));
    sa_json_set(&j, root, "skipped", sa_json_skipped(&j, a, UINT64_MAX));
    sa_json_set(&j, root, "images", json_images(&j, a));
    sa_json_set(&j, root, "classes", sa_json_classes(&j, a));
    sa_json_set(&j, root, "pairs",
                sa_json_pairs(&j, a, segaudit_audit_n_pairs(a)));
    if (segaudit_audit_has_truth(a))
        sa_json_set(&j, root, "evaluation", sa_json_evaluation(&j, a));
    /* What varies from run to run lives here and only here. */
    sa_json_set(&j, root, "run", sa_json_run(&j, a));
    if (j.oom) {
        json_object_put(root);
        return NULL;
    }
    return root;
}

/* Writes CSV file i of segaudit_report_write's list; its error in
 * errbuf. */
static int write_file(SegauditAudit *a, const char *dir, const char *name,
                      int i, char *errbuf, size_t errlen)
{
    SaOut o;
    int rc = sa_out_open(&o, dir, name, errbuf, errlen);
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
    default: write_skipped(a, o.f); break;
    }
    return sa_out_close(&o, 1, errbuf, errlen);
}

/* The CSV files are written side by side on two threads (when the audit
 * had them) while report.json's text is made; report.json is written
 * last, once every CSV file is, so that it is there only when they are.
 * The first failure in the list's order is the one reported. */
int segaudit_report_write(SegauditAudit *a, const char *dir,
                          char *errbuf, size_t errlen)
{
    static const char *names[] = {"images.csv",     "classes.csv",
                                  "pairs.csv",      "regions.csv",
                                  "evaluation.csv", "skipped.csv"};
    /* -1: report.json's text, the longest job, first */
    static const int order[] = {-1, 0, 3, 1, 2, 4, 5};
    enum { NCSV = 6, NJOBS = 7 };
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    int rcs[NCSV] = {0};
    char errs[NCSV][1024];
    json_object *root = NULL;
    const char *txt = NULL;
    int nt = in.n_threads > 1 ? 2 : 1;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int j = 0; j < NJOBS; j++) {
        int i = order[j];
        if (i < 0) {
            root = build_json(a);
            txt = root ? json_object_to_json_string_ext(
                             root, JSON_C_TO_STRING_PRETTY |
                                       JSON_C_TO_STRING_SPACED |
                                       JSON_C_TO_STRING_NOSLASHESCAPE)
                       : NULL;
            continue;
        }
        errs[i][0] = '\0';
        if ((i == 4 && !segaudit_audit_has_truth(a)) ||
            (i == 5 && !in.images_skipped))
            continue;
        rcs[i] = write_file(a, dir, names[i], i, errs[i], sizeof errs[i]);
    }
    int rc = 0;
    for (int i = 0; i < NCSV && rc == 0; i++)
        if (rcs[i]) {
            snprintf(errbuf, errlen, "%s", errs[i]);
            rc = rcs[i];
        }
    if (rc == 0 && !txt) {
        snprintf(errbuf, errlen, "out of memory");
        rc = SEGAUDIT_ENOMEM;
    }
    if (rc == 0) {
        SaOut o;
        rc = sa_out_open(&o, dir, "report.json", errbuf, errlen);
        if (rc == 0) {
            fputs(txt, o.f);
            fputc('\n', o.f);
        }
        int crc = sa_out_close(&o, rc == 0, errbuf, errlen);
        rc = rc ? rc : crc;
    }
    json_object_put(root);
    return rc;
}
