/*
 * fuzz_duration.c - libFuzzer target: the parsers of times people write:
 * durations (sdk/core/jcore_duration.c: delays, sleeps, ?wait), RFC 3339
 * times (host/clock.c: run_at, reschedule's at) and byte sizes
 * (host/bytesize.c: --map-size, --log-line-max).
 *
 * Properties: no crash or sanitizer report on any text; a parsed duration
 * is not negative and its formatted form parses back to at most it; a
 * parsed time inside the years RFC 3339 can write (0000..9999) formats and
 * parses back to itself; an error always says why.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytesize.h"
#include "clock.h"
#include "jcore_duration.h"

#define MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define MAX_MS (253402300799999LL) /* 9999-12-31T23:59:59.999Z */

static void fail(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_duration: %s: \"%s\"\n", what, text);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), err[300], formatted[CLOCK_TEXT_LEN + 64];
    int64_t ms, again;
    uint64_t bytes;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    err[0] = '\0';
    if (jcore_duration_parse(text, &ms, err, sizeof err) == 0) {
        if (ms < 0)
            fail("negative duration", text);
        jcore_duration_format(ms, formatted, sizeof formatted);
        if (jcore_duration_parse(formatted, &again, NULL, 0) != 0 || again > ms)
            fail("a formatted duration does not parse back", formatted);
    } else if (!err[0]) {
        fail("a duration refused without a reason", text);
    }

    err[0] = '\0';
    if (clock_parse(text, &ms, err, sizeof err) == 0) {
        if (ms >= MIN_MS && ms <= MAX_MS) {
            clock_format(ms, formatted);
            if (clock_parse(formatted, &again, NULL, 0) != 0 || again != ms)
                fail("a formatted time does not parse back to itself", formatted);
        }
    } else if (!err[0]) {
        fail("a time refused without a reason", text);
    }

    err[0] = '\0';
    if (bytesize_parse(text, &bytes, err, sizeof err) != 0 && !err[0])
        fail("a size refused without a reason", text);
    free(text);
    return 0;
}
