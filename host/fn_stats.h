/*
 * fn_stats.h - what each function did, counted as it happens: totals since
 * the host started (for /metrics) and the last hour and day in time buckets
 * (for GET /v1/functions/{name}/stats and the dashboard's charts).
 *
 * Per function: totals, two fixed-bucket duration histograms (metrics.h),
 * a ring of 60 one-minute buckets and a ring of 96 fifteen-minute buckets,
 * each bucket with its counts and a log-scale histogram of run times. A
 * bucket belongs to one interval (its index: time / width); an event in a
 * newer interval clears the slot it lands in, and a read takes only the
 * slots whose index is in the window asked for, so nothing ever has to
 * roll the rings over on a timer. About 46 KiB per function, allocated once;
 * at most FN_STATS_MAX functions (beyond, new names are not counted per
 * function). Names come from executions, so they are the functions loaded
 * (in any version) since the host started.
 *
 * Counting is O(1) per event (a hash lookup and a few increments); a read
 * is O(buckets x bins) and never looks at executions.
 *
 * Not durable: the counters and charts start afresh when the host starts.
 *
 * Time is passed in (Unix ms), never read here: tests inject it.
 * Threads: one (the engine's loop).
 */
#ifndef TARRY_FN_STATS_H
#define TARRY_FN_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define FN_STATS_MAX 1024
#define FN_STATS_MINUTES 60  /* the 1h window: 60 buckets of 60 s */
#define FN_STATS_QUARTERS 96 /* the 24h window: 96 buckets of 900 s */

/* What a bucket counts (and the totals too). */
typedef enum fn_count {
    FN_STARTED, /* executions whose first attempt started */
    FN_SUCCEEDED,
    FN_FAILED,
    FN_CANCELLED,
    FN_DISCARDED,
    FN_BLOCKED, /* each time one is made blocked */
    FN_RETRIES, /* retries scheduled (a failed attempt with another to come) */
    FN_COUNT_N
} fn_count;

/* How one attempt ended. */
typedef enum fn_attempt {
    FN_ATTEMPT_SUCCEEDED,
    FN_ATTEMPT_FAILED,
    FN_ATTEMPT_CANCELLED,
    FN_ATTEMPT_TIMED_OUT,
    FN_ATTEMPT_CRASHED, /* the host died while it ran */
    FN_ATTEMPT_N
} fn_attempt;

const char *fn_count_name(fn_count c);     /* "started", "succeeded", ..., "retries" */
const char *fn_attempt_name(fn_attempt a); /* "succeeded", "failed", "cancelled", "timed_out", "crashed" */

typedef struct fn_bucket {
    int64_t index; /* time / width of the interval it counts; 0: never used */
    uint32_t n[FN_COUNT_N];
    uint32_t run_ms[METRICS_LOG_BINS]; /* run times of the executions finished in it */
} fn_bucket;

typedef struct fn_stats_entry {
    char *name;
    uint64_t created;       /* since the host started */
    uint64_t n[FN_COUNT_N]; /* likewise */
    uint64_t attempts[FN_ATTEMPT_N];
    metrics_hist run_seconds;     /* executions: started_at -> finished_at */
    metrics_hist attempt_seconds; /* attempts: start -> end */
    fn_bucket minutes[FN_STATS_MINUTES];
    fn_bucket quarters[FN_STATS_QUARTERS];
} fn_stats_entry;

typedef struct fn_stats fn_stats;

/* A new, empty table (*out), or TARRY_ENOMEM. */
int fn_stats_new(fn_stats **out);
void fn_stats_free(fn_stats *s);

/* The entry of `function`, made on first use. NULL when the table is full (FN_STATS_MAX) or memory
 * is short: the event is then not counted per function. Valid until fn_stats_free. */
fn_stats_entry *fn_stats_get(fn_stats *s, const char *function);
/* The entry of `function` if it has one, else NULL. */
const fn_stats_entry *fn_stats_find(const fn_stats *s, const char *function);
/* Every entry, in the order they were made. */
size_t fn_stats_count_entries(const fn_stats *s);
const fn_stats_entry *fn_stats_entry_at(const fn_stats *s, size_t i);

/* Count one `what` at now_ms (in the totals and both rings). */
void fn_stats_add(fn_stats_entry *f, fn_count what, int64_t now_ms);
/* An execution finished at now_ms after running run_ms (started_at -> finished_at; < 0: it never
 * started, and only its outcome counts). `what` is its outcome (FN_SUCCEEDED..FN_DISCARDED). */
void fn_stats_finished(fn_stats_entry *f, fn_count what, int64_t run_ms, int64_t now_ms);
/* An attempt ended with `how` after ms. */
void fn_stats_attempt(fn_stats_entry *f, fn_attempt how, int64_t ms);

/* ---- reading a window ---------------------------------------------------------------------- */

typedef enum fn_window { FN_WINDOW_1H, FN_WINDOW_24H } fn_window;

typedef struct fn_stats_point {
    int64_t at_ms; /* the bucket's start */
    uint32_t n[FN_COUNT_N];
    double p50_ms, p95_ms, p99_ms; /* -1: nothing finished in it */
} fn_stats_point;

typedef struct fn_stats_view {
    int64_t from_ms, to_ms; /* the first bucket's start; now */
    int bucket_seconds;
    size_t bucket_count;                       /* FN_STATS_MINUTES or FN_STATS_QUARTERS */
    fn_stats_point buckets[FN_STATS_QUARTERS]; /* oldest first, contiguous, the last holds now */
    uint64_t totals[FN_COUNT_N];
    double p50_ms, p95_ms, p99_ms; /* over the window; -1: nothing finished */
} fn_stats_view;

/* The window ending at now_ms of f (NULL: a function with nothing counted yet: all zero). */
void fn_stats_read(const fn_stats_entry *f, fn_window w, int64_t now_ms, fn_stats_view *out);

#endif
