/* One audit shared among the members of a group (SegauditComm): which
 * images each member owns, and what the members exchange so that every
 * number is the one a single process computes (internal).
 *
 * Every function here is collective: all members call it in the same
 * order, also when their own part failed (they then pass its code, and
 * the exchange tells every member that the run stops).  Without a group
 * (e->comm NULL) each is a no-op that returns its rc argument or 0. */
#ifndef SA_DIST_H
#define SA_DIST_H

#include "engine/engine.h"

/* Another member failed; its error is the one reported (never returned
 * by sa_dist_agree). */
#define SA_EPEER (-100)

/* Splits the images into contiguous ranges balanced by pixels, one per
 * member (some may own none): e->own (members + 1 bounds), e->own_lo,
 * e->own_hi.  Local; after the sizes are known. */
int sa_dist_plan(SaEngine *e);

/* The largest group (sa_settings_validate refuses more). */
#define SA_DIST_MAX_SIZE 65536

/* Agrees on the outcome of a step: 0 when every member's rc is 0, else the
 * error of the lowest member that failed (its message, prefixed with
 * "rank R of S: " when not every member failed), written to e->err on
 * every member. */
int sa_dist_agree(SaEngine *e, int rc);

/* After the set-up (rc: this member's): checks that every member sees the
 * same images, ids, sizes and settings (a digest of them), so that the
 * exchanges match; an error naming the first member that differs. */
int sa_dist_same_inputs(SaEngine *e, int rc);

/* v[0..n) summed over the members, in place (exact: integers).  rc is
 * this member's status so far; the sums are only valid when the result
 * is 0. */
int sa_dist_sum(SaEngine *e, uint64_t *v, size_t n, int rc);

/* The bytes of members 1.. (len each, in rank order) concatenated on
 * member 0 (*all, malloc'd, NUL-terminated; NULL elsewhere or when empty).
 * rc is this member's status so far (a failed member sends nothing). */
int sa_dist_gather(SaEngine *e, const void *mine, uint64_t len, char **all,
                   uint64_t *all_len, int rc);

/* After pass 1 (rc: this member's read): the images skipped (flags on
 * every member, reasons on member 0) and --max-skipped, the class sums
 * folded in image order (so the thresholds are bit-identical to one
 * process's), the integer class counts, the histogram and the first pixel
 * whose probabilities sum far from 1. */
int sa_dist_pass1(SaEngine *e, int rc);

/* The images skipped since the last exchange: flags to every member,
 * reasons to member 0, then --max-skipped over all of them;
 * e->skipped_total on every member. */
int sa_dist_skips(SaEngine *e, int rc);

/* The selection's exchanges (select.h), or NULL without a group. */
struct SaSelectGroup;
const struct SaSelectGroup *sa_dist_select_group(SaEngine *e);

/* After pass 2's walk: the per-class issue counts (summed), the regions
 * (to member 0, in image order) and every image's results (to every
 * member).  rc is this member's walk status. */
int sa_dist_pass2(SaEngine *e, int rc);

/* The bytes each member sent and received (e->exchanged_all, one per
 * member, on every member). */
int sa_dist_exchanged(SaEngine *e);

/* Every member's cache notes, to member 0. */
int sa_dist_notes(SaEngine *e, int rc);

#endif
