/*
 * engine_upgrade_check.c - whether executions' journals fit a version of
 * their function, checked at once and without side effects
 * (upgrade_check.h): before `tarry upgrade ID` moves an execution, and for
 * `tarry upgrade --function F --dry-run`.
 *
 * A check is one job on a worker: it reads what it needs from the store in
 * its own read transactions (never holding one while plugin code runs) and
 * replays each journal through the journal core in replay-only mode, the
 * same rules a pass runs by. The loop starts jobs (at most
 * UPGRADE_CHECKS_MAX at once) and hands back their reports.
 *
 * May not: write the store, change an execution, run a step body or start a
 * child, call plugin code on the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "replay.h"
#include "status.h"
#include "upgrade_check.h"

typedef struct check_job {
    uv_work_t work;
    engine *e;
    list_node waiter; /* holds the caller's check; empty once it went away */
    bool one;         /* one execution (id, to) or every unfinished one of `rep.function` */
    exec_id id;
    char to[PLUGIN_HASH_LEN + 1]; /* "" for the current version */
    int status;
    upgrade_report rep;
} check_job;

/* ---- one journal (worker) ----------------------------------------------------------- */

struct hook_user {
    engine *e;
    const plugin_fn *fn;
};

static bool hook_function_known(void *user, const char *name)
{
    struct hook_user *hu = user;
    return plugins_find(hu->e->pl, name) || plugins_find_version(hu->e->pl, hu->fn->owner->hash, name);
}

static int hook_checkpoint(void *user, replay_run *run)
{
    /* Replay-only records nothing new, so there is never anything to make durable. */
    (void)user;
    (void)run;
    return TARRY_ESTATE;
}

static int add_verdict(upgrade_report *rep, upgrade_verdict verdict, const char *why, const char *id_text)
{
    upgrade_group *g = NULL;

    rep->checked++;
    if (verdict == UPGRADE_FITS) {
        rep->fit++;
        return 0;
    }
    for (size_t i = 0; i < rep->group_count && !g; i++)
        if (rep->groups[i].verdict == verdict && strcmp(rep->groups[i].why, why) == 0)
            g = &rep->groups[i];
    if (!g) {
        if (rep->group_count == rep->group_cap) {
            size_t cap = rep->group_cap ? rep->group_cap * 2 : 4;
            upgrade_group *grown = realloc(rep->groups, cap * sizeof *grown);
            if (!grown)
                return TARRY_ENOMEM;
            rep->groups = grown;
            rep->group_cap = cap;
        }
        g = &rep->groups[rep->group_count++];
        memset(g, 0, sizeof *g);
        g->verdict = verdict;
        snprintf(g->why, sizeof g->why, "%s", why);
    }
    g->count++;
    if (g->example_count < UPGRADE_CHECK_EXAMPLES)
        snprintf(g->examples[g->example_count++], sizeof g->examples[0], "%s", id_text);
    return 0;
}

/*
 * Replay execution `id`'s committed journal against `fn` in replay-only mode
 * and add the verdict to rep. 0 or a negative code (the store, memory).
 */
static int check_journal(engine *e, const plugin_fn *fn, const exec_id *id, const char *args,
                         uint32_t attempts, upgrade_report *rep)
{
    struct hook_user hu = {e, fn};
    upgrade_verdict verdict = UPGRADE_FITS;
    const char *why = "";
    replay_run *run = calloc(1, sizeof *run);
    int rc;

    if (!run)
        return TARRY_ENOMEM;
    if ((rc = engine_journal_load(e, id, run)) == 0) {
        run->fn = fn->fn;
        run->args = args;
        run->attempt = attempts ? (int)attempts : 1;
        run->header_revision = fn->owner->header_revision;
        run->hooks.user = &hu;
        run->hooks.function_known = hook_function_known;
        run->hooks.checkpoint = hook_checkpoint;
        run->cp_mode = REPLAY_CP_NONE;
        run->replay_only = true;
        id_format(id, run->id_text);
        replay_execute(run);
        if (run->outcome == REPLAY_BLOCKED) {
            verdict = UPGRADE_BLOCKS;
            why = run->error ? run->error : "blocked";
        } else if (run->outcome == REPLAY_FAILED) {
            verdict = UPGRADE_FAILS;
            why = run->error ? run->error : "failed";
        }
        rc = add_verdict(rep, verdict, why, run->id_text);
    }
    replay_run_clear(run);
    free(run);
    return rc;
}

