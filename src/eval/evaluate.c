/* Ranking metrics of one score against known annotation errors.  See
 * evaluate.h. */
#include "eval/evaluate.h"
#include "eval/rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- ranking metrics --------------------------------------------------- */

void sa_eval_free(SaEval *ev)
{
    if (!ev)
        return;
    free(ev->order);
    free(ev->pos_rank);
    memset(ev, 0, sizeof *ev);
}

int sa_eval_score(const double *score, const uint8_t *has_score,
                  const uint8_t *truth, uint64_t n, SaEval *out, SaErr *err)
{
    if (!out)
        return sa_err(err, SEGAUDIT_EINVAL, "evaluation: no output given");
    memset(out, 0, sizeof *out);
    if (n > 0 && (!score || !truth))
        return sa_err(err, SEGAUDIT_EINVAL,
                      "evaluation: no scores or no truth for %llu images",
                      (unsigned long long)n);
    if (n > UINT32_MAX)
        return sa_err(err, SEGAUDIT_EINVAL,
                      "evaluation: %llu images is too many (at most "
                      "2^32-1)", (unsigned long long)n);
    if (n == 0)
        return 0;

    uint64_t npos = 0;
    for (uint64_t i = 0; i < n; i++)
        npos += truth[i] != 0;

    uint8_t *tier = malloc(n);
    uint64_t *order = malloc(n * sizeof *order);
    uint64_t *pos_rank = npos ? malloc(npos * sizeof *pos_rank) : NULL;
    if (!tier || !order || (npos && !pos_rank)) {
        free(tier);
        free(order);
        free(pos_rank);
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    }
    uint64_t nscored = 0;
    for (uint64_t i = 0; i < n; i++) {
        int has = (!has_score || has_score[i]) && !isnan(score[i]);
        tier[i] = has ? 0 : 1;
        nscored += (uint64_t)has;
    }
    int rc = sa_rank(score, tier, n, order, err);
    free(tier);
    if (rc) {
        free(order);
        free(pos_rank);
        return rc;
    }

    /* One walk in rank order: TP_r, the AP sum, the ordered pairs (for
     * each negative, the positives ranked before it). */
    uint64_t tp = 0, pairs = 0, tp_at_p = 0;
    double ap_sum = 0.0;
    for (uint64_t r = 1; r <= n; r++) {
        uint64_t i = order[r - 1];
        if (truth[i]) {
            pos_rank[tp++] = r;
            ap_sum += (double)tp / (double)r;
        } else {
            pairs += tp;
        }
        if (r == npos)
            tp_at_p = tp;
    }
    out->n = n;
    out->n_pos = npos;
    out->n_scored = nscored;
    out->order = order;
    out->pos_rank = pos_rank;
    out->pairs_ordered = pairs;
    out->tp_at_p = tp_at_p;
    if (npos > 0) {
        out->has_ap = 1;
        out->ap = ap_sum / (double)npos;
        out->has_prec_at_p = 1;
        out->prec_at_p = (double)tp_at_p / (double)npos;
    }
    if (npos > 0 && npos < n) {
        /* P (N - P) <= 2^62 for N < 2^32. */
        uint64_t total = npos * (n - npos);
        out->has_auroc = 1;
        out->auroc = (double)pairs / (double)total;
    }
    return 0;
}

uint64_t sa_eval_hits_at(const SaEval *ev, uint64_t k)
{
    if (!ev || !ev->pos_rank)
        return 0;
    /* The number of positive ranks <= k. */
    uint64_t lo = 0, hi = ev->n_pos;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (ev->pos_rank[mid] <= k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
