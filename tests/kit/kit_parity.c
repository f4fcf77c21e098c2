/*
 * kit_parity.c - the test kit's side of the kit/host differential test
 * (tests/integration/test_kit_parity.py): runs one workflow of the jd
 * corpus (tests/plugins/jd_common.h) through the kit and prints, as one JSON
 * object, what the host's API would show of it: state, result, error, the
 * root's journal and log lines.
 *
 *   kit_parity ON.so FUNCTION ARGS_JSON [UPGRADE.so]
 *
 * Without UPGRADE.so: load ON.so and tarry_test_run. With it: load ON.so,
 * tarry_test_start (the workflow waits in its sleep), then move the root to
 * UPGRADE.so's code for FUNCTION with tarry_test_upgrade_fn, as the host
 * test upgrades the waiting execution and ends its sleep.
 */
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tarry_test.h"

static const char *kind_name(tarry_test_kind kind)
{
    switch (kind) {
    case TARRY_TEST_CALL:
        return "call";
    case TARRY_TEST_STEP:
        return "step";
    case TARRY_TEST_SLEEP:
        return "sleep";
    case TARRY_TEST_NOW:
        return "now";
    case TARRY_TEST_PATCH:
        return "patch";
    }
    return "unknown";
}

/* The journal status words of the host's API. */
static const char *status_name(tarry_status status)
{
    switch (status) {
    case TARRY_OK:
        return "succeeded";
    case TARRY_FAILED:
        return "failed";
    case TARRY_CANCELLED:
        return "cancelled";
    case TARRY_SUSPEND:
        return "pending";
    default:
        return "unknown";
    }
}

static const char *level_name(tarry_log_level level)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    return names[level & 3];
}

static void add_string_or_null(cJSON *o, const char *key, const char *value)
{
    if (value)
        cJSON_AddStringToObject(o, key, value);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_raw_or_null(cJSON *o, const char *key, const char *json)
{
    if (json)
        cJSON_AddRawToObject(o, key, json);
    else
        cJSON_AddNullToObject(o, key);
}

/* FUNCTION's code in the plugin at `path` (opened for good: the kit runs it). */
static tarry_fn function_in(const char *path, const char *function)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    const tarry_plugin_def *def = lib ? dlsym(lib, "tarry_plugin") : NULL;

    for (size_t i = 0; def && i < def->function_count; i++) {
        const tarry_function_def *f =
            (const tarry_function_def *)(const void *)((const char *)def->functions + i * def->function_size);
        if (strcmp(f->name, function) == 0)
            return f->fn;
    }
    fprintf(stderr, "kit_parity: no function %s in %s (%s)\n", function, path, lib ? "" : dlerror());
    return NULL;
}

int main(int argc, char **argv)
{
    tarry_test *t;
    tarry_test_state state;
    cJSON *out, *journal, *logs;
    char *text;

    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: kit_parity ON.so FUNCTION ARGS_JSON [UPGRADE.so]\n");
        return 2;
    }
    if (!(t = tarry_test_new()) || tarry_test_load(t, argv[1]) != TARRY_OK)
        return 1;
    if (argc == 4) {
        state = tarry_test_run(t, argv[2], argv[3]);
    } else {
        tarry_fn upgraded = function_in(argv[4], argv[2]);
        if (!upgraded)
            return 1;
        state = tarry_test_start(t, argv[2], argv[3]);
        if (state != TARRY_TEST_WAITING) {
            fprintf(stderr, "kit_parity: %s did not wait before the upgrade (%s)\n", argv[2],
                    tarry_test_state_name(state));
            return 1;
        }
        state = tarry_test_upgrade_fn(t, upgraded);
    }

    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "state", tarry_test_state_name(state));
    add_raw_or_null(out, "result", tarry_test_result(t));
    add_string_or_null(out, "error", state == TARRY_TEST_SUCCEEDED ? NULL : tarry_test_error(t));
    journal = cJSON_AddArrayToObject(out, "journal");
    for (size_t i = 0; i < tarry_test_journal_count(t); i++) {
        const tarry_test_entry *e = tarry_test_journal_at(t, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "seq", e->seq);
        cJSON_AddStringToObject(o, "kind", kind_name(e->kind));
        add_string_or_null(o, "name", e->name);
        cJSON_AddStringToObject(o, "status", status_name(e->status));
        add_string_or_null(o, "child_id", e->child_id);
        add_raw_or_null(o, "result", e->value_json);
        add_string_or_null(o, "error", e->error);
        cJSON_AddItemToArray(journal, o);
    }
    /* The root's lines (the corpus calls no function of the root's name as a child). */
    logs = cJSON_AddArrayToObject(out, "logs");
    for (size_t i = 0; i < tarry_test_log_count(t); i++) {
        const tarry_test_log *l = tarry_test_log_at(t, i);
        cJSON *o;
        if (strcmp(l->function, argv[2]) != 0)
            continue; /* a child's line: the host keeps it with the child */
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "level", level_name(l->level));
        cJSON_AddStringToObject(o, "message", l->text);
        cJSON_AddItemToArray(logs, o);
    }
    text = cJSON_PrintUnformatted(out);
    printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(out);
    tarry_test_free(t);
    return 0;
}
