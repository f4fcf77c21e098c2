/*
 * cli_show.c - `tarry show ID`: one execution's fields, then its journal as
 * a timeline (docs/API.md, "tarry show"), looking up what the children of
 * pending calls are doing.
 *
 * May not: include the store, engine, replay, plugins or http rooms.
 */
#include "cli_internal.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "duration.h"

#define CLI_TIMELINE_NAME_COLS 24     /* a longer call, step or sleep name is cut */
#define CLI_TIMELINE_VALUE_COLS 60    /* so is a longer result or error */
#define CLI_TIMELINE_CHILD_LOOKUPS 20 /* pending calls whose child `show` asks the host about */

enum { SHOW_JSON };

/* Print "label: text", indenting any further lines of text under the first. */
static void print_field(const char *label, const char *text)
{
    printf("%-11s", label);
    for (const char *line = text;;) {
        size_t len = strcspn(line, "\n");
        cli_put_clean(stdout, line, len);
        fputc('\n', stdout);
        if (line[len] == '\0')
            break;
        line += len + 1;
        printf("%11s", "");
    }
}

/* Print a field and free its text. */
static void print_owned_field(const char *label, char *text)
{
    print_field(label, text);
    free(text);
}

static void print_json_field(const char *label, const cJSON *item)
{
    print_owned_field(label, cli_json_cell(item));
}

/* A time field, followed by how long after `since` it was, when both parse. */
static void print_time_field(const char *label, const cJSON *obj, const char *key, const char *since_key,
                             const char *since_word)
{
    int64_t when_ms, since_ms;
    char took[64];
    const char *when = cli_json_str(obj, key);

    if (when && since_key && cli_json_time(obj, key, &when_ms) && cli_json_time(obj, since_key, &since_ms) &&
        when_ms >= since_ms) {
        duration_format(when_ms - since_ms, took, sizeof took);
        print_owned_field(label, cli_xasprintf("%s (%s %s)", when, since_word, took));
    } else {
        print_field(label, when ? when : "-");
    }
}

/*
 * What the child of a pending call is doing, from its execution object:
 * "starts T (in D)", "running for D", "waiting, wakes T (in D)", "queued",
 * "blocked: why". Writes nothing when the host does not say.
 */
static void describe_child(client *c, const char *child_id, int64_t now_ms, FILE *out)
{
    char *path = cli_exec_path(c, child_id, ""), *when = NULL;
    answer ans = {0};
    const char *state = NULL;
    int64_t started_ms;
    char took[64];

    /* Quietly: the timeline is shown without it when this fails. */
    if (cli_send(c, NULL, path, NULL, CLI_ANSWER_SLACK_MS, &ans) == 0 && ans.status == 200)
        state = cli_json_str(ans.json, "state");
    if (!state) {
    } else if (strcmp(state, "scheduled") == 0) {
        when = cli_when_text("starts", ans.json, "scheduled_at", now_ms);
        fputs(when ? when : state, out);
    } else if (strcmp(state, "running") == 0 && cli_json_time(ans.json, "started_at", &started_ms) &&
               now_ms >= started_ms) {
        duration_format(now_ms - started_ms, took, sizeof took);
        fprintf(out, "running for %s", took);
    } else if (strcmp(state, "waiting") == 0 &&
               (when = cli_when_text("waiting, wakes", ans.json, "wake_at", now_ms))) {
        fputs(when, out);
    } else {
        const char *error = cli_json_str(ans.json, "error");
        fputs(state, out);
        if (error) {
            fputs(": ", out);
            cli_put_cut(out, error, CLI_TIMELINE_VALUE_COLS);
        }
    }
    free(when);
    cli_answer_free(&ans);
    free(path);
}

/* A settled entry's duration ("12ms"), or "" when its times do not say. */
static void entry_took(const cJSON *entry, char *out, size_t outlen)
{
    int64_t started_ms, finished_ms;
    out[0] = '\0';
    if (cli_json_time(entry, "started_at", &started_ms) &&
        cli_json_time(entry, "finished_at", &finished_ms) && finished_ms >= started_ms)
        duration_format(finished_ms - started_ms, out, outlen);
}

