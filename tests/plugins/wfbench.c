/*
 * wfbench.c - the "wfbench" plugin behind the workflow benchmarks (scripts/bench W2, the
 * replay-cost figures and the soak). Nothing here has a side effect outside the host: the
 * figures measure the engine, not the plugin.
 *
 *   wfbench_noop  returns at once, result null.
 *   wf2           the onboarding shape: two parallel wfbench_noop children, await_all, one step
 *                 (no-op body), one fire-and-forget wfbench_noop child with delay "0s"; returns
 *                 {"ok":true}, or fails when a child did not succeed.
 *   steps         args {"n": N, "sleep": D}: N steps named "step" (no-op bodies), then a durable
 *                 sleep of D (default "1h"), then {"steps": N}. Trigger it, wait until it is
 *                 `waiting`, move the sleep to now (PATCH .../schedule {}) and time the resume:
 *                 that run replays N + 1 journal entries. The soak benchmark triggers it with
 *                 {"n": 0, "sleep": "1 day"}: a workflow that sleeps a day.
 *   burn          args {"ms": M} (default 5, at most 1000): spins on its thread's CPU clock for M
 *                 ms, then returns null: a CPU-bound function (scripts/bench-cluster).
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

static tarry_status wfbench_noop(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    return TARRY_OK;
}

static tarry_status nothing(tarry_ctx *ctx, void *user)
{
    (void)ctx;
    (void)user;
    return TARRY_OK;
}

static tarry_status wf2(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h[2];
    tarry_result r[2];
    tarry_call_opts later = {.delay = "0s"};
    (void)args_json;

    TARRY_TRY(tarry_call(ctx, "wfbench_noop", NULL, NULL, &h[0]));
    TARRY_TRY(tarry_call(ctx, "wfbench_noop", NULL, NULL, &h[1]));
    TARRY_TRY(tarry_await_all(ctx, h, 2, r));
    for (int i = 0; i < 2; i++)
        if (r[i].status != TARRY_OK)
            return tarry_set_error(ctx, "wf2: child %d: %s", i, r[i].error ? r[i].error : "(no error)");
    TARRY_TRY(tarry_step(ctx, "mark", nothing, NULL, NULL));
    TARRY_TRY(tarry_call(ctx, "wfbench_noop", NULL, &later, NULL));
    return tarry_set_result(ctx, "{\"ok\":true}");
}

static tarry_status steps(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    cJSON *n_item = cJSON_GetObjectItemCaseSensitive(args, "n");
    cJSON *sleep_item = cJSON_GetObjectItemCaseSensitive(args, "sleep");
    char duration[64] = "1h";
    char result[64];
    long n;

    if (!cJSON_IsNumber(n_item) || n_item->valuedouble < 0 || n_item->valuedouble > 100000) {
        cJSON_Delete(args);
        return tarry_set_error(ctx, "steps: args.n must be a number from 0 to 100000");
    }
    n = (long)n_item->valuedouble;
    if (cJSON_IsString(sleep_item))
        snprintf(duration, sizeof duration, "%s", sleep_item->valuestring);
    cJSON_Delete(args);

    for (long i = 0; i < n; i++)
        TARRY_TRY(tarry_step(ctx, "step", nothing, NULL, NULL));
    TARRY_TRY(tarry_sleep(ctx, duration));
    snprintf(result, sizeof result, "{\"steps\":%ld}", n);
    return tarry_set_result(ctx, result);
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static tarry_status burn(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    cJSON *ms_item = cJSON_GetObjectItemCaseSensitive(args, "ms");
    double ms = cJSON_IsNumber(ms_item) ? ms_item->valuedouble : 5;
    volatile uint64_t spins = 0;
    int64_t until;

    cJSON_Delete(args);
    if (ms < 0 || ms > 1000)
        return tarry_set_error(ctx, "burn: args.ms must be from 0 to 1000");
    /* CPU time, not wall time: a thread that waits for a core does not count it as work done. */
    until = thread_cpu_ns() + (int64_t)(ms * 1e6);
    while (thread_cpu_ns() < until)
        spins++;
    return TARRY_OK;
}

TARRY_PLUGIN("wfbench", "1.0.0", TARRY_FUNCTION("wfbench_noop", wfbench_noop), TARRY_FUNCTION("wf2", wf2),
             TARRY_FUNCTION("steps", steps), TARRY_FUNCTION("burn", burn));
