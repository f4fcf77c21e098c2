/*
 * test_store_pg_bulk.c - a batch's rows grouped into few statements
 * (host/store_pg_bulk.c) against a real server: writes of one execution
 * merged into one row (its last values, the lease it took, an expiry folded
 * in), groups of executions, attempts and journal entries filling side by
 * side, more rows than one statement takes, a journal entry deleted and
 * written again in one batch, a conflict inside a group naming its
 * execution, releases of queued executions grouped in their order
 * with writes, and the executions' write planned as a batch plans it.
 *
 * The server is the CTest fixture pg_unit's; each case has a database of
 * its own (pg_testdb.h) and a store that joined it as a host.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"
#include "pg_testdb.h"
#include "record.h"
#include "status.h"
#include "store.h"
#include "store_cluster.h"
#include "store_pg_int.h"

static pg_testdb testdb; /* the running case's database */

static exec_record record(exec_state state)
{
    exec_record r;

    memset(&r, 0, sizeof r);
    id_new(&r.id);
    r.state = state;
    r.function = "f";
    r.args = "{\"quoted\": \"a \\\"b\\\" \\\\ {c}\"}"; /* quotes, backslashes and braces in an array */
    r.created_at = id_time_ms(&r.id);
    return r;
}

static void join(store *st, const char *id)
{
    store_host_info me = {
        .id = id, .hostname = "test", .address = "", .pid = 1, .workers = 2, .lease_ms = 60000};

    if (store_host_join(st, &me, NULL, NULL, NULL) != 0)
        fail_msg("joining as %s: %s", id, store_last_error(st));
}

/* One integer (or -1 for NULL) a statement selects about execution id. */
static int64_t about(store *st, const char *sql, const exec_id *id)
{
    char text[ID_TEXT_LEN + 1];
    const char *params[1] = {text};
    store_txn *t;
    PGresult *r;
    int64_t v;

    id_format(id, text);
    assert_int_equal(store_txn_begin(st, false, &t), 0);
    if (pgs_query((struct pg_txn *)t, "a test's query", sql, 1, params, &r) != 0)
        fail_msg("%s: %s", sql, store_last_error(st));
    v = PQntuples(r) == 0 || PQgetisnull(r, 0, 0) ? -1 : pgs_i64(r, 0, 0);
    store_txn_abort(t);
    return v;
}

static void commit(store *st, store_batch *b)
{
    if (store_batch_commit(st, b) != 0)
        fail_msg("commit: %s", store_last_error(st));
    store_batch_free(b);
}

static void assert_args(store *st, const exec_record *want)
{
    store_txn *t;
    exec_record got;

    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(store_exec_get(t, &want->id, &got), 0);
    assert_int_equal(got.state, want->state);
    assert_string_equal(got.args, want->args);
    store_txn_abort(t);
}

/* An execution made, run and finished in one batch is one row: final, free, claimed once. */
static void writes_of_one_execution_merge(void **state)
{
    store *st = *state;
    exec_record x = record(EXEC_QUEUED), y = record(EXEC_QUEUED), running, done;
    store_attempt a = {.number = 1, .started_at = 1000, .finished_at = 2000, .outcome = EXEC_SUCCEEDED};
    store_batch *b = store_batch_new(st);

    join(st, "00000000000000a1");
    running = x;
    running.state = EXEC_RUNNING;
    running.attempts = 1;
    done = running;
    done.state = EXEC_SUCCEEDED;
    done.result = "42";
    done.finished_at = x.created_at + 5;
    assert_int_equal(store_batch_exec_put(b, &x, NULL), 0);
    assert_int_equal(store_batch_exec_put(b, &y, NULL), 0);
    assert_int_equal(store_batch_exec_put(b, &running, &x), 0);
    assert_int_equal(store_batch_attempt_put(b, &x.id, &a), 0);
    assert_int_equal(store_batch_exec_put(b, &done, &running), 0);
    assert_int_equal(store_batch_retention_put(b, x.created_at + 86400000, &x.id), 0);
    commit(st, b);
    assert_args(st, &done);
    assert_args(st, &y);
    assert_int_equal(about(st,
                           "SELECT count(*) FROM executions WHERE id = $1 AND lease_owner IS NULL "
                           "AND expires_at IS NOT NULL AND result = '42'",
                           &x.id),
                     1);
    /* held while the batch ran it: claimed once, as three statements in order would have left it */
    assert_int_equal(about(st, "SELECT lease_epoch FROM executions WHERE id = $1", &x.id), 1);
    assert_int_equal(about(st,
                           "SELECT lease_epoch FROM executions WHERE id = $1 AND lease_owner = "
                           "'00000000000000a1'",
                           &y.id),
                     1);
    assert_int_equal(
        about(st, "SELECT count(*) FROM attempts WHERE exec_id = $1 AND outcome = 'succeeded'", &x.id), 1);
}

