/*
 * hlog.h - the host's own log (stderr), one line per event.
 *
 * Distinct from an execution's log (tarry_log), which is stored in LMDB.
 * Lines look like "2026-11-28T10:00:00.123Z tarry[1234] error: ..." so a
 * test or an operator can grep them; with --log-format json each line is
 * one JSON object instead, {"time":...,"level":...,"pid":...,"msg":...},
 * for a log collector.
 */
#ifndef TARRY_HLOG_H
#define TARRY_HLOG_H

#include <stddef.h>

enum { HLOG_DEBUG, HLOG_INFO, HLOG_WARN, HLOG_ERROR };

enum { HLOG_TEXT, HLOG_JSON };

/* Lines below this level are dropped (TARRY_LOG_LEVEL=debug|info|warn|error). */
void hlog_set_level(int level);

/* HLOG_TEXT (the default) or HLOG_JSON (--log-format json); set before the engine forks. */
void hlog_set_format(int format);

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void hlog(int level, const char *fmt, ...);

/*
 * One JSON log line into out: {"time":"<time>","level":"<level>","pid":N,
 * "msg":"<msg>"} and '\n'. Whatever bytes msg[0..len) holds, the line is
 * valid JSON: quotes, backslashes and control characters are escaped, bytes
 * that are not UTF-8 become U+FFFD. A message too long for out is cut at a
 * character, never inside an escape. out is always NUL-terminated (outlen
 * at least 64); returns the line's length without the NUL.
 */
size_t hlog_json_line(char *out, size_t outlen, const char *time, const char *level, int pid, const char *msg,
                      size_t len);

#endif
