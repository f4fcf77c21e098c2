/*
 * serve.c - configuration, the supervisor, and the engine process.
 *
 * Plugin code runs inside the engine process, so a plugin that segfaults
 * kills it. The supervisor (the process the user started) forks the engine,
 * restarts it at once when it dies (with a growing pause if it keeps dying
 * right after starting), and forwards SIGTERM/SIGINT/SIGHUP. The engine
 * recovers from LMDB as after any crash. If the supervisor itself is killed
 * (even with -9), the kernel kills the engine too (PR_SET_PDEATHSIG), so a
 * restarted host never finds a stale engine holding its port or store.
 *
 * The listening socket: the supervisor binds and listens once and every
 * engine it forks serves that same socket, so the port (also one the kernel
 * picked for --listen IP:0) survives engine restarts, and a client that
 * connects while an engine restarts waits in the backlog instead of being
 * refused. On SIGTERM/SIGINT the supervisor closes its copy at once and the
 * draining engine closes its own, so new connections are refused during
 * the drain. With --no-supervisor the engine binds itself. The engine logs
 * the address it serves and writes it to <data>/tarry.addr (ADDR_FILE),
 * removed on a clean stop, so a script that asked for port 0 can find it.
 *
 * Exit statuses: 0 after a graceful stop, 78 (EX_CONFIG) when the host
 * cannot start for a reason a restart will not fix (port in use, data
 * folder in use, unreadable store, a store that was lost: store_folder.h;
 * the engine also exits 78 when its data folder goes away while it runs),
 * 2 for a bad command line, 1 otherwise.
 *
 * Only the engine's own deliberate exits stop the supervisor: the engine
 * declares its exit code in the death note (deathnote.h) before it exits,
 * so a plugin calling exit(0) or _exit(78) is a death like any other:
 * logged with its cause and restarted. The death note also tells the next
 * engine whom the death names (engine_recovery.c).
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include <getopt.h>

#include "api.h"
#include "bytesize.h"
#include "clock.h"
#include "deathnote.h"
#include "duration.h"
#include "engine.h"
#include "hlog.h"
#include "http.h"
#include "memlimit.h"
#include "plugins.h"
#include "status.h"
#include "store.h"
#include "store_folder.h"

#define EXIT_CONFIG 78
#define DRAIN_TIMEOUT_MS 30000
/* In the data folder: the address the host serves, IP:PORT and a newline (docs/API.md). */
#define ADDR_FILE "tarry.addr"
#define PORT_HINT " (is another host on that port? pick another with --listen, or port 0 for any free one)"

typedef struct serve_config {
    const char *plugins_dir;
    const char *data_dir;
    const char *listen;
    int listen_fd; /* the supervisor's listening socket, or -1: the engine binds `listen` itself */
    int workers;
    uint64_t map_size;      /* 0: the store's default */
    size_t queue_window;    /* 0: the engine's default */
    uint32_t log_max_lines; /* 0: the engine's default (10,000 lines per execution) */
    size_t log_line_max;    /* 0: the engine's default (4 KiB per line) */
    uint64_t memory_limit;  /* 0: none; else the engine's RLIMIT_AS beyond the store's map */
    int64_t stuck_after_ms; /* 0: the engine's default */
    bool supervise;
    bool watch; /* reload when the plugins folder changes */
    bool init;  /* --init: a new store may replace a lost one (done once, before the first engine) */
    http_limits http; /* Host/Origin rules and connection limits (http_guard.h) */
} serve_config;

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: tarry serve [--plugins DIR] [--data DIR] [--listen ADDR:PORT] [--workers N] [--map-size "
        "SIZE]\n"
        "                   [--queue-window N] [--log-max-lines N] [--log-line-max SIZE]\n"
        "                   [--memory-limit SIZE] [--stuck-after D] [--watch] [--no-supervisor] [--init]\n"
        "  --plugins DIR       plugin .so files (env TARRY_PLUGINS, default ./plugins)\n"
        "  --data DIR          the LMDB store (env TARRY_DATA, default ./tarry-data)\n"
        "  --listen ADDR:PORT  the HTTP API (env TARRY_LISTEN, default 127.0.0.1:7373); port 0 picks a free\n"
        "                      one, written to DATA/tarry.addr\n"
        "  --workers N         threads running functions (env TARRY_WORKERS, default 4 per core, 4..64)\n"
        "  --map-size SIZE     the most the store can ever hold: address space, not memory or disk\n"
        "                      (env TARRY_MAP_SIZE, default 1TiB, e.g. 64GiB); a full store refuses new "
        "work\n"
        "  --queue-window N    queued executions kept in memory; the rest wait in the store and are paged\n"
        "                      in, in order (env TARRY_QUEUE_WINDOW, default 10000)\n"
        "  --log-max-lines N   log lines kept per execution; the rest are counted and a last line\n"
        "                      says how many were dropped (env TARRY_LOG_MAX_LINES, default 10000)\n"
        "  --log-line-max SIZE longer log lines are cut (env TARRY_LOG_LINE_MAX, default 4KiB, "
        "64B..1MiB)\n"
        "  --memory-limit SIZE the engine's memory (address space beyond the store's map; env\n"
        "                      TARRY_MEMORY_LIMIT, default none, e.g. 2GiB): an allocation past it fails\n"
        "  --stuck-after D     a function running longer holds its worker \"stuck\": logged and in /metrics\n"
        "                      (env TARRY_STUCK_AFTER, default 60s)\n"
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
        "  --idle-timeout DURATION  close connections idle this long (default 30s)\n");
}

