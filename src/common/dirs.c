/* Folders.  See dirs.h. */
#include "common/dirs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int sa_make_dirs(const char *path, char *failed, size_t failed_len)
{
    char *p = strdup(path);
    if (!p)
        return -1;
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        struct stat st;
        if (s[-1] != '/' || c == '\0') {
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                rc = -1;
            } else if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
                errno = ENOTDIR;
                rc = -1;
            }
            if (rc && failed)
                snprintf(failed, failed_len, "%s", p);
        }
        *s = c;
        if (c == '\0')
            break;
    }
    int e = errno;
    free(p);
    errno = e;
    return rc;
}
