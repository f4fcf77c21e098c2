/*
 * engine_cron.c - functions with a cron (fn_options.h, cron.h): the host
 * starts one execution of such a function per due time of its schedule.
 *
 * The mark: per function, `covered`: every due time up to it has fired
 * (or was deliberately skipped). It is stored (store.h, the cron database)
 * in the SAME batch as the execution it fires, so after any crash either
 * both exist or neither: a due time never fires twice, across restarts and
 * reloads, and is never lost once its execution was acknowledged to the
 * store. If that batch fails, its new execution is refused (engine_batch.c)
 * and the mark goes back: the due time fires again once commits work.
 *
 * Missed due times: at start, the first due time after the stored mark may
 * be in the past (the host was down). It fires once, at once, whatever
 * number of due times were missed; its execution's scheduled_at is the
 * first one missed, and the mark jumps to now, so the next fire is the next
 * due time after now.
 *
 * Changed expressions: the mark remembers the expression it was made
 * under. A function whose expression differs (a reload, or a restart with
 * a new plugin) starts over from now: nothing is caught up for the new
 * expression. A function seen for the first time also starts from now.
 *
 * One libuv timer waits for the earliest next due time of all functions: no
 * polling. A function whose mark is in a batch not yet committed fires no
 * second time until that commit, so one batch holds at most one fire per
 * function. Firing honours the function's concurrency limit like a trigger
 * (engine_limits.c); triggering it by hand works as for any function.
 *
 * Test only: TARRY_TEST_CRON_SCALE=N (N > 1) makes every minute of the
 * schedule last 60/N seconds of real time (N = 60: a minute per second),
 * measured from 2026-01-01T00:00:00Z, so tests run a schedule's restarts and
 * catch-ups in seconds. Not a user setting; undocumented outside
 * CONTRIBUTING.md.
 *
 * May not: include lmdb.h, block the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cron.h"
#include "engine_int.h"
#include "hlog.h"
#include "status.h"

#define CRON_RETRY_MS 1000         /* while commits fail, look again this much later */
#define SCALE_BASE 1767225600000LL /* 2026-01-01T00:00:00Z: the origin of TARRY_TEST_CRON_SCALE */

struct cron_entry {
    char *function;
    char *expr;      /* the expression the mark was made under / this entry runs (owned) */
    cron_expr when;  /* expr, parsed (valid when `current`) */
    bool current;    /* a current function has this schedule: it fires */
    bool has_mark;   /* covered is meaningful (stored, or fired since) */
    int64_t covered; /* in memory: due times <= this are fired (ahead of `durable` while in a batch) */
    int64_t durable; /* as the store has it (when durable_known) */
    bool durable_known;
    char *durable_expr;    /* the expression stored with `durable` (owned), or NULL */
    int64_t next_due;      /* the next due time, real ms; 0: none */
    bool dirty, in_flight; /* the mark is to go into the next batch / is in the batch in flight */
};

struct engine_cron {
    uv_timer_t timer;
    struct cron_entry *entries;
    size_t count, cap;
    bool loaded;  /* the stored marks were read */
    bool stopped; /* draining or closing: nothing fires */
    int64_t scale;
};

/* ---- time, possibly scaled for tests ---------------------------------------------------- */

static int next_due(const struct engine_cron *c, const cron_expr *when, int64_t after, int64_t *out)
{
    int rc;
    if (c->scale <= 1)
        return cron_next(when, after, out);
    int64_t scaled;
    if ((rc = cron_next(when, SCALE_BASE + (after - SCALE_BASE) * c->scale, &scaled)) != 0)
        return rc;
    /* the first real ms whose scaled time reaches `scaled` */
    int64_t offset = scaled - SCALE_BASE;
    *out = SCALE_BASE + offset / c->scale + (offset % c->scale > 0);
    if (*out <= after)
        *out = after + 1;
    return 0;
}

/* ---- entries -------------------------------------------------------------------------------- */

static struct cron_entry *entry_find(struct engine_cron *c, const char *function, bool add)
{
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->entries[i].function, function) == 0)
            return &c->entries[i];
    if (!add)
        return NULL;
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct cron_entry *grown = realloc(c->entries, cap * sizeof *grown);
        if (!grown)
            return NULL;
        c->entries = grown;
        c->cap = cap;
    }
    struct cron_entry *ce = &c->entries[c->count];
    memset(ce, 0, sizeof *ce);
    if (!(ce->function = strdup(function)))
        return NULL;
    c->count++;
    return ce;
}

static int set_string(char **to, const char *s)
{
    char *copy = s ? strdup(s) : NULL;
    if (s && !copy)
        return TARRY_ENOMEM;
    free(*to);
    *to = copy;
    return 0;
}

static int mark_loaded(void *user, const char *function, int64_t covered, const char *expr)
{
    struct engine_cron *c = user;
    struct cron_entry *ce = entry_find(c, function, true);
    if (!ce || set_string(&ce->expr, expr) != 0 || set_string(&ce->durable_expr, expr) != 0)
        return TARRY_ENOMEM;
    ce->covered = ce->durable = covered;
    ce->has_mark = ce->durable_known = true;
    return 0;
}

