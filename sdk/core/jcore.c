/*
 * jcore.c - the journal core (jcore.h): the tarry_ctx commands, the
 * determinism check, step checkpoints, replay-aware logging and the
 * outcome of a pass.
 *
 * A ctx lives on the stack of jcore_execute and is never shared, so there
 * is no locking; everything a plugin passes in is copied before the call
 * returns. libc only; every host-specific answer comes from the hooks.
 * About 800 lines on purpose: every command reads and moves the same pass
 * state (position, suspension, block, checkpoint, log mark), which stays
 * private to this file.
 */
#include "jcore.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jcore_ctx.h"
#include "jcore_duration.h"
#include "jcore_json.h"
#include "json_strict.h"

/* One block of memory lent to the plugin until the function returns (jcore_ctx_keep). */
typedef struct kept_text {
    struct kept_text *next;
    char text[];
} kept_text;

struct tarry_ctx {
    struct tarry_ctx_head head; /* must come first: the SDK reads it */
    jcore_run *run;
    uint32_t pos;           /* seq of the next command */
    bool suspended;         /* a command returned TARRY_SUSPEND: no more commands this pass */
    bool blocked;           /* nondeterminism or a failed checkpoint: why_blocked says which */
    bool yielded;           /* JCORE_CP_YIELD ended the pass before a step's body */
    bool in_step;           /* inside a step's body: results go to the step */
    uint32_t step_pos;      /* in_step: the step's own position */
    uint32_t unsaved_steps; /* steps in run->fresh since the last checkpoint (or the start) */
    char *step_result, *step_error;
    /* (p, i) of the last log line of this pass, for the log mark (jcore.h). */
    bool logged;
    uint32_t log_pos, log_ordinal;
    /* Why the last command failed or was refused, so a function that just
     * passes the status on (TARRY_TRY) fails with the reason. */
    char last_failure[512];
    /* Kept apart from run->error, which a function may still set after it
     * was blocked: the block's reason is what the execution shows. */
    char why_blocked[600];
    /* The function's result was refused as invalid JSON: the attempt fails
     * with that reason even if the function ignored the refusal and returned
     * TARRY_OK (its result would silently be null). A step's result refused
     * fails the step instead (step_bad_json), and the function sees a failed
     * step. Refused child args start no child; tarry_call says TARRY_EINVAL
     * like any misuse. */
    bool bad_json, step_bad_json;
    /* What the JSON helpers handed out: freed when the function returns. */
    kept_text *kept;
};

