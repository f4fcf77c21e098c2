/*
 * opts.c - plugin "opts": functions declaring the options of header
 * revision 4, for GET /v1/functions (tests/integration/test_fn_options.py).
 *
 *   opt_plain     no options: no retry, max_duration 30m, no limit
 *   opt_defaults  retry on with every field zero: Defer's defaults
 *   opt_custom    every field set, no jitter, no max_duration
 * Each returns its args.
 */
#include <tarry.h>

static tarry_status echo(tarry_ctx *ctx, const char *args_json)
{
    return (tarry_status)tarry_set_result(ctx, args_json);
}

TARRY_PLUGIN("opts", "1.0.0", TARRY_FUNCTION("opt_plain", echo),
             TARRY_FUNCTION("opt_defaults", echo, .retry = {.enabled = 1}),
             TARRY_FUNCTION("opt_custom", echo,
                            .retry = {.enabled = 1,
                                      .max_attempts = 5,
                                      .initial_interval = "1s",
                                      .multiplier = 2,
                                      .randomization_factor = -1,
                                      .max_interval = "1m"},
                            .max_duration = "0", .concurrency = 2, .max_concurrency_action = "cancel"));
