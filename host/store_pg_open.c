/*
 * store_pg_open.c - a stand-in for the PostgreSQL store's opener until that
 * implementation lands (issue 12): store_open_url hands postgres:// URLs
 * here, and the answer is a clear refusal. The PostgreSQL work replaces
 * this file.
 *
 * May not: do anything but refuse.
 */
#include "store_impl.h"

#include <stdio.h>

#include "status.h"

int store_pg_open(store **out, const char *url, char *err, size_t errlen)
{
    (void)out;
    (void)url; /* never echoed: it may hold a password */
    snprintf(err, errlen, "the PostgreSQL store is not built yet");
    return TARRY_EINVAL;
}
