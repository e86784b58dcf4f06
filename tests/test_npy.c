/* Unit tests of src/io/npy.c: the .npy header parser and the file checks.
 *
 * Most headers are built byte by byte here (magic, version, length field,
 * dictionary text, padding), so every accepted variant and every refusal
 * is spelled out.  sa_npy_read_header is run on files in a mkdtemp folder.
 * When a Python with NumPy is found (SEGAUDIT_TEST_PYTHON, else python3,
 * else /usr/bin/python3), files written by numpy.save are read too;
 * without one those cases are skipped, saying why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/npy.h"
#include "tmpdir_support.h"

#define P "x.npy" /* the path named in messages of in-memory parses */

static int host_big(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 0;
}

/* ---- Building headers --------------------------------------------------- */

/* A .npy header of the given version around dict, into out (cap bytes).
 * pad: padded with spaces and a final newline so that the total is a
 * multiple of 64, as NumPy writes it; else dict is used as is.  Returns the
 * total length (= the data offset). */
static size_t build(unsigned char *out, size_t cap, int major, int minor,
                    const char *dict, size_t dlen, int pad)
{
    const size_t pre = major == 1 ? 10 : 12;
    size_t hlen = dlen;
    if (pad)
        hlen = ((pre + dlen + 1 + 63) / 64) * 64 - pre;
    assert_true(pre + hlen <= cap);
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = (unsigned char)minor;
    out[8] = (unsigned char)(hlen & 255);
    out[9] = (unsigned char)(hlen >> 8 & 255);
    if (pre == 12) {
        out[10] = (unsigned char)(hlen >> 16 & 255);
        out[11] = (unsigned char)(hlen >> 24 & 255);
    }
    memcpy(out + pre, dict, dlen);
    if (pad) {
        memset(out + pre + dlen, ' ', hlen - dlen);
        out[pre + hlen - 1] = '\n';
    }
    return pre + hlen;
}

static size_t build_v(unsigned char *out, size_t cap, int major,
                      const char *dict)
{
    return build(out, cap, major, 0, dict, strlen(dict), 1);
}

/* ---- Checking ----------------------------------------------------------- */

static SaNpyHeader parse_ok(const unsigned char *b, size_t n)
{
    SaNpyHeader h;
    SaErr err = {0};
    int rc = sa_npy_parse(b, n, P, &h, &err);
    if (rc != 0)
        fail_msg("parse failed: %d %s (header: %.*s)", rc, err.msg,
                 (int)(n > 10 ? n - 10 : 0), (const char *)b + 10);
    assert_int_equal(err.code, 0);
    assert_int_equal(h.fortran_order, 0);
    return h;
}

/* Parses dict (v1, padded) and returns the header. */
static SaNpyHeader dict_ok(const char *dict)
{
    unsigned char b[4096];
    size_t n = build_v(b, sizeof b, 1, dict);
    return parse_ok(b, n);
}

static void parse_bad(const unsigned char *b, size_t n, const char *k1,
                      const char *k2)
{
    SaNpyHeader h;
    SaErr err = {0};
    memset(&h, 0x5a, sizeof h);
    int rc = sa_npy_parse(b, n, P, &h, &err);
    if (rc == 0)
        fail_msg("accepted a bad header (expected \"%s\")", k1 ? k1 : "");
    assert_int_equal(rc, SEGAUDIT_EINPUT);
    assert_int_equal(err.code, rc);
    check_msg(&err, P, k1, k2);
    /* A failed parse leaves nothing behind. */
    assert_int_equal(h.ndim, 0);
    assert_int_equal(h.itemsize, 0);
    assert_int_equal(h.data_bytes, 0);
}

/* dict (v1, padded) must be refused with both keywords in the message. */
static void dict_bad(const char *dict, const char *k1, const char *k2)
{
    unsigned char b[4096];
    size_t n = build_v(b, sizeof b, 1, dict);
    parse_bad(b, n, k1, k2);
}

#define STD(descr, shape)                                                    \
    "{'descr': '" descr "', 'fortran_order': False, 'shape': " shape ", }"
/* Short enough for a 64-byte header in every version. */
#define SHORT(descr, shape)                                                  \
    "{'descr':'" descr "','fortran_order':False,'shape':" shape "}"

/* ---- Valid headers ------------------------------------------------------- */

static void test_basic_versions(void **state)
{
    (void)state;
    for (int v = 1; v <= 3; v++) {
        unsigned char b[512];
        size_t n = build_v(b, sizeof b, v, STD("<f4", "(2, 3, 4)"));
        assert_int_equal(n % 64, 0);
        SaNpyHeader h = parse_ok(b, n);
        assert_int_equal(h.version, v);
        assert_int_equal(h.kind, 'f');
        assert_int_equal(h.itemsize, 4);
        assert_int_equal(h.big_endian, 0);
        assert_int_equal(h.ndim, 3);
        assert_int_equal(h.shape[0], 2);
        assert_int_equal(h.shape[1], 3);
        assert_int_equal(h.shape[2], 4);
        assert_int_equal(h.shape[3], 0);
        assert_int_equal(h.data_offset, n);
        assert_int_equal(h.data_bytes, 96);
        assert_string_equal(sa_npy_type_name(&h), "float32");
        /* The data may follow in the buffer. */
        memset(b + n, 0x77, 96);
        SaNpyHeader h2 = parse_ok(b, n + 96);
        assert_memory_equal(&h, &h2, sizeof h);
    }
}

