/*
 * test_cron.c - cron expressions (host/cron.c): the next due time of every
 * form the grammar promises, across minute, hour, day, month and year ends,
 * leap years (February 29th, and 2100 which is not one), the day-of-month /
 * day-of-week rule, steps and names; and every mistake refused with a
 * message that quotes the expression and names the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "cron.h"
#include "status.h"

static int64_t at(const char *rfc3339)
{
    int64_t ms;
    char err[200];
    if (clock_parse(rfc3339, &ms, err, sizeof err) != 0)
        fail_msg("bad test time %s: %s", rfc3339, err);
    return ms;
}

/* `expr`, next after `after`, must be `expected` (all RFC 3339 UTC). */
static void check_next(const char *expr, const char *after, const char *expected)
{
    cron_expr c;
    char err[256] = "stale";
    if (cron_parse(expr, &c, err, sizeof err) != 0)
        fail_msg("\"%s\" was refused: %s", expr, err);
    assert_string_equal(err, "");
    int64_t next = 0;
    int rc = cron_next(&c, at(after), &next);
    if (rc != 0)
        fail_msg("\"%s\" after %s: %s", expr, after, tarry_strerror(rc));
    char got[CLOCK_TEXT_LEN + 1];
    clock_format(next, got);
    if (next != at(expected))
        fail_msg("\"%s\" after %s: got %s, expected %s", expr, after, got, expected);
}

/* Parsing must fail with TARRY_EINVAL, leave *out alone and say exactly `message`. */
static void check_refused(const char *expr, const char *message)
{
    cron_expr c, untouched;
    memset(&c, 0xab, sizeof c);
    untouched = c;
    char err[256] = "";
    int rc = cron_parse(expr, &c, err, sizeof err);
    if (rc != TARRY_EINVAL)
        fail_msg("\"%s\" was accepted (rc %d)", expr, rc);
    assert_memory_equal(&c, &untouched, sizeof c);
    assert_string_equal(err, message);
}

static void every_minute_is_strictly_after(void **state)
{
    (void)state;
    check_next("* * * * *", "2026-03-10T10:00:30Z", "2026-03-10T10:01:00Z");
    check_next("* * * * *", "2026-03-10T10:01:00Z", "2026-03-10T10:02:00Z");
    check_next("* * * * *", "2026-03-10T10:00:59.999Z", "2026-03-10T10:01:00Z");
    check_next("* * * * *", "2026-12-31T23:59:00Z", "2027-01-01T00:00:00Z");
    /* before 1970: floors, not truncates, towards zero */
    check_next("* * * * *", "1969-12-31T23:59:30Z", "1970-01-01T00:00:00Z");
    check_next("0 0 * * *", "1969-06-15T12:00:00Z", "1969-06-16T00:00:00Z");
}

