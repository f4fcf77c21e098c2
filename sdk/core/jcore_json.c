/*
 * jcore_json.c - JSON validation with cJSON (jcore_json.h).
 */
#include "jcore_json.h"

#include <cjson/cJSON.h>

bool jcore_json_valid(void *user, const char *json, size_t len, size_t *stop)
{
    /* The Opts variant reports where parsing stopped through its argument,
     * not through cJSON_GetErrorPtr(), which every thread shares. */
    const char *where = NULL;
    cJSON *parsed = cJSON_ParseWithLengthOpts(json, len + 1, &where, 1);

    (void)user;
    if (parsed) {
        cJSON_Delete(parsed);
        return true;
    }
    *stop = where && where >= json && where <= json + len ? (size_t)(where - json) : 0;
    return false;
}
