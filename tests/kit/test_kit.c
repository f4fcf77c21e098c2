/*
 * test_kit.c - the plugin test kit's own tests (sdk/tarry_test.c).
 *
 * Each test runs small functions of this file (or the kit_demo plugin,
 * loaded with dlopen) through the kit and checks what a plugin author
 * relies on: replay from the top with recorded outcomes, calls without an
 * outcome in their own pass, steps once, the virtual clock, stubs, the
 * determinism check, tarry_patched across an upgrade, log lines kept once,
 * misuse codes and messages, descriptor checks, and the assertions. That
 * the kit and the host agree is not asserted here against expectations
 * written by hand: tests/integration/test_kit_parity.py runs one corpus of
 * workflows through both and compares what they recorded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tarry_test.h"

#define DAY_MS INT64_C(86400000)
#define HOUR_MS INT64_C(3600000)

static tarry_test *kit_new(void)
{
    tarry_test *t = tarry_test_new();
    assert_non_null(t);
    return t;
}

/* ---- plain functions ---------------------------------------------------------- */

static tarry_status hello(tarry_ctx *ctx, const char *args_json)
{
    char result[256];

    tarry_log(ctx, TARRY_LOG_INFO, "hello %s, attempt %d, id %s", args_json, tarry_attempt(ctx),
              tarry_execution_id(ctx));
    snprintf(result, sizeof result, "{\"hello\":%s}", args_json);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status bad_result(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    assert_int_equal(tarry_set_result(ctx, "{not json"), TARRY_EINVAL);
    return TARRY_OK;
}

static tarry_status bad_utf8_result(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    assert_int_equal(tarry_set_result(ctx, "{\"name\": \"\xff\"}"), TARRY_EINVAL);
    return TARRY_OK;
}

static tarry_status fails(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_error(ctx, "deliberate failure %d", 7);
}

static void test_plain_function(void **state)
{
    tarry_test *t = kit_new();
    const tarry_test_log *log;
    (void)state;

    assert_int_equal(tarry_test_add_function(t, "hello", hello), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "hello", "{\"name\": \"Ann\"}"), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_state(t, TARRY_TEST_SUCCEEDED));
    assert_string_equal(tarry_test_result(t), "{\"hello\":{\"name\": \"Ann\"}}");
    assert_null(tarry_test_error(t));
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "hello.name", "\"Ann\""));
    assert_int_equal(tarry_test_journal_count(t), 0);
    assert_int_equal(tarry_test_passes(t, NULL), 1);
    assert_int_equal(tarry_test_executions(t, "hello"), 1);
    assert_int_equal(tarry_test_log_count(t), 1);
    log = tarry_test_log_at(t, 0);
    assert_string_equal(log->function, "hello");
    assert_int_equal(log->level, TARRY_LOG_INFO);
    assert_int_equal(log->time_ms, TARRY_TEST_EPOCH_MS);
    /* ids have the host's length (26), attempts count from 1 */
    assert_int_equal(strlen(log->execution_id), 26);
    assert_non_null(strstr(log->text, "attempt 1, id test-exec-"));
    assert_true(tarry_test_assert_log(t, "hello {\"name\": \"Ann\"}"));
    assert_non_null(strstr(tarry_test_logs(t), "hello: info hello"));

    /* A function without a result succeeds with JSON null, as in the host. */
    assert_int_equal(tarry_test_run(t, "hello", NULL), TARRY_TEST_SUCCEEDED);
    assert_string_equal(tarry_test_result(t), "{\"hello\":null}");
    assert_int_equal(tarry_test_failures(t), 0);
    tarry_test_free(t);
}

static void test_result_must_be_json(void **state)
{
    tarry_test *t = kit_new();
    (void)state;

    /* Refused, and the attempt fails with the reason though the function returned TARRY_OK. */
    assert_int_equal(tarry_test_run_fn(t, bad_result, NULL), TARRY_TEST_FAILED);
    assert_null(tarry_test_result(t));
    assert_non_null(strstr(tarry_test_error(t), "tarry_set_result: invalid JSON: expected"));
    assert_true(tarry_test_assert_log(t, "tarry_set_result: invalid JSON"));
    assert_int_equal(tarry_test_run_fn(t, bad_utf8_result, NULL), TARRY_TEST_FAILED);
    assert_string_equal(
        tarry_test_error(t),
        "tarry_set_result: invalid JSON: name: invalid UTF-8 (byte 0xFF) in a string (byte 10)");
    tarry_test_free(t);
}

static void test_failure(void **state)
{
    tarry_test *t = kit_new();
    (void)state;

    assert_int_equal(tarry_test_run_fn(t, fails, NULL), TARRY_TEST_FAILED);
    assert_null(tarry_test_result(t));
    assert_string_equal(tarry_test_error(t), "deliberate failure 7");
    tarry_test_free(t);
}

/* ---- workflows: replay, stubs, steps ------------------------------------------ */

static int checkout_step_runs;

static tarry_status charge(tarry_ctx *ctx, void *amount)
{
    char result[64];
    checkout_step_runs++;
    snprintf(result, sizeof result, "{\"charged\":%s}", (const char *)amount);
    return (tarry_status)tarry_set_result(ctx, result);
}

/* Reserve stock and price the order in parallel, charge once, ship in a day. */
static tarry_status checkout(tarry_ctx *ctx, const char *args_json)
{
    tarry_call_opts tomorrow = {.delay = "1 day"};
    tarry_handle h[3];
    tarry_result r[3], charged;
    char result[512];

    TARRY_TRY(tarry_call(ctx, "reserve_stock", args_json, NULL, &h[0]));
    TARRY_TRY(tarry_call(ctx, "price_order", args_json, NULL, &h[1]));
    TARRY_TRY(tarry_call(ctx, "fraud_check", args_json, NULL, &h[2]));
    TARRY_TRY(tarry_await_all(ctx, h, 3, r));
    TARRY_TRY(tarry_step(ctx, "charge", charge, (void *)(r[1].status == TARRY_OK ? r[1].value_json : "0"),
                         &charged));
    TARRY_TRY(tarry_call(ctx, "ship", args_json, &tomorrow, NULL));
    snprintf(result, sizeof result,
             "{\"stock\":%s,\"price\":%s,\"fraud\":{\"status\":%d,\"error\":\"%s\"},\"charge\":%s}",
             r[0].status == TARRY_OK ? r[0].value_json : "null",
             r[1].status == TARRY_OK ? r[1].value_json : "null", (int)r[2].status,
             r[2].error ? r[2].error : "", charged.value_json);
    return (tarry_status)tarry_set_result(ctx, result);
}

