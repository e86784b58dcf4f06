/* fuzz_h5: the HDF5 prediction reader (src/io/h5_probs.c).
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
 * Checks: the contract of src/io/h5_probs.h (codes, messages, dtype/elsize,
 * non-empty ids), no crash or leak, no HDF5 object left open after
 * sa_probs_close (H5Fget_obj_count; files HDF5 itself refuses to close,
 * finding 3 of README.md, are told apart by interposing H5Fclose), and no
 * file descriptor left open.  Leaks inside libhdf5 are upstream bugs
 * (lsan.supp). */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "fuzz_common.h"
#include "io/h5_probs.h"

#define FZ_MAX_READ ((uint64_t)16 << 20) /* bytes of tensor read per input */
#define FZ_BAND_BYTES ((uint64_t)64 << 10)
#define FZ_MAX_IDS ((uint64_t)1 << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *DATASET = "/pred_probs";

static void check_error(const SaErr *err, int rc, const char *path,
                        const char *call)
{
    FZ_CHECK(rc < 0, "%s returned %d", call, rc);
    fz_check_failure(err, rc, path, call);
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
            sa_free_strings(ids, found ? N : 0);
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

/* File identifiers that HDF5 itself cannot close any more (finding 3 of
 * README.md: after some failed opens of a corrupt file, H5Fclose fails for
 * good, and calling it again crashes).  H5Fclose is interposed to tell
 * them from files the code under test never closed. */
#define FZ_MAX_STUCK 256
static hid_t g_stuck[FZ_MAX_STUCK];
static int g_nstuck;

herr_t H5Fclose(hid_t file_id)
{
    static herr_t (*real)(hid_t);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "H5Fclose");
    if (!real)
        abort();
    herr_t r = real(file_id);
    if (r < 0 && g_nstuck < FZ_MAX_STUCK)
        g_stuck[g_nstuck++] = file_id;
    return r;
}

static int is_stuck(hid_t id)
{
    for (int i = 0; i < g_nstuck; i++)
        if (g_stuck[i] == id)
            return 1;
    return 0;
}

/* Checks that sa_probs_close (or the failed open) released every HDF5
 * object.  Returns 1 when HDF5 refused to close a file (upstream). */
static int check_hdf5_objects(int rc, int nstuck_before)
{
    ssize_t others = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_DATASET |
                                      H5F_OBJ_GROUP | H5F_OBJ_DATATYPE |
                                      H5F_OBJ_ATTR);
    FZ_CHECK(others == 0, "%zd HDF5 datasets, groups, types or attributes "
             "left open (open returned %d)", others, rc);
    hid_t ids[FZ_MAX_STUCK + 8];
    ssize_t n = H5Fget_obj_ids(H5F_OBJ_ALL, H5F_OBJ_FILE,
                               sizeof ids / sizeof ids[0], ids);
    for (ssize_t i = 0; i < n; i++)
        FZ_CHECK(is_stuck(ids[i]), "an HDF5 file was left open without "
                 "H5Fclose (open returned %d)", rc);
    return g_nstuck > nstuck_before;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned long counter;
    unsigned char fds[FZ_MAX_FD];
    char path[FZ_PATH];
    if (counter == 0) {
        /* A file HDF5 cannot close makes its exit-time cleanup crash
         * (finding 3).  The replay test leaves that to the library (the
         * suggested fix); fuzzing (SEGAUDIT_FUZZ_TOLERATE=h5exit) goes on. */
        const char *t = getenv("SEGAUDIT_FUZZ_TOLERATE");
        if (t && strstr(t, "h5exit"))
            H5dont_atexit();
        sa_probs_allow_plugins(0); /* as the engine does (the default) */
    }
    fz_fd_snapshot(fds);
    const int nstuck_before = g_nstuck;
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

    int stuck = check_hdf5_objects(rc, nstuck_before);
    unlink(path);
    char target[FZ_PATH];
    int fd = fz_new_fd(fds, target, sizeof target);
    FZ_CHECK(fd < 0 || stuck, "file descriptor %d (%s) was left open", fd,
             target);
    return 0;
}
