/*
 * test_idmap.c - the id hash map: put, get, replace and delete; growth past
 * many resizes (100k ids from id_new); backward-shift deletion keeping every
 * other key findable, at random and in a probe run built to wrap around the
 * end of the table; absent keys, including one that shares a key's hash.
 *
 * The room is compiled into this test (the #include below) so checks can
 * use its static slot_of() to build colliding keys and to verify the
 * linear-probing invariant: every key is reachable from its home slot
 * without crossing an empty one. Everything else goes through idmap.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "idmap.c"

/* splitmix64: a seeded, reproducible shuffle. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void shuffle(size_t *order, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = next_random(rng) % (i + 1), swap = order[i];
        order[i] = order[j];
        order[j] = swap;
    }
}

/* A distinct non-NULL value per index. */
static void *value_of(size_t i)
{
    return (void *)(uintptr_t)(i * 16 + 8);
}

/* count matches the occupied slots; each key is reachable from its home. */
static void check_invariant(const idmap *m)
{
    size_t occupied = 0, mask = m->cap - 1;

    if (m->cap & mask)
        fail_msg("capacity %zu is not a power of two", m->cap);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].value)
            continue;
        occupied++;
        size_t home = slot_of(m, &m->slots[i].key);
        for (size_t j = home; j != i; j = (j + 1) & mask)
            if (!m->slots[j].value)
                fail_msg("slot %zu (home %zu) is unreachable: slot %zu between them is empty", i, home, j);
    }
    assert_int_equal(occupied, m->count);
    /* An empty slot must remain, or a miss would probe forever. */
    if (m->cap && m->count >= m->cap)
        fail_msg("%zu keys fill all %zu slots", m->count, m->cap);
}

/* keys[i] maps to value_of(i) exactly where present[i]. */
static void check_contents(const idmap *m, const exec_id *keys, const bool *present, size_t n)
{
    size_t live = 0;

    for (size_t i = 0; i < n; i++) {
        void *got = idmap_get(m, &keys[i]);
        if (present[i] && got != value_of(i))
            fail_msg("key %zu: got %p, expected %p", i, got, value_of(i));
        if (!present[i] && got)
            fail_msg("deleted key %zu is still found (%p)", i, got);
        live += present[i];
    }
    assert_int_equal(m->count, live);
}

static void test_empty(void **state)
{
    (void)state;
    idmap m;
    exec_id key;

    id_new(&key);
    idmap_init(&m);
    assert_int_equal(m.count, 0);
    assert_null(idmap_get(&m, &key));
    assert_null(idmap_del(&m, &key));
    idmap_free(&m);
    idmap_free(&m); /* freeing twice is harmless: free resets the map */
    assert_null(m.slots);
    assert_int_equal(m.cap, 0);
}

static void test_put_get_del(void **state)
{
    (void)state;
    idmap m;
    exec_id keys[3];
    int values[3];

    idmap_init(&m);
    for (int i = 0; i < 3; i++) {
        id_new(&keys[i]);
        assert_int_equal(idmap_put(&m, &keys[i], &values[i]), 0);
        assert_int_equal(m.count, (size_t)i + 1);
    }
    for (int i = 0; i < 3; i++)
        assert_ptr_equal(idmap_get(&m, &keys[i]), &values[i]);

    assert_ptr_equal(idmap_del(&m, &keys[1]), &values[1]);
    assert_int_equal(m.count, 2);
    assert_null(idmap_get(&m, &keys[1]));
    assert_null(idmap_del(&m, &keys[1]));
    assert_int_equal(m.count, 2);
    assert_ptr_equal(idmap_get(&m, &keys[0]), &values[0]);
    assert_ptr_equal(idmap_get(&m, &keys[2]), &values[2]);

    /* Put back after delete. */
    assert_int_equal(idmap_put(&m, &keys[1], &values[1]), 0);
    assert_ptr_equal(idmap_get(&m, &keys[1]), &values[1]);
    assert_int_equal(m.count, 3);

    for (int i = 0; i < 3; i++)
        assert_ptr_equal(idmap_del(&m, &keys[i]), &values[i]);
    assert_int_equal(m.count, 0);
    for (int i = 0; i < 3; i++)
        assert_null(idmap_get(&m, &keys[i]));
    check_invariant(&m);
    idmap_free(&m);
}

static void test_replace(void **state)
{
    (void)state;
    idmap m;
    exec_id key, other;
    int first, second, third;

    idmap_init(&m);
    id_new(&key);
    id_new(&other);
    assert_int_equal(idmap_put(&m, &key, &first), 0);
    assert_int_equal(idmap_put(&m, &other, &third), 0);
    assert_int_equal(idmap_put(&m, &key, &second), 0);
    assert_int_equal(m.count, 2);
    assert_ptr_equal(idmap_get(&m, &key), &second);
    assert_ptr_equal(idmap_get(&m, &other), &third);
    assert_ptr_equal(idmap_del(&m, &key), &second);
    assert_null(idmap_get(&m, &key));
    assert_int_equal(m.count, 1);
    check_invariant(&m);
    idmap_free(&m);
}