static void test_every_dtype(void **state)
{
    (void)state;
    static const struct {
        const char *descr, *name;
        char kind;
        unsigned size;
        int big; /* -1: the host's order */
    } t[] = {
        {"<f2", "float16", 'f', 2, 0}, {">f2", "float16", 'f', 2, 1},
        {"=f2", "float16", 'f', 2, -1}, {"<f4", "float32", 'f', 4, 0},
        {">f4", "float32", 'f', 4, 1}, {"f4", "float32", 'f', 4, -1},
        {"=f4", "float32", 'f', 4, -1}, {"<f8", "float64", 'f', 8, 0},
        {">f8", "float64", 'f', 8, 1}, {"|u1", "uint8", 'u', 1, 0},
        {"<u1", "uint8", 'u', 1, 0}, {">u1", "uint8", 'u', 1, 0},
        {"u1", "uint8", 'u', 1, 0}, {"<u2", "uint16", 'u', 2, 0},
        {">u2", "uint16", 'u', 2, 1}, {"<u4", "uint32", 'u', 4, 0},
        {">u4", "uint32", 'u', 4, 1}, {"<u8", "uint64", 'u', 8, 0},
        {">u8", "uint64", 'u', 8, 1}, {"=u8", "uint64", 'u', 8, -1},
        {"|i1", "int8", 'i', 1, 0}, {">i1", "int8", 'i', 1, 0},
        {"<i2", "int16", 'i', 2, 0}, {">i2", "int16", 'i', 2, 1},
        {"<i4", "int32", 'i', 4, 0}, {">i4", "int32", 'i', 4, 1},
        {"<i8", "int64", 'i', 8, 0}, {">i8", "int64", 'i', 8, 1},
        {"|b1", "bool", 'b', 1, 0}, {"<b1", "bool", 'b', 1, 0},
        {"b1", "bool", 'b', 1, 0}, {"?", "bool", 'b', 1, 0},
        {"|?", "bool", 'b', 1, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char dict[256];
        snprintf(dict, sizeof dict,
                 "{'descr': '%s', 'fortran_order': False, 'shape': (3, 5), }",
                 t[i].descr);
        SaNpyHeader h = dict_ok(dict);
        if (h.kind != t[i].kind || h.itemsize != t[i].size)
            fail_msg("%s: kind %c size %u", t[i].descr, h.kind, h.itemsize);
        int big = t[i].big < 0 ? host_big() : t[i].big;
        if (h.big_endian != big)
            fail_msg("%s: big_endian %d, expected %d", t[i].descr,
                     h.big_endian, big);
        assert_string_equal(sa_npy_type_name(&h), t[i].name);
        assert_int_equal(h.data_bytes, 15 * t[i].size);
    }
}

static void test_key_order_and_quotes(void **state)
{
    (void)state;
    static const char *const dicts[] = {
        "{'descr': '>i2', 'fortran_order': False, 'shape': (7, 9), }",
        "{'descr': '>i2', 'shape': (7, 9), 'fortran_order': False}",
        "{'fortran_order': False, 'descr': '>i2', 'shape': (7, 9)}",
        "{'fortran_order': False, 'shape': (7, 9), 'descr': '>i2', }",
        "{'shape': (7, 9), 'descr': '>i2', 'fortran_order': False}",
        "{'shape': (7, 9), 'fortran_order': False, 'descr': '>i2',}",
        "{\"descr\": \">i2\", \"fortran_order\": False, \"shape\": (7, 9)}",
        "{\"shape\": (7, 9), 'descr': \">i2\", \"fortran_order\": False}",
        /* whitespace anywhere between tokens, or none */
        "{'descr':'>i2','fortran_order':False,'shape':(7,9)}",
        ("  {\n 'descr' :\t'>i2' ,\r\n 'fortran_order'\f: False,\n"
         "  'shape' : ( 7 ,\n 9 ) ,\n }"),
        "{'descr': '>i2', 'fortran_order': False, 'shape': (7L, 9L), }",
        "{'descr': '>i2', 'fortran_order': False, 'shape': (7, 9,), }",
        "{'descr': '>i2', 'fortran_order': False, 'shape': (007, 9), }",
    };
    for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
        SaNpyHeader h = dict_ok(dicts[i]);
        assert_int_equal(h.kind, 'i');
        assert_int_equal(h.itemsize, 2);
        assert_int_equal(h.big_endian, 1);
        assert_int_equal(h.ndim, 2);
        assert_int_equal(h.shape[0], 7);
        assert_int_equal(h.shape[1], 9);
        assert_int_equal(h.data_bytes, 126);
    }
}

static void test_shapes(void **state)
{
    (void)state;
    char s[256];
    SaNpyHeader h = dict_ok(STD("<f8", "()"));
    assert_int_equal(h.ndim, 0);
    assert_int_equal(h.data_bytes, 8); /* a scalar is one element */
    assert_string_equal(sa_npy_shape_str(&h, s, sizeof s), "()");

    h = dict_ok(STD("<f8", "(5,)"));
    assert_int_equal(h.ndim, 1);
    assert_int_equal(h.shape[0], 5);
    assert_int_equal(h.data_bytes, 40);
    assert_string_equal(sa_npy_shape_str(&h, s, sizeof s), "(5,)");

    h = dict_ok(STD("<f8", "( 5 , )"));
    assert_int_equal(h.ndim, 1);
    assert_int_equal(h.shape[0], 5);

    h = dict_ok(STD("|u1", "(0,)"));
    assert_int_equal(h.ndim, 1);
    assert_int_equal(h.data_bytes, 0);

    h = dict_ok(STD("<f4", "(3, 0, 4)"));
    assert_int_equal(h.ndim, 3);
    assert_int_equal(h.data_bytes, 0);
    assert_string_equal(sa_npy_shape_str(&h, s, sizeof s), "(3, 0, 4)");

    /* (N,K,H,W) and (N,H,W,K) */
    h = dict_ok(STD("<f2", "(10, 19, 512, 1024)"));
    assert_int_equal(h.data_bytes, (uint64_t)10 * 19 * 512 * 1024 * 2);
    h = dict_ok(STD("<f4", "(10, 512, 1024, 19)"));
    assert_int_equal(h.data_bytes, (uint64_t)10 * 19 * 512 * 1024 * 4);

    /* 8 dimensions, the most */
    h = dict_ok(STD("<i8", "(1, 2, 3, 4, 5, 6, 7, 8)"));
    assert_int_equal(h.ndim, 8);
    assert_int_equal(h.shape[7], 8);
    assert_int_equal(h.data_bytes, 40320 * 8);
    assert_string_equal(sa_npy_shape_str(&h, s, sizeof s),
                        "(1, 2, 3, 4, 5, 6, 7, 8)");
    /* a short buffer truncates */
    assert_string_equal(sa_npy_shape_str(&h, s, 6), "(1, 2");

    /* large but representable: 2^62 bytes */
    h = dict_ok(STD("|u1", "(4611686018427387904,)"));
    assert_int_equal(h.data_bytes, (uint64_t)1 << 62);
    h = dict_ok(STD("<u4", "(1073741824, 1073741824)"));
    assert_int_equal(h.data_bytes, (uint64_t)1 << 62);
}

