/* segaudit — the command-line program: the overview, --version, and the
 * dispatch to the commands (audit_cmd.c, synth_cmd.c, diff_cmd.c).  The program uses
 * only the public API. */
#include <stdio.h>
#include <string.h>

#include "segaudit/segaudit.h"

#include "commands.h"
#include "util.h"

static const char usage_main[] =
    "Usage: segaudit COMMAND [OPTIONS]\n"
    "\n"
    "Finds annotation errors in semantic-segmentation datasets.\n"
    "\n"
    "Commands:\n"
    "  audit     score every image and write a ranked report\n"
    "  synth     write a synthetic dataset with known annotation errors\n"
    "  diff      what changed between two audits (before and after\n"
    "            relabeling)\n"
    "\n"
    "  segaudit --version | --help | audit --help | synth --help |\n"
    "  diff --help\n";

int cli_main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("segaudit %s\n", segaudit_version());
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "audit"))
        return segaudit_cli_audit(argc - 1, argv + 1);
    if (!strcmp(argv[1], "synth"))
        return segaudit_cli_synth(argc - 1, argv + 1);
    if (!strcmp(argv[1], "diff"))
        return segaudit_cli_diff(argc - 1, argv + 1);
    fprintf(stderr, "segaudit: unknown command '%s'\n%s", argv[1],
            usage_main);
    return EXIT_USAGE;
}
