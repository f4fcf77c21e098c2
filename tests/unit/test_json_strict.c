/*
 * test_json_strict.c - the strict JSON check (sdk/core/json_strict.h): what
 * RFC 8259 allows passes byte for byte; what cJSON would take but change
 * (or a strict reader refuse) is refused with the value's path and reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_strict.h"
#include "tarry.h"

static void accepted(const char *text, size_t len)
{
    json_strict_error err;
    if (json_strict_check(text, len, &err) != 0)
        fail_msg("refused %.*s: %s at %s (byte %zu)", (int)len, text, err.message, err.path, err.offset);
}

#define OK(lit) accepted(lit, sizeof lit - 1)

/* Refused, with this path and a message containing `what`; returns the offset. */
static size_t refused_len(const char *text, size_t len, const char *path, const char *what)
{
    json_strict_error err;
    if (json_strict_check(text, len, &err) != TARRY_EINVAL)
        fail_msg("accepted %.*s", (int)len, text);
    if (strcmp(err.path, path) != 0 || !strstr(err.message, what))
        fail_msg("%.*s: got \"%s: %s\", want path \"%s\" and \"%s\"", (int)len, text, err.path, err.message,
                 path, what);
    return err.offset;
}

#define BAD(lit, path, what) refused_len(lit, sizeof lit - 1, path, what)

