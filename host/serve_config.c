/*
 * serve_config.c - `tarry serve`'s flags and environment variables
 * (serve_config.h): the usage text, the defaults, and each setting checked
 * as it is read, so a bad value stops the host before it touches anything.
 *
 * Each setting is one OPT_* value: a flag and its TARRY_* variable go
 * through the same apply_setting(), so both are checked alike and an error
 * names the one the value came from.
 *
 * May not: open the store, bind a socket or start anything.
 */
#include "serve_config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytesize.h"
#include "duration.h"
#include "engine.h" /* ENGINE_ADDRESS_MAX */
#include "hlog.h"
#include "store.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: tarry serve [--plugins DIR] [--data DIR] [--store URL] [--listen ADDR:PORT] [--workers N]\n"
        "                   [--map-size SIZE]"
        " [--queue-window N] [--log-max-lines N] [--log-line-max SIZE]\n"
        "                   [--memory-limit SIZE] [--stuck-after D] [--poison-crashes N]\n"
        "                   [--quarantine-crashes N] [--quarantine-window D] [--idempotency-ttl D] "
        "[--log-format F] [--retention D] [--lease D] [--advertise HOST:PORT] [--watch] "
        "[--no-supervisor] "
        "[--init]\n"
        "  --plugins DIR       plugin .so files (env TARRY_PLUGINS, default ./plugins)\n"
        "  --data DIR          the host's folder and its LMDB store (env TARRY_DATA, default ./tarry-data)\n"
        "  --store URL         where executions live (env TARRY_STORE): lmdb:DIR (the same as --data DIR,\n"
        "                      the default) or postgres://USER@HOST/DB (a libpq URI; --data then keeps\n"
        "                      only the host's lock, tarry.addr and plugin copies). Keep a password in\n"
        "                      TARRY_STORE, PGPASSWORD or ~/.pgpass, not on the command line\n"
        "  --listen ADDR:PORT  the HTTP API (env TARRY_LISTEN, default 127.0.0.1:7373); port 0 picks a free\n"
        "                      one, written to DATA/tarry.addr\n"
        "  --workers N         threads running functions (env TARRY_WORKERS, default 4 per core, 4..64)\n"
        "  --map-size SIZE     the most the LMDB store can ever hold: address space, not memory or disk\n"
        "                      (env TARRY_MAP_SIZE, default 1TiB, e.g. 64GiB); a full store refuses new "
        "work\n"
        "  --queue-window N    queued executions kept in memory; the rest wait in the store and are paged\n"
        "                      in, in order (env TARRY_QUEUE_WINDOW, default 10000); with other hosts\n"
        "                      live on the store, fewer: what the workers start in about 100 ms\n"
        "  --log-max-lines N   log lines kept per execution; the rest are counted and a last line\n"
        "                      says how many were dropped (env TARRY_LOG_MAX_LINES, default 10000)\n"
        "  --log-line-max SIZE longer log lines are cut (env TARRY_LOG_LINE_MAX, default 4KiB, "
        "64B..1MiB)\n"
        "  --memory-limit SIZE the engine's memory (address space beyond the store's map; env\n"
        "                      TARRY_MEMORY_LIMIT, default none, e.g. 2GiB): an allocation past it fails\n"
        "  --stuck-after D     a function running longer holds its worker \"stuck\": logged and in /metrics\n"
        "                      (env TARRY_STUCK_AFTER, default 60s)\n"
        "  --poison-crashes N  an execution that crashed the host N times is failed (env\n"
        "                      TARRY_POISON_CRASHES, default 3, 1..100)\n"
        "  --quarantine-crashes N, --quarantine-window D  N different executions of one function\n"
        "                      crashing the host within D quarantine it (env TARRY_QUARANTINE_CRASHES,\n"
        "                      TARRY_QUARANTINE_WINDOW; default 3 within 60s; N 1..16)\n"
        "  --idempotency-ttl D how long an idempotency key keeps naming its execution (env\n"
        "                      TARRY_IDEMPOTENCY_TTL, default 24h, at least 1s)\n"
        "  --log-format F      the host's own log on stderr: text (default) or json, one object per\n"
        "                      line (env TARRY_LOG_FORMAT)\n"
        "  --retention D       final executions (journal, attempts, logs) are deleted this long after\n"
        "                      they ended (env TARRY_RETENTION, default 30d, at least 1s; 0: never);\n"
        "                      a function's `retention` option wins\n"
        "  --lease D           on a PostgreSQL store shared by several hosts: a host unheard for this\n"
        "                      long is declared stopped and its work handed on (env TARRY_LEASE,\n"
        "                      default 10s, 1s..1h; it beats every fifth of it)\n"
        "  --advertise HOST:PORT  on a shared store: where the other hosts reach this one's API to send\n"
        "                      it a change of what it runs (env TARRY_ADVERTISE, default the --listen\n"
        "                      address; bound to every interface, this machine's host name)\n"
        "  --watch             reload when the plugins folder changes (env TARRY_WATCH=1); SIGHUP,\n"
        "                      `tarry reload` and POST /v1/plugins/reload work either way\n"
        "  --no-supervisor     run the engine in this process (debugging; a plugin crash then stops the "
        "host)\n"
        "  --init              create a new, empty store in a data folder whose store was lost (a first\n"
        "                      start in a new folder needs no flag; a store that exists is never "
        "replaced)\n"
        "HTTP rules and limits (docs/API.md, \"Limits\"; each also TARRY_ + the name in capitals, - as _):\n"
        "  --allow-host NAMES  Host names served besides loopback ones (comma-separated)\n"
        "  --cors-origin ORIGINS  cross-site Origins allowed, answered with CORS headers\n"
        "  --max-body SIZE     largest request body (default 1MiB, the most)\n"
        "  --max-connections N, --max-connections-per-addr N  (default: from the open-file limit)\n"
        "  --max-streams N     requests at once per HTTP/2 connection (default 100)\n"
        "  --max-conn-buffer SIZE, --max-buffer SIZE  unused bytes per connection / in all (16MiB, 256MiB)\n"
        "  --max-resets N      abandoned (reset) requests per connection per 10 s (default 100)\n"
        "  --idle-timeout DURATION  close connections idle this long (default 30s)\n"
        "Failure notifications (README, \"Failure notifications\"):\n"
        "  --notify-url URL    POST failed and blocked executions to URL (repeatable; FN,FN=URL: only\n"
        "                      those functions; env TARRY_NOTIFY_URL, several separated by spaces)\n"
        "  --notify-config FILE  webhooks from a JSON file (env TARRY_NOTIFY_CONFIG)\n"
        "  --public-url URL    the dashboard's address, for links (env TARRY_PUBLIC_URL, default\n"
        "                      http://LISTEN)\n");
}

