/*
 * tarry_test_replay_file.c - the test kit's side of `tarry export`: load an
 * exported execution as the kit's last run, replay it against a build
 * loaded in the kit, and the verdict of a replay (tarry_test.h, "replaying
 * real runs").
 *
 * The export is the host's execution object (docs/API.md, GET
 * /v1/executions/{id} and "tarry export"); this file turns its journal back
 * into the journal core's entries, so the replay is the kit's own
 * tarry_test_replay, the same pass the host runs on an upgrade.
 */
#define _GNU_SOURCE /* timegm */
#include "tarry_test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jcore.h"
#include "tarry_test_private.h"

#define EXPORT_FORMAT "tarry-export"
#define EXPORT_VERSION 1
#define EXPORT_MAX_BYTES (256u << 20) /* far above what a host's journal holds */

/* The whole file as text (the caller frees), or NULL with errno's reason in `why`. */
static char *read_all(const char *path, const char **why)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0, got;

    *why = NULL;
    if (!f) {
        *why = "cannot open it";
        return NULL;
    }
    do {
        if (len + 4096 + 1 > cap) {
            char *grown;
            cap = cap ? cap * 2 : 65536;
            if (cap > EXPORT_MAX_BYTES || !(grown = realloc(text, cap))) {
                *why = cap > EXPORT_MAX_BYTES ? "it is larger than 256 MiB" : "out of memory";
                free(text);
                fclose(f);
                return NULL;
            }
            text = grown;
        }
        got = fread(text + len, 1, 4096, f);
        len += got;
    } while (got > 0);
    if (ferror(f)) {
        *why = "cannot read it";
        free(text);
        text = NULL;
    } else {
        text[len] = '\0';
    }
    fclose(f);
    return text;
}

/* An RFC 3339 time as the host writes it ("2026-01-01T00:00:00.123Z") in Unix ms; 0 when absent or odd. */
static int64_t time_ms(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    struct tm tm;
    int ms = 0, n = 0;

    if (!cJSON_IsString(item))
        return 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(item->valuestring, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return 0;
    if (item->valuestring[n] == '.')
        sscanf(item->valuestring + n + 1, "%3d", &ms);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static char *str_or_null(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? tarry_test__dup(item->valuestring) : NULL;
}

static int kind_of(const char *name)
{
    static const char *const kinds[] = {"call", "step", "sleep", "now", "patch"};
    for (int i = 0; name && i < 5; i++)
        if (strcmp(name, kinds[i]) == 0)
            return i + 1; /* jcore_kind: call = 1 ... patch = 5 */
    return 0;
}

static int status_of(const char *name)
{
    static const char *const statuses[] = {"pending", "succeeded", "failed", "cancelled"};
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, statuses[i]) == 0)
            return i; /* jcore_status: pending = 0 ... cancelled = 3 */
    return -1;
}

/* The kit's state for the host's: unfinished ones wait, as the kit holds an execution it cannot run on. */
static kit_state state_of(const char *state)
{
    if (!state)
        return KIT_WAITING;
    if (strcmp(state, "succeeded") == 0)
        return KIT_SUCCEEDED;
    if (strcmp(state, "failed") == 0 || strcmp(state, "discarded") == 0)
        return KIT_FAILED;
    if (strcmp(state, "cancelled") == 0)
        return KIT_CANCELLED;
    if (strcmp(state, "blocked") == 0)
        return KIT_BLOCKED;
    return KIT_WAITING;
}

