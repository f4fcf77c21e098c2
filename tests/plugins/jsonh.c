/*
 * jsonh.c - test plugin for the JSON helpers and error reasons of tarry.h
 * (header revision 6): it links no JSON library (tests check its undefined
 * symbols), reads its args and its children's results with tarry_json_*
 * and builds every result with tarry_json.
 *
 *   jsonh_probe     args {"kind": "str"|"int"|"num"|"bool"|"raw"|"has", "path": P, ...}:
 *                   reads P of its own args with that reader; result
 *                   {"rc": RC, "value": V, "error": tarry_last_error()}
 *   jsonh_probe_text  args {"kind": K, "path": P, "text": T}: the same on the string T
 *   jsonh_build     args {"mode": M}: one tarry_json call per mode (ok, escape,
 *                   conversion, raw, nan, shape); result {"built": TEXT|null, "error": ...}
 *   jsonh_user      args {"user": {"id": N, "email": S}, "note": optional}: returns
 *                   {"id": N, "to": S, "note": NOTE|null}; a missing field fails with
 *                   its reason passed on by TARRY_TRY
 *   jsonh_flow      a workflow: calls jsonh_user with its args, reads the child's
 *                   "to", then a step that reads args "missing" with TARRY_TRY
 *                   when args.bad_step is true; result {"to": S, "step": V}
 *   jsonh_bad_call  a workflow whose tarry_call has args "{x" (not JSON),
 *                   passed on with TARRY_TRY
 */
#include <inttypes.h>
#include <string.h>
#include <tarry.h>

static tarry_status probe(tarry_ctx *ctx, const char *args_json, const char *text)
{
    const char *kind = tarry_json_str(ctx, args_json, "kind");
    const char *path = tarry_json_str(ctx, args_json, "path");
    const char *value = NULL;
    int rc = TARRY_OK;

    if (!kind || !path)
        return tarry_set_error(ctx, "jsonh_probe: %s", tarry_last_error(ctx));
    if (!text)
        text = args_json;
    if (strcmp(kind, "str") == 0) {
        const char *s = tarry_json_str(ctx, text, path);
        rc = s ? TARRY_OK : TARRY_EINVAL;
        value = s ? tarry_json(ctx, "%s", s) : NULL;
    } else if (strcmp(kind, "int") == 0) {
        int64_t n = 0;
        rc = tarry_json_int(ctx, text, path, &n);
        value = rc == TARRY_OK ? tarry_json(ctx, "%" PRId64, n) : NULL;
    } else if (strcmp(kind, "num") == 0) {
        double d = 0;
        rc = tarry_json_num(ctx, text, path, &d);
        value = rc == TARRY_OK ? tarry_json(ctx, "%g", d) : NULL;
    } else if (strcmp(kind, "bool") == 0) {
        int b = 0;
        rc = tarry_json_bool(ctx, text, path, &b);
        value = rc == TARRY_OK ? tarry_json(ctx, "%b", b) : NULL;
    } else if (strcmp(kind, "raw") == 0) {
        value = tarry_json_raw(ctx, text, path);
        rc = value ? TARRY_OK : TARRY_EINVAL;
    } else if (strcmp(kind, "has") == 0) {
        rc = tarry_json_has(ctx, text, path);
    } else {
        return tarry_set_error(ctx, "jsonh_probe: unknown kind %s", kind);
    }
    return (tarry_status)tarry_set_result(
        ctx, tarry_json(ctx, "{\"rc\":%d,\"value\":%j,\"error\":%s}", rc, value, tarry_last_error(ctx)));
}

static tarry_status jsonh_probe(tarry_ctx *ctx, const char *args_json)
{
    return probe(ctx, args_json, NULL);
}

static tarry_status jsonh_probe_text(tarry_ctx *ctx, const char *args_json)
{
    const char *text = tarry_json_str(ctx, args_json, "text");

    if (!text)
        return tarry_set_error(ctx, "jsonh_probe_text: %s", tarry_last_error(ctx));
    return probe(ctx, args_json, text);
}

