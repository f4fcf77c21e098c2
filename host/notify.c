/*
 * notify.c - failure notifications (notify.h): the rows written with an
 * execution's end and their JSON body, the sender thread, and the loop's
 * side that records each delivery's outcome through its own committer.
 *
 * Ownership: a row the sender picks up becomes a job (its strings copied)
 * and is "held" from then until the commit that records its outcome: the
 * sender skips held rows, so no row is in two transfers or sent again
 * while its outcome is on its way to the store. `held` and `done` are
 * guarded by `lock`; `multi` and the jobs in it are the sender's; `queued`
 * and `writing` are the loop's.
 *
 * May not: change an execution, block the loop (no network I/O, no fsync
 * there), write to the store from the sender thread.
 */
#include "notify.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "commit.h"
#include "hlog.h"
#include "ids.h"
#include "status.h"
#include "store_outbox.h"

#define CONNECT_TIMEOUT_MS 5000
#define TOTAL_TIMEOUT_MS 10000
#define IDLE_POLL_MS 60000   /* the sender's longest sleep: a wake or a due row ends it sooner */
#define RECORD_RETRY_MS 1000 /* after a failed commit of outcomes */
#define ERROR_SHOWN_MAX 1500 /* an error's characters in the message text */
#define LAST_ERROR_MAX 300   /* a failed delivery's reason kept on its row */

typedef struct notify_job {
    store_notify row; /* strings owned */
    int64_t prev_due; /* where its outbox entry is in the store */
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    bool ok;                    /* the receiver answered 2xx */
    char error[LAST_ERROR_MAX]; /* else why not */
    struct notify_job *next;    /* in done, queued or writing */
    struct notify_job *held_next;
} notify_job;

struct notifier {
    uv_loop_t *loop;
    store *st;
    const notify_config *cfg;
    char *link_base;
    double scale;
    uv_async_t async;
    uv_timer_t retry_timer;
    int open_handles;
    bool stopping;
    committer *committer;
    store_batch *batch;
    notify_job *queued, *writing; /* loop: outcomes to record / being recorded */
    uint64_t delivered, failed, retried;
    /* The sender. */
    pthread_t thread;
    bool thread_started;
    CURLM *multi;
    size_t in_flight;
    pthread_mutex_t lock;
    bool stop;        /* guarded by lock */
    notify_job *done; /* guarded by lock: outcomes for the loop */
    notify_job *held; /* guarded by lock: picked up, outcome not durable yet */
};

static void job_free(notify_job *j)
{
    if (!j)
        return;
    if (j->easy)
        curl_easy_cleanup(j->easy);
    curl_slist_free_all(j->headers);
    free((char *)j->row.url);
    free((char *)j->row.shown_url);
    free((char *)j->row.body);
    free((char *)j->row.last_error);
    free(j);
}

/* ---- the body ------------------------------------------------------------------
 * Slack-compatible: "text" (the notification's plain text) and "blocks"
 * (the same, laid out), so a Slack incoming-webhook URL works as is; tarry's
 * own fields go in a "tarry" object, so a receiver reads them without
 * parsing text and Slack meets no top-level key it does not know. */

/* s with Slack's three control characters escaped (&, <, >), at most max bytes of s. */
static char *mrkdwn_escape(const char *s, size_t max)
{
    size_t len = strlen(s), out = 0;
    char *r;
    if (len > max)
        len = max;
    if (!(r = malloc(len * 5 + 4)))
        return NULL;
    for (size_t i = 0; i < len; i++) {
        const char *rep = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;" : NULL;
        if (rep) {
            memcpy(r + out, rep, strlen(rep));
            out += strlen(rep);
        } else
            r[out++] = s[i];
    }
    if (strlen(s) > max)
        memcpy(r + out, "...", 3), out += 3;
    r[out] = '\0';
    return r;
}

