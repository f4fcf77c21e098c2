/*
 * lifecycle.c - the table of states and transitions (see lifecycle.h).
 *
 * A self-move (from == to) of an unfinished state is a change written
 * without a state change (a reschedule, an upgrade, a checkpoint) and is
 * always allowed; a final state never changes again.
 */
#include "lifecycle.h"

#define TO(s) (1u << (s))

const lifecycle_state lifecycle_table[EXEC_STATE_COUNT] = {
    /* Created by a trigger or a parent's call: delayed, ready, or for a function nobody loaded; or
     * failed: a deferred execution (never written) that took the engine down, recorded by the next
     * engine (engine_recovery.c); or cancelled: its function is at its concurrency limit with
     * max_concurrency_action "cancel". */
    [EXEC_NONE] = {EXEC_NONE, false, LIFECYCLE_STAY,
                   TO(EXEC_SCHEDULED) | TO(EXEC_QUEUED) | TO(EXEC_BLOCKED) | TO(EXEC_FAILED) |
                       TO(EXEC_CANCELLED)},
    /* Its timer fires (or it is rescheduled to now: a delayed start or a retry that waits);
     * cancelled; or its discard_after passed first. */
    [EXEC_SCHEDULED] = {EXEC_SCHEDULED, false, LIFECYCLE_EVICT,
                        TO(EXEC_QUEUED) | TO(EXEC_BLOCKED) | TO(EXEC_CANCELLED) | TO(EXEC_DISCARDED)},
    /* A worker takes it; found unloaded when read back, or its function quarantined; failed as a
     * poison pill at recovery; cancelled; or not started by its discard_after. */
    [EXEC_QUEUED] = {EXEC_QUEUED, false, LIFECYCLE_ENQUEUE,
                     TO(EXEC_RUNNING) | TO(EXEC_BLOCKED) | TO(EXEC_FAILED) | TO(EXEC_CANCELLED) |
                         TO(EXEC_DISCARDED)},
    /* A pass ends: done, failed, suspended, nondeterministic; or it runs again at once (a child
     * settled during the pass, a checkpoint, a crash found it running, a retry with no wait); or an
     * attempt failed and its retry waits (scheduled); or it was cancelled while it ran. */
    [EXEC_RUNNING] = {EXEC_RUNNING, false, LIFECYCLE_STAY,
                      TO(EXEC_QUEUED) | TO(EXEC_WAITING) | TO(EXEC_SUCCEEDED) | TO(EXEC_FAILED) |
                          TO(EXEC_BLOCKED) | TO(EXEC_SCHEDULED) | TO(EXEC_CANCELLED)},
    /* A child settled or the sleep ended; or the sleep ended and its version is gone; cancelled. */
    [EXEC_WAITING] = {EXEC_WAITING, false, LIFECYCLE_EVICT,
                      TO(EXEC_QUEUED) | TO(EXEC_BLOCKED) | TO(EXEC_CANCELLED)},
    [EXEC_SUCCEEDED] = {EXEC_SUCCEEDED, true, LIFECYCLE_FINISH, 0},
    [EXEC_FAILED] = {EXEC_FAILED, true, LIFECYCLE_FINISH, 0},
    [EXEC_CANCELLED] = {EXEC_CANCELLED, true, LIFECYCLE_FINISH, 0},
    [EXEC_DISCARDED] = {EXEC_DISCARDED, true, LIFECYCLE_FINISH, 0},
    /* Upgraded to a version that may fit its journal: it replays; or cancelled. */
    [EXEC_BLOCKED] = {EXEC_BLOCKED, false, LIFECYCLE_EVICT, TO(EXEC_QUEUED) | TO(EXEC_CANCELLED)},
};

bool lifecycle_allowed(exec_state from, exec_state to)
{
    if ((unsigned)from >= EXEC_STATE_COUNT || (unsigned)to >= EXEC_STATE_COUNT || to == EXEC_NONE)
        return false;
    if (from == to)
        return !lifecycle_table[from].final && from != EXEC_NONE;
    return (lifecycle_table[from].next & TO(to)) != 0;
}

lifecycle_after lifecycle_after_commit(exec_state state)
{
    return (unsigned)state < EXEC_STATE_COUNT ? lifecycle_table[state].after_commit : LIFECYCLE_STAY;
}
