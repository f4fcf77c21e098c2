/*
 * store_lmdb_int.h - the LMDB implementation of the store (store_impl.h):
 * what its files share: the environment and its databases, transactions,
 * the write sink (a write transaction or a batch) and the error reporting.
 * Only store_lmdb*.c include it; it is the one header that includes lmdb.h,
 * so LMDB stays out of every other room (and out of store.c).
 *
 * One LMDB environment in the data folder, keyed by binary, sortable keys;
 * execution ids are time-ordered, so id order is creation order. Named
 * databases:
 *   exec         id -> encoded exec_record
 *   by_state     state(1) id -> ""                (queues, recovery, listing)
 *   by_fn        function NUL id -> ""            (listing by function)
 *   by_fn_state  function NUL state(1) id -> ""   (listing by function+state)
 *   timers       due_ms(8, big-endian) id -> ""   (delayed starts, durable sleeps, and the discard_after
 *                                               of unstarted executions, by due time: store_lmdb.c timer_at)
 *   logs         id seq(4, big-endian) -> time(8) level(1) text NUL attempt(4)
 *                (attempt absent in lines from before it was kept: read as 0)
 *   journal      id seq(4, big-endian) -> encoded journal_entry (durable commands)
 *   pins         hash(16) id -> ""            (unfinished executions by the plugin version they are
 *                                              pinned to: which versions must stay loaded)
 *   fn_crashes   function -> crash history    (executions of it that crashed the host, and whether
 *                                              it is quarantined: engine_quarantine.c)
 *   attempts     id number(4, big-endian) -> one attempt (start, end, outcome, error)
 *   idem         idempotency keys             (per function)
 *   by_meta      metadata index               (listing by metadata key=value)
 *   cron         function -> the last due time its schedule fired
 *   reruns       original id, re-run id -> "" (an execution's re-runs)
 *   callers      child id, parent id, seq(4, big-endian) -> flags (calls of other parents that
 *                                              share the child by its idempotency key)
 *   notify       failure notifications, outbox  pending ones by due time (store_lmdb_outbox.c)
 *   retention    expire_at(8, big-endian) id -> ""  (final executions by when retention deletes
 *                                              them), and one "~meta" row (store_lmdb_retention.c)
 * The indexes are kept by lmdb_exec_put, so callers cannot forget one.
 *
 * Threads: reads happen on the loop thread and on workers (a pass reads its
 * journal there), each in its own read transaction, reset and kept per
 * thread for reuse; batches commit on the engine's commit thread, with full
 * fsync (LMDB's default durability). Records read in a transaction point
 * into the LMDB map.
 *
 * Size: the map is set once at open and never resized (LMDB forbids a
 * resize while any transaction is open, and workers read at any time). It
 * is address space, not memory or disk: the default is far larger than any
 * store will be. A write that does not fit in the map or on the disk fails
 * with TARRY_EFULL and changes nothing; reads go on working.
 *
 * The implementation is one room in several files, each a group of
 * databases: store_lmdb.c (opening, transactions, batches, records and
 * their indexes, timers, listing, the ops table), store_lmdb_journal.c (an
 * execution's journal, attempts and log lines), store_lmdb_keys.c
 * (idempotency keys, shared children's callers, crash histories, cron
 * marks), store_lmdb_retention.c (final executions by when they expire, and
 * their deletion), store_lmdb_outbox.c (failure notifications),
 * store_lmdb_usage.c (size and timers for /metrics), store_lmdb_folder.c (the
 * data folder's identity). A new database gets an id below (and its name in
 * store_lmdb.c's db_names), then its own file. Everything here is static or
 * `lmdb_`-prefixed, reached from outside only through store_lmdb_ops.
 */
#ifndef TARRY_STORE_LMDB_INT_H
#define TARRY_STORE_LMDB_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "store_impl.h"
#include "store_lmdb_folder.h"

