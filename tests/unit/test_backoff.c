/*
 * test_backoff.c - the retry schedule (host/backoff.c): every wait lies in
 * its jitter bounds around initial * multiplier^(n-1), no wait passes the
 * cap, the attempt count and tarry_fail_permanent stop retries, zero
 * intervals mean "at once", and the random part is the one handed in (so
 * r = 0 and r -> 1 give the exact bounds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backoff.h"

/* Defer's defaults: 13 attempts, 30 s, x1.5, +-50 %, 10 min cap. */
static fn_options defaults(void)
{
    fn_options o;
    memset(&o, 0, sizeof o);
    o.retry = true;
    o.max_attempts = FN_RETRY_ATTEMPTS_DEFAULT;
    o.initial_interval_ms = FN_RETRY_INITIAL_MS_DEFAULT;
    o.max_interval_ms = FN_RETRY_MAX_MS_DEFAULT;
    o.multiplier = FN_RETRY_MULTIPLIER_DEFAULT;
    o.jitter = FN_RETRY_JITTER_DEFAULT;
    return o;
}

/* A deterministic "random source": a fixed sequence spread over [0, 1). */
static double sequence(unsigned i)
{
    return (double)((i * 2654435761u) % 1000u) / 1000.0;
}

static void test_schedule_without_jitter(void **state)
{
    fn_options o = defaults();
    (void)state;
    o.jitter = 0;
    assert_int_equal(backoff_delay_ms(&o, 1, 0.7), 30000);
    assert_int_equal(backoff_delay_ms(&o, 2, 0.1), 45000);
    assert_int_equal(backoff_delay_ms(&o, 3, 0.9), 67500);
    assert_int_equal(backoff_delay_ms(&o, 4, 0.5), 101250);
    /* 30 s * 1.5^5 = 227.8 s; 1.5^8 * 30 s = 769 s, past the 10 min cap. */
    assert_int_equal(backoff_delay_ms(&o, 6, 0.5), 227813);
    assert_int_equal(backoff_delay_ms(&o, 9, 0.5), 600000);
    assert_int_equal(backoff_delay_ms(&o, 1000, 0.5), 600000); /* pow overflows: still the cap */
}

static void test_jitter_bounds(void **state)
{
    fn_options o = defaults();
    (void)state;
    for (uint32_t n = 1; n <= 12; n++) {
        o.jitter = 0;
        int64_t base = backoff_delay_ms(&o, n, 0);
        o.jitter = 0.5;
        int64_t lo = base - base / 2, hi = base + base / 2;
        if (hi > o.max_interval_ms)
            hi = o.max_interval_ms;
        for (unsigned i = 0; i < 200; i++) {
            int64_t d = backoff_delay_ms(&o, n, sequence(i));
            if (d < lo - 1 || d > hi + 1) /* +-1: the base is rounded, the bounds computed from it */
                fail_msg("attempt %u, r %.3f: %lld ms is outside [%lld, %lld]", n, sequence(i), (long long)d,
                         (long long)lo, (long long)hi);
        }
        /* The exact ends: r = 0 is the lower bound, r just below 1 the upper (or the cap). */
        assert_true(llabs(backoff_delay_ms(&o, n, 0.0) - lo) <= 1);
        assert_true(backoff_delay_ms(&o, n, 0.999999999) >= hi - 1);
    }
    /* With the real source too. */
    for (int i = 0; i < 1000; i++) {
        double r = backoff_random();
        assert_true(r >= 0.0 && r < 1.0);
        int64_t d = backoff_delay_ms(&o, 1, r);
        assert_true(d >= 15000 && d <= 45000);
    }
}

static void test_cap(void **state)
{
    fn_options o = defaults();
    (void)state;
    o.initial_interval_ms = 1000;
    o.max_interval_ms = 5000;
    o.multiplier = 2;
    o.jitter = 1.0; /* up to twice the base: the cap still holds */
    for (uint32_t n = 1; n <= 40; n++)
        for (unsigned i = 0; i < 100; i++)
            assert_true(backoff_delay_ms(&o, n, sequence(i)) <= 5000);
    /* Out-of-range inputs are clamped, not trusted. */
    assert_true(backoff_delay_ms(&o, 3, 7.0) <= 5000);
    assert_int_equal(backoff_delay_ms(&o, 3, -1.0), 0);   /* base 4 s, r 0, jitter 1: 0 */
    assert_int_equal(backoff_delay_ms(&o, 0, 0.5), 1000); /* attempt 0 reads as 1 */
}

static void test_zero_intervals(void **state)
{
    fn_options o = defaults();
    (void)state;
    o.initial_interval_ms = 0;
    for (uint32_t n = 1; n < 20; n++)
        assert_int_equal(backoff_delay_ms(&o, n, sequence(n)), 0);
    o = defaults();
    o.max_interval_ms = 0;
    assert_int_equal(backoff_delay_ms(&o, 1, 0.5), 0);
}

static void test_attempt_count(void **state)
{
    fn_options o = defaults();
    (void)state;
    /* 13 attempts in all: the 12 first are retried, the 13th is final. */
    for (uint32_t n = 1; n < 13; n++)
        assert_true(backoff_should_retry(&o, n, false));
    assert_false(backoff_should_retry(&o, 13, false));
    assert_false(backoff_should_retry(&o, 14, false));
    /* A permanent failure is never retried. */
    assert_false(backoff_should_retry(&o, 1, true));
    /* Retries off: one attempt. */
    o.retry = false;
    o.max_attempts = 1;
    assert_false(backoff_should_retry(&o, 1, false));
    o.retry = true;
    o.max_attempts = 3;
    assert_true(backoff_should_retry(&o, 2, false));
    assert_false(backoff_should_retry(&o, 3, false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_without_jitter),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_zero_intervals),
        cmocka_unit_test(test_attempt_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
