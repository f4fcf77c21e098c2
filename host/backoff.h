/*
 * backoff.h - when a failed attempt is tried again: the retry policy of a
 * function (fn_options.h) as a pure computation. No clock, no engine, no
 * store; the random part is handed in, so the schedule can be tested
 * exactly (tests/unit/test_backoff.c).
 *
 * The schedule is Defer's (and cenkalti/backoff's, which it uses): the wait
 * after attempt n (from 1) is
 *     base(n) = min(initial_interval * multiplier^(n-1), max_interval)
 *     wait(n) = base(n) * (1 + jitter * (2r - 1)),  r uniform in [0, 1)
 * so it lies in [base(n) * (1 - jitter), base(n) * (1 + jitter)], and is then
 * capped at max_interval again: no wait is ever longer than max_interval.
 */
#ifndef TARRY_BACKOFF_H
#define TARRY_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "fn_options.h"

/*
 * Whether an attempt that failed (`attempt`, from 1) is tried again:
 * retries on, attempts left, and the failure not permanent
 * (tarry_fail_permanent).
 */
bool backoff_should_retry(const fn_options *o, uint32_t attempt, bool permanent);

/*
 * The wait in ms before the attempt after `attempt` (from 1), with `r` the
 * random part in [0, 1) (values outside are clamped). Never negative, never
 * above o->max_interval_ms; 0 when the intervals are zero.
 */
int64_t backoff_delay_ms(const fn_options *o, uint32_t attempt, double r);

/*
 * A uniform value in [0, 1) for backoff_delay_ms: a xorshift generator
 * seeded once from getrandom(2). Not for secrets; one thread (the loop).
 */
double backoff_random(void);

#endif
