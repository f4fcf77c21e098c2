/*
 * api_static.h - the dashboard's files (web/), served from the binary.
 *
 * GET or HEAD `/` answers index.html, `/ui/<file>` the other files of web/,
 * embedded at build time (cmake/EmbedWeb.cmake). They hold no data, so they
 * need no token: every /v1 call the page makes carries the token the user
 * typed. Each answer carries a Content-Security-Policy that allows only this
 * origin, nosniff, no referrer and its Content-Type; every file is
 * revalidated on use (no-cache) by its ETag (its SHA-256), and a matching
 * If-None-Match is answered 304.
 *
 * May not: read files at run time, know about executions.
 */
#ifndef TARRY_API_STATIC_H
#define TARRY_API_STATIC_H

#include <stdbool.h>

#include "http.h"

/* The policy on every dashboard answer (docs/API.md, "Dashboard"). */
#define API_STATIC_CSP                                                                                       \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "                        \
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* Whether `path` is the dashboard's (`/` or under `/ui/`); if so, req has been answered. */
bool api_static_handle(http_req *req, http_str path);

#endif
