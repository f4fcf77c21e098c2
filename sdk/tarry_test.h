/*
 * tarry_test.h - the plugin test kit: run a plugin's functions in your own
 * process, without a host, and check what they did.
 *
 * The kit is a host in miniature. Each pass of a function runs in the same
 * code the host runs it in (tarry's journal core), so the rules and the
 * messages are the host's, word for word:
 *
 *   - every durable command (tarry_call, tarry_step, tarry_sleep,
 *     tarry_now_ms, tarry_patched) is recorded in an in-memory journal, and
 *     a function that suspends is called again from the top once what it
 *     waits for is done; recorded commands return their recorded outcome,
 *     and a replay that issues a different command at a recorded position
 *     blocks the execution with the host's "nondeterminism at step N: ..."
 *     message;
 *   - a call made in a pass has no outcome in that same pass (awaiting it
 *     suspends), steps run inline once, misuse returns TARRY_EINVAL with the
 *     host's logged reason, results and arguments must be valid JSON (as the
 *     host's cJSON reads it);
 *   - a log line is kept once: a replay that logs it again at the same place
 *     (the same journal position, the same ordinal there) adds nothing, as
 *     in the host;
 *   - children run as their own executions, with their own journals: the
 *     real function (from a plugin descriptor you add), or a stub you set
 *     (a fixed value, a failure, or a C function of yours);
 *   - time is virtual. tarry_now_ms() returns the kit's clock, which starts at
 *     a fixed instant and only moves when nothing can run until a later time:
 *     then it jumps to the next timer (the end of a tarry_sleep, the start of
 *     a delayed child). A "1 day" delay costs nothing.
 *
 * tarry_test_run() drives an execution and everything it started (delayed
 * and fire-and-forget children too) until nothing is left to do, so after it
 * returns the journal holds every command with its final outcome.
 *
 * Typical use (any test framework; the assertions return 1 when they hold
 * and otherwise print what they expected next to the journal, return 0):
 *
 *   extern const tarry_plugin_def tarry_plugin;   // link the plugin's source,
 *   tarry_test *t = tarry_test_new();             // or tarry_test_load(t, "x.so")
 *   tarry_test_add_plugin(t, &tarry_plugin);
 *   tarry_test_stub(t, "send_welcome_email", TARRY_OK, "{\"sent\":true}");
 *   tarry_test_stub(t, "import_contacts_from_hubspot", TARRY_FAILED, "CRM down");
 *   tarry_test_stub(t, "send_tutorials_email_if_no_actions", TARRY_OK, "{}");
 *   assert(tarry_test_run(t, "user_onboarding", "{\"user_id\":1}") == TARRY_TEST_SUCCEEDED);
 *   assert(tarry_test_assert_journal(t, "call send_welcome_email", "call import_contacts_from_hubspot",
 *                                    "step mark_onboarded",
 *                                    "call send_tutorials_email_if_no_actions after 1 day", NULL));
 *   assert(tarry_test_assert_steps(t, "mark_onboarded", 1));
 *   tarry_test_free(t);
 *
 * Build: link the static library `tarry_test` (CMake: tarry::test, or
 * tarry_add_plugin_test(); pkg-config: tarry-test). It needs libc, the
 * system's cJSON (libcjson, the shared library the host uses; a plugin that
 * links it too shares the one copy) and libdl for tarry_test_load on old
 * glibc.
 *
 * Ownership: every pointer the kit returns is owned by the tarry_test and
 * valid until the next tarry_test_run / _start / _replay / _upgrade_fn on it
 * or tarry_test_free, unless said otherwise. Everything you pass in is copied,
 * except plugin descriptors, which must outlive the tarry_test (they are
 * static data in the plugin). A tarry_test is not thread-safe: use one per
 * thread. Functions run on the calling thread.
 */
#ifndef TARRY_TEST_H
#define TARRY_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "tarry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tarry_test tarry_test;