/* Executions, attempts and journal entries interleaved: each kind's group holds only its rows. */
static void kinds_interleaved_stay_apart(void **state)
{
    enum { N = 300 };
    store *st = *state;
    exec_record *r = calloc(N, sizeof *r);
    store_batch *b = store_batch_new(st);

    assert_non_null(r);
    join(st, "00000000000000b2");
    for (int i = 0; i < N; i++) {
        store_attempt a = {
            .number = 1, .started_at = 1, .finished_at = 2, .outcome = EXEC_FAILED, .error = "x"};
        journal_entry e = {
            .seq = 1, .kind = JOURNAL_STEP, .status = JOURNAL_SUCCEEDED, .name = "s", .value = "1"};
        r[i] = record(EXEC_QUEUED);
        assert_int_equal(store_batch_journal_put(b, &r[i].id, &e), 0);
        assert_int_equal(store_batch_exec_put(b, &r[i], NULL), 0);
        assert_int_equal(store_batch_attempt_put(b, &r[i].id, &a), 0);
        e.seq = 2;
        assert_int_equal(store_batch_journal_put(b, &r[i].id, &e), 0);
    }
    commit(st, b);
    for (int i = 0; i < N; i += 37) {
        assert_args(st, &r[i]);
        assert_int_equal(about(st, "SELECT count(*) FROM attempts WHERE exec_id = $1", &r[i].id), 1);
        assert_int_equal(about(st, "SELECT count(*) FROM journal WHERE exec_id = $1", &r[i].id), 2);
    }
    assert_int_equal(about(st, "SELECT count(*) FROM executions WHERE id <> $1", &r[0].id), N - 1);
    free(r);
}

/* More rows than one statement takes: several groups in order, an execution written again after
 * its group closed gets a row in a later group and ends as its last write says. */
static void groups_follow_one_another(void **state)
{
    enum { N = 2500, AGAIN = 10 };
    store *st = *state;
    exec_record *r = calloc(N, sizeof *r);
    store_batch *b = store_batch_new(st);

    assert_non_null(r);
    join(st, "00000000000000f6");
    for (int i = 0; i < N; i++) {
        r[i] = record(EXEC_QUEUED);
        assert_int_equal(store_batch_exec_put(b, &r[i], NULL), 0);
    }
    for (int i = 0; i < AGAIN; i++) {
        exec_record done = r[i];
        done.state = EXEC_SUCCEEDED;
        done.result = "\"again\"";
        assert_int_equal(store_batch_exec_put(b, &done, &r[i]), 0);
        r[i] = done;
    }
    commit(st, b);
    assert_int_equal(
        about(st, "SELECT count(*) FROM executions WHERE state = 'queued' AND id <> $1", &r[0].id),
        N - AGAIN);
    for (int i = 0; i < AGAIN; i++)
        assert_args(st, &r[i]);
    assert_int_equal(
        about(st, "SELECT lease_epoch FROM executions WHERE id = $1 AND lease_owner IS NULL", &r[0].id), 1);
    free(r);
}

