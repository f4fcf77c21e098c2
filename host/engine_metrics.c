/*
 * engine_metrics.c - the engine's side of metrics.h and fn_stats.h: one
 * call from each place in the engine where something worth counting
 * happens (an execution created, an attempt begun or ended, a retry
 * scheduled, an end made durable, a commit done, a reload applied), and
 * nothing else. See engine_metrics.h.
 *
 * May not: allocate per event (entries are made once per function), read
 * the store, or block.
 */
#include "engine_metrics.h"

#include <stdlib.h>

#include "clock.h"
#include "engine_int.h"
#include "plugins.h"
#include "status.h"

/* Executions per batch: from a lone trigger to a burst that filled the dirty list. */
static const double batch_bounds[] = {0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
/* Seconds per commit: an fsync on a fast SSD to a disk that stalls. */
static const double commit_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                       0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};

static void count_refused(void *user, const char *file, const plugin *p, plugin_outcome outcome)
{
    (void)file;
    (void)p;
    if (outcome == PLUGIN_REFUSED)
        (*(uint64_t *)user)++;
}

int engine_metrics_init(engine *e)
{
    engine_metrics *m = calloc(1, sizeof *m);
    if (!m || fn_stats_new(&m->fns) != 0) {
        free(m);
        return TARRY_ENOMEM;
    }
    metrics_hist_init(&m->commit_batch, batch_bounds, sizeof batch_bounds / sizeof batch_bounds[0]);
    metrics_hist_init(&m->commit_seconds, commit_bounds, sizeof commit_bounds / sizeof commit_bounds[0]);
    if (e->pl) /* what the first load refused */
        plugins_report(e->pl, count_refused, &m->plugin_load_errors);
    e->metrics = m;
    return 0;
}

void engine_metrics_free(engine *e)
{
    if (e->metrics)
        fn_stats_free(e->metrics->fns);
    free(e->metrics);
    e->metrics = NULL;
}

engine_metrics *engine_get_metrics(engine *e)
{
    return e->metrics;
}

static fn_stats_entry *entry_of(engine *e, const exec *x)
{
    return e->metrics && x->rec.function ? fn_stats_get(e->metrics->fns, x->rec.function) : NULL;
}

void engine_metrics_created(engine *e, const exec *x)
{
    fn_stats_entry *f = entry_of(e, x);
    if (f)
        f->created++;
}

void engine_metrics_attempt_begins(engine *e, const exec *x)
{
    fn_stats_entry *f;
    if (x->rec.attempts == 1 && (f = entry_of(e, x)))
        fn_stats_add(f, FN_STARTED, clock_now_ms());
}

void engine_metrics_retry(engine *e, const exec *x)
{
    fn_stats_entry *f = entry_of(e, x);
    if (f)
        fn_stats_add(f, FN_RETRIES, clock_now_ms());
}

void engine_metrics_attempt_ended(engine *e, const exec *x)
{
    const store_attempt *a = &x->attempt;
    fn_stats_entry *f = entry_of(e, x);
    fn_attempt how = a->crashed                     ? FN_ATTEMPT_CRASHED
                     : a->timed_out                 ? FN_ATTEMPT_TIMED_OUT
                     : a->outcome == EXEC_SUCCEEDED ? FN_ATTEMPT_SUCCEEDED
                     : a->outcome == EXEC_CANCELLED ? FN_ATTEMPT_CANCELLED
                                                    : FN_ATTEMPT_FAILED;
    if (f)
        fn_stats_attempt(f, how, a->finished_at - a->started_at);
}

void engine_metrics_ended(engine *e, const exec *x, exec_state state)
{
    fn_stats_entry *f = entry_of(e, x);
    int64_t now = clock_now_ms(), run_ms = -1;
    fn_count what;

    if (!f)
        return;
    switch (state) {
    case EXEC_SUCCEEDED:
        what = FN_SUCCEEDED;
        break;
    case EXEC_FAILED:
        what = FN_FAILED;
        break;
    case EXEC_CANCELLED:
        what = FN_CANCELLED;
        break;
    case EXEC_DISCARDED:
        what = FN_DISCARDED;
        break;
    case EXEC_BLOCKED:
        fn_stats_add(f, FN_BLOCKED, now);
        return;
    default:
        return;
    }
    /* Run time as the API shows it: the last attempt's start to the end (none if it never ran). */
    if (x->rec.started_at && x->rec.finished_at >= x->rec.started_at)
        run_ms = x->rec.finished_at - x->rec.started_at;
    fn_stats_finished(f, what, run_ms, now);
}

void engine_metrics_commit_done(engine *e)
{
    engine_metrics *m = e->metrics;
    committer_stats cs;

    if (!m)
        return;
    /* The commit thread handed this batch back before the loop got here (commit.c's on_done):
     * its time is in the committer's total, read on the loop thread like everything else. */
    committer_get_stats(e->committer, &cs);
    metrics_hist_observe(&m->commit_seconds, (double)(cs.total_ns - m->commit_ns_seen) / 1e9);
    m->commit_ns_seen = cs.total_ns;
    metrics_hist_observe(&m->commit_batch, (double)e->entry_count);
}

void engine_metrics_reloaded(engine *e)
{
    if (!e->metrics)
        return;
    e->metrics->plugin_reloads++;
    plugins_report(e->pl, count_refused, &e->metrics->plugin_load_errors);
}
