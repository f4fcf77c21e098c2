/*
 * pg.c - connecting to a PostgreSQL store's database (pg.h): the URL goes to
 * libpq whole (PQconnectdbParams with expand_dbname), the server and the
 * database are checked, and every message is written without the password.
 *
 * May not: know the schema (pg_schema.c) or the store's tables, print, or
 * parse the URL itself: libpq's parser is the one that connects, so it is
 * the one that reads user, hosts, database and options. The only text this
 * file reads out of the URL by hand is where a password may sit, so that a
 * message quoting a URL libpq could not parse still hides it.
 */
#include "pg_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

bool pg_url_is_postgres(const char *url)
{
    return url && (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0);
}

/* ---- keeping the password out of messages ---------------------------------------- */

static char *dup_range(const char *from, const char *to)
{
    size_t n = (size_t)(to - from);
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, from, n);
        s[n] = '\0';
    }
    return s;
}

/*
 * The password as it is written in the URL, in both places a libpq URI may
 * hold one: the userinfo (`user:PASSWORD@`, before the first '/' or '?' after
 * the scheme) and a `password=` query parameter. Raw, as typed: libpq's parse
 * errors quote the raw text, the decoded form comes from libpq (below).
 */
static void raw_secrets(const char *url, char **userinfo, char **query)
{
    const char *auth = strstr(url, "://"), *end, *at, *colon, *q;

    *userinfo = *query = NULL;
    if (!auth)
        return;
    auth += 3;
    end = auth + strcspn(auth, "/?");
    at = memchr(auth, '@', (size_t)(end - auth));
    colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon && at > colon + 1)
        *userinfo = dup_range(colon + 1, at);
    for (q = strchr(end, '?'); q; q = strchr(q + 1, '&')) {
        if (strncmp(q + 1, "password=", 9) == 0) {
            const char *v = q + 10;
            if (*v && *v != '&')
                *query = dup_range(v, v + strcspn(v, "&#"));
        }
    }
}

/* Replace every occurrence of each secret in msg (NUL-terminated, in a buffer of cap bytes). */
static void redact(char *const *secrets, char *msg, size_t cap)
{
    static const char mask[] = "***";

    for (size_t i = 0; i < PG_SECRETS; i++) {
        const char *s = secrets[i];
        size_t slen = s ? strlen(s) : 0;
        char *p = msg;
        if (slen == 0)
            continue;
        while ((p = strstr(p, s)) != NULL) {
            size_t tail = strlen(p + slen) + 1;
            if (slen >= sizeof mask - 1 || (size_t)(p - msg) + sizeof mask - 1 + tail <= cap) {
                memmove(p + sizeof mask - 1, p + slen, tail);
                memcpy(p, mask, sizeof mask - 1);
                p += sizeof mask - 1;
            } else { /* no room to grow: cut the message here rather than show the secret */
                *p = '\0';
                break;
            }
        }
    }
}

/* libpq's messages end with a newline and continue lines with "\n\t": one line for ours. */
static void one_line(char *msg)
{
    size_t n = strlen(msg);
    char *w = msg;

    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    for (char *r = msg; *r; r++) {
        if (*r == '\n' || *r == '\t') {
            if (w > msg && w[-1] != ' ')
                *w++ = ' ';
            continue;
        }
        *w++ = *r;
    }
    *w = '\0';
}

static void error_with(char *const *secrets, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    one_line(err);
    redact(secrets, err, errlen);
}

void pg_error(const pg_db *db, const char *step, const char *msg, char *err, size_t errlen)
{
    error_with((char *const *)db->secrets, err, errlen, "%s on %s: %s", step, db->where,
               msg && *msg ? msg : "no message from the server");
}

static void secrets_free(char **secrets)
{
    for (size_t i = 0; i < PG_SECRETS; i++) {
        free(secrets[i]);
        secrets[i] = NULL;
    }
}

/* ---- connecting --------------------------------------------------------------------- */

/* The server as the connection names it: "HOST:PORT" (a socket folder for HOST when it is one). */
static void describe(pg_db *db)
{
    const char *host = PQhost(db->conn), *port = PQport(db->conn), *name = PQdb(db->conn),
               *user = PQuser(db->conn);

    snprintf(db->where, sizeof db->where, "database \"%s\" on %s:%s as user \"%s\"", name ? name : "?",
             host && *host ? host : "the default socket", port && *port ? port : "5432", user ? user : "?");
    redact(db->secrets, db->where, sizeof db->where);
}

