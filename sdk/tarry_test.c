/*
 * tarry_test.c - the plugin test kit (tarry_test.h): a host in miniature
 * that runs plugin functions in the test's own process.
 *
 * Every pass runs in the journal core (sdk/core/jcore.c), the very code the
 * host runs, with the kit's answers to its hooks: a virtual clock, ids of
 * the form test-exec-NNNNNNNNNNNNNNNN, the host's cJSON for JSON, and a
 * checkpoint with nothing to do (memory is all the durability there is).
 * What is the kit's own: the functions and stubs a test sets up, a tiny
 * single-threaded scheduler in place of the host's engine (a FIFO of
 * executions that can run, and timers that move the clock when nothing
 * can), and committing a pass (appending its new entries to the journal,
 * starting the children its calls made, settling its parent).
 * Setting up (functions, plugins, stubs) is in tarry_test_setup.c; journal
 * text, assertions and JSON helpers are in tarry_test_assert.c.
 *
 * Not thread-safe: one tarry_test per thread.
 */
#include "tarry_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jcore.h"
#include "tarry_test_private.h"

/* Why an execution has nothing to run (a child of a name no longer added or stubbed). */
static char *unrunnable_error(const char *function)
{
    kit_text b = {0};

    tarry_test__printf(&b, "no function named \"%s\" is added or stubbed in this kit", function);
    if (b.oom) {
        free(b.text);
        return NULL;
    }
    return b.text;
}

/* ---- the journal core's hooks ------------------------------------------------------------ */

/* What a pass's hooks need: the kit, and the execution that runs. */
typedef struct kit_pass {
    tarry_test *t;
    kit_exec *x;
    bool crashed; /* tarry_test_crash_at hit in a checkpoint: fresh[0..keep) stand, the rest is lost */
    size_t keep;
} kit_pass;

static int64_t hook_now_ms(void *user)
{
    return ((kit_pass *)user)->t->now;
}

static void hook_new_child_id(void *user, char out[JCORE_ID_LEN + 1])
{
    tarry_test *t = ((kit_pass *)user)->t;
    snprintf(out, JCORE_ID_LEN + 1, "test-exec-%016u", ++t->next_id);
}

static int hook_checkpoint(void *user, jcore_run *run, char *err, size_t errlen)
{
    kit_pass *pass = user;

    /* The kit's journal is memory: it is as durable as it gets already, unless the test crashes the
     * host at this commit. A failed checkpoint ends the pass before the next step's body runs. */
    if (tarry_test__crash_due(pass->t, pass->x, run->journal_count, run->fresh, run->durable,
                              run->fresh_count, &pass->keep)) {
        pass->crashed = true;
        snprintf(err, errlen, "the host crashed (tarry_test_crash_at)");
        return TARRY_ENOTSUP;
    }
    return 0;
}

static bool hook_function_known(void *user, const char *name)
{
    return tarry_test__function_runnable(tarry_test__function_find(((kit_pass *)user)->t, name));
}

static const jcore_hooks kit_hooks = {
    .now_ms = hook_now_ms,
    .new_child_id = hook_new_child_id,
    .checkpoint = hook_checkpoint,
    .function_known = hook_function_known,
};

/* A pass of `x` in the journal core, inputs set, outputs empty. */
static void pass_init(jcore_run *run, kit_pass *pass, kit_exec *x)
{
    memset(run, 0, sizeof *run);
    run->hooks = &kit_hooks;
    run->user = pass;
    run->fn = x->fn;
    run->args = x->args;
    run->id = x->id;
    run->attempt = x->attempt ? x->attempt : 1; /* a loaded export carries its attempt (retries) */
    run->header_revision = x->revision;
    run->cp_mode = JCORE_CP_BLOCK;
    run->journal = x->journal;
    run->journal_count = x->count;
    run->log_mark_pos = x->log_mark_pos;
    run->log_mark_count = x->log_mark_count;
}

