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
int segaudit_report_write(const SegauditAudit *a, const char *dir,
                          char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
