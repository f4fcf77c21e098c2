/*
 * store_pg.c - the PostgreSQL store (store_impl.h): opening a database
 * (connect, migrate), the connection pool,
 * transactions, batches and their commit in one pipelined transaction, how
 * a failure maps to a TARRY_E* code, and the ops table every store_pg*.c
 * function is reached through (store_pg_int.h says which file has which).
 *
 * Transactions: a read transaction is REPEATABLE READ, READ ONLY on a
 * pooled connection, a snapshot as an LMDB read transaction is; any thread
 * may hold one (the pool is locked, a connection is one thread's for the
 * transaction's life). A write transaction (tests and tools) is a plain
 * BEGIN. A batch commits on the commit thread as one transaction: BEGIN,
 * its statements and COMMIT sent in libpq's pipeline mode, so a batch costs
 * one round trip per PGS_PIPELINE_WINDOW statements, not one per statement;
 * nothing is acknowledged before COMMIT's answer is read.
 *
 * Several hosts share one database (store_pg_hosts.c): once this store has
 * joined, every batch starts with the fence (a host declared stopped
 * commits nothing more) and, when it made executions final or announces
 * something, ends with a NOTIFY the other hosts hear; a write of an
 * execution another host holds fails it with TARRY_ECONFLICT, whose id the
 * batch keeps (store_batch_conflict).
 *
 * About 900 lines because opening, the pool, transactions and the
 * batch pipeline share the connection's state and its failure rules (a lost
 * session before or after COMMIT); the rows themselves are the other
 * store_pg*.c files'.
 *
 * May not: pass a value in SQL text (parameters only), print, or keep
 * anything across transactions but idle connections and the statements
 * prepared on them.
 */
#include "store_pg_int.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_schema.h"
#include "status.h"

#define PGS_POOL_IDLE_MAX 32    /* idle connections kept; more are closed when they come back */
#define PGS_PIPELINE_WINDOW 256 /* statements sent before their answers are read (see batch_send) */

/* ---- errors -------------------------------------------------------------------------------- */

static void set_error(pg_db *db, const char *what, const char *msg)
{
    char reason[768];

    pg_error(db, what, msg, reason, sizeof reason);
    store_set_error(reason);
}

int pgs_fail(pg_db *db, const char *what, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : NULL;

    if (!msg || !*msg)
        msg = PQerrorMessage(db->conn);
    set_error(db, what, msg);
    /* Class 53, insufficient resources: a full disk (53100), out of memory or connections on the
     * server. Like a full LMDB map, it refuses new work and nothing was written. */
    if (state && strncmp(state, "53", 2) == 0)
        return TARRY_EFULL;
    /* migration 2's own codes: tarry_conflict and tarry_fence (store_cluster.h) */
    if (state && strcmp(state, "TRC01") == 0)
        return TARRY_ECONFLICT;
    if (state && strcmp(state, "TRF01") == 0)
        return TARRY_EBROKEN;
    /* The session is gone (the server restarting, a failover, an administrator): the server, not
     * what was asked, failed; the caller may try again once it answers. */
    if (db && db->conn && PQstatus(db->conn) == CONNECTION_BAD)
        return TARRY_EUNREACHABLE;
    return TARRY_EIO;
}

/* ---- the pool ------------------------------------------------------------------------------ */

/*
 * Whether an idle connection may be used. The server says nothing to an idle session it keeps
 * (no LISTEN here), so anything readable is its goodbye: the session was ended, or the server
 * restarted (a FATAL message, then the end of the stream). Such a connection is closed before any
 * work is sent into it: a batch could not tell its failure from a COMMIT lost on the way.
 */
static bool idle_alive(pg_db *db)
{
    struct pollfd p = {.fd = PQsocket(db->conn), .events = POLLIN};

    return PQstatus(db->conn) == CONNECTION_OK && p.fd >= 0 && poll(&p, 1, 0) == 0;
}

