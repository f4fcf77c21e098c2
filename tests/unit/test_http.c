/*
 * test_http.c - the HTTP boundary (http.h) through a real server on a real
 * libuv loop, driven by libcurl from a second thread over 127.0.0.1.
 *
 * Covered: listening on port 0 and reading the port back; an address in
 * use and a malformed one are refused with messages that say so; loopback
 * detection; what a handler reads (method, the raw path without the query,
 * URL-decoded query parameters with their absent/too long/NUL cases, a
 * header by name in any case, the body); the answers (JSON, text with its
 * content type, the JSON error shape with escaping, 405 with Allow, extra
 * headers such as WWW-Authenticate and Retry-After); an answer given later
 * from a timer reaches the client and its `gone` hook is not called; a
 * client that goes away before a deferred answer fires `gone` exactly once
 * (over HTTP/2); HTTP/2 requests read the same as HTTP/1.1 ones. The server is closed and the
 * loop closes with no handle left (uv_loop_close() == 0).
 *
 * The client thread only records what it got; every assertion runs on the
 * main thread after it has finished.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <uv.h>

#include "http.h"
#include "status.h"

/* ---- the server side ------------------------------------------------------------ */

typedef struct server_state {
    uv_loop_t loop;
    uv_async_t client_done;
    uv_timer_t later_timer, safety;
    http_server *srv;
    http_req *later; /* a deferred request the timer answers */
    int later_gone, never_gone, requests, ticks_after;
    bool client_finished;
} server_state;

static bool path_is(http_str path, const char *literal)
{
    return path.len == strlen(literal) && memcmp(path.ptr, literal, path.len) == 0;
}

/* s as a JSON string member (null when absent). */
static void add_copy(cJSON *o, const char *name, http_str s)
{
    char *copy;
    if (!s.ptr) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    copy = strndup(s.ptr, s.len);
    cJSON_AddStringToObject(o, name, copy);
    free(copy);
}

static void reply_echo(http_req *req)
{
    char value[16];
    cJSON *o = cJSON_CreateObject();
    int rc;

    add_copy(o, "method", http_req_method(req));
    add_copy(o, "path", http_req_path(req));
    rc = http_req_query(req, "q", value, sizeof value);
    cJSON_AddNumberToObject(o, "q_rc", rc);
    cJSON_AddStringToObject(o, "q", rc == 1 ? value : "");
    cJSON_AddNumberToObject(o, "absent_rc", http_req_query(req, "absent", value, sizeof value));
    cJSON_AddNumberToObject(o, "long_rc", http_req_query(req, "long", value, sizeof value));
    cJSON_AddNumberToObject(o, "nul_rc", http_req_query(req, "nul", value, sizeof value));
    cJSON_AddBoolToObject(o, "is_post", http_req_method_is(req, "POST"));
    add_copy(o, "header", http_req_header(req, "x-TEST-header"));
    add_copy(o, "missing_header", http_req_header(req, "X-Not-Sent"));
    add_copy(o, "body", http_req_body(req));
    char *text = cJSON_PrintUnformatted(o);
    http_reply_json(req, 200, text, strlen(text));
    free(text);
    cJSON_Delete(o);
}

static void on_later_gone(void *user)
{
    ((server_state *)user)->later_gone++;
}

static void on_never_gone(void *user)
{
    ((server_state *)user)->never_gone++;
}

static void on_later_timer(uv_timer_t *t)
{
    server_state *st = t->data;
    http_reply_json(st->later, 202, "{\"later\":true}", 14);
    st->later = NULL;
}

static void handle(void *user, http_req *req)
{
    server_state *st = user;
    http_str path = http_req_path(req);

    st->requests++;
    if (path_is(path, "/echo") || path_is(path, "/a%2Fb")) {
        reply_echo(req);
    } else if (path_is(path, "/text")) {
        http_reply_text(req, 200, "text/plain; version=0.0.4", "a 1\nb 2\n", 8);
    } else if (path_is(path, "/error")) {
        http_reply_error(req, 409, "not_now", "say \"%s\"\non two lines", "quoted");
    } else if (path_is(path, "/only-get")) {
        http_reply_method_not_allowed(req, "GET");
    } else if (path_is(path, "/headers")) {
        http_add_header(req, "WWW-Authenticate", "Bearer");
        http_add_header(req, "Retry-After", "60");
        http_reply_error(req, 503, "store_full", "full");
    } else if (path_is(path, "/later")) {
        http_req_defer(req, on_later_gone, st);
        st->later = req;
        uv_timer_start(&st->later_timer, on_later_timer, 10, 0);
    } else if (path_is(path, "/never")) {
        /* Answered by nobody: the client gives up and goes. */
        http_req_defer(req, on_never_gone, st);
    } else {
        http_reply_error(req, 404, "not_found", "no %.*s", (int)path.len, path.ptr);
    }
}

/* ---- the client side ------------------------------------------------------------- */

