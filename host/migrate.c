/*
 * migrate.c - `tarry migrate` (migrate.h): the command line, and the
 * messages for what pg.c and pg_schema.c did.
 *
 * May not: include libpq-fe.h or run SQL (pg*.c do), or print the store URL:
 * it may hold a password.
 */
#include "migrate.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "pg_schema.h"
#include "status.h"

void migrate_usage(FILE *out)
{
    fprintf(out, "  %-40s %s\n", "migrate [--store URL]",
            "create or update a PostgreSQL store's schema (tarry migrate --help)");
}

static void help(FILE *out)
{
    fprintf(out,
            "usage: tarry migrate [--store URL]\n\n"
            "Bring the schema of a PostgreSQL store's database to the version this tarry knows\n"
            "(%d), applying each missing migration once, also when several hosts or migrates run\n"
            "at once. Prints what it applied, or that nothing was missing. A database whose\n"
            "schema is newer than this tarry knows is refused.\n\n"
            "  --store URL   the store: postgres://USER@HOST[:PORT]/DATABASE[?PARAM=VALUE...], a libpq\n"
            "                URI (env TARRY_STORE). Keep passwords out of command lines: put one in\n"
            "                TARRY_STORE, PGPASSWORD or ~/.pgpass (libpq reads them)\n"
            "  -h, --help    this help\n\n"
            "Exit status: 0 done (or nothing to apply), 1 the database could not be migrated (the\n"
            "reason on stderr), 2 a bad command line or store URL.\n",
            pg_schema_latest());
}

static void applied(void *user, const pg_migration *m)
{
    ++*(int *)user;
    printf("applied schema version %d (%s)\n", m->version, m->description);
    fflush(stdout);
}

int migrate_main(int argc, char **argv)
{
    static const struct option options[] = {
        {"store", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = getenv("TARRY_STORE");
    char err[1024];
    pg_db *db;
    int opt, rc, version, count = 0;

    opterr = 0; /* our own messages, naming the command */
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            help(stdout);
            return MIGRATE_EXIT_OK;
        case 's':
            url = optarg;
            break;
        case ':':
            fprintf(stderr, "tarry migrate: %s needs a value\n", argv[optind - 1]);
            return MIGRATE_EXIT_USAGE;
        default:
            fprintf(stderr, "tarry migrate: unknown option \"%s\"\n", argv[optind - 1]);
            help(stderr);
            return MIGRATE_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tarry migrate: unexpected argument \"%s\"\n", argv[optind]);
        help(stderr);
        return MIGRATE_EXIT_USAGE;
    }
    if (!url || !*url) {
        fprintf(stderr, "tarry migrate: no store: pass --store postgres://... or set TARRY_STORE\n");
        return MIGRATE_EXIT_USAGE;
    }
    if (!pg_url_is_postgres(url)) {
        fprintf(stderr, "tarry migrate: the store URL must start with postgres:// or postgresql://: "
                        "migrate prepares a PostgreSQL database (an LMDB store needs no migration)\n");
        return MIGRATE_EXIT_USAGE;
    }
    if ((rc = pg_connect(url, &db, err, sizeof err)) != 0) {
        fprintf(stderr, "tarry migrate: %s\n", err);
        return rc == TARRY_EINVAL ? MIGRATE_EXIT_USAGE : MIGRATE_EXIT_FAILED;
    }
    /* Counted, not compared with a version read first: another migrate may apply it meanwhile. */
    rc = pg_schema_migrate(db, applied, &count, &version, err, sizeof err);
    if (rc == 0 && count == 0)
        printf("schema is at version %d: nothing to apply\n", version);
    else if (rc != 0)
        fprintf(stderr, "tarry migrate: %s\n", err);
    pg_close(db);
    return rc == 0 ? MIGRATE_EXIT_OK : MIGRATE_EXIT_FAILED;
}