static char *body_build(const notifier *n, const exec_record *rec)
{
    char id[ID_TEXT_LEN + 1], link[2048], *text = NULL, *section = NULL, *err = NULL, *fn = NULL,
                                          *json = NULL;
    const char *state = exec_state_name(rec->state);
    const char *why = rec->error ? rec->error : "(no error message)";
    cJSON *root = cJSON_CreateObject(), *blocks, *block, *t, *tarry;
    size_t tlen;

    id_format(&rec->id, id);
    snprintf(link, sizeof link, "%s/#/executions/%s", n->link_base, id);
    if (!root || !(err = mrkdwn_escape(why, ERROR_SHOWN_MAX)) || !(fn = mrkdwn_escape(rec->function, 200)))
        goto out;
    tlen = strlen(err) + strlen(fn) + strlen(link) + 300;
    if (!(text = malloc(tlen)) || !(section = malloc(tlen)))
        goto out;
    snprintf(text, tlen, "tarry: %s %s %s after %" PRIu32 " attempt%s: %s %s", fn, id, state, rec->attempts,
             rec->attempts == 1 ? "" : "s", err, link);
    snprintf(section, tlen, "*<%s|%s>* %s after %" PRIu32 " attempt%s\n`%s`\n```%s```", link, fn, state,
             rec->attempts, rec->attempts == 1 ? "" : "s", id, err);
    cJSON_AddStringToObject(root, "text", text);
    blocks = cJSON_AddArrayToObject(root, "blocks");
    block = cJSON_CreateObject();
    cJSON_AddItemToArray(blocks, block);
    cJSON_AddStringToObject(block, "type", "section");
    t = cJSON_AddObjectToObject(block, "text");
    cJSON_AddStringToObject(t, "type", "mrkdwn");
    cJSON_AddStringToObject(t, "text", section);
    tarry = cJSON_AddObjectToObject(root, "tarry");
    cJSON_AddStringToObject(tarry, "id", id);
    cJSON_AddStringToObject(tarry, "function", rec->function);
    cJSON_AddStringToObject(tarry, "state", state);
    if (rec->error)
        cJSON_AddStringToObject(tarry, "error", rec->error);
    else
        cJSON_AddNullToObject(tarry, "error");
    cJSON_AddNumberToObject(tarry, "attempts", rec->attempts);
    cJSON_AddStringToObject(tarry, "url", link);
    json = cJSON_PrintUnformatted(root); /* NULL when any add above ran out of memory midway: fine */
out:
    cJSON_Delete(root);
    free(text);
    free(section);
    free(err);
    free(fn);
    return json;
}

int notify_final_batch(notifier *n, store_batch *b, const exec_record *rec)
{
    char *body = NULL;
    int64_t now;
    int rc = 0;

    if (!n || (rec->state != EXEC_FAILED && rec->state != EXEC_BLOCKED))
        return 0;
    now = clock_now_ms();
    for (size_t i = 0; rc == 0 && i < n->cfg->count; i++) {
        const notify_hook *h = &n->cfg->hooks[i];
        store_notify row;
        if (!notify_hook_wants(h, rec->function))
            continue;
        if (!body && !(body = body_build(n, rec)))
            return TARRY_ENOMEM;
        memset(&row, 0, sizeof row);
        row.id = rec->id;
        row.created_at = now;
        row.hook = (uint8_t)i;
        row.state = STORE_NOTIFY_PENDING;
        row.due_at = now;
        row.url = h->url;
        row.shown_url = h->shown_url;
        row.body = body;
        rc = store_batch_notify_put(b, &row, 0);
    }
    free(body);
    return rc;
}

/* ---- the sender thread ------------------------------------------------------------ */

static size_t discard_body(char *p, size_t size, size_t n, void *user)
{
    (void)p;
    (void)user;
    return size * n;
}

static bool held_has(notifier *n, const store_notify *row)
{
    for (notify_job *j = n->held; j; j = j->held_next)
        if (memcmp(j->row.id.bytes, row->id.bytes, 16) == 0 && j->row.created_at == row->created_at &&
            j->row.hook == row->hook)
            return true;
    return false;
}

