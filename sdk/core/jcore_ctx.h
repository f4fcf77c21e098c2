/*
 * jcore_ctx.h - what jcore.c lends the other files of the journal core
 * about a tarry_ctx (whose struct stays private to jcore.c): memory that
 * lives until the function returns, and the reason a call failed.
 *
 * Private to sdk/core; called on the thread that runs the pass only.
 */
#ifndef TARRY_JCORE_CTX_H
#define TARRY_JCORE_CTX_H

#include <stddef.h>

#include "tarry.h"

/*
 * A copy of text[0..len) and a NUL, owned by the ctx and freed when the
 * function returns (jcore_execute's end). NULL when out of memory.
 */
char *jcore_ctx_keep(tarry_ctx *ctx, const char *text, size_t len);

/*
 * Record why a call failed (tarry_last_error, and the reason a function or
 * step that passes the code on fails with). Not logged: a missing field in
 * args is the caller's data, not the plugin's misuse.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void jcore_ctx_fail(tarry_ctx *ctx, const char *fmt, ...);

/* Like jcore_ctx_fail, and logged with the execution at error level: the plugin misused a call. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void jcore_ctx_misuse(tarry_ctx *ctx, const char *fmt, ...);

/*
 * What `json` is, for error messages: "args" when it is the function's
 * args_json, "result of step \"x\"" / "result of child f" when it is a
 * value_json this pass handed out, "" otherwise. Written to out.
 */
void jcore_ctx_describe_json(tarry_ctx *ctx, const char *json, char *out, size_t outlen);

#endif
