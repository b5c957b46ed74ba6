/* status.c - status names and texts (from SM_STATUS_MAP) and the per-thread
 * detail string behind sm_errdetail().
 * Exported: sm_strerror, sm_errname, sm_errdetail, smi_fail,
 * smi_detail_set, smi_detail_clear. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "smi.h"

static __thread char smi_detail[512];

const char *
sm_strerror(int rv)
{
    switch (rv) {
#define SM_X_(name, num, text)                                                                   \
    case num:                                                                                    \
        return text;
        SM_STATUS_MAP(SM_X_)
#undef SM_X_
    }
    return "unknown status";
}

const char *
sm_errname(int rv)
{
    switch (rv) {
#define SM_X_(name, num, text)                                                                   \
    case num:                                                                                    \
        return "SM_" #name;
        SM_STATUS_MAP(SM_X_)
#undef SM_X_
    }
    return "SM_UNKNOWN";
}

const char *
sm_errdetail(void)
{
    return smi_detail;
}

int
smi_fail(int rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(smi_detail, sizeof(smi_detail), fmt, ap);
    va_end(ap);
    return rv;
}

void
smi_detail_set(const char *text)
{
    snprintf(smi_detail, sizeof(smi_detail), "%s", text != NULL ? text : "");
}

void
smi_detail_clear(void)
{
    smi_detail[0] = '\0';
}
