/* Reading deflate-compressed chunks too large to be inflated whole (a
 * chunk of a whole 4096×4096 image holds 637 MB of float16), in a stream,
 * so that memory stays that of a band.
 *
 * A chunk of (1,K,cH,W) holds its classes one after the other, and the
 * shuffle filter splits each element's bytes into byte planes: the bytes a
 * band needs lie at K (or K × element size) places far apart in the
 * inflated chunk.  A deflate stream cannot be entered in the middle, so
 * the chunk is inflated once from its start (into a small buffer that is
 * thrown away), and the inflater's state is copied (inflateCopy) at the
 * start of each plane: one inflater per plane, each of which then inflates
 * only its own plane, band after band, as the rows are asked for.  That
 * reads and inflates the chunk twice, in bounded memory (one state,
 * window and input buffer per plane).  The first inflation goes on to the
 * stream's end, so a corrupt or short chunk fails before any of its rows
 * are delivered.
 *
 * A few chunks can be read at once (the overlays of several images are
 * drawn at the same time): the states of up to MAX_SLOTS chunks are kept,
 * the least recently used given up first (sa_probs_stream_slots says how
 * many, so that the overlays draw no more images at once).  Rows are
 * delivered forward: the last HIST_ROWS rows of the last band are kept,
 * for a band that starts among them (upsampling's bands overlap by a row
 * or two), but asking for an earlier row of a chunk starts it again. */
#include "io/h5_internal.h"

#include <inttypes.h>
#include <string.h>
#include <stdlib.h>

#include <zlib.h>

#define IN_BYTES ((size_t)16 << 10)   /* each plane's input buffer */
#define MAIN_BYTES ((size_t)256 << 10) /* the first pass's in and out */
#define MAX_PLANES 512
#define SLOTS_BYTES ((uint64_t)64 << 20)
#define MAX_SLOTS 4
/* rows of the last band kept for a band that starts among them */
#define HIST_ROWS 8
/* what zlib holds for an inflater with its window */
#define ZLIB_STATE_BYTES ((size_t)40 << 10)

typedef struct Plane {
    z_stream z;
    int live;       /* z was copied (inflateEnd is due) */
    uint64_t in_at; /* file offset of the next stored byte to read */
    uint8_t *in;    /* IN_BYTES */
} Plane;

typedef struct Slot {
    uint64_t image, crow; /* the chunk (image UINT64_MAX: free) */
    uint64_t next;        /* the chunk row the planes have reached */
    uint64_t tick;        /* last use */
    uint64_t end;         /* file offset just past the chunk */
    int raw;              /* stored without deflate: planes are offsets */
    int shuffled;
    int np;
    Plane *pl;
    /* the rows last delivered, [hist_r0, next): hist_n rows of each
     * class, [K][hist_n][W] */
    uint8_t *hist;
    size_t hist_cap;
    uint64_t hist_r0, hist_n;
} Slot;

struct SaStreamSlots {
    int nslots;
    uint64_t tick;
    Slot slot[MAX_SLOTS];
    uint8_t *main_in, *main_out; /* MAIN_BYTES each */
    uint8_t *stage;              /* a piece's byte planes, to interleave */
    size_t stage_cap;
};

static uint64_t stream_above = (uint64_t)16 << 20;

void sa_probs_stream_above(uint64_t bytes) { stream_above = bytes; }

static int planes_of(const SaProbs *p)
{
    uint64_t np = p->dims[1] * (p->shuffled >= 0 ? p->elsize : 1);
    return np > MAX_PLANES ? 0 : (int)np;
}

int sa_probs_stream_wanted(const SaProbs *p)
{
    return p->chunk_bytes > stream_above;
}

int sa_probs_stream_possible(const SaProbs *p) { return planes_of(p) > 0; }

int sa_probs_stream_slots(const SaProbs *p)
{
    if (p->direct != SA_DIRECT_STREAM)
        return 0;
    /* at least two: a band over two chunk rows, and one that starts
     * among the last band's rows of the chunk row before */
    uint64_t per = (uint64_t)planes_of(p) *
                   (sizeof(Plane) + ZLIB_STATE_BYTES + IN_BYTES);
    uint64_t n = per ? SLOTS_BYTES / per : MAX_SLOTS;
    return n < 2 ? 2 : n > MAX_SLOTS ? MAX_SLOTS : (int)n;
}

static void slot_reset(Slot *s)
{
    if (s->pl) {
        for (int j = 0; j < s->np; j++) {
            if (s->pl[j].live)
                inflateEnd(&s->pl[j].z);
            free(s->pl[j].in);
        }
        free(s->pl);
    }
    free(s->hist);
    memset(s, 0, sizeof *s);
    s->image = UINT64_MAX;
}

