/*
 * http.c - the HTTP boundary over h2o: listening sockets, the server on the
 * host's libuv loop, and tarry's request and answer types (http.h).
 *
 * With http_conn.c (the connection policy against hostile clients) and
 * http_stream.c (streamed answers), behind http_int.h, these are the only
 * files that include h2o.h. Why h2o, and what it costs, is in
 * CONTRIBUTING.md ("Why these dependencies"); to replace it, rewrite these
 * files against http.h and nothing else changes.
 *
 * A request is an http_req allocated in h2o's per-request memory pool as a
 * "shared" block, so h2o calls on_req_disposed() when the request ends for
 * any reason: after its answer was sent, or when its client went away
 * first. An answer clears the deferred hook; a hook still set at disposal
 * means the client went first, and its owner hears of it (http_req_defer).
 *
 * May not: know about executions, the store or the engine.
 */
#include "http.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hlog.h"
#include "http_int.h"
#include "json_strict.h"
#include "status.h"

/* h2o refuses larger bodies itself (plain text over HTTP/1.1, a refused stream over HTTP/2); between
 * max_body and this the client gets our JSON 413. The bytes a connection buffers are bounded apart
 * (max_conn_buffer), since HTTP/2 buffers up to 100 such bodies at once. */
#define H2O_BODY_LIMIT (16u << 20)

/* Connections the kernel queues before they are accepted (also while a supervised engine restarts). */
#define LISTEN_BACKLOG 1024

/*
 * picohttpparser, which libh2o carries and exports (phr_parse_request is
 * what h2o parses HTTP/1 with) but Debian installs no header for. Used to
 * read the header lines h2o keeps to itself (Content-Length and
 * Transfer-Encoding never reach h2o_req_t::headers): see smuggling().
 */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path,
                      size_t *path_len, int *minor_version, struct phr_header *headers, size_t *num_headers,
                      size_t last_len);

typedef struct tarry_handler {
    h2o_handler_t super;
    http_server *srv;
} tarry_handler;

/* ---- listening ------------------------------------------------------------------ */

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
    memset(addr, 0, sizeof *addr);
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

int http_listen_open(const char *address, int *fd, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    socklen_t len;
    int rc, s, on = 1;

    if ((rc = parse_listen(address, &addr, err, errlen)) != 0)
        return rc;
    len = addr.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if ((s = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        goto fail;
    /* As libuv does: a restarted host may bind while old connections sit in TIME_WAIT. */
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(s, (struct sockaddr *)&addr, len) != 0 || listen(s, LISTEN_BACKLOG) != 0)
        goto fail;
    *fd = s;
    return 0;
fail:
    snprintf(err, errlen, "cannot listen on %s: %s", address, strerror(errno));
    if (s >= 0)
        close(s);
    return TARRY_EIO;
}

int http_listen_address(int fd, char *out, size_t outlen)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char ip[INET6_ADDRSTRLEN];
    int n;

    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        return TARRY_EIO;
    if (addr.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&addr;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        n = snprintf(out, outlen, "%s:%u", ip, ntohs(a->sin_port));
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        n = snprintf(out, outlen, "[%s]:%u", ip, ntohs(a->sin6_port));
    }
    return n < 0 || (size_t)n >= outlen ? TARRY_EIO : 0;
}

static http_str str_of(h2o_iovec_t v)
{
    return (http_str){v.base, v.len};
}

/* ---- the server -------------------------------------------------------------------- */

static bool is_state_changing(const h2o_req_t *r)
{
    return !(h2o_memis(r->method.base, r->method.len, H2O_STRLIT("GET")) ||
             h2o_memis(r->method.base, r->method.len, H2O_STRLIT("HEAD")) ||
             h2o_memis(r->method.base, r->method.len, H2O_STRLIT("OPTIONS")));
}

