/*
 * engine_versions.c - plugin versions as the engine sees them: reloading
 * the plugins folder, upgrading executions to another version, loading the
 * versions unfinished executions are pinned to, and closing versions
 * nothing uses any more.
 *
 * dlopen and dlclose run plugin code (constructors, destructors), so every
 * load and close happens on a threadpool worker (plugins.h); the decisions
 * are made here, on the loop.
 *
 * May not: call dlopen/dlclose on the loop thread, write the store directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "hlog.h"
#include "status.h"
#include "store_cluster.h"

struct pinned_ctx {
    char (*hashes)[PLUGIN_HASH_LEN + 1];
    size_t count, cap;
};

static int collect_pin(void *user, const exec_record *rec)
{
    struct pinned_ctx *pc = user;
    if (!rec->plugin_hash || strlen(rec->plugin_hash) != PLUGIN_HASH_LEN)
        return 0;
    for (size_t i = 0; i < pc->count; i++)
        if (strcmp(pc->hashes[i], rec->plugin_hash) == 0)
            return 0;
    if (pc->count == pc->cap) {
        size_t cap = pc->cap ? pc->cap * 2 : 8;
        void *grown = realloc(pc->hashes, cap * sizeof *pc->hashes);
        if (!grown)
            return TARRY_ENOMEM;
        pc->hashes = grown;
        pc->cap = cap;
    }
    memcpy(pc->hashes[pc->count++], rec->plugin_hash, PLUGIN_HASH_LEN + 1);
    return 0;
}

static int collect_hash(void *user, const char *hash)
{
    exec_record r = {.plugin_hash = hash};
    return collect_pin(user, &r);
}

/* Every version an unfinished stored execution is pinned to: one seek per version in the
 * store's pins index, whatever the number of executions. */
static int collect_stored_pins(engine *e, struct pinned_ctx *pc)
{
    store_txn *txn;
    int rc = store_txn_begin(e->st, false, &txn);

    if (rc != 0)
        return rc;
    rc = store_pinned_versions(txn, collect_hash, pc);
    store_txn_abort(txn);
    return rc;
}

/* ---- closing old versions ------------------------------------------------------ */

typedef struct close_job {
    uv_work_t work;
    plugin **retired;
    size_t count;
} close_job;

static void close_work(uv_work_t *req)
{
    close_job *job = req->data;
    plugins_close(job->retired, job->count);
}

static void close_done(uv_work_t *req, int status)
{
    (void)status;
    free(req->data);
}