/* ---- one execution (worker) --------------------------------------------------------------- */

static int check_one(check_job *job)
{
    engine *e = job->e;
    char *function = NULL, *args = NULL;
    uint32_t attempts = 0;
    const plugin_fn *fn;
    exec_record rec;
    store_txn *txn;
    int rc;

    if ((rc = store_txn_begin(e->st, false, &txn)) != 0)
        return rc;
    if ((rc = store_exec_get(txn, &job->id, &rec)) == 0) {
        if (rec.state == EXEC_RUNNING || exec_state_final(rec.state))
            rc = TARRY_ESTATE;
        else if (!(function = strdup(rec.function)) || !(args = strdup(rec.args ? rec.args : "null")))
            rc = TARRY_ENOMEM;
        attempts = rec.attempts;
    }
    store_txn_abort(txn);
    /* A version no unfinished execution pins is not loaded after a restart: load it from the store. */
    if (rc == 0 && job->to[0] && !plugins_find_version_loaded(e->pl, job->to))
        rc = plugins_load_stored(e->pl, job->to);
    if (rc == 0) {
        fn = job->to[0] ? plugins_find_version(e->pl, job->to, function) : plugins_find(e->pl, function);
        if (!fn) {
            rc = TARRY_ENOTFOUND;
        } else {
            snprintf(job->rep.function, sizeof job->rep.function, "%s", function);
            memcpy(job->rep.hash, fn->owner->hash, sizeof job->rep.hash);
            rc = check_journal(e, fn, &job->id, args, attempts, &job->rep);
        }
    }
    free(function);
    free(args);
    return rc == TARRY_EINVAL ? TARRY_ENOTFOUND : rc; /* a stored file that does not match: not there */
}

/* ---- every unfinished execution of a function (worker) ------------------------------------ */

#define CHECK_PAGE 256

typedef struct page_item {
    exec_id id;
    char *args;
    uint32_t attempts;
} page_item;

typedef struct page {
    page_item items[CHECK_PAGE];
    size_t count;
    int error;
} page;

static int page_add(void *user, const exec_record *rec)
{
    page *pg = user;
    page_item *it = &pg->items[pg->count];

    it->id = rec->id;
    it->attempts = rec->attempts;
    if (!(it->args = strdup(rec->args ? rec->args : "null"))) {
        pg->error = TARRY_ENOMEM;
        return 1;
    }
    pg->count++;
    return 0;
}

static void page_clear(page *pg)
{
    for (size_t i = 0; i < pg->count; i++)
        free(pg->items[i].args);
    pg->count = 0;
}

