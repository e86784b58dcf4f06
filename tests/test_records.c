/* Unit tests of src/engine/records.c (the candidate-record store: memory chunks,
 * then an unlinked scratch file, read back sequentially) and src/engine/select.c
 * (exact k-th smallest record by (s, image, pixel)).
 *
 * Every record written is kept in a plain buffer so that what is read back
 * can be compared byte for byte; selection is checked against a qsort of
 * the same records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/zalloc.h"
#include "engine/records.h"
#include "engine/select.h"

/* ---- Helpers ------------------------------------------------------------ */

static uint64_t g_rng = 0x243f6a8885a308d3ull;

static uint64_t rng_next(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545f4914f6cdd1dull;
}

static double rng_unif(void)
{
    return (double)(rng_next() >> 11) * 0x1p-53;
}

/* A growable byte stream of records, the reference copy. */
typedef struct Stream {
    unsigned char *data;
    size_t len, cap;
    uint64_t count;
    size_t *offs;      /* offset of each record */
    size_t offs_cap;
    size_t max_record;
} Stream;

static void stream_free(Stream *s)
{
    free(s->data);
    free(s->offs);
    memset(s, 0, sizeof *s);
}

/* Appends one record with nd details (random detail contents). */
static void stream_add(Stream *s, double sv, uint32_t image, uint32_t pixel,
                       uint16_t nd)
{
    SaRecord r;
    memset(&r, 0, sizeof r);
    r.s = sv;
    r.phat = rng_unif();
    r.image = image;
    r.pixel = pixel;
    r.label = (uint16_t)rng_next();
    r.pred = (uint16_t)rng_next();
    r.ndetail = nd;
    r.flags = (uint16_t)(rng_next() & 1);
    size_t size = sa_record_size(&r);
    if (s->len + size > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + size)
            cap *= 2;
        s->data = realloc(s->data, cap);
        assert_non_null(s->data);
        s->cap = cap;
    }
    if (s->count == s->offs_cap) {
        s->offs_cap = s->offs_cap ? 2 * s->offs_cap : 1024;
        s->offs = realloc(s->offs, s->offs_cap * sizeof *s->offs);
        assert_non_null(s->offs);
    }
    s->offs[s->count++] = s->len;
    memcpy(s->data + s->len, &r, sizeof r);
    SaDetail *d = (SaDetail *)(s->data + s->len + sizeof r);
    for (size_t i = 0; i < nd; i++) {
        uint64_t u = rng_next();
        d[i].pos = (uint16_t)u;
        d[i].label = (uint16_t)(u >> 16);
        d[i].pred = (uint16_t)(u >> 32);
        d[i].pad = 0;
    }
    s->len += size;
    if (size > s->max_record)
        s->max_record = size;
}

/* Adds records [from, to) of s to the store in one call: appended, or
 * linked where they are (as the cache's records are: 1 when linked, 0
 * when the store declined). */
static int store_range(SaRecStore *st, const Stream *s, uint64_t from,
                       uint64_t to, int link, SaErr *err)
{
    size_t a = s->offs[from];
    size_t b = to < s->count ? s->offs[to] : s->len;
    size_t maxr = 0;
    for (uint64_t i = from; i < to; i++) {
        size_t sz = sa_record_size((const SaRecord *)(s->data + s->offs[i]));
        if (sz > maxr)
            maxr = sz;
    }
    return link ? sa_recstore_link(st, s->data + a, b - a, to - from, maxr,
                                   err)
                : sa_recstore_append(st, s->data + a, b - a, to - from, maxr,
                                     err);
}

static int store_append_range(SaRecStore *st, const Stream *s, uint64_t from,
                              uint64_t to, SaErr *err)
{
    return store_range(st, s, from, to, 0, err);
}

/* Appends all of s in batches of 1..maxbatch records (like the engine's
 * bands); calls check() after every batch when given. */
static void store_append_all(SaRecStore *st, const Stream *s,
                             uint64_t maxbatch, void (*check)(SaRecStore *))
{
    uint64_t i = 0;
    while (i < s->count) {
        uint64_t n = 1 + rng_next() % maxbatch;
        if (n > s->count - i)
            n = s->count - i;
        SaErr err = {0};
        int rc = store_append_range(st, s, i, i + n, &err);
        if (rc)
            fail_msg("append: %d %s", rc, err.msg);
        i += n;
        if (check)
            check(st);
    }
}

/* Reads the whole store and compares it with s, byte for byte. */
static void check_read_back(const SaRecStore *st, const Stream *s)
{
    SaErr err = {0};
    SaRecReader rd;
    assert_int_equal(sa_recreader_open(&rd, st, &err), 0);
    for (uint64_t i = 0; i < s->count; i++) {
        const SaDetail *det = NULL;
        const SaRecord *r = sa_recreader_next(&rd, &det, &err);
        if (!r)
            fail_msg("record %llu of %llu: end of stream (%d %s)",
                     (unsigned long long)i, (unsigned long long)s->count,
                     err.code, err.msg);
        const SaRecord *want = (const SaRecord *)(s->data + s->offs[i]);
        if (memcmp(r, want, sizeof *r) != 0)
            fail_msg("record %llu differs: s %.17g/%.17g image %u/%u pixel "
                     "%u/%u ndetail %u/%u", (unsigned long long)i, r->s,
                     want->s, r->image, want->image, r->pixel, want->pixel,
                     r->ndetail, want->ndetail);
        assert_ptr_equal(det, (const SaDetail *)(r + 1));
        if (r->ndetail &&
            memcmp(det, want + 1, r->ndetail * sizeof(SaDetail)) != 0)
            fail_msg("details of record %llu differ (ndetail %u)",
                     (unsigned long long)i, r->ndetail);
    }
    assert_null(sa_recreader_next(&rd, NULL, &err));
    assert_int_equal(err.code, 0);
    assert_null(sa_recreader_next(&rd, NULL, &err)); /* stays at the end */
    assert_int_equal(err.code, 0);
    sa_recreader_close(&rd);
}

