/*
 * store.c - the store's one front door: which implementation a URL opens,
 * the calls every implementation shares, and one dispatcher per call of
 * store.h and store_outbox.h (store_impl.h).
 *
 * A dispatcher is one indirect call through the object's ops table: no
 * allocation, no lock, nothing kept, so the hot path costs what it cost
 * when the engine called LMDB directly, plus the call.
 *
 * May not: include lmdb.h or libpq-fe.h, know any implementation's layout,
 * or call into the engine.
 */
#include "store_impl.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "exec_opts.h"
#include "status.h"

/* Per thread: the loop, the commit thread and every worker use the store,
 * and each reads the reason of its own last failure right after it. */
static _Thread_local char last_error[768];

void store_set_error(const char *msg)
{
    if (msg != last_error) /* already there (a caller handing back store_last_error) */
        snprintf(last_error, sizeof last_error, "%s", msg);
}

const char *store_last_error(store *st)
{
    (void)st;
    return last_error[0] ? last_error : "no error";
}

const char *store_kind(store *st)
{
    return st->ops->kind;
}

const char *store_where(store *st)
{
    return st->where ? st->where : "(an unnamed store)";
}

/* ---- opening by URL --------------------------------------------------------- */

#define STORE_FORMS "lmdb:DIR (or a folder's path) or postgres://USER@HOST/DB (or postgresql://)"

/* The length of url's RFC 3986 scheme (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"), or 0
 * when it has none: then it is a folder's path. */
static size_t scheme_len(const char *url)
{
    size_t n = 0;

    if (!((url[0] >= 'a' && url[0] <= 'z') || (url[0] >= 'A' && url[0] <= 'Z')))
        return 0;
    while (url[n] && url[n] != ':' && url[n] != '/') {
        char c = url[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '-' || c == '.'))
            return 0;
        n++;
    }
    return url[n] == ':' ? n : 0;
}

int store_url_check(const char *url, const char **lmdb_dir, char *err, size_t errlen)
{
    size_t scheme;

    if (errlen)
        err[0] = '\0';
    *lmdb_dir = NULL;
    if (!url || !url[0]) {
        snprintf(err, errlen, "no store given: use " STORE_FORMS);
        return TARRY_EINVAL;
    }
    if ((scheme = scheme_len(url)) == 0) {
        *lmdb_dir = url;
        return 0;
    }
    /* Schemes are matched as written: libpq takes only lower-case postgres:// and postgresql://. */
    if (scheme == 4 && strncmp(url, "lmdb", 4) == 0) {
        const char *dir = url + 5;
        if (!dir[0]) {
            snprintf(err, errlen, "store \"lmdb:\" names no folder: use lmdb:DIR, as lmdb:./tarry-data");
            return TARRY_EINVAL;
        }
        if (strncmp(dir, "//", 2) == 0) {
            /* lmdb://x/y would quietly mean the folder /x/y: a host name has no place here. */
            snprintf(err, errlen,
                     "store \"%s\": an LMDB store is a folder, written lmdb:DIR without \"//\" "
                     "(lmdb:./tarry-data, lmdb:/var/lib/tarry)",
                     url);
            return TARRY_EINVAL;
        }
        *lmdb_dir = dir;
        return 0;
    }
    if ((scheme == 8 && strncmp(url, "postgres", 8) == 0) ||
        (scheme == 10 && strncmp(url, "postgresql", 10) == 0)) {
        if (strncmp(url + scheme + 1, "//", 2) != 0) {
            snprintf(err, errlen, "store \"%.*s:...\": a PostgreSQL store is a URL: postgres://USER@HOST/DB",
                     (int)scheme, url);
            return TARRY_EINVAL;
        }
        return 0;
    }
    /* Only the scheme is named: the rest may hold a password. */
    snprintf(err, errlen, "store scheme \"%.*s\" is not one tarry knows: use " STORE_FORMS,
             (int)(scheme > 32 ? 32 : scheme), url);
    return TARRY_EINVAL;
}

int store_open_url(store **out, const char *url, uint64_t map_size, char *err, size_t errlen)
{
    const char *dir;
    int rc;

    if ((rc = store_url_check(url, &dir, err, errlen)) != 0)
        return rc;
    return dir ? store_open(out, dir, map_size, err, errlen) : store_pg_open(out, url, err, errlen);
}

/* ---- common to every implementation ------------------------------------------- */

size_t store_idem_key(const char *function, const char *key, uint8_t out[STORE_IDEM_KEY_MAX])
{
    size_t n = strlen(function) + 1;
    unsigned int len = 0;

    if (n > 129)
        return 0;
    memcpy(out, function, n);
    EVP_Digest(key, strlen(key), out + n, &len, EVP_sha256(), NULL);
    return n + 32;
}

