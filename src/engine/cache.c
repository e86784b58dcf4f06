/* --cache: what names an image's entry (the settings, the label file, the
 * tensor rows), the writer thread that commits entries, lookups and
 * commits (cache.h says what an entry holds; cache_entry.c its bytes; the
 * storage is io/cache_db.c). */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/cache_internal.h"
#include "io/files.h"

/* Entries are written by a thread of their own, so that the passes never
 * wait for the disk; at most WRITE_BACKLOG bytes wait for it. */
#define WRITE_BACKLOG ((size_t)4 << 20)

/* Everything outside the image that changes its pass-1 results. */
static void settings_digest(const SaEngine *e, uint8_t out[SA_CACHE_KEY])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sa_sha_str(&c, "segaudit pass-1 cache");
    sa_sha_u64(&c, SA_CACHE_FORMAT);
    sa_sha_str(&c, SEGAUDIT_VERSION_STRING);
    sa_sha_u64(&c, sizeof(SaRecord));
    sa_sha_u64(&c, e->K);
    sa_sha_u64(&c, e->f);
    sa_sha_u64(&c, (uint64_t)e->set.downsample_labels);
    sa_sha_u64(&c, (uint64_t)e->set.logits);
    sa_sha_f64(&c, e->set.temperature);
    sa_sha_u64(&c, (uint64_t)e->set.strict);
    sha256_update(&c, 65536, e->ignored);
    if (e->label_map)
        sha256_update(&c, 65536 * sizeof *e->label_map,
                      (const uint8_t *)e->label_map);
    /* how the stored values become probabilities */
    sa_sha_str(&c, e->dtype_name);
    sa_sha_str(&c, e->layout ? e->layout : "");
    sa_sha_u64(&c, (uint64_t)sa_probs_nhwc(e->probs));
    sa_sha_f64(&c, e->scale);
    sa_sha_f64(&c, e->offset);
    sa_sha_u64(&c, e->upsampled);
    sa_sha_u64(&c, (uint64_t)e->set.upsample);
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
    sa_sha_str(&c, real);
    sa_sha_str(&c, e->probs_where);
    sa_sha_u64(&c, (uint64_t)st.st_size);
    sa_sha_u64(&c, (uint64_t)st.st_mtim.tv_sec);
    sa_sha_u64(&c, (uint64_t)st.st_mtim.tv_nsec);
    sha256_digest(&c, SA_CACHE_KEY, out);
    return 0;
}

void sa_cache_slot(const SaEngine *e, uint64_t n, int kind,
                   uint8_t out[SA_CACHE_KEY])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, SA_CACHE_KEY, e->cache->settings);
    sa_sha_str(&c, e->ids[n]);
    sa_sha_u64(&c, n);
    if (kind != SA_KIND_PASS1)
        sa_sha_u64(&c, (uint64_t)kind);
    sha256_digest(&c, SA_CACHE_KEY, out);
}

/* The slot of the dataset's own entry of a kind (no image). */
static void dataset_slot(const SaEngine *e, int kind,
                         uint8_t out[SA_CACHE_KEY])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, SA_CACHE_KEY, e->cache->settings);
    sa_sha_str(&c, "dataset");
    sa_sha_u64(&c, (uint64_t)kind);
    sha256_digest(&c, SA_CACHE_KEY, out);
}

int sa_cache_cut_get(SaEngine *e, unsigned *digit)
{
    SaCache *ca = e->cache;
    if (!ca || !ca->db)
        return 0;
    uint8_t slot[SA_CACHE_KEY];
    dataset_slot(e, SA_KIND_CUT, slot);
    void *data = NULL;
    size_t cap = 0, len = 0;
    SaErr err;
    sa_err_clear(&err);
    int found = sa_cachedb_get(ca->db, SA_KIND_CUT, slot, ca->settings, 64,
                               &data, &cap, &len, NULL, NULL, &err);
    uint32_t d = 0;
    int ok = found == SA_CACHE_HIT && len == 4;
    if (ok)
        memcpy(&d, data, 4);
    free(data);
    if (!ok || d > 0xffff)
        return 0;
    *digit = d;
    ca->cut_hint = (int)d;
    return 1;
}

