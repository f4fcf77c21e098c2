/*
 * engine_timers.c - delayed starts and durable sleeps (and the discard_after
 * of unstarted executions: engine_cancel.c).
 *
 * Timers live in the store's `timers` index (due time, id); scheduled and
 * sleeping executions are not in memory. One libuv timer is armed for the
 * earliest due time not already loaded; when it fires, up to TIMER_BATCH
 * due executions are loaded per loop turn and queued (or woken), in the
 * batch that also deletes their timer entries.
 *
 * May not: write the store (changes go on the dirty list), block.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"
#include "store_cluster.h"

static void on_timer(uv_timer_t *t)
{
    engine *e = t->data;
    e->timers_due = true;
    engine_flush(e);
}

void engine_sleep_ended(exec *x, store_txn *txn)
{
    journal_entry j;
    if (store_journal_get(txn, &x->rec.id, x->rec.wake_seq, &j) != 0 || j.kind != JOURNAL_SLEEP)
        return; /* it ended (or never was): the replay decides again */
    engine_sleep_entry_free(x->sleep_entry);
    if (!(x->sleep_entry = malloc(sizeof *x->sleep_entry)))
        return;
    *x->sleep_entry = j;
    x->sleep_entry->name = j.name ? strdup(j.name) : NULL;
    x->sleep_entry->value = x->sleep_entry->error = NULL;
    x->sleep_entry->status = JOURNAL_SUCCEEDED;
    x->sleep_entry->finished_at = clock_now_ms();
}

struct load_ctx {
    engine *e;
    store_txn *txn;
    size_t loaded;
    int error;
};

static int load_due(void *user, const exec_record *rec)
{
    struct load_ctx *lc = user;
    engine *e = lc->e;
    exec *x;

    if (lc->loaded == TIMER_BATCH)
        return 1;
    if ((x = idmap_get(&e->active, &rec->id))) {
        /* A queued one waiting for a worker, past its discard_after (engine_cancel.c); else
         * loaded before a commit that failed, still in memory. */
        if (x->in_ready)
            engine_discard_if_due(e, x);
        return 0;
    }
    if (!(x = engine_exec_from_store(e, rec))) {
        lc->error = TARRY_ENOMEM;
        return 1;
    }
    if (engine_discard_if_due(e, x)) {
        if (rec->state == EXEC_QUEUED && e->backlog_count)
            e->backlog_count--; /* it waited in the store's backlog */
    } else if (!x->fn) {
        engine_exec_block_unloaded(e, x);
    } else if (rec->state == EXEC_WAITING) {
        engine_sleep_ended(x, lc->txn);
        engine_wake(e, x);
    } else {
        /* A delayed start runs once `queued` is durable (see engine_wake). */
        engine_exec_move(e, x, EXEC_QUEUED);
    }
    lc->loaded++;
    return 0;
}

void engine_load_due_timers(engine *e)
{
    struct load_ctx lc = {e, NULL, 0, 0};
    store_txn *txn;
    int rc;

    e->timers_due = false;
    if (e->draining)
        return;
    if (e->shared) {
        /* Several hosts: a due timer is fired by the host that claims it, and a wave of them due
         * together is shared: this host claims its part (store_cluster.h). */
        size_t claimed, left = 0;
        int64_t now = clock_now_ms();
        if ((rc = store_claim(e->st, STORE_CLAIM_DUE, now, TIMER_BATCH, &claimed, &left)) != 0)
            hlog(HLOG_ERROR, "cannot claim due timers: %s (trying again in %d ms)", store_last_error(e->st),
                 TIMER_CLAIM_RETRY_MS);
        /* the free due timers are not this host's to fire meanwhile: the timer waits */
        e->timers_shared_until = rc ? now + TIMER_CLAIM_RETRY_MS : left ? now + TIMER_SHARE_WAIT_MS : 0;
    }
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
    const exec *x = idmap_get(&nt->e->active, id);
    /* A queued one in the ready queue is held there only by its discard_after (store_lmdb.c timer_at): its
     * timer must fire while it waits. */
    bool waits_for_discard = x && x->in_ready && x->rec.discard_at == due_ms;
    if (x && !waits_for_discard && ++nt->skipped < 2 * TIMER_BATCH)
        return 0;
    nt->due = due_ms;
    return 1;
}

void engine_arm_timer(engine *e)
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
    int64_t now = clock_now_ms(), wait = nt.due - now;
    /* What this host's last claim left to the others is theirs a moment: then whatever is left
     * is any host's again, this one's too (a host that is slow, or gone, delays nothing more). */
    if (e->timers_shared_until > now && wait < e->timers_shared_until - now)
        wait = e->timers_shared_until - now;
    uv_update_time(e->loop);
    uv_timer_start(&e->timer, on_timer, (uint64_t)(wait > 0 ? wait : 0), 0);
}

int engine_reschedule(engine *e, const exec_id *id, int64_t when_ms, engine_waiter *w)
{
    exec *x = idmap_get(&e->active, id);
    store_txn *txn;
    exec_record rec;
    int rc;

    if ((rc = engine_commit_refusing(e)) != 0)
        return rc;
    if ((rc = store_txn_begin(e->st, false, &txn)) != 0)
        return rc;
    if (!x) {
        if ((rc = store_exec_get(txn, id, &rec)) != 0)
            goto out;
        if (rec.state != EXEC_SCHEDULED && !(rec.state == EXEC_WAITING && rec.wake_at)) {
            rc = TARRY_ESTATE;
            goto out;
        }
        if (!(x = engine_exec_from_store(e, &rec))) {
            rc = TARRY_ENOMEM;
            goto out;
        }
    }
    if (x->rec.state == EXEC_SCHEDULED) {
        x->rec.scheduled_at = when_ms;
        if (x->rec.next_attempt_at)
            x->rec.next_attempt_at = when_ms; /* a retry that waits: its next attempt moves too */
    } else if (x->rec.state == EXEC_WAITING && x->rec.wake_at) {
        /* The sleep's entry carries its end too: a replay that passes by
         * before the timer fires must wait for the new time, not the old. */
        x->rec.wake_at = when_ms;
        engine_sleep_ended(x, txn);
        if (x->sleep_entry) {
            x->sleep_entry->status = JOURNAL_PENDING;
            x->sleep_entry->finished_at = 0;
            x->sleep_entry->wake_at = when_ms;
        }
    } else {
        rc = TARRY_ESTATE;
        goto out;
    }
    engine_waiter_init(w, id, WAIT_ACK);
    list_push_back(&x->acks, &w->node);
    engine_exec_dirty(e, x);
    e->timers_changed = true;
out:
    store_txn_abort(txn);
    return rc;
}
