/*
 * lifecycle.h - an execution's states and the transitions between them, as
 * one table (DESIGN.md, "Execution states"; CONTRIBUTING.md draws it).
 *
 * Pure data and pure functions: no engine, no store, no clock. The engine
 * moves an execution only through engine_exec_move() (engine_int.h), which
 * asks lifecycle_allowed() first and logs an impossible move as a bug
 * instead of making it. What happens once a state is durable (join the
 * ready queue, leave memory, answer waiters) is the state's after-commit
 * action, read from the same table.
 */
#ifndef TARRY_LIFECYCLE_H
#define TARRY_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"

/* What the engine does with an execution once a batch holding its state commits. */
typedef enum lifecycle_after {
    LIFECYCLE_STAY,    /* running: it is on a worker (or is handed to one now, after a crash) */
    LIFECYCLE_ENQUEUE, /* queued: join the ready queue (or stay in the store while the queue is full) */
    LIFECYCLE_EVICT,   /* scheduled, waiting, blocked: leave memory; a timer, a child or a user brings it back
                        */
    LIFECYCLE_FINISH   /* final: count it, answer whoever waits for the result, leave memory */
} lifecycle_after;

typedef struct lifecycle_state {
    exec_state state;
    bool final;
    lifecycle_after after_commit;
    uint32_t next; /* bit (1u << s) for every state s it may move to */
} lifecycle_state;

/* The table, indexed by exec_state (EXEC_NONE is "not created yet"). */
extern const lifecycle_state lifecycle_table[EXEC_STATE_COUNT];

/* Whether an execution in `from` may move to `to`. Out-of-range values: false. */
bool lifecycle_allowed(exec_state from, exec_state to);

/* The after-commit action of `state` (LIFECYCLE_STAY for out-of-range values). */
lifecycle_after lifecycle_after_commit(exec_state state);

#endif
