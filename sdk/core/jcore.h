/*
 * jcore.h - the journal core: one pass of a function against its journal.
 *
 * The rules of durable execution, written once for the host
 * (host/replay.c, on worker threads) and the plugin test kit
 * (sdk/tarry_test.c): the tarry_ctx behind tarry_host_api (results, logs,
 * the durable commands), the determinism check and its messages,
 * suspension, when a step's result must be made durable (the checkpoint),
 * which log lines are new (replay-aware logging), and what the pass's
 * outcome is once the function returns.
 *
 * What differs between a host and the kit comes in through jcore_hooks:
 * the clock, new child ids, the checkpoint, and which function names
 * exist. JSON is checked by json_strict.c, the same file on both sides; the JSON helpers of the
 * function table (jcore_json.c) parse with cJSON, which host and kit both link. The rest is libc only and
 * keeps no global state: everything lives in the jcore_run of one pass, used by one thread at a time, so any
 * number of runs may go on in different threads at once.
 *
 * Private to tarry (not installed): the host and the kit compile it in, and
 * a plugin never sees it. Names are `jcore_` / `JCORE_`.
 *
 * Positions: the n-th command a pass issues has seq n. Below journal_count
 * it must match the recorded entry (kind and name) and returns the recorded
 * outcome; from journal_count on it is new and is appended to `fresh`.
 * Awaits are not commands: they read the outcome the engine wrote into the
 * call's entry when the child settled. A patch marker the code no longer
 * asks about is passed over.
 */
#ifndef TARRY_JCORE_H
#define TARRY_JCORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tarry.h"

#define JCORE_ID_LEN 26             /* an execution id as text (tarry_handle.id holds it and a NUL) */
#define JCORE_LOG_LINE_MAX 4096     /* default: longer log lines are cut (jcore_run.log_line_max) */
#define JCORE_LOG_LINES_MAX 10000   /* default: lines kept per execution (jcore_run.log_max_lines) */
#define JCORE_RESULT_MAX (1u << 20) /* a result over 1 MiB is refused */
#define JCORE_ERROR_MAX 16384      /* an error message is cut to this many bytes */

/* The values are the host's on-disk values (record.h): never renumber. */
typedef enum jcore_kind {
    JCORE_CALL = 1,  /* tarry_call: started a child */
    JCORE_STEP = 2,  /* tarry_step: ran a side effect once */
    JCORE_SLEEP = 3, /* tarry_sleep: a durable timer */
    JCORE_NOW = 4,   /* tarry_now_ms: read the clock */
    JCORE_PATCH = 5  /* tarry_patched: this execution runs code with the patch */
} jcore_kind;

typedef enum jcore_status {
    JCORE_PENDING = 0,   /* a child still running, a sleep not over */
    JCORE_SUCCEEDED = 1, /* done; `value` holds the result */
    JCORE_FAILED = 2,    /* done; `error` says why */
    JCORE_CANCELLED = 3
} jcore_status;

/*
 * One durable command. Whoever holds an array of entries owns their strings
 * (jcore_entry_free); NULL means absent.
 */
typedef struct jcore_entry {
    uint32_t seq;
    jcore_kind kind;
    jcore_status status;
    bool detached;                /* a call whose handle was NULL: its end wakes nobody */
    int64_t started_at;           /* when the command was issued (Unix ms) */
    int64_t finished_at;          /* when it settled; 0 while pending */
    int64_t wake_at;              /* a sleep: when it ends; a call with a delay: when the child is due */
    char child[JCORE_ID_LEN + 1]; /* a call: the child's execution id; "" otherwise */
    char *name;  /* call: function; step: step name; sleep: the duration text; patch: change id */
    char *value; /* JSON: a call's or step's result, now's time */
    char *error; /* plain text */
    char *args;  /* a call made in this pass: the child's args (JSON) */
    char *delay; /* a call made in this pass: opts->delay as written, if any */
    /* A call made in this pass, header revision 4: opts->idempotency_key, ->discard_after and
     * ->metadata_json as written, if any (the child is created with them). */
    char *idempotency_key, *discard_after, *metadata;
} jcore_entry;

/* Free the strings of `e` (not `e`). */
void jcore_entry_free(jcore_entry *e);

/* "call", "step", "sleep", "now", "patch"; "unknown" out of range. */
const char *jcore_kind_name(jcore_kind kind);

/* One tarry_log line. `text` is owned by the run until handed on. */
typedef struct jcore_log {
    int64_t time_ms;
    int level; /* tarry_log_level */
    char *text;
} jcore_log;

/*
 * When a step's result is made durable. The rule is the same in every mode:
 * a step's result must be durable before the body of a later step runs (and,
 * as always, the pass's outcome is committed with all of its new entries at
 * the end of the pass). So a step after which the function only calls,
 * sleeps, awaits or returns never needs a checkpoint of its own.
 */
typedef enum jcore_cp_mode {
    JCORE_CP_BLOCK =
        0, /* call hooks->checkpoint (it returns once the entries are durable), then run the body */
    JCORE_CP_YIELD =
        1, /* end the pass before that body (outcome JCORE_END_YIELDED): commit, then run again */
    JCORE_CP_NONE =
        2 /* never checkpoint: nothing outside knows of the execution yet, or nothing is durable */
} jcore_cp_mode;