/* Reads the store in `parts` parts, one after another, and compares the
 * records they give, in part order, with s. */
static void check_read_parts(const SaRecStore *st, const Stream *s, int parts)
{
    SaErr err = {0};
    uint64_t i = 0;
    for (int p = 0; p < parts; p++) {
        SaRecReader rd;
        assert_int_equal(sa_recreader_open_part(&rd, st, p, parts, &err), 0);
        const SaDetail *det = NULL;
        const SaRecord *r;
        while ((r = sa_recreader_next(&rd, &det, &err)) != NULL) {
            if (i == s->count)
                fail_msg("part %d of %d: a record past the end", p, parts);
            const SaRecord *want = (const SaRecord *)(s->data + s->offs[i]);
            if (memcmp(r, want, sa_record_size(want)) != 0)
                fail_msg("part %d of %d: record %llu differs", p, parts,
                         (unsigned long long)i);
            assert_ptr_equal(det, (const SaDetail *)(r + 1));
            i++;
        }
        assert_int_equal(err.code, 0);
        sa_recreader_close(&rd);
    }
    if (i != s->count)
        fail_msg("%d parts gave %llu records of %llu", parts,
                 (unsigned long long)i, (unsigned long long)s->count);
}

/* Entries of a folder other than . and .. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static char g_dir[256];

static void make_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/sa_test_records_XXXXXX", tmp);
    assert_non_null(mkdtemp(g_dir));
}

static void remove_dir(void)
{
    assert_int_equal(dir_entries(g_dir), 0);
    assert_int_equal(rmdir(g_dir), 0);
}

static void check_dir_empty(SaRecStore *st)
{
    (void)st;
    if (dir_entries(g_dir) != 0)
        fail_msg("scratch folder %s is not empty while the store is open",
                 g_dir);
}

/* A stream of n records with 0..maxdet details each. */
static void random_stream(Stream *s, uint64_t n, uint16_t maxdet)
{
    memset(s, 0, sizeof *s);
    for (uint64_t i = 0; i < n; i++) {
        uint16_t nd = maxdet ? (uint16_t)(rng_next() % (maxdet + 1u)) : 0;
        if (rng_next() % 4 == 0)
            nd = 0;
        stream_add(s, rng_unif(), (uint32_t)(i / 1000), (uint32_t)(i % 1000),
                   nd);
    }
}

/* ---- Store ---------------------------------------------------------------- */

static void test_store_spill(void **state)
{
    (void)state;
    make_dir();
    Stream s;
    random_stream(&s, 8000, 40); /* ~1.5 MB */
    SaRecStore st;
    sa_recstore_init(&st, 65536, g_dir);
    assert_int_equal(st.fd, -1);
    store_append_all(&st, &s, 60, check_dir_empty);
    assert_true(st.fd >= 0);
    assert_int_equal(st.count, s.count);
    assert_int_equal(st.bytes, s.len);
    assert_true(st.mem_bytes <= 65536);
    assert_int_equal(st.max_record, s.max_record);
    SaErr err = {0};
    assert_int_equal(sa_recstore_finish(&st, &err), 0);
    assert_int_equal(err.code, 0);
    /* most of the stream is in the file; memory holds at most the limit */
    assert_true(st.file_bytes > 0);
    assert_true(st.file_bytes >= s.len - 65536);
    assert_true(st.file_bytes <= s.len);
    assert_true(st.file_bytes * 10 > s.len * 9);
    check_dir_empty(&st);

    check_read_back(&st, &s);
    check_read_back(&st, &s); /* any number of times */

    /* two independent readers, interleaved */
    SaRecReader a, b;
    assert_int_equal(sa_recreader_open(&a, &st, &err), 0);
    assert_int_equal(sa_recreader_open(&b, &st, &err), 0);
    for (uint64_t i = 0; i < s.count; i++) {
        const SaRecord *ra = sa_recreader_next(&a, NULL, &err);
        assert_non_null(ra);
        assert_memory_equal(ra, s.data + s.offs[i], sa_record_size(ra));
        if (i % 3 == 0) {
            const SaRecord *rb = sa_recreader_next(&b, NULL, &err);
            assert_non_null(rb);
            assert_memory_equal(rb, s.data + s.offs[i / 3],
                                sa_record_size(rb));
        }
    }
    assert_null(sa_recreader_next(&a, NULL, &err));
    assert_int_equal(err.code, 0);
    sa_recreader_close(&a);
    sa_recreader_close(&b);
    check_dir_empty(&st);

    sa_recstore_free(&st);
    assert_int_equal(st.fd, -1);
    assert_int_equal(st.count, 0);
    remove_dir();
    stream_free(&s);
}

