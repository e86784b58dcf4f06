/* Unit tests of src/io/h5_probs.c: files written here with the HDF5 API, plus
 * the golden cases (run with tests/ as working directory). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unistd.h>

#include <hdf5.h>

#include "io/h5_probs.h"
#include "h5_support.h"
#include "tmpdir_support.h"

/* ---- helpers ----------------------------------------------------------- */

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

static hid_t half_type(hid_t base)
{
    hid_t t = H5Tcopy(base);
    assert_true(H5Tset_fields(t, 15, 10, 5, 0, 10) >= 0);
    assert_true(H5Tset_size(t, 2) >= 0);
    assert_true(H5Tset_precision(t, 16) >= 0);
    assert_true(H5Tset_ebias(t, 15) >= 0);
    return t;
}

/* Test tensor shape and values: exact in float32 (< 2^24). */
enum { TN = 3, TK = 4, TH = 10, TW = 7 };
static const hsize_t TDIMS[4] = {TN, TK, TH, TW};

static double tval(uint64_t n, uint64_t k, uint64_t h, uint64_t w)
{
    return (double)(n * 1000000 + k * 10000 + h * 100 + w);
}

static uint16_t tbits(uint64_t n, uint64_t k, uint64_t h, uint64_t w)
{
    uint64_t i = ((n * TK + k) * TH + h) * TW + w;
    return (uint16_t)((i * 7919 + 1) % 0x7c00); /* finite, positive */
}

static void fill_f32(float *v)
{
    for (uint64_t n = 0, i = 0; n < TN; n++)
        for (uint64_t k = 0; k < TK; k++)
            for (uint64_t h = 0; h < TH; h++)
                for (uint64_t w = 0; w < TW; w++)
                    v[i++] = (float)tval(n, k, h, w);
}

/* Writes a TDIMS tensor of file type ftype to name in the temporary
 * folder. */
static const char *write_packed(const char *name, hid_t ftype,
                                const hsize_t *chunk, int shuffle, int gzip)
{
    const char *path = tmp_path(name);
    static float f[TN * TK * TH * TW];
    static double d[TN * TK * TH * TW];
    static uint16_t b[TN * TK * TH * TW];
    hid_t file = new_file(path);

    if (H5Tget_size(ftype) == 2) {
        hid_t mt = H5Tcopy(ftype);
        H5Tset_order(mt, H5Tget_order(H5T_NATIVE_FLOAT));
        for (uint64_t n = 0, i = 0; n < TN; n++)
            for (uint64_t k = 0; k < TK; k++)
                for (uint64_t h = 0; h < TH; h++)
                    for (uint64_t w = 0; w < TW; w++)
                        b[i++] = tbits(n, k, h, w);
        h5_put(file, "/pred_probs", ftype, 4, TDIMS, chunk, shuffle, gzip,
               mt, b);
        H5Tclose(mt);
    } else if (H5Tget_size(ftype) == 8) {
        for (uint64_t n = 0, i = 0; n < TN; n++)
            for (uint64_t k = 0; k < TK; k++)
                for (uint64_t h = 0; h < TH; h++)
                    for (uint64_t w = 0; w < TW; w++)
                        d[i++] = tval(n, k, h, w) + 1.0 / 3.0;
        h5_put(file, "/pred_probs", ftype, 4, TDIMS, chunk, shuffle, gzip,
            H5T_NATIVE_DOUBLE, d);
    } else {
        fill_f32(f);
        h5_put(file, "/pred_probs", ftype, 4, TDIMS, chunk, shuffle, gzip,
            H5T_NATIVE_FLOAT, f);
    }
    H5Fclose(file);
    return path;
}

/* Writes a TDIMS tensor of file type ftype to name in the temporary
 * folder (float32 chunks with shuffle and gzip). */
static const char *write_tensor(const char *name, hid_t ftype,
                                const hsize_t *chunk)
{
    int f32 = H5Tget_size(ftype) == 4 && chunk != NULL;
    return write_packed(name, ftype, chunk, f32, f32);
}

/* Reads rows [r0, r0+nr) of image n and checks every value. */
static void check_band(SaProbs *p, uint64_t n, uint64_t r0, uint64_t nr)
{
    static uint8_t buf[TK * TH * TW * 8];
    SaErr err = {0};
    memset(buf, 0xa5, sizeof buf);
    if (sa_probs_read_band(p, n, r0, nr, buf, &err) != 0)
        fail_msg("image %d rows %d+%d: %s", (int)n, (int)r0, (int)nr,
                 err.msg);
    for (uint64_t k = 0, i = 0; k < TK; k++)
        for (uint64_t h = r0; h < r0 + nr; h++)
            for (uint64_t w = 0; w < TW; w++, i++) {
                switch (sa_probs_dtype(p)) {
                case SA_F16:
                    assert_int_equal(((uint16_t *)buf)[i],
                                     tbits(n, k, h, w));
                    break;
                case SA_F32:
                    assert_true(((float *)buf)[i] == (float)tval(n, k, h, w));
                    break;
                case SA_F64:
                    assert_true(((double *)buf)[i] ==
                                tval(n, k, h, w) + 1.0 / 3.0);
                    break;
                }
            }
}

/* Reads several bands (including the last rows) and checks every value. */
static void check_bands(SaProbs *p)
{
    static const uint64_t bands[][3] = {
        {0, 0, TH}, {1, 3, 1}, {2, 7, 3}, {2, TH - 1, 1}, {0, 4, 5}};
    for (size_t b = 0; b < sizeof bands / sizeof bands[0]; b++)
        check_band(p, bands[b][0], bands[b][1], bands[b][2]);
}

static SaProbs *open_ok(const char *path)
{
    SaProbs *p = NULL;
    SaErr err = {0};
    if (sa_probs_open(&p, path, "/pred_probs", &err) != 0)
        fail_msg("open %s: %s", path, err.msg);
    assert_non_null(p);
    return p;
}

