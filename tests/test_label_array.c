/* Unit tests of src/io/label_array.c: label maps stored as one (N,H,W)
 * integer array.  The .npy files are written byte by byte here (preamble,
 * padded header dictionary, elements in the declared byte order), the HDF5
 * files with the HDF5 API, into a mkdtemp folder; the reader is checked
 * against the values put in. */
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

#include <hdf5.h>

#include "io/label_array.h"
#include "h5_support.h"
#include "tmpdir_support.h"

/* The test arrays: N images of H rows of W values. */
enum { AN = 3, AH = 5, AW = 4, ACOUNT = AN * AH * AW };

static void expect_err(const SaErr *e, int rc, int code, const char *a,
                       const char *b)
{
    if (rc != code || e->code != code)
        fail_msg("rc %d (err %d), expected %d; message '%s'", rc, e->code,
                 code, e->msg);
    if (a && !strstr(e->msg, a))
        fail_msg("message '%s' lacks '%s'", e->msg, a);
    if (b && !strstr(e->msg, b))
        fail_msg("message '%s' lacks '%s'", e->msg, b);
}

/* Stored values (64-bit two's complement) spread over [lo, hi]. */
static void make_values(uint64_t *v, int64_t lo, int64_t hi)
{
    for (uint64_t i = 0; i < ACOUNT; i++)
        v[i] = (uint64_t)(lo + (int64_t)((i * 7919 + 13) %
                                          (uint64_t)(hi - lo + 1)));
}

/* The labels the reader must deliver for stored values v. */
static void expected_labels(const uint64_t *v, uint16_t *want, int boolean)
{
    for (size_t i = 0; i < ACOUNT; i++)
        want[i] = boolean ? (uint16_t)(v[i] != 0) : (uint16_t)v[i];
}

/* ---- .npy files -------------------------------------------------------- */

/* Elements of size bytes from the low bytes of v, in the given order. */
static unsigned char *encode(const uint64_t *v, size_t count, unsigned size,
                             int big)
{
    unsigned char *out = malloc(count * size + 1);
    assert_non_null(out);
    for (size_t i = 0; i < count; i++)
        for (unsigned b = 0; b < size; b++)
            out[i * size + (big ? size - 1 - b : b)] =
                (unsigned char)(v[i] >> (8 * b));
    return out;
}

/* A version 1.0 .npy file: the preamble, the dictionary padded with spaces
 * to a multiple of 64 bytes in all and ending in '\n', then len bytes. */
