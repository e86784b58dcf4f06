/* mkseeds: writes the hand-made seed inputs of the fuzz targets.
 *
 *     mkseeds png DIR   label PNGs: every accepted kind (gray 1/2/4/8/16,
 *                       palette, interlaced), refused kinds (RGB, RGBA,
 *                       gray+alpha) and broken files (truncated, bad CRC,
 *                       bad IHDR, huge declared size, missing IEND, ...)
 *     mkseeds h5 DIR    HDF5 files under 64 KB: every element type and
 *                       layout the reader accepts, the shapes and types it
 *                       refuses, ids of every kind, links, huge declared
 *                       shapes without storage, filters
 *     mkseeds npy DIR   .npy files: every accepted version, type, byte
 *                       order and header spelling, and the refused ones
 *                       (Fortran order, structured, object, string, ...,
 *                       bad shapes and keys, truncated header or data)
 *
 * Uses libpng, zlib and HDF5 directly (no project code), deterministic.
 * The argv seeds of fuzz_args are plain files written by build.sh. */
#include <hdf5.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *g_dir;

static void die(const char *what)
{
    fprintf(stderr, "mkseeds: %s\n", what);
    exit(1);
}

static char *path_of(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

/* ---- PNG ------------------------------------------------------------------ */

typedef struct Buf {
    unsigned char *d;
    size_t n, cap;
} Buf;

static void buf_put(Buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->d = realloc(b->d, b->cap);
        if (!b->d)
            die("out of memory");
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void png_to_buf(png_structp png, png_bytep data, png_size_t n)
{
    buf_put(png_get_io_ptr(png), data, n);
}

static void png_flush_nop(png_structp png) { (void)png; }

/* An image with a deterministic pattern, as a PNG in memory. */
static Buf make_png(uint32_t w, uint32_t h, int depth, int ctype,
                    int interlace, int with_trns, int with_text)
{
    Buf b = {0};
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!png || !info || setjmp(png_jmpbuf(png)))
        die("libpng write failed");
    png_set_write_fn(png, &b, png_to_buf, png_flush_nop);
    png_set_IHDR(png, info, w, h, depth, ctype, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        int n = 1 << depth;
        for (int i = 0; i < n; i++) {
            pal[i].red = (png_byte)(i * 37);
            pal[i].green = (png_byte)(i * 91);
            pal[i].blue = (png_byte)(i * 13);
        }
        png_set_PLTE(png, info, pal, n);
        if (with_trns) {
            png_byte t[2] = {0, 128};
            png_set_tRNS(png, info, t, 2, NULL);
        }
    }
    if (with_text) {
        png_text t[2];
        memset(t, 0, sizeof t);
        t[0].compression = PNG_TEXT_COMPRESSION_NONE;
        t[0].key = "Comment";
        t[0].text = "segaudit fuzz seed";
        t[1].compression = PNG_TEXT_COMPRESSION_zTXt;
        t[1].key = "Software";
        t[1].text = "mkseeds mkseeds mkseeds mkseeds";
        png_set_text(png, info, t, 2);
        png_set_gAMA(png, info, 0.45455);
        png_color_8 sig = {0};
        sig.gray = (png_byte)(depth > 8 ? 12 : depth);
        if (ctype != PNG_COLOR_TYPE_GRAY)
            sig.red = sig.green = sig.blue = 8;
        png_set_sBIT(png, info, &sig);
    }
    png_write_info(png, info);
    int ch = ctype == PNG_COLOR_TYPE_RGB         ? 3
             : ctype == PNG_COLOR_TYPE_RGB_ALPHA ? 4
             : ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                  : 1;
    size_t rowbytes = ((size_t)w * ch * depth + 7) / 8;
    unsigned char *img = calloc(h, rowbytes);
    png_bytep *rows = calloc(h, sizeof *rows);
    if (!img || !rows)
        die("out of memory");
    unsigned maxv = depth == 16 ? 300 : (1u << depth) - 1;
    for (uint32_t y = 0; y < h; y++) {
        rows[y] = img + y * rowbytes;
        for (size_t i = 0; i < (size_t)w * ch; i++) {
            unsigned v = (unsigned)((i / ch + y * 3 + (i % ch) * 5) %
                                    (maxv + 1));
            if (depth == 16) {
                rows[y][2 * i] = (unsigned char)(v >> 8);
                rows[y][2 * i + 1] = (unsigned char)v;
            } else if (depth == 8) {
                rows[y][i] = (unsigned char)v;
            } else {
                size_t bit = i * depth;
                rows[y][bit / 8] |=
                    (unsigned char)(v << (8 - depth - bit % 8));
            }
        }
    }
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(img);
    free(rows);
    return b;
}

static void save(const char *name, const Buf *b)
{
    FILE *f = fopen(path_of(name), "wb");
    if (!f || fwrite(b->d, 1, b->n, f) != b->n || fclose(f) != 0)
        die(path_of(name));
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static void wr32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Offset of the first chunk of this type (its length field), or 0. */
static size_t find_chunk(const Buf *b, const char *type)
{
    size_t off = 8;
    while (off + 12 <= b->n) {
        uint32_t len = rd32(b->d + off);
        if (!memcmp(b->d + off + 4, type, 4))
            return off;
        off += 12 + (size_t)len;
    }
    return 0;
}

static void fix_crc(Buf *b, size_t off)
{
    uint32_t len = rd32(b->d + off);
    uLong c = crc32(0L, b->d + off + 4, 4 + len);
    wr32(b->d + off + 8 + len, (uint32_t)c);
}

static Buf copy_buf(const Buf *b)
{
    Buf c = {0};
    buf_put(&c, b->d, b->n);
    return c;
}

/* The IHDR of b with one field changed (CRC recomputed). */
static Buf with_ihdr(const Buf *b, uint32_t w, uint32_t h, int depth,
                     int ctype, int interlace)
{
    Buf c = copy_buf(b);
    size_t o = find_chunk(&c, "IHDR");
    if (!o)
        die("no IHDR");
    wr32(c.d + o + 8, w);
    wr32(c.d + o + 12, h);
    c.d[o + 16] = (unsigned char)depth;
    c.d[o + 17] = (unsigned char)ctype;
    c.d[o + 20] = (unsigned char)interlace;
    fix_crc(&c, o);
    return c;
}

/* A PNG of only the signature, IHDR and an IDAT of zlib(data), IEND. */
static Buf raw_png(uint32_t w, uint32_t h, int depth, int ctype,
                   int interlace, const unsigned char *raw, size_t rawlen)
{
    Buf b = {0};
    static const unsigned char sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    buf_put(&b, sig, 8);
    unsigned char ihdr[25];
    wr32(ihdr, 13);
    memcpy(ihdr + 4, "IHDR", 4);
    wr32(ihdr + 8, w);
    wr32(ihdr + 12, h);
    ihdr[16] = (unsigned char)depth;
    ihdr[17] = (unsigned char)ctype;
    ihdr[18] = 0;
    ihdr[19] = 0;
    ihdr[20] = (unsigned char)interlace;
    buf_put(&b, ihdr, 25);
    fix_crc(&b, 8);
    uLongf zlen = compressBound(rawlen);
    unsigned char *z = malloc(zlen);
    if (!z || compress2(z, &zlen, raw, rawlen, 9) != Z_OK)
        die("zlib");
    unsigned char hdr[8];
    wr32(hdr, (uint32_t)zlen);
    memcpy(hdr + 4, "IDAT", 4);
    size_t o = b.n;
    buf_put(&b, hdr, 8);
    buf_put(&b, z, zlen);
    unsigned char crc[4] = {0};
    buf_put(&b, crc, 4);
    fix_crc(&b, o);
    free(z);
    unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0, 0, 0, 0};
    o = b.n;
    buf_put(&b, iend, 12);
    fix_crc(&b, o);
    return b;
}

static void png_seeds(void)
{
    struct {
        const char *name;
        uint32_t w, h;
        int depth, ctype, interlace, trns, text;
    } kinds[] = {
        {"gray8.png", 16, 16, 8, PNG_COLOR_TYPE_GRAY, 0, 0, 0},
        {"gray8-odd.png", 7, 5, 8, PNG_COLOR_TYPE_GRAY, 0, 0, 1},
        {"gray16.png", 9, 6, 16, PNG_COLOR_TYPE_GRAY, 0, 0, 0},
        {"gray1.png", 13, 4, 1, PNG_COLOR_TYPE_GRAY, 0, 0, 0},
        {"gray2.png", 11, 4, 2, PNG_COLOR_TYPE_GRAY, 0, 0, 0},
        {"gray4.png", 10, 3, 4, PNG_COLOR_TYPE_GRAY, 0, 0, 0},
        {"palette8.png", 12, 5, 8, PNG_COLOR_TYPE_PALETTE, 0, 1, 1},
        {"palette4.png", 9, 4, 4, PNG_COLOR_TYPE_PALETTE, 0, 0, 0},
        {"palette1.png", 17, 3, 1, PNG_COLOR_TYPE_PALETTE, 0, 0, 0},
        {"interlaced-gray8.png", 13, 11, 8, PNG_COLOR_TYPE_GRAY, 1, 0, 0},
        {"interlaced-gray16.png", 5, 9, 16, PNG_COLOR_TYPE_GRAY, 1, 0, 0},
        {"interlaced-gray2.png", 9, 9, 2, PNG_COLOR_TYPE_GRAY, 1, 0, 0},
        {"interlaced-palette2.png", 10, 7, 2, PNG_COLOR_TYPE_PALETTE, 1, 1,
         0},
        {"interlaced-1x1.png", 1, 1, 8, PNG_COLOR_TYPE_GRAY, 1, 0, 0},
        {"refused-rgb.png", 4, 4, 8, PNG_COLOR_TYPE_RGB, 0, 0, 0},
        {"refused-rgba16.png", 3, 3, 16, PNG_COLOR_TYPE_RGB_ALPHA, 0, 0, 0},
        {"refused-gray-alpha.png", 4, 2, 8, PNG_COLOR_TYPE_GRAY_ALPHA, 0, 0,
         0},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        Buf b = make_png(kinds[i].w, kinds[i].h, kinds[i].depth,
                         kinds[i].ctype, kinds[i].interlace, kinds[i].trns,
                         kinds[i].text);
        save(kinds[i].name, &b);
        free(b.d);
    }

    Buf g = make_png(16, 16, 8, PNG_COLOR_TYPE_GRAY, 0, 0, 0);
    Buf gi = make_png(16, 16, 8, PNG_COLOR_TYPE_GRAY, 1, 0, 0);
    Buf c;
    size_t idat = find_chunk(&g, "IDAT");

    c = copy_buf(&g); /* cut inside the image data */
    c.n = idat + 8 + rd32(g.d + idat) / 2;
    save("broken-truncated-idat.png", &c);
    free(c.d);
    c = copy_buf(&gi);
    c.n = find_chunk(&gi, "IDAT") + 8 + rd32(gi.d + find_chunk(&gi, "IDAT")) / 2;
    save("broken-truncated-interlaced.png", &c);
    free(c.d);
    c = copy_buf(&g); /* cut inside IHDR */
    c.n = 20;
    save("broken-truncated-ihdr.png", &c);
    free(c.d);
    c = copy_buf(&g); /* signature only */
    c.n = 8;
    save("broken-signature-only.png", &c);
    free(c.d);
    c = copy_buf(&g); /* no IEND */
    c.n = find_chunk(&g, "IEND");
    save("broken-no-iend.png", &c);
    free(c.d);
    c = copy_buf(&g);
    c.d[find_chunk(&c, "IHDR") + 8 + 13] ^= 0x55;
    save("broken-ihdr-crc.png", &c);
    free(c.d);
    c = copy_buf(&g);
    c.d[idat + 8 + rd32(g.d + idat)] ^= 0x55;
    save("broken-idat-crc.png", &c);
    free(c.d);
    c = copy_buf(&g); /* a byte of the zlib stream flipped, CRC fixed */
    c.d[idat + 8 + 5] ^= 0xff;
    fix_crc(&c, idat);
    save("broken-zlib-data.png", &c);
    free(c.d);
    c = copy_buf(&g);
    c.d[1] = 'Q';
    save("broken-signature.png", &c);
    free(c.d);

    /* IHDR values libpng or the reader must refuse or bound. */
    c = with_ihdr(&g, 0, 16, 8, 0, 0);
    save("ihdr-width0.png", &c);
    free(c.d);
    c = with_ihdr(&g, 16, 16, 3, 0, 0);
    save("ihdr-depth3.png", &c);
    free(c.d);
    c = with_ihdr(&g, 16, 16, 16, 3, 0);
    save("ihdr-palette16.png", &c);
    free(c.d);
    c = with_ihdr(&g, 16, 16, 8, 0, 2);
    save("ihdr-interlace2.png", &c);
    free(c.d);
    c = with_ihdr(&g, 16, 16, 8, 5, 0);
    save("ihdr-ctype5.png", &c);
    free(c.d);
    c = with_ihdr(&g, 1u << 20, 1u << 20, 8, 0, 0);
    save("ihdr-huge.png", &c);
    free(c.d);
    c = with_ihdr(&g, (1u << 20) + 1, 2, 8, 0, 0);
    save("ihdr-wide.png", &c);
    free(c.d);
    c = with_ihdr(&g, 0x7fffffffu, 1, 16, 0, 0);
    save("ihdr-max-width.png", &c);
    free(c.d);
    c = with_ihdr(&gi, 4096, 4096, 16, 0, 1);
    save("ihdr-interlaced-large.png", &c);
    free(c.d);
    c = with_ihdr(&g, 16, 17, 8, 0, 0); /* one row of data missing */
    save("ihdr-taller-than-data.png", &c);
    free(c.d);
    c = with_ihdr(&g, 16, 15, 8, 0, 0); /* one row of data too many */
    save("ihdr-shorter-than-data.png", &c);
    free(c.d);

    /* Raw filtered rows: every filter type, then an invalid one. */
    unsigned char raw[4 * (1 + 8)];
    for (int y = 0; y < 4; y++) {
        raw[y * 9] = (unsigned char)y + 1; /* sub, up, average, paeth */
        for (int x = 0; x < 8; x++)
            raw[y * 9 + 1 + x] = (unsigned char)(x * 7 + y);
    }
    c = raw_png(8, 4, 8, 0, 0, raw, sizeof raw);
    save("filters.png", &c);
    free(c.d);
    raw[9] = 9; /* invalid filter type in row 1 */
    c = raw_png(8, 4, 8, 0, 0, raw, sizeof raw);
    save("broken-filter-type.png", &c);
    free(c.d);
    /* Palette image without PLTE. */
    raw[9] = 0;
    c = raw_png(8, 4, 8, 3, 0, raw, sizeof raw);
    save("broken-palette-no-plte.png", &c);
    free(c.d);
    free(g.d);
    free(gi.d);
    c.n = 0; /* an empty file */
    save("empty.png", &c);
}

/* ---- HDF5 ----------------------------------------------------------------- */

typedef struct H5Spec {
    const char *name;
    int rank;
    hsize_t dims[4];
    hid_t ftype;        /* file element type (copied) */
    int layout;         /* 0 contiguous, 1 chunked, 2 compact */
    hsize_t chunk[4];
    int gzip, shuffle, fletcher, nbit, scaleoffset;
    int write;          /* write data (else leave unallocated) */
    int ids;            /* 0 none, 1 vlen, 2 fixed (space padded), 3 ints,
                           4 wrong length, 5 empty string, 6 2-D,
                           7 '/' in an id, 8 duplicate ids */
    int latest;         /* latest file format */
} H5Spec;

static hid_t create_file(const char *name, int latest)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (latest)
        H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path_of(name), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0)
        die(name);
    return f;
}

