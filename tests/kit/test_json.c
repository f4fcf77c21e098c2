/*
 * test_json.c - the JSON helpers of tarry.h (tarry_json_*, tarry_json,
 * tarry_last_error) through the test kit, on the jsonh test plugin
 * (tests/plugins/jsonh.c), which links no JSON library: every reader's
 * value and every error path, the builder's conversions and refusals,
 * reasons naming the args / a child's result, and a step that passes a
 * misuse code on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tarry_test.h"

static tarry_test *kit(void)
{
    tarry_test *t = tarry_test_new();
    assert_non_null(t);
    assert_int_equal(tarry_test_load(t, JSONH_SO), TARRY_OK);
    return t;
}

/* Run `function` with `args`; it must succeed and `path` of the result must equal `want` (JSON). */
static void expect(tarry_test *t, const char *function, const char *args, const char *path, const char *want)
{
    if (tarry_test_run(t, function, args) != TARRY_TEST_SUCCEEDED)
        fail_msg("%s %s: %s", function, args, tarry_test_error(t) ? tarry_test_error(t) : "?");
    if (!tarry_test_assert_json(t, tarry_test_result(t), path, want))
        fail_msg("%s %s: %s is %s, want %s", function, args, path,
                 tarry_test_json(t, tarry_test_result(t), path), want);
}

