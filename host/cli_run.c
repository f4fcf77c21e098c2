/*
 * cli_run.c - the commands that change an execution or wait for one: run,
 * result, reschedule, upgrade.
 *
 * A wait longer than the host's 10-minute ?wait= maximum is a series of
 * long-polls; its deadline is on the monotonic clock.
 *
 * May not: include the store, engine, replay, plugins or http rooms.
 */
#include "cli_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "duration.h"
#include "json_strict.h"

/* A duration option's value in ms; a bare --wait (value NULL) is the default wait. */
static int parse_duration_opt(const command *cmd, int which, const cli_args *args, int64_t *out_ms)
{
    char err[256];
    if (!args->value[which]) {
        *out_ms = CLI_DEFAULT_WAIT_MS;
        return 0;
    }
    if (duration_parse(args->value[which], out_ms, err, sizeof err) != 0)
        return cli_value_error(cmd, "--%s: %s", cmd->options[which].name, err);
    return 0;
}

/*
 * Parse a JSON command-line argument, naming it and the spot in errors.
 * Returns the value (caller deletes) or NULL after printing a usage error.
 */
static cJSON *parse_json_arg(const command *cmd, const char *what, const char *text)
{
    const char *end = NULL;
    cJSON *value = cJSON_ParseWithOpts(text, &end, true);
    json_strict_error err;
    char why[600];
    if (value && json_strict_check(text, strlen(text), &err) == 0)
        return value;
    if (value) {
        /* What the host would refuse (docs/API.md, "JSON input is strict"), said before sending. */
        cJSON_Delete(value);
        json_strict_describe(&err, NULL, why, sizeof why);
        cli_value_error(cmd, "%s is not valid JSON: %s", what, why);
        return NULL;
    }
    size_t offset = end ? (size_t)(end - text) : 0;
    if (offset > strlen(text))
        offset = strlen(text);
    if (text[offset] == '\0')
        cli_value_error(cmd, "%s is not valid JSON: it ends too early: %s", what, text);
    else
        cli_value_error(cmd,
                        "%s is not valid JSON: unexpected text at offset %zu: %.20s%s\n"
                        "  (strings need double quotes inside JSON, and the whole argument needs shell "
                        "quotes: '{\"user\": \"ann\"}', '\"text\"')",
                        what, offset, text + offset, strlen(text + offset) > 20 ? "..." : "");
    return NULL;
}

/* ---- waiting for an outcome --------------------------------------------------- */

/*
 * Whether to ask again after a 202 to a long-poll for chunk_ms sent at
 * asked_at. A host that answers well before the wait it was given is
 * shutting down or capping waits: believe it rather than spin.
 */
static bool keep_waiting(int64_t asked_at, int64_t chunk_ms, int64_t deadline)
{
    int64_t now = clock_mono_ms();
    return now < deadline && now - asked_at >= chunk_ms - 1000;
}

/*
 * Long-poll GET /v1/executions/{id}/result until the execution is final or
 * deadline (clock_mono_ms) passes. Leaves the last answer, status 200 or 202,
 * in ans. Returns 0, or an exit status after saying why not.
 */
static int poll_result(client *c, const char *id, int64_t deadline, answer *ans)
{
    int rc;
    for (;;) {
        int64_t chunk = deadline - clock_mono_ms();
        if (chunk < 0)
            chunk = 0;
        if (chunk > CLI_WAIT_CHUNK_MS)
            chunk = CLI_WAIT_CHUNK_MS;
        char *query = cli_xasprintf("/result?wait=%lldms", (long long)chunk);
        char *path = cli_exec_path(c, id, query);
        int64_t asked_at = clock_mono_ms();
        rc = cli_send(c, NULL, path, NULL, chunk + CLI_ANSWER_SLACK_MS, ans);
        free(path);
        free(query);
        if (rc != 0 || (rc = cli_answer_expect(c, ans, 200, 202)) != 0)
            return rc;
        const char *state = cli_json_str(ans->json, "state");
        /* Blocked is not final, but waiting does not end it: only an upgrade does. */
        if (ans->status == 200 || (state && strcmp(state, "blocked") == 0) ||
            !keep_waiting(asked_at, chunk, deadline))
            return 0;
    }
}

