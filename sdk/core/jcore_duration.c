/*
 * jcore_duration.c - human durations, the way Defer users write delays and
 * timeouts ("1 day", "90s", "1h 30m", "1.5h"), for the host and the test kit.
 *
 * A duration a user wrote decides when work runs, so this room never guesses:
 * anything it cannot read exactly is an error that quotes the input and says
 * what was wrong, never a silent zero. Arithmetic is exact integer math in
 * milliseconds (no floating point), rounded down. No state, no allocation.
 */
#include "jcore_duration.h"

#include <stdarg.h>
#include <stdio.h>

#include "tarry.h"

#define MS_PER_SECOND 1000LL
#define MS_PER_MINUTE (60 * MS_PER_SECOND)
#define MS_PER_HOUR (60 * MS_PER_MINUTE)
#define MS_PER_DAY (24 * MS_PER_HOUR)
#define MS_PER_WEEK (7 * MS_PER_DAY)

/* 100 years of 365.25 days: far beyond any sane delay, far below int64 overflow. */
#define DURATION_MAX_MS (36525 * MS_PER_DAY)

struct duration_unit {
    int64_t ms;
    const char *names[6]; /* NULL-terminated */
};

/* The spellings duration.h promises; matched whole and case-insensitively. */
static const struct duration_unit duration_units[] = {
    {1, {"ms", "msec", "millisecond", "milliseconds", NULL}},
    {MS_PER_SECOND, {"s", "sec", "secs", "second", "seconds", NULL}},
    {MS_PER_MINUTE, {"m", "min", "mins", "minute", "minutes", NULL}},
    {MS_PER_HOUR, {"h", "hr", "hrs", "hour", "hours", NULL}},
    {MS_PER_DAY, {"d", "day", "days", NULL}},
    {MS_PER_WEEK, {"w", "wk", "week", "weeks", NULL}},
};

/* ASCII only: a locale must not change what a duration means. */
static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char to_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static const char *skip_spaces(const char *at)
{
    while (is_space(*at))
        at++;
    return at;
}

static const struct duration_unit *unit_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
        for (const char *const *candidate = duration_units[i].names; *candidate != NULL; candidate++) {
            size_t j = 0;

            while (j < len && (*candidate)[j] != '\0' && to_lower(name[j]) == (*candidate)[j])
                j++;
            if (j == len && (*candidate)[j] == '\0')
                return &duration_units[i];
        }
    }
    return NULL;
}

__attribute__((format(printf, 3, 4))) static int duration_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return TARRY_EINVAL;
}

/* Name an unexpected byte; a non-ASCII one is quoted with the rest of its UTF-8 sequence. */
static int fail_unexpected(const char *text, const char *at, char *err, size_t errlen)
{
    size_t len = 1;

    if ((unsigned char)*at >= 0x80)
        while ((unsigned char)at[len] >= 0x80 && (unsigned char)at[len] < 0xc0)
            len++;
    return duration_fail(err, errlen, "unexpected \"%.*s\" in \"%s\"", (int)len, at, text);
}

