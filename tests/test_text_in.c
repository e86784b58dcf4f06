/* Unit tests of src/io/text_in.c: the label map reader, the label map
 * presets and the image id list reader.
 *
 * Every accepted form and every refusal is written as a small file into a
 * mkdtemp folder; refusals must leave the caller's data untouched and name
 * the path (and the line, for a problem of one line).  The Cityscapes
 * preset is compared with tests/data/cityscapes_labels.csv (a copy of the
 * dataset's label table), read here at run time; run with the working
 * directory = tests/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/text_in.h"
#include "tmpdir_support.h"

static uint16_t g_map[SA_LABEL_MAP_SIZE];

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (n)
        assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* Writes the NUL-terminated text to a file called name; returns its path
 * in buf. */
static const char *put(char *buf, const char *name, const char *text)
{
    tpath(buf, name);
    write_bytes(buf, text, strlen(text));
    return buf;
}

static void identity(uint16_t *map)
{
    for (size_t v = 0; v < SA_LABEL_MAP_SIZE; v++)
        map[v] = (uint16_t)v;
}

/* ---- Checking messages ------------------------------------------------- */

static void has(const SaErr *e, const char *k)
{
    if (k && !strstr(e->msg, k))
        fail_msg("message \"%s\" lacks \"%s\"", e->msg, k);
}

