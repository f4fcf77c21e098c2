/*
 * engine_batch.c - group commit, the engine's side: when to start a commit
 * (commit_policy.h decides), encoding the dirty list into one store_batch
 * for the commit thread (commit.h), and what happens to each execution of
 * the batch once it is durable (its state's after-commit action in
 * lifecycle.h) or once the commit failed (everything is put back as it was
 * and tried again).
 *
 * May not: wait for the commit thread, write the store directly.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "commit_policy.h"
#include "deathnote.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"
#include "store_cluster.h"

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
    engine_outcome_entry(&j, x, x->rec.parent_seq, x->rec.detached);
    return store_batch_journal_put(b, &x->rec.parent_id, &j);
}

/*
 * The call entries x settles (its parent's, the calls sharing it by key, its
 * own calls of refused children), written after every execution's own
 * writes in the batch: a parent's pending entry for the call, in the same
 * batch (a child can end in the batch that records the call, say when it is
 * cancelled), must not overwrite the outcome.
 */
static int batch_settled(store_batch *b, const commit_entry *ce)
{
    int rc = 0;
    if (ce->settled_parent)
        rc = batch_parent_entry(b, ce->x);
    if (rc == 0)
        rc = engine_share_batch_settle(b, ce->x, ce->settled_callers);
    return rc;
}

/*
 * x's record, its new journal entries and the links of those that share a
 * child by key, and the log lines of its last pass (numbered on from the
 * lines stored before, and counted in the record in the same batch). The
 * outcomes it settles come later: batch_settled.
 */
static int batch_exec(store_batch *b, exec *x, size_t *links_written)
{
    exec_record prev = {.state = x->written_state,
                        .scheduled_at = x->written_scheduled_at,
                        .wake_at = x->written_wake_at,
                        .attempts = x->written_attempts,
                        .discard_at = x->rec.discard_at, /* never changes */
                        .function = x->rec.function,
                        .plugin_hash = x->written_hash[0] ? x->written_hash : NULL};
    uint32_t first_line = x->rec.log_count;
    int rc;

    x->rec.log_count += (uint32_t)(x->lw_to - x->lw_from);
    rc = store_batch_exec_put(b, &x->rec, x->written_state == EXEC_NONE ? NULL : &prev);
    if (rc == 0 && x->written_state == EXEC_NONE && x->rec.idempotency_key)
        rc = engine_idem_put(x->owner, b, x); /* the key holds from the commit that creates it */
    for (size_t i = x->jw_from; rc == 0 && i < x->jw_to; i++)
        rc = store_batch_journal_put(b, &x->rec.id, &x->run.new_entries[i].e);
    if (rc == 0 && x->sleep_entry)
        rc = store_batch_journal_put(b, &x->rec.id, x->sleep_entry);
    if (rc == 0)
        rc = engine_share_batch_links(b, x, links_written);
    if (rc == 0)
        rc = engine_retry_batch(b, x); /* after the journal puts: a retry drops the failed end */
    if (rc == 0 && engine_final_ending(x->rec.state) && x->written_state != x->rec.state)
        rc = engine_final_batch(x->owner, b, x);
    for (size_t i = x->lw_from; rc == 0 && i < x->lw_to; i++) {
        const replay_log *l = &x->run.logs[i];
        store_log_line line = {first_line + (uint32_t)(i - x->lw_from), l->time_ms, l->level, l->text,
                               (uint32_t)x->run.attempt}; /* the pass that logged it (from 1) */
        rc = store_batch_log_put(b, &x->rec.id, &line);
    }
    if (rc == 0 && x->log_marker) {
        /* The last line (its own seq, rewritten with the total each time
         * more are dropped) says so, as the record's count does. */
        char text[200];
        uint32_t max = x->owner->log_max_lines ? x->owner->log_max_lines : JCORE_LOG_LINES_MAX;
        store_log_line line = {STORE_LOG_DROPPED_SEQ, clock_now_ms(), TARRY_LOG_WARN, text, x->rec.attempts};
        snprintf(text, sizeof text,
                 "%" PRIu32 " lines dropped: an execution keeps at most %" PRIu32
                 " log lines (--log-max-lines)",
                 x->rec.log_dropped, max);
        rc = store_batch_log_put(b, &x->rec.id, &line);
    }
    return rc;
}

