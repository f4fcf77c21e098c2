/*
 * idmap.c - see idmap.h.
 */
#include "idmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

static size_t slot_of(const idmap *m, const exec_id *key)
{
    uint64_t h;
    /* The last 8 bytes are the random/increment part of the id. */
    memcpy(&h, key->bytes + 8, 8);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (size_t)h & (m->cap - 1);
}

void idmap_init(idmap *m)
{
    m->slots = NULL;
    m->cap = m->count = 0;
}

void idmap_free(idmap *m)
{
    free(m->slots);
    idmap_init(m);
}

void *idmap_get(const idmap *m, const exec_id *key)
{
    if (!m->count)
        return NULL;
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i].value)
            return NULL;
        if (memcmp(m->slots[i].key.bytes, key->bytes, 16) == 0)
            return m->slots[i].value;
    }
}

static int resize(idmap *m, size_t cap)
{
    idmap old = *m;
    if (!(m->slots = calloc(cap, sizeof *m->slots))) {
        *m = old;
        return TARRY_ENOMEM;
    }
    m->cap = cap;
    m->count = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].value)
            idmap_put(m, &old.slots[i].key, old.slots[i].value);
    free(old.slots);
    return 0;
}

int idmap_put(idmap *m, const exec_id *key, void *value)
{
    if ((m->count + 1) * 4 > m->cap * 3 && resize(m, m->cap ? m->cap * 2 : 64) != 0)
        return TARRY_ENOMEM;
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i].value) {
            m->slots[i].key = *key;
            m->slots[i].value = value;
            m->count++;
            return 0;
        }
        if (memcmp(m->slots[i].key.bytes, key->bytes, 16) == 0) {
            m->slots[i].value = value;
            return 0;
        }
    }
}

void *idmap_del(idmap *m, const exec_id *key)
{
    size_t i, j, mask = m->cap - 1;
    void *value;

    if (!m->count)
        return NULL;
    for (i = slot_of(m, key);; i = (i + 1) & mask) {
        if (!m->slots[i].value)
            return NULL;
        if (memcmp(m->slots[i].key.bytes, key->bytes, 16) == 0)
            break;
    }
    value = m->slots[i].value;
    m->slots[i].value = NULL;
    m->count--;
    /* Backward shift: pull later members of the probe run into the hole. */
    for (j = (i + 1) & mask; m->slots[j].value; j = (j + 1) & mask) {
        size_t home = slot_of(m, &m->slots[j].key);
        /* Move j into i if its home is not cyclically within (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            m->slots[j].value = NULL;
            i = j;
        }
    }
    /* Give memory back after a burst (the engine's maps follow load): at a
     * sixteenth full, a quarter of the size. Out of memory keeps it as is. */
    if (m->cap > 1024 && m->count * 16 < m->cap)
        resize(m, m->cap / 4);
    return value;
}
