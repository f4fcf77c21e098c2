/*
 * clock.h - wall-clock time, RFC 3339 text, and the monotonic clock.
 *
 * Times are int64 Unix milliseconds, UTC, everywhere in the host. Spans a
 * process measures (a wait's deadline, how soon a restarted engine died)
 * use clock_mono_ms(), which no clock change can move.
 */
#ifndef TARRY_CLOCK_H
#define TARRY_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define CLOCK_TEXT_LEN 24 /* "2026-11-28T10:00:00.123Z" */

/* Unix time in milliseconds (CLOCK_REALTIME). */
int64_t clock_now_ms(void);

/*
 * Milliseconds on CLOCK_MONOTONIC: only differences mean anything (the
 * origin is unspecified); never goes back, whatever the wall clock does.
 */
int64_t clock_mono_ms(void);

/*
 * Format as RFC 3339 UTC with milliseconds: "2026-11-28T10:00:00.123Z",
 * always exactly CLOCK_TEXT_LEN characters and a NUL. RFC 3339 years have
 * four digits, so times outside 0000-01-01 .. 9999-12-31 are clamped to
 * those ends.
 */
void clock_format(int64_t ms, char out[CLOCK_TEXT_LEN + 1]);

/*
 * Parse RFC 3339: "2026-11-28T10:00:00Z", with optional fraction (any number
 * of digits, kept to ms) and "Z" or a "+hh:mm"/"-hh:mm" offset; 't' and a
 * space are accepted for 'T', 'z' for 'Z'. A leap second (":60") counts as
 * the next second, as Unix time has none. Returns 0, or TARRY_EINVAL with
 * *out_ms untouched and a one-line reason that names the field and quotes
 * the input written to err (always NUL-terminated when errlen > 0; err may
 * be NULL when errlen is 0), e.g.
 * `month 13 out of range (01-12) in "2026-13-01T00:00:00Z"`.
 */
int clock_parse(const char *text, int64_t *out_ms, char *err, size_t errlen);

/*
 * The proleptic Gregorian calendar, for any year: days since 1970-01-01 of
 * a date (month 1..12, day 1..31), and back (cron.c walks the calendar).
 */
int64_t clock_days_from_civil(int64_t year, int month, int day);
void clock_civil_from_days(int64_t days, int64_t *year, int *month, int *day);

#endif