static void on_retry(uv_timer_t *t)
{
    engine *e = t->data;
    e->retry_until_ms = 0; /* the pause is over: commit what waits, admit new work again */
    engine_flush(e);
}

/*
 * Whether a failed commit rejects x: it was never committed, and it is new
 * work of its own (a trigger) or the child of such work. Its callers are
 * told the commit failed, which means "not accepted", so it must never be
 * written later. Changes to executions that exist (outcomes, wakes, the
 * children of stored parents) are tried again until they commit.
 */
static bool rejected_by_failure(engine *e, const exec *x)
{
    static const exec_id none;
    const exec *parent;

    if (x->committed_state != EXEC_NONE)
        return false;
    if (memcmp(&x->rec.parent_id, &none, sizeof none) == 0)
        return true;
    parent = idmap_get(&e->active, &x->rec.parent_id);
    return parent && parent->committed_state == EXEC_NONE;
}

/* Tell everyone waiting for a rejected execution, and forget it (at once, or when its pass returns). */
static void reject(engine *e, commit_entry *ce, int status)
{
    exec *x = ce->x;
    engine_idem_forget(e, x);         /* never stored: its key names nothing */
    engine_share_child_refused(e, x); /* ... and calls that share it by that key fail */
    engine_share_forget(e, x);        /* its own links were never stored either */
    engine_sleep_entry_free(ce->sleep_entry);
    ce->sleep_entry = NULL;
    while (!list_empty(&ce->acks))
        engine_waiter_answer(e, list_entry(ce->acks.next, engine_waiter, node), status, NULL);
    while (!list_empty(&x->acks))
        engine_waiter_answer(e, list_entry(x->acks.next, engine_waiter, node), status, NULL);
    engine_notify_error(e, &x->rec.id, status);
    if (ce->checkpoint)
        engine_checkpoint_answer(e, x, status);
    if (x->in_dirty) {
        list_unlink(&x->dirty_node);
        x->in_dirty = false;
        e->dirty_count--;
    }
    if (x->rec.state == EXEC_RUNNING && !x->dispatch_after_commit) {
        x->rejected = true; /* on a worker: dropped when its pass returns (engine_dispatch.c) */
        return;
    }
    engine_ready_remove(e, x);
    engine_exec_free(e, x);
}

/* Take entry i out of the failed batch (its waiters answered): the last entry moves into its
 * slot, its waiters with it. */
static void batch_drop(engine *e, size_t i)
{
    commit_entry *to = &e->entries[i], *from = &e->entries[--e->entry_count];

    if (to == from)
        return;
    /* acks is a list head inside the entry: a plain struct copy would leave the waiters' nodes
     * pointing at the old slot (and the loop that puts them back spinning for ever), so they
     * are moved onto the new slot's head. */
    *to = *from;
    list_init(&to->acks);
    while (!list_empty(&from->acks)) {
        list_node *w = from->acks.next;
        list_unlink(w);
        list_push_back(&to->acks, w);
    }
}

/*
 * After a commit that failed with TARRY_ECONFLICT: the entry it names leaves the batch. A stored
 * execution another host took first is dropped here (engine_cluster.c); a new one lost its
 * idempotency key to another host's (store_pg_keys.c): its callers get that execution, as a
 * duplicate, or else 409 conflict. True when the entry was this batch's.
 */
static bool conflict_dropped(engine *e)
{
    exec_id id;

    if (!store_batch_conflict(e->batch, &id))
        return false;
    for (size_t i = 0; i < e->entry_count; i++) {
        commit_entry *ce = &e->entries[i];
        if (memcmp(&ce->x->rec.id, &id, sizeof id) != 0)
            continue;
        if (ce->x->committed_state != EXEC_NONE) {
            engine_cluster_drop(e, ce);
        } else {
            hlog(HLOG_INFO, "a new execution of %s lost its idempotency key to another host's: %s",
                 ce->x->rec.function, engine_idem_lost(e, ce) ? "answered with that one" : "refused");
            reject(e, ce, TARRY_ECONFLICT);
        }
        batch_drop(e, i);
        return true;
    }
    return false;
}

/*
 * The commit state changed (it failed for the first time, or for another
 * reason than before): say so once. A disk that stays full or broken is
 * one line, however many times the commit is tried.
 */
