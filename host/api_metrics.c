/*
 * api_metrics.c - GET /metrics (Prometheus text, version 0.0.4) and
 * GET /v1/functions/{name}/stats (one function's counts, success rate and
 * run-time percentiles over the last hour or day). Both read the engine's
 * counters (engine_metrics.h, fn_stats.h) and, for /metrics, the store's
 * own bookkeeping (store_usage_read): never a scan of the executions (on
 * PostgreSQL, a count of at most 10,000 entries of an index).
 *
 * May not: write anything, see an HTTP library type.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "engine.h"
#include "engine_metrics.h"
#include "notify.h"
#include "plugins.h"
#include "store_cluster.h"

/* ---- GET /metrics ------------------------------------------------------------------------ */

/* A family with one unlabelled sample. */
static void gauge(FILE *out, const char *name, const char *help, double v)
{
    metrics_family(out, name, "gauge", help);
    metrics_sample(out, name, NULL, 0, v);
}

static void counter(FILE *out, const char *name, const char *help, uint64_t v)
{
    metrics_family(out, name, "counter", help);
    metrics_sample_u64(out, name, NULL, 0, v);
}

/* One counter family with a sample per function: count `what` of each. */
static void per_function(FILE *out, const fn_stats *fns, const char *name, const char *help, fn_count what)
{
    metrics_label l = {"function", NULL};

    metrics_family(out, name, "counter", help);
    for (size_t i = 0, n = fn_stats_count_entries(fns); i < n; i++) {
        const fn_stats_entry *f = fn_stats_entry_at(fns, i);
        l.value = f->name;
        metrics_sample_u64(out, name, &l, 1, f->n[what]);
    }
}

/* Per function: created, finished by state, blocked, attempts by outcome, retries, run times. */
static void write_functions(FILE *out, const fn_stats *fns)
{
    static const struct {
        fn_count what;
        exec_state state;
    } finals[] = {{FN_SUCCEEDED, EXEC_SUCCEEDED},
                  {FN_FAILED, EXEC_FAILED},
                  {FN_CANCELLED, EXEC_CANCELLED},
                  {FN_DISCARDED, EXEC_DISCARDED}};
    size_t n = fn_stats_count_entries(fns);
    metrics_label l[2] = {{"function", NULL}, {NULL, NULL}};

    metrics_family(out, "tarry_function_executions_created_total", "counter",
                   "Executions created since the host started, per function.");
    for (size_t i = 0; i < n; i++) {
        const fn_stats_entry *f = fn_stats_entry_at(fns, i);
        l[0].value = f->name;
        metrics_sample_u64(out, "tarry_function_executions_created_total", l, 1, f->created);
    }
    metrics_family(out, "tarry_function_executions_finished_total", "counter",
                   "Executions whose final state is durable, per function and state.");
    l[1].name = "state";
    for (size_t i = 0; i < n; i++) {
        const fn_stats_entry *f = fn_stats_entry_at(fns, i);
        l[0].value = f->name;
        for (size_t k = 0; k < sizeof finals / sizeof finals[0]; k++) {
            l[1].value = exec_state_name(finals[k].state);
            metrics_sample_u64(out, "tarry_function_executions_finished_total", l, 2, f->n[finals[k].what]);
        }
    }
    per_function(out, fns, "tarry_executions_started_total",
                 "Executions whose first attempt started, per function.", FN_STARTED);
    per_function(
        out, fns, "tarry_executions_blocked_total",
        "Times an execution was blocked (nondeterminism, a missing version, quarantine), per function.",
        FN_BLOCKED);
    metrics_family(out, "tarry_attempts_total", "counter", "Attempts that ended, per function and outcome.");
    l[1].name = "outcome";
    for (size_t i = 0; i < n; i++) {
        const fn_stats_entry *f = fn_stats_entry_at(fns, i);
        l[0].value = f->name;
        for (int k = 0; k < FN_ATTEMPT_N; k++) {
            l[1].value = fn_attempt_name((fn_attempt)k);
            metrics_sample_u64(out, "tarry_attempts_total", l, 2, f->attempts[k]);
        }
    }
    per_function(out, fns, "tarry_retries_total",
                 "Retries scheduled (a failed attempt with another to come), per function.", FN_RETRIES);
    metrics_family(out, "tarry_execution_duration_seconds", "histogram",
                   "Run time of finished executions (started_at to finished_at), per function.");
    for (size_t i = 0; i < n; i++) {
        const fn_stats_entry *f = fn_stats_entry_at(fns, i);
        l[0].value = f->name;
        metrics_hist_write(out, "tarry_execution_duration_seconds", l, 1, &f->run_seconds);
    }
    metrics_family(out, "tarry_attempt_duration_seconds", "histogram",
                   "Time from an attempt's start to its end, per function.");
    for (size_t i = 0; i < n; i++) {
        const fn_stats_entry *f = fn_stats_entry_at(fns, i);
        l[0].value = f->name;
        metrics_hist_write(out, "tarry_attempt_duration_seconds", l, 1, &f->attempt_seconds);
    }
}

