/*
 * onboarding.c - the "onboarding" plugin (1.0.0): DESIGN.md's reference
 * workflow, working. An application onboards a user: at once and in
 * parallel, send a welcome email and import the user's contacts from the
 * CRM; when both have settled, mark the user onboarded; one day later, send
 * a tutorial email unless the user has done something meanwhile.
 *
 * Every function takes the same JSON user:
 *
 *   {"user_id": 42, "email": "ann@example.com",
 *    "effects": "/tmp/onboarding.log",   optional
 *    "email_ms": 0, "contacts_ms": 0}    optional, 0..600000
 *
 * Nothing is really sent or imported: each simulated side effect appends one
 * line to the file named by args.effects, with one write(2) on an O_APPEND
 * descriptor (so lines from concurrent workers never interleave and a line
 * is either wholly there or not), and logs it with the execution. Without
 * args.effects the effect is only logged. The lines, which tests count:
 *
 *   welcome_email user=42 execution=<id>
 *   contacts_imported user=42 count=<n> execution=<id>
 *   mark_onboarded user=42 execution=<id>
 *   tutorials_email user=42 execution=<id>
 *
 * The functions:
 *
 *   user_onboarding      the workflow. Result {"onboarded": true, "user_id": 42,
 *                        "welcome_email": OUTCOME, "contacts": OUTCOME,
 *                        "tutorials_email": "in 1 day"}, where OUTCOME is
 *                        {"status": "succeeded", "result": ...} or
 *                        {"status": "failed"|"cancelled", "error": "..."}:
 *                        a failed child does not stop the onboarding
 *                        (allSettled), it is reported.
 *   send_welcome_email   sleeps args.email_ms (a slow mail API), records
 *                        welcome_email, returns {"sent": true, "to": EMAIL}.
 *   import_contacts_from_hubspot
 *                        sleeps args.contacts_ms (a slow CRM), records
 *                        contacts_imported with a count derived from the
 *                        user id (user_id % 20 + 1), returns {"imported": n}.
 *   send_tutorials_email_if_no_actions
 *                        the user "did something" when the effects file has
 *                        the line `user_action user=<id>` (append it by hand
 *                        to see the skip). Then returns {"sent": false,
 *                        "reason": ...}; otherwise records tutorials_email and
 *                        returns {"sent": true, "to": EMAIL}.
 *
 * Bad args (not an object, user_id not a non-negative integer, email not a
 * non-empty string, effects not a string, a delay out of range) fail the
 * execution with an error naming the function and the field; the workflow
 * checks them before it starts any child.
 *
 * It links no JSON library: it reads its args and builds every result with
 * the SDK's JSON helpers (tarry_json_int/str/has, tarry_json), which parse
 * and escape in the host.
 */
#include <tarry.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DELAY_MS_MAX 600000
#define EFFECT_LINE_MAX 512

/* The parsed args. The strings are the SDK's: valid until the function returns. */
typedef struct user {
    long long id;
    const char *email;
    const char *effects; /* NULL: effects are only logged */
    long long email_ms, contacts_ms;
} user;

/* Read args[name] as an optional integer from 0 to DELAY_MS_MAX (0 when absent or null). */
static int delay_field(tarry_ctx *ctx, const char *fn, const char *args, const char *name, long long *out)
{
    int64_t ms = 0;
    int has = tarry_json_has(ctx, args, name);

    *out = 0;
    if (has == 0)
        return 0;
    if (has < 0 || tarry_json_int(ctx, args, name, &ms) != TARRY_OK || ms < 0 || ms > DELAY_MS_MAX) {
        tarry_set_error(ctx, "%s: args.%s must be an integer from 0 to %d (milliseconds)", fn, name,
                        DELAY_MS_MAX);
        return -1;
    }
    *out = (long long)ms;
    return 0;
}

/*
 * Read args_json into *u. Returns 0, or -1 after setting the function's
 * error, which names `fn` and the field.
 */
static int user_parse(tarry_ctx *ctx, const char *fn, const char *args, user *u)
{
    int64_t id;
    int has_effects;

    memset(u, 0, sizeof *u);
    if (tarry_json_int(ctx, args, "user_id", &id) != TARRY_OK || id < 0) {
        tarry_set_error(ctx, "%s: args.user_id must be a non-negative integer", fn);
        return -1;
    }
    u->id = (long long)id;
    if (!(u->email = tarry_json_str(ctx, args, "email")) || !u->email[0]) {
        tarry_set_error(ctx, "%s: args.email must be a non-empty string", fn);
        return -1;
    }
    has_effects = tarry_json_has(ctx, args, "effects");
    if (has_effects && (!(u->effects = tarry_json_str(ctx, args, "effects")) || !u->effects[0])) {
        tarry_set_error(ctx, "%s: args.effects must be a file name (a non-empty string) when given", fn);
        return -1;
    }
    if (delay_field(ctx, fn, args, "email_ms", &u->email_ms) != 0 ||
        delay_field(ctx, fn, args, "contacts_ms", &u->contacts_ms) != 0)
        return -1;
    return 0;
}
/*
 * Record one simulated side effect: log it and, when the user names an
 * effects file, append it there as one line with one write(2). Returns
 * TARRY_OK, or TARRY_FAILED with the error set (naming `fn` and the file).
 */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static tarry_status
