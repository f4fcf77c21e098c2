/*
 * cli.c - the client subcommands of `tarry`: the command table, the
 * command line (getopt_long), the opening every command shares, cli_main.
 *
 * Every command is one row of `commands`: its help, its options, how many
 * words it takes and whether the first is an execution id. command_open()
 * does for all of them what each would otherwise repeat: parse, answer
 * --help, complain about a missing word, check the id; only then does the
 * command's function run, with a client for the host already made. The
 * commands themselves live in cli_run.c, cli_show.c, cli_list.c and more
 * (cli_internal.h lists the rooms).
 *
 * This room is an outside caller of the HTTP API like any other: it knows the
 * host only through docs/API.md and may not include the store, engine, replay,
 * plugins or http rooms.
 */
#include "cli.h"

#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

#define PARSED_HELP (-1) /* the command line asked for help, which is printed: the command is done */

/* getopt_long's values for a command's options (OPT_BASE + index), --url and --help. */
enum { OPT_BASE = 0x200, OPT_URL = 0x100, OPT_HELP = 'h' };

static const command commands[] = {
    {"run",
     "run NAME [ARGS_JSON] [--delay D | --at TIME] [--metadata K=V]... [--idempotency-key K]\n"
     "          [--discard-after D|TIME] [--wait[=D]] [--json]",
     "run NAME [ARGS_JSON] [options]",
     "trigger a function; prints its id, or its result with --wait",
     "Without --wait, prints the new execution's id on stdout. With --wait, waits for\n"
     "the outcome: prints the result JSON and exits 0 when it succeeded, prints the\n"
     "error and exits 1 when it failed, prints the id and exits 3 when it is still\n"
     "not finished after the wait.\n\n"
     "  ARGS_JSON         the arguments, any JSON (default null); quote it for the shell\n"
     "  --delay D         start after a duration: 90s, 2 hours, 1 day, 1h 30m\n"
     "  --at TIME         start at an RFC 3339 time, e.g. 2026-11-28T10:00:00Z\n"
     "  --metadata K=V    a string pair kept with the execution (repeat it: at most 25);\n"
     "                    a JSON object of strings works too\n"
     "  --idempotency-key K  one execution per function and key: running it again with the\n"
     "                    same key prints the first one's id (other args: refused)\n"
     "  --discard-after D not started after this duration or RFC 3339 time: discarded\n"
     "  --wait[=D]        wait for the outcome, 30s unless D is given (--wait 5m works too;\n"
     "                    write a number ARGS_JSON before a bare --wait)\n"
     "  --json            print the API's JSON answer instead\n",
     {{"delay", OPT_VALUE},
      {"at", OPT_VALUE},
      {"metadata", OPT_VALUE},
      {"wait", OPT_WAIT},
      {"json", OPT_FLAG},
      {"idempotency-key", OPT_VALUE},
      {"discard-after", OPT_VALUE}},
     1,
     2,
     "missing NAME, the function to run",
     false,
     cli_cmd_run},
    {"show",
     "show ID [--json]",
     "show ID",
     "one execution: its fields, then its journal as a timeline",
     "Prints the execution's state, plugin, attempts, times (and when a durable\n"
     "sleep ends), parent, children, args, result or error and metadata, then its\n"
     "journal: one line per durable command (call, step, sleep, now) with its\n"
     "position, kind, name, status, the child a call started, and how long it took\n"
     "and its result or error, or, while pending, when it starts or wakes.\n\n"
     "  --json            print the API's execution object instead\n",
     {{"json", OPT_FLAG}},
     1,
     1,
     "missing ID, the execution's id",
     true,
     cli_cmd_show},
    {"export",
     "export ID",
     "export ID",
     "one execution with its journal, as one JSON document for the test kit",
     "Prints {\"format\": \"tarry-export\", \"version\": 1, \"execution\": {...}}: the\n"
     "API's execution object (GET /v1/executions/ID) with its function, args,\n"
     "plugin name, version and hash, attempts, state and journal. Save it\n"
     "(tarry export ID > run.json) and replay it against a new build of the\n"
     "plugin with the test kit's tarry_test_replay_file before deploying it.\n",
     {{NULL, OPT_FLAG}}, /* no options: the output is JSON already */
     1,
     1,
     "missing ID, the execution's id",
     true,
     cli_cmd_export},
    {"reschedule",
     "reschedule ID [--in D | --at TIME] [--json]",
     "reschedule ID [--in D | --at TIME]",
     "move a pending timer: a delayed start, a retry that waits or a durable sleep",
     "Moves the execution's pending timer: the start of a scheduled execution, or\n"
     "the end of the durable sleep a waiting one is in. Without --in or --at it\n"
     "fires now. Prints the id, the function and the new time. An execution with\n"
     "no pending timer (running, or waiting on a child) is an error (exit 1).\n\n"
     "  --in D            fire after a duration from now: 90s, 2 hours, 1 day, 1h 30m\n"
     "  --at TIME         fire at an RFC 3339 time, e.g. 2026-11-28T10:00:00Z\n"
     "  --json            print the API's execution object instead\n",
     {{"in", OPT_VALUE}, {"at", OPT_VALUE}, {"json", OPT_FLAG}},
     1,
     1,
     "missing ID, the execution's id",
     true,
     cli_cmd_reschedule},
    {"cancel",
     "cancel ID [--json]",
     "cancel ID",
     "cancel an execution and everything it started",
     "A scheduled, queued, waiting or blocked execution is cancelled at once, with\n"
     "every unfinished execution it started (its children, theirs, ...); a parent\n"
     "awaiting a cancelled child sees TARRY_CANCELLED. A running one cannot be\n"
     "stopped from outside: tarry_is_cancelled() turns true for it, and what its\n"
     "attempt returns is discarded; it is cancelled then (\"cancel requested\").\n"
     "The cancel is durable before this answers. A finished execution is an error\n"
     "(exit 1) naming its state.\n\n"
     "  --json            print the API's execution object instead\n",
     {{"json", OPT_FLAG}},
     1,
     1,
     "missing ID, the execution's id",
     true,
     cli_cmd_cancel},
    {"rerun",
     "rerun ID [--args JSON] [--json]",
     "rerun ID [--args JSON]",
     "start an execution again: same function, args and metadata",
     "Starts a new execution of the execution's function (its current version) with\n"
     "the same args and metadata, or new args. Prints the new id. The two are linked:\n"
     "the new one's \"rerun_of\" and the original's \"reruns\" (tarry show --json).\n\n"
     "  --args JSON       new arguments, any JSON; quote it for the shell\n"
     "  --json            print the API's JSON answer instead\n",
     {{"args", OPT_VALUE}, {"json", OPT_FLAG}},
     1,
     1,
     "missing ID, the execution's id",
     true,
     cli_cmd_rerun},
    {"ls",
     "ls [--function F]... [--state S]... [--metadata K=V]... [--created-from TIME] [--created-to TIME]\n"
     "         [--finished-from TIME] [--finished-to TIME] [--error TEXT] [--limit N] [--cursor C] [--json]",
     "ls [--function F] [--state S] [options]",
     "list executions, newest first",
     "  --function F      only executions of function F (repeat it, or F1,F2: any of them)\n"
     "  --state S         only executions in state S (repeat it, or S1,S2: any of them): scheduled,\n"
     "                    queued, running, waiting, succeeded, failed, cancelled, discarded, blocked\n"
     "  --metadata K=V    only executions with this metadata pair (repeat it: all of them)\n"
     "  --created-from TIME, --created-to TIME    created in [from, to) (RFC 3339)\n"
     "  --finished-from TIME, --finished-to TIME  finished in [from, to)\n"
     "  --error TEXT      only executions whose error contains TEXT\n"
     "  --limit N         at most N rows, 1..1000 (default 50)\n"
     "  --cursor C        the next page, as the last line of the previous page says\n"
     "  --json            print the API's JSON answer instead\n",
     {{"function", OPT_VALUE},
      {"state", OPT_VALUE},
      {"metadata", OPT_VALUE},
      {"created-from", OPT_VALUE},
      {"created-to", OPT_VALUE},
      {"finished-from", OPT_VALUE},
      {"finished-to", OPT_VALUE},
      {"error", OPT_VALUE},
      {"limit", OPT_VALUE},
      {"cursor", OPT_VALUE},
      {"json", OPT_FLAG}},
     0,
     0,
     NULL,
     false,
     cli_cmd_ls},
    {"result",
     "result ID [--wait D] [--json]",
     "result ID [--wait D]",
     "wait for an execution's outcome; prints its result",
     "Prints the result JSON and exits 0 when it succeeded, prints the error and\n"
     "exits 1 when it failed (or was cancelled or discarded), exits 3 when it is\n"
     "still not finished after the wait.\n\n"
     "  --wait D          how long to wait (default 30s; 0s only looks)\n"
     "  --json            print the API's JSON answer instead\n",
     {{"wait", OPT_VALUE}, {"json", OPT_FLAG}},
     1,
     1,
     "missing ID, the execution's id",
     true,
     cli_cmd_result},
    {"logs",
     "logs ID [-f] [--json]",
     "logs ID [-f]",
     "an execution's log lines",
     "Each line: time, level, #attempt (the attempt that logged it; - for lines\n"
     "from before attempts were kept), message.\n\n"
     "  -f, --follow      keep printing lines as they are logged until the execution\n"
     "                    ends; exits 0 when it succeeded, 1 when it failed, was\n"
     "                    cancelled or discarded\n"
     "  --json            print the API's JSON answer instead (with -f: each line's\n"
     "                    JSON object, then the end event's)\n",
     {{"json", OPT_FLAG}, {"follow", OPT_FLAG}},
     1,
     1,
     "missing ID, the execution's id",
     true,
     cli_cmd_logs},
    {"functions",
     "functions [--json]",
     "functions",
     "the loaded functions",
     "  --json            print the API's JSON answer instead\n",
     {{"json", OPT_FLAG}},
     0,
     0,
     NULL,
     false,
     cli_cmd_functions},
    {"plugins",
     "plugins [--json]",
     "plugins",
     "the plugins and their load errors",
     "  --json            print the API's JSON answer instead\n",
     {{"json", OPT_FLAG}},
     0,
     0,
     NULL,
     false,
     cli_cmd_plugins},
    {"upgrade",
     "upgrade ID|--function F [--to HASH] [--force] [--json] | --function F --dry-run [--json]",
     "upgrade ID|--function F [--to HASH] [--dry-run]",
     "move waiting or blocked executions to a newer plugin version, checked first",
     "An execution keeps the plugin version it started on. This moves one (or every\n"
     "waiting, blocked, queued or scheduled execution of function F) to the current\n"
     "version, or to the loaded version HASH (see tarry plugins). Each is checked at\n"
     "once: its journal is replayed against the new code without side effects, and if\n"
     "the code issues a different command than the journal holds, the upgrade is\n"
     "refused (exit 1) naming the position and both commands; the execution stays on\n"
     "its version. A blocked execution is queued to replay at once.\n\n"
     "  --function F      every such execution of function F\n"
     "  --to HASH         a loaded version instead of the current one\n"
     "  --dry-run         with --function: only check them against the current version,\n"
     "                    grouped by verdict (exit 1 if any would block); nothing moves\n"
     "  --force           move without the check (it blocks at the first differing command)\n"
     "  --json            print the API's answers instead\n",
     {{"function", OPT_VALUE},
      {"to", OPT_VALUE},
      {"json", OPT_FLAG},
      {"dry-run", OPT_FLAG},
      {"force", OPT_FLAG}},
     0,
     1,
     NULL,
     true,
     cli_cmd_upgrade},
    {"reload",
     "reload [--json]",
     "reload",
     "rescan the plugins folder and load new versions",
     "Asks the host to rescan its plugins folder (as SIGHUP does): a changed .so is\n"
     "copied into the version store and loaded; once valid it serves new triggers,\n"
     "while executions keep the version they started on. Prints what each file did\n"
     "(loaded, unchanged, error, removed) and exits 1 if a plugin was refused.\n\n"
     "  --json            print the API's JSON answer instead\n",
     {{"json", OPT_FLAG}},
     0,
     0,
     NULL,
     false,
     cli_cmd_reload},
    {"cluster",
     "cluster [-v] [--json]",
     "cluster [-v]",
     "the hosts serving the store: heartbeats, workers, what runs where",
     "One row per host: its id (new each time its engine starts), hostname, the\n"
     "engine's pid, the address it serves, how long it has been up, its last\n"
     "heartbeat, its workers and how many are busy.\n\n"
     "  -v, --verbose     also list what runs on each host: execution, function,\n"
     "                    attempt, when the attempt started, how long it has run\n"
     "  --json            print the API's JSON answer instead\n",
     {{"verbose", OPT_FLAG}, {"json", OPT_FLAG}},
     0,
     0,
     NULL,
     false,
     cli_cmd_cluster},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const command *command_find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void cli_usage(FILE *out)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-40s %s\n", commands[i].brief, commands[i].summary);
}

