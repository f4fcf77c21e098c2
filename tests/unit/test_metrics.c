/*
 * test_metrics.c - the measuring tools (host/metrics.h): a fixed-bucket
 * histogram's buckets and its Prometheus text (cumulative, +Inf == count),
 * label escaping, and the log-scale histogram's bins and percentile
 * estimates (exact bin edges, error bounded by a bin's width, p50 <= p95 <=
 * p99, empty -> -1).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static const double bounds[] = {0.1, 1, 10};

static void test_hist_buckets(void **state)
{
    metrics_hist h;
    (void)state;
    metrics_hist_init(&h, bounds, 3);
    metrics_hist_observe(&h, 0.05); /* <= 0.1 */
    metrics_hist_observe(&h, 0.1);  /* le is inclusive */
    metrics_hist_observe(&h, 0.5);
    metrics_hist_observe(&h, 10);
    metrics_hist_observe(&h, 11); /* +Inf */
    assert_int_equal(h.counts[0], 2);
    assert_int_equal(h.counts[1], 1);
    assert_int_equal(h.counts[2], 1);
    assert_int_equal(h.counts[3], 1);
    assert_int_equal(h.count, 5);
    assert_true(fabs(h.sum - 21.65) < 1e-9);
}

/* The text of a call, as a malloc'd string. */
static char *text_of(void (*write)(FILE *, void *), void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    write(out, arg);
    assert_int_equal(fclose(out), 0);
    return buf;
}

static void write_hist(FILE *out, void *arg)
{
    metrics_label l = {"function", "a\"b\\c\nd"};
    metrics_family(out, "t_seconds", "histogram", "Test.");
    metrics_hist_write(out, "t_seconds", &l, 1, arg);
}

static void test_hist_text(void **state)
{
    metrics_hist h;
    char *text;
    (void)state;
    metrics_hist_init(&h, bounds, 3);
    metrics_hist_observe(&h, 0.05);
    metrics_hist_observe(&h, 5);
    metrics_hist_observe(&h, 50);
    text = text_of(write_hist, &h);
    assert_string_equal(text, "# HELP t_seconds Test.\n"
                              "# TYPE t_seconds histogram\n"
                              "t_seconds_bucket{function=\"a\\\"b\\\\c\\nd\",le=\"0.1\"} 1\n"
                              "t_seconds_bucket{function=\"a\\\"b\\\\c\\nd\",le=\"1\"} 1\n"
                              "t_seconds_bucket{function=\"a\\\"b\\\\c\\nd\",le=\"10\"} 2\n"
                              "t_seconds_bucket{function=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 3\n"
                              "t_seconds_sum{function=\"a\\\"b\\\\c\\nd\"} 55.05\n"
                              "t_seconds_count{function=\"a\\\"b\\\\c\\nd\"} 3\n");
    free(text);
}

static void write_values(FILE *out, void *arg)
{
    (void)arg;
    metrics_sample(out, "v", NULL, 0, 3.0);
    metrics_sample(out, "v", NULL, 0, 0.25);
    metrics_sample(out, "v", NULL, 0, INFINITY);
    metrics_sample_u64(out, "v", NULL, 0, UINT64_MAX);
}

static void test_values(void **state)
{
    char *text = text_of(write_values, NULL);
    (void)state;
    assert_string_equal(text, "v 3\nv 0.25\nv +Inf\nv 18446744073709551615\n");
    free(text);
}

static void test_log_bins(void **state)
{
    double lo, hi;
    (void)state;
    assert_int_equal(metrics_log_bin(-5), 0);
    assert_int_equal(metrics_log_bin(NAN), 0);
    assert_int_equal(metrics_log_bin(0.5), 0);
    assert_int_equal(metrics_log_bin(1), 1);     /* [1, 1.41) */
    assert_int_equal(metrics_log_bin(1.5), 2);   /* [1.41, 2) */
    assert_int_equal(metrics_log_bin(2), 3);     /* [2, 2.83) */
    assert_int_equal(metrics_log_bin(1024), 21); /* 2^10 starts bin 21 */
    assert_int_equal(metrics_log_bin(1e12), METRICS_LOG_BINS - 1);
    /* Every value lies inside its bin's bounds. */
    for (double v = 1; v < 2e9; v *= 1.07) {
        size_t b = metrics_log_bin(v);
        metrics_log_bounds(b, &lo, &hi);
        if (v < lo || v >= hi)
            fail_msg("%g in bin %zu [%g, %g)", v, b, lo, hi);
    }
    metrics_log_bounds(METRICS_LOG_BINS - 1, &lo, &hi);
    assert_true(lo == hi && lo == exp2(31));
}

static void test_percentiles(void **state)
{
    uint32_t bins[METRICS_LOG_BINS] = {0};
    double p50, p95, p99;
    (void)state;
    assert_true(metrics_log_percentile(bins, 0.5) == -1.0);
    /* 1..1000 ms, once each: each estimate is within one bin (x sqrt 2) of the true value. */
    for (int v = 1; v <= 1000; v++)
        bins[metrics_log_bin(v)]++;
    p50 = metrics_log_percentile(bins, 0.50);
    p95 = metrics_log_percentile(bins, 0.95);
    p99 = metrics_log_percentile(bins, 0.99);
    assert_true(p50 <= p95 && p95 <= p99);
    assert_true(p50 > 500 / M_SQRT2 && p50 < 500 * M_SQRT2);
    assert_true(p95 > 950 / M_SQRT2 && p95 < 950 * M_SQRT2);
    assert_true(p99 > 990 / M_SQRT2 && p99 < 990 * M_SQRT2);
    /* Monotone in q, everywhere. */
    double last = 0;
    for (double q = 0.001; q <= 1.0; q += 0.001) {
        double p = metrics_log_percentile(bins, q);
        if (p < last)
            fail_msg("q %g gives %g < %g", q, p, last);
        last = p;
    }
    /* One value: every percentile is inside its bin. */
    memset(bins, 0, sizeof bins);
    bins[metrics_log_bin(250)] = 1;
    double lo, hi;
    metrics_log_bounds(metrics_log_bin(250), &lo, &hi);
    p50 = metrics_log_percentile(bins, 0.5);
    p99 = metrics_log_percentile(bins, 0.99);
    assert_true(p50 == p99 && p50 >= lo && p50 < hi);
    /* 99 fast and 1 slow: p50 and p95 are fast, p99 is the 99th value (fast), q=1 the slow one. */
    memset(bins, 0, sizeof bins);
    bins[metrics_log_bin(2)] = 99;
    bins[metrics_log_bin(10000)] = 1;
    assert_true(metrics_log_percentile(bins, 0.95) < 3);
    assert_true(metrics_log_percentile(bins, 0.99) < 3);
    assert_true(metrics_log_percentile(bins, 1.0) > 10000 / M_SQRT2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hist_buckets), cmocka_unit_test(test_hist_text),
                                       cmocka_unit_test(test_values), cmocka_unit_test(test_log_bins),
                                       cmocka_unit_test(test_percentiles)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
