

/* DESIGN: pass 2 of Confident Learning on the candidate records.
 *
 *  1. n_issues = mismatched records with p̂ >= t_a - 1e-6 (every mismatch
 *     is recorded by pass 1, so this is exact).
 *  2. The first n_issues pixels in the order (s, image, pixel) are all in
 *     the store when n_issues <= m (records with s <= 0.5).  Otherwise the
 *     histogram of s > 0.5 tells which bucket holds the cut-off and one more
 *     read of the tensor records the pixels up to it (second store).
 *  3. The cut-off key is found by an exact radix select (select.c); the
 *     count of step 1 reads the store in parts on every thread and gives
 *     the select its first digit's histogram.
 *  4. A merged, (image, pixel)-ordered read of the stores turns the
 *     candidates into issue pixels: counts per image and class, pairs, and
 *     the masks, written image by image.  The images are split into runs
 *     of about equal records, one walker (thread) each, starting where
 *     pass 1 noted the run's records begin; the walkers' integer counts
 *     are added and their regions kept in image order, so every output is
 *     the same for any number of threads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/zalloc.h"
#include "engine/cache.h"
#include "engine/dist.h"
#include "engine/engine.h"
#include "engine/pairs.h"
#include "io/png_io.h"
#include "engine/regions.h"
#include "engine/select.h"

#define EPS 1e-6

/* Keys gathered while the records are counted: every key whose first
 * digit is in [lo, hi] (around where the last audit's cut-off was, a hint
 * from the cache), so that the selection need not read the store again
 * when the cut-off falls there.  Per part at most `cap` keys; one more
 * and the gathering is given up (ok = 0). */
typedef struct Gather {
    int on, ok;
    unsigned lo, hi;
    uint64_t cap;
    SaKey *keys;           /* all parts', after count_issues */
    uint64_t n;
} Gather;

typedef struct PartKeys {
    SaKey *keys;
    uint64_t n, cap;
    int over;
} PartKeys;

/* count_issues' parts: part 0 fills `first`, the others their own
 * histogram in `more`; v[part] = {issues, below}; pk[part] its gathered
 * keys. */
typedef struct Count {
    SaEngine *e;
    uint64_t *first, *more;
    uint64_t (*v)[2];
    const Gather *g;
    PartKeys *pk;
} Count;

/* Adds k to a part's gathered keys (doubling up to the cap). */
static void gather_key(PartKeys *pk, uint64_t cap, SaKey k)
{
    if (pk->n == pk->cap) {
        uint64_t nc = pk->cap ? 2 * pk->cap : 4096;
        if (nc > cap)
            nc = cap;
        SaKey *nk = nc > pk->cap ? realloc(pk->keys, nc * sizeof *nk) : NULL;
        if (!nk) {
            pk->over = 1; /* over the cap, or no memory: no gathering */
            return;
        }
        pk->keys = nk;
        pk->cap = nc;
    }
    pk->keys[pk->n++] = k;
}

static int count_part(void *ctx, int part, int parts, SaErr *err)
{
    Count *c = ctx;
    SaEngine *e = c->e;
    uint64_t *first = part == 0 ? c->first
                                : c->more + (size_t)(part - 1) *
                                                SA_SELECT_RADIX;
    /* each class's bar for p-hat, as the test below had it */
    double *bar = malloc(e->K * sizeof *bar);
    if (!bar)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    for (uint32_t k = 0; k < e->K; k++)
        bar[k] = e->classes[k].threshold - EPS;
    SaRecReader rd;
    int rc = sa_recreader_open_part(&rd, &e->store, part, parts, err);
    if (rc) {
        free(bar);
        return rc;
    }
    SaRecCursor cur = {&rd, NULL, 0, 0};
    const SaRecord *r;
    uint64_t seen = 0, issues = 0, below = 0;
    PartKeys *pk = &c->pk[part];
    const unsigned lo = c->g->lo, width = c->g->hi - c->g->lo;
    int gather = c->g->on;
    while ((r = sa_reccursor_next(&cur, err)) != NULL) {
        if ((++seen & 0xfffff) == 0 && sa_cancelled(e)) {
            rc = sa_err(err, SEGAUDIT_ECANCEL, "cancelled");
            break;
        }
        SaKey k = sa_record_key(r);
        unsigned d = sa_select_first_digit(k);
        first[d]++;
        below += r->s <= SA_TAU;
        issues += (r->flags & SA_REC_MISMATCH) && r->phat >= bar[r->pred];
        if (gather && d - lo <= width) {
            gather_key(pk, c->g->cap, k);
            gather = !pk->over;
        }
    }
    sa_recreader_close(&rd);
    free(bar);
    c->v[part][0] = issues;
    c->v[part][1] = below;
    return rc ? rc : err->code;
}

/* n_issues and m_below, and the histogram of the records' first key
 * digits (first[SA_SELECT_RADIX], zeroed) for the selection that follows;
 * the store is read in parts on every thread (integer sums: the same for
 * any number). */
