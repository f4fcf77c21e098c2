/*
 * replay.c - the tarry_ctx handed to plugin functions: results, logs, and
 * the durable commands, answered from the journal or recorded anew.
 *
 * Runs on worker threads, one run per thread at a time; a ctx is never
 * shared, so no locking. Everything the plugin passes in is copied.
 *
 * Positions: the n-th command a pass issues has seq n. Below
 * journal_count it must match the journal (kind and name) and returns the
 * recorded outcome; at journal_count + new_count it is new and is appended
 * to new_entries. Awaits are not commands: they read the outcome the
 * engine wrote into the call's entry when the child settled.
 */
#include "replay.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "duration.h"
#include "status.h"

struct tarry_ctx {
    struct tarry_ctx_head head; /* must come first: the SDK reads it */
    replay_run *run;
    uint32_t pos;   /* seq of the next command */
    bool suspended; /* a command returned TARRY_SUSPEND: no more commands this pass */
    bool blocked;   /* nondeterminism (or a failed checkpoint): run->error says which */
    bool in_step;   /* inside a step's body: results go to the step */
    char *step_result, *step_error;
    /* Why the last command failed or was refused, so a function that just
     * passes the status on (TARRY_TRY) fails with the reason. */
    char last_failure[512];
};

/* ---- logs and results ------------------------------------------------------ */

static int ctx_logv(tarry_ctx *ctx, int level, const char *fmt, va_list ap)
{
    replay_run *run = ctx->run;
    char buf[REPLAY_LOG_LINE_MAX];

    if (!fmt || level < TARRY_LOG_DEBUG || level > TARRY_LOG_ERROR)
        return TARRY_EINVAL;
    if (run->log_count == run->log_cap) {
        size_t cap = run->log_cap ? run->log_cap * 2 : 8;
        replay_log *grown = realloc(run->logs, cap * sizeof *grown);
        if (!grown)
            return TARRY_ENOMEM;
        run->logs = grown;
        run->log_cap = cap;
    }
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (!(run->logs[run->log_count].text = strdup(buf)))
        return TARRY_ENOMEM;
    run->logs[run->log_count].time_ms = clock_now_ms();
    run->logs[run->log_count].level = level;
    run->log_count++;
    return TARRY_OK;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
misuse(tarry_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->last_failure, sizeof ctx->last_failure, fmt, ap);
    va_end(ap);
    tarry_log(ctx, TARRY_LOG_ERROR, "%s", ctx->last_failure);
}

/* Whether `json` is one JSON text; logs why not. */
static bool json_ok(tarry_ctx *ctx, const char *what, const char *json)
{
    /* The Opts variant reports where parsing stopped without cJSON's
     * global error pointer, which other worker threads share. */
    const char *where = NULL;
    size_t len = strlen(json);
    cJSON *parsed = cJSON_ParseWithLengthOpts(json, len + 1, &where, 1);
    if (parsed) {
        cJSON_Delete(parsed);
        return true;
    }
    if (!where || where < json || where > json + len)
        where = json;
    misuse(ctx, "%s: invalid JSON at byte %td: %.40s", what, where - json, where);
    return false;
}

static int ctx_set_result(tarry_ctx *ctx, const char *json)
{
    char **slot = ctx->in_step ? &ctx->step_result : &ctx->run->result;
    char *copy;
    size_t len;

    if (!json)
        return TARRY_EINVAL;
    len = strlen(json);
    if (len > REPLAY_RESULT_MAX) {
        misuse(ctx, "tarry_set_result: result is %zu bytes, over the %u-byte limit", len, REPLAY_RESULT_MAX);
        return TARRY_EINVAL;
    }
    if (!json_ok(ctx, "tarry_set_result", json))
        return TARRY_EINVAL;
    if (!(copy = malloc(len + 1)))
        return TARRY_ENOMEM;
    memcpy(copy, json, len + 1);
    free(*slot);
    *slot = copy;
    return TARRY_OK;
}

static int ctx_set_errorv(tarry_ctx *ctx, const char *fmt, va_list ap)
{
    char **slot = ctx->in_step ? &ctx->step_error : &ctx->run->error;
    char *msg = NULL;
    if (!fmt || vasprintf(&msg, fmt, ap) < 0)
        msg = strdup("failed (tarry_set_error called without a message)");
    free(*slot);
    *slot = msg;
    return TARRY_FAILED;
}

static const char *ctx_execution_id(tarry_ctx *ctx)
{
    return ctx->run->id_text;
}

static int ctx_attempt(tarry_ctx *ctx)
{
    return ctx->run->attempt;
}

