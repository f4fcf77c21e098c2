/*
 * upgrade_check.h - whether an execution's journal fits a version of its
 * function, checked before anything changes (engine_upgrade_check.c).
 *
 * A check replays the journal as committed against the target version's
 * code on a worker thread, in the journal core's replay-only mode: every
 * command already in the journal is answered from it (no step body runs, no
 * child starts, no timer is set), and the first command past the journal
 * ends the pass. If the code issues a different command than the journal
 * holds at some position, the core's determinism check says so, and that
 * is the verdict: the execution would block there. Nothing is written: the
 * store, the execution and its pinned version are left as they were.
 *
 * Checks run one after another on a worker, a bounded number at once
 * (UPGRADE_CHECKS_MAX); the loop only starts them and hands back verdicts.
 * While a check runs, no plugin version is closed (the sweep waits), so
 * the code it replays stays mapped.
 */
#ifndef TARRY_UPGRADE_CHECK_H
#define TARRY_UPGRADE_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "ids.h"
#include "list.h"
#include "plugins.h"

#define UPGRADE_CHECKS_MAX 4      /* checks on workers at once; more are refused (TARRY_ERANGE) */
#define UPGRADE_CHECK_LIMIT 10000 /* executions one function check looks at; past it `more` */
#define UPGRADE_CHECK_EXAMPLES 5  /* example ids kept per verdict group */
#define UPGRADE_CHECK_WHY_MAX 400

typedef enum upgrade_verdict {
    UPGRADE_FITS = 0,   /* replays its journal, then goes on (or finishes) on the target code */
    UPGRADE_BLOCKS = 1, /* the code issues a different command than the journal holds: `why` says where */
    UPGRADE_FAILS = 2   /* replays its journal, and the target code then fails: `why` is the error */
} upgrade_verdict;

/* Executions that got the same verdict with the same reason. */
typedef struct upgrade_group {
    upgrade_verdict verdict;
    char why[UPGRADE_CHECK_WHY_MAX];
    size_t count;
    char examples[UPGRADE_CHECK_EXAMPLES][ID_TEXT_LEN + 1];
    size_t example_count;
} upgrade_group;

typedef struct upgrade_report {
    char function[PLUGIN_NAME_MAX + 1];
    char hash[PLUGIN_HASH_LEN + 1]; /* the version checked against */
    size_t checked, fit;
    bool more;             /* a function check stopped at UPGRADE_CHECK_LIMIT */
    upgrade_group *groups; /* UPGRADE_BLOCKS and UPGRADE_FAILS verdicts, in the order first seen */
    size_t group_count, group_cap;
} upgrade_report;

typedef struct upgrade_check upgrade_check;

/*
 * Called once on the loop thread: status 0 and the report (borrowed for the
 * call), or a negative code: TARRY_ENOTFOUND (no such execution, or the
 * version is not stored or lacks the function), TARRY_ESTATE (running or
 * final), TARRY_EIO (the store), TARRY_ENOMEM.
 */
typedef void (*upgrade_check_cb)(upgrade_check *c, int status, const upgrade_report *rep);

/* Embed in your own struct; the engine links it while the check runs. */
struct upgrade_check {
    list_node node;
    upgrade_check_cb cb;
};

/*
 * Check execution `id` against version `to_hash` (NULL: the current version of its
 * function). 0: c->cb will be called (unless cancelled first); or a negative code now
 * (TARRY_ESTATE: it is running or has uncommitted changes; TARRY_ERANGE: UPGRADE_CHECKS_MAX
 * checks run already; TARRY_ENOMEM).
 */
int engine_upgrade_check(engine *e, const exec_id *id, const char *to_hash, upgrade_check *c);

/*
 * Check every waiting, blocked, queued and scheduled execution of `function` (up to
 * UPGRADE_CHECK_LIMIT, oldest state group first) against its current version. Same
 * answers as engine_upgrade_check.
 */
int engine_upgrade_check_function(engine *e, const char *function, upgrade_check *c);

/* Forget a check: its callback is not called. Safe to call twice, or for one never started. */
void engine_upgrade_check_cancel(upgrade_check *c);

#endif
