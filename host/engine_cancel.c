/*
 * engine_cancel.c - ending executions before they finish: cancel (by
 * request, with everything they started) and discard (not started by their
 * discard_after).
 *
 * Cancel. An execution that is not on a worker (scheduled, queued, waiting,
 * blocked) becomes cancelled at once, in the batch being built: out of the
 * ready queue, its timer gone with its state (store.h keeps `timers` from
 * the state). One on a worker cannot be stopped (it is a thread of this
 * process): its record says cancel_requested, durably, tarry_is_cancelled()
 * turns true in its pass (engine_exec_cancel_running), and when the pass
 * returns, whatever it returned is discarded and logged and it becomes
 * cancelled (engine_cancel_pass_ended). A pass that never returns holds its
 * worker; engine_watch.c says so.
 *
 * Either way its unfinished descendants go with it: the children are the
 * JOURNAL_CALL entries still pending in its journal, plus the calls of its
 * last pass (which may not be committed yet). They are found depth first
 * with one journal prefix scan and one record read per execution, all in one
 * read transaction and one batch, so a tree of thousands is one commit. A
 * cancelled child settles its parent's call entry as JOURNAL_CANCELLED
 * (engine_batch.c): a parent that awaits it and is not itself cancelled is
 * woken and sees TARRY_CANCELLED. Detached children (fire and forget) are
 * cancelled too: they are work the cancelled execution started. A child a
 * call shares by idempotency key but another execution made is not
 * (engine_share.c): only children whose record names the parent are.
 *
 * The caller's waiter is answered once the cancel is durable (its ack
 * list): with the record as committed, `cancelled`, or `running` with
 * cancel_requested. A final execution is refused (TARRY_ESTATE), also one
 * whose final state is not committed yet (the caller waits for it with
 * engine_wait_result to name it).
 *
 * Discard. An execution with rec.discard_at that has not started its first
 * attempt by then is discarded with the reason. It is decided at dispatch
 * (engine_start_refused) and by its timer: the store's `timers` index holds
 * an unstarted scheduled execution at min(scheduled_at, discard_at) and an
 * unstarted queued one at discard_at (the store's timer index: store_lmdb.c timer_at), so one waiting
 * behind busy workers, in the ready queue or in the backlog, is discarded
 * when the time passes, not when a worker frees up (engine_timers.c).
 *
 * May not: write the store, block the loop, touch a run a worker owns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"

static const char *const BY_REQUEST = "cancelled by request";
static const char *const BY_HOST =
    "cancelled at another host's request (it was cancelled there, or what started it)";

/* ---- one execution ----------------------------------------------------------------- */

void engine_exec_cancel_running(engine *e, exec *x)
{
    (void)e;
    /* An atomic the worker reads (replay.h); the pass decides when to look. */
    replay_run_cancel(&x->run);
}

/* x (not on a worker) is cancelled now, with `why` as its error; its parent hears of it. */
static void finish_cancelled(engine *e, exec *x, const char *why)
{
    engine_ready_remove(e, x);
    if (engine_exec_move(e, x, EXEC_CANCELLED) != 0)
        return;
    x->dispatch_after_commit = false;
    x->rec.wake_at = 0; /* its sleep's timer goes with the state (prev keeps the old one) */
    x->rec.result = NULL;
    x->rec.finished_at = clock_now_ms();
    engine_exec_set_error(x, why);
    engine_settle_child(e, x);
    e->timers_changed = true;
}

/* Cancel x (in memory, unfinished): now, or by request if it is running. */
static void cancel_one(engine *e, exec *x, const char *why)
{
    /* A ?wait trigger's execution was never written: a cancel is acknowledged only once durable. */
    x->deferred = false;
    if (x->rec.state == EXEC_RUNNING) {
        /* On a worker (or about to be handed to one after a commit: engine_cancel_before_pass). */
        x->rec.cancel_requested = true;
        engine_exec_cancel_running(e, x);
        engine_exec_dirty(e, x);
        return;
    }
    finish_cancelled(e, x, why);
}

/* ---- the tree ------------------------------------------------------------------------ */

/* A child to look at, and the execution whose call named it. */
typedef struct called {
    exec_id id, parent;
} called;

typedef struct id_stack {
    called *items;
    size_t n, cap;
    exec_id parent; /* whose journal is being scanned (pending_call) */
} id_stack;

static int id_push(id_stack *s, const exec_id *id, const exec_id *parent)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        called *grown = realloc(s->items, cap * sizeof *grown);
        if (!grown)
            return TARRY_ENOMEM;
        s->items = grown;
        s->cap = cap;
    }
    s->items[s->n].id = *id;
    s->items[s->n++].parent = *parent;
    return 0;
}

static int pending_call(void *user, const journal_entry *j)
{
    id_stack *todo = user;
    if (j->kind == JOURNAL_CALL && j->status == JOURNAL_PENDING &&
        id_push(todo, &j->child, &todo->parent) != 0)
        return TARRY_ENOMEM;
    return 0;
}