static int64_t now(const jcore_run *run)
{
    return run->hooks->now_ms(run->user);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- logs ------------------------------------------------------------------------ */

/*
 * Store one line unless an earlier pass stored it already (the log mark).
 * The mark moves only once the line is stored, so a line lost to an
 * allocation failure is logged by a later pass.
 */
/* Make room for one more item in a doubling array (*items holds count of *cap). 0 or TARRY_ENOMEM. */
static int grow(void **items, size_t count, size_t *cap, size_t size)
{
    size_t ncap;
    void *grown;

    if (count < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 8;
    if (!(grown = realloc(*items, ncap * size)))
        return TARRY_ENOMEM;
    *items = grown;
    *cap = ncap;
    return 0;
}

enum { LOG_SEEN, LOG_DROP, LOG_KEEP };

/*
 * Where the next line stands: stored by an earlier pass (LOG_SEEN), past
 * the line limit (LOG_DROP: counted, and the mark moves past it), or new
 * and kept (LOG_KEEP: the caller keeps it, then log_mark_at). Decided
 * before the line is formatted, so a function that logs without end costs
 * a count per line once it is over the limit, not a formatted copy.
 */
static int log_admit(tarry_ctx *ctx, uint32_t *pos, uint32_t *ordinal)
{
    jcore_run *run = ctx->run;
    uint32_t p = ctx->in_step ? ctx->step_pos : ctx->pos, i;
    uint32_t max = run->log_max_lines ? run->log_max_lines : JCORE_LOG_LINES_MAX;

    if (!ctx->logged || p != ctx->log_pos) {
        ctx->logged = true;
        ctx->log_pos = p;
        ctx->log_ordinal = 0;
    }
    i = ctx->log_ordinal++;
    *pos = p;
    *ordinal = i;
    if (p < run->log_mark_pos || (p == run->log_mark_pos && i < run->log_mark_count))
        return LOG_SEEN;
    if ((uint64_t)run->log_stored + run->log_count >= max) {
        if (run->log_dropped < UINT32_MAX)
            run->log_dropped++;
        run->log_mark_pos = p;
        run->log_mark_count = i + 1;
        return LOG_DROP;
    }
    return LOG_KEEP;
}

/*
 * Cut `text` (len bytes) to `max` bytes at a character boundary and make what is not UTF-8 '?'.
 * Log lines and error messages are plugin text the host stores, shows as JSON and (on
 * PostgreSQL) writes into UTF8 text columns, where one invalid byte would fail a whole commit.
 */
static void text_clean(char *text, size_t len, size_t max)
{
    unsigned char *s = (unsigned char *)text;

    if (len > max) {
        len = max;
        while (len > 0 && (s[len] & 0xC0) == 0x80) /* s[len] continues a character: cut before it */
            len--;
        s[len] = '\0';
    }
    for (size_t i = 0; i < len;) {
        size_t n = json_strict_utf8_len(s + i, len - i);
        if (!n) {
            s[i++] = '?';
            continue;
        }
        i += n;
    }
}

/* Cut a log line to the run's line limit; make what is not UTF-8 '?'. */
static void log_clean(const jcore_run *run, char *text, size_t len)
{
    text_clean(text, len, run->log_line_max ? run->log_line_max : JCORE_LOG_LINE_MAX);
}

/* Keep `text` (owned, cleaned) as the next new line at (p, i). 0 or TARRY_ENOMEM (text freed). */
static int log_keep(tarry_ctx *ctx, int level, char *text, uint32_t p, uint32_t i)
{
    jcore_run *run = ctx->run;
    jcore_log *line;

    if (grow((void **)&run->logs, run->log_count, &run->log_cap, sizeof *run->logs) != 0) {
        free(text);
        return TARRY_ENOMEM;
    }
    line = &run->logs[run->log_count];
    line->text = text;
    line->time_ms = now(run);
    line->level = level;
    run->log_count++;
    run->log_mark_pos = p;
    run->log_mark_count = i + 1;
    return TARRY_OK;
}

static int log_line(tarry_ctx *ctx, int level, const char *text)
{
    uint32_t p, i;
    size_t len;
    char *copy;

    if (ctx->yielded)
        return TARRY_OK; /* the pass ended before its step: the next one logs from there */
    if (log_admit(ctx, &p, &i) != LOG_KEEP)
        return TARRY_OK;
    len = strlen(text);
    if (!(copy = malloc(len + 1)))
        return TARRY_ENOMEM;
    memcpy(copy, text, len + 1);
    log_clean(ctx->run, copy, len);
    return log_keep(ctx, level, copy, p, i);
}

static int ctx_logv(tarry_ctx *ctx, int level, const char *fmt, va_list ap)
{
    size_t max = ctx->run->log_line_max ? ctx->run->log_line_max : JCORE_LOG_LINE_MAX;
    uint32_t p, i;
    va_list again;
    char *text;
    int len;

    if (!fmt || level < TARRY_LOG_DEBUG || level > TARRY_LOG_ERROR)
        return TARRY_EINVAL;
    if (ctx->yielded || log_admit(ctx, &p, &i) != LOG_KEEP)
        return TARRY_OK;
    va_copy(again, ap);
    len = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    if (len < 0)
        len = 0;
    /* One byte past the limit, so log_clean sees whether the cut splits a character. */
    if ((size_t)len > max + 1)
        len = (int)(max + 1);
    if (!(text = malloc((size_t)len + 1)))
        return TARRY_ENOMEM;
    vsnprintf(text, (size_t)len + 1, fmt, ap);
    log_clean(ctx->run, text, strlen(text));
    return log_keep(ctx, level, text, p, i);
}

/* A misuse: remembered as the reason a TARRY_TRY passes on, and logged. */
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
    log_line(ctx, TARRY_LOG_ERROR, ctx->last_failure);
}

void jcore_ctx_fail(tarry_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ctx->last_failure, sizeof ctx->last_failure, fmt, ap);
    va_end(ap);
}

void jcore_ctx_misuse(tarry_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ctx->last_failure, sizeof ctx->last_failure, fmt, ap);
    va_end(ap);
    log_line(ctx, TARRY_LOG_ERROR, ctx->last_failure);
}

char *jcore_ctx_keep(tarry_ctx *ctx, const char *text, size_t len)
{
    kept_text *k = malloc(sizeof *k + len + 1);

    if (!k)
        return NULL;
    memcpy(k->text, text, len);
    k->text[len] = '\0';
    k->next = ctx->kept;
    ctx->kept = k;
    return k->text;
}

static const char *ctx_last_error(tarry_ctx *ctx)
{
    return ctx->last_failure;
}

/* ---- results ------------------------------------------------------------------- */

/*
 * Whether `json` is one strict JSON text (json_strict.h: valid UTF-8, no
 * duplicate keys, numbers a double holds); logs why not, naming the value.
 */
