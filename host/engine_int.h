/*
 * engine_int.h - what the engine's rooms share (private: nothing outside
 * host/engine*.c includes it). engine.h is the public interface.
 *
 * The rooms, each one concern:
 *   engine.c           create, start, drain, close, triggers, the end of a loop turn (flush)
 *   engine_exec.c      executions in memory, and the one place that moves their state (lifecycle.h)
 *   engine_dispatch.c  the ready queue, workers, passes and their completions, children, wakes,
 *                      the step-checkpoint handshake
 *   engine_timers.c    delayed starts and durable sleeps: arming, loading what is due, reschedule
 *   engine_batch.c     group commit: building a batch from the dirty list, and what a commit
 *                      (or a failed one) does to each execution in it
 *   engine_waiters.c   callers waiting for a commit or a result, and their deadlines
 *   engine_recovery.c  start after a crash: who the death names (deathnote.h), re-queue, suspects,
 *                      poison pills, pinned versions
 *   engine_quarantine.c functions whose executions keep crashing the host
 *   engine_versions.c  reload, upgrade, and closing versions nothing uses any more
 *   engine_watch.c     passes on workers: how long each has run, and workers stuck past a threshold
 *   engine_host.c      this engine as a holder of work: host id, hostname, pid, address, start
 *   engine_limits.c    concurrency limits: per-function slots, executions held while their function is full
 *   engine_cron.c      functions with a cron: one execution per due time, on a timer
 *   engine_cancel.c    cancel (now, or cooperatively while running, with what it started) and
 *                      discard (not started by its discard_after)
 *   engine_retry.c     attempts: what is kept of each, retries (backoff.h), max_duration timeouts
 *   engine_idem.c      idempotency keys: uncommitted ones in a map, committed ones in the store, the sweep
 *   engine_share.c     children shared by idempotency key: calls of other parents that wait for them
 *   engine_final.c     an execution's end (final or blocked): the hooks of the rooms that follow it
 *   engine_follow.c    followers of an execution's log, woken after each commit that wrote to it
 *   engine_metrics.c   counters for /metrics and each function's stats: one call where each event happens
 *   engine_retention.c deleting final executions whose retention is over, a few per batch
 *
 * Invariants (every room keeps them):
 *   - an execution in memory is in `active` (by id) until it is freed;
 *   - its state changes only through engine_exec_move(), which checks
 *     lifecycle.h's table;
 *   - `written_state` is the state in the last batch built for it (what
 *     the store will hold once that batch commits; EXEC_NONE: never
 *     written), and index changes are computed from it; `committed_state`
 *     is what is durable now. The record in memory may be ahead of both
 *     while the execution is on the dirty list, or deferred;
 *   - one batch is in flight at a time (commit.h); an execution leaves
 *     memory only in the callback of the batch that made it final,
 *     scheduled, waiting or blocked, and only if nothing changed it since;
 *   - a deferred execution (a trigger that waits for its result) has been
 *     acknowledged to nobody, so it is written only once it is final or
 *     its wait runs out: its record and result then commit together;
 *   - nothing runs before its record is durable (deferred ones excepted,
 *     see above): a new, woken or due execution joins the ready queue when
 *     the batch that records it as queued commits (that batch also holds
 *     whatever woke it). Its `running` state then goes in the next batch,
 *     coalesced with its outcome when it finishes first. One recovered
 *     after a crash is handed to a worker only after the commit that
 *     records it as running with its crash count: that count is what
 *     stops a poison pill;
 *   - scheduled, waiting, blocked and final executions live in the store
 *     only.
 *
 * Threads: everything here runs on the loop thread, except work_run (the
 * pass, on a worker) and the checkpoint handshake's worker side, which
 * touch only their own execution's `run` and the cp_* fields under cp_lock.
 *
 * May not: include lmdb.h, call dlopen, block the loop thread.
 */
#ifndef TARRY_ENGINE_INT_H
#define TARRY_ENGINE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "commit.h"
#include "engine.h"
#include "idmap.h"
#include "lifecycle.h"
#include "list.h"
#include "replay.h"

#define TIMER_BATCH 10000          /* due executions loaded per turn */
#define TIMER_SHARE_WAIT_MS 50     /* due timers this host left to the others are theirs this long */
#define TIMER_CLAIM_RETRY_MS 1000  /* after a claim of due timers failed */
#define QUEUE_WINDOW_DEFAULT 10000 /* queued executions kept in memory; the rest wait in the store */
#define YIELD_JOURNAL_MAX 256      /* journals this long make a step's checkpoint block the worker instead */
#define COMMIT_RETRY_MIN_MS 100    /* the pause after a failed commit, doubling with each failure in a row */
#define COMMIT_RETRY_MAX_MS 5000   /* ... up to this */
#define STORE_CHECK_MS 1000        /* how often an idle engine checks that its data folder is still there */
#define EXIT_FLUSH_MS 200          /* a deliberate exit waits this long for its last answers to go out */
#define EXIT_STORE_BROKEN 75       /* EX_TEMPFAIL: the supervisor starts a fresh engine */
#define EXIT_STORE_LOST 78         /* EX_CONFIG: the store is gone; a restart must not make a new one */