/* ---- the journal ------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void entry_free(replay_entry *r)
{
    free((char *)r->e.name);
    free((char *)r->e.value);
    free((char *)r->e.error);
    free(r->args);
}

/* Copy `e` (and args) into `into`; 0 or TARRY_ENOMEM. */
static int entry_copy(replay_entry *into, const journal_entry *e, const char *args)
{
    into->e = *e;
    into->e.name = dup_or_null(e->name);
    into->e.value = dup_or_null(e->value);
    into->e.error = dup_or_null(e->error);
    into->args = dup_or_null(args);
    if ((e->name && !into->e.name) || (e->value && !into->e.value) || (e->error && !into->e.error) ||
        (args && !into->args)) {
        entry_free(into);
        return TARRY_ENOMEM;
    }
    return 0;
}

static int entries_push(replay_entry **arr, size_t *count, size_t *cap, const journal_entry *e,
                        const char *args)
{
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        replay_entry *grown = realloc(*arr, ncap * sizeof *grown);
        if (!grown)
            return TARRY_ENOMEM;
        *arr = grown;
        *cap = ncap;
    }
    int rc = entry_copy(&(*arr)[*count], e, args);
    if (rc == 0)
        (*count)++;
    return rc;
}

int replay_journal_add(replay_run *run, const journal_entry *entry)
{
    size_t cap = run->journal_count; /* grow by one: loads are rare and small next to a run */
    if (entry->seq != run->journal_count)
        return TARRY_EIO; /* a gap: the journal must be 0..n-1 */
    return entries_push(&run->journal, &run->journal_count, &cap, entry, NULL);
}

static replay_entry *entry_at(replay_run *run, uint32_t seq)
{
    if (seq < run->journal_count)
        return &run->journal[seq];
    if (seq - run->journal_count < run->new_count)
        return &run->new_entries[seq - run->journal_count];
    return NULL;
}