static bool json_ok(tarry_ctx *ctx, const char *what, const char *json)
{
    json_strict_error err;
    char why[400];
    int rc = json_strict_check(json, strlen(json), &err);

    if (rc == 0)
        return true;
    if (rc == TARRY_ENOMEM)
        snprintf(why, sizeof why, "out of memory checking the JSON");
    else
        json_strict_describe(&err, NULL, why, sizeof why);
    misuse(ctx, "%s: invalid JSON: %s", what, why);
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
    if (len > JCORE_RESULT_MAX) {
        misuse(ctx, "tarry_set_result: result is %zu bytes, over the %u-byte limit", len, JCORE_RESULT_MAX);
        return TARRY_EINVAL;
    }
    if (!json_ok(ctx, "tarry_set_result", json)) {
        if (ctx->in_step)
            ctx->step_bad_json = true;
        else
            ctx->bad_json = true;
        return TARRY_EINVAL;
    }
    if (!(copy = malloc(len + 1)))
        return TARRY_ENOMEM;
    memcpy(copy, json, len + 1);
    free(*slot);
    *slot = copy;
    /* A valid result replaces a refused one, as it would replace any other. */
    if (ctx->in_step)
        ctx->step_bad_json = false;
    else
        ctx->bad_json = false;
    return TARRY_OK;
}

static int ctx_set_errorv(tarry_ctx *ctx, const char *fmt, va_list ap)
{
    char **slot = ctx->in_step ? &ctx->step_error : &ctx->run->error;
    char *msg = NULL;
    va_list again;
    int len;

    if (fmt) {
        va_copy(again, ap);
        len = vsnprintf(NULL, 0, fmt, again);
        va_end(again);
        if (len >= 0 && (msg = malloc((size_t)len + 1)))
            vsnprintf(msg, (size_t)len + 1, fmt, ap);
    }
    if (!msg)
        msg = strdup("failed (tarry_set_error called without a message)");
    else
        text_clean(msg, (size_t)len, JCORE_ERROR_MAX);
    free(*slot);
    *slot = msg;
    return TARRY_FAILED;
}

static int ctx_fail_permanentv(tarry_ctx *ctx, const char *fmt, va_list ap)
{
    ctx->run->permanent = true;
    return ctx_set_errorv(ctx, fmt, ap);
}

static const char *ctx_execution_id(tarry_ctx *ctx)
{
    return ctx->run->id;
}

static int ctx_attempt(tarry_ctx *ctx)
{
    return ctx->run->attempt;
}

/* ---- the journal ----------------------------------------------------------------------- */

void jcore_entry_free(jcore_entry *e)
{
    free(e->name);
    free(e->value);
    free(e->error);
    free(e->args);
    free(e->delay);
    free(e->idempotency_key);
    free(e->discard_after);
    free(e->metadata);
}

const char *jcore_kind_name(jcore_kind kind)
{
    switch (kind) {
    case JCORE_CALL:
        return "call";
    case JCORE_STEP:
        return "step";
    case JCORE_SLEEP:
        return "sleep";
    case JCORE_NOW:
        return "now";
    case JCORE_PATCH:
        return "patch";
    }
    return "unknown";
}

/* The entry at `seq`, recorded or made in this pass, or NULL. */
static const jcore_entry *entry_at(const jcore_run *run, uint32_t seq)
{
    if (seq < run->journal_count)
        return &run->journal[seq];
    if (seq - run->journal_count < run->fresh_count)
        return &run->fresh[seq - run->journal_count];
    return NULL;
}