/* What an engine_waiter waits for. */
enum { WAIT_ACK, WAIT_RESULT, WAIT_TRIGGER };

typedef struct exec {
    exec_record rec;
    exec_state written_state, committed_state;
    char written_hash[PLUGIN_HASH_LEN + 1], committed_hash[PLUGIN_HASH_LEN + 1]; /* pinned version, "" none */
    int64_t written_scheduled_at, committed_scheduled_at;
    int64_t written_wake_at, committed_wake_at;
    uint32_t written_attempts, committed_attempts; /* an unstarted one's discard timer (store_lmdb.c timer_at) */
    const plugin_fn *fn;
    bool deferred;              /* acknowledged to nobody yet: written only once final (see the top) */
    bool careful;               /* recovered after a crash: dispatched only once `running` is durable */
    bool isolated;              /* a suspect (rec.suspect) on a worker alone: nothing runs beside it */
    bool ready_suspect;         /* counted in suspects_ready while in the ready queue */
    int slot;                   /* its worker slot in the death note while a pass runs, else -1 */
    bool dispatch_after_commit; /* ... and that commit is the one in the next batch */
    bool in_dirty, in_ready;
    bool first_pass;    /* the pass running now starts an attempt: it sets started_at */
    bool wake_pending;  /* a child settled while this ran (or while its wake committed): replay again once
                           that outcome is durable */
    bool settle_parent; /* final child: write the outcome into the parent's call entry */
    bool rejected;      /* never committed, and a failed commit told its callers so: never written */
    bool unread;        /* its pass could not read the journal (the store unreachable): nothing ran */
    bool journal_empty; /* never passed yet (made here, or read never started): no journal to read */
    struct exec *reread_next; /* waiting in engine.reread for the store to be reachable again */
    bool cp_waiting;    /* a worker waits for its step checkpoint to commit */
    bool cp_done;       /* guarded by the engine's cp_lock */
    int cp_status;      /* likewise */
    struct exec *cp_next;
    char unbound[64];           /* the pinned version that could not be found, for the error */
    char *unbound_pin;          /* its name, version and hash (owned), kept in rec while unbound */
    size_t jw_from, jw_to;      /* run.new_entries[jw_from..jw_to) are to be written */
    size_t lw_from, lw_to;      /* run.logs[lw_from..lw_to) likewise, with the pass's outcome */
    journal_entry *sleep_entry; /* a rewritten sleep entry to write (owned), or NULL */
    list_node dirty_node, ready_node;
    list_node pass_node;      /* in engine.passes while a pass of it is on a worker */
    uint64_t pass_started_ns; /* uv_hrtime() when that pass was handed to a worker */
    int64_t pass_started_ms;  /* ... and the wall clock then */
    bool stuck_logged;        /* the watch said this pass runs past the threshold */
    list_node acks;           /* WAIT_ACK waiters, answered after this execution's next commit */
    replay_run run;
    uv_work_t work;
    engine *owner;
    /* The last pass dropped lines: batches write the "N lines dropped" line (the loop thread's
     * copy of run.log_dropped, which the worker owns while a pass runs). */
    bool log_marker;
    /* engine_limits.c: the slots of its function (NULL: unlimited when last looked at), whether it
     * is counted there as running / as queued or running, and whether it waits on its held list
     * (then ready_node is linked there and in_ready is true). */
    struct fn_limit *limit;
    bool limit_running, limit_admitted, held;
    /* engine_retry.c: the end of its last attempt, written with its next batch (attempt_error owned) */
    bool attempt_pending;
    store_attempt attempt;
    char *attempt_error;
    char *error_kept;            /* the failed attempt's error while its retry waits (rec.error), owned */
    uint32_t drop_from, drop_to; /* journal entries [from, to) to delete: a retried workflow's failed end */
    bool abandoned;    /* its pass timed out: the pass owns this exec (not in `active`) until it returns */
    bool idem_pending; /* its idempotency key is in the engine's pending map (engine_idem.c) */
    /* engine_share.c: its calls that share a child by key, not committed yet (on e->sharing while
     * any); and, once it is a final child, the other parents' calls its outcome settles (owned). */
    struct share_link *links;
    size_t link_count, link_cap;
    list_node share_node;
    struct store_caller *callers;
    size_t caller_count;
    bool settle_callers;
} exec;

