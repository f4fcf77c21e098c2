/*
 * engine.h - executions in motion: triggers, the ready queue, dispatch to
 * the libuv threadpool, completions, timers and sleeps, children and
 * wakes, recovery, reschedule, reload and upgrade, group commit.
 *
 * Threads: every engine_* call is made on the loop thread. Plugin code runs
 * only on threadpool workers.
 *
 * Group commit: changes are collected into a batch, which the commit thread
 * (commit.h) makes durable while the loop goes on; the next batch holds
 * everything that changed meanwhile. Only after a batch commits are its
 * callers answered (engine_waiter callbacks) and the executions it queued
 * handed to workers. Nothing is acknowledged before it is durable.
 *
 * Reads: the API reads committed records straight from the store; the
 * engine owns all writes.
 */
#ifndef TARRY_ENGINE_H
#define TARRY_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "list.h"
#include "plugins.h"
#include "record.h"
#include "store.h"

typedef struct engine engine;

/* A pass running longer holds its worker "stuck" (engine_set_stuck_after, --stuck-after). */
#define ENGINE_STUCK_AFTER_MS 60000

/* Crashes of the host an execution caused (deathnote.h names it) before it is failed. */
#define ENGINE_POISON_CRASHES 3
/* Different executions of one function crashing the host within a window quarantine it. */
#define ENGINE_QUARANTINE_CRASHES 3
#define ENGINE_QUARANTINE_WINDOW_MS 60000

int engine_create(engine **out, uv_loop_t *loop, store *st, plugins *pl, int workers);

/*
 * How many queued executions the engine keeps in memory (default 10,000;
 * at least 4 per worker). The rest wait in the store and are paged in, in
 * order, so memory does not grow with the backlog. Call before engine_start.
 */
void engine_set_queue_window(engine *e, size_t n);

/*
 * Why `function` is quarantined (its executions kept crashing the host:
 * engine_trigger answers TARRY_EQUARANTINED) into `why`; 0, or
 * TARRY_ENOTFOUND when it is not.
 */
int engine_quarantine_reason(engine *e, const char *function, char *why, size_t len);

/*
 * Bound what an execution may log (docs/API.md): at most max_lines lines are
 * stored per execution (default 10,000; the rest are counted, and a last
 * line says how many were dropped), each cut to line_max bytes (default
 * 4 KiB). 0 keeps a default. Call before engine_start.
 */
void engine_set_log_limits(engine *e, uint32_t max_lines, size_t line_max);

/*
 * The crash limits (docs/API.md): an execution is failed as a poison pill
 * after `poison` crashes of its own (default ENGINE_POISON_CRASHES); a
 * function is quarantined when `quarantine` different executions of it
 * crashed the host within `window_ms` (defaults ENGINE_QUARANTINE_*;
 * quarantine at most STORE_FN_CRASHES_KEPT). 0 keeps a default. Call
 * before engine_start.
 */
void engine_set_crash_limits(engine *e, uint32_t poison, uint32_t quarantine, int64_t window_ms);

/*
 * A pass running longer than `ms` holds its worker "stuck": it is logged
 * once, counted in engine_stats, and when every worker is stuck the host
 * says so (once per change). Default ENGINE_STUCK_AFTER_MS. A
 * function that never returns cannot be stopped (it runs in-process); this
 * makes it visible. Call before engine_start.
 */
void engine_set_stuck_after(engine *e, int64_t ms);

/*
 * When the pass execution `id` is running on a worker now started (Unix ms,
 * in *started_ms): 0, or TARRY_ENOTFOUND if no pass of it is on a worker.
 * A resumed workflow's pass starts later than its attempt (started_at).
 */
int engine_pass_started(const engine *e, const exec_id *id, int64_t *started_ms);

/*
 * Recover (running executions are re-queued; the one the last death names is
 * failed as a poison pill after ENGINE_POISON_CRASHES crashes of its own;
 * ones a death that named nobody found running run alone first; queued ones are loaded;
 * timers are armed; overdue ones start now) and start working.
 */
int engine_start(engine *e);

