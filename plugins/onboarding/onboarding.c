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
 * Plugins may use sdk/ and cJSON only; this one parses and builds JSON with
 * cJSON, so it links libcjson.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DELAY_MS_MAX 600000.0
#define USER_ID_MAX 9007199254740992.0 /* 2^53: every integer up to it is exact in a JSON number */
#define EFFECT_LINE_MAX 512

/* The parsed args. The strings are borrowed from the cJSON tree user_parse() returns. */
typedef struct user {
    long long id;
    const char *email;
    const char *effects; /* NULL: effects are only logged */
    long long email_ms, contacts_ms;
} user;

/* Read args[name] as an optional integer from 0 to DELAY_MS_MAX (0 when absent). */
static int delay_field(tarry_ctx *ctx, const char *fn, const cJSON *args, const char *name, long long *out)
{
    const cJSON *field = cJSON_GetObjectItemCaseSensitive(args, name);

    *out = 0;
    if (!field || cJSON_IsNull(field))
        return 0;
    if (!cJSON_IsNumber(field) || field->valuedouble < 0 || field->valuedouble > DELAY_MS_MAX ||
        field->valuedouble != (double)(long long)field->valuedouble) {
        tarry_set_error(ctx, "%s: args.%s must be an integer from 0 to %.0f (milliseconds)", fn, name,
                        DELAY_MS_MAX);
        return -1;
    }
    *out = (long long)field->valuedouble;
    return 0;
}

/*
 * Parse args_json into *u. Returns the cJSON tree u's strings point into
 * (the caller frees it with cJSON_Delete after its last use of u), or NULL
 * after setting the function's error, which names `fn` and the field.
 */
static cJSON *user_parse(tarry_ctx *ctx, const char *fn, const char *args_json, user *u)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *id, *email, *effects;

    if (!cJSON_IsObject(args)) {
        tarry_set_error(ctx, "%s: args must be a JSON object (a user), got %.64s", fn, args_json);
        goto fail;
    }
    id = cJSON_GetObjectItemCaseSensitive(args, "user_id");
    if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > USER_ID_MAX ||
        id->valuedouble != (double)(long long)id->valuedouble) {
        tarry_set_error(ctx, "%s: args.user_id must be a non-negative integer", fn);
        goto fail;
    }
    email = cJSON_GetObjectItemCaseSensitive(args, "email");
    if (!cJSON_IsString(email) || email->valuestring[0] == '\0') {
        tarry_set_error(ctx, "%s: args.email must be a non-empty string", fn);
        goto fail;
    }
    effects = cJSON_GetObjectItemCaseSensitive(args, "effects");
    if (effects && !cJSON_IsNull(effects) && (!cJSON_IsString(effects) || effects->valuestring[0] == '\0')) {
        tarry_set_error(ctx, "%s: args.effects must be a file name (a non-empty string) when given", fn);
        goto fail;
    }
    u->id = (long long)id->valuedouble;
    u->email = email->valuestring;
    u->effects = cJSON_IsString(effects) ? effects->valuestring : NULL;
    if (delay_field(ctx, fn, args, "email_ms", &u->email_ms) != 0 ||
        delay_field(ctx, fn, args, "contacts_ms", &u->contacts_ms) != 0)
        goto fail;
    return args;
fail:
    cJSON_Delete(args);
    return NULL;
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
 * Hand `result` to the host as the current result (of the function, or of
 * the step being run) and free it. The host copies the text.
 */
static tarry_status finish_with(tarry_ctx *ctx, const char *fn, cJSON *result)
{
    char *text = result ? cJSON_PrintUnformatted(result) : NULL;
    int rc;

    cJSON_Delete(result);
    if (!text)
        return tarry_set_error(ctx, "%s: out of memory building the result", fn);
    rc = tarry_set_result(ctx, text);
    cJSON_free(text);
    if (rc != TARRY_OK)
        return tarry_set_error(ctx, "%s: the host refused the result: %s", fn, tarry_strerror(rc));
    return TARRY_OK;
}

