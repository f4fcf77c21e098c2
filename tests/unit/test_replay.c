/*
 * test_replay.c - the replay room (host/replay.c over the journal core,
 * sdk/core/jcore.c), pass by pass, with this file standing in for the
 * engine: it hands each pass the journal as committed, takes the pass's new
 * entries into it, settles children and sleeps, and answers checkpoints.
 *
 *   - lazy checkpoints: a step's result is made durable before a later
 *     step's body runs, and only then; block (the hook), yield (the pass
 *     ends, REPLAY_YIELDED) and none;
 *   - the log mark: a line is handed out once over all passes, a line in a
 *     step's body belongs to the step's position, the mark never moves back;
 *   - tarry_patched against old and new journals;
 *   - a misused command is refused the same way on replay, never taken for
 *     a different command; a block's reason survives a later tarry_set_error;
 *   - many runs on many threads at once (nothing is shared).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "replay.h"
#include "status.h"

/* ---- the engine, in miniature ------------------------------------------------------------ */

typedef struct engine_double {
    journal_entry journal[64]; /* as committed; strings owned here */
    size_t count;
    int checkpoints; /* hook calls */
    size_t new_at_checkpoint[8];
    int checkpoint_status; /* what the hook answers */
    uint32_t mark_pos, mark_count;
    char lines[32][128]; /* every line handed out, over all passes */
    size_t line_count;
} engine_double;

static bool known(void *user, const char *name)
{
    (void)user;
    return strcmp(name, "child") == 0;
}

