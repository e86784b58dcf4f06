/* An output file of the report: written as <dir>/.<name>.tmp and renamed
 * to <dir>/<name> only when every write succeeded, so that a reader never
 * sees half a file. */
#ifndef SA_OUTFILE_H
#define SA_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct SaOut {
    FILE *f;             /* write here */
    char *tmp, *final;
} SaOut;

/* Creates the temporary file.  0, or SEGAUDIT_ENOMEM / SEGAUDIT_EIO with
 * a message naming the file in eb.  Call sa_out_close in every case. */
int sa_out_open(SaOut *o, const char *dir, const char *name, char *eb,
                size_t el);

/* ok: checks every write and renames into place (SEGAUDIT_EIO with the
 * message when that fails); !ok or failure: removes the temporary file.
 * Frees o's strings in every case. */
int sa_out_close(SaOut *o, int ok, char *eb, size_t el);

#endif
