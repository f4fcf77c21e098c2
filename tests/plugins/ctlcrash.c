/*
 * ctlcrash.c - plugin "ctlcrash": the functions of the execution-control
 * crash test (tests/integration/test_control_crash.py). Each appends lines
 * "<what> <execution id> <attempt> <engine pid>\n" to args.file (one write(2)
 * on an O_APPEND descriptor: lines from concurrent workers and from engines
 * killed mid-write never interleave), so the test can tell which attempt of
 * which execution ran in which engine, and whether one ran after its cancel
 * was acknowledged (a start with an attempt number past the one the cancel
 * answer showed).
 *
 *   ctl_flaky    retry: 5 attempts, 0 s. Args {"file", "fail": N, "ms": M}:
 *                "start", sleeps M ms (long enough for a kill to land in an
 *                attempt), then attempts 1..N fail with "attempt K fails on
 *                purpose" and the next returns {"attempt": K}.
 *   ctl_stubborn args {"file", "ms": M}: "start", waits until
 *                tarry_is_cancelled, then takes M ms more to wind down (a
 *                kill in that window lands after the cancel was answered
 *                202), "end", returns {"saw_cancel": true} (to be discarded).
 *   ctl_one      concurrency 1. Args {"file", "ms": M}: "start", sleeps M ms
 *                without looking at tarry_is_cancelled, "end", returns
 *                {"ran": true}.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct ctl_args {
    char file[4096];
    int fail, ms;
};

static void parse(const char *args_json, struct ctl_args *a)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(args, "file");
    const cJSON *fail = cJSON_GetObjectItemCaseSensitive(args, "fail");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(args, "ms");

    snprintf(a->file, sizeof a->file, "%s", cJSON_IsString(file) ? file->valuestring : "");
    a->fail = cJSON_IsNumber(fail) ? fail->valueint : 0;
    a->ms = cJSON_IsNumber(ms) ? ms->valueint : 0;
    cJSON_Delete(args);
}

/* Append one line; 0 or -1 (the caller fails the attempt: a test must not miss a run). */
static int note(tarry_ctx *ctx, const struct ctl_args *a, const char *what)
{
    char line[128];
    int len = snprintf(line, sizeof line, "%s %s %d %d\n", what, tarry_execution_id(ctx), tarry_attempt(ctx),
                       (int)getpid());
    int fd = open(a->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    ssize_t wrote;

    if (fd < 0)
        return -1;
    wrote = write(fd, line, (size_t)len);
    close(fd);
    return wrote == len ? 0 : -1;
}

static void sleep_ms(int ms)
{
    struct timespec left = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

static tarry_status ctl_flaky(tarry_ctx *ctx, const char *args_json)
{
    struct ctl_args a;
    char result[64];
    int attempt = tarry_attempt(ctx);

    parse(args_json, &a);
    if (note(ctx, &a, "start") != 0)
        return tarry_fail_permanent(ctx, "cannot append to %s", a.file);
    sleep_ms(a.ms);
    if (attempt <= a.fail)
        return tarry_set_error(ctx, "attempt %d fails on purpose", attempt);
    snprintf(result, sizeof result, "{\"attempt\":%d}", attempt);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status ctl_stubborn(tarry_ctx *ctx, const char *args_json)
{
    struct ctl_args a;

    parse(args_json, &a);
    if (note(ctx, &a, "start") != 0)
        return tarry_fail_permanent(ctx, "cannot append to %s", a.file);
    while (!tarry_is_cancelled(ctx))
        sleep_ms(10);
    sleep_ms(a.ms);
    note(ctx, &a, "end");
    return (tarry_status)tarry_set_result(ctx, "{\"saw_cancel\":true}");
}

static tarry_status ctl_one(tarry_ctx *ctx, const char *args_json)
{
    struct ctl_args a;

    parse(args_json, &a);
    if (note(ctx, &a, "start") != 0)
        return tarry_fail_permanent(ctx, "cannot append to %s", a.file);
    sleep_ms(a.ms);
    if (note(ctx, &a, "end") != 0)
        return tarry_fail_permanent(ctx, "cannot append to %s", a.file);
    return (tarry_status)tarry_set_result(ctx, "{\"ran\":true}");
}

TARRY_PLUGIN("ctlcrash", "1.0.0",
             TARRY_FUNCTION(
                 "ctl_flaky", ctl_flaky,
                 .retry = {.enabled = 1, .max_attempts = 5, .initial_interval = "0s", .max_interval = "0s"}),
             TARRY_FUNCTION("ctl_stubborn", ctl_stubborn),
             TARRY_FUNCTION("ctl_one", ctl_one, .concurrency = 1));
