/*
 * tarry_test.c - the plugin test kit (tarry_test.h): a host in miniature
 * that runs plugin functions in the test's own process.
 *
 * It implements tarry_host_api with the host's replay rules (host/replay.c
 * is the model, and its error messages are repeated word for word so a test
 * sees what a user would), and replaces the host's engine with a tiny
 * single-threaded scheduler over a virtual clock: a FIFO of executions that
 * can run, and timers (delayed children, sleeps) that move the clock when
 * nothing can. Storage is memory; "committing" a pass is appending its new
 * commands to the journal and creating the children they called.
 *
 * libc only (plus dlopen for tarry_test_load): a plugin author links it
 * without any of the host's libraries. Not thread-safe: one tarry_test per
 * thread.
 */
#include "tarry_test.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIT_NAME_MAX 128          /* as the host: function and plugin names */
#define KIT_LOG_LINE_MAX 4096     /* as the host: longer log lines are cut */
#define KIT_RESULT_MAX (1u << 20) /* as the host: a result over 1 MiB is refused */
#define KIT_JSON_DEPTH_MAX 1000   /* as cJSON's nesting limit */
#define KIT_MAX_PASSES_DEFAULT 100000u
#define KIT_DURATION_MAX_MS (36525LL * 24 * 3600 * 1000) /* 100 years, as the host */

/* ---- small helpers ----------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    size_t len;
    char *copy;

    if (!s)
        return NULL;
    len = strlen(s);
    if (!(copy = malloc(len + 1)))
        return NULL;
    memcpy(copy, s, len + 1);
    return copy;
}

/* printf into a new string (the caller frees it), or NULL when out of memory. */
static char *vformat(const char *fmt, va_list ap)
{
    va_list again;
    int len;
    char *out;

    va_copy(again, ap);
    len = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    if (len < 0 || !(out = malloc((size_t)len + 1)))
        return NULL;
    vsnprintf(out, (size_t)len + 1, fmt, ap);
    return out;
}

/* A growable text buffer; `oom` sticks once an append failed. */
typedef struct text_buf {
    char *text;
    size_t len, cap;
    int oom;
} text_buf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
buf_printf(text_buf *b, const char *fmt, ...)
{
    va_list ap;
    int len;

    if (b->oom)
        return;
    va_start(ap, fmt);
    len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) {
        b->oom = 1;
        return;
    }
    if (b->len + (size_t)len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *grown;
        while (cap < b->len + (size_t)len + 1)
            cap *= 2;
        if (!(grown = realloc(b->text, cap))) {
            b->oom = 1;
            return;
        }
        b->text = grown;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->text + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)len;
}

/*
 * Make room for one more item in the array whose pointer is at `items_ptr`
 * (any T **), holding `count` items of `size` bytes; 0, or -1 when out of
 * memory (the array is unchanged). memcpy keeps the pointer's type honest.
 */
static int grow(void *items_ptr, size_t count, size_t *cap, size_t size)
{
    void *items, *grown;
    size_t ncap;

    if (count < *cap)
        return 0;
    memcpy(&items, items_ptr, sizeof items);
    ncap = *cap ? *cap * 2 : 8;
    if (!(grown = realloc(items, ncap * size)))
        return -1;
    memcpy(items_ptr, &grown, sizeof grown);
    *cap = ncap;
    return 0;
}

static int name_valid(const char *name)
{
    size_t n;

    if (!name || !name[0] || (n = strlen(name)) > KIT_NAME_MAX)
        return 0;
    if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* ---- JSON: validation, lookup, normalising (RFC 8259) --------------------- */

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * The parsers below return the end of what they read, or NULL; on NULL,
 * *bad is where the text stopped being JSON (for messages, as cJSON says it).
 */
static const char *json_fail(const char **bad, const char *at)
{
    *bad = at;
    return NULL;
}

/* The end of the string starting at p (on its opening quote). */
static const char *json_string(const char *p, const char **bad)
{
    p++;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return json_fail(bad, p); /* also the terminating NUL */
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!is_hex(p[i]))
                        return json_fail(bad, p + i);
                p += 5;
                continue;
            }
            if (!*p || !strchr("\"\\/bfnrt", *p))
                return json_fail(bad, p);
        }
        p++;
    }
}

static const char *json_number(const char *p, const char **bad)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return json_fail(bad, p);
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return json_fail(bad, p);
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return json_fail(bad, p);
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

static const char *json_literal(const char *p, const char *word, const char **bad)
{
    size_t i = 0;

    while (word[i] && p[i] == word[i])
        i++;
    return word[i] ? json_fail(bad, p + i) : p + i;
}

/* The end of the value starting at p (no leading space). */
static const char *json_value(const char *p, int depth, const char **bad)
{
    if (depth > KIT_JSON_DEPTH_MAX)
        return json_fail(bad, p);
    switch (*p) {
    case '"':
        return json_string(p, bad);
    case '{':
        p = json_ws(p + 1);
        if (*p == '}')
            return p + 1;
        for (;;) {
            if (*p != '"')
                return json_fail(bad, p);
            if (!(p = json_string(p, bad)))
                return NULL;
            p = json_ws(p);
            if (*p != ':')
                return json_fail(bad, p);
            if (!(p = json_value(json_ws(p + 1), depth + 1, bad)))
                return NULL;
            p = json_ws(p);
            if (*p == '}')
                return p + 1;
            if (*p != ',')
                return json_fail(bad, p);
            p = json_ws(p + 1);
        }
    case '[':
        p = json_ws(p + 1);
        if (*p == ']')
            return p + 1;
        for (;;) {
            if (!(p = json_value(p, depth + 1, bad)))
                return NULL;
            p = json_ws(p);
            if (*p == ']')
                return p + 1;
            if (*p != ',')
                return json_fail(bad, p);
            p = json_ws(p + 1);
        }
    case 't':
        return json_literal(p, "true", bad);
    case 'f':
        return json_literal(p, "false", bad);
    case 'n':
        return json_literal(p, "null", bad);
    default:
        return json_number(p, bad);
    }
}

/* Whether `json` is one JSON text; if not, *bad is where it stops being one. */
static int json_check(const char *json, const char **bad)
{
    const char *end = json_value(json_ws(json), 0, bad);

    if (end && *json_ws(end) != '\0') {
        *bad = json_ws(end);
        return 0;
    }
    return end != NULL;
}

int tarry_test_json_valid(const char *json)
{
    const char *bad;

    return json && json_check(json, &bad);
}

/* Find `path` (see tarry_test_json) in a valid JSON text: the value's start, or NULL. */
static const char *json_find(const char *json, const char *path)
{
    const char *p = json_ws(json), *bad; /* the text is valid: `bad` is never set */

    while (*path) {
        const char *seg = path, *seg_end = strchr(path, '.');
        size_t seg_len;

        if (!seg_end)
            seg_end = seg + strlen(seg);
        seg_len = (size_t)(seg_end - seg);
        path = *seg_end ? seg_end + 1 : seg_end;
        if (*p == '{') {
            const char *found = NULL;
            p = json_ws(p + 1);
            while (*p == '"') {
                const char *key = p + 1, *key_end = json_string(p, &bad);
                int match = (size_t)(key_end - 1 - key) == seg_len && memcmp(key, seg, seg_len) == 0;
                p = json_ws(json_ws(key_end) + 1); /* past the ':' */
                if (match) {
                    found = p;
                    break;
                }
                p = json_ws(json_value(p, 0, &bad));
                if (*p == ',')
                    p = json_ws(p + 1);
            }
            if (!found)
                return NULL;
            p = found;
        } else if (*p == '[') {
            char *digits_end;
            unsigned long index;
            if (seg_len == 0 || seg[0] < '0' || seg[0] > '9')
                return NULL;
            index = strtoul(seg, &digits_end, 10);
            if (digits_end != seg_end)
                return NULL;
            p = json_ws(p + 1);
            for (unsigned long i = 0; i < index; i++) {
                if (*p == ']')
                    return NULL;
                p = json_ws(json_value(p, 0, &bad));
                if (*p != ',')
                    return NULL;
                p = json_ws(p + 1);
            }
            if (*p == ']')
                return NULL;
        } else {
            return NULL;
        }
    }
    return p;
}

