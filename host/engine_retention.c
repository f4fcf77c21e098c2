/*
 * engine_retention.c - deleting final executions once their retention is
 * over (the host's --retention, default 30 days, or their function's
 * `retention` option), in small batches through the engine's group commit.
 *
 * When: a final execution's row (expire_at = finished_at + its retention
 * then) is written in the batch that makes it final (engine_final.c); a
 * timer waits for the earliest row in the store (re-armed when a sooner one
 * commits; never polls). When it fires, the next batch carries at most
 * RETENTION_BATCH purges (and at most RETENTION_ROWS of their log lines),
 * with whatever else it holds, or alone when nothing else waits; while
 * rows stay due, every following batch carries the next few, so deleting a
 * backlog interleaves with the work of the moment and never makes one long
 * commit.
 *
 * What: the commit thread expands each purge into the deletes of the
 * execution and everything of it, in the batch's transaction
 * (store_lmdb_retention.c, store_pg_retention.c). Never one in memory (`active`: not final in the
 * store yet, or its end not committed), nor one whose unfinished child
 * will still write into its journal (the store keeps it, and its row moves
 * RETENTION_POSTPONE_MS on).
 *
 * May not: include lmdb.h, write the store outside a batch (except the
 * rows of a store from before retention, once, at start), block the loop
 * beyond one short read.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"

#define RETENTION_BATCH 200            /* executions one batch deletes at most */
#define RETENTION_ROWS 20000           /* ... and their log lines, at most (one execution always goes) */
#define RETENTION_BUSY_MS 1000         /* due rows of executions in memory: look again after this */
#define RETENTION_POSTPONE_MS 60000    /* a parent with an unfinished child: look again after this */
#define RETENTION_TIMER_MAX_MS 3600000 /* a far timer is re-armed from the store every hour */

struct engine_retention {
    uv_timer_t timer;
    int64_t default_ms; /* 0: kept forever */
    int64_t armed_at;   /* the wall-clock time the timer is armed for; 0: not armed */
    bool due;           /* the next batch carries purges */
    size_t in_flight;   /* purges in the batch in flight */
    bool full;          /* ... and it was full: more are due */
};

static void on_timer(uv_timer_t *t)
{
    engine *e = t->data;
    e->retention->armed_at = 0;
    e->retention->due = true;
    engine_flush(e);
}

/* Fire at `at` (wall clock), unless the timer fires sooner already. */
static void arm_at(engine *e, int64_t at)
{
    struct engine_retention *r = e->retention;
    int64_t now = clock_now_ms(), delay;

    if (r->due || (r->armed_at && r->armed_at <= at))
        return;
    delay = at - now;
    if (delay < 0)
        delay = 0;
    if (delay > RETENTION_TIMER_MAX_MS)
        delay = RETENTION_TIMER_MAX_MS;
    r->armed_at = now + delay;
    uv_timer_start(&r->timer, on_timer, (uint64_t)delay, 0);
    uv_unref((uv_handle_t *)&r->timer); /* never keeps a stopping loop alive */
}

/* Arm for the earliest row in the store, if any. */
static void arm_from_store(engine *e)
{
    store_txn *txn;
    int64_t at;
    exec_id id;

    if (store_txn_begin(e->st, false, &txn) != 0)
        return;
    if (store_retention_first(txn, &at, &id) == 0)
        arm_at(e, at);
    store_txn_abort(txn);
}

int engine_retention_init(engine *e)
{
    if (!(e->retention = calloc(1, sizeof *e->retention)))
        return TARRY_ENOMEM;
    e->retention->default_ms = ENGINE_RETENTION_DEFAULT_MS;
    uv_timer_init(e->loop, &e->retention->timer);
    e->retention->timer.data = e;
    e->open_handles++;
    return 0;
}

void engine_set_retention(engine *e, int64_t ms)
{
    e->retention->default_ms = ms < 0 ? 0 : ms;
}

int64_t engine_retention_default(const engine *e)
{
    return e->retention->default_ms;
}

/* The retention of an execution of `fn` (NULL: not loaded) ending now; 0: forever. */
static int64_t retention_of_fn(const engine *e, const plugin_fn *fn)
{
    if (fn && fn->opts.retention_ms != FN_RETENTION_HOST)
        return fn->opts.retention_ms;
    return e->retention->default_ms;
}

static int64_t retention_of_name(void *user, const char *function)
{
    engine *e = user;
    return retention_of_fn(e, plugins_find(e->pl, function));
}

