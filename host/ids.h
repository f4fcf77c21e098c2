/*
 * ids.h - execution ids: 128 bits, time-ordered, shown as 26 characters.
 *
 * Layout (big-endian, so byte order is time order and ids are sortable LMDB
 * keys): 48 bits of Unix time in milliseconds, then 80 bits that are random
 * for the first id of a millisecond and incremented for each further id in
 * the same millisecond, so ids made by one process are strictly increasing.
 * Text form: Crockford base32 (ULID), upper case; parsing accepts lower case
 * and the usual confusable letters (I, L -> 1; O -> 0).
 */
#ifndef TARRY_IDS_H
#define TARRY_IDS_H

#include <stdint.h>

#define ID_TEXT_LEN 26

typedef struct exec_id {
    uint8_t bytes[16];
} exec_id;

/*
 * A new id, strictly greater than every id this process made before, also
 * when the wall clock steps back (the id then keeps the last timestamp and
 * increments). Thread-safe. Aborts the process if getrandom(2) is missing
 * (Linux before 3.17) rather than make guessable ids.
 */
void id_new(exec_id *out);

/* Write the 26-character text form and a NUL into out. */
void id_format(const exec_id *id, char out[ID_TEXT_LEN + 1]);

/*
 * Parse text (exactly 26 characters; the first 0-7, as 26 characters hold
 * 130 bits). Returns 0, or TARRY_EINVAL (NULL, wrong length, a character
 * outside the alphabet) with *out untouched.
 */
int id_parse(const char *text, exec_id *out);

/* The id's creation time in Unix milliseconds. */
int64_t id_time_ms(const exec_id *id);

/* memcmp order; returns <0, 0, >0. */
int id_compare(const exec_id *a, const exec_id *b);

#endif