struct pick {
    notifier *n;
    int64_t now, next_due; /* next_due: the earliest row not due yet, 0 none */
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A transfer for one due row. */
static int pick_row(void *user, const store_notify *row)
{
    struct pick *p = user;
    notifier *n = p->n;
    notify_job *j;
    bool held;

    if (row->due_at > p->now) {
        p->next_due = row->due_at;
        return 1; /* the rest are later */
    }
    if (n->in_flight >= NOTIFY_IN_FLIGHT)
        return 1;
    pthread_mutex_lock(&n->lock);
    held = held_has(n, row);
    pthread_mutex_unlock(&n->lock);
    if (held)
        return 0;
    if (!(j = calloc(1, sizeof *j)))
        return 1;
    j->row = *row;
    j->prev_due = row->due_at;
    j->row.url = strdup(row->url);
    j->row.shown_url = strdup(row->shown_url);
    j->row.body = strdup(row->body);
    j->row.last_error = dup_or_null(row->last_error);
    j->row.attempts++;
    if (!j->row.url || !j->row.shown_url || !j->row.body || (row->last_error && !j->row.last_error) ||
        !(j->easy = curl_easy_init()) ||
        !(j->headers = curl_slist_append(NULL, "Content-Type: application/json"))) {
        job_free(j);
        return 1;
    }
    curl_easy_setopt(j->easy, CURLOPT_URL, j->row.url);
    curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->row.body);
    curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(j->row.body));
    curl_easy_setopt(j->easy, CURLOPT_USERAGENT, "tarry-notify");
    curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(CONNECT_TIMEOUT_MS / n->scale));
    curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)(TOTAL_TIMEOUT_MS / n->scale));
    curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
    if (curl_multi_add_handle(n->multi, j->easy) != CURLM_OK) {
        job_free(j);
        return 1;
    }
    pthread_mutex_lock(&n->lock);
    j->held_next = n->held;
    n->held = j;
    pthread_mutex_unlock(&n->lock);
    n->in_flight++;
    return 0;
}

/* Start transfers for due rows; the time until the next one is due (ms), or IDLE_POLL_MS. */
static int64_t sender_fill(notifier *n)
{
    struct pick p = {n, clock_now_ms(), 0};
    store_txn *txn;
    int rc;

    if (n->in_flight >= NOTIFY_IN_FLIGHT)
        return IDLE_POLL_MS;
    if ((rc = store_txn_begin(n->st, false, &txn)) != 0) {
        hlog(HLOG_WARN, "notify: cannot read the outbox: %s", store_last_error(n->st));
        return RECORD_RETRY_MS;
    }
    rc = store_outbox_scan(txn, pick_row, &p);
    store_txn_abort(txn);
    if (rc < 0)
        hlog(HLOG_WARN, "notify: cannot read the outbox: %s", store_last_error(n->st));
    if (n->in_flight >= NOTIFY_IN_FLIGHT || !p.next_due)
        return IDLE_POLL_MS;
    return p.next_due - p.now < 0 ? 0 : p.next_due - p.now;
}

/* A transfer ended: its outcome goes to the loop. */
static void sender_done(notifier *n, CURL *easy, CURLcode code)
{
    notify_job *j = NULL;
    long status = 0;

    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&j);
    curl_multi_remove_handle(n->multi, easy);
    n->in_flight--;
    if (code == CURLE_OK) {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        j->ok = status >= 200 && status < 300;
        if (!j->ok)
            snprintf(j->error, sizeof j->error, "HTTP %ld", status);
    } else {
        snprintf(j->error, sizeof j->error, "%s", j->errbuf[0] ? j->errbuf : curl_easy_strerror(code));
    }
    curl_easy_cleanup(easy);
    j->easy = NULL;
    pthread_mutex_lock(&n->lock);
    j->next = n->done;
    n->done = j;
    pthread_mutex_unlock(&n->lock);
    uv_async_send(&n->async);
}

static void *sender_main(void *arg)
{
    notifier *n = arg;
    for (;;) {
        int64_t wait;
        int running;
        CURLMsg *msg;
        bool stop;

        pthread_mutex_lock(&n->lock);
        stop = n->stop;
        pthread_mutex_unlock(&n->lock);
        if (stop)
            break;
        wait = sender_fill(n);
        curl_multi_perform(n->multi, &running);
        while ((msg = curl_multi_info_read(n->multi, &running)))
            if (msg->msg == CURLMSG_DONE)
                sender_done(n, msg->easy_handle, msg->data.result);
        if (wait > IDLE_POLL_MS)
            wait = IDLE_POLL_MS;
        curl_multi_poll(n->multi, NULL, 0, (int)wait, NULL);
    }
    return NULL;
}

/* ---- the loop: recording outcomes --------------------------------------------------- */

static void record_flush(notifier *n);
static void on_record_retry(uv_timer_t *t);

