/* --cache: an image's pass-1 entry as bytes, built from a computed image,
 * checked and folded back as its bands would have been.
 *
 * Entry bytes (machine order; the format number changes with them):
 *   "SAE1", K, H, W, f, 0                       u32 each
 *   softmin m, ref, sum, wsum (f64), n (u64)
 *   sum_s, min_s (f64), valid_pixels, far (u64), far_row, far_col (u32),
 *   far_sum (f64), label digest (64 hex digits)
 *   counts [4][K] u64, class sums [K] f64
 *   histogram (coarse buckets): entries (u64), then per non-empty bucket
 *     its distance from the previous one and its count (LEB128 varints)
 *   records: count, bytes, largest (u64), then the bytes */
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "engine/cache_internal.h"

/* ---- bytes ------------------------------------------------------------- */

typedef struct Out {
    SaRecBuf b;
    int oom;
} Out;

static void put(Out *o, const void *src, size_t n)
{
    if (o->oom || n == 0)
        return;
    if (sa_recbuf_reserve(&o->b, n) != 0) {
        o->oom = 1;
        return;
    }
    memcpy(o->b.data + o->b.len, src, n);
    o->b.len += n;
}

static void put_u32(Out *o, uint32_t v) { put(o, &v, 4); }
static void put_u64(Out *o, uint64_t v) { put(o, &v, 8); }
static void put_f64(Out *o, double v) { put(o, &v, 8); }

static void put_var(Out *o, uint64_t v)
{
    unsigned char b[10];
    int n = 0;
    do {
        b[n] = v & 0x7f;
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    put(o, b, (size_t)n);
}

typedef struct In {
    const unsigned char *p;
    size_t len, pos;
    int bad;
} In;

static const void *take(In *in, size_t n)
{
    if (in->bad || n > in->len - in->pos) {
        in->bad = 1;
        return NULL;
    }
    const void *p = in->p + in->pos;
    in->pos += n;
    return p;
}

/* n bytes into dst, or zeros past the end (the entry is then bad). */
static void get(In *in, void *dst, size_t n)
{
    const void *p = take(in, n);
    if (p)
        memcpy(dst, p, n);
    else
        memset(dst, 0, n);
}

static uint32_t get_u32(In *in) { uint32_t v; get(in, &v, 4); return v; }
static uint64_t get_u64(In *in) { uint64_t v; get(in, &v, 8); return v; }
static double get_f64(In *in) { double v; get(in, &v, 8); return v; }

static uint64_t get_var(In *in)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        const unsigned char *b = take(in, 1);
        if (!b)
            return 0;
        v |= (uint64_t)(*b & 0x7f) << shift;
        if (!(*b & 0x80))
            return v;
    }
    in->bad = 1;
    return 0;
}

/* ---- entries ----------------------------------------------------------- */

void sa_cache_image_free(SaCacheImage *c)
{
    if (!c)
        return;
    sa_recbuf_free(&c->recs);
    free(c->hist);
    free(c->rows_sha);
    free(c->blob);
    memset(c, 0, sizeof *c);
}

/* A label of a record: a class, not ignored. */
static int class_ok(const SaEngine *e, uint16_t v)
{
    return v < e->K && !e->ignored[v];
}

/* Every record of an entry is what pass 1 writes: of image n, whole, in
 * increasing pixel order, inside the image, its label a class that is not
 * ignored and its argmax a class (which may be), its mismatch flag saying label != argmax, recorded for a reason
 * (a mismatch or s <= tau), 0 <= s <= p-hat; its details (f > 1 only) in
 * increasing position inside the block, each a mismatched pixel; and as
 * many records as the entry says. */
