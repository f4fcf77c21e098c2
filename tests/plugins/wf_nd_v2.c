/*
 * wf_nd_v2.c - plugin "wfnd", second build: wf_nd_v1.c's nd changed, for
 * the nondeterminism tests (see wf_nd_v1.c for how a test swaps them).
 * args.variant (stored with the execution when v1 started it) picks the
 * change:
 *
 *   "name" (default)  step "x" at position 0, where the journal has step "a":
 *                     same kind, another name -> nondeterminism at step 0.
 *   "kind"            step "a", then step "b" at position 1 where the journal
 *                     has the sleep: another kind -> nondeterminism at step 1.
 *   "same"            exactly v1's commands (step "a", sleep "1h", step "b"):
 *                     a compatible change; replays cleanly and returns
 *                     {"version": 2, ...}.
 *
 * Returns {"version": 2, "variant": V} when it gets to the end.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

static tarry_status step_named(tarry_ctx *ctx, void *name)
{
    char result[64];

    snprintf(result, sizeof(result), "{\"step\":\"%s\"}", (const char *)name);
    return (tarry_status)tarry_set_result(ctx, result);
}

static tarry_status nd(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *field = cJSON_GetObjectItemCaseSensitive(args, "variant");
    char variant[16], result[128];

    snprintf(variant, sizeof(variant), "%s", cJSON_IsString(field) ? field->valuestring : "name");
    cJSON_Delete(args);
    if (strcmp(variant, "name") == 0) {
        TARRY_TRY(tarry_step(ctx, "x", step_named, "x", NULL));
        TARRY_TRY(tarry_sleep(ctx, "1h"));
    } else if (strcmp(variant, "kind") == 0) {
        TARRY_TRY(tarry_step(ctx, "a", step_named, "a", NULL));
        TARRY_TRY(tarry_step(ctx, "b", step_named, "b", NULL));
    } else if (strcmp(variant, "same") == 0) {
        TARRY_TRY(tarry_step(ctx, "a", step_named, "a", NULL));
        TARRY_TRY(tarry_sleep(ctx, "1h"));
        TARRY_TRY(tarry_step(ctx, "b", step_named, "b", NULL));
    } else {
        return tarry_set_error(ctx, "nd: args.variant must be \"name\", \"kind\" or \"same\"");
    }
    snprintf(result, sizeof(result), "{\"version\":2,\"variant\":\"%s\"}", variant);
    return (tarry_status)tarry_set_result(ctx, result);
}

TARRY_PLUGIN("wfnd", "1.0.0", TARRY_FUNCTION("nd", nd));
