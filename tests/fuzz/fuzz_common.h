/* Helpers shared by the fuzz targets (header-only, static functions).
 *
 * The readers under test take a path, not a buffer, so each input is written
 * to a file in a per-process temporary folder (mkdtemp under $TMPDIR, else
 * /tmp).  The folder and its files are removed at exit. */
#ifndef SEGAUDIT_FUZZ_COMMON_H
#define SEGAUDIT_FUZZ_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

#define FZ_PATH 4096 /* a path */
#define FZ_DIR 1024  /* the temporary folder's path (shorter, so that
                        "<dir>/name" always fits in FZ_PATH) */

static char fz_dir_buf[FZ_DIR];

static inline _Noreturn void fz_die(const char *what)
{
    fprintf(stderr, "fuzz harness: %s: %s\n", what, strerror(errno));
    abort();
}

/* Removes path and, when it is a folder, everything below it.  Does not
 * follow symbolic links. */
static inline void fz_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                char sub[FZ_PATH];
                if (snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) <
                    (int)sizeof sub)
                    fz_rm_tree(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void fz_cleanup(void)
{
    if (fz_dir_buf[0])
        fz_rm_tree(fz_dir_buf);
}

/* The per-process temporary folder (created on first use, canonical path,
 * removed at exit). */
static inline const char *fz_tmpdir(void)
{
    if (fz_dir_buf[0])
        return fz_dir_buf;
    const char *t = getenv("TMPDIR");
    char tmpl[FZ_PATH];
    snprintf(tmpl, sizeof tmpl, "%s/segaudit-fuzz-XXXXXX",
             t && *t ? t : "/tmp");
    if (!mkdtemp(tmpl))
        fz_die("mkdtemp");
    char *real = realpath(tmpl, NULL);
    if (!real)
        fz_die("realpath");
    if (strlen(real) >= sizeof fz_dir_buf) {
        errno = ENAMETOOLONG;
        fz_die(real);
    }
    memcpy(fz_dir_buf, real, strlen(real) + 1);
    free(real);
    atexit(fz_cleanup);
    return fz_dir_buf;
}

/* Writes size bytes to path (truncating). */
static inline void fz_write_file(const char *path, const uint8_t *data,
                                 size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fz_die(path);
    if (size && fwrite(data, 1, size, f) != size)
        fz_die(path);
    if (fclose(f) != 0)
        fz_die(path);
}

#define FZ_MAX_FD 1024

/* Marks the open descriptors (below FZ_MAX_FD) in open_fds. */
static inline void fz_fd_snapshot(unsigned char open_fds[FZ_MAX_FD])
{
    memset(open_fds, 0, FZ_MAX_FD);
    for (int fd = 0; fd < FZ_MAX_FD; fd++)
        open_fds[fd] = fcntl(fd, F_GETFD) != -1;
}

/* The lowest descriptor open now that was not open in the snapshot, or
 * -1; what it refers to is copied to target. */
static inline int fz_new_fd(const unsigned char open_fds[FZ_MAX_FD],
                            char *target, size_t tlen)
{
    for (int fd = 0; fd < FZ_MAX_FD; fd++) {
        if (open_fds[fd] || fcntl(fd, F_GETFD) == -1)
            continue;
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, tlen - 1);
        target[n > 0 ? (size_t)n : 0] = '\0';
        return fd;
    }
    return -1;
}

/* A contract violation of the code under test: print and abort, so that
 * libFuzzer (or the replay program) reports it as a crash. */
#define FZ_CHECK(cond, ...)                                                  \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__,    \
                    __LINE__, #cond);                                        \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* The contract of a call that failed: err holds its code rc, and the
 * message is terminated and begins with "<path>:". */
static inline void fz_check_failure(const SaErr *err, int rc,
                                    const char *path, const char *call)
{
    FZ_CHECK(err->code == rc, "%s: err.code %d != rc %d", call, err->code,
             rc);
    FZ_CHECK(memchr(err->msg, '\0', sizeof err->msg) != NULL,
             "%s: message not terminated", call);
    const size_t pl = strlen(path);
    FZ_CHECK(strncmp(err->msg, path, pl) == 0 && err->msg[pl] == ':',
             "%s: message does not start with the path: '%s'", call,
             err->msg);
}

#endif
