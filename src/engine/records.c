/* Candidate-record store.  See records.h. */
#include "engine/records.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_BYTES ((size_t)4 << 20)
#define WBUF_BYTES ((size_t)1 << 20)
#define RBUF_BYTES ((size_t)1 << 20)

void sa_recstore_init(SaRecStore *st, uint64_t mem_limit,
                      const char *scratch_dir)
{
    memset(st, 0, sizeof *st);
    st->mem_limit = mem_limit;
    st->scratch_dir = scratch_dir;
    st->fd = -1;
}

static int open_spill(SaRecStore *st, SaErr *err)
{
    const char *dir = st->scratch_dir;
    if (!dir || !*dir)
        dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    size_t n = strlen(dir) + 32;
    char *path = malloc(n);
    st->spill_dir = strdup(dir);
    if (!path || !st->spill_dir) {
        free(path);
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    }
    snprintf(path, n, "%s/segaudit-XXXXXX", dir);
    st->fd = mkstemp(path);
    if (st->fd < 0) {
        int e = errno;
        free(path);
        return sa_err(err, SEGAUDIT_EIO,
                      "%s: cannot create a scratch file: %s", dir,
                      strerror(e));
    }
    /* unlinked at once: the space is freed however the process ends */
    unlink(path);
    free(path);
    st->wbuf = malloc(WBUF_BYTES);
    if (!st->wbuf)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    return 0;
}

static int write_all(SaRecStore *st, const unsigned char *p, size_t n,
                     SaErr *err)
{
    while (n > 0) {
        ssize_t w = write(st->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            return sa_err(err, SEGAUDIT_EIO,
                          "scratch file in %s: write failed after %llu "
                          "bytes: %s (use --scratch DIR or a larger "
                          "--memory-limit)",
                          st->spill_dir, (unsigned long long)st->file_bytes,
                          strerror(e));
        }
        p += w;
        n -= (size_t)w;
        st->file_bytes += (uint64_t)w;
    }
    return 0;
}

static int file_append(SaRecStore *st, const unsigned char *p, size_t n,
                       SaErr *err)
{
    if (st->fd < 0) {
        int rc = open_spill(st, err);
        if (rc)
            return rc;
    }
    while (n > 0) {
        size_t take = WBUF_BYTES - st->wlen;
        if (take > n)
            take = n;
        memcpy(st->wbuf + st->wlen, p, take);
        st->wlen += take;
        p += take;
        n -= take;
        if (st->wlen == WBUF_BYTES) {
            int rc = write_all(st, st->wbuf, st->wlen, err);
            if (rc)
                return rc;
            st->wlen = 0;
        }
    }
    return 0;
}

/* Puts chunk c, of cap bytes at data holding len, at the end of the
 * stream. */
static void chunk_push(SaRecStore *st, SaChunk *c, unsigned char *data,
                       size_t len, size_t cap)
{
    c->next = NULL;
    c->data = data;
    c->len = len;
    c->cap = cap;
    if (st->tail)
        st->tail->next = c;
    else
        st->head = c;
    st->tail = c;
    st->mem_bytes += cap;
}

/* A new, empty memory chunk of cap bytes at the end of the stream, or
 * NULL (ENOMEM in err). */
static SaChunk *chunk_add(SaRecStore *st, size_t cap, SaErr *err)
{
    SaChunk *c = malloc(sizeof *c + cap);
    if (!c) {
        sa_err(err, SEGAUDIT_ENOMEM, "out of memory for candidate records "
               "(lower --memory-limit)");
        return NULL;
    }
    /* (sizeof *c is a multiple of 8: the records stay aligned) */
    chunk_push(st, c, (unsigned char *)(c + 1), 0, cap);
    return c;
}

/* The bytes of the whole records at the start of p[0..len) that fit in
 * room: records do not run from one chunk into the next, so that the
 * chunks can be read apart (sa_recreader_open_part). */
