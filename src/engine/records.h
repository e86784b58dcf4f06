/* The candidate-record store: an append-only byte stream of SaRecord
 * entries (with their SaDetail tails), or of items of one size (`item`),
 * kept in memory up to a limit and
 * continued in an unlinked scratch file beyond it, then read back
 * sequentially any number of times.
 *
 * Appends come from one thread (the engine's aggregator), in band order, so
 * the stream is sorted by (image, pixel).  Readers are independent. */
#ifndef SA_RECORDS_H
#define SA_RECORDS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "kernel/kernels.h"

/* A memory chunk of the store: whole records (or items), 8-byte aligned,
 * in memory of its own, or in memory that the store only links to
 * (sa_recstore_link: cap == len, nothing more is added to it). */
typedef struct SaChunk SaChunk;
struct SaChunk {
    SaChunk *next;
    unsigned char *data;
    size_t len, cap;
};

typedef struct SaRecStore {
    SaChunk *head, *tail;     /* in-memory chunks, in order */
    uint64_t mem_bytes;       /* bytes held in chunks */
    uint64_t mem_limit;       /* beyond this, bytes go to the file */
    const char *scratch_dir;  /* where the spill file is created (NULL:
                                 $TMPDIR, else /tmp) */
    char *spill_dir;          /* the folder actually used, for messages */
    int fd;                   /* spill file (unlinked), or -1 */
    uint64_t file_bytes;      /* bytes written to the file */
    unsigned char *wbuf;      /* write buffer for the file */
    size_t wlen;
    uint64_t count;           /* records */
    uint64_t bytes;           /* total bytes */
    size_t max_record;        /* largest record, for readers' buffers */
    int straddled;            /* a record runs from one chunk into the
                                 next (larger than a chunk) */
    size_t item;              /* 0: SaRecord entries with their details;
                                 otherwise items of this many bytes (set
                                 after init; kept by free) */
} SaRecStore;

void sa_recstore_init(SaRecStore *st, uint64_t mem_limit,
                      const char *scratch_dir);
/* Appends len bytes holding `count` whole records, the largest of which is
 * at most max_record bytes.  Errors: ENOMEM, EIO (spill file: the message
 * names the scratch folder). */
int sa_recstore_append(SaRecStore *st, const void *data, size_t len,
                       uint64_t count, size_t max_record, SaErr *err);
/* Links len bytes of `count` whole records at data (8-byte aligned; they
 * stay there, unchanged, until the store is freed) to the end of the
 * stream, as a chunk of their own, without copying them.  Returns 1 when
 * linked, 0 when the bytes would not be in memory (they are then to be
 * appended), or an error (ENOMEM).  Linked bytes count against the
 * memory limit like the store's own. */
int sa_recstore_link(SaRecStore *st, const void *data, size_t len,
                     uint64_t count, size_t max_record, SaErr *err);
/* Drops everything appended after the stream held `bytes` bytes in
 * `count` records (a point noted earlier).  Before finish only. */
int sa_recstore_truncate(SaRecStore *st, uint64_t bytes, uint64_t count,
                         SaErr *err);

/* Writes buffered file bytes, so that what was appended so far can be
 * read with sa_recstore_read_at; appends may continue. */
int sa_recstore_flush(SaRecStore *st, SaErr *err);
/* Flushes buffered file bytes; call once before reading. */
int sa_recstore_finish(SaRecStore *st, SaErr *err);
/* Copies len bytes from byte offset off of the stream (after finish). */
int sa_recstore_read_at(const SaRecStore *st, uint64_t off, void *buf,
                        size_t len, SaErr *err);

/* Frees memory, closes (and so removes) the scratch file. */
void sa_recstore_free(SaRecStore *st);

typedef struct SaRecReader {
    const SaRecStore *st;
    const SaChunk *chunk;     /* current memory chunk */
    const SaChunk *end;       /* the chunk after the reader's last one */
    size_t chunk_pos;
    uint64_t file_pos;
    unsigned char *buf;       /* staging buffer for records */
    size_t buf_cap, buf_len, buf_pos;
} SaRecReader;

