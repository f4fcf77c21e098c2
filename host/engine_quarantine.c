/*
 * engine_quarantine.c - functions whose executions keep crashing the host.
 *
 * A client that retries a call that crashes the engine would restart it in
 * a loop, each time with a new execution, so no poison pill ever trips.
 * Every crash recovery attributes to an execution (engine_recovery.c) is
 * noted under its function and plugin version; when --quarantine-crashes
 * different executions of it crashed the host within --quarantine-window,
 * the function is quarantined: new triggers are refused (503) and queued
 * executions of it are blocked instead of run (an upgrade to a new version
 * releases them). It is lifted when a new version of its plugin is loaded:
 * the quarantine holds for the version (hash) that crashed, so loading that
 * same build again puts it back in force.
 *
 * The histories live in the store (fn_crashes), because every crash is a new
 * engine process. They are written with the engine's next batch; the list
 * in memory is small (functions that ever crashed the host), searched
 * linearly.
 *
 * May not: include lmdb.h, block, write the store except through the batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"

struct fn_crashes {
    char *function;
    store_fn_crashes c; /* c.reason points at reason[] */
    char reason[400];
    bool dirty, in_flight;
};

static struct fn_crashes *find(engine *e, const char *function)
{
    for (size_t i = 0; i < e->fn_crash_count; i++)
        if (!strcmp(e->fn_crashes[i].function, function))
            return &e->fn_crashes[i];
    return NULL;
}

static struct fn_crashes *add(engine *e, const char *function)
{
    struct fn_crashes *f;
    if (e->fn_crash_count == e->fn_crash_cap) {
        size_t cap = e->fn_crash_cap ? 2 * e->fn_crash_cap : 8;
        struct fn_crashes *grown = realloc(e->fn_crashes, cap * sizeof *grown);
        if (!grown)
            return NULL;
        e->fn_crashes = grown;
        e->fn_crash_cap = cap;
    }
    f = &e->fn_crashes[e->fn_crash_count];
    memset(f, 0, sizeof *f);
    if (!(f->function = strdup(function)))
        return NULL;
    e->fn_crash_count++;
    return f;
}

static int loaded(void *user, const char *function, const store_fn_crashes *c)
{
    engine *e = user;
    struct fn_crashes *f = add(e, function);
    if (!f)
        return TARRY_ENOMEM;
    f->c = *c;
    snprintf(f->reason, sizeof f->reason, "%s", c->reason ? c->reason : "");
    f->c.reason = f->reason;
    return 0;
}

int engine_quarantine_load(engine *e, store_txn *txn)
{
    int rc = store_fn_crashes_scan(txn, loaded, e);
    for (size_t i = 0; rc == 0 && i < e->fn_crash_count; i++)
        if (e->fn_crashes[i].c.quarantined_at)
            hlog(HLOG_WARN, "function %s (plugin version %s) is quarantined: %s", e->fn_crashes[i].function,
                 e->fn_crashes[i].c.hash, e->fn_crashes[i].reason);
    return rc;
}

void engine_quarantine_crash(engine *e, const char *function, const char *hash, const exec_id *id,
                             const char *cause)
{
    struct fn_crashes *f = find(e, function);
    int64_t now = clock_now_ms();
    uint32_t n = 0;
    char text[ID_TEXT_LEN + 1];

    if (!f && !(f = add(e, function))) {
        hlog(HLOG_ERROR, "out of memory noting a crash of %s", function);
        return;
    }
    if (strcmp(f->c.hash, hash ? hash : "") != 0) {
        /* Another version: its history starts over. */
        memset(&f->c, 0, sizeof f->c);
        snprintf(f->c.hash, sizeof f->c.hash, "%s", hash ? hash : "");
        f->reason[0] = '\0';
    }
    /* Newest first; one entry per execution. */
    {
        store_fn_crashes next = f->c;
        next.count = 1;
        next.at[0] = now;
        next.ids[0] = *id;
        for (uint32_t i = 0; i < f->c.count && next.count < STORE_FN_CRASHES_KEPT; i++)
            if (memcmp(&f->c.ids[i], id, sizeof *id) != 0) {
                next.at[next.count] = f->c.at[i];
                next.ids[next.count++] = f->c.ids[i];
            }
        f->c = next;
    }
    for (uint32_t i = 0; i < f->c.count; i++)
        n += now - f->c.at[i] <= e->quarantine_window_ms;
    id_format(id, text);
    if (!f->c.quarantined_at && n >= e->quarantine_crashes) {
        f->c.quarantined_at = now;
        snprintf(f->reason, sizeof f->reason,
                 "%u different executions of it crashed the host within %lld s (the last, %s: %s); load a "
                 "new version of its plugin to lift the quarantine",
                 n, (long long)(e->quarantine_window_ms / 1000), text, cause);
        hlog(HLOG_ERROR, "function %s (plugin version %s) is quarantined: %s", function, f->c.hash,
             f->reason);
    }
    f->c.reason = f->reason;
    f->dirty = true;
}

bool engine_quarantined(engine *e, const plugin_fn *fn, char *why, size_t len)
{
    struct fn_crashes *f;
    if (!e->fn_crash_count || !fn || !(f = find(e, fn->name)) || !f->c.quarantined_at ||
        strcmp(f->c.hash, fn->owner->hash) != 0)
        return false;
    if (why)
        snprintf(why, len, "function \"%s\" is quarantined: %s", fn->name, f->reason);
    return true;
}

int engine_quarantine_reason(engine *e, const char *function, char *why, size_t len)
{
    return engine_quarantined(e, plugins_find(e->pl, function), why, len) ? 0 : TARRY_ENOTFOUND;
}

int engine_quarantine_batch(engine *e, store_batch *b)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < e->fn_crash_count; i++) {
        struct fn_crashes *f = &e->fn_crashes[i];
        if (!f->dirty)
            continue;
        if ((rc = store_batch_fn_crashes_put(b, f->function, &f->c)) == 0) {
            f->dirty = false;
            f->in_flight = true;
        }
    }
    return rc;
}

void engine_quarantine_committed(engine *e, bool ok)
{
    for (size_t i = 0; i < e->fn_crash_count; i++) {
        struct fn_crashes *f = &e->fn_crashes[i];
        if (f->in_flight && !ok)
            f->dirty = true; /* written again with the retried batch */
        f->in_flight = false;
    }
}

void engine_quarantine_free(engine *e)
{
    for (size_t i = 0; i < e->fn_crash_count; i++)
        free(e->fn_crashes[i].function);
    free(e->fn_crashes);
    e->fn_crashes = NULL;
    e->fn_crash_count = e->fn_crash_cap = 0;
}