/* Notices (a statement's NOTICE, a server's WARNING) are no error and nothing a host prints. */
static void notice_ignore(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int pgs_pool_get(struct pg_store *st, pg_db **out)
{
    char err[768];
    int rc;

    for (;;) {
        pg_db *db = NULL;
        pthread_mutex_lock(&st->lock);
        if (st->nidle)
            db = st->idle[--st->nidle];
        pthread_mutex_unlock(&st->lock);
        if (!db)
            break;
        if (idle_alive(db)) {
            *out = db;
            return 0;
        }
        pg_close(db);
    }
    if ((rc = pg_connect(st->url, out, err, sizeof err)) != 0) {
        store_set_error(err);
        /* The server is away (restarting, failing over): nothing is wrong with what was asked. */
        return rc == TARRY_ENOMEM ? rc : TARRY_EUNREACHABLE;
    }
    PQsetNoticeProcessor((*out)->conn, notice_ignore, NULL);
    return 0;
}

/* Back to the pool, unless it broke or is still inside a transaction: then it is closed. */
void pgs_pool_put(struct pg_store *st, pg_db *db)
{
    bool kept = false;

    if (PQstatus(db->conn) == CONNECTION_OK && PQtransactionStatus(db->conn) == PQTRANS_IDLE) {
        pthread_mutex_lock(&st->lock);
        if (st->nidle == st->idle_cap && st->idle_cap < PGS_POOL_IDLE_MAX) {
            size_t cap = st->idle_cap ? st->idle_cap * 2 : 4;
            pg_db **grown = realloc(st->idle, cap * sizeof *grown);
            if (grown) {
                st->idle = grown;
                st->idle_cap = cap;
            }
        }
        if (st->nidle < st->idle_cap) {
            st->idle[st->nidle++] = db;
            kept = true;
        }
        pthread_mutex_unlock(&st->lock);
    }
    if (!kept)
        pg_close(db);
}

/* ---- opening ------------------------------------------------------------------------------- */

static const struct store_ops pgs_ops;

int store_pg_open(store **out, const char *url, char *err, size_t errlen)
{
    struct pg_store *st;
    pg_db *first;
    int rc, version;

    *out = NULL;
    if (errlen)
        err[0] = '\0';
    if (!(st = calloc(1, sizeof *st)) || !(st->url = strdup(url))) {
        free(st);
        snprintf(err, errlen, "out of memory opening the PostgreSQL store");
        return TARRY_ENOMEM;
    }
    st->base.ops = &pgs_ops;
    pthread_mutex_init(&st->lock, NULL);
    /* The first connection migrates, then joins the pool. */
    if ((rc = pg_connect(url, &first, err, errlen)) != 0) {
        pgs_close(&st->base);
        return rc;
    }
    PQsetNoticeProcessor(first->conn, notice_ignore, NULL);
    if ((rc = pg_schema_migrate(first, NULL, NULL, &version, err, errlen)) != 0) {
        pg_close(first);
        pgs_close(&st->base);
        return rc;
    }
    snprintf(st->where, sizeof st->where, "%s", pg_where(first));
    st->base.where = st->where;
    pgs_pool_put(st, first);
    *out = &st->base;
    return 0;
}

void pgs_close(store *sb)
{
    struct pg_store *st = (struct pg_store *)sb;

    if (!st)
        return;
    pgs_hosts_stop(st); /* first: it leaves through the pool */
    for (size_t i = 0; i < st->nidle; i++)
        pg_close(st->idle[i]);
    free(st->idle);
    pthread_mutex_destroy(&st->lock);
    free(st->url);
    free(st);
}

/* A database has no folder to be deleted or replaced under a running host. */
int pgs_check_folder(store *st)
{
    (void)st;
    return 0;
}

void pgs_mark_lost(store *st)
{
    (void)st;
}

/* ---- transactions -------------------------------------------------------------------------- */

int pgs_txn_begin(store *sb, bool write, store_txn **out)
{
    struct pg_store *st = (struct pg_store *)sb;
    struct pg_txn *t = calloc(1, sizeof *t);
    PGresult *r;
    int rc;

    *out = NULL;
    if (!t)
        return TARRY_ENOMEM;
    t->base.st = sb;
    t->write = write;
    if ((rc = pgs_pool_get(st, &t->db)) != 0) {
        free(t);
        return rc;
    }
    /* A read's snapshot is taken now, as LMDB's is at begin: REPEATABLE READ takes it at the
     * first statement, so one goes with BEGIN (one message, no round trip of its own). */
    r = PQexec(t->db->conn, write ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT 1");
    if (!r || PQresultStatus(r) != (write ? PGRES_COMMAND_OK : PGRES_TUPLES_OK)) {
        rc = pgs_fail(t->db, "beginning a transaction", r);
        PQclear(r);
        pgs_pool_put(st, t->db);
        free(t);
        return rc;
    }
    PQclear(r);
    *out = &t->base;
    return 0;
}

/* End t with COMMIT or ROLLBACK, its results freed and its connection back in the pool. */
static int txn_end(struct pg_txn *t, bool commit)
{
    struct pg_store *st = (struct pg_store *)t->base.st;
    PGresult *r = PQexec(t->db->conn, commit ? "COMMIT" : "ROLLBACK");
    int rc = 0;

    if (commit) {
        /* COMMIT of a transaction a failed statement aborted answers "ROLLBACK", not an error. */
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = pgs_fail(t->db, "committing", r);
        else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
            set_error(t->db, "committing", "a statement of the transaction failed: it was rolled back");
            rc = TARRY_EIO;
        }
    }
    PQclear(r);
    for (size_t i = 0; i < t->nheld; i++)
        PQclear(t->held[i]);
    free(t->held);
    pgs_pool_put(st, t->db);
    free(t);
    return rc;
}

int pgs_txn_commit(store_txn *txn)
{
    return txn_end((struct pg_txn *)txn, true);
}

void pgs_txn_abort(store_txn *txn)
{
    if (txn)
        txn_end((struct pg_txn *)txn, false);
}

/* Statement `sql`'s index among those prepared on db, or -1. */
static long prepared_index(const pg_db *db, const char *sql)
{
    for (size_t i = 0; i < db->nprepared; i++)
        if (db->prepared[i] == sql)
            return (long)i;
    return -1;
}

/* Prepare sql (a string literal: one address is one text) on db unless it is already, and give
 * its name. A connection prepares each text once in its life. 0, or pgs_fail's code. */
static int prepare_once(pg_db *db, const char *sql, int n, const char *what, char name[32])
{
    long at = prepared_index(db, sql);
    PGresult *r;

    if (at >= 0) {
        snprintf(name, 32, "tarry_%ld", at);
        return 0;
    }
    if (db->nprepared == db->prepared_cap) {
        size_t cap = db->prepared_cap ? db->prepared_cap * 2 : 32;
        const char **grown = realloc(db->prepared, cap * sizeof *grown);
        if (!grown) {
            store_set_error("out of memory preparing a statement");
            return TARRY_ENOMEM;
        }
        db->prepared = grown;
        db->prepared_cap = cap;
    }
    snprintf(name, 32, "tarry_%zu", db->nprepared);
    r = PQprepare(db->conn, name, sql, n, NULL);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        int rc = pgs_fail(db, what, r);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    db->prepared[db->nprepared++] = sql;
    return 0;
}

/* r, a statement's result in t: its error, or kept in t for the caller (*res) or dropped. */
static int query_result(struct pg_txn *t, const char *what, PGresult *r, PGresult **res)
{
    ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc;

    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        rc = pgs_fail(t->db, what, r);
        PQclear(r);
        return rc;
    }
    if (!res) {
        PQclear(r);
        return 0;
    }
    if (t->nheld == t->held_cap) {
        size_t cap = t->held_cap ? t->held_cap * 2 : 8;
        PGresult **grown = realloc(t->held, cap * sizeof *grown);
        if (!grown) {
            PQclear(r);
            return TARRY_ENOMEM;
        }
        t->held = grown;
        t->held_cap = cap;
    }
    t->held[t->nheld++] = r;
    *res = r;
    return 0;
}

