/*
 * test_store_pg_rest.c - the PostgreSQL store's notifications, outbox and retention
 * (store_pg_outbox.c, store_pg_retention.c) against a real server: rows round trip with every
 * field; the outbox is the pending rows by due time and follows a row's state and due time; a
 * row of an execution retention deleted is not written again; retention's build runs once and
 * skips "forever"; a purge deletes an execution with its rows (journal, logs, notifications)
 * or, while a child named in its journal has not ended, moves its row on, and sees the writes
 * before it in its batch; a due scan pages past its page size in order and stops where its
 * callback says.
 *
 * The server is the CTest fixture pg_unit's (tests/unit/pg_fixture.py); each case opens a
 * store on a fresh database of its own (pg_testdb.h), through the store's interface (the raw SQL
 * writes rows of other parts' tables). What both stores share is tests/unit/test_store.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"
#include "pg_testdb.h"
#include "status.h"
#include "store.h"
#include "store_outbox.h"
#include "store_pg_int.h" /* pgs_query: rows of other parts' tables, as SQL */

static pg_testdb testdb; /* the running case's database */

static int setup(void **state)
{
    return pg_testdb_store_setup(&testdb, state);
}

static int teardown(void **state)
{
    return pg_testdb_store_teardown(&testdb, state);
}

/* ---- helpers ---- */

static exec_record record(const char *function, exec_state state)
{
    exec_record r;

    memset(&r, 0, sizeof r);
    id_new(&r.id);
    r.state = state;
    r.function = function;
    r.args = "{}";
    r.created_at = id_time_ms(&r.id);
    return r;
}

static void put_direct(store *st, const exec_record *rec)
{
    store_txn *t;

    assert_int_equal(store_txn_begin(st, true, &t), 0);
    if (store_exec_put(t, rec, NULL) != 0)
        fail_msg("exec_put: %s", store_last_error(st));
    assert_int_equal(store_txn_commit(t), 0);
}

/* One statement in a write transaction: rows of other helpers' tables, written as SQL. */
static void sql_direct(store *st, const char *sql, int n, const char *const *params)
{
    store_txn *t;

    assert_int_equal(store_txn_begin(st, true, &t), 0);
    if (pgs_query((struct pg_txn *)t, "a test's write", sql, n, params, NULL) != 0)
        fail_msg("%s", store_last_error(st));
    assert_int_equal(store_txn_commit(t), 0);
}

static int64_t sql_count(store *st, const char *sql, const exec_id *id)
{
    char text[ID_TEXT_LEN + 1];
    const char *params[] = {text};
    store_txn *t;
    PGresult *r;
    int64_t n;

    id_format(id, text);
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    if (pgs_query((struct pg_txn *)t, "a test's count", sql, 1, params, &r) != 0)
        fail_msg("%s", store_last_error(st));
    n = pgs_i64(r, 0, 0);
    store_txn_abort(t);
    return n;
}

static void commit(store *st, store_batch *b)
{
    if (store_batch_commit(st, b) != 0)
        fail_msg("batch commit: %s", store_last_error(st));
    store_batch_free(b);
}

/* ---- notifications and the outbox ---- */

typedef struct notify_seen {
    int count, stop_after;
    store_notify rows[8];
    char bodies[8][64], errors[8][64]; /* copies: a row's strings borrow from the txn */
} notify_seen;

static int collect_notify(void *user, const store_notify *n)
{
    notify_seen *s = user;

    if (s->count < 8) {
        s->rows[s->count] = *n;
        snprintf(s->bodies[s->count], sizeof s->bodies[0], "%s", n->body);
        snprintf(s->errors[s->count], sizeof s->errors[0], "%s", n->last_error ? n->last_error : "(null)");
    }
    s->count++;
    return s->stop_after && s->count == s->stop_after ? 7 : 0;
}