static int count_issues(SaEngine *e, uint64_t *first, Gather *g)
{
    int parts = e->n_threads > 1 ? e->n_threads : 1;
    Count c = {e, first,
               parts > 1 ? sa_zalloc((size_t)(parts - 1) * SA_SELECT_RADIX,
                                    sizeof *c.more)
                         : NULL,
               calloc((size_t)parts, sizeof *c.v), g,
               calloc((size_t)parts, sizeof *c.pk)};
    int rc = 0;
    if ((parts > 1 && !c.more) || !c.v || !c.pk)
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    if (rc == 0) {
        g->cap /= (uint64_t)parts;
        rc = sa_run_parts(parts, count_part, &c, e->err);
    }
    /* the parts' gathered keys, together */
    g->ok = g->on && rc == 0;
    uint64_t total = 0;
    for (int t = 0; c.pk && t < parts; t++) {
        g->ok &= !c.pk[t].over;
        total += c.pk[t].n;
    }
    if (g->ok && (g->keys = malloc((total ? total : 1) * sizeof *g->keys)))
        for (int t = 0; t < parts; t++) {
            if (c.pk[t].n)
                memcpy(g->keys + g->n, c.pk[t].keys,
                       c.pk[t].n * sizeof *g->keys);
            g->n += c.pk[t].n;
        }
    g->ok &= g->keys != NULL;
    for (int t = 0; c.pk && t < parts; t++)
        free(c.pk[t].keys);
    free(c.pk);
    e->n_issues = 0;
    e->m_below = 0;
    for (int t = 0; rc == 0 && t < parts; t++) {
        e->n_issues += c.v[t][0];
        e->m_below += c.v[t][1];
        for (uint32_t i = 0; t > 0 && i < SA_SELECT_RADIX; i++)
            first[i] += c.more[(size_t)(t - 1) * SA_SELECT_RADIX + i];
    }
    free(c.more);
    free(c.v);
    /* in a group, both counts are over every member */
    uint64_t sums[2] = {e->n_issues, e->m_below};
    rc = sa_dist_sum(e, sums, 2, rc);
    e->n_issues = sums[0];
    e->m_below = sums[1];
    return rc;
}

/* In a group: every member's pairs added up on member 0. */
static int pairs_gather(SaEngine *e, SaPairTable *t, int rc)
{
    if (!e->comm)
        return rc;
    uint64_t *mine = malloc((t->n ? t->n : 1) * 2 * sizeof *mine);
    size_t m = 0;
    if (!mine && rc == 0)
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    for (size_t i = 0; mine && e->comm->rank > 0 && i < t->cap; i++)
        if (t->keys[i]) {
            mine[2 * m] = t->keys[i];
            mine[2 * m + 1] = t->counts[i];
            m++;
        }
    char *all = NULL;
    uint64_t len = 0;
    rc = sa_dist_gather(e, mine, m * 2 * sizeof *mine, &all, &len, rc);
    free(mine);
    const uint64_t *in = (const uint64_t *)all;
    for (uint64_t i = 0; rc == 0 && i < len / (2 * sizeof *in); i++) {
        rc = sa_pairs_add(t, sa_pair_a(in[2 * i]), sa_pair_b(in[2 * i]),
                          in[2 * i + 1], e->err);
    }
    free(all);
    return sa_dist_agree(e, rc);
}

static int cmp_pairs(const void *a, const void *b)
{
    const SegauditPair *x = a, *y = b;
    if (x->issue_pixels != y->issue_pixels)
        return x->issue_pixels > y->issue_pixels ? -1 : 1;
    if (x->given != y->given)
        return x->given < y->given ? -1 : 1;
    if (x->predicted != y->predicted)
        return x->predicted < y->predicted ? -1 : 1;
    return 0;
}

/* ---- merged reading of the two stores in (image, pixel) order ---------- */

typedef struct Merge {
    SaRecReader rd[2];
    int open[2];
    const SaRecord *cur[2];
    const SaDetail *det[2];
    int picked;            /* the store of the record handed out last, which
                              moves on at the next call, or -1 */
    int single;            /* the second store is empty: the first is read
                              through a cursor */
    SaRecCursor cursor;
} Merge;

/* Both stores from byte offsets off[] (where an image's records start). */
static int merge_open(Merge *m, SaEngine *e, const uint64_t off[2],
                      SaErr *err)
{
    memset(m, 0, sizeof *m);
    m->picked = -1;
    const SaRecStore *st[2] = {&e->store, &e->store2};
    if (e->store2.bytes == 0) {
        m->single = 1;
        m->open[0] = 1;
        m->cursor.rd = &m->rd[0];
        return sa_recreader_open_at(&m->rd[0], st[0], off[0], err);
    }
    for (int i = 0; i < 2; i++) {
        int rc = sa_recreader_open_at(&m->rd[i], st[i], off[i], err);
        if (rc)
            return rc;
        m->open[i] = 1;
        m->cur[i] = sa_recreader_next(&m->rd[i], &m->det[i], err);
        if (err->code)
            return err->code;
    }
    return 0;
}

/* The next record in (image, pixel) order, or NULL.  It stays valid until
 * the next call: its store moves on only then. */
