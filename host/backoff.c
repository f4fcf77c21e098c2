/*
 * backoff.c - the retry schedule (see backoff.h). Pure but for
 * backoff_random's seed.
 */
#include "backoff.h"

#include <math.h>
#include <sys/random.h>
#include <time.h>

bool backoff_should_retry(const fn_options *o, uint32_t attempt, bool permanent)
{
    return o->retry && !permanent && attempt < o->max_attempts;
}

int64_t backoff_delay_ms(const fn_options *o, uint32_t attempt, double r)
{
    double base, wait, cap = (double)o->max_interval_ms, jitter = o->jitter;

    if (o->initial_interval_ms <= 0 || o->max_interval_ms <= 0)
        return 0;
    if (attempt < 1)
        attempt = 1;
    if (!(r >= 0.0)) /* also NaN */
        r = 0.0;
    if (r >= 1.0)
        r = nextafter(1.0, 0.0);
    if (!(jitter > 0.0))
        jitter = 0.0;
    if (jitter > 1.0)
        jitter = 1.0;
    /* pow overflows to inf for large attempts: the cap takes it. */
    base = (double)o->initial_interval_ms * pow(o->multiplier >= 1.0 ? o->multiplier : 1.0, attempt - 1);
    if (!(base <= cap))
        base = cap;
    wait = base * (1.0 + jitter * (2.0 * r - 1.0));
    if (wait > cap)
        wait = cap;
    return wait < 0.0 ? 0 : (int64_t)llround(wait);
}

double backoff_random(void)
{
    static uint64_t state;

    if (!state) {
        if (getrandom(&state, sizeof state, GRND_NONBLOCK) != (ssize_t)sizeof state || !state) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            state = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ 0x9e3779b97f4a7c15u;
        }
    }
    /* xorshift64* */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (double)((state * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0; /* 2^53 */
}
