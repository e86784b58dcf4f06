/* --dry-run: every input checked as a run would check it, without scoring,
 * so that a long job fails in its first minute rather than its last hour.
 * The set-up (sa_engine_open) has already checked the tensor's shape, type
 * and storage, the ids and the label files' presence; here every label
 * map is read whole (its size, its rows, every value a class or ignored)
 * and the first and last rows of the tensor's first and last images are
 * read.  With --on-error skip, an image that fails is skipped, as a run
 * would. */
#include <stdlib.h>
#include <string.h>

#include "engine/cache.h"
#include "engine/engine.h"

#define CHECK_ROWS 64

/* Reads image n's labels; 0, or an error in err. */
static int check_labels(SaEngine *e, uint64_t n, uint16_t *buf, SaErr *err)
{
    const uint64_t H = sa_img_h(e, n), W = sa_img_w(e, n);
    SaLabelReader rd = {0};
    int rc = 0;
    for (uint64_t r = 0; r < H && rc == 0; r += CHECK_ROWS) {
        uint64_t nr = H - r < CHECK_ROWS ? H - r : CHECK_ROWS;
        rc = sa_labels_read(e, &rd, n, r, nr, buf, err);
        for (uint64_t y = 0; y < nr && rc == 0; y++) {
            const uint16_t *row = buf + y * W;
            for (uint64_t x = 0; x < W; x++)
                if (row[x] >= e->K && !e->ignored[row[x]]) {
                    rc = sa_labels_value_error(e, n, (uint32_t)(r + y),
                                               (uint32_t)x, row, err);
                    break;
                }
        }
    }
    sa_labels_reader_close(&rd);
    return rc;
}

int sa_engine_check_inputs(SaEngine *e)
{
    uint16_t *buf = malloc((size_t)CHECK_ROWS * e->W * sizeof *buf);
    void *probs = malloc((size_t)e->K * e->W * e->elsize);
    /* the cache folder: writable, not in use by another run */
    int rc = sa_cache_open(e);
    sa_cache_close(e);
    if (rc)
        goto done;
    if (!buf || !probs) {
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        goto done;
    }
    for (uint64_t n = e->own_lo; n < e->own_hi && rc == 0; n++) {
        if (sa_cancelled(e)) {
            rc = sa_err(e->err, SEGAUDIT_ECANCEL, "cancelled");
            break;
        }
        if (e->skipped[n])
            continue;
        SaErr ie;
        sa_err_clear(&ie);
        int irc = check_labels(e, n, buf, &ie);
        if (irc == 0 && (n == 0 || n == e->N - 1)) {
            uint64_t H = sa_img_h(e, n);
            irc = sa_probs_read_band(e->probs, n, 0, 1, probs, &ie);
            if (irc == 0 && H > 1)
                irc = sa_probs_read_band(e->probs, n, H - 1, 1, probs, &ie);
        }
        if (irc == 0) {
            /* a true error mask is no input to skip: it fails the run */
            if (e->set.truth_masks_dir && (rc = sa_truth_mask_check(e, n)))
                break;
            continue;
        }
        if (!e->set.on_error_skip || irc == SEGAUDIT_ENOMEM)
            rc = sa_err(e->err, irc, "%s", ie.msg);
        else
            rc = sa_engine_skip(e, n, ie.msg);
    }
done:
    free(buf);
    free(probs);
    return rc;
}
