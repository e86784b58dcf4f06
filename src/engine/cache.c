/* --cache: pass-1 entries per image (cache.h says what they hold; the
 * storage is io/cache_db.c).
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
#include <limits.h>
#include <math.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "engine/cache.h"
#include "engine/engine.h"
#include "io/cache_db.h"

/* Bump when an entry's bytes or meaning change. */
#define FORMAT 1
#define KIND_PASS1 1
#define KIND_ARGMAX 2
#define KIND_OVERLAY 3

/* An entry on its way to the database. */
typedef struct Pending {
    struct Pending *next;
    uint8_t slot[SA_CACHE_KEY], key[SA_CACHE_KEY];
    unsigned char *data;
    size_t len;
} Pending;

/* Entries are written by a thread of their own, so that the passes never
 * wait for the disk; at most WRITE_BACKLOG bytes wait for it. */
#define WRITE_BACKLOG ((size_t)4 << 20)

typedef struct SaCache {
    SaCacheDb *db;
    pthread_t writer;
    int writer_started, stopping;
    pthread_mutex_t mu;
    pthread_cond_t cond;     /* the queue changed */
    Pending *head, *tail;
    size_t queued;           /* bytes waiting */
    uint8_t settings[SA_CACHE_KEY]; /* what changes pass 1 */
    uint8_t file[SA_CACHE_KEY];     /* the tensor file's identity */
    uint8_t (*key)[SA_CACHE_KEY];   /* N: each looked-up image's key */
    uint8_t *named;                 /* N: its key is set */
    void *rows;                     /* cache_verify: a band of rows */
} SaCache;

/* ---- bytes ------------------------------------------------------------- */

typedef struct Out {
    unsigned char *p;
    size_t len, cap;
    int oom;
} Out;

static void put(Out *o, const void *src, size_t n)
{
    if (o->oom || n == 0)
        return;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n)
            cap *= 2;
        unsigned char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, src, n);
    o->len += n;
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

static uint32_t get_u32(In *in)
{
    uint32_t v = 0;
    const void *p = take(in, 4);
    if (p)
        memcpy(&v, p, 4);
    return v;
}

static uint64_t get_u64(In *in)
{
    uint64_t v = 0;
    const void *p = take(in, 8);
    if (p)
        memcpy(&v, p, 8);
    return v;
}

static double get_f64(In *in)
{
    double v = 0;
    const void *p = take(in, 8);
    if (p)
        memcpy(&v, p, 8);
    return v;
}

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

/* ---- names ------------------------------------------------------------- */

static void sha_str(struct sha256_ctx *c, const char *s)
{
    sha256_update(c, strlen(s) + 1, (const uint8_t *)s);
}

static void sha_u64(struct sha256_ctx *c, uint64_t v)
{
    sha256_update(c, 8, (const uint8_t *)&v);
}

static void sha_f64(struct sha256_ctx *c, double v)
{
    sha256_update(c, 8, (const uint8_t *)&v);
}

/* Everything outside the image that changes its pass-1 results. */
static void settings_digest(const SaEngine *e, uint8_t out[SA_CACHE_KEY])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha_str(&c, "segaudit pass-1 cache");
    sha_u64(&c, FORMAT);
    sha_str(&c, SEGAUDIT_VERSION_STRING);
    sha_u64(&c, sizeof(SaRecord));
    sha_u64(&c, e->K);
    sha_u64(&c, e->f);
    sha_u64(&c, (uint64_t)e->set.downsample_labels);
    sha_u64(&c, (uint64_t)e->set.logits);
    sha_f64(&c, e->set.temperature);
    sha_u64(&c, (uint64_t)e->set.strict);
    sha256_update(&c, 65536, e->ignored);
    if (e->label_map)
        sha256_update(&c, 65536 * sizeof *e->label_map,
                      (const uint8_t *)e->label_map);
    /* how the stored values become probabilities */
    sha_str(&c, e->dtype_name);
    sha_str(&c, e->layout ? e->layout : "");
    sha_u64(&c, (uint64_t)sa_probs_nhwc(e->probs));
    sha_f64(&c, e->scale);
    sha_f64(&c, e->offset);
    sha_u64(&c, e->upsampled);
    sha_u64(&c, (uint64_t)e->set.upsample);
    sha256_digest(&c, SA_CACHE_KEY, out);
}