static int check_function(check_job *job)
{
    static const exec_state states[] = {EXEC_WAITING, EXEC_BLOCKED, EXEC_QUEUED, EXEC_SCHEDULED};
    engine *e = job->e;
    const plugin_fn *fn = plugins_find(e->pl, job->rep.function);
    page *pg;
    int rc = 0;

    if (!fn)
        return TARRY_ENOTFOUND;
    memcpy(job->rep.hash, fn->owner->hash, sizeof job->rep.hash);
    if (!(pg = calloc(1, sizeof *pg)))
        return TARRY_ENOMEM;
    for (size_t s = 0; rc == 0 && !job->rep.more && s < sizeof states / sizeof states[0]; s++) {
        exec_id cursor;
        bool have_cursor = false, more = true;
        while (rc == 0 && more && !job->rep.more) {
            store_list_query q = {job->rep.function, states[s], have_cursor ? &cursor : NULL, CHECK_PAGE};
            store_txn *txn;
            /* The page is copied out and the transaction ended before any plugin code runs. */
            if ((rc = store_txn_begin(e->st, false, &txn)) != 0)
                break;
            rc = store_exec_list(txn, &q, page_add, pg, &more);
            store_txn_abort(txn);
            if (rc >= 0)
                rc = pg->error;
            for (size_t i = 0; rc == 0 && i < pg->count; i++) {
                if (job->rep.checked >= UPGRADE_CHECK_LIMIT) {
                    job->rep.more = true;
                    break;
                }
                rc = check_journal(e, fn, &pg->items[i].id, pg->items[i].args, pg->items[i].attempts,
                                   &job->rep);
            }
            if (pg->count) {
                cursor = pg->items[pg->count - 1].id;
                have_cursor = true;
            } else {
                more = false;
            }
            page_clear(pg);
        }
    }
    free(pg);
    return rc;
}

/* ---- on the loop ---------------------------------------------------------------------------- */

static void check_work(uv_work_t *req)
{
    check_job *job = req->data;
    job->status = job->one ? check_one(job) : check_function(job);
}

static void check_done(uv_work_t *req, int status)
{
    check_job *job = req->data;
    engine *e = job->e;

    if (status != 0 && job->status == 0)
        job->status = TARRY_ENOMEM;
    if (--e->checks_running == 0)
        engine_sweep_soon(e); /* it held versions open (and may have loaded one to look) */
    if (!list_empty(&job->waiter)) {
        upgrade_check *c = list_entry(job->waiter.next, upgrade_check, node);
        list_unlink(&c->node);
        c->cb(c, job->status, job->status == 0 ? &job->rep : NULL);
    }
    free(job->rep.groups);
    free(job);
}

static int start(engine *e, check_job *job, upgrade_check *c)
{
    if (e->checks_running >= UPGRADE_CHECKS_MAX) {
        free(job);
        return TARRY_ERANGE;
    }
    job->e = e;
    list_init(&job->waiter);
    list_init(&c->node);
    list_push_back(&job->waiter, &c->node);
    job->work.data = job;
    if (uv_queue_work(e->loop, &job->work, check_work, check_done) != 0) {
        list_unlink(&c->node);
        free(job);
        return TARRY_ENOMEM;
    }
    e->checks_running++; /* no version is closed until it is back to 0 (engine_versions.c) */
    return 0;
}

int engine_upgrade_check(engine *e, const exec_id *id, const char *to_hash, upgrade_check *c)
{
    exec *x = idmap_get(&e->active, id);
    check_job *job;

    /* In memory with changes not committed yet: the journal on disk is not the whole story. */
    if (x && (x->rec.state == EXEC_RUNNING || exec_state_final(x->rec.state) || x->in_dirty ||
              x->dispatch_after_commit))
        return TARRY_ESTATE;
    if (!(job = calloc(1, sizeof *job)))
        return TARRY_ENOMEM;
    job->one = true;
    job->id = *id;
    if (to_hash)
        snprintf(job->to, sizeof job->to, "%s", to_hash);
    return start(e, job, c);
}

int engine_upgrade_check_function(engine *e, const char *function, upgrade_check *c)
{
    check_job *job;

    if (strlen(function) > PLUGIN_NAME_MAX)
        return TARRY_ENOTFOUND;
    if (!(job = calloc(1, sizeof *job)))
        return TARRY_ENOMEM;
    snprintf(job->rep.function, sizeof job->rep.function, "%s", function);
    return start(e, job, c);
}

void engine_upgrade_check_cancel(upgrade_check *c)
{
    if (list_linked(&c->node))
        list_unlink(&c->node);
}
