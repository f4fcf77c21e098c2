/*
 * wf_nd_v1.c - plugin "wfnd", first build: the code a nondeterminism test
 * starts a workflow on. wf_nd_v2.c is the same plugin changed; a test
 * installs this one as wfnd.so, triggers nd (it sleeps an hour), stops the
 * host, installs wf_nd_v2's .so under the same name, restarts and
 * reschedules the sleep to now: the replay must stop with "nondeterminism at
 * step N: ..." and the execution be `blocked`.
 *
 *   nd   step "a", tarry_sleep("1h"), step "b"; returns
 *        {"version": 1, "a": A, "b": B} (each step's result is {"step": NAME}).
 *        args are ignored here; v2 reads args.variant.
 *
 * Both builds say version "1.0.0" on purpose: a careless redeploy of changed
 * code under the same version is what the determinism check exists for.
 */
#include <tarry.h>

#include <stdio.h>

static tarry_status step_named(tarry_ctx *ctx, void *name)
{
    char result[64];

    snprintf(result, sizeof(result), "{\"step\":\"%s\"}", (const char *)name);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status nd(tarry_ctx *ctx, const char *args_json)
{
    tarry_result a, b;
    char result[256];

    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a", step_named, "a", &a));
    TARRY_TRY(tarry_sleep(ctx, "1h"));
    TARRY_TRY(tarry_step(ctx, "b", step_named, "b", &b));
    snprintf(result, sizeof(result), "{\"version\":1,\"a\":%s,\"b\":%s}", a.value_json, b.value_json);
    return (tarry_status)tarry_set_result(ctx, result);
}

TARRY_PLUGIN("wfnd", "1.0.0", TARRY_FUNCTION("nd", nd));