static void check_dims(SaProbs *p, uint64_t n, uint64_t k, uint64_t h,
                       uint64_t w)
{
    uint64_t d[4];
    sa_probs_dims(p, d);
    assert_int_equal(d[0], n);
    assert_int_equal(d[1], k);
    assert_int_equal(d[2], h);
    assert_int_equal(d[3], w);
}

/* ---- element types and layouts ----------------------------------------- */

static void test_f32_contiguous(void **state)
{
    (void)state;
    SaProbs *p = open_ok(write_tensor("f32.h5", H5T_IEEE_F32LE, NULL));
    SaErr err = {0};
    check_dims(p, TN, TK, TH, TW);
    assert_int_equal(sa_probs_dtype(p), SA_F32);
    assert_int_equal(sa_probs_elsize(p), 4);
    assert_string_equal(sa_probs_dtype_name(p), "float32");
    assert_string_equal(sa_probs_layout(p), "contiguous");
    assert_int_equal(sa_probs_chunk_rows(p), 0);
    check_bands(p);
    assert_int_equal(sa_probs_plan_band_rows(p, 4, &err), 0); /* no-op */
    check_bands(p);
    sa_probs_close(p);
}

static void test_f32_big_endian(void **state)
{
    (void)state;
    SaProbs *p = open_ok(write_tensor("f32be.h5", H5T_IEEE_F32BE, NULL));
    assert_int_equal(sa_probs_dtype(p), SA_F32);
    check_bands(p);
    sa_probs_close(p);
}

static void test_f64(void **state)
{
    (void)state;
    SaProbs *p = open_ok(write_tensor("f64.h5", H5T_IEEE_F64LE, NULL));
    assert_int_equal(sa_probs_dtype(p), SA_F64);
    assert_int_equal(sa_probs_elsize(p), 8);
    assert_string_equal(sa_probs_dtype_name(p), "float64");
    check_bands(p);
    sa_probs_close(p);
}

static void test_f16_raw_bits(void **state)
{
    (void)state;
    hid_t t = half_type(H5T_IEEE_F32LE);
    SaProbs *p = open_ok(write_tensor("f16.h5", t, NULL));
    H5Tclose(t);
    assert_int_equal(sa_probs_dtype(p), SA_F16);
    assert_int_equal(sa_probs_elsize(p), 2);
    assert_string_equal(sa_probs_dtype_name(p), "float16");
    check_bands(p);
    sa_probs_close(p);
}

static void test_f16_big_endian(void **state)
{
    (void)state;
    hid_t t = half_type(H5T_IEEE_F32BE);
    SaProbs *p = open_ok(write_tensor("f16be.h5", t, NULL));
    H5Tclose(t);
    assert_int_equal(sa_probs_dtype(p), SA_F16);
    check_bands(p); /* byte-swapped, not converted */
    sa_probs_close(p);
}

static void test_chunked_shuffle_gzip(void **state)
{
    (void)state;
    const hsize_t chunk[4] = {1, TK, 4, TW};
    SaProbs *p = open_ok(write_tensor("chunked.h5", H5T_IEEE_F32LE, chunk));
    SaErr err = {0};
    char want[64];
    snprintf(want, sizeof want, "chunked (1,%d,4,%d) shuffle+deflate", TK,
             TW);
    assert_string_equal(sa_probs_layout(p), want);
    assert_int_equal(sa_probs_chunk_rows(p), 4);
    check_bands(p);
    assert_int_equal(sa_probs_plan_band_rows(p, 5, &err), 0);
    check_bands(p);
    assert_int_equal(sa_probs_plan_band_rows(p, 1000, &err), 0);
    check_bands(p);
    assert_int_equal(err.code, 0);
    sa_probs_close(p);
}

/* ---- direct reads ------------------------------------------------------ */

/* A float32 tensor chunked as given (NULL: contiguous), deflated (and
 * shuffled) when asked, with fletcher32 checksums when asked, in a file
 * with the given user block (0: none). */
static const char *write_filtered(const char *name, const hsize_t *chunk,
                                  hsize_t ublock, int shuffle, int gzip,
                                  int fletcher)
{
    const char *path = tmp_path(name);
    static float f[TN * TK * TH * TW];
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    assert_true(fcpl >= 0);
    if (ublock)
        assert_true(H5Pset_userblock(fcpl, ublock) >= 0);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    assert_true(file >= 0);
    H5Pclose(fcpl);
    fill_f32(f);
    if (fletcher) {
        hid_t space = H5Screate_simple(4, TDIMS, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_true(H5Pset_chunk(dcpl, 4, chunk) >= 0);
        assert_true(H5Pset_fletcher32(dcpl) >= 0);
        assert_true(H5Pset_deflate(dcpl, 6) >= 0);
        hid_t d = H5Dcreate2(file, "/pred_probs", H5T_IEEE_F32LE, space,
                             H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(d >= 0);
        assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                             H5P_DEFAULT, f) >= 0);
        H5Dclose(d);
        H5Pclose(dcpl);
        H5Sclose(space);
    } else {
        h5_put(file, "/pred_probs", H5T_IEEE_F32LE, 4, TDIMS, chunk, shuffle,
            gzip, H5T_NATIVE_FLOAT, f);
    }
    H5Fclose(file);
    return path;
}

static const char *write_plain(const char *name, const hsize_t *chunk,
                               hsize_t ublock)
{
    return write_filtered(name, chunk, ublock, 0, 0, 0);
}

/* Reads every value through check_bands and says how it was read; the
 * bytes counted are those of the bands exactly (uncompressed data) or the
 * stored bytes of the chunks read (compressed: compare with the band
 * bytes only roughly). */
