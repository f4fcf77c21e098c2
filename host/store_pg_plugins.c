/*
 * store_pg_plugins.c - the PostgreSQL store's plugin versions (store.h's store_plugin_put and
 * store_plugin_get): the .so bytes of each version in plugin_versions, by hash, so that every
 * host on the database can load a version an execution is pinned to, also when its own plugins
 * folder never held it (a host started later, or one whose folder has changed since).
 *
 * The bytes cross the wire as a binary parameter and a binary result (libpq's paramFormats and
 * resultFormat 1): bytea's binary form is the bytes themselves, so nothing is escaped or doubled
 * on the way, and a large .so costs its own size. The table's CHECK recomputes the hash from the
 * bytes (pg_schema.c), so no row can name bytes it does not hold; a row is never changed: a
 * version is its bytes.
 *
 * Each call is a transaction of its own on a pooled connection, outside the batches: a version is
 * kept when it is loaded (a start, a reload's scan on a worker), before anything can be pinned to
 * it, and read when a host lacks one (store_pg_int.h's rules hold: parameters only, static SQL).
 *
 * May not: print, or write anything but plugin_versions.
 */
#include "store_pg_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

#define PGS_HASH_LEN 16          /* plugins.h's PLUGIN_HASH_LEN: the tarry_hash domain's 16 hex digits */
#define PGS_BYTEA_OID 17         /* bytea's type oid (pg_type), fixed in every PostgreSQL */
#define PGS_BYTEA_MAX 1000000000 /* a bytea value holds at most 1 GB */

static bool hash_ok(const char *hash)
{
    return hash && strlen(hash) == PGS_HASH_LEN && strspn(hash, "0123456789abcdef") == PGS_HASH_LEN;
}

/* pgs_fail, but a violated constraint (SQLSTATE class 23: the hash is not the bytes') is the
 * caller's argument, not the database's failure. */
static int fail(pg_db *db, const char *what, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int rc = pgs_fail(db, what, r);

    return state && strncmp(state, "23", 2) == 0 ? TARRY_EINVAL : rc;
}

static int keep(struct pg_txn *t, const char *what, const char *hash, const char *name, const char *version,
                const void *bytes, size_t len)
{
    static const char exists_sql[] = "SELECT 1 FROM plugin_versions WHERE hash = $1";
    static const char insert_sql[] = "INSERT INTO plugin_versions (hash, name, version, so, size) "
                                     "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash) DO NOTHING";
    const Oid types[5] = {0, 0, 0, PGS_BYTEA_OID, 0};
    const int formats[5] = {0, 0, 0, 1, 0}; /* $4 binary: the bytes as they are */
    int lengths[5] = {0, 0, 0, (int)len, 0};
    const char *values[5];
    pgs_buf size;
    PGresult *r;
    int rc;

    if ((rc = pgs_query(t, what, exists_sql, 1, &hash, &r)) != 0)
        return rc;
    if (PQntuples(r) > 0)
        return 0; /* kept already: its bytes are not sent again */
    values[0] = hash;
    values[1] = name;
    values[2] = version;
    /* A zero-length binary value still needs a pointer that is not NULL (NULL is SQL NULL). */
    values[3] = len ? bytes : "";
    values[4] = pgs_int(&size, (int64_t)len);
    r = PQexecParams(t->db->conn, insert_sql, 5, types, values, lengths, formats, 0);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = fail(t->db, what, r);
    PQclear(r);
    return rc;
}

int pgs_plugin_put(store *st, const char *hash, const char *name, const char *version, const void *bytes,
                   size_t len)
{
    char what[160];
    store_txn *t;
    int rc;

    if (!hash_ok(hash)) {
        store_set_error("keeping a plugin version: its hash is not 16 lowercase hex digits");
        return TARRY_EINVAL;
    }
    snprintf(what, sizeof what, "keeping plugin %s %s (%s) in the database", name, version, hash);
    if (len > PGS_BYTEA_MAX || len > INT_MAX) {
        char why[300];
        snprintf(why, sizeof why, "%s: %zu bytes, more than a bytea holds (1 GB)", what, len);
        store_set_error(why);
        return TARRY_EINVAL;
    }
    if ((rc = pgs_txn_begin(st, true, &t)) != 0)
        return rc;
    if ((rc = keep((struct pg_txn *)t, what, hash, name, version, bytes, len)) != 0) {
        pgs_txn_abort(t);
        return rc;
    }
    return pgs_txn_commit(t);
}

int pgs_plugin_get(store *st, const char *hash, void **bytes, size_t *len)
{
    static const char sql[] = "SELECT so FROM plugin_versions WHERE hash = $1";
    char what[96];
    store_txn *tb;
    struct pg_txn *t;
    PGresult *r;
    int rc;

    *bytes = NULL;
    *len = 0;
    if (!hash_ok(hash)) {
        store_set_error("reading a plugin version: its hash is not 16 lowercase hex digits");
        return TARRY_EINVAL;
    }
    snprintf(what, sizeof what, "reading plugin version %s from the database", hash);
    if ((rc = pgs_txn_begin(st, false, &tb)) != 0)
        return rc;
    t = (struct pg_txn *)tb;
    /* resultFormat 1: the column comes back as bytea's binary form, the bytes themselves. */
    r = PQexecParams(t->db->conn, sql, 1, NULL, &hash, NULL, NULL, 1);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = fail(t->db, what, r);
    } else if (PQntuples(r) == 0) {
        char why[160];
        snprintf(why, sizeof why, "%s: the database does not hold it", what);
        store_set_error(why);
        rc = TARRY_ENOTFOUND;
    } else {
        size_t n = (size_t)PQgetlength(r, 0, 0);
        if (!(*bytes = malloc(n ? n : 1))) {
            store_set_error("out of memory reading a plugin version from the database");
            rc = TARRY_ENOMEM;
        } else {
            memcpy(*bytes, PQgetvalue(r, 0, 0), n);
            *len = n;
        }
    }
    PQclear(r);
    pgs_txn_abort(tb);
    return rc;
}