void sa_cache_cut_put(SaEngine *e, unsigned digit)
{
    SaCache *ca = e->cache;
    if (!ca || !ca->db || ca->cut_hint == (int)digit)
        return;
    uint8_t slot[SA_CACHE_KEY];
    dataset_slot(e, SA_KIND_CUT, slot);
    unsigned char *data = malloc(4);
    if (!data)
        return; /* only a hint */
    uint32_t d = digit;
    memcpy(data, &d, 4);
    sa_cache_enqueue(ca, SA_KIND_CUT, slot, ca->settings, data, 4, 4);
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
        sa_sha_str(c, e->images[n].label_digest);
        return 0;
    }
    /* opened as the label reader opens it: a FIFO or a folder is refused,
     * never waited on */
    FILE *f;
    SaErr err;
    sa_err_clear(&err);
    if (sa_open_regular(e->label_paths[n], "", "PNG file", &f, &err) != 0)
        return 1;
    unsigned char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        sha256_update(c, got, buf);
    int bad = ferror(f);
    fclose(f);
    return bad;
}

/* Sets e->cache->key[n] from the predictions' identity (the file's, or
 * with cache_verify the rows' digest); 1 when the label file cannot be
 * read (the image is then computed and not kept). */
static int name_image(SaEngine *e, uint64_t n, const uint8_t *probs)
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, SA_CACHE_KEY, probs);
    if (label_identity(e, n, &c))
        return 1;
    sa_sha_u64(&c, n);
    sa_sha_u64(&c, sa_img_h(e, n));
    sa_sha_u64(&c, sa_img_w(e, n));
    sha256_digest(&c, SA_CACHE_KEY, e->cache->key[n]);
    e->cache->named[n] = 1;
    return 0;
}

/* Names image n for a lookup; 1 when it cannot be named (it is then
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
    return name_image(e, n, probs);
}

/* cache_verify: does the image have no entry at all?  Then it is computed
 * without reading its rows first: they are hashed as its bands are folded
 * (sa_cache_build_rows) and the image named when it is committed. */
static int no_entry(SaEngine *e, uint64_t n, SaErr *err)
{
    static const uint8_t none[SA_CACHE_KEY];
    uint8_t slot[SA_CACHE_KEY];
    size_t len;
    sa_cache_slot(e, n, SA_KIND_PASS1, slot);
    int found = sa_cachedb_get(e->cache->db, SA_KIND_PASS1, slot, none,
                               sa_cache_entry_bound(e, n), NULL, NULL, &len,
                               NULL, NULL, err);
    return found < 0 ? found : found == SA_CACHE_MISS;
}

enum { SA_ENTRY_DAMAGED = 1, SA_ENTRY_FOREIGN = 2 };

void sa_cache_note_image(SaEngine *e, uint64_t n)
{
    SaCache *ca = e->cache;
    if (!ca || !ca->unusable[n])
        return;
    if (ca->unusable[n] == SA_ENTRY_DAMAGED)
        sa_cachedb_add_note(ca->db, "image '%s' (index %llu): its cache "
                            "entry is damaged (bad checksum, or it could not "
                            "be read); it is computed again", e->ids[n],
                            (unsigned long long)n);
    else
        sa_cachedb_add_note(ca->db, "image '%s' (index %llu): its cache "
                            "entry does not hold what this version writes; "
                            "it is computed again", e->ids[n],
                            (unsigned long long)n);
    ca->unusable[n] = 0;
}

/* ---- the writer -------------------------------------------------------- */