static void test_layout_variants(void **state)
{
    (void)state;
    unsigned char b[4096];
    const char *d = STD("<f4", "(2, 2)");
    /* No padding, no final newline: data right after the dictionary. */
    size_t n = build(b, sizeof b, 1, 0, d, strlen(d), 0);
    SaNpyHeader h = parse_ok(b, n);
    assert_int_equal(h.data_offset, 10 + strlen(d));
    /* Old NumPy padded to 16 bytes. */
    char d16[128];
    size_t dl = strlen(d);
    memcpy(d16, d, dl);
    while ((10 + dl + 1) % 16)
        d16[dl++] = ' ';
    d16[dl++] = '\n';
    n = build(b, sizeof b, 1, 0, d16, dl, 0);
    assert_int_equal(n % 16, 0);
    h = parse_ok(b, n);
    assert_int_equal(h.data_offset, n);
    /* Many newlines and spaces after the dictionary; the v2 length field
     * and a dictionary longer than 64 KB (only v2/v3 can say so). */
    static char big[70000];
    memcpy(big, d, dl = strlen(d));
    memset(big + dl, ' ', sizeof big - dl);
    for (size_t i = dl; i < sizeof big; i += 1000)
        big[i] = '\n';
    static unsigned char bb[70100];
    n = build(bb, sizeof bb, 2, 0, big, sizeof big, 0);
    h = parse_ok(bb, n);
    assert_int_equal(h.data_offset, 12 + sizeof big);
    assert_int_equal(h.version, 2);
    /* A v3 header (UTF-8 allowed) with an ASCII dictionary. */
    n = build_v(b, sizeof b, 3, d);
    h = parse_ok(b, n);
    assert_int_equal(h.version, 3);
}

/* ---- Refusals ------------------------------------------------------------ */

static void test_bad_preamble(void **state)
{
    (void)state;
    unsigned char b[512];
    size_t n = build_v(b, sizeof b, 1, SHORT("<f4", "(2,3)"));
    assert_int_equal(n, 64);

    parse_bad(b, 0, "truncated header", "no bytes");
    parse_bad(b, 3, "truncated header", "only 3 bytes");
    parse_bad(b, 7, "truncated header", "only 7 bytes");
    parse_bad(b, 9, "truncated header", "needs 10");
    parse_bad(b, 40, "truncated header", "only 40 bytes");
    parse_bad(b, n - 1, "truncated header", "needs 64");
    unsigned char v2[512];
    size_t n2 = build_v(v2, sizeof v2, 2, SHORT("<f4", "(2,3)"));
    assert_int_equal(n2, 64);
    parse_bad(v2, 11, "truncated header", "needs 12");
    parse_bad(v2, n2 - 1, "truncated header", "needs 64");

    static const unsigned char png[] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10,
                                        0, 0, 0, 0, 0, 0, 0, 0};
    parse_bad(png, sizeof png, "not a .npy file", "\\x93NUMPY");
    parse_bad((const unsigned char *)"\x93NUMPx", 6, "not a .npy file",
              "'\\x93NUMPx'");
    /* only a prefix of the magic, but a wrong one */
    parse_bad((const unsigned char *)"PK", 2, "not a .npy file", NULL);

    static const int versions[][2] = {{0, 0}, {4, 0}, {1, 1}, {2, 5},
                                      {255, 0}};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        char want[64];
        b[6] = (unsigned char)versions[i][0];
        b[7] = (unsigned char)versions[i][1];
        snprintf(want, sizeof want, "version %d.%d", versions[i][0],
                 versions[i][1]);
        parse_bad(b, n, want, "expected 1.0, 2.0 or 3.0");
    }

    /* A header longer than 1 MiB is refused before it is needed. */
    unsigned char huge[16];
    build(huge, sizeof huge, 2, 0, "", 0, 0);
    memcpy(huge + 8, "\x01\x00\x10\x00", 4); /* 2^20 + 1 */
    parse_bad(huge, 12, "1048577 bytes", "at most 1048576");
    memcpy(huge + 8, "\xff\xff\xff\xff", 4);
    parse_bad(huge, 12, "4294967295 bytes", "1 MiB");
    /* exactly 1 MiB is allowed: then the buffer is what is short */
    memcpy(huge + 8, "\x00\x00\x10\x00", 4);
    parse_bad(huge, 12, "truncated header", "needs 1048588");

    /* An empty dictionary text */
    n = build(b, sizeof b, 1, 0, "", 0, 0);
    parse_bad(b, n, "expected the header dictionary ('{')",
              "the end of the header");
}

