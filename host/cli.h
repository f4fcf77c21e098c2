/*
 * cli.h - the client subcommands of `tarry`: run, show, reschedule, ls,
 * result, logs, functions, plugins, upgrade, reload (cli_internal.h says
 * which file holds what).
 *
 * They are ordinary callers of the HTTP API (docs/API.md) of a running host,
 * found by `--url URL`, else $TARRY_URL, else http://127.0.0.1:7373. Data a
 * script wants (ids, results, --json answers) goes to stdout; messages for a
 * person go to stderr, prefixed "tarry: ".
 */
#ifndef TARRY_CLI_H
#define TARRY_CLI_H

#include <stdio.h>

/* Exit statuses of the client subcommands (docs/API.md, "CLI"). */
#define CLI_EXIT_OK 0 /* done; with --wait, the execution succeeded */
#define CLI_EXIT_FAILED                                                                                      \
    1                    /* the execution failed, was cancelled or discarded, or the host answered an error */
#define CLI_EXIT_USAGE 2 /* bad command line, or the host could not be reached */
#define CLI_EXIT_PENDING 3 /* the wait ran out before the execution was final (run --wait, result) */

/*
 * Run a client subcommand and return its CLI_EXIT_* status.
 *
 * argv holds the words after the program name; argv[0] is the command name
 * ("run", "show", "reschedule", "ls", "result", "logs", "functions",
 * "plugins", "upgrade", "reload", or "help"). Options are parsed with
 * getopt_long (GNU style: `--opt V`, `--opt=V`, unique prefixes).
 * The global option `--url URL` / `--url=URL` may stand anywhere before a
 * `--` (so also before the command: argv[0] may be "--url"). `COMMAND --help`
 * prints that command's help and returns 0.
 *
 * argv is borrowed for the call only. Writes to stdout and stderr. Calls
 * curl_global_init() and curl_global_cleanup() itself, so no other thread may
 * use libcurl while it runs.
 */
int cli_main(int argc, char **argv);

/*
 * Write one line per client command to `out` ("  run NAME [ARGS_JSON] ...
 * trigger a function ..."), indented two spaces, no heading, for
 * `tarry --help`.
 */
void cli_usage(FILE *out);

#endif
