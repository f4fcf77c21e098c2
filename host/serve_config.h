/*
 * serve_config.h - `tarry serve`'s configuration: every flag and
 * environment variable, parsed and checked into one serve_config.
 *
 * The environment (TARRY_*) is read first and flags override it, so a
 * systemd unit or a container can set everything through variables and a
 * person can still override one on the command line. Option parsing is
 * getopt_long's; sizes, durations and the HTTP limits are parsed by their
 * own rooms (bytesize.h, duration.h, http_guard.h).
 *
 * May not: open the store, bind a socket or start anything (serve.c does,
 * from the config); it only reads argv and the environment.
 */
#ifndef TARRY_SERVE_CONFIG_H
#define TARRY_SERVE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_guard.h"
#include "notify_config.h"

#define SERVE_RETENTION_FOREVER (-1)

typedef struct serve_config {
    const char *plugins_dir;
    const char *data_dir;  /* the host's own folder: its lock, tarry.addr, plugins/; LMDB: the store */
    const char *store_url; /* NULL: the LMDB store in data_dir; else a postgres:// URL (--store) */
    const char *listen;
    int listen_fd; /* the supervisor's listening socket, or -1: the engine binds `listen` itself */
    int workers;
    uint64_t map_size;      /* 0: the store's default (LMDB only) */
    size_t queue_window;    /* 0: the engine's default */
    uint32_t log_max_lines; /* 0: the engine's default (10,000 lines per execution) */
    size_t log_line_max;    /* 0: the engine's default (4 KiB per line) */
    uint64_t memory_limit;  /* 0: none; else the engine's RLIMIT_AS beyond the store's map */
    int64_t stuck_after_ms; /* 0: the engine's default */
    int64_t lease_ms;       /* --lease: 0, the store's default (STORE_LEASE_MS_DEFAULT) */
    const char *advertise;  /* --advertise HOST:PORT, where the other hosts reach this one; NULL: --listen's */
    uint32_t poison_crashes, quarantine_crashes; /* 0: the engine's defaults (3, 3) */
    int64_t quarantine_window_ms;                /* 0: the engine's default (60 s) */
    int64_t idempotency_ttl_ms;                  /* 0: the engine's default (24 h) */
    int64_t retention_ms; /* 0: the engine's default (30 d); SERVE_RETENTION_FOREVER: "0", never deleted */
    bool supervise;
    bool watch;       /* reload when the plugins folder changes */
    bool init;        /* --init: a new store may replace a lost one (done once, before the first engine) */
    http_limits http; /* Host/Origin rules and connection limits (http_guard.h) */
    notify_config notify; /* failure notifications' webhooks (notify_config.h); lives for the process */
} serve_config;

/*
 * Fill `cfg` from the environment, then argv (argv[0] is "serve"). Returns
 * 0, or -1 with the reason printed to stderr (the caller exits 2). --help
 * prints the usage and exits 0.
 */
int serve_config_parse(int argc, char **argv, serve_config *cfg);

#endif
