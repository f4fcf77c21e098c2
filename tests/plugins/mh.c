/*
 * mh.c - the "mh" plugin: functions for hosts sharing one PostgreSQL store
 * (tests/integration/test_pg_multihost.py, test_pg_race.py). Each leaves a
 * trace outside the store, appended to a file the test names, so a test can
 * count what really ran (the store's own bookkeeping is what is under test)
 * and tell which engine process ran it. Every trace line is one write(2)
 * with O_APPEND: wholly there or not, never interleaved with another's.
 *
 *   mh_flow   args {"effects": PATH, "sleep": "500ms"}: step "a", then
 *             tarry_sleep(args.sleep), then step "b"; returns
 *             {"a": A, "b": B}, the two steps' recorded results. Each step's
 *             body appends "step <name> <execution_id> <pid> <unix us>\n"
 *             and records {"pid": PID, "us": US}: a result no other run of
 *             the body would give again, so a replaced step result shows.
 *   mh_leaf   args {"effects": PATH, "ms": N} (0..600000): appends
 *             "start <execution_id> <attempt> <pid> <unix us>\n", sleeps N ms
 *             on its worker, appends "end <execution_id> <attempt> <pid>
 *             <unix us>\n" and returns {"pid": PID, "attempt": ATTEMPT}. A run
 *             cut short by a kill leaves its start line alone.
 */
#include <tarry.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SLEEP_MS_MAX 600000

static long long unix_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

/* Append one line to `path` in one write(2). 0, or -1 with the error set on ctx. */
static int trace(tarry_ctx *ctx, const char *path, const char *line)
{
    size_t len = strlen(line);
    ssize_t wrote;
    int fd, err;

    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = errno;
        tarry_set_error(ctx, "mh: open %s: %s", path, strerror(err));
        return -1;
    }
    wrote = write(fd, line, len);
    close(fd);
    if (wrote != (ssize_t)len) {
        tarry_set_error(ctx, "mh: write %s failed", path);
        return -1;
    }
    return 0;
}

struct step_arg {
    const char *effects;
    const char *name;
};

static tarry_status flow_step(tarry_ctx *ctx, void *user)
{
    const struct step_arg *s = user;
    long long us = unix_us();
    char line[160];

    snprintf(line, sizeof line, "step %s %s %ld %lld\n", s->name, tarry_execution_id(ctx), (long)getpid(),
             us);
    if (trace(ctx, s->effects, line) != 0)
        return TARRY_FAILED;
    return (tarry_status)tarry_set_result(ctx,
                                          tarry_json(ctx, "{\"pid\":%ld,\"us\":%lld}", (long)getpid(), us));
}

static tarry_status mh_flow(tarry_ctx *ctx, const char *args_json)
{
    const char *effects = tarry_json_str(ctx, args_json, "effects");
    const char *duration = tarry_json_str(ctx, args_json, "sleep");
    struct step_arg a = {effects, "a"}, b = {effects, "b"};
    tarry_result ra, rb;
    int st;

    if (!effects || !duration)
        return tarry_fail_permanent(ctx, "mh_flow: args.effects and args.sleep are strings");
    st = tarry_step(ctx, "a", flow_step, &a, &ra);
    if (st == TARRY_FAILED)
        return tarry_set_error(ctx, "mh_flow: step a failed: %s", ra.error ? ra.error : "");
    TARRY_TRY(st);
    TARRY_TRY(tarry_sleep(ctx, duration));
    st = tarry_step(ctx, "b", flow_step, &b, &rb);
    if (st == TARRY_FAILED)
        return tarry_set_error(ctx, "mh_flow: step b failed: %s", rb.error ? rb.error : "");
    TARRY_TRY(st);
    return (tarry_status)tarry_set_result(
        ctx, tarry_json(ctx, "{\"a\":%j,\"b\":%j}", ra.value_json, rb.value_json));
}

static tarry_status mh_leaf(tarry_ctx *ctx, const char *args_json)
{
    const char *effects = tarry_json_str(ctx, args_json, "effects");
    int64_t ms = 0;
    struct timespec left;
    char line[160];

    if (!effects || tarry_json_int(ctx, args_json, "ms", &ms) != TARRY_OK || ms < 0 || ms > SLEEP_MS_MAX)
        return tarry_fail_permanent(ctx, "mh_leaf: args.effects is a string, args.ms 0..%d", SLEEP_MS_MAX);
    snprintf(line, sizeof line, "start %s %d %ld %lld\n", tarry_execution_id(ctx), tarry_attempt(ctx),
             (long)getpid(), unix_us());
    if (trace(ctx, effects, line) != 0)
        return TARRY_FAILED;
    left.tv_sec = (time_t)(ms / 1000);
    left.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
    snprintf(line, sizeof line, "end %s %d %ld %lld\n", tarry_execution_id(ctx), tarry_attempt(ctx),
             (long)getpid(), unix_us());
    if (trace(ctx, effects, line) != 0)
        return TARRY_FAILED;
    return (tarry_status)tarry_set_result(
        ctx, tarry_json(ctx, "{\"pid\":%ld,\"attempt\":%d}", (long)getpid(), tarry_attempt(ctx)));
}

TARRY_PLUGIN("mh", "1.0.0", TARRY_FUNCTION("mh_flow", mh_flow), TARRY_FUNCTION("mh_leaf", mh_leaf));
