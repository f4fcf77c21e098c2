/*
 * api_catalog.c - what the host serves besides executions: its functions
 * (with their options and next cron fire), its plugin files and versions,
 * and what a reload did (the metrics are in api_metrics.c). Read-only:
 * everything comes from the plugin registry, nothing from the store.
 *
 * May not: write anything, see an HTTP library type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "duration.h"
#include "engine.h"
#include "plugins.h"

/* A version's count of pinned executions stops here ("at least"), as the state counts do. */
#define PINNED_MAX 100000

static void add_plugin_ref(cJSON *o, const plugin *p)
{
    cJSON *po = cJSON_AddObjectToObject(o, "plugin");
    cJSON_AddStringToObject(po, "name", p->name);
    cJSON_AddStringToObject(po, "version", p->version);
    cJSON_AddStringToObject(po, "hash", p->hash);
    cJSON_AddStringToObject(po, "file", p->file);
}

static void add_duration(cJSON *o, const char *key, int64_t ms)
{
    char text[64];
    duration_format(ms, text, sizeof text);
    cJSON_AddStringToObject(o, key, text);
}

/* A function's options as tarry.h names them, defaults filled in; null for what is off. */
static void add_options(cJSON *o, const fn_options *opt)
{
    cJSON *oo = cJSON_AddObjectToObject(o, "options");
    if (opt->retry) {
        cJSON *r = cJSON_AddObjectToObject(oo, "retry");
        cJSON_AddNumberToObject(r, "max_attempts", opt->max_attempts);
        add_duration(r, "initial_interval", opt->initial_interval_ms);
        cJSON_AddNumberToObject(r, "multiplier", opt->multiplier);
        cJSON_AddNumberToObject(r, "randomization_factor", opt->jitter);
        add_duration(r, "max_interval", opt->max_interval_ms);
    } else {
        cJSON_AddNullToObject(oo, "retry");
    }
    if (opt->max_duration_ms)
        add_duration(oo, "max_duration", opt->max_duration_ms);
    else
        cJSON_AddNullToObject(oo, "max_duration");
    if (opt->concurrency)
        cJSON_AddNumberToObject(oo, "concurrency", opt->concurrency);
    else
        cJSON_AddNullToObject(oo, "concurrency");
    cJSON_AddStringToObject(oo, "max_concurrency_action", opt->cancel_over_limit ? "cancel" : "queue");
    api_add_string_or_null(oo, "cron", opt->cron);
}

void api_retention_text(int64_t ms, char *out, size_t len)
{
    if (ms <= 0)
        snprintf(out, len, "0");
    else
        duration_format(ms, out, len);
}

int api_add_retention(api *a, store_txn *txn, cJSON *root)
{
    cJSON *r = cJSON_AddObjectToObject(root, "retention");
    store_retention_info info;
    char text[64];
    int rc = store_retention_info_get(txn, &info);

    if (rc != 0)
        return rc;
    api_retention_text(engine_retention_default(api_engine(a)), text, sizeof text);
    cJSON_AddStringToObject(r, "default", text);
    api_add_time(r, "purged_before", info.purged_before);
    return 0;
}

static void add_current_functions(void *user, const plugin *p)
{
    for (size_t j = 0; p->current && j < p->fn_count; j++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", p->fns[j].name);
        add_plugin_ref(o, p);
        add_options(o, &p->fns[j].opts);
        cJSON_AddItemToArray(user, o);
    }
}

int api_functions_handle(api *a, http_req *req)
{
    cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data");
    plugins_each(engine_plugins(api_engine(a)), add_current_functions, data);
    /* When each function's cron schedule fires next (engine_cron.c); null without one. */
    for (cJSON *fn = data->child; fn; fn = fn->next) {
        int64_t next;
        if (engine_cron_next_fire(api_engine(a), cJSON_GetStringValue(cJSON_GetObjectItem(fn, "name")),
                                  &next) == 0)
            api_add_time(fn, "next_fire_at", next);
        else
            cJSON_AddNullToObject(fn, "next_fire_at");
        /* options.retention: what an execution of it ending now gets, its own or the host's. */
        const plugin_fn *f = plugins_find(engine_plugins(api_engine(a)),
                                          cJSON_GetStringValue(cJSON_GetObjectItem(fn, "name")));
        char text[64];
        api_retention_text(!f || f->opts.retention_ms == FN_RETENTION_HOST
                               ? engine_retention_default(api_engine(a))
                               : f->opts.retention_ms,
                           text, sizeof text);
        cJSON_AddStringToObject(cJSON_GetObjectItem(fn, "options"), "retention", text);
    }
    api_reply_cjson(req, 200, root);
    return 0;
}

