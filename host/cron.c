/*
 * cron.c - cron expressions (cron.h documents the grammar).
 *
 * Parsing turns each field into a bit set; cron_next() then walks the
 * calendar forwards from the minute after `after`, skipping a whole month,
 * day or hour at a time when it is not in its set, so even a date that
 * occurs once in decades (February 29th on a Sunday) takes a few thousand
 * steps. The calendar arithmetic is clock.c's (proleptic Gregorian, UTC).
 */
#include "cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "status.h"

#define MS_PER_MINUTE 60000LL
#define MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define MAX_MS (253402300799999LL) /* 9999-12-31T23:59:59.999Z */
#define QUOTE_MAX 80               /* at most this much of the expression is quoted in an error */

enum { F_MINUTE, F_HOUR, F_DAY, F_MONTH, F_WEEKDAY, F_COUNT };

struct field_spec {
    const char *name;
    int min, max;
    const char *const *names; /* names[i] is value min + i (name_count of them), or NULL */
    int name_count;
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const weekday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

/* Day of week 7 is accepted and folded into 0 (Sunday). */
static const struct field_spec fields[F_COUNT] = {
    {"minute", 0, 59, NULL, 0},
    {"hour", 0, 23, NULL, 0},
    {"day-of-month", 1, 31, NULL, 0},
    {"month", 1, 12, month_names, 12},
    {"day-of-week", 0, 7, weekday_names, 7},
};

static const struct {
    const char *name, *expansion;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"},
};

struct parser {
    const char *text; /* the whole expression, for errors */
    char *err;
    size_t errlen;
};

/* `cron "TEXT": FIELD: reason` (FIELD may be NULL). Returns TARRY_EINVAL. */
__attribute__((format(printf, 3, 4))) static int parse_fail(struct parser *p, const char *field,
                                                            const char *fmt, ...)
{
    if (p->err && p->errlen > 0) {
        size_t len = strlen(p->text);
        int n = snprintf(p->err, p->errlen, "cron \"%.*s%s\": %s%s", QUOTE_MAX, p->text,
                         len > QUOTE_MAX ? "..." : "", field ? field : "", field ? ": " : "");
        if (n >= 0 && (size_t)n < p->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return TARRY_EINVAL;
}

/* A number or (where the field has them) a three-letter name at *s in [item, end), advancing *s. */
static int read_value(struct parser *p, const struct field_spec *f, const char *item, const char **s,
                      const char *end, int *out)
{
    const char *at = *s;
    if (at < end && isdigit((unsigned char)*at)) {
        long value = 0;
        while (at < end && isdigit((unsigned char)*at)) {
            if (value < 100000)
                value = value * 10 + (*at - '0');
            at++;
        }
        if (value < f->min || value > f->max)
            return parse_fail(p, f->name, "%.*s is out of range %d-%d", (int)(at - *s), *s, f->min, f->max);
        *out = (int)value;
        *s = at;
        return 0;
    }
    if (f->names && end - at >= 3 && isalpha((unsigned char)at[0])) {
        for (int i = 0; i < f->name_count; i++) {
            if (strncasecmp(at, f->names[i], 3) == 0 && (end - at == 3 || !isalpha((unsigned char)at[3]))) {
                *out = f->min + i;
                *s = at + 3;
                return 0;
            }
        }
    }
    size_t len = 0;
    while (at + len < end && !strchr(",-/", at[len]))
        len++;
    if (len == 0)
        return parse_fail(p, f->name, "a value is missing in \"%.*s\"", (int)(end - item), item);
    return parse_fail(p, f->name, "\"%.*s\" is not a %s", (int)len, at,
                      f->names == month_names     ? "number 1-12 or a month name (JAN-DEC)"
                      : f->names == weekday_names ? "number 0-7 or a day name (SUN-SAT)"
                                                  : "number");
}

/* One field, [start, end) of the expression, into the bit set *bits; *any: it starts with `*`. */
static int parse_field(struct parser *p, const struct field_spec *f, const char *start, const char *end,
                       uint64_t *bits, bool *any)
{
    *bits = 0;
    *any = *start == '*';
    for (const char *item = start; item <= end;) {
        const char *item_end = memchr(item, ',', (size_t)(end - item));
        if (!item_end)
            item_end = end;
        if (item_end == item)
            return parse_fail(p, f->name, "an empty item in the list \"%.*s\"", (int)(end - start), start);

        const char *s = item;
        int low, high, step = 1;
        int rc;
        bool star = false;
        if (*s == '*') {
            low = f->min, high = f->max, star = true;
            s++;
        } else {
            if ((rc = read_value(p, f, item, &s, item_end, &low)) != 0)
                return rc;
            high = low;
            if (s < item_end && *s == '-') {
                s++;
                if ((rc = read_value(p, f, item, &s, item_end, &high)) != 0)
                    return rc;
                if (high < low)
                    return parse_fail(p, f->name, "the range %.*s runs backwards", (int)(s - item), item);
            }
        }
        if (s < item_end && *s == '/') {
            const char *digits = ++s;
            long value = 0;
            while (s < item_end && isdigit((unsigned char)*s)) {
                if (value < 100000)
                    value = value * 10 + (*s - '0');
                s++;
            }
            if (s == digits || s != item_end)
                return parse_fail(p, f->name, "the step in \"%.*s\" is not a number", (int)(item_end - item),
                                  item);
            if (value == 0)
                return parse_fail(p, f->name, "a step of 0 in \"%.*s\"", (int)(item_end - item), item);
            step = value > f->max ? f->max + 1 : (int)value;
            if (!star && high == low)
                high = f->max; /* "N/S": from N to the field's end */
        }
        if (s != item_end)
            return parse_fail(p, f->name, "unexpected \"%.*s\" in \"%.*s\"", (int)(item_end - s), s,
                              (int)(item_end - item), item);
        for (int v = low; v <= high; v += step)
            *bits |= 1ULL << v;
        item = item_end + 1;
    }
    return 0;
}

static bool is_leap_year(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int64_t year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

int cron_parse(const char *text, cron_expr *out, char *err, size_t errlen)
{
    struct parser p = {text ? text : "", err, errlen};
    const char *s = p.text;

    if (err && errlen > 0)
        err[0] = '\0';
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '@') {
        size_t len = strcspn(s, " \t\r\n\v\f");
        const char *rest = s + len;
        while (isspace((unsigned char)*rest))
            rest++;
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
            if (*rest == '\0' && strlen(macros[i].name) == len && strncasecmp(s, macros[i].name, len) == 0) {
                cron_expr parsed;
                int rc = cron_parse(macros[i].expansion, &parsed, err, errlen);
                if (rc == 0)
                    *out = parsed;
                return rc;
            }
        }
        return parse_fail(&p, NULL,
                          "unknown name \"%.*s\" (expected @yearly, @annually, @monthly, @weekly, @daily, "
                          "@midnight or @hourly, alone)",
                          (int)(len > 32 ? 32 : len), s);
    }

    const char *starts[F_COUNT], *ends[F_COUNT];
    int count = 0;
    while (*s) {
        const char *start = s;
        while (*s && !isspace((unsigned char)*s))
            s++;
        if (count < F_COUNT) {
            starts[count] = start;
            ends[count] = s;
        }
        count++;
        while (isspace((unsigned char)*s))
            s++;
    }
    if (count != F_COUNT)
        return parse_fail(&p, NULL,
                          "expected 5 fields (minute hour day-of-month month day-of-week) or an @name, "
                          "found %d",
                          count);

    uint64_t bits[F_COUNT];
    bool any[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) {
        int rc = parse_field(&p, &fields[i], starts[i], ends[i], &bits[i], &any[i]);
        if (rc != 0)
            return rc;
    }
    cron_expr c = {
        .minutes = bits[F_MINUTE],
        .hours = (uint32_t)bits[F_HOUR],
        .days = (uint32_t)bits[F_DAY],
        .months = (uint16_t)bits[F_MONTH],
        .weekdays = (uint8_t)((bits[F_WEEKDAY] | bits[F_WEEKDAY] >> 7) & 0x7f), /* 7 is Sunday */
        .days_any = any[F_DAY],
        .weekdays_any = any[F_WEEKDAY],
    };

    /* When days must match both fields and the day of month is restricted, some chosen day must
     * exist in some chosen month (in a leap year: then every day of week comes round too). */
    if (c.weekdays_any && !c.days_any) {
        bool possible = false;
        for (int m = 1; m <= 12 && !possible; m++)
            if (c.months & (1u << m))
                possible = (c.days & ((2ULL << days_in_month(2000, m)) - 1)) != 0;
        if (!possible)
            return parse_fail(&p, fields[F_DAY].name,
                              "never fires: no chosen day occurs in the chosen months");
    }
    *out = c;
    return 0;
}

static bool day_matches(const cron_expr *c, int64_t days, int day)
{
    int weekday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    bool by_day = (c->days >> day) & 1, by_weekday = (c->weekdays >> weekday) & 1;
    return c->days_any || c->weekdays_any ? by_day && by_weekday : by_day || by_weekday;
}

int cron_next(const cron_expr *c, int64_t after_ms, int64_t *out_ms)
{
    if (after_ms < MIN_MS || after_ms > MAX_MS)
        return TARRY_ERANGE;
    int64_t minutes = after_ms / MS_PER_MINUTE - (after_ms % MS_PER_MINUTE < 0) + 1;
    int64_t days = minutes / 1440 - (minutes % 1440 < 0);
    int64_t year;
    int month, day, hour = (int)(minutes - days * 1440) / 60, minute = (int)(minutes - days * 1440) % 60;
    clock_civil_from_days(days, &year, &month, &day);

    for (;;) {
        if (minute > 59)
            minute = 0, hour++;
        if (hour > 23)
            hour = 0, day++;
        if (day > days_in_month(year, month))
            day = 1, month++;
        if (month > 12)
            month = 1, year++;
        if (year > 9999)
            return TARRY_ERANGE;
        if (!(c->months & (1u << month))) {
            day = 32, hour = minute = 0; /* the next month */
            continue;
        }
        days = clock_days_from_civil(year, month, day);
        if (!day_matches(c, days, day)) {
            day++, hour = minute = 0;
            continue;
        }
        if (!((c->hours >> hour) & 1)) {
            hour++, minute = 0;
            continue;
        }
        if (!((c->minutes >> minute) & 1)) {
            minute++;
            continue;
        }
        *out_ms = ((days * 1440) + hour * 60 + minute) * MS_PER_MINUTE;
        return 0;
    }
}
