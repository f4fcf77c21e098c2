/*
 * cli_list.c - the commands that print lists: ls, functions, plugins,
 * and reload (which prints what the reload did, as plugins does).
 *
 * May not: include the store, engine, replay, plugins or http rooms.
 */
#include "cli_internal.h"

#include <stdlib.h>
#include <string.h>

#include "duration.h"

/* ---- ls ---------------------------------------------------------------------------- */

enum {
    LS_FUNCTION,
    LS_STATE,
    LS_METADATA,
    LS_CREATED_FROM,
    LS_CREATED_TO,
    LS_FINISHED_FROM,
    LS_FINISHED_TO,
    LS_ERROR,
    LS_LIMIT,
    LS_CURSOR,
    LS_JSON
};

/* The query parameter of each option (docs/API.md); a repeated option repeats it. */
static const char *const ls_keys[] = {"function",   "state",         "metadata",    "created_from",
                                      "created_to", "finished_from", "finished_to", "error_contains",
                                      "limit",      "cursor"};

/* "more: tarry [--url URL] ls --function F ... --cursor C": the same filters, the next page. */
static void print_next_page(const client *c, const cli_args *args, const char *next)
{
    cli_text hint;
    cli_text_open(&hint);
    fputs("tarry", hint.f);
    if (c->url_given) {
        fputs(" --url ", hint.f);
        cli_put_shell_word(hint.f, c->base_url);
    }
    fputs(" ls", hint.f);
    static const char *const flags[] = {"function",     "state",      "metadata",
                                        "created-from", "created-to", "finished-from",
                                        "finished-to",  "error",      "limit"};
    for (int i = LS_FUNCTION; i <= LS_LIMIT; i++) {
        for (int n = 0; n < args->count[i]; n++) {
            fprintf(hint.f, " --%s ", flags[i]);
            cli_put_shell_word(hint.f, args->all[i][n]);
        }
    }
    fputs(" --cursor ", hint.f);
    cli_put_shell_word(hint.f, next);
    char *text = cli_text_take(&hint);
    cli_say(stdout, "more: %s\n", text);
    free(text);
}

/* A running execution's RUN TIME cell: how long its pass has run, "(stuck)" past the host's
 * --stuck-after; "-" for any other state. The caller frees it. */
static char *run_time_cell(const cJSON *x)
{
    const cJSON *ran = cli_json_get(x, "running_ms"), *stuck = cli_json_get(x, "stuck");
    char took[64], cell[80];

    if (!cJSON_IsNumber(ran))
        return cli_xstrdup("-");
    duration_format((int64_t)ran->valuedouble, took, sizeof took);
    snprintf(cell, sizeof cell, "%s%s", took, cJSON_IsTrue(stuck) ? " (stuck)" : "");
    return cli_xstrdup(cell);
}

int cli_cmd_ls(client *c, const command *cmd, const cli_args *args)
{
    static const char *const keys[] = {"id", "function", "state", "attempts", "created_at", "finished_at"};
    answer ans = {0};
    cli_table rows = {.ncols = 6};
    cli_text path;
    char sep = '?';
    int rc;

    (void)cmd;
    cli_text_open(&path);
    fputs("/v1/executions", path.f);
    for (int i = LS_FUNCTION; i <= LS_CURSOR; i++) {
        for (int n = 0; n < args->count[i]; n++) {
            fprintf(path.f, "%c%s=", sep, ls_keys[i]);
            cli_put_escaped(c, path.f, args->all[i][n]);
            sep = '&';
        }
    }
    char *path_text = cli_text_take(&path);
    if ((rc = cli_get(c, path_text, &ans)) != 0)
        goto done;
    if (args->seen[LS_JSON]) {
        cli_print_raw(&ans);
        goto done;
    }
    const cJSON *data = cli_json_get(ans.json, "data"), *x;
    if (!cJSON_IsArray(data)) {
        rc = cli_bad_answer(c, "\"data\" list");
        goto done;
    }
    /* RUN TIME only when something listed is running: a list of finished work stays as it was. */
    cJSON_ArrayForEach(x, data)
    {
        if (cJSON_IsNumber(cli_json_get(x, "running_ms")))
            rows.ncols = 7;
    }
    cli_table_add(&rows,
                  (const char *[]){"ID", "FUNCTION", "STATE", "ATTEMPTS", "CREATED", "FINISHED", "RUN TIME"});
    cJSON_ArrayForEach(x, data)
    {
        char *cells[7];
        for (int i = 0; i < 6; i++)
            cells[i] = cli_json_cell(cli_json_get(x, keys[i]));
        cells[6] = run_time_cell(x);
        cli_table_add(&rows, (const char *const *)cells);
        for (int i = 0; i < 7; i++)
            free(cells[i]);
    }
    if (rows.nrows == 1)
        fputs("tarry: no executions match\n", stderr);
    else
        cli_table_print(&rows, stdout);
    const char *next = cli_json_str(ans.json, "next_cursor");
    if (next && *next)
        print_next_page(c, args, next);
    /* Older executions may be missing from the list because retention deleted them: say so. */
    const cJSON *retention = cli_json_get(ans.json, "retention");
    const char *purged = cli_json_str(retention, "purged_before");
    if (purged && *purged)
        cli_say(stdout, "note: executions that finished before %s were deleted (retention %s)\n", purged,
                cli_json_str(retention, "default") ? cli_json_str(retention, "default") : "?");
done:
    cli_table_free(&rows);
    cli_answer_free(&ans);
    free(path_text);
    return rc;
}

