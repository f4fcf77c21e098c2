/*
 * test_duration.c - durations: every form the grammar promises parses to
 * the exact millisecond, every mistake is refused with a message that quotes
 * the input and names the problem, and formatting reads back. The parser is
 * the journal core's (sdk/core/jcore_duration.c), reached through the host's
 * duration.h: the test kit runs the same one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "duration.h"
#include "status.h"

#define SECOND 1000LL
#define MINUTE (60 * SECOND)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)
#define WEEK (7 * DAY)
#define MAX_MS (36525 * DAY) /* 100 years */

#define assert_contains(haystack, needle)                                                                    \
    do {                                                                                                     \
        if (strstr((haystack), (needle)) == NULL)                                                            \
            fail_msg("\"%s\" does not contain \"%s\"", (haystack), (needle));                                \
    } while (0)

struct accepted {
    const char *text;
    int64_t ms;
};

/* Parse must succeed with exactly `ms` and leave err empty. */
static void check_accepted(const struct accepted *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        char err[256] = "stale";
        int64_t ms = -1;
        int rc = duration_parse(cases[i].text, &ms, err, sizeof(err));
        if (rc != 0)
            fail_msg("\"%s\" was refused: %s", cases[i].text, err);
        if (ms != cases[i].ms)
            fail_msg("\"%s\" parsed to %lld ms, expected %lld", cases[i].text, (long long)ms,
                     (long long)cases[i].ms);
        assert_string_equal(err, "");
    }
}

/* Parse must fail with TARRY_EINVAL, leave *out alone, and say `reason`. */
static void check_refused(const char *text, const char *reason)
{
    char err[256] = "";
    int64_t ms = 12345;
    int rc = duration_parse(text, &ms, err, sizeof(err));
    if (rc != TARRY_EINVAL)
        fail_msg("\"%s\" was accepted as %lld ms; expected an error with \"%s\"", text ? text : "(null)",
                 (long long)ms, reason);
    assert_int_equal(ms, 12345);
    assert_contains(err, reason);
}