/*
 * Report the outcome in ans (an execution object, or a /result answer: both
 * carry id, state, result, error) the way `run --wait` and `result` do, and
 * return the exit status. With --json, prints the answer as it came, unless
 * json_refetch asks for the full execution object instead. id_when_pending
 * puts the id on stdout when the execution is not final, for `id=$(...)`.
 */
static int report_outcome(client *c, const char *id, const answer *ans, int64_t waited_ms, bool json_mode,
                          bool json_refetch, bool id_when_pending)
{
    const char *state = cli_json_str(ans->json, "state");
    if (!state)
        return cli_bad_answer(c, "\"state\"");
    if (ans->status == 202 && strcmp(state, "blocked") == 0) {
        /* Waiting longer never helps: say why, and what does. */
        const char *error = cli_json_str(ans->json, "error");
        if (json_mode)
            cli_print_raw(ans);
        else if (id_when_pending)
            cli_say(stdout, "%s\n", id);
        cli_say(stderr,
                "tarry: execution %s is blocked: %s\n"
                "  waiting will not end it: deploy a fix (a version whose code replays its journal), then\n"
                "  run: tarry upgrade %s   (tarry upgrade --function F --dry-run checks them all first)\n",
                id, error ? error : "the host does not say why", id);
        return CLI_EXIT_FAILED;
    }
    if (ans->status == 202) {
        char waited[64];
        duration_format(waited_ms, waited, sizeof waited);
        if (json_mode)
            cli_print_raw(ans);
        else if (id_when_pending)
            cli_say(stdout, "%s\n", id);
        cli_say(stderr,
                "tarry: execution %s is still %s after %s; wait longer with: tarry result %s --wait 10m\n",
                id, state, waited, id);
        return CLI_EXIT_PENDING;
    }
    if (json_mode && json_refetch) {
        char *path = cli_exec_path(c, id, "");
        answer execution = {0};
        int rc = cli_get(c, path, &execution);
        if (rc == 0)
            cli_print_raw(&execution);
        cli_answer_free(&execution);
        free(path);
        if (rc)
            return rc;
    } else if (json_mode) {
        cli_print_raw(ans);
    }
    if (strcmp(state, "succeeded") == 0) {
        if (!json_mode) {
            char *result = cli_json_text(cli_json_get(ans->json, "result"));
            puts(result);
            free(result);
        }
        return CLI_EXIT_OK;
    }
    const char *error = cli_json_str(ans->json, "error");
    if (strcmp(state, "failed") == 0)
        cli_say(stderr, "tarry: execution %s failed: %s\n", id, error ? error : "(no error message)");
    else
        cli_say(stderr, "tarry: execution %s ended %s%s%s\n", id, state, error ? ": " : "",
                error ? error : "");
    return CLI_EXIT_FAILED;
}

/* ---- run ------------------------------------------------------------------------ */

enum { RUN_DELAY, RUN_AT, RUN_METADATA, RUN_WAIT, RUN_JSON, RUN_IDEMPOTENCY_KEY, RUN_DISCARD_AFTER };