static size_t whole_records(const SaRecStore *st, const unsigned char *p,
                            size_t len, size_t room, size_t max_record)
{
    if (len <= room)
        return len;
    if (st->item) /* items of one size */
        return room - room % st->item;
    if (max_record == sizeof(SaRecord)) /* records without details */
        return room - room % sizeof(SaRecord);
    size_t n = 0;
    while (len - n >= sizeof(SaRecord)) {
        SaRecord r;
        memcpy(&r, p + n, sizeof r);
        size_t size = sa_record_size(&r);
        if (size > room - n || size > len - n)
            break;
        n += size;
    }
    return n;
}

int sa_recstore_append(SaRecStore *st, const void *data, size_t len,
                       uint64_t count, size_t max_record, SaErr *err)
{
    const unsigned char *p = data;
    st->count += count;
    st->bytes += len;
    if (max_record > st->max_record)
        st->max_record = max_record;
    /* Memory first, as long as the whole stream so far is in memory: the
     * order of the stream is memory chunks, then the file. */
    size_t cap = CHUNK_BYTES;
    if (st->mem_limit < cap)
        cap = (size_t)st->mem_limit;
    while (len > 0 && st->fd < 0 && cap > 0) {
        SaChunk *c = st->tail;
        size_t take =
            c ? whole_records(st, p, len, c->cap - c->len, max_record) : 0;
        if (take == 0) {
            if (st->mem_bytes + cap > st->mem_limit)
                break;
            if (!(c = chunk_add(st, cap, err)))
                return err->code;
            take = whole_records(st, p, len, cap, max_record);
            if (take == 0) {
                /* a record larger than a chunk: it runs into the next */
                take = len < cap ? len : cap;
                st->straddled = 1;
            }
        }
        memcpy(c->data + c->len, p, take);
        c->len += take;
        p += take;
        len -= take;
    }
    if (len > 0)
        return file_append(st, p, len, err);
    return 0;
}

int sa_recstore_link(SaRecStore *st, const void *data, size_t len,
                     uint64_t count, size_t max_record, SaErr *err)
{
    SaChunk *t = st->tail;
    if (t && t->data == (unsigned char *)(t + 1) && t->len < t->cap) {
        /* the store's own last chunk gets nothing more: its room goes */
        SaChunk *nt = realloc(t, sizeof *t + t->len);
        if (nt) {
            if (st->head == t)
                st->head = nt;
            else
                for (SaChunk *k = st->head; k; k = k->next)
                    if (k->next == t) {
                        k->next = nt;
                        break;
                    }
            st->tail = nt;
            nt->data = (unsigned char *)(nt + 1);
            st->mem_bytes -= nt->cap - nt->len;
            nt->cap = nt->len;
        }
    }
    if (len == 0 || st->fd >= 0 || st->mem_bytes > st->mem_limit ||
        len > st->mem_limit - st->mem_bytes)
        return 0;
    SaChunk *c = malloc(sizeof *c);
    if (!c)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    chunk_push(st, c, (unsigned char *)data, len, len);
    st->count += count;
    st->bytes += len;
    if (max_record > st->max_record)
        st->max_record = max_record;
    return 1;
}

int sa_recstore_truncate(SaRecStore *st, uint64_t bytes, uint64_t count,
                         SaErr *err)
{
    uint64_t mem_used = 0;
    SaChunk *c = st->head, *prev = NULL;
    /* keep the chunks (or the part of one) that hold the first bytes */
    while (c && mem_used + c->len <= bytes) {
        mem_used += c->len;
        prev = c;
        c = c->next;
    }
    if (c && bytes > mem_used) {
        c->len = (size_t)(bytes - mem_used);
        if (c->data != (unsigned char *)(c + 1))
            c->cap = c->len; /* linked: nothing is added to it */
        mem_used = bytes;
        prev = c;
        c = c->next;
    }
    if (c) {
        /* later chunks go; the store keeps its allowance */
        if (prev)
            prev->next = NULL;
        else
            st->head = NULL;
        st->tail = prev;
        while (c) {
            SaChunk *n = c->next;
            free(c);
            c = n;
        }
        /* mem_bytes counts the chunks' room: recount */
        st->mem_bytes = 0;
        for (SaChunk *k = st->head; k; k = k->next)
            st->mem_bytes += k->cap;
    }
    if (st->fd >= 0) {
        uint64_t keep = bytes > mem_used ? bytes - mem_used : 0;
        if (keep >= st->file_bytes) {
            st->wlen = (size_t)(keep - st->file_bytes);
        } else {
            if (ftruncate(st->fd, (off_t)keep) != 0)
                return sa_err(err, SEGAUDIT_EIO,
                              "scratch file: cannot truncate: %s",
                              strerror(errno));
            st->file_bytes = keep;
            st->wlen = 0;
        }
    }
    st->bytes = bytes;
    st->count = count;
    return 0;
}

