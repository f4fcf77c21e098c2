/*
 * cron_v2.c - plugin "cron", version 2 (cron_v1.c is version 1): tick's
 * schedule becomes every fifth minute, "*\/5 * * * *".
 */
#include <tarry.h>

static tarry_status echo(tarry_ctx *ctx, const char *args_json)
{
    return (tarry_status)tarry_set_result(ctx, args_json);
}

TARRY_PLUGIN("cron", "2.0.0", TARRY_FUNCTION("tick", echo, .cron = "*/5 * * * *"),
             TARRY_FUNCTION("manual", echo));