/* Where an execution ended up when the kit stopped driving it. */
typedef enum tarry_test_state {
    TARRY_TEST_SUCCEEDED = 0, /* returned TARRY_OK: tarry_test_result() holds its result */
    TARRY_TEST_FAILED = 1,    /* failed: tarry_test_error() says why (as the host would) */
    TARRY_TEST_BLOCKED = 2,   /* nondeterminism: tarry_test_error() says where */
    TARRY_TEST_WAITING =
        3,                  /* still waiting when nothing else could run (a blocked child, the pass
                               limit, or a replay that went past the journal): tarry_test_error() says on what */
    TARRY_TEST_CRASHED = 4, /* the kit stopped the run as a crashed host would (tarry_test_crash_at):
                               the journal is what was committed; tarry_test_resume() runs it on */
    TARRY_TEST_ERROR = -1   /* the kit was misused (unknown function, out of memory): tarry_test_error() */
} tarry_test_state;

/* "succeeded", "failed", "blocked", "waiting", "crashed", "error". */
const char *tarry_test_state_name(tarry_test_state state);

/* The kind of a journal entry, as the host records it. */
typedef enum tarry_test_kind {
    TARRY_TEST_CALL = 1,  /* tarry_call: started a child */
    TARRY_TEST_STEP = 2,  /* tarry_step: ran a side effect once */
    TARRY_TEST_SLEEP = 3, /* tarry_sleep: a durable timer */
    TARRY_TEST_NOW = 4,   /* tarry_now_ms: read the clock */
    TARRY_TEST_PATCH = 5  /* tarry_patched: the execution runs code with this patch (name: the change id) */
} tarry_test_kind;

/*
 * One durable command of the execution under test. Strings are owned by the
 * kit (see the ownership rule above); NULL means absent.
 */
typedef struct tarry_test_entry {
    uint32_t seq;           /* position in the journal, from 0 */
    tarry_test_kind kind;   /* call, step, sleep, now or patch */
    const char *name;       /* call: the function; step: its name; sleep: the duration as written; now: NULL;
                               patch: the change id */
    tarry_status status;    /* TARRY_OK, TARRY_FAILED, TARRY_CANCELLED, or TARRY_SUSPEND while pending */
    const char *value_json; /* TARRY_OK: the child's or step's result ("null" if none); now: the time */
    const char *error;      /* TARRY_FAILED / TARRY_CANCELLED: why */
    const char *args_json;  /* call: the child's arguments ("null" when the caller passed NULL) */
    const char *delay;      /* call: opts->delay as written, NULL for none */
    int64_t delay_ms;       /* call: that delay; sleep: the duration; else 0 */
    int detached;           /* call: 1 when the handle was NULL (fire and forget) */
    const char *child_id;   /* call: the child execution's id */
    int64_t issued_at;      /* virtual Unix ms when the command was issued */
    int64_t settled_at;     /* virtual Unix ms when it settled; 0 while pending */
} tarry_test_entry;

/* One tarry_log() line of any execution the kit ran. */
typedef struct tarry_test_log {
    const char *execution_id;
    const char *function;
    tarry_log_level level;
    int64_t time_ms; /* virtual */
    const char *text;
} tarry_test_log;

/* ---- setting up ---------------------------------------------------------- */

/* A new kit with no functions, the clock at TARRY_TEST_EPOCH_MS. NULL when out of memory. */
tarry_test *tarry_test_new(void);

/* Free the kit, everything it returned, and close the plugins tarry_test_load opened. NULL is fine. */
void tarry_test_free(tarry_test *t);

/* Where the virtual clock starts (2026-01-01T00:00:00Z), so journal times are the same on every run. */
#define TARRY_TEST_EPOCH_MS INT64_C(1767225600000)

/*
 * Make a plugin's functions callable, by name, as the root of a run and as
 * children. The descriptor is checked as the host checks it (magic, ABI,
 * struct and pointer sizes, names valid and unique among the functions
 * added so far) and borrowed: it must outlive `t`. To test a plugin whose
 * source you link into the test, declare `extern const tarry_plugin_def
 * tarry_plugin;` and pass &tarry_plugin. Returns TARRY_OK or TARRY_EINVAL
 * (the reason is printed to stderr and kept in tarry_test_error()).
 */
int tarry_test_add_plugin(tarry_test *t, const tarry_plugin_def *plugin);

/*
 * dlopen() a plugin .so (RTLD_NOW | RTLD_LOCAL, like the host) and add its
 * `tarry_plugin` descriptor as tarry_test_add_plugin does; the library stays
 * open until tarry_test_free. Returns TARRY_OK or TARRY_EINVAL (dlerror's
 * reason, or why the descriptor was refused, on stderr and in
 * tarry_test_error()).
 */
int tarry_test_load(tarry_test *t, const char *path);