/* The trigger's body from the command line; NULL after a usage error. The caller frees. */
static char *run_body(const command *cmd, const cli_args *args)
{
    cJSON *body = cJSON_CreateObject();
    char *text = NULL;
    if (!body)
        cli_die_oom();
    if (args->npos == 2) {
        cJSON *json_args = parse_json_arg(cmd, "ARGS_JSON", args->pos[1]);
        if (!json_args)
            goto done;
        /* Sent as written, as the host keeps args byte for byte (cJSON would re-print numbers). */
        cJSON_Delete(json_args);
        if (!(json_args = cJSON_CreateRaw(args->pos[1])))
            cli_die_oom();
        cJSON_AddItemToObject(body, "args", json_args);
    }
    if (args->seen[RUN_DELAY] && !cJSON_AddStringToObject(body, "delay", args->value[RUN_DELAY]))
        cli_die_oom();
    if (args->seen[RUN_AT] && !cJSON_AddStringToObject(body, "run_at", args->value[RUN_AT]))
        cli_die_oom();
    if (args->seen[RUN_METADATA]) {
        /* --metadata K=V, repeated; or one JSON object, as before. The host checks the limits. */
        cJSON *metadata = cJSON_AddObjectToObject(body, "metadata");
        if (!metadata)
            cli_die_oom();
        for (int n = 0; n < args->count[RUN_METADATA]; n++) {
            const char *pair = args->all[RUN_METADATA][n], *eq = strchr(pair, '=');
            if (pair[0] == '{') {
                cJSON *obj = parse_json_arg(cmd, "--metadata", pair), *entry;
                if (!obj)
                    goto done;
                cJSON_ArrayForEach(entry, obj)
                {
                    if (!cJSON_IsString(entry)) {
                        cli_value_error(
                            cmd, "--metadata: the value of \"%s\" is %s; metadata values must be strings",
                            entry->string, cli_json_type_name(entry));
                        cJSON_Delete(obj);
                        goto done;
                    }
                    cJSON_AddStringToObject(metadata, entry->string, entry->valuestring);
                }
                cJSON_Delete(obj);
                continue;
            }
            if (!eq || eq == pair) {
                cli_value_error(cmd, "--metadata: \"%s\" is not KEY=VALUE (e.g. --metadata team=growth)",
                                pair);
                goto done;
            }
            char *key = cli_xstrdup(pair);
            key[eq - pair] = '\0';
            cJSON_DeleteItemFromObjectCaseSensitive(metadata, key); /* the last one given wins */
            cJSON_AddStringToObject(metadata, key, eq + 1);
            free(key);
        }
    }
    if (args->seen[RUN_IDEMPOTENCY_KEY] &&
        !cJSON_AddStringToObject(body, "idempotency_key", args->value[RUN_IDEMPOTENCY_KEY]))
        cli_die_oom();
    if (args->seen[RUN_DISCARD_AFTER] &&
        !cJSON_AddStringToObject(body, "discard_after", args->value[RUN_DISCARD_AFTER]))
        cli_die_oom();
    if (!(text = cJSON_PrintUnformatted(body)))
        cli_die_oom();
done:
    cJSON_Delete(body);
    return text;
}

