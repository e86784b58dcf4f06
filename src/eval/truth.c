/* The reader of the truth file: which images are known to be mislabeled
 * (a CSV with columns `image` and `mislabeled`).  See evaluate.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eval/evaluate.h"

/* A CSV record reader over the whole file in memory. */
typedef struct Csv {
    const char *path;
    const char *buf;
    size_t len, pos;
    uint64_t line;        /* line of buf[pos] */
    uint64_t rec_line;    /* line where the last record started */
    char *text;           /* the record's fields, each NUL-terminated */
    size_t text_len, text_cap;
    size_t *field;        /* offsets of the fields in text */
    size_t nfield, field_cap;
} Csv;

static int csv_putc(Csv *c, char ch, SaErr *err)
{
    if (c->text_len == c->text_cap) {
        size_t cap = c->text_cap ? 2 * c->text_cap : 256;
        char *t = realloc(c->text, cap);
        if (!t)
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        c->text = t;
        c->text_cap = cap;
    }
    c->text[c->text_len++] = ch;
    return 0;
}

static int csv_begin_field(Csv *c, SaErr *err)
{
    if (c->nfield == c->field_cap) {
        size_t cap = c->field_cap ? 2 * c->field_cap : 16;
        size_t *f = realloc(c->field, cap * sizeof *f);
        if (!f)
            return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
        c->field = f;
        c->field_cap = cap;
    }
    c->field[c->nfield++] = c->text_len;
    return 0;
}

static const char *csv_field(const Csv *c, size_t i)
{
    return c->text + c->field[i];
}

/* At a line end ("\n", "\r\n", or "\r" at the end of the file)? */
static size_t csv_eol(const Csv *c)
{
    if (c->pos >= c->len)
        return 0;
    if (c->buf[c->pos] == '\n')
        return 1;
    if (c->buf[c->pos] == '\r') {
        if (c->pos + 1 == c->len)
            return 1;
        if (c->buf[c->pos + 1] == '\n')
            return 2;
    }
    return 0;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t')
            return 0;
    return 1;
}

/* Reads the next non-empty record: 1, or 0 at the end of the file, or an
 * error code. */
static int csv_next(Csv *c, SaErr *err)
{
    int rc;
    for (;;) {
        if (c->pos >= c->len)
            return 0;
        c->rec_line = c->line;
        c->text_len = 0;
        c->nfield = 0;
        int any_quoted = 0;
        for (;;) {  /* one field */
            if ((rc = csv_begin_field(c, err)) != 0)
                return rc;
            if (c->pos < c->len && c->buf[c->pos] == '"') {
                any_quoted = 1;
                uint64_t qline = c->line;
                c->pos++;
                for (;;) {
                    if (c->pos >= c->len)
                        return sa_err(err, SEGAUDIT_EINPUT,
                                      "%s:%llu: a quoted field is not "
                                      "closed", c->path,
                                      (unsigned long long)qline);
                    char ch = c->buf[c->pos];
                    if (ch == '"') {
                        if (c->pos + 1 < c->len && c->buf[c->pos + 1] == '"') {
                            c->pos += 2;
                        } else {
                            c->pos++;
                            break;
                        }
                    } else {
                        c->pos++;
                        if (ch == '\n')
                            c->line++;
                    }
                    if ((rc = csv_putc(c, ch, err)) != 0)
                        return rc;
                }
                if (c->pos < c->len && c->buf[c->pos] != ',' && !csv_eol(c))
                    return sa_err(err, SEGAUDIT_EINPUT,
                                  "%s:%llu: unexpected character '%c' after "
                                  "a closing quote (a quote inside a quoted "
                                  "field is written \"\")",
                                  c->path, (unsigned long long)c->line,
                                  c->buf[c->pos]);
            } else {
                while (c->pos < c->len && c->buf[c->pos] != ',' &&
                       !csv_eol(c)) {
                    if ((rc = csv_putc(c, c->buf[c->pos++], err)) != 0)
                        return rc;
                }
            }
            if ((rc = csv_putc(c, '\0', err)) != 0)
                return rc;
            if (c->pos < c->len && c->buf[c->pos] == ',') {
                c->pos++;
                continue;
            }
            size_t eol = csv_eol(c);
            if (eol) {
                c->pos += eol;
                c->line++;
            }
            break;
        }
        if (c->nfield == 1 && !any_quoted && is_blank(csv_field(c, 0)))
            continue;  /* an empty line */
        return 1;
    }
}

