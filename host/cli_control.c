/*
 * cli_control.c - `tarry cancel` and `tarry rerun`: commands that end an
 * execution early or start it again (docs/API.md, "Cancel" and "Re-run").
 *
 * An outside caller of the HTTP API like the rest of cli_*.c.
 */
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"
#include "json_strict.h"

/* ---- cancel ------------------------------------------------------------------------ */

enum { CANCEL_JSON };

int cli_cmd_cancel(client *c, const command *cmd, const cli_args *args)
{
    const char *id = args->pos[0];
    char *path = cli_exec_path(c, id, "/cancel");
    answer ans = {0};
    int rc;

    (void)cmd;
    /* 200: cancelled now; 202: it runs, and is cancelled when its attempt returns. */
    if ((rc = cli_send(c, "POST", path, "{}", CLI_ANSWER_SLACK_MS, &ans)) != 0 ||
        (rc = cli_answer_expect(c, &ans, 200, 202)) != 0)
        goto done;
    if (args->seen[CANCEL_JSON]) {
        cli_print_raw(&ans);
        goto done;
    }
    const char *function = cli_json_str(ans.json, "function");
    if (ans.status == 200)
        cli_say(stdout, "%s %s cancelled\n", id, function ? function : "?");
    else
        cli_say(stdout,
                "%s %s cancel requested: it is running, and becomes cancelled when its attempt returns "
                "(the function sees tarry_is_cancelled())\n",
                id, function ? function : "?");
done:
    cli_answer_free(&ans);
    free(path);
    return rc;
}

/* ---- rerun ------------------------------------------------------------------------- */

enum { RERUN_ARGS, RERUN_JSON };

/* The body: {} or {"args": ARGS as written}; NULL after a usage error. The caller frees. */
static char *rerun_body(const command *cmd, const cli_args *args)
{
    const char *text = args->value[RERUN_ARGS];
    json_strict_error err;
    char why[600];

    if (!args->seen[RERUN_ARGS])
        return cli_xstrdup("{}");
    if (json_strict_check(text, strlen(text), &err) != 0) {
        json_strict_describe(&err, NULL, why, sizeof why);
        cli_value_error(cmd, "--args is not valid JSON: %s", why);
        return NULL;
    }
    /* Sent as written: the host keeps args byte for byte. */
    return cli_xasprintf("{\"args\":%s}", text);
}

int cli_cmd_rerun(client *c, const command *cmd, const cli_args *args)
{
    const char *id = args->pos[0];
    char *body = rerun_body(cmd, args), *path;
    answer ans = {0};
    int rc;

    if (!body)
        return CLI_EXIT_USAGE;
    path = cli_exec_path(c, id, "/rerun");
    if ((rc = cli_send(c, "POST", path, body, CLI_ANSWER_SLACK_MS, &ans)) != 0 ||
        (rc = cli_answer_expect(c, &ans, 202, 202)) != 0)
        goto done;
    if (args->seen[RERUN_JSON]) {
        cli_print_raw(&ans);
        goto done;
    }
    const char *new_id = cli_json_str(ans.json, "id");
    if (!new_id) {
        rc = cli_bad_answer(c, "\"id\"");
        goto done;
    }
    cli_say(stdout, "%s\n", new_id);
done:
    cli_answer_free(&ans);
    free(path);
    free(body);
    return rc;
}