/* The tensor file: where it is, which dataset, its size and time. */
static int file_digest(const SaEngine *e, uint8_t out[SA_CACHE_KEY])
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(e->probs_path, real) || stat(real, &st) != 0)
        return sa_err(e->err, SEGAUDIT_EIO, "%s: %s", e->probs_path,
                      "cannot be found again for --cache");
    struct sha256_ctx c;
    sha256_init(&c);
    sha_str(&c, real);
    sha_str(&c, e->probs_where);
    sha_u64(&c, (uint64_t)st.st_size);
    sha_u64(&c, (uint64_t)st.st_mtim.tv_sec);
    sha_u64(&c, (uint64_t)st.st_mtim.tv_nsec);
    sha256_digest(&c, SA_CACHE_KEY, out);
    return 0;
}

static void slot_of(const SaEngine *e, uint64_t n, uint8_t out[SA_CACHE_KEY])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, SA_CACHE_KEY, e->cache->settings);
    sha_str(&c, e->ids[n]);
    sha_u64(&c, n);
    sha256_digest(&c, SA_CACHE_KEY, out);
}

/* cache_verify: the digest of image n's rows as read (elements of the
 * audit's type). */
static int rows_digest(SaEngine *e, uint64_t n, uint8_t out[SA_CACHE_KEY],
                       SaErr *err)
{
    SaCache *ca = e->cache;
    const uint64_t H = sa_img_h(e, n), W = sa_img_w(e, n);
    if (!ca->rows &&
        !(ca->rows = malloc((size_t)e->K * e->band_rows * e->W * e->elsize)))
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    struct sha256_ctx c;
    sha256_init(&c);
    for (uint64_t r0 = 0; r0 < H; r0 += e->band_rows) {
        uint64_t nr = H - r0 < e->band_rows ? H - r0 : e->band_rows;
        int rc = sa_probs_read_band(e->probs, n, r0, nr, ca->rows, err);
        if (rc)
            return rc;
        sha256_update(&c, (size_t)e->K * nr * W * e->elsize, ca->rows);
    }
    sha256_digest(&c, SA_CACHE_KEY, out);
    return 0;
}

/* Label PNGs are named by their bytes (a digest of a small file, far
 * cheaper than decoding it); labels in one array by the digest of the
 * image's map as read, which the caller has set.  0, or 1 when the file
 * cannot be read (the bands then report it). */
static int label_identity(SaEngine *e, uint64_t n, struct sha256_ctx *c)
{
    if (!e->label_paths) {
        sha_str(c, e->images[n].label_digest);
        return 0;
    }
    FILE *f = fopen(e->label_paths[n], "rb");
    if (!f)
        return 1;
    unsigned char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        sha256_update(c, got, buf);
    int bad = ferror(f);
    fclose(f);
    return bad;
}

/* Sets e->cache->key[n]; 1 when the image cannot be named (it is then
 * computed). */
static int image_key(SaEngine *e, uint64_t n, SaErr *err)
{
    uint8_t rows[SA_CACHE_KEY];
    const uint8_t *probs = e->cache->file;
    if (e->set.cache_verify) {
        /* rows that cannot be read: the image is computed, and its bands
         * report the fault where a run without the cache does */
        SaErr rerr;
        sa_err_clear(&rerr);
        int rc = rows_digest(e, n, rows, &rerr);
        if (rc == SEGAUDIT_ENOMEM)
            return sa_err(err, rc, "%s", rerr.msg);
        if (rc)
            return 1;
        probs = rows;
    }
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, SA_CACHE_KEY, probs);
    if (label_identity(e, n, &c))
        return 1;
    sha_u64(&c, n);
    sha_u64(&c, sa_img_h(e, n));
    sha_u64(&c, sa_img_w(e, n));
    sha256_digest(&c, SA_CACHE_KEY, e->cache->key[n]);
    e->cache->named[n] = 1;
    return 0;
}

/* ---- the writer -------------------------------------------------------- */

static void *writer_main(void *arg)
{
    SaCache *ca = arg;
    pthread_mutex_lock(&ca->mu);
    for (;;) {
        while (!ca->head && !ca->stopping)
            pthread_cond_wait(&ca->cond, &ca->mu);
        Pending *p = ca->head;
        if (!p)
            break; /* stopping, and nothing left */
        pthread_mutex_unlock(&ca->mu);
        sa_cachedb_put(ca->db, KIND_PASS1, p->slot, p->key, p->data, p->len);
        pthread_mutex_lock(&ca->mu);
        ca->head = p->next;
        if (!ca->head)
            ca->tail = NULL;
        ca->queued -= p->len;
        pthread_cond_broadcast(&ca->cond);
        free(p->data);
        free(p);
    }
    pthread_mutex_unlock(&ca->mu);
    return NULL;
}

