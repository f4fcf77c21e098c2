/*
 * store_int.h - what the store's files share: the LMDB environment and its
 * databases, transactions, the write sink (a write transaction or a batch)
 * and the error reporting. Only store*.c include it; it is the one header
 * that includes lmdb.h, so LMDB stays out of every other room.
 *
 * The store is one room in several files, each a group of databases:
 * store.c (opening, transactions, batches, records and their indexes,
 * timers, listing), store_journal.c (an execution's journal, attempts and
 * log lines), store_keys.c (idempotency keys, shared children's callers,
 * crash histories, cron marks), store_retention.c (final executions by when
 * they expire, and their deletion). A new database gets an id below (and its
 * name in store.c's db_names), then its own file.
 */
#ifndef TARRY_STORE_LMDB_INT_H
#define TARRY_STORE_LMDB_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "store.h"
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
    DB_NOTIFY, /* store_outbox.c: failure notifications by execution */
    DB_OUTBOX, /* store_outbox.c: pending notifications by due time */
    DB_RETENTION, /* store_retention.c: final executions by when they are deleted */
    DB_COUNT
};

#define PIN_HASH_LEN 16 /* a plugin version's hash (plugins.h's PLUGIN_HASH_LEN) */

struct store {
    MDB_env *env;
    int lock_fd; /* flock()ed for the store's lifetime: one host per data folder */
    MDB_dbi db[DB_COUNT];
    uint64_t epoch;       /* tells a thread's cached read transactions from a closed store's */
    char *dir;            /* the data folder, for its free space */
    store_folder_ids ids; /* the folder, data file and lock file when opened (store_check_folder) */
    pthread_mutex_t cached_lock;
    struct store_txn *cached; /* every read transaction kept for reuse, any thread (closed with the store) */
};

/*
 * Where encoded writes go: straight into an open write transaction, or
 * into a batch's arena to be applied later on the commit thread. The
 * encoding code is shared, so both paths write byte-identical data.
 */
typedef struct sink {
    store_txn *txn;
    store_batch *batch;
} sink;

/* A batch is a run of ops in one buffer: head, key, value, padded to 8. */
struct op_head {
    uint8_t kind; /* OP_PUT or OP_DEL */
    uint8_t db;
    uint16_t klen;
    uint32_t vlen;
};
/* OP_PURGE: key a retention row, value a postpone time (8): expanded on the commit thread into
 * the deletes of the execution the row names (store_retention.c). */
enum { OP_PUT, OP_DEL, OP_PURGE };

struct store_batch {
    char *buf;
    size_t len, cap;
};

struct store_txn {
    store *st;
    MDB_txn *txn;
    bool write;
    bool idle;                     /* reset, in its thread's cache */
    bool registered;               /* in st->cached */
    struct store_txn *next_cached; /* in st->cached */
};

#define MAX_INDEX_KEY 300 /* function names are at most 128 bytes */

/* Map an LMDB error to a TARRY_E* code, with the reason for store_last_error. */
int store_fail(store *st, int rc, const char *what);
/* Set this thread's store_last_error text (for errors that are not LMDB's). */
void store_set_error(const char *msg);

/* Writes through a sink (store.c): room for a value, an empty value, a delete. */
int batch_append(store_batch *b, int kind, int db, const void *k, size_t klen, size_t vlen, void **value);
int sink_reserve(sink *s, int db, const void *k, size_t klen, size_t vlen, void **value);
int sink_put_empty(sink *s, int db, const void *k, size_t klen);
int sink_del(sink *s, int db, const void *k, size_t klen);

/* Delete the record of rec and every index row derived from it (store.c). */
int store_exec_unindex(sink *out, const exec_record *rec);
/* Decode a record as read from `exec` (store.c). */
int store_record_decode(const MDB_val *key, const MDB_val *val, exec_record *r);
/* One OP_PURGE op on the commit thread's write transaction (store_retention.c). 0 or a TARRY_E* code. */
int store_retention_purge_op(store *st, MDB_txn *txn, const MDB_val *key, const MDB_val *val);

/* String lists (store.c): records and journal entries end with n strings,
 * decoded in place (the strings point into the map). */
size_t strings_size(const char *const *strs, size_t *len, size_t n);
void strings_put(char *p, const char *const *strs, const size_t *len, size_t n);
int strings_get(const char *p, const char *end, const char **strs, size_t n);

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
 * commit thread (store_outbox.c; retention's purge). An LMDB code. */
int store_notify_purge(store *st, MDB_txn *txn, const exec_id *id);

#endif