static tarry_status jsonh_build(tarry_ctx *ctx, const char *args_json)
{
    const char *mode = tarry_json_str(ctx, args_json, "mode");
    const char *built = NULL;

    TARRY_TRY(mode ? TARRY_OK : TARRY_EINVAL);
    if (strcmp(mode, "ok") == 0)
        built = tarry_json(ctx,
                           "{\"i\":%d,\"l\":%ld,\"ll\":%lld,\"u\":%u,\"z\":%zu,\"g\":%g,\"b\":[%b,%b],"
                           "\"s\":%s,\"n\":%s,\"j\":%j,\"jn\":%j,\"pct\":\"100%%\"}",
                           -1, 2L, -9007199254740992LL, 4u, (size_t)5, 0.1, 1, 0, "x", (const char *)NULL,
                           "[1, {\"a\": true}]", (const char *)NULL);
    else if (strcmp(mode, "escape") == 0)
        built = tarry_json(ctx, "{\"s\":%s}", "quote \" backslash \\ newline \n tab \t bell \x07 é");
    else if (strcmp(mode, "conversion") == 0)
        built = tarry_json(ctx, "{\"x\":%5d}", 1);
    else if (strcmp(mode, "raw") == 0)
        built = tarry_json(ctx, "{\"x\":%j}", "{x");
    else if (strcmp(mode, "nan") == 0)
        built = tarry_json(ctx, "{\"x\":%g}", 0.0 / 0.0);
    else if (strcmp(mode, "shape") == 0)
        built = tarry_json(ctx, "{\"x\":%d,}", 1);
    else if (strcmp(mode, "utf8") == 0)
        built = tarry_json(ctx, "%s", "\xff");
    else if (strcmp(mode, "set_null") == 0)
        return (tarry_status)tarry_set_result(ctx, tarry_json(ctx, "{\"x\":%j}", "nope"));
    return (tarry_status)tarry_set_result(
        ctx, tarry_json(ctx, "{\"built\":%j,\"error\":%s}", built, built ? "" : tarry_last_error(ctx)));
}

static tarry_status jsonh_user(tarry_ctx *ctx, const char *args_json)
{
    int64_t id;
    const char *email, *note = NULL;
    int has_note;

    TARRY_TRY(tarry_json_int(ctx, args_json, "user.id", &id));
    if (!(email = tarry_json_str(ctx, args_json, "user.email")))
        return tarry_fail_permanent(ctx, "%s", tarry_last_error(ctx));
    if ((has_note = tarry_json_has(ctx, args_json, "note")) < 0)
        return (tarry_status)has_note;
    if (has_note && !(note = tarry_json_str(ctx, args_json, "note")))
        return TARRY_EINVAL;
    return (tarry_status)tarry_set_result(
        ctx, tarry_json(ctx, "{\"id\":%lld,\"to\":%s,\"note\":%s}", (long long)id, email, note));
}

static tarry_status outer(tarry_ctx *ctx, void *args)
{
    int64_t n;
    int bad = 0;

    tarry_json_bool(ctx, args, "bad_step", &bad);
    if (bad)
        TARRY_TRY(tarry_json_int(ctx, args, "missing", &n));
    return (tarry_status)tarry_set_result(ctx, tarry_json(ctx, "{\"ran\":%b}", 1));
}

static tarry_status jsonh_flow(tarry_ctx *ctx, const char *args_json)
{
    tarry_handle child;
    tarry_result sent, stepped;
    const char *to, *ran;

    TARRY_TRY(tarry_call(ctx, "jsonh_user", args_json, NULL, &child));
    TARRY_TRY(tarry_await(ctx, &child, &sent));
    if (!(to = tarry_json_str(ctx, sent.value_json, "to")))
        return TARRY_EINVAL;
    /* A field the child's result lacks: the reason names the child. */
    if (tarry_json_str(ctx, sent.value_json, "absent"))
        return tarry_set_error(ctx, "absent was found");
    tarry_log(ctx, TARRY_LOG_INFO, "child reason: %s", tarry_last_error(ctx));
    TARRY_TRY(tarry_step(ctx, "outer", outer, (void *)args_json, &stepped));
    if (!(ran = tarry_json_raw(ctx, stepped.value_json, "ran")))
        return TARRY_EINVAL;
    return (tarry_status)tarry_set_result(ctx, tarry_json(ctx, "{\"to\":%s,\"step\":%j}", to, ran));
}

static tarry_status jsonh_bad_call(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    TARRY_TRY(tarry_call(ctx, "jsonh_user", "{x", NULL, NULL));
    return TARRY_OK;
}

TARRY_PLUGIN("jsonh", "1.0.0", TARRY_FUNCTION("jsonh_probe", jsonh_probe),
             TARRY_FUNCTION("jsonh_probe_text", jsonh_probe_text), TARRY_FUNCTION("jsonh_build", jsonh_build),
             TARRY_FUNCTION("jsonh_user", jsonh_user), TARRY_FUNCTION("jsonh_flow", jsonh_flow),
             TARRY_FUNCTION("jsonh_bad_call", jsonh_bad_call));
