/*
 * opts_bad_action.c - plugin "opts_bad_action": max_concurrency_action is
 * neither "queue" nor "cancel", so the plugin is refused naming the field.
 */
#include <tarry.h>

static tarry_status echo(tarry_ctx *ctx, const char *args_json)
{
    return (tarry_status)tarry_set_result(ctx, args_json);
}

TARRY_PLUGIN("opts_bad_action", "1.0.0",
             TARRY_FUNCTION("bad_action", echo, .concurrency = 1, .max_concurrency_action = "drop"));
