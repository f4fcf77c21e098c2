/*
 * fuzz_descriptor.c - libFuzzer target: the plugin descriptor check
 * (sdk/core/jcore_plugin.c), which the host (plugins.c) and the test kit
 * run on a plugin's tarry_plugin before any of its code.
 *
 * The input is decoded into a descriptor exactly as large as it claims
 * (struct_size, function_size: ASan catches a read past what the plugin
 * said it has), with the header fields, names (up to 8 functions) and
 * NULL-or-not function pointers taken from the bytes. Properties: no crash
 * or sanitizer report; a refusal says why; an accepted descriptor has a
 * valid plugin name and valid, distinct function names.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jcore_plugin.h"
#include "tarry.h"

typedef struct reader {
    const uint8_t *p, *end;
} reader;

static uint8_t byte(reader *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

static uint32_t u32(reader *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | byte(r);
    return v;
}

/* A NUL-terminated copy of the next length-prefixed string, or NULL when the length byte is 255. */
static char *string(reader *r)
{
    uint8_t n = byte(r);
    char *s;
    if (n == 255)
        return NULL;
    if (!(s = malloc((size_t)n + 1)))
        abort();
    for (size_t i = 0; i < n; i++)
        s[i] = (char)byte(r);
    s[n] = '\0';
    return s;
}

static tarry_status some_fn(tarry_ctx *ctx, const char *args)
{
    (void)ctx;
    (void)args;
    return TARRY_OK;
}

/* Pick a field: mostly the right value (so the check gets past it), sometimes the input's. */
static uint32_t pick(reader *r, uint32_t right)
{
    return byte(r) & 1 ? u32(r) : right;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, data + size};
    tarry_plugin_def def;
    tarry_function_def fns[8];
    char *names[8] = {0}, *name, *version, err[512];
    size_t count, def_size, fn_size;
    uint8_t *def_copy, *fn_copy;
    jcore_plugin_info info;

    memset(&def, 0, sizeof def);
    def.magic = pick(&r, TARRY_PLUGIN_MAGIC);
    def.abi_version = pick(&r, TARRY_ABI_VERSION);
    def.struct_size = pick(&r, sizeof def) % 256;
    def.pointer_size = pick(&r, sizeof(void *));
    def.function_size = pick(&r, sizeof(tarry_function_def)) % 64;
    def.header_revision = pick(&r, 2);
    name = string(&r);
    version = string(&r);
    count = byte(&r) % 9;
    for (size_t i = 0; i < count; i++) {
        names[i] = string(&r);
        fns[i].name = names[i];
        fns[i].fn = byte(&r) & 1 ? NULL : some_fn;
    }
    def.name = name;
    def.version = version;
    def.function_count = count;

    /* The functions, laid out with the stride the descriptor claims, and no more. */
    fn_size = def.function_size;
    fn_copy = malloc(count * fn_size + 1);
    for (size_t i = 0; i < count; i++) {
        memset(fn_copy + i * fn_size, 0, fn_size);
        memcpy(fn_copy + i * fn_size, &fns[i], fn_size < sizeof fns[i] ? fn_size : sizeof fns[i]);
    }
    def.functions = count ? (const tarry_function_def *)fn_copy : NULL;
    if (byte(&r) == 0xFF)
        def.functions = NULL;
    /* The descriptor: as many bytes as it says (at least its fixed start, which is read to learn the size).
     */
    def_size = def.struct_size < offsetof(tarry_plugin_def, name) ? offsetof(tarry_plugin_def, name)
                                                                  : def.struct_size;
    def_copy = calloc(1, def_size);
    memcpy(def_copy, &def, def_size < sizeof def ? def_size : sizeof def);

    err[0] = '\0';
    if (jcore_plugin_check((const tarry_plugin_def *)def_copy, &info, err, sizeof err) == 0) {
        if (!name || !jcore_name_valid(name) || !info.name || strcmp(info.name, name) != 0)
            abort();
        for (size_t i = 0; i < count; i++) {
            const tarry_function_def *f = jcore_plugin_function((const tarry_plugin_def *)def_copy, i);
            if (!f->name || !jcore_name_valid(f->name) || !f->fn)
                abort();
            for (size_t j = 0; j < i; j++)
                if (strcmp(jcore_plugin_function((const tarry_plugin_def *)def_copy, j)->name, f->name) == 0)
                    abort();
        }
    } else if (!err[0]) {
        fprintf(stderr, "fuzz_descriptor: refused without a reason\n");
        abort();
    }
    free(def_copy);
    free(fn_copy);
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(name);
    free(version);
    return 0;
}
