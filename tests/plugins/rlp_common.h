/*
 * rlp_common.h - plugin "rlp": a workflow changed with tarry_patched().
 * rlp_v1.c builds it without the patch (RLP_PATCHED 0), rlp_v2.c with it:
 *
 *   rlp_flow   step "a"; [v2: if (tarry_patched(ctx, "extra")) call
 *              rlp_extra and await it]; tarry_sleep(args.sleep, default
 *              "1h"); step "b"; returns {"version": V, "extra": E} where E
 *              is rlp_extra's result, or null when the old path was taken.
 *   rlp_extra  returns {"extra": true, "version": V}.
 *
 * An execution that started on v1 and sleeps has "step a, sleep" in its
 * journal: upgraded to v2, its replay meets tarry_patched("extra") where the
 * journal has the sleep, so it takes the old path (no marker, no call) and
 * replays cleanly. A new execution on v2 records a "patch" entry named
 * "extra", then the call.
 */
#ifndef RLP_COMMON_H
#define RLP_COMMON_H

#include <tarry.h>

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

static tarry_status rlp_step(tarry_ctx *ctx, void *name)
{
    char result[64];
    snprintf(result, sizeof result, "{\"step\":\"%s\"}", (const char *)name);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status rlp_extra(tarry_ctx *ctx, const char *args_json)
{
    char result[64];
    (void)args_json;
    snprintf(result, sizeof result, "{\"extra\":true,\"version\":%d}", RLP_VERSION);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status rlp_flow(tarry_ctx *ctx, const char *args_json)
{
    char duration[64] = "1h", result[512];
    tarry_result a, b, extra = {TARRY_OK, NULL, NULL};
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *sleep = cJSON_GetObjectItemCaseSensitive(args, "sleep");

    if (cJSON_IsString(sleep) && strlen(sleep->valuestring) < sizeof duration)
        snprintf(duration, sizeof duration, "%s", sleep->valuestring);
    cJSON_Delete(args);
    TARRY_TRY(tarry_step(ctx, "a", rlp_step, "a", &a));
#if RLP_PATCHED
    if (tarry_patched(ctx, "extra")) {
        tarry_handle h;
        TARRY_TRY(tarry_call(ctx, "rlp_extra", NULL, NULL, &h));
        TARRY_TRY(tarry_await(ctx, &h, &extra));
        if (extra.status != TARRY_OK)
            return tarry_set_error(ctx, "rlp_flow: rlp_extra %s: %s", h.id, extra.error);
    }
#endif
    TARRY_TRY(tarry_sleep(ctx, duration));
    TARRY_TRY(tarry_step(ctx, "b", rlp_step, "b", &b));
    snprintf(result, sizeof result, "{\"version\":%d,\"extra\":%s}", RLP_VERSION,
             extra.value_json ? extra.value_json : "null");
    return (tarry_status)tarry_set_result(ctx, result);
}

TARRY_PLUGIN("rlp", RLP_VERSION_TEXT, TARRY_FUNCTION("rlp_flow", rlp_flow), TARRY_FUNCTION("rlp_extra", rlp_extra));

#endif