/* A child's outcome as JSON: {"status": "succeeded", "result": ...} or {"status": ..., "error": ...}. */
static cJSON *outcome_json(const tarry_result *r)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *value;

    if (!out)
        return NULL;
    if (r->status == TARRY_OK) {
        value = cJSON_Parse(r->value_json ? r->value_json : "null");
        if (!cJSON_AddStringToObject(out, "status", "succeeded") || !value ||
            !cJSON_AddItemToObject(out, "result", value)) {
            cJSON_Delete(value);
            goto fail;
        }
        return out;
    }
    if (!cJSON_AddStringToObject(out, "status", r->status == TARRY_CANCELLED ? "cancelled" : "failed") ||
        !cJSON_AddStringToObject(out, "error", r->error ? r->error : "(no error message)"))
        goto fail;
    return out;
fail:
    cJSON_Delete(out);
    return NULL;
}

static tarry_status send_welcome_email(tarry_ctx *ctx, const char *args_json)
{
    static const char fn[] = "send_welcome_email";
    user u;
    cJSON *args = user_parse(ctx, fn, args_json, &u);
    cJSON *result;
    tarry_status st;

    if (!args)
        return TARRY_FAILED;
    tarry_log(ctx, TARRY_LOG_INFO, "sending welcome email to %s (user %lld, attempt %d)", u.email, u.id,
              tarry_attempt(ctx));
    pause_ms(u.email_ms);
    st = effect_record(ctx, fn, &u, "welcome_email user=%lld execution=%s", u.id, tarry_execution_id(ctx));
    if (st != TARRY_OK) {
        cJSON_Delete(args);
        return st;
    }
    result = cJSON_CreateObject();
    if (result &&
        (!cJSON_AddTrueToObject(result, "sent") || !cJSON_AddStringToObject(result, "to", u.email))) {
        cJSON_Delete(result);
        result = NULL;
    }
    cJSON_Delete(args);
    return finish_with(ctx, fn, result);
}

static tarry_status import_contacts_from_hubspot(tarry_ctx *ctx, const char *args_json)
{
    static const char fn[] = "import_contacts_from_hubspot";
    user u;
    cJSON *args = user_parse(ctx, fn, args_json, &u);
    cJSON *result;
    long long count;
    tarry_status st;

    if (!args)
        return TARRY_FAILED;
    tarry_log(ctx, TARRY_LOG_INFO, "importing contacts of user %lld from HubSpot (attempt %d)", u.id,
              tarry_attempt(ctx));
    pause_ms(u.contacts_ms);
    count = u.id % 20 + 1;
    st = effect_record(ctx, fn, &u, "contacts_imported user=%lld count=%lld execution=%s", u.id, count,
                       tarry_execution_id(ctx));
    cJSON_Delete(args);
    if (st != TARRY_OK)
        return st;
    result = cJSON_CreateObject();
    if (result && !cJSON_AddNumberToObject(result, "imported", (double)count)) {
        cJSON_Delete(result);
        result = NULL;
    }
    return finish_with(ctx, fn, result);
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
    user u;
    cJSON *args = user_parse(ctx, fn, args_json, &u);
    cJSON *result;
    int active = 0, err;
    tarry_status st;

    if (!args)
        return TARRY_FAILED;
    if (u.effects && (err = user_was_active(u.effects, u.id, &active)) != 0) {
        tarry_set_error(ctx, "%s: read effects file %s: %s", fn, u.effects, strerror(err));
        cJSON_Delete(args);
        return TARRY_FAILED;
    }
    result = cJSON_CreateObject();
    if (active) {
        tarry_log(ctx, TARRY_LOG_INFO, "user %lld was active: no tutorial email", u.id);
        if (result && (!cJSON_AddFalseToObject(result, "sent") ||
                       !cJSON_AddStringToObject(result, "reason", "the user was active"))) {
            cJSON_Delete(result);
            result = NULL;
        }
    } else {
        st = effect_record(ctx, fn, &u, "tutorials_email user=%lld execution=%s", u.id,
                           tarry_execution_id(ctx));
        if (st != TARRY_OK) {
            cJSON_Delete(result);
            cJSON_Delete(args);
            return st;
        }
        if (result &&
            (!cJSON_AddTrueToObject(result, "sent") || !cJSON_AddStringToObject(result, "to", u.email))) {
            cJSON_Delete(result);
            result = NULL;
        }
    }
    cJSON_Delete(args);
    return finish_with(ctx, fn, result);
}

