/*
 * engine_exec.c - executions in memory: allocation, binding to a plugin
 * version, and the one place their state changes (engine_exec_move,
 * checked against lifecycle.h).
 *
 * May not: read or write the store (callers hand in records), block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "hlog.h"
#include "status.h"

static char *dup_into(char **cursor, const char *s)
{
    char *at = *cursor;
    size_t n;
    if (!s)
        return NULL;
    n = strlen(s) + 1;
    memcpy(at, s, n);
    *cursor += n;
    return at;
}

/* One allocation for the execution and its immutable strings. */
exec *engine_exec_alloc(engine *e, const exec_record *from)
{
    size_t extra = strlen(from->function) + 1 + strlen(from->args) + 1 +
                   (from->metadata ? strlen(from->metadata) + 1 : 0) +
                   (from->idempotency_key ? strlen(from->idempotency_key) + 1 : 0);
    exec *x = calloc(1, sizeof *x + extra);
    char *cursor;

    if (!x)
        return NULL;
    x->rec = *from;
    cursor = (char *)(x + 1);
    x->rec.function = dup_into(&cursor, from->function);
    x->rec.args = dup_into(&cursor, from->args);
    x->rec.metadata = dup_into(&cursor, from->metadata);
    x->rec.idempotency_key = dup_into(&cursor, from->idempotency_key);
    x->rec.result = NULL;
    x->rec.error = NULL;
    x->rec.plugin_name = x->rec.plugin_version = x->rec.plugin_hash = NULL;
    x->owner = e;
    x->slot = -1; /* no worker slot (deathnote.h) */
    list_init(&x->acks);
    if (idmap_put(&e->active, &x->rec.id, x) != 0) {
        free(x);
        return NULL;
    }
    return x;
}

/*
 * An execution whose version is not loaded stays pinned to it: whatever writes it next (a
 * reschedule, its block) writes the same version, so it never runs other code unless an upgrade
 * says so (engine_exec_bind). The strings are copied: rec borrows from a transaction.
 */
static int keep_pin(exec *x, const exec_record *rec)
{
    const char *name = rec->plugin_name ? rec->plugin_name : "",
               *version = rec->plugin_version ? rec->plugin_version : "";
    size_t nn = strlen(name) + 1, nv = strlen(version) + 1, nh = strlen(rec->plugin_hash) + 1;
    char *pin = malloc(nn + nv + nh);

    if (!pin)
        return TARRY_ENOMEM;
    memcpy(pin, name, nn);
    memcpy(pin + nn, version, nv);
    memcpy(pin + nn + nv, rec->plugin_hash, nh);
    x->unbound_pin = pin;
    x->rec.plugin_name = rec->plugin_name ? pin : NULL;
    x->rec.plugin_version = rec->plugin_version ? pin + nn : NULL;
    x->rec.plugin_hash = pin + nn + nv;
    return 0;
}

exec *engine_exec_from_store(engine *e, const exec_record *rec)
{
    exec *x = engine_exec_alloc(e, rec);
    if (!x)
        return NULL;
    x->written_state = x->committed_state = rec->state;
    x->written_scheduled_at = x->committed_scheduled_at = rec->scheduled_at;
    x->written_wake_at = x->committed_wake_at = rec->wake_at;
    x->written_attempts = x->committed_attempts = rec->attempts;
    /* Never started (no attempt counted, none resumed): it has no journal, as a pass's entries
     * commit with the record that counts its attempt (engine_batch.c's batch_exec), so its first
     * pass reads none (a paged-in backlog, or work claimed from another host, costs no read). */
    x->journal_empty = rec->attempts == 0 && !rec->resume;
    /* A failed attempt's retry that waits keeps its error (engine_retry.c): the exec owns the copy. */
    if (rec->error && (rec->state == EXEC_SCHEDULED || rec->state == EXEC_QUEUED))
        x->rec.error = x->error_kept = strdup(rec->error);
    snprintf(x->written_hash, sizeof x->written_hash, "%s", rec->plugin_hash ? rec->plugin_hash : "");
    memcpy(x->committed_hash, x->written_hash, sizeof x->committed_hash);
    /* Pinned: it replays the code that wrote its journal (plugins.h). */
    if (rec->plugin_hash) {
        engine_exec_bind(x, plugins_find_version(e->pl, rec->plugin_hash, rec->function));
        if (!x->fn) {
            snprintf(x->unbound, sizeof x->unbound, "version %s of plugin %s", rec->plugin_hash,
                     rec->plugin_name ? rec->plugin_name : "?");
            if (keep_pin(x, rec) != 0) {
                engine_exec_free(e, x);
                return NULL;
            }
        }
    } else {
        engine_exec_bind(x, plugins_find(e->pl, rec->function));
    }
    engine_limit_sync(e, x);
    return x;
}

void engine_sleep_entry_free(journal_entry *j)
{
    if (j) {
        free((char *)j->name);
        free(j);
    }
}

void engine_exec_free(engine *e, exec *x)
{
    engine_limit_forget(e, x);
    engine_idem_forget(e, x);
    engine_share_forget(e, x);
    idmap_del(&e->active, &x->rec.id);
    replay_run_clear(&x->run);
    engine_sleep_entry_free(x->sleep_entry);
    free(x->attempt_error);
    free(x->error_kept);
    free(x->unbound_pin);
    free(x);
}

void engine_exec_bind(exec *x, const plugin_fn *fn)
{
    x->fn = fn;
    x->rec.plugin_name = fn ? fn->owner->name : NULL;
    x->rec.plugin_version = fn ? fn->owner->version : NULL;
    x->rec.plugin_hash = fn ? fn->owner->hash : NULL;
}

void engine_exec_set_error(exec *x, const char *msg)
{
    free(x->run.error);
    x->run.error = strdup(msg);
    x->rec.error = x->run.error;
}

void engine_exec_dirty(engine *e, exec *x)
{
    if (x->in_dirty || (x->deferred && !exec_state_final(x->rec.state)))
        return;
    x->in_dirty = true;
    e->dirty_count++;
    list_push_back(&e->dirty, &x->dirty_node);
}

int engine_exec_move(engine *e, exec *x, exec_state to)
{
    if (!lifecycle_allowed(x->rec.state, to)) {
        char id[ID_TEXT_LEN + 1];
        id_format(&x->rec.id, id);
        hlog(HLOG_ERROR, "bug: execution %s (%s) cannot move from %s to %s; it stays %s", id, x->rec.function,
             exec_state_name(x->rec.state), exec_state_name(to), exec_state_name(x->rec.state));
        return TARRY_ESTATE;
    }
    x->rec.state = to;
    engine_limit_sync(e, x);
    engine_exec_dirty(e, x);
    return 0;
}

void engine_exec_block_unloaded(engine *e, exec *x)
{
    char msg[300];
    if (x->unbound[0])
        snprintf(msg, sizeof msg,
                 "function \"%s\" is not loaded: it is pinned to %s, which is not in the version store",
                 x->rec.function, x->unbound);
    else
        snprintf(msg, sizeof msg,
                 "function \"%s\" is not loaded: no plugin in the plugins folder provides it",
                 x->rec.function);
    if (engine_exec_move(e, x, EXEC_BLOCKED) == 0)
        engine_exec_set_error(x, msg);
}