/* Where --data and --store came from ("--data", "TARRY_DATA"; "" not given), for resolve_store's
 * message: parsing state, reset by each serve_config_parse. */
static struct {
    char data[64], store[64];
} origin;

static int default_workers(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long n = (cores > 0 ? cores : 1) * 4;
    return (int)(n < 4 ? 4 : n > 64 ? 64 : n);
}

/* Whether a and b name one folder: as written (a trailing slash aside), or the same directory. */
static bool same_folder(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    struct stat sa, sb;

    while (na > 1 && a[na - 1] == '/')
        na--;
    while (nb > 1 && b[nb - 1] == '/')
        nb--;
    if (na == nb && strncmp(a, b, na) == 0)
        return true;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * --store, checked: a PostgreSQL URL stays in store_url; an LMDB one (lmdb:DIR, or a folder) is the
 * same as --data DIR, so it becomes data_dir and store_url NULL. Given both, a flag wins over a
 * variable; two flags (or two variables) naming different folders are an error.
 */
static int resolve_store(serve_config *cfg)
{
    const char *dir;
    char err[300];
    bool store_flag = strncmp(origin.store, "--", 2) == 0, data_flag = strncmp(origin.data, "--", 2) == 0;

    if (!cfg->store_url)
        return 0;
    if (store_url_check(cfg->store_url, &dir, err, sizeof err) != 0) {
        fprintf(stderr, "tarry serve: %s: %s\n", origin.store, err);
        return -1;
    }
    if (!dir)
        return 0;
    if (origin.data[0] && data_flag == store_flag && !same_folder(dir, cfg->data_dir)) {
        fprintf(stderr,
                "tarry serve: %s names the LMDB store in %s and %s the folder %s: give one of them "
                "(--store lmdb:DIR is --data DIR)\n",
                origin.store, dir, origin.data, cfg->data_dir);
        return -1;
    }
    if (!origin.data[0] || store_flag || !data_flag)
        cfg->data_dir = dir;
    cfg->store_url = NULL;
    return 0;
}

/* A whole number in [min, max] for `what` (an option or its variable), or -1 with the reason printed. */
static int parse_count(const char *what, const char *text, long long min, long long max, long long *out)
{
    char *end;
    long long n;

    errno = 0;
    n = strtoll(text, &end, 10);
    if (!*text || *end || errno || n < min || n > max) {
        fprintf(stderr, "tarry serve: %s wants a whole number from %lld to %lld, got \"%s\"\n", what, min,
                max, text);
        return -1;
    }
    *out = n;
    return 0;
}

/* A size (bytesize.h) for `what`, or -1 with the reason printed. */
static int parse_size(const char *what, const char *text, uint64_t *out)
{
    char err[200];
    if (bytesize_parse(text, out, err, sizeof err) != 0) {
        fprintf(stderr, "tarry serve: %s: %s\n", what, err);
        return -1;
    }
    return 0;
}

/* A duration of at least 1 s for `what`, or -1 with the reason printed. */
static int parse_seconds(const char *what, const char *text, int64_t *out_ms)
{
    char err[200];
    if (duration_parse(text, out_ms, err, sizeof err) != 0) {
        fprintf(stderr, "tarry serve: %s: %s\n", what, err);
        return -1;
    }
    if (*out_ms < 1000) {
        fprintf(stderr, "tarry serve: %s: want a duration of 1s or more, got \"%s\"\n", what, text);
        return -1;
    }
    return 0;
}

enum {
    OPT_PLUGINS = 1,
    OPT_DATA,
    OPT_STORE,
    OPT_LISTEN,
    OPT_WORKERS,
    OPT_MAP_SIZE,
    OPT_QUEUE_WINDOW,
    OPT_LOG_MAX_LINES,
    OPT_LOG_LINE_MAX,
    OPT_WATCH,
    OPT_NO_SUPERVISOR,
    OPT_INIT,
    /* The HTTP limits, all handled by http_limits_set(): keep in the order of `options` below. */
    OPT_ALLOW_HOST,
    OPT_CORS_ORIGIN,
    OPT_MAX_BODY,
    OPT_MAX_CONNECTIONS,
    OPT_MAX_CONNS_PER_ADDR,
    OPT_MAX_STREAMS,
    OPT_MAX_CONN_BUFFER,
    OPT_MAX_BUFFER,
    OPT_MAX_RESETS,
    OPT_IDLE_TIMEOUT,
    OPT_MEMORY_LIMIT,
    OPT_STUCK_AFTER,
    OPT_POISON_CRASHES,
    OPT_QUARANTINE_CRASHES,
    OPT_QUARANTINE_WINDOW,
    OPT_IDEMPOTENCY_TTL,
    OPT_LOG_FORMAT,
    OPT_NOTIFY_URL,
    OPT_NOTIFY_CONFIG,
    OPT_PUBLIC_URL,
    OPT_RETENTION,
    OPT_LEASE,
    OPT_ADVERTISE
};

/* The flag names of OPT_ALLOW_HOST.. (http_limits_set() takes them without the dashes). */
static const char *const http_flags[] = {
    "allow-host",  "cors-origin",     "max-body",   "max-connections", "max-connections-per-addr",
    "max-streams", "max-conn-buffer", "max-buffer", "max-resets",      "idle-timeout"};

/* An --advertise value: HOST:PORT as the other hosts' forwards will use it (http://HOST:PORT, parsed
 * by libcurl's URL API as they are sent): a host, a port, nothing else. 0, or -1 with the reason. */
static int advertise_check(const char *value, char *err, size_t errlen)
{
    char url[ENGINE_ADDRESS_MAX + 16];
    CURLU *u;
    char *host = NULL, *port = NULL, *path = NULL, *query = NULL, *user = NULL, *fragment = NULL;
    int rc = -1;

    if (strlen(value) > ENGINE_ADDRESS_MAX || strstr(value, "://")) {
        snprintf(err, errlen, "want HOST:PORT (at most %d bytes, no scheme), got \"%.80s\"",
                 ENGINE_ADDRESS_MAX, value);
        return -1;
    }
    if (!(u = curl_url())) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(url, sizeof url, "http://%s", value);
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host ||
        curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK ||
        (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") != 0) ||
        curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK || strcmp(port, "0") == 0)
        snprintf(err, errlen, "want HOST:PORT (a host name or address and a port), got \"%s\"", value);
    else
        rc = 0;
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_free(fragment);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}

/* Set one setting from its flag or its environment variable (`what` names which, for errors). */
static int apply_setting(serve_config *cfg, int opt, const char *what, const char *value)
{
    char err[200];
    long long n;

    switch (opt) {
    case OPT_PLUGINS:
        cfg->plugins_dir = value;
        return 0;
    case OPT_DATA:
        cfg->data_dir = value;
        snprintf(origin.data, sizeof origin.data, "%s", what);
        return 0;
    case OPT_STORE:
        cfg->store_url = value;
        snprintf(origin.store, sizeof origin.store, "%s", what);
        return 0;
    case OPT_LISTEN:
        cfg->listen = value;
        return 0;
    case OPT_WORKERS:
        if (parse_count(what, value, 1, 1024, &n) != 0)
            return -1;
        cfg->workers = (int)n;
        return 0;
    case OPT_QUEUE_WINDOW:
        if (parse_count(what, value, 1, 100000000, &n) != 0)
            return -1;
        cfg->queue_window = (size_t)n;
        return 0;
    case OPT_MAP_SIZE:
        return parse_size(what, value, &cfg->map_size);
    case OPT_LOG_MAX_LINES:
        if (parse_count(what, value, 1, 100000000, &n) != 0)
            return -1;
        cfg->log_max_lines = (uint32_t)n;
        return 0;
    case OPT_LOG_LINE_MAX: {
        uint64_t size = 0;
        if (parse_size(what, value, &size) != 0)
            return -1;
        if (size < 64 || size > (1u << 20)) {
            fprintf(stderr, "tarry serve: %s wants a size from 64B to 1MiB, got \"%s\"\n", what, value);
            return -1;
        }
        cfg->log_line_max = (size_t)size;
        return 0;
    }
    case OPT_MEMORY_LIMIT:
        if (parse_size(what, value, &cfg->memory_limit) != 0)
            return -1;
        if (cfg->memory_limit < (64u << 20)) {
            fprintf(stderr, "tarry serve: %s: %s is below 64MiB, too little for the engine itself\n", what,
                    value);
            return -1;
        }
        return 0;
    case OPT_STUCK_AFTER:
        return parse_seconds(what, value, &cfg->stuck_after_ms);
    case OPT_POISON_CRASHES:
        if (parse_count(what, value, 1, 100, &n) != 0)
            return -1;
        cfg->poison_crashes = (uint32_t)n;
        return 0;
    case OPT_QUARANTINE_CRASHES:
        if (parse_count(what, value, 1, STORE_FN_CRASHES_KEPT, &n) != 0)
            return -1;
        cfg->quarantine_crashes = (uint32_t)n;
        return 0;
    case OPT_QUARANTINE_WINDOW:
        return parse_seconds(what, value, &cfg->quarantine_window_ms);
    case OPT_IDEMPOTENCY_TTL:
        return parse_seconds(what, value, &cfg->idempotency_ttl_ms);
    case OPT_LOG_FORMAT:
        /* Set at once: every line from here on, the forked engine's too, has this format. */
        if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0) {
            fprintf(stderr, "tarry serve: %s wants text or json, got \"%s\"\n", what, value);
            return -1;
        }
        hlog_set_format(strcmp(value, "json") == 0 ? HLOG_JSON : HLOG_TEXT);
        return 0;
    case OPT_NOTIFY_URL: /* the variable may list several */
        return strncmp(what, "--", 2) == 0 ? notify_config_add(&cfg->notify, what, value)
                                           : notify_config_add_list(&cfg->notify, what, value);
    case OPT_NOTIFY_CONFIG:
        return notify_config_load(&cfg->notify, value);
    case OPT_PUBLIC_URL:
        return notify_config_public_url(&cfg->notify, what, value);
    case OPT_LEASE:
        if (parse_seconds(what, value, &cfg->lease_ms) != 0)
            return -1;
        if (cfg->lease_ms > 3600 * 1000) {
            fprintf(stderr, "tarry serve: %s: want a duration of 1h or less, got \"%s\"\n", what, value);
            return -1;
        }
        return 0;
    case OPT_ADVERTISE:
        if (advertise_check(value, err, sizeof err) != 0) {
            fprintf(stderr, "tarry serve: %s: %s\n", what, err);
            return -1;
        }
        cfg->advertise = value;
        return 0;
    case OPT_RETENTION:
        if (strcmp(value, "0") == 0) {
            cfg->retention_ms = SERVE_RETENTION_FOREVER;
            return 0;
        }
        return parse_seconds(what, value, &cfg->retention_ms);
    }
    if (opt >= OPT_ALLOW_HOST && opt <= OPT_IDLE_TIMEOUT) {
        if (http_limits_set(&cfg->http, http_flags[opt - OPT_ALLOW_HOST], value, err, sizeof err) == 1)
            return 0;
        fprintf(stderr, "tarry serve: %s (from %s)\n", err, what);
        return -1;
    }
    return -1;
}

