/*
 * fn_options.c - reading a function's options from its descriptor (see
 * fn_options.h).
 */
#include "fn_options.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jcore_duration.h"

void fn_options_default(fn_options *out)
{
    memset(out, 0, sizeof *out);
    out->max_attempts = 1;
    out->initial_interval_ms = FN_RETRY_INITIAL_MS_DEFAULT;
    out->max_interval_ms = FN_RETRY_MAX_MS_DEFAULT;
    out->multiplier = FN_RETRY_MULTIPLIER_DEFAULT;
    out->jitter = FN_RETRY_JITTER_DEFAULT;
    out->max_duration_ms = FN_MAX_DURATION_DEFAULT_MS;
    out->retention_ms = FN_RETENTION_HOST;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
refuse(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return TARRY_EINVAL;
}

/* A duration option: NULL keeps *ms. */
static int duration(const char *field, const char *text, int64_t *ms, char *err, size_t errlen)
{
    char why[200];
    if (!text)
        return 0;
    if (jcore_duration_parse(text, ms, why, sizeof why) != 0)
        return refuse(err, errlen, "%s: %s", field, why);
    return 0;
}

static int retry(const tarry_retry *r, fn_options *out, char *err, size_t errlen)
{
    if (!r->enabled)
        return 0;
    out->retry = true;
    out->max_attempts = r->max_attempts ? r->max_attempts : FN_RETRY_ATTEMPTS_DEFAULT;
    if (out->max_attempts > FN_RETRY_ATTEMPTS_MAX)
        return refuse(err, errlen, "retry.max_attempts: %u is above %u", out->max_attempts,
                      FN_RETRY_ATTEMPTS_MAX);
    if (duration("retry.initial_interval", r->initial_interval, &out->initial_interval_ms, err, errlen) ||
        duration("retry.max_interval", r->max_interval, &out->max_interval_ms, err, errlen))
        return TARRY_EINVAL;
    if (r->multiplier != 0) {
        if (!isfinite(r->multiplier) || r->multiplier < 1 || r->multiplier > 100)
            return refuse(err, errlen, "retry.multiplier: %g is not between 1 and 100", r->multiplier);
        out->multiplier = r->multiplier;
    }
    if (r->randomization_factor < 0)
        out->jitter = 0;
    else if (r->randomization_factor != 0) {
        if (!isfinite(r->randomization_factor) || r->randomization_factor > 1)
            return refuse(err, errlen, "retry.randomization_factor: %g is not between 0 and 1",
                          r->randomization_factor);
        out->jitter = r->randomization_factor;
    }
    if (out->max_interval_ms < out->initial_interval_ms)
        return refuse(err, errlen, "retry.max_interval is shorter than retry.initial_interval");
    return 0;
}

int fn_options_parse(const tarry_function_def *def, size_t function_size, uint32_t revision, fn_options *out,
                     char *err, size_t errlen)
{
    const char *action;
    int64_t max_ms;

    fn_options_default(out);
    /* Options exist from revision 4 on, in a struct that reaches past `cron`. */
    if (revision < 4 || function_size < offsetof(tarry_function_def, cron) + sizeof def->cron)
        return 0;
    if (retry(&def->retry, out, err, errlen) != 0)
        return TARRY_EINVAL;
    if (def->max_duration) {
        /* "0" (no unit) is allowed here as the way to say "no limit". */
        if (strcmp(def->max_duration, "0") == 0)
            out->max_duration_ms = 0;
        else if (duration("max_duration", def->max_duration, &max_ms, err, errlen) != 0)
            return TARRY_EINVAL;
        else
            out->max_duration_ms = max_ms;
    }
    out->concurrency = def->concurrency;
    action = def->max_concurrency_action;
    if (action && strcmp(action, "queue") != 0) {
        if (strcmp(action, "cancel") != 0)
            return refuse(err, errlen,
                          "max_concurrency_action: \"%.64s\" is neither \"queue\" nor \"cancel\"", action);
        if (!def->concurrency)
            return refuse(err, errlen, "max_concurrency_action \"cancel\" needs a concurrency limit");
        out->cancel_over_limit = true;
    }
    if (def->cron) {
        /* The parser's message quotes the expression and names the field:
         * cron "61 * * * *": minute: 61 is out of range 0-59 */
        if (cron_parse(def->cron, &out->cron_when, err, errlen) != 0)
            return TARRY_EINVAL;
        out->cron = def->cron;
    }
    /* Revision 5 on, in a struct that reaches past `retention` (a revision-4 entry ends at cron). */
    if (revision >= 5 && function_size >= offsetof(tarry_function_def, retention) + sizeof def->retention &&
        def->retention) {
        if (strcmp(def->retention, "0") == 0)
            out->retention_ms = 0;
        else if (duration("retention", def->retention, &max_ms, err, errlen) != 0)
            return TARRY_EINVAL;
        else if (max_ms < 1000)
            return refuse(err, errlen, "retention: \"%.64s\" is under 1s (\"0\" keeps them forever)",
                          def->retention);
        else
            out->retention_ms = max_ms;
    }
    return 0;
}