static void command_help(const command *cmd, FILE *out)
{
    fprintf(out, "usage: tarry [--url URL] %s\n\n%s.\n\n%s", cmd->synopsis, cmd->summary, cmd->help);
    fprintf(out,
            "  --url URL         the host (env TARRY_URL, default %s)\n"
            "  -h, --help        this help\n",
            CLI_DEFAULT_URL);
}

/* ---- messages ------------------------------------------------------------------ */

static void complain(const command *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "tarry %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_usage_error(const command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    complain(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "usage: tarry %s\n(tarry %s --help for more)\n", cmd->synopsis, cmd->name);
    return CLI_EXIT_USAGE;
}

int cli_value_error(const command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    complain(cmd, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

/*
 * Ids are 26 letters and digits (docs/API.md). Checked here as well as by the
 * host so that a word like "../x" can never address a different endpoint.
 */
int cli_check_id(const command *cmd, const char *id)
{
    size_t len = strlen(id);
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)id[i]))
            len = 0;
    if (len != 26)
        return cli_value_error(
            cmd, "'%s' is not an execution id (26 letters and digits, as tarry run prints)", id);
    return 0;
}

bool cli_state_final(const char *state)
{
    static const char *const finals[] = {"succeeded", "failed", "cancelled", "discarded"};
    for (size_t i = 0; state && i < sizeof finals / sizeof finals[0]; i++)
        if (strcmp(state, finals[i]) == 0)
            return true;
    return false;
}

