/*
 * engine_cluster.c - this engine as one of several hosts on a shared store
 * (store_cluster.h; PostgreSQL): joining, what the other hosts make it do,
 * and a write another host's hold refused.
 *
 * The engine keeps its invariants (engine_int.h) per host: what it has in
 * memory (queued, running) it holds, and it loads work only after claiming
 * it, so two hosts never run one execution. What changes with several
 * hosts:
 *   - work appears without this engine's doing: a host that left or died
 *     releases what it held (STORE_EVENT_WORK): queued executions are
 *     claimed into the backlog (engine_backlog_load), running ones are
 *     adopted as interrupted by their host's death (engine_cluster_adopt_orphans),
 *     and due timers are claimed by whichever host gets them first;
 *   - a waiter may wait for an execution another host runs: when another
 *     host makes executions final (STORE_EVENT_FINAL), the waits on
 *     executions not in memory here are looked up;
 *   - a write may lose a race for a free execution (a wake here, a
 *     timeout there): the batch fails with TARRY_ECONFLICT, the execution is
 *     dropped from memory here and the rest of the batch tried again at once;
 *   - this host may be declared stopped (its heartbeat did not reach the
 *     database within its lease): it holds nothing any more, and the engine
 *     starts again under a new id, as after a broken store;
 *   - a host's backlog is not its alone: with other hosts live it keeps in
 *     memory only what its workers start in about ENGINE_SHARE_HORIZON_MS
 *     (engine_window; its queue window when alone), what it leaves in the
 *     store is released with its next batch (the other hosts told:
 *     STORE_EVENT_QUEUED), and whichever host has room claims it, oldest
 *     first; so a burst triggered on one host runs on every host's
 *     workers. The host itself claims back what nobody took, and never
 *     pages in a row it is still releasing (a row it did would run here
 *     and there);
 *   - a cancel may reach an execution another host holds: the write is
 *     refused and it is dropped here as any other. A caller waiting for it
 *     hears the conflict (the API sends the request on to the holder); a
 *     descendant cancelled with its ancestor is asked of its holder
 *     instead (store_batch_cancel_request, STORE_EVENT_CANCEL), and each
 *     host cancels what it is asked and holds (engine_cancel_asked);
 *   - timers are any host's: a batch that sets one no host holds tells the
 *     others (STORE_EVENT_TIMERS), who arm theirs for it too, and a wave of
 *     them due together is shared (store_claim takes this host's part;
 *     engine_timers.c leaves the rest to the others a moment);
 *   - a reload asked of one host (the API, `tarry reload`) is told to all
 *     (STORE_EVENT_RELOAD, with a batch: engine_reload_everywhere), and
 *     each host records in its next batch what it serves after a load,
 *     for GET /v1/cluster to show; a SIGHUP stays the one host's.
 * On LMDB (one host) none of this happens: join records nothing and no
 * event comes.
 *
 * May not: block the loop but for the store's reads every room makes.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine_int.h"
#include "hlog.h"
#include "ids.h"
#include "status.h"
#include "store_cluster.h"

/* On the store's heartbeat thread: hand the events to the loop. */
static void on_store_event(void *user, unsigned events)
{
    engine *e = user;

    uv_mutex_lock(&e->store_lock);
    e->store_events |= events;
    uv_mutex_unlock(&e->store_lock);
    uv_async_send(&e->store_async);
}

struct prev_pick {
    engine *e;
    size_t best; /* index in e->prev_hosts of the newest that joined; nprev_hosts: none seen */
};

static int prev_seen(void *user, const store_host_row *h)
{
    struct prev_pick *p = user;

    for (size_t i = 0; i < p->best; i++)
        if (strcmp(h->id, p->e->prev_hosts[i]) == 0)
            p->best = i;
    return 0;
}

/*
 * Which of this folder's previous engines to take over: the newest that joined the store. One
 * killed before it joined took nothing over and has no row; one killed after holds what it took
 * over from the one before. With no row to tell (the hosts are not readable), the newest.
 */
