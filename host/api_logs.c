/*
 * api_logs.c - an execution's log over HTTP: GET /v1/executions/ID/logs
 * answers one bounded page, or with ?follow=1 a stream of server-sent
 * events that goes on as lines are logged until the execution is final
 * (docs/API.md, "Logs").
 *
 * A follower reads the store, never the engine's memory: after a batch
 * that wrote to its execution commits, the engine wakes it
 * (engine_follow.c), and on the next loop turn it reads the lines after
 * its cursor, at most FOLLOW_READ_LINES lines or FOLLOW_READ_BYTES of
 * text at a time. It reads on only once what it wrote has gone to the
 * connection (http_stream_start's drained), and again from a timer, so a
 * chatty execution or a slow client never holds the loop longer than one
 * bounded read, and a client that does not read holds at most about
 * FOLLOW_QUEUE_MAX + one read in memory.
 *
 * Blocked is not final: a blocked execution may be upgraded and go on, so
 * its followers keep following. The "N lines dropped" line (seq 2^32-1,
 * rewritten as more are dropped) is sent once, last, when the execution is
 * final.
 *
 * Ownership: a follow is malloc'd by its handler and freed by its timer's
 * close callback, after whichever comes first: the client goes (gone), the
 * stream ends (the end event sent), or the engine closes (wake(f, true)).
 *
 * May not: change anything, see an HTTP library type.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "engine.h"
#include "hlog.h"
#include "ids.h"
#include "status.h"

/* A logs page: lines by default and at most, and the text after which a page ends early. */
#define LOGS_DEFAULT 1000
#define LOGS_MAX 10000
#define LOGS_PAGE_BYTES (4u << 20)

/* A follower's read: at most this many lines, or this much text, per loop turn. */
#define FOLLOW_READ_LINES 1000
#define FOLLOW_READ_BYTES (256u << 10)
/* It reads no more while this much waits to go to its connection. */
#define FOLLOW_QUEUE_MAX (64u << 10)
/* A comment line this often keeps proxies and clients from timing the stream out. */
#define FOLLOW_KEEPALIVE_MS 15000

#define LOGS_PAGE_FULL 1 /* a scan callback's "stop": not an error */
#define LOGS_AT_MARK 2   /* reached the dropped-lines line of an execution not yet final */

static const char *const levels[] = {"debug", "info", "warn", "error"};

static cJSON *line_json(const store_log_line *line)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seq", line->seq);
    api_add_time(o, "time", line->time_ms);
    cJSON_AddStringToObject(o, "level", levels[line->level & 3]);
    cJSON_AddNumberToObject(o, "attempt", line->attempt);
    cJSON_AddStringToObject(o, "message", line->text);
    return o;
}

static void reply_not_found(http_req *req, const exec_id *id)
{
    char text[ID_TEXT_LEN + 1];
    id_format(id, text);
    http_reply_error(req, 404, "execution_not_found", "no execution with id %s", text);
}

/* ---- pages ---------------------------------------------------------------------------- */

/* One page of log lines: at most `limit` lines and about LOGS_PAGE_BYTES of text. */
struct logs_page {
    cJSON *data;
    size_t count, limit, bytes;
    bool more;
    uint32_t next; /* more: the seq of the first line not in the page */
};

static int add_log_line(void *user, const store_log_line *line)
{
    struct logs_page *pg = user;

    if (pg->count == pg->limit || (pg->count > 0 && pg->bytes >= LOGS_PAGE_BYTES)) {
        pg->more = true;
        pg->next = line->seq;
        return LOGS_PAGE_FULL;
    }
    cJSON_AddItemToArray(pg->data, line_json(line));
    pg->count++;
    pg->bytes += strlen(line->text) + 64;
    return 0;
}

/*
 * GET .../logs?after=CURSOR&limit=N: one bounded page, so an execution with
 * many long lines never builds one huge answer on the loop. `after` is the
 * next_cursor of the previous page (the seq of its first line; lines are
 * numbered from 0, and the "N lines dropped" line is last, numbered 2^32-1).
 */
static void reply_page(api *a, http_req *req, const exec_id *id, store_txn *txn, const exec_record *rec,
                       size_t limit, uint64_t after)
{
    char cursor[16];
    struct logs_page pg = {.limit = limit};
    cJSON *root = cJSON_CreateObject();
    int rc;

    pg.data = cJSON_AddArrayToObject(root, "data");
    rc = after > UINT32_MAX ? 0 : store_log_scan_from(txn, id, (uint32_t)after, add_log_line, &pg);
    if (rc != 0 && rc != LOGS_PAGE_FULL) {
        cJSON_Delete(root);
        api_reply_store_error(a, req, rc);
        return;
    }
    snprintf(cursor, sizeof cursor, "%" PRIu32, pg.next);
    if (pg.more)
        cJSON_AddStringToObject(root, "next_cursor", cursor);
    else
        cJSON_AddNullToObject(root, "next_cursor");
    cJSON_AddNumberToObject(root, "dropped", rec->log_dropped);
    api_reply_cjson(req, 200, root);
}