static const SaRecord *merge_next(Merge *m, const SaDetail **det, SaErr *err)
{
    if (m->single) {
        const SaRecord *r = sa_reccursor_next(&m->cursor, err);
        *det = r ? (const SaDetail *)(r + 1) : NULL;
        return r;
    }
    int pick = m->picked;
    if (pick >= 0)
        m->cur[pick] = sa_recreader_next(&m->rd[pick], &m->det[pick], err);
    if (!m->cur[0] && !m->cur[1])
        return NULL;
    if (!m->cur[1])
        pick = 0;
    else if (!m->cur[0])
        pick = 1;
    else {
        uint64_t a = (uint64_t)m->cur[0]->image << 32 | m->cur[0]->pixel;
        uint64_t b = (uint64_t)m->cur[1]->image << 32 | m->cur[1]->pixel;
        pick = a <= b ? 0 : 1;
    }
    m->picked = pick;
    *det = m->det[pick];
    return m->cur[pick];
}

static void merge_close(Merge *m)
{
    for (int i = 0; i < 2; i++)
        if (m->open[i])
            sa_recreader_close(&m->rd[i]);
}

/* ---- the issue pixels of one image, row by row -------------------------
 *
 * Issue pixels arrive in record order: by pixel with f = 1, by block with
 * f > 1.  A buffer of one block-row (f rows) turns that into whole rows in
 * order, which go to the mask writer and to the region finder. */

typedef struct RowBuf {
    uint64_t held;        /* block-row in the buffer, or UINT64_MAX */
    uint64_t next_row;    /* next full-resolution row to emit */
    uint8_t *flag;        /* [f][W] 1 = issue pixel */
    uint16_t *given, *pred;
    double *s, *phat;
    uint8_t *mask_row;    /* W bytes, 0 or 255 */
} RowBuf;

/* One walker: a run of images [lo, hi) walked on one thread, with what it
 * finds kept apart until the walkers are added up in image order. */
typedef struct Walk {
    SaEngine *e;
    SaErr *err;           /* its faults while it walks */
    uint64_t lo, hi;      /* its images */
    uint64_t *cls;        /* [K][3] issue pixels given, predicted, images */
    SaRecStore own_regions;
    SaRecStore *regions;  /* its listed regions, in image order (e's own
                             store for the first walker) */
    SaKey cut;
    int any;              /* n_issues > 0 */
    SaPairTable pairs;
    uint8_t *touched;     /* K flags for images_affected, per image */
    uint32_t *touched_list;
    uint32_t ntouched;
    RowBuf rb;
    SaCcl *ccl;
    SaMaskPng *mask;      /* the image's mask being written, or NULL */
    int masks;
    uint64_t *area_hist;  /* with min_region_area 0: regions by area */
    uint8_t *issue_img;   /* with truth masks: the image's issue pixels, */
    uint8_t *error_img;   /* its error mask (max_pixels each) */
    uint16_t *error_row;  /* one row as read */
    SaMaskScratch *mscratch;
    SaAreaHists mhist;    /* the regions against the masks, by area */
    uint64_t W, H;        /* the size of the image being walked */
} Walk;

static int rowbuf_alloc(RowBuf *rb, const SaEngine *e)
{
    size_t n = (size_t)e->f * e->W;
    rb->flag = calloc(n, 1);
    rb->given = malloc(n * sizeof *rb->given);
    rb->pred = malloc(n * sizeof *rb->pred);
    rb->s = malloc(n * sizeof *rb->s);
    rb->phat = malloc(n * sizeof *rb->phat);
    rb->mask_row = malloc(e->W);
    return rb->flag && rb->given && rb->pred && rb->s && rb->phat &&
                   rb->mask_row
               ? 0
               : -1;
}

static void rowbuf_free(RowBuf *rb)
{
    free(rb->flag);
    free(rb->given);
    free(rb->pred);
    free(rb->s);
    free(rb->phat);
    free(rb->mask_row);
}

/* Emits the rows [next_row, upto): the held block-row's rows with their
 * issue pixels, the others empty (written only when masks are). */
static int rows_emit(Walk *w, uint64_t upto)
{
    SaEngine *e = w->e;
    RowBuf *rb = &w->rb;
    while (rb->next_row < upto) {
        uint64_t r = rb->next_row;
        if (r / e->f == rb->held) {
            size_t off = (size_t)(r % e->f) * w->W;
            int rc = sa_ccl_row(w->ccl, (uint32_t)r, rb->flag + off,
                                rb->given + off, rb->pred + off, rb->s + off,
                                rb->phat + off, w->err);
            if (w->issue_img)
                memcpy(w->issue_img + r * w->W, rb->flag + off, w->W);
            if (rc == 0 && w->mask) {
                for (uint64_t x = 0; x < w->W; x++)
                    rb->mask_row[x] = rb->flag[off + x] ? 255 : 0;
                rc = sa_mask_png_write_row(w->mask, rb->mask_row, w->err);
            }
            if (rc)
                return rc;
            rb->next_row++;
            if (rb->next_row % e->f == 0 || rb->next_row == w->H) {
                memset(rb->flag, 0, (size_t)e->f * w->W);
                rb->held = UINT64_MAX;
            }
        } else if (w->mask) {
            memset(rb->mask_row, 0, w->W);
            int rc = sa_mask_png_write_row(w->mask, rb->mask_row, w->err);
            if (rc)
                return rc;
            rb->next_row++;
        } else {
            /* nothing to write: jump to the held block-row or the end */
            uint64_t next = upto;
            if (rb->held != UINT64_MAX && rb->held * e->f > r &&
                rb->held * e->f < next)
                next = rb->held * e->f;
            rb->next_row = next;
        }
    }
    return 0;
}

