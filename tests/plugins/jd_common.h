/*
 * jd_common.h - plugin "jd", the corpus of the kit/host differential test
 * (tests/integration/test_kit_parity.py): workflows run through the test kit
 * and through the real host, whose journals, results, errors and log lines
 * must come out the same. jd_v1.c and jd_v2.c build it as versions 1 and 2
 * (JD_VERSION); only jd_patched and jd_nd differ between them.
 *
 *   jd_ok              logs "jd_ok got ARGS"; returns {"ok": true, "args": ARGS}.
 *   jd_fail            fails "jd_fail: deliberate failure".
 *   jd_value           returns its args.
 *   jd_flow            log, now, three children (ok, failing, value), await_all
 *                      with mixed outcomes, a step, a 1 h sleep, two steps in a
 *                      row, a fire-and-forget child delayed a day; returns what
 *                      each child gave.
 *   jd_pass_on_child   awaits a failing child with TARRY_TRY.
 *   jd_pass_on_step    a step that fails ("card declined"), passed on with TARRY_TRY.
 *   jd_step_status     a step whose body returns 77, passed on.
 *   jd_misuse          every misuse once (unknown function, NULL name, bad
 *                      args JSON, bad delay, bad and NULL sleep, NULL step
 *                      name and body, NULL handle(s), forged and out-of-range
 *                      handles, invalid result JSON), then awaits a real
 *                      child (so a second pass replays the misuse); returns
 *                      every code it got.
 *   jd_pass_on_misuse  TARRY_TRY on a call of an unknown function.
 *   jd_bad_result      sets an invalid JSON result, then returns TARRY_OK.
 *   jd_bad_json        a step whose body sets results with invalid UTF-8
 *                      and a duplicate key and returns TARRY_OK: the step
 *                      fails with the reason; the function ignores that and
 *                      returns TARRY_OK.
 *   jd_ignore_suspend  ignores an await's TARRY_SUSPEND and returns TARRY_OK.
 *   jd_suspend_nowhere returns TARRY_SUSPEND with nothing pending.
 *   jd_strange_status  returns 77.
 *   jd_many_steps      five steps in a row, a log line before each.
 *   jd_step_logs       log lines inside step bodies (and a command nested in
 *                      one: misuse), across a sleep.
 *   jd_patched         step a; version 2 only: if tarry_patched("extra"), calls
 *                      and awaits jd_ok; a 1 h sleep; step b.
 *   jd_nd              step a, a sleep of "1h" (v1) or "90m" (v2), step b.
 *
 * No result or log line holds a time, so the two sides compare byte for byte
 * once execution ids are named by their place.
 */
#ifndef JD_COMMON_H
#define JD_COMMON_H

#include <tarry.h>

#include <stdio.h>
#include <string.h>

#ifndef JD_VERSION
#error "define JD_VERSION before including jd_common.h"
#endif

#define JD_STR(x) #x
#define JD_XSTR(x) JD_STR(x)

