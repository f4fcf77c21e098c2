/*
 * cli.c - the client subcommands of `tarry`.
 *
 * This room is an outside caller of the HTTP API like any other: it knows the
 * host only through docs/API.md and may not include the store, engine, replay
 * or plugins rooms. It uses one libcurl easy handle for the whole command, so
 * a command that makes several requests (long waits, --json after a wait)
 * reuses one kept-alive connection.
 *
 * Text that came from the host (error messages plugins wrote, names, log
 * lines) is printed through say() or the table, which replace control
 * characters, so an execution's error cannot drive the user's terminal.
 */
#include "cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "clock.h"
#include "duration.h"

#define CLI_DEFAULT_URL "http://127.0.0.1:7373"
#define CLI_DEFAULT_WAIT_MS 30000
/* The host refuses a longer ?wait= (docs/API.md); a longer wait is a series of long-polls. */
#define CLI_WAIT_CHUNK_MS (10 * 60 * 1000)
/* Time for an answer to travel, on top of any wait the host was asked for. */
#define CLI_ANSWER_SLACK_MS 30000
#define CLI_CONNECT_TIMEOUT_MS 5000

/* ---- memory and text ---------------------------------------------------- */

/* A command-line tool has nothing to clean up or retry when memory runs out. */
static void die_oom(void)
{
    fputs("tarry: out of memory\n", stderr);
    exit(CLI_EXIT_USAGE);
}

static void *xrealloc(void *ptr, size_t size)
{
    ptr = realloc(ptr, size ? size : 1);
    if (!ptr)
        die_oom();
    return ptr;
}

static char *xstrdup(const char *s)
{
    char *copy = strdup(s);
    if (!copy)
        die_oom();
    return copy;
}

/* A growable NUL-terminated string; zero-initialised is empty. Owns ptr. */
typedef struct strbuf {
    char *ptr;
    size_t len;
    size_t cap;
} strbuf;

/* Make room for n more bytes and the NUL. */
static void sb_reserve(strbuf *sb, size_t n)
{
    if (sb->len + n + 1 <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + n + 1)
        cap *= 2;
    sb->ptr = xrealloc(sb->ptr, cap);
    sb->cap = cap;
}

static void sb_append_n(strbuf *sb, const char *s, size_t n)
{
    sb_reserve(sb, n);
    memcpy(sb->ptr + sb->len, s, n);
    sb->len += n;
    sb->ptr[sb->len] = '\0';
}

static void sb_append(strbuf *sb, const char *s)
{
    sb_append_n(sb, s, strlen(s));
}

static void sb_vprintf(strbuf *sb, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    if (n < 0)
        return;
    sb_reserve(sb, (size_t)n);
    vsnprintf(sb->ptr + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

static void sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

static void sb_free(strbuf *sb)
{
    free(sb->ptr);
    *sb = (strbuf){0};
}

/* Append s as one shell word, quoted only when it needs to be. */
static void sb_append_shell_word(strbuf *sb, const char *s)
{
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.,:/=@+%", *p))
            plain = false;
    if (plain) {
        sb_append(sb, s);
        return;
    }
    sb_append(sb, "'");
    for (const char *p = s; *p; p++)
        sb_append(sb, *p == '\'' ? "'\\''" : (char[2]){*p, '\0'});
    sb_append(sb, "'");
}

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Write s with control characters (but newline and tab) shown as '?'. */
static void put_clean(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        fputc(is_control(c) && c != '\n' && c != '\t' ? '?' : c, out);
    }
}

/* printf for anything that may carry text from the host. */
static void say(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *out, const char *fmt, ...)
{
    strbuf text = {0};
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&text, fmt, ap);
    va_end(ap);
    put_clean(out, text.ptr ? text.ptr : "", text.len);
    sb_free(&text);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- JSON helpers --------------------------------------------------------- */

/* The string member `key` of obj, or NULL when obj is not an object or the member is no string. */
static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static const cJSON *json_get(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static const char *json_type_name(const cJSON *item)
{
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsBool(item))
        return "a boolean";
    if (cJSON_IsNull(item))
        return "null";
    if (cJSON_IsArray(item))
        return "an array";
    return "an object";
}

/*
 * A table cell for item: strings as they are, whole numbers without a
 * fraction, null or missing as "-", anything else as compact JSON. Caller frees.
 */
static char *json_cell(const cJSON *item)
{
    if (!item || cJSON_IsNull(item))
        return xstrdup("-");
    if (cJSON_IsString(item))
        return xstrdup(item->valuestring);
    if (cJSON_IsNumber(item) && item->valuedouble == (double)(long long)item->valuedouble) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)item->valuedouble);
        return xstrdup(num);
    }
    char *text = cJSON_PrintUnformatted(item);
    if (!text)
        die_oom();
    return text;
}

/* Compact JSON text of item ("null" when missing). Caller frees with free(). */
static char *json_text(const cJSON *item)
{
    char *text = item ? cJSON_PrintUnformatted(item) : xstrdup("null");
    if (!text)
        die_oom();
    return text;
}

/* ---- tables ----------------------------------------------------------------- */

/* Rows of owned, cleaned cells, printed with columns padded to their widest cell. */
typedef struct table {
    size_t ncols;
    size_t nrows;
    char **cells; /* row-major, nrows * ncols */
} table;

/* Cells are copied with control characters (newlines too) replaced, so a row stays one line. */
static void table_add(table *t, const char *const *cells)
{
    t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *t->cells);
    for (size_t i = 0; i < t->ncols; i++) {
        char *cell = xstrdup(cells[i] ? cells[i] : "-");
        for (char *p = cell; *p; p++)
            if (is_control((unsigned char)*p))
                *p = *p == '\n' || *p == '\t' ? ' ' : '?';
        t->cells[t->nrows * t->ncols + i] = cell;
    }
    t->nrows++;
}

/* Terminal columns taken by s, counting UTF-8 code points. */
static size_t text_width(const char *s)
{
    size_t width = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            width++;
    return width;
}

static void table_print(const table *t, FILE *out)
{
    size_t *widths = xrealloc(NULL, t->ncols * sizeof *widths);
    for (size_t c = 0; c < t->ncols; c++) {
        widths[c] = 0;
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = text_width(t->cells[r * t->ncols + c]);
            if (w > widths[c])
                widths[c] = w;
        }
    }
    /* A column empty in every row takes no room; a row ends at its last non-empty cell. */
    for (size_t r = 0; r < t->nrows; r++) {
        const char *const *row = (const char *const *)&t->cells[r * t->ncols];
        size_t last = t->ncols;
        while (last > 0 && !row[last - 1][0])
            last--;
        int pad = 0;
        for (size_t c = 0; c < last; c++) {
            if (widths[c] == 0)
                continue;
            fprintf(out, "%*s%s", pad, "", row[c]);
            pad = (int)(widths[c] - text_width(row[c]) + 2);
        }
        fputc('\n', out);
    }
    free(widths);
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = 0;
}

/* ---- the HTTP client ------------------------------------------------------- */

typedef struct client {
    CURL *curl;
    const char *base_url; /* borrowed from argv or the environment */
    size_t base_len;      /* without trailing slashes */
    bool url_given;       /* --url was on the command line, so hints repeat it */
    struct curl_slist *get_headers;
    struct curl_slist *post_headers;
    char *auth_header; /* owned; curl_slist_append copies it */
    char errbuf[CURL_ERROR_SIZE];
} client;

/* One HTTP answer. Owns body and json. */
typedef struct answer {
    long status;
    strbuf body;
    cJSON *json; /* the parsed body, or NULL when it is not JSON */
} answer;

static void answer_free(answer *ans)
{
    sb_free(&ans->body);
    cJSON_Delete(ans->json);
    *ans = (answer){0};
}

static struct curl_slist *headers_add(struct curl_slist *list, const char *header)
{
    struct curl_slist *grown = curl_slist_append(list, header);
    if (!grown)
        die_oom();
    return grown;
}

static int client_init(client *c, const char *base_url, bool url_given)
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
        strbuf auth = {0};
        sb_printf(&auth, "Authorization: Bearer %s", token);
        c->auth_header = auth.ptr;
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

