/*
 * test_store_pg_testdb.c - the PostgreSQL unit tests' databases (pg_testdb.h) against the
 * pg_unit fixture's server: each is a clone of the template at the schema's latest version,
 * holding no executions, private to its test case (a write in one is not seen in the next),
 * and gone after its drop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pg_int.h"
#include "pg_schema.h"
#include "pg_testdb.h"

static pg_db *connect_or_fail(const char *url)
{
    char err[1024];
    pg_db *db;

    if (pg_connect(url, &db, err, sizeof err) != 0)
        fail_msg("%s", err);
    return db;
}

static int64_t count_executions(pg_db *db)
{
    char err[1024];
    PGresult *r;
    int64_t n;

    if (pg_run(db, "counting executions", "SELECT count(*) FROM executions", PGRES_TUPLES_OK, &r, err,
               sizeof err) != 0)
        fail_msg("%s", err);
    n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

static void one_case(void)
{
    static const char insert[] = "INSERT INTO executions (id, function, state, args, created_at) "
                                 "VALUES ('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'tick', 'queued', '{}', now())";
    pg_testdb t;
    pg_db *db;
    char err[1024];
    int version;

    assert_int_equal(pg_testdb_create(&t), 0);
    db = connect_or_fail(t.url);
    assert_int_equal(pg_schema_version(db, &version, err, sizeof err), 0);
    assert_int_equal(version, pg_schema_latest());
    assert_int_equal(count_executions(db), 0); /* the write of an earlier case is not here */
    if (pg_run(db, "writing an execution", insert, PGRES_COMMAND_OK, NULL, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(count_executions(db), 1);
    pg_close(db);
    assert_int_equal(pg_testdb_drop(&t), 0);
    assert_int_not_equal(pg_connect(t.url, &db, err, sizeof err), 0); /* gone */
    assert_non_null(strstr(err, "does not exist"));
}

static void a_fresh_database_per_case(void **state)
{
    (void)state;
    one_case();
    one_case();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_fresh_database_per_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
