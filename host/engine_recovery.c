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
    return 0;
}
