/*
 * e2e.c - the "e2e" plugin, for the dashboard's browser test
 * (tests/e2e/dashboard.mjs): what the page must show while it happens.
 *
 *   e2e_wait_fail  logs "before the sleep", sleeps args.sleep (default "1h"),
 *                  logs "after the sleep" (warn) and fails for good (no
 *                  retry): its page follows the log across a reschedule from
 *                  the page, then shows the failure notification.
 *   e2e_brief      logs one line and succeeds; retention "2s", so retention
 *                  deletes it during the test and the list says so.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <stdio.h>

static tarry_status e2e_wait_fail(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    cJSON *sleep = cJSON_GetObjectItemCaseSensitive(args, "sleep");
    char duration[64] = "1h";

    if (cJSON_IsString(sleep))
        snprintf(duration, sizeof duration, "%s", sleep->valuestring);
    cJSON_Delete(args);
    tarry_log(ctx, TARRY_LOG_INFO, "before the sleep");
    TARRY_TRY(tarry_sleep(ctx, duration));
    tarry_log(ctx, TARRY_LOG_WARN, "after the sleep");
    return tarry_set_error(ctx, "failed after its sleep, on purpose");
}

static tarry_status e2e_brief(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    tarry_log(ctx, TARRY_LOG_INFO, "brief");
    return TARRY_OK;
}

TARRY_PLUGIN("e2e", "1.0.0", TARRY_FUNCTION("e2e_wait_fail", e2e_wait_fail),
             TARRY_FUNCTION("e2e_brief", e2e_brief, .retention = "2s"));
