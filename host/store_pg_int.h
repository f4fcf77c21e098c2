/*
 * store_pg_int.h - what the PostgreSQL store's files share: the store, its
 * transactions and batches, running a statement with errors that name the
 * step and the database, writing through a sink (a write transaction or a
 * batch), parameters as text and columns read back, and the execution
 * record's codec. Only store_pg*.c include it (it includes libpq-fe.h).
 *
 * The room is one implementation of store_impl.h in several files, each a
 * group of tables: store_pg.c (opening, the connection pool, transactions,
 * batches and their commit, errors, the ops table), store_pg_exec.c (the
 * record and its metadata rows), store_pg_query.c (scans and listings of
 * executions), store_pg_journal.c (journal, attempts, logs), store_pg_keys.c
 * (callers, crash histories, cron marks, idempotency keys),
 * store_pg_outbox.c (notifications), store_pg_retention.c (retention),
 * store_pg_plugins.c (plugin versions' bytes) and store_pg_bulk.c (a
 * batch's writes of executions, attempts and journal entries grouped into
 * one statement per kind at commit).
 *
 * Rules every file keeps: statements use $n parameters (never a value
 * pasted into SQL), their texts are static literals next to the function
 * that runs them; ids are tarry_id text (id_format), every time column is
 * written as tarry_ts($n) and read as tarry_ms(col) (migration 1 defines
 * both: ms <-> timestamptz, 0 <-> NULL, exact to the millisecond); JSON and
 * texts are text, byte for byte; ids sort as text in the "C" collation,
 * which is LMDB's byte order, so every ORDER BY id matches LMDB's order.
 * A callback's non-zero return stops a scan and is returned, as in LMDB.
 */
#ifndef TARRY_STORE_PG_INT_H
#define TARRY_STORE_PG_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pg_int.h"
#include "record.h"
#include "store_impl.h"

struct pg_store {
    struct store base; /* first member */
    char *url;
    char where[512];      /* pg_where() of the first connection, for messages */
    pthread_mutex_t lock; /* guards the pool */
    pg_db **idle;         /* connections not in a transaction */
    size_t nidle, idle_cap;
    /* This host's id once it joined (store_pg_hosts.c), "" before: written once, before the
     * engine commits or reads anything as a host; its batches are fenced and its scans see what
     * it holds. */
    char host_id[17];
    struct pgs_hosts *hosts; /* the heartbeat thread; NULL before joining */
    atomic_size_t live;      /* live hosts at the last heartbeat (store_live_hosts); 0 before one */
};

struct pg_txn {
    struct store_txn base; /* first member */
    pg_db *db;             /* from the pool for the transaction's life */
    bool write;
    PGresult **held; /* results whose values callers borrow until the txn ends */
    size_t nheld, held_cap;
};

/* One statement of a batch: its SQL by pointer, its step name and parameters in the arena. */
struct pgs_stmt {
    const char *sql; /* a string literal */
    size_t what;     /* arena offset of the step's name */
    size_t param0;   /* index of its first parameter in pg_batch.params */
    int n;           /* parameters */
};

#define PGS_PARAM_NULL SIZE_MAX /* a parameter that is SQL NULL (in pg_batch.params) */

/* The most timers the store's usage counts one by one (pgs_usage_read); past it, PostgreSQL's
 * estimate. */
#define PGS_USAGE_EXACT_MAX 10000
#define PGS_STR_(x) #x
#define PGS_STR(x) PGS_STR_(x) /* a number as a string literal, for SQL text */

struct pg_batch {
    struct store_batch base; /* first member */
    struct pg_store *st;
    /* statements appended in order, each a static SQL text, its parameter count and its
     * parameters' bytes (NULL kept as NULL), in one growing arena */
    struct pgs_stmt *stmts;
    size_t nstmts, stmts_cap;
    size_t *params; /* arena offsets of NUL-terminated values, or PGS_PARAM_NULL */
    size_t nparams, params_cap;
    char *arena;
    size_t arena_len, arena_cap;
    size_t finals;     /* executions the batch makes final: the other hosts hear of it on commit */
    size_t timers;     /* timers it sets that any host may fire (scheduled, sleeping): told on commit too */
    unsigned announce; /* STORE_EVENT_* to tell every host on commit (store_batch_announce) */
};