/* Make one C function callable under `name` (rules of a plugin function name). TARRY_OK or TARRY_EINVAL. */
int tarry_test_add_function(tarry_test *t, const char *name, tarry_fn fn);

/*
 * Stub `function`: every execution of it (a child or the root) settles at
 * once, without running any code, with
 *   status TARRY_OK:        value_or_error is its result (JSON; NULL means null);
 *   status TARRY_FAILED:    it fails, value_or_error is its error;
 *   status TARRY_CANCELLED: it is cancelled, value_or_error is the reason.
 * A stub hides a real function of the same name (tarry_test_unstub brings it
 * back) and makes an unknown name callable. Returns TARRY_OK or TARRY_EINVAL
 * (bad name or status, invalid JSON). Stubs and functions stay across runs.
 */
int tarry_test_stub(tarry_test *t, const char *function, tarry_status status, const char *value_or_error);

/*
 * Stub `function` with a C function of yours: it runs as the function would
 * (it gets the ctx and the args, may use any SDK call, may be a workflow).
 * Use it to check a child's arguments or to fail only sometimes.
 */
int tarry_test_stub_fn(tarry_test *t, const char *function, tarry_fn fn);

/* Remove a stub: the real function (if one was added) runs again. TARRY_OK, or TARRY_EINVAL if none. */
int tarry_test_unstub(tarry_test *t, const char *function);

/*
 * tarry_test_stub, but the outcome is an outside event that happens at a
 * virtual time: `at` after the run's start (a duration as tarry_sleep
 * takes it, "1 day"). An execution of `function` started before then
 * settles then (the clock jumps there when nothing else can run, as for a
 * sleep); one started later settles at once. So "the invoice is paid on
 * day 1" is
 *
 *   tarry_test_stub_at(t, "wait_for_payment", "1 day", TARRY_OK, "{\"amount\":120}");
 *
 * and a workflow that awaits it resumes at day 1, with that value; one that
 * sleeps 2 days first finds it settled at day 1. TARRY_OK or TARRY_EINVAL
 * (as tarry_test_stub, or a bad duration). tarry_test_stub / _unstub
 * replace it.
 */
int tarry_test_stub_at(tarry_test *t, const char *function, const char *at, tarry_status status,
                       const char *value_or_error);

/*
 * Stub the steps named `step`, in every execution: the step is issued,
 * recorded, replayed and checkpointed as any step, but its body is not run;
 * it answers
 *   status TARRY_OK:     value_or_error as its result (JSON; NULL means null);
 *   status TARRY_FAILED: it fails with value_or_error as its error.
 * tarry_test_step_runs() does not count stubbed answers. Use it for a step
 * that talks to the outside world (a payment gateway, a mailer). TARRY_OK or
 * TARRY_EINVAL (empty name, bad status, invalid JSON). Stays across runs.
 */
int tarry_test_stub_step(tarry_test *t, const char *step, tarry_status status, const char *value_or_error);

/* Remove a step stub: the step's own body runs again. TARRY_OK, or TARRY_EINVAL if none. */
int tarry_test_unstub_step(tarry_test *t, const char *step);

/* Start the virtual clock of the next runs at `unix_ms` instead of TARRY_TEST_EPOCH_MS. */
void tarry_test_set_clock(tarry_test *t, int64_t unix_ms);

/*
 * Stop a run after this many passes in total (every call of a function is a
 * pass; default 100000), so a workflow that never ends (a sleep in a loop)
 * ends the test with TARRY_TEST_WAITING instead of hanging it.
 */
void tarry_test_set_max_passes(tarry_test *t, unsigned max_passes);

/* ---- running ----------------------------------------------------------------- */

/*
 * Run `function` (added or stubbed) with `args_json` (NULL means null) as a
 * new execution, and everything it starts, until nothing can run any more:
 * each time it suspends, the kit runs the children that are due, then
 * resumes it; when nothing is due, it moves the clock to the next timer.
 * Starts from a clean slate (journal, logs, counters, clock) but keeps the
 * functions and stubs. Returns the root execution's state.
 */
tarry_test_state tarry_test_run(tarry_test *t, const char *function, const char *args_json);

/* tarry_test_run for a function pointer (a function of the test file, or a static one you can reach). */
tarry_test_state tarry_test_run_fn(tarry_test *t, tarry_fn fn, const char *args_json);

