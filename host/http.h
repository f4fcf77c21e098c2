/*
 * http.h - the HTTP boundary: a server on the host's libuv loop, and
 * tarry's own request and answer types over the HTTP library.
 *
 * Routes (api.c) see only what is here. The library behind it (h2o today,
 * CONTRIBUTING.md says why and what it costs) is included by http.c and
 * http_conn.c alone, so replacing it changes those two files. Keep-alive,
 * pipelining, HTTP/2 and request limits are the library's.
 *
 * Threads: everything here runs on the loop thread. A handler may answer at
 * once or later (after a commit, a long-poll): see http_req_defer().
 *
 * May not: know about executions, the store or the engine.
 */
#ifndef TARRY_HTTP_H
#define TARRY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "http_guard.h"

/* The API's ceiling on a body (--max-body may lower it; above it a JSON 413). */
#define HTTP_MAX_BODY (1u << 20)

/* Longest text http_listen_address() writes: "[" IPv6 "]:" port. */
#define HTTP_ADDR_MAX 64

typedef struct http_server http_server;

/* One request, from its handler until it is answered (or its client goes). */
typedef struct http_req http_req;

/* Bytes borrowed from a request: not NUL-terminated; ptr is NULL when absent. */
typedef struct http_str {
    const char *ptr;
    size_t len;
} http_str;

/* Handle one request: answer it with an http_reply_*, now or later. */
typedef void (*http_handler)(void *user, http_req *req);

/* ---- listening ---------------------------------------------------------------- */

/*
 * Bind and listen on `address` ("127.0.0.1:7373", "[::1]:7373", port 0 for
 * any free port), with a backlog, close-on-exec. On success *fd is the
 * listening socket, which the caller owns (a supervisor may hand it to
 * the processes it forks). Returns 0, TARRY_EINVAL (not IP:PORT) or
 * TARRY_EIO (e.g. the address is in use), with the reason in err.
 */
int http_listen_open(const char *address, int *fd, char *err, size_t errlen);

/* The address `fd` listens on as IP:PORT ("127.0.0.1:41235", "[::1]:7373"); 0 or TARRY_EIO. */
int http_listen_address(int fd, char *out, size_t outlen);

/* Whether `listen` names a loopback address. */
bool http_listen_is_loopback(const char *listen);

/*
 * Serve HTTP on the listening socket fd, calling handler(user, req) for
 * each request on the loop thread. The server owns fd from here on (also
 * when this fails) and closes it when it stops listening.
 *
 * `limits` (copied; NULL: http_limits_default() fitted to the fd limit)
 * apply before the handler sees a request: a Host that is not allowed or a
 * state-changing request from a foreign Origin is answered 403, a body over
 * max_body 413, a body that is not application/json 415, an HTTP/1.1
 * request with both Content-Length and Transfer-Encoding (or two different
 * Content-Lengths) 400 and the connection closed; OPTIONS preflights from a
 * --cors-origin are answered 204. Connections over the caps, idle ones,
 * ones that abandon too many requests or hold too many unused bytes are
 * closed (docs/API.md, "Limits"). The port and loopback-ness of fd replace
 * limits->port and limits->loopback.
 *
 * Returns 0, TARRY_ENOMEM, or TARRY_EIO with the reason in err.
 */
int http_server_start(http_server **out, uv_loop_t *loop, int fd, const http_limits *limits,
                      http_handler handler, void *user, char *err, size_t errlen);

/* Stop accepting connections: the socket is closed (open connections keep being served). */
void http_server_stop_listening(http_server *srv);

/*
 * Stop listening and, once no client connection is open, free the server:
 * returns 0 (run the loop afterwards to let the closes finish), or
 * TARRY_ESTATE while connections are open (the server stays valid; run the
 * loop and call again, or let the process's end close them).
 */
int http_server_close(http_server *srv);

/* ---- requests: what a handler may read (borrowed until the request is answered) ---- */

http_str http_req_method(const http_req *req);
bool http_req_method_is(const http_req *req, const char *method);

/*
 * The path as the client sent it, without the query: not percent-decoded
 * and not normalised, so "a%2Fb" stays one segment.
 */
http_str http_req_path(const http_req *req);