static void test_reference_forms(void **state)
{
    (void)state;
    static const struct accepted cases[] = {
        {"1 day", DAY}, {"2 hours", 2 * HOUR}, {"90s", 90 * SECOND}, {"1h 30m", HOUR + 30 * MINUTE},
        {"500ms", 500}, {"1 week", WEEK},      {"10m", 10 * MINUTE},
    };
    check_accepted(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_every_unit_spelling(void **state)
{
    (void)state;
    static const struct accepted cases[] = {
        {"1ms", 1},
        {"1msec", 1},
        {"1millisecond", 1},
        {"2milliseconds", 2},
        {"1s", SECOND},
        {"1sec", SECOND},
        {"2secs", 2 * SECOND},
        {"1second", SECOND},
        {"2seconds", 2 * SECOND},
        {"1m", MINUTE},
        {"1min", MINUTE},
        {"2mins", 2 * MINUTE},
        {"1minute", MINUTE},
        {"2minutes", 2 * MINUTE},
        {"1h", HOUR},
        {"1hr", HOUR},
        {"2hrs", 2 * HOUR},
        {"1hour", HOUR},
        {"2hours", 2 * HOUR},
        {"1d", DAY},
        {"1day", DAY},
        {"2days", 2 * DAY},
        {"1w", WEEK},
        {"1wk", WEEK},
        {"1week", WEEK},
        {"2weeks", 2 * WEEK},
    };
    check_accepted(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_units_ignore_case(void **state)
{
    (void)state;
    static const struct accepted cases[] = {
        {"1H", HOUR},        {"1 Hour", HOUR}, {"90S", 90 * SECOND},
        {"500MS", 500},      {"1Ms", 1},       {"2 WEEKS", 2 * WEEK},
        {"3 DaYs", 3 * DAY}, {"1M", MINUTE},   {"5 MiNuTeS", 5 * MINUTE},
    };
    check_accepted(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_terms_and_separators(void **state)
{
    (void)state;
    static const struct accepted cases[] = {
        {"1h 30m", HOUR + 30 * MINUTE},
        {"1h30m", HOUR + 30 * MINUTE},
        {"1h,30m", HOUR + 30 * MINUTE},
        {"1h, 30m", HOUR + 30 * MINUTE},
        {"1h ,30m", HOUR + 30 * MINUTE},
        {"1 hour 30 minutes", HOUR + 30 * MINUTE},
        {"1 hour, 30 minutes", HOUR + 30 * MINUTE},
        {"1d 2h 3m 4s 5ms", DAY + 2 * HOUR + 3 * MINUTE + 4 * SECOND + 5},
        {"1h 1h", 2 * HOUR},
        {"30m 30m 30m", 90 * MINUTE},
        {"  90s  ", 90 * SECOND},
        {"\t1h\n", HOUR},
        {"90   s", 90 * SECOND},
        {"007s", 7 * SECOND},
    };
    check_accepted(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_zero(void **state)
{
    (void)state;
    static const struct accepted cases[] = {
        {"0s", 0}, {"0ms", 0}, {"0 days", 0}, {"0.0h", 0}, {"0h 0m", 0},
    };
    check_accepted(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_decimals_round_down(void **state)
{
    (void)state;
    static const struct accepted cases[] = {
        {"1.5s", 1500},
        {"0.5ms", 0},
        {"1.9999ms", 1},
        {"1.5h", HOUR + 30 * MINUTE},
        {"0.001s", 1},
        {"0.0009s", 0},
        {"0.1m", 6 * SECOND},
        {"2.50 days", 2 * DAY + 12 * HOUR},
        {"0.5w", 3 * DAY + 12 * HOUR},
        {"1.5s 0.5s", 2 * SECOND},
        /* A third of a minute is just under 20 s however many digits are written... */
        {"0.33333333333333333333333333333333m", 20 * SECOND - 1},
        /* ...and just over it once the last digit tips it: exact past 18 digits. */
        {"0.333333333333333333333333333334m", 20 * SECOND},
        {"0.99999999999999999999999999999999999999w", WEEK - 1},
    };
    check_accepted(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_limit_is_100_years(void **state)
{
    (void)state;
    static const struct accepted cases[] = {
        {"36525d", MAX_MS},
        {"5217w 6d", MAX_MS},
        {"36524d 24h", MAX_MS},
        {"36525.00000000001d", MAX_MS}, /* the excess is below 1 ms and rounds away */
    };
    check_accepted(cases, sizeof(cases) / sizeof(cases[0]));

    check_refused("36525d 1ms", "duration too large (max 100 years): \"36525d 1ms\"");
    check_refused("36525.0001d", "duration too large");
    check_refused("36526 days", "duration too large");
    check_refused("3155760000001ms", "duration too large");
}

static void test_overflow_is_too_large(void **state)
{
    (void)state;
    check_refused("1000000 weeks", "duration too large (max 100 years): \"1000000 weeks\"");
    check_refused("9223372036854775807ms", "duration too large");
    check_refused("9223372036854775808ms", "duration too large");
    check_refused("18446744073709551617w", "duration too large");
    check_refused("99999999999999999999999999999999999999999999999999s", "duration too large");
    check_refused("3000000000000w",
                  "duration too large"); /* below the cap in ms, but times a week overflows int64 */
    check_refused("36525d 36525d", "duration too large");
    check_refused("20000d 20000d 20000d 20000d 20000d", "duration too large");
}

static void test_empty(void **state)
{
    (void)state;
    check_refused("", "empty duration");
    check_refused("   ", "empty duration");
    check_refused("\t\n", "empty duration");
    check_refused(NULL, "empty duration");
}

static void test_missing_unit(void **state)
{
    (void)state;
    check_refused("90", "missing unit after \"90\" in \"90\"");
    check_refused("1.5", "missing unit after \"1.5\" in \"1.5\"");
    check_refused("1h 90", "missing unit after \"90\" in \"1h 90\"");
    check_refused("90 5s", "missing unit after \"90\"");
    check_refused("90, 5s", "missing unit after \"90\"");
    check_refused("0", "missing unit after \"0\"");
}

static void test_unknown_unit(void **state)
{
    (void)state;
    check_refused("1 dy", "unknown unit \"dy\" in \"1 dy\"");
    check_refused("1 month", "unknown unit \"month\"");
    check_refused("1y", "unknown unit \"y\"");
    check_refused("5 secondss", "unknown unit \"secondss\"");
    check_refused("1h 30x", "unknown unit \"x\" in \"1h 30x\"");
    check_refused("1e3s", "unknown unit \"e\"");
    check_refused("2 hourly", "unknown unit \"hourly\"");
}

static void test_negative(void **state)
{
    (void)state;
    check_refused("-5s", "negative durations are not allowed: \"-5s\"");
    check_refused("1h -5m", "negative durations are not allowed: \"1h -5m\"");
    check_refused("  -0s", "negative durations are not allowed");
}

static void test_missing_number(void **state)
{
    (void)state;
    check_refused("h", "missing number before \"h\" in \"h\"");
    check_refused("1h m", "missing number before \"m\" in \"1h m\"");
    check_refused("1 hour and 30 minutes", "missing number before \"and\"");
    check_refused("ms", "missing number before \"ms\"");
}

static void test_bad_characters(void **state)
{
    (void)state;
    check_refused("5s!", "unexpected \"!\" in \"5s!\"");
    check_refused("+5s", "unexpected \"+\"");
    check_refused(".5s", "unexpected \".\"");
    check_refused("1.5.5s", "unexpected \".\"");
    check_refused("5 \xc2\xb5s", "unexpected \"\xc2\xb5\" in");
    check_refused("5;6s", "unexpected \";\"");
    check_refused("1.s", "missing digits after \"1.\" in \"1.s\"");
    check_refused("1h,,30m", "unexpected \",\"");
    check_refused(",1h", "unexpected \",\"");
    check_refused("1h,", "trailing \",\" in \"1h,\"");
    check_refused("1h, ", "trailing \",\"");
}

static void test_error_buffer(void **state)
{
    (void)state;
    char err[8];
    int64_t ms = 7;

    /* A short buffer still holds a NUL-terminated prefix of the reason. */
    memset(err, 'x', sizeof(err));
    assert_int_equal(duration_parse("1 dy", &ms, err, sizeof(err)), TARRY_EINVAL);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_memory_equal(err, "unknown", 7);

    /* No buffer at all is allowed. */
    assert_int_equal(duration_parse("1 dy", &ms, NULL, 0), TARRY_EINVAL);
    assert_int_equal(duration_parse("1h", &ms, NULL, 0), 0);
    assert_int_equal(ms, HOUR);

    /* errlen 0 means the buffer is not touched. */
    err[0] = 'q';
    assert_int_equal(duration_parse("x", &ms, err, 0), TARRY_EINVAL);
    assert_int_equal(err[0], 'q');
}

static void check_format(int64_t ms, const char *expected)
{
    char out[64];
    duration_format(ms, out, sizeof(out));
    assert_string_equal(out, expected);
}

static void test_format(void **state)
{
    (void)state;
    check_format(0, "0ms");
    check_format(1, "1ms");
    check_format(500, "500ms");
    check_format(SECOND, "1s");
    check_format(1500, "1s 500ms");
    check_format(90 * SECOND, "1m 30s");
    check_format(HOUR, "1h");
    check_format(HOUR + 30 * MINUTE, "1h 30m");
    check_format(DAY, "1d");
    check_format(DAY + 2 * HOUR, "1d 2h");
    check_format(WEEK, "7d");
    check_format(MAX_MS, "36525d");
    /* At most two adjacent units; what is below them is cut, not rounded. */
    check_format(DAY + HOUR + MINUTE + SECOND + 1, "1d 1h");
    check_format(DAY + 5 * SECOND, "1d");
    check_format(HOUR + 59 * SECOND + 999, "1h");
    check_format(-1500, "-1s 500ms");
    check_format(INT64_MAX, "106751991167d 7h");
    check_format(INT64_MIN, "-106751991167d 7h");
}

static void test_format_small_buffer(void **state)
{
    (void)state;
    char out[8];

    memset(out, 'x', sizeof(out));
    duration_format(90 * SECOND, out, 4);
    assert_string_equal(out, "1m ");
    assert_int_equal(out[4], 'x');

    memset(out, 'x', sizeof(out));
    duration_format(90 * SECOND, out, 0);
    assert_int_equal(out[0], 'x');
    duration_format(90 * SECOND, NULL, 0);
}

/* A deterministic spread of values over every magnitude up to the limit. */
static uint64_t next_value(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return *seed >> 11;
}

static void test_round_trip(void **state)
{
    (void)state;
    static const int64_t units[] = {1, SECOND, MINUTE, HOUR, DAY};
    const size_t count = sizeof(units) / sizeof(units[0]);
    uint64_t seed = 42;

    /* Exactly two adjacent units: formatting loses nothing, so parsing gives the value back. */
    for (size_t u = 0; u + 1 < count; u++) {
        for (int i = 0; i < 2000; i++) {
            /* The bigger unit must stay below the next one up, or it would be shown as that. */
            int64_t big_limit = u + 2 < count ? units[u + 2] / units[u + 1] : MAX_MS / units[u + 1];
            int64_t big = (int64_t)(next_value(&seed) % (uint64_t)big_limit);
            int64_t small = (int64_t)(next_value(&seed) % (uint64_t)(units[u + 1] / units[u]));
            int64_t ms = big * units[u + 1] + small * units[u];
            char text[64], err[128];
            int64_t back = -1;

            if (ms > MAX_MS)
                continue;
            duration_format(ms, text, sizeof(text));
            if (duration_parse(text, &back, err, sizeof(err)) != 0)
                fail_msg("format(%lld) = \"%s\" does not parse: %s", (long long)ms, text, err);
            if (back != ms)
                fail_msg("format(%lld) = \"%s\" parses to %lld", (long long)ms, text, (long long)back);
        }
    }

    /* Any value: the text reads back as a truncation of it, and formats the same again. */
    for (int i = 0; i < 20000; i++) {
        int64_t ms = (int64_t)(next_value(&seed) % (uint64_t)(MAX_MS + 1)) >> (i % 40);
        char text[64], again[64], err[128];
        int64_t back = -1;

        duration_format(ms, text, sizeof(text));
        if (duration_parse(text, &back, err, sizeof(err)) != 0)
            fail_msg("format(%lld) = \"%s\" does not parse: %s", (long long)ms, text, err);
        assert_true(back <= ms);
        duration_format(back, again, sizeof(again));
        assert_string_equal(again, text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_forms),
        cmocka_unit_test(test_every_unit_spelling),
        cmocka_unit_test(test_units_ignore_case),
        cmocka_unit_test(test_terms_and_separators),
        cmocka_unit_test(test_zero),
        cmocka_unit_test(test_decimals_round_down),
        cmocka_unit_test(test_limit_is_100_years),
        cmocka_unit_test(test_overflow_is_too_large),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_missing_unit),
        cmocka_unit_test(test_unknown_unit),
        cmocka_unit_test(test_negative),
        cmocka_unit_test(test_missing_number),
        cmocka_unit_test(test_bad_characters),
        cmocka_unit_test(test_error_buffer),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_small_buffer),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
