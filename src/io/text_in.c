/* Readers of hand-written text files: the label map ("from,to" lines), the
 * image id list (one id per line), and the label map presets.
 *
 * Both readers share one line reader over a plain file descriptor: the
 * file must be regular (opened with O_NONBLOCK so that a FIFO is refused
 * instead of waited on), its size is checked against the reader's limit
 * at open and again as bytes arrive (the file may grow meanwhile), and
 * each line is collected into a fixed buffer, so that no line, however
 * long, makes anything grow but the error message.  Lines are numbered
 * from 1 for the messages. */
#include "io/text_in.h"
#include "io/files.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK 65536
/* Bytes of a line or field shown in a message. */
#define SHOW_MAX 40
#define SHOW_BUF (4 * SHOW_MAX + 8)

/* s (n bytes) in double quotes for a message: printable ASCII as is,
 * other bytes as \xNN, cut after SHOW_MAX bytes with "...". */
static const char *show(char *out, const char *s, size_t n)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n && i < SHOW_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, 5, "\\x%02X", c);
            o += 4;
        }
    }
    out[o++] = '"';
    if (n > SHOW_MAX) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* ---- Line reader ------------------------------------------------------- */

typedef struct LineReader {
    const char *path;
    const char *kind;     /* "label map file": "not a <kind>" */
    uint64_t max_bytes;
    int fd;
    int at_eof;
    int bom_checked;      /* the file's first 3 bytes were looked at */
    uint64_t total;       /* bytes read so far */
    size_t pos, len;      /* unread part of buf */
    uint64_t lineno;      /* number of the line in line[] */
    size_t line_len;
    char line[SA_TEXT_LINE_MAX + 2]; /* a line, a '\r', a NUL */
    unsigned char buf[READ_CHUNK];
} LineReader;

static int too_large(const LineReader *r, uint64_t size, int at_least,
                     SaErr *err)
{
    return sa_err(err, SEGAUDIT_EINPUT, "%s: the file is %s%" PRIu64
                  " bytes; a %s may be at most %" PRIu64 " MiB (%" PRIu64
                  " bytes)", r->path, at_least ? "at least " : "", size,
                  r->kind, r->max_bytes >> 20, r->max_bytes);
}