static void write_ids(hid_t f, int kind, hsize_t n)
{
    if (kind == 0)
        return;
    hsize_t len = kind == 4 ? n + 1 : n;
    hsize_t d2[2] = {n, 2};
    hid_t sp = kind == 6 ? H5Screate_simple(2, d2, NULL)
                         : H5Screate_simple(1, &len, NULL);
    char names[64][16];
    const char *ptrs[64];
    for (hsize_t i = 0; i < len && i < 64; i++) {
        snprintf(names[i], sizeof names[i], "img_%03u", (unsigned)i);
        if (kind == 5 && i == 0)
            names[i][0] = '\0';
        if (kind == 7 && i == 0)
            strcpy(names[i], "../up");
        if (kind == 8 && i == 1)
            strcpy(names[i], names[0]);
        ptrs[i] = names[i];
    }
    if (kind == 3) {
        int v[64];
        for (int i = 0; i < 64; i++)
            v[i] = i;
        hid_t d = H5Dcreate2(f, "/image_ids", H5T_STD_I32LE, sp, H5P_DEFAULT,
                             H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        H5Dclose(d);
    } else if (kind == 2) {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 12);
        H5Tset_strpad(t, H5T_STR_SPACEPAD);
        char buf[64 * 12];
        memset(buf, ' ', sizeof buf);
        for (hsize_t i = 0; i < len && i < 64; i++)
            memcpy(buf + i * 12, names[i], strlen(names[i]));
        hid_t d = H5Dcreate2(f, "/image_ids", t, sp, H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT);
        H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        H5Dclose(d);
        H5Tclose(t);
    } else {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
        hid_t d = H5Dcreate2(f, "/image_ids", t, sp, H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT);
        if (kind != 6)
            H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs);
        H5Dclose(d);
        H5Tclose(t);
    }
    H5Sclose(sp);
}

