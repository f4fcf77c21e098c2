/*
 * http.h - the HTTP/1.1 server (h2o on the host's libuv loop) and the small
 * helpers handlers use to read requests and write JSON answers.
 *
 * Keep-alive and pipelining are h2o's. Handlers run on the loop thread and
 * may answer later (after a commit): see api.c for how an answer outlives a
 * client that went away.
 */
#ifndef TARRY_HTTP_H
#define TARRY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include <h2o.h>

/* Bodies above this are refused with a JSON 413 by the API. */
#define HTTP_MAX_BODY (1u << 20)

typedef struct http_server http_server;

/* Handle one request; return 0 (answered now or later). */
typedef int (*http_handler)(void *user, h2o_req_t *req);

/*
 * Listen on `listen` ("127.0.0.1:7373", "[::1]:7373", "0.0.0.0:80").
 * Returns 0, or a negative code with the reason in err.
 */
int http_server_start(http_server **out, uv_loop_t *loop, const char *listen, http_handler handler,
                      void *user, char *err, size_t errlen);

/* Stop accepting connections (open ones keep being served). */
void http_server_stop_listening(http_server *srv);

/* Close every connection and free the server; run the loop afterwards to let the closes finish. */
void http_server_close(http_server *srv);

/* Whether `listen` names a loopback address. */
bool http_listen_is_loopback(const char *listen);

/* ---- requests ----------------------------------------------------------------- */

bool http_method_is(const h2o_req_t *req, const char *method);

/*
 * Copy query parameter `name`, URL-decoded, into out. Returns 1 if present,
 * 0 if absent, -1 if it does not fit or is malformed.
 */
int http_query(h2o_req_t *req, const char *name, char *out, size_t outlen);

/* The value of a request header, or an empty iovec. */
h2o_iovec_t http_header(h2o_req_t *req, const h2o_token_t *token);

/* ---- answers (each sends the whole response) --------------------------------- */

/* Send `body` (copied) as application/json. */
void http_reply_json(h2o_req_t *req, int status, const char *body, size_t len);

/* Send {"error":{"code":code,"message":...}}; message is printf-style. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void http_reply_error(h2o_req_t *req, int status, const char *code, const char *fmt, ...);

/* Send a 405 naming the allowed methods. */
void http_reply_method_not_allowed(h2o_req_t *req, const char *allow);

/* Send a non-JSON body (e.g. Prometheus text). */
void http_reply_text(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);

#endif