static void on_req_disposed(void *block)
{
    http_req *req = block;
    http_conn *conn = req->conn;
    /* Not answered at all, or answered but not all of it sent: the client reset the stream or
     * went away first. A rapid-reset flood is many of these (CVE-2023-44487). */
    bool abandoned = !req->answered || (!req->head && req->h2o->bytes_sent < req->body_len);

    if (req->streaming)
        abandoned = !req->ended; /* the client left a stream before its end */
    if (conn)
        http_conn_req_ended(conn, abandoned);
    free(req->pending);
    free(req->inflight);
    req->pending = req->inflight = NULL;
    /* Still deferred at the end: the client went away before the answer. */
    if (req->gone)
        req->gone(req->user);
}

/*
 * Request smuggling over HTTP/1.1: h2o reads a body by Transfer-Encoding
 * when both it and Content-Length are sent, and by the first of two
 * Content-Lengths; a proxy in front may pick the other and see a second
 * request in the body. h2o keeps both headers to itself, so read them from
 * the request's head, which is still at the start of the socket's input
 * buffer while the request is handled (h2o consumes it after the answer).
 * Returns the reason to refuse, or NULL.
 */
static const char *smuggling(const http_req *req)
{
    h2o_req_t *r = req->h2o;
    struct phr_header headers[100];
    size_t nh = sizeof headers / sizeof headers[0], ml, pl;
    const char *m, *p, *cl = NULL;
    size_t cl_len = 0;
    int minor, n, te = 0, cls = 0;
    bool differ = false;

    if (r->version >= 0x200 || !r->entity.base || !req->conn || !req->conn->sock || !req->conn->sock->input)
        return NULL;
    n = phr_parse_request(req->conn->sock->input->bytes, req->conn->sock->input->size, &m, &ml, &p, &pl,
                          &minor, headers, &nh, 0);
    if (n <= 0)
        return NULL;
    for (size_t i = 0; i < nh; i++) {
        const struct phr_header *h = &headers[i];
        if (h2o_lcstris(h->name, h->name_len, H2O_STRLIT("transfer-encoding")))
            te++;
        else if (h2o_lcstris(h->name, h->name_len, H2O_STRLIT("content-length"))) {
            if (cls++ && (h->value_len != cl_len || memcmp(h->value, cl, cl_len) != 0))
                differ = true;
            cl = h->value;
            cl_len = h->value_len;
        }
    }
    if (te && cls)
        return "the request has both Content-Length and Transfer-Encoding";
    if (differ)
        return "the request has Content-Length headers that differ";
    return NULL;
}

static void reply_cors(http_req *req, http_str origin)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%.*s", (int)(origin.len < 255 ? origin.len : 255), origin.ptr);
    http_add_header(req, "Access-Control-Allow-Origin", copy);
    http_add_header(req, "Vary", "Origin");
}

/*
 * The guard (http_guard.h) in front of every route. Returns true if the
 * request may go on to the handler, false having answered it.
 */
