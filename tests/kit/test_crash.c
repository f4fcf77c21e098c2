/*
 * test_crash.c - tarry_test_crash_at / tarry_test_resume: the kit stops a
 * run at the commit of one of the root's commands, just before or just
 * after it, and the resumed run keeps the host's promises: a step whose
 * commit was made never runs again, one whose commit was lost runs again
 * (in the next attempt, tarry_attempt() one higher), a child whose call
 * was committed starts once, and one whose call was lost is never started
 * twice. The commit points are the journal core's (jcore.h): a step's
 * checkpoint before the next step's body, and the pass's end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tarry_test.h"

/* A step body that answers the attempt it ran in. */
static tarry_status attempt_body(tarry_ctx *ctx, void *unused)
{
    char out[64];
    (void)unused;
    snprintf(out, sizeof out, "{\"attempt\":%d}", tarry_attempt(ctx));
    return (tarry_status)tarry_set_result(ctx, out);
}

static tarry_status ship(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return (tarry_status)tarry_set_result(ctx, "{\"shipped\":true}");
}

/* #0 step charge, #1 call ship, #2 sleep 1 day, #3 step notify: one commit per pass (no step follows a
 * step in the same pass). */
static tarry_status order(tarry_ctx *ctx, const char *args_json)
{
    tarry_result charge, shipped, notify;
    tarry_handle h;
    char out[256];

    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "charge", attempt_body, NULL, &charge));
    TARRY_TRY(tarry_call(ctx, "ship", "{}", NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &shipped));
    TARRY_TRY(tarry_sleep(ctx, "1 day"));
    TARRY_TRY(tarry_step(ctx, "notify", attempt_body, NULL, &notify));
    snprintf(out, sizeof out, "{\"charge\":%s,\"notify\":%s}", charge.value_json, notify.value_json);
    return (tarry_status)tarry_set_result(ctx, out);
}

/* #0 step a, #1 step b: b's body needs a durable first (a checkpoint in the middle of the pass). */
static tarry_status two_steps(tarry_ctx *ctx, const char *args_json)
{
    tarry_result a, b;
    char out[256];

    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a", attempt_body, NULL, &a));
    TARRY_TRY(tarry_step(ctx, "b", attempt_body, NULL, &b));
    snprintf(out, sizeof out, "{\"a\":%s,\"b\":%s}", a.value_json, b.value_json);
    return (tarry_status)tarry_set_result(ctx, out);
}

static tarry_test *kit(void)
{
    tarry_test *t = tarry_test_new();
    assert_non_null(t);
    assert_int_equal(tarry_test_add_function(t, "order", order), TARRY_OK);
    assert_int_equal(tarry_test_add_function(t, "ship", ship), TARRY_OK);
    assert_int_equal(tarry_test_add_function(t, "two_steps", two_steps), TARRY_OK);
    return t;
}

static void expect_json(tarry_test *t, const char *path, const char *want)
{
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), path, want));
}

/* The step's body ran, its commit did not: the resumed attempt runs it again; nothing else was lost. */
static void before_commit_runs_the_step_again(void **state)
{
    tarry_test *t = kit();
    (void)state;

    assert_int_equal(tarry_test_crash_at(t, 0, TARRY_TEST_BEFORE_COMMIT), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "order", "{}"), TARRY_TEST_CRASHED);
    assert_non_null(strstr(tarry_test_error(t), "before the commit of #0 (step \"charge\") in attempt 1"));
    assert_int_equal(tarry_test_step_runs(t, "charge"), 1);
    assert_int_equal(tarry_test_journal_count(t), 0); /* the call of ship went with it */
    assert_int_equal(tarry_test_executions(t, "ship"), 0);

    assert_int_equal(tarry_test_resume(t), TARRY_TEST_SUCCEEDED);
    assert_int_equal(tarry_test_attempt(t), 2);
    assert_int_equal(tarry_test_step_runs(t, "charge"), 2);
    assert_int_equal(tarry_test_step_runs(t, "notify"), 1);
    assert_int_equal(tarry_test_executions(t, "ship"), 1); /* the child starts once */
    expect_json(t, "charge.attempt", "2");
    expect_json(t, "notify.attempt", "2");
    assert_true(tarry_test_assert_journal(t, "step charge -> ok", "call ship -> ok", "sleep 1 day -> ok",
                                          "step notify -> ok", NULL));
    assert_int_equal(tarry_test_failures(t), 0);
    tarry_test_free(t);
}

/* The pass's end committed the step and the call: the restart runs nothing twice, and the execution,
 * which was waiting by then, does not start another attempt. */
static void after_commit_runs_nothing_twice(void **state)
{
    tarry_test *t = kit();
    (void)state;

    assert_int_equal(tarry_test_crash_at(t, 0, TARRY_TEST_AFTER_COMMIT), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "order", "{}"), TARRY_TEST_CRASHED);
    assert_int_equal(tarry_test_journal_count(t), 2);
    assert_int_equal(tarry_test_executions(t, "ship"), 1); /* created with the commit, not run yet */
    assert_int_equal(tarry_test_passes(t, "ship"), 0);

    assert_int_equal(tarry_test_resume(t), TARRY_TEST_SUCCEEDED);
    assert_int_equal(tarry_test_attempt(t), 1);
    assert_int_equal(tarry_test_step_runs(t, "charge"), 1);
    assert_int_equal(tarry_test_executions(t, "ship"), 1);
    assert_int_equal(tarry_test_passes(t, "ship"), 1);
    expect_json(t, "charge.attempt", "1");
    tarry_test_free(t);
}

