/* DESIGN: one audit shared among the members of a group.
 *
 * Member r owns the images [own[r], own[r+1]): contiguous ranges in image
 * order, balanced by pixels.  Each member reads and scores only its own
 * images; what the members exchange is per image, per class or a
 * histogram, never per pixel:
 *
 *  - after pass 1: the skipped images, the integer class counts and the
 *    histogram of scores (summed: exact), and the class sums of the
 *    thresholds.  Those are floating-point, so they are not reduced in an
 *    unknown order: the running sums are passed from member to member in
 *    rank order, each adding its images' own sums in image order, which
 *    is the very sequence of additions one process makes.
 *  - the cut-off: counts and 16-bit digit histograms summed (select.c),
 *    then the last few keys shared.
 *  - after pass 2: the per-class issue counts (summed), the pairs and the
 *    regions (to member 0, in image order), every image's results (to
 *    every member).
 *
 * A member that fails keeps taking part in every exchange until the next
 * agreement, where every member learns that the run stops and which
 * error is reported: the one of the lowest failing member, which is the
 * first in image order, as one process would report it. */
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dist.h"

#define CHUNK 65536 /* bytes per message when streaming */

static int transport_error(SaEngine *e, const char *what)
{
    return sa_err(e->err, SEGAUDIT_EIO,
                  "rank %d of %d: the exchange between processes failed "
                  "(%s)", e->comm->rank, e->comm->size, what);
}

/* The transport's calls, counting the bytes this member sends and
 * receives (run.exchanged_bytes). */
static int x_sum(SaEngine *e, uint64_t *v, size_t n)
{
    e->exchanged += 2 * n * sizeof *v;
    return e->comm->allreduce_sum(e->comm->ctx, v, n);
}

static int x_allgather(SaEngine *e, const void *mine, void *all, size_t len)
{
    e->exchanged += (uint64_t)e->comm->size * len;
    return e->comm->allgather(e->comm->ctx, mine, all, len);
}

static int x_bcast(SaEngine *e, void *buf, size_t len, int root)
{
    e->exchanged += len;
    return e->comm->bcast(e->comm->ctx, buf, len, root);
}

static int x_send(SaEngine *e, int to, const void *buf, size_t len)
{
    e->exchanged += len;
    return e->comm->send(e->comm->ctx, to, buf, len);
}

static int x_recv(SaEngine *e, int from, void *buf, size_t len)
{
    e->exchanged += len;
    return e->comm->recv(e->comm->ctx, from, buf, len);
}

int sa_dist_plan(SaEngine *e)
{
    int R = e->comm ? e->comm->size : 1;
    e->own = calloc((size_t)R + 1, sizeof *e->own);
    if (!e->own)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    unsigned __int128 total = 0, cum = 0;
    for (uint64_t n = 0; n < e->N; n++)
        total += (uint64_t)sa_img_h(e, n) * sa_img_w(e, n);
    /* member r starts at the first image whose pixels before it reach
     * r/R of the total */
    uint64_t n = 0;
    for (int r = 0; r <= R; r++) {
        while (n < e->N && cum * (unsigned)R < total * (unsigned)r) {
            cum += (uint64_t)sa_img_h(e, n) * sa_img_w(e, n);
            n++;
        }
        e->own[r] = r == R ? e->N : n;
    }
    int me = e->comm ? e->comm->rank : 0;
    e->own_lo = e->own[me];
    e->own_hi = e->own[me + 1];
    return 0;
}

int sa_dist_agree(SaEngine *e, int rc)
{
    const SegauditComm *c = e->comm;
    if (!c)
        return rc;
    int R = c->size;
    /* no allocation: a member that ran out of memory must still take part
     * (sa_settings_validate bounds the size; audits do not overlap) */
    static int32_t all[SA_DIST_MAX_SIZE];
    int32_t mine = rc;
    if (x_allgather(e, &mine, all, sizeof mine) != 0)
        return transport_error(e, "agreement");
    int first = -1, failed = 0;
    for (int r = R - 1; r >= 0; r--) {
        if (all[r] == 0)
            continue;
        failed++;
        /* the lowest member's own error; SA_EPEER only when none has one */
        if (first < 0 || all[r] != SA_EPEER || all[first] == SA_EPEER)
            first = r;
    }
    int code = first >= 0 ? all[first] : 0;
    if (first < 0)
        return 0;
    char msg[SA_ERR_MSG];
    memset(msg, 0, sizeof msg);
    if (c->rank == first)
        snprintf(msg, sizeof msg, "%s", e->err->msg);
    if (x_bcast(e, msg, sizeof msg, first) != 0)
        return transport_error(e, "agreement");
    msg[sizeof msg - 1] = '\0';
    sa_err_clear(e->err);
    if (code == SEGAUDIT_ECANCEL || failed == R)
        return sa_err(e->err, code, "%s", msg);
    return sa_err(e->err, code, "rank %d of %d: %s", first, R, msg);
}