static bool guard(http_server *srv, http_req *req)
{
    const http_limits *l = &srv->limits;
    h2o_req_t *r = req->h2o;
    http_str host = str_of(r->authority), origin = http_req_header(req, "Origin");
    http_str body = http_req_body(req);
    const char *why;

    if (req->conn && req->conn->closing) {
        http_reply_error(req, 503, "connection_closing", "this connection is being closed; open a new one");
        return false;
    }
    if ((why = smuggling(req))) {
        r->http1_is_persistent = 0; /* nothing after this request on the connection is read */
        http_reply_error(req, 400, "bad_request", "%s; send one body length", why);
        return false;
    }
    if (!http_guard_host_ok(l, host.ptr, host.len)) {
        http_reply_error(
            req, 403, "host_not_allowed",
            "Host \"%.*s\" is not a name of this host (a loopback host serves localhost, 127.0.0.1 "
            "and [::1]; --allow-host adds names)",
            (int)(host.len > 100 ? 100 : host.len), host.ptr ? host.ptr : "");
        return false;
    }
    if (origin.ptr && http_guard_cors_origin(l, origin.ptr, origin.len)) {
        reply_cors(req, origin);
        if (h2o_memis(r->method.base, r->method.len, H2O_STRLIT("OPTIONS"))) {
            http_add_header(req, "Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE");
            http_add_header(req, "Access-Control-Allow-Headers", "Authorization, Content-Type");
            http_add_header(req, "Access-Control-Max-Age", "600");
            http_reply_text(req, 204, "text/plain", "", 0);
            return false;
        }
    }
    if (is_state_changing(r) && !http_guard_origin_ok(l, origin.ptr, origin.len, host.ptr, host.len)) {
        http_reply_error(req, 403, "origin_not_allowed",
                         "a %.*s from Origin \"%.*s\" (another site) is refused; --cors-origin allows one",
                         (int)r->method.len, r->method.base, (int)(origin.len > 100 ? 100 : origin.len),
                         origin.ptr);
        return false;
    }
    if (body.len > l->max_body) {
        http_reply_error(req, 413, "body_too_large",
                         "the body is %zu bytes; the limit is %llu bytes (--max-body)", body.len,
                         (unsigned long long)l->max_body);
        return false;
    }
    if (body.len > 0) {
        http_str ct = http_req_header(req, "Content-Type");
        if (!http_guard_is_json(ct.ptr, ct.len)) {
            http_reply_error(req, 415, "unsupported_media_type",
                             "Content-Type is \"%.*s\"; send application/json",
                             (int)(ct.len > 100 ? 100 : ct.len), ct.ptr ? ct.ptr : "");
            return false;
        }
    }
    return true;
}

static int on_req(h2o_handler_t *self, h2o_req_t *h2o)
{
    http_server *srv = ((tarry_handler *)self)->srv;
    http_req *req = h2o_mem_alloc_shared(&h2o->pool, sizeof *req, on_req_disposed);
    h2o_socket_t *sock =
        h2o->conn->callbacks->get_socket ? h2o->conn->callbacks->get_socket(h2o->conn) : NULL;

    *req = (http_req){.h2o = h2o, .head = h2o_memis(h2o->method.base, h2o->method.len, H2O_STRLIT("HEAD"))};
    if ((req->conn = http_conn_of(sock)))
        http_conn_req_started(req->conn, h2o->entity.len);
    if (guard(srv, req))
        srv->handler(srv->user, req);
    return 0;
}

/* Fill in what the listening socket says: the port, and whether it is loopback. */
static void limits_for_socket(http_limits *l, int fd)
{
    char addr[HTTP_ADDR_MAX];
    const char *colon;
    if (http_listen_address(fd, addr, sizeof addr) != 0)
        return;
    l->loopback = http_listen_is_loopback(addr);
    if ((colon = strrchr(addr, ':')))
        l->port = (unsigned)strtoul(colon + 1, NULL, 10);
}

