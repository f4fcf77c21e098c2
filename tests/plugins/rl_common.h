/*
 * rl_common.h - the code of plugin "rl", the reload tests' plugin. Each of
 * rl_v1.c, rl_v2.c and rl_v3.c defines RL_VERSION (1, 2, 3) and includes
 * this, so each is its own build (its own .so, its own content hash) and
 * says which build ran in every result: a test maps an execution's
 * plugin.hash to the version it must have run and compares.
 *
 *   rl_version  returns {"version": V}.
 *   rl_leaf     args {"ms": N} (0..600000, default 0): sleeps N ms on its
 *               worker thread, returns {"version": V, "ms": N}.
 *   rl_flow     a workflow, args (each optional):
 *                 "child_ms": N     calls rl_leaf {"ms": N} and awaits it;
 *                 "child_delay": D  ...with that delay (tarry_call_opts);
 *                                   either one makes the first child
 *                 "sleep": D        then tarry_sleep(D)
 *                 "after": true     then calls rl_leaf {"ms": 0}, awaits it
 *               returns {"version": V, "first": R1, "after": R2} (the
 *               children's results, null when not called); fails naming
 *               a child that did not succeed.
 *
 * Version strings are "V.0.0".
 */
#ifndef RL_COMMON_H
#define RL_COMMON_H

#include <tarry.h>

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#ifndef RL_VERSION
#error "define RL_VERSION before including rl_common.h"
#endif

#define RL_STR(x) #x
#define RL_XSTR(x) RL_STR(x)

/* args.NAME: an integer (default dflt), or a string copied into buf (returns 1 if present). */
static long long rl_int(const char *args_json, const char *name, long long dflt)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(args, name);
    long long v = cJSON_IsNumber(f) ? (long long)f->valuedouble : dflt;
    cJSON_Delete(args);
    return v;
}

static int rl_str(const char *args_json, const char *name, char *buf, size_t size)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(args, name);
    int found = cJSON_IsString(f) && strlen(f->valuestring) < size;
    if (found)
        snprintf(buf, size, "%s", f->valuestring);
    cJSON_Delete(args);
    return found;
}

static int rl_true(const char *args_json, const char *name)
{
    cJSON *args = cJSON_Parse(args_json);
    int yes = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(args, name));
    cJSON_Delete(args);
    return yes;
}

static tarry_status rl_version(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return (tarry_status)tarry_set_result(ctx, "{\"version\":" RL_XSTR(RL_VERSION) "}");
}

static tarry_status rl_leaf(tarry_ctx *ctx, const char *args_json)
{
    long long ms = rl_int(args_json, "ms", 0);
    struct timespec left;
    char result[96];

    if (ms < 0 || ms > 600000)
        return tarry_set_error(ctx, "rl_leaf: args.ms must be 0..600000");
    left.tv_sec = (time_t)(ms / 1000);
    left.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
    snprintf(result, sizeof result, "{\"version\":%d,\"ms\":%lld}", RL_VERSION, ms);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status rl_flow(tarry_ctx *ctx, const char *args_json)
{
    char delay[64], duration[64], child_args[64], *text;
    tarry_handle h1, h2;
    tarry_result r1 = {TARRY_OK, NULL, NULL}, r2 = {TARRY_OK, NULL, NULL};
    tarry_call_opts opts = {0};
    long long ms = rl_int(args_json, "child_ms", -1);
    int has_delay = rl_str(args_json, "child_delay", delay, sizeof delay);
    int rc;
    cJSON *result;

    if (ms >= 0 || has_delay) {
        snprintf(child_args, sizeof child_args, "{\"ms\":%lld}", ms < 0 ? 0 : ms);
        opts.delay = has_delay ? delay : NULL;
        TARRY_TRY(tarry_call(ctx, "rl_leaf", child_args, &opts, &h1));
        TARRY_TRY(tarry_await(ctx, &h1, &r1));
        if (r1.status != TARRY_OK)
            return tarry_set_error(ctx, "rl_flow v%d: first child %s: %s", RL_VERSION, h1.id, r1.error);
    }
    if (rl_str(args_json, "sleep", duration, sizeof duration))
        TARRY_TRY(tarry_sleep(ctx, duration));
    if (rl_true(args_json, "after")) {
        TARRY_TRY(tarry_call(ctx, "rl_leaf", "{\"ms\":0}", NULL, &h2));
        TARRY_TRY(tarry_await(ctx, &h2, &r2));
        if (r2.status != TARRY_OK)
            return tarry_set_error(ctx, "rl_flow v%d: after child %s: %s", RL_VERSION, h2.id, r2.error);
    }
    result = cJSON_CreateObject();
    cJSON_AddNumberToObject(result, "version", RL_VERSION);
    cJSON_AddItemToObject(result, "first", r1.value_json ? cJSON_Parse(r1.value_json) : cJSON_CreateNull());
    cJSON_AddItemToObject(result, "after", r2.value_json ? cJSON_Parse(r2.value_json) : cJSON_CreateNull());
    text = cJSON_PrintUnformatted(result);
    cJSON_Delete(result);
    if (!text)
        return tarry_set_error(ctx, "rl_flow: out of memory");
    rc = tarry_set_result(ctx, text);
    cJSON_free(text);
    return (tarry_status)rc;
}

#define RL_FUNCTIONS                                                                                     \
    TARRY_FUNCTION("rl_version", rl_version), TARRY_FUNCTION("rl_leaf", rl_leaf),                        \
        TARRY_FUNCTION("rl_flow", rl_flow)

#endif
