/*
 * fuzz_request.c - libFuzzer target: bytes in, the API's answer out, no
 * network. The input is a request split as
 *
 *     METHOD \n TARGET \n (HEADER-LINE \n)* \n BODY
 *
 * (missing parts are empty), turned into a test-only request
 * (http_fake_new) and driven through the API's router into a real engine
 * on a temporary store (fuzz_host.c). "{X}" in the target becomes the id of
 * an execution that exists, so the routes on one execution are reached.
 * A finding: a crash or sanitizer report, an answer whose status is out of
 * 200..599, or one that is not strict JSON (fuzz_host.c checks).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_host.h"

/* The next '\n'-ended part of [*p, end): its start and length; *p moves past it. */
static const char *next_line(const char **p, const char *end, size_t *len)
{
    const char *start = *p, *nl = memchr(start, '\n', (size_t)(end - start));
    *len = (size_t)((nl ? nl : end) - start);
    *p = nl ? nl + 1 : end;
    return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size, *method, *target, *headers, *x;
    size_t method_len, target_len, headers_len = 0, line_len, id_len;
    char target_buf[4096];

    fuzz_host_init();
    method = next_line(&p, end, &method_len);
    target = next_line(&p, end, &target_len);
    headers = p;
    while (p < end) {
        next_line(&p, end, &line_len);
        if (line_len == 0)
            break;
        headers_len = (size_t)(p - headers) - 1;
    }
    /* Substitute the first "{X}" with a real id. */
    id_len = strlen(fuzz_host_exec_id());
    if ((x = memmem(target, target_len, "{X}", 3)) && target_len - 3 + id_len < sizeof target_buf) {
        size_t before = (size_t)(x - target);
        memcpy(target_buf, target, before);
        memcpy(target_buf + before, fuzz_host_exec_id(), id_len);
        memcpy(target_buf + before + id_len, x + 3, target_len - before - 3);
        target_len = target_len - 3 + id_len;
        target = target_buf;
    }
    fuzz_host_request(method, method_len, target, target_len, headers, headers_len, p, (size_t)(end - p));
    return 0;
}
