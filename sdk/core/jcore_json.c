/*
 * jcore_json.c - the JSON helpers of the host function table (jcore_json.h):
 * read typed values by dotted path, and build JSON text with a printf-like
 * format that escapes what it inserts.
 *
 * Paths: "" is the whole value; "user.email" walks object members;
 * a segment of digits indexes an array ("items.0.sku"). A member name with a
 * '.' in it cannot be reached by path (read its parent with
 * tarry_json_raw and walk it in code).
 *
 * Errors are recorded on the ctx (jcore_ctx_fail) as one line naming the
 * text and the path: "args: user.email: missing", "args: user.id: is a
 * string, not a number". A reader that meets absent data does not log (the
 * caller's data is not the plugin's misuse); a builder error does (a wrong
 * format is). Strings handed out live in the ctx until the function returns.
 */
#include "jcore_json.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h> /* isfinite, a macro: the kit needs no libm */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jcore_ctx.h"
#include "json_strict.h"

#define EXACT_INT_MAX 9007199254740992.0 /* 2^53: every integer up to it is exact in a double */

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    return "invalid";
}

/* Record "LABEL: PATH: message" (parts left out when empty). */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void
fail_at(tarry_ctx *ctx, const char *json, const char *path, const char *fmt, ...)
{
    char label[160], message[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    jcore_ctx_describe_json(ctx, json, label, sizeof label);
    jcore_ctx_fail(ctx, "%s%s%.200s%s%s", label, label[0] ? ": " : "", path, path[0] ? ": " : "", message);
}

/*
 * Parse `json` (checked strictly first, so what is read is what a strict
 * reader sees) and find the value at `path`. TARRY_OK with *doc (the caller
 * deletes it) and *found; else the reason is recorded, *doc is NULL, and
 * *absent says whether the only fault was a missing member or index.
 */
static int find(tarry_ctx *ctx, const char *who, const char *json, const char *path, cJSON **doc,
                const cJSON **found, bool *absent)
{
    json_strict_error err;
    char why[400], walked[256];
    const cJSON *at;
    const char *full;
    size_t walked_len = 0;
    int rc;

    *doc = NULL;
    *found = NULL;
    *absent = false;
    if (!json) {
        jcore_ctx_misuse(ctx, "%s: the JSON text is NULL", who);
        return TARRY_EINVAL;
    }
    if (!path)
        path = "";
    if ((rc = json_strict_check(json, strlen(json), &err)) != 0) {
        if (rc == TARRY_ENOMEM) {
            jcore_ctx_fail(ctx, "%s: out of memory", who);
            return TARRY_ENOMEM;
        }
        json_strict_describe(&err, NULL, why, sizeof why);
        fail_at(ctx, json, "", "not valid JSON: %s", why);
        return TARRY_EINVAL;
    }
    if (!(*doc = cJSON_ParseWithOpts(json, NULL, 1))) {
        jcore_ctx_fail(ctx, "%s: out of memory", who);
        return TARRY_ENOMEM;
    }
    at = *doc;
    walked[0] = '\0';
    full = path;
    while (*path) {
        const char *end = strchr(path, '.');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        char segment[256];

        if (len == 0 || len >= sizeof segment || walked_len + len + 2 > sizeof walked) {
            jcore_ctx_misuse(ctx, "%s: bad path (an empty or too long segment)", who);
            goto fail;
        }
        memcpy(segment, path, len);
        segment[len] = '\0';
        walked_len += (size_t)snprintf(walked + walked_len, sizeof walked - walked_len, "%s%s",
                                       walked_len ? "." : "", segment);
        path = end ? end + 1 : path + len;
        if (cJSON_IsObject(at)) {
            if (!(at = cJSON_GetObjectItemCaseSensitive(at, segment))) {
                *absent = true; /* named by the whole path asked for: that is what is missing */
                fail_at(ctx, json, full, "missing");
                goto fail;
            }
        } else if (cJSON_IsArray(at) && strspn(segment, "0123456789") == len) {
            unsigned long index = strtoul(segment, NULL, 10);
            int size = cJSON_GetArraySize(at);
            if (index >= (unsigned long)size) {
                *absent = true;
                walked[walked_len > len ? walked_len - len - 1 : 0] = '\0'; /* the array's own path */
                fail_at(ctx, json, full, "missing (%s%shas %d element%s)", walked,
                        walked[0] ? " " : "the array ", size, size == 1 ? "" : "s");
                goto fail;
            }
            at = cJSON_GetArrayItem(at, (int)index);
        } else {
            /* Name the value that could not be walked into. */
            walked_len -= len;
            walked[walked_len ? walked_len - 1 : 0] = '\0';
            fail_at(ctx, json, walked, "is %s, not %s", type_name(at),
                    cJSON_IsArray(at) ? "an object (give an index)" : "an object or an array");
            goto fail;
        }
    }
    *found = at;
    return TARRY_OK;
fail:
    cJSON_Delete(*doc);
    *doc = NULL;
    return TARRY_EINVAL;
}

/* The value at `path`, which must have the type `want` (a cJSON check); records why not. */
static int find_typed(tarry_ctx *ctx, const char *who, const char *json, const char *path, cJSON **doc,
                      const cJSON **found, cJSON_bool (*is)(const cJSON *), const char *want)
{
    bool absent;
    int rc = find(ctx, who, json, path, doc, found, &absent);

    if (rc != TARRY_OK)
        return rc;
    if (!is(*found)) {
        fail_at(ctx, json, path ? path : "", "is %s, not %s", type_name(*found), want);
        cJSON_Delete(*doc);
        *doc = NULL;
        return TARRY_EINVAL;
    }
    return TARRY_OK;
}

const char *jcore_json_str(tarry_ctx *ctx, const char *json, const char *path)
{
    const cJSON *v;
    cJSON *doc;
    const char *copy;

    if (find_typed(ctx, "tarry_json_str", json, path, &doc, &v, cJSON_IsString, "a string") != TARRY_OK)
        return NULL;
    copy = jcore_ctx_keep(ctx, v->valuestring, strlen(v->valuestring));
    if (!copy)
        jcore_ctx_fail(ctx, "tarry_json_str: out of memory");
    cJSON_Delete(doc);
    return copy;
}

int jcore_json_num(tarry_ctx *ctx, const char *json, const char *path, double *out)
{
    const cJSON *v;
    cJSON *doc;
    int rc;

    if (!out) {
        jcore_ctx_misuse(ctx, "tarry_json_num: out is NULL");
        return TARRY_EINVAL;
    }
    if ((rc = find_typed(ctx, "tarry_json_num", json, path, &doc, &v, cJSON_IsNumber, "a number")) != 0)
        return rc;
    *out = v->valuedouble;
    cJSON_Delete(doc);
    return TARRY_OK;
}

int jcore_json_int(tarry_ctx *ctx, const char *json, const char *path, int64_t *out)
{
    const cJSON *v;
    cJSON *doc;
    double d;
    int rc;

    if (!out) {
        jcore_ctx_misuse(ctx, "tarry_json_int: out is NULL");
        return TARRY_EINVAL;
    }
    if ((rc = find_typed(ctx, "tarry_json_int", json, path, &doc, &v, cJSON_IsNumber, "a number")) != 0)
        return rc;
    d = v->valuedouble;
    cJSON_Delete(doc);
    /* The strict check refused integers a double does not hold; a fraction is not an integer. */
    if (!(d >= -EXACT_INT_MAX && d <= EXACT_INT_MAX) || d != (double)(int64_t)d) {
        fail_at(ctx, json, path ? path : "", "is %.17g, not an integer", d);
        return TARRY_EINVAL;
    }
    *out = (int64_t)d;
    return TARRY_OK;
}

int jcore_json_bool(tarry_ctx *ctx, const char *json, const char *path, int *out)
{
    const cJSON *v;
    cJSON *doc;
    int rc;

    if (!out) {
        jcore_ctx_misuse(ctx, "tarry_json_bool: out is NULL");
        return TARRY_EINVAL;
    }
    if ((rc = find_typed(ctx, "tarry_json_bool", json, path, &doc, &v, cJSON_IsBool, "a boolean")) != 0)
        return rc;
    *out = cJSON_IsTrue(v) ? 1 : 0;
    cJSON_Delete(doc);
    return TARRY_OK;
}

const char *jcore_json_raw(tarry_ctx *ctx, const char *json, const char *path)
{
    const cJSON *v;
    cJSON *doc;
    char *printed;
    const char *copy = NULL;
    bool absent;

    if (find(ctx, "tarry_json_raw", json, path, &doc, &v, &absent) != TARRY_OK)
        return NULL;
    if ((printed = cJSON_PrintUnformatted(v)))
        copy = jcore_ctx_keep(ctx, printed, strlen(printed));
    if (!copy)
        jcore_ctx_fail(ctx, "tarry_json_raw: out of memory");
    cJSON_free(printed);
    cJSON_Delete(doc);
    return copy;
}

int jcore_json_has(tarry_ctx *ctx, const char *json, const char *path)
{
    char before[512];
    const cJSON *v;
    cJSON *doc;
    bool absent;
    int rc;

    /* An absent field is an answer here, not a failure: the last error stays what it was. */
    snprintf(before, sizeof before, "%s", tarry_last_error(ctx));
    rc = find(ctx, "tarry_json_has", json, path, &doc, &v, &absent);
    if (rc != TARRY_OK) {
        if (!absent)
            return rc;
        jcore_ctx_fail(ctx, "%s", before);
        return 0;
    }
    rc = cJSON_IsNull(v) ? 0 : 1;
    cJSON_Delete(doc);
    return rc;
}

/* ---- the builder ------------------------------------------------------------------------ */

/* A growing text. `failed` once an allocation failed (the rest is ignored). */
typedef struct text {
    char *bytes;
    size_t len, cap;
    bool failed;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 128;
        char *grown;
        while (cap < t->len + n + 1)
            cap *= 2;
        if (!(grown = realloc(t->bytes, cap))) {
            t->failed = true;
            return;
        }
        t->bytes = grown;
        t->cap = cap;
    }
    memcpy(t->bytes + t->len, s, n);
    t->len += n;
    t->bytes[t->len] = '\0';
}

