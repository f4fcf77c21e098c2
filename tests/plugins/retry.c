/*
 * retry.c - the "retry" plugin: functions with retry policies and
 * max_durations that the retry and timeout tests drive (issue 9).
 *
 *   flaky        retry: 5 attempts, 2 s apart (no jitter). Args {"fail": N}:
 *                attempts 1..N fail with "attempt K fails on purpose", the
 *                next returns {"attempt": K}. The waits are long enough for a
 *                test to see the retry wait (scheduled, next_attempt_at) and
 *                kill the host meanwhile.
 *   flaky_now    the same with zero intervals: 5 attempts, retried at once.
 *   flaky_plain  the same body without a retry policy (one attempt).
 *   exhaust      retry: 3 attempts, 0 s: always fails ("still broken").
 *   doomed       retry: 5 attempts, 0 s: fails with tarry_fail_permanent
 *                ("card declined"): one attempt, never retried.
 *   patient      max_duration 1s, retry: 2 attempts, 0 s. Args {"spin": N}:
 *                attempts 1..N spin until tarry_is_cancelled (then return
 *                {"gave_up": K}, which the host discards); the next returns
 *                {"attempt": K}.
 *   stubborn     max_duration 1s, no retry. Args {"until": PATH}: ignores
 *                tarry_is_cancelled and holds its worker until PATH exists,
 *                then returns {"late": true} (discarded: it timed out).
 *   quick        returns {"quick": true}: the work beside the spinners.
 *   wf_retry     retry: 3 attempts, 0 s. Args {"effects": PATH}: step "one"
 *                appends "one\n" to PATH; a retry_child child (same args) is
 *                called and awaited; step "two" appends "two <attempt>\n" and
 *                fails on attempt 1; returns {"attempt": K}. A retried
 *                attempt must not run step one or the child again.
 *   retry_child  appends "child\n" to args.effects, returns {"child": true}.
 *   noop_retry   (scripts/bench) retry on with the defaults; returns null at once.
 *   fail_twice   (scripts/bench) zero intervals: attempts 1 and 2 fail, attempt 3
 *                returns null.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOW                                                                                                  \
    {                                                                                                        \
        .enabled = 1, .max_attempts = 5, .initial_interval = "0s", .max_interval = "0s"                      \
    }

static int int_arg(const char *args_json, const char *name)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    int n = cJSON_IsNumber(v) ? v->valueint : 0;
    cJSON_Delete(args);
    return n;
}

static void string_arg(const char *args_json, const char *name, char *out, size_t len)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    snprintf(out, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(args);
}

static tarry_status attempt_result(tarry_ctx *ctx)
{
    char result[64];
    snprintf(result, sizeof result, "{\"attempt\":%d}", tarry_attempt(ctx));
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status flaky(tarry_ctx *ctx, const char *args_json)
{
    int attempt = tarry_attempt(ctx);
    if (attempt <= int_arg(args_json, "fail"))
        return (tarry_status)tarry_set_error(ctx, "attempt %d fails on purpose", attempt);
    return attempt_result(ctx);
}

static tarry_status exhaust(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return (tarry_status)tarry_set_error(ctx, "still broken (attempt %d)", tarry_attempt(ctx));
}

static tarry_status doomed(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return (tarry_status)tarry_fail_permanent(ctx, "card declined (attempt %d)", tarry_attempt(ctx));
}

static tarry_status patient(tarry_ctx *ctx, const char *args_json)
{
    struct timespec pause = {0, 10 * 1000 * 1000};
    int attempt = tarry_attempt(ctx);
    char result[64];

    if (attempt > int_arg(args_json, "spin"))
        return attempt_result(ctx);
    /* What a long loop should do: look at tarry_is_cancelled now and then. */
    while (!tarry_is_cancelled(ctx))
        nanosleep(&pause, NULL);
    snprintf(result, sizeof result, "{\"gave_up\":%d}", attempt);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status stubborn(tarry_ctx *ctx, const char *args_json)
{
    struct timespec pause = {0, 20 * 1000 * 1000};
    char path[4096];

    string_arg(args_json, "until", path, sizeof path);
    while (!path[0] || access(path, F_OK) != 0)
        nanosleep(&pause, NULL);
    return (tarry_status)tarry_set_result(ctx, "{\"late\":true}");
}