static void test_workflow_with_stubs(void **state)
{
    tarry_test *t = kit_new();
    const tarry_test_entry *e;
    (void)state;

    checkout_step_runs = 0;
    assert_int_equal(tarry_test_add_function(t, "checkout", checkout), TARRY_OK);
    assert_int_equal(tarry_test_stub(t, "reserve_stock", TARRY_OK, "{\"reserved\":2}"), TARRY_OK);
    assert_int_equal(tarry_test_stub(t, "price_order", TARRY_OK, "1999"), TARRY_OK);
    assert_int_equal(tarry_test_stub(t, "fraud_check", TARRY_CANCELLED, "operator cancelled"), TARRY_OK);
    assert_int_equal(tarry_test_stub(t, "ship", TARRY_OK, NULL), TARRY_OK);

    assert_int_equal(tarry_test_run(t, "checkout", "{\"order\":9}"), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_journal(t, "call reserve_stock -> ok", "call price_order -> ok",
                                          "call fraud_check -> cancelled", "step charge -> ok",
                                          "call ship after 24 hours -> ok", NULL));
    assert_true(tarry_test_assert_order(t, "call price_order", "step charge", "call ship after 1 day", NULL));
    assert_true(tarry_test_assert_calls(t, "reserve_stock", 1));
    assert_true(tarry_test_assert_calls(t, "ship", 1));
    assert_true(tarry_test_assert_steps(t, "charge", 1));
    assert_int_equal(checkout_step_runs, 1);
    assert_int_equal(tarry_test_step_runs(t, "charge"), 1);

    /* The first pass starts the children and suspends at await_all; the
     * children settle (waking it) and the second pass replays the calls,
     * reads the outcomes, charges and finishes. */
    assert_int_equal(tarry_test_passes(t, NULL), 2);
    assert_int_equal(tarry_test_passes(t, "reserve_stock"), 1);

    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "stock.reserved", "2"));
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "price", "1999"));
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "fraud",
                                       "{\"status\": 3, \"error\": \"operator cancelled\"}"));
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "charge.charged", "1999"));

    /* The journal's details: args, the delay, fire-and-forget, child ids, virtual times. */
    e = tarry_test_journal_at(t, 0);
    assert_int_equal(e->kind, TARRY_TEST_CALL);
    assert_string_equal(e->args_json, "{\"order\":9}");
    assert_string_equal(e->value_json, "{\"reserved\":2}");
    assert_false(e->detached);
    assert_int_equal(strlen(e->child_id), 26);
    e = tarry_test_journal_at(t, 2);
    assert_int_equal(e->status, TARRY_CANCELLED);
    assert_string_equal(e->error, "operator cancelled");
    e = tarry_test_journal_at(t, 4);
    assert_string_equal(e->delay, "1 day");
    assert_int_equal(e->delay_ms, DAY_MS);
    assert_true(e->detached);
    assert_int_equal(e->issued_at, TARRY_TEST_EPOCH_MS);
    assert_int_equal(e->settled_at, TARRY_TEST_EPOCH_MS + DAY_MS); /* the day was skipped, not waited */
    assert_string_equal(e->value_json, "null");
    assert_null(tarry_test_journal_at(t, 5));
    assert_int_equal(tarry_test_now(t), TARRY_TEST_EPOCH_MS + DAY_MS);
    assert_non_null(strstr(tarry_test_journal_text(t), "#4 call ship after 1 day (detached) -> ok null\n"));
    assert_int_equal(tarry_test_failures(t), 0);

    /* A failing child: await_all still settles, the failure is in its slot. */
    assert_int_equal(tarry_test_stub(t, "price_order", TARRY_FAILED, "pricing service down"), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "checkout", "{}"), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_journal(t, "call reserve_stock", "call price_order -> failed",
                                          "call fraud_check", "step charge", "call ship", NULL));
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "price", "null"));
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "stock", "{\"reserved\":2}"));
    assert_non_null(
        strstr(tarry_test_journal_text(t), "#1 call price_order -> failed: pricing service down"));
    tarry_test_free(t);
}

/* The assertions say no when they should, and count it. */
static void test_assertions_fail(void **state)
{
    tarry_test *t = kit_new();
    (void)state;

    tarry_test_add_function(t, "checkout", checkout);
    tarry_test_stub(t, "reserve_stock", TARRY_OK, "1");
    tarry_test_stub(t, "price_order", TARRY_OK, "2");
    tarry_test_stub(t, "fraud_check", TARRY_OK, "3");
    tarry_test_stub(t, "ship", TARRY_OK, "4");
    assert_int_equal(tarry_test_run(t, "checkout", "{}"), TARRY_TEST_SUCCEEDED);
    fprintf(stderr, "(the next failures are expected)\n");
    assert_false(tarry_test_assert_state(t, TARRY_TEST_FAILED));
    assert_false(tarry_test_assert_calls(t, "ship", 2));
    assert_false(tarry_test_assert_steps(t, "charge", 2));
    assert_false(tarry_test_assert_journal(t, "call reserve_stock", NULL)); /* too few */
    assert_false(tarry_test_assert_journal(t, "call price_order", "call reserve_stock", "call fraud_check",
                                           "step charge", "call ship", NULL));         /* order */
    assert_false(tarry_test_assert_order(t, "step charge", "call price_order", NULL)); /* order */
    assert_false(tarry_test_assert_order(t, "call ship after 2 days", NULL));          /* delay */
    assert_false(tarry_test_assert_order(t, "call ship -> failed", NULL));             /* outcome */
    assert_false(tarry_test_assert_order(t, "cal ship", NULL));                        /* bad pattern */
    assert_false(tarry_test_assert_order(t, "sleep soon", NULL));                      /* bad duration */
    assert_false(tarry_test_assert_log(t, "no such line"));
    assert_false(tarry_test_assert_json(t, tarry_test_result(t), "nope", "1"));
    assert_false(tarry_test_assert_json(t, tarry_test_result(t), "price", "3"));
    assert_int_equal(tarry_test_failures(t), 13);
    tarry_test_free(t);
}