void sa_probs_stream_free(SaProbs *p)
{
    SaStreamSlots *ss = p->streams;
    if (!ss)
        return;
    for (int i = 0; i < ss->nslots; i++)
        slot_reset(&ss->slot[i]);
    free(ss->main_in);
    free(ss->main_out);
    free(ss->stage);
    free(ss);
    p->streams = NULL;
}

static SaStreamSlots *slots_of(SaProbs *p)
{
    if (p->streams)
        return p->streams;
    SaStreamSlots *ss = calloc(1, sizeof *ss);
    if (!ss)
        return NULL;
    ss->nslots = sa_probs_stream_slots(p);
    for (int i = 0; i < ss->nslots; i++)
        slot_reset(&ss->slot[i]);
    ss->main_in = malloc(MAIN_BYTES);
    ss->main_out = malloc(MAIN_BYTES);
    if (!ss->main_in || !ss->main_out) {
        free(ss->main_in);
        free(ss->main_out);
        free(ss);
        return NULL;
    }
    p->streams = ss;
    return ss;
}

static int corrupt(const SaProbs *p, uint64_t n, uint64_t c, const char *why,
                   SaErr *err)
{
    return sa_probs_corrupt(p, n, c * p->chunk[2], why, err);
}

static int zfail(const SaProbs *p, uint64_t n, uint64_t c, int zr,
                 const z_stream *z, SaErr *err)
{
    if (zr == Z_MEM_ERROR)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    return corrupt(p, n, c, z->msg ? z->msg : "bad deflate data", err);
}

/* When z has no input left, reads the next stored bytes of s's chunk from
 * *in_at on (up to cap, none past the chunk's end) into buf for it. */
static int refill(SaProbs *p, const Slot *s, z_stream *z, uint8_t *buf,
                  size_t cap, uint64_t *in_at, uint64_t *bytes, SaErr *err)
{
    if (z->avail_in > 0 || *in_at >= s->end)
        return 0;
    uint64_t len = s->end - *in_at < cap ? s->end - *in_at : cap;
    int rc = sa_probs_pread(p, buf, len, *in_at, s->image,
                            s->crow * p->chunk[2], p->chunk[2], bytes, err);
    if (rc == 0) {
        *in_at += len;
        z->next_in = buf;
        z->avail_in = (uInt)len;
    }
    return rc;
}

/* Inflates the chunk from its start through the end of its stream,
 * copying the inflater at each plane's start. */
static int first_pass(SaProbs *p, SaStreamSlots *ss, Slot *s, uint64_t at,
                      uint64_t plane_len, uint64_t *bytes, SaErr *err)
{
    const uint64_t n = s->image, c = s->crow, need = p->chunk_bytes;
    z_stream z;
    memset(&z, 0, sizeof z);
    int zr = inflateInit(&z);
    if (zr != Z_OK)
        return zfail(p, n, c, zr, &z, err);
    uint64_t in_at = at, pos = 0;
    int rc = 0;
    for (int j = 0; j <= s->np && rc == 0; j++) {
        /* up to plane j's start; after the last plane, to the end */
        uint64_t target = j < s->np ? (uint64_t)j * plane_len : need;
        for (;;) {
            uint64_t left = target - pos;
            if (j < s->np && left == 0)
                break;
            if ((rc = refill(p, s, &z, ss->main_in, MAIN_BYTES, &in_at,
                             bytes, err)) != 0)
                break;
            /* past the last plane: one byte more than is due shows a
             * stream that inflates to too much */
            uint64_t room = j < s->np ? left : left + 1;
            z.next_out = ss->main_out;
            z.avail_out = (uInt)(room < MAIN_BYTES ? room : MAIN_BYTES);
            uInt had = z.avail_out, had_in = z.avail_in;
            zr = inflate(&z, Z_NO_FLUSH);
            pos += had - z.avail_out;
            if (zr == Z_STREAM_END) {
                if (pos != need || j < s->np)
                    rc = corrupt(p, n, c, "wrong size", err);
                break;
            }
            if (pos > need) {
                rc = corrupt(p, n, c, "wrong size", err);
                break;
            }
            if (zr == Z_BUF_ERROR && z.avail_in == 0 && had_in == 0 &&
                in_at >= s->end) {
                rc = corrupt(p, n, c, "cut short", err);
                break;
            }
            if (zr != Z_OK && zr != Z_BUF_ERROR) {
                rc = zfail(p, n, c, zr, &z, err);
                break;
            }
        }
        if (rc || j == s->np)
            break;
        Plane *pl = &s->pl[j];
        if ((zr = inflateCopy(&pl->z, &z)) != Z_OK) {
            rc = zfail(p, n, c, zr, &z, err);
            break;
        }
        pl->live = 1;
        /* this pass checks the whole stream's Adler-32; the planes inflate
         * the same bytes again and need not */
        inflateValidate(&pl->z, 0);
        /* the copy goes on from the first byte not yet consumed */
        pl->in_at = in_at - z.avail_in;
        pl->z.next_in = NULL;
        pl->z.avail_in = 0;
    }
    inflateEnd(&z);
    return rc;
}