/*
 * Stop starting executions; call `done` once nothing runs and everything is
 * committed. Waiters still pending then are not called.
 */
void engine_drain(engine *e, void (*done)(void *user), void *user);

/* Close the engine's libuv handles; free it in their close callbacks. */
void engine_close(engine *e);

/* ---- waiting for executions ------------------------------------------------ */

typedef struct engine_waiter engine_waiter;

/*
 * Called once per waiter, on the loop thread, after the commit that made
 * the answer durable. status 0: `rec` is the execution as committed (borrowed
 * for the call). ENGINE_TIMEOUT: the wait ran out and `rec` is NULL (for a
 * result wait: read the store for the current state). A negative TARRY_E*
 * code: the commit failed (TARRY_EFULL: the store is full); `rec` is NULL.
 */
typedef void (*engine_waiter_cb)(engine_waiter *w, int status, const exec_record *rec);

#define ENGINE_TIMEOUT 1

/* Embed in your own struct; the engine links it while it waits. */
struct engine_waiter {
    list_node node;     /* in an execution's ack list or a result wait list */
    list_node deadline; /* in the engine's deadline list, when waiting with a deadline */
    int64_t deadline_ms;
    exec_id id;
    int kind;
    engine_waiter_cb cb;
};

/* Forget a waiter: its callback will not be called. Safe to call twice. */
void engine_waiter_cancel(engine *e, engine_waiter *w);

typedef struct engine_trigger_req {
    const char *function;
    const char *args;            /* JSON text */
    const char *metadata;        /* JSON object text, or NULL (checked: exec_opts.h) */
    const char *idempotency_key; /* or NULL (checked: exec_opts.h) */
    int64_t discard_at_ms;       /* not started by then: discarded; 0: never */
    int64_t run_at_ms;           /* 0: now */
    int64_t wait_ms;             /* < 0: answer at commit; >= 0: wait this long for the result */
    const exec_id *rerun_of;     /* a re-run of this execution (indexed both ways), or NULL */
} engine_trigger_req;

/*
 * Start an execution. Returns TARRY_ENOTFOUND (no such function; nothing
 * happens), TARRY_EFULL (the store was just found full: new work is refused
 * for a second, then tried again) or 0, and then calls w->cb once: with the record once it is
 * committed, or, when req->wait_ms >= 0, with the final record if it
 * finished within the wait (the record and its result are then committed
 * together) or else with the record as committed when the wait ran out.
 * The engine copies the request's strings. If the commit fails, w->cb gets
 * the error (TARRY_EFULL when the store is full) and nothing of the
 * execution is ever stored: an error means "not accepted".
 */
int engine_trigger(engine *e, const engine_trigger_req *req, engine_waiter *w);

/*
 * engine_trigger with an idempotency key the function already has (kept for
 * engine_set_idempotency_ttl), with the same args: nothing new is made, and
 * w->id is the execution the key names. ENGINE_DUPLICATE: it is not
 * committed yet, w->cb is called once it is (as for a new one);
 * ENGINE_DUPLICATE_STORED: it is in the store, w->cb is never called. With
 * other args: TARRY_EEXIST, nothing happens. A keyed trigger never runs
 * before it is committed (req->wait_ms then waits from the commit on).
 */
#define ENGINE_DUPLICATE 2
#define ENGINE_DUPLICATE_STORED 3
#define ENGINE_IDEMPOTENCY_TTL_MS (24 * 3600 * 1000LL)
/* How long an idempotency key is kept (default ENGINE_IDEMPOTENCY_TTL_MS). Call before engine_start. */
void engine_set_idempotency_ttl(engine *e, int64_t ttl_ms);

#define ENGINE_RETENTION_DEFAULT_MS (30 * 24 * 3600 * 1000LL)
/* How long a final execution is kept after it ended, unless its function says otherwise
 * (default ENGINE_RETENTION_DEFAULT_MS; 0: forever). Call before engine_start. */