/* Hands an entry (data: malloc'd, taken over) to the writer, waiting while
 * too much is queued. */
static void enqueue(SaCache *ca, const uint8_t *slot, const uint8_t *key,
                    unsigned char *data, size_t len)
{
    Pending *p = malloc(sizeof *p);
    if (!p || !ca->writer_started) {
        /* no writer: written here */
        sa_cachedb_put(ca->db, KIND_PASS1, slot, key, data, len);
        free(data);
        free(p);
        return;
    }
    memcpy(p->slot, slot, SA_CACHE_KEY);
    memcpy(p->key, key, SA_CACHE_KEY);
    p->data = data;
    p->len = len;
    p->next = NULL;
    pthread_mutex_lock(&ca->mu);
    while (ca->queued > 0 && ca->queued + len > WRITE_BACKLOG)
        pthread_cond_wait(&ca->cond, &ca->mu);
    if (ca->tail)
        ca->tail->next = p;
    else
        ca->head = p;
    ca->tail = p;
    ca->queued += len;
    pthread_cond_broadcast(&ca->cond);
    pthread_mutex_unlock(&ca->mu);
}

/* Writes what is queued and ends the writer. */
static void writer_stop(SaCache *ca)
{
    if (!ca->writer_started)
        return;
    pthread_mutex_lock(&ca->mu);
    ca->stopping = 1;
    pthread_cond_broadcast(&ca->cond);
    pthread_mutex_unlock(&ca->mu);
    pthread_join(ca->writer, NULL);
    ca->writer_started = 0;
}

/* ---- open, close ------------------------------------------------------- */

int sa_cache_open(SaEngine *e)
{
    if (!e->set.cache_dir)
        return 0;
    SaCache *ca = calloc(1, sizeof *ca);
    if (!ca || !(ca->key = calloc(e->N, sizeof *ca->key)) ||
        !(ca->named = calloc(e->N, 1))) {
        if (ca)
            free(ca->key);
        free(ca);
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    }
    e->cache = ca;
    pthread_mutex_init(&ca->mu, NULL);
    pthread_cond_init(&ca->cond, NULL);
    int rc = sa_cachedb_open(e->set.cache_dir, FORMAT, e->set.dry_run,
                             &ca->db, e->err);
    if (rc == 0)
        rc = file_digest(e, ca->file);
    if (rc == 0 && !e->set.dry_run)
        ca->writer_started =
            pthread_create(&ca->writer, NULL, writer_main, ca) == 0;
    settings_digest(e, ca->settings);
    e->hist_shift = SA_CACHE_HIST_SHIFT;
    return rc;
}

void sa_cache_close(SaEngine *e)
{
    SaCache *ca = e->cache;
    if (!ca)
        return;
    writer_stop(ca);
    if (ca->db) {
        e->cache_bytes = sa_cachedb_finish(ca->db);
        int n = 0;
        while (sa_cachedb_note(ca->db, n))
            n++;
        e->cache_notes = calloc((size_t)n + 1, sizeof(char *));
        for (int i = 0; e->cache_notes && i < n; i++)
            if ((e->cache_notes[e->n_cache_notes] =
                     strdup(sa_cachedb_note(ca->db, i))))
                e->n_cache_notes++;
        sa_cachedb_close(ca->db);
    }
    pthread_mutex_destroy(&ca->mu);
    pthread_cond_destroy(&ca->cond);
    free(ca->key);
    free(ca->named);
    free(ca->rows);
    free(ca);
    e->cache = NULL;
}

/* ---- entries ----------------------------------------------------------- */