int pgs_query(struct pg_txn *t, const char *what, const char *sql, int n, const char *const *params,
              PGresult **res)
{
    return query_result(t, what, PQexecParams(t->db->conn, sql, n, NULL, params, NULL, NULL, 0), res);
}

int pgs_query_prepared(struct pg_txn *t, const char *what, const char *sql, int n, const char *const *params,
                       PGresult **res)
{
    char name[32];
    int rc = prepare_once(t->db, sql, n, what, name);

    if (rc)
        return rc;
    return query_result(t, what, PQexecPrepared(t->db->conn, name, n, params, NULL, NULL, 0), res);
}

void pgs_release(struct pg_txn *t, PGresult *r)
{
    if (t->nheld && t->held[t->nheld - 1] == r) {
        t->nheld--;
        PQclear(r);
    }
}

/* ---- batches ------------------------------------------------------------------------------- */

store_batch *pgs_batch_new(store *sb)
{
    struct pg_batch *b = calloc(1, sizeof *b);

    if (!b)
        return NULL;
    b->base.ops = sb->ops;
    b->st = (struct pg_store *)sb;
    return &b->base;
}

void pgs_batch_free(store_batch *bb)
{
    struct pg_batch *b = (struct pg_batch *)bb;

    if (!b)
        return;
    free(b->stmts);
    free(b->params);
    free(b->arena);
    free(b);
}

void pgs_batch_reset(store_batch *bb)
{
    struct pg_batch *b = (struct pg_batch *)bb;

    b->nstmts = b->nparams = b->arena_len = 0;
    b->finals = 0;
    b->timers = 0;
    b->announce = 0;
}

