/*
 * no_descriptor.c - a shared object that loads fine but is no tarry plugin:
 * it exports a function and no `tarry_plugin` symbol (a library dropped into
 * the plugins folder by mistake). The host must say `tarry_plugin` is missing.
 */
#include <tarry.h>

__attribute__((visibility("default"))) tarry_status orphan_fn(tarry_ctx *ctx, const char *args_json);

tarry_status orphan_fn(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_result(ctx, "\"unreachable without a descriptor\"");
}