static int rows_put(Walk *w, uint64_t row, uint64_t col, uint16_t given,
                    uint16_t pred, double s, double phat)
{
    SaEngine *e = w->e;
    RowBuf *rb = &w->rb;
    uint64_t br = row / e->f;
    if (br != rb->held) {
        int rc = rows_emit(w, br * e->f);
        if (rc)
            return rc;
        rb->held = br;
    }
    size_t i = (size_t)(row % e->f) * w->W + col;
    rb->flag[i] = 1;
    rb->given[i] = given;
    rb->pred[i] = pred;
    rb->s[i] = s;
    rb->phat[i] = phat;
    return 0;
}

static int image_begin(Walk *w, uint64_t n)
{
    SaEngine *e = w->e;
    w->rb.held = UINT64_MAX;
    w->rb.next_row = 0;
    w->W = sa_img_w(e, n);
    w->H = sa_img_h(e, n);
    sa_ccl_begin(w->ccl, (uint32_t)w->W);
    if (w->issue_img)
        memset(w->issue_img, 0, (size_t)(w->W * w->H));
    if (!w->masks)
        return 0;
    const char *dir = e->set.masks_dir;
    size_t len = strlen(dir) + strlen(e->ids[n]) + 8;
    char *path = malloc(len);
    if (!path)
        return sa_err(w->err, SEGAUDIT_ENOMEM, "out of memory");
    snprintf(path, len, "%s/%s.png", dir, e->ids[n]);
    int rc = sa_mask_png_create(&w->mask, path, (uint32_t)w->W,
                                (uint32_t)w->H, w->err);
    free(path);
    return rc;
}

/* Image n's true error mask, <dir>/<id>.png, checked for its size. */
static int truth_mask_open(SaEngine *e, uint64_t n, SaLabelPng **png,
                           SaErr *err)
{
    const char *dir = e->set.truth_masks_dir;
    size_t len = strlen(dir) + strlen(e->ids[n]) + 8;
    char *path = malloc(len);
    *png = NULL;
    if (!path)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    snprintf(path, len, "%s/%s.png", dir, e->ids[n]);
    int rc = sa_label_png_open(png, path, (uint32_t)sa_img_w(e, n),
                               (uint32_t)sa_img_h(e, n), err);
    free(path);
    return rc;
}

/* The message of a mask that failed, naming its image. */
static int mask_failed(SaEngine *e, uint64_t n, int rc, SaErr *err)
{
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    sa_err_clear(err);
    return sa_err(err, rc, "the true error mask of image '%s': %s",
                  e->ids[n], msg);
}

int sa_truth_mask_check(SaEngine *e, uint64_t n)
{
    SaLabelPng *png;
    int rc = truth_mask_open(e, n, &png, e->err);
    sa_label_png_close(png);
    return rc ? mask_failed(e, n, rc, e->err) : 0;
}

/* Image n's issue pixels against its true error mask. */
static int mask_eval(Walk *w, uint64_t n)
{
    SaEngine *e = w->e;
    SaLabelPng *png;
    int rc = truth_mask_open(e, n, &png, w->err);
    for (uint64_t y = 0; rc == 0 && y < w->H; y++) {
        rc = sa_label_png_read_rows(png, w->error_row, 1, w->err);
        for (uint64_t x = 0; rc == 0 && x < w->W; x++)
            w->error_img[y * w->W + x] = w->error_row[x] != 0;
    }
    sa_label_png_close(png);
    if (rc)
        return mask_failed(e, n, rc, w->err);
    return sa_mask_eval_image(w->mscratch, w->issue_img, w->error_img,
                              (uint32_t)w->H, (uint32_t)w->W,
                              e->set.min_region_area, &e->images[n].masks,
                              &w->mhist, w->err);
}

/* Finishes image n: its last rows, its mask, its regions. */
static int image_end(Walk *w, uint64_t n, int rc)
{
    SaEngine *e = w->e;
    if (rc == 0)
        rc = rows_emit(w, w->H);
    if (w->mask) {
        if (rc)
            sa_mask_png_abort(w->mask);
        else
            rc = sa_mask_png_finish(w->mask, w->err);
        w->mask = NULL;
    }
    if (rc)
        return rc;
    const SegauditRegion *reg;
    size_t nreg;
    if ((rc = sa_ccl_end(w->ccl, n, &reg, &nreg, w->err)) != 0)
        return rc;
    if (w->issue_img && (rc = mask_eval(w, n)) != 0)
        return rc;
    SaImage *im = &e->images[n];
    im->regions = nreg;
    im->largest_region = nreg ? reg[0].area : 0;
    im->region_mass = 0;
    for (size_t i = 0; i < nreg; i++) {
        /* the region's sums of p̂ and s, from their means */
        double mass = (double)reg[i].area * (reg[i].mean_predicted_prob -
                                             reg[i].mean_self_confidence);
        if (mass > im->region_mass)
            im->region_mass = mass;
    }
    im->region_off = w->regions->bytes; /* (walkers after the first: from
                                            the start of their own) */
    size_t keep = 0;
    while (keep < nreg && reg[keep].area >= e->min_area)
        keep++;
    if (w->area_hist)
        for (size_t i = 0; i < nreg; i++)
            w->area_hist[sa_area_bucket(reg[i].area)]++;
    im->regions_listed = keep;
    if (keep)
        rc = sa_recstore_append(w->regions, reg, keep * sizeof *reg, keep,
                                sizeof *reg, w->err);
    return rc;
}