enum {
    DB_EXEC,
    DB_BY_STATE,
    DB_BY_FN,
    DB_BY_FN_STATE,
    DB_TIMERS,
    DB_LOGS,
    DB_JOURNAL,
    DB_PINS,
    DB_FN_CRASHES,
    DB_ATTEMPTS,
    DB_IDEM,
    DB_BY_META,
    DB_CRON,
    DB_RERUNS,
    DB_CALLERS,
    DB_NOTIFY,    /* store_lmdb_outbox.c: failure notifications by execution */
    DB_OUTBOX,    /* store_lmdb_outbox.c: pending notifications by due time */
    DB_RETENTION, /* store_lmdb_retention.c: final executions by when they are deleted */
    DB_COUNT
};

#define PIN_HASH_LEN 16 /* a plugin version's hash (plugins.h's PLUGIN_HASH_LEN) */

typedef struct lmdb_store lmdb_store;
typedef struct lmdb_txn lmdb_txn;
typedef struct lmdb_batch lmdb_batch;

struct lmdb_store {
    struct store base; /* first: ops = &store_lmdb_ops */
    MDB_env *env;
    int lock_fd; /* flock()ed for the store's lifetime: one host per data folder */
    MDB_dbi db[DB_COUNT];
    uint64_t epoch;       /* tells a thread's cached read transactions from a closed store's */
    char *dir;            /* the data folder, for its free space */
    store_folder_ids ids; /* the folder, data file and lock file when opened (store_check_folder) */
    pthread_mutex_t cached_lock;
    lmdb_txn *cached; /* every read transaction kept for reuse, any thread (closed with the store) */
};

/*
 * Where encoded writes go: straight into an open write transaction, or
 * into a batch's arena to be applied later on the commit thread. The
 * encoding code is shared, so both paths write byte-identical data.
 */
typedef struct sink {
    lmdb_txn *txn;
    lmdb_batch *batch;
} sink;

/* A batch is a run of ops in one buffer: head, key, value, padded to 8. */
struct op_head {
    uint8_t kind; /* OP_PUT or OP_DEL */
    uint8_t db;
    uint16_t klen;
    uint32_t vlen;
};
/* OP_PURGE: key a retention row, value a postpone time (8): expanded on the commit thread into
 * the deletes of the execution the row names (store_lmdb_retention.c). */
enum { OP_PUT, OP_DEL, OP_PURGE };

struct lmdb_batch {
    struct store_batch base; /* first: ops = &store_lmdb_ops */
    char *buf;
    size_t len, cap;
};

struct lmdb_txn {
    struct store_txn base; /* first: base.st is st */
    lmdb_store *st;
    MDB_txn *txn;
    bool write;
    bool idle;             /* reset, in its thread's cache */
    bool registered;       /* in st->cached */
    lmdb_txn *next_cached; /* in st->cached */
};

#define MAX_INDEX_KEY 300 /* function names are at most 128 bytes */

/* Map an LMDB error to a TARRY_E* code, with the reason for store_last_error. */
int lmdb_fail(lmdb_store *st, int rc, const char *what);

/* Writes through a sink (store_lmdb.c): room for a value, an empty value, a delete. */
int lmdb_batch_append(lmdb_batch *b, int kind, int db, const void *k, size_t klen, size_t vlen, void **value);
int lmdb_sink_reserve(sink *s, int db, const void *k, size_t klen, size_t vlen, void **value);
int lmdb_sink_put_empty(sink *s, int db, const void *k, size_t klen);
int lmdb_sink_del(sink *s, int db, const void *k, size_t klen);

/* Delete the record of rec and every index row derived from it (store_lmdb.c). */
int lmdb_exec_unindex(sink *out, const exec_record *rec);
/* Decode a record as read from `exec` (store_lmdb.c). */
int lmdb_record_decode(const MDB_val *key, const MDB_val *val, exec_record *r);
/* One OP_PURGE op on the commit thread's write transaction (store_lmdb_retention.c). 0 or a TARRY_E* code. */
int lmdb_retention_purge_op(lmdb_store *st, MDB_txn *txn, const MDB_val *key, const MDB_val *val);