/* ---- the command line -------------------------------------------------------------- */

/*
 * A word after a bare --wait is its value when it starts with a digit: then
 * `--wait 10` is reported as a duration without a unit rather than quietly
 * becoming ARGS_JSON 10. Other JSON stays ARGS_JSON: `run f --wait '{"a":1}'`.
 */
static bool looks_like_duration(const char *word)
{
    return isdigit((unsigned char)word[0]) || (word[0] == '.' && isdigit((unsigned char)word[1]));
}

/* "-5", "-1.5": a negative number, which is ARGS_JSON, never options. */
static bool is_negative_number(const char *word)
{
    return word[0] == '-' &&
           (isdigit((unsigned char)word[1]) || (word[1] == '.' && isdigit((unsigned char)word[2])));
}

/* getopt sees this in place of a negative number; the word is read back from argv by its index. */
static char negative_stand_in[] = "0";

static int add_word(const command *cmd, cli_args *out, const char *word)
{
    if (out->npos == cmd->max_pos)
        return cli_usage_error(cmd, "unexpected argument '%s'", word);
    out->pos[out->npos++] = word;
    return 0;
}

/* What getopt refused in the word before optind, said the way this CLI says it. */
static int option_error(const command *cmd, int result, const char *word)
{
    const char *eq = strchr(word, '=');
    int name_len = eq ? (int)(eq - word) : (int)strlen(word);

    if (result == ':')
        return cli_usage_error(cmd, "%s needs a value", word);
    if (optopt >= OPT_BASE || optopt == OPT_URL || (optopt == OPT_HELP && word[1] == '-'))
        return cli_usage_error(cmd, "%.*s takes no value", name_len, word);
    if (optopt != 0)
        return cli_usage_error(cmd, "unknown option '-%c'", optopt);
    return cli_usage_error(cmd, "unknown option '%.*s'", name_len, word);
}

