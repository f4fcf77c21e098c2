/*
 * serve.c - the supervisor and the engine process (the configuration they
 * run from is serve_config.h's).
 *
 * Plugin code runs inside the engine process, so a plugin that segfaults
 * kills it. The supervisor (the process the user started) forks the engine,
 * restarts it at once when it dies (with a growing pause if it keeps dying
 * right after starting), and forwards SIGTERM/SIGINT/SIGHUP. The engine
 * recovers from the store as after any crash.
 *
 * The store: LMDB in the data folder (the default), or PostgreSQL
 * (--store postgres://...), opened by the engine. The data folder is the
 * host's either way: its lock (one host per folder), tarry.addr and the
 * plugin version copies under plugins/. The steps about LMDB's files (the
 * data file gone at a restart, --init's marker, the map and its room in
 * the memory limit) are taken for LMDB only. If the supervisor itself is killed
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
 * folder in use, unreadable store, a store that was lost: store_lmdb_folder.h;
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
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "api.h"
#include "clock.h"
#include "deathnote.h"
#include "engine.h"
#include "hlog.h"
#include "http.h"
#include "memlimit.h"
#include "notify.h"
#include "plugin_share.h"
#include "plugins.h"
#include "serve_config.h"
#include "status.h"
#include "store.h"
#include "store_lmdb_folder.h"

#define EXIT_CONFIG 78
#define DRAIN_TIMEOUT_MS 30000
/* In the data folder: the address the host serves, IP:PORT and a newline (docs/API.md). */
#define ADDR_FILE "tarry.addr"
#define HOST_ID_FILE "host-id" /* a shared store: the ids of the engines that last started here */
#define PORT_HINT " (is another host on that port? pick another with --listen, or port 0 for any free one)"

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
static int line_file_write(const char *data_dir, const char *name, const char *addr)
{
    char path[4096], tmp[4096];
    int fd, n, ok;

    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", data_dir, name);
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
    hlog(HLOG_WARN, "cannot write %s: %s", path, strerror(errno));
    return TARRY_EIO;
}

/*
 * On a shared store, <data>/host-id names the engines that last started on this folder, newest
 * first, one per line, so the next one (after a crash or a restart) takes over what they held at
 * once instead of waiting for a lease to run out (store_cluster.h). An engine writes its own id
 * first before it joins the store, and only its own once it has recovered: one killed in between
 * may hold what it took over, and the next engine finds it there (engine_set_cluster). The ids
 * read, at most ENGINE_PREV_HOSTS_MAX; stops at the first line that is not one.
 */
static size_t prev_hosts_read(const char *data_dir, char ids[ENGINE_PREV_HOSTS_MAX][ENGINE_HOST_ID_LEN + 1])
{
    char path[4096], line[64];
    size_t n = 0;
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", data_dir, HOST_ID_FILE);
    if (!(f = fopen(path, "re")))
        return 0;
    while (n < ENGINE_PREV_HOSTS_MAX && fgets(line, sizeof line, f) &&
           strspn(line, "0123456789abcdef") == ENGINE_HOST_ID_LEN &&
           (line[ENGINE_HOST_ID_LEN] == '\n' || line[ENGINE_HOST_ID_LEN] == '\0')) {
        line[ENGINE_HOST_ID_LEN] = '\0';
        memcpy(ids[n++], line, ENGINE_HOST_ID_LEN + 1);
    }
    fclose(f);
    return n;
}

/* <data>/host-id before the engine joins: its own id, then the previous ones it may take over. */
static void host_ids_write(const char *data_dir, const char *self, char ids[][ENGINE_HOST_ID_LEN + 1],
                           size_t n)
{
    char text[ENGINE_PREV_HOSTS_MAX * (ENGINE_HOST_ID_LEN + 1) + 1];
    size_t len = (size_t)snprintf(text, sizeof text, "%s", self);

    for (size_t i = 0; i + 1 < ENGINE_PREV_HOSTS_MAX && i < n; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "\n%s", ids[i]);
    line_file_write(data_dir, HOST_ID_FILE, text);
}

static void addr_file_remove(const char *data_dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data_dir, ADDR_FILE);
    unlink(path);
}