/*
 * Run one statement with text parameters ($1..$n, NULL = SQL NULL) in t. The result is kept
 * until t ends (strings from PQgetvalue stay valid that long); *res may be NULL to drop it.
 * 0, or TARRY_EIO / TARRY_EFULL (pgs_fail) / TARRY_ENOMEM with the reason set (store_set_error):
 * "WHAT on WHERE: server message". `what` names the step ("reading execution ID"). A failed
 * statement leaves the transaction aborted: every later statement in it fails too.
 */
int pgs_query(struct pg_txn *t, const char *what, const char *sql, int n, const char *const *params,
              PGresult **res);
/* The same for a statement run often (an execution, its journal, a key, by id): prepared on the
 * connection once and planned once, where pgs_query's text is parsed and planned every time (a
 * journal read's planning cost the server 175 us, thirty times its execution). sql must be a
 * string literal: the connection knows it by its address. */
int pgs_query_prepared(struct pg_txn *t, const char *what, const char *sql, int n, const char *const *params,
                       PGresult **res);

/* Give back r, the last result pgs_query held in t, before t ends: for a scan that hands out
 * only copied values (ids, times), so a long one (a million queued ids at recovery) holds one
 * page at a time instead of all of them. r that is not the last one held stays held. */
void pgs_release(struct pg_txn *t, PGresult *r);

/*
 * The TARRY_E* code for a failed result (r; NULL: the connection's own error) on db, with the
 * reason set as "WHAT on WHERE: message": SQLSTATE class 53 (insufficient resources, 53100 a
 * full disk) is TARRY_EFULL; everything else, a lost connection (class 08) included, TARRY_EIO.
 */
int pgs_fail(pg_db *db, const char *what, const PGresult *r);

/* Where a write goes: a write transaction (tests and tools: store_txn_begin(st, true, ...)) or a
 * batch. Writes are written once, through a sink, so both paths run the same SQL. */
typedef struct pgs_sink {
    struct pg_txn *txn;
    struct pg_batch *batch;
} pgs_sink;

static inline pgs_sink pgs_to_txn(store_txn *t)
{
    pgs_sink s = {(struct pg_txn *)t, NULL};
    return s;
}

static inline pgs_sink pgs_to_batch(store_batch *b)
{
    pgs_sink s = {NULL, (struct pg_batch *)b};
    return s;
}

/* What a batch's statements are planned with: their generic plan, reaching rows by index
 * (store_pg.c says why); sent first in each batch. */
extern const char pgs_steer_sql[];

/* Append (batch: what and params copied now, run at commit) or run (txn) one statement. 0,
 * TARRY_ENOMEM, or pgs_query's errors. `sql` must be a string literal (it is kept by pointer). */
int pgs_write(pgs_sink *s, const char *what, const char *sql, int n, const char *const *params);

/* Parameters as text, into caller buffers (no allocation). */
typedef struct pgs_buf {
    char s[40];
} pgs_buf;
const char *pgs_int(pgs_buf *b, int64_t v);            /* decimal */
const char *pgs_ms(pgs_buf *b, int64_t ms);            /* decimal ms, or NULL for 0 ("not yet") */
const char *pgs_idtext(pgs_buf *b, const exec_id *id); /* 26-char text; NULL for the all-zero id */
const char *pgs_bool(bool v);                          /* "t" / "f" */
const char *pgs_state(exec_state s);                   /* the tarry_state enum label */