static int records_ok(const SaEngine *e, uint64_t n, const SaCacheImage *c)
{
    const uint32_t f = e->f;
    const uint64_t blocks = (sa_img_h(e, n) / f) * (sa_img_w(e, n) / f);
    if (f == 1 && ((uintptr_t)c->recs_in & 7) == 0) {
        /* records of one size, read in place: the same checks, gathered
         * without a branch per check */
        const SaRecord *r = (const SaRecord *)c->recs_in;
        const size_t m = c->recs.len / sizeof *r;
        if (c->recs.len % sizeof *r || m != c->recs.count ||
            c->max_record != sizeof *r)
            return 0;
        const uint16_t K = (uint16_t)e->K;
        const unsigned char *ign = e->ignored;
        int bad = 0;
        uint64_t next = 0;
        for (size_t i = 0; i < m; i++) {
            const int mis = r[i].label != r[i].pred;
            bad |= (r[i].image != n) | (r[i].pixel < next) |
                   (r[i].pixel >= blocks) | (r[i].ndetail != 0) |
                   (r[i].label >= K) | (r[i].pred >= K) |
                   (r[i].flags != (mis ? SA_REC_MISMATCH : 0)) |
                   !(mis | (r[i].s <= SA_TAU)) |
                   !((r[i].s >= 0) & (r[i].phat >= r[i].s));
            /* an ignored label (read once the label is known a class) */
            bad |= (r[i].label < K) && ign[r[i].label];
            next = (uint64_t)r[i].pixel + 1;
        }
        return !bad;
    }
    uint64_t count = 0, next = 0;
    for (size_t off = 0; off < c->recs.len; count++) {
        SaRecord r;
        if (c->recs.len - off < sizeof r)
            return 0;
        memcpy(&r, c->recs_in + off, sizeof r);
        size_t sz = sa_record_size(&r);
        int mis = r.label != r.pred;
        if (r.image != n || r.pixel < next || r.pixel >= blocks ||
            sz > c->max_record || sz > c->recs.len - off ||
            !class_ok(e, r.label) || r.pred >= e->K ||
            r.flags != (mis ? SA_REC_MISMATCH : 0) ||
            !(mis || r.s <= SA_TAU) || !(r.s >= 0 && r.phat >= r.s) ||
            (f == 1 && r.ndetail) || r.ndetail > f * f)
            return 0;
        int last = -1;
        for (uint16_t i = 0; i < r.ndetail; i++) {
            SaDetail d;
            memcpy(&d, c->recs_in + off + sizeof r + i * sizeof d, sizeof d);
            if ((int)d.pos <= last || d.pos >= f * f ||
                !class_ok(e, d.label) || d.pred >= e->K ||
                d.label == d.pred || !(d.s >= 0 && d.phat >= d.s))
                return 0;
            last = d.pos;
        }
        next = (uint64_t)r.pixel + 1;
        off += sz;
    }
    return count == c->recs.count;
}

/* The largest record of the audit. */
static size_t record_bound(const SaEngine *e)
{
    return sizeof(SaRecord) +
           (e->f > 1 ? (size_t)e->f * e->f * sizeof(SaDetail) : 0);
}

/* The largest entry image n can have: every block recorded. */
size_t sa_cache_entry_bound(const SaEngine *e, uint64_t n)
{
    uint64_t blocks = (sa_img_h(e, n) / e->f) * (sa_img_w(e, n) / e->f);
    return 4096 + (size_t)e->K * 5 * 8 + SA_CACHE_HIST_BUCKETS * 20 +
           (size_t)blocks * record_bound(e);
}

/* Reads the entry in c->blob (len bytes) into c, which points into it; 0
 * when they do not make a whole entry of image n, -1 out of memory.  The
 * bytes passed their checksum, but are not trusted: every count, index and
 * order a later stage relies on is checked. */