int serve_config_parse(int argc, char **argv, serve_config *cfg)
{
    static const struct option options[] = {
        {"plugins", required_argument, NULL, OPT_PLUGINS},
        {"data", required_argument, NULL, OPT_DATA},
        {"store", required_argument, NULL, OPT_STORE},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"map-size", required_argument, NULL, OPT_MAP_SIZE},
        {"queue-window", required_argument, NULL, OPT_QUEUE_WINDOW},
        {"log-max-lines", required_argument, NULL, OPT_LOG_MAX_LINES},
        {"log-line-max", required_argument, NULL, OPT_LOG_LINE_MAX},
        {"watch", no_argument, NULL, OPT_WATCH},
        {"no-supervisor", no_argument, NULL, OPT_NO_SUPERVISOR},
        {"init", no_argument, NULL, OPT_INIT},
        {"allow-host", required_argument, NULL, OPT_ALLOW_HOST},
        {"cors-origin", required_argument, NULL, OPT_CORS_ORIGIN},
        {"max-body", required_argument, NULL, OPT_MAX_BODY},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"max-connections-per-addr", required_argument, NULL, OPT_MAX_CONNS_PER_ADDR},
        {"max-streams", required_argument, NULL, OPT_MAX_STREAMS},
        {"max-conn-buffer", required_argument, NULL, OPT_MAX_CONN_BUFFER},
        {"max-buffer", required_argument, NULL, OPT_MAX_BUFFER},
        {"max-resets", required_argument, NULL, OPT_MAX_RESETS},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT},
        {"stuck-after", required_argument, NULL, OPT_STUCK_AFTER},
        {"poison-crashes", required_argument, NULL, OPT_POISON_CRASHES},
        {"quarantine-crashes", required_argument, NULL, OPT_QUARANTINE_CRASHES},
        {"quarantine-window", required_argument, NULL, OPT_QUARANTINE_WINDOW},
        {"idempotency-ttl", required_argument, NULL, OPT_IDEMPOTENCY_TTL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"notify-url", required_argument, NULL, OPT_NOTIFY_URL},
        {"notify-config", required_argument, NULL, OPT_NOTIFY_CONFIG},
        {"public-url", required_argument, NULL, OPT_PUBLIC_URL},
        {"retention", required_argument, NULL, OPT_RETENTION},
        {"lease", required_argument, NULL, OPT_LEASE},
        {"advertise", required_argument, NULL, OPT_ADVERTISE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        const char *var;
        int opt;
    } from_env[] = {{"TARRY_PLUGINS", OPT_PLUGINS},
                    {"TARRY_DATA", OPT_DATA},
                    {"TARRY_STORE", OPT_STORE},
                    {"TARRY_LISTEN", OPT_LISTEN},
                    {"TARRY_WORKERS", OPT_WORKERS},
                    {"TARRY_MAP_SIZE", OPT_MAP_SIZE},
                    {"TARRY_QUEUE_WINDOW", OPT_QUEUE_WINDOW},
                    {"TARRY_LOG_MAX_LINES", OPT_LOG_MAX_LINES},
                    {"TARRY_LOG_LINE_MAX", OPT_LOG_LINE_MAX},
                    {"TARRY_ALLOW_HOST", OPT_ALLOW_HOST},
                    {"TARRY_CORS_ORIGIN", OPT_CORS_ORIGIN},
                    {"TARRY_MAX_BODY", OPT_MAX_BODY},
                    {"TARRY_MAX_CONNECTIONS", OPT_MAX_CONNECTIONS},
                    {"TARRY_MAX_CONNECTIONS_PER_ADDR", OPT_MAX_CONNS_PER_ADDR},
                    {"TARRY_MAX_STREAMS", OPT_MAX_STREAMS},
                    {"TARRY_MAX_CONN_BUFFER", OPT_MAX_CONN_BUFFER},
                    {"TARRY_MAX_BUFFER", OPT_MAX_BUFFER},
                    {"TARRY_MAX_RESETS", OPT_MAX_RESETS},
                    {"TARRY_IDLE_TIMEOUT", OPT_IDLE_TIMEOUT},
                    {"TARRY_MEMORY_LIMIT", OPT_MEMORY_LIMIT},
                    {"TARRY_STUCK_AFTER", OPT_STUCK_AFTER},
                    {"TARRY_POISON_CRASHES", OPT_POISON_CRASHES},
                    {"TARRY_QUARANTINE_CRASHES", OPT_QUARANTINE_CRASHES},
                    {"TARRY_QUARANTINE_WINDOW", OPT_QUARANTINE_WINDOW},
                    {"TARRY_IDEMPOTENCY_TTL", OPT_IDEMPOTENCY_TTL},
                    {"TARRY_LOG_FORMAT", OPT_LOG_FORMAT},
                    {"TARRY_NOTIFY_URL", OPT_NOTIFY_URL},
                    {"TARRY_NOTIFY_CONFIG", OPT_NOTIFY_CONFIG},
                    {"TARRY_PUBLIC_URL", OPT_PUBLIC_URL},
                    {"TARRY_RETENTION", OPT_RETENTION},
                    {"TARRY_LEASE", OPT_LEASE},
                    {"TARRY_ADVERTISE", OPT_ADVERTISE}};
    const char *env;
    int opt;

    memset(cfg, 0, sizeof *cfg);
    memset(&origin, 0, sizeof origin);
    cfg->plugins_dir = "./plugins";
    cfg->data_dir = "./tarry-data";
    cfg->listen = "127.0.0.1:7373";
    cfg->listen_fd = -1;
    cfg->workers = default_workers();
    cfg->supervise = true;
    http_limits_default(&cfg->http);
    cfg->watch = (env = getenv("TARRY_WATCH")) && *env && strcmp(env, "0") != 0;
    /* The environment first, flags over it. */
    for (size_t i = 0; i < sizeof from_env / sizeof from_env[0]; i++)
        if ((env = getenv(from_env[i].var)) && *env &&
            apply_setting(cfg, from_env[i].opt, from_env[i].var, env) != 0)
            return -1;
    opterr = 0; /* our own messages, naming the command */
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        char what[64];
        switch (opt) {
        case 'h':
            usage(stdout);
            exit(0);
        case OPT_WATCH:
            cfg->watch = true;
            break;
        case OPT_NO_SUPERVISOR:
            cfg->supervise = false;
            break;
        case OPT_INIT:
            cfg->init = true;
            break;
        case ':':
            fprintf(stderr, "tarry serve: %s needs a value\n", argv[optind - 1]);
            return -1;
        case '?':
            fprintf(stderr, "tarry serve: unknown option \"%s\"\n", argv[optind - 1]);
            usage(stderr);
            return -1;
        default:
            if (!*optarg) {
                fprintf(stderr, "tarry serve: %s needs a value\n", argv[optind - 1]);
                return -1;
            }
            for (const struct option *o = options; o->name; o++)
                if (o->val == opt) /* by value: the table's order is free */
                    snprintf(what, sizeof what, "--%s", o->name);
            if (apply_setting(cfg, opt, what, optarg) != 0)
                return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tarry serve: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    return resolve_store(cfg);
}