/* Reading columns of a held result. */
const char *pgs_str(const PGresult *r, int row, int col); /* NULL for SQL NULL */
int64_t pgs_i64(const PGresult *r, int row, int col);     /* 0 for NULL */
bool pgs_b(const PGresult *r, int row, int col);          /* false for NULL */
int pgs_idget(const PGresult *r, int row, int col,
              exec_id *out);                                   /* all-zero for NULL; TARRY_EIO if malformed */
exec_state pgs_state_get(const PGresult *r, int row, int col); /* EXEC_NONE for NULL or unknown */

/*
 * Every time column is read as tarry_ms(col) and written as tarry_ts($n): SQL functions of
 * migration 1: tarry_ts(bigint) -> timestamptz, NULL for 0 or NULL, 'infinity' for INT64_MAX
 * (and beyond the type's range); tarry_ms(timestamptz) -> bigint ms, 0 for NULL, INT64_MAX for
 * 'infinity'; exact to the millisecond (negative times included), IMMUTABLE.
 */

/* ---- the record (store_pg_exec.c) ---- */

/* The select list of an execution, columns of `t` ("e." for an alias e, "" for none), in the
 * order pgs_exec_decode reads them; a string literal, so it joins other literals:
 * "SELECT " PGS_EXEC_COLS_OF("e.") " FROM executions e WHERE ...". Extra columns go after it. */
#define PGS_EXEC_COLS_OF(t)                                                                                  \
    t "id, " t "function, " t "state, " t "args, " t "metadata, " t "result, " t "error, " t                 \
      "idempotency_key, " t "parent_id, " t "parent_seq, " t "detached, " t "rerun_of, " t "plugin_name, " t \
      "plugin_version, " t "plugin_hash, " t "attempts, " t "crashes, " t "timeouts, " t "suspect, " t       \
      "resume, " t "cancel_requested, tarry_ms(" t "created_at), tarry_ms(" t "scheduled_at), tarry_ms(" t   \
      "started_at), tarry_ms(" t "finished_at), tarry_ms(" t "next_attempt_at), tarry_ms(" t                 \
      "discard_at), tarry_ms(" t "wake_at), " t "wake_seq, " t "log_count, " t "log_mark_pos, " t            \
      "log_mark_count, " t "log_dropped"
#define PGS_EXEC_COLS PGS_EXEC_COLS_OF("")
#define PGS_EXEC_NCOLS 33 /* the columns PGS_EXEC_COLS selects: extra columns start here */

extern const char pgs_exec_cols[]; /* PGS_EXEC_COLS */

/*
 * Writing executions (store_pg_exec.c): pgs_exec_write takes PGS_EXEC_ROW text[] arrays, one
 * element per execution, and the writing host ($PGS_EXEC_ROW + 1; NULL: a tool). A row is
 * PGS_EXEC_NCOLS values in PGS_EXEC_COLS's order, then the state the writer expects the stored
 * row in (NULL: new), whether the write holds it ("t": queued or running) and when it expires
 * (NULL: as it was). A batch keeps each write as a statement of pgs_exec_write with a row's
 * PGS_EXEC_ROW parameters, grouped into one statement at commit (pgs_plan_make).
 */
#define PGS_ROW_PREV PGS_EXEC_NCOLS
#define PGS_ROW_HOLDS (PGS_EXEC_NCOLS + 1)
#define PGS_ROW_EXPIRES (PGS_EXEC_NCOLS + 2)
#define PGS_EXEC_ROW (PGS_EXEC_NCOLS + 3)
extern const char pgs_exec_write[];
/* Writing attempts (store_pg_journal.c) likewise: PGS_ATTEMPT_ROW text[] arrays of exec_id,
 * number, started_at, finished_at, outcome, crashed, timed_out, permanent, error and host_id. */
#define PGS_ATTEMPT_ROW 10
extern const char pgs_attempt_write[];
/* ... and journal entries: PGS_JOURNAL_ROW arrays of exec_id, seq, kind, status, detached, name,
 * child, value, error, started_at, finished_at and wake_at; deleting one ends their group. */
