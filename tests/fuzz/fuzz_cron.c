/*
 * fuzz_cron.c - libFuzzer target: cron expressions (host/cron.c), as a
 * plugin writes them in its function's options.
 *
 * Properties: no crash or sanitizer report on any text; a refusal says why,
 * quoting the expression; for an accepted one, from a few starting times
 * (2026, 1969, and one the input picks), the next due time is strictly
 * later, on a whole minute, and no time in between is due (the next due
 * time after any point between is the same one).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cron.h"
#include "status.h"

static void fail(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_cron: %s: \"%s\"\n", what, text);
    abort();
}

static void check_from(const cron_expr *c, int64_t after, const char *text)
{
    int64_t next, again;
    if (cron_next(c, after, &next) != 0)
        return; /* past year 9999: allowed */
    if (next <= after)
        fail("the next due time is not later", text);
    if (next % 60000 != 0)
        fail("the next due time is not on a whole minute", text);
    if (cron_next(c, next - 1, &again) != 0 || again != next)
        fail("a due time just before the next one", text);
    if (cron_next(c, after + (next - after) / 2, &again) != 0 || again != next)
        fail("a due time between the start and the next one", text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), err[300];
    cron_expr c;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    err[0] = '\0';
    if (cron_parse(text, &c, err, sizeof err) == 0) {
        uint32_t pick = 0;
        for (size_t i = 0; i < size; i++)
            pick = pick * 31 + data[i];
        check_from(&c, 1767225600000LL, text);         /* 2026-01-01T00:00:00Z */
        check_from(&c, -15778800000LL, text);          /* 1969-07-02 */
        check_from(&c, (int64_t)pick * 60013LL, text); /* somewhere in 1970..2470 */
    } else if (strncmp(err, "cron \"", 6) != 0) {
        fail("a cron expression refused without a reason", text);
    }
    free(text);
    return 0;
}