int cli_cmd_run(client *c, const command *cmd, const cli_args *args)
{
    const char *name = args->pos[0];
    char err[256];
    int64_t ms, wait_ms = -1;
    int rc;

    if (args->seen[RUN_DELAY] && args->seen[RUN_AT])
        return cli_usage_error(cmd, "give --delay or --at, not both");
    if (args->seen[RUN_DELAY] && duration_parse(args->value[RUN_DELAY], &ms, err, sizeof err) != 0)
        return cli_value_error(cmd, "--delay: %s", err);
    if (args->seen[RUN_AT] && clock_parse(args->value[RUN_AT], &ms, err, sizeof err) != 0)
        return cli_value_error(cmd, "--at: %s (give an RFC 3339 time, e.g. 2026-11-28T10:00:00Z)", err);
    if (args->seen[RUN_WAIT] && (rc = parse_duration_opt(cmd, RUN_WAIT, args, &wait_ms)) != 0)
        return rc;

    char *body = run_body(cmd, args);
    if (!body)
        return CLI_EXIT_USAGE;
    char *id = NULL;
    answer ans = {0};
    int64_t chunk = wait_ms < 0 ? 0 : wait_ms < CLI_WAIT_CHUNK_MS ? wait_ms : CLI_WAIT_CHUNK_MS;
    cli_text path;
    cli_text_open(&path);
    fputs("/v1/functions/", path.f);
    cli_put_escaped(c, path.f, name);
    fputs("/executions", path.f);
    if (wait_ms >= 0)
        fprintf(path.f, "?wait=%lldms", (long long)chunk);
    char *path_text = cli_text_take(&path);
    int64_t asked_at = clock_mono_ms();
    if ((rc = cli_send(c, NULL, path_text, body, chunk + CLI_ANSWER_SLACK_MS, &ans)) != 0 ||
        (rc = cli_answer_expect(c, &ans, 202,
                                (wait_ms >= 0 || args->seen[RUN_IDEMPOTENCY_KEY]) ? 200 : 202)) != 0)
        goto done;
    const char *answered_id = cli_json_str(ans.json, "id");
    if (!answered_id || !*answered_id) {
        rc = cli_bad_answer(c, "execution \"id\"");
        goto done;
    }
    id = cli_xstrdup(answered_id);

    if (wait_ms < 0) {
        if (args->seen[RUN_JSON]) {
            cli_print_raw(&ans);
        } else {
            cli_say(stdout, "%s\n", id);
            const char *state = cli_json_str(ans.json, "state");
            if (ans.status == 200) /* the idempotency key named an execution: nothing new started */
                cli_say(stderr, "tarry: idempotency key \"%s\" already names %s (%s)\n",
                        args->value[RUN_IDEMPOTENCY_KEY], id, state ? state : "?");
            else if (state && isatty(STDERR_FILENO))
                cli_say(stderr, "tarry: %s is %s\n", name, state);
        }
        rc = CLI_EXIT_OK;
        goto done;
    }
    bool polled = false;
    const char *got_state = cli_json_str(ans.json, "state");
    /* A duplicate (idempotency key) answers 200 with the execution as it is, maybe not final. */
    if ((ans.status == 202 || (got_state && !cli_state_final(got_state))) &&
        keep_waiting(asked_at, chunk, asked_at + wait_ms)) {
        if ((rc = poll_result(c, id, asked_at + wait_ms, &ans)) != 0)
            goto done;
        polled = true;
    }
    rc = report_outcome(c, id, &ans, wait_ms, args->seen[RUN_JSON], polled, true);
done:
    cli_answer_free(&ans);
    free(path_text);
    free(id);
    free(body);
    return rc;
}

/* ---- result -------------------------------------------------------------------- */

enum { RESULT_WAIT, RESULT_JSON };

int cli_cmd_result(client *c, const command *cmd, const cli_args *args)
{
    answer ans = {0};
    int64_t wait_ms;
    int rc;

    if ((rc = parse_duration_opt(cmd, RESULT_WAIT, args, &wait_ms)) != 0)
        return rc;
    if ((rc = poll_result(c, args->pos[0], clock_mono_ms() + wait_ms, &ans)) == 0)
        rc = report_outcome(c, args->pos[0], &ans, wait_ms, args->seen[RESULT_JSON], false, false);
    cli_answer_free(&ans);
    return rc;
}

/* ---- reschedule ----------------------------------------------------------------- */

enum { RESCHEDULE_IN, RESCHEDULE_AT, RESCHEDULE_JSON };

