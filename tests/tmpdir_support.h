/* The files of a unit-test program: its temporary folder (created by the
 * group set-up under $TMPDIR or /tmp, files named in it, emptied and
 * removed by the group tear-down; flat: tests write files only), and the
 * check that a message names its file.  Include after <cmocka.h>.
 * Header-only, like golden_support.h. */
#ifndef TMPDIR_SUPPORT_H
#define TMPDIR_SUPPORT_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

#define PATHLEN 512

static char g_dir[256];

/* Creates the folder <$TMPDIR or /tmp>/<prog>.XXXXXX: 0, or -1. */
static inline int tmpdir_create(const char *prog)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp",
             prog);
    return mkdtemp(g_dir) ? 0 : -1;
}

/* buf (PATHLEN bytes) = <folder>/<name>. */
static inline void tpath(char *buf, const char *name)
{
    snprintf(buf, PATHLEN, "%s/%s", g_dir, name);
}

/* <folder>/<name> in one of four rotating buffers, for a path given
 * inline (up to four in one call). */
static inline const char *tmp_path(const char *name)
{
    static char buf[4][PATHLEN];
    static int next;
    char *b = buf[next++ % 4];
    tpath(b, name);
    return b;
}

/* Removes the folder's files and the folder: 0, or -1. */
static inline int tmpdir_remove(void)
{
    DIR *d = opendir(g_dir);
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            unlink(tmp_path(de->d_name));
    closedir(d);
    return rmdir(g_dir);
}

/* The message must start with "<path>: " and contain the keywords (NULL:
 * none). */
static inline void check_msg(const SaErr *e, const char *path,
                             const char *k1, const char *k2)
{
    size_t n = strlen(path);
    if (strncmp(e->msg, path, n) != 0 || strncmp(e->msg + n, ": ", 2) != 0)
        fail_msg("message \"%s\" does not start with \"%s: \"", e->msg, path);
    if (k1 && !strstr(e->msg, k1))
        fail_msg("message \"%s\" lacks \"%s\"", e->msg, k1);
    if (k2 && !strstr(e->msg, k2))
        fail_msg("message \"%s\" lacks \"%s\"", e->msg, k2);
}

#endif
