/*
 * replay.h - running one pass of a function: the tarry_ctx behind the SDK,
 * journal lookup, suspension and the determinism check.
 *
 * Runs on a worker thread. It never touches the store or the loop: the
 * engine hands it the journal as committed, and it hands back what the
 * function produced (outcome, result, error, log lines, new durable
 * commands). The one exchange in the middle of a run is the step
 * checkpoint, through `hooks.checkpoint`, which blocks the worker until
 * the engine has committed every new command so far.
 */
#ifndef TARRY_REPLAY_H
#define TARRY_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "record.h"
#include "tarry.h"

#define REPLAY_LOG_LINE_MAX 4096
#define REPLAY_RESULT_MAX (1u << 20) /* a result over 1 MiB fails the attempt */

typedef struct replay_log {
    int64_t time_ms;
    int level;
    char *text;
} replay_log;

/* A journal entry whose strings the run owns; `args` only for new calls. */
typedef struct replay_entry {
    journal_entry e;
    char *args;
} replay_entry;

typedef enum replay_outcome {
    REPLAY_SUCCEEDED,
    REPLAY_FAILED,
    REPLAY_SUSPENDED, /* waiting for children or a sleep: wake_at/wake_seq say which sleep, if any */
    REPLAY_BLOCKED    /* nondeterminism: `error` says where */
} replay_outcome;

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
    replay_entry *journal; /* as committed, owned by the run */
    size_t journal_count;
    /* out: owned by the run, freed by replay_run_clear() */
    replay_outcome outcome;
    int64_t started_at, finished_at; /* when this pass really started and returned */
    char *result;                    /* JSON text; NULL means null */
    char *error;                     /* set when failed or blocked */
    int64_t wake_at;                 /* suspended on a sleep: when it ends (0: not on a sleep) */
    uint32_t wake_seq;
    replay_entry *new_entries; /* commands this pass added, seq journal_count.. */
    size_t new_count, new_cap;
    size_t handed; /* new_entries[0..handed) were given to the engine (checkpoints) */
    replay_log *logs;
    size_t log_count, log_cap;
};

/* Call the function once and fill the outputs. */
void replay_execute(replay_run *run);

/* Free the outputs and the journal (not the other inputs) and reset them. */
void replay_run_clear(replay_run *run);

/* Load entries into run->journal (copies). Returns 0 or TARRY_ENOMEM. */
int replay_journal_add(replay_run *run, const journal_entry *entry);

#endif