static void test_non_ascii(void **state)
{
    (void)state;
    unsigned char b[512];
    const char *d = "{'descr': '<f4', 'fortran_order': False, 'shape': "
                    "(2,), 'caf\xc3\xa9': 1}";
    for (int v = 1; v <= 2; v++) {
        size_t n = build_v(b, sizeof b, v, d);
        parse_bad(b, n, "0xc3", "not ASCII");
    }
    /* UTF-8 is legal in a v3 header, but the key is still unknown. */
    size_t n = build_v(b, sizeof b, 3, d);
    parse_bad(b, n, "unknown key 'caf\\xc3\\xa9'", "expected only 'descr'");
    /* Latin-1 in the padding of a v1 header */
    n = build_v(b, sizeof b, 1, STD("<f4", "(2,)"));
    b[n - 3] = 0xe9;
    parse_bad(b, n, "0xe9", "ASCII");
}

static void test_bad_dtypes(void **state)
{
    (void)state;
    static const struct {
        const char *descr, *k1, *k2;
    } t[] = {
        {"|O", "Python objects", "float32"},
        {"|S10", "byte strings", "'|S10'"},
        {"|a4", "byte strings", NULL},
        {"<U5", "unicode strings", NULL},
        {"|V8", "structured records", NULL},
        {"<c8", "complex numbers", NULL},
        {">c16", "complex numbers", NULL},
        {"<M8[ns]", "datetimes", "'<M8[ns]'"},
        {"<m8[s]", "timedeltas", NULL},
        {"<f16", "long double", "expected float16, float32 or float64"},
        {"<f12", "long double", NULL},
        {"<f10", "long double", NULL},
        {"<f1", "no such float size", "expected float16"},
        {"<f3", "no such float size", NULL},
        {"<i16", "no such int size", NULL},
        {"<u3", "no such uint size", NULL},
        {"|b2", "no such bool size", NULL},
        {"?1", "no such bool size", NULL},
        {"|f4", "'|' (not applicable) for a 4-byte type", "expected '<'"},
        {"|i8", "'|'", NULL},
        {"", "no type code", "expected float16"},
        {"<", "no type code", NULL},
        {"<x4", "unsupported dtype '<x4'", "expected float16"},
        {"<f", "unsupported dtype '<f'", NULL},
        {"f", "unsupported dtype 'f'", NULL},
        {"<f04", "unsupported dtype '<f04'", NULL},
        {"<f4 ", "unsupported dtype '<f4 '", NULL},
        {"float32", "unsupported dtype 'float32'", NULL},
        {"<f4\x01", "'<f4\\x01'", NULL},
        {"<f99999999999", "unsupported dtype", NULL},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char dict[256];
        snprintf(dict, sizeof dict,
                 "{'descr': '%s', 'fortran_order': False, 'shape': (3,), }",
                 t[i].descr);
        dict_bad(dict, t[i].k1, t[i].k2);
    }
    /* Structured dtypes: descr is a list. */
    dict_bad("{'descr': [('x', '<f4'), ('y', '<i2')], 'fortran_order': "
             "False, 'shape': (3,), }", "structured (record) array",
             "expected float16");
    dict_bad("{'descr': [], 'fortran_order': False, 'shape': (3,), }",
             "structured", NULL);
    /* descr of another kind */
    dict_bad("{'descr': 4, 'fortran_order': False, 'shape': (3,), }",
             "expected a quoted type string", "'4,'");
    dict_bad("{'descr': {'names': ['a']}, 'fortran_order': False, "
             "'shape': (3,), }", "expected a quoted type string", "'{");
}

static void test_fortran(void **state)
{
    (void)state;
    unsigned char b[512];
    SaNpyHeader h;
    SaErr err = {0};
    size_t n = build_v(b, sizeof b, 1,
                       "{'descr': '<f4', 'fortran_order': True, "
                       "'shape': (2, 3), }");
    assert_int_equal(sa_npy_parse(b, n, P, &h, &err), SEGAUDIT_EINPUT);
    assert_string_equal(err.msg, P ": the array is stored in Fortran order; "
                        "save it in C order (numpy.ascontiguousarray) first");
    dict_bad("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }",
             "expected True or False", "'0,'");
    dict_bad("{'descr': '<f4', 'fortran_order': 'False', 'shape': (2, 3)}",
             "expected True or False", NULL);
    dict_bad("{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2, 3)}",
             "expected True or False", "'Falsey,'");
    dict_bad("{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3)}",
             "expected True or False", NULL);
}

static void test_bad_keys(void **state)
{
    (void)state;
    dict_bad("{'fortran_order': False, 'shape': (2,), }", "'descr' is missing",
             "expected 'descr', 'fortran_order' and 'shape'");
    dict_bad("{'descr': '<f4', 'shape': (2,), }", "'fortran_order' is missing",
             NULL);
    dict_bad("{'descr': '<f4', 'fortran_order': False}", "'shape' is missing",
             NULL);
    dict_bad("{}", "'descr' is missing", NULL);
    dict_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), "
             "'descr': '<f8'}", "key 'descr' appears twice", "once");
    dict_bad("{'shape': (2,), 'descr': '<f4', 'fortran_order': False, "
             "'shape': (2,)}", "key 'shape' appears twice", NULL);
    dict_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), "
             "'extra': 1}", "unknown key 'extra'", "expected only 'descr'");
    dict_bad("{'Descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
             "unknown key 'Descr'", NULL);
    dict_bad("{'descr ': '<f4', 'fortran_order': False, 'shape': (2,)}",
             "unknown key 'descr '", NULL);
    dict_bad("{descr: '<f4', 'fortran_order': False, 'shape': (2,)}",
             "expected a quoted key", "'descr:'");
    dict_bad("{1: '<f4'}", "expected a quoted key", NULL);
}

