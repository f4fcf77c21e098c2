/*
 * hlog.c - the host's stderr log. One write(2) per line so lines from the
 * supervisor and the engine never interleave mid-line. The format is set
 * once, before the engine process forks, so both write the same one.
 */
#include "hlog.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "json_strict.h"

/* A message is cut to this; its JSON line may be up to 6 times longer (\u00XX per byte). */
#define HLOG_MSG_MAX 2048

static int min_level = HLOG_INFO;
static int format = HLOG_TEXT;

void hlog_set_level(int level)
{
    min_level = level;
}

void hlog_set_format(int f)
{
    format = f;
}

/* Append n bytes if they fit with `keep` bytes to spare; false (nothing written) if not. */
static bool put(char *out, size_t outlen, size_t *at, const char *s, size_t n, size_t keep)
{
    if (*at + n + keep > outlen)
        return false;
    memcpy(out + *at, s, n);
    *at += n;
    return true;
}

size_t hlog_json_line(char *out, size_t outlen, const char *time, const char *level, int pid, const char *msg,
                      size_t len)
{
    static const char tail[] = "\"}\n";
    size_t at = 0;
    int n;

    /* time and level are ours (RFC 3339 and a level name): nothing in them needs escaping. */
    n = snprintf(out, outlen, "{\"time\":\"%s\",\"level\":\"%s\",\"pid\":%d,\"msg\":\"", time, level, pid);
    if (n < 0 || (size_t)n + sizeof tail > outlen) {
        snprintf(out, outlen, "{}\n");
        return strlen(out);
    }
    at = (size_t)n;
    for (size_t i = 0; i < len;) {
        const unsigned char c = (unsigned char)msg[i];
        char esc[8];
        size_t k = json_strict_utf8_len((const unsigned char *)msg + i, len - i);
        const char *s = msg + i;
        size_t sn = k;

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            s = esc;
            sn = 2;
        } else if (c < 0x20 || c == 0x7f) {
            static const char short_esc[] = "\b\f\n\r\t", short_name[] = "bfnrt";
            const char *p = c ? strchr(short_esc, c) : NULL;
            if (p)
                sn = (size_t)snprintf(esc, sizeof esc, "\\%c", short_name[p - short_esc]);
            else
                sn = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
            s = esc;
            k = 1;
        } else if (!k) {
            s = "\\ufffd"; /* not UTF-8: one replacement character per byte */
            sn = 6;
            k = 1;
        }
        if (!put(out, outlen, &at, s, sn, sizeof tail))
            break; /* cut here: what was written is whole characters */
        i += k;
    }
    memcpy(out + at, tail, sizeof tail);
    return at + sizeof tail - 1;
}

void hlog(int level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[HLOG_MSG_MAX], when[CLOCK_TEXT_LEN + 1];
    va_list ap;
    int n, m;

    if (level < min_level)
        return;
    clock_format(clock_now_ms(), when);
    if (format == HLOG_JSON) {
        char json[HLOG_MSG_MAX * 6 + 128];
        va_start(ap, fmt);
        m = vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        m = m < 0 ? 0 : (m >= (int)sizeof line ? (int)sizeof line - 1 : m);
        n = (int)hlog_json_line(json, sizeof json, when, names[level & 3], (int)getpid(), line, (size_t)m);
        if (write(STDERR_FILENO, json, (size_t)n) < 0) {
            /* nowhere left to report it */
        }
        return;
    }
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
