/*
 * store.h - tarry's durable state, as the engine sees it: one interface,
 * two implementations behind it (store_impl.h): LMDB in the data folder
 * (store_lmdb*.c, the default) and PostgreSQL (store_pg*.c). The engine
 * does not know which it talks to; store_kind() says, for logs and
 * /v1/cluster.
 *
 * What every implementation promises:
 *
 * Records and rows: an execution record and the rows derived from it (by
 * state, by function, timers, pins, metadata, re-runs) are written by
 * store_exec_put / store_batch_exec_put together, so an index never
 * disagrees with its record; the other rows are an execution's journal,
 * attempts and log lines, and the side tables below (callers, crash
 * histories, cron marks, idempotency keys, retention, notifications).
 *
 * Transactions: a read transaction (store_txn_begin(st, false, ...)) is a
 * consistent snapshot of the store as of its beginning, unaffected by
 * commits made while it is open. It may be used on any one thread at a
 * time (the loop thread, the commit thread and every worker read, each in
 * its own), and several may be open at once on one thread, also beside a
 * write. The write path is a batch; a write transaction exists for tests
 * and tools.
 *
 * Batches: a batch is built on one thread and committed on another, and
 * belongs to the store that made it (store_batch_new). Building copies
 * everything it is given into the batch right away, so the caller may
 * change or free its records immediately. One batch is one atomic, durable
 * transaction: store_batch_commit returns 0 only once all of it is on disk
 * (or in the database); on failure none of it is written (TARRY_EBROKEN
 * excepted: see there).
 *
 * Errors: functions return 0 or a negative TARRY_E* code (status.h):
 * TARRY_ENOTFOUND for a missing row, TARRY_EINVAL for an argument out of
 * range, TARRY_ENOMEM, TARRY_EFULL (no room: nothing written, reads go on),
 * TARRY_EIO (the storage failed), TARRY_EBROKEN (the store must be opened
 * again), TARRY_ELOST (the store is gone from under the host). A scan whose
 * callback returns non-zero stops and returns that value. The reason of
 * the calling thread's last failure is store_last_error(): per thread.
 *
 * Lifetimes: strings and records read in a transaction are borrowed from
 * it and valid until that transaction ends (commit or abort); nothing read
 * is to be freed by the caller. Strings handed to a put are copied.
 */
#ifndef TARRY_STORE_H
#define TARRY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

typedef struct store store;
typedef struct store_txn store_txn;

#define STORE_DEFAULT_MAP_SIZE (1ull << 40)      /* 1 TiB of address space */
#define STORE_FALLBACK_MIN_MAP_SIZE (1ull << 30) /* the default shrinks to fit, down to this */
#define STORE_MIN_MAP_SIZE (1ull << 20)

/*
 * Open the store `url` names:
 *   lmdb:DIR, or a plain path DIR      the LMDB store in folder DIR (store_open, with map_size)
 *   postgres://... or postgresql://...  the PostgreSQL store (libpq's URL; map_size is not used)
 * A path with a colon in its first part reads as a scheme: write it lmdb:DIR or ./DIR. Returns 0,
 * TARRY_EINVAL for another scheme or a malformed form (err names the scheme, never the rest of
 * the URL, which may hold a password), or what the implementation's opener returns, with the
 * reason in err.
 */
int store_open_url(store **out, const char *url, uint64_t map_size, char *err, size_t errlen);

/*
 * Check the form of store URL `url` without opening anything (a host's configuration, before it
 * starts). Returns 0 with *lmdb_dir the folder an LMDB URL names (pointing into url) or NULL for
 * a PostgreSQL URL; or TARRY_EINVAL with the reason in err, as store_open_url gives it.
 */
int store_url_check(const char *url, const char **lmdb_dir, char *err, size_t errlen);

/* The LMDB store: open (creating if needed) the environment in `dir`
 * (created if missing), with a map of `map_size` bytes (0:
 * STORE_DEFAULT_MAP_SIZE, or the largest power of two below it that the
 * process can map, with a note in err). Returns 0, or a negative code
 * (TARRY_EINVAL for a map size out of range, TARRY_EEXIST when another host
 * holds the folder, TARRY_ELOST when the folder held a store whose data
 * file is gone: store_lmdb_folder.h) with the reason in err. */