static void test_bad_shapes(void **state)
{
    (void)state;
    dict_bad(STD("<f4", "(-1, 3)"), "dimension 0 of 'shape' is negative",
             "non-negative integer");
    dict_bad(STD("<f4", "(2, -3)"), "dimension 1 of 'shape' is negative",
             NULL);
    dict_bad(STD("<f4", "(2.5,)"), "dimension 0 of 'shape' is not a decimal "
             "integer", "'2.5,),'");
    dict_bad(STD("<f4", "(2, 3e2)"), "dimension 1", "not a decimal integer");
    dict_bad(STD("<f4", "(0x10,)"), "not a decimal integer", NULL);
    dict_bad(STD("<f4", "(2LL,)"), "not a decimal integer", NULL);
    dict_bad(STD("<f4", "('a',)"), "expected dimension 0 of 'shape'", NULL);
    dict_bad(STD("<f4", "(None,)"), "expected dimension 0", "'None,),'");
    dict_bad(STD("<f4", "(+3,)"), "expected dimension 0", NULL);
    dict_bad(STD("<f4", "((2, 3),)"), "expected dimension 0", NULL);
    dict_bad(STD("<f4", "(5)"), "'shape' is (5), which is not a tuple",
             "expected (5,)");
    dict_bad(STD("<f4", "[2, 3]"), "a list is not a shape", NULL);
    dict_bad(STD("<f4", "5"), "expected a tuple of integers", "'5,'");
    dict_bad(STD("<f4", "(,)"), "expected dimension 0", NULL);
    dict_bad(STD("<f4", "(2,,3)"), "expected dimension 1", NULL);
    dict_bad(STD("<f4", "(2 3)"), "expected ',' or ')' in 'shape'", "'3),'");
    dict_bad(STD("<f4", "(2, 3"), "expected dimension 2", "'}'");
    dict_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3",
             "expected ',' or ')' in 'shape'", "the end of the header");
    dict_bad(STD("<f4", "(1, 2, 3, 4, 5, 6, 7, 8, 9)"),
             "more than 8 dimensions", "at most 8");
    /* a dimension past 2^63-1, and products that overflow */
    dict_bad(STD("|u1", "(9223372036854775808,)"), "too large",
             "at most 2^63-1");
    dict_bad(STD("|u1", "(99999999999999999999999,)"), "too large", NULL);
    dict_bad(STD("<f4", "(4294967296, 4294967296)"), "overflows",
             "(4294967296, 4294967296) of float32");
    dict_bad(STD("<f8", "(1152921504606846976,)"), "overflows", NULL);
    dict_bad(STD("<u4", "(65536, 65536, 65536, 65536)"), "overflows", NULL);
    /* NumPy refuses these too, although they hold no element */
    dict_bad(STD("<f4", "(4294967296, 4294967296, 0)"), "overflows", NULL);
    /* fits, but not with the data offset added */
    dict_bad(STD("|u1", "(9223372036854775807,)"), "ends past 2^63-1",
             "at offset 128");
}

static void test_bad_syntax(void **state)
{
    (void)state;
    dict_bad(STD("<f4", "(2,)") " x", "found 'x' at offset",
             "expected only spaces and a newline");
    dict_bad(STD("<f4", "(2,)") "}", "after the header dictionary", NULL);
    dict_bad(STD("<f4", "(2,)") "\n\n{}", "after the header dictionary",
             NULL);
    dict_bad(STD("<f4", "(2,)") " # comment", "after the header", NULL);
    dict_bad("'descr'", "expected the header dictionary ('{')", NULL);
    dict_bad("[1, 2]", "expected the header dictionary", "'[1,'");
    dict_bad("{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}",
             "expected ':' after the key", NULL);
    dict_bad("{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
             "expected ',' or '}' after a value", NULL);
    dict_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
             "expected ',' or '}' after a value", "the end of the header");
    dict_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,),,}",
             "expected a quoted key", NULL);
    dict_bad("{,}", "expected a quoted key", NULL);
    dict_bad("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",
             NULL, NULL);
    dict_bad("{'descr\": '<f4', 'fortran_order': False, 'shape': (2,)}",
             NULL, NULL);
    dict_bad("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,)}",
             "expected a string without escape sequences", NULL);
    dict_bad("{'descr': '<f4\n', 'fortran_order': False, 'shape': (2,)}",
             "closing quote", NULL);
    dict_bad("{'descr", "closing quote", NULL);
    dict_bad("{'descr': ", "expected a quoted type string",
             "the end of the header");
    /* Adjacent string literals are Python, but not a .npy header */
    dict_bad("{'descr': '<f4' '', 'fortran_order': False, 'shape': (2,)}",
             "expected ',' or '}' after a value", NULL);

    /* A NUL byte where a key should be */
    unsigned char b[512];
    size_t n = build(b, sizeof b, 1, 0, "{\0'descr': '<f4'}", 17, 1);
    parse_bad(b, n, "expected a quoted key", "'\\x00'descr':'");

    /* Non-whitespace after the dictionary, in the padding */
    n = build_v(b, sizeof b, 1, SHORT("<f4", "(2,)"));
    assert_int_equal(n, 64);
    b[n - 2] = '\0';
    parse_bad(b, n, "found '\\x00' at offset 62",
              "after the header dictionary");
}

