/*
 * test_pg.c - the PostgreSQL room without a server: which URLs it takes,
 * where a password may sit in one, that every message hides it (also when
 * hiding needs more room than the buffer has), and that a server nobody
 * runs is an error naming the database and the server.
 *
 * The room is compiled into this test (the #include below) to reach its
 * static raw_secrets() and redact(); the rest uses the public calls. The
 * tests with a real server are tests/integration/test_pg_migrate.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pg.c"

static void url_schemes(void **state)
{
    (void)state;
    assert_true(pg_url_is_postgres("postgres://db/tarry"));
    assert_true(pg_url_is_postgres("postgresql://u@/tarry?host=/run/postgresql"));
    assert_false(pg_url_is_postgres("lmdb:./tarry-data"));
    assert_false(pg_url_is_postgres("host=db dbname=tarry"));
    assert_false(pg_url_is_postgres("postgresql:/x"));
    assert_false(pg_url_is_postgres(NULL));
}

static void check_secrets(const char *url, const char *userinfo, const char *query)
{
    char *u, *q;

    raw_secrets(url, &u, &q);
    if (userinfo)
        assert_non_null(u), assert_string_equal(u, userinfo);
    else
        assert_null(u);
    if (query)
        assert_non_null(q), assert_string_equal(q, query);
    else
        assert_null(q);
    free(u);
    free(q);
}

static void where_passwords_sit(void **state)
{
    (void)state;
    check_secrets("postgresql://tarry:s3cret@db:5432/tarry", "s3cret", NULL);
    check_secrets("postgres://tarry:p%40ss@db/tarry?sslmode=require", "p%40ss", NULL);
    check_secrets("postgresql://tarry@db/tarry?sslmode=require&password=q%26w", NULL, "q%26w");
    check_secrets("postgresql://tarry:a@db/t?password=b", "a", "b");
    check_secrets("postgresql://tarry@db/tarry", NULL, NULL);
    check_secrets("postgresql://db/tarry?user=x", NULL, NULL);
    /* A ':' or '@' after the host is no userinfo. */
    check_secrets("postgresql://db:5432/tar@ry", NULL, NULL);
    check_secrets("postgresql://tarry:@db/t", NULL, NULL);
}

static void redacting(void **state)
{
    char *secrets[PG_SECRETS] = {"s3cret", "x", NULL};
    char msg[64];

    (void)state;
    strcpy(msg, "s3cret and s3cret, then x");
    redact(secrets, msg, sizeof msg);
    assert_string_equal(msg, "*** and ***, then ***");
    /* A one-letter secret grows to "***": where there is no room, the message ends before it. */
    memset(msg, '0', 61);
    strcpy(msg + 61, "x"); /* 62 bytes and the NUL: "***" would need 65 */
    redact(secrets, msg, sizeof msg);
    assert_int_equal(strlen(msg), 61);
    assert_null(strchr(msg, 'x'));
}

static void refused_urls(void **state)
{
    char err[512];
    pg_db *db = (pg_db *)1;

    (void)state;
    assert_int_equal(pg_connect("lmdb:./data", &db, err, sizeof err), TARRY_EINVAL);
    assert_null(db);
    assert_non_null(strstr(err, "postgres://"));
    assert_int_equal(pg_connect("postgresql://tarry:top%zzsecret@/x", &db, err, sizeof err), TARRY_EINVAL);
    assert_non_null(strstr(err, "percent"));
    assert_null(strstr(err, "top%zzsecret"));
    assert_int_equal(pg_connect("postgresql://tarry@/x?nonsense=1&password=topsecret", &db, err, sizeof err),
                     TARRY_EINVAL);
    assert_non_null(strstr(err, "nonsense"));
    assert_null(strstr(err, "topsecret"));
}

static void nobody_there(void **state)
{
    char err[512];
    pg_db *db;

    (void)state;
    assert_int_equal(pg_connect("postgresql://tarry:topsecret@/orders?host=/nonexistent-tarry-test&port=5999",
                                &db, err, sizeof err),
                     TARRY_EIO);
    assert_null(db);
    assert_non_null(strstr(err, "database \"orders\" on /nonexistent-tarry-test:5999 as user \"tarry\""));
    assert_null(strstr(err, "topsecret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_schemes),  cmocka_unit_test(where_passwords_sit), cmocka_unit_test(redacting),
        cmocka_unit_test(refused_urls), cmocka_unit_test(nobody_there),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
