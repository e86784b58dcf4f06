/* Helpers shared by the commands of the segaudit program: the exit
 * statuses, the usage-error message and the parsers of option values. */
#ifndef SEGAUDIT_CLI_UTIL_H
#define SEGAUDIT_CLI_UTIL_H

#include <stdarg.h>
#include <stdint.h>

struct SegauditComm;
/* segaudit-mpi: the processes of the job (set before cli_main); NULL in
 * segaudit. */
extern const struct SegauditComm *cli_comm;
/* Called by cli_exit before the process exits early (segaudit-mpi ends
 * the whole job with it); NULL in segaudit. */
extern void (*cli_exit_hook)(int status);

/* Ends the program with status (after the hook). */
void cli_exit(int status) __attribute__((noreturn));

/* The program: the commands (main.c). */
int cli_main(int argc, char **argv);

/* Is this process the one that writes and prints (always, except in
 * segaudit-mpi's ranks above 0)? */
int cli_root(void);

/* Exit statuses besides 0 (an interrupted run: signals.h). */
#define EXIT_INPUT 1 /* input or I/O error */
#define EXIT_USAGE 2 /* usage error */

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* Prints "segaudit: <message>" and "Try 'segaudit <command> --help'." on
 * stderr. */
void cli_usage_error(const char *command, const char *fmt, ...)
    CLI_PRINTF(2, 3);
void cli_vusage_error(const char *command, const char *fmt, va_list ap)
    CLI_PRINTF(2, 0);

/* The usage error "<opt>: '<s>' is not a whole number from <lo> to <hi>". */
void cli_not_whole(const char *command, const char *opt, const char *s,
                   uint64_t lo, uint64_t hi);

/* The exit status of a failed library call (a SEGAUDIT_E* code): usage
 * error for SEGAUDIT_EINVAL, else input or I/O error. */
int cli_exit_status(int rc);

/* The parsers return 0 and store the value, or return -1 and leave *out
 * alone.  Decimal only; the whole string must be the number. */

/* strtol's syntax: leading blanks and a sign are allowed ("-0" is 0). */
int cli_parse_long(const char *s, long lo, long hi, long *out);
/* strtoull's syntax, but no leading '-' (strtoull would wrap a negative
 * number around to a large one). */
int cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* Any number strtod reads, within the range of a double. */
int cli_parse_double(const char *s, double *out);
/* A size in bytes: "64K", "1G", "512M", "2T", "1000", with an optional
 * trailing B; 0 on error. */
uint64_t cli_parse_bytes(const char *s);

#endif