/* A copy of the JSON value [start, end) without insignificant whitespace; the caller frees it. */
static char *json_compact(const char *start, const char *end)
{
    char *out = malloc((size_t)(end - start) + 1), *o = out;
    int in_string = 0;

    if (!out)
        return NULL;
    for (const char *p = start; p < end; p++) {
        if (in_string) {
            *o++ = *p;
            if (*p == '\\' && p + 1 < end)
                *o++ = *++p;
            else if (*p == '"')
                in_string = 0;
        } else if (*p == '"') {
            *o++ = *p;
            in_string = 1;
        } else if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* ---- durations (the host's grammar: host/duration.h) --------------------------- */

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int64_t unit_ms(const char *name, size_t len)
{
    static const struct {
        int64_t ms;
        const char *names[6];
    } units[] = {
        {1, {"ms", "msec", "millisecond", "milliseconds", NULL}},
        {1000, {"s", "sec", "secs", "second", "seconds", NULL}},
        {60000, {"m", "min", "mins", "minute", "minutes", NULL}},
        {3600000, {"h", "hr", "hrs", "hour", "hours", NULL}},
        {86400000, {"d", "day", "days", NULL}},
        {604800000, {"w", "wk", "week", "weeks", NULL}},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        for (const char *const *n = units[i].names; *n; n++) {
            size_t j = 0;
            while (j < len && (*n)[j] && ascii_lower((unsigned char)name[j]) == (*n)[j])
                j++;
            if (j == len && !(*n)[j])
                return units[i].ms;
        }
    }
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* "1 day", "90s", "1h 30m", "1.5h" -> ms. 0, or -1 with `err` set (quoting the text). */
static int duration_parse(const char *text, int64_t *out, char *err, size_t errlen)
{
    const char *at = text;
    int64_t total = 0;

    while (at && is_space(*at))
        at++;
    if (!at || !*at) {
        snprintf(err, errlen, "empty duration");
        return -1;
    }
    while (*at) {
        int64_t whole = 0, fraction_ms = 0, ms;
        const char *fraction = NULL, *fraction_end = NULL, *unit;

        if (*at == '-') {
            snprintf(err, errlen, "negative durations are not allowed: \"%s\"", text);
            return -1;
        }
        if (is_alpha(*at)) {
            const char *word = at;
            while (is_alpha(*at))
                at++;
            snprintf(err, errlen, "missing number before \"%.*s\" in \"%s\"", (int)(at - word), word, text);
            return -1;
        }
        if (!(*at >= '0' && *at <= '9')) {
            snprintf(err, errlen,
                     "unexpected \"%c\" in \"%s\" (want a number and a unit: \"90s\", \"1 day\")", *at, text);
            return -1;
        }
        for (; *at >= '0' && *at <= '9'; at++)
            if (whole <= KIT_DURATION_MAX_MS)
                whole = whole * 10 + (*at - '0');
        if (*at == '.') {
            fraction = ++at;
            while (*at >= '0' && *at <= '9')
                at++;
            fraction_end = at;
            if (fraction == fraction_end) {
                snprintf(err, errlen, "missing digits after \".\" in \"%s\"", text);
                return -1;
            }
        }
        while (is_space(*at))
            at++;
        unit = at;
        while (is_alpha(*at))
            at++;
        if (unit == at) {
            snprintf(err, errlen, "missing unit in \"%s\" (use ms, s, m, h, d or w)", text);
            return -1;
        }
        if (!(ms = unit_ms(unit, (size_t)(at - unit)))) {
            snprintf(err, errlen, "unknown unit \"%.*s\" in \"%s\" (use ms, s, m, h, d or w)",
                     (int)(at - unit), unit, text);
            return -1;
        }
        if (whole > KIT_DURATION_MAX_MS / ms) {
            snprintf(err, errlen, "duration too large (max 100 years): \"%s\"", text);
            return -1;
        }
        for (const char *digit = fraction_end; fraction && digit > fraction; digit--)
            fraction_ms = ((digit[-1] - '0') * ms + fraction_ms) / 10;
        total += whole * ms + fraction_ms;
        if (total > KIT_DURATION_MAX_MS) {
            snprintf(err, errlen, "duration too large (max 100 years): \"%s\"", text);
            return -1;
        }
        while (is_space(*at))
            at++;
        if (*at == ',') {
            at++;
            while (is_space(*at))
                at++;
            if (!*at) {
                snprintf(err, errlen, "trailing \",\" in \"%s\"", text);
                return -1;
            }
        }
    }
    *out = total;
    return 0;
}

/* ---- the kit's state ------------------------------------------------------------ */

/* A name the kit can run: a real function, a stub, or both (the stub wins). */
typedef struct kit_function {
    char *name;
    tarry_fn real; /* NULL: only a stub */
    uint32_t real_revision;
    int stub; /* 0: none; 1: a fixed outcome; 2: a C function */
    tarry_status stub_status;
    char *stub_text; /* the value (JSON) or error */
    tarry_fn stub_fn;
} kit_function;

typedef enum exec_state {
    EXEC_QUEUED,    /* can run now */
    EXEC_SCHEDULED, /* a delayed child: runs at `due` */
    EXEC_WAITING,   /* suspended: on a sleep until `due` when has_wake, else on children */
    EXEC_SUCCEEDED,
    EXEC_FAILED,
    EXEC_CANCELLED,
    EXEC_BLOCKED
} exec_state;

/* An entry the kit owns: the public view, whose strings are malloc'ed. */
typedef tarry_test_entry kit_entry;

typedef struct kit_exec {
    char id[27];
    char *function; /* what it was called as ("(function pointer)" for tarry_test_run_fn) */
    char *args;
    /* what runs: a C function, or a fixed stub outcome */
    tarry_fn fn;
    uint32_t revision;
    int fixed; /* 1: settles with fixed_status / fixed_text, no code runs */
    tarry_status fixed_status;
    const char *fixed_text; /* borrowed from the kit_function (stubs do not change during a run) */
    struct kit_exec *parent;
    uint32_t parent_seq;
    int detached;
    exec_state state;
    int64_t due; /* EXEC_SCHEDULED: start; EXEC_WAITING with has_wake: the sleep's end */
    int has_wake;
    uint32_t wake_seq;
    kit_entry *journal;
    size_t count, cap;
    int borrowed_journal; /* a replay's shadow execution: the journal is the root's */
    char *result, *error;
    unsigned passes;
    uint64_t queued_order; /* FIFO position among queued executions */
} kit_exec;

typedef struct step_count {
    char *name;
    unsigned runs;
} step_count;

struct tarry_test {
    kit_function *functions;
    size_t function_count, function_cap;
    void **libraries; /* dlopen handles, closed by tarry_test_free */
    size_t library_count, library_cap;

    kit_exec **execs; /* of the last run; execs[0] is the root */
    size_t exec_count, exec_cap;
    step_count *steps;
    size_t step_count, step_cap;
    tarry_test_log *logs;
    size_t log_count, log_cap;

    int64_t clock_start, now;
    unsigned max_passes, total_passes;
    uint64_t next_order;
    unsigned next_id;
    int oom; /* an allocation failed during the run: it ends with TARRY_TEST_ERROR */

    tarry_test_state state;
    char *result, *error; /* the last run's (or replay's) outcome, or the last kit error */
    unsigned failures;

    char **owned; /* strings handed out by tarry_test_json, freed with the kit */
    size_t owned_count, owned_cap;
    char *journal_text, *logs_text;
};

struct tarry_ctx {
    struct tarry_ctx_head head; /* must come first: the SDK reads it */
    tarry_test *t;
    kit_exec *x;
    size_t journal_count; /* entries committed before this pass: below it, replay */
    uint32_t pos;         /* seq of the next command */
    int suspended, blocked, in_step;
    int replay_only; /* tarry_test_replay: a command past the journal stops the pass */
    int went_past;
    char *step_result, *step_error;
    char last_failure[512];
};

static void set_error(tarry_test *t, char *msg)
{
    free(t->error);
    t->error = msg;
}

/* A misuse of the kit's own API: printed and kept as tarry_test_error(). Returns TARRY_EINVAL. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
kit_refuse(tarry_test *t, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = vformat(fmt, ap);
    va_end(ap);
    fprintf(stderr, "tarry_test: %s\n", msg ? msg : "out of memory");
    set_error(t, msg);
    return TARRY_EINVAL;
}

static const char *level_name(int level)
{
    switch (level) {
    case TARRY_LOG_DEBUG:
        return "debug";
    case TARRY_LOG_INFO:
        return "info";
    case TARRY_LOG_WARN:
        return "warn";
    default:
        return "error";
    }
}

const char *tarry_test_state_name(tarry_test_state state)
{
    switch (state) {
    case TARRY_TEST_SUCCEEDED:
        return "succeeded";
    case TARRY_TEST_FAILED:
        return "failed";
    case TARRY_TEST_BLOCKED:
        return "blocked";
    case TARRY_TEST_WAITING:
        return "waiting";
    default:
        return "error";
    }
}

static const char *kind_name(tarry_test_kind kind)
{
    switch (kind) {
    case TARRY_TEST_CALL:
        return "call";
    case TARRY_TEST_STEP:
        return "step";
    case TARRY_TEST_SLEEP:
        return "sleep";
    case TARRY_TEST_NOW:
        return "now";
    }
    return "unknown";
}

/* ---- the ctx: logs and results ------------------------------------------------------ */

static int ctx_logv(tarry_ctx *ctx, int level, const char *fmt, va_list ap)
{
    tarry_test *t = ctx->t;
    char line[KIT_LOG_LINE_MAX];
    /* A replay's pass runs on a shadow of the root: its lines belong to the root. */
    const kit_exec *owner = ctx->x->borrowed_journal ? t->execs[0] : ctx->x;
    tarry_test_log *log;

    if (!fmt || level < TARRY_LOG_DEBUG || level > TARRY_LOG_ERROR)
        return TARRY_EINVAL;
    if (grow(&t->logs, t->log_count, &t->log_cap, sizeof *t->logs) != 0)
        return TARRY_ENOMEM;
    vsnprintf(line, sizeof line, fmt, ap);
    log = &t->logs[t->log_count];
    log->execution_id = owner->id;
    log->function = owner->function;
    log->level = (tarry_log_level)level;
    log->time_ms = t->now;
    if (!(log->text = dup_or_null(line)))
        return TARRY_ENOMEM;
    t->log_count++;
    return TARRY_OK;
}

static int ctx_log(tarry_ctx *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = ctx_logv(ctx, level, fmt, ap);
    va_end(ap);
    return rc;
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
    ctx_log(ctx, TARRY_LOG_ERROR, "%s", ctx->last_failure);
}

static int json_ok(tarry_ctx *ctx, const char *what, const char *json)
{
    const char *bad = json;

    if (json_check(json, &bad))
        return 1;
    misuse(ctx, "%s: invalid JSON at byte %td: %.40s", what, bad - json, bad);
    return 0;
}

static int ctx_set_result(tarry_ctx *ctx, const char *json)
{
    char **slot = ctx->in_step ? &ctx->step_result : &ctx->x->result;
    char *copy;
    size_t len;

    if (!json)
        return TARRY_EINVAL;
    len = strlen(json);
    if (len > KIT_RESULT_MAX) {
        misuse(ctx, "tarry_set_result: result is %zu bytes, over the %u-byte limit", len, KIT_RESULT_MAX);
        return TARRY_EINVAL;
    }
    if (!json_ok(ctx, "tarry_set_result", json))
        return TARRY_EINVAL;
    if (!(copy = dup_or_null(json)))
        return TARRY_ENOMEM;
    free(*slot);
    *slot = copy;
    return TARRY_OK;
}

static int ctx_set_errorv(tarry_ctx *ctx, const char *fmt, va_list ap)
{
    char **slot = ctx->in_step ? &ctx->step_error : &ctx->x->error;
    char *msg = fmt ? vformat(fmt, ap) : NULL;

    if (!msg)
        msg = dup_or_null("failed (tarry_set_error called without a message)");
    free(*slot);
    *slot = msg;
    return TARRY_FAILED;
}

static const char *ctx_execution_id(tarry_ctx *ctx)
{
    return ctx->x->id;
}

static int ctx_attempt(tarry_ctx *ctx)
{
    (void)ctx;
    return 1; /* the host has no retries yet: every execution has one attempt */
}

/* ---- the ctx: durable commands ------------------------------------------------------- */

static void entry_free(kit_entry *e)
{
    free((char *)e->name);
    free((char *)e->value_json);
    free((char *)e->error);
    free((char *)e->args_json);
    free((char *)e->delay);
    free((char *)e->child_id);
}

/*
 * The common start of every command (host/replay.c's issue()): the recorded
 * entry at this position (the pass moves past it), or NULL for a new
 * command. Returns TARRY_OK, TARRY_SUSPEND (blocked or already suspended:
 * stop) or TARRY_EINVAL.
 */
static int issue(tarry_ctx *ctx, tarry_test_kind kind, const char *name, kit_entry **recorded)
{
    kit_exec *x = ctx->x;
    kit_entry *r;

    *recorded = NULL;
    if (ctx->blocked || ctx->suspended)
        return TARRY_SUSPEND;
    if (ctx->in_step) {
        misuse(ctx, "%s \"%s\" issued inside a step: durable commands cannot nest in a step's body",
               kind_name(kind), name ? name : "");
        return TARRY_EINVAL;
    }
    if (ctx->pos >= ctx->journal_count) {
        if (ctx->replay_only) {
            ctx->went_past = 1;
            ctx->suspended = 1;
            return TARRY_SUSPEND;
        }
        return TARRY_OK;
    }
    r = &x->journal[ctx->pos];
    if (r->kind != kind || !((!r->name && !name) || (r->name && name && strcmp(r->name, name) == 0))) {
        char msg[600];
        snprintf(msg, sizeof msg, "nondeterminism at step %u: journal has %s \"%s\", code issued %s \"%s\"",
                 ctx->pos, kind_name(r->kind), r->name ? r->name : "", kind_name(kind), name ? name : "");
        free(x->error);
        x->error = dup_or_null(msg);
        ctx->blocked = 1;
        return TARRY_SUSPEND;
    }
    ctx->pos++;
    *recorded = r;
    return TARRY_OK;
}

/* Append a new entry (its strings are copied) at the current position. */
static int record_new(tarry_ctx *ctx, const kit_entry *e, kit_entry **out)
{
    kit_exec *x = ctx->x;
    kit_entry *n;

    if (grow(&x->journal, x->count, &x->cap, sizeof *x->journal) != 0)
        return TARRY_ENOMEM;
    n = &x->journal[x->count];
    *n = *e;
    n->seq = ctx->pos;
    n->name = dup_or_null(e->name);
    n->value_json = dup_or_null(e->value_json);
    n->error = dup_or_null(e->error);
    n->args_json = dup_or_null(e->args_json);
    n->delay = dup_or_null(e->delay);
    n->child_id = dup_or_null(e->child_id);
    if ((e->name && !n->name) || (e->value_json && !n->value_json) || (e->error && !n->error) ||
        (e->args_json && !n->args_json) || (e->delay && !n->delay) || (e->child_id && !n->child_id)) {
        entry_free(n);
        return TARRY_ENOMEM;
    }
    x->count++;
    ctx->pos++;
    if (out)
        *out = n;
    return TARRY_OK;
}

static int suspend(tarry_ctx *ctx)
{
    ctx->suspended = 1;
    return TARRY_SUSPEND;
}

static const kit_function *function_find(const tarry_test *t, const char *name)
{
    for (size_t i = 0; i < t->function_count; i++)
        if (strcmp(t->functions[i].name, name) == 0)
            return &t->functions[i];
    return NULL;
}

static int function_runnable(const kit_function *f)
{
    return f && (f->real || f->stub);
}

static void handle_fill(tarry_handle *h, const kit_entry *e)
{
    memset(h->id, 0, sizeof h->id);
    snprintf(h->id, sizeof h->id, "%s", e->child_id);
    h->seq = e->seq;
}

static int ctx_call(tarry_ctx *ctx, const char *function, const char *args_json, const tarry_call_opts *opts,
                    tarry_handle *handle)
{
    tarry_test *t = ctx->t;
    kit_entry e, *r, *added;
    int64_t delay = 0;
    char err[200], child_id[27];
    int rc;

    if (!function) {
        misuse(ctx, "tarry_call: the function name is NULL");
        return TARRY_EINVAL;
    }
    if ((rc = issue(ctx, TARRY_TEST_CALL, function, &r)) != TARRY_OK || r) {
        if (r && handle)
            handle_fill(handle, r);
        return rc;
    }
    if (!function_runnable(function_find(t, function))) {
        misuse(ctx,
               "tarry_call: no loaded plugin exports a function named \"%s\" "
               "(in a test: add it with tarry_test_add_plugin/tarry_test_load, or tarry_test_stub it)",
               function);
        return TARRY_EINVAL;
    }
    if (args_json && !json_ok(ctx, "tarry_call args", args_json))
        return TARRY_EINVAL;
    if (opts && ctx->x->revision >= 2 && opts->delay &&
        duration_parse(opts->delay, &delay, err, sizeof err) != 0) {
        misuse(ctx, "tarry_call of \"%s\": opts->delay: %s", function, err);
        return TARRY_EINVAL;
    }
    snprintf(child_id, sizeof child_id, "test-exec-%016u", ++t->next_id);
    memset(&e, 0, sizeof e);
    e.kind = TARRY_TEST_CALL;
    e.name = function;
    e.status = TARRY_SUSPEND;
    e.args_json = args_json ? args_json : "null";
    e.delay = opts && ctx->x->revision >= 2 ? opts->delay : NULL;
    e.delay_ms = delay;
    e.detached = handle == NULL;
    e.child_id = child_id;
    e.issued_at = t->now;
    if ((rc = record_new(ctx, &e, &added)) != TARRY_OK)
        return rc;
    if (handle)
        handle_fill(handle, added);
    return TARRY_OK;
}

/* The call entry a handle names, or NULL (logged) if this execution did not make it. */
static kit_entry *handle_entry(tarry_ctx *ctx, const char *what, const tarry_handle *h)
{
    kit_exec *x = ctx->x;
    kit_entry *r = h && h->seq < x->count ? &x->journal[h->seq] : NULL;

    if (!h) {
        misuse(ctx, "%s: the handle is NULL", what);
        return NULL;
    }
    if (r && r->kind == TARRY_TEST_CALL && strncmp(r->child_id, h->id, 26) == 0)
        return r;
    misuse(ctx, "%s: handle %.26s (#%u) is not a child this execution created", what, h->id, h->seq);
    return NULL;
}

static int settled(const tarry_ctx *ctx, const kit_entry *r)
{
    /* A call made in this pass has no child yet: its entry is not committed. */
    return r->seq < ctx->journal_count && r->status != TARRY_SUSPEND;
}

static int fill_result(tarry_ctx *ctx, const kit_entry *r, tarry_result *out)
{
    int status = r->status;

    if (status != TARRY_OK) {
        if (r->kind == TARRY_TEST_STEP)
            snprintf(ctx->last_failure, sizeof ctx->last_failure, "step \"%s\" failed: %s", r->name,
                     r->error ? r->error : "?");
        else
            snprintf(ctx->last_failure, sizeof ctx->last_failure, "child %s (%s) %s: %s", r->name,
                     r->child_id, status == TARRY_CANCELLED ? "was cancelled" : "failed",
                     r->error ? r->error : "?");
    }
    if (out) {
        out->status = (tarry_status)status;
        out->value_json = status == TARRY_OK ? (r->value_json ? r->value_json : "null") : NULL;
        out->error = status == TARRY_OK ? NULL : (r->error ? r->error : "failed");
    }
    return status;
}

static int ctx_await_one(tarry_ctx *ctx, const tarry_handle *handle, tarry_result *result)
{
    kit_entry *r;

    if (ctx->blocked || ctx->suspended)
        return TARRY_SUSPEND;
    if (!(r = handle_entry(ctx, "tarry_await", handle)))
        return TARRY_EINVAL;
    if (!settled(ctx, r))
        return suspend(ctx);
    return fill_result(ctx, r, result);
}

static int ctx_await_all(tarry_ctx *ctx, const tarry_handle *handles, size_t count, tarry_result *results)
{
    int pending = 0;

    if (ctx->blocked || ctx->suspended)
        return TARRY_SUSPEND;
    if (count && !handles) {
        misuse(ctx, "tarry_await_all: handles is NULL");
        return TARRY_EINVAL;
    }
    for (size_t i = 0; i < count; i++) {
        kit_entry *r = handle_entry(ctx, "tarry_await_all", &handles[i]);
        if (!r)
            return TARRY_EINVAL;
        if (!settled(ctx, r))
            pending = 1;
        else
            fill_result(ctx, r, results ? &results[i] : NULL);
    }
    return pending ? suspend(ctx) : TARRY_OK;
}

static int step_ran(tarry_test *t, const char *name)
{
    for (size_t i = 0; i < t->step_count; i++) {
        if (strcmp(t->steps[i].name, name) == 0) {
            t->steps[i].runs++;
            return 0;
        }
    }
    if (grow(&t->steps, t->step_count, &t->step_cap, sizeof *t->steps) != 0 ||
        !(t->steps[t->step_count].name = dup_or_null(name)))
        return -1;
    t->steps[t->step_count++].runs = 1;
    return 0;
}

static int ctx_step(tarry_ctx *ctx, const char *name, tarry_step_fn fn, void *user, tarry_result *result)
{
    tarry_test *t = ctx->t;
    kit_entry e, *r, *added;
    char msg[200];
    int rc, status;

    if (!name || !fn) {
        misuse(ctx, "tarry_step: %s is NULL", !name ? "the name" : "the step function");
        return TARRY_EINVAL;
    }
    if ((rc = issue(ctx, TARRY_TEST_STEP, name, &r)) != TARRY_OK)
        return rc;
    if (r)
        return fill_result(ctx, r, result);

    memset(&e, 0, sizeof e);
    e.kind = TARRY_TEST_STEP;
    e.name = name;
    e.issued_at = t->now;
    if (step_ran(t, name) != 0)
        return TARRY_ENOMEM;
    ctx->in_step = 1;
    status = fn(ctx, user);
    ctx->in_step = 0;
    e.settled_at = t->now;
    if (status == TARRY_OK) {
        e.status = TARRY_OK;
        e.value_json = ctx->step_result ? ctx->step_result : "null";
    } else if (status == TARRY_FAILED) {
        e.status = TARRY_FAILED;
        e.error = ctx->step_error ? ctx->step_error : "step failed without calling tarry_set_error";
    } else {
        snprintf(msg, sizeof msg,
                 "step \"%.80s\" returned an unexpected status %d; return TARRY_OK or TARRY_FAILED", name,
                 status);
        e.status = TARRY_FAILED;
        e.error = msg;
    }
    rc = record_new(ctx, &e, &added);
    free(ctx->step_result);
    free(ctx->step_error);
    ctx->step_result = ctx->step_error = NULL;
    if (rc != TARRY_OK)
        return rc;
    /* The host's checkpoint happens here; in memory the entry is already "durable". */
    return fill_result(ctx, added, result);
}

static int ctx_sleep(tarry_ctx *ctx, const char *duration)
{
    kit_exec *x = ctx->x;
    kit_entry e, *r, *added;
    int64_t ms;
    char err[200];
    int rc;

    if (!duration) {
        misuse(ctx, "tarry_sleep: the duration is NULL");
        return TARRY_EINVAL;
    }
    if ((rc = issue(ctx, TARRY_TEST_SLEEP, duration, &r)) != TARRY_OK)
        return rc;
    if (r) {
        if (r->status == TARRY_OK)
            return TARRY_OK;
        x->has_wake = 1;
        x->due = r->issued_at + r->delay_ms;
        x->wake_seq = r->seq;
        return suspend(ctx);
    }
    if (duration_parse(duration, &ms, err, sizeof err) != 0) {
        misuse(ctx, "tarry_sleep: %s", err);
        return TARRY_EINVAL;
    }
    memset(&e, 0, sizeof e);
    e.kind = TARRY_TEST_SLEEP;
    e.name = duration;
    e.status = TARRY_SUSPEND;
    e.delay_ms = ms;
    e.issued_at = ctx->t->now;
    if ((rc = record_new(ctx, &e, &added)) != TARRY_OK)
        return rc;
    x->has_wake = 1;
    x->due = added->issued_at + ms;
    x->wake_seq = added->seq;
    return suspend(ctx);
}

static int ctx_now_ms(tarry_ctx *ctx, int64_t *out)
{
    kit_entry e, *r;
    char text[32];
    int rc;

    if (!out)
        return TARRY_EINVAL;
    if ((rc = issue(ctx, TARRY_TEST_NOW, NULL, &r)) != TARRY_OK)
        return rc;
    if (r) {
        *out = r->value_json ? strtoll(r->value_json, NULL, 10) : 0;
        return TARRY_OK;
    }
    memset(&e, 0, sizeof e);
    e.kind = TARRY_TEST_NOW;
    e.status = TARRY_OK;
    e.issued_at = e.settled_at = ctx->t->now;
    snprintf(text, sizeof text, "%" PRId64, ctx->t->now);
    e.value_json = text;
    if ((rc = record_new(ctx, &e, NULL)) != TARRY_OK)
        return rc;
    *out = ctx->t->now;
    return TARRY_OK;
}

static int ctx_is_cancelled(tarry_ctx *ctx)
{
    (void)ctx;
    return 0; /* as the host: nothing can cancel an execution yet */
}

/*
 * `size` covers exactly the entries implemented here: when tarry.h grows a
 * new entry, a plugin built against it sees TARRY_ENOTSUP from the kit
 * until the kit implements it, never a NULL call.
 */
static const tarry_host_api kit_api = {
    .size = offsetof(tarry_host_api, is_cancelled) + sizeof(((tarry_host_api *)0)->is_cancelled),
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
};

/* ---- executions and the scheduler ---------------------------------------------------------- */

static void exec_free(kit_exec *x)
{
    if (!x)
        return;
    if (!x->borrowed_journal) {
        for (size_t i = 0; i < x->count; i++)
            entry_free(&x->journal[i]);
        free(x->journal);
    }
    free(x->function);
    free(x->args);
    free(x->result);
    free(x->error);
    free(x);
}

static void queue(tarry_test *t, kit_exec *x)
{
    x->state = EXEC_QUEUED;
    x->has_wake = 0;
    x->due = 0;
    x->queued_order = t->next_order++;
}

/* A new execution of `f` (or of `fn` when f is NULL). NULL when out of memory. */
static kit_exec *exec_new(tarry_test *t, const char *id, const char *function, const kit_function *f,
                          tarry_fn fn, const char *args)
{
    kit_exec *x;

    if (grow(&t->execs, t->exec_count, &t->exec_cap, sizeof *t->execs) != 0 || !(x = calloc(1, sizeof *x)))
        return NULL;
    snprintf(x->id, sizeof x->id, "%s", id);
    x->function = dup_or_null(function);
    x->args = dup_or_null(args ? args : "null");
    if (!x->function || !x->args) {
        exec_free(x);
        return NULL;
    }
    x->fn = fn;
    x->revision = TARRY_HEADER_REVISION;
    if (f && f->stub == 1) {
        x->fixed = 1;
        x->fixed_status = f->stub_status;
        x->fixed_text = f->stub_text;
    } else if (f && f->stub == 2) {
        x->fn = f->stub_fn;
    } else if (f) {
        x->fn = f->real;
        x->revision = f->real_revision;
    }
    t->execs[t->exec_count++] = x;
    return x;
}

/* The children this pass called: new executions (host/engine.c's spawn_children). */
static void spawn_children(tarry_test *t, kit_exec *x, size_t from)
{
    for (size_t i = from; i < x->count; i++) {
        const kit_entry *e = &x->journal[i];
        kit_exec *child;

        if (e->kind != TARRY_TEST_CALL)
            continue;
        if (!(child = exec_new(t, e->child_id, e->name, function_find(t, e->name), NULL, e->args_json))) {
            t->oom = 1;
            return;
        }
        child->parent = x;
        child->parent_seq = e->seq;
        child->detached = e->detached;
        if (e->delay_ms > 0 && e->issued_at + e->delay_ms > t->now) {
            child->state = EXEC_SCHEDULED;
            child->due = e->issued_at + e->delay_ms;
        } else {
            queue(t, child);
        }
    }
}

/* A final execution's outcome goes into its parent's call entry; a waiting parent wakes. */
static void settle_parent(tarry_test *t, kit_exec *x)
{
    kit_entry *e;

    if (!x->parent)
        return;
    e = &x->parent->journal[x->parent_seq];
    e->settled_at = t->now;
    if (x->state == EXEC_SUCCEEDED) {
        e->status = TARRY_OK;
        e->value_json = dup_or_null(x->result ? x->result : "null");
    } else {
        e->status = x->state == EXEC_CANCELLED ? TARRY_CANCELLED : TARRY_FAILED;
        e->error = dup_or_null(x->error ? x->error : "failed");
    }
    if (!e->value_json && !e->error)
        t->oom = 1;
    if (!x->detached && x->parent->state == EXEC_WAITING)
        queue(t, x->parent);
}

static void fail_with(kit_exec *x, const char *msg)
{
    free(x->error);
    x->error = dup_or_null(msg);
    x->state = EXEC_FAILED;
}

/* One pass of x (host/replay.c's replay_execute, then the engine's commit). */
static void run_pass(tarry_test *t, kit_exec *x, int replay_only)
{
    tarry_ctx ctx;
    size_t committed = x->count;
    int status;

    x->passes++;
    t->total_passes++;
    free(x->result);
    free(x->error);
    x->result = x->error = NULL;
    x->has_wake = 0;
    x->due = 0;

    if (x->fixed) {
        if (x->fixed_status == TARRY_OK) {
            x->state = EXEC_SUCCEEDED;
            x->result = dup_or_null(x->fixed_text ? x->fixed_text : "null");
        } else {
            x->state = x->fixed_status == TARRY_CANCELLED ? EXEC_CANCELLED : EXEC_FAILED;
            x->error = dup_or_null(x->fixed_text ? x->fixed_text : "failed (stub)");
        }
        if (!x->result && !x->error)
            t->oom = 1;
        settle_parent(t, x);
        return;
    }

    memset(&ctx, 0, sizeof ctx);
    ctx.head.api = &kit_api;
    ctx.t = t;
    ctx.x = x;
    ctx.journal_count = committed;
    ctx.replay_only = replay_only;
    status = x->fn(&ctx, x->args);
    free(ctx.step_result);
    free(ctx.step_error);

    if (ctx.blocked) {
        x->state = EXEC_BLOCKED;
    } else if (status == TARRY_OK && ctx.suspended) {
        fail_with(x, "function returned TARRY_OK after a durable call returned TARRY_SUSPEND; "
                     "return TARRY_SUSPEND at once (TARRY_TRY does)");
    } else if (status == TARRY_OK) {
        x->state = EXEC_SUCCEEDED;
        free(x->error);
        x->error = NULL;
        if (!x->result && !(x->result = dup_or_null("null")))
            t->oom = 1;
    } else if (status == TARRY_SUSPEND && ctx.suspended) {
        x->state = EXEC_WAITING;
    } else if (status == TARRY_SUSPEND) {
        fail_with(x, "function returned TARRY_SUSPEND, but no durable call suspended");
    } else if (status == TARRY_FAILED) {
        x->state = EXEC_FAILED;
        if (!x->error)
            x->error = dup_or_null(ctx.last_failure[0]
                                       ? ctx.last_failure
                                       : "function returned TARRY_FAILED without calling tarry_set_error");
    } else if (status < 0 && ctx.last_failure[0]) {
        fail_with(x, ctx.last_failure);
    } else {
        char msg[200];
        snprintf(
            msg, sizeof msg,
            "function returned an unexpected status %d (%s); return TARRY_OK, TARRY_FAILED or TARRY_SUSPEND",
            status, tarry_strerror(status));
        fail_with(x, msg);
    }
    if (x->state != EXEC_SUCCEEDED) {
        free(x->result);
        x->result = NULL;
    }
    if (replay_only) {
        if (ctx.went_past) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "the code replays all %zu journal entries and then issues more commands "
                     "(compatible, with new steps)",
                     committed);
            free(x->error);
            x->error = dup_or_null(msg);
        }
        return;
    }
    /* The commit: whatever the outcome, the pass's new commands stand and its calls start children. */
    spawn_children(t, x, committed);
    if (x->state == EXEC_SUCCEEDED || x->state == EXEC_FAILED)
        settle_parent(t, x);
}

static kit_exec *next_queued(tarry_test *t)
{
    kit_exec *best = NULL;

    for (size_t i = 0; i < t->exec_count; i++) {
        kit_exec *x = t->execs[i];
        if (x->state == EXEC_QUEUED && (!best || x->queued_order < best->queued_order))
            best = x;
    }
    return best;
}

/* The execution whose timer is due first (a delayed start or a sleep's end), or NULL. */
static kit_exec *next_timer(tarry_test *t)
{
    kit_exec *best = NULL;

    for (size_t i = 0; i < t->exec_count; i++) {
        kit_exec *x = t->execs[i];
        if ((x->state == EXEC_SCHEDULED || (x->state == EXEC_WAITING && x->has_wake)) &&
            (!best || x->due < best->due))
            best = x;
    }
    return best;
}

/* Fire a timer: a delayed child starts; a sleep is over (its entry settles) and the sleeper resumes. */
static void fire(tarry_test *t, kit_exec *x)
{
    if (x->state == EXEC_WAITING) {
        kit_entry *e = &x->journal[x->wake_seq];
        e->status = TARRY_OK;
        e->settled_at = t->now;
    }
    queue(t, x);
}

/* Drive everything until nothing can run; the root's state is the answer. */
static void drive(tarry_test *t)
{
    for (;;) {
        kit_exec *x;

        if (t->oom || t->total_passes >= t->max_passes)
            return;
        if ((x = next_queued(t))) {
            run_pass(t, x, 0);
            continue;
        }
        if (!(x = next_timer(t)))
            return;
        if (x->due > t->now)
            t->now = x->due; /* nothing can run before it: skip the wait */
        fire(t, x);
    }
}

/* Why the root still waits, for tarry_test_error(). */
static char *waiting_reason(tarry_test *t, kit_exec *root)
{
    text_buf b = {0};
    int any = 0;

    if (t->total_passes >= t->max_passes)
        buf_printf(&b, "stopped after %u passes (tarry_test_set_max_passes); ", t->max_passes);
    buf_printf(&b, "%s is still waiting", root->function);
    for (size_t i = 0; i < root->count; i++) {
        const kit_entry *e = &root->journal[i];
        if (e->status != TARRY_SUSPEND)
            continue;
        if (e->kind == TARRY_TEST_SLEEP) {
            buf_printf(&b, "%s on sleep \"%s\" (#%u)", any++ ? ";" : ":", e->name, e->seq);
            continue;
        }
        if (e->kind != TARRY_TEST_CALL || e->detached)
            continue;
        for (size_t j = 0; j < t->exec_count; j++) {
            kit_exec *c = t->execs[j];
            if (c->parent == root && c->parent_seq == e->seq)
                buf_printf(&b, "%s on child %s (%s), which is %s%s%s", any++ ? ";" : ":", c->function, c->id,
                           c->state == EXEC_BLOCKED ? "blocked" : "not final", c->error ? ": " : "",
                           c->error ? c->error : "");
        }
    }
    if (b.oom) {
        free(b.text);
        return NULL;
    }
    return b.text;
}

static void run_reset(tarry_test *t)
{
    for (size_t i = 0; i < t->exec_count; i++)
        exec_free(t->execs[i]);
    t->exec_count = 0;
    for (size_t i = 0; i < t->step_count; i++)
        free(t->steps[i].name);
    t->step_count = 0;
    for (size_t i = 0; i < t->log_count; i++)
        free((char *)t->logs[i].text);
    t->log_count = 0;
    free(t->result);
    free(t->error);
    free(t->journal_text);
    free(t->logs_text);
    t->result = t->error = t->journal_text = t->logs_text = NULL;
    t->now = t->clock_start;
    t->total_passes = 0;
    t->next_order = 0;
    t->next_id = 0;
    t->oom = 0;
    t->state = TARRY_TEST_ERROR;
}

/* Report the root's state as the kit's outcome. */
static tarry_test_state conclude(tarry_test *t, kit_exec *root)
{
    if (t->oom) {
        set_error(t, dup_or_null("out of memory"));
        return t->state = TARRY_TEST_ERROR;
    }
    switch (root->state) {
    case EXEC_SUCCEEDED:
        t->state = TARRY_TEST_SUCCEEDED;
        t->result = dup_or_null(root->result ? root->result : "null");
        break;
    case EXEC_FAILED:
    case EXEC_CANCELLED:
        t->state = TARRY_TEST_FAILED;
        t->error = dup_or_null(root->error);
        break;
    case EXEC_BLOCKED:
        t->state = TARRY_TEST_BLOCKED;
        t->error = dup_or_null(root->error);
        break;
    default:
        t->state = TARRY_TEST_WAITING;
        t->error = root->error ? dup_or_null(root->error) : waiting_reason(t, root);
        break;
    }
    return t->state;
}

static tarry_test_state run_root(tarry_test *t, const char *what, const kit_function *f, tarry_fn fn,
                                 const char *args_json)
{
    kit_exec *root;
    char id[27];

    if (args_json && !tarry_test_json_valid(args_json)) {
        kit_refuse(t, "%s: args_json is not valid JSON: %.60s", what, args_json);
        return t->state = TARRY_TEST_ERROR;
    }
    snprintf(id, sizeof id, "test-exec-%016u", ++t->next_id);
    if (!(root = exec_new(t, id, f ? f->name : "(function pointer)", f, fn, args_json))) {
        set_error(t, dup_or_null("out of memory"));
        return t->state = TARRY_TEST_ERROR;
    }
    queue(t, root);
    drive(t);
    return conclude(t, root);
}

tarry_test_state tarry_test_run(tarry_test *t, const char *function, const char *args_json)
{
    const kit_function *f;

    run_reset(t);
    if (!function || !function_runnable(f = function_find(t, function))) {
        kit_refuse(
            t,
            "tarry_test_run: no function named \"%s\" (add it with tarry_test_add_plugin, tarry_test_load, "
            "tarry_test_add_function or tarry_test_stub)",
            function ? function : "(null)");
        return t->state = TARRY_TEST_ERROR;
    }
    return run_root(t, "tarry_test_run", f, NULL, args_json);
}

tarry_test_state tarry_test_run_fn(tarry_test *t, tarry_fn fn, const char *args_json)
{
    run_reset(t);
    if (!fn) {
        kit_refuse(t, "tarry_test_run_fn: fn is NULL");
        return t->state = TARRY_TEST_ERROR;
    }
    return run_root(t, "tarry_test_run_fn", NULL, fn, args_json);
}

static tarry_test_state replay(tarry_test *t, const char *what, tarry_fn fn, uint32_t revision)
{
    kit_exec *root = t->exec_count ? t->execs[0] : NULL;
    kit_exec shadow;
    tarry_test_state state;

    if (!root) {
        kit_refuse(t, "%s: no run to replay (call tarry_test_run first)", what);
        return t->state = TARRY_TEST_ERROR;
    }
    if (!fn) {
        kit_refuse(t, "%s: nothing to run", what);
        return t->state = TARRY_TEST_ERROR;
    }
    /* A shadow of the root with its journal: the pass reads it, never writes it. */
    memset(&shadow, 0, sizeof shadow);
    memcpy(shadow.id, root->id, sizeof shadow.id);
    shadow.function = root->function;
    shadow.args = root->args;
    shadow.fn = fn;
    shadow.revision = revision;
    shadow.journal = root->journal;
    shadow.count = root->count;
    shadow.borrowed_journal = 1;
    free(t->result);
    free(t->error);
    free(t->journal_text);
    t->result = t->error = t->journal_text = NULL;
    run_pass(t, &shadow, 1);
    state = conclude(t, &shadow);
    free(shadow.result);
    free(shadow.error);
    return state;
}

tarry_test_state tarry_test_replay(tarry_test *t, const char *function)
{
    const kit_function *f = function ? function_find(t, function) : NULL;
    tarry_fn fn = f ? (f->stub == 2 ? f->stub_fn : f->real) : NULL;

    if (!fn) {
        kit_refuse(t, "tarry_test_replay: no function named \"%s\" with code to replay",
                   function ? function : "(null)");
        return t->state = TARRY_TEST_ERROR;
    }
    return replay(t, "tarry_test_replay", fn, f->stub == 2 ? TARRY_HEADER_REVISION : f->real_revision);
}

tarry_test_state tarry_test_replay_fn(tarry_test *t, tarry_fn fn)
{
    return replay(t, "tarry_test_replay_fn", fn, TARRY_HEADER_REVISION);
}

/* ---- setting up ------------------------------------------------------------------------------ */

tarry_test *tarry_test_new(void)
{
    tarry_test *t = calloc(1, sizeof *t);

    if (!t)
        return NULL;
    t->clock_start = t->now = TARRY_TEST_EPOCH_MS;
    t->max_passes = KIT_MAX_PASSES_DEFAULT;
    t->state = TARRY_TEST_ERROR;
    return t;
}

void tarry_test_free(tarry_test *t)
{
    if (!t)
        return;
    run_reset(t);
    free(t->execs);
    free(t->steps);
    free(t->logs);
    for (size_t i = 0; i < t->function_count; i++) {
        free(t->functions[i].name);
        free(t->functions[i].stub_text);
    }
    free(t->functions);
    for (size_t i = 0; i < t->owned_count; i++)
        free(t->owned[i]);
    free(t->owned);
    for (size_t i = 0; i < t->library_count; i++)
        dlclose(t->libraries[i]);
    free(t->libraries);
    free(t);
}

/* The entry for `name`, created empty if missing; NULL when out of memory. */
static kit_function *function_slot(tarry_test *t, const char *name)
{
    kit_function *f = (kit_function *)function_find(t, name);

    if (f)
        return f;
    if (grow(&t->functions, t->function_count, &t->function_cap, sizeof *t->functions) != 0)
        return NULL;
    f = &t->functions[t->function_count];
    memset(f, 0, sizeof *f);
    if (!(f->name = dup_or_null(name)))
        return NULL;
    t->function_count++;
    return f;
}

static int add_real(tarry_test *t, const char *what, const char *name, tarry_fn fn, uint32_t revision)
{
    kit_function *f;

    if (!name_valid(name))
        return kit_refuse(
            t, "%s: invalid function name \"%s\" (want [A-Za-z_][A-Za-z0-9_.-]*, at most %d bytes)", what,
            name ? name : "(null)", KIT_NAME_MAX);
    if (!fn)
        return kit_refuse(t, "%s: function \"%s\" has no C function", what, name);
    if ((f = (kit_function *)function_find(t, name)) && f->real)
        return kit_refuse(t, "%s: a function named \"%s\" was already added", what, name);
    if (!(f = function_slot(t, name)))
        return TARRY_ENOMEM;
    f->real = fn;
    f->real_revision = revision;
    return TARRY_OK;
}

int tarry_test_add_function(tarry_test *t, const char *name, tarry_fn fn)
{
    return add_real(t, "tarry_test_add_function", name, fn, TARRY_HEADER_REVISION);
}

int tarry_test_add_plugin(tarry_test *t, const tarry_plugin_def *def)
{
    static const char what[] = "tarry_test_add_plugin";
    uint32_t revision;

    if (!def)
        return kit_refuse(t, "%s: the descriptor is NULL", what);
    if (def->magic != TARRY_PLUGIN_MAGIC)
        return kit_refuse(t, "%s: not a tarry descriptor (bad magic 0x%08x); build with TARRY_PLUGIN()", what,
                          def->magic);
    if (def->abi_version != TARRY_ABI_VERSION)
        return kit_refuse(t,
                          "%s: built for tarry ABI %u, this kit speaks ABI %d; rebuild against this tarry.h",
                          what, def->abi_version, TARRY_ABI_VERSION);
    if (def->pointer_size != sizeof(void *))
        return kit_refuse(t, "%s: built for %u-byte pointers, this kit uses %zu", what, def->pointer_size,
                          sizeof(void *));
    if (def->struct_size < sizeof(tarry_plugin_def) || def->function_size < sizeof(tarry_function_def))
        return kit_refuse(
            t, "%s: descriptor too small (plugin %u bytes, function %u bytes; need at least %zu and %zu)",
            what, def->struct_size, def->function_size, sizeof(tarry_plugin_def), sizeof(tarry_function_def));
    if (!name_valid(def->name))
        return kit_refuse(t,
                          "%s: invalid plugin name \"%s\" (want [A-Za-z_][A-Za-z0-9_.-]*, at most %d bytes)",
                          what, def->name ? def->name : "(null)", KIT_NAME_MAX);
    if (def->function_count == 0 || !def->functions)
        return kit_refuse(t, "%s: plugin \"%s\" declares no functions", what, def->name);
    revision = def->header_revision;
    /* Check every function before adding any, so a refused plugin adds nothing. */
    for (size_t i = 0; i < def->function_count; i++) {
        const tarry_function_def *f =
            (const tarry_function_def *)(const void *)((const char *)def->functions + i * def->function_size);
        const kit_function *known;
        if (!name_valid(f->name))
            return kit_refuse(t, "%s: plugin \"%s\": function #%zu has an invalid name \"%s\"", what,
                              def->name, i + 1, f->name ? f->name : "(null)");
        if (!f->fn)
            return kit_refuse(t, "%s: plugin \"%s\": function \"%s\" has no C function", what, def->name,
                              f->name);
        for (size_t j = 0; j < i; j++) {
            const tarry_function_def *g =
                (const tarry_function_def *)(const void *)((const char *)def->functions +
                                                           j * def->function_size);
            if (strcmp(g->name, f->name) == 0)
                return kit_refuse(t, "%s: duplicate function name \"%s\" in plugin \"%s\"", what, f->name,
                                  def->name);
        }
        if ((known = function_find(t, f->name)) && known->real)
            return kit_refuse(t, "%s: plugin \"%s\": a function named \"%s\" was already added", what,
                              def->name, f->name);
    }
    for (size_t i = 0; i < def->function_count; i++) {
        const tarry_function_def *f =
            (const tarry_function_def *)(const void *)((const char *)def->functions + i * def->function_size);
        int rc = add_real(t, what, f->name, f->fn, revision);
        if (rc != TARRY_OK)
            return rc;
    }
    return TARRY_OK;
}

int tarry_test_load(tarry_test *t, const char *path)
{
    const tarry_plugin_def *def;
    void *lib;
    int rc;

    if (!path)
        return kit_refuse(t, "tarry_test_load: the path is NULL");
    if (grow(&t->libraries, t->library_count, &t->library_cap, sizeof *t->libraries) != 0)
        return TARRY_ENOMEM;
    if (!(lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
        return kit_refuse(t, "tarry_test_load: cannot load %s: %s", path, dlerror());
    if (!(def = (const tarry_plugin_def *)dlsym(lib, "tarry_plugin"))) {
        rc = kit_refuse(t, "tarry_test_load: %s exports no `tarry_plugin` (build it with TARRY_PLUGIN())",
                        path);
        dlclose(lib);
        return rc;
    }
    if ((rc = tarry_test_add_plugin(t, def)) != TARRY_OK) {
        dlclose(lib);
        return rc;
    }
    t->libraries[t->library_count++] = lib;
    return TARRY_OK;
}

int tarry_test_stub(tarry_test *t, const char *function, tarry_status status, const char *value_or_error)
{
    kit_function *f;
    char *text = NULL;

    if (!name_valid(function))
        return kit_refuse(t, "tarry_test_stub: invalid function name \"%s\"", function ? function : "(null)");
    if (status != TARRY_OK && status != TARRY_FAILED && status != TARRY_CANCELLED)
        return kit_refuse(
            t, "tarry_test_stub(\"%s\"): status must be TARRY_OK, TARRY_FAILED or TARRY_CANCELLED", function);
    if (status == TARRY_OK && value_or_error && !tarry_test_json_valid(value_or_error))
        return kit_refuse(t, "tarry_test_stub(\"%s\"): the value is not valid JSON: %.60s", function,
                          value_or_error);
    if ((value_or_error && !(text = dup_or_null(value_or_error))) || !(f = function_slot(t, function))) {
        free(text);
        return TARRY_ENOMEM;
    }
    free(f->stub_text);
    f->stub = 1;
    f->stub_status = status;
    f->stub_text = text;
    f->stub_fn = NULL;
    return TARRY_OK;
}

int tarry_test_stub_fn(tarry_test *t, const char *function, tarry_fn fn)
{
    kit_function *f;

    if (!name_valid(function))
        return kit_refuse(t, "tarry_test_stub_fn: invalid function name \"%s\"",
                          function ? function : "(null)");
    if (!fn)
        return kit_refuse(t, "tarry_test_stub_fn(\"%s\"): fn is NULL", function);
    if (!(f = function_slot(t, function)))
        return TARRY_ENOMEM;
    free(f->stub_text);
    f->stub_text = NULL;
    f->stub = 2;
    f->stub_fn = fn;
    return TARRY_OK;
}

int tarry_test_unstub(tarry_test *t, const char *function)
{
    kit_function *f = function ? (kit_function *)function_find(t, function) : NULL;

    if (!f || !f->stub)
        return kit_refuse(t, "tarry_test_unstub: \"%s\" is not stubbed", function ? function : "(null)");
    free(f->stub_text);
    f->stub_text = NULL;
    f->stub = 0;
    f->stub_fn = NULL;
    return TARRY_OK;
}

void tarry_test_set_clock(tarry_test *t, int64_t unix_ms)
{
    t->clock_start = t->now = unix_ms;
}

void tarry_test_set_max_passes(tarry_test *t, unsigned max_passes)
{
    t->max_passes = max_passes ? max_passes : 1;
}

/* ---- reading the outcome ------------------------------------------------------------------------ */

tarry_test_state tarry_test_state_of(const tarry_test *t)
{
    return t->state;
}

const char *tarry_test_result(const tarry_test *t)
{
    return t->state == TARRY_TEST_SUCCEEDED ? t->result : NULL;
}

const char *tarry_test_error(const tarry_test *t)
{
    return t->error;
}

int64_t tarry_test_now(const tarry_test *t)
{
    return t->now;
}

unsigned tarry_test_passes(const tarry_test *t, const char *function)
{
    unsigned passes = 0;

    if (!function)
        return t->exec_count ? t->execs[0]->passes : 0;
    for (size_t i = 0; i < t->exec_count; i++)
        if (strcmp(t->execs[i]->function, function) == 0)
            passes += t->execs[i]->passes;
    return passes;
}

unsigned tarry_test_executions(const tarry_test *t, const char *function)
{
    unsigned count = 0;

    for (size_t i = 0; function && i < t->exec_count; i++)
        if (strcmp(t->execs[i]->function, function) == 0)
            count++;
    return count;
}

unsigned tarry_test_step_runs(const tarry_test *t, const char *name)
{
    for (size_t i = 0; name && i < t->step_count; i++)
        if (strcmp(t->steps[i].name, name) == 0)
            return t->steps[i].runs;
    return 0;
}

size_t tarry_test_journal_count(const tarry_test *t)
{
    return t->exec_count ? t->execs[0]->count : 0;
}

const tarry_test_entry *tarry_test_journal_at(const tarry_test *t, size_t i)
{
    return i < tarry_test_journal_count(t) ? &t->execs[0]->journal[i] : NULL;
}

static const char *status_word(tarry_status status)
{
    switch (status) {
    case TARRY_OK:
        return "ok";
    case TARRY_FAILED:
        return "failed";
    case TARRY_CANCELLED:
        return "cancelled";
    case TARRY_SUSPEND:
        return "pending";
    default:
        return "?";
    }
}

static void entry_describe(text_buf *b, const tarry_test_entry *e)
{
    buf_printf(b, "%s", kind_name(e->kind));
    if (e->name)
        buf_printf(b, " %s", e->name);
    if (e->kind == TARRY_TEST_CALL && e->delay)
        buf_printf(b, " after %s", e->delay);
    if (e->kind == TARRY_TEST_CALL && e->detached)
        buf_printf(b, " (detached)");
    buf_printf(b, " -> %s", status_word(e->status));
    if (e->status == TARRY_OK && e->value_json)
        buf_printf(b, " %s", e->value_json);
    else if (e->error)
        buf_printf(b, ": %s", e->error);
}

const char *tarry_test_journal_text(tarry_test *t)
{
    text_buf b = {0};

    buf_printf(&b, "%s", "");
    for (size_t i = 0; i < tarry_test_journal_count(t); i++) {
        const tarry_test_entry *e = tarry_test_journal_at(t, i);
        buf_printf(&b, "#%u ", e->seq);
        entry_describe(&b, e);
        buf_printf(&b, "\n");
    }
    free(t->journal_text);
    t->journal_text = b.oom ? NULL : b.text;
    if (b.oom)
        free(b.text);
    return t->journal_text ? t->journal_text : "(out of memory)\n";
}

size_t tarry_test_log_count(const tarry_test *t)
{
    return t->log_count;
}

const tarry_test_log *tarry_test_log_at(const tarry_test *t, size_t i)
{
    return i < t->log_count ? &t->logs[i] : NULL;
}

const char *tarry_test_logs(tarry_test *t)
{
    text_buf b = {0};

    buf_printf(&b, "%s", "");
    for (size_t i = 0; i < t->log_count; i++)
        buf_printf(&b, "%s: %s %s\n", t->logs[i].function, level_name(t->logs[i].level), t->logs[i].text);
    free(t->logs_text);
    t->logs_text = b.oom ? NULL : b.text;
    if (b.oom)
        free(b.text);
    return t->logs_text ? t->logs_text : "(out of memory)\n";
}

/* ---- assertions ------------------------------------------------------------------------------------ */

/* Print a failed expectation with the journal; count it; return 0. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
expectation_failed(tarry_test *t, const char *fmt, ...)
{
    va_list ap;

    t->failures++;
    fputs("tarry_test: FAILED: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  the journal of %s (%s):\n", t->exec_count ? t->execs[0]->function : "(no run)",
            tarry_test_state_name(t->state));
    for (size_t i = 0; i < tarry_test_journal_count(t); i++) {
        text_buf b = {0};
        entry_describe(&b, tarry_test_journal_at(t, i));
        fprintf(stderr, "    #%zu %s\n", i, b.text ? b.text : "?");
        free(b.text);
    }
    if (!tarry_test_journal_count(t))
        fputs("    (empty)\n", stderr);
    if (t->error)
        fprintf(stderr, "  error: %s\n", t->error);
    return 0;
}

int tarry_test_assert_state(tarry_test *t, tarry_test_state state)
{
    if (t->state == state)
        return 1;
    expectation_failed(t, "expected the run to end %s, it ended %s%s%s", tarry_test_state_name(state),
                       tarry_test_state_name(t->state), t->result ? " with result " : "",
                       t->result ? t->result : "");
    fprintf(stderr, "  logs:\n%s", tarry_test_logs(t));
    return 0;
}

static unsigned count_entries(const tarry_test *t, tarry_test_kind kind, const char *name)
{
    unsigned n = 0;

    for (size_t i = 0; i < tarry_test_journal_count(t); i++) {
        const tarry_test_entry *e = tarry_test_journal_at(t, i);
        if (e->kind == kind && e->name && name && strcmp(e->name, name) == 0)
            n++;
    }
    return n;
}

int tarry_test_assert_calls(tarry_test *t, const char *function, unsigned count)
{
    unsigned n = count_entries(t, TARRY_TEST_CALL, function);

    if (n == count)
        return 1;
    return expectation_failed(t, "expected %u call%s of %s, the journal has %u", count, count == 1 ? "" : "s",
                              function ? function : "(null)", n);
}

int tarry_test_assert_steps(tarry_test *t, const char *name, unsigned count)
{
    unsigned n = count_entries(t, TARRY_TEST_STEP, name), runs = tarry_test_step_runs(t, name);

    if (n == count && runs == count)
        return 1;
    return expectation_failed(
        t, "expected %u step%s named \"%s\" that ran %u time%s; the journal has %u, the body ran %u", count,
        count == 1 ? "" : "s", name ? name : "(null)", count, count == 1 ? "" : "s", n, runs);
}

/* A parsed journal pattern (see tarry_test.h). */
typedef struct pattern {
    tarry_test_kind kind;
    char name[512];
    int has_ms;
    int64_t ms;
    int has_status;
    tarry_status status;
} pattern;

static void trim(char *s)
{
    size_t len = strlen(s), start = 0;

    while (len && is_space(s[len - 1]))
        s[--len] = '\0';
    while (is_space(s[start]))
        start++;
    memmove(s, s + start, len - start + 1);
}

/* Parse `text` into *p; 0, or -1 with `err` set. */
static int pattern_parse(const char *text, pattern *p, char *err, size_t errlen)
{
    char buf[512], *arrow, *rest, *after;
    char derr[200];

    memset(p, 0, sizeof *p);
    if (!text || strlen(text) >= sizeof buf) {
        snprintf(err, errlen, "a journal pattern is NULL or too long");
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", text);
    if ((arrow = strstr(buf, "->"))) {
        char *word = arrow + 2;
        *arrow = '\0';
        trim(word);
        p->has_status = 1;
        if (strcmp(word, "ok") == 0)
            p->status = TARRY_OK;
        else if (strcmp(word, "failed") == 0)
            p->status = TARRY_FAILED;
        else if (strcmp(word, "cancelled") == 0)
            p->status = TARRY_CANCELLED;
        else if (strcmp(word, "pending") == 0)
            p->status = TARRY_SUSPEND;
        else {
            snprintf(err, errlen, "pattern \"%s\": unknown outcome \"%s\" (ok, failed, cancelled or pending)",
                     text, word);
            return -1;
        }
    }
    trim(buf);
    rest = buf;
    while (*rest && !is_space(*rest))
        rest++;
    if (*rest)
        *rest++ = '\0';
    trim(rest);
    if (strcmp(buf, "call") == 0) {
        p->kind = TARRY_TEST_CALL;
        after = rest;
        while (*after && !is_space(*after))
            after++;
        if (*after) {
            *after++ = '\0';
            trim(after);
            if (strncmp(after, "after", 5) != 0 || !is_space(after[5])) {
                snprintf(err, errlen, "pattern \"%s\": want \"call FUNCTION [after DURATION]\"", text);
                return -1;
            }
            if (duration_parse(after + 6, &p->ms, derr, sizeof derr) != 0) {
                snprintf(err, errlen, "pattern \"%s\": %s", text, derr);
                return -1;
            }
            p->has_ms = 1;
        }
        if (!*rest) {
            snprintf(err, errlen, "pattern \"%s\": which function?", text);
            return -1;
        }
        snprintf(p->name, sizeof p->name, "%s", rest);
    } else if (strcmp(buf, "step") == 0) {
        p->kind = TARRY_TEST_STEP;
        if (!*rest) {
            snprintf(err, errlen, "pattern \"%s\": which step?", text);
            return -1;
        }
        snprintf(p->name, sizeof p->name, "%s", rest);
    } else if (strcmp(buf, "sleep") == 0) {
        p->kind = TARRY_TEST_SLEEP;
        if (duration_parse(rest, &p->ms, derr, sizeof derr) != 0) {
            snprintf(err, errlen, "pattern \"%s\": %s", text, derr);
            return -1;
        }
        p->has_ms = 1;
    } else if (strcmp(buf, "now") == 0 && !*rest) {
        p->kind = TARRY_TEST_NOW;
    } else {
        snprintf(err, errlen,
                 "pattern \"%s\": want \"call F\", \"call F after D\", \"step NAME\", \"sleep D\" or \"now\"",
                 text);
        return -1;
    }
    return 0;
}

static int pattern_match(const pattern *p, const tarry_test_entry *e)
{
    if (p->kind != e->kind)
        return 0;
    if ((p->kind == TARRY_TEST_CALL || p->kind == TARRY_TEST_STEP) && strcmp(p->name, e->name) != 0)
        return 0;
    if (p->has_ms && p->ms != e->delay_ms)
        return 0;
    return !p->has_status || p->status == e->status;
}

/* Collect the NULL-terminated patterns; returns how many, or -1 after reporting a bad one. */
static int patterns_collect(tarry_test *t, const char *what, const char *first, va_list ap, pattern **out)
{
    pattern *list = NULL;
    size_t count = 0, cap = 0;
    char err[600];

    for (const char *text = first; text; text = va_arg(ap, const char *)) {
        if (grow(&list, count, &cap, sizeof *list) != 0) {
            free(list);
            return expectation_failed(t, "%s: out of memory", what) - 1;
        }
        if (pattern_parse(text, &list[count], err, sizeof err) != 0) {
            free(list);
            return expectation_failed(t, "%s: %s", what, err) - 1;
        }
        count++;
    }
    *out = list;
    return (int)count;
}

int tarry_test_assert_journal(tarry_test *t, const char *first, ...)
{
    pattern *list = NULL;
    va_list ap;
    int count;
    size_t have = tarry_test_journal_count(t);

    va_start(ap, first);
    count = patterns_collect(t, "tarry_test_assert_journal", first, ap, &list);
    va_end(ap);
    if (count < 0)
        return 0;
    for (size_t i = 0; i < (size_t)count && i < have; i++) {
        if (!pattern_match(&list[i], tarry_test_journal_at(t, i))) {
            const char *text;
            va_start(ap, first);
            text = first;
            for (size_t j = 0; j < i; j++)
                text = va_arg(ap, const char *);
            va_end(ap);
            free(list);
            return expectation_failed(t, "tarry_test_assert_journal: entry #%zu does not match \"%s\"", i,
                                      text);
        }
    }
    free(list);
    if ((size_t)count != have)
        return expectation_failed(t, "tarry_test_assert_journal: expected %d entries, the journal has %zu",
                                  count, have);
    return 1;
}

int tarry_test_assert_order(tarry_test *t, const char *first, ...)
{
    pattern *list = NULL;
    va_list ap;
    int count;
    size_t at = 0, have = tarry_test_journal_count(t);

    va_start(ap, first);
    count = patterns_collect(t, "tarry_test_assert_order", first, ap, &list);
    va_end(ap);
    if (count < 0)
        return 0;
    for (int i = 0; i < count; i++) {
        while (at < have && !pattern_match(&list[i], tarry_test_journal_at(t, at)))
            at++;
        if (at == have) {
            const char *text;
            va_start(ap, first);
            text = first;
            for (int j = 0; j < i; j++)
                text = va_arg(ap, const char *);
            va_end(ap);
            free(list);
            return expectation_failed(t, "tarry_test_assert_order: no entry matches \"%s\"%s", text,
                                      i ? " after the ones before it" : "");
        }
        at++;
    }
    free(list);
    return 1;
}

int tarry_test_assert_log(tarry_test *t, const char *text)
{
    for (size_t i = 0; text && i < t->log_count; i++)
        if (strstr(t->logs[i].text, text))
            return 1;
    expectation_failed(t, "expected a log line containing \"%s\"", text ? text : "(null)");
    fprintf(stderr, "  logs:\n%s", tarry_test_logs(t));
    return 0;
}

int tarry_test_assert_json(tarry_test *t, const char *json, const char *path, const char *expected_json)
{
    const char *got = json && path ? tarry_test_json(t, json, path) : NULL;
    char *want;
    int same;

    if (!expected_json || !tarry_test_json_valid(expected_json))
        return expectation_failed(t, "tarry_test_assert_json: the expected value is not valid JSON: %s",
                                  expected_json ? expected_json : "(null)");
    if (!got)
        return expectation_failed(t, "tarry_test_assert_json: no value at \"%s\" in %s",
                                  path ? path : "(null)", json ? json : "(null)");
    if (!(want = json_compact(expected_json, expected_json + strlen(expected_json))))
        return expectation_failed(t, "tarry_test_assert_json: out of memory");
    same = strcmp(got, want) == 0;
    if (!same)
        expectation_failed(t, "tarry_test_assert_json: at \"%s\" expected %s, found %s (in %s)", path, want,
                           got, json);
    free(want);
    return same;
}

unsigned tarry_test_failures(const tarry_test *t)
{
    return t->failures;
}

const char *tarry_test_json(tarry_test *t, const char *json, const char *path)
{
    const char *start, *end, *bad;
    char *copy;

    if (!json || !path || !tarry_test_json_valid(json) || !(start = json_find(json, path)))
        return NULL;
    end = json_value(start, 0, &bad);
    if (grow(&t->owned, t->owned_count, &t->owned_cap, sizeof *t->owned) != 0 ||
        !(copy = json_compact(start, end)))
        return NULL;
    t->owned[t->owned_count++] = copy;
    return copy;
}
