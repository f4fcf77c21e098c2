/*
 * hlog.h - the host's own log (stderr), one line per event.
 *
 * Distinct from an execution's log (tarry_log), which is stored in LMDB.
 * Lines look like "2026-11-28T10:00:00.123Z tarry[1234] error: ..." so a
 * test or an operator can grep them.
 */
#ifndef TARRY_HLOG_H
#define TARRY_HLOG_H

enum { HLOG_DEBUG, HLOG_INFO, HLOG_WARN, HLOG_ERROR };

/* Lines below this level are dropped (TARRY_LOG_LEVEL=debug|info|warn|error). */
void hlog_set_level(int level);

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void hlog(int level, const char *fmt, ...);

#endif