void engine_set_retention(engine *e, int64_t ms);
int64_t engine_retention_default(const engine *e);
/* The host's retention, and what retention deleted so far (purged_before 0: nothing yet). */
int engine_retention_info(engine *e, int64_t *default_ms, int64_t *purged_before, uint64_t *deleted);

/*
 * Call w->cb when execution `id` is committed in a final state, or with
 * ENGINE_TIMEOUT after wait_ms. The caller has read the store and seen it
 * not final in this same loop turn.
 */
void engine_wait_result(engine *e, const exec_id *id, int64_t wait_ms, engine_waiter *w);

/*
 * Move an execution's pending timer to `when_ms` (a delayed start, or the
 * end of the durable sleep it waits in; in the past means now). Returns
 * TARRY_ENOTFOUND, TARRY_ESTATE (it has no pending timer: running, queued,
 * final...), TARRY_EFULL (see engine_trigger) or 0, and then calls w->cb
 * once the change is committed.
 */
int engine_reschedule(engine *e, const exec_id *id, int64_t when_ms, engine_waiter *w);

/*
 * Cancel an unfinished execution and every unfinished execution it started
 * (engine_cancel.c). Returns TARRY_ENOTFOUND, TARRY_ESTATE (it is final:
 * read its state from the store), TARRY_EFULL (see engine_trigger) or 0, and
 * then calls w->cb once the cancel is durable, with the record as committed:
 * `cancelled`, or `running` with cancel_requested (a pass on a worker cannot
 * be stopped: tarry_is_cancelled() turns true in it, and what it returns is
 * discarded; it becomes cancelled then). TARRY_ESTATE also when its final
 * state is not committed yet: the store may still show it unfinished (or not
 * at all, for a ?wait trigger's), and engine_wait_result answers once it is.
 */
int engine_cancel(engine *e, const exec_id *id, engine_waiter *w);

/*
 * Rescan the plugins folder off the loop (plugins.h): new versions become
 * current, executions keep the version they are pinned to. w (may be NULL)
 * is called with status 0 once the reload is applied; plugins_report() then
 * says what it did.
 */
int engine_reload(engine *e, engine_waiter *w);
/* engine_reload, and on a shared store every other host too (each rescans its own folder once
 * this host's next batch commits, and records what it then serves: GET /v1/cluster). */
int engine_reload_everywhere(engine *e, engine_waiter *w);
/* The plugin versions serving new triggers, as a malloc'd JSON array of {name, version, hash}
 * (NULL: out of memory). Loop thread. */
char *engine_plugins_json(engine *e);

/* When current function `function`'s cron schedule fires next (Unix ms), into *out_ms: 0, or
 * TARRY_ENOTFOUND (no schedule). Loop thread. */
int engine_cron_next_fire(engine *e, const char *function, int64_t *out_ms);

/*
 * Move an unfinished execution that is not running to the current version
 * of its plugin (or to the loaded version `to_hash`). A blocked one is
 * queued to replay on it. Returns TARRY_ENOTFOUND (no such execution, or the
 * version lacks its function), TARRY_ESTATE (running or final), TARRY_EFULL
 * (see engine_trigger) or 0, and then calls w->cb once the change is
 * committed.
 */
int engine_upgrade(engine *e, const exec_id *id, const char *to_hash, engine_waiter *w);

/* ---- introspection --------------------------------------------------------- */

typedef struct engine_stats {
    uint64_t created, commits, finished[EXEC_STATE_COUNT];
    uint64_t commit_ns_total, commit_ns_max; /* applying + fsyncing batches */
    uint64_t commit_failures;                /* commits that failed (each try of a retried batch counts) */
    size_t running, queued, workers;
    size_t workers_busy;      /* passes on a worker now */
    size_t workers_stuck;     /* ... of which running longer than the stuck threshold */
    size_t workers_abandoned; /* ... of which timed out (max_duration) and not returned: their threads are
                                 busy, they do not count towards --workers */
    uint64_t oldest_pass_ns;  /* how long the longest-running of them has run; 0 if none */
    int64_t stuck_after_ms;   /* the threshold (engine_set_stuck_after) */
} engine_stats;