static void log_failing(engine *e, int status, const char *why, size_t rejected, size_t retried)
{
    if (e->failed_commits > 1 && status == e->failing_status)
        return;
    e->failing_status = status;
    hlog(HLOG_ERROR,
         "commits fail: %s; %zu new executions refused (their callers got 503, nothing of them is stored), "
         "%zu changes to stored executions kept and tried again (backing off from %d ms up to %d ms); new "
         "work is refused with 503 meanwhile, reads go on",
         why, rejected, retried, COMMIT_RETRY_MIN_MS, COMMIT_RETRY_MAX_MS);
}

/* Refuse all work from now on and end the engine: its store is gone (store_check_folder). */
static void store_lost(engine *e, const char *why);

/* Reject the new work of a failed batch; put everything else back as it was before it. */
static void batch_failed(engine *e, int status, const char *why)
{
    size_t rejected = 0, retried = 0;
    int64_t delay;
    /* Another host took one of the batch's executions first (engine_cluster.c), or a new one's
     * idempotency key (store_pg_keys.c): that one is dropped here (the new one refused), and
     * the rest, which did nothing wrong, is committed again at once, nobody else refused. */
    bool conflict = status == TARRY_ECONFLICT && conflict_dropped(e);

    e->stats.commit_failures++;
    engine_quarantine_committed(e, false);
    engine_cron_committed(e, false);
    engine_retention_committed(e, false);
    engine_cluster_committed(e, false);
    snprintf(e->commit_error, sizeof e->commit_error, "%s", why && *why ? why : status_str(status));
    if (status == TARRY_ELOST) {
        store_lost(e, e->commit_error);
        return;
    }
    if (status == TARRY_EBROKEN) {
        /* LMDB refuses every write until the environment is opened again,
         * and the batch that broke it may or may not be on the disk (its
         * meta page write failed). Its callers are told exactly that, with
         * the ids they can look up; a fresh engine process opens the store
         * again and recovers. Nothing acknowledged is lost. */
        for (size_t i = 0; i < e->entry_count; i++) {
            commit_entry *ce = &e->entries[i];
            while (!list_empty(&ce->acks))
                engine_waiter_answer(e, list_entry(ce->acks.next, engine_waiter, node), TARRY_EBROKEN, NULL);
            engine_notify_error(e, &ce->x->rec.id, TARRY_EBROKEN);
        }
        e->entry_count = 0;
        hlog(HLOG_ERROR, "the store cannot write any more (%s); restarting the engine to reopen it",
             e->commit_error);
        engine_exit_soon(e, EXIT_STORE_BROKEN);
        return;
    }
    /* Decide every entry before forgetting any: a child's fate follows its parent's. */
    for (size_t i = 0; i < e->entry_count; i++)
        e->entries[i].rejected = !conflict && rejected_by_failure(e, e->entries[i].x);
    for (size_t i = 0; i < e->entry_count; i++) {
        commit_entry *ce = &e->entries[i];
        exec *x = ce->x;
        if (ce->rejected) {
            reject(e, ce, status);
            rejected++;
            continue;
        }
        /* A stored execution's change is kept and tried again, so its
         * callers (a reschedule, an upgrade) are not told "not accepted":
         * they are answered when it commits. */
        retried++;
        while (!list_empty(&ce->acks)) {
            list_node *w = ce->acks.next;
            list_unlink(w);
            list_push_back(&x->acks, w);
        }
        x->written_state = x->committed_state;
        x->written_scheduled_at = x->committed_scheduled_at;
        x->written_wake_at = x->committed_wake_at;
        x->written_attempts = x->committed_attempts;
        memcpy(x->written_hash, x->committed_hash, sizeof x->written_hash);
        x->rec.log_count = ce->log_count_before;
        x->dispatch_after_commit = x->dispatch_after_commit || ce->dispatch;
        x->settle_parent = x->settle_parent || ce->settled_parent;
        x->settle_callers = x->settle_callers || ce->settled_callers; /* its links stay on it, too */
        if (ce->sleep_entry && !x->sleep_entry)
            x->sleep_entry = ce->sleep_entry;
        else
            engine_sleep_entry_free(ce->sleep_entry);
        if (ce->checkpoint && !conflict)
            engine_checkpoint_answer(e, x, status); /* the step fails visibly rather than wait forever */
        engine_exec_dirty(e, x);
    }
    e->entry_count = 0;
    engine_share_wake_refused(e); /* the calls that shared a refused child (reject) */
    if (conflict) {
        uv_timer_start(&e->retry_timer, on_retry, 0, 0);
        return;
    }
    e->failed_commits++;
    log_failing(e, status, e->commit_error, rejected, retried);
    /* Back off for real: no commit starts and no new work is admitted until
     * the pause is over (engine_commit_maybe, engine_commit_refusing); it
     * doubles with every failure in a row, up to COMMIT_RETRY_MAX_MS. */
    delay = e->retry_delay_ms ? e->retry_delay_ms * 2 : COMMIT_RETRY_MIN_MS;
    e->retry_delay_ms = delay > COMMIT_RETRY_MAX_MS ? COMMIT_RETRY_MAX_MS : delay;
    e->retry_until_ms = clock_mono_ms() + e->retry_delay_ms;
    uv_timer_start(&e->retry_timer, on_retry, (uint64_t)e->retry_delay_ms, 0);
}