static int default_workers(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long n = (cores > 0 ? cores : 1) * 4;
    return (int)(n < 4 ? 4 : n > 64 ? 64 : n);
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

enum {
    OPT_PLUGINS = 1,
    OPT_DATA,
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
    OPT_STUCK_AFTER
};

/* The flag names of OPT_ALLOW_HOST.. (http_limits_set() takes them without the dashes). */
static const char *const http_flags[] = {
    "allow-host", "cors-origin", "max-body",   "max-connections", "max-connections-per-addr",
    "max-streams", "max-conn-buffer", "max-buffer", "max-resets", "idle-timeout"};

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
        if (bytesize_parse(value, &cfg->map_size, err, sizeof err) != 0) {
            fprintf(stderr, "tarry serve: %s: %s\n", what, err);
            return -1;
        }
        return 0;
    case OPT_LOG_MAX_LINES:
        if (parse_count(what, value, 1, 100000000, &n) != 0)
            return -1;
        cfg->log_max_lines = (uint32_t)n;
        return 0;
    case OPT_LOG_LINE_MAX: {
        uint64_t size = 0;
        if (bytesize_parse(value, &size, err, sizeof err) != 0) {
            fprintf(stderr, "tarry serve: %s: %s\n", what, err);
            return -1;
        }
        if (size < 64 || size > (1u << 20)) {
            fprintf(stderr, "tarry serve: %s wants a size from 64B to 1MiB, got \"%s\"\n", what, value);
            return -1;
        }
        cfg->log_line_max = (size_t)size;
        return 0;
    }
    case OPT_MEMORY_LIMIT:
        if (bytesize_parse(value, &cfg->memory_limit, err, sizeof err) != 0) {
            fprintf(stderr, "tarry serve: %s: %s\n", what, err);
            return -1;
        }
        if (cfg->memory_limit < (64u << 20)) {
            fprintf(stderr, "tarry serve: %s: %s is below 64MiB, too little for the engine itself\n", what,
                    value);
            return -1;
        }
        return 0;
    case OPT_STUCK_AFTER: {
        int64_t ms = 0;
        if (duration_parse(value, &ms, err, sizeof err) != 0) {
            fprintf(stderr, "tarry serve: %s: %s\n", what, err);
            return -1;
        }
        if (ms < 1000) {
            fprintf(stderr, "tarry serve: %s: want a duration of 1s or more, got \"%s\"\n", what, value);
            return -1;
        }
        cfg->stuck_after_ms = ms;
        return 0;
    }
    }
    if (opt >= OPT_ALLOW_HOST && opt <= OPT_IDLE_TIMEOUT) {
        if (http_limits_set(&cfg->http, http_flags[opt - OPT_ALLOW_HOST], value, err, sizeof err) == 1)
            return 0;
        fprintf(stderr, "tarry serve: %s (from %s)\n", err, what);
        return -1;
    }
    return -1;
}

static int parse_config(int argc, char **argv, serve_config *cfg)
{
    static const struct option options[] = {
        {"plugins", required_argument, NULL, OPT_PLUGINS},
        {"data", required_argument, NULL, OPT_DATA},
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
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        const char *var;
        int opt;
    } from_env[] = {{"TARRY_PLUGINS", OPT_PLUGINS},
                    {"TARRY_DATA", OPT_DATA},
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
                    {"TARRY_STUCK_AFTER", OPT_STUCK_AFTER}};
    const char *env;
    int opt;

    memset(cfg, 0, sizeof *cfg);
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
    return 0;
}

