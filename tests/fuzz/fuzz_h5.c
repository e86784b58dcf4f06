/* fuzz_h5: the HDF5 prediction reader (src/h5_probs.c).
 *
 * The input is a whole HDF5 file.  It is written to a new temporary file
 * (a fresh name per input: HDF5 recognises an already open file by device
 * and inode, so rewriting one name in place could hand it stale metadata if
 * an earlier input left the file open) and read as the engine reads it:
 *   sa_probs_open(path, "/pred_probs"), the accessors, sa_probs_read_ids
 *   (default "/image_ids"), sa_probs_plan_band_rows, then sa_probs_read_band
 *   over every image in bands, plus the out-of-range calls that must fail.
 * Work is capped: when N*K*H*W elements exceed FZ_MAX_READ bytes only the
 * first band of the first image and the last band of the last image are
 * read; ids are read only for N <= FZ_MAX_IDS.
 *
 * Checks: the contract of src/h5_probs.h (codes, messages, dtype/elsize,
 * non-empty ids), no crash or leak, and no HDF5 object left open after
 * sa_probs_close (H5Fget_obj_count), no file descriptor left open. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "fuzz_common.h"
#include "h5_probs.h"

#define FZ_MAX_READ ((uint64_t)16 << 20) /* bytes of tensor read per input */
#define FZ_BAND_BYTES ((uint64_t)64 << 10)
#define FZ_MAX_IDS ((uint64_t)1 << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *DATASET = "/pred_probs";

static void check_error(const SaErr *err, int rc, const char *path,
                        const char *call)
{
    FZ_CHECK(rc < 0, "%s returned %d", call, rc);
    FZ_CHECK(err->code == rc, "%s: err.code %d != rc %d", call, err->code,
             rc);
    FZ_CHECK(memchr(err->msg, '\0', sizeof err->msg) != NULL,
             "%s: message not terminated", call);
    FZ_CHECK(strncmp(err->msg, path, strlen(path)) == 0 &&
                 err->msg[strlen(path)] == ':',
             "%s: message does not start with the path: '%s'", call,
             err->msg);
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    return (a != 0 && b > UINT64_MAX / a) ? UINT64_MAX : a * b;
}

/* Reads one band and checks the call's contract.  Returns rc. */
static int read_band(SaProbs *p, const char *path, uint64_t n, uint64_t r0,
                     uint64_t nrows, void *buf)
{
    SaErr err;
    sa_err_clear(&err);
    int rc = sa_probs_read_band(p, n, r0, nrows, buf, &err);
    if (rc != 0)
        check_error(&err, rc, path, "sa_probs_read_band");
    return rc;
}