/* A limit that cuts records: the stream continues in the file mid-record. */
static void test_store_odd_limit(void **state)
{
    (void)state;
    const uint64_t limits[] = {1, 31, 100, 4095, 65537};
    for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
        make_dir();
        Stream s;
        random_stream(&s, 3000, 5);
        SaRecStore st;
        sa_recstore_init(&st, limits[li], g_dir);
        store_append_all(&st, &s, 7, NULL);
        SaErr err = {0};
        assert_int_equal(sa_recstore_finish(&st, &err), 0);
        assert_true(st.mem_bytes <= limits[li]);
        assert_true(st.file_bytes >= s.len - limits[li]);
        check_read_back(&st, &s);
        check_read_back(&st, &s);
        sa_recstore_free(&st);
        remove_dir();
        stream_free(&s);
    }
}

/* Several memory chunks (4 MB each) before the file. */
static void test_store_chunks_then_file(void **state)
{
    (void)state;
    make_dir();
    Stream s;
    random_stream(&s, 60000, 60); /* ~12 MB */
    assert_true(s.len > (size_t)9 << 20);
    SaRecStore st;
    sa_recstore_init(&st, (uint64_t)9 << 20, g_dir);
    store_append_all(&st, &s, 500, NULL);
    SaErr err = {0};
    assert_int_equal(sa_recstore_finish(&st, &err), 0);
    assert_true(st.mem_bytes > (uint64_t)4 << 20);
    assert_true(st.mem_bytes <= (uint64_t)9 << 20);
    assert_true(st.file_bytes > 0);
    assert_int_equal(st.file_bytes + (s.len - st.file_bytes), s.len);
    check_dir_empty(&st);
    check_read_back(&st, &s);
    sa_recstore_free(&st);
    remove_dir();
    stream_free(&s);
}

static void test_store_memory_only(void **state)
{
    (void)state;
    make_dir();
    Stream s;
    random_stream(&s, 8000, 40);
    SaRecStore st;
    sa_recstore_init(&st, (uint64_t)1 << 30, g_dir);
    store_append_all(&st, &s, 60, check_dir_empty);
    SaErr err = {0};
    assert_int_equal(sa_recstore_finish(&st, &err), 0);
    assert_int_equal(st.file_bytes, 0);
    assert_int_equal(st.fd, -1);
    assert_int_equal(st.count, s.count);
    assert_int_equal(st.bytes, s.len);
    check_read_back(&st, &s);
    check_read_back(&st, &s);
    sa_recstore_free(&st);
    remove_dir();
    stream_free(&s);
}

static void test_store_empty(void **state)
{
    (void)state;
    SaRecStore st;
    sa_recstore_init(&st, 65536, NULL);
    SaErr err = {0};
    assert_int_equal(sa_recstore_finish(&st, &err), 0);
    SaRecReader rd;
    assert_int_equal(sa_recreader_open(&rd, &st, &err), 0);
    assert_null(sa_recreader_next(&rd, NULL, &err));
    assert_int_equal(err.code, 0);
    sa_recreader_close(&rd);
    sa_recstore_free(&st);
}

/* Records of up to 65535 details (512 KB), alone and mixed with small ones,
 * spilled and in memory. */
static void test_store_big_records(void **state)
{
    (void)state;
    const uint16_t nds[] = {65535, 0, 1, 40000, 65535, 7, 65535, 12345, 0,
                            65534, 65535};
    const uint64_t limits[] = {65536, 1000000, (uint64_t)1 << 30};
    for (size_t li = 0; li < 3; li++) {
        for (int batched = 0; batched < 2; batched++) {
            make_dir();
            Stream s;
            memset(&s, 0, sizeof s);
            for (size_t i = 0; i < sizeof nds / sizeof nds[0]; i++) {
                stream_add(&s, rng_unif(), 1, (uint32_t)i, nds[i]);
                for (int j = 0; j < 3; j++) /* small ones in between */
                    stream_add(&s, rng_unif(), 1, (uint32_t)(100 + 3 * i + j),
                               (uint16_t)(rng_next() % 3));
            }
            assert_int_equal(s.max_record,
                             sizeof(SaRecord) + 65535 * sizeof(SaDetail));
            SaRecStore st;
            sa_recstore_init(&st, limits[li], g_dir);
            SaErr err = {0};
            if (batched) {
                assert_int_equal(store_append_range(&st, &s, 0, s.count, &err),
                                 0);
            } else {
                for (uint64_t i = 0; i < s.count; i++)
                    assert_int_equal(
                        store_append_range(&st, &s, i, i + 1, &err), 0);
            }
            assert_int_equal(sa_recstore_finish(&st, &err), 0);
            assert_int_equal(st.max_record, s.max_record);
            if (limits[li] == ((uint64_t)1 << 30))
                assert_int_equal(st.file_bytes, 0);
            else
                assert_true(st.file_bytes > 0);
            check_dir_empty(&st);
            check_read_back(&st, &s);
            check_read_back(&st, &s);
            /* records larger than a chunk run into the next one: then the
             * first part reads everything */
            assert_int_equal(st.straddled, limits[li] < ((uint64_t)1 << 30));
            for (int parts = 1; parts <= 3; parts++)
                check_read_parts(&st, &s, parts);
            sa_recstore_free(&st);
            remove_dir();
            stream_free(&s);
        }
    }
}

/* A store of items of one size (what the engine keeps its regions in):
 * whole items go to each chunk, whatever their bytes say, and read back
 * as written, from memory and from the file. */
