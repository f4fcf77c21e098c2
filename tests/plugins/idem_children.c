/*
 * idem_children.c - children started with per-execution options
 * (tests/integration/test_idempotency_children.py).
 *
 *   idem_parent  args {"key": K|null, "args": ANY, "metadata": "{...}"|null,
 *                "discard_after": D|null, "child": "idem_echo"|"idem_slow"|...,
 *                "detached": true|absent}:
 *                tarry_call()s the child with those options and awaits it;
 *                result {"child": ID, "value": RESULT}; fails with the
 *                child's error, or with the call's own refusal
 *                ("call: <tarry_strerror>"). Detached: calls with a NULL
 *                handle and succeeds at once with {"detached": true}.
 *   idem_echo    result = its args
 *   idem_slow    sleeps args.ms, then result = its args
 *   idem_gate    args {"count": PATH, "gate": PATH, "fail": true|absent}:
 *                appends a line to `count` (one per attempt), waits until the
 *                file `gate` exists, then result = its args, or fails with
 *                "the gate says fail"
 *   idem_gate_retry  the same, with 2 attempts and no wait between them
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tarry.h"

static const char *member_text(const cJSON *obj, const char *name)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(m) ? m->valuestring : NULL;
}

static tarry_status idem_parent(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json), *out;
    tarry_call_opts opts;
    tarry_handle h;
    tarry_result r;
    char *child_args = NULL, *text;
    const char *child;
    int rc;

    if (!args)
        return tarry_set_error(ctx, "idem_parent: args are not JSON");
    memset(&opts, 0, sizeof opts);
    opts.idempotency_key = member_text(args, "key");
    opts.metadata_json = member_text(args, "metadata");
    opts.discard_after = member_text(args, "discard_after");
    child = member_text(args, "child") ? member_text(args, "child") : "idem_echo";
    if (cJSON_GetObjectItemCaseSensitive(args, "args"))
        child_args = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(args, "args"));
    bool detached = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(args, "detached"));
    rc = tarry_call(ctx, child, child_args, &opts, detached ? NULL : &h);
    free(child_args);
    cJSON_Delete(args);
    if (rc == TARRY_OK && detached)
        return tarry_set_result(ctx, "{\"detached\":true}") == TARRY_OK ? TARRY_OK
                                                                        : tarry_set_error(ctx, "set_result");
    if (rc != TARRY_OK)
        return tarry_set_error(ctx, "call: %s", tarry_strerror(rc));
    rc = tarry_await(ctx, &h, &r);
    if (rc == TARRY_SUSPEND)
        return TARRY_SUSPEND;
    if (r.status != TARRY_OK)
        return tarry_set_error(ctx, "child %.26s: %s", h.id, r.error ? r.error : "?");
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "child", h.id);
    cJSON_AddRawToObject(out, "value", r.value_json);
    text = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    rc = tarry_set_result(ctx, text);
    free(text);
    return rc == TARRY_OK ? TARRY_OK : tarry_set_error(ctx, "set_result: %s", tarry_strerror(rc));
}

static tarry_status idem_echo(tarry_ctx *ctx, const char *args_json)
{
    return tarry_set_result(ctx, args_json) == TARRY_OK ? TARRY_OK : tarry_set_error(ctx, "echo refused");
}

static tarry_status idem_slow(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(args, "ms");
    long long want = cJSON_IsNumber(ms) ? (long long)ms->valuedouble : 0;
    struct timespec left = {(time_t)(want / 1000), (long)(want % 1000) * 1000000L};

    cJSON_Delete(args);
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
    return idem_echo(ctx, args_json);
}

static tarry_status idem_gate(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    const char *count = member_text(args, "count"), *gate = member_text(args, "gate");
    bool fail = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(args, "fail"));
    FILE *f;

    if (!count || !gate || !(f = fopen(count, "a"))) {
        cJSON_Delete(args);
        return tarry_fail_permanent(ctx, "idem_gate: needs writable args.count and args.gate");
    }
    fprintf(f, "attempt %d\n", tarry_attempt(ctx));
    fclose(f);
    /* No timing: the test opens the gate once every caller waits. */
    while (access(gate, F_OK) != 0 && !tarry_is_cancelled(ctx)) {
        struct timespec ts = {0, 5000000L};
        nanosleep(&ts, NULL);
    }
    cJSON_Delete(args);
    if (fail)
        return tarry_set_error(ctx, "the gate says fail");
    return idem_echo(ctx, args_json);
}

TARRY_PLUGIN("idem_children", "1.0.0", TARRY_FUNCTION("idem_parent", idem_parent),
             TARRY_FUNCTION("idem_echo", idem_echo), TARRY_FUNCTION("idem_slow", idem_slow),
             TARRY_FUNCTION("idem_gate", idem_gate),
             TARRY_FUNCTION("idem_gate_retry", idem_gate,
                            .retry = {.enabled = 1,
                                      .max_attempts = 2,
                                      .initial_interval = "0s",
                                      .randomization_factor = -1}));
