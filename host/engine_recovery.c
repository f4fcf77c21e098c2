/*
 * engine_recovery.c - starting on a store a previous engine left, however
 * it stopped (a clean drain, kill -9, a plugin crash), and judging who, if
 * anyone, made it stop.
 *
 * Executions found `running` were interrupted: they are queued again.
 * Executions found `queued` may have been running before their `running`
 * state committed, so they are handled with the same care: each is handed
 * to a worker only after the commit that records it as running.
 *
 * Blame (issue 8: innocent work must never be failed for a neighbour's
 * crash) comes from the death note the supervisor keeps (deathnote.h):
 *   - a fatal signal (or exit()) in a worker names the execution that
 *     worker ran: its crash count goes up, and at --poison-crashes (3) it
 *     is failed as a poison pill; the others are re-queued without blame.
 *     A deferred execution (a ?wait trigger, never written) named so gets
 *     its record now, failed with the cause: it must exist afterwards, and
 *     it was never acknowledged, so it is not run again;
 *   - a death that names nobody but could be a plugin's doing (exit or
 *     _exit without the engine declaring it, SIGKILL from the OOM killer,
 *     a fatal signal outside any worker) blames nobody: the executions that
 *     were on workers become suspects (rec.suspect, stored, so it survives
 *     further deaths). Suspects run one at a time with nothing beside them
 *     (engine_dispatch.c); such a death while one suspect ran alone names
 *     it. A suspect whose pass ends is cleared;
 *   - SIGKILL with no OOM kill counted (kill -9 from outside), the
 *     engine's own declared exits, and no record at all blame nobody and
 *     suspect nobody. No record means the supervisor itself was started
 *     anew: it was killed (its engine dies with it, PR_SET_PDEATHSIG), the
 *     machine restarted, or the host runs --no-supervisor (debugging, no
 *     crash protection). A plugin cannot kill the supervisor by crashing,
 *     so this is an outside stop; making everything that was running a
 *     suspect would serialise the work of every restart after one.
 * Each crash attributed to an execution also counts for its function's
 * quarantine (engine_quarantine.c).
 *
 * May not: write the store directly, block (recovery runs before the loop
 * serves anything).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "clock.h"
#include "deathnote.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"
#include "store_cluster.h"

/* What the last death says. */
typedef enum death_kind {
    DEATH_NO_RECORD,   /* nothing is known */
    DEATH_NAMED,       /* a worker's fatal signal or exit(): culprit_slot */
    DEATH_UNEXPLAINED, /* could be a plugin's doing, names nobody */
    DEATH_OUTSIDE,     /* killed from outside, or the engine's own exit: nobody */
} death_kind;

struct recover_ctx {
    engine *e;
    death_kind kind;
    int culprit_slot;
    char cause[200];
    size_t requeued, poisoned, loaded, suspects, recorded;
    int error;
};