/* One execution in the batch in flight: the state it wrote, who to answer. */
typedef struct commit_entry {
    exec *x;
    exec_state state;
    int64_t scheduled_at, wake_at;
    uint32_t attempts;
    bool dispatch, checkpoint, settled_parent, rejected;
    size_t jw_to, lw_to;
    char hash[PLUGIN_HASH_LEN + 1]; /* the pinned version this batch wrote */
    uint32_t log_count_before;      /* rec.log_count before this batch wrote its lines */
    journal_entry *sleep_entry;
    list_node acks;
    uint32_t attempt_written; /* the attempt this batch wrote (engine_retry.c), 0 none */
    bool dropped;             /* ... and the journal entries it deleted */
    size_t links_written;     /* x's first links this batch wrote (engine_share.c) */
    bool settled_callers;     /* ... and the other parents' calls it settled */
} commit_entry;

typedef struct wait_list {
    list_node head;
    exec_id id;
} wait_list;

struct engine {
    uv_loop_t *loop;
    store *st;
    plugins *pl;
    size_t workers;
    uv_check_t check;
    uv_timer_t timer;          /* next scheduled execution */
    uv_timer_t deadline_timer; /* next waiter deadline */
    uv_timer_t retry_timer;    /* after a failed commit */
    uv_timer_t reread_timer;   /* passes again after the store could not be read (engine_dispatch.c) */
    struct exec *reread;       /* those passes */
    int64_t reread_delay_ms;   /* the wait before them: doubles while the store stays unreachable */
    uv_timer_t linger_timer;   /* commits changes nobody waits for */
    uv_idle_t gather_idle;     /* keeps the loop polling while a batch gathers */
    int open_handles;
    size_t dirty_count;
    size_t acks_expected;      /* callers in flight when the last batch committed */
    uint64_t gather_until;     /* uv_hrtime(); 0: not gathering */
    uint64_t last_dispatch_ns; /* uv_hrtime() of the last pass handed to a worker */
    bool linger_over;          /* the linger timer fired: commit what waits */
    /*
     * Failing commits: after one fails, no commit starts and no new work is
     * admitted until retry_until_ms (clock_mono_ms), a pause that doubles
     * with each failure in a row (COMMIT_RETRY_MIN_MS..COMMIT_RETRY_MAX_MS).
     * The log says when the state changes, not at every try.
     */
    uint64_t failed_commits; /* in a row */
    int failing_status;      /* the last failure's code while failing, else 0 */
    int64_t retry_delay_ms;  /* the current pause; 0: not failing */
    int64_t retry_until_ms;  /* 0: no pause */
    bool lost;               /* the data folder is gone (store_check_folder): refuse everything, then exit */
    int exit_status;         /* non-zero: the engine exits with it in EXIT_FLUSH_MS (engine_exit_soon) */
    uv_timer_t store_check;  /* STORE_CHECK_MS: is the data folder still there? */
    char commit_error[768];  /* why the last commit failed (engine_commit_error) */
    committer *committer;
    store_batch *batch; /* the batch in flight, or being built */
    commit_entry *entries;
    size_t entry_count, entry_cap;
    bool timers_due, timers_changed;
    idmap active;        /* id -> exec */
    idmap waits;         /* id -> wait_list of WAIT_RESULT / WAIT_TRIGGER waiters */
    idmap follows;       /* id -> the first engine_follower of its log (engine_follow.c) */
    idmap releasing;     /* id -> MARK_DUE / _SENT: backlog given to the other hosts (engine_cluster.c) */
    idmap asking;        /* id -> MARK_DUE / _SENT: cancels to ask of their holders (engine_cluster.c) */
    int64_t timers_shared_until; /* Unix ms: what the last claim of due timers left is the others' till then */
    size_t follow_count; /* followers linked, at most ENGINE_FOLLOWERS_MAX */
    list_node ready, dirty, deadlines;
    size_t running, ready_count;
    /*
     * The ready queue holds at most queue_window executions in memory. Past
     * that, a queued execution leaves memory once `queued` is durable and
     * waits in the store's queued index (`backlog`, about backlog_count of
     * them); the queue is refilled from that index, oldest first, when it
     * runs below half. So memory stays flat whatever the backlog. With
     * other hosts live on a shared store the window is what the workers
     * start soon (engine_window), and the backlog is any host's.
     */
    size_t queue_window;
    /* Log bounds handed to every pass (replay.h; 0: the core's defaults). */
    uint32_t log_max_lines;
    uint32_t poison_crashes, quarantine_crashes; /* engine_set_crash_limits */
    int64_t quarantine_window_ms;
    size_t log_line_max;
    bool backlog;
    size_t backlog_count;
    bool draining;
    void (*drain_done)(void *);
    void *drain_user;
    engine_stats stats;
    uv_async_t cp_async; /* a worker asks for a step checkpoint */
    uv_mutex_t cp_lock;
    uv_cond_t cp_cond;
    exec *cp_queue; /* guarded by cp_lock */
    uv_work_t reload_work;
    plugins_scan *reload_scan;
    bool reloading;
    list_node reload_waiting, reload_answer; /* engine_waiters for the next / the running reload */
    uv_timer_t sweep_timer;                  /* closes versions nothing uses any more */
    int checks_running; /* upgrade checks on workers (engine_upgrade_check.c): nothing is closed meanwhile */
    /*
     * Isolation (engine_recovery.c): suspects run one at a time with nothing
     * beside them, so a death that names nobody while one runs alone names
     * it. suspects_ready counts suspects in the ready queue (kept by
     * engine_ready_append/remove).
     */
    size_t suspects_ready;
    bool isolated_running;
    bool recovery_pending; /* the recovery's blame is not durable yet: nothing runs (engine_recovery.c) */
    struct fn_crashes *fn_crashes; /* engine_quarantine.c: functions that crashed the host */
    size_t fn_crash_count, fn_crash_cap;
    list_node passes;       /* executions whose pass is on a worker (engine_watch.c) */
    uv_timer_t watch_timer; /* checks them for passes past stuck_after_ms */
    int64_t stuck_after_ms;
    bool all_stuck;           /* every worker holds a pass past the threshold (logged when it changes) */
    struct fn_limit *limits;  /* engine_limits.c: functions with a concurrency limit seen so far */
    size_t held_count;        /* executions on their held lists (counted in ready_count too) */
    struct engine_cron *cron; /* engine_cron.c */
    size_t abandoned;         /* passes that timed out and still hold a thread (engine_retry.c) */
    struct engine_idem *idem; /* idempotency keys not committed yet (engine_idem.c) */
    int64_t idem_ttl_ms;      /* how long a key is kept */
    list_node sharing;        /* executions with links not committed yet (engine_share.c) */
    struct engine_metrics *metrics;     /* engine_metrics.c */
    struct notifier *notifier;          /* failure notifications (notify.h), or NULL: engine_final.c */
    struct engine_retention *retention; /* engine_retention.c */
    engine_host host;                   /* engine_host.c: who this engine is */
    /* engine_cluster.c: one of several hosts on a shared store (store_cluster.h) */
    bool shared;                 /* the store is shared (PostgreSQL): claim before loading work */
    char prev_host[ENGINE_HOST_ID_LEN + 1]; /* this folder's previous engine taken over ("": none) */
    char prev_hosts[ENGINE_PREV_HOSTS_MAX][ENGINE_HOST_ID_LEN + 1]; /* its candidates, newest first */
    size_t nprev_hosts;
    int64_t lease_ms;            /* 0: the store's default */
    uv_async_t store_async;      /* the store's thread heard something */
    uv_mutex_t store_lock;       /* guards store_events */
    unsigned store_events;       /* STORE_EVENT_* not handled yet */
    bool orphans;                /* released running executions may wait to be adopted */
    unsigned announce, announce_sent; /* STORE_EVENT_* for every host: to go in a batch, in the one in flight */
    bool plugins_changed, plugins_sent; /* what this host serves changed: to record, recorded in the one in flight */
    /* how fast its workers start executions, for engine_window: starts counted since rate_since
     * (clock_mono_ms), and the rate per second of the last period */
    uint64_t rate_starts;
    int64_t rate_since;
    size_t start_rate;
};

