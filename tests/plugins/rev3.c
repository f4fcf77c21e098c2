/*
 * rev3.c - plugin "rev3", built as against header revision 3 (the last
 * before function options and the longer tarry_call_opts): its function
 * entries are {name, fn} only, and its call options hold only `delay`.
 * (Hand-built here, since TARRY_PLUGIN makes today's layout.) The host must
 * load it, give its functions the default options, and read nothing past
 * the end of either struct:
 *
 *   rev3_parent  calls rev3_child with opts {.delay = "0s"} in a struct that
 *                ends after `delay` (ASan sees a read past it), awaits it,
 *                returns {"child": <its result>}.
 *   rev3_child   returns {"rev": 3}.
 */
#include <tarry.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* tarry_call_opts and tarry_function_def as header revision 3 had them. */
struct rev3_call_opts {
    const char *delay;
};
struct rev3_function_def {
    const char *name;
    tarry_fn fn;
};

static tarry_status rev3_child(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return (tarry_status)tarry_set_result(ctx, "{\"rev\":3}");
}

static tarry_status rev3_parent(tarry_ctx *ctx, const char *args_json)
{
    struct rev3_call_opts opts = {.delay = "0s"};
    tarry_handle h;
    tarry_result r;
    char out[256];

    TARRY_TRY(tarry_call(ctx, "rev3_child", args_json, (const tarry_call_opts *)(const void *)&opts, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    snprintf(out, sizeof out, "{\"child\":%s}", r.value_json ? r.value_json : "null");
    return (tarry_status)tarry_set_result(ctx, out);
}

static const struct rev3_function_def functions[] = {
    {"rev3_parent", rev3_parent},
    {"rev3_child", rev3_child},
};

__attribute__((visibility("default"), used)) const tarry_plugin_def tarry_plugin = {
    TARRY_PLUGIN_MAGIC,
    TARRY_ABI_VERSION,
    (uint32_t)sizeof(tarry_plugin_def),
    (uint32_t)sizeof(void *),
    (uint32_t)sizeof(struct rev3_function_def),
    "rev3",
    "3.0.0",
    (const tarry_function_def *)(const void *)functions,
    sizeof functions / sizeof functions[0],
    3,
};
