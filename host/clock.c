/*
 * clock.c - wall-clock time and RFC 3339 text.
 *
 * Every time the host stores or shows is int64 Unix milliseconds in UTC; this
 * room is the one place that turns them into text and back. It does its own
 * calendar arithmetic (proleptic Gregorian, Howard Hinnant's days_from_civil)
 * instead of calling timegm/gmtime_r, so results never depend on TZ, locale
 * or the range of time_t, and it holds no state.
 */
#include "clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "status.h"

#define MS_PER_DAY 86400000LL

/* RFC 3339 has four-digit years only; clock_format() clamps to this range. */
#define CLOCK_MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define CLOCK_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */

int64_t clock_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date; valid for any year. */
static int64_t days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static void civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t month_index = (5 * day_of_year + 2) / 153; /* 0 = March */

    *day = (int)(day_of_year - (153 * month_index + 2) / 5 + 1);
    *month = (int)(month_index < 10 ? month_index + 3 : month_index - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

static int is_leap_year(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

/* Write `value` as exactly `width` decimal digits; the caller keeps it in range. */
static char *put_digits(char *out, int64_t value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
    return out + width;
}

void clock_format(int64_t ms, char out[CLOCK_TEXT_LEN + 1])
{
    int64_t year;
    int month, day;
    char *at = out;

    if (ms < CLOCK_MIN_MS)
        ms = CLOCK_MIN_MS;
    if (ms > CLOCK_MAX_MS)
        ms = CLOCK_MAX_MS;

    /* Floor division, so times before 1970 land on the right day. */
    int64_t days = ms / MS_PER_DAY - (ms % MS_PER_DAY < 0);
    int64_t ms_of_day = ms - days * MS_PER_DAY;
    civil_from_days(days, &year, &month, &day);

    at = put_digits(at, year, 4);
    *at++ = '-';
    at = put_digits(at, month, 2);
    *at++ = '-';
    at = put_digits(at, day, 2);
    *at++ = 'T';
    at = put_digits(at, ms_of_day / 3600000, 2);
    *at++ = ':';
    at = put_digits(at, ms_of_day / 60000 % 60, 2);
    *at++ = ':';
    at = put_digits(at, ms_of_day / 1000 % 60, 2);
    *at++ = '.';
    at = put_digits(at, ms_of_day % 1000, 3);
    *at++ = 'Z';
    *at = '\0';
}

/* Parser state: the whole input (quoted in errors) and how far we have read. */
struct rfc3339_reader {
    const char *text;
    const char *at;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int reader_fail(struct rfc3339_reader *r, const char *fmt, ...)
{
    va_list ap;
    int used;

    if (r->err == NULL || r->errlen == 0)
        return TARRY_EINVAL;
    va_start(ap, fmt);
    used = vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    if (used >= 0 && (size_t)used < r->errlen)
        snprintf(r->err + used, r->errlen - (size_t)used, " in \"%s\"", r->text);
    return TARRY_EINVAL;
}

/* Say what was expected and where: after the part that did parse. */
static int reader_expected(struct rfc3339_reader *r, const char *what)
{
    if (r->at == r->text)
        return reader_fail(r, "expected %s at the start", what);
    return reader_fail(r, "expected %s after \"%.*s\"", what, (int)(r->at - r->text), r->text);
}

static int read_digits(struct rfc3339_reader *r, int count, const char *what, int *value)
{
    *value = 0;
    for (int i = 0; i < count; i++) {
        if (r->at[i] < '0' || r->at[i] > '9')
            return reader_expected(r, what);
        *value = *value * 10 + (r->at[i] - '0');
    }
    r->at += count;
    return 0;
}

static int read_char(struct rfc3339_reader *r, char expected, const char *what)
{
    if (*r->at != expected)
        return reader_expected(r, what);
    r->at++;
    return 0;
}

static int check_range(struct rfc3339_reader *r, const char *field, int value, int min, int max)
{
    if (value < min || value > max)
        return reader_fail(r, "%s %02d out of range (%02d-%02d)", field, value, min, max);
    return 0;
}

int clock_parse(const char *text, int64_t *out_ms, char *err, size_t errlen)
{
    struct rfc3339_reader r = {.text = text, .at = text, .err = err, .errlen = errlen};
    int year, month, day, hour, minute, second, millis = 0;
    int offset_sign = 0, offset_hour = 0, offset_minute = 0;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (text == NULL || *text == '\0') {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "empty time (expected RFC 3339, e.g. \"2026-11-28T10:00:00Z\")");
        return TARRY_EINVAL;
    }

    if ((rc = read_digits(&r, 4, "a 4-digit year", &year)) != 0 || (rc = read_char(&r, '-', "\"-\"")) != 0 ||
        (rc = read_digits(&r, 2, "a 2-digit month", &month)) != 0 ||
        (rc = read_char(&r, '-', "\"-\"")) != 0 || (rc = read_digits(&r, 2, "a 2-digit day", &day)) != 0)
        return rc;
    if (*r.at != 'T' && *r.at != 't' && *r.at != ' ')
        return reader_expected(&r, "\"T\" between date and time");
    r.at++;
    if ((rc = read_digits(&r, 2, "a 2-digit hour", &hour)) != 0 || (rc = read_char(&r, ':', "\":\"")) != 0 ||
        (rc = read_digits(&r, 2, "a 2-digit minute", &minute)) != 0 ||
        (rc = read_char(&r, ':', "\":\"")) != 0 ||
        (rc = read_digits(&r, 2, "a 2-digit second", &second)) != 0)
        return rc;

    if (*r.at == '.') {
        r.at++;
        if (*r.at < '0' || *r.at > '9')
            return reader_expected(&r, "digits of a fraction of a second");
        /* Any precision is accepted; digits past milliseconds round down. */
        for (int place = 100; *r.at >= '0' && *r.at <= '9'; r.at++, place /= 10)
            millis += (*r.at - '0') * place;
    }

    if (*r.at == 'Z' || *r.at == 'z') {
        r.at++;
    } else if (*r.at == '+' || *r.at == '-') {
        offset_sign = *r.at == '+' ? 1 : -1;
        r.at++;
        if ((rc = read_digits(&r, 2, "a 2-digit offset hour", &offset_hour)) != 0 ||
            (rc = read_char(&r, ':', "\":\" in the offset")) != 0 ||
            (rc = read_digits(&r, 2, "a 2-digit offset minute", &offset_minute)) != 0)
            return rc;
    } else {
        return reader_expected(&r, "\"Z\" or an offset like \"+01:00\"");
    }
    if (*r.at != '\0')
        return reader_fail(&r, "unexpected \"%s\" after the time", r.at);

    if ((rc = check_range(&r, "month", month, 1, 12)) != 0)
        return rc;
    if (day < 1 || day > days_in_month(year, month))
        return reader_fail(&r, "day %02d out of range for %04d-%02d (01-%02d)", day, year, month,
                           days_in_month(year, month));
    /* Second 60 is a leap second; Unix time has none, so it counts as the next second. */
    if ((rc = check_range(&r, "hour", hour, 0, 23)) != 0 ||
        (rc = check_range(&r, "minute", minute, 0, 59)) != 0 ||
        (rc = check_range(&r, "second", second, 0, 60)) != 0 ||
        (rc = check_range(&r, "offset hour", offset_hour, 0, 23)) != 0 ||
        (rc = check_range(&r, "offset minute", offset_minute, 0, 59)) != 0)
        return rc;

    int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    /* Local time is UTC plus the offset, so UTC is local time minus it. */
    seconds -= offset_sign * (offset_hour * 3600 + offset_minute * 60);
    *out_ms = seconds * 1000 + millis;
    return 0;
}

int64_t clock_days_from_civil(int64_t year, int month, int day)
{
    return days_from_civil(year, month, day);
}

void clock_civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    civil_from_days(days, year, month, day);
}