static void touch(Walk *w, uint32_t k)
{
    if (!w->touched[k]) {
        w->touched[k] = 1;
        w->touched_list[w->ntouched++] = k;
    }
}

static int issue_pixel(Walk *w, uint32_t image, uint64_t row, uint64_t col,
                       uint16_t given, uint16_t pred, double s, double phat)
{
    SaEngine *e = w->e;
    e->images[image].issue_pixels++;
    w->cls[3 * (size_t)given]++;
    w->cls[3 * (size_t)pred + 1]++;
    touch(w, given);
    touch(w, pred);
    const SaPixOut *o = &e->issues_out;
    if (o->base)
        o->base[(int64_t)image * o->sn + (int64_t)row * o->sh +
                (int64_t)col * o->sw] = 1;
    int rc = sa_pairs_add(&w->pairs, given, pred, 1, w->err);
    if (rc == 0)
        rc = rows_put(w, row, col, given, pred, s, phat);
    return rc;
}

static int walk_record(Walk *w, const SaRecord *r, const SaDetail *det)
{
    SaEngine *e = w->e;
    /* (with f = 1, only a mismatch can be an issue pixel) */
    if (!w->any || (e->f == 1 && !(r->flags & SA_REC_MISMATCH)) ||
        sa_key_cmp(sa_record_key(r), w->cut) > 0)
        return 0;
    if (e->f == 1) {
        return issue_pixel(w, r->image, r->pixel / w->W, r->pixel % w->W,
                           r->label, r->pred, r->s, r->phat);
    }
    uint64_t Wb = w->W / e->f;
    uint64_t br = r->pixel / Wb, bc = r->pixel % Wb;
    for (uint16_t i = 0; i < r->ndetail; i++) {
        uint64_t row = br * e->f + det[i].pos / e->f;
        uint64_t col = bc * e->f + det[i].pos % e->f;
        int rc = issue_pixel(w, r->image, row, col, det[i].label,
                             det[i].pred, det[i].s, det[i].phat);
        if (rc)
            return rc;
    }
    return 0;
}

static void end_image(Walk *w)
{
    for (uint32_t i = 0; i < w->ntouched; i++) {
        w->cls[3 * (size_t)w->touched_list[i] + 2]++;
        w->touched[w->touched_list[i]] = 0;
    }
    w->ntouched = 0;
}

/* With min_region_area 0, after the walk: the listing's least area from
 * every region of the dataset (the histogram summed over a group), then
 * each own image's listed regions, a prefix of its regions (largest
 * first). */
static int choose_min_area(SaEngine *e, Walk *w, int rc)
{
    if (e->set.min_region_area)
        return rc;
    rc = sa_dist_sum(e, w->area_hist, SA_AREA_BUCKETS, rc);
    if (rc)
        return rc;
    uint64_t total = 0, seen = 0, median = 0;
    for (size_t a = 0; a < SA_AREA_BUCKETS; a++)
        total += w->area_hist[a];
    for (size_t a = 0; total && a < SA_AREA_BUCKETS; a++) {
        seen += w->area_hist[a];
        if (2 * seen >= total) { /* the lower median */
            median = a;
            break;
        }
    }
    /* at most the histogram's exact range */
    e->min_area = median + 1 < SA_AREA_BUCKETS - 1 ? median + 1
                                                   : SA_AREA_BUCKETS - 1;
    if ((rc = sa_recstore_flush(&e->regions, e->err)) != 0)
        return rc;
    for (uint64_t n = e->own_lo; n < e->own_hi; n++) {
        SaImage *im = &e->images[n];
        uint64_t keep = 0;
        SegauditRegion g;
        while (keep < im->regions_listed) {
            rc = sa_recstore_read_at(&e->regions,
                                     im->region_off + keep * sizeof g, &g,
                                     sizeof g, e->err);
            if (rc)
                return rc;
            if (g.area < e->min_area)
                break;
            keep++;
        }
        im->regions_listed = keep;
    }
    return 0;
}

/* Where the first image of [lo, hi) that was not skipped starts in the
 * stores (0 when there is none: nothing is then read). */
static void start_offsets(const SaEngine *e, uint64_t lo, uint64_t hi,
                          uint64_t off[2])
{
    off[0] = off[1] = 0;
    for (uint64_t n = lo; n < hi; n++)
        if (!e->skipped[n]) {
            off[0] = e->images[n].rec_off[0];
            off[1] = e->store2.count ? e->images[n].rec_off[1] : 0;
            return;
        }
}

