/*
 * engine_watch.c - passes on workers: how long each has run, and workers
 * held past the stuck threshold.
 *
 * A function runs in the host's process and cannot be stopped from
 * outside, so one that never returns holds its worker for good (and again
 * after every restart, as it is re-queued). Until functions have a
 * max_duration, the engine at least makes that visible: each pass on a
 * worker is on `passes` with its start; a timer on the loop looks at them
 * (at most `workers` entries, a few times a second or less) and logs once
 * per pass that crosses the threshold, and once per change whether every
 * worker is stuck (new work then waits in the queue). engine_watch_stats
 * answers /metrics from the same list, engine_passes_list the cluster view
 * (what runs on this host).
 *
 * The same look times attempts out: a pass that has run longer than its
 * function's max_duration is handed to engine_retry.c, which abandons it
 * (it stays on `passes`, holding its thread, until it returns). Abandoned
 * passes do not count towards --workers, but every pass needs a thread:
 * "every worker is stuck" means no pass can start because of passes past
 * the threshold, on workers or abandoned (engine_pass_room).
 *
 * Granularity: a pass times out at the first look after its max_duration,
 * so up to one watch interval late.
 *
 * May not: block the loop, touch a pass's run (a worker owns it), write
 * the store.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "duration.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"

#define WATCH_MIN_MS 100
#define WATCH_MAX_MS 1000

/* How often to look: a tenth of the threshold, between 100 ms and 1 s. */
static uint64_t watch_interval(const engine *e)
{
    int64_t ms = e->stuck_after_ms / 10;
    return (uint64_t)(ms < WATCH_MIN_MS ? WATCH_MIN_MS : ms > WATCH_MAX_MS ? WATCH_MAX_MS : ms);
}

/* Count the passes past the threshold, log each newly stuck one once, and say when
 * "every worker is stuck" starts or ends (only a change is logged: a host stuck
 * for hours says it twice). */
static void watch_update(engine *e)
{
    uint64_t now = uv_hrtime(), limit_ns = (uint64_t)e->stuck_after_ms * 1000000u;
    size_t stuck = 0, stuck_live = 0;
    char took[64];
    bool all;

    for (list_node *n = e->passes.next; n != &e->passes; n = n->next) {
        exec *x = list_entry(n, exec, pass_node);
        uint64_t age = now - x->pass_started_ns;
        if (age < limit_ns && !x->abandoned)
            continue;
        stuck++;
        stuck_live += !x->abandoned;
        if (age < limit_ns)
            continue;
        if (!x->stuck_logged) {
            x->stuck_logged = true;
            duration_format((int64_t)(age / 1000000u), took, sizeof took);
            hlog(HLOG_WARN,
                 "execution %s (%s) has run for %s on its worker (past --stuck-after): the worker is held "
                 "until the function returns",
                 x->run.id_text, x->rec.function, took);
        }
    }
    all = stuck_live >= e->workers || stuck >= e->workers * 2;
    if (all == e->all_stuck)
        return;
    e->all_stuck = all;
    duration_format(e->stuck_after_ms, took, sizeof took);
    if (all)
        hlog(HLOG_ERROR,
             "every worker (%zu) is busy with an execution running longer than %s%s: new work waits in the "
             "queue "
             "(%zu queued); `tarry ls --state running` shows them",
             e->workers, took,
             stuck_live < e->workers ? " or with an attempt that timed out and has not returned" : "",
             e->ready_count + e->backlog_count);
    else
        hlog(HLOG_INFO, "a worker is free again: %zu of %zu workers hold executions running longer than %s",
             stuck, e->workers, took);
}

/* Time out the passes past their function's max_duration. Whether any did. */
static bool watch_timeouts(engine *e)
{
    uint64_t now = uv_hrtime();
    bool any = false;

    for (list_node *n = e->passes.next; n != &e->passes; n = n->next) {
        exec *x = list_entry(n, exec, pass_node);
        int64_t max_ms = x->fn ? x->fn->opts.max_duration_ms : 0;
        /* (A timed-out pass stays on the list, so the walk goes on.) */
        if (!x->abandoned && max_ms > 0 && now - x->pass_started_ns >= (uint64_t)max_ms * 1000000u)
            any |= engine_attempt_timeout(e, x);
    }
    return any;
}

