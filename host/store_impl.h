/*
 * store_impl.h - what an implementation of the store provides (store.h is
 * what the engine sees). Only store.c and the implementations include it:
 * LMDB (store_lmdb*.c) and PostgreSQL (store_pg*.c).
 *
 * An implementation's store, read transaction and batch each begin with the
 * header below as their first member, so a store *, store_txn * or
 * store_batch * points at the implementation's own struct and the
 * implementation casts it back. The header says which implementation an
 * object belongs to: store.c's dispatchers are one line each, an indirect
 * call through the ops table, and never allocate or lock.
 *
 * Every member of store_ops is a public function of store.h or
 * store_outbox.h with the same parameters and the same documented
 * semantics, named as the function without its `store_` prefix. The
 * functions common to every implementation are store.c's: store_open_url,
 * store_url_check, store_kind, store_where, store_idem_key, store_notify_state_name, store_last_error and
 * store_set_error. Each implementation provides its opener (store_open for
 * LMDB, store_pg_open) and its ops table; an implementation reports a
 * failure's reason with store_set_error on the failing thread.
 *
 * A member is never NULL. A dispatcher checks only what the public
 * function documents as accepted (store_close(NULL), store_batch_free(NULL),
 * store_txn_abort(NULL) do nothing; store_batch_commit refuses a batch of
 * another implementation).
 */
#ifndef TARRY_STORE_IMPL_H
#define TARRY_STORE_IMPL_H

#include "store.h"
#include "store_cluster.h"
#include "store_outbox.h"

/* First member of every implementation's store. `where` is set by the opener (store_where); a
 * string the implementation keeps for the store's life. */
struct store {
    const struct store_ops *ops;
    const char *where;
};

/* First member of every implementation's transaction. */
struct store_txn {
    store *st;
};

/* First member of every implementation's batch: a batch belongs to the store that made it. */
struct store_batch {
    const struct store_ops *ops;
    bool has_conflict; /* the last commit failed with TARRY_ECONFLICT on `conflict` (store_cluster.h) */
    exec_id conflict;
};

struct store_ops {
    const char *kind; /* "lmdb", "postgres": store_kind */

    /* the store */
    void (*close)(store *st);
    int (*check_folder)(store *st);
    void (*mark_lost)(store *st);

    /* transactions */
    int (*txn_begin)(store *st, bool write, store_txn **out);
    int (*txn_commit)(store_txn *txn);
    void (*txn_abort)(store_txn *txn);

    /* records */
    int (*exec_put)(store_txn *txn, const exec_record *rec, const exec_record *prev);
    int (*exec_get)(store_txn *txn, const exec_id *id, exec_record *out);

    /* batches */
    store_batch *(*batch_new)(store *st);
    void (*batch_free)(store_batch *b);
    void (*batch_reset)(store_batch *b);
    bool (*batch_empty)(const store_batch *b);
    int (*batch_exec_put)(store_batch *b, const exec_record *rec, const exec_record *prev);
    int (*batch_commit)(store *st, store_batch *b);

    /* scans of records and their indexes */
    int (*exec_scan_state)(store_txn *txn, exec_state state, store_exec_cb cb, void *user);
    int (*pinned_versions)(store_txn *txn, store_hash_cb cb, void *user);
    int (*pins_count)(store_txn *txn, const char *hash, uint64_t max, uint64_t *count);
    int (*exec_ids_in_state)(store_txn *txn, exec_state state, store_id_cb cb, void *user);
    int (*exec_list)(store_txn *txn, const store_list_query *q, store_exec_cb cb, void *user, bool *more);
    int (*timer_first)(store_txn *txn, int64_t *due_ms, exec_id *id);
    int (*timer_each)(store_txn *txn, store_timer_cb cb, void *user);
    int (*timer_scan_due)(store_txn *txn, int64_t now_ms, store_exec_cb cb, void *user);

    /* logs and re-runs */
    int (*log_put)(store_txn *txn, const exec_id *id, const store_log_line *line);
    int (*batch_log_put)(store_batch *b, const exec_id *id, const store_log_line *line);
    int (*log_scan)(store_txn *txn, const exec_id *id, store_log_cb cb, void *user);
    int (*log_scan_from)(store_txn *txn, const exec_id *id, uint32_t from, store_log_cb cb, void *user);
    int (*reruns_scan)(store_txn *txn, const exec_id *id, store_id_cb cb, void *user);

    /* callers */
    int (*batch_caller_put)(store_batch *b, const exec_id *child, const store_caller *c);
    int (*caller_put)(store_txn *txn, const exec_id *child, const store_caller *c);
    int (*batch_caller_del)(store_batch *b, const exec_id *child, const exec_id *parent, uint32_t seq);
    int (*callers_scan)(store_txn *txn, const exec_id *child, store_caller_cb cb, void *user);

    /* crash histories */
    int (*fn_crashes_put)(store_txn *txn, const char *function, const store_fn_crashes *c);
    int (*batch_fn_crashes_put)(store_batch *b, const char *function, const store_fn_crashes *c);
    int (*fn_crashes_scan)(store_txn *txn, store_fn_crashes_cb cb, void *user);

