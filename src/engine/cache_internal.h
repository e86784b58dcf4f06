/* Inside --cache (cache.c: names, writer, lookups and commits;
 * cache_entry.c: an entry's bytes; cache_overlay.c: the overlays' entries):
 * the cache's state, the kinds of entries, digest helpers. */
#ifndef SA_CACHE_INTERNAL_H
#define SA_CACHE_INTERNAL_H

#include <nettle/sha2.h>
#include <pthread.h>
#include <string.h>

#include "engine/cache.h"
#include "engine/engine.h"
#include "io/cache_db.h"

/* Bump when an entry's bytes or meaning change (3: the softmin partials of
 * rows are summed against the shift 1/T, whose last bits differ from those
 * of format 2's). */
#define SA_CACHE_FORMAT 3

/* The kinds of entries. */
enum {
    SA_KIND_PASS1 = 1,
    SA_KIND_ARGMAX = 2,
    SA_KIND_OVERLAY = 3,
    SA_KIND_CUT = 4 /* the dataset's last cut-off: a hint for the next */
};

/* An entry on its way to the database. */
typedef struct SaCachePending {
    struct SaCachePending *next;
    int kind;
    uint8_t slot[SA_CACHE_KEY], key[SA_CACHE_KEY];
    unsigned char *data;
    size_t len, head_len; /* data[head_len..len): the tail */
} SaCachePending;

struct SaCache {
    SaCacheDb *db;
    pthread_t writer;
    int writer_started, stopping;
    pthread_mutex_t mu;
    pthread_cond_t cond;     /* the queue changed */
    SaCachePending *head, *tail;
    size_t queued;           /* bytes waiting */
    uint8_t settings[SA_CACHE_KEY]; /* what changes pass 1 */
    uint8_t file[SA_CACHE_KEY];     /* the tensor file's identity */
    uint8_t (*key)[SA_CACHE_KEY];   /* N: each looked-up image's key */
    uint8_t *named;                 /* N: its key is set */
    uint8_t *unusable;              /* N: why its entry was not used
                                       (enum below), noted when the image
                                       is folded, so in image order */
    uint8_t *hash_rows;             /* N: cache_verify, no entry: its rows
                                       are hashed as they are folded */
    void *rows;                     /* cache_verify: a band of rows */
    int cut_hint;                   /* the hint read (sa_cache_cut_get),
                                       or -1 */
};
typedef struct SaCache SaCache;

static inline void sa_sha_str(struct sha256_ctx *c, const char *s)
{
    sha256_update(c, strlen(s) + 1, (const uint8_t *)s);
}

static inline void sa_sha_u64(struct sha256_ctx *c, uint64_t v)
{
    sha256_update(c, 8, (const uint8_t *)&v);
}

static inline void sa_sha_f64(struct sha256_ctx *c, double v)
{
    sha256_update(c, 8, (const uint8_t *)&v);
}

/* cache.c: the slot of image n's entry of a kind (settings, id, index). */
void sa_cache_slot(const SaEngine *e, uint64_t n, int kind,
                   uint8_t out[SA_CACHE_KEY]);

/* cache.c: hands an entry of a kind (data: malloc'd, taken over; its
 * bytes from head_len on are the entry's tail) to the writer thread,
 * waiting while too much is queued; any thread. */
void sa_cache_enqueue(SaCache *ca, int kind, const uint8_t *slot,
                      const uint8_t *key, unsigned char *data, size_t len,
                      size_t head_len);

/* cache_entry.c: an image's histogram (coarse buckets) added to the
 * dataset's. */
void sa_cache_add_hist(SaEngine *e, const uint64_t *hist);

/* cache_entry.c: the largest entry image n can have; an entry's bytes
 * (c->blob, len) and its tail (the records: recs, recs_len bytes) read
 * into c: 1, 0 when they are not a whole entry of image n as pass 1
 * writes it, -1 out of memory; image n's entry built in b, as bytes
 * (malloc'd) whose last *recs_len are its records (the tail): 0, or -1
 * out of memory. */
size_t sa_cache_entry_bound(const SaEngine *e, uint64_t n);
int sa_cache_entry_decode(const SaEngine *e, uint64_t n, size_t len,
                          const void *recs, size_t recs_len,
                          SaCacheImage *c);
int sa_cache_entry_encode(const SaEngine *e, uint64_t n,
                          const SaCacheImage *b, unsigned char **data,
                          size_t *len, size_t *recs_len);

#endif
