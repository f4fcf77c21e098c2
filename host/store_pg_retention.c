/*
 * store_pg_retention.c - final executions by when retention deletes them, and the deletion
 * itself (store_outbox.h's retention part), on PostgreSQL.
 *
 * LMDB keeps a retention database of (expire_at, id) rows; here the row is a column of the
 * execution, executions.expires_at, indexed where it is set (executions_expiry), so it goes
 * with its execution and cannot outlive it. What retention has done so far is the one row of
 * the `retention` table (purged_before, deleted, built).
 *
 * A purge is one statement of the batch, run at commit in the batch's transaction after the
 * statements before it: it decides there, from what the transaction sees, whether the
 * execution is final and still has an unfinished child (then it only moves expires_at on), and
 * otherwise deletes the execution row, which takes its journal, attempts, logs, metadata,
 * callers, idempotency key and notifications with it (ON DELETE CASCADE), and counts it. So a
 * crash leaves an execution whole or gone, as on LMDB.
 *
 * One difference from LMDB: re-runs name their original in their own row (rerun_of), so
 * store_reruns_scan of a deleted original still finds its re-runs, which LMDB forgets; nothing
 * reads the re-runs of an execution that is gone.
 *
 * May not: call into the engine, decide when or how much to delete (engine_retention.c does),
 * or delete an execution that is not final.
 */
#include "store_outbox.h"

#include <string.h>

#include "status.h"
#include "store_pg_int.h"

#define FINAL_STATES "('succeeded', 'failed', 'cancelled', 'discarded')"

/* Rows read per statement of a due scan: the engine stops after a batch's worth. */
#define DUE_PAGE 256
#define SQL_NUMBER(n) #n
#define SQL_LIMIT(n) " LIMIT " SQL_NUMBER(n)

/* tarry_ts(0) is NULL, "kept forever": a row due at or before the epoch is due at 1 ms alike. */
static int64_t row_ms(int64_t ms)
{
    return ms < 1 ? 1 : ms;
}

/* Folded into its execution's row when the batch writes that execution too (store_pg_bulk.c). */
const char pgs_retention_put_sql[] = "UPDATE executions SET expires_at = tarry_ts($2) WHERE id = $1";

int pgs_batch_retention_put(store_batch *b, int64_t expire_at, const exec_id *id)
{
    pgs_sink out = pgs_to_batch(b);
    pgs_buf idtext, at;
    const char *params[] = {pgs_idtext(&idtext, id), pgs_int(&at, row_ms(expire_at))};

    return pgs_write(&out, "writing when an execution expires", pgs_retention_put_sql, 2, params);
}

/*
 * A child named in the journal that has not ended writes its outcome into this journal when it
 * ends (a detached one, or one a failed parent left running): keep the parent until then.
 * Data-modifying CTEs all run, on one snapshot; `live` makes postponed and gone exclusive.
 */
const char pgs_exec_purge_sql[] =
    "WITH target AS (\n"
    "    SELECT e.id, e.finished_at, EXISTS (SELECT 1 FROM journal j JOIN executions c ON c.id = "
    "j.child\n"
    "        WHERE j.exec_id = e.id AND c.state NOT IN " FINAL_STATES ") AS live\n"
    "    FROM executions e WHERE e.id = $1 AND e.state IN " FINAL_STATES "\n"
    "), postponed AS (\n"
    "    UPDATE executions e SET expires_at = tarry_ts($2) FROM target t WHERE e.id = t.id AND t.live\n"
    "    RETURNING e.id\n"
    "), gone AS (\n"
    "    DELETE FROM executions e USING target t WHERE e.id = t.id AND NOT t.live RETURNING "
    "t.finished_at\n"
    ")\n"
    "UPDATE retention SET purged_before = greatest(retention.purged_before, gone.finished_at),\n"
    "    deleted = retention.deleted + 1 FROM gone";

int pgs_batch_exec_purge(store_batch *b, int64_t expire_at, const exec_id *id, int64_t postpone_to)
{
    pgs_sink out = pgs_to_batch(b);
    pgs_buf idtext, later;
    const char *params[] = {pgs_idtext(&idtext, id), pgs_int(&later, row_ms(postpone_to))};

    (void)expire_at; /* the row is the execution's own column: nothing else to find it by */
    return pgs_write(&out, "deleting an expired execution", pgs_exec_purge_sql, 2, params);
}

int pgs_retention_info_get(store_txn *txn, store_retention_info *out)
{
    static const char sql[] = "SELECT tarry_ms(purged_before), deleted, built FROM retention";
    PGresult *r;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = pgs_query((struct pg_txn *)txn, "reading retention", sql, 0, NULL, &r)) != 0)
        return rc;
    if (PQntuples(r) != 1) {
        store_set_error("reading retention: the retention table must hold one row (migration 1 inserts it)");
        return TARRY_EIO;
    }
    out->purged_before = pgs_i64(r, 0, 0);
    out->deleted = (uint64_t)pgs_i64(r, 0, 1);
    out->built = pgs_b(r, 0, 2);
    return 0;
}