static const char *write_npy(const char *name, const char *descr,
                             const char *shape, const void *data, size_t len)
{
    const char *path = tmp_path(name);
    char dict[256];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': "
                      "False, 'shape': %s, }", descr, shape);
    assert_true(dl > 0 && (size_t)dl < sizeof dict);
    size_t hlen = ((10 + (size_t)dl + 1 + 63) / 64) * 64 - 10;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hlen & 255),
                             (unsigned char)(hlen >> 8)};
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(pre, 1, 10, f), 10);
    assert_int_equal(fwrite(dict, 1, (size_t)dl, f), (size_t)dl);
    for (size_t i = (size_t)dl; i + 1 < hlen; i++)
        fputc(' ', f);
    fputc('\n', f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static const char *SHAPE = "(3, 5, 4)";

/* Writes v as an (AN,AH,AW) array of descr with size-byte elements. */
static const char *npy_of(const char *name, const char *descr, unsigned size,
                          int big, const uint64_t *v)
{
    unsigned char *bytes = encode(v, ACOUNT, size, big);
    const char *path = write_npy(name, descr, SHAPE, bytes,
                                 (size_t)ACOUNT * size);
    free(bytes);
    return path;
}

/* ---- reading ----------------------------------------------------------- */

static SaLabelArray *open_ok(const char *path, const char *dataset)
{
    SaLabelArray *a = NULL;
    SaErr err = {0};
    int rc = sa_label_array_open(&a, path, dataset, &err);
    if (rc != 0)
        fail_msg("open %s: %d %s", path, rc, err.msg);
    assert_non_null(a);
    uint64_t d[3];
    sa_label_array_dims(a, d);
    assert_int_equal(d[0], AN);
    assert_int_equal(d[1], AH);
    assert_int_equal(d[2], AW);
    return a;
}

/* Reads bands in a scrambled order (overlapping, small then whole images
 * so the scratch buffer grows) and compares them with want. */
static void check_bands(SaLabelArray *a, const uint16_t *want,
                        unsigned itemsize)
{
    static const unsigned bands[][3] = {
        {2, 3, 2}, {0, 0, 1}, {1, 4, 1}, {0, 0, 5}, {2, 0, 3}, {1, 1, 3},
        {0, 2, 3}, {1, 0, 5}, {2, 0, 5}, {0, 4, 1},
    };
    uint16_t got[AH * AW];
    uint64_t bytes = sa_label_array_bytes_read(a);
    for (size_t b = 0; b < sizeof bands / sizeof bands[0]; b++) {
        const unsigned n = bands[b][0], r0 = bands[b][1], nr = bands[b][2];
        SaErr err = {0};
        memset(got, 0xA5, sizeof got);
        int rc = sa_label_array_read(a, n, r0, nr, got, &err);
        if (rc != 0)
            fail_msg("read %u/%u+%u: %s", n, r0, nr, err.msg);
        for (unsigned i = 0; i < nr * AW; i++) {
            uint16_t w = want[(n * AH + r0) * AW + i];
            if (got[i] != w)
                fail_msg("image %u row %u col %u: got %u, want %u", n,
                         r0 + i / AW, i % AW, got[i], w);
        }
        bytes += (uint64_t)nr * AW * itemsize;
        assert_int_equal(sa_label_array_bytes_read(a), bytes);
    }
}

static void round_trip(const char *path, const char *dataset,
                       const uint64_t *v, unsigned itemsize, int is_signed,
                       int boolean, const char *type_name)
{
    uint16_t want[ACOUNT];
    expected_labels(v, want, boolean);
    SaLabelArray *a = open_ok(path, dataset);
    assert_int_equal(sa_label_array_signed(a), is_signed);
    assert_string_equal(sa_label_array_type_name(a), type_name);
    assert_int_equal(sa_label_array_bytes_read(a), 0);
    check_bands(a, want, itemsize);
    sa_label_array_close(a);
}

/* Reads image n whole and expects the range error at (n, row, col). */
static void read_fails_at(const char *path, const char *dataset, uint64_t n,
                          uint64_t row, uint64_t col, const char *value)
{
    SaLabelArray *a = open_ok(path, dataset);
    uint16_t got[AH * AW];
    SaErr err = {0};
    char where[96];
    snprintf(where, sizeof where, "image %" PRIu64 ", row %" PRIu64
             ", column %" PRIu64 ":", n, row, col);
    int rc = sa_label_array_read(a, n, 0, AH, got, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT, where, value);
    assert_true(strncmp(err.msg, path, strlen(path)) == 0);
    assert_non_null(strstr(err.msg, "out of range"));
    /* the band alone, starting at the bad row: same place */
    sa_err_clear(&err);
    rc = sa_label_array_read(a, n, row, 1, got, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT, where, value);
    /* a failed read leaves the object usable: another image reads */
    sa_err_clear(&err);
    assert_int_equal(sa_label_array_read(a, (n + 1) % AN, 0, 1, got, &err),
                     0);
    sa_label_array_close(a);
}

static void open_fails(const char *path, const char *dataset, int code,
                       const char *a, const char *b)
{
    SaLabelArray *arr = (SaLabelArray *)(uintptr_t)1;
    SaErr err = {0};
    int rc = sa_label_array_open(&arr, path, dataset, &err);
    expect_err(&err, rc, code, a, b);
    assert_null(arr);
    if (strncmp(err.msg, path, strlen(path)) != 0 ||
        err.msg[strlen(path)] != ':')
        fail_msg("message does not start with the path: '%s'", err.msg);
}

/* ---- .npy tests -------------------------------------------------------- */

static void test_npy_uint8(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, 0, 255);
    round_trip(npy_of("u1.npy", "|u1", 1, 0, v), NULL, v, 1, 0, 0, "uint8");
    /* "" means no dataset as well */
    round_trip(npy_of("u1b.npy", "|u1", 1, 0, v), "", v, 1, 0, 0, "uint8");
}

static void test_npy_uint16_both_orders(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, 0, 65535);
    v[5] = 65535;
    v[6] = 256;
    round_trip(npy_of("u2le.npy", "<u2", 2, 0, v), NULL, v, 2, 0, 0,
               "uint16");
    round_trip(npy_of("u2be.npy", ">u2", 2, 1, v), NULL, v, 2, 0, 0,
               "uint16");
}