/*
 * A host with a PostgreSQL store still has a folder of its own (tarry.addr, the plugin copies in
 * plugins/), and one host per folder, as with LMDB: create it and take STORE_LOCK_FILE there, the
 * file and the lock the LMDB store takes (store_lmdb.c), so a second host on the folder is refused
 * alike and a script waiting for the lock (the test harness) needs to know no store kind. The
 * kernel drops the lock when the engine dies. Returns the locked descriptor, or -1 with err.
 */
static int data_folder_lock(const char *dir, char *err, size_t errlen)
{
    char path[4096], pid[32];
    int fd, n;

    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data folder %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s", dir, STORE_LOCK_FILE);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        snprintf(err, errlen, "cannot open %.400s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        n = (int)pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, errlen,
                 "data folder %s is in use by another tarry host (pid %s); one host per data folder", dir,
                 pid[0] ? pid : "unknown");
        close(fd);
        return -1;
    }
    n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* The pid is only for the message above; the lock is what matters. */
    }
    return fd;
}

static int run_engine(const serve_config *cfg)
{
    char err[512], workers[16], addr[HTTP_ADDR_MAX];
    engine_proc ep;
    store *st = NULL;
    plugins *pl = NULL;
    api *a = NULL;
    notifier *notifier = NULL;
    int rc, status = EXIT_CONFIG, fd = cfg->listen_fd, data_lock = -1;
    bool addr_written = false;

    memset(&ep, 0, sizeof ep);
    signal(SIGPIPE, SIG_IGN);
    /* Must be set before the loop first uses its threadpool. Twice the
     * workers and two: at most `workers` functions run at once, plus up to
     * as many attempts that timed out and have not returned (abandoned,
     * engine_retry.c), so the host's own jobs there (reload scans, loading a
     * stored version) never wait behind long-running functions. */
    snprintf(workers, sizeof workers, "%d", cfg->workers * 2 + 2);
    setenv("UV_THREADPOOL_SIZE", workers, 1);
    /* Before the store maps its (sparse) map, which the limit does not count. Only LMDB maps one:
     * a PostgreSQL store's data lives in the server, so nothing is added for it. */
    if (memlimit_apply(cfg->memory_limit, cfg->store_url  ? 0
                                          : cfg->map_size ? cfg->map_size
                                                          : STORE_DEFAULT_MAP_SIZE) != 0)
        return EXIT_CONFIG;

    if (!cfg->store_url && deathnote_store_was_opened()) {
        /* A restart: the store an earlier engine of this host used must still be there. A folder
         * deleted just before that engine died (before it noticed) is a loss, not a first start.
         * LMDB only: a database cannot vanish with a folder (its server refuses, or answers). */
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
    if (cfg->store_url) {
        /* The host's folder is still one host's (the LMDB store's lock does that when it is the
         * store): taken before the database's lock, so two hosts on one folder are told so. */
        if ((data_lock = data_folder_lock(cfg->data_dir, err, sizeof err)) < 0) {
            hlog(HLOG_ERROR, "%s", err);
            return EXIT_CONFIG;
        }
        /* The open migrates a new or older database's schema (pg_schema.h) before anything else. */
        rc = store_open_url(&st, cfg->store_url, 0, err, sizeof err);
    } else {
        rc = store_open(&st, cfg->data_dir, cfg->map_size, err, sizeof err);
    }
    if (rc != 0) {
        hlog(HLOG_ERROR, "%s", err);
        if (data_lock >= 0)
            close(data_lock);
        /* A database that opened before and cannot be reached now (restarting, failing over) is
         * waited for: the engine exits 1 and the supervisor starts it again, backing off up to
         * 5 s. At the first start the same error is a configuration to fix: exit 78. */
        if (cfg->store_url && rc == TARRY_EIO && deathnote_store_was_opened()) {
            hlog(HLOG_WARN, "the database cannot be reached; the engine starts again until it can");
            return 1;
        }
        return EXIT_CONFIG;
    }
    deathnote_mark_store_opened();
    /* The engine's first line after the memory limit's: which store, and where (never a password). */
    hlog(HLOG_INFO, "opened the %s store: %s", store_kind(st), store_where(st));
    if (!cfg->store_url && err[0]) /* LMDB's map shrunk to fit */
        hlog(HLOG_WARN, "%s (--map-size sets it)", err);
    {
        char store_dir[4096];
        plugins_hooks shared = plugin_share_hooks(st); /* versions' bytes in the store, for every host */
        snprintf(store_dir, sizeof store_dir, "%s/plugins", cfg->data_dir);
        if ((rc = plugins_open(&pl, cfg->plugins_dir, store_dir, &shared)) != 0)
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
    engine_set_crash_limits(ep.eng, cfg->poison_crashes, cfg->quarantine_crashes, cfg->quarantine_window_ms);
    engine_set_idempotency_ttl(ep.eng, cfg->idempotency_ttl_ms);
    if (cfg->retention_ms)
        engine_set_retention(ep.eng, cfg->retention_ms == SERVE_RETENTION_FOREVER ? 0 : cfg->retention_ms);
    /* Without a supervisor, bind here (after the store: its lock says this data folder is ours). */
    if (fd < 0 && (rc = http_listen_open(cfg->listen, &fd, err, sizeof err)) != 0) {
        hlog(HLOG_ERROR, "%s%s", err, rc == TARRY_EIO ? PORT_HINT : "");
        goto out;
    }
    if (http_listen_address(fd, addr, sizeof addr) != 0)
        snprintf(addr, sizeof addr, "%s", cfg->listen);
    engine_host_set_address(ep.eng, cfg->advertise ? cfg->advertise : addr);
    if ((rc = http_server_start(&ep.http, &ep.loop, fd, &cfg->http, api_handle, a, err, sizeof err)) != 0) {
        hlog(HLOG_ERROR, "%s", err);
        goto out;
    }
    if ((rc = notify_start(&notifier, &ep.loop, st, &cfg->notify, addr)) != 0) {
        hlog(HLOG_ERROR, "cannot start failure notifications: %s", status_str(rc));
        goto out;
    }
    engine_set_notifier(ep.eng, notifier);
    if (strcmp(store_kind(st), "postgres") == 0) {
        char prev[ENGINE_PREV_HOSTS_MAX][ENGINE_HOST_ID_LEN + 1];
        size_t nprev = prev_hosts_read(cfg->data_dir, prev);
        host_ids_write(cfg->data_dir, engine_host_self(ep.eng)->id, prev, nprev);
        engine_set_cluster(ep.eng, (const char(*)[ENGINE_HOST_ID_LEN + 1]) prev, nprev, cfg->lease_ms);
    }
    if ((rc = engine_start(ep.eng)) != 0) {
        hlog(HLOG_ERROR, "cannot start the engine: %s", status_str(rc));
        goto out;
    }
    if (strcmp(store_kind(st), "postgres") == 0)
        line_file_write(cfg->data_dir, HOST_ID_FILE, engine_host_self(ep.eng)->id);
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
    addr_written = line_file_write(cfg->data_dir, ADDR_FILE, addr) == 0;
    hlog(HLOG_INFO, "serving http://%s (store %s, data %s, plugins %s, %d workers)", addr, store_kind(st),
         cfg->data_dir, cfg->plugins_dir, cfg->workers);
    uv_run(&ep.loop, UV_RUN_DEFAULT);
    status = 0;
    /* A clean stop: nobody serves that address any more. */
    if (addr_written)
        addr_file_remove(cfg->data_dir);
    /* Joins the commit thread: after this nothing writes to the store. */
    engine_close(ep.eng);
    api_close(a); /* its requests to other hosts: their handles close in the runs below */
    notify_stop(notifier); /* after the engine's last batch, which may add rows */
    notifier = NULL;
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
    notify_stop(notifier); /* a failed start: joins its threads before the store closes */
    api_free(a);
    store_close(st);
    if (data_lock >= 0)
        close(data_lock);
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
    if (deathnote_create((size_t)cfg->workers * 2) != 0) /* a slot per pass: running and abandoned */
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
    if (serve_config_parse(argc, argv, &cfg) != 0)
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
    /* --init and --map-size are about an LMDB store's folder and map: a database has neither. */
    if (cfg.store_url && cfg.init)
        hlog(HLOG_WARN, "--init: a PostgreSQL store needs none (a database is never replaced by a start); "
                        "ignored");
    if (cfg.store_url && cfg.map_size)
        hlog(HLOG_WARN, "--map-size: a PostgreSQL store has no map; ignored");
    if (!cfg.store_url && cfg.init && init_store_folder(&cfg) != 0)
        return EXIT_CONFIG;
    return cfg.supervise ? supervise(&cfg) : run_engine(&cfg);
}
