/*
 * test_exec_opts.c - per-execution options: metadata and idempotency keys
 * are held to Defer's limits (25 pairs, 1..256 printable characters, counted
 * in characters not bytes) and every refusal names the key and the limit;
 * discard_after takes a duration or an RFC 3339 time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "exec_opts.h"
#include "status.h"

#define assert_contains(haystack, needle)                                                                    \
    do {                                                                                                     \
        if (strstr((haystack), (needle)) == NULL)                                                            \
            fail_msg("\"%s\" does not contain \"%s\"", (haystack), (needle));                                \
    } while (0)

static int meta(const char *json, char *err, size_t errlen)
{
    err[0] = '\0';
    return exec_opts_metadata_text(json, err, errlen);
}

static void repeat(char *out, const char *unit, int times)
{
    out[0] = '\0';
    for (int i = 0; i < times; i++)
        strcat(out, unit);
}

static void test_metadata_accepted(void **state)
{
    char err[300];
    (void)state;
    assert_int_equal(meta("{}", err, sizeof err), 0);
    assert_int_equal(meta("{\"team\":\"billing\",\"region\":\"eu west\"}", err, sizeof err), 0);
    /* Non-ASCII printable characters count once each: 256 of "é" (512 bytes) fit. */
    char big[1200], json[2600];
    repeat(big, "\xc3\xa9", 256);
    snprintf(json, sizeof json, "{\"%s\":\"%s\"}", big, big);
    assert_int_equal(meta(json, err, sizeof err), 0);
}

static void test_metadata_pairs_limit(void **state)
{
    char json[2000], err[300];
    size_t at;
    (void)state;
    for (int pairs = 25; pairs <= 26; pairs++) {
        at = (size_t)snprintf(json, sizeof json, "{");
        for (int i = 0; i < pairs; i++)
            at += (size_t)snprintf(json + at, sizeof json - at, "%s\"k%d\":\"v\"", i ? "," : "", i);
        snprintf(json + at, sizeof json - at, "}");
        if (pairs == 25) {
            assert_int_equal(meta(json, err, sizeof err), 0);
        } else {
            assert_int_equal(meta(json, err, sizeof err), TARRY_EINVAL);
            assert_contains(err, "26 pairs; at most 25");
        }
    }
}

static void test_metadata_lengths(void **state)
{
    char s256[300], s257[300], json[1000], err[300];
    (void)state;
    repeat(s256, "a", 256);
    repeat(s257, "a", 257);
    snprintf(json, sizeof json, "{\"%s\":\"x\"}", s256);
    assert_int_equal(meta(json, err, sizeof err), 0);
    snprintf(json, sizeof json, "{\"%s\":\"x\"}", s257);
    assert_int_equal(meta(json, err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "longer than 256 characters");
    assert_contains(err, "the key \"aaaa");
    snprintf(json, sizeof json, "{\"team\":\"%s\"}", s257);
    assert_int_equal(meta(json, err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "metadata.\"team\": the value is longer than 256 characters");
    assert_int_equal(meta("{\"team\":\"\"}", err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "metadata.\"team\": the value is empty");
    assert_int_equal(meta("{\"\":\"x\"}", err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "is empty");
}

static void test_metadata_kinds(void **state)
{
    char err[300];
    (void)state;
    assert_int_equal(meta("{\"n\":1}", err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "metadata.\"n\": must be a string");
    assert_int_equal(meta("[\"a\"]", err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "must be an object of strings");
    assert_int_equal(meta("{\"a\":\"x\",\"a\":\"y\"}", err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "metadata.\"a\": given twice");
    assert_int_equal(meta("{\"tab\":\"a\\tb\"}", err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "control character (U+0009)");
    assert_int_equal(meta("{\"nl\\n\":\"x\"}", err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "control character");
    assert_int_equal(meta("not json", err, sizeof err), TARRY_EINVAL);
}

static void test_idempotency_key(void **state)
{
    char s256[300], s257[300], err[300];
    (void)state;
    repeat(s256, "k", 256);
    repeat(s257, "k", 257);
    assert_int_equal(exec_opts_idempotency_key("order-42", err, sizeof err), 0);
    assert_int_equal(exec_opts_idempotency_key(s256, err, sizeof err), 0);
    assert_int_equal(exec_opts_idempotency_key(s257, err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "idempotency_key: is longer than 256 characters");
    assert_int_equal(exec_opts_idempotency_key("", err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "idempotency_key: is empty");
    assert_int_equal(exec_opts_idempotency_key("a\x7f", err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "control character (U+007F) at byte 1");
    assert_int_equal(exec_opts_idempotency_key("\xc3(", err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "not valid UTF-8");
    /* A C1 control character is refused too, though it is valid UTF-8. */
    assert_int_equal(exec_opts_idempotency_key("a\xc2\x85", err, sizeof err), TARRY_EINVAL);
    /* An overlong encoding is not valid UTF-8. */
    assert_int_equal(exec_opts_idempotency_key("\xc0\xaf", err, sizeof err), TARRY_EINVAL);
}

static void test_discard_after(void **state)
{
    char err[300];
    int64_t at = -1, now = 1700000000000LL;
    (void)state;
    assert_int_equal(exec_opts_discard_after("10m", now, &at, err, sizeof err), 0);
    assert_int_equal(at, now + 600000);
    assert_int_equal(exec_opts_discard_after("0s", now, &at, err, sizeof err), 0);
    assert_int_equal(at, now);
    assert_int_equal(exec_opts_discard_after("2026-12-01T10:00:00Z", now, &at, err, sizeof err), 0);
    assert_int_equal(at, 1796119200000LL);
    assert_int_equal(exec_opts_discard_after("2026-13-01T10:00:00Z", now, &at, err, sizeof err),
                     TARRY_EINVAL);
    assert_contains(err, "discard_after: month 13");
    assert_int_equal(exec_opts_discard_after("soon", now, &at, err, sizeof err), TARRY_EINVAL);
    assert_contains(err, "discard_after:");
    assert_int_equal(exec_opts_discard_after("", now, &at, err, sizeof err), TARRY_EINVAL);
}

static void test_metadata_has(void **state)
{
    (void)state;
    assert_true(exec_opts_metadata_has("{\"a\":\"1\",\"b\":\"2\"}", "b", "2"));
    assert_false(exec_opts_metadata_has("{\"a\":\"1\"}", "a", "2"));
    assert_false(exec_opts_metadata_has("{\"a\":\"1\"}", "b", "1"));
    assert_false(exec_opts_metadata_has(NULL, "a", "1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metadata_accepted), cmocka_unit_test(test_metadata_pairs_limit),
        cmocka_unit_test(test_metadata_lengths),  cmocka_unit_test(test_metadata_kinds),
        cmocka_unit_test(test_idempotency_key),   cmocka_unit_test(test_discard_after),
        cmocka_unit_test(test_metadata_has),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