static bool same_name(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/*
 * The common start of every command: the recorded entry at this position
 * (the pass moves past it), or NULL for a new command. Returns TARRY_OK,
 * TARRY_SUSPEND (blocked or already suspended: stop) or TARRY_EINVAL.
 */
static int issue(tarry_ctx *ctx, journal_kind kind, const char *name, replay_entry **recorded)
{
    replay_run *run = ctx->run;
    replay_entry *r;

    *recorded = NULL;
    if (ctx->blocked || ctx->suspended)
        return TARRY_SUSPEND;
    if (ctx->in_step) {
        misuse(ctx, "%s \"%s\" issued inside a step: durable commands cannot nest in a step's body",
               journal_kind_name(kind), name ? name : "");
        return TARRY_EINVAL;
    }
    /* A patch marker the code no longer asks about (its tarry_patched call
     * was removed once every old execution finished) is passed over. */
    while (ctx->pos < run->journal_count && run->journal[ctx->pos].e.kind == JOURNAL_PATCH)
        ctx->pos++;
    if (ctx->pos >= run->journal_count)
        return TARRY_OK;
    r = &run->journal[ctx->pos];
    if (r->e.kind != kind || !same_name(r->e.name, name)) {
        char msg[600];
        snprintf(msg, sizeof msg, "nondeterminism at step %u: journal has %s \"%s\", code issued %s \"%s\"",
                 ctx->pos, journal_kind_name(r->e.kind), r->e.name ? r->e.name : "", journal_kind_name(kind),
                 name ? name : "");
        free(run->error);
        run->error = strdup(msg);
        ctx->blocked = true;
        return TARRY_SUSPEND;
    }
    ctx->pos++;
    *recorded = r;
    return TARRY_OK;
}

/* Append a new command at the current position. */
static int record_new(tarry_ctx *ctx, journal_entry *e, const char *args)
{
    replay_run *run = ctx->run;
    e->seq = ctx->pos;
    int rc = entries_push(&run->new_entries, &run->new_count, &run->new_cap, e, args);
    if (rc == 0)
        ctx->pos++;
    return rc;
}

static int suspend(tarry_ctx *ctx)
{
    ctx->suspended = true;
    return TARRY_SUSPEND;
}

/* ---- durable commands ------------------------------------------------------------ */

static void handle_fill(tarry_handle *h, const journal_entry *e)
{
    id_format(&e->child, h->id);
    h->seq = e->seq;
}

static int ctx_call(tarry_ctx *ctx, const char *function, const char *args_json, const tarry_call_opts *opts,
                    tarry_handle *handle)
{
    replay_run *run = ctx->run;
    journal_entry e;
    replay_entry *r;
    int64_t delay = 0;
    char err[200];
    int rc;

    if (!function) {
        misuse(ctx, "tarry_call: the function name is NULL");
        return TARRY_EINVAL;
    }
    if ((rc = issue(ctx, JOURNAL_CALL, function, &r)) != TARRY_OK || r) {
        if (r && handle)
            handle_fill(handle, &r->e);
        return rc;
    }
    if (!run->hooks.function_known(run->hooks.user, function)) {
        misuse(ctx, "tarry_call: no loaded plugin exports a function named \"%s\"", function);
        return TARRY_EINVAL;
    }
    if (args_json && !json_ok(ctx, "tarry_call args", args_json))
        return TARRY_EINVAL;
    if (opts && run->header_revision >= 2 && opts->delay &&
        duration_parse(opts->delay, &delay, err, sizeof err) != 0) {
        misuse(ctx, "tarry_call of \"%s\": opts->delay: %s", function, err);
        return TARRY_EINVAL;
    }
    memset(&e, 0, sizeof e);
    e.kind = JOURNAL_CALL;
    e.status = JOURNAL_PENDING;
    e.name = function;
    e.detached = handle == NULL;
    e.started_at = clock_now_ms();
    e.wake_at = delay > 0 ? e.started_at + delay : 0;
    id_new(&e.child);
    if ((rc = record_new(ctx, &e, args_json ? args_json : "null")) != 0)
        return rc;
    if (handle)
        handle_fill(handle, &e);
    return TARRY_OK;
}

/* The call entry a handle names, or NULL (logged) if this execution did not make it. */
static replay_entry *handle_entry(tarry_ctx *ctx, const char *what, const tarry_handle *h)
{
    replay_entry *r = h ? entry_at(ctx->run, h->seq) : NULL;
    char id[ID_TEXT_LEN + 1];

    if (!h) {
        misuse(ctx, "%s: the handle is NULL", what);
        return NULL;
    }
    if (r && r->e.kind == JOURNAL_CALL) {
        id_format(&r->e.child, id);
        if (memcmp(id, h->id, ID_TEXT_LEN) == 0)
            return r;
    }
    misuse(ctx, "%s: handle %.26s (#%u) is not a child this execution created", what, h->id, h->seq);
    return NULL;
}

static bool settled(const replay_run *run, const replay_entry *r)
{
    /* A call made in this pass has no child yet: its entry is not committed. */
    return r->e.seq < run->journal_count && r->e.status != JOURNAL_PENDING;
}

static int fill_result(tarry_ctx *ctx, const replay_entry *r, tarry_result *out)
{
    int status = r->e.status == JOURNAL_SUCCEEDED   ? TARRY_OK
                 : r->e.status == JOURNAL_CANCELLED ? TARRY_CANCELLED
                                                    : TARRY_FAILED;
    if (status != TARRY_OK) {
        char id[ID_TEXT_LEN + 1];
        id_format(&r->e.child, id);
        if (r->e.kind == JOURNAL_STEP)
            snprintf(ctx->last_failure, sizeof ctx->last_failure, "step \"%s\" failed: %s", r->e.name,
                     r->e.error ? r->e.error : "?");
        else
            snprintf(ctx->last_failure, sizeof ctx->last_failure, "child %s (%s) %s: %s", r->e.name, id,
                     status == TARRY_CANCELLED ? "was cancelled" : "failed", r->e.error ? r->e.error : "?");
    }
    if (out) {
        out->status = (tarry_status)status;
        out->value_json = status == TARRY_OK ? (r->e.value ? r->e.value : "null") : NULL;
        out->error = status == TARRY_OK ? NULL : (r->e.error ? r->e.error : "failed");
    }
    return status;
}

static int ctx_await_one(tarry_ctx *ctx, const tarry_handle *handle, tarry_result *result)
{
    replay_entry *r;

    if (ctx->blocked || ctx->suspended)
        return TARRY_SUSPEND;
    if (!(r = handle_entry(ctx, "tarry_await", handle)))
        return TARRY_EINVAL;
    if (!settled(ctx->run, r))
        return suspend(ctx);
    return fill_result(ctx, r, result);
}

static int ctx_await_all(tarry_ctx *ctx, const tarry_handle *handles, size_t count, tarry_result *results)
{
    bool pending = false;

    if (ctx->blocked || ctx->suspended)
        return TARRY_SUSPEND;
    if (count && !handles) {
        misuse(ctx, "tarry_await_all: handles is NULL");
        return TARRY_EINVAL;
    }
    for (size_t i = 0; i < count; i++) {
        replay_entry *r = handle_entry(ctx, "tarry_await_all", &handles[i]);
        if (!r)
            return TARRY_EINVAL;
        if (!settled(ctx->run, r))
            pending = true;
        else
            fill_result(ctx, r, results ? &results[i] : NULL);
    }
    return pending ? suspend(ctx) : TARRY_OK;
}

static int ctx_step(tarry_ctx *ctx, const char *name, tarry_step_fn fn, void *user, tarry_result *result)
{
    replay_run *run = ctx->run;
    journal_entry e;
    replay_entry *r;
    int rc, status;

    if (!name || !fn) {
        misuse(ctx, "tarry_step: %s is NULL", !name ? "the name" : "the step function");
        return TARRY_EINVAL;
    }
    if ((rc = issue(ctx, JOURNAL_STEP, name, &r)) != TARRY_OK)
        return rc;
    if (r)
        return fill_result(ctx, r, result);

    memset(&e, 0, sizeof e);
    e.kind = JOURNAL_STEP;
    e.name = name;
    e.started_at = clock_now_ms();
    ctx->in_step = true;
    status = fn(ctx, user);
    ctx->in_step = false;
    e.finished_at = clock_now_ms();
    char msg[200];
    if (status == TARRY_OK) {
        e.status = JOURNAL_SUCCEEDED;
        e.value = ctx->step_result ? ctx->step_result : "null";
    } else if (status == TARRY_FAILED) {
        e.status = JOURNAL_FAILED;
        e.error = ctx->step_error ? ctx->step_error : "step failed without calling tarry_set_error";
    } else {
        snprintf(msg, sizeof msg,
                 "step \"%.80s\" returned an unexpected status %d; return TARRY_OK or TARRY_FAILED", name,
                 status);
        e.status = JOURNAL_FAILED;
        e.error = msg;
    }
    rc = record_new(ctx, &e, NULL);
    free(ctx->step_result);
    free(ctx->step_error);
    ctx->step_result = ctx->step_error = NULL;
    if (rc != 0)
        return rc;
    /* The checkpoint: nothing after the step runs until its result is durable. */
    if ((rc = run->hooks.checkpoint(run->hooks.user, run)) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "could not make the result of step \"%.80s\" durable (%s)", name,
                 status_str(rc));
        free(run->error);
        run->error = strdup(msg);
        ctx->blocked = true;
        return TARRY_SUSPEND;
    }
    return fill_result(ctx, &run->new_entries[run->new_count - 1], result);
}

