/*
 * http_stream.c - streamed answers (http.h: http_stream_*): a body written
 * piece by piece, for answers that follow something as it happens (an
 * execution's log as server-sent events).
 *
 * h2o takes one send at a time and says when it may have the next (its
 * generator's proceed callback): bytes written meanwhile wait in the
 * request's `pending` buffer, and `drained` tells the writer when all is
 * sent, which is the backpressure. A client that leaves is heard as for a
 * deferred answer (http.c's on_req_disposed calls `gone`).
 *
 * May not: know about executions, the store or the engine.
 */
#include <stdlib.h>
#include <string.h>

#include "hlog.h"
#include "http_int.h"
#include "status.h"

/* ---- streamed answers ------------------------------------------------------------- */

#define STREAM_OF(g) ((http_req *)((char *)(g)-offsetof(http_req, gen)))

/* Hand h2o what is pending (with the end, once http_stream_end was called). h2o holds it until
 * it calls on_stream_proceed. */
static void stream_flush(http_req *req)
{
    char *swap_buf = req->inflight;
    size_t swap_cap = req->inflight_cap;
    h2o_iovec_t buf;

    req->inflight = req->pending;
    req->inflight_cap = req->pending_cap;
    req->inflight_len = req->pending_len;
    req->pending = swap_buf;
    req->pending_cap = swap_cap;
    req->pending_len = 0;
    req->sending = true;
    req->body_len += req->inflight_len;
    buf = h2o_iovec_init(req->inflight, req->inflight_len);
    if (req->ending)
        req->ended = true;
    h2o_send(req->h2o, &buf, buf.len ? 1 : 0,
             req->ending ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

/* h2o sent the last flush on (to the socket): the next one may go, or the writer may write more. */
static void on_stream_proceed(h2o_generator_t *gen, h2o_req_t *r)
{
    http_req *req = STREAM_OF(gen);

    (void)r;
    req->sending = false;
    if (req->ended)
        return;
    if (req->pending_len || req->ending)
        stream_flush(req);
    else if (req->drained)
        req->drained(req->user); /* may write (and so flush) again */
}

/* The client went: the request is disposed next, and on_req_disposed tells the owner. */
static void on_stream_stop(h2o_generator_t *gen, h2o_req_t *r)
{
    (void)r;
    STREAM_OF(gen)->drained = NULL;
}

int http_stream_start(http_req *req, int status, const char *content_type, void (*drained)(void *user),
                      void (*gone)(void *user), void *user)
{
    h2o_req_t *r = req->h2o;

    if (req->answered) {
        hlog(HLOG_ERROR, "bug: a stream started on an answered request");
        return TARRY_ESTATE;
    }
    req->answered = req->streaming = true;
    req->gone = gone;
    req->drained = drained;
    req->user = user;
    if (req->fake) {
        /* No client: the status is the answer; what is written is dropped. */
        req->fake->answer(req->fake->user, status, "", 0);
        return 0;
    }
    r->res.status = status;
    r->res.reason = http_reason_of(status);
    /* No length: chunked over HTTP/1.1, DATA frames over HTTP/2, ended by the final send. */
    h2o_add_header(&r->pool, &r->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    h2o_add_header(&r->pool, &r->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    /* As every answer (http.c): read as the type it says, never sniffed, never a document. */
    h2o_add_header_by_str(&r->pool, &r->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL,
                          H2O_STRLIT("nosniff"));
    http_add_header(req, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    /* A proxy that buffers answers (nginx) would hold the stream back. */
    http_add_header(req, "X-Accel-Buffering", "no");
    req->gen.proceed = on_stream_proceed;
    req->gen.stop = on_stream_stop;
    h2o_start_response(r, &req->gen);
    stream_flush(req); /* the head goes now: the client knows the stream is open */
    return 0;
}

int http_stream_write(http_req *req, const char *data, size_t len)
{
    if (!req->streaming || req->ending) {
        hlog(HLOG_ERROR, "bug: a write to a stream that is not open");
        return TARRY_ESTATE;
    }
    if (req->fake || len == 0)
        return 0;
    if (req->pending_len + len > req->pending_cap) {
        size_t cap = req->pending_cap ? req->pending_cap : 4096;
        char *grown;
        while (cap < req->pending_len + len)
            cap *= 2;
        if (!(grown = realloc(req->pending, cap)))
            return TARRY_ENOMEM;
        req->pending = grown;
        req->pending_cap = cap;
    }
    memcpy(req->pending + req->pending_len, data, len);
    req->pending_len += len;
    if (!req->sending)
        stream_flush(req);
    return 0;
}

size_t http_stream_queued(const http_req *req)
{
    return req->pending_len + (req->sending ? req->inflight_len : 0);
}

void http_stream_end(http_req *req)
{
    if (!req->streaming || req->ending)
        return;
    req->ending = true;
    req->gone = NULL; /* from here on the client going is nobody's business */
    req->drained = NULL;
    if (req->fake) {
        req->ended = true;
        return;
    }
    if (!req->sending)
        stream_flush(req);
}
