/*
 * exec_opts.h - the per-execution options a trigger, `tarry run` or a
 * parent's tarry_call may give: metadata, an idempotency key and a discard
 * time. Pure checks and parsing (no store, no engine, no I/O), so the API,
 * the CLI and the engine (children) refuse the same mistakes with the same
 * words, and the unit test covers every limit.
 *
 * Limits are Defer's: at most 25 metadata pairs; keys and values are 1 to
 * 256 printable characters (UTF-8, counted in characters, no control
 * characters); an idempotency key likewise 1 to 256 printable characters.
 */
#ifndef TARRY_EXEC_OPTS_H
#define TARRY_EXEC_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define EXEC_META_MAX_PAIRS 25
#define EXEC_META_TEXT_MAX 256 /* characters in a metadata key or value */
#define EXEC_IDEM_KEY_MAX 256  /* characters in an idempotency key */

/*
 * Whether `s` (NUL-terminated) is 1..max printable characters: valid UTF-8,
 * no control characters (below 0x20, 0x7f, U+0080..U+009F). 0, or
 * TARRY_EINVAL with the reason ("empty", "longer than 256 characters",
 * "holds a control character at byte 3", "is not valid UTF-8") in err.
 */
int exec_opts_text_check(const char *s, size_t max, char *err, size_t errlen);

/* An idempotency key: 0 or TARRY_EINVAL, err "idempotency_key: <reason>". */
int exec_opts_idempotency_key(const char *key, char *err, size_t errlen);

/*
 * Metadata as a parsed JSON value: an object of at most 25 string members
 * whose names and values pass exec_opts_text_check, no name twice. 0, or
 * TARRY_EINVAL with err naming the key: `metadata."team": the value is
 * longer than 256 characters`, `metadata: 26 pairs; at most 25`.
 */
int exec_opts_metadata(const cJSON *obj, char *err, size_t errlen);

/* The same on JSON text (a child's metadata_json, a stored record). */
int exec_opts_metadata_text(const char *json, char *err, size_t errlen);

/*
 * discard_after: a duration from `now_ms` ("10m", "1 day") or an RFC 3339
 * time ("2026-12-01T10:00:00Z"); the time it means in *at_ms. 0, or
 * TARRY_EINVAL with err "discard_after: <reason>". A duration of 0 or a
 * time in the past is accepted (discarded unless it starts at once).
 */
int exec_opts_discard_after(const char *text, int64_t now_ms, int64_t *at_ms, char *err, size_t errlen);

/*
 * Whether the metadata object text `json` holds `key` with exactly `value`.
 * False for NULL or unparsable text.
 */
bool exec_opts_metadata_has(const char *json, const char *key, const char *value);

#endif