bool pgs_batch_empty(const store_batch *bb)
{
    const struct pg_batch *b = (const struct pg_batch *)bb;

    return b->nstmts == 0;
}

/* Room for `more` items of `size` bytes in *items (holding n of cap). */
static int grow(void **items, size_t *cap, size_t n, size_t more, size_t size)
{
    size_t want = *cap ? *cap : 16;
    void *grown;

    if (n + more <= *cap)
        return 0;
    while (want < n + more)
        want *= 2;
    if (!(grown = realloc(*items, want * size)))
        return TARRY_ENOMEM;
    *items = grown;
    *cap = want;
    return 0;
}

static int arena_add(struct pg_batch *b, const char *s, size_t *at)
{
    size_t len = strlen(s) + 1;
    int rc = grow((void **)&b->arena, &b->arena_cap, b->arena_len, len, 1);

    if (rc)
        return rc;
    memcpy(b->arena + b->arena_len, s, len);
    *at = b->arena_len;
    b->arena_len += len;
    return 0;
}

static int batch_append(struct pg_batch *b, const char *what, const char *sql, int n,
                        const char *const *params)
{
    size_t nstmts = b->nstmts, nparams = b->nparams, arena_len = b->arena_len;
    struct pgs_stmt stmt = {sql, 0, b->nparams, n};
    int rc;

    if ((rc = grow((void **)&b->stmts, &b->stmts_cap, b->nstmts, 1, sizeof *b->stmts)) != 0 ||
        (rc = grow((void **)&b->params, &b->params_cap, b->nparams, (size_t)n, sizeof *b->params)) != 0 ||
        (rc = arena_add(b, what, &stmt.what)) != 0)
        goto fail;
    for (int i = 0; i < n; i++) {
        size_t at = PGS_PARAM_NULL;
        if (params[i] && (rc = arena_add(b, params[i], &at)) != 0)
            goto fail;
        b->params[b->nparams++] = at;
    }
    b->stmts[b->nstmts++] = stmt;
    return 0;
fail: /* the batch stays as it was before the call */
    b->nstmts = nstmts;
    b->nparams = nparams;
    b->arena_len = arena_len;
    return rc;
}

int pgs_write(pgs_sink *s, const char *what, const char *sql, int n, const char *const *params)
{
    if (s->batch)
        return batch_append(s->batch, what, sql, n, params);
    return pgs_query(s->txn, what, sql, n, params, NULL);
}

/*
 * A batch's statements name their rows by key (an id, an execution's journal position), a few
 * to a few hundred at a time: the plan that fits them at any size of the tables is a probe of
 * the key's index per row, and it does not depend on the values. So a batch runs them with the
 * plan PostgreSQL keeps for a prepared statement (a generic plan), made with scans and joins
 * that walk an index; the settings are the transaction's own (set_config's third argument), so
 * reads on the same connection keep the planner's choice. Left to itself, PostgreSQL
 *   - made the generic plan from what it knew of the tables at a statement's sixth run, and
 *     planned again only once they were analyzed: on a new database (autovacuum analyzes a table
 *     within a minute, later on a busy server) a connection's first batches saw tables of a few
 *     rows, and the plan they kept (read the whole table, join by hash) stayed while the tables
 *     grew: each write of executions read all of them (3.5 ms a batch at 10,000 rows: W1 739/s);
 *   - planned again at every run when the values made a cheaper plan than the generic one (a
 *     batch of one execution, where the generic plan counts on ten): 1 to 2.5 ms for the
 *     executions' write, a round trip of W3 at 3.4 ms instead of 1.5.
 */
const char pgs_steer_sql[] = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true), "
                             "set_config('enable_seqscan', 'off', true), "
                             "set_config('enable_hashjoin', 'off', true), "
                             "set_config('enable_mergejoin', 'off', true)";

/*
 * A batch's pipeline: what has been sent and what has been answered. Its queries are BEGIN,
 * the settings its statements are planned with (pgs_steer_sql), the fence (when the store has
 * joined the hosts: store_pg_hosts.c), the batch's statements, the notification of the other
 * hosts (when the batch made executions final or announces something), and COMMIT: query k is
 * BEGIN at 0, COMMIT at commit_k.
 */
