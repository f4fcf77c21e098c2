/*
 * test_lifecycle.c - the table of execution states and transitions
 * (host/lifecycle.h): every path the engine takes is allowed, everything
 * else is refused, and each state's after-commit action is the one the
 * engine relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lifecycle.h"

/* Paths an execution takes today, as the engine makes them. */
static void test_engine_paths_allowed(void **state)
{
    static const exec_state paths[][6] = {
        /* trigger, run, succeed */
        {EXEC_NONE, EXEC_QUEUED, EXEC_RUNNING, EXEC_SUCCEEDED},
        /* delayed trigger, due, run, fail */
        {EXEC_NONE, EXEC_SCHEDULED, EXEC_QUEUED, EXEC_RUNNING, EXEC_FAILED},
        /* workflow: suspends, is woken, finishes */
        {EXEC_NONE, EXEC_QUEUED, EXEC_RUNNING, EXEC_WAITING, EXEC_QUEUED, EXEC_RUNNING},
        /* a child settled during the pass: straight back to queued */
        {EXEC_RUNNING, EXEC_QUEUED, EXEC_RUNNING, EXEC_SUCCEEDED},
        /* nondeterminism, upgrade, replay */
        {EXEC_RUNNING, EXEC_BLOCKED, EXEC_QUEUED, EXEC_RUNNING, EXEC_SUCCEEDED},
        /* a child of an unloaded function; a due execution whose version is gone */
        {EXEC_NONE, EXEC_BLOCKED},
        {EXEC_SCHEDULED, EXEC_BLOCKED},
        {EXEC_WAITING, EXEC_BLOCKED},
        /* recovery: a running one is re-queued, then failed as a poison pill */
        {EXEC_RUNNING, EXEC_QUEUED, EXEC_FAILED},
        /* recovery: a ?wait execution (never written) that took the engine down is recorded failed */
        {EXEC_NONE, EXEC_FAILED},
        /* a queued execution of a quarantined function waits blocked for an upgrade */
        {EXEC_QUEUED, EXEC_BLOCKED, EXEC_QUEUED},
        {EXEC_QUEUED, EXEC_BLOCKED},
        /* an attempt fails, its retry waits, is due, runs again */
        {EXEC_QUEUED, EXEC_RUNNING, EXEC_SCHEDULED, EXEC_QUEUED, EXEC_RUNNING, EXEC_SUCCEEDED},
        /* cancel in every unfinished state */
        {EXEC_SCHEDULED, EXEC_CANCELLED},
        {EXEC_QUEUED, EXEC_CANCELLED},
        {EXEC_RUNNING, EXEC_CANCELLED},
        {EXEC_WAITING, EXEC_CANCELLED},
        {EXEC_BLOCKED, EXEC_CANCELLED},
        /* at the concurrency limit with max_concurrency_action "cancel" */
        {EXEC_NONE, EXEC_CANCELLED},
        /* not started by its discard_after */
        {EXEC_SCHEDULED, EXEC_DISCARDED},
        {EXEC_QUEUED, EXEC_DISCARDED},
    };
    (void)state;
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++)
        for (size_t i = 1; i < 6 && paths[p][i] != EXEC_NONE; i++) {
            if (!lifecycle_allowed(paths[p][i - 1], paths[p][i]))
                fail_msg("path %zu: %s -> %s refused", p, exec_state_name(paths[p][i - 1]),
                         exec_state_name(paths[p][i]));
        }
}

