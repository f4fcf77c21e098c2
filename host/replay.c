/*
 * replay.c - the host's adapter over the journal core (replay.h): it gives
 * the core the host's clock, ids, JSON check, function lookup and step
 * checkpoint, and turns the core's new entries into the journal entries
 * the engine commits.
 *
 * Runs on worker threads, one run per thread at a time; a run is never
 * shared, so no locking. The rules themselves are in sdk/core/jcore.c,
 * which the test kit runs too.
 */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "exec_opts.h"
#include "status.h"

_Static_assert(JOURNAL_CALL == (int)JCORE_CALL && JOURNAL_STEP == (int)JCORE_STEP &&
                   JOURNAL_SLEEP == (int)JCORE_SLEEP && JOURNAL_NOW == (int)JCORE_NOW &&
                   JOURNAL_PATCH == (int)JCORE_PATCH,
               "journal kinds are the core's");
_Static_assert(JOURNAL_PENDING == (int)JCORE_PENDING && JOURNAL_SUCCEEDED == (int)JCORE_SUCCEEDED &&
                   JOURNAL_FAILED == (int)JCORE_FAILED && JOURNAL_CANCELLED == (int)JCORE_CANCELLED,
               "journal statuses are the core's");
_Static_assert(ID_TEXT_LEN == JCORE_ID_LEN, "ids are the core's length");

/* ---- the journal in ------------------------------------------------------------ */

int replay_journal_add(replay_run *run, const journal_entry *entry)
{
    jcore_entry *into;

    if (entry->seq != run->journal_count)
        return TARRY_EIO; /* a gap: the journal must be 0..n-1 */
    if (run->journal_count == run->journal_cap) {
        size_t cap = run->journal_cap ? run->journal_cap * 2 : 16;
        jcore_entry *grown = realloc(run->journal, cap * sizeof *grown);
        if (!grown)
            return TARRY_ENOMEM;
        run->journal = grown;
        run->journal_cap = cap;
    }
    into = &run->journal[run->journal_count];
    memset(into, 0, sizeof *into);
    into->seq = entry->seq;
    into->kind = (jcore_kind)entry->kind;
    into->status = (jcore_status)entry->status;
    into->detached = entry->detached;
    into->started_at = entry->started_at;
    into->finished_at = entry->finished_at;
    into->wake_at = entry->wake_at;
    if (entry->kind == JOURNAL_CALL)
        id_format(&entry->child, into->child);
    into->name = entry->name ? strdup(entry->name) : NULL;
    into->value = entry->value ? strdup(entry->value) : NULL;
    into->error = entry->error ? strdup(entry->error) : NULL;
    if ((entry->name && !into->name) || (entry->value && !into->value) || (entry->error && !into->error)) {
        jcore_entry_free(into);
        return TARRY_ENOMEM;
    }
    run->journal_count++;
    return 0;
}

/* ---- the new entries out -------------------------------------------------------- */

/*
 * Extend new_entries over the core's fresh entries it does not mirror yet.
 * The strings stay the core's. 0 or TARRY_ENOMEM.
 */
static int mirror_new(replay_run *run, const jcore_run *core)
{
    if (core->fresh_count > run->new_cap) {
        replay_entry *grown = realloc(run->new_entries, core->fresh_cap * sizeof *grown);
        if (!grown)
            return TARRY_ENOMEM;
        run->new_entries = grown;
        run->new_cap = core->fresh_cap;
    }
    for (size_t i = run->new_count; i < core->fresh_count; i++) {
        const jcore_entry *f = &core->fresh[i];
        replay_entry *r = &run->new_entries[i];
        memset(r, 0, sizeof *r);
        r->e.seq = f->seq;
        r->e.kind = (journal_kind)f->kind;
        r->e.status = (journal_status)f->status;
        r->e.detached = f->detached;
        r->e.started_at = f->started_at;
        r->e.finished_at = f->finished_at;
        r->e.wake_at = f->wake_at;
        if (f->kind == JCORE_CALL && id_parse(f->child, &r->e.child) != 0)
            return TARRY_EIO; /* the id came from hook_new_child_id: cannot happen */
        r->e.name = f->name;
        r->e.value = f->value;
        r->e.error = f->error;
        r->args = f->args;
        r->idempotency_key = f->idempotency_key;
        r->discard_after = f->discard_after;
        r->metadata = f->metadata;
    }
    run->new_count = core->fresh_count;
    return 0;
}

/* ---- the hooks ------------------------------------------------------------------------ */

static int64_t hook_now_ms(void *user)
{
    (void)user;
    return clock_now_ms();
}

static void hook_new_child_id(void *user, char out[JCORE_ID_LEN + 1])
{
    exec_id id;

    (void)user;
    id_new(&id);
    id_format(&id, out);
}

static int hook_checkpoint(void *user, jcore_run *core, char *err, size_t errlen)
{
    replay_run *run = user;
    int rc;

    if ((rc = mirror_new(run, core)) == 0)
        rc = run->hooks.checkpoint(run->hooks.user, run);
    if (rc != 0)
        snprintf(err, errlen, "%s", status_str(rc));
    return rc;
}