static void client_free(client *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->get_headers);
    curl_slist_free_all(c->post_headers);
    free(c->auth_header);
    *c = (client){0};
}

/* Start url with the host's base URL. */
static void url_start(const client *c, strbuf *url)
{
    url->len = 0;
    sb_append_n(url, c->base_url, c->base_len);
}

/* Append s percent-encoded, fit for one path segment or one query value. */
static void url_append_escaped(client *c, strbuf *url, const char *s)
{
    char *escaped = curl_easy_escape(c->curl, s, 0);
    if (!escaped)
        die_oom();
    sb_append(url, escaped);
    curl_free(escaped);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    sb_append_n(user, data, size * nmemb);
    return size * nmemb;
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
        say(stderr, "tarry: cannot reach the tarry host at %.*s: %s (is `tarry serve` running?)\n", len,
            c->base_url, detail);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        say(stderr, "tarry: the tarry host at %.*s did not answer in time: %s\n", len, c->base_url, detail);
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        say(stderr, "tarry: bad host URL \"%.*s\": %s (set it with --url or TARRY_URL)\n", len, c->base_url,
            detail);
        break;
    default:
        say(stderr, "tarry: talking to the tarry host at %.*s failed: %s\n", len, c->base_url, detail);
        break;
    }
}

/*
 * Send one request: a GET, or a POST of body when body is not NULL; method,
 * when not NULL, replaces POST (e.g. "PATCH"). The host gets timeout_ms to
 * answer. Fills ans (which the caller frees) with any HTTP answer, whatever
 * its status. Returns 0, or CLI_EXIT_USAGE after saying why no answer came.
 */
static int client_send(client *c, const char *method, const char *url, const char *body, int64_t timeout_ms,
                       answer *ans)
{
    answer_free(ans);
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
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &ans->body);
    c->errbuf[0] = '\0';
    CURLcode code = curl_easy_perform(c->curl);
    if (code != CURLE_OK) {
        report_transport_error(c, code);
        return CLI_EXIT_USAGE;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &ans->status);
    if (ans->body.len > 0)
        ans->json = cJSON_ParseWithLength(ans->body.ptr, ans->body.len);
    return 0;
}

/* client_send() with GET (body NULL) or POST. */
static int client_request(client *c, const char *url, const char *body, int64_t timeout_ms, answer *ans)
{
    return client_send(c, NULL, url, body, timeout_ms, ans);
}

/* Print the host's error answer: `tarry: <message> (<code>, HTTP <status>)`. */
static void report_server_error(const client *c, const answer *ans)
{
    const cJSON *error = json_get(ans->json, "error");
    const char *message = json_str(error, "message");
    const char *code = json_str(error, "code");
    if (message) {
        say(stderr, "tarry: %s (%s, HTTP %ld)\n", message, code ? code : "no code", ans->status);
        if (ans->status == 401)
            fputs(getenv("TARRY_TOKEN") && *getenv("TARRY_TOKEN")
                      ? "tarry: TARRY_TOKEN is not the token this host was started with\n"
                      : "tarry: this host needs a token: set TARRY_TOKEN to the one it was started with\n",
                  stderr);
        return;
    }
    /* Not a tarry error: perhaps a proxy, or something else listening on that port. */
    const char *body = ans->body.ptr ? ans->body.ptr : "";
    int first_line = (int)strcspn(body, "\r\n");
    say(stderr, "tarry: %.*s answered HTTP %ld%s%.*s (is that a tarry host?)\n", (int)c->base_len,
        c->base_url, ans->status, first_line ? ": " : " with an empty body",
        first_line > 200 ? 200 : first_line, body);
}

/*
 * Check that ans has status ok_a or ok_b and a JSON object body. Returns 0,
 * or CLI_EXIT_FAILED after printing the host's error.
 */
static int answer_expect(const client *c, const answer *ans, long ok_a, long ok_b)
{
    if (ans->status != ok_a && ans->status != ok_b) {
        report_server_error(c, ans);
        return CLI_EXIT_FAILED;
    }
    if (!cJSON_IsObject(ans->json)) {
        say(stderr,
            "tarry: %.*s answered HTTP %ld with a body that is not a JSON object (is that a tarry host?)\n",
            (int)c->base_len, c->base_url, ans->status);
        return CLI_EXIT_FAILED;
    }
    return 0;
}

/* GET path-only url, expecting 200 and a JSON object. */
static int client_get(client *c, const char *url, answer *ans)
{
    int rc = client_request(c, url, NULL, CLI_ANSWER_SLACK_MS, ans);
    return rc ? rc : answer_expect(c, ans, 200, 200);
}

static int bad_answer(const client *c, const char *what)
{
    say(stderr, "tarry: the answer from %.*s has no %s (is that a tarry host of this version?)\n",
        (int)c->base_len, c->base_url, what);
    return CLI_EXIT_FAILED;
}

/* The answer's body as it came, for --json, ending in a newline. */
static void print_raw(const answer *ans)
{
    if (ans->body.len == 0)
        return;
    fwrite(ans->body.ptr, 1, ans->body.len, stdout);
    if (ans->body.ptr[ans->body.len - 1] != '\n')
        fputc('\n', stdout);
}

/* ---- command lines ---------------------------------------------------------- */

typedef struct command command;
typedef int (*command_fn)(client *c, const command *cmd, int argc, char **argv);

struct command {
    const char *name;
    const char *synopsis; /* after "tarry ", every option */
    const char *brief;    /* the synopsis for the one-line list */
    const char *summary;
    const char *help; /* the options, for COMMAND --help */
    command_fn run;
};

enum opt_kind {
    OPT_FLAG,  /* --json */
    OPT_VALUE, /* --delay D or --delay=D */
    OPT_WAIT   /* --wait, --wait=D, or --wait D when D looks like a duration */
};

typedef struct opt {
    const char *name;
    enum opt_kind kind;
    bool seen;
    const char *value; /* borrowed from argv; NULL for a flag or a bare --wait */
} opt;

#define PARSED_HELP (-1) /* parse_args printed the help: the command is done */

