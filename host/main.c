/*
 * main.c - the `tarry` binary: the commands that run in this process
 * (`serve` the host, `new` a plugin skeleton, `migrate` a PostgreSQL
 * store's schema), and every other command a client of the host's HTTP API.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "migrate.h"
#include "scaffold.h"
#include "serve.h"

/* Commands that need no host; each parses its own options (getopt_long) and has --help. */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} local_commands[] = {
    {"serve", serve_main},
    {"new", scaffold_main},
    {"migrate", migrate_main},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: tarry [--url URL] COMMAND [ARGS]\n\n");
    fprintf(out, "  %-40s %s\n", "serve [--plugins DIR] [--data DIR] ...",
            "run the host (tarry serve --help)");
    scaffold_usage(out);
    migrate_usage(out);
    cli_usage(out);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        (!strcmp(argv[1], "help") && argc == 2)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof local_commands / sizeof local_commands[0]; i++)
        if (!strcmp(argv[1], local_commands[i].name))
            return local_commands[i].run(argc - 1, argv + 1);
    return cli_main(argc - 1, argv + 1);
}
