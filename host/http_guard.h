/*
 * http_guard.h - what the HTTP boundary accepts from a client before any
 * route runs: which Host names and Origins, which bodies, and the limits on
 * connections, streams, buffered bytes and resets (docs/API.md, "Limits").
 *
 * Pure policy: no sockets, no HTTP library, no loop. http.c applies it to
 * every request, http_conn.c to every connection; serve.c fills it from
 * flags and the environment through http_limits_set(). The tests drive both sides
 * (tests/unit/test_http_guard.c, tests/integration/test_http_*.py).
 *
 * May not: know about executions, the store, the engine or h2o.
 */
#ifndef TARRY_HTTP_GUARD_H
#define TARRY_HTTP_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many --allow-host and --cors-origin flags each (each a comma-separated list). */
#define HTTP_GUARD_MAX_NAMES 16
/* File descriptors kept back from the connection cap for the store, plugins, logs and the listener. */
#define HTTP_FD_RESERVE 128

typedef struct http_limits {
    /* Host and Origin (DNS rebinding, CSRF). Names are borrowed: from argv or the environment. */
    const char *allow_hosts[HTTP_GUARD_MAX_NAMES]; /* comma lists of extra Host names ("host", "host:port") */
    size_t n_allow_hosts;
    const char *cors_origins[HTTP_GUARD_MAX_NAMES]; /* comma lists of cross-site Origins allowed, with CORS */
    size_t n_cors_origins;
    bool loopback; /* the listener is on loopback: only loopback Host names (and allow_hosts) */
    unsigned port; /* the port served, for Host checks; 0 until known */

    uint64_t max_body;         /* bytes in one request body: 413 above it */
    size_t max_connections;    /* open client connections in all; 0: from the fd limit */
    size_t max_conns_per_addr; /* from one client address; 0: 3/4 of max_connections */
    size_t max_streams;        /* requests in flight on one connection (HTTP/2 streams) */
    uint64_t max_conn_buffer;  /* bytes a connection may have sent that no request has used yet */
    uint64_t max_total_buffer; /* the same, summed over every connection */
    unsigned max_resets;       /* requests abandoned (reset, gone) per connection per 10 s */
    uint64_t idle_timeout_ms;  /* a connection with no request in flight for this long is closed */
} http_limits;

/* The defaults (docs/API.md, "Limits"). */
void http_limits_default(http_limits *l);

/*
 * Set one limit by its flag name without the dashes ("max-body",
 * "allow-host", ...) from text (borrowed: it must outlive l). Returns 1 if
 * name is an HTTP limit and was set, 0 if name is not one of them, or
 * TARRY_EINVAL with the reason in err. List settings take comma-separated
 * names; each occurrence adds to the list.
 */
int http_limits_set(http_limits *l, const char *name, const char *text, char *err, size_t errlen);

/*
 * Fix the connection caps against the soft open-file limit `nofile`:
 * max_connections at most nofile - HTTP_FD_RESERVE (at least 1); an unset
 * per-address cap becomes 3/4 of it. Returns true when a configured cap
 * was lowered (the caller logs it).
 */
bool http_limits_fit_fds(http_limits *l, uint64_t nofile);

/* Whether `host` (a Host header or :authority, not NUL-terminated) may be served. An absent Host (NULL) is
 * refused on loopback. */
bool http_guard_host_ok(const http_limits *l, const char *host, size_t len);

/*
 * Whether a request with Origin `origin` sent to Host `host` is same-site
 * or from a configured origin. An absent Origin (NULL) is fine: browsers
 * send one on every cross-site state-changing request; "null" is foreign.
 */
bool http_guard_origin_ok(const http_limits *l, const char *origin, size_t olen, const char *host,
                          size_t hlen);

/* Whether origin is one of --cors-origin (then CORS headers are sent for it). */
bool http_guard_cors_origin(const http_limits *l, const char *origin, size_t len);

/* Whether a Content-Type header value is application/json (parameters such as charset allowed). */
bool http_guard_is_json(const char *ct, size_t len);

#endif
