/*
 * retain.c - the "retain" plugin, for the retention tests
 * (tests/integration/test_retention.py): executions with everything an
 * execution keeps (journal, attempts, logs, children), and functions with
 * their own `retention` (header revision 5).
 *
 *   ret_parent  logs two lines, runs step "s", calls ret_child and awaits it,
 *               returns {"parent":true}: a journal, logs and a child.
 *   ret_child   logs "child", returns {"child":true}.
 *   ret_flaky   fails its first attempt, succeeds on the second (retry on, no
 *               wait): two attempt rows.
 *   ret_nap     sleeps args (a duration string, e.g. "1h"): waits, unfinished.
 *   ret_keep    retention "0": kept forever, whatever the host's.
 *   ret_week    retention "7d": kept past a shorter host retention.
 *   ret_quick   retention "2s": deleted before a longer host retention.
 */
#include <tarry.h>

#include <string.h>

static tarry_status body(tarry_ctx *ctx, void *user)
{
    (void)user;
    tarry_log(ctx, TARRY_LOG_INFO, "in step");
    return tarry_set_result(ctx, "1");
}

static tarry_status ret_parent(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    tarry_log(ctx, TARRY_LOG_INFO, "parent start");
    TARRY_TRY(tarry_step(ctx, "s", body, NULL, NULL));
    TARRY_TRY(tarry_call(ctx, "ret_child", NULL, NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    tarry_log(ctx, TARRY_LOG_INFO, "parent done");
    return tarry_set_result(ctx, "{\"parent\":true}");
}

static tarry_status ret_child(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    tarry_log(ctx, TARRY_LOG_INFO, "child");
    return tarry_set_result(ctx, "{\"child\":true}");
}

static tarry_status ret_flaky(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    if (tarry_attempt(ctx) < 2)
        return tarry_set_error(ctx, "first attempt fails");
    return tarry_set_result(ctx, "{\"flaky\":true}");
}

static tarry_status ret_nap(tarry_ctx *ctx, const char *args_json)
{
    char d[32] = "1h";
    size_t n = args_json ? strlen(args_json) : 0;

    /* args: a JSON string such as "1h" */
    if (n > 2 && n < sizeof d && args_json[0] == '"') {
        memcpy(d, args_json + 1, n - 2);
        d[n - 2] = '\0';
    }
    TARRY_TRY(tarry_sleep(ctx, d));
    return tarry_set_result(ctx, "{\"napped\":true}");
}

static tarry_status ret_plain(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    tarry_log(ctx, TARRY_LOG_INFO, "plain");
    return TARRY_OK;
}

TARRY_PLUGIN("retain", "1.0.0", TARRY_FUNCTION("ret_parent", ret_parent),
             TARRY_FUNCTION("ret_child", ret_child),
             TARRY_FUNCTION("ret_flaky", ret_flaky,
                            .retry = {.enabled = 1, .max_attempts = 2, .initial_interval = "0s"}),
             TARRY_FUNCTION("ret_nap", ret_nap), TARRY_FUNCTION("ret_keep", ret_plain, .retention = "0"),
             TARRY_FUNCTION("ret_week", ret_plain, .retention = "7d"),
             TARRY_FUNCTION("ret_quick", ret_plain, .retention = "2s"));