/* About one line: the message starts with "<path>:<line>: ". */
static void check_line_msg(const SaErr *e, const char *path, unsigned line,
                           const char *k1, const char *k2)
{
    char head[PATHLEN + 32];
    snprintf(head, sizeof head, "%s:%u: ", path, line);
    if (strncmp(e->msg, head, strlen(head)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", e->msg, head);
    has(e, k1);
    has(e, k2);
}

/* ---- Label maps: accepted ---------------------------------------------- */

/* Reads text as a label map over the identity; the result is in g_map. */
static void map_ok(const char *name, const char *text)
{
    char path[PATHLEN];
    SaErr err = {0};
    identity(g_map);
    put(path, name, text);
    int rc = sa_label_map_read(path, g_map, &err);
    if (rc != 0)
        fail_msg("%s: %d %s", name, rc, err.msg);
    assert_int_equal(err.code, 0);
}

/* g_map is the identity except for the n pairs given. */
static void expect_map(size_t n, const unsigned *pairs)
{
    uint16_t want[SA_LABEL_MAP_SIZE];
    identity(want);
    for (size_t i = 0; i < n; i++)
        want[pairs[2 * i]] = (uint16_t)pairs[2 * i + 1];
    for (size_t v = 0; v < SA_LABEL_MAP_SIZE; v++)
        if (g_map[v] != want[v])
            fail_msg("map[%zu] = %u, want %u", v, g_map[v], want[v]);
}

static void test_map_basic(void **state)
{
    (void)state;
    static const unsigned p[] = {7, 0, 26, 13, 0, 255};
    map_ok("basic.csv", "7,0\n26,13\n0,255\n");
    expect_map(3, p);
    /* No final newline. */
    map_ok("nonl.csv", "7,0\n26,13\n0,255");
    expect_map(3, p);
    /* One line only, mapping a value to itself. */
    map_ok("one.csv", "5,5");
    expect_map(0, p);
}

static void test_map_forms(void **state)
{
    (void)state;
    static const unsigned p[] = {1, 2, 3, 4, 65535, 0, 0, 65535, 10, 20};
    /* Header, comments (also indented), blank and whitespace-only lines,
     * spaces and tabs around numbers, leading zeros. */
    map_ok("forms.csv",
           "# a comment\n"
           "\n"
           "from,to\n"
           "1,2\n"
           "   \t\n"
           "  # an indented comment, with commas, 5,6\n"
           " 3 ,\t4 \n"
           "65535,0\n"
           "00000,065535\n"
           "#last\n"
           "\t10\t,\t20\t\n");
    expect_map(5, p);
    /* CRLF line endings, a BOM and the header. */
    map_ok("crlf.csv",
           "\xEF\xBB\xBF" "from,to\r\n1,2\r\n3,4\r\n\r\n65535,0\r\n"
           "0,65535\r\n10,20\r\n");
    expect_map(5, p);
    /* A BOM right before a mapping; the last line ends in "\r" only. */
    map_ok("bom.csv", "\xEF\xBB\xBF" "1,2\n3,4\n65535,0\n0,65535\n10,20\r");
    expect_map(5, p);
    /* A byte order mark does not count towards the first line's length;
     * only the one at the start of the file is skipped. */
    {
        char *t = malloc(SA_TEXT_LINE_MAX + 16);
        assert_non_null(t);
        memcpy(t, "\xEF\xBB\xBF" "1,", 5);
        memset(t + 5, ' ', SA_TEXT_LINE_MAX - 3);
        memcpy(t + 5 + SA_TEXT_LINE_MAX - 3, "2\n", 3);
        t[SA_TEXT_LINE_MAX + 5] = '\0';
        map_ok("bom_long.csv", t);
        expect_map(1, p);
        free(t);
    }
    /* The header after comments and blank lines is still the first. */
    map_ok("hdr2.csv", "\n# x\n\nfrom,to\n1,2\n");
    expect_map(1, p);
}

/* A file maps on top of what the caller set. */
static void test_map_on_top(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    for (size_t v = 0; v < SA_LABEL_MAP_SIZE; v++)
        g_map[v] = 9;
    put(path, "top.csv", "1,2\n");
    assert_int_equal(sa_label_map_read(path, g_map, &err), 0);
    assert_int_equal(g_map[1], 2);
    assert_int_equal(g_map[0], 9);
    assert_int_equal(g_map[2], 9);
    assert_int_equal(g_map[65535], 9);
}

/* Lines of exactly the limit are accepted, with or without '\r'. */
static void test_map_longest_line(void **state)
{
    (void)state;
    static const unsigned p[] = {1, 2};
    char *t = malloc(2 * SA_TEXT_LINE_MAX + 64);
    assert_non_null(t);
    /* A comment of 4096 bytes, then a mapping padded to 4096 bytes. */
    size_t o = 0;
    t[o++] = '#';
    memset(t + o, 'x', SA_TEXT_LINE_MAX - 1);
    o += SA_TEXT_LINE_MAX - 1;
    t[o++] = '\r';
    t[o++] = '\n';
    memcpy(t + o, "1,", 2);
    o += 2;
    memset(t + o, ' ', SA_TEXT_LINE_MAX - 3);
    o += SA_TEXT_LINE_MAX - 3;
    t[o++] = '2';
    t[o++] = '\n';
    t[o] = '\0';
    map_ok("long_ok.csv", t);
    expect_map(1, p);
    free(t);
}

/* A file of exactly 16 MiB is read. */
static void test_map_largest_file(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    const size_t n = (size_t)SA_LABEL_MAP_MAX_BYTES;
    char *t = malloc(n);
    assert_non_null(t);
    /* Comment lines of 64 bytes, then "4,5\n" at the end. */
    for (size_t i = 0; i + 4 < n; i += 64) {
        memset(t + i, '#', 63);
        t[i + 63] = '\n';
    }
    t[n - 5] = '\n';
    memcpy(t + n - 4, "4,5\n", 4);
    tpath(path, "big_ok.csv");
    write_bytes(path, t, n);
    free(t);
    identity(g_map);
    int rc = sa_label_map_read(path, g_map, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(g_map[4], 5);
}

/* ---- Label maps: refused ----------------------------------------------- */

/* The file must be refused with code, the message about line (0: the whole
 * file) holding k1 and k2, and the map untouched. */
static void map_bad(const char *name, const char *text, size_t len, int code,
                    unsigned line, const char *k1, const char *k2)
{
    char path[PATHLEN];
    SaErr err = {0};
    tpath(path, name);
    write_bytes(path, text, len);
    identity(g_map);
    assert_int_equal(sa_label_map_read(path, g_map, &err), code);
    assert_int_equal(err.code, code);
    if (line)
        check_line_msg(&err, path, line, k1, k2);
    else
        check_msg(&err, path, k1, k2);
    for (size_t v = 0; v < SA_LABEL_MAP_SIZE; v++)
        if (g_map[v] != v)
            fail_msg("%s: a refused file changed map[%zu] to %u", name, v,
                     g_map[v]);
}

#define MAP_BAD(name, text, line, k1, k2)                                    \
    map_bad(name, text, sizeof text - 1, SEGAUDIT_EINPUT, line, k1, k2)

static void test_map_not_integer(void **state)
{
    (void)state;
    MAP_BAD("ni1.csv", "1,2\nabc,1\n", 2, "'from' is \"abc\"",
            "expected an integer 0..65535");
    MAP_BAD("ni2.csv", "1,x\n", 1, "'to' is \"x\"", "not an integer");
    MAP_BAD("ni3.csv", "1.5,2\n", 1, "'from' is \"1.5\"", "not an integer");
    MAP_BAD("ni4.csv", "0x10,2\n", 1, "\"0x10\"", "not an integer");
    MAP_BAD("ni5.csv", "+1,2\n", 1, "\"+1\"", "not an integer");
    MAP_BAD("ni6.csv", "1 2,3\n", 1, "\"1 2\"", "not an integer");
    MAP_BAD("ni7.csv", "3,-\n", 1, "'to' is \"-\"", "not an integer");
    MAP_BAD("ni8.csv", "3,\xC3\xA9\n", 1, "'to' is \"\\xC3\\xA9\"",
            "not an integer");
    /* The header only before the first mapping, and exactly. */
    MAP_BAD("hdr_late.csv", "1,2\nfrom,to\n", 2, "'from' is \"from\"",
            "only come before the first mapping");
    MAP_BAD("hdr_sp.csv", "from, to\n1,2\n", 1, "'from' is \"from\"",
            "expected an integer");
    MAP_BAD("hdr_case.csv", "From,To\n1,2\n", 1, "\"From\"", NULL);
    MAP_BAD("bom2.csv", "\xEF\xBB\xBF\xEF\xBB\xBF" "1,2\n", 1,
            "'from' is \"\\xEF\\xBB\\xBF1\"", NULL);
    MAP_BAD("bom_l2.csv", "1,2\n\xEF\xBB\xBF" "3,4\n", 2, "'from' is", NULL);
    MAP_BAD("hdr_twice.csv", "from,to\nfrom,to\n1,2\n", 2, "\"from\"", NULL);
    /* "\r" in the middle of a line is not a line ending. */
    MAP_BAD("cr_mid.csv", "1,2\r3\n", 1, "'to' is \"2\\x0D3\"", NULL);
}

static void test_map_range(void **state)
{
    (void)state;
    MAP_BAD("r1.csv", "70000,1\n", 1, "'from' is \"70000\"", "out of range");
    MAP_BAD("r2.csv", "1,65536\n", 1, "'to' is \"65536\"", "0..65535");
    MAP_BAD("r3.csv", "-1,3\n", 1, "'from' is \"-1\"", "out of range");
    MAP_BAD("r4.csv", "1,99999999999999999999999999\n", 1,
            "\"99999999999999999999999999\"", "out of range");
}

static void test_map_columns(void **state)
{
    (void)state;
    MAP_BAD("c1.csv", "1,2\n3\n", 2, "found \"3\", one column",
            "expected two, \"from,to\"");
    MAP_BAD("c2.csv", "1,2,3\n", 1, "found \"1,2,3\", 3 columns",
            "expected two");
    MAP_BAD("c3.csv", "1,2,\n", 1, "3 columns", NULL);
    MAP_BAD("c4.csv", ",2\n", 1, "'from' is empty", "expected an integer");
    MAP_BAD("c5.csv", "1,\n", 1, "'to' is empty", NULL);
    MAP_BAD("c6.csv", "1;2\n", 1, "one column", NULL);
    MAP_BAD("c7.csv", "1\t2\n", 1, "one column", NULL);
}

static void test_map_duplicate(void **state)
{
    (void)state;
    MAP_BAD("dup.csv", "from,to\n7,0\n8,1\n# again\n7,0\n", 5,
            "'from' value 7 is given twice", "(lines 2 and 5)");
    MAP_BAD("dup2.csv", "0,1\n00,1\n", 2, "value 0", "lines 1 and 2");
}

static void test_map_empty(void **state)
{
    (void)state;
    MAP_BAD("e1.csv", "", 0, "the file is empty", "\"from,to\"");
    MAP_BAD("e2.csv", "from,to\n", 0, "no mapping line", "\"from,to\"");
    MAP_BAD("e3.csv", "# nothing\n\n   \n", 0, "no mapping line", NULL);
    MAP_BAD("e4.csv", "\xEF\xBB\xBF", 0, "the file is empty", NULL);
    MAP_BAD("e6.csv", "\xEF\xBB\xBF\n", 0, "no mapping line", NULL);
    MAP_BAD("e5.csv", "\n", 0, "no mapping line", NULL);
}

static void test_map_nul(void **state)
{
    (void)state;
    MAP_BAD("nul.csv", "1,2\n3,\0" "4\n", 2, "NUL byte", "byte 3");
    /* Even in a comment. */
    MAP_BAD("nul2.csv", "# a\0b\n1,2\n", 1, "NUL byte", NULL);
}

static void test_map_long_line(void **state)
{
    (void)state;
    char *t = malloc(SA_TEXT_LINE_MAX + 64);
    assert_non_null(t);
    /* 4097 bytes before the newline, on line 2. */
    memcpy(t, "1,2\n#", 5);
    memset(t + 5, 'x', SA_TEXT_LINE_MAX);
    memcpy(t + 5 + SA_TEXT_LINE_MAX, "\n3,4\n", 5);
    map_bad("long.csv", t, SA_TEXT_LINE_MAX + 10, SEGAUDIT_EINPUT, 2,
            "line is longer than 4096 bytes", NULL);
    /* 4096 bytes and "\r\r": still one byte too many. */
    memcpy(t, "#", 1);
    memset(t + 1, 'x', SA_TEXT_LINE_MAX - 1);
    memcpy(t + SA_TEXT_LINE_MAX, "\r\r\n1,2\n", 7);
    map_bad("long_cr.csv", t, SA_TEXT_LINE_MAX + 7, SEGAUDIT_EINPUT, 1,
            "longer than 4096", NULL);
    /* A line without end (no newline at all, 1 MB). */
    free(t);
    const size_t big = 1 << 20;
    t = malloc(big);
    assert_non_null(t);
    memset(t, '1', big);
    map_bad("long_nonl.csv", t, big, SEGAUDIT_EINPUT, 1, "longer than",
            NULL);
    free(t);
}

static void test_map_too_large(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    tpath(path, "huge.csv");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    /* Sparse: refused from its size, before reading. */
    assert_int_equal(ftruncate(fd, (off_t)SA_LABEL_MAP_MAX_BYTES + 1), 0);
    close(fd);
    identity(g_map);
    assert_int_equal(sa_label_map_read(path, g_map, &err), SEGAUDIT_EINPUT);
    check_msg(&err, path, "16777217 bytes", "at most 16 MiB");
}

static void test_map_not_regular(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    tpath(path, "missing.csv");
    assert_int_equal(sa_label_map_read(path, g_map, &err), SEGAUDIT_EINPUT);
    check_msg(&err, path, "cannot open", "No such file");
    sa_err_clear(&err);
    assert_int_equal(sa_label_map_read(g_dir, g_map, &err), SEGAUDIT_EINPUT);
    check_msg(&err, g_dir, "is a directory", "not a label map file");
    sa_err_clear(&err);
    tpath(path, "fifo.csv");
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(20); /* a hang would otherwise stall the suite */
    assert_int_equal(sa_label_map_read(path, g_map, &err), SEGAUDIT_EINPUT);
    alarm(0);
    check_msg(&err, path, "not a regular file", NULL);
    unlink(path);
    sa_err_clear(&err);
    assert_int_equal(sa_label_map_read("/dev/zero", g_map, &err),
                     SEGAUDIT_EINPUT);
    check_msg(&err, "/dev/zero", "not a regular file", NULL);
}

static void test_map_unreadable(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    if (geteuid() == 0)
        skip(); /* root reads anything */
    put(path, "noperm.csv", "1,2\n");
    assert_int_equal(chmod(path, 0), 0);
    assert_int_equal(sa_label_map_read(path, g_map, &err), SEGAUDIT_EIO);
    check_msg(&err, path, "cannot open", NULL);
}

/* ---- Presets ----------------------------------------------------------- */

static void test_preset_cityscapes_spot(void **state)
{
    (void)state;
    SaErr err = {0};
    identity(g_map);
    assert_int_equal(sa_label_map_preset("cityscapes", g_map, &err), 0);
    assert_int_equal(g_map[7], 0);    /* road */
    assert_int_equal(g_map[26], 13);  /* car */
    assert_int_equal(g_map[33], 18);  /* bicycle */
    assert_int_equal(g_map[0], 255);  /* unlabeled */
    assert_int_equal(g_map[1], 255);  /* ego vehicle */
    assert_int_equal(g_map[34], 34);  /* beyond the table: identity */
    assert_int_equal(g_map[255], 255);
    assert_int_equal(g_map[1000], 1000);
    assert_int_equal(g_map[65535], 65535);
    for (size_t v = 34; v < SA_LABEL_MAP_SIZE; v++)
        assert_int_equal(g_map[v], v);
    /* Each of the 19 train ids comes from exactly one label id; all other
     * label ids are ignored. */
    int hits[19] = {0}, ignored = 0;
    for (unsigned v = 0; v <= 33; v++) {
        if (g_map[v] == 255)
            ignored++;
        else if (g_map[v] < 19)
            hits[g_map[v]]++;
        else
            fail_msg("label id %u -> %u", v, g_map[v]);
    }
    for (int t = 0; t < 19; t++)
        if (hits[t] != 1)
            fail_msg("train id %d hit %d times", t, hits[t]);
    assert_int_equal(ignored, 34 - 19);
}

/* The table against the dataset's own (tests/data/cityscapes_labels.csv:
 * id,name,train_id,r,g,b). */
static void test_preset_cityscapes_csv(void **state)
{
    (void)state;
    SaErr err = {0};
    FILE *f = fopen("data/cityscapes_labels.csv", "r");
    if (!f)
        fail_msg("data/cityscapes_labels.csv: %s (run from tests/)",
                 strerror(errno));
    identity(g_map);
    assert_int_equal(sa_label_map_preset("cityscapes", g_map, &err), 0);
    char line[256];
    int rows = 0, seen[34] = {0};
    assert_non_null(fgets(line, sizeof line, f));
    assert_int_equal(strncmp(line, "id,name,train_id,", 17), 0);
    while (fgets(line, sizeof line, f)) {
        char name[128];
        int id, train;
        if (sscanf(line, "%d,%127[^,],%d,", &id, name, &train) != 3)
            fail_msg("unparsed row: %s", line);
        if (id < 0)
            continue; /* license plate: no uint16 label value */
        assert_true(id <= 33);
        seen[id]++;
        unsigned want = train < 0 || train == 255 ? 255u : (unsigned)train;
        if (g_map[id] != want)
            fail_msg("%s (id %d): preset gives %u, the table %u", name, id,
                     g_map[id], want);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 34);
    for (int i = 0; i < 34; i++)
        assert_int_equal(seen[i], 1);
}

static void test_preset_unknown(void **state)
{
    (void)state;
    SaErr err = {0};
    identity(g_map);
    assert_int_equal(sa_label_map_preset("citiscapes", g_map, &err),
                     SEGAUDIT_EINVAL);
    assert_int_equal(err.code, SEGAUDIT_EINVAL);
    has(&err, "unknown label map preset \"citiscapes\"");
    has(&err, "known: cityscapes");
    for (size_t v = 0; v < SA_LABEL_MAP_SIZE; v++)
        assert_int_equal(g_map[v], v);
    sa_err_clear(&err);
    assert_int_equal(sa_label_map_preset("", g_map, &err), SEGAUDIT_EINVAL);
    has(&err, "cityscapes");
    sa_err_clear(&err);
    assert_int_equal(sa_label_map_preset("Cityscapes", g_map, &err),
                     SEGAUDIT_EINVAL);
    sa_err_clear(&err);
    assert_int_equal(sa_label_map_preset(NULL, g_map, &err), SEGAUDIT_EINVAL);
    has(&err, "cityscapes");
}

/* Every listed name is a preset. */
static void test_preset_names(void **state)
{
    (void)state;
    char names[256];
    const char *all = sa_label_map_preset_names();
    assert_non_null(all);
    assert_string_equal(all, "cityscapes");
    snprintf(names, sizeof names, "%s", all);
    int count = 0;
    for (char *tok = strtok(names, ", "); tok; tok = strtok(NULL, ", ")) {
        SaErr err = {0};
        identity(g_map);
        if (sa_label_map_preset(tok, g_map, &err) != 0)
            fail_msg("listed preset \"%s\": %s", tok, err.msg);
        count++;
    }
    assert_int_equal(count, 1);
}

/* ---- Image ids: accepted ----------------------------------------------- */

/* Reads text as an id list; it must give the n ids of want. */
static void ids_ok(const char *name, const char *text, size_t len,
                   uint64_t n, const char *const *want)
{
    char path[PATHLEN];
    SaErr err = {0};
    char **ids = NULL;
    uint64_t got = 0;
    tpath(path, name);
    write_bytes(path, text, len);
    int rc = sa_ids_text_read(path, &ids, &got, &err);
    if (rc != 0)
        fail_msg("%s: %d %s", name, rc, err.msg);
    assert_int_equal(got, n);
    assert_non_null(ids);
    for (uint64_t i = 0; i < n; i++)
        if (strcmp(ids[i], want[i]) != 0)
            fail_msg("%s: id %" PRIu64 " is \"%s\", want \"%s\"", name, i,
                     ids[i], want[i]);
    sa_free_strings(ids, got);
}

#define IDS_OK(name, text, ...)                                              \
    do {                                                                     \
        static const char *const want_[] = {__VA_ARGS__};                    \
        ids_ok(name, text, sizeof text - 1,                                  \
               sizeof want_ / sizeof want_[0], want_);                       \
    } while (0)

static void test_ids_forms(void **state)
{
    (void)state;
    IDS_OK("i1.txt", "a\nb\nc\n", "a", "b", "c");
    IDS_OK("i2.txt", "a\nb\nc", "a", "b", "c");
    IDS_OK("i3.txt", "a\r\nb\r\nc\r\n", "a", "b", "c");
    IDS_OK("i4.txt", "a\r\nb\r\nc\r", "a", "b", "c");
    IDS_OK("i5.txt", "only", "only");
    IDS_OK("i6.txt", "only\n", "only");
    IDS_OK("i7.txt", "\xEF\xBB\xBF" "frankfurt_000000_000294\nx\n",
           "frankfurt_000000_000294", "x");
    /* Inner spaces, punctuation, UTF-8 of 2, 3 and 4 bytes, a '#' (not
     * a comment here), duplicates (the caller's business). */
    IDS_OK("i8.txt",
           "a b\nstra\xC3\x9F" "e\n\xE6\x97\xA5\xE6\x9C\xAC\n"
           "\xF0\x9F\x98\x80\n#1\n,;\"'\na b\n",
           "a b", "stra\xC3\x9F" "e", "\xE6\x97\xA5\xE6\x9C\xAC",
           "\xF0\x9F\x98\x80", "#1", ",;\"'", "a b");
    /* Only the first byte order mark is skipped (U+FEFF is text). */
    IDS_OK("i10.txt", "\xEF\xBB\xBF\xEF\xBB\xBFx\n\xEF\xBB\xBFy",
           "\xEF\xBB\xBFx", "\xEF\xBB\xBFy");
    /* The largest code point, and the first after the C1 controls. */
    IDS_OK("i9.txt", "\xF4\x8F\xBF\xBF\n\xC2\xA0x\n", "\xF4\x8F\xBF\xBF",
           "\xC2\xA0x");
}

static void test_ids_longest_line(void **state)
{
    (void)state;
    char *t = malloc(2 * SA_TEXT_LINE_MAX + 8);
    char *want = malloc(SA_TEXT_LINE_MAX + 1);
    assert_non_null(t);
    assert_non_null(want);
    memset(want, 'k', SA_TEXT_LINE_MAX);
    want[SA_TEXT_LINE_MAX] = '\0';
    size_t o = 0;
    memcpy(t + o, want, SA_TEXT_LINE_MAX);
    o += SA_TEXT_LINE_MAX;
    t[o++] = '\r';
    t[o++] = '\n';
    memcpy(t + o, want, SA_TEXT_LINE_MAX);
    o += SA_TEXT_LINE_MAX;
    const char *const w[] = {want, want};
    ids_ok("ilong.txt", t, o, 2, w);
    free(t);
    free(want);
}

/* Many ids: the array grows many times. */
static void test_ids_many(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    char **ids = NULL;
    uint64_t n = 0;
    const unsigned count = 100000;
    tpath(path, "many.txt");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (unsigned i = 0; i < count; i++)
        fprintf(f, "img_%06u\n", i);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(sa_ids_text_read(path, &ids, &n, &err), 0);
    assert_int_equal(n, count);
    char want[32];
    for (unsigned i = 0; i < count; i += 997) {
        snprintf(want, sizeof want, "img_%06u", i);
        assert_string_equal(ids[i], want);
    }
    assert_string_equal(ids[count - 1], "img_099999");
    sa_free_strings(ids, n);
    sa_free_strings(NULL, 0);
}

/* ---- Image ids: refused ------------------------------------------------ */

static void ids_bad(const char *name, const char *text, size_t len, int code,
                    unsigned line, const char *k1, const char *k2)
{
    char path[PATHLEN];
    SaErr err = {0};
    char **ids = (char **)&err; /* must be reset to NULL */
    uint64_t n = 77;
    tpath(path, name);
    write_bytes(path, text, len);
    assert_int_equal(sa_ids_text_read(path, &ids, &n, &err), code);
    assert_int_equal(err.code, code);
    assert_null(ids);
    assert_int_equal(n, 0);
    if (line)
        check_line_msg(&err, path, line, k1, k2);
    else
        check_msg(&err, path, k1, k2);
}

#define IDS_BAD(name, text, line, k1, k2)                                    \
    ids_bad(name, text, sizeof text - 1, SEGAUDIT_EINPUT, line, k1, k2)

static void test_ids_empty(void **state)
{
    (void)state;
    IDS_BAD("e1.txt", "", 0, "the file is empty", "one image id per line");
    IDS_BAD("e2.txt", "\xEF\xBB\xBF", 0, "the file is empty", NULL);
    IDS_BAD("e3.txt", "\n", 1, "empty line", "one image id");
    IDS_BAD("e4.txt", "a\n\nb\n", 2, "empty line", NULL);
    IDS_BAD("e5.txt", "a\nb\n\n", 3, "empty line", "at the end counts");
    IDS_BAD("e6.txt", "a\r\n\r\nb\r\n", 2, "empty line", NULL);
    IDS_BAD("e7.txt", "a\nb\n\r", 3, "empty line", NULL);
}

static void test_ids_spaces(void **state)
{
    (void)state;
    IDS_BAD("s1.txt", " a\n", 1, "id with leading or trailing spaces",
            "\" a\"");
    IDS_BAD("s2.txt", "a\nb \nc\n", 2, "id with leading or trailing spaces",
            "\"b \"");
    IDS_BAD("s3.txt", "a\n   \n", 2, "leading or trailing spaces", NULL);
    IDS_BAD("s4.txt", "a\nb \r\n", 2, "leading or trailing spaces", NULL);
}

static void test_ids_control(void **state)
{
    (void)state;
    IDS_BAD("c1.txt", "a\tb\n", 1, "control character U+0009 (tab)",
            "at byte 2");
    IDS_BAD("c2.txt", "a\nb\rc\n", 2, "U+000D (carriage return)", NULL);
    IDS_BAD("c3.txt", "a\x7F\n", 1, "U+007F", "printable text");
    IDS_BAD("c4.txt", "x\xC2\x85y\n", 1, "U+0085", "at byte 2");
    IDS_BAD("c5.txt", "\x1B[31mred\n", 1, "U+001B", NULL);
    IDS_BAD("c6.txt", "ok\nb\x0C\n", 2, "U+000C", NULL);
    /* "\r\r\n": one '\r' is the line ending, the other is refused. */
    IDS_BAD("c7.txt", "a\r\r\n", 1, "carriage return", NULL);
}

static void test_ids_utf8(void **state)
{
    (void)state;
    IDS_BAD("u1.txt", "a\xFF" "b\n", 1, "not UTF-8", "at byte 2 (\"\\xFF");
    IDS_BAD("u2.txt", "\x80\n", 1, "not UTF-8", "byte 1");
    /* Overlong forms, a surrogate, beyond U+10FFFF, overlong again. */
    IDS_BAD("u3.txt", "x\n\xC0\x80\n", 2, "not UTF-8", NULL);
    IDS_BAD("u4.txt", "\xE0\x80\x80\n", 1, "not UTF-8", NULL);
    IDS_BAD("u5.txt", "\xED\xA0\x80\n", 1, "not UTF-8", NULL);
    IDS_BAD("u6.txt", "\xF4\x90\x80\x80\n", 1, "not UTF-8", NULL);
    IDS_BAD("u7.txt", "\xF0\x80\x80\x80\n", 1, "not UTF-8", NULL);
    IDS_BAD("u8.txt", "ab\xE6\x97\n", 1, "not UTF-8", "byte 3"); /* cut */
    IDS_BAD("u9.txt", "ab\xE6\x97", 1, "not UTF-8", NULL);       /* at EOF */
    IDS_BAD("u10.txt", "\xC3(\n", 1, "not UTF-8", NULL);
    IDS_BAD("u11.txt", "\xF8\x88\x80\x80\x80\n", 1, "not UTF-8", NULL);
    /* Latin-1, a common mistake. */
    IDS_BAD("u12.txt", "ok\nM\xFCnchen\n", 2, "not UTF-8", "expected UTF-8");
}

static void test_ids_nul(void **state)
{
    (void)state;
    IDS_BAD("n1.txt", "a\nb\0c\n", 2, "NUL byte", "at byte 2");
    IDS_BAD("n2.txt", "\0", 1, "NUL byte", NULL);
}

static void test_ids_long_line(void **state)
{
    (void)state;
    char *t = malloc(SA_TEXT_LINE_MAX + 16);
    assert_non_null(t);
    memcpy(t, "a\nb\n", 4);
    memset(t + 4, 'x', SA_TEXT_LINE_MAX + 1);
    ids_bad("ilong_bad.txt", t, SA_TEXT_LINE_MAX + 5, SEGAUDIT_EINPUT, 3,
            "line is longer than 4096 bytes", NULL);
    free(t);
}

static void test_ids_too_large(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    char **ids = NULL;
    uint64_t n = 0;
    tpath(path, "huge.txt");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)SA_IDS_TEXT_MAX_BYTES + 1), 0);
    close(fd);
    assert_int_equal(sa_ids_text_read(path, &ids, &n, &err), SEGAUDIT_EINPUT);
    assert_null(ids);
    check_msg(&err, path, "268435457 bytes", "at most 256 MiB");
    unlink(path);
}