static int awaits_seen_suspended;

/* A call made in this pass has no outcome in this same pass, as in the host. */
static tarry_status call_then_await(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;
    int rc;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "answer", NULL, NULL, &h));
    rc = tarry_await(ctx, &h, &r);
    if (rc == TARRY_SUSPEND)
        awaits_seen_suspended++;
    TARRY_TRY(rc);
    return (tarry_status)tarry_set_result(ctx, r.value_json);
}

static void test_call_settles_in_a_later_pass(void **state)
{
    tarry_test *t = kit_new();
    (void)state;

    awaits_seen_suspended = 0;
    tarry_test_stub(t, "answer", TARRY_OK, "42");
    assert_int_equal(tarry_test_run_fn(t, call_then_await, NULL), TARRY_TEST_SUCCEEDED);
    assert_string_equal(tarry_test_result(t), "42");
    assert_int_equal(awaits_seen_suspended, 1);
    assert_int_equal(tarry_test_passes(t, NULL), 2);
    tarry_test_free(t);
}

/* ---- the virtual clock --------------------------------------------------------- */

static int nap_step_runs;

static tarry_status nap_note(tarry_ctx *ctx, void *user)
{
    (void)user;
    nap_step_runs++;
    return (tarry_status)tarry_set_result(ctx, "\"noted\"");
}

/* Read the clock, step, sleep 2 hours, read it again, sleep a week, read it again. */
static tarry_status napper(tarry_ctx *ctx, const char *args_json)
{
    int64_t t0, t1, t2;
    char result[128];

    (void)args_json;
    t0 = tarry_now_ms(ctx);
    TARRY_TRY(tarry_step(ctx, "note", nap_note, NULL, NULL));
    TARRY_TRY(tarry_sleep(ctx, "2 hours"));
    t1 = tarry_now_ms(ctx);
    TARRY_TRY(tarry_sleep(ctx, "1 week"));
    t2 = tarry_now_ms(ctx);
    snprintf(result, sizeof result, "[%lld,%lld,%lld]", (long long)t0, (long long)t1, (long long)t2);
    return (tarry_status)tarry_set_result(ctx, result);
}

static void test_virtual_clock(void **state)
{
    tarry_test *t = kit_new();
    char want[128];
    (void)state;

    nap_step_runs = 0;
    tarry_test_set_clock(t, INT64_C(1000000));
    assert_int_equal(tarry_test_run_fn(t, napper, NULL), TARRY_TEST_SUCCEEDED);
    /* Journaled reads replay their first value: t0 stays 1000000 on every pass. */
    snprintf(want, sizeof want, "[%lld,%lld,%lld]", 1000000LL, 1000000LL + 2 * HOUR_MS,
             1000000LL + 2 * HOUR_MS + 7 * DAY_MS);
    assert_string_equal(tarry_test_result(t), want);
    assert_int_equal(tarry_test_now(t), 1000000LL + 2 * HOUR_MS + 7 * DAY_MS);
    assert_true(tarry_test_assert_journal(t, "now", "step note", "sleep 2h -> ok", "now",
                                          "sleep 7 days -> ok", "now", NULL));
    assert_int_equal(nap_step_runs, 1); /* three passes, one run of the step */
    assert_int_equal(tarry_test_passes(t, NULL), 3);
    assert_int_equal(tarry_test_journal_at(t, 2)->settled_at, 1000000LL + 2 * HOUR_MS);

    /* Each run starts from the set clock again. */
    assert_int_equal(tarry_test_run_fn(t, napper, NULL), TARRY_TEST_SUCCEEDED);
    assert_string_equal(tarry_test_result(t), want);
    tarry_test_free(t);
}

/* A child that wakes before the parent's sleep ends: the parent replays the pending sleep and sleeps on. */
static tarry_status sleep_and_call(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;
    tarry_call_opts soon = {.delay = "10 minutes"};

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "answer", NULL, &soon, &h));
    TARRY_TRY(tarry_sleep(ctx, "1h"));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    return (tarry_status)tarry_set_result(ctx, r.value_json);
}

static void test_timers_in_order(void **state)
{
    tarry_test *t = kit_new();
    (void)state;

    tarry_test_stub(t, "answer", TARRY_OK, "\"early\"");
    assert_int_equal(tarry_test_run_fn(t, sleep_and_call, NULL), TARRY_TEST_SUCCEEDED);
    assert_string_equal(tarry_test_result(t), "\"early\"");
    assert_int_equal(tarry_test_journal_at(t, 0)->settled_at, TARRY_TEST_EPOCH_MS + 10 * 60000);
    assert_int_equal(tarry_test_journal_at(t, 1)->settled_at, TARRY_TEST_EPOCH_MS + HOUR_MS);
    /* pass 1 suspends on the sleep; the child (10 min) wakes it: pass 2 sleeps on; the hour: pass 3 */
    assert_int_equal(tarry_test_passes(t, NULL), 3);
    tarry_test_free(t);
}

/* ---- determinism ----------------------------------------------------------------- */

static int flaky_passes;

/* Calls "a" on its first pass and "b" on the next: nondeterministic. */
static tarry_status flaky(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, flaky_passes++ == 0 ? "a" : "b", NULL, NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    return TARRY_OK;
}

