/*
 * replay.h - running one attempt of a function: the tarry_ctx behind the SDK.
 *
 * Runs on a worker thread. It never touches the store or the loop: what the
 * function produced (status, result, error, log lines) is collected in the
 * replay_run and handed back to the engine, which commits it on the loop
 * thread.
 */
#ifndef TARRY_REPLAY_H
#define TARRY_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "tarry.h"

#define REPLAY_LOG_LINE_MAX 4096
#define REPLAY_RESULT_MAX (1u << 20) /* a result over 1 MiB fails the attempt */

typedef struct replay_log {
    int64_t time_ms;
    int level;
    char *text;
} replay_log;

typedef struct replay_run {
    /* in: borrowed, valid for the whole run */
    tarry_fn fn;
    const char *args;
    char id_text[ID_TEXT_LEN + 1];
    int attempt;
    /* out: owned by the run, freed by replay_run_clear() */
    int failed; /* 0 succeeded, 1 failed */
    int64_t started_at, finished_at; /* when the function was really called and returned */
    char *result; /* JSON text; NULL means null */
    char *error;  /* set when failed */
    replay_log *logs;
    size_t log_count, log_cap;
} replay_run;

/* Call the function once and fill the outputs. */
void replay_execute(replay_run *run);

/* Free the outputs (not the inputs) and reset them. */
void replay_run_clear(replay_run *run);

#endif