/* Makes s hold chunk row c of image n, its planes at its first row. */
static int slot_start(SaProbs *p, SaStreamSlots *ss, Slot *s, uint64_t n,
                      uint64_t c, uint64_t *bytes, SaErr *err)
{
    slot_reset(s);
    uint64_t at = 0, size = 0;
    unsigned mask = 0;
    int rc = sa_probs_chunk_at(p, n, c, &at, &size, &mask, err);
    if (rc)
        return rc;
    const uint64_t K = p->dims[1], el = p->elsize;
    const uint64_t plane_cells = K ? p->chunk_bytes / el / K : 0;
    s->raw = (mask >> p->deflated) & 1;
    s->shuffled = p->shuffled >= 0 && !((mask >> p->shuffled) & 1);
    s->np = (int)(K * (s->shuffled ? el : 1));
    const uint64_t plane_len = plane_cells * (s->shuffled ? 1 : el);
    s->end = at + size;
    s->image = n;
    s->crow = c;
    if (s->raw && size != p->chunk_bytes) {
        slot_reset(s);
        return sa_err(err, SEGAUDIT_EINPUT, "%s: image %" PRIu64 ": an "
                      "uncompressed chunk holds %" PRIu64 " bytes, not %"
                      PRIu64, p->where, n, size, p->chunk_bytes);
    }
    if (!(s->pl = calloc((size_t)s->np, sizeof *s->pl))) {
        slot_reset(s);
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    }
    for (int j = 0; j < s->np; j++) {
        s->pl[j].in_at = at + (uint64_t)j * plane_len;
        if (!s->raw && !(s->pl[j].in = malloc(IN_BYTES))) {
            slot_reset(s);
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        }
    }
    if (!s->raw && (rc = first_pass(p, ss, s, at, plane_len, bytes, err))) {
        slot_reset(s);
        return rc;
    }
    return 0;
}

/* The next len bytes of plane j into dst (NULL: thrown away). */
static int plane_take(SaProbs *p, SaStreamSlots *ss, Slot *s, int j,
                      uint8_t *dst, uint64_t len, uint64_t *bytes, SaErr *err)
{
    Plane *pl = &s->pl[j];
    const uint64_t n = s->image, c = s->crow, r = c * p->chunk[2];
    if (s->raw) {
        int rc = 0;
        if (dst)
            rc = sa_probs_pread(p, dst, len, pl->in_at, n, r, p->chunk[2],
                                bytes, err);
        pl->in_at += len;
        return rc;
    }
    while (len > 0) {
        uint8_t *out = dst ? dst : ss->main_out;
        uint64_t part = dst || len < MAIN_BYTES ? len : MAIN_BYTES;
        if (part > UINT32_MAX)
            part = UINT32_MAX;
        pl->z.next_out = out;
        pl->z.avail_out = (uInt)part;
        while (pl->z.avail_out > 0) {
            int rc = refill(p, s, &pl->z, pl->in, IN_BYTES, &pl->in_at,
                            bytes, err);
            if (rc)
                return rc;
            if (pl->z.avail_in == 0)
                return corrupt(p, n, c, "cut short", err);
            int zr = inflate(&pl->z, Z_NO_FLUSH);
            if (zr == Z_STREAM_END && pl->z.avail_out > 0)
                return corrupt(p, n, c, "wrong size", err);
            if (zr == Z_STREAM_END)
                break;
            if (zr != Z_OK && zr != Z_BUF_ERROR)
                return zfail(p, n, c, zr, &pl->z, err);
        }
        len -= part;
        if (dst)
            dst += part;
    }
    return 0;
}

/* Rows of chunk row c that lie in the image. */
static uint64_t rows_in(const SaProbs *p, uint64_t c)
{
    uint64_t cH = p->chunk[2], left = p->dims[2] - c * cH;
    return left < cH ? left : cH;
}

/* The slot holding chunk row c of image n at row rr or before it, or
 * with row rr among the rows it last delivered. */
