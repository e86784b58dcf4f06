/* Shared libpng plumbing.  See png_util.h. */
#include "io/png_util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void sa_png_on_error(png_structp png, png_const_charp text)
{
    SaPngMsg *m = png_get_error_ptr(png);
    m->sys_errno = errno;
    snprintf(m->text, sizeof m->text, "%s", text ? text : "unknown error");
    png_longjmp(png, 1);
}

void sa_png_on_warning(png_structp png, png_const_charp text)
{
    SaPngMsg *m = png_get_error_ptr(png);
    if (!m->warning[0] && text)
        snprintf(m->warning, sizeof m->warning, "%s", text);
}

const char *sa_errstr(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
}

int sa_open_regular(const char *path, const char *what, const char *kind,
                    FILE **out, SaErr *err)
{
    char eb[128];
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return sa_err(err, e == ENOENT || e == ENOTDIR ? SEGAUDIT_EINPUT
                                                      : SEGAUDIT_EIO,
                      "%s: cannot open%s: %s", path, what,
                      sa_errstr(e, eb, sizeof eb));
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot stat%s: %s", path, what,
                      sa_errstr(e, eb, sizeof eb));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sa_err(err, SEGAUDIT_EINPUT, "%s: %s, not a %s", path,
                      S_ISDIR(st.st_mode) ? "is a directory"
                                          : "is not a regular file",
                      kind);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
        !(*out = fdopen(fd, "rb"))) {
        int e = errno;
        close(fd);
        return sa_err(err, SEGAUDIT_EIO, "%s: cannot open%s: %s", path, what,
                      sa_errstr(e, eb, sizeof eb));
    }
    return 0;
}