static void check_path_bytes(const char *path, const char *want,
                             int compressed)
{
    SaProbs *p = open_ok(path);
    SaErr err = {0};
    assert_int_equal(sa_probs_plan_band_rows(p, 4, &err), 0);
    check_bands(p);
    if (strcmp(sa_probs_read_path(p), want) != 0)
        fail_msg("%s: read path %s, expected %s", path,
                 sa_probs_read_path(p), want);
    /* check_bands reads 10+1+3+1+5 rows of TK*TW elements */
    uint64_t band_bytes = (uint64_t)20 * TK * TW * sa_probs_elsize(p);
    if (compressed)
        assert_true(sa_probs_bytes_read(p) > 0);
    else
        assert_int_equal(sa_probs_bytes_read(p), band_bytes);
    sa_probs_close(p);
}

static void check_path(const char *path, const char *want)
{
    check_path_bytes(path, want, 0);
}

/* Direct reads where the bytes in the file are the band's bytes; HDF5
 * elsewhere; the same values either way. */
static void test_direct_reads(void **state)
{
    (void)state;
    static const hsize_t rows4[4] = {1, TK, 4, TW}; /* last chunk partial */
    static const hsize_t img[4] = {1, TK, TH, TW};
    static const hsize_t narrow[4] = {1, TK, 4, 3};
    static const hsize_t classes[4] = {1, 1, 4, TW};
    check_path(write_plain("d_contig.h5", NULL, 0), "direct");
    check_path(write_plain("d_rows.h5", rows4, 0), "direct");
    check_path(write_plain("d_image.h5", img, 0), "direct");
    check_path(write_plain("d_narrow.h5", narrow, 0), "hdf5");
    check_path(write_plain("d_classes.h5", classes, 0), "hdf5");
    check_path(write_plain("d_ublock.h5", NULL, 512), "hdf5");
    check_path(write_tensor("d_f64.h5", H5T_IEEE_F64LE, NULL), "direct");
    check_path(write_tensor("d_f32be.h5", H5T_IEEE_F32BE, NULL), "hdf5");
    hid_t t = half_type(H5T_IEEE_F32LE);
    check_path(write_tensor("d_f16.h5", t, NULL), "direct");
    H5Tclose(t);
    t = half_type(H5T_IEEE_F32BE);
    check_path(write_tensor("d_f16be.h5", t, NULL), "hdf5");
    H5Tclose(t);
    /* deflate (after shuffle or not) is inflated by the reader itself;
     * other filters go through HDF5 */
    check_path_bytes(write_tensor("d_gzip.h5", H5T_IEEE_F32LE, rows4),
                     "direct", 1);
    check_path_bytes(write_filtered("d_deflate.h5", rows4, 0, 0, 1, 0),
                     "direct", 1);
    check_path_bytes(write_filtered("d_deflate_img.h5", img, 0, 1, 1, 0),
                     "direct", 1);
    check_path_bytes(write_filtered("d_fletcher.h5", rows4, 0, 0, 0, 1),
                     "hdf5", 1);
    check_path_bytes(write_filtered("d_narrow_gz.h5", narrow, 0, 1, 1, 0),
                     "hdf5", 1);
}

/* A band over more chunk rows than a plan holds (one-row chunks) is read
 * chunk row by chunk row, with and without deflate. */
static void test_many_chunk_rows(void **state)
{
    (void)state;
    enum { N = 2, K = 3, H = 70, W = 5 };
    static const hsize_t dims[4] = {N, K, H, W}, chunk[4] = {1, K, 1, W};
    static float f[N * K * H * W];
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        f[i] = (float)i;
    for (int gz = 0; gz < 2; gz++) {
        const char *path = tmp_path(gz ? "many_gz.h5" : "many.h5");
        hid_t file = new_file(path);
        h5_put(file, "/pred_probs", H5T_IEEE_F32LE, 4, dims, chunk, gz, gz,
            H5T_NATIVE_FLOAT, f);
        H5Fclose(file);
        SaProbs *p = open_ok(path);
        assert_string_equal(sa_probs_read_path(p), "direct");
        SaErr err = {0};
        static float buf[K * H * W];
        for (uint64_t r0 = 0; r0 < 3; r0++) {
            uint64_t nr = H - r0;
            assert_int_equal(sa_probs_read_band(p, 1, r0, nr, buf, &err), 0);
            for (uint64_t k = 0; k < K; k++)
                for (uint64_t h = 0; h < nr; h++)
                    for (uint64_t w = 0; w < W; w++)
                        assert_true(buf[(k * nr + h) * W + w] ==
                                    f[((1 * K + k) * H + r0 + h) * W + w]);
        }
        sa_probs_close(p);
    }
}

/* A compressed chunk whose bytes were damaged is an input error that names
 * the image, never wrong values. */
static void test_corrupt_deflate_chunk(void **state)
{
    (void)state;
    static const hsize_t rows4[4] = {1, TK, 4, TW};
    const char *path = write_filtered("d_corrupt.h5", rows4, 0, 1, 1, 0);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/pred_probs", H5P_DEFAULT);
    hsize_t coord[4] = {1, 0, 4, 0}, size = 0;
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    assert_true(H5Dget_chunk_info_by_coord(d, coord, &mask, &addr, &size) >=
                0);
    H5Dclose(d);
    H5Fclose(f);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)(addr + size / 2), SEEK_SET), 0);
    for (int i = 0; i < 8; i++)
        fputc(0x55 ^ i, fp);
    fclose(fp);
    /* inflated whole, and in a stream */
    for (int streamed = 0; streamed < 2; streamed++) {
        sa_probs_stream_above(streamed ? 0 : (uint64_t)16 << 20);
        SaProbs *p = open_ok(path);
        assert_string_equal(sa_probs_read_path(p), "direct");
        check_band(p, 0, 0, TH);
        check_band(p, 1, 0, 4);
        SaErr err = {0};
        static float buf[TK * TH * TW];
        int rc = sa_probs_read_band(p, 1, 4, 4, buf, &err);
        expect_err(&err, rc, SEGAUDIT_EINPUT,
                   "d_corrupt.h5:/pred_probs: image 1", "corrupt");
        /* and again, not a different answer the second time */
        rc = sa_probs_read_band(p, 1, 5, 1, buf, &err);
        expect_err(&err, rc, SEGAUDIT_EINPUT,
                   "d_corrupt.h5:/pred_probs: image 1", "corrupt");
        check_band(p, 2, 0, TH);
        sa_probs_close(p);
    }
    sa_probs_stream_above((uint64_t)16 << 20);
}

