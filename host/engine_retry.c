/*
 * engine_retry.c - attempts: what is kept of each one, what follows a
 * failed one (the function's retry policy, backoff.h), and attempts that
 * run past their function's max_duration.
 *
 * Every attempt's end is noted on its execution (exec.attempt) and written
 * to the attempts DB by the batch that records that end (engine_batch.c
 * calls engine_retry_batch), with its number, times, outcome, error and
 * whether it crashed the host, timed out or failed permanently.
 *
 * A failed attempt with retries left and not permanent is not final: the
 * execution goes running -> scheduled with next_attempt_at = scheduled_at
 * = now + backoff, so it waits in the store's timers index like a delayed
 * start and survives restarts; with a zero wait it goes straight to
 * queued. The error stays on the record until an attempt succeeds. A
 * child's retries are its own: its parent is settled only when it is
 * final (engine_settle_child is called only then).
 *
 * A workflow's retry replays its journal: steps and children that
 * completed are not redone. A failed step is recorded in the journal too
 * (so that a replay within the attempt sees the same failure), so the
 * failed end of the journal - the failed steps after the last entry that
 * did not fail - is deleted in the batch that schedules the retry: the
 * next attempt runs those steps again. A failed step the function got past
 * (it handled the failure and went on) stays: that attempt's code saw it.
 *
 * max_duration: a pass that has run longer than its function's
 * max_duration (engine_watch.c looks) times out. A thread cannot be
 * killed, so the pass is abandoned: tarry_is_cancelled turns true for it,
 * its exec is detached from the execution (it stays owned by the pass and
 * is freed when the pass returns, whatever it returned being discarded and
 * logged), and a fresh exec carries the execution on to its next attempt
 * or its failure. An abandoned pass keeps its thread: it does not count
 * towards --workers, but passes in all (running + abandoned) are bounded
 * by the threadpool (engine_pass_room), so abandoned passes beyond the
 * spare threads do take workers away until they return.
 *
 * May not: block, write the store directly (changes go on the dirty list).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "duration.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"

/* ---- what is kept of an attempt ---------------------------------------------------- */

void engine_attempt_note(exec *x, exec_state outcome, int64_t finished_at, const char *error, bool crashed,
                         bool timed_out, bool permanent)
{
    free(x->attempt_error);
    x->attempt_error = error ? strdup(error) : NULL;
    memset(&x->attempt, 0, sizeof x->attempt);
    x->attempt.number = x->rec.attempts ? x->rec.attempts : 1;
    x->attempt.started_at = x->rec.started_at ? x->rec.started_at : finished_at;
    x->attempt.finished_at = finished_at;
    x->attempt.outcome = outcome;
    x->attempt.crashed = crashed;
    x->attempt.timed_out = timed_out;
    x->attempt.permanent = permanent;
    x->attempt.error = x->attempt_error;
    x->attempt_pending = true;
    engine_metrics_attempt_ended(x->owner, x);
}

int engine_retry_batch(store_batch *b, exec *x)
{
    int rc = 0;

    for (uint32_t seq = x->drop_from; rc == 0 && seq < x->drop_to; seq++)
        rc = store_batch_journal_del(b, &x->rec.id, seq);
    if (rc == 0 && x->attempt_pending)
        rc = store_batch_attempt_put(b, &x->rec.id, &x->attempt);
    return rc;
}

void engine_retry_committed(exec *x, uint32_t attempt_written, bool dropped)
{
    /* Only what that batch wrote: a later attempt noted since waits for its own batch. */
    if (x->attempt_pending && x->attempt.number == attempt_written) {
        x->attempt_pending = false;
        free(x->attempt_error);
        x->attempt_error = NULL;
        x->attempt.error = NULL;
    }
    if (dropped)
        x->drop_from = x->drop_to = 0;
}

/* ---- a failed attempt --------------------------------------------------------------- */

/* The failed end of the journal the pass saw: failed steps after the last entry that did not fail. */
static void drop_failed_end(exec *x)
{
    const replay_run *r = &x->run;
    size_t end = r->journal_count + r->new_count, from = end;

    while (from > 0) {
        size_t i = from - 1;
        bool failed_step = i < r->journal_count
                               ? r->journal[i].kind == JCORE_STEP && r->journal[i].status == JCORE_FAILED
                               : r->new_entries[i - r->journal_count].e.kind == JOURNAL_STEP &&
                                     r->new_entries[i - r->journal_count].e.status == JOURNAL_FAILED;
        if (!failed_step)
            break;
        from = i;
    }
    x->drop_from = (uint32_t)from;
    x->drop_to = (uint32_t)end;
    /* The next attempt runs from there again: its lines from there on are new, not replayed. */
    if (x->rec.log_mark_pos >= from) {
        x->rec.log_mark_pos = (uint32_t)from;
        x->rec.log_mark_count = 0;
    }
}