/*
 * tarry_test_run, but stop as soon as nothing more can run without moving
 * the virtual clock: a workflow that sleeps (or waits for a delayed child)
 * is left waiting there, TARRY_TEST_WAITING, as a running host would hold it
 * until its timer. Then tarry_test_upgrade_fn moves it to new code.
 */
tarry_test_state tarry_test_start(tarry_test *t, const char *function, const char *args_json);

/*
 * Move the root of the last run (unfinished: waiting or blocked) to new
 * code, as POST /v1/executions/ID/upgrade does in the host, and drive it on
 * until nothing can run: its next pass runs `fn` from the top against the
 * journal recorded so far, so a tarry_patched() branch meets the old
 * journal exactly as it would in production; a blocked root replays at
 * once. Children start as before (by name). Returns the root's state;
 * TARRY_TEST_ERROR for a finished root or no run.
 *
 *   tarry_test_load(t, "billing_v1.so");
 *   tarry_test_start(t, "renew", "{}");             // waiting in its "30 days" sleep
 *   tarry_test_upgrade_fn(t, renew_v2);             // v2 takes over after the sleep
 */
tarry_test_state tarry_test_upgrade_fn(tarry_test *t, tarry_fn fn);

/*
 * Check a new version of a workflow against the journal of the last run, the
 * way the host checks an execution upgraded to new code: run `function` (or
 * `fn`) once, from the top, with the last run's arguments, answering every
 * command from the recorded journal. Nothing new runs: the first command
 * past the end of the journal stops the pass.
 *   TARRY_TEST_SUCCEEDED / FAILED: the new code replays the journal and ends
 *                          the same way (tarry_test_result / _error);
 *   TARRY_TEST_BLOCKED:    it is not deterministic against the journal
 *                          (tarry_test_error: "nondeterminism at step N: ...");
 *   TARRY_TEST_WAITING:    it replays the journal and then goes further
 *                          (compatible, with more commands).
 * The journal is left as it was; the pass's log lines past those of the
 * run (by position, as a host keeps them) are added.
 */
tarry_test_state tarry_test_replay(tarry_test *t, const char *function);
tarry_test_state tarry_test_replay_fn(tarry_test *t, tarry_fn fn);

/* ---- crashes ---------------------------------------------------------------------
 *
 * The host makes a pass's commands durable in commits: a step's result
 * before the body of the next step runs (a checkpoint), and everything else
 * when the pass ends. A host that dies keeps what was committed; the
 * execution that was running starts a new attempt (tarry_attempt() one
 * higher) that replays that journal from the top. So a step whose commit
 * happened is never run again, and one whose body ran but whose commit did
 * not is run again (at least once); a child exists once its call's entry is
 * committed, and starts once.
 *
 *   tarry_test_crash_at(t, 0, TARRY_TEST_BEFORE_COMMIT);  // die before step #0 is durable
 *   assert(tarry_test_run(t, "charge", "{}") == TARRY_TEST_CRASHED);
 *   assert(tarry_test_step_runs(t, "charge_card") == 1);  // its body ran...
 *   assert(tarry_test_journal_count(t) == 0);             // ...but nothing was committed
 *   assert(tarry_test_resume(t) == TARRY_TEST_SUCCEEDED); // attempt 2
 *   assert(tarry_test_step_runs(t, "charge_card") == 2);  // so it ran again
 */

/* When, around the commit that makes a command durable, the host dies. */
#define TARRY_TEST_BEFORE_COMMIT 1 /* the command was issued (a step's body ran), its commit was not made */
#define TARRY_TEST_AFTER_COMMIT 2  /* the commit holding it (and what it committed with) is durable */

/*
 * Arm a crash for the next run (tarry_test_run, _start, _resume): when the
 * root's command at journal position `position` (from 0, as tarry_test_journal_at
 * numbers it) reaches the commit that makes it durable, the kit stops
 * everything `when` says, and the run returns TARRY_TEST_CRASHED. Commands
 * committed with it stand or fall with it (a step's checkpoint holds every
 * entry of the pass since the last one; a pass's end holds the rest). A
 * crash that is not reached (the root never issues that many commands) does
 * nothing, and is forgotten when the run ends. Returns TARRY_OK or
 * TARRY_EINVAL (a bad `when`). Arm another one before tarry_test_resume for
 * a second crash (attempt 3, ...).
 */
