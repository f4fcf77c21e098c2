/*
 * api.c - routes, request validation and JSON answers.
 *
 * An answer that waits for the engine (a trigger's commit, a long-poll) is
 * an api_pending: the engine holds its waiter, and the request is deferred
 * (http_req_defer) with the pending as its owner, so whichever goes first
 * (the client disconnecting or the engine answering) unhooks the other.
 *
 * A change the engine could not make durable was not accepted: the answer
 * says so, as 503 store_full when the store is full (TARRY_EFULL: the disk
 * or the map; the client may retry later) and 500 otherwise. Reads go on
 * working when the store is full.
 *
 * Over 800 lines because it is one table of routes with the validation
 * and JSON of each next to its handler; the HTTP details are in http.c and
 * the rules in the engine, so what is left here reads route by route. The
 * read-only routes that do not touch executions live apart: the list and
 * its counts in api_list.c, functions and plugins in api_catalog.c,
 * metrics and function stats in api_metrics.c, the cluster view in
 * api_cluster.c.
 *
 * May not: write to the store, call plugin code, see an HTTP library type.
 */
#include "api.h"
#include "api_int.h"
#include "api_static.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "duration.h"
#include "exec_opts.h"
#include "forward.h"
#include "hlog.h"
#include "ids.h"
#include "json_strict.h"
#include "status.h"
#include "upgrade_check.h"

#define MAX_WAIT_MS (10 * 60 * 1000)
/* A cancel of an execution whose final state is committing waits this long to name it. */
#define CANCEL_FINAL_WAIT_MS 10000
/* Seconds a client is told to wait before retrying on a full store: space comes back by hand. */
#define API_STORE_FULL_RETRY_AFTER "60"

struct api {
    engine *eng;
    char *token;                    /* NULL: no authentication (loopback only, see serve.c) */
    unsigned char token_digest[32]; /* SHA-256 of token: what authorized() compares */
    forwarder *fwd;                 /* NULL until a request goes to another host (api_forward.c) */
};

enum {
    PENDING_TRIGGER,
    PENDING_TRIGGER_WAIT,
    PENDING_RESULT,
    PENDING_RESCHEDULE,
    PENDING_RELOAD,
    PENDING_UPGRADE,
    PENDING_DUPLICATE, /* a trigger whose idempotency key named an execution not committed yet */
    PENDING_CANCEL,
    PENDING_CANCEL_FINAL /* a cancel of an execution whose final state is being committed */
};

typedef struct api_pending {
    engine_waiter waiter; /* first: the engine hands it back */
    api *a;
    http_req *req; /* deferred: valid until we answer it or the client goes */
    int mode;
    /* An upgrade is checked first (upgrade_check.h), then moved: its target version. */
    upgrade_check check;
    char to[PLUGIN_HASH_LEN + 1];
} api_pending;

int api_create(api **out, engine *eng, const char *token)
{
    api *a = calloc(1, sizeof *a);
    if (!a)
        return TARRY_ENOMEM;
    a->eng = eng;
    if (token && *token &&
        (!(a->token = strdup(token)) ||
         !EVP_Digest(token, strlen(token), a->token_digest, NULL, EVP_sha256(), NULL))) {
        free(a->token);
        free(a);
        return TARRY_ENOMEM;
    }
    *out = a;
    return 0;
}

void api_close(api *a)
{
    if (a) {
        forward_close(a->fwd);
        a->fwd = NULL;
    }
}

void api_free(api *a)
{
    api_close(a); /* frees at once unless something was sent (then serve.c closed it first) */
    if (a)
        free(a->token);
    free(a);
}

forwarder *api_forwarder(api *a)
{
    if (!a->fwd && forward_create(&a->fwd, engine_loop(a->eng)) != 0)
        return NULL;
    return a->fwd;
}

/*
 * "Authorization: Bearer <token>", the scheme in any case (RFC 9110 11.1),
 * one or more spaces after it. The SHA-256 digests of the sent and the
 * configured token are compared in constant time (CRYPTO_memcmp), so
 * neither the comparison nor a length check tells how much of a guess was
 * right.
 */
static bool authorized(const api *a, http_req *req)
{
    http_str auth = http_req_header(req, "Authorization");
    unsigned char digest[32];
    size_t i = 6;

    if (!auth.ptr || auth.len < 7 || strncasecmp(auth.ptr, "bearer", 6) != 0 || auth.ptr[6] != ' ')
        return false;
    while (i < auth.len && auth.ptr[i] == ' ')
        i++;
    if (!EVP_Digest(auth.ptr + i, auth.len - i, digest, NULL, EVP_sha256(), NULL))
        return false;
    return CRYPTO_memcmp(digest, a->token_digest, sizeof digest) == 0;
}

/* ---- JSON ---------------------------------------------------------------------- */

/* JSON text we stored ourselves is valid, so it is embedded without re-parsing. */
static void add_raw(cJSON *obj, const char *name, const char *json)
{
    if (json)
        cJSON_AddRawToObject(obj, name, json);
    else
        cJSON_AddNullToObject(obj, name);
}

static bool id_is_zero(const exec_id *id)
{
    static const exec_id zero;
    return memcmp(id, &zero, sizeof zero) == 0;
}

static cJSON *exec_json(const exec_record *r)
{
    char id[ID_TEXT_LEN + 1];
    cJSON *o = cJSON_CreateObject(), *plugin;

    id_format(&r->id, id);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "function", r->function);
    cJSON_AddStringToObject(o, "state", exec_state_name(r->state));
    add_raw(o, "args", r->args);
    add_raw(o, "result", r->result);
    api_add_string_or_null(o, "error", r->error);
    if (r->metadata)
        cJSON_AddRawToObject(o, "metadata", r->metadata);
    else
        cJSON_AddObjectToObject(o, "metadata");
    api_add_string_or_null(o, "idempotency_key", r->idempotency_key);
    api_add_time(o, "discard_at", r->discard_at);
    cJSON_AddNumberToObject(o, "attempts", r->attempts);
    api_add_time(o, "created_at", r->created_at);
    api_add_time(o, "scheduled_at", r->scheduled_at);
    api_add_time(o, "started_at", r->started_at);
    api_add_time(o, "finished_at", r->finished_at);
    api_add_time(o, "wake_at", r->wake_at);
    api_add_time(o, "next_attempt_at", r->next_attempt_at);
    cJSON_AddNumberToObject(o, "timeouts", r->timeouts);
    if (id_is_zero(&r->parent_id)) {
        cJSON_AddNullToObject(o, "parent_id");
    } else {
        id_format(&r->parent_id, id);
        cJSON_AddStringToObject(o, "parent_id", id);
    }
    cJSON_AddArrayToObject(o, "children");
    /* Cancel and re-run (engine_cancel.c); the original lists its re-runs in a single GET. */
    cJSON_AddBoolToObject(o, "cancel_requested", r->cancel_requested);
    if (id_is_zero(&r->rerun_of)) {
        cJSON_AddNullToObject(o, "rerun_of");
    } else {
        id_format(&r->rerun_of, id);
        cJSON_AddStringToObject(o, "rerun_of", id);
    }
    if (r->plugin_name) {
        plugin = cJSON_AddObjectToObject(o, "plugin");
        cJSON_AddStringToObject(plugin, "name", r->plugin_name);
        api_add_string_or_null(plugin, "version", r->plugin_version);
        api_add_string_or_null(plugin, "hash", r->plugin_hash);
    } else {
        cJSON_AddNullToObject(o, "plugin");
    }
    return o;
}