/* Move the pass's new log lines into the kit's log, as lines of `owner`. */
static void take_logs(tarry_test *t, jcore_run *run, const kit_exec *owner)
{
    for (size_t i = 0; i < run->log_count; i++) {
        tarry_test_log *log;
        if (tarry_test__grow(&t->logs, t->log_count, &t->log_cap, sizeof *t->logs) != 0) {
            t->oom = true;
            return;
        }
        log = &t->logs[t->log_count++];
        log->execution_id = owner->id;
        log->function = owner->function;
        log->level = (tarry_log_level)run->logs[i].level;
        log->time_ms = run->logs[i].time_ms;
        log->text = run->logs[i].text;
        run->logs[i].text = NULL; /* the kit's now */
    }
}

/* ---- executions and the scheduler ---------------------------------------------------------- */

static void exec_free(kit_exec *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->count; i++)
        jcore_entry_free(&x->journal[i]);
    free(x->journal);
    free(x->view);
    free(x->function);
    free(x->args);
    free(x->result);
    free(x->error);
    free(x);
}

static void queue(tarry_test *t, kit_exec *x)
{
    x->state = KIT_QUEUED;
    x->has_wake = false;
    x->due = 0;
    x->queued_order = t->next_order++;
}

void tarry_test__queue(tarry_test *t, kit_exec *x)
{
    queue(t, x);
}

/* A new execution of `f` (or of `fn` when f is NULL). NULL when out of memory. */
kit_exec *tarry_test__exec_new(tarry_test *t, const char *id, const char *function, const kit_function *f,
                               tarry_fn fn, const char *args)
{
    kit_exec *x;

    if (tarry_test__grow(&t->execs, t->exec_count, &t->exec_cap, sizeof *t->execs) != 0 ||
        !(x = calloc(1, sizeof *x)))
        return NULL;
    snprintf(x->id, sizeof x->id, "%s", id);
    x->function = tarry_test__dup(function);
    x->args = tarry_test__dup(args ? args : "null");
    if (!x->function || !x->args) {
        exec_free(x);
        return NULL;
    }
    x->fn = fn;
    x->revision = TARRY_HEADER_REVISION;
    if (f && f->stub == 1) {
        x->fixed = 1;
        x->fixed_status = f->stub_status;
        x->fixed_text = f->stub_text;
        x->fixed_at = f->stub_at ? t->clock_start + f->stub_after_ms : 0;
    } else if (f && f->stub == 2) {
        x->fn = f->stub_fn;
    } else if (f) {
        x->fn = f->real;
        x->revision = f->real_revision;
    }
    t->execs[t->exec_count++] = x;
    return x;
}

/* The children the calls in x->journal[from..] made: new executions (the host's engine does the same). */
static void spawn_children(tarry_test *t, kit_exec *x, size_t from)
{
    for (size_t i = from; i < x->count; i++) {
        const jcore_entry *e = &x->journal[i];
        kit_exec *child;

        if (e->kind != JCORE_CALL)
            continue;
        if (!(child = tarry_test__exec_new(t, e->child, e->name, tarry_test__function_find(t, e->name), NULL,
                                           e->args))) {
            t->oom = true;
            return;
        }
        child->parent = x;
        child->parent_seq = e->seq;
        child->detached = e->detached;
        if (e->wake_at > t->now) {
            child->state = KIT_SCHEDULED;
            child->due = e->wake_at;
        } else {
            queue(t, child);
        }
    }
}

/* A final execution's outcome goes into its parent's call entry; a waiting parent wakes. */
static void settle_parent(tarry_test *t, kit_exec *x)
{
    jcore_entry *e;

    if (!x->parent)
        return;
    e = &x->parent->journal[x->parent_seq];
    e->finished_at = t->now;
    if (x->state == KIT_SUCCEEDED) {
        e->status = JCORE_SUCCEEDED;
        e->value = tarry_test__dup(x->result ? x->result : "null");
    } else {
        e->status = x->state == KIT_CANCELLED ? JCORE_CANCELLED : JCORE_FAILED;
        e->error = tarry_test__dup(x->error ? x->error : "failed");
    }
    if (!e->value && !e->error)
        t->oom = true;
    if (!x->detached && x->parent->state == KIT_WAITING)
        queue(t, x->parent);
}

