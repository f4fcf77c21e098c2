/*
 * idmap.h - a hash map from execution id to a pointer (open addressing,
 * linear probing, backward-shift deletion so no tombstones pile up).
 * Ids are already random in their low bytes, so they hash by themselves.
 * It grows at three quarters full and shrinks at a sixteenth, so its memory
 * follows what it holds. Not thread-safe: loop thread only. Slot pointers
 * are not stable across a put or a del.
 */
#ifndef TARRY_IDMAP_H
#define TARRY_IDMAP_H

#include <stddef.h>

#include "ids.h"

typedef struct idmap_slot {
    exec_id key;
    void *value; /* NULL: empty slot */
} idmap_slot;

typedef struct idmap {
    idmap_slot *slots;
    size_t cap, count; /* cap is a power of two */
} idmap;

void idmap_init(idmap *m);
void idmap_free(idmap *m);
void *idmap_get(const idmap *m, const exec_id *key);
/* Insert or replace; value must not be NULL. Returns 0 or TARRY_ENOMEM. */
int idmap_put(idmap *m, const exec_id *key, void *value);
/* Remove and return the value, or NULL if absent. */
void *idmap_del(idmap *m, const exec_id *key);

#endif
