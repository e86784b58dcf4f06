/* fuzz_npy: the .npy header parser and file checks (src/io/npy.c).
 *
 * The input is a whole .npy file (header and data).  It is
 *   1. parsed in memory with sa_npy_parse, then again from copies of
 *      prefixes of exactly their length (so that ASan sees any read past
 *      len): a prefix that holds the whole header must give the same
 *      result, a shorter one a "truncated header" error;
 *   2. written to a temporary file and read with sa_npy_read_header, with
 *      the file's real size (must agree with 1.: the same header, or the
 *      same error, or "truncated data" exactly when the file is shorter
 *      than data_offset + data_bytes), then with a size that is too large
 *      and one that is too small (must fail or succeed cleanly).
 * The checks are the contract of src/io/npy.h: return codes, messages
 * that start with "<path>: ", headers within their ranges (types, sizes,
 * dimensions, no overflow), no crash, leak or descriptor left open. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const SaErr *err, int rc, const char *path,
                        const char *call)
{
    FZ_CHECK(rc < 0, "%s returned %d", call, rc);
    fz_check_failure(err, rc, path, call);
    FZ_CHECK(err->msg[strlen(path) + 1] == ' ',
             "%s: no space after the path: '%s'", call, err->msg);
}

/* A header sa_npy_parse or sa_npy_read_header accepted. */
static void check_header(const SaNpyHeader *h, size_t avail)
{
    FZ_CHECK(h->version >= 1 && h->version <= 3, "version %d", h->version);
    FZ_CHECK(h->fortran_order == 0, "fortran_order %d", h->fortran_order);
    FZ_CHECK(h->big_endian == 0 || h->big_endian == 1, "big_endian %d",
             h->big_endian);
    unsigned s = h->itemsize;
    switch (h->kind) {
    case 'f': FZ_CHECK(s == 2 || s == 4 || s == 8, "float size %u", s); break;
    case 'i':
    case 'u':
        FZ_CHECK(s == 1 || s == 2 || s == 4 || s == 8, "int size %u", s);
        break;
    case 'b': FZ_CHECK(s == 1, "bool size %u", s); break;
    default: FZ_CHECK(0, "kind %d", h->kind);
    }
    FZ_CHECK(s > 1 || h->big_endian == 0, "big-endian 1-byte type");
    FZ_CHECK(strcmp(sa_npy_type_name(h), "unknown") != 0, "no type name");
    FZ_CHECK(h->ndim >= 0 && h->ndim <= SA_NPY_MAX_DIMS, "ndim %d", h->ndim);
    for (int d = h->ndim; d < SA_NPY_MAX_DIMS; d++)
        FZ_CHECK(h->shape[d] == 0, "shape[%d] = %llu past ndim %d", d,
                 (unsigned long long)h->shape[d], h->ndim);
    /* data_bytes is the product (of the non-zero dimensions, which must
     * not overflow either), recomputed here. */
    uint64_t p = s;
    int zero = 0;
    for (int d = 0; d < h->ndim; d++) {
        const uint64_t x = h->shape[d];
        if (x == 0) {
            zero = 1;
            continue;
        }
        FZ_CHECK(p <= (uint64_t)INT64_MAX / x, "size overflow passed");
        p *= x;
    }
    FZ_CHECK(h->data_bytes == (zero ? 0 : p),
             "data_bytes %llu, expected %llu",
             (unsigned long long)h->data_bytes,
             (unsigned long long)(zero ? 0 : p));
    FZ_CHECK(h->data_offset >= 10 && h->data_offset <= avail,
             "data_offset %llu with %zu bytes",
             (unsigned long long)h->data_offset, avail);
    FZ_CHECK(h->data_bytes <= (uint64_t)INT64_MAX - h->data_offset,
             "end past 2^63-1");
    char sh[512];
    sa_npy_shape_str(h, sh, sizeof sh);
    FZ_CHECK(sh[0] == '(' && strchr(sh, ')') != NULL, "shape '%s'", sh);
}

/* sa_npy_parse on an exact-size copy of data[0..len). */
static int parse_copy(const uint8_t *data, size_t len, const char *path,
                      SaNpyHeader *h, SaErr *err)
{
    unsigned char *c = malloc(len ? len : 1);
    if (!c)
        fz_die("malloc");
    if (len)
        memcpy(c, data, len);
    sa_err_clear(err);
    int rc = sa_npy_parse(c, len, path, h, err);
    free(c);
    return rc;
}

