/*
 * wf.c - the "wf" plugin: small workflows the host's workflow tests drive.
 * Each does one observable thing. Children are functions of this plugin, so
 * a host needs only wf.so.
 *
 *   parallel        args {"ms": N}: calls two wf_sleep children with {"ms": N}
 *                   at once, awaits both (await_all) and returns
 *                   {"a": RESULT_A, "b": RESULT_B}; fails naming the child
 *                   when one failed. Two 1000 ms children must take ~1 s.
 *   wf_sleep        args {"ms": N} (0..600000): sleeps N ms on its worker
 *                   thread, returns {"slept": N}.
 *   fail_child      calls wf_fail then wf_ok (args {"value": 7}), await_all,
 *                   returns {"statuses": [S_FAIL, S_OK], "ok_value": VALUE_OF_OK,
 *                   "fail_error": ERROR_OF_FAIL}: the failed child is
 *                   reported (status 2, its error) while the sibling's value
 *                   ({"ok": true, "args": {"value": 7}}) is intact.
 *   await_failed    calls wf_fail, tarry_await()s it, returns
 *                   {"status": S, "error": E, "value": V}: S must be 2
 *                   (TARRY_FAILED), E wf_fail's error, V null.
 *   wf_fail         fails with "wf_fail: deliberate failure".
 *   wf_ok           returns {"ok": true, "args": ARGS}.
 *   step_once       args {"effects": PATH, "sleep": "1s"}: step "once" whose
 *                   body appends "step <execution_id>\n" to PATH (one write(2),
 *                   O_APPEND) and sets {"n": 1}; then tarry_sleep(args.sleep,
 *                   default "1s"); then returns the step's recorded result.
 *                   Tests count step lines per execution across kills.
 *   sleeper         args {"duration": "2s"}: tarry_sleep(duration), then returns
 *                   {"woke_at": tarry_now_ms()}.
 *   now_twice       tarry_now_ms(), a wf_sleep child of 50 ms awaited,
 *                   tarry_now_ms() again; returns {"first": T1, "second": T2,
 *                   "child": RESULT}. The run after the child settles replays
 *                   T1, so second - first >= 50.
 *   misuse          args {"other_id": ID} (optional: an execution that is not a
 *                   child of this one; default this execution's own id).
 *                   Tries each misuse and returns the code each call returned
 *                   (TARRY_EINVAL is -30700), keyed by what it tried:
 *                     unknown_function   tarry_call("no_such_function")
 *                     null_function      tarry_call(NULL function name)
 *                     bad_args_json      tarry_call(wf_ok, "{not json")
 *                     bad_delay          tarry_call(wf_ok, delay "1 dy")
 *                     bad_sleep          tarry_sleep("soon")
 *                     null_sleep         tarry_sleep(NULL)
 *                     null_step_fn       tarry_step("s", NULL body)
 *                     null_step_name     tarry_step(NULL name)
 *                     forged_id          tarry_await of a real handle with
 *                                        its id replaced by other_id
 *                     seq_out_of_range   tarry_await of a real handle with
 *                                        seq 999999
 *                     null_handle        tarry_await(NULL handle)
 *                     null_handles       tarry_await_all(NULL handles, 1)
 *                   plus "valid_call" (the one good tarry_call of wf_ok
 *                   whose handle is forged: 0) and "valid_id" (its id).
 *                   Every misuse must give -30700 and leave the journal
 *                   unchanged, so the function then returns OK at once.
 *   suspend_then_ok calls wf_ok, awaits it, ignores the TARRY_SUSPEND it
 *                   gets on the first run and returns TARRY_OK with result
 *                   {"ignored": 1}: the host must fail the attempt with an
 *                   error saying the function returned after TARRY_SUSPEND.
 *   fanout          args {"n": N} (0..10000): N wf_ok children with {"i": i},
 *                   await_all, returns {"count": N, "succeeded": K}.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FANOUT_MAX 10000
#define SLEEP_MS_MAX 600000

/* Hand `result` (freed here) to the host as the function's result. */
static tarry_status finish_with(tarry_ctx *ctx, const char *fn, cJSON *result)
{
    char *text = result ? cJSON_PrintUnformatted(result) : NULL;
    int rc;

    cJSON_Delete(result);
    if (!text)
        return tarry_set_error(ctx, "%s: out of memory building the result", fn);
    rc = tarry_set_result(ctx, text);
    cJSON_free(text);
    if (rc != TARRY_OK)
        return tarry_set_error(ctx, "%s: the host refused the result: %s", fn, tarry_strerror(rc));
    return TARRY_OK;
}