struct journal_json {
    cJSON *journal, *children;
};

static int add_journal_entry(void *user, const journal_entry *j)
{
    struct journal_json *jj = user;
    char id[ID_TEXT_LEN + 1];
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "seq", j->seq);
    cJSON_AddStringToObject(o, "kind", journal_kind_name(j->kind));
    api_add_string_or_null(o, "name", j->name);
    cJSON_AddStringToObject(o, "status", journal_status_name(j->status));
    if (j->kind == JOURNAL_CALL) {
        id_format(&j->child, id);
        cJSON_AddStringToObject(o, "child_id", id);
        cJSON_AddBoolToObject(o, "detached", j->detached);
        cJSON_AddItemToArray(jj->children, cJSON_CreateString(id));
    } else {
        cJSON_AddNullToObject(o, "child_id");
    }
    api_add_time(o, "started_at", j->started_at);
    api_add_time(o, "finished_at", j->finished_at);
    api_add_time(o, "wake_at", j->wake_at);
    add_raw(o, "result", j->value);
    api_add_string_or_null(o, "error", j->error);
    cJSON_AddItemToArray(jj->journal, o);
    return 0;
}

static int add_rerun(void *user, const exec_id *id)
{
    char text[ID_TEXT_LEN + 1];
    id_format(id, text);
    cJSON_AddItemToArray(user, cJSON_CreateString(text));
    return 0;
}

/* One execution with its journal, children and re-runs (single GET, not lists). */
static cJSON *exec_json_full(store_txn *txn, const exec_record *r)
{
    cJSON *o = exec_json(r);
    struct journal_json jj = {cJSON_CreateArray(), cJSON_CreateArray()};

    if (store_reruns_scan(txn, &r->id, add_rerun, cJSON_AddArrayToObject(o, "reruns")) != 0 ||
        store_journal_scan(txn, &r->id, add_journal_entry, &jj) != 0 ||
        api_notifications_add(txn, &r->id, o) != 0) {
        cJSON_Delete(jj.journal);
        cJSON_Delete(jj.children);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_ReplaceItemInObjectCaseSensitive(o, "children", jj.children);
    cJSON_AddItemToObject(o, "journal", jj.journal);
    return o;
}

/* Send `root` and free it. */
static void reply_cjson(http_req *req, int status, cJSON *root)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        http_reply_error(req, 500, "internal", "out of memory building the answer");
        return;
    }
    http_reply_json(req, status, text, strlen(text));
    free(text);
}

static void reply_state(http_req *req, int status, const exec_record *r)
{
    char id[ID_TEXT_LEN + 1], body[128];
    int n;
    id_format(&r->id, id);
    n = snprintf(body, sizeof body, "{\"id\":\"%s\",\"state\":\"%s\"}", id, exec_state_name(r->state));
    http_reply_json(req, status, body, (size_t)n);
}

static void reply_result(http_req *req, const exec_record *r)
{
    char id[ID_TEXT_LEN + 1];
    cJSON *o = cJSON_CreateObject();
    bool final = exec_state_final(r->state);

    id_format(&r->id, id);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "state", exec_state_name(r->state));
    add_raw(o, "result", final ? r->result : NULL);
    api_add_string_or_null(o, "error",
                           final || r->state == EXEC_BLOCKED ? r->error : NULL); /* blocked: why */
    reply_cjson(req, final ? 200 : 202, o);
}

static void reply_not_found(http_req *req, const exec_id *id)
{
    char text[ID_TEXT_LEN + 1];
    id_format(id, text);
    http_reply_error(req, 404, "execution_not_found", "no execution with id %s", text);
}

/* A read failed (reads do not fail for a full store). */
static void reply_store_error(api *a, http_req *req, int rc)
{
    if (rc == TARRY_ENOMEM)
        http_reply_error(req, 500, "internal", "out of memory");
    else
        http_reply_error(req, 500, "internal", "store error: %s", store_last_error(engine_store(a->eng)));
}

/*
 * A change the engine refused or could not commit (`what` says which).
 * Every answer here means "not accepted, nothing of it is stored: safe to
 * send again" (docs/API.md), except 503 commit_unknown: the store broke
 * while committing it, so it may be stored; that answer names the id
 * (`id`, NULL when there is none) to look up once the host is back. Store
 * trouble is 503 with Retry-After: the fault is the disk, not the request.
 */
static void reply_not_accepted(api *a, http_req *req, int rc, const char *what)
{
    const char *why = engine_commit_error(a->eng);

    if (rc == TARRY_ENOMEM) {
        http_reply_error(req, 500, "internal", "%s: out of memory; nothing was accepted", what);
        return;
    }
    if (rc == TARRY_ECONFLICT) {
        /* Several hosts on one store: another took the execution, or the new one's key, first. */
        http_reply_error(req, 409, "conflict",
                         "%s: another host holds the execution, or took its idempotency key at the same "
                         "moment; nothing was accepted here: send it again",
                         what);
        return;
    }
    http_add_header(req, "Retry-After", API_STORE_FULL_RETRY_AFTER);
    if (rc == TARRY_EFULL)
        http_reply_error(req, 503, "store_full", "%s: %s; nothing was accepted: free space, then retry", what,
                         why);
    else if (rc == TARRY_ELOST)
        http_reply_error(req, 503, "store_lost", "%s: the store is gone (%s); nothing was accepted", what,
                         why);
    else if (rc == TARRY_EBROKEN)
        http_reply_error(req, 503, "store_unavailable",
                         "%s: the store is being reopened (%s); nothing was accepted, retry", what, why);
    else
        http_reply_error(req, 503, "store_unavailable", "%s (%s): %s; nothing was accepted, retry", what,
                         status_str(rc), why);
}

/* The store broke while committing the change for execution `id`: it may or may not be stored. */
static void reply_commit_unknown(api *a, http_req *req, const exec_id *id)
{
    char text[ID_TEXT_LEN + 1];
    id_format(id, text);
    http_add_header(req, "Retry-After", API_STORE_FULL_RETRY_AFTER);
    http_reply_error(
        req, 503, "commit_unknown",
        "the store failed while committing execution %s (%s) and is being reopened: whether it was "
        "stored is unknown. Look it up (GET /v1/executions/%s) once the host answers again: 404 "
        "means it was not accepted",
        text, engine_commit_error(a->eng), text);
}