/* A chunk stored without deflate (its filter skipped, as HDF5 allows) is
 * read as it is, whole or in a stream, with or without the HDF5 path. */
static void test_chunk_stored_raw(void **state)
{
    (void)state;
    static const hsize_t img[4] = {1, TK, TH, TW};
    enum { NEL = TK * TH * TW };
    const char *path = write_packed("raw_chunk.h5", H5T_IEEE_F32LE, img, 1, 1);
    static float f[TN * NEL];
    static uint8_t shuffled[NEL * 4];
    fill_f32(f);
    const uint8_t *bytes = (const uint8_t *)(f + NEL); /* image 1 */
    for (int e = 0; e < NEL; e++)
        for (int b = 0; b < 4; b++)
            shuffled[b * NEL + e] = bytes[e * 4 + b];
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(file, "/pred_probs", H5P_DEFAULT);
    hsize_t at[4] = {1, 0, 0, 0};
    /* filters: shuffle (0) applied, deflate (1) skipped */
    assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, 1u << 1, at, sizeof shuffled,
                               shuffled) >= 0);
    H5Dclose(d);
    H5Fclose(file);
    for (int way = 0; way < 3; way++) {
        sa_probs_use_direct(way != 2);
        sa_probs_stream_above(way == 1 ? 0 : (uint64_t)16 << 20);
        SaProbs *p = open_ok(path);
        assert_string_equal(sa_probs_read_path(p), way == 2 ? "hdf5"
                                                            : "direct");
        for (uint64_t n = 0; n < TN; n++) {
            check_band(p, n, 0, 3);
            check_band(p, n, 3, TH - 3);
        }
        sa_probs_close(p);
    }
    sa_probs_use_direct(1);
    sa_probs_stream_above((uint64_t)16 << 20);
}

/* Deflate chunks too large to be inflated whole are inflated in a stream:
 * the same values for every element size, chunk shape (whole images, or
 * rows with a partial last chunk), with and without shuffle, for bands in
 * any order, several images at once, and chunks stored without deflate. */
static void test_streamed_chunks(void **state)
{
    (void)state;
    static const hsize_t rows4[4] = {1, TK, 4, TW};
    static const hsize_t img[4] = {1, TK, TH, TW};
    const hsize_t *chunks[2] = {rows4, img};
    hid_t half = half_type(H5T_IEEE_F32LE);
    const hid_t types[3] = {half, H5T_IEEE_F32LE, H5T_IEEE_F64LE};
    sa_probs_stream_above(0);
    for (int shuffle = 0; shuffle < 2; shuffle++)
        for (int c = 0; c < 2; c++)
            for (int t = 0; t < 3; t++) {
                char name[64];
                snprintf(name, sizeof name, "stream_%d%d%d.h5", shuffle, c,
                         t);
                SaProbs *p = open_ok(write_packed(name, types[t], chunks[c],
                                                  shuffle, 1));
                assert_string_equal(sa_probs_read_path(p), "direct");
                check_bands(p);
                /* row by row across the images, forwards, then backwards
                 * (each chunk started again) */
                for (uint64_t r = 0; r < TH; r++)
                    for (uint64_t n = 0; n < TN; n++)
                        check_band(p, n, r, 1);
                for (uint64_t r = TH; r-- > 0;)
                    check_band(p, TN - 1, r, 1);
                /* a band that skips rows, then one over two chunk rows */
                check_band(p, 1, 2, 1);
                check_band(p, 1, 3, 6);
                assert_true(sa_probs_bytes_read(p) > 0);
                sa_probs_close(p);
                /* bands that overlap the last one by a row or two read
                 * what bands that do not read: no chunk is started again,
                 * also when a band reaches back over a chunk boundary */
                static const uint64_t bands[4][3][2] = {
                    {{0, 5}, {5, 3}, {8, 2}}, {{0, 5}, {3, 5}, {6, 4}},
                    {{0, 2}, {2, 4}, {6, 4}}, {{0, 2}, {1, 4}, {4, 6}}};
                uint64_t bytes[4];
                for (int v = 0; v < 4; v++) {
                    p = open_ok(tmp_path(name));
                    /* every chunk kept open first holds another image's
                     * rows, read to their end */
                    check_band(p, 0, 0, TH);
                    check_band(p, 2, 0, 4);
                    uint64_t before = sa_probs_bytes_read(p);
                    for (int i = 0; i < 3; i++)
                        check_band(p, 1, bands[v][i][0], bands[v][i][1]);
                    bytes[v] = sa_probs_bytes_read(p) - before;
                    sa_probs_close(p);
                }
                assert_true(bytes[0] > 0);
                for (int v = 1; v < 4; v++)
                    assert_int_equal(bytes[v], bytes[0]);
                /* and at least two chunks are kept open */
                p = open_ok(tmp_path(name));
                assert_true(sa_probs_stream_slots(p) >= 2);
                sa_probs_close(p);
            }
    H5Tclose(half);
    sa_probs_stream_above((uint64_t)16 << 20);
}

/* ---- image ids --------------------------------------------------------- */

static const char *const IDS[TN] = {"img_000", "caf\xc3\xa9_\xc3\xbc",
                                    "abcdefghijklmnopqrstuvwxyz012345"};

static void put_vlen_ids(hid_t file, const char *name, const char *const *ids,
                         hsize_t n)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    h5_put(file, name, t, 1, &n, NULL, 0, 0, t, ids);
    H5Tclose(t);
}