static tarry_status jd_ok(tarry_ctx *ctx, const char *args_json)
{
    char result[512];

    tarry_log(ctx, TARRY_LOG_INFO, "jd_ok got %s", args_json);
    snprintf(result, sizeof result, "{\"ok\":true,\"args\":%s}", args_json);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status jd_fail(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_error(ctx, "jd_fail: deliberate failure");
}

static tarry_status jd_value(tarry_ctx *ctx, const char *args_json)
{
    return (tarry_status)tarry_set_result(ctx, args_json);
}

/* A step's body: sets {"step": NAME}. */
static tarry_status jd_named(tarry_ctx *ctx, void *name)
{
    char result[128];

    snprintf(result, sizeof result, "{\"step\":\"%s\"}", (const char *)name);
    return (tarry_status)tarry_set_result(ctx, result);
}

/* A step's body that logs, then sets {"step": NAME}. */
static tarry_status jd_named_logging(tarry_ctx *ctx, void *name)
{
    tarry_log(ctx, TARRY_LOG_DEBUG, "in step %s", (const char *)name);
    return jd_named(ctx, name);
}

static tarry_status jd_flow(tarry_ctx *ctx, const char *args_json)
{
    tarry_call_opts tomorrow = {.delay = "1 day"};
    tarry_handle h[3];
    tarry_result r[3], recorded;
    char result[2048];

    tarry_log(ctx, TARRY_LOG_INFO, "jd_flow starts with %s", args_json);
    (void)tarry_now_ms(ctx);
    TARRY_TRY(tarry_call(ctx, "jd_ok", "{\"i\":1}", NULL, &h[0]));
    TARRY_TRY(tarry_call(ctx, "jd_fail", "{\"i\":2}", NULL, &h[1]));
    TARRY_TRY(tarry_call(ctx, "jd_value", "\"three\"", NULL, &h[2]));
    TARRY_TRY(tarry_await_all(ctx, h, 3, r));
    tarry_log(ctx, TARRY_LOG_WARN, "settled: %d %d %d", (int)r[0].status, (int)r[1].status, (int)r[2].status);
    TARRY_TRY(tarry_step(ctx, "record", jd_named, "record", &recorded));
    TARRY_TRY(tarry_sleep(ctx, "1h"));
    TARRY_TRY(tarry_step(ctx, "after_sleep", jd_named, "after_sleep", NULL));
    TARRY_TRY(tarry_step(ctx, "third", jd_named, "third", NULL));
    TARRY_TRY(tarry_call(ctx, "jd_ok", "{\"later\":true}", &tomorrow, NULL));
    tarry_log(ctx, TARRY_LOG_INFO, "jd_flow ends");
    snprintf(result, sizeof result,
             "{\"statuses\":[%d,%d,%d],\"ok\":%s,\"error\":\"%s\",\"value\":%s,\"recorded\":%s}",
             (int)r[0].status, (int)r[1].status, (int)r[2].status, r[0].value_json ? r[0].value_json : "null",
             r[1].error ? r[1].error : "", r[2].value_json ? r[2].value_json : "null", recorded.value_json);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status jd_pass_on_child(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    TARRY_TRY(tarry_call(ctx, "jd_fail", args_json, NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    return (tarry_status)tarry_set_result(ctx, "\"not reached\"");
}

static tarry_status jd_declined(tarry_ctx *ctx, void *user)
{
    (void)user;
    return tarry_set_error(ctx, "card declined");
}

static tarry_status jd_pass_on_step(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "charge", jd_declined, NULL, NULL));
    return (tarry_status)tarry_set_result(ctx, "\"not reached\"");
}

static tarry_status jd_odd_body(tarry_ctx *ctx, void *user)
{
    (void)ctx;
    (void)user;
    return (tarry_status)77;
}

static tarry_status jd_step_status(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "odd", jd_odd_body, NULL, NULL));
    return TARRY_OK;
}

/* A step's body that issues a durable command: refused (misuse), logged. */
static tarry_status jd_nesting_body(tarry_ctx *ctx, void *name)
{
    tarry_log(ctx, TARRY_LOG_DEBUG, "in step %s: the nested sleep said %d", (const char *)name,
              tarry_sleep(ctx, "1s"));
    return jd_named(ctx, name);
}

static tarry_status jd_misuse(tarry_ctx *ctx, const char *args_json)
{
    tarry_call_opts bad_delay = {.delay = "1 dy"};
    tarry_handle h, forged;
    tarry_result r;
    int codes[15], n = 0;
    char result[512];
    size_t len;

    (void)args_json;
    codes[n++] = tarry_call(ctx, "no_such_function", NULL, NULL, NULL);
    codes[n++] = tarry_call(ctx, NULL, NULL, NULL, NULL);
    codes[n++] = tarry_call(ctx, "jd_ok", "{not json", NULL, NULL);
    codes[n++] = tarry_call(ctx, "jd_ok", NULL, &bad_delay, NULL);
    codes[n++] = tarry_sleep(ctx, "soon");
    codes[n++] = tarry_sleep(ctx, NULL);
    codes[n++] = tarry_step(ctx, "s", NULL, NULL, NULL);
    codes[n++] = tarry_step(ctx, NULL, jd_named, "s", NULL);
    codes[n++] = tarry_await(ctx, NULL, &r);
    codes[n++] = tarry_await_all(ctx, NULL, 1, &r);
    codes[n++] = tarry_set_result(ctx, "{\"unclosed\": ");
    TARRY_TRY(tarry_call(ctx, "jd_ok", "{\"real\":true}", NULL, &h));
    forged = h;
    memcpy(forged.id, tarry_execution_id(ctx), sizeof forged.id - 1);
    codes[n++] = tarry_await(ctx, &forged, &r);
    forged = h;
    forged.seq = 999;
    codes[n++] = tarry_await(ctx, &forged, &r);
    TARRY_TRY(tarry_await(ctx, &h, &r)); /* a second pass replays all of the above */
    len = (size_t)snprintf(result, sizeof result, "{\"codes\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(result + len, sizeof result - len, "%s%d", i ? "," : "", codes[i]);
    snprintf(result + len, sizeof result - len, "],\"child\":%s}", r.value_json);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status jd_pass_on_misuse(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "no_such_function", NULL, NULL, NULL));
    return TARRY_OK;
}

static tarry_status jd_bad_result(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    tarry_log(ctx, TARRY_LOG_INFO, "set_result said %d", tarry_set_result(ctx, "[1, 2"));
    return TARRY_OK;
}

