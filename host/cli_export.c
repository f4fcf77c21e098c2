/*
 * cli_export.c - `tarry export ID`: one execution with its journal as one
 * JSON document (docs/API.md, "tarry export"), for the plugin test kit's
 * tarry_test_replay_file: a CI job replays real in-flight runs against a
 * new build before it is deployed.
 *
 * The document is the API's execution object (GET /v1/executions/{id},
 * which carries the journal and the pinned plugin's name, version and hash)
 * inside a small envelope that names the format, so a reader can refuse a
 * file it does not know. The host needs no route of its own for it.
 *
 * May not: include the store, engine, replay, plugins or http rooms.
 */
#include "cli_internal.h"

#include <stdlib.h>

#define CLI_EXPORT_FORMAT "tarry-export"
#define CLI_EXPORT_VERSION 1

int cli_cmd_export(client *c, const command *cmd, const cli_args *args)
{
    char *path = cli_exec_path(c, args->pos[0], ""), *text;
    answer ans = {0};
    cJSON *doc;
    int rc;

    (void)cmd;
    if ((rc = cli_get(c, path, &ans)) != 0)
        goto done;
    if (!cli_json_str(ans.json, "id") || !cJSON_IsArray(cli_json_get(ans.json, "journal"))) {
        rc = cli_bad_answer(c, "execution \"id\" and \"journal\"");
        goto done;
    }
    /* The envelope borrows nothing: the execution object moves into it. */
    if (!(doc = cJSON_CreateObject()) || !cJSON_AddStringToObject(doc, "format", CLI_EXPORT_FORMAT) ||
        !cJSON_AddNumberToObject(doc, "version", CLI_EXPORT_VERSION))
        cli_die_oom();
    cJSON_AddItemToObject(doc, "execution", ans.json);
    ans.json = NULL;
    if (!(text = cJSON_Print(doc)))
        cli_die_oom();
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
    cJSON_Delete(doc);
done:
    cli_answer_free(&ans);
    free(path);
    return rc;
}