static void test_npy_int16_big_endian(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, -32768, 32767);
    v[0] = (uint64_t)-1;     /* reads as 65535 */
    v[1] = (uint64_t)-32768; /* reads as 32768 */
    v[2] = 32767;
    v[3] = 0;
    round_trip(npy_of("i2be.npy", ">i2", 2, 1, v), NULL, v, 2, 1, 0,
               "int16");
    SaLabelArray *a = open_ok(tmp_path("i2be.npy"), NULL);
    uint16_t row[AW];
    SaErr err = {0};
    assert_int_equal(sa_label_array_read(a, 0, 0, 1, row, &err), 0);
    assert_int_equal(row[0], 65535);
    assert_int_equal(row[1], 32768);
    assert_int_equal(row[2], 32767);
    assert_int_equal(row[3], 0);
    sa_label_array_close(a);
    round_trip(npy_of("i2le.npy", "<i2", 2, 0, v), NULL, v, 2, 1, 0,
               "int16");
}

static void test_npy_int8(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, -128, 127);
    v[0] = (uint64_t)-1;
    v[1] = (uint64_t)-128;
    round_trip(npy_of("i1.npy", "|i1", 1, 0, v), NULL, v, 1, 1, 0, "int8");
}

static void test_npy_int32(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, -32768, 65535);
    v[7] = (uint64_t)-1;
    v[8] = 65535;
    v[9] = (uint64_t)-32768;
    round_trip(npy_of("i4.npy", "<i4", 4, 0, v), NULL, v, 4, 1, 0, "int32");
    round_trip(npy_of("i4be.npy", ">i4", 4, 1, v), NULL, v, 4, 1, 0,
               "int32");

    /* 70000 at image 1, row 2, column 3; -40000 at image 2, row 4,
     * column 0; -32769 just below the range */
    make_values(v, 0, 1000);
    v[(1 * AH + 2) * AW + 3] = 70000;
    read_fails_at(npy_of("i4_70000.npy", "<i4", 4, 0, v), NULL, 1, 2, 3,
                  "label 70000 ");
    make_values(v, 0, 1000);
    v[(2 * AH + 4) * AW + 0] = (uint64_t)-40000;
    read_fails_at(npy_of("i4_m40000.npy", ">i4", 4, 1, v), NULL, 2, 4, 0,
                  "label -40000 ");
    make_values(v, 0, 1000);
    v[(0 * AH + 1) * AW + 2] = (uint64_t)-32769;
    read_fails_at(npy_of("i4_m32769.npy", "<i4", 4, 0, v), NULL, 0, 1, 2,
                  "label -32769 ");
    make_values(v, 0, 1000);
    v[(0 * AH + 0) * AW + 1] = 65536;
    read_fails_at(npy_of("i4_65536.npy", "<i4", 4, 0, v), NULL, 0, 0, 1,
                  "label 65536 ");
}

static void test_npy_uint32_out_of_range(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, 0, 65535);
    round_trip(npy_of("u4.npy", "<u4", 4, 0, v), NULL, v, 4, 0, 0, "uint32");
    v[(1 * AH + 3) * AW + 1] = 4294967295u;
    read_fails_at(npy_of("u4_max.npy", ">u4", 4, 1, v), NULL, 1, 3, 1,
                  "label 4294967295 ");
}

static void test_npy_int64(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, -32768, 65535);
    v[0] = (uint64_t)-1;
    v[1] = 65535;
    v[2] = 0;
    round_trip(npy_of("i8.npy", "<i8", 8, 0, v), NULL, v, 8, 1, 0, "int64");
    round_trip(npy_of("i8be.npy", ">i8", 8, 1, v), NULL, v, 8, 1, 0,
               "int64");
    v[(2 * AH + 1) * AW + 3] = (uint64_t)INT64_MIN;
    read_fails_at(npy_of("i8_min.npy", "<i8", 8, 0, v), NULL, 2, 1, 3,
                  "label -9223372036854775808 ");
    make_values(v, 0, 9);
    v[(0 * AH + 4) * AW + 2] = (uint64_t)1 << 40;
    read_fails_at(npy_of("i8_big.npy", ">i8", 8, 1, v), NULL, 0, 4, 2,
                  "label 1099511627776 ");
}

