/* Helpers shared by the commands: the usage-error message, the exit status
 * of a failed call and the parsers of numbers and sizes in option values. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "segaudit/segaudit.h"

#include "util.h"

const struct SegauditComm *cli_comm;
void (*cli_exit_hook)(int status);

void cli_exit(int status)
{
    fflush(stdout);
    if (cli_exit_hook)
        cli_exit_hook(status);
    exit(status);
}

int cli_root(void)
{
    return !cli_comm || cli_comm->rank == 0;
}

void cli_vusage_error(const char *command, const char *fmt, va_list ap)
{
    fputs("segaudit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'segaudit %s --help'.\n", command);
}

void cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vusage_error(command, fmt, ap);
    va_end(ap);
}

void cli_not_whole(const char *command, const char *opt, const char *s,
                   uint64_t lo, uint64_t hi)
{
    cli_usage_error(command, "%s: '%s' is not a whole number from %" PRIu64
                    " to %" PRIu64, opt, s, lo, hi);
}

int cli_exit_status(int rc)
{
    return rc == SEGAUDIT_EINVAL ? EXIT_USAGE : EXIT_INPUT;
}

int cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

uint64_t cli_parse_bytes(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return 0;
    uint64_t mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mul = (uint64_t)1 << 10; end++; break;
    case 'M': mul = (uint64_t)1 << 20; end++; break;
    case 'G': mul = (uint64_t)1 << 30; end++; break;
    case 'T': mul = (uint64_t)1 << 40; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v > UINT64_MAX / mul)
        return 0;
    return (uint64_t)v * mul;
}