void sa_cache_image_free(SaCacheImage *c)
{
    if (!c)
        return;
    free(c->sum);
    free(c->counts);
    free(c->recs);
    free(c->hist);
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
    uint64_t count = 0, next = 0;
    for (size_t off = 0; off < c->rec_len; count++) {
        SaRecord r;
        if (c->rec_len - off < sizeof r)
            return 0;
        memcpy(&r, c->recs_in + off, sizeof r);
        size_t sz = sa_record_size(&r);
        int mis = r.label != r.pred;
        if (r.image != n || r.pixel < next || r.pixel >= blocks ||
            sz > c->max_record || sz > c->rec_len - off ||
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
    return count == c->rec_count;
}

/* The largest record of the audit. */
static size_t record_bound(const SaEngine *e)
{
    return sizeof(SaRecord) +
           (e->f > 1 ? (size_t)e->f * e->f * sizeof(SaDetail) : 0);
}

/* The largest entry image n can have: every block recorded. */
static size_t entry_bound(const SaEngine *e, uint64_t n)
{
    uint64_t blocks = (sa_img_h(e, n) / e->f) * (sa_img_w(e, n) / e->f);
    return 4096 + (size_t)e->K * 5 * 8 + SA_CACHE_HIST_BUCKETS * 20 +
           (size_t)blocks * record_bound(e);
}

/* Reads the entry in c->blob (len bytes) into c, which points into it; 0
 * when they do not make a whole entry of image n, -1 out of memory.  The
 * bytes passed their checksum, but are not trusted: every count, index and
 * order a later stage relies on is checked. */
static int decode(const SaEngine *e, uint64_t n, size_t len, SaCacheImage *c)
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
    /* the tables are copied out: the blob's alignment is SQLite's */
    size_t nc = 4 * (size_t)K;
    const void *counts = take(&in, nc * 8), *sums = take(&in, K * 8);
    if (in.bad)
        return 0;
    if (!c->counts && !(c->counts = malloc(nc * 8)))
        return -1;
    if (!c->sum && !(c->sum = malloc(K * 8)))
        return -1;
    memcpy(c->counts, counts, nc * 8);
    memcpy(c->sum, sums, K * 8);
    uint64_t nh = get_u64(&in);
    size_t h0 = in.pos;
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
    }
    if (in.bad)
        return 0;
    c->hist_enc = in.p + h0;
    c->hist_len = in.pos - h0;
    c->rec_count = get_u64(&in);
    uint64_t rb = get_u64(&in);
    c->max_record = (size_t)get_u64(&in);
    if (in.bad || rb > len || c->max_record < sizeof(SaRecord) ||
        c->max_record > record_bound(e))
        return 0;
    const unsigned char *recs = take(&in, (size_t)rb);
    if (in.bad || in.pos != len)
        return 0;
    c->recs_in = recs;
    c->rec_len = (size_t)rb;
    return records_ok(e, n, c) ? 1 : 0;
}

int sa_cache_lookup(SaEngine *e, uint64_t n, SaCacheImage *out, SaErr *err)
{
    SaCache *ca = e->cache;
    int rc = image_key(e, n, err);
    if (rc)
        return rc < 0 ? rc : 0;
    uint8_t slot[SA_CACHE_KEY];
    slot_of(e, n, slot);
    size_t len;
    int found = sa_cachedb_get(ca->db, KIND_PASS1, slot, ca->key[n],
                               entry_bound(e, n), &out->blob, &out->blob_cap,
                               &len, err);
    if (found < 0)
        return found;
    if (found == SA_CACHE_DAMAGED)
        sa_cachedb_add_note(ca->db, "image '%s' (index %llu): its cache "
                            "entry is damaged (bad checksum, or it could "
                            "not be read); it is computed again",
                            e->ids[n], (unsigned long long)n);
    if (found != SA_CACHE_HIT)
        return 0;
    int ok = decode(e, n, len, out);
    if (ok == 1)
        return 1;
    if (ok < 0)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    sa_cachedb_add_note(ca->db, "image '%s' (index %llu): its cache entry "
                        "does not hold what this version writes; it is "
                        "computed again", e->ids[n], (unsigned long long)n);
    return 0;
}

/* ---- building a computed image's entry ---------------------------------- */

int sa_cache_build_begin(SaEngine *e, SaCacheImage *b)
{
    b->rec_len = 0;
    b->rec_count = 0;
    b->max_record = sizeof(SaRecord);
    b->far = 0;
    if (!b->hist && !(b->hist = malloc(SA_CACHE_HIST_BUCKETS *
                                       sizeof *b->hist)))
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    memset(b->hist, 0, SA_CACHE_HIST_BUCKETS * sizeof *b->hist);
    return 0;
}