/* ---- following ---------------------------------------------------------------------------- */

typedef struct follow {
    engine_follower ef; /* first: the engine hands it back */
    api *a;
    http_req *req;    /* NULL once the stream is over (ended, client gone, engine closed) */
    uv_timer_t timer; /* the next read (0 ms after a wake) or the next keepalive */
    uint64_t next;    /* the seq of the next line to send (2^32 after the dropped-lines line) */
    bool woken;       /* something new may be in the store: read it when the connection has room */
    bool linked;      /* on the engine's list */
} follow;

/* One read's lines, written to the stream as they are scanned. */
struct follow_read {
    follow *f;
    bool final;
    size_t lines, bytes;
    int error;
};

static void follow_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The stream is over: unlink and free (the timer's close callback frees f). */
static void follow_finish(follow *f)
{
    if (f->linked)
        engine_follow_remove(api_engine(f->a), &f->ef);
    f->linked = false;
    f->req = NULL;
    uv_close((uv_handle_t *)&f->timer, follow_timer_closed);
}

static void follow_end(follow *f)
{
    http_stream_end(f->req);
    follow_finish(f);
}

static int send_line(void *user, const store_log_line *line)
{
    struct follow_read *r = user;
    cJSON *o;
    char *data, head[64];
    int rc;

    if (line->seq == STORE_LOG_DROPPED_SEQ && !r->final)
        return LOGS_AT_MARK; /* it may still change: sent when the execution is final */
    if (r->lines >= FOLLOW_READ_LINES || r->bytes >= FOLLOW_READ_BYTES)
        return LOGS_PAGE_FULL;
    o = line_json(line);
    data = cJSON_PrintUnformatted(o); /* one line: cJSON escapes newlines in the message */
    cJSON_Delete(o);
    if (!data)
        return TARRY_ENOMEM;
    snprintf(head, sizeof head, "id: %" PRIu32 "\nevent: line\ndata: ", line->seq);
    rc = http_stream_write(r->f->req, head, strlen(head));
    if (rc == 0)
        rc = http_stream_write(r->f->req, data, strlen(data));
    if (rc == 0)
        rc = http_stream_write(r->f->req, "\n\n", 2);
    r->bytes += strlen(data) + strlen(head) + 2;
    free(data);
    if (rc != 0)
        return rc;
    r->lines++;
    r->f->next = (uint64_t)line->seq + 1;
    return 0;
}

static void on_follow_timer(uv_timer_t *t);

/* Read what is new (bounded) and send it; end the stream once the execution is final and all is sent. */
static void follow_read(follow *f)
{
    struct follow_read r = {.f = f};
    store_txn *txn;
    exec_record rec;
    int rc;

    f->woken = false;
    if (http_stream_queued(f->req) >= FOLLOW_QUEUE_MAX) {
        f->woken = true; /* read when drained */
        return;
    }
    if ((rc = store_txn_begin(engine_store(api_engine(f->a)), false, &txn)) != 0) {
        hlog(HLOG_WARN, "a log follower cannot read the store: %s; ending its stream", status_str(rc));
        follow_end(f);
        return;
    }
    /* The record and the lines from one snapshot: a final state there means every line is there. */
    if ((rc = store_exec_get(txn, &f->ef.id, &rec)) == 0) {
        r.final = exec_state_final(rec.state);
        if (f->next <= UINT32_MAX)
            rc = store_log_scan_from(txn, &f->ef.id, (uint32_t)f->next, send_line, &r);
    }
    if (rc == LOGS_PAGE_FULL) {
        f->woken = true; /* more to read: once this has gone to the connection */
        if (http_stream_queued(f->req) == 0)
            uv_timer_start(&f->timer, on_follow_timer, 0, 0);
    } else if (rc == 0 || rc == LOGS_AT_MARK) {
        if (r.final) {
            char end[128];
            snprintf(end, sizeof end, "event: end\ndata: {\"state\":\"%s\",\"dropped\":%" PRIu32 "}\n\n",
                     exec_state_name(rec.state), rec.log_dropped);
            rc = http_stream_write(f->req, end, strlen(end));
            store_txn_abort(txn);
            follow_end(f);
            return;
        }
        uv_timer_start(&f->timer, on_follow_timer, FOLLOW_KEEPALIVE_MS, 0);
    } else {
        hlog(HLOG_WARN, "a log follower cannot read the store: %s; ending its stream", status_str(rc));
        store_txn_abort(txn);
        follow_end(f);
        return;
    }
    store_txn_abort(txn);
}

static void on_follow_timer(uv_timer_t *t)
{
    follow *f = t->data;

    if (f->woken) {
        follow_read(f);
        return;
    }
    /* Nothing new for a while: a comment, which clients ignore, keeps the stream alive. */
    if (http_stream_queued(f->req) < FOLLOW_QUEUE_MAX)
        http_stream_write(f->req, ": keepalive\n\n", 13);
    uv_timer_start(&f->timer, on_follow_timer, FOLLOW_KEEPALIVE_MS, 0);
}

/* A commit wrote to the execution: read on the next loop turn (a wake only tells). */
static void on_follow_wake(engine_follower *ef, bool closing)
{
    follow *f = (follow *)ef;

    if (closing) {
        f->linked = false; /* the engine unlinked it */
        follow_end(f);     /* the client sees no end event: it may follow again elsewhere */
        return;
    }
    f->woken = true;
    if (http_stream_queued(f->req) < FOLLOW_QUEUE_MAX)
        uv_timer_start(&f->timer, on_follow_timer, 0, 0);
}

/* What was written has gone to the connection: read on if something waits. */
static void on_follow_drained(void *user)
{
    follow *f = user;
    if (f->woken)
        uv_timer_start(&f->timer, on_follow_timer, 0, 0);
}

static void on_follow_gone(void *user)
{
    follow_finish(user);
}

/*
 * GET .../logs?follow=1[&after=CURSOR]: text/event-stream. From `after` (a
 * page's cursor: the seq to start at) or, when absent, from the line after
 * a Last-Event-ID the client sends on reconnecting, else from the first.
 */
static void start_follow(api *a, http_req *req, const exec_id *id, uint64_t from)
{
    engine *e = api_engine(a);
    follow *f = calloc(1, sizeof *f);
    int rc;

    if (!f) {
        http_reply_error(req, 500, "internal", "out of memory starting to follow");
        return;
    }
    f->a = a;
    f->req = req;
    f->next = from;
    f->ef.id = *id;
    f->ef.wake = on_follow_wake;
    if ((rc = engine_follow_add(e, &f->ef)) != 0) {
        free(f);
        if (rc == TARRY_EFULL) {
            http_add_header(req, "Retry-After", "5");
            http_reply_error(req, 503, "too_many_followers",
                             "%d clients follow logs already; try again later", ENGINE_FOLLOWERS_MAX);
        } else {
            http_reply_error(req, 500, "internal", "out of memory starting to follow");
        }
        return;
    }
    f->linked = true;
    uv_timer_init(engine_loop(e), &f->timer);
    f->timer.data = f;
    http_stream_start(req, 200, "text/event-stream", on_follow_drained, on_follow_gone, f);
    /* Registered before the first read: a commit after it wakes this follower. */
    f->woken = true;
    uv_timer_start(&f->timer, on_follow_timer, 0, 0);
}

int api_logs_handle(api *a, http_req *req, const exec_id *id)
{
    char text[32];
    size_t limit = LOGS_DEFAULT;
    uint64_t after = 0;
    bool follow = false, after_given = false;
    store_txn *txn;
    exec_record rec;
    int got, rc;

    if (!http_req_method_is(req, "GET")) {
        http_reply_method_not_allowed(req, "GET");
        return 0;
    }
    if ((got = http_req_query(req, "follow", text, sizeof text)) != 0) {
        if (got < 0 || (strcmp(text, "1") != 0 && strcmp(text, "true") != 0 && strcmp(text, "0") != 0 &&
                        strcmp(text, "false") != 0)) {
            http_reply_error(req, 400, "invalid_query", "follow: want 1 or 0");
            return 0;
        }
        follow = strcmp(text, "1") == 0 || strcmp(text, "true") == 0;
    }
    if ((got = http_req_query(req, "limit", text, sizeof text)) != 0) {
        char *end;
        long n = got > 0 ? strtol(text, &end, 10) : 0;
        if (got < 0 || *end || n < 1 || n > LOGS_MAX) {
            http_reply_error(req, 400, "invalid_query", "limit: want a whole number from 1 to %d", LOGS_MAX);
            return 0;
        }
        limit = (size_t)n;
    }
    if ((got = http_req_query(req, "after", text, sizeof text)) != 0) {
        char *end;
        unsigned long long n = got > 0 && text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
        if (got < 0 || !(text[0] >= '0' && text[0] <= '9') || *end || n > (uint64_t)UINT32_MAX + 1) {
            http_reply_error(req, 400, "invalid_query", "after: not a cursor from next_cursor");
            return 0;
        }
        after = n;
        after_given = true;
    }
    if (follow && !after_given) {
        http_str last = http_req_header(req, "Last-Event-ID");
        if (last.ptr && last.len > 0 && last.len < sizeof text) {
            char *end;
            memcpy(text, last.ptr, last.len);
            text[last.len] = '\0';
            unsigned long long n = strtoull(text, &end, 10);
            if (text[0] >= '0' && text[0] <= '9' && !*end && n <= UINT32_MAX)
                after = n + 1;
        }
    }
    if (api_read_begin(a, req, &txn) != 0)
        return 0;
    if ((rc = store_exec_get(txn, id, &rec)) != 0) {
        if (rc == TARRY_ENOTFOUND)
            reply_not_found(req, id);
        else
            api_reply_store_error(a, req, rc);
        store_txn_abort(txn);
        return 0;
    }
    if (follow) {
        store_txn_abort(txn);
        start_follow(a, req, id, after);
        return 0;
    }
    reply_page(a, req, id, txn, &rec, limit, after);
    store_txn_abort(txn);
    return 0;
}
