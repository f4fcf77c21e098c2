/*
 * cli_client.c - the CLI's HTTP client: one libcurl easy handle per
 * command, so a command that makes several requests (long waits, --json
 * after a wait, a timeline's children) reuses one kept-alive connection.
 *
 * The CLI knows the host only through docs/API.md, like any outside caller.
 *
 * May not: include the store, engine, replay, plugins or http rooms.
 */
#include "cli_internal.h"

#include <stdlib.h>
#include <string.h>

static struct curl_slist *headers_add(struct curl_slist *list, const char *header)
{
    struct curl_slist *grown = curl_slist_append(list, header);
    if (!grown)
        cli_die_oom();
    return grown;
}

int cli_client_init(client *c, const char *base_url, bool url_given)
{
    *c = (client){0};
    c->base_url = base_url;
    c->base_len = strlen(base_url);
    while (c->base_len > 0 && base_url[c->base_len - 1] == '/')
        c->base_len--;
    c->url_given = url_given;
    c->curl = curl_easy_init();
    if (!c->curl) {
        fputs("tarry: cannot initialise libcurl\n", stderr);
        return CLI_EXIT_USAGE;
    }
    c->get_headers = headers_add(NULL, "Accept: application/json");
    c->post_headers = headers_add(NULL, "Accept: application/json");
    c->post_headers = headers_add(c->post_headers, "Content-Type: application/json");
    /* libcurl would otherwise hold bodies over 1 KiB for a 100-continue round trip. */
    c->post_headers = headers_add(c->post_headers, "Expect:");
    const char *token = getenv("TARRY_TOKEN");
    if (token && *token) {
        c->auth_header = cli_xasprintf("Authorization: Bearer %s", token);
        c->get_headers = headers_add(c->get_headers, c->auth_header);
        c->post_headers = headers_add(c->post_headers, c->auth_header);
    }
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CLI_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "tarry-cli");
    return 0;
}

void cli_client_free(client *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->get_headers);
    curl_slist_free_all(c->post_headers);
    free(c->auth_header);
    *c = (client){0};
}

void cli_answer_free(answer *ans)
{
    free(ans->body);
    cJSON_Delete(ans->json);
    *ans = (answer){0};
}

void cli_put_escaped(client *c, FILE *out, const char *s)
{
    char *escaped = curl_easy_escape(c->curl, s, 0);
    if (!escaped)
        cli_die_oom();
    fputs(escaped, out);
    curl_free(escaped);
}

char *cli_exec_path(client *c, const char *id, const char *suffix)
{
    cli_text path;
    cli_text_open(&path);
    fputs("/v1/executions/", path.f);
    cli_put_escaped(c, path.f, id);
    fputs(suffix, path.f);
    return cli_text_take(&path);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    return fwrite(data, size, nmemb, user) * size;
}

static void report_transport_error(const client *c, CURLcode code)
{
    char detail[CURL_ERROR_SIZE];
    snprintf(detail, sizeof detail, "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(code));
    detail[strcspn(detail, "\r\n")] = '\0';
    int len = (int)c->base_len;
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        cli_say(stderr, "tarry: cannot reach the tarry host at %.*s: %s (is `tarry serve` running?)\n", len,
                c->base_url, detail);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        cli_say(stderr, "tarry: the tarry host at %.*s did not answer in time: %s\n", len, c->base_url,
                detail);
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        cli_say(stderr, "tarry: bad host URL \"%.*s\": %s (set it with --url or TARRY_URL)\n", len,
                c->base_url, detail);
        break;
    default:
        cli_say(stderr, "tarry: talking to the tarry host at %.*s failed: %s\n", len, c->base_url, detail);
        break;
    }
}