static void step_ran(tarry_test *t, const char *name)
{
    for (size_t i = 0; i < t->step_count; i++) {
        if (strcmp(t->steps[i].name, name) == 0) {
            t->steps[i].runs++;
            return;
        }
    }
    if (tarry_test__grow(&t->steps, t->step_count, &t->step_cap, sizeof *t->steps) != 0 ||
        !(t->steps[t->step_count].name = tarry_test__dup(name))) {
        t->oom = true;
        return;
    }
    t->steps[t->step_count++].runs = 1;
}

/* A stub's pass: it settles at once, no code runs. */
static void run_fixed(tarry_test *t, kit_exec *x)
{
    if (x->fixed_at > t->now) {
        /* tarry_test_stub_at: the outside event has not happened yet; its time is a timer. */
        x->state = KIT_SCHEDULED;
        x->due = x->fixed_at;
        x->passes--; /* waiting for the event is not a pass */
        t->total_passes--;
        return;
    }
    if (x->fixed_status == TARRY_OK) {
        x->state = KIT_SUCCEEDED;
        x->result = tarry_test__dup(x->fixed_text ? x->fixed_text : "null");
    } else {
        x->state = x->fixed_status == TARRY_CANCELLED ? KIT_CANCELLED : KIT_FAILED;
        x->error = tarry_test__dup(x->fixed_text ? x->fixed_text : "failed (stub)");
    }
    if (!x->result && !x->error)
        t->oom = true;
    settle_parent(t, x);
}

