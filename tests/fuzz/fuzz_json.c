/*
 * fuzz_json.c - libFuzzer target: the strict JSON check
 * (sdk/core/json_strict.c) and every endpoint's JSON body.
 *
 * Properties: the check never reads outside the input and reports an
 * offset inside it; whatever it accepts, cJSON (which the API then reads
 * bodies with) parses too, and json_strict_member's span of "args" is
 * strict JSON itself. Then the input goes, as the body, to each route that
 * takes one - trigger, reschedule, upgrade - on a real host (fuzz_host.c,
 * which checks every answer).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_host.h"
#include "json_strict.h"
#include "tarry.h"

static const char CT[] = "Content-Type: application/json";

static void route(const char *method, const char *target, const uint8_t *data, size_t size)
{
    fuzz_host_request(method, strlen(method), target, strlen(target), CT, sizeof CT - 1, (const char *)data,
                      size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_strict_error err;
    char target[128];
    size_t off, len;
    int rc;

    fuzz_host_init();
    rc = json_strict_check(text, size, &err);
    if (rc == TARRY_EINVAL && err.offset > size) {
        fprintf(stderr, "fuzz_json: error offset %zu past the end (%zu)\n", err.offset, size);
        abort();
    }
    if (rc == 0) {
        const char *stop = NULL;
        cJSON *parsed = cJSON_ParseWithLengthOpts(text, size, &stop, 0);
        if (!parsed) {
            fprintf(stderr, "fuzz_json: strict JSON that cJSON refuses (at byte %td)\n",
                    stop ? stop - text : -1);
            abort();
        }
        cJSON_Delete(parsed);
        if (json_strict_member(text, size, "args", &off, &len) &&
            (off + len > size || json_strict_check(text + off, len, NULL) != 0)) {
            fprintf(stderr, "fuzz_json: the span of \"args\" (%zu+%zu) is not strict JSON\n", off, len);
            abort();
        }
    }
    route("POST", "/v1/functions/echo/executions", data, size);
    snprintf(target, sizeof target, "/v1/executions/%s/schedule", fuzz_host_exec_id());
    route("PATCH", target, data, size);
    snprintf(target, sizeof target, "/v1/executions/%s/upgrade", fuzz_host_exec_id());
    route("POST", target, data, size);
    return 0;
}