/*
 * Parse argv (argv[0] is the command name) with getopt_long in argument
 * order ("-" optstring), so words are taken as they come. `--` ends the
 * options; a word like -5 is a word (a negative number); a repeated option
 * keeps its last value in value[] and every value in all[]; --url anywhere sets *url. Returns 0, PARSED_HELP,
 * or CLI_EXIT_USAGE after saying what is wrong.
 */
static int parse_args(const command *cmd, int argc, char **argv, cli_args *out, const char **url)
{
    static const int has_arg[] = {
        [OPT_FLAG] = no_argument, [OPT_VALUE] = required_argument, [OPT_WAIT] = optional_argument};
    struct option longopts[CLI_MAX_OPTS + 3];
    char **words = cli_xrealloc(NULL, (size_t)(argc + 1) * sizeof *words);
    /* The short forms: -f is --follow for a command that has it. */
    static const struct {
        char c;
        const char *name;
    } short_flags[] = {{'f', "follow"}, {'v', "verbose"}};
    char shorts[8] = "-:h";
    size_t ns = strlen(shorts);
    int n = 0, rc = 0, got, short_of[sizeof short_flags / sizeof short_flags[0]];

    for (size_t k = 0; k < sizeof short_flags / sizeof short_flags[0]; k++)
        short_of[k] = -1;
    for (int i = 0; i < CLI_MAX_OPTS && cmd->options[i].name; i++) {
        longopts[n++] =
            (struct option){cmd->options[i].name, has_arg[cmd->options[i].kind], NULL, OPT_BASE + i};
        for (size_t k = 0; k < sizeof short_flags / sizeof short_flags[0]; k++)
            if (!strcmp(cmd->options[i].name, short_flags[k].name)) {
                short_of[k] = i;
                shorts[ns++] = short_flags[k].c;
            }
    }
    shorts[ns] = '\0';
    longopts[n++] = (struct option){"url", required_argument, NULL, OPT_URL};
    longopts[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
    longopts[n] = (struct option){0};
    /* In argument order getopt never permutes, so index i of words is index i of argv. */
    for (int i = 0; i < argc; i++)
        words[i] = i > 0 && is_negative_number(argv[i]) ? negative_stand_in : argv[i];
    words[argc] = NULL;

    *out = (cli_args){0};
    opterr = 0; /* the messages are ours */
    optind = 0; /* 0, not 1: glibc starts afresh (cli_main ran getopt before) */
    while (rc == 0 && (got = getopt_long(argc, words, shorts, longopts, NULL)) != -1) {
        /* An argument getopt took from a word of its own: read it back from argv. */
        const char *arg = optarg == negative_stand_in ? argv[optind - 1] : optarg;
        for (size_t k = 0; k < sizeof short_flags / sizeof short_flags[0]; k++)
            if (got == short_flags[k].c && short_of[k] >= 0)
                got = OPT_BASE + short_of[k];
        if (got == 1) {
            rc = add_word(cmd, out, arg);
        } else if (got == OPT_HELP) {
            command_help(cmd, stdout);
            rc = PARSED_HELP;
        } else if (got == OPT_URL) {
            *url = arg;
        } else if (got >= OPT_BASE) {
            int i = got - OPT_BASE;
            out->seen[i] = true;
            out->value[i] = arg;
            if (cmd->options[i].kind == OPT_WAIT && !arg && optind < argc &&
                looks_like_duration(argv[optind]))
                out->value[i] = argv[optind++];
            if (out->count[i] == CLI_MAX_REPEAT)
                rc = cli_usage_error(cmd, "--%s: given more than %d times", cmd->options[i].name,
                                     CLI_MAX_REPEAT);
            else
                out->all[i][out->count[i]++] = out->value[i];
        } else {
            rc = option_error(cmd, got, argv[optind - 1]);
        }
    }
    /* After `--`, every word is a word. */
    for (int i = optind; rc == 0 && i < argc; i++)
        rc = add_word(cmd, out, argv[i]);
    free(words);
    return rc;
}

/*
 * The opening every command shares: parse, --help, the words it needs, the
 * id check. Returns 0 (run the command), PARSED_HELP or CLI_EXIT_USAGE.
 */
static int command_open(const command *cmd, int argc, char **argv, cli_args *args, const char **url)
{
    int rc = parse_args(cmd, argc, argv, args, url);
    if (rc)
        return rc;
    if (args->npos < cmd->min_pos || (cmd->min_pos > 0 && !*args->pos[0]))
        return cli_usage_error(cmd, "%s", cmd->missing);
    if (cmd->id_arg && args->npos > 0)
        return cli_check_id(cmd, args->pos[0]);
    return 0;
}

/* Run one command with a client for the host at url. */
static int command_run(const command *cmd, const cli_args *args, const char *url, bool url_given)
{
    client c;
    int rc;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("tarry: cannot initialise libcurl\n", stderr);
        return CLI_EXIT_USAGE;
    }
    if ((rc = cli_client_init(&c, url, url_given)) == 0)
        rc = cmd->run(&c, cmd, args);
    cli_client_free(&c);
    curl_global_cleanup();
    return rc;
}