static void on_recorded(void *user, int status, const char *error)
{
    notifier *n = user;
    notify_job *list = n->writing;

    n->writing = NULL;
    if (status != 0) {
        /* Kept and written again: until then the rows stay held, so nothing is sent twice. */
        hlog(HLOG_WARN, "notify: cannot record deliveries (%s); trying again in %d ms", error,
             RECORD_RETRY_MS);
        while (list) {
            notify_job *next = list->next;
            list->next = n->queued;
            n->queued = list;
            list = next;
        }
        if (!n->stopping)
            uv_timer_start(&n->retry_timer, on_record_retry, RECORD_RETRY_MS, 0);
        return;
    }
    while (list) {
        notify_job *next = list->next, **p;
        if (list->row.state == STORE_NOTIFY_DELIVERED)
            n->delivered++;
        else if (list->row.state == STORE_NOTIFY_FAILED)
            n->failed++;
        else
            n->retried++;
        pthread_mutex_lock(&n->lock);
        for (p = &n->held; *p; p = &(*p)->held_next)
            if (*p == list) {
                *p = list->held_next;
                break;
            }
        pthread_mutex_unlock(&n->lock);
        job_free(list);
        list = next;
    }
    notify_wake(n);
    record_flush(n);
}

static void on_record_retry(uv_timer_t *t)
{
    record_flush(t->data);
}

/* Write the queued outcomes in one batch, if none is in flight. */
static void record_flush(notifier *n)
{
    int rc = 0;

    if (n->stopping || !n->queued || committer_busy(n->committer) ||
        uv_is_active((uv_handle_t *)&n->retry_timer))
        return;
    store_batch_reset(n->batch);
    for (notify_job *j = n->queued; rc == 0 && j; j = j->next)
        rc = store_batch_notify_put(n->batch, &j->row, j->prev_due);
    if (rc != 0) {
        uv_timer_start(&n->retry_timer, on_record_retry, RECORD_RETRY_MS, 0);
        return;
    }
    n->writing = n->queued;
    n->queued = NULL;
    committer_submit(n->committer, n->batch);
}

/* The sender's outcomes: decide each row's next state. */
static void on_outcomes(uv_async_t *a)
{
    notifier *n = a->data;
    notify_job *list;
    int64_t now = clock_now_ms();

    pthread_mutex_lock(&n->lock);
    list = n->done;
    n->done = NULL;
    pthread_mutex_unlock(&n->lock);
    while (list) {
        notify_job *j = list;
        char id[ID_TEXT_LEN + 1];
        list = list->next;
        id_format(&j->row.id, id);
        if (j->ok) {
            j->row.state = STORE_NOTIFY_DELIVERED;
            j->row.delivered_at = now;
        } else {
            fn_options o = {.retry = true,
                            .max_attempts = NOTIFY_ATTEMPTS,
                            .initial_interval_ms = 10000,
                            .max_interval_ms = 20 * 60000,
                            .multiplier = 2,
                            .jitter = 0.2};
            char *why = strdup(j->error);
            if (why) {
                free((char *)j->row.last_error);
                j->row.last_error = why;
            }
            if (j->row.attempts >= NOTIFY_ATTEMPTS) {
                j->row.state = STORE_NOTIFY_FAILED;
                hlog(HLOG_WARN, "notify: %s's notification to %s failed %u times (%s); giving up", id,
                     j->row.shown_url, j->row.attempts, j->error);
            } else {
                int64_t wait = (int64_t)(backoff_delay_ms(&o, j->row.attempts, backoff_random()) / n->scale);
                j->row.due_at = now + wait;
                hlog(HLOG_INFO,
                     "notify: %s's notification to %s: attempt %u failed (%s); next in %" PRId64 " ms", id,
                     j->row.shown_url, j->row.attempts, j->error, wait);
            }
        }
        j->next = n->queued;
        n->queued = j;
    }
    record_flush(n);
}

/* ---- start, stop, stats ------------------------------------------------------------- */

static bool outbox_pending(store *st)
{
    store_txn *txn;
    uint64_t count = 0;
    if (store_txn_begin(st, false, &txn) != 0)
        return false;
    if (store_outbox_count(txn, &count) != 0)
        count = 0;
    store_txn_abort(txn);
    return count > 0;
}