static void write_engine(FILE *out, const engine_stats *s, const engine_metrics *m)
{
    metrics_label l = {"state", NULL};

    /* The host's totals keep the names they had before the per-function families came: scripts and
     * dashboards read them (a family with a label more or less would be two families in one). */
    counter(out, "tarry_executions_created_total", "Executions created since the host started.", s->created);
    metrics_family(out, "tarry_executions_finished_total", "counter",
                   "Executions whose final state is durable, per state (per function: "
                   "tarry_function_executions_finished_total).");
    for (int st = EXEC_SUCCEEDED; st <= EXEC_DISCARDED; st++) {
        l.value = exec_state_name((exec_state)st);
        metrics_sample_u64(out, "tarry_executions_finished_total", &l, 1, s->finished[st]);
    }
    gauge(out, "tarry_executions_running", "Executions on a worker now.", (double)s->running);
    gauge(out, "tarry_executions_queued",
          "Executions waiting for a worker, in memory or paged out to the store.", (double)s->queued);
    gauge(out, "tarry_workers", "The --workers setting.", (double)s->workers);
    counter(out, "tarry_commits_total", "LMDB write transactions committed.", s->commits);
    metrics_family(out, "tarry_commit_seconds_total", "counter", "Time spent applying and fsyncing commits.");
    metrics_sample(out, "tarry_commit_seconds_total", NULL, 0, (double)s->commit_ns_total / 1e9);
    gauge(out, "tarry_commit_seconds_max", "The longest commit since the host started.",
          (double)s->commit_ns_max / 1e9);
    metrics_family(out, "tarry_commit_seconds", "histogram",
                   "Time to apply and fsync one batch (failed ones too).");
    metrics_hist_write(out, "tarry_commit_seconds", NULL, 0, &m->commit_seconds);
    metrics_family(out, "tarry_commit_batch_size", "histogram", "Executions written by one commit.");
    metrics_hist_write(out, "tarry_commit_batch_size", NULL, 0, &m->commit_batch);
    counter(out, "tarry_commit_failures_total",
            "Commits that failed (a full or failing disk); each retry counts.", s->commit_failures);
    gauge(out, "tarry_workers_busy", "Workers running a function now.", (double)s->workers_busy);
    gauge(out, "tarry_workers_stuck", "Workers whose function has run longer than --stuck-after.",
          (double)s->workers_stuck);
    gauge(out, "tarry_worker_oldest_run_seconds",
          "How long the longest-running function on a worker has run.", (double)s->oldest_pass_ns / 1e9);
    gauge(out, "tarry_stuck_after_seconds", "The --stuck-after threshold.", (double)s->stuck_after_ms / 1e3);
    gauge(out, "tarry_workers_abandoned", "Attempts that timed out (max_duration) and still hold a thread.",
          (double)s->workers_abandoned);
    counter(out, "tarry_plugin_reloads_total", "Plugin reloads applied (HTTP, CLI or the file watch).",
            m->plugin_reloads);
    counter(out, "tarry_plugin_load_errors_total", "Plugin files refused, at start and at each reload.",
            m->plugin_load_errors);
}

