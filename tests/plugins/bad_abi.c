/*
 * bad_abi.c - a descriptor from a future SDK (ABI 999). Written out by hand
 * because TARRY_PLUGIN() always stamps the current ABI. The host must refuse
 * it before calling any of its code, naming the file and "ABI 999".
 */
#include <tarry.h>

static tarry_status future_fn(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_result(ctx, "\"an ABI 999 function must never run\"");
}

static const tarry_function_def future_functions[] = {{.name = "future_fn", .fn = future_fn}};

__attribute__((visibility("default"), used)) const tarry_plugin_def tarry_plugin = {
    .magic = TARRY_PLUGIN_MAGIC,
    .abi_version = 999,
    .struct_size = (uint32_t)sizeof(tarry_plugin_def),
    .pointer_size = (uint32_t)sizeof(void *),
    .function_size = (uint32_t)sizeof(tarry_function_def),
    .name = "bad_abi",
    .version = "1.0.0",
    .functions = future_functions,
    .function_count = 1,
};
