/*
 * pg.h - a connection to the database of a PostgreSQL store (libpq).
 *
 * The room that talks to PostgreSQL: only pg*.c (and the PostgreSQL store's
 * store_pg*.c) include libpq-fe.h; everyone else holds an opaque pg_db. A
 * store URL is a libpq URI, `postgres://` or `postgresql://` (libpq parses
 * it: user, password, hosts, port, database and any connection parameter as
 * `?key=value`, e.g. `postgresql://tarry@/tarry?host=/run/postgresql`).
 *
 * What a connection guarantees once pg_connect returns it:
 *   - the server runs PostgreSQL PG_MIN_SERVER_VERSION or newer (13: the
 *     schema's due time is a stored generated column, 12, and 13 is the
 *     oldest release we allow; Debian 12 ships 15, which the tests run);
 *   - the database's encoding is UTF8 and the client's too: args, results
 *     and logs are UTF-8 text stored byte for byte;
 *   - application_name is "tarry" unless the URL names one (so an operator
 *     can tell several hosts apart in pg_stat_activity), and a connection
 *     attempt gives up after 10 s unless the URL sets connect_timeout.
 *
 * Errors name the server and the database ("database \"tarry\" on
 * db1:5432 as user \"tarry\"") and never the password: a password from the
 * URL is replaced by "***" in every message this room writes, libpq's
 * included. Errors go into the caller's buffer; nothing is printed.
 *
 * Threads: a pg_db is one libpq connection: one thread at a time.
 */
#ifndef TARRY_PG_H
#define TARRY_PG_H

#include <stdbool.h>
#include <stddef.h>

#define PG_MIN_SERVER_VERSION 130000 /* PostgreSQL 13 */
#define PG_APPLICATION_NAME "tarry"
#define PG_CONNECT_TIMEOUT "10" /* seconds; the URL's connect_timeout wins */

typedef struct pg_db pg_db;

/* Whether url names a PostgreSQL store (starts with postgres:// or postgresql://). */
bool pg_url_is_postgres(const char *url);

/*
 * Connect to the store at `url` and check the server (above). Returns 0 with
 * *out (pg_close frees it), or a negative code with the reason in err:
 * TARRY_EINVAL (not a postgres URL, or libpq cannot parse it), TARRY_EIO (the
 * server cannot be reached or refused the connection), TARRY_ERANGE (the
 * server is too old, or the database is not UTF8). `url` is borrowed for the
 * call.
 */
int pg_connect(const char *url, pg_db **out, char *err, size_t errlen);

/* Close the connection and free db (NULL: nothing). */
void pg_close(pg_db *db);

/* Where db is, for messages: `database "D" on HOST:PORT as user "U"`; valid until pg_close. */
const char *pg_where(const pg_db *db);

#endif
