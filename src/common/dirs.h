/* Folders: mkdir -p. */
#ifndef SA_DIRS_H
#define SA_DIRS_H

#include <stddef.h>

/* Creates path and the folders above it as needed (0777, less the umask).
 * 0, or -1 with errno set (ENOTDIR: a part exists and is not a folder) and
 * that part of the path in failed (failed_len bytes; may be NULL). */
int sa_make_dirs(const char *path, char *failed, size_t failed_len);

#endif
