/*
 * jcore_json.h - the JSON helpers of the host function table (tarry.h,
 * header revision 6): typed readers by dotted path and the printf-like
 * builder. Implemented once with cJSON for the host and the test kit, so a
 * plugin needs no JSON library; every text in is checked strictly
 * (json_strict.h) first, every text out is strict JSON.
 *
 * Private to sdk/core; jcore.c puts these in its tarry_host_api.
 */
#ifndef TARRY_JCORE_JSON_H
#define TARRY_JCORE_JSON_H

#include <stdarg.h>
#include <stdint.h>

#include "tarry.h"

const char *jcore_json_str(tarry_ctx *ctx, const char *json, const char *path);
int jcore_json_int(tarry_ctx *ctx, const char *json, const char *path, int64_t *out);
int jcore_json_num(tarry_ctx *ctx, const char *json, const char *path, double *out);
int jcore_json_bool(tarry_ctx *ctx, const char *json, const char *path, int *out);
const char *jcore_json_raw(tarry_ctx *ctx, const char *json, const char *path);
int jcore_json_has(tarry_ctx *ctx, const char *json, const char *path);
const char *jcore_jsonv(tarry_ctx *ctx, const char *fmt, va_list ap);

#endif
