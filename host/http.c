/*
 * http.c - h2o set-up on libuv, listening, and response helpers.
 *
 * Why h2o: a maintained, fast HTTP/1.1 (and /2) server library that runs on
 * the host's own libuv loop, so requests, commits and completions share one
 * thread with no hand-off (CONTRIBUTING.md has the full comparison).
 *
 * May not: know about executions or the store.
 */
#include "http.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

/* h2o refuses larger bodies itself (plain text); the API refuses bodies over
 * HTTP_MAX_BODY with a JSON error, so this only bounds memory. */
#define H2O_BODY_LIMIT (16u << 20)

struct http_server {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    bool listening;
    http_handler handler;
    void *user;
};

typedef struct tarry_handler {
    h2o_handler_t super;
    http_server *srv;
} tarry_handler;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    http_server *srv = ((tarry_handler *)self)->srv;
    return srv->handler(srv->user, req);
}

static void on_accept(uv_stream_t *listener, int status)
{
    http_server *srv = listener->data;
    uv_tcp_t *conn;

    if (status != 0)
        return;
    conn = h2o_mem_alloc(sizeof *conn);
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_accept(&srv->accept_ctx, h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free));
}

static int parse_listen(const char *listen, struct sockaddr_storage *addr, char *err, size_t errlen)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    char *end;
    long port;
    size_t hlen;

    if (!colon || colon == listen)
        goto bad;
    port = strtol(colon + 1, &end, 10);
    if (*end || colon[1] == '\0' || port < 0 || port > 65535)
        goto bad;
    hlen = (size_t)(colon - listen);
    if (listen[0] == '[') {
        if (hlen < 3 || listen[hlen - 1] != ']')
            goto bad;
        listen++;
        hlen -= 2;
    }
    if (hlen >= sizeof host)
        goto bad;
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr) == 0 ||
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr) == 0)
        return 0;
bad:
    snprintf(err, errlen, "bad listen address \"%s\" (want IP:PORT, e.g. 127.0.0.1:7373 or [::1]:7373)",
             listen);
    return TARRY_EINVAL;
}

bool http_listen_is_loopback(const char *listen)
{
    struct sockaddr_storage a;
    char err[160];
    if (parse_listen(listen, &a, err, sizeof err) != 0)
        return false;
    if (a.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&a)->sin_addr.s_addr) >> 24) == 127;
    return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&a)->sin6_addr);
}

int http_server_start(http_server **out, uv_loop_t *loop, const char *listen, http_handler handler,
                      void *user, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    http_server *srv;
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    tarry_handler *h;
    int rc;

    if ((rc = parse_listen(listen, &addr, err, errlen)) != 0)
        return rc;
    if (!(srv = calloc(1, sizeof *srv)))
        return TARRY_ENOMEM;
    srv->handler = handler;
    srv->user = user;
    h2o_config_init(&srv->config);
    srv->config.max_request_entity_size = H2O_BODY_LIMIT;
    host = h2o_config_register_host(&srv->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    h = (tarry_handler *)h2o_create_handler(path, sizeof *h);
    h->super.on_req = on_req;
    h->srv = srv;
    h2o_context_init(&srv->ctx, loop, &srv->config);
    srv->accept_ctx.ctx = &srv->ctx;
    srv->accept_ctx.hosts = srv->config.hosts;

    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    if ((rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&srv->listener, 1024, on_accept)) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen, uv_strerror(rc));
        uv_close((uv_handle_t *)&srv->listener, NULL);
        srv->listening = false;
        *out = srv;
        return TARRY_EIO;
    }
    srv->listening = true;
    *out = srv;
    return 0;
}

void http_server_stop_listening(http_server *srv)
{
    if (srv && srv->listening) {
        uv_close((uv_handle_t *)&srv->listener, NULL);
        srv->listening = false;
    }
}

void http_server_close(http_server *srv)
{
    if (!srv)
        return;
    http_server_stop_listening(srv);
    h2o_context_dispose(&srv->ctx);
    h2o_config_dispose(&srv->config);
    free(srv);
}

/* ---- requests ------------------------------------------------------------------ */

bool http_method_is(const h2o_req_t *req, const char *method)
{
    return h2o_memis(req->method.base, req->method.len, method, strlen(method));
}

int http_query(h2o_req_t *req, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p, *end;

    if (req->query_at == SIZE_MAX)
        return 0;
    p = req->path.base + req->query_at + 1;
    end = req->path.base + req->path.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - p) == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : stop;
            int decoded_len = 0;
            /* libcurl's decoder: '+' stays '+', which is right for our values. */
            char *decoded = curl_easy_unescape(NULL, v, (int)(stop - v), &decoded_len);
            if (!decoded)
                return -1;
            if ((size_t)decoded_len >= outlen || memchr(decoded, '\0', (size_t)decoded_len)) {
                curl_free(decoded);
                return -1;
            }
            memcpy(out, decoded, (size_t)decoded_len + 1);
            curl_free(decoded);
            return 1;
        }
        p = stop + 1;
    }
    return 0;
}

h2o_iovec_t http_header(h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    return i < 0 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
}

/* ---- answers ------------------------------------------------------------------ */

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 409:
        return "Conflict";
    case 415:
        return "Unsupported Media Type";
    case 500:
        return "Internal Server Error";
    default:
        return "Status";
    }
}

void http_reply_text(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);

    req->res.status = status;
    req->res.reason = reason_of(status);
    /* Without a length h2o would end the body by closing the connection. */
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    h2o_start_response(req, &generator);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

void http_reply_json(h2o_req_t *req, int status, const char *body, size_t len)
{
    http_reply_text(req, status, "application/json", body, len);
}

void http_reply_error(h2o_req_t *req, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    cJSON *root, *error;
    char *text;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    root = cJSON_CreateObject();
    error = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(error, "code", code);
    cJSON_AddStringToObject(error, "message", msg);
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text) {
        http_reply_json(req, status, text, strlen(text));
        free(text);
    } else {
        static const char fallback[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        http_reply_json(req, 500, fallback, sizeof fallback - 1);
    }
}

void http_reply_method_not_allowed(h2o_req_t *req, const char *allow)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    http_reply_error(req, 405, "method_not_allowed", "%.*s is not allowed on %.*s; use %s",
                     (int)req->method.len, req->method.base, (int)req->path_normalized.len,
                     req->path_normalized.base, allow);
}