static int ctx_sleep(tarry_ctx *ctx, const char *duration)
{
    replay_run *run = ctx->run;
    journal_entry e;
    replay_entry *r;
    int64_t ms;
    char err[200];
    int rc;

    if (!duration) {
        misuse(ctx, "tarry_sleep: the duration is NULL");
        return TARRY_EINVAL;
    }
    if ((rc = issue(ctx, JOURNAL_SLEEP, duration, &r)) != TARRY_OK)
        return rc;
    if (r) {
        if (r->e.status == JOURNAL_SUCCEEDED)
            return TARRY_OK;
        run->wake_at = r->e.wake_at;
        run->wake_seq = r->e.seq;
        return suspend(ctx);
    }
    if (duration_parse(duration, &ms, err, sizeof err) != 0) {
        misuse(ctx, "tarry_sleep: %s", err);
        return TARRY_EINVAL;
    }
    memset(&e, 0, sizeof e);
    e.kind = JOURNAL_SLEEP;
    e.status = JOURNAL_PENDING;
    e.name = duration;
    e.started_at = clock_now_ms();
    e.wake_at = e.started_at + ms;
    if ((rc = record_new(ctx, &e, NULL)) != 0)
        return rc;
    run->wake_at = e.wake_at;
    run->wake_seq = e.seq;
    return suspend(ctx);
}

static int ctx_now_ms(tarry_ctx *ctx, int64_t *out)
{
    journal_entry e;
    replay_entry *r;
    char text[32];
    int rc;

    if (!out)
        return TARRY_EINVAL;
    if ((rc = issue(ctx, JOURNAL_NOW, NULL, &r)) != TARRY_OK)
        return rc;
    if (r) {
        *out = r->e.value ? strtoll(r->e.value, NULL, 10) : 0;
        return TARRY_OK;
    }
    memset(&e, 0, sizeof e);
    e.kind = JOURNAL_NOW;
    e.status = JOURNAL_SUCCEEDED;
    e.started_at = e.finished_at = clock_now_ms();
    snprintf(text, sizeof text, "%" PRId64, e.started_at);
    e.value = text;
    if ((rc = record_new(ctx, &e, NULL)) != 0)
        return rc;
    *out = e.started_at;
    return TARRY_OK;
}

