/* log.c - syncmgrd's log: one line per event (time, level, file:line, text)
 * on stderr. srv_log() in srv.h checks the level before formatting.
 * Exported: srv_log_level, srv_log_impl, srv_log_parse_level. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "srv.h"

int srv_log_level = SRV_LOG_NOTICE;

static const char *const log_names[] = {"debug", "info", "notice", "warn", "none"};

int
srv_log_parse_level(const char *s)
{
    for (int i = 0; i < (int)SM_NELEM(log_names); i++)
        if (strcmp(s, log_names[i]) == 0)
            return i;
    return -1;
}

void
srv_log_impl(int level, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    char when[64];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    /* One fprintf per line, so lines from several threads never interleave. */
    fprintf(stderr, "%s.%03ldZ %-6s %s:%d %s\n", when, (long)(tv.tv_usec / 1000),
            log_names[level < 0 || level > SRV_LOG_NONE ? SRV_LOG_NONE : level],
            base ? base + 1 : file, line, msg);
}