static void test_npy_uint64(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, 0, 65535);
    round_trip(npy_of("u8.npy", "<u8", 8, 0, v), NULL, v, 8, 0, 0, "uint64");
    /* above 2^63: printed as the unsigned value it is */
    v[(1 * AH + 0) * AW + 0] = UINT64_MAX;
    read_fails_at(npy_of("u8_max.npy", "<u8", 8, 0, v), NULL, 1, 0, 0,
                  "label 18446744073709551615 ");
}

static void test_npy_bool(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, 0, 1);
    v[3] = 2;   /* NumPy reads any non-zero byte as True */
    v[4] = 255;
    round_trip(npy_of("b1.npy", "|b1", 1, 0, v), NULL, v, 1, 0, 1, "bool");
    round_trip(npy_of("bq.npy", "?", 1, 0, v), NULL, v, 1, 0, 1, "bool");
}

static void test_npy_refused(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, 0, 9);
    const char *path = npy_of("f4.npy", "<f4", 4, 0, v);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "float32",
               "labels must be integers");
    path = npy_of("f8.npy", "<f8", 8, 0, v);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "float64",
               "labels must be integers");

    unsigned char *bytes = encode(v, ACOUNT, 1, 0);
    path = write_npy("rank2.npy", "|u1", "(15, 4)", bytes, ACOUNT);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "(15, 4)", "expected 3 dim");
    path = write_npy("rank4.npy", "|u1", "(3, 5, 2, 2)", bytes, ACOUNT);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "(3, 5, 2, 2)",
               "expected 3 dim");
    path = write_npy("zero_h.npy", "|u1", "(3, 0, 4)", bytes, 0);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "dimension 1 (H) is 0", NULL);
    path = write_npy("zero_n.npy", "|u1", "(0, 5, 4)", bytes, 0);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "dimension 0 (N) is 0", NULL);

    /* a dataset name makes no sense for a .npy file */
    path = write_npy("ok.npy", "|u1", SHAPE, bytes, ACOUNT);
    open_fails(path, "/labels", SEGAUDIT_EINVAL, "no dataset name", NULL);

    /* truncated data: one byte short; truncated header */
    path = write_npy("short.npy", "|u1", SHAPE, bytes, ACOUNT - 1);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "truncated data", NULL);
    free(bytes);
    path = tmp_path("short_header.npy");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("\x93NUMPY\x01\x00\x76\x00{'descr': '|u1'", 1, 25, f);
    fclose(f);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "truncated header", NULL);
}

/* Shapes too large to index, in sparse files (nothing is written). */
static void test_npy_huge_shapes(void **state)
{
    (void)state;
    const char *path = write_npy("hw.npy", "|u1", "(1, 65536, 65536)",
                                 NULL, 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size + ((off_t)1 << 32)), 0);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "H=65536 by W=65536",
               "pixels per image");
    unlink(path);

    path = write_npy("n.npy", "|u1", "(4294967296, 1, 1)", NULL, 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size + ((off_t)1 << 32)), 0);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "4294967296 images", NULL);
    unlink(path);

    /* just below both limits: accepted */
    path = write_npy("edge.npy", "|u1", "(1, 65535, 65537)", NULL, 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size + (off_t)65535 * 65537), 0);
    SaLabelArray *a = NULL;
    SaErr err = {0};
    assert_int_equal(sa_label_array_open(&a, path, NULL, &err), 0);
    uint16_t row[65537];
    assert_int_equal(sa_label_array_read(a, 0, 65534, 1, row, &err), 0);
    assert_int_equal(row[65536], 0);
    sa_label_array_close(a);
    unlink(path);
}

static void test_read_arguments(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, 0, 255);
    SaLabelArray *a = open_ok(npy_of("args.npy", "|u1", 1, 0, v), NULL);
    uint16_t buf[AH * AW];
    SaErr err = {0};
    int rc = sa_label_array_read(a, AN, 0, 1, buf, &err);
    expect_err(&err, rc, SEGAUDIT_EINVAL, "image 3 out of range", "N=3");
    sa_err_clear(&err);
    rc = sa_label_array_read(a, 0, 3, 3, buf, &err);
    expect_err(&err, rc, SEGAUDIT_EINVAL, "out of range", "H=5");
    sa_err_clear(&err);
    rc = sa_label_array_read(a, 0, 6, 0, buf, &err);
    expect_err(&err, rc, SEGAUDIT_EINVAL, "out of range", NULL);
    sa_err_clear(&err);
    rc = sa_label_array_read(a, 0, 1, UINT64_MAX, buf, &err);
    expect_err(&err, rc, SEGAUDIT_EINVAL, "out of range", NULL);
    sa_err_clear(&err);
    rc = sa_label_array_read(a, 0, 0, 1, NULL, &err);
    expect_err(&err, rc, SEGAUDIT_EINVAL, "no buffer", NULL);
    sa_err_clear(&err);
    /* zero rows, even at the end: nothing read */
    assert_int_equal(sa_label_array_read(a, 0, AH, 0, buf, &err), 0);
    assert_int_equal(sa_label_array_read(a, 0, 0, 0, NULL, &err), 0);
    assert_int_equal(sa_label_array_bytes_read(a), 0);
    sa_label_array_close(a);
    sa_label_array_close(NULL);
}