/* ---- engine_cluster.c ----------------------------------------------------------- */

/* Join the store's hosts (before recovery: it takes over what this folder's previous engine held). */
int engine_cluster_join(engine *e);
/* The store's thread heard events: handled on the loop (store_async). */
void engine_cluster_on_async(uv_async_t *a);
/* Claim and adopt running executions whose host died: interrupted, their crash counted. */
void engine_cluster_adopt_orphans(engine *e);
/* After a commit that failed on ce's stored execution, which another host holds now: its callers
 * are told and it is dropped from memory here (the caller takes ce out of the batch). */
void engine_cluster_drop(engine *e, commit_entry *ce);
/* Whether a batch is wanted though nothing is dirty: something to tell the other hosts. */
bool engine_cluster_wants(const engine *e);
/* Into the batch being built: the announcements and this host's plugins, if due. */
int engine_cluster_batch(engine *e, store_batch *b);
/* The batch that carried them committed (ok) or failed: done, or due again. */
void engine_cluster_committed(engine *e, bool ok);
/* x, queued and unchanged, leaves memory for the backlog: on a shared store it is released with
 * the next batch, so a host with room may run it. Call before freeing x. */
void engine_cluster_spill(engine *e, const exec *x);
/* Whether id is being released (engine_backlog_load leaves it in the store until that is done). */
bool engine_cluster_releasing(const engine *e, const exec_id *id);
/* How many queued executions to keep in memory now: the queue window alone; with other hosts live
 * on the store, what its workers start in about ENGINE_SHARE_HORIZON_MS (engine_cluster.c). */
