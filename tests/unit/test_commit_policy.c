/*
 * test_commit_policy.c - when a group commit starts (host/commit_policy.h),
 * driven with made-up times: the policy is pure, so the clock is whatever
 * the test says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "commit_policy.h"

static commit_policy_in busy(void)
{
    commit_policy_in in = {.dirty = 10, .awaited = true, .acks = 3, .acks_expected = 8, .now_ns = 1000000};
    return in;
}

static void test_nothing_to_commit(void **state)
{
    commit_policy_in in = busy();
    (void)state;
    in.dirty = 0;
    in.draining = true;
    assert_int_equal(commit_policy_decide(&in), COMMIT_IDLE);
}

static void test_lone_caller_never_waits(void **state)
{
    commit_policy_in in = {.dirty = 1, .awaited = true, .acks = 1, .acks_expected = 1, .now_ns = 5};
    (void)state;
    assert_int_equal(commit_policy_decide(&in), COMMIT_NOW);
    in.acks_expected = 0; /* the first caller after a quiet spell */
    assert_int_equal(commit_policy_decide(&in), COMMIT_NOW);
}

static void test_awaited_without_callers_commits_now(void **state)
{
    /* A worker waits (a checkpoint) or a new execution waits to run: no caller to gather for. */
    commit_policy_in in = busy();
    (void)state;
    in.acks = 0;
    assert_int_equal(commit_policy_decide(&in), COMMIT_NOW);
}

static void test_waits_for_passes_just_started(void **state)
{
    /* A parent's wake with a sibling started together still running: wait for it, briefly. */
    commit_policy_in in = busy();
    (void)state;
    in.acks = 0;
    in.young_running = true;
    assert_int_equal(commit_policy_decide(&in), COMMIT_GATHER);
    in.gather_until = in.now_ns + COMMIT_GATHER_NS;
    in.now_ns = in.gather_until; /* the window is over: commit, whatever still runs */
    assert_int_equal(commit_policy_decide(&in), COMMIT_NOW);
    in.gather_until = 0;
    in.young_running = false; /* it ended */
    assert_int_equal(commit_policy_decide(&in), COMMIT_NOW);
    in.acks = 1; /* a caller waits: a young pass is no reason to keep it waiting */
    in.acks_expected = 1;
    in.young_running = true;
    assert_int_equal(commit_policy_decide(&in), COMMIT_NOW);
}

static void test_unawaited_changes_linger(void **state)
{
    commit_policy_in in = busy();
    (void)state;
    in.awaited = false;
    in.acks = 0;
    assert_int_equal(commit_policy_decide(&in), COMMIT_LINGER);
    in.linger_over = true; /* the linger timer fired */
    assert_int_equal(commit_policy_decide(&in), COMMIT_NOW);
    in.linger_over = false;
    in.dirty = COMMIT_LINGER_MAX; /* too many piled up */
    assert_int_equal(commit_policy_decide(&in), COMMIT_NOW);
}

static void test_gathers_for_expected_callers_until_deadline(void **state)
{
    commit_policy_in in = busy(); /* 3 callers now, 8 answered last time */
    (void)state;
    assert_int_equal(commit_policy_decide(&in), COMMIT_GATHER);
    in.gather_until = in.now_ns + COMMIT_GATHER_NS;
    in.now_ns += COMMIT_GATHER_NS - 1;
    assert_int_equal(commit_policy_decide(&in), COMMIT_GATHER);
    in.acks = 8; /* everyone expected arrived */
    assert_int_equal(commit_policy_decide(&in), COMMIT_NOW);
    in.acks = 3;
    in.now_ns += 1; /* the deadline passed */
    assert_int_equal(commit_policy_decide(&in), COMMIT_NOW);
}

static void test_draining_commits_at_once(void **state)
{
    commit_policy_in in = busy();
    (void)state;
    in.draining = true;
    assert_int_equal(commit_policy_decide(&in), COMMIT_NOW);
    in.awaited = false;
    assert_int_equal(commit_policy_decide(&in), COMMIT_NOW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_to_commit),
        cmocka_unit_test(test_lone_caller_never_waits),
        cmocka_unit_test(test_awaited_without_callers_commits_now),
        cmocka_unit_test(test_waits_for_passes_just_started),
        cmocka_unit_test(test_unawaited_changes_linger),
        cmocka_unit_test(test_gathers_for_expected_callers_until_deadline),
        cmocka_unit_test(test_draining_commits_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