int sa_dist_sum(SaEngine *e, uint64_t *v, size_t n, int rc)
{
    if (!e->comm)
        return rc;
    if ((rc = sa_dist_agree(e, rc)) != 0)
        return rc;
    if (n && x_sum(e, v, n) != 0)
        return transport_error(e, "sums");
    return 0;
}

/* Each member's own slice of an array of N elements of elsize bytes to
 * every member. */
static int owned_to_all(SaEngine *e, void *base, size_t elsize)
{
    const SegauditComm *c = e->comm;
    for (int r = 0; r < c->size; r++) {
        uint64_t lo = e->own[r], n = e->own[r + 1] - lo;
        if (n && x_bcast(e, (char *)base + lo * elsize, n * elsize,
                          r) != 0)
            return transport_error(e, "image results");
    }
    return 0;
}

/* Every member's len bytes (mine), in rank order, in a new array: after
 * an agreement on rc, so that every member gets it or none does (then
 * NULL, and *rc the agreed error). */
static void *gather_all(SaEngine *e, const void *mine, size_t len, int *rc)
{
    void *all = calloc((size_t)e->comm->size, len);
    if (!all && *rc == 0)
        *rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    if ((*rc = sa_dist_agree(e, *rc)) == 0 &&
        x_allgather(e, mine, all, len) != 0)
        *rc = transport_error(e, "gathering");
    if ((*rc = sa_dist_agree(e, *rc)) != 0) {
        free(all);
        return NULL;
    }
    return all;
}

/* What every member must see alike for the exchanges to match: the
 * tensor's shape and type, each image's size and id, the images skipped
 * at set-up, and the settings that decide the passes. */
static void inputs_digest(const SaEngine *e, uint8_t out[SHA256_DIGEST_SIZE])
{
    struct sha256_ctx h;
    sha256_init(&h);
#define PUT(p, n) sha256_update(&h, (n), (const uint8_t *)(p))
    uint64_t v[] = {e->N, e->K, e->H, e->W, e->f, e->elsize,
                    (uint64_t)e->dtype, e->upsampled, (uint64_t)e->quantised,
                    e->hist_shift, e->max_pixels, e->band_rows};
    PUT(v, sizeof v);
    double d[] = {e->scale, e->offset, e->set.temperature};
    PUT(d, sizeof d);
    const SegauditSettings *st = &e->set;
    uint64_t o[] = {(uint64_t)st->logits, (uint64_t)st->downsample_labels,
                    (uint64_t)st->strict, (uint64_t)st->on_error_skip,
                    st->max_skipped, (uint64_t)st->rank_by,
                    st->min_region_area, st->overlay_top,
                    st->cache_dir != NULL, (uint64_t)st->cache_verify,
                    (uint64_t)st->dry_run, st->masks_dir != NULL,
                    st->overlays_dir != NULL, st->truth_path != NULL,
                    (uint64_t)st->flag_rule, st->truth_masks_dir != NULL};
    PUT(o, sizeof o);
    if (e->img_h) {
        PUT(e->img_h, e->N * sizeof *e->img_h);
        PUT(e->img_w, e->N * sizeof *e->img_w);
    }
    for (uint64_t n = 0; n < e->N; n++)
        PUT(e->ids[n], strlen(e->ids[n]) + 1);
    PUT(e->skipped, e->N);
    PUT(e->ignored, 65536);
    if (e->label_map)
        PUT(e->label_map, 65536 * sizeof *e->label_map);
#undef PUT
    sha256_digest(&h, SHA256_DIGEST_SIZE, out);
}