/* JSON text -> tree; anything unparsable (or NULL) becomes JSON null. */
static cJSON *json_or_null(const char *text)
{
    cJSON *value = text ? cJSON_Parse(text) : NULL;
    return value ? value : cJSON_CreateNull();
}

/* args.NAME as an integer from lo to hi, or `dflt` when args has no NAME. -1 after setting the error. */
static int int_arg(tarry_ctx *ctx, const char *fn, const char *args_json, const char *name, long long lo,
                   long long hi, long long dflt, long long *out)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *field = cJSON_GetObjectItemCaseSensitive(args, name);
    int rc = 0;

    *out = dflt;
    if (field &&
        (!cJSON_IsNumber(field) || field->valuedouble < (double)lo || field->valuedouble > (double)hi ||
         field->valuedouble != (double)(long long)field->valuedouble))
        rc = -1;
    else if (field)
        *out = (long long)field->valuedouble;
    cJSON_Delete(args);
    if (rc != 0)
        tarry_set_error(ctx, "%s: args.%s must be an integer from %lld to %lld", fn, name, lo, hi);
    return rc;
}

/* args.NAME as a string copied into buf, or `dflt` when missing. -1 after setting the error. */
static int string_arg(tarry_ctx *ctx, const char *fn, const char *args_json, const char *name,
                      const char *dflt, char *buf, size_t size)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *field = cJSON_GetObjectItemCaseSensitive(args, name);
    int rc = 0;

    if (!field && dflt) {
        snprintf(buf, size, "%s", dflt);
    } else if (!cJSON_IsString(field) || strlen(field->valuestring) >= size) {
        tarry_set_error(ctx, "%s: args.%s must be a string (under %zu bytes)", fn, name, size);
        rc = -1;
    } else {
        snprintf(buf, size, "%s", field->valuestring);
    }
    cJSON_Delete(args);
    return rc;
}

static tarry_status wf_sleep(tarry_ctx *ctx, const char *args_json)
{
    struct timespec left;
    long long ms;
    char result[64];

    if (int_arg(ctx, "wf_sleep", args_json, "ms", 0, SLEEP_MS_MAX, 0, &ms) != 0)
        return TARRY_FAILED;
    left.tv_sec = (time_t)(ms / 1000);
    left.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
    snprintf(result, sizeof(result), "{\"slept\":%lld}", ms);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status wf_fail(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_error(ctx, "wf_fail: deliberate failure");
}

static tarry_status wf_ok(tarry_ctx *ctx, const char *args_json)
{
    cJSON *result = cJSON_CreateObject();
    cJSON *args = json_or_null(args_json);

    if (!result || !args || !cJSON_AddTrueToObject(result, "ok") ||
        !cJSON_AddItemToObject(result, "args", args)) {
        cJSON_Delete(args);
        cJSON_Delete(result);
        result = NULL;
    }
    return finish_with(ctx, "wf_ok", result);
}

static tarry_status parallel(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h[2];
    tarry_result r[2];
    long long ms;
    char child_args[64];
    cJSON *result;
    int i;

    if (int_arg(ctx, "parallel", args_json, "ms", 0, SLEEP_MS_MAX, 0, &ms) != 0)
        return TARRY_FAILED;
    snprintf(child_args, sizeof(child_args), "{\"ms\":%lld}", ms);
    TARRY_TRY(tarry_call(ctx, "wf_sleep", child_args, NULL, &h[0]));
    TARRY_TRY(tarry_call(ctx, "wf_sleep", child_args, NULL, &h[1]));
    TARRY_TRY(tarry_await_all(ctx, h, 2, r));
    for (i = 0; i < 2; i++)
        if (r[i].status != TARRY_OK)
            return tarry_set_error(ctx, "parallel: child %c (%s) ended %s: %s", 'a' + i, h[i].id,
                                   tarry_strerror(r[i].status), r[i].error ? r[i].error : "");
    result = cJSON_CreateObject();
    if (result)
        cJSON_AddItemToObject(result, "a", json_or_null(r[0].value_json));
    if (result)
        cJSON_AddItemToObject(result, "b", json_or_null(r[1].value_json));
    return finish_with(ctx, "parallel", result);
}

static tarry_status fail_child(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h[2];
    tarry_result r[2];
    cJSON *result, *statuses;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "wf_fail", NULL, NULL, &h[0]));
    TARRY_TRY(tarry_call(ctx, "wf_ok", "{\"value\":7}", NULL, &h[1]));
    TARRY_TRY(tarry_await_all(ctx, h, 2, r));
    result = cJSON_CreateObject();
    statuses = cJSON_AddArrayToObject(result, "statuses");
    if (!statuses) {
        cJSON_Delete(result);
        return finish_with(ctx, "fail_child", NULL);
    }
    cJSON_AddItemToArray(statuses, cJSON_CreateNumber(r[0].status));
    cJSON_AddItemToArray(statuses, cJSON_CreateNumber(r[1].status));
    cJSON_AddItemToObject(result, "ok_value", json_or_null(r[1].value_json));
    cJSON_AddItemToObject(result, "fail_error",
                          r[0].error ? cJSON_CreateString(r[0].error) : cJSON_CreateNull());
    cJSON_AddItemToObject(result, "fail_value", json_or_null(r[0].value_json));
    cJSON_AddItemToObject(result, "ok_error",
                          r[1].error ? cJSON_CreateString(r[1].error) : cJSON_CreateNull());
    return finish_with(ctx, "fail_child", result);
}