int http_server_start(http_server **out, uv_loop_t *loop, int fd, const http_limits *limits,
                      http_handler handler, void *user, char *err, size_t errlen)
{
    http_server *srv;
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    tarry_handler *h;
    int rc;

    if (!(srv = calloc(1, sizeof *srv))) {
        close(fd);
        return TARRY_ENOMEM;
    }
    srv->handler = handler;
    srv->user = user;
    if (limits) {
        srv->limits = *limits;
    } else {
        struct rlimit rl;
        http_limits_default(&srv->limits);
        http_limits_fit_fds(&srv->limits, getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024);
    }
    if (!srv->limits.max_connections)
        http_limits_fit_fds(&srv->limits, 1024);
    limits_for_socket(&srv->limits, fd);
    h2o_config_init(&srv->config);
    srv->config.max_request_entity_size = H2O_BODY_LIMIT;
    srv->config.http1.req_timeout = srv->limits.idle_timeout_ms;
    srv->config.http2.idle_timeout = srv->limits.idle_timeout_ms;
    srv->config.http2.max_concurrent_requests_per_connection = srv->limits.max_streams;
    host = h2o_config_register_host(&srv->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    h = (tarry_handler *)h2o_create_handler(path, sizeof *h);
    h->super.on_req = on_req;
    h->srv = srv;
    h2o_context_init(&srv->ctx, loop, &srv->config);
    srv->accept_ctx.ctx = &srv->ctx;
    srv->accept_ctx.hosts = srv->config.hosts;

    http_conn_sweep_start(srv, loop);

    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    srv->listening = true; /* the handle is open: http_server_stop_listening() closes it */
    if ((rc = uv_tcp_open(&srv->listener, fd)) != 0)
        close(fd); /* the handle did not take it */
    else
        rc = uv_listen((uv_stream_t *)&srv->listener, LISTEN_BACKLOG, http_conn_on_accept);
    *out = srv;
    if (rc != 0) {
        snprintf(err, errlen, "cannot serve HTTP on socket %d: %s", fd, uv_strerror(rc));
        http_server_stop_listening(srv);
        return TARRY_EIO;
    }
    hlog(HLOG_INFO,
         "http limits: %zu connections (%zu per address), %zu requests at once per connection, bodies up to "
         "%llu "
         "bytes, %llu unused bytes per connection (%llu in all), %u abandoned requests per 10 s, idle after "
         "%llu ms",
         srv->limits.max_connections, srv->limits.max_conns_per_addr, srv->limits.max_streams,
         (unsigned long long)srv->limits.max_body, (unsigned long long)srv->limits.max_conn_buffer,
         (unsigned long long)srv->limits.max_total_buffer, srv->limits.max_resets,
         (unsigned long long)srv->limits.idle_timeout_ms);
    return 0;
}

void http_server_stop_listening(http_server *srv)
{
    if (srv && srv->listening) {
        uv_close((uv_handle_t *)&srv->listener, NULL);
        uv_close((uv_handle_t *)&srv->sweep, NULL);
        srv->listening = false;
    }
}

int http_server_close(http_server *srv)
{
    if (!srv)
        return 0;
    http_server_stop_listening(srv);
    if (srv->connections > 0)
        return TARRY_ESTATE;
    h2o_context_dispose(&srv->ctx);
    h2o_config_dispose(&srv->config);
    free(srv);
    return 0;
}

/* ---- requests ---------------------------------------------------------------------- */

static h2o_iovec_t req_method(const http_req *req)
{
    return req->fake ? req->fake->method : req->h2o->method;
}

/* The request target (path and query) and where its '?' is (SIZE_MAX: none). */
static h2o_iovec_t req_target(const http_req *req, size_t *query_at)
{
    *query_at = req->fake ? req->fake->query_at : req->h2o->query_at;
    return req->fake ? req->fake->target : req->h2o->path;
}

http_str http_req_method(const http_req *req)
{
    return str_of(req_method(req));
}

bool http_req_method_is(const http_req *req, const char *method)
{
    h2o_iovec_t m = req_method(req);
    return h2o_memis(m.base, m.len, method, strlen(method));
}

http_str http_req_path(const http_req *req)
{
    size_t query_at;
    h2o_iovec_t t = req_target(req, &query_at);
    return (http_str){t.base, query_at == SIZE_MAX ? t.len : query_at};
}

int http_req_query(const http_req *req, const char *name, char *out, size_t outlen)
{
    return http_req_query_nth(req, name, 0, out, outlen);
}

int http_req_query_nth(const http_req *req, const char *name, size_t nth, char *out, size_t outlen)
{
    size_t nlen = strlen(name), query_at;
    h2o_iovec_t t = req_target(req, &query_at);
    const char *p, *end;

    if (query_at == SIZE_MAX)
        return 0;
    p = t.base + query_at + 1;
    end = t.base + t.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - p) == nlen && memcmp(p, name, nlen) == 0 && nth-- == 0) {
            const char *v = eq ? eq + 1 : stop;
            int decoded_len = 0;
            /* An empty value ("?wait" or "?wait="): libcurl reads a length of 0 as "up to a NUL",
             * past the query (found by tests/fuzz/fuzz_request). */
            if (v == stop) {
                if (outlen == 0)
                    return -1;
                out[0] = '\0';
                return 1;
            }
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

http_str http_req_header(const http_req *req, const char *name)
{
    char lower[128];
    size_t n = strlen(name);
    ssize_t i;

    if (n >= sizeof lower)
        return (http_str){NULL, 0};
    /* h2o keeps request header names in lower case. */
    for (size_t k = 0; k <= n; k++)
        lower[k] = (char)h2o_tolower(name[k]);
    if (req->fake) {
        for (size_t k = 0; k < req->fake->header_count; k++)
            if (h2o_lcstris(req->fake->names[k].base, req->fake->names[k].len, lower, n))
                return str_of(req->fake->values[k]);
        return (http_str){NULL, 0};
    }
    i = h2o_find_header_by_str(&req->h2o->headers, lower, n, -1);
    return i < 0 ? (http_str){NULL, 0} : str_of(req->h2o->headers.entries[i].value);
}

http_str http_req_body(const http_req *req)
{
    return str_of(req->fake ? req->fake->body : req->h2o->entity);
}

int http_req_defer(http_req *req, void (*gone)(void *user), void *user)
{
    req->gone = gone;
    req->user = user;
    return 0;
}

/* ---- answers ----------------------------------------------------------------------- */

const char *http_reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

void http_add_header(http_req *req, const char *name, const char *value)
{
    h2o_req_t *r = req->h2o;

    if (req->fake)
        return; /* a test-only request's answer is its status and body */
    h2o_iovec_t lname = h2o_strdup(&r->pool, name, SIZE_MAX);
    h2o_iovec_t copy = h2o_strdup(&r->pool, value, SIZE_MAX);

    /* HTTP/2 wants lower-case names; HTTP/1 does not mind. h2o keeps pointers, not copies. */
    for (size_t k = 0; k < lname.len; k++)
        lname.base[k] = (char)h2o_tolower(lname.base[k]);
    h2o_add_header_by_str(&r->pool, &r->res.headers, lname.base, lname.len, 1, NULL, copy.base, copy.len);
}

void http_reply_text(http_req *req, int status, const char *content_type, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_req_t *r = req->h2o;
    h2o_iovec_t buf;

    if (req->answered) {
        http_str m = http_req_method(req), p = http_req_path(req);
        hlog(HLOG_ERROR, "bug: a second answer (%d) to %.*s %.*s was dropped", status, (int)m.len, m.ptr,
             (int)p.len, p.ptr);
        return;
    }
    /* From here on the client going away is nobody's business. */
    req->answered = true;
    req->gone = NULL;
    req->body_len = len;
    if (req->fake) {
        req->fake->answer(req->fake->user, status, body, len);
        return;
    }
    /* A HEAD answer has the GET's length and no body: h2o 2.2 would send the body anyway, and a
     * client reading the next answer on the connection would read it as one. */
    buf = http_req_method_is(req, "HEAD") ? h2o_iovec_init(NULL, 0) : h2o_strdup(&r->pool, body, len);
    r->res.status = status;
    r->res.reason = http_reason_of(status);
    /* Without a length h2o would end the body by closing the connection. */
    r->res.content_length = len;
    /* No answer is ever to be read as another type than it says (a JSON error quoting a path, a
     * log line): browsers must not sniff. */
    h2o_add_header_by_str(&r->pool, &r->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL,
                          H2O_STRLIT("nosniff"));
    h2o_add_header(&r->pool, &r->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    h2o_start_response(r, &generator);
    h2o_send(r, &buf, 1, H2O_SEND_STATE_FINAL);
}

void http_reply_json(http_req *req, int status, const char *body, size_t len)
{
    /* JSON is data, never a document: opened in a tab it may run nothing and be framed by nobody. */
    http_add_header(req, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    http_reply_text(req, status, "application/json", body, len);
}

void http_reply_error(http_req *req, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    cJSON *root, *error;
    char *text;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Messages quote what the client sent (a path, a name) and may be cut: what is not UTF-8
     * becomes '?', so the answer stays JSON a strict client can read (tests/fuzz found both). */
    for (size_t i = 0, n = strlen(msg); i < n;) {
        size_t k = json_strict_utf8_len((const unsigned char *)msg + i, n - i);
        if (!k)
            msg[i++] = '?';
        else
            i += k;
    }
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

void http_reply_method_not_allowed(http_req *req, const char *allow)
{
    http_str method = http_req_method(req), path = http_req_path(req);

    http_add_header(req, "Allow", allow);
    http_reply_error(req, 405, "method_not_allowed", "%.*s is not allowed on %.*s; use %s", (int)method.len,
                     method.ptr, (int)(path.len > 200 ? 200 : path.len), path.ptr, allow);
}

/* ---- test-only requests ------------------------------------------------------------ */

http_req *http_fake_new(const char *method, size_t method_len, const char *target, size_t target_len,
                        const char *headers, size_t headers_len, const char *body, size_t body_len,
                        http_fake_answer answer, void *user)
{
    http_fake *f = calloc(1, sizeof *f);
    size_t total = method_len + target_len + headers_len + body_len, lines = 1;
    const char *q;
    char *at;

    if (!f || !(f->bytes = malloc(total + 1)))
        goto fail;
    for (size_t i = 0; i < headers_len; i++)
        lines += headers[i] == '\n';
    if (!(f->names = calloc(lines, sizeof *f->names)) || !(f->values = calloc(lines, sizeof *f->values)))
        goto fail;
    at = f->bytes;
#define FAKE_COPY(dst, src, n)                                                                               \
    do {                                                                                                     \
        if (n)                                                                                               \
            memcpy(at, src, n);                                                                              \
        dst = h2o_iovec_init(at, n);                                                                         \
        at += n;                                                                                             \
    } while (0)
    FAKE_COPY(f->method, method, method_len);
    FAKE_COPY(f->target, target, target_len);
    FAKE_COPY(f->body, body, body_len);
    /* Headers: "Name: value" lines; a line without ':' is a name with an empty value. */
    for (const char *p = headers, *end = headers + headers_len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *stop = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(stop - p));
        const char *nend = colon ? colon : stop, *v = colon ? colon + 1 : stop;
        while (v < stop && *v == ' ')
            v++;
        FAKE_COPY(f->names[f->header_count], p, (size_t)(nend - p));
        FAKE_COPY(f->values[f->header_count], v, (size_t)(stop - v));
        f->header_count++;
        p = stop + 1;
    }
#undef FAKE_COPY
    q = f->target.len ? memchr(f->target.base, '?', f->target.len) : NULL;
    f->query_at = q ? (size_t)(q - f->target.base) : SIZE_MAX;
    f->answer = answer;
    f->user = user;
    f->req.fake = f;
    return &f->req;
fail:
    if (f) {
        free(f->names);
        free(f->values);
        free(f->bytes);
        free(f);
    }
    return NULL;
}

bool http_fake_answered(const http_req *req)
{
    return req->answered;
}

void http_fake_free(http_req *req)
{
    http_fake *f;

    if (!req || !(f = req->fake))
        return;
    /* As on_req_disposed: a deferred request nobody answered is a client gone. */
    if (req->gone)
        req->gone(req->user);
    free(f->names);
    free(f->values);
    free(f->bytes);
    free(f);
}
