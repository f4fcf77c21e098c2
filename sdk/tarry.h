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
/* Which revision of this header a plugin was built with (recorded in its
 * descriptor), so the host knows which fields of option structs exist. */
#define TARRY_HEADER_REVISION 6
/* "TRRY": the first field of every descriptor, so a stray symbol is refused. */
#define TARRY_PLUGIN_MAGIC 0x54525259u

/*
 * Outcome of a function, and of the ctx calls. Non-negative values are
 * outcomes; negative values are errors, kept in one band (as LMDB does) so
 * they never collide with errno or libc values.
 */
typedef enum tarry_status {
    TARRY_OK = 0,          /* success */
    TARRY_SUSPEND = 1,     /* not ready yet: return it from the function at once */
    TARRY_FAILED = 2,      /* the function (or a child, or a step) failed; see tarry_set_error() */
    TARRY_CANCELLED = 3,   /* a child was cancelled */
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
 * A child execution started by tarry_call(): a plain value, copy it freely.
 * `id` is the child's execution id (text); `seq` is the journal position of
 * the call that made it, which is what tarry_await() looks up.
 */
typedef struct tarry_handle {
    char id[27];
    uint32_t seq;
} tarry_handle;

/* The outcome of a child or a step. Strings are valid until the function returns. */
typedef struct tarry_result {
    tarry_status status;    /* TARRY_OK, TARRY_FAILED or TARRY_CANCELLED */
    const char *value_json; /* the result when TARRY_OK ("null" if none), else NULL */
    const char *error;      /* the error when not TARRY_OK, else NULL */
} tarry_result;

/*
 * Options for tarry_call(). Zero-initialise and set what you need; fields
 * are only ever added at the end (the host knows which exist from the
 * header revision the plugin was built with).
 */
typedef struct tarry_call_opts {
    const char *delay; /* start the child after this long ("1 day", "90s"); NULL: now */
    /* header revision 4 */
    /* Per function, shared with triggers' keys (docs/API.md): a second call with the same key and
     * args, from any parent, gets the same child (its id in the handle from the next replay on): a
     * finished one's outcome at once; an unfinished one is awaited like the caller's own child
     * (after its own retries, every caller gets its one outcome; the link survives restarts).
     * Cancelling a caller cancels only children it made, not one it shares. Other args fail the
     * call naming the key. NULL: none. */
    const char *idempotency_key;
    const char *discard_after; /* not started after this long ("10m") or this RFC 3339 time ->
                                  discarded; NULL: never */
    const char *metadata_json; /* a JSON object of string pairs (docs/API.md limits); NULL: none */
} tarry_call_opts;

/* A step's body: does the side effect, sets its result with tarry_set_result()
 * (or fails with tarry_set_error()), on the same ctx. */
typedef tarry_status (*tarry_step_fn)(tarry_ctx *ctx, void *user);

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
    /* workflows (header revision 2) */
    int (*call)(tarry_ctx *ctx, const char *function, const char *args_json, const tarry_call_opts *opts,
                tarry_handle *handle);
    int (*await_one)(tarry_ctx *ctx, const tarry_handle *handle, tarry_result *result);
    int (*await_all)(tarry_ctx *ctx, const tarry_handle *handles, size_t count, tarry_result *results);
    int (*step)(tarry_ctx *ctx, const char *name, tarry_step_fn fn, void *user, tarry_result *result);
    int (*sleep)(tarry_ctx *ctx, const char *duration);
    int (*now_ms)(tarry_ctx *ctx, int64_t *out);
    int (*is_cancelled)(tarry_ctx *ctx);
    /* versions (header revision 3) */
    int (*patched)(tarry_ctx *ctx, const char *change_id);
    /* execution control (header revision 4) */
    int (*fail_permanentv)(tarry_ctx *ctx, const char *fmt, va_list ap);
    /* JSON helpers and error reasons (header revision 6) */
    const char *(*json_str)(tarry_ctx *ctx, const char *json, const char *path);
    int (*json_int)(tarry_ctx *ctx, const char *json, const char *path, int64_t *out);
    int (*json_num)(tarry_ctx *ctx, const char *json, const char *path, double *out);
    int (*json_bool)(tarry_ctx *ctx, const char *json, const char *path, int *out);
    const char *(*json_raw)(tarry_ctx *ctx, const char *json, const char *path);
    int (*json_has)(tarry_ctx *ctx, const char *json, const char *path);
    const char *(*jsonv)(tarry_ctx *ctx, const char *fmt, va_list ap);
    const char *(*last_error)(tarry_ctx *ctx);
} tarry_host_api;