/* 503 function_quarantined: its executions kept crashing the host (engine_quarantine.c). */
static void reply_quarantined(api *a, http_req *req, const char *name)
{
    char why[600];
    if (engine_quarantine_reason(a->eng, name, why, sizeof why) != 0)
        snprintf(why, sizeof why, "function \"%s\" is quarantined", name);
    http_reply_error(req, 503, "function_quarantined", "%s", why);
}

/*
 * Open a read transaction, or answer 500 and return -1. *txn is set only
 * on success, so a caller aborts it only then.
 */
static int read_begin(api *a, http_req *req, store_txn **txn)
{
    int rc = store_txn_begin(engine_store(a->eng), false, txn);
    if (rc != 0) {
        reply_store_error(a, req, rc);
        return -1;
    }
    return 0;
}

static void reply_exec_full(http_req *req, store_txn *txn, const exec_record *r)
{
    reply_cjson(req, 200, exec_json_full(txn, r));
}

/* ---- pending answers ---------------------------------------------------------- */

static void on_client_gone(void *user)
{
    api_pending *p = user;
    /* The client went away first: the engine must not call us any more. */
    engine_waiter_cancel(p->a->eng, &p->waiter);
    engine_upgrade_check_cancel(&p->check);
    free(p);
}

static api_pending *pending_new(api *a, http_req *req, int mode, engine_waiter_cb cb)
{
    api_pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->a = a;
    p->req = req;
    p->mode = mode;
    p->waiter.cb = cb;
    http_req_defer(req, on_client_gone, p);
    return p;
}

/* p's request is answered (which ended the deferral): p is done. The request may be gone already. */
static void pending_done(api_pending *p)
{
    free(p);
}

/* The engine refused p at once: take the request back to answer it now. */
static void pending_drop(api_pending *p)
{
    http_req_defer(p->req, NULL, NULL);
    free(p);
}

/* Read one record and answer with `fn`, or 404/500. */
static void answer_from_store(api *a, http_req *req, const exec_id *id,
                              void (*fn)(http_req *, const exec_record *, int), int arg)
{
    store_txn *txn;
    exec_record rec;
    int rc;

    if (read_begin(a, req, &txn) != 0)
        return;
    if ((rc = store_exec_get(txn, id, &rec)) == 0 && !fn)
        reply_exec_full(req, txn, &rec);
    else if (rc == 0)
        fn(req, &rec, arg);
    else if (rc == TARRY_ENOTFOUND)
        http_reply_error(req, 500, "internal", "the execution was not committed (see the host log)");
    else
        reply_store_error(a, req, rc);
    store_txn_abort(txn);
}

static void reply_state_fn(http_req *req, const exec_record *r, int status)
{
    reply_state(req, status, r);
}

static void reply_exec_json(http_req *req, const exec_record *r, int status)
{
    reply_cjson(req, status, exec_json(r));
}

static void reply_result_fn(http_req *req, const exec_record *r, int unused)
{
    (void)unused;
    reply_result(req, r);
}

/* A cancel of an execution that was already final: 409 final naming its state. */
static void reply_cancel_final(http_req *req, const exec_record *r, int unused)
{
    char text[ID_TEXT_LEN + 1];

    (void)unused;
    id_format(&r->id, text);
    if (!exec_state_final(r->state)) { /* its final state did not commit in time */
        http_reply_error(req, 409, "final", "cannot cancel execution %s: it is finishing", text);
        return;
    }
    http_reply_error(req, 409, "final",
                     "cannot cancel execution %s: it is %s (only an unfinished execution can be cancelled)",
                     text, exec_state_name(r->state));
}

/*
 * A cancel, durable: 200 with the execution when it is cancelled, 202 when
 * it runs with cancel_requested (cancelled when its attempt returns).
 */
static void reply_cancel(http_req *req, const exec_record *r, int unused)
{
    if (r->state == EXEC_CANCELLED || !exec_state_final(r->state))
        reply_cjson(req, r->state == EXEC_CANCELLED ? 200 : 202, exec_json(r));
    else
        reply_cancel_final(req, r, unused);
}

static void on_engine_answer(engine_waiter *w, int status, const exec_record *rec)
{
    api_pending *p = (api_pending *)w;
    http_req *req = p->req;

    if (status == ENGINE_DUPLICATE_STORED) {
        /* Its idempotency key went to another host's execution at the same moment: that one. */
        reply_cjson(req, 200, exec_json(rec));
    } else if (status < 0 && p->mode == PENDING_RESULT) {
        http_reply_error(req, 500, "internal", "cannot wait for the result: %s", status_str(status));
    } else if (status == TARRY_EBROKEN) {
        reply_commit_unknown(p->a, req, &w->id);
    } else if (status == TARRY_ECONFLICT &&
               (p->mode == PENDING_CANCEL || p->mode == PENDING_RESCHEDULE || p->mode == PENDING_UPGRADE) &&
               api_forward(p->a, req, &w->id) == 0) {
        /* another host holds it: that host answers (api_forward.c) */
    } else if (status < 0 && p->mode == PENDING_UPGRADE) {
        char text[ID_TEXT_LEN + 1];
        id_format(&w->id, text);
        if (status == TARRY_ENOTFOUND || status == TARRY_EINVAL)
            http_reply_error(
                req, 404, "not_found",
                "the target version is not in the version store, or it does not export the function of %s",
                text);
        else if (status == TARRY_ESTATE)
            http_reply_error(req, 409, "not_upgradable", "execution %s is running or finished", text);
        else
            reply_not_accepted(p->a, req, status, "could not upgrade it");
    } else if (status < 0) {
        reply_not_accepted(p->a, req, status, "could not commit to the store");
    } else if (p->mode == PENDING_CANCEL && status == ENGINE_TIMEOUT) {
        answer_from_store(p->a, req, &w->id, reply_cancel, 0);
    } else if (p->mode == PENDING_CANCEL) {
        reply_cancel(req, rec, 0);
    } else if (p->mode == PENDING_CANCEL_FINAL && status == ENGINE_TIMEOUT) {
        answer_from_store(p->a, req, &w->id, reply_cancel_final, 0);
    } else if (p->mode == PENDING_CANCEL_FINAL) {
        reply_cancel_final(req, rec, 0);
    } else if (p->mode == PENDING_RELOAD) {
        api_reply_reload(p->a, req);
    } else if (p->mode == PENDING_RESCHEDULE || p->mode == PENDING_UPGRADE) {
        answer_from_store(p->a, req, &w->id, NULL, 0);
    } else if (status == ENGINE_TIMEOUT) {
        answer_from_store(p->a, req, &w->id, p->mode == PENDING_RESULT ? reply_result_fn : reply_state_fn,
                          202);
    } else if (p->mode == PENDING_DUPLICATE) {
        reply_cjson(req, 200, exec_json(rec)); /* the execution the key made (docs/API.md) */
    } else if (p->mode == PENDING_RESULT) {
        reply_result(req, rec);
    } else if (p->mode == PENDING_TRIGGER_WAIT && exec_state_final(rec->state)) {
        reply_cjson(req, 200, exec_json(rec));
    } else {
        reply_state(req, 202, rec);
    }
    pending_done(p);
}

