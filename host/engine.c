/*
 * engine.c - the engine's front: creating, starting, draining and closing
 * it, triggers, and the end of every loop turn (engine_flush), which is
 * where work starts and commits begin. engine_int.h lists the other rooms
 * and the invariants they all keep.
 *
 * May not: include lmdb.h, call dlopen, block the loop thread.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"

void engine_check_drained(engine *e)
{
    if (e->draining && e->drain_done && e->running == 0 && e->abandoned == 0 && list_empty(&e->dirty) &&
        !committer_busy(e->committer)) {
        void (*done)(void *) = e->drain_done;
        e->drain_done = NULL;
        done(e->drain_user);
    }
}

/*
 * The end of a loop turn: start what can start, and if the commit thread is
 * idle, hand it everything that changed. Answers and dispatches of recovered
 * executions wait for engine_on_committed.
 */
void engine_flush(engine *e)
{
    if (e->timers_due)
        engine_load_due_timers(e);
    engine_start_ready(e);
    engine_commit_maybe(e);
    if (e->timers_changed)
        engine_arm_timer(e);
    engine_check_drained(e);
}

static void on_check(uv_check_t *c)
{
    engine_flush(c->data);
}

/* Every commit checks the data folder too (store_batch_commit); this finds
 * a folder deleted while nothing commits, before anything is acknowledged. */
static void on_store_check(uv_timer_t *t)
{
    engine_check_store(t->data);
}

int engine_trigger(engine *e, const engine_trigger_req *req, engine_waiter *w)
{
    const plugin_fn *fn = plugins_find(e->pl, req->function);
    int64_t now = clock_now_ms();
    exec_record rec;
    exec *x;
    int refusing = engine_commit_refusing(e);
    char why[400];

    if (!fn)
        return TARRY_ENOTFOUND;
    if (req->idempotency_key) {
        engine_idem_hit hit;
        int found = engine_idem_check(e, fn->name, req->idempotency_key, req->args, &hit);
        if (found < 0)
            return found; /* TARRY_EEXIST: the key was given with other args */
        if (found && hit.x) {
            engine_idem_attach(e, hit.x, w);
            return ENGINE_DUPLICATE;
        }
        if (found) {
            w->id = hit.id;
            return ENGINE_DUPLICATE_STORED;
        }
    }
    if (engine_quarantined(e, fn, NULL, 0))
        return TARRY_EQUARANTINED; /* engine_quarantine.c */
    if (refusing)
        return refusing;
    memset(&rec, 0, sizeof rec);
    id_new(&rec.id);
    rec.function = fn->name;
    rec.args = req->args;
    rec.metadata = req->metadata;
    rec.idempotency_key = req->idempotency_key;
    rec.discard_at = req->discard_at_ms;
    rec.created_at = now;
    rec.scheduled_at = req->run_at_ms > now ? req->run_at_ms : now;
    if (req->rerun_of)
        rec.rerun_of = *req->rerun_of;
    if (!(x = engine_exec_alloc(e, &rec)))
        return TARRY_ENOMEM;
    x->journal_empty = true;
    engine_exec_bind(x, fn);
    if (engine_idem_hold(e, x) != 0) {
        engine_exec_free(e, x);
        return TARRY_ENOMEM;
    }

    if (req->wait_ms >= 0) {
        if (engine_waits_add(e, w, &rec.id, WAIT_TRIGGER, req->wait_ms) != 0) {
            engine_exec_free(e, x);
            return TARRY_ENOMEM;
        }
    } else {
        engine_waiter_init(w, &rec.id, WAIT_ACK);
        list_push_back(&x->acks, &w->node);
    }
    e->stats.created++;
    engine_metrics_created(e, x);
    if (x->rec.scheduled_at > now) {
        engine_exec_move(e, x, EXEC_SCHEDULED);
        e->timers_changed = true;
    } else if (engine_limit_refuses(e, fn, why, sizeof why)) {
        /* Its function is at its limit and says "cancel" (engine_limits.c): final at once, and
         * answered like any trigger once that is durable. */
        if (engine_exec_move(e, x, EXEC_CANCELLED) == 0) {
            engine_exec_set_error(x, why);
            x->rec.finished_at = now;
        }
    } else if (req->wait_ms >= 0 && !req->idempotency_key) {
        /* Nobody is told about it before it is final (or its wait ends):
         * it may run before anything is written (engine_int.h). A keyed one
         * is written first: its key must hold before anything runs. */
        x->deferred = true;
        engine_ready_push(e, x);
    } else {
        /* Runs once `queued` is durable. */
        engine_exec_move(e, x, EXEC_QUEUED);
    }
    return 0;
}