/* Every tarry_ctx the host hands out starts with this; the rest is private. */
struct tarry_ctx_head {
    const tarry_host_api *api;
};

#define TARRY__API(ctx) (((const struct tarry_ctx_head *)(const void *)(ctx))->api)
#define TARRY__HAS(ctx, member)                                                                              \
    (TARRY__API(ctx)->size >= offsetof(tarry_host_api, member) + sizeof(TARRY__API(ctx)->member))

/*
 * Set the result of what is running: the function's, or, called inside a
 * step's body, the step's (never the function's). A step's result is what
 * its tarry_result.value_json holds, now and on every replay; the
 * function's result is only what the function itself sets outside its
 * steps (a workflow that wants a step's value in its result sets it again).
 * Same for tarry_set_error: inside a body it is the step's error.
 *
 * `json` must be one valid JSON text (object,
 * array, string, number, true, false or null), strictly: valid UTF-8, no
 * NUL, no duplicate keys, no trailing text, and numbers a double holds as
 * written (no integer beyond 2^53 that would lose digits, no 1e999). The
 * host copies it; a later call replaces an earlier one. Returns TARRY_OK,
 * or TARRY_EINVAL (NULL or invalid JSON; the reason, naming the value, is
 * logged with the execution, and the attempt fails with it even if the
 * function goes on to return TARRY_OK). A step's result is checked the
 * same way (an invalid one fails the step); tarry_call refuses args that
 * are not strict JSON with TARRY_EINVAL, like any other misuse.
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
 * The message is kept as text: cut to 16 KiB, a byte that is not UTF-8 stored as '?'.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline int
tarry_set_error(tarry_ctx *ctx, const char *fmt, ...)
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
 * Like tarry_set_error, for an error retrying cannot fix (bad input, a
 * refused card): the attempt fails and is not retried, whatever the
 * function's retry policy says. Returns TARRY_FAILED.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline int
tarry_fail_permanent(tarry_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    int rc;
    if (!TARRY__HAS(ctx, fail_permanentv))
        return TARRY_FAILED;
    va_start(ap, fmt);
    rc = TARRY__API(ctx)->fail_permanentv(ctx, fmt, ap);
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
static inline int
tarry_log(tarry_ctx *ctx, tarry_log_level level, const char *fmt, ...)
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

/* ---- JSON without a JSON library -------------------------------------------
 *
 * Read typed values from any JSON text the SDK hands you (args_json, a
 * child's or a step's value_json) by a dotted path, and build JSON text
 * with escaping done for you. The host does the parsing (strictly, as it
 * checks results), so a plugin links no JSON library.
 *
 * Paths: "" is the whole value, "user.email" walks object members, a
 * segment of digits indexes an array ("items.0.sku").
 *
 * Errors: a missing member, an index past the end, a wrong type, or text
 * that is not valid JSON return NULL / TARRY_EINVAL and record one line
 * naming the text and the path, which tarry_last_error() returns:
 *     args: user.email: missing
 *     args: user.id: is a string, not a number
 *     result of child send_welcome_email: sent: is null, not a boolean
 * A function that passes the code on (TARRY_TRY, or `return TARRY_EINVAL`)
 * fails with that line as its error; for input retrying cannot fix,
 * `return tarry_fail_permanent(ctx, "%s", tarry_last_error(ctx))`. These
 * are not logged (absent data is the caller's, not a misuse); a bad format
 * given to tarry_json() is, as any misuse.
 *
 * Lifetimes: every string these return is owned by the host and valid
 * until the function returns (inside a step's body too); do not free it.
 * On a host older than header revision 6 they return NULL / TARRY_ENOTSUP.
 */

/* The string at `path`: a copy, without quotes or escapes; NULL if absent or not a string. */
static inline const char *tarry_json_str(tarry_ctx *ctx, const char *json, const char *path)
{
    return TARRY__HAS(ctx, json_str) ? TARRY__API(ctx)->json_str(ctx, json, path) : NULL;
}

/* The integer at `path` (a JSON number with no fraction, |n| <= 2^53) in *out. TARRY_OK or TARRY_EINVAL. */
static inline int tarry_json_int(tarry_ctx *ctx, const char *json, const char *path, int64_t *out)
{
    return TARRY__HAS(ctx, json_int) ? TARRY__API(ctx)->json_int(ctx, json, path, out) : TARRY_ENOTSUP;
}