#define PGS_JOURNAL_ROW 12
extern const char pgs_journal_write[];
extern const char pgs_journal_del_sql[];
/* The other batch statements grouping must know (store_pg_retention.c): an expiry, which folds
 * into its execution's row, and a purge, which reads and deletes rows and so ends a group. */
extern const char pgs_retention_put_sql[];
extern const char pgs_exec_purge_sql[];
/* store_pg_hosts.c: releases, a grouped kind of their own (a release frees a row a later write may
 * take again: the two kinds end each other's group) */
extern const char pgs_release_write[];
extern const char pgs_cancel_request_sql[]; /* store_pg_hosts.c: it changes a row a later write keeps */

/* ---- store_pg_bulk.c ---- */

enum { PGS_BULK_EXEC, PGS_BULK_ATTEMPT, PGS_BULK_JOURNAL, PGS_BULK_RELEASE, PGS_BULK_KINDS }; /* grouped kinds */
#define PGS_BULK_PARAMS_MAX (PGS_EXEC_ROW + 1)            /* the most parameters a kind's statement has */

/* One execution's writes in a group: batch statement indexes and what merging them gives. */
typedef struct pgs_row {
    size_t first, last; /* its first write (the state it expects) and latest (its values) */
    size_t expires;     /* arena offset of an expiry folded in, or PGS_PARAM_NULL */
    size_t send;        /* its group's send */
    bool holds;         /* a write of it left it queued or running */
} pgs_row;

/* One query of a batch's pipeline: statement `stmt` as appended, or (nrows > 0) a group of
 * writes of one kind, rows row0.. of the plan, sent as one statement at its first's place. */
typedef struct pgs_send {
    size_t stmt;
    int kind; /* PGS_BULK_*, or -1: a statement alone */
    size_t row0, nrows;
    const char *arrays[PGS_BULK_PARAMS_MAX]; /* a group's parameters: its text[] literals (in the
                                                plan's buffer), then the writing host for executions */
} pgs_send;

typedef struct pgs_plan {
    pgs_send *sends; /* in the order they are sent */
    size_t nsends;
    pgs_row *rows;
    size_t nrows;
    char **bufs; /* the groups' arrays, one buffer each */
    size_t nbufs;
} pgs_plan;

/* The queries for batch b's statements, every group's arrays made: nothing can fail once the
 * pipeline starts. 0, or TARRY_ENOMEM (reason set); pgs_plan_free after either. */
int pgs_plan_make(const struct pg_batch *b, pgs_plan *p);
void pgs_plan_free(pgs_plan *p);
/* nrows rows of ncols values (cell: value col of row r, NULL for SQL NULL) as ncols text[]
 * literals into values[], pointing into *buf (malloc'd; the caller frees it). 0 or TARRY_ENOMEM. */
typedef const char *(*pgs_cell_fn)(const void *rows, size_t r, int col);
int pgs_arrays(size_t nrows, int ncols, pgs_cell_fn cell, const void *rows, const char **values, char **buf);
/* The parameters of kind's statement: its arrays, then (executions) the writing host. */
int pgs_bulk_params(int kind);
/* One row of sql's kind (pgs_exec_write, pgs_attempt_write) written alone in write transaction t,
 * as a batch writes many. 0 or pgs_query's errors. */
int pgs_bulk_write_one(struct pg_txn *t, const char *what, const char *sql, const char *const *row);
/* Row `row` of r (PGS_EXEC_COLS from column 0) into out; strings borrow from r. 0 or TARRY_EIO. */
int pgs_exec_decode(const PGresult *r, int row, exec_record *out);

/* ---- pgcore: store_pg.c and store_pg_exec.c, reached through the ops table ---- */

