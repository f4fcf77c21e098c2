/*
 * test_hlog.c - the host log's JSON line encoder (hlog_json_line): every
 * line parses as one JSON object with time, level, pid and msg, whatever
 * bytes the message holds (quotes, backslashes, control characters, bytes
 * that are not UTF-8, valid multi-byte characters), and a message too long
 * for the buffer is cut at a character, never inside an escape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "hlog.h"

#define TIME "2026-01-02T03:04:05.678Z"

/* Encode msg[0..len) into a buffer of outlen, check the line's shape, and return the parsed msg (freed by
 * the caller with cJSON_Delete of *root). */
static const char *encode(char *out, size_t outlen, const char *msg, size_t len, cJSON **root)
{
    size_t n = hlog_json_line(out, outlen, TIME, "warn", 4242, msg, len);
    const cJSON *m;

    assert_int_equal(n, strlen(out));
    assert_true(n < outlen);
    assert_int_equal(out[n - 1], '\n');
    assert_null(memchr(out, '\n', n - 1)); /* one line */
    *root = cJSON_ParseWithLength(out, n);
    assert_non_null(*root);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(*root, "time")), TIME);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(*root, "level")), "warn");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(*root, "pid")), 4242);
    m = cJSON_GetObjectItemCaseSensitive(*root, "msg");
    assert_true(cJSON_IsString(m));
    return m->valuestring;
}

static void test_plain_and_escaped(void **state)
{
    char out[512];
    cJSON *root;
    static const char odd[] = "say \"hi\" \\ back\nnext\tline\r\x01\x1f\x7f end";

    (void)state;
    assert_string_equal(encode(out, sizeof out, "plain", 5, &root), "plain");
    cJSON_Delete(root);
    assert_string_equal(encode(out, sizeof out, odd, sizeof odd - 1, &root), odd);
    cJSON_Delete(root);
    assert_string_equal(encode(out, sizeof out, "", 0, &root), "");
    cJSON_Delete(root);
}

/* A NUL inside the bytes is a character like any other (\u0000), not the end. */
static void test_nul_byte(void **state)
{
    char out[256];
    cJSON *root;

    (void)state;
    hlog_json_line(out, sizeof out, TIME, "info", 1, "a\0b", 3);
    assert_non_null(strstr(out, "\"msg\":\"a\\u0000b\""));
    root = cJSON_Parse(out);
    assert_non_null(root);
    cJSON_Delete(root);
}

/* Valid UTF-8 is kept; each byte that is not UTF-8 becomes U+FFFD. */
static void test_utf8(void **state)
{
    char out[256];
    cJSON *root;
    static const char mixed[] =
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 bad:\xff\xc3( over:\xc0\xaf cut:\xe2\x82";

    (void)state;
    assert_string_equal(encode(out, sizeof out, mixed, sizeof mixed - 1, &root),
                        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 bad:\xef\xbf\xbd\xef\xbf\xbd( "
                        "over:\xef\xbf\xbd\xef\xbf\xbd cut:\xef\xbf\xbd\xef\xbf\xbd");
    cJSON_Delete(root);
}

/* Too long for the buffer: cut, still one valid line, at every buffer size. */
static void test_cut(void **state)
{
    char msg[600], out[700];
    cJSON *root;

    (void)state;
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = "\"\\\n\xc3\xa9\xffx"[i % 7];
    for (size_t outlen = 100; outlen <= sizeof out; outlen += 7) {
        const char *got = encode(out, outlen, msg, sizeof msg, &root);
        assert_true(strlen(got) > 0);
        cJSON_Delete(root);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_escaped),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