/* Walks images [w->lo, w->hi) of walker `part` of ctx (an array). */
static int walk(void *ctx, int part, int parts, SaErr *err)
{
    (void)parts;
    Walk *w = (Walk *)ctx + part;
    w->err = err;
    SaEngine *e = w->e;
    Merge m;
    uint64_t off[2];
    start_offsets(e, w->lo, w->hi, off);
    int rc = merge_open(&m, e, off, w->err);
    const SaRecord *r = NULL;
    const SaDetail *det = NULL;
    if (rc == 0)
        r = merge_next(&m, &det, w->err);
    for (uint64_t n = w->lo; rc == 0 && n < w->hi; n++) {
        if (sa_cancelled(e)) {
            rc = sa_err(w->err, SEGAUDIT_ECANCEL, "cancelled");
            break;
        }
        /* records of an image skipped after pass 1 are passed over */
        while (r && r->image < n)
            r = merge_next(&m, &det, w->err);
        if (e->skipped[n])
            continue; /* no mask, no regions */
        if ((rc = image_begin(w, n)) != 0)
            break;
        while (r && r->image == n) {
            if ((rc = walk_record(w, r, det)) != 0)
                break;
            r = merge_next(&m, &det, w->err);
        }
        if (rc == 0 && w->err->code)
            rc = w->err->code;
        end_image(w);
        rc = image_end(w, n, rc);
    }
    merge_close(&m);
    return rc;
}

/* A walker's buffers (walker 0 keeps its regions in e's store). */
static int walker_init(Walk *w, SaEngine *e, int first)
{
    w->e = e;
    w->err = e->err;
    w->regions = first ? &e->regions : &w->own_regions;
    w->touched = calloc(e->K, 1);
    w->touched_list = malloc(e->K * sizeof(uint32_t));
    w->cls = calloc(3 * (size_t)e->K, sizeof *w->cls);
    w->masks = e->set.masks_dir != NULL;
    if (!w->touched || !w->touched_list || !w->cls ||
        rowbuf_alloc(&w->rb, e) != 0)
        return sa_err(w->err, SEGAUDIT_ENOMEM, "out of memory");
    int rc = sa_ccl_new(&w->ccl, (uint32_t)e->W, w->err);
    if (rc == 0 && e->set.truth_masks_dir) {
        w->issue_img = malloc(e->max_pixels ? e->max_pixels : 1);
        w->error_img = malloc(e->max_pixels ? e->max_pixels : 1);
        w->error_row = malloc(e->W * sizeof *w->error_row);
        w->mhist.regions = sa_zalloc(3 * (size_t)SA_AREA_BUCKETS,
                                    sizeof(uint64_t));
        if (!w->issue_img || !w->error_img || !w->error_row ||
            !w->mhist.regions)
            return sa_err(w->err, SEGAUDIT_ENOMEM, "out of memory");
        w->mhist.matched = w->mhist.regions + SA_AREA_BUCKETS;
        w->mhist.found = w->mhist.matched + SA_AREA_BUCKETS;
        rc = sa_mask_scratch_new(&w->mscratch, e->max_pixels, w->err);
    }
    if (rc == 0 && !e->set.min_region_area &&
        !(w->area_hist = sa_zalloc(SA_AREA_BUCKETS, sizeof *w->area_hist)))
        rc = sa_err(w->err, SEGAUDIT_ENOMEM, "out of memory");
    return rc;
}

static void walker_free(Walk *w)
{
    sa_pairs_free(&w->pairs);
    free(w->touched);
    free(w->touched_list);
    free(w->cls);
    rowbuf_free(&w->rb);
    sa_ccl_free(w->ccl);
    free(w->area_hist);
    free(w->mhist.regions);
    free(w->issue_img);
    free(w->error_img);
    free(w->error_row);
    sa_mask_scratch_free(w->mscratch);
    sa_recstore_free(&w->own_regions);
}

/* The walkers' images: runs of images in order, of about as many record
 * bytes each (walkers at the end may have none). */
static void split(const SaEngine *e, Walk *ws, int T)
{
    uint64_t total = e->store.bytes + e->store2.bytes;
    int t = 0;
    ws[0].lo = e->own_lo;
    for (uint64_t n = e->own_lo; n < e->own_hi && t < T - 1; n++) {
        if (e->skipped[n] || n == ws[t].lo)
            continue;
        uint64_t at = e->images[n].rec_off[0] +
                      (e->store2.count ? e->images[n].rec_off[1] : 0);
        if (at * (uint64_t)T >= total * (uint64_t)(t + 1)) {
            ws[t].hi = n;
            ws[++t].lo = n;
        }
    }
    ws[t].hi = e->own_hi;
    while (++t < T)
        ws[t].lo = ws[t].hi = e->own_hi;
}

/* Adds walker w (not the first) to the first, ws0: its class counts, its
 * pairs, its histograms, and its regions after the first's (their
 * offsets moved with them).  Integer sums and regions in image order:
 * the same whatever the number of walkers. */
