/*
 * test_onboarding.c - the reference workflow (plugins/onboarding) tested
 * through the plugin test kit, as a plugin author would test it: no host,
 * children stubbed, the one-day delay skipped by the virtual clock.
 *
 * The plugin's source is linked into this test (its `tarry_plugin`
 * descriptor is added with tarry_test_add_plugin); the last test also loads
 * the built onboarding.so with dlopen and runs it with its real children.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tarry_test.h"

#define DAY_MS INT64_C(86400000)
#define ANN "{\"user_id\": 42, \"email\": \"ann@example.com\"}"

extern const tarry_plugin_def tarry_plugin; /* plugins/onboarding/onboarding.c */

/* A kit with the onboarding plugin and its three children stubbed as succeeding. */
static tarry_test *onboarding_kit(void)
{
    tarry_test *t = tarry_test_new();

    assert_non_null(t);
    assert_int_equal(tarry_test_add_plugin(t, &tarry_plugin), TARRY_OK);
    assert_int_equal(
        tarry_test_stub(t, "send_welcome_email", TARRY_OK, "{\"sent\":true,\"to\":\"ann@example.com\"}"),
        TARRY_OK);
    assert_int_equal(tarry_test_stub(t, "import_contacts_from_hubspot", TARRY_OK, "{\"imported\":3}"),
                     TARRY_OK);
    assert_int_equal(tarry_test_stub(t, "send_tutorials_email_if_no_actions", TARRY_OK, "{\"sent\":true}"),
                     TARRY_OK);
    return t;
}

/* DESIGN.md's story: both emails in parallel, then the step, then a tutorial one day later. */
static void test_onboarding_happy_path(void **state)
{
    tarry_test *t = onboarding_kit();
    const tarry_test_entry *tutorial;
    const char *result;
    (void)state;

    assert_int_equal(tarry_test_run(t, "user_onboarding", ANN), TARRY_TEST_SUCCEEDED);
    printf("journal of user_onboarding:\n%s", tarry_test_journal_text(t));

    /* The journal, in order: the two children, the step, the delayed tutorial email. */
    assert_true(tarry_test_assert_journal(
        t, "call send_welcome_email -> ok", "call import_contacts_from_hubspot -> ok",
        "step mark_onboarded -> ok", "call send_tutorials_email_if_no_actions after 1 day -> ok", NULL));
    assert_true(tarry_test_assert_calls(t, "send_welcome_email", 1));
    assert_true(tarry_test_assert_calls(t, "send_tutorials_email_if_no_actions", 1));
    /* The step ran once although the workflow ran twice (suspended at await_all, then resumed). */
    assert_true(tarry_test_assert_steps(t, "mark_onboarded", 1));
    assert_int_equal(tarry_test_passes(t, NULL), 2);
    assert_true(tarry_test_assert_log(t, "effect: mark_onboarded user=42"));

    /* Each child ran once, with the user as its arguments. */
    assert_int_equal(tarry_test_executions(t, "send_welcome_email"), 1);
    assert_int_equal(tarry_test_executions(t, "import_contacts_from_hubspot"), 1);
    assert_int_equal(tarry_test_executions(t, "send_tutorials_email_if_no_actions"), 1);
    assert_string_equal(tarry_test_journal_at(t, 0)->args_json, ANN);

    /* The day: the tutorial email was started with a 1-day delay and ran a
     * (virtual) day later; the test did not wait for it. */
    tutorial = tarry_test_journal_at(t, 3);
    assert_true(tutorial->detached);
    assert_int_equal(tutorial->delay_ms, DAY_MS);
    assert_int_equal(tutorial->issued_at, TARRY_TEST_EPOCH_MS);
    assert_int_equal(tutorial->settled_at, TARRY_TEST_EPOCH_MS + DAY_MS);
    assert_int_equal(tarry_test_now(t), TARRY_TEST_EPOCH_MS + DAY_MS);

    result = tarry_test_result(t);
    assert_true(tarry_test_assert_json(t, result, "onboarded", "true"));
    assert_true(tarry_test_assert_json(t, result, "user_id", "42"));
    assert_true(tarry_test_assert_json(
        t, result, "welcome_email",
        "{\"status\": \"succeeded\", \"result\": {\"sent\": true, \"to\": \"ann@example.com\"}}"));
    assert_true(tarry_test_assert_json(t, result, "contacts",
                                       "{\"status\": \"succeeded\", \"result\": {\"imported\": 3}}"));
    assert_true(tarry_test_assert_json(t, result, "tutorials_email", "\"in 1 day\""));

    /* The workflow is deterministic: its own code replays the finished journal. */
    assert_int_equal(tarry_test_replay(t, "user_onboarding"), TARRY_TEST_SUCCEEDED);
    assert_int_equal(tarry_test_step_runs(t, "mark_onboarded"), 1);
    assert_int_equal(tarry_test_failures(t), 0);
    tarry_test_free(t);
}

/* allSettled: a failed child is reported in the result, the sibling's value is intact, the rest goes on. */
static void test_onboarding_failed_child(void **state)
{
    tarry_test *t = onboarding_kit();
    const char *result;
    (void)state;

    assert_int_equal(tarry_test_stub(t, "import_contacts_from_hubspot", TARRY_FAILED, "HubSpot API: 503"),
                     TARRY_OK);
    assert_int_equal(tarry_test_run(t, "user_onboarding", ANN), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_journal(
        t, "call send_welcome_email -> ok", "call import_contacts_from_hubspot -> failed",
        "step mark_onboarded -> ok", "call send_tutorials_email_if_no_actions after 1 day", NULL));
    result = tarry_test_result(t);
    assert_true(tarry_test_assert_json(t, result, "contacts",
                                       "{\"status\": \"failed\", \"error\": \"HubSpot API: 503\"}"));
    assert_true(tarry_test_assert_json(t, result, "welcome_email.status", "\"succeeded\""));
    assert_true(tarry_test_assert_json(t, result, "welcome_email.result",
                                       "{\"sent\": true, \"to\": \"ann@example.com\"}"));
    assert_true(tarry_test_assert_steps(t, "mark_onboarded", 1));
    assert_int_equal(tarry_test_failures(t), 0);
    tarry_test_free(t);
}

