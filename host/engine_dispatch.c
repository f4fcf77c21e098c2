/*
 * engine_dispatch.c - running passes: the ready queue, handing passes to
 * the libuv threadpool, their completions, the children they call, wakes,
 * and the step-checkpoint handshake with a worker.
 *
 * A pass runs on a worker (work_run): it reads its journal as committed and
 * calls the function through replay.h. Everything else here runs on the
 * loop thread. At most `workers` passes run at once, so `running` means on
 * a worker thread, never waiting in the threadpool's own queue.
 *
 * May not: block the loop thread, write the store (changes go on the dirty
 * list for engine_batch.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "deathnote.h"
#include "exec_opts.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"

/* ---- the ready queue ---------------------------------------------------------- */

void engine_ready_append(engine *e, exec *x)
{
    x->in_ready = true;
    list_push_back(&e->ready, &x->ready_node);
    e->ready_count++;
    if (x->rec.suspect) {
        x->ready_suspect = true;
        e->suspects_ready++;
    }
}

void engine_ready_remove(engine *e, exec *x)
{
    if (!x->in_ready)
        return;
    if (x->held) {
        engine_limit_unhold(e, x); /* engine_limits.c */
        return;
    }
    list_unlink(&x->ready_node);
    x->in_ready = false;
    e->ready_count--;
    if (x->ready_suspect) {
        x->ready_suspect = false;
        e->suspects_ready--;
    }
}

void engine_ready_push(engine *e, exec *x)
{
    if (engine_exec_move(e, x, EXEC_QUEUED) == 0)
        engine_ready_append(e, x);
}

/* ---- on the worker -------------------------------------------------------------- */

struct journal_load {
    replay_run *run;
    int error;
};

static int journal_loaded(void *user, const journal_entry *entry)
{
    struct journal_load *jl = user;
    return (jl->error = replay_journal_add(jl->run, entry)) != 0;
}

/* Load the journal as committed into the run. Returns 0 or a negative code. */
int engine_journal_load(engine *e, const exec_id *id, replay_run *run)
{
    struct journal_load jl = {run, 0};
    store_txn *txn;
    int rc;

    if ((rc = store_txn_begin(e->st, false, &txn)) != 0)
        return rc;
    rc = store_journal_scan(txn, id, journal_loaded, &jl);
    store_txn_abort(txn);
    return rc < 0 ? rc : jl.error;
}

#define REREAD_MIN_MS 100
#define REREAD_MAX_MS 5000

static void on_reread(uv_timer_t *t)
{
    engine *e = t->data;
    exec *x = e->reread, *next;

    e->reread = NULL;
    for (; x; x = next) {
        next = x->reread_next;
        x->reread_next = NULL;
        if (x->rejected) {
            engine_exec_free(e, x); /* another host's now (engine_cluster.c): never run here again */
            continue;
        }
        if (e->draining)
            continue; /* left `running`: the next start recovers it */
        e->running++; /* as engine_start_ready counts a pass it dispatches */
        engine_dispatch(e, x); /* still `running` in the store, its attempt begun: the same pass again */
    }
    engine_flush(e);
}

/*
 * x's pass found the store unreachable (a PostgreSQL server restarting or failing over) before
 * it ran anything: it is dispatched again once a wait has passed, which doubles up to
 * REREAD_MAX_MS while the store stays away. Not blocked: the execution did nothing wrong.
 */
static void reread_later(engine *e, exec *x)
{
    x->unread = false;
    if (!e->reread)
        hlog(HLOG_WARN, "cannot read the journal of execution %s: %s; its pass runs again once the store "
                        "answers", x->run.id_text, x->run.error ? x->run.error : "?");
    x->reread_next = e->reread;
    e->reread = x;
    if (!uv_is_active((uv_handle_t *)&e->reread_timer)) {
        e->reread_delay_ms = e->reread_delay_ms ? e->reread_delay_ms * 2 : REREAD_MIN_MS;
        if (e->reread_delay_ms > REREAD_MAX_MS)
            e->reread_delay_ms = REREAD_MAX_MS;
        uv_timer_start(&e->reread_timer, on_reread, (uint64_t)e->reread_delay_ms, 0);
    }
}

/*
 * On the worker: read the journal as committed (the pass was dispatched
 * after the commit that queued it, so it is complete), then run the pass.
 * Reading here keeps a long journal's cost off the loop thread. A first
 * pass of an execution this engine made has nothing to read: every journal
 * entry is written by a pass of its own execution or settles a call one
 * made, so skipping the read saves a store round trip per execution (three
 * on PostgreSQL) where most executions run once.
 */
