/*
 * tarry_test_private.h - the test kit's state, shared by its files:
 * tarry_test.c (the scheduler, running, reading the outcome),
 * tarry_test_setup.c (functions, plugins, stubs, small helpers) and
 * tarry_test_assert.c (journal text, patterns, assertions, JSON helpers).
 * Not installed.
 *
 * The replay rules are not here: every pass runs in the journal core
 * (sdk/core/jcore.h), the same code the host runs.
 */
#ifndef TARRY_TEST_PRIVATE_H
#define TARRY_TEST_PRIVATE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jcore.h"
#include "tarry_test.h"

/* A name the kit can run: a real function, a stub, or both (the stub wins). */
typedef struct kit_function {
    char *name;
    tarry_fn real; /* NULL: only a stub */
    uint32_t real_revision;
    int stub; /* 0: none; 1: a fixed outcome; 2: a C function */
    tarry_status stub_status;
    char *stub_text; /* the value (JSON) or error */
    tarry_fn stub_fn;
    int64_t stub_after_ms; /* tarry_test_stub_at: a fixed stub settles no earlier than the clock's start plus
                              this */
    bool stub_at;
} kit_function;

/* tarry_test_stub_step: a step of this name answers this, its body not run. */
typedef struct kit_step_stub {
    char *name;
    tarry_status status;
    char *text; /* the value (JSON, NULL: null) or the error */
} kit_step_stub;

typedef enum kit_state {
    KIT_QUEUED,    /* can run now */
    KIT_SCHEDULED, /* a delayed child: runs at `due` */
    KIT_WAITING,   /* suspended: on a sleep until `due` when has_wake, else on children */
    KIT_SUCCEEDED,
    KIT_FAILED,
    KIT_CANCELLED,
    KIT_BLOCKED,
    KIT_CRASHED /* it was running when the kit crashed the host (tarry_test_crash_at): resumes as a new
                   attempt */
} kit_state;

typedef struct kit_exec {
    char id[JCORE_ID_LEN + 1];
    char *function; /* what it was called as ("(function pointer)" for tarry_test_run_fn) */
    char *args;
    /* what runs: a C function, or a fixed stub outcome */
    tarry_fn fn;
    uint32_t revision;
    int fixed; /* 1: settles with fixed_status / fixed_text, no code runs */
    tarry_status fixed_status;
    int64_t fixed_at; /* a fixed stub from tarry_test_stub_at: settles at this virtual time (0: at once) */
    const char *fixed_text; /* borrowed from the kit_function (stubs do not change during a run) */
    struct kit_exec *parent;
    uint32_t parent_seq;
    bool detached;
    kit_state state;
    int64_t due; /* KIT_SCHEDULED: start; KIT_WAITING with has_wake: the sleep's end */
    bool has_wake;
    uint32_t wake_seq;
    jcore_entry *journal; /* as committed: what the next pass replays; owns its strings */
    size_t count, cap;
    tarry_test_entry
        *view; /* the root's public view of `journal` (borrows its strings), built when a run ends */
    size_t view_count;
    uint32_t log_mark_pos, log_mark_count; /* jcore.h: the lines up to here are in tarry_test.logs */
    char *result, *error;
    unsigned passes;
    int attempt;           /* 0 or 1: the first; a loaded export (tarry_test_load_export) says which */
    uint64_t queued_order; /* FIFO position among queued executions */
} kit_exec;

typedef struct step_count {
    char *name;
    unsigned runs;
} step_count;

struct tarry_test {
    kit_function *functions;
    size_t function_count, function_cap;
    void **libraries; /* dlopen handles, closed by tarry_test_free */
    size_t library_count, library_cap;

    kit_exec **execs; /* of the last run; execs[0] is the root */
    size_t exec_count, exec_cap;
    step_count *steps;
    size_t step_count, step_cap;
    tarry_test_log *logs;
    size_t log_count, log_cap;

    int64_t clock_start, now;
    unsigned max_passes, total_passes;
    uint64_t next_order;
    unsigned next_id;
    bool oom; /* an allocation failed during the run: it ends with TARRY_TEST_ERROR */