/* What the URL says, libpq's reading of it: the decoded password (to hide it) or why it is no URL. */
static int url_parse(const char *url, char **password, char *const *secrets, char *err, size_t errlen)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &why);

    *password = NULL;
    if (!opts) {
        error_with(secrets, err, errlen, "the store URL is not one libpq can read: %s",
                   why ? why : "out of memory");
        PQfreemem(why);
        return TARRY_EINVAL;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            *password = strdup(o->val);
    PQconninfoFree(opts);
    return 0;
}

static int check_server(pg_db *db, char *err, size_t errlen)
{
    int version = PQserverVersion(db->conn);
    const char *encoding = PQparameterStatus(db->conn, "server_encoding");

    if (version < PG_MIN_SERVER_VERSION) {
        char shown[32];
        /* PostgreSQL numbers 10 and later MMmmmm, older ones MMmmpp (9.6.24 is 90624). */
        if (version >= 100000)
            snprintf(shown, sizeof shown, "%d.%d", version / 10000, version % 10000);
        else
            snprintf(shown, sizeof shown, "%d.%d.%d", version / 10000, version / 100 % 100, version % 100);
        error_with(db->secrets, err, errlen, "%s runs PostgreSQL %s; tarry needs %d or newer", db->where,
                   shown, PG_MIN_SERVER_VERSION / 10000);
        return TARRY_ERANGE;
    }
    if (!encoding || strcmp(encoding, "UTF8") != 0) {
        error_with(db->secrets, err, errlen,
                   "%s uses the encoding %s; tarry keeps JSON and logs as UTF-8 text: create the "
                   "database WITH ENCODING 'UTF8'",
                   db->where, encoding ? encoding : "(unknown)");
        return TARRY_ERANGE;
    }
    return 0;
}

int pg_connect(const char *url, pg_db **out, char *err, size_t errlen)
{
    /* Before the URL: defaults it may override; after it: what tarry needs (libpq's rule). */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding", NULL};
    const char *const values[] = {PG_CONNECT_TIMEOUT, PG_APPLICATION_NAME, url, "UTF8", NULL};
    pg_db *db;
    int rc;

    *out = NULL;
    if (!pg_url_is_postgres(url)) {
        snprintf(err, errlen, "a PostgreSQL store URL starts with postgres:// or postgresql://");
        return TARRY_EINVAL;
    }
    if (!(db = calloc(1, sizeof *db))) {
        snprintf(err, errlen, "out of memory");
        return TARRY_ENOMEM;
    }
    raw_secrets(url, &db->secrets[0], &db->secrets[1]);
    if ((rc = url_parse(url, &db->secrets[2], db->secrets, err, errlen)) != 0)
        goto fail;
    db->conn = PQconnectdbParams(keys, values, 1);
    if (!db->conn) {
        snprintf(err, errlen, "out of memory connecting to PostgreSQL");
        rc = TARRY_ENOMEM;
        goto fail;
    }
    describe(db);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        error_with(db->secrets, err, errlen, "cannot connect to %s: %s", db->where, PQerrorMessage(db->conn));
        rc = TARRY_EIO;
        goto fail;
    }
    if ((rc = check_server(db, err, errlen)) != 0)
        goto fail;
    *out = db;
    return 0;
fail:
    pg_close(db);
    return rc;
}

void pg_close(pg_db *db)
{
    if (!db)
        return;
    if (db->conn)
        PQfinish(db->conn);
    secrets_free(db->secrets);
    free(db->prepared);
    free(db);
}

const char *pg_where(const pg_db *db)
{
    return db->where;
}

/* ---- running SQL -------------------------------------------------------------------- */

static int result_check(pg_db *db, const char *step, PGresult *r, ExecStatusType want, PGresult **res,
                        char *err, size_t errlen)
{
    if (!r || PQresultStatus(r) != want) {
        pg_error(db, step, r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn), err, errlen);
        PQclear(r);
        return TARRY_EIO;
    }
    if (res)
        *res = r;
    else
        PQclear(r);
    return 0;
}

int pg_run(pg_db *db, const char *step, const char *sql, ExecStatusType want, PGresult **res, char *err,
           size_t errlen)
{
    return result_check(db, step, PQexec(db->conn, sql), want, res, err, errlen);
}

int pg_run_params(pg_db *db, const char *step, const char *sql, int n, const char *const *params,
                  ExecStatusType want, PGresult **res, char *err, size_t errlen)
{
    return result_check(db, step, PQexecParams(db->conn, sql, n, NULL, params, NULL, NULL, 0), want, res, err,
                        errlen);
}