static tarry_status await_failed(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;
    cJSON *result;
    int st;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "wf_fail", NULL, NULL, &h));
    st = tarry_await(ctx, &h, &r);
    if (st == TARRY_SUSPEND || st < 0)
        return (tarry_status)st;
    result = cJSON_CreateObject();
    cJSON_AddNumberToObject(result, "status", st);
    cJSON_AddNumberToObject(result, "result_status", r.status);
    cJSON_AddItemToObject(result, "error", r.error ? cJSON_CreateString(r.error) : cJSON_CreateNull());
    cJSON_AddItemToObject(result, "value", r.value_json ? json_or_null(r.value_json) : cJSON_CreateNull());
    return finish_with(ctx, "await_failed", result);
}

/* The step body of step_once: user is the effects file name. */
static tarry_status step_once_body(tarry_ctx *ctx, void *user)
{
    const char *path = user;
    char line[64];
    int len, fd, err;
    ssize_t wrote;

    len = snprintf(line, sizeof(line), "step %s\n", tarry_execution_id(ctx));
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = errno;
        return tarry_set_error(ctx, "step_once: open %s: %s", path, strerror(err));
    }
    wrote = write(fd, line, (size_t)len); /* one write: the line is wholly there or not */
    close(fd);
    if (wrote != len)
        return tarry_set_error(ctx, "step_once: write %s failed", path);
    return (tarry_status)tarry_set_result(ctx, "{\"n\":1}");
}

static tarry_status step_once(tarry_ctx *ctx, const char *args_json)
{
    char effects[4096], duration[64];
    tarry_result r;
    int st;

    if (string_arg(ctx, "step_once", args_json, "effects", NULL, effects, sizeof(effects)) != 0 ||
        string_arg(ctx, "step_once", args_json, "sleep", "1s", duration, sizeof(duration)) != 0)
        return TARRY_FAILED;
    st = tarry_step(ctx, "once", step_once_body, effects, &r);
    if (st == TARRY_FAILED)
        return tarry_set_error(ctx, "step_once: step failed: %s", r.error ? r.error : "");
    TARRY_TRY(st);
    TARRY_TRY(tarry_sleep(ctx, duration));
    return (tarry_status)tarry_set_result(ctx, r.value_json);
}