static void test_nondeterminism_blocks(void **state)
{
    tarry_test *t = kit_new();
    (void)state;

    flaky_passes = 0;
    tarry_test_stub(t, "a", TARRY_OK, "1");
    tarry_test_stub(t, "b", TARRY_OK, "2");
    assert_int_equal(tarry_test_run_fn(t, flaky, NULL), TARRY_TEST_BLOCKED);
    assert_string_equal(tarry_test_error(t),
                        "nondeterminism at step 0: journal has call \"a\", code issued call \"b\"");
    assert_true(tarry_test_assert_journal(t, "call a -> ok", NULL));
    assert_int_equal(tarry_test_executions(t, "b"), 0);
    tarry_test_free(t);
}

static int v1_step_runs;

static tarry_status v1_body(tarry_ctx *ctx, void *user)
{
    (void)user;
    v1_step_runs++;
    return (tarry_status)tarry_set_result(ctx, "1");
}

static tarry_status order_v1(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "a", NULL, NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    TARRY_TRY(tarry_step(ctx, "save", v1_body, NULL, NULL));
    return (tarry_status)tarry_set_result(ctx, r.value_json);
}

/* The same commands with a different result: compatible. */
static tarry_status order_v2_same(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "a", NULL, NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    TARRY_TRY(tarry_step(ctx, "save", v1_body, NULL, NULL));
    return (tarry_status)tarry_set_result(ctx, "\"v2\"");
}

/* The step renamed: not compatible with journals of v1. */
static tarry_status order_v3_renamed(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "a", NULL, NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    TARRY_TRY(tarry_step(ctx, "persist", v1_body, NULL, NULL));
    return TARRY_OK;
}

/* One more command at the end: compatible, goes further. */
static tarry_status order_v4_longer(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "a", NULL, NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    TARRY_TRY(tarry_step(ctx, "save", v1_body, NULL, NULL));
    TARRY_TRY(tarry_sleep(ctx, "1 day"));
    return TARRY_OK;
}

static void test_replay_checks_new_code(void **state)
{
    tarry_test *t = kit_new();
    (void)state;

    v1_step_runs = 0;
    tarry_test_stub(t, "a", TARRY_OK, "\"from a\"");
    tarry_test_add_function(t, "order", order_v1);
    assert_int_equal(tarry_test_run(t, "order", "{\"id\":1}"), TARRY_TEST_SUCCEEDED);
    assert_int_equal(v1_step_runs, 1);

    /* The code that wrote the journal replays it exactly, running nothing. */
    assert_int_equal(tarry_test_replay(t, "order"), TARRY_TEST_SUCCEEDED);
    assert_string_equal(tarry_test_result(t), "\"from a\"");
    assert_int_equal(tarry_test_replay_fn(t, order_v2_same), TARRY_TEST_SUCCEEDED);
    assert_string_equal(tarry_test_result(t), "\"v2\"");
    assert_int_equal(tarry_test_replay_fn(t, order_v3_renamed), TARRY_TEST_BLOCKED);
    assert_string_equal(tarry_test_error(t),
                        "nondeterminism at step 1: journal has step \"save\", code issued step \"persist\"");
    assert_int_equal(tarry_test_replay_fn(t, order_v4_longer), TARRY_TEST_WAITING);
    assert_non_null(
        strstr(tarry_test_error(t), "replays all 2 journal entries and then issues more commands"));
    assert_int_equal(v1_step_runs, 1);                  /* no replay ran the step again */
    assert_int_equal(tarry_test_executions(t, "a"), 1); /* nor started a child */
    assert_true(tarry_test_assert_journal(t, "call a -> ok", "step save -> ok", NULL)); /* unchanged */

    assert_int_equal(tarry_test_replay(t, "nope"), TARRY_TEST_ERROR);
    tarry_test_free(t);
}

/* ---- misuse, as the host reports it --------------------------------------------- */

static tarry_status nested(tarry_ctx *ctx, void *user)
{
    (void)user;
    assert_int_equal(tarry_sleep(ctx, "1s"), TARRY_EINVAL);
    return (tarry_status)tarry_set_result(ctx, "\"nested refused\"");
}

static tarry_status misuse(tarry_ctx *ctx, const char *args_json)
{
    tarry_call_opts bad_delay = {.delay = "1 dy"};
    tarry_handle h, forged;
    tarry_result r;

    (void)args_json;
    assert_int_equal(tarry_call(ctx, "no_such_function", NULL, NULL, NULL), TARRY_EINVAL);
    assert_int_equal(tarry_call(ctx, NULL, NULL, NULL, NULL), TARRY_EINVAL);
    assert_int_equal(tarry_call(ctx, "answer", "{not json", NULL, NULL), TARRY_EINVAL);
    assert_int_equal(tarry_call(ctx, "answer", NULL, &bad_delay, NULL), TARRY_EINVAL);
    assert_int_equal(tarry_sleep(ctx, "soon"), TARRY_EINVAL);
    assert_int_equal(tarry_sleep(ctx, NULL), TARRY_EINVAL);
    assert_int_equal(tarry_step(ctx, "s", NULL, NULL, NULL), TARRY_EINVAL);
    assert_int_equal(tarry_await(ctx, NULL, &r), TARRY_EINVAL);
    assert_int_equal(tarry_await_all(ctx, NULL, 1, &r), TARRY_EINVAL);
    assert_int_equal(tarry_log(ctx, (tarry_log_level)9, "x"), TARRY_EINVAL);
    /* misuse leaves the journal as it was: the next command is #0 */
    assert_int_equal(tarry_call(ctx, "answer", NULL, NULL, &h), TARRY_OK);
    assert_int_equal(h.seq, 0);
    forged = h;
    memcpy(forged.id, "test-exec-9999999999999999", 26);
    assert_int_equal(tarry_await(ctx, &forged, &r), TARRY_EINVAL);
    forged = h;
    forged.seq = 999999;
    assert_int_equal(tarry_await(ctx, &forged, &r), TARRY_EINVAL);
    assert_int_equal(tarry_step(ctx, "outer", nested, NULL, &r), TARRY_OK);
    assert_string_equal(r.value_json, "\"nested refused\"");
    return TARRY_OK;
}

static tarry_status ok_after_suspend(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "answer", NULL, NULL, &h));
    (void)tarry_await(ctx, &h, &r); /* ignores the TARRY_SUSPEND */
    return TARRY_OK;
}