int sa_cache_build_recs(SaEngine *e, SaCacheImage *b, const void *data,
                        size_t len, uint64_t count, size_t max_record)
{
    if (b->rec_len + len > b->rec_cap) {
        size_t cap = b->rec_cap ? b->rec_cap : 65536;
        while (cap < b->rec_len + len)
            cap *= 2;
        unsigned char *p = realloc(b->recs, cap);
        if (!p)
            return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
        b->recs = p;
        b->rec_cap = cap;
    }
    memcpy(b->recs + b->rec_len, data, len);
    b->rec_len += len;
    b->rec_count += count;
    if (max_record > b->max_record)
        b->max_record = max_record;
    return 0;
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
    put_u64(o, b->far);
    put_u32(o, b->far_row);
    put_u32(o, b->far_col);
    put_f64(o, b->far_sum);
    char dig[64];
    memset(dig, '0', sizeof dig);
    memcpy(dig, im->label_digest, strnlen(im->label_digest, 64));
    put(o, dig, 64);
    for (uint32_t k = 0; k < K; k++)
        put_u64(o, e->classes[k].count - e->snap_count[k]);
    for (uint32_t k = 0; k < K; k++)
        put_u64(o, e->classes[k].pixels - e->snap_pixels[k]);
    put(o, e->cur.correct, K * sizeof(uint64_t));
    put(o, e->cur.pred, K * sizeof(uint64_t));
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
    put_u64(o, b->rec_count);
    put_u64(o, b->rec_len);
    put_u64(o, b->max_record);
    put(o, b->recs, b->rec_len);
}

int sa_cache_commit(SaEngine *e, uint64_t n, SaCacheImage *b)
{
    for (uint32_t i = 0; i < SA_CACHE_HIST_BUCKETS; i++)
        e->hist[i] += b->hist[i];
    e->images_computed++;
    SaCache *ca = e->cache;
    Out o = {0};
    encode(e, n, b, &o);
    if (o.oom) {
        free(o.p);
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    }
    uint8_t slot[SA_CACHE_KEY];
    slot_of(e, n, slot);
    if (ca->named[n])
        enqueue(ca, slot, ca->key[n], o.p, o.len);
    else
        free(o.p);
    return 0;
}

int sa_cache_fold(SaEngine *e, uint64_t n, const SaCacheImage *c)
{
    const uint32_t K = e->K;
    memcpy(e->cur.sum, c->sum, K * sizeof(double));
    SaImage *im = &e->images[n];
    im->softmin = c->softmin;
    im->sum_s = c->sum_s;
    im->min_s = c->min_s;
    im->valid_pixels = c->valid_pixels;
    memcpy(im->label_digest, c->label_digest, sizeof im->label_digest);
    if (c->far) {
        if (e->far == 0) {
            e->far_image = n;
            e->far_row = c->far_row;
            e->far_col = c->far_col;
            e->far_sum = c->far_sum;
        }
        e->far += c->far;
    }
    for (uint32_t k = 0; k < K; k++) {
        e->classes[k].count += c->counts[k];
        e->classes[k].pixels += c->counts[K + k];
        e->cur.labeled[k] += c->counts[K + k];
        e->cur.correct[k] += c->counts[2 * (size_t)K + k];
        e->cur.pred[k] += c->counts[3 * (size_t)K + k];
    }
    sa_image_scores(e, n);
    In in = {c->hist_enc, c->hist_len, 0, 0};
    uint64_t b = 0;
    for (uint64_t i = 0; in.pos < in.len && !in.bad; i++) {
        b += get_var(&in) + (i > 0);
        e->hist[b] += get_var(&in);
    }
    e->images_from_cache++;
    if (c->rec_count == 0)
        return 0;
    return sa_recstore_append(&e->store, c->recs_in, c->rec_len,
                              c->rec_count, c->max_record, e->err);
}

/* ---- overlays ----------------------------------------------------------- */

/* The slot of image n's entry of another kind. */
static void kind_slot(const SaEngine *e, uint64_t n, int kind,
                      uint8_t out[SA_CACHE_KEY])
{
    uint8_t base[SA_CACHE_KEY];
    slot_of(e, n, base);
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, SA_CACHE_KEY, base);
    sha_u64(&c, (uint64_t)kind);
    sha256_digest(&c, SA_CACHE_KEY, out);
}

/* Argmax entry: "SAA1", H, W (u32), then the H*W uint16 values deflated
 * (zlib). */
