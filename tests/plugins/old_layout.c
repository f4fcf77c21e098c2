/*
 * old_layout.c - plugin "old_layout", whose descriptor has the first layout
 * of ABI 1: it ends before `header_revision`, as a plugin built against the
 * first tarry.h has it (hand-built here, since TARRY_PLUGIN makes today's).
 * The host must load it as header revision 1, where tarry_call_opts ends
 * before `delay`:
 *
 *   old_later  calls old_child with opts.delay "1 day" (not read on revision
 *              1, so the child starts at once), awaits it and returns its
 *              result.
 *   old_child  returns {"child": true}.
 */
#include <tarry.h>

#include <stddef.h>
#include <stdint.h>

static tarry_status old_child(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return (tarry_status)tarry_set_result(ctx, "{\"child\":true}");
}

static tarry_status old_later(tarry_ctx *ctx, const char *args_json)
{
    tarry_call_opts later = {.delay = "1 day"};
    tarry_handle h;
    tarry_result r;

    TARRY_TRY(tarry_call(ctx, "old_child", args_json, &later, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    return (tarry_status)tarry_set_result(ctx, r.value_json);
}

/* tarry_plugin_def as ABI 1 first had it: no header_revision at the end. */
struct first_layout_def {
    uint32_t magic, abi_version, struct_size, pointer_size, function_size;
    const char *name, *version;
    const tarry_function_def *functions;
    size_t function_count;
};

static const tarry_function_def functions[] = {
    TARRY_FUNCTION("old_later", old_later),
    TARRY_FUNCTION("old_child", old_child),
};

__attribute__((visibility("default"), used)) const struct first_layout_def tarry_plugin = {
    TARRY_PLUGIN_MAGIC,
    TARRY_ABI_VERSION,
    (uint32_t)sizeof(struct first_layout_def),
    (uint32_t)sizeof(void *),
    (uint32_t)sizeof(tarry_function_def),
    "old_layout",
    "0.1.0",
    functions,
    sizeof functions / sizeof functions[0],
};

_Static_assert(sizeof(struct first_layout_def) == offsetof(tarry_plugin_def, header_revision),
               "the first layout ends where header_revision begins");
