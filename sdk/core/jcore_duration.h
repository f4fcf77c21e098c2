/*
 * jcore_duration.h - human durations ("1 day", "2 hours", "90s", "1h 30m",
 * "500ms", "1 week"), the forms Defer users write. Part of the journal core
 * (jcore.h), so the host (its API, CLI and tarry_sleep) and the test kit
 * read a duration, and word a mistake, the same way. libc only, no state.
 *
 * Grammar: one or more <number><unit> terms, optionally separated by spaces
 * or by one comma ("1h30m", "1h 30m", "1h, 30m"); whitespace between number
 * and unit, and around the whole text, is allowed. A unit may repeat; terms
 * add up. Numbers are non-negative integers or decimals with a digit on
 * each side of the point ("1.5h", not ".5h"). Units (case-insensitive):
 *   ms, msec, millisecond(s)
 *   s, sec, secs, second(s)
 *   m, min, mins, minute(s)
 *   h, hr, hrs, hour(s)
 *   d, day(s)
 *   w, wk, week(s)
 * A bare number without a unit, an unknown unit, an empty string, a negative
 * value, or a total above 100 years (36525 days) is an error: never silently
 * zero.
 */
#ifndef TARRY_JCORE_DURATION_H
#define TARRY_JCORE_DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse `text` into milliseconds, exactly, rounded down to whole ms ("1.5s"
 * is 1500, "0.5ms" is 0). Returns 0, or TARRY_EINVAL with *out_ms untouched
 * and a one-line reason that quotes the input written to `err` (always
 * NUL-terminated when errlen > 0; err may be NULL when errlen is 0), e.g.
 * `unknown unit "dy" in "1 dy" (use ms, s, m, h, d or w)`,
 * `missing unit after "90" in "90"`, `empty duration`.
 */
int jcore_duration_parse(const char *text, int64_t *out_ms, char *err, size_t errlen);

/*
 * Write `ms` as a short duration into out ("1d 2h", "1m 30s", "90ms", "0ms"):
 * the largest unit of d, h, m, s, ms and, if not zero, the one below it;
 * anything smaller is cut, not rounded, so 1d 0h 5s is "1d". Negative values
 * get a "-". The text parses back with jcore_duration_parse(). Truncated to fit,
 * always NUL-terminated when outlen > 0.
 */
void jcore_duration_format(int64_t ms, char *out, size_t outlen);

#endif
