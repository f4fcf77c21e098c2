/*
 * pg_testdb.h - a fresh PostgreSQL database per test case, for the unit tests that run against
 * the private server of the CTest fixture `pg_unit` (tests/unit/pg_fixture.py).
 *
 * The fixture writes the URL of its maintenance database to $TARRY_PG_FIXTURE/url; a database
 * made here is a clone of its template, which holds the store's schema, so a store opened on it
 * starts empty and migrated. Names are t_<pid>_<n>: test programs may run in parallel.
 */
#ifndef TARRY_TEST_PG_TESTDB_H
#define TARRY_TEST_PG_TESTDB_H

#include <stddef.h>

typedef struct pg_testdb {
    char name[64];  /* the database's name */
    char url[1024]; /* its URL (the fixture's, with dbname=name) */
} pg_testdb;

/* Make a new database from the template. 0, or -1 with the reason written to stderr. */
int pg_testdb_create(pg_testdb *db);
/* Drop it (connections to it are ended): 0, or -1 with the reason on stderr. */
int pg_testdb_drop(pg_testdb *db);

/* A cmocka setup's work: a new database and the store opened on it, into *state (a store *).
 * 0, or -1 with the reason on stderr (and nothing left behind). */
int pg_testdb_store_setup(pg_testdb *db, void **state);
/* The teardown's: the store closed, the database dropped. */
int pg_testdb_store_teardown(pg_testdb *db, void **state);

#endif
