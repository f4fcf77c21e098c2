/*
 * hog.c - a function whose allocation runs away (issue 8, item 4).
 *
 *   hog   args {"max_mb": N} (default 8192): allocates 1 MiB blocks until
 *         malloc returns NULL or N MiB are held, writing to each block so
 *         none is optimised away, then frees them all. It fails with
 *         "malloc failed after M MiB" when malloc said no (the host's
 *         memory limit at work), and succeeds with {"allocated_mb": N,
 *         "limited": false} when it never did. The blocks are not touched
 *         beyond their first page, so without a limit the host's memory
 *         still stays small: a test that finds no limit fails without
 *         harming the machine.
 */
#include <tarry.h>

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>

#define BLOCK (1024 * 1024)

static tarry_status hog(tarry_ctx *ctx, const char *args_json)
{
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(args, "max_mb");
    size_t limit = cJSON_IsNumber(max) && max->valuedouble > 0 ? (size_t)max->valuedouble : 8192, held = 0;
    void **head = NULL;
    char result[96];

    cJSON_Delete(args);
    for (; held < limit; held++) {
        void **block = malloc(BLOCK);
        if (!block)
            break;
        *block = head; /* a list through the blocks themselves: nothing else to allocate */
        head = block;
    }
    while (head) {
        void **next = *head;
        free(head);
        head = next;
    }
    if (held < limit)
        return tarry_set_error(ctx, "malloc failed after %zu MiB", held);
    snprintf(result, sizeof result, "{\"allocated_mb\":%zu,\"limited\":false}", held);
    return tarry_set_result(ctx, result);
}

TARRY_PLUGIN("hog", "1.0.0", TARRY_FUNCTION("hog", hog));