/* ---- functions ------------------------------------------------------------------------- */

enum { FUNCTIONS_JSON };

/* The options in a table's few words: "5 x 1s..1m" for a retry policy (attempts, first and
 * longest wait), "2 (queue)" for a limit, "-" for what is off. Both buffers are `len` bytes. */
static void option_cells(const cJSON *fn, char *retry, char *limit, size_t len)
{
    const cJSON *opt = cli_json_get(fn, "options"), *r = cli_json_get(opt, "retry");
    const cJSON *conc = cli_json_get(opt, "concurrency");

    if (cJSON_IsObject(r))
        snprintf(retry, len, "%g x %s..%s", cJSON_GetNumberValue(cli_json_get(r, "max_attempts")),
                 cli_json_str(r, "initial_interval"), cli_json_str(r, "max_interval"));
    else
        snprintf(retry, len, "-");
    if (cJSON_IsNumber(conc))
        snprintf(limit, len, "%g (%s)", cJSON_GetNumberValue(conc),
                 cli_json_str(opt, "max_concurrency_action"));
    else
        snprintf(limit, len, "-");
}

int cli_cmd_functions(client *c, const command *cmd, const cli_args *args)
{
    answer ans = {0};
    cli_table rows = {.ncols = 9};
    int rc;

    (void)cmd;
    if ((rc = cli_get(c, "/v1/functions", &ans)) != 0)
        goto done;
    if (args->seen[FUNCTIONS_JSON]) {
        cli_print_raw(&ans);
        goto done;
    }
    const cJSON *data = cli_json_get(ans.json, "data"), *fn;
    if (!cJSON_IsArray(data)) {
        rc = cli_bad_answer(c, "\"data\" list");
        goto done;
    }
    cli_table_add(&rows, (const char *[]){"FUNCTION", "PLUGIN", "VERSION", "RETRY", "MAX DURATION",
                                          "CONCURRENCY", "CRON", "NEXT CRON", "RETENTION"});
    cJSON_ArrayForEach(fn, data)
    {
        const cJSON *plugin = cli_json_get(fn, "plugin"), *opt = cli_json_get(fn, "options");
        char retry[96], limit[96];
        option_cells(fn, retry, limit, sizeof retry);
        cli_table_add(
            &rows,
            (const char *[]){
                cli_json_str(fn, "name"), cli_json_str(plugin, "name"), cli_json_str(plugin, "version"),
                retry, cli_json_str(opt, "max_duration") ? cli_json_str(opt, "max_duration") : "none", limit,
                cli_json_str(opt, "cron"), cli_json_str(fn, "next_fire_at") /* "-" without a cron */,
                cli_json_str(opt, "retention") ? cli_json_str(opt, "retention") : "-" /* "0": forever */});
    }
    if (rows.nrows == 1)
        fputs("tarry: no functions are loaded (tarry plugins shows the plugins and their load errors)\n",
              stderr);
    else
        cli_table_print(&rows, stdout);
done:
    cli_table_free(&rows);
    cli_answer_free(&ans);
    return rc;
}

