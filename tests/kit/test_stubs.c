/*
 * test_stubs.c - tarry_test_stub_step and tarry_test_stub_at: a step that
 * answers a stubbed result or error without running its body (and is still
 * a step: recorded, replayed, checkpointed), and an outside event ("paid")
 * that arrives at a virtual time, which the kit's clock reaches as it
 * reaches the end of a sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tarry_test.h"

#define DAY_MS INT64_C(86400000)

static int charge_bodies;

static tarry_status charge_body(tarry_ctx *ctx, void *unused)
{
    (void)unused;
    charge_bodies++;
    return (tarry_status)tarry_set_result(ctx, "{\"charged\":\"for real\"}");
}

/* #0 step charge, #1 call paid, #2 sleep (args.sleep), await paid, #3 step receipt. */
static tarry_status invoice(tarry_ctx *ctx, const char *args_json)
{
    tarry_result charge, paid, receipt;
    tarry_handle h;
    char out[512];

    TARRY_TRY(tarry_step(ctx, "charge", charge_body, NULL, &charge));
    TARRY_TRY(tarry_call(ctx, "paid", "{}", NULL, &h));
    TARRY_TRY(tarry_sleep(ctx, strstr(args_json, "late") ? "3 days" : "1h"));
    TARRY_TRY(tarry_await(ctx, &h, &paid));
    if (paid.status != TARRY_OK) {
        tarry_set_error(ctx, "not paid: %s", paid.error);
        return TARRY_FAILED;
    }
    TARRY_TRY(tarry_step(ctx, "receipt", charge_body, NULL, &receipt));
    if (receipt.status != TARRY_OK) {
        tarry_set_error(ctx, "no receipt: %s", receipt.error);
        return TARRY_FAILED;
    }
    snprintf(out, sizeof out, "{\"charge\":%s,\"paid\":%s,\"receipt\":%s}", charge.value_json,
             paid.value_json, receipt.value_json);
    return (tarry_status)tarry_set_result(ctx, out);
}

static tarry_test *kit(void)
{
    tarry_test *t = tarry_test_new();
    assert_non_null(t);
    assert_int_equal(tarry_test_add_function(t, "invoice", invoice), TARRY_OK);
    charge_bodies = 0;
    return t;
}

/* The payment arrives at day 1: the workflow waits for it there, and resumes with its value. */
static void paid_at_day_one(void **state)
{
    tarry_test *t = kit();
    const tarry_test_entry *call;
    (void)state;

    assert_int_equal(tarry_test_stub_at(t, "paid", "1 day", TARRY_OK, "{\"amount\":120}"), TARRY_OK);
    assert_int_equal(tarry_test_stub_step(t, "receipt", TARRY_OK, "{\"sent\":true}"), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "invoice", "{}"), TARRY_TEST_SUCCEEDED);
    call = tarry_test_journal_at(t, 1);
    assert_non_null(call);
    assert_int_equal(call->settled_at - TARRY_TEST_EPOCH_MS, DAY_MS);
    assert_int_equal(tarry_test_now(t) - TARRY_TEST_EPOCH_MS, DAY_MS);
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "paid.amount", "120"));
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "receipt", "{\"sent\":true}"));
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "charge.charged", "\"for real\""));
    assert_true(tarry_test_assert_journal(t, "step charge -> ok", "call paid -> ok", "sleep 1h -> ok",
                                          "step receipt -> ok", NULL));
    assert_int_equal(tarry_test_step_runs(t, "receipt"), 0); /* its body never ran */
    assert_int_equal(tarry_test_step_runs(t, "charge"), 1);
    assert_int_equal(charge_bodies, 1);
    assert_int_equal(tarry_test_passes(t, "paid"), 1);
    tarry_test_free(t);
}

/* A workflow that sleeps past the event finds it settled at its own time. */
static void event_before_the_await(void **state)
{
    tarry_test *t = kit();
    (void)state;

    assert_int_equal(tarry_test_stub_at(t, "paid", "1 day", TARRY_OK, "{\"amount\":7}"), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "invoice", "{\"late\":true}"), TARRY_TEST_SUCCEEDED);
    assert_int_equal(tarry_test_journal_at(t, 1)->settled_at - TARRY_TEST_EPOCH_MS, DAY_MS);
    assert_int_equal(tarry_test_journal_at(t, 2)->settled_at - TARRY_TEST_EPOCH_MS, 3 * DAY_MS);
    assert_int_equal(charge_bodies, 2); /* charge and the unstubbed receipt */
    tarry_test_free(t);
}

