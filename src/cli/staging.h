/* The output folder of an audit: the report is written into a staging
 * folder inside it, then moved into place file by file, so that a failed
 * or interrupted run leaves the previous report as it was. */
#ifndef SEGAUDIT_CLI_STAGING_H
#define SEGAUDIT_CLI_STAGING_H

typedef struct CliStage {
    const char *out; /* the report folder */
    char *dir;       /* <out>/.segaudit-stage-<host>-<pid> */
    char *masks;     /* <dir>/masks */
    char *overlays;  /* <dir>/overlays */
    int created_out; /* out did not exist before */
} CliStage;

/* Creates out (and its parents) and the staging folder in it.  Returns 0,
 * or -1 after printing why; then nothing is left to remove or free. */
int cli_stage_create(CliStage *st, const char *out);
/* Moves the report files and folders from the staging folder into out;
 * those this run did not write are removed from out.  Returns 0, or -1
 * after printing which one could not be moved. */
int cli_stage_commit(const CliStage *st);
/* Removes the staging folder, and out too when failed is set, out was
 * created by cli_stage_create and is empty. */
void cli_stage_remove(const CliStage *st, int failed);
/* Another process's staging folder dir in out (segaudit-mpi's ranks
 * above 0 write their masks and overlays into rank 0's): the paths only;
 * -1 when out of memory. */
int cli_stage_adopt(CliStage *st, const char *out, const char *dir);
/* Frees the paths; st may be zeroed or already freed. */
void cli_stage_free(CliStage *st);

#endif
