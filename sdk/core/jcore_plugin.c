/*
 * jcore_plugin.c - plugin descriptor and name checks (jcore_plugin.h).
 */
#include "jcore_plugin.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json_strict.h"

int jcore_name_valid(const char *name)
{
    size_t n;

    if (!name || !name[0] || (n = strlen(name)) > JCORE_NAME_MAX)
        return 0;
    if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* A version is shown and stored as text (JSON, PostgreSQL's UTF8 columns): printable UTF-8,
 * at most JCORE_NAME_MAX bytes; NULL or "" is no version. */
static bool version_valid(const char *v)
{
    size_t len = v ? strlen(v) : 0;

    if (len > JCORE_NAME_MAX)
        return false;
    for (size_t i = 0; i < len;) {
        size_t n = json_strict_utf8_len((const unsigned char *)v + i, len - i);
        if (!n || (n == 1 && ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)))
            return false;
        i += n;
    }
    return true;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
refuse(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return TARRY_EINVAL;
}

const tarry_function_def *jcore_plugin_function(const tarry_plugin_def *def, size_t i)
{
    return (const tarry_function_def *)(const void *)((const char *)def->functions + i * def->function_size);
}

int jcore_plugin_check(const tarry_plugin_def *def, jcore_plugin_info *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof *info);
    if (err && errlen)
        err[0] = '\0';
    if (!def)
        return refuse(err, errlen, "the descriptor is NULL");
    if (def->magic != TARRY_PLUGIN_MAGIC)
        return refuse(
            err, errlen,
            "`tarry_plugin` is not a tarry descriptor (bad magic 0x%08x); build with TARRY_PLUGIN()",
            def->magic);
    if (def->abi_version != TARRY_ABI_VERSION)
        return refuse(err, errlen,
                      "built for tarry ABI %u, this host speaks ABI %d; rebuild against its tarry.h",
                      def->abi_version, TARRY_ABI_VERSION);
    if (def->pointer_size != sizeof(void *))
        return refuse(err, errlen, "built for %u-byte pointers, this host uses %zu", def->pointer_size,
                      sizeof(void *));
    if (def->struct_size < JCORE_PLUGIN_DEF_MIN || def->function_size < JCORE_FUNCTION_DEF_MIN)
        return refuse(err, errlen,
                      "descriptor too small (plugin %u bytes, function %u bytes; need at least %zu and %zu)",
                      def->struct_size, def->function_size, JCORE_PLUGIN_DEF_MIN, JCORE_FUNCTION_DEF_MIN);
    /* A compiler's struct size is a multiple of its alignment; any other stride would read the
     * functions misaligned (found by tests/fuzz/fuzz_descriptor). */
    if (def->function_size % _Alignof(tarry_function_def) != 0)
        return refuse(err, errlen,
                      "function struct size %u is not a multiple of %zu: not a compiler's layout",
                      def->function_size, (size_t) _Alignof(tarry_function_def));
    if (!jcore_name_valid(def->name))
        return refuse(err, errlen,
                      "invalid plugin name \"%s\" (want [A-Za-z_][A-Za-z0-9_.-]*, at most %d bytes)",
                      def->name ? def->name : "(null)", JCORE_NAME_MAX);
    info->name = def->name;
    if (!version_valid(def->version)) {
        info->version = ""; /* shown next to the refusal: never the invalid bytes */
        return refuse(err, errlen,
                      "plugin \"%s\" has an invalid version (want printable UTF-8, at most %d bytes)",
                      def->name, JCORE_NAME_MAX);
    }
    info->version = def->version ? def->version : "";
    /* Read header_revision only if the plugin's descriptor has it. */
    info->header_revision =
        def->struct_size >= offsetof(tarry_plugin_def, header_revision) + sizeof def->header_revision
            ? def->header_revision
            : 1;
    if (def->function_count == 0 || !def->functions)
        return refuse(err, errlen, "plugin \"%s\" declares no functions", def->name);
    for (size_t i = 0; i < def->function_count; i++) {
        const tarry_function_def *f = jcore_plugin_function(def, i);
        if (!jcore_name_valid(f->name))
            return refuse(
                err, errlen,
                "function #%zu has an invalid name \"%s\" (want [A-Za-z_][A-Za-z0-9_.-]*, at most %d "
                "bytes)",
                i + 1, f->name ? f->name : "(null)", JCORE_NAME_MAX);
        if (!f->fn)
            return refuse(err, errlen, "function \"%s\" has no C function", f->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(jcore_plugin_function(def, j)->name, f->name) == 0)
                return refuse(err, errlen, "duplicate function name \"%s\" in plugin \"%s\"", f->name,
                              def->name);
    }
    return 0;
}
