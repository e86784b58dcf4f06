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

#ifdef __cplusplus
}
#endif

#endif