static void test_store_items(void **state)
{
    (void)state;
    make_dir();
    enum { ITEM = 72, N = 5000 };
    unsigned char *all = malloc((size_t)N * ITEM);
    assert_non_null(all);
    for (size_t i = 0; i < (size_t)N * ITEM; i++)
        all[i] = (unsigned char)rng_next(); /* nothing like a record */
    SaRecStore st;
    sa_recstore_init(&st, 65536, g_dir);
    st.item = ITEM;
    SaErr err = {0};
    for (size_t i = 0; i < N;) {
        size_t n = 1 + rng_next() % 300;
        if (n > N - i)
            n = N - i;
        assert_int_equal(sa_recstore_append(&st, all + i * ITEM, n * ITEM, n,
                                            ITEM, &err), 0);
        i += n;
    }
    assert_int_equal(sa_recstore_finish(&st, &err), 0);
    assert_true(st.file_bytes > 0);
    assert_int_equal(st.bytes, (uint64_t)N * ITEM);
    unsigned char *back = malloc((size_t)N * ITEM);
    assert_non_null(back);
    assert_int_equal(sa_recstore_read_at(&st, 0, back, (size_t)N * ITEM,
                                         &err), 0);
    assert_memory_equal(back, all, (size_t)N * ITEM);
    sa_recstore_free(&st);
    assert_int_equal(st.item, ITEM); /* kept by free */
    free(back);
    free(all);
    remove_dir();
}

/* A store of several chunks (and a file after them) read in parts on
 * several threads: each record is whole in one chunk, the parts together
 * are the stream in order. */
static void test_store_parts(void **state)
{
    (void)state;
    const uint64_t limits[] = {(uint64_t)1 << 30, (uint64_t)9 << 20, 65536};
    for (int det = 0; det < 2; det++) {
        Stream s;
        /* about 10 MB: three chunks of 4 MiB */
        random_stream(&s, det ? 100000 : 320000, det ? 8 : 0);
        for (size_t li = 0; li < 3; li++) {
            make_dir();
            SaRecStore st;
            sa_recstore_init(&st, limits[li], g_dir);
            store_append_all(&st, &s, 3000, NULL);
            SaErr err = {0};
            assert_int_equal(sa_recstore_finish(&st, &err), 0);
            assert_int_equal(st.straddled, 0);
            assert_int_equal(st.file_bytes > 0, li > 0);
            check_read_back(&st, &s);
            for (int parts = 1; parts <= 5; parts++)
                check_read_parts(&st, &s, parts);
            /* cut back to a record inside the second chunk, then grown
             * again, as a skipped image is undone */
            if (li == 0) {
                uint64_t keep = s.count / 2;
                assert_int_equal(sa_recstore_truncate(&st, s.offs[keep], keep,
                                                      &err), 0);
                Stream half = s;
                half.count = keep;
                half.len = s.offs[keep];
                for (int parts = 1; parts <= 3; parts++)
                    check_read_parts(&st, &half, parts);
                assert_int_equal(store_append_range(&st, &s, keep, s.count,
                                                    &err), 0);
                assert_int_equal(sa_recstore_finish(&st, &err), 0);
                for (int parts = 1; parts <= 3; parts++)
                    check_read_parts(&st, &s, parts);
            }
            sa_recstore_free(&st);
            remove_dir();
        }
        stream_free(&s);
    }
}

/* Linked runs of records mixed with appended ones read back in stream
 * order, whole and in parts; nothing is written into linked memory (what
 * follows a link goes into a chunk of the store's own); cutting back into
 * a linked run and growing again; a link that would pass the memory limit
 * or follow the scratch file is declined, and the records appended. */
static void test_store_link(void **state)
{
    (void)state;
    for (int det = 0; det < 2; det++) {
        Stream s;
        random_stream(&s, det ? 60000 : 200000, det ? 8 : 0);
        unsigned char *orig = malloc(s.len);
        assert_non_null(orig);
        memcpy(orig, s.data, s.len);
        const uint64_t limits[] = {(uint64_t)1 << 30, s.len / 2};
        for (size_t li = 0; li < 2; li++) {
            make_dir();
            SaRecStore st;
            sa_recstore_init(&st, limits[li], g_dir);
            SaErr err = {0};
            uint64_t i = 0, linked = 0, declined = 0;
            for (int k = 0; i < s.count; k++) {
                uint64_t n = 1 + rng_next() % 5000;
                if (n > s.count - i)
                    n = s.count - i;
                int rc = 0;
                if (k % 3 != 2) {
                    rc = store_range(&st, &s, i, i + n, 1, &err);
                    assert_true(rc == 0 || rc == 1);
                    linked += rc == 1;
                    declined += rc == 0;
                    if (rc == 1)
                        assert_true(st.fd < 0); /* never after the file */
                    rc = rc == 1 ? 0 : store_append_range(&st, &s, i, i + n,
                                                           &err);
                } else {
                    rc = store_append_range(&st, &s, i, i + n, &err);
                }
                assert_int_equal(rc, 0);
                i += n;
            }
            assert_int_equal(sa_recstore_finish(&st, &err), 0);
            assert_true(linked > 0);
            assert_int_equal(declined > 0, li == 1);
            /* a chunk of the store's own that a link follows gives back
             * its room: at most the last one has any */
            if (li == 0 && st.mem_bytes > st.bytes + ((uint64_t)4 << 20))
                fail_msg("%llu bytes held for %llu of records",
                         (unsigned long long)st.mem_bytes,
                         (unsigned long long)st.bytes);
            assert_int_equal(st.file_bytes > 0, li == 1);
            assert_true(st.mem_bytes <= st.mem_limit);
            assert_int_equal(st.count, s.count);
            check_read_back(&st, &s);
            for (int parts = 1; parts <= 5; parts++)
                check_read_parts(&st, &s, parts);
            if (li == 0) {
                /* cut back to a record somewhere in the stream, which may
                 * be inside a linked run, then grown again by appending */
                uint64_t keep = s.count / 3 + 7;
                assert_int_equal(sa_recstore_truncate(&st, s.offs[keep], keep,
                                                      &err), 0);
                assert_int_equal(store_append_range(&st, &s, keep, s.count,
                                                    &err), 0);
                assert_int_equal(sa_recstore_finish(&st, &err), 0);
                check_read_back(&st, &s);
                for (int parts = 1; parts <= 3; parts++)
                    check_read_parts(&st, &s, parts);
            }
            assert_memory_equal(s.data, orig, s.len);
            sa_recstore_free(&st);
            remove_dir();
        }
        free(orig);
        stream_free(&s);
    }
}

