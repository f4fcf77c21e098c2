/*
 * test_clock.c - the clock room: RFC 3339 text for any millisecond (checked
 * against the C library's gmtime_r over the whole four-digit-year range),
 * every accepted spelling, every range and syntax error with a message that
 * names the field, and round trips both ways; the monotonic clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "status.h"

#define MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */

#define assert_contains(haystack, needle)                                                                    \
    do {                                                                                                     \
        if (strstr((haystack), (needle)) == NULL)                                                            \
            fail_msg("\"%s\" does not contain \"%s\"", (haystack), (needle));                                \
    } while (0)

static void check_format(int64_t ms, const char *expected)
{
    char out[CLOCK_TEXT_LEN + 1];

    memset(out, 'x', sizeof(out));
    clock_format(ms, out);
    assert_string_equal(out, expected);
    assert_int_equal(strlen(out), CLOCK_TEXT_LEN);
}

static void check_parse(const char *text, int64_t expected)
{
    char err[256] = "stale";
    int64_t ms = -1;

    if (clock_parse(text, &ms, err, sizeof(err)) != 0)
        fail_msg("\"%s\" was refused: %s", text, err);
    if (ms != expected)
        fail_msg("\"%s\" parsed to %lld, expected %lld", text, (long long)ms, (long long)expected);
    assert_string_equal(err, "");
}

/* Parse must fail with TARRY_EINVAL, leave *out alone, and say `reason` and quote the input. */
static void check_refused(const char *text, const char *reason)
{
    char err[256] = "";
    int64_t ms = 12345;

    if (clock_parse(text, &ms, err, sizeof(err)) != TARRY_EINVAL)
        fail_msg("\"%s\" was accepted as %lld; expected an error with \"%s\"", text ? text : "(null)",
                 (long long)ms, reason);
    assert_int_equal(ms, 12345);
    assert_contains(err, reason);
    if (text != NULL && *text != '\0') {
        char quoted[128];
        snprintf(quoted, sizeof(quoted), "\"%s\"", text);
        assert_contains(err, quoted);
    }
}

static void test_format_known_times(void **state)
{
    (void)state;
    check_format(0, "1970-01-01T00:00:00.000Z");
    check_format(1, "1970-01-01T00:00:00.001Z");
    check_format(-1, "1969-12-31T23:59:59.999Z");
    check_format(1795860000123LL, "2026-11-28T10:00:00.123Z");
    check_format(951782400000LL, "2000-02-29T00:00:00.000Z");   /* 2000 is a leap year (÷400) */
    check_format(-2203891200000LL, "1900-03-01T00:00:00.000Z"); /* 1900 is not (÷100) */
    check_format(1709164800000LL, "2024-02-29T00:00:00.000Z");
    check_format(MIN_MS, "0000-01-01T00:00:00.000Z");
    check_format(MAX_MS, "9999-12-31T23:59:59.999Z");
}

static void test_format_clamps_to_four_digit_years(void **state)
{
    (void)state;
    check_format(MIN_MS - 1, "0000-01-01T00:00:00.000Z");
    check_format(INT64_MIN, "0000-01-01T00:00:00.000Z");
    check_format(MAX_MS + 1, "9999-12-31T23:59:59.999Z");
    check_format(INT64_MAX, "9999-12-31T23:59:59.999Z");
}

/* A deterministic spread of values. */
static uint64_t next_value(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return *seed >> 11;
}