/* ---- the engine process ------------------------------------------------------ */

typedef struct engine_proc {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t drain_timer;
    uv_fs_event_t watcher;   /* --watch: the plugins folder */
    uv_timer_t watch_settle; /* a copy is many events: reload once it settles */
    engine *eng;
    http_server *http;
    bool stopping, drained;
} engine_proc;

static void on_drained(void *user)
{
    engine_proc *ep = user;
    hlog(HLOG_INFO, "drained: every running execution finished and is committed; stopping");
    ep->drained = true;
    uv_stop(&ep->loop);
}

static void on_drain_timeout(uv_timer_t *t)
{
    engine_proc *ep = t->data;
    hlog(HLOG_WARN,
         "drain timed out after %d ms; stopping with executions still running (they re-run at start)",
         DRAIN_TIMEOUT_MS);
    uv_stop(&ep->loop);
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
    engine_proc *ep = s->data;
    if (ep->stopping) {
        hlog(HLOG_WARN, "second %s: stopping now", strsignal(signum));
        uv_stop(&ep->loop);
        return;
    }
    ep->stopping = true;
    hlog(HLOG_INFO, "%s: draining (no new connections; waiting for running executions)", strsignal(signum));
    http_server_stop_listening(ep->http);
    uv_timer_start(&ep->drain_timer, on_drain_timeout, DRAIN_TIMEOUT_MS, 0);
    engine_drain(ep->eng, on_drained, ep);
}

static void on_hup(uv_signal_t *s, int signum)
{
    engine_proc *ep = s->data;
    (void)signum;
    hlog(HLOG_INFO, "SIGHUP: reloading plugins");
    engine_reload(ep->eng, NULL);
}

#define WATCH_SETTLE_MS 300

static void on_watch_settled(uv_timer_t *t)
{
    engine_proc *ep = t->data;
    hlog(HLOG_INFO, "plugins folder changed: reloading");
    engine_reload(ep->eng, NULL);
}

static void on_plugins_changed(uv_fs_event_t *h, const char *file, int events, int status)
{
    engine_proc *ep = h->data;
    size_t n = file ? strlen(file) : 0;
    (void)events;
    /* Only .so files matter; a deploy that copies to a temporary name and
     * renames it fires for the final name too. */
    if (status < 0 || ep->stopping || (file && (n < 3 || strcmp(file + n - 3, ".so") != 0)))
        return;
    uv_timer_start(&ep->watch_settle, on_watch_settled, WATCH_SETTLE_MS, 0);
}

/*
 * Write the address served to <data>/tarry.addr through a temporary file
 * and a rename, so a reader sees the whole line or no file. Returns 0 or
 * TARRY_EIO (logged; the host serves anyway).
 */
static int addr_file_write(const char *data_dir, const char *addr)
{
    char path[4096], tmp[4096];
    int fd, n, ok;

    snprintf(path, sizeof path, "%s/%s", data_dir, ADDR_FILE);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", data_dir, ADDR_FILE);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        goto fail;
    n = (int)strlen(addr);
    ok = dprintf(fd, "%s\n", addr) == n + 1;
    if (close(fd) != 0 || !ok || rename(tmp, path) != 0) {
        unlink(tmp);
        goto fail;
    }
    return 0;
fail:
    hlog(HLOG_WARN, "cannot write %s: %s (the address is in this log only)", path, strerror(errno));
    return TARRY_EIO;
}

static void addr_file_remove(const char *data_dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data_dir, ADDR_FILE);
    unlink(path);
}