static bool same_name(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The entry whose value text `json` is (a value_json this pass handed out), or NULL. */
static const jcore_entry *entry_with_value(const jcore_run *run, const char *json)
{
    for (size_t i = 0; i < run->journal_count; i++)
        if (run->journal[i].value == json)
            return &run->journal[i];
    for (size_t i = 0; i < run->fresh_count; i++)
        if (run->fresh[i].value == json)
            return &run->fresh[i];
    return NULL;
}

void jcore_ctx_describe_json(tarry_ctx *ctx, const char *json, char *out, size_t outlen)
{
    const jcore_entry *e;

    if (json == ctx->run->args)
        snprintf(out, outlen, "args");
    else if ((e = entry_with_value(ctx->run, json)) && e->kind == JCORE_STEP)
        snprintf(out, outlen, "result of step \"%.80s\"", e->name);
    else if (e && e->kind == JCORE_CALL)
        snprintf(out, outlen, "result of child %.80s", e->name);
    else
        snprintf(out, outlen, "%s", "");
}

/* Append a copy of `e` (its strings too) to run->fresh. 0 or TARRY_ENOMEM. */
static int fresh_push(jcore_run *run, const jcore_entry *e)
{
    jcore_entry *into;

    if (grow((void **)&run->fresh, run->fresh_count, &run->fresh_cap, sizeof *run->fresh) != 0)
        return TARRY_ENOMEM;
    into = &run->fresh[run->fresh_count];
    *into = *e;
    into->name = dup_or_null(e->name);
    into->value = dup_or_null(e->value);
    into->error = dup_or_null(e->error);
    into->args = dup_or_null(e->args);
    into->delay = dup_or_null(e->delay);
    into->idempotency_key = dup_or_null(e->idempotency_key);
    into->discard_after = dup_or_null(e->discard_after);
    into->metadata = dup_or_null(e->metadata);
    if ((e->name && !into->name) || (e->value && !into->value) || (e->error && !into->error) ||
        (e->args && !into->args) || (e->delay && !into->delay) ||
        (e->idempotency_key && !into->idempotency_key) || (e->discard_after && !into->discard_after) ||
        (e->metadata && !into->metadata)) {
        jcore_entry_free(into);
        return TARRY_ENOMEM;
    }
    run->fresh_count++;
    return 0;
}

/*
 * Whether the pass takes a command now: TARRY_OK, TARRY_SUSPEND (blocked or
 * already suspended: stop) or TARRY_EINVAL (inside a step's body, logged).
 */
static int ready(tarry_ctx *ctx, jcore_kind kind, const char *name)
{
    if (ctx->blocked || ctx->suspended)
        return TARRY_SUSPEND;
    if (ctx->in_step) {
        misuse(ctx, "%s \"%s\" issued inside a step: durable commands cannot nest in a step's body",
               jcore_kind_name(kind), name ? name : "");
        return TARRY_EINVAL;
    }
    return TARRY_OK;
}

/*
 * The position of the recorded entry the next command meets: patch markers
 * the code no longer asks about (its tarry_patched call was removed once
 * every old execution finished) are passed over. journal_count past the end.
 */
static uint32_t next_position(const tarry_ctx *ctx)
{
    const jcore_run *run = ctx->run;
    uint32_t at = ctx->pos;

    while (at < run->journal_count && run->journal[at].kind == JCORE_PATCH)
        at++;
    return at;
}

/* The recorded entry the next command meets, or NULL past the journal. Moves nothing. */
static const jcore_entry *next_recorded(const tarry_ctx *ctx)
{
    uint32_t at = next_position(ctx);
    return at < ctx->run->journal_count ? &ctx->run->journal[at] : NULL;
}

/*
 * The common start of every command, once its arguments passed: the
 * recorded entry at this position (the pass moves past it), or NULL for a
 * new command. Returns TARRY_OK, TARRY_SUSPEND (blocked, suspended, or a
 * nondeterminism found now) or TARRY_EINVAL.
 *
 * A command refused for its arguments never reaches here, so it is never
 * recorded and never compared with the journal: replayed, it is refused
 * the same way, not taken for a different command.
 */
static int issue(tarry_ctx *ctx, jcore_kind kind, const char *name, const jcore_entry **recorded)
{
    jcore_run *run = ctx->run;
    const jcore_entry *r;
    int rc;

    *recorded = NULL;
    if ((rc = ready(ctx, kind, name)) != TARRY_OK)
        return rc;
    ctx->pos = next_position(ctx);
    if (ctx->pos >= run->journal_count) {
        if (run->replay_only) {
            run->went_past = true;
            ctx->suspended = true;
            return TARRY_SUSPEND;
        }
        return TARRY_OK;
    }
    r = &run->journal[ctx->pos];
    if (r->kind != kind || !same_name(r->name, name)) {
        snprintf(ctx->why_blocked, sizeof ctx->why_blocked,
                 "nondeterminism at step %u: journal has %s \"%s\", code issued %s \"%s\"", ctx->pos,
                 jcore_kind_name(r->kind), r->name ? r->name : "", jcore_kind_name(kind), name ? name : "");
        ctx->blocked = true;
        return TARRY_SUSPEND;
    }
    ctx->pos++;
    *recorded = r;
    return TARRY_OK;
}

/* Append a new command at the current position (its strings are copied). */
static int record_new(tarry_ctx *ctx, jcore_entry *e)
{
    int rc;

    e->seq = ctx->pos;
    if ((rc = fresh_push(ctx->run, e)) == 0)
        ctx->pos++;
    return rc;
}

static int suspend(tarry_ctx *ctx)
{
    ctx->suspended = true;
    return TARRY_SUSPEND;
}

/* ---- durable commands ------------------------------------------------------------ */

static void handle_fill(tarry_handle *h, const jcore_entry *e)
{
    _Static_assert(sizeof h->id == sizeof e->child, "a handle holds an id as text and its NUL");
    memcpy(h->id, e->child, sizeof h->id);
    h->seq = e->seq;
}

static int ctx_call(tarry_ctx *ctx, const char *function, const char *args_json, const tarry_call_opts *opts,
                    tarry_handle *handle)
{
    jcore_run *run = ctx->run;
    const jcore_entry *r;
    jcore_entry e;
    const char *delay_text = NULL;
    int64_t delay = 0;
    char err[200];
    int rc;

    if (!function) {
        misuse(ctx, "tarry_call: the function name is NULL");
        return TARRY_EINVAL;
    }
    if ((rc = ready(ctx, JCORE_CALL, function)) != TARRY_OK)
        return rc;
    /* A recorded call replays even if its function is gone since (a child
     * that exists needs no code here); a call that is not recorded needs it. */
    r = next_recorded(ctx);
    if (!(r && r->kind == JCORE_CALL && same_name(r->name, function)) &&
        !run->hooks->function_known(run->user, function)) {
        misuse(ctx, "tarry_call: no loaded plugin exports a function named \"%s\"", function);
        return TARRY_EINVAL;
    }
    if (args_json && !json_ok(ctx, "tarry_call args", args_json))
        return TARRY_EINVAL;
    /* opts->delay exists from header revision 2 on; older plugins' opts end before it. */
    if (opts && run->header_revision >= 2 && opts->delay) {
        if (jcore_duration_parse(opts->delay, &delay, err, sizeof err) != 0) {
            misuse(ctx, "tarry_call of \"%s\": opts->delay: %s", function, err);
            return TARRY_EINVAL;
        }
        delay_text = opts->delay;
    }
    /* The per-execution options exist from header revision 4 on. */
    const char *idem = NULL, *discard = NULL, *meta = NULL;
    if (opts && run->header_revision >= 4) {
        idem = opts->idempotency_key;
        discard = opts->discard_after;
        meta = opts->metadata_json;
        if ((idem || discard || meta) && run->hooks->call_opts_check &&
            run->hooks->call_opts_check(run->user, idem, discard, meta, err, sizeof err) != 0) {
            misuse(ctx, "tarry_call of \"%s\": opts->%s", function, err);
            return TARRY_EINVAL;
        }
    }
    if ((rc = issue(ctx, JCORE_CALL, function, &r)) != TARRY_OK || r) {
        if (r && handle)
            handle_fill(handle, r);
        return rc;
    }
    /* The casts lend the plugin's strings to record_new, which copies them. */
    memset(&e, 0, sizeof e);
    e.kind = JCORE_CALL;
    e.status = JCORE_PENDING;
    e.name = (char *)function;
    e.detached = handle == NULL;
    e.started_at = now(run);
    e.wake_at = delay > 0 ? e.started_at + delay : 0;
    e.args = (char *)(args_json ? args_json : "null");
    e.delay = (char *)delay_text;
    e.idempotency_key = (char *)idem;
    e.discard_after = (char *)discard;
    e.metadata = (char *)meta;
    run->hooks->new_child_id(run->user, e.child);
    if ((rc = record_new(ctx, &e)) != 0)
        return rc;
    if (handle)
        handle_fill(handle, &run->fresh[run->fresh_count - 1]);
    return TARRY_OK;
}

/* The call entry a handle names, or NULL (logged) if this execution did not make it. */
static const jcore_entry *handle_entry(tarry_ctx *ctx, const char *what, const tarry_handle *h)
{
    const jcore_entry *r;

    if (!h) {
        misuse(ctx, "%s: the handle is NULL", what);
        return NULL;
    }
    r = entry_at(ctx->run, h->seq);
    if (r && r->kind == JCORE_CALL && memcmp(r->child, h->id, JCORE_ID_LEN) == 0)
        return r;
    misuse(ctx, "%s: handle %.26s (#%u) is not a child this execution created", what, h->id, h->seq);
    return NULL;
}

static bool settled(const jcore_run *run, const jcore_entry *r)
{
    /* A call made in this pass has no child yet: its entry is not committed. */
    return r->seq < run->journal_count && r->status != JCORE_PENDING;
}

static int fill_result(tarry_ctx *ctx, const jcore_entry *r, tarry_result *out)
{
    int status = r->status == JCORE_SUCCEEDED   ? TARRY_OK
                 : r->status == JCORE_CANCELLED ? TARRY_CANCELLED
                                                : TARRY_FAILED;

    if (status != TARRY_OK) {
        if (r->kind == JCORE_STEP)
            snprintf(ctx->last_failure, sizeof ctx->last_failure, "step \"%s\" failed: %s", r->name,
                     r->error ? r->error : "?");
        else
            snprintf(ctx->last_failure, sizeof ctx->last_failure, "child %s (%s) %s: %s", r->name, r->child,
                     status == TARRY_CANCELLED ? "was cancelled" : "failed", r->error ? r->error : "?");
    }
    if (out) {
        out->status = (tarry_status)status;
        out->value_json = status == TARRY_OK ? (r->value ? r->value : "null") : NULL;
        out->error = status == TARRY_OK ? NULL : (r->error ? r->error : "failed");
    }
    return status;
}

static int ctx_await_one(tarry_ctx *ctx, const tarry_handle *handle, tarry_result *result)
{
    const jcore_entry *r;

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
        const jcore_entry *r = handle_entry(ctx, "tarry_await_all", &handles[i]);
        if (!r)
            return TARRY_EINVAL;
        if (!settled(ctx->run, r))
            pending = true;
        else
            fill_result(ctx, r, results ? &results[i] : NULL);
    }
    return pending ? suspend(ctx) : TARRY_OK;
}

