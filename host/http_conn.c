/*
 * http_conn.c - the HTTP boundary's connection policy against hostile
 * clients (the rules' numbers are http_guard.h's http_limits).
 *
 * A connection costs a descriptor and memory before any request is read, so
 * the limits on requests alone do not protect the host: this room decides
 * which connections are accepted, which are given up, and which are closed.
 *   - admission: under --max-connections and --max-connections-per-addr a
 *     new connection is admitted by giving up the longest idle one; only
 *     when every connection is busy is it refused, with a 503 it can read;
 *   - descriptors: accepting pauses while connections (closing ones
 *     included) hold the descriptor budget, and resumes as one closes;
 *   - the idle sweep closes connections idle for --idle-timeout;
 *   - the reset budget closes a connection that abandons requests faster
 *     than --max-resets per 10 s (HTTP/2 rapid reset, CVE-2023-44487);
 *   - bytes read that no request has used yet (bodies that never end) are
 *     bounded per connection and in all (--max-conn-buffer, --max-buffer).
 *
 * It includes h2o (through http_int.h) for the socket h2o makes of each
 * connection and the read callback it wraps; http.c does everything else
 * with h2o and tells this room when a request starts and ends.
 *
 * May not: know about executions, the store or the engine; answer a
 * request (only a refused connection gets a fixed 503 from here).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hlog.h"
#include "http_int.h"

/* Bytes of a request's head (HPACK or text) a dispatched request is credited with, besides its body. */
#define HEAD_ALLOWANCE 256

/* The window the reset budget refills over: max_resets per RESET_WINDOW_MS. */
#define RESET_WINDOW_MS 10000

/* ---- connections --------------------------------------------------------------------- */

static void peer_text_of(const struct sockaddr_storage *a, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, ip, sizeof ip);
    else if (a->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, ip, sizeof ip);
    snprintf(out, outlen, "%s", ip);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return false;
}

/*
 * Close a connection from our side: shutdown(2) its socket, so h2o's next
 * read sees the end of the stream and h2o closes the connection through its
 * own path (disposing its requests first). h2o 2.2.5 offers no call to close
 * one connection from outside, and closing the handle under it would free
 * memory it still uses. Once a connection is closing, requests it still
 * sends are answered 503 without reaching the handler.
 */
static void conn_close(http_conn *conn, const char *why)
{
    uv_os_fd_t fd;

    if (conn->closing)
        return;
    conn->closing = true;
    if (conn->listed)
        conn->srv->closing++;
    if (why)
        hlog(HLOG_WARN, "closing a connection from %s: %s", conn->peer_text, why);
    if (uv_fileno((uv_handle_t *)&conn->tcp, &fd) == 0)
        shutdown(fd, SHUT_RDWR);
}

static void conn_unlist(http_conn *conn)
{
    http_server *srv = conn->srv;
    if (!conn->listed)
        return;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        srv->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    srv->unused_total -= conn->unused;
    if (conn->closing)
        srv->closing--;
    conn->listed = false;
}

static void accept_resume(http_server *srv);

static void on_conn_closed(uv_handle_t *handle)
{
    http_conn *conn = (http_conn *)handle;
    http_server *srv = conn->srv;
    conn_unlist(conn);
    srv->connections--;
    free(conn);
    accept_resume(srv);
}

/* h2o disposed the socket (sock->on_close, which h2o leaves to the socket's owner on server sockets). */
static void on_sock_disposed(void *data)
{
    http_conn *conn = data;
    conn->sock = NULL;
}

static void conn_use(http_conn *conn, uint64_t bytes)
{
    uint64_t n = bytes < conn->unused ? bytes : conn->unused;
    conn->unused -= n;
    conn->srv->unused_total -= n;
}