/* The step body (user_arg is the workflow's args_json): runs at least once, its result is checkpointed once.
 */
static tarry_status mark_onboarded(tarry_ctx *ctx, void *user_arg)
{
    static const char fn[] = "mark_onboarded";
    user u;
    cJSON *args = user_parse(ctx, fn, user_arg, &u);
    tarry_status st;
    char result[96];

    if (!args)
        return TARRY_FAILED;
    st = effect_record(ctx, fn, &u, "mark_onboarded user=%lld execution=%s", u.id, tarry_execution_id(ctx));
    cJSON_Delete(args);
    if (st != TARRY_OK)
        return st;
    snprintf(result, sizeof(result), "{\"marked\":true,\"user_id\":%lld}", u.id);
    return (tarry_status)tarry_set_result(ctx, result);
}

/* The workflow's result, from the children's outcomes. */
static tarry_status onboarded(tarry_ctx *ctx, long long user_id, const tarry_result children[2])
{
    cJSON *result = cJSON_CreateObject();
    cJSON *welcome = outcome_json(&children[0]), *contacts = outcome_json(&children[1]);

    if (!result || !welcome || !contacts || !cJSON_AddTrueToObject(result, "onboarded") ||
        !cJSON_AddNumberToObject(result, "user_id", (double)user_id) ||
        !cJSON_AddItemToObject(result, "welcome_email", welcome)) {
        cJSON_Delete(welcome);
        cJSON_Delete(contacts);
        cJSON_Delete(result);
        return finish_with(ctx, "user_onboarding", NULL);
    }
    if (!cJSON_AddItemToObject(result, "contacts", contacts)) {
        cJSON_Delete(contacts);
        cJSON_Delete(result);
        return finish_with(ctx, "user_onboarding", NULL);
    }
    if (!cJSON_AddStringToObject(result, "tutorials_email", "in 1 day")) {
        cJSON_Delete(result);
        result = NULL;
    }
    return finish_with(ctx, "user_onboarding", result);
}

/*
 * The workflow, as DESIGN.md writes it. The host runs it again from the top
 * every time it resumes (both children settled, the host restarted): the
 * commands already in the journal return what they returned before, so the
 * children start once, the step runs once, and the delayed child is
 * scheduled once. TARRY_TRY returns TARRY_SUSPEND (wait), or TARRY_EINVAL
 * (misuse, whose reason the host logged), from the workflow at once.
 */
static tarry_status user_onboarding(tarry_ctx *ctx, const char *user_json)
{
    tarry_call_opts later = {.delay = "1 day"};
    tarry_handle h[2];
    tarry_result r[2], marked;
    long long user_id;
    user u;
    cJSON *args;
    int st;

    /* Bad args fail here, before any child exists. */
    if (!(args = user_parse(ctx, "user_onboarding", user_json, &u)))
        return TARRY_FAILED;
    user_id = u.id;
    cJSON_Delete(args);

    TARRY_TRY(tarry_call(ctx, "send_welcome_email", user_json, NULL, &h[0]));
    TARRY_TRY(tarry_call(ctx, "import_contacts_from_hubspot", user_json, NULL, &h[1]));
    TARRY_TRY(tarry_await_all(ctx, h, 2, r)); /* allSettled: r[i] is each child's own outcome */
    st = tarry_step(ctx, "mark_onboarded", mark_onboarded, (void *)user_json, &marked);
    if (st == TARRY_FAILED)
        return tarry_set_error(ctx, "user_onboarding: step mark_onboarded failed: %s",
                               marked.error ? marked.error : "(no error message)");
    TARRY_TRY(st);
    TARRY_TRY(tarry_call(ctx, "send_tutorials_email_if_no_actions", user_json, &later, NULL));
    return onboarded(ctx, user_id, r);
}

TARRY_PLUGIN("onboarding", "1.0.0", TARRY_FUNCTION("user_onboarding", user_onboarding),
             TARRY_FUNCTION("send_welcome_email", send_welcome_email),
             TARRY_FUNCTION("import_contacts_from_hubspot", import_contacts_from_hubspot),
             TARRY_FUNCTION("send_tutorials_email_if_no_actions", send_tutorials_email_if_no_actions));