static void test_fifo(void **state)
{
    (void)state;
    const char *path = tmp_path("fifo.npy");
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(20); /* a hang would otherwise stall the suite */
    open_fails(path, NULL, SEGAUDIT_EINPUT, "not a regular file", "FIFO");
    open_fails(path, "/labels", SEGAUDIT_EINPUT, "not a regular file",
               NULL);
    alarm(0);
    unlink(path);
}

static void test_not_a_file(void **state)
{
    (void)state;
    open_fails(tmp_path("missing.npy"), NULL, SEGAUDIT_EINPUT, "cannot open",
               NULL);
    open_fails(g_dir, NULL, SEGAUDIT_EINPUT, "not a regular file",
               "directory");
    const char *path = tmp_path("text.npy");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("0,1,2\n", f);
    fclose(f);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "neither a NumPy .npy file",
               NULL);
    path = tmp_path("empty.npy");
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "neither", NULL);
}

/* ---- HDF5 -------------------------------------------------------------- */

static const hsize_t DIMS[3] = {AN, AH, AW};

/* One file holding v as dataset name (of file type ftype). */
static const char *h5_of(const char *file, const char *name, hid_t ftype,
                         const hsize_t *chunk, int gzip, const uint64_t *v)
{
    const char *path = tmp_path(file);
    hid_t f = new_file(path);
    h5_put(f, name, ftype, 3, DIMS, chunk, 0, gzip, H5T_NATIVE_UINT64, v);
    H5Fclose(f);
    return path;
}

/* Signed values go through int64 (HDF5 would clamp them as uint64). */
static const char *h5_signed_of(const char *file, const char *name,
                                hid_t ftype, const hsize_t *chunk, int gzip,
                                const uint64_t *v)
{
    int64_t s[ACOUNT];
    for (size_t i = 0; i < ACOUNT; i++)
        memcpy(&s[i], &v[i], sizeof s[i]);
    const char *path = tmp_path(file);
    hid_t f = new_file(path);
    h5_put(f, name, ftype, 3, DIMS, chunk, 0, gzip, H5T_NATIVE_INT64, s);
    H5Fclose(f);
    return path;
}

static void test_h5_uint8(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, 0, 255);
    /* the default dataset is /labels */
    const char *path = h5_of("u1.h5", "/labels", H5T_STD_U8LE, NULL, 0, v);
    round_trip(path, NULL, v, 1, 0, 0, "uint8");
    round_trip(path, "", v, 1, 0, 0, "uint8");
    round_trip(path, "labels", v, 1, 0, 0, "uint8");
}

static void test_h5_16bit(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, 0, 65535);
    v[0] = 65535;
    round_trip(h5_of("u2be.h5", "/labels", H5T_STD_U16BE, NULL, 0, v), NULL,
               v, 2, 0, 0, "uint16");
    make_values(v, -32768, 32767);
    v[0] = (uint64_t)-1;
    v[1] = (uint64_t)-32768;
    round_trip(h5_signed_of("i2.h5", "/labels", H5T_STD_I16LE, NULL, 0, v),
               NULL, v, 2, 1, 0, "int16");
    make_values(v, -128, 127);
    v[0] = (uint64_t)-1;
    round_trip(h5_signed_of("i1.h5", "/labels", H5T_STD_I8LE, NULL, 0, v),
               NULL, v, 1, 1, 0, "int8");
}

