/* `segaudit diff OLD NEW --out DIR`: what changed between two audits of
 * one dataset (segaudit_report_diff), and the summary line that
 * `audit --compare` prints too. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "segaudit/segaudit.h"

#include "commands.h"
#include "util.h"

static const char usage_diff[] =
    "Usage: segaudit diff OLD NEW --out DIR\n"
    "\n"
    "Compares two report folders of one dataset (an audit before and after\n"
    "relabeling) and writes DIR/changes.csv (per image: status relabeled,\n"
    "moved, same, added or removed; old and new rank, score and issue\n"
    "pixels; regions fixed, new and kept) and DIR/class_changes.csv (the\n"
    "class thresholds before and after).  DIR is created if missing.\n"
    "\n"
    "  --out DIR     where the two files go\n"
    "  -q, --quiet   no summary line\n";

void cli_print_diff_summary(const SegauditDiffSummary *s, const char *dir)
{
    fprintf(stderr,
            "segaudit: changes: %llu relabeled images, %llu now clean and "
            "%llu still with issue pixels; %llu other images moved through the "
            "thresholds; %llu regions fixed, %llu new",
            (unsigned long long)s->relabeled,
            (unsigned long long)s->relabeled_clean,
            (unsigned long long)s->relabeled_flagged,
            (unsigned long long)s->moved,
            (unsigned long long)s->regions_fixed,
            (unsigned long long)s->regions_new);
    if (s->added || s->removed)
        fprintf(stderr, "; %llu images added, %llu removed",
                (unsigned long long)s->added, (unsigned long long)s->removed);
    fprintf(stderr, "; changes.csv in %s/\n", dir);
}

int segaudit_cli_diff(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *out = NULL;
    int quiet = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage_diff, stdout); return 0;
        case ':':
            cli_usage_error("diff", "%s needs a value", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            cli_usage_error("diff", "unknown option '%s'", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        cli_usage_error("diff", "expected two report folders, OLD and NEW");
        return EXIT_USAGE;
    }
    if (!out) {
        cli_usage_error("diff", "--out DIR is required");
        return EXIT_USAGE;
    }
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "segaudit: %s: cannot create: %s\n", out,
                strerror(errno));
        return EXIT_INPUT;
    }
    char eb[1024] = "";
    SegauditDiffSummary sum;
    int rc = segaudit_report_diff(argv[optind], argv[optind + 1], out, &sum,
                                  eb, sizeof eb);
    if (rc) {
        fprintf(stderr, "segaudit: %s\n", eb);
        return cli_exit_status(rc);
    }
    if (!quiet)
        cli_print_diff_summary(&sum, out);
    return 0;
}
