/*
 * cron_bad.c - plugin "cron_bad": a function whose cron expression is
 * invalid (minute 61). The host must refuse the plugin, naming the
 * function and the field (tests/integration/test_cron.py).
 */
#include <tarry.h>

static tarry_status echo(tarry_ctx *ctx, const char *args_json)
{
    return (tarry_status)tarry_set_result(ctx, args_json);
}

TARRY_PLUGIN("cron_bad", "1.0.0", TARRY_FUNCTION("bad_tick", echo, .cron = "61 * * * *"));