/*
 * Copy query parameter `name`, URL-decoded ('+' stays '+'), into out.
 * Returns 1 if present, 0 if absent, -1 if it does not fit, holds a NUL
 * or is malformed.
 */
int http_req_query(const http_req *req, const char *name, char *out, size_t outlen);
/* The same for the nth (from 0) parameter called `name`, for one given several times. */
int http_req_query_nth(const http_req *req, const char *name, size_t nth, char *out, size_t outlen);

/* The value of the first request header called `name` (any case); ptr NULL when absent. */
http_str http_req_header(const http_req *req, const char *name);

/* The request body (ptr NULL or len 0 when there is none). */
http_str http_req_body(const http_req *req);

/* ---- answers: each sends the whole response, once per request; after it req may be freed ---- */

/* Add a response header (copied) to the answer that follows; call before http_reply_*. */
void http_add_header(http_req *req, const char *name, const char *value);

/* Send `body` (copied) as application/json. */
void http_reply_json(http_req *req, int status, const char *body, size_t len);

/* Send {"error":{"code":code,"message":...}}; message is printf-style. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void http_reply_error(http_req *req, int status, const char *code, const char *fmt, ...);

/* Send a 405 with an Allow header naming the allowed methods. */
void http_reply_method_not_allowed(http_req *req, const char *allow);

/* Send a non-JSON body (copied), e.g. Prometheus text. */
void http_reply_text(http_req *req, int status, const char *content_type, const char *body, size_t len);

/* ---- answering later ----------------------------------------------------------------- */

/*
 * Keep req to answer after the handler has returned. If the client goes
 * away before the answer, gone(user) is called once, on the loop thread,
 * and req must not be used again (it is freed); an answer (any
 * http_reply_*) ends the arrangement, and gone is never called after it.
 * So whichever goes first, the client or the answer, unhooks the other.
 * When a client is seen to go is the library's business: over HTTP/2 at
 * once, over HTTP/1.1 perhaps only when the answer is written (which is
 * then dropped). Call at most once per request. Returns 0.
 */
int http_req_defer(http_req *req, void (*gone)(void *user), void *user);

/* ---- streamed answers (server-sent events) ----------------------------------------- */

/*
 * Start an answer whose body is written piece by piece (its length is not
 * known): the status and content_type (headers added before go too) are
 * sent at once. Until http_stream_end the request is deferred as with
 * http_req_defer: if the client goes, gone(user) is called once and req
 * must not be used again. drained(user) is called (on the loop) each time
 * everything written so far has been handed to the connection, so a writer
 * that stopped at a bound (http_stream_queued) may write more: that is the
 * backpressure. A streaming request is in flight, so the connection's idle
 * timeout does not close it; a disconnect is seen at once over HTTP/2, and
 * over HTTP/1.1 when something is next written. Returns 0 or TARRY_ESTATE
 * (the request was answered already).
 */
int http_stream_start(http_req *req, int status, const char *content_type, void (*drained)(void *user),
                      void (*gone)(void *user), void *user);
/* Append len bytes (copied) to the stream. 0, TARRY_ENOMEM, or TARRY_ESTATE when it is not open. */
int http_stream_write(http_req *req, const char *data, size_t len);
/* Bytes written and not yet handed to the connection. */
size_t http_stream_queued(const http_req *req);
/* End the stream once what was written is sent. After this neither gone nor drained is called, and
 * req may be freed at any time: do not use it again. */
void http_stream_end(http_req *req);

/* ---- test-only requests (tests/fuzz: the routes without a client or a socket) ---- */

/* Called once with the answer's status and body (borrowed for the call). */
typedef void (*http_fake_answer)(void *user, int status, const char *body, size_t len);

/*
 * A request as if a client had sent it: method, target (path and query),
 * headers as "Name: value" lines split by '\n', and body, all copied. Its
 * answer goes to answer(user, ...), now or later (a deferred request). NULL
 * when out of memory.
 */
http_req *http_fake_new(const char *method, size_t method_len, const char *target, size_t target_len,
                        const char *headers, size_t headers_len, const char *body, size_t body_len,
                        http_fake_answer answer, void *user);
/* Whether it was answered. */
bool http_fake_answered(const http_req *req);
/* Free it; if it was deferred and not answered, its owner hears the client went (http_req_defer). */
void http_fake_free(http_req *req);

#endif
