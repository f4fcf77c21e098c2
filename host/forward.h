/*
 * forward.h - HTTP requests this host sends to another host of the
 * cluster, answered on the loop (api_forward.c sends a control request to
 * the host that holds its execution).
 *
 * Threads: everything on the loop's thread; callbacks come on it too.
 */
#ifndef TARRY_FORWARD_H
#define TARRY_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct forwarder forwarder;
typedef struct forward_call forward_call;

/* What came back. Strings are valid during the callback only. */
typedef struct forward_reply {
    int status;               /* the HTTP status, or 0 when no answer came (error says why) */
    bool sent;                /* some of the request left this host: the other may have acted on it */
    const char *content_type; /* or NULL */
    const char *body;
    size_t len;
    const char *error;       /* status 0: the transport's reason */
    const char *retry_after; /* the answer's Retry-After, or NULL */
} forward_reply;

typedef void (*forward_cb)(void *user, const forward_reply *reply);

/* A forwarder on `loop`; nothing is opened until the first call. 0 or TARRY_ENOMEM. */
int forward_create(forwarder **out, uv_loop_t *loop);

/*
 * Send `method` (POST, PATCH, ...) with `body` (copied) to `url` with `headers` ("Name: value",
 * NULL-ended, copied), giving up after timeout_ms. cb is called once, unless the call is
 * cancelled first. NULL when it cannot start (out of memory).
 */
forward_call *forward_send(forwarder *f, const char *method, const char *url, const char *const *headers,
                           const char *body, size_t len, int64_t timeout_ms, forward_cb cb, void *user);

/* Drop a call whose callback has not come: it never comes. Not from inside that callback. */
void forward_cancel(forward_call *c);

/* Drop every call (no callbacks) and close the handles; freed once the loop has run their closes.
 * Not from inside a callback. */
void forward_close(forwarder *f);

#endif
