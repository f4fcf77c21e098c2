/*
 * cli_internal.h - what the CLI's rooms share; no other room includes it.
 *
 * The client commands (cli.h) are split by concern, as libuv splits its
 * platform code behind uv-common.h:
 *   cli.c         the command table, option parsing (getopt_long), the
 *                 opening every command shares, cli_main
 *   cli_text.c    memory, text written with stdio (open_memstream), output
 *                 that is safe for a terminal, JSON fields, tables, times
 *   cli_client.c  the HTTP client (libcurl): requests, answers, errors
 *   cli_run.c     run, result, reschedule, upgrade: commands that change an
 *                 execution or wait for one
 *   cli_show.c    show, with the journal as a timeline
 *   cli_export.c  export: an execution with its journal, for the test kit
 *   cli_list.c    ls, functions, plugins, reload: tables and lists
 *   cli_cluster.c cluster: the hosts, their workers, what runs on each
 *   cli_logs.c    logs: the pages, or following (-f) the host's event stream
 *   cli_control.c cancel, rerun
 *
 * Out of memory: a command-line tool has nothing to clean up or retry, so
 * the x* allocators print "tarry: out of memory" and exit CLI_EXIT_USAGE.
 */
#ifndef TARRY_CLI_INTERNAL_H
#define TARRY_CLI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "cli.h"

#define CLI_DEFAULT_URL "http://127.0.0.1:7373"
#define CLI_DEFAULT_WAIT_MS 30000
/* The host refuses a longer ?wait= (docs/API.md); a longer wait is a series of long-polls. */
#define CLI_WAIT_CHUNK_MS (10 * 60 * 1000)
/* Time for an answer to travel, on top of any wait the host was asked for. */
#define CLI_ANSWER_SLACK_MS 30000
#define CLI_CONNECT_TIMEOUT_MS 5000

#define CLI_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* ---- memory and text (cli_text.c) ------------------------------------------ */

_Noreturn void cli_die_oom(void);
void *cli_xrealloc(void *ptr, size_t size);
char *cli_xstrdup(const char *s);
/* asprintf that never fails; the caller frees. */
char *cli_xasprintf(const char *fmt, ...) CLI_PRINTF(1, 2);

/*
 * Text built with stdio: cli_text_open() starts an open_memstream, write to
 * .f with fprintf/fputs, cli_text_take() ends it and hands back the text
 * (never NULL; the caller frees). cli_text_len() is what was written so far.
 */
typedef struct cli_text {
    FILE *f;
    char *ptr;
    size_t size;
} cli_text;

void cli_text_open(cli_text *t);
size_t cli_text_len(cli_text *t);
char *cli_text_take(cli_text *t);

/* Write s with control characters (but newline and tab) shown as '?'. */
void cli_put_clean(FILE *out, const char *s, size_t len);
/* printf for anything that may carry text from the host: control characters are shown as '?'. */
void cli_say(FILE *out, const char *fmt, ...) CLI_PRINTF(2, 3);
/* s as one shell word, quoted only when it needs to be. */
void cli_put_shell_word(FILE *out, const char *s);
/* s cut to at most max_cols terminal columns (UTF-8), ending in "..." when it was cut. */
void cli_put_cut(FILE *out, const char *s, size_t max_cols);
/* Terminal columns taken by s, counting UTF-8 code points. */
size_t cli_text_width(const char *s);

/* ---- JSON fields ------------------------------------------------------------ */

/* The string member `key` of obj, or NULL when obj is not an object or the member is no string. */
const char *cli_json_str(const cJSON *obj, const char *key);
/* The member `key` of obj, or NULL when obj is not an object or has no such member. */
const cJSON *cli_json_get(const cJSON *obj, const char *key);
/* "a string", "a number", ... for messages. */
const char *cli_json_type_name(const cJSON *item);
/* A table cell: strings as they are, whole numbers without a fraction, null or missing as "-",
 * anything else as compact JSON. The caller frees. */
char *cli_json_cell(const cJSON *item);
/* Compact JSON text of item ("null" when missing). The caller frees. */
char *cli_json_text(const cJSON *item);
/* The time member `key` of obj in Unix ms; false when it is missing, null or not RFC 3339. */
bool cli_json_time(const cJSON *obj, const char *key, int64_t *out_ms);
/*
 * "WORD TIME (in D)" (or "TIME (5s ago)" when word is "") for the time member
 * `key` of obj, seen at now_ms; NULL when obj has no such member. The caller frees.
 */
char *cli_when_text(const char *word, const cJSON *obj, const char *key, int64_t now_ms);

/* ---- tables ------------------------------------------------------------------ */

/* Rows of owned, cleaned cells, printed with columns padded to their widest cell. */
typedef struct cli_table {
    size_t ncols;
    size_t nrows;
    char **cells; /* row-major, nrows * ncols */
} cli_table;

/* Copy one row of ncols cells (NULL shows as "-"); control characters become ' ' or '?'. */
void cli_table_add(cli_table *t, const char *const *cells);
/* A column empty in every row takes no room; a row ends at its last non-empty cell. */
void cli_table_print(const cli_table *t, FILE *out);
void cli_table_free(cli_table *t);

/* ---- the HTTP client (cli_client.c) ---------------------------------------------- */

typedef struct client {
    CURL *curl;
    const char *base_url; /* borrowed from argv or the environment */
    size_t base_len;      /* without trailing slashes */
    bool url_given;       /* --url was on the command line, so hints repeat it */
    struct curl_slist *get_headers;
    struct curl_slist *post_headers;
    char *auth_header; /* owned; curl_slist_append copies it */
    char errbuf[CURL_ERROR_SIZE];
} client;

