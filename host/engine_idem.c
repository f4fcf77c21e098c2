/*
 * engine_idem.c - idempotency keys: one execution per (function, key) for
 * as long as the key is kept (engine_set_idempotency_ttl, default 24 h).
 *
 * A key lives in two places. Until the batch that creates its execution
 * commits, it is in `pending` (this room's map, keyed like the store:
 * function NUL sha256(key)), pointing at the execution in memory; a second
 * trigger with it then waits for that same commit and is answered with the
 * same execution. From that commit on it is in the store's `idem` database,
 * written in the same batch as the execution (engine_batch.c), and the
 * pending entry goes. Everything runs on the loop thread, so checking both
 * places and taking the key are one step: 8 connections sending one key at
 * once make exactly one execution.
 *
 * The arguments must be the same JSON value (compared as parsed JSON, so
 * spacing and member order do not matter); else the trigger is refused with
 * TARRY_EEXIST (409). An expired key counts as absent; expired entries are
 * deleted by a sweep that looks at IDEM_SWEEP_STEP keys per batch at most.
 *
 * May not: include lmdb.h, block the loop thread beyond one read.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"

#define IDEM_SWEEP_STEP 1000      /* keys one sweep looks at */
#define IDEM_SWEEP_EVERY_MS 10000 /* at most one sweep this often */

typedef struct idem_entry {
    struct idem_entry *next;
    exec *x;
    size_t len;
    uint8_t key[STORE_IDEM_KEY_MAX];
} idem_entry;

struct engine_idem {
    idem_entry **buckets;
    size_t bucket_count, count;
    store_idem_pos sweep_pos;
    int64_t next_sweep_ms;
};

static uint64_t hash_key(const uint8_t *k, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: the key ends in a SHA-256 already */
    for (size_t i = 0; i < len; i++)
        h = (h ^ k[i]) * 1099511628211ull;
    return h;
}

static idem_entry **find(engine_idem *m, const uint8_t *k, size_t len)
{
    idem_entry **p;
    if (!m->bucket_count)
        return NULL;
    for (p = &m->buckets[hash_key(k, len) % m->bucket_count]; *p; p = &(*p)->next)
        if ((*p)->len == len && memcmp((*p)->key, k, len) == 0)
            return p;
    return NULL;
}

static int grow(engine_idem *m)
{
    size_t n = m->bucket_count ? m->bucket_count * 2 : 64;
    idem_entry **b = calloc(n, sizeof *b);
    if (!b)
        return TARRY_ENOMEM;
    for (size_t i = 0; i < m->bucket_count; i++)
        for (idem_entry *en = m->buckets[i], *next; en; en = next) {
            next = en->next;
            en->next = b[hash_key(en->key, en->len) % n];
            b[hash_key(en->key, en->len) % n] = en;
        }
    free(m->buckets);
    m->buckets = b;
    m->bucket_count = n;
    return 0;
}

void engine_set_idempotency_ttl(engine *e, int64_t ttl_ms)
{
    e->idem_ttl_ms = ttl_ms > 0 ? ttl_ms : ENGINE_IDEMPOTENCY_TTL_MS;
}

/* The same JSON value: equal text, or equal once parsed. */
static bool args_same(const char *a, const char *b)
{
    cJSON *ja, *jb;
    bool same;

    if (strcmp(a ? a : "null", b ? b : "null") == 0)
        return true;
    ja = cJSON_Parse(a ? a : "null");
    jb = cJSON_Parse(b ? b : "null");
    same = ja && jb && cJSON_Compare(ja, jb, true);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    return same;
}

int engine_idem_check(engine *e, const char *function, const char *key, const char *args,
                      engine_idem_hit *hit)
{
    uint8_t k[STORE_IDEM_KEY_MAX];
    size_t len = store_idem_key(function, key, k);
    idem_entry **pe;
    store_txn *txn;
    store_idem stored;
    exec_record rec;
    int rc;

    memset(hit, 0, sizeof *hit);
    if (!len)
        return 0;
    if (e->idem && (pe = find(e->idem, k, len))) {
        if (!args_same((*pe)->x->rec.args, args))
            return TARRY_EEXIST;
        hit->x = (*pe)->x;
        hit->id = hit->x->rec.id;
        return 1;
    }
    if ((rc = store_txn_begin(e->st, false, &txn)) != 0)
        return rc;
    rc = store_idem_get(txn, function, key, &stored);
    if (rc == 0 && stored.expires_at > clock_now_ms()) {
        if ((rc = store_exec_get(txn, &stored.id, &rec)) == 0) {
            rc = args_same(rec.args, args) ? 1 : TARRY_EEXIST;
            hit->id = stored.id;
        } else if (rc == TARRY_ENOTFOUND) {
            rc = 0; /* the execution is gone: the key names nothing */
        }
    } else if (rc == 0 || rc == TARRY_ENOTFOUND) {
        rc = 0; /* expired, or never given */
    }
    store_txn_abort(txn);
    return rc;
}

