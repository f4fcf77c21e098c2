/*
 * json_strict.c - the strict JSON check (json_strict.h).
 *
 * A recursive descent over the raw bytes, at most JSON_STRICT_MAX_DEPTH
 * frames deep. Each open container keeps a frame (its member key or
 * element index) so an error names the value it is in. Keys of the open
 * objects are collected in one array (each object owns the tail it pushed);
 * an object's keys are sorted by hash when it closes and equal hashes
 * compared decoded, so duplicate detection costs O(n log n), not O(n^2).
 *
 * May not: allocate more than the keys of the open objects, or keep state
 * between calls.
 */
#include "json_strict.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tarry.h"

typedef struct frame {
    bool is_array;
    size_t index;            /* array: the element being read */
    size_t key_off, key_len; /* object: the raw key (between the quotes) of the member being read */
    bool has_key;
} frame;

#define FRAME_CHUNK 32

typedef struct key_ref {
    size_t off, len; /* raw, between the quotes */
    uint64_t hash;   /* of the decoded bytes */
} key_ref;

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    json_strict_error *err;
    bool failed;
    int rc;
    /* Frames in chunks that never move (a frame is held across the recursion
     * into its members): the first inline, the rest allocated only by texts
     * nested that deep. A parser is small, so it lives on the caller's stack
     * and a check of "{}" costs no allocation at all. */
    frame first[FRAME_CHUNK];
    frame *more[JSON_STRICT_MAX_DEPTH / FRAME_CHUNK]; /* more[0] unused */
    size_t depth;
    key_ref *keys;
    size_t key_count, key_cap;
} parser;

/* ---- decoding a validated string ---------------------------------------------- */

/* Reads the decoded UTF-8 bytes of a raw string body (escapes resolved) one at a time. */
typedef struct str_reader {
    const unsigned char *p, *end;
    unsigned char pending[4];
    int npending, next;
} str_reader;

static unsigned hex4(const unsigned char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

static int utf8_put(unsigned cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The next decoded byte, or -1 at the end. The string must have passed the check. */
static int str_next(str_reader *r)
{
    unsigned cp;

    if (r->next < r->npending)
        return r->pending[r->next++];
    if (r->p >= r->end)
        return -1;
    if (*r->p != '\\')
        return *r->p++;
    r->p++;
    switch (*r->p++) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        cp = hex4(r->p);
        r->p += 4;
        if (cp >= 0xD800 && cp < 0xDC00) { /* a checked high surrogate: its low half follows */
            cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(r->p + 2) - 0xDC00);
            r->p += 6;
        }
        r->npending = utf8_put(cp, r->pending);
        r->next = 1;
        return r->pending[0];
    default: /* '"', '\\', '/' */
        return r->p[-1];
    }
}

static void str_open(str_reader *r, const unsigned char *p, size_t len)
{
    r->p = p;
    r->end = p + len;
    r->npending = r->next = 0;
}

static uint64_t key_hash(const unsigned char *p, size_t len)
{
    str_reader r;
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    int c;

    str_open(&r, p, len);
    while ((c = str_next(&r)) >= 0)
        h = (h ^ (unsigned)c) * 1099511628211ull;
    return h;
}

static bool keys_equal(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    str_reader ra, rb;
    int ca, cb;

    str_open(&ra, a, alen);
    str_open(&rb, b, blen);
    do {
        ca = str_next(&ra);
        cb = str_next(&rb);
        if (ca != cb)
            return false;
    } while (ca >= 0);
    return true;
}

/* ---- errors ------------------------------------------------------------------ */

