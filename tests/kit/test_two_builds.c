/*
 * test_two_builds.c - two builds of one plugin in one test program, no
 * dlopen of the test's own: one kit per build (tarry_test_load of
 * wf_nd_v1.so in one, wf_nd_v2.so in the other; the kit opens each
 * RTLD_LOCAL, so the same function names do not meet), both replaying the
 * same exported run. v1 fits it; v2 (variant "kind") issues a step where
 * the journal has the sleep.
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

static const char run_json[] =
    "{\"format\":\"tarry-export\",\"version\":1,\"execution\":{\"id\":\"01JDQ8Z6V8M3X4KQ2T9W7R5B1D\","
    "\"function\":\"nd\",\"state\":\"waiting\",\"attempts\":1,\"args\":{\"variant\":\"kind\"},\"journal\":["
    "{\"seq\":0,\"kind\":\"step\",\"name\":\"a\",\"status\":\"succeeded\",\"result\":{\"step\":\"a\"},"
    "\"started_at\":\"2026-01-01T00:00:00.000Z\",\"finished_at\":\"2026-01-01T00:00:00.001Z\"},"
    "{\"seq\":1,\"kind\":\"sleep\",\"name\":\"1h\",\"status\":\"pending\","
    "\"started_at\":\"2026-01-01T00:00:00.001Z\",\"wake_at\":\"2026-01-01T01:00:00.001Z\"}]}}";

static void v1_fits_v2_does_not(void **state)
{
    char path[] = "/tmp/tarry-two-builds-XXXXXX";
    int fd = mkstemp(path);
    tarry_test *v1 = tarry_test_new(), *v2 = tarry_test_new();
    const tarry_test_verdict *verdict;
    (void)state;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, run_json, sizeof run_json - 1), (ssize_t)(sizeof run_json - 1));
    close(fd);
    assert_int_equal(tarry_test_load(v1, TP_DIR "/wf_nd_v1/wf_nd_v1.so"), TARRY_OK);
    assert_int_equal(tarry_test_load(v2, TP_DIR "/wf_nd_v2/wf_nd_v2.so"), TARRY_OK);
    /* One kit refuses a second build of the same names: that is what the second kit is for. */
    assert_int_equal(tarry_test_load(v1, TP_DIR "/wf_nd_v2/wf_nd_v2.so"), TARRY_EINVAL);

    assert_int_equal(tarry_test_replay_file(v1, path, NULL), TARRY_TEST_WAITING);
    verdict = tarry_test_verdict_of(v1);
    assert_true(verdict->fits);
    assert_int_equal(verdict->position, 2);

    assert_int_equal(tarry_test_replay_file(v2, path, NULL), TARRY_TEST_BLOCKED);
    verdict = tarry_test_verdict_of(v2);
    assert_false(verdict->fits);
    assert_int_equal(verdict->position, 1);
    assert_string_equal(verdict->journal_has, "sleep \"1h\"");
    assert_string_equal(verdict->code_issued, "step \"b\"");

    /* Each kit still runs its own build: v1 to its end, v2 to its own result. */
    assert_int_equal(tarry_test_run(v1, "nd", "{}"), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_json(v1, tarry_test_result(v1), "version", "1"));
    assert_int_equal(tarry_test_run(v2, "nd", "{\"variant\":\"same\"}"), TARRY_TEST_SUCCEEDED);
    assert_true(tarry_test_assert_json(v2, tarry_test_result(v2), "version", "2"));
    tarry_test_free(v1);
    tarry_test_free(v2);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(v1_fits_v2_does_not)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