static void test_h5_int32(void **state)
{
    (void)state;
    static const hsize_t chunk[3] = {1, 2, 3};
    uint64_t v[ACOUNT];
    make_values(v, -32768, 65535);
    v[0] = (uint64_t)-1;
    v[ACOUNT - 1] = 65535;
    round_trip(h5_signed_of("i4.h5", "/seg", H5T_STD_I32LE, chunk, 1, v),
               "/seg", v, 4, 1, 0, "int32");
    make_values(v, 0, 1000);
    v[(1 * AH + 2) * AW + 3] = 70000;
    read_fails_at(h5_signed_of("i4_70000.h5", "/seg", H5T_STD_I32LE, chunk,
                               1, v),
                  "/seg", 1, 2, 3, "label 70000 ");
    make_values(v, 0, 1000);
    v[(2 * AH + 4) * AW + 0] = (uint64_t)-40000;
    read_fails_at(h5_signed_of("i4_m40000.h5", "/labels", H5T_STD_I32BE,
                               NULL, 0, v),
                  NULL, 2, 4, 0, "label -40000 ");
    /* the message names the dataset too */
    SaLabelArray *a = open_ok(tmp_path("i4_m40000.h5"), NULL);
    uint16_t buf[AH * AW];
    SaErr err = {0};
    int rc = sa_label_array_read(a, 2, 0, AH, buf, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT, "i4_m40000.h5:/labels: image 2",
               NULL);
    sa_label_array_close(a);
}

static void test_h5_int64_big_endian(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, -32768, 65535);
    v[0] = (uint64_t)-1;
    v[1] = 65535;
    round_trip(h5_signed_of("i8be.h5", "/labels", H5T_STD_I64BE, NULL, 0, v),
               NULL, v, 8, 1, 0, "int64");
    v[(0 * AH + 3) * AW + 2] = (uint64_t)INT64_MIN;
    read_fails_at(h5_signed_of("i8be_min.h5", "/labels", H5T_STD_I64BE,
                               NULL, 0, v),
                  NULL, 0, 3, 2, "label -9223372036854775808 ");
    /* unsigned 64-bit values above 2^63 are not clamped */
    make_values(v, 0, 65535);
    v[(2 * AH + 0) * AW + 1] = UINT64_MAX - 1;
    read_fails_at(h5_of("u8be.h5", "/labels", H5T_STD_U64BE, NULL, 0, v),
                  NULL, 2, 0, 1, "label 18446744073709551614 ");
}

/* h5py's bool: an int8 enum {FALSE: 0, TRUE: 1}. */
static void test_h5_bool_enum(void **state)
{
    (void)state;
    hid_t e = H5Tenum_create(H5T_NATIVE_SCHAR);
    signed char f0 = 0, t1 = 1;
    assert_true(H5Tenum_insert(e, "FALSE", &f0) >= 0);
    assert_true(H5Tenum_insert(e, "TRUE", &t1) >= 0);
    uint64_t v[ACOUNT];
    make_values(v, 0, 1);
    signed char raw[ACOUNT];
    for (size_t i = 0; i < ACOUNT; i++)
        raw[i] = (signed char)v[i];
    const char *path = tmp_path("bool.h5");
    hid_t f = new_file(path);
    h5_put(f, "/labels", e, 3, DIMS, NULL, 0, 0, e, raw);
    H5Fclose(f);
    round_trip(path, NULL, v, 1, 0, 1, "bool");
    H5Tclose(e);

    /* another enum over uint16: its integer values are the labels */
    hid_t e2 = H5Tenum_create(H5T_NATIVE_USHORT);
    unsigned short road = 0, car = 13, sky = 500;
    H5Tenum_insert(e2, "road", &road);
    H5Tenum_insert(e2, "car", &car);
    H5Tenum_insert(e2, "sky", &sky);
    unsigned short classes[ACOUNT];
    for (size_t i = 0; i < ACOUNT; i++) {
        classes[i] = i % 3 == 0 ? road : i % 3 == 1 ? car : sky;
        v[i] = classes[i];
    }
    path = tmp_path("enum16.h5");
    f = new_file(path);
    h5_put(f, "/labels", e2, 3, DIMS, NULL, 0, 0, e2, classes);
    H5Fclose(f);
    round_trip(path, NULL, v, 2, 0, 0, "enum of uint16");
    H5Tclose(e2);
}