size_t engine_window(engine *e);

/* ---- engine.c ---------------------------------------------------------------- */

/* The end of a loop turn: load due timers, start what can start, commit if the policy says so. */
void engine_flush(engine *e);
/* Call the drain callback once nothing runs and everything is committed. */
void engine_check_drained(engine *e);

/* ---- engine_exec.c ------------------------------------------------------------- */

/* A new execution in memory (strings copied, state EXEC_NONE). NULL when out of memory. */
exec *engine_exec_alloc(engine *e, const exec_record *from);
/* A stored execution into memory, as stored, bound to its pinned version. */
exec *engine_exec_from_store(engine *e, const exec_record *rec);
void engine_exec_free(engine *e, exec *x);
void engine_exec_bind(exec *x, const plugin_fn *fn);
/* Set the error of an outcome the host (not a function) decided. */
void engine_exec_set_error(exec *x, const char *msg);
/*
 * Move x to `to` (checked against lifecycle.h) and put it on the dirty
 * list. An impossible move is logged as a bug and not made: returns
 * TARRY_ESTATE; else 0.
 */
int engine_exec_move(engine *e, exec *x, exec_state to);
/* Put x on the dirty list (its next batch), unless it is already there or deferred. */
void engine_exec_dirty(engine *e, exec *x);
/* Move x to blocked with the reason its function is not loaded. */
void engine_exec_block_unloaded(engine *e, exec *x);
void engine_sleep_entry_free(journal_entry *j);

/* ---- engine_dispatch.c ------------------------------------------------------------ */

/* On a worker: read execution id's journal as committed into run (replay_journal_add), in a
 * read transaction of its own. 0 or a negative code. */
int engine_journal_load(engine *e, const exec_id *id, replay_run *run);

void engine_ready_append(engine *e, exec *x);
void engine_ready_remove(engine *e, exec *x);
/* Queue x now (it joins the ready queue at once: deferred or recovered executions). */
void engine_ready_push(engine *e, exec *x);
/* Move queued executions to workers while workers are free. */
void engine_start_ready(engine *e);
/* Hand x's pass to a worker. */
void engine_dispatch(engine *e, exec *x);
/* Resume a waiting (or blocked, or running) execution: queued, joining the ready queue at commit. */
void engine_wake(engine *e, exec *x);
/* A final child: settle its parent's call entry and wake the parent, in the same batch (and
 * likewise every other call that shares it by idempotency key: engine_share.c). */
void engine_settle_child(engine *e, exec *child);
/* Wake the parent `id` (in memory or only stored) for a child's outcome written in the batch
 * being built: waiting -> woken; queued or running: it replays once that outcome is durable. */
void engine_wake_parent(engine *e, const exec_id *id);
/* The version a child of x calling `name` runs. */
const plugin_fn *engine_child_function(engine *e, const exec *x, const char *name);
/* Answer a worker waiting for a checkpoint. */
void engine_checkpoint_answer(engine *e, exec *x, int status);
void engine_on_checkpoint(uv_async_t *a);

/* ---- engine_timers.c ---------------------------------------------------------------- */

void engine_load_due_timers(engine *e);
void engine_arm_timer(engine *e);
/* The sleep x waits in is over: rewrite its journal entry as done, in x's next batch. */
void engine_sleep_ended(exec *x, store_txn *txn);

/* ---- engine_batch.c ------------------------------------------------------------------ */

/* Start a commit of the dirty list if the commit thread is idle and the policy agrees. */
void engine_commit_maybe(engine *e);
void engine_on_committed(void *user, int status, const char *error);
/* While commits fail or the store is gone, the code new work is refused with
 * (TARRY_EFULL, TARRY_EIO, TARRY_ELOST, ...), else 0. */
int engine_commit_refusing(const engine *e);
/* Whether the data folder is still the one the store opened; if not, refuse everything and exit. */
void engine_check_store(engine *e);
/* Exit the process with `status` once the answers given now have gone out; refuse work meanwhile. */
void engine_exit_soon(engine *e, int status);