static void on_exit_timer(uv_timer_t *t)
{
    engine *e = t->data;
    deathnote_declare_exit(e->exit_status); /* a deliberate exit: the supervisor reads it */
    exit(e->exit_status);
}

void engine_exit_soon(engine *e, int status)
{
    /* Long enough for the answers just given to reach their clients; new
     * work meanwhile is refused (engine_commit_refusing). */
    e->exit_status = status;
    uv_timer_start(&e->retry_timer, on_exit_timer, EXIT_FLUSH_MS, 0);
}

static void store_lost(engine *e, const char *why)
{
    if (e->lost)
        return;
    e->lost = true;
    hlog(HLOG_ERROR,
         "THE STORE IS GONE: %s. Nothing can be made durable any more: every change is refused with 503 "
         "and the engine stops (exit %d) without restarting. Restore the data folder and start again, or "
         "start with --init to create a new, empty store there",
         why, EXIT_STORE_LOST);
    store_mark_lost(e->st);
    /* Everyone waiting for a commit hears that nothing was accepted. */
    for (size_t i = 0; i < e->entry_count; i++) {
        commit_entry *ce = &e->entries[i];
        while (!list_empty(&ce->acks))
            engine_waiter_answer(e, list_entry(ce->acks.next, engine_waiter, node), TARRY_ELOST, NULL);
        engine_notify_error(e, &ce->x->rec.id, TARRY_ELOST);
    }
    e->entry_count = 0;
    for (list_node *n = e->dirty.next; n != &e->dirty; n = n->next) {
        exec *x = list_entry(n, exec, dirty_node);
        while (!list_empty(&x->acks))
            engine_waiter_answer(e, list_entry(x->acks.next, engine_waiter, node), TARRY_ELOST, NULL);
        engine_notify_error(e, &x->rec.id, TARRY_ELOST);
    }
    engine_exit_soon(e, EXIT_STORE_LOST);
}

void engine_check_store(engine *e)
{
    int rc;
    if (e->lost || (rc = store_check_folder(e->st)) == 0)
        return;
    snprintf(e->commit_error, sizeof e->commit_error, "%s", store_last_error(e->st));
    store_lost(e, e->commit_error);
}

const char *engine_commit_error(const engine *e)
{
    return e->commit_error[0] ? e->commit_error : "no commit has failed";
}

int engine_commit_refusing(const engine *e)
{
    if (e->lost)
        return TARRY_ELOST;
    if (e->exit_status)
        return TARRY_EBROKEN;
    if (e->retry_until_ms && clock_mono_ms() < e->retry_until_ms)
        return e->failing_status;
    return 0;
}

