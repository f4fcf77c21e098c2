/*
 * test_fn_stats.c - per-function stats (host/fn_stats.h) with injected
 * time: counts land in the minute and quarter-hour of the event, the rings
 * roll over (an old interval's slot is reused and its counts are gone, a
 * window shows only its own intervals), windows are contiguous and end at
 * now, percentiles come from the finished executions' run times, and the
 * table finds, grows and caps its functions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fn_stats.h"
#include "status.h"

#define MIN 60000ll
#define T0 (1767225600000ll) /* 2026-01-01T00:00:00Z: a minute and a quarter-hour boundary */

static fn_stats_view *view(const fn_stats_entry *f, fn_window w, int64_t now)
{
    static fn_stats_view v;
    fn_stats_read(f, w, now, &v);
    return &v;
}

static void test_counts_and_window(void **state)
{
    fn_stats *s;
    fn_stats_entry *f;
    fn_stats_view *v;
    (void)state;
    assert_int_equal(fn_stats_new(&s), 0);
    f = fn_stats_get(s, "send");
    fn_stats_add(f, FN_STARTED, T0 + 1000);
    fn_stats_finished(f, FN_SUCCEEDED, 120, T0 + 2000);
    fn_stats_add(f, FN_STARTED, T0 + 5 * MIN + 10);
    fn_stats_add(f, FN_RETRIES, T0 + 5 * MIN + 20);
    fn_stats_finished(f, FN_FAILED, 40, T0 + 5 * MIN + 30);
    fn_stats_finished(f, FN_CANCELLED, -1, T0 + 5 * MIN + 40); /* never ran: no run time */

    v = view(f, FN_WINDOW_1H, T0 + 5 * MIN + 50);
    assert_int_equal(v->bucket_count, 60);
    assert_int_equal(v->bucket_seconds, 60);
    assert_int_equal(v->to_ms, T0 + 5 * MIN + 50);
    assert_int_equal(v->from_ms, T0 + 5 * MIN - 59 * MIN);
    for (size_t i = 0; i < 60; i++)
        assert_int_equal(v->buckets[i].at_ms, v->from_ms + (int64_t)i * MIN);
    assert_int_equal(v->buckets[54].n[FN_SUCCEEDED], 1); /* T0's minute */
    assert_int_equal(v->buckets[59].n[FN_FAILED], 1);    /* now's */
    assert_int_equal(v->buckets[59].n[FN_CANCELLED], 1);
    assert_int_equal(v->totals[FN_STARTED], 2);
    assert_int_equal(v->totals[FN_RETRIES], 1);
    assert_true(v->buckets[53].p50_ms == -1.0);
    assert_true(v->buckets[54].p50_ms > 120 / 1.42 && v->buckets[54].p50_ms < 120 * 1.42);
    assert_true(v->p50_ms <= v->p95_ms && v->p95_ms <= v->p99_ms);
    assert_true(v->p99_ms > 120 / 1.42);
    assert_int_equal(f->run_seconds.count, 2); /* the cancelled one has no run time */
    assert_int_equal(f->n[FN_CANCELLED], 1);

    v = view(f, FN_WINDOW_24H, T0 + 5 * MIN + 50);
    assert_int_equal(v->bucket_count, 96);
    assert_int_equal(v->bucket_seconds, 900);
    assert_int_equal(v->buckets[95].at_ms, T0);
    assert_int_equal(v->buckets[95].n[FN_STARTED], 2); /* both minutes are in one quarter */
    assert_int_equal(v->from_ms, T0 - 95 * 15 * MIN);
    fn_stats_free(s);
}

static void test_rollover(void **state)
{
    fn_stats *s;
    fn_stats_entry *f;
    fn_stats_view *v;
    (void)state;
    assert_int_equal(fn_stats_new(&s), 0);
    f = fn_stats_get(s, "f");
    for (int i = 0; i < 3; i++)
        fn_stats_add(f, FN_STARTED, T0 + 30000);

    /* 59 minutes on, the first minute is still the window's oldest bucket. */
    v = view(f, FN_WINDOW_1H, T0 + 59 * MIN);
    assert_int_equal(v->buckets[0].at_ms, T0);
    assert_int_equal(v->buckets[0].n[FN_STARTED], 3);
    /* 60 minutes on, it has left the window, though nothing wrote its slot again. */
    v = view(f, FN_WINDOW_1H, T0 + 60 * MIN);
    assert_int_equal(v->totals[FN_STARTED], 0);
    /* An event an hour later lands in the same slot: the old counts are cleared, not added. */
    fn_stats_add(f, FN_STARTED, T0 + 60 * MIN + 1);
    v = view(f, FN_WINDOW_1H, T0 + 60 * MIN + 2);
    assert_int_equal(v->buckets[59].n[FN_STARTED], 1);
    assert_int_equal(v->totals[FN_STARTED], 1);
    /* The day ring still has both quarters, and drops the first after 24 h. */
    v = view(f, FN_WINDOW_24H, T0 + 60 * MIN + 2);
    assert_int_equal(v->totals[FN_STARTED], 4);
    v = view(f, FN_WINDOW_24H, T0 + 24 * 60 * MIN);
    assert_int_equal(v->totals[FN_STARTED], 1);
    v = view(f, FN_WINDOW_24H, T0 + 25 * 60 * MIN);
    assert_int_equal(v->totals[FN_STARTED], 0);
    /* Totals since start keep everything. */
    assert_int_equal(f->n[FN_STARTED], 4);
    /* A read of nothing (a function never counted): zeros, contiguous, null percentiles. */
    v = view(NULL, FN_WINDOW_1H, T0);
    assert_int_equal(v->bucket_count, 60);
    assert_int_equal(v->totals[FN_STARTED], 0);
    assert_true(v->p50_ms == -1.0 && v->buckets[59].p99_ms == -1.0);
    fn_stats_free(s);
}

static void test_table(void **state)
{
    fn_stats *s;
    char name[32];
    (void)state;
    assert_int_equal(fn_stats_new(&s), 0);
    assert_null(fn_stats_find(s, "a"));
    fn_stats_entry *a = fn_stats_get(s, "a");
    assert_non_null(a);
    assert_ptr_equal(fn_stats_get(s, "a"), a);
    assert_ptr_equal(fn_stats_find(s, "a"), a);
    /* Grows past its first slots, finds every one, keeps the order they were made in. */
    for (int i = 0; i < FN_STATS_MAX - 1; i++) {
        snprintf(name, sizeof name, "fn%d", i);
        assert_non_null(fn_stats_get(s, name));
    }
    assert_int_equal(fn_stats_count_entries(s), FN_STATS_MAX);
    for (int i = 0; i < FN_STATS_MAX - 1; i++) {
        snprintf(name, sizeof name, "fn%d", i);
        const fn_stats_entry *f = fn_stats_find(s, name);
        assert_non_null(f);
        assert_string_equal(f->name, name);
        assert_ptr_equal(fn_stats_entry_at(s, (size_t)i + 1), f);
    }
    /* Full: a new name is not counted, known ones still are. */
    assert_null(fn_stats_get(s, "one_too_many"));
    assert_ptr_equal(fn_stats_get(s, "fn7"), fn_stats_find(s, "fn7"));
    fn_stats_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_counts_and_window),
                                       cmocka_unit_test(test_rollover), cmocka_unit_test(test_table)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