static cJSON *plugin_json(const char *file, const plugin *p, const char *state)
{
    cJSON *o = cJSON_CreateObject(), *fns;
    cJSON_AddStringToObject(o, "file", file);
    api_add_string_or_null(o, "name", p ? p->name : NULL);
    api_add_string_or_null(o, "version", p ? p->version : NULL);
    api_add_string_or_null(o, "hash", p && p->hash[0] ? p->hash : NULL);
    cJSON_AddStringToObject(o, "state", state);
    api_add_string_or_null(o, "error", p ? p->error : NULL);
    fns = cJSON_AddArrayToObject(o, "functions");
    for (size_t j = 0; p && j < p->fn_count; j++)
        cJSON_AddItemToArray(fns, cJSON_CreateString(p->fns[j].name));
    return o;
}

/* The last scan's files: loaded (current), unchanged (current), error, removed. */
static void add_reported(void *user, const char *file, const plugin *p, plugin_outcome outcome)
{
    static const char *const states[] = {"loaded", "unchanged", "error", "removed"};
    if (outcome == PLUGIN_REMOVED) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", file);
        cJSON_AddStringToObject(o, "state", "removed");
        cJSON_AddItemToArray(user, o);
        return;
    }
    cJSON_AddItemToArray(user, plugin_json(file, p, states[outcome]));
}

/* For GET /v1/plugins: the failures and removals of the last load or reload. */
static void add_listed_problem(void *user, const char *file, const plugin *p, plugin_outcome outcome)
{
    if (outcome == PLUGIN_REFUSED || outcome == PLUGIN_REMOVED)
        add_reported(user, file, p, outcome);
}

/* The versions serving new triggers (also one kept after its new file failed). */
static void add_current_version(void *user, const plugin *p)
{
    if (p->current)
        cJSON_AddItemToArray(user, plugin_json(p->file, p, "loaded"));
}

/* Older versions still loaded for executions pinned to them. */
static void add_old_version(void *user, const plugin *p)
{
    if (!p->current)
        cJSON_AddItemToArray(user, plugin_json(p->stored ? p->stored : p->file, p, "pinned"));
}

/* Each version's count of unfinished executions pinned to it (the pins index), up to PINNED_MAX. */
static int add_pinned_counts(store_txn *txn, cJSON *data)
{
    cJSON *item;
    cJSON_ArrayForEach(item, data)
    {
        cJSON *hash = cJSON_GetObjectItemCaseSensitive(item, "hash");
        uint64_t n = 0;
        int rc;
        if (!cJSON_IsString(hash))
            continue;
        if ((rc = store_pins_count(txn, hash->valuestring, PINNED_MAX, &n)) != 0)
            return rc;
        cJSON_AddNumberToObject(item, "pinned", (double)n);
        cJSON_AddBoolToObject(item, "pinned_exact", n < PINNED_MAX);
    }
    return 0;
}

int api_plugins_handle(api *a, http_req *req)
{
    cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data");
    store_txn *txn;
    int rc;

    plugins_each(engine_plugins(api_engine(a)), add_current_version, data);
    plugins_report(engine_plugins(api_engine(a)), add_listed_problem, data);
    plugins_each(engine_plugins(api_engine(a)), add_old_version, data);
    if (api_read_begin(a, req, &txn) != 0) {
        cJSON_Delete(root);
        return 0;
    }
    rc = add_pinned_counts(txn, data);
    store_txn_abort(txn);
    if (rc != 0) {
        cJSON_Delete(root);
        api_reply_store_error(a, req, rc);
        return 0;
    }
    api_reply_cjson(req, 200, root);
    return 0;
}

/* What the reload just did: each file (loaded, unchanged, error) and each removed plugin. */
void api_reply_reload(api *a, http_req *req)
{
    cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data"), *item;
    int errors = 0;

    plugins_report(engine_plugins(api_engine(a)), add_reported, data);
    cJSON_ArrayForEach(item, data)
    {
        cJSON *state = cJSON_GetObjectItemCaseSensitive(item, "state");
        errors += cJSON_IsString(state) && strcmp(state->valuestring, "error") == 0;
    }
    cJSON_AddNumberToObject(root, "errors", errors);
    api_reply_cjson(req, 200, root);
}