/* ---- the timer ---------------------------------------------------------------------------- */

static void on_fire(uv_timer_t *t);

static void arm(engine *e)
{
    struct engine_cron *c = e->cron;
    int64_t first = 0;

    if (c->stopped)
        return;
    for (size_t i = 0; i < c->count; i++) {
        const struct cron_entry *ce = &c->entries[i];
        if (ce->current && ce->next_due && !ce->dirty && !ce->in_flight && (!first || ce->next_due < first))
            first = ce->next_due;
    }
    if (!first) {
        uv_timer_stop(&c->timer);
        return;
    }
    int64_t wait = first - clock_now_ms();
    uv_update_time(e->loop);
    uv_timer_start(&c->timer, on_fire, (uint64_t)(wait > 0 ? wait : 0), 0);
}

/* Create the execution of due time `due` of ce's function; move the mark. */
static void fire(engine *e, struct cron_entry *ce, int64_t now)
{
    struct engine_cron *c = e->cron;
    const plugin_fn *fn = plugins_find(e->pl, ce->function);
    int64_t due = ce->next_due, after, covered;
    char why[400], id[ID_TEXT_LEN + 1], due_text[CLOCK_TEXT_LEN + 1];
    exec_record rec;
    exec *x;

    clock_format(due, due_text);
    /* One execution for however many due times were missed: the mark jumps to now. */
    covered = next_due(c, &ce->when, due, &after) == 0 && after <= now ? now : due;
    if (!fn || engine_quarantined(e, fn, why, sizeof why)) {
        /* Skipped in memory only: nothing else may be committed soon, and a mark waiting for a batch
         * would stop the schedule. After a restart, this due time is tried again once. */
        hlog(HLOG_WARN, "cron: function %s is not started for its due time %s: %s", ce->function, due_text,
             fn ? why : "it is not loaded");
        ce->covered = covered;
        ce->has_mark = true;
        if (next_due(c, &ce->when, covered, &ce->next_due) != 0)
            ce->next_due = 0;
        return;
    } else {
        memset(&rec, 0, sizeof rec);
        id_new(&rec.id);
        rec.function = fn->name;
        rec.args = "null";
        rec.created_at = now;
        rec.scheduled_at = due;
        if (!(x = engine_exec_alloc(e, &rec))) {
            hlog(HLOG_ERROR, "cron: out of memory starting function %s for %s; trying again", ce->function,
                 due_text);
            return;
        }
        x->journal_empty = true;
        engine_exec_bind(x, fn);
        e->stats.created++;
        engine_metrics_created(e, x);
        id_format(&rec.id, id);
        if (engine_limit_refuses(e, fn, why, sizeof why)) {
            if (engine_exec_move(e, x, EXEC_CANCELLED) == 0) {
                engine_exec_set_error(x, why);
                x->rec.finished_at = now;
            }
        } else {
            engine_exec_move(e, x, EXEC_QUEUED);
        }
        hlog(HLOG_INFO, "cron: function %s (\"%s\") due %s: execution %s%s", ce->function, ce->expr, due_text,
             id, covered == now && covered != due ? " (fired once for every due time missed since)" : "");
    }
    ce->covered = covered;
    ce->has_mark = true;
    ce->dirty = true;
    if (next_due(c, &ce->when, covered, &ce->next_due) != 0)
        ce->next_due = 0; /* past year 9999 */
}

static void on_fire(uv_timer_t *t)
{
    engine *e = t->data;
    struct engine_cron *c = e->cron;
    int64_t now = clock_now_ms();

    if (c->stopped || e->draining)
        return;
    if (engine_commit_refusing(e)) {
        uv_timer_start(&c->timer, on_fire, CRON_RETRY_MS, 0);
        return;
    }
    for (size_t i = 0; i < c->count; i++) {
        struct cron_entry *ce = &c->entries[i];
        if (ce->current && ce->next_due && ce->next_due <= now && !ce->dirty && !ce->in_flight)
            fire(e, ce, now);
    }
    arm(e);
    engine_flush(e);
}

/* ---- the engine's calls ------------------------------------------------------------------------ */

int engine_cron_init(engine *e)
{
    const char *scale = getenv("TARRY_TEST_CRON_SCALE");
    if (!(e->cron = calloc(1, sizeof *e->cron)))
        return TARRY_ENOMEM;
    e->cron->scale = scale && atoll(scale) > 1 ? atoll(scale) : 1;
    if (e->cron->scale > 1)
        hlog(HLOG_WARN, "cron: TARRY_TEST_CRON_SCALE=%lld: schedules run %lld times faster (a test setting)",
             (long long)e->cron->scale, (long long)e->cron->scale);
    uv_timer_init(e->loop, &e->cron->timer);
    e->cron->timer.data = e;
    e->open_handles++;
    return 0;
}

struct update_ctx {
    engine *e;
    int64_t now;
};

