/*
 * migrate.h - `tarry migrate --store URL`: bring a PostgreSQL store's
 * database to the schema this tarry knows, ahead of the hosts.
 *
 * An operator's command: it connects (pg.h), applies the migrations the
 * database lacks (pg_schema.h) and says what it did. Hosts will apply them
 * at start as well; running it first lets a deploy fail early and lets a
 * schema change be made by someone other than the hosts' database user.
 */
#ifndef TARRY_MIGRATE_H
#define TARRY_MIGRATE_H

#include <stdio.h>

#define MIGRATE_EXIT_OK 0     /* applied, or nothing to apply */
#define MIGRATE_EXIT_FAILED 1 /* unreachable, refused, a newer schema, a statement failed */
#define MIGRATE_EXIT_USAGE 2  /* bad command line, no store, a URL that is not a PostgreSQL one */

/*
 * Run `tarry migrate`. argv holds the words after the program name (argv[0]
 * is "migrate"), borrowed for the call. The store is --store URL, else the
 * environment's TARRY_STORE. Prints what it applied on stdout, errors on
 * stderr (never the URL's password). Returns a MIGRATE_EXIT_* status.
 */
int migrate_main(int argc, char **argv);

/* One line for `tarry --help`, in cli_usage()'s format. */
void migrate_usage(FILE *out);

#endif