int sa_dist_same_inputs(SaEngine *e, int rc)
{
    const SegauditComm *c = e->comm;
    if (!c || (rc = sa_dist_agree(e, rc)) != 0)
        return rc;
    uint8_t mine[SHA256_DIGEST_SIZE];
    inputs_digest(e, mine);
    uint8_t *all = gather_all(e, mine, sizeof mine, &rc);
    /* every member holds every digest: each finds the same answer */
    for (int r = 1; all && r < c->size; r++)
        if (memcmp(all, all + (size_t)r * sizeof mine, sizeof mine) != 0) {
            rc = sa_err(e->err, SEGAUDIT_EINPUT,
                        "rank %d of %d does not see the inputs rank 0 sees "
                        "(other images, ids, sizes or settings): every rank "
                        "must read the same files with the same options",
                        r, c->size);
            break;
        }
    free(all);
    return rc;
}

/* ---- streams to member 0 ------------------------------------------------
 *
 * Each member r > 0 in turn sends its length, then its bytes in chunks;
 * member 0 hands them to take() in rank order.  A member whose part
 * failed sends nothing (length 0) and member 0 keeps receiving after a
 * failure of its own, so that the exchange always completes. */

typedef int (*FillFn)(void *ctx, uint64_t off, void *buf, size_t len,
                      SaErr *err);
typedef int (*TakeFn)(void *ctx, int from, const void *buf, size_t len,
                      SaErr *err);

static int to_root(SaEngine *e, uint64_t len, FillFn fill, void *fctx,
                   TakeFn take, void *tctx, int rc)
{
    const SegauditComm *c = e->comm;
    unsigned char buf[CHUNK];
    if (c->rank > 0) {
        uint64_t n = rc ? 0 : len;
        if (x_send(e, 0, &n, sizeof n) != 0)
            return transport_error(e, "send");
        for (uint64_t off = 0; off < n; off += CHUNK) {
            size_t m = n - off < CHUNK ? (size_t)(n - off) : CHUNK;
            if (rc == 0)
                rc = fill(fctx, off, buf, m, e->err);
            if (rc)
                memset(buf, 0, m); /* the length was promised */
            if (x_send(e, 0, buf, m) != 0)
                return transport_error(e, "send");
        }
        return rc;
    }
    for (int r = 1; r < c->size; r++) {
        uint64_t n = 0;
        if (x_recv(e, r, &n, sizeof n) != 0)
            return transport_error(e, "receive");
        for (uint64_t off = 0; off < n; off += CHUNK) {
            size_t m = n - off < CHUNK ? (size_t)(n - off) : CHUNK;
            if (x_recv(e, r, buf, m) != 0)
                return transport_error(e, "receive");
            if (rc == 0)
                rc = take(tctx, r, buf, m, e->err);
        }
    }
    return rc;
}

typedef struct Bytes {
    char *data;
    uint64_t len;
} Bytes;

static int fill_bytes(void *ctx, uint64_t off, void *buf, size_t len,
                      SaErr *err)
{
    (void)err;
    memcpy(buf, ((const Bytes *)ctx)->data + off, len);
    return 0;
}

/* Appends len bytes to b, always followed by a NUL. */
static int append(Bytes *b, const void *buf, size_t len, SaErr *err)
{
    char *d = realloc(b->data, b->len + len + 1);
    if (!d)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    memcpy(d + b->len, buf, len);
    b->data = d;
    b->len += len;
    d[b->len] = '\0';
    return 0;
}

/* Collects what arrives in chunks into one buffer (member 0). */
static int take_bytes(void *ctx, int from, const void *buf, size_t len,
                      SaErr *err)
{
    (void)from;
    return append(ctx, buf, len, err);
}

/* Appends s with its NUL (strings go as NUL-separated lists, so that any
 * text passes unchanged). */
static int put_str(Bytes *b, const char *s, SaErr *err)
{
    return append(b, s, strlen(s) + 1, err);
}

/* The next string of a NUL-separated list at *p (before end), or NULL. */
static const char *next_str(const char **p, const char *end)
{
    const char *s = *p;
    if (!s || s >= end)
        return NULL;
    const char *z = memchr(s, '\0', (size_t)(end - s));
    if (!z)
        return NULL;
    *p = z + 1;
    return s;
}

int sa_dist_gather(SaEngine *e, const void *mine, uint64_t len, char **all,
                   uint64_t *all_len, int rc)
{
    Bytes out = {(char *)mine, len}, in = {NULL, 0};
    rc = to_root(e, len, fill_bytes, &out, take_bytes, &in, rc);
    if (rc) {
        free(in.data);
        in.data = NULL;
        in.len = 0;
    }
    *all = in.data;
    *all_len = in.len;
    return rc;
}