static store_notify notify_row(const exec_id *id, int64_t created_at, uint8_t hook, int64_t due_at)
{
    store_notify n = {.id = *id,
                      .created_at = created_at,
                      .hook = hook,
                      .state = STORE_NOTIFY_PENDING,
                      .due_at = due_at,
                      .url = "https://user:secret@hooks.example/T1?token=x",
                      .shown_url = "https://hooks.example/T1",
                      .body = "{\"text\":\"tick failed: caf\xc3\xa9\"}"};
    return n;
}

static void notify_put(store *st, const store_notify *n, int64_t prev_due)
{
    store_batch *b = store_batch_new(st);

    assert_int_equal(store_batch_notify_put(b, n, prev_due), 0);
    commit(st, b);
}

static notify_seen notify_read(store *st, const exec_id *id)
{
    notify_seen s = {0};
    store_txn *t;

    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_notify_scan(t, id, collect_notify, &s), 0);
    store_txn_abort(t);
    return s;
}

static notify_seen outbox_read(store *st, int stop_after, int *rc, uint64_t *count)
{
    notify_seen s = {.stop_after = stop_after};
    store_txn *t;

    assert_int_equal(store_txn_begin(st, false, &t), 0);
    *rc = store_outbox_scan(t, collect_notify, &s);
    assert_int_equal(store_outbox_count(t, count), 0);
    store_txn_abort(t);
    return s;
}

static void notifications_and_outbox(void **state)
{
    store *st = *state;
    exec_record a = record("tick", EXEC_FAILED), b = record("tock", EXEC_FAILED);
    store_notify a100 = notify_row(&a.id, 100, 0, 5000), a100h1 = notify_row(&a.id, 100, 1, 3000);
    store_notify b200 = notify_row(&b.id, 200, 255, 4000), a50 = notify_row(&a.id, 50, 0, 0);
    notify_seen s;
    uint64_t count;
    int rc;

    put_direct(st, &a);
    put_direct(st, &b);
    a50.state = STORE_NOTIFY_DELIVERED;
    a50.attempts = 2;
    a50.delivered_at = 70;
    a50.last_error = "HTTP 503";
    notify_put(st, &a100, 0);
    notify_put(st, &a100h1, 0);
    notify_put(st, &b200, 0);
    notify_put(st, &a50, 0);

    /* An execution's rows by (created_at, hook), every field back as written. */
    s = notify_read(st, &a.id);
    assert_int_equal(s.count, 3);
    assert_int_equal(s.rows[0].created_at, 50);
    assert_int_equal(s.rows[0].state, STORE_NOTIFY_DELIVERED);
    assert_int_equal(s.rows[0].attempts, 2);
    assert_int_equal(s.rows[0].delivered_at, 70);
    assert_int_equal(s.rows[0].due_at, 0);
    assert_string_equal(s.errors[0], "HTTP 503");
    assert_int_equal(s.rows[1].created_at, 100);
    assert_int_equal(s.rows[1].hook, 0);
    assert_int_equal(s.rows[1].state, STORE_NOTIFY_PENDING);
    assert_int_equal(s.rows[1].due_at, 5000);
    assert_int_equal(s.rows[1].delivered_at, 0);
    assert_string_equal(s.errors[1], "(null)");
    assert_string_equal(s.bodies[1], a100.body);
    assert_int_equal(s.rows[2].hook, 1);
    assert_memory_equal(s.rows[2].id.bytes, a.id.bytes, 16);
    s = notify_read(st, &b.id);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.rows[0].hook, 255);

    /* The outbox: pending rows only, by due time; a callback's return stops it. */
    s = outbox_read(st, 0, &rc, &count);
    assert_int_equal(rc, 0);
    assert_int_equal(count, 3);
    assert_int_equal(s.count, 3);
    assert_int_equal(s.rows[0].due_at, 3000);
    assert_int_equal(s.rows[1].due_at, 4000);
    assert_memory_equal(s.rows[1].id.bytes, b.id.bytes, 16);
    assert_int_equal(s.rows[2].due_at, 5000);
    s = outbox_read(st, 1, &rc, &count);
    assert_int_equal(rc, 7);
    assert_int_equal(s.count, 1);

    /* A retry moves a row's due time; a row that failed for good leaves the outbox. */
    a100h1.attempts = 1;
    a100h1.due_at = 9000;
    a100h1.last_error = "HTTP 500";
    notify_put(st, &a100h1, 3000);
    a100.state = STORE_NOTIFY_FAILED;
    a100.attempts = 5;
    notify_put(st, &a100, 5000);
    s = outbox_read(st, 0, &rc, &count);
    assert_int_equal(count, 2);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.rows[0].due_at, 4000);
    assert_int_equal(s.rows[1].due_at, 9000);
    assert_int_equal(s.rows[1].attempts, 1);
    assert_string_equal(s.errors[1], "HTTP 500");
    assert_int_equal(notify_read(st, &a.id).rows[1].state, STORE_NOTIFY_FAILED);
}