/* The bytes limits, checked after every read of a connection we watch. */
static void conn_check_buffered(http_conn *conn)
{
    const http_limits *l = &conn->srv->limits;
    char why[200];

    if (conn->closing)
        return;
    if (conn->unused > l->max_conn_buffer) {
        snprintf(why, sizeof why,
                 "it sent %llu bytes no request has used yet (bodies that do not end); the limit is %llu "
                 "(--max-conn-buffer)",
                 (unsigned long long)conn->unused, (unsigned long long)l->max_conn_buffer);
        conn_close(conn, why);
    } else if (conn->srv->unused_total > l->max_total_buffer) {
        snprintf(why, sizeof why,
                 "all connections hold %llu bytes no request has used yet; the limit is %llu (--max-buffer)",
                 (unsigned long long)conn->srv->unused_total, (unsigned long long)l->max_total_buffer);
        conn_close(conn, why);
    }
}

/*
 * Wraps h2o's read callback of a connection: counts what was read before
 * h2o parses it, then checks the bytes limits. h2o sets the callback with
 * every h2o_socket_read_start(): the wrapper re-wraps whatever h2o set
 * while it ran (an HTTP/1 connection that turned into HTTP/2 with the
 * prior-knowledge preface), and on_req re-wraps one upgraded with
 * "Upgrade: h2c". An HTTP/1 connection may lose the wrapper after its first
 * answer; HTTP/1 reads one request at a time, its body bounded by h2o.
 */
static void on_sock_read(h2o_socket_t *sock, const char *err)
{
    http_conn *conn = sock->on_close.data;

    if (!err && sock->bytes_read) {
        conn->unused += sock->bytes_read;
        conn->srv->unused_total += sock->bytes_read;
    }
    conn->inner_read(sock, err);
    /* The socket's memory lives until its handle's close callback, after this returns. */
    if (!conn->sock)
        return;
    if (sock->_cb.read && sock->_cb.read != on_sock_read) {
        conn->inner_read = sock->_cb.read;
        sock->_cb.read = on_sock_read;
    }
    conn_check_buffered(conn);
}

static void conn_watch_reads(http_conn *conn)
{
    h2o_socket_t *sock = conn->sock;
    if (sock && sock->_cb.read && sock->_cb.read != on_sock_read) {
        conn->inner_read = sock->_cb.read;
        sock->_cb.read = on_sock_read;
    }
}

/* A request this connection abandoned (reset, or went away before the whole answer): spend budget. */
static void conn_spend_reset(http_conn *conn)
{
    const http_limits *l = &conn->srv->limits;
    uint64_t now = uv_now(conn->srv->ctx.loop);
    char why[200];

    conn->reset_budget += (double)(now - conn->budget_at) * l->max_resets / RESET_WINDOW_MS;
    if (conn->reset_budget > l->max_resets)
        conn->reset_budget = l->max_resets;
    conn->budget_at = now;
    conn->reset_budget -= 1;
    if (conn->reset_budget < 0 && !conn->closing) {
        snprintf(why, sizeof why,
                 "it abandoned (reset) more than %u requests in %d s before their answers were sent "
                 "(--max-resets)",
                 l->max_resets, RESET_WINDOW_MS / 1000);
        conn_close(conn, why);
    }
}

/* The listed connection to give up for a new one: the longest idle, only from `addr` if given.
 * Ties (accepted in the same millisecond) go to the oldest: the list is newest first, and the
 * newest may be a client whose request has not been read yet. */
static http_conn *conn_idlest(http_server *srv, const struct sockaddr_storage *addr)
{
    http_conn *best = NULL;
    for (http_conn *c = srv->conns; c; c = c->next)
        if (!c->closing && c->inflight == 0 && (!addr || same_addr(&c->peer, addr)) &&
            (!best || c->last_active <= best->last_active))
            best = c;
    return best;
}

static void on_sweep(uv_timer_t *t)
{
    http_server *srv = t->data;
    uint64_t now = uv_now(srv->ctx.loop);
    for (http_conn *c = srv->conns; c; c = c->next)
        if (!c->closing && c->inflight == 0 && now - c->last_active >= srv->limits.idle_timeout_ms)
            conn_close(c, NULL); /* an idle connection: nothing worth a warning */
}