/* ---- skipped images ---------------------------------------------------- */

int sa_dist_skips(SaEngine *e, int rc)
{
    const SegauditComm *c = e->comm;
    if (!c) {
        e->skipped_total = e->n_skipped;
        return rc;
    }
    if ((rc = sa_dist_agree(e, rc)) != 0)
        return rc;
    /* the reasons of this member's own images skipped since the last
     * exchange: index and reason, each a string */
    Bytes out = {NULL, 0}, in = {NULL, 0};
    for (uint64_t i = e->skips_sent; c->rank > 0 && rc == 0 && i < e->n_skipped;
         i++) {
        const SaSkip *s = &e->skips[i];
        if (s->image < e->own_lo || s->image >= e->own_hi)
            continue;
        char head[32];
        snprintf(head, sizeof head, "%llu", (unsigned long long)s->image);
        if ((rc = put_str(&out, head, e->err)) == 0)
            rc = put_str(&out, s->reason, e->err);
    }
    e->skips_sent = e->n_skipped;
    rc = sa_dist_gather(e, out.data, out.len, &in.data, &in.len, rc);
    free(out.data);
    /* member 0: skipped as the owners say, in rank (so image) order
     * (--max-skipped is checked below, over every member: skip.c) */
    const char *p = in.data, *end = in.data ? in.data + in.len : NULL;
    const char *id, *why;
    while (rc == 0 && (id = next_str(&p, end)) && (why = next_str(&p, end))) {
        uint64_t n = strtoull(id, NULL, 10);
        if (n < e->N)
            rc = sa_engine_skip(e, n, why);
    }
    free(in.data);
    if ((rc = sa_dist_agree(e, rc)) != 0)
        return rc;
    /* the flags to every member */
    if ((rc = owned_to_all(e, e->skipped, 1)) != 0)
        return sa_dist_agree(e, rc);
    uint64_t total = 0;
    for (uint64_t n = 0; n < e->N; n++)
        total += e->skipped[n];
    e->skipped_total = total;
    /* --max-skipped over every member: member 0 names the one past the
     * limit, as one process would (setup's skips first, then the others
     * in image order) */
    const uint64_t max = e->set.max_skipped;
    if (total > max) {
        if (c->rank == 0)
            sa_err(e->err, SEGAUDIT_EINPUT,
                   "more than %llu images skipped (--max-skipped); the "
                   "last: %s", (unsigned long long)max,
                   max < e->n_skipped ? e->skips[max].reason : "");
        return sa_dist_agree(e, SEGAUDIT_EINPUT);
    }
    return 0;
}

/* ---- after pass 1 ------------------------------------------------------- */

int sa_dist_pass1(SaEngine *e, int rc)
{
    const SegauditComm *c = e->comm;
    if ((rc = sa_dist_skips(e, rc)) != 0 || !c)
        return rc;
    const uint32_t K = e->K;
    /* the class sums, added image by image in image order: member r
     * continues from member r-1's running sums */
    double *sum = calloc(K ? K : 1, sizeof *sum);
    if (!sum)
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    if ((rc = sa_dist_agree(e, rc)) != 0) {
        free(sum);
        return rc;
    }
    if (c->rank > 0 && x_recv(e, c->rank - 1, sum, K * sizeof *sum))
        rc = transport_error(e, "class sums");
    for (uint64_t n = e->own_lo; rc == 0 && n < e->own_hi; n++) {
        const double *s = e->img_sum + (n - e->own_lo) * K;
        for (uint32_t k = 0; k < K; k++)
            sum[k] += s[k];
    }
    if (rc == 0 && c->rank < c->size - 1 &&
        x_send(e, c->rank + 1, sum, K * sizeof *sum) != 0)
        rc = transport_error(e, "class sums");
    if (rc == 0 && x_bcast(e, sum, K * sizeof *sum, c->size - 1) != 0)
        rc = transport_error(e, "class sums");
    for (uint32_t k = 0; rc == 0 && k < K; k++)
        e->classes[k].sum = sum[k];
    free(sum);
    if (rc)
        return rc;

    /* the integers: counts, pixels, the histogram, the far pixels */
    size_t nh = ((SA_HIST_BUCKETS - 1) >> e->hist_shift) + 1;
    size_t nv = 2 * (size_t)K + nh + 1;
    uint64_t *v = malloc(nv * sizeof *v);
    if (!v)
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    for (uint32_t k = 0; v && k < K; k++) {
        v[k] = e->classes[k].count;
        v[K + k] = e->classes[k].pixels;
    }
    if (v) {
        memcpy(v + 2 * (size_t)K, e->hist, nh * sizeof *v);
        v[nv - 1] = e->far;
    }
    if ((rc = sa_dist_sum(e, v, nv, rc)) == 0) {
        for (uint32_t k = 0; k < K; k++) {
            e->classes[k].count = v[k];
            e->classes[k].pixels = v[K + k];
        }
        memcpy(e->hist, v + 2 * (size_t)K, nh * sizeof *v);
    }
    uint64_t far_total = v ? v[nv - 1] : 0;
    free(v);
    if (rc)
        return rc;
    /* the first far pixel: the lowest member that has one */
    struct {
        uint64_t far, image;
        uint32_t row, col;
        double sum;
    } mine = {e->far, e->far_image, e->far_row, e->far_col, e->far_sum},
      *all = gather_all(e, &mine, sizeof mine, &rc);
    for (int r = 0; all && r < c->size; r++)
        if (all[r].far) {
            e->far_image = all[r].image;
            e->far_row = all[r].row;
            e->far_col = all[r].col;
            e->far_sum = all[r].sum;
            break;
        }
    e->far = far_total;
    free(all);
    return rc;
}