static int ctx_patched(tarry_ctx *ctx, const char *change_id)
{
    replay_run *run = ctx->run;
    journal_entry e;

    if (!change_id || !change_id[0]) {
        misuse(ctx, "tarry_patched: the change id is empty");
        return 1;
    }
    if (ctx->blocked || ctx->suspended || ctx->in_step)
        return 1;
    if (ctx->pos < run->journal_count) {
        const replay_entry *r = &run->journal[ctx->pos];
        if (r->e.kind == JOURNAL_PATCH && same_name(r->e.name, change_id)) {
            ctx->pos++;
            return 1;
        }
        /* History from before the patch: take the old path, record nothing. */
        return 0;
    }
    memset(&e, 0, sizeof e);
    e.kind = JOURNAL_PATCH;
    e.status = JOURNAL_SUCCEEDED;
    e.name = change_id;
    e.started_at = e.finished_at = clock_now_ms();
    record_new(ctx, &e, NULL); /* out of memory: still the new path; the marker is lost, not the run */
    return 1;
}

static int ctx_is_cancelled(tarry_ctx *ctx)
{
    (void)ctx;
    return 0; /* nothing can cancel an execution yet */
}

static const tarry_host_api host_api = {
    .size = sizeof(tarry_host_api),
    .set_result = ctx_set_result,
    .set_errorv = ctx_set_errorv,
    .logv = ctx_logv,
    .execution_id = ctx_execution_id,
    .attempt = ctx_attempt,
    .call = ctx_call,
    .await_one = ctx_await_one,
    .await_all = ctx_await_all,
    .step = ctx_step,
    .sleep = ctx_sleep,
    .now_ms = ctx_now_ms,
    .is_cancelled = ctx_is_cancelled,
    .patched = ctx_patched,
};

static void fail_with(replay_run *run, const char *msg)
{
    free(run->error);
    run->error = strdup(msg);
    run->outcome = REPLAY_FAILED;
}

void replay_execute(replay_run *run)
{
    tarry_ctx ctx = {.head = {.api = &host_api}, .run = run};
    int status;

    run->wake_at = 0;
    run->started_at = clock_now_ms();
    status = run->fn(&ctx, run->args);
    run->finished_at = clock_now_ms();
    free(ctx.step_result);
    free(ctx.step_error);

    if (ctx.blocked) {
        run->outcome = REPLAY_BLOCKED;
    } else if (status == TARRY_OK && ctx.suspended) {
        fail_with(run, "function returned TARRY_OK after a durable call returned TARRY_SUSPEND; "
                       "return TARRY_SUSPEND at once (TARRY_TRY does)");
    } else if (status == TARRY_OK) {
        run->outcome = REPLAY_SUCCEEDED;
        free(run->error);
        run->error = NULL;
    } else if (status == TARRY_SUSPEND && ctx.suspended) {
        run->outcome = REPLAY_SUSPENDED;
    } else if (status == TARRY_SUSPEND) {
        fail_with(run, "function returned TARRY_SUSPEND, but no durable call suspended");
    } else if (status == TARRY_FAILED) {
        run->outcome = REPLAY_FAILED;
        if (!run->error)
            run->error = strdup(ctx.last_failure[0]
                                    ? ctx.last_failure
                                    : "function returned TARRY_FAILED without calling tarry_set_error");
    } else if (status < 0 && ctx.last_failure[0]) {
        /* A misuse code passed straight on (TARRY_TRY): the reason is the misuse. */
        fail_with(run, ctx.last_failure);
    } else {
        char msg[200];
        snprintf(
            msg, sizeof msg,
            "function returned an unexpected status %d (%s); return TARRY_OK, TARRY_FAILED or TARRY_SUSPEND",
            status, tarry_strerror(status));
        fail_with(run, msg);
    }
    if (run->outcome != REPLAY_SUCCEEDED) {
        free(run->result);
        run->result = NULL;
    }
}

void replay_run_clear(replay_run *run)
{
    free(run->result);
    free(run->error);
    for (size_t i = 0; i < run->log_count; i++)
        free(run->logs[i].text);
    free(run->logs);
    for (size_t i = 0; i < run->journal_count; i++)
        entry_free(&run->journal[i]);
    free(run->journal);
    for (size_t i = 0; i < run->new_count; i++)
        entry_free(&run->new_entries[i]);
    free(run->new_entries);
    run->result = run->error = NULL;
    run->logs = NULL;
    run->log_count = run->log_cap = 0;
    run->journal = NULL;
    run->journal_count = 0;
    run->new_entries = NULL;
    run->new_count = run->new_cap = run->handed = 0;
    run->wake_at = 0;
}
