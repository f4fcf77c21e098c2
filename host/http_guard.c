/*
 * http_guard.c - the Host, Origin and body rules and the HTTP limits
 * (http_guard.h): pure functions over texts, so they read the same in a
 * unit test as behind the server.
 *
 * Why Host: a web page on evil.example can make a browser's name for it
 * resolve to 127.0.0.1 (DNS rebinding) and then read and write a local
 * host as "same origin". The browser still sends Host: evil.example, so a
 * loopback listener serves only Host names that mean loopback (or ones the
 * operator lists). Why Origin: a cross-site form or fetch POST carries the
 * attacking page's Origin; refusing state-changing requests whose Origin
 * is not the host itself stops CSRF even with no token.
 *
 * May not: know about sockets, the HTTP library, executions or the store.
 */
#include "http_guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bytesize.h"
#include "duration.h"
#include "status.h"

/* Above this many connections, even with a large fd limit, an idle one costs more than it is worth. */
#define DEFAULT_MAX_CONNECTIONS 4096

void http_limits_default(http_limits *l)
{
    memset(l, 0, sizeof *l);
    l->loopback = true;
    l->max_body = 1u << 20;
    l->max_streams = 100;
    l->max_conn_buffer = 16u << 20;
    l->max_total_buffer = 256u << 20;
    l->max_resets = 100;
    l->idle_timeout_ms = 30000;
}

static int set_count(const char *name, const char *text, uint64_t min, uint64_t max, uint64_t *out, char *err,
                     size_t errlen)
{
    char *end;
    unsigned long long n;

    errno = 0;
    n = strtoull(text, &end, 10);
    if (!*text || *end || errno || text[0] == '-' || n < min || n > max) {
        snprintf(err, errlen, "--%s wants a whole number from %llu to %llu, got \"%s\"", name,
                 (unsigned long long)min, (unsigned long long)max, text);
        return TARRY_EINVAL;
    }
    *out = n;
    return 0;
}

static int set_size(const char *name, const char *text, uint64_t min, uint64_t max, uint64_t *out, char *err,
                    size_t errlen)
{
    char why[200];
    if (bytesize_parse(text, out, why, sizeof why) != 0) {
        snprintf(err, errlen, "--%s: %s", name, why);
        return TARRY_EINVAL;
    }
    if (*out < min || *out > max) {
        snprintf(err, errlen, "--%s: \"%s\" is out of range (%llu to %llu bytes)", name, text,
                 (unsigned long long)min, (unsigned long long)max);
        return TARRY_EINVAL;
    }
    return 0;
}

static int add_list(const char *name, const char **list, size_t *n, const char *text, char *err,
                    size_t errlen)
{
    if (*n >= HTTP_GUARD_MAX_NAMES) {
        snprintf(err, errlen, "--%s: at most %d of them (give several names in one, comma-separated)", name,
                 HTTP_GUARD_MAX_NAMES);
        return TARRY_EINVAL;
    }
    list[(*n)++] = text;
    return 0;
}

int http_limits_set(http_limits *l, const char *name, const char *text, char *err, size_t errlen)
{
    uint64_t n;
    int64_t ms;
    int rc;

    if (!strcmp(name, "allow-host"))
        rc = add_list(name, l->allow_hosts, &l->n_allow_hosts, text, err, errlen);
    else if (!strcmp(name, "cors-origin"))
        rc = add_list(name, l->cors_origins, &l->n_cors_origins, text, err, errlen);
    else if (!strcmp(name, "max-body")) {
        /* The API's own ceiling (HTTP_MAX_BODY, 1 MiB) is the most it can be raised to. */
        rc = set_size(name, text, 1024, 1u << 20, &l->max_body, err, errlen);
    } else if (!strcmp(name, "max-connections")) {
        if ((rc = set_count(name, text, 1, 1000000, &n, err, errlen)) == 0)
            l->max_connections = (size_t)n;
    } else if (!strcmp(name, "max-connections-per-addr")) {
        if ((rc = set_count(name, text, 1, 1000000, &n, err, errlen)) == 0)
            l->max_conns_per_addr = (size_t)n;
    } else if (!strcmp(name, "max-streams")) {
        /* h2o announces (and enforces) 100 open streams; requests run at most this many at once. */
        if ((rc = set_count(name, text, 1, 100, &n, err, errlen)) == 0)
            l->max_streams = (size_t)n;
    } else if (!strcmp(name, "max-conn-buffer"))
        rc = set_size(name, text, 64u << 10, UINT64_C(1) << 40, &l->max_conn_buffer, err, errlen);
    else if (!strcmp(name, "max-buffer"))
        rc = set_size(name, text, 64u << 10, UINT64_C(1) << 40, &l->max_total_buffer, err, errlen);
    else if (!strcmp(name, "max-resets")) {
        if ((rc = set_count(name, text, 1, 1000000, &n, err, errlen)) == 0)
            l->max_resets = (unsigned)n;
    } else if (!strcmp(name, "idle-timeout")) {
        char why[200];
        if (duration_parse(text, &ms, why, sizeof why) != 0) {
            snprintf(err, errlen, "--%s: %s", name, why);
            return TARRY_EINVAL;
        }
        if (ms < 100 || ms > 24LL * 3600 * 1000) {
            snprintf(err, errlen, "--%s: \"%s\" is out of range (100ms to 1 day)", name, text);
            return TARRY_EINVAL;
        }
        l->idle_timeout_ms = (uint64_t)ms;
        rc = 0;
    } else
        return 0;
    return rc == 0 ? 1 : rc;
}

