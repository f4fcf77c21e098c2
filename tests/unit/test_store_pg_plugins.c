/*
 * test_store_pg_plugins.c - the PostgreSQL store's plugin versions (store_pg_plugins.c) against a
 * real server: bytes with every byte value (NUL, backslash, high bytes) and a few MiB come back
 * exactly as they went, with the row's name, version and size; a second put of a version is a
 * no-op that keeps the first row; a missing version is TARRY_ENOTFOUND; a malformed hash, and
 * bytes that do not hash to their hash (the table's CHECK), are TARRY_EINVAL with nothing
 * written; a put is durable in its own transaction (read back from another store on the same
 * database, as a second host would); an empty .so round trips. LMDB's side (keeps nothing) is
 * checked at the end on a store in a temporary folder.
 *
 * The server is the CTest fixture pg_unit's (tests/unit/pg_fixture.py); each case opens a
 * store on a fresh database of its own (pg_testdb.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pg_testdb.h"
#include "plugin_files.h"
#include "status.h"
#include "store.h"
#include "store_pg_int.h" /* pgs_query: the row as SQL sees it */

static pg_testdb testdb; /* the running case's database */

static int setup(void **state)
{
    return pg_testdb_store_setup(&testdb, state);
}

static int teardown(void **state)
{
    return pg_testdb_store_teardown(&testdb, state);
}

/* Bytes with every value, NULs and backslashes included: what bytea's text form would escape. */
static char *sample(size_t len, unsigned seed)
{
    char *b = malloc(len ? len : 1);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (char)(i < 256 ? i : seed >> 16);
    }
    return b;
}

static void hash_of(const char *bytes, size_t len, char hash[PLUGIN_HASH_LEN + 1])
{
    assert_int_equal(plugin_files_hash(bytes, len, hash), 0);
}

/* The row's name, version and size as SQL reads them (TARRY_ENOTFOUND: no row). */
static int row(store *st, const char *hash, char *name, char *version, int64_t *size)
{
    store_txn *t;
    PGresult *r;
    int found;

    assert_int_equal(store_txn_begin(st, false, &t), 0);
    if (pgs_query((struct pg_txn *)t, "a test's read",
                  "SELECT name, version, size FROM plugin_versions WHERE hash = $1", 1, &hash, &r) != 0)
        fail_msg("%s", store_last_error(st));
    found = PQntuples(r) > 0;
    if (found) {
        snprintf(name, 64, "%s", pgs_str(r, 0, 0));
        snprintf(version, 64, "%s", pgs_str(r, 0, 1));
        *size = pgs_i64(r, 0, 2);
    }
    store_txn_abort(t);
    return found ? 0 : TARRY_ENOTFOUND;
}

static int64_t rows(store *st)
{
    store_txn *t;
    PGresult *r;
    int64_t n;

    assert_int_equal(store_txn_begin(st, false, &t), 0);
    assert_int_equal(
        pgs_query((struct pg_txn *)t, "a test's count", "SELECT count(*) FROM plugin_versions", 0, NULL, &r),
        0);
    n = pgs_i64(r, 0, 0);
    store_txn_abort(t);
    return n;
}

