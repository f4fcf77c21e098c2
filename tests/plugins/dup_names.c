/*
 * dup_names.c - one plugin exporting the name "twice" two times. The host
 * must refuse the whole plugin (which "twice" would a trigger run?) and name
 * the duplicate.
 */
#include <tarry.h>

static tarry_status first(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_result(ctx, "1");
}

static tarry_status second(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_result(ctx, "2");
}

TARRY_PLUGIN("dup_names", "1.0.0", TARRY_FUNCTION("twice", first), TARRY_FUNCTION("twice", second));