/* One pass of x in the journal core, then the commit: the host's replay_execute and engine in one. */
static void run_pass(tarry_test *t, kit_exec *x)
{
    kit_pass pass = {t, x, false, 0};
    jcore_run run;
    size_t committed = x->count;
    bool crash_after_end = false;

    x->passes++;
    t->total_passes++;
    free(x->result);
    free(x->error);
    x->result = x->error = NULL;
    x->has_wake = false;
    x->due = 0;
    if (x->fixed) {
        run_fixed(t, x);
        return;
    }
    if (!x->fn) {
        /* As the host blocks an execution whose function is not loaded. */
        x->state = KIT_BLOCKED;
        x->error = unrunnable_error(x->function);
        return;
    }

    pass_init(&run, &pass, x);
    if (t->step_stub_count) {
        /* tarry_test_stub_step: the function runs with the kit's step in its host table. */
        tarry_test__stub_pass(t, x->fn);
        run.fn = tarry_test__step_trampoline;
    }
    jcore_execute(&run);
    /* Every fresh step's body ran (a stub's is not its own), whether its entry survives a crash or not. */
    for (size_t i = 0; i < run.fresh_count; i++)
        if (run.fresh[i].kind == JCORE_STEP && !tarry_test__step_stub(t, run.fresh[i].name))
            step_ran(t, run.fresh[i].name);
    /* The pass's end is a commit too: the crash may be armed at one of its entries. */
    if (!pass.crashed &&
        tarry_test__crash_due(t, x, x->count, run.fresh, run.durable, run.fresh_count, &pass.keep)) {
        if (t->crash_when == TARRY_TEST_AFTER_COMMIT)
            crash_after_end = true; /* the outcome is committed: the host dies just after */
        else
            pass.crashed = true;
    }
    if (pass.crashed) {
        /* The host died: what was not committed is lost (entries past `keep`, the outcome, the
         * pass's log lines: the next attempt logs them again), and x was running. */
        for (size_t i = pass.keep; i < run.fresh_count; i++)
            jcore_entry_free(&run.fresh[i]);
        run.fresh_count = pass.keep;
        run.end = JCORE_END_SUSPENDED;
        run.wake_at = 0;
    } else {
        take_logs(t, &run, x);
        x->log_mark_pos = run.log_mark_pos;
        x->log_mark_count = run.log_mark_count;
    }

    /* The commit: whatever the outcome, the pass's new commands stand. */
    if (x->count + run.fresh_count > x->cap) {
        jcore_entry *grown = realloc(x->journal, (x->count + run.fresh_count) * sizeof *grown);
        if (!grown) {
            t->oom = true;
            jcore_run_clear(&run);
            return;
        }
        x->journal = grown;
        x->cap = x->count + run.fresh_count;
    }
    for (size_t i = 0; i < run.fresh_count; i++) {
        x->journal[x->count++] = run.fresh[i]; /* the strings move with it */
    }
    run.fresh_count = 0;

    switch (run.end) {
    case JCORE_END_SUCCEEDED:
        x->state = KIT_SUCCEEDED;
        x->result = run.result ? run.result : tarry_test__dup("null");
        run.result = NULL;
        if (!x->result)
            t->oom = true;
        break;
    case JCORE_END_FAILED:
        x->state = KIT_FAILED;
        x->error = run.error;
        run.error = NULL;
        break;
    case JCORE_END_BLOCKED:
        x->state = KIT_BLOCKED;
        x->error = run.error;
        run.error = NULL;
        break;
    case JCORE_END_SUSPENDED:
        x->state = KIT_WAITING;
        if (run.wake_at) {
            x->has_wake = true;
            x->due = run.wake_at;
            x->wake_seq = run.wake_seq;
        }
        break;
    case JCORE_END_YIELDED:
        queue(t, x); /* committed: run again from the top */
        break;
    }
    jcore_run_clear(&run);
    if (pass.crashed)
        x->state = KIT_CRASHED;
    spawn_children(t, x, committed);
    if (x->state == KIT_SUCCEEDED || x->state == KIT_FAILED)
        settle_parent(t, x);
    if (pass.crashed || crash_after_end)
        t->crashed = true; /* the drive stops: nothing runs until tarry_test_resume */
}

static kit_exec *next_queued(tarry_test *t)
{
    kit_exec *best = NULL;

    for (size_t i = 0; i < t->exec_count; i++) {
        kit_exec *x = t->execs[i];
        if (x->state == KIT_QUEUED && (!best || x->queued_order < best->queued_order))
            best = x;
    }
    return best;
}

/* The execution whose timer is due first (a delayed start or a sleep's end), or NULL. */
static kit_exec *next_timer(tarry_test *t)
{
    kit_exec *best = NULL;

    for (size_t i = 0; i < t->exec_count; i++) {
        kit_exec *x = t->execs[i];
        if ((x->state == KIT_SCHEDULED || (x->state == KIT_WAITING && x->has_wake)) &&
            (!best || x->due < best->due))
            best = x;
    }
    return best;
}

/* Fire a timer: a delayed child starts; a sleep is over (its entry settles) and the sleeper resumes. */
static void fire(tarry_test *t, kit_exec *x)
{
    if (x->state == KIT_WAITING) {
        jcore_entry *e = &x->journal[x->wake_seq];
        e->status = JCORE_SUCCEEDED;
        e->finished_at = t->now;
    }
    queue(t, x);
}

/* Drive everything until nothing can run (before the clock moves, with `pause`). */
static void drive(tarry_test *t, bool pause)
{
    for (;;) {
        kit_exec *x;

        if (t->oom || t->crashed || t->total_passes >= t->max_passes)
            return;
        if ((x = next_queued(t))) {
            run_pass(t, x);
            continue;
        }
        if (!(x = next_timer(t)))
            return;
        if (x->due > t->now) {
            if (pause)
                return;
            t->now = x->due; /* nothing can run before it: skip the wait */
        }
        fire(t, x);
    }
}

