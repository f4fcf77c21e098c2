/*
 * tarry_test_stub.c - stubs of steps, and stubs that answer at a virtual
 * time (tarry_test.h, "stubs").
 *
 * A stubbed step is still a step: the journal core records it, checks it
 * on replay and checkpoints it as any other; only its body is the kit's
 * (it sets the stubbed result or error). The kit puts it in place by
 * running the pass's function through a trampoline that hands the function
 * a copy of the core's host table whose `step` entry is the kit's: the
 * plugin reaches every SDK call through that table (tarry.h, struct
 * tarry_ctx_head), so nothing of the core changes.
 */
#include "tarry_test.h"

#include <stdlib.h>
#include <string.h>

#include "jcore.h"
#include "jcore_duration.h"
#include "tarry_test_private.h"

/* The pass the next trampoline call runs: one pass at a time per thread (a kit is not thread-safe,
 * but two kits in two threads are fine). */
static _Thread_local struct {
    tarry_test *t;
    tarry_fn fn;
    const tarry_host_api *core_api;
} current;

const kit_step_stub *tarry_test__step_stub(const tarry_test *t, const char *name)
{
    for (size_t i = 0; name && i < t->step_stub_count; i++)
        if (strcmp(t->step_stubs[i].name, name) == 0)
            return &t->step_stubs[i];
    return NULL;
}

/* The body a stubbed step runs instead of its own: the stubbed outcome. */
static tarry_status stub_body(tarry_ctx *ctx, void *user)
{
    const kit_step_stub *s = user;

    if (s->status == TARRY_OK)
        return tarry_set_result(ctx, s->text ? s->text : "null") == TARRY_OK ? TARRY_OK : TARRY_FAILED;
    tarry_set_error(ctx, "%s", s->text ? s->text : "failed (stub)");
    return TARRY_FAILED;
}

static int kit_step(tarry_ctx *ctx, const char *name, tarry_step_fn fn, void *user, tarry_result *result)
{
    const kit_step_stub *s = current.t ? tarry_test__step_stub(current.t, name) : NULL;

    if (s)
        return current.core_api->step(ctx, name, stub_body, (void *)s, result);
    return current.core_api->step(ctx, name, fn, user, result);
}

void tarry_test__stub_pass(tarry_test *t, tarry_fn fn)
{
    current.t = t;
    current.fn = fn;
}

tarry_status tarry_test__step_trampoline(tarry_ctx *ctx, const char *args_json)
{
    struct tarry_ctx_head *head = (struct tarry_ctx_head *)(void *)ctx;
    tarry_host_api api;
    tarry_status status;

    /* The table the core built this pass's ctx with, and the same with the kit's step. Both live for
     * the pass: the plugin may keep the ctx only until its function returns. */
    current.core_api = head->api;
    memcpy(&api, head->api, sizeof api);
    api.step = kit_step;
    head->api = &api;
    status = current.fn(ctx, args_json);
    head->api = current.core_api;
    current.t = NULL;
    return status;
}

int tarry_test_stub_step(tarry_test *t, const char *step, tarry_status status, const char *value_or_error)
{
    kit_step_stub *s = (kit_step_stub *)tarry_test__step_stub(t, step);
    char *text = NULL;

    if (!step || !*step)
        return tarry_test__refuse(t, "tarry_test_stub_step: the step name is empty");
    if (status != TARRY_OK && status != TARRY_FAILED)
        return tarry_test__refuse(t, "tarry_test_stub_step(\"%s\"): status must be TARRY_OK or TARRY_FAILED",
                                  step);
    if (status == TARRY_OK && value_or_error && !tarry_test_json_valid(value_or_error))
        return tarry_test__refuse(t, "tarry_test_stub_step(\"%s\"): the value is not valid JSON: %.60s", step,
                                  value_or_error);
    if (value_or_error && !(text = tarry_test__dup(value_or_error)))
        return TARRY_ENOMEM;
    if (!s) {
        if (tarry_test__grow(&t->step_stubs, t->step_stub_count, &t->step_stub_cap, sizeof *t->step_stubs) !=
            0) {
            free(text);
            return TARRY_ENOMEM;
        }
        s = &t->step_stubs[t->step_stub_count];
        if (!(s->name = tarry_test__dup(step))) {
            free(text);
            return TARRY_ENOMEM;
        }
        s->text = NULL;
        t->step_stub_count++;
    }
    free(s->text);
    s->text = text;
    s->status = status;
    return TARRY_OK;
}

int tarry_test_unstub_step(tarry_test *t, const char *step)
{
    kit_step_stub *s = (kit_step_stub *)tarry_test__step_stub(t, step);

    if (!s)
        return tarry_test__refuse(t, "tarry_test_unstub_step: step \"%s\" is not stubbed",
                                  step ? step : "(null)");
    free(s->name);
    free(s->text);
    *s = t->step_stubs[--t->step_stub_count];
    return TARRY_OK;
}

void tarry_test__step_stubs_free(tarry_test *t)
{
    for (size_t i = 0; i < t->step_stub_count; i++) {
        free(t->step_stubs[i].name);
        free(t->step_stubs[i].text);
    }
    free(t->step_stubs);
    t->step_stubs = NULL;
    t->step_stub_count = t->step_stub_cap = 0;
}

int tarry_test_stub_at(tarry_test *t, const char *function, const char *at, tarry_status status,
                       const char *value_or_error)
{
    int64_t ms;
    char err[200];
    int rc;
    kit_function *f;

    if (!at || jcore_duration_parse(at, &ms, err, sizeof err) != 0)
        return tarry_test__refuse(t, "tarry_test_stub_at(\"%s\"): at: %s", function ? function : "(null)",
                                  at ? err : "NULL");
    if ((rc = tarry_test_stub(t, function, status, value_or_error)) != TARRY_OK)
        return rc;
    f = (kit_function *)tarry_test__function_find(t, function);
    f->stub_at = true;
    f->stub_after_ms = ms;
    return TARRY_OK;
}