/* ---- engine_waiters.c ----------------------------------------------------------------- */

void engine_waiter_init(engine_waiter *w, const exec_id *id, int kind);
void engine_waiter_answer(engine *e, engine_waiter *w, int status, const exec_record *rec);
/* Register w as waiting for execution id's final state, with a deadline. Returns 0 or TARRY_ENOMEM. */
int engine_waits_add(engine *e, engine_waiter *w, const exec_id *id, int kind, int64_t wait_ms);
/* Answer everyone waiting for this execution to be final. */
void engine_notify_final(engine *e, const exec_record *rec);
/* Answer everyone waiting for execution `id`'s result with an error (it will never be stored). */
void engine_notify_error(engine *e, const exec_id *id, int status);
void engine_on_deadline(uv_timer_t *t);

/* ---- engine_recovery.c ------------------------------------------------------------------ */

/* Re-queue what was running or queued when the host stopped; fail poison pills. */
int engine_recover(engine *e);
/* Load queued executions that wait only in the store into the ready queue, oldest first,
 * up to `room` of them (careful: possibly running when the host died). Returns how many. */
size_t engine_backlog_load(engine *e, size_t room, bool careful);
/* A batch committed: the recovery's blame (in the first one) is durable, work may start. */
void engine_recovery_committed(engine *e);

/* ---- engine_quarantine.c ------------------------------------------------------------------- */

/* Load the stored crash histories (at start). 0 or a negative code. */
int engine_quarantine_load(engine *e, store_txn *txn);
/* Execution `id` of `function` at plugin version `hash` crashed the host (`cause`, readable):
 * note it, and quarantine the function when it is the quarantine_crashes-th different one in
 * quarantine_window_ms. Written with the next batch. */
void engine_quarantine_crash(engine *e, const char *function, const char *hash, const exec_id *id,
                             const char *cause);
/* Whether fn (at its version) is quarantined; if so and why != NULL, the reason in why. */
bool engine_quarantined(engine *e, const plugin_fn *fn, char *why, size_t len);
/* Changed histories into the batch being built; then whether it committed. */
int engine_quarantine_batch(engine *e, store_batch *b);
void engine_quarantine_committed(engine *e, bool ok);
void engine_quarantine_free(engine *e);

/* ---- engine_watch.c ------------------------------------------------------------------------ */

/* Init the watch's timer (one more handle for engine_close) and its list. */
void engine_watch_init(engine *e);
void engine_watch_start(engine *e);
void engine_watch_close(engine *e, uv_close_cb cb);
/* x's pass goes to a worker now / came back (any outcome): loop thread. */
void engine_watch_pass_begin(engine *e, exec *x);
void engine_watch_pass_end(engine *e, exec *x);
/* Fill the stats' worker fields (busy, stuck, oldest pass). */
void engine_watch_stats(const engine *e, engine_stats *out);

/* ---- engine_host.c ------------------------------------------------------------------------- */

/* Make this engine's identity (a new random id, hostname, pid, start time): engine_create. */
void engine_host_init(engine *e);

/* ---- engine_limits.c ---------------------------------------------------------------------- */

/* x's state (or function) changed: count it in its function's slots as it is now. O(1) when unlimited. */
void engine_limit_sync(engine *e, exec *x);
/* x leaves memory: uncount it, and take it off its held list. */
void engine_limit_forget(engine *e, exec *x);
/* x is at the ready queue's head: if its function is at its limit, move it to its held list (true). */
bool engine_limit_hold(engine *e, exec *x);
/* Take x off its held list (engine_ready_remove does it for a held x). */
void engine_limit_unhold(engine *e, exec *x);
/* The oldest held execution whose function has a free slot now, taken off its list, or NULL. */
exec *engine_limit_next_held(engine *e);
/* Whether a new trigger of fn is cancelled by its limit ("cancel" action); if so, why, in `why`. */
bool engine_limit_refuses(engine *e, const plugin_fn *fn, char *why, size_t len);
void engine_limits_free(engine *e);

/* ---- engine_cron.c ------------------------------------------------------------------------- */

/* Open the cron timer (one more handle for engine_close). 0 or TARRY_ENOMEM. */
int engine_cron_init(engine *e);
/* Read the stored cron marks and arm the timer for the current functions (start, and after a reload). */
void engine_cron_update(engine *e);
/* Stop firing (a drain). */
void engine_cron_stop(engine *e);
void engine_cron_close(engine *e, uv_close_cb cb);
void engine_cron_free(engine *e);
/* Cron marks changed since the last batch into the batch being built; then whether it committed. */
int engine_cron_batch(engine *e, store_batch *b);
void engine_cron_committed(engine *e, bool ok);
/* ---- engine_cancel.c ------------------------------------------------------------------------ */