/* A stubbed failure, of a step and of the event; unstubbing brings the body back. */
static void stubbed_failures(void **state)
{
    tarry_test *t = kit();
    (void)state;

    assert_int_equal(tarry_test_stub_step(t, "charge", TARRY_FAILED, "card declined"), TARRY_OK);
    assert_int_equal(tarry_test_stub_at(t, "paid", "2 days", TARRY_FAILED, "never paid"), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "invoice", "{}"), TARRY_TEST_FAILED);
    assert_string_equal(tarry_test_error(t), "step \"charge\" failed: card declined"); /* TARRY_TRY */
    assert_true(tarry_test_assert_journal(t, "step charge -> failed", NULL));
    assert_int_equal(charge_bodies, 0);

    assert_int_equal(tarry_test_unstub_step(t, "charge"), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "invoice", "{}"), TARRY_TEST_FAILED);
    assert_string_equal(tarry_test_error(t), "child paid (test-exec-0000000000000002) failed: never paid");
    assert_true(
        tarry_test_assert_journal(t, "step charge -> ok", "call paid -> failed", "sleep 1h -> ok", NULL));
    assert_int_equal(tarry_test_journal_at(t, 1)->settled_at - TARRY_TEST_EPOCH_MS, 2 * DAY_MS);
    assert_int_equal(charge_bodies, 1);

    assert_int_equal(tarry_test_stub(t, "paid", TARRY_OK, "{}"), TARRY_OK); /* at once again */
    assert_int_equal(tarry_test_run(t, "invoice", "{}"), TARRY_TEST_SUCCEEDED);
    assert_int_equal(tarry_test_journal_at(t, 1)->settled_at, TARRY_TEST_EPOCH_MS);
    assert_int_equal(charge_bodies, 3);
    tarry_test_free(t);
}

/* A stubbed step is a step: its recorded answer replays, and a crash before its commit asks it again. */
static void stubbed_step_replays_and_crashes(void **state)
{
    tarry_test *t = kit();
    (void)state;

    assert_int_equal(tarry_test_stub_step(t, "charge", TARRY_OK, "{\"charged\":\"stub\"}"), TARRY_OK);
    assert_int_equal(tarry_test_stub(t, "paid", TARRY_OK, "{}"), TARRY_OK);
    assert_int_equal(tarry_test_crash_at(t, 0, TARRY_TEST_BEFORE_COMMIT), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "invoice", "{}"), TARRY_TEST_CRASHED);
    assert_int_equal(tarry_test_resume(t), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "charge.charged", "\"stub\""));
    assert_int_equal(tarry_test_replay(t, "invoice"), TARRY_TEST_SUCCEEDED);
    assert_int_equal(charge_bodies, 1); /* only receipt's body, once: the replay answered from the journal */
    tarry_test_free(t);
}

static void misuse(void **state)
{
    tarry_test *t = kit();
    (void)state;

    assert_int_equal(tarry_test_stub_step(t, "x", TARRY_OK, "{bad"), TARRY_EINVAL);
    assert_int_equal(tarry_test_stub_step(t, "x", TARRY_CANCELLED, NULL), TARRY_EINVAL);
    assert_int_equal(tarry_test_stub_step(t, "", TARRY_OK, NULL), TARRY_EINVAL);
    assert_int_equal(tarry_test_unstub_step(t, "x"), TARRY_EINVAL);
    assert_int_equal(tarry_test_stub_at(t, "paid", "soon", TARRY_OK, NULL), TARRY_EINVAL);
    assert_non_null(strstr(tarry_test_error(t), "tarry_test_stub_at(\"paid\")"));
    tarry_test_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paid_at_day_one),  cmocka_unit_test(event_before_the_await),
        cmocka_unit_test(stubbed_failures), cmocka_unit_test(stubbed_step_replays_and_crashes),
        cmocka_unit_test(misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
