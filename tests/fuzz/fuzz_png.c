/* fuzz_png: the label PNG reader (src/io/png_io.c).
 *
 * The input is a whole PNG file.  It is written to a temporary file and
 * opened with sa_label_png_open:
 *   1. with no expected size (0x0, the library's own limits apply),
 *   2. when 1. succeeded: with the size of its IHDR plus one column, which
 *      must fail with SEGAUDIT_EINPUT before anything is decoded,
 *   3. when the IHDR declares a side above the default limit (2^20): with
 *      the IHDR size as the expected size, as the engine does (it passes
 *      the W and H of the tensor), which lifts that limit.
 * Every opened image is read to the end in bands of 1..7 rows, then one
 * row more (must fail).  Errors are fine; the checks are the contract of
 * src/io/png_io.h: error codes and messages, value ranges, no crash, leak,
 * descriptor leak or hang, and no input that grows the peak memory by more
 * than 512 MB (finding 2 of README.md; with SEGAUDIT_FUZZ_TOLERATE=chunk,
 * inputs that would trigger it are skipped).
 *
 * Interlaced images are decoded whole at open (by design); inputs whose
 * IHDR would make that allocation exceed FZ_MAX_IMAGE are not opened with
 * that expected size, so the fuzzer does not stop on a by-design large
 * allocation.  Non-interlaced images are streamed and need no cap. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fuzz_common.h"
#include "io/png_io.h"

#define FZ_MAX_IMAGE ((uint64_t)64 << 20) /* bytes decoded at open */
#define FZ_MAX_BAND ((uint64_t)16 << 20)  /* bytes of one read buffer */
#define DEFAULT_DIM_LIMIT (1u << 20)      /* as in src/io/png_io.c */
#define CHUNK_MALLOC_MAX (16u << 20)      /* as in src/io/png_io.c */
/* More than this much new peak memory for one input is a finding: the
 * reader promises to allocate nothing sized by the image before the size
 * check, and ancillary chunks are capped at CHUNK_MALLOC_MAX. */
#define FZ_MAX_RSS_GROWTH_KB (512L << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Ihdr {
    int ok;
    uint32_t w, h;
    int depth, ctype, interlace;
} Ihdr;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* The IHDR, when it is where libpng requires it (the first chunk). */
static Ihdr peek_ihdr(const uint8_t *d, size_t n)
{
    Ihdr r = {0};
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (n < 33 || memcmp(d, sig, 8) != 0 || memcmp(d + 12, "IHDR", 4) != 0)
        return r;
    r.ok = 1;
    r.w = be32(d + 16);
    r.h = be32(d + 20);
    r.depth = d[24];
    r.ctype = d[25];
    r.interlace = d[28];
    return r;
}

/* 1 when a chunk other than IDAT declares more than CHUNK_MALLOC_MAX
 * bytes: finding 2 of README.md (libpng allocates it whole). */
