/* Hostile image ids: an id names output files (masks, overlays), so ids
 * that could escape the output folder or are ambiguous are refused before
 * anything is written.  And a masks folder that cannot be made fails the
 * run without touching the host's files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>

#include "segaudit/segaudit.h"

static char dir[] = "/tmp/test_hostile_XXXXXX";

/* A 2-image tensor with the given ids (fixed-length strings, so that a
 * control character or an empty id survive). */
static void write_probs(const char *path, const char *id0, const char *id1)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hsize_t dims[4] = {2, 2, 2, 2};
    float v[16];
    for (int i = 0; i < 16; i++)
        v[i] = 0.5f;
    hid_t sp = H5Screate_simple(4, dims, NULL);
    hid_t d = H5Dcreate2(f, "/pred_probs", H5T_IEEE_F32LE, sp, H5P_DEFAULT,
                         H5P_DEFAULT, H5P_DEFAULT);
    assert_int_equal(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                              H5P_DEFAULT, v), 0);
    H5Dclose(d);
    H5Sclose(sp);
    char ids[2][16];
    memset(ids, 0, sizeof ids);
    memcpy(ids[0], id0, strlen(id0));
    memcpy(ids[1], id1, strlen(id1));
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 16);
    hsize_t n = 2;
    sp = H5Screate_simple(1, &n, NULL);
    d = H5Dcreate2(f, "/image_ids", t, sp, H5P_DEFAULT, H5P_DEFAULT,
                   H5P_DEFAULT);
    assert_int_equal(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids), 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
}

static void expect_refused(const char *id0, const char *id1, const char *kw)
{
    char probs[128], labels[128];
    snprintf(probs, sizeof probs, "%s/probs.h5", dir);
    snprintf(labels, sizeof labels, "%s/labels", dir);
    write_probs(probs, id0, id1);
    SegauditSettings s;
    segaudit_default_settings(&s);
    s.labels_dir = labels;
    s.probs_path = probs;
    SegauditAudit *a = segaudit_audit_new();
    int rc = segaudit_audit_run(a, &s);
    if (rc != SEGAUDIT_EINPUT || !strstr(segaudit_audit_error(a), kw))
        fail_msg("ids '%s', '%s': rc %d, message '%s' (wanted '%s')", id0,
                 id1, rc, segaudit_audit_error(a), kw);
    segaudit_audit_free(a);
}

static void test_ids(void **state)
{
    (void)state;
    expect_refused("ok", "../evil", "cannot name a file");
    expect_refused("a/b", "ok", "cannot name a file");
    expect_refused("ok", "a\\b", "cannot name a file");
    expect_refused("..", "ok", "cannot name a file");
    expect_refused(".", "ok", "cannot name a file");
    expect_refused("ok", "tab\there", "cannot name a file");
    expect_refused("ok", "", "");
    expect_refused("same", "same", "more than once");
}

/* A masks folder that cannot be created fails pass 2 on any number of
 * threads, with a message naming it, and leaves the process's descriptors
 * alone (walkers not yet set up own no file). */
static void test_masks_dir_fails(void **state)
{
    (void)state;
    int null = open("/dev/null", O_RDONLY);
    assert_true(null >= 0);
    assert_true(dup2(null, 0) == 0); /* a descriptor 0 to watch */
    close(null);
    for (int threads = 1; threads <= 3; threads++) {
        SegauditSettings s;
        segaudit_default_settings(&s);
        s.labels_dir = "golden/scenes_k19/labels";
        s.probs_path = "golden/scenes_k19/probs.h5";
        s.masks_dir = "/nonexistent-segaudit-test/masks";
        s.n_threads = threads;
        SegauditAudit *a = segaudit_audit_new();
        int rc = segaudit_audit_run(a, &s);
        if (rc != SEGAUDIT_EIO ||
            !strstr(segaudit_audit_error(a), "/nonexistent-segaudit-test"))
            fail_msg("%d threads: rc %d, '%s'", threads, rc,
                     segaudit_audit_error(a));
        segaudit_audit_free(a);
        if (fcntl(0, F_GETFD) == -1)
            fail_msg("%d threads: descriptor 0 was closed", threads);
    }
}

static int setup(void **state)
{
    (void)state;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!mkdtemp(dir))
        return -1;
    char labels[128];
    snprintf(labels, sizeof labels, "%s/labels", dir);
    return mkdir(labels, 0777);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_ids),
                                       cmocka_unit_test(test_masks_dir_fails)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