/* ---- life cycle -------------------------------------------------------------------- */

int engine_create(engine **out, uv_loop_t *loop, store *st, plugins *pl, int workers)
{
    engine *e = calloc(1, sizeof *e);
    if (!e)
        return TARRY_ENOMEM;
    e->loop = loop;
    e->st = st;
    e->pl = pl;
    e->workers = workers > 0 ? (size_t)workers : 1;
    engine_set_crash_limits(e, 0, 0, 0);
    engine_set_idempotency_ttl(e, 0);
    e->queue_window = QUEUE_WINDOW_DEFAULT;
    e->stats.workers = e->workers;
    engine_host_init(e);
    idmap_init(&e->active);
    idmap_init(&e->waits);
    idmap_init(&e->follows);
    idmap_init(&e->releasing);
    idmap_init(&e->asking);
    list_init(&e->ready);
    list_init(&e->dirty);
    list_init(&e->deadlines);
    list_init(&e->reload_waiting);
    list_init(&e->reload_answer);
    list_init(&e->sharing);
    uv_check_init(loop, &e->check);
    uv_timer_init(loop, &e->timer);
    uv_timer_init(loop, &e->deadline_timer);
    uv_timer_init(loop, &e->retry_timer);
    uv_timer_init(loop, &e->reread_timer);
    e->reread_timer.data = e;
    uv_timer_init(loop, &e->linger_timer);
    uv_idle_init(loop, &e->gather_idle);
    e->check.data = e->timer.data = e->deadline_timer.data = e->retry_timer.data = e;
    e->linger_timer.data = e->gather_idle.data = e;
    uv_timer_init(loop, &e->sweep_timer);
    e->sweep_timer.data = e;
    uv_timer_init(loop, &e->store_check);
    e->store_check.data = e;
    uv_async_init(loop, &e->cp_async, engine_on_checkpoint);
    e->cp_async.data = e;
    uv_async_init(loop, &e->store_async, engine_cluster_on_async);
    e->store_async.data = e;
    uv_mutex_init(&e->store_lock);
    uv_mutex_init(&e->cp_lock);
    uv_cond_init(&e->cp_cond);
    e->open_handles = 11;
    engine_watch_init(e);                                          /* one handle more */
    if (engine_cron_init(e) != 0 || engine_retention_init(e) != 0) /* one handle more each */
        return TARRY_ENOMEM;
    if (engine_metrics_init(e) != 0)
        return TARRY_ENOMEM;
    if (!(e->batch = store_batch_new(st)) ||
        committer_start(&e->committer, loop, st, engine_on_committed, e) != 0) {
        hlog(HLOG_ERROR, "cannot start the commit thread");
        return TARRY_ENOMEM;
    }
    *out = e;
    return 0;
}

void engine_set_cluster(engine *e, const char (*prev_hosts)[ENGINE_HOST_ID_LEN + 1], size_t n,
                        int64_t lease_ms)
{
    e->nprev_hosts = 0;
    for (size_t i = 0; i < n && e->nprev_hosts < ENGINE_PREV_HOSTS_MAX; i++)
        if (prev_hosts[i][0])
            snprintf(e->prev_hosts[e->nprev_hosts++], sizeof e->prev_hosts[0], "%s", prev_hosts[i]);
    e->lease_ms = lease_ms;
}