int sa_recstore_flush(SaRecStore *st, SaErr *err)
{
    if (st->fd >= 0 && st->wlen > 0) {
        int rc = write_all(st, st->wbuf, st->wlen, err);
        if (rc)
            return rc;
        st->wlen = 0;
    }
    return 0;
}

int sa_recstore_finish(SaRecStore *st, SaErr *err)
{
    int rc = sa_recstore_flush(st, err);
    if (rc)
        return rc;
    free(st->wbuf);
    st->wbuf = NULL;
    return 0;
}

int sa_recstore_read_at(const SaRecStore *st, uint64_t off, void *buf,
                        size_t len, SaErr *err)
{
    unsigned char *dst = buf;
    const SaChunk *c = st->head;
    /* the memory chunks first, then the file */
    while (c && len > 0) {
        if (off >= c->len) {
            off -= c->len;
            c = c->next;
            continue;
        }
        size_t take = c->len - (size_t)off < len ? c->len - (size_t)off : len;
        memcpy(dst, c->data + off, take);
        dst += take;
        len -= take;
        off = 0;
        c = c->next;
    }
    while (len > 0) {
        ssize_t got = st->fd >= 0 ? pread(st->fd, dst, len, (off_t)off) : 0;
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return sa_err(err, SEGAUDIT_EIO, "scratch file: read failed: %s",
                          got < 0 ? strerror(errno) : "unexpected end");
        dst += got;
        len -= (size_t)got;
        off += (uint64_t)got;
    }
    return 0;
}

void sa_recstore_free(SaRecStore *st)
{
    SaChunk *c = st->head;
    while (c) {
        SaChunk *n = c->next;
        free(c);
        c = n;
    }
    if (st->fd >= 0)
        close(st->fd);
    free(st->wbuf);
    free(st->spill_dir);
    size_t item = st->item;
    sa_recstore_init(st, st->mem_limit, st->scratch_dir);
    st->item = item;
}

int sa_recreader_open_part(SaRecReader *r, const SaRecStore *st, int part,
                           int parts, SaErr *err)
{
    uint64_t nchunks = 0;
    for (const SaChunk *c = st->head; c; c = c->next)
        nchunks++;
    int rc = sa_recreader_open(r, st, err);
    if (rc || parts <= 1)
        return rc;
    if (st->straddled) {
        /* read whole by the first part */
        if (part > 0) {
            r->chunk = NULL;
            r->file_pos = st->file_bytes;
        }
        return 0;
    }
    uint64_t lo = nchunks * (uint64_t)part / (uint64_t)parts;
    uint64_t hi = nchunks * (uint64_t)(part + 1) / (uint64_t)parts;
    const SaChunk *c = st->head;
    for (uint64_t i = 0; i < lo; i++)
        c = c->next;
    r->chunk = lo < hi ? c : NULL;
    for (uint64_t i = lo; i < hi; i++)
        c = c->next;
    r->end = c;
    if (part < parts - 1)
        r->file_pos = st->file_bytes; /* the file is the last part's */
    return 0;
}

int sa_run_parts(int parts, SaPartFn fn, void *ctx, SaErr *err)
{
    if (parts <= 1)
        return fn(ctx, 0, 1, err);
    int *rcs = calloc((size_t)parts, sizeof *rcs);
    SaErr *errs = calloc((size_t)parts, sizeof *errs);
    int rc = 0;
    if (!rcs || !errs)
        rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    if (rc == 0) {
#pragma omp parallel for num_threads(parts) schedule(static, 1)
        for (int t = 0; t < parts; t++)
            rcs[t] = fn(ctx, t, parts, &errs[t]);
        for (int t = 0; t < parts && rc == 0; t++)
            if (rcs[t])
                rc = sa_err(err, rcs[t], "%s", errs[t].msg);
    }
    free(rcs);
    free(errs);
    return rc;
}

