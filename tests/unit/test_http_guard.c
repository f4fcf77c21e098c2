/*
 * test_http_guard.c - the Host, Origin and Content-Type rules and the
 * limits' flags (http_guard.h), as pure functions: which Host names a
 * loopback listener serves (loopback names with our port or none, listed
 * names), which Origins may change state, what counts as JSON, and that
 * every limit flag parses, refuses out-of-range values and fits the fd limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http_guard.h"

static bool host_ok(const http_limits *l, const char *host)
{
    return http_guard_host_ok(l, host, host ? strlen(host) : 0);
}

static bool origin_ok(const http_limits *l, const char *origin, const char *host)
{
    return http_guard_origin_ok(l, origin, origin ? strlen(origin) : 0, host, host ? strlen(host) : 0);
}

static void test_host(void **state)
{
    http_limits l;
    char err[200];
    (void)state;
    http_limits_default(&l);
    l.port = 7373;
    assert_true(host_ok(&l, "localhost"));
    assert_true(host_ok(&l, "LOCALHOST:7373"));
    assert_true(host_ok(&l, "127.0.0.1:7373"));
    assert_true(host_ok(&l, "127.255.0.9"));
    assert_true(host_ok(&l, "[::1]:7373"));
    assert_true(host_ok(&l, "[::1]"));
    assert_false(host_ok(&l, NULL));
    assert_false(host_ok(&l, ""));
    assert_false(host_ok(&l, "::1"));
    assert_false(host_ok(&l, "localhost:7374"));
    assert_false(host_ok(&l, "localhost:"));
    assert_false(host_ok(&l, "localhost:abc"));
    assert_false(host_ok(&l, "evil.example"));
    assert_false(host_ok(&l, "127.0.0.1.evil.example"));
    assert_false(host_ok(&l, "localhost.evil.example"));
    assert_false(host_ok(&l, "10.0.0.1:7373"));
    assert_false(host_ok(&l, "[::2]:7373"));
    assert_int_equal(http_limits_set(&l, "allow-host", "tarry.internal, proxy.example:443", err, sizeof err),
                     1);
    assert_true(host_ok(&l, "tarry.internal"));
    assert_true(host_ok(&l, "Tarry.Internal:8080"));
    assert_true(host_ok(&l, "proxy.example:443"));
    assert_false(host_ok(&l, "proxy.example:444"));
    assert_false(host_ok(&l, "evil.example"));
    /* Beyond loopback with no list: the token guards; any Host. With a list: only it (and loopback names). */
    http_limits_default(&l);
    l.loopback = false;
    assert_true(host_ok(&l, "evil.example"));
    assert_int_equal(http_limits_set(&l, "allow-host", "tarry.example.com", err, sizeof err), 1);
    assert_false(host_ok(&l, "evil.example"));
    assert_true(host_ok(&l, "tarry.example.com"));
}

static void test_origin(void **state)
{
    http_limits l;
    char err[200];
    (void)state;
    http_limits_default(&l);
    assert_true(origin_ok(&l, NULL, "localhost:7373"));
    assert_true(origin_ok(&l, "http://localhost:7373", "localhost:7373"));
    assert_true(origin_ok(&l, "https://LOCALHOST:7373", "localhost:7373"));
    assert_false(origin_ok(&l, "http://localhost:7374", "localhost:7373"));
    assert_false(origin_ok(&l, "http://evil.example", "localhost:7373"));
    assert_false(origin_ok(&l, "null", "localhost:7373"));
    assert_false(origin_ok(&l, "http://localhost:7373.evil.example", "localhost:7373"));
    assert_false(http_guard_cors_origin(&l, "http://app.example", 18));
    assert_int_equal(http_limits_set(&l, "cors-origin", "http://app.example", err, sizeof err), 1);
    assert_true(origin_ok(&l, "http://app.example", "localhost:7373"));
    assert_true(http_guard_cors_origin(&l, "http://app.example", 18));
    assert_false(origin_ok(&l, "http://app.example.evil", "localhost:7373"));
}

static void test_json(void **state)
{
    (void)state;
    assert_true(http_guard_is_json("application/json", 16));
    assert_true(http_guard_is_json("Application/JSON; charset=utf-8", 31));
    assert_true(http_guard_is_json(" application/json ", 18));
    assert_false(http_guard_is_json(NULL, 0));
    assert_false(http_guard_is_json("text/plain", 10));
    assert_false(http_guard_is_json("application/jsonx", 17));
    assert_false(http_guard_is_json("application/x-www-form-urlencoded", 33));
}

static void test_limits(void **state)
{
    http_limits l;
    char err[200];
    (void)state;
    http_limits_default(&l);
    assert_int_equal(l.max_body, 1u << 20);
    assert_int_equal(http_limits_set(&l, "max-body", "64KiB", err, sizeof err), 1);
    assert_int_equal(l.max_body, 64u << 10);
    assert_true(http_limits_set(&l, "max-body", "2MiB", err, sizeof err) < 0);
    assert_non_null(strstr(err, "--max-body"));
    assert_int_equal(http_limits_set(&l, "idle-timeout", "2s", err, sizeof err), 1);
    assert_int_equal(l.idle_timeout_ms, 2000);
    assert_true(http_limits_set(&l, "idle-timeout", "1ms", err, sizeof err) < 0);
    assert_int_equal(http_limits_set(&l, "max-resets", "7", err, sizeof err), 1);
    assert_int_equal(l.max_resets, 7);
    assert_true(http_limits_set(&l, "max-streams", "101", err, sizeof err) < 0);
    assert_true(http_limits_set(&l, "max-connections", "-1", err, sizeof err) < 0);
    assert_int_equal(http_limits_set(&l, "max-conn-buffer", "4MiB", err, sizeof err), 1);
    assert_int_equal(http_limits_set(&l, "max-buffer", "1GiB", err, sizeof err), 1);
    assert_int_equal(http_limits_set(&l, "no-such-limit", "1", err, sizeof err), 0);
    /* Fitting to the fd limit: the default comes from it, a configured cap is lowered to it. */
    assert_false(http_limits_fit_fds(&l, 256));
    assert_int_equal(l.max_connections, 256 - HTTP_FD_RESERVE);
    assert_int_equal(l.max_conns_per_addr, 96);
    http_limits_default(&l);
    assert_int_equal(http_limits_set(&l, "max-connections", "5000", err, sizeof err), 1);
    assert_true(http_limits_fit_fds(&l, 1024));
    assert_int_equal(l.max_connections, 1024 - HTTP_FD_RESERVE);
    http_limits_default(&l);
    assert_false(http_limits_fit_fds(&l, 1u << 20));
    assert_int_equal(l.max_connections, 4096);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
