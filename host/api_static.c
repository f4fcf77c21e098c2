/*
 * api_static.c - the dashboard's files, served from the arrays the build
 * embedded (generated/web_assets.h, from web/ by cmake/EmbedWeb.cmake).
 *
 * The table is small (a dozen files): a linear search by name is enough.
 * Names in the table are flat file names, and a request's name must equal
 * one of them byte for byte, so no path (`..`, `%2F`) can reach anything
 * else.
 *
 * May not: read files at run time, know about executions.
 */
#include "api_static.h"

#include <string.h>

#include "web_assets.h"

#define WEB_INDEX "index.html"
#define WEB_PREFIX "/ui/"

static const struct web_asset *asset_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof web_assets / sizeof web_assets[0]; i++)
        if (strlen(web_assets[i].name) == len && memcmp(web_assets[i].name, name, len) == 0)
            return &web_assets[i];
    return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The Content-Type by the file's extension; what the dashboard does not use is an octet stream. */
static const char *content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".txt", "text/plain; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (ends_with(name, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

/* Whether the client's If-None-Match names this ETag (or is "*"). ETags are quoted hex, so a
 * substring match cannot confuse two of them. */
static bool not_modified(http_req *req, const char *etag)
{
    http_str inm = http_req_header(req, "If-None-Match");
    size_t n = strlen(etag);

    if (!inm.ptr)
        return false;
    if (inm.len == 1 && inm.ptr[0] == '*')
        return true;
    for (size_t i = 0; i + n <= inm.len; i++)
        if (memcmp(inm.ptr + i, etag, n) == 0)
            return true;
    return false;
}

static void serve(http_req *req, const struct web_asset *a)
{
    http_add_header(req, "Content-Security-Policy", API_STATIC_CSP);
    http_add_header(req, "Referrer-Policy", "no-referrer");
    http_add_header(req, "ETag", a->etag);
    /* The page names its assets by fixed paths, so a browser must revalidate each of them to
     * pick up a new build: cheap, a 304 by ETag; never a stale page with a new host. */
    http_add_header(req, "Cache-Control", "no-cache");
    if (not_modified(req, a->etag)) {
        http_reply_text(req, 304, content_type(a->name), "", 0);
        return;
    }
    http_reply_text(req, 200, content_type(a->name), (const char *)a->bytes, a->len);
}

bool api_static_handle(http_req *req, http_str path)
{
    const struct web_asset *a;
    size_t plen = strlen(WEB_PREFIX);

    if (path.len == 1 && path.ptr[0] == '/')
        a = asset_find(WEB_INDEX, strlen(WEB_INDEX));
    else if (path.len >= plen && memcmp(path.ptr, WEB_PREFIX, plen) == 0)
        a = asset_find(path.ptr + plen, path.len - plen);
    else
        return false;
    if (!http_req_method_is(req, "GET") && !http_req_method_is(req, "HEAD")) {
        http_reply_method_not_allowed(req, "GET, HEAD");
        return true;
    }
    if (!a) {
        http_reply_error(req, 404, "not_found", "no such dashboard file: %.*s",
                         (int)(path.len > 200 ? 200 : path.len), path.ptr);
        return true;
    }
    serve(req, a);
    return true;
}