typedef struct pipeline {
    pg_db *db;
    struct pg_batch *b;
    pgs_plan plan;    /* the batch's statements as queries (store_pg_bulk.c) */
    size_t pre, post; /* queries before and after the batch's statements: 1 or 2; 0 to 4 */
    /* the posts: what it did (finals, work, reload); cancels asked; timers set; queued released */
    bool tell, ask, timers, queued;
    size_t commit_k;
    const char **values; /* one statement's parameters, as libpq takes them */
    size_t sent, answered;
    int failed;           /* a query's error (its code; the reason is set): the server rolls back */
    bool lost;            /* the connection broke (the reason is set) */
    bool ended_before;    /* ... with the server's own error for a query before COMMIT */
    bool commit_answered; /* COMMIT's own answer was read: the batch is written */
    char what[160];       /* a group's step name (query_what) */
} pipeline;

/* "writing executions A, B, C and 97 more" (attempts: "writing attempts of executions ..."): the
 * server's error names no row of a group. */
static const char *group_what(pipeline *p, const pgs_send *s)
{
    static const char *const of[PGS_BULK_KINDS] = {"writing ", "writing attempts of ",
                                                   "writing journal entries of ", "releasing "};
    size_t len =
        (size_t)snprintf(p->what, sizeof p->what, "%sexecution%s", of[s->kind], s->nrows > 1 ? "s" : "");

    for (size_t i = 0; i < s->nrows && i < 3 && len < sizeof p->what; i++) {
        size_t first = p->plan.rows[s->row0 + i].first;
        const char *id = p->b->arena + p->b->params[p->b->stmts[first].param0];
        len += (size_t)snprintf(p->what + len, sizeof p->what - len, "%s %s", i ? "," : "", id);
    }
    if (s->nrows > 3 && len < sizeof p->what)
        snprintf(p->what + len, sizeof p->what - len, " and %zu more", s->nrows - 3);
    return p->what;
}

static const char *query_what(pipeline *p, size_t k)
{
    if (k == 0)
        return "beginning a batch";
    if (k == 1)
        return "setting how a batch's statements are planned";
    if (k <= p->pre)
        return "checking this host still holds its executions";
    if (k >= p->commit_k)
        return "committing a batch";
    if (k > p->pre + p->plan.nsends)
        return "telling the other hosts";
    if (p->plan.sends[k - 1 - p->pre].nrows)
        return group_what(p, &p->plan.sends[k - 1 - p->pre]);
    return p->b->arena + p->b->stmts[p->plan.sends[k - 1 - p->pre].stmt].what;
}

/*
 * The connection broke while query k was sent or awaited (r: what libpq made of it). The server
 * runs a pipeline's queries in order and sends their answers in order, so an error of its own
 * (one with a SQLSTATE: "terminating connection due to administrator command") for a query
 * before COMMIT means it ended the session there, and never ran the COMMIT. Without one (the
 * stream just ended) it may have committed everything before the answers were lost.
 */
static void pipeline_lost(pipeline *p, size_t k, const PGresult *r)
{
    if (!p->failed && !p->lost) {
        pgs_fail(p->db, query_what(p, k), r);
        p->ended_before = r && k < p->commit_k && PQresultErrorField(r, PG_DIAG_SQLSTATE) != NULL;
    }
    p->lost = true;
}

/* Read the answers of every query sent so far. */
static void pipeline_read(pipeline *p)
{
    while (p->answered < p->sent && !p->lost) {
        size_t k = p->answered;
        PGresult *r = PQgetResult(p->db->conn);
        ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

        if (!r || PQstatus(p->db->conn) != CONNECTION_OK) {
            pipeline_lost(p, k, r);
            PQclear(r);
            return;
        }
        if (status == PGRES_FATAL_ERROR && !p->failed) {
            p->failed = pgs_fail(p->db, query_what(p, k), r);
            if (p->failed == TARRY_ECONFLICT) {
                const char *id = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
                p->b->base.has_conflict = id && id_parse(id, &p->b->base.conflict) == 0;
            }
        } else if (status == PGRES_COMMAND_OK && k == p->commit_k)
            p->commit_answered = true;
        PQclear(r);
        /* Each query's results end with a NULL (pipeline mode). */
        while ((r = PQgetResult(p->db->conn)) != NULL)
            PQclear(r);
        p->answered++;
    }
}

static void pipeline_send(pipeline *p, const char *sql, int n, const char *const *values)
{
    if (p->lost)
        return;
    if (!PQsendQueryParams(p->db->conn, sql, n, NULL, values, NULL, NULL, 0)) {
        pipeline_lost(p, p->sent, NULL);
        return;
    }
    p->sent++;
}

/*
 * Prepare, on the batch's connection, every statement of the batch it has not prepared yet, one
 * round trip each, before the pipeline starts: a batch sends the same few statements hundreds of
 * times, and a statement sent as text is parsed and planned again each time (most of the
 * server's time in W1). The texts are string literals (pgs_write), so one address is one text,
 * and a connection prepares each once in its life. 0, or TARRY_EIO / TARRY_ENOMEM (reason set).
 */
