/*
 * testfns.c - the "testfns" plugin the integration tests drive. Each
 * function does one observable thing, so a test can tell what the host did:
 *
 *   noop        returns at once, result null.
 *   record      args {"file": PATH}: appends "<execution_id> <attempt>\n" to
 *               PATH with one write(2) on an O_APPEND descriptor, so lines
 *               from concurrent workers (and from an engine killed mid-burst)
 *               never interleave; the crash tests count how often each
 *               execution really ran. Returns {"ok": true}.
 *   fail        fails with "deliberate failure".
 *   echo        returns its args as the result.
 *   log_lines   logs "log line 1 (info)", "log line 2 (warn)",
 *               "log line 3 (error)" in that order.
 *   bad_result  hands tarry_set_result() invalid JSON; the host must say
 *               TARRY_EINVAL and fail the attempt with the reason. Fails (with
 *               the code it got) when the host accepted it.
 *   bad_utf8_result  sets a result with invalid UTF-8 and returns TARRY_OK:
 *               the host must fail the attempt anyway.
 *   bad_utf8_error  fails with an error holding invalid UTF-8: the host stores it with '?'
 *               in place of the bad bytes (JSON answers, PostgreSQL's UTF8 columns).
 *   crash       raise(SIGSEGV): kills the engine process that runs it.
 *   slow        args {"ms": N}: sleeps N milliseconds, returns {"slept_ms": N}; cancelled
 *               (tarry_is_cancelled), it returns at once, failed: a test holds a worker with
 *               a long one and lets go of it by cancelling it, whatever the machine's speed.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static tarry_status noop(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    return TARRY_OK;
}

static tarry_status record(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    cJSON *file = cJSON_GetObjectItemCaseSensitive(args, "file");
    char line[128];
    int len, fd;
    ssize_t wrote;

    if (!cJSON_IsString(file)) {
        cJSON_Delete(args);
        return tarry_set_error(ctx, "record: args.file must be a string");
    }
    len = snprintf(line, sizeof(line), "%s %d\n", tarry_execution_id(ctx), tarry_attempt(ctx));
    fd = open(file->valuestring, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int err = errno;
        tarry_set_error(ctx, "record: open %s: %s", file->valuestring, strerror(err));
        cJSON_Delete(args);
        return TARRY_FAILED;
    }
    cJSON_Delete(args);
    /* One write: a line is either wholly in the file or not at all. */
    wrote = write(fd, line, (size_t)len);
    close(fd);
    if (wrote != len)
        return tarry_set_error(ctx, "record: short write (%zd of %d bytes)", wrote, len);
    return tarry_set_result(ctx, "{\"ok\":true}");
}

static tarry_status fail(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_error(ctx, "deliberate failure");
}

static tarry_status echo(tarry_ctx *ctx, const char *args_json)
{
    int rc = tarry_set_result(ctx, args_json);
    if (rc != TARRY_OK)
        return tarry_set_error(ctx, "echo: the host refused its own args as a result: %s",
                               tarry_strerror(rc));
    return TARRY_OK;
}

static tarry_status log_lines(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    tarry_log(ctx, TARRY_LOG_INFO, "log line %d (%s)", 1, "info");
    tarry_log(ctx, TARRY_LOG_WARN, "log line %d (%s)", 2, "warn");
    tarry_log(ctx, TARRY_LOG_ERROR, "log line %d (%s)", 3, "error");
    return TARRY_OK;
}

static tarry_status bad_result(tarry_ctx *ctx, const char *args_json)
{
    int rc;
    (void)args_json;
    rc = tarry_set_result(ctx, "{\"unterminated\": ");
    if (rc != TARRY_EINVAL)
        return tarry_set_error(
            ctx, "bad_result: set_result took invalid JSON and returned %d (%s), not TARRY_EINVAL", rc,
            tarry_strerror(rc));
    return TARRY_OK;
}

/* A result with a byte that is no UTF-8 (a Latin-1 'é'), then TARRY_OK as if nothing happened. */
static tarry_status bad_utf8_result(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    tarry_set_result(ctx, "{\"user\": {\"name\": \"Ren\xe9\"}}");
    return TARRY_OK;
}

/* An error with a Latin-1 'é' and a cut 3-byte character: the host keeps the text, bytes '?'. */
static tarry_status bad_utf8_error(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_error(ctx, "no user Ren\xe9 (\xe2\x82)");
}

static tarry_status crash(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    raise(SIGSEGV);
    return tarry_set_error(ctx, "crash: still alive after raise(SIGSEGV)");
}

static tarry_status slow(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    cJSON *ms = cJSON_GetObjectItemCaseSensitive(args, "ms");
    struct timespec left;
    long long want;
    char result[64];

    if (!cJSON_IsNumber(ms) || ms->valuedouble < 0 || ms->valuedouble > 600000) {
        cJSON_Delete(args);
        return tarry_set_error(ctx, "slow: args.ms must be a number from 0 to 600000");
    }
    want = (long long)ms->valuedouble;
    cJSON_Delete(args);
    /* In steps of at most 10 ms, looking for a cancel between them. */
    for (long long done = 0; done < want; done += 10) {
        long long step = want - done < 10 ? want - done : 10;
        if (tarry_is_cancelled(ctx))
            return tarry_set_error(ctx, "slow: cancelled after %lld ms", done);
        left.tv_sec = 0;
        left.tv_nsec = (long)step * 1000000L;
        while (nanosleep(&left, &left) != 0 && errno == EINTR)
            ;
    }
    snprintf(result, sizeof(result), "{\"slept_ms\":%lld}", want);
    return tarry_set_result(ctx, result);
}

TARRY_PLUGIN("testfns", "1.0.0", TARRY_FUNCTION("noop", noop), TARRY_FUNCTION("record", record),
             TARRY_FUNCTION("fail", fail), TARRY_FUNCTION("echo", echo),
             TARRY_FUNCTION("log_lines", log_lines), TARRY_FUNCTION("bad_result", bad_result),
             TARRY_FUNCTION("bad_utf8_result", bad_utf8_result),
             TARRY_FUNCTION("bad_utf8_error", bad_utf8_error), TARRY_FUNCTION("crash", crash),
             TARRY_FUNCTION("slow", slow));
