/*
 * cli_logs.c - `tarry logs ID [-f]`: an execution's log lines, page after
 * page (GET .../logs?after=CURSOR), or followed as the host streams them
 * (GET .../logs?follow=1, server-sent events, docs/API.md "Logs").
 *
 * The event stream is read line by line as libcurl hands over bytes: a
 * "field: value" line adds to the event being built, an empty line ends
 * it, a line starting with ':' is a comment (the host's keepalive). The
 * event's data is JSON, read with cJSON. A stream that ends without its
 * `end` event (the engine restarted) is followed again from the line
 * after the last one seen.
 *
 * May not: include the store, engine, replay, plugins or http rooms.
 */
#include "cli_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { LOGS_JSON, LOGS_FOLLOW };

/* Streams that end early, one after another, before giving up. */
#define FOLLOW_RETRIES 10

/* "TIME  LEVEL  #ATTEMPT  MESSAGE"; "#-" for a line from before attempts were kept. */
static void print_line(const cJSON *entry)
{
    const char *time = cli_json_str(entry, "time");
    const char *level = cli_json_str(entry, "level");
    const char *message = cli_json_str(entry, "message");
    const cJSON *attempt = cli_json_get(entry, "attempt");
    char at[24] = "#-";

    if (cJSON_IsNumber(attempt) && attempt->valuedouble >= 1)
        snprintf(at, sizeof at, "#%.0f", attempt->valuedouble);
    cli_say(stdout, "%s  %-5s  %-3s %s\n", time ? time : "-", level ? level : "-", at,
            message ? message : "");
}

/* Every page of the execution's lines (the host answers a bounded page at a time), in order;
 * --json prints each page's answer as it came. */
static int print_pages(client *c, const cli_args *args)
{
    char *path = cli_exec_path(c, args->pos[0], "/logs"), *page = NULL, cursor[32] = "";
    bool any = false;
    int rc = 0;

    for (;;) {
        answer ans = {0};
        const cJSON *data, *entry, *next;

        free(page);
        page = NULL;
        if (!path || asprintf(&page, cursor[0] ? "%s?after=%s" : "%s", path, cursor) < 0) {
            page = NULL;
            cli_say(stderr, "tarry: out of memory\n");
            rc = CLI_EXIT_FAILED;
            break;
        }
        if ((rc = cli_get(c, page, &ans)) != 0) {
            cli_answer_free(&ans);
            break;
        }
        data = cli_json_get(ans.json, "data");
        next = cli_json_get(ans.json, "next_cursor");
        if (!cJSON_IsArray(data) || (next && !cJSON_IsNull(next) && !cJSON_IsString(next))) {
            rc = cli_bad_answer(c, "\"data\" list");
            cli_answer_free(&ans);
            break;
        }
        if (args->seen[LOGS_JSON])
            cli_print_raw(&ans);
        else
            cJSON_ArrayForEach(entry, data) print_line(entry);
        any = any || data->child;
        /* A cursor that does not move would loop for ever: stop on it. */
        if (!cJSON_IsString(next) || strlen(next->valuestring) >= sizeof cursor ||
            strcmp(next->valuestring, cursor) == 0) {
            cli_answer_free(&ans);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", next->valuestring);
        cli_answer_free(&ans);
    }
    if (rc == 0 && !any && !args->seen[LOGS_JSON])
        cli_say(stderr, "tarry: execution %s has no log lines\n", args->pos[0]);
    free(page);
    free(path);
    return rc;
}

/* ---- following ------------------------------------------------------------------------------- */

typedef struct sse_reader {
    client *c;
    bool json;
    cli_text line;    /* the line being read */
    cli_text data;    /* the event's data lines */
    char event[32];   /* the event's name */
    char *error_body; /* not 200: what the host said (collected whole) */
    cli_text error;   /* ... while it is read */
    bool error_open;
    bool ended;     /* the end event came */
    char state[32]; /* its state */
    long long next; /* the seq after the last line seen, for a reconnect; -1 none yet */
} sse_reader;

static void dispatch(sse_reader *r)
{
    size_t len = cli_text_len(&r->data);
    char *data = cli_text_take(&r->data);
    cJSON *doc = cJSON_ParseWithLength(data, len);

    cli_text_open(&r->data);
    if (!strcmp(r->event, "line") && cJSON_IsObject(doc)) {
        const cJSON *seq = cli_json_get(doc, "seq");
        if (r->json)
            cli_say(stdout, "%s\n", data);
        else
            print_line(doc);
        if (cJSON_IsNumber(seq))
            r->next = (long long)seq->valuedouble + 1;
    } else if (!strcmp(r->event, "end") && cJSON_IsObject(doc)) {
        const char *state = cli_json_str(doc, "state");
        if (r->json)
            cli_say(stdout, "%s\n", data);
        r->ended = true;
        snprintf(r->state, sizeof r->state, "%s", state ? state : "");
    }
    fflush(stdout);
    cJSON_Delete(doc);
    free(data);
    r->event[0] = '\0';
}

/* One line of the stream (without its newline). */
static void sse_line(sse_reader *r, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len), *value;
    size_t name_len, value_len;

    if (len == 0) {
        if (r->event[0] || cli_text_len(&r->data))
            dispatch(r);
        return;
    }
    if (colon == line)
        return; /* a comment: the keepalive */
    name_len = colon ? (size_t)(colon - line) : len;
    value = colon ? colon + 1 : line + len;
    if (value < line + len && *value == ' ')
        value++;
    value_len = (size_t)(line + len - value);
    if (name_len == 5 && !memcmp(line, "event", 5)) {
        snprintf(r->event, sizeof r->event, "%.*s", (int)value_len, value);
    } else if (name_len == 4 && !memcmp(line, "data", 4)) {
        if (cli_text_len(&r->data))
            fputc('\n', r->data.f);
        fwrite(value, 1, value_len, r->data.f);
    }
    /* "id" is the line's seq, also in its data; other fields are not ours. */
}

