/*
 * plugins.h - loading plugin .so files and finding their functions.
 *
 * The only room that calls dlopen/dlsym. A plugin is checked (magic, ABI
 * number, struct sizes, pointer size, names) before any of its code runs;
 * a bad plugin is recorded with its reason and the rest are served.
 *
 * Lifetimes: a `plugins` set owns every plugin and function it lists; they
 * stay valid until plugins_free(). Functions may be called from any thread.
 */
#ifndef TARRY_PLUGINS_H
#define TARRY_PLUGINS_H

#include <stddef.h>
#include <stdint.h>

#include "tarry.h"

#define PLUGIN_NAME_MAX 128

typedef struct plugin plugin;

typedef struct plugin_fn {
    const char *name;
    tarry_fn fn;
    const plugin *owner;
} plugin_fn;

struct plugin {
    char *file;    /* path it was loaded from */
    char *name;    /* from the descriptor; NULL if it could not be read */
    char *version; /* likewise */
    char *error;   /* NULL when loaded; else why it was refused */
    void *handle;  /* dlopen handle; NULL when refused */
    plugin_fn *fns;
    size_t fn_count;
    uint32_t header_revision; /* the tarry.h revision it was built with */
};

typedef struct plugins plugins;

/*
 * Load every *.so in `dir` (in name order, so a conflict is decided the same
 * way every time). A missing or unreadable folder is not fatal: it is
 * reported and the set is empty. Each refused file gets one log line naming
 * it and the reason. Returns 0 or TARRY_ENOMEM.
 */
int plugins_load_dir(plugins **out, const char *dir);
void plugins_free(plugins *set);

/* The function called `name`, or NULL. */
const plugin_fn *plugins_find(const plugins *set, const char *name);

/* Every plugin file seen, loaded or refused. */
size_t plugins_count(const plugins *set);
const plugin *plugins_at(const plugins *set, size_t i);

/* Whether `name` is a valid function or plugin name ([A-Za-z_][A-Za-z0-9_.-]*, 1..128 bytes). */
int plugins_name_valid(const char *name);

#endif