/* The value a settled entry shows: its error, the time a `now` read, or its result; NULL for none. */
static char *entry_value(const cJSON *entry)
{
    const char *kind = cli_json_str(entry, "kind");
    const char *error = cli_json_str(entry, "error");
    const cJSON *result = cli_json_get(entry, "result");

    if (error)
        return cli_xstrdup(error);
    if (kind && strcmp(kind, "now") == 0 && cJSON_IsNumber(result) && result->valuedouble >= 0 &&
        result->valuedouble < 1e15) {
        /* Unix ms: shown as a time. */
        char when[CLOCK_TEXT_LEN + 1];
        clock_format((int64_t)result->valuedouble, when);
        return cli_xstrdup(when);
    }
    if (result && !cJSON_IsNull(result))
        return cli_json_text(result);
    return NULL;
}

/*
 * The last column of a journal entry: for a settled one how long it took
 * and its value (aligned at took_cols), for a pending one what it waits for.
 * *lookups counts the children asked about so far. The caller frees.
 */
static char *entry_last(client *c, const cJSON *entry, size_t took_cols, int64_t now_ms, int *lookups)
{
    const char *kind = cli_json_str(entry, "kind");
    const char *status = cli_json_str(entry, "status");
    const char *child_id = cli_json_str(entry, "child_id");
    char took[64];
    cli_text last;

    cli_text_open(&last);
    if (!status || strcmp(status, "pending") == 0) {
        bool sleep = kind && strcmp(kind, "sleep") == 0;
        int64_t started_ms;
        /* A call's child says best (it may have been rescheduled); the entry's wake_at is the
         * start its delay asked for. */
        if (child_id && *lookups < CLI_TIMELINE_CHILD_LOOKUPS) {
            (*lookups)++;
            describe_child(c, child_id, now_ms, last.f);
        }
        if (cli_text_len(&last) == 0) {
            char *when = cli_when_text(sleep ? "wakes" : "starts", entry, "wake_at", now_ms);
            if (when)
                fputs(when, last.f);
            free(when);
        }
        if (cli_text_len(&last) == 0 && cli_json_time(entry, "started_at", &started_ms) &&
            now_ms >= started_ms) {
            duration_format(now_ms - started_ms, took, sizeof took);
            fprintf(last.f, "for %s", took);
        }
    } else {
        char *value = entry_value(entry);
        entry_took(entry, took, sizeof took);
        fputs(took, last.f);
        if (value) {
            fprintf(last.f, "%*s", (int)(took_cols - cli_text_width(took) + (took_cols ? 2 : 0)), "");
            cli_put_cut(last.f, value, CLI_TIMELINE_VALUE_COLS);
        }
        free(value);
    }
    return cli_text_take(&last);
}

/*
 * Print the execution's journal (docs/API.md) as a timeline, one line per
 * durable command: position, kind, name, status, the child a call started,
 * then how long it took and its result or error, or, while pending, when it
 * starts, wakes or what its child is doing. Nothing for a host that sends no
 * journal.
 */
static void print_timeline(client *c, const cJSON *journal, bool final)
{
    if (!cJSON_IsArray(journal))
        return;
    if (!journal->child) {
        print_field("journal:", final ? "-" : "- (no durable commands yet)");
        return;
    }
    int64_t now_ms = clock_now_ms();
    cli_table rows = {.ncols = 6};
    const cJSON *entry;
    char took[64], seq[32];
    size_t took_cols = 0;
    int lookups = 0;

    cJSON_ArrayForEach(entry, journal)
    {
        const char *status = cli_json_str(entry, "status");
        entry_took(entry, took, sizeof took);
        if (status && strcmp(status, "pending") != 0 && cli_text_width(took) > took_cols)
            took_cols = cli_text_width(took);
    }
    cJSON_ArrayForEach(entry, journal)
    {
        const char *kind = cli_json_str(entry, "kind");
        const char *status = cli_json_str(entry, "status");
        const char *child_id = cli_json_str(entry, "child_id");
        const char *name = cli_json_str(entry, "name");
        const cJSON *seq_item = cli_json_get(entry, "seq");
        cli_text cut;

        if (cJSON_IsNumber(seq_item) && seq_item->valuedouble >= 0 && seq_item->valuedouble < 1e15)
            snprintf(seq, sizeof seq, "  #%lld", (long long)seq_item->valuedouble);
        else
            snprintf(seq, sizeof seq, "  #?");
        cli_text_open(&cut);
        cli_put_cut(cut.f, name ? name : "-", CLI_TIMELINE_NAME_COLS);
        char *name_cell = cli_text_take(&cut);
        char *last = entry_last(c, entry, took_cols, now_ms, &lookups);
        cli_table_add(&rows, (const char *[]){seq, kind ? kind : "?", name_cell, status ? status : "?",
                                              child_id ? child_id : "", last});
        free(name_cell);
        free(last);
    }
    puts("journal:");
    cli_table_print(&rows, stdout);
    cli_table_free(&rows);
}