/* ---- retention ---- */

static int64_t retention_10s(void *user, const char *function)
{
    (void)user;
    return strcmp(function, "forever") == 0 ? 0 : 10000;
}

typedef struct due_seen {
    int count, stop_after, stop_with;
    int64_t at[1024];
    exec_id ids[1024];
} due_seen;

static int collect_due(void *user, int64_t expire_at, const exec_id *id)
{
    due_seen *d = user;

    if (d->count < 1024) {
        d->at[d->count] = expire_at;
        d->ids[d->count] = *id;
    }
    d->count++;
    return d->stop_after && d->count == d->stop_after ? d->stop_with : 0;
}

static int due_read(store *st, int64_t now, due_seen *d)
{
    store_txn *t;
    int rc;

    assert_int_equal(store_txn_begin(st, false, &t), 0);
    rc = store_retention_due(t, now, collect_due, d);
    store_txn_abort(t);
    return rc;
}

static store_retention_info info_read(store *st)
{
    store_retention_info info;
    store_txn *t;

    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_retention_info_get(t, &info), 0);
    store_txn_abort(t);
    return info;
}

static void retention_build_and_purge(void **state)
{
    static const char journal[] = "INSERT INTO journal (exec_id, seq, kind, status, name, child) VALUES ($1, "
                                  "0, $2, 'pending', 'k', $3)";
    static const char log[] = "INSERT INTO logs (exec_id, seq, logged_at, level, text) VALUES ($1, 0, now(), "
                              "'info', 'hello')";
    store *st = *state;
    exec_record done = record("tick", EXEC_SUCCEEDED), kid = record("tick", EXEC_WAITING);
    exec_record parent = record("tick", EXEC_FAILED), old = record("forever", EXEC_SUCCEEDED);
    exec_record later = record("tock", EXEC_CANCELLED);
    char done_id[ID_TEXT_LEN + 1], parent_id[ID_TEXT_LEN + 1], kid_id[ID_TEXT_LEN + 1];
    store_notify n = notify_row(&done.id, 500, 0, 600);
    store_retention_info info;
    store_batch *b;
    store_txn *t;
    due_seen d = {0};
    int64_t at;
    exec_id first;

    done.finished_at = 1000;
    parent.finished_at = 2000;
    old.finished_at = 500;
    put_direct(st, &done);
    put_direct(st, &kid);
    put_direct(st, &parent);
    put_direct(st, &old);
    id_format(&done.id, done_id);
    id_format(&parent.id, parent_id);
    id_format(&kid.id, kid_id);
    sql_direct(st, journal, 3, (const char *const[]){done_id, "step", NULL});
    sql_direct(st, journal, 3, (const char *const[]){parent_id, "call", kid_id});
    sql_direct(st, log, 1, (const char *const[]){done_id});
    notify_put(st, &n, 0);

    /* Nothing to find before the build; the build writes the rows of final executions (not
     * "forever"), once: one made final after it keeps what its own batch wrote. */
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_retention_first(t, &at, &first), TARRY_ENOTFOUND);
    store_txn_abort(t);
    assert_false(info_read(st).built);
    assert_int_equal(store_retention_build(st, retention_10s, NULL), 0);
    assert_true(info_read(st).built);
    assert_int_equal(due_read(st, INT64_MAX, &d), 0);
    assert_int_equal(d.count, 2); /* done, parent */
    assert_int_equal(d.at[0], 11000);
    assert_memory_equal(d.ids[0].bytes, done.id.bytes, 16);
    assert_int_equal(d.at[1], 12000);
    later.finished_at = 700;
    put_direct(st, &later);
    assert_int_equal(store_retention_build(st, retention_10s, NULL), 0); /* a no-op now */
    memset(&d, 0, sizeof d);
    assert_int_equal(due_read(st, INT64_MAX, &d), 0);
    assert_int_equal(d.count, 2);
    b = store_batch_new(st);
    assert_int_equal(store_batch_retention_put(b, 5000, &later.id), 0);
    commit(st, b);
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_retention_first(t, &at, &first), 0);
    assert_int_equal(at, 5000);
    assert_memory_equal(first.bytes, later.id.bytes, 16);
    store_txn_abort(t);
    memset(&d, 0, sizeof d);
    assert_int_equal(due_read(st, 11000, &d), 0); /* at or before now only */
    assert_int_equal(d.count, 2);

    /* Purge: done goes with its journal, logs and notifications; parent stays (its child is
     * waiting), its row moved to 99000; an id that is gone is nothing to do. */
    b = store_batch_new(st);
    assert_int_equal(store_batch_exec_purge(b, 11000, &done.id, 99000), 0);
    assert_int_equal(store_batch_exec_purge(b, 12000, &parent.id, 99000), 0);
    assert_int_equal(store_batch_exec_purge(b, 11000, &done.id, 99000), 0);
    commit(st, b);
    assert_int_equal(sql_count(st, "SELECT count(*) FROM executions WHERE id = $1", &done.id), 0);
    assert_int_equal(sql_count(st, "SELECT count(*) FROM journal WHERE exec_id = $1", &done.id), 0);
    assert_int_equal(sql_count(st, "SELECT count(*) FROM logs WHERE exec_id = $1", &done.id), 0);
    assert_int_equal(notify_read(st, &done.id).count, 0);
    assert_int_equal(sql_count(st, "SELECT count(*) FROM journal WHERE exec_id = $1", &parent.id), 1);
    info = info_read(st);
    assert_int_equal(info.deleted, 1);
    assert_int_equal(info.purged_before, 1000);
    memset(&d, 0, sizeof d);
    assert_int_equal(due_read(st, INT64_MAX, &d), 0);
    assert_int_equal(d.count, 2); /* later at 5000, parent at 99000 */
    assert_int_equal(d.at[1], 99000);
    assert_memory_equal(d.ids[1].bytes, parent.id.bytes, 16);

    /* Once its child has ended, the parent goes, and purged_before only grows. */
    kid.state = EXEC_SUCCEEDED;
    kid.finished_at = 90000;
    put_direct(st, &kid);
    b = store_batch_new(st);
    assert_int_equal(store_batch_exec_purge(b, 99000, &parent.id, 199000), 0);
    assert_int_equal(store_batch_exec_purge(b, 5000, &later.id, 199000), 0);
    commit(st, b);
    info = info_read(st);
    assert_int_equal(info.deleted, 3);
    assert_int_equal(info.purged_before, 2000);
    memset(&d, 0, sizeof d);
    assert_int_equal(due_read(st, INT64_MAX, &d), 0);
    assert_int_equal(d.count, 0);
}