static void work_run(uv_work_t *req)
{
    exec *x = req->data;
    int rc;

    /* A fatal signal on this thread from here on names x (deathnote.h). */
    deathnote_worker_enter(x->slot);
    rc = x->journal_empty ? 0 : engine_journal_load(x->owner, &x->rec.id, &x->run);
    x->journal_empty = false;
    if (rc == TARRY_EUNREACHABLE) {
        /* The database is away, not the journal broken: nothing ran, the pass comes again. */
        x->unread = true;
        x->run.error = strdup(store_last_error(x->owner->st)); /* the error is this thread's */
        deathnote_worker_leave();
        return;
    }
    if (rc != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot read the journal (%s): %s", status_str(rc),
                 store_last_error(x->owner->st));
        x->run.outcome = REPLAY_BLOCKED;
        x->run.error = strdup(msg);
        x->run.started_at = x->run.finished_at = clock_now_ms();
        deathnote_worker_leave();
        return;
    }
    /* A step's result must be durable before a later step's body runs. Ending
     * the pass there (a yield) frees the worker while the commit happens and
     * costs a replay of the journal, which is cheap while it is short; past
     * that, the worker waits for the commit instead. */
    if (x->run.cp_mode != REPLAY_CP_NONE)
        x->run.cp_mode = x->run.journal_count < YIELD_JOURNAL_MAX ? REPLAY_CP_YIELD : REPLAY_CP_BLOCK;
    replay_execute(&x->run);
    deathnote_worker_leave();
}