/* The header must be parsed within its declared length only. */
static void test_declared_length_is_the_end(void **state)
{
    (void)state;
    unsigned char b[512];
    const char *d = STD("<f4", "(2,)");
    size_t n = build(b, sizeof b, 1, 0, d, strlen(d), 0);
    /* Declare one byte less: the dictionary is cut before its '}', even
     * though the byte is in the buffer. */
    b[8] = (unsigned char)(strlen(d) - 1);
    parse_bad(b, n, "expected a quoted key", "the end of the header");
}

/* ---- From files ---------------------------------------------------------- */

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (n)
        assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* sa_npy_read_header on path; returns its result (err filled). */
static int read_file(const char *path, SaNpyHeader *h, SaErr *err)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    /* The file position is neither used nor moved. */
    assert_int_equal(lseek(fd, 5, SEEK_SET), 5);
    sa_err_clear(err);
    int rc = sa_npy_read_header(fd, path, (uint64_t)st.st_size, h, err);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 5);
    assert_int_equal(close(fd), 0);
    assert_int_equal(err->code, rc);
    return rc;
}

static void test_file_good_and_truncated(void **state)
{
    (void)state;
    char path[PATHLEN];
    unsigned char b[1024];
    SaNpyHeader h;
    SaErr err;
    size_t n = build_v(b, sizeof b, 1, SHORT("<u2", "(4,5)"));
    assert_int_equal(n, 64);
    for (size_t i = n; i < n + 40; i++)
        b[i] = (unsigned char)i;

    tpath(path, "good.npy");
    write_bytes(path, b, n + 40);
    assert_int_equal(read_file(path, &h, &err), 0);
    assert_int_equal(h.data_offset, 64);
    assert_int_equal(h.data_bytes, 40);
    assert_int_equal(h.kind, 'u');

    /* Bytes after the data are allowed (arrays saved one after another). */
    tpath(path, "longer.npy");
    write_bytes(path, b, n + 40 + 100);
    assert_int_equal(read_file(path, &h, &err), 0);

    tpath(path, "short_data.npy");
    write_bytes(path, b, n + 30);
    assert_int_equal(read_file(path, &h, &err), SEGAUDIT_EINPUT);
    check_msg(&err, path, "truncated data: a uint16 array of shape (4, 5) "
              "needs 40 bytes from offset 64, 104 bytes in all, but the "
              "file has 94 (10 missing)", NULL);
    assert_int_equal(h.ndim, 0);

    tpath(path, "no_data.npy");
    write_bytes(path, b, n);
    assert_int_equal(read_file(path, &h, &err), SEGAUDIT_EINPUT);
    check_msg(&err, path, "truncated data", "the file has 64");

    /* An empty array needs no data. */
    n = build_v(b, sizeof b, 1, STD("<f4", "(0, 3)"));
    tpath(path, "empty_array.npy");
    write_bytes(path, b, n);
    assert_int_equal(read_file(path, &h, &err), 0);
    assert_int_equal(h.data_bytes, 0);

    n = build_v(b, sizeof b, 1, SHORT("<u2", "(4,5)"));
    tpath(path, "short_header.npy");
    write_bytes(path, b, 40);
    assert_int_equal(read_file(path, &h, &err), SEGAUDIT_EINPUT);
    check_msg(&err, path, "truncated header", "the file has only 40 bytes");
    write_bytes(path, b, 9);
    assert_int_equal(read_file(path, &h, &err), SEGAUDIT_EINPUT);
    check_msg(&err, path, "truncated header", "the file has only 9 bytes");

    tpath(path, "empty.npy");
    write_bytes(path, b, 0);
    assert_int_equal(read_file(path, &h, &err), SEGAUDIT_EINPUT);
    check_msg(&err, path, "the file is empty", "expected a .npy file");

    tpath(path, "text.npy");
    write_bytes(path, "hello, world\n", 13);
    assert_int_equal(read_file(path, &h, &err), SEGAUDIT_EINPUT);
    check_msg(&err, path, "not a .npy file", "'hello,'");

    /* A bad header in a file says so as in memory. */
    n = build_v(b, sizeof b, 2, STD("|O", "(4, 5)"));
    tpath(path, "object.npy");
    write_bytes(path, b, n + 160);
    assert_int_equal(read_file(path, &h, &err), SEGAUDIT_EINPUT);
    check_msg(&err, path, "Python objects", NULL);
}

/* A header longer than read_header's first read (4 KB). */
static void test_file_long_header(void **state)
{
    (void)state;
    char path[PATHLEN];
    static char dict[20000];
    static unsigned char b[20100];
    SaNpyHeader h;
    SaErr err;
    const char *d = STD(">f8", "(3,)");
    size_t dl = strlen(d);
    memcpy(dict, d, dl);
    memset(dict + dl, ' ', sizeof dict - dl);
    size_t n = build(b, sizeof b, 2, 0, dict, sizeof dict, 0);
    memset(b + n, 1, 24);

    tpath(path, "long_header.npy");
    write_bytes(path, b, n + 24);
    assert_int_equal(read_file(path, &h, &err), 0);
    assert_int_equal(h.data_offset, 12 + sizeof dict);
    assert_int_equal(h.data_bytes, 24);
    assert_int_equal(h.big_endian, 1);

    write_bytes(path, b, 10000);
    assert_int_equal(read_file(path, &h, &err), SEGAUDIT_EINPUT);
    check_msg(&err, path, "truncated header: the file has only 10000 bytes",
              "needs 20012");

    /* The error is found beyond the first 4 KB too. */
    b[12 + 15000] = 'x';
    write_bytes(path, b, n + 24);
    assert_int_equal(read_file(path, &h, &err), SEGAUDIT_EINPUT);
    check_msg(&err, path, "found 'x' at offset 15012",
              "after the header dictionary");
}