int store_pg_open(store **out, const char *url, char *err, size_t errlen);
void pgs_close(store *st);
int pgs_check_folder(store *st); /* 0: a database has no folder to lose */
void pgs_mark_lost(store *st);   /* nothing */
int pgs_txn_begin(store *st, bool write, store_txn **out);
int pgs_txn_commit(store_txn *txn);
void pgs_txn_abort(store_txn *txn);
store_batch *pgs_batch_new(store *st);
void pgs_batch_free(store_batch *b);
void pgs_batch_reset(store_batch *b);
bool pgs_batch_empty(const store_batch *b);
/* One transaction, pipelined. 0; a statement's failure (pgs_fail's code, the reason naming that
 * statement's step; nothing written); TARRY_EIO when the connection broke before COMMIT went out
 * (nothing written); TARRY_EBROKEN when it broke after: whether the batch is written is unknown. */
int pgs_batch_commit(store *st, store_batch *b);
int pgs_usage_read(store_txn *txn, store_usage *out);
int pgs_exec_put(store_txn *txn, const exec_record *rec, const exec_record *prev);
int pgs_exec_get(store_txn *txn, const exec_id *id, exec_record *out);
int pgs_batch_exec_put(store_batch *b, const exec_record *rec, const exec_record *prev);

/* ---- functions each other file implements, reached through store_pg.c's ops table ----
 * Each helper adds its own section below, with store.h's signatures and the pgs_ prefix. */

/* pgexec (store_pg_query.c): */
int pgs_exec_scan_state(store_txn *txn, exec_state state, store_exec_cb cb, void *user);
int pgs_pinned_versions(store_txn *txn, store_hash_cb cb, void *user);
int pgs_pins_count(store_txn *txn, const char *hash, uint64_t max, uint64_t *count);
int pgs_exec_ids_in_state(store_txn *txn, exec_state state, store_id_cb cb, void *user);
int pgs_exec_list(store_txn *txn, const store_list_query *q, store_exec_cb cb, void *user, bool *more);
int pgs_timer_first(store_txn *txn, int64_t *due_ms, exec_id *id);
int pgs_timer_each(store_txn *txn, store_timer_cb cb, void *user);
int pgs_timer_scan_due(store_txn *txn, int64_t now_ms, store_exec_cb cb, void *user);
int pgs_exec_query(store_txn *txn, const store_query *q, store_exec_cb cb, void *user, bool *more,
                   exec_id *next);
int pgs_exec_count(store_txn *txn, const char *function, exec_state state, uint64_t max, uint64_t *count);
int pgs_reruns_scan(store_txn *txn, const exec_id *id, store_id_cb cb, void *user);

/* pgjournal (store_pg_journal.c, store_pg_keys.c): */
int pgs_log_put(store_txn *txn, const exec_id *id, const store_log_line *line);
int pgs_batch_log_put(store_batch *b, const exec_id *id, const store_log_line *line);
int pgs_log_scan(store_txn *txn, const exec_id *id, store_log_cb cb, void *user);
int pgs_log_scan_from(store_txn *txn, const exec_id *id, uint32_t from, store_log_cb cb, void *user);
int pgs_attempt_put(store_txn *txn, const exec_id *id, const store_attempt *a);
int pgs_batch_attempt_put(store_batch *b, const exec_id *id, const store_attempt *a);
int pgs_attempt_scan(store_txn *txn, const exec_id *id, store_attempt_cb cb, void *user);
int pgs_journal_put(store_txn *txn, const exec_id *id, const journal_entry *entry);
int pgs_batch_journal_put(store_batch *b, const exec_id *id, const journal_entry *entry);
int pgs_batch_journal_del(store_batch *b, const exec_id *id, uint32_t seq);
int pgs_journal_get(store_txn *txn, const exec_id *id, uint32_t seq, journal_entry *out);
int pgs_journal_scan(store_txn *txn, const exec_id *id, store_journal_cb cb, void *user);
int pgs_batch_caller_put(store_batch *b, const exec_id *child, const store_caller *c);
int pgs_caller_put(store_txn *txn, const exec_id *child, const store_caller *c);
int pgs_batch_caller_del(store_batch *b, const exec_id *child, const exec_id *parent, uint32_t seq);
int pgs_callers_scan(store_txn *txn, const exec_id *child, store_caller_cb cb, void *user);
int pgs_fn_crashes_put(store_txn *txn, const char *function, const store_fn_crashes *c);
int pgs_batch_fn_crashes_put(store_batch *b, const char *function, const store_fn_crashes *c);
int pgs_fn_crashes_scan(store_txn *txn, store_fn_crashes_cb cb, void *user);
int pgs_batch_cron_put(store_batch *b, const char *function, int64_t covered_until, const char *expr);
int pgs_cron_put(store_txn *txn, const char *function, int64_t covered_until, const char *expr);
int pgs_cron_scan(store_txn *txn, store_cron_cb cb, void *user);
int pgs_idem_get(store_txn *txn, const char *function, const char *key, store_idem *out);
int pgs_batch_idem_put(store_batch *b, const char *function, const char *key, const store_idem *v);
int pgs_idem_expired(store_txn *txn, int64_t now_ms, store_idem_pos *pos, size_t max,
                     store_idem_expired_cb cb, void *user);
