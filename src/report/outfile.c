/* Report files written under a temporary name and renamed when complete.
 * See outfile.h. */
#include "report/outfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "segaudit/common.h"

int sa_out_open(SaOut *o, const char *dir, const char *name, char *eb,
                size_t el)
{
    size_t n = strlen(dir) + strlen(name) + 16;
    o->tmp = malloc(n);
    o->final = malloc(n);
    o->f = NULL;
    if (!o->tmp || !o->final) {
        snprintf(eb, el, "out of memory");
        return SEGAUDIT_ENOMEM;
    }
    snprintf(o->final, n, "%s/%s", dir, name);
    snprintf(o->tmp, n, "%s/.%s.tmp", dir, name);
    o->f = fopen(o->tmp, "w");
    if (!o->f) {
        snprintf(eb, el, "%s: cannot create: %s", o->tmp, strerror(errno));
        return SEGAUDIT_EIO;
    }
    return 0;
}

/* Closes, checks every write, and renames into place (or removes). */
int sa_out_close(SaOut *o, int ok, char *eb, size_t el)
{
    int rc = 0;
    if (o->f) {
        int bad = ferror(o->f);
        bad |= fclose(o->f) != 0;
        if (ok && bad) {
            snprintf(eb, el, "%s: write failed: %s", o->final,
                     strerror(errno ? errno : EIO));
            rc = SEGAUDIT_EIO;
        }
        if (ok && !bad && rename(o->tmp, o->final) != 0) {
            snprintf(eb, el, "%s: cannot rename into place: %s", o->final,
                     strerror(errno));
            rc = SEGAUDIT_EIO;
        }
        if (!ok || rc)
            unlink(o->tmp);
    }
    free(o->tmp);
    free(o->final);
    o->f = NULL;
    o->tmp = o->final = NULL;
    return rc;
}