const char *store_notify_state_name(store_notify_state s)
{
    switch (s) {
    case STORE_NOTIFY_PENDING:
        return "pending";
    case STORE_NOTIFY_DELIVERED:
        return "delivered";
    case STORE_NOTIFY_FAILED:
        return "failed";
    }
    return "unknown";
}

/* ---- dispatchers: one per call of store.h and store_outbox.h, in store_ops's order ---- */

void store_close(store *st)
{
    if (st)
        st->ops->close(st);
}

int store_check_folder(store *st)
{
    return st->ops->check_folder(st);
}

void store_mark_lost(store *st)
{
    st->ops->mark_lost(st);
}

int store_txn_begin(store *st, bool write, store_txn **out)
{
    return st->ops->txn_begin(st, write, out);
}

int store_txn_commit(store_txn *txn)
{
    return txn->st->ops->txn_commit(txn);
}

void store_txn_abort(store_txn *txn)
{
    if (txn)
        txn->st->ops->txn_abort(txn);
}

int store_exec_put(store_txn *txn, const exec_record *rec, const exec_record *prev)
{
    return txn->st->ops->exec_put(txn, rec, prev);
}

int store_exec_get(store_txn *txn, const exec_id *id, exec_record *out)
{
    return txn->st->ops->exec_get(txn, id, out);
}

store_batch *store_batch_new(store *st)
{
    return st->ops->batch_new(st);
}

void store_batch_free(store_batch *b)
{
    if (b)
        b->ops->batch_free(b);
}

void store_batch_reset(store_batch *b)
{
    b->ops->batch_reset(b);
}

bool store_batch_empty(const store_batch *b)
{
    return b->ops->batch_empty(b);
}

int store_batch_exec_put(store_batch *b, const exec_record *rec, const exec_record *prev)
{
    return b->ops->batch_exec_put(b, rec, prev);
}

int store_batch_commit(store *st, store_batch *b)
{
    if (b->ops != st->ops) {
        store_set_error("a batch made by one kind of store was committed to another");
        return TARRY_EINVAL;
    }
    return st->ops->batch_commit(st, b);
}

int store_exec_scan_state(store_txn *txn, exec_state state, store_exec_cb cb, void *user)
{
    return txn->st->ops->exec_scan_state(txn, state, cb, user);
}

int store_pinned_versions(store_txn *txn, store_hash_cb cb, void *user)
{
    return txn->st->ops->pinned_versions(txn, cb, user);
}

int store_pins_count(store_txn *txn, const char *hash, uint64_t max, uint64_t *count)
{
    return txn->st->ops->pins_count(txn, hash, max, count);
}

int store_exec_ids_in_state(store_txn *txn, exec_state state, store_id_cb cb, void *user)
{
    return txn->st->ops->exec_ids_in_state(txn, state, cb, user);
}

int store_exec_list(store_txn *txn, const store_list_query *q, store_exec_cb cb, void *user, bool *more)
{
    return txn->st->ops->exec_list(txn, q, cb, user, more);
}

int store_timer_first(store_txn *txn, int64_t *due_ms, exec_id *id)
{
    return txn->st->ops->timer_first(txn, due_ms, id);
}

int store_timer_each(store_txn *txn, store_timer_cb cb, void *user)
{
    return txn->st->ops->timer_each(txn, cb, user);
}

int store_timer_scan_due(store_txn *txn, int64_t now_ms, store_exec_cb cb, void *user)
{
    return txn->st->ops->timer_scan_due(txn, now_ms, cb, user);
}

int store_log_put(store_txn *txn, const exec_id *id, const store_log_line *line)
{
    return txn->st->ops->log_put(txn, id, line);
}

int store_batch_log_put(store_batch *b, const exec_id *id, const store_log_line *line)
{
    return b->ops->batch_log_put(b, id, line);
}

int store_log_scan(store_txn *txn, const exec_id *id, store_log_cb cb, void *user)
{
    return txn->st->ops->log_scan(txn, id, cb, user);
}

int store_log_scan_from(store_txn *txn, const exec_id *id, uint32_t from, store_log_cb cb, void *user)
{
    return txn->st->ops->log_scan_from(txn, id, from, cb, user);
}

int store_reruns_scan(store_txn *txn, const exec_id *id, store_id_cb cb, void *user)
{
    return txn->st->ops->reruns_scan(txn, id, cb, user);
}

int store_batch_caller_put(store_batch *b, const exec_id *child, const store_caller *c)
{
    return b->ops->batch_caller_put(b, child, c);
}

