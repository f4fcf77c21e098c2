/*
 * tarry.h - the one header a tarry plugin includes (ABI 1).
 *
 * A plugin is a shared object that exports one data symbol, `tarry_plugin`,
 * made by the TARRY_PLUGIN() macro. The host reads and checks that descriptor
 * (magic, ABI number, struct sizes, pointer size) before it calls any plugin
 * code. Everything a function can ask of the host goes through the `tarry_ctx`
 * it is handed: the context starts with a pointer to a versioned table of host
 * functions, so a plugin has no undefined host symbols (nm -D --undefined-only
 * shows only libc) and loads with RTLD_NOW | RTLD_LOCAL.
 *
 * Compatibility rules (the Redis-modules / SQLite way):
 *   - structs only ever grow at the end; each carries its own size, so the
 *     host can read a plugin built against an older header;
 *   - the host function table only ever grows at the end; its first field is
 *     its size, and the inline wrappers below check it before calling a newer
 *     entry, returning TARRY_ENOTSUP on an older host.
 *
 * Threads and lifetimes: a function runs on one of the host's worker threads,
 * never on the host's event loop, and may run concurrently with other
 * functions (including itself). Every pointer the host hands a function
 * (args_json, the ctx, strings returned by ctx calls) is valid until that
 * function returns. Everything a function hands the host is copied before the
 * call returns. Plugin statics do not survive a reload: keep durable state in
 * your results.
 */
#ifndef TARRY_H
#define TARRY_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TARRY_ABI_VERSION 1
/* "TRRY": the first field of every descriptor, so a stray symbol is refused. */
#define TARRY_PLUGIN_MAGIC 0x54525259u

/*
 * Outcome of a function, and of the ctx calls. Non-negative values are
 * outcomes; negative values are errors, kept in one band (as LMDB does) so
 * they never collide with errno or libc values.
 */
typedef enum tarry_status {
    TARRY_OK = 0,        /* success */
    TARRY_FAILED = 2,    /* the function failed; see tarry_set_error() */
    TARRY_EINVAL = -30700, /* misuse: bad argument, invalid JSON, NULL where not allowed */
    TARRY_ENOMEM = -30701, /* the host could not allocate */
    TARRY_ENOTSUP = -30702 /* the running host is older than this header's call */
} tarry_status;

/* Levels for tarry_log(). */
typedef enum tarry_log_level {
    TARRY_LOG_DEBUG = 0,
    TARRY_LOG_INFO = 1,
    TARRY_LOG_WARN = 2,
    TARRY_LOG_ERROR = 3
} tarry_log_level;

typedef struct tarry_ctx tarry_ctx;

/*
 * A function: `args_json` is the execution's arguments as JSON text (never
 * NULL; "null" when the caller gave none), valid until the function returns.
 * Return TARRY_OK (optionally after tarry_set_result(); the result is JSON
 * null otherwise) or TARRY_FAILED (normally `return tarry_set_error(...)`).
 */
typedef tarry_status (*tarry_fn)(tarry_ctx *ctx, const char *args_json);

/*
 * The host function table. Append-only: never reorder, never remove. `size`
 * is sizeof(tarry_host_api) as the host was built, so a plugin can tell which
 * entries exist.
 */
typedef struct tarry_host_api {
    size_t size;
    int (*set_result)(tarry_ctx *ctx, const char *json);
    int (*set_errorv)(tarry_ctx *ctx, const char *fmt, va_list ap);
    int (*logv)(tarry_ctx *ctx, int level, const char *fmt, va_list ap);
    const char *(*execution_id)(tarry_ctx *ctx);
    int (*attempt)(tarry_ctx *ctx);
} tarry_host_api;

/* Every tarry_ctx the host hands out starts with this; the rest is private. */
struct tarry_ctx_head {
    const tarry_host_api *api;
};

#define TARRY__API(ctx) (((const struct tarry_ctx_head *)(const void *)(ctx))->api)
#define TARRY__HAS(ctx, member) \
    (TARRY__API(ctx)->size >= offsetof(tarry_host_api, member) + sizeof(TARRY__API(ctx)->member))

/*
 * Set the function's result: `json` must be one valid JSON text (object,
 * array, string, number, true, false or null). The host copies it; a later
 * call replaces an earlier one. Returns TARRY_OK, or TARRY_EINVAL (NULL or
 * invalid JSON; the reason is logged with the execution and the result is
 * left unchanged).
 */
static inline int tarry_set_result(tarry_ctx *ctx, const char *json)
{
    if (!TARRY__HAS(ctx, set_result))
        return TARRY_ENOTSUP;
    return TARRY__API(ctx)->set_result(ctx, json);
}