static void test_format_matches_gmtime(void **state)
{
    (void)state;
    uint64_t seed = 7;

    for (int i = 0; i < 100000; i++) {
        int64_t ms = MIN_MS + (int64_t)(next_value(&seed) % (uint64_t)(MAX_MS - MIN_MS + 1));
        /* Floor division, as time_t seconds before 1970 round toward the past. */
        time_t seconds = (time_t)(ms / 1000 - (ms % 1000 < 0));
        int millis = (int)(ms - (int64_t)seconds * 1000);
        struct tm tm;
        char expected[64], got[CLOCK_TEXT_LEN + 1];

        assert_non_null(gmtime_r(&seconds, &tm));
        snprintf(expected, sizeof(expected), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
        clock_format(ms, got);
        if (strcmp(expected, got) != 0)
            fail_msg("clock_format(%lld) = %s, gmtime_r says %s", (long long)ms, got, expected);
    }
}

static void test_parse_forms(void **state)
{
    (void)state;
    const int64_t t = 1795860000000LL; /* 2026-11-28T10:00:00Z */

    check_parse("2026-11-28T10:00:00Z", t);
    check_parse("2026-11-28t10:00:00z", t);
    check_parse("2026-11-28 10:00:00Z", t);
    check_parse("2026-11-28T10:00:00.1Z", t + 100);
    check_parse("2026-11-28T10:00:00.12Z", t + 120);
    check_parse("2026-11-28T10:00:00.123Z", t + 123);
    check_parse("2026-11-28T10:00:00.000Z", t);
    /* Digits past milliseconds are cut, not rounded. */
    check_parse("2026-11-28T10:00:00.1239999Z", t + 123);
    check_parse("2026-11-28T10:00:00.999999999999999999999999Z", t + 999);
    check_parse("2026-11-28T10:00:00+00:00", t);
    check_parse("2026-11-28T10:00:00-00:00", t);
    check_parse("2026-11-28T11:00:00+01:00", t);
    check_parse("2026-11-28T04:30:00-05:30", t);
    check_parse("2026-11-29T09:59:00+23:59", t);
    check_parse("2026-11-28T11:00:00.5+01:00", t + 500);
    check_parse("1970-01-01T00:00:00Z", 0);
    check_parse("1969-12-31T23:59:59.999Z", -1);
    check_parse("1970-01-01T00:00:00+01:00", -3600000);
    check_parse("0000-01-01T00:00:00Z", MIN_MS);
    check_parse("9999-12-31T23:59:59.999Z", MAX_MS);
}

static void test_parse_calendar(void **state)
{
    (void)state;
    check_parse("2024-02-29T00:00:00Z", 1709164800000LL);
    check_parse("2000-02-29T00:00:00Z", 951782400000LL);
    check_parse("2026-01-31T00:00:00Z", 1769817600000LL);
    check_parse("2026-04-30T00:00:00Z", 1777507200000LL);
    check_parse("2026-12-31T23:59:59Z", 1798761599000LL);
    /* A leap second is the next second: Unix time has none. */
    check_parse("2016-12-31T23:59:60Z", 1483228800000LL);
}

static void test_parse_range_errors(void **state)
{
    (void)state;
    check_refused("2026-13-01T00:00:00Z", "month 13 out of range");
    check_refused("2026-00-01T00:00:00Z", "month 00 out of range");
    check_refused("2026-01-00T00:00:00Z", "day 00 out of range");
    check_refused("2026-01-32T00:00:00Z", "day 32 out of range");
    check_refused("2026-04-31T00:00:00Z", "day 31 out of range for 2026-04 (01-30)");
    check_refused("2025-02-29T00:00:00Z", "day 29 out of range for 2025-02 (01-28)");
    check_refused("1900-02-29T00:00:00Z", "day 29 out of range for 1900-02");
    check_refused("2024-02-30T00:00:00Z", "day 30 out of range for 2024-02 (01-29)");
    check_refused("2026-11-28T24:00:00Z", "hour 24 out of range (00-23)");
    check_refused("2026-11-28T10:60:00Z", "minute 60 out of range (00-59)");
    check_refused("2026-11-28T10:00:61Z", "second 61 out of range (00-60)");
    check_refused("2026-11-28T10:00:00+24:00", "offset hour 24 out of range");
    check_refused("2026-11-28T10:00:00+01:60", "offset minute 60 out of range");
}

static void test_parse_syntax_errors(void **state)
{
    (void)state;
    check_refused("", "empty time");
    check_refused(NULL, "empty time");
    check_refused("26-11-28T10:00:00Z", "expected a 4-digit year at the start");
    check_refused("yesterday", "expected a 4-digit year");
    check_refused("2026/11/28T10:00:00Z", "expected \"-\" after \"2026\"");
    check_refused("2026-1-28T10:00:00Z", "expected a 2-digit month after \"2026-\"");
    check_refused("2026-11-8T10:00:00Z", "expected a 2-digit day");
    check_refused("2026-11-28", "expected \"T\" between date and time after \"2026-11-28\"");
    check_refused("2026-11-28X10:00:00Z", "expected \"T\"");
    check_refused("2026-11-28T1:00:00Z", "expected a 2-digit hour");
    check_refused("2026-11-28T10:00Z", "expected \":\" after \"2026-11-28T10:00\"");
    check_refused("2026-11-28T10:0:00Z", "expected a 2-digit minute");
    check_refused("2026-11-28T10:00:0Z", "expected a 2-digit second");
    check_refused("2026-11-28T10:00:00", "expected \"Z\" or an offset");
    check_refused("2026-11-28T10:00:00.Z", "expected digits of a fraction of a second");
    check_refused("2026-11-28T10:00:00,5Z", "expected \"Z\" or an offset");
    check_refused("2026-11-28T10:00:00+0100", "expected \":\" in the offset");
    check_refused("2026-11-28T10:00:00+01", "expected \":\" in the offset");
    check_refused("2026-11-28T10:00:00+1:00", "expected a 2-digit offset hour");
    check_refused("2026-11-28T10:00:00+01:0", "expected a 2-digit offset minute");
    check_refused("2026-11-28T10:00:00Z ", "unexpected \" \" after the time");
    check_refused("2026-11-28T10:00:00Zjunk", "unexpected \"junk\" after the time");
    check_refused(" 2026-11-28T10:00:00Z", "expected a 4-digit year at the start");
    check_refused("+2026-11-28T10:00:00Z", "expected a 4-digit year");
}

static void test_parse_error_buffer(void **state)
{
    (void)state;
    char err[6];
    int64_t ms = 0;

    memset(err, 'x', sizeof(err));
    assert_int_equal(clock_parse("2026-13-01T00:00:00Z", &ms, err, sizeof(err)), TARRY_EINVAL);
    assert_string_equal(err, "month");

    assert_int_equal(clock_parse("2026-13-01T00:00:00Z", &ms, NULL, 0), TARRY_EINVAL);
    assert_int_equal(clock_parse("", &ms, NULL, 0), TARRY_EINVAL);
    assert_int_equal(clock_parse("2026-11-28T10:00:00Z", &ms, NULL, 0), 0);
    assert_int_equal(ms, 1795860000000LL);
}

static void test_round_trips(void **state)
{
    (void)state;
    uint64_t seed = 11;

    for (int i = 0; i < 100000; i++) {
        int64_t ms = MIN_MS + (int64_t)(next_value(&seed) % (uint64_t)(MAX_MS - MIN_MS + 1));
        char text[CLOCK_TEXT_LEN + 1], again[CLOCK_TEXT_LEN + 1], err[128];
        int64_t back = 0;

        clock_format(ms, text);
        if (clock_parse(text, &back, err, sizeof(err)) != 0)
            fail_msg("clock_format(%lld) = %s does not parse: %s", (long long)ms, text, err);
        if (back != ms)
            fail_msg("%s parsed to %lld, expected %lld", text, (long long)back, (long long)ms);
        clock_format(back, again);
        assert_string_equal(again, text);
    }
}

static void test_now(void **state)
{
    (void)state;
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t now = clock_now_ms();
    int64_t after = (int64_t)time(NULL) * 1000 + 1000;

    assert_true(now >= before && now <= after);
    assert_true(now > 1577836800000LL); /* after 2020 */
}

/* The monotonic clock is CLOCK_MONOTONIC in ms and never goes back. */
static void test_mono(void **state)
{
    (void)state;
    struct timespec ts;
    int64_t first = clock_mono_ms(), prev = first;

    for (int i = 0; i < 1000; i++) {
        int64_t now = clock_mono_ms();
        assert_true(now >= prev);
        prev = now;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    assert_true(prev <= (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    assert_true(first >= (int64_t)ts.tv_sec * 1000 - 60000); /* same clock, not the wall clock */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known_times),
        cmocka_unit_test(test_format_clamps_to_four_digit_years),
        cmocka_unit_test(test_format_matches_gmtime),
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_calendar),
        cmocka_unit_test(test_parse_range_errors),
        cmocka_unit_test(test_parse_syntax_errors),
        cmocka_unit_test(test_parse_error_buffer),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_now),
        cmocka_unit_test(test_mono),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