int jcore_duration_parse(const char *text, int64_t *out_ms, char *err, size_t errlen)
{
    const char *at;
    int64_t total = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (text == NULL || *(at = skip_spaces(text)) == '\0')
        return duration_fail(err, errlen, "empty duration");

    for (;;) {
        /* A term: <number> [spaces] <unit>. */
        if (*at == '-')
            return duration_fail(err, errlen, "negative durations are not allowed: \"%s\"", text);
        if (!is_digit(*at)) {
            if (is_letter(*at)) {
                const char *word = at;
                while (is_letter(*at))
                    at++;
                return duration_fail(err, errlen, "missing number before \"%.*s\" in \"%s\"",
                                     (int)(at - word), word, text);
            }
            return fail_unexpected(text, at, err, errlen);
        }

        const char *number = at;
        int64_t whole = 0;
        /* Saturate instead of overflowing; anything past the cap is too large anyway. */
        for (; is_digit(*at); at++)
            if (whole <= DURATION_MAX_MS)
                whole = whole * 10 + (*at - '0');
        const char *fraction = at, *fraction_end = at;
        if (*at == '.') {
            fraction = ++at;
            if (!is_digit(*at))
                return duration_fail(err, errlen, "missing digits after \"%.*s\" in \"%s\"",
                                     (int)(at - number), number, text);
            while (is_digit(*at))
                at++;
            fraction_end = at;
        }
        const char *number_end = at;

        at = skip_spaces(at);
        if (!is_letter(*at)) {
            if (*at == '\0' || *at == ',' || is_digit(*at) || *at == '-')
                return duration_fail(err, errlen, "missing unit after \"%.*s\" in \"%s\"",
                                     (int)(number_end - number), number, text);
            return fail_unexpected(text, at, err, errlen);
        }
        const char *unit_name = at;
        while (is_letter(*at))
            at++;
        const struct duration_unit *unit = unit_find(unit_name, (size_t)(at - unit_name));
        if (unit == NULL)
            return duration_fail(err, errlen, "unknown unit \"%.*s\" in \"%s\" (use ms, s, m, h, d or w)",
                                 (int)(at - unit_name), unit_name, text);

        if (whole > DURATION_MAX_MS / unit->ms)
            return duration_fail(err, errlen, "duration too large (max 100 years): \"%s\"", text);
        /*
         * floor(unit * 0.d1d2...dn), exact for any number of digits: by
         * Horner's rule from the last digit, and floor(floor(x) / 10) equals
         * floor(x / 10), so integer division at each step loses nothing.
         * The carry stays below unit->ms.
         */
        int64_t fraction_ms = 0;
        for (const char *digit = fraction_end; digit > fraction; digit--)
            fraction_ms = ((digit[-1] - '0') * unit->ms + fraction_ms) / 10;
        total += whole * unit->ms + fraction_ms;
        if (total > DURATION_MAX_MS)
            return duration_fail(err, errlen, "duration too large (max 100 years): \"%s\"", text);

        /* Between terms: spaces, or one comma with spaces around it. */
        at = skip_spaces(at);
        if (*at == ',') {
            at = skip_spaces(at + 1);
            if (*at == '\0')
                return duration_fail(err, errlen, "trailing \",\" in \"%s\"", text);
        }
        if (*at == '\0')
            break;
    }

    *out_ms = total;
    return 0;
}

void jcore_duration_format(int64_t ms, char *out, size_t outlen)
{
    static const struct {
        const char *name;
        int64_t ms;
    } shown[] = {
        {"d", MS_PER_DAY}, {"h", MS_PER_HOUR}, {"m", MS_PER_MINUTE}, {"s", MS_PER_SECOND}, {"ms", 1},
    };
    const size_t count = sizeof(shown) / sizeof(shown[0]);
    /* Through uint64_t, so INT64_MIN has a magnitude too. */
    uint64_t left = ms < 0 ? -(uint64_t)ms : (uint64_t)ms;
    const char *sign = ms < 0 ? "-" : "";
    size_t big = 0;

    if (out == NULL || outlen == 0)
        return;
    if (left == 0) {
        snprintf(out, outlen, "0ms");
        return;
    }
    while (left < (uint64_t)shown[big].ms)
        big++;

    /* The largest unit and the one below it, truncated: "1d 2h", never "1d 2h 3m". */
    unsigned long long big_count = left / (uint64_t)shown[big].ms;
    unsigned long long small_count = 0;
    if (big + 1 < count)
        small_count = left % (uint64_t)shown[big].ms / (uint64_t)shown[big + 1].ms;
    if (small_count == 0)
        snprintf(out, outlen, "%s%llu%s", sign, big_count, shown[big].name);
    else
        snprintf(out, outlen, "%s%llu%s %llu%s", sign, big_count, shown[big].name, small_count,
                 shown[big + 1].name);
}