/* A purge in a batch sees the writes before it in that batch: a child made final there frees
 * its parent in the same commit. */
static void purge_sees_its_batch(void **state)
{
    static const char journal[] = "INSERT INTO journal (exec_id, seq, kind, status, name, child) VALUES ($1, "
                                  "0, 'call', 'pending', 'k', $2)";
    store *st = *state;
    exec_record parent = record("tick", EXEC_FAILED), kid = record("tick", EXEC_RUNNING);
    char parent_id[ID_TEXT_LEN + 1], kid_id[ID_TEXT_LEN + 1];
    store_batch *b;

    parent.finished_at = 10;
    put_direct(st, &parent);
    put_direct(st, &kid);
    id_format(&parent.id, parent_id);
    id_format(&kid.id, kid_id);
    sql_direct(st, journal, 2, (const char *const[]){parent_id, kid_id});
    kid.state = EXEC_FAILED;
    b = store_batch_new(st);
    assert_int_equal(store_batch_exec_put(b, &kid, NULL), 0);
    assert_int_equal(store_batch_exec_purge(b, 100, &parent.id, 5000), 0);
    commit(st, b);
    assert_int_equal(sql_count(st, "SELECT count(*) FROM executions WHERE id = $1", &parent.id), 0);
}

/* More rows due than one page reads: every one, in (expires_at, id) order, ties by id; the
 * callback's positive return stops quietly, a negative one is returned. */