/* Why `x` still waits, for tarry_test_error(). NULL when out of memory. */
static char *waiting_reason(tarry_test *t, const kit_exec *x, const jcore_entry *journal, size_t count)
{
    kit_text b = {0};
    int any = 0;

    if (t->total_passes >= t->max_passes)
        tarry_test__printf(&b, "stopped after %u passes (tarry_test_set_max_passes); ", t->max_passes);
    tarry_test__printf(&b, "%s is still waiting", x->function);
    for (size_t i = 0; i < count; i++) {
        const jcore_entry *e = &journal[i];
        if (e->status != JCORE_PENDING)
            continue;
        if (e->kind == JCORE_SLEEP) {
            tarry_test__printf(&b, "%s on sleep \"%s\" (#%u)", any++ ? ";" : ":", e->name, e->seq);
            continue;
        }
        if (e->kind != JCORE_CALL || e->detached)
            continue;
        for (size_t j = 0; j < t->exec_count; j++) {
            const kit_exec *c = t->execs[j];
            if (c->parent == x && c->parent_seq == e->seq)
                tarry_test__printf(&b, "%s on child %s (%s), which is %s%s%s", any++ ? ";" : ":", c->function,
                                   c->id, c->state == KIT_BLOCKED ? "blocked" : "not final",
                                   c->error ? ": " : "", c->error ? c->error : "");
        }
    }
    if (b.oom) {
        free(b.text);
        return NULL;
    }
    return b.text;
}

/* The root's public journal: a view of its committed entries (no copies). */
static void view_build(tarry_test *t, kit_exec *root)
{
    tarry_test_entry *view = root->count ? realloc(root->view, root->count * sizeof *view) : root->view;

    if (root->count && !view) {
        t->oom = true;
        root->view_count = 0;
        return;
    }
    root->view = view;
    for (size_t i = 0; i < root->count; i++) {
        const jcore_entry *e = &root->journal[i];
        tarry_test_entry *v = &view[i];
        v->seq = e->seq;
        v->kind = (tarry_test_kind)e->kind;
        v->name = e->name;
        v->status = e->status == JCORE_SUCCEEDED   ? TARRY_OK
                    : e->status == JCORE_FAILED    ? TARRY_FAILED
                    : e->status == JCORE_CANCELLED ? TARRY_CANCELLED
                                                   : TARRY_SUSPEND;
        v->value_json = e->value;
        v->error = e->error;
        v->args_json = e->args;
        v->delay = e->delay;
        v->delay_ms =
            e->wake_at && (e->kind == JCORE_CALL || e->kind == JCORE_SLEEP) ? e->wake_at - e->started_at : 0;
        v->detached = e->detached;
        v->child_id = e->kind == JCORE_CALL ? e->child : NULL;
        v->issued_at = e->started_at;
        v->settled_at = e->finished_at;
    }
    root->view_count = root->count;
}

void tarry_test__reset(tarry_test *t)
{
    for (size_t i = 0; i < t->exec_count; i++)
        exec_free(t->execs[i]);
    t->exec_count = 0;
    for (size_t i = 0; i < t->step_count; i++)
        free(t->steps[i].name);
    t->step_count = 0;
    for (size_t i = 0; i < t->log_count; i++)
        free((char *)t->logs[i].text);
    t->log_count = 0;
    free(t->result);
    free(t->error);
    free(t->journal_text);
    free(t->logs_text);
    t->result = t->error = t->journal_text = t->logs_text = NULL;
    t->now = t->clock_start;
    t->total_passes = 0;
    t->next_order = 0;
    t->next_id = 0;
    t->oom = false;
    t->crashed = false; /* an armed crash stays armed: it is for the next run */
    free(t->crash_why);
    t->crash_why = NULL;
    t->state = TARRY_TEST_ERROR;
    tarry_test__verdict_clear(t);
}