static int prepare_statements(pg_db *db, const struct pg_batch *b, const pgs_plan *plan)
{
    char steer[32];
    int rc = prepare_once(db, pgs_steer_sql, 0, "setting how a batch's statements are planned", steer);

    if (rc)
        return rc;
    for (size_t i = 0; i < plan->nsends; i++) {
        const struct pgs_stmt *s = &b->stmts[plan->sends[i].stmt];
        int n = plan->sends[i].nrows ? pgs_bulk_params(plan->sends[i].kind) : s->n;
        char name[32];
        if ((rc = prepare_once(db, s->sql, n, b->arena + s->what, name)) != 0)
            return rc;
    }
    return 0;
}

/* Send statement sql (prepared on the connection by prepare_statements). */
static void pipeline_send_prepared(pipeline *p, const char *sql, int n, const char *const *values)
{
    char name[32];

    if (p->lost)
        return;
    snprintf(name, sizeof name, "tarry_%ld", prepared_index(p->db, sql));
    if (!PQsendQueryPrepared(p->db->conn, name, n, values, NULL, NULL, 0)) {
        pipeline_lost(p, p->sent, NULL);
        return;
    }
    p->sent++;
}

/*
 * Send every statement of the batch between BEGIN and COMMIT, and the sync that ends the
 * pipeline, reading answers every PGS_PIPELINE_WINDOW statements: the server answers as it goes,
 * and a client that only wrote would deadlock with a server blocked writing answers nobody
 * reads. A window's answers are a few KiB, far below what a socket buffers, and one round trip
 * per window is all a large batch waits for.
 */
static void pipeline_run(pipeline *p)
{
    struct pg_batch *b = p->b;
    PGresult *r;

    pipeline_send(p, "BEGIN", 0, NULL);
    pipeline_send_prepared(p, pgs_steer_sql, 0, NULL);
    if (p->pre > 1) {
        const char *me[1] = {b->st->host_id};
        pipeline_send(p, "SELECT tarry_fence($1)", 1, me);
    }
    for (size_t i = 0; i < p->plan.nsends && !p->lost; i++) {
        const pgs_send *send = &p->plan.sends[i];
        const struct pgs_stmt *s = &b->stmts[send->stmt];
        if (send->nrows) {
            pipeline_send_prepared(p, s->sql, pgs_bulk_params(send->kind), send->arrays);
        } else {
            for (int j = 0; j < s->n; j++) {
                size_t at = b->params[s->param0 + (size_t)j];
                p->values[j] = at == PGS_PARAM_NULL ? NULL : b->arena + at;
            }
            pipeline_send_prepared(p, s->sql, s->n, p->values);
        }
        if ((i + 1) % PGS_PIPELINE_WINDOW == 0 && !p->lost) {
            if (!PQsendFlushRequest(p->db->conn) || PQflush(p->db->conn) != 0)
                pipeline_lost(p, p->pre + i + 1, NULL);
            pipeline_read(p);
        }
    }
    if (p->tell) {
        /* NOTIFY is transactional: the others hear it only if the batch commits. */
        char payload[2 + sizeof b->st->host_id];
        const char *params[1] = {payload};
        char what = (b->announce & STORE_EVENT_RELOAD) ? 'r' : (b->announce & STORE_EVENT_WORK) ? 'w' : 'f';
        snprintf(payload, sizeof payload, "%c%s", what, b->st->host_id);
        pipeline_send(p, "SELECT pg_notify('tarry', $1)", 1, params);
    }
    /* letters of their own: hosts that do not know one ignore it, and miss nothing else (a
     * host's sweep finds what it was told of at the latest) */
    for (int k = 0; k < 3; k++) {
        static const char letters[3] = {'c', 't', 'q'};
        char payload[2 + sizeof b->st->host_id];
        const char *params[1] = {payload};
        if (!(k == 0 ? p->ask : k == 1 ? p->timers : p->queued))
            continue;
        snprintf(payload, sizeof payload, "%c%s", letters[k], b->st->host_id);
        pipeline_send(p, "SELECT pg_notify('tarry', $1)", 1, params);
    }
    pipeline_send(p, "COMMIT", 0, NULL);
    if (!p->lost && !PQpipelineSync(p->db->conn))
        pipeline_lost(p, p->commit_k, NULL);
    pipeline_read(p);
    if (p->lost)
        return;
    /* The sync's own answer closes the pipeline. */
    r = PQgetResult(p->db->conn);
    if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC)
        pipeline_lost(p, p->commit_k, r);
    PQclear(r);
    if (!p->lost && !PQexitPipelineMode(p->db->conn))
        pipeline_lost(p, p->commit_k, NULL);
}