int store_caller_put(store_txn *txn, const exec_id *child, const store_caller *c)
{
    return txn->st->ops->caller_put(txn, child, c);
}

int store_batch_caller_del(store_batch *b, const exec_id *child, const exec_id *parent, uint32_t seq)
{
    return b->ops->batch_caller_del(b, child, parent, seq);
}

int store_callers_scan(store_txn *txn, const exec_id *child, store_caller_cb cb, void *user)
{
    return txn->st->ops->callers_scan(txn, child, cb, user);
}

int store_fn_crashes_put(store_txn *txn, const char *function, const store_fn_crashes *c)
{
    return txn->st->ops->fn_crashes_put(txn, function, c);
}

int store_batch_fn_crashes_put(store_batch *b, const char *function, const store_fn_crashes *c)
{
    return b->ops->batch_fn_crashes_put(b, function, c);
}

int store_fn_crashes_scan(store_txn *txn, store_fn_crashes_cb cb, void *user)
{
    return txn->st->ops->fn_crashes_scan(txn, cb, user);
}

int store_batch_cron_put(store_batch *b, const char *function, int64_t covered_until, const char *expr)
{
    return b->ops->batch_cron_put(b, function, covered_until, expr);
}

int store_cron_put(store_txn *txn, const char *function, int64_t covered_until, const char *expr)
{
    return txn->st->ops->cron_put(txn, function, covered_until, expr);
}

int store_cron_scan(store_txn *txn, store_cron_cb cb, void *user)
{
    return txn->st->ops->cron_scan(txn, cb, user);
}

int store_attempt_put(store_txn *txn, const exec_id *id, const store_attempt *a)
{
    return txn->st->ops->attempt_put(txn, id, a);
}

int store_batch_attempt_put(store_batch *b, const exec_id *id, const store_attempt *a)
{
    return b->ops->batch_attempt_put(b, id, a);
}

int store_attempt_scan(store_txn *txn, const exec_id *id, store_attempt_cb cb, void *user)
{
    return txn->st->ops->attempt_scan(txn, id, cb, user);
}

int store_journal_put(store_txn *txn, const exec_id *id, const journal_entry *entry)
{
    return txn->st->ops->journal_put(txn, id, entry);
}

int store_batch_journal_put(store_batch *b, const exec_id *id, const journal_entry *entry)
{
    return b->ops->batch_journal_put(b, id, entry);
}

int store_batch_journal_del(store_batch *b, const exec_id *id, uint32_t seq)
{
    return b->ops->batch_journal_del(b, id, seq);
}

int store_journal_get(store_txn *txn, const exec_id *id, uint32_t seq, journal_entry *out)
{
    return txn->st->ops->journal_get(txn, id, seq, out);
}

int store_journal_scan(store_txn *txn, const exec_id *id, store_journal_cb cb, void *user)
{
    return txn->st->ops->journal_scan(txn, id, cb, user);
}

int store_idem_get(store_txn *txn, const char *function, const char *key, store_idem *out)
{
    return txn->st->ops->idem_get(txn, function, key, out);
}

int store_batch_idem_put(store_batch *b, const char *function, const char *key, const store_idem *v)
{
    return b->ops->batch_idem_put(b, function, key, v);
}

int store_idem_expired(store_txn *txn, int64_t now_ms, store_idem_pos *pos, size_t max,
                       store_idem_expired_cb cb, void *user)
{
    return txn->st->ops->idem_expired(txn, now_ms, pos, max, cb, user);
}

int store_batch_idem_del_raw(store_batch *b, const void *key, size_t len)
{
    return b->ops->batch_idem_del_raw(b, key, len);
}

int store_exec_query(store_txn *txn, const store_query *q, store_exec_cb cb, void *user, bool *more,
                     exec_id *next)
{
    return txn->st->ops->exec_query(txn, q, cb, user, more, next);
}

int store_exec_count(store_txn *txn, const char *function, exec_state state, uint64_t max, uint64_t *count)
{
    return txn->st->ops->exec_count(txn, function, state, max, count);
}

int store_usage_read(store_txn *txn, store_usage *out)
{
    return txn->st->ops->usage_read(txn, out);
}

int store_batch_retention_put(store_batch *b, int64_t expire_at, const exec_id *id)
{
    return b->ops->batch_retention_put(b, expire_at, id);
}

int store_retention_first(store_txn *txn, int64_t *expire_at, exec_id *id)
{
    return txn->st->ops->retention_first(txn, expire_at, id);
}

int store_retention_due(store_txn *txn, int64_t now_ms, store_retention_cb cb, void *user)
{
    return txn->st->ops->retention_due(txn, now_ms, cb, user);
}