static void h5_file(const H5Spec *s)
{
    hid_t f = create_file(s->name, s->latest);
    hid_t sp = H5Screate_simple(s->rank, s->dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (s->layout == 1) {
        H5Pset_chunk(dcpl, s->rank, s->chunk);
        if (s->fletcher)
            H5Pset_fletcher32(dcpl);
        if (s->shuffle)
            H5Pset_shuffle(dcpl);
        if (s->nbit)
            H5Pset_nbit(dcpl);
        if (s->scaleoffset)
            H5Pset_scaleoffset(dcpl, H5Z_SO_FLOAT_DSCALE, 2);
        if (s->gzip)
            H5Pset_deflate(dcpl, 6);
    } else if (s->layout == 2) {
        H5Pset_layout(dcpl, H5D_COMPACT);
    }
    hid_t d = H5Dcreate2(f, "/pred_probs", s->ftype, sp, H5P_DEFAULT, dcpl,
                         H5P_DEFAULT);
    if (d < 0)
        die(s->name);
    if (s->write) {
        hsize_t n = 1;
        for (int i = 0; i < s->rank; i++)
            n *= s->dims[i];
        double *v = malloc(n * sizeof *v);
        for (hsize_t i = 0; i < n; i++)
            v[i] = (double)((i * 2654435761u) % 1000) / 1000.0;
        if (H5Tget_class(s->ftype) == H5T_INTEGER) {
            int *iv = malloc(n * sizeof *iv);
            for (hsize_t i = 0; i < n; i++)
                iv[i] = (int)(i % 7);
            H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, iv);
            free(iv);
        } else {
            H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        }
        free(v);
    }
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    write_ids(f, s->ids, s->dims[0]);
    H5Fclose(f);
}