static int checkpoint(void *user, replay_run *run)
{
    engine_double *d = user;
    if (d->checkpoints < 8)
        d->new_at_checkpoint[d->checkpoints] = run->new_count;
    d->checkpoints++;
    return d->checkpoint_status;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* One pass of fn over d's journal; its new entries and lines are committed into d. */
static replay_outcome pass(engine_double *d, replay_run *run, tarry_fn fn, replay_cp_mode mode)
{
    replay_run_clear(run);
    memset(run->id_text, 'A', ID_TEXT_LEN);
    run->id_text[ID_TEXT_LEN] = '\0';
    run->fn = fn;
    run->args = "null";
    run->attempt = 1;
    run->header_revision = TARRY_HEADER_REVISION;
    run->hooks.user = d;
    run->hooks.function_known = known;
    run->hooks.checkpoint = checkpoint;
    run->cp_mode = mode;
    run->log_mark_pos = d->mark_pos;
    run->log_mark_count = d->mark_count;
    for (size_t i = 0; i < d->count; i++)
        assert_int_equal(replay_journal_add(run, &d->journal[i]), 0);
    replay_execute(run);
    for (size_t i = 0; i < run->new_count; i++) {
        journal_entry *e = &d->journal[d->count++];
        *e = run->new_entries[i].e;
        e->name = dup_or_null(e->name);
        e->value = dup_or_null(e->value);
        e->error = dup_or_null(e->error);
    }
    for (size_t i = 0; i < run->log_count; i++)
        snprintf(d->lines[d->line_count++], sizeof d->lines[0], "%s", run->logs[i].text);
    d->mark_pos = run->log_mark_pos;
    d->mark_count = run->log_mark_count;
    return run->outcome;
}

/* The engine settles the call at `seq` (its child succeeded) or ends the sleep there. */
static void settle(engine_double *d, uint32_t seq, const char *value)
{
    journal_entry *e = &d->journal[seq];
    e->status = JOURNAL_SUCCEEDED;
    free((char *)e->value);
    e->value = dup_or_null(value);
}

static void double_free(engine_double *d, replay_run *run)
{
    for (size_t i = 0; i < d->count; i++) {
        free((char *)d->journal[i].name);
        free((char *)d->journal[i].value);
        free((char *)d->journal[i].error);
    }
    replay_run_clear(run);
}

/* ---- workflows -------------------------------------------------------------------------- */

static int body_runs[4];

static tarry_status body(tarry_ctx *ctx, void *which)
{
    int i = (int)(intptr_t)which;
    char result[32];

    body_runs[i]++;
    tarry_log(ctx, TARRY_LOG_INFO, "body %d", i);
    snprintf(result, sizeof result, "%d", i);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status three_steps(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    tarry_log(ctx, TARRY_LOG_INFO, "before a");
    TARRY_TRY(tarry_step(ctx, "a", body, (void *)(intptr_t)1, NULL));
    tarry_log(ctx, TARRY_LOG_INFO, "before b");
    TARRY_TRY(tarry_step(ctx, "b", body, (void *)(intptr_t)2, NULL));
    TARRY_TRY(tarry_step(ctx, "c", body, (void *)(intptr_t)3, NULL));
    tarry_log(ctx, TARRY_LOG_INFO, "done");
    return TARRY_OK;
}

/* A step followed only by a call, a sleep and the return: no checkpoint of its own. */
static tarry_status step_then_rest(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a", body, (void *)(intptr_t)1, NULL));
    TARRY_TRY(tarry_call(ctx, "child", NULL, NULL, NULL));
    TARRY_TRY(tarry_sleep(ctx, "1h"));
    return TARRY_OK;
}

/* Treats any status of step b but TARRY_OK as a failure (TARRY_SUSPEND too). */
static tarry_status careless(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a", body, (void *)(intptr_t)1, NULL));
    if (tarry_step(ctx, "b", body, (void *)(intptr_t)2, NULL) != TARRY_OK)
        return tarry_set_error(ctx, "step b did not succeed");
    return TARRY_OK;
}

/* ---- checkpoints -------------------------------------------------------------------------- */

static void test_checkpoint_block_is_lazy(void **state)
{
    engine_double d = {0};
    replay_run run = {0};
    (void)state;

    memset(body_runs, 0, sizeof body_runs);
    assert_int_equal(pass(&d, &run, three_steps, REPLAY_CP_BLOCK), REPLAY_SUCCEEDED);
    /* Before b's body: a is made durable; before c's: b. None after c. */
    assert_int_equal(d.checkpoints, 2);
    assert_int_equal(d.new_at_checkpoint[0], 1);
    assert_int_equal(d.new_at_checkpoint[1], 2);
    assert_int_equal(d.count, 3);
    assert_int_equal(body_runs[1] + body_runs[2] + body_runs[3], 3);
    double_free(&d, &run);

    memset(&d, 0, sizeof d);
    assert_int_equal(pass(&d, &run, step_then_rest, REPLAY_CP_BLOCK), REPLAY_SUSPENDED);
    assert_int_equal(d.checkpoints, 0); /* the step commits with the call and the sleep */
    assert_int_equal(d.count, 3);
    double_free(&d, &run);
}

static void test_checkpoint_failure_blocks(void **state)
{
    engine_double d = {.checkpoint_status = TARRY_EIO};
    replay_run run = {0};
    (void)state;

    memset(body_runs, 0, sizeof body_runs);
    assert_int_equal(pass(&d, &run, three_steps, REPLAY_CP_BLOCK), REPLAY_BLOCKED);
    assert_non_null(run.error);
    assert_non_null(strstr(run.error, "could not make the result of step \"a\" durable before step \"b\""));
    assert_int_equal(body_runs[2], 0); /* b's body never ran */
    double_free(&d, &run);
}

static void test_checkpoint_yield(void **state)
{
    engine_double d = {0};
    replay_run run = {0};
    (void)state;

    memset(body_runs, 0, sizeof body_runs);
    /* Each pass runs one new step, then yields before the next body. */
    assert_int_equal(pass(&d, &run, three_steps, REPLAY_CP_YIELD), REPLAY_YIELDED);
    assert_int_equal(d.count, 1);
    assert_null(run.error);
    assert_int_equal(pass(&d, &run, three_steps, REPLAY_CP_YIELD), REPLAY_YIELDED);
    assert_int_equal(d.count, 2);
    assert_int_equal(pass(&d, &run, three_steps, REPLAY_CP_YIELD), REPLAY_SUCCEEDED);
    assert_int_equal(d.count, 3);
    assert_int_equal(d.checkpoints, 0);
    assert_int_equal(body_runs[1], 1);
    assert_int_equal(body_runs[2], 1);
    assert_int_equal(body_runs[3], 1);
    /* Every line once, in order, over the three passes. */
    assert_int_equal(d.line_count, 6);
    assert_string_equal(d.lines[0], "before a");
    assert_string_equal(d.lines[1], "body 1");
    assert_string_equal(d.lines[2], "before b");
    assert_string_equal(d.lines[3], "body 2");
    assert_string_equal(d.lines[4], "body 3");
    assert_string_equal(d.lines[5], "done");
    double_free(&d, &run);

    /* A function that takes the yield's TARRY_SUSPEND for a failure still just yields. */
    memset(&d, 0, sizeof d);
    assert_int_equal(pass(&d, &run, careless, REPLAY_CP_YIELD), REPLAY_YIELDED);
    assert_null(run.error);
    assert_int_equal(pass(&d, &run, careless, REPLAY_CP_YIELD), REPLAY_SUCCEEDED);
    double_free(&d, &run);
}

static void test_checkpoint_none(void **state)
{
    engine_double d = {0};
    replay_run run = {0};
    (void)state;

    assert_int_equal(pass(&d, &run, three_steps, REPLAY_CP_NONE), REPLAY_SUCCEEDED);
    assert_int_equal(d.checkpoints, 0);
    assert_int_equal(d.count, 3);
    double_free(&d, &run);
}

/* ---- the log mark ------------------------------------------------------------------------------ */

static tarry_status await_then_step(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    tarry_log(ctx, TARRY_LOG_INFO, "one");
    TARRY_TRY(tarry_call(ctx, "child", NULL, NULL, &h));
    tarry_log(ctx, TARRY_LOG_INFO, "two");
    TARRY_TRY(tarry_await(ctx, &h, &r));
    tarry_log(ctx, TARRY_LOG_INFO, "three %s", r.value_json);
    TARRY_TRY(tarry_step(ctx, "s", body, (void *)(intptr_t)1, NULL));
    tarry_log(ctx, TARRY_LOG_INFO, "four");
    return TARRY_OK;
}

static void test_log_mark(void **state)
{
    engine_double d = {0};
    replay_run run = {0};
    (void)state;

    assert_int_equal(pass(&d, &run, await_then_step, REPLAY_CP_BLOCK), REPLAY_SUSPENDED);
    assert_int_equal(run.log_count, 2);
    /* "one" before the call (position 0), "two" after it (position 1). */
    assert_int_equal(run.log_mark_pos, 1);
    assert_int_equal(run.log_mark_count, 1);
    settle(&d, 0, "\"x\"");
    assert_int_equal(pass(&d, &run, await_then_step, REPLAY_CP_BLOCK), REPLAY_SUCCEEDED);
    /* Only what is new: "three", the step's body (the step's own position 1), "four". */
    assert_int_equal(run.log_count, 3);
    assert_string_equal(run.logs[0].text, "three \"x\"");
    assert_string_equal(run.logs[1].text, "body 1");
    assert_string_equal(run.logs[2].text, "four");
    assert_int_equal(run.log_mark_pos, 2);
    assert_int_equal(run.log_mark_count, 1);
    assert_int_equal(d.line_count, 5);

    /* Without a mark (what an engine that keeps no lines passes in) every line comes out. */
    d.mark_pos = d.mark_count = 0;
    assert_int_equal(pass(&d, &run, await_then_step, REPLAY_CP_BLOCK), REPLAY_SUCCEEDED);
    assert_int_equal(run.log_count, 4); /* one, two, three, four: the recorded step's body does not run */
    /* A mark past everything this pass logs stays where it is. */
    d.mark_pos = 7;
    d.mark_count = 3;
    assert_int_equal(pass(&d, &run, await_then_step, REPLAY_CP_BLOCK), REPLAY_SUCCEEDED);
    assert_int_equal(run.log_count, 0);
    assert_int_equal(run.log_mark_pos, 7);
    assert_int_equal(run.log_mark_count, 3);
    double_free(&d, &run);
}

/* ---- tarry_patched, misuse, blocks ---------------------------------------------------------------- */

static int patched_answer;

static tarry_status patched_flow(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a", body, (void *)(intptr_t)1, NULL));
    if ((patched_answer = tarry_patched(ctx, "extra")))
        TARRY_TRY(tarry_call(ctx, "child", NULL, NULL, NULL));
    TARRY_TRY(tarry_sleep(ctx, "1h"));
    return TARRY_OK;
}

/* The same once every old execution finished: the patch call dropped, its new branch kept. */
static tarry_status final_flow(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a", body, (void *)(intptr_t)1, NULL));
    TARRY_TRY(tarry_call(ctx, "child", NULL, NULL, NULL));
    TARRY_TRY(tarry_sleep(ctx, "1h"));
    return TARRY_OK;
}

static tarry_status unpatched_flow(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a", body, (void *)(intptr_t)1, NULL));
    TARRY_TRY(tarry_sleep(ctx, "1h"));
    return TARRY_OK;
}

static void test_patched(void **state)
{
    engine_double d = {0};
    replay_run run = {0};
    (void)state;

    /* A journal written before the patch: the old path, nothing recorded. */
    assert_int_equal(pass(&d, &run, unpatched_flow, REPLAY_CP_BLOCK), REPLAY_SUSPENDED);
    settle(&d, 1, NULL);
    assert_int_equal(pass(&d, &run, patched_flow, REPLAY_CP_BLOCK), REPLAY_SUCCEEDED);
    assert_int_equal(patched_answer, 0);
    assert_int_equal(run.new_count, 0);
    double_free(&d, &run);

    /* A new execution: the marker, then the call. */
    memset(&d, 0, sizeof d);
    assert_int_equal(pass(&d, &run, patched_flow, REPLAY_CP_BLOCK), REPLAY_SUSPENDED);
    assert_int_equal(patched_answer, 1);
    assert_int_equal(d.count, 4);
    assert_int_equal(d.journal[1].kind, JOURNAL_PATCH);
    assert_string_equal(d.journal[1].name, "extra");
    assert_int_equal(d.journal[2].kind, JOURNAL_CALL);
    /* Its replay finds the marker: the new path again, no second marker. */
    settle(&d, 3, NULL);
    assert_int_equal(pass(&d, &run, patched_flow, REPLAY_CP_BLOCK), REPLAY_SUCCEEDED);
    assert_int_equal(patched_answer, 1);
    assert_int_equal(run.new_count, 0);
    /* Code that dropped the tarry_patched call passes the marker over. */
    assert_int_equal(pass(&d, &run, final_flow, REPLAY_CP_BLOCK), REPLAY_SUCCEEDED);
    assert_int_equal(run.new_count, 0);
    double_free(&d, &run);
}

static tarry_status misuse_then_await(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    assert_int_equal(tarry_sleep(ctx, "soon"), TARRY_EINVAL);
    assert_int_equal(tarry_call(ctx, "no_such_function", NULL, NULL, NULL), TARRY_EINVAL);
    assert_int_equal(tarry_call(ctx, "child", "{not json", NULL, NULL), TARRY_EINVAL);
    TARRY_TRY(tarry_call(ctx, "child", NULL, NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    return TARRY_OK;
}

static void test_misuse_is_refused_again_on_replay(void **state)
{
    engine_double d = {0};
    replay_run run = {0};
    (void)state;

    assert_int_equal(pass(&d, &run, misuse_then_await, REPLAY_CP_BLOCK), REPLAY_SUSPENDED);
    assert_int_equal(d.count, 1);
    assert_int_equal(run.log_count, 3);
    settle(&d, 0, "1");
    /* The misused commands were never recorded: on replay they are refused
     * again, not compared with the call at position 0. */
    assert_int_equal(pass(&d, &run, misuse_then_await, REPLAY_CP_BLOCK), REPLAY_SUCCEEDED);
    assert_int_equal(run.log_count, 0); /* the same three lines, already handed out */
    double_free(&d, &run);
}

static tarry_status renamed_step(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    if (tarry_step(ctx, "renamed", body, (void *)(intptr_t)1, NULL) != TARRY_OK)
        return tarry_set_error(ctx, "the step did not succeed");
    return TARRY_OK;
}

static void test_block_reason_survives_set_error(void **state)
{
    engine_double d = {0};
    replay_run run = {0};
    (void)state;

    assert_int_equal(pass(&d, &run, unpatched_flow, REPLAY_CP_BLOCK), REPLAY_SUSPENDED);
    assert_int_equal(pass(&d, &run, renamed_step, REPLAY_CP_BLOCK), REPLAY_BLOCKED);
    assert_string_equal(run.error,
                        "nondeterminism at step 0: journal has step \"a\", code issued step \"renamed\"");
    double_free(&d, &run);
}

/* ---- threads ---------------------------------------------------------------------------------------- */

static tarry_status quiet_body(tarry_ctx *ctx, void *user)
{
    (void)user;
    return (tarry_status)tarry_set_result(ctx, "{\"ok\":true}");
}

static tarry_status steps_and_logs(tarry_ctx *ctx, const char *args_json)
{
    char name[16];

    (void)args_json;
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "s%d", i);
        tarry_log(ctx, TARRY_LOG_INFO, "step %d of %s", i, tarry_execution_id(ctx));
        TARRY_TRY(tarry_step(ctx, name, quiet_body, NULL, NULL));
    }
    return (tarry_status)tarry_set_result(ctx, "\"done\"");
}

static void *many_runs(void *arg)
{
    int *ok = arg;
    for (int i = 0; i < 200; i++) {
        engine_double d = {0};
        replay_run run = {0};
        replay_outcome o;
        while ((o = pass(&d, &run, steps_and_logs, REPLAY_CP_YIELD)) == REPLAY_YIELDED)
            ;
        *ok +=
            o == REPLAY_SUCCEEDED && d.count == 8 && d.line_count == 8 && strcmp(run.result, "\"done\"") == 0;
        double_free(&d, &run);
    }
    return NULL;
}

static void test_runs_on_many_threads(void **state)
{
    pthread_t threads[4];
    int ok[4] = {0};
    (void)state;

    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, many_runs, &ok[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(ok[i], 200);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_block_is_lazy),
        cmocka_unit_test(test_checkpoint_failure_blocks),
        cmocka_unit_test(test_checkpoint_yield),
        cmocka_unit_test(test_checkpoint_none),
        cmocka_unit_test(test_log_mark),
        cmocka_unit_test(test_patched),
        cmocka_unit_test(test_misuse_is_refused_again_on_replay),
        cmocka_unit_test(test_block_reason_survives_set_error),
        cmocka_unit_test(test_runs_on_many_threads),
    };
    return cmocka_run_group_tests_name("replay", tests, NULL, NULL);
}
