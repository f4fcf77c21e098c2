/*
 * test_bytesize.c - sizes as people write them (host/bytesize.h): every
 * unit, spaces, overflow and garbage refused with the text quoted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bytesize.h"
#include "status.h"

static uint64_t parsed(const char *text)
{
    char err[200];
    uint64_t n = 0;
    if (bytesize_parse(text, &n, err, sizeof err) != 0)
        fail_msg("\"%s\" refused: %s", text, err);
    return n;
}

static void test_units(void **state)
{
    (void)state;
    assert_int_equal(parsed("4096"), 4096);
    assert_int_equal(parsed("4096B"), 4096);
    assert_int_equal(parsed("512MiB"), 512ull << 20);
    assert_int_equal(parsed("512 MiB"), 512ull << 20);
    assert_int_equal(parsed("512mb"), 512ull << 20);
    assert_int_equal(parsed("64GiB"), 64ull << 30);
    assert_int_equal(parsed("64G"), 64ull << 30);
    assert_int_equal(parsed("1TiB"), 1ull << 40);
    assert_int_equal(parsed("1tb"), 1ull << 40);
    assert_int_equal(parsed("8k"), 8192);
}

static void test_refused(void **state)
{
    static const char *const bad[] = {
        "", "TiB", "-1GiB", "1.5GiB", "12XB", "1 TiB extra", " 1GiB", "99999999999999999999", "17000000TiB"};
    char err[200];
    uint64_t n = 7;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (bytesize_parse(bad[i], &n, err, sizeof err) != TARRY_EINVAL)
            fail_msg("\"%s\" was taken as %llu", bad[i], (unsigned long long)n);
        if (!strstr(err, "is not a size"))
            fail_msg("\"%s\": the reason does not say what is wrong: %s", bad[i], err);
    }
    assert_int_equal(n, 7); /* untouched on refusal */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_units), cmocka_unit_test(test_refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