static void test_file_read_errors(void **state)
{
    (void)state;
    char path[PATHLEN];
    unsigned char b[512];
    SaNpyHeader h;
    SaErr err = {0};
    size_t n = build_v(b, sizeof b, 1, SHORT("<f4", "(4,)"));
    assert_int_equal(n, 64);
    tpath(path, "shrunk.npy");
    write_bytes(path, b, n + 16);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    /* A size larger than the file: it changed after fstat. */
    assert_int_equal(sa_npy_read_header(fd, path, 100000, &h, &err),
                     SEGAUDIT_EIO);
    check_msg(&err, path, "read failed", "ended after 80 bytes");
    /* A size smaller than the file is taken as the file's size. */
    sa_err_clear(&err);
    assert_int_equal(sa_npy_read_header(fd, path, n + 8, &h, &err),
                     SEGAUDIT_EINPUT);
    check_msg(&err, path, "truncated data", "has 72 (8 missing)");
    close(fd);

    /* pread on a folder fails (EISDIR). */
    fd = open(g_dir, O_RDONLY);
    assert_true(fd >= 0);
    sa_err_clear(&err);
    assert_int_equal(sa_npy_read_header(fd, g_dir, 4096, &h, &err),
                     SEGAUDIT_EIO);
    check_msg(&err, g_dir, "read failed", NULL);
    close(fd);

    /* A closed descriptor */
    sa_err_clear(&err);
    assert_int_equal(sa_npy_read_header(fd, path, 128, &h, &err),
                     SEGAUDIT_EIO);
    check_msg(&err, path, "read failed", NULL);
}

/* ---- Files written by NumPy ---------------------------------------------- */

/* The first Python that imports numpy, or NULL. */
static const char *find_numpy_python(void)
{
    const char *env = getenv("SEGAUDIT_TEST_PYTHON");
    static const char *const cands[] = {"python3", "/usr/bin/python3"};
    static char cmd[PATHLEN];
    if (env && *env) {
        snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1",
                 env);
        return system(cmd) == 0 ? env : NULL;
    }
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1",
                 cands[i]);
        if (system(cmd) == 0)
            return cands[i];
    }
    return NULL;
}

/* Writes the numpy files into DIR (argv[1]).  Each array is
 * arange(n).reshape(shape).astype(dtype), so element i holds i. */
static const char g_numpy_script[] =
    "import sys, numpy as np\n"
    "from numpy.lib import format as fmt\n"
    "d = sys.argv[1]\n"
    "def a(shape, dt):\n"
    "    n = int(np.prod(shape))\n"
    "    return np.arange(n).reshape(shape).astype(dt)\n"
    "np.save(d + '/nkhw_f32.npy', a((2, 3, 4, 5), '<f4'))\n"
    "np.save(d + '/nhwk_f16.npy', a((1, 4, 5, 3), '<f2'))\n"
    "np.save(d + '/f64_be.npy', a((3, 7), '>f8'))\n"
    "np.save(d + '/labels_u8.npy', a((2, 4, 5), np.uint8))\n"
    "np.save(d + '/labels_i64.npy', a((2, 4, 5), np.int64))\n"
    "np.save(d + '/labels_u16_be.npy', a((2, 4, 5), '>u2'))\n"
    "np.save(d + '/mask_bool.npy', a((6,), bool))\n"
    "np.save(d + '/scalar.npy', np.float32(42))\n"
    "np.save(d + '/empty.npy', np.zeros((0, 3), np.float32))\n"
    "np.save(d + '/fortran.npy', np.asfortranarray(a((3, 4), '<f4')))\n"
    "np.save(d + '/structured.npy', np.zeros(3, [('x', '<f4'), "
    "('y', '<i2')]))\n"
    "np.save(d + '/object.npy', np.array([1, 'a'], dtype=object))\n"
    "np.save(d + '/complex.npy', np.zeros(3, np.complex64))\n"
    "np.save(d + '/unicode.npy', np.array(['ab', 'c']))\n"
    "np.save(d + '/datetime.npy', np.zeros(2, 'M8[s]'))\n"
    "for v in ((2, 0), (3, 0)):\n"
    "    with open(d + '/v%d.npy' % v[0], 'wb') as f:\n"
    "        fmt.write_array(f, a((2, 3), '<i4'), version=v)\n"
    "with open(d + '/two_arrays.npy', 'wb') as f:\n"
    "    np.save(f, a((4,), '<f4'))\n"
    "    np.save(f, a((5,), '<f4'))\n";

static uint64_t file_size_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* Element index of the array in path, decoded as a double. */
static double element(const char *path, const SaNpyHeader *h, uint64_t i)
{
    unsigned char e[8];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)(h->data_offset + i * h->itemsize),
                           SEEK_SET), 0);
    assert_int_equal(fread(e, 1, h->itemsize, f), h->itemsize);
    fclose(f);
    uint64_t u = 0;
    for (unsigned k = 0; k < h->itemsize; k++) {
        unsigned idx = h->big_endian ? k : h->itemsize - 1 - k;
        u = u << 8 | e[idx];
    }
    switch (h->kind) {
    case 'f':
        if (h->itemsize == 4) {
            float x;
            uint32_t v = (uint32_t)u;
            memcpy(&x, &v, 4);
            return x;
        }
        if (h->itemsize == 8) {
            double x;
            memcpy(&x, &u, 8);
            return x;
        }
        { /* float16, integer values only here */
            int ex = (int)(u >> 10 & 31);
            double m = (double)(u & 1023);
            if (ex == 0)
                return m / 1024.0 / 16384.0;
            double v = (1.0 + m / 1024.0);
            for (int k = 15; k < ex; k++)
                v *= 2;
            for (int k = ex; k < 15; k++)
                v /= 2;
            return v;
        }
    case 'i':
        if (h->itemsize < 8 && (u >> (8 * h->itemsize - 1) & 1))
            return (double)(int64_t)(u - ((uint64_t)1 << (8 * h->itemsize)));
        return (double)(int64_t)u;
    default:
        return (double)u;
    }
}

