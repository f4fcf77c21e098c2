/*
 * cron_v1.c - plugin "cron", version 1: a function on a schedule, for
 * tests/integration/test_cron.py (which runs the host with the test-only
 * TARRY_TEST_CRON_SCALE=60: a minute of schedule per second).
 *
 *   tick    cron "* * * * *"; returns its args (null when the schedule starts it)
 *   manual  no schedule
 *
 * cron_v2.c is version 2, with tick on "*\/5 * * * *".
 */
#include <tarry.h>

static tarry_status echo(tarry_ctx *ctx, const char *args_json)
{
    return (tarry_status)tarry_set_result(ctx, args_json);
}

TARRY_PLUGIN("cron", "1.0.0", TARRY_FUNCTION("tick", echo, .cron = "* * * * *"),
             TARRY_FUNCTION("manual", echo));
