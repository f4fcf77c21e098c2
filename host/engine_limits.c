/*
 * engine_limits.c - concurrency limits: at most `opts.concurrency`
 * attempts of a function run at once (fn_options.h), the others stay
 * queued in trigger order; with `max_concurrency_action = "cancel"`, a
 * trigger that finds the function at its limit is cancelled instead.
 *
 * What holds a slot: an execution in state `running`, i.e. a pass on a
 * worker (or about to be handed to one). A workflow that waits (a sleep, a
 * child) and a failed attempt waiting for its retry hold none: when they
 * come back they queue for a slot like a new trigger. A pass that timed out
 * (engine_retry.c) keeps its slot until its thread returns: at most N
 * threads run the function's code at once, so concurrency 1 stays mutual
 * exclusion even with a function that ignores tarry_is_cancelled. This is Defer's
 * "running executions" count, and it keeps the count in memory only: after
 * a restart nothing runs, and everything recovered queues through the same
 * check, so the limit holds across restarts too.
 *
 * The counts are per function name, across plugin versions (a reload does
 * not give a function a second set of slots). The limit applied is the one
 * of the version the execution runs.
 *
 * The ready queue stays one FIFO: when its head belongs to a function at
 * its limit, that execution moves to the function's `held` list (oldest
 * first) and the next one is looked at, so a limited function never blocks
 * the others. Held executions are still queued (in_ready, counted in
 * ready_count); they go first, oldest first, as soon as their function has a
 * free slot. An unlimited function costs one test of `opts.concurrency`.
 *
 * For the "cancel" action, the count compared with the limit is the
 * function's executions in memory that are queued or running (a queued one
 * would take the next slot). Executions queued past the in-memory queue
 * window (QUEUE_WINDOW_DEFAULT, in the store's backlog) are not counted.
 *
 * May not: touch the store, block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "hlog.h"

struct fn_limit {
    char *function;
    size_t running;  /* its executions in memory in state running */
    size_t admitted; /* ... in state queued or running */
    list_node held;  /* queued executions set aside while it was at its limit, oldest first */
    struct fn_limit *next;
};

static uint32_t limit_of(const exec *x)
{
    return x->fn ? x->fn->opts.concurrency : 0;
}

static struct fn_limit *find(engine *e, const char *function, bool add)
{
    struct fn_limit *l;
    for (l = e->limits; l; l = l->next)
        if (strcmp(l->function, function) == 0)
            return l;
    if (!add)
        return NULL;
    if (!(l = calloc(1, sizeof *l)) || !(l->function = strdup(function))) {
        free(l);
        hlog(HLOG_ERROR, "out of memory: the concurrency limit of function %s is not kept", function);
        return NULL;
    }
    list_init(&l->held);
    l->next = e->limits;
    e->limits = l;
    return l;
}

void engine_limit_sync(engine *e, exec *x)
{
    bool running = x->rec.state == EXEC_RUNNING;
    bool admitted = running || x->rec.state == EXEC_QUEUED;
    struct fn_limit *l = x->limit;

    if (!l) {
        if ((!running && !admitted) || !limit_of(x) || !(l = x->limit = find(e, x->rec.function, true)))
            return;
    }
    if (x->limit_running != running) {
        x->limit_running = running;
        if (running)
            l->running++;
        else
            l->running--;
    }
    if (x->limit_admitted != admitted) {
        x->limit_admitted = admitted;
        if (admitted)
            l->admitted++;
        else
            l->admitted--;
    }
}

void engine_limit_forget(engine *e, exec *x)
{
    if (x->held)
        engine_ready_remove(e, x);
    if (!x->limit)
        return;
    if (x->limit_running)
        x->limit->running--;
    if (x->limit_admitted)
        x->limit->admitted--;
    x->limit_running = x->limit_admitted = false;
    x->limit = NULL;
}

bool engine_limit_hold(engine *e, exec *x)
{
    uint32_t limit = limit_of(x);
    struct fn_limit *l;

    if (!limit)
        return false;
    if (!(l = x->limit ? x->limit : find(e, x->rec.function, false)) || l->running < limit)
        return false;
    engine_ready_remove(e, x);
    list_push_back(&l->held, &x->ready_node);
    x->in_ready = x->held = true;
    e->ready_count++;
    e->held_count++;
    return true;
}

void engine_limit_unhold(engine *e, exec *x)
{
    list_unlink(&x->ready_node);
    x->in_ready = x->held = false;
    e->ready_count--;
    e->held_count--;
}

exec *engine_limit_next_held(engine *e)
{
    if (!e->held_count || e->isolated_running || e->recovery_pending || e->suspects_ready)
        return NULL;
    for (struct fn_limit *l = e->limits; l; l = l->next) {
        if (list_empty(&l->held))
            continue;
        exec *x = list_entry(l->held.next, exec, ready_node);
        uint32_t limit = limit_of(x);
        if (!limit || l->running < limit) {
            engine_limit_unhold(e, x);
            return x;
        }
    }
    return NULL;
}

bool engine_limit_refuses(engine *e, const plugin_fn *fn, char *why, size_t len)
{
    struct fn_limit *l;
    if (!fn || !fn->opts.concurrency || !fn->opts.cancel_over_limit)
        return false;
    if (!(l = find(e, fn->name, false)) || l->admitted < fn->opts.concurrency)
        return false;
    snprintf(why, len,
             "cancelled at its trigger: function \"%s\" already had %zu execution%s queued or running, its "
             "limit (concurrency %u, max_concurrency_action \"cancel\")",
             fn->name, l->admitted, l->admitted == 1 ? "" : "s", fn->opts.concurrency);
    return true;
}

void engine_limits_free(engine *e)
{
    while (e->limits) {
        struct fn_limit *l = e->limits;
        e->limits = l->next;
        free(l->function);
        free(l);
    }
}