/* The newest step entry of this pass not yet made durable, for messages. */
static const char *unsaved_step_name(const jcore_run *run)
{
    for (size_t i = run->fresh_count; i > run->durable; i--)
        if (run->fresh[i - 1].kind == JCORE_STEP)
            return run->fresh[i - 1].name;
    return "";
}

/*
 * Before the body of step `next` runs: the results of this pass's earlier
 * steps must be durable. TARRY_OK to run the body, or TARRY_SUSPEND (the
 * pass ends: yielded, or blocked on a failed checkpoint).
 */
static int save_before_step(tarry_ctx *ctx, const char *next)
{
    jcore_run *run = ctx->run;
    char why[200] = "";
    int rc;

    if (ctx->unsaved_steps == 0 || run->cp_mode == JCORE_CP_NONE)
        return TARRY_OK;
    if (run->cp_mode == JCORE_CP_YIELD) {
        ctx->yielded = true;
        return suspend(ctx);
    }
    if (run->hooks->checkpoint && (rc = run->hooks->checkpoint(run->user, run, why, sizeof why)) != 0) {
        snprintf(ctx->why_blocked, sizeof ctx->why_blocked,
                 "could not make the result of step \"%.80s\" durable before step \"%.80s\" (%s)",
                 unsaved_step_name(run), next, why[0] ? why : tarry_strerror(rc));
        ctx->blocked = true;
        return TARRY_SUSPEND;
    }
    run->durable = run->fresh_count;
    ctx->unsaved_steps = 0;
    return TARRY_OK;
}