static const char *file_with_ids(const char *name, int kind)
{
    const char *path = write_tensor(name, H5T_IEEE_F32LE, NULL);
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hsize_t n = TN;
    assert_true(file >= 0);
    if (kind == 0) {
        put_vlen_ids(file, "/image_ids", IDS, n);
    } else {
        /* 32 bytes, null-padded; the last id fills all 32; trailing spaces
         * of the first are dropped. */
        char fixed[TN][32];
        memset(fixed, 0, sizeof fixed);
        memcpy(fixed[0], "img_000   ", 10);
        memcpy(fixed[1], IDS[1], strlen(IDS[1]));
        memcpy(fixed[2], IDS[2], 32);
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 32);
        H5Tset_strpad(t, H5T_STR_NULLPAD);
        h5_put(file, "/image_ids", t, 1, &n, NULL, 0, 0, t, fixed);
        H5Tclose(t);
    }
    H5Fclose(file);
    return path;
}

static void check_ids(SaProbs *p, const char *ids_dataset)
{
    char **ids = NULL;
    int found = -1;
    SaErr err = {0};
    if (sa_probs_read_ids(p, ids_dataset, &ids, &found, &err) != 0)
        fail_msg("read_ids: %s", err.msg);
    assert_int_equal(found, 1);
    assert_non_null(ids);
    for (int i = 0; i < TN; i++)
        assert_string_equal(ids[i], IDS[i]);
    sa_free_strings(ids, TN);
}

static void test_ids_vlen_utf8(void **state)
{
    (void)state;
    SaProbs *p = open_ok(file_with_ids("ids_vlen.h5", 0));
    check_ids(p, NULL);
    check_ids(p, "/image_ids");
    check_ids(p, "image_ids");
    sa_probs_close(p);
}

static void test_ids_fixed(void **state)
{
    (void)state;
    SaProbs *p = open_ok(file_with_ids("ids_fixed.h5", 1));
    check_ids(p, NULL);
    sa_probs_close(p);
}

static void test_ids_absent(void **state)
{
    (void)state;
    SaProbs *p = open_ok(write_tensor("noids.h5", H5T_IEEE_F32LE, NULL));
    char **ids = (char **)&ids;
    int found = -1;
    SaErr err = {0};
    assert_int_equal(sa_probs_read_ids(p, NULL, &ids, &found, &err), 0);
    assert_int_equal(found, 0);
    assert_null(ids);
    int rc = sa_probs_read_ids(p, "/names", &ids, &found, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT, ":/names: ", "no such dataset");
    assert_null(ids);
    sa_err_clear(&err);
    rc = sa_probs_read_ids(p, "/grp/names", &ids, &found, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT, ":/grp/names: ", "no such dataset");
    sa_probs_close(p);
}