/* The number at `path` in *out. TARRY_OK or TARRY_EINVAL. */
static inline int tarry_json_num(tarry_ctx *ctx, const char *json, const char *path, double *out)
{
    return TARRY__HAS(ctx, json_num) ? TARRY__API(ctx)->json_num(ctx, json, path, out) : TARRY_ENOTSUP;
}

/* The boolean at `path` in *out (0 or 1). TARRY_OK or TARRY_EINVAL. */
static inline int tarry_json_bool(tarry_ctx *ctx, const char *json, const char *path, int *out)
{
    return TARRY__HAS(ctx, json_bool) ? TARRY__API(ctx)->json_bool(ctx, json, path, out) : TARRY_ENOTSUP;
}

/* The value at `path`, any type, as compact JSON text (to pass on with %j); NULL if absent. */
static inline const char *tarry_json_raw(tarry_ctx *ctx, const char *json, const char *path)
{
    return TARRY__HAS(ctx, json_raw) ? TARRY__API(ctx)->json_raw(ctx, json, path) : NULL;
}

/*
 * For optional fields: 1 if `path` holds a value other than null, 0 if it
 * is absent or null (not a failure: tarry_last_error is left as it was),
 * TARRY_EINVAL if the text is not JSON or the path runs into a value that
 * is neither an object nor an array (recorded).
 */
static inline int tarry_json_has(tarry_ctx *ctx, const char *json, const char *path)
{
    return TARRY__HAS(ctx, json_has) ? TARRY__API(ctx)->json_has(ctx, json, path) : TARRY_ENOTSUP;
}

/*
 * Build JSON text, printf-like. Text of the format is copied as is; each
 * conversion inserts one JSON value:
 *     %s     a C string as a JSON string, quoted and escaped (NULL: null)
 *     %d %i  int; with l / ll: long / long long (so "%" PRId64 works)
 *     %u     unsigned; with l / ll / z: unsigned long / long long / size_t
 *     %g %f  double, written so it reads back the same (NaN, inf: refused)
 *     %b     int, as true (non-zero) or false
 *     %j     a JSON text inserted as is, checked first (NULL: null)
 *     %%     a '%'
 * No widths or precisions. The whole text is then checked as strict JSON.
 *
 *     const char *out = tarry_json(ctx, "{\"sent\":%b,\"to\":%s,\"order\":%j}",
 *                                  1, email, order_json);
 *
 * Returns the text, valid until the function returns, or NULL (an unknown
 * conversion, a %j that is not JSON, a result that is not JSON: logged, and
 * in tarry_last_error). tarry_set_result(ctx, NULL) returns TARRY_EINVAL,
 * so `return (tarry_status)tarry_set_result(ctx, tarry_json(...))` fails
 * with the builder's reason. The arguments are not checked by the compiler:
 * pass an int for %d and %b, a long long for %lld, a double for %g.
 */
static inline const char *tarry_json(tarry_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    const char *out;
    if (!TARRY__HAS(ctx, jsonv))
        return NULL;
    va_start(ap, fmt);
    out = TARRY__API(ctx)->jsonv(ctx, fmt, ap);
    va_end(ap);
    return out;
}

/*
 * Why the last ctx call that failed did ("args: user.email: missing",
 * "tarry_call: no loaded plugin exports a function named \"x\"", "step
 * \"charge\" failed: card declined"); "" when none has. Valid until the next
 * ctx call. The same reason becomes the function's (or the step's) error
 * when it returns the failing code without a tarry_set_error of its own.
 */
static inline const char *tarry_last_error(tarry_ctx *ctx)
{
    return TARRY__HAS(ctx, last_error) ? TARRY__API(ctx)->last_error(ctx) : "";
}

