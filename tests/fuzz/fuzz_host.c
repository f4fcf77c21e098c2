/*
 * fuzz_host.c - a real host without a socket (fuzz_host.h).
 *
 * The store lives in a fresh folder under $TMPDIR (default /tmp), removed at
 * exit; commits there are real LMDB commits, so put TMPDIR on a tmpfs for
 * speed. Host log lines below "error" are dropped: libFuzzer's output is
 * for findings.
 */
#include "fuzz_host.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api.h"
#include "engine.h"
#include "hlog.h"
#include "json_strict.h"
#include "plugins.h"
#include "store.h"

/* How long (loop time, ms) a request may take before it is dropped as a client gone: a trigger
 * waits for its commit and its function; a ?wait on something that never ends would wait 10 min. */
#define FUZZ_ANSWER_MS 250

static struct {
    bool ready;
    char dir[256];
    uv_loop_t loop;
    store *st;
    plugins *pl;
    engine *eng;
    api *a;
    char exec_id[64];
} host;

typedef struct answer {
    int status;
    bool done;
    char *body;     /* owned, for the start-up request that reads an id */
    bool dashboard; /* a dashboard path (`/`, `/ui/...`): a 200 is a file (HTML, CSS, JS), not JSON */
} answer;

static void on_answer(void *user, int status, const char *body, size_t len)
{
    answer *ans = user;
    json_strict_error err;

    if (status < 200 || status > 599) {
        fprintf(stderr, "fuzz_host: answered with status %d\n", status);
        abort();
    }
    /* Everything but the Prometheus text and the dashboard's files is JSON, and must be strict JSON. */
    if (len > 0 && body[0] != '#' && !(ans->dashboard && status == 200) &&
        json_strict_check(body, len, &err) != 0) {
        fprintf(stderr, "fuzz_host: the %d answer is not strict JSON: %s at %s (byte %zu): %.*s\n", status,
                err.message, err.path, err.offset, (int)(len > 400 ? 400 : len), body);
        abort();
    }
    if (getenv("FUZZ_HOST_VERBOSE")) /* what each input got: to see which routes a corpus reaches */
        fprintf(stderr, "fuzz_host: %d %.*s\n", status, (int)(len > 160 ? 160 : len), body);
    ans->status = status;
    ans->done = true;
    free(ans->body);
    ans->body = strndup(body, len);
}

static void remove_dir(void)
{
    char cmd[300];
    if (!host.dir[0])
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", host.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_host: could not remove %s\n", host.dir);
}

static void on_tick(uv_timer_t *t)
{
    (void)t; /* only wakes UV_RUN_ONCE */
}

static int send_request(const char *method, size_t method_len, const char *target, size_t target_len,
                        const char *headers, size_t headers_len, const char *body, size_t body_len,
                        answer *ans)
{
    http_req *req = http_fake_new(method, method_len, target, target_len, headers, headers_len, body,
                                  body_len, on_answer, ans);
    uv_timer_t tick;
    uint64_t start;

    if (!req)
        return 0;
    api_handle(host.a, req);
    /* The tick keeps UV_RUN_ONCE from sleeping until a far timer (a delayed execution's). */
    uv_timer_init(&host.loop, &tick);
    uv_timer_start(&tick, on_tick, 1, 1);
    uv_update_time(&host.loop);
    start = uv_now(&host.loop);
    while (!ans->done && uv_now(&host.loop) - start < FUZZ_ANSWER_MS)
        uv_run(&host.loop, UV_RUN_ONCE);
    uv_timer_stop(&tick);
    uv_close((uv_handle_t *)&tick, NULL);
    http_fake_free(req); /* unanswered: the client went away */
    /* Let what the request started settle a little (the tick's close, commits), without waiting. */
    for (int turn = 0; turn < 8; turn++)
        uv_run(&host.loop, UV_RUN_NOWAIT);
    return ans->done ? ans->status : 0;
}

void fuzz_host_init(void)
{
    char err[512], path[300], vstore[320];
    const char *tmp = getenv("TMPDIR");
    answer ans = {0};
    static const char hdr[] = "Content-Type: application/json";
    static const char trig[] = "/v1/functions/echo/executions?wait=10s";
    static const char body[] = "{\"args\": {\"seed\": 1}}";
    const char *id;

    if (host.ready)
        return;
    hlog_set_level(HLOG_ERROR);
    setenv("UV_THREADPOOL_SIZE", "4", 1);
    snprintf(host.dir, sizeof host.dir, "%s/tarry-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(host.dir)) {
        perror("fuzz_host: mkdtemp");
        abort();
    }
    atexit(remove_dir);
    snprintf(path, sizeof path, "%s/data", host.dir);
    snprintf(vstore, sizeof vstore, "%s/data/plugins", host.dir);
    if (store_open(&host.st, path, 1ull << 30, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_host: store_open: %s\n", err);
        abort();
    }
    if (plugins_open(&host.pl, FUZZ_PLUGINS_DIR, vstore, NULL) != 0 || !plugins_find(host.pl, "echo")) {
        fprintf(stderr, "fuzz_host: the fuzz plugin did not load from %s\n", FUZZ_PLUGINS_DIR);
        abort();
    }
    uv_loop_init(&host.loop);
    if (engine_create(&host.eng, &host.loop, host.st, host.pl, 2) != 0 ||
        api_create(&host.a, host.eng, NULL) != 0 || engine_start(host.eng) != 0) {
        fprintf(stderr, "fuzz_host: cannot start the engine\n");
        abort();
    }
    host.ready = true;
    if (send_request("POST", 4, trig, sizeof trig - 1, hdr, sizeof hdr - 1, body, sizeof body - 1, &ans) !=
            200 ||
        !(id = strstr(ans.body, "\"id\":\"")) || strlen(id + 6) < 26) {
        fprintf(stderr, "fuzz_host: the first trigger did not succeed: %s\n", ans.body ? ans.body : "(none)");
        abort();
    }
    snprintf(host.exec_id, sizeof host.exec_id, "%.26s", id + 6);
    free(ans.body);
}

int fuzz_host_request(const char *method, size_t method_len, const char *target, size_t target_len,
                      const char *headers, size_t headers_len, const char *body, size_t body_len)
{
    const char *q = memchr(target, '?', target_len);
    size_t path_len = q ? (size_t)(q - target) : target_len; /* the query does not choose the route */
    answer ans = {0};
    int status;

    ans.dashboard = (path_len == 1 && target[0] == '/') || (path_len > 4 && memcmp(target, "/ui/", 4) == 0);
    status = send_request(method, method_len, target, target_len, headers, headers_len, body, body_len, &ans);
    free(ans.body);
    return status;
}

const char *fuzz_host_exec_id(void)
{
    return host.exec_id;
}
