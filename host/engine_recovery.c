/*
 * engine_recovery.c - starting on a store a previous engine left, however
 * it stopped (a clean drain, kill -9, a plugin crash).
 *
 * Executions found `running` were interrupted: they are queued again and
 * their crash count goes up; one that reaches ENGINE_POISON_CRASHES is
 * failed instead, so a function that kills the host cannot do so forever.
 * Executions found `queued` may have been running before their `running`
 * state committed, so they are handled with the same care: each is handed
 * to a worker only after the commit that records it as running (with its
 * crash count).
 *
 * May not: write the store directly, block (recovery runs before the loop
 * serves anything).
 */
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"

struct recover_ctx {
    engine *e;
    size_t requeued, poisoned, loaded;
    int error;
};

/* A stored queued or running execution, queued again in memory (or blocked without its code). */
static exec *load_exec(engine *e, const exec_record *rec)
{
    exec *x = engine_exec_from_store(e, rec);
    if (!x)
        return NULL;
    if (!x->fn)
        engine_exec_block_unloaded(e, x);
    else
        engine_ready_push(e, x);
    return x;
}

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
        engine_ready_remove(rc->e, x);
        snprintf(msg, sizeof msg,
                 "the host died %u times in a row while this execution was running (last in attempt %u); "
                 "it is failed as a poison pill so it cannot take the host down again",
                 x->rec.crashes, x->rec.attempts);
        engine_exec_move(rc->e, x, EXEC_FAILED);
        x->rec.finished_at = clock_now_ms();
        engine_exec_set_error(x, msg);
        engine_settle_child(rc->e, x);
        rc->poisoned++;
        hlog(HLOG_ERROR, "execution of %s failed as a poison pill: %s", rec->function, msg);
    } else {
        rc->requeued++;
    }
    return 0;
}

struct backlog_scan {
    engine *e;
    exec_id *ids;
    size_t want, got;
};

static int pick_not_in_memory(void *user, const exec_id *id)
{
    struct backlog_scan *b = user;
    if (idmap_get(&b->e->active, id))
        return 0; /* in the ready queue, on a worker, or changing: not backlog */
    if (b->got == b->want)
        return 1;
    b->ids[b->got++] = *id;
    return 0;
}

size_t engine_backlog_load(engine *e, size_t room, bool careful)
{
    struct backlog_scan b = {e, NULL, room, 0};
    store_txn *txn;
    size_t loaded = 0;
    int rc;

    if (!room || !(b.ids = malloc(room * sizeof *b.ids)))
        return 0;
    if ((rc = store_txn_begin(e->st, false, &txn)) != 0) {
        hlog(HLOG_ERROR, "cannot read the queued executions: %s", store_last_error(e->st));
        free(b.ids);
        return room; /* not "all loaded": try again at the next turn */
    }
    rc = store_exec_ids_in_state(txn, EXEC_QUEUED, pick_not_in_memory, &b);
    for (size_t i = 0; rc >= 0 && i < b.got; i++) {
        exec_record rec;
        exec *x;
        if ((rc = store_exec_get(txn, &b.ids[i], &rec)) != 0 || !(x = engine_exec_from_store(e, &rec)))
            break;
        /* It may have been running when the host died, before its running
         * state committed: it runs only once `running` (and a crash) is durable. */
        x->careful = careful;
        if (!x->fn)
            engine_exec_block_unloaded(e, x);
        else
            engine_ready_append(e, x);
        loaded++;
    }
    store_txn_abort(txn);
    free(b.ids);
    if (rc < 0 || loaded < b.got) {
        hlog(HLOG_ERROR, "loading queued executions failed: %s",
             rc < 0 ? store_last_error(e->st) : "out of memory");
        return room;
    }
    e->backlog_count -= loaded < e->backlog_count ? loaded : e->backlog_count;
    return loaded;
}

static int count_id(void *user, const exec_id *id)
{
    (void)id;
    (*(size_t *)user)++;
    return 0;
}

int engine_recover(engine *e)
{
    struct recover_ctx rc = {e, 0, 0, 0, 0};
    store_txn *txn;
    int r;

    if ((r = engine_load_pinned_versions(e)) != 0)
        return r;
    if ((r = store_txn_begin(e->st, false, &txn)) != 0) {
        hlog(HLOG_ERROR, "recovery cannot read the store: %s", store_last_error(e->st));
        return r;
    }
    r = store_exec_scan_state(txn, EXEC_RUNNING, recover_running, &rc);
    store_txn_abort(txn);
    if (r < 0 || rc.error) {
        hlog(HLOG_ERROR, "recovery failed: %s", r < 0 ? store_last_error(e->st) : "out of memory");
        return r < 0 ? r : rc.error;
    }
    /* Queued ones: a window into memory, the rest stay in the store (engine_int.h). */
    rc.loaded = engine_backlog_load(e, e->queue_window, true);
    if (rc.loaded == e->queue_window) {
        size_t queued = 0;
        if (store_txn_begin(e->st, false, &txn) == 0) {
            store_exec_ids_in_state(txn, EXEC_QUEUED, count_id, &queued);
            store_txn_abort(txn);
        }
        e->backlog = true;
        e->backlog_count = queued > rc.loaded ? queued - rc.loaded : 0;
    }
    if (rc.requeued || rc.poisoned || rc.loaded)
        hlog(HLOG_INFO,
             "recovered: %zu interrupted executions re-queued, %zu failed as poison pills, %zu queued "
             "(%zu more wait in the store)",
             rc.requeued, rc.poisoned, rc.loaded, e->backlog_count);
    return 0;
}