void engine_attempt_failed(engine *e, exec *x, bool permanent, bool timed_out, bool journal_seen)
{
    int64_t now = clock_now_ms(), wait;
    char waits[64];

    engine_attempt_note(x, EXEC_FAILED, now, x->rec.error, false, timed_out, permanent);
    if (timed_out)
        x->rec.timeouts++;
    if (!x->fn || !backoff_should_retry(&x->fn->opts, x->rec.attempts, permanent)) {
        engine_exec_move(e, x, EXEC_FAILED);
        x->rec.result = NULL;
        x->rec.finished_at = now;
        x->rec.next_attempt_at = 0;
        engine_settle_child(e, x);
        return;
    }
    /* A timed-out pass's run belongs to its thread: its journal is not looked at (nothing of it was
     * stored past its last checkpoint). */
    if (journal_seen)
        drop_failed_end(x);
    /* The error stays on the record while the retry waits; the run that holds it is cleared when
     * the next attempt starts, so the exec keeps its own copy. */
    char *kept = x->rec.error ? strdup(x->rec.error) : NULL;
    free(x->error_kept);
    x->rec.error = x->error_kept = kept;
    /* It waits (or is queued) as a stored execution: a ?wait trigger's caller hears of it at its deadline. */
    x->deferred = false;
    x->rec.result = NULL;
    x->rec.finished_at = 0;
    x->rec.resume = false;
    engine_metrics_retry(e, x);
    wait = backoff_delay_ms(&x->fn->opts, x->rec.attempts, backoff_random());
    if (wait <= 0) {
        x->rec.next_attempt_at = 0;
        engine_exec_move(e, x, EXEC_QUEUED);
    } else {
        x->rec.next_attempt_at = x->rec.scheduled_at = now + wait;
        engine_exec_move(e, x, EXEC_SCHEDULED);
        e->timers_changed = true;
    }
    duration_format(wait, waits, sizeof waits);
    hlog(HLOG_INFO, "execution %s (%s): attempt %" PRIu32 " of %" PRIu32 " failed (%s); the next in %s",
         x->run.id_text[0] ? x->run.id_text : "?", x->rec.function, x->rec.attempts, x->fn->opts.max_attempts,
         x->rec.error ? x->rec.error : "no error given", wait > 0 ? waits : "0s (now)");
}

/* ---- max_duration ------------------------------------------------------------------------ */

/* Whether x is in the batch the commit thread has now. */
static bool in_flight(const engine *e, const exec *x)
{
    for (size_t i = 0; i < e->entry_count; i++)
        if (e->entries[i].x == x)
            return true;
    return false;
}

size_t engine_pass_room(const engine *e)
{
    size_t cap = e->workers * 2, busy = e->running + e->abandoned;
    if (e->running >= e->workers || busy >= cap)
        return 0;
    return e->workers - e->running < cap - busy ? e->workers - e->running : cap - busy;
}

bool engine_attempt_timeout(engine *e, exec *x)
{
    char took[64], msg[128], id[ID_TEXT_LEN + 1];
    exec *y;

    /*
     * Its pass's changes may be on their way to the store (its `running`
     * state, a step checkpoint): look again once they are, so the pass's
     * exec is never in a batch when it is detached.
     */
    if (x->abandoned || x->in_dirty || x->cp_waiting || x->rejected || in_flight(e, x))
        return false;
    duration_format(x->fn->opts.max_duration_ms, took, sizeof took);
    snprintf(msg, sizeof msg, "timed out after %s", took);
    id_format(&x->rec.id, id);

    /* The pass keeps x (and its run) until it returns; the execution goes on in y. */
    idmap_del(&e->active, &x->rec.id);
    if (!(y = engine_exec_alloc(e, &x->rec))) {
        idmap_put(&e->active, &x->rec.id, x);
        hlog(HLOG_ERROR, "out of memory timing out execution %s; trying again", id);
        return false;
    }
    x->abandoned = true;
    replay_run_cancel(&x->run);
    e->running--;
    e->abandoned++;

    y->written_state = x->written_state;
    y->committed_state = x->committed_state;
    y->written_scheduled_at = x->written_scheduled_at;
    y->committed_scheduled_at = x->committed_scheduled_at;
    y->written_wake_at = x->written_wake_at;
    y->committed_wake_at = x->committed_wake_at;
    memcpy(y->written_hash, x->written_hash, sizeof y->written_hash);
    memcpy(y->committed_hash, x->committed_hash, sizeof y->committed_hash);
    engine_exec_bind(y, x->fn);
    y->deferred = x->deferred;
    memcpy(y->run.id_text, id, sizeof id);
    while (!list_empty(&x->acks)) {
        list_node *w = x->acks.next;
        list_unlink(w);
        list_push_back(&y->acks, w);
    }
    engine_exec_set_error(y, msg);
    hlog(HLOG_WARN,
         "execution %s (%s): attempt %" PRIu32 " %s (max_duration); tarry_is_cancelled is true for it now, "
         "and what it returns will be discarded. Its thread stays busy until it returns",
         id, x->rec.function, x->rec.attempts, msg);
    if (!engine_cancel_timed_out(e, y))
        engine_attempt_failed(e, y, false, true, false);
    return true;
}

void engine_abandoned_returned(engine *e, exec *x, int status)
{
    char took[64];

    e->abandoned--;
    duration_format((int64_t)((uv_hrtime() - x->pass_started_ns) / 1000000u), took, sizeof took);
    engine_watch_pass_end(e, x);
    hlog(HLOG_WARN,
         "execution %s (%s): attempt %" PRIu32 ", which timed out, returned after %s (%s); what it returned "
         "is discarded",
         x->run.id_text, x->rec.function, x->rec.attempts, took,
         status == UV_ECANCELED               ? "it never ran"
         : x->run.outcome == REPLAY_SUCCEEDED ? "succeeded"
         : x->run.outcome == REPLAY_FAILED    ? "failed"
                                              : "unfinished");
    /* Not in `active` any more (y is): free it without touching the map. Its function's
     * concurrency slot was held until now (engine_limits.c). */
    engine_limit_forget(e, x);
    replay_run_clear(&x->run);
    engine_sleep_entry_free(x->sleep_entry);
    free(x->attempt_error);
    free(x->error_kept);
    free(x);
}