int cli_send(client *c, const char *method, const char *path, const char *body, int64_t timeout_ms,
             answer *ans)
{
    char *url = cli_xasprintf("%.*s%s", (int)c->base_len, c->base_url, path);
    cli_text received;

    cli_answer_free(ans);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    /* The handle is reused: a method set for an earlier request must not stick. */
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, body ? method : NULL);
    if (body) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->post_headers);
    } else {
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->get_headers);
    }
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    cli_text_open(&received);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, received.f);
    c->errbuf[0] = '\0';
    CURLcode code = curl_easy_perform(c->curl);
    ans->len = cli_text_len(&received);
    ans->body = cli_text_take(&received);
    free(url);
    if (code != CURLE_OK) {
        report_transport_error(c, code);
        return CLI_EXIT_USAGE;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &ans->status);
    if (ans->len > 0)
        ans->json = cJSON_ParseWithLength(ans->body, ans->len);
    return 0;
}

int cli_stream_get(client *c, const char *path, curl_write_callback on_data, void *user, long *status)
{
    char *url = cli_xasprintf("%.*s%s", (int)c->base_len, c->base_url, path);
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: text/event-stream");
    CURLcode code;

    if (!headers || (c->auth_header && !(headers = curl_slist_append(headers, c->auth_header))))
        cli_die_oom();
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
    /* No end in time: a stream lasts as long as what it follows. The host sends a keepalive every
     * 15 s, so 45 s without a byte means the connection is dead. */
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 0L);
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, 45L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, user);
    c->errbuf[0] = '\0';
    code = curl_easy_perform(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, 0L);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->get_headers);
    curl_slist_free_all(headers);
    free(url);
    *status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    if (code != CURLE_OK && code != CURLE_WRITE_ERROR) {
        report_transport_error(c, code);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* Print the host's error answer: `tarry: <message> (<code>, HTTP <status>)`. */
static void report_server_error(const client *c, const answer *ans)
{
    const cJSON *error = cli_json_get(ans->json, "error");
    const char *message = cli_json_str(error, "message");
    const char *code = cli_json_str(error, "code");
    if (message) {
        cli_say(stderr, "tarry: %s (%s, HTTP %ld)\n", message, code ? code : "no code", ans->status);
        if (ans->status == 401)
            fputs(getenv("TARRY_TOKEN") && *getenv("TARRY_TOKEN")
                      ? "tarry: TARRY_TOKEN is not the token this host was started with\n"
                      : "tarry: this host needs a token: set TARRY_TOKEN to the one it was started with\n",
                  stderr);
        return;
    }
    /* Not a tarry error: perhaps a proxy, or something else listening on that port. */
    const char *body = ans->body ? ans->body : "";
    int first_line = (int)strcspn(body, "\r\n");
    cli_say(stderr, "tarry: %.*s answered HTTP %ld%s%.*s (is that a tarry host?)\n", (int)c->base_len,
            c->base_url, ans->status, first_line ? ": " : " with an empty body",
            first_line > 200 ? 200 : first_line, body);
}

int cli_answer_expect(const client *c, const answer *ans, long ok_a, long ok_b)
{
    if (ans->status != ok_a && ans->status != ok_b) {
        report_server_error(c, ans);
        return CLI_EXIT_FAILED;
    }
    if (!cJSON_IsObject(ans->json)) {
        cli_say(
            stderr,
            "tarry: %.*s answered HTTP %ld with a body that is not a JSON object (is that a tarry host?)\n",
            (int)c->base_len, c->base_url, ans->status);
        return CLI_EXIT_FAILED;
    }
    return 0;
}

int cli_get(client *c, const char *path, answer *ans)
{
    int rc = cli_send(c, NULL, path, NULL, CLI_ANSWER_SLACK_MS, ans);
    return rc ? rc : cli_answer_expect(c, ans, 200, 200);
}

int cli_bad_answer(const client *c, const char *what)
{
    cli_say(stderr, "tarry: the answer from %.*s has no %s (is that a tarry host of this version?)\n",
            (int)c->base_len, c->base_url, what);
    return CLI_EXIT_FAILED;
}

void cli_print_raw(const answer *ans)
{
    if (ans->len == 0)
        return;
    fwrite(ans->body, 1, ans->len, stdout);
    if (ans->body[ans->len - 1] != '\n')
        fputc('\n', stdout);
}
