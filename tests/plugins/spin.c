/*
 * spin.c - a function that never returns, unless told to (issue 8, item 3).
 *
 *   spin        args {"until": PATH}: holds its worker until PATH exists
 *               (forever if it never does), then returns {"spun": true}. It
 *               polls every 20 ms rather than burning a core, since what
 *               the host must notice is a worker held, not CPU used: the
 *               host cannot tell the two apart from outside.
 *   spin_quick  returns {"quick": true} at once: the work that waits behind
 *               the spinners.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static tarry_status spin(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *until = cJSON_GetObjectItemCaseSensitive(args, "until");
    char path[4096] = "";
    struct timespec pause = {0, 20 * 1000 * 1000};

    if (cJSON_IsString(until))
        snprintf(path, sizeof path, "%s", until->valuestring);
    cJSON_Delete(args);
    while (!path[0] || access(path, F_OK) != 0)
        nanosleep(&pause, NULL);
    return tarry_set_result(ctx, "{\"spun\":true}");
}

static tarry_status spin_quick(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_result(ctx, "{\"quick\":true}");
}

TARRY_PLUGIN("spin", "1.0.0", TARRY_FUNCTION("spin", spin), TARRY_FUNCTION("spin_quick", spin_quick));
