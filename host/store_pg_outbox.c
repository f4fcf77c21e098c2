/*
 * store_pg_outbox.c - failure notifications and their outbox (store_outbox.h) on PostgreSQL.
 *
 * A notification is a row of `notifications`, keyed as LMDB keys it (execution, created_at,
 * hook). The outbox is no table of its own: it is the partial index notifications_outbox over
 * the pending rows by due time, so a row and its outbox entry cannot disagree and a put needs
 * no prev_due (LMDB moves its outbox key by it). A row is written only while its execution
 * exists (retention deletes both together). The claim columns (claimed_by, claimed_until)
 * are for several hosts and stay NULL here.
 *
 * May not: touch the execution records (store_pg_exec.c); decide anything about delivery
 * (notify.c does).
 */
#include "store_outbox.h"

#include <string.h>

#include "status.h"
#include "store_pg_int.h"

/* The select list of a row, in the order notify_decode reads it. */
#define NOTIFY_COLS                                                                                          \
    "exec_id, tarry_ms(created_at), hook, state, attempts, tarry_ms(due_at), tarry_ms(delivered_at), url, "  \
    "shown_url, body, last_error"

static const char *notify_state_label(store_notify_state s)
{
    switch (s) {
    case STORE_NOTIFY_PENDING:
    case STORE_NOTIFY_DELIVERED:
    case STORE_NOTIFY_FAILED:
        return store_notify_state_name(s); /* the tarry_notify_state labels are these names */
    }
    return NULL; /* no such state: the NOT NULL column refuses the row */
}

static int notify_state_get(const char *label, store_notify_state *out)
{
    static const store_notify_state all[] = {STORE_NOTIFY_PENDING, STORE_NOTIFY_DELIVERED,
                                             STORE_NOTIFY_FAILED};
    for (size_t i = 0; label && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(label, store_notify_state_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return TARRY_EIO;
}

int pgs_batch_notify_put(store_batch *b, const store_notify *n, int64_t prev_due)
{
    /*
     * Only while its execution exists: the notifier records a delivery in a batch of its own,
     * and retention may have deleted the execution (and its rows) meanwhile. LMDB then writes
     * a row nobody reads; a reference here would fail the notifier's whole batch, every time.
     */
    static const char sql[] =
        "INSERT INTO notifications (exec_id, created_at, hook, state, attempts, due_at, delivered_at, url, "
        "shown_url, body, last_error) "
        "SELECT $1::tarry_id, tarry_ts($2), $3::smallint, $4::tarry_notify_state, $5::bigint, tarry_ts($6), "
        "tarry_ts($7), $8::text, $9::text, $10::text, $11::text "
        "WHERE EXISTS (SELECT 1 FROM executions WHERE id = $1::tarry_id) "
        "ON CONFLICT (exec_id, created_at, hook) DO UPDATE SET state = EXCLUDED.state, attempts = "
        "EXCLUDED.attempts, due_at = EXCLUDED.due_at, delivered_at = EXCLUDED.delivered_at, url = "
        "EXCLUDED.url, shown_url = EXCLUDED.shown_url, body = EXCLUDED.body, last_error = "
        "EXCLUDED.last_error";
    pgs_sink out = pgs_to_batch(b);
    pgs_buf id, created, hook, attempts, due, delivered;
    const char *params[] = {pgs_idtext(&id, &n->id),
                            pgs_int(&created, n->created_at),
                            pgs_int(&hook, n->hook),
                            notify_state_label(n->state),
                            pgs_int(&attempts, n->attempts),
                            pgs_ms(&due, n->due_at),
                            pgs_ms(&delivered, n->delivered_at),
                            n->url,
                            n->shown_url,
                            n->body,
                            n->last_error};

    (void)prev_due; /* the outbox is an index over the row's own state and due_at */
    return pgs_write(&out, "writing a notification", sql, 11, params);
}

/* Row `row` of r (NOTIFY_COLS) into n, strings borrowed from r. 0 or TARRY_EIO. */
static int notify_decode(const PGresult *r, int row, store_notify *n)
{
    int64_t hook = pgs_i64(r, row, 2);

    memset(n, 0, sizeof *n);
    if (pgs_idget(r, row, 0, &n->id) != 0 || hook < 0 || hook > UINT8_MAX ||
        notify_state_get(pgs_str(r, row, 3), &n->state) != 0) {
        store_set_error("a notification row is malformed (its execution id, hook or state)");
        return TARRY_EIO;
    }
    n->created_at = pgs_i64(r, row, 1);
    n->hook = (uint8_t)hook;
    n->attempts = (uint32_t)pgs_i64(r, row, 4);
    n->due_at = pgs_i64(r, row, 5);
    n->delivered_at = pgs_i64(r, row, 6);
    n->url = pgs_str(r, row, 7);
    n->shown_url = pgs_str(r, row, 8);
    n->body = pgs_str(r, row, 9);
    n->last_error = pgs_str(r, row, 10);
    return 0;
}

/* cb for each row of r in order; a non-zero return stops and is returned. */
static int notify_each(const PGresult *r, store_notify_cb cb, void *user)
{
    for (int row = 0; row < PQntuples(r); row++) {
        store_notify n;
        int rc;
        if ((rc = notify_decode(r, row, &n)) != 0 || (rc = cb(user, &n)) != 0)
            return rc;
    }
    return 0;
}

int pgs_notify_scan(store_txn *txn, const exec_id *id, store_notify_cb cb, void *user)
{
    static const char sql[] =
        "SELECT " NOTIFY_COLS " FROM notifications WHERE exec_id = $1 ORDER BY created_at, hook";
    pgs_buf idtext;
    const char *params[] = {pgs_idtext(&idtext, id)};
    PGresult *r;
    int rc;

    if (!params[0])
        return 0; /* the all-zero id names no execution */
    if ((rc = pgs_query((struct pg_txn *)txn, "reading notifications", sql, 1, params, &r)) != 0)
        return rc;
    return notify_each(r, cb, user);
}

int pgs_outbox_scan(store_txn *txn, store_notify_cb cb, void *user)
{
    /* A due time of 0 (NULL) is LMDB's smallest key: first. */
    static const char sql[] = "SELECT " NOTIFY_COLS " FROM notifications WHERE state = 'pending' "
                              "ORDER BY due_at NULLS FIRST, exec_id, created_at, hook";
    PGresult *r;
    int rc;

    if ((rc = pgs_query((struct pg_txn *)txn, "reading the notification outbox", sql, 0, NULL, &r)) != 0)
        return rc;
    return notify_each(r, cb, user);
}

int pgs_outbox_count(store_txn *txn, uint64_t *count)
{
    static const char sql[] = "SELECT count(*) FROM notifications WHERE state = 'pending'";
    PGresult *r;
    int rc;

    if ((rc = pgs_query((struct pg_txn *)txn, "counting the notification outbox", sql, 0, NULL, &r)) != 0)
        return rc;
    *count = (uint64_t)pgs_i64(r, 0, 0);
    return 0;
}
