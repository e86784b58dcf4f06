/* Unit tests of src/io/prefetch.c: the thread that reads a file ahead of
 * its reader.
 *
 * Whether bytes were read is seen in the page cache (mincore on a map of
 * the file).  The file's pages are dropped first (posix_fadvise
 * DONTNEED); where the file system keeps them anyway (tmpfs), the checks
 * of the page cache are skipped, saying why, and the rest still runs.  A
 * wait that never returns fails the test by its time limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/prefetch.h"
#include "tmpdir_support.h"

#define MB ((uint64_t)1 << 20)
#define FILE_BYTES (24 * MB)

static char g_file[PATHLEN];
static int g_fd = -1;

static int setup(void **state)
{
    (void)state;
    if (tmpdir_create("test_prefetch"))
        return -1;
    tpath(g_file, "data.bin");
    FILE *f = fopen(g_file, "wb");
    if (!f)
        return -1;
    unsigned char *buf = malloc(MB);
    if (!buf) {
        fclose(f);
        return -1;
    }
    for (uint64_t m = 0; m < FILE_BYTES / MB; m++) {
        for (size_t i = 0; i < MB; i++)
            buf[i] = (unsigned char)(i * 31 + m);
        if (fwrite(buf, 1, MB, f) != MB) {
            free(buf);
            fclose(f);
            return -1;
        }
    }
    free(buf);
    if (fflush(f) || fsync(fileno(f)) || fclose(f))
        return -1;
    g_fd = open(g_file, O_RDONLY);
    return g_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_fd >= 0)
        close(g_fd);
    return tmpdir_remove();
}

/* Pages of [at, at + len) in the page cache. */
static uint64_t cached_pages(uint64_t at, uint64_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, g_fd, (off_t)at);
    assert_true(m != MAP_FAILED);
    uint64_t pages = len / (uint64_t)page, n = 0;
    unsigned char *vec = malloc(pages);
    assert_non_null(vec);
    assert_int_equal(mincore(m, len, vec), 0);
    for (uint64_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    free(vec);
    munmap(m, len);
    return n;
}

static uint64_t all_pages(uint64_t len)
{
    return len / (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Drops the file from the page cache: 1 when that worked (no page of it
 * is left), 0 when this file system keeps its pages. */
static int drop(void)
{
    assert_int_equal(posix_fadvise(g_fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    return cached_pages(0, FILE_BYTES) == 0;
}

/* What is asked for is in the page cache once a wait for it returns; the
 * thread skips nothing it was asked for. */
static void test_reads_what_is_asked(void **state)
{
    (void)state;
    int dropped = drop();
    SaPrefetch mem, *pf = &mem;
    assert_int_equal(sa_prefetch_start(pf, g_file, g_fd), 0);
    assert_int_equal(sa_prefetch_want(pf, 0, 6 * MB), 0);
    /* a request that goes on from the last (the bands of one image) */
    assert_int_equal(sa_prefetch_want(pf, 2 * MB, 10 * MB + 100), 0);
    sa_prefetch_wait(pf, 10 * MB + 100);
    if (dropped)
        assert_int_equal(cached_pages(0, 10 * MB + 4096),
                         all_pages(10 * MB + 4096));
    sa_prefetch_stop(pf);
    if (!dropped)
        skip();
}

/* A request that starts past every byte asked for skips the bytes
 * between; one that starts below the last starts over there. */
static void test_skip_and_start_over(void **state)
{
    (void)state;
    int dropped = drop();
    SaPrefetch mem, *pf = &mem;
    assert_int_equal(sa_prefetch_start(pf, g_file, g_fd), 0);
    assert_int_equal(sa_prefetch_want(pf, 0, MB), 0);
    sa_prefetch_wait(pf, MB);
    assert_int_equal(sa_prefetch_want(pf, 16 * MB, 20 * MB), 0);
    sa_prefetch_wait(pf, 20 * MB);
    if (dropped) {
        assert_int_equal(cached_pages(16 * MB, 4 * MB), all_pages(4 * MB));
        /* the skipped bytes (but for the system's own read-ahead past
         * the first request, at most a few MB) were not read */
        assert_true(cached_pages(8 * MB, 8 * MB) < all_pages(8 * MB));
        assert_true(drop());
    }
    /* a new pass */
    assert_int_equal(sa_prefetch_want(pf, 4 * MB, 6 * MB), 0);
    sa_prefetch_wait(pf, 6 * MB);
    if (dropped)
        assert_int_equal(cached_pages(4 * MB, 2 * MB), all_pages(2 * MB));
    sa_prefetch_stop(pf);
    if (!dropped)
        skip();
}

/* Waits return for bytes never asked for, and the prefetcher stops while
 * it still has bytes to read. */
static void test_waits_and_stops(void **state)
{
    (void)state;
    drop();
    SaPrefetch mem, *pf = &mem;
    assert_int_equal(sa_prefetch_start(pf, g_file, g_fd), 0);
    sa_prefetch_wait(pf, MB); /* nothing asked for yet */
    assert_int_equal(sa_prefetch_want(pf, 0, 2 * MB), 0);
    sa_prefetch_wait(pf, 3 * MB); /* past what was asked for */
    assert_int_equal(sa_prefetch_want(pf, 2 * MB, FILE_BYTES), 0);
    sa_prefetch_stop(pf);
}

/* Bytes past the end of the file (one truncated while it is read): the
 * prefetcher stops, its waits return, and it says so at the next request. */
static void test_past_the_end(void **state)
{
    (void)state;
    SaPrefetch mem, *pf = &mem;
    assert_int_equal(sa_prefetch_start(pf, g_file, g_fd), 0);
    assert_int_equal(sa_prefetch_want(pf, 0, FILE_BYTES + 8 * MB), 0);
    sa_prefetch_wait(pf, FILE_BYTES + 8 * MB);
    assert_int_equal(sa_prefetch_want(pf, FILE_BYTES, FILE_BYTES + MB), -1);
    sa_prefetch_wait(pf, FILE_BYTES + MB);
    sa_prefetch_stop(pf);
}

/* No prefetcher for a path that is not the descriptor's file, or for no
 * file at all. */
static void test_refusals(void **state)
{
    (void)state;
    char other[PATHLEN];
    tpath(other, "other.bin");
    FILE *f = fopen(other, "wb");
    assert_non_null(f);
    assert_int_equal(fputs("other", f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    SaPrefetch pf;
    assert_int_equal(sa_prefetch_start(&pf, other, g_fd), -1);
    assert_int_equal(sa_prefetch_start(&pf, tmp_path("missing.bin"), g_fd),
                     -1);
    assert_int_equal(sa_prefetch_start(&pf, g_file, -1), -1);
    assert_int_equal(sa_prefetch_start(&pf, NULL, g_fd), -1);
    /* and one that starts after a refusal */
    assert_int_equal(sa_prefetch_start(&pf, g_file, g_fd), 0);
    sa_prefetch_stop(&pf);
    assert_int_equal(unlink(other), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_what_is_asked),
        cmocka_unit_test(test_skip_and_start_over),
        cmocka_unit_test(test_waits_and_stops),
        cmocka_unit_test(test_past_the_end),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