int sa_cache_entry_decode(const SaEngine *e, uint64_t n, size_t len,
                          const void *recs, size_t recs_len,
                          SaCacheImage *c)
{
    In in = {c->blob, len, 0, 0};
    const uint32_t K = e->K;
    const void *magic = take(&in, 4);
    if (!magic || memcmp(magic, "SAE1", 4) != 0 || get_u32(&in) != K ||
        get_u32(&in) != sa_img_h(e, n) || get_u32(&in) != sa_img_w(e, n) ||
        get_u32(&in) != e->f)
        return 0;
    if (get_u32(&in) != 0)
        return 0;
    c->softmin.m = get_f64(&in);
    c->softmin.ref = get_f64(&in);
    c->softmin.sum = get_f64(&in);
    c->softmin.wsum = get_f64(&in);
    c->softmin.n = get_u64(&in);
    c->sum_s = get_f64(&in);
    c->min_s = get_f64(&in);
    c->valid_pixels = get_u64(&in);
    c->far = get_u64(&in);
    c->far_row = get_u32(&in);
    c->far_col = get_u32(&in);
    c->far_sum = get_f64(&in);
    const char *dig = take(&in, 64);
    if (!dig)
        return 0;
    memcpy(c->label_digest, dig, 64);
    c->label_digest[64] = '\0';
    /* the tables stay in the blob (fold copies them out) */
    size_t nc = 4 * (size_t)K;
    c->counts_in = take(&in, nc * 8);
    c->sum_in = take(&in, K * 8);
    if (!c->hist && !(c->hist = malloc(SA_CACHE_HIST_BUCKETS *
                                       sizeof *c->hist)))
        return -1;
    memset(c->hist, 0, SA_CACHE_HIST_BUCKETS * sizeof *c->hist);
    uint64_t nh = get_u64(&in);
    /* buckets increasing, counts adding up to at most the valid pixels
     * (each step checked before it is added: no wrap-around) */
    uint64_t b = 0, total = 0;
    for (uint64_t i = 0; i < nh && !in.bad; i++) {
        uint64_t step = get_var(&in), cnt = get_var(&in);
        if (step >= SA_CACHE_HIST_BUCKETS || cnt == 0 ||
            cnt > c->valid_pixels - total)
            return 0;
        b += step + (i > 0);
        total += cnt;
        if (b >= SA_CACHE_HIST_BUCKETS)
            return 0;
        c->hist[b] = cnt;
    }
    if (in.bad)
        return 0;
    c->recs.count = get_u64(&in);
    uint64_t rb = get_u64(&in);
    c->max_record = (size_t)get_u64(&in);
    if (in.bad || in.pos != len || rb != recs_len ||
        c->max_record < sizeof(SaRecord) || c->max_record > record_bound(e))
        return 0;
    c->recs_in = recs;
    c->recs.len = (size_t)rb;
    return records_ok(e, n, c) ? 1 : 0;
}

/* ---- building a computed image's entry ---------------------------------- */

int sa_cache_build_begin(SaEngine *e, uint64_t n, SaCacheImage *b)
{
    free(b->rows_sha);
    b->rows_sha = NULL;
    if (e->cache->hash_rows[n]) {
        if (!(b->rows_sha = malloc(sizeof(struct sha256_ctx))))
            return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        sha256_init(b->rows_sha);
    }
    b->recs.len = 0;
    b->recs.count = 0;
    b->max_record = sizeof(SaRecord);
    if (!b->hist && !(b->hist = malloc(SA_CACHE_HIST_BUCKETS *
                                       sizeof *b->hist)))
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    memset(b->hist, 0, SA_CACHE_HIST_BUCKETS * sizeof *b->hist);
    return 0;
}

int sa_cache_build_recs(SaEngine *e, SaCacheImage *b, const void *data,
                        size_t len, uint64_t count, size_t max_record)
{
    if (sa_recbuf_reserve(&b->recs, len) != 0)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    memcpy(b->recs.data + b->recs.len, data, len);
    b->recs.len += len;
    b->recs.count += count;
    if (max_record > b->max_record)
        b->max_record = max_record;
    return 0;
}

void sa_cache_build_rows(SaCacheImage *b, const void *probs, size_t bytes)
{
    if (b->rows_sha)
        sha256_update(b->rows_sha, bytes, probs);
}

void sa_cache_build_hist(SaCacheImage *b, const uint64_t *band_hist)
{
    for (uint32_t i = 0; i < SA_CACHE_HIST_BUCKETS; i++)
        b->hist[i] += band_hist[i];
}