/* A cancelled child is reported as cancelled, with its reason. */
static void test_onboarding_cancelled_child(void **state)
{
    tarry_test *t = onboarding_kit();
    (void)state;

    assert_int_equal(tarry_test_stub(t, "send_welcome_email", TARRY_CANCELLED, "cancelled by an operator"),
                     TARRY_OK);
    assert_int_equal(tarry_test_run(t, "user_onboarding", ANN), TARRY_TEST_SUCCEEDED);
    assert_true(
        tarry_test_assert_json(t, tarry_test_result(t), "welcome_email",
                               "{\"status\": \"cancelled\", \"error\": \"cancelled by an operator\"}"));
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "contacts.result.imported", "3"));
    tarry_test_free(t);
}

/* Bad args fail before any child exists, naming the field. */
static void test_onboarding_bad_args(void **state)
{
    tarry_test *t = onboarding_kit();
    (void)state;

    assert_int_equal(tarry_test_run(t, "user_onboarding", "{\"user_id\": -1, \"email\": \"x@y\"}"),
                     TARRY_TEST_FAILED);
    assert_string_equal(tarry_test_error(t), "user_onboarding: args.user_id must be a non-negative integer");
    assert_int_equal(tarry_test_journal_count(t), 0);
    assert_int_equal(tarry_test_executions(t, "send_welcome_email"), 0);
    tarry_test_free(t);
}

/* The order of the parallel calls swapped: a deploy that would block running onboardings. */
static tarry_status onboarding_reordered(tarry_ctx *ctx, const char *user_json)
{
    tarry_handle h[2];
    tarry_result r[2];

    TARRY_TRY(tarry_call(ctx, "import_contacts_from_hubspot", user_json, NULL, &h[0]));
    TARRY_TRY(tarry_call(ctx, "send_welcome_email", user_json, NULL, &h[1]));
    TARRY_TRY(tarry_await_all(ctx, h, 2, r));
    return TARRY_OK;
}

static void test_onboarding_upgrade_check(void **state)
{
    tarry_test *t = onboarding_kit();
    (void)state;

    assert_int_equal(tarry_test_run(t, "user_onboarding", ANN), TARRY_TEST_SUCCEEDED);
    assert_int_equal(tarry_test_replay_fn(t, onboarding_reordered), TARRY_TEST_BLOCKED);
    assert_string_equal(tarry_test_error(t),
                        "nondeterminism at step 0: journal has call \"send_welcome_email\", "
                        "code issued call \"import_contacts_from_hubspot\"");
    tarry_test_free(t);
}

static int count_lines(const char *path, const char *prefix)
{
    char line[512];
    int n = 0;
    FILE *f = fopen(path, "r");

    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        n += strncmp(line, prefix, strlen(prefix)) == 0;
    fclose(f);
    return n;
}

/* The built onboarding.so, loaded with dlopen, with its real children: every effect happens once. */
static void test_onboarding_so_real_children(void **state)
{
    tarry_test *t = tarry_test_new();
    char dir[] = "/tmp/tarry-kit-onboarding-XXXXXX", effects[128], args[256];
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(effects, sizeof effects, "%s/effects.log", dir);
    snprintf(args, sizeof args, "{\"user_id\": 42, \"email\": \"ann@example.com\", \"effects\": \"%s\"}",
             effects);
    assert_int_equal(tarry_test_load(t, ONBOARDING_SO), TARRY_OK);
    assert_int_equal(tarry_test_run(t, "user_onboarding", args), TARRY_TEST_SUCCEEDED);
    assert_int_equal(count_lines(effects, "welcome_email user=42 "), 1);
    assert_int_equal(count_lines(effects, "contacts_imported user=42 count=3 "), 1);
    assert_int_equal(count_lines(effects, "mark_onboarded user=42 "), 1);
    assert_int_equal(count_lines(effects, "tutorials_email user=42 "), 1);
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "contacts.result.imported", "3"));
    assert_true(tarry_test_assert_order(t, "step mark_onboarded",
                                        "call send_tutorials_email_if_no_actions after 1 day -> ok", NULL));

    /* The user did something during the day: the tutorial email is skipped. */
    {
        FILE *f = fopen(effects, "a");
        assert_non_null(f);
        fputs("user_action user=42\n", f);
        fclose(f);
    }
    assert_int_equal(tarry_test_run(t, "user_onboarding", args), TARRY_TEST_SUCCEEDED);
    assert_non_null(strstr(tarry_test_journal_at(t, 3)->value_json, "\"reason\":\"the user was active\""));
    assert_int_equal(count_lines(effects, "tutorials_email user=42 "), 1);

    unlink(effects);
    rmdir(dir);
    tarry_test_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onboarding_happy_path),      cmocka_unit_test(test_onboarding_failed_child),
        cmocka_unit_test(test_onboarding_cancelled_child), cmocka_unit_test(test_onboarding_bad_args),
        cmocka_unit_test(test_onboarding_upgrade_check),   cmocka_unit_test(test_onboarding_so_real_children),
    };
    return cmocka_run_group_tests_name("kit_onboarding", tests, NULL, NULL);
}