static tarry_status quick(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return (tarry_status)tarry_set_result(ctx, "{\"quick\":true}");
}

/* Append `line` to the effects file named in args (one write: whole or not at all). */
static int append(tarry_ctx *ctx, const char *args_json, const char *line)
{
    char path[4096];
    ssize_t wrote;
    int fd;

    string_arg(args_json, "effects", path, sizeof path);
    if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return tarry_set_error(ctx, "open %s: %s", path, strerror(errno));
    wrote = write(fd, line, strlen(line));
    close(fd);
    return wrote == (ssize_t)strlen(line) ? TARRY_OK : tarry_set_error(ctx, "write %s failed", path);
}

static tarry_status step_one(tarry_ctx *ctx, void *user)
{
    if (append(ctx, user, "one\n") != TARRY_OK)
        return TARRY_FAILED;
    return (tarry_status)tarry_set_result(ctx, "1");
}

static tarry_status step_two(tarry_ctx *ctx, void *user)
{
    char line[32];
    int attempt = tarry_attempt(ctx);

    snprintf(line, sizeof line, "two %d\n", attempt);
    if (append(ctx, user, line) != TARRY_OK)
        return TARRY_FAILED;
    if (attempt == 1)
        return (tarry_status)tarry_set_error(ctx, "step two fails on attempt 1");
    return (tarry_status)tarry_set_result(ctx, "2");
}

static tarry_status wf_retry(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle child;
    tarry_result r;

    TARRY_TRY(tarry_step(ctx, "one", step_one, (void *)args_json, &r));
    TARRY_TRY(tarry_call(ctx, "retry_child", args_json, NULL, &child));
    TARRY_TRY(tarry_await(ctx, &child, &r));
    TARRY_TRY(tarry_step(ctx, "two", step_two, (void *)args_json, &r));
    return attempt_result(ctx);
}

static tarry_status retry_child(tarry_ctx *ctx, const char *args_json)
{
    if (append(ctx, args_json, "child\n") != TARRY_OK)
        return TARRY_FAILED;
    return (tarry_status)tarry_set_result(ctx, "{\"child\":true}");
}

static tarry_status noop_retry(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    return TARRY_OK;
}

static tarry_status fail_twice(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    if (tarry_attempt(ctx) <= 2)
        return (tarry_status)tarry_set_error(ctx, "attempt %d fails on purpose", tarry_attempt(ctx));
    return TARRY_OK;
}

TARRY_PLUGIN("retry", "1.0.0",
             TARRY_FUNCTION("flaky", flaky,
                            .retry = {.enabled = 1,
                                      .max_attempts = 5,
                                      .initial_interval = "2s",
                                      .multiplier = 1,
                                      .randomization_factor = -1,
                                      .max_interval = "2s"}),
             TARRY_FUNCTION("flaky_now", flaky, .retry = NOW), TARRY_FUNCTION("flaky_plain", flaky),
             TARRY_FUNCTION(
                 "exhaust", exhaust,
                 .retry = {.enabled = 1, .max_attempts = 3, .initial_interval = "0s", .max_interval = "0s"}),
             TARRY_FUNCTION("doomed", doomed, .retry = NOW),
             TARRY_FUNCTION(
                 "patient", patient, .max_duration = "1s",
                 .retry = {.enabled = 1, .max_attempts = 2, .initial_interval = "0s", .max_interval = "0s"}),
             TARRY_FUNCTION("stubborn", stubborn, .max_duration = "1s"), TARRY_FUNCTION("quick", quick),
             TARRY_FUNCTION(
                 "wf_retry", wf_retry,
                 .retry = {.enabled = 1, .max_attempts = 3, .initial_interval = "0s", .max_interval = "0s"}),
             TARRY_FUNCTION("retry_child", retry_child),
             TARRY_FUNCTION("noop_retry", noop_retry, .retry = {.enabled = 1}),
             TARRY_FUNCTION("fail_twice", fail_twice, .retry = NOW));
