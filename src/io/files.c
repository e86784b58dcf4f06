/* Opening input files: regular files only, never waiting on a FIFO.
 * See files.h. */
#include "io/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *sa_errstr(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
}

int sa_open_regular_fd(const char *path, const char *what, const char *kind,
                       int *out, struct stat *st, SaErr *err)
{
    char eb[128];
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return sa_err(err, e == ENOENT || e == ENOTDIR ? SEGAUDIT_EINPUT
                                                      : SEGAUDIT_EIO,
                      "%s: cannot open%s: %s", path, what,
                      sa_errstr(e, eb, sizeof eb));
    }
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot stat%s: %s", path, what,
                      sa_errstr(e, eb, sizeof eb));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return sa_err(err, SEGAUDIT_EINPUT, "%s: %s, not a %s", path,
                      S_ISDIR(st->st_mode) ? "is a directory"
                                           : "is not a regular file",
                      kind);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot open%s: %s", path, what,
                      sa_errstr(e, eb, sizeof eb));
    }
    *out = fd;
    return 0;
}

int sa_open_regular(const char *path, const char *what, const char *kind,
                    FILE **out, SaErr *err)
{
    int fd;
    struct stat st;
    int rc = sa_open_regular_fd(path, what, kind, &fd, &st, err);
    if (rc)
        return rc;
    if (!(*out = fdopen(fd, "rb"))) {
        char eb[128];
        int e = errno;
        close(fd);
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot open%s: %s", path, what,
                      sa_errstr(e, eb, sizeof eb));
    }
    return 0;
}