static void test_numpy_files(void **state)
{
    (void)state;
    const char *py = find_numpy_python();
    if (!py) {
        print_message("      skipped: no Python with NumPy found "
                      "(SEGAUDIT_TEST_PYTHON, python3, /usr/bin/python3); "
                      "install numpy to run these cases\n");
        skip();
        return;
    }
    char cmd[PATHLEN + 64];
    snprintf(cmd, sizeof cmd, "%s - '%s'", py, g_dir);
    FILE *p = popen(cmd, "w");
    assert_non_null(p);
    assert_int_equal(fputs(g_numpy_script, p) >= 0, 1);
    int st = pclose(p);
    if (st != 0)
        fail_msg("%s failed writing the numpy files (status %d)", py, st);

    static const struct {
        const char *name, *type;
        const char *shape;
    } good[] = {
        {"nkhw_f32.npy", "float32", "(2, 3, 4, 5)"},
        {"nhwk_f16.npy", "float16", "(1, 4, 5, 3)"},
        {"f64_be.npy", "float64", "(3, 7)"},
        {"labels_u8.npy", "uint8", "(2, 4, 5)"},
        {"labels_i64.npy", "int64", "(2, 4, 5)"},
        {"labels_u16_be.npy", "uint16", "(2, 4, 5)"},
        {"mask_bool.npy", "bool", "(6,)"},
        {"scalar.npy", "float32", "()"},
        {"empty.npy", "float32", "(0, 3)"},
        {"v2.npy", "int32", "(2, 3)"},
        {"v3.npy", "int32", "(2, 3)"},
        {"two_arrays.npy", "float32", "(4,)"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char path[PATHLEN], sh[128];
        SaNpyHeader h;
        SaErr err;
        tpath(path, good[i].name);
        if (read_file(path, &h, &err) != 0)
            fail_msg("%s: %s", good[i].name, err.msg);
        assert_string_equal(sa_npy_type_name(&h), good[i].type);
        assert_string_equal(sa_npy_shape_str(&h, sh, sizeof sh),
                            good[i].shape);
        assert_int_equal(h.data_offset % 64, 0);
        if (strcmp(good[i].name, "two_arrays.npy") != 0)
            assert_int_equal(h.data_offset + h.data_bytes,
                             file_size_of(path));
        if (!strcmp(good[i].name, "scalar.npy")) {
            assert_true(element(path, &h, 0) == 42.0);
            continue;
        }
        uint64_t n = h.data_bytes / h.itemsize;
        for (uint64_t k = 0; k < n; k++) {
            double want = h.kind == 'b' ? (k != 0) : (double)k;
            if (element(path, &h, k) != want)
                fail_msg("%s: element %llu is %g, expected %g", good[i].name,
                         (unsigned long long)k, element(path, &h, k), want);
        }
        if (!strcmp(good[i].name, "v2.npy"))
            assert_int_equal(h.version, 2);
        if (!strcmp(good[i].name, "v3.npy"))
            assert_int_equal(h.version, 3);
        if (!strcmp(good[i].name, "f64_be.npy") ||
            !strcmp(good[i].name, "labels_u16_be.npy"))
            assert_int_equal(h.big_endian, 1);
    }

    static const struct {
        const char *name, *k1;
    } bad[] = {
        {"fortran.npy", "stored in Fortran order; save it in C order "
                        "(numpy.ascontiguousarray) first"},
        {"structured.npy", "structured (record) array"},
        {"object.npy", "Python objects"},
        {"complex.npy", "complex numbers"},
        {"unicode.npy", "unicode strings"},
        {"datetime.npy", "datetimes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[PATHLEN];
        SaNpyHeader h;
        SaErr err;
        tpath(path, bad[i].name);
        assert_int_equal(read_file(path, &h, &err), SEGAUDIT_EINPUT);
        check_msg(&err, path, bad[i].k1, NULL);
    }
}

static void test_names(void **state)
{
    (void)state;
    SaNpyHeader h;
    memset(&h, 0, sizeof h);
    char s[16];
    assert_string_equal(sa_npy_type_name(&h), "unknown");
    assert_string_equal(sa_npy_type_name(NULL), "unknown");
    h.kind = 'f';
    h.itemsize = 16;
    assert_string_equal(sa_npy_type_name(&h), "unknown");
    h.itemsize = 2;
    assert_string_equal(sa_npy_type_name(&h), "float16");
    assert_string_equal(sa_npy_shape_str(&h, s, sizeof s), "()");
    h.ndim = 99; /* out of range: printed as a scalar, never overread */
    assert_string_equal(sa_npy_shape_str(&h, s, sizeof s), "()");
    assert_string_equal(sa_npy_shape_str(&h, s, 1), "");
}

/* ---- Set-up --------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    return tmpdir_create("test_npy");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_versions),
        cmocka_unit_test(test_every_dtype),
        cmocka_unit_test(test_key_order_and_quotes),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_layout_variants),
        cmocka_unit_test(test_bad_preamble),
        cmocka_unit_test(test_non_ascii),
        cmocka_unit_test(test_bad_dtypes),
        cmocka_unit_test(test_fortran),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_bad_syntax),
        cmocka_unit_test(test_declared_length_is_the_end),
        cmocka_unit_test(test_file_good_and_truncated),
        cmocka_unit_test(test_file_long_header),
        cmocka_unit_test(test_file_read_errors),
        cmocka_unit_test(test_numpy_files),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
