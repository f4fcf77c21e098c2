/*
 * fn_options.h - a function's options (tarry.h: retry, max_duration,
 * concurrency, max_concurrency_action, cron, retention) as the host uses them: read
 * from the plugin's descriptor once, when the plugin is loaded, checked,
 * with the defaults filled in. Pure: no engine, no store, no clock.
 *
 * A plugin built against a header older than revision 4 has no options
 * (its tarry_function_def ends after `fn`): it gets the defaults; one older
 * than revision 5 has no `retention` (the host's applies).
 */
#ifndef TARRY_FN_OPTIONS_H
#define TARRY_FN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cron.h"
#include "tarry.h"

/* Defer's defaults, taken when retry is on and a field is zero. */
#define FN_RETRY_ATTEMPTS_DEFAULT 13
#define FN_RETRY_INITIAL_MS_DEFAULT 30000
#define FN_RETRY_MULTIPLIER_DEFAULT 1.5
#define FN_RETRY_JITTER_DEFAULT 0.5
#define FN_RETRY_MAX_MS_DEFAULT 600000
#define FN_RETRY_ATTEMPTS_MAX 1000
#define FN_MAX_DURATION_DEFAULT_MS (30 * 60 * 1000)

typedef struct fn_options {
    bool retry;                  /* failed attempts are retried */
    uint32_t max_attempts;       /* attempts in all, the first included (1 when retry is off) */
    int64_t initial_interval_ms; /* the wait before the second attempt */
    int64_t max_interval_ms;     /* no wait is longer */
    double multiplier;           /* each wait is this many times the last (>= 1) */
    double jitter;               /* randomization factor, 0..1 */
    int64_t max_duration_ms;     /* an attempt running longer times out; 0: no limit */
    uint32_t concurrency;        /* attempts running at once at most; 0: no limit */
    bool cancel_over_limit;      /* max_concurrency_action "cancel": refuse new ones at the limit */
    const char *cron;            /* the schedule as the plugin wrote it (borrowed), or NULL */
    cron_expr cron_when;         /* ... parsed (cron.h), when cron is not NULL */
    int64_t retention_ms;        /* final executions deleted this long after they end; 0: kept forever;
                                    FN_RETENTION_HOST: the host's --retention (revision 5) */
} fn_options;

#define FN_RETENTION_HOST (-1)

/* The options of a function that sets none (and of every function of an older plugin). */
void fn_options_default(fn_options *out);

/*
 * Read and check the options of `def`, one entry of a descriptor whose
 * functions are `function_size` bytes apart, built against header
 * `revision`. Returns 0, or TARRY_EINVAL with a one-line reason naming the
 * field ("retry.multiplier: 0.5 is below 1") in err.
 */
int fn_options_parse(const tarry_function_def *def, size_t function_size, uint32_t revision, fn_options *out,
                     char *err, size_t errlen);

#endif
