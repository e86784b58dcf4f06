/* The text files of `segaudit audit` that describe the classes: names
 * (--class-names) and overlay colours (--palette). */
#ifndef SEGAUDIT_CLI_CLASS_FILES_H
#define SEGAUDIT_CLI_CLASS_FILES_H

#include <stdint.h>

/* Reads one class name per line (trailing empty lines are dropped) into
 * *n strings.  On error, prints it and exits with status 1. */
char **cli_read_names(const char *path, int *n);
/* Frees what cli_read_names returned; NULL is accepted. */
void cli_free_names(char **names, int n);

/* Reads colours, 'r g b' per line (blank lines and '#' comments skipped),
 * into *n entries.  On error, prints it and exits with status 1. */
uint8_t (*cli_read_palette(const char *path, int *n))[3];

#endif