static void expect_eio(const char *dir)
{
    Stream s;
    random_stream(&s, 5000, 3);
    SaRecStore st;
    sa_recstore_init(&st, 65536, dir);
    SaErr err = {0};
    int rc = 0;
    uint64_t i = 0;
    while (i < s.count && rc == 0) {
        uint64_t n = s.count - i < 100 ? s.count - i : 100;
        rc = store_append_range(&st, &s, i, i + n, &err);
        i += n;
    }
    if (rc == 0)
        rc = sa_recstore_finish(&st, &err);
    if (rc != SEGAUDIT_EIO)
        fail_msg("scratch dir %s: rc %d (%s), expected SEGAUDIT_EIO", dir, rc,
                 err.msg);
    assert_int_equal(err.code, SEGAUDIT_EIO);
    if (!strstr(err.msg, dir))
        fail_msg("message does not name the folder %s: '%s'", dir, err.msg);
    sa_recstore_free(&st);
    stream_free(&s);
}

static void test_store_unwritable(void **state)
{
    (void)state;
    expect_eio("/nonexistent-segaudit-dir/sub");
    expect_eio("/proc");
    make_dir();
    char gone[300];
    snprintf(gone, sizeof gone, "%s/missing", g_dir);
    expect_eio(gone);
    remove_dir();
}

/* No scratch_dir: the file goes to $TMPDIR, which the message names. */
static void test_store_unwritable_tmpdir(void **state)
{
    (void)state;
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    const char *bad = "/nonexistent-segaudit-tmpdir";
    assert_int_equal(setenv("TMPDIR", bad, 1), 0);
    Stream s;
    random_stream(&s, 5000, 3);
    for (int empty = 0; empty < 2; empty++) {
        SaRecStore st;
        sa_recstore_init(&st, 65536, empty ? "" : NULL);
        SaErr err = {0};
        int rc = store_append_range(&st, &s, 0, s.count, &err);
        assert_int_equal(rc, SEGAUDIT_EIO);
        if (!strstr(err.msg, bad))
            fail_msg("message does not name $TMPDIR (%s): '%s'", bad,
                     err.msg);
        sa_recstore_free(&st);
    }
    stream_free(&s);
    if (saved) {
        setenv("TMPDIR", saved, 1);
        free(saved);
    } else {
        unsetenv("TMPDIR");
    }
}

/* A write that fails (file size limit): EIO naming the folder, both with
 * an explicit scratch folder and with $TMPDIR. */
static void write_fails(int use_tmpdir)
{
    make_dir();
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    if (use_tmpdir)
        assert_int_equal(setenv("TMPDIR", g_dir, 1), 0);
    struct rlimit rl, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    small = rl;
    small.rlim_cur = 300000;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);

    Stream s;
    random_stream(&s, 20000, 20); /* ~2.4 MB */
    SaRecStore st;
    sa_recstore_init(&st, 65536, use_tmpdir ? NULL : g_dir);
    SaErr err = {0};
    int rc = 0;
    for (uint64_t i = 0; i < s.count && rc == 0; i += 100)
        rc = store_append_range(&st, &s, i, i + 100 < s.count ? i + 100
                                                              : s.count,
                                &err);
    if (rc == 0)
        rc = sa_recstore_finish(&st, &err);

    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    signal(SIGXFSZ, oldsig);
    if (use_tmpdir) {
        if (saved)
            setenv("TMPDIR", saved, 1);
        else
            unsetenv("TMPDIR");
    }
    free(saved);

    /* clean up first, so that a failure leaves no folder behind */
    sa_recstore_free(&st);
    stream_free(&s);
    char dir[sizeof g_dir];
    memcpy(dir, g_dir, sizeof dir);
    remove_dir();

    assert_int_equal(rc, SEGAUDIT_EIO);
    assert_int_equal(err.code, SEGAUDIT_EIO);
    if (!strstr(err.msg, dir))
        fail_msg("write failure (scratch folder %s): message does not name "
                 "the folder %s: '%s'",
                 use_tmpdir ? "from $TMPDIR" : "given", dir, err.msg);
}

static void test_store_write_fails(void **state)
{
    (void)state;
    write_fails(0);
}

