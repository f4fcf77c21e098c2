/*
 * json_strict.h - the strict JSON check: one JSON text by RFC 8259, with
 * nothing a strict reader could take differently from us.
 *
 * cJSON (which the host parses with) is lenient: it reads "01", raw
 * control characters in strings, invalid UTF-8, lone surrogates and
 * duplicate keys (keeping both), turns 1e999 into null and
 * 9007199254740993 into ...992, stops a string at \u0000, and with a
 * length ignores trailing bytes. So every JSON text that comes in from
 * outside (a request body, a plugin's result, a step's result, a child's
 * args) is walked here first, on its raw bytes, and refused unless it is:
 * - exactly one value (whitespace around it only);
 * - valid UTF-8 everywhere (no overlong forms, no UTF-16 surrogates, nothing
 *   past U+10FFFF), with no NUL byte and no \u0000, and no unpaired
 *   \uD800-\uDFFF escape;
 * - free of raw control characters in strings (RFC 8259 wants them escaped);
 * - free of duplicate keys in any object, at any depth (compared decoded,
 *   so "a" and "\u0061" are the same key);
 * - made of numbers a double holds as written: an integer literal must come
 *   back digit for digit (beyond 2^53 most do not), and no number may
 *   overflow to infinity or underflow to zero;
 * - nested at most JSON_STRICT_MAX_DEPTH deep (cJSON stops at 1000).
 * What passes is stored and served byte for byte as it came.
 *
 * Libc only, no global state, thread-safe: the host (API bodies, plugin
 * results on worker threads) and the test kit compile the same file, so a
 * text is valid in the kit exactly when it is in the host.
 */
#ifndef TARRY_JSON_STRICT_H
#define TARRY_JSON_STRICT_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_STRICT_MAX_DEPTH 512

/* Why a text was refused. */
typedef struct json_strict_error {
    size_t offset;     /* the byte where the problem is */
    char path[256];    /* the value it is in, e.g. "args.user.id" or "items[2]"; "" for the whole text */
    char message[256]; /* what is wrong, e.g. "integer 9007199254740993 cannot be represented exactly" */
} json_strict_error;

/*
 * Whether text[0..len) is one strict JSON text (above). It need not be
 * NUL-terminated; a NUL inside it is refused. Returns 0, TARRY_EINVAL with
 * *err filled (err may be NULL), or TARRY_ENOMEM.
 */
int json_strict_check(const char *text, size_t len, json_strict_error *err);

/*
 * The error as one line: "PREFIX.PATH: MESSAGE (byte N)", leaving out the
 * parts that are empty (prefix may be NULL). Always NUL-terminates out.
 */
void json_strict_describe(const json_strict_error *err, const char *prefix, char *out, size_t outlen);

/*
 * The length (1..4) of the valid UTF-8 character at p[0..avail), or 0 if
 * the bytes there are no UTF-8 (RFC 3629: no overlong forms, surrogates or
 * code points past U+10FFFF). avail must be at least 1.
 */
size_t json_strict_utf8_len(const unsigned char *p, size_t avail);

/*
 * In a text json_strict_check accepted whose value is an object, the raw
 * bytes of member `key`'s value: *off and *vlen, exactly as written. Returns
 * false if the value is no object or has no such member.
 */
bool json_strict_member(const char *text, size_t len, const char *key, size_t *off, size_t *vlen);

#endif