int store_batch_exec_purge(store_batch *b, int64_t expire_at, const exec_id *id, int64_t postpone_to)
{
    return b->ops->batch_exec_purge(b, expire_at, id, postpone_to);
}

int store_retention_info_get(store_txn *txn, store_retention_info *out)
{
    return txn->st->ops->retention_info_get(txn, out);
}

int store_retention_build(store *st, store_retention_of_cb retention_of, void *user)
{
    return st->ops->retention_build(st, retention_of, user);
}

int store_batch_notify_put(store_batch *b, const store_notify *n, int64_t prev_due)
{
    return b->ops->batch_notify_put(b, n, prev_due);
}

int store_notify_scan(store_txn *txn, const exec_id *id, store_notify_cb cb, void *user)
{
    return txn->st->ops->notify_scan(txn, id, cb, user);
}

int store_outbox_scan(store_txn *txn, store_notify_cb cb, void *user)
{
    return txn->st->ops->outbox_scan(txn, cb, user);
}

int store_outbox_count(store_txn *txn, uint64_t *count)
{
    return txn->st->ops->outbox_count(txn, count);
}

/* What a walked index does not decide, checked on each record read: both stores list alike. */
bool store_query_matches(const store_query *q, const exec_record *r)
{
    if (q->states && !(q->states & (1u << r->state)))
        return false;
    if (q->function_count) {
        size_t i;
        for (i = 0; i < q->function_count; i++)
            if (strcmp(q->functions[i], r->function) == 0)
                break;
        if (i == q->function_count)
            return false;
    }
    if (q->created_from && r->created_at < q->created_from)
        return false;
    if (q->created_to && r->created_at >= q->created_to)
        return false;
    if ((q->finished_from || q->finished_to) && !r->finished_at)
        return false;
    if (q->finished_from && r->finished_at < q->finished_from)
        return false;
    if (q->finished_to && r->finished_at >= q->finished_to)
        return false;
    if (q->error_contains && (!r->error || !strstr(r->error, q->error_contains)))
        return false;
    for (size_t i = 0; i < q->meta_count; i++)
        if (!exec_opts_metadata_has(r->metadata, q->meta_keys[i], q->meta_values[i]))
            return false;
    return true;
}

/* ---- hosts sharing the store (store_cluster.h) -------------------------------------------- */

int store_host_join(store *st, const store_host_info *me, const char *prev_id, store_event_cb cb, void *user)
{
    return st->ops->host_join(st, me, prev_id, cb, user);
}

int store_claim(store *st, store_claim_kind kind, int64_t now_ms, size_t max, size_t *claimed, size_t *left)
{
    size_t none;
    return st->ops->claim(st, kind, now_ms, max, claimed, left ? left : &none);
}

size_t store_live_hosts(store *st)
{
    return st->ops->live_hosts(st);
}

int store_batch_host_plugins(store_batch *b, const char *json)
{
    return b->ops->batch_host_plugins(b, json);
}

int store_batch_release(store_batch *b, const exec_id *id)
{
    return b->ops->batch_release(b, id);
}

int store_batch_cancel_request(store_batch *b, const exec_id *id)
{
    return b->ops->batch_cancel_request(b, id);
}

int store_cancel_requests_scan(store_txn *txn, store_id_cb cb, void *user)
{
    return txn->st->ops->cancel_requests_scan(txn, cb, user);
}

int store_free_queued_count(store_txn *txn, uint64_t *count)
{
    return txn->st->ops->free_queued_count(txn, count);
}

int store_batch_announce(store_batch *b, unsigned events)
{
    return b->ops->batch_announce(b, events);
}

bool store_batch_conflict(const store_batch *b, exec_id *id)
{
    if (b->has_conflict)
        *id = b->conflict;
    return b->has_conflict;
}

int store_hosts_scan(store_txn *txn, int64_t left_within_ms, store_host_cb cb, void *user)
{
    return txn->st->ops->hosts_scan(txn, left_within_ms, cb, user);
}

int store_exec_holder(store_txn *txn, const exec_id *id, store_host_cb cb, void *user)
{
    return txn->st->ops->exec_holder(txn, id, cb, user);
}

/* ---- plugin versions' bytes ---- */

int store_plugin_put(store *st, const char *hash, const char *name, const char *version, const void *bytes,
                     size_t len)
{
    return st->ops->plugin_put(st, hash, name, version, bytes, len);
}

int store_plugin_get(store *st, const char *hash, void **bytes, size_t *len)
{
    return st->ops->plugin_get(st, hash, bytes, len);
}