static void test_ids_not_regular(void **state)
{
    (void)state;
    char path[PATHLEN];
    SaErr err = {0};
    char **ids = NULL;
    uint64_t n = 0;
    tpath(path, "missing.txt");
    assert_int_equal(sa_ids_text_read(path, &ids, &n, &err), SEGAUDIT_EINPUT);
    check_msg(&err, path, "cannot open", "No such file");
    sa_err_clear(&err);
    assert_int_equal(sa_ids_text_read(g_dir, &ids, &n, &err),
                     SEGAUDIT_EINPUT);
    check_msg(&err, g_dir, "is a directory",
                   "not a list of image ids");
    sa_err_clear(&err);
    tpath(path, "fifo.txt");
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(20);
    assert_int_equal(sa_ids_text_read(path, &ids, &n, &err), SEGAUDIT_EINPUT);
    alarm(0);
    check_msg(&err, path, "not a regular file", NULL);
    unlink(path);
    assert_null(ids);
    assert_int_equal(n, 0);
}

/* ---- Fixture ----------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    return tmpdir_create("test_text_in");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_basic),
        cmocka_unit_test(test_map_forms),
        cmocka_unit_test(test_map_on_top),
        cmocka_unit_test(test_map_longest_line),
        cmocka_unit_test(test_map_largest_file),
        cmocka_unit_test(test_map_not_integer),
        cmocka_unit_test(test_map_range),
        cmocka_unit_test(test_map_columns),
        cmocka_unit_test(test_map_duplicate),
        cmocka_unit_test(test_map_empty),
        cmocka_unit_test(test_map_nul),
        cmocka_unit_test(test_map_long_line),
        cmocka_unit_test(test_map_too_large),
        cmocka_unit_test(test_map_not_regular),
        cmocka_unit_test(test_map_unreadable),
        cmocka_unit_test(test_preset_cityscapes_spot),
        cmocka_unit_test(test_preset_cityscapes_csv),
        cmocka_unit_test(test_preset_unknown),
        cmocka_unit_test(test_preset_names),
        cmocka_unit_test(test_ids_forms),
        cmocka_unit_test(test_ids_longest_line),
        cmocka_unit_test(test_ids_many),
        cmocka_unit_test(test_ids_empty),
        cmocka_unit_test(test_ids_spaces),
        cmocka_unit_test(test_ids_control),
        cmocka_unit_test(test_ids_utf8),
        cmocka_unit_test(test_ids_nul),
        cmocka_unit_test(test_ids_long_line),
        cmocka_unit_test(test_ids_too_large),
        cmocka_unit_test(test_ids_not_regular),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
