/*
 * duration.h - human durations ("1 day", "2 hours", "90s", "1h 30m",
 * "500ms", "1 week"), the forms Defer users write.
 *
 * Grammar: one or more <number><unit> terms, optionally separated by spaces
 * or commas; whitespace between number and unit is allowed. Numbers are
 * non-negative integers or decimals ("1.5h"). Units (case-insensitive):
 *   ms, msec, millisecond(s)
 *   s, sec, secs, second(s)
 *   m, min, mins, minute(s)
 *   h, hr, hrs, hour(s)
 *   d, day(s)
 *   w, wk, week(s)
 * A bare number without a unit, an unknown unit, an empty string, a negative
 * value, or a total above 100 years is an error: never silently zero.
 */
#ifndef TARRY_DURATION_H
#define TARRY_DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse `text` into milliseconds (rounded down to whole ms). Returns 0, or
 * TARRY_EINVAL with a one-line reason written to `err` (always
 * NUL-terminated when errlen > 0), e.g. `unknown unit "dy" in "1 dy"`.
 */
int duration_parse(const char *text, int64_t *out_ms, char *err, size_t errlen);

/* Write `ms` as a short duration ("1d 2h", "90ms", "0ms") into out. */
void duration_format(int64_t ms, char *out, size_t outlen);

#endif