int cli_cmd_reschedule(client *c, const command *cmd, const cli_args *args)
{
    const char *id = args->pos[0];
    char err[256];
    int64_t ms;
    int rc;

    if (args->seen[RESCHEDULE_IN] && args->seen[RESCHEDULE_AT])
        return cli_usage_error(cmd, "give --in or --at, not both");
    if (args->seen[RESCHEDULE_IN] && duration_parse(args->value[RESCHEDULE_IN], &ms, err, sizeof err) != 0)
        return cli_value_error(cmd, "--in: %s", err);
    if (args->seen[RESCHEDULE_AT] && clock_parse(args->value[RESCHEDULE_AT], &ms, err, sizeof err) != 0)
        return cli_value_error(cmd, "--at: %s (give an RFC 3339 time, e.g. 2026-11-28T10:00:00Z)", err);

    cJSON *body = cJSON_CreateObject();
    if (!body)
        cli_die_oom();
    if (args->seen[RESCHEDULE_IN] && !cJSON_AddStringToObject(body, "in", args->value[RESCHEDULE_IN]))
        cli_die_oom();
    if (args->seen[RESCHEDULE_AT] && !cJSON_AddStringToObject(body, "at", args->value[RESCHEDULE_AT]))
        cli_die_oom();
    char *body_text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!body_text)
        cli_die_oom();
    char *path = cli_exec_path(c, id, "/schedule");
    char *when = NULL;
    answer ans = {0};
    if ((rc = cli_send(c, "PATCH", path, body_text, CLI_ANSWER_SLACK_MS, &ans)) != 0 ||
        (rc = cli_answer_expect(c, &ans, 200, 200)) != 0)
        goto done;
    if (args->seen[RESCHEDULE_JSON]) {
        cli_print_raw(&ans);
        goto done;
    }
    const char *state = cli_json_str(ans.json, "state");
    const char *function = cli_json_str(ans.json, "function");
    if (!state) {
        rc = cli_bad_answer(c, "execution \"state\"");
        goto done;
    }
    int64_t now_ms = clock_now_ms();
    /* A sleep's end, a delayed start, or a timer that already fired. */
    if (!(when = cli_when_text("wakes", ans.json, "wake_at", now_ms)) && strcmp(state, "scheduled") == 0)
        when = cli_when_text("starts", ans.json, "scheduled_at", now_ms);
    if (!when)
        when = cli_xasprintf("is %s: its timer fired", state);
    cli_say(stdout, "%s %s %s\n", id, function ? function : "?", when);
done:
    cli_answer_free(&ans);
    free(when);
    free(path);
    free(body_text);
    return rc;
}

/* ---- upgrade ---------------------------------------------------------------------- */

enum { UPGRADE_FUNCTION, UPGRADE_TO, UPGRADE_JSON, UPGRADE_DRY_RUN, UPGRADE_FORCE };

/* POST /v1/executions/ID/upgrade; prints "ID FUNCTION -> plugin VERSION (HASH), STATE". */
static int upgrade_one(client *c, const char *id, const char *to, bool force, bool json)
{
    cJSON *request = cJSON_CreateObject();
    char *body, *path = cli_exec_path(c, id, "/upgrade");
    answer ans = {0};
    int rc;

    if (!request || (to && !cJSON_AddStringToObject(request, "to", to)) ||
        (force && !cJSON_AddTrueToObject(request, "force")) || !(body = cJSON_PrintUnformatted(request)))
        cli_die_oom();
    cJSON_Delete(request);
    if ((rc = cli_send(c, "POST", path, body, CLI_ANSWER_SLACK_MS, &ans)) == 0 &&
        (rc = cli_answer_expect(c, &ans, 200, 200)) == 0) {
        const cJSON *plugin = cli_json_get(ans.json, "plugin");
        if (json)
            cli_print_raw(&ans);
        else
            cli_say(stdout, "%s %s -> plugin %s %s (%s), %s\n", id, cli_json_str(ans.json, "function"),
                    cli_json_str(plugin, "name"), cli_json_str(plugin, "version"),
                    cli_json_str(plugin, "hash"), cli_json_str(ans.json, "state"));
    }
    cli_answer_free(&ans);
    free(path);
    free(body);
    return rc;
}

static double json_num(const cJSON *obj, const char *key)
{
    const cJSON *item = cli_json_get(obj, key);
    return cJSON_IsNumber(item) ? item->valuedouble : 0;
}

static const char *json_str_or(const cJSON *obj, const char *key, const char *fallback)
{
    const char *s = cli_json_str(obj, key);
    return s ? s : fallback;
}

/*
 * GET /v1/functions/F/upgrade-check; prints "F (version HASH): N checked: A fit, B would block",
 * then one line per group with a few example ids. CLI_EXIT_FAILED when any would block or fail.
 */
