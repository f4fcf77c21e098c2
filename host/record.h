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
    uint32_t crashes;  /* host deaths in a row this execution caused (deathnote.h: named by a fatal signal in
                          its worker, or while it ran alone as a suspect) */
    bool suspect;      /* running when the host died of a cause that named nobody: it runs alone next */
    int64_t created_at, scheduled_at, started_at, finished_at; /* Unix ms; 0 = not yet */
    int64_t wake_at;     /* waiting on a durable sleep: when it ends; else 0 */
    uint32_t wake_seq;   /* ... and the journal position of that sleep */
    uint32_t parent_seq; /* the parent's journal position of the call that made it */
    bool detached;       /* the parent called it without a handle: its end wakes nobody */
    bool resume;         /* queued to continue its attempt (woken), not to start a new one */
    uint32_t log_count;  /* log lines stored so far: the next line's seq */
    uint32_t log_mark_pos, log_mark_count; /* lines earlier passes logged (replay.h): not stored again */
    uint32_t log_dropped; /* lines logged past the per-execution limit, not stored (the marker says so) */
    /* Execution control (record format 5; older records read these as zero). */
    int64_t next_attempt_at; /* a failed attempt waits for its retry until then (state scheduled,
                                scheduled_at the same); else 0 */
    int64_t discard_at;      /* not started by then: discarded; 0 never */
    exec_id rerun_of;        /* the execution this one re-runs; all zero: none */
    bool cancel_requested;   /* cancelled while running: what the attempt returns is discarded */
    uint32_t timeouts;       /* attempts that ran past the function's max_duration */
    const char *function;
    const char *args;     /* JSON text */
    const char *metadata; /* JSON object text, or NULL */
    const char *result;   /* JSON text, or NULL */
    const char *error;    /* plain text, or NULL */
    const char *plugin_name;
    const char *plugin_version;
    const char *plugin_hash;     /* the version it is pinned to (see plugins.h), or NULL */
    const char *idempotency_key; /* the trigger's or call's key, or NULL */
} exec_record;

/*
 * One durable command in an execution's journal (see tarry.h). Values are
 * stored on disk: append only, never renumber.
 */
typedef enum journal_kind {
    JOURNAL_CALL = 1,  /* tarry_call: started a child */
    JOURNAL_STEP = 2,  /* tarry_step: ran a side effect once */
    JOURNAL_SLEEP = 3, /* tarry_sleep: a durable timer */
    JOURNAL_NOW = 4,   /* tarry_now_ms: read the clock */
    JOURNAL_PATCH = 5  /* tarry_patched: this execution runs code with the patch */
} journal_kind;

typedef enum journal_status {
    JOURNAL_PENDING = 0,   /* a child still running, a sleep not over */
    JOURNAL_SUCCEEDED = 1, /* done; `value` holds the result */
    JOURNAL_FAILED = 2,    /* done; `error` says why */
    JOURNAL_CANCELLED = 3
} journal_status;

typedef struct journal_entry {
    uint32_t seq;
    journal_kind kind;
    journal_status status;
    bool detached;       /* a call whose handle was NULL: its end wakes nobody */
    int64_t started_at;  /* when the command was issued */
    int64_t finished_at; /* when it settled; 0 while pending */
    int64_t wake_at;     /* a sleep: when it ends */
    exec_id child;       /* a call: the child execution */
    const char *name;    /* call: function; step: step name; sleep: the duration text; now: NULL */
    const char *value;   /* JSON: a call's or step's result, now's time; NULL if none */
    const char *error;   /* plain text, or NULL */
} journal_entry;

const char *journal_kind_name(journal_kind kind);
const char *journal_status_name(journal_status status);

/* "queued", "succeeded", ...; "unknown" for a value out of range. */
const char *exec_state_name(exec_state state);

/* Parse a state name. Returns 0, or TARRY_EINVAL for an unknown name. */
int exec_state_parse(const char *name, exec_state *out);

/* succeeded, failed, cancelled and discarded never change again. */
bool exec_state_final(exec_state state);

#endif
