/*
 * api_upgrade.c - GET /v1/functions/{name}/upgrade-check: whether every
 * unfinished execution of a function fits its current version, grouped by
 * verdict (upgrade_check.h), for `tarry upgrade --function F --dry-run`.
 * Also the JSON of a check's report, which the refusal of a single upgrade
 * (api.c) shares.
 *
 * The check runs on a worker; the request is deferred until its report
 * comes back, and a client that goes away cancels its interest (the job
 * finishes and is dropped).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "status.h"
#include "upgrade_check.h"

static const char *verdict_name(upgrade_verdict v)
{
    return v == UPGRADE_BLOCKS ? "would_block" : v == UPGRADE_FAILS ? "would_fail" : "fits";
}

cJSON *api_upgrade_report_json(const upgrade_report *rep)
{
    cJSON *root = cJSON_CreateObject(), *groups = cJSON_CreateArray();

    if (!root || !groups) {
        cJSON_Delete(root);
        cJSON_Delete(groups);
        return NULL;
    }
    cJSON_AddStringToObject(root, "function", rep->function);
    cJSON_AddStringToObject(root, "hash", rep->hash);
    cJSON_AddNumberToObject(root, "checked", (double)rep->checked);
    cJSON_AddNumberToObject(root, "fit", (double)rep->fit);
    cJSON_AddNumberToObject(root, "would_block", 0);
    cJSON_AddNumberToObject(root, "would_fail", 0);
    cJSON_AddBoolToObject(root, "more", rep->more);
    size_t blocked = 0, failed = 0;
    for (size_t i = 0; i < rep->group_count; i++) {
        const upgrade_group *g = &rep->groups[i];
        cJSON *item = cJSON_CreateObject(), *ids = cJSON_CreateArray();
        if (!item || !ids) {
            cJSON_Delete(item);
            cJSON_Delete(ids);
            cJSON_Delete(root);
            cJSON_Delete(groups);
            return NULL;
        }
        cJSON_AddStringToObject(item, "verdict", verdict_name(g->verdict));
        cJSON_AddStringToObject(item, "reason", g->why);
        cJSON_AddNumberToObject(item, "count", (double)g->count);
        for (size_t k = 0; k < g->example_count; k++)
            cJSON_AddItemToArray(ids, cJSON_CreateString(g->examples[k]));
        cJSON_AddItemToObject(item, "examples", ids);
        cJSON_AddItemToArray(groups, item);
        if (g->verdict == UPGRADE_BLOCKS)
            blocked += g->count;
        else
            failed += g->count;
    }
    cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(root, "would_block"), (double)blocked);
    cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(root, "would_fail"), (double)failed);
    cJSON_AddItemToObject(root, "groups", groups);
    return root;
}

typedef struct fn_check {
    upgrade_check check; /* first: the engine hands it back */
    http_req *req;       /* deferred until the report (or the client goes) */
    char name[PLUGIN_NAME_MAX + 1];
} fn_check;

static void on_gone(void *user)
{
    fn_check *fc = user;
    engine_upgrade_check_cancel(&fc->check);
    free(fc);
}

static void on_checked(upgrade_check *c, int status, const upgrade_report *rep)
{
    fn_check *fc = (fn_check *)c;
    cJSON *root;

    if (status == TARRY_ENOTFOUND)
        http_reply_error(fc->req, 404, "not_found", "no loaded plugin exports a function named \"%s\"",
                         fc->name);
    else if (status < 0)
        http_reply_error(fc->req, 500, "internal", "the check failed: %s", status_str(status));
    else if (!(root = api_upgrade_report_json(rep)))
        http_reply_error(fc->req, 500, "internal", "out of memory");
    else
        api_reply_cjson(fc->req, 200, root);
    free(fc);
}

int api_upgrade_check_handle(api *a, http_req *req, const char *name_in_path, size_t name_len)
{
    char name[PLUGIN_NAME_MAX + 1];
    fn_check *fc;
    int rc;

    if (name_len > PLUGIN_NAME_MAX || name_len == 0) {
        http_reply_error(req, 404, "not_found", "no function has a name that long (%zu bytes)", name_len);
        return 0;
    }
    memcpy(name, name_in_path, name_len);
    name[name_len] = '\0';
    if (!plugins_find(engine_plugins(api_engine(a)), name)) {
        http_reply_error(req, 404, "not_found",
                         "no loaded plugin exports a function named \"%s\" (GET /v1/functions lists them)",
                         name);
        return 0;
    }
    if (!(fc = calloc(1, sizeof *fc))) {
        http_reply_error(req, 500, "internal", "out of memory");
        return 0;
    }
    fc->req = req;
    memcpy(fc->name, name, sizeof fc->name);
    fc->check.cb = on_checked;
    if ((rc = engine_upgrade_check_function(api_engine(a), name, &fc->check)) != 0) {
        free(fc);
        if (rc == TARRY_ERANGE)
            http_reply_error(req, 503, "busy",
                             "%d upgrade checks are running already; try again when they end",
                             UPGRADE_CHECKS_MAX);
        else
            http_reply_error(req, 500, "internal", "cannot start the check: %s", status_str(rc));
        return 0;
    }
    http_req_defer(req, on_gone, fc);
    return 0;
}