static void exercise(SaProbs *p, const char *path)
{
    uint64_t d[4];
    sa_probs_dims(p, d);
    const uint64_t N = d[0], K = d[1], H = d[2], W = d[3];
    FZ_CHECK(N && K && H && W, "zero dimension (%" PRIu64 ",%" PRIu64
             ",%" PRIu64 ",%" PRIu64 ")", N, K, H, W);
    const size_t el = sa_probs_elsize(p);
    const SaDtype dt = sa_probs_dtype(p);
    FZ_CHECK((dt == SA_F16 && el == 2) || (dt == SA_F32 && el == 4) ||
                 (dt == SA_F64 && el == 8),
             "dtype %d with element size %zu", (int)dt, el);
    const char *name = sa_probs_dtype_name(p), *layout = sa_probs_layout(p);
    FZ_CHECK(name && *name && layout && *layout, "empty dtype or layout");
    (void)sa_probs_chunk_rows(p);

    SaErr err;
    if (N <= FZ_MAX_IDS) {
        char **ids = (char **)(uintptr_t)1;
        int found = -1;
        sa_err_clear(&err);
        int rc = sa_probs_read_ids(p, NULL, &ids, &found, &err);
        if (rc == 0) {
            FZ_CHECK(found == 0 || found == 1, "found = %d", found);
            FZ_CHECK(found ? ids != NULL : ids == NULL,
                     "found %d with ids %p", found, (void *)ids);
            for (uint64_t i = 0; found && i < N; i++)
                FZ_CHECK(ids[i] && ids[i][0], "id %" PRIu64 " empty", i);
            sa_free_ids(ids, found ? N : 0);
        } else {
            FZ_CHECK(ids == NULL, "failed read_ids left ids set");
            check_error(&err, rc, path, "sa_probs_read_ids");
        }
    }

    /* Bands as the engine sizes them (here 64 KB per band). */
    const uint64_t row_bytes = mul_sat(mul_sat(K, W), el);
    uint64_t rows = FZ_BAND_BYTES / row_bytes;
    if (rows < 1)
        rows = 1;
    if (rows > H)
        rows = H;
    sa_err_clear(&err);
    int rc = sa_probs_plan_band_rows(p, rows, &err);
    if (rc != 0)
        check_error(&err, rc, path, "sa_probs_plan_band_rows");

    const uint64_t band_bytes = mul_sat(row_bytes, rows);
    if (band_bytes > FZ_MAX_READ)
        return; /* a single band is larger than the cap */
    void *buf = malloc((size_t)band_bytes);
    if (!buf)
        fz_die("malloc");

    /* The calls that must fail, and the empty read. */
    FZ_CHECK(read_band(p, path, N, 0, 1, buf) == SEGAUDIT_EINPUT,
             "image N accepted");
    FZ_CHECK(read_band(p, path, 0, H, 1, buf) == SEGAUDIT_EINPUT,
             "row H accepted");
    FZ_CHECK(read_band(p, path, 0, 1, UINT64_MAX, buf) == SEGAUDIT_EINPUT,
             "row count overflow accepted");
    FZ_CHECK(read_band(p, path, 0, 0, 1, NULL) == SEGAUDIT_EINPUT,
             "NULL buffer accepted");
    FZ_CHECK(read_band(p, path, 0, H, 0, buf) == 0, "empty read failed");

    const uint64_t total = mul_sat(mul_sat(N, H), row_bytes);
    if (total <= FZ_MAX_READ) {
        for (uint64_t n = 0; n < N; n++)
            for (uint64_t r0 = 0; r0 < H; r0 += rows) {
                uint64_t nr = H - r0 < rows ? H - r0 : rows;
                if (read_band(p, path, n, r0, nr, buf) != 0)
                    goto done; /* the engine stops at the first error */
            }
    } else {
        if (read_band(p, path, 0, 0, rows, buf) == 0)
            read_band(p, path, N - 1, H - rows, rows, buf);
    }
done:
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long counter;
    unsigned char fds[FZ_MAX_FD];
    char path[FZ_PATH];
    fz_fd_snapshot(fds);
    snprintf(path, sizeof path, "%s/probs-%lu.h5", fz_tmpdir(), counter++);
    fz_write_file(path, data, size);

    SaProbs *p = (SaProbs *)(uintptr_t)1; /* must be reset to NULL */
    SaErr err;
    sa_err_clear(&err);
    int rc = sa_probs_open(&p, path, DATASET, &err);
    if (rc == 0) {
        FZ_CHECK(p != NULL && err.code == 0, "open succeeded without an "
                 "object or with an error set");
        exercise(p, path);
        sa_probs_close(p);
    } else {
        FZ_CHECK(p == NULL, "failed open left *out set");
        check_error(&err, rc, path, "sa_probs_open");
    }

    ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    FZ_CHECK(open_ids == 0, "%zd HDF5 objects left open after "
             "sa_probs_close (open returned %d)", open_ids, rc);
    unlink(path);
    char target[FZ_PATH];
    int fd = fz_new_fd(fds, target, sizeof target);
    FZ_CHECK(fd < 0, "file descriptor %d (%s) was left open", fd, target);
    return 0;
}
