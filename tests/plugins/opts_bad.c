/*
 * opts_bad.c - plugin "opts_bad": a valid function and one whose retry
 * multiplier is below 1. The whole plugin is refused, naming the function
 * and the field (tests/integration/test_fn_options.py).
 */
#include <tarry.h>

static tarry_status echo(tarry_ctx *ctx, const char *args_json)
{
    return (tarry_status)tarry_set_result(ctx, args_json);
}

TARRY_PLUGIN("opts_bad", "1.0.0", TARRY_FUNCTION("bad_ok", echo),
             TARRY_FUNCTION("bad_mult", echo, .retry = {.enabled = 1, .multiplier = 0.5}));
