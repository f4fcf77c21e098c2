/*
 * pg_schema.h - the PostgreSQL store's schema as versioned migrations, and
 * applying them.
 *
 * Migrations are an ordered array (pg_schema.c), numbered from 1 without
 * gaps; a released migration is never edited, a change is a new one. The
 * database records each applied version in `tarry_schema` (version,
 * description, applied_at, and the hostname and pid of the tarry that applied
 * it). Applying takes a transaction-scoped advisory lock on a fixed key
 * (PG_SCHEMA_LOCK_KEY) and applies every missing migration in that one
 * transaction, so hosts and `tarry migrate`s that start together apply each
 * migration exactly once (the first applies them all; the others wait for
 * the lock, then find nothing to apply), and a database is never left
 * between two versions.
 *
 * A database at a version above the last one this binary knows is refused
 * (TARRY_ERANGE, "database schema is at version 3; this tarry knows versions
 * up to 1: run a newer tarry"): an older tarry must not write into tables
 * whose meaning moved on.
 */
#ifndef TARRY_PG_SCHEMA_H
#define TARRY_PG_SCHEMA_H

#include <stddef.h>

#include "pg.h"

/* The advisory lock's key: "tarry_sc" in ASCII, so it is recognisable in pg_locks. */
#define PG_SCHEMA_LOCK_KEY "8386109817128711011"

typedef struct pg_migration {
    int version;             /* 1, 2, ...: its position in the array */
    const char *description; /* one line, recorded in tarry_schema */
    const char *sql;         /* statements run in the migration's transaction */
} pg_migration;

/* The highest version this binary knows. */
int pg_schema_latest(void);

/* Called for each migration applied, once their transaction committed. */
typedef void (*pg_schema_applied_cb)(void *user, const pg_migration *m);

/*
 * Bring db's schema up to pg_schema_latest() in one transaction under the
 * advisory lock. *version gets the version the database is at when it
 * returns (on failure: where it was, as everything is rolled back). Returns
 * 0; TARRY_ERANGE when the database is at a newer version; TARRY_EIO when a
 * statement failed (err names the step, the version and the database).
 */
int pg_schema_migrate(pg_db *db, pg_schema_applied_cb applied, void *user, int *version, char *err,
                      size_t errlen);

#endif