static tarry_status suspend_from_nowhere(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    return TARRY_SUSPEND;
}

static tarry_status passes_misuse_on(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "no_such_function", NULL, NULL, NULL));
    return TARRY_OK;
}

static tarry_status strange_status(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    return (tarry_status)77;
}

/* A step's body reads the clock without a journal entry of its own: the step's result holds it. */
static tarry_status clock_body(tarry_ctx *ctx, void *user)
{
    char text[32];
    (void)user;
    snprintf(text, sizeof text, "%lld", (long long)tarry_now_ms(ctx));
    return (tarry_status)tarry_set_result(ctx, text);
}

static tarry_status clock_in_step(tarry_ctx *ctx, const char *args_json)
{
    tarry_result r;
    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "stamp", clock_body, NULL, &r));
    return (tarry_status)tarry_set_result(ctx, r.value_json);
}

static void test_clock_in_step(void **state)
{
    tarry_test *t = kit_new();
    char want[32];
    (void)state;

    snprintf(want, sizeof want, "%lld", (long long)TARRY_TEST_EPOCH_MS);
    assert_int_equal(tarry_test_run_fn(t, clock_in_step, NULL), TARRY_TEST_SUCCEEDED);
    assert_string_equal(tarry_test_result(t), want);
    assert_true(tarry_test_assert_journal(t, "step stamp -> ok", NULL));
    tarry_test_free(t);
}

static void test_misuse(void **state)
{
    tarry_test *t = kit_new();
    (void)state;

    tarry_test_stub(t, "answer", TARRY_OK, "42");
    assert_int_equal(tarry_test_run_fn(t, misuse, NULL), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_journal(t, "call answer -> ok", "step outer -> ok", NULL));
    assert_true(tarry_test_assert_log(
        t, "tarry_call: no loaded plugin exports a function named \"no_such_function\""));
    assert_true(tarry_test_assert_log(t, "tarry_call: the function name is NULL"));
    assert_true(tarry_test_assert_log(
        t, "tarry_call args: invalid JSON: expected a key (a string), found 'n' (byte 1)"));
    assert_true(tarry_test_assert_log(t, "opts->delay: unknown unit \"dy\""));
    assert_true(tarry_test_assert_log(t, "tarry_sleep: missing number before \"soon\""));
    assert_true(tarry_test_assert_log(t, "tarry_step: the step function is NULL"));
    assert_true(tarry_test_assert_log(t, "tarry_await: the handle is NULL"));
    assert_true(tarry_test_assert_log(t, "is not a child this execution created"));
    assert_true(tarry_test_assert_log(t, "sleep \"1s\" issued inside a step"));

    assert_int_equal(tarry_test_run_fn(t, ok_after_suspend, NULL), TARRY_TEST_FAILED);
    assert_string_equal(tarry_test_error(t),
                        "function returned TARRY_OK after a durable call returned TARRY_SUSPEND; "
                        "return TARRY_SUSPEND at once (TARRY_TRY does)");
    assert_int_equal(tarry_test_run_fn(t, suspend_from_nowhere, NULL), TARRY_TEST_FAILED);
    assert_string_equal(tarry_test_error(t),
                        "function returned TARRY_SUSPEND, but no durable call suspended");
    assert_int_equal(tarry_test_run_fn(t, passes_misuse_on, NULL), TARRY_TEST_FAILED);
    assert_non_null(
        strstr(tarry_test_error(t), "no loaded plugin exports a function named \"no_such_function\""));
    assert_int_equal(tarry_test_run_fn(t, strange_status, NULL), TARRY_TEST_FAILED);
    assert_non_null(strstr(tarry_test_error(t), "unexpected status 77"));
    tarry_test_free(t);
}

/* ---- the kit's own API ----------------------------------------------------------- */

static const tarry_function_def two_functions[] = {
    {.name = "same", .fn = hello},
    {.name = "same", .fn = hello},
};

static void test_setup_errors(void **state)
{
    tarry_test *t = kit_new();
    tarry_plugin_def def = {TARRY_PLUGIN_MAGIC,
                            TARRY_ABI_VERSION,
                            sizeof(tarry_plugin_def),
                            sizeof(void *),
                            sizeof(tarry_function_def),
                            "dups",
                            "1",
                            two_functions,
                            2,
                            TARRY_HEADER_REVISION};
    (void)state;

    fprintf(stderr, "(the next refusals are expected)\n");
    assert_int_equal(tarry_test_add_plugin(t, &def), TARRY_EINVAL);
    assert_non_null(strstr(tarry_test_error(t), "duplicate function name \"same\""));
    assert_int_equal(tarry_test_run(t, "same", NULL), TARRY_TEST_ERROR); /* a refused plugin adds nothing */
    def.function_count = 1;
    def.magic = 1;
    assert_int_equal(tarry_test_add_plugin(t, &def), TARRY_EINVAL);
    assert_non_null(strstr(tarry_test_error(t), "bad magic"));
    def.magic = TARRY_PLUGIN_MAGIC;
    def.abi_version = 99;
    assert_int_equal(tarry_test_add_plugin(t, &def), TARRY_EINVAL);
    assert_non_null(strstr(tarry_test_error(t), "built for tarry ABI 99"));
    def.abi_version = TARRY_ABI_VERSION;
    def.name = "bad name";
    assert_int_equal(tarry_test_add_plugin(t, &def), TARRY_EINVAL);
    def.name = "dups";
    assert_int_equal(tarry_test_add_plugin(t, &def), TARRY_OK);
    assert_int_equal(tarry_test_add_plugin(t, &def), TARRY_EINVAL); /* "same" exists now */

    assert_int_equal(tarry_test_add_function(t, "9lives", hello), TARRY_EINVAL);
    assert_int_equal(tarry_test_add_function(t, "x", NULL), TARRY_EINVAL);
    assert_int_equal(tarry_test_stub(t, "x", TARRY_OK, "{bad"), TARRY_EINVAL);
    assert_int_equal(tarry_test_stub(t, "x", TARRY_SUSPEND, NULL), TARRY_EINVAL);
    assert_int_equal(tarry_test_stub_fn(t, "x", NULL), TARRY_EINVAL);
    assert_int_equal(tarry_test_unstub(t, "x"), TARRY_EINVAL);
    assert_int_equal(tarry_test_run(t, "missing", NULL), TARRY_TEST_ERROR);
    assert_non_null(strstr(tarry_test_error(t), "no function named \"missing\""));
    assert_int_equal(tarry_test_run(t, "same", "{bad"), TARRY_TEST_ERROR);
    assert_int_equal(tarry_test_load(t, "/nonexistent/plugin.so"), TARRY_EINVAL);
    assert_non_null(strstr(tarry_test_error(t), "cannot load /nonexistent/plugin.so"));
    assert_int_equal(tarry_test_replay_fn(t, hello), TARRY_TEST_ERROR); /* no run to replay */

    /* A stub hides the real function; unstub brings it back. */
    assert_int_equal(tarry_test_stub(t, "same", TARRY_FAILED, "stubbed"), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "same", "1"), TARRY_TEST_FAILED);
    assert_string_equal(tarry_test_error(t), "stubbed");
    assert_int_equal(tarry_test_unstub(t, "same"), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "same", "1"), TARRY_TEST_SUCCEEDED);
    assert_string_equal(tarry_test_result(t), "{\"hello\":1}");
    tarry_test_free(t);
    tarry_test_free(NULL);
}

