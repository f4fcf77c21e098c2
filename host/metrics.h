/*
 * metrics.h - the host's measuring tools, with no knowledge of what they
 * measure: a histogram with fixed bucket bounds (Prometheus' histogram), a
 * log-scale histogram of milliseconds that estimates percentiles (the
 * per-function charts, fn_stats.h), and helpers that write the Prometheus
 * text exposition format (version 0.0.4) to a stdio stream.
 *
 * Everything here is O(number of buckets) at most per call, and the
 * buckets are fixed at compile time: recording an event never allocates.
 *
 * Threads: none of its own; a histogram is used by one thread (the engine's
 * loop) and copied out by it.
 *
 * May not: allocate per event, know about executions or HTTP.
 */
#ifndef TARRY_METRICS_H
#define TARRY_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- fixed-bucket histogram (Prometheus) ---------------------------------------------- */

#define METRICS_BOUNDS_MAX 24

/*
 * counts[i] holds the observations v with bounds[i-1] < v <= bounds[i]
 * (not cumulative: the writer sums them), counts[n] those above the last
 * bound (+Inf). `bounds` is borrowed: a static array, ascending.
 */
typedef struct metrics_hist {
    const double *bounds;
    size_t n;
    char le[METRICS_BOUNDS_MAX][16]; /* each bound as the le label shows it, formatted once */
    uint64_t counts[METRICS_BOUNDS_MAX + 1];
    uint64_t count;
    double sum;
} metrics_hist;

/* n <= METRICS_BOUNDS_MAX (more are ignored). */
void metrics_hist_init(metrics_hist *h, const double *bounds, size_t n);
void metrics_hist_observe(metrics_hist *h, double v);

/* ---- log-scale histogram of milliseconds (percentile estimates) ------------------------ */

/*
 * Bin 0 holds [0, 1) ms; bin i (1 <= i < METRICS_LOG_BINS - 1) holds
 * [2^((i-1)/2), 2^(i/2)) ms, so each bin is sqrt(2) wide and an estimate is
 * off by at most ~41% (usually far less: see metrics_log_percentile); the
 * last bin holds everything from 2^31 ms (about 25 days) up.
 */
#define METRICS_LOG_BINS 64

/* The bin of a duration in ms (negative counts as 0). */
size_t metrics_log_bin(double ms);
/* The bin's lower and upper bound in ms (the last bin's upper bound is its lower one). */
void metrics_log_bounds(size_t bin, double *lower, double *upper);
/*
 * The q-quantile (0 < q <= 1) of the durations counted in bins[0..METRICS_LOG_BINS),
 * estimated by walking the cumulative counts to the bin holding rank
 * ceil(q * total) and interpolating inside it (geometrically, linearly in
 * bin 0). Monotone in q: p50 <= p95 <= p99 always. Returns -1 when the bins
 * are empty.
 */
double metrics_log_percentile(const uint32_t *bins, double q);

/* ---- Prometheus text (0.0.4) --------------------------------------------------------- */

typedef struct metrics_label {
    const char *name, *value; /* value is escaped on output (\\, \", \n) */
} metrics_label;

/* "# HELP name help\n# TYPE name type\n" (help must not hold a newline or backslash). */
void metrics_family(FILE *out, const char *name, const char *type, const char *help);
/* One sample line: name{labels} value. Integers print exactly, others with 15 digits. */
void metrics_sample(FILE *out, const char *name, const metrics_label *labels, size_t nlabels, double value);
void metrics_sample_u64(FILE *out, const char *name, const metrics_label *labels, size_t nlabels,
                        uint64_t value);
/* A histogram's samples: name_bucket{labels,le="..."} cumulative (le="+Inf" == count), name_sum,
 * name_count. nlabels <= 3. */
void metrics_hist_write(FILE *out, const char *name, const metrics_label *labels, size_t nlabels,
                        const metrics_hist *h);

#endif
