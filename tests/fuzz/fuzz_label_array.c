/* fuzz_label_array: the label array reader (src/io/label_array.c) on .npy
 * files.
 *
 * The input is a whole file, written to a per-process temporary file
 * named labels.npy and opened with sa_label_array_open(path, NULL).  What
 * the reader must do is worked out here from the input itself: its header
 * is parsed with sa_npy_parse (npy.c has its own target, fuzz_npy) and its
 * elements are decoded by a second, simpler decoder below.
 *
 *  - An input without the .npy magic must be refused with SEGAUDIT_EINPUT
 *    ("neither ... nor an HDF5 file").  Inputs that carry the HDF5
 *    signature anywhere are skipped: HDF5 files are fuzz_h5's, and HDF5
 *    1.10 has known bugs of its own (README.md, "Upstream").
 *  - An accepted array has the parsed shape (rank 3, no zero dimension,
 *    N and H*W below 2^32) and an integer or bool type; a .npy file opened
 *    with a dataset name is SEGAUDIT_EINVAL.
 *  - Every row of every image is read in bands of 1..7 rows (the band
 *    height comes from the last input byte), and every label is compared
 *    with the decoder's: 0..65535 as is, -32768..-1 as 65536+v, bool as
 *    0/1.  A band holding a value out of range must fail with
 *    SEGAUDIT_EINPUT naming the image, row, column and value of its first
 *    such value; the next band is read all the same.
 *  - Reads of image N, of rows past H and with an overflowing row count
 *    fail with SEGAUDIT_EINVAL; sa_label_array_bytes_read counts every band
 *    read; every message starts with the path; no descriptor stays open
 *    after sa_label_array_close. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "io/label_array.h"
#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const SaErr *err, int rc, int code, const char *path,
                        const char *call)
{
    FZ_CHECK(rc == code, "%s returned %d, expected %d (%s)", call, rc, code,
             err->msg);
    fz_check_failure(err, rc, path, call);
}

/* The HDF5 signature anywhere in the input. */
static int has_hdf5_signature(const uint8_t *d, size_t n)
{
    static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a,
                                   '\n'};
    for (size_t i = 0; i + sizeof sig <= n; i++)
        if (d[i] == sig[0] && memcmp(d + i, sig, sizeof sig) == 0)
            return 1;
    return 0;
}

/* Element p of header h: its label (1) or, when out of range, 0 with its
 * value written into text. */
static int decode(const SaNpyHeader *h, const uint8_t *p, uint16_t *label,
                  char *text, size_t tlen)
{
    const unsigned bits = 8 * h->itemsize;
    uint64_t u = 0;
    for (unsigned b = 0; b < h->itemsize; b++) {
        unsigned at = h->big_endian ? b : h->itemsize - 1 - b;
        u = (u << 8) | p[at];
    }
    if (h->kind == 'b') {
        *label = u != 0;
        return 1;
    }
    if (h->kind == 'u') {
        if (u <= 65535) {
            *label = (uint16_t)u;
            return 1;
        }
        snprintf(text, tlen, "%" PRIu64, u);
        return 0;
    }
    /* signed: the value as a (wider) signed number */
    int negative = (u >> (bits - 1)) & 1;
    if (!negative) {
        if (u <= 65535) {
            *label = (uint16_t)u;
            return 1;
        }
        snprintf(text, tlen, "%" PRIu64, u);
        return 0;
    }
    uint64_t magnitude = bits == 64 ? (~u + 1)
                                    : ((uint64_t)1 << bits) - u; /* |v| */
    if (magnitude <= 32768) {
        *label = (uint16_t)(65536 - magnitude);
        return 1;
    }
    snprintf(text, tlen, "-%" PRIu64, magnitude);
    return 0;
}