/* Append the decoded key, control characters as '?', to out (bounded). */
static size_t path_key(char *out, size_t at, size_t cap, const unsigned char *raw, size_t len)
{
    str_reader r;
    int c;

    str_open(&r, raw, len);
    while ((c = str_next(&r)) >= 0 && at + 1 < cap)
        out[at++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
    return at;
}

static frame *frame_at(const parser *ps, size_t i)
{
    return i < FRAME_CHUNK ? (frame *)&ps->first[i] : &ps->more[i / FRAME_CHUNK][i % FRAME_CHUNK];
}

/* The path of the value being read, from the open frames (`upto` of them). */
static void path_build(const parser *ps, size_t upto, const key_ref *extra, char *out, size_t cap)
{
    size_t at = 0;
    char num[32];

    for (size_t i = 0; i < upto && at + 1 < cap; i++) {
        const frame *f = frame_at(ps, i);
        if (f->is_array) {
            int n = snprintf(num, sizeof num, "[%zu]", f->index);
            for (int k = 0; k < n && at + 1 < cap; k++)
                out[at++] = num[k];
        } else if (f->has_key) {
            if (at > 0 && at + 1 < cap)
                out[at++] = '.';
            at = path_key(out, at, cap, ps->s + f->key_off, f->key_len);
        }
    }
    if (extra) {
        if (at > 0 && at + 1 < cap)
            out[at++] = '.';
        at = path_key(out, at, cap, ps->s + extra->off, extra->len);
    }
    if (at + 1 >= cap && cap > 4) {
        /* Full: end in "...", cut at a character boundary (the path goes into JSON answers,
         * which must stay UTF-8; found by tests/fuzz/fuzz_json). */
        at = cap - 4;
        while (at > 0 && ((unsigned char)out[at] & 0xC0) == 0x80)
            at--;
        memcpy(out + at, "...", 4);
        return;
    }
    out[at] = '\0';
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static bool
fail_at(parser *ps, size_t offset, const key_ref *dup, const char *fmt, ...)
{
    va_list ap;

    if (ps->failed)
        return false;
    ps->failed = true;
    ps->rc = TARRY_EINVAL;
    if (!ps->err)
        return false;
    ps->err->offset = offset;
    path_build(ps, ps->depth, dup, ps->err->path, sizeof ps->err->path);
    va_start(ap, fmt);
    vsnprintf(ps->err->message, sizeof ps->err->message, fmt, ap);
    va_end(ap);
    return false;
}

static bool fail_oom(parser *ps)
{
    if (!ps->failed) {
        ps->failed = true;
        ps->rc = TARRY_ENOMEM;
        if (ps->err) {
            ps->err->offset = ps->pos;
            ps->err->path[0] = '\0';
            snprintf(ps->err->message, sizeof ps->err->message, "out of memory");
        }
    }
    return false;
}

/* A byte for a message: printable as itself, else as hex. */
static const char *byte_name(int c, char buf[16])
{
    if (c < 0)
        snprintf(buf, 16, "the end");
    else if (c > 0x20 && c < 0x7F)
        snprintf(buf, 16, "'%c'", c);
    else
        snprintf(buf, 16, "byte 0x%02X", (unsigned)c);
    return buf;
}

/* ---- the grammar ------------------------------------------------------------- */

static int peek(const parser *ps)
{
    return ps->pos < ps->len ? ps->s[ps->pos] : -1;
}

static void skip_ws(parser *ps)
{
    while (ps->pos < ps->len) {
        unsigned char c = ps->s[ps->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        ps->pos++;
    }
}

/* RFC 3629's table. */
size_t json_strict_utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

static bool is_hex(int c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* A string; the opening quote is at pos. On success *off and *len are the body between the quotes. */
static bool parse_string(parser *ps, size_t *off, size_t *len)
{
    size_t start = ++ps->pos;

    for (;;) {
        int c = peek(ps);
        if (c < 0)
            return fail_at(ps, start - 1, NULL, "string not closed");
        if (c == '"')
            break;
        if (c == 0)
            return fail_at(ps, ps->pos, NULL, "NUL byte in a string");
        if (c < 0x20)
            return fail_at(ps, ps->pos, NULL, "control character 0x%02X in a string (escape it as \\u%04X)",
                           (unsigned)c, (unsigned)c);
        if (c >= 0x80) {
            size_t n = json_strict_utf8_len(ps->s + ps->pos, ps->len - ps->pos);
            if (!n)
                return fail_at(ps, ps->pos, NULL, "invalid UTF-8 (byte 0x%02X) in a string", (unsigned)c);
            ps->pos += n;
            continue;
        }
        if (c != '\\') {
            ps->pos++;
            continue;
        }
        ps->pos++;
        c = peek(ps);
        if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
            ps->pos++;
            continue;
        }
        if (c != 'u') {
            char b[16];
            return fail_at(ps, ps->pos - 1, NULL, "invalid escape \\ followed by %s", byte_name(c, b));
        }
        size_t at = ps->pos - 1;
        if (ps->len - ps->pos < 5 || !is_hex(ps->s[ps->pos + 1]) || !is_hex(ps->s[ps->pos + 2]) ||
            !is_hex(ps->s[ps->pos + 3]) || !is_hex(ps->s[ps->pos + 4]))
            return fail_at(ps, at, NULL, "invalid escape: \\u needs four hex digits");
        unsigned cp = hex4(ps->s + ps->pos + 1);
        ps->pos += 5;
        if (cp == 0)
            return fail_at(ps, at, NULL, "\\u0000 (NUL) in a string");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail_at(ps, at, NULL, "unpaired surrogate \\u%04X in a string", cp);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            const unsigned char *q = ps->s + ps->pos;
            if (ps->len - ps->pos < 6 || q[0] != '\\' || q[1] != 'u' || !is_hex(q[2]) || !is_hex(q[3]) ||
                !is_hex(q[4]) || !is_hex(q[5]) || hex4(q + 2) < 0xDC00 || hex4(q + 2) > 0xDFFF)
                return fail_at(ps, at, NULL, "unpaired surrogate \\u%04X in a string", cp);
            ps->pos += 6;
        }
    }
    *off = start;
    *len = ps->pos - start;
    ps->pos++; /* the closing quote */
    return true;
}

static bool digits(parser *ps)
{
    size_t from = ps->pos;
    while (ps->pos < ps->len && ps->s[ps->pos] >= '0' && ps->s[ps->pos] <= '9')
        ps->pos++;
    return ps->pos > from;
}

/*
 * Whether the double `v` read from an integer literal spells it exactly:
 * "%.0f" prints a double's exact decimal value, so compare the digits.
 */
static bool integer_exact(double v, const unsigned char *lit, size_t n)
{
    char small[400], *buf = small;
    size_t need;
    bool same;

    if (*lit == '-')
        lit++, n--;
    if (v < 0)
        v = -v;
    need = (size_t)snprintf(NULL, 0, "%.0f", v) + 1;
    if (need > sizeof small && !(buf = malloc(need)))
        return false;
    snprintf(buf, need, "%.0f", v);
    same = strlen(buf) == n && memcmp(buf, lit, n) == 0;
    if (buf != small)
        free(buf);
    return same;
}

static bool parse_number(parser *ps)
{
    size_t start = ps->pos;
    bool integer = true, nonzero = false;
    char small[128], *copy = small, b[16];
    double v;
    int shown;

    if (peek(ps) == '-')
        ps->pos++;
    if (peek(ps) == '0') {
        ps->pos++;
        if (peek(ps) >= '0' && peek(ps) <= '9')
            return fail_at(ps, start, NULL, "a number may not start with 0 (leading zeros)");
    } else if (!digits(ps)) {
        return fail_at(ps, ps->pos, NULL, "expected a digit, found %s", byte_name(peek(ps), b));
    }
    if (peek(ps) == '.') {
        integer = false;
        ps->pos++;
        if (!digits(ps))
            return fail_at(ps, ps->pos, NULL, "expected a digit after the decimal point");
    }
    size_t mantissa_end = ps->pos;
    if (peek(ps) == 'e' || peek(ps) == 'E') {
        integer = false;
        ps->pos++;
        if (peek(ps) == '+' || peek(ps) == '-')
            ps->pos++;
        if (!digits(ps))
            return fail_at(ps, ps->pos, NULL, "expected a digit in the exponent");
    }
    for (size_t i = start; i < mantissa_end; i++)
        nonzero |= ps->s[i] >= '1' && ps->s[i] <= '9';

    size_t n = ps->pos - start;
    if (n >= sizeof small && !(copy = malloc(n + 1)))
        return fail_oom(ps);
    memcpy(copy, ps->s + start, n);
    copy[n] = '\0';
    v = strtod(copy, NULL);
    if (copy != small)
        free(copy);
    shown = n > 40 ? 40 : (int)n;
    if (isinf(v))
        return fail_at(ps, start, NULL, "number %.*s%s is out of range (it overflows a double)", shown,
                       (const char *)ps->s + start, n > 40 ? "..." : "");
    if (v == 0 && nonzero)
        return fail_at(ps, start, NULL, "number %.*s%s is too small for a double (it underflows to 0)", shown,
                       (const char *)ps->s + start, n > 40 ? "..." : "");
    /* Up to 15 digits every integer is exact; past that, check. */
    if (integer && n > 15 && !integer_exact(v, ps->s + start, n))
        return fail_at(ps, start, NULL,
                       "integer %.*s%s cannot be represented exactly (beyond 2^53; send it as a string)",
                       shown, (const char *)ps->s + start, n > 40 ? "..." : "");
    return true;
}

static bool parse_word(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if (ps->len - ps->pos < n || memcmp(ps->s + ps->pos, word, n) != 0)
        return fail_at(ps, ps->pos, NULL, "expected a value (invalid literal)");
    ps->pos += n;
    return true;
}

static int cmp_keys(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* The object whose keys are keys[first..key_count) closed: refuse a key given twice. */
static bool check_duplicates(parser *ps, size_t first)
{
    key_ref *k = ps->keys + first;
    size_t n = ps->key_count - first;

    qsort(k, n, sizeof *k, cmp_keys);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n && k[j].hash == k[i].hash; j++)
            if (keys_equal(ps->s + k[i].off, k[i].len, ps->s + k[j].off, k[j].len))
                return fail_at(ps, k[j].off - 1, &k[j], "duplicate key (an object may name a key once)");
    ps->key_count = first;
    return true;
}

static bool parse_value(parser *ps);

static bool parse_container(parser *ps, bool is_array)
{
    size_t first_key = ps->key_count, open = ps->pos;
    char b[16];
    frame *f;

    if (ps->depth >= JSON_STRICT_MAX_DEPTH)
        return fail_at(ps, open, NULL, "nested deeper than %d levels", JSON_STRICT_MAX_DEPTH);
    if (ps->depth >= FRAME_CHUNK && ps->depth % FRAME_CHUNK == 0 && !ps->more[ps->depth / FRAME_CHUNK] &&
        !(ps->more[ps->depth / FRAME_CHUNK] = malloc(FRAME_CHUNK * sizeof(frame))))
        return fail_oom(ps);
    f = frame_at(ps, ps->depth++);
    memset(f, 0, sizeof *f);
    f->is_array = is_array;
    ps->pos++;
    skip_ws(ps);
    if (peek(ps) == (is_array ? ']' : '}')) {
        ps->pos++;
        ps->depth--;
        return true;
    }
    for (;;) {
        if (!is_array) {
            f->has_key = false; /* an error before the key names the object */
            if (peek(ps) != '"')
                return fail_at(ps, ps->pos, NULL, "expected a key (a string), found %s",
                               byte_name(peek(ps), b));
            if (!parse_string(ps, &f->key_off, &f->key_len))
                return false;
            f->has_key = true;
            if (ps->key_count == ps->key_cap) {
                size_t cap = ps->key_cap ? ps->key_cap * 2 : 16;
                key_ref *grown = realloc(ps->keys, cap * sizeof *grown);
                if (!grown)
                    return fail_oom(ps);
                ps->keys = grown;
                ps->key_cap = cap;
            }
            ps->keys[ps->key_count++] =
                (key_ref){f->key_off, f->key_len, key_hash(ps->s + f->key_off, f->key_len)};
            skip_ws(ps);
            if (peek(ps) != ':')
                return fail_at(ps, ps->pos, NULL, "expected ':' after the key, found %s",
                               byte_name(peek(ps), b));
            ps->pos++;
        }
        if (!parse_value(ps))
            return false;
        skip_ws(ps);
        if (peek(ps) == ',') {
            ps->pos++;
            skip_ws(ps);
            f->index++;
            continue;
        }
        if (peek(ps) == (is_array ? ']' : '}'))
            break;
        return fail_at(ps, ps->pos, NULL, "expected ',' or '%c', found %s", is_array ? ']' : '}',
                       byte_name(peek(ps), b));
    }
    ps->pos++;
    if (!is_array) {
        f->has_key = false; /* a duplicate is named from the object's own path */
        if (!check_duplicates(ps, first_key))
            return false;
    }
    ps->depth--;
    return true;
}

static bool parse_value(parser *ps)
{
    size_t off, len;
    char b[16];

    skip_ws(ps);
    switch (peek(ps)) {
    case '{':
        return parse_container(ps, false);
    case '[':
        return parse_container(ps, true);
    case '"':
        return parse_string(ps, &off, &len);
    case 't':
        return parse_word(ps, "true");
    case 'f':
        return parse_word(ps, "false");
    case 'n':
        return parse_word(ps, "null");
    case -1:
        return fail_at(ps, ps->pos, NULL, "expected a value, found the end");
    default:
        if (peek(ps) == '-' || (peek(ps) >= '0' && peek(ps) <= '9'))
            return parse_number(ps);
        return fail_at(ps, ps->pos, NULL, "expected a value, found %s", byte_name(peek(ps), b));
    }
}

int json_strict_check(const char *text, size_t len, json_strict_error *err)
{
    parser ps;
    int rc;

    /* Only the header is set: a frame is cleared when it is opened. */
    ps.s = (const unsigned char *)text;
    ps.len = text ? len : 0;
    ps.pos = 0;
    ps.err = err;
    ps.failed = false;
    ps.rc = 0;
    ps.depth = 0;
    ps.keys = NULL;
    ps.key_count = ps.key_cap = 0;
    memset(ps.more, 0, sizeof ps.more);
    if (parse_value(&ps)) {
        skip_ws(&ps);
        if (ps.pos < ps.len) {
            ps.depth = 0;
            fail_at(&ps, ps.pos, NULL, "unexpected %s after the JSON value (trailing characters)",
                    ps.s[ps.pos] ? "text" : "NUL byte");
        }
    }
    rc = ps.failed ? ps.rc : 0;
    free(ps.keys);
    for (size_t i = 1; i < sizeof ps.more / sizeof ps.more[0]; i++)
        free(ps.more[i]);
    return rc;
}

void json_strict_describe(const json_strict_error *err, const char *prefix, char *out, size_t outlen)
{
    bool has_prefix = prefix && prefix[0], has_path = err->path[0] != '\0';

    snprintf(out, outlen, "%s%s%s%s%s (byte %zu)", has_prefix ? prefix : "",
             has_prefix && has_path && err->path[0] != '[' ? "." : "", has_path ? err->path : "",
             has_prefix || has_path ? ": " : "", err->message, err->offset);
}

/* ---- reading a checked text ---------------------------------------------------- */

static size_t skip_ws_at(const unsigned char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* The end of the checked string whose opening quote is at i. */
static size_t skip_string(const unsigned char *s, size_t len, size_t i)
{
    for (i++; i < len && s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i + 1;
}

/* The end of the checked value that starts at i. */
static size_t skip_value(const unsigned char *s, size_t len, size_t i)
{
    size_t depth = 0;

    do {
        if (s[i] == '"') {
            i = skip_string(s, len, i);
            continue;
        }
        if (s[i] == '{' || s[i] == '[')
            depth++;
        else if (s[i] == '}' || s[i] == ']')
            depth--;
        else if (depth == 0) { /* a scalar at the top: up to the first byte that ends it */
            while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
                   s[i] != '\n' && s[i] != '\r')
                i++;
            return i;
        }
        i++;
    } while (i < len && depth > 0);
    return i;
}

bool json_strict_member(const char *text, size_t len, const char *key, size_t *off, size_t *vlen)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = skip_ws_at(s, len, 0), klen = strlen(key);

    if (i >= len || s[i] != '{')
        return false;
    i = skip_ws_at(s, len, i + 1);
    while (i < len && s[i] == '"') {
        size_t kend = skip_string(s, len, i);
        bool match = keys_equal(s + i + 1, kend - i - 2, (const unsigned char *)key, klen);
        size_t vstart = skip_ws_at(s, len, skip_ws_at(s, len, kend) + 1);
        size_t vend = skip_value(s, len, vstart);
        if (match) {
            *off = vstart;
            *vlen = vend - vstart;
            return true;
        }
        i = skip_ws_at(s, len, vend);
        if (i < len && s[i] == ',')
            i = skip_ws_at(s, len, i + 1);
    }
    return false;
}
