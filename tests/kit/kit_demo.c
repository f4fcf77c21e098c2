/*
 * kit_demo.c - the "kit_demo" plugin: what the test kit's own tests load
 * with tarry_test_load() (dlopen), so the kit is proven on a real .so built
 * with tarry_add_plugin(), not only on functions linked into the test.
 *
 *   demo_double     args: a JSON number N; returns 2 * N (an integer)
 *   demo_pipeline   a workflow: calls demo_double with 21 and awaits it,
 *                   sleeps "1 hour", reads the clock, then runs step "note"
 *                   and returns {"doubled": 42, "woke_at": T}
 */
#include <tarry.h>

#include <stdio.h>
#include <stdlib.h>

static tarry_status demo_double(tarry_ctx *ctx, const char *args_json)
{
    char *end, result[32];
    long long n = strtoll(args_json, &end, 10);

    if (end == args_json || *end != '\0')
        return tarry_set_error(ctx, "demo_double: args must be an integer, got %.40s", args_json);
    snprintf(result, sizeof result, "%lld", 2 * n);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status note(tarry_ctx *ctx, void *user)
{
    (void)user;
    tarry_log(ctx, TARRY_LOG_INFO, "noted");
    return (tarry_status)tarry_set_result(ctx, "true");
}

static tarry_status demo_pipeline(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result doubled;
    char result[128];
    int64_t woke_at;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "demo_double", "21", NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &doubled));
    TARRY_TRY(tarry_sleep(ctx, "1 hour"));
    woke_at = tarry_now_ms(ctx);
    TARRY_TRY(tarry_step(ctx, "note", note, NULL, NULL));
    snprintf(result, sizeof result, "{\"doubled\":%s,\"woke_at\":%lld}", doubled.value_json,
             (long long)woke_at);
    return (tarry_status)tarry_set_result(ctx, result);
}

TARRY_PLUGIN("kit_demo", "1.0.0", TARRY_FUNCTION("demo_double", demo_double),
             TARRY_FUNCTION("demo_pipeline", demo_pipeline));
