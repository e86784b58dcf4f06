/* Staging of the output folder: the staging folder's creation, the move
 * of the finished report into place, and the removal of what is left. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "staging.h"

/* The files of a report; its folders are in move_dirs. */
static const char *const report_files[] = {
    "images.csv",     "classes.csv", "pairs.csv",   "regions.csv",
    "evaluation.csv", "skipped.csv", "report.json", "report.html",
    "changes.csv",    "class_changes.csv", "changes.json",
};
#define N_REPORT_FILES (int)(sizeof report_files / sizeof *report_files)

static int remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        size_t n = strlen(path) + strlen(de->d_name) + 2;
        char *p = malloc(n);
        if (!p)
            break;
        snprintf(p, n, "%s/%s", path, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(p);
        else
            unlink(p);
        free(p);
    }
    closedir(d);
    return rmdir(path);
}

static int make_dirs(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return -1;
    for (char *c = p + 1; *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *c = '/';
    }
    int rc = mkdir(p, 0777) != 0 && errno != EEXIST ? -1 : 0;
    free(p);
    return rc;
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* The staging folder's name: ".segaudit-stage-<host>-<pid>" (the host,
 * because the output folder may be shared by the nodes of a cluster). */
static void stage_name(char *buf, size_t len)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    for (char *c = host; *c; c++)
        if (*c == '/')
            *c = '_';
    snprintf(buf, len, ".segaudit-stage-%s-%ld", host, (long)getpid());
}

/* Staging folders of runs of this host that were killed (SIGKILL, power
 * loss) before they could remove them: their process is gone.  Those of
 * other hosts are left alone: their process cannot be checked. */
static void remove_stale(const char *out)
{
    DIR *d = opendir(out);
    if (!d)
        return;
    char mine[320];
    stage_name(mine, sizeof mine);
    const char *dash = strrchr(mine, '-');
    size_t pre_len = (size_t)(dash - mine) + 1; /* up to the pid */
    const char *legacy = ".segaudit-stage-"; /* <pid>: of this host */
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        size_t at = pre_len;
        if (strncmp(de->d_name, mine, pre_len) != 0) {
            at = strlen(legacy);
            if (strncmp(de->d_name, legacy, at) != 0 ||
                de->d_name[at] < '0' || de->d_name[at] > '9')
                continue;
        }
        long pid = strtol(de->d_name + at, &end, 10);
        if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char *p = join(out, de->d_name);
        if (p)
            remove_tree(p);
        free(p);
    }
    closedir(d);
}

/* The masks and overlays folders in st->dir (which may be NULL: out of
 * memory); -1 when a path is missing. */
static int set_paths(CliStage *st)
{
    st->masks = join(st->dir ? st->dir : "", "masks");
    st->overlays = join(st->dir ? st->dir : "", "overlays");
    return st->dir && st->masks && st->overlays ? 0 : -1;
}

int cli_stage_create(CliStage *st, const char *out)
{
    struct stat sb;
    memset(st, 0, sizeof *st);
    st->out = out;
    st->created_out = stat(out, &sb) != 0;
    if (make_dirs(out) != 0) {
        fprintf(stderr, "segaudit: %s: cannot create the output folder: "
                "%s\n", out, strerror(errno));
        return -1;
    }
    remove_stale(out);
    char name[320];
    stage_name(name, sizeof name);
    st->dir = join(out, name);
    if (set_paths(st) != 0 || mkdir(st->dir, 0777) != 0) {
        fprintf(stderr, "segaudit: %s: cannot create: %s\n", out,
                strerror(errno));
        cli_stage_free(st);
        return -1;
    }
    return 0;
}

/* The folders of an earlier report go away with the staging folder:
 * replaced by the new ones, or dropped when this run wrote none. */
static int move_dirs(const CliStage *st)
{
    static const char *const dirs[] = {"masks", "overlays"};
    int rc = 0;
    for (int i = 0; rc == 0 && i < 2; i++) {
        char *src = join(st->dir, dirs[i]), *dst = join(st->out, dirs[i]);
        char old_name[32];
        snprintf(old_name, sizeof old_name, "%s.old", dirs[i]);
        char *old = join(st->dir, old_name);
        struct stat sb;
        if (!src || !dst || !old)
            rc = -1;
        else if (lstat(dst, &sb) == 0 && rename(dst, old) != 0)
            rc = -1;
        else if (lstat(src, &sb) == 0 && rename(src, dst) != 0)
            rc = -1;
        if (rc)
            fprintf(stderr, "segaudit: %s: cannot move into place: %s\n",
                    dst ? dst : st->out, strerror(errno));
        free(src);
        free(dst);
        free(old);
    }
    return rc;
}

static int move_files(const CliStage *st)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < N_REPORT_FILES; i++) {
        char *src = join(st->dir, report_files[i]);
        char *dst = join(st->out, report_files[i]);
        struct stat sb;
        if (src && dst && lstat(src, &sb) != 0) {
            /* not written this time (evaluation.csv without --truth): an
             * old one must not stay next to the new report */
            if (unlink(dst) != 0 && errno != ENOENT)
                rc = -1;
        } else if (!src || !dst || rename(src, dst) != 0) {
            fprintf(stderr, "segaudit: %s: cannot move into place: %s\n",
                    dst ? dst : st->out, strerror(errno));
            rc = -1;
        }
        free(src);
        free(dst);
    }
    return rc;
}

int cli_stage_commit(const CliStage *st)
{
    return move_dirs(st) != 0 || move_files(st) != 0 ? -1 : 0;
}

void cli_stage_remove(const CliStage *st, int failed)
{
    remove_tree(st->dir);
    if (failed && st->created_out)
        rmdir(st->out); /* only if still empty */
}

int cli_stage_adopt(CliStage *st, const char *out, const char *dir)
{
    memset(st, 0, sizeof *st);
    st->out = out;
    st->dir = strdup(dir);
    if (set_paths(st) != 0) {
        cli_stage_free(st);
        return -1;
    }
    return 0;
}

void cli_stage_free(CliStage *st)
{
    free(st->dir);
    free(st->masks);
    free(st->overlays);
    st->dir = st->masks = st->overlays = NULL;
}