/* ---- request helpers ------------------------------------------------------------ */

/* Parse ?wait=; returns 0 (absent: *ms = -1), or answers 400 and returns -1. */
static int query_wait(http_req *req, int64_t *ms)
{
    char text[64], err[200];
    int got = http_req_query(req, "wait", text, sizeof text);

    *ms = -1;
    if (got == 0)
        return 0;
    if (got < 0) {
        http_reply_error(req, 400, "invalid_query", "wait: malformed or too long");
        return -1;
    }
    if (duration_parse(text, ms, err, sizeof err) != 0) {
        http_reply_error(req, 400, "invalid_query", "wait: %s", err);
        return -1;
    }
    if (*ms > MAX_WAIT_MS) {
        http_reply_error(req, 400, "invalid_query", "wait: %s is longer than the 10m maximum", text);
        return -1;
    }
    return 0;
}

/* A body must say it is JSON; a request without one may leave Content-Type out (the HTTP
 * boundary refuses bodies that are not JSON before any route, this keeps routes honest). */
static bool content_type_ok(http_req *req)
{
    http_str ct = http_req_header(req, "Content-Type");

    if (!ct.ptr)
        return http_req_body(req).len == 0;
    return http_guard_is_json(ct.ptr, ct.len);
}

/* Where in the body parsing stopped, as "line L, column C". */
static void json_error_position(const char *body, size_t len, const char *where, char *out, size_t outlen)
{
    size_t line = 1, col = 1;
    if (!where || where < body || where > body + len)
        where = body + len;
    for (const char *p = body; p < where; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(out, outlen, "line %zu, column %zu", line, col);
}

/*
 * A request body, checked strictly (json_strict.h) before cJSON reads it:
 * cJSON alone would take and silently change invalid UTF-8, NULs, trailing
 * text, duplicate keys and numbers a double cannot hold. Returns 0, or -1
 * having answered 400 invalid_json naming the field ("args.user.id: ...").
 */
/* Past the API's own ceiling (the guard's --max-body is at most this): answers 413. */
static bool body_too_large(http_req *req, size_t len)
{
    if (len <= HTTP_MAX_BODY)
        return false;
    http_reply_error(req, 413, "body_too_large", "the body is %zu bytes; the limit is %u bytes (1 MiB)", len,
                     HTTP_MAX_BODY);
    return true;
}

static int body_check(http_req *req, const char *body, size_t len)
{
    json_strict_error err;
    char pos[64], why[600];
    int rc;

    if (body_too_large(req, len))
        return -1;
    if ((rc = json_strict_check(body, len, &err)) == 0)
        return 0;
    if (rc == TARRY_ENOMEM) {
        http_reply_error(req, 500, "internal", "out of memory checking the body");
        return -1;
    }
    json_error_position(body, len, body + err.offset, pos, sizeof pos);
    json_strict_describe(&err, NULL, why, sizeof why);
    http_reply_error(req, 400, "invalid_json", "the body is not valid JSON: %s, at %s", why, pos);
    return -1;
}

/*
 * A copy of the raw bytes of the checked body's member `key` (the args as
 * the client wrote them: stored and served byte for byte, never re-printed
 * by cJSON), or NULL if absent. *oom is set when the copy failed.
 */
static char *body_member_copy(const char *body, size_t len, const char *key, bool *oom)
{
    size_t off, vlen;
    char *copy;

    *oom = false;
    if (!json_strict_member(body, len, key, &off, &vlen))
        return NULL;
    if (!(copy = malloc(vlen + 1))) {
        *oom = true;
        return NULL;
    }
    memcpy(copy, body + off, vlen);
    copy[vlen] = '\0';
    return copy;
}

static int parse_id(http_req *req, const char *text, size_t len, exec_id *id)
{
    char buf[ID_TEXT_LEN + 1];
    if (len != ID_TEXT_LEN) {
        http_reply_error(req, 400, "invalid_id", "\"%.*s\" is not an execution id (26 characters, e.g. %s)",
                         (int)(len > 64 ? 64 : len), text, "01JDXN5Z8B3M8Q2W4T6Y8A0C2E");
        return -1;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (id_parse(buf, id) != 0) {
        http_reply_error(req, 400, "invalid_id", "\"%s\" is not an execution id (Crockford base32)", buf);
        return -1;
    }
    return 0;
}

/* ---- handlers ------------------------------------------------------------------ */

static int handle_trigger(api *a, http_req *req, const char *fn, size_t fn_len)
{
    http_str entity = http_req_body(req);
    char name[PLUGIN_NAME_MAX + 1], err[300];
    engine_trigger_req treq = {.run_at_ms = 0, .wait_ms = -1};
    cJSON *body = NULL, *field;
    char *args = NULL, *metadata = NULL;
    api_pending *p;
    int rc;

    if (!http_req_method_is(req, "POST")) {
        http_reply_method_not_allowed(req, "POST");
        return 0;
    }
    if (!content_type_ok(req)) {
        http_str ct = http_req_header(req, "Content-Type");
        http_reply_error(req, 415, "unsupported_media_type",
                         "Content-Type is \"%.*s\"; send application/json",
                         (int)(ct.len > 100 ? 100 : ct.len), ct.ptr);
        return 0;
    }
    if (body_too_large(req, entity.len))
        return 0;
    if (fn_len > PLUGIN_NAME_MAX) {
        http_reply_error(req, 404, "function_not_found", "no function has a name that long (%zu bytes)",
                         fn_len);
        return 0;
    }
    memcpy(name, fn, fn_len);
    name[fn_len] = '\0';
    if (query_wait(req, &treq.wait_ms) != 0)
        return 0;

    if (entity.len > 0) {
        const char *end = NULL;
        if (body_check(req, entity.ptr, entity.len) != 0)
            return 0;
        body = cJSON_ParseWithLengthOpts(entity.ptr, entity.len, &end, 0);
        if (!body) { /* strict JSON that cJSON cannot hold (its own limits) */
            char pos[64];
            json_error_position(entity.ptr, entity.len, end, pos, sizeof pos);
            http_reply_error(req, 400, "invalid_json", "the body is not valid JSON (error at %s)", pos);
            return 0;
        }
        if (!cJSON_IsObject(body)) {
            http_reply_error(req, 400, "invalid_json",
                             "the body must be a JSON object like {\"args\": ...}, not a JSON %s",
                             cJSON_IsArray(body) ? "array" : "scalar");
            goto done;
        }
    }
    cJSON_ArrayForEach(field, body)
    {
        const char *k = field->string;
        if (strcmp(k, "args") && strcmp(k, "delay") && strcmp(k, "run_at") && strcmp(k, "metadata") &&
            strcmp(k, "idempotency_key") && strcmp(k, "discard_after")) {
            http_reply_error(
                req, 400, "invalid_field",
                "%s: unknown field (expected args, delay, run_at, metadata, idempotency_key, discard_after)",
                k);
            goto done;
        }
    }
    if (cJSON_GetObjectItemCaseSensitive(body, "args")) {
        bool oom;
        if (!(args = body_member_copy(entity.ptr, entity.len, "args", &oom)) && oom) {
            http_reply_error(req, 500, "internal", "out of memory");
            goto done;
        }
    }
    treq.args = args ? args : "null";

    field = cJSON_GetObjectItemCaseSensitive(body, "metadata");
    if (field && !cJSON_IsNull(field)) {
        if (exec_opts_metadata(field, err, sizeof err) != 0) {
            http_reply_error(req, 400, "invalid_field", "%s", err);
            goto done;
        }
        metadata = cJSON_PrintUnformatted(field);
        treq.metadata = metadata;
    }
    field = cJSON_GetObjectItemCaseSensitive(body, "idempotency_key");
    if (field && !cJSON_IsNull(field)) {
        if (!cJSON_IsString(field)) {
            http_reply_error(req, 400, "invalid_field", "idempotency_key: must be a string");
            goto done;
        }
        if (exec_opts_idempotency_key(field->valuestring, err, sizeof err) != 0) {
            http_reply_error(req, 400, "invalid_field", "%s", err);
            goto done;
        }
        treq.idempotency_key = field->valuestring;
    }
    field = cJSON_GetObjectItemCaseSensitive(body, "discard_after");
    if (field && !cJSON_IsNull(field)) {
        if (!cJSON_IsString(field)) {
            http_reply_error(req, 400, "invalid_field",
                             "discard_after: must be a string: a duration like \"10m\" or an RFC 3339 time");
            goto done;
        }
        if (exec_opts_discard_after(field->valuestring, clock_now_ms(), &treq.discard_at_ms, err,
                                    sizeof err) != 0) {
            http_reply_error(req, 400, "invalid_field", "%s", err);
            goto done;
        }
    }

    cJSON *delay = cJSON_GetObjectItemCaseSensitive(body, "delay");
    cJSON *run_at = cJSON_GetObjectItemCaseSensitive(body, "run_at");
    if (delay && !cJSON_IsNull(delay) && run_at && !cJSON_IsNull(run_at)) {
        http_reply_error(req, 400, "invalid_field", "delay, run_at: give one or the other, not both");
        goto done;
    }
    if (delay && !cJSON_IsNull(delay)) {
        int64_t ms;
        if (!cJSON_IsString(delay)) {
            http_reply_error(req, 400, "invalid_field", "delay: must be a string like \"10s\" or \"1 day\"");
            goto done;
        }
        if (duration_parse(delay->valuestring, &ms, err, sizeof err) != 0) {
            http_reply_error(req, 400, "invalid_field", "delay: %s", err);
            goto done;
        }
        treq.run_at_ms = ms > 0 ? clock_now_ms() + ms : 0;
    }
    if (run_at && !cJSON_IsNull(run_at)) {
        if (!cJSON_IsString(run_at)) {
            http_reply_error(req, 400, "invalid_field", "run_at: must be an RFC 3339 time string");
            goto done;
        }
        if (clock_parse(run_at->valuestring, &treq.run_at_ms, err, sizeof err) != 0) {
            http_reply_error(req, 400, "invalid_field", "run_at: %s", err);
            goto done;
        }
    }

    treq.function = name;
    if (!(p = pending_new(a, req, treq.wait_ms >= 0 ? PENDING_TRIGGER_WAIT : PENDING_TRIGGER,
                          on_engine_answer))) {
        http_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    rc = engine_trigger(a->eng, &treq, &p->waiter);
    if (rc == ENGINE_DUPLICATE) {
        p->mode = PENDING_DUPLICATE; /* answered 200 with it once it is committed */
    } else if (rc == ENGINE_DUPLICATE_STORED) {
        exec_id id = p->waiter.id;
        pending_drop(p);
        answer_from_store(a, req, &id, reply_exec_json, 200);
    } else if (rc != 0) {
        pending_drop(p);
        if (rc == TARRY_EEXIST)
            http_reply_error(req, 409, "idempotency_conflict",
                             "idempotency_key \"%.300s\" of function \"%s\" was first used with other args; "
                             "a key stands for one execution",
                             treq.idempotency_key, name);
        else if (rc == TARRY_ENOTFOUND)
            http_reply_error(
                req, 404, "function_not_found",
                "no loaded plugin exports a function named \"%s\" (GET /v1/functions lists them)", name);
        else if (rc == TARRY_EQUARANTINED)
            reply_quarantined(a, req, name);
        else
            reply_not_accepted(a, req, rc, "cannot start the execution");
    }
done:
    cJSON_Delete(body);
    free(args);
    free(metadata);
    return 0;
}

/*
 * The start of every GET on one execution: check the method, open a read
 * transaction and read the record. Returns 0 with *txn open (the caller
 * aborts it), or -1 having answered (405, 404 or 500).
 */
static int open_exec(api *a, http_req *req, const exec_id *id, store_txn **txn, exec_record *rec)
{
    int rc;

    if (!http_req_method_is(req, "GET")) {
        http_reply_method_not_allowed(req, "GET");
        return -1;
    }
    if (read_begin(a, req, txn) != 0)
        return -1;
    if ((rc = store_exec_get(*txn, id, rec)) != 0) {
        if (rc == TARRY_ENOTFOUND)
            reply_not_found(req, id);
        else
            reply_store_error(a, req, rc);
        store_txn_abort(*txn);
        return -1;
    }
    return 0;
}

static int handle_get_exec(api *a, http_req *req, const exec_id *id)
{
    store_txn *txn;
    exec_record rec;

    if (open_exec(a, req, id, &txn, &rec) != 0)
        return 0;
    reply_exec_full(req, txn, &rec);
    store_txn_abort(txn);
    return 0;
}

static int handle_result(api *a, http_req *req, const exec_id *id)
{
    store_txn *txn;
    exec_record rec;
    int64_t wait_ms;

    if (!http_req_method_is(req, "GET")) {
        http_reply_method_not_allowed(req, "GET");
        return 0;
    }
    /* The query is checked before the record is read, as for every route. */
    if (query_wait(req, &wait_ms) != 0 || open_exec(a, req, id, &txn, &rec) != 0)
        return 0;
    /* Blocked waits for an upgrade, not for time: answered at once (202) rather than held. */
    if (exec_state_final(rec.state) || wait_ms <= 0 || rec.state == EXEC_BLOCKED) {
        reply_result(req, &rec);
    } else {
        api_pending *p = pending_new(a, req, PENDING_RESULT, on_engine_answer);
        if (p)
            engine_wait_result(a->eng, id, wait_ms, &p->waiter);
        else
            http_reply_error(req, 500, "internal", "out of memory");
    }
    store_txn_abort(txn);
    return 0;
}

static int handle_schedule(api *a, http_req *req, const exec_id *id)
{
    http_str entity = http_req_body(req);
    char err[300], text[ID_TEXT_LEN + 1];
    int64_t when = clock_now_ms(), ms;
    cJSON *body = NULL, *in, *at, *field;
    api_pending *p;
    int rc;

    if (!http_req_method_is(req, "PATCH")) {
        http_reply_method_not_allowed(req, "PATCH");
        return 0;
    }
    if (!content_type_ok(req)) {
        http_reply_error(req, 415, "unsupported_media_type", "send Content-Type: application/json");
        return 0;
    }
    if (entity.len > 0) {
        const char *end = NULL;
        if (body_check(req, entity.ptr, entity.len) != 0)
            goto done;
        if (!(body = cJSON_ParseWithLengthOpts(entity.ptr, entity.len, &end, 0)) || !cJSON_IsObject(body)) {
            char pos[64];
            json_error_position(entity.ptr, entity.len, end, pos, sizeof pos);
            http_reply_error(req, 400, "invalid_json",
                             "the body must be a JSON object like {\"in\": \"10m\"} (error at %s)", pos);
            goto done;
        }
    }
    cJSON_ArrayForEach(field, body)
    {
        if (strcmp(field->string, "in") && strcmp(field->string, "at")) {
            http_reply_error(req, 400, "invalid_field", "%s: unknown field (expected in or at)",
                             field->string);
            goto done;
        }
    }
    in = cJSON_GetObjectItemCaseSensitive(body, "in");
    at = cJSON_GetObjectItemCaseSensitive(body, "at");
    if (in && at) {
        http_reply_error(req, 400, "invalid_field", "in, at: give one or the other, not both");
        goto done;
    }
    if (in && (!cJSON_IsString(in) || duration_parse(in->valuestring, &ms, err, sizeof err) != 0)) {
        http_reply_error(req, 400, "invalid_field", "in: %s",
                         cJSON_IsString(in) ? err : "must be a duration string like \"10m\"");
        goto done;
    }
    if (in)
        when += ms;
    if (at && (!cJSON_IsString(at) || clock_parse(at->valuestring, &when, err, sizeof err) != 0)) {
        http_reply_error(req, 400, "invalid_field", "at: %s",
                         cJSON_IsString(at) ? err : "must be an RFC 3339 time string");
        goto done;
    }
    if (!(p = pending_new(a, req, PENDING_RESCHEDULE, on_engine_answer))) {
        http_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    if ((rc = engine_reschedule(a->eng, id, when, &p->waiter)) != 0) {
        pending_drop(p);
        id_format(id, text);
        if (rc == TARRY_ENOTFOUND)
            reply_not_found(req, id);
        else if (rc == TARRY_ESTATE)
            http_reply_error(
                req, 409, "not_reschedulable",
                "execution %s has no pending timer (it is not scheduled and not in a durable sleep)", text);
        else
            reply_not_accepted(a, req, rc, "cannot reschedule it");
    }
done:
    cJSON_Delete(body);
    return 0;
}

/* An upgrade the engine refused at once (engine_upgrade or engine_upgrade_check). */
static void reply_upgrade_refused(api *a, http_req *req, int rc, const exec_id *id)
{
    char text[ID_TEXT_LEN + 1];

    id_format(id, text);
    if (rc == TARRY_ESTATE)
        http_reply_error(req, 409, "not_upgradable",
                         "execution %s is running or finished; upgrade one that waits, is queued or blocked",
                         text);
    else if (rc == TARRY_ENOTFOUND)
        http_reply_error(req, 404, "not_found",
                         "no execution %s, or the target version does not export its function", text);
    else if (rc == TARRY_ERANGE)
        http_reply_error(req, 503, "busy", "%d upgrade checks are running already; try again when they end",
                         UPGRADE_CHECKS_MAX);
    else
        reply_not_accepted(a, req, rc, "cannot upgrade it");
}

/*
 * The check is back: a journal the target code would block on is refused
 * (nothing changed); one that fits is moved now. The window between the two
 * is one loop turn plus the check: a pass the execution ran meanwhile may
 * have added commands, which the engine's own determinism check still holds
 * to the journal.
 */
static void on_upgrade_checked(upgrade_check *c, int status, const upgrade_report *rep)
{
    api_pending *p = (api_pending *)((char *)c - offsetof(api_pending, check));
    http_req *req = p->req;
    char text[ID_TEXT_LEN + 1];
    int rc;

    id_format(&p->waiter.id, text);
    if (status < 0) {
        reply_upgrade_refused(p->a, req, status, &p->waiter.id);
    } else if (rep->group_count && rep->groups[0].verdict == UPGRADE_BLOCKS) {
        cJSON *detail = api_upgrade_report_json(rep);
        char *body = NULL;
        cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
        char msg[UPGRADE_CHECK_WHY_MAX + PLUGIN_NAME_MAX + 300];
        snprintf(msg, sizeof msg,
                 "execution %s would block on version %s of %s: %s; it was not moved (it stays on its "
                 "version): deploy code that issues the journal's commands, then upgrade again",
                 text, rep->hash, rep->function, rep->groups[0].why);
        if (err && detail) {
            cJSON_AddStringToObject(err, "code", "would_block");
            cJSON_AddStringToObject(err, "message", msg);
            cJSON_AddItemToObject(err, "check", detail);
            detail = NULL;
            body = cJSON_PrintUnformatted(root);
        }
        cJSON_Delete(detail);
        cJSON_Delete(root);
        if (body)
            http_reply_json(req, 409, body, strlen(body));
        else
            http_reply_error(req, 409, "would_block", "%s", msg);
        free(body);
    } else if ((rc = engine_upgrade(p->a->eng, &p->waiter.id, p->to[0] ? p->to : NULL, &p->waiter)) != 0) {
        reply_upgrade_refused(p->a, req, rc, &p->waiter.id);
    } else {
        return; /* the engine answers on_engine_answer once the move commits */
    }
    pending_done(p);
}

static int handle_upgrade(api *a, http_req *req, const exec_id *id)
{
    http_str entity = http_req_body(req);
    char to[PLUGIN_HASH_LEN + 1] = "";
    cJSON *body = NULL, *field;
    api_pending *p;
    bool force;
    int rc;

    if (!http_req_method_is(req, "POST")) {
        http_reply_method_not_allowed(req, "POST");
        return 0;
    }
    if (entity.len > 0 && body_check(req, entity.ptr, entity.len) != 0)
        goto done;
    if (entity.len > 0 &&
        (!(body = cJSON_ParseWithLength(entity.ptr, entity.len)) || !cJSON_IsObject(body))) {
        http_reply_error(req, 400, "invalid_json",
                         "the body must be a JSON object like {\"to\": \"<version hash>\"}");
        goto done;
    }
    if ((field = cJSON_GetObjectItemCaseSensitive(body, "to")) && !cJSON_IsNull(field)) {
        if (!cJSON_IsString(field) || strlen(field->valuestring) != PLUGIN_HASH_LEN) {
            http_reply_error(req, 400, "invalid_field",
                             "to: a version hash (%d hex digits, see GET /v1/plugins)", PLUGIN_HASH_LEN);
            goto done;
        }
        memcpy(to, field->valuestring, PLUGIN_HASH_LEN + 1);
    }
    if ((field = cJSON_GetObjectItemCaseSensitive(body, "force")) && !cJSON_IsBool(field)) {
        http_reply_error(req, 400, "invalid_field", "force: true or false");
        goto done;
    }
    force = cJSON_IsTrue(field);
    if (!(p = pending_new(a, req, PENDING_UPGRADE, on_engine_answer))) {
        http_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    p->waiter.id = *id;
    memcpy(p->to, to, sizeof p->to);
    p->check.cb = on_upgrade_checked;
    /* The journal is replayed against the target first, on a worker: refused at once if it does not
     * fit. Forced, it is moved unchecked and blocks at the first differing command. */
    rc = force ? engine_upgrade(a->eng, id, to[0] ? to : NULL, &p->waiter)
               : engine_upgrade_check(a->eng, id, to[0] ? to : NULL, &p->check);
    if (rc != 0) {
        pending_drop(p);
        reply_upgrade_refused(a, req, rc, id);
    }
done:
    cJSON_Delete(body);
    return 0;
}

/*
 * The body of a POST that takes no fields but may send "{}" (cancel), or
 * only `allowed` (NULL: none); *body is the parsed object or NULL for none.
 * Returns 0, or -1 having answered 415/400.
 */
static int optional_body(http_req *req, const char *allowed, cJSON **body)
{
    http_str entity = http_req_body(req);
    cJSON *field;

    *body = NULL;
    if (!content_type_ok(req)) {
        http_reply_error(req, 415, "unsupported_media_type", "send Content-Type: application/json");
        return -1;
    }
    if (entity.len == 0)
        return 0;
    if (body_check(req, entity.ptr, entity.len) != 0)
        return -1;
    if (!(*body = cJSON_ParseWithLength(entity.ptr, entity.len)) || !cJSON_IsObject(*body)) {
        http_reply_error(req, 400, "invalid_json", "the body must be a JSON object%s%s%s",
                         allowed ? " like {\"" : "", allowed ? allowed : "", allowed ? "\": ...}" : " ({})");
        cJSON_Delete(*body);
        *body = NULL;
        return -1;
    }
    cJSON_ArrayForEach(field, *body)
    {
        if (!allowed || strcmp(field->string, allowed) != 0) {
            http_reply_error(req, 400, "invalid_field", "%s: unknown field (expected %s)", field->string,
                             allowed ? allowed : "none");
            cJSON_Delete(*body);
            *body = NULL;
            return -1;
        }
    }
    return 0;
}

static int handle_cancel(api *a, http_req *req, const exec_id *id)
{
    store_txn *txn;
    exec_record rec;
    cJSON *body;
    api_pending *p;
    int rc;

    if (!http_req_method_is(req, "POST")) {
        http_reply_method_not_allowed(req, "POST");
        return 0;
    }
    if (optional_body(req, NULL, &body) != 0)
        return 0;
    cJSON_Delete(body);
    if (!(p = pending_new(a, req, PENDING_CANCEL, on_engine_answer))) {
        http_reply_error(req, 500, "internal", "out of memory");
        return 0;
    }
    if ((rc = engine_cancel(a->eng, id, &p->waiter)) == 0)
        return 0;
    pending_drop(p);
    if (rc == TARRY_ENOTFOUND) {
        reply_not_found(req, id);
    } else if (rc == TARRY_ESTATE) {
        /* Final: say which state, once that state is committed (it may be on its way). */
        if (read_begin(a, req, &txn) != 0)
            return 0;
        rc = store_exec_get(txn, id, &rec);
        if (rc == 0 && exec_state_final(rec.state))
            reply_cancel_final(req, &rec, 0);
        else if (rc != 0 && rc != TARRY_ENOTFOUND)
            reply_store_error(a, req, rc);
        else if ((p = pending_new(a, req, PENDING_CANCEL_FINAL, on_engine_answer)))
            engine_wait_result(a->eng, id, CANCEL_FINAL_WAIT_MS, &p->waiter);
        else
            http_reply_error(req, 500, "internal", "out of memory");
        store_txn_abort(txn);
    } else {
        reply_not_accepted(a, req, rc, "cannot cancel it");
    }
    return 0;
}

/*
 * A new execution of the same function (its current version) with the same
 * args, or the body's, and the same metadata; linked both ways (rerun_of,
 * and the reruns index the original's JSON lists). 202 {"id", "state"}.
 */
static int handle_rerun(api *a, http_req *req, const exec_id *id)
{
    http_str entity = http_req_body(req);
    engine_trigger_req treq = {.wait_ms = -1, .rerun_of = id};
    char text[ID_TEXT_LEN + 1];
    char *args = NULL;
    store_txn *txn;
    exec_record rec;
    cJSON *body;
    api_pending *p;
    int rc;

    if (!http_req_method_is(req, "POST")) {
        http_reply_method_not_allowed(req, "POST");
        return 0;
    }
    if (optional_body(req, "args", &body) != 0)
        return 0;
    if (cJSON_GetObjectItemCaseSensitive(body, "args")) {
        bool oom;
        if (!(args = body_member_copy(entity.ptr, entity.len, "args", &oom)) && oom) {
            http_reply_error(req, 500, "internal", "out of memory");
            goto done;
        }
    }
    if (read_begin(a, req, &txn) != 0)
        goto done;
    if ((rc = store_exec_get(txn, id, &rec)) != 0) {
        if (rc == TARRY_ENOTFOUND)
            reply_not_found(req, id);
        else
            reply_store_error(a, req, rc);
        store_txn_abort(txn);
        goto done;
    }
    treq.function = rec.function;
    treq.args = args ? args : rec.args;
    treq.metadata = rec.metadata;
    if (!(p = pending_new(a, req, PENDING_TRIGGER, on_engine_answer))) {
        http_reply_error(req, 500, "internal", "out of memory");
        store_txn_abort(txn);
        goto done;
    }
    rc = engine_trigger(a->eng, &treq, &p->waiter); /* copies the strings it keeps */
    if (rc != 0) {
        pending_drop(p);
        id_format(id, text);
        if (rc == TARRY_ENOTFOUND)
            http_reply_error(req, 404, "function_not_found",
                             "cannot re-run %s: no loaded plugin exports its function \"%s\" any more", text,
                             rec.function);
        else if (rc == TARRY_EQUARANTINED)
            reply_quarantined(a, req, rec.function);
        else
            reply_not_accepted(a, req, rc, "cannot start the re-run");
    }
    store_txn_abort(txn);
done:
    cJSON_Delete(body);
    free(args);
    return 0;
}

static int add_attempt(void *user, const store_attempt *at)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "number", at->number);
    api_add_time(o, "started_at", at->started_at);
    api_add_time(o, "finished_at", at->finished_at);
    cJSON_AddStringToObject(o, "outcome", exec_state_name(at->outcome));
    api_add_string_or_null(o, "error", at->error);
    cJSON_AddBoolToObject(o, "crashed", at->crashed);
    cJSON_AddBoolToObject(o, "timed_out", at->timed_out);
    cJSON_AddBoolToObject(o, "permanent", at->permanent);
    cJSON_AddItemToArray(user, o);
    return 0;
}

/* GET .../attempts: every ended attempt, oldest first (engine_retry.c writes them). */
static int handle_attempts(api *a, http_req *req, const exec_id *id)
{
    store_txn *txn;
    exec_record rec;
    cJSON *root, *data;
    int rc;

    if (open_exec(a, req, id, &txn, &rec) != 0)
        return 0;
    root = cJSON_CreateObject();
    data = cJSON_AddArrayToObject(root, "data");
    rc = store_attempt_scan(txn, id, add_attempt, data);
    store_txn_abort(txn);
    if (rc != 0) {
        cJSON_Delete(root);
        reply_store_error(a, req, rc);
        return 0;
    }
    reply_cjson(req, 200, root);
    return 0;
}

/* ---- routing ------------------------------------------------------------------ */

static bool path_is(const http_str *path, const char *literal)
{
    size_t n = strlen(literal);
    return path->len == n && memcmp(path->ptr, literal, n) == 0;
}

static bool path_starts(const http_str *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return path->len >= n && memcmp(path->ptr, prefix, n) == 0;
}

static int only_get(http_req *req)
{
    if (http_req_method_is(req, "GET") || http_req_method_is(req, "HEAD"))
        return 0;
    http_reply_method_not_allowed(req, "GET");
    return -1;
}

/* Every route; the handlers answer (now or later) and return 0. */
static int route(api *a, http_req *req)
{
    /* Route on the raw path: a decoded one would turn %2F into '/' and let
     * "a%2Fb" cross segment boundaries. Names and ids never need
     * percent-decoding, so a segment holding '%' simply matches nothing. */
    http_str path = http_req_path(req);

    if (path_is(&path, "/healthz")) {
        if (only_get(req) == 0)
            http_reply_json(req, 200, "{\"ok\":true}", 11);
        return 0;
    }
    /* The dashboard's files hold no data: they load without a token, and the page asks for it. */
    if (api_static_handle(req, path))
        return 0;
    if (a->token && !authorized(a, req)) {
        http_add_header(req, "WWW-Authenticate", "Bearer");
        http_reply_error(req, 401, "unauthorized", "send \"Authorization: Bearer <TARRY_TOKEN>\"");
        return 0;
    }
    if (path_is(&path, "/metrics"))
        return only_get(req) == 0 ? api_metrics_handle(a, req) : 0;
    if (path_is(&path, "/v1/functions"))
        return only_get(req) == 0 ? api_functions_handle(a, req) : 0;
    if (path_is(&path, "/v1/plugins"))
        return only_get(req) == 0 ? api_plugins_handle(a, req) : 0;
    if (path_is(&path, "/v1/cluster"))
        return only_get(req) == 0 ? api_cluster_handle(a, req) : 0;
    if (path_is(&path, "/v1/plugins/reload")) {
        api_pending *p;
        if (!http_req_method_is(req, "POST")) {
            http_reply_method_not_allowed(req, "POST");
            return 0;
        }
        if (!(p = pending_new(a, req, PENDING_RELOAD, on_engine_answer)) ||
            engine_reload_everywhere(a->eng, &p->waiter) != 0) {
            if (p)
                pending_drop(p);
            http_reply_error(req, 500, "internal", "cannot start a reload");
        }
        return 0;
    }
    if (path_is(&path, "/v1/executions"))
        return api_list_handle(a, req);
    if (path_is(&path, "/v1/executions/stats"))
        return api_stats_handle(a, req);
    if (path_starts(&path, "/v1/functions/")) {
        const char *name = path.ptr + strlen("/v1/functions/");
        const char *slash = memchr(name, '/', (size_t)(path.ptr + path.len - name));
        if (slash && path.ptr + path.len - slash == (ptrdiff_t)strlen("/executions") &&
            memcmp(slash, "/executions", strlen("/executions")) == 0 && slash > name)
            return handle_trigger(a, req, name, (size_t)(slash - name));
        if (slash && path.ptr + path.len - slash == (ptrdiff_t)strlen("/stats") &&
            memcmp(slash, "/stats", strlen("/stats")) == 0 && slash > name)
            return only_get(req) == 0 ? api_fn_stats_handle(a, req, name, (size_t)(slash - name)) : 0;
        if (slash && path.ptr + path.len - slash == (ptrdiff_t)strlen("/upgrade-check") &&
            memcmp(slash, "/upgrade-check", strlen("/upgrade-check")) == 0 && slash > name)
            return only_get(req) == 0 ? api_upgrade_check_handle(a, req, name, (size_t)(slash - name)) : 0;
    }
    if (path_starts(&path, "/v1/executions/")) {
        const char *idp = path.ptr + strlen("/v1/executions/");
        const char *end = path.ptr + path.len;
        const char *slash = memchr(idp, '/', (size_t)(end - idp));
        size_t id_len = (size_t)((slash ? slash : end) - idp);
        exec_id id;
        if (parse_id(req, idp, id_len, &id) != 0)
            return 0;
        if (!slash)
            return handle_get_exec(a, req, &id);
        http_str rest = {slash, (size_t)(end - slash)};
        if (path_is(&rest, "/result"))
            return handle_result(a, req, &id);
        if (path_is(&rest, "/logs"))
            return api_logs_handle(a, req, &id);
        if (path_is(&rest, "/attempts"))
            return handle_attempts(a, req, &id);
        if (path_is(&rest, "/schedule"))
            return handle_schedule(a, req, &id);
        if (path_is(&rest, "/upgrade"))
            return handle_upgrade(a, req, &id);
        if (path_is(&rest, "/cancel"))
            return handle_cancel(a, req, &id);
        if (path_is(&rest, "/rerun"))
            return handle_rerun(a, req, &id);
    }
    http_str method = http_req_method(req);
    http_reply_error(req, 404, "not_found", "no such endpoint: %.*s %.*s (see docs/API.md)", (int)method.len,
                     method.ptr, (int)(path.len > 200 ? 200 : path.len), path.ptr);
    return 0;
}

/* ---- lent to api_list.c (api_int.h) ---------------------------------------------- */

cJSON *api_exec_json(const exec_record *r)
{
    return exec_json(r);
}

void api_reply_cjson(http_req *req, int status, cJSON *root)
{
    reply_cjson(req, status, root);
}

int api_read_begin(api *a, http_req *req, store_txn **txn)
{
    return read_begin(a, req, txn);
}

void api_reply_store_error(api *a, http_req *req, int rc)
{
    reply_store_error(a, req, rc);
}

engine *api_engine(api *a)
{
    return a->eng;
}

void api_handle(void *api_ptr, http_req *req)
{
    route(api_ptr, req);
}