static size_t on_stream(char *ptr, size_t size, size_t nmemb, void *user)
{
    sse_reader *r = user;
    size_t n = size * nmemb;
    long status = 0;

    curl_easy_getinfo(r->c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        if (!r->error_open) {
            cli_text_open(&r->error);
            r->error_open = true;
        }
        fwrite(ptr, 1, n, r->error.f);
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        if (ptr[i] != '\n') {
            fputc(ptr[i], r->line.f);
            continue;
        }
        size_t len = cli_text_len(&r->line);
        char *line = cli_text_take(&r->line);
        if (len && line[len - 1] == '\r')
            len--;
        sse_line(r, line, len);
        free(line);
        cli_text_open(&r->line);
    }
    return n;
}

/* Follow the stream to its end event; exit 0 when the execution succeeded, 1 when it ended otherwise. */
static int follow(client *c, const cli_args *args)
{
    char *base = cli_exec_path(c, args->pos[0], "/logs?follow=1");
    sse_reader r = {.c = c, .json = args->seen[LOGS_JSON], .next = -1};
    int rc = 0, tries = 0;

    cli_text_open(&r.line);
    cli_text_open(&r.data);
    for (;;) {
        long long before = r.next;
        long status = 0;
        char *path = r.next >= 0 ? cli_xasprintf("%s&after=%lld", base, r.next) : cli_xstrdup(base);

        rc = cli_stream_get(c, path, on_stream, &r, &status);
        free(path);
        if (rc != 0)
            break;
        if (status != 200) {
            answer ans = {.status = status};
            if (r.error_open) {
                ans.len = cli_text_len(&r.error);
                ans.body = cli_text_take(&r.error);
                r.error_open = false;
                ans.json = cJSON_ParseWithLength(ans.body, ans.len);
            }
            rc = cli_answer_expect(c, &ans, 200, 200);
            cli_answer_free(&ans);
            break;
        }
        if (r.ended) {
            rc = !strcmp(r.state, "succeeded") ? CLI_EXIT_OK : CLI_EXIT_FAILED;
            break;
        }
        /* Ended early (the engine restarted): follow again from the line after the last one. */
        tries = r.next != before ? 0 : tries + 1;
        if (tries >= FOLLOW_RETRIES) {
            cli_say(stderr, "tarry: the host keeps ending the log stream of %s early; giving up\n",
                    args->pos[0]);
            rc = CLI_EXIT_USAGE;
            break;
        }
        sleep(1);
    }
    if (r.error_open)
        free(cli_text_take(&r.error));
    free(cli_text_take(&r.line));
    free(cli_text_take(&r.data));
    free(base);
    return rc;
}

int cli_cmd_logs(client *c, const command *cmd, const cli_args *args)
{
    (void)cmd;
    return args->seen[LOGS_FOLLOW] ? follow(c, args) : print_pages(c, args);
}