static void encode(const SaEngine *e, uint64_t n, const SaCacheImage *b,
                   Out *o)
{
    const SaImage *im = &e->images[n];
    const uint32_t K = e->K;
    put(o, "SAE1", 4);
    put_u32(o, K);
    put_u32(o, (uint32_t)sa_img_h(e, n));
    put_u32(o, (uint32_t)sa_img_w(e, n));
    put_u32(o, e->f);
    put_u32(o, 0);
    put_f64(o, im->softmin.m);
    put_f64(o, im->softmin.ref);
    put_f64(o, im->softmin.sum);
    put_f64(o, im->softmin.wsum);
    put_u64(o, im->softmin.n);
    put_f64(o, im->sum_s);
    put_f64(o, im->min_s);
    put_u64(o, im->valid_pixels);
    put_u64(o, e->cur.far);
    put_u32(o, e->cur.far_row);
    put_u32(o, e->cur.far_col);
    put_f64(o, e->cur.far_sum);
    char dig[64];
    memset(dig, '0', sizeof dig);
    memcpy(dig, im->label_digest, strnlen(im->label_digest, 64));
    put(o, dig, 64);
    put(o, e->cur.count, 4 * (size_t)K * sizeof(uint64_t));
    put(o, e->cur.sum, K * sizeof(double));
    uint64_t nh = 0;
    for (uint32_t i = 0; i < SA_CACHE_HIST_BUCKETS; i++)
        nh += b->hist[i] != 0;
    put_u64(o, nh);
    uint64_t prev = 0;
    int first = 1;
    for (uint32_t i = 0; i < SA_CACHE_HIST_BUCKETS; i++) {
        if (!b->hist[i])
            continue;
        put_var(o, first ? i : i - prev - 1);
        put_var(o, b->hist[i]);
        prev = i;
        first = 0;
    }
    put_u64(o, b->recs.count);
    put_u64(o, b->recs.len);
    put_u64(o, b->max_record);
    put(o, b->recs.data, b->recs.len); /* the tail */
}

void sa_cache_add_hist(SaEngine *e, const uint64_t *hist)
{
    for (uint32_t i = 0; i < SA_CACHE_HIST_BUCKETS; i++)
        e->hist[i] += hist[i];
}

int sa_cache_fold(SaEngine *e, uint64_t n, const SaCacheImage *c)
{
    const uint32_t K = e->K;
    memcpy(e->cur.count, c->counts_in, 4 * (size_t)K * sizeof(uint64_t));
    memcpy(e->cur.sum, c->sum_in, K * sizeof(double));
    e->cur.far = c->far;
    e->cur.far_row = c->far_row;
    e->cur.far_col = c->far_col;
    e->cur.far_sum = c->far_sum;
    SaImage *im = &e->images[n];
    im->softmin = c->softmin;
    im->sum_s = c->sum_s;
    im->min_s = c->min_s;
    im->valid_pixels = c->valid_pixels;
    memcpy(im->label_digest, c->label_digest, sizeof im->label_digest);
    sa_image_scores(e, n);
    sa_cache_add_hist(e, c->hist);
    e->images_from_cache++;
    if (c->recs.count == 0)
        return 0;
    int rc = sa_recstore_link(&e->store, c->recs_in, c->recs.len,
                              c->recs.count, c->max_record, e->err);
    if (rc == 0)
        rc = sa_recstore_append(&e->store, c->recs_in, c->recs.len,
                                c->recs.count, c->max_record, e->err);
    return rc < 0 ? rc : 0;
}

int sa_cache_entry_encode(const SaEngine *e, uint64_t n,
                          const SaCacheImage *b, unsigned char **data,
                          size_t *len, size_t *recs_len)
{
    Out o = {{0}, 0};
    encode(e, n, b, &o);
    if (o.oom) {
        sa_recbuf_free(&o.b);
        return -1;
    }
    *data = o.b.data;
    *len = o.b.len;
    *recs_len = b->recs.len;
    return 0;
}