/*
 * x's children that may be unfinished: its journal's pending calls as
 * committed, and the calls its last pass handed over (not committed yet,
 * perhaps). The run is read only while no worker owns it.
 */
static int push_children(engine *e, store_txn *txn, exec *x, id_stack *todo)
{
    int rc;

    (void)e;
    todo->parent = x->rec.id;
    if ((rc = store_journal_scan(txn, &x->rec.id, pending_call, todo)) != 0)
        return rc < 0 ? rc : TARRY_ENOMEM;
    if (list_linked(&x->pass_node))
        return 0; /* its pass's calls so far are handled when the pass returns */
    for (size_t i = 0; i < x->run.handed && i < x->run.new_count; i++)
        if (x->run.new_entries[i].e.kind == JOURNAL_CALL &&
            id_push(todo, &x->run.new_entries[i].e.child, &x->rec.id) != 0)
            return TARRY_ENOMEM;
    return 0;
}

/*
 * Cancel every unfinished execution `root` started, and theirs, depth first
 * (an explicit stack: trees may be deep). A child already final, or never
 * written (its creation was refused by a failed commit), is passed over; so
 * is one another execution made, which a call shares by its idempotency key
 * (engine_share.c): it is that execution's work, and goes on for its other
 * callers (the cancelled caller is final, so its end wakes nobody there).
 */
static void cancel_descendants(engine *e, store_txn *txn, exec *root)
{
    id_stack todo = {0};
    char root_text[ID_TEXT_LEN + 1], why[80];
    size_t cancelled = 0;
    int rc;

    id_format(&root->rec.id, root_text);
    snprintf(why, sizeof why, "cancelled with %s", root_text);
    rc = push_children(e, txn, root, &todo);
    while (rc == 0 && todo.n) {
        called c = todo.items[--todo.n];
        exec *x = idmap_get(&e->active, &c.id);
        exec_record rec;

        if (!x) {
            int r = store_exec_get(txn, &c.id, &rec);
            if (r == TARRY_ENOTFOUND)
                continue;
            if (r != 0) {
                rc = r;
                break;
            }
            if (exec_state_final(rec.state) || memcmp(&rec.parent_id, &c.parent, sizeof c.parent) != 0)
                continue;
            if (!(x = engine_exec_from_store(e, &rec))) {
                rc = TARRY_ENOMEM;
                break;
            }
            if (rec.state == EXEC_QUEUED && e->backlog_count)
                e->backlog_count--; /* it waited in the store's backlog */
        } else if (exec_state_final(x->rec.state) || x->rejected ||
                   memcmp(&x->rec.parent_id, &c.parent, sizeof c.parent) != 0) {
            continue;
        }
        cancel_one(e, x, why);
        cancelled++;
        rc = push_children(e, txn, x, &todo);
    }
    free(todo.items);
    if (rc != 0)
        hlog(HLOG_ERROR, "cancelling what execution %s started stopped after %zu executions: %s (%s)",
             root_text, cancelled, status_str(rc), store_last_error(e->st));
    else if (cancelled)
        hlog(HLOG_INFO, "execution %s: %zu executions it started are cancelled with it", root_text,
             cancelled);
}

/* The same, in a read transaction of its own. */
static void cancel_descendants_now(engine *e, exec *root)
{
    store_txn *txn;
    if (store_txn_begin(e->st, false, &txn) != 0) {
        hlog(HLOG_ERROR, "cannot read what execution %s started to cancel it: %s", root->run.id_text,
             store_last_error(e->st));
        return;
    }
    cancel_descendants(e, txn, root);
    store_txn_abort(txn);
}

/* ---- the request -------------------------------------------------------------------- */

/* Cancel execution id, in memory or read from the store, with what it started; w (or NULL) hears
 * when that is durable. */
static int cancel_request(engine *e, const exec_id *id, engine_waiter *w, const char *why)
{
    exec *x = idmap_get(&e->active, id);
    store_txn *txn;
    exec_record rec;
    int rc;

    if ((rc = engine_commit_refusing(e)) != 0)
        return rc;
    if (x && x->rejected)
        return TARRY_ENOTFOUND; /* a failed commit refused it: it was never accepted */
    if (x && exec_state_final(x->rec.state))
        return TARRY_ESTATE; /* final, perhaps not committed yet (engine_wait_result tells when) */
    if ((rc = store_txn_begin(e->st, false, &txn)) != 0)
        return rc;
    if (!x) {
        if ((rc = store_exec_get(txn, id, &rec)) != 0)
            goto out;
        if (exec_state_final(rec.state)) {
            rc = TARRY_ESTATE;
            goto out;
        }
        if (!(x = engine_exec_from_store(e, &rec))) {
            rc = TARRY_ENOMEM;
            goto out;
        }
        if (rec.state == EXEC_QUEUED && e->backlog_count)
            e->backlog_count--; /* it waited in the store's backlog */
    }
    if (w) {
        engine_waiter_init(w, id, WAIT_ACK);
        list_push_back(&x->acks, &w->node);
    }
    cancel_one(e, x, why);
    cancel_descendants(e, txn, x);
out:
    store_txn_abort(txn);
    return rc;
}

