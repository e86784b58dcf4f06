/* NumPy .npy headers: a parser of the header dictionary that works in the
 * caller's buffer, and the file-level checks (the header read with pread,
 * the file long enough for the data).
 *
 * A .npy file is: the magic "\x93NUMPY", two version bytes, the length of
 * the header dictionary (2 bytes in version 1.0, 4 in 2.0 and 3.0, little-
 * endian), the dictionary as a Python literal padded with spaces and a
 * newline, then the array's elements.  The dictionary is read by a small
 * hand-written scanner over exactly the declared bytes: no recursion (the
 * only nesting allowed is the flat shape tuple), no allocation, and every
 * access checked against the end.  Anything the scanner does not know is
 * refused with a message that shows the bytes it found and says what it
 * expected there. */
#include "common/dtype.h"
#include "io/npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MAGIC_LEN 6
#define PREAMBLE_LEN 8         /* magic and version */
#define SMALL_HEADER 4096      /* read_header's stack buffer */
#define MAX_END ((uint64_t)INT64_MAX) /* the largest file offset */

static const unsigned char g_magic[MAGIC_LEN] = {0x93, 'N', 'U', 'M', 'P',
                                                 'Y'};

static const char g_expected_types[] =
    "expected float16, float32 or float64 ('<f2', '<f4', '<f8'), a signed "
    "or unsigned integer of 1, 2, 4 or 8 bytes ('<i4', '|u1', ...) or bool "
    "('|b1')";

/* ---- Messages ----------------------------------------------------------- */

/* "<path>: <message>" with the code.  Returns code. */
static int fail(SaErr *err, int code, const char *path, const char *fmt, ...)
    SA_PRINTF(4, 5);

