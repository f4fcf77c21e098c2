/*
 * pg_int.h - what the PostgreSQL room's files share: the connection behind
 * a pg_db and running SQL on it with errors that name the step and the
 * database. Only pg*.c and store_pg*.c include it (it includes libpq-fe.h).
 */
#ifndef TARRY_PG_INT_H
#define TARRY_PG_INT_H

#include <libpq-fe.h>

#include "pg.h"

#define PG_SECRETS 3 /* the forms a URL's password may take in a message (pg.c) */

struct pg_db {
    PGconn *conn;
    char where[512];           /* pg_where() */
    char *secrets[PG_SECRETS]; /* replaced by "***" in every message; NULL: unused */
    /* Statements prepared on this connection (store_pg.c's batches): the SQL texts, each a
     * string literal told apart by its address; statement i is named "tarry_i". */
    const char **prepared;
    size_t nprepared, prepared_cap;
};

/*
 * Run `sql` (no parameters; several statements are one simple query) and
 * check it did what `want` says (PGRES_COMMAND_OK or PGRES_TUPLES_OK).
 * Returns 0 and, when res is not NULL, the result (the caller PQclear()s it);
 * or TARRY_EIO with err = "STEP on WHERE: the server's message". `step` says
 * what was being done ("reading the schema version").
 */
int pg_run(pg_db *db, const char *step, const char *sql, ExecStatusType want, PGresult **res, char *err,
           size_t errlen);

/* pg_run with text parameters ($1..$n; NULL is SQL NULL). */
int pg_run_params(pg_db *db, const char *step, const char *sql, int n, const char *const *params,
                  ExecStatusType want, PGresult **res, char *err, size_t errlen);

/* Write "STEP on WHERE: MSG" into err, the message's lines joined and every secret of db hidden. */
void pg_error(const pg_db *db, const char *step, const char *msg, char *err, size_t errlen);

#endif