static void test_store_write_fails_tmpdir(void **state)
{
    (void)state;
    write_fails(1);
}

/* The store can be used again after sa_recstore_free. */
static void test_store_reuse(void **state)
{
    (void)state;
    make_dir();
    SaRecStore st;
    sa_recstore_init(&st, 65536, g_dir);
    for (int round = 0; round < 2; round++) {
        Stream s;
        random_stream(&s, 4000, 30);
        store_append_all(&st, &s, 50, check_dir_empty);
        SaErr err = {0};
        assert_int_equal(sa_recstore_finish(&st, &err), 0);
        assert_int_equal(st.count, s.count);
        assert_true(st.file_bytes > 0);
        check_read_back(&st, &s);
        sa_recstore_free(&st);
        assert_int_equal(st.mem_limit, 65536);
        assert_ptr_equal(st.scratch_dir, g_dir);
        stream_free(&s);
    }
    remove_dir();
}

/* sa_zalloc: zeros where malloc hands back memory that was written and
 * freed (a small array, from the heap) and fresh pages (a large one); no
 * array whose size overflows. */
static void test_zalloc(void **state)
{
    (void)state;
    const size_t sizes[] = {1000, (size_t)1 << 21};
    for (int i = 0; i < 2; i++) {
        size_t n = sizes[i] / sizeof(uint64_t);
        uint64_t *dirty = malloc(n * sizeof *dirty);
        assert_non_null(dirty);
        memset(dirty, 0xa5, n * sizeof *dirty);
        free(dirty);
        uint64_t *z = sa_zalloc(n, sizeof *z);
        assert_non_null(z);
        uint64_t any = 0;
        for (size_t j = 0; j < n; j++)
            any |= z[j];
        assert_int_equal(any, 0);
        free(z);
    }
    void *one = sa_zalloc(0, 8);
    assert_non_null(one);
    free(one);
    assert_null(sa_zalloc(SIZE_MAX / 4, 8));
}

/* ---- Select -------------------------------------------------------------- */

typedef struct Item {
    double s;
    uint32_t image, pixel;
} Item;

static int cmp_items(const void *a, const void *b)
{
    const Item *x = a, *y = b;
    if (x->s != y->s) /* -0.0 == 0.0 here */
        return x->s < y->s ? -1 : 1;
    if (x->image != y->image)
        return x->image < y->image ? -1 : 1;
    if (x->pixel != y->pixel)
        return x->pixel < y->pixel ? -1 : 1;
    return 0;
}

static SaKey key_of(const Item *it)
{
    SaKey k;
    double s = it->s == 0.0 ? 0.0 : it->s;
    uint64_t u;
    memcpy(&u, &s, sizeof u);
    k.hi = u;
    k.lo = (uint64_t)it->image << 32 | it->pixel;
    return k;
}

typedef struct SelCase {
    Stream s[2];
    SaRecStore st[2];
    int nstores;
    Item *items;   /* sorted */
    uint64_t n;
} SelCase;

typedef enum SDist { S_MIXED, S_ONE_VALUE, S_ALL_SAME_KEY } SDist;

static void sel_build(SelCase *c, uint64_t n, int nstores, SDist dist,
                      uint64_t mem_limit)
{
    memset(c, 0, sizeof *c);
    c->nstores = nstores;
    c->n = n;
    c->items = malloc(n * sizeof *c->items);
    assert_non_null(c->items);
    static const double ties[] = {0.0, -0.0, 0.1, 0.25, 0.5, 0.5,
                                  0.75, 1.0, 1.5, 2.0, 1e10, 0x1p-1070};
    for (uint64_t i = 0; i < n; i++) {
        Item it;
        uint64_t u = rng_next();
        switch (dist) {
        case S_MIXED:
            if (u % 10 < 6)
                it.s = ties[(u >> 8) % (sizeof ties / sizeof ties[0])];
            else
                it.s = rng_unif() * 1.2;
            it.image = (uint32_t)(rng_next() % 7);
            it.pixel = (uint32_t)(rng_next() % 50);
            if (rng_next() % 16 == 0) /* high bits of image and pixel */
                it.image = (uint32_t)rng_next();
            if (rng_next() % 16 == 0)
                it.pixel = (uint32_t)rng_next();
            break;
        case S_ONE_VALUE:
            it.s = 0.3;
            it.image = (uint32_t)(rng_next() % 4);
            it.pixel = (uint32_t)(rng_next() % 300000);
            break;
        default:
            it.s = 0.3;
            it.image = 5;
            it.pixel = 77;
        }
        c->items[i] = it;
        int which = nstores == 2 ? (int)(rng_next() & 1) : 0;
        stream_add(&c->s[which], it.s, it.image, it.pixel,
                   (uint16_t)(rng_next() % 4));
    }
    qsort(c->items, n, sizeof *c->items, cmp_items);
    for (int i = 0; i < nstores; i++) {
        sa_recstore_init(&c->st[i], mem_limit, NULL);
        if (c->s[i].count)
            store_append_all(&c->st[i], &c->s[i], 200, NULL);
        SaErr err = {0};
        assert_int_equal(sa_recstore_finish(&c->st[i], &err), 0);
    }
}

static void sel_free(SelCase *c)
{
    for (int i = 0; i < c->nstores; i++) {
        sa_recstore_free(&c->st[i]);
        stream_free(&c->s[i]);
    }
    free(c->items);
}

