/*
 * engine_final.c - what follows an execution's end: the one place where
 * the rooms that care (notifications, retention, analytics) hear that an
 * execution reached a final state or was blocked.
 *
 * Two moments, so each concern picks the one its guarantee needs:
 * engine_final_batch runs while the batch that writes the end is built,
 * so what it adds (a notification to send, a row to expire) commits with
 * the end or not at all; engine_final_committed runs on the loop once that
 * batch is durable, for what may only follow a committed end (counting it,
 * waking a sender).
 *
 * May not: change the execution, or do anything here that a room of its
 * own should do: each concern is one call into its room.
 */
#include "engine_int.h"
#include "notify.h"

bool engine_final_ending(exec_state state)
{
    return exec_state_final(state) || state == EXEC_BLOCKED;
}

int engine_final_batch(engine *e, store_batch *b, exec *x)
{
    int rc = notify_final_batch(e->notifier, b, &x->rec);
    if (rc == 0)
        rc = engine_retention_final_batch(e, b, x);
    return rc;
}

void engine_final_committed(engine *e, const exec *x, exec_state state)
{
    engine_metrics_ended(e, x, state);
    notify_wake(e->notifier);
    engine_retention_final_committed(e, x, state);
}

void engine_set_notifier(engine *e, struct notifier *n)
{
    e->notifier = n;
}

struct notifier *engine_notifier(const engine *e)
{
    return e->notifier;
}