static int walker_add(SaEngine *e, Walk *ws0, Walk *w)
{
    for (size_t i = 0; i < 3 * (size_t)e->K; i++)
        ws0->cls[i] += w->cls[i];
    for (size_t a = 0; ws0->area_hist && a < SA_AREA_BUCKETS; a++)
        ws0->area_hist[a] += w->area_hist[a];
    for (size_t a = 0; ws0->mhist.regions && a < 3 * (size_t)SA_AREA_BUCKETS;
         a++)
        ws0->mhist.regions[a] += w->mhist.regions[a];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < w->pairs.cap; i++)
        if (w->pairs.keys[i])
            rc = sa_pairs_add(&ws0->pairs, sa_pair_a(w->pairs.keys[i]),
                              sa_pair_b(w->pairs.keys[i]), w->pairs.counts[i],
                              e->err);
    uint64_t base = e->regions.bytes;
    for (uint64_t n = w->lo; n < w->hi; n++)
        e->images[n].region_off += base;
    if (rc == 0)
        rc = sa_recstore_finish(&w->own_regions, e->err);
    SegauditRegion buf[256];
    const uint64_t total = w->own_regions.bytes;
    for (uint64_t off = 0; rc == 0 && off < total; off += sizeof buf) {
        size_t len = total - off < sizeof buf ? (size_t)(total - off)
                                              : sizeof buf;
        rc = sa_recstore_read_at(&w->own_regions, off, buf, len, e->err);
        if (rc == 0)
            rc = sa_recstore_append(&e->regions, buf, len,
                                    len / sizeof *buf, sizeof *buf, e->err);
    }
    return rc;
}

/* Walks every own image, on as many threads as the engine has (each a
 * run of images), and adds the walkers up into ws[0]. */
static int walk_all(SaEngine *e, Walk *ws, int T)
{
    int rc = 0;
    for (int t = 0; t < T && rc == 0; t++)
        rc = walker_init(&ws[t], e, t == 0);
    if (rc)
        return rc;
    split(e, ws, T);
    /* the first fault in image order */
    rc = sa_run_parts(T, walk, ws, e->err);
    for (int t = 1; t < T && rc == 0; t++)
        rc = walker_add(e, &ws[0], &ws[t]);
    for (uint32_t k = 0; rc == 0 && k < e->K; k++) {
        e->classes[k].given += ws[0].cls[3 * (size_t)k];
        e->classes[k].predicted += ws[0].cls[3 * (size_t)k + 1];
        e->classes[k].images += ws[0].cls[3 * (size_t)k + 2];
    }
    return rc;
}

/* Memory left for the selection's final sort once the stores hold theirs
 * (at least 1 MiB, so that tiny limits still finish). */
static uint64_t select_budget(const SaEngine *e)
{
    uint64_t used = e->store.mem_bytes + e->store2.mem_bytes;
    uint64_t left = e->set.memory_limit > used ? e->set.memory_limit - used
                                               : 0;
    return left > ((uint64_t)1 << 20) ? left : (uint64_t)1 << 20;
}

typedef struct BucketFilter {
    uint32_t lo, hi;
} BucketFilter;

static int in_bucket(const SaRecord *r, const void *ctx)
{
    const BucketFilter *f = ctx;
    if (r->s <= SA_TAU)
        return 0;
    uint32_t b = sa_hist_bucket(r->s);
    return b >= f->lo && b <= f->hi;
}

/* The key of the n_issues-th pixel (block) in the order (s, image, pixel).
 *
 * Normally it lies among the records with s <= tau.  Otherwise the histogram
 * of s > tau names the bucket b that holds it, and a second read collects
 * the pixels of that bucket that pass 1 did not record (it recorded every
 * mismatch).  With f = 1 only bucket b is collected: the pixels of lower
 * buckets are all before the cut-off, and those that are not mismatches can
 * never be issue pixels.  With f > 1 every block before the cut-off is an
 * issue block, so buckets up to b are collected. */
static int find_cut(SaEngine *e, const uint64_t *first, SaKey *cut)
{
    const SaRecStore *st[2] = {&e->store, &e->store2};
    const SaSelectGroup *g = sa_dist_select_group(e);
    int passes, rc;
    if (e->n_issues <= e->m_below) {
        rc = sa_select_kth_group(g, st, 1, NULL, NULL, first, e->n_issues,
                                 select_budget(e), e->set.cancel,
                                 e->n_threads, cut, &passes, e->err);
        e->select_reads = passes;
        return rc;
    }

    /* with --cache the histogram's buckets are coarser (hist_shift):
     * bucket b then spans the engine's buckets lo..hi */
    const uint32_t last = (SA_HIST_BUCKETS - 1) >> e->hist_shift;
    uint64_t before = e->m_below;
    uint32_t b = 0;
    while (b < last && before + e->hist[b] < e->n_issues)
        before += e->hist[b++];
    BucketFilter bf = {b << e->hist_shift,
                       ((b + 1) << e->hist_shift) - 1};
    if (bf.hi > SA_HIST_BUCKETS - 1)
        bf.hi = SA_HIST_BUCKETS - 1;
    if (e->skipped_total) {
        /* the histogram also counted the pixels of the skipped images:
         * collect every score above tau instead of one bucket (exact) */
        bf.lo = 0;
        bf.hi = SA_HIST_BUCKETS - 1;
        before = e->m_below;
    }
    e->second_read = 1;
    /* the second store gets what the first left of the memory limit */
    uint64_t used = e->store.mem_bytes;
    e->store2.mem_limit = e->set.memory_limit > used + 65536
                              ? e->set.memory_limit - used
                              : 65536;
    rc = sa_engine_read_pass(e, SA_REC_ABOVE, e->f == 1 ? bf.lo : 0, bf.hi);
    if (rc == 0)
        rc = sa_recstore_finish(&e->store2, e->err);
    /* in a group: every member's read, and the images it skipped */
    if ((rc = sa_dist_skips(e, rc)) != 0)
        return rc;
    if (e->f > 1)
        rc = sa_select_kth_group(g, st, 2, NULL, NULL, NULL, e->n_issues,
                                 select_budget(e), e->set.cancel,
                                 e->n_threads, cut, &passes, e->err);
    else
        rc = sa_select_kth_group(g, st, 2, in_bucket, &bf, NULL,
                                 e->n_issues - before, select_budget(e),
                                 e->set.cancel, e->n_threads, cut, &passes,
                                 e->err);
    e->select_reads = passes;
    return rc;
}

