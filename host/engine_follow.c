/*
 * engine_follow.c - followers of an execution's log (engine.h): who reads
 * an execution's new lines as they are committed (GET .../logs?follow=1,
 * api_logs.c).
 *
 * Lines reach the store in the engine's batches, so a batch's commit is
 * the moment a follower has something new to read: entry_committed
 * (engine_batch.c) calls engine_follow_committed for each execution in the
 * batch, which wakes that execution's followers. A wake only tells: the
 * follower reads the store itself, later on the loop and bounded, so a
 * commit never waits on a slow reader and a chatty execution costs the
 * loop one bounded read per follower per batch.
 *
 * `follows` maps an id to the first of its followers; the others hang off
 * it in a doubly-linked list, so removing any one is O(1).
 *
 * May not: read the store, or hold a follower after it is removed.
 */
#include <stdlib.h>

#include "engine_int.h"
#include "status.h"

/* The followers of one id: the map's value, so the map changes only when the first comes or the last
 * goes. */
typedef struct follow_list {
    engine_follower *first;
} follow_list;

int engine_follow_add(engine *e, engine_follower *f)
{
    follow_list *fl;

    if (e->follow_count >= ENGINE_FOLLOWERS_MAX)
        return TARRY_EFULL;
    if (!(fl = idmap_get(&e->follows, &f->id))) {
        if (!(fl = calloc(1, sizeof *fl)))
            return TARRY_ENOMEM;
        if (idmap_put(&e->follows, &f->id, fl) != 0) {
            free(fl);
            return TARRY_ENOMEM;
        }
    }
    f->prev = NULL;
    f->next = fl->first;
    if (fl->first)
        fl->first->prev = f;
    fl->first = f;
    e->follow_count++;
    return 0;
}

void engine_follow_remove(engine *e, engine_follower *f)
{
    follow_list *fl = idmap_get(&e->follows, &f->id);

    if (!fl)
        return; /* not linked (the engine closed) */
    if (f->prev)
        f->prev->next = f->next;
    else
        fl->first = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->prev = f->next = NULL;
    e->follow_count--;
    if (!fl->first)
        free(idmap_del(&e->follows, &f->id));
}

size_t engine_follow_count(const engine *e)
{
    return e->follow_count;
}

void engine_follow_committed(engine *e, const exec_id *id)
{
    follow_list *fl;

    if (e->follow_count == 0 || !(fl = idmap_get(&e->follows, id)))
        return;
    for (engine_follower *f = fl->first; f; f = f->next)
        f->wake(f, false); /* only tells: it may not remove f */
}

void engine_follow_close(engine *e)
{
    /* A removal moves slots (idmap.h): look again from the start after each. */
    while (e->follow_count > 0) {
        engine_follower *f = NULL;
        for (size_t i = 0; i < e->follows.cap && !f; i++)
            if (e->follows.slots[i].value)
                f = ((follow_list *)e->follows.slots[i].value)->first;
        if (!f)
            break;
        engine_follow_remove(e, f);
        f->wake(f, true);
    }
}

uv_loop_t *engine_loop(const engine *e)
{
    return e->loop;
}
