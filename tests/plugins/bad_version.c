/*
 * bad_version.c - a plugin whose version is not UTF-8 (a Latin-1 'é'). A version is shown
 * in JSON and stored as text: the host must refuse the plugin and say the version is invalid.
 */
#include <tarry.h>

static tarry_status never(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_result(ctx, "\"a plugin with an invalid version must never run\"");
}

TARRY_PLUGIN("bad_version", "1.0-caf\xe9", TARRY_FUNCTION("bad_version_fn", never));
