/*
 * rl_clash.c - a broken new build of plugin "rl": besides rl's functions it
 * exports `noop`, which plugin testfns (testfns.so, loaded from the same
 * folder) already provides. Function names are global in a host, so a
 * reload must refuse this build and keep both the good rl and testfns
 * serving.
 */
#define RL_VERSION 98
#include "rl_common.h"

static tarry_status clashing_noop(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_result(ctx, "\"rl_clash's noop must never run\"");
}

TARRY_PLUGIN("rl", "98.0.0-clash", RL_FUNCTIONS, TARRY_FUNCTION("noop", clashing_noop));