static void prev_host_pick(engine *e)
{
    struct prev_pick p = {e, e->nprev_hosts};
    store_txn *txn;

    e->prev_host[0] = '\0';
    if (e->nprev_hosts == 0)
        return;
    if (e->nprev_hosts > 1 && store_txn_begin(e->st, false, &txn) == 0) {
        (void)store_hosts_scan(txn, INT64_C(30) * 24 * 3600 * 1000, prev_seen, &p);
        store_txn_abort(txn);
    }
    snprintf(e->prev_host, sizeof e->prev_host, "%s", e->prev_hosts[p.best < e->nprev_hosts ? p.best : 0]);
}

int engine_cluster_join(engine *e)
{
    store_host_info me = {e->host.id, e->host.hostname, e->host.address, e->host.pid, (int)e->workers,
                          e->lease_ms};
    int rc;

    e->shared = strcmp(store_kind(e->st), "lmdb") != 0;
    prev_host_pick(e);
    if ((rc = store_host_join(e->st, &me, e->prev_host[0] ? e->prev_host : NULL, on_store_event, e)) != 0) {
        hlog(HLOG_ERROR, "cannot join the hosts of the store: %s", store_last_error(e->st));
        return rc;
    }
    e->plugins_changed = e->shared;
    if (e->shared)
        hlog(HLOG_INFO, "joined the hosts of the store as host %s%s%s; its address for the others: %s",
             e->host.id, e->prev_host[0] ? ", taking over what host " : "",
             e->prev_host[0] ? e->prev_host : "", e->host.address[0] ? e->host.address : "none");
    return 0;
}

/* Answer the waits on executions another host ran to their end. */
static void remote_finals(engine *e)
{
    store_txn *txn;
    exec_id *ids;
    size_t n = 0;

    if (!e->waits.count || !(ids = malloc(e->waits.count * sizeof *ids)))
        return;
    for (size_t i = 0; i < e->waits.cap; i++) {
        wait_list *wl = e->waits.slots[i].value;
        if (wl && !idmap_get(&e->active, &wl->id))
            ids[n++] = wl->id;
    }
    if (n && store_txn_begin(e->st, false, &txn) == 0) {
        for (size_t i = 0; i < n; i++) {
            exec_record rec;
            if (store_exec_get(txn, &ids[i], &rec) == 0 && exec_state_final(rec.state))
                engine_notify_final(e, &rec);
        }
        store_txn_abort(txn);
    }
    free(ids);
}

typedef struct id_list {
    exec_id *ids;
    size_t n, cap;
} id_list;

static int id_collect(void *user, const exec_id *id)
{
    id_list *l = user;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        exec_id *grown = realloc(l->ids, cap * sizeof *grown);
        if (!grown)
            return 1; /* the rest at the next sweep */
        l->ids = grown;
        l->cap = cap;
    }
    l->ids[l->n++] = *id;
    return 0;
}

/* Cancel what this host holds and another host asked it to cancel. */
static void cancels_asked(engine *e)
{
    id_list l = {0};
    store_txn *txn;

    if (store_txn_begin(e->st, false, &txn) != 0)
        return; /* the sweep looks again */
    if (store_cancel_requests_scan(txn, id_collect, &l) < 0)
        hlog(HLOG_WARN, "cannot read the cancels other hosts asked of this one: %s", store_last_error(e->st));
    store_txn_abort(txn);
    for (size_t i = 0; i < l.n; i++)
        engine_cancel_asked(e, &l.ids[i]);
    free(l.ids);
}

void engine_cluster_on_async(uv_async_t *a)
{
    engine *e = a->data;
    unsigned events;

    uv_mutex_lock(&e->store_lock);
    events = e->store_events;
    e->store_events = 0;
    uv_mutex_unlock(&e->store_lock);
    if (events & STORE_EVENT_FENCED) {
        hlog(HLOG_ERROR,
             "this host (%s) was declared stopped by another: its heartbeat did not reach the database "
             "within its lease, and what it held was handed on; starting the engine again under a new id",
             e->host.id);
        e->stats.commit_failures++;
        engine_exit_soon(e, EXIT_STORE_BROKEN);
        return;
    }
    if (e->draining || e->exit_status)
        return;
    if (events & (STORE_EVENT_WORK | STORE_EVENT_SWEEP)) {
        e->backlog = true; /* paged in as the ready queue has room (engine_dispatch.c) */
        e->timers_due = true;
        e->timers_changed = true;
        engine_cluster_adopt_orphans(e);
    }
    if (events & (STORE_EVENT_FINAL | STORE_EVENT_SWEEP))
        remote_finals(e);
    if (events & (STORE_EVENT_CANCEL | STORE_EVENT_SWEEP))
        cancels_asked(e);
    if (events & STORE_EVENT_TIMERS)
        e->timers_changed = true; /* another host's timers: this host may fire them too */
    if (events & STORE_EVENT_QUEUED)
        e->backlog = true; /* claimed as the ready queue has room (engine_dispatch.c) */
    if (events & STORE_EVENT_RELOAD) {
        hlog(HLOG_INFO, "another host asked every host to reload its plugins: reloading");
        engine_reload(e, NULL);
    }
    engine_flush(e);
}