static tarry_status checks_args(tarry_ctx *ctx, const char *args_json)
{
    if (strcmp(args_json, "{\"user\":7}") != 0)
        return tarry_set_error(ctx, "unexpected args %s", args_json);
    return (tarry_status)tarry_set_result(ctx, "\"args ok\"");
}

static tarry_status delegate(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    TARRY_TRY(tarry_call(ctx, "lookup", args_json, NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    return (tarry_status)tarry_set_result(ctx, r.value_json);
}

static void test_stub_fn(void **state)
{
    tarry_test *t = kit_new();
    (void)state;

    tarry_test_add_function(t, "delegate", delegate);
    assert_int_equal(tarry_test_stub_fn(t, "lookup", checks_args), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "delegate", "{\"user\":7}"), TARRY_TEST_SUCCEEDED);
    assert_string_equal(tarry_test_result(t), "\"args ok\"");
    /* A failed child passed on with TARRY_TRY fails the parent with the child's reason. */
    assert_int_equal(tarry_test_run(t, "delegate", "{\"user\":8}"), TARRY_TEST_FAILED);
    assert_non_null(strstr(tarry_test_error(t), "child lookup (test-exec-"));
    assert_non_null(strstr(tarry_test_error(t), "failed: unexpected args {\"user\":8}"));
    tarry_test_free(t);
}

/* A child that blocks leaves its parent waiting; a workflow that never ends stops at the pass limit. */
static tarry_status forever(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    for (;;)
        TARRY_TRY(tarry_sleep(ctx, "1 minute"));
}

static tarry_status awaits_flaky(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "flaky", NULL, NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    return TARRY_OK;
}

static void test_waiting(void **state)
{
    tarry_test *t = kit_new();
    (void)state;

    flaky_passes = 0;
    tarry_test_add_function(t, "flaky", flaky);
    tarry_test_stub(t, "a", TARRY_OK, "1");
    tarry_test_stub(t, "b", TARRY_OK, "2");
    assert_int_equal(tarry_test_run_fn(t, awaits_flaky, NULL), TARRY_TEST_WAITING);
    assert_non_null(strstr(tarry_test_error(t), "on child flaky (test-exec-"));
    assert_non_null(strstr(tarry_test_error(t), "which is blocked: nondeterminism at step 0"));

    tarry_test_set_max_passes(t, 50);
    assert_int_equal(tarry_test_run_fn(t, forever, NULL), TARRY_TEST_WAITING);
    assert_non_null(strstr(tarry_test_error(t), "stopped after 50 passes"));
    assert_int_equal(tarry_test_journal_count(t), 50);
    tarry_test_free(t);
}

static void test_json_helpers(void **state)
{
    tarry_test *t = kit_new();
    const char *doc = " {\"a\": [1, {\"b\": \"x y\"}, null], \"c\": {\"d\": -1.5e3}, \"e\": \"\\\"q\\\"\"} ";
    (void)state;

    assert_true(tarry_test_json_valid(doc));
    /* Values come back as cJSON prints them: compact, numbers in its form. */
    assert_string_equal(tarry_test_json(t, doc, ""),
                        "{\"a\":[1,{\"b\":\"x y\"},null],\"c\":{\"d\":-1500},\"e\":\"\\\"q\\\"\"}");
    assert_string_equal(tarry_test_json(t, doc, "a.1.b"), "\"x y\"");
    assert_string_equal(tarry_test_json(t, doc, "a.2"), "null");
    assert_string_equal(tarry_test_json(t, doc, "c.d"), "-1500");
    assert_string_equal(tarry_test_json(t, doc, "e"), "\"\\\"q\\\"\"");
    assert_null(tarry_test_json(t, doc, "a.3"));
    assert_null(tarry_test_json(t, doc, "a.x"));
    assert_null(tarry_test_json(t, doc, "zz"));
    assert_null(tarry_test_json(t, "{bad", ""));
    /* assert_json compares values: spelling and key order do not matter. */
    assert_true(tarry_test_assert_json(t, doc, "c.d", "-1500"));
    assert_true(tarry_test_assert_json(t, doc, "c", "{\"d\": -1.5e3}"));
    assert_true(tarry_test_assert_json(t, "{\"x\": 1, \"y\": [2]}", "", "{\"y\":[2],\"x\":1}"));
    assert_int_equal(tarry_test_failures(t), 0);
    static const char *const valid[] = {"0",  "-0.5", "1e10",   "\"\\u00e9\"", "[]",
                                        "{}", "true", " null ", "[[[]]]"};
    /* Strict, as the host checks results and args (json_strict.h): what cJSON would take but
     * change or a strict reader refuse is refused too. */
    static const char *const invalid[] = {"",
                                          ".5",
                                          "+1",
                                          "\"\\x\"",
                                          "[1,]",
                                          "{\"a\"}",
                                          "{a:1}",
                                          "tru",
                                          "1 2",
                                          "[",
                                          "nul",
                                          "1e",
                                          "-",
                                          "01",
                                          "1.",
                                          "\"tab\there\"",
                                          "\"\\u0000\"",
                                          "\"\xc0\xaf\"",
                                          "1e999",
                                          "{\"a\":1,\"a\":2}",
                                          "9007199254740993",
                                          "\"\\ud800\""};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        assert_true(tarry_test_json_valid(valid[i]));
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        assert_false(tarry_test_json_valid(invalid[i]));
    tarry_test_free(t);
}

/* ---- real plugins through dlopen ------------------------------------------------ */

static void test_load_kit_demo(void **state)
{
    tarry_test *t = kit_new();
    (void)state;

    assert_int_equal(tarry_test_load(t, KIT_DEMO_SO), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "demo_pipeline", NULL), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_journal(t, "call demo_double -> ok", "sleep 1 hour -> ok", "now",
                                          "step note -> ok", NULL));
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "doubled", "42"));
    assert_int_equal(tarry_test_passes(t, "demo_double"), 1); /* the real child ran, once */
    assert_int_equal(tarry_test_now(t), TARRY_TEST_EPOCH_MS + HOUR_MS);
    {
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)(TARRY_TEST_EPOCH_MS + HOUR_MS));
        assert_true(tarry_test_assert_json(t, tarry_test_result(t), "woke_at", want));
    }
    assert_int_equal(tarry_test_step_runs(t, "note"), 1);
    /* The same .so twice: its names are taken. */
    assert_int_equal(tarry_test_load(t, KIT_DEMO_SO), TARRY_EINVAL);
    tarry_test_free(t);
}