static void test_h5_refused(void **state)
{
    (void)state;
    const char *path = tmp_path("refused.h5");
    hid_t f = new_file(path);
    static float fv[ACOUNT];
    static uint8_t bv[ACOUNT];
    h5_put(f, "/probs", H5T_IEEE_F32LE, 3, DIMS, NULL, 0, 0, H5T_NATIVE_FLOAT, fv);
    h5_put(f, "/double", H5T_IEEE_F64BE, 3, DIMS, NULL, 0, 0, H5T_NATIVE_FLOAT,
        fv);
    const hsize_t d2[2] = {AN * AH, AW};
    h5_put(f, "/flat", H5T_STD_U8LE, 2, d2, NULL, 0, 0, H5T_NATIVE_UINT8, bv);
    const hsize_t d0[3] = {AN, 0, AW};
    h5_put(f, "/empty", H5T_STD_U8LE, 3, d0, NULL, 0, 0, H5T_NATIVE_UINT8, NULL);
    hid_t s = H5Tcopy(H5T_C_S1);
    H5Tset_size(s, 4);
    h5_put(f, "/text", s, 3, DIMS, NULL, 0, 0, s, NULL);
    H5Tclose(s);
    h5_put(f, "/unwritten", H5T_STD_U8LE, 3, DIMS, NULL, 0, 0, H5T_NATIVE_UINT8,
        NULL);
    /* H*W = 2^32, never written: refused by its shape first */
    const hsize_t big[3] = {1, 65536, 65536}, bigc[3] = {1, 64, 64};
    h5_put(f, "/huge", H5T_STD_U8LE, 3, big, bigc, 0, 0, H5T_NATIVE_UINT8, NULL);
    hid_t g = H5Gcreate2(f, "/group", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    h5_put(g, "inner", H5T_STD_U8LE, 3, DIMS, NULL, 0, 0, H5T_NATIVE_UINT8, bv);
    H5Gclose(g);
    H5Fclose(f);

    open_fails(path, "/probs", SEGAUDIT_EINPUT, "refused.h5:/probs: element "
               "type is float32", "labels must be integers");
    open_fails(path, "/double", SEGAUDIT_EINPUT, "float64",
               "labels must be integers");
    open_fails(path, "/text", SEGAUDIT_EINPUT, "string",
               "labels must be integers");
    open_fails(path, "/flat", SEGAUDIT_EINPUT, "rank 2", "expected 3");
    open_fails(path, "/empty", SEGAUDIT_EINPUT, "dimension 1 (H) is 0",
               NULL);
    open_fails(path, "/unwritten", SEGAUDIT_EINPUT, "holds no data", NULL);
    open_fails(path, "/huge", SEGAUDIT_EINPUT, "pixels per image", NULL);
    open_fails(path, "/group", SEGAUDIT_EINPUT, "not a dataset", NULL);
    /* the default /labels is missing: the root's datasets are listed, in
     * name order, groups left out */
    open_fails(path, NULL, SEGAUDIT_EINPUT, "refused.h5:/labels: no such "
               "dataset", "'double', 'empty', 'flat', 'huge', 'probs', "
               "'text', 'unwritten'");
    SaLabelArray *a = NULL;
    SaErr err = {0};
    assert_int_not_equal(sa_label_array_open(&a, path, "/group/missing",
                                             &err), 0);
    assert_null(strstr(err.msg, "inner"));
    assert_null(strstr(err.msg, "'group'"));
    assert_non_null(strstr(err.msg, "'probs'"));
    /* but a nested dataset can be named */
    sa_label_array_close(a);
    a = open_ok(path, "/group/inner");
    sa_label_array_close(a);
}

static void test_h5_missing_listing(void **state)
{
    (void)state;
    /* 25 datasets: the first 20 are named, then "..." */
    const char *path = tmp_path("many.h5");
    hid_t f = new_file(path);
    static uint8_t bv[ACOUNT];
    for (int i = 0; i < 25; i++) {
        char name[32];
        snprintf(name, sizeof name, "/set%02d", i);
        h5_put(f, name, H5T_STD_U8LE, 3, DIMS, NULL, 0, 0, H5T_NATIVE_UINT8, bv);
    }
    H5Fclose(f);
    open_fails(path, "/labels", SEGAUDIT_EINPUT, "'set00', 'set01'",
               "'set19', ...");
    SaLabelArray *a = NULL;
    SaErr err = {0};
    assert_int_not_equal(sa_label_array_open(&a, path, NULL, &err), 0);
    assert_null(strstr(err.msg, "set20"));

    /* no datasets at all */
    path = tmp_path("nodata.h5");
    f = new_file(path);
    hid_t g = H5Gcreate2(f, "/g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    H5Fclose(f);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "no such dataset",
               "no datasets at its root");
}

static void test_h5_hostile(void **state)
{
    (void)state;
    uint64_t v[ACOUNT];
    make_values(v, 0, 255);
    const char *target = h5_of("target.h5", "/labels", H5T_STD_U8LE, NULL, 0,
                               v);
    const char *path = tmp_path("extlink.h5");
    hid_t f = new_file(path);
    assert_true(H5Lcreate_external(target, "/labels", f, "/labels",
                                   H5P_DEFAULT, H5P_DEFAULT) >= 0);
    H5Fclose(f);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "external link", NULL);

    path = tmp_path("vds.h5");
    f = new_file(path);
    hid_t vspace = H5Screate_simple(3, DIMS, NULL);
    hid_t sspace = H5Screate_simple(3, DIMS, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(H5Pset_virtual(dcpl, vspace, target, "/labels", sspace) >=
                0);
    hid_t d = H5Dcreate2(f, "/labels", H5T_STD_U8LE, vspace, H5P_DEFAULT,
                         dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(vspace);
    H5Sclose(sspace);
    H5Fclose(f);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "virtual dataset", NULL);

    /* chunks of one image: only image 0 written */
    path = tmp_path("few_chunks.h5");
    f = new_file(path);
    hid_t space = H5Screate_simple(3, DIMS, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    const hsize_t chunk[3] = {1, AH, AW};
    H5Pset_chunk(dcpl, 3, chunk);
    d = H5Dcreate2(f, "/labels", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl,
                   H5P_DEFAULT);
    static uint8_t img[AH * AW];
    hsize_t start[3] = {0, 0, 0};
    hid_t mem = H5Screate_simple(3, chunk, NULL);
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, chunk, NULL);
    assert_true(H5Dwrite(d, H5T_NATIVE_UINT8, mem, space, H5P_DEFAULT, img) >=
                0);
    H5Sclose(mem);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Fclose(f);
    open_fails(path, NULL, SEGAUDIT_EINPUT, "1 of its 3 chunks", NULL);

    /* a contiguous dataset cut short at the end of the file */
    uint64_t big[ACOUNT * 40];
    for (size_t i = 0; i < ACOUNT * 40; i++)
        big[i] = i % 200;
    const hsize_t bdims[3] = {AN * 40, AH, AW};
    path = tmp_path("truncated.h5");
    f = new_file(path);
    h5_put(f, "/labels", H5T_STD_U8LE, 3, bdims, NULL, 0, 0, H5T_NATIVE_UINT64,
        big);
    H5Fclose(f);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 100), 0);
    SaLabelArray *a = NULL;
    SaErr err = {0};
    /* HDF5 itself may refuse to open it (EIO, with its reason) */
    int rc = sa_label_array_open(&a, path, NULL, &err);
    assert_true(rc == SEGAUDIT_EINPUT || rc == SEGAUDIT_EIO);
    assert_null(a);
    assert_non_null(strstr(err.msg, "truncated.h5"));
}

