/*
 * crash_common.h - the hostile "crash" plugin (issue 8), built twice
 * (crash_v1.c, crash_v2.c: the same functions, a different build, so a
 * test can load a new version). Each function takes the engine down in
 * its own way, or is the innocent neighbour:
 *
 *   crash_exit0     _exit(0): looks like a clean stop to a naive supervisor.
 *   crash_exit78    _exit(78): looks like a configuration error.
 *   crash_call_exit exit(3): atexit handlers run on the calling worker.
 *   crash_segv      writes to address 16 (SIGSEGV from the kernel).
 *   crash_abort     abort() (SIGABRT).
 *   crash_innocent  args {"ms": N, "touch": PATH?}: appends a line to PATH (if given)
 *                   when it starts, sleeps N ms, returns {"slept_ms": N}.
 *   crash_ok        returns {"version": CRASH_VERSION}.
 *   crash_record    args {"file": PATH}: appends "<execution_id> <attempt> <pid> <unix_ms>\n"
 *                   (one write(2), O_APPEND) when it starts, so a test can tell which
 *                   engine process ran it and when; returns {"ok": true}.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static tarry_status crash_exit0(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    _exit(0);
}

static tarry_status crash_exit78(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    _exit(78);
}

static tarry_status crash_call_exit(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    exit(3);
}

static tarry_status crash_segv(tarry_ctx *ctx, const char *args_json)
{
    /* Not NULL: a sanitizer's null check would report a store to NULL and exit instead; this is
     * an unmapped page, a plain SIGSEGV from the kernel. */
    volatile uintptr_t where = 16; /* volatile: the compiler cannot see (or warn about) the address */
    volatile int *nowhere = (volatile int *)where;
    (void)args_json;
    *nowhere = 1;
    return tarry_set_error(ctx, "crash_segv: still alive after writing to address 16");
}

static tarry_status crash_abort(tarry_ctx *ctx, const char *args_json)
{
    (void)ctx;
    (void)args_json;
    abort();
}

static tarry_status crash_innocent(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    cJSON *ms_item = cJSON_GetObjectItemCaseSensitive(args, "ms");
    cJSON *touch = cJSON_GetObjectItemCaseSensitive(args, "touch");
    long ms = cJSON_IsNumber(ms_item) ? (long)ms_item->valuedouble : 0;
    char out[64];
    struct timespec ts;

    if (cJSON_IsString(touch)) {
        int fd = open(touch->valuestring, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ssize_t wrote = write(fd, "started\n", 8);
            (void)wrote;
            close(fd);
        }
    }
    cJSON_Delete(args);
    if (ms < 0 || ms > 600000)
        return tarry_set_error(ctx, "crash_innocent: ms out of range");
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0)
        ;
    snprintf(out, sizeof out, "{\"slept_ms\":%ld}", ms);
    return tarry_set_result(ctx, out);
}

static tarry_status crash_record(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    cJSON *file = cJSON_GetObjectItemCaseSensitive(args, "file");
    struct timespec now;
    char line[160];
    int len, fd = -1;
    ssize_t wrote = -1;

    clock_gettime(CLOCK_REALTIME, &now);
    len = snprintf(line, sizeof line, "%s %d %d %lld\n", tarry_execution_id(ctx), tarry_attempt(ctx),
                   (int)getpid(), (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    if (cJSON_IsString(file) &&
        (fd = open(file->valuestring, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) >= 0) {
        wrote = write(fd, line, (size_t)len);
        close(fd);
    }
    cJSON_Delete(args);
    if (wrote != len)
        return tarry_set_error(ctx, "crash_record: cannot append to args.file");
    return tarry_set_result(ctx, "{\"ok\":true}");
}

static tarry_status crash_ok(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return tarry_set_result(ctx, "{\"version\":\"" CRASH_VERSION "\"}");
}

TARRY_PLUGIN("crash", CRASH_VERSION, TARRY_FUNCTION("crash_exit0", crash_exit0),
             TARRY_FUNCTION("crash_exit78", crash_exit78), TARRY_FUNCTION("crash_call_exit", crash_call_exit),
             TARRY_FUNCTION("crash_segv", crash_segv), TARRY_FUNCTION("crash_abort", crash_abort),
             TARRY_FUNCTION("crash_innocent", crash_innocent), TARRY_FUNCTION("crash_ok", crash_ok),
             TARRY_FUNCTION("crash_record", crash_record));