int store_open(store **out, const char *dir, uint64_t map_size, char *err, size_t errlen);
/* Close the store and free it (NULL: nothing). Its transactions must have ended; a batch of it may
 * outlive it, to be freed. */
void store_close(store *st);

/* Which implementation st is: "lmdb" or "postgres" (a static string). */
const char *store_kind(store *st);
/* Where st is, for logs: the LMDB store's folder, or the PostgreSQL store's database without the
 * password (pg_where(): `database "D" on HOST:PORT as user "U"`); valid while st is open. */
const char *store_where(store *st);

/* 0 while the store is the one that was opened (LMDB: the data folder, its
 * data file and its lock file); TARRY_ELOST (reason: store_last_error) when
 * it was deleted or replaced. Any thread. store_batch_commit checks it
 * after every commit. */
int store_check_folder(store *st);
/* The store is lost: make sure no start quietly creates a new, empty one in
 * its place (LMDB: a marker in its folder, so only --init may:
 * store_lmdb_folder.h). */
void store_mark_lost(store *st);

/*
 * Read transactions (write == false): a snapshot, on any one thread at a time
 * (above). The only write path is a batch (below); store_txn_begin(st, true,
 * ...) exists for tests and tools. End every transaction with commit or
 * abort (a read is ended with store_txn_abort; NULL: nothing).
 */
int store_txn_begin(store *st, bool write, store_txn **out);
/* Commit (durable when it returns 0) and free the transaction. On failure the
 * transaction is aborted and a negative code returned. */
int store_txn_commit(store_txn *txn);
void store_txn_abort(store_txn *txn);

/* A readable reason for the calling thread's last store failure ("no error" when none); valid
 * until the thread's next store call. */
const char *store_last_error(store *st);

/*
 * Write `rec` and move its index entries from `prev` (the record as last
 * written, or NULL for a new record) to their new places, in an open write
 * transaction. Only prev's state, scheduled_at, wake_at and plugin_hash are
 * read (an execution's function never changes). The timers index holds
 * scheduled executions at scheduled_at and waiting ones at wake_at (when
 * non-zero); `pins` holds unfinished ones under their plugin_hash.
 */
int store_exec_put(store_txn *txn, const exec_record *rec, const exec_record *prev);

/* Read one record; TARRY_ENOTFOUND if absent. Strings borrow from the txn. */
int store_exec_get(store_txn *txn, const exec_id *id, exec_record *out);

/* ---- batches: the group-commit write path ----------------------------------
 *
 * A batch is built on one thread and committed on another: building encodes
 * every record and index change into the batch's own memory right away, so
 * the caller may change or free its records immediately, and committing
 * touches nothing but the batch and the store. One batch is one write
 * transaction.
 */
typedef struct store_batch store_batch;

/* A new, empty batch for st (committed with store_batch_commit(st, ...) only); NULL when out of
 * memory. */
store_batch *store_batch_new(store *st);
void store_batch_free(store_batch *b); /* NULL: nothing */
/* Forget the contents, keep the memory, for the next batch. */
void store_batch_reset(store_batch *b);
bool store_batch_empty(const store_batch *b);

/* Like store_exec_put, into the batch. Returns 0, TARRY_EINVAL (function name
 * too long) or TARRY_ENOMEM. */
int store_batch_exec_put(store_batch *b, const exec_record *rec, const exec_record *prev);

/*
 * Apply the batch in one write transaction and commit it durably (LMDB:
 * fsync). Safe on any thread while other threads read. Returns 0 or a
 * negative code: TARRY_EFULL when the store or the disk is full (nothing
 * was written), TARRY_EIO when the storage failed (nothing was written),
 * TARRY_EBROKEN when the store can no longer write (it must be opened
 * again; if this commit broke it, whether the batch was written is
 * unknown), TARRY_ELOST when it committed into a store that was deleted or
 * replaced meanwhile (store_check_folder: nobody will read it),
 * TARRY_EINVAL for a batch another store made.
 */