static void month_ends(void **state)
{
    (void)state;
    check_next("0 0 1 * *", "2026-01-31T12:00:00Z", "2026-02-01T00:00:00Z");
    check_next("0 0 1 * *", "2026-12-15T00:00:00Z", "2027-01-01T00:00:00Z");
    /* the 31st skips the months without one */
    check_next("0 0 31 * *", "2026-04-15T00:00:00Z", "2026-05-31T00:00:00Z");
    check_next("0 0 31 * *", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z");
    check_next("30 6 30 * *", "2026-01-30T06:30:00Z", "2026-03-30T06:30:00Z");
    check_next("59 23 31 12 *", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z");
}

static void leap_years(void **state)
{
    (void)state;
    check_next("0 12 29 2 *", "2026-01-01T00:00:00Z", "2028-02-29T12:00:00Z");
    check_next("0 12 29 2 *", "2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z");
    /* 2100 is not a leap year, 2000 was */
    check_next("0 12 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T12:00:00Z");
    check_next("0 0 29 2 *", "1999-01-01T00:00:00Z", "2000-02-29T00:00:00Z");
    check_next("0 0 1 3 *", "2028-02-28T00:00:00Z", "2028-03-01T00:00:00Z");
    check_next("0 0 * 2 *", "2027-02-28T00:00:00Z", "2028-02-01T00:00:00Z");
    check_next("0 0 * 2 *", "2028-02-28T00:00:00Z", "2028-02-29T00:00:00Z");
    /* February 29th on a Sunday (both fields must match: the day of week starts with *) */
    check_next("0 0 29 2 */7", "2026-01-01T00:00:00Z", "2032-02-29T00:00:00Z");
    check_next("0 0 29 2 */7", "2032-02-29T00:00:00Z", "2060-02-29T00:00:00Z");
}

static void day_of_month_or_day_of_week(void **state)
{
    (void)state;
    /* both restricted: either matches (2026-01-02 is a Friday) */
    check_next("0 0 13 * FRI", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    check_next("0 0 13 * FRI", "2026-01-10T00:00:00Z", "2026-01-13T00:00:00Z");
    check_next("0 0 31 4 MON", "2026-01-01T00:00:00Z", "2026-04-06T00:00:00Z");
    /* one starts with *: both must match (odd days that are Mondays) */
    check_next("0 0 */2 * MON", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z");
    check_next("0 0 */2 * MON", "2026-01-05T00:00:00Z", "2026-01-19T00:00:00Z");
    /* only the day of week restricted */
    check_next("0 9 * * 1-5", "2026-01-02T10:00:00Z", "2026-01-05T09:00:00Z");
    /* only the day of month restricted */
    check_next("0 9 15 * *", "2026-01-02T10:00:00Z", "2026-01-15T09:00:00Z");
}

static void steps_lists_and_ranges(void **state)
{
    (void)state;
    check_next("*/15 * * * *", "2026-03-10T10:14:00Z", "2026-03-10T10:15:00Z");
    check_next("*/15 * * * *", "2026-03-10T10:45:00Z", "2026-03-10T11:00:00Z");
    check_next("5/20 * * * *", "2026-03-10T10:06:00Z", "2026-03-10T10:25:00Z");
    check_next("5/20 * * * *", "2026-03-10T10:45:00Z", "2026-03-10T11:05:00Z");
    check_next("0 9-17/4 * * *", "2026-03-10T13:00:00Z", "2026-03-10T17:00:00Z");
    check_next("0 9-17/4 * * *", "2026-03-10T17:00:00Z", "2026-03-11T09:00:00Z");
    check_next("1,2,58-59 * * * *", "2026-03-10T10:02:00Z", "2026-03-10T10:58:00Z");
    check_next("*/90 * * * *", "2026-03-10T10:00:00Z", "2026-03-10T11:00:00Z");
    check_next("0 0 * * 7", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"); /* 7 is Sunday */
    check_next("0 0 * * 5-7", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z");
}

static void names(void **state)
{
    (void)state;
    check_next("0 0 1 jan,Jul *", "2026-02-01T00:00:00Z", "2026-07-01T00:00:00Z");
    check_next("0 0 1 JAN-MAR *", "2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z");
    check_next("0 0 * * SUN", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z");
    check_next("0 0 * * mon-FRI", "2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z");
    check_next("0 0 * * SAT/7", "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z");
}

static void macros(void **state)
{
    (void)state;
    check_next("@hourly", "2026-03-10T10:00:00Z", "2026-03-10T11:00:00Z");
    check_next("@daily", "2026-03-10T10:00:00Z", "2026-03-11T00:00:00Z");
    check_next("@midnight", "2026-03-10T10:00:00Z", "2026-03-11T00:00:00Z");
    check_next("@weekly", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z");
    check_next("@monthly", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z");
    check_next("@yearly", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    check_next("  @Annually ", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z");
    check_next("\t0  0 * *\t* ", "2026-03-10T10:00:00Z", "2026-03-11T00:00:00Z");
}

static void out_of_years(void **state)
{
    (void)state;
    cron_expr c;
    int64_t next = 42;
    assert_int_equal(cron_parse("0 0 1 1 *", &c, NULL, 0), 0);
    assert_int_equal(cron_next(&c, at("9999-06-01T00:00:00Z"), &next), TARRY_ERANGE);
    assert_int_equal(cron_next(&c, INT64_MAX, &next), TARRY_ERANGE);
    assert_int_equal(cron_next(&c, INT64_MIN, &next), TARRY_ERANGE);
    assert_int_equal(next, 42);
    assert_int_equal(cron_parse("* * * * *", &c, NULL, 0), 0);
    assert_int_equal(cron_next(&c, at("9999-12-31T23:58:10Z"), &next), 0);
    assert_int_equal(next, at("9999-12-31T23:59:00Z"));
}

static void refused_naming_the_field(void **state)
{
    (void)state;
    check_refused("61 * * * *", "cron \"61 * * * *\": minute: 61 is out of range 0-59");
    check_refused("* 24 * * *", "cron \"* 24 * * *\": hour: 24 is out of range 0-23");
    check_refused("* * 0 * *", "cron \"* * 0 * *\": day-of-month: 0 is out of range 1-31");
    check_refused("* * * 13 *", "cron \"* * * 13 *\": month: 13 is out of range 1-12");
    check_refused("* * * * 8", "cron \"* * * * 8\": day-of-week: 8 is out of range 0-7");
    check_refused("* * * FOO *",
                  "cron \"* * * FOO *\": month: \"FOO\" is not a number 1-12 or a month name (JAN-DEC)");
    check_refused(
        "* * * * MONDAY",
        "cron \"* * * * MONDAY\": day-of-week: \"MONDAY\" is not a number 0-7 or a day name (SUN-SAT)");
    check_refused("x * * * *", "cron \"x * * * *\": minute: \"x\" is not a number");
    check_refused("* * * * FRI-MON",
                  "cron \"* * * * FRI-MON\": day-of-week: the range FRI-MON runs backwards");
    check_refused("30-10 * * * *", "cron \"30-10 * * * *\": minute: the range 30-10 runs backwards");
    check_refused("*/0 * * * *", "cron \"*/0 * * * *\": minute: a step of 0 in \"*/0\"");
    check_refused("*/x * * * *", "cron \"*/x * * * *\": minute: the step in \"*/x\" is not a number");
    check_refused("1,,2 * * * *", "cron \"1,,2 * * * *\": minute: an empty item in the list \"1,,2\"");
    check_refused("1, * * * *", "cron \"1, * * * *\": minute: an empty item in the list \"1,\"");
    check_refused("5- * * * *", "cron \"5- * * * *\": minute: a value is missing in \"5-\"");
    check_refused("5a * * * *", "cron \"5a * * * *\": minute: unexpected \"a\" in \"5a\"");
    check_refused("*-5 * * * *", "cron \"*-5 * * * *\": minute: unexpected \"-5\" in \"*-5\"");
    check_refused("0 0 30 2 *", "cron \"0 0 30 2 *\": day-of-month: never fires: no chosen day occurs in the "
                                "chosen months");
    check_refused("0 0 31 4,6,9,11 *", "cron \"0 0 31 4,6,9,11 *\": day-of-month: never fires: no chosen day "
                                       "occurs in the chosen months");
    check_refused("* * * *",
                  "cron \"* * * *\": expected 5 fields (minute hour day-of-month month day-of-week) "
                  "or an @name, found 4");
    check_refused("* * * * * *", "cron \"* * * * * *\": expected 5 fields (minute hour day-of-month month "
                                 "day-of-week) or an @name, found 6");
    check_refused("",
                  "cron \"\": expected 5 fields (minute hour day-of-month month day-of-week) or an @name, "
                  "found 0");
    check_refused("@often",
                  "cron \"@often\": unknown name \"@often\" (expected @yearly, @annually, @monthly, "
                  "@weekly, @daily, @midnight or @hourly, alone)");
    check_refused("@daily 5", "cron \"@daily 5\": unknown name \"@daily\" (expected @yearly, @annually, "
                              "@monthly, @weekly, @daily, @midnight or @hourly, alone)");
    /* a huge number is out of range, not wrapped into it */
    check_refused("99999999999999999999 * * * *",
                  "cron \"99999999999999999999 * * * *\": minute: 99999999999999999999 is out of range 0-59");
    /* a NULL expression is refused like an empty one; a NULL err is allowed */
    cron_expr c;
    assert_int_equal(cron_parse(NULL, &c, NULL, 0), TARRY_EINVAL);
    /* a long expression is quoted in part, and the message still fits */
    char long_expr[300], err[120];
    memset(long_expr, '1', sizeof long_expr - 1);
    long_expr[sizeof long_expr - 1] = '\0';
    assert_int_equal(cron_parse(long_expr, &c, err, sizeof err), TARRY_EINVAL);
    assert_true(strlen(err) < sizeof err);
    assert_non_null(strstr(err, "...\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_minute_is_strictly_after),
        cmocka_unit_test(month_ends),
        cmocka_unit_test(leap_years),
        cmocka_unit_test(day_of_month_or_day_of_week),
        cmocka_unit_test(steps_lists_and_ranges),
        cmocka_unit_test(names),
        cmocka_unit_test(macros),
        cmocka_unit_test(out_of_years),
        cmocka_unit_test(refused_naming_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