/* Entry i of the exported journal into x->journal[i]; 0, or -1 with the reason in `why`. */
static int entry_load(kit_exec *x, const cJSON *item, size_t i, char *why, size_t whylen)
{
    jcore_entry *e = &x->journal[i];
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(item, "seq");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(item, "kind");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(item, "status");
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(item, "result");
    const char *child;
    int k, st;

    memset(e, 0, sizeof *e);
    k = cJSON_IsString(kind) ? kind_of(kind->valuestring) : 0;
    st = cJSON_IsString(status) ? status_of(status->valuestring) : -1;
    if (!cJSON_IsNumber(seq) || seq->valuedouble != (double)i || !k || st < 0) {
        snprintf(why, whylen, "journal entry %zu: needs \"seq\": %zu, a known \"kind\" and \"status\"", i, i);
        return -1;
    }
    e->seq = (uint32_t)i;
    e->kind = (jcore_kind)k;
    e->status = (jcore_status)st;
    e->detached = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "detached"));
    e->started_at = time_ms(item, "started_at");
    e->finished_at = time_ms(item, "finished_at");
    e->wake_at = time_ms(item, "wake_at");
    child = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "child_id"));
    if (child)
        snprintf(e->child, sizeof e->child, "%s", child);
    e->name = str_or_null(item, "name");
    e->error = str_or_null(item, "error");
    /* A settled call or step, and a clock read, replay their result as JSON text ("null" for null). */
    if (st == JCORE_SUCCEEDED && k != JCORE_SLEEP && k != JCORE_PATCH)
        e->value = result ? cJSON_PrintUnformatted(result) : tarry_test__dup("null");
    x->count = i + 1;
    if ((cJSON_IsString(cJSON_GetObjectItemCaseSensitive(item, "name")) && !e->name) ||
        (st == JCORE_SUCCEEDED && k != JCORE_SLEEP && k != JCORE_PATCH && !e->value)) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    return 0;
}

int tarry_test_load_export(tarry_test *t, const char *path)
{
    const char *why = NULL;
    char *text, *args = NULL, reason[160];
    cJSON *doc = NULL;
    const cJSON *exec, *journal, *format, *version, *item, *attempts;
    const char *id, *function;
    kit_exec *x;
    size_t i = 0;
    int rc = TARRY_EINVAL;

    tarry_test__reset(t);
    if (!path)
        return tarry_test__refuse(t, "tarry_test_load_export: path is NULL");
    if (!(text = read_all(path, &why)))
        return tarry_test__refuse(t, "tarry_test_load_export: %s: %s", path, why);
    doc = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(doc)) {
        tarry_test__refuse(t, "tarry_test_load_export: %s: not a JSON object (write it with tarry export ID)",
                           path);
        goto done;
    }
    format = cJSON_GetObjectItemCaseSensitive(doc, "format");
    version = cJSON_GetObjectItemCaseSensitive(doc, "version");
    exec = doc; /* a bare execution object (tarry show ID --json) is taken too */
    if (format) {
        if (!cJSON_IsString(format) || strcmp(format->valuestring, EXPORT_FORMAT) != 0 ||
            !cJSON_IsNumber(version) || version->valuedouble < 1 || version->valuedouble > EXPORT_VERSION) {
            tarry_test__refuse(t, "tarry_test_load_export: %s: not a \"%s\" document of version 1..%d", path,
                               EXPORT_FORMAT, EXPORT_VERSION);
            goto done;
        }
        exec = cJSON_GetObjectItemCaseSensitive(doc, "execution");
    }
    id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(exec, "id"));
    function = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(exec, "function"));
    journal = cJSON_GetObjectItemCaseSensitive(exec, "journal");
    if (!id || !function || !cJSON_IsArray(journal)) {
        tarry_test__refuse(
            t, "tarry_test_load_export: %s: the execution needs \"id\", \"function\" and \"journal\"", path);
        goto done;
    }
    item = cJSON_GetObjectItemCaseSensitive(exec, "args");
    if (!(args = item ? cJSON_PrintUnformatted(item) : tarry_test__dup("null")) ||
        !(x = tarry_test__exec_new(t, id, function, tarry_test__function_find(t, function), NULL, args))) {
        tarry_test__set_error(t, tarry_test__dup("out of memory"));
        goto done;
    }
    attempts = cJSON_GetObjectItemCaseSensitive(exec, "attempts");
    x->attempt = cJSON_IsNumber(attempts) && attempts->valueint > 1 ? attempts->valueint : 1;
    x->state = state_of(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(exec, "state")));
    x->error = str_or_null(exec, "error");
    item = cJSON_GetObjectItemCaseSensitive(exec, "result");
    if (x->state == KIT_SUCCEEDED)
        x->result = item ? cJSON_PrintUnformatted(item) : tarry_test__dup("null");
    if (cJSON_GetArraySize(journal) > 0 &&
        !(x->journal = calloc((size_t)cJSON_GetArraySize(journal), sizeof *x->journal))) {
        tarry_test__set_error(t, tarry_test__dup("out of memory"));
        goto done;
    }
    x->cap = (size_t)cJSON_GetArraySize(journal);
    cJSON_ArrayForEach(item, journal)
    {
        if (entry_load(x, item, i++, reason, sizeof reason) != 0) {
            tarry_test__reset(t);
            tarry_test__refuse(t, "tarry_test_load_export: %s: %s", path, reason);
            goto done;
        }
    }
    /* The log mark past everything: the host kept the run's lines, a replay adds only new ones. */
    x->log_mark_pos = (uint32_t)x->count;
    rc = TARRY_OK;
