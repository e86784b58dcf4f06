/* Evaluation of a ranking against known annotation errors: how well does
 * one per-image score (lower = more likely mislabeled) find the images
 * whose annotation is really wrong?  And the reader of the file that says
 * which ones are (a CSV with columns `image` and `mislabeled`).
 *
 * The ranking is strict: ascending score, ties in image order (index
 * ascending), images without a score last (in image order).  Every metric
 * is computed on that one ranking; there is no half credit for ties. */
#ifndef SA_EVALUATE_H
#define SA_EVALUATE_H

#include <stdint.h>

#include "common/error.h"

typedef struct SaEval {
    uint64_t n;            /* N: images ranked */
    uint64_t n_pos;        /* P: positives (truth 1) */
    uint64_t n_scored;     /* images with a score (the others rank last) */

    int has_ap;            /* 0 when P = 0 */
    double ap;             /* sum_n (R_n - R_{n-1}) P_n: the mean of
                              TP_n / n over the ranks n of the positives */

    int has_auroc;         /* 0 when P = 0 or P = N */
    double auroc;          /* pairs_ordered / (P (N - P)) */
    uint64_t pairs_ordered;/* (positive, negative) pairs in which the
                              positive ranks first (exact) */

    int has_prec_at_p;     /* 0 when P = 0 */
    double prec_at_p;      /* tp_at_p / P */
    uint64_t tp_at_p;      /* positives among the first P ranked */

    uint64_t *order;       /* n image indices by rank: order[r - 1] is the
                              image at rank r (NULL when n = 0) */
    uint64_t *pos_rank;    /* n_pos ranks (1-based, ascending) of the
                              positives (NULL when P = 0) */
} SaEval;

/* Ranks the n images by score and evaluates the ranking against truth.
 * score[i] is the score of image i, used only when has_score[i] != 0
 * (has_score NULL: every image has a score; a NaN score counts as no
 * score).  truth[i] != 0 marks image i as mislabeled (a positive).
 * out is always reset first (so sa_eval_free(out) is safe after a
 * failure); on success it holds the metrics and two arrays, freed by
 * sa_eval_free.  O(n log n).  Errors: EINVAL (NULL array with n > 0,
 * n >= 2^32), ENOMEM. */
int sa_eval_score(const double *score, const uint8_t *has_score,
                  const uint8_t *truth, uint64_t n, SaEval *out, SaErr *err);

/* Positives among the first k ranked images (k > n counts all of them).
 * O(log P). */
uint64_t sa_eval_hits_at(const SaEval *ev, uint64_t k);

/* Frees the arrays of ev and zeroes it; NULL or a zeroed SaEval is
 * accepted. */
void sa_eval_free(SaEval *ev);

/* Reads the truth file at path: a CSV whose header row names the columns
 * `image` and `mislabeled` (any position, any case; other columns are
 * ignored).  Fields may be quoted ("" is a quote inside a quoted field);
 * CRLF line ends, a UTF-8 byte-order mark and empty lines are accepted.
 * Every row has as many fields as the header.  `mislabeled` is 0/1,
 * true/false or yes/no (any case, blanks around it ignored); the image id
 * is matched exactly against ids[0..n_ids).
 *
 * Every id must have exactly one row.  On success truth_out[i] is 0 or 1
 * for ids[i]; on failure truth_out is untouched and the message names the
 * file, the line and the problem ("truth.csv:7: image 'x' is not in the
 * dataset", "truth.csv: no row for image 'img_003' (and 4 more)").
 * O(n log n).  Errors: EINPUT (unreadable file, bad CSV, missing column,
 * bad value, unknown, duplicate or missing image), EINVAL (ids holds the
 * same id twice), ENOMEM. */
int sa_truth_read(const char *path, char *const *ids, uint64_t n_ids,
                  uint8_t *truth_out, SaErr *err);

#endif