static void test_readers(void **state)
{
    tarry_test *t = kit();
    (void)state;

    const char *doc = "\"d\":{\"user\":{\"email\":\"ann@example.com\",\"id\":42,\"score\":-1.5,\"vip\":true,"
                      "\"tags\":[\"a\",{\"b\":null}],\"big\":9007199254740992,\"half\":2.5,\"none\":null}}";
    char args[512];
    static const struct {
        const char *kind, *path, *value;
    } ok[] = {
        {"str", "d.user.email", "\"ann@example.com\""},
        {"int", "d.user.id", "42"},
        {"int", "d.user.big", "9007199254740992"},
        {"num", "d.user.score", "-1.5"},
        {"bool", "d.user.vip", "true"},
        {"raw", "d.user.tags", "[\"a\",{\"b\":null}]"},
        {"raw", "d.user.tags.1.b", "null"},
        {"str", "d.user.tags.0", "\"a\""},
        {"has", "d.user.email", "null"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(args, sizeof args, "{\"kind\":\"%s\",\"path\":\"%s\",%s}", ok[i].kind, ok[i].path, doc);
        expect(t, "jsonh_probe", args, "value", ok[i].value);
        expect(t, "jsonh_probe", args, "error", "\"\"");
        expect(t, "jsonh_probe", args, "rc", strcmp(ok[i].kind, "has") == 0 ? "1" : "0");
    }
    /* Every error path: the reason names the text (args), the path, and what is wrong. */
    static const struct {
        const char *kind, *path, *rc, *error;
    } bad[] = {
        {"str", "d.user.mail", "-30700", "args: d.user.mail: missing"},
        {"str", "d.nobody.email", "-30700", "args: d.nobody.email: missing"},
        {"int", "d.user.email", "-30700", "args: d.user.email: is a string, not a number"},
        {"int", "d.user.half", "-30700", "args: d.user.half: is 2.5, not an integer"},
        {"num", "d.user.vip", "-30700", "args: d.user.vip: is a boolean, not a number"},
        {"bool", "d.user.none", "-30700", "args: d.user.none: is null, not a boolean"},
        {"str", "d.user.id", "-30700", "args: d.user.id: is a number, not a string"},
        {"str", "d.user.email.x", "-30700", "args: d.user.email: is a string, not an object or an array"},
        {"str", "d.user.tags.x", "-30700", "args: d.user.tags: is an array, not an object (give an index)"},
        {"raw", "d.user.tags.2", "-30700", "args: d.user.tags.2: missing (d.user.tags has 2 elements)"},
        {"str", "d..x", "-30700", "tarry_json_str: bad path (an empty or too long segment)"},
        {"has", "d.user.none", "0", ""},
        {"has", "d.user.nothing", "0", ""}, /* absent is an answer, not a failure */
        {"has", "d.user.id.x", "-30700", "args: d.user.id: is a number, not an object or an array"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[300];
        snprintf(args, sizeof args, "{\"kind\":\"%s\",\"path\":\"%s\",%s}", bad[i].kind, bad[i].path, doc);
        snprintf(want, sizeof want, "\"%s\"", bad[i].error);
        expect(t, "jsonh_probe", args, "rc", bad[i].rc);
        expect(t, "jsonh_probe", args, "error", want);
        expect(t, "jsonh_probe", args, "value", "null");
    }
    /* A text that is not JSON, or not strict JSON, is refused with the byte; no "args:" label. */
    expect(t, "jsonh_probe_text", "{\"kind\":\"raw\",\"path\":\"\",\"text\":\"{\\\"a\\\":1,\\\"a\\\":2}\"}",
           "error", "\"not valid JSON: a: duplicate key (an object may name a key once) (byte 7)\"");
    expect(t, "jsonh_probe_text", "{\"kind\":\"str\",\"path\":\"a\",\"text\":\"{\\\"a\\\":\\\"q\\\"}\"}",
           "value", "\"q\"");
    /* The reader's own failure in the function, passed on: the function fails with it. */
    assert_int_equal(tarry_test_run(t, "jsonh_probe", "{\"path\":\"x\"}"), TARRY_TEST_FAILED);
    assert_string_equal(tarry_test_error(t), "jsonh_probe: args: kind: missing");
    tarry_test_free(t);
}

static void test_builder(void **state)
{
    tarry_test *t = kit();
    (void)state;

    expect(t, "jsonh_build", "{\"mode\":\"ok\"}", "built",
           "{\"i\":-1,\"l\":2,\"ll\":-9007199254740992,\"u\":4,\"z\":5,\"g\":0.1,\"b\":[true,false],"
           "\"s\":\"x\",\"n\":null,\"j\":[1,{\"a\":true}],\"jn\":null,\"pct\":\"100%\"}");
    expect(t, "jsonh_build", "{\"mode\":\"escape\"}", "built.s",
           "\"quote \\\" backslash \\\\ newline \\n tab \\t bell \\u0007 \\u00e9\"");
    static const struct {
        const char *mode, *error;
    } bad[] = {
        {"conversion", "tarry_json: unknown conversion \\\"%5\\\" at byte 5 of the format"},
        {"raw", "tarry_json: argument 1 (%j) is not valid JSON: "},
        {"nan", "which JSON cannot hold"},
        {"shape",
         "tarry_json: the text built from \\\"{\\\"x\\\":%d,}\\\" is not valid JSON: expected a key"},
        {"utf8", "tarry_json: the text built from \\\"%s\\\" is not valid JSON: invalid UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char args[64];
        const char *error;
        snprintf(args, sizeof args, "{\"mode\":\"%s\"}", bad[i].mode);
        expect(t, "jsonh_build", args, "built", "null");
        error = tarry_test_json(t, tarry_test_result(t), "error");
        if (!error || !strstr(error, bad[i].error))
            fail_msg("%s: error %s, want %s", bad[i].mode, error ? error : "(none)", bad[i].error);
        /* A builder error is a misuse: logged with the execution. */
        assert_true(tarry_test_assert_log(t, "tarry_json: "));
    }
    /* tarry_set_result(ctx, NULL) after a refused build: the function fails with the builder's reason. */
    assert_int_equal(tarry_test_run(t, "jsonh_build", "{\"mode\":\"set_null\"}"), TARRY_TEST_FAILED);
    assert_non_null(strstr(tarry_test_error(t), "tarry_json: argument 1 (%j) is not valid JSON"));
    assert_int_equal(tarry_test_failures(t), 0);
    tarry_test_free(t);
}

static void test_reasons(void **state)
{
    tarry_test *t = kit();
    (void)state;

    /* Optional field absent and present, through a real child and its result. */
    expect(t, "jsonh_user", "{\"user\":{\"id\":7,\"email\":\"a\\\"b\"}}", "",
           "{\"id\":7,\"to\":\"a\\\"b\",\"note\":null}");
    expect(t, "jsonh_user", "{\"user\":{\"id\":7,\"email\":\"e\"},\"note\":\"hi\"}", "note", "\"hi\"");
    /* TARRY_TRY passes the reader's code on: the function fails with its reason. */
    assert_int_equal(tarry_test_run(t, "jsonh_user", "{\"user\":{\"email\":\"e\"}}"), TARRY_TEST_FAILED);
    assert_string_equal(tarry_test_error(t), "args: user.id: missing");
    assert_int_equal(tarry_test_run(t, "jsonh_user", "{\"user\":{\"id\":\"7\",\"email\":\"e\"}}"),
                     TARRY_TEST_FAILED);
    assert_string_equal(tarry_test_error(t), "args: user.id: is a string, not a number");
    assert_int_equal(tarry_test_run(t, "jsonh_user", "{\"user\":{\"id\":7}}"), TARRY_TEST_FAILED);
    assert_string_equal(tarry_test_error(t), "args: user.email: missing");

    /* The workflow reads its child's result; a missing field there names the child. */
    expect(t, "jsonh_flow", "{\"user\":{\"id\":1,\"email\":\"z@x\"}}", "", "{\"to\":\"z@x\",\"step\":true}");
    assert_true(tarry_test_assert_log(t, "child reason: result of child jsonh_user: absent: missing"));
    /* A step body that passes a misuse code on: the step's failure says which code and why. */
    assert_int_equal(
        tarry_test_run(t, "jsonh_flow", "{\"user\":{\"id\":1,\"email\":\"z@x\"},\"bad_step\":true}"),
        TARRY_TEST_FAILED);
    assert_string_equal(
        tarry_test_error(t),
        "step \"outer\" failed: step \"outer\" returned TARRY_EINVAL: args: missing: missing");
    /* A misuse in the function itself: its reason, not a bare -30700. */
    assert_int_equal(tarry_test_run(t, "jsonh_bad_call", NULL), TARRY_TEST_FAILED);
    assert_non_null(strstr(tarry_test_error(t), "tarry_call args: invalid JSON"));
    assert_non_null(strstr(tarry_test_error(t), "(byte 1)"));
    assert_int_equal(tarry_test_failures(t), 0);
    tarry_test_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers),
        cmocka_unit_test(test_builder),
        cmocka_unit_test(test_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