int store_batch_commit(store *st, store_batch *b);

/* Return non-zero from a callback to stop the scan; the scan returns it. */
typedef int (*store_exec_cb)(void *user, const exec_record *rec);

/* Every execution in `state`, oldest first. */
int store_exec_scan_state(store_txn *txn, exec_state state, store_exec_cb cb, void *user);

/* Every plugin version (hash) some unfinished execution is pinned to, each
 * once, without loading records; return non-zero from cb to stop. */
typedef int (*store_hash_cb)(void *user, const char *hash);
int store_pinned_versions(store_txn *txn, store_hash_cb cb, void *user);
/* How many unfinished executions are pinned to version `hash`, counting up to max (a count that
 * reached max means "at least"). */
int store_pins_count(store_txn *txn, const char *hash, uint64_t max, uint64_t *count);

/* The ids of executions in `state`, oldest first, without loading records;
 * return non-zero from cb to stop (the scan returns it). */
typedef int (*store_id_cb)(void *user, const exec_id *id);
int store_exec_ids_in_state(store_txn *txn, exec_state state, store_id_cb cb, void *user);

/*
 * List executions newest first. `function` and `state` filter when non-NULL
 * / not EXEC_NONE. `before` (a cursor) starts after that id, exclusive, when
 * non-NULL. Calls cb for at most `limit` records; *more says whether another
 * matched past them.
 */
typedef struct store_list_query {
    const char *function;
    exec_state state;
    const exec_id *before;
    size_t limit;
} store_list_query;
int store_exec_list(store_txn *txn, const store_list_query *q, store_exec_cb cb, void *user, bool *more);

/* The earliest timer: 0 and its due time and id, or TARRY_ENOTFOUND. */
int store_timer_first(store_txn *txn, int64_t *due_ms, exec_id *id);

/* Timers in due order, without loading records; return non-zero from cb to
 * stop (the scan returns it). */
typedef int (*store_timer_cb)(void *user, int64_t due_ms, const exec_id *id);
int store_timer_each(store_txn *txn, store_timer_cb cb, void *user);

/* Timers due at or before `now_ms`, earliest first, as full records. */
int store_timer_scan_due(store_txn *txn, int64_t now_ms, store_exec_cb cb, void *user);

/* One line of an execution's log. `seq` orders lines within an execution. */
typedef struct store_log_line {
    uint32_t seq;
    int64_t time_ms; /* Unix ms, never 0 (PostgreSQL keeps it as a timestamptz, 0 as none) */
    int level;       /* a TARRY_LOG_* level (0 to 3: PostgreSQL keeps it as an enum) */
    const char *text; /* NUL-terminated; borrows from the txn when read */
    uint32_t attempt; /* the attempt that logged it, from 1; 0: written before attempts were kept */
} store_log_line;

/* The seq of the line that says how many lines were dropped (the last of an execution's lines). */
#define STORE_LOG_DROPPED_SEQ UINT32_MAX

int store_log_put(store_txn *txn, const exec_id *id, const store_log_line *line);
int store_batch_log_put(store_batch *b, const exec_id *id, const store_log_line *line);

/* Calls cb for each line in seq order; a non-zero return stops the scan and is returned. */
typedef int (*store_log_cb)(void *user, const store_log_line *line);
int store_log_scan(store_txn *txn, const exec_id *id, store_log_cb cb, void *user);
/* The same from the line with seq `from` on (a page: the callback stops it). */
int store_log_scan_from(store_txn *txn, const exec_id *id, uint32_t from, store_log_cb cb, void *user);

/* The re-runs of execution `id` (records whose rerun_of is id), oldest
 * first, without loading records; return non-zero from cb to stop (the scan
 * returns it). The index is written with a re-run's first record. */
int store_reruns_scan(store_txn *txn, const exec_id *id, store_id_cb cb, void *user);

/* ---- callers: parents sharing a child by its idempotency key ---------------- */

