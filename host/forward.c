/*
 * forward.c - HTTP requests to another host (forward.h): libcurl's multi
 * interface driven by the loop. curl says which sockets to watch
 * (on_socket: a uv_poll each) and when to call it back (on_timeout: one
 * uv_timer); the loop hands their events to curl_multi_socket_action, and
 * finished transfers are answered from there. Nothing waits on the
 * network, so a slow or dead host delays only the requests sent to it.
 *
 * Ownership: a call is the forwarder's from forward_send until its
 * callback has returned or it is cancelled. A socket's watcher is freed
 * in its close callback; the forwarder itself once its last handle has
 * closed after forward_close.
 *
 * May not: block the loop (no curl_easy_perform; names are resolved by
 * curl's own resolver thread), call back into curl from its callbacks.
 */
#include "forward.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "status.h"

#define CONNECT_TIMEOUT_MS 5000
#define REPLY_MAX (32u << 20) /* an answer's body; an execution's JSON is far smaller */

struct forwarder {
    uv_loop_t *loop;
    CURLM *multi; /* NULL until the first call */
    uv_timer_t timer;
    list_node calls, sockets;
    unsigned open_handles; /* the timer and the watchers, until their close callbacks */
    bool closing;
};

struct forward_call {
    list_node node;
    forwarder *f;
    CURL *easy;
    struct curl_slist *headers;
    char *out; /* the request's body */
    char *in;  /* the answer's */
    size_t in_len, in_cap;
    bool too_big;
    forward_cb cb;
    void *user;
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct watch {
    uv_poll_t poll;
    list_node node;
    forwarder *f;
    curl_socket_t fd;
} watch;

static void handle_closed(forwarder *f)
{
    if (--f->open_handles == 0 && f->closing)
        free(f);
}

static void on_watch_closed(uv_handle_t *h)
{
    watch *w = h->data;
    forwarder *f = w->f;
    free(w);
    handle_closed(f);
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void watch_close(watch *w)
{
    list_unlink(&w->node);
    uv_close((uv_handle_t *)&w->poll, on_watch_closed);
}

static void call_free(forward_call *c)
{
    list_unlink(&c->node);
    if (c->easy) {
        curl_multi_remove_handle(c->f->multi, c->easy);
        curl_easy_cleanup(c->easy);
    }
    curl_slist_free_all(c->headers);
    free(c->out);
    free(c->in);
    free(c);
}

/* Answer the transfers curl has finished. */
static void answer_done(forwarder *f)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(f->multi, &left))) {
        forward_call *c = NULL;
        CURLcode code = msg->data.result;
        forward_reply r = {0};
        long status = 0, sent = 0;
        char *ctype = NULL;
        struct curl_header *retry;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &sent);
        r.sent = sent > 0;
        if (code == CURLE_OK) {
            curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ctype);
            r.status = (int)status;
            r.content_type = ctype;
            r.body = c->in ? c->in : "";
            r.len = c->in_len;
            /* a 503 passed on must carry it (libcurl keeps the answer's headers till the handle goes) */
            if (curl_easy_header(c->easy, "Retry-After", 0, CURLH_HEADER, -1, &retry) == CURLHE_OK)
                r.retry_after = retry->value;
        } else {
            r.error = c->too_big     ? "the answer was too large"
                      : c->errbuf[0] ? c->errbuf
                                     : curl_easy_strerror(code);
        }
        list_unlink(&c->node); /* no longer cancellable: forward_close must not free it under cb */
        c->cb(c->user, &r);
        call_free(c);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    watch *w = h->data;
    forwarder *f = w->f;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    /* w may be closed inside (CURL_POLL_REMOVE): only its fd is read first */
    curl_multi_socket_action(f->multi, w->fd, flags, &running);
    answer_done(f);
}

