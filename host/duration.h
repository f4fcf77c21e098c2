/*
 * duration.h - human durations for the host's API, CLI and durable sleeps.
 *
 * The grammar and the parser live in the journal core
 * (sdk/core/jcore_duration.h, which documents them), so the host and the
 * test kit accept the same texts and refuse the same mistakes with the same
 * words. These are the host's names for them.
 */
#ifndef TARRY_DURATION_H
#define TARRY_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "jcore_duration.h"

/* "1 day" -> 86400000. 0, or TARRY_EINVAL with a reason quoting the input in err. */
static inline int duration_parse(const char *text, int64_t *out_ms, char *err, size_t errlen)
{
    return jcore_duration_parse(text, out_ms, err, errlen);
}

/* 5400000 -> "1h 30m" (the two largest units, truncated). */
static inline void duration_format(int64_t ms, char *out, size_t outlen)
{
    jcore_duration_format(ms, out, outlen);
}

#endif
