/*
 * engine.c - the ready queue, dispatch, completions, timers, recovery and
 * group commit (see engine.h).
 *
 * Invariants:
 *   - an execution in memory is in `active` (by id) until it is freed;
 *   - `written_state` is the state in the last batch built for it (what
 *     the store will hold once that batch commits; EXEC_NONE: never
 *     written), and index changes are computed from it; `committed_state`
 *     is what is durable now. The record in memory may be ahead of both
 *     while the execution is on the dirty list, or deferred;
 *   - one batch is in flight at a time (commit.h); an execution leaves
 *     memory only in the callback of the batch that made it final,
 *     scheduled or blocked, and only if nothing changed it since;
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
 *   - scheduled, blocked and final executions live in the store only.
 *
 * May not: include lmdb.h, call dlopen, block the loop thread.
 */
#include "engine.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "commit.h"
#include "hlog.h"
#include "idmap.h"
#include "replay.h"
#include "status.h"

#define TIMER_BATCH 10000   /* due executions loaded per turn */
#define COMMIT_RETRY_MS 100 /* after a failed commit */
#define LINGER_MS 1         /* how long an outcome nobody waits for may wait for company */
#define LINGER_MAX 4096     /* ... unless this many changes are waiting */
#define GATHER_NS 150000    /* how long a batch may wait for more of its expected callers */

enum { WAIT_ACK, WAIT_RESULT, WAIT_TRIGGER };

typedef struct exec {
    exec_record rec;
    exec_state written_state, committed_state;
    int64_t written_scheduled_at, committed_scheduled_at;
    int64_t written_wake_at, committed_wake_at;
    const plugin_fn *fn;
    bool deferred, careful, dispatch_pending, enqueue_on_commit, in_dirty, in_ready;
    bool resume;        /* the next start replays, it is not a new attempt */
    bool first_pass;    /* the pass running now starts an attempt: it sets started_at */
    bool wake_pending;  /* a child settled while this ran: replay again instead of waiting */
    bool settle_parent; /* final child: write the outcome into the parent's call entry */
    bool cp_waiting;    /* a worker waits for its step checkpoint to commit */
    bool cp_done;       /* guarded by the engine's cp_lock */
    int cp_status;      /* likewise */
    struct exec *cp_next;
    char unbound[64];           /* the pinned version that could not be found, for the error */
    size_t jw_from, jw_to;      /* run.new_entries[jw_from..jw_to) are to be written */
    journal_entry *sleep_entry; /* a rewritten sleep entry to write (owned), or NULL */
    list_node dirty_node, ready_node;
    list_node acks; /* WAIT_ACK waiters, answered after this execution's next commit */
    replay_run run;
    uv_work_t work;
    engine *owner;
} exec;

/* One execution in the batch in flight: the state it wrote, who to answer. */
typedef struct commit_entry {
    exec *x;
    exec_state state;
    int64_t scheduled_at, wake_at;
    bool dispatch, checkpoint, settled_parent;
    size_t jw_to;
    journal_entry *sleep_entry;
    list_node acks;
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
    uv_timer_t linger_timer;   /* commits changes nobody waits for */
    uv_idle_t gather_idle;     /* keeps the loop polling while a batch gathers */
    int open_handles;
    size_t dirty_count;
    size_t acks_expected;     /* callers in flight when the last batch committed */
    uint64_t gather_deadline; /* uv_hrtime(); 0: not gathering */
    bool linger_over;         /* the linger timer fired: commit what waits */
    committer *committer;
    store_batch *batch; /* the batch in flight, or being built */
    commit_entry *entries;
    size_t entry_count, entry_cap;
    bool timers_due, timers_changed;
    idmap active; /* id -> exec */
    idmap waits;  /* id -> wait_list of WAIT_RESULT / WAIT_TRIGGER waiters */
    list_node ready, dirty, deadlines;
    size_t running, ready_count;
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
};

static void flush(engine *e);
static void sweep_soon(engine *e);
static bool commit_now(engine *e);
static void on_retry(uv_timer_t *t);
static void batch_failed(engine *e, int status);
/* ---- closing old versions ---------------------------------------------------- */

struct pinned_ctx {
    engine *e;
    char (*hashes)[PLUGIN_HASH_LEN + 1];
    size_t count, cap;
};

static int collect_pin(void *user, const exec_record *rec);

typedef struct close_job {
    uv_work_t work;
    plugin **retired;
    size_t count;
} close_job;

static void close_work(uv_work_t *req)
{
    close_job *job = req->data;
    plugins_close(job->retired, job->count);
}

static void close_done(uv_work_t *req, int status)
{
    (void)status;
    free(req->data);
}