static Slot *slot_for(SaProbs *p, SaStreamSlots *ss, uint64_t n, uint64_t c,
                      uint64_t rr, uint64_t *bytes, SaErr *err, int *rc)
{
    Slot *pick = NULL;
    for (int i = 0; i < ss->nslots; i++) {
        Slot *s = &ss->slot[i];
        if (s->image == n && s->crow == c) {
            if (s->next <= rr || (s->hist_n && rr >= s->hist_r0))
                return s;
            pick = s; /* an earlier row: start the chunk again */
            break;
        }
    }
    /* a free slot; else one whose chunk was read to its end, but for the
     * chunk row just before this one (a band may reach back into its
     * last rows); else the least recently used */
    for (int i = 0; !pick && i < ss->nslots; i++)
        if (ss->slot[i].image == UINT64_MAX)
            pick = &ss->slot[i];
    for (int i = 0; !pick && i < ss->nslots; i++) {
        const Slot *o = &ss->slot[i];
        if (o->next >= rows_in(p, o->crow) &&
            !(o->image == n && o->crow + 1 == c))
            pick = &ss->slot[i];
    }
    if (!pick) {
        pick = &ss->slot[0];
        for (int i = 1; i < ss->nslots; i++)
            if (ss->slot[i].tick < pick->tick)
                pick = &ss->slot[i];
    }
    *rc = slot_start(p, ss, pick, n, c, bytes, err);
    return *rc ? NULL : pick;
}

/* Rows [a, a+nr) of slot s's chunk, streamed, into out at row `done` of
 * each class (out holds nrows rows per class). */
static int stream_rows(SaProbs *p, SaStreamSlots *ss, Slot *s, uint64_t a,
                       uint64_t nr, uint8_t *out, uint64_t nrows,
                       uint64_t done, SaErr *err)
{
    const uint64_t K = p->dims[1], W = p->dims[3], el = p->elsize;
    const uint64_t row = W * el, cells = nr * W;
    int rc = 0;
    /* rows skipped since the last band (none when reading in order) */
    uint64_t skip = (a - s->next) * W * (s->shuffled ? 1 : el);
    for (int j = 0; j < s->np && skip && rc == 0; j++)
        rc = plane_take(p, ss, s, j, NULL, skip, &p->bytes_read, err);
    if (s->shuffled && rc == 0 &&
        sa_grow((void **)&ss->stage, &ss->stage_cap, (size_t)(cells * el)))
        rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    for (uint64_t k = 0; k < K && rc == 0; k++) {
        uint8_t *d = out + (k * nrows + done) * row;
        if (!s->shuffled) {
            rc = plane_take(p, ss, s, (int)k, d, cells * el, &p->bytes_read,
                            err);
            continue;
        }
        for (uint64_t b = 0; b < el && rc == 0; b++)
            rc = plane_take(p, ss, s, (int)(b * K + k), ss->stage + b * cells,
                            cells, &p->bytes_read, err);
        if (rc == 0)
            sa_unshuffle(d, ss->stage, cells, cells, el);
    }
    return rc;
}

int sa_probs_stream_read(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nrows,
                         void *dst, SaErr *err)
{
    SaStreamSlots *ss = slots_of(p);
    if (!ss)
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    const uint64_t K = p->dims[1], row = p->dims[3] * p->elsize;
    const uint64_t cH = p->chunk[2];
    uint8_t *out = dst;
    int rc = 0;
    for (uint64_t r = r0; r < r0 + nrows && rc == 0;) {
        uint64_t c = r / cH, rr = r % cH, run = cH - rr;
        if (run > r0 + nrows - r)
            run = r0 + nrows - r;
        Slot *s = slot_for(p, ss, n, c, rr, &p->bytes_read, err, &rc);
        if (!s)
            break;
        s->tick = ++ss->tick;
        const uint64_t done = r - r0;
        /* rows already delivered (bands that overlap, as upsampling's
         * do): from the last piece's copy */
        uint64_t old = 0;
        if (rr < s->next) {
            old = (s->next < rr + run ? s->next : rr + run) - rr;
            for (uint64_t k = 0; k < K; k++)
                memcpy(out + (k * nrows + done) * row,
                       s->hist + (k * s->hist_n + rr - s->hist_r0) * row,
                       (size_t)(old * row));
        }
        if (old < run) {
            rc = stream_rows(p, ss, s, rr + old, run - old, out, nrows,
                             done + old, err);
            /* this piece's last rows, for a next band that starts among
             * them */
            const uint64_t keep = run < HIST_ROWS ? run : HIST_ROWS;
            size_t need = (size_t)(K * keep * row);
            if (rc == 0 && sa_grow((void **)&s->hist, &s->hist_cap, need))
                rc = sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
            if (rc) {
                slot_reset(s);
                break;
            }
            for (uint64_t k = 0; k < K; k++)
                memcpy(s->hist + k * keep * row,
                       out + (k * nrows + done + run - keep) * row,
                       (size_t)(keep * row));
            s->hist_r0 = rr + run - keep;
            s->hist_n = keep;
            s->next = rr + run;
        }
        r += run;
    }
    return rc;
}