/* ---- main -------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return tmpdir_create("test_label_array");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove();
}

/* No HDF5 file or object may stay open after a test, and no descriptor. */
static int g_fds_before;

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

static int before(void **state)
{
    (void)state;
    g_fds_before = count_fds();
    return 0;
}

static int after(void **state)
{
    (void)state;
    ssize_t open_objs = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_objs != 0) {
        fprintf(stderr, "%zd HDF5 files/objects left open\n", open_objs);
        return -1;
    }
    if (count_fds() != g_fds_before) {
        fprintf(stderr, "%d descriptors before, %d after\n", g_fds_before,
                count_fds());
        return -1;
    }
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, before, after)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_npy_uint8),
        T(test_npy_uint16_both_orders),
        T(test_npy_int16_big_endian),
        T(test_npy_int8),
        T(test_npy_int32),
        T(test_npy_uint32_out_of_range),
        T(test_npy_int64),
        T(test_npy_uint64),
        T(test_npy_bool),
        T(test_npy_refused),
        T(test_npy_huge_shapes),
        T(test_read_arguments),
        T(test_fifo),
        T(test_not_a_file),
        T(test_h5_uint8),
        T(test_h5_16bit),
        T(test_h5_int32),
        T(test_h5_int64_big_endian),
        T(test_h5_bool_enum),
        T(test_h5_refused),
        T(test_h5_missing_listing),
        T(test_h5_hostile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
