/* A program of a library user, built against the installed files only
 * (pkg-config segaudit): audits a dataset given as arrays in memory and
 * prints what it found.  Compiled as C and as C++ by check_install.sh.
 *
 *   example LABELS PROBS.h5   audits the files, then the same values from
 *                             memory, and prints one line per run */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <segaudit/segaudit.h>

static int report(SegauditAudit *a, const char *how)
{
    SegauditDatasetInfo in;
    segaudit_audit_info(a, &in);
    SegauditImageResult worst;
    segaudit_audit_image(a, segaudit_audit_ranked(a, 0), &worst);
    printf("%s: version %s, %llu images, n_issues %llu, issue pixels %llu, "
           "worst %s\n",
           how, segaudit_version(), (unsigned long long)in.n_images,
           (unsigned long long)in.n_issues,
           (unsigned long long)in.issue_pixels, worst.id);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: example LABELS PROBS.h5\n");
        return 2;
    }
    SegauditSettings s;
    segaudit_default_settings(&s);
    s.labels_dir = argv[1];
    s.probs_path = argv[2];
    SegauditAudit *a = segaudit_audit_new();
    if (!a || segaudit_audit_run(a, &s) != 0) {
        fprintf(stderr, "example: %s\n", segaudit_audit_error(a));
        return 1;
    }
    report(a, "files");

    /* the same dataset from memory: a tiny one of our own */
    static float probs[2][2][2][3];
    static uint8_t labels[2][2][3];
    for (int n = 0; n < 2; n++)
        for (int h = 0; h < 2; h++)
            for (int w = 0; w < 3; w++) {
                float p = (float)(n * 6 + h * 3 + w + 1) / 16.0f;
                probs[n][0][h][w] = p;
                probs[n][1][h][w] = 1.0f - p;
                labels[n][h][w] = (uint8_t)((h + w) % 2);
            }
    const uint64_t ps[4] = {2, 2, 2, 3}, ls[3] = {2, 2, 3};
    SegauditArray pa, la;
    segaudit_array_init(&pa, probs, SEGAUDIT_DTYPE_FLOAT32, 4, ps);
    segaudit_array_init(&la, labels, SEGAUDIT_DTYPE_UINT8, 3, ls);
    SegauditSettings m;
    segaudit_default_settings(&m);
    m.labels_array = &la;
    m.probs_array = &pa;
    SegauditAudit *b = segaudit_audit_new();
    if (!b || segaudit_audit_run(b, &m) != 0) {
        fprintf(stderr, "example: %s\n", segaudit_audit_error(b));
        return 1;
    }
    report(b, "arrays");
    segaudit_audit_free(a);
    segaudit_audit_free(b);
    return 0;
}