int sa_recreader_open_at(SaRecReader *r, const SaRecStore *st, uint64_t off,
                         SaErr *err)
{
    int rc = sa_recreader_open(r, st, err);
    if (rc)
        return rc;
    const SaChunk *c = st->head;
    while (c && off >= c->len) {
        off -= c->len;
        c = c->next;
    }
    r->chunk = c;
    if (c)
        r->chunk_pos = (size_t)off;
    else
        r->file_pos = off;
    return 0;
}

int sa_recreader_open(SaRecReader *r, const SaRecStore *st, SaErr *err)
{
    memset(r, 0, sizeof *r);
    r->st = st;
    r->chunk = st->head;
    r->buf_cap = RBUF_BYTES;
    if (r->buf_cap < 2 * st->max_record)
        r->buf_cap = 2 * st->max_record;
    r->buf = malloc(r->buf_cap);
    if (!r->buf)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    return 0;
}

/* Moves up to `want` more bytes of the stream into the staging buffer. */
static int refill(SaRecReader *r, SaErr *err)
{
    if (r->buf_pos > 0) {
        memmove(r->buf, r->buf + r->buf_pos, r->buf_len - r->buf_pos);
        r->buf_len -= r->buf_pos;
        r->buf_pos = 0;
    }
    while (r->buf_len < r->buf_cap) {
        size_t room = r->buf_cap - r->buf_len;
        if (r->chunk) {
            size_t avail = r->chunk->len - r->chunk_pos;
            size_t take = avail < room ? avail : room;
            memcpy(r->buf + r->buf_len, r->chunk->data + r->chunk_pos, take);
            r->buf_len += take;
            r->chunk_pos += take;
            if (r->chunk_pos == r->chunk->len) {
                r->chunk = r->chunk->next != r->end ? r->chunk->next
                                                    : NULL;
                r->chunk_pos = 0;
            }
            continue;
        }
        if (r->file_pos >= r->st->file_bytes)
            break;
        uint64_t left = r->st->file_bytes - r->file_pos;
        size_t take = left < room ? (size_t)left : room;
        ssize_t got = pread(r->st->fd, r->buf + r->buf_len, take,
                            (off_t)r->file_pos);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return sa_err(err, SEGAUDIT_EIO,
                          "scratch file: read failed: %s",
                          got < 0 ? strerror(errno) : "unexpected end");
        r->buf_len += (size_t)got;
        r->file_pos += (uint64_t)got;
    }
    return 0;
}

const SaRecord *sa_recreader_next_slow(SaRecReader *r, const SaDetail **det,
                                       SaErr *err)
{
    size_t avail = r->buf_len - r->buf_pos;
    if (avail < sizeof(SaRecord)) {
        if (refill(r, err))
            return NULL;
        avail = r->buf_len - r->buf_pos;
        if (avail == 0)
            return NULL;
        if (avail < sizeof(SaRecord)) {
            sa_err(err, SEGAUDIT_EIO, "scratch file: truncated record");
            return NULL;
        }
    }
    /* records are 8-byte multiples and the buffer is malloc-aligned */
    const SaRecord *rec = (const SaRecord *)(r->buf + r->buf_pos);
    size_t size = sa_record_size(rec);
    if (avail < size) {
        if (refill(r, err))
            return NULL;
        rec = (const SaRecord *)(r->buf + r->buf_pos);
        if (r->buf_len - r->buf_pos < size) {
            sa_err(err, SEGAUDIT_EIO, "scratch file: truncated record");
            return NULL;
        }
    }
    if (det)
        *det = (const SaDetail *)(rec + 1);
    r->buf_pos += size;
    return rec;
}

void sa_recreader_close(SaRecReader *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}