static int is_truncated_msg(const SaErr *err)
{
    return strstr(err->msg, "truncated header") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FZ_PATH];
    unsigned char fds[FZ_MAX_FD];
    if (!path[0])
        snprintf(path, sizeof path, "%s/input.npy", fz_tmpdir());
    fz_fd_snapshot(fds);

    /* 1. In memory. */
    SaNpyHeader h, h2;
    SaErr err, err2;
    sa_err_clear(&err);
    int rc = sa_npy_parse(data, size, path, &h, &err);
    if (rc == 0) {
        FZ_CHECK(err.code == 0, "success with an error set: %s", err.msg);
        check_header(&h, size);
        /* Exactly the header: the same result. */
        int rc2 = parse_copy(data, (size_t)h.data_offset, path, &h2, &err2);
        FZ_CHECK(rc2 == 0 && memcmp(&h, &h2, sizeof h) == 0,
                 "the header alone parses differently (%d: %s)", rc2,
                 err2.msg);
        /* One byte less: truncated. */
        rc2 = parse_copy(data, (size_t)h.data_offset - 1, path, &h2, &err2);
        FZ_CHECK(rc2 == SEGAUDIT_EINPUT && is_truncated_msg(&err2),
                 "a header cut by one byte gave %d: %s", rc2, err2.msg);
    } else {
        FZ_CHECK(rc == SEGAUDIT_EINPUT, "sa_npy_parse returned %d", rc);
        check_error(&err, rc, path, "sa_npy_parse");
    }
    /* A prefix chosen by the input. */
    if (size > 0) {
        size_t cut = (size_t)data[size - 1] * 7 % (size + 1);
        int rc2 = parse_copy(data, cut, path, &h2, &err2);
        if (rc2 == 0) {
            check_header(&h2, cut);
            FZ_CHECK(rc == 0 && memcmp(&h, &h2, sizeof h) == 0,
                     "a prefix of %zu bytes parses differently", cut);
        } else {
            FZ_CHECK(rc2 == SEGAUDIT_EINPUT, "prefix: returned %d", rc2);
            check_error(&err2, rc2, path, "sa_npy_parse (prefix)");
            if (rc == 0)
                FZ_CHECK(cut < h.data_offset && is_truncated_msg(&err2),
                         "a prefix of %zu bytes holding the header failed: "
                         "%s", cut, err2.msg);
        }
    }

    /* 2. From a file. */
    fz_write_file(path, data, size);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fz_die(path);
    struct stat st;
    if (fstat(fd, &st) != 0)
        fz_die("fstat");
    const uint64_t fsize = (uint64_t)st.st_size;
    FZ_CHECK(fsize == size, "the file has %llu bytes, not %zu",
             (unsigned long long)fsize, size);
    sa_err_clear(&err2);
    int rf = sa_npy_read_header(fd, path, fsize, &h2, &err2);
    if (rc == 0) {
        const uint64_t end = h.data_offset + h.data_bytes;
        if (end <= fsize) {
            FZ_CHECK(rf == 0, "sa_npy_read_header failed where sa_npy_parse "
                     "succeeded: %s", err2.msg);
            FZ_CHECK(memcmp(&h, &h2, sizeof h) == 0,
                     "sa_npy_read_header read another header");
        } else {
            FZ_CHECK(rf == SEGAUDIT_EINPUT &&
                         strstr(err2.msg, "truncated data") != NULL,
                     "a file short of its data gave %d: %s", rf, err2.msg);
        }
    } else {
        FZ_CHECK(rf == rc, "sa_npy_read_header returned %d, sa_npy_parse %d",
                 rf, rc);
        check_error(&err2, rf, path, "sa_npy_read_header");
        /* The same message, but for the wording of "truncated". */
        if (!is_truncated_msg(&err) && strcmp(err.msg, err2.msg) != 0)
            FZ_CHECK(0, "messages differ: '%s' and '%s'", err.msg,
                     err2.msg);
    }
    if (rf != 0) {
        FZ_CHECK(h2.ndim == 0 && h2.data_bytes == 0,
                 "a failed read left a header");
    }

    /* A size the file does not have: larger (it shrank since fstat), and
     * smaller. */
    const uint64_t sizes[2] = {fsize + 1 + (size ? data[0] : 0), fsize / 2};
    for (int k = 0; k < 2; k++) {
        sa_err_clear(&err2);
        rf = sa_npy_read_header(fd, path, sizes[k], &h2, &err2);
        if (rf == 0) {
            check_header(&h2, (size_t)sizes[k]);
            FZ_CHECK(h2.data_offset + h2.data_bytes <= sizes[k],
                     "data past the given size accepted");
        } else {
            FZ_CHECK(rf == SEGAUDIT_EINPUT || rf == SEGAUDIT_EIO,
                     "sa_npy_read_header returned %d", rf);
            check_error(&err2, rf, path, "sa_npy_read_header (size)");
        }
    }
    if (close(fd) != 0)
        fz_die("close");

    char target[FZ_PATH];
    int left = fz_new_fd(fds, target, sizeof target);
    FZ_CHECK(left < 0, "file descriptor %d (%s) was left open", left, target);
    return 0;
}