int pgs_batch_idem_del_raw(store_batch *b, const void *key, size_t len);

/* pgrest (store_pg_outbox.c, store_pg_retention.c): */
#include "store_outbox.h" /* notifications' and retention's types */
int pgs_batch_notify_put(store_batch *b, const store_notify *n, int64_t prev_due);
int pgs_notify_scan(store_txn *txn, const exec_id *id, store_notify_cb cb, void *user);
int pgs_outbox_scan(store_txn *txn, store_notify_cb cb, void *user);
int pgs_outbox_count(store_txn *txn, uint64_t *count);

/* The pool (store_pg.c): a connection for one transaction or statement, and back. */
int pgs_pool_get(struct pg_store *st, pg_db **out);
void pgs_pool_put(struct pg_store *st, pg_db *db);

/* store_pg_hosts.c: several hosts (store_cluster.h) */
int pgs_host_join(store *st, const store_host_info *me, const char *prev_id, store_event_cb cb, void *user);
void pgs_hosts_stop(struct pg_store *st); /* stop beating and leave (store_close) */
int pgs_claim(store *st, store_claim_kind kind, int64_t now_ms, size_t max, size_t *claimed, size_t *left);
int pgs_batch_announce(store_batch *b, unsigned events);
int pgs_batch_host_plugins(store_batch *b, const char *json);
int pgs_batch_release(store_batch *b, const exec_id *id);
int pgs_batch_cancel_request(store_batch *b, const exec_id *id);
int pgs_cancel_requests_scan(store_txn *txn, store_id_cb cb, void *user);
int pgs_free_queued_count(store_txn *txn, uint64_t *count);
size_t pgs_live_hosts(store *st);
int pgs_hosts_scan(store_txn *txn, int64_t left_within_ms, store_host_cb cb, void *user);
int pgs_exec_holder(store_txn *txn, const exec_id *id, store_host_cb cb, void *user);
int pgs_batch_retention_put(store_batch *b, int64_t expire_at, const exec_id *id);
int pgs_retention_first(store_txn *txn, int64_t *expire_at, exec_id *id);
int pgs_retention_due(store_txn *txn, int64_t now_ms, store_retention_cb cb, void *user);
int pgs_batch_exec_purge(store_batch *b, int64_t expire_at, const exec_id *id, int64_t postpone_to);
int pgs_retention_info_get(store_txn *txn, store_retention_info *out);
int pgs_retention_build(store *st, store_retention_of_cb retention_of, void *user);

/* pgplugins (store_pg_plugins.c): */
int pgs_plugin_put(store *st, const char *hash, const char *name, const char *version, const void *bytes,
                   size_t len);
int pgs_plugin_get(store *st, const char *hash, void **bytes, size_t *len);

#endif
