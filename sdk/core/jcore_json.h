/*
 * jcore_json.h - the JSON check the host and the test kit both hand the
 * journal core (jcore_hooks.json_valid): Debian's cJSON, the library the
 * host parses everything else with, so a text is JSON in the kit exactly
 * when it is in the host. Unlike the rest of sdk/core/ this links libcjson.
 */
#ifndef TARRY_JCORE_JSON_H
#define TARRY_JCORE_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Whether json[0..len) (NUL-terminated at len) is one JSON text; if not,
 * *stop is the byte offset where it stopped being one. `user` is unused.
 * Thread-safe. */
bool jcore_json_valid(void *user, const char *json, size_t len, size_t *stop);

#endif