/* A call entry (parent's journal, seq) that names a child another call made, and waits for it. */
typedef struct store_caller {
    exec_id parent;
    uint32_t seq;
    bool detached;
} store_caller;
/* Write (insert or replace) / delete one caller of `child`. */
int store_batch_caller_put(store_batch *b, const exec_id *child, const store_caller *c);
int store_caller_put(store_txn *txn, const exec_id *child, const store_caller *c);
int store_batch_caller_del(store_batch *b, const exec_id *child, const exec_id *parent, uint32_t seq);
/* `child`'s callers by (parent, seq); a non-zero return from cb stops the scan and is returned. */
typedef int (*store_caller_cb)(void *user, const store_caller *c);
int store_callers_scan(store_txn *txn, const exec_id *child, store_caller_cb cb, void *user);

/* ---- functions' crash histories ----------------------------------------------- */

#define STORE_FN_CRASHES_KEPT 16 /* the most --quarantine-crashes can ask for */

/* The executions of one function (at one plugin version) that crashed the host, newest first. */
typedef struct store_fn_crashes {
    char hash[24];  /* the plugin version they ran; "" in a put deletes the entry */
    uint32_t count; /* entries in at[] and ids[] */
    int64_t at[STORE_FN_CRASHES_KEPT];
    exec_id ids[STORE_FN_CRASHES_KEPT];
    int64_t quarantined_at; /* Unix ms; 0: not quarantined */
    const char *reason;     /* why, or NULL; borrows from the txn when read */
} store_fn_crashes;

/* Write (or, with an empty hash, delete) a function's history. 0, TARRY_EINVAL or TARRY_ENOMEM/EIO. */
int store_fn_crashes_put(store_txn *txn, const char *function, const store_fn_crashes *c);
int store_batch_fn_crashes_put(store_batch *b, const char *function, const store_fn_crashes *c);
/* Every function's history; return non-zero from cb to stop. */
typedef int (*store_fn_crashes_cb)(void *user, const char *function, const store_fn_crashes *c);
int store_fn_crashes_scan(store_txn *txn, store_fn_crashes_cb cb, void *user);

/* ---- cron marks ------------------------------------------------------------------ */

/*
 * A function's cron mark (engine_cron.c): every due time of its schedule up
 * to `covered_until` (Unix ms) has been fired (or deliberately skipped),
 * under the expression `expr`. Written in the batch that creates the
 * execution of the due time it covers.
 */
int store_batch_cron_put(store_batch *b, const char *function, int64_t covered_until, const char *expr);
int store_cron_put(store_txn *txn, const char *function, int64_t covered_until, const char *expr);
/* Every function's mark (expr borrows from the txn); a non-zero return from cb stops the scan and is
 * returned. */
typedef int (*store_cron_cb)(void *user, const char *function, int64_t covered_until, const char *expr);
int store_cron_scan(store_txn *txn, store_cron_cb cb, void *user);

/* ---- attempts --------------------------------------------------------------------- */

/* One attempt of an execution, written in the batch that records its end. */
typedef struct store_attempt {
    uint32_t number; /* from 1 */
    int64_t started_at, finished_at;
    exec_state outcome; /* EXEC_SUCCEEDED, EXEC_FAILED or EXEC_CANCELLED */
    bool crashed;       /* the host died during it */
    bool timed_out;     /* it ran past the function's max_duration */
    bool permanent;     /* it failed with tarry_fail_permanent: not retried */
    const char *error;  /* or NULL; borrows from the txn when read */
} store_attempt;

/* Write (insert or replace) attempt a->number of execution `id`. */
int store_attempt_put(store_txn *txn, const exec_id *id, const store_attempt *a);
int store_batch_attempt_put(store_batch *b, const exec_id *id, const store_attempt *a);
/* An execution's attempts in order; a non-zero return from cb stops the scan and is returned. */
typedef int (*store_attempt_cb)(void *user, const store_attempt *a);
int store_attempt_scan(store_txn *txn, const exec_id *id, store_attempt_cb cb, void *user);

/* ---- journals ---------------------------------------------------------------- */