/* Make tarry_is_cancelled() true in x's pass (x running; loop thread). What the pass returns is
 * the caller's to decide: a cancel discards it (engine_cancel_pass_ended), a timeout its own way. */
void engine_exec_cancel_running(engine *e, exec *x);
/* x's pass returned (work_done, before its outcome is applied): if x was cancelled meanwhile,
 * the outcome is discarded and logged, x is cancelled with what it started; returns true. */
bool engine_cancel_pass_ended(engine *e, exec *x);
/* x's pass timed out (engine_retry.c; x is the exec that carries the execution on): if it had been
 * cancelled meanwhile, it is cancelled now, with what it started, instead of retried; returns true. */
bool engine_cancel_timed_out(engine *e, exec *x);
/* engine_dispatch: x was cancelled before its pass reached a worker; it is cancelled now. */
bool engine_cancel_before_pass(engine *e, exec *x);
/* x just left the ready queue: if it must not start (cancelled while it ran before the host
 * stopped, or its discard_after passed), it is finished here; returns true. */
bool engine_start_refused(engine *e, exec *x);
/* Another host asked this one to cancel execution id, which it holds (engine_cluster.c): cancelled
 * now with what it started, or asked of its pass when it runs. */
void engine_cancel_asked(engine *e, const exec_id *id);
/* If x (scheduled or queued, not on a worker) has not started and its discard_at has passed,
 * discard it with the reason; returns whether it did. */
bool engine_discard_if_due(engine *e, exec *x);
/* ---- engine_retry.c ------------------------------------------------------------------------ */

/* x's attempt (rec.attempts, from rec.started_at) ended: keep it for the attempts DB, written with x's
 * next batch. `error` is copied. */
void engine_attempt_note(exec *x, exec_state outcome, int64_t finished_at, const char *error, bool crashed,
                         bool timed_out, bool permanent);
/*
 * x's attempt failed (rec.error says why; x is running): note it, then retry it by its function's
 * policy (scheduled at now + backoff, or queued with a zero wait) or fail it for good (and settle its
 * parent). journal_seen: x->run holds the journal the pass saw (its failed end is dropped for the retry).
 */
void engine_attempt_failed(engine *e, exec *x, bool permanent, bool timed_out, bool journal_seen);
/* Into x's batch: the journal entries it drops and its noted attempt. 0 or a negative code. */
int engine_retry_batch(store_batch *b, exec *x);
/* That batch committed with attempt `attempt_written` (0 none) and its drops (`dropped`). */
void engine_retry_committed(exec *x, uint32_t attempt_written, bool dropped);
/* How many more passes may start now: free workers, within the threads abandoned passes leave. */
size_t engine_pass_room(const engine *e);
/* x's pass ran past max_duration: abandon it, and fail (or retry) the attempt. false: not now (its
 * changes are on their way to the store; look again later). */
bool engine_attempt_timeout(engine *e, exec *x);
/* An abandoned pass returned (work_done): log it, discard what it returned, free x. */
void engine_abandoned_returned(engine *e, exec *x, int status);
/* ---- engine_idem.c ----------------------------------------------------------------------- */

typedef struct engine_idem engine_idem;
typedef struct engine_idem_hit {
    exec *x;    /* the execution the key names, in memory and not committed yet; or NULL */
    exec_id id; /* its id (also when only stored) */
} engine_idem_hit;
/* Whether (function, key) names a live execution: 0 (no), 1 (yes: *hit), TARRY_EEXIST (yes, with
 * other args) or a store error. */
int engine_idem_check(engine *e, const char *function, const char *key, const char *args,
                      engine_idem_hit *hit);
/* x (new, with rec.idempotency_key) takes its key until its first commit. 0 or TARRY_ENOMEM. */
int engine_idem_hold(engine *e, exec *x);
/* x's first commit is done, failed, or x is freed: its key is the store's (or nobody's) now. */
void engine_idem_forget(engine *e, exec *x);
/* ce's new execution lost its key to another host's commit (store_pg_keys.c): when that one has
 * the same args, ce's waiters are answered ENGINE_DUPLICATE_STORED with its record (as a trigger
 * sent after it would be) and true returned; else false, and they get the conflict. */
bool engine_idem_lost(engine *e, commit_entry *ce);
/* Answer w with x as committed, once its creating batch commits. */
void engine_idem_attach(engine *e, exec *x, engine_waiter *w);
/* New keyed x into the batch that creates it; expired keys out (bounded, now and then). */
int engine_idem_put(engine *e, store_batch *b, const exec *x);
int engine_idem_sweep(engine *e, store_batch *b);
void engine_idem_free(engine *e);
/* ---- engine_share.c ----------------------------------------------------------------------- */