static void round_trip(void **state)
{
    store *st = *state, *second;
    size_t sizes[] = {1000, 3 * 1024 * 1024 + 7};
    char err[1024] = "", name[64], version[64];
    int64_t size;

    for (size_t k = 0; k < 2; k++) {
        char *bytes = sample(sizes[k], (unsigned)k), hash[PLUGIN_HASH_LEN + 1];
        void *back = NULL;
        size_t len = 0;

        hash_of(bytes, sizes[k], hash);
        assert_int_equal(store_plugin_get(st, hash, &back, &len), TARRY_ENOTFOUND);
        assert_null(back);
        if (store_plugin_put(st, hash, "rl", "1.0.0", bytes, sizes[k]) != 0)
            fail_msg("put: %s", store_last_error(st));
        assert_int_equal(store_plugin_get(st, hash, &back, &len), 0);
        assert_int_equal(len, sizes[k]);
        assert_memory_equal(back, bytes, sizes[k]);
        free(back);
        assert_int_equal(row(st, hash, name, version, &size), 0);
        assert_string_equal(name, "rl");
        assert_string_equal(version, "1.0.0");
        assert_int_equal(size, (int64_t)sizes[k]);

        /* Idempotent: the version is its bytes; a second put leaves the first row. */
        assert_int_equal(store_plugin_put(st, hash, "other", "9.9.9", bytes, sizes[k]), 0);
        assert_int_equal(row(st, hash, name, version, &size), 0);
        assert_string_equal(name, "rl");
        free(bytes);
    }
    assert_int_equal(rows(st), 2);

    /* Durable on its own: another store on the database (a second host, the first one gone) reads it. */
    {
        char *bytes = sample(sizes[0], 0), hash[PLUGIN_HASH_LEN + 1];
        void *back = NULL;
        size_t len = 0;

        hash_of(bytes, sizes[0], hash);
        store_close(st);
        *state = NULL;
        if (store_open_url(&second, testdb.url, 0, err, sizeof err) != 0)
            fail_msg("reopen: %s", err);
        *state = second;
        assert_int_equal(store_plugin_get(second, hash, &back, &len), 0);
        assert_int_equal(len, sizes[0]);
        assert_memory_equal(back, bytes, len);
        free(back);
        free(bytes);
    }
}

static void empty_so(void **state)
{
    store *st = *state;
    char hash[PLUGIN_HASH_LEN + 1];
    void *back = NULL;
    size_t len = 99;

    hash_of("", 0, hash);
    assert_int_equal(store_plugin_put(st, hash, "e", "0", "", 0), 0);
    assert_int_equal(store_plugin_get(st, hash, &back, &len), 0);
    assert_int_equal(len, 0);
    free(back);
}

static void refused(void **state)
{
    store *st = *state;
    char *bytes = sample(500, 3), hash[PLUGIN_HASH_LEN + 1], other[PLUGIN_HASH_LEN + 1];
    void *back = NULL;
    size_t len = 0;

    hash_of(bytes, 500, hash);
    hash_of(bytes, 499, other);
    assert_int_equal(store_plugin_put(st, "0123456789ABCDEF", "p", "1", bytes, 500), TARRY_EINVAL);
    assert_int_equal(store_plugin_put(st, "0123", "p", "1", bytes, 500), TARRY_EINVAL);
    assert_int_equal(store_plugin_get(st, "../../etc", &back, &len), TARRY_EINVAL);
    /* Well formed, but not these bytes' hash: the table's CHECK refuses it. */
    assert_int_equal(store_plugin_put(st, other, "p", "1", bytes, 500), TARRY_EINVAL);
    assert_non_null(strstr(store_last_error(st), other));
    assert_int_equal(rows(st), 0);
    assert_int_equal(store_plugin_get(st, other, &back, &len), TARRY_ENOTFOUND);
    free(bytes);
}

/* LMDB keeps nothing: a put succeeds, a get finds nothing (the data folder's plugins/ is its store). */
static void lmdb_keeps_nothing(void **state)
{
    char dir[] = "/tmp/tarry-test-plugins-XXXXXX", err[512], cmd[600], hash[PLUGIN_HASH_LEN + 1];
    store *st;
    void *back = NULL;
    size_t len = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(store_open(&st, dir, STORE_MIN_MAP_SIZE * 16, err, sizeof err), 0);
    hash_of("x", 1, hash);
    assert_int_equal(store_plugin_put(st, hash, "x", "1", "x", 1), 0);
    assert_int_equal(store_plugin_get(st, hash, &back, &len), TARRY_ENOTFOUND);
    assert_null(back);
    store_close(st);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_so, setup, teardown),
        cmocka_unit_test_setup_teardown(refused, setup, teardown),
        cmocka_unit_test(lmdb_keeps_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