void engine_set_queue_window(engine *e, size_t n)
{
    /* Below a few passes per worker the workers would starve between refills. */
    e->queue_window = n < 4 * e->workers ? 4 * e->workers : n;
}

void engine_set_log_limits(engine *e, uint32_t max_lines, size_t line_max)
{
    e->log_max_lines = max_lines;
    e->log_line_max = line_max;
}

void engine_set_crash_limits(engine *e, uint32_t poison, uint32_t quarantine, int64_t window_ms)
{
    e->poison_crashes = poison ? poison : ENGINE_POISON_CRASHES;
    e->quarantine_crashes = !quarantine                          ? ENGINE_QUARANTINE_CRASHES
                            : quarantine > STORE_FN_CRASHES_KEPT ? STORE_FN_CRASHES_KEPT
                                                                 : quarantine;
    e->quarantine_window_ms = window_ms > 0 ? window_ms : ENGINE_QUARANTINE_WINDOW_MS;
}

int engine_start(engine *e)
{
    int r = engine_cluster_join(e);
    if (r == 0)
        r = engine_recover(e);
    if (r != 0)
        return r;
    uv_check_start(&e->check, on_check);
    uv_timer_start(&e->store_check, on_store_check, STORE_CHECK_MS, STORE_CHECK_MS);
    uv_unref((uv_handle_t *)&e->store_check); /* it never keeps a stopping loop alive */
    engine_watch_start(e);
    engine_cron_update(e);
    engine_retention_start(e);
    e->timers_due = true;
    engine_flush(e);
    return 0;
}

void engine_drain(engine *e, void (*done)(void *user), void *user)
{
    e->draining = true;
    engine_cron_stop(e); /* nothing new starts while draining */
    engine_retention_stop(e);
    e->drain_done = done;
    e->drain_user = user;
    uv_timer_stop(&e->timer);
    engine_check_drained(e);
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
            engine_sleep_entry_free(x->sleep_entry);
            free(x);
        }
    }
    for (size_t i = 0; i < e->waits.cap; i++)
        free(e->waits.slots[i].value);
    idmap_free(&e->active);
    idmap_free(&e->waits);
    idmap_free(&e->follows);
    idmap_free(&e->releasing);
    idmap_free(&e->asking);
    store_batch_free(e->batch);
    free(e->entries);
    engine_quarantine_free(e);
    engine_limits_free(e);
    engine_cron_free(e);
    engine_retention_free(e);
    engine_idem_free(e);
    engine_metrics_free(e);
    uv_cond_destroy(&e->cp_cond);
    uv_mutex_destroy(&e->cp_lock);
    uv_mutex_destroy(&e->store_lock);
    free(e);
}

void engine_close(engine *e)
{
    engine_follow_close(e);
    committer_stop(e->committer);
    uv_close((uv_handle_t *)&e->check, on_handle_closed);
    uv_close((uv_handle_t *)&e->timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->deadline_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->reread_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->linger_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->gather_idle, on_handle_closed);
    uv_close((uv_handle_t *)&e->cp_async, on_handle_closed);
    uv_close((uv_handle_t *)&e->store_async, on_handle_closed);
    uv_close((uv_handle_t *)&e->sweep_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->store_check, on_handle_closed);
    engine_watch_close(e, on_handle_closed);
    engine_cron_close(e, on_handle_closed);
    engine_retention_close(e, on_handle_closed);
}

/* ---- introspection -------------------------------------------------------------------- */

void engine_get_stats(const engine *e, engine_stats *out)
{
    committer_stats cs;
    *out = e->stats;
    committer_get_stats(e->committer, &cs);
    out->commit_ns_total = cs.total_ns;
    out->commit_ns_max = cs.max_ns;
    out->running = e->running;
    out->queued = e->ready_count + e->backlog_count;
    engine_watch_stats(e, out);
}

plugins *engine_plugins(const engine *e)
{
    return e->pl;
}

store *engine_store(const engine *e)
{
    return e->st;
}