static void test_valid(void **state)
{
    (void)state;
    OK("0");
    OK("-0");
    OK("-0.5e-3");
    OK("1E+2");
    OK(" null ");
    OK("true");
    OK("\"\"");
    OK("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"");
    OK("\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"");
    OK("{\"a\": [1, {\"b\": {}}, []], \"c\": {\"a\": 1}}");
    OK("9007199254740992"); /* 2^53 */
    OK("-9007199254740992");
    OK("18446744073709551616"); /* 2^64: a double holds it exactly */
    OK("123456789012345");
    OK("1.7976931348623157e308");
    OK("0.1");
    OK("{\"a\":1,\"b\":1,\"A\":1}");
    OK("[\"a\",\"a\"]"); /* equal values are fine, only keys must differ */
}

static void test_syntax(void **state)
{
    (void)state;
    BAD("", "", "expected a value, found the end");
    BAD("   ", "", "expected a value");
    BAD("01", "", "leading zeros");
    BAD("1.", "", "digit after the decimal point");
    BAD(".5", "", "expected a value");
    BAD("+1", "", "expected a value");
    BAD("1e", "", "exponent");
    BAD("[1,]", "[1]", "expected a value");
    BAD("{\"a\":1,}", "", "expected a key");
    BAD("{a:1}", "", "expected a key");
    BAD("{\"a\" 1}", "a", "expected ':'");
    BAD("[1 2]", "[0]", "expected ',' or ']'");
    BAD("tru", "", "invalid literal");
    BAD("NaN", "", "expected a value");
    BAD("\"abc", "", "string not closed");
    BAD("\"\\x\"", "", "invalid escape");
    BAD("\"\\u12g4\"", "", "four hex digits");
    BAD("{\"a\": {\"b\": [true, nul]}}", "a.b[1]", "invalid literal");
}

static void test_trailing(void **state)
{
    (void)state;
    assert_int_equal(BAD("{} x", "", "trailing"), 3);
    BAD("1 2", "", "trailing");
    BAD("{\"a\":1}}", "", "trailing");
    /* A NUL after the text: cJSON with a length would stop there and take it. */
    assert_int_equal(refused_len("{}\0{}", 5, "", "NUL byte after the JSON value"), 2);
}

static void test_nul(void **state)
{
    (void)state;
    BAD("{\"name\": \"a\\u0000b\"}", "name", "\\u0000 (NUL)");
    assert_int_equal(refused_len("{\"name\": \"a\0b\"}", 15, "name", "NUL byte in a string"), 11);
    BAD("[\"tab\there\"]", "[0]", "control character 0x09");
}

static void test_utf8(void **state)
{
    (void)state;
    BAD("\"\xff\"", "", "invalid UTF-8 (byte 0xFF)");
    BAD("\"\xc0\xaf\"", "", "invalid UTF-8");         /* overlong '/' */
    BAD("\"\xe0\x80\xaf\"", "", "invalid UTF-8");     /* overlong, 3 bytes */
    BAD("\"\xf0\x80\x80\xaf\"", "", "invalid UTF-8"); /* overlong, 4 bytes */
    BAD("\"\xed\xa0\x80\"", "", "invalid UTF-8");     /* U+D800 encoded: a surrogate */
    BAD("\"\xf4\x90\x80\x80\"", "", "invalid UTF-8"); /* past U+10FFFF */
    BAD("\"\xc3\"", "", "invalid UTF-8");             /* cut short */
    BAD("\"\xe2\x82\"", "", "invalid UTF-8");
    BAD("{\"user\": {\"n\xe9\": 1}}", "user", "invalid UTF-8 (byte 0xE9)");
    BAD("[\"\\ud800\"]", "[0]", "unpaired surrogate \\uD800");
    BAD("[\"\\udc00\"]", "[0]", "unpaired surrogate \\uDC00");
    BAD("\"\\ud800\\u0041\"", "", "unpaired surrogate");
    BAD("\xef\xbb\xbf{}", "", "expected a value"); /* RFC 8259: no byte order mark */
}

static void test_duplicates(void **state)
{
    (void)state;
    BAD("{\"a\":1,\"a\":2}", "a", "duplicate key");
    BAD("{\"args\": {\"user\": {\"id\": 1, \"name\": \"x\", \"id\": 2}}}", "args.user.id", "duplicate key");
    BAD("{\"a\":1,\"\\u0061\":2}", "a", "duplicate key"); /* the same key, escaped */
    BAD("[{}, {\"k\": [{\"x\":1, \"x\":1}]}]", "[1].k[0].x", "duplicate key");
    OK("{\"a\": {\"a\": {\"a\": 1}}}"); /* one per object */
    OK("[{\"a\": 1}, {\"a\": 2}]");
}

static void test_numbers(void **state)
{
    (void)state;
    BAD("{\"args\": {\"user\": {\"id\": 9007199254740993}}}", "args.user.id",
        "integer 9007199254740993 cannot be represented exactly");
    BAD("[-9007199254740993]", "[0]", "cannot be represented exactly");
    BAD("12345678901234567890", "", "cannot be represented exactly");
    BAD("{\"x\": 1e999}", "x", "number 1e999 is out of range");
    BAD("-1e400", "", "out of range");
    BAD("1e-400", "", "underflows to 0");
    OK("0e-400"); /* zero is zero */
    OK("0.0e999");
}

static void test_describe(void **state)
{
    json_strict_error err;
    char out[600];
    static const char text[] = "{\"args\": {\"user\": {\"id\": 9007199254740993}}}";
    (void)state;

    assert_int_equal(json_strict_check(text, sizeof text - 1, &err), TARRY_EINVAL);
    json_strict_describe(&err, NULL, out, sizeof out);
    assert_string_equal(out, "args.user.id: integer 9007199254740993 cannot be represented exactly (beyond "
                             "2^53; send it as a string) "
                             "(byte 25)");
    json_strict_describe(&err, "body", out, sizeof out);
    assert_true(strncmp(out, "body.args.user.id: integer", 26) == 0);
    assert_int_equal(json_strict_check("1 x", 3, &err), TARRY_EINVAL);
    json_strict_describe(&err, NULL, out, sizeof out);
    assert_string_equal(out, "unexpected text after the JSON value (trailing characters) (byte 2)");
}

static void test_depth(void **state)
{
    size_t n = JSON_STRICT_MAX_DEPTH + 1;
    char *deep = malloc(2 * n + 1);
    json_strict_error err;
    (void)state;

    memset(deep, '[', n);
    memset(deep + n, ']', n);
    assert_int_equal(json_strict_check(deep, 2 * n, &err), TARRY_EINVAL);
    assert_non_null(strstr(err.message, "nested deeper than"));
    assert_int_equal(json_strict_check(deep + 1, 2 * n - 2, &err), 0);
    free(deep);
}

/* A path too long for the error is cut at a character boundary, so the message stays UTF-8
 * (tests/fuzz/regressions/json/path-cut-inside-a-character found it cut inside one). */
static void test_long_path(void **state)
{
    char text[2000], *at = text;
    json_strict_error err;
    size_t n;
    (void)state;

    for (int depth = 0; depth < 3; depth++) {
        *at++ = '{';
        *at++ = '"';
        for (int i = 0; i < 101; i++)
            at += sprintf(at, "\xc3\xa9"); /* 'é', two bytes: the cut falls inside one */
        at += sprintf(at, "\":");
    }
    at += sprintf(at, "nul}}}");
    assert_int_equal(json_strict_check(text, (size_t)(at - text), &err), TARRY_EINVAL);
    n = strlen(err.path);
    assert_true(n > 3 && n < sizeof err.path);
    assert_string_equal(err.path + n - 3, "...");
    for (size_t i = 0; i < n;) {
        size_t k = json_strict_utf8_len((const unsigned char *)err.path + i, n - i);
        assert_true(k > 0);
        i += k;
    }
}

static void test_member(void **state)
{
    static const char text[] =
        " { \"delay\" : \"1s\", \"\\u0061rgs\" : {\"x\": [1, \"]}\"]} , \"n\":-1.5e3 } ";
    size_t off, len;
    (void)state;

    assert_int_equal(json_strict_check(text, sizeof text - 1, NULL), 0);
    assert_true(json_strict_member(text, sizeof text - 1, "args", &off, &len));
    assert_int_equal(len, strlen("{\"x\": [1, \"]}\"]}"));
    assert_memory_equal(text + off, "{\"x\": [1, \"]}\"]}", len);
    assert_true(json_strict_member(text, sizeof text - 1, "n", &off, &len));
    assert_memory_equal(text + off, "-1.5e3", len);
    assert_int_equal(len, 6);
    assert_true(json_strict_member(text, sizeof text - 1, "delay", &off, &len));
    assert_memory_equal(text + off, "\"1s\"", len);
    assert_false(json_strict_member(text, sizeof text - 1, "metadata", &off, &len));
    assert_false(json_strict_member("[1]", 3, "args", &off, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),     cmocka_unit_test(test_syntax),   cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_nul),       cmocka_unit_test(test_utf8),     cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_numbers),   cmocka_unit_test(test_describe), cmocka_unit_test(test_depth),
        cmocka_unit_test(test_long_path), cmocka_unit_test(test_member),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
