/*
 * examples.c - the "examples" plugin (1.0.0): small background functions
 * that show the SDK and that the README, the benchmarks and the tests use.
 *
 *   always_fails        fails every time, with a message naming the attempt;
 *                       shows what a failed execution looks like.
 *   add                 args {"a": 1, "b": 2} -> {"sum": 3}. Fails, naming the
 *                       field, when a or b is missing or not a number.
 *   noop                does nothing and returns at once (result null); the
 *                       benchmarks measure the host with it.
 *   sleep_ms            args {"ms": 250} -> sleeps that long on its worker
 *                       thread, returns {"slept_ms": 250}. ms is an integer
 *                       from 0 to 600000 (10 minutes).
 *
 * Plugins may use sdk/ and cJSON only; this one parses and builds JSON with
 * cJSON rather than by hand, so it links libcjson.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#define SLEEP_MS_MAX 600000.0

/*
 * Parse args_json as an object. Returns the tree (caller frees with
 * cJSON_Delete) or NULL after setting the function's error.
 */
static cJSON *args_object(tarry_ctx *ctx, const char *fn, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    if (!cJSON_IsObject(args)) {
        cJSON_Delete(args);
        tarry_set_error(ctx, "%s: args must be a JSON object, got %.64s", fn, args_json);
        return NULL;
    }
    return args;
}

/*
 * Hand `result` to the host as the function's result and free it. The host
 * copies the text, so it is freed here in every case.
 */
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

static tarry_status always_fails(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_error(ctx, "always_fails: this function fails on purpose (attempt %d)",
                           tarry_attempt(ctx));
}

static tarry_status add(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = args_object(ctx, "add", args_json);
    cJSON *a, *b, *result;
    double sum;

    if (!args)
        return TARRY_FAILED;
    a = cJSON_GetObjectItemCaseSensitive(args, "a");
    b = cJSON_GetObjectItemCaseSensitive(args, "b");
    if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b)) {
        const char *field = cJSON_IsNumber(a) ? "b" : "a";
        cJSON_Delete(args);
        return tarry_set_error(ctx, "add: args.%s must be a number", field);
    }
    sum = a->valuedouble + b->valuedouble;
    cJSON_Delete(args);
    /* JSON has no infinity: cJSON would print null, which is not a sum. */
    if (!isfinite(sum))
        return tarry_set_error(ctx, "add: the sum is out of range");
    result = cJSON_CreateObject();
    if (result && !cJSON_AddNumberToObject(result, "sum", sum)) {
        cJSON_Delete(result);
        result = NULL;
    }
    return finish_with(ctx, "add", result);
}

static tarry_status noop(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    return TARRY_OK;
}

static tarry_status sleep_ms(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = args_object(ctx, "sleep_ms", args_json);
    cJSON *ms, *result;
    struct timespec left;
    long long want;

    if (!args)
        return TARRY_FAILED;
    ms = cJSON_GetObjectItemCaseSensitive(args, "ms");
    if (!cJSON_IsNumber(ms) || ms->valuedouble < 0 || ms->valuedouble > SLEEP_MS_MAX ||
        ms->valuedouble != (double)(long long)ms->valuedouble) {
        cJSON_Delete(args);
        return tarry_set_error(ctx, "sleep_ms: args.ms must be an integer from 0 to %.0f", SLEEP_MS_MAX);
    }
    want = (long long)ms->valuedouble;
    cJSON_Delete(args);
    left.tv_sec = (time_t)(want / 1000);
    left.tv_nsec = (long)(want % 1000) * 1000000L;
    /* A signal must not cut the sleep short: resume with what is left. */
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
    result = cJSON_CreateObject();
    if (result && !cJSON_AddNumberToObject(result, "slept_ms", (double)want)) {
        cJSON_Delete(result);
        result = NULL;
    }
    return finish_with(ctx, "sleep_ms", result);
}

TARRY_PLUGIN("examples", "1.0.0", TARRY_FUNCTION("always_fails", always_fails), TARRY_FUNCTION("add", add),
             TARRY_FUNCTION("noop", noop), TARRY_FUNCTION("sleep_ms", sleep_ms));