/* A crash at the call: before its commit the child never existed, so it starts once, after the resume. */
static void a_lost_call_starts_its_child_once(void **state)
{
    tarry_test *t = kit();
    (void)state;

    assert_int_equal(tarry_test_crash_at(t, 1, TARRY_TEST_BEFORE_COMMIT), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "order", "{}"), TARRY_TEST_CRASHED);
    assert_non_null(strstr(tarry_test_error(t), "#1 (call \"ship\")"));
    assert_int_equal(tarry_test_executions(t, "ship"), 0);
    assert_int_equal(tarry_test_resume(t), TARRY_TEST_SUCCEEDED);
    assert_int_equal(tarry_test_executions(t, "ship"), 1);
    assert_int_equal(tarry_test_passes(t, "ship"), 1);
    tarry_test_free(t);
}

/* A step's checkpoint in the middle of a pass is a commit: after it, a stands and b never ran. */
static void checkpoint_commit_keeps_the_first_step(void **state)
{
    tarry_test *t = kit();
    (void)state;

    assert_int_equal(tarry_test_crash_at(t, 0, TARRY_TEST_AFTER_COMMIT), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "two_steps", "{}"), TARRY_TEST_CRASHED);
    assert_true(tarry_test_assert_journal(t, "step a -> ok", NULL));
    assert_int_equal(tarry_test_step_runs(t, "b"), 0);
    assert_int_equal(tarry_test_resume(t), TARRY_TEST_SUCCEEDED);
    assert_int_equal(tarry_test_attempt(t), 2);
    assert_int_equal(tarry_test_step_runs(t, "a"), 1);
    assert_int_equal(tarry_test_step_runs(t, "b"), 1);
    expect_json(t, "a.attempt", "1");
    expect_json(t, "b.attempt", "2");
    tarry_test_free(t);
}

/* Before that checkpoint: a's body ran but is lost, b's never ran. */
static void before_checkpoint_loses_the_first_step(void **state)
{
    tarry_test *t = kit();
    (void)state;

    assert_int_equal(tarry_test_crash_at(t, 0, TARRY_TEST_BEFORE_COMMIT), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "two_steps", "{}"), TARRY_TEST_CRASHED);
    assert_int_equal(tarry_test_journal_count(t), 0);
    assert_int_equal(tarry_test_step_runs(t, "a"), 1);
    assert_int_equal(tarry_test_step_runs(t, "b"), 0);
    assert_int_equal(tarry_test_resume(t), TARRY_TEST_SUCCEEDED);
    assert_int_equal(tarry_test_step_runs(t, "a"), 2);
    assert_int_equal(tarry_test_step_runs(t, "b"), 1);
    expect_json(t, "a.attempt", "2");
    tarry_test_free(t);
}

/* A crash armed again before the resume hits the next attempt: the third one finishes. */
static void two_crashes_make_attempt_three(void **state)
{
    tarry_test *t = kit();
    (void)state;

    assert_int_equal(tarry_test_crash_at(t, 3, TARRY_TEST_BEFORE_COMMIT), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "order", "{}"), TARRY_TEST_CRASHED);
    assert_int_equal(tarry_test_journal_count(t), 3); /* charge, ship, the sleep: committed earlier */
    assert_int_equal(tarry_test_crash_at(t, 3, TARRY_TEST_BEFORE_COMMIT), TARRY_OK);
    assert_int_equal(tarry_test_resume(t), TARRY_TEST_CRASHED);
    assert_non_null(strstr(tarry_test_error(t), "in attempt 2"));
    assert_int_equal(tarry_test_resume(t), TARRY_TEST_SUCCEEDED);
    assert_int_equal(tarry_test_attempt(t), 3);
    assert_int_equal(tarry_test_step_runs(t, "charge"), 1);
    assert_int_equal(tarry_test_step_runs(t, "notify"), 3);
    expect_json(t, "notify.attempt", "3");
    tarry_test_free(t);
}

/* A crash the run never reaches does nothing and is forgotten; misuse is refused. */
static void unreached_and_misused(void **state)
{
    tarry_test *t = kit();
    (void)state;

    assert_int_equal(tarry_test_crash_at(t, 99, TARRY_TEST_AFTER_COMMIT), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "two_steps", "{}"), TARRY_TEST_SUCCEEDED);
    assert_int_equal(tarry_test_resume(t), TARRY_TEST_ERROR);
    assert_non_null(strstr(tarry_test_error(t), "did not crash"));
    assert_int_equal(tarry_test_run(t, "order", "{}"), TARRY_TEST_SUCCEEDED); /* not armed any more */
    assert_int_equal(tarry_test_crash_at(t, 0, 0), TARRY_EINVAL);
    assert_string_equal(tarry_test_state_name(TARRY_TEST_CRASHED), "crashed");
    tarry_test_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(before_commit_runs_the_step_again),
        cmocka_unit_test(after_commit_runs_nothing_twice),
        cmocka_unit_test(a_lost_call_starts_its_child_once),
        cmocka_unit_test(checkpoint_commit_keeps_the_first_step),
        cmocka_unit_test(before_checkpoint_loses_the_first_step),
        cmocka_unit_test(two_crashes_make_attempt_three),
        cmocka_unit_test(unreached_and_misused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
