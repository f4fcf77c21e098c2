/*
 * bytesize.c - see bytesize.h. No state, no allocation.
 */
#include "bytesize.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "status.h"

int bytesize_parse(const char *text, uint64_t *out, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        unsigned shift;
    } units[] = {{"", 0},     {"b", 0},  {"k", 10},  {"kb", 10},  {"kib", 10}, {"m", 20},  {"mb", 20},
                 {"mib", 20}, {"g", 30}, {"gb", 30}, {"gib", 30}, {"t", 40},   {"tb", 40}, {"tib", 40}};
    unsigned long long n;
    char *end;

    if (!text || !isdigit((unsigned char)text[0]))
        goto bad;
    errno = 0;
    n = strtoull(text, &end, 10);
    if (errno)
        goto bad;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].name) != 0)
            continue;
        if (units[i].shift && n > (UINT64_MAX >> units[i].shift))
            goto bad;
        *out = (uint64_t)n << units[i].shift;
        return 0;
    }
bad:
    snprintf(err, errlen, "\"%s\" is not a size (want e.g. 1TiB, 64GiB, 512MiB or a number of bytes)",
             text ? text : "");
    return TARRY_EINVAL;
}