static void test_absent_keys(void **state)
{
    (void)state;
    enum { N = 100 };
    idmap m;
    exec_id keys[N], absent;
    bool present[N];

    idmap_init(&m);
    for (size_t i = 0; i < N; i++) {
        id_new(&keys[i]);
        present[i] = true;
        assert_int_equal(idmap_put(&m, &keys[i], value_of(i)), 0);
    }
    for (int i = 0; i < 1000; i++) {
        id_new(&absent);
        assert_null(idmap_get(&m, &absent));
        assert_null(idmap_del(&m, &absent));
    }
    /* Same hash (the low 8 bytes), different id: a full compare is needed. */
    for (size_t i = 0; i < N; i++) {
        absent = keys[i];
        absent.bytes[0] ^= 0x80;
        assert_null(idmap_get(&m, &absent));
        assert_null(idmap_del(&m, &absent));
        absent = keys[i];
        absent.bytes[7] ^= 1;
        assert_null(idmap_get(&m, &absent));
        assert_null(idmap_del(&m, &absent));
    }
    check_contents(&m, keys, present, N);
    check_invariant(&m);
    idmap_free(&m);
}

static void test_growth(void **state)
{
    (void)state;
    enum { N = 100000 };
    idmap m;
    exec_id *keys = malloc(N * sizeof *keys), absent;
    bool *present = malloc(N * sizeof *present);
    size_t resizes = 0, cap = 0;

    assert_non_null(keys);
    assert_non_null(present);
    idmap_init(&m);
    for (size_t i = 0; i < N; i++) {
        id_new(&keys[i]);
        present[i] = true;
        assert_int_equal(idmap_put(&m, &keys[i], value_of(i)), 0);
        assert_int_equal(m.count, i + 1);
        if (m.cap != cap) {
            resizes++;
            cap = m.cap;
            /* Right after a resize every key so far is still there. */
            for (size_t j = 0; j <= i; j++)
                if (idmap_get(&m, &keys[j]) != value_of(j))
                    fail_msg("after growing to %zu slots at %zu keys, key %zu is lost", cap, i + 1, j);
        }
        if (m.count >= m.cap)
            fail_msg("%zu keys fill all %zu slots", m.count, m.cap);
    }
    if (resizes < 10)
        fail_msg("only %zu resizes for %d keys", resizes, N);
    check_invariant(&m);
    check_contents(&m, keys, present, N);
    for (int i = 0; i < 10000; i++) {
        id_new(&absent);
        assert_null(idmap_get(&m, &absent));
    }
    print_message("%d ids in %zu slots after %zu resizes\n", N, m.cap, resizes);
    idmap_free(&m);
    free(keys);
    free(present);
}

/* Insert n, delete a random half checking each return, check all, put back. */
static void delete_random_half(size_t n, uint64_t seed)
{
    idmap m;
    exec_id *keys = malloc(n * sizeof *keys);
    bool *present = malloc(n * sizeof *present);
    size_t *order = malloc(n * sizeof *order);
    uint64_t rng = seed;

    assert_non_null(keys);
    assert_non_null(present);
    assert_non_null(order);
    idmap_init(&m);
    for (size_t i = 0; i < n; i++) {
        id_new(&keys[i]);
        present[i] = true;
        assert_int_equal(idmap_put(&m, &keys[i], value_of(i)), 0);
    }
    shuffle(order, n, &rng);
    for (size_t k = 0; k < n / 2; k++) {
        size_t i = order[k];
        void *got = idmap_del(&m, &keys[i]);
        if (got != value_of(i))
            fail_msg("seed %llu: deleting key %zu returned %p, expected %p", (unsigned long long)seed, i, got,
                     value_of(i));
        present[i] = false;
        assert_null(idmap_del(&m, &keys[i]));
    }
    check_invariant(&m);
    check_contents(&m, keys, present, n);

    /* Put the deleted half back: all findable again. */
    for (size_t k = 0; k < n / 2; k++) {
        size_t i = order[k];
        assert_int_equal(idmap_put(&m, &keys[i], value_of(i)), 0);
        present[i] = true;
    }
    check_invariant(&m);
    check_contents(&m, keys, present, n);
    idmap_free(&m);
    free(keys);
    free(present);
    free(order);
}