int pgs_batch_commit(store *sb, store_batch *bb)
{
    struct pg_store *st = (struct pg_store *)sb;
    struct pg_batch *b = (struct pg_batch *)bb;
    pipeline p = {.b = b};
    int most = 1, rc;

    b->base.has_conflict = false;
    if (b->nstmts == 0 && !b->announce)
        return 0;
    p.pre = 1 + (st->host_id[0] != '\0');
    p.tell =
        st->host_id[0] && (b->finals || (b->announce & ~(unsigned)(STORE_EVENT_CANCEL | STORE_EVENT_QUEUED)));
    p.ask = st->host_id[0] && (b->announce & STORE_EVENT_CANCEL);
    p.timers = st->host_id[0] && b->timers;
    p.queued = st->host_id[0] && (b->announce & STORE_EVENT_QUEUED);
    p.post = (size_t)p.tell + (size_t)p.ask + (size_t)p.timers + (size_t)p.queued;
    if ((rc = pgs_plan_make(b, &p.plan)) != 0)
        return rc;
    p.commit_k = 1 + p.pre + p.plan.nsends + p.post;
    for (size_t i = 0; i < b->nstmts; i++)
        if (b->stmts[i].n > most)
            most = b->stmts[i].n;
    if (!(p.values = malloc((size_t)most * sizeof *p.values))) {
        pgs_plan_free(&p.plan);
        store_set_error("out of memory committing a batch");
        return TARRY_ENOMEM;
    }
    if ((rc = pgs_pool_get(st, &p.db)) != 0) {
        free(p.values);
        pgs_plan_free(&p.plan);
        return rc;
    }
    if ((rc = prepare_statements(p.db, b, &p.plan)) != 0) {
        /* Nothing was sent: a connection that broke is dropped, as a read's is. */
        free(p.values);
        pgs_plan_free(&p.plan);
        pgs_pool_put(st, p.db);
        return rc;
    }
    if (!PQenterPipelineMode(p.db->conn))
        pipeline_lost(&p, 0, NULL);
    else
        pipeline_run(&p);
    free(p.values);
    pgs_plan_free(&p.plan);
    if (p.failed)
        rc = p.failed;
    else if (p.lost && p.sent == p.commit_k + 1 && !p.commit_answered && !p.ended_before) {
        /* COMMIT went out and its answer never came: the server may have committed. The callers
         * must hear "unknown", not "not accepted" (TARRY_EBROKEN: the engine starts again and reads
         * what is there), as when LMDB loses its meta page write. */
        char reason[1024];
        snprintf(reason, sizeof reason,
                 "%s; the connection was lost after COMMIT was sent: whether this batch was written is "
                 "unknown",
                 store_last_error(sb));
        store_set_error(reason);
        rc = TARRY_EBROKEN;
    } else if (p.lost)
        rc = TARRY_EIO; /* the server ended it before COMMIT: it rolls back what it got */
    else if (!p.commit_answered) {
        set_error(p.db, "committing a batch", "COMMIT was not answered");
        rc = TARRY_EIO;
    }
    if (!p.lost && PQtransactionStatus(p.db->conn) != PQTRANS_IDLE)
        PQclear(PQexec(p.db->conn, "ROLLBACK")); /* a failed statement left the transaction open */
    pgs_pool_put(st, p.db);
    return rc;
}

/* ---- usage --------------------------------------------------------------------------------- */

/*
 * The timers are counted while they are few; past PGS_USAGE_EXACT_MAX the count is PostgreSQL's
 * own, of the index of due times, as its last ANALYZE (autovacuum's) or VACUUM left it: /metrics
 * reads this on the loop thread at every scrape, and counting a million sleeping workflows took
 * 0.4 to 0.5 s (half a million: 0.16 s; now 10 to 17 ms).
 */
