/*
 * replay.c - the tarry_ctx implementation handed to plugin functions.
 *
 * Runs on worker threads, one run per thread at a time; a ctx is never
 * shared, so no locking. Everything the plugin passes in is copied.
 */
#include "replay.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

struct tarry_ctx {
    struct tarry_ctx_head head; /* must come first: the SDK reads it */
    replay_run *run;
};

static int ctx_set_result(tarry_ctx *ctx, const char *json)
{
    cJSON *parsed;
    char *copy;
    size_t len;

    if (!json)
        return TARRY_EINVAL;
    len = strlen(json);
    if (len > REPLAY_RESULT_MAX) {
        tarry_log(ctx, TARRY_LOG_ERROR, "tarry_set_result: result is %zu bytes, over the %u-byte limit", len,
                  REPLAY_RESULT_MAX);
        return TARRY_EINVAL;
    }
    /* The Opts variant reports where parsing stopped without cJSON's
     * global error pointer, which other worker threads share. */
    const char *where = NULL;
    if (!(parsed = cJSON_ParseWithLengthOpts(json, len + 1, &where, 1))) {
        if (!where || where < json || where > json + len)
            where = json;
        tarry_log(ctx, TARRY_LOG_ERROR, "tarry_set_result: invalid JSON at byte %td: %.40s", where - json, where);
        return TARRY_EINVAL;
    }
    cJSON_Delete(parsed);
    if (!(copy = malloc(len + 1)))
        return TARRY_ENOMEM;
    memcpy(copy, json, len + 1);
    free(ctx->run->result);
    ctx->run->result = copy;
    return TARRY_OK;
}

static int ctx_set_errorv(tarry_ctx *ctx, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (!fmt || vasprintf(&msg, fmt, ap) < 0)
        msg = strdup("function failed (tarry_set_error called without a message)");
    free(ctx->run->error);
    ctx->run->error = msg;
    return TARRY_FAILED;
}

static int ctx_logv(tarry_ctx *ctx, int level, const char *fmt, va_list ap)
{
    replay_run *run = ctx->run;
    char buf[REPLAY_LOG_LINE_MAX];

    if (!fmt || level < TARRY_LOG_DEBUG || level > TARRY_LOG_ERROR)
        return TARRY_EINVAL;
    if (run->log_count == run->log_cap) {
        size_t cap = run->log_cap ? run->log_cap * 2 : 8;
        replay_log *grown = realloc(run->logs, cap * sizeof *grown);
        if (!grown)
            return TARRY_ENOMEM;
        run->logs = grown;
        run->log_cap = cap;
    }
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (!(run->logs[run->log_count].text = strdup(buf)))
        return TARRY_ENOMEM;
    run->logs[run->log_count].time_ms = clock_now_ms();
    run->logs[run->log_count].level = level;
    run->log_count++;
    return TARRY_OK;
}

static const char *ctx_execution_id(tarry_ctx *ctx)
{
    return ctx->run->id_text;
}

static int ctx_attempt(tarry_ctx *ctx)
{
    return ctx->run->attempt;
}

static const tarry_host_api host_api = {
    .size = sizeof(tarry_host_api),
    .set_result = ctx_set_result,
    .set_errorv = ctx_set_errorv,
    .logv = ctx_logv,
    .execution_id = ctx_execution_id,
    .attempt = ctx_attempt,
};

void replay_execute(replay_run *run)
{
    tarry_ctx ctx = {.head = {.api = &host_api}, .run = run};
    int status;

    run->started_at = clock_now_ms();
    status = run->fn(&ctx, run->args);
    run->finished_at = clock_now_ms();

    switch (status) {
    case TARRY_OK:
        run->failed = 0;
        free(run->error);
        run->error = NULL;
        break;
    case TARRY_FAILED:
        run->failed = 1;
        if (!run->error)
            run->error = strdup("function returned TARRY_FAILED without calling tarry_set_error");
        break;
    default: {
        char msg[160];
        snprintf(msg, sizeof msg, "function returned an unexpected status %d (%s); return TARRY_OK or TARRY_FAILED",
                 status, tarry_strerror(status));
        run->failed = 1;
        free(run->error);
        run->error = strdup(msg);
    }
    }
    if (run->failed) {
        free(run->result);
        run->result = NULL;
    }
}

void replay_run_clear(replay_run *run)
{
    free(run->result);
    free(run->error);
    for (size_t i = 0; i < run->log_count; i++)
        free(run->logs[i].text);
    free(run->logs);
    run->result = run->error = NULL;
    run->logs = NULL;
    run->log_count = run->log_cap = 0;
}
