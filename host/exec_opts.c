/*
 * exec_opts.c - checks and parsing of per-execution options (exec_opts.h).
 *
 * May not: touch the store or the engine, allocate beyond cJSON's parse of
 * a text it is handed, or keep state.
 */
#include "exec_opts.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "duration.h"
#include "status.h"

/* The length of the UTF-8 sequence starting at s and its code point, or 0 if invalid. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    size_t n;
    uint32_t c = s[0], min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xe0) == 0xc0)
        n = 2, c &= 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        n = 3, c &= 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        n = 4, c &= 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

int exec_opts_text_check(const char *s, size_t max, char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t chars = 0;

    if (!s || !*s) {
        snprintf(err, errlen, "is empty (1 to %zu characters)", max);
        return TARRY_EINVAL;
    }
    while (*p) {
        uint32_t cp;
        size_t n = utf8_next(p, &cp);
        if (n == 0) {
            snprintf(err, errlen, "is not valid UTF-8 (at byte %zu)", (size_t)(p - (const unsigned char *)s));
            return TARRY_EINVAL;
        }
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
            snprintf(err, errlen, "holds a control character (U+%04X) at byte %zu; printable characters only",
                     (unsigned)cp, (size_t)(p - (const unsigned char *)s));
            return TARRY_EINVAL;
        }
        p += n;
        if (++chars > max) {
            snprintf(err, errlen, "is longer than %zu characters", max);
            return TARRY_EINVAL;
        }
    }
    return 0;
}

int exec_opts_idempotency_key(const char *key, char *err, size_t errlen)
{
    char why[160];

    if (exec_opts_text_check(key, EXEC_IDEM_KEY_MAX, why, sizeof why) != 0) {
        snprintf(err, errlen, "idempotency_key: %s", why);
        return TARRY_EINVAL;
    }
    return 0;
}

/* At most this much of a key is quoted in a message. */
#define QUOTE_MAX 64

int exec_opts_metadata(const cJSON *obj, char *err, size_t errlen)
{
    const cJSON *item;
    char why[160];
    int pairs = 0;

    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "metadata: must be an object of strings, like {\"team\": \"billing\"}");
        return TARRY_EINVAL;
    }
    cJSON_ArrayForEach(item, obj)
    {
        const char *k = item->string ? item->string : "";
        pairs++;
        if (exec_opts_text_check(k, EXEC_META_TEXT_MAX, why, sizeof why) != 0) {
            snprintf(err, errlen, "metadata: the key \"%.*s\"%s %s", QUOTE_MAX, k,
                     strlen(k) > QUOTE_MAX ? "..." : "", why);
            return TARRY_EINVAL;
        }
        if (!cJSON_IsString(item)) {
            snprintf(err, errlen, "metadata.\"%.*s\": must be a string", QUOTE_MAX, k);
            return TARRY_EINVAL;
        }
        if (exec_opts_text_check(item->valuestring, EXEC_META_TEXT_MAX, why, sizeof why) != 0) {
            snprintf(err, errlen, "metadata.\"%.*s\": the value %s", QUOTE_MAX, k, why);
            return TARRY_EINVAL;
        }
        for (const cJSON *seen = obj->child; seen != item; seen = seen->next)
            if (seen->string && strcmp(seen->string, k) == 0) {
                snprintf(err, errlen, "metadata.\"%.*s\": given twice", QUOTE_MAX, k);
                return TARRY_EINVAL;
            }
    }
    if (pairs > EXEC_META_MAX_PAIRS) {
        snprintf(err, errlen, "metadata: %d pairs; at most %d", pairs, EXEC_META_MAX_PAIRS);
        return TARRY_EINVAL;
    }
    return 0;
}

int exec_opts_metadata_text(const char *json, char *err, size_t errlen)
{
    cJSON *obj = json ? cJSON_Parse(json) : NULL;
    int rc;

    if (!obj) {
        snprintf(err, errlen, "metadata: not valid JSON");
        return TARRY_EINVAL;
    }
    rc = exec_opts_metadata(obj, err, errlen);
    cJSON_Delete(obj);
    return rc;
}

/* "2026-..." : an RFC 3339 time rather than a duration. */
static bool looks_like_time(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return s[4] == '-';
}

int exec_opts_discard_after(const char *text, int64_t now_ms, int64_t *at_ms, char *err, size_t errlen)
{
    char why[200];
    int64_t v;

    if (!text || !*text) {
        snprintf(err, errlen, "discard_after: is empty; give a duration like \"10m\" or an RFC 3339 time");
        return TARRY_EINVAL;
    }
    if (looks_like_time(text)) {
        if (clock_parse(text, &v, why, sizeof why) != 0) {
            snprintf(err, errlen, "discard_after: %s", why);
            return TARRY_EINVAL;
        }
        *at_ms = v;
        return 0;
    }
    if (duration_parse(text, &v, why, sizeof why) != 0) {
        snprintf(err, errlen, "discard_after: %s (or give an RFC 3339 time)", why);
        return TARRY_EINVAL;
    }
    *at_ms = now_ms + v;
    return 0;
}

bool exec_opts_metadata_has(const char *json, const char *key, const char *value)
{
    cJSON *obj, *item;
    bool has;

    if (!json || !(obj = cJSON_Parse(json)))
        return false;
    item = cJSON_GetObjectItemCaseSensitive(obj, key);
    has = cJSON_IsString(item) && strcmp(item->valuestring, value) == 0;
    cJSON_Delete(obj);
    return has;
}
