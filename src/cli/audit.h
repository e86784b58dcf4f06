/* The parts of `segaudit audit`: what the command line asks for
 * (audit_cmd.c), the run into a staged output folder (audit_run.c) and
 * the lines printed after it (audit_summary.c). */
#ifndef SEGAUDIT_CLI_AUDIT_H
#define SEGAUDIT_CLI_AUDIT_H

#include <stdint.h>

#include "segaudit/report.h"
#include "segaudit/segaudit.h"

#include "progress.h"
#include "staging.h"

/* One audit: its settings, the options that are not settings, and what it
 * owns (freed together when the command ends). */
typedef struct CliAuditJob {
    SegauditSettings s;
    const char *out;                   /* --out */
    const char *probs;                 /* --probs as given: FILE[:DATASET] */
    const char *names_path;            /* --class-names */
    const char *palette_path;          /* --palette */
    const SegauditClassPreset *preset; /* --classes */
    int quiet;                         /* -q */
    int masks;                         /* --masks */
    int force_progress;                /* --progress */
    int html;                          /* --html (1) or --no-html */
    const char *compare;               /* --compare OLD */
    SegauditDiffSummary changes;       /* its result */

    char *probs_file;      /* the FILE part of --probs (s.probs_path) */
    char **names;          /* the --class-names lines (s.class_names) */
    uint8_t (*palette)[3]; /* the --palette colours (s.palette) */
    CliProgress progress;  /* the progress line, if shown */
    CliStage stage;        /* the staging folder inside out */
    SegauditAudit *audit;  /* the audit, once created */
} CliAuditJob;

/* Runs the audit of job into job->stage and moves the report into
 * job->out.  Returns the exit status: 0, 1 (input or I/O error), 2 (bad
 * settings found by the library) or 128 + signal; the error is printed. */
int cli_audit_run(CliAuditJob *job);

/* --dry-run: the inputs checked, nothing written; prints what was found.
 * Returns the exit status, as cli_audit_run. */
int cli_audit_dry_run(CliAuditJob *job);

/* After a successful run: the warning about probabilities that do not sum
 * to 1 and, unless quiet, the evaluation (stdout) and the totals line. */
void cli_audit_summary(const CliAuditJob *job);

#endif