typedef struct share_link share_link;
/* x's call `seq` names `child`, which another call made and which is not final: x waits for it.
 * The link is written with x's next batch. 0 or TARRY_ENOMEM. */
int engine_share_link(engine *e, exec *x, const exec_id *child, uint32_t seq, bool detached);
/* child is final: every call sharing it (stored or on its exec) is settled with its outcome, in its
 * batch, and their parents are woken. */
void engine_share_child_final(engine *e, exec *child);
/* A failed commit refuses child (never stored): calls sharing it fail with that reason ... */
void engine_share_child_refused(engine *e, const exec *child);
/* ... and their parents are woken, once the failed batch's executions are put back. */
void engine_share_wake_refused(engine *e);
/* The call entry `seq` as final child settles it. */
void engine_outcome_entry(journal_entry *j, const exec *child, uint32_t seq, bool detached);
/* Into x's batch: its links (*written of them), with its own writes; then, after every execution's
 * own writes, the entries it settles (other parents' calls, if settle_callers; its refused calls). */
int engine_share_batch_links(store_batch *b, const exec *x, size_t *written);
int engine_share_batch_settle(store_batch *b, const exec *x, bool settle_callers);
/* x's batch committed with its first links_written links: they are in the store now. */
void engine_share_committed(engine *e, exec *x, size_t links_written);
/* x leaves memory: its links and callers go with it. */
void engine_share_forget(engine *e, exec *x);

/* ---- engine_versions.c ------------------------------------------------------------------- */

/* Close versions nothing uses any more, soon (debounced). */
void engine_sweep_soon(engine *e);
/* Load every version an unfinished execution is pinned to, from the version store. */
int engine_load_pinned_versions(engine *e);

/* ---- engine_follow.c ----------------------------------------------------------------------- */

/* A commit wrote to execution id: wake its log's followers (cheap when nobody follows). */
void engine_follow_committed(engine *e, const exec_id *id);
/* The engine closes: every follower hears wake(f, true), unlinked first. */
void engine_follow_close(engine *e);

/* ---- engine_final.c ------------------------------------------------------------------------ */

/* Whether `state` ends an execution for the hooks below: a final state, or blocked. */
bool engine_final_ending(exec_state state);
/* In the batch that first writes x in an ending state: what must commit with that end. */
int engine_final_batch(engine *e, store_batch *b, exec *x);
/* On the loop, once the batch that wrote x in `state` (an ending one) is durable. */
void engine_final_committed(engine *e, const exec *x, exec_state state);

/* ---- engine_metrics.c ---------------------------------------------------------------------- */

/* Make / free e->metrics (engine_create, the engine's last close). 0 or TARRY_ENOMEM. */
int engine_metrics_init(engine *e);
void engine_metrics_free(engine *e);
/* One call where each happens: an execution made, an attempt begun (rec.attempts counted) or ended
 * (x->attempt noted), a retry scheduled, an end durable (engine_final_committed), a commit handed
 * back (success or failure, before the entries are let go), a reload applied. */
void engine_metrics_created(engine *e, const exec *x);
void engine_metrics_attempt_begins(engine *e, const exec *x);
void engine_metrics_attempt_ended(engine *e, const exec *x);
void engine_metrics_retry(engine *e, const exec *x);
void engine_metrics_ended(engine *e, const exec *x, exec_state state);
void engine_metrics_commit_done(engine *e);
void engine_metrics_reloaded(engine *e);
/* ---- engine_retention.c -------------------------------------------------------------------- */

/* Open the retention timer (one more handle for engine_close). 0 or TARRY_ENOMEM. */
int engine_retention_init(engine *e);
/* Index what ended before retention existed (once), and arm the timer for the earliest row. */
void engine_retention_start(engine *e);
/* Stop deleting (a drain). */
void engine_retention_stop(engine *e);
void engine_retention_close(engine *e, uv_close_cb cb);
void engine_retention_free(engine *e);
/* From engine_final_batch / engine_final_committed: x's row, and a sooner timer. */
int engine_retention_final_batch(engine *e, store_batch *b, exec *x);
void engine_retention_final_committed(engine *e, const exec *x, exec_state state);
/* Whether the next batch should carry purges (then it is made even with nothing else in it). */
bool engine_retention_wants(const engine *e);
/* A few due purges into the batch being built; then whether it committed. */
int engine_retention_batch(engine *e, store_batch *b);
void engine_retention_committed(engine *e, bool ok);

#endif
