/* Commands of the segaudit program other than `audit` (in main.c). */
#ifndef SEGAUDIT_CLI_COMMANDS_H
#define SEGAUDIT_CLI_COMMANDS_H

/* `segaudit synth ...`; argv[0] is "synth".  Returns the exit status. */
int segaudit_cli_synth(int argc, char **argv);

#endif