/* A delete between two writes of one entry keeps its place: the entry written again stays. */
static void an_entry_deleted_and_written_again_stays(void **state)
{
    store *st = *state;
    exec_record x = record(EXEC_QUEUED);
    journal_entry e = {
        .seq = 3, .kind = JOURNAL_STEP, .status = JOURNAL_SUCCEEDED, .name = "s", .value = "\"a\""};
    store_batch *b = store_batch_new(st);

    join(st, "00000000000000c3");
    assert_int_equal(store_batch_exec_put(b, &x, NULL), 0);
    assert_int_equal(store_batch_journal_put(b, &x.id, &e), 0);
    assert_int_equal(store_batch_journal_del(b, &x.id, 3), 0);
    e.value = "\"b\"";
    assert_int_equal(store_batch_journal_put(b, &x.id, &e), 0);
    commit(st, b);
    assert_int_equal(
        about(st, "SELECT count(*) FROM journal WHERE exec_id = $1 AND seq = 3 AND value = '\"b\"'", &x.id),
        1);
}

/* Whether execution id is free (released) in the store. */
static bool is_free(store *st, const exec_id *id)
{
    return about(st, "SELECT count(*) FROM executions WHERE id = $1 AND lease_owner IS NULL", id) == 1;
}

/*
 * Releases of queued executions go as one statement, and keep their order with writes of
 * executions: one written after its release is held again, one released after its write is free.
 */
static void releases_group_in_order(void **state)
{
    enum { N = 50 };
    store *st = *state;
    exec_record r[N], again, changed;
    store_batch *b = store_batch_new(st);
    pgs_plan plan;

    join(st, "00000000000000a7");
    for (int i = 0; i < N; i++) {
        r[i] = record(EXEC_QUEUED);
        assert_int_equal(store_batch_exec_put(b, &r[i], NULL), 0);
    }
    commit(st, b);
    b = store_batch_new(st);
    for (int i = 0; i < N; i++)
        assert_int_equal(store_batch_release(b, &r[i].id), 0);
    assert_int_equal(pgs_plan_make((const struct pg_batch *)b, &plan), 0);
    assert_int_equal(plan.nsends, 1); /* N releases, one statement */
    assert_int_equal(plan.sends[0].nrows, N);
    pgs_plan_free(&plan);
    store_batch_free(b);

    /* r[1] released, then written (taken back); r[2] written, then released; r[0] released */
    again = r[1];
    again.args = "{\"again\": 1}";
    changed = r[2];
    changed.args = "{\"changed\": 2}";
    b = store_batch_new(st);
    assert_int_equal(store_batch_release(b, &r[0].id), 0);
    assert_int_equal(store_batch_release(b, &r[1].id), 0);
    assert_int_equal(store_batch_exec_put(b, &changed, &r[2]), 0);
    assert_int_equal(store_batch_release(b, &r[2].id), 0);
    assert_int_equal(store_batch_exec_put(b, &again, &r[1]), 0);
    commit(st, b);
    assert_true(is_free(st, &r[0].id));
    assert_false(is_free(st, &r[1].id));
    assert_args(st, &again);
    assert_true(is_free(st, &r[2].id));
    assert_args(st, &changed);
    assert_false(is_free(st, &r[3].id));
}