    tarry_test_state state;
    char *result, *error; /* the last run's (or replay's) outcome, or the last kit error */
    unsigned failures;

    char **owned; /* strings handed out by tarry_test_json, freed with the kit */
    size_t owned_count, owned_cap;
    char *journal_text, *logs_text;

    kit_step_stub *step_stubs; /* tarry_test_stub.c */
    size_t step_stub_count, step_stub_cap;

    /* tarry_test_crash_at (tarry_test_crash.c): armed until the root's command at crash_pos reaches its
     * commit; `crashed` once a drive stopped there (tarry_test_resume goes on), crash_why says where. */
    bool crash_armed, crashed;
    unsigned crash_pos;
    int crash_when;
    char *crash_why;

    /* The last replay's verdict (tarry_test_verdict_of); its strings are owned here. */
    tarry_test_verdict verdict;
    char *verdict_has, *verdict_issued, *verdict_next;
};

/* ---- shared by the kit's files. They link into a plugin author's test
 * program: `tarry_test__` keeps them out of its namespace. ---- */

/* tarry_test_setup.c */
const kit_function *tarry_test__function_find(const tarry_test *t, const char *name);
bool tarry_test__function_runnable(const kit_function *f);
void tarry_test__set_error(tarry_test *t, char *msg);
/* A misuse of the kit's own API: printed, kept as tarry_test_error(); returns TARRY_EINVAL. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int tarry_test__refuse(tarry_test *t, const char *fmt, ...);

/* tarry_test.c: a new execution, appended to t->execs (the first is the root); NULL when out of memory. */
kit_exec *tarry_test__exec_new(tarry_test *t, const char *id, const char *function, const kit_function *f,
                               tarry_fn fn, const char *args);

/* tarry_test_replay_file.c: fill t->verdict from the replay that just concluded (t->state, t->error
 * and t->verdict_next, the first command past the journal when went_past). */
void tarry_test__verdict(tarry_test *t, bool went_past);
void tarry_test__verdict_clear(tarry_test *t);

/* tarry_test_crash.c: whether the armed crash hits now, at a commit of x's entries fresh[from..to)
 * (journal positions base + i). If so it is disarmed, t->crash_why says where, and *keep is how many
 * of fresh[0..to) the crash leaves committed. */
bool tarry_test__crash_due(tarry_test *t, const kit_exec *x, size_t base, const jcore_entry *fresh,
                           size_t from, size_t to, size_t *keep);

/* tarry_test_stub.c: the stub of step `name`, or NULL. */
const kit_step_stub *tarry_test__step_stub(const tarry_test *t, const char *name);
/* tarry_test_stub.c: run x->fn(ctx, args) with the kit's step stubs in force (a pass's fn when the kit has
 * any); tarry_test__stub_pass sets which kit and execution the next trampoline call runs. */
tarry_status tarry_test__step_trampoline(tarry_ctx *ctx, const char *args_json);
void tarry_test__stub_pass(tarry_test *t, tarry_fn fn);
void tarry_test__step_stubs_free(tarry_test *t);

/* tarry_test.c: queue x to run now; drive everything on and report the root's state. */
void tarry_test__queue(tarry_test *t, kit_exec *x);
tarry_test_state tarry_test__go_on(tarry_test *t);

/* tarry_test.c: forget the last run (executions, logs, outcome), keep the functions. */
void tarry_test__reset(tarry_test *t);

char *tarry_test__dup(const char *s);
char *tarry_test__vformat(const char *fmt, va_list ap);

/* Make room for one more item in the array at `items_ptr` (any T **); 0 or -1 (unchanged). */
int tarry_test__grow(void *items_ptr, size_t count, size_t *cap, size_t size);

/* A growable text buffer; `oom` sticks once an append failed. */
typedef struct kit_text {
    char *text;
    size_t len, cap;
    bool oom;
} kit_text;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void tarry_test__printf(kit_text *b, const char *fmt, ...);

const char *tarry_test__level_name(int level);

#endif