int pgs_usage_read(store_txn *txn, store_usage *out)
{
    static const char sql[] = "SELECT pg_database_size(current_database()), (SELECT count(*) FROM (SELECT FROM "
                              "executions WHERE due_at IS NOT NULL LIMIT " PGS_STR(PGS_USAGE_EXACT_MAX) " + 1) "
                              "AS d), (SELECT reltuples::bigint FROM pg_class WHERE oid = "
                              "'executions_due'::regclass)";
    PGresult *r = NULL; /* set when rc is 0: GCC's -O3 cannot see it through pgs_query */
    int rc = pgs_query((struct pg_txn *)txn, "reading the store's usage", sql, 0, NULL, &r);
    int64_t counted, estimated;

    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    out->used_bytes = (uint64_t)pgs_i64(r, 0, 0);
    out->map_bytes = 0; /* no map: the database grows as its disk allows */
    counted = pgs_i64(r, 0, 1);
    estimated = pgs_i64(r, 0, 2); /* -1: never analyzed */
    out->timers = (uint64_t)(counted <= PGS_USAGE_EXACT_MAX || estimated < counted ? counted : estimated);
    return 0;
}

/* ---- the ops table ------------------------------------------------------------------------- */

/* Every member is set: a part of the store that is missing is a link error, not a NULL. */

static const struct store_ops pgs_ops = {
    .kind = "postgres",
    .close = pgs_close,
    .check_folder = pgs_check_folder,
    .mark_lost = pgs_mark_lost,
    .txn_begin = pgs_txn_begin,
    .txn_commit = pgs_txn_commit,
    .txn_abort = pgs_txn_abort,
    .exec_put = pgs_exec_put,
    .exec_get = pgs_exec_get,
    .batch_new = pgs_batch_new,
    .batch_free = pgs_batch_free,
    .batch_reset = pgs_batch_reset,
    .batch_empty = pgs_batch_empty,
    .batch_exec_put = pgs_batch_exec_put,
    .batch_commit = pgs_batch_commit,
    .exec_scan_state = pgs_exec_scan_state,
    .pinned_versions = pgs_pinned_versions,
    .pins_count = pgs_pins_count,
    .exec_ids_in_state = pgs_exec_ids_in_state,
    .exec_list = pgs_exec_list,
    .timer_first = pgs_timer_first,
    .timer_each = pgs_timer_each,
    .timer_scan_due = pgs_timer_scan_due,
    .log_put = pgs_log_put,
    .batch_log_put = pgs_batch_log_put,
    .log_scan = pgs_log_scan,
    .log_scan_from = pgs_log_scan_from,
    .reruns_scan = pgs_reruns_scan,
    .batch_caller_put = pgs_batch_caller_put,
    .caller_put = pgs_caller_put,
    .batch_caller_del = pgs_batch_caller_del,
    .callers_scan = pgs_callers_scan,
    .fn_crashes_put = pgs_fn_crashes_put,
    .batch_fn_crashes_put = pgs_batch_fn_crashes_put,
    .fn_crashes_scan = pgs_fn_crashes_scan,
    .batch_cron_put = pgs_batch_cron_put,
    .cron_put = pgs_cron_put,
    .cron_scan = pgs_cron_scan,
    .attempt_put = pgs_attempt_put,
    .batch_attempt_put = pgs_batch_attempt_put,
    .attempt_scan = pgs_attempt_scan,
    .journal_put = pgs_journal_put,
    .batch_journal_put = pgs_batch_journal_put,
    .batch_journal_del = pgs_batch_journal_del,
    .journal_get = pgs_journal_get,
    .journal_scan = pgs_journal_scan,
    .idem_get = pgs_idem_get,
    .batch_idem_put = pgs_batch_idem_put,
    .idem_expired = pgs_idem_expired,
    .batch_idem_del_raw = pgs_batch_idem_del_raw,
    .exec_query = pgs_exec_query,
    .exec_count = pgs_exec_count,
    .usage_read = pgs_usage_read,
    .batch_retention_put = pgs_batch_retention_put,
    .retention_first = pgs_retention_first,
    .retention_due = pgs_retention_due,
    .batch_exec_purge = pgs_batch_exec_purge,
    .retention_info_get = pgs_retention_info_get,
    .retention_build = pgs_retention_build,
    .batch_notify_put = pgs_batch_notify_put,
    .notify_scan = pgs_notify_scan,
    .outbox_scan = pgs_outbox_scan,
    .outbox_count = pgs_outbox_count,
    .host_join = pgs_host_join,
    .claim = pgs_claim,
    .batch_announce = pgs_batch_announce,
    .batch_host_plugins = pgs_batch_host_plugins,
    .batch_release = pgs_batch_release,
    .batch_cancel_request = pgs_batch_cancel_request,
    .cancel_requests_scan = pgs_cancel_requests_scan,
    .free_queued_count = pgs_free_queued_count,
    .live_hosts = pgs_live_hosts,
    .hosts_scan = pgs_hosts_scan,
    .exec_holder = pgs_exec_holder,
    .plugin_put = pgs_plugin_put,
    .plugin_get = pgs_plugin_get,
};