int engine_idem_hold(engine *e, exec *x)
{
    engine_idem *m = e->idem;
    idem_entry *en;
    size_t slot;

    if (!x->rec.idempotency_key)
        return 0;
    if (!m && !(m = e->idem = calloc(1, sizeof *m)))
        return TARRY_ENOMEM;
    if (m->count >= m->bucket_count && grow(m) != 0)
        return TARRY_ENOMEM;
    if (!(en = calloc(1, sizeof *en)))
        return TARRY_ENOMEM;
    if (!(en->len = store_idem_key(x->rec.function, x->rec.idempotency_key, en->key))) {
        free(en);
        return TARRY_EINVAL;
    }
    en->x = x;
    slot = hash_key(en->key, en->len) % m->bucket_count;
    en->next = m->buckets[slot];
    m->buckets[slot] = en;
    m->count++;
    x->idem_pending = true;
    return 0;
}

void engine_idem_forget(engine *e, exec *x)
{
    uint8_t k[STORE_IDEM_KEY_MAX];
    idem_entry **pe, *en;
    size_t len;

    if (!x->idem_pending || !e->idem)
        return;
    x->idem_pending = false;
    len = store_idem_key(x->rec.function, x->rec.idempotency_key, k);
    if ((pe = find(e->idem, k, len)) && (*pe)->x == x) {
        en = *pe;
        *pe = en->next;
        free(en);
        e->idem->count--;
    }
}

void engine_idem_attach(engine *e, exec *x, engine_waiter *w)
{
    engine_waiter_init(w, &x->rec.id, WAIT_ACK);
    /* Its creating batch may be in flight already: then the answer comes with that commit. */
    for (size_t i = 0; x->written_state != EXEC_NONE && i < e->entry_count; i++)
        if (e->entries[i].x == x) {
            list_push_back(&e->entries[i].acks, &w->node);
            return;
        }
    list_push_back(&x->acks, &w->node);
}

bool engine_idem_lost(engine *e, commit_entry *ce)
{
    static const exec_id none;
    exec *x = ce->x;
    store_txn *txn;
    store_idem stored;
    exec_record rec;
    bool answered = false;

    /* A child's key is its parent's business (its step fails and replays); a trigger's is the client's. */
    if (!x->rec.idempotency_key || memcmp(&x->rec.parent_id, &none, sizeof none) != 0 ||
        store_txn_begin(e->st, false, &txn) != 0)
        return false;
    if (store_idem_get(txn, x->rec.function, x->rec.idempotency_key, &stored) == 0 &&
        memcmp(&stored.id, &x->rec.id, sizeof stored.id) != 0 && store_exec_get(txn, &stored.id, &rec) == 0 &&
        args_same(rec.args, x->rec.args)) {
        list_node *lists[] = {&ce->acks, &x->acks};
        for (size_t i = 0; i < 2; i++)
            while (!list_empty(lists[i])) {
                engine_waiter *w = list_entry(lists[i]->next, engine_waiter, node);
                w->id = stored.id;
                engine_waiter_answer(e, w, ENGINE_DUPLICATE_STORED, &rec);
            }
        answered = true;
    }
    store_txn_abort(txn);
    return answered;
}

int engine_idem_put(engine *e, store_batch *b, const exec *x)
{
    store_idem v = {x->rec.id, x->rec.created_at + e->idem_ttl_ms};
    return store_batch_idem_put(b, x->rec.function, x->rec.idempotency_key, &v);
}

struct sweep {
    engine *e;
    store_batch *b;
    size_t deleted;
};

static int sweep_one(void *user, const void *key, size_t len)
{
    struct sweep *s = user;
    /* A key whose new execution is being committed stays: its put is in this batch or in flight. */
    if (s->e->idem && find(s->e->idem, key, len))
        return 0;
    s->deleted++;
    return store_batch_idem_del_raw(s->b, key, len);
}

int engine_idem_sweep(engine *e, store_batch *b)
{
    struct sweep s = {e, b, 0};
    int64_t now = clock_now_ms();
    store_txn *txn;
    int rc;

    if (!e->idem && !(e->idem = calloc(1, sizeof *e->idem)))
        return 0; /* a sweep can wait */
    if (now < e->idem->next_sweep_ms)
        return 0;
    e->idem->next_sweep_ms = now + IDEM_SWEEP_EVERY_MS;
    if (store_txn_begin(e->st, false, &txn) != 0)
        return 0;
    rc = store_idem_expired(txn, now, &e->idem->sweep_pos, IDEM_SWEEP_STEP, sweep_one, &s);
    store_txn_abort(txn);
    if (s.deleted)
        hlog(HLOG_DEBUG, "idempotency: %zu expired keys deleted", s.deleted);
    return rc == TARRY_ENOMEM ? rc : 0;
}

void engine_idem_free(engine *e)
{
    engine_idem *m = e->idem;
    if (!m)
        return;
    for (size_t i = 0; i < m->bucket_count; i++)
        for (idem_entry *en = m->buckets[i], *next; en; en = next) {
            next = en->next;
            free(en);
        }
    free(m->buckets);
    free(m);
    e->idem = NULL;
}