/* A row of a group another host holds fails the batch, naming that execution, and nothing lands. */
static void a_conflict_in_a_group_names_its_execution(void **state)
{
    store *a = *state, *other = NULL;
    exec_record held = record(EXEC_QUEUED), fresh = record(EXEC_QUEUED), run;
    char err[512] = "";
    store_batch *b;
    exec_id named;

    join(a, "00000000000000d4");
    b = store_batch_new(a);
    assert_int_equal(store_batch_exec_put(b, &held, NULL), 0);
    commit(a, b);
    assert_int_equal(store_pg_open(&other, testdb.url, err, sizeof err), 0);
    join(other, "00000000000000e5");
    run = held;
    run.state = EXEC_RUNNING;
    b = store_batch_new(other);
    assert_int_equal(store_batch_exec_put(b, &fresh, NULL), 0);
    assert_int_equal(store_batch_exec_put(b, &run, &held), 0);
    assert_int_equal(store_batch_commit(other, b), TARRY_ECONFLICT);
    assert_true(store_batch_conflict(b, &named));
    assert_memory_equal(&named, &held.id, sizeof named);
    store_batch_free(b);
    assert_int_equal(about(a, "SELECT count(*) FROM executions WHERE id = $1", &fresh.id), 0);
    store_close(other);
}

/*
 * The executions' write as a batch plans it (pgs_steer_sql, its generic plan) on a new
 * database, whose tables nothing has analyzed: each row reaches its execution by the primary key,
 * never by reading the table (a plan made from a table of a few rows), and the rows neither
 * updated nor inserted are found by hashing, not by reading `up` and `ins` once per row.
 */
static void the_executions_write_probes_by_key(void **state)
{
    static char prepare[sizeof "PREPARE test_exec_write AS " + 8192];
    char explain[64 + 38 * 6] = "EXPLAIN EXECUTE test_exec_write(NULL", plan[16384] = "";
    store *st = *state;
    struct pg_txn *pt;
    store_txn *t;
    PGresult *r;
    size_t len = 0;

    assert_true(strlen(pgs_exec_write) < 8192);
    snprintf(prepare, sizeof prepare, "PREPARE test_exec_write AS %s", pgs_exec_write);
    for (int i = 0; i < PGS_EXEC_ROW; i++) /* the rows' arrays, then the holder */
        strcat(explain, ", NULL");
    strcat(explain, ")");
    assert_int_equal(store_txn_begin(st, true, &t), 0);
    pt = (struct pg_txn *)t;
    /* the plan a prepared statement keeps after its fifth run, whatever the steering says */
    if (pgs_query(pt, "keeping a plan", "SET LOCAL plan_cache_mode = force_generic_plan", 0, NULL, NULL) !=
            0 ||
        pgs_query(pt, "steering", pgs_steer_sql, 0, NULL, NULL) != 0 ||
        pgs_query(pt, "preparing", prepare, 0, NULL, NULL) != 0 ||
        pgs_query(pt, "explaining", explain, 0, NULL, &r) != 0)
        fail_msg("%s", store_last_error(st));
    for (int row = 0; row < PQntuples(r) && len < sizeof plan - 1; row++)
        len += (size_t)snprintf(plan + len, sizeof plan - len, "%s\n", PQgetvalue(r, row, 0));
    if (pgs_query(pt, "forgetting", "DEALLOCATE test_exec_write", 0, NULL, NULL) != 0)
        fail_msg("%s", store_last_error(st));
    store_txn_abort(t);
    printf("%s", plan);
    assert_null(strstr(plan, "Seq Scan on executions"));
    assert_null(strstr(plan, "Hash Join"));
    assert_non_null(strstr(plan, "Index Scan using executions_pkey on executions"));
    assert_non_null(strstr(plan, "HashSetOp Except"));
}

static int setup(void **state)
{
    return pg_testdb_store_setup(&testdb, state);
}

static int teardown(void **state)
{
    return pg_testdb_store_teardown(&testdb, state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(writes_of_one_execution_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(kinds_interleaved_stay_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(groups_follow_one_another, setup, teardown),
        cmocka_unit_test_setup_teardown(an_entry_deleted_and_written_again_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(a_conflict_in_a_group_names_its_execution, setup, teardown),
        cmocka_unit_test_setup_teardown(releases_group_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(the_executions_write_probes_by_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
