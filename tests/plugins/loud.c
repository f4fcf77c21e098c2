/*
 * loud.c - the "loud" plugin: functions that log far more than the host
 * keeps (issue 8, item 5), for tests/integration/test_logs_bounded.py.
 *
 *   loud        args {"lines": N, "bytes": B}: logs N lines of B bytes each
 *               ("line I " then 'x's), then returns {"logged": N}.
 *   loud_flow   args {"lines": N, "passes": P}: logs N short lines, then a
 *               durable sleep of 1 ms, P times over (so later passes replay
 *               the earlier lines and log new ones), then one line of 200
 *               'é' (400 bytes, to be cut at a character boundary) and one
 *               with a byte that is no UTF-8.
 *   quick       returns {"quick": true} at once.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int arg_int(const char *args_json, const char *name, int fallback)
{
    cJSON *args = cJSON_Parse(args_json);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    int n = cJSON_IsNumber(v) ? v->valueint : fallback;
    cJSON_Delete(args);
    return n;
}

static tarry_status loud(tarry_ctx *ctx, const char *args_json)
{
    int lines = arg_int(args_json, "lines", 10), bytes = arg_int(args_json, "bytes", 16);
    char *pad, result[64];

    if (bytes < 1 || !(pad = malloc((size_t)bytes + 1)))
        return tarry_set_error(ctx, "loud: bad \"bytes\"");
    memset(pad, 'x', (size_t)bytes);
    pad[bytes] = '\0';
    for (int i = 0; i < lines; i++)
        /* "line I " and the padding: B bytes and a little more, cut by the host. */
        tarry_log(ctx, TARRY_LOG_INFO, "line %d %s", i, pad);
    free(pad);
    snprintf(result, sizeof result, "{\"logged\": %d}", lines);
    return tarry_set_result(ctx, result);
}

static tarry_status loud_flow(tarry_ctx *ctx, const char *args_json)
{
    int lines = arg_int(args_json, "lines", 3), passes = arg_int(args_json, "passes", 2);
    char accents[401];

    for (int p = 0; p < passes; p++) {
        for (int i = 0; i < lines; i++)
            tarry_log(ctx, TARRY_LOG_INFO, "pass %d line %d", p, i);
        TARRY_TRY(tarry_sleep(ctx, "1ms"));
    }
    for (int i = 0; i < 200; i++)
        memcpy(accents + 2 * i, "\xc3\xa9", 2);
    accents[400] = '\0';
    tarry_log(ctx, TARRY_LOG_INFO, "%s", accents);
    tarry_log(ctx, TARRY_LOG_INFO, "latin1 \xe9 here");
    return tarry_set_result(ctx, "{\"done\": true}");
}

static tarry_status quick(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_result(ctx, "{\"quick\": true}");
}

TARRY_PLUGIN("loud", "1.0.0", TARRY_FUNCTION("loud", loud), TARRY_FUNCTION("loud_flow", loud_flow),
             TARRY_FUNCTION("quick", quick));
