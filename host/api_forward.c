/*
 * api_forward.c - a cancel, reschedule or upgrade of an execution another
 * host holds, answered by that host.
 *
 * Several hosts share a PostgreSQL store, and a host may change only what
 * it holds (store_cluster.h): an execution queued in another host's memory
 * or running there is that host's to change. When the engine's commit
 * says so (TARRY_ECONFLICT), the request goes on to the holder, as the
 * client sent it, at the address the holder serves (its `hosts` row, as
 * GET /v1/cluster shows), and the holder's answer goes back as it came,
 * with Tarry-Answered-By naming the holder. The holder answers after its
 * own commit, so a 2xx still means durable.
 *
 * A request goes on once: the holder sees Tarry-Forwarded-By and, if it no
 * longer holds the execution either (it finished or was released that
 * instant), answers 409 conflict itself. An answer lost on the way back
 * after the request left is 503 commit_unknown (the holder may have acted
 * on it); a holder that cannot be reached at all is 503 with nothing
 * accepted.
 *
 * May not: block the loop (forward.c sends), forward anything but the
 * three control requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "forward.h"
#include "hlog.h"
#include "ids.h"
#include "store_cluster.h"

#define FORWARD_TIMEOUT_MS 30000 /* an upgrade's check replays a journal on the holder first */
#define FORWARDED_BY "Tarry-Forwarded-By"

typedef struct holder {
    char id[64];
    char url[512]; /* http://ADDRESS */
} holder;

typedef struct fwd_pending {
    http_req *req;
    forward_call *call;
    exec_id id;
    holder to;
} fwd_pending;

static bool forwarded(const http_req *req)
{
    return http_req_header(req, FORWARDED_BY).len > 0;
}

/* The holder's address as another host reaches it: one bound to every interface is reached by
 * its host name. */
static int on_holder(void *user, const store_host_row *h)
{
    holder *to = user;
    const char *addr = h->address ? h->address : "";
    const char *port = strrchr(addr, ':');

    snprintf(to->id, sizeof to->id, "%s", h->id);
    if (!port || port == addr)
        return 0; /* no address recorded: to->url stays empty */
    if ((strncmp(addr, "0.0.0.0:", 8) == 0 || strncmp(addr, "[::]:", 5) == 0) && h->hostname && *h->hostname)
        snprintf(to->url, sizeof to->url, "http://%s%s", h->hostname, port);
    else
        snprintf(to->url, sizeof to->url, "http://%s", addr);
    return 0;
}

static void on_gone(void *user)
{
    fwd_pending *p = user;
    forward_cancel(p->call); /* the holder may still act on it; nobody is left to tell */
    free(p);
}

static void on_answer(void *user, const forward_reply *r)
{
    fwd_pending *p = user;
    http_req *req = p->req;
    char text[ID_TEXT_LEN + 1];

    id_format(&p->id, text);
    http_add_header(req, "Tarry-Answered-By", p->to.id);
    if (r->status > 0 && r->retry_after)
        http_add_header(req, "Retry-After", r->retry_after);
    if (r->status > 0) {
        http_reply_text(req, r->status, r->content_type ? r->content_type : "application/json", r->body,
                        r->len);
    } else if (r->sent) {
        hlog(HLOG_WARN, "execution %s: the request sent on to host %s (%s) got no answer: %s", text, p->to.id,
             p->to.url, r->error);
        http_add_header(req, "Retry-After", "1");
        http_reply_error(req, 503, "commit_unknown",
                         "execution %s is held by host %s (%s); the request was sent on to it, but its "
                         "answer did not come back (%s): whether it acted on it is unknown. Look it up "
                         "(GET /v1/executions/%s)",
                         text, p->to.id, p->to.url, r->error, text);
    } else {
        hlog(HLOG_WARN, "execution %s: host %s, which holds it, cannot be reached at %s: %s", text, p->to.id,
             p->to.url, r->error);
        http_add_header(req, "Retry-After", "1");
        http_reply_error(req, 503, "holder_unreachable",
                         "execution %s is held by host %s, which cannot be reached at %s (%s); nothing was "
                         "accepted: retry, or send it to that host",
                         text, p->to.id, p->to.url, r->error);
    }
    free(p);
}

int api_forward(api *a, http_req *req, const exec_id *id)
{
    forwarder *f = api_forwarder(a);
    const char *self = engine_host_self(api_engine(a))->id;
    http_str path = http_req_path(req), body = http_req_body(req);
    http_str ctype = http_req_header(req, "Content-Type"), auth = http_req_header(req, "Authorization");
    http_str method = http_req_method(req);
    char url[1024], verb[16], h_ctype[300], h_auth[600], h_by[128];
    const char *headers[5] = {0};
    size_t nh = 0;
    store_txn *txn;
    fwd_pending *p;
    holder to = {0};
    int rc;

    if (!f || forwarded(req) || path.len > 400 || ctype.len > 256 || auth.len > 512 ||
        method.len >= sizeof verb)
        return -1;
    snprintf(verb, sizeof verb, "%.*s", (int)method.len, method.ptr);
    if (store_txn_begin(engine_store(api_engine(a)), false, &txn) != 0)
        return -1;
    rc = store_exec_holder(txn, id, on_holder, &to);
    store_txn_abort(txn);
    if (rc != 0 || !to.url[0] || strcmp(to.id, self) == 0)
        return -1; /* nobody holds it now (or this host does): the client sends it again */
    snprintf(url, sizeof url, "%s%.*s", to.url, (int)path.len, path.ptr);
    if (ctype.len) {
        snprintf(h_ctype, sizeof h_ctype, "Content-Type: %.*s", (int)ctype.len, ctype.ptr);
        headers[nh++] = h_ctype;
    }
    if (auth.len) {
        snprintf(h_auth, sizeof h_auth, "Authorization: %.*s", (int)auth.len, auth.ptr);
        headers[nh++] = h_auth;
    }
    snprintf(h_by, sizeof h_by, FORWARDED_BY ": %s", self);
    headers[nh++] = h_by;
    headers[nh++] = "Expect:"; /* no 100-continue round trip */
    if (!(p = calloc(1, sizeof *p)))
        return -1;
    p->req = req;
    p->id = *id;
    p->to = to;
    if (!(p->call = forward_send(f, verb, url, headers, body.ptr ? body.ptr : "", body.len,
                                 FORWARD_TIMEOUT_MS, on_answer, p))) {
        free(p);
        return -1;
    }
    http_req_defer(req, on_gone, p);
    return 0;
}