int sa_engine_issues(SaEngine *e, SegauditPair **pairs_out,
                     uint64_t *npairs_out)
{
    uint64_t *first = sa_zalloc(SA_SELECT_RADIX, sizeof *first);
    if (!first)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    /* alone, with a cache: the keys around the last cut-off are gathered
     * while counting (a group selects over every member's records) */
    Gather g;
    memset(&g, 0, sizeof g);
    unsigned hint;
    if (!e->comm && sa_cache_cut_get(e, &hint)) {
        g.on = 1;
        g.lo = hint > 0 ? hint - 1 : 0;
        g.hi = hint < SA_SELECT_RADIX - 1 ? hint + 1 : SA_SELECT_RADIX - 1;
        /* the parts' keys and their copy together: at most half */
        g.cap = select_budget(e) / sizeof(SaKey) / 4;
    }
    int rc = count_issues(e, first, &g);
    if (rc) {
        free(g.keys);
        free(first);
        return rc;
    }

    int any = e->n_issues > 0;
    SaKey cut = {0, 0};
    int found = 0;
    if (any && g.ok && e->n_issues <= e->m_below)
        found = sa_select_kth_gathered(first, e->n_issues, g.keys, g.n, g.lo,
                                       g.hi, &cut, e->err);
    free(g.keys);
    if (found < 0) {
        free(first);
        return found;
    }
    if (any && !found)
        rc = find_cut(e, first, &cut);
    free(first);
    if (rc)
        return rc;
    e->cut = cut;
    if (any && !e->comm)
        sa_cache_cut_put(e, sa_select_first_digit(cut));
    /* what fails from here on is agreed in a group after the walk */
    uint64_t own = e->own_hi - e->own_lo;
    int T = e->n_threads > 1 ? e->n_threads : 1;
    if ((uint64_t)T > own)
        T = own > 0 ? (int)own : 1;
    Walk *ws = calloc((size_t)T, sizeof *ws);
    if (!ws)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    for (int t = 0; t < T; t++) {
        ws[t].any = any;
        ws[t].cut = cut;
        /* (every walker's store is freed, set up or not) */
        sa_recstore_init(&ws[t].own_regions, e->regions.mem_limit / T,
                         e->set.scratch_dir);
        ws[t].own_regions.item = sizeof(SegauditRegion);
    }
    Walk *w = &ws[0];
    if (e->set.masks_dir && mkdir(e->set.masks_dir, 0777) != 0 &&
        errno != EEXIST)
        rc = sa_err(e->err, SEGAUDIT_EIO, "%s: cannot create: %s",
                    e->set.masks_dir, strerror(errno));
    e->min_area = e->set.min_region_area ? e->set.min_region_area : 1;
    if (rc == 0)
        rc = walk_all(e, ws, T);
    rc = choose_min_area(e, w, rc);
    if (e->set.truth_masks_dir) {
        /* the regions against the masks, over the group, for min_area */
        rc = sa_dist_sum(e, w->mhist.regions, 3 * (size_t)SA_AREA_BUCKETS,
                         rc);
        /* a least area given is counted exactly per image (api/audit.c);
         * one chosen from the data (at most SA_AREA_BUCKETS - 1) comes
         * exactly from the histograms */
        if (rc == 0 && !e->set.min_region_area)
            sa_area_hists_total(&w->mhist, e->min_area, &e->mask_regions[0],
                                &e->mask_regions[1], &e->mask_regions[2]);
    }
    /* in a group: the pairs, the class counts, the regions and the images
     * of every member */
    rc = pairs_gather(e, &w->pairs, rc);
    if ((rc = sa_dist_pass2(e, rc)) != 0)
        goto done;

    SegauditPair *pairs = malloc((w->pairs.n ? w->pairs.n : 1) *
                                 sizeof *pairs);
    if (!pairs) {
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        goto done;
    }
    size_t np = 0;
    for (size_t i = 0; i < w->pairs.cap; i++) {
        if (!w->pairs.keys[i])
            continue;
        pairs[np].given = sa_pair_a(w->pairs.keys[i]);
        pairs[np].predicted = sa_pair_b(w->pairs.keys[i]);
        pairs[np].issue_pixels = w->pairs.counts[i];
        np++;
    }
    qsort(pairs, np, sizeof *pairs, cmp_pairs);
    *pairs_out = pairs;
    *npairs_out = np;
done:
    for (int t = 0; t < T; t++)
        walker_free(&ws[t]);
    free(ws);
    if (rc == 0)
        rc = sa_recstore_finish(&e->regions, e->err);
    return rc;
}
