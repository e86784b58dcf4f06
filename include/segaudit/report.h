/* Writing the report files of an audit. */
#ifndef SEGAUDIT_REPORT_H
#define SEGAUDIT_REPORT_H

#include "segaudit/audit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes images.csv, classes.csv, pairs.csv, report.json and, when the audit
 * was evaluated against a truth file, evaluation.csv into dir (which must
 * exist).  Each file is written under a temporary name and renamed when
 * complete.  Returns 0 or a negative SEGAUDIT_E* code with the message in
 * errbuf.  Thread-safe for different dirs. */
int segaudit_report_write(SegauditAudit *a, const char *dir,
                          char *errbuf, size_t errlen);

/* Writes report.html into dir: one self-contained page (inline CSS and
 * JavaScript, nothing fetched) with the summary, a histogram of the image
 * scores, the ranked table of images (sortable, filterable by class and by
 * id, rendered in pages so that 100,000 images stay fast), each image's
 * overlay (overlays_rel/<id>.png, relative to dir; NULL: no overlays) and
 * regions, the per-class table, the top pairs and, with a truth file, the
 * evaluation.  Written under a temporary name and renamed. */
int segaudit_report_write_html(SegauditAudit *a, const char *dir,
                               const char *overlays_rel, char *errbuf,
                               size_t errlen);

/* What changed between two audits (segaudit_report_diff). */
typedef struct SegauditDiffSummary {
    uint64_t images_old, images_new;
    uint64_t relabeled;         /* images whose label digest changed */
    uint64_t relabeled_clean;   /* of them, now without issue pixels */
    uint64_t relabeled_flagged; /* of them, still with issue pixels */
    uint64_t moved;             /* same labels, other rank or issue pixels
                                   (the thresholds are dataset-wide) */
    uint64_t added, removed;    /* images in one report only */
    uint64_t regions_fixed;     /* old regions no new region overlaps */
    uint64_t regions_new;       /* new regions no old region overlaps */
} SegauditDiffSummary;

/* Compares two report folders (their report.json and regions.csv) and
 * writes into out_dir (which must exist), besides changes.json (the
 * summary and up to 500 changed images, which report.html shows when it
 * is written after it into the same folder):
 *   changes.csv: image,status,label_changed,old_rank,new_rank,old_score,
 *     new_score,old_issue_pixels,new_issue_pixels,regions_fixed,
 *     regions_new,regions_kept -- status relabeled (label digest changed),
 *     moved (same labels, other rank or issue pixels), same, added or
 *     removed; scores are each report's ranking score; a region is kept
 *     when its bounding box overlaps one of the other report's regions of
 *     the image.  Images of the new report by new rank, then the removed
 *     ones.
 *   class_changes.csv: class,name,old_threshold,new_threshold,
 *     threshold_change,old_issue_pixels_given,new_issue_pixels_given.
 * Fills *sum (may be NULL).  Returns 0 or a SEGAUDIT_E* code with the
 * message in errbuf. */
int segaudit_report_diff(const char *old_dir, const char *new_dir,
                         const char *out_dir, SegauditDiffSummary *sum,
                         char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