/* ---- tarry_patched across an upgrade ----------------------------------------------- */

static tarry_status named_step(tarry_ctx *ctx, void *name)
{
    char result[64];
    snprintf(result, sizeof result, "{\"step\":\"%s\"}", (const char *)name);
    return (tarry_status)tarry_set_result(ctx, result);
}

/* v1: step a, a one-hour sleep, step b. */
static tarry_status renew_v1(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a", named_step, "a", NULL));
    tarry_log(ctx, TARRY_LOG_INFO, "before the sleep");
    TARRY_TRY(tarry_sleep(ctx, "1h"));
    TARRY_TRY(tarry_step(ctx, "b", named_step, "b", NULL));
    return (tarry_status)tarry_set_result(ctx, "{\"version\":1}");
}

/* v2: the same, and (patched) a call of "extra" between step a and the sleep. */
static tarry_status renew_v2(tarry_ctx *ctx, const char *args_json)
{
    char result[64];
    int patched;

    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a", named_step, "a", NULL));
    if ((patched = tarry_patched(ctx, "extra"))) {
        tarry_handle h;
        tarry_result r;
        TARRY_TRY(tarry_call(ctx, "extra", NULL, NULL, &h));
        TARRY_TRY(tarry_await(ctx, &h, &r));
    }
    tarry_log(ctx, TARRY_LOG_INFO, "before the sleep");
    TARRY_TRY(tarry_sleep(ctx, "1h"));
    TARRY_TRY(tarry_step(ctx, "b", named_step, "b", NULL));
    snprintf(result, sizeof result, "{\"version\":2,\"patched\":%d}", patched);
    return (tarry_status)tarry_set_result(ctx, result);
}

/* v3: step a renamed, incompatible with any journal of v1 or v2. */
static tarry_status renew_v3(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a_renamed", named_step, "a", NULL));
    return TARRY_OK;
}

static void test_patched_across_upgrade(void **state)
{
    tarry_test *t = kit_new();
    (void)state;

    tarry_test_stub(t, "extra", TARRY_OK, "\"extra done\"");
    tarry_test_add_function(t, "renew", renew_v1);

    /* New code, new execution: the patch is taken and its marker recorded. */
    assert_int_equal(tarry_test_run_fn(t, renew_v2, NULL), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_journal(t, "step a -> ok", "patch extra -> ok", "call extra -> ok",
                                          "sleep 1h -> ok", "step b -> ok", NULL));
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "patched", "1"));

    /* Started on v1, it sleeps; moved to v2 it replays the old journal: the
     * old path, no marker, no call, and it finishes. */
    assert_int_equal(tarry_test_start(t, "renew", NULL), TARRY_TEST_WAITING);
    assert_int_equal(tarry_test_now(t), TARRY_TEST_EPOCH_MS); /* the clock did not move */
    assert_non_null(strstr(tarry_test_error(t), "on sleep \"1h\" (#1)"));
    assert_true(tarry_test_assert_journal(t, "step a -> ok", "sleep 1h -> pending", NULL));
    assert_int_equal(tarry_test_upgrade_fn(t, renew_v2), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "", "{\"version\": 2, \"patched\": 0}"));
    assert_true(tarry_test_assert_journal(t, "step a -> ok", "sleep 1h -> ok", "step b -> ok", NULL));
    assert_int_equal(tarry_test_executions(t, "extra"), 0);
    assert_int_equal(tarry_test_step_runs(t, "a"), 1);
    /* v1 logged the line before the sleep; v2's replay of that spot adds nothing. */
    assert_int_equal(tarry_test_log_count(t), 1);

    /* An incompatible upgrade blocks; upgrading again, to compatible code, resumes. */
    assert_int_equal(tarry_test_start(t, "renew", NULL), TARRY_TEST_WAITING);
    assert_int_equal(tarry_test_upgrade_fn(t, renew_v3), TARRY_TEST_BLOCKED);
    assert_string_equal(tarry_test_error(t),
                        "nondeterminism at step 0: journal has step \"a\", code issued step \"a_renamed\"");
    assert_int_equal(tarry_test_upgrade_fn(t, renew_v2), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "patched", "0"));

    /* A finished execution has nothing to move. */
    fprintf(stderr, "(the next refusal is expected)\n");
    assert_int_equal(tarry_test_upgrade_fn(t, renew_v2), TARRY_TEST_ERROR);
    assert_non_null(strstr(tarry_test_error(t), "already succeeded"));
    assert_int_equal(tarry_test_failures(t), 0);
    tarry_test_free(t);
}