static void test_impossible_moves_refused(void **state)
{
    (void)state;
    /* Final states never change, not even to themselves. */
    for (int f = EXEC_SUCCEEDED; f <= EXEC_DISCARDED; f++)
        for (int to = 0; to < EXEC_STATE_COUNT; to++)
            assert_false(lifecycle_allowed((exec_state)f, (exec_state)to));
    assert_false(lifecycle_allowed(EXEC_NONE, EXEC_RUNNING));      /* nothing runs before it is queued */
    assert_false(lifecycle_allowed(EXEC_NONE, EXEC_SUCCEEDED));    /* ... or finishes */
    assert_false(lifecycle_allowed(EXEC_QUEUED, EXEC_WAITING));    /* only a pass can suspend */
    assert_false(lifecycle_allowed(EXEC_QUEUED, EXEC_SUCCEEDED));  /* ... or succeed */
    assert_false(lifecycle_allowed(EXEC_SCHEDULED, EXEC_RUNNING)); /* due means queued first */
    assert_false(lifecycle_allowed(EXEC_WAITING, EXEC_RUNNING));   /* a wake queues */
    assert_false(lifecycle_allowed(EXEC_BLOCKED, EXEC_RUNNING));
    assert_false(lifecycle_allowed(EXEC_BLOCKED, EXEC_FAILED));
    assert_false(lifecycle_allowed(EXEC_RUNNING, EXEC_DISCARDED)); /* it started */
    assert_false(lifecycle_allowed(EXEC_WAITING, EXEC_DISCARDED));
    assert_false(lifecycle_allowed(EXEC_QUEUED, EXEC_NONE)); /* nothing goes back to nonexistence */
    assert_false(lifecycle_allowed(EXEC_NONE, EXEC_NONE));
    /* Out of range, either side. */
    assert_false(lifecycle_allowed((exec_state)EXEC_STATE_COUNT, EXEC_QUEUED));
    assert_false(lifecycle_allowed(EXEC_QUEUED, (exec_state)EXEC_STATE_COUNT));
    assert_false(lifecycle_allowed((exec_state)-1, EXEC_QUEUED));
}

static void test_self_moves(void **state)
{
    (void)state;
    /* A change without a state change (reschedule, upgrade, checkpoint) is allowed while unfinished. */
    assert_true(lifecycle_allowed(EXEC_SCHEDULED, EXEC_SCHEDULED));
    assert_true(lifecycle_allowed(EXEC_QUEUED, EXEC_QUEUED));
    assert_true(lifecycle_allowed(EXEC_RUNNING, EXEC_RUNNING));
    assert_true(lifecycle_allowed(EXEC_WAITING, EXEC_WAITING));
    assert_true(lifecycle_allowed(EXEC_BLOCKED, EXEC_BLOCKED));
}

static void test_after_commit(void **state)
{
    (void)state;
    assert_int_equal(lifecycle_after_commit(EXEC_QUEUED), LIFECYCLE_ENQUEUE);
    assert_int_equal(lifecycle_after_commit(EXEC_RUNNING), LIFECYCLE_STAY);
    assert_int_equal(lifecycle_after_commit(EXEC_SCHEDULED), LIFECYCLE_EVICT);
    assert_int_equal(lifecycle_after_commit(EXEC_WAITING), LIFECYCLE_EVICT);
    assert_int_equal(lifecycle_after_commit(EXEC_BLOCKED), LIFECYCLE_EVICT);
    for (int s = 0; s < EXEC_STATE_COUNT; s++) {
        /* The table is indexed by state, and a final state (and only it) finishes. */
        assert_int_equal(lifecycle_table[s].state, s);
        assert_int_equal(lifecycle_table[s].final, exec_state_final((exec_state)s));
        assert_int_equal(lifecycle_after_commit((exec_state)s) == LIFECYCLE_FINISH,
                         exec_state_final((exec_state)s));
    }
    assert_int_equal(lifecycle_after_commit((exec_state)EXEC_STATE_COUNT), LIFECYCLE_STAY);
}

/* Every unfinished state can still reach a final one (nothing is stuck by the table). */
static void test_every_state_can_finish(void **state)
{
    (void)state;
    for (int s = EXEC_NONE; s < EXEC_STATE_COUNT; s++) {
        uint32_t seen = 1u << s, frontier = 1u << s;
        bool finishes = lifecycle_table[s].final;
        while (frontier && !finishes) {
            uint32_t next = 0;
            for (int f = 0; f < EXEC_STATE_COUNT; f++)
                if (frontier & (1u << f))
                    next |= lifecycle_table[f].next;
            frontier = next & ~seen;
            seen |= next;
            for (int f = 0; f < EXEC_STATE_COUNT; f++)
                if ((seen & (1u << f)) && lifecycle_table[f].final)
                    finishes = true;
        }
        if (!finishes)
            fail_msg("%s cannot reach a final state", exec_state_name((exec_state)s));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_paths_allowed),
        cmocka_unit_test(test_impossible_moves_refused),
        cmocka_unit_test(test_self_moves),
        cmocka_unit_test(test_after_commit),
        cmocka_unit_test(test_every_state_can_finish),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