/* cb for each (expires_at, id) row of r; a non-zero return stops (*stopped) and is returned. */
static int due_each(const PGresult *r, store_retention_cb cb, void *user, int *stopped)
{
    for (int row = 0; row < PQntuples(r); row++) {
        exec_id id;
        int rc;
        if (pgs_idget(r, row, 1, &id) != 0) {
            store_set_error("reading retention: an execution id is malformed");
            return TARRY_EIO;
        }
        if ((rc = cb(user, pgs_i64(r, row, 0), &id)) != 0) {
            *stopped = 1;
            return rc;
        }
    }
    return 0;
}

int pgs_retention_due(store_txn *txn, int64_t now_ms, store_retention_cb cb, void *user)
{
    /* Pages by (expires_at, id), so a scan that stops early reads little of a long backlog. */
    static const char first[] =
        "SELECT tarry_ms(expires_at), id FROM executions WHERE expires_at <= tarry_ts($1) "
        "ORDER BY expires_at, id" SQL_LIMIT(DUE_PAGE);
    static const char next[] =
        "SELECT tarry_ms(expires_at), id FROM executions WHERE expires_at <= tarry_ts($1) "
        "AND (expires_at, id) > (tarry_ts($2), $3::tarry_id) ORDER BY expires_at, id" SQL_LIMIT(DUE_PAGE);
    struct pg_txn *t = (struct pg_txn *)txn;
    pgs_buf now, after;
    const char *params[] = {pgs_int(&now, now_ms), NULL, NULL};
    PGresult *r;
    int rc, stopped = 0;

    if ((rc = pgs_query(t, "reading retention", first, 1, params, &r)) != 0)
        return rc;
    for (;;) {
        int rows = PQntuples(r);
        if ((rc = due_each(r, cb, user, &stopped)) != 0 || stopped)
            return rc > 0 ? 0 : rc; /* a positive return stops quietly */
        if (rows < DUE_PAGE)
            return 0;
        params[1] = pgs_int(&after, pgs_i64(r, rows - 1, 0));
        params[2] = pgs_str(r, rows - 1, 1); /* r is held until the transaction ends */
        if ((rc = pgs_query(t, "reading retention", next, 3, params, &r)) != 0)
            return rc;
    }
}

static int first_cb(void *user, int64_t expire_at, const exec_id *id)
{
    struct {
        int64_t at;
        exec_id id;
        bool found;
    } *f = user;
    f->at = expire_at;
    f->id = *id;
    f->found = true;
    return 1;
}

int pgs_retention_first(store_txn *txn, int64_t *expire_at, exec_id *id)
{
    static const char sql[] = "SELECT tarry_ms(expires_at), id FROM executions WHERE expires_at IS NOT NULL "
                              "ORDER BY expires_at, id LIMIT 1";
    struct {
        int64_t at;
        exec_id id;
        bool found;
    } f = {0};
    PGresult *r;
    int rc, stopped = 0;

    if ((rc = pgs_query((struct pg_txn *)txn, "reading retention", sql, 0, NULL, &r)) != 0 ||
        (rc = due_each(r, first_cb, &f, &stopped)) < 0)
        return rc;
    if (!f.found)
        return TARRY_ENOTFOUND;
    *expire_at = f.at;
    *id = f.id;
    return 0;
}

/* Set expires_at on the final executions of each function that have none, once (built). */
static int build(struct pg_txn *t, store_retention_of_cb retention_of, void *user)
{
    static const char lock[] = "SELECT built FROM retention FOR UPDATE";
    static const char functions[] = "SELECT DISTINCT function FROM executions WHERE expires_at IS NULL "
                                    "AND state IN " FINAL_STATES;
    static const char set[] = "UPDATE executions SET expires_at = tarry_ts(tarry_ms(finished_at) + $2) "
                              "WHERE function = $1 AND expires_at IS NULL AND state IN " FINAL_STATES;
    static const char done[] = "UPDATE retention SET built = true";
    pgs_sink out = {t, NULL};
    PGresult *r;
    int rc;

    /* The lock makes a second host that builds at once wait, then find it built. */
    if ((rc = pgs_query(t, "reading whether retention is built", lock, 0, NULL, &r)) != 0)
        return rc;
    if (PQntuples(r) == 1 && pgs_b(r, 0, 0))
        return 1;
    if ((rc = pgs_query(t, "reading the functions of final executions", functions, 0, NULL, &r)) != 0)
        return rc;
    for (int row = 0; row < PQntuples(r); row++) {
        const char *fn = pgs_str(r, row, 0);
        int64_t ms = retention_of(user, fn);
        pgs_buf msbuf;
        const char *params[] = {fn, pgs_int(&msbuf, ms)};
        if (ms <= 0)
            continue; /* kept forever */
        if ((rc = pgs_write(&out, "setting when final executions expire", set, 2, params)) != 0)
            return rc;
    }
    return pgs_write(&out, "marking retention built", done, 0, NULL);
}

int pgs_retention_build(store *st, store_retention_of_cb retention_of, void *user)
{
    store_txn *t;
    int rc;

    if ((rc = pgs_txn_begin(st, true, &t)) != 0)
        return rc;
    if ((rc = build((struct pg_txn *)t, retention_of, user)) != 0) {
        pgs_txn_abort(t);
        return rc > 0 ? 0 : rc; /* 1: built already */
    }
    return pgs_txn_commit(t);
}
