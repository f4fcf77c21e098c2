/*
 * fuzz_plugin.c - the plugin the fuzz host loads: functions that finish at
 * once whatever their args, so fuzzed triggers commit and run without
 * holding a worker.
 *
 *   noop   result null.
 *   echo   returns its args.
 */
#include <tarry.h>

static tarry_status noop(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    return TARRY_OK;
}

static tarry_status echo(tarry_ctx *ctx, const char *args_json)
{
    return tarry_set_result(ctx, args_json);
}

TARRY_PLUGIN("fuzz", "1.0.0", TARRY_FUNCTION("noop", noop), TARRY_FUNCTION("echo", echo));