#define ENGINE_SHARE_HORIZON_MS 100 /* a shared host keeps what it starts in this long (engine_window) */
#define ENGINE_RATE_PERIOD_MS 1000  /* its start rate is measured over periods this long */

/* The values of e->releasing and e->asking: to go with the next batch, or in the batch in flight. */
#define MARK_DUE ((void *)1)
#define MARK_SENT ((void *)2)

bool engine_cluster_wants(const engine *e)
{
    return e->announce || e->plugins_changed || e->releasing.count || e->asking.count;
}

void engine_cluster_spill(engine *e, const exec *x)
{
    char text[ID_TEXT_LEN + 1];

    if (!e->shared || e->draining || idmap_put(&e->releasing, &x->rec.id, MARK_DUE) == 0)
        return;
    id_format(&x->rec.id, text);
    hlog(HLOG_WARN, "out of memory: queued execution %s stays with this host", text);
}

bool engine_cluster_releasing(const engine *e, const exec_id *id)
{
    return idmap_get(&e->releasing, id) != NULL;
}

/*
 * Alone, a host keeps its whole queue window in memory. With other hosts live, a queued execution
 * it keeps waits for its workers while another host's may be idle; so it keeps what its workers
 * start in ENGINE_SHARE_HORIZON_MS at the rate they did over the last second (at least 4 per
 * worker, the queue window's least: they never starve between refills, which claim the rest
 * back as it falls below half), and the rest is released for any host to claim. A batch of
 * releases and a claim per refill is what it costs; a host that starts thousands a second keeps
 * hundreds, so tiny executions hardly move.
 */
size_t engine_window(engine *e)
{
    int64_t now;
    size_t w;

    if (!e->shared || store_live_hosts(e->st) < 2)
        return e->queue_window;
    now = clock_mono_ms();
    if (now - e->rate_since >= ENGINE_RATE_PERIOD_MS) {
        e->start_rate = (size_t)(e->rate_starts * 1000 / (uint64_t)(now - e->rate_since));
        e->rate_starts = 0;
        e->rate_since = now;
    }
    w = e->start_rate * ENGINE_SHARE_HORIZON_MS / 1000;
    if (w < 4 * e->workers)
        w = 4 * e->workers;
    return w < e->queue_window ? w : e->queue_window;
}

/* The ids of `m` due, each into the batch with `put` and marked sent; *sent counts them. */
static int marks_into_batch(idmap *m, store_batch *b, int (*put)(store_batch *, const exec_id *),
                            size_t *sent)
{
    *sent = 0;
    for (size_t i = 0; i < m->cap; i++) {
        idmap_slot *s = &m->slots[i];
        int rc;
        if (s->value != MARK_DUE)
            continue;
        if ((rc = put(b, &s->key)) != 0)
            return rc;
        s->value = MARK_SENT;
        ++*sent;
    }
    return 0;
}

/* The batch that carried m's sent ids committed (ok: they are forgotten; how many is returned)
 * or failed (due again: what they say is idempotent). */
static size_t marks_committed(idmap *m, bool ok)
{
    exec_id *done = NULL;
    size_t n = 0;

    if (!m->count)
        return 0;
    /* deleting moves the table's slots: the ids first */
    if (!ok || !(done = malloc(m->count * sizeof *done))) {
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].value == MARK_SENT)
                m->slots[i].value = MARK_DUE;
        return 0;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].value == MARK_SENT)
            done[n++] = m->slots[i].key;
    for (size_t i = 0; i < n; i++)
        idmap_del(m, &done[i]);
    free(done);
    return n;
}