static int run_engine(const serve_config *cfg)
{
    char err[512], workers[16], addr[HTTP_ADDR_MAX];
    engine_proc ep;
    store *st = NULL;
    plugins *pl = NULL;
    api *a = NULL;
    int rc, status = EXIT_CONFIG, fd = cfg->listen_fd;
    bool addr_written = false;

    memset(&ep, 0, sizeof ep);
    signal(SIGPIPE, SIG_IGN);
    /* Must be set before the loop first uses its threadpool. Two threads
     * more than the workers: at most `workers` functions run at once, so
     * the host's own jobs there (reload scans, loading a stored version)
     * never wait behind long-running functions. */
    snprintf(workers, sizeof workers, "%d", cfg->workers + 2);
    setenv("UV_THREADPOOL_SIZE", workers, 1);
    /* Before the store maps its (sparse) map, which the limit does not count. */
    if (memlimit_apply(cfg->memory_limit, cfg->map_size ? cfg->map_size : STORE_DEFAULT_MAP_SIZE) != 0)
        return EXIT_CONFIG;

    if (deathnote_store_was_opened()) {
        /* A restart: the store an earlier engine of this host used must still be there. A folder
         * deleted just before that engine died (before it noticed) is a loss, not a first start. */
        char data_file[4096];
        snprintf(data_file, sizeof data_file, "%s/%s", cfg->data_dir, STORE_DATA_FILE);
        if (access(data_file, F_OK) != 0) {
            hlog(HLOG_ERROR,
                 "THE STORE IS GONE: %s is gone while this host was using it. The engine does not create "
                 "a new, empty store on a restart; restore the data folder, or start again with --init "
                 "to create a new one",
                 data_file);
            store_folder_mark_lost(cfg->data_dir, "the store's data file was gone when the engine restarted");
            return EXIT_CONFIG;
        }
    }
    if ((rc = store_open(&st, cfg->data_dir, cfg->map_size, err, sizeof err)) != 0) {
        hlog(HLOG_ERROR, "%s", err);
        return EXIT_CONFIG;
    }
    deathnote_mark_store_opened();
    if (err[0])
        hlog(HLOG_WARN, "%s (--map-size sets it)", err);
    {
        char store_dir[4096];
        snprintf(store_dir, sizeof store_dir, "%s/plugins", cfg->data_dir);
        if ((rc = plugins_open(&pl, cfg->plugins_dir, store_dir)) != 0)
            goto out;
    }
    uv_loop_init(&ep.loop);
    if ((rc = engine_create(&ep.eng, &ep.loop, st, pl, cfg->workers)) != 0 ||
        (rc = api_create(&a, ep.eng, getenv("TARRY_TOKEN"))) != 0)
        goto out;
    if (cfg->queue_window)
        engine_set_queue_window(ep.eng, cfg->queue_window);
    engine_set_log_limits(ep.eng, cfg->log_max_lines, cfg->log_line_max);
    if (cfg->stuck_after_ms)
        engine_set_stuck_after(ep.eng, cfg->stuck_after_ms);
    /* Without a supervisor, bind here (after the store: its lock says this data folder is ours). */
    if (fd < 0 && (rc = http_listen_open(cfg->listen, &fd, err, sizeof err)) != 0) {
        hlog(HLOG_ERROR, "%s%s", err, rc == TARRY_EIO ? PORT_HINT : "");
        goto out;
    }
    if (http_listen_address(fd, addr, sizeof addr) != 0)
        snprintf(addr, sizeof addr, "%s", cfg->listen);
    if ((rc = http_server_start(&ep.http, &ep.loop, fd, &cfg->http, api_handle, a, err, sizeof err)) != 0) {
        hlog(HLOG_ERROR, "%s", err);
        goto out;
    }
    if ((rc = engine_start(ep.eng)) != 0) {
        hlog(HLOG_ERROR, "cannot start the engine: %s", status_str(rc));
        goto out;
    }
    uv_signal_init(&ep.loop, &ep.sigterm);
    uv_signal_init(&ep.loop, &ep.sigint);
    uv_signal_init(&ep.loop, &ep.sighup);
    uv_timer_init(&ep.loop, &ep.drain_timer);
    ep.sigterm.data = ep.sigint.data = ep.sighup.data = ep.drain_timer.data = &ep;
    uv_signal_start(&ep.sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&ep.sigint, on_stop_signal, SIGINT);
    uv_signal_start(&ep.sighup, on_hup, SIGHUP);
    uv_timer_init(&ep.loop, &ep.watch_settle);
    ep.watch_settle.data = &ep;
    if (cfg->watch) {
        int wrc;
        uv_fs_event_init(&ep.loop, &ep.watcher);
        ep.watcher.data = &ep;
        if ((wrc = uv_fs_event_start(&ep.watcher, on_plugins_changed, cfg->plugins_dir, 0)) != 0)
            hlog(HLOG_WARN, "--watch: cannot watch %s (%s); reload with SIGHUP or tarry reload",
                 cfg->plugins_dir, uv_strerror(wrc));
        else
            hlog(HLOG_INFO, "watching %s: a changed .so is reloaded %d ms after the last change",
                 cfg->plugins_dir, WATCH_SETTLE_MS);
    }
    addr_written = addr_file_write(cfg->data_dir, addr) == 0;
    hlog(HLOG_INFO, "serving http://%s (data %s, plugins %s, %d workers)", addr, cfg->data_dir,
         cfg->plugins_dir, cfg->workers);
    uv_run(&ep.loop, UV_RUN_DEFAULT);
    status = 0;
    /* A clean stop: nobody serves that address any more. */
    if (addr_written)
        addr_file_remove(cfg->data_dir);
    /* Joins the commit thread: after this nothing writes to the store. */
    engine_close(ep.eng);
    uv_close((uv_handle_t *)&ep.sigterm, NULL);
    uv_close((uv_handle_t *)&ep.sigint, NULL);
    uv_close((uv_handle_t *)&ep.sighup, NULL);
    uv_close((uv_handle_t *)&ep.drain_timer, NULL);
    uv_close((uv_handle_t *)&ep.watch_settle, NULL);
    if (cfg->watch)
        uv_close((uv_handle_t *)&ep.watcher, NULL);
    /* Let the close callbacks run (they free the engine); open client
     * connections keep the loop alive, so do not wait for it to end. */
    for (int i = 0; i < 4; i++)
        uv_run(&ep.loop, UV_RUN_NOWAIT);
    /* Functions still running after a drain timeout are in plugin code. */
    if (ep.drained) {
        plugins_free(pl);
        pl = NULL;
        /* With no client connected, the server and the loop close cleanly (so a
         * leak checker at exit, as with --no-supervisor, sees nothing left);
         * open connections die with the process. */
        if (http_server_close(ep.http) == 0) {
            ep.http = NULL;
            for (int i = 0; i < 4 && uv_loop_alive(&ep.loop); i++)
                uv_run(&ep.loop, UV_RUN_NOWAIT);
            if (!uv_loop_alive(&ep.loop))
                uv_loop_close(&ep.loop);
        }
    }
out:
    /* Everything acknowledged is already committed; the store closes last so
     * nothing can write to it after this point. Open connections die with
     * the process. */
    api_free(a);
    store_close(st);
    if (status != 0 && rc == TARRY_ENOMEM)
        hlog(HLOG_ERROR, "out of memory while starting");
    return status;
}

