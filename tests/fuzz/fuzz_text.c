/* fuzz_text: the text readers of src/io/text_in.c.
 *
 * The input is a whole text file, written to a temporary file and read
 *   1. as a label map (sa_label_map_read) over the identity.  The answer is
 *      compared with a second, simpler parser in this file, written from
 *      the rules of src/io/text_in.h: accepted exactly when it accepts,
 *      and then with the same map; when refused, the map is untouched;
 *   2. as a list of image ids (sa_ids_text_read).  When accepted, every id
 *      must be non-empty, at most SA_TEXT_LINE_MAX bytes, without control
 *      bytes or surrounding spaces, and the ids joined by '\n' must be the
 *      file without its byte order mark, '\r' line endings and final
 *      newline; when refused, nothing is returned;
 *   3. its first bytes (up to the first NUL or newline, at most 32) as a
 *      preset name (sa_label_map_preset): accepted exactly for a listed
 *      name.
 * Every error must have a SEGAUDIT_E* code and a message starting with
 * "<path>:" (line numbers within the file), and every descriptor opened
 * for an input must be closed after it.  Everything is freed (LeakSanitizer
 * checks it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "io/text_in.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t g_map[SA_LABEL_MAP_SIZE];
static uint16_t g_want[SA_LABEL_MAP_SIZE];
static uint32_t g_line_of[SA_LABEL_MAP_SIZE];

static void identity(uint16_t *m)
{
    for (size_t v = 0; v < SA_LABEL_MAP_SIZE; v++)
        m[v] = (uint16_t)v;
}

/* Lines of the file as the readers see them: split at '\n', one '\r'
 * dropped from the end of each, the byte order mark dropped from the
 * first; a final '\n' does not start another line. */
typedef struct Line {
    const char *s;
    size_t n;
} Line;

static size_t split_lines(const uint8_t *d, size_t size, Line *out,
                          size_t max)
{
    size_t count = 0, start = 0;
    if (size >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0)
        start = 3;
    while (start < size && count < max) {
        const uint8_t *nl = memchr(d + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - d) : size;
        size_t n = end - start;
        if (n > 0 && d[end - 1] == '\r')
            n--;
        out[count].s = (const char *)d + start;
        out[count].n = n;
        count++;
        start = end + 1;
    }
    return count;
}

static void check_error(const SaErr *err, int rc, const char *path,
                        const char *call, size_t nlines)
{
    FZ_CHECK(rc == SEGAUDIT_EINPUT || rc == SEGAUDIT_EIO ||
                 rc == SEGAUDIT_ENOMEM,
             "%s returned %d", call, rc);
    fz_check_failure(err, rc, path, call);
    const size_t pl = strlen(path);
    const char *p = err->msg + pl + 1;
    if (*p >= '0' && *p <= '9') {
        unsigned long line = strtoul(p, NULL, 10);
        FZ_CHECK(line >= 1 && line <= nlines + 1,
                 "%s: line %lu of a file of %zu lines: '%s'", call, line,
                 nlines, err->msg);
    }
}

/* ---- Reference label map parser ---------------------------------------- */

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A number: blanks, 1+ digits, blanks, and its value at most 65535. */
static int ref_number(const char *s, size_t n, unsigned *v)
{
    size_t a = 0, b = n;
    while (a < b && blank(s[a]))
        a++;
    while (b > a && blank(s[b - 1]))
        b--;
    if (a == b)
        return 0;
    size_t lead = a;
    while (lead < b - 1 && s[lead] == '0')
        lead++; /* leading zeros */
    if (b - lead > 5)
        return 0;
    unsigned x = 0;
    for (size_t i = a; i < b; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (unsigned)(s[i] - '0');
    }
    if (x > 65535)
        return 0;
    *v = x;
    return 1;
}

/* 1 when the file is a valid label map; g_want then holds the map. */
static int ref_label_map(const uint8_t *d, size_t size, const Line *lines,
                         size_t nlines)
{
    identity(g_want);
    memset(g_line_of, 0, sizeof g_line_of);
    if (size > SA_LABEL_MAP_MAX_BYTES || memchr(d, '\0', size))
        return 0;
    int mapped = 0, first = 1;
    for (size_t i = 0; i < nlines; i++) {
        const char *s = lines[i].s;
        size_t n = lines[i].n;
        if (n > SA_TEXT_LINE_MAX)
            return 0;
        size_t k = 0;
        while (k < n && blank(s[k]))
            k++;
        if (k == n || s[k] == '#')
            continue;
        if (first) {
            first = 0;
            if (n == 7 && memcmp(s, "from,to", 7) == 0)
                continue;
        }
        const char *comma = memchr(s, ',', n);
        if (!comma || memchr(comma + 1, ',', (size_t)(s + n - comma - 1)))
            return 0;
        unsigned from, to;
        if (!ref_number(s, (size_t)(comma - s), &from) ||
            !ref_number(comma + 1, (size_t)(s + n - comma - 1), &to))
            return 0;
        if (g_line_of[from])
            return 0;
        g_line_of[from] = (uint32_t)i + 1;
        g_want[from] = (uint16_t)to;
        mapped = 1;
    }
    return mapped;
}

