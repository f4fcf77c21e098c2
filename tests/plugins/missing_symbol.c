/*
 * missing_symbol.c - a valid plugin that needs a symbol nothing provides
 * (CMake links it with unresolved symbols allowed). dlopen(RTLD_NOW) must
 * fail, and the host must pass on the loader's reason ("undefined symbol:
 * tarry_test_symbol_nobody_defines") with the file name.
 */
#include <tarry.h>

extern int tarry_test_symbol_nobody_defines(void);

static tarry_status needs_symbol(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    if (tarry_test_symbol_nobody_defines() != 0)
        return tarry_set_error(ctx, "unreachable");
    return TARRY_OK;
}

TARRY_PLUGIN("missing_symbol", "1.0.0", TARRY_FUNCTION("needs_symbol", needs_symbol));
