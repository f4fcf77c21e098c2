/*
 * ids.c - execution ids: 48 bits of Unix milliseconds, then 80 bits that are
 * random for the first id of a millisecond and incremented after (ULID with
 * monotonic increments), shown as 26 Crockford base32 characters.
 *
 * Ids are LMDB keys and the order executions are listed in, so this room
 * guarantees that every id it makes is greater than the one before, even when
 * the wall clock steps back (NTP, a VM restored from a snapshot): it then
 * keeps the last timestamp and increments. The only state is that last id,
 * behind a mutex; the random part comes from getrandom(2).
 */
#include "ids.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"
#include "status.h"

#define ID_TIME_BYTES 6 /* 48 bits of milliseconds: enough until the year 10889 */
#define ID_RANDOM_BYTES 10
#define ID_TIME_MAX ((INT64_C(1) << 48) - 1)

/* Crockford base32: no I, L, O or U, so ids read aloud and copy by hand safely. */
static const char id_alphabet[32] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static exec_id id_last; /* the last id made; all zero before the first */

static void id_random_fill(uint8_t *out, size_t len)
{
    while (len > 0) {
        ssize_t got = getrandom(out, len, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            /*
             * Only kernels before 3.17 lack getrandom(2). Minting ids from a
             * weaker source could collide with another host's ids in a shared
             * store, which is worse than refusing to run.
             */
            fprintf(stderr, "tarry: getrandom failed (errno %d); cannot make execution ids\n", errno);
            abort();
        }
        out += got;
        len -= (size_t)got;
    }
}

static void id_set_time(exec_id *id, int64_t ms)
{
    for (int i = ID_TIME_BYTES - 1; i >= 0; i--) {
        id->bytes[i] = (uint8_t)(ms & 0xff);
        ms >>= 8;
    }
}

/* Add one to the 80-bit random part; returns 1 if it wrapped to zero. */
static int id_increment_random(exec_id *id)
{
    for (int i = 15; i >= ID_TIME_BYTES; i--)
        if (++id->bytes[i] != 0)
            return 0;
    return 1;
}

/* A fresh random part whose top bit is clear, leaving 2^79 increments before it can wrap. */
static void id_new_random(exec_id *id)
{
    id_random_fill(id->bytes + ID_TIME_BYTES, ID_RANDOM_BYTES);
    id->bytes[ID_TIME_BYTES] &= 0x7f;
}

/*
 * The id for a clock reading of now_ms. Separate from id_new() so a test can
 * turn the clock back; the caller holds id_lock.
 */
static void id_next_locked(exec_id *out, int64_t now_ms)
{
    int64_t last_ms = id_time_ms(&id_last);

    if (now_ms < 0)
        now_ms = 0;
    if (now_ms > ID_TIME_MAX)
        now_ms = ID_TIME_MAX;

    if (now_ms > last_ms) {
        id_set_time(&id_last, now_ms);
        id_new_random(&id_last);
    } else if (id_increment_random(&id_last)) {
        /*
         * 2^79 ids in one millisecond, or a clock stuck behind for that long:
         * borrow the next millisecond rather than repeat an id. Past the
         * year 10889 there is no next millisecond to borrow.
         */
        if (last_ms == ID_TIME_MAX) {
            fprintf(stderr, "tarry: execution id space exhausted\n");
            abort();
        }
        id_set_time(&id_last, last_ms + 1);
        id_new_random(&id_last);
    }
    *out = id_last;
}

void id_new(exec_id *out)
{
    int64_t now_ms = clock_now_ms();

    pthread_mutex_lock(&id_lock);
    id_next_locked(out, now_ms);
    pthread_mutex_unlock(&id_lock);
}

/*
 * The text form is the id as a 130-bit big-endian number (two zero bits, then
 * the 128 bits of the id) cut into 26 groups of 5 bits, most significant first.
 */
void id_format(const exec_id *id, char out[ID_TEXT_LEN + 1])
{
    for (int i = 0; i < ID_TEXT_LEN; i++) {
        int value = 0;
        for (int b = i * 5 - 2; b < i * 5 + 3; b++) {
            value <<= 1;
            if (b >= 0)
                value |= (id->bytes[b / 8] >> (7 - b % 8)) & 1;
        }
        out[i] = id_alphabet[value];
    }
    out[ID_TEXT_LEN] = '\0';
}

/* The 5-bit value of a text character, or -1; accepts what a person may have typed for it. */
static int id_char_value(char c)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    if (c == 'I' || c == 'L')
        return 1;
    if (c == 'O')
        return 0;
    const char *found = c != '\0' ? memchr(id_alphabet, c, sizeof(id_alphabet)) : NULL;
    return found != NULL ? (int)(found - id_alphabet) : -1;
}

int id_parse(const char *text, exec_id *out)
{
    exec_id parsed = {{0}};

    if (text == NULL || strnlen(text, ID_TEXT_LEN + 1) != ID_TEXT_LEN)
        return TARRY_EINVAL;
    /* 26 characters carry 130 bits; the top two must be zero, so the first is 0-7. */
    if (id_char_value(text[0]) < 0 || id_char_value(text[0]) > 7)
        return TARRY_EINVAL;
    for (int i = 0; i < ID_TEXT_LEN; i++) {
        int value = id_char_value(text[i]);
        if (value < 0)
            return TARRY_EINVAL;
        for (int b = i * 5 - 2, bit = 4; bit >= 0; b++, bit--)
            if (b >= 0 && (value >> bit) & 1)
                parsed.bytes[b / 8] |= (uint8_t)(0x80 >> (b % 8));
    }
    *out = parsed;
    return 0;
}

int64_t id_time_ms(const exec_id *id)
{
    int64_t ms = 0;

    for (int i = 0; i < ID_TIME_BYTES; i++)
        ms = ms << 8 | id->bytes[i];
    return ms;
}

int id_compare(const exec_id *a, const exec_id *b)
{
    return memcmp(a->bytes, b->bytes, sizeof(a->bytes));
}