static void on_watch(uv_timer_t *t)
{
    engine *e = t->data;
    if (watch_timeouts(e))
        engine_flush(e); /* commit the timeouts, and start work on the workers they freed */
    watch_update(e);
}

void engine_watch_init(engine *e)
{
    list_init(&e->passes);
    e->stuck_after_ms = ENGINE_STUCK_AFTER_MS;
    uv_timer_init(e->loop, &e->watch_timer);
    e->watch_timer.data = e;
    /* A watch alone must not keep the loop (and so a stopping host) alive. */
    uv_unref((uv_handle_t *)&e->watch_timer);
    e->open_handles++;
}

void engine_set_stuck_after(engine *e, int64_t ms)
{
    e->stuck_after_ms = ms > 0 ? ms : ENGINE_STUCK_AFTER_MS;
}

void engine_watch_start(engine *e)
{
    uint64_t every = watch_interval(e);
    uv_timer_start(&e->watch_timer, on_watch, every, every);
}

void engine_watch_close(engine *e, uv_close_cb cb)
{
    uv_close((uv_handle_t *)&e->watch_timer, cb);
}

void engine_watch_pass_begin(engine *e, exec *x)
{
    x->pass_started_ns = uv_hrtime();
    x->pass_started_ms = clock_now_ms();
    x->stuck_logged = false;
    list_push_back(&e->passes, &x->pass_node);
}

void engine_watch_pass_end(engine *e, exec *x)
{
    bool was_stuck = x->stuck_logged;

    list_unlink(&x->pass_node);
    if (was_stuck) {
        char took[64];
        duration_format((int64_t)((uv_hrtime() - x->pass_started_ns) / 1000000u), took, sizeof took);
        hlog(HLOG_INFO, "execution %s (%s) returned its worker after %s", x->run.id_text, x->rec.function,
             took);
    }
    x->pass_started_ns = 0;
    x->stuck_logged = false;
    if (was_stuck && e->all_stuck)
        watch_update(e); /* say at once that a worker is free, not at the next look */
}

void engine_watch_stats(const engine *e, engine_stats *out)
{
    uint64_t now = uv_hrtime(), limit_ns = (uint64_t)e->stuck_after_ms * 1000000u;

    out->workers_busy = out->workers_stuck = out->workers_abandoned = 0;
    out->oldest_pass_ns = 0;
    out->stuck_after_ms = e->stuck_after_ms;
    for (const list_node *n = e->passes.next; n != &e->passes; n = n->next) {
        const exec *x = list_entry(n, exec, pass_node);
        uint64_t age = now - x->pass_started_ns;
        out->workers_busy++;
        out->workers_stuck += age >= limit_ns;
        out->workers_abandoned += x->abandoned;
        if (age > out->oldest_pass_ns)
            out->oldest_pass_ns = age;
    }
}

int engine_pass_started(const engine *e, const exec_id *id, int64_t *started_ms)
{
    const exec *x = idmap_get(&e->active, id);
    if (!x || !list_linked(&x->pass_node))
        return TARRY_ENOTFOUND;
    *started_ms = x->pass_started_ms;
    return 0;
}

size_t engine_passes_list(const engine *e, engine_pass_info *out, size_t max)
{
    size_t n = 0;

    for (const list_node *p = e->passes.next; p != &e->passes; p = p->next, n++) {
        const exec *x = list_entry(p, exec, pass_node);
        if (n >= max)
            continue; /* counted, not copied */
        out[n] = (engine_pass_info){.id = x->rec.id,
                                    .function = x->rec.function,
                                    .attempt = x->rec.attempts,
                                    .attempt_started_at = x->rec.started_at,
                                    .pass_started_at = x->pass_started_ms,
                                    .abandoned = x->abandoned};
    }
    return n;
}
