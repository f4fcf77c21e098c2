/*
 * cancel.c - the "cancel" plugin: functions the cancel, re-run and discard
 * tests (tests/integration/test_cancel*.py, test_rerun.py, test_discard.py)
 * and the cancel bench drive.
 *
 *   cancel_loop     args {"started": PATH, "max_s": S}: writes its execution
 *                   id to PATH (when given), then loops every 10 ms until tarry_is_cancelled()
 *                   (returns {"saw_cancel": true}, which the host must
 *                   discard) or S seconds passed (default 300: returns
 *                   {"saw_cancel": false}; a test that gets this failed).
 *   cancel_hold     args {"until": PATH}: holds its worker until PATH exists,
 *                   without looking at tarry_is_cancelled() (busy workers for
 *                   queued and discard tests); returns {"held": true}.
 *   cancel_echo     returns {"args": ARGS}.
 *   cancel_sleeper  args {"duration": D}: tarry_sleep(D, default "1h"), then
 *                   returns {"slept": true}.
 *   cancel_await    args {"child": FN, "child_args": A}: calls FN(A), awaits
 *                   it, returns {"status": S, "error": E, "value": V}
 *                   (TARRY_CANCELLED is 3).
 *   cancel_fanout   args {"n": N, "child": FN, "child_args": A}: calls N
 *                   children FN(A) (0..10000), awaits all, returns
 *                   {"statuses": [S...]}.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FANOUT_MAX 10000

/* Write `text` to `path` (the test reads it once the file exists: written to a temp file first). */
static void write_file(const char *path, const char *text)
{
    char tmp[4200];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "w")))
        return;
    fputs(text, f);
    if (fclose(f) == 0)
        rename(tmp, path);
}

static tarry_status finish_with(tarry_ctx *ctx, cJSON *result)
{
    char *text = result ? cJSON_PrintUnformatted(result) : NULL;
    tarry_status st;

    cJSON_Delete(result);
    if (!text)
        return tarry_set_error(ctx, "out of memory");
    st = tarry_set_result(ctx, text);
    free(text);
    return st;
}

static tarry_status cancel_loop(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *started = cJSON_GetObjectItemCaseSensitive(args, "started");
    const cJSON *max_s = cJSON_GetObjectItemCaseSensitive(args, "max_s");
    struct timespec pause = {0, 10 * 1000 * 1000};
    long rounds = (cJSON_IsNumber(max_s) ? (long)max_s->valuedouble : 300) * 100;
    int saw = 0;

    if (cJSON_IsString(started))
        write_file(started->valuestring, tarry_execution_id(ctx));
    cJSON_Delete(args);
    for (long i = 0; i < rounds && !(saw = tarry_is_cancelled(ctx)); i++)
        nanosleep(&pause, NULL);
    return tarry_set_result(ctx, saw ? "{\"saw_cancel\":true}" : "{\"saw_cancel\":false}");
}

static tarry_status cancel_hold(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *until = cJSON_GetObjectItemCaseSensitive(args, "until");
    char path[4096] = "";
    struct timespec pause = {0, 10 * 1000 * 1000};

    if (cJSON_IsString(until))
        snprintf(path, sizeof path, "%s", until->valuestring);
    cJSON_Delete(args);
    while (path[0] && access(path, F_OK) != 0)
        nanosleep(&pause, NULL);
    return tarry_set_result(ctx, "{\"held\":true}");
}

static tarry_status cancel_echo(tarry_ctx *ctx, const char *args_json)
{
    cJSON *result = cJSON_CreateObject();
    cJSON *args = cJSON_Parse(args_json);
    cJSON_AddItemToObject(result, "args", args ? args : cJSON_CreateNull());
    return finish_with(ctx, result);
}

static tarry_status cancel_sleeper(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *duration = cJSON_GetObjectItemCaseSensitive(args, "duration");
    char d[64];
    tarry_status st;

    snprintf(d, sizeof d, "%s", cJSON_IsString(duration) ? duration->valuestring : "1h");
    cJSON_Delete(args);
    if ((st = tarry_sleep(ctx, d)) != TARRY_OK)
        return st;
    return tarry_set_result(ctx, "{\"slept\":true}");
}

