/*
 * clock.h - wall-clock time and RFC 3339 text.
 *
 * Times are int64 Unix milliseconds, UTC, everywhere in the host.
 */
#ifndef TARRY_CLOCK_H
#define TARRY_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define CLOCK_TEXT_LEN 24 /* "2026-11-28T10:00:00.123Z" */

/* Unix time in milliseconds (CLOCK_REALTIME). */
int64_t clock_now_ms(void);

/* Format as RFC 3339 UTC with milliseconds: "2026-11-28T10:00:00.123Z". */
void clock_format(int64_t ms, char out[CLOCK_TEXT_LEN + 1]);

/*
 * Parse RFC 3339: "2026-11-28T10:00:00Z", with optional fraction (any number
 * of digits, kept to ms) and "Z" or a "+hh:mm"/"-hh:mm" offset; 't' and a
 * space are accepted for 'T', 'z' for 'Z'. Returns 0 or TARRY_EINVAL with a
 * reason in err (e.g. "month 13 out of range").
 */
int clock_parse(const char *text, int64_t *out_ms, char *err, size_t errlen);

#endif