static bool hook_function_known(void *user, const char *name)
{
    exec *x = user;
    return engine_child_function(x->owner, x, name) != NULL;
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

/* ---- children and wakes ------------------------------------------------------------ */

const plugin_fn *engine_child_function(engine *e, const exec *x, const char *name)
{
    /* The current version, or, for a plugin removed since, the one x itself
     * is pinned to (so pinned work can run to completion). */
    const plugin_fn *fn = plugins_find(e->pl, name);
    if (!fn && x->fn)
        fn = plugins_find_version(e->pl, x->fn->owner->hash, name);
    return fn;
}

/*
 * It joins the ready queue when the batch that records it as queued
 * commits: that batch also holds (or follows) whatever woke it, so the
 * journal it replays from is complete, and a crash during the replay finds
 * it queued (recovery then counts crashes).
 */
void engine_wake(engine *e, exec *x)
{
    engine_ready_remove(e, x);
    if (engine_exec_move(e, x, EXEC_QUEUED) != 0)
        return;
    x->rec.wake_at = 0;
    x->rec.resume = true;
}

void engine_wake_parent(engine *e, const exec_id *id)
{
    store_txn *txn;
    exec_record rec;
    exec *parent;

    if ((parent = idmap_get(&e->active, id))) {
        if (exec_state_final(parent->rec.state) || parent->rejected)
            return; /* cancelled (engine_cancel.c), or never stored: nothing to wake */
        /* A parent's pass must see this outcome, which is durable only with
         * the batch being built: a waiting parent is woken in it; a queued
         * one that has not started goes back to wait for it (it would replay
         * without the outcome and suspend again for nothing); one whose wake
         * is already in the batch in flight, or that is running, replays
         * again once this batch commits (engine_batch.c and work_done). */
        if (parent->rec.state == EXEC_WAITING) {
            engine_wake(e, parent);
        } else if (parent->rec.state == EXEC_QUEUED && parent->in_ready) {
            engine_ready_remove(e, parent);
            engine_exec_dirty(e, parent);
        } else if (parent->rec.state == EXEC_QUEUED && parent->in_dirty) {
            /* Its wake is in the batch being built, with this outcome. */
        } else {
            parent->wake_pending = true; /* running, or its wake is in the batch in flight */
        }
        return;
    }
    if (store_txn_begin(e->st, false, &txn) != 0)
        return;
    if (store_exec_get(txn, id, &rec) == 0 && (rec.state == EXEC_WAITING || rec.state == EXEC_QUEUED) &&
        (parent = engine_exec_from_store(e, &rec))) {
        if (rec.state == EXEC_WAITING)
            engine_wake(e, parent);
        else
            engine_exec_dirty(e, parent); /* queued in the store's backlog: it pages in after this batch */
    }
    store_txn_abort(txn);
}

void engine_settle_child(engine *e, exec *child)
{
    static const exec_id none;

    /* Calls of other parents that share it by its idempotency key (a keyed
     * trigger's execution can be shared too: it has no parent of its own). */
    engine_share_child_final(e, child);
    if (memcmp(&child->rec.parent_id, &none, sizeof none) == 0)
        return;
    child->settle_parent = true;
    if (!child->rec.detached)
        engine_wake_parent(e, &child->rec.parent_id);
}

/* r settles now with rec's outcome (a child that is final). */
static void settle_from(replay_entry *r, const exec_record *rec)
{
    r->e.status = rec->state == EXEC_SUCCEEDED   ? JOURNAL_SUCCEEDED
                  : rec->state == EXEC_CANCELLED ? JOURNAL_CANCELLED
                                                 : JOURNAL_FAILED;
    r->own_value = r->e.status == JOURNAL_SUCCEEDED && rec->result ? strdup(rec->result) : NULL;
    r->own_error = r->e.status == JOURNAL_SUCCEEDED ? NULL : strdup(rec->error ? rec->error : "");
}

/*
 * A call whose idempotency key names a child that exists (found > 0) or
 * names one with other args (TARRY_EEXIST): no new child. The call entry
 * points at the existing one. A child that is final (in memory, or in the
 * store) settles the entry here and now; one that is not links the call to
 * it (engine_share.c), and the entry stays pending until the child ends,
 * like a call of the parent's own child. A key used with other args fails
 * the call. An entry settled here is written in this pass's batch and the
 * parent replays after it (wake_pending).
 */
static void child_shared(engine *e, exec *x, size_t i, int found, const engine_idem_hit *hit)
{
    /* The strings go into r's own fields: the core's entries may still be the worker's (a
     * checkpoint hands entries over while the pass goes on). */
    replay_entry *r = &x->run.new_entries[i];
    char why[600];
    store_txn *txn;
    exec_record rec;
    exec *child;
    int rc;

    if (found == TARRY_EEXIST) {
        snprintf(why, sizeof why,
                 "idempotency_key \"%.300s\" of function \"%s\" was first used with other args",
                 r->idempotency_key, r->e.name);
        r->own_error = strdup(why);
        goto settled;
    }
    if (memcmp(&hit->id, &x->rec.id, sizeof hit->id) == 0) {
        /* It would wait for its own end. (A longer cycle, through other executions, waits until
         * one of them is cancelled: it is not looked for.) */
        snprintf(why, sizeof why, "idempotency_key \"%.300s\" names the calling execution itself",
                 r->idempotency_key);
        r->own_error = strdup(why);
        goto settled;
    }
    r->e.child = hit->id;
    child = hit->x ? hit->x : idmap_get(&e->active, &hit->id);
    if (child && exec_state_final(child->rec.state)) {
        settle_from(r, &child->rec); /* its final state is in a batch being built or in flight */
        goto settled;
    }
    if (!child) {
        if ((rc = store_txn_begin(e->st, false, &txn)) == 0) {
            rc = store_exec_get(txn, &hit->id, &rec);
            if (rc == 0 && exec_state_final(rec.state))
                settle_from(r, &rec);
            store_txn_abort(txn);
        }
        if (rc != 0) {
            snprintf(why, sizeof why, "idempotency_key \"%.300s\": the child it names cannot be read: %s",
                     r->idempotency_key, status_str(rc));
            r->own_error = strdup(why);
            goto settled;
        }
        if (exec_state_final(rec.state))
            goto settled;
    }
    /* Not final: not in memory and not loaded since the read above (this
     * turn), or in memory; either way it ends on this thread, later. */
    if (engine_share_link(e, x, &hit->id, r->e.seq, r->e.detached) == 0)
        return;
    snprintf(why, sizeof why, "idempotency_key \"%.300s\": out of memory linking the call to its child",
             r->idempotency_key);
    r->own_error = strdup(why);
settled:
    r->e.finished_at = clock_now_ms();
    if (r->e.status == JOURNAL_PENDING)
        r->e.status = JOURNAL_FAILED;
    r->e.value = r->own_value;
    r->e.error = r->own_error;
    if (!r->e.detached)
        x->wake_pending = true; /* replay once this entry is durable (work_done) */
}

/* Children a pass called: new executions, created in the batch that records the calls. */
static void spawn_children(engine *e, exec *x, size_t from, size_t to)
{
    int64_t now = clock_now_ms();

    for (size_t i = from; i < to; i++) {
        const replay_entry *r = &x->run.new_entries[i];
        exec_record rec;
        exec *child;

        if (r->e.kind != JOURNAL_CALL)
            continue;
        if (r->idempotency_key) {
            engine_idem_hit hit;
            int found = engine_idem_check(e, r->e.name, r->idempotency_key, r->args ? r->args : "null", &hit);
            if (found > 0 || found == TARRY_EEXIST) {
                child_shared(e, x, i, found, &hit);
                continue;
            }
        }
        memset(&rec, 0, sizeof rec);
        rec.id = r->e.child;
        rec.function = r->e.name;
        rec.args = r->args ? r->args : "null";
        rec.created_at = r->e.started_at;
        rec.scheduled_at = r->e.wake_at > now ? r->e.wake_at : now;
        rec.parent_id = x->rec.id;
        rec.parent_seq = r->e.seq;
        rec.detached = r->e.detached;
        rec.idempotency_key = r->idempotency_key;
        rec.metadata = r->metadata;
        if (r->discard_after)
            exec_opts_discard_after(r->discard_after, r->e.started_at, &rec.discard_at, NULL,
                                    0); /* checked */
        if (!(child = engine_exec_alloc(e, &rec))) {
            hlog(HLOG_ERROR, "out of memory creating a child of %s", x->run.id_text);
            continue;
        }
        child->journal_empty = true;
        if (engine_idem_hold(e, child) != 0)
            hlog(HLOG_ERROR, "out of memory holding the idempotency key of a child of %s", x->run.id_text);
        e->stats.created++;
        engine_metrics_created(e, child);
        engine_exec_bind(child, engine_child_function(e, x, rec.function));
        if (!child->fn)
            engine_exec_block_unloaded(e, child);
        else
            engine_exec_move(e, child, rec.scheduled_at > now ? EXEC_SCHEDULED : EXEC_QUEUED);
        if (child->rec.state == EXEC_SCHEDULED)
            e->timers_changed = true;
    }
}

/* Hand the commands a pass added since the last hand-over to the next batch. */
static void take_new_entries(engine *e, exec *x)
{
    spawn_children(e, x, x->run.handed, x->run.new_count);
    x->run.handed = x->run.new_count;
    x->jw_to = x->run.new_count;
}

/* ---- completions ---------------------------------------------------------------------- */

static void work_done(uv_work_t *req, int status)
{
    exec *x = req->data;
    engine *e = x->owner;

    if (x->abandoned) {
        /* It timed out (engine_retry.c): the execution went on without it. */
        deathnote_slot_release(x->slot);
        if (x->isolated)
            e->isolated_running = false;
        engine_abandoned_returned(e, x, status);
        engine_flush(e);
        return;
    }
    e->running--;
    deathnote_slot_release(x->slot);
    x->slot = -1;
    if (x->isolated) {
        /* It ran alone and came back: the suspicion is cleared with its outcome. */
        x->isolated = false;
        e->isolated_running = false;
        x->rec.suspect = false;
    }
    engine_watch_pass_end(e, x);
    if (status == UV_ECANCELED) {
        /* Never ran (only at shutdown); it is still `running` in the store
         * and will be re-queued at the next start. */
        return;
    }
    if (x->rejected) {
        /* A failed commit refused it while it ran (engine_batch.c): its
         * callers were told, so its outcome must never be stored. */
        hlog(HLOG_DEBUG, "execution %s was refused by a failed commit; its outcome is dropped",
             x->run.id_text);
        engine_exec_free(e, x);
        return;
    }
    if (x->unread) {
        reread_later(e, x);
        return;
    }
    e->reread_delay_ms = 0; /* a journal was read: the store is reachable */
    if (!x->rec.cancel_requested) /* a cancelled pass's last commands start nothing (engine_cancel.c) */
        take_new_entries(e, x);
    x->lw_to = x->run.log_count;
    if (x->first_pass)
        x->rec.started_at = x->run.started_at;
    x->rec.crashes = 0;
    x->careful = false;
    /* Deferral only covers a pass that ends final: one that waits has
     * children and timers pointing at it, so its record must exist. */
    if (x->run.outcome != REPLAY_SUCCEEDED && x->run.outcome != REPLAY_FAILED)
        x->deferred = false;
    /* The lines it handed out are stored with this outcome: the next pass logs them again unseen. */
    x->rec.log_mark_pos = x->run.log_mark_pos;
    x->rec.log_mark_count = x->run.log_mark_count;
    /* Counted once per pass, here (a retried commit writes the same total again). */
    x->log_marker = x->run.log_dropped > 0;
    x->rec.log_dropped = x->run.log_dropped > UINT32_MAX - x->rec.log_dropped
                             ? UINT32_MAX
                             : x->rec.log_dropped + x->run.log_dropped;
    if (engine_cancel_pass_ended(e, x)) {
        x->wake_pending = false;
        return;
    }
    switch (x->run.outcome) {
    case REPLAY_SUCCEEDED:
        engine_exec_move(e, x, EXEC_SUCCEEDED);
        x->rec.result = x->run.result ? x->run.result : "null";
        x->rec.error = NULL;
        x->rec.finished_at = x->run.finished_at;
        x->rec.next_attempt_at = 0;
        engine_attempt_note(x, EXEC_SUCCEEDED, x->run.finished_at, NULL, false, false, false);
        engine_settle_child(e, x);
        break;
    case REPLAY_FAILED:
        /* Final, or retried by the function's policy (engine_retry.c). */
        x->rec.error = x->run.error;
        engine_attempt_failed(e, x, x->run.permanent, false, true);
        break;
    case REPLAY_BLOCKED:
        engine_exec_move(e, x, EXEC_BLOCKED);
        x->rec.error = x->run.error;
        hlog(HLOG_WARN, "execution %s blocked: %s", x->run.id_text, x->run.error ? x->run.error : "?");
        break;
    case REPLAY_YIELDED:
        /* It stopped before a step's body so the steps before it commit first: then it runs again. */
        engine_wake(e, x);
        break;
    case REPLAY_SUSPENDED:
        if (x->wake_pending) {
            engine_wake(e, x);
        } else {
            engine_exec_move(e, x, EXEC_WAITING);
            x->rec.wake_at = x->run.wake_at;
            x->rec.wake_seq = x->run.wake_seq;
        }
        break;
    }
    x->wake_pending = false;
    engine_exec_dirty(e, x); /* nobody may wait for it: see engine_batch.c */
}

/* ---- the step checkpoint -------------------------------------------------------------- */

void engine_checkpoint_answer(engine *e, exec *x, int status)
{
    uv_mutex_lock(&e->cp_lock);
    x->cp_status = status;
    x->cp_done = true;
    uv_cond_broadcast(&e->cp_cond);
    uv_mutex_unlock(&e->cp_lock);
}

/* On the loop: workers waiting for checkpoints; their commands join the next batch. */
void engine_on_checkpoint(uv_async_t *a)
{
    engine *e = a->data;
    exec *x;

    uv_mutex_lock(&e->cp_lock);
    x = e->cp_queue;
    e->cp_queue = NULL;
    uv_mutex_unlock(&e->cp_lock);
    for (; x; x = x->cp_next) {
        if (x->rejected || x->abandoned) {
            engine_checkpoint_answer(e, x, TARRY_ESTATE); /* it will never be stored */
            continue;
        }
        take_new_entries(e, x);
        x->deferred = false; /* a checkpoint makes the execution durable too */
        x->cp_waiting = true;
        engine_exec_dirty(e, x);
    }
    engine_flush(e);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

void engine_dispatch(engine *e, exec *x)
{
    x->dispatch_after_commit = false;
    if (engine_cancel_before_pass(e, x))
        return; /* cancelled while its `running` state committed */
    replay_run_clear(&x->run);
    x->jw_from = x->jw_to = 0;
    x->lw_from = x->lw_to = 0;
    x->log_marker = false;
    x->run.log_mark_pos = x->rec.log_mark_pos;
    x->run.log_mark_count = x->rec.log_mark_count;
    x->run.log_max_lines = e->log_max_lines;
    x->run.log_line_max = e->log_line_max;
    x->run.log_stored = x->rec.log_count;
    /* Nobody knows of a deferred execution yet: its steps need no checkpoint. */
    x->run.cp_mode = x->deferred ? REPLAY_CP_NONE : REPLAY_CP_YIELD;
    x->run.fn = x->fn->fn;
    x->run.args = x->rec.args;
    x->run.attempt = (int)x->rec.attempts;
    x->run.header_revision = x->fn->owner->header_revision;
    x->run.hooks.user = x;
    x->run.hooks.function_known = hook_function_known;
    x->run.hooks.checkpoint = hook_checkpoint;
    id_format(&x->rec.id, x->run.id_text);
    x->work.data = x;
    e->last_dispatch_ns = uv_hrtime();
    x->slot = deathnote_slot_claim(&x->rec.id, x->rec.function, x->fn->owner->hash, x->rec.attempts,
                                   x->deferred, x->isolated, x->rec.args);
    engine_watch_pass_begin(e, x);
    if (uv_queue_work(e->loop, &x->work, work_run, work_done) != 0) {
        hlog(HLOG_ERROR, "cannot queue execution %s on the threadpool", x->run.id_text);
        deathnote_slot_release(x->slot);
        x->slot = -1;
        if (x->isolated) {
            x->isolated = false;
            e->isolated_running = false;
        }
        e->running--;
        engine_watch_pass_end(e, x);
        engine_exec_move(e, x, EXEC_FAILED);
        engine_exec_set_error(x, "the host could not hand this execution to a worker thread");
        x->rec.finished_at = clock_now_ms();
    }
}

/*
 * The next execution to hand to a worker, taken off the ready queue, or
 * NULL. While suspects wait (engine_recovery.c), they go first, one at a
 * time, each alone: nothing else starts until the running passes are done,
 * and nothing starts beside it.
 */
static exec *next_ready(engine *e)
{
    exec *x = NULL;

    if (e->isolated_running || e->recovery_pending || list_empty(&e->ready))
        return NULL;
    if (e->suspects_ready) {
        if (e->running)
            return NULL;
        for (list_node *n = e->ready.next; n != &e->ready && !x; n = n->next)
            if (list_entry(n, exec, ready_node)->ready_suspect)
                x = list_entry(n, exec, ready_node);
    }
    if (x) {
        x->isolated = true;
        e->isolated_running = true;
        char id[ID_TEXT_LEN + 1];
        id_format(&x->rec.id, id);
        hlog(HLOG_INFO,
             "execution %s (%s) runs alone: it was running when the host died of a cause that named "
             "nobody",
             id, x->rec.function);
    } else {
        e->suspects_ready = 0; /* cannot happen: the count follows the queue */
        /* One whose function is at its concurrency limit waits aside, and the next one is looked at. */
        do {
            if (list_empty(&e->ready))
                return NULL;
            x = list_entry(e->ready.next, exec, ready_node);
        } while (engine_limit_hold(e, x));
    }
    engine_ready_remove(e, x);
    return x;
}

void engine_start_ready(engine *e)
{
    size_t window = engine_window(e);
    if (e->backlog && !e->draining && e->ready_count < window / 2) {
        size_t room = window - e->ready_count;
        if (engine_backlog_load(e, room, false) < room) {
            e->backlog = false; /* everything queued is in memory now, but what it gives away */
            e->backlog_count = e->releasing.count; /* what other hosts took is theirs to count */
        }
    }
    while (!e->draining && engine_pass_room(e) > 0) {
        exec *x = engine_limit_next_held(e); /* older than anything of its function in the queue */
        if (!x)
            x = next_ready(e);
        char why[600];
        if (!x)
            break;
        if (engine_start_refused(e, x))
            continue; /* cancelled, or its discard_after passed (engine_cancel.c) */
        if (engine_quarantined(e, x->fn, why, sizeof why)) {
            /* It would crash the host again: it waits, blocked, for an upgrade to a new version. */
            if (x->isolated) {
                x->isolated = false;
                e->isolated_running = false;
            }
            x->deferred = false; /* blocked is not final: it must be written */
            if (engine_exec_move(e, x, EXEC_BLOCKED) == 0)
                engine_exec_set_error(x, why);
            continue;
        }
        if (engine_exec_move(e, x, EXEC_RUNNING) != 0) {
            if (x->isolated) {
                x->isolated = false;
                e->isolated_running = false;
            }
            continue;
        }
        x->first_pass = !x->rec.resume;
        if (x->first_pass) {
            /* A resume continues the attempt: its count and start stay. */
            x->rec.attempts++;
            x->rec.started_at = clock_now_ms();
            engine_metrics_attempt_begins(e, x);
            x->rec.next_attempt_at = 0;         /* a retry that waited starts now */
            atomic_store(&x->run.cancelled, 0); /* replay.h: zeroed when an attempt starts */
        }
        x->rec.resume = false;
        e->running++;
        e->rate_starts++;
        if (x->careful)
            x->dispatch_after_commit = true; /* see engine_int.h */
        else
            engine_dispatch(e, x);
    }
}