effect_record(tarry_ctx *ctx, const char *fn, const user *u, const char *fmt, ...)
{
    char line[EFFECT_LINE_MAX];
    va_list ap;
    int len, fd, err;
    ssize_t wrote;

    va_start(ap, fmt);
    len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof(line) - 1)
        return tarry_set_error(ctx, "%s: effect line too long", fn);
    if (!u->effects) {
        tarry_log(ctx, TARRY_LOG_INFO, "effect: %s", line);
        return TARRY_OK;
    }
    line[len++] = '\n';
    fd = open(u->effects, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = errno;
        return tarry_set_error(ctx, "%s: open effects file %s: %s", fn, u->effects, strerror(err));
    }
    wrote = write(fd, line, (size_t)len);
    err = errno;
    close(fd);
    if (wrote != len)
        return tarry_set_error(ctx, "%s: write effects file %s: %s", fn, u->effects,
                               wrote < 0 ? strerror(err) : "short write");
    line[len - 1] = '\0';
    tarry_log(ctx, TARRY_LOG_INFO, "effect: %s (recorded in %s)", line, u->effects);
    return TARRY_OK;
}

/* Sleep on the worker thread, resuming after signals: the stand-in for a slow remote API. */
static void pause_ms(long long ms)
{
    struct timespec left = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

/*
 * Hand `result` (built with tarry_json, or NULL if that failed) to the host
 * as the current result: the function's, or the step's inside its body.
 */
static tarry_status finish_with(tarry_ctx *ctx, const char *fn, const char *result)
{
    int rc = tarry_set_result(ctx, result);

    if (rc != TARRY_OK)
        return tarry_set_error(ctx, "%s: could not set the result: %s", fn, tarry_last_error(ctx));
    return TARRY_OK;
}

/* A child's outcome as JSON: {"status": "succeeded", "result": ...} or {"status": ..., "error": ...}. */
static const char *outcome_json(tarry_ctx *ctx, const tarry_result *r)
{
    if (r->status == TARRY_OK)
        return tarry_json(ctx, "{\"status\":\"succeeded\",\"result\":%j}", r->value_json);
    return tarry_json(ctx, "{\"status\":%s,\"error\":%s}",
                      r->status == TARRY_CANCELLED ? "cancelled" : "failed",
                      r->error ? r->error : "(no error message)");
}

static tarry_status send_welcome_email(tarry_ctx *ctx, const char *args_json)
{
    static const char fn[] = "send_welcome_email";
    user u;

    if (user_parse(ctx, fn, args_json, &u) != 0)
        return TARRY_FAILED;
    tarry_log(ctx, TARRY_LOG_INFO, "sending welcome email to %s (user %lld, attempt %d)", u.email, u.id,
              tarry_attempt(ctx));
    pause_ms(u.email_ms);
    TARRY_TRY(
        effect_record(ctx, fn, &u, "welcome_email user=%lld execution=%s", u.id, tarry_execution_id(ctx)));
    return finish_with(ctx, fn, tarry_json(ctx, "{\"sent\":true,\"to\":%s}", u.email));
}

static tarry_status import_contacts_from_hubspot(tarry_ctx *ctx, const char *args_json)
{
    static const char fn[] = "import_contacts_from_hubspot";
    long long count;
    user u;

    if (user_parse(ctx, fn, args_json, &u) != 0)
        return TARRY_FAILED;
    tarry_log(ctx, TARRY_LOG_INFO, "importing contacts of user %lld from HubSpot (attempt %d)", u.id,
              tarry_attempt(ctx));
    pause_ms(u.contacts_ms);
    count = u.id % 20 + 1;
    TARRY_TRY(effect_record(ctx, fn, &u, "contacts_imported user=%lld count=%lld execution=%s", u.id, count,
                            tarry_execution_id(ctx)));
    return finish_with(ctx, fn, tarry_json(ctx, "{\"imported\":%lld}", count));
}

/*
 * Whether the effects file holds the line "user_action user=<id>". Returns
 * 0 (with *active set) or an errno; a missing file means no actions.
 */
static int user_was_active(const char *path, long long id, int *active)
{
    char want[64], *line = NULL;
    size_t cap = 0;
    ssize_t len;
    FILE *f;

    *active = 0;
    f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : errno;
    snprintf(want, sizeof(want), "user_action user=%lld", id);
    while (!*active && (len = getline(&line, &cap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        *active = strcmp(line, want) == 0;
    }
    free(line);
    fclose(f);
    return 0;
}

static tarry_status send_tutorials_email_if_no_actions(tarry_ctx *ctx, const char *args_json)
{
    static const char fn[] = "send_tutorials_email_if_no_actions";
    int active = 0, err;
    user u;

    if (user_parse(ctx, fn, args_json, &u) != 0)
        return TARRY_FAILED;
    if (u.effects && (err = user_was_active(u.effects, u.id, &active)) != 0)
        return tarry_set_error(ctx, "%s: read effects file %s: %s", fn, u.effects, strerror(err));
    if (active) {
        tarry_log(ctx, TARRY_LOG_INFO, "user %lld was active: no tutorial email", u.id);
        return finish_with(ctx, fn, tarry_json(ctx, "{\"sent\":false,\"reason\":\"the user was active\"}"));
    }
    TARRY_TRY(
        effect_record(ctx, fn, &u, "tutorials_email user=%lld execution=%s", u.id, tarry_execution_id(ctx)));
    return finish_with(ctx, fn, tarry_json(ctx, "{\"sent\":true,\"to\":%s}", u.email));
}

/*
 * The step body (user_arg is the workflow's args_json): runs at least once,
 * its result is checkpointed once. tarry_set_result here sets the step's
 * result (what `marked.value_json` holds), not the workflow's.
 */
static tarry_status mark_onboarded(tarry_ctx *ctx, void *user_arg)
{
    static const char fn[] = "mark_onboarded";
    user u;

    if (user_parse(ctx, fn, user_arg, &u) != 0)
        return TARRY_FAILED;
    TARRY_TRY(
        effect_record(ctx, fn, &u, "mark_onboarded user=%lld execution=%s", u.id, tarry_execution_id(ctx)));
    return finish_with(ctx, fn, tarry_json(ctx, "{\"marked\":true,\"user_id\":%lld}", u.id));
}

/*
 * The workflow, as DESIGN.md writes it. The host runs it again from the top
 * every time it resumes (both children settled, the host restarted): the
 * commands already in the journal return what they returned before, so the
 * children start once, the step runs once, and the delayed child is
 * scheduled once. TARRY_TRY returns TARRY_SUSPEND (wait), or a misuse code
 * (the execution then fails with its reason), from the workflow at once.
 */
static tarry_status user_onboarding(tarry_ctx *ctx, const char *user_json)
{
    tarry_call_opts later = {.delay = "1 day"};
    tarry_handle h[2];
    tarry_result r[2], marked;
    user u;
    int st;

    /* Bad args fail here, before any child exists. */
    if (user_parse(ctx, "user_onboarding", user_json, &u) != 0)
        return TARRY_FAILED;

    TARRY_TRY(tarry_call(ctx, "send_welcome_email", user_json, NULL, &h[0]));
    TARRY_TRY(tarry_call(ctx, "import_contacts_from_hubspot", user_json, NULL, &h[1]));
    TARRY_TRY(tarry_await_all(ctx, h, 2, r)); /* allSettled: r[i] is each child's own outcome */
    st = tarry_step(ctx, "mark_onboarded", mark_onboarded, (void *)user_json, &marked);
    if (st == TARRY_FAILED)
        return tarry_set_error(ctx, "user_onboarding: step mark_onboarded failed: %s",
                               marked.error ? marked.error : "(no error message)");
    TARRY_TRY(st);
    TARRY_TRY(tarry_call(ctx, "send_tutorials_email_if_no_actions", user_json, &later, NULL));
    return finish_with(ctx, "user_onboarding",
                       tarry_json(ctx,
                                  "{\"onboarded\":true,\"user_id\":%lld,\"welcome_email\":%j,\"contacts\":%j,"
                                  "\"tutorials_email\":\"in 1 day\"}",
                                  u.id, outcome_json(ctx, &r[0]), outcome_json(ctx, &r[1])));
}

TARRY_PLUGIN("onboarding", "1.0.0", TARRY_FUNCTION("user_onboarding", user_onboarding),
             TARRY_FUNCTION("send_welcome_email", send_welcome_email),
             TARRY_FUNCTION("import_contacts_from_hubspot", import_contacts_from_hubspot),
             TARRY_FUNCTION("send_tutorials_email_if_no_actions", send_tutorials_email_if_no_actions));