static void test_delete_random_half(void **state)
{
    (void)state;
    static const size_t sizes[] = {20000, 48, 49, 3000};

    for (uint64_t seed = 1; seed <= 3; seed++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            delete_random_half(sizes[i], seed);
}

/* Small maps, every key checked after every single delete. */
static void test_delete_checks_all_after_each(void **state)
{
    (void)state;
    enum { N = 300 };
    exec_id keys[N];
    bool present[N];
    size_t order[N];
    uint64_t rng = 42;
    idmap m;

    for (int round = 0; round < 20; round++) {
        idmap_init(&m);
        for (size_t i = 0; i < N; i++) {
            id_new(&keys[i]);
            present[i] = true;
            assert_int_equal(idmap_put(&m, &keys[i], value_of(i)), 0);
        }
        shuffle(order, N, &rng);
        for (size_t k = 0; k < N; k++) {
            assert_ptr_equal(idmap_del(&m, &keys[order[k]]), value_of(order[k]));
            present[order[k]] = false;
            check_invariant(&m);
            check_contents(&m, keys, present, N);
        }
        assert_int_equal(m.count, 0);
        idmap_free(&m);
    }
}

/*
 * A probe run that wraps past the last slot: keys whose home is one of the
 * last four slots of a 64-slot table, plus keys homed in the first slots
 * (where the wrapped run lands) and just after it. Deletions in random
 * orders must pull every later member back correctly across the wrap.
 */
static void test_delete_in_wrapping_run(void **state)
{
    (void)state;
    enum { TAIL = 24, HEAD = 10, AFTER = 6, N = TAIL + HEAD + AFTER };
    idmap probe = {NULL, 64, 0}; /* only its cap is used, by slot_of */
    exec_id keys[N];
    bool present[N];
    size_t order[N], tail = 0, head = 0, after = 0, tries = 0;
    uint64_t rng = 7;
    idmap m;

    /* Ids from id_new differ in their low bytes, so homes spread; keep the
     * ones that land where the test needs them. */
    while (tail + head + after < N) {
        exec_id id;
        id_new(&id);
        size_t home = slot_of(&probe, &id);
        if (home >= 60 && tail < TAIL)
            keys[tail++] = id;
        else if (home <= 3 && head < HEAD)
            keys[TAIL + head++] = id;
        else if (home >= 20 && home <= 30 && after < AFTER)
            keys[TAIL + HEAD + after++] = id;
        assert_true(++tries < 1000000);
    }

    for (int round = 0; round < 50; round++) {
        idmap_init(&m);
        for (size_t i = 0; i < N; i++) {
            present[i] = true;
            assert_int_equal(idmap_put(&m, &keys[i], value_of(i)), 0);
        }
        assert_int_equal(m.cap, 64); /* 40 keys: still the first table */
        if (round == 0) {
            /* The run really wraps: the last slot and slot 0 are both full. */
            assert_non_null(m.slots[63].value);
            assert_non_null(m.slots[0].value);
        }
        check_invariant(&m);
        shuffle(order, N, &rng);
        for (size_t k = 0; k < N; k++) {
            size_t i = order[k];
            if (idmap_del(&m, &keys[i]) != value_of(i))
                fail_msg("round %d: deleting key %zu returned the wrong value", round, i);
            present[i] = false;
            check_invariant(&m);
            check_contents(&m, keys, present, N);
            if (k == N / 2) {
                /* Re-insert a few midway, into the shifted table. */
                for (size_t r = 0; r <= k; r += 3) {
                    assert_int_equal(idmap_put(&m, &keys[order[r]], value_of(order[r])), 0);
                    present[order[r]] = true;
                }
                check_invariant(&m);
                check_contents(&m, keys, present, N);
                for (size_t r = 0; r <= k; r += 3) {
                    assert_ptr_equal(idmap_del(&m, &keys[order[r]]), value_of(order[r]));
                    present[order[r]] = false;
                }
                check_invariant(&m);
            }
        }
        assert_int_equal(m.count, 0);
        idmap_free(&m);
    }
}

/* After a burst, deleting gives the memory back; what is left is all there. */
static void test_shrinks_after_burst(void **state)
{
    (void)state;
    enum { N = 100000, KEEP = 100 };
    idmap m;
    exec_id *keys = malloc(N * sizeof *keys);
    bool *present = malloc(N * sizeof *present);
    size_t peak;

    assert_non_null(keys);
    assert_non_null(present);
    idmap_init(&m);
    for (size_t i = 0; i < N; i++) {
        id_new(&keys[i]);
        present[i] = true;
        assert_int_equal(idmap_put(&m, &keys[i], value_of(i)), 0);
    }
    peak = m.cap;
    for (size_t i = KEEP; i < N; i++) {
        assert_ptr_equal(idmap_del(&m, &keys[i]), value_of(i));
        present[i] = false;
        if (i % 9973 == 0)
            check_invariant(&m);
    }
    if (m.cap > 2048)
        fail_msg("%d keys left in %zu slots (the peak was %zu): the map kept its burst size", KEEP, m.cap, peak);
    check_invariant(&m);
    check_contents(&m, keys, present, N);
    print_message("%d ids at the peak in %zu slots; %d left in %zu\n", N, peak, KEEP, m.cap);
    idmap_free(&m);
    free(keys);
    free(present);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_absent_keys),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_shrinks_after_burst),
        cmocka_unit_test(test_delete_random_half),
        cmocka_unit_test(test_delete_checks_all_after_each),
        cmocka_unit_test(test_delete_in_wrapping_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