/* The fields of the execution object x, one per line. */
static void print_fields(const cJSON *x)
{
    const cJSON *plugin = cli_json_get(x, "plugin"), *child, *metadata = cli_json_get(x, "metadata");
    const char *state = cli_json_str(x, "state"), *error = cli_json_str(x, "error");
    char *when;
    cli_text children;

    print_json_field("id:", cli_json_get(x, "id"));
    print_json_field("function:", cli_json_get(x, "function"));
    print_json_field("state:", cli_json_get(x, "state"));
    if (cJSON_IsObject(plugin))
        print_owned_field(
            "plugin:",
            cli_xasprintf("%s %s", cli_json_str(plugin, "name") ? cli_json_str(plugin, "name") : "?",
                          cli_json_str(plugin, "version") ? cli_json_str(plugin, "version") : "?"));
    else
        print_field("plugin:", "-");
    print_json_field("attempts:", cli_json_get(x, "attempts"));
    print_time_field("created:", x, "created_at", NULL, NULL);
    if (state && strcmp(state, "scheduled") == 0) {
        /* Not started yet: when, from now. */
        when = cli_when_text("", x, "scheduled_at", clock_now_ms());
        print_field("scheduled:", when ? when : "-");
        free(when);
    } else {
        print_time_field("scheduled:", x, "scheduled_at", NULL, NULL);
    }
    print_time_field("started:", x, "started_at", "scheduled_at", "waited");
    print_time_field("finished:", x, "finished_at", "started_at", "ran");
    if ((when = cli_when_text("", x, "wake_at", clock_now_ms())))
        print_owned_field("wakes:", when);
    if ((when = cli_when_text("", x, "next_attempt_at", clock_now_ms())))
        print_owned_field("retry:", when); /* a failed attempt's retry waits until then */
    if (cJSON_IsNumber(cli_json_get(x, "timeouts")) && cli_json_get(x, "timeouts")->valuedouble > 0)
        print_json_field("timeouts:", cli_json_get(x, "timeouts"));
    print_json_field("parent:", cli_json_get(x, "parent_id"));
    cli_text_open(&children);
    cJSON_ArrayForEach(child, cli_json_get(x, "children"))
    {
        /* Ids, as docs/API.md says; an object with an id is taken too. */
        const char *child_id = cJSON_IsString(child) ? child->valuestring : cli_json_str(child, "id");
        fprintf(children.f, "%s%s", cli_text_len(&children) ? ", " : "", child_id ? child_id : "?");
    }
    bool any = cli_text_len(&children) > 0;
    char *list = cli_text_take(&children);
    print_field("children:", any ? list : "-");
    free(list);
    print_owned_field("args:", cli_json_text(cli_json_get(x, "args")));
    if (error)
        print_field("error:", error);
    else if (cli_state_final(state) || !cJSON_IsNull(cli_json_get(x, "result")))
        print_owned_field("result:", cli_json_text(cli_json_get(x, "result")));
    else
        print_field("result:", "- (not final yet)");
    if (state && strcmp(state, "blocked") == 0) {
        /* Blocked waits for new code, never for time. */
        const char *id = cli_json_str(x, "id");
        print_owned_field("to do:",
                          cli_xasprintf("deploy a fix, then `tarry upgrade %s` (it is checked before it "
                                        "moves; waiting will not end it)",
                                        id ? id : "ID"));
    }
    if (cJSON_IsObject(metadata) && metadata->child)
        print_owned_field("metadata:", cli_json_text(metadata));
    else
        print_field("metadata:", "-");
}

/*
 * Its attempts (GET .../attempts), one line each, when there was more than
 * one or one failed: "attempt 2  failed  <start>  ran 1s  timed out  <error>".
 * A host that does not answer them shows nothing.
 */