/* ---- log lines, once ---------------------------------------------------------------- */

static tarry_status chatty_body(tarry_ctx *ctx, void *user)
{
    (void)user;
    tarry_log(ctx, TARRY_LOG_DEBUG, "in the step's body");
    return (tarry_status)tarry_set_result(ctx, "1");
}

/* Three passes (await, sleep), a line at every stage, and a misuse. */
static tarry_status chatty(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    tarry_log(ctx, TARRY_LOG_INFO, "start");
    assert_int_equal(tarry_sleep(ctx, "soon"), TARRY_EINVAL);
    TARRY_TRY(tarry_call(ctx, "answer", NULL, NULL, &h));
    tarry_log(ctx, TARRY_LOG_INFO, "called");
    TARRY_TRY(tarry_await(ctx, &h, &r));
    tarry_log(ctx, TARRY_LOG_WARN, "awaited %s", r.value_json);
    TARRY_TRY(tarry_step(ctx, "s", chatty_body, NULL, NULL));
    tarry_log(ctx, TARRY_LOG_INFO, "after the step");
    TARRY_TRY(tarry_sleep(ctx, "1m"));
    tarry_log(ctx, TARRY_LOG_INFO, "woke");
    return TARRY_OK;
}

static void test_log_lines_once(void **state)
{
    tarry_test *t = kit_new();
    static const char *const want[] = {"start",
                                       "tarry_sleep: missing number before \"soon\" in \"soon\"",
                                       "called",
                                       "awaited 42",
                                       "in the step's body",
                                       "after the step",
                                       "woke"};
    (void)state;

    tarry_test_stub(t, "answer", TARRY_OK, "42");
    assert_int_equal(tarry_test_run_fn(t, chatty, NULL), TARRY_TEST_SUCCEEDED);
    assert_int_equal(tarry_test_passes(t, NULL), 3);
    /* Each pass replays the lines before its new work: none is kept twice. */
    assert_int_equal(tarry_test_log_count(t), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_string_equal(tarry_test_log_at(t, i)->text, want[i]);
    assert_int_equal(tarry_test_log_at(t, 4)->level, TARRY_LOG_DEBUG);
    /* A line's time is when it was first logged: the step ran in pass 2, "woke" after the minute. */
    assert_int_equal(tarry_test_log_at(t, 6)->time_ms, TARRY_TEST_EPOCH_MS + 60000);
    tarry_test_free(t);
}

/* ---- descriptors ---------------------------------------------------------------------- */

/* The first layout of ABI 1: it ended before header_revision (tarry.h). */
struct first_layout_def {
    uint32_t magic, abi_version, struct_size, pointer_size, function_size;
    const char *name, *version;
    const tarry_function_def *functions;
    size_t function_count;
};

/* Calls "answer" with a delay: a revision-1 plugin's opts end before `delay`, so it is not read. */
static tarry_status old_caller(tarry_ctx *ctx, const char *args_json)
{
    tarry_call_opts later = {.delay = "1 day"};
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "answer", NULL, &later, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    return (tarry_status)tarry_set_result(ctx, r.value_json);
}

static const tarry_function_def old_functions[] = {{.name = "old_caller", .fn = old_caller}};

static void test_first_layout_descriptor(void **state)
{
    tarry_test *t = kit_new();
    struct first_layout_def def = {TARRY_PLUGIN_MAGIC,
                                   TARRY_ABI_VERSION,
                                   sizeof def,
                                   sizeof(void *),
                                   sizeof(tarry_function_def),
                                   "old",
                                   "0.1.0",
                                   old_functions,
                                   1};
    (void)state;

    assert_true(sizeof def < sizeof(tarry_plugin_def));
    assert_int_equal(tarry_test_add_plugin(t, (const tarry_plugin_def *)(const void *)&def), TARRY_OK);
    tarry_test_stub(t, "answer", TARRY_OK, "7");
    assert_int_equal(tarry_test_run(t, "old_caller", NULL), TARRY_TEST_SUCCEEDED);
    /* Revision 1: no delay, the child ran at once. */
    assert_true(tarry_test_assert_journal(t, "call answer -> ok", NULL));
    assert_null(tarry_test_journal_at(t, 0)->delay);
    assert_int_equal(tarry_test_now(t), TARRY_TEST_EPOCH_MS);

    /* Anything smaller than that first layout is refused. */
    fprintf(stderr, "(the next refusal is expected)\n");
    def.struct_size = (uint32_t)offsetof(struct first_layout_def, function_count);
    def.name = "older";
    assert_int_equal(tarry_test_add_plugin(t, (const tarry_plugin_def *)(const void *)&def), TARRY_EINVAL);
    assert_non_null(strstr(tarry_test_error(t), "descriptor too small"));
    tarry_test_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_function),
        cmocka_unit_test(test_result_must_be_json),
        cmocka_unit_test(test_failure),
        cmocka_unit_test(test_workflow_with_stubs),
        cmocka_unit_test(test_assertions_fail),
        cmocka_unit_test(test_call_settles_in_a_later_pass),
        cmocka_unit_test(test_virtual_clock),
        cmocka_unit_test(test_timers_in_order),
        cmocka_unit_test(test_nondeterminism_blocks),
        cmocka_unit_test(test_replay_checks_new_code),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_clock_in_step),
        cmocka_unit_test(test_setup_errors),
        cmocka_unit_test(test_stub_fn),
        cmocka_unit_test(test_waiting),
        cmocka_unit_test(test_json_helpers),
        cmocka_unit_test(test_load_kit_demo),
        cmocka_unit_test(test_patched_across_upgrade),
        cmocka_unit_test(test_log_lines_once),
        cmocka_unit_test(test_first_layout_descriptor),
    };
    return cmocka_run_group_tests_name("kit", tests, NULL, NULL);
}