/* Is s, without the blanks around it, the word w (any case)? */
static int is_word(const char *s, const char *w)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return len == strlen(w) && strncasecmp(s, w, len) == 0;
}

/* 1 or 0, or -1 when s is none of the accepted spellings. */
static int parse_bool(const char *s)
{
    if (is_word(s, "1") || is_word(s, "true") || is_word(s, "yes"))
        return 1;
    if (is_word(s, "0") || is_word(s, "false") || is_word(s, "no"))
        return 0;
    return -1;
}

typedef struct IdKey {
    const char *id;
    uint64_t index;
} IdKey;

static int cmp_id(const void *x, const void *y)
{
    const IdKey *a = x, *b = y;
    int c = strcmp(a->id, b->id);
    if (c)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Index of id in the sorted keys, or -1. */
static int64_t find_id(const IdKey *keys, uint64_t n, const char *id)
{
    uint64_t lo = 0, hi = n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(keys[mid].id, id);
        if (c == 0)
            return (int64_t)keys[mid].index;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Reads the whole file into *out (NUL-terminated). */
static int read_file(const char *path, char **out, size_t *len, SaErr *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: cannot open the truth "
                      "file: %s", path, strerror(errno));
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    }
    for (;;) {
        if (cap - n < 2) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                fclose(f);
                return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    int saved = errno;
    fclose(f);
    if (bad) {
        free(buf);
        return sa_err(err, SEGAUDIT_EINPUT, "%s: cannot read the truth "
                      "file: %s", path, strerror(saved));
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Checks the header record; sets the column indices. */
static int read_header(Csv *c, size_t *col_image, size_t *col_mis,
                       SaErr *err)
{
    int rc = csv_next(c, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: the file is empty (expected a header row with "
                      "the columns 'image' and 'mislabeled')", c->path);
    size_t none = (size_t)-1;
    *col_image = *col_mis = none;
    for (size_t i = 0; i < c->nfield; i++) {
        const char *f = csv_field(c, i);
        const char *name = is_word(f, "image")        ? "image"
                           : is_word(f, "mislabeled") ? "mislabeled"
                                                      : NULL;
        if (!name)
            continue;
        size_t *col = name[0] == 'i' ? col_image : col_mis;
        if (!col)
            continue;
        if (*col != none)
            return sa_err(err, SEGAUDIT_EINPUT,
                          "%s:%llu: the header has two '%s' columns "
                          "(fields %zu and %zu)", c->path,
                          (unsigned long long)c->rec_line, name, *col + 1,
                          i + 1);
        *col = i;
    }
    if (*col_image == none || *col_mis == none)
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s:%llu: the header has no '%s' column (a header "
                      "row naming the columns 'image' and 'mislabeled' "
                      "is required)", c->path,
                      (unsigned long long)c->rec_line,
                      *col_image == none ? "image" : "mislabeled");
    return 0;
}

/* Fills row[i] = line << 1 | value for each id i met in the file. */
static int read_rows(Csv *c, const IdKey *keys, char *const *ids,
                     uint64_t n_ids, uint64_t *row, SaErr *err)
{
    size_t col_image, col_mis;
    int rc = read_header(c, &col_image, &col_mis, err);
    if (rc)
        return rc;
    size_t nhead = c->nfield;
    while ((rc = csv_next(c, err)) == 1) {
        unsigned long long line = (unsigned long long)c->rec_line;
        if (c->nfield != nhead)
            return sa_err(err, SEGAUDIT_EINPUT,
                          "%s:%llu: %zu fields but the header has %zu (a "
                          "field holding a comma must be quoted)",
                          c->path, line, c->nfield, nhead);
        const char *id = csv_field(c, col_image);
        const char *val = csv_field(c, col_mis);
        if (!*id)
            return sa_err(err, SEGAUDIT_EINPUT, "%s:%llu: empty image id",
                          c->path, line);
        int v = parse_bool(val);
        if (v < 0)
            return sa_err(err, SEGAUDIT_EINPUT,
                          "%s:%llu: mislabeled value '%.64s' of image "
                          "'%.256s' is not 0/1, true/false or yes/no",
                          c->path, line, val, id);
        int64_t i = find_id(keys, n_ids, id);
        if (i < 0)
            return sa_err(err, SEGAUDIT_EINPUT,
                          "%s:%llu: image '%.256s' is not in the dataset",
                          c->path, line, id);
        if (row[i])
            return sa_err(err, SEGAUDIT_EINPUT,
                          "%s:%llu: image '%.256s' has a second row (the "
                          "first is on line %llu)", c->path, line,
                          ids[i], (unsigned long long)(row[i] >> 1));
        row[i] = (uint64_t)c->rec_line << 1 | (uint64_t)v;
    }
    if (rc < 0)
        return rc;
    uint64_t missing = 0, first = 0;
    for (uint64_t i = 0; i < n_ids; i++)
        if (!row[i] && missing++ == 0)
            first = i;
    if (missing == 1)
        return sa_err(err, SEGAUDIT_EINPUT, "%s: no row for image '%.256s'",
                      c->path, ids[first]);
    if (missing > 1)
        return sa_err(err, SEGAUDIT_EINPUT,
                      "%s: no row for image '%.256s' (and %llu more)",
                      c->path, ids[first],
                      (unsigned long long)(missing - 1));
    return 0;
}

int sa_truth_read(const char *path, char *const *ids, uint64_t n_ids,
                  uint8_t *truth_out, SaErr *err)
{
    if (!path || (n_ids > 0 && (!ids || !truth_out)))
        return sa_err(err, SEGAUDIT_EINVAL,
                      "truth file: no path, ids or output given");
    if (n_ids > (uint64_t)SIZE_MAX / sizeof(IdKey))
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");

    IdKey *keys = malloc((n_ids ? n_ids : 1) * sizeof *keys);
    uint64_t *row = calloc(n_ids ? n_ids : 1, sizeof *row);
    if (!keys || !row) {
        free(keys);
        free(row);
        return sa_err(err, SEGAUDIT_ENOMEM, "out of memory");
    }
    for (uint64_t i = 0; i < n_ids; i++) {
        keys[i].id = ids[i];
        keys[i].index = i;
    }
    qsort(keys, n_ids, sizeof *keys, cmp_id);
    int rc = 0;
    for (uint64_t i = 1; i < n_ids; i++)
        if (strcmp(keys[i - 1].id, keys[i].id) == 0) {
            rc = sa_err(err, SEGAUDIT_EINVAL,
                        "image id '%.256s' appears more than once in the "
                        "dataset (images %llu and %llu)", keys[i].id,
                        (unsigned long long)keys[i - 1].index,
                        (unsigned long long)keys[i].index);
            break;
        }

    Csv c;
    memset(&c, 0, sizeof c);
    char *buf = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = read_file(path, &buf, &len, err);
    if (rc == 0) {
        c.path = path;
        c.buf = buf;
        c.len = len;
        c.line = 1;
        if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
            c.pos = 3;
        const char *nul = memchr(buf, '\0', len);
        if (nul) {
            unsigned long long line = 1;
            for (const char *p = buf; p < nul; p++)
                line += *p == '\n';
            rc = sa_err(err, SEGAUDIT_EINPUT, "%s:%llu: a NUL byte (is "
                        "this a text file?)", path, line);
        }
    }
    if (rc == 0)
        rc = read_rows(&c, keys, ids, n_ids, row, err);
    if (rc == 0)
        for (uint64_t i = 0; i < n_ids; i++)
            truth_out[i] = (uint8_t)(row[i] & 1);
    free(c.text);
    free(c.field);
    free(buf);
    free(keys);
    free(row);
    return rc;
}