/* IEEE half as h5py defines it: a 16-bit float type. */
static hid_t half_type(H5T_order_t order)
{
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    H5Tset_order(t, order);
    return t;
}

static void h5_seeds(void)
{
    hid_t f16 = half_type(H5T_ORDER_LE), f16be = half_type(H5T_ORDER_BE);
    hid_t bf16 = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(bf16, 15, 7, 8, 0, 7);
    H5Tset_size(bf16, 2);
    H5Tset_ebias(bf16, 127);
    hid_t f24 = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(f24, 23, 16, 7, 0, 16);
    H5Tset_size(f24, 3);
    H5Tset_ebias(f24, 63);

    H5Spec specs[] = {
        {"f32-contiguous-vlen-ids.h5", 4, {2, 3, 4, 5}, H5T_IEEE_F32LE, 0,
         {0}, 0, 0, 0, 0, 0, 1, 1, 0},
        {"f32be-chunked-gzip-fixed-ids.h5", 4, {3, 2, 6, 4}, H5T_IEEE_F32BE,
         1, {1, 2, 4, 4}, 1, 1, 0, 0, 0, 1, 2, 0},
        {"f64-contiguous-no-ids-latest.h5", 4, {2, 2, 3, 3}, H5T_IEEE_F64LE,
         0, {0}, 0, 0, 0, 0, 0, 1, 0, 1},
        {"f64be-compact.h5", 4, {1, 2, 2, 3}, H5T_IEEE_F64BE, 2, {0}, 0, 0, 0,
         0, 0, 1, 1, 0},
        {"f16-chunked-shuffle-gzip.h5", 4, {2, 3, 8, 8}, f16, 1, {1, 3, 3, 8},
         1, 1, 0, 0, 0, 1, 1, 1},
        {"f16be-contiguous.h5", 4, {1, 2, 3, 4}, f16be, 0, {0}, 0, 0, 0, 0, 0,
         1, 1, 0},
        {"f32-fletcher32.h5", 4, {2, 2, 4, 4}, H5T_IEEE_F32LE, 1,
         {1, 1, 4, 4}, 0, 0, 1, 0, 0, 1, 1, 0},
        {"f32-scaleoffset.h5", 4, {1, 2, 4, 4}, H5T_IEEE_F32LE, 1,
         {1, 2, 2, 2}, 0, 0, 0, 0, 1, 1, 1, 0},
        {"f32-nbit.h5", 4, {1, 2, 4, 4}, H5T_IEEE_F32LE, 1, {1, 2, 4, 4}, 0,
         0, 0, 1, 0, 1, 1, 0},
        {"f32-odd-chunks.h5", 4, {3, 3, 7, 5}, H5T_IEEE_F32LE, 1,
         {2, 2, 3, 2}, 1, 0, 0, 0, 0, 1, 1, 1},
        {"f32-unallocated-huge.h5", 4, {1u << 20, 19, 1024, 2048},
         H5T_IEEE_F32LE, 1, {1, 19, 64, 128}, 1, 1, 0, 0, 0, 0, 0, 1},
        {"f32-unallocated-contiguous.h5", 4, {4, 3, 100, 100},
         H5T_IEEE_F32LE, 0, {0}, 0, 0, 0, 0, 0, 0, 1, 0},
        {"f32-max-classes.h5", 4, {1, 65537, 1, 1}, H5T_IEEE_F32LE, 1,
         {1, 1024, 1, 1}, 0, 0, 0, 0, 0, 0, 0, 0},
        {"ids-int.h5", 4, {2, 2, 2, 2}, H5T_IEEE_F32LE, 0, {0}, 0, 0, 0, 0, 0,
         1, 3, 0},
        {"ids-wrong-length.h5", 4, {2, 2, 2, 2}, H5T_IEEE_F32LE, 0, {0}, 0, 0,
         0, 0, 0, 1, 4, 0},
        {"ids-empty-string.h5", 4, {2, 2, 2, 2}, H5T_IEEE_F32LE, 0, {0}, 0, 0,
         0, 0, 0, 1, 5, 0},
        {"ids-2d.h5", 4, {2, 2, 2, 2}, H5T_IEEE_F32LE, 0, {0}, 0, 0, 0, 0, 0,
         1, 6, 0},
        {"ids-slash-dup.h5", 4, {3, 2, 2, 2}, H5T_IEEE_F32LE, 0, {0}, 0, 0, 0,
         0, 0, 1, 7, 0},
        {"ids-duplicate.h5", 4, {3, 2, 2, 2}, H5T_IEEE_F32LE, 0, {0}, 0, 0, 0,
         0, 0, 1, 8, 1},
        {"refused-rank3.h5", 3, {2, 3, 4}, H5T_IEEE_F32LE, 0, {0}, 0, 0, 0, 0,
         0, 1, 1, 0},
        {"refused-int.h5", 4, {1, 2, 2, 2}, H5T_STD_I32LE, 0, {0}, 0, 0, 0, 0,
         0, 1, 1, 0},
        {"refused-bfloat16.h5", 4, {1, 2, 2, 2}, bf16, 0, {0}, 0, 0, 0, 0, 0,
         0, 1, 0},
        {"refused-float24.h5", 4, {1, 2, 2, 2}, f24, 0, {0}, 0, 0, 0, 0, 0, 0,
         1, 0},
        {"refused-zero-dim.h5", 4, {2, 0, 2, 2}, H5T_IEEE_F32LE, 0, {0}, 0, 0,
         0, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        h5_file(&specs[i]);

    /* Links and objects in the dataset's place. */
    hid_t f = create_file("group-not-dataset.h5", 0);
    H5Gclose(H5Gcreate2(f, "/pred_probs", H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT));
    H5Fclose(f);
    f = create_file("soft-link.h5", 1);
    {
        hsize_t d[4] = {1, 2, 2, 2};
        hid_t sp = H5Screate_simple(4, d, NULL);
        hid_t g = H5Gcreate2(f, "/grp", H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT);
        hid_t ds = H5Dcreate2(g, "probs", H5T_IEEE_F32LE, sp, H5P_DEFAULT,
                              H5P_DEFAULT, H5P_DEFAULT);
        float v[8] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
        H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        H5Dclose(ds);
        H5Gclose(g);
        H5Sclose(sp);
        H5Lcreate_soft("/grp/probs", f, "/pred_probs", H5P_DEFAULT,
                       H5P_DEFAULT);
        H5Lcreate_soft("/nowhere", f, "/image_ids", H5P_DEFAULT, H5P_DEFAULT);
    }
    H5Fclose(f);
    f = create_file("external-link.h5", 0);
    H5Lcreate_external("does-not-exist.h5", "/pred_probs", f, "/pred_probs",
                       H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    f = create_file("named-datatype.h5", 0);
    {
        hid_t t = H5Tcopy(H5T_IEEE_F32LE);
        H5Tcommit2(f, "/pred_probs", t, H5P_DEFAULT, H5P_DEFAULT,
                   H5P_DEFAULT);
        H5Tclose(t);
    }
    H5Fclose(f);
    /* Raw data in an external file that is not there. */
    f = create_file("external-storage.h5", 0);
    {
        hsize_t d[4] = {1, 2, 2, 2};
        hid_t sp = H5Screate_simple(4, d, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_external(dcpl, "missing-raw.bin", 0, 32);
        hid_t ds = H5Dcreate2(f, "/pred_probs", H5T_IEEE_F32LE, sp,
                              H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Dclose(ds);
        H5Pclose(dcpl);
        H5Sclose(sp);
    }
    H5Fclose(f);
    /* A virtual dataset whose source file is not there. */
    f = create_file("virtual.h5", 1);
    {
        hsize_t d[4] = {1, 2, 2, 2};
        hid_t sp = H5Screate_simple(4, d, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_virtual(dcpl, sp, "missing-source.h5", "/pred_probs", sp);
        hid_t ds = H5Dcreate2(f, "/pred_probs", H5T_IEEE_F32LE, sp,
                              H5P_DEFAULT, dcpl, H5P_DEFAULT);
        H5Dclose(ds);
        H5Pclose(dcpl);
        H5Sclose(sp);
    }
    H5Fclose(f);
    /* Ids of a compound type. */
    f = create_file("ids-compound.h5", 0);
    {
        hsize_t d[4] = {2, 2, 1, 1}, n = 2;
        hid_t sp = H5Screate_simple(4, d, NULL);
        hid_t ds = H5Dcreate2(f, "/pred_probs", H5T_IEEE_F32LE, sp,
                              H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dclose(ds);
        H5Sclose(sp);
        hid_t t = H5Tcreate(H5T_COMPOUND, 8);
        H5Tinsert(t, "a", 0, H5T_STD_I32LE);
        H5Tinsert(t, "b", 4, H5T_IEEE_F32LE);
        sp = H5Screate_simple(1, &n, NULL);
        ds = H5Dcreate2(f, "/image_ids", t, sp, H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT);
        H5Dclose(ds);
        H5Sclose(sp);
        H5Tclose(t);
    }
    H5Fclose(f);
    { /* an empty file */
        FILE *e = fopen(path_of("empty.h5"), "wb");
        if (!e || fclose(e) != 0)
            die("empty.h5");
    }
    /* Attributes and a nested group, to give the parser more to chew on. */
    f = create_file("attributes.h5", 1);
    {
        hsize_t d[4] = {1, 2, 2, 2};
        hid_t sp = H5Screate_simple(4, d, NULL);
        hid_t ds = H5Dcreate2(f, "/pred_probs", H5T_IEEE_F32LE, sp,
                              H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        hid_t as = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(ds, "temperature", H5T_IEEE_F64LE, as,
                             H5P_DEFAULT, H5P_DEFAULT);
        double t = 0.1;
        H5Awrite(a, H5T_NATIVE_DOUBLE, &t);
        H5Aclose(a);
        H5Sclose(as);
        H5Dclose(ds);
        H5Sclose(sp);
        hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
        H5Pset_create_intermediate_group(lcpl, 1);
        H5Gclose(H5Gcreate2(f, "/a/b/c", lcpl, H5P_DEFAULT, H5P_DEFAULT));
        H5Pclose(lcpl);
    }
    H5Fclose(f);
    H5Tclose(f16);
    H5Tclose(f16be);
    H5Tclose(bf16);
    H5Tclose(f24);
}

/* ---- NPY ------------------------------------------------------------------ */

/* A .npy file: version major.0, the dictionary dict (padded with spaces and
 * a newline to a multiple of pad bytes when pad > 0), then data_len bytes of
 * a counting pattern. */
static void npy_seed(const char *name, int major, const char *dict, int pad,
                     size_t data_len)
{
    Buf b = {0};
    const size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hlen = dl;
    if (pad > 0)
        hlen = (pre + dl + 1 + (size_t)pad - 1) / (size_t)pad * (size_t)pad -
               pre;
    unsigned char head[12] = {0x93, 'N', 'U', 'M', 'P', 'Y',
                              (unsigned char)major, 0,
                              (unsigned char)(hlen & 255),
                              (unsigned char)(hlen >> 8 & 255),
                              (unsigned char)(hlen >> 16 & 255),
                              (unsigned char)(hlen >> 24 & 255)};
    buf_put(&b, head, pre);
    buf_put(&b, dict, dl);
    for (size_t i = dl; i < hlen; i++)
        buf_put(&b, i + 1 == hlen ? "\n" : " ", 1);
    for (size_t i = 0; i < data_len; i++) {
        unsigned char c = (unsigned char)(i * 7 + 1);
        buf_put(&b, &c, 1);
    }
    save(name, &b);
    free(b.d);
}

#define NPY_DICT(descr, fortran, shape)                                      \
    "{'descr': '" descr "', 'fortran_order': " fortran ", 'shape': " shape  \
    ", }"

static void npy_seeds(void)
{
    /* accepted */
    npy_seed("ok-v1-f32-nkhw.npy", 1, NPY_DICT("<f4", "False", "(1, 2, 3, 4)"),
             64, 96);
    npy_seed("ok-v1-f16-nhwk.npy", 1, NPY_DICT("<f2", "False", "(1, 3, 4, 2)"),
             64, 48);
    npy_seed("ok-v1-f64-be.npy", 1, NPY_DICT(">f8", "False", "(2, 3)"), 64,
             48);
    npy_seed("ok-v1-u8-labels.npy", 1, NPY_DICT("|u1", "False", "(2, 4, 4)"),
             64, 32);
    npy_seed("ok-v1-i64-labels.npy", 1, NPY_DICT("<i8", "False", "(1, 2, 2)"),
             64, 32);
    npy_seed("ok-v1-u16-be.npy", 1, NPY_DICT(">u2", "False", "(3, 3)"), 64,
             18);
    npy_seed("ok-v1-bool.npy", 1, NPY_DICT("|b1", "False", "(5,)"), 64, 5);
    npy_seed("ok-v1-scalar.npy", 1, NPY_DICT("<f4", "False", "()"), 64, 4);
    npy_seed("ok-v1-empty.npy", 1, NPY_DICT("<f4", "False", "(0, 3)"), 64, 0);
    npy_seed("ok-v1-native.npy", 1, NPY_DICT("=i2", "False", "(2,)"), 64, 4);
    npy_seed("ok-v1-eight-dims.npy", 1,
             NPY_DICT("|i1", "False", "(1, 2, 1, 2, 1, 2, 1, 2)"), 64, 16);
    npy_seed("ok-v2-i4.npy", 2, NPY_DICT("<i4", "False", "(2, 3)"), 64, 24);
    npy_seed("ok-v3-u4.npy", 3, NPY_DICT("<u4", "False", "(3,)"), 64, 12);
    npy_seed("ok-v1-reordered-dquotes.npy", 1,
             "{\"shape\": (2, 2), \"descr\": \"<f4\", "
             "\"fortran_order\": False}", 64, 16);
    npy_seed("ok-v1-py2-long.npy", 1, NPY_DICT("<f8", "False", "(2L, 1L)"),
             16, 16);
    npy_seed("ok-v1-no-padding.npy", 1,
             "{'descr':'<f4','fortran_order':False,'shape':(3,)}", 0, 12);
    npy_seed("ok-v1-data-after.npy", 1, NPY_DICT("|u1", "False", "(4,)"), 64,
             100);
    /* refused */
    npy_seed("bad-fortran.npy", 1, NPY_DICT("<f4", "True", "(2, 3)"), 64, 24);
    npy_seed("bad-structured.npy", 1,
             "{'descr': [('x', '<f4'), ('y', '<i2')], 'fortran_order': "
             "False, 'shape': (2,), }", 64, 12);
    npy_seed("bad-object.npy", 1, NPY_DICT("|O", "False", "(2,)"), 64, 16);
    npy_seed("bad-unicode.npy", 1, NPY_DICT("<U3", "False", "(2,)"), 64, 24);
    npy_seed("bad-complex.npy", 1, NPY_DICT("<c8", "False", "(2,)"), 64, 16);
    npy_seed("bad-datetime.npy", 1, NPY_DICT("<M8[ns]", "False", "(2,)"), 64,
             16);
    npy_seed("bad-long-double.npy", 1, NPY_DICT("<f16", "False", "(2,)"), 64,
             32);
    npy_seed("bad-negative-dim.npy", 1, NPY_DICT("<f4", "False", "(-1, 3)"),
             64, 0);
    npy_seed("bad-float-dim.npy", 1, NPY_DICT("<f4", "False", "(2.0, 3)"),
             64, 24);
    npy_seed("bad-not-a-tuple.npy", 1, NPY_DICT("<f4", "False", "(5)"), 64,
             20);
    npy_seed("bad-nine-dims.npy", 1,
             NPY_DICT("|u1", "False", "(1, 1, 1, 1, 1, 1, 1, 1, 1)"), 64, 1);
    npy_seed("bad-overflow.npy", 1,
             NPY_DICT("<f8", "False", "(4294967296, 4294967296)"), 64, 0);
    npy_seed("bad-missing-key.npy", 1,
             "{'descr': '<f4', 'shape': (2,), }", 64, 8);
    npy_seed("bad-duplicate-key.npy", 1,
             "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
             "'shape': (2,), }", 64, 8);
    npy_seed("bad-unknown-key.npy", 1,
             "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), "
             "'align': True, }", 64, 8);
    npy_seed("bad-trailing-garbage.npy", 1,
             NPY_DICT("<f4", "False", "(2,)") " 123", 64, 8);
    npy_seed("bad-non-ascii-v1.npy", 1,
             "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), "
             "'\xc3\xa9': 1}", 64, 8);
    npy_seed("bad-truncated-data.npy", 1, NPY_DICT("<f4", "False", "(4, 4)"),
             64, 50);
    npy_seed("bad-version-4.npy", 4, NPY_DICT("<f4", "False", "(2,)"), 64, 8);
    /* a header cut short: only its first 40 bytes */
    {
        Buf b = {0};
        npy_seed("bad-truncated-header.npy", 1,
                 NPY_DICT("<f4", "False", "(2,)"), 64, 8);
        FILE *f = fopen(path_of("bad-truncated-header.npy"), "rb");
        unsigned char tmp[40];
        if (!f || fread(tmp, 1, sizeof tmp, f) != sizeof tmp)
            die("re-reading bad-truncated-header.npy");
        fclose(f);
        buf_put(&b, tmp, sizeof tmp);
        save("bad-truncated-header.npy", &b);
        free(b.d);
    }
    /* a v2 length field of 2^31: far over the 1 MiB limit */
    {
        static const unsigned char huge[12] = {0x93, 'N', 'U', 'M', 'P', 'Y',
                                               2, 0, 0, 0, 0, 0x80};
        Buf b = {0};
        buf_put(&b, huge, sizeof huge);
        buf_put(&b, "{'descr': '<f4'", 15);
        save("bad-header-over-1mib.npy", &b);
        free(b.d);
    }
    {
        Buf b = {0};
        buf_put(&b, "\x89PNG\r\n\x1a\n", 8);
        save("bad-magic.npy", &b);
        free(b.d);
    }
    FILE *f = fopen(path_of("bad-empty.npy"), "wb");
    if (!f || fclose(f) != 0)
        die(path_of("bad-empty.npy"));
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "png") && strcmp(argv[1], "h5") &&
                      strcmp(argv[1], "npy"))) {
        fprintf(stderr, "usage: mkseeds png|h5|npy DIR\n");
        return 2;
    }
    g_dir = argv[2];
    if (!strcmp(argv[1], "png"))
        png_seeds();
    else if (!strcmp(argv[1], "npy"))
        npy_seeds();
    else
        h5_seeds();
    return 0;
}