/* The code's name as a C author writes it, for messages. */
static const char *status_name(int status)
{
    switch (status) {
    case TARRY_SUSPEND:
        return "TARRY_SUSPEND";
    case TARRY_CANCELLED:
        return "TARRY_CANCELLED";
    case TARRY_EINVAL:
        return "TARRY_EINVAL";
    case TARRY_ENOMEM:
        return "TARRY_ENOMEM";
    case TARRY_ENOTSUP:
        return "TARRY_ENOTSUP";
    default:
        return "an unexpected status";
    }
}

static int ctx_step(tarry_ctx *ctx, const char *name, tarry_step_fn fn, void *user, tarry_result *result)
{
    jcore_run *run = ctx->run;
    const jcore_entry *r;
    jcore_entry e;
    char msg[sizeof ctx->last_failure + 200], before[sizeof ctx->last_failure];
    int rc, status;

    if (!name || !fn) {
        misuse(ctx, "tarry_step: %s is NULL", !name ? "the name" : "the step function");
        return TARRY_EINVAL;
    }
    if ((rc = issue(ctx, JCORE_STEP, name, &r)) != TARRY_OK)
        return rc;
    if (r)
        return fill_result(ctx, r, result);
    if ((rc = save_before_step(ctx, name)) != TARRY_OK)
        return rc;

    memset(&e, 0, sizeof e);
    e.kind = JCORE_STEP;
    e.name = (char *)name;
    e.started_at = now(run);
    ctx->in_step = true;
    ctx->step_bad_json = false;
    ctx->step_pos = ctx->pos;
    /* The body's own failures (a misuse, a missing field) are the step's reason; the function's
     * earlier one comes back if the body adds none. */
    memcpy(before, ctx->last_failure, sizeof before);
    ctx->last_failure[0] = '\0';
    status = fn(ctx, user);
    ctx->in_step = false;
    e.finished_at = now(run);
    if (status == TARRY_OK && ctx->step_bad_json) {
        e.status = JCORE_FAILED; /* a result it could not keep: the step did not do what it says */
        e.error = ctx->last_failure;
    } else if (status == TARRY_OK) {
        e.status = JCORE_SUCCEEDED;
        e.value = ctx->step_result ? ctx->step_result : "null";
    } else if (status == TARRY_FAILED) {
        e.status = JCORE_FAILED;
        e.error = ctx->step_error        ? ctx->step_error
                  : ctx->last_failure[0] ? ctx->last_failure
                                         : "step failed without calling tarry_set_error";
    } else if (status < 0 && ctx->last_failure[0]) {
        /* A misuse code passed on (TARRY_TRY in the body): say which, and why. */
        snprintf(msg, sizeof msg, "step \"%.80s\" returned %s: %s", name, status_name(status),
                 ctx->last_failure);
        e.status = JCORE_FAILED;
        e.error = msg;
    } else {
        snprintf(msg, sizeof msg, "step \"%.80s\" returned %s (%d); return TARRY_OK or TARRY_FAILED", name,
                 status_name(status), status);
        e.status = JCORE_FAILED;
        e.error = msg;
    }
    if (e.status == JCORE_SUCCEEDED)
        memcpy(ctx->last_failure, before, sizeof before);
    rc = record_new(ctx, &e);
    free(ctx->step_result);
    free(ctx->step_error);
    ctx->step_result = ctx->step_error = NULL;
    if (rc != 0)
        return rc;
    ctx->unsaved_steps++;
    return fill_result(ctx, &run->fresh[run->fresh_count - 1], result);
}