static void complain(const command *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "tarry %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

/* A malformed command line: the message, then the synopsis. */
static int usage_error(const command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    complain(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "usage: tarry %s\n(tarry %s --help for more)\n", cmd->synopsis, cmd->name);
    return CLI_EXIT_USAGE;
}

/* A bad value: the message says what is wrong, the synopsis would only add noise. */
static int value_error(const command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int value_error(const command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    complain(cmd, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

static void command_help(const command *cmd, FILE *out)
{
    fprintf(out, "usage: tarry [--url URL] %s\n\n%s.\n\n%s", cmd->synopsis, cmd->summary, cmd->help);
    fprintf(out,
            "  --url URL         the host (env TARRY_URL, default %s)\n"
            "  -h, --help        this help\n",
            CLI_DEFAULT_URL);
}

/*
 * A word after a bare --wait is its value when it starts with a digit: then
 * `--wait 10` is reported as a duration without a unit rather than quietly
 * becoming ARGS_JSON 10. Other JSON stays ARGS_JSON: `run f --wait '{"a":1}'`.
 */
static bool looks_like_duration(const char *word)
{
    return isdigit((unsigned char)word[0]) || (word[0] == '.' && isdigit((unsigned char)word[1]));
}

/*
 * Split argv (argv[0] is the command name) into opts (terminated by a NULL
 * name) and at most max_pos positional words. `--` ends the options; a word
 * starting with '-' and a digit is positional (a negative JSON number). A
 * repeated option keeps its last value. Returns 0, PARSED_HELP, or
 * CLI_EXIT_USAGE after saying what is wrong.
 */
static int parse_args(const command *cmd, int argc, char **argv, opt *opts, const char **pos, int max_pos,
                      int *npos)
{
    bool options_done = false;
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *word = argv[i];
        if (!options_done && strcmp(word, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)) {
            command_help(cmd, stdout);
            return PARSED_HELP;
        }
        if (!options_done && word[0] == '-' && word[1] != '\0' && !isdigit((unsigned char)word[1])) {
            if (word[1] != '-')
                return usage_error(cmd, "unknown option '%s'", word);
            const char *name = word + 2;
            const char *eq = strchr(name, '=');
            size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
            opt *o = opts;
            while (o->name && (strlen(o->name) != name_len || strncmp(o->name, name, name_len) != 0))
                o++;
            if (!o->name)
                return usage_error(cmd, "unknown option '--%.*s'", (int)name_len, name);
            o->seen = true;
            switch (o->kind) {
            case OPT_FLAG:
                if (eq)
                    return usage_error(cmd, "--%s takes no value", o->name);
                break;
            case OPT_VALUE:
                if (eq)
                    o->value = eq + 1;
                else if (i + 1 < argc)
                    o->value = argv[++i];
                else
                    return usage_error(cmd, "--%s needs a value", o->name);
                break;
            case OPT_WAIT:
                if (eq)
                    o->value = eq + 1;
                else if (i + 1 < argc && looks_like_duration(argv[i + 1]))
                    o->value = argv[++i];
                else
                    o->value = NULL;
                break;
            }
            continue;
        }
        if (*npos == max_pos)
            return usage_error(cmd, "unexpected argument '%s'", word);
        pos[(*npos)++] = word;
    }
    return 0;
}

/* A duration option's value in ms; a bare --wait (value NULL) is the default wait. */
static int parse_duration_opt(const command *cmd, const opt *o, int64_t *out_ms)
{
    char err[256];
    if (!o->value) {
        *out_ms = CLI_DEFAULT_WAIT_MS;
        return 0;
    }
    if (duration_parse(o->value, out_ms, err, sizeof err) != 0)
        return value_error(cmd, "--%s: %s", o->name, err);
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
    if (value)
        return value;
    size_t offset = end ? (size_t)(end - text) : 0;
    if (offset > strlen(text))
        offset = strlen(text);
    if (text[offset] == '\0')
        value_error(cmd, "%s is not valid JSON: it ends too early: %s", what, text);
    else
        value_error(cmd,
                    "%s is not valid JSON: unexpected text at offset %zu: %.20s%s\n"
                    "  (strings need double quotes inside JSON, and the whole argument needs shell quotes: "
                    "'{\"user\": \"ann\"}', '\"text\"')",
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
    int64_t now = mono_ms();
    return now < deadline && now - asked_at >= chunk_ms - 1000;
}

/*
 * Long-poll GET /v1/executions/{id}/result until the execution is final or
 * deadline (mono_ms) passes. Leaves the last answer, status 200 or 202, in
 * ans. Returns 0, or an exit status after saying why not.
 */
static int poll_result(client *c, const char *id, int64_t deadline, answer *ans)
{
    strbuf url = {0};
    int rc;
    for (;;) {
        int64_t chunk = deadline - mono_ms();
        if (chunk < 0)
            chunk = 0;
        if (chunk > CLI_WAIT_CHUNK_MS)
            chunk = CLI_WAIT_CHUNK_MS;
        url_start(c, &url);
        sb_append(&url, "/v1/executions/");
        url_append_escaped(c, &url, id);
        sb_printf(&url, "/result?wait=%lldms", (long long)chunk);
        int64_t asked_at = mono_ms();
        if ((rc = client_request(c, url.ptr, NULL, chunk + CLI_ANSWER_SLACK_MS, ans)) != 0)
            break;
        if ((rc = answer_expect(c, ans, 200, 202)) != 0)
            break;
        if (ans->status == 200 || !keep_waiting(asked_at, chunk, deadline))
            break;
    }
    sb_free(&url);
    return rc;
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
    const char *state = json_str(ans->json, "state");
    if (!state)
        return bad_answer(c, "\"state\"");
    if (ans->status == 202) {
        char waited[64];
        duration_format(waited_ms, waited, sizeof waited);
        if (json_mode)
            print_raw(ans);
        else if (id_when_pending)
            say(stdout, "%s\n", id);
        say(stderr,
            "tarry: execution %s is still %s after %s; wait longer with: tarry result %s --wait 10m\n", id,
            state, waited, id);
        return CLI_EXIT_PENDING;
    }
    if (json_mode && json_refetch) {
        strbuf url = {0};
        answer execution = {0};
        url_start(c, &url);
        sb_append(&url, "/v1/executions/");
        url_append_escaped(c, &url, id);
        int rc = client_get(c, url.ptr, &execution);
        if (rc == 0)
            print_raw(&execution);
        answer_free(&execution);
        sb_free(&url);
        if (rc)
            return rc;
    } else if (json_mode) {
        print_raw(ans);
    }
    if (strcmp(state, "succeeded") == 0) {
        if (!json_mode) {
            char *result = json_text(json_get(ans->json, "result"));
            puts(result);
            free(result);
        }
        return CLI_EXIT_OK;
    }
    const char *error = json_str(ans->json, "error");
    if (strcmp(state, "failed") == 0)
        say(stderr, "tarry: execution %s failed: %s\n", id, error ? error : "(no error message)");
    else
        say(stderr, "tarry: execution %s ended %s%s%s\n", id, state, error ? ": " : "", error ? error : "");
    return CLI_EXIT_FAILED;
}

/*
 * Ids are 26 letters and digits (docs/API.md). Checked here as well as by the
 * host so that a word like "../x" can never address a different endpoint.
 */
static int check_id(const command *cmd, const char *id)
{
    size_t len = strlen(id);
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)id[i]))
            len = 0;
    if (len != 26)
        return value_error(cmd, "'%s' is not an execution id (26 letters and digits, as tarry run prints)",
                           id);
    return 0;
}

/* ---- the commands ------------------------------------------------------------- */

static int cmd_run(client *c, const command *cmd, int argc, char **argv)
{
    enum { O_DELAY, O_AT, O_METADATA, O_WAIT, O_JSON };
    opt opts[] = {{.name = "delay", .kind = OPT_VALUE},    {.name = "at", .kind = OPT_VALUE},
                  {.name = "metadata", .kind = OPT_VALUE}, {.name = "wait", .kind = OPT_WAIT},
                  {.name = "json", .kind = OPT_FLAG},      {.name = NULL}};
    const char *pos[2];
    int npos;
    int rc = parse_args(cmd, argc, argv, opts, pos, 2, &npos);
    if (rc)
        return rc == PARSED_HELP ? CLI_EXIT_OK : rc;
    if (npos < 1 || !*pos[0])
        return usage_error(cmd, "missing NAME, the function to run");
    if (opts[O_DELAY].seen && opts[O_AT].seen)
        return usage_error(cmd, "give --delay or --at, not both");

    char err[256];
    int64_t ms;
    if (opts[O_DELAY].seen && duration_parse(opts[O_DELAY].value, &ms, err, sizeof err) != 0)
        return value_error(cmd, "--delay: %s", err);
    if (opts[O_AT].seen && clock_parse(opts[O_AT].value, &ms, err, sizeof err) != 0)
        return value_error(cmd, "--at: %s (give an RFC 3339 time, e.g. 2026-11-28T10:00:00Z)", err);
    int64_t wait_ms = -1;
    if (opts[O_WAIT].seen && (rc = parse_duration_opt(cmd, &opts[O_WAIT], &wait_ms)) != 0)
        return rc;

    cJSON *body = cJSON_CreateObject();
    char *body_text = NULL;
    char *id = NULL;
    strbuf url = {0};
    answer ans = {0};
    if (!body)
        die_oom();
    if (npos == 2) {
        cJSON *args = parse_json_arg(cmd, "ARGS_JSON", pos[1]);
        if (!args) {
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        cJSON_AddItemToObject(body, "args", args);
    }
    if (opts[O_DELAY].seen && !cJSON_AddStringToObject(body, "delay", opts[O_DELAY].value))
        die_oom();
    if (opts[O_AT].seen && !cJSON_AddStringToObject(body, "run_at", opts[O_AT].value))
        die_oom();
    if (opts[O_METADATA].seen) {
        cJSON *metadata = parse_json_arg(cmd, "--metadata", opts[O_METADATA].value);
        if (!metadata) {
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        cJSON_AddItemToObject(body, "metadata", metadata);
        if (!cJSON_IsObject(metadata)) {
            rc = value_error(cmd,
                             "--metadata must be a JSON object of strings, e.g. '{\"team\": \"growth\"}', "
                             "not %s",
                             json_type_name(metadata));
            goto done;
        }
        const cJSON *entry;
        cJSON_ArrayForEach(entry, metadata)
        {
            if (!cJSON_IsString(entry)) {
                rc =
                    value_error(cmd, "--metadata: the value of \"%s\" is %s; metadata values must be strings",
                                entry->string, json_type_name(entry));
                goto done;
            }
        }
    }
    body_text = cJSON_PrintUnformatted(body);
    if (!body_text)
        die_oom();

    int64_t chunk = wait_ms < 0 ? 0 : wait_ms < CLI_WAIT_CHUNK_MS ? wait_ms : CLI_WAIT_CHUNK_MS;
    url_start(c, &url);
    sb_append(&url, "/v1/functions/");
    url_append_escaped(c, &url, pos[0]);
    sb_append(&url, "/executions");
    if (wait_ms >= 0)
        sb_printf(&url, "?wait=%lldms", (long long)chunk);
    int64_t asked_at = mono_ms();
    if ((rc = client_request(c, url.ptr, body_text, chunk + CLI_ANSWER_SLACK_MS, &ans)) != 0)
        goto done;
    if ((rc = answer_expect(c, &ans, 202, wait_ms >= 0 ? 200 : 202)) != 0)
        goto done;
    const char *answered_id = json_str(ans.json, "id");
    if (!answered_id || !*answered_id) {
        rc = bad_answer(c, "execution \"id\"");
        goto done;
    }
    id = xstrdup(answered_id);

    if (wait_ms < 0) {
        if (opts[O_JSON].seen) {
            print_raw(&ans);
        } else {
            say(stdout, "%s\n", id);
            const char *state = json_str(ans.json, "state");
            if (state && isatty(STDERR_FILENO))
                say(stderr, "tarry: %s is %s\n", pos[0], state);
        }
        rc = CLI_EXIT_OK;
        goto done;
    }
    bool polled = false;
    if (ans.status == 202 && keep_waiting(asked_at, chunk, asked_at + wait_ms)) {
        if ((rc = poll_result(c, id, asked_at + wait_ms, &ans)) != 0)
            goto done;
        polled = true;
    }
    rc = report_outcome(c, id, &ans, wait_ms, opts[O_JSON].seen, polled, true);
done:
    answer_free(&ans);
    sb_free(&url);
    free(id);
    free(body_text);
    cJSON_Delete(body);
    return rc;
}

static int cmd_result(client *c, const command *cmd, int argc, char **argv)
{
    enum { O_WAIT, O_JSON };
    opt opts[] = {{.name = "wait", .kind = OPT_VALUE}, {.name = "json", .kind = OPT_FLAG}, {.name = NULL}};
    const char *pos[1];
    int npos;
    int64_t wait_ms;
    int rc = parse_args(cmd, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc == PARSED_HELP ? CLI_EXIT_OK : rc;
    if (npos < 1 || !*pos[0])
        return usage_error(cmd, "missing ID, the execution's id");
    if ((rc = check_id(cmd, pos[0])) != 0)
        return rc;
    if ((rc = parse_duration_opt(cmd, &opts[O_WAIT], &wait_ms)) != 0)
        return rc;
    answer ans = {0};
    if ((rc = poll_result(c, pos[0], mono_ms() + wait_ms, &ans)) == 0)
        rc = report_outcome(c, pos[0], &ans, wait_ms, opts[O_JSON].seen, false, false);
    answer_free(&ans);
    return rc;
}

static bool is_final(const char *state)
{
    static const char *const finals[] = {"succeeded", "failed", "cancelled", "discarded"};
    for (size_t i = 0; state && i < sizeof finals / sizeof finals[0]; i++)
        if (strcmp(state, finals[i]) == 0)
            return true;
    return false;
}

/* Print "label: text", indenting any further lines of text under the first. */
static void print_field(const char *label, const char *text)
{
    printf("%-11s", label);
    for (const char *line = text;;) {
        size_t len = strcspn(line, "\n");
        put_clean(stdout, line, len);
        fputc('\n', stdout);
        if (line[len] == '\0')
            break;
        line += len + 1;
        printf("%11s", "");
    }
}

static void print_json_field(const char *label, const cJSON *item)
{
    char *text = json_cell(item);
    print_field(label, text);
    free(text);
}

/* A time field, followed by how long after `since` it was, when both parse. */
static void print_time_field(const char *label, const cJSON *obj, const char *key, const char *since_key,
                             const char *since_word)
{
    const char *when = json_str(obj, key);
    const char *since = since_key ? json_str(obj, since_key) : NULL;
    int64_t when_ms, since_ms;
    char err[64], took[64];
    strbuf text = {0};
    sb_append(&text, when ? when : "-");
    if (when && since && clock_parse(when, &when_ms, err, sizeof err) == 0 &&
        clock_parse(since, &since_ms, err, sizeof err) == 0 && when_ms >= since_ms) {
        duration_format(when_ms - since_ms, took, sizeof took);
        sb_printf(&text, " (%s %s)", since_word, took);
    }
    print_field(label, text.ptr);
    sb_free(&text);
}

/* The time member `key` of obj in Unix ms; false when it is missing, null or not RFC 3339. */
static bool json_time(const cJSON *obj, const char *key, int64_t *out_ms)
{
    const char *text = json_str(obj, key);
    return text && clock_parse(text, out_ms, NULL, 0) == 0;
}

/* "in 23h 59m", "5s ago" or "now" (within a second) for when_ms seen at now_ms. */
static void relative_text(int64_t when_ms, int64_t now_ms, char *out, size_t outlen)
{
    char span[64];
    int64_t diff = when_ms - now_ms;
    if (diff > -1000 && diff < 1000) {
        snprintf(out, outlen, "now");
        return;
    }
    duration_format(diff < 0 ? -diff : diff, span, sizeof span);
    snprintf(out, outlen, diff < 0 ? "%s ago" : "in %s", span);
}

/* Append "WORD TIME (in D)" for the time member `key` of obj; false (nothing appended) when it has none. */
static bool sb_append_when(strbuf *sb, const char *word, const cJSON *obj, const char *key, int64_t now_ms)
{
    int64_t when_ms;
    char rel[80];
    const char *text = json_str(obj, key);
    if (!text)
        return false;
    sb_printf(sb, "%s%s%s", word, *word ? " " : "", text);
    if (json_time(obj, key, &when_ms)) {
        relative_text(when_ms, now_ms, rel, sizeof rel);
        sb_printf(sb, " (%s)", rel);
    }
    return true;
}

/* Append s cut to at most max_cols terminal columns, ending in "..." when it was cut. */
static void sb_append_cut(strbuf *sb, const char *s, size_t max_cols)
{
    if (text_width(s) <= max_cols) {
        sb_append(sb, s);
        return;
    }
    size_t cols = 0, len = 0;
    for (; s[len]; len++) {
        if (((unsigned char)s[len] & 0xc0) != 0x80 && cols++ == max_cols - 3)
            break;
    }
    sb_append_n(sb, s, len);
    sb_append(sb, "...");
}

#define CLI_TIMELINE_NAME_COLS 24     /* a longer call, step or sleep name is cut */
#define CLI_TIMELINE_VALUE_COLS 60    /* so is a longer result or error */
#define CLI_TIMELINE_CHILD_LOOKUPS 20 /* pending calls whose child `show` asks the host about */

/*
 * What the child of a pending call is doing, from its execution object:
 * "starts T (in D)", "running for D", "waiting, wakes T (in D)", "queued",
 * "blocked: why". Appends nothing when the host does not say.
 */
static void describe_child(client *c, const char *child_id, int64_t now_ms, strbuf *out)
{
    strbuf url = {0};
    answer ans = {0};
    char took[64];
    int64_t started_ms;
    url_start(c, &url);
    sb_append(&url, "/v1/executions/");
    url_append_escaped(c, &url, child_id);
    /* Quietly: the timeline is shown without it when this fails. */
    const char *state = NULL;
    if (client_request(c, url.ptr, NULL, CLI_ANSWER_SLACK_MS, &ans) == 0 && ans.status == 200)
        state = json_str(ans.json, "state");
    if (state) {
        const char *error = json_str(ans.json, "error");
        if (strcmp(state, "scheduled") == 0) {
            if (!sb_append_when(out, "starts", ans.json, "scheduled_at", now_ms))
                sb_append(out, state);
        } else if (strcmp(state, "running") == 0 && json_time(ans.json, "started_at", &started_ms) &&
                   now_ms >= started_ms) {
            duration_format(now_ms - started_ms, took, sizeof took);
            sb_printf(out, "running for %s", took);
        } else if (strcmp(state, "waiting") == 0 && json_str(ans.json, "wake_at")) {
            sb_append_when(out, "waiting, wakes", ans.json, "wake_at", now_ms);
        } else {
            sb_append(out, state);
            if (error) {
                sb_append(out, ": ");
                sb_append_cut(out, error, CLI_TIMELINE_VALUE_COLS);
            }
        }
    }
    answer_free(&ans);
    sb_free(&url);
}

/* A settled entry's duration ("12ms"), or "" when its times do not say. */
static void entry_took(const cJSON *entry, char *out, size_t outlen)
{
    int64_t started_ms, finished_ms;
    out[0] = '\0';
    if (json_time(entry, "started_at", &started_ms) && json_time(entry, "finished_at", &finished_ms) &&
        finished_ms >= started_ms)
        duration_format(finished_ms - started_ms, out, outlen);
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
    table rows = {.ncols = 6};
    strbuf name = {0}, last = {0};
    char took[64], seq[32];
    const cJSON *entry;
    size_t took_cols = 0;
    cJSON_ArrayForEach(entry, journal)
    {
        entry_took(entry, took, sizeof took);
        const char *status = json_str(entry, "status");
        if (status && strcmp(status, "pending") != 0 && text_width(took) > took_cols)
            took_cols = text_width(took);
    }
    int lookups = 0;
    cJSON_ArrayForEach(entry, journal)
    {
        const char *kind = json_str(entry, "kind");
        const char *status = json_str(entry, "status");
        const char *child_id = json_str(entry, "child_id");
        const cJSON *seq_item = json_get(entry, "seq");
        if (cJSON_IsNumber(seq_item) && seq_item->valuedouble >= 0 && seq_item->valuedouble < 1e15)
            snprintf(seq, sizeof seq, "  #%lld", (long long)seq_item->valuedouble);
        else
            snprintf(seq, sizeof seq, "  #?");
        name.len = 0;
        sb_append_cut(&name, json_str(entry, "name") ? json_str(entry, "name") : "-", CLI_TIMELINE_NAME_COLS);
        last.len = 0;
        sb_append(&last, "");
        if (!status || strcmp(status, "pending") == 0) {
            bool sleep = kind && strcmp(kind, "sleep") == 0;
            int64_t started_ms;
            /* A call's child says best (it may have been rescheduled); the entry's wake_at is the
             * start its delay asked for. */
            if (child_id && lookups < CLI_TIMELINE_CHILD_LOOKUPS) {
                lookups++;
                describe_child(c, child_id, now_ms, &last);
            }
            if (last.len == 0)
                sb_append_when(&last, sleep ? "wakes" : "starts", entry, "wake_at", now_ms);
            if (last.len == 0 && json_time(entry, "started_at", &started_ms) && now_ms >= started_ms) {
                duration_format(now_ms - started_ms, took, sizeof took);
                sb_printf(&last, "for %s", took);
            }
        } else {
            entry_took(entry, took, sizeof took);
            const char *error = json_str(entry, "error");
            const cJSON *result = json_get(entry, "result");
            char *value = NULL;
            if (error) {
                value = xstrdup(error);
            } else if (kind && strcmp(kind, "now") == 0 && cJSON_IsNumber(result) &&
                       result->valuedouble >= 0 && result->valuedouble < 1e15) {
                /* Unix ms: shown as a time. */
                char when[CLOCK_TEXT_LEN + 1];
                clock_format((int64_t)result->valuedouble, when);
                value = xstrdup(when);
            } else if (result && !cJSON_IsNull(result)) {
                value = json_text(result);
            }
            sb_printf(&last, "%s", took);
            if (value) {
                sb_printf(&last, "%*s", (int)(took_cols - text_width(took) + (took_cols ? 2 : 0)), "");
                sb_append_cut(&last, value, CLI_TIMELINE_VALUE_COLS);
            }
            free(value);
        }
        table_add(&rows, (const char *[]){seq, kind ? kind : "?", name.ptr, status ? status : "?",
                                          child_id ? child_id : "", last.ptr});
    }
    puts("journal:");
    table_print(&rows, stdout);
    table_free(&rows);
    sb_free(&name);
    sb_free(&last);
}

static int cmd_show(client *c, const command *cmd, int argc, char **argv)
{
    enum { O_JSON };
    opt opts[] = {{.name = "json", .kind = OPT_FLAG}, {.name = NULL}};
    const char *pos[1];
    int npos;
    int rc = parse_args(cmd, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc == PARSED_HELP ? CLI_EXIT_OK : rc;
    if (npos < 1 || !*pos[0])
        return usage_error(cmd, "missing ID, the execution's id");
    if ((rc = check_id(cmd, pos[0])) != 0)
        return rc;
    strbuf url = {0};
    answer ans = {0};
    url_start(c, &url);
    sb_append(&url, "/v1/executions/");
    url_append_escaped(c, &url, pos[0]);
    if ((rc = client_get(c, url.ptr, &ans)) != 0)
        goto done;
    if (opts[O_JSON].seen) {
        print_raw(&ans);
        goto done;
    }
    const cJSON *x = ans.json;
    const cJSON *plugin = json_get(x, "plugin");
    if (!json_str(x, "id")) {
        rc = bad_answer(c, "execution \"id\"");
        goto done;
    }
    strbuf line = {0};
    print_json_field("id:", json_get(x, "id"));
    print_json_field("function:", json_get(x, "function"));
    print_json_field("state:", json_get(x, "state"));
    if (cJSON_IsObject(plugin))
        sb_printf(&line, "%s %s", json_str(plugin, "name") ? json_str(plugin, "name") : "?",
                  json_str(plugin, "version") ? json_str(plugin, "version") : "?");
    print_field("plugin:", line.ptr ? line.ptr : "-");
    print_json_field("attempts:", json_get(x, "attempts"));
    print_time_field("created:", x, "created_at", NULL, NULL);
    const char *state = json_str(x, "state");
    if (state && strcmp(state, "scheduled") == 0) {
        /* Not started yet: when, from now. */
        line.len = 0;
        if (!sb_append_when(&line, "", x, "scheduled_at", clock_now_ms()))
            sb_append(&line, "-");
        print_field("scheduled:", line.ptr);
    } else {
        print_time_field("scheduled:", x, "scheduled_at", NULL, NULL);
    }
    print_time_field("started:", x, "started_at", "scheduled_at", "waited");
    print_time_field("finished:", x, "finished_at", "started_at", "ran");
    line.len = 0;
    if (sb_append_when(&line, "", x, "wake_at", clock_now_ms()))
        print_field("wakes:", line.ptr);
    print_json_field("parent:", json_get(x, "parent_id"));
    line.len = 0;
    const cJSON *child;
    cJSON_ArrayForEach(child, json_get(x, "children"))
    {
        /* Ids, as docs/API.md says; an object with an id is taken too. */
        const char *child_id = cJSON_IsString(child) ? child->valuestring : json_str(child, "id");
        sb_printf(&line, "%s%s", line.len ? ", " : "", child_id ? child_id : "?");
    }
    print_field("children:", line.len ? line.ptr : "-");
    char *text = json_text(json_get(x, "args"));
    print_field("args:", text);
    free(text);
    const char *error = json_str(x, "error");
    if (error) {
        print_field("error:", error);
    } else if (is_final(json_str(x, "state")) || !cJSON_IsNull(json_get(x, "result"))) {
        text = json_text(json_get(x, "result"));
        print_field("result:", text);
        free(text);
    } else {
        print_field("result:", "- (not final yet)");
    }
    const cJSON *metadata = json_get(x, "metadata");
    if (cJSON_IsObject(metadata) && metadata->child) {
        text = json_text(metadata);
        print_field("metadata:", text);
        free(text);
    } else {
        print_field("metadata:", "-");
    }
    print_timeline(c, json_get(x, "journal"), is_final(state));
    sb_free(&line);
done:
    answer_free(&ans);
    sb_free(&url);
    return rc;
}

static int cmd_reschedule(client *c, const command *cmd, int argc, char **argv)
{
    enum { O_IN, O_AT, O_JSON };
    opt opts[] = {{.name = "in", .kind = OPT_VALUE},
                  {.name = "at", .kind = OPT_VALUE},
                  {.name = "json", .kind = OPT_FLAG},
                  {.name = NULL}};
    const char *pos[1];
    int npos;
    int rc = parse_args(cmd, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc == PARSED_HELP ? CLI_EXIT_OK : rc;
    if (npos < 1 || !*pos[0])
        return usage_error(cmd, "missing ID, the execution's id");
    if (opts[O_IN].seen && opts[O_AT].seen)
        return usage_error(cmd, "give --in or --at, not both");
    if ((rc = check_id(cmd, pos[0])) != 0)
        return rc;
    char err[256];
    int64_t ms;
    if (opts[O_IN].seen && duration_parse(opts[O_IN].value, &ms, err, sizeof err) != 0)
        return value_error(cmd, "--in: %s", err);
    if (opts[O_AT].seen && clock_parse(opts[O_AT].value, &ms, err, sizeof err) != 0)
        return value_error(cmd, "--at: %s (give an RFC 3339 time, e.g. 2026-11-28T10:00:00Z)", err);

    cJSON *body = cJSON_CreateObject();
    if (!body)
        die_oom();
    if (opts[O_IN].seen && !cJSON_AddStringToObject(body, "in", opts[O_IN].value))
        die_oom();
    if (opts[O_AT].seen && !cJSON_AddStringToObject(body, "at", opts[O_AT].value))
        die_oom();
    char *body_text = cJSON_PrintUnformatted(body);
    if (!body_text)
        die_oom();
    strbuf url = {0};
    strbuf line = {0};
    answer ans = {0};
    url_start(c, &url);
    sb_append(&url, "/v1/executions/");
    url_append_escaped(c, &url, pos[0]);
    sb_append(&url, "/schedule");
    if ((rc = client_send(c, "PATCH", url.ptr, body_text, CLI_ANSWER_SLACK_MS, &ans)) != 0)
        goto done;
    if ((rc = answer_expect(c, &ans, 200, 200)) != 0)
        goto done;
    if (opts[O_JSON].seen) {
        print_raw(&ans);
        goto done;
    }
    const char *state = json_str(ans.json, "state");
    const char *function = json_str(ans.json, "function");
    if (!state) {
        rc = bad_answer(c, "execution \"state\"");
        goto done;
    }
    int64_t now_ms = clock_now_ms();
    /* A sleep's end, a delayed start, or a timer that already fired. */
    if (!sb_append_when(&line, "wakes", ans.json, "wake_at", now_ms) &&
        !(strcmp(state, "scheduled") == 0 &&
          sb_append_when(&line, "starts", ans.json, "scheduled_at", now_ms)))
        sb_printf(&line, "is %s: its timer fired", state);
    say(stdout, "%s %s %s\n", pos[0], function ? function : "?", line.ptr);
done:
    answer_free(&ans);
    sb_free(&line);
    sb_free(&url);
    free(body_text);
    cJSON_Delete(body);
    return rc;
}

static void url_add_query(client *c, strbuf *url, const char *key, const opt *o)
{
    if (!o->seen)
        return;
    sb_printf(url, "%c%s=", strchr(url->ptr, '?') ? '&' : '?', key);
    url_append_escaped(c, url, o->value);
}

static int cmd_ls(client *c, const command *cmd, int argc, char **argv)
{
    enum { O_FUNCTION, O_STATE, O_LIMIT, O_CURSOR, O_JSON };
    opt opts[] = {{.name = "function", .kind = OPT_VALUE}, {.name = "state", .kind = OPT_VALUE},
                  {.name = "limit", .kind = OPT_VALUE},    {.name = "cursor", .kind = OPT_VALUE},
                  {.name = "json", .kind = OPT_FLAG},      {.name = NULL}};
    const char *pos[1];
    int npos;
    int rc = parse_args(cmd, argc, argv, opts, pos, 0, &npos);
    if (rc)
        return rc == PARSED_HELP ? CLI_EXIT_OK : rc;
    strbuf url = {0};
    answer ans = {0};
    table rows = {.ncols = 6};
    url_start(c, &url);
    sb_append(&url, "/v1/executions");
    url_add_query(c, &url, "function", &opts[O_FUNCTION]);
    url_add_query(c, &url, "state", &opts[O_STATE]);
    url_add_query(c, &url, "limit", &opts[O_LIMIT]);
    url_add_query(c, &url, "cursor", &opts[O_CURSOR]);
    if ((rc = client_get(c, url.ptr, &ans)) != 0)
        goto done;
    if (opts[O_JSON].seen) {
        print_raw(&ans);
        goto done;
    }
    const cJSON *data = json_get(ans.json, "data");
    if (!cJSON_IsArray(data)) {
        rc = bad_answer(c, "\"data\" list");
        goto done;
    }
    table_add(&rows, (const char *[]){"ID", "FUNCTION", "STATE", "ATTEMPTS", "CREATED", "FINISHED"});
    const cJSON *x;
    cJSON_ArrayForEach(x, data)
    {
        static const char *const keys[] = {"id",       "function",   "state",
                                           "attempts", "created_at", "finished_at"};
        char *cells[6];
        for (int i = 0; i < 6; i++)
            cells[i] = json_cell(json_get(x, keys[i]));
        table_add(&rows, (const char *const *)cells);
        for (int i = 0; i < 6; i++)
            free(cells[i]);
    }
    if (rows.nrows == 1)
        fputs("tarry: no executions match\n", stderr);
    else
        table_print(&rows, stdout);
    const char *next = json_str(ans.json, "next_cursor");
    if (next && *next) {
        strbuf hint = {0};
        sb_append(&hint, "tarry");
        if (c->url_given) {
            sb_append(&hint, " --url ");
            sb_append_shell_word(&hint, c->base_url);
        }
        sb_append(&hint, " ls");
        for (int i = O_FUNCTION; i <= O_LIMIT; i++) {
            if (opts[i].seen) {
                sb_printf(&hint, " --%s ", opts[i].name);
                sb_append_shell_word(&hint, opts[i].value);
            }
        }
        sb_append(&hint, " --cursor ");
        sb_append_shell_word(&hint, next);
        say(stdout, "more: %s\n", hint.ptr);
        sb_free(&hint);
    }
done:
    table_free(&rows);
    answer_free(&ans);
    sb_free(&url);
    return rc;
}

static int cmd_logs(client *c, const command *cmd, int argc, char **argv)
{
    enum { O_JSON };
    opt opts[] = {{.name = "json", .kind = OPT_FLAG}, {.name = NULL}};
    const char *pos[1];
    int npos;
    int rc = parse_args(cmd, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc == PARSED_HELP ? CLI_EXIT_OK : rc;
    if (npos < 1 || !*pos[0])
        return usage_error(cmd, "missing ID, the execution's id");
    if ((rc = check_id(cmd, pos[0])) != 0)
        return rc;
    strbuf url = {0};
    answer ans = {0};
    url_start(c, &url);
    sb_append(&url, "/v1/executions/");
    url_append_escaped(c, &url, pos[0]);
    sb_append(&url, "/logs");
    if ((rc = client_get(c, url.ptr, &ans)) != 0)
        goto done;
    if (opts[O_JSON].seen) {
        print_raw(&ans);
        goto done;
    }
    const cJSON *data = json_get(ans.json, "data");
    if (!cJSON_IsArray(data)) {
        rc = bad_answer(c, "\"data\" list");
        goto done;
    }
    if (!data->child)
        say(stderr, "tarry: execution %s has no log lines\n", pos[0]);
    const cJSON *entry;
    cJSON_ArrayForEach(entry, data)
    {
        const char *time = json_str(entry, "time");
        const char *level = json_str(entry, "level");
        const char *message = json_str(entry, "message");
        say(stdout, "%s  %-5s  %s\n", time ? time : "-", level ? level : "-", message ? message : "");
    }
done:
    answer_free(&ans);
    sb_free(&url);
    return rc;
}

static int cmd_functions(client *c, const command *cmd, int argc, char **argv)
{
    enum { O_JSON };
    opt opts[] = {{.name = "json", .kind = OPT_FLAG}, {.name = NULL}};
    const char *pos[1];
    int npos;
    int rc = parse_args(cmd, argc, argv, opts, pos, 0, &npos);
    if (rc)
        return rc == PARSED_HELP ? CLI_EXIT_OK : rc;
    strbuf url = {0};
    answer ans = {0};
    table rows = {.ncols = 4};
    url_start(c, &url);
    sb_append(&url, "/v1/functions");
    if ((rc = client_get(c, url.ptr, &ans)) != 0)
        goto done;
    if (opts[O_JSON].seen) {
        print_raw(&ans);
        goto done;
    }
    const cJSON *data = json_get(ans.json, "data");
    if (!cJSON_IsArray(data)) {
        rc = bad_answer(c, "\"data\" list");
        goto done;
    }
    table_add(&rows, (const char *[]){"FUNCTION", "PLUGIN", "VERSION", "FILE"});
    const cJSON *fn;
    cJSON_ArrayForEach(fn, data)
    {
        const cJSON *plugin = json_get(fn, "plugin");
        table_add(&rows, (const char *[]){json_str(fn, "name"), json_str(plugin, "name"),
                                          json_str(plugin, "version"), json_str(plugin, "file")});
    }
    if (rows.nrows == 1)
        fputs("tarry: no functions are loaded (tarry plugins shows the plugins and their load errors)\n",
              stderr);
    else
        table_print(&rows, stdout);
done:
    table_free(&rows);
    answer_free(&ans);
    sb_free(&url);
    return rc;
}

/* `plugins` lists GET /v1/plugins; `reload` POSTs a reload and lists what it
 * did, exiting 1 when a plugin was refused. */
static int plugins_table(client *c, const command *cmd, int argc, char **argv, bool reload)
{
    enum { O_JSON };
    opt opts[] = {{.name = "json", .kind = OPT_FLAG}, {.name = NULL}};
    const char *pos[1];
    int npos;
    int rc = parse_args(cmd, argc, argv, opts, pos, 0, &npos);
    if (rc)
        return rc == PARSED_HELP ? CLI_EXIT_OK : rc;
    strbuf url = {0};
    strbuf functions = {0};
    answer ans = {0};
    table rows = {.ncols = 5};
    url_start(c, &url);
    sb_append(&url, reload ? "/v1/plugins/reload" : "/v1/plugins");
    if ((rc = reload ? client_send(c, "POST", url.ptr, "{}", 0, &ans) : client_get(c, url.ptr, &ans)) != 0)
        goto done;
    if (opts[O_JSON].seen) {
        print_raw(&ans);
        if (reload && json_get(ans.json, "errors") && cJSON_GetNumberValue(json_get(ans.json, "errors")) > 0)
            rc = CLI_EXIT_FAILED;
        goto done;
    }
    const cJSON *data = json_get(ans.json, "data");
    if (!cJSON_IsArray(data)) {
        rc = bad_answer(c, "\"data\" list");
        goto done;
    }
    table_add(&rows, (const char *[]){"FILE", "NAME", "VERSION", "STATE", "FUNCTIONS"});
    int failed = 0;
    const cJSON *plugin;
    cJSON_ArrayForEach(plugin, data)
    {
        functions.len = 0;
        const cJSON *fn;
        cJSON_ArrayForEach(fn, json_get(plugin, "functions"))
        {
            sb_printf(&functions, "%s%s", functions.len ? ", " : "",
                      cJSON_IsString(fn) ? fn->valuestring : "?");
        }
        table_add(&rows, (const char *[]){json_str(plugin, "file"), json_str(plugin, "name"),
                                          json_str(plugin, "version"), json_str(plugin, "state"),
                                          functions.len ? functions.ptr : "-"});
        if (json_str(plugin, "error"))
            failed++;
    }
    if (rows.nrows == 1) {
        fputs("tarry: the host found no plugins (check its --plugins folder)\n", stderr);
        goto done;
    }
    table_print(&rows, stdout);
    if (failed) {
        if (reload)
            rc = CLI_EXIT_FAILED;
        printf("\n%d plugin%s did not load%s:\n", failed, failed == 1 ? "" : "s",
               reload ? " (the version before each keeps serving)" : "");
        cJSON_ArrayForEach(plugin, data)
        {
            const char *error = json_str(plugin, "error");
            const char *file = json_str(plugin, "file");
            /* The host's messages usually name the file already. */
            if (error && file && strncmp(error, file, strlen(file)) != 0)
                say(stdout, "  %s: %s\n", file, error);
            else if (error)
                say(stdout, "  %s\n", error);
        }
    }
done:
    table_free(&rows);
    answer_free(&ans);
    sb_free(&functions);
    sb_free(&url);
    return rc;
}

static int cmd_plugins(client *c, const command *cmd, int argc, char **argv)
{
    return plugins_table(c, cmd, argc, argv, false);
}

/* POST /v1/executions/ID/upgrade; prints "ID FUNCTION -> plugin VERSION (HASH), STATE". */
static int upgrade_one(client *c, const char *id, const char *to, bool json)
{
    strbuf url = {0}, body = {0};
    answer ans = {0};
    int rc;

    url_start(c, &url);
    sb_append(&url, "/v1/executions/");
    url_append_escaped(c, &url, id);
    sb_append(&url, "/upgrade");
    if (to)
        sb_printf(&body, "{\"to\":\"%s\"}", to);
    else
        sb_append(&body, "{}");
    if ((rc = client_send(c, "POST", url.ptr, body.ptr, CLI_ANSWER_SLACK_MS, &ans)) == 0 &&
        (rc = answer_expect(c, &ans, 200, 200)) == 0) {
        const cJSON *plugin = json_get(ans.json, "plugin");
        if (json)
            print_raw(&ans);
        else
            say(stdout, "%s %s -> plugin %s %s (%s), %s\n", id, json_str(ans.json, "function"),
                json_str(plugin, "name"), json_str(plugin, "version"), json_str(plugin, "hash"),
                json_str(ans.json, "state"));
    }
    answer_free(&ans);
    sb_free(&url);
    sb_free(&body);
    return rc;
}

static int cmd_upgrade(client *c, const command *cmd, int argc, char **argv)
{
    enum { O_FUNCTION, O_TO, O_JSON };
    opt opts[] = {{.name = "function", .kind = OPT_VALUE},
                  {.name = "to", .kind = OPT_VALUE},
                  {.name = "json", .kind = OPT_FLAG},
                  {.name = NULL}};
    static const char *const states[] = {"waiting", "blocked", "queued", "scheduled"};
    const char *pos[1];
    int npos, failures = 0;
    int rc = parse_args(cmd, argc, argv, opts, pos, 1, &npos);

    if (rc)
        return rc == PARSED_HELP ? CLI_EXIT_OK : rc;
    if ((npos == 1) == opts[O_FUNCTION].seen)
        return usage_error(cmd, "give an execution ID or --function F (one of them)");
    if (npos == 1)
        return (rc = check_id(cmd, pos[0])) != 0
                   ? rc
                   : upgrade_one(c, pos[0], opts[O_TO].value, opts[O_JSON].seen);
    /* Every unfinished, not running execution of the function, page by page. */
    for (size_t s = 0; s < sizeof states / sizeof states[0]; s++) {
        strbuf url = {0};
        answer ans = {0};
        url_start(c, &url);
        sb_append(&url, "/v1/executions?limit=1000&function=");
        url_append_escaped(c, &url, opts[O_FUNCTION].value);
        sb_printf(&url, "&state=%s", states[s]);
        if ((rc = client_get(c, url.ptr, &ans)) == 0) {
            const cJSON *item;
            cJSON_ArrayForEach(item, json_get(ans.json, "data"))
            {
                const char *id = json_str(item, "id");
                if (id && upgrade_one(c, id, opts[O_TO].value, opts[O_JSON].seen) != 0)
                    failures++;
            }
        }
        answer_free(&ans);
        sb_free(&url);
        if (rc)
            return rc;
    }
    return failures ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

static int cmd_reload(client *c, const command *cmd, int argc, char **argv)
{
    return plugins_table(c, cmd, argc, argv, true);
}

static const command commands[] = {
    {"run", "run NAME [ARGS_JSON] [--delay D | --at TIME] [--metadata JSON] [--wait[=D]] [--json]",
     "run NAME [ARGS_JSON] [options]", "trigger a function; prints its id, or its result with --wait",
     "Without --wait, prints the new execution's id on stdout. With --wait, waits for\n"
     "the outcome: prints the result JSON and exits 0 when it succeeded, prints the\n"
     "error and exits 1 when it failed, prints the id and exits 3 when it is still\n"
     "not finished after the wait.\n\n"
     "  ARGS_JSON         the arguments, any JSON (default null); quote it for the shell\n"
     "  --delay D         start after a duration: 90s, 2 hours, 1 day, 1h 30m\n"
     "  --at TIME         start at an RFC 3339 time, e.g. 2026-11-28T10:00:00Z\n"
     "  --metadata JSON   a JSON object of strings kept with the execution\n"
     "  --wait[=D]        wait for the outcome, 30s unless D is given (--wait 5m works too;\n"
     "                    write a number ARGS_JSON before a bare --wait)\n"
     "  --json            print the API's JSON answer instead\n",
     cmd_run},
    {"show", "show ID [--json]", "show ID", "one execution: its fields, then its journal as a timeline",
     "Prints the execution's state, plugin, attempts, times (and when a durable\n"
     "sleep ends), parent, children, args, result or error and metadata, then its\n"
     "journal: one line per durable command (call, step, sleep, now) with its\n"
     "position, kind, name, status, the child a call started, and how long it took\n"
     "and its result or error, or, while pending, when it starts or wakes.\n\n"
     "  --json            print the API's execution object instead\n",
     cmd_show},
    {"reschedule", "reschedule ID [--in D | --at TIME] [--json]", "reschedule ID [--in D | --at TIME]",
     "move a pending timer: a delayed start or a durable sleep",
     "Moves the execution's pending timer: the start of a scheduled execution, or\n"
     "the end of the durable sleep a waiting one is in. Without --in or --at it\n"
     "fires now. Prints the id, the function and the new time. An execution with\n"
     "no pending timer (running, or waiting on a child) is an error (exit 1).\n\n"
     "  --in D            fire after a duration from now: 90s, 2 hours, 1 day, 1h 30m\n"
     "  --at TIME         fire at an RFC 3339 time, e.g. 2026-11-28T10:00:00Z\n"
     "  --json            print the API's execution object instead\n",
     cmd_reschedule},
    {"ls", "ls [--function F] [--state S] [--limit N] [--cursor C] [--json]",
     "ls [--function F] [--state S] [options]", "list executions, newest first",
     "  --function F      only executions of function F\n"
     "  --state S         only executions in state S: scheduled, queued, running, waiting,\n"
     "                    succeeded, failed, cancelled, discarded, blocked\n"
     "  --limit N         at most N rows, 1..1000 (default 50)\n"
     "  --cursor C        the next page, as the last line of the previous page says\n"
     "  --json            print the API's JSON answer instead\n",
     cmd_ls},
    {"result", "result ID [--wait D] [--json]", "result ID [--wait D]",
     "wait for an execution's outcome; prints its result",
     "Prints the result JSON and exits 0 when it succeeded, prints the error and\n"
     "exits 1 when it failed (or was cancelled or discarded), exits 3 when it is\n"
     "still not finished after the wait.\n\n"
     "  --wait D          how long to wait (default 30s; 0s only looks)\n"
     "  --json            print the API's JSON answer instead\n",
     cmd_result},
    {"logs", "logs ID [--json]", "logs ID", "an execution's log lines",
     "  --json            print the API's JSON answer instead\n", cmd_logs},
    {"functions", "functions [--json]", "functions", "the loaded functions",
     "  --json            print the API's JSON answer instead\n", cmd_functions},
    {"plugins", "plugins [--json]", "plugins", "the plugins and their load errors",
     "  --json            print the API's JSON answer instead\n", cmd_plugins},
    {"upgrade", "upgrade ID|--function F [--to HASH] [--json]", "upgrade ID|--function F [--to HASH]",
     "move waiting or blocked executions to a newer plugin version",
     "An execution keeps the plugin version it started on. This moves one (or every\n"
     "waiting, blocked, queued or scheduled execution of function F) to the current\n"
     "version, or to the loaded version HASH (see tarry plugins --json). The next\n"
     "replay runs the new code against the journal: if it issues different commands\n"
     "the execution is blocked with the reason, and an upgrade to a fixed version\n"
     "(or back) resumes it. A blocked execution is queued to replay at once.\n\n"
     "  --function F      every such execution of function F\n"
     "  --to HASH         a loaded version instead of the current one\n"
     "  --json            print the API's execution objects instead\n",
     cmd_upgrade},
    {"reload", "reload [--json]", "reload", "rescan the plugins folder and load new versions",
     "Asks the host to rescan its plugins folder (as SIGHUP does): a changed .so is\n"
     "copied into the version store and loaded; once valid it serves new triggers,\n"
     "while executions keep the version they started on. Prints what each file did\n"
     "(loaded, unchanged, error, removed) and exits 1 if a plugin was refused.\n\n"
     "  --json            print the API's JSON answer instead\n",
     cmd_reload},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const command *command_find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void cli_usage(FILE *out)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-40s %s\n", commands[i].brief, commands[i].summary);
}

int cli_main(int argc, char **argv)
{
    const char *url = NULL;
    char **words = xrealloc(NULL, (size_t)(argc + 1) * sizeof *words);
    int nwords = 0;
    int rc = CLI_EXIT_USAGE;
    bool options_done = false;

    for (int i = 0; i < argc; i++) {
        if (!options_done && strcmp(argv[i], "--url") == 0) {
            if (i + 1 == argc) {
                fputs("tarry: --url needs a value, e.g. --url http://127.0.0.1:7373\n", stderr);
                goto done;
            }
            url = argv[++i];
        } else if (!options_done && strncmp(argv[i], "--url=", 6) == 0) {
            url = argv[i] + 6;
        } else {
            if (strcmp(argv[i], "--") == 0)
                options_done = true;
            words[nwords++] = argv[i];
        }
    }
    words[nwords] = NULL;
    bool url_given = url != NULL;
    if (!url)
        url = getenv("TARRY_URL");
    if (!url || !*url)
        url = CLI_DEFAULT_URL;

    if (nwords == 0) {
        fputs("tarry: which command? one of:\n", stderr);
        cli_usage(stderr);
        goto done;
    }
    if (strcmp(words[0], "help") == 0 || strcmp(words[0], "--help") == 0 || strcmp(words[0], "-h") == 0) {
        const command *cmd = nwords > 1 ? command_find(words[1]) : NULL;
        if (cmd)
            command_help(cmd, stdout);
        else
            cli_usage(stdout);
        rc = CLI_EXIT_OK;
        goto done;
    }
    const command *cmd = command_find(words[0]);
    if (!cmd) {
        say(stderr, "tarry: unknown command '%s'; the client commands are:\n", words[0]);
        cli_usage(stderr);
        goto done;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("tarry: cannot initialise libcurl\n", stderr);
        goto done;
    }
    client c;
    if ((rc = client_init(&c, url, url_given)) == 0)
        rc = cmd->run(&c, cmd, nwords, words);
    client_free(&c);
    curl_global_cleanup();
done:
    /* An id or result that did not reach its file or pipe must not look like success. */
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == CLI_EXIT_OK) {
        perror("tarry: writing the output failed");
        rc = CLI_EXIT_USAGE;
    }
    free(words);
    return rc;
}