static tarry_status jd_bad_json_body(tarry_ctx *ctx, void *user)
{
    (void)user;
    tarry_log(ctx, TARRY_LOG_INFO, "utf8 said %d", tarry_set_result(ctx, "[\"\xc3\x28\"]"));
    tarry_log(ctx, TARRY_LOG_INFO, "dup said %d", tarry_set_result(ctx, "{\"a\": {\"b\": 1, \"b\": 2}}"));
    return TARRY_OK;
}

static tarry_status jd_bad_json(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    tarry_step(ctx, "bad", jd_bad_json_body, NULL, NULL);
    return TARRY_OK;
}

static tarry_status jd_ignore_suspend(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;

    TARRY_TRY(tarry_call(ctx, "jd_ok", args_json, NULL, &h));
    (void)tarry_await(ctx, &h, &r);
    return TARRY_OK;
}

static tarry_status jd_suspend_nowhere(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    return TARRY_SUSPEND;
}

static tarry_status jd_strange_status(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    return (tarry_status)77;
}

static tarry_status jd_many_steps(tarry_ctx *ctx, const char *args_json)
{
    static const char *const names[] = {"one", "two", "three", "four", "five"};

    (void)args_json;
    for (int i = 0; i < 5; i++) {
        tarry_log(ctx, TARRY_LOG_INFO, "before step %s", names[i]);
        TARRY_TRY(tarry_step(ctx, names[i], jd_named, (void *)names[i], NULL));
    }
    return (tarry_status)tarry_set_result(ctx, "{\"steps\":5}");
}

static tarry_status jd_step_logs(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "s1", jd_named_logging, "s1", NULL));
    tarry_log(ctx, TARRY_LOG_INFO, "between s1 and s2");
    TARRY_TRY(tarry_step(ctx, "s2", jd_nesting_body, "s2", NULL));
    TARRY_TRY(tarry_sleep(ctx, "1h"));
    tarry_log(ctx, TARRY_LOG_INFO, "after the sleep");
    TARRY_TRY(tarry_step(ctx, "s3", jd_named_logging, "s3", NULL));
    return TARRY_OK;
}

static tarry_status jd_patched(tarry_ctx *ctx, const char *args_json)
{
    tarry_result extra = {TARRY_OK, NULL, NULL};
    char result[256];

    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a", jd_named, "a", NULL));
#if JD_VERSION >= 2
    if (tarry_patched(ctx, "extra")) {
        tarry_handle h;
        TARRY_TRY(tarry_call(ctx, "jd_ok", "{\"extra\":true}", NULL, &h));
        TARRY_TRY(tarry_await(ctx, &h, &extra));
    }
#endif
    tarry_log(ctx, TARRY_LOG_INFO, "before the sleep");
    TARRY_TRY(tarry_sleep(ctx, "1h"));
    tarry_log(ctx, TARRY_LOG_INFO, "v%d after the sleep", JD_VERSION);
    TARRY_TRY(tarry_step(ctx, "b", jd_named, "b", NULL));
    snprintf(result, sizeof result, "{\"version\":%d,\"extra\":%s}", JD_VERSION,
             extra.value_json ? extra.value_json : "null");
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status jd_nd(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_step(ctx, "a", jd_named, "a", NULL));
    TARRY_TRY(tarry_sleep(ctx, JD_VERSION == 1 ? "1h" : "90m"));
    TARRY_TRY(tarry_step(ctx, "b", jd_named, "b", NULL));
    return TARRY_OK;
}

TARRY_PLUGIN("jd", JD_XSTR(JD_VERSION) ".0.0", TARRY_FUNCTION("jd_ok", jd_ok),
             TARRY_FUNCTION("jd_fail", jd_fail), TARRY_FUNCTION("jd_value", jd_value),
             TARRY_FUNCTION("jd_flow", jd_flow), TARRY_FUNCTION("jd_pass_on_child", jd_pass_on_child),
             TARRY_FUNCTION("jd_pass_on_step", jd_pass_on_step),
             TARRY_FUNCTION("jd_step_status", jd_step_status), TARRY_FUNCTION("jd_misuse", jd_misuse),
             TARRY_FUNCTION("jd_pass_on_misuse", jd_pass_on_misuse),
             TARRY_FUNCTION("jd_bad_result", jd_bad_result), TARRY_FUNCTION("jd_bad_json", jd_bad_json),
             TARRY_FUNCTION("jd_ignore_suspend", jd_ignore_suspend),
             TARRY_FUNCTION("jd_suspend_nowhere", jd_suspend_nowhere),
             TARRY_FUNCTION("jd_strange_status", jd_strange_status),
             TARRY_FUNCTION("jd_many_steps", jd_many_steps), TARRY_FUNCTION("jd_step_logs", jd_step_logs),
             TARRY_FUNCTION("jd_patched", jd_patched), TARRY_FUNCTION("jd_nd", jd_nd));

#endif
