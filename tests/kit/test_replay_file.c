/*
 * test_replay_file.c - tarry_test_load_export / tarry_test_replay_file on
 * files written here in the host's export format (docs/API.md, "tarry
 * export"): a build that goes past the journal is told which command it
 * would issue next, a recorded step result is what the code reads back,
 * and files the kit cannot take are refused with a reason. The export of a
 * real host run is tests/integration/test_kit_replay.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tarry_test.h"

/* step "a", sleep "1h", step "b"; returns {"a": A} with A as recorded. */
static tarry_status steps_body(tarry_ctx *ctx, void *name)
{
    (void)name;
    return (tarry_status)tarry_set_result(ctx, "{\"fresh\":true}");
}

static tarry_status nd(tarry_ctx *ctx, const char *args_json)
{
    tarry_result a, b;
    char out[256];

    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a", steps_body, NULL, &a));
    TARRY_TRY(tarry_sleep(ctx, "1h"));
    TARRY_TRY(tarry_step(ctx, "b", steps_body, NULL, &b));
    snprintf(out, sizeof out, "{\"a\":%s}", a.value_json);
    return (tarry_status)tarry_set_result(ctx, out);
}

static char path[64];

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    int fd;
    (void)state;
    snprintf(path, sizeof path, "/tmp/tarry-replay-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

#define JOURNAL_A_SLEEP                                                                                      \
    "[{\"seq\":0,\"kind\":\"step\",\"name\":\"a\",\"status\":\"succeeded\",\"result\":{\"recorded\":1},"     \
    "\"started_at\":\"2026-01-01T00:00:00.000Z\",\"finished_at\":\"2026-01-01T00:00:00.001Z\"},"             \
    "{\"seq\":1,\"kind\":\"sleep\",\"name\":\"1h\",\"status\":\"succeeded\","                                \
    "\"started_at\":\"2026-01-01T00:00:00.001Z\",\"finished_at\":\"2026-01-01T01:00:00.001Z\","              \
    "\"wake_at\":\"2026-01-01T01:00:00.001Z\"}]"

static void went_past_names_the_next_command(void **state)
{
    tarry_test *t = tarry_test_new();
    const tarry_test_verdict *v;

    (void)state;
    write_file(
        "{\"format\":\"tarry-export\",\"version\":1,\"execution\":{\"id\":\"01JDQ8Z6V8M3X4KQ2T9W7R5B1D\","
        "\"function\":\"nd\",\"state\":\"waiting\",\"attempts\":2,\"args\":{},\"journal\":" JOURNAL_A_SLEEP
        "}}");
    assert_int_equal(tarry_test_add_function(t, "nd", nd), TARRY_OK);
    assert_int_equal(tarry_test_replay_file(t, path, NULL), TARRY_TEST_WAITING);
    v = tarry_test_verdict_of(t);
    assert_true(v->fits);
    assert_int_equal(v->position, 2);
    assert_string_equal(v->next_command, "step \"b\"");
    assert_null(v->code_issued);
    /* Nothing ran: step b's body did not, and the journal is the export's. */
    assert_int_equal(tarry_test_step_runs(t, "b"), 0);
    assert_true(tarry_test_assert_journal(t, "step a -> ok", "sleep 1h -> ok", NULL));
    assert_string_equal(tarry_test_journal_at(t, 0)->value_json, "{\"recorded\":1}");
    tarry_test_free(t);
}

static void bare_execution_object_is_taken(void **state)
{
    tarry_test *t = tarry_test_new();

    (void)state;
    /* tarry show ID --json: no envelope; the journal is complete, so the code ends with the recorded a. */
    write_file(
        "{\"id\":\"01JDQ8Z6V8M3X4KQ2T9W7R5B1D\",\"function\":\"nd\",\"state\":\"succeeded\",\"args\":null,"
        "\"journal\":[{\"seq\":0,\"kind\":\"step\",\"name\":\"a\",\"status\":\"succeeded\",\"result\":{"
        "\"recorded\":1}},{\"seq\":1,\"kind\":\"sleep\",\"name\":\"1h\",\"status\":\"succeeded\"},{\"seq\":"
        "2,\"kind\":\"step\",\"name\":\"b\",\"status\":\"succeeded\",\"result\":null}]}");
    assert_int_equal(tarry_test_add_function(t, "nd", nd), TARRY_OK);
    assert_int_equal(tarry_test_replay_file(t, path, "nd"), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_json(t, tarry_test_result(t), "a.recorded", "1"));
    assert_true(tarry_test_verdict_of(t)->fits);
    assert_null(tarry_test_verdict_of(t)->next_command);
    tarry_test_free(t);
}

static void unusable_files_are_refused(void **state)
{
    tarry_test *t = tarry_test_new();

    (void)state;
    assert_int_equal(tarry_test_add_function(t, "nd", nd), TARRY_OK);
    write_file("{\"format\":\"tarry-export\",\"version\":2,\"execution\":{}}");
    assert_int_equal(tarry_test_replay_file(t, path, NULL), TARRY_TEST_ERROR);
    assert_non_null(strstr(tarry_test_error(t), "version 1..1"));
    write_file(
        "{\"id\":\"x\",\"function\":\"nd\",\"journal\":[{\"seq\":0,\"kind\":\"dance\",\"status\":\"ok\"}]}");
    assert_int_equal(tarry_test_load_export(t, path), TARRY_EINVAL);
    assert_non_null(strstr(tarry_test_error(t), "journal entry 0"));
    assert_int_equal(tarry_test_load_export(t, "/nonexistent/run.json"), TARRY_EINVAL);
    assert_non_null(strstr(tarry_test_error(t), "cannot open it"));
    assert_int_equal(tarry_test_verdict_of(t)->position, -1);
    tarry_test_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(went_past_names_the_next_command, setup, teardown),
        cmocka_unit_test_setup_teardown(bare_execution_object_is_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(unusable_files_are_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