/* ---- after pass 2 ------------------------------------------------------- */

/* Member r > 0: its regions, read from its store. */
static int fill_regions(void *ctx, uint64_t off, void *buf, size_t len,
                        SaErr *err)
{
    return sa_recstore_read_at(ctx, off, buf, len, err);
}

typedef struct RegionsIn {
    SaEngine *e;
    uint64_t *base;    /* per member: member 0's bytes before its regions */
    unsigned char part[sizeof(SegauditRegion)];
    size_t held;       /* bytes of a region split between chunks */
} RegionsIn;

static int take_regions(void *ctx, int from, const void *buf, size_t len,
                        SaErr *err)
{
    RegionsIn *ri = ctx;
    SaRecStore *st = &ri->e->regions;
    const unsigned char *p = buf;
    if (ri->base[from] == UINT64_MAX)
        ri->base[from] = st->bytes;
    const size_t rs = sizeof(SegauditRegion);
    /* whole regions only: a chunk may end inside one */
    while (len > 0) {
        if (ri->held || len < rs) {
            size_t m = rs - ri->held < len ? rs - ri->held : len;
            memcpy(ri->part + ri->held, p, m);
            ri->held += m;
            p += m;
            len -= m;
            if (ri->held == rs) {
                ri->held = 0;
                int rc = sa_recstore_append(st, ri->part, rs, 1, rs, err);
                if (rc)
                    return rc;
            }
            continue;
        }
        size_t whole = len / rs * rs;
        int rc = sa_recstore_append(st, p, whole, whole / rs, rs, err);
        if (rc)
            return rc;
        p += whole;
        len -= whole;
    }
    return 0;
}

int sa_dist_pass2(SaEngine *e, int rc)
{
    const SegauditComm *c = e->comm;
    if (!c)
        return sa_dist_skips(e, rc);
    const uint32_t K = e->K;
    int R = c->size;
    /* per class: issue pixels given, predicted, images affected */
    uint64_t *v = malloc(3 * (size_t)K * sizeof *v);
    if (!v && rc == 0)
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    for (uint32_t k = 0; v && k < K; k++) {
        v[k] = e->classes[k].given;
        v[K + k] = e->classes[k].predicted;
        v[2 * K + k] = e->classes[k].images;
    }
    if ((rc = sa_dist_sum(e, v, 3 * (size_t)K, rc)) == 0)
        for (uint32_t k = 0; k < K; k++) {
            e->classes[k].given = v[k];
            e->classes[k].predicted = v[K + k];
            e->classes[k].images = v[2 * K + k];
        }
    free(v);
    if (rc)
        return rc;

    /* the regions, to member 0 in rank (so image) order */
    RegionsIn ri = {e, calloc((size_t)R, sizeof(uint64_t)), {0}, 0};
    if (!ri.base)
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    for (int r = 0; ri.base && r < R; r++)
        ri.base[r] = r == 0 ? 0 : UINT64_MAX;
    if (rc == 0 && c->rank > 0)
        rc = sa_recstore_finish(&e->regions, e->err);
    rc = to_root(e, e->regions.bytes, fill_regions, &e->regions,
                 take_regions, &ri, rc);
    if ((rc = sa_dist_agree(e, rc)) != 0) {
        free(ri.base);
        return rc;
    }
    /* every image's results, then (member 0) its regions' place */
    rc = owned_to_all(e, e->images, sizeof *e->images);
    for (int r = 1; rc == 0 && c->rank == 0 && r < R; r++) {
        uint64_t base = ri.base[r] == UINT64_MAX ? 0 : ri.base[r];
        for (uint64_t n = e->own[r]; n < e->own[r + 1]; n++)
            e->images[n].region_off += base;
    }
    free(ri.base);
    return sa_dist_skips(e, rc);
}