static void on_timer(uv_timer_t *t)
{
    forwarder *f = t->data;
    int running;

    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    answer_done(f);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    forwarder *f = userp;
    watch *w = socketp;
    int events = 0;

    (void)easy;
    if (f->closing)
        return 0;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            curl_multi_assign(f->multi, fd, NULL);
            watch_close(w);
        }
        return 0;
    }
    if (!w) {
        if (!(w = calloc(1, sizeof *w)))
            return -1;
        if (uv_poll_init_socket(f->loop, &w->poll, fd) != 0) {
            free(w);
            return -1;
        }
        w->poll.data = w;
        w->f = f;
        w->fd = fd;
        f->open_handles++;
        list_push_back(&f->sockets, &w->node);
        curl_multi_assign(f->multi, fd, w);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    return uv_poll_start(&w->poll, events, on_poll) == 0 ? 0 : -1;
}

static int on_timeout(CURLM *multi, long ms, void *userp)
{
    forwarder *f = userp;

    (void)multi;
    if (ms < 0)
        uv_timer_stop(&f->timer);
    else
        uv_timer_start(&f->timer, on_timer, (uint64_t)ms, 0);
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    forward_call *c = user;
    size_t len = size * n;

    if (c->in_len + len + 1 > REPLY_MAX) {
        c->too_big = true;
        return 0; /* curl stops the transfer */
    }
    if (c->in_len + len + 1 > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : 4096;
        char *in;
        while (cap < c->in_len + len + 1)
            cap *= 2;
        if (!(in = realloc(c->in, cap)))
            return 0;
        c->in = in;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, p, len);
    c->in_len += len;
    c->in[c->in_len] = '\0';
    return len;
}

static int start(forwarder *f)
{
    if (f->multi)
        return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(f->multi = curl_multi_init()))
        return TARRY_ENOMEM;
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    uv_timer_init(f->loop, &f->timer);
    f->timer.data = f;
    f->open_handles++;
    return 0;
}

int forward_create(forwarder **out, uv_loop_t *loop)
{
    forwarder *f = calloc(1, sizeof *f);

    if (!f)
        return TARRY_ENOMEM;
    f->loop = loop;
    list_init(&f->calls);
    list_init(&f->sockets);
    *out = f;
    return 0;
}

forward_call *forward_send(forwarder *f, const char *method, const char *url, const char *const *headers,
                           const char *body, size_t len, int64_t timeout_ms, forward_cb cb, void *user)
{
    forward_call *c;

    if (f->closing || start(f) != 0 || !(c = calloc(1, sizeof *c)))
        return NULL;
    c->f = f;
    c->cb = cb;
    c->user = user;
    if (!(c->out = malloc(len + 1)) || !(c->easy = curl_easy_init()))
        goto fail;
    memcpy(c->out, body, len);
    for (const char *const *h = headers; h && *h; h++) {
        struct curl_slist *l = curl_slist_append(c->headers, *h);
        if (!l)
            goto fail;
        c->headers = l;
    }
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->out);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method); /* copied by curl */
    curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "tarry-forward");
    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    if (curl_multi_add_handle(f->multi, c->easy) != CURLM_OK) {
        curl_easy_cleanup(c->easy);
        c->easy = NULL;
        goto fail;
    }
    list_push_back(&f->calls, &c->node);
    return c;
fail:
    call_free(c);
    return NULL;
}

void forward_cancel(forward_call *c)
{
    call_free(c);
}

void forward_close(forwarder *f)
{
    if (!f)
        return;
    f->closing = true;
    while (!list_empty(&f->calls))
        call_free(list_entry(f->calls.next, forward_call, node));
    if (!f->multi) {
        free(f);
        return;
    }
    /* Stop watching before curl closes the sockets (its cached connections') */
    while (!list_empty(&f->sockets)) {
        watch *w = list_entry(f->sockets.next, watch, node);
        curl_multi_assign(f->multi, w->fd, NULL);
        watch_close(w);
    }
    curl_multi_cleanup(f->multi);
    uv_timer_stop(&f->timer);
    uv_close((uv_handle_t *)&f->timer, on_timer_closed);
}