static int sel_check(SelCase *c, uint64_t k, uint64_t budget)
{
    const SaRecStore *stores[2] = {&c->st[0], &c->st[1]};
    SaKey out = {~0ull, ~0ull};
    int passes = -1;
    SaErr err = {0};
    int rc = sa_select_kth(stores, c->nstores, k, budget, &out, &passes,
                           &err);
    if (rc)
        fail_msg("select k=%llu of %llu: %d %s", (unsigned long long)k,
                 (unsigned long long)c->n, rc, err.msg);
    SaKey want = key_of(&c->items[k - 1]);
    /* the same given the first digits' histogram, with one read less */
    uint64_t *first = calloc(SA_SELECT_RADIX, sizeof *first);
    assert_non_null(first);
    for (uint64_t i = 0; i < c->n; i++)
        first[sa_select_first_digit(key_of(&c->items[i]))]++;
    SaKey hinted = {~0ull, ~0ull};
    int hpasses = -1;
    rc = sa_select_kth_group(NULL, stores, c->nstores, NULL, NULL, first, k,
                             budget, NULL, 1 + (int)(k % 3), &hinted,
                             &hpasses, &err);
    /* and from the keys gathered around a digit: the answer when the
     * window holds the k-th key's first digit, none when it does not */
    unsigned dw = sa_select_first_digit(want);
    unsigned wins[2][2] = {{dw > 0 ? dw - 1 : 0, dw < 65535 ? dw + 1 : 65535},
                           {dw + 2, dw + 4}};
    if (dw + 4 > 65535) {
        wins[1][0] = 0;
        wins[1][1] = dw - 2;
    }
    SaKey *gk = malloc((c->n ? c->n : 1) * sizeof *gk);
    assert_non_null(gk);
    for (int wi = 0; wi < 2; wi++) {
        uint64_t ng = 0;
        for (uint64_t i = c->n; i-- > 0;) { /* order does not matter */
            SaKey ki = key_of(&c->items[i]);
            unsigned d = sa_select_first_digit(ki);
            if (d >= wins[wi][0] && d <= wins[wi][1])
                gk[ng++] = ki;
        }
        SaKey got = {~0ull, ~0ull};
        int found = sa_select_kth_gathered(first, k, gk, ng, wins[wi][0],
                                           wins[wi][1], &got, &err);
        if (found != (wi == 0) ||
            (found && (got.hi != want.hi || got.lo != want.lo)))
            fail_msg("select k=%llu of %llu from keys gathered in [%u, %u] "
                     "(the answer's digit %u): %d, key %016llx:%016llx",
                     (unsigned long long)k, (unsigned long long)c->n,
                     wins[wi][0], wins[wi][1], dw, found,
                     (unsigned long long)got.hi, (unsigned long long)got.lo);
    }
    free(gk);
    free(first);
    if (rc || hinted.hi != want.hi || hinted.lo != want.lo)
        fail_msg("select k=%llu of %llu with the first digits: %d, key "
                 "%016llx:%016llx", (unsigned long long)k,
                 (unsigned long long)c->n, rc, (unsigned long long)hinted.hi,
                 (unsigned long long)hinted.lo);
    assert_true(hpasses <= passes);
    /* and read on 2 or 3 threads (histograms, counts and keys added up
     * from parts of the stores) */
    SaKey threaded = {~0ull, ~0ull};
    int tpasses = -1;
    rc = sa_select_kth_group(NULL, stores, c->nstores, NULL, NULL, NULL, k,
                             budget, NULL, 2 + (int)(k % 2), &threaded,
                             &tpasses, &err);
    if (rc || threaded.hi != want.hi || threaded.lo != want.lo)
        fail_msg("select k=%llu of %llu on threads: %d, key %016llx:%016llx",
                 (unsigned long long)k, (unsigned long long)c->n, rc,
                 (unsigned long long)threaded.hi,
                 (unsigned long long)threaded.lo);
    assert_int_equal(tpasses, passes);
    if (out.hi != want.hi || out.lo != want.lo)
        fail_msg("select k=%llu of %llu (budget %llu): key %016llx:%016llx, "
                 "expected %016llx:%016llx (s=%.17g image=%u pixel=%u)",
                 (unsigned long long)k, (unsigned long long)c->n,
                 (unsigned long long)budget, (unsigned long long)out.hi,
                 (unsigned long long)out.lo, (unsigned long long)want.hi,
                 (unsigned long long)want.lo, c->items[k - 1].s,
                 c->items[k - 1].image, c->items[k - 1].pixel);
    assert_true(passes >= 1);
    return passes;
}

static void sel_many_k(SelCase *c, uint64_t budget, int min_passes)
{
    uint64_t ks[12];
    int nk = 0;
    ks[nk++] = 1;
    ks[nk++] = c->n;
    ks[nk++] = (c->n + 1) / 2;
    ks[nk++] = c->n > 1 ? 2 : 1;
    ks[nk++] = c->n > 1 ? c->n - 1 : 1;
    while (nk < 10)
        ks[nk++] = 1 + rng_next() % c->n;
    for (int i = 0; i < nk; i++) {
        int passes = sel_check(c, ks[i], budget);
        if (passes < min_passes)
            fail_msg("select k=%llu: %d passes, expected at least %d",
                     (unsigned long long)ks[i], passes, min_passes);
    }
}