static int has_huge_ancillary_chunk(const uint8_t *d, size_t n)
{
    size_t off = 8;
    while (off + 8 <= n) {
        uint32_t len = be32(d + off);
        if (len > CHUNK_MALLOC_MAX && memcmp(d + off + 4, "IDAT", 4) != 0)
            return 1;
        if (len > n)
            return 0;
        off += 12 + (size_t)len;
    }
    return 0;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

/* Bytes an interlaced image of this header takes when decoded whole. */
static uint64_t whole_bytes(const Ihdr *ih)
{
    return (uint64_t)ih->w * ih->h * (ih->depth == 16 ? 2 : 1);
}

static void check_error(const SaErr *err, int rc, const char *path,
                        const char *call)
{
    FZ_CHECK(rc < 0, "%s returned %d", call, rc);
    fz_check_failure(err, rc, path, call);
}

/* Reads every row of p, then one too many. */
static void read_all(SaLabelPng *p, const char *path, const uint8_t *data,
                     size_t size)
{
    const uint32_t w = sa_label_png_width(p), h = sa_label_png_height(p);
    const int depth = sa_label_png_bit_depth(p);
    FZ_CHECK(w > 0 && h > 0, "size %ux%u", w, h);
    FZ_CHECK(depth == 1 || depth == 2 || depth == 4 || depth == 8 ||
                 depth == 16,
             "bit depth %d", depth);
    const uint32_t limit = depth == 16 ? 65535u : (1u << depth) - 1;
    /* Band height from the data, so that different band splits get tried. */
    uint32_t band = 1 + (uint32_t)(size > 0 ? data[size - 1] % 7 : 0);
    if ((uint64_t)band * w * 2 > FZ_MAX_BAND)
        band = 1;
    if ((uint64_t)w * 2 > FZ_MAX_BAND)
        return; /* rows are streamed; a 16 MB row buffer is the caller's */
    uint16_t *buf = malloc((size_t)band * w * sizeof *buf);
    if (!buf)
        fz_die("malloc");
    SaErr err;
    sa_err_clear(&err);
    uint32_t y = 0;
    while (y < h) {
        uint32_t n = h - y < band ? h - y : band;
        memset(buf, 0xA5, (size_t)n * w * sizeof *buf);
        int rc = sa_label_png_read_rows(p, buf, n, &err);
        if (rc != 0) {
            check_error(&err, rc, path, "sa_label_png_read_rows");
            /* After a failure every later read fails too. */
            sa_err_clear(&err);
            rc = sa_label_png_read_rows(p, buf, 1, &err);
            FZ_CHECK(rc != 0, "read after a failed read succeeded");
            check_error(&err, rc, path, "sa_label_png_read_rows (again)");
            free(buf);
            return;
        }
        for (size_t i = 0; i < (size_t)n * w; i++)
            FZ_CHECK(buf[i] <= limit, "value %u at row %u col %zu exceeds "
                     "%u for bit depth %d", buf[i], y + (uint32_t)(i / w),
                     i % w, limit, depth);
        y += n;
    }
    /* Zero rows at the end is fine, one more is an error. */
    FZ_CHECK(sa_label_png_read_rows(p, buf, 0, &err) == 0,
             "reading 0 rows at the end failed: %s", err.msg);
    int rc = sa_label_png_read_rows(p, buf, 1, &err);
    FZ_CHECK(rc == SEGAUDIT_EINVAL, "reading past the end returned %d", rc);
    check_error(&err, rc, path, "sa_label_png_read_rows (past the end)");
    free(buf);
}

/* Opens path with the expected size; reads it all when it opens.  Returns
 * the open's result. */
static int open_and_read(const char *path, uint32_t ew, uint32_t eh,
                         const uint8_t *data, size_t size)
{
    SaLabelPng *p = (SaLabelPng *)(uintptr_t)1; /* must be reset to NULL */
    SaErr err;
    sa_err_clear(&err);
    int rc = sa_label_png_open(&p, path, ew, eh, &err);
    if (rc != 0) {
        FZ_CHECK(p == NULL, "failed open left *out set");
        check_error(&err, rc, path, "sa_label_png_open");
        return rc;
    }
    FZ_CHECK(p != NULL, "open succeeded without an object");
    FZ_CHECK(err.code == 0, "open succeeded with an error set");
    if (ew && eh)
        FZ_CHECK(sa_label_png_width(p) == ew && sa_label_png_height(p) == eh,
                 "opened %ux%u, expected %ux%u", sa_label_png_width(p),
                 sa_label_png_height(p), ew, eh);
    const Ihdr ih = peek_ihdr(data, size);
    if (ih.ok)
        FZ_CHECK(sa_label_png_is_palette(p) == (ih.ctype == 3),
                 "palette %d for colour type %d",
                 sa_label_png_is_palette(p), ih.ctype);
    read_all(p, path, data, size);
    sa_label_png_close(p);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FZ_PATH];
    unsigned char fds[FZ_MAX_FD];
    if (!path[0])
        snprintf(path, sizeof path, "%s/label.png", fz_tmpdir());
    fz_fd_snapshot(fds);
    static int tolerate = -1;
    if (tolerate < 0) {
        const char *t = getenv("SEGAUDIT_FUZZ_TOLERATE");
        tolerate = t && strstr(t, "chunk") != NULL;
    }
    if (tolerate && size >= 8 && has_huge_ancillary_chunk(data, size))
        return 0; /* known: finding 2 */
    fz_write_file(path, data, size);
    Ihdr ih = peek_ihdr(data, size);
    const long rss0 = peak_rss_kb();

    /* 1. Unknown size. */
    int opened = 0;
    if (!(ih.ok && ih.interlace && ih.w <= DEFAULT_DIM_LIMIT &&
          ih.h <= DEFAULT_DIM_LIMIT && whole_bytes(&ih) > FZ_MAX_IMAGE))
        opened = open_and_read(path, 0, 0, data, size) == 0;

    /* 2. A size that does not match: refused before decoding. */
    if (opened && ih.ok && ih.w < UINT32_MAX) {
        SaLabelPng *p = NULL;
        SaErr err;
        sa_err_clear(&err);
        int rc = sa_label_png_open(&p, path, ih.w + 1, ih.h, &err);
        FZ_CHECK(rc == SEGAUDIT_EINPUT && p == NULL,
                 "open with a wrong expected size returned %d", rc);
        check_error(&err, rc, path, "sa_label_png_open (wrong size)");
    }

    /* 3. The IHDR's own size when it exceeds the default limit. */
    if (ih.ok && ih.w && ih.h &&
        (ih.w > DEFAULT_DIM_LIMIT || ih.h > DEFAULT_DIM_LIMIT) &&
        (uint64_t)ih.w * 2 <= FZ_MAX_BAND &&
        !(ih.interlace && whole_bytes(&ih) > FZ_MAX_IMAGE))
        open_and_read(path, ih.w, ih.h, data, size);

    const long grew = peak_rss_kb() - rss0;
    FZ_CHECK(grew < FZ_MAX_RSS_GROWTH_KB, "peak memory grew by %ld MB for "
             "a %zu-byte file; see README.md, finding 2", grew >> 10, size);

    char target[FZ_PATH];
    int fd = fz_new_fd(fds, target, sizeof target);
    FZ_CHECK(fd < 0, "file descriptor %d (%s) was left open", fd, target);
    return 0;
}