void engine_get_stats(const engine *e, engine_stats *out);
/* Why the last failed commit failed (loop thread; valid until the next one fails). */
const char *engine_commit_error(const engine *e);
plugins *engine_plugins(const engine *e);
store *engine_store(const engine *e);
uv_loop_t *engine_loop(const engine *e);

/* ---- this engine as a host (engine_host.c) ------------------------------------------------
 * Who holds the work this engine runs, made at engine_create: new for every engine process, so an
 * engine the supervisor restarts is a new holder of work (GET /v1/cluster shows it). */
#define ENGINE_HOST_ID_LEN 16
#define ENGINE_ADDRESS_MAX 270 /* the longest address a host gives the others: a DNS name and a port */

typedef struct engine_host {
    char id[ENGINE_HOST_ID_LEN + 1];      /* hex digits, random */
    char hostname[256];                   /* gethostname(2); "" when it failed */
    long pid;                             /* the engine process */
    char address[ENGINE_ADDRESS_MAX + 1]; /* "IP:PORT" it serves, or --advertise's HOST:PORT; "" till set */
    int64_t started_at;                   /* Unix ms, when the engine was created */
} engine_host;

/* The address this engine serves (copied; cut to fit). Before engine_start. */
void engine_host_set_address(engine *e, const char *address);
/* This engine's identity: borrowed, lives as long as the engine. */
const engine_host *engine_host_self(const engine *e);
/*
 * Several hosts on one store (store_cluster.h): the host ids this data folder's previous engines
 * had, newest first (n 0: none known; at most ENGINE_PREV_HOSTS_MAX are kept), and the lease (0:
 * the store's default). At start this engine takes over what the newest of them that joined the
 * store holds: an engine killed after it joined but before it recorded itself as the folder's
 * last (serve.c) holds what it took over from the one before. Before engine_start.
 */
#define ENGINE_PREV_HOSTS_MAX 4
void engine_set_cluster(engine *e, const char (*prev_hosts)[ENGINE_HOST_ID_LEN + 1], size_t n,
                        int64_t lease_ms);

/* A pass on a worker now (engine_passes_list). */
typedef struct engine_pass_info {
    exec_id id;
    const char *function;       /* borrowed: valid until the loop turn ends */
    uint32_t attempt;           /* 1 for the first */
    int64_t attempt_started_at; /* Unix ms: the attempt's start (a resumed workflow's pass starts later) */
    int64_t pass_started_at;    /* Unix ms: when this pass went to its worker */
    bool abandoned;             /* timed out (max_duration) and not returned: holds a thread, not a worker */
} engine_pass_info;

/*
 * The passes on workers now, oldest first: the first `max` into out (out may be NULL when max is 0).
 * Returns how many there are in all, which may be more than max. Loop thread; O(passes).
 */
size_t engine_passes_list(const engine *e, engine_pass_info *out, size_t max);

/* ---- log followers (engine_follow.c) ------------------------------------------------------
 * Someone following an execution's log (api_logs.c): woken on the loop after each commit that
 * wrote to the execution (new lines, a new state), so it reads what is new from the store. The
 * follower's memory; the engine only links it. wake(f, false) may not remove f; wake(f, true)
 * means the engine is closing: f is already unlinked and must stop following. */
#define ENGINE_FOLLOWERS_MAX 1024

typedef struct engine_follower engine_follower;
struct engine_follower {
    exec_id id;
    void (*wake)(engine_follower *f, bool closing);
    engine_follower *prev, *next; /* the engine's: the others following the same id */
};

/* Link f (id and wake set): 0, TARRY_EFULL when ENGINE_FOLLOWERS_MAX already follow, TARRY_ENOMEM. */
int engine_follow_add(engine *e, engine_follower *f);
void engine_follow_remove(engine *e, engine_follower *f);
size_t engine_follow_count(const engine *e);
/* The failure notifier (notify.h; borrowed, outlives the engine's batches), or NULL. Before engine_start. */
struct notifier;
void engine_set_notifier(engine *e, struct notifier *n);
struct notifier *engine_notifier(const engine *e);

#endif
