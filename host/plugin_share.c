/*
 * plugin_share.c - plugin versions shared through the store (plugin_share.h):
 * plugins.h's hooks, each one store call with its reason in the words a log
 * line needs.
 *
 * May not: dlopen, touch the registry or the loop.
 */
#include "plugin_share.h"

#include <stdio.h>

#include "status.h"

static int keep(void *user, const plugin *p, const char *bytes, size_t len, char *why, size_t whylen)
{
    store *st = user;
    int rc = store_plugin_put(st, p->hash, p->name, p->version, bytes, len);

    if (rc != 0)
        snprintf(why, whylen,
                 "its bytes cannot be kept in the %s store, where other hosts load versions from: %s",
                 store_kind(st), store_last_error(st));
    return rc;
}

static int fetch(void *user, const char *hash, char **bytes, size_t *len, char *why, size_t whylen)
{
    store *st = user;
    void *got = NULL;
    int rc = store_plugin_get(st, hash, &got, len);

    *bytes = got;
    if (rc == TARRY_ENOTFOUND)
        snprintf(why, whylen, "the %s store has no copy of it either", store_kind(st));
    else if (rc != 0)
        snprintf(why, whylen, "reading it from the %s store failed: %s", store_kind(st),
                 store_last_error(st));
    else
        snprintf(why, whylen, "fetched from the %s store", store_kind(st));
    return rc;
}

plugins_hooks plugin_share_hooks(store *st)
{
    plugins_hooks h = {keep, fetch, st};
    return h;
}
