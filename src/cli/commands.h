/* The commands of the segaudit program, called by main.c with argv[0] the
 * command's name.  Each returns the exit status. */
#ifndef SEGAUDIT_CLI_COMMANDS_H
#define SEGAUDIT_CLI_COMMANDS_H

/* `segaudit audit ...` (audit_cmd.c). */
int segaudit_cli_audit(int argc, char **argv);

/* `segaudit synth ...` (synth_cmd.c). */
int segaudit_cli_synth(int argc, char **argv);

/* `segaudit diff ...` (diff_cmd.c), and its summary line (also printed by
 * audit --compare). */
int segaudit_cli_diff(int argc, char **argv);
struct SegauditDiffSummary;
void cli_print_diff_summary(const struct SegauditDiffSummary *s,
                            const char *dir);

#endif