static tarry_status sleeper(tarry_ctx *ctx, const char *args_json)
{
    char duration[64], result[64];

    if (string_arg(ctx, "sleeper", args_json, "duration", NULL, duration, sizeof(duration)) != 0)
        return TARRY_FAILED;
    TARRY_TRY(tarry_sleep(ctx, duration));
    snprintf(result, sizeof(result), "{\"woke_at\":%lld}", (long long)tarry_now_ms(ctx));
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status now_twice(tarry_ctx *ctx, const char *args_json)
{
    int64_t first, second;
    tarry_handle h;
    tarry_result r;
    cJSON *result;

    (void)args_json;
    first = tarry_now_ms(ctx);
    TARRY_TRY(tarry_call(ctx, "wf_sleep", "{\"ms\":50}", NULL, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    second = tarry_now_ms(ctx);
    result = cJSON_CreateObject();
    cJSON_AddNumberToObject(result, "first", (double)first);
    cJSON_AddNumberToObject(result, "second", (double)second);
    cJSON_AddItemToObject(result, "child", json_or_null(r.value_json));
    return finish_with(ctx, "now_twice", result);
}

static tarry_status misuse_noop_step(tarry_ctx *ctx, void *user)
{
    (void)ctx;
    (void)user;
    return TARRY_OK;
}

static tarry_status misuse(tarry_ctx *ctx, const char *args_json)
{
    tarry_call_opts bad_delay = {.delay = "1 dy"};
    tarry_handle real, forged;
    tarry_result r, rs[1];
    char other_id[sizeof(real.id)];
    cJSON *result = cJSON_CreateObject();
    int rc;

    if (string_arg(ctx, "misuse", args_json, "other_id", tarry_execution_id(ctx), other_id,
                   sizeof(other_id)) != 0) {
        cJSON_Delete(result);
        return TARRY_FAILED;
    }
    cJSON_AddNumberToObject(result, "unknown_function",
                            tarry_call(ctx, "no_such_function", NULL, NULL, NULL));
    cJSON_AddNumberToObject(result, "null_function", tarry_call(ctx, NULL, NULL, NULL, NULL));
    cJSON_AddNumberToObject(result, "bad_args_json", tarry_call(ctx, "wf_ok", "{not json", NULL, NULL));
    cJSON_AddNumberToObject(result, "bad_delay", tarry_call(ctx, "wf_ok", NULL, &bad_delay, NULL));
    cJSON_AddNumberToObject(result, "bad_sleep", tarry_sleep(ctx, "soon"));
    cJSON_AddNumberToObject(result, "null_sleep", tarry_sleep(ctx, NULL));
    cJSON_AddNumberToObject(result, "null_step_fn", tarry_step(ctx, "s", NULL, NULL, NULL));
    cJSON_AddNumberToObject(result, "null_step_name", tarry_step(ctx, NULL, misuse_noop_step, NULL, NULL));

    /* A real child, so the forged handles differ from a good one in one field only. */
    rc = tarry_call(ctx, "wf_ok", NULL, NULL, &real);
    cJSON_AddNumberToObject(result, "valid_call", rc);
    if (rc != TARRY_OK) {
        cJSON_Delete(result);
        return (tarry_status)rc;
    }
    cJSON_AddStringToObject(result, "valid_id", real.id);
    forged = real;
    memcpy(forged.id, other_id, sizeof(forged.id));
    cJSON_AddNumberToObject(result, "forged_id", tarry_await(ctx, &forged, &r));
    forged = real;
    forged.seq = 999999;
    cJSON_AddNumberToObject(result, "seq_out_of_range", tarry_await(ctx, &forged, &r));
    cJSON_AddNumberToObject(result, "null_handle", tarry_await(ctx, NULL, &r));
    cJSON_AddNumberToObject(result, "null_handles", tarry_await_all(ctx, NULL, 1, rs));
    return finish_with(ctx, "misuse", result);
}

static tarry_status suspend_then_ok(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle h;
    tarry_result r;
    char result[64];
    int st;

    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "wf_ok", NULL, NULL, &h));
    st = tarry_await(ctx, &h, &r); /* TARRY_SUSPEND on the first run: ignored on purpose */
    snprintf(result, sizeof(result), "{\"ignored\":%d}", st);
    tarry_set_result(ctx, result);
    return TARRY_OK;
}

static tarry_status fanout(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle *h = NULL;
    tarry_result *r = NULL;
    long long n, i, succeeded = 0;
    char child_args[48], result[96];
    int st = TARRY_OK;

    if (int_arg(ctx, "fanout", args_json, "n", 0, FANOUT_MAX, -1, &n) != 0)
        return TARRY_FAILED;
    if (n < 0)
        return tarry_set_error(ctx, "fanout: args.n is required");
    h = calloc((size_t)n + 1, sizeof(*h));
    r = calloc((size_t)n + 1, sizeof(*r));
    if (!h || !r) {
        st = tarry_set_error(ctx, "fanout: out of memory for %lld children", n);
        goto out;
    }
    for (i = 0; i < n; i++) {
        snprintf(child_args, sizeof(child_args), "{\"i\":%lld}", i);
        if ((st = tarry_call(ctx, "wf_ok", child_args, NULL, &h[i])) != TARRY_OK)
            goto out;
    }
    if ((st = tarry_await_all(ctx, h, (size_t)n, r)) != TARRY_OK)
        goto out;
    for (i = 0; i < n; i++)
        succeeded += r[i].status == TARRY_OK;
    snprintf(result, sizeof(result), "{\"count\":%lld,\"succeeded\":%lld}", n, succeeded);
    st = tarry_set_result(ctx, result);
out:
    free(h);
    free(r);
    return (tarry_status)st;
}

TARRY_PLUGIN("wf", "1.0.0", TARRY_FUNCTION("parallel", parallel), TARRY_FUNCTION("wf_sleep", wf_sleep),
             TARRY_FUNCTION("fail_child", fail_child), TARRY_FUNCTION("await_failed", await_failed),
             TARRY_FUNCTION("wf_fail", wf_fail), TARRY_FUNCTION("wf_ok", wf_ok),
             TARRY_FUNCTION("step_once", step_once), TARRY_FUNCTION("sleeper", sleeper),
             TARRY_FUNCTION("now_twice", now_twice), TARRY_FUNCTION("misuse", misuse),
             TARRY_FUNCTION("suspend_then_ok", suspend_then_ok), TARRY_FUNCTION("fanout", fanout));
