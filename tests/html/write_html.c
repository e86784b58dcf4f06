/* Test driver for the HTML report, used by run.sh while `segaudit audit`
 * has no --html option: runs an audit through the public API and writes
 * the CSV/JSON report and report.html into --out.
 *
 *   write_html --labels DIR --probs FILE[:DATASET] --out DIR
 *              [--truth FILE] [--class-names FILE] [--ignore-index V]...
 *              [--masks] [--overlays] [--min-region-area A] [--rank-by S]
 *
 * With --overlays, overlays are written to <out>/overlays (the library's
 * default: the 50 worst images) and report.html refers to "overlays". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <segaudit/segaudit.h>

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

static char **read_names(const char *path, int *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "write_html: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    char **v = NULL, line[4096];
    *n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        v = realloc(v, (size_t)(*n + 1) * sizeof *v);
        v[(*n)++] = strdup(line);
    }
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    SegauditSettings s;
    segaudit_default_settings(&s);
    const char *out = NULL;
    int masks = 0, overlays = 0;
    char **names = NULL;
    char *probs = NULL;

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--masks")) {
            masks = 1;
            continue;
        }
        if (!strcmp(o, "--overlays")) {
            overlays = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "write_html: %s needs a value\n", o);
            return 2;
        }
        i++;
        if (!strcmp(o, "--labels"))
            s.labels_dir = v;
        else if (!strcmp(o, "--probs"))
            probs = strdup(v);
        else if (!strcmp(o, "--out"))
            out = v;
        else if (!strcmp(o, "--truth"))
            s.truth_path = v;
        else if (!strcmp(o, "--class-names")) {
            names = read_names(v, &s.n_class_names);
            s.class_names = (const char *const *)names;
        } else if (!strcmp(o, "--ignore-index"))
            s.ignore_index[s.n_ignore++] = atoi(v);
        else if (!strcmp(o, "--min-region-area"))
            s.min_region_area = strtoull(v, NULL, 10);
        else if (!strcmp(o, "--rank-by"))
            s.rank_by = segaudit_score_from_name(v);
        else {
            fprintf(stderr, "write_html: unknown option %s\n", o);
            return 2;
        }
    }
    if (!s.labels_dir || !probs || !out || s.rank_by < 0) {
        fprintf(stderr, "write_html: --labels, --probs and --out are "
                        "required\n");
        return 2;
    }
    struct stat st;
    char *colon = strrchr(probs, ':');
    if (colon && stat(probs, &st) != 0) {
        *colon = '\0';
        s.probs_dataset = colon + 1;
    }
    s.probs_path = probs;

    mkdir(out, 0777);
    char *mdir = join(out, "masks"), *odir = join(out, "overlays");
    if (masks) {
        mkdir(mdir, 0777);
        s.masks_dir = mdir;
    }
    if (overlays) {
        mkdir(odir, 0777);
        s.overlays_dir = odir;
    }

    SegauditAudit *a = segaudit_audit_new();
    char eb[1024] = "";
    int rc = segaudit_audit_run(a, &s);
    if (rc) {
        fprintf(stderr, "write_html: %s\n", segaudit_audit_error(a));
        return 1;
    }
    rc = segaudit_report_write(a, out, eb, sizeof eb);
    if (rc == 0)
        rc = segaudit_report_write_html(a, out, overlays ? "overlays" : NULL,
                                        eb, sizeof eb);
    if (rc) {
        fprintf(stderr, "write_html: %s\n", eb);
        return 1;
    }
    segaudit_audit_free(a);
    for (int i = 0; i < s.n_class_names; i++)
        free(names[i]);
    free(names);
    free(probs);
    free(mdir);
    free(odir);
    return 0;
}