void http_conn_sweep_start(http_server *srv, uv_loop_t *loop)
{
    /* Often enough that a connection outlives its timeout by at most half of it. */
    uint64_t every = srv->limits.idle_timeout_ms / 2;
    every = every < 100 ? 100 : every > 1000 ? 1000 : every;
    uv_timer_init(loop, &srv->sweep);
    srv->sweep.data = srv;
    uv_timer_start(&srv->sweep, on_sweep, every, every);
    uv_unref((uv_handle_t *)&srv->sweep);
}

/* A refused connection is freed once both its socket and its linger timer are closed. */
static void on_refused_timer_closed(uv_handle_t *handle)
{
    on_conn_closed((uv_handle_t *)&((http_conn *)handle->data)->tcp);
}

static void on_refused_tcp_closed(uv_handle_t *handle)
{
    http_conn *conn = (http_conn *)handle;
    uv_close((uv_handle_t *)&conn->linger, on_refused_timer_closed);
}

static void refused_close(http_conn *conn)
{
    if (!uv_is_closing((uv_handle_t *)&conn->tcp))
        uv_close((uv_handle_t *)&conn->tcp, on_refused_tcp_closed);
}

static void on_refused_linger(uv_timer_t *t)
{
    refused_close(t->data);
}

static void refused_alloc(uv_handle_t *handle, size_t size, uv_buf_t *buf)
{
    static char sink[4096]; /* what a refused client sends is dropped unread */
    (void)handle;
    (void)size;
    *buf = uv_buf_init(sink, sizeof sink);
}

static void on_refused_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0) /* the client closed (or failed): done */
        refused_close((http_conn *)stream);
}

static void on_refused_shut(uv_shutdown_t *req, int status)
{
    (void)status;
    (void)req;
}

/*
 * Over a cap and nothing idle to give up: answer 503 and close, so the
 * client learns why. Closing at once with the client's request still
 * unread would make the kernel reset the connection, and the client could
 * lose the answer: so our side is shut after the answer and what the
 * client sends is drained until it closes, for at most REFUSE_LINGER_MS.
 */
#define REFUSE_LINGER_MS 1000
static void conn_refuse(http_conn *conn, const char *why)
{
    char text[512];
    char body[300];
    int blen =
        snprintf(body, sizeof body,
                 "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"%s; try again later\"}}", why);
    int n = snprintf(text, sizeof text,
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "
                     "%d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
                     blen, body);
    uv_buf_t buf = uv_buf_init(text, (unsigned)n);

    hlog(HLOG_WARN, "refusing a connection from %s: %s", conn->peer_text, why);
    uv_try_write((uv_stream_t *)&conn->tcp, &buf, 1);
    uv_timer_init(conn->srv->ctx.loop, &conn->linger);
    conn->linger.data = conn;
    uv_timer_start(&conn->linger, on_refused_linger, REFUSE_LINGER_MS, 0);
    if (uv_shutdown(&conn->shut, (uv_stream_t *)&conn->tcp, on_refused_shut) != 0 ||
        uv_read_start((uv_stream_t *)&conn->tcp, refused_alloc, on_refused_read) != 0)
        refused_close(conn);
}

/*
 * Admit a new connection under the caps: over one, give up the longest
 * idle connection (from the same address for the per-address cap), so
 * idle connections never lock new clients out; refuse only when every
 * connection is busy. Returns true if admitted.
 */