int tarry_test_crash_at(tarry_test *t, unsigned position, int when);

/*
 * The host comes back after a TARRY_TEST_CRASHED run: the execution that
 * was running starts its next attempt against the journal as committed,
 * and the kit drives everything on as tarry_test_run does. Counters
 * (passes, step runs, executions) and logs go on from the crashed run.
 * Returns the root's state; TARRY_TEST_ERROR when the last run did not crash.
 */
tarry_test_state tarry_test_resume(tarry_test *t);

/* The root's attempt number in the last run (1, or more after crashes or for a loaded export). */
int tarry_test_attempt(const tarry_test *t);

/* ---- replaying real runs (tarry export) ------------------------------------------
 *
 * A CI job checks a new build against executions in flight in production
 * before it deploys it:
 *
 *   tarry export 01JDQ8Z6V8M3X4KQ2T9W7R5B1D > run.json      (on the host)
 *
 *   tarry_test_load(t, "build/billing.so");                  (in the test)
 *   tarry_test_state s = tarry_test_replay_file(t, "run.json", NULL);
 *   const tarry_test_verdict *v = tarry_test_verdict_of(t);
 *   if (!v->fits) printf("differs at #%ld: journal has %s, code issued %s\n",
 *                        v->position, v->journal_has, v->code_issued);
 *
 * Commands in the exported journal are answered from it (the outcomes the
 * host recorded); nothing runs for real: the first command past the journal
 * ends the check and is named (v->next_command).
 */

/*
 * Load an exported execution (`tarry export ID`, or a bare execution
 * object from `tarry show ID --json`) as the last run: its id, function,
 * args, attempt, state and journal, so tarry_test_replay, tarry_test_journal_*
 * and the journal assertions read it. Returns TARRY_OK, or TARRY_EINVAL (the
 * file cannot be read, is not JSON, names another format or a newer version,
 * or has no journal; the reason in tarry_test_error()).
 */
int tarry_test_load_export(tarry_test *t, const char *path);

/*
 * tarry_test_load_export, then tarry_test_replay(t, function): `function`
 * (NULL: the export's own function) must be added to the kit, usually by
 * tarry_test_load of the new build. Returns tarry_test_replay's state, or
 * TARRY_TEST_ERROR when the file cannot be loaded.
 */
tarry_test_state tarry_test_replay_file(tarry_test *t, const char *path, const char *function);

/* What the last tarry_test_replay (_fn, _file) found. Strings are owned by the kit; NULL: absent. */
typedef struct tarry_test_verdict {
    int fits;                 /* 1: the code issued every command of the journal, in order (the new
                                 build can take the execution over); 0: it differs or failed to run */
    long position;            /* !fits: the first position where the code issued another command
                                 (-1 when it did not replay at all); fits: the journal's length */
    const char *journal_has;  /* !fits: the recorded command there, e.g. "sleep \"1h\"" */
    const char *code_issued;  /* !fits: what the new code issued there, e.g. "step \"b\"" */
    const char *next_command; /* fits and the code went past the journal: the first new command it would
                                 issue (at `position`), e.g. "step \"notify\""; NULL when it ended or waits
                                 on a pending entry. A tarry_patched() past the journal is not named: the
                                 command after it is. */
} tarry_test_verdict;

/* The verdict of the last replay; all zero (fits 0, position -1) when there was none. */
const tarry_test_verdict *tarry_test_verdict_of(const tarry_test *t);

/* The last run's (or replay's) root state. TARRY_TEST_ERROR before any run. */
tarry_test_state tarry_test_state_of(const tarry_test *t);

/* The root's result (JSON; "null" when it set none) if it succeeded, else NULL. */
const char *tarry_test_result(const tarry_test *t);

/* Why the root failed, blocked or is waiting, or why the last kit call failed; NULL if none. */
const char *tarry_test_error(const tarry_test *t);

/* The virtual clock now (Unix ms). */
int64_t tarry_test_now(const tarry_test *t);

/* How many passes ran of `function` in the last run (all its executions; NULL: the root's passes). */
unsigned tarry_test_passes(const tarry_test *t, const char *function);

/* How many executions of `function` the last run had (the root counts). */
unsigned tarry_test_executions(const tarry_test *t, const char *function);

/* How many times the body of step `name` really ran in the last run (all executions). */
unsigned tarry_test_step_runs(const tarry_test *t, const char *name);

