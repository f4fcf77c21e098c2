/*
 * pg_testdb.c - a fresh PostgreSQL database per test case (pg_testdb.h).
 */
#include "pg_testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_int.h"
#include "store.h"

#define TEMPLATE "tarry_template" /* pg_fixture.py's */

/* The fixture's maintenance URL, read once. NULL (reason on stderr) when there is no fixture. */
static const char *fixture_url(void)
{
    static char url[900];
    const char *dir = getenv("TARRY_PG_FIXTURE");
    char path[512];
    FILE *f;

    if (url[0])
        return url;
    if (!dir || !*dir) {
        fprintf(stderr, "TARRY_PG_FIXTURE is not set: run this test through ctest (the pg_unit fixture "
                        "starts its PostgreSQL server)\n");
        return NULL;
    }
    snprintf(path, sizeof path, "%s/url", dir);
    if (!(f = fopen(path, "r"))) {
        perror(path);
        fprintf(stderr, "no PostgreSQL server for the tests: tests/unit/pg_fixture.py start %s makes one\n",
                dir);
        return NULL;
    }
    if (!fgets(url, sizeof url, f))
        url[0] = 0;
    fclose(f);
    url[strcspn(url, "\n")] = 0;
    if (!url[0])
        fprintf(stderr, "%s is empty\n", path);
    return url[0] ? url : NULL;
}

/* Run one statement on the maintenance database. */
static int admin_run(const char *step, const char *sql)
{
    const char *url = fixture_url();
    char err[1024];
    pg_db *db;
    int rc;

    if (!url)
        return -1;
    if ((rc = pg_connect(url, &db, err, sizeof err)) == 0) {
        rc = pg_run(db, step, sql, PGRES_COMMAND_OK, NULL, err, sizeof err);
        pg_close(db);
    }
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

int pg_testdb_create(pg_testdb *db)
{
    static unsigned counter;
    const char *url = fixture_url();
    char sql[256];

    if (!url)
        return -1;
    /* Names are ours ([a-z0-9_]): nothing to quote. */
    snprintf(db->name, sizeof db->name, "t_%ld_%u", (long)getpid(), ++counter);
    snprintf(db->url, sizeof db->url, "%s%cdbname=%s", url, strchr(url, '?') ? '&' : '?', db->name);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE " TEMPLATE, db->name);
    return admin_run("creating a test database", sql);
}

int pg_testdb_drop(pg_testdb *db)
{
    char sql[256];

    if (!db->name[0])
        return 0;
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
    db->name[0] = 0;
    return admin_run("dropping a test database", sql);
}

int pg_testdb_store_setup(pg_testdb *db, void **state)
{
    char err[1024] = "";
    store *st;

    if (pg_testdb_create(db) != 0)
        return -1;
    if (store_open_url(&st, db->url, 0, err, sizeof err) != 0) {
        fprintf(stderr, "store_open_url: %s\n", err);
        pg_testdb_drop(db);
        return -1;
    }
    *state = st;
    return 0;
}

int pg_testdb_store_teardown(pg_testdb *db, void **state)
{
    store_close(*state);
    return pg_testdb_drop(db);
}