/* Allocates and opens a reader of path; on failure *out is NULL. */
static int lr_open(LineReader **out, const char *path, const char *kind,
                   uint64_t max_bytes, SaErr *err)
{
    struct stat st;
    LineReader *r = malloc(sizeof *r);
    *out = NULL;
    if (!r)
        return sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", path);
    r->path = path;
    r->kind = kind;
    r->max_bytes = max_bytes;
    r->at_eof = 0;
    r->bom_checked = 0;
    r->total = 0;
    r->pos = r->len = 0;
    r->lineno = 0;
    r->line_len = 0;
    r->line[0] = '\0';
    int rc = sa_open_regular_fd(path, "", kind, &r->fd, &st, err);
    if (rc) {
        free(r);
        return rc;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > max_bytes) {
        rc = too_large(r, (uint64_t)st.st_size, 0, err);
        close(r->fd);
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static void lr_close(LineReader *r)
{
    if (!r)
        return;
    close(r->fd);
    free(r);
}

static int lr_fill(LineReader *r, SaErr *err)
{
    ssize_t n;
    do {
        n = read(r->fd, r->buf, sizeof r->buf);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        char eb[128];
        return sa_err(err, SEGAUDIT_EIO, "%s: read failed: %s", r->path,
                      sa_errstr(errno, eb, sizeof eb));
    }
    r->pos = 0;
    r->len = (size_t)n;
    if (n == 0)
        r->at_eof = 1;
    r->total += (uint64_t)n;
    if (r->total > r->max_bytes)
        return too_large(r, r->total, 1, err);
    return 0;
}

static int line_too_long(const LineReader *r, SaErr *err)
{
    return sa_err(err, SEGAUDIT_EINPUT, "%s:%" PRIu64 ": line is longer than "
                  "%d bytes; expected short text lines", r->path, r->lineno,
                  SA_TEXT_LINE_MAX);
}

/* Reads the next line into r->line (NUL-terminated, without "\n" or
 * "\r\n"; a byte order mark at the start of the file is dropped and does
 * not count towards the line's length).  Returns 1 for a line, 0 at the
 * end of the file, or an error. */
static int lr_next(LineReader *r, SaErr *err)
{
    size_t len = 0;
    int newline = 0, any = 0;
    r->lineno++;
    for (;;) {
        if (r->pos == r->len) {
            if (r->at_eof)
                break;
            int rc = lr_fill(r, err);
            if (rc)
                return rc;
            continue;
        }
        unsigned char c = r->buf[r->pos++];
        if (c == '\n') {
            newline = 1;
            break;
        }
        any = 1;
        if (c == '\0')
            return sa_err(err, SEGAUDIT_EINPUT, "%s:%" PRIu64 ": NUL byte "
                          "at byte %zu of the line; expected a text file",
                          r->path, r->lineno, len + 1);
        /* Room for the longest line and its '\r'; one byte more is
         * too long whatever it is. */
        if (len == SA_TEXT_LINE_MAX + 1)
            return line_too_long(r, err);
        r->line[len++] = (char)c;
        if (len == 3 && r->lineno == 1 && !r->bom_checked) {
            /* The first 3 bytes of the file: a byte order mark? */
            r->bom_checked = 1;
            if (memcmp(r->line, "\xEF\xBB\xBF", 3) == 0) {
                len = 0;
                any = 0;
            }
        }
    }
    if (!newline && !any) {
        r->lineno--;
        return 0;
    }
    if (len > 0 && r->line[len - 1] == '\r')
        len--;
    if (len > SA_TEXT_LINE_MAX)
        return line_too_long(r, err);
    r->line[len] = '\0';
    r->line_len = len;
    return 1;
}

/* ---- Label maps -------------------------------------------------------- */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

enum { FIELD_OK, FIELD_EMPTY, FIELD_NOT_INT, FIELD_RANGE };

/* Parses s (n bytes, spaces around allowed) as an integer 0..65535. */
static int parse_value(const char *s, size_t n, unsigned *out)
{
    while (n > 0 && is_blank(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    if (n == 0)
        return FIELD_EMPTY;
    int neg = s[0] == '-';
    if (neg && n == 1)
        return FIELD_NOT_INT;
    unsigned long v = 0;
    for (size_t i = neg ? 1 : 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return FIELD_NOT_INT;
        if (v <= 65535)
            v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (neg && v == 0)
        return FIELD_NOT_INT; /* "-0": not a form anyone means */
    if (neg || v > 65535)
        return FIELD_RANGE;
    *out = (unsigned)v;
    return FIELD_OK;
}

static int field_error(const LineReader *r, const char *name, int kind,
                       const char *s, size_t n, int mapped_before,
                       SaErr *err)
{
    char q[SHOW_BUF];
    switch (kind) {
    case FIELD_EMPTY:
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%" PRIu64 ": '%s' is empty; "
                      "expected an integer 0..65535", r->path, r->lineno,
                      name);
    case FIELD_RANGE:
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%" PRIu64 ": '%s' is %s, "
                      "out of range; expected an integer 0..65535", r->path,
                      r->lineno, name, show(q, s, n));
    default:
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%" PRIu64 ": '%s' is %s, "
                      "not an integer; expected an integer 0..65535%s",
                      r->path, r->lineno, name, show(q, s, n),
                      mapped_before && strcmp(r->line, "from,to") == 0
                          ? " (the header \"from,to\" may only come before "
                            "the first mapping)"
                          : "");
    }
}

/* One mapping line: "from,to" with spaces allowed around the numbers. */
static int parse_mapping(const LineReader *r, int mapped_before,
                         unsigned *from, unsigned *to, SaErr *err)
{
    char q[SHOW_BUF];
    const char *s = r->line;
    const size_t n = r->line_len;
    const char *c1 = memchr(s, ',', n);
    if (!c1)
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%" PRIu64 ": found %s, one "
                      "column; expected two, \"from,to\"", r->path,
                      r->lineno, show(q, s, n));
    size_t ncols = 2;
    for (const char *p = c1 + 1; p < s + n; p++)
        ncols += *p == ',';
    if (ncols > 2)
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%" PRIu64 ": found %s, %zu "
                      "columns; expected two, \"from,to\"", r->path,
                      r->lineno, show(q, s, n), ncols);
    const size_t n1 = (size_t)(c1 - s);
    int k = parse_value(s, n1, from);
    if (k != FIELD_OK)
        return field_error(r, "from", k, s, n1, mapped_before, err);
    k = parse_value(c1 + 1, n - n1 - 1, to);
    if (k != FIELD_OK)
        return field_error(r, "to", k, c1 + 1, n - n1 - 1, mapped_before,
                           err);
    return 0;
}