/* The child's function and args from args {"child": FN, "child_args": A}; the caller frees *child_args. */
static int child_of(const cJSON *args, char *fn, size_t fn_len, char **child_args)
{
    const cJSON *child = cJSON_GetObjectItemCaseSensitive(args, "child");
    const cJSON *child_args_json = cJSON_GetObjectItemCaseSensitive(args, "child_args");

    if (!cJSON_IsString(child))
        return -1;
    snprintf(fn, fn_len, "%s", child->valuestring);
    *child_args = child_args_json ? cJSON_PrintUnformatted(child_args_json) : strdup("null");
    return *child_args ? 0 : -1;
}

static tarry_status cancel_await(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json), *result;
    char fn[128], *child_args = NULL;
    tarry_handle h;
    tarry_result r;
    tarry_status st;

    if (child_of(args, fn, sizeof fn, &child_args) != 0) {
        cJSON_Delete(args);
        return tarry_set_error(ctx, "cancel_await: args.child must name a function");
    }
    cJSON_Delete(args);
    st = tarry_call(ctx, fn, child_args, NULL, &h);
    free(child_args);
    if (st != TARRY_OK)
        return st;
    if ((st = tarry_await(ctx, &h, &r)) == TARRY_SUSPEND)
        return st;
    result = cJSON_CreateObject();
    cJSON_AddNumberToObject(result, "status", r.status);
    if (r.error)
        cJSON_AddStringToObject(result, "error", r.error);
    else
        cJSON_AddNullToObject(result, "error");
    cJSON_AddItemToObject(result, "value", r.value_json ? cJSON_Parse(r.value_json) : cJSON_CreateNull());
    return finish_with(ctx, result);
}

static tarry_status cancel_fanout(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json), *result, *statuses;
    const cJSON *n_json = cJSON_GetObjectItemCaseSensitive(args, "n");
    char fn[128], *child_args = NULL;
    tarry_handle *h;
    tarry_result *r;
    tarry_status st = TARRY_OK;
    int n = cJSON_IsNumber(n_json) ? (int)n_json->valuedouble : 0;

    if (n < 0 || n > FANOUT_MAX || child_of(args, fn, sizeof fn, &child_args) != 0) {
        cJSON_Delete(args);
        return tarry_set_error(ctx, "cancel_fanout: args.n must be 0..%d and args.child a function",
                               FANOUT_MAX);
    }
    cJSON_Delete(args);
    h = calloc((size_t)n + 1, sizeof *h);
    r = calloc((size_t)n + 1, sizeof *r);
    if (!h || !r) {
        free(h);
        free(r);
        free(child_args);
        return tarry_set_error(ctx, "out of memory");
    }
    for (int i = 0; i < n && st == TARRY_OK; i++)
        st = tarry_call(ctx, fn, child_args, NULL, &h[i]);
    free(child_args);
    if (st == TARRY_OK)
        st = tarry_await_all(ctx, h, (size_t)n, r);
    if (st != TARRY_OK) {
        free(h);
        free(r);
        return st;
    }
    result = cJSON_CreateObject();
    statuses = cJSON_AddArrayToObject(result, "statuses");
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(statuses, cJSON_CreateNumber(r[i].status));
    free(h);
    free(r);
    return finish_with(ctx, result);
}

TARRY_PLUGIN("cancel", "1.0.0", TARRY_FUNCTION("cancel_loop", cancel_loop),
             TARRY_FUNCTION("cancel_hold", cancel_hold), TARRY_FUNCTION("cancel_echo", cancel_echo),
             TARRY_FUNCTION("cancel_sleeper", cancel_sleeper), TARRY_FUNCTION("cancel_await", cancel_await),
             TARRY_FUNCTION("cancel_fanout", cancel_fanout));