static int sender_start(notifier *n)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(n->multi = curl_multi_init()))
        return TARRY_ENOMEM;
    if (pthread_create(&n->thread, NULL, sender_main, n) != 0)
        return TARRY_ENOMEM;
    n->thread_started = true;
    return 0;
}

int notify_start(notifier **out, uv_loop_t *loop, store *st, const notify_config *cfg,
                 const char *listen_addr)
{
    notifier *n = calloc(1, sizeof *n);
    const char *scale = getenv("TARRY_TEST_NOTIFY_SCALE");
    size_t len;
    int rc;

    *out = NULL;
    if (!n)
        return TARRY_ENOMEM;
    n->loop = loop;
    n->st = st;
    n->cfg = cfg;
    n->scale = 1;
    if (scale && atof(scale) > 1) {
        n->scale = atof(scale);
        hlog(HLOG_WARN,
             "notify: TARRY_TEST_NOTIFY_SCALE=%s: waits and timeouts are %s times shorter (a test setting)",
             scale, scale);
    }
    len = (cfg->public_url ? strlen(cfg->public_url) : strlen(listen_addr) + 7) + 1;
    if (!(n->link_base = malloc(len)) || !(n->batch = store_batch_new(st))) {
        free(n->link_base);
        free(n);
        return TARRY_ENOMEM;
    }
    if (cfg->public_url)
        snprintf(n->link_base, len, "%s", cfg->public_url);
    else
        snprintf(n->link_base, len, "http://%s", listen_addr);
    pthread_mutex_init(&n->lock, NULL);
    uv_async_init(loop, &n->async, on_outcomes);
    uv_timer_init(loop, &n->retry_timer);
    n->async.data = n->retry_timer.data = n;
    n->open_handles = 2;
    if ((rc = committer_start(&n->committer, loop, st, on_recorded, n)) != 0)
        goto fail;
    if ((cfg->count > 0 || outbox_pending(st)) && (rc = sender_start(n)) != 0)
        goto fail;
    if (cfg->count > 0)
        hlog(HLOG_INFO, "notify: %zu webhook%s; links to %s", cfg->count, cfg->count == 1 ? "" : "s",
             n->link_base);
    *out = n;
    return 0;
fail:
    notify_stop(n);
    return rc;
}

void notify_wake(notifier *n)
{
    if (n && n->multi)
        curl_multi_wakeup(n->multi);
}

void notify_get_stats(notifier *n, store *st, notify_stats *out)
{
    store_txn *txn;

    memset(out, 0, sizeof *out);
    if (n) {
        out->delivered = n->delivered;
        out->failed = n->failed;
        out->retried = n->retried;
        st = n->st;
    }
    if (st && store_txn_begin(st, false, &txn) == 0) {
        if (store_outbox_count(txn, &out->pending) != 0)
            out->pending = 0;
        store_txn_abort(txn);
    }
}

static void on_closed(uv_handle_t *h)
{
    notifier *n = h->data;
    if (--n->open_handles > 0)
        return;
    pthread_mutex_destroy(&n->lock);
    free(n->link_base);
    free(n);
}

static void job_list_free(notify_job *j)
{
    while (j) {
        notify_job *next = j->next;
        job_free(j);
        j = next;
    }
}

void notify_stop(notifier *n)
{
    if (!n)
        return;
    n->stopping = true;
    if (n->thread_started) {
        pthread_mutex_lock(&n->lock);
        n->stop = true;
        pthread_mutex_unlock(&n->lock);
        curl_multi_wakeup(n->multi);
        pthread_join(n->thread, NULL);
    }
    if (n->committer)
        committer_stop(n->committer); /* waits for the outcomes being written; its callback is not called */
    if (n->multi) {
        /* Transfers still open (held, with their handle): their rows are pending in the store, sent
         * again at the next start. The other held jobs are on the lists freed below. */
        for (notify_job *j = n->held, *next; j; j = next) {
            next = j->held_next;
            if (j->easy) {
                curl_multi_remove_handle(n->multi, j->easy);
                job_free(j);
            }
        }
        curl_multi_cleanup(n->multi);
        curl_global_cleanup();
    }
    job_list_free(n->done);
    job_list_free(n->queued);
    job_list_free(n->writing);
    store_batch_free(n->batch);
    uv_close((uv_handle_t *)&n->async, on_closed);
    uv_close((uv_handle_t *)&n->retry_timer, on_closed);
}
