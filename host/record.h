/*
 * record.h - an execution record as every room sees it.
 *
 * The store encodes it; the engine keeps live ones in memory; the API turns
 * it into JSON. Strings are NUL-terminated; NULL means absent. Who owns them
 * depends on where the record came from (see store.h and engine.h).
 */
#ifndef TARRY_RECORD_H
#define TARRY_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "ids.h"

/* Values are stored on disk: append only, never renumber. */
typedef enum exec_state {
    EXEC_NONE = 0, /* not in the store (yet) */
    EXEC_SCHEDULED = 1,
    EXEC_QUEUED = 2,
    EXEC_RUNNING = 3,
    EXEC_WAITING = 4,
    EXEC_SUCCEEDED = 5,
    EXEC_FAILED = 6,
    EXEC_CANCELLED = 7,
    EXEC_DISCARDED = 8,
    EXEC_BLOCKED = 9,
    EXEC_STATE_COUNT
} exec_state;

typedef struct exec_record {
    exec_id id;
    exec_id parent_id; /* all zero bytes: no parent */
    exec_state state;
    uint32_t attempts; /* attempts started so far */
    uint32_t crashes;  /* host deaths in a row while this was running */
    int64_t created_at, scheduled_at, started_at, finished_at; /* Unix ms; 0 = not yet */
    const char *function;
    const char *args;     /* JSON text */
    const char *metadata; /* JSON object text, or NULL */
    const char *result;   /* JSON text, or NULL */
    const char *error;    /* plain text, or NULL */
    const char *plugin_name;
    const char *plugin_version;
} exec_record;

/* "queued", "succeeded", ...; "unknown" for a value out of range. */
const char *exec_state_name(exec_state state);

/* Parse a state name. Returns 0, or TARRY_EINVAL for an unknown name. */
int exec_state_parse(const char *name, exec_state *out);

/* succeeded, failed, cancelled and discarded never change again. */
bool exec_state_final(exec_state state);

#endif