typedef struct exchange {
    const char *method; /* NULL: GET */
    const char *path;
    const char *body;
    const char *header; /* one request header line, or NULL */
    long timeout_ms;    /* 0: none */
    bool h2;            /* HTTP/2 (h2c, prior knowledge) instead of HTTP/1.1 */
    /* what came back */
    CURLcode code;
    long status;
    char *headers, *text;
    size_t headers_len, text_len;
    cJSON *json;
} exchange;

typedef struct client_job {
    char base[80];
    exchange *ex;
    size_t n;
    server_state *st;
} client_job;

static size_t on_data(char *data, size_t size, size_t nmemb, void *user)
{
    return fwrite(data, size, nmemb, user) * size;
}

static void *client_main(void *arg)
{
    client_job *job = arg;
    for (size_t i = 0; i < job->n; i++) {
        exchange *x = &job->ex[i];
        CURL *curl = curl_easy_init();
        struct curl_slist *headers = NULL;
        char url[256];
        FILE *hf = open_memstream(&x->headers, &x->headers_len);
        FILE *bf = open_memstream(&x->text, &x->text_len);

        snprintf(url, sizeof url, "%s%s", job->base, x->path);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        if (x->h2)
            curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
        if (x->method)
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, x->method);
        if (x->body) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, x->body);
            /* The boundary refuses a body that is not JSON (http_guard.h). */
            headers = curl_slist_append(headers, "Content-Type: application/json");
        }
        if (x->header)
            headers = curl_slist_append(headers, x->header);
        headers = curl_slist_append(headers, "Expect:");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, x->timeout_ms ? x->timeout_ms : 30000L);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_data);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, hf);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, bf);
        x->code = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &x->status);
        fclose(hf);
        fclose(bf);
        x->json = cJSON_ParseWithLength(x->text, x->text_len);
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
    }
    uv_async_send(&job->st->client_done);
    return NULL;
}

static void on_client_done(uv_async_t *a)
{
    ((server_state *)a->data)->client_finished = true;
}

/* Stops the loop once the client is done and the abandoned request has been noticed (or 10 s after). */
static void on_check(uv_timer_t *t)
{
    server_state *st = t->data;
    /* Not a timing check: a bound, so a `gone` that never comes fails the asserts, not the clock. */
    if (st->client_finished && (st->never_gone > 0 || ++st->ticks_after > 1000))
        uv_stop(&st->loop);
}

static bool has_header(const exchange *x, const char *line)
{
    return x->headers && strcasestr(x->headers, line) != NULL;
}

static const char *json_str(const exchange *x, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(x->json, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static double json_num(const exchange *x, const char *key)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x->json, key));
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_listen(void **state)
{
    char err[256], addr[HTTP_ADDR_MAX], again[HTTP_ADDR_MAX + 8];
    int fd, fd2 = -1;
    (void)state;

    assert_int_equal(http_listen_open("127.0.0.1:0", &fd, err, sizeof err), 0);
    assert_int_equal(http_listen_address(fd, addr, sizeof addr), 0);
    assert_true(strncmp(addr, "127.0.0.1:", 10) == 0 && atoi(addr + 10) > 0);
    /* The same address while it is in use: refused, saying where and why. */
    snprintf(again, sizeof again, "%s", addr);
    assert_int_equal(http_listen_open(again, &fd2, err, sizeof err), TARRY_EIO);
    assert_non_null(strstr(err, "cannot listen on 127.0.0.1:"));
    assert_non_null(strstr(err, "in use"));
    close(fd);
    assert_int_equal(http_listen_open("localhost:80", &fd2, err, sizeof err), TARRY_EINVAL);
    assert_non_null(strstr(err, "want IP:PORT"));
    assert_int_equal(http_listen_open("127.0.0.1:70000", &fd2, err, sizeof err), TARRY_EINVAL);

    assert_true(http_listen_is_loopback("127.0.0.1:7373"));
    assert_true(http_listen_is_loopback("127.9.9.9:0"));
    assert_true(http_listen_is_loopback("[::1]:7373"));
    assert_false(http_listen_is_loopback("0.0.0.0:7373"));
    assert_false(http_listen_is_loopback("[::]:7373"));
    assert_false(http_listen_is_loopback("nonsense"));
}