/* ---- durable workflows ----------------------------------------------------
 *
 * Every function may be a workflow. The calls below are durable commands:
 * each is recorded in the execution's journal. When the execution resumes
 * (a child finished, a sleep ended, the host restarted) the host calls the
 * function again from the top; commands already in the journal return their
 * recorded outcome at once without running again, and the first new one
 * runs. A call that cannot finish now returns TARRY_SUSPEND: return it from
 * the function at once (TARRY_TRY does). The code must issue the same
 * commands in the same order on every run: if a replay issues a different
 * command at a recorded position, the call returns TARRY_SUSPEND and the
 * execution is `blocked` with "nondeterminism at step N: ..." (nothing is
 * lost; a fixed plugin can resume it). Misuse returns TARRY_EINVAL and logs
 * why. Durable commands cannot be issued inside a step's body (misuse).
 *
 * Passing a status straight on is enough to report a failure: a function
 * that returns TARRY_FAILED without its own tarry_set_error, or returns a
 * misuse code, fails with the reason of the last failed step, child or
 * misuse ("step \"charge\" failed: card declined").
 */

/* Return from the function unless `expr` is TARRY_OK. */
#define TARRY_TRY(expr)                                                                                      \
    do {                                                                                                     \
        int tarry__status = (expr);                                                                          \
        if (tarry__status != TARRY_OK)                                                                       \
            return (tarry_status)tarry__status;                                                              \
    } while (0)

/*
 * Start a child execution of `function` with `args_json` (NULL means null),
 * now or after opts->delay. It does not wait: the child is created when
 * this run's new commands are committed (at the next step, suspension or
 * return), and all children started by one run then run in parallel.
 * `handle` may be NULL (fire and forget). Returns TARRY_OK, or TARRY_EINVAL
 * (unknown function, invalid JSON, bad delay).
 */
static inline int tarry_call(tarry_ctx *ctx, const char *function, const char *args_json,
                             const tarry_call_opts *opts, tarry_handle *handle)
{
    return TARRY__HAS(ctx, call) ? TARRY__API(ctx)->call(ctx, function, args_json, opts, handle)
                                 : TARRY_ENOTSUP;
}

/*
 * The outcome of a child: TARRY_OK (result->value_json set), TARRY_FAILED or
 * TARRY_CANCELLED (result->error set), or TARRY_SUSPEND while it runs.
 * TARRY_EINVAL for a handle this execution did not create.
 */
static inline int tarry_await(tarry_ctx *ctx, const tarry_handle *handle, tarry_result *result)
{
    return TARRY__HAS(ctx, await_one) ? TARRY__API(ctx)->await_one(ctx, handle, result) : TARRY_ENOTSUP;
}

/*
 * Wait until every child settled (allSettled): TARRY_OK with each outcome
 * in results[i] (its own status, value or error), or TARRY_SUSPEND.
 */
static inline int tarry_await_all(tarry_ctx *ctx, const tarry_handle *handles, size_t count,
                                  tarry_result *results)
{
    return TARRY__HAS(ctx, await_all) ? TARRY__API(ctx)->await_all(ctx, handles, count, results)
                                      : TARRY_ENOTSUP;
}

/*
 * Run fn(ctx, user) inline, once: its result (set with tarry_set_result or
 * tarry_set_error inside fn: they set the step's outcome, not the
 * function's; no result means JSON null) is recorded in the journal and
 * returned in result->value_json, and a replay returns the recorded
 * result without calling fn. The result is durable before the body of any
 * later step runs, and before the execution's outcome or the children it
 * calls after the step become visible; a crash before that runs fn again
 * (steps run at least once; their recorded results are committed exactly
 * once). A body that returns a misuse code (TARRY_TRY of a call that
 * failed) fails the step with "step \"NAME\" returned TARRY_EINVAL: REASON".
 * Returns the step's status with `result` filled (result may be
 * NULL), or TARRY_SUSPEND when the host ends the run here to make earlier
 * steps' results durable first: return it at once (TARRY_TRY does); the
 * function runs again from the top and the step runs then.
 */
static inline int tarry_step(tarry_ctx *ctx, const char *name, tarry_step_fn fn, void *user,
                             tarry_result *result)
{
    return TARRY__HAS(ctx, step) ? TARRY__API(ctx)->step(ctx, name, fn, user, result) : TARRY_ENOTSUP;
}

/* A durable timer: TARRY_SUSPEND until `duration` ("1 day", "90s") has passed, then TARRY_OK. */
static inline int tarry_sleep(tarry_ctx *ctx, const char *duration)
{
    return TARRY__HAS(ctx, sleep) ? TARRY__API(ctx)->sleep(ctx, duration) : TARRY_ENOTSUP;
}

/*
 * The wall clock in Unix milliseconds, journaled: a replay sees the same
 * time. It cannot suspend or fail visibly: after a nondeterminism or a
 * suspension in this pass it returns 0, and the next call that can
 * returns TARRY_SUSPEND. Inside a step's body it reads the clock without
 * a journal entry (the step's result is what is recorded).
 */
