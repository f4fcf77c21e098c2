/*
 * notify_config.c - webhooks and the dashboard link base (notify_config.h),
 * each URL checked with libcurl's URL API (curl_url), the one the sender
 * uses, so a URL accepted here is one libcurl can send to.
 *
 * May not: send anything, or touch the store.
 */
#include "notify_config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_FILE_MAX (1 << 20)

/* url checked (absolute, http or https, with a host); *shown the URL without userinfo, query or
 * fragment (malloc'ed). 0, or -1 with the reason in err. */
static int url_check(const char *url, char **shown, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    CURLUcode uc;
    int rc = -1;

    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if ((uc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK) {
        snprintf(err, errlen, "\"%s\" is not a URL: %s", url, curl_url_strerror(uc));
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        snprintf(err, errlen, "\"%s\": only http:// and https:// URLs are sent to", url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        snprintf(err, errlen, "\"%s\" names no host", url);
        goto out;
    }
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    if (shown) {
        size_t len =
            strlen(scheme) + strlen(host) + (port ? strlen(port) + 1 : 0) + (path ? strlen(path) : 0) + 4;
        if (!(*shown = malloc(len))) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        snprintf(*shown, len, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "",
                 path && strcmp(path, "/") != 0 ? path : "");
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

static bool starts_with_scheme(const char *s)
{
    return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

/* A function name as a filter holds: not empty, no white space, "=" or ",". */
static bool function_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++)
        if (isspace((unsigned char)s[i]) || s[i] == '=' || s[i] == ',')
            return false;
    return true;
}

static void free_functions(char **functions, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(functions[i]);
    free(functions);
}

/* Append a hook (url copied, functions owned by the hook from now on, freed on failure). */
static int hook_add(notify_config *c, const char *what, const char *url, char **functions, size_t count)
{
    char err[600], *shown = NULL;
    notify_hook *h;

    if (c->count >= NOTIFY_HOOKS_MAX) {
        fprintf(stderr, "tarry serve: %s: at most %d webhooks\n", what, NOTIFY_HOOKS_MAX);
        goto fail;
    }
    if (url_check(url, &shown, err, sizeof err) != 0) {
        fprintf(stderr, "tarry serve: %s: %s\n", what, err);
        goto fail;
    }
    h = &c->hooks[c->count];
    if (!(h->url = strdup(url))) {
        free(shown);
        fprintf(stderr, "tarry serve: out of memory\n");
        goto fail;
    }
    h->shown_url = shown;
    h->functions = functions;
    h->function_count = count;
    c->count++;
    return 0;
fail:
    free_functions(functions, count);
    return -1;
}

int notify_config_add(notify_config *c, const char *what, const char *spec)
{
    const char *eq, *p;
    char **functions = NULL;
    size_t count = 0;

    if (starts_with_scheme(spec))
        return hook_add(c, what, spec, NULL, 0);
    if (!(eq = strchr(spec, '=')) || !starts_with_scheme(eq + 1)) {
        fprintf(stderr,
                "tarry serve: %s: want URL or FUNCTION,FUNCTION=URL with an http:// or https:// URL, got "
                "\"%s\"\n",
                what, spec);
        return -1;
    }
    for (p = spec; p <= eq; p++) {
        const char *end = p;
        char **grown;
        while (end < eq && *end != ',')
            end++;
        if (!function_name_ok(p, (size_t)(end - p))) {
            fprintf(stderr, "tarry serve: %s: \"%.*s\" is not a function name (in \"%.*s\")\n", what,
                    (int)(end - p), p, (int)(eq - spec), spec);
            goto fail;
        }
        if (!(grown = realloc(functions, (count + 1) * sizeof *grown)) ||
            !(grown[count] = strndup(p, (size_t)(end - p)))) {
            if (grown)
                functions = grown;
            fprintf(stderr, "tarry serve: out of memory\n");
            goto fail;
        }
        functions = grown;
        count++;
        p = end;
    }
    return hook_add(c, what, eq + 1, functions, count);
fail:
    free_functions(functions, count);
    return -1;
}

int notify_config_add_list(notify_config *c, const char *what, const char *list)
{
    const char *p = list;
    while (*p) {
        const char *end;
        char *one;
        int rc;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        for (end = p; *end && !isspace((unsigned char)*end); end++)
            ;
        if (!(one = strndup(p, (size_t)(end - p)))) {
            fprintf(stderr, "tarry serve: out of memory\n");
            return -1;
        }
        rc = notify_config_add(c, what, one);
        free(one);
        if (rc != 0)
            return -1;
        p = end;
    }
    return 0;
}

int notify_config_public_url(notify_config *c, const char *what, const char *url)
{
    char err[600];
    size_t len = strlen(url);

    if (url_check(url, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "tarry serve: %s: %s\n", what, err);
        return -1;
    }
    free(c->public_url);
    while (len > 0 && url[len - 1] == '/') /* the link adds its own "/" */
        len--;
    if (!(c->public_url = strndup(url, len))) {
        fprintf(stderr, "tarry serve: out of memory\n");
        return -1;
    }
    return 0;
}

/* One entry of "webhooks" (the i-th), into c. */
static int load_hook(notify_config *c, const char *path, int i, const cJSON *w)
{
    const cJSON *url = NULL, *fns = NULL, *item;
    char what[4200], **functions = NULL;
    size_t count = 0;

    snprintf(what, sizeof what, "%s: webhooks[%d]", path, i);
    if (!cJSON_IsObject(w)) {
        fprintf(stderr, "tarry serve: %s: want an object {\"url\": ..., \"functions\": [...]}\n", what);
        return -1;
    }
    cJSON_ArrayForEach(item, w)
    {
        if (strcmp(item->string, "url") == 0 && !url)
            url = item;
        else if (strcmp(item->string, "functions") == 0 && !fns)
            fns = item;
        else {
            fprintf(stderr, "tarry serve: %s: unknown or repeated key \"%s\" (want url, functions)\n", what,
                    item->string);
            return -1;
        }
    }
    if (!cJSON_IsString(url)) {
        fprintf(stderr, "tarry serve: %s: \"url\" must be a string\n", what);
        return -1;
    }
    if (fns && !cJSON_IsArray(fns)) {
        fprintf(stderr, "tarry serve: %s: \"functions\" must be an array of function names\n", what);
        return -1;
    }
    if (fns && cJSON_GetArraySize(fns) == 0) {
        fprintf(stderr, "tarry serve: %s: \"functions\" is empty (leave it out for every function)\n", what);
        return -1;
    }
    cJSON_ArrayForEach(item, fns)
    {
        char **grown;
        if (!cJSON_IsString(item) || !function_name_ok(item->valuestring, strlen(item->valuestring))) {
            fprintf(stderr, "tarry serve: %s: \"functions\" must hold function names\n", what);
            goto fail;
        }
        if (!(grown = realloc(functions, (count + 1) * sizeof *grown)) ||
            !(grown[count] = strdup(item->valuestring))) {
            if (grown)
                functions = grown;
            fprintf(stderr, "tarry serve: out of memory\n");
            goto fail;
        }
        functions = grown;
        count++;
    }
    return hook_add(c, what, url->valuestring, functions, count);
fail:
    for (size_t k = 0; k < count; k++)
        free(functions[k]);
    free(functions);
    return -1;
}

int notify_config_load(notify_config *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len;
    cJSON *root = NULL, *item;
    const char *end = NULL;
    bool seen_hooks = false, seen_public = false;
    int rc = -1, i = 0;

    if (!f) {
        fprintf(stderr, "tarry serve: --notify-config %s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    if (!(text = malloc(CONFIG_FILE_MAX + 1))) {
        fclose(f);
        fprintf(stderr, "tarry serve: out of memory\n");
        return -1;
    }
    len = fread(text, 1, CONFIG_FILE_MAX + 1, f);
    fclose(f);
    if (len > CONFIG_FILE_MAX) {
        fprintf(stderr, "tarry serve: %s: larger than 1MiB\n", path);
        goto out;
    }
    text[len] = '\0';
    if (strlen(text) != len) {
        fprintf(stderr, "tarry serve: %s: holds a NUL byte; want JSON text\n", path);
        goto out;
    }
    if (!(root = cJSON_ParseWithOpts(text, &end, true))) {
        size_t at = end ? (size_t)(end - text) : 0;
        fprintf(stderr, "tarry serve: %s: not valid JSON (near byte %zu)\n", path, at);
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        fprintf(stderr, "tarry serve: %s: want a JSON object {\"webhooks\": [...]}\n", path);
        goto out;
    }
    cJSON_ArrayForEach(item, root)
    {
        char what[4200];
        if (strcmp(item->string, "webhooks") == 0 && !seen_hooks) {
            const cJSON *w;
            seen_hooks = true;
            if (!cJSON_IsArray(item)) {
                fprintf(stderr, "tarry serve: %s: \"webhooks\" must be an array\n", path);
                goto out;
            }
            cJSON_ArrayForEach(w, item)
            {
                if (load_hook(c, path, i++, w) != 0)
                    goto out;
            }
        } else if (strcmp(item->string, "public_url") == 0 && !seen_public) {
            seen_public = true;
            snprintf(what, sizeof what, "%s: public_url", path);
            if (!cJSON_IsString(item)) {
                fprintf(stderr, "tarry serve: %s must be a string\n", what);
                goto out;
            }
            if (notify_config_public_url(c, what, item->valuestring) != 0)
                goto out;
        } else {
            fprintf(stderr, "tarry serve: %s: unknown or repeated key \"%s\" (want webhooks, public_url)\n",
                    path, item->string);
            goto out;
        }
    }
    if (!seen_hooks) {
        fprintf(stderr, "tarry serve: %s: no \"webhooks\" array\n", path);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    free(text);
    return rc;
}

bool notify_hook_wants(const notify_hook *h, const char *function)
{
    if (h->function_count == 0)
        return true;
    for (size_t i = 0; i < h->function_count; i++)
        if (strcmp(h->functions[i], function) == 0)
            return true;
    return false;
}

void notify_config_free(notify_config *c)
{
    for (size_t i = 0; i < c->count; i++) {
        notify_hook *h = &c->hooks[i];
        free(h->url);
        free(h->shown_url);
        free_functions(h->functions, h->function_count);
    }
    free(c->public_url);
    memset(c, 0, sizeof *c);
}