    /* cron marks */
    int (*batch_cron_put)(store_batch *b, const char *function, int64_t covered_until, const char *expr);
    int (*cron_put)(store_txn *txn, const char *function, int64_t covered_until, const char *expr);
    int (*cron_scan)(store_txn *txn, store_cron_cb cb, void *user);

    /* attempts */
    int (*attempt_put)(store_txn *txn, const exec_id *id, const store_attempt *a);
    int (*batch_attempt_put)(store_batch *b, const exec_id *id, const store_attempt *a);
    int (*attempt_scan)(store_txn *txn, const exec_id *id, store_attempt_cb cb, void *user);

    /* journals */
    int (*journal_put)(store_txn *txn, const exec_id *id, const journal_entry *entry);
    int (*batch_journal_put)(store_batch *b, const exec_id *id, const journal_entry *entry);
    int (*batch_journal_del)(store_batch *b, const exec_id *id, uint32_t seq);
    int (*journal_get)(store_txn *txn, const exec_id *id, uint32_t seq, journal_entry *out);
    int (*journal_scan)(store_txn *txn, const exec_id *id, store_journal_cb cb, void *user);

    /* idempotency keys */
    int (*idem_get)(store_txn *txn, const char *function, const char *key, store_idem *out);
    int (*batch_idem_put)(store_batch *b, const char *function, const char *key, const store_idem *v);
    int (*idem_expired)(store_txn *txn, int64_t now_ms, store_idem_pos *pos, size_t max,
                        store_idem_expired_cb cb, void *user);
    int (*batch_idem_del_raw)(store_batch *b, const void *key, size_t len);

    /* filtered listing */
    int (*exec_query)(store_txn *txn, const store_query *q, store_exec_cb cb, void *user, bool *more,
                      exec_id *next);
    int (*exec_count)(store_txn *txn, const char *function, exec_state state, uint64_t max, uint64_t *count);

    /* usage */
    int (*usage_read)(store_txn *txn, store_usage *out);

    /* retention */
    int (*batch_retention_put)(store_batch *b, int64_t expire_at, const exec_id *id);
    int (*retention_first)(store_txn *txn, int64_t *expire_at, exec_id *id);
    int (*retention_due)(store_txn *txn, int64_t now_ms, store_retention_cb cb, void *user);
    int (*batch_exec_purge)(store_batch *b, int64_t expire_at, const exec_id *id, int64_t postpone_to);
    int (*retention_info_get)(store_txn *txn, store_retention_info *out);
    int (*retention_build)(store *st, store_retention_of_cb retention_of, void *user);

    /* failure notifications (store_outbox.h) */
    int (*batch_notify_put)(store_batch *b, const store_notify *n, int64_t prev_due);
    int (*notify_scan)(store_txn *txn, const exec_id *id, store_notify_cb cb, void *user);
    int (*outbox_scan)(store_txn *txn, store_notify_cb cb, void *user);
    int (*outbox_count)(store_txn *txn, uint64_t *count);

    /* hosts sharing the store (store_cluster.h) */
    int (*host_join)(store *st, const store_host_info *me, const char *prev_id, store_event_cb cb, void *user);
    int (*claim)(store *st, store_claim_kind kind, int64_t now_ms, size_t max, size_t *claimed, size_t *left);
    size_t (*live_hosts)(store *st);
    int (*batch_announce)(store_batch *b, unsigned events);
    int (*batch_host_plugins)(store_batch *b, const char *json);
    int (*batch_release)(store_batch *b, const exec_id *id);
    int (*free_queued_count)(store_txn *txn, uint64_t *count);
    int (*hosts_scan)(store_txn *txn, int64_t left_within_ms, store_host_cb cb, void *user);
    int (*exec_holder)(store_txn *txn, const exec_id *id, store_host_cb cb, void *user);
    int (*batch_cancel_request)(store_batch *b, const exec_id *id);
    int (*cancel_requests_scan)(store_txn *txn, store_id_cb cb, void *user);
    /* plugin versions' bytes */
    int (*plugin_put)(store *st, const char *hash, const char *name, const char *version, const void *bytes,
                      size_t len);
    int (*plugin_get)(store *st, const char *hash, void **bytes, size_t *len);
};

/*
 * Open the PostgreSQL store at `url` (postgres:// or postgresql://, as libpq
 * parses it). Returns 0, or a negative TARRY_E* code with the reason in err
 * (the URL named without its password). store_pg_open.c until the
 * PostgreSQL implementation lands.
 */
int store_pg_open(store **out, const char *url, char *err, size_t errlen);

/* Set the calling thread's store_last_error text (copied; at most 767 bytes are kept). */
void store_set_error(const char *msg);

/* Whether record r passes query q's filters (store.c): what the walked index does not decide. */
bool store_query_matches(const store_query *q, const exec_record *r);

#endif