bool http_limits_fit_fds(http_limits *l, uint64_t nofile)
{
    uint64_t room = nofile > HTTP_FD_RESERVE + 1 ? nofile - HTTP_FD_RESERVE : 1;
    bool lowered = false;

    if (!l->max_connections)
        l->max_connections = (size_t)(room < DEFAULT_MAX_CONNECTIONS ? room : DEFAULT_MAX_CONNECTIONS);
    else if (l->max_connections > room) {
        l->max_connections = (size_t)room;
        lowered = true;
    }
    if (!l->max_conns_per_addr)
        l->max_conns_per_addr = l->max_connections - l->max_connections / 4;
    if (l->max_conns_per_addr > l->max_connections)
        l->max_conns_per_addr = l->max_connections;
    if (!l->max_conns_per_addr)
        l->max_conns_per_addr = 1;
    return lowered;
}

/* ---- Host and Origin ------------------------------------------------------------ */

/*
 * Split a Host value into its name and port: "name", "name:port",
 * "[v6]", "[v6]:port". Returns false for anything else (a bare IPv6
 * address, an empty name, a port that is not digits).
 */
static bool split_host(const char *host, size_t len, const char **name, size_t *nlen, long *port)
{
    const char *p;
    *port = -1;
    if (len == 0)
        return false;
    if (host[0] == '[') {
        const char *close = memchr(host, ']', len);
        if (!close || close == host + 1)
            return false;
        *name = host + 1;
        *nlen = (size_t)(close - host - 1);
        p = close + 1;
        if (p == host + len)
            return true;
        if (*p != ':')
            return false;
    } else {
        const char *colon = memchr(host, ':', len);
        *name = host;
        *nlen = colon ? (size_t)(colon - host) : len;
        if (*nlen == 0 || (colon && memchr(colon + 1, ':', (size_t)(host + len - colon - 1))))
            return false;
        if (!colon)
            return true;
        p = colon;
    }
    p++;
    if (p == host + len || host + len - p > 5)
        return false;
    *port = 0;
    for (; p < host + len; p++) {
        if (*p < '0' || *p > '9')
            return false;
        *port = *port * 10 + (*p - '0');
    }
    return true;
}

static bool name_is_loopback(const char *name, size_t nlen)
{
    char text[INET6_ADDRSTRLEN];
    struct in_addr v4;
    struct in6_addr v6;

    if (nlen == 9 && strncasecmp(name, "localhost", 9) == 0)
        return true;
    if (nlen >= sizeof text)
        return false;
    memcpy(text, name, nlen);
    text[nlen] = '\0';
    if (inet_pton(AF_INET, text, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, text, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* Whether one of the comma-separated names in any of lists[0..n) equals text (any case). */
static bool in_lists(const char *const *lists, size_t n, const char *text, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = lists[i];
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t ilen = comma ? (size_t)(comma - p) : strlen(p);
            const char *s = p;
            size_t slen = ilen;
            while (slen && (*s == ' ' || *s == '\t'))
                s++, slen--;
            while (slen && (s[slen - 1] == ' ' || s[slen - 1] == '\t'))
                slen--;
            if (slen == len && strncasecmp(s, text, len) == 0)
                return true;
            p += ilen + (comma ? 1 : 0);
        }
    }
    return false;
}

bool http_guard_host_ok(const http_limits *l, const char *host, size_t len)
{
    const char *name;
    size_t nlen;
    long port;

    if (!host)
        return !l->loopback && l->n_allow_hosts == 0;
    /* Listed names: exactly as listed, or a listed name without a port matches it on any port. */
    if (in_lists(l->allow_hosts, l->n_allow_hosts, host, len))
        return true;
    if (!split_host(host, len, &name, &nlen, &port))
        return false;
    if (in_lists(l->allow_hosts, l->n_allow_hosts, name, nlen))
        return true;
    if (name_is_loopback(name, nlen))
        return port < 0 || l->port == 0 || (unsigned long)port == l->port;
    /* Beyond loopback a token guards every request; the Host list is then the operator's choice. */
    return !l->loopback && l->n_allow_hosts == 0;
}

bool http_guard_cors_origin(const http_limits *l, const char *origin, size_t len)
{
    return origin && in_lists(l->cors_origins, l->n_cors_origins, origin, len);
}

bool http_guard_origin_ok(const http_limits *l, const char *origin, size_t olen, const char *host,
                          size_t hlen)
{
    static const char *const schemes[] = {"http://", "https://"};

    if (!origin)
        return true;
    if (http_guard_cors_origin(l, origin, olen))
        return true;
    if (!host)
        return false;
    for (size_t i = 0; i < 2; i++) {
        size_t slen = strlen(schemes[i]);
        if (olen == slen + hlen && strncasecmp(origin, schemes[i], slen) == 0 &&
            strncasecmp(origin + slen, host, hlen) == 0)
            return true;
    }
    return false;
}

bool http_guard_is_json(const char *ct, size_t len)
{
    static const char json[] = "application/json";
    const char *semi;

    if (!ct)
        return false;
    if ((semi = memchr(ct, ';', len)))
        len = (size_t)(semi - ct);
    while (len && (*ct == ' ' || *ct == '\t'))
        ct++, len--;
    while (len && (ct[len - 1] == ' ' || ct[len - 1] == '\t'))
        len--;
    return len == sizeof json - 1 && strncasecmp(ct, json, len) == 0;
}