/* ---- the journal and the logs ----------------------------------------------- */

/* The root's journal, as recorded (with the children's final outcomes). */
size_t tarry_test_journal_count(const tarry_test *t);

/* Entry `i` of the root's journal, or NULL past the end. */
const tarry_test_entry *tarry_test_journal_at(const tarry_test *t, size_t i);

/*
 * The root's journal as text, one line per entry, in the form the patterns
 * below use:  "#0 call send_welcome_email -> ok {\"sent\":true}",
 * "#3 call send_tutorials_email_if_no_actions after 1 day (detached) -> ok ...",
 * "#4 sleep 2 hours -> pending". The text is replaced by the next call.
 */
const char *tarry_test_journal_text(tarry_test *t);

size_t tarry_test_log_count(const tarry_test *t);
const tarry_test_log *tarry_test_log_at(const tarry_test *t, size_t i);

/*
 * Every log line of the last run as text, "function: LEVEL text\n" each
 * ("" when none). The text is replaced by the next call.
 */
const char *tarry_test_logs(tarry_test *t);

/* ---- assertions ---------------------------------------------------------------
 *
 * Each returns 1 when it holds. Otherwise it prints what it expected, what it
 * found and the root's journal to stderr, counts a failure
 * (tarry_test_failures) and returns 0, so it fits assert(), cmocka's
 * assert_true() or a plain `ok &= ...`.
 *
 * Journal patterns name one entry each, like the lines of
 * tarry_test_journal_text without the "#N":
 *   "call FUNCTION"                 a call of FUNCTION (any delay)
 *   "call FUNCTION after DURATION"  ... whose delay equals DURATION ("1 day" and "24h" are equal)
 *   "step NAME"                     a step named NAME
 *   "sleep DURATION"                a sleep of DURATION
 *   "patch CHANGE_ID"               a tarry_patched marker
 *   "now"                           a clock read
 * optionally followed by " -> ok", " -> failed", " -> cancelled" or " -> pending"
 * to check the entry's outcome too.
 */

/* The root is in `state` (on a mismatch its error and the logs are printed too). */
int tarry_test_assert_state(tarry_test *t, tarry_test_state state);

/* The root's journal has exactly `count` calls of `function`. */
int tarry_test_assert_calls(tarry_test *t, const char *function, unsigned count);

/* The root's journal has exactly `count` steps named `name`, and their bodies ran `count` times. */
int tarry_test_assert_steps(tarry_test *t, const char *name, unsigned count);

/* The root's journal is exactly these entries, in this order (patterns, NULL-terminated). */
int tarry_test_assert_journal(tarry_test *t, const char *pattern, ...);

/* These entries appear in the root's journal in this order, others may come between (NULL-terminated). */
int tarry_test_assert_order(tarry_test *t, const char *pattern, ...);

/* Some log line of the last run contains `text`. */
int tarry_test_assert_log(tarry_test *t, const char *text);

/*
 * The value at `path` in `json` equals `expected_json`, compared as JSON
 * values (object keys in any order, 1.5e3 equals 1500). See tarry_test_json.
 */
int tarry_test_assert_json(tarry_test *t, const char *json, const char *path, const char *expected_json);

/* How many assertions failed on this kit so far. */
unsigned tarry_test_failures(const tarry_test *t);

/* ---- JSON helpers ----------------------------------------------------------- */

/*
 * The JSON text of the value at `path` in `json`: path is dot-separated
 * object keys and array indexes ("contacts.result.imported", "items.0.id";
 * "" is the whole text), keys without escapes or dots. The value comes
 * back compact, as cJSON prints it (strings quoted: "\"failed\""; numbers
 * in cJSON's form: -1.5e3 as -1500). Returns a copy owned by `t` (valid
 * until tarry_test_free), or NULL when the path does not exist or `json` is
 * not valid JSON.
 */
const char *tarry_test_json(tarry_test *t, const char *json, const char *path);

/* Whether `json` is one JSON text as the host requires of results and arguments: strict RFC 8259
 * (valid UTF-8, no NUL, no duplicate keys, no trailing text, numbers a double holds exactly, e.g.
 * no integer beyond 2^53 that would lose digits and no 1e999). */
int tarry_test_json_valid(const char *json);

#ifdef __cplusplus
}
#endif

#endif /* TARRY_TEST_H */