/*
 * --init, once, in the process the user started: every engine (also one
 * the supervisor restarts after a crash) opens the store without it, so a
 * store lost while the host runs is never replaced by a restart.
 */
static int init_store_folder(const serve_config *cfg)
{
    char err[512];
    bool had_marker;

    if (store_folder_init(cfg->data_dir, &had_marker, err, sizeof err) != 0) {
        hlog(HLOG_ERROR, "--init: %s", err);
        return -1;
    }
    if (had_marker)
        hlog(HLOG_WARN, "--init: the store in %s was lost; creating a new, empty one", cfg->data_dir);
    return 0;
}

/* ---- the supervisor ------------------------------------------------------------ */

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t listen_fd = -1; /* the supervisor's copy of the listening socket */

static void forward_signal(int signum)
{
    if (signum == SIGTERM || signum == SIGINT) {
        stop_requested = 1;
        /* No engine will serve a backlog after this: with the draining
         * engine's copy closed too, new connections are refused. */
        if (listen_fd >= 0) {
            close(listen_fd);
            listen_fd = -1;
        }
    }
    if (child_pid > 0)
        kill((pid_t)child_pid, signum);
}

static int supervise(const serve_config *cfg)
{
    struct sigaction sa;
    int64_t backoff_ms = 0;
    pid_t parent = getpid();
    serve_config engine_cfg = *cfg;
    char err[512];
    int rc, fd;

    /* Bound once, here: every engine serves this socket (see the top of the file). */
    if ((rc = http_listen_open(cfg->listen, &fd, err, sizeof err)) != 0) {
        hlog(HLOG_ERROR, "%s%s", err, rc == TARRY_EIO ? PORT_HINT : "");
        return EXIT_CONFIG;
    }
    engine_cfg.listen_fd = fd;
    listen_fd = fd;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    /* Shared with every engine forked below (deathnote.h). */
    if (deathnote_create((size_t)cfg->workers) != 0)
        hlog(HLOG_WARN, "cannot map the death note: crashes will be judged without it");

    for (;;) {
        int64_t started = clock_mono_ms();
        int wstatus;
        char cause[600];
        bool killed_outside;
        pid_t pid;

        deathnote_arm();
        pid = fork();

        if (pid < 0) {
            hlog(HLOG_ERROR, "cannot start the engine process: %s", strerror(errno));
            return 1;
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(1); /* the supervisor died between fork and prctl */
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            signal(SIGHUP, SIG_DFL);
            deathnote_install();
            rc = run_engine(&engine_cfg);
            deathnote_declare_exit(rc); /* this exit is the engine's own (see the top) */
            _exit(rc);
        }
        child_pid = pid;
        while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
            ;
        child_pid = 0;
        if (WIFEXITED(wstatus) && (WEXITSTATUS(wstatus) == 0 || WEXITSTATUS(wstatus) == EXIT_CONFIG) &&
            deathnote_declared(pid, WEXITSTATUS(wstatus)))
            return WEXITSTATUS(wstatus);
        killed_outside = deathnote_seal(pid, wstatus, cause, sizeof cause);
        if (stop_requested)
            return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 1;
        /* "died" for every death: scripts/bench counts these lines. */
        hlog(HLOG_ERROR, "engine process %d died: %s; restarting", (int)pid, cause);
        /* Restart at once after a crash in steady state, or a kill from
         * outside; back off (up to 5 s) when the engine keeps dying of its
         * own (or a plugin's) doing within a second of starting. */
        if (clock_mono_ms() - started < 1000 && !killed_outside)
            backoff_ms = backoff_ms ? (backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2) : 100;
        else
            backoff_ms = 0;
        if (backoff_ms) {
            struct timespec ts = {(time_t)(backoff_ms / 1000), (long)(backoff_ms % 1000) * 1000000};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_requested)
                ;
            if (stop_requested)
                return 0;
        }
    }
}