int sa_label_map_read(const char *path, uint16_t *map, SaErr *err)
{
    LineReader *r = NULL;
    uint64_t *first_line = NULL; /* line where each value was mapped, or 0 */
    uint16_t *to_of = NULL;
    int rc, mapped = 0, header_allowed = 1;

    if (!path || !map)
        return sa_err(err, SEGAUDIT_EINVAL, "label map: no %s given",
                      path ? "map" : "path");
    if ((rc = lr_open(&r, path, "label map file", SA_LABEL_MAP_MAX_BYTES,
                      err)))
        return rc;
    first_line = calloc(SA_LABEL_MAP_SIZE, sizeof *first_line);
    to_of = malloc(SA_LABEL_MAP_SIZE * sizeof *to_of);
    if (!first_line || !to_of) {
        rc = sa_err(err, SEGAUDIT_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    while ((rc = lr_next(r, err)) == 1) {
        const char *s = r->line;
        while (is_blank(*s))
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        if (header_allowed) {
            header_allowed = 0;
            if (strcmp(r->line, "from,to") == 0)
                continue;
        }
        unsigned from, to;
        if ((rc = parse_mapping(r, mapped, &from, &to, err)))
            goto done;
        if (first_line[from]) {
            rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%" PRIu64 ": 'from' value "
                        "%u is given twice (lines %" PRIu64 " and %" PRIu64
                        "); expected each value at most once", path,
                        r->lineno, from, first_line[from], r->lineno);
            goto done;
        }
        first_line[from] = r->lineno;
        to_of[from] = (uint16_t)to;
        mapped++;
    }
    if (rc < 0)
        goto done;
    if (!mapped) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: %s; expected lines "
                    "\"from,to\" of integers 0..65535", path,
                    r->lineno ? "no mapping line in the file"
                              : "the file is empty");
        goto done;
    }
    for (size_t v = 0; v < SA_LABEL_MAP_SIZE; v++)
        if (first_line[v])
            map[v] = to_of[v];
    rc = 0;
done:
    free(first_line);
    free(to_of);
    lr_close(r);
    return rc;
}

/* ---- Presets ----------------------------------------------------------- */

/* Cityscapes: label id (as stored in *_gtFine_labelIds.png) -> train id,
 * from the label table of cityscapesScripts (helpers/labels.py), with the
 * ignored ids (train id 255 or -1) as 255.  Index = label id 0..33. */
static const uint16_t CITYSCAPES_TRAIN_IDS[34] = {
    255, /*  0 unlabeled */
    255, /*  1 ego vehicle */
    255, /*  2 rectification border */
    255, /*  3 out of roi */
    255, /*  4 static */
    255, /*  5 dynamic */
    255, /*  6 ground */
    0,   /*  7 road */
    1,   /*  8 sidewalk */
    255, /*  9 parking */
    255, /* 10 rail track */
    2,   /* 11 building */
    3,   /* 12 wall */
    4,   /* 13 fence */
    255, /* 14 guard rail */
    255, /* 15 bridge */
    255, /* 16 tunnel */
    5,   /* 17 pole */
    255, /* 18 polegroup */
    6,   /* 19 traffic light */
    7,   /* 20 traffic sign */
    8,   /* 21 vegetation */
    9,   /* 22 terrain */
    10,  /* 23 sky */
    11,  /* 24 person */
    12,  /* 25 rider */
    13,  /* 26 car */
    14,  /* 27 truck */
    15,  /* 28 bus */
    255, /* 29 caravan */
    255, /* 30 trailer */
    16,  /* 31 train */
    17,  /* 32 motorcycle */
    18,  /* 33 bicycle */
};

typedef struct Preset {
    const char *name;
    const uint16_t *table; /* table[v] for v < n; values >= n are kept */
    size_t n;
} Preset;

static const Preset PRESETS[] = {
    {"cityscapes", CITYSCAPES_TRAIN_IDS,
     sizeof CITYSCAPES_TRAIN_IDS / sizeof CITYSCAPES_TRAIN_IDS[0]},
};

/* Every name of PRESETS, in order. */
static const char PRESET_NAMES[] = "cityscapes";

const char *sa_label_map_preset_names(void)
{
    return PRESET_NAMES;
}

int sa_label_map_preset(const char *name, uint16_t *map, SaErr *err)
{
    char q[SHOW_BUF];
    if (!name)
        return sa_err(err, SEGAUDIT_EINVAL, "no label map preset named "
                      "(known: %s)", PRESET_NAMES);
    if (!map)
        return sa_err(err, SEGAUDIT_EINVAL, "label map preset %s: no map "
                      "given", show(q, name, strlen(name)));
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++) {
        if (strcmp(name, PRESETS[i].name) != 0)
            continue;
        for (size_t v = 0; v < PRESETS[i].n; v++)
            map[v] = PRESETS[i].table[v];
        return 0;
    }
    return sa_err(err, SEGAUDIT_EINVAL, "unknown label map preset %s "
                  "(known: %s)", show(q, name, strlen(name)), PRESET_NAMES);
}

/* ---- Image ids --------------------------------------------------------- */