static void update_plugin(void *user, const plugin *p)
{
    struct update_ctx *u = user;
    struct engine_cron *c = u->e->cron;

    for (size_t j = 0; p->current && j < p->fn_count; j++) {
        const plugin_fn *fn = &p->fns[j];
        struct cron_entry *ce;
        if (!fn->opts.cron)
            continue;
        if (!(ce = entry_find(c, fn->name, true))) {
            hlog(HLOG_ERROR, "cron: out of memory: function %s does not fire", fn->name);
            continue;
        }
        bool changed = !ce->expr || strcmp(ce->expr, fn->opts.cron) != 0;
        ce->current = true;
        ce->when = fn->opts.cron_when;
        if (changed) {
            /* New, or a new expression: it starts from now (see the top). */
            if (ce->expr)
                hlog(HLOG_INFO, "cron: function %s now runs on \"%s\" (was \"%s\")", fn->name, fn->opts.cron,
                     ce->expr);
            if (set_string(&ce->expr, fn->opts.cron) != 0) {
                ce->current = false;
                continue;
            }
            int64_t from = ce->has_mark && ce->covered > u->now ? ce->covered : u->now;
            if (next_due(c, &ce->when, from, &ce->next_due) != 0)
                ce->next_due = 0;
        } else if (!ce->next_due && !ce->dirty && !ce->in_flight) {
            /* Read from the store: the first due time after the mark, maybe missed while down. */
            if (next_due(c, &ce->when, ce->covered, &ce->next_due) != 0)
                ce->next_due = 0;
        }
    }
}

void engine_cron_update(engine *e)
{
    struct engine_cron *c = e->cron;
    struct update_ctx u = {e, clock_now_ms()};
    store_txn *txn;

    if (!c->loaded) {
        int rc = store_txn_begin(e->st, false, &txn);
        if (rc == 0) {
            rc = store_cron_scan(txn, mark_loaded, c);
            store_txn_abort(txn);
        }
        if (rc != 0)
            hlog(HLOG_ERROR, "cron: cannot read the stored marks (%s): schedules start from now",
                 status_str(rc));
        c->loaded = true;
    }
    for (size_t i = 0; i < c->count; i++)
        c->entries[i].current = false;
    plugins_each(e->pl, update_plugin, &u);
    for (size_t i = 0; i < c->count; i++)
        if (!c->entries[i].current)
            c->entries[i].next_due = 0; /* gone, or no schedule any more: the mark stays for a comeback */
    arm(e);
}

int engine_cron_next_fire(engine *e, const char *function, int64_t *out_ms)
{
    struct cron_entry *ce = e->cron ? entry_find(e->cron, function, false) : NULL;
    if (!ce || !ce->current || !ce->next_due)
        return TARRY_ENOTFOUND;
    *out_ms = ce->next_due;
    return 0;
}

int engine_cron_batch(engine *e, store_batch *b)
{
    struct engine_cron *c = e->cron;
    int rc = 0;
    /* Every dirty mark's execution is in this batch (it went on the dirty list as it fired): all of
     * them are in flight with it, even if writing one fails (then the batch fails as a whole). */
    for (size_t i = 0; i < c->count; i++) {
        struct cron_entry *ce = &c->entries[i];
        if (!ce->dirty)
            continue;
        ce->dirty = false;
        ce->in_flight = true;
        if (rc == 0)
            rc = store_batch_cron_put(b, ce->function, ce->covered, ce->expr);
    }
    return rc;
}

void engine_cron_committed(engine *e, bool ok)
{
    struct engine_cron *c = e->cron;
    bool any = false;
    for (size_t i = 0; i < c->count; i++) {
        struct cron_entry *ce = &c->entries[i];
        if (!ce->in_flight)
            continue;
        any = true;
        ce->in_flight = false;
        if (ok) {
            ce->durable = ce->covered;
            ce->durable_known = true;
            if (set_string(&ce->durable_expr, ce->expr) != 0)
                ce->durable_known = false; /* only used to undo a failed batch: start from now then */
            continue;
        }
        /* Its execution was refused with the batch: back to the stored mark, to fire again. */
        ce->has_mark = ce->durable_known;
        ce->covered = ce->durable;
        if (!ce->current)
            continue;
        bool same = ce->has_mark && ce->durable_expr && strcmp(ce->durable_expr, ce->expr) == 0;
        if (next_due(c, &ce->when, same ? ce->covered : clock_now_ms(), &ce->next_due) != 0)
            ce->next_due = 0;
    }
    if (any)
        arm(e);
}

void engine_cron_stop(engine *e)
{
    if (e->cron) {
        e->cron->stopped = true;
        uv_timer_stop(&e->cron->timer);
    }
}

void engine_cron_close(engine *e, uv_close_cb cb)
{
    engine_cron_stop(e);
    uv_close((uv_handle_t *)&e->cron->timer, cb);
}

void engine_cron_free(engine *e)
{
    struct engine_cron *c = e->cron;
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++) {
        free(c->entries[i].function);
        free(c->entries[i].expr);
        free(c->entries[i].durable_expr);
    }
    free(c->entries);
    free(c);
    e->cron = NULL;
}