/* Shortest TARRY_TOKEN accepted: a guessable token is no protection for a host beyond loopback. */
#define TOKEN_MIN_LEN 16

/* A set TARRY_TOKEN must be long enough and sendable in a header; 0, or -1 with the reason printed. */
static int token_check(const char *token)
{
    if (!token || !*token)
        return 0;
    if (strlen(token) < TOKEN_MIN_LEN) {
        fprintf(stderr,
                "tarry serve: TARRY_TOKEN is %zu characters; it must have at least %d (e.g. `openssl rand "
                "-hex 32`)\n",
                strlen(token), TOKEN_MIN_LEN);
        return -1;
    }
    for (const char *p = token; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            fprintf(stderr, "tarry serve: TARRY_TOKEN holds a space or a control character; use printable "
                            "characters only\n");
            return -1;
        }
    return 0;
}

/*
 * Raise the soft open-file limit to the hard one (every connection is a
 * descriptor) and fit the connection caps below it with a reserve for the
 * store, plugins and logs (http_limits_fit_fds()). The engine inherits both.
 */
static void raise_fd_limit(http_limits *http)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        rl.rlim_cur = 1024;
    } else if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            hlog(HLOG_INFO, "raised the open-file limit from %llu to %llu", (unsigned long long)was,
                 (unsigned long long)rl.rlim_cur);
        else
            rl.rlim_cur = was;
    }
    if (http_limits_fit_fds(http, rl.rlim_cur))
        hlog(HLOG_WARN, "--max-connections lowered to %zu: the open-file limit is %llu, %d kept for the host",
             http->max_connections, (unsigned long long)rl.rlim_cur, HTTP_FD_RESERVE);
}

int serve_main(int argc, char **argv)
{
    serve_config cfg;
    const char *level = getenv("TARRY_LOG_LEVEL");

    if (level && !strcmp(level, "debug"))
        hlog_set_level(HLOG_DEBUG);
    else if (level && !strcmp(level, "warn"))
        hlog_set_level(HLOG_WARN);
    else if (level && !strcmp(level, "error"))
        hlog_set_level(HLOG_ERROR);
    if (parse_config(argc, argv, &cfg) != 0)
        return 2;
    if (token_check(getenv("TARRY_TOKEN")) != 0)
        return EXIT_CONFIG;
    raise_fd_limit(&cfg.http);
    if (!http_listen_is_loopback(cfg.listen) && !(getenv("TARRY_TOKEN") && *getenv("TARRY_TOKEN"))) {
        /* Unauthenticated triggers from the network would run plugin code
         * for anyone who can reach the port. */
        fprintf(stderr,
                "tarry serve: refusing to listen on %s without TARRY_TOKEN: beyond loopback every "
                "request must carry \"Authorization: Bearer $TARRY_TOKEN\"\n",
                cfg.listen);
        return 2;
    }
    if (cfg.init && init_store_folder(&cfg) != 0)
        return EXIT_CONFIG;
    return cfg.supervise ? supervise(&cfg) : run_engine(&cfg);
}
