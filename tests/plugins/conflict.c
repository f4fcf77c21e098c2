/*
 * conflict.c - plugin "conflict" exports `noop`, which testfns also exports.
 * Function names are global in a host (a trigger names only the function),
 * so the plugin loaded second must be refused with the name and the file
 * that already has it. Tests install it as zz_conflict.so so that it loads
 * after testfns.so.
 */
#include <tarry.h>

static tarry_status conflicting_noop(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_result(ctx, "\"the conflicting noop must never run\"");
}

TARRY_PLUGIN("conflict", "1.0.0", TARRY_FUNCTION("noop", conflicting_noop));
