/*
 * http_int.h - what the HTTP boundary's rooms share (private: only
 * host/http*.c include it). http.h is the public interface, http_guard.h
 * the pure rules they apply.
 *
 * The rooms, each one concern:
 *   http.c       h2o glue: listening sockets, the server on the loop,
 *                requests and answers, the guard in front of every route,
 *                the test-only fake requests
 *   http_stream.c streamed answers: h2o's generator, one send at a time,
 *                the writer told when all is sent (backpressure)
 *   http_conn.c  the connection policy against hostile clients: admission
 *                under the caps (giving up the idlest, refusing with a 503
 *                and a linger), pausing accepts within a descriptor budget,
 *                the idle sweep, the reset budget, and the count of bytes
 *                read that no request has used (its read wrapper)
 *
 * This header includes h2o.h: a connection is an h2o socket, and counting
 * what it reads means wrapping h2o's read callback. So these files, and no
 * other, see h2o; replacing the library rewrites them against http.h.
 *
 * Invariants (every room keeps them):
 *   - a connection is on `srv->conns` (`listed`) from its admission until
 *     its handle closes; `connections` counts refused ones too, so the
 *     server is not disposed under any of them (http_server_close);
 *   - `srv->unused_total` is the sum of every listed connection's `unused`,
 *     and `srv->closing` the number of listed ones with `closing` set;
 *   - a request holds its connection (http_req::conn): h2o disposes every
 *     request of a connection before it closes the socket.
 *
 * May not: know about executions, the store or the engine.
 */
#ifndef TARRY_HTTP_INT_H
#define TARRY_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <h2o.h>

#include "http.h"

typedef struct http_conn http_conn;

struct http_server {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    uv_timer_t sweep; /* closes idle connections */
    bool listening;
    size_t connections;    /* open client connections (also refused ones until closed): h2o cannot dispose its
                              context under them */
    size_t closing;        /* of the listed ones, those being closed by us */
    bool accept_paused;    /* a connection waits in libuv, not accepted until descriptors free up */
    http_conn *conns;      /* listed connections, newest first */
    uint64_t unused_total; /* sum of every listed connection's `unused` */
    http_limits limits;
    http_handler handler;
    void *user;
};

/*
 * A client connection's handle; h2o owns it once accepted and closes it
 * through on_conn_closed. Requests hold a pointer to it: h2o disposes every
 * request of a connection before it closes the socket, so it outlives them.
 */
struct http_conn {
    uv_tcp_t tcp; /* first: h2o and libuv hand back this pointer */
    http_server *srv;
    h2o_socket_t *sock; /* NULL before h2o has it and once h2o disposed it */
    http_conn *prev, *next;
    bool listed, closing;
    struct sockaddr_storage peer;
    char peer_text[HTTP_ADDR_MAX];
    size_t inflight;      /* requests handed to the handler and not yet disposed */
    uint64_t last_active; /* uv_now() when a request last started or ended (or at accept) */
    /* Bytes read that no request has used yet: read bytes in, dispatched bodies and heads out.
     * Bounds what HTTP/2 buffers for bodies that never end (h2o gives them window at once). */
    uint64_t unused;
    double reset_budget; /* requests this connection may still abandon; refills over RESET_WINDOW_MS */
    uint64_t budget_at;
    h2o_socket_cb inner_read; /* h2o's read callback, which on_sock_read wraps */
    /* A refused connection only (conn_refuse): our side is shut and the client's bytes are
     * drained until it closes or the linger timer fires. */
    uv_shutdown_t shut;
    uv_timer_t linger;
};

/* ---- http_conn.c, for http.c ---- */

/* The listener's callback (uv_listen): admits each new connection under the caps and hands it to h2o. */
void http_conn_on_accept(uv_stream_t *listener, int status);

/* Start the idle sweep on srv->sweep (unreferenced: it keeps no loop alive). */
void http_conn_sweep_start(http_server *srv, uv_loop_t *loop);

/* The connection an h2o socket belongs to, or NULL if it is none of ours. */
http_conn *http_conn_of(h2o_socket_t *sock);

/* A request of `conn` with a body of `body_len` bytes reaches the guard: it is in flight, and its body
 * and head are bytes used. */
void http_conn_req_started(http_conn *conn, size_t body_len);

/* A request of `conn` was disposed; `abandoned`: the client reset it or went away before the whole
 * answer was sent, which spends the connection's reset budget. */
void http_conn_req_ended(http_conn *conn, bool abandoned);

typedef struct http_fake http_fake;

struct http_req {
    h2o_req_t *h2o;           /* NULL for a test-only request (fake, below) */
    http_conn *conn;          /* NULL for a fake request (h2o always gives a socket) */
    http_fake *fake;          /* a test-only request: no client, no h2o */
    void (*gone)(void *user); /* set while deferred and unanswered, or streaming and not ended */
    void *user;
    size_t body_len; /* the answer's body length, to tell a whole answer from an abandoned one */
    bool answered, head;
    /* A streamed answer (http_stream_start). h2o takes one send at a time and says when it
     * may have the next (gen.proceed): bytes written meanwhile wait in `pending`; `inflight`
     * is what h2o holds, kept until it proceeds. Both are malloc'd, freed at disposal. */
    h2o_generator_t gen;
    void (*drained)(void *user);
    char *pending, *inflight;
    size_t pending_len, pending_cap, inflight_len, inflight_cap;
    bool streaming, sending, ending, ended;
};

/* A test-only request (http.h: http_fake_new). */
struct http_fake {
    http_req req;
    h2o_iovec_t method, target, body;
    size_t query_at; /* SIZE_MAX: no '?' */
    h2o_iovec_t *names, *values;
    size_t header_count;
    char *bytes; /* one copy of everything the iovecs point into */
    http_fake_answer answer;
    void *user;
};

/* The reason phrase of an HTTP status (http.c). */
const char *http_reason_of(int status);

#endif
