/* What `segaudit audit` prints after a successful run: the evaluation
 * against the truth file on stdout; the warning about probabilities far
 * from summing to 1, the skipped images and the totals on stderr. */
#include <stdio.h>

#include "segaudit/segaudit.h"

#include "audit.h"

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
    printf("Evaluation against %s: %llu of %llu images mislabeled\n",
           segaudit_audit_settings(a)->truth_path,
           (unsigned long long)ev.positives, (unsigned long long)ev.images);
    printf("%-24s %9s %9s %9s %8s\n", "score", "AP", "AUROC", "P@P",
           "top-10");
    for (int i = 0; i < SEGAUDIT_N_SCORES; i++) {
        segaudit_audit_evaluation(a, i, &ev);
        printf("%-24s", segaudit_score_name(i));
        print_metric(ev.has_ap, ev.ap);
        print_metric(ev.has_auroc, ev.auroc);
        print_metric(ev.has_precision, ev.precision_at_p);
        printf(" %8llu\n", (unsigned long long)ev.hits_at_10);
    }
}

/* Pixels whose probabilities do not sum to 1 (counted, not refused). */
static void warn_far_from_one(const SegauditAudit *a)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    if (!in.far_from_one)
        return;
    SegauditImageResult im;
    segaudit_audit_image(a, in.far_image, &im);
    fprintf(stderr,
            "segaudit: warning: %llu pixels (%.3g%% of the valid ones) have "
            "probabilities that do not sum to 1, the first in image '%s' at "
            "(row %u, col %u): sum %g; use --logits for logits, --strict to "
            "refuse\n",
            (unsigned long long)in.far_from_one,
            100.0 * (double)in.far_from_one /
                (double)(in.valid_pixels ? in.valid_pixels : 1),
            im.id, in.far_row, in.far_col, in.far_sum);
}

static void print_totals(const SegauditAudit *a, const char *out)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    if (in.images_skipped)
        fprintf(stderr, "segaudit: %llu images skipped (see skipped.csv)\n",
                (unsigned long long)in.images_skipped);
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
    warn_far_from_one(job->audit);
    if (job->quiet)
        return;
    if (segaudit_audit_has_truth(job->audit))
        print_evaluation(job->audit);
    print_totals(job->audit, job->out);
}