int engine_cancel(engine *e, const exec_id *id, engine_waiter *w)
{
    return cancel_request(e, id, w, BY_REQUEST);
}

void engine_cancel_asked(engine *e, const exec_id *id)
{
    const exec *x = idmap_get(&e->active, id);
    char text[ID_TEXT_LEN + 1];
    int rc;

    if (x && x->rec.cancel_requested)
        return; /* asked already: its pass is told, and it ends cancelled */
    rc = cancel_request(e, id, NULL, BY_HOST);
    id_format(id, text);
    if (rc == 0)
        hlog(HLOG_INFO, "execution %s: cancelled at another host's request", text);
    else if (rc != TARRY_ESTATE && rc != TARRY_ENOTFOUND)
        hlog(HLOG_WARN,
             "execution %s: another host asked to cancel it, and it could not be: %s (asked again "
             "at the next sweep)",
             text, status_str(rc));
}

/* ---- where passes end or would start ------------------------------------------------- */

static const char *outcome_name(replay_outcome o)
{
    switch (o) {
    case REPLAY_SUCCEEDED:
        return "succeeded";
    case REPLAY_FAILED:
        return "failed";
    case REPLAY_SUSPENDED:
        return "suspended";
    case REPLAY_YIELDED:
        return "yielded for a checkpoint";
    case REPLAY_BLOCKED:
        return "blocked";
    }
    return "?";
}

bool engine_cancel_pass_ended(engine *e, exec *x)
{
    if (!x->rec.cancel_requested)
        return false;
    hlog(HLOG_INFO,
         "execution %s (%s) was cancelled while it ran; what its pass returned (%s%s%s) is discarded",
         x->run.id_text, x->rec.function, outcome_name(x->run.outcome), x->run.error ? ": " : "",
         x->run.error ? x->run.error : "");
    x->deferred = false;
    finish_cancelled(e, x, "cancelled while it ran; what the attempt returned was discarded");
    engine_attempt_note(x, EXEC_CANCELLED, x->rec.finished_at, x->rec.error, false, false, false);
    /* Its children so far, with the ones this pass started (the worker is done with the run). */
    cancel_descendants_now(e, x);
    return true;
}

bool engine_cancel_timed_out(engine *e, exec *x)
{
    if (!x->rec.cancel_requested)
        return false;
    /* Cancelled first: its timeout ends the wait for its return, not the execution's course. */
    finish_cancelled(e, x, "cancelled while it ran; it ran past its max_duration without returning");
    engine_attempt_note(x, EXEC_CANCELLED, x->rec.finished_at, x->rec.error, false, true, false);
    x->rec.timeouts++;
    cancel_descendants_now(e, x);
    return true;
}

bool engine_cancel_before_pass(engine *e, exec *x)
{
    if (!x->rec.cancel_requested)
        return false;
    /* It was counted as running when it left the ready queue; it never reached a worker. */
    e->running--;
    if (x->isolated) {
        x->isolated = false;
        e->isolated_running = false;
    }
    finish_cancelled(e, x, BY_REQUEST);
    engine_attempt_note(x, EXEC_CANCELLED, x->rec.finished_at, x->rec.error, false, false, false);
    cancel_descendants_now(e, x);
    return true;
}

/* ---- discard ------------------------------------------------------------------------- */

static bool discard_due(const exec *x, int64_t now)
{
    return x->rec.discard_at && now >= x->rec.discard_at && x->rec.attempts == 0 &&
           (x->rec.state == EXEC_QUEUED || x->rec.state == EXEC_SCHEDULED);
}

bool engine_discard_if_due(engine *e, exec *x)
{
    char when[CLOCK_TEXT_LEN + 1], why[CLOCK_TEXT_LEN + 64];

    if (!x->rec.discard_at || !discard_due(x, clock_now_ms()))
        return false;
    engine_ready_remove(e, x);
    if (engine_exec_move(e, x, EXEC_DISCARDED) != 0)
        return false;
    clock_format(x->rec.discard_at, when);
    snprintf(why, sizeof why, "not started by %s: discard_after", when);
    engine_exec_set_error(x, why);
    x->rec.finished_at = clock_now_ms();
    engine_settle_child(e, x);
    e->timers_changed = true;
    return true;
}

bool engine_start_refused(engine *e, exec *x)
{
    bool cancel = x->rec.cancel_requested && x->rec.state == EXEC_QUEUED;

    /* Cancelled while it ran before the host stopped: recovery queued it again. */
    if (!cancel && !(x->rec.discard_at && discard_due(x, clock_now_ms())))
        return false;
    if (x->isolated) {
        x->isolated = false;
        e->isolated_running = false;
    }
    if (cancel) {
        finish_cancelled(e, x, "cancelled while it ran; the host stopped before the attempt returned");
        cancel_descendants_now(e, x);
    } else {
        engine_discard_if_due(e, x);
    }
    return true;
}