static void test_ids_errors(void **state)
{
    (void)state;
    const char *path = write_tensor("ids_bad.h5", H5T_IEEE_F32LE, NULL);
    const char *const seven[7] = {"a", "b", "c", "d", "e", "f", "g"};
    const char *const empty[TN] = {"a", "", "c"};
    int ints[TN] = {1, 2, 3};
    char fixed2d[TN][2][8];
    hsize_t d2[2] = {TN, 2};
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    memset(fixed2d, 'x', sizeof fixed2d);
    put_vlen_ids(file, "/seven", seven, 7);
    put_vlen_ids(file, "/empty", empty, TN);
    hsize_t n = TN;
    h5_put(file, "/ints", H5T_STD_I32LE, 1, &n, NULL, 0, 0, H5T_NATIVE_INT, ints);
    float floats[TN] = {1, 2, 3};
    h5_put(file, "/floats", H5T_IEEE_F32LE, 1, &n, NULL, 0, 0, H5T_NATIVE_FLOAT,
        floats);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 8);
    h5_put(file, "/twod", t, 2, d2, NULL, 0, 0, t, fixed2d);
    H5Tclose(t);
    H5Gclose(H5Gcreate2(file, "/grp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(file);

    SaProbs *p = open_ok(path);
    char **ids = NULL;
    int found = 0, rc;
    SaErr err = {0};
    rc = sa_probs_read_ids(p, "/seven", &ids, &found, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT, ":/seven: ",
               "has 7 ids but the tensor has N=3 images");
    sa_err_clear(&err);
    rc = sa_probs_read_ids(p, "/empty", &ids, &found, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT, ":/empty: ", "id 1 is empty");
    sa_err_clear(&err);
    /* integer ids are read in decimal */
    rc = sa_probs_read_ids(p, "/ints", &ids, &found, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(found, 1);
    assert_string_equal(ids[0], "1");
    assert_string_equal(ids[2], "3");
    sa_free_strings(ids, TN);
    ids = NULL;
    found = 0;
    rc = sa_probs_read_ids(p, "/floats", &ids, &found, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT, ":/floats: ",
               "expected strings or integers");
    sa_err_clear(&err);
    rc = sa_probs_read_ids(p, "/twod", &ids, &found, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT, ":/twod: ", "rank 2, expected 1");
    sa_err_clear(&err);
    rc = sa_probs_read_ids(p, "/grp", &ids, &found, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT, ":/grp: ", "not a dataset");
    assert_null(ids);
    assert_int_equal(found, 0);
    sa_probs_close(p);
}

/* ---- open errors ------------------------------------------------------- */

static void open_fails(const char *path, const char *dataset, int code,
                       const char *a, const char *b)
{
    SaProbs *p = (SaProbs *)&p;
    SaErr err = {0};
    int rc = sa_probs_open(&p, path, dataset, &err);
    expect_err(&err, rc, code, a, b);
    assert_null(p);
}

static void test_open_file_errors(void **state)
{
    (void)state;
    char want[300];
    const char *missing = tmp_path("missing.h5");
    snprintf(want, sizeof want, "%s: cannot open", missing);
    open_fails(missing, "/pred_probs", SEGAUDIT_EINPUT, want,
               "No such file or directory");

    const char *text = tmp_path("text.h5");
    FILE *f = fopen(text, "w");
    assert_non_null(f);
    fputs("this is not HDF5\n", f);
    fclose(f);
    snprintf(want, sizeof want, "%s: not an HDF5 file", text);
    open_fails(text, "/pred_probs", SEGAUDIT_EINPUT, want, NULL);

    snprintf(want, sizeof want, "%s: not a regular file", g_dir);
    open_fails(g_dir, "/pred_probs", SEGAUDIT_EINPUT, want, NULL);
}

static void test_open_dataset_errors(void **state)
{
    (void)state;
    const char *path = tmp_path("bad.h5");
    hid_t file = new_file(path);
    hsize_t d3[3] = {2, 3, 4}, d4[4] = {2, 3, 0, 4}, dk[4] = {1, 65537, 1, 1};
    hsize_t d1[4] = {1, 2, 2, 2};
    h5_put(file, "/rank3", H5T_IEEE_F32LE, 3, d3, NULL, 0, 0, 0, NULL);
    h5_put(file, "/zero_h", H5T_IEEE_F32LE, 4, d4, NULL, 0, 0, 0, NULL);
    h5_put(file, "/big_k", H5T_IEEE_F32LE, 4, dk, NULL, 0, 0, 0, NULL);
    h5_put(file, "/ints", H5T_STD_I32LE, 4, d1, NULL, 0, 0, 0, NULL);
    hid_t ct = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(ct, "a", 0, H5T_IEEE_F32LE);
    H5Tinsert(ct, "b", 4, H5T_IEEE_F32LE);
    h5_put(file, "/compound", ct, 4, d1, NULL, 0, 0, 0, NULL);
    H5Tclose(ct);
    h5_put(file, "/f128", H5T_NATIVE_LDOUBLE, 4, d1, NULL, 0, 0, 0, NULL);
    hid_t bf = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(bf, 15, 7, 8, 0, 7);
    H5Tset_size(bf, 2);
    H5Tset_ebias(bf, 127);
    h5_put(file, "/bf16", bf, 4, d1, NULL, 0, 0, 0, NULL);
    H5Tclose(bf);
    H5Gclose(H5Gcreate2(file, "/grp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(file);

    char want[300];
    snprintf(want, sizeof want, "%s:/pred_probs: no such dataset", path);
    open_fails(path, "/pred_probs", SEGAUDIT_EINPUT, want, NULL);
    open_fails(path, "/a/b/c", SEGAUDIT_EINPUT, ":/a/b/c: ",
               "no such dataset");
    /* a group is read as one dataset per image: an empty one is refused */
    open_fails(path, "/grp", SEGAUDIT_EINPUT, ":/grp: ", "holds no datasets");
    snprintf(want, sizeof want, "%s:/rank3: rank 3, expected 4 (N,K,H,W)",
             path);
    open_fails(path, "/rank3", SEGAUDIT_EINPUT, want, NULL);
    open_fails(path, "/zero_h", SEGAUDIT_EINPUT, ":/zero_h: ",
               "dimension 2 (H) is 0");
    open_fails(path, "/big_k", SEGAUDIT_EINPUT, ":/big_k: ", "65536");
    open_fails(path, "/ints", SEGAUDIT_EINPUT, ":/ints: ",
               "element type is int32; expected float16, float32, float64, "
               "or quantised uint8 or uint16");
    open_fails(path, "/compound", SEGAUDIT_EINPUT, ":/compound: ",
               "element type is compound");
    if (H5Tget_size(H5T_NATIVE_LDOUBLE) > 8)
        open_fails(path, "/f128", SEGAUDIT_EINPUT, ":/f128: ", "-bit float");
    open_fails(path, "/bf16", SEGAUDIT_EINPUT, ":/bf16: ", "bfloat16");
}

/* A filter that is registered while writing and gone when reading. */
#define TEST_FILTER 300
static size_t copy_filter(unsigned flags, size_t ncd, const unsigned cd[],
                          size_t nbytes, size_t *buf_size, void **buf)
{
    (void)flags, (void)ncd, (void)cd, (void)buf_size, (void)buf;
    return nbytes;
}

static void test_unavailable_filter(void **state)
{
    (void)state;
    const H5Z_class2_t cls = {H5Z_CLASS_T_VERS, TEST_FILTER, 1, 1,
                              "segaudit_test_filter", NULL, NULL,
                              copy_filter};
    const char *path = tmp_path("filter.h5");
    hsize_t d[4] = {1, 2, 4, 4}, c[4] = {1, 2, 2, 4};
    float v[32] = {0};
    assert_true(H5Zregister(&cls) >= 0);
    hid_t file = new_file(path);
    hid_t space = H5Screate_simple(4, d, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, c);
    assert_true(H5Pset_filter(dcpl, TEST_FILTER, 0, 0, NULL) >= 0);
    hid_t ds = H5Dcreate2(file, "/pred_probs", H5T_IEEE_F32LE, space,
                          H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(ds >= 0);
    assert_true(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         v) >= 0);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Fclose(file);
    assert_true(H5Zunregister(TEST_FILTER) >= 0);
    open_fails(path, "/pred_probs", SEGAUDIT_EINPUT,
               "'segaudit_test_filter' (id 300)", "cannot decode");
}

/* ---- read errors ------------------------------------------------------- */

static void test_read_band_errors(void **state)
{
    (void)state;
    const char *path = write_tensor("band_errors.h5", H5T_IEEE_F32LE, NULL);
    SaProbs *p = open_ok(path);
    float buf[TK * TH * TW];
    SaErr err = {0};
    char want[300];
    int rc = sa_probs_read_band(p, TN, 0, 1, buf, &err);
    snprintf(want, sizeof want, "%s:/pred_probs: image %d out of range (N=%d)",
             path, TN, TN);
    expect_err(&err, rc, SEGAUDIT_EINPUT, want, NULL);
    sa_err_clear(&err);
    rc = sa_probs_read_band(p, 1, TH - 2, 3, buf, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT, ":/pred_probs: reading image 1 rows",
               "out of range");
    sa_err_clear(&err);
    rc = sa_probs_read_band(p, 1, UINT64_MAX, 2, buf, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT, "image 1", "out of range");
    sa_err_clear(&err);
    assert_int_equal(sa_probs_read_band(p, 1, TH, 0, buf, &err), 0);
    sa_probs_close(p);
    sa_probs_close(NULL);
    sa_free_strings(NULL, 5);
}

/* ---- golden files ------------------------------------------------------ */

static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24)
              : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

static void test_golden_k19_vs_gzip(void **state)
{
    (void)state;
    SaProbs *a = open_ok("golden/scenes_k19/probs.h5");
    SaProbs *b = open_ok("golden/scenes_palette_gzip/probs.h5");
    SaErr err = {0};
    check_dims(a, 6, 19, 64, 128);
    check_dims(b, 6, 19, 64, 128);
    assert_string_equal(sa_probs_layout(a), "contiguous");
    assert_string_equal(sa_probs_layout(b),
                        "chunked (1,19,16,128) shuffle+deflate");
    assert_int_equal(sa_probs_chunk_rows(b), 16);
    assert_int_equal(sa_probs_plan_band_rows(b, 24, &err), 0);

    size_t n = (size_t)19 * 64 * 128;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    assert_true(x && y);
    static const uint64_t bands[][3] = {
        {0, 0, 64}, {1, 10, 24}, {3, 40, 24}, {5, 63, 1}, {5, 0, 64}};
    for (size_t i = 0; i < sizeof bands / sizeof bands[0]; i++) {
        uint64_t nr = bands[i][2];
        assert_int_equal(sa_probs_read_band(a, bands[i][0], bands[i][1], nr,
                                            x, &err), 0);
        assert_int_equal(sa_probs_read_band(b, bands[i][0], bands[i][1], nr,
                                            y, &err), 0);
        assert_memory_equal(x, y, (size_t)19 * nr * 128 * 4);
    }
    /* Image 5, full: probabilities sum to 1 over the classes. */
    for (size_t px = 0; px < 64 * 128; px++) {
        double s = 0;
        for (size_t k = 0; k < 19; k++)
            s += x[k * 64 * 128 + px];
        assert_true(fabs(s - 1.0) < 1e-4);
    }

    char **ia = NULL, **ib = NULL;
    int fa = 0, fb = 0;
    assert_int_equal(sa_probs_read_ids(a, NULL, &ia, &fa, &err), 0);
    assert_int_equal(sa_probs_read_ids(b, NULL, &ib, &fb, &err), 0);
    assert_true(fa && fb);
    for (int i = 0; i < 6; i++) {
        char want[32];
        snprintf(want, sizeof want, "scenes_k19_%03d", i);
        assert_string_equal(ia[i], want);
        assert_string_equal(ib[i], want);
    }
    sa_free_strings(ia, 6);
    sa_free_strings(ib, 6);
    free(x);
    free(y);
    sa_probs_close(a);
    sa_probs_close(b);
}

static void test_golden_f16(void **state)
{
    (void)state;
    SaProbs *p = open_ok("golden/scenes_f16/probs.h5");
    SaErr err = {0};
    check_dims(p, 4, 19, 64, 64);
    assert_int_equal(sa_probs_dtype(p), SA_F16);
    assert_int_equal(sa_probs_elsize(p), 2);
    uint16_t *v = malloc((size_t)19 * 8 * 64 * 2);
    assert_non_null(v);
    assert_int_equal(sa_probs_read_band(p, 3, 56, 8, v, &err), 0);
    /* Raw half bits: decoded, each pixel's classes sum to about 1. */
    for (size_t px = 0; px < 8 * 64; px++) {
        double s = 0;
        for (size_t k = 0; k < 19; k++)
            s += half_to_float(v[k * 8 * 64 + px]);
        assert_true(fabs(s - 1.0) < 0.02);
    }
    free(v);
    char **ids = NULL;
    int found = 0;
    assert_int_equal(sa_probs_read_ids(p, NULL, &ids, &found, &err), 0);
    assert_int_equal(found, 1);
    assert_string_equal(ids[3], "scenes_f16_003");
    sa_free_strings(ids, 4);
    sa_probs_close(p);
}

static void test_golden_noids(void **state)
{
    (void)state;
    SaProbs *p = open_ok("golden/void_gray16_noids/probs.h5");
    SaErr err = {0};
    char **ids = NULL;
    int found = -1;
    check_dims(p, 5, 19, 48, 96);
    assert_int_equal(sa_probs_read_ids(p, NULL, &ids, &found, &err), 0);
    assert_int_equal(found, 0);
    assert_null(ids);
    int rc = sa_probs_read_ids(p, "/image_ids", &ids, &found, &err);
    expect_err(&err, rc, SEGAUDIT_EINPUT,
               "golden/void_gray16_noids/probs.h5:/image_ids: ",
               "no such dataset");
    sa_probs_close(p);
}

/* ---- main -------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return tmpdir_create("test_h5");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove();
}

/* Leaked HDF5 identifiers.  Files, groups and datasets: the library counts
 * them.  Transient types, spaces and property lists are not counted, but ids
 * of one kind are handed out in increasing order: every id between a probe
 * made before the test and one made after must be closed again. */
static hid_t probe_lo[3];

static void make_probes(hid_t probe[3])
{
    probe[0] = H5Tcopy(H5T_NATIVE_INT);
    probe[1] = H5Screate(H5S_SCALAR);
    probe[2] = H5Pcreate(H5P_DATASET_ACCESS);
    H5Tclose(probe[0]);
    H5Sclose(probe[1]);
    H5Pclose(probe[2]);
}

static int ids_before(void **state)
{
    (void)state;
    make_probes(probe_lo);
    return 0;
}

static int ids_after(void **state)
{
    (void)state;
    hid_t hi[3];
    int leaks = 0;
    ssize_t open_objs = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_objs != 0) {
        fprintf(stderr, "%zd HDF5 files/objects left open\n", open_objs);
        leaks++;
    }
    make_probes(hi);
    for (int k = 0; k < 3; k++)
        for (hid_t id = probe_lo[k] + 1; id < hi[k]; id++)
            if (H5Iis_valid(id) > 0) {
                fprintf(stderr, "HDF5 id %lld (type %d) left open\n",
                        (long long)id, (int)H5Iget_type(id));
                leaks++;
            }
    return leaks ? -1 : 0;
}


/* ---- hostile files ----------------------------------------------------- */

static void test_external_link_refused(void **state)
{
    (void)state;
    const char *target = write_tensor("link_target.h5", H5T_IEEE_F32LE, NULL);
    const char *path = tmp_path("external_link.h5");
    hid_t f = new_file(path);
    assert_true(H5Lcreate_external(target, "/pred_probs", f, "/pred_probs",
                                   H5P_DEFAULT, H5P_DEFAULT) >= 0);
    H5Fclose(f);
    open_fails(path, "/pred_probs", SEGAUDIT_EINPUT, "external link", NULL);
}

static void test_virtual_dataset_refused(void **state)
{
    (void)state;
    const char *src = write_tensor("vds_source.h5", H5T_IEEE_F32LE, NULL);
    const char *path = tmp_path("vds.h5");
    hid_t f = new_file(path);
    hid_t vspace = H5Screate_simple(4, TDIMS, NULL);
    hid_t sspace = H5Screate_simple(4, TDIMS, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(H5Pset_virtual(dcpl, vspace, src, "/pred_probs", sspace) >=
                0);
    hid_t d = H5Dcreate2(f, "/pred_probs", H5T_IEEE_F32LE, vspace,
                         H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(vspace);
    H5Sclose(sspace);
    H5Fclose(f);
    open_fails(path, "/pred_probs", SEGAUDIT_EINPUT, "virtual dataset", NULL);
}

static void test_unwritten_dataset_refused(void **state)
{
    (void)state;
    const char *path = tmp_path("unwritten.h5");
    hid_t f = new_file(path);
    hid_t space = H5Screate_simple(4, TDIMS, NULL);
    hid_t d = H5Dcreate2(f, "/pred_probs", H5T_IEEE_F32LE, space,
                         H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d);
    H5Sclose(space);
    H5Fclose(f);
    open_fails(path, "/pred_probs", SEGAUDIT_EINPUT, "no data", NULL);
}

static void test_missing_chunks_refused(void **state)
{
    (void)state;
    const char *path = tmp_path("few_chunks.h5");
    hid_t f = new_file(path);
    hid_t space = H5Screate_simple(4, TDIMS, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[4] = {1, TK, TH, TW};
    H5Pset_chunk(dcpl, 4, chunk);
    hid_t d = H5Dcreate2(f, "/pred_probs", H5T_IEEE_F32LE, space,
                         H5P_DEFAULT, dcpl, H5P_DEFAULT);
    /* write image 0 only: images 1 and 2 would read as zeros */
    static float v[TK * TH * TW];
    hsize_t start[4] = {0, 0, 0, 0}, count[4] = {1, TK, TH, TW};
    hid_t mem = H5Screate_simple(4, count, NULL);
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
    assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, mem, space, H5P_DEFAULT, v) >=
                0);
    H5Sclose(mem);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Fclose(f);
    open_fails(path, "/pred_probs", SEGAUDIT_EINPUT, "1 of its 3 chunks", NULL);
}

static void test_truncated_file_refused(void **state)
{
    (void)state;
    /* a contiguous dataset at the end of the file, cut short: the header
     * survives, the data does not */
    const char *full = write_tensor("to_truncate.h5", H5T_IEEE_F32LE, NULL);
    struct stat st;
    assert_int_equal(stat(full, &st), 0);
    assert_int_equal(truncate(full, st.st_size - 200), 0);
    SaProbs *p = NULL;
    SaErr err = {0};
    int rc = sa_probs_open(&p, full, "/pred_probs", &err);
    assert_int_not_equal(rc, 0);
    assert_null(p);
    assert_true(strstr(err.msg, "to_truncate.h5") != NULL);
}

static void test_tiny_chunks(void **state)
{
    (void)state;
    /* one element per chunk: thousands of chunks per band, a chunk cache
     * planned for them, and every value still read right */
    static const hsize_t one[4] = {1, 1, 1, 1};
    const char *path = write_tensor("tiny_chunks.h5", H5T_IEEE_F32LE, one);
    SaProbs *p = open_ok(path);
    SaErr err = {0};
    assert_int_equal(sa_probs_plan_band_rows(p, TH, &err), 0);
    check_bands(p);
    sa_probs_close(p);
}

#define T(f) cmocka_unit_test_setup_teardown(f, ids_before, ids_after)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_f32_contiguous),
        T(test_f32_big_endian),
        T(test_f64),
        T(test_f16_raw_bits),
        T(test_f16_big_endian),
        T(test_chunked_shuffle_gzip),
        T(test_ids_vlen_utf8),
        T(test_ids_fixed),
        T(test_ids_absent),
        T(test_ids_errors),
        T(test_open_file_errors),
        T(test_open_dataset_errors),
        T(test_unavailable_filter),
        T(test_read_band_errors),
        T(test_golden_k19_vs_gzip),
        T(test_golden_f16),
        T(test_golden_noids),
        T(test_external_link_refused),
        T(test_virtual_dataset_refused),
        T(test_unwritten_dataset_refused),
        T(test_missing_chunks_refused),
        T(test_truncated_file_refused),
        T(test_tiny_chunks),
    T(test_direct_reads),
    T(test_corrupt_deflate_chunk),
    T(test_streamed_chunks),
    T(test_chunk_stored_raw),
    T(test_many_chunk_rows),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
