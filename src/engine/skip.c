/* The images left out of an audit with --on-error skip, and why.  Called
 * by the set-up (a missing label file) and by the thread that drives a pass
 * (an image that cannot be read or holds bad values). */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

int sa_engine_skip(SaEngine *e, uint64_t n, const char *reason)
{
    if (e->skipped[n])
        return 0;
    if (e->n_skipped == e->cap_skips) {
        uint64_t cap = e->cap_skips ? 2 * e->cap_skips : 16;
        SaSkip *ns = realloc(e->skips, cap * sizeof *ns);
        if (!ns)
            return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        e->skips = ns;
        e->cap_skips = cap;
    }
    char *r = strdup(reason);
    if (!r)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    e->skips[e->n_skipped].image = n;
    e->skips[e->n_skipped].reason = r;
    e->n_skipped++;
    e->skipped[n] = 1;
    /* in a group, the passes' skips are counted over every member
     * (sa_dist_skips) */
    if (e->n_skipped > e->set.max_skipped && !(e->comm && e->opened))
        return sa_err(e->err, SEGAUDIT_EINPUT,
                      "more than %llu images skipped (--max-skipped); the "
                      "last: %s",
                      (unsigned long long)e->set.max_skipped, reason);
    return 0;
}