static int ctx_sleep(tarry_ctx *ctx, const char *duration)
{
    jcore_run *run = ctx->run;
    const jcore_entry *r;
    jcore_entry e;
    int64_t ms;
    char err[200];
    int rc;

    if (!duration) {
        misuse(ctx, "tarry_sleep: the duration is NULL");
        return TARRY_EINVAL;
    }
    if ((rc = ready(ctx, JCORE_SLEEP, duration)) != TARRY_OK)
        return rc;
    if (jcore_duration_parse(duration, &ms, err, sizeof err) != 0) {
        misuse(ctx, "tarry_sleep: %s", err);
        return TARRY_EINVAL;
    }
    if ((rc = issue(ctx, JCORE_SLEEP, duration, &r)) != TARRY_OK)
        return rc;
    if (r) {
        if (r->status == JCORE_SUCCEEDED)
            return TARRY_OK;
        run->wake_at = r->wake_at;
        run->wake_seq = r->seq;
        return suspend(ctx);
    }
    memset(&e, 0, sizeof e);
    e.kind = JCORE_SLEEP;
    e.status = JCORE_PENDING;
    e.name = (char *)duration;
    e.started_at = now(run);
    e.wake_at = e.started_at + ms;
    if ((rc = record_new(ctx, &e)) != 0)
        return rc;
    run->wake_at = e.wake_at;
    run->wake_seq = e.seq;
    return suspend(ctx);
}

static int ctx_now_ms(tarry_ctx *ctx, int64_t *out)
{
    const jcore_entry *r;
    jcore_entry e;
    char text[32];
    int rc;

    if (!out)
        return TARRY_EINVAL;
    /* A step's body runs once and its result is journaled: the time it reads there needs no
     * entry of its own (a replay never runs the body), so it is the clock, not a misuse. */
    if (ctx->in_step && !ctx->blocked && !ctx->suspended) {
        *out = now(ctx->run);
        return TARRY_OK;
    }
    if ((rc = issue(ctx, JCORE_NOW, NULL, &r)) != TARRY_OK)
        return rc;
    if (r) {
        *out = r->value ? strtoll(r->value, NULL, 10) : 0;
        return TARRY_OK;
    }
    memset(&e, 0, sizeof e);
    e.kind = JCORE_NOW;
    e.status = JCORE_SUCCEEDED;
    e.started_at = e.finished_at = now(ctx->run);
    snprintf(text, sizeof text, "%" PRId64, e.started_at);
    e.value = text;
    if ((rc = record_new(ctx, &e)) != 0)
        return rc;
    *out = e.started_at;
    return TARRY_OK;
}

static int ctx_patched(tarry_ctx *ctx, const char *change_id)
{
    jcore_run *run = ctx->run;
    jcore_entry e;

    if (!change_id || !change_id[0]) {
        misuse(ctx, "tarry_patched: the change id is empty");
        return 1;
    }
    if (ctx->blocked || ctx->suspended || ctx->in_step)
        return 1;
    if (ctx->pos < run->journal_count) {
        const jcore_entry *r = &run->journal[ctx->pos];
        if (r->kind == JCORE_PATCH && same_name(r->name, change_id)) {
            ctx->pos++;
            return 1;
        }
        /* History from before the patch: take the old path, record nothing. */
        return 0;
    }
    if (run->replay_only) {
        run->went_past = true;
        ctx->suspended = true;
        return 1;
    }
    memset(&e, 0, sizeof e);
    e.kind = JCORE_PATCH;
    e.status = JCORE_SUCCEEDED;
    e.name = (char *)change_id;
    e.started_at = e.finished_at = now(run);
    record_new(ctx, &e); /* out of memory: still the new path; the marker is lost, not the run */
    return 1;
}