static void test_select_small(void **state)
{
    (void)state;
    for (int nst = 1; nst <= 2; nst++) {
        SelCase c;
        sel_build(&c, 5000, nst, S_MIXED, (uint64_t)1 << 30);
        for (uint64_t k = 1; k <= c.n; k += 1 + rng_next() % 97)
            assert_int_equal(sel_check(&c, k, (uint64_t)1 << 30), 1);
        sel_many_k(&c, 0, 1);
        sel_free(&c);
    }
    /* a single record */
    SelCase c;
    sel_build(&c, 1, 1, S_MIXED, 65536);
    assert_int_equal(sel_check(&c, 1, 0), 1);
    sel_free(&c);
}

/* Enough records that the budget floor (65536 keys) forces radix passes;
 * the stores spill to scratch files. */
static void test_select_radix(void **state)
{
    (void)state;
    SelCase c;
    sel_build(&c, 150000, 2, S_MIXED, 65536);
    assert_true(c.st[0].file_bytes > 0 && c.st[1].file_bytes > 0);
    sel_many_k(&c, 0, 2);
    /* and with a budget large enough for one in-memory sort */
    assert_int_equal(sel_check(&c, c.n / 3, (uint64_t)1 << 30), 1);
    sel_free(&c);

    sel_build(&c, 140000, 1, S_MIXED, (uint64_t)1 << 30);
    sel_many_k(&c, 0, 2);
    sel_free(&c);
}

/* Every s equal: the order is decided by image then pixel (digits 4..7). */
static void test_select_equal_s(void **state)
{
    (void)state;
    SelCase c;
    sel_build(&c, 120000, 2, S_ONE_VALUE, 65536);
    sel_many_k(&c, 0, 2);
    sel_free(&c);
}

/* Every key equal: all eight digits are walked. */
static void test_select_same_key(void **state)
{
    (void)state;
    SelCase c;
    sel_build(&c, 70000, 2, S_ALL_SAME_KEY, 65536);
    sel_many_k(&c, 0, 1);
    sel_free(&c);
}

static void test_select_bad_k(void **state)
{
    (void)state;
    SelCase c;
    sel_build(&c, 100, 2, S_MIXED, 65536);
    const SaRecStore *stores[2] = {&c.st[0], &c.st[1]};
    SaKey out;
    int passes = 0;
    SaErr err = {0};
    assert_int_equal(sa_select_kth(stores, 2, 0, 0, &out, &passes, &err),
                     SEGAUDIT_EINVAL);
    assert_int_equal(err.code, SEGAUDIT_EINVAL);
    sa_err_clear(&err);
    assert_int_equal(sa_select_kth(stores, 2, 101, 0, &out, &passes, &err),
                     SEGAUDIT_EINVAL);
    assert_int_equal(err.code, SEGAUDIT_EINVAL);
    sa_err_clear(&err);
    assert_int_equal(sa_select_kth(stores, 2, 100, 0, &out, &passes, &err),
                     0);
    assert_int_equal(err.code, 0);
    /* one store only: its own count */
    uint64_t n0 = c.st[0].count;
    assert_int_not_equal(
        sa_select_kth(stores, 1, n0 + 1, 0, &out, &passes, &err), 0);
    sa_err_clear(&err);
    /* no store at all */
    assert_int_not_equal(sa_select_kth(stores, 0, 1, 0, &out, &passes, &err),
                         0);
    sel_free(&c);
}

/* -0.0 and 0.0 are the same key. */
static void test_record_key(void **state)
{
    (void)state;
    SaRecord a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.s = 0.0;
    b.s = -0.0;
    a.image = b.image = 3;
    a.pixel = b.pixel = 9;
    SaKey ka = sa_record_key(&a), kb = sa_record_key(&b);
    assert_int_equal(ka.hi, 0);
    assert_int_equal(kb.hi, 0);
    assert_int_equal(ka.lo, (uint64_t)3 << 32 | 9);
    assert_int_equal(sa_key_cmp(ka, kb), 0);
    b.s = 0x1p-1074;
    assert_int_equal(sa_key_cmp(ka, sa_record_key(&b)), -1);
    b.s = 0.0;
    b.image = 2;
    b.pixel = 0xffffffffu;
    assert_int_equal(sa_key_cmp(ka, sa_record_key(&b)), 1);
    a.s = 1.5;
    b.s = 1.25;
    assert_int_equal(sa_key_cmp(sa_record_key(&a), sa_record_key(&b)), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_spill),
        cmocka_unit_test(test_store_odd_limit),
        cmocka_unit_test(test_store_chunks_then_file),
        cmocka_unit_test(test_store_memory_only),
        cmocka_unit_test(test_store_empty),
        cmocka_unit_test(test_store_big_records),
        cmocka_unit_test(test_store_parts),
        cmocka_unit_test(test_store_items),
        cmocka_unit_test(test_store_link),
        cmocka_unit_test(test_store_unwritable),
        cmocka_unit_test(test_store_unwritable_tmpdir),
        cmocka_unit_test(test_store_write_fails),
        cmocka_unit_test(test_store_write_fails_tmpdir),
        cmocka_unit_test(test_store_reuse),
        cmocka_unit_test(test_zalloc),
        cmocka_unit_test(test_record_key),
        cmocka_unit_test(test_select_small),
        cmocka_unit_test(test_select_radix),
        cmocka_unit_test(test_select_equal_s),
        cmocka_unit_test(test_select_same_key),
        cmocka_unit_test(test_select_bad_k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