static int upgrade_dry_run(client *c, const char *function, bool json)
{
    answer ans = {0};
    cli_text path;
    const cJSON *group;
    int rc;

    cli_text_open(&path);
    fputs("/v1/functions/", path.f);
    cli_put_escaped(c, path.f, function);
    fputs("/upgrade-check", path.f);
    char *path_text = cli_text_take(&path);
    if ((rc = cli_get(c, path_text, &ans)) == 0) {
        double fit = json_num(ans.json, "fit"), checked = json_num(ans.json, "checked");
        double blocks = json_num(ans.json, "would_block"), fails = json_num(ans.json, "would_fail");
        if (json) {
            cli_print_raw(&ans);
        } else {
            cli_say(stdout, "%s (version %s): %.0f checked%s: %.0f fit, %.0f would block", function,
                    json_str_or(ans.json, "hash", "?"), checked,
                    cJSON_IsTrue(cli_json_get(ans.json, "more")) ? " (the first; more wait)" : "", fit,
                    blocks);
            if (fails > 0)
                cli_say(stdout, ", %.0f would fail", fails);
            cli_say(stdout, "\n");
            cJSON_ArrayForEach(group, cli_json_get(ans.json, "groups"))
            {
                const cJSON *ex;
                bool blocks_here = strcmp(json_str_or(group, "verdict", ""), "would_block") == 0;
                cli_say(stdout, "  %.0f would %s: %s\n", json_num(group, "count"),
                        blocks_here ? "block" : "fail", json_str_or(group, "reason", "?"));
                cli_say(stdout, "    e.g.");
                cJSON_ArrayForEach(ex, cli_json_get(group, "examples"))
                {
                    if (cJSON_IsString(ex))
                        cli_say(stdout, " %s", ex->valuestring);
                }
                cli_say(stdout, "\n");
            }
        }
        if (blocks > 0 || fails > 0)
            rc = CLI_EXIT_FAILED;
    }
    cli_answer_free(&ans);
    free(path_text);
    return rc;
}

int cli_cmd_upgrade(client *c, const command *cmd, const cli_args *args)
{
    static const char *const states[] = {"waiting", "blocked", "queued", "scheduled"};
    const char *to = args->value[UPGRADE_TO];
    bool json = args->seen[UPGRADE_JSON];
    int rc, failures = 0;

    bool force = args->seen[UPGRADE_FORCE];

    if ((args->npos == 1) == args->seen[UPGRADE_FUNCTION])
        return cli_usage_error(cmd, "give an execution ID or --function F (one of them)");
    if (args->seen[UPGRADE_DRY_RUN]) {
        if (!args->seen[UPGRADE_FUNCTION] || to || force)
            return cli_usage_error(
                cmd, "--dry-run checks --function F against its current version (no --to, --force)");
        return upgrade_dry_run(c, args->value[UPGRADE_FUNCTION], json);
    }
    if (args->npos == 1)
        return upgrade_one(c, args->pos[0], to, force, json);
    /* Every unfinished, not running execution of the function, page by page. */
    for (size_t s = 0; s < sizeof states / sizeof states[0]; s++) {
        answer ans = {0};
        cli_text path;
        cli_text_open(&path);
        fputs("/v1/executions?limit=1000&function=", path.f);
        cli_put_escaped(c, path.f, args->value[UPGRADE_FUNCTION]);
        fprintf(path.f, "&state=%s", states[s]);
        char *path_text = cli_text_take(&path);
        if ((rc = cli_get(c, path_text, &ans)) == 0) {
            const cJSON *item;
            cJSON_ArrayForEach(item, cli_json_get(ans.json, "data"))
            {
                const char *id = cli_json_str(item, "id");
                if (id && upgrade_one(c, id, to, force, json) != 0)
                    failures++;
            }
        }
        cli_answer_free(&ans);
        free(path_text);
        if (rc)
            return rc;
    }
    return failures ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}
