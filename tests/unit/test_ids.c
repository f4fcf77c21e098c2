/*
 * test_ids.c - the ids room: known ULID text vectors both ways, forgiving
 * parsing (lower case, confusable letters) and strict refusal of anything
 * else, and strictly increasing ids: 100k in a row, from many threads at
 * once, and when the wall clock steps back.
 *
 * The room is compiled into this test (the #include below) so the test can
 * drive its static id_next_locked() with a clock it controls; the rest of the
 * test uses the public calls only.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ids.c"

static const exec_id zero_id = {{0}};
static const exec_id max_id = {
    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
static const exec_id counting_id = {{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}};
#define COUNTING_TEXT "00041061050R3GG28A1C60T3GF"

static void check_format(const exec_id *id, const char *expected)
{
    char out[ID_TEXT_LEN + 1];

    memset(out, 'x', sizeof(out));
    id_format(id, out);
    assert_string_equal(out, expected);
}

static void check_parses_to(const char *text, const exec_id *expected)
{
    exec_id got;

    if (id_parse(text, &got) != 0)
        fail_msg("\"%s\" was refused", text);
    assert_memory_equal(got.bytes, expected->bytes, sizeof(got.bytes));
}

static void check_refused(const char *text)
{
    exec_id got = counting_id;

    if (id_parse(text, &got) != TARRY_EINVAL)
        fail_msg("\"%s\" was accepted", text ? text : "(null)");
    assert_memory_equal(got.bytes, counting_id.bytes, sizeof(got.bytes));
}

static void test_format_vectors(void **state)
{
    (void)state;
    exec_id ulid_example = {{0}};

    check_format(&zero_id, "00000000000000000000000000");
    check_format(&max_id, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
    check_format(&counting_id, COUNTING_TEXT);
    /* The time of the ULID spec's example, 01ARYZ6S41TSV4RRFFQ69G5FAV. */
    id_set_time(&ulid_example, 1469918176385LL);
    check_format(&ulid_example, "01ARYZ6S410000000000000000");
}

static void test_parse_vectors(void **state)
{
    (void)state;
    check_parses_to("00000000000000000000000000", &zero_id);
    check_parses_to("7ZZZZZZZZZZZZZZZZZZZZZZZZZ", &max_id);
    check_parses_to(COUNTING_TEXT, &counting_id);
}

static void test_parse_lower_case_and_confusables(void **state)
{
    (void)state;
    check_parses_to("00041061050r3gg28a1c60t3gf", &counting_id);
    check_parses_to("7zzzzzzzzzzzzzzzzzzzzzzzzz", &max_id);
    check_parses_to("7zZzZzZzZzZzZzZzZzZzZzZzZz", &max_id);
    /* I and L read as 1, O as 0, in either case. */
    check_parses_to("OO04IO6IO5OR3GG28AIC6OT3GF", &counting_id);
    check_parses_to("oo04lo6lo5or3gg28alc6ot3gf", &counting_id);
    check_parses_to("0004i061050R3GG28AlC60T3GF", &counting_id);
    check_parses_to("OOOOOOOOOOOOOOOOOOOOOOOOOO", &zero_id);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    char text[64];

    check_refused(NULL);
    check_refused("");
    check_refused("00041061050R3GG28A1C60T3G");   /* 25 */
    check_refused("00041061050R3GG28A1C60T3GF0"); /* 27 */
    check_refused("00041061050R3GG28A1C60T3GFZZZZZZZZ");
    check_refused("00041061050R3GG28A1C60T3GU"); /* U is not in the alphabet */
    check_refused("00041061050R3GG28A1C60T3Gu");
    check_refused("0004106105-0R3GG28A1C60T3G");
    check_refused("00041061050R3GG28A1C60T3G ");
    check_refused(" 0041061050R3GG28A1C60T3GF");
    check_refused("00041061050R3GG28A1C60T3G*");
    check_refused("00041061050R3GG28A1C60T3\xc3\xa9"); /* 26 bytes, one non-ASCII letter */
    /* The first character carries only 3 bits: 8 or more would be a 131st bit. */
    check_refused("80000000000000000000000000");
    check_refused("ZZZZZZZZZZZZZZZZZZZZZZZZZZ");
    /* A NUL inside makes it short, whatever follows. */
    memcpy(text, COUNTING_TEXT, sizeof(COUNTING_TEXT));
    text[10] = '\0';
    check_refused(text);
}