int sa_recreader_open(SaRecReader *r, const SaRecStore *st, SaErr *err);
/* Next record (and its details through *det), NULL at the end or on error
 * (then err->code != 0).  Pointers stay valid until the next call. */
const SaRecord *sa_recreader_next_slow(SaRecReader *r, const SaDetail **det,
                                       SaErr *err);
static inline const SaRecord *sa_recreader_next(SaRecReader *r,
                                                const SaDetail **det,
                                                SaErr *err)
{
    /* a record wholly inside a memory chunk is read where it is (the
     * chunk's bytes start 8-byte aligned; records are 8-byte multiples and
     * never run from one chunk into the next) */
    const SaChunk *c = r->chunk;
    if (r->buf_len == r->buf_pos && c &&
        c->len - r->chunk_pos >= sizeof(SaRecord)) {
        const SaRecord *rec = (const SaRecord *)(c->data + r->chunk_pos);
        size_t size = sa_record_size(rec);
        if (c->len - r->chunk_pos >= size) {
            if (det)
                *det = (const SaDetail *)(rec + 1);
            r->chunk_pos += size;
            if (r->chunk_pos == c->len) {
                r->chunk = c->next != r->end ? c->next : NULL;
                r->chunk_pos = 0;
            }
            return rec;
        }
    }
    return sa_recreader_next_slow(r, det, err);
}

/* The next run of whole records, *len bytes (NULL at the end or on error,
 * then err->code != 0): the rest of a memory chunk where records are
 * whole in each chunk, otherwise one record.  Valid until the next call;
 * not to be mixed with sa_recreader_next on one reader. */
static inline const unsigned char *sa_recreader_span(SaRecReader *r,
                                                     size_t *len, SaErr *err)
{
    const SaChunk *c = r->chunk;
    if (r->buf_len == r->buf_pos && c && !r->st->straddled &&
        c->len > r->chunk_pos) {
        const unsigned char *p = c->data + r->chunk_pos;
        *len = c->len - r->chunk_pos;
        r->chunk = c->next != r->end ? c->next : NULL;
        r->chunk_pos = 0;
        return p;
    }
    const SaRecord *rec = sa_recreader_next(r, NULL, err);
    *len = rec ? sa_record_size(rec) : 0;
    return (const unsigned char *)rec;
}

/* A reader's records one at a time, taken a run at a time
 * (sa_recreader_span) and read where they are, with a software prefetch
 * ahead: in the long scans of pass 2 the hardware prefetcher does not
 * keep up.  Start as {&reader} (zeroed run); details follow each record. */
typedef struct SaRecCursor {
    SaRecReader *rd;
    const unsigned char *run;
    size_t len, off;
} SaRecCursor;

static inline const SaRecord *sa_reccursor_next(SaRecCursor *c, SaErr *err)
{
    if (c->off == c->len) {
        c->run = sa_recreader_span(c->rd, &c->len, err);
        c->off = 0;
        if (!c->run)
            return NULL;
    }
    const SaRecord *r = (const SaRecord *)(c->run + c->off);
    __builtin_prefetch(c->run + c->off + 1024);
    c->off += sa_record_size(r);
    return r;
}
void sa_recreader_close(SaRecReader *r);

/* Runs fn(ctx, part, parts, err_part) for every part on a thread of its
 * own (one call on this thread when parts <= 1, with err itself); each
 * part has its own error sink, and the first part that failed, in part
 * order, gives the code and the message in err. */
typedef int (*SaPartFn)(void *ctx, int part, int parts, SaErr *err);
int sa_run_parts(int parts, SaPartFn fn, void *ctx, SaErr *err);

/* A reader from byte offset off of the stream (where a record starts). */
int sa_recreader_open_at(SaRecReader *r, const SaRecStore *st, uint64_t off,
                         SaErr *err);

/* A reader of part `part` of `parts` of the stream, for reading it on
 * several threads: the parts together are the whole stream, each in
 * order and the parts in order (part 0 first).  Records do not run from
 * one memory chunk into the next, so the parts are whole chunks, and the
 * scratch file is the last part's. */
int sa_recreader_open_part(SaRecReader *r, const SaRecStore *st, int part,
                           int parts, SaErr *err);

#endif