/* ---- counters and notes -------------------------------------------------- */

int sa_dist_notes(SaEngine *e, int rc)
{
    const SegauditComm *c = e->comm;
    if (!c)
        return rc;
    /* the cache's notes of every member, to member 0 */
    Bytes out = {NULL, 0}, in = {NULL, 0};
    for (int i = 0; c->rank > 0 && rc == 0 && i < e->n_cache_notes; i++)
        rc = put_str(&out, e->cache_notes[i], e->err);
    rc = sa_dist_gather(e, out.data, out.len, &in.data, &in.len, rc);
    free(out.data);
    const char *p = in.data, *end = in.data ? in.data + in.len : NULL;
    const char *note;
    while (rc == 0 && (note = next_str(&p, end))) {
        char **notes = realloc(e->cache_notes, ((size_t)e->n_cache_notes + 1) *
                                                    sizeof *notes);
        char *copy = notes ? strdup(note) : NULL;
        if (notes)
            e->cache_notes = notes;
        if (!copy) {
            rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
            break;
        }
        e->cache_notes[e->n_cache_notes++] = copy;
    }
    free(in.data);
    return sa_dist_agree(e, rc);
}

/* ---- the cut-off's selection --------------------------------------------- */

static int group_sum(void *ctx, uint64_t *v, size_t n, int rc)
{
    return sa_dist_sum(ctx, v, n, rc);
}

static int group_share(void *ctx, const SaKey *mine, uint64_t n, SaKey **all,
                       uint64_t *total, int rc)
{
    SaEngine *e = ctx;
    const SegauditComm *c = e->comm;
    *all = NULL;
    *total = 0;
    uint64_t *counts = gather_all(e, &n, sizeof n, &rc);
    if (!counts)
        return rc;
    uint64_t sum = 0;
    for (int r = 0; rc == 0 && r < c->size; r++)
        sum += counts[r];
    SaKey *keys = rc ? NULL : malloc((sum ? sum : 1) * sizeof *keys);
    if (!keys && rc == 0)
        rc = sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    if ((rc = sa_dist_agree(e, rc)) != 0) {
        free(counts);
        free(keys);
        return rc;
    }
    uint64_t off = 0;
    for (int r = 0; rc == 0 && r < c->size; r++) {
        if (r == c->rank && n)
            memcpy(keys + off, mine, n * sizeof *keys);
        if (counts[r] &&
            x_bcast(e, keys + off, counts[r] * sizeof *keys, r) != 0)
            rc = transport_error(e, "keys");
        off += counts[r];
    }
    free(counts);
    if ((rc = sa_dist_agree(e, rc)) != 0) {
        free(keys);
        return rc;
    }
    *all = keys;
    *total = sum;
    return 0;
}

const SaSelectGroup *sa_dist_select_group(SaEngine *e)
{
    if (!e->comm)
        return NULL;
    e->group.ctx = e;
    e->group.sum = group_sum;
    e->group.share = group_share;
    /* the keys every member may be sent at the end: 4 MiB */
    e->group.budget = (uint64_t)1 << 18;
    return &e->group;
}

int sa_dist_exchanged(SaEngine *e)
{
    const SegauditComm *c = e->comm;
    if (!c)
        return 0;
    uint64_t mine = e->exchanged;
    int rc = 0;
    free(e->exchanged_all);
    e->exchanged_all = gather_all(e, &mine, sizeof mine, &rc);
    return rc;
}