int sa_cache_argmax_get(SaEngine *e, uint64_t n, uint16_t *argmax)
{
    SaCache *ca = e->cache;
    if (!ca || !ca->named[n])
        return 0;
    uint8_t slot[SA_CACHE_KEY];
    kind_slot(e, n, KIND_ARGMAX, slot);
    void *data = NULL;
    size_t cap = 0, len;
    SaErr err;
    sa_err_clear(&err);
    const uint64_t H = sa_img_h(e, n), W = sa_img_w(e, n);
    int found = sa_cachedb_get(ca->db, KIND_ARGMAX, slot, ca->key[n],
                               12 + compressBound((uLong)(H * W * 2)), &data,
                               &cap, &len, &err);
    int ok = 0;
    if (found == SA_CACHE_HIT && len > 12) {
        uint32_t h, w;
        memcpy(&h, (char *)data + 4, 4);
        memcpy(&w, (char *)data + 8, 4);
        uLongf out = (uLongf)(H * W * sizeof *argmax);
        ok = memcmp(data, "SAA1", 4) == 0 && h == H && w == W &&
             uncompress((Bytef *)argmax, &out, (const Bytef *)data + 12,
                        (uLong)(len - 12)) == Z_OK &&
             out == H * W * sizeof *argmax;
        for (uint64_t i = 0; ok && i < H * W; i++)
            ok = argmax[i] < e->K;
    }
    free(data);
    return ok;
}

void sa_cache_argmax_put(SaEngine *e, uint64_t n, const uint16_t *argmax)
{
    SaCache *ca = e->cache;
    if (!ca || !ca->named[n])
        return;
    const uint64_t H = sa_img_h(e, n), W = sa_img_w(e, n);
    uLong raw = (uLong)(H * W * sizeof *argmax);
    uLongf clen = compressBound(raw);
    unsigned char *buf = malloc(12 + clen);
    if (!buf)
        return;
    uint32_t h = (uint32_t)H, w = (uint32_t)W;
    memcpy(buf, "SAA1", 4);
    memcpy(buf + 4, &h, 4);
    memcpy(buf + 8, &w, 4);
    if (compress2(buf + 12, &clen, (const Bytef *)argmax, raw, 1) == Z_OK) {
        uint8_t slot[SA_CACHE_KEY];
        kind_slot(e, n, KIND_ARGMAX, slot);
        sa_cachedb_put(ca->db, KIND_ARGMAX, slot, ca->key[n], buf,
                       12 + clen);
    }
    free(buf);
}

int sa_cache_overlay_key(SaEngine *e, uint64_t n, const uint8_t *bitmap,
                         const SegauditRegion *reg, size_t nreg,
                         const uint8_t *extra, uint8_t key[SA_CACHE_KEY])
{
    SaCache *ca = e->cache;
    if (!ca || !ca->named[n])
        return 0;
    struct sha256_ctx c;
    sha256_init(&c);
    sha_str(&c, "overlay");
    sha256_update(&c, SA_CACHE_KEY, ca->key[n]);
    sha256_update(&c, SA_CACHE_KEY, extra);
    sha256_update(&c, sa_img_h(e, n) * sa_img_w(e, n), bitmap);
    for (size_t i = 0; i < nreg; i++) {
        const SegauditRegion *r = &reg[i];
        uint64_t v[] = {r->region, r->area, r->x, r->y, r->width,
                        r->height, r->given, r->predicted};
        sha256_update(&c, sizeof v, (const uint8_t *)v);
        sha_f64(&c, r->mean_self_confidence);
        sha_f64(&c, r->mean_predicted_prob);
    }
    sha256_digest(&c, SA_CACHE_KEY, key);
    return 1;
}

int sa_cache_overlay_get(SaEngine *e, uint64_t n, const uint8_t *key,
                         void **png, size_t *len)
{
    *png = NULL;
    uint8_t slot[SA_CACHE_KEY];
    kind_slot(e, n, KIND_OVERLAY, slot);
    size_t cap = 0;
    SaErr err;
    sa_err_clear(&err);
    int found = sa_cachedb_get(e->cache->db, KIND_OVERLAY, slot, key,
                               (size_t)INT_MAX, png, &cap, len, &err);
    if (found == SA_CACHE_HIT && *len > 8 &&
        memcmp(*png, "\x89PNG\r\n\x1a\n", 8) == 0)
        return 1;
    free(*png);
    *png = NULL;
    return 0;
}

void sa_cache_overlay_put(SaEngine *e, uint64_t n, const uint8_t *key,
                          const void *png, size_t len)
{
    uint8_t slot[SA_CACHE_KEY];
    kind_slot(e, n, KIND_OVERLAY, slot);
    sa_cachedb_put(e->cache->db, KIND_OVERLAY, slot, key, png, len);
}