static void test_compare(void **state)
{
    (void)state;
    exec_id a = counting_id, b = counting_id;

    assert_int_equal(id_compare(&a, &b), 0);
    b.bytes[15]++;
    assert_true(id_compare(&a, &b) < 0);
    assert_true(id_compare(&b, &a) > 0);
    b = counting_id;
    b.bytes[0] = 0x80; /* the most significant byte decides first */
    a.bytes[15] = 0xff;
    assert_true(id_compare(&a, &b) < 0);
    assert_true(id_compare(&zero_id, &max_id) < 0);
}

static void test_time_ms(void **state)
{
    (void)state;
    exec_id id = max_id;

    assert_int_equal(id_time_ms(&zero_id), 0);
    assert_int_equal(id_time_ms(&max_id), ID_TIME_MAX);
    assert_int_equal(id_time_ms(&counting_id), 0x000102030405LL);
    id_set_time(&id, 1469918176385LL);
    assert_int_equal(id_time_ms(&id), 1469918176385LL);

    int64_t before = clock_now_ms();
    id_new(&id);
    int64_t after = clock_now_ms();
    assert_true(id_time_ms(&id) >= before && id_time_ms(&id) <= after);
}

static void test_100k_ids_increase(void **state)
{
    (void)state;
    exec_id previous, current, parsed;
    char previous_text[ID_TEXT_LEN + 1], text[ID_TEXT_LEN + 1];

    id_new(&previous);
    id_format(&previous, previous_text);
    for (int i = 0; i < 100000; i++) {
        id_new(&current);
        if (id_compare(&previous, &current) >= 0)
            fail_msg("id %d is not greater than the one before", i);
        /* The text sorts as the bytes do, so listings by text are in time order too. */
        id_format(&current, text);
        if (strcmp(previous_text, text) >= 0)
            fail_msg("id text %s does not sort after %s", text, previous_text);
        assert_int_equal(id_parse(text, &parsed), 0);
        assert_memory_equal(parsed.bytes, current.bytes, sizeof(parsed.bytes));
        previous = current;
        memcpy(previous_text, text, sizeof(text));
    }
}

#define THREADS 8
#define IDS_PER_THREAD 20000

static exec_id thread_ids[THREADS][IDS_PER_THREAD];

static void *make_ids(void *arg)
{
    exec_id *ids = arg;

    for (int i = 0; i < IDS_PER_THREAD; i++)
        id_new(&ids[i]);
    return NULL;
}

static int compare_for_sort(const void *a, const void *b)
{
    return id_compare(a, b);
}

static void test_threads_never_share_an_id(void **state)
{
    (void)state;
    pthread_t threads[THREADS];

    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, make_ids, thread_ids[t]), 0);
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(threads[t], NULL), 0);

    for (int t = 0; t < THREADS; t++)
        for (int i = 1; i < IDS_PER_THREAD; i++)
            if (id_compare(&thread_ids[t][i - 1], &thread_ids[t][i]) >= 0)
                fail_msg("thread %d: id %d is not greater than the one before", t, i);

    exec_id *all = &thread_ids[0][0];
    qsort(all, THREADS * IDS_PER_THREAD, sizeof(exec_id), compare_for_sort);
    for (int i = 1; i < THREADS * IDS_PER_THREAD; i++)
        if (id_compare(&all[i - 1], &all[i]) == 0)
            fail_msg("two threads got the same id");
}