static int collect_active_pin(engine *e, struct pinned_ctx *pc)
{
    for (size_t i = 0; i < e->active.cap; i++) {
        exec *x = e->active.slots[i].value;
        if (x && x->fn) {
            exec_record r = {.plugin_hash = x->fn->owner->hash};
            int rc = collect_pin(pc, &r);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/*
 * A version that is not current is closed once no unfinished execution is
 * pinned to it: neither a stored one (scanned) nor one in memory (an
 * execution being created or finishing). Decided here, on the loop, with
 * nothing in between; closed on a worker, since dlclose runs plugin code.
 */
static void on_sweep(uv_timer_t *t)
{
    engine *e = t->data;
    struct pinned_ctx pc = {NULL, 0, 0};
    close_job *job;
    int rc;

    /* An upgrade check replays code of versions nothing may pin: it sweeps again when the last ends. */
    if (e->reloading || e->checks_running)
        return;
    rc = collect_stored_pins(e, &pc);
    if (rc == 0)
        rc = collect_active_pin(e, &pc);
    if (rc == 0 && (job = calloc(1, sizeof *job))) {
        job->retired = plugins_retire_unused(e->pl, pc.hashes, pc.count, &job->count);
        job->work.data = job;
        if (!job->count || uv_queue_work(e->loop, &job->work, close_work, close_done) != 0) {
            /* Nothing to close (or no worker): leave them mapped, harmless. */
            free(job->retired);
            free(job);
        }
    }
    free(pc.hashes);
}

void engine_sweep_soon(engine *e)
{
    /* Debounced: one scan for a burst of finishing executions. */
    if (!uv_is_active((uv_handle_t *)&e->sweep_timer))
        uv_timer_start(&e->sweep_timer, on_sweep, 1000, 0);
}

int engine_load_pinned_versions(engine *e)
{
    struct pinned_ctx pc = {NULL, 0, 0};
    int rc = collect_stored_pins(e, &pc);

    for (size_t i = 0; rc == 0 && i < pc.count; i++)
        plugins_load_stored(e->pl, pc.hashes[i]); /* a missing one blocks its executions, with the reason */
    free(pc.hashes);
    return rc;
}

/* ---- reload ---------------------------------------------------------------------- */

static void reload_work(uv_work_t *req)
{
    engine *e = req->data;
    e->reload_scan = plugins_scan_dir(e->pl);
}

static void reload_done(uv_work_t *req, int status)
{
    engine *e = req->data;
    (void)status;
    if (e->reload_scan) {
        plugins_apply(e->pl, e->reload_scan);
        engine_metrics_reloaded(e);
    }
    e->reload_scan = NULL;
    e->plugins_changed = e->shared; /* the other hosts are shown what this one serves now */
    engine_cron_update(e); /* new, changed or removed schedules */
    engine_sweep_soon(e);  /* the version it replaced may have no executions left */
    e->reloading = false;
    /* Everyone who asked before the scan began gets its report; those who
     * asked during it get the next one. */
    while (!list_empty(&e->reload_answer)) {
        engine_waiter *w = list_entry(e->reload_answer.next, engine_waiter, node);
        engine_waiter_answer(e, w, 0, NULL);
    }
    if (!list_empty(&e->reload_waiting))
        engine_reload(e, NULL);
    engine_commit_maybe(e);
}

int engine_reload_everywhere(engine *e, engine_waiter *w)
{
    if (e->shared) {
        e->announce |= STORE_EVENT_RELOAD; /* told with the next batch (engine_cluster.c) */
        engine_commit_maybe(e);
    }
    return engine_reload(e, w);
}

int engine_reload(engine *e, engine_waiter *w)
{
    if (w) {
        engine_waiter_init(w, NULL, WAIT_ACK);
        list_push_back(&e->reload_waiting, &w->node);
    }
    if (e->reloading)
        return 0;
    /* The scan hashes, copies and dlopens: a worker does it, never the loop. */
    e->reloading = true;
    while (!list_empty(&e->reload_waiting)) {
        list_node *n = e->reload_waiting.next;
        list_unlink(n);
        list_push_back(&e->reload_answer, n);
    }
    e->reload_work.data = e;
    if (uv_queue_work(e->loop, &e->reload_work, reload_work, reload_done) != 0) {
        e->reloading = false;
        return TARRY_ENOMEM;
    }
    return 0;
}

/* ---- upgrade -------------------------------------------------------------------------- */

static int upgrade_now(engine *e, const exec_id *id, const char *to_hash, engine_waiter *w)
{
    exec *x = idmap_get(&e->active, id);
    bool loaded_here = false;
    const plugin_fn *fn;
    store_txn *txn;
    exec_record rec;
    int rc = 0;

    if (!x) {
        if ((rc = store_txn_begin(e->st, false, &txn)) != 0)
            return rc;
        rc = store_exec_get(txn, id, &rec);
        if (rc == 0 && !(x = engine_exec_from_store(e, &rec)))
            rc = TARRY_ENOMEM;
        store_txn_abort(txn);
        if (rc != 0)
            return rc;
        loaded_here = true;
    }
    /* A running pass keeps its code; a final execution has nothing to replay. */
    if (x->rec.state == EXEC_RUNNING || exec_state_final(x->rec.state) || x->in_dirty ||
        x->dispatch_after_commit) {
        rc = TARRY_ESTATE;
        goto refuse;
    }
    fn = to_hash ? plugins_find_version(e->pl, to_hash, x->rec.function)
                 : plugins_find(e->pl, x->rec.function);
    if (!fn) {
        rc = TARRY_ENOTFOUND;
        goto refuse;
    }
    engine_exec_bind(x, fn);
    /* The next replay runs the new code against the journal: the
     * determinism check decides, and blocks it again if they disagree. */
    if (x->rec.state == EXEC_BLOCKED) {
        x->rec.error = NULL;
        engine_wake(e, x);
    }
    engine_waiter_init(w, id, WAIT_ACK);
    list_push_back(&x->acks, &w->node);
    engine_exec_dirty(e, x);
    return 0;
refuse:
    /* Loaded only to look at it: it must not stay in memory (nor pin its version). */
    if (loaded_here)
        engine_exec_free(e, x);
    return rc;
}

typedef struct upgrade_job {
    uv_work_t work;
    engine *e;
    exec_id id;
    char hash[PLUGIN_HASH_LEN + 1];
    list_node waiter; /* holds the caller's waiter; empty once it went away */
    int loaded;
} upgrade_job;

static void upgrade_load(uv_work_t *req)
{
    upgrade_job *job = req->data;
    job->loaded = plugins_load_stored(job->e->pl, job->hash);
}

static void upgrade_loaded(uv_work_t *req, int status)
{
    upgrade_job *job = req->data;
    int rc = status ? TARRY_ENOMEM : job->loaded;

    if (!list_empty(&job->waiter)) {
        engine_waiter *w = list_entry(job->waiter.next, engine_waiter, node);
        list_unlink(&w->node);
        if (rc == 0)
            rc = upgrade_now(job->e, &job->id, job->hash, w);
        if (rc != 0)
            w->cb(w, rc, NULL);
    }
    free(job);
}

int engine_upgrade(engine *e, const exec_id *id, const char *to_hash, engine_waiter *w)
{
    int refusing = engine_commit_refusing(e);
    if (refusing)
        return refusing;
    /* A version no unfinished execution pins is not loaded after a restart:
     * load it from the store first, on a worker (dlopen runs plugin code). */
    if (to_hash && !plugins_find_version_loaded(e->pl, to_hash)) {
        upgrade_job *job = calloc(1, sizeof *job);
        if (!job)
            return TARRY_ENOMEM;
        job->e = e;
        job->id = *id;
        list_init(&job->waiter);
        engine_waiter_init(w, id, WAIT_ACK);
        list_push_back(&job->waiter, &w->node);
        snprintf(job->hash, sizeof job->hash, "%s", to_hash);
        job->work.data = job;
        if (uv_queue_work(e->loop, &job->work, upgrade_load, upgrade_loaded) != 0) {
            list_unlink(&w->node);
            free(job);
            return TARRY_ENOMEM;
        }
        return 0;
    }
    return upgrade_now(e, id, to_hash, w);
}