static int ctx_is_cancelled(tarry_ctx *ctx)
{
    const atomic_int *flag = ctx->run->cancelled;
    return flag && atomic_load_explicit(flag, memory_order_relaxed) ? 1 : 0;
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
    .fail_permanentv = ctx_fail_permanentv,
    .json_str = jcore_json_str,
    .json_int = jcore_json_int,
    .json_num = jcore_json_num,
    .json_bool = jcore_json_bool,
    .json_raw = jcore_json_raw,
    .json_has = jcore_json_has,
    .jsonv = jcore_jsonv,
    .last_error = ctx_last_error,
};

/* ---- the outcome ------------------------------------------------------------------------ */

static void end_with(jcore_run *run, jcore_end end, const char *error)
{
    run->end = end;
    free(run->error);
    run->error = dup_or_null(error);
}

/* What the pass amounts to, from what the function returned and what its commands did. */
static void classify(jcore_run *run, const tarry_ctx *ctx, int status)
{
    char msg[200];

    if (ctx->blocked) {
        end_with(run, JCORE_END_BLOCKED, ctx->why_blocked);
    } else if (ctx->yielded) {
        /* Whatever the function did after its step returned TARRY_SUSPEND is
         * moot: the next pass runs it again from the top. */
        end_with(run, JCORE_END_YIELDED, NULL);
    } else if (status == TARRY_OK && ctx->suspended) {
        end_with(run, JCORE_END_FAILED,
                 "function returned TARRY_OK after a durable call returned TARRY_SUSPEND; "
                 "return TARRY_SUSPEND at once (TARRY_TRY does)");
    } else if (status == TARRY_OK && ctx->bad_json) {
        end_with(run, JCORE_END_FAILED, ctx->last_failure);
    } else if (status == TARRY_OK) {
        end_with(run, JCORE_END_SUCCEEDED, NULL);
    } else if (status == TARRY_SUSPEND && ctx->suspended) {
        end_with(run, JCORE_END_SUSPENDED, NULL);
    } else if (status == TARRY_SUSPEND) {
        end_with(run, JCORE_END_FAILED, "function returned TARRY_SUSPEND, but no durable call suspended");
    } else if (status == TARRY_FAILED) {
        run->end = JCORE_END_FAILED;
        if (!run->error)
            run->error = strdup(ctx->last_failure[0]
                                    ? ctx->last_failure
                                    : "function returned TARRY_FAILED without calling tarry_set_error");
    } else if (status < 0 && ctx->last_failure[0]) {
        /* A misuse code passed straight on (TARRY_TRY): the reason is the misuse. */
        end_with(run, JCORE_END_FAILED, ctx->last_failure);
    } else {
        snprintf(
            msg, sizeof msg,
            "function returned an unexpected status %d (%s); return TARRY_OK, TARRY_FAILED or TARRY_SUSPEND",
            status, tarry_strerror(status));
        end_with(run, JCORE_END_FAILED, msg);
    }
    if (run->end != JCORE_END_SUCCEEDED) {
        free(run->result);
        run->result = NULL;
    }
    if (run->end != JCORE_END_SUSPENDED) {
        run->wake_at = 0;
        run->wake_seq = 0;
    }
}

void jcore_execute(jcore_run *run)
{
    tarry_ctx ctx;
    int status;

    memset(&ctx, 0, sizeof ctx);
    ctx.head.api = &host_api;
    ctx.run = run;
    run->went_past = false;
    run->wake_at = 0;
    run->wake_seq = 0;
    run->started_at = now(run);
    status = run->fn(&ctx, run->args);
    run->finished_at = now(run);
    free(ctx.step_result);
    free(ctx.step_error);
    classify(run, &ctx, status);
    while (ctx.kept) {
        kept_text *next = ctx.kept->next;
        free(ctx.kept);
        ctx.kept = next;
    }
}

void jcore_run_clear(jcore_run *run)
{
    for (size_t i = 0; i < run->fresh_count; i++)
        jcore_entry_free(&run->fresh[i]);
    free(run->fresh);
    for (size_t i = 0; i < run->log_count; i++)
        free(run->logs[i].text);
    free(run->logs);
    free(run->result);
    free(run->error);
    run->fresh = NULL;
    run->fresh_count = run->fresh_cap = run->durable = 0;
    run->logs = NULL;
    run->log_count = run->log_cap = 0;
    run->log_dropped = 0;
    run->result = run->error = NULL;
    run->permanent = false;
    run->end = JCORE_END_SUCCEEDED;
    run->went_past = false;
    run->started_at = run->finished_at = run->wake_at = 0;
    run->wake_seq = 0;
}