/* Report `state` (with x's result or error, or why x waits) as the kit's outcome. */
static tarry_test_state conclude(tarry_test *t, kit_exec *root, kit_state state, const char *result,
                                 const char *error, const jcore_entry *journal, size_t count)
{
    free(t->result);
    free(t->error);
    free(t->journal_text);
    t->result = t->error = t->journal_text = NULL;
    view_build(t, root);
    if (t->oom) {
        tarry_test__set_error(t, tarry_test__dup("out of memory"));
        return t->state = TARRY_TEST_ERROR;
    }
    switch (state) {
    case KIT_SUCCEEDED:
        t->state = TARRY_TEST_SUCCEEDED;
        t->result = tarry_test__dup(result ? result : "null");
        break;
    case KIT_FAILED:
    case KIT_CANCELLED:
        t->state = TARRY_TEST_FAILED;
        t->error = tarry_test__dup(error);
        break;
    case KIT_BLOCKED:
        t->state = TARRY_TEST_BLOCKED;
        t->error = tarry_test__dup(error);
        break;
    default:
        t->state = TARRY_TEST_WAITING;
        t->error = error ? tarry_test__dup(error) : waiting_reason(t, root, journal, count);
        break;
    }
    return t->state;
}

static tarry_test_state conclude_root(tarry_test *t)
{
    kit_exec *root = t->execs[0];
    tarry_test_state state;

    if (t->crashed) {
        conclude(t, root, KIT_WAITING, NULL, "", root->journal, root->count);
        if (t->state == TARRY_TEST_ERROR)
            return t->state;
        tarry_test__set_error(t, tarry_test__dup(t->crash_why));
        return t->state = TARRY_TEST_CRASHED;
    }
    state = conclude(t, root, root->state, root->result, root->error, root->journal, root->count);
    t->crash_armed = false; /* a crash the run never reached is forgotten */
    return state;
}

tarry_test_state tarry_test__go_on(tarry_test *t)
{
    drive(t, false);
    return conclude_root(t);
}

static tarry_test_state run_root(tarry_test *t, const char *what, const kit_function *f, tarry_fn fn,
                                 const char *args_json, bool pause)
{
    kit_exec *root;
    char id[JCORE_ID_LEN + 1];

    if (args_json && !tarry_test_json_valid(args_json)) {
        tarry_test__refuse(t, "%s: args_json is not valid JSON: %.60s", what, args_json);
        return t->state = TARRY_TEST_ERROR;
    }
    snprintf(id, sizeof id, "test-exec-%016u", ++t->next_id);
    if (!(root = tarry_test__exec_new(t, id, f ? f->name : "(function pointer)", f, fn, args_json))) {
        tarry_test__set_error(t, tarry_test__dup("out of memory"));
        return t->state = TARRY_TEST_ERROR;
    }
    queue(t, root);
    drive(t, pause);
    return conclude_root(t);
}

static tarry_test_state run_named(tarry_test *t, const char *what, const char *function,
                                  const char *args_json, bool pause)
{
    const kit_function *f;

    tarry_test__reset(t);
    if (!function || !tarry_test__function_runnable(f = tarry_test__function_find(t, function))) {
        tarry_test__refuse(
            t,
            "%s: no function named \"%s\" (add it with tarry_test_add_plugin, tarry_test_load, "
            "tarry_test_add_function or tarry_test_stub)",
            what, function ? function : "(null)");
        return t->state = TARRY_TEST_ERROR;
    }
    return run_root(t, what, f, NULL, args_json, pause);
}

tarry_test_state tarry_test_run(tarry_test *t, const char *function, const char *args_json)
{
    return run_named(t, "tarry_test_run", function, args_json, false);
}

tarry_test_state tarry_test_start(tarry_test *t, const char *function, const char *args_json)
{
    return run_named(t, "tarry_test_start", function, args_json, true);
}