/* Failure notifications: outcomes recorded since start, and what waits in the outbox. */
static void write_notifications(FILE *out, engine *e)
{
    static const char *const outcomes[] = {"delivered", "failed", "retried"};
    notify_stats ns;
    metrics_label l = {.name = "outcome"};

    notify_get_stats(engine_notifier(e), engine_store(e), &ns);
    metrics_family(out, "tarry_notifications_total", "counter",
                   "Failure notifications, per delivery outcome.");
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) {
        const uint64_t v[] = {ns.delivered, ns.failed, ns.retried};
        l.value = outcomes[i];
        metrics_sample_u64(out, "tarry_notifications_total", &l, 1, v[i]);
    }
    gauge(out, "tarry_notifications_pending", "Failure notifications not delivered or given up on yet.",
          (double)ns.pending);
}

int api_metrics_handle(api *a, http_req *req)
{
    engine *e = api_engine(a);
    engine_metrics *m = engine_get_metrics(e);
    engine_stats s;
    store_usage u;
    store_txn *txn;
    char *body = NULL;
    size_t len = 0;
    FILE *out;
    int rc;

    if (api_read_begin(a, req, &txn) != 0)
        return 0;
    rc = store_usage_read(txn, &u);
    store_txn_abort(txn);
    if (rc != 0) {
        api_reply_store_error(a, req, rc);
        return 0;
    }
    /* A growing buffer: a metric or a function added later can never run past a fixed size. */
    if (!(out = open_memstream(&body, &len))) {
        http_reply_error(req, 500, "internal", "out of memory building the metrics");
        return 0;
    }
    engine_get_stats(e, &s);
    write_engine(out, &s, m);
    write_notifications(out, e);
    {
        int64_t retention_ms, purged_before;
        uint64_t deleted = 0;
        engine_retention_info(e, &retention_ms, &purged_before, &deleted);
        counter(out, "tarry_retention_deleted_total", "Final executions deleted by retention (ever).",
                deleted);
    }
    gauge(out, "tarry_hosts_live",
          "Hosts sharing the store that were live at this host's last heartbeat, itself included (1 alone).",
          (double)store_live_hosts(engine_store(e)));
    gauge(out, "tarry_log_followers", "Clients following an execution's log (GET .../logs?follow=1).",
          (double)engine_follow_count(e));
    gauge(out, "tarry_timers_pending",
          "Durable timers waiting: delayed starts, retry waits, sleeps and discard deadlines.",
          (double)u.timers);
    metrics_family(
        out, "tarry_store_bytes", "gauge",
        "The store's size: used (pages up to the highest in use) and map (how large it may grow).");
    metrics_sample_u64(out, "tarry_store_bytes", &(metrics_label){"kind", "used"}, 1, u.used_bytes);
    metrics_sample_u64(out, "tarry_store_bytes", &(metrics_label){"kind", "map"}, 1, u.map_bytes);
    write_functions(out, m->fns);
    /* A stream that could not grow fails at fclose: then body is not the whole text. */
    if (fclose(out) != 0 || !body)
        http_reply_error(req, 500, "internal", "out of memory building the metrics");
    else
        http_reply_text(req, 200, "text/plain; version=0.0.4", body, len);
    free(body);
    return 0;
}

/* ---- GET /v1/functions/{name}/stats -------------------------------------------------------- */

