/*
 * bytesize.h - sizes as people write them: "1TiB", "64 GiB", "512MiB",
 * "4096" (bytes). Binary units (KiB = 1024); "K", "M", "G", "T" and "KB",
 * "MB", "GB", "TB" are taken as the same binary units, since memory and
 * map sizes are binary.
 */
#ifndef TARRY_BYTESIZE_H
#define TARRY_BYTESIZE_H

#include <stddef.h>
#include <stdint.h>

/* Returns 0, or TARRY_EINVAL with a one-line reason quoting the text in err. */
int bytesize_parse(const char *text, uint64_t *out, char *err, size_t errlen);

#endif
