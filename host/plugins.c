/*
 * plugins.c - dlopen, descriptor checks, the function registry.
 *
 * May not: touch the store or the loop. Loading happens before the loop
 * starts (reload will move it to a worker thread).
 */
#include "plugins.h"

#include <dirent.h>
#include <stddef.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlog.h"
#include "status.h"

/* The first descriptor layout of ABI 1; anything smaller is refused. */
#define MIN_PLUGIN_DEF_SIZE sizeof(tarry_plugin_def)
#define MIN_FUNCTION_DEF_SIZE sizeof(tarry_function_def)

struct plugins {
    plugin *items;
    size_t count;
    const plugin_fn **index; /* every loaded function, sorted by name */
    size_t index_count;
};

int plugins_name_valid(const char *name)
{
    size_t n;
    if (!name || !name[0])
        return 0;
    n = strlen(name);
    if (n > PLUGIN_NAME_MAX)
        return 0;
    if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return 0;
    }
    return 1;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void refuse(plugin *p, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(p->error);
    p->error = strdup(msg);
    hlog(HLOG_ERROR, "plugin %s refused: %s", p->file, msg);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const plugin_fn *const *)a)->name, (*(const plugin_fn *const *)b)->name);
}

const plugin_fn *plugins_find(const plugins *set, const char *name)
{
    plugin_fn key = {.name = name};
    const plugin_fn *k = &key, **hit;
    if (!set->index_count)
        return NULL; /* bsearch must not see the NULL of an empty index */
    hit = bsearch(&k, set->index, set->index_count, sizeof *set->index, by_name);
    return hit ? *hit : NULL;
}

/* The descriptor's strings are the plugin's; copy what outlives validation. */
static void validate(plugins *set, plugin *p, const tarry_plugin_def *def)
{
    if (def->magic != TARRY_PLUGIN_MAGIC) {
        refuse(p, "`tarry_plugin` is not a tarry descriptor (bad magic 0x%08x); build with TARRY_PLUGIN()",
               def->magic);
        return;
    }
    if (def->abi_version != TARRY_ABI_VERSION) {
        refuse(p, "built for tarry ABI %u, this host speaks ABI %d; rebuild against this host's tarry.h",
               def->abi_version, TARRY_ABI_VERSION);
        return;
    }
    if (def->pointer_size != sizeof(void *)) {
        refuse(p, "built for %u-byte pointers, this host uses %zu", def->pointer_size, sizeof(void *));
        return;
    }
    if (def->struct_size < MIN_PLUGIN_DEF_SIZE || def->function_size < MIN_FUNCTION_DEF_SIZE) {
        refuse(p, "descriptor too small (plugin %u bytes, function %u bytes; need at least %zu and %zu)",
               def->struct_size, def->function_size, MIN_PLUGIN_DEF_SIZE, MIN_FUNCTION_DEF_SIZE);
        return;
    }
    if (!plugins_name_valid(def->name)) {
        refuse(p, "invalid plugin name \"%s\" (want [A-Za-z_][A-Za-z0-9_.-]*, at most %d bytes)",
               def->name ? def->name : "(null)", PLUGIN_NAME_MAX);
        return;
    }
    p->name = strdup(def->name);
    p->version = strdup(def->version ? def->version : "");
    if (def->function_count == 0 || !def->functions) {
        refuse(p, "plugin \"%s\" declares no functions", def->name);
        return;
    }
    if (!(p->fns = calloc(def->function_count, sizeof *p->fns))) {
        refuse(p, "out of memory");
        return;
    }
    for (size_t i = 0; i < def->function_count; i++) {
        /* Walk with the plugin's own stride: a newer header may have a larger struct. */
        const tarry_function_def *f =
            (const tarry_function_def *)(const void *)((const char *)def->functions + i * def->function_size);
        if (!plugins_name_valid(f->name)) {
            refuse(p, "function #%zu has an invalid name \"%s\" (want [A-Za-z_][A-Za-z0-9_.-]*, at most %d bytes)",
                   i + 1, f->name ? f->name : "(null)", PLUGIN_NAME_MAX);
            return;
        }
        if (!f->fn) {
            refuse(p, "function \"%s\" has no C function", f->name);
            return;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(p->fns[j].name, f->name) == 0) {
                refuse(p, "duplicate function name \"%s\" in plugin \"%s\"", f->name, def->name);
                return;
            }
        }
        const plugin_fn *other = plugins_find(set, f->name);
        if (other) {
            refuse(p, "function \"%s\" is already provided by plugin \"%s\" (%s)", f->name, other->owner->name,
                   other->owner->file);
            return;
        }
        p->fns[i].name = f->name;
        p->fns[i].fn = f->fn;
        p->fns[i].owner = p;
    }
    p->fn_count = def->function_count;
    /* Older descriptors end before the field: they are revision 1. */
    p->header_revision = def->struct_size >= offsetof(tarry_plugin_def, header_revision) + sizeof(uint32_t)
                             ? def->header_revision
                             : 1;
}

