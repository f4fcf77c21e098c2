/*
 * cron.h - cron expressions: parse one, and find when it is next due.
 *
 * The grammar is the standard five fields, separated by blanks:
 *
 *     minute (0-59)  hour (0-23)  day-of-month (1-31)  month (1-12)  day-of-week (0-7)
 *
 * Each field is `*` or a comma-separated list of values `N`, ranges `N-M`
 * and steps `*\/S`, `N-M/S` or `N/S` (N to the field's end, every S).
 * Months take JAN..DEC and days of week SUN..SAT (any case); day of week 0
 * and 7 are both Sunday. A range runs upwards (`FRI-MON` is refused).
 * Instead of five fields: @yearly (= @annually), @monthly, @weekly, @daily
 * (= @midnight) and @hourly.
 *
 * Day of month and day of week, as in Vixie cron and cronie: when both are
 * restricted, a day matches if EITHER matches ("0 0 13 * FRI" is every 13th
 * and every Friday); when one of them starts with `*` (`*` or `*\/S`), a
 * day must match both.
 *
 * Times are UTC only: int64 Unix milliseconds, as everywhere in the host.
 * An expression that can never fire ("0 0 30 2 *") is refused when parsed,
 * so cron_next() always finds a time for a parsed expression.
 *
 * Pure: no allocation, no clock, no I/O; safe on any thread.
 */
#ifndef TARRY_CRON_H
#define TARRY_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A parsed expression: one bit per allowed value. Plain data, copy freely. */
typedef struct cron_expr {
    uint64_t minutes;  /* bit m: minute m, 0..59 */
    uint32_t hours;    /* bit h: hour h, 0..23 */
    uint32_t days;     /* bit d: day of month d, 1..31 */
    uint16_t months;   /* bit m: month m, 1..12 */
    uint8_t weekdays;  /* bit d: day of week d, 0 (Sunday)..6 */
    bool days_any;     /* the day-of-month field starts with `*` (see the top) */
    bool weekdays_any; /* the day-of-week field starts with `*` */
} cron_expr;

/*
 * Parse `text` into *out. Returns 0, or TARRY_EINVAL with *out untouched
 * and a one-line reason in err that quotes the expression and names the
 * field, e.g. `cron "61 * * * *": minute: 61 is out of range 0-59` (err is
 * always NUL-terminated when errlen > 0; it may be NULL when errlen is 0).
 */
int cron_parse(const char *text, cron_expr *out, char *err, size_t errlen);

/*
 * The first due time of `c` strictly after `after_ms`, on a whole minute
 * (UTC), into *out_ms. Returns 0, or TARRY_ERANGE when that time would be
 * past 9999-12-31 or after_ms is before 0000-01-01 (the years the host
 * writes).
 */
int cron_next(const cron_expr *c, int64_t after_ms, int64_t *out_ms);

#endif