static void due_scan_pages(void **state)
{
    enum { ROWS = 600 };
    store *st = *state;
    store_batch *b = store_batch_new(st);
    static due_seen d;

    for (int i = 0; i < ROWS; i++) {
        exec_record r = record("tick", EXEC_SUCCEEDED);
        r.finished_at = 1;
        assert_int_equal(store_batch_exec_put(b, &r, NULL), 0);
        assert_int_equal(store_batch_retention_put(b, 1000 + (i % 7) * 100, &r.id), 0);
    }
    commit(st, b);
    memset(&d, 0, sizeof d);
    assert_int_equal(due_read(st, 2000, &d), 0);
    assert_int_equal(d.count, ROWS);
    for (int i = 1; i < ROWS; i++)
        if (d.at[i] < d.at[i - 1] ||
            (d.at[i] == d.at[i - 1] && memcmp(d.ids[i].bytes, d.ids[i - 1].bytes, 16) <= 0))
            fail_msg("row %d is out of order", i);
    memset(&d, 0, sizeof d);
    assert_int_equal(due_read(st, 1000, &d), 0);
    assert_int_equal(d.count, (ROWS + 6) / 7); /* i % 7 == 0 */
    memset(&d, 0, sizeof d);
    d.stop_after = 300;
    d.stop_with = 1;
    assert_int_equal(due_read(st, 2000, &d), 0);
    assert_int_equal(d.count, 300);
    memset(&d, 0, sizeof d);
    d.stop_after = 270;
    d.stop_with = TARRY_EIO;
    assert_int_equal(due_read(st, 2000, &d), TARRY_EIO);
    assert_int_equal(d.count, 270);
}

/* The notifier records a delivery in a batch of its own: when retention deleted the execution
 * meanwhile, the row is not written again, and the rest of that batch commits. */
static void notification_of_a_deleted_execution(void **state)
{
    store *st = *state;
    exec_record gone = record("tick", EXEC_FAILED), kept = record("tick", EXEC_FAILED);
    store_notify late = notify_row(&gone.id, 100, 0, 500), other = notify_row(&kept.id, 100, 0, 600);
    store_batch *b;
    uint64_t count;
    int rc;

    gone.finished_at = 10;
    put_direct(st, &gone);
    put_direct(st, &kept);
    notify_put(st, &late, 0);
    b = store_batch_new(st);
    assert_int_equal(store_batch_exec_purge(b, 100, &gone.id, 5000), 0);
    commit(st, b);
    late.state = STORE_NOTIFY_DELIVERED;
    late.delivered_at = 700;
    b = store_batch_new(st);
    assert_int_equal(store_batch_notify_put(b, &late, 500), 0);
    assert_int_equal(store_batch_notify_put(b, &other, 0), 0);
    commit(st, b);
    assert_int_equal(notify_read(st, &gone.id).count, 0);
    assert_int_equal(notify_read(st, &kept.id).count, 1);
    outbox_read(st, 0, &rc, &count);
    assert_int_equal(count, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(notifications_and_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(notification_of_a_deleted_execution, setup, teardown),
        cmocka_unit_test_setup_teardown(retention_build_and_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(purge_sees_its_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(due_scan_pages, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