/* ---- plugins and reload ------------------------------------------------------------------ */

enum { PLUGINS_JSON };

/* "a, b, c" from a plugin's "functions" array; "-" for none. The caller frees. */
static char *function_list(const cJSON *plugin)
{
    const cJSON *fn;
    cli_text list;
    cli_text_open(&list);
    cJSON_ArrayForEach(fn, cli_json_get(plugin, "functions"))
    {
        fprintf(list.f, "%s%s", cli_text_len(&list) ? ", " : "", cJSON_IsString(fn) ? fn->valuestring : "?");
    }
    if (cli_text_len(&list) == 0)
        fputc('-', list.f);
    return cli_text_take(&list);
}

/* The plugins that did not load, with the host's reasons. */
static void print_failures(const cJSON *data, int failed, bool reload)
{
    const cJSON *plugin;
    printf("\n%d plugin%s did not load%s:\n", failed, failed == 1 ? "" : "s",
           reload ? " (the version before each keeps serving)" : "");
    cJSON_ArrayForEach(plugin, data)
    {
        const char *error = cli_json_str(plugin, "error");
        const char *file = cli_json_str(plugin, "file");
        /* The host's messages usually name the file already. */
        if (error && file && strncmp(error, file, strlen(file)) != 0)
            cli_say(stdout, "  %s: %s\n", file, error);
        else if (error)
            cli_say(stdout, "  %s\n", error);
    }
}

/* `plugins` lists GET /v1/plugins; `reload` POSTs a reload and lists what it
 * did, exiting 1 when a plugin was refused. */
static int plugins_table(client *c, const cli_args *args, bool reload)
{
    answer ans = {0};
    cli_table rows = {.ncols = 7};
    int rc, failed = 0;

    if ((rc = reload ? cli_send(c, "POST", "/v1/plugins/reload", "{}", 0, &ans)
                     : cli_get(c, "/v1/plugins", &ans)) != 0)
        goto done;
    if (args->seen[PLUGINS_JSON]) {
        cli_print_raw(&ans);
        if (reload && cJSON_GetNumberValue(cli_json_get(ans.json, "errors")) > 0)
            rc = CLI_EXIT_FAILED;
        goto done;
    }
    const cJSON *data = cli_json_get(ans.json, "data"), *plugin;
    if (!cJSON_IsArray(data)) {
        rc = cli_bad_answer(c, "\"data\" list");
        goto done;
    }
    /* HASH is what `tarry upgrade --to` takes; PINNED counts the unfinished executions on that version. */
    cli_table_add(&rows, (const char *[]){"FILE", "NAME", "VERSION", "HASH", "STATE", "PINNED", "FUNCTIONS"});
    cJSON_ArrayForEach(plugin, data)
    {
        char *functions = function_list(plugin), *pinned = NULL;
        const cJSON *count = cli_json_get(plugin, "pinned");
        if (cJSON_IsNumber(count))
            pinned = cli_xasprintf("%.0f%s", count->valuedouble,
                                   cJSON_IsFalse(cli_json_get(plugin, "pinned_exact")) ? "+" : "");
        cli_table_add(&rows, (const char *[]){cli_json_str(plugin, "file"), cli_json_str(plugin, "name"),
                                              cli_json_str(plugin, "version"), cli_json_str(plugin, "hash"),
                                              cli_json_str(plugin, "state"), pinned, functions});
        free(functions);
        free(pinned);
        if (cli_json_str(plugin, "error"))
            failed++;
    }
    if (rows.nrows == 1) {
        fputs("tarry: the host found no plugins (check its --plugins folder)\n", stderr);
        goto done;
    }
    cli_table_print(&rows, stdout);
    if (failed) {
        if (reload)
            rc = CLI_EXIT_FAILED;
        print_failures(data, failed, reload);
    }
done:
    cli_table_free(&rows);
    cli_answer_free(&ans);
    return rc;
}

int cli_cmd_plugins(client *c, const command *cmd, const cli_args *args)
{
    (void)cmd;
    return plugins_table(c, args, false);
}

int cli_cmd_reload(client *c, const command *cmd, const cli_args *args)
{
    (void)cmd;
    return plugins_table(c, args, true);
}