void engine_retention_start(engine *e)
{
    int rc = store_retention_build(e->st, retention_of_name, e);
    if (rc != 0)
        hlog(HLOG_ERROR, "retention: cannot index the executions that ended before it existed: %s",
             store_last_error(e->st)); /* tried again at the next start */
    arm_from_store(e);
}

void engine_retention_stop(engine *e)
{
    uv_timer_stop(&e->retention->timer);
    e->retention->armed_at = 0;
    e->retention->due = false;
}

void engine_retention_close(engine *e, uv_close_cb cb)
{
    uv_close((uv_handle_t *)&e->retention->timer, cb);
}

void engine_retention_free(engine *e)
{
    free(e->retention);
    e->retention = NULL;
}

static int64_t expire_at(const engine *e, const exec *x)
{
    int64_t ms = retention_of_fn(e, x->fn);
    if (!ms)
        return 0;
    return (x->rec.finished_at ? x->rec.finished_at : clock_now_ms()) + ms;
}

int engine_retention_final_batch(engine *e, store_batch *b, exec *x)
{
    int64_t at;
    if (!exec_state_final(x->rec.state) || !(at = expire_at(e, x)))
        return 0; /* blocked is not final; a retention of 0 keeps it forever */
    return store_batch_retention_put(b, at, &x->rec.id);
}

void engine_retention_final_committed(engine *e, const exec *x, exec_state state)
{
    int64_t at;
    if (exec_state_final(state) && (at = expire_at(e, x)))
        arm_at(e, at); /* a sooner row than the timer waits for (a shorter retention) */
}

bool engine_retention_wants(const engine *e)
{
    return e->retention->due && !e->draining;
}

struct pass {
    engine *e;
    store_batch *b;
    store_txn *txn;
    int64_t now;
    size_t count, rows, busy;
    int rc;
};

static int purge_one(void *user, int64_t at, const exec_id *id)
{
    struct pass *p = user;
    exec_record rec;
    size_t rows = 1;

    if (idmap_get(&p->e->active, id)) {
        p->busy++; /* its end is not committed yet (or it is being re-read): later */
        return 0;
    }
    if (store_exec_get(p->txn, id, &rec) == 0)
        rows += rec.log_count + rec.attempts;
    if (p->count && p->rows + rows > RETENTION_ROWS)
        return 1;
    if ((p->rc = store_batch_exec_purge(p->b, at, id, p->now + RETENTION_POSTPONE_MS)) != 0)
        return p->rc;
    p->rows += rows;
    return ++p->count == RETENTION_BATCH ? 1 : 0;
}

int engine_retention_batch(engine *e, store_batch *b)
{
    struct engine_retention *r = e->retention;
    struct pass p = {e, b, NULL, clock_now_ms(), 0, 0, 0, 0};
    int rc;

    if (!engine_retention_wants(e))
        return 0;
    r->due = false;
    if ((rc = store_txn_begin(e->st, false, &p.txn)) != 0)
        return 0; /* the next commit's turn, or the timer's */
    rc = store_retention_due(p.txn, p.now, purge_one, &p);
    store_txn_abort(p.txn);
    if (rc == TARRY_ENOMEM || p.rc == TARRY_ENOMEM)
        return TARRY_ENOMEM; /* the batch fails and is tried again, purges too */
    if (!p.count && !p.busy)
        arm_from_store(e); /* nothing due after all (postponed rows, a clock step): the next row */
    r->in_flight = p.count;
    r->full = p.count == RETENTION_BATCH || (p.count && p.rows >= RETENTION_ROWS / 2);
    if (p.busy && !r->full)
        arm_at(e, p.now + RETENTION_BUSY_MS);
    return 0;
}

void engine_retention_committed(engine *e, bool ok)
{
    struct engine_retention *r = e->retention;

    if (!r->in_flight)
        return;
    if (!ok || r->full)
        r->due = true; /* the next batch goes on (a failed one is retried with its pause) */
    else
        arm_from_store(e);
    if (ok)
        hlog(HLOG_DEBUG, "retention: %zu expired executions deleted", r->in_flight);
    r->in_flight = 0;
    r->full = false;
}

int engine_retention_info(engine *e, int64_t *default_ms, int64_t *purged_before, uint64_t *deleted)
{
    store_retention_info info;
    store_txn *txn;
    int rc;

    *default_ms = e->retention->default_ms;
    if ((rc = store_txn_begin(e->st, false, &txn)) != 0)
        return rc;
    rc = store_retention_info_get(txn, &info);
    store_txn_abort(txn);
    *purged_before = rc == 0 ? info.purged_before : 0;
    *deleted = rc == 0 ? info.deleted : 0;
    return rc;
}
