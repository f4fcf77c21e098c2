/*
 * main.c - the `tarry` binary: `tarry serve` runs the host; every other
 * command is a client of its HTTP API.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "scaffold.h"
#include "serve.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: tarry [--url URL] COMMAND [ARGS]\n\n");
    fprintf(out, "  %-40s %s\n", "serve [--plugins DIR] [--data DIR] ...",
            "run the host (tarry serve --help)");
    scaffold_usage(out);
    cli_usage(out);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        (!strcmp(argv[1], "help") && argc == 2)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "serve"))
        return serve_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "new"))
        return scaffold_main(argc - 1, argv + 1);
    return cli_main(argc - 1, argv + 1);
}