/* Move the dirty list into a batch and hand it to the commit thread. */
static void submit_dirty(engine *e)
{
    size_t n = e->dirty_count;
    int rc = 0;

    if (n > e->entry_cap) {
        commit_entry *grown = realloc(e->entries, n * sizeof *grown);
        if (!grown) {
            hlog(HLOG_ERROR, "out of memory building a commit; retrying in %d ms", COMMIT_RETRY_MIN_MS);
            e->retry_until_ms = clock_mono_ms() + COMMIT_RETRY_MIN_MS;
            uv_timer_start(&e->retry_timer, on_retry, COMMIT_RETRY_MIN_MS, 0);
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
        ce->log_count_before = x->rec.log_count;
        ce->links_written = 0;
        if (rc == 0)
            rc = batch_exec(e->batch, x, &ce->links_written);
        ce->x = x;
        ce->state = x->rec.state;
        ce->scheduled_at = x->rec.scheduled_at;
        ce->wake_at = x->rec.wake_at;
        ce->dispatch = x->dispatch_after_commit;
        ce->checkpoint = x->cp_waiting;
        ce->settled_parent = x->settle_parent;
        ce->settled_callers = x->settle_callers;
        ce->jw_to = x->jw_to;
        ce->lw_to = x->lw_to;
        ce->attempt_written = x->attempt_pending ? x->attempt.number : 0;
        ce->dropped = x->drop_to > x->drop_from;
        ce->sleep_entry = x->sleep_entry;
        x->sleep_entry = NULL; /* the entry owns it until it commits or fails */
        x->settle_parent = false;
        x->settle_callers = false;
        x->cp_waiting = false;
        x->dispatch_after_commit = false;
        x->written_state = x->rec.state;
        x->written_scheduled_at = x->rec.scheduled_at;
        x->written_wake_at = x->rec.wake_at;
        x->written_attempts = ce->attempts = x->rec.attempts;
        snprintf(x->written_hash, sizeof x->written_hash, "%s", x->rec.plugin_hash ? x->rec.plugin_hash : "");
        memcpy(ce->hash, x->written_hash, sizeof ce->hash);
        list_init(&ce->acks);
        while (!list_empty(&x->acks)) {
            list_node *w = x->acks.next;
            list_unlink(w);
            list_push_back(&ce->acks, w);
        }
    }
    for (size_t i = 0; rc == 0 && i < e->entry_count; i++)
        rc = batch_settled(e->batch, &e->entries[i]);
    if (rc == 0)
        rc = engine_quarantine_batch(e, e->batch);
    {
        /* Always: the cron marks follow their executions, into this batch or its failure. */
        int cron_rc = engine_cron_batch(e, e->batch);
        if (rc == 0)
            rc = cron_rc;
    }
    if (rc == 0)
        rc = engine_idem_sweep(e, e->batch);
    if (rc == 0)
        rc = engine_retention_batch(e, e->batch); /* a few expired executions out (engine_retention.c) */
    if (rc == 0)
        rc = engine_cluster_batch(e, e->batch);
    if (rc != 0) {
        /* Only out of memory gets here; treat it as a failed commit. */
        batch_failed(e, rc, rc == TARRY_ENOMEM ? "out of memory building the batch" : status_str(rc));
        return;
    }
    committer_submit(e->committer, e->batch);
}

/* What happens to one execution once the state in its entry is durable. */
static void entry_committed(engine *e, commit_entry *ce)
{
    exec *x = ce->x;
    exec_record snapshot;
    bool unchanged = !x->in_dirty && x->rec.state == ce->state;
    bool ended = engine_final_ending(ce->state) && x->committed_state != ce->state;

    if (x->committed_state == EXEC_SCHEDULED || ce->state == EXEC_SCHEDULED || ce->wake_at ||
        (x->rec.discard_at && ce->attempts == 0)) /* an unstarted one's discard timer (store_lmdb.c, timer_at) */
        e->timers_changed = true;
    x->committed_state = ce->state;
    engine_idem_forget(e, x); /* its key is in the store now */
    x->committed_scheduled_at = ce->scheduled_at;
    x->committed_wake_at = ce->wake_at;
    x->committed_attempts = ce->attempts;
    memcpy(x->committed_hash, ce->hash, sizeof x->committed_hash);
    engine_retry_committed(x, ce->attempt_written, ce->dropped);
    engine_share_committed(e, x, ce->links_written);
    if (x->jw_from < ce->jw_to)
        x->jw_from = ce->jw_to;
    if (x->lw_from < ce->lw_to)
        x->lw_from = ce->lw_to;
    engine_sleep_entry_free(ce->sleep_entry);
    if (ce->checkpoint)
        engine_checkpoint_answer(e, x, 0);
    if (ended)
        engine_final_committed(e, x, ce->state);
    engine_follow_committed(e, &x->rec.id); /* before x may be freed below */
    snapshot = x->rec;
    snapshot.state = ce->state; /* what is durable, even if memory moved on */
    while (!list_empty(&ce->acks))
        engine_waiter_answer(e, list_entry(ce->acks.next, engine_waiter, node), 0, &snapshot);

    switch (lifecycle_after_commit(ce->state)) {
    case LIFECYCLE_FINISH:
        e->stats.finished[ce->state]++;
        if (x->fn && !x->fn->owner->current)
            engine_sweep_soon(e); /* maybe the last execution on an old version */
        engine_notify_final(e, &x->rec);
        engine_exec_free(e, x);
        break;
    case LIFECYCLE_EVICT:
        if (unchanged)
            engine_exec_free(e, x);
        break;
    case LIFECYCLE_ENQUEUE:
        if (x->rec.state != EXEC_QUEUED || x->in_ready)
            break;
        if (x->wake_pending) {
            /* A child settled after this batch was built: its outcome commits
             * in the next one, and this pass must see it (engine_settle_child). */
            x->wake_pending = false;
            engine_exec_dirty(e, x);
            break;
        }
        if (unchanged && !x->careful && (e->backlog || e->ready_count >= engine_window(e))) {
            /* The queue is full: it waits in the store, in order (engine_int.h). */
            e->backlog = true;
            e->backlog_count++;
            engine_cluster_spill(e, x);
            engine_exec_free(e, x);
        } else {
            engine_ready_append(e, x);
        }
        break;
    case LIFECYCLE_STAY:
        if (ce->dispatch)
            engine_dispatch(e, x);
        break;
    }
}

void engine_on_committed(void *user, int status, const char *error)
{
    engine *e = user;

    engine_metrics_commit_done(e);
    if (status != 0) {
        batch_failed(e, status, error);
    } else {
        if (e->failed_commits)
            hlog(HLOG_INFO, "commits work again after %" PRIu64 " failures in a row", e->failed_commits);
        e->failed_commits = 0;
        e->failing_status = 0;
        e->retry_delay_ms = 0;
        e->retry_until_ms = 0;
        engine_quarantine_committed(e, true);
        engine_cron_committed(e, true);
        engine_retention_committed(e, true);
        engine_cluster_committed(e, true);
        engine_recovery_committed(e);
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
    engine_flush(e);
}

/* Whether someone waits for this change to be durable. */
static bool exec_awaited(engine *e, exec *x)
{
    return !list_empty(&x->acks) || x->dispatch_after_commit || x->cp_waiting ||
           (x->rec.state == EXEC_QUEUED && !x->in_ready) || /* it runs once this commits */
           (exec_state_final(x->rec.state) && idmap_get(&e->waits, &x->rec.id));
}

static void on_linger(uv_timer_t *t)
{
    engine *e = t->data;
    e->linger_over = true;
    engine_flush(e);
}

static void on_gather(uv_idle_t *h)
{
    (void)h; /* engine_flush runs in the check phase right after */
}

void engine_commit_maybe(engine *e)
{
    commit_policy_in in = {.draining = e->draining,
                           .linger_over = e->linger_over,
                           .dirty = e->dirty_count,
                           .acks_expected = e->acks_expected,
                           .gather_until = e->gather_until};

    if (committer_busy(e->committer) ||
        (list_empty(&e->dirty) && !engine_retention_wants(e) && !engine_cluster_wants(e)) || e->lost ||
        e->exit_status || (e->retry_until_ms && clock_mono_ms() < e->retry_until_ms))
        return; /* a failed commit's pause: the retry timer flushes when it is over */
    if (list_empty(&e->dirty)) {
        submit_dirty(e); /* only expired executions to delete: nobody waits, nothing to gather */
        return;
    }
    for (list_node *n = e->dirty.next; n != &e->dirty; n = n->next) {
        exec *x = list_entry(n, exec, dirty_node);
        if (exec_awaited(e, x)) {
            in.awaited = true;
            in.acks += count_acks(&x->acks);
        }
    }
    in.now_ns = uv_hrtime();
    in.young_running = e->running > 0 && in.now_ns - e->last_dispatch_ns < COMMIT_GATHER_NS;
    switch (commit_policy_decide(&in)) {
    case COMMIT_IDLE:
        return;
    case COMMIT_LINGER:
        if (!uv_is_active((uv_handle_t *)&e->linger_timer))
            uv_timer_start(&e->linger_timer, on_linger, COMMIT_LINGER_MS, 0);
        return;
    case COMMIT_GATHER:
        if (!e->gather_until) {
            e->gather_until = in.now_ns + COMMIT_GATHER_NS;
            uv_idle_start(&e->gather_idle, on_gather);
        }
        return;
    case COMMIT_NOW:
        break;
    }
    uv_timer_stop(&e->linger_timer);
    uv_idle_stop(&e->gather_idle);
    e->gather_until = 0;
    e->linger_over = false;
    submit_dirty(e);
}