/* The pass's outcome. The values are replay.h's replay_outcome. */
typedef enum jcore_end {
    JCORE_END_SUCCEEDED = 0,
    JCORE_END_FAILED = 1,
    JCORE_END_SUSPENDED = 2, /* waiting for children or a sleep (wake_at / wake_seq say which sleep) */
    JCORE_END_BLOCKED = 3,   /* nondeterminism, or a checkpoint that failed: `error` says which */
    JCORE_END_YIELDED =
        4 /* JCORE_CP_YIELD: a step needs the entries so far durable; run again from the top */
} jcore_end;

typedef struct jcore_run jcore_run;

/*
 * What a host provides. `user` is jcore_run.user. Called on the thread that
 * runs the pass, during jcore_execute only.
 */
typedef struct jcore_hooks {
    /* The wall clock (or the kit's virtual one), Unix ms: times of entries and log lines. */
    int64_t (*now_ms)(void *user);
    /* Write a new child execution id (JCORE_ID_LEN characters and a NUL) for a new call. */
    void (*new_child_id)(void *user, char out[JCORE_ID_LEN + 1]);
    /*
     * JCORE_CP_BLOCK: make run->fresh[0..fresh_count) durable; return once
     * it is. 0, or a negative code with a short reason written to err.
     */
    int (*checkpoint)(void *user, jcore_run *run, char *err, size_t errlen);
    /* Whether a function called `name` can be started as a child. */
    bool (*function_known)(void *user, const char *name);
    /* Check a call's per-execution options (any may be NULL): 0, or TARRY_EINVAL with the reason
     * in err (the call is then refused as a misuse). NULL: taken as given. */
    int (*call_opts_check)(void *user, const char *idempotency_key, const char *discard_after,
                           const char *metadata_json, char *err, size_t errlen);
} jcore_hooks;

/*
 * One pass. The caller sets the inputs, zeroes the outputs (or clears them
 * with jcore_run_clear), calls jcore_execute, and takes the outputs.
 */
struct jcore_run {
    /* in */
    const jcore_hooks *hooks;
    void *user;
    tarry_fn fn;
    const char *args;         /* JSON text, never NULL */
    const char *id;           /* the execution's id as text (tarry_execution_id) */
    int attempt;              /* from 1 */
    uint32_t header_revision; /* of the plugin: which fields of tarry_call_opts exist */
    jcore_cp_mode cp_mode;
    bool replay_only;           /* the kit's tarry_test_replay: a command past the journal stops the pass */
    const jcore_entry *journal; /* as committed; borrowed, read only, valid for the pass */
    size_t journal_count;
    /*
     * In and out: the log mark. A line is identified by (p, i): p is the
     * position of the next command when it is logged (inside a step's body:
     * the step's own position), i its ordinal among the lines logged at p in
     * this pass. Lines with p < log_mark_pos, or p == log_mark_pos and
     * i < log_mark_count, were stored by earlier passes and are not handed
     * out again. The pass moves the mark past the last new line it logs and
     * never back.
     */
    uint32_t log_mark_pos, log_mark_count;
    /*
     * Log bounds (0: JCORE_LOG_LINES_MAX, JCORE_LOG_LINE_MAX). A new line
     * longer than log_line_max bytes is cut at a character boundary; bytes
     * that are not UTF-8 become '?'. Once log_stored (the lines earlier
     * passes stored) plus this pass's new lines reach log_max_lines, a new
     * line is only counted in log_dropped (and passes the mark, so a replay
     * does not count it again). So a pass holds at most log_max_lines lines
     * of log_line_max bytes, whatever the function writes.
     */
    uint32_t log_max_lines, log_stored;
    size_t log_line_max;
    /* In, written by another thread while the pass runs: non-zero once the
     * attempt should stop (tarry_is_cancelled). NULL: never. */
    const atomic_int *cancelled;

    /* out: owned by the run (jcore_run_clear frees what is left) */
    jcore_end end;
    bool went_past; /* replay_only: the code went past the journal */
    int64_t started_at, finished_at;
    char *result;    /* JCORE_END_SUCCEEDED: the JSON result, NULL for null */
    char *error;     /* failed or blocked: why */
    int64_t wake_at; /* suspended on a sleep: when it ends (0: not on a sleep) */
    uint32_t wake_seq;
    jcore_entry *fresh; /* the entries this pass added, seq journal_count.. */
    size_t fresh_count, fresh_cap;
    size_t durable;  /* fresh[0..durable) were made durable by checkpoints of this pass */
    jcore_log *logs; /* only the new lines (see the log mark) */
    size_t log_count, log_cap;
    uint32_t log_dropped; /* new lines past log_max_lines, not kept */
    bool permanent;       /* the function called tarry_fail_permanent: the attempt is not retried */
};

/* Call the function once and fill the outputs. */
void jcore_execute(jcore_run *run);

/* Free the outputs (fresh entries, logs, result, error) and zero them. The inputs stay. */
void jcore_run_clear(jcore_run *run);

#endif