/*
 * Set the function's error message (printf-style; the host copies it) and
 * return TARRY_FAILED, so a function can `return tarry_set_error(ctx, ...)`.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline int tarry_set_error(tarry_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    int rc;
    if (!TARRY__HAS(ctx, set_errorv))
        return TARRY_FAILED;
    va_start(ap, fmt);
    rc = TARRY__API(ctx)->set_errorv(ctx, fmt, ap);
    va_end(ap);
    return rc;
}

/*
 * Append a line to the execution's log (stored with the execution, shown by
 * `tarry logs ID` and GET /v1/executions/ID/logs). Lines longer than 4 KiB
 * are cut. Returns TARRY_OK, TARRY_EINVAL (bad level or NULL fmt) or
 * TARRY_ENOMEM.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int tarry_log(tarry_ctx *ctx, tarry_log_level level, const char *fmt, ...)
{
    va_list ap;
    int rc;
    if (!TARRY__HAS(ctx, logv))
        return TARRY_ENOTSUP;
    va_start(ap, fmt);
    rc = TARRY__API(ctx)->logv(ctx, (int)level, fmt, ap);
    va_end(ap);
    return rc;
}

/* The execution's id as text (26 characters), valid until the function returns. */
static inline const char *tarry_execution_id(tarry_ctx *ctx)
{
    return TARRY__HAS(ctx, execution_id) ? TARRY__API(ctx)->execution_id(ctx) : "";
}

/* Which attempt this is, counting from 1. */
static inline int tarry_attempt(tarry_ctx *ctx)
{
    return TARRY__HAS(ctx, attempt) ? TARRY__API(ctx)->attempt(ctx) : 1;
}

/* A readable name for a tarry_status or TARRY_E* code. */
static inline const char *tarry_strerror(int code)
{
    switch (code) {
    case TARRY_OK: return "ok";
    case TARRY_FAILED: return "failed";
    case TARRY_EINVAL: return "invalid argument";
    case TARRY_ENOMEM: return "out of memory";
    case TARRY_ENOTSUP: return "not supported by this host";
    default: return "unknown tarry status";
    }
}

/*
 * One function a plugin exports. Grows at the end only; the plugin
 * descriptor records sizeof(tarry_function_def) as the plugin was built.
 */
typedef struct tarry_function_def {
    const char *name; /* [A-Za-z_][A-Za-z0-9_.-]*, at most 128 bytes, unique in the host */
    tarry_fn fn;
} tarry_function_def;

/* What TARRY_PLUGIN() exports as the data symbol `tarry_plugin`. */
typedef struct tarry_plugin_def {
    uint32_t magic;         /* TARRY_PLUGIN_MAGIC */
    uint32_t abi_version;   /* TARRY_ABI_VERSION the plugin was built against */
    uint32_t struct_size;   /* sizeof(tarry_plugin_def) */
    uint32_t pointer_size;  /* sizeof(void *): refuses a 32-bit plugin in a 64-bit host */
    uint32_t function_size; /* sizeof(tarry_function_def), the stride of `functions` */
    const char *name;       /* the plugin's name, same rules as function names */
    const char *version;    /* free text, e.g. "1.0.0" */
    const tarry_function_def *functions;
    size_t function_count;
} tarry_plugin_def;

#if defined(__GNUC__)
#define TARRY__EXPORT __attribute__((visibility("default"), used))
#else
#define TARRY__EXPORT
#endif

/*
 * One entry of TARRY_PLUGIN(): TARRY_FUNCTION("name", c_function). Options
 * added by later ABI revisions follow as designated initializers. (The
 * function pointer rides in __VA_ARGS__ so the macro is valid C99 with or
 * without options.)
 */
#define TARRY_FUNCTION(fn_name, ...) { .name = (fn_name), .fn = __VA_ARGS__ }

/*
 * Declare the plugin, once per .so:
 *   TARRY_PLUGIN("billing", "1.2.0",
 *                TARRY_FUNCTION("charge_card", charge_card),
 *                TARRY_FUNCTION("refund", refund));
 */
#define TARRY_PLUGIN(plugin_name, plugin_version, ...)                                          \
    static const tarry_function_def tarry__functions[] = {__VA_ARGS__};                        \
    TARRY__EXPORT const tarry_plugin_def tarry_plugin = {                                      \
        TARRY_PLUGIN_MAGIC, TARRY_ABI_VERSION, (uint32_t)sizeof(tarry_plugin_def),             \
        (uint32_t)sizeof(void *), (uint32_t)sizeof(tarry_function_def), (plugin_name),         \
        (plugin_version), tarry__functions, sizeof(tarry__functions) / sizeof(tarry__functions[0])}

#ifdef __cplusplus
}
#endif

#endif /* TARRY_H */