/* Write (insert or replace) entry e->seq of execution `id`'s journal. */
int store_journal_put(store_txn *txn, const exec_id *id, const journal_entry *entry);
int store_batch_journal_put(store_batch *b, const exec_id *id, const journal_entry *entry);
/* Delete entry `seq` of the journal (none there: nothing happens): a retried workflow's failed end. */
int store_batch_journal_del(store_batch *b, const exec_id *id, uint32_t seq);

/* One entry; TARRY_ENOTFOUND if absent. Strings borrow from the txn. */
int store_journal_get(store_txn *txn, const exec_id *id, uint32_t seq, journal_entry *out);

/* An execution's journal in seq order; strings borrow from the txn. */
typedef int (*store_journal_cb)(void *user, const journal_entry *entry);
int store_journal_scan(store_txn *txn, const exec_id *id, store_journal_cb cb, void *user);

/* ---- idempotency keys: (function, sha256(key)) -> id, expiry ------------------------------ */

typedef struct store_idem {
    exec_id id;         /* the execution the key made */
    int64_t expires_at; /* Unix ms: from then on the key is free again (and swept) */
} store_idem;

/* The stored form of (function, key): function NUL sha256(key), into out; its length, or 0 when the
 * function name is over 128 bytes. Lets the engine key its own map of uncommitted keys alike. */
#define STORE_IDEM_KEY_MAX (128 + 1 + 32)
size_t store_idem_key(const char *function, const char *key, uint8_t out[STORE_IDEM_KEY_MAX]);
/* The execution `function`'s `key` names: 0, or TARRY_ENOTFOUND (also when expired but not
 * swept yet: the caller compares expires_at). */
int store_idem_get(store_txn *txn, const char *function, const char *key, store_idem *out);
/* Write (insert or replace) a key, in the batch that creates its execution. */
int store_batch_idem_put(store_batch *b, const char *function, const char *key, const store_idem *v);

/* Where a sweep of expired keys goes on from (the stored key; len 0: from the top). */
typedef struct store_idem_pos {
    uint8_t key[200];
    size_t len;
} store_idem_pos;
/* Called with the stored key of each expired entry; non-zero stops the sweep. */
typedef int (*store_idem_expired_cb)(void *user, const void *key, size_t len);
/* Look at `max` keys from *pos on and call cb for the expired ones; *pos moves on (back to the
 * top after the last key), so a sweep does bounded work per call. */
int store_idem_expired(store_txn *txn, int64_t now_ms, store_idem_pos *pos, size_t max,
                       store_idem_expired_cb cb, void *user);
/* Delete a key as store_idem_expired named it. */
int store_batch_idem_del_raw(store_batch *b, const void *key, size_t len);

/* ---- filtered listing ------------------------------------------------------------------ */

#define STORE_QUERY_MAX_SOURCES 64 /* function x state ranges walked at once, at most */

/*
 * Which executions to list, newest first. Indexed (the walk starts there):
 * the first metadata pair (by_meta), else the functions and states (by_fn_state,
 * by_fn, by_state: one range each, merged by id), and the created range (ids
 * start with their creation time: a seek). Checked on each record read:
 * everything else (the other pairs, finished_*, error_contains).
 */
typedef struct store_query {
    const char *const *functions; /* any of them; function_count 0: every function */
    size_t function_count;
    uint32_t states; /* (1u << state) for each state wanted; 0: every state */
    const char *const *meta_keys, *const *meta_values; /* every pair (ANDed) */
    size_t meta_count;
    int64_t created_from, created_to;   /* [from, to), Unix ms; 0: open */
    int64_t finished_from, finished_to; /* likewise; an unfinished execution matches neither */
    const char *error_contains;         /* a substring of the error; NULL: any */
    const exec_id *before;              /* a cursor: start after this id (exclusive) */
    size_t limit;                       /* records handed to cb, at most */
    size_t examine_max;                 /* records read at most (0: no bound) */
} store_query;

/*
 * Call cb for at most q->limit matching records, newest first. *more says
 * whether the list may go on: then *next is the cursor to continue from (the
 * last record handed out, or, when examine_max ran out first, the last one
 * read: a page may then hold fewer than limit records, even none).
 */