static bool conn_admit(http_server *srv, http_conn *conn)
{
    const http_limits *l = &srv->limits;
    size_t from_addr = 0;
    char why[160];

    for (http_conn *c = srv->conns; c; c = c->next)
        if (!c->closing && same_addr(&c->peer, &conn->peer))
            from_addr++;
    if (from_addr >= l->max_conns_per_addr) {
        http_conn *victim = conn_idlest(srv, &conn->peer);
        if (!victim) {
            snprintf(why, sizeof why, "%zu busy connections from this address (--max-connections-per-addr)",
                     from_addr);
            conn_refuse(conn, why);
            return false;
        }
        conn_close(victim, NULL);
    }
    if (srv->connections - 1 - srv->closing >= l->max_connections) {
        http_conn *victim = conn_idlest(srv, NULL);
        if (!victim) {
            snprintf(why, sizeof why, "%zu busy connections (--max-connections)", l->max_connections);
            conn_refuse(conn, why);
            return false;
        }
        conn_close(victim, NULL);
    }
    return true;
}

/* ---- accepting ------------------------------------------------------------------------ */

/*
 * Descriptors held by connections, closing ones included, never pass the
 * caps plus a margin. A connection given up for a new one keeps its
 * descriptor until h2o has torn it down (a loop turn or more), and libuv
 * accepts every pending connection in one go: a burst of new clients could
 * otherwise exhaust the open-file limit, and libuv then accepts and resets
 * the connections waiting (its EMFILE fallback), a new client among them.
 * Over the budget the pending connection is left in libuv, which stops
 * accepting until uv_accept is called (accept_resume, once one is freed).
 */
static size_t descriptor_budget(const http_server *srv)
{
    return srv->limits.max_connections + srv->limits.max_connections / 4 + 8;
}

static void accept_one(http_server *srv);

static void accept_resume(http_server *srv)
{
    if (srv->accept_paused && srv->connections < descriptor_budget(srv)) {
        srv->accept_paused = false;
        accept_one(srv);
    }
}

void http_conn_on_accept(uv_stream_t *listener, int status)
{
    http_server *srv = listener->data;

    if (status != 0)
        return;
    if (srv->connections >= descriptor_budget(srv)) {
        srv->accept_paused = true;
        return;
    }
    accept_one(srv);
}

static void accept_one(http_server *srv)
{
    uv_stream_t *listener = (uv_stream_t *)&srv->listener;
    http_conn *conn;
    int len = sizeof(struct sockaddr_storage);

    conn = h2o_mem_alloc(sizeof *conn);
    memset(conn, 0, sizeof *conn);
    conn->srv = srv;
    srv->connections++;
    uv_tcp_init(listener->loop, &conn->tcp);
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0) {
        uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
        return;
    }
    uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&conn->peer, &len);
    peer_text_of(&conn->peer, conn->peer_text, sizeof conn->peer_text);
    if (!conn_admit(srv, conn))
        return;
    conn->last_active = conn->budget_at = uv_now(listener->loop);
    conn->reset_budget = srv->limits.max_resets;
    conn->listed = true;
    conn->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = conn;
    srv->conns = conn;
    uv_tcp_nodelay(&conn->tcp, 1);
    conn->sock = h2o_uv_socket_create((uv_stream_t *)&conn->tcp, on_conn_closed);
    conn->sock->on_close.cb = on_sock_disposed;
    conn->sock->on_close.data = conn;
    h2o_accept(&srv->accept_ctx, conn->sock);
    /* h2o_accept() reads synchronously only what was already buffered; wrap the reads to come. */
    conn_watch_reads(conn);
}

/* ---- requests, as http.c hands them to the handler ------------------------------------ */

http_conn *http_conn_of(h2o_socket_t *sock)
{
    return sock && sock->on_close.cb == on_sock_disposed ? sock->on_close.data : NULL;
}

void http_conn_req_started(http_conn *conn, size_t body_len)
{
    conn->inflight++;
    conn->last_active = uv_now(conn->srv->ctx.loop);
    conn_use(conn, body_len + HEAD_ALLOWANCE);
    conn_watch_reads(conn);
}

void http_conn_req_ended(http_conn *conn, bool abandoned)
{
    conn->inflight--;
    conn->last_active = uv_now(conn->srv->ctx.loop);
    if (abandoned)
        conn_spend_reset(conn);
}