static void add_counts(cJSON *o, const uint32_t *n32, const uint64_t *n64, bool retries)
{
    for (int c = 0; c < FN_COUNT_N; c++) {
        if (c == FN_RETRIES && !retries)
            continue;
        cJSON_AddNumberToObject(o, fn_count_name((fn_count)c), n32 ? (double)n32[c] : (double)n64[c]);
    }
}

static void add_ms_or_null(cJSON *o, const char *name, double ms)
{
    if (ms < 0)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, ms);
}

int api_fn_stats_handle(api *a, http_req *req, const char *name_in_path, size_t name_len)
{
    engine *e = api_engine(a);
    const fn_stats *fns = engine_get_metrics(e)->fns;
    char name[PLUGIN_NAME_MAX + 1], window[8];
    fn_window w = FN_WINDOW_1H;
    fn_stats_view *v;
    uint64_t ended = 0;
    cJSON *root, *o, *arr;
    int got;

    if (name_len > PLUGIN_NAME_MAX || name_len == 0) {
        http_reply_error(req, 404, "not_found", "no function has a name that long (%zu bytes)", name_len);
        return 0;
    }
    memcpy(name, name_in_path, name_len);
    name[name_len] = '\0';
    if ((got = http_req_query(req, "window", window, sizeof window)) != 0) {
        if (got > 0 && strcmp(window, "1h") == 0)
            w = FN_WINDOW_1H;
        else if (got > 0 && strcmp(window, "24h") == 0)
            w = FN_WINDOW_24H;
        else {
            http_reply_error(req, 400, "invalid_query", "window: want 1h or 24h");
            return 0;
        }
    }
    /* Known: a current function, or one counted since the host started (an older version's). */
    if (!plugins_find(engine_plugins(e), name) && !fn_stats_find(fns, name)) {
        http_reply_error(req, 404, "not_found",
                         "no loaded plugin exports a function named \"%s\" (GET /v1/functions lists them)",
                         name);
        return 0;
    }
    if (!(v = malloc(sizeof *v))) {
        http_reply_error(req, 500, "internal", "out of memory");
        return 0;
    }
    fn_stats_read(fn_stats_find(fns, name), w, clock_now_ms(), v);

    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "function", name);
    cJSON_AddStringToObject(root, "window", w == FN_WINDOW_24H ? "24h" : "1h");
    api_add_time(root, "from", v->from_ms);
    api_add_time(root, "to", v->to_ms);
    cJSON_AddNumberToObject(root, "bucket_seconds", v->bucket_seconds);
    add_counts(cJSON_AddObjectToObject(root, "totals"), NULL, v->totals, true);
    for (int c = FN_SUCCEEDED; c <= FN_BLOCKED; c++)
        ended += v->totals[c];
    if (ended)
        cJSON_AddNumberToObject(root, "success_rate", (double)v->totals[FN_SUCCEEDED] / (double)ended);
    else
        cJSON_AddNullToObject(root, "success_rate");
    if (v->p50_ms < 0) {
        cJSON_AddNullToObject(root, "duration_ms");
    } else {
        o = cJSON_AddObjectToObject(root, "duration_ms");
        cJSON_AddNumberToObject(o, "p50", v->p50_ms);
        cJSON_AddNumberToObject(o, "p95", v->p95_ms);
        cJSON_AddNumberToObject(o, "p99", v->p99_ms);
    }
    arr = cJSON_AddArrayToObject(root, "buckets");
    for (size_t i = 0; i < v->bucket_count; i++) {
        const fn_stats_point *p = &v->buckets[i];
        o = cJSON_CreateObject();
        api_add_time(o, "at", p->at_ms);
        add_counts(o, p->n, NULL, false);
        add_ms_or_null(o, "p50_ms", p->p50_ms);
        add_ms_or_null(o, "p95_ms", p->p95_ms);
        add_ms_or_null(o, "p99_ms", p->p99_ms);
        cJSON_AddItemToArray(arr, o);
    }
    free(v);
    api_reply_cjson(req, 200, root);
    return 0;
}