static void run_label_map(const char *path, const uint8_t *d, size_t size,
                          const Line *lines, size_t nlines)
{
    SaErr err;
    sa_err_clear(&err);
    identity(g_map);
    int rc = sa_label_map_read(path, g_map, &err);
    int ok = ref_label_map(d, size, lines, nlines);
    if (rc != 0) {
        check_error(&err, rc, path, "sa_label_map_read", nlines);
        FZ_CHECK(!ok || rc == SEGAUDIT_ENOMEM,
                 "refused a valid label map: %s", err.msg);
        for (size_t v = 0; v < SA_LABEL_MAP_SIZE; v++)
            FZ_CHECK(g_map[v] == v, "a refused file changed map[%zu] to %u",
                     v, g_map[v]);
        return;
    }
    FZ_CHECK(err.code == 0, "success with an error set: %s", err.msg);
    FZ_CHECK(ok, "accepted an invalid label map");
    for (size_t v = 0; v < SA_LABEL_MAP_SIZE; v++)
        FZ_CHECK(g_map[v] == g_want[v], "map[%zu] = %u, expected %u", v,
                 g_map[v], g_want[v]);
}

/* ---- Image ids --------------------------------------------------------- */

static void run_ids(const char *path, const uint8_t *d, size_t size,
                    size_t nlines)
{
    SaErr err;
    char **ids = (char **)&err; /* must be reset */
    uint64_t n = 12345;
    sa_err_clear(&err);
    int rc = sa_ids_text_read(path, &ids, &n, &err);
    if (rc != 0) {
        check_error(&err, rc, path, "sa_ids_text_read", nlines);
        FZ_CHECK(ids == NULL && n == 0, "a failed read returned ids");
        return;
    }
    FZ_CHECK(err.code == 0, "success with an error set: %s", err.msg);
    FZ_CHECK(ids != NULL && n >= 1 && n == nlines,
             "%llu ids from %zu lines", (unsigned long long)n, nlines);
    FZ_CHECK(!memchr(d, '\0', size), "accepted a NUL byte");
    /* The file, rebuilt from the ids, must be the input. */
    size_t pos = size >= 3 && memcmp(d, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *id = ids[i];
        const size_t len = strlen(id);
        FZ_CHECK(len >= 1 && len <= SA_TEXT_LINE_MAX, "id %llu has %zu bytes",
                 (unsigned long long)i, len);
        FZ_CHECK(id[0] != ' ' && id[len - 1] != ' ', "id %llu: surrounding "
                 "spaces", (unsigned long long)i);
        for (size_t k = 0; k < len; k++) {
            const unsigned char c = (unsigned char)id[k];
            FZ_CHECK(c >= 0x20 && c != 0x7F && c != 0xFF && c != 0xC0 &&
                         c != 0xC1,
                     "id %llu: byte 0x%02X", (unsigned long long)i, c);
        }
        FZ_CHECK(pos + len <= size && memcmp(d + pos, id, len) == 0,
                 "id %llu is not line %llu of the file",
                 (unsigned long long)i, (unsigned long long)i + 1);
        pos += len;
        if (pos < size && d[pos] == '\r')
            pos++;
        FZ_CHECK(pos == size || d[pos] == '\n',
                 "id %llu is not a whole line", (unsigned long long)i);
        if (pos < size)
            pos++;
    }
    FZ_CHECK(pos == size, "%zu bytes after the last id", size - pos);
    sa_free_strings(ids, n);
}

/* ---- Presets ----------------------------------------------------------- */

static void run_preset(const uint8_t *d, size_t size)
{
    char name[33];
    size_t n = 0;
    while (n < size && n < 32 && d[n] != '\0' && d[n] != '\n')
        n++;
    memcpy(name, d, n);
    name[n] = '\0';
    SaErr err;
    sa_err_clear(&err);
    identity(g_map);
    int rc = sa_label_map_preset(name, g_map, &err);
    const int listed = strcmp(name, "cityscapes") == 0;
    FZ_CHECK(strcmp(sa_label_map_preset_names(), "cityscapes") == 0,
             "preset names changed: update this harness");
    if (listed) {
        FZ_CHECK(rc == 0, "preset %s: %s", name, err.msg);
        FZ_CHECK(g_map[7] == 0 && g_map[33] == 18 && g_map[0] == 255 &&
                     g_map[34] == 34,
                 "cityscapes preset values");
        return;
    }
    FZ_CHECK(rc == SEGAUDIT_EINVAL && err.code == rc,
             "unknown preset returned %d", rc);
    FZ_CHECK(strstr(err.msg, "cityscapes") != NULL,
             "message does not list the presets: '%s'", err.msg);
    for (size_t v = 0; v < SA_LABEL_MAP_SIZE; v++)
        FZ_CHECK(g_map[v] == v, "a refused preset changed map[%zu]", v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FZ_PATH];
    static Line lines[(1u << 20) + 1];
    unsigned char fds[FZ_MAX_FD];
    if (!path[0])
        snprintf(path, sizeof path, "%s/input.txt", fz_tmpdir());
    if (size > (1u << 20))
        return 0; /* the line table's size; the readers' limits are above */
    fz_fd_snapshot(fds);
    fz_write_file(path, data, size);
    const size_t nlines = split_lines(data, size, lines,
                                      sizeof lines / sizeof lines[0]);

    run_label_map(path, data, size, lines, nlines);
    run_ids(path, data, size, nlines);
    run_preset(data, size);

    char target[FZ_PATH];
    int fd = fz_new_fd(fds, target, sizeof target);
    FZ_CHECK(fd < 0, "file descriptor %d (%s) was left open", fd, target);
    return 0;
}