done:
    free(args);
    cJSON_Delete(doc);
    return rc;
}

tarry_test_state tarry_test_replay_file(tarry_test *t, const char *path, const char *function)
{
    char *name;
    tarry_test_state state;

    if (tarry_test_load_export(t, path) != TARRY_OK)
        return t->state = TARRY_TEST_ERROR;
    /* tarry_test_replay resets nothing; the root's function name lives as long as the run. */
    name = tarry_test__dup(function ? function : t->execs[0]->function);
    if (!name) {
        tarry_test__set_error(t, tarry_test__dup("out of memory"));
        return t->state = TARRY_TEST_ERROR;
    }
    state = tarry_test_replay(t, name);
    free(name);
    return state;
}

/* ---- the verdict ---------------------------------------------------------------------------- */

void tarry_test__verdict_clear(tarry_test *t)
{
    free(t->verdict_has);
    free(t->verdict_issued);
    free(t->verdict_next);
    t->verdict_has = t->verdict_issued = t->verdict_next = NULL;
    memset(&t->verdict, 0, sizeof t->verdict);
    t->verdict.position = -1;
}

void tarry_test__verdict(tarry_test *t, bool went_past)
{
    static const char prefix[] = "nondeterminism at step ";
    char *next = t->verdict_next;
    const char *error = t->error;

    t->verdict_next = NULL; /* kept across the clear below */
    tarry_test__verdict_clear(t);
    t->verdict_next = next;
    if (t->state == TARRY_TEST_BLOCKED && error && strncmp(error, prefix, sizeof prefix - 1) == 0) {
        /* The core's message: "nondeterminism at step N: journal has X, code issued Y". */
        const char *has = strstr(error, ": journal has "), *issued = strstr(error, ", code issued ");
        t->verdict.position = strtol(error + sizeof prefix - 1, NULL, 10);
        if (has && issued && issued > has) {
            has += strlen(": journal has ");
            t->verdict_has = strndup(has, (size_t)(issued - has));
            t->verdict_issued = tarry_test__dup(issued + strlen(", code issued "));
        }
    } else if (t->state != TARRY_TEST_ERROR && t->state != TARRY_TEST_BLOCKED) {
        /* It replayed every entry it reached: it ended, waits on a pending one, or went past. */
        t->verdict.fits = 1;
        t->verdict.position = (long)tarry_test_journal_count(t);
    }
    t->verdict.journal_has = t->verdict_has;
    t->verdict.code_issued = t->verdict_issued;
    t->verdict.next_command = went_past ? t->verdict_next : NULL;
}

const tarry_test_verdict *tarry_test_verdict_of(const tarry_test *t)
{
    return &t->verdict;
}