/* A child's options, held to the limits a trigger's are (exec_opts.h). */
static int hook_call_opts_check(void *user, const char *idempotency_key, const char *discard_after,
                                const char *metadata_json, char *err, size_t errlen)
{
    int64_t at;
    (void)user;
    if (idempotency_key && exec_opts_idempotency_key(idempotency_key, err, errlen) != 0)
        return TARRY_EINVAL;
    if (discard_after && exec_opts_discard_after(discard_after, 0, &at, err, errlen) != 0)
        return TARRY_EINVAL;
    if (metadata_json && exec_opts_metadata_text(metadata_json, err, errlen) != 0)
        return TARRY_EINVAL;
    return 0;
}

static bool hook_function_known(void *user, const char *name)
{
    replay_run *run = user;
    return run->hooks.function_known(run->hooks.user, name);
}

static const jcore_hooks host_hooks = {
    .now_ms = hook_now_ms,
    .new_child_id = hook_new_child_id,
    .checkpoint = hook_checkpoint,
    .function_known = hook_function_known,
    .call_opts_check = hook_call_opts_check,
};

/* ---- a pass ------------------------------------------------------------------------------ */

void replay_execute(replay_run *run)
{
    /* The pass's core state lives on the worker's stack; what outlives the
     * pass (entries, lines, result, error) moves into the run. */
    jcore_run pass, *core = &pass;

    memset(core, 0, sizeof *core);
    core->hooks = &host_hooks;
    core->user = run;
    core->fn = run->fn;
    core->args = run->args;
    core->id = run->id_text;
    core->attempt = run->attempt;
    core->header_revision = run->header_revision;
    core->cp_mode = (jcore_cp_mode)run->cp_mode;
    core->replay_only = run->replay_only;
    core->journal = run->journal;
    core->journal_count = run->journal_count;
    core->log_mark_pos = run->log_mark_pos;
    core->log_mark_count = run->log_mark_count;
    core->log_max_lines = run->log_max_lines;
    core->log_line_max = run->log_line_max;
    core->log_stored = run->log_stored;
    core->cancelled = &run->cancelled;

    jcore_execute(core);

    run->outcome = (replay_outcome)core->end;
    run->started_at = core->started_at;
    run->finished_at = core->finished_at;
    run->wake_at = core->wake_at;
    run->wake_seq = core->wake_seq;
    free(run->result);
    free(run->error);
    run->result = core->result;
    run->error = core->error;
    core->result = core->error = NULL;
    run->logs = core->logs;
    run->log_count = core->log_count;
    run->log_cap = core->log_cap;
    run->log_mark_pos = core->log_mark_pos;
    run->log_mark_count = core->log_mark_count;
    run->log_dropped = core->log_dropped;
    run->permanent = core->permanent;
    run->went_past = core->went_past;
    core->logs = NULL;
    core->log_count = core->log_cap = 0;
    if (mirror_new(run, core) != 0) {
        /* The engine cannot see what this pass did: it must not commit
         * half of it. Blocked, an upgrade or a restart runs it again. */
        run->new_count = run->handed;
        run->outcome = REPLAY_BLOCKED;
        free(run->result);
        free(run->error);
        run->result = NULL;
        run->error = strdup("out of memory handing this pass's commands to the engine");
    }
    run->fresh = core->fresh;
    run->fresh_count = core->fresh_count;
    core->fresh = NULL;
    core->fresh_count = core->fresh_cap = 0;
    jcore_run_clear(core);
}

void replay_run_cancel(replay_run *run)
{
    atomic_store_explicit(&run->cancelled, 1, memory_order_relaxed);
}

void replay_run_clear(replay_run *run)
{
    free(run->result);
    free(run->error);
    run->result = run->error = NULL;
    for (size_t i = 0; i < run->fresh_count; i++)
        jcore_entry_free(&run->fresh[i]);
    free(run->fresh);
    run->fresh = NULL;
    run->fresh_count = 0;
    for (size_t i = 0; i < run->log_count; i++)
        free(run->logs[i].text);
    free(run->logs);
    run->logs = NULL;
    run->log_count = run->log_cap = 0;
    run->log_dropped = run->log_stored = 0;
    run->permanent = false;
    run->went_past = false;
    for (size_t i = 0; i < run->journal_count; i++)
        jcore_entry_free(&run->journal[i]);
    free(run->journal);
    run->journal = NULL;
    run->journal_count = run->journal_cap = 0;
    for (size_t i = 0; i < run->new_count; i++) {
        free(run->new_entries[i].own_value);
        free(run->new_entries[i].own_error);
    }
    free(run->new_entries);
    run->new_entries = NULL;
    run->new_count = run->new_cap = run->handed = 0;
    run->wake_at = 0;
    run->log_mark_pos = run->log_mark_count = 0;
}