/* Checks that s (n bytes) is UTF-8 without control characters.  Returns
 * 0, or 1 (not UTF-8) or 2 (control character *cp) at byte *at. */
static int check_text(const unsigned char *s, size_t n, size_t *at,
                      uint32_t *cp)
{
    size_t i = 0;
    while (i < n) {
        const unsigned char c = s[i];
        uint32_t v;
        size_t k;
        *at = i;
        if (c < 0x80) {
            v = c;
            k = 1;
        } else if (c >= 0xC2 && c <= 0xDF) {
            v = c & 0x1Fu;
            k = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            v = c & 0x0Fu;
            k = 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            v = c & 0x07u;
            k = 4;
        } else {
            return 1; /* continuation byte, overlong lead, or beyond */
        }
        if (n - i < k)
            return 1;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 1;
            v = v << 6 | (s[i + j] & 0x3Fu);
        }
        if ((k == 3 && v < 0x800) || (v >= 0xD800 && v <= 0xDFFF) ||
            (k == 4 && (v < 0x10000 || v > 0x10FFFF)))
            return 1; /* overlong, surrogate, or past U+10FFFF */
        if (v < 0x20 || v == 0x7F || (v >= 0x80 && v <= 0x9F)) {
            *cp = v;
            return 2;
        }
        i += k;
    }
    return 0;
}

static int check_id(const LineReader *r, SaErr *err)
{
    char q[SHOW_BUF];
    const char *s = r->line;
    const size_t n = r->line_len;
    size_t at;
    uint32_t cp;
    if (n == 0)
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%" PRIu64 ": empty line; "
                      "expected one image id on every line (a blank line at "
                      "the end counts too)", r->path, r->lineno);
    switch (check_text((const unsigned char *)s, n, &at, &cp)) {
    case 1:
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%" PRIu64 ": bytes that are "
                      "not UTF-8 at byte %zu (%s); expected UTF-8 text",
                      r->path, r->lineno, at + 1,
                      show(q, s + at, n - at < 4 ? n - at : 4));
    case 2:
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%" PRIu64 ": control "
                      "character U+%04" PRIX32 "%s at byte %zu; expected "
                      "printable text", r->path, r->lineno, cp,
                      cp == '\t'   ? " (tab)"
                      : cp == '\r' ? " (carriage return)"
                                   : "",
                      at + 1);
    }
    if (s[0] == ' ' || s[n - 1] == ' ')
        return sa_err(err, SEGAUDIT_EINPUT, "%s:%" PRIu64 ": id with leading "
                      "or trailing spaces: %s; expected the id alone",
                      r->path, r->lineno, show(q, s, n));
    return 0;
}

int sa_ids_text_read(const char *path, char ***ids_out, uint64_t *n_out,
                     SaErr *err)
{
    LineReader *r = NULL;
    char **ids = NULL;
    uint64_t n = 0, cap = 0;
    int rc;

    if (ids_out)
        *ids_out = NULL;
    if (n_out)
        *n_out = 0;
    if (!path || !ids_out || !n_out)
        return sa_err(err, SEGAUDIT_EINVAL, "image id list: invalid "
                      "arguments");
    if ((rc = lr_open(&r, path, "list of image ids", SA_IDS_TEXT_MAX_BYTES,
                      err)))
        return rc;
    while ((rc = lr_next(r, err)) == 1) {
        if ((rc = check_id(r, err)))
            goto fail;
        if (n == cap) {
            uint64_t nc = cap ? 2 * cap : 256;
            char **g = nc <= SIZE_MAX / sizeof *g
                           ? realloc(ids, (size_t)nc * sizeof *g)
                           : NULL;
            if (!g) {
                rc = sa_err(err, SEGAUDIT_ENOMEM, "%s:%" PRIu64 ": out of "
                            "memory after %" PRIu64 " ids", path, r->lineno,
                            n);
                goto fail;
            }
            ids = g;
            cap = nc;
        }
        if (!(ids[n] = malloc(r->line_len + 1))) {
            rc = sa_err(err, SEGAUDIT_ENOMEM, "%s:%" PRIu64 ": out of memory "
                        "after %" PRIu64 " ids", path, r->lineno, n);
            goto fail;
        }
        memcpy(ids[n], r->line, r->line_len + 1);
        n++;
    }
    if (rc < 0)
        goto fail;
    if (n == 0) {
        rc = sa_err(err, SEGAUDIT_EINPUT, "%s: the file is empty; expected "
                    "one image id per line", path);
        goto fail;
    }
    lr_close(r);
    *ids_out = ids;
    *n_out = n;
    return 0;
fail:
    sa_free_strings(ids, n);
    lr_close(r);
    return rc;
}