static int index_add(plugins *set, const plugin *p)
{
    const plugin_fn **grown = realloc(set->index, (set->index_count + p->fn_count) * sizeof *grown);
    if (!grown)
        return TARRY_ENOMEM;
    set->index = grown;
    for (size_t i = 0; i < p->fn_count; i++)
        set->index[set->index_count++] = &p->fns[i];
    qsort(set->index, set->index_count, sizeof *set->index, by_name);
    return 0;
}

static void load_one(plugins *set, plugin *p)
{
    const tarry_plugin_def *def;

    /* RTLD_LOCAL: plugins never see each other's symbols; RTLD_NOW: a
     * missing symbol is an error now, not a crash in the middle of a run. */
    if (!(p->handle = dlopen(p->file, RTLD_NOW | RTLD_LOCAL))) {
        const char *why = dlerror();
        refuse(p, "cannot load: %s", why ? why : "unknown dlopen error");
        return;
    }
    dlerror();
    def = dlsym(p->handle, "tarry_plugin");
    if (!def) {
        refuse(p, "no `tarry_plugin` descriptor exported; declare the plugin with TARRY_PLUGIN(...)");
    } else {
        validate(set, p, def);
        if (!p->error && index_add(set, p) != 0)
            refuse(p, "out of memory");
    }
    if (p->error) {
        free(p->fns);
        p->fns = NULL;
        p->fn_count = 0;
        dlclose(p->handle);
        p->handle = NULL;
        return;
    }
    hlog(HLOG_INFO, "plugin %s %s loaded from %s (%zu functions)", p->name, p->version, p->file, p->fn_count);
}

static int has_so_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int plugins_load_dir(plugins **out, const char *dir)
{
    plugins *set = calloc(1, sizeof *set);
    char **names = NULL;
    size_t n = 0;
    DIR *d;
    struct dirent *e;

    if (!set)
        return TARRY_ENOMEM;
    if (!(d = opendir(dir))) {
        hlog(HLOG_WARN, "plugins folder %s cannot be read (%s): no functions loaded", dir, strerror(errno));
        *out = set;
        return 0;
    }
    while ((e = readdir(d))) {
        if (!has_so_suffix(e->d_name))
            continue;
        char **grown = realloc(names, (n + 1) * sizeof *names);
        if (!grown)
            break;
        names = grown;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_string);
    set->items = calloc(n ? n : 1, sizeof *set->items);
    for (size_t i = 0; set->items && i < n; i++) {
        plugin *p = &set->items[set->count++];
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        if (!(p->file = malloc(len))) {
            set->count--;
            continue;
        }
        snprintf(p->file, len, "%s/%s", dir, names[i]);
        load_one(set, p);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (!set->items) {
        free(set);
        return TARRY_ENOMEM;
    }
    *out = set;
    return 0;
}

void plugins_free(plugins *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++) {
        plugin *p = &set->items[i];
        if (p->handle)
            dlclose(p->handle);
        free(p->fns);
        free(p->file);
        free(p->name);
        free(p->version);
        free(p->error);
    }
    free(set->items);
    free(set->index);
    free(set);
}

size_t plugins_count(const plugins *set)
{
    return set->count;
}

const plugin *plugins_at(const plugins *set, size_t i)
{
    return &set->items[i];
}
