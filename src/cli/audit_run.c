/* The run of `segaudit audit`: the audit itself with its progress line and
 * the cancel flag, the report written into the staging folder, and the
 * move into place with SIGINT and SIGTERM held back. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "segaudit/segaudit.h"

#include "audit.h"
#include "progress.h"
#include "signals.h"
#include "staging.h"
#include "util.h"

/* Runs the audit; 0 or a SEGAUDIT_E* code with its message in eb. */
static int run_audit(CliAuditJob *job, char *eb, size_t ebn)
{
    SegauditSettings *s = &job->s;
    if (job->force_progress || (!job->quiet && isatty(STDERR_FILENO))) {
        s->progress = cli_progress;
        s->progress_ctx = &job->progress;
    }
    if (job->masks)
        s->masks_dir = job->stage.masks;
    if (s->overlay_top > 0)
        s->overlays_dir = job->stage.overlays;
    cli_catch_signals(NULL);
    s->cancel = cli_cancel_flag();

    job->audit = segaudit_audit_new();
    if (!job->audit && cli_comm) {
        /* the other ranks are in the audit's exchanges: end the job */
        fprintf(stderr, "segaudit: out of memory\n");
        cli_exit(EXIT_INPUT);
    }
    int rc = job->audit ? segaudit_audit_run(job->audit, s) : SEGAUDIT_ENOMEM;
    cli_progress_end(&job->progress);
    if (rc)
        snprintf(eb, ebn, "%s",
                 job->audit ? segaudit_audit_error(job->audit)
                            : "out of memory");
    return rc;
}

/* Writes the report files into the staging folder. */
static int write_report(CliAuditJob *job, char *eb, size_t ebn)
{
    int rc = segaudit_report_write(job->audit, job->stage.dir, eb, ebn);
    /* the comparison before the page, which shows it */
    if (rc == 0 && job->compare)
        rc = segaudit_report_diff(job->compare, job->stage.dir,
                                  job->stage.dir, &job->changes, eb, ebn);
    if (rc == 0 && job->html)
        rc = segaudit_report_write_html(
            job->audit, job->stage.dir,
            job->s.overlay_top > 0 ? "overlays" : NULL, eb, ebn);
    return rc;
}

/* Moves the report into place unless a signal came, then removes the
 * staging folder; returns the exit status after printing any error.
 * Signals are held back meanwhile: one that came before means no move at
 * all, one that comes during it changes nothing. */
static int commit_report(CliAuditJob *job, int rc, char *eb)
{
    int status = 0;
    sigset_t prev;
    cli_block_signals(&prev);
    if (rc == 0 && cli_cancelled())
        rc = SEGAUDIT_ECANCEL;
    if (rc == 0 && cli_stage_commit(&job->stage) != 0) {
        rc = SEGAUDIT_EIO;
        eb[0] = '\0'; /* the move printed its error */
    }
    if (rc == 0)
        cli_forget_signal(); /* the report is complete */
    if (rc == SEGAUDIT_ECANCEL || cli_signal()) {
        fprintf(stderr, "segaudit: interrupted; no report was written\n");
        status = cli_interrupted_status();
    } else if (rc) {
        if (eb[0])
            fprintf(stderr, "segaudit: %s\n", eb);
        status = cli_exit_status(rc);
    }
    cli_stage_remove(&job->stage, status != 0);
    cli_unblock_signals(&prev);
    return status;
}

/* The staging folder: created by rank 0, which writes the report; the
 * other ranks of segaudit-mpi write their images' masks and overlays
 * into it.  0, or -1 on every rank. */
static int stage(CliAuditJob *job)
{
    const SegauditComm *c = cli_comm;
    int rc = cli_root() ? cli_stage_create(&job->stage, job->out) : 0;
    if (!c || c->size == 1)
        return rc;
    char dir[4096] = "";
    if (rc == 0 && c->rank == 0) {
        if (strlen(job->stage.dir) >= sizeof dir) {
            fprintf(stderr, "segaudit: %s: the output folder's path is too "
                    "long\n", job->out);
            rc = -1;
        } else {
            snprintf(dir, sizeof dir, "%s", job->stage.dir);
        }
    }
    if (c->bcast(c->ctx, dir, sizeof dir, 0) != 0 || !dir[0])
        rc = -1;
    if (rc == 0 && c->rank > 0 &&
        (rc = cli_stage_adopt(&job->stage, job->out, dir)) != 0)
        fprintf(stderr, "segaudit: out of memory\n");
    /* every rank goes on, or none does */
    uint64_t failed = rc != 0;
    if (c->allreduce_sum(c->ctx, &failed, 1) != 0 || failed)
        rc = -1;
    if (rc && c->rank == 0 && job->stage.dir)
        cli_stage_remove(&job->stage, 1);
    return rc;
}

int cli_audit_run(CliAuditJob *job)
{
    char eb[1024] = "";
    if (stage(job) != 0)
        return EXIT_INPUT;
    int rc = run_audit(job, eb, sizeof eb);
    if (!cli_root()) {
        /* rank 0 writes the report, prints and sets the job's status */
        return rc ? cli_exit_status(rc) : 0;
    }
    if (rc == 0)
        rc = write_report(job, eb, sizeof eb);
    return commit_report(job, rc, eb);
}

int cli_audit_dry_run(CliAuditJob *job)
{
    SegauditSettings *s = &job->s;
    cli_catch_signals(NULL);
    s->cancel = cli_cancel_flag();
    job->audit = segaudit_audit_new();
    int rc = job->audit ? segaudit_audit_run(job->audit, s) : SEGAUDIT_ENOMEM;
    if (rc == SEGAUDIT_ECANCEL || cli_signal()) {
        fprintf(stderr, "segaudit: interrupted\n");
        return cli_interrupted_status();
    }
    if (rc) {
        fprintf(stderr, "segaudit: %s\n",
                job->audit ? segaudit_audit_error(job->audit)
                           : "out of memory");
        return cli_exit_status(rc);
    }
    SegauditDatasetInfo in;
    segaudit_audit_info(job->audit, &in);
    for (uint64_t i = 0; i < in.n_images && in.images_skipped; i++) {
        SegauditImageResult im;
        segaudit_audit_image(job->audit, i, &im);
        if (im.skipped)
            fprintf(stderr, "segaudit: would skip '%s': %s\n", im.id,
                    im.skip_reason ? im.skip_reason : "");
    }
    printf("dry run: the inputs can be audited: %llu images of %llux%llu%s, "
           "%u classes, %s, %s; ids from %s; every label map read%s\n",
           (unsigned long long)in.n_images,
           (unsigned long long)in.height, (unsigned long long)in.width,
           in.upsampled ? " (upsampled)" : "",
           in.n_classes, in.dtype, in.layout,
           !strcmp(in.ids_source, "dataset") ? "the probabilities file"
           : !strcmp(in.ids_source, "names") ? "the sorted label file names"
           : !strcmp(in.ids_source, "text")  ? "the text file"
                                             : "the image indices",
           in.images_skipped ? " (some would be skipped, above)" : "");
    return 0;
}