static void put_str(text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* `s` as a JSON string, escaped by cJSON; NULL as null. */
static void put_quoted(text *t, const char *s)
{
    cJSON *item;
    char *printed;

    if (!s) {
        put_str(t, "null");
        return;
    }
    item = cJSON_CreateString(s);
    printed = item ? cJSON_PrintUnformatted(item) : NULL;
    if (printed)
        put_str(t, printed);
    else
        t->failed = true;
    cJSON_free(printed);
    cJSON_Delete(item);
}

const char *jcore_jsonv(tarry_ctx *ctx, const char *fmt, va_list ap)
{
    text t = {0};
    json_strict_error err;
    char why[400], number[64];
    const char *copy = NULL;
    unsigned argno = 0;
    int rc;

    if (!fmt) {
        jcore_ctx_misuse(ctx, "tarry_json: the format is NULL");
        return NULL;
    }
    for (const char *p = fmt; *p; p++) {
        const char *start = p;
        int longs = 0, size_t_arg = 0;

        if (*p != '%') {
            put(&t, p, 1);
            continue;
        }
        p++;
        if (*p == '%') {
            put(&t, "%", 1);
            continue;
        }
        argno++;
        while (*p == 'l' && longs < 2) {
            longs++;
            p++;
        }
        if (!longs && *p == 'z') {
            size_t_arg = 1;
            p++;
        }
        switch (*p) {
        case 'd':
        case 'i':
            if (size_t_arg) {
                goto bad_conversion;
            } else if (longs == 2) {
                snprintf(number, sizeof number, "%lld", va_arg(ap, long long));
            } else if (longs == 1) {
                snprintf(number, sizeof number, "%ld", va_arg(ap, long));
            } else {
                snprintf(number, sizeof number, "%d", va_arg(ap, int));
            }
            put_str(&t, number);
            break;
        case 'u':
            if (size_t_arg)
                snprintf(number, sizeof number, "%zu", va_arg(ap, size_t));
            else if (longs == 2)
                snprintf(number, sizeof number, "%llu", va_arg(ap, unsigned long long));
            else if (longs == 1)
                snprintf(number, sizeof number, "%lu", va_arg(ap, unsigned long));
            else
                snprintf(number, sizeof number, "%u", va_arg(ap, unsigned));
            put_str(&t, number);
            break;
        case 'g':
        case 'f': {
            double d = va_arg(ap, double);
            if (longs || size_t_arg)
                goto bad_conversion;
            if (!isfinite(d)) {
                jcore_ctx_misuse(ctx, "tarry_json: argument %u (%%%c) is %g, which JSON cannot hold", argno,
                                 *p, d);
                goto fail;
            }
            /* The shortest of %.15g..%.17g that reads back as the same double (0.1, not
             * 0.10000000000000001). */
            for (int digits = 15; digits <= 17; digits++) {
                snprintf(number, sizeof number, "%.*g", digits, d);
                if (strtod(number, NULL) == d)
                    break;
            }
            put_str(&t, number);
            break;
        }
        case 'b':
            if (longs || size_t_arg)
                goto bad_conversion;
            put_str(&t, va_arg(ap, int) ? "true" : "false");
            break;
        case 's':
            if (longs || size_t_arg)
                goto bad_conversion;
            put_quoted(&t, va_arg(ap, const char *));
            break;
        case 'j': {
            const char *raw = va_arg(ap, const char *);
            if (longs || size_t_arg)
                goto bad_conversion;
            if (!raw) {
                put_str(&t, "null");
                break;
            }
            if ((rc = json_strict_check(raw, strlen(raw), &err)) != 0) {
                if (rc == TARRY_ENOMEM)
                    snprintf(why, sizeof why, "out of memory checking it");
                else
                    json_strict_describe(&err, NULL, why, sizeof why);
                jcore_ctx_misuse(ctx, "tarry_json: argument %u (%%j) is not valid JSON: %s", argno, why);
                goto fail;
            }
            put_str(&t, raw);
            break;
        }
        default:
            goto bad_conversion;
        }
        continue;
    bad_conversion:
        jcore_ctx_misuse(ctx,
                         "tarry_json: unknown conversion \"%.*s\" at byte %zu of the format "
                         "(use %%s %%d %%ld %%lld %%u %%zu %%g %%b %%j %%%%)",
                         (int)(p - start + (*p ? 1 : 0)), start, (size_t)(start - fmt));
        goto fail;
    }
    if (t.failed) {
        jcore_ctx_fail(ctx, "tarry_json: out of memory");
        goto fail;
    }
    if (!t.bytes)
        put_str(&t, "");
    if ((rc = json_strict_check(t.bytes ? t.bytes : "", t.len, &err)) != 0) {
        if (rc == TARRY_ENOMEM)
            snprintf(why, sizeof why, "out of memory checking it");
        else
            json_strict_describe(&err, NULL, why, sizeof why);
        jcore_ctx_misuse(ctx, "tarry_json: the text built from \"%.100s\" is not valid JSON: %s", fmt, why);
        goto fail;
    }
    if (!(copy = jcore_ctx_keep(ctx, t.bytes, t.len)))
        jcore_ctx_fail(ctx, "tarry_json: out of memory");
fail:
    free(t.bytes);
    return copy;
}