int store_exec_query(store_txn *txn, const store_query *q, store_exec_cb cb, void *user, bool *more,
                     exec_id *next);

/* How many executions (of `function`, or of all when NULL) are in `state`, counted up to `max`. */
int store_exec_count(store_txn *txn, const char *function, exec_state state, uint64_t max, uint64_t *count);

/* ---- usage (for /metrics) ----------------------------------------------------------- */

typedef struct store_usage {
    uint64_t used_bytes; /* the store's size on disk (LMDB: pages up to the highest in use) */
    uint64_t map_bytes;  /* how large the store may grow (LMDB: the map's size) */
    uint64_t timers;     /* entries in the timers index: delayed starts, retry waits, sleeps, discard times */
} store_usage;

/* Read in txn (any transaction): 0 or a negative code. Cheap whatever the store holds: no scan. */
int store_usage_read(store_txn *txn, store_usage *out);

/* ---- retention: final executions by when they are deleted -------------------------------------- */

typedef struct store_retention_info {
    int64_t purged_before; /* the latest finished_at of an execution deleted so far; 0: none yet */
    uint64_t deleted;      /* executions deleted by retention, ever */
    bool built;            /* the rows of executions final before this database existed are written */
} store_retention_info;

/* Final execution `id` is deleted at expire_at: its row, in the batch that makes it final. */
int store_batch_retention_put(store_batch *b, int64_t expire_at, const exec_id *id);
/* The earliest row: 0, or TARRY_ENOTFOUND when there is none. */
int store_retention_first(store_txn *txn, int64_t *expire_at, exec_id *id);
typedef int (*store_retention_cb)(void *user, int64_t expire_at, const exec_id *id);
/* Rows due by now_ms, earliest first, until cb returns non-zero (returned; 1 stops quietly). */
int store_retention_due(store_txn *txn, int64_t now_ms, store_retention_cb cb, void *user);
/*
 * Delete execution `id` (row expire_at) and everything of it, when the batch commits, in its
 * transaction: its record and index rows, journal, attempts, logs, re-runs, callers
 * and the idempotency key that names it. One that still has an unfinished child (whose end
 * would write into its journal) is kept, its row moved to postpone_to.
 */
int store_batch_exec_purge(store_batch *b, int64_t expire_at, const exec_id *id, int64_t postpone_to);
int store_retention_info_get(store_txn *txn, store_retention_info *out);
typedef int64_t (*store_retention_of_cb)(void *user, const char *function);
/*
 * A store from before the retention index: write the rows of its final executions
 * (finished_at + retention_of(function); no row where that says 0, "forever"), once, in one
 * write transaction, and remember that it is done. A no-op when it is.
 */
int store_retention_build(store *st, store_retention_of_cb retention_of, void *user);

/* ---- plugin versions' bytes: any host can load any pinned version ---------------------------- */

/*
 * Keep the .so bytes of plugin version `hash` (PLUGIN_HASH_LEN lowercase hex digits: the first
 * 16 of the bytes' SHA-256, plugins.h) of plugin `name` at `version`, so that every host on this
 * store can load it, also one whose plugins folder never held it. Idempotent: a version already
 * kept is left as it is (its bytes are not sent again). Not part of a batch: its own transaction
 * (or statement), durable when it returns 0; any thread, blocking (never on a serving loop). 0,
 * TARRY_EINVAL (a malformed hash, bytes that do not hash to it, or more bytes than the store
 * takes: nothing kept) or an I/O error, with the reason in store_last_error().
 * LMDB keeps nothing and returns 0: one machine has one host, whose data folder's plugins/ is
 * the version store (plugins.h).
 */
int store_plugin_put(store *st, const char *hash, const char *name, const char *version, const void *bytes,
                     size_t len);
/* The bytes of version `hash`: 0 with *bytes (malloc'd, the caller frees) and *len, TARRY_ENOTFOUND
 * (not kept; LMDB: always), or another code with the reason in store_last_error(). Any thread,
 * blocking. The caller checks the bytes against the hash before it trusts them. */
int store_plugin_get(store *st, const char *hash, void **bytes, size_t *len);

#endif
