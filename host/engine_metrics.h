/*
 * engine_metrics.h - the engine's counters and histograms for /metrics and
 * for each function's stats (fn_stats.h): what the API reads, and the one
 * hook other rooms increment (notification deliveries).
 *
 * Everything is kept on the loop thread, O(1) per event, in memory only:
 * it starts at zero when the host starts. Commit timings come from the
 * commit thread through committer_get_stats (commit.h), which the loop
 * reads once the commit thread has handed the batch back, so no field here
 * is ever touched by another thread.
 *
 * Threads: loop thread only (readers and writers).
 */
#ifndef TARRY_ENGINE_METRICS_H
#define TARRY_ENGINE_METRICS_H

#include <stdint.h>

#include "engine.h"
#include "fn_stats.h"
#include "metrics.h"

typedef struct engine_metrics {
    fn_stats *fns;               /* per function */
    metrics_hist commit_batch;   /* executions written per commit (each try of a failed one too) */
    metrics_hist commit_seconds; /* applying + fsyncing one batch */
    uint64_t commit_ns_seen;     /* the committer's total when the last commit was counted */
    uint64_t plugin_reloads;     /* reloads applied (HTTP, CLI, file watch) */
    uint64_t plugin_load_errors; /* plugin files refused, at start and at each reload */
} engine_metrics;

/* The engine's metrics, to read. Loop thread; valid while e lives. */
engine_metrics *engine_get_metrics(engine *e);

#endif
