/*
 * hlog.c - the host's stderr log. One write(2) per line so lines from the
 * supervisor and the engine never interleave mid-line.
 */
#include "hlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "clock.h"

static int min_level = HLOG_INFO;

void hlog_set_level(int level)
{
    min_level = level;
}

void hlog(int level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[2048], when[CLOCK_TEXT_LEN + 1];
    va_list ap;
    int n, m;

    if (level < min_level)
        return;
    clock_format(clock_now_ms(), when);
    n = snprintf(line, sizeof line, "%s tarry[%d] %s: ", when, (int)getpid(), names[level & 3]);
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n = (m < 0) ? n : (n + m > (int)sizeof line - 2 ? (int)sizeof line - 2 : n + m);
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere left to report it */
    }
}