static void test_requests_and_answers(void **state)
{
    char err[256], addr[HTTP_ADDR_MAX];
    server_state st = {0};
    client_job job = {0};
    pthread_t thread;
    int fd;
    static char long_query[200];
    (void)state;

    snprintf(long_query, sizeof long_query, "/echo?q=a%%20b%%2Bc+d&long=%s&nul=x%%00y",
             "0123456789abcdefghij");
    exchange ex[] = {
        {.method = "POST", .path = long_query, .body = "{\"k\": 1}", .header = "X-Test-Header: yes"},
        {.path = "/a%2Fb?q=1"},
        {.path = "/echo"},
        {.path = "/text"},
        {.path = "/error"},
        {.method = "DELETE", .path = "/only-get?x=1"},
        {.path = "/headers"},
        {.path = "/later"},
        /* HTTP/2 reads all the time, so it sees the client go at once (HTTP/1.1 may only see it
         * when the answer is written). */
        {.path = "/never", .timeout_ms = 300, .h2 = true},
        {.path = "/echo?q=after", .h2 = true},
    };

    assert_int_equal(uv_loop_init(&st.loop), 0);
    assert_int_equal(http_listen_open("127.0.0.1:0", &fd, err, sizeof err), 0);
    assert_int_equal(http_listen_address(fd, addr, sizeof addr), 0);
    assert_int_equal(http_server_start(&st.srv, &st.loop, fd, NULL, handle, &st, err, sizeof err), 0);
    uv_async_init(&st.loop, &st.client_done, on_client_done);
    st.client_done.data = &st;
    uv_timer_init(&st.loop, &st.later_timer);
    st.later_timer.data = &st;
    uv_timer_init(&st.loop, &st.safety);
    st.safety.data = &st;
    uv_timer_start(&st.safety, on_check, 10, 10);

    snprintf(job.base, sizeof job.base, "http://%s", addr);
    job.ex = ex;
    job.n = sizeof ex / sizeof ex[0];
    job.st = &st;
    assert_int_equal(pthread_create(&thread, NULL, client_main, &job), 0);
    uv_run(&st.loop, UV_RUN_DEFAULT);
    pthread_join(thread, NULL);

    /* The echo: method, raw path, query decoding, header by name, body. */
    assert_int_equal(ex[0].code, CURLE_OK);
    assert_int_equal(ex[0].status, 200);
    assert_true(has_header(&ex[0], "content-type: application/json"));
    assert_string_equal(json_str(&ex[0], "method"), "POST");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ex[0].json, "is_post")));
    assert_string_equal(json_str(&ex[0], "path"), "/echo");
    assert_int_equal(json_num(&ex[0], "q_rc"), 1);
    assert_string_equal(json_str(&ex[0], "q"), "a b+c+d"); /* '+' stays '+' */
    assert_int_equal(json_num(&ex[0], "absent_rc"), 0);
    assert_int_equal(json_num(&ex[0], "long_rc"), -1); /* does not fit in 16 bytes */
    assert_int_equal(json_num(&ex[0], "nul_rc"), -1);  /* a NUL inside */
    assert_string_equal(json_str(&ex[0], "header"), "yes");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(ex[0].json, "missing_header")));
    assert_string_equal(json_str(&ex[0], "body"), "{\"k\": 1}");
    /* The raw path: %2F is not decoded, the query is not part of it. */
    assert_string_equal(json_str(&ex[1], "path"), "/a%2Fb");
    assert_string_equal(json_str(&ex[1], "method"), "GET");
    assert_true(json_str(&ex[2], "body") == NULL || strcmp(json_str(&ex[2], "body"), "") == 0);
    /* Text keeps its content type and length. */
    assert_int_equal(ex[3].status, 200);
    assert_true(has_header(&ex[3], "content-type: text/plain; version=0.0.4"));
    assert_true(has_header(&ex[3], "content-length: 8"));
    assert_memory_equal(ex[3].text, "a 1\nb 2\n", 8);
    /* The error shape, with JSON escaping of the message. */
    assert_int_equal(ex[4].status, 409);
    const cJSON *error = cJSON_GetObjectItem(ex[4].json, "error");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(error, "code")), "not_now");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(error, "message")),
                        "say \"quoted\"\non two lines");
    /* 405 names the allowed methods in Allow and in the message (path without the query). */
    assert_int_equal(ex[5].status, 405);
    assert_true(has_header(&ex[5], "allow: GET"));
    error = cJSON_GetObjectItem(ex[5].json, "error");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(error, "code")), "method_not_allowed");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(error, "message")),
                        "DELETE is not allowed on /only-get; use GET");
    /* Extra headers reach the client. */
    assert_int_equal(ex[6].status, 503);
    assert_true(has_header(&ex[6], "www-authenticate: Bearer"));
    assert_true(has_header(&ex[6], "retry-after: 60"));
    /* An answer given later arrives, and gone was not called. */
    assert_int_equal(ex[7].status, 202);
    assert_string_equal(ex[7].text, "{\"later\":true}");
    assert_int_equal(st.later_gone, 0);
    /* The client that gave up: gone exactly once, and the server goes on serving. */
    assert_int_equal(ex[8].code, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(st.never_gone, 1);
    assert_int_equal(ex[9].status, 200);
    assert_string_equal(json_str(&ex[9], "q"), "after");
    assert_string_equal(json_str(&ex[9], "path"), "/echo");
    assert_int_equal(st.requests, (int)(sizeof ex / sizeof ex[0]));

    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        free(ex[i].headers);
        free(ex[i].text);
        cJSON_Delete(ex[i].json);
    }
    /* Everything closes: the loop ends with no handle left. */
    /* The clients are gone: once the server has seen their connections close it can be freed. */
    while (http_server_close(st.srv) == TARRY_ESTATE)
        uv_run(&st.loop, UV_RUN_ONCE);
    uv_walk(&st.loop, close_walk, NULL);
    uv_run(&st.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&st.loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_requests_and_answers),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