static int fail(SaErr *err, int code, const char *path, const char *fmt, ...)
{
    char text[SA_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    sa_err(err, code, "%s: %s", path, text);
    return code;
}

/* Up to max bytes of p[0..n) in single quotes, printable ASCII as is and
 * everything else as \xNN, with "..." when cut. */
static const char *quote_bytes(const unsigned char *p, size_t n, size_t max,
                               char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen < 8) {
        if (outlen)
            out[0] = '\0';
        return out;
    }
    out[o++] = '\'';
    size_t i;
    for (i = 0; i < n && i < max; i++) {
        char tmp[5];
        int k;
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            k = snprintf(tmp, sizeof tmp, "%c", p[i]);
        else
            k = snprintf(tmp, sizeof tmp, "\\x%02x", p[i]);
        if (o + (size_t)k + 5 > outlen)
            break;
        memcpy(out + o, tmp, (size_t)k);
        o += (size_t)k;
    }
    out[o++] = '\'';
    if (i < n && o + 4 <= outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* ---- The dictionary scanner --------------------------------------------- */

typedef struct Lex {
    const unsigned char *s; /* the dictionary text */
    size_t n;               /* its length */
    size_t i;               /* the next byte */
    uint64_t base;          /* offset of s[0] in the file, for messages */
    int ascii_only;         /* versions 1.0 and 2.0 */
    const char *path;
    SaErr *err;
} Lex;

enum { KEY_DESCR, KEY_FORTRAN, KEY_SHAPE, N_KEYS };
static const char *const g_keys[N_KEYS] = {"descr", "fortran_order",
                                           "shape"};

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* A byte that would continue a Python name or number. */
static int is_word(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '_' || c == '.' || c >= 0x80;
}

static void skip_ws(Lex *L)
{
    while (L->i < L->n && is_space(L->s[L->i]))
        L->i++;
}

/* What is at the current position, for "found ...". */
static const char *found(const Lex *L, char *buf, size_t n)
{
    if (L->i >= L->n) {
        snprintf(buf, n, "the end of the header (offset %llu)",
                 (unsigned long long)(L->base + L->n));
        return buf;
    }
    char q[96];
    /* Up to the end of the token, roughly: stop at a space or newline. */
    size_t len = 0;
    while (L->i + len < L->n && len < 20 && !is_space(L->s[L->i + len]))
        len++;
    if (len == 0)
        len = 1;
    /* "..." when the token goes on past what is shown */
    const size_t more = L->i + len < L->n && !is_space(L->s[L->i + len]);
    snprintf(buf, n, "%s at offset %llu",
             quote_bytes(L->s + L->i, len + more, len, q, sizeof q),
             (unsigned long long)(L->base + L->i));
    return buf;
}

static int bad_token(Lex *L, const char *expected)
{
    char f[128];
    return fail(L->err, SEGAUDIT_EINPUT, L->path,
                "malformed .npy header: expected %s, found %s", expected,
                found(L, f, sizeof f));
}

/* A quoted string at the current position (which holds ' or ").  Escapes
 * and line breaks are refused (no descriptor NumPy writes has them).  On
 * success *str and *len are its contents and the position is after it. */
static int read_string(Lex *L, const unsigned char **str, size_t *len)
{
    const unsigned char q = L->s[L->i];
    const size_t start = L->i + 1;
    for (size_t j = start; j < L->n; j++) {
        unsigned char c = L->s[j];
        if (c == q) {
            *str = L->s + start;
            *len = j - start;
            L->i = j + 1;
            return 0;
        }
        if (c == '\\' || c == '\n' || c == '\r') {
            L->i = j;
            return bad_token(L, c == '\\' ? "a string without escape "
                                            "sequences"
                                          : "the string's closing quote");
        }
    }
    L->i = L->n;
    return bad_token(L, "the string's closing quote");
}

/* The quoted key at the current position: its index in g_keys. */
static int read_key(Lex *L, int *key)
{
    if (L->i >= L->n || (L->s[L->i] != '\'' && L->s[L->i] != '"'))
        return bad_token(L, "a quoted key ('descr', 'fortran_order' or "
                            "'shape') or '}'");
    const size_t at = L->i;
    const unsigned char *s = NULL;
    size_t len = 0;
    int rc = read_string(L, &s, &len);
    if (rc)
        return rc;
    for (int k = 0; k < N_KEYS; k++) {
        if (len == strlen(g_keys[k]) && memcmp(s, g_keys[k], len) == 0) {
            *key = k;
            return 0;
        }
    }
    char q[96];
    return fail(L->err, SEGAUDIT_EINPUT, L->path,
                "malformed .npy header: unknown key %s at offset %llu; "
                "expected only 'descr', 'fortran_order' and 'shape'",
                quote_bytes(s, len, 40, q, sizeof q),
                (unsigned long long)(L->base + at));
}

/* True or False. */
static int read_bool(Lex *L, int *v)
{
    static const char *const words[2] = {"False", "True"};
    for (int b = 0; b < 2; b++) {
        size_t wl = strlen(words[b]);
        if (L->n - L->i >= wl && memcmp(L->s + L->i, words[b], wl) == 0 &&
            (L->i + wl == L->n || !is_word(L->s[L->i + wl]))) {
            L->i += wl;
            *v = b;
            return 0;
        }
    }
    return bad_token(L, "True or False as the value of 'fortran_order'");
}

/* One dimension: a decimal integer, optionally with Python 2's 'L'. */
static int read_dim(Lex *L, int index, uint64_t *v)
{
    char f[128];
    if (L->i < L->n && L->s[L->i] == '-')
        return fail(L->err, SEGAUDIT_EINPUT, L->path,
                    "malformed .npy header: dimension %d of 'shape' is "
                    "negative (found %s); expected a non-negative integer",
                    index, found(L, f, sizeof f));
    if (L->i >= L->n || !is_digit(L->s[L->i]))
        return fail(L->err, SEGAUDIT_EINPUT, L->path,
                    "malformed .npy header: expected dimension %d of "
                    "'shape' as a non-negative integer, found %s", index,
                    found(L, f, sizeof f));
    const size_t at = L->i;
    uint64_t x = 0;
    while (L->i < L->n && is_digit(L->s[L->i])) {
        unsigned d = (unsigned)(L->s[L->i] - '0');
        if (x > (MAX_END - d) / 10) {
            L->i = at;
            return fail(L->err, SEGAUDIT_EINPUT, L->path,
                        "dimension %d of 'shape' is too large (found %s); "
                        "expected at most 2^63-1", index,
                        found(L, f, sizeof f));
        }
        x = x * 10 + d;
        L->i++;
    }
    if (L->i < L->n && L->s[L->i] == 'L')
        L->i++;
    if (L->i < L->n && is_word(L->s[L->i])) {
        L->i = at;
        return fail(L->err, SEGAUDIT_EINPUT, L->path,
                    "malformed .npy header: dimension %d of 'shape' is not "
                    "a decimal integer (found %s); expected a non-negative "
                    "integer", index, found(L, f, sizeof f));
    }
    *v = x;
    return 0;
}

/* The shape tuple: "()", "(5,)", "(2, 3)", "(2, 3,)". */
static int read_shape(Lex *L, SaNpyHeader *h)
{
    if (L->i < L->n && L->s[L->i] == '[')
        return bad_token(L, "a tuple such as (2, 3) as the value of 'shape' "
                            "(a list is not a shape)");
    if (L->i >= L->n || L->s[L->i] != '(')
        return bad_token(L, "a tuple of integers such as (2, 3) as the "
                            "value of 'shape'");
    L->i++;
    int n = 0, comma = 0;
    for (;;) {
        skip_ws(L);
        if (L->i < L->n && L->s[L->i] == ')') {
            if (n == 1 && !comma) {
                char f[128];
                return fail(L->err, SEGAUDIT_EINPUT, L->path,
                            "malformed .npy header: 'shape' is (%llu), "
                            "which is not a tuple (found %s); expected "
                            "(%llu,) for one dimension",
                            (unsigned long long)h->shape[0],
                            found(L, f, sizeof f),
                            (unsigned long long)h->shape[0]);
            }
            L->i++;
            break;
        }
        if (n > 0 && !comma)
            return bad_token(L, "',' or ')' in 'shape'");
        if (n == SA_NPY_MAX_DIMS)
            return fail(L->err, SEGAUDIT_EINPUT, L->path,
                        "the array has more than %d dimensions; expected "
                        "at most %d", SA_NPY_MAX_DIMS, SA_NPY_MAX_DIMS);
        int rc = read_dim(L, n, &h->shape[n]);
        if (rc)
            return rc;
        n++;
        skip_ws(L);
        comma = L->i < L->n && L->s[L->i] == ',';
        if (comma)
            L->i++;
    }
    h->ndim = n;
    return 0;
}

/* The descr string: [<>|=]?{f,i,u,b}<size>, or '?' for bool. */
static int parse_descr(Lex *L, const unsigned char *s, size_t len,
                       size_t at, SaNpyHeader *h)
{
    char q[96];
    const char *shown = quote_bytes(s, len, 40, q, sizeof q);
    const unsigned long long off = (unsigned long long)(L->base + at);
    const unsigned char *p = s, *e = s + len;
    unsigned char order = '=';
    if (p < e && (*p == '<' || *p == '>' || *p == '|' || *p == '='))
        order = *p++;
    if (p == e)
        return fail(L->err, SEGAUDIT_EINPUT, L->path,
                    "unsupported dtype %s (descr at offset %llu): no type "
                    "code; %s", shown, off, g_expected_types);
    const unsigned char kind = *p++;
    const char *what = NULL;
    switch (kind) {
    case 'f': case 'i': case 'u': case 'b': case '?':
        break;
    case 'c': what = "complex numbers"; break;
    case 'O': what = "Python objects (dtype 'O', stored pickled)"; break;
    case 'S': case 'a': what = "byte strings"; break;
    case 'U': what = "unicode strings"; break;
    case 'V': what = "raw or structured records (dtype 'V')"; break;
    case 'M': what = "datetimes"; break;
    case 'm': what = "timedeltas"; break;
    default: break;
    }
    if (what)
        return fail(L->err, SEGAUDIT_EINPUT, L->path,
                    "unsupported dtype %s (descr at offset %llu): the array "
                    "holds %s; %s", shown, off, what, g_expected_types);
    unsigned size = 0;
    size_t digits = 0;
    const unsigned char *first = p;
    while (p < e && is_digit(*p) && digits < 4) {
        size = size * 10 + (unsigned)(*p - '0');
        p++;
        digits++;
    }
    if (kind == '?' && digits == 0)
        size = 1;
    if (digits > 1 && *first == '0')
        p = s; /* a leading zero: not a size NumPy writes */
    if (p != e || (kind != '?' && digits == 0) ||
        (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b' &&
         kind != '?'))
        return fail(L->err, SEGAUDIT_EINPUT, L->path,
                    "unsupported dtype %s (descr at offset %llu); %s", shown,
                    off, g_expected_types);
    int ok;
    switch (kind) {
    case 'f':
        if (size == 10 || size == 12 || size == 16)
            return fail(L->err, SEGAUDIT_EINPUT, L->path,
                        "unsupported dtype %s (descr at offset %llu): a "
                        "%u-byte long double; expected float16, float32 or "
                        "float64 ('<f2', '<f4', '<f8')", shown, off, size);
        ok = size == 2 || size == 4 || size == 8;
        break;
    case 'i':
    case 'u':
        ok = size == 1 || size == 2 || size == 4 || size == 8;
        break;
    default: /* 'b1' and '?' are bool */
        ok = size == 1 && (kind == 'b' ? digits == 1 : digits == 0);
        break;
    }
    if (!ok)
        return fail(L->err, SEGAUDIT_EINPUT, L->path,
                    "unsupported dtype %s (descr at offset %llu): no such "
                    "%s size; %s", shown, off,
                    kind == 'f' ? "float" : kind == 'i' ? "int"
                    : kind == 'u' ? "uint" : "bool",
                    g_expected_types);
    if (order == '|' && size > 1)
        return fail(L->err, SEGAUDIT_EINPUT, L->path,
                    "unsupported dtype %s (descr at offset %llu): byte order "
                    "'|' (not applicable) for a %u-byte type; expected '<' "
                    "(little-endian) or '>' (big-endian)", shown, off, size);
    h->kind = kind == '?' ? 'b' : (char)kind;
    h->itemsize = size;
    h->big_endian = size > 1 && (order == '>' ||
                                 (order == '=' && sa_host_big_endian()));
    return 0;
}

static int read_descr(Lex *L, SaNpyHeader *h)
{
    if (L->i < L->n && L->s[L->i] == '[')
        return fail(L->err, SEGAUDIT_EINPUT, L->path,
                    "unsupported dtype: 'descr' is a list of fields at "
                    "offset %llu, a structured (record) array; %s",
                    (unsigned long long)(L->base + L->i), g_expected_types);
    if (L->i >= L->n || (L->s[L->i] != '\'' && L->s[L->i] != '"'))
        return bad_token(L, "a quoted type string such as '<f4' as the "
                            "value of 'descr'");
    const size_t at = L->i;
    const unsigned char *s = NULL;
    size_t len = 0;
    int rc = read_string(L, &s, &len);
    return rc ? rc : parse_descr(L, s, len, at, h);
}

/* The whole dictionary, then only whitespace. */
static int parse_dict(Lex *L, SaNpyHeader *h)
{
    int seen[N_KEYS] = {0};
    int fortran = 0;
    char f[128];

    if (L->ascii_only) {
        for (size_t j = 0; j < L->n; j++) {
            if (L->s[j] >= 0x80)
                return fail(L->err, SEGAUDIT_EINPUT, L->path,
                            "malformed .npy header: byte 0x%02x at offset "
                            "%llu is not ASCII; expected an ASCII header "
                            "(only format 3.0 headers may hold UTF-8)",
                            L->s[j], (unsigned long long)(L->base + j));
        }
    }
    skip_ws(L);
    if (L->i >= L->n || L->s[L->i] != '{')
        return bad_token(L, "the header dictionary ('{')");
    L->i++;
    skip_ws(L);
    if (L->i < L->n && L->s[L->i] == '}') {
        L->i++;
    } else {
        for (;;) {
            const size_t at = L->i;
            int key = 0, rc;
            if ((rc = read_key(L, &key)) != 0)
                return rc;
            if (seen[key])
                return fail(L->err, SEGAUDIT_EINPUT, L->path,
                            "malformed .npy header: key '%s' appears twice "
                            "(again at offset %llu); expected each key once",
                            g_keys[key], (unsigned long long)(L->base + at));
            seen[key] = 1;
            skip_ws(L);
            if (L->i >= L->n || L->s[L->i] != ':')
                return bad_token(L, "':' after the key");
            L->i++;
            skip_ws(L);
            switch (key) {
            case KEY_DESCR: rc = read_descr(L, h); break;
            case KEY_FORTRAN: rc = read_bool(L, &fortran); break;
            default: rc = read_shape(L, h); break;
            }
            if (rc)
                return rc;
            skip_ws(L);
            if (L->i < L->n && L->s[L->i] == '}') {
                L->i++;
                break;
            }
            if (L->i >= L->n || L->s[L->i] != ',')
                return bad_token(L, "',' or '}' after a value");
            L->i++;
            skip_ws(L);
            if (L->i < L->n && L->s[L->i] == '}') {
                L->i++;
                break;
            }
        }
    }
    skip_ws(L);
    if (L->i < L->n)
        return fail(L->err, SEGAUDIT_EINPUT, L->path,
                    "malformed .npy header: found %s after the header "
                    "dictionary; expected only spaces and a newline",
                    found(L, f, sizeof f));
    for (int k = 0; k < N_KEYS; k++)
        if (!seen[k])
            return fail(L->err, SEGAUDIT_EINPUT, L->path,
                        "malformed .npy header: the key '%s' is missing; "
                        "expected 'descr', 'fortran_order' and 'shape'",
                        g_keys[k]);
    if (fortran)
        return fail(L->err, SEGAUDIT_EINPUT, L->path,
                    "the array is stored in Fortran order; save it in C "
                    "order (numpy.ascontiguousarray) first");
    return 0;
}

/* ---- The file's layout -------------------------------------------------- */

/* What is available, for "truncated" messages. */
static const char *available(size_t len, int whole_file, char *buf,
                             size_t n)
{
    if (whole_file)
        snprintf(buf, n, "the file has only %zu bytes", len);
    else
        snprintf(buf, n, "only %zu bytes were given", len);
    return buf;
}

/* Magic, version and header length from buf[0..len).  On success *start is
 * the offset of the dictionary and *hlen its declared length (not yet
 * checked against len). */
static int preamble(const unsigned char *buf, size_t len, const char *path,
                    int whole_file, uint64_t *start, uint32_t *hlen,
                    int *version, SaErr *err)
{
    char av[96], q[64];
    if (len == 0)
        return whole_file
                   ? fail(err, SEGAUDIT_EINPUT, path,
                          "the file is empty; expected a .npy file")
                   : fail(err, SEGAUDIT_EINPUT, path,
                          "truncated header: no bytes were given; a .npy "
                          "header needs at least 10");
    const size_t m = len < MAGIC_LEN ? len : MAGIC_LEN;
    if (memcmp(buf, g_magic, m) != 0)
        return fail(err, SEGAUDIT_EINPUT, path,
                    "not a .npy file: it starts with %s; expected the magic "
                    "string '\\x93NUMPY'",
                    quote_bytes(buf, len, MAGIC_LEN, q, sizeof q));
    if (len < PREAMBLE_LEN)
        return fail(err, SEGAUDIT_EINPUT, path,
                    "truncated header: %s; the magic string and version "
                    "need %d", available(len, whole_file, av, sizeof av),
                    PREAMBLE_LEN);
    const unsigned major = buf[6], minor = buf[7];
    if (major < 1 || major > 3 || minor != 0)
        return fail(err, SEGAUDIT_EINPUT, path,
                    "unsupported .npy format version %u.%u; expected 1.0, "
                    "2.0 or 3.0", major, minor);
    const size_t field = major == 1 ? 2 : 4;
    if (len < PREAMBLE_LEN + field)
        return fail(err, SEGAUDIT_EINPUT, path,
                    "truncated header: %s; a version %u.0 header needs %zu "
                    "before its dictionary",
                    available(len, whole_file, av, sizeof av), major,
                    PREAMBLE_LEN + field);
    uint32_t n = (uint32_t)buf[8] | (uint32_t)buf[9] << 8;
    if (field == 4)
        n |= (uint32_t)buf[10] << 16 | (uint32_t)buf[11] << 24;
    if (n > SA_NPY_MAX_HEADER)
        return fail(err, SEGAUDIT_EINPUT, path,
                    "the header declares a dictionary of %lu bytes; "
                    "expected at most %lu (1 MiB)", (unsigned long)n,
                    (unsigned long)SA_NPY_MAX_HEADER);
    *start = PREAMBLE_LEN + field;
    *hlen = n;
    *version = (int)major;
    return 0;
}

/* Byte count of the array, checked: the product of the non-zero
 * dimensions times the item size must fit in 63 bits even when another
 * dimension is 0 (NumPy refuses such shapes too), and so must the offset
 * of the data's end. */
static int check_size(SaNpyHeader *h, const char *path, SaErr *err)
{
    char sh[256];
    uint64_t bytes = h->itemsize;
    int empty = 0;
    for (int d = 0; d < h->ndim; d++) {
        const uint64_t x = h->shape[d];
        if (x == 0) {
            empty = 1;
            continue;
        }
        if (bytes > MAX_END / x)
            return fail(err, SEGAUDIT_EINPUT, path,
                        "the array's size overflows: shape %s of %s needs "
                        "more than 2^63-1 bytes; expected an array that "
                        "fits in a file", sa_npy_shape_str(h, sh, sizeof sh),
                        sa_npy_type_name(h));
        bytes *= x;
    }
    if (bytes > MAX_END - h->data_offset)
        return fail(err, SEGAUDIT_EINPUT, path,
                    "the array's size overflows: shape %s of %s at offset "
                    "%llu ends past 2^63-1 bytes; expected an array that "
                    "fits in a file", sa_npy_shape_str(h, sh, sizeof sh),
                    sa_npy_type_name(h),
                    (unsigned long long)h->data_offset);
    h->data_bytes = empty ? 0 : bytes;
    return 0;
}

static int parse_impl(const unsigned char *buf, size_t len, const char *path,
                      int whole_file, SaNpyHeader *h, SaErr *err)
{
    uint64_t start = 0;
    uint32_t hlen = 0;
    int version = 0;
    memset(h, 0, sizeof *h);
    int rc = preamble(buf, len, path, whole_file, &start, &hlen, &version,
                      err);
    if (rc)
        return rc;
    if (len - start < hlen) {
        char av[96];
        return fail(err, SEGAUDIT_EINPUT, path,
                    "truncated header: %s; the header declares a %lu-byte "
                    "dictionary, so it needs %llu",
                    available(len, whole_file, av, sizeof av),
                    (unsigned long)hlen,
                    (unsigned long long)(start + hlen));
    }
    Lex L = {buf + start, hlen, 0, start, version < 3, path, err};
    SaNpyHeader t;
    memset(&t, 0, sizeof t);
    t.version = version;
    t.data_offset = start + hlen;
    if ((rc = parse_dict(&L, &t)) != 0 || (rc = check_size(&t, path, err)))
        return rc;
    *h = t;
    return 0;
}

int sa_npy_parse(const unsigned char *buf, size_t len, const char *path,
                 SaNpyHeader *h, SaErr *err)
{
    return parse_impl(buf, len, path, 0, h, err);
}

/* ---- From a file ---------------------------------------------------------- */

/* Reads n bytes at off; stops early only at the end of the file.  Returns
 * the bytes read, or -1 with errno set. */
static ssize_t read_at(int fd, unsigned char *dst, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, dst + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int read_failed(const char *path, int e, SaErr *err)
{
    char eb[128];
    if (strerror_r(e, eb, sizeof eb) != 0)
        snprintf(eb, sizeof eb, "error %d", e);
    return fail(err, SEGAUDIT_EIO, path, "read failed: %s", eb);
}

static int shrunk(const char *path, uint64_t file_size, size_t got,
                  SaErr *err)
{
    return fail(err, SEGAUDIT_EIO, path,
                "read failed: the file ended after %zu bytes although it "
                "has %llu (did it change while being read?)", got,
                (unsigned long long)file_size);
}

int sa_npy_read_header(int fd, const char *path, uint64_t file_size,
                       SaNpyHeader *h, SaErr *err)
{
    unsigned char small[SMALL_HEADER];
    const size_t want =
        file_size < SMALL_HEADER ? (size_t)file_size : SMALL_HEADER;
    memset(h, 0, sizeof *h);
    ssize_t got = read_at(fd, small, want, 0);
    if (got < 0)
        return read_failed(path, errno, err);
    if ((size_t)got < want)
        return shrunk(path, file_size, (size_t)got, err);

    uint64_t start = 0;
    uint32_t hlen = 0;
    int version = 0, rc;
    rc = preamble(small, want, path, want == file_size, &start, &hlen,
                  &version, err);
    if (rc)
        return rc;
    const uint64_t need = start + hlen;
    if (need <= want) {
        rc = parse_impl(small, want, path, 1, h, err);
    } else if (need > file_size) {
        return fail(err, SEGAUDIT_EINPUT, path,
                    "truncated header: the file has only %llu bytes; the "
                    "header declares a %lu-byte dictionary, so it needs "
                    "%llu", (unsigned long long)file_size,
                    (unsigned long)hlen, (unsigned long long)need);
    } else {
        unsigned char *big = malloc((size_t)need);
        if (!big)
            return fail(err, SEGAUDIT_ENOMEM, path,
                        "out of memory for a %llu-byte .npy header",
                        (unsigned long long)need);
        got = read_at(fd, big, (size_t)need, 0);
        if (got < 0)
            rc = read_failed(path, errno, err);
        else if ((size_t)got < need)
            rc = shrunk(path, file_size, (size_t)got, err);
        else
            rc = parse_impl(big, (size_t)need, path, 1, h, err);
        free(big);
    }
    if (rc) {
        memset(h, 0, sizeof *h);
        return rc;
    }
    const uint64_t end = h->data_offset + h->data_bytes;
    if (file_size < end) {
        char sh[256];
        rc = fail(err, SEGAUDIT_EINPUT, path,
                  "truncated data: a %s array of shape %s needs %llu bytes "
                  "from offset %llu, %llu bytes in all, but the file has "
                  "%llu (%llu missing)", sa_npy_type_name(h),
                  sa_npy_shape_str(h, sh, sizeof sh),
                  (unsigned long long)h->data_bytes,
                  (unsigned long long)h->data_offset,
                  (unsigned long long)end, (unsigned long long)file_size,
                  (unsigned long long)(end - file_size));
        memset(h, 0, sizeof *h);
        return rc;
    }
    return 0;
}

/* ---- Names ---------------------------------------------------------------- */

const char *sa_npy_type_name(const SaNpyHeader *h)
{
    if (!h)
        return "unknown";
    switch (h->kind) {
    case 'f':
        return h->itemsize == 2 ? "float16" : h->itemsize == 4 ? "float32"
               : h->itemsize == 8 ? "float64" : "unknown";
    case 'i':
        return h->itemsize == 1 ? "int8" : h->itemsize == 2 ? "int16"
               : h->itemsize == 4 ? "int32" : h->itemsize == 8 ? "int64"
               : "unknown";
    case 'u':
        return h->itemsize == 1 ? "uint8" : h->itemsize == 2 ? "uint16"
               : h->itemsize == 4 ? "uint32" : h->itemsize == 8 ? "uint64"
               : "unknown";
    case 'b':
        return h->itemsize == 1 ? "bool" : "unknown";
    default:
        return "unknown";
    }
}

const char *sa_npy_shape_str(const SaNpyHeader *h, char *buf, size_t n)
{
    if (!buf || n == 0)
        return buf;
    size_t o = 0;
    buf[0] = '\0';
    const int nd = h && h->ndim >= 0 && h->ndim <= SA_NPY_MAX_DIMS
                       ? h->ndim : 0;
    int k = snprintf(buf, n, "(");
    o = k > 0 ? (size_t)k : 0;
    for (int d = 0; d < nd && o < n; d++) {
        k = snprintf(buf + o, n - o, d ? ", %llu" : "%llu",
                     (unsigned long long)h->shape[d]);
        if (k < 0)
            break;
        o += (size_t)k;
    }
    if (o < n)
        snprintf(buf + o, n - o, nd == 1 ? ",)" : ")");
    return buf;
}