static void *writer_main(void *arg)
{
    SaCache *ca = arg;
    pthread_mutex_lock(&ca->mu);
    for (;;) {
        while (!ca->head && !ca->stopping)
            pthread_cond_wait(&ca->cond, &ca->mu);
        SaCachePending *p = ca->head;
        if (!p)
            break; /* stopping, and nothing left */
        pthread_mutex_unlock(&ca->mu);
        sa_cachedb_put(ca->db, p->kind, p->slot, p->key, p->data,
                       p->head_len, p->data + p->head_len,
                       p->len - p->head_len);
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

void sa_cache_enqueue(SaCache *ca, int kind, const uint8_t *slot,
                      const uint8_t *key, unsigned char *data, size_t len,
                      size_t head_len)
{
    SaCachePending *p = malloc(sizeof *p);
    if (!p || !ca->writer_started) {
        /* no writer: written here */
        sa_cachedb_put(ca->db, kind, slot, key, data, head_len,
                       data + head_len, len - head_len);
        free(data);
        free(p);
        return;
    }
    p->kind = kind;
    memcpy(p->slot, slot, SA_CACHE_KEY);
    memcpy(p->key, key, SA_CACHE_KEY);
    p->data = data;
    p->len = len;
    p->head_len = head_len;
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
        !(ca->named = calloc(e->N, 1)) || !(ca->hash_rows = calloc(e->N, 1)) ||
        !(ca->unusable = calloc(e->N, 1))) {
        if (ca) {
            free(ca->key);
            free(ca->named);
            free(ca->hash_rows);
        }
        free(ca);
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    }
    e->cache = ca;
    ca->cut_hint = -1;
    pthread_mutex_init(&ca->mu, NULL);
    pthread_cond_init(&ca->cond, NULL);
    /* in a group, each member keeps its own images' entries in a folder
     * of its own (one SQLite writer each) */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", e->set.cache_dir);
    if (e->comm)
        snprintf(dir, sizeof dir, "%s/rank-%d-of-%d", e->set.cache_dir,
                 e->comm->rank, e->comm->size);
    int rc = sa_cachedb_open(dir, SA_CACHE_FORMAT, e->set.dry_run, &ca->db,
                             e->err);
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
        e->cache_bytes = sa_cachedb_finish(ca->db, !sa_cancelled(e));
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
    free(ca->unusable);
    free(ca->hash_rows);
    free(ca->rows);
    free(ca);
    e->cache = NULL;
}

int sa_cache_probe(SaEngine *e, uint64_t n, SaErr *err)
{
    SaCache *ca = e->cache;
    int rc = 0;
    if (e->set.cache_verify) {
        rc = no_entry(e, n, err);
        if (rc != 0) {
            ca->hash_rows[n] = rc == 1;
            return rc < 0 ? rc : 0;
        }
    }
    rc = image_key(e, n, err);
    if (rc)
        return rc < 0 ? rc : 0;
    uint8_t slot[SA_CACHE_KEY];
    sa_cache_slot(e, n, SA_KIND_PASS1, slot);
    size_t len;
    int found = sa_cachedb_get(ca->db, SA_KIND_PASS1, slot, ca->key[n],
                               sa_cache_entry_bound(e, n), NULL, NULL, &len,
                               NULL, NULL, err);
    if (found < 0)
        return found;
    if (found == SA_CACHE_DAMAGED)
        ca->unusable[n] = SA_ENTRY_DAMAGED;
    return found == SA_CACHE_HIT;
}

int sa_cache_load(SaEngine *e, uint64_t n, SaCacheImage *out, SaErr *err)
{
    SaCache *ca = e->cache;
    uint8_t slot[SA_CACHE_KEY];
    sa_cache_slot(e, n, SA_KIND_PASS1, slot);
    size_t len, recs_len;
    const void *recs;
    int found = sa_cachedb_get(ca->db, SA_KIND_PASS1, slot, ca->key[n],
                               sa_cache_entry_bound(e, n), &out->blob,
                               &out->blob_cap, &len, &recs, &recs_len, err);
    if (found < 0)
        return found;
    if (found == SA_CACHE_DAMAGED)
        ca->unusable[n] = SA_ENTRY_DAMAGED;
    if (found != SA_CACHE_HIT)
        return 0;
    int ok = sa_cache_entry_decode(e, n, len, recs, recs_len, out);
    if (ok == 1)
        return 1;
    if (ok < 0)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    ca->unusable[n] = SA_ENTRY_FOREIGN;
    return 0;
}

int sa_cache_commit(SaEngine *e, uint64_t n, SaCacheImage *b)
{
    sa_cache_add_hist(e, b->hist);
    e->images_computed++;
    SaCache *ca = e->cache;
    unsigned char *data;
    size_t len, recs_len;
    if (sa_cache_entry_encode(e, n, b, &data, &len, &recs_len) != 0)
        return sa_err(e->err, SEGAUDIT_ENOMEM, "out of memory");
    if (b->rows_sha) {
        uint8_t rows[SA_CACHE_KEY];
        sha256_digest(b->rows_sha, SA_CACHE_KEY, rows);
        name_image(e, n, rows);
    }
    uint8_t slot[SA_CACHE_KEY];
    sa_cache_slot(e, n, SA_KIND_PASS1, slot);
    if (ca->named[n])
        sa_cache_enqueue(ca, SA_KIND_PASS1, slot, ca->key[n], data, len,
                         len - recs_len);
    else
        free(data);
    return 0;
}
