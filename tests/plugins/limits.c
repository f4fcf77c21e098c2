/*
 * limits.c - plugin "limits": functions with concurrency limits, for
 * tests/integration/test_concurrency.py.
 *
 *   lim_one     concurrency 1 (queue)
 *   lim_two     concurrency 2 (queue)
 *   lim_cancel  concurrency 1, max_concurrency_action "cancel"
 *   unlimited   no limit
 *   lim_flaky   concurrency 1, retried at once (interval 0s, 3 attempts): its first attempt
 *               fails after writing its lines, the second succeeds
 *
 * Each takes args {"file": PATH, "n": N, "ms": MS, "gate": PATH}: appends
 * "start N PID T\n", sleeps MS milliseconds (and, with "gate", until that
 * file exists: a test holds runs as long as it needs, whatever the
 * machine's speed), appends "end N PID T\n" (T:
 * wall-clock ms, PID: the engine process), each line with one write(2) on
 * an O_APPEND descriptor, so the file is the order in which runs started and
 * ended, whatever the workers and the engines killed meanwhile. "file" may
 * be absent (nothing written). Returns {"n": N}.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int append(const char *file, const char *what, int n)
{
    char line[128];
    int len = snprintf(line, sizeof line, "%s %d %d %lld\n", what, n, (int)getpid(), now_ms());
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    ssize_t wrote = write(fd, line, (size_t)len);
    close(fd);
    return wrote == len ? 0 : -1;
}

static tarry_status run_maybe_failing(tarry_ctx *ctx, const char *args_json, int fail_first)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(args, "file");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(args, "n");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(args, "ms");
    const cJSON *gate = cJSON_GetObjectItemCaseSensitive(args, "gate");
    int num = cJSON_IsNumber(n) ? n->valueint : 0;
    char result[64];

    if (cJSON_IsString(file) && append(file->valuestring, "start", num) != 0) {
        cJSON_Delete(args);
        return tarry_set_error(ctx, "cannot append to the file");
    }
    if (cJSON_IsNumber(ms) && ms->valueint > 0) {
        struct timespec ts = {ms->valueint / 1000, (long)(ms->valueint % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    while (cJSON_IsString(gate) && access(gate->valuestring, F_OK) != 0) {
        struct timespec ts = {0, 5000000L};
        nanosleep(&ts, NULL);
    }
    if (cJSON_IsString(file) && append(file->valuestring, "end", num) != 0) {
        cJSON_Delete(args);
        return tarry_set_error(ctx, "cannot append to the file");
    }
    cJSON_Delete(args);
    if (fail_first && tarry_attempt(ctx) == 1)
        return tarry_set_error(ctx, "first attempt fails on purpose");
    snprintf(result, sizeof result, "{\"n\":%d}", num);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status run(tarry_ctx *ctx, const char *args_json)
{
    return run_maybe_failing(ctx, args_json, 0);
}

static tarry_status flaky(tarry_ctx *ctx, const char *args_json)
{
    return run_maybe_failing(ctx, args_json, 1);
}

TARRY_PLUGIN("limits", "1.0.0", TARRY_FUNCTION("lim_one", run, .concurrency = 1),
             TARRY_FUNCTION("lim_two", run, .concurrency = 2),
             TARRY_FUNCTION("lim_cancel", run, .concurrency = 1, .max_concurrency_action = "cancel"),
             TARRY_FUNCTION("unlimited", run),
             TARRY_FUNCTION("lim_flaky", flaky, .concurrency = 1,
                            .retry = {.enabled = 1,
                                      .max_attempts = 3,
                                      .initial_interval = "0s",
                                      .randomization_factor = -1}));