/* String lists (store_lmdb.c): records and journal entries end with n strings,
 * decoded in place (the strings point into the map). */
size_t lmdb_strings_size(const char *const *strs, size_t *len, size_t n);
void lmdb_strings_put(char *p, const char *const *strs, const size_t *len, size_t n);
int lmdb_strings_get(const char *p, const char *end, const char **strs, size_t n);

/* Big-endian 64-bit integers, so keys sort by them. */
static inline void be64_put(uint8_t *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

static inline int64_t be64_get(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    return (int64_t)u;
}

/* Delete execution id's notifications and their outbox entries in a write transaction on the
 * commit thread (store_lmdb_outbox.c; retention's purge). An LMDB code. */
int lmdb_notify_purge(lmdb_store *st, MDB_txn *txn, const exec_id *id);

/* The calls behind store_lmdb_ops, one per member (store_impl.h), defined in the store_lmdb*.c file
 * of their databases. */
extern const struct store_ops store_lmdb_ops;
void lmdb_close(store *st);
int lmdb_check_folder(store *st);
void lmdb_mark_lost(store *st);
int lmdb_txn_begin(store *st, bool write, store_txn **out);
int lmdb_txn_commit(store_txn *txn);
void lmdb_txn_abort(store_txn *txn);
int lmdb_exec_put(store_txn *txn, const exec_record *rec, const exec_record *prev);
int lmdb_exec_get(store_txn *txn, const exec_id *id, exec_record *out);
store_batch *lmdb_batch_new(store *st);
void lmdb_batch_free(store_batch *b);
void lmdb_batch_reset(store_batch *b);
bool lmdb_batch_empty(const store_batch *b);
int lmdb_batch_exec_put(store_batch *b, const exec_record *rec, const exec_record *prev);
int lmdb_batch_commit(store *st, store_batch *b);
int lmdb_exec_scan_state(store_txn *txn, exec_state state, store_exec_cb cb, void *user);
int lmdb_pinned_versions(store_txn *txn, store_hash_cb cb, void *user);
int lmdb_pins_count(store_txn *txn, const char *hash, uint64_t max, uint64_t *count);
int lmdb_exec_ids_in_state(store_txn *txn, exec_state state, store_id_cb cb, void *user);
int lmdb_exec_list(store_txn *txn, const store_list_query *q, store_exec_cb cb, void *user, bool *more);
int lmdb_timer_first(store_txn *txn, int64_t *due_ms, exec_id *id);
int lmdb_timer_each(store_txn *txn, store_timer_cb cb, void *user);
int lmdb_timer_scan_due(store_txn *txn, int64_t now_ms, store_exec_cb cb, void *user);
int lmdb_log_put(store_txn *txn, const exec_id *id, const store_log_line *line);
int lmdb_batch_log_put(store_batch *b, const exec_id *id, const store_log_line *line);
int lmdb_log_scan(store_txn *txn, const exec_id *id, store_log_cb cb, void *user);
int lmdb_log_scan_from(store_txn *txn, const exec_id *id, uint32_t from, store_log_cb cb, void *user);
int lmdb_reruns_scan(store_txn *txn, const exec_id *id, store_id_cb cb, void *user);
int lmdb_batch_caller_put(store_batch *b, const exec_id *child, const store_caller *c);
int lmdb_caller_put(store_txn *txn, const exec_id *child, const store_caller *c);
int lmdb_batch_caller_del(store_batch *b, const exec_id *child, const exec_id *parent, uint32_t seq);
int lmdb_callers_scan(store_txn *txn, const exec_id *child, store_caller_cb cb, void *user);
int lmdb_fn_crashes_put(store_txn *txn, const char *function, const store_fn_crashes *c);
int lmdb_batch_fn_crashes_put(store_batch *b, const char *function, const store_fn_crashes *c);
int lmdb_fn_crashes_scan(store_txn *txn, store_fn_crashes_cb cb, void *user);
int lmdb_batch_cron_put(store_batch *b, const char *function, int64_t covered_until, const char *expr);
int lmdb_cron_put(store_txn *txn, const char *function, int64_t covered_until, const char *expr);
int lmdb_cron_scan(store_txn *txn, store_cron_cb cb, void *user);
int lmdb_attempt_put(store_txn *txn, const exec_id *id, const store_attempt *a);
int lmdb_batch_attempt_put(store_batch *b, const exec_id *id, const store_attempt *a);
int lmdb_attempt_scan(store_txn *txn, const exec_id *id, store_attempt_cb cb, void *user);
int lmdb_journal_put(store_txn *txn, const exec_id *id, const journal_entry *entry);
int lmdb_batch_journal_put(store_batch *b, const exec_id *id, const journal_entry *entry);
int lmdb_batch_journal_del(store_batch *b, const exec_id *id, uint32_t seq);
int lmdb_journal_get(store_txn *txn, const exec_id *id, uint32_t seq, journal_entry *out);
int lmdb_journal_scan(store_txn *txn, const exec_id *id, store_journal_cb cb, void *user);
int lmdb_idem_get(store_txn *txn, const char *function, const char *key, store_idem *out);
int lmdb_batch_idem_put(store_batch *b, const char *function, const char *key, const store_idem *v);
int lmdb_idem_expired(store_txn *txn, int64_t now_ms, store_idem_pos *pos, size_t max,
                      store_idem_expired_cb cb, void *user);
int lmdb_batch_idem_del_raw(store_batch *b, const void *key, size_t len);
int lmdb_exec_query(store_txn *txn, const store_query *q, store_exec_cb cb, void *user, bool *more,
                    exec_id *next);
int lmdb_exec_count(store_txn *txn, const char *function, exec_state state, uint64_t max, uint64_t *count);
int lmdb_usage_read(store_txn *txn, store_usage *out);
int lmdb_batch_retention_put(store_batch *b, int64_t expire_at, const exec_id *id);
int lmdb_retention_first(store_txn *txn, int64_t *expire_at, exec_id *id);
int lmdb_retention_due(store_txn *txn, int64_t now_ms, store_retention_cb cb, void *user);
int lmdb_batch_exec_purge(store_batch *b, int64_t expire_at, const exec_id *id, int64_t postpone_to);
int lmdb_retention_info_get(store_txn *txn, store_retention_info *out);
int lmdb_retention_build(store *st, store_retention_of_cb retention_of, void *user);
int lmdb_batch_notify_put(store_batch *b, const store_notify *n, int64_t prev_due);
int lmdb_notify_scan(store_txn *txn, const exec_id *id, store_notify_cb cb, void *user);
int lmdb_outbox_scan(store_txn *txn, store_notify_cb cb, void *user);
int lmdb_outbox_count(store_txn *txn, uint64_t *count);

/* store_lmdb_cluster.c: one host's store */
int lmdb_host_join(store *st, const store_host_info *me, const char *prev_id, store_event_cb cb, void *user);
int lmdb_claim(store *st, store_claim_kind kind, int64_t now_ms, size_t max, size_t *claimed, size_t *left);
int lmdb_batch_announce(store_batch *b, unsigned events);
int lmdb_batch_host_plugins(store_batch *b, const char *json);
int lmdb_batch_release(store_batch *b, const exec_id *id);
int lmdb_free_queued_count(store_txn *txn, uint64_t *count);
size_t lmdb_live_hosts(store *st);
int lmdb_hosts_scan(store_txn *txn, int64_t left_within_ms, store_host_cb cb, void *user);
int lmdb_exec_holder(store_txn *txn, const exec_id *id, store_host_cb cb, void *user);
int lmdb_batch_cancel_request(store_batch *b, const exec_id *id);
int lmdb_cancel_requests_scan(store_txn *txn, store_id_cb cb, void *user);

#endif
