/*
 * engine_waiters.c - callers waiting for the engine: for a commit (an
 * execution's ack list), for an execution's final state (`waits`, by id),
 * and the deadlines of both.
 *
 * A waiter is the caller's memory (engine.h); the engine only links it.
 * Every answer unlinks it first, so a callback may free it.
 *
 * May not: touch the store, block.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine_int.h"
#include "status.h"

void engine_waiter_init(engine_waiter *w, const exec_id *id, int kind)
{
    if (id)
        w->id = *id;
    w->kind = kind;
    w->node.next = w->node.prev = NULL;
    w->deadline.next = w->deadline.prev = NULL;
}

static void deadline_add(engine *e, engine_waiter *w, int64_t wait_ms)
{
    list_node *pos;

    w->deadline_ms = clock_now_ms() + wait_ms;
    /* Most waits share one duration, so the right place is near the tail. */
    for (pos = e->deadlines.prev; pos != &e->deadlines; pos = pos->prev)
        if (list_entry(pos, engine_waiter, deadline)->deadline_ms <= w->deadline_ms)
            break;
    list_insert_before(pos->next, &w->deadline);
    if (e->deadlines.next == &w->deadline)
        uv_timer_start(&e->deadline_timer, engine_on_deadline, (uint64_t)(wait_ms > 0 ? wait_ms : 0), 0);
}

static wait_list *waits_for(engine *e, const exec_id *id, bool create)
{
    wait_list *wl = idmap_get(&e->waits, id);
    if (wl || !create)
        return wl;
    if (!(wl = malloc(sizeof *wl)))
        return NULL;
    list_init(&wl->head);
    wl->id = *id;
    if (idmap_put(&e->waits, id, wl) != 0) {
        free(wl);
        return NULL;
    }
    return wl;
}

static void waits_drop_if_empty(engine *e, const exec_id *id)
{
    wait_list *wl = idmap_get(&e->waits, id);
    if (wl && list_empty(&wl->head)) {
        idmap_del(&e->waits, id);
        free(wl);
    }
}

int engine_waits_add(engine *e, engine_waiter *w, const exec_id *id, int kind, int64_t wait_ms)
{
    wait_list *wl = waits_for(e, id, true);

    engine_waiter_init(w, id, kind);
    if (!wl)
        return TARRY_ENOMEM;
    list_push_back(&wl->head, &w->node);
    deadline_add(e, w, wait_ms);
    return 0;
}

void engine_waiter_cancel(engine *e, engine_waiter *w)
{
    bool in_waits = list_linked(&w->node) && w->kind != WAIT_ACK;
    list_unlink(&w->node);
    list_unlink(&w->deadline);
    if (in_waits)
        waits_drop_if_empty(e, &w->id);
}

void engine_waiter_answer(engine *e, engine_waiter *w, int status, const exec_record *rec)
{
    engine_waiter_cancel(e, w);
    w->cb(w, status, rec);
}

void engine_notify_final(engine *e, const exec_record *rec)
{
    wait_list *wl = idmap_del(&e->waits, &rec->id);
    if (!wl)
        return;
    while (!list_empty(&wl->head)) {
        engine_waiter *w = list_entry(wl->head.next, engine_waiter, node);
        list_unlink(&w->node);
        list_unlink(&w->deadline);
        w->cb(w, 0, rec);
    }
    free(wl);
}

void engine_notify_error(engine *e, const exec_id *id, int status)
{
    wait_list *wl = idmap_del(&e->waits, id);
    if (!wl)
        return;
    while (!list_empty(&wl->head)) {
        engine_waiter *w = list_entry(wl->head.next, engine_waiter, node);
        list_unlink(&w->node);
        list_unlink(&w->deadline);
        w->cb(w, status, NULL);
    }
    free(wl);
}

void engine_on_deadline(uv_timer_t *t)
{
    engine *e = t->data;
    int64_t now = clock_now_ms();

    while (!list_empty(&e->deadlines)) {
        engine_waiter *w = list_entry(e->deadlines.next, engine_waiter, deadline);
        if (w->deadline_ms > now) {
            uv_timer_start(&e->deadline_timer, engine_on_deadline, (uint64_t)(w->deadline_ms - now), 0);
            break;
        }
        list_unlink(&w->deadline);
        exec *x = (w->kind == WAIT_TRIGGER) ? idmap_get(&e->active, &w->id) : NULL;
        if (x && x->deferred) {
            /* Nobody has been told about it yet: make it durable, then
             * answer with the state it reached. */
            list_unlink(&w->node);
            waits_drop_if_empty(e, &w->id);
            w->kind = WAIT_ACK;
            list_push_back(&x->acks, &w->node);
            x->deferred = false;
            engine_exec_dirty(e, x);
        } else if (x && x->committed_state == EXEC_NONE) {
            /* A keyed trigger (never deferred) not committed yet: answer at its commit. */
            list_unlink(&w->node);
            waits_drop_if_empty(e, &w->id);
            engine_idem_attach(e, x, w);
        } else {
            engine_waiter_answer(e, w, ENGINE_TIMEOUT, NULL);
        }
    }
    engine_flush(e);
}

void engine_wait_result(engine *e, const exec_id *id, int64_t wait_ms, engine_waiter *w)
{
    if (engine_waits_add(e, w, id, WAIT_RESULT, wait_ms) != 0)
        w->cb(w, TARRY_ENOMEM, NULL);
}
