/*
 * deathnote.h - how the engine died, told to the next engine.
 *
 * Plugin code runs in the engine process, so when the engine dies the
 * supervisor and the next engine need to know who did it: blaming every
 * execution that happened to be running fails innocent work (issue 8).
 * The death note is one small MAP_SHARED|MAP_ANONYMOUS region the
 * supervisor maps before forking its first engine; every engine it forks
 * inherits it. It holds two records:
 *
 *   live  written by the running engine: per worker slot, the execution a
 *         worker runs (id, function, plugin version, and for a deferred
 *         execution, never written to the store, its args when they fit);
 *         the fatal signal and the slot whose thread took it; and the
 *         engine's own "I exit deliberately with code N" declaration.
 *   last  the previous engine's `live`, sealed by the supervisor after it
 *         died, with its wait status and whether the OOM killer acted.
 *
 * Only the engine's deliberate exits stop the supervisor: a plugin that
 * calls exit(0) or _exit(78) leaves no declaration, so it is a death like
 * any other (restarted and logged with its cause).
 *
 * Async-signal safety: the fatal-signal handler (SIGSEGV, SIGBUS, SIGILL,
 * SIGFPE, SIGABRT) does plain stores into `live` only, then hands the
 * signal to the handler that was there before (a sanitizer's) or to the
 * default action. Each worker thread gets an alternate signal stack, so a
 * stack overflow in plugin code is still recorded.
 *
 * Threads: slots are claimed and released on the loop thread; a worker
 * sets its thread's slot index (deathnote_worker_enter/leave). The `last`
 * record is read-only for the engine (the supervisor writes it only while
 * no engine runs).
 *
 * Without a supervisor (--no-supervisor, unit tests) nothing is mapped and
 * every call is a no-op; deathnote_last() returns NULL ("no record").
 *
 * May not: allocate or log in the signal handler; know about the store.
 */
#ifndef TARRY_DEATHNOTE_H
#define TARRY_DEATHNOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ids.h"

#define DEATHNOTE_ARGS_MAX 4096 /* a deferred execution's args kept for its record after a crash */
#define DEATHNOTE_FUNCTION_MAX 130
#define DEATHNOTE_HASH_MAX 24

/* Why a slot's thread ended the process. */
enum { DEATHNOTE_BY_NONE = 0, DEATHNOTE_BY_SIGNAL = 1, DEATHNOTE_BY_EXIT = 2 };

typedef struct deathnote_slot {
    uint32_t busy;     /* a pass of `id` was handed to a worker and has not come back */
    uint8_t isolated;  /* a suspect dispatched alone: nothing else ran beside it */
    uint8_t deferred;  /* acknowledged to nobody: not in the store */
    uint8_t args_kept; /* args[] holds the whole args text */
    uint32_t attempt;
    int64_t started_at;
    exec_id id;
    char function[DEATHNOTE_FUNCTION_MAX];
    char hash[DEATHNOTE_HASH_MAX]; /* the plugin version it runs */
    char args[DEATHNOTE_ARGS_MAX];
} deathnote_slot;

/* One engine's story (see the top). */
typedef struct deathnote_death {
    int32_t pid;
    int32_t declared; /* the engine said it exits with exit_code */
    int32_t exit_code;
    int32_t recovered;    /* its recovery (the blame of the death before it) committed */
    int32_t fault_by;     /* DEATHNOTE_BY_* */
    int32_t fault_signal; /* with DEATHNOTE_BY_SIGNAL */
    int32_t fault_slot;   /* the slot whose thread faulted or called exit(), or -1 */
    /* Set by the supervisor when it seals the record. */
    int32_t sealed;
    int32_t wstatus; /* waitpid's */
    int32_t oom_killed;
    uint32_t slot_count;
} deathnote_death;

/* Map the note for `slots` worker slots (the supervisor, before its first fork). 0 or TARRY_ENOMEM. */
int deathnote_create(size_t slots);

/* ---- the engine ------------------------------------------------------------------------ */

/* Install the fatal-signal handlers and the exit() hook in this (engine) process. */
void deathnote_install(void);
/* The engine exits on purpose with `code`: only this lets the supervisor stop on 0 or 78. */
void deathnote_declare_exit(int code);
/*
 * An engine of this supervisor opened the store: engines forked after it
 * must find it (a restart never creates a new, empty store in a folder
 * deleted under the host before the loss was noticed; store_lmdb_folder.h).
 */
void deathnote_mark_store_opened(void);
bool deathnote_store_was_opened(void);
/* The engine committed its recovery: the previous death's blame is durable. */
void deathnote_mark_recovered(void);
/*
 * A free slot for a pass of `id` (loop thread), filled in; -1 without a
 * note or when none is free. `args` is kept only for a deferred execution.
 */
int deathnote_slot_claim(const exec_id *id, const char *function, const char *hash, uint32_t attempt,
                         bool deferred, bool isolated, const char *args);
void deathnote_slot_release(int slot);
/* On the worker: this thread runs `slot`'s pass now (-1: none). */
void deathnote_worker_enter(int slot);
void deathnote_worker_leave(void);

/* The previous engine's death, or NULL when there is no record (no
 * supervisor, or this is its first engine). Slots follow it. Borrowed. */
const deathnote_death *deathnote_last(void);
const deathnote_slot *deathnote_last_slot(uint32_t i);

/* ---- the supervisor ----------------------------------------------------------------------- */

/* Before forking an engine: clear `live`, remember the OOM-kill count. */
void deathnote_arm(void);
/* Whether engine `pid` declared it exits with `code`. */
bool deathnote_declared(pid_t pid, int code);
/*
 * After engine `pid` died with `wstatus`: seal its `live` record as `last`
 * (kept as it was when that engine died before committing its recovery and
 * has nothing new to tell). Writes a readable cause to `cause`. Returns
 * true when it was killed from outside (SIGKILL with no OOM kill counted):
 * nothing the engine or a plugin did, so no reason to slow the restart.
 */
bool deathnote_seal(pid_t pid, int wstatus, char *cause, size_t cause_len);

/* "SIGSEGV" for SIGSEGV, "signal N" for one without a name here. */
const char *deathnote_signal_name(int sig, char *buf, size_t len);

#endif