static int collect_active_pin(engine *e, struct pinned_ctx *pc)
{
    for (size_t i = 0; i < e->active.cap; i++) {
        exec *x = e->active.slots[i].value;
        if (x && x->fn) {
            exec_record r = {.plugin_hash = x->fn->owner->hash};
            int rc = collect_pin(pc, &r);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/*
 * A version that is not current is closed once no unfinished execution is
 * pinned to it: neither a stored one (scanned) nor one in memory (an
 * execution being created or finishing). Decided here, on the loop, with
 * nothing in between; closed on a worker, since dlclose runs plugin code.
 */
static void on_sweep(uv_timer_t *t)
{
    static const exec_state unfinished[] = {EXEC_SCHEDULED, EXEC_QUEUED, EXEC_RUNNING, EXEC_WAITING,
                                            EXEC_BLOCKED};
    engine *e = t->data;
    struct pinned_ctx pc = {e, NULL, 0, 0};
    store_txn *txn;
    close_job *job;
    int rc;

    if (e->reloading || (rc = store_txn_begin(e->st, false, &txn)) != 0)
        return;
    for (size_t i = 0; rc == 0 && i < sizeof unfinished / sizeof unfinished[0]; i++)
        rc = store_exec_scan_state(txn, unfinished[i], collect_pin, &pc);
    store_txn_abort(txn);
    if (rc == 0)
        rc = collect_active_pin(e, &pc);
    if (rc == 0 && (job = calloc(1, sizeof *job))) {
        job->retired = plugins_retire_unused(e->pl, pc.hashes, pc.count, &job->count);
        job->work.data = job;
        if (!job->count || uv_queue_work(e->loop, &job->work, close_work, close_done) != 0) {
            /* Nothing to close (or no worker): leave them mapped, harmless. */
            free(job->retired);
            free(job);
        }
    }
    free(pc.hashes);
}

static void sweep_soon(engine *e)
{
    /* Debounced: one scan for a burst of finishing executions. */
    if (!uv_is_active((uv_handle_t *)&e->sweep_timer))
        uv_timer_start(&e->sweep_timer, on_sweep, 1000, 0);
}

static void on_committed(void *user, int status);
static void on_deadline(uv_timer_t *t);

/* ---- executions in memory -------------------------------------------------- */

static char *dup_into(char **cursor, const char *s)
{
    char *at = *cursor;
    size_t n;
    if (!s)
        return NULL;
    n = strlen(s) + 1;
    memcpy(at, s, n);
    *cursor += n;
    return at;
}

/* One allocation for the execution and its immutable strings. */
static exec *exec_alloc(engine *e, const exec_record *from)
{
    size_t extra = strlen(from->function) + 1 + strlen(from->args) + 1 +
                   (from->metadata ? strlen(from->metadata) + 1 : 0);
    exec *x = calloc(1, sizeof *x + extra);
    char *cursor;

    if (!x)
        return NULL;
    x->rec = *from;
    cursor = (char *)(x + 1);
    x->rec.function = dup_into(&cursor, from->function);
    x->rec.args = dup_into(&cursor, from->args);
    x->rec.metadata = dup_into(&cursor, from->metadata);
    x->rec.result = NULL;
    x->rec.error = NULL;
    x->rec.plugin_name = x->rec.plugin_version = NULL;
    x->owner = e;
    list_init(&x->acks);
    if (idmap_put(&e->active, &x->rec.id, x) != 0) {
        free(x);
        return NULL;
    }
    return x;
}

static void sleep_entry_free(journal_entry *j)
{
    if (j) {
        free((char *)j->name);
        free(j);
    }
}

static void exec_free(engine *e, exec *x)
{
    idmap_del(&e->active, &x->rec.id);
    replay_run_clear(&x->run);
    sleep_entry_free(x->sleep_entry);
    free(x);
}

static void exec_bind(exec *x, const plugin_fn *fn)
{
    x->fn = fn;
    x->rec.plugin_name = fn ? fn->owner->name : NULL;
    x->rec.plugin_version = fn ? fn->owner->version : NULL;
    x->rec.plugin_hash = fn ? fn->owner->hash : NULL;
}

/* Set the outcome text of an execution the host (not a function) decided. */
static void exec_set_error(exec *x, const char *msg)
{
    free(x->run.error);
    x->run.error = strdup(msg);
    x->rec.error = x->run.error;
}

static void mark_dirty(engine *e, exec *x)
{
    if (x->in_dirty || (x->deferred && !exec_state_final(x->rec.state)))
        return;
    x->in_dirty = true;
    e->dirty_count++;
    list_push_back(&e->dirty, &x->dirty_node);
}

static void ready_append(engine *e, exec *x)
{
    x->in_ready = true;
    list_push_back(&e->ready, &x->ready_node);
    e->ready_count++;
}

static void ready_push(engine *e, exec *x)
{
    x->rec.state = EXEC_QUEUED;
    ready_append(e, x);
    mark_dirty(e, x);
}

/* ---- waiters ------------------------------------------------------------------ */

static void deadline_add(engine *e, engine_waiter *w, int64_t wait_ms)
{
    list_node *pos;

    w->deadline_ms = clock_now_ms() + wait_ms;
    /* Most waits share one duration, so the right place is near the tail. */
    for (pos = e->deadlines.prev; pos != &e->deadlines; pos = pos->prev)
        if (list_entry(pos, engine_waiter, deadline)->deadline_ms <= w->deadline_ms)
            break;
    list_insert_before(pos->next, &w->deadline);
    if (e->deadlines.next == &w->deadline)
        uv_timer_start(&e->deadline_timer, on_deadline, (uint64_t)(wait_ms > 0 ? wait_ms : 0), 0);
}

static wait_list *waits_for(engine *e, const exec_id *id, bool create)
{
    wait_list *wl = idmap_get(&e->waits, id);
    if (wl || !create)
        return wl;
    if (!(wl = malloc(sizeof *wl)))
        return NULL;
    list_init(&wl->head);
    wl->id = *id;
    if (idmap_put(&e->waits, id, wl) != 0) {
        free(wl);
        return NULL;
    }
    return wl;
}

static void waits_drop_if_empty(engine *e, const exec_id *id)
{
    wait_list *wl = idmap_get(&e->waits, id);
    if (wl && list_empty(&wl->head)) {
        idmap_del(&e->waits, id);
        free(wl);
    }
}

void engine_waiter_cancel(engine *e, engine_waiter *w)
{
    bool in_waits = list_linked(&w->node) && w->kind != WAIT_ACK;
    list_unlink(&w->node);
    list_unlink(&w->deadline);
    if (in_waits)
        waits_drop_if_empty(e, &w->id);
}

static void waiter_answer(engine *e, engine_waiter *w, int status, const exec_record *rec)
{
    engine_waiter_cancel(e, w);
    w->cb(w, status, rec);
}

/* Answer everyone waiting for this execution to be final. */
static void notify_final(engine *e, const exec_record *rec)
{
    wait_list *wl = idmap_del(&e->waits, &rec->id);
    if (!wl)
        return;
    while (!list_empty(&wl->head)) {
        engine_waiter *w = list_entry(wl->head.next, engine_waiter, node);
        list_unlink(&w->node);
        list_unlink(&w->deadline);
        w->cb(w, 0, rec);
    }
    free(wl);
}

static void on_deadline(uv_timer_t *t)
{
    engine *e = t->data;
    int64_t now = clock_now_ms();

    while (!list_empty(&e->deadlines)) {
        engine_waiter *w = list_entry(e->deadlines.next, engine_waiter, deadline);
        if (w->deadline_ms > now) {
            uv_timer_start(&e->deadline_timer, on_deadline, (uint64_t)(w->deadline_ms - now), 0);
            break;
        }
        list_unlink(&w->deadline);
        exec *x = (w->kind == WAIT_TRIGGER) ? idmap_get(&e->active, &w->id) : NULL;
        if (x && x->deferred) {
            /* Nobody has been told about it yet: make it durable, then
             * answer with the state it reached. */
            list_unlink(&w->node);
            waits_drop_if_empty(e, &w->id);
            w->kind = WAIT_ACK;
            list_push_back(&x->acks, &w->node);
            x->deferred = false;
            mark_dirty(e, x);
        } else {
            waiter_answer(e, w, ENGINE_TIMEOUT, NULL);
        }
    }
    flush(e);
}

void engine_wait_result(engine *e, const exec_id *id, int64_t wait_ms, engine_waiter *w)
{
    wait_list *wl = waits_for(e, id, true);

    w->id = *id;
    w->kind = WAIT_RESULT;
    w->node.next = w->node.prev = NULL;
    w->deadline.next = w->deadline.prev = NULL;
    if (!wl) {
        w->cb(w, TARRY_ENOMEM, NULL);
        return;
    }
    list_push_back(&wl->head, &w->node);
    deadline_add(e, w, wait_ms);
}

/* ---- triggers ------------------------------------------------------------------ */

int engine_trigger(engine *e, const engine_trigger_req *req, engine_waiter *w)
{
    const plugin_fn *fn = plugins_find(e->pl, req->function);
    int64_t now = clock_now_ms();
    exec_record rec;
    exec *x;

    if (!fn)
        return TARRY_ENOTFOUND;
    memset(&rec, 0, sizeof rec);
    id_new(&rec.id);
    rec.function = fn->name;
    rec.args = req->args;
    rec.metadata = req->metadata;
    rec.created_at = now;
    rec.scheduled_at = req->run_at_ms > now ? req->run_at_ms : now;
    if (!(x = exec_alloc(e, &rec)))
        return TARRY_ENOMEM;
    exec_bind(x, fn);
    e->stats.created++;
    w->id = rec.id;
    w->node.next = w->node.prev = NULL;
    w->deadline.next = w->deadline.prev = NULL;

    if (req->wait_ms >= 0) {
        wait_list *wl = waits_for(e, &rec.id, true);
        if (!wl) {
            exec_free(e, x);
            return TARRY_ENOMEM;
        }
        w->kind = WAIT_TRIGGER;
        list_push_back(&wl->head, &w->node);
        deadline_add(e, w, req->wait_ms);
    } else {
        w->kind = WAIT_ACK;
        list_push_back(&x->acks, &w->node);
    }
    if (x->rec.scheduled_at > now) {
        x->rec.state = EXEC_SCHEDULED;
        mark_dirty(e, x);
        e->timers_changed = true;
    } else if (req->wait_ms >= 0) {
        x->deferred = true;
        ready_push(e, x);
    } else {
        x->rec.state = EXEC_QUEUED;
        x->enqueue_on_commit = true;
        mark_dirty(e, x);
    }
    return 0;
}

/* ---- running ------------------------------------------------------------------ */

static int load_journal(engine *e, exec *x);

/*
 * On the worker: read the journal as committed (the pass was dispatched
 * after the commit that queued it, so it is complete), then run the pass.
 * Reading here keeps a long journal's cost off the loop thread.
 */
static void work_run(uv_work_t *req)
{
    exec *x = req->data;
    int rc = load_journal(x->owner, x);

    if (rc != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot read the journal (%s): %s", status_str(rc),
                 store_last_error(x->owner->st));
        x->run.outcome = REPLAY_BLOCKED;
        x->run.error = strdup(msg);
        x->run.started_at = x->run.finished_at = clock_now_ms();
        return;
    }
    replay_execute(&x->run);
}

static void check_drained(engine *e)
{
    if (e->draining && e->drain_done && e->running == 0 && list_empty(&e->dirty) &&
        !committer_busy(e->committer)) {
        void (*done)(void *) = e->drain_done;
        e->drain_done = NULL;
        done(e->drain_user);
    }
}

static exec *exec_from_store(engine *e, const exec_record *rec);
static exec *load_exec(engine *e, const exec_record *rec);
static void block_unloaded(exec *x);

/*
 * Resume an execution that waits. It joins the ready queue when the batch
 * that records it as queued commits: that batch also holds (or follows)
 * whatever woke it, so the journal it replays from is complete, and a
 * crash during the replay finds it queued (recovery then counts crashes).
 */
static void wake(engine *e, exec *x)
{
    if (x->in_ready) {
        list_unlink(&x->ready_node);
        x->in_ready = false;
        e->ready_count--;
    }
    x->rec.wake_at = 0;
    x->rec.state = EXEC_QUEUED;
    x->resume = true;
    x->enqueue_on_commit = true;
    mark_dirty(e, x);
}

/*
 * A child reached a final state: its outcome goes into the parent's call
 * entry in the same batch, and a parent that waits is woken in that batch
 * too, so no crash can leave a parent waiting for a child that is done.
 */
static void settle_child(engine *e, exec *child)
{
    static const exec_id none;
    store_txn *txn;
    exec_record rec;
    exec *parent;

    if (memcmp(&child->rec.parent_id, &none, sizeof none) == 0)
        return;
    child->settle_parent = true;
    if (child->rec.detached)
        return;
    if ((parent = idmap_get(&e->active, &child->rec.parent_id))) {
        if (parent->rec.state == EXEC_WAITING)
            wake(e, parent);
        else
            parent->wake_pending = true; /* running or about to: it replays again */
        return;
    }
    if (store_txn_begin(e->st, false, &txn) != 0)
        return;
    if (store_exec_get(txn, &child->rec.parent_id, &rec) == 0 && rec.state == EXEC_WAITING &&
        (parent = exec_from_store(e, &rec)))
        wake(e, parent);
    store_txn_abort(txn);
}

/* Children a pass called: new executions, created in the batch that records the calls. */
static const plugin_fn *child_function(engine *e, const exec *x, const char *name);

static void spawn_children(engine *e, exec *x, size_t from, size_t to)
{
    int64_t now = clock_now_ms();

    for (size_t i = from; i < to; i++) {
        const replay_entry *r = &x->run.new_entries[i];
        exec_record rec;
        exec *child;

        if (r->e.kind != JOURNAL_CALL)
            continue;
        memset(&rec, 0, sizeof rec);
        rec.id = r->e.child;
        rec.function = r->e.name;
        rec.args = r->args ? r->args : "null";
        rec.created_at = r->e.started_at;
        rec.scheduled_at = r->e.wake_at > now ? r->e.wake_at : now;
        rec.parent_id = x->rec.id;
        rec.parent_seq = r->e.seq;
        rec.detached = r->e.detached;
        if (!(child = exec_alloc(e, &rec))) {
            hlog(HLOG_ERROR, "out of memory creating a child of %s", x->run.id_text);
            continue;
        }
        e->stats.created++;
        exec_bind(child, child_function(e, x, rec.function));
        if (!child->fn) {
            block_unloaded(child);
        } else if (rec.scheduled_at > now) {
            child->rec.state = EXEC_SCHEDULED;
            e->timers_changed = true;
        } else {
            child->rec.state = EXEC_QUEUED;
            child->enqueue_on_commit = true;
        }
        mark_dirty(e, child);
    }
}

/* Hand the commands a pass added since the last hand-over to the next batch. */
static void take_new_entries(engine *e, exec *x)
{
    spawn_children(e, x, x->run.handed, x->run.new_count);
    x->run.handed = x->run.new_count;
    x->jw_to = x->run.new_count;
}

static void work_done(uv_work_t *req, int status)
{
    exec *x = req->data;
    engine *e = x->owner;

    e->running--;
    if (status == UV_ECANCELED) {
        /* Never ran (only at shutdown); it is still `running` in the store
         * and will be re-queued at the next start. */
        return;
    }
    take_new_entries(e, x);
    if (x->first_pass)
        x->rec.started_at = x->run.started_at;
    x->rec.crashes = 0;
    x->careful = false;
    /* Deferral only covers a pass that ends final: one that waits has
     * children and timers pointing at it, so its record must exist. */
    if (x->run.outcome != REPLAY_SUCCEEDED && x->run.outcome != REPLAY_FAILED)
        x->deferred = false;
    switch (x->run.outcome) {
    case REPLAY_SUCCEEDED:
    case REPLAY_FAILED:
        x->rec.state = x->run.outcome == REPLAY_FAILED ? EXEC_FAILED : EXEC_SUCCEEDED;
        x->rec.result = x->run.outcome == REPLAY_FAILED ? NULL : (x->run.result ? x->run.result : "null");
        x->rec.error = x->run.error;
        x->rec.finished_at = x->run.finished_at;
        settle_child(e, x);
        break;
    case REPLAY_BLOCKED:
        x->rec.state = EXEC_BLOCKED;
        x->rec.error = x->run.error;
        hlog(HLOG_WARN, "execution %s blocked: %s", x->run.id_text, x->run.error ? x->run.error : "?");
        break;
    case REPLAY_YIELDED: /* REPLAY_CP_YIELD: its commands commit first, then it runs again */
        wake(e, x);
        break;
    case REPLAY_SUSPENDED:
        if (x->wake_pending) {
            wake(e, x);
        } else {
            x->rec.state = EXEC_WAITING;
            x->rec.wake_at = x->run.wake_at;
            x->rec.wake_seq = x->run.wake_seq;
        }
        break;
    }
    x->wake_pending = false;
    mark_dirty(e, x); /* nobody may wait for it: see commit_now() */
}

/* Load the journal as committed into the run. Returns 0 or a negative code. */
struct journal_load {
    replay_run *run;
    int error;
};

static int journal_loaded(void *user, const journal_entry *entry)
{
    struct journal_load *jl = user;
    return (jl->error = replay_journal_add(jl->run, entry)) != 0;
}

static int load_journal(engine *e, exec *x)
{
    struct journal_load jl = {&x->run, 0};
    store_txn *txn;
    int rc;

    if ((rc = store_txn_begin(e->st, false, &txn)) != 0)
        return rc;
    rc = store_journal_scan(txn, &x->rec.id, journal_loaded, &jl);
    store_txn_abort(txn);
    return rc < 0 ? rc : jl.error;
}

/* The version a child of `x` calling `name` runs: the current one, or, for
 * a plugin removed since, the one x itself is pinned to (so pinned work can
 * run to completion). */
static const plugin_fn *child_function(engine *e, const exec *x, const char *name)
{
    const plugin_fn *fn = plugins_find(e->pl, name);
    if (!fn && x->fn)
        fn = plugins_find_version(e->pl, x->fn->owner->hash, name);
    return fn;
}

static bool hook_function_known(void *user, const char *name)
{
    exec *x = user;
    return child_function(x->owner, x, name) != NULL;
}

/* On the worker: wait until the loop has committed the pass's commands so far. */
static int hook_checkpoint(void *user, replay_run *run)
{
    exec *x = user;
    engine *e = x->owner;
    int status;

    (void)run;
    uv_mutex_lock(&e->cp_lock);
    x->cp_done = false;
    x->cp_next = e->cp_queue;
    e->cp_queue = x;
    uv_mutex_unlock(&e->cp_lock);
    uv_async_send(&e->cp_async);
    uv_mutex_lock(&e->cp_lock);
    while (!x->cp_done)
        uv_cond_wait(&e->cp_cond, &e->cp_lock);
    status = x->cp_status;
    uv_mutex_unlock(&e->cp_lock);
    return status;
}

static void checkpoint_answer(engine *e, exec *x, int status)
{
    uv_mutex_lock(&e->cp_lock);
    x->cp_status = status;
    x->cp_done = true;
    uv_cond_broadcast(&e->cp_cond);
    uv_mutex_unlock(&e->cp_lock);
}

/* On the loop: workers waiting for checkpoints; their commands join the next batch. */
static void on_checkpoint(uv_async_t *a)
{
    engine *e = a->data;
    exec *x;

    uv_mutex_lock(&e->cp_lock);
    x = e->cp_queue;
    e->cp_queue = NULL;
    uv_mutex_unlock(&e->cp_lock);
    for (; x; x = x->cp_next) {
        take_new_entries(e, x);
        x->deferred = false; /* a checkpoint makes the execution durable too */
        x->cp_waiting = true;
        mark_dirty(e, x);
    }
    flush(e);
}

static void dispatch(engine *e, exec *x)
{

    x->dispatch_pending = false;
    replay_run_clear(&x->run);
    x->jw_from = x->jw_to = 0;
    x->run.fn = x->fn->fn;
    x->run.args = x->rec.args;
    x->run.attempt = (int)x->rec.attempts;
    x->run.header_revision = x->fn->owner->header_revision;
    x->run.hooks.user = x;
    x->run.hooks.function_known = hook_function_known;
    x->run.hooks.checkpoint = hook_checkpoint;
    id_format(&x->rec.id, x->run.id_text);
    x->work.data = x;
    if (uv_queue_work(e->loop, &x->work, work_run, work_done) != 0) {
        hlog(HLOG_ERROR, "cannot queue execution %s on the threadpool", x->run.id_text);
        e->running--;
        x->rec.state = EXEC_FAILED;
        exec_set_error(x, "the host could not hand this execution to a worker thread");
        x->rec.finished_at = clock_now_ms();
        mark_dirty(e, x);
    }
}

/* Move queued executions to running while workers are free. */
static void start_ready(engine *e)
{
    /* At most one per worker, so `running` means on a worker thread, not
     * waiting in the threadpool's own queue. */
    while (!e->draining && e->running < e->workers && !list_empty(&e->ready)) {
        exec *x = list_entry(e->ready.next, exec, ready_node);
        list_unlink(&x->ready_node);
        x->in_ready = false;
        e->ready_count--;
        x->rec.state = EXEC_RUNNING;
        x->first_pass = !x->resume;
        if (x->first_pass) {
            /* A resume continues the attempt: its count and start stay. */
            x->rec.attempts++;
            x->rec.started_at = clock_now_ms();
        }
        x->resume = false;
        e->running++;
        mark_dirty(e, x);
        if (x->careful)
            x->dispatch_pending = true; /* after the commit, see the top */
        else
            dispatch(e, x);
    }
}

/* ---- timers ------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
    engine *e = t->data;
    e->timers_due = true;
    flush(e);
}

struct load_ctx {
    engine *e;
    store_txn *txn;
    size_t loaded;
    int error;
};

/* The sleep an execution waits in is over: rewrite its journal entry as
 * done, in the batch that wakes it, so a replay passes it. */
static void sleep_ended(exec *x, store_txn *txn)
{
    journal_entry j;
    if (store_journal_get(txn, &x->rec.id, x->rec.wake_seq, &j) != 0 || j.kind != JOURNAL_SLEEP)
        return; /* it ended (or never was): the replay decides again */
    sleep_entry_free(x->sleep_entry);
    if (!(x->sleep_entry = malloc(sizeof *x->sleep_entry)))
        return;
    *x->sleep_entry = j;
    x->sleep_entry->name = j.name ? strdup(j.name) : NULL;
    x->sleep_entry->value = x->sleep_entry->error = NULL;
    x->sleep_entry->status = JOURNAL_SUCCEEDED;
    x->sleep_entry->finished_at = clock_now_ms();
}

/* A scheduled execution came due, or one was found queued/running at start. */
/* A stored execution into memory, as stored (strings copied). */
static exec *exec_from_store(engine *e, const exec_record *rec)
{
    exec *x = exec_alloc(e, rec);
    if (!x)
        return NULL;
    x->written_state = x->committed_state = rec->state;
    x->written_scheduled_at = x->committed_scheduled_at = rec->scheduled_at;
    x->written_wake_at = x->committed_wake_at = rec->wake_at;
    /* Pinned: it replays the code that wrote its journal (plugins.h). */
    if (rec->plugin_hash) {
        exec_bind(x, plugins_find_version(e->pl, rec->plugin_hash, rec->function));
        if (!x->fn)
            snprintf(x->unbound, sizeof x->unbound, "version %s of plugin %s", rec->plugin_hash,
                     rec->plugin_name ? rec->plugin_name : "?");
    } else {
        exec_bind(x, plugins_find(e->pl, rec->function));
    }
    return x;
}

static void block_unloaded(exec *x)
{
    char msg[300];
    if (x->unbound[0])
        snprintf(msg, sizeof msg,
                 "function \"%s\" is not loaded: it is pinned to %s, which is not in the version store",
                 x->rec.function, x->unbound);
    else
        snprintf(msg, sizeof msg,
                 "function \"%s\" is not loaded: no plugin in the plugins folder provides it",
                 x->rec.function);
    x->rec.state = EXEC_BLOCKED;
    exec_set_error(x, msg);
}

static exec *load_exec(engine *e, const exec_record *rec)
{
    exec *x = exec_from_store(e, rec);
    if (!x)
        return NULL;
    if (!x->fn) {
        block_unloaded(x);
        mark_dirty(e, x);
        return x;
    }
    ready_push(e, x);
    return x;
}

static int load_due(void *user, const exec_record *rec)
{
    struct load_ctx *lc = user;
    if (lc->loaded == TIMER_BATCH)
        return 1;
    if (idmap_get(&lc->e->active, &rec->id))
        return 0; /* loaded before a commit that failed; still in memory */
    exec *x = exec_from_store(lc->e, rec);
    if (!x) {
        lc->error = TARRY_ENOMEM;
        return 1;
    }
    if (!x->fn) {
        block_unloaded(x);
        mark_dirty(lc->e, x);
    } else if (rec->state == EXEC_WAITING) {
        sleep_ended(x, lc->txn);
        wake(lc->e, x);
    } else {
        /* A delayed start runs once `queued` is durable (see wake()). */
        x->rec.state = EXEC_QUEUED;
        x->enqueue_on_commit = true;
        mark_dirty(lc->e, x);
    }
    lc->loaded++;
    return 0;
}

static void load_due_timers(engine *e)
{
    struct load_ctx lc = {e, NULL, 0, 0};
    store_txn *txn;
    int rc;

    e->timers_due = false;
    if (e->draining)
        return;
    if ((rc = store_txn_begin(e->st, false, &txn)) != 0) {
        hlog(HLOG_ERROR, "cannot read timers: %s", store_last_error(e->st));
        return;
    }
    lc.txn = txn;
    rc = store_timer_scan_due(txn, clock_now_ms(), load_due, &lc);
    store_txn_abort(txn);
    if (rc < 0 || lc.error)
        hlog(HLOG_ERROR, "loading due executions failed: %s",
             rc < 0 ? store_last_error(e->st) : "out of memory");
    e->timers_changed = true;
}

struct next_timer {
    engine *e;
    int64_t due;
    size_t skipped;
};

/* The first timer whose execution is not already in memory (loaded and on
 * its way to the ready queue, its timer entry not yet deleted). */
static int first_not_loaded(void *user, int64_t due_ms, const exec_id *id)
{
    struct next_timer *nt = user;
    if (idmap_get(&nt->e->active, id) && ++nt->skipped < 2 * TIMER_BATCH)
        return 0;
    nt->due = due_ms;
    return 1;
}

static void arm_timer(engine *e)
{
    struct next_timer nt = {e, -1, 0};
    store_txn *txn;

    e->timers_changed = false;
    if (e->draining || store_txn_begin(e->st, false, &txn) != 0)
        return;
    store_timer_each(txn, first_not_loaded, &nt);
    store_txn_abort(txn);
    if (nt.due < 0) {
        uv_timer_stop(&e->timer);
        return;
    }
    int64_t wait = nt.due - clock_now_ms();
    uv_update_time(e->loop);
    uv_timer_start(&e->timer, on_timer, (uint64_t)(wait > 0 ? wait : 0), 0);
}

/* ---- group commit ------------------------------------------------------------------ */

static size_t count_acks(const list_node *head)
{
    size_t n = 0;
    for (const list_node *w = head->next; w != head; w = w->next)
        n++;
    return n;
}

/* The parent's call entry, as this final child settles it. */
static int batch_parent_entry(store_batch *b, const exec *x)
{
    journal_entry j;
    memset(&j, 0, sizeof j);
    j.seq = x->rec.parent_seq;
    j.kind = JOURNAL_CALL;
    j.status = x->rec.state == EXEC_SUCCEEDED   ? JOURNAL_SUCCEEDED
               : x->rec.state == EXEC_CANCELLED ? JOURNAL_CANCELLED
                                                : JOURNAL_FAILED;
    j.detached = x->rec.detached;
    j.started_at = x->rec.created_at;
    j.finished_at = x->rec.finished_at;
    j.child = x->rec.id;
    j.name = x->rec.function;
    j.value = j.status == JOURNAL_SUCCEEDED ? x->rec.result : NULL;
    j.error = j.status == JOURNAL_SUCCEEDED ? NULL : x->rec.error;
    return store_batch_journal_put(b, &x->rec.parent_id, &j);
}

static int batch_exec(store_batch *b, exec *x)
{
    exec_record prev = {.state = x->written_state,
                        .scheduled_at = x->written_scheduled_at,
                        .wake_at = x->written_wake_at,
                        .function = x->rec.function};
    int rc = store_batch_exec_put(b, &x->rec, x->written_state == EXEC_NONE ? NULL : &prev);
    for (size_t i = x->jw_from; rc == 0 && i < x->jw_to; i++)
        rc = store_batch_journal_put(b, &x->rec.id, &x->run.new_entries[i].e);
    if (rc == 0 && x->sleep_entry)
        rc = store_batch_journal_put(b, &x->rec.id, x->sleep_entry);
    if (rc == 0 && x->settle_parent)
        rc = batch_parent_entry(b, x);
    if (rc || !exec_state_final(x->rec.state))
        return rc;
    for (size_t i = 0; i < x->run.log_count; i++) {
        store_log_line line = {(uint32_t)i, x->run.logs[i].time_ms, x->run.logs[i].level,
                               x->run.logs[i].text};
        if ((rc = store_batch_log_put(b, &x->rec.id, &line)) != 0)
            return rc;
    }
    return 0;
}

/* Move the dirty list into a batch and hand it to the commit thread. */
static void submit_dirty(engine *e)
{
    size_t n = 0;
    list_node *node;
    int rc = 0;

    for (node = e->dirty.next; node != &e->dirty; node = node->next)
        n++;
    if (n > e->entry_cap) {
        commit_entry *grown = realloc(e->entries, n * sizeof *grown);
        if (!grown) {
            hlog(HLOG_ERROR, "out of memory building a commit; retrying in %d ms", COMMIT_RETRY_MS);
            uv_timer_start(&e->retry_timer, on_retry, COMMIT_RETRY_MS, 0);
            return;
        }
        e->entries = grown;
        e->entry_cap = n;
    }
    store_batch_reset(e->batch);
    e->entry_count = 0;
    while (!list_empty(&e->dirty)) {
        exec *x = list_entry(e->dirty.next, exec, dirty_node);
        commit_entry *ce = &e->entries[e->entry_count++];
        list_unlink(&x->dirty_node);
        x->in_dirty = false;
        e->dirty_count--;
        if (rc == 0)
            rc = batch_exec(e->batch, x);
        ce->x = x;
        ce->state = x->rec.state;
        ce->scheduled_at = x->rec.scheduled_at;
        ce->wake_at = x->rec.wake_at;
        ce->dispatch = x->dispatch_pending;
        ce->checkpoint = x->cp_waiting;
        ce->settled_parent = x->settle_parent;
        ce->jw_to = x->jw_to;
        ce->sleep_entry = x->sleep_entry;
        x->sleep_entry = NULL; /* the entry owns it until it commits or fails */
        x->settle_parent = false;
        x->cp_waiting = false;
        x->dispatch_pending = false;
        x->written_state = x->rec.state;
        x->written_scheduled_at = x->rec.scheduled_at;
        x->written_wake_at = x->rec.wake_at;
        list_init(&ce->acks);
        while (!list_empty(&x->acks)) {
            list_node *w = x->acks.next;
            list_unlink(w);
            list_push_back(&ce->acks, w);
        }
    }
    if (rc != 0) {
        /* Only out of memory gets here; treat it as a failed commit. */
        batch_failed(e, rc);
        return;
    }
    committer_submit(e->committer, e->batch);
}

static void on_retry(uv_timer_t *t)
{
    flush(t->data);
}

/* Put every execution of a failed batch back as it was before it. */
static void batch_failed(engine *e, int status)
{
    hlog(HLOG_ERROR, "group commit failed, retrying in %d ms: %s", COMMIT_RETRY_MS,
         status == TARRY_ENOMEM ? "out of memory" : store_last_error(e->st));
    for (size_t i = 0; i < e->entry_count; i++) {
        commit_entry *ce = &e->entries[i];
        exec *x = ce->x;
        while (!list_empty(&ce->acks))
            waiter_answer(e, list_entry(ce->acks.next, engine_waiter, node), status, NULL);
        x->written_state = x->committed_state;
        x->written_scheduled_at = x->committed_scheduled_at;
        x->written_wake_at = x->committed_wake_at;
        x->dispatch_pending = x->dispatch_pending || ce->dispatch;
        x->settle_parent = x->settle_parent || ce->settled_parent;
        if (ce->sleep_entry && !x->sleep_entry)
            x->sleep_entry = ce->sleep_entry;
        else
            sleep_entry_free(ce->sleep_entry);
        if (ce->checkpoint)
            checkpoint_answer(e, x, status); /* the step fails visibly rather than wait forever */
        mark_dirty(e, x);
    }
    e->entry_count = 0;
    uv_timer_start(&e->retry_timer, on_retry, COMMIT_RETRY_MS, 0);
}

/* What happens to one execution once the state in its entry is durable. */
static void entry_committed(engine *e, commit_entry *ce)
{
    exec *x = ce->x;
    exec_record snapshot;

    if (x->committed_state == EXEC_SCHEDULED && ce->state != EXEC_SCHEDULED)
        e->timers_changed = true;
    if (ce->state == EXEC_SCHEDULED)
        e->timers_changed = true;
    x->committed_state = ce->state;
    x->committed_scheduled_at = ce->scheduled_at;
    x->committed_wake_at = ce->wake_at;
    if (ce->wake_at)
        e->timers_changed = true;
    if (x->jw_from < ce->jw_to)
        x->jw_from = ce->jw_to;
    sleep_entry_free(ce->sleep_entry);
    if (ce->checkpoint)
        checkpoint_answer(e, x, 0);
    snapshot = x->rec;
    snapshot.state = ce->state; /* what is durable, even if memory moved on */
    while (!list_empty(&ce->acks))
        waiter_answer(e, list_entry(ce->acks.next, engine_waiter, node), 0, &snapshot);
    if (exec_state_final(ce->state)) {
        e->stats.finished[ce->state]++;
        if (x->fn && !x->fn->owner->current)
            sweep_soon(e); /* maybe the last execution on an old version */
        notify_final(e, &x->rec);
        exec_free(e, x);
    } else if ((ce->state == EXEC_SCHEDULED || ce->state == EXEC_BLOCKED || ce->state == EXEC_WAITING) &&
               !x->in_dirty && x->rec.state == ce->state) {
        exec_free(e, x);
    } else if (ce->dispatch) {
        dispatch(e, x);
    } else if (x->enqueue_on_commit && ce->state == EXEC_QUEUED) {
        x->enqueue_on_commit = false;
        ready_append(e, x);
    }
}

static void on_committed(void *user, int status)
{
    engine *e = user;

    if (status == TARRY_EFULL && store_grow(e->st) == 0) {
        /* Nothing is open now (the commit thread is idle, reads are
         * synchronous), so the map could grow; the same batch fits now. */
        hlog(HLOG_INFO, "store map grown");
        committer_submit(e->committer, e->batch);
        return;
    }
    if (status != 0) {
        batch_failed(e, status);
    } else {
        /* Callers answered now plus callers who arrived during the commit:
         * with clients that wait for each answer, the clients in flight. */
        size_t callers = 0;
        e->stats.commits++;
        for (size_t i = 0; i < e->entry_count; i++) {
            callers += count_acks(&e->entries[i].acks);
            entry_committed(e, &e->entries[i]);
        }
        e->entry_count = 0;
        for (list_node *n = e->dirty.next; n != &e->dirty; n = n->next)
            callers += count_acks(&list_entry(n, exec, dirty_node)->acks);
        e->acks_expected = callers;
    }
    flush(e);
}

/* Whether someone waits for this change to be durable. */
static bool exec_awaited(engine *e, exec *x)
{
    return !list_empty(&x->acks) || x->dispatch_pending || x->enqueue_on_commit || x->cp_waiting ||
           (exec_state_final(x->rec.state) && idmap_get(&e->waits, &x->rec.id));
}

static void on_linger(uv_timer_t *t)
{
    engine *e = t->data;
    e->linger_over = true;
    flush(e);
}

static void on_gather(uv_idle_t *h)
{
    (void)h; /* flush runs in the check phase right after */
}

/*
 * Whether to start a commit now (the commit thread is idle and something
 * is dirty). Each commit costs two device flushes whatever it holds, so:
 *   - changes nobody waits for (the outcome of a function nobody is
 *     polling) wait up to LINGER_MS to ride with a commit somebody needs,
 *     instead of occupying the disk when a caller arrives;
 *   - when the last batch answered several callers at once (concurrent
 *     clients), a batch waits up to GATHER_NS for as many, so it answers
 *     them all rather than the first of them. A lone caller never waits.
 */
static bool commit_now(engine *e)
{
    size_t acks = 0;
    bool awaited = false;

    if (e->draining || e->linger_over || e->dirty_count >= LINGER_MAX)
        return true;
    for (list_node *n = e->dirty.next; n != &e->dirty; n = n->next) {
        exec *x = list_entry(n, exec, dirty_node);
        if (exec_awaited(e, x)) {
            awaited = true;
            acks += count_acks(&x->acks);
        }
    }
    if (!awaited) {
        if (!uv_is_active((uv_handle_t *)&e->linger_timer))
            uv_timer_start(&e->linger_timer, on_linger, LINGER_MS, 0);
        return false;
    }
    if (acks == 0 || acks >= e->acks_expected)
        return true;
    uint64_t now = uv_hrtime();
    if (!e->gather_deadline) {
        e->gather_deadline = now + GATHER_NS;
        uv_idle_start(&e->gather_idle, on_gather);
    }
    return now >= e->gather_deadline;
}

/*
 * The end of a loop turn: start what can start, and if the commit thread is
 * idle, hand it everything that changed. Answers and dispatches of recovered
 * executions wait for on_committed.
 */
static void flush(engine *e)
{
    if (e->timers_due)
        load_due_timers(e);
    start_ready(e);
    if (!committer_busy(e->committer) && !list_empty(&e->dirty) && commit_now(e)) {
        uv_timer_stop(&e->linger_timer);
        uv_idle_stop(&e->gather_idle);
        e->gather_deadline = 0;
        e->linger_over = false;
        store_grow(e->st); /* cheap when there is room: two reads of the meta page */
        submit_dirty(e);
    }
    if (e->timers_changed)
        arm_timer(e);
    check_drained(e);
}

static void on_check(uv_check_t *c)
{
    flush(c->data);
}

/* ---- life cycle ------------------------------------------------------------------ */

int engine_create(engine **out, uv_loop_t *loop, store *st, plugins *pl, int workers)
{
    engine *e = calloc(1, sizeof *e);
    if (!e)
        return TARRY_ENOMEM;
    e->loop = loop;
    e->st = st;
    e->pl = pl;
    e->workers = workers > 0 ? (size_t)workers : 1;
    e->stats.workers = e->workers;
    idmap_init(&e->active);
    idmap_init(&e->waits);
    list_init(&e->ready);
    list_init(&e->dirty);
    list_init(&e->deadlines);
    list_init(&e->reload_waiting);
    list_init(&e->reload_answer);
    uv_check_init(loop, &e->check);
    uv_timer_init(loop, &e->timer);
    uv_timer_init(loop, &e->deadline_timer);
    uv_timer_init(loop, &e->retry_timer);
    uv_timer_init(loop, &e->linger_timer);
    uv_idle_init(loop, &e->gather_idle);
    e->check.data = e->timer.data = e->deadline_timer.data = e->retry_timer.data = e;
    e->linger_timer.data = e->gather_idle.data = e;
    uv_timer_init(loop, &e->sweep_timer);
    e->sweep_timer.data = e;
    uv_async_init(loop, &e->cp_async, on_checkpoint);
    e->cp_async.data = e;
    uv_mutex_init(&e->cp_lock);
    uv_cond_init(&e->cp_cond);
    e->open_handles = 8;
    if (!(e->batch = store_batch_new()) || committer_start(&e->committer, loop, st, on_committed, e) != 0) {
        hlog(HLOG_ERROR, "cannot start the commit thread");
        return TARRY_ENOMEM;
    }
    *out = e;
    return 0;
}

struct recover_ctx {
    engine *e;
    size_t requeued, poisoned, loaded;
    int error;
};

static int recover_running(void *user, const exec_record *rec)
{
    struct recover_ctx *rc = user;
    exec *x = load_exec(rc->e, rec);
    if (!x) {
        rc->error = TARRY_ENOMEM;
        return 1;
    }
    x->careful = true;
    x->rec.crashes = rec->crashes + 1;
    if (x->rec.state == EXEC_QUEUED && x->rec.crashes >= ENGINE_POISON_CRASHES) {
        char msg[300];
        /* It is taken off the ready queue again: it must not run. */
        list_unlink(&x->ready_node);
        x->in_ready = false;
        rc->e->ready_count--;
        snprintf(msg, sizeof msg,
                 "the host died %u times in a row while this execution was running (last in attempt %u); "
                 "it is failed as a poison pill so it cannot take the host down again",
                 x->rec.crashes, x->rec.attempts);
        x->rec.state = EXEC_FAILED;
        x->rec.finished_at = clock_now_ms();
        exec_set_error(x, msg);
        settle_child(rc->e, x);
        rc->poisoned++;
        hlog(HLOG_ERROR, "execution of %s failed as a poison pill: %s", rec->function, msg);
    } else {
        rc->requeued++;
    }
    return 0;
}

static int recover_queued(void *user, const exec_record *rec)
{
    struct recover_ctx *rc = user;
    exec *x = load_exec(rc->e, rec);
    if (!x) {
        rc->error = TARRY_ENOMEM;
        return 1;
    }
    /* It may have been running when the host died, before its running
     * state committed: count the next crash. */
    x->careful = true;
    rc->loaded++;
    return 0;
}

static int collect_pin(void *user, const exec_record *rec)
{
    struct pinned_ctx *pc = user;
    if (!rec->plugin_hash || strlen(rec->plugin_hash) != PLUGIN_HASH_LEN)
        return 0;
    for (size_t i = 0; i < pc->count; i++)
        if (strcmp(pc->hashes[i], rec->plugin_hash) == 0)
            return 0;
    if (pc->count == pc->cap) {
        size_t cap = pc->cap ? pc->cap * 2 : 8;
        void *grown = realloc(pc->hashes, cap * sizeof *pc->hashes);
        if (!grown)
            return TARRY_ENOMEM;
        pc->hashes = grown;
        pc->cap = cap;
    }
    memcpy(pc->hashes[pc->count++], rec->plugin_hash, PLUGIN_HASH_LEN + 1);
    return 0;
}

/* Load every version an unfinished execution is pinned to, from the version
 * store: the folder may hold other code by now, or nothing. */
static int load_pinned_versions(engine *e)
{
    static const exec_state unfinished[] = {EXEC_SCHEDULED, EXEC_QUEUED, EXEC_RUNNING, EXEC_WAITING,
                                            EXEC_BLOCKED};
    struct pinned_ctx pc = {e, NULL, 0, 0};
    store_txn *txn;
    int rc = store_txn_begin(e->st, false, &txn);

    for (size_t i = 0; rc == 0 && i < sizeof unfinished / sizeof unfinished[0]; i++)
        rc = store_exec_scan_state(txn, unfinished[i], collect_pin, &pc);
    store_txn_abort(txn);
    for (size_t i = 0; rc == 0 && i < pc.count; i++)
        plugins_load_stored(e->pl, pc.hashes[i]); /* a missing one blocks its executions, with the reason */
    free(pc.hashes);
    return rc;
}

int engine_start(engine *e)
{
    struct recover_ctx rc = {e, 0, 0, 0, 0};
    store_txn *txn;
    int r;

    if ((r = load_pinned_versions(e)) != 0)
        return r;
    if ((r = store_txn_begin(e->st, false, &txn)) != 0)
        return r;
    r = store_exec_scan_state(txn, EXEC_RUNNING, recover_running, &rc);
    if (r == 0)
        r = store_exec_scan_state(txn, EXEC_QUEUED, recover_queued, &rc);
    store_txn_abort(txn);
    if (r < 0 || rc.error) {
        hlog(HLOG_ERROR, "recovery failed: %s", r < 0 ? store_last_error(e->st) : "out of memory");
        return r < 0 ? r : rc.error;
    }
    if (rc.requeued || rc.poisoned || rc.loaded)
        hlog(HLOG_INFO,
             "recovered: %zu interrupted executions re-queued, %zu failed as poison pills, %zu queued",
             rc.requeued, rc.poisoned, rc.loaded);
    uv_check_start(&e->check, on_check);
    e->timers_due = true;
    flush(e);
    return 0;
}

void engine_drain(engine *e, void (*done)(void *user), void *user)
{
    e->draining = true;
    e->drain_done = done;
    e->drain_user = user;
    uv_timer_stop(&e->timer);
    check_drained(e);
}

static void on_handle_closed(uv_handle_t *h)
{
    engine *e = h->data;
    if (--e->open_handles > 0)
        return;
    for (size_t i = 0; i < e->active.cap; i++) {
        exec *x = e->active.slots[i].value;
        if (x) {
            replay_run_clear(&x->run);
            sleep_entry_free(x->sleep_entry);
            free(x);
        }
    }
    for (size_t i = 0; i < e->waits.cap; i++)
        free(e->waits.slots[i].value);
    idmap_free(&e->active);
    idmap_free(&e->waits);
    store_batch_free(e->batch);
    free(e->entries);
    uv_cond_destroy(&e->cp_cond);
    uv_mutex_destroy(&e->cp_lock);
    free(e);
}

void engine_close(engine *e)
{
    committer_stop(e->committer);
    uv_close((uv_handle_t *)&e->check, on_handle_closed);
    uv_close((uv_handle_t *)&e->timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->deadline_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->linger_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->gather_idle, on_handle_closed);
    uv_close((uv_handle_t *)&e->cp_async, on_handle_closed);
    uv_close((uv_handle_t *)&e->sweep_timer, on_handle_closed);
}

/* ---- reload ------------------------------------------------------------------- */

static void reload_work(uv_work_t *req)
{
    engine *e = req->data;
    e->reload_scan = plugins_scan_dir(e->pl);
}

static void reload_done(uv_work_t *req, int status)
{
    engine *e = req->data;
    (void)status;
    if (e->reload_scan)
        plugins_apply(e->pl, e->reload_scan);
    e->reload_scan = NULL;
    sweep_soon(e); /* the version it replaced may have no executions left */
    e->reloading = false;
    /* Everyone who asked before the scan began gets its report; those who
     * asked during it get the next one. */
    while (!list_empty(&e->reload_answer)) {
        engine_waiter *w = list_entry(e->reload_answer.next, engine_waiter, node);
        waiter_answer(e, w, 0, NULL);
    }
    if (!list_empty(&e->reload_waiting))
        engine_reload(e, NULL);
}

int engine_reload(engine *e, engine_waiter *w)
{
    if (w) {
        w->kind = WAIT_ACK;
        w->node.next = w->node.prev = NULL;
        w->deadline.next = w->deadline.prev = NULL;
        list_push_back(&e->reload_waiting, &w->node);
    }
    if (e->reloading)
        return 0;
    /* The scan hashes, copies and dlopens: a worker does it, never the loop. */
    e->reloading = true;
    while (!list_empty(&e->reload_waiting)) {
        list_node *n = e->reload_waiting.next;
        list_unlink(n);
        list_push_back(&e->reload_answer, n);
    }
    e->reload_work.data = e;
    if (uv_queue_work(e->loop, &e->reload_work, reload_work, reload_done) != 0) {
        e->reloading = false;
        return TARRY_ENOMEM;
    }
    return 0;
}

static int upgrade_now(engine *e, const exec_id *id, const char *to_hash, engine_waiter *w);

typedef struct upgrade_job {
    uv_work_t work;
    engine *e;
    exec_id id;
    char hash[PLUGIN_HASH_LEN + 1];
    list_node waiter; /* holds the caller's waiter; empty once it went away */
    int loaded;
} upgrade_job;

static void upgrade_load(uv_work_t *req)
{
    upgrade_job *job = req->data;
    job->loaded = plugins_load_stored(job->e->pl, job->hash);
}

static void upgrade_loaded(uv_work_t *req, int status)
{
    upgrade_job *job = req->data;
    int rc = status ? TARRY_ENOMEM : job->loaded;

    if (!list_empty(&job->waiter)) {
        engine_waiter *w = list_entry(job->waiter.next, engine_waiter, node);
        list_unlink(&w->node);
        if (rc == 0)
            rc = upgrade_now(job->e, &job->id, job->hash, w);
        if (rc != 0)
            w->cb(w, rc, NULL);
    }
    free(job);
}

int engine_upgrade(engine *e, const exec_id *id, const char *to_hash, engine_waiter *w)
{
    /* A version no unfinished execution pins is not loaded after a restart:
     * load it from the store first, on a worker (dlopen runs plugin code). */
    if (to_hash && !plugins_find_version_loaded(e->pl, to_hash)) {
        upgrade_job *job = calloc(1, sizeof *job);
        if (!job)
            return TARRY_ENOMEM;
        job->e = e;
        job->id = *id;
        list_init(&job->waiter);
        w->kind = WAIT_ACK;
        w->deadline.next = w->deadline.prev = NULL;
        list_push_back(&job->waiter, &w->node);
        snprintf(job->hash, sizeof job->hash, "%s", to_hash);
        job->work.data = job;
        if (uv_queue_work(e->loop, &job->work, upgrade_load, upgrade_loaded) != 0) {
            list_unlink(&w->node);
            free(job);
            return TARRY_ENOMEM;
        }
        return 0;
    }
    return upgrade_now(e, id, to_hash, w);
}

static int upgrade_now(engine *e, const exec_id *id, const char *to_hash, engine_waiter *w)
{
    exec *x = idmap_get(&e->active, id);
    const plugin_fn *fn;
    store_txn *txn;
    exec_record rec;
    int rc = 0;

    if (!x) {
        if ((rc = store_txn_begin(e->st, false, &txn)) != 0)
            return rc;
        rc = store_exec_get(txn, id, &rec);
        if (rc == 0 && !(x = exec_from_store(e, &rec)))
            rc = TARRY_ENOMEM;
        store_txn_abort(txn);
        if (rc != 0)
            return rc;
    }
    /* A running pass keeps its code; a final execution has nothing to replay. */
    if (x->rec.state == EXEC_RUNNING || exec_state_final(x->rec.state) || x->in_dirty || x->dispatch_pending)
        return TARRY_ESTATE;
    fn = to_hash ? plugins_find_version(e->pl, to_hash, x->rec.function)
                 : plugins_find(e->pl, x->rec.function);
    if (!fn)
        return TARRY_ENOTFOUND;
    exec_bind(x, fn);
    /* The next replay runs the new code against the journal: the
     * determinism check decides, and blocks it again if they disagree. */
    if (x->rec.state == EXEC_BLOCKED) {
        x->rec.error = NULL;
        wake(e, x);
    }
    w->id = *id;
    w->kind = WAIT_ACK;
    w->node.next = w->node.prev = NULL;
    w->deadline.next = w->deadline.prev = NULL;
    list_push_back(&x->acks, &w->node);
    mark_dirty(e, x);
    return 0;
}

int engine_reschedule(engine *e, const exec_id *id, int64_t when_ms, engine_waiter *w)
{
    exec *x = idmap_get(&e->active, id);
    store_txn *txn;
    exec_record rec;
    int rc;

    if ((rc = store_txn_begin(e->st, false, &txn)) != 0)
        return rc;
    if (!x) {
        if ((rc = store_exec_get(txn, id, &rec)) != 0)
            goto out;
        if (rec.state != EXEC_SCHEDULED && !(rec.state == EXEC_WAITING && rec.wake_at)) {
            rc = TARRY_ESTATE;
            goto out;
        }
        if (!(x = exec_from_store(e, &rec))) {
            rc = TARRY_ENOMEM;
            goto out;
        }
    }
    if (x->rec.state == EXEC_SCHEDULED) {
        x->rec.scheduled_at = when_ms;
    } else if (x->rec.state == EXEC_WAITING && x->rec.wake_at) {
        /* The sleep's entry carries its end too: a replay that passes by
         * before the timer fires must wait for the new time, not the old. */
        x->rec.wake_at = when_ms;
        sleep_ended(x, txn);
        if (x->sleep_entry) {
            x->sleep_entry->status = JOURNAL_PENDING;
            x->sleep_entry->finished_at = 0;
            x->sleep_entry->wake_at = when_ms;
        }
    } else {
        rc = TARRY_ESTATE;
        goto out;
    }
    w->id = *id;
    w->kind = WAIT_ACK;
    w->node.next = w->node.prev = NULL;
    w->deadline.next = w->deadline.prev = NULL;
    list_push_back(&x->acks, &w->node);
    mark_dirty(e, x);
    e->timers_changed = true;
out:
    store_txn_abort(txn);
    return rc;
}

void engine_get_stats(const engine *e, engine_stats *out)
{
    committer_stats cs;
    *out = e->stats;
    committer_get_stats(e->committer, &cs);
    out->commit_ns_total = cs.total_ns;
    out->commit_ns_max = cs.max_ns;
    out->running = e->running;
    out->queued = e->ready_count;
}

plugins *engine_plugins(const engine *e)
{
    return e->pl;
}

store *engine_store(const engine *e)
{
    return e->st;
}
