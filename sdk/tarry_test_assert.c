/*
 * tarry_test_assert.c - the test kit's readable side (tarry_test.h): the
 * journal and the logs as text, journal patterns, the assertions, and the
 * JSON helpers (cJSON, the library the host parses JSON with).
 */
#include "tarry_test.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jcore.h"
#include "jcore_duration.h"
#include "tarry_test_private.h"

static const char *kind_name(tarry_test_kind kind)
{
    return jcore_kind_name((jcore_kind)kind);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static const char *status_word(tarry_status status)
{
    switch (status) {
    case TARRY_OK:
        return "ok";
    case TARRY_FAILED:
        return "failed";
    case TARRY_CANCELLED:
        return "cancelled";
    case TARRY_SUSPEND:
        return "pending";
    default:
        return "?";
    }
}

static void entry_describe(kit_text *b, const tarry_test_entry *e)
{
    tarry_test__printf(b, "%s", kind_name(e->kind));
    if (e->name)
        tarry_test__printf(b, " %s", e->name);
    if (e->kind == TARRY_TEST_CALL && e->delay)
        tarry_test__printf(b, " after %s", e->delay);
    if (e->kind == TARRY_TEST_CALL && e->detached)
        tarry_test__printf(b, " (detached)");
    tarry_test__printf(b, " -> %s", status_word(e->status));
    if (e->status == TARRY_OK && e->value_json)
        tarry_test__printf(b, " %s", e->value_json);
    else if (e->error)
        tarry_test__printf(b, ": %s", e->error);
}

const char *tarry_test_journal_text(tarry_test *t)
{
    kit_text b = {0};

    tarry_test__printf(&b, "%s", "");
    for (size_t i = 0; i < tarry_test_journal_count(t); i++) {
        const tarry_test_entry *e = tarry_test_journal_at(t, i);
        tarry_test__printf(&b, "#%u ", e->seq);
        entry_describe(&b, e);
        tarry_test__printf(&b, "\n");
    }
    free(t->journal_text);
    t->journal_text = b.oom ? NULL : b.text;
    if (b.oom)
        free(b.text);
    return t->journal_text ? t->journal_text : "(out of memory)\n";
}

const char *tarry_test_logs(tarry_test *t)
{
    kit_text b = {0};

    tarry_test__printf(&b, "%s", "");
    for (size_t i = 0; i < t->log_count; i++)
        tarry_test__printf(&b, "%s: %s %s\n", t->logs[i].function, tarry_test__level_name(t->logs[i].level),
                           t->logs[i].text);
    free(t->logs_text);
    t->logs_text = b.oom ? NULL : b.text;
    if (b.oom)
        free(b.text);
    return t->logs_text ? t->logs_text : "(out of memory)\n";
}

/* ---- assertions ------------------------------------------------------------------------------------ */

/* Print a failed expectation with the journal; count it; return 0. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
expectation_failed(tarry_test *t, const char *fmt, ...)
{
    va_list ap;

    t->failures++;
    fputs("tarry_test: FAILED: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  the journal of %s (%s):\n", t->exec_count ? t->execs[0]->function : "(no run)",
            tarry_test_state_name(t->state));
    for (size_t i = 0; i < tarry_test_journal_count(t); i++) {
        kit_text b = {0};
        entry_describe(&b, tarry_test_journal_at(t, i));
        fprintf(stderr, "    #%zu %s\n", i, b.text ? b.text : "?");
        free(b.text);
    }
    if (!tarry_test_journal_count(t))
        fputs("    (empty)\n", stderr);
    if (t->error)
        fprintf(stderr, "  error: %s\n", t->error);
    return 0;
}

int tarry_test_assert_state(tarry_test *t, tarry_test_state state)
{
    if (t->state == state)
        return 1;
    expectation_failed(t, "expected the run to end %s, it ended %s%s%s", tarry_test_state_name(state),
                       tarry_test_state_name(t->state), t->result ? " with result " : "",
                       t->result ? t->result : "");
    fprintf(stderr, "  logs:\n%s", tarry_test_logs(t));
    return 0;
}

static unsigned count_entries(const tarry_test *t, tarry_test_kind kind, const char *name)
{
    unsigned n = 0;

    for (size_t i = 0; i < tarry_test_journal_count(t); i++) {
        const tarry_test_entry *e = tarry_test_journal_at(t, i);
        if (e->kind == kind && e->name && name && strcmp(e->name, name) == 0)
            n++;
    }
    return n;
}

int tarry_test_assert_calls(tarry_test *t, const char *function, unsigned count)
{
    unsigned n = count_entries(t, TARRY_TEST_CALL, function);

    if (n == count)
        return 1;
    return expectation_failed(t, "expected %u call%s of %s, the journal has %u", count, count == 1 ? "" : "s",
                              function ? function : "(null)", n);
}

int tarry_test_assert_steps(tarry_test *t, const char *name, unsigned count)
{
    unsigned n = count_entries(t, TARRY_TEST_STEP, name), runs = tarry_test_step_runs(t, name);

    if (n == count && runs == count)
        return 1;
    return expectation_failed(
        t, "expected %u step%s named \"%s\" that ran %u time%s; the journal has %u, the body ran %u", count,
        count == 1 ? "" : "s", name ? name : "(null)", count, count == 1 ? "" : "s", n, runs);
}

/* A parsed journal pattern (see tarry_test.h). */
typedef struct pattern {
    tarry_test_kind kind;
    char name[512];
    int has_ms;
    int64_t ms;
    int has_status;
    tarry_status status;
} pattern;

static void trim(char *s)
{
    size_t len = strlen(s), start = 0;

    while (len && is_space(s[len - 1]))
        s[--len] = '\0';
    while (is_space(s[start]))
        start++;
    memmove(s, s + start, len - start + 1);
}

/* Parse `text` into *p; 0, or -1 with `err` set. */
static int pattern_parse(const char *text, pattern *p, char *err, size_t errlen)
{
    char buf[512], *arrow, *rest, *after;
    char derr[200];

    memset(p, 0, sizeof *p);
    if (!text || strlen(text) >= sizeof buf) {
        snprintf(err, errlen, "a journal pattern is NULL or too long");
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", text);
    if ((arrow = strstr(buf, "->"))) {
        char *word = arrow + 2;
        *arrow = '\0';
        trim(word);
        p->has_status = 1;
        if (strcmp(word, "ok") == 0)
            p->status = TARRY_OK;
        else if (strcmp(word, "failed") == 0)
            p->status = TARRY_FAILED;
        else if (strcmp(word, "cancelled") == 0)
            p->status = TARRY_CANCELLED;
        else if (strcmp(word, "pending") == 0)
            p->status = TARRY_SUSPEND;
        else {
            snprintf(err, errlen, "pattern \"%s\": unknown outcome \"%s\" (ok, failed, cancelled or pending)",
                     text, word);
            return -1;
        }
    }
    trim(buf);
    rest = buf;
    while (*rest && !is_space(*rest))
        rest++;
    if (*rest)
        *rest++ = '\0';
    trim(rest);
    if (strcmp(buf, "call") == 0) {
        p->kind = TARRY_TEST_CALL;
        after = rest;
        while (*after && !is_space(*after))
            after++;
        if (*after) {
            *after++ = '\0';
            trim(after);
            if (strncmp(after, "after", 5) != 0 || !is_space(after[5])) {
                snprintf(err, errlen, "pattern \"%s\": want \"call FUNCTION [after DURATION]\"", text);
                return -1;
            }
            if (jcore_duration_parse(after + 6, &p->ms, derr, sizeof derr) != 0) {
                snprintf(err, errlen, "pattern \"%s\": %s", text, derr);
                return -1;
            }
            p->has_ms = 1;
        }
        if (!*rest) {
            snprintf(err, errlen, "pattern \"%s\": which function?", text);
            return -1;
        }
        snprintf(p->name, sizeof p->name, "%s", rest);
    } else if (strcmp(buf, "step") == 0) {
        p->kind = TARRY_TEST_STEP;
        if (!*rest) {
            snprintf(err, errlen, "pattern \"%s\": which step?", text);
            return -1;
        }
        snprintf(p->name, sizeof p->name, "%s", rest);
    } else if (strcmp(buf, "sleep") == 0) {
        p->kind = TARRY_TEST_SLEEP;
        if (jcore_duration_parse(rest, &p->ms, derr, sizeof derr) != 0) {
            snprintf(err, errlen, "pattern \"%s\": %s", text, derr);
            return -1;
        }
        p->has_ms = 1;
    } else if (strcmp(buf, "patch") == 0) {
        p->kind = TARRY_TEST_PATCH;
        if (!*rest) {
            snprintf(err, errlen, "pattern \"%s\": which change id?", text);
            return -1;
        }
        snprintf(p->name, sizeof p->name, "%s", rest);
    } else if (strcmp(buf, "now") == 0 && !*rest) {
        p->kind = TARRY_TEST_NOW;
    } else {
        snprintf(err, errlen,
                 "pattern \"%s\": want \"call F\", \"call F after D\", \"step NAME\", \"sleep D\", \"patch "
                 "ID\" or \"now\"",
                 text);
        return -1;
    }
    return 0;
}

static int pattern_match(const pattern *p, const tarry_test_entry *e)
{
    if (p->kind != e->kind)
        return 0;
    if ((p->kind == TARRY_TEST_CALL || p->kind == TARRY_TEST_STEP || p->kind == TARRY_TEST_PATCH) &&
        strcmp(p->name, e->name) != 0)
        return 0;
    if (p->has_ms && p->ms != e->delay_ms)
        return 0;
    return !p->has_status || p->status == e->status;
}

/* Collect the NULL-terminated patterns; returns how many, or -1 after reporting a bad one. */
static int patterns_collect(tarry_test *t, const char *what, const char *first, va_list ap, pattern **out)
{
    pattern *list = NULL;
    size_t count = 0, cap = 0;
    char err[600];

    for (const char *text = first; text; text = va_arg(ap, const char *)) {
        if (tarry_test__grow(&list, count, &cap, sizeof *list) != 0) {
            free(list);
            return expectation_failed(t, "%s: out of memory", what) - 1;
        }
        if (pattern_parse(text, &list[count], err, sizeof err) != 0) {
            free(list);
            return expectation_failed(t, "%s: %s", what, err) - 1;
        }
        count++;
    }
    *out = list;
    return (int)count;
}

int tarry_test_assert_journal(tarry_test *t, const char *first, ...)
{
    pattern *list = NULL;
    va_list ap;
    int count;
    size_t have = tarry_test_journal_count(t);

    va_start(ap, first);
    count = patterns_collect(t, "tarry_test_assert_journal", first, ap, &list);
    va_end(ap);
    if (count < 0)
        return 0;
    for (size_t i = 0; i < (size_t)count && i < have; i++) {
        if (!pattern_match(&list[i], tarry_test_journal_at(t, i))) {
            const char *text;
            va_start(ap, first);
            text = first;
            for (size_t j = 0; j < i; j++)
                text = va_arg(ap, const char *);
            va_end(ap);
            free(list);
            return expectation_failed(t, "tarry_test_assert_journal: entry #%zu does not match \"%s\"", i,
                                      text);
        }
    }
    free(list);
    if ((size_t)count != have)
        return expectation_failed(t, "tarry_test_assert_journal: expected %d entries, the journal has %zu",
                                  count, have);
    return 1;
}

int tarry_test_assert_order(tarry_test *t, const char *first, ...)
{
    pattern *list = NULL;
    va_list ap;
    int count;
    size_t at = 0, have = tarry_test_journal_count(t);

    va_start(ap, first);
    count = patterns_collect(t, "tarry_test_assert_order", first, ap, &list);
    va_end(ap);
    if (count < 0)
        return 0;
    for (int i = 0; i < count; i++) {
        while (at < have && !pattern_match(&list[i], tarry_test_journal_at(t, at)))
            at++;
        if (at == have) {
            const char *text;
            va_start(ap, first);
            text = first;
            for (int j = 0; j < i; j++)
                text = va_arg(ap, const char *);
            va_end(ap);
            free(list);
            return expectation_failed(t, "tarry_test_assert_order: no entry matches \"%s\"%s", text,
                                      i ? " after the ones before it" : "");
        }
        at++;
    }
    free(list);
    return 1;
}

int tarry_test_assert_log(tarry_test *t, const char *text)
{
    for (size_t i = 0; text && i < t->log_count; i++)
        if (strstr(t->logs[i].text, text))
            return 1;
    expectation_failed(t, "expected a log line containing \"%s\"", text ? text : "(null)");
    fprintf(stderr, "  logs:\n%s", tarry_test_logs(t));
    return 0;
}

/* `json` parsed as one JSON text, or NULL. */
static cJSON *json_parse(const char *json)
{
    return json ? cJSON_ParseWithOpts(json, NULL, 1) : NULL;
}

/* The value at `path` (see tarry_test_json) in `doc`, or NULL. */
static const cJSON *json_find(const cJSON *doc, const char *path)
{
    const cJSON *at = doc;
    char segment[512];

    while (at && *path) {
        const char *end = strchr(path, '.');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len >= sizeof segment)
            return NULL;
        memcpy(segment, path, len);
        segment[len] = '\0';
        path = end ? end + 1 : path + len;
        if (cJSON_IsObject(at)) {
            at = cJSON_GetObjectItemCaseSensitive(at, segment);
        } else if (cJSON_IsArray(at)) {
            char *digits_end;
            unsigned long index;
            if (segment[0] < '0' || segment[0] > '9')
                return NULL;
            index = strtoul(segment, &digits_end, 10);
            if (*digits_end || index >= (unsigned long)cJSON_GetArraySize(at))
                return NULL;
            at = cJSON_GetArrayItem(at, (int)index);
        } else {
            return NULL;
        }
    }
    return at;
}

/* A malloc'ed compact copy of `value` (as cJSON prints it), or NULL. */
static char *json_print(const cJSON *value)
{
    char *printed = value ? cJSON_PrintUnformatted(value) : NULL;
    char *copy = tarry_test__dup(printed);
    cJSON_free(printed);
    return copy;
}

int tarry_test_assert_json(tarry_test *t, const char *json, const char *path, const char *expected_json)
{
    cJSON *doc = json_parse(json), *want = json_parse(expected_json);
    const cJSON *got = path ? json_find(doc, path) : NULL;
    int same = 0;

    if (!want)
        expectation_failed(t, "tarry_test_assert_json: the expected value is not valid JSON: %s",
                           expected_json ? expected_json : "(null)");
    else if (!got)
        expectation_failed(t, "tarry_test_assert_json: no value at \"%s\" in %s", path ? path : "(null)",
                           json ? json : "(null)");
    else if (!(same = cJSON_Compare(got, want, 1))) {
        char *got_text = json_print(got), *want_text = json_print(want);
        expectation_failed(t, "tarry_test_assert_json: at \"%s\" expected %s, found %s (in %s)", path,
                           want_text ? want_text : "?", got_text ? got_text : "?", json);
        free(got_text);
        free(want_text);
    }
    cJSON_Delete(doc);
    cJSON_Delete(want);
    return same;
}

unsigned tarry_test_failures(const tarry_test *t)
{
    return t->failures;
}

const char *tarry_test_json(tarry_test *t, const char *json, const char *path)
{
    cJSON *doc = json_parse(json);
    char *copy = path ? json_print(json_find(doc, path)) : NULL;

    cJSON_Delete(doc);
    if (!copy)
        return NULL;
    if (tarry_test__grow(&t->owned, t->owned_count, &t->owned_cap, sizeof *t->owned) != 0) {
        free(copy);
        return NULL;
    }
    t->owned[t->owned_count++] = copy;
    return copy;
}