tarry_test_state tarry_test_run_fn(tarry_test *t, tarry_fn fn, const char *args_json)
{
    tarry_test__reset(t);
    if (!fn) {
        tarry_test__refuse(t, "tarry_test_run_fn: fn is NULL");
        return t->state = TARRY_TEST_ERROR;
    }
    return run_root(t, "tarry_test_run_fn", NULL, fn, args_json, false);
}

/*
 * The first command `shadow`'s code issues past its journal, for the verdict:
 * a second replay-only pass over the journal with one entry more, a command
 * no code can issue (kind 0), so the core stops at it with its own
 * "nondeterminism at step N: ..., code issued KIND \"NAME\"" and runs
 * nothing. The entries are borrowed (the core only reads them).
 */
static void next_command(tarry_test *t, kit_exec *shadow)
{
    kit_exec probe = *shadow;
    kit_pass pass = {t, &probe, false, 0};
    jcore_entry *journal = malloc((shadow->count + 1) * sizeof *journal);
    jcore_run run;

    free(t->verdict_next);
    t->verdict_next = NULL;
    if (!journal)
        return;
    if (shadow->count)
        memcpy(journal, shadow->journal, shadow->count * sizeof *journal);
    memset(&journal[shadow->count], 0, sizeof *journal);
    journal[shadow->count].seq = (uint32_t)shadow->count;
    journal[shadow->count].kind = (jcore_kind)0;
    probe.journal = journal;
    probe.count = shadow->count + 1;
    pass_init(&run, &pass, &probe);
    run.replay_only = true;
    jcore_execute(&run);
    if (run.end == JCORE_END_BLOCKED && run.error) {
        const char *issued = strstr(run.error, ", code issued ");
        if (issued)
            t->verdict_next = tarry_test__dup(issued + strlen(", code issued "));
    }
    jcore_run_clear(&run);
    free(journal);
}

/* One pass of `fn` over the root's journal, recording nothing (tarry_test.h). */
static tarry_test_state replay(tarry_test *t, const char *what, tarry_fn fn, uint32_t revision)
{
    kit_exec *root = t->exec_count ? t->execs[0] : NULL;
    kit_exec shadow;
    kit_pass pass = {t, &shadow, false, 0};
    jcore_run run;
    kit_state state;
    tarry_test_state answer;
    bool went_past;
    char msg[200];
    const char *error;

    if (!root) {
        tarry_test__refuse(t, "%s: no run to replay (call tarry_test_run first)", what);
        return t->state = TARRY_TEST_ERROR;
    }
    if (!fn) {
        tarry_test__refuse(t, "%s: nothing to run", what);
        return t->state = TARRY_TEST_ERROR;
    }
    /* A shadow of the root, with the new code: the pass reads the root's journal and never writes it. */
    shadow = *root;
    shadow.fn = fn;
    shadow.revision = revision;
    pass_init(&run, &pass, &shadow);
    run.replay_only = true;
    jcore_execute(&run);
    take_logs(t, &run, root); /* the lines past the root's mark; the mark stays (nothing was committed) */
    error = run.error;
    switch (run.end) {
    case JCORE_END_SUCCEEDED:
        state = KIT_SUCCEEDED;
        break;
    case JCORE_END_FAILED:
        state = KIT_FAILED;
        break;
    case JCORE_END_BLOCKED:
        state = KIT_BLOCKED;
        break;
    default:
        state = KIT_WAITING;
        if (run.went_past) {
            snprintf(msg, sizeof msg,
                     "the code replays all %zu journal entries and then issues more commands "
                     "(compatible, with new steps)",
                     root->count);
            error = msg;
        }
        break;
    }
    answer = conclude(t, root, state, run.result, error, root->journal, root->count);
    went_past = run.went_past; /* jcore_run_clear forgets it */
    if (went_past)
        next_command(t, &shadow);
    jcore_run_clear(&run);
    tarry_test__verdict(t, went_past);
    return answer;
}

