/*
 * bad_name.c - a function named "has space": not a valid name (it could not
 * sit in a URL path or a CLI argument unquoted). The host must refuse the
 * plugin and say the name is invalid.
 */
#include <tarry.h>

static tarry_status spaced(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_result(ctx, "\"an invalid name must never run\"");
}

TARRY_PLUGIN("bad_name", "1.0.0", TARRY_FUNCTION("has space", spaced));
