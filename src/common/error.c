#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>

int sa_err(SaErr *e, int code, const char *fmt, ...)
{
    if (e && e->code == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

void sa_err_clear(SaErr *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = '\0';
    }
}