tarry_test_state tarry_test_replay(tarry_test *t, const char *function)
{
    const kit_function *f = function ? tarry_test__function_find(t, function) : NULL;
    tarry_fn fn = f ? (f->stub == 2 ? f->stub_fn : f->real) : NULL;

    if (!fn) {
        tarry_test__refuse(t, "tarry_test_replay: no function named \"%s\" with code to replay",
                           function ? function : "(null)");
        return t->state = TARRY_TEST_ERROR;
    }
    return replay(t, "tarry_test_replay", fn, f->stub == 2 ? TARRY_HEADER_REVISION : f->real_revision);
}

tarry_test_state tarry_test_replay_fn(tarry_test *t, tarry_fn fn)
{
    return replay(t, "tarry_test_replay_fn", fn, TARRY_HEADER_REVISION);
}

tarry_test_state tarry_test_upgrade_fn(tarry_test *t, tarry_fn fn)
{
    kit_exec *root = t->exec_count ? t->execs[0] : NULL;

    if (!root)
        tarry_test__refuse(t, "tarry_test_upgrade_fn: no run to upgrade (call tarry_test_start first)");
    else if (!fn)
        tarry_test__refuse(t, "tarry_test_upgrade_fn: fn is NULL");
    else if (root->state == KIT_SUCCEEDED || root->state == KIT_FAILED || root->state == KIT_CANCELLED)
        tarry_test__refuse(
            t, "tarry_test_upgrade_fn: %s already %s; only an unfinished execution moves to new code",
            root->function, root->state == KIT_SUCCEEDED ? "succeeded" : "failed");
    else {
        /* As POST /v1/executions/ID/upgrade: the next pass runs the new code
         * against the journal so far; a blocked execution replays at once. */
        root->fn = fn;
        root->revision = TARRY_HEADER_REVISION;
        root->fixed = 0;
        if (root->state == KIT_BLOCKED) {
            free(root->error);
            root->error = NULL;
            queue(t, root);
        }
        drive(t, false);
        return conclude_root(t);
    }
    return t->state = TARRY_TEST_ERROR;
}

/* ---- reading the outcome ------------------------------------------------------------------------ */

tarry_test_state tarry_test_state_of(const tarry_test *t)
{
    return t->state;
}

const char *tarry_test_result(const tarry_test *t)
{
    return t->state == TARRY_TEST_SUCCEEDED ? t->result : NULL;
}

const char *tarry_test_error(const tarry_test *t)
{
    return t->error;
}

int64_t tarry_test_now(const tarry_test *t)
{
    return t->now;
}

unsigned tarry_test_passes(const tarry_test *t, const char *function)
{
    unsigned passes = 0;

    if (!function)
        return t->exec_count ? t->execs[0]->passes : 0;
    for (size_t i = 0; i < t->exec_count; i++)
        if (strcmp(t->execs[i]->function, function) == 0)
            passes += t->execs[i]->passes;
    return passes;
}

unsigned tarry_test_executions(const tarry_test *t, const char *function)
{
    unsigned count = 0;

    for (size_t i = 0; function && i < t->exec_count; i++)
        if (strcmp(t->execs[i]->function, function) == 0)
            count++;
    return count;
}

unsigned tarry_test_step_runs(const tarry_test *t, const char *name)
{
    for (size_t i = 0; name && i < t->step_count; i++)
        if (strcmp(t->steps[i].name, name) == 0)
            return t->steps[i].runs;
    return 0;
}

size_t tarry_test_journal_count(const tarry_test *t)
{
    return t->exec_count ? t->execs[0]->view_count : 0;
}

const tarry_test_entry *tarry_test_journal_at(const tarry_test *t, size_t i)
{
    return i < tarry_test_journal_count(t) ? &t->execs[0]->view[i] : NULL;
}

size_t tarry_test_log_count(const tarry_test *t)
{
    return t->log_count;
}

const tarry_test_log *tarry_test_log_at(const tarry_test *t, size_t i)
{
    return i < t->log_count ? &t->logs[i] : NULL;
}