static inline int64_t tarry_now_ms(tarry_ctx *ctx)
{
    int64_t ms = 0;
    if (TARRY__HAS(ctx, now_ms))
        TARRY__API(ctx)->now_ms(ctx, &ms);
    return ms;
}

/*
 * Whether this attempt should stop: the execution was cancelled, or the
 * attempt ran past its function's max_duration. A running function cannot
 * be stopped from outside (it is a thread in the host's process): it keeps
 * its worker until it returns, and whatever it returns then is discarded.
 * A function that loops or waits for long should check this now and then
 * and return (any status) when it turns 1.
 *
 * What max_duration really bounds: the attempt, not the thread. Past it,
 * the attempt fails ("timed out after 30m") and the retry policy decides
 * what follows (a retry runs in a fresh pass), while the old thread runs on
 * until it returns (its result, logs and commands are then discarded). Such
 * abandoned passes do not take --workers away from other functions as long
 * as the host has spare threads: it keeps as many as --workers for them.
 * Past that, each further abandoned pass holds a worker until it returns,
 * and when every worker is held the host says so in its log and /metrics
 * (tarry_workers_stuck, tarry_workers_abandoned). For a workflow the limit
 * applies to each stretch of code between durable points (steps, calls,
 * sleeps), not to time spent sleeping or waiting for children.
 */
static inline int tarry_is_cancelled(tarry_ctx *ctx)
{
    return TARRY__HAS(ctx, is_cancelled) ? TARRY__API(ctx)->is_cancelled(ctx) : 0;
}

/*
 * Change a workflow safely under running executions (Temporal's `patched`):
 *
 *     if (tarry_patched(ctx, "send-sms-too"))
 *         TARRY_TRY(tarry_call(ctx, "send_sms", args, NULL, NULL));
 *
 * Returns 1 for executions that reach this point running code that has the
 * patch (new ones, and ones that recorded the marker before), 0 for ones
 * replaying a journal written before the patch existed, so they keep
 * issuing the old commands. The answer is journaled. Once no execution
 * from before the patch is left, drop the old branch (and later the call).
 */
static inline int tarry_patched(tarry_ctx *ctx, const char *change_id)
{
    return TARRY__HAS(ctx, patched) ? TARRY__API(ctx)->patched(ctx, change_id) : 1;
}

/* A readable name for a tarry_status or TARRY_E* code. */
static inline const char *tarry_strerror(int code)
{
    switch (code) {
    case TARRY_OK:
        return "ok";
    case TARRY_SUSPEND:
        return "suspended";
    case TARRY_FAILED:
        return "failed";
    case TARRY_CANCELLED:
        return "cancelled";
    case TARRY_EINVAL:
        return "invalid argument";
    case TARRY_ENOMEM:
        return "out of memory";
    case TARRY_ENOTSUP:
        return "not supported by this host";
    default:
        return "unknown tarry status";
    }
}

/*
 * One function a plugin exports. Grows at the end only; the plugin
 * descriptor records sizeof(tarry_function_def) as the plugin was built.
 */
/*
 * A function's retry policy (Defer's): `enabled` turns retries on; a zero
 * field takes the default: 13 attempts in all, 30 s before the first retry,
 * each wait 1.5 times the last, +-50 % at random, at most 10 min.
 * randomization_factor < 0 means no jitter; intervals are durations as
 * tarry_sleep reads them ("0s" is allowed).
 */
typedef struct tarry_retry {
    int enabled;
    uint32_t max_attempts;        /* attempts in all, the first included */
    const char *initial_interval; /* the wait before the second attempt */
    double multiplier;            /* >= 1 */
    double randomization_factor;  /* 0..1: each wait is drawn from wait * (1 +- factor) */
    const char *max_interval;     /* no wait is longer */
} tarry_retry;

/*
 * One function a plugin exports. Grows at the end only; the plugin
 * descriptor records sizeof(tarry_function_def) as the plugin was built,
 * and a plugin built against an older header gets the defaults of the
 * options it did not have.
 */