static void read_all(SaLabelArray *a, const SaNpyHeader *h,
                     const char *path, const uint8_t *data, size_t size)
{
    uint64_t dims[3];
    sa_label_array_dims(a, dims);
    const uint64_t N = dims[0], H = dims[1], W = dims[2];
    const uint64_t band = 1 + (size ? data[size - 1] % 7 : 0);
    uint16_t *buf = malloc((size_t)(band * W) * sizeof *buf);
    if (!buf)
        fz_die("malloc");
    uint64_t bytes = 0;
    SaErr err;

    for (uint64_t n = 0; n < N; n++) {
        for (uint64_t r0 = 0; r0 < H; r0 += band) {
            const uint64_t nr = H - r0 < band ? H - r0 : band;
            const uint8_t *src =
                data + h->data_offset + ((n * H + r0) * W) * h->itemsize;
            /* the first value out of range in the band, if any */
            uint64_t bad = UINT64_MAX;
            char value[32] = "";
            uint16_t lab;
            for (uint64_t i = 0; i < nr * W && bad == UINT64_MAX; i++)
                if (!decode(h, src + i * h->itemsize, &lab, value,
                            sizeof value))
                    bad = i;
            memset(buf, 0xA5, (size_t)(nr * W) * sizeof *buf);
            sa_err_clear(&err);
            int rc = sa_label_array_read(a, n, r0, nr, buf, &err);
            bytes += nr * W * h->itemsize;
            if (bad != UINT64_MAX) {
                check_error(&err, rc, SEGAUDIT_EINPUT, path,
                            "sa_label_array_read (a value out of range)");
                char where[160];
                snprintf(where, sizeof where, "image %" PRIu64 ", row %"
                         PRIu64 ", column %" PRIu64 ": label %s ", n,
                         r0 + bad / W, bad % W, value);
                FZ_CHECK(strstr(err.msg, where) != NULL,
                         "message '%s' does not name '%s'", err.msg, where);
                continue;
            }
            FZ_CHECK(rc == 0, "reading image %" PRIu64 " rows %" PRIu64
                     "+%" PRIu64 " failed: %s", n, r0, nr, err.msg);
            for (uint64_t i = 0; i < nr * W; i++) {
                decode(h, src + i * h->itemsize, &lab, value, sizeof value);
                FZ_CHECK(buf[i] == lab, "image %" PRIu64 " row %" PRIu64
                         " column %" PRIu64 ": read %u, stored %u", n,
                         r0 + i / W, i % W, buf[i], lab);
            }
        }
    }
    FZ_CHECK(sa_label_array_bytes_read(a) == bytes,
             "bytes_read %" PRIu64 ", expected %" PRIu64,
             sa_label_array_bytes_read(a), bytes);

    /* reads that must fail, and the one that reads nothing */
    sa_err_clear(&err);
    int rc = sa_label_array_read(a, N, 0, 1, buf, &err);
    check_error(&err, rc, SEGAUDIT_EINVAL, path, "read of image N");
    sa_err_clear(&err);
    rc = sa_label_array_read(a, N - 1, H, 1, buf, &err);
    check_error(&err, rc, SEGAUDIT_EINVAL, path, "read of row H");
    sa_err_clear(&err);
    rc = sa_label_array_read(a, 0, 1, UINT64_MAX, buf, &err);
    check_error(&err, rc, SEGAUDIT_EINVAL, path, "overflowing row count");
    sa_err_clear(&err);
    FZ_CHECK(sa_label_array_read(a, 0, H, 0, buf, &err) == 0,
             "reading 0 rows failed: %s", err.msg);
    FZ_CHECK(sa_label_array_bytes_read(a) == bytes,
             "bytes_read changed by reads that must fail");
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FZ_PATH];
    unsigned char fds[FZ_MAX_FD];
    static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    const int npy = size >= sizeof magic &&
                    memcmp(data, magic, sizeof magic) == 0;

    if (!npy && has_hdf5_signature(data, size))
        return 0;
    if (!path[0])
        snprintf(path, sizeof path, "%s/labels.npy", fz_tmpdir());
    fz_fd_snapshot(fds);
    fz_write_file(path, data, size);

    SaNpyHeader h;
    SaErr perr;
    sa_err_clear(&perr);
    const int parsed = npy && sa_npy_parse(data, size, path, &h, &perr) == 0;

    SaLabelArray *a = (SaLabelArray *)(uintptr_t)1; /* must become NULL */
    SaErr err;
    sa_err_clear(&err);
    int rc = sa_label_array_open(&a, path, NULL, &err);
    if (rc != 0) {
        FZ_CHECK(a == NULL, "failed open left *out set");
        FZ_CHECK(rc == SEGAUDIT_EINPUT || rc == SEGAUDIT_ENOMEM,
                 "open returned %d: %s", rc, err.msg);
        check_error(&err, rc, rc, path, "sa_label_array_open");
        if (!npy)
            FZ_CHECK(strstr(err.msg, "neither") != NULL,
                     "a file that is not .npy: '%s'", err.msg);
    } else {
        FZ_CHECK(npy && parsed, "opened a file the parser refuses: %s",
                 perr.msg);
        FZ_CHECK(a != NULL && err.code == 0, "open succeeded oddly");
        uint64_t d[3];
        sa_label_array_dims(a, d);
        FZ_CHECK(h.ndim == 3 && d[0] == h.shape[0] && d[1] == h.shape[1] &&
                     d[2] == h.shape[2],
                 "shape (%" PRIu64 ",%" PRIu64 ",%" PRIu64 ") for a %d-D "
                 "header", d[0], d[1], d[2], h.ndim);
        FZ_CHECK(d[0] && d[1] && d[2] && d[0] <= UINT32_MAX &&
                     d[1] <= UINT32_MAX / d[2],
                 "accepted shape (%" PRIu64 ",%" PRIu64 ",%" PRIu64 ")",
                 d[0], d[1], d[2]);
        FZ_CHECK(h.kind == 'u' || h.kind == 'i' || h.kind == 'b',
                 "accepted type %s", sa_npy_type_name(&h));
        FZ_CHECK(sa_label_array_signed(a) == (h.kind == 'i'),
                 "signed %d for %s", sa_label_array_signed(a),
                 sa_npy_type_name(&h));
        FZ_CHECK(strcmp(sa_label_array_type_name(a),
                        sa_npy_type_name(&h)) == 0,
                 "type %s for %s", sa_label_array_type_name(a),
                 sa_npy_type_name(&h));
        FZ_CHECK(h.data_offset + h.data_bytes <= size,
                 "opened a file shorter than its data");
        read_all(a, &h, path, data, size);
        sa_label_array_close(a);

        /* a dataset name is refused for a .npy file */
        a = NULL;
        sa_err_clear(&err);
        rc = sa_label_array_open(&a, path, "/labels", &err);
        check_error(&err, rc, SEGAUDIT_EINVAL, path, "open with a dataset");
        FZ_CHECK(a == NULL, "failed open left *out set");
    }

    char target[FZ_PATH];
    int fd = fz_new_fd(fds, target, sizeof target);
    FZ_CHECK(fd < 0, "file descriptor %d (%s) was left open", fd, target);
    return 0;
}