/* The releases due, into the batch, with the word to the other hosts; and the cancels to ask of
 * the hosts that hold them. A release is an update of this host's own queued rows, an ask sets a
 * flag: either may be sent twice. */
static int marks_batch(engine *e, store_batch *b)
{
    size_t sent;
    int rc = marks_into_batch(&e->asking, b, store_batch_cancel_request, &sent);

    if (rc == 0)
        rc = marks_into_batch(&e->releasing, b, store_batch_release, &sent);
    return rc == 0 && sent ? store_batch_announce(b, STORE_EVENT_QUEUED) : rc;
}

static void add_current(void *user, const plugin *p)
{
    cJSON *o;
    if (!p->current || !p->handle || !(o = cJSON_CreateObject()))
        return;
    cJSON_AddItemToArray(user, o);
    cJSON_AddStringToObject(o, "name", p->name ? p->name : "");
    cJSON_AddStringToObject(o, "version", p->version ? p->version : "");
    cJSON_AddStringToObject(o, "hash", p->hash);
}

char *engine_plugins_json(engine *e)
{
    cJSON *list = cJSON_CreateArray();
    char *text;

    if (!list)
        return NULL;
    plugins_each(e->pl, add_current, list);
    text = cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    return text;
}

int engine_cluster_batch(engine *e, store_batch *b)
{
    int rc = 0;

    e->announce_sent = e->announce;
    e->plugins_sent = e->plugins_changed;
    e->announce = 0;
    e->plugins_changed = false;
    if (e->announce_sent)
        rc = store_batch_announce(b, e->announce_sent);
    if (rc == 0 && e->plugins_sent) {
        char *json = engine_plugins_json(e);
        rc = json ? store_batch_host_plugins(b, json) : TARRY_ENOMEM;
        free(json);
    }
    return rc == 0 ? marks_batch(e, b) : rc;
}

void engine_cluster_committed(engine *e, bool ok)
{
    if (!ok) {
        e->announce |= e->announce_sent;
        e->plugins_changed = e->plugins_changed || e->plugins_sent;
    }
    e->announce_sent = 0;
    e->plugins_sent = false;
    marks_committed(&e->asking, ok);
    if (marks_committed(&e->releasing, ok))
        e->backlog = true; /* this host claims what nobody took, as its queue has room */
}

void engine_cluster_drop(engine *e, commit_entry *ce)
{
    exec *x = ce->x;
    char text[ID_TEXT_LEN + 1];

    /* A cancel here of what it started is that host's to make: it is asked to. A cancel a caller
     * waits for is not: the caller hears of the conflict (the API sends the request on to the
     * holder, api_forward.c), and what it is answered must be all that happens. */
    bool ask = e->shared && (x->rec.state == EXEC_CANCELLED || x->rec.cancel_requested) &&
               list_empty(&ce->acks) && list_empty(&x->acks) &&
               idmap_put(&e->asking, &x->rec.id, MARK_DUE) == 0;

    id_format(&x->rec.id, text);
    hlog(HLOG_INFO, "execution %s of %s is another host's now (it took it first): dropped here%s", text,
         x->rec.function, ask ? "; that host is asked to cancel it" : "");
    engine_sleep_entry_free(ce->sleep_entry);
    ce->sleep_entry = NULL;
    while (!list_empty(&ce->acks))
        engine_waiter_answer(e, list_entry(ce->acks.next, engine_waiter, node), TARRY_ECONFLICT, NULL);
    while (!list_empty(&x->acks))
        engine_waiter_answer(e, list_entry(x->acks.next, engine_waiter, node), TARRY_ECONFLICT, NULL);
    if (ce->checkpoint)
        engine_checkpoint_answer(e, x, TARRY_ECONFLICT);
    if (x->in_dirty) {
        list_unlink(&x->dirty_node);
        x->in_dirty = false;
        e->dirty_count--;
    }
    if (x->rec.state == EXEC_RUNNING && !x->dispatch_after_commit) {
        x->rejected = true; /* on a worker: dropped when its pass returns (engine_dispatch.c) */
        return;
    }
    engine_ready_remove(e, x);
    engine_exec_free(e, x);
}
