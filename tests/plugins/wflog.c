/*
 * wflog.c - the "wflog" plugin: a workflow that logs in every pass, for the
 * log tests (tests/integration/test_wf_logs.py).
 *
 *   logged_sleep  logs "start" (info), runs step "note" whose body logs "in step
 *                 body" (warn), logs "before sleep", sleeps args.sleep (default
 *                 "1h"), logs "after sleep" (error) and returns {"ok":true}.
 *                 Every pass replays the lines before the sleep: the host must
 *                 store each line once.
 *   logged_child  logs "calling", calls wflog_leaf, awaits it (a pass that
 *                 suspends on an await, not on a command), logs "child done"
 *                 and returns; wflog_leaf logs "leaf".
 *   logged_retry  retry: 3 attempts, 0 s. Args {"fail": N}: logs "attempt K",
 *                 and attempts 1..N fail ("attempt K fails"); the next returns
 *                 {"attempt": K} (tests/integration/test_logs_follow.py).
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <stdio.h>

static tarry_status note(tarry_ctx *ctx, void *user)
{
    (void)user;
    tarry_log(ctx, TARRY_LOG_WARN, "in step body");
    return tarry_set_result(ctx, "{\"noted\":true}");
}

static tarry_status logged_sleep(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    cJSON *sleep = cJSON_GetObjectItemCaseSensitive(args, "sleep");
    char duration[64] = "1h";

    if (cJSON_IsString(sleep))
        snprintf(duration, sizeof duration, "%s", sleep->valuestring);
    cJSON_Delete(args);
    tarry_log(ctx, TARRY_LOG_INFO, "start");
    TARRY_TRY(tarry_step(ctx, "note", note, NULL, NULL));
    tarry_log(ctx, TARRY_LOG_INFO, "before sleep");
    TARRY_TRY(tarry_sleep(ctx, duration));
    tarry_log(ctx, TARRY_LOG_ERROR, "after sleep");
    return tarry_set_result(ctx, "{\"ok\":true}");
}

static tarry_status wflog_leaf(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    tarry_log(ctx, TARRY_LOG_INFO, "leaf");
    return TARRY_OK;
}

static tarry_status logged_child(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    (void)args_json;
    tarry_log(ctx, TARRY_LOG_INFO, "calling");
    TARRY_TRY(tarry_call(ctx, "wflog_leaf", NULL, NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    tarry_log(ctx, TARRY_LOG_INFO, "child done");
    return TARRY_OK;
}

static tarry_status logged_retry(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    cJSON *fail = cJSON_GetObjectItemCaseSensitive(args, "fail");
    int attempt = tarry_attempt(ctx), fails = cJSON_IsNumber(fail) ? fail->valueint : 0;
    char text[64];

    cJSON_Delete(args);
    tarry_log(ctx, TARRY_LOG_INFO, "attempt %d", attempt);
    if (attempt <= fails)
        return tarry_set_error(ctx, "attempt %d fails", attempt);
    snprintf(text, sizeof text, "{\"attempt\":%d}", attempt);
    return tarry_set_result(ctx, text);
}

TARRY_PLUGIN("wflog", "1.0.0", TARRY_FUNCTION("logged_sleep", logged_sleep),
             TARRY_FUNCTION("wflog_leaf", wflog_leaf), TARRY_FUNCTION("logged_child", logged_child),
             TARRY_FUNCTION("logged_retry", logged_retry,
                            .retry = {.enabled = 1,
                                      .max_attempts = 3,
                                      .initial_interval = "0s",
                                      .randomization_factor = -1}));
