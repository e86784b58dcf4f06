/* What `segaudit audit` prints after a successful run: the evaluation
 * against the truth file on stdout; the run's warnings, where the ids came
 * from, the skipped images and the totals on stderr. */
#include <stdio.h>
#include <string.h>

#include "segaudit/segaudit.h"

#include "audit.h"
#include "commands.h"

static void print_metric(int has, double v)
{
    if (has)
        printf(" %9.4f", v);
    else
        printf(" %9s", "-");
}

/* The evaluation against the truth file, one line per score. */
static void print_evaluation(const SegauditAudit *a)
{
    SegauditEvaluation ev;
    segaudit_audit_evaluation(a, 0, &ev);
    SegauditFlagInfo fl;
    segaudit_audit_flag(a, &fl);
    const SegauditSettings *s = segaudit_audit_settings(a);
    printf("Evaluation against %s: %llu of %llu images mislabeled, %llu "
           "flagged\n(precision, recall and F1: of the flagged images, and "
           "of each score's first %llu)\n",
           s->truth_path ? s->truth_path : s->truth_masks_dir,
           (unsigned long long)ev.positives, (unsigned long long)ev.images,
           (unsigned long long)fl.flagged, (unsigned long long)fl.flagged);
    printf("%-24s %9s %9s %9s %8s %9s %9s %9s\n", "score", "AP", "AUROC",
           "P@P", "top-10", "precision", "recall", "F1");
    for (int i = 0; i < SEGAUDIT_N_SCORES; i++) {
        segaudit_audit_evaluation(a, i, &ev);
        printf("%-24s", segaudit_score_name(i));
        print_metric(ev.has_ap, ev.ap);
        print_metric(ev.has_auroc, ev.auroc);
        print_metric(ev.has_precision, ev.precision_at_p);
        printf(" %8llu", (unsigned long long)ev.hits_at_10);
        print_metric(ev.at_flagged.has_precision, ev.at_flagged.precision);
        print_metric(ev.at_flagged.has_recall, ev.at_flagged.recall);
        print_metric(ev.at_flagged.has_f1, ev.at_flagged.f1);
        putchar('\n');
    }
    printf("%-24s %9s %9s %9s %8s", "the flag", "", "", "", "");
    print_metric(fl.eval.has_precision, fl.eval.precision);
    print_metric(fl.eval.has_recall, fl.eval.recall);
    print_metric(fl.eval.has_f1, fl.eval.f1);
    putchar('\n');
    SegauditMaskEvaluation m;
    if (!segaudit_audit_mask_evaluation(a, &m))
        return;
    printf("Against the true error masks in %s:\n", s->truth_masks_dir);
    printf("%-24s %9s %9s %9s %8s", "issue pixels", "", "", "", "");
    print_metric(m.pixels.has_precision, m.pixels.precision);
    print_metric(m.pixels.has_recall, m.pixels.recall);
    print_metric(m.pixels.has_f1, m.pixels.f1);
    printf("\n%-24s %9s %9s %9s %8s", "issue regions (IoU>=0.3)", "", "",
           "", "");
    print_metric(m.has_region_precision, m.region_precision);
    print_metric(m.has_region_recall, m.region_recall);
    print_metric(m.has_region_f1, m.region_f1);
    putchar('\n');
}

/* The run's warnings (inputs that look wrong although every value is
 * valid), printed even with --quiet. */
static void print_warnings(const SegauditAudit *a)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    for (int i = 0; i < in.n_warnings; i++)
        fprintf(stderr, "segaudit: warning: %s\n",
                segaudit_audit_warning(a, i));
    for (int i = 0; i < in.n_cache_notes; i++)
        fprintf(stderr, "segaudit: warning: cache: %s\n",
                segaudit_audit_cache_note(a, i));
}

static void print_totals(const SegauditAudit *a, const char *out)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    const char *cache = segaudit_audit_settings(a)->cache_dir;
    if (cache)
        fprintf(stderr,
                "segaudit: cache %s: %llu images from the cache, %llu "
                "computed; it takes %.1f MB\n", cache,
                (unsigned long long)in.images_from_cache,
                (unsigned long long)in.images_computed,
                (double)in.cache_bytes / 1e6);
    if (in.images_skipped)
        fprintf(stderr, "segaudit: %llu images skipped (see skipped.csv)\n",
                (unsigned long long)in.images_skipped);
    SegauditFlagInfo fl;
    segaudit_audit_flag(a, &fl);
    if (fl.rule != SEGAUDIT_FLAG_NONE)
        fprintf(stderr, "segaudit: %llu of %llu images are likely "
                        "mislabeled (flagged in images.csv)\n",
                (unsigned long long)fl.flagged,
                (unsigned long long)in.n_images);
    fprintf(stderr,
            "segaudit: %llu images, %llu issue pixels in %llu images "
            "(n_issues %llu), %.1f s; report in %s/\n",
            (unsigned long long)in.n_images,
            (unsigned long long)in.issue_pixels,
            (unsigned long long)in.images_with_issues,
            (unsigned long long)in.n_issues, in.seconds_total, out);
}

void cli_audit_summary(const CliAuditJob *job)
{
    print_warnings(job->audit);
    if (job->compare && !job->quiet)
        cli_print_diff_summary(&job->changes, job->out);
    if (job->quiet)
        return;
    SegauditDatasetInfo in;
    segaudit_audit_info(job->audit, &in);
    if (in.layout_assumed)
        fprintf(stderr, "segaudit: note: the predictions were read as "
                        "channels-last (N,H,W,K), the only axis order that "
                        "fits the labels%s (--layout says otherwise)\n",
                job->s.n_class_names ? " and the class names" : "");
    if (strcmp(in.ids_source, "names") == 0)
        fprintf(stderr, "segaudit: note: the image ids are the label file "
                        "names sorted as text (the probabilities file has "
                        "no ids); the tensor's images must be in that "
                        "order\n");
    if (segaudit_audit_has_truth(job->audit))
        print_evaluation(job->audit);
    print_totals(job->audit, job->out);
}
