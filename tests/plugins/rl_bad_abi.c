/*
 * rl_bad_abi.c - a broken new build of plugin "rl": its descriptor says ABI
 * 999 (written by hand: TARRY_PLUGIN() always stamps the current ABI).
 * Installed over a good rl.so, a reload must refuse it ("ABI 999") before
 * calling any of its code, and keep the good version serving.
 */
#define RL_VERSION 97
#include "rl_common.h"

static const tarry_function_def rl_bad_abi_functions[] = {RL_FUNCTIONS};

__attribute__((visibility("default"), used)) const tarry_plugin_def tarry_plugin = {
    .magic = TARRY_PLUGIN_MAGIC,
    .abi_version = 999,
    .struct_size = (uint32_t)sizeof(tarry_plugin_def),
    .pointer_size = (uint32_t)sizeof(void *),
    .function_size = (uint32_t)sizeof(tarry_function_def),
    .name = "rl",
    .version = "97.0.0-abi999",
    .functions = rl_bad_abi_functions,
    .function_count = sizeof rl_bad_abi_functions / sizeof rl_bad_abi_functions[0],
    .header_revision = TARRY_HEADER_REVISION,
};