/* One HTTP answer. Owns body and json; zero-initialised is empty. */
typedef struct answer {
    long status;
    char *body; /* NUL-terminated; NULL when there was none */
    size_t len;
    cJSON *json; /* the parsed body, or NULL when it is not JSON */
} answer;

/* Returns 0, or CLI_EXIT_USAGE after saying why. base_url is borrowed for the client's life. */
int cli_client_init(client *c, const char *base_url, bool url_given);
void cli_client_free(client *c);
void cli_answer_free(answer *ans);

/*
 * "/v1/executions/ID" + suffix, with ID percent-encoded (ids come from the
 * user or the host: an odd one must not address another endpoint). The
 * caller frees.
 */
char *cli_exec_path(client *c, const char *id, const char *suffix);
/* Append s percent-encoded, fit for one path segment or query value. */
void cli_put_escaped(client *c, FILE *out, const char *s);

/*
 * Send one request for `path` (from "/", appended to the base URL): a GET
 * when body is NULL, else `method` (NULL: POST) with body. The host gets
 * timeout_ms to answer. Fills ans (which the caller frees) with any HTTP
 * answer, whatever its status. Returns 0, or CLI_EXIT_USAGE after saying
 * why no answer came.
 */
int cli_send(client *c, const char *method, const char *path, const char *body, int64_t timeout_ms,
             answer *ans);
/*
 * GET path as a stream (server-sent events): on_data(ptr, 1, n, user) gets
 * the bytes as they come, whatever the status (*status says it after);
 * it returns n to go on, 0 to stop (then this returns 0 too). Returns 0, or
 * CLI_EXIT_USAGE after saying why the stream broke.
 */
int cli_stream_get(client *c, const char *path, curl_write_callback on_data, void *user, long *status);
/*
 * Check that ans has status ok_a or ok_b and a JSON object body. Returns 0,
 * or CLI_EXIT_FAILED after printing the host's error.
 */
int cli_answer_expect(const client *c, const answer *ans, long ok_a, long ok_b);
/* GET path, expecting 200 and a JSON object. */
int cli_get(client *c, const char *path, answer *ans);
/* Say that the answer lacks `what`; returns CLI_EXIT_FAILED. */
int cli_bad_answer(const client *c, const char *what);
/* The answer's body as it came, for --json, ending in a newline. */
void cli_print_raw(const answer *ans);

/* ---- commands (cli.c) ------------------------------------------------------------ */

enum cli_opt_kind {
    OPT_FLAG,  /* --json */
    OPT_VALUE, /* --delay D or --delay=D */
    OPT_WAIT   /* --wait, --wait=D, or --wait D when D looks like a duration */
};

typedef struct cli_option {
    const char *name; /* NULL: unused slot */
    enum cli_opt_kind kind;
} cli_option;

#define CLI_MAX_OPTS 12
#define CLI_MAX_POS 2
#define CLI_MAX_REPEAT 25 /* values kept of one option given several times (--metadata k=v ...) */

/* A command line as parsed; the strings are borrowed from argv. */
typedef struct cli_args {
    bool seen[CLI_MAX_OPTS];
    const char *value[CLI_MAX_OPTS];               /* NULL for a flag or a bare --wait; the last one given */
    const char *all[CLI_MAX_OPTS][CLI_MAX_REPEAT]; /* every value given, in order */
    int count[CLI_MAX_OPTS];
    const char *pos[CLI_MAX_POS];
    int npos;
} cli_args;

typedef struct command command;

struct command {
    const char *name;
    const char *synopsis; /* after "tarry ", every option */
    const char *brief;    /* the synopsis for the one-line list */
    const char *summary;
    const char *help;                 /* the options, for COMMAND --help */
    cli_option options[CLI_MAX_OPTS]; /* indexed by the command's own enum */
    int min_pos, max_pos;             /* words besides the options */
    const char *missing;              /* the complaint when fewer than min_pos are given */
    bool id_arg;                      /* the first word, when given, is an execution id */
    int (*run)(client *c, const command *cmd, const cli_args *args);
};

/* A malformed command line: "tarry CMD: message", then the synopsis. Returns CLI_EXIT_USAGE. */
int cli_usage_error(const command *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* A bad value: "tarry CMD: message" alone. Returns CLI_EXIT_USAGE. */
int cli_value_error(const command *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* An execution id given on the command line (26 letters and digits), or a usage error. */
int cli_check_id(const command *cmd, const char *id);
/* Whether state is one of the final ones. */
bool cli_state_final(const char *state);

/* The commands, for the table in cli.c. */
int cli_cmd_run(client *c, const command *cmd, const cli_args *args);
int cli_cmd_result(client *c, const command *cmd, const cli_args *args);
int cli_cmd_reschedule(client *c, const command *cmd, const cli_args *args);
int cli_cmd_upgrade(client *c, const command *cmd, const cli_args *args);
int cli_cmd_show(client *c, const command *cmd, const cli_args *args);
int cli_cmd_export(client *c, const command *cmd, const cli_args *args);
int cli_cmd_ls(client *c, const command *cmd, const cli_args *args);
int cli_cmd_logs(client *c, const command *cmd, const cli_args *args);
int cli_cmd_functions(client *c, const command *cmd, const cli_args *args);
int cli_cmd_plugins(client *c, const command *cmd, const cli_args *args);
int cli_cmd_reload(client *c, const command *cmd, const cli_args *args);
int cli_cmd_cancel(client *c, const command *cmd, const cli_args *args);
int cli_cmd_rerun(client *c, const command *cmd, const cli_args *args);
int cli_cmd_cluster(client *c, const command *cmd, const cli_args *args);

#endif