/*
 * The words before the command: --url and --help. Returns the index of the
 * command in words (words[0] is the program's name), or -1 having set *rc.
 */
static int parse_global(int nwords, char **words, const char **url, int *rc)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, OPT_URL}, {"help", no_argument, NULL, OPT_HELP}, {0}};
    int got;

    opterr = 0;
    optind = 0;
    /* "+": stop at the command; what follows is the command's. */
    while ((got = getopt_long(nwords, words, "+:h", longopts, NULL)) != -1) {
        if (got == OPT_URL) {
            *url = optarg;
        } else if (got == OPT_HELP) {
            cli_usage(stdout);
            *rc = CLI_EXIT_OK;
            return -1;
        } else if (got == ':') {
            fputs("tarry: --url needs a value, e.g. --url http://127.0.0.1:7373\n", stderr);
            *rc = CLI_EXIT_USAGE;
            return -1;
        } else {
            cli_say(stderr, "tarry: unknown option '%s'; the client commands are:\n", words[optind - 1]);
            cli_usage(stderr);
            *rc = CLI_EXIT_USAGE;
            return -1;
        }
    }
    return optind;
}

int cli_main(int argc, char **argv)
{
    /* getopt wants the program's name first. */
    char **words = cli_xrealloc(NULL, (size_t)(argc + 2) * sizeof *words);
    const char *url = NULL;
    int rc = CLI_EXIT_USAGE, at;
    cli_args args;

    words[0] = "tarry";
    memcpy(words + 1, argv, (size_t)argc * sizeof *words);
    words[argc + 1] = NULL;
    if ((at = parse_global(argc + 1, words, &url, &rc)) < 0)
        goto done;
    if (at == argc + 1) {
        fputs("tarry: which command? one of:\n", stderr);
        cli_usage(stderr);
        goto done;
    }
    if (strcmp(words[at], "help") == 0) {
        const command *cmd = at + 1 <= argc ? command_find(words[at + 1]) : NULL;
        if (cmd)
            command_help(cmd, stdout);
        else
            cli_usage(stdout);
        rc = CLI_EXIT_OK;
        goto done;
    }
    const command *cmd = command_find(words[at]);
    if (!cmd) {
        cli_say(stderr, "tarry: unknown command '%s'; the client commands are:\n", words[at]);
        cli_usage(stderr);
        goto done;
    }
    if ((rc = command_open(cmd, argc + 1 - at, words + at, &args, &url)) != 0) {
        rc = rc == PARSED_HELP ? CLI_EXIT_OK : rc;
        goto done;
    }
    bool url_given = url != NULL;
    if (!url || !*url)
        url = getenv("TARRY_URL");
    if (!url || !*url)
        url = CLI_DEFAULT_URL;
    rc = command_run(cmd, &args, url, url_given);
done:
    /* An id or result that did not reach its file or pipe must not look like success. */
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == CLI_EXIT_OK) {
        perror("tarry: writing the output failed");
        rc = CLI_EXIT_USAGE;
    }
    free(words);
    return rc;
}