static death_kind judge(const deathnote_death *d, int *culprit, char *cause, size_t len)
{
    char sigbuf[32];
    int ws = d->wstatus;

    *culprit = -1;
    if (d->fault_by && d->fault_slot >= 0 && (uint32_t)d->fault_slot < d->slot_count) {
        const deathnote_slot *s = deathnote_last_slot((uint32_t)d->fault_slot);
        if (s && s->busy) {
            *culprit = d->fault_slot;
            if (d->fault_by == DEATHNOTE_BY_SIGNAL)
                snprintf(cause, len, "%s in its worker",
                         deathnote_signal_name(d->fault_signal, sigbuf, sizeof sigbuf));
            else
                snprintf(cause, len, "exit(%d) called in its worker", WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
            return DEATH_NAMED;
        }
    }
    if (WIFEXITED(ws) && d->declared && d->exit_code == WEXITSTATUS(ws)) {
        snprintf(cause, len, "the engine stopped itself (status %d)", WEXITSTATUS(ws));
        return DEATH_OUTSIDE;
    }
    if (WIFEXITED(ws)) {
        snprintf(cause, len,
                 "the host exited with status %d without saying so (a plugin called exit or _exit?)",
                 WEXITSTATUS(ws));
        return DEATH_UNEXPLAINED;
    }
    if (WTERMSIG(ws) == SIGKILL && !d->oom_killed) {
        snprintf(cause, len, "SIGKILL from outside");
        return DEATH_OUTSIDE;
    }
    if (WTERMSIG(ws) == SIGKILL)
        snprintf(cause, len, "SIGKILL from the OOM killer");
    else
        snprintf(cause, len, "%s outside any worker",
                 deathnote_signal_name(WTERMSIG(ws), sigbuf, sizeof sigbuf));
    return DEATH_UNEXPLAINED;
}

/* A stored queued or running execution, queued again in memory (or blocked without its code). */
static exec *load_exec(engine *e, const exec_record *rec)
{
    exec *x = engine_exec_from_store(e, rec);
    if (!x)
        return NULL;
    x->careful = true;
    if (!x->fn)
        engine_exec_block_unloaded(e, x);
    else
        engine_ready_push(e, x);
    return x;
}

/* x's crash count reached the limit: fail it as a poison pill. True when it did. */
static bool poisoned(engine *e, exec *x, const char *cause)
{
    char msg[500];

    if (x->rec.state != EXEC_QUEUED || x->rec.crashes < e->poison_crashes) {
        hlog(HLOG_WARN, "execution of %s crashed the host (%s; %u of %d before it is failed)",
             x->rec.function, cause, x->rec.crashes, e->poison_crashes);
        return false;
    }
    /* It is taken off the ready queue again: it must not run. */
    engine_ready_remove(e, x);
    snprintf(msg, sizeof msg,
             "crashed the host %u times (the last: %s, in attempt %u); it is failed as a poison pill so it "
             "cannot take the host down again",
             x->rec.crashes, cause, x->rec.attempts);
    engine_exec_move(e, x, EXEC_FAILED);
    x->rec.finished_at = clock_now_ms();
    engine_exec_set_error(x, msg);
    engine_settle_child(e, x);
    hlog(HLOG_ERROR, "execution of %s failed as a poison pill: %s", x->rec.function, msg);
    return true;
}

/* The crash is x's: count it, note it for its function, fail it at the limit. */
static void blame(struct recover_ctx *rc, exec *x, const char *cause)
{
    char msg[500];

    x->rec.crashes++;
    engine_quarantine_crash(rc->e, x->rec.function, x->rec.plugin_hash, &x->rec.id, cause);
    snprintf(msg, sizeof msg, "crashed the host (%s)", cause);
    engine_attempt_note(x, EXEC_FAILED, clock_now_ms(), msg, true, false, false);
    if (poisoned(rc->e, x, cause))
        rc->poisoned++;
}

/*
 * A deferred execution (never written: a ?wait trigger) was on a worker
 * when the host died. Its caller lost the connection and was never given
 * an id it could look up later, so it is not run again; but if the death
 * may be its doing, it must exist afterwards: written as failed, with the
 * cause.
 */
static void record_deferred(struct recover_ctx *rc, const deathnote_slot *s, bool named)
{
    engine *e = rc->e;
    exec_record rec;
    char msg[500];
    exec *x;
    int64_t now = clock_now_ms();

    memset(&rec, 0, sizeof rec);
    rec.id = s->id;
    rec.function = s->function;
    rec.args = s->args_kept ? s->args : "null";
    rec.created_at = rec.scheduled_at = id_time_ms(&s->id);
    rec.started_at = s->started_at ? s->started_at : rec.created_at;
    rec.finished_at = now;
    rec.attempts = s->attempt;
    if (!(x = engine_exec_alloc(e, &rec))) {
        rc->error = TARRY_ENOMEM;
        return;
    }
    engine_exec_bind(x, s->hash[0] ? plugins_find_version(e->pl, s->hash, s->function) : NULL);
    if (named) {
        x->rec.crashes = 1;
        snprintf(
            msg, sizeof msg,
            "crashed the host (%s, in attempt %u) while its trigger waited for the result%s; it is not run "
            "again",
            rc->cause, s->attempt, s->args_kept ? "" : " (its args were too long to keep: args is null)");
    } else {
        snprintf(msg, sizeof msg,
                 "the host died while this ran (%s) while its trigger waited for the result%s; it is not run "
                 "again",
                 rc->cause, s->args_kept ? "" : " (its args were too long to keep: args is null)");
    }
    engine_exec_move(e, x, EXEC_FAILED);
    engine_exec_set_error(x, msg);
    rc->recorded++;
    hlog(HLOG_ERROR, "execution %s of %s: %s", "(a ?wait trigger)", s->function, msg);
}

static int recover_running(void *user, const exec_record *rec)
{
    struct recover_ctx *rc = user;
    exec *x = load_exec(rc->e, rec);
    char msg[300];
    if (!x) {
        rc->error = TARRY_ENOMEM;
        return 1;
    }
    /* That attempt ended with the host: it is kept as crashed (engine_retry.c), and the next starts. */
    snprintf(msg, sizeof msg, "the host stopped while this attempt ran (%s)", rc->cause);
    engine_attempt_note(x, EXEC_FAILED, clock_now_ms(), msg, true, false, false);
    rc->requeued++;
    return 0;
}

/* The executions the previous engine had on workers: named, suspected, or recorded. */
static void judge_slots(struct recover_ctx *rc, store_txn *txn)
{
    const deathnote_death *d = deathnote_last();
    size_t busy = 0, isolated = 0;
    int lone = -1;

    for (uint32_t i = 0; d && i < d->slot_count; i++) {
        const deathnote_slot *s = deathnote_last_slot(i);
        if (s && s->busy) {
            busy++;
            lone = (int)i;
            isolated += s->isolated;
        }
    }
    /* A death naming nobody while one suspect ran alone names it. */
    if (rc->kind == DEATH_UNEXPLAINED && busy == 1 && isolated == 1) {
        rc->kind = DEATH_NAMED;
        rc->culprit_slot = lone;
        snprintf(rc->cause + strlen(rc->cause), sizeof rc->cause - strlen(rc->cause),
                 ", while it ran alone as a suspect");
    }
    if (rc->kind != DEATH_NAMED && rc->kind != DEATH_UNEXPLAINED)
        return;
    for (uint32_t i = 0; i < d->slot_count && !rc->error; i++) {
        const deathnote_slot *s = deathnote_last_slot(i);
        bool named = rc->kind == DEATH_NAMED && (int)i == rc->culprit_slot;
        exec_record rec;
        exec *x;

        if (!s || !s->busy)
            continue;
        if (!(x = idmap_get(&rc->e->active, &s->id))) {
            int r = store_exec_get(txn, &s->id, &rec);
            if (r == TARRY_ENOTFOUND && s->deferred) {
                if (named || busy == 1)
                    engine_quarantine_crash(rc->e, s->function, s->hash, &s->id, rc->cause);
                record_deferred(rc, s, named);
                continue;
            }
            /* Gone or settled since (its outcome committed before the death): nothing to judge. */
            if (r != 0 || (rec.state != EXEC_QUEUED && rec.state != EXEC_RUNNING))
                continue;
            if (!(x = load_exec(rc->e, &rec))) {
                rc->error = TARRY_ENOMEM;
                return;
            }
        }
        if (x->rec.state != EXEC_QUEUED)
            continue; /* blocked: its code is not loaded */
        /* That attempt started, though its `running` state may never have committed. */
        if (s->attempt > x->rec.attempts && !x->rec.resume) {
            char msg[300];
            x->rec.attempts = s->attempt;
            snprintf(msg, sizeof msg, "the host stopped while this attempt ran (%s)", rc->cause);
            engine_attempt_note(x, EXEC_FAILED, clock_now_ms(), msg, true, false, false);
        }
        if (named) {
            blame(rc, x, rc->cause);
        } else if (rc->kind == DEATH_UNEXPLAINED && !x->rec.suspect) {
            x->rec.suspect = true;
            rc->suspects++;
            engine_ready_remove(rc->e, x); /* counted again as a suspect */
            engine_ready_append(rc->e, x);
        }
    }
}

/* ---- orphans: running executions whose host died (several hosts: store_cluster.h) ---- */

struct orphan_ctx {
    engine *e;
    size_t adopted, poisoned;
    int error;
};

static int adopt_orphan(void *user, const exec_record *rec)
{
    struct orphan_ctx *oc = user;
    exec *x;
    char msg[300];

    if (idmap_get(&oc->e->active, &rec->id))
        return 0; /* one of this engine's own */
    if (!(x = load_exec(oc->e, rec))) {
        oc->error = TARRY_ENOMEM;
        return 1;
    }
    /* Its host died while this attempt ran, and nothing says whether the execution was the
     * cause: it is counted as a crash, so one that takes hosts down fails as a poison pill after
     * --poison-crashes of them, wherever it ran. It is not blamed on its function (quarantine):
     * a machine that dies takes innocent work with it. */
    x->rec.crashes++;
    snprintf(msg, sizeof msg, "its host stopped (no heartbeat within its lease) while this attempt ran");
    engine_attempt_note(x, EXEC_FAILED, clock_now_ms(), msg, true, false, false);
    if (poisoned(oc->e, x, "its host stopped while it ran"))
        oc->poisoned++;
    oc->adopted++;
    return 0;
}

void engine_cluster_adopt_orphans(engine *e)
{
    struct orphan_ctx oc = {e, 0, 0, 0};
    store_txn *txn;
    size_t claimed;
    int rc;

    if ((rc = store_claim(e->st, STORE_CLAIM_ORPHANS, 0, e->queue_window, &claimed, NULL)) != 0) {
        hlog(HLOG_ERROR, "cannot claim the executions of a stopped host: %s", store_last_error(e->st));
        if (rc == TARRY_EBROKEN)
            engine_exit_soon(e, EXIT_STORE_BROKEN);
        return;
    }
    if (!claimed && !e->orphans)
        return;
    e->orphans = claimed == e->queue_window; /* more may wait */
    if ((rc = store_txn_begin(e->st, false, &txn)) != 0) {
        hlog(HLOG_ERROR, "cannot read the executions of a stopped host: %s", store_last_error(e->st));
        e->orphans = true;
        return;
    }
    rc = store_exec_scan_state(txn, EXEC_RUNNING, adopt_orphan, &oc);
    store_txn_abort(txn);
    if (rc < 0 || oc.error)
        hlog(HLOG_ERROR, "adopting the executions of a stopped host failed: %s",
             rc < 0 ? store_last_error(e->st) : "out of memory");
    if (oc.adopted)
        hlog(HLOG_WARN,
             "took over %zu executions that were running on a host that stopped: each attempt is kept as "
             "crashed and runs again here (%zu failed as poison pills)",
             oc.adopted, oc.poisoned);
}

struct backlog_scan {
    engine *e;
    exec_id *ids;
    size_t want, got;
};

static int pick_not_in_memory(void *user, const exec_id *id)
{
    struct backlog_scan *b = user;
    if (idmap_get(&b->e->active, id) || engine_cluster_releasing(b->e, id))
        return 0; /* in the ready queue, on a worker, or changing; or given to the other hosts: not backlog */
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

    size_t claimed;

    if (!room || !(b.ids = malloc(room * sizeof *b.ids)))
        return 0;
    /* On a shared store: free queued executions become this host's first (one may have been
     * running on a host that died before `running` committed: careful), then it reads its own. */
    if (e->shared) {
        careful = true;
        if ((rc = store_claim(e->st, STORE_CLAIM_QUEUED, 0, room, &claimed, NULL)) != 0)
            hlog(HLOG_ERROR, "cannot claim queued executions: %s", store_last_error(e->st));
    }
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
    struct recover_ctx rc;
    const deathnote_death *death = deathnote_last();
    store_txn *txn;
    int r;

    memset(&rc, 0, sizeof rc);
    rc.e = e;
    rc.culprit_slot = -1;
    if (death)
        rc.kind = judge(death, &rc.culprit_slot, rc.cause, sizeof rc.cause);
    else
        snprintf(rc.cause, sizeof rc.cause, "no record of how the host stopped");
    if ((r = engine_load_pinned_versions(e)) != 0)
        return r;
    if ((r = store_txn_begin(e->st, false, &txn)) != 0) {
        hlog(HLOG_ERROR, "recovery cannot read the store: %s", store_last_error(e->st));
        return r;
    }
    if ((r = engine_quarantine_load(e, txn)) == 0 &&
        (r = store_exec_scan_state(txn, EXEC_RUNNING, recover_running, &rc)) >= 0 && !rc.error)
        judge_slots(&rc, txn);
    store_txn_abort(txn);
    if (r < 0 || rc.error) {
        hlog(HLOG_ERROR, "recovery failed: %s", r < 0 ? store_last_error(e->st) : "out of memory");
        return r < 0 ? r : rc.error;
    }
    /* Queued ones: a window into memory, the rest stay in the store (engine_int.h); with other
     * hosts live, what this one starts soon (a host started again does not take the pool). */
    size_t window = engine_window(e);
    rc.loaded = engine_backlog_load(e, window, true);
    if (rc.loaded == window) {
        size_t queued = 0;
        uint64_t free_queued = 0;
        if (store_txn_begin(e->st, false, &txn) == 0) {
            store_exec_ids_in_state(txn, EXEC_QUEUED, count_id, &queued);
            /* on a shared store, also those released (its previous engine's backlog): any host's */
            if (e->shared && store_free_queued_count(txn, &free_queued) == 0)
                queued += (size_t)free_queued;
            store_txn_abort(txn);
        }
        e->backlog = true;
        e->backlog_count = queued > rc.loaded ? queued - rc.loaded : 0;
    }
    if (rc.requeued || rc.poisoned || rc.loaded || rc.suspects || rc.recorded)
        hlog(HLOG_INFO,
             "recovered: %zu interrupted executions re-queued, %zu suspects to run alone, %zu failed as "
             "poison pills, %zu never-acknowledged ones recorded as failed, %zu queued (%zu more wait in the "
             "store); the last stop: %s",
             rc.requeued, rc.suspects, rc.poisoned, rc.recorded, rc.loaded, e->backlog_count, rc.cause);
    if (e->shared)
        engine_cluster_adopt_orphans(e); /* hosts that died meanwhile, elsewhere */
    /*
     * Nothing runs, not even a ?wait trigger (which needs no commit to run),
     * until the blame is durable: a crash before that would lose it, and the
     * death note would then only tell of the new death.
     */
    if (list_empty(&e->dirty))
        deathnote_mark_recovered();
    else
        e->recovery_pending = true;
    return 0;
}

void engine_recovery_committed(engine *e)
{
    if (!e->recovery_pending)
        return;
    e->recovery_pending = false;
    deathnote_mark_recovered();
}