typedef struct tarry_function_def {
    const char *name; /* [A-Za-z_][A-Za-z0-9_.-]*, at most 128 bytes, unique in the host */
    tarry_fn fn;
    /* options (header revision 4): TARRY_FUNCTION("f", f, .concurrency = 1, ...) */
    tarry_retry retry;                  /* default: failed attempts are not retried */
    const char *max_duration;           /* an attempt running longer fails (timed out); NULL: "30m";
                                           "0": no limit */
    uint32_t concurrency;               /* at most this many attempts at once; 0: no limit */
    const char *max_concurrency_action; /* at the limit, a new execution: "queue" (NULL) waits,
                                           "cancel" is cancelled */
    const char *cron;                   /* start one on this schedule ("0 9 * * 1-5", "@hourly"; UTC);
                                           NULL: none */
    /* header revision 5 */
    const char *retention; /* a final execution of it (with its journal, attempts and logs) is
                              deleted this long after it finished ("7d"); NULL: the host's
                              --retention (default 30d); "0": kept forever. Fixed when it ends. */
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
    uint32_t header_revision; /* TARRY_HEADER_REVISION */
} tarry_plugin_def;

/* In C++ a namespace-scope const has internal linkage: extern "C" gives the descriptor external, unmangled
 * linkage, so the host finds `tarry_plugin`. */
#ifdef __cplusplus
#define TARRY__C_LINKAGE extern "C"
#else
#define TARRY__C_LINKAGE
#endif

#if defined(__GNUC__)
#define TARRY__EXPORT __attribute__((visibility("default"), used))
#else
#define TARRY__EXPORT
#endif

/*
 * One entry of TARRY_PLUGIN(): TARRY_FUNCTION("name", c_function), options
 * following as designated initializers:
 *   TARRY_FUNCTION("send_email", send_email, .retry = {.enabled = 1, .max_attempts = 5},
 *                  .max_duration = "2m", .concurrency = 10)
 * (The function pointer rides in __VA_ARGS__ so the macro is valid C99 with
 * or without options.)
 *
 * C++ (any standard): TARRY_FUNCTION("name", fn) takes no options (C++
 * has no designated initializers before C++20, wants them in order from
 * it, and g++ -Wextra warns about the fields they leave out). Give a
 * function with options as a tarry_function_def value instead: TARRY_PLUGIN's
 * array holds any expression of that type in C++, e.g.
 *     static tarry_function_def send_email_def()
 *     {
 *         tarry_function_def def{};  // zero: every option at its default
 *         def.name = "send_email";
 *         def.fn = send_email;
 *         def.concurrency = 10;
 *         return def;
 *     }
 *     TARRY_PLUGIN("mail", "1.0.0", TARRY_FUNCTION("ping", ping), send_email_def());
 */
#ifndef __cplusplus
#define TARRY_FUNCTION(fn_name, ...)                                                                         \
    {                                                                                                        \
        .name = (fn_name), .fn = __VA_ARGS__                                                                 \
    }
#else
#define TARRY_FUNCTION(fn_name, fn_pointer) tarry__function((fn_name), (fn_pointer))
#endif

/*
 * Declare the plugin, once per .so:
 *   TARRY_PLUGIN("billing", "1.2.0",
 *                TARRY_FUNCTION("charge_card", charge_card),
 *                TARRY_FUNCTION("refund", refund));
 */
#define TARRY_PLUGIN(plugin_name, plugin_version, ...)                                                       \
    static const tarry_function_def tarry__functions[] = {__VA_ARGS__};                                      \
    TARRY__C_LINKAGE TARRY__EXPORT const tarry_plugin_def tarry_plugin = {                                   \
        TARRY_PLUGIN_MAGIC,                                                                                  \
        TARRY_ABI_VERSION,                                                                                   \
        (uint32_t)sizeof(tarry_plugin_def),                                                                  \
        (uint32_t)sizeof(void *),                                                                            \
        (uint32_t)sizeof(tarry_function_def),                                                                \
        (plugin_name),                                                                                       \
        (plugin_version),                                                                                    \
        tarry__functions,                                                                                    \
        sizeof(tarry__functions) / sizeof(tarry__functions[0]),                                              \
        TARRY_HEADER_REVISION}

#ifdef __cplusplus
}

/* TARRY_FUNCTION in C++: a zero-initialised entry (every option at its default) with its name and
 * function. constexpr, so the plugin's table is still constant-initialised. */
static inline constexpr tarry_function_def tarry__function(const char *name, tarry_fn fn)
{
    tarry_function_def def{};
    def.name = name;
    def.fn = fn;
    return def;
}
#endif

#endif /* TARRY_H */