/* Tests that drive the clock by hand start from a blank state and put the real one back. */
static int save_state(void **state)
{
    exec_id *saved = malloc(sizeof(*saved));
    if (saved == NULL)
        return -1;
    *saved = id_last;
    id_last = zero_id;
    *state = saved;
    return 0;
}

static int restore_state(void **state)
{
    id_last = *(exec_id *)*state;
    free(*state);
    return 0;
}

static void test_clock_going_back_keeps_increasing(void **state)
{
    (void)state;
    exec_id a, b, c, d;

    id_next_locked(&a, 100000);
    id_next_locked(&b, 50000); /* the clock stepped back 50 s */
    id_next_locked(&c, 99999);
    id_next_locked(&d, 100001); /* and caught up again */

    assert_true(id_compare(&a, &b) < 0);
    assert_true(id_compare(&b, &c) < 0);
    assert_true(id_compare(&c, &d) < 0);
    /* While behind, ids keep the last timestamp rather than the clock's. */
    assert_int_equal(id_time_ms(&b), 100000);
    assert_int_equal(id_time_ms(&c), 100000);
    assert_int_equal(id_time_ms(&d), 100001);
}

static void test_same_millisecond_increments(void **state)
{
    (void)state;
    exec_id a, b, expected;

    id_next_locked(&a, 2000);
    id_next_locked(&b, 2000);
    expected = a;
    assert_int_equal(id_increment_random(&expected), 0);
    assert_memory_equal(b.bytes, expected.bytes, sizeof(b.bytes));
    /* A fresh random part leaves its top bit clear, room for 2^79 increments. */
    assert_int_equal(a.bytes[ID_TIME_BYTES] & 0x80, 0);
}

static void test_new_millisecond_is_random(void **state)
{
    (void)state;
    exec_id ids[8];

    for (int i = 0; i < 8; i++)
        id_next_locked(&ids[i], 5000 + i);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(id_time_ms(&ids[i]), 5000 + i);
        for (int j = 0; j < i; j++)
            if (memcmp(ids[i].bytes + ID_TIME_BYTES, ids[j].bytes + ID_TIME_BYTES, ID_RANDOM_BYTES) == 0)
                fail_msg("ids %d and %d have the same random part", j, i);
    }
}

static void test_wrapped_random_part_borrows_next_millisecond(void **state)
{
    (void)state;
    exec_id last = max_id, next;

    id_set_time(&last, 3000);
    id_last = last;
    id_next_locked(&next, 3000);
    assert_true(id_compare(&last, &next) < 0);
    assert_int_equal(id_time_ms(&next), 3001);
}

static void test_clock_out_of_range_is_clamped(void **state)
{
    (void)state;
    exec_id before_1970, far_future;

    id_next_locked(&before_1970, -5000);
    assert_int_equal(id_time_ms(&before_1970), 0);
    id_next_locked(&far_future, INT64_C(1) << 50);
    assert_int_equal(id_time_ms(&far_future), ID_TIME_MAX);
    assert_true(id_compare(&before_1970, &far_future) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_vectors),
        cmocka_unit_test(test_parse_vectors),
        cmocka_unit_test(test_parse_lower_case_and_confusables),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_time_ms),
        cmocka_unit_test(test_100k_ids_increase),
        cmocka_unit_test(test_threads_never_share_an_id),
        cmocka_unit_test_setup_teardown(test_clock_going_back_keeps_increasing, save_state, restore_state),
        cmocka_unit_test_setup_teardown(test_same_millisecond_increments, save_state, restore_state),
        cmocka_unit_test_setup_teardown(test_new_millisecond_is_random, save_state, restore_state),
        cmocka_unit_test_setup_teardown(test_wrapped_random_part_borrows_next_millisecond, save_state,
                                        restore_state),
        cmocka_unit_test_setup_teardown(test_clock_out_of_range_is_clamped, save_state, restore_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
