/*
 * replay.h - running one pass of a function: the host's adapter over the
 * journal core (sdk/core/jcore.h), which holds the rules (the tarry_ctx
 * behind the SDK, journal lookup, suspension, the determinism check, step
 * checkpoints, replay-aware logging) for the host and the test kit alike.
 *
 * Runs on a worker thread. It never touches the store or the loop: the
 * engine hands it the journal as committed, and it hands back what the
 * function produced (outcome, result, error, new log lines, new durable
 * commands). The one exchange in the middle of a run is the step
 * checkpoint (cp_mode REPLAY_CP_BLOCK), through `hooks.checkpoint`, which
 * blocks the worker until the engine has committed every new command so
 * far.
 *
 * The checkpoint rule: a step's result is durable before the body of any
 * later step runs, and the pass's outcome is committed with all of its new
 * commands. A step after which the function only calls, sleeps, awaits or
 * returns needs no checkpoint of its own; cp_mode says how the others are
 * made: blocking the worker, ending the pass (REPLAY_YIELDED), or not at
 * all (an execution nobody has been told about yet).
 */
#ifndef TARRY_REPLAY_H
#define TARRY_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "jcore.h"
#include "record.h"
#include "tarry.h"

#define REPLAY_LOG_LINE_MAX JCORE_LOG_LINE_MAX
#define REPLAY_RESULT_MAX JCORE_RESULT_MAX /* a result over 1 MiB fails the attempt */

/* A log line: time_ms, level (tarry_log_level), text. */
typedef struct jcore_log replay_log;

/* A new journal entry for the engine; its strings (and `args`, only for
 * calls) are the run's, valid until replay_run_clear. */
typedef struct replay_entry {
    journal_entry e;
    char *args;
    /* A call's per-execution options (tarry_call_opts, revision 4), or NULL; borrowed from the core. */
    const char *idempotency_key, *discard_after, *metadata;
    /* A value or error the engine settled the entry with itself (a call whose idempotency key
     * named an existing child): owned here, freed by replay_run_clear; NULL otherwise. */
    char *own_value, *own_error;
} replay_entry;

typedef enum replay_outcome {
    REPLAY_SUCCEEDED = JCORE_END_SUCCEEDED,
    REPLAY_FAILED = JCORE_END_FAILED,
    REPLAY_SUSPENDED =
        JCORE_END_SUSPENDED, /* waiting for children or a sleep: wake_at/wake_seq say which sleep */
    REPLAY_BLOCKED = JCORE_END_BLOCKED, /* nondeterminism (or a failed checkpoint): `error` says where */
    REPLAY_YIELDED = JCORE_END_YIELDED  /* REPLAY_CP_YIELD: commit new_entries, then run the function again */
} replay_outcome;

/* How a step's result is made durable before a later step's body runs (see above). */
typedef enum replay_cp_mode {
    REPLAY_CP_BLOCK = JCORE_CP_BLOCK, /* the default: hooks.checkpoint blocks the worker until committed */
    REPLAY_CP_YIELD = JCORE_CP_YIELD, /* the pass ends before that body with REPLAY_YIELDED */
    REPLAY_CP_NONE = JCORE_CP_NONE    /* never: nothing outside knows of the execution yet */
} replay_cp_mode;

typedef struct replay_run replay_run;

typedef struct replay_hooks {
    void *user;
    /* Whether a function of this name is loaded (any thread). */
    bool (*function_known)(void *user, const char *name);
    /* Make new_entries[0..new_count) durable; blocks. 0 or a negative code. */
    int (*checkpoint)(void *user, replay_run *run);
} replay_hooks;

struct replay_run {
    /* in: set by the engine before replay_execute */
    tarry_fn fn;
    const char *args;
    char id_text[ID_TEXT_LEN + 1];
    int attempt;
    uint32_t header_revision; /* of the plugin, for tarry_call_opts */
    replay_hooks hooks;
    replay_cp_mode
        cp_mode; /* zero (REPLAY_CP_BLOCK) unless the engine says otherwise; kept by replay_run_clear */
    /* An upgrade check (upgrade_check.h): commands in the journal are answered from it, the
     * first new one ends the pass (suspended, went_past set); nothing new is recorded and no
     * step body runs. Kept by replay_run_clear. */
    bool replay_only;
    /*
     * In and out: the log mark (jcore.h). Lines this execution logged at a
     * journal position below log_mark_pos, or at log_mark_pos with an
     * ordinal below log_mark_count, were stored by earlier passes: the pass
     * hands out only the lines past the mark, and moves the mark past the
     * last of them (never back). replay_run_clear resets it to (0, 0): set
     * it after clearing, from what is stored.
     */
    uint32_t log_mark_pos, log_mark_count;
    /* Log bounds (jcore.h; 0: the defaults): lines per execution, bytes per
     * line, and the lines this execution has stored so far. Kept by
     * replay_run_clear but log_stored, which the engine sets per pass. */
    uint32_t log_max_lines, log_stored;
    size_t log_line_max;
    /* Any thread: non-zero once the attempt should stop (cancelled, or past its max_duration):
     * tarry_is_cancelled reads it. Set with replay_run_cancel; the engine zeroes it when an
     * attempt starts. Kept by replay_run_clear. */
    atomic_int cancelled;
    jcore_entry *journal; /* as committed (replay_journal_add), owned by the run */
    size_t journal_count, journal_cap;
    /* out: owned by the run, freed by replay_run_clear() */
    replay_outcome outcome;
    int64_t started_at, finished_at; /* when this pass really started and returned */
    char *result;                    /* JSON text; NULL means null */
    char *error;                     /* set when failed or blocked */
    int64_t wake_at;                 /* suspended on a sleep: when it ends (0: not on a sleep) */
    uint32_t wake_seq;
    replay_entry *new_entries; /* commands this pass added, seq journal_count.. */
    size_t new_count, new_cap;
    size_t handed;    /* new_entries[0..handed) were given to the engine (checkpoints) */
    replay_log *logs; /* the pass's new lines (past the log mark) */
    size_t log_count, log_cap;
    uint32_t log_dropped; /* the pass's new lines past log_max_lines: counted, not kept */
    bool permanent;       /* the function called tarry_fail_permanent: do not retry the attempt */
    bool went_past;       /* replay_only: the code went past the journal (it fits, and goes on) */
    jcore_entry *fresh;   /* the core's entries of the pass: new_entries borrow their strings */
    size_t fresh_count;
};

/* Call the function once and fill the outputs (empty: after replay_run_clear, or zeroed). */
void replay_execute(replay_run *run);

/* Make tarry_is_cancelled true for the pass running now and later ones (any thread). */
void replay_run_cancel(replay_run *run);

/* Free the outputs and the journal (not the other inputs) and reset them. */
void replay_run_clear(replay_run *run);

/* Load entries into run->journal (copies), in seq order from 0. Returns 0, TARRY_EIO (a gap) or TARRY_ENOMEM.
 */
int replay_journal_add(replay_run *run, const journal_entry *entry);

#endif