static void print_attempts(client *c, const char *id)
{
    char *path = cli_exec_path(c, id, "/attempts");
    const cJSON *data, *a;
    answer ans = {0};
    cli_table t = {.ncols = 6};
    size_t n = 0;
    bool failed = false;

    if (cli_get(c, path, &ans) != 0 || !cJSON_IsArray(data = cli_json_get(ans.json, "data")))
        goto done;
    cJSON_ArrayForEach(a, data)
    {
        const char *outcome = cli_json_str(a, "outcome");
        char number[32], took[64], ran[80], flags[64] = "";
        const char *cells[6];

        n++;
        failed = failed || (outcome && strcmp(outcome, "succeeded") != 0);
        snprintf(number, sizeof number, "  attempt %d",
                 cJSON_IsNumber(cli_json_get(a, "number")) ? cli_json_get(a, "number")->valueint : 0);
        entry_took(a, took, sizeof took);
        snprintf(ran, sizeof ran, "%s%s", took[0] ? "ran " : "", took);
        if (cJSON_IsTrue(cli_json_get(a, "crashed")))
            strcat(flags, "crashed ");
        if (cJSON_IsTrue(cli_json_get(a, "timed_out")))
            strcat(flags, "timed out ");
        if (cJSON_IsTrue(cli_json_get(a, "permanent")))
            strcat(flags, "permanent ");
        if (flags[0])
            flags[strlen(flags) - 1] = '\0';
        cells[0] = number;
        cells[1] = outcome;
        cells[2] = cli_json_str(a, "started_at");
        cells[3] = ran;
        cells[4] = flags;
        cells[5] = cli_json_str(a, "error");
        cli_table_add(&t, cells);
    }
    if (n > 1 || failed) {
        puts("attempts:");
        cli_table_print(&t, stdout);
    }
done:
    cli_table_free(&t);
    cli_answer_free(&ans);
    free(path);
}

/*
 * Its failure notifications (README, "Failure notifications"), one line
 * each when there are any: "https://hooks.example/x  delivered  1 attempt
 * <delivered_at>" or "... pending  3 attempts  next <time>  <last error>".
 */
static void print_notifications(const cJSON *x)
{
    const cJSON *list = cli_json_get(x, "notifications"), *nt;
    cli_table t = {.ncols = 5};

    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return;
    cJSON_ArrayForEach(nt, list)
    {
        const cJSON *attempts = cli_json_get(nt, "attempts");
        const char *state = cli_json_str(nt, "state"), *when, *cells[5];
        char count[32], at[80];
        int n = cJSON_IsNumber(attempts) ? attempts->valueint : 0;

        snprintf(count, sizeof count, "%d attempt%s", n, n == 1 ? "" : "s");
        if ((when = cli_json_str(nt, "delivered_at")))
            snprintf(at, sizeof at, "at %s", when);
        else if ((when = cli_json_str(nt, "next_attempt_at")))
            snprintf(at, sizeof at, "next %s", when);
        else
            at[0] = '\0';
        cells[0] = cli_json_str(nt, "url");
        cells[1] = state;
        cells[2] = count;
        cells[3] = at;
        cells[4] = cli_json_str(nt, "last_error");
        cli_table_add(&t, cells);
    }
    puts("notifications:");
    cli_table_print(&t, stdout);
    cli_table_free(&t);
}

int cli_cmd_show(client *c, const command *cmd, const cli_args *args)
{
    char *path = cli_exec_path(c, args->pos[0], "");
    answer ans = {0};
    int rc;

    (void)cmd;
    if ((rc = cli_get(c, path, &ans)) != 0)
        goto done;
    if (args->seen[SHOW_JSON]) {
        cli_print_raw(&ans);
        goto done;
    }
    if (!cli_json_str(ans.json, "id")) {
        rc = cli_bad_answer(c, "execution \"id\"");
        goto done;
    }
    print_fields(ans.json);
    print_attempts(c, cli_json_str(ans.json, "id"));
    print_notifications(ans.json);
    print_timeline(c, cli_json_get(ans.json, "journal"), cli_state_final(cli_json_str(ans.json, "state")));
done:
    cli_answer_free(&ans);
    free(path);
    return rc;
}
