/*
 * plugins.h - plugin versions: the registry of loaded plugin .so files,
 * the content-addressed version store, and reloading.
 *
 * The only room that calls dlopen/dlsym. A plugin is checked (magic, ABI
 * number, struct sizes, pointer size, names) before any of its code runs;
 * a bad plugin is recorded with its reason and the rest are served.
 *
 * Versions: every .so found in the plugins folder is copied into the store
 * (<data>/plugins/<hash>.so, the hash being the first 16 hex digits of the
 * file's SHA-256) and loaded from that immutable copy, never from the
 * folder. An execution pinned to a version keeps running its code after a
 * reload; a version that is no longer current is closed once no unfinished
 * execution uses it (plugins_retire_unused, decided by the engine); after a
 * restart, the versions that unfinished executions are pinned to are
 * loaded again from the store (plugins_load_stored), whatever the folder
 * holds by then. The *current* version of each plugin serves new triggers.
 *
 * Hosts sharing a store: the registry's hooks (plugins_hooks, given by the
 * host: plugin_share.h) keep each version's bytes where every host finds
 * them, before the version can serve (a version that cannot be kept is
 * refused), and fetch a pinned version the version store lacks, so a host
 * replays an execution pinned to a version its own folder never held.
 *
 * Files: only regular *.so files that nobody but the host's user (or root)
 * can write, in a folder likewise, are read; dotfiles are skipped; links
 * are followed only inside the folder; a store copy is loaded only if its
 * content matches its hash (plugin_files.h says why and how). A refused
 * file is logged and reported like any other bad plugin.
 *
 * Threads: plugins_find* may be called from any thread (a read lock guards
 * the current index). plugins_scan runs on a worker thread; plugins_apply
 * and everything else on the loop thread (or before it starts).
 *
 * Lifetimes: a plugin and its plugin_fn pointers stay valid until that
 * version is closed: by plugins_close() for a version plugins_retire_unused()
 * took out of the registry (one no unfinished execution uses and that is not
 * current), else by plugins_free(). So a pointer held past the moment it was
 * found must belong to a version that is current or in use by an execution
 * the engine still counts.
 *
 * Descriptor checks are the journal core's (sdk/core/jcore_plugin.h), so the
 * test kit refuses the same plugins with the same words.
 */
#ifndef TARRY_PLUGINS_H
#define TARRY_PLUGINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fn_options.h"
#include "tarry.h"

#define PLUGIN_NAME_MAX 128 /* jcore_plugin.h's JCORE_NAME_MAX */
#define PLUGIN_HASH_LEN 16

typedef struct plugin plugin;

typedef struct plugin_fn {
    const char *name;
    tarry_fn fn;
    const plugin *owner;
    fn_options opts; /* checked, defaults filled in (fn_options.h); strings borrow from the descriptor */
} plugin_fn;

struct plugin {
    char *file;    /* where it was found in the plugins folder */
    char *stored;  /* its copy in the version store, loaded from there; NULL if never copied */
    char *name;    /* from the descriptor; NULL if it could not be read */
    char *version; /* likewise */
    char *error;   /* NULL when loaded; else why it was refused */
    char hash[PLUGIN_HASH_LEN + 1];
    void *handle; /* dlopen handle; NULL when refused */
    plugin_fn *fns;
    size_t fn_count;
    uint32_t header_revision; /* the tarry.h revision it was built with */
    bool current;             /* serves new triggers */
};

typedef struct plugins plugins;

/*
 * Where versions live beyond this host's version store (plugin_share.h
 * gives the host's). Called on the thread that loads: a reload's worker,
 * or the loop before it serves. May block; must not call back into the
 * registry. A NULL member is not called.
 */
typedef struct plugins_hooks {
    /* Version p (valid, loaded, not yet serving) with its `len` bytes, as
     * read and hashed: keep them. 0, or a negative code with the reason in
     * `why`: a version found in the folder is then refused with it (one
     * found in the version store for pinned executions is loaded anyway,
     * the failure logged). */
    int (*keep)(void *user, const plugin *p, const char *bytes, size_t len, char *why, size_t whylen);
    /* Version `hash` is not in the version store (or its copy there is not
     * its content): its bytes, malloc'd into *bytes (the registry frees
     * them) and *len. 0, TARRY_ENOTFOUND, or another code; the reason in
     * `why` either way. The registry checks them against `hash`. */
    int (*fetch)(void *user, const char *hash, char **bytes, size_t *len, char *why, size_t whylen);
    void *user;
} plugins_hooks;

/*
 * Open the registry: load every *.so in `dir` (in name order, so a conflict
 * is decided the same way every time) through the version store in
 * `store_dir` (created if missing). `hooks` (copied; NULL: none) as above.
 * A missing or unreadable plugins folder is not fatal. Each refused file
 * gets one log line naming it and the reason. Returns 0, TARRY_EIO (the
 * store cannot be created) or TARRY_ENOMEM.
 */
int plugins_open(plugins **out, const char *dir, const char *store_dir, const plugins_hooks *hooks);
void plugins_free(plugins *set);

/* The current version's function called `name`, or NULL. */
const plugin_fn *plugins_find(plugins *set, const char *name);

/* Function `name` of the loaded version `hash`, or NULL. */
const plugin_fn *plugins_find_version(plugins *set, const char *hash, const char *name);

/* Whether version `hash` is loaded (any thread). */
bool plugins_find_version_loaded(plugins *set, const char *hash);

/* Load version `hash` from the store if it is not loaded (startup, or a
 * worker thread for an upgrade), after checking that the stored file's
 * content hashes to `hash` (plugin_files.h). A copy that is missing or not
 * its content is fetched through the hooks, checked against `hash` and
 * written into the version store (whole or not at all) first. 0, or
 * TARRY_ENOTFOUND / TARRY_EINVAL (also: a store file that does not match,
 * with nothing fetched to replace it) / TARRY_ENOMEM, with the reason
 * logged. */
int plugins_load_stored(plugins *set, const char *hash);

/* ---- reloading ---------------------------------------------------------------- */

typedef struct plugins_scan plugins_scan;

/* Worker thread: read the folder, store and load what is new. Never NULL. */
plugins_scan *plugins_scan_dir(plugins *set);

/* Loop thread: make the scan's valid plugins current (a plugin that fails
 * keeps its old version current; one whose file is gone stops serving new
 * triggers) and keep the scan as the last report. Takes the scan. All or
 * nothing: out of memory leaves the registry and the last report as they
 * were (logged), and the scan's new versions unused until plugins_free. */
void plugins_apply(plugins *set, plugins_scan *scan);

/*
 * Loop thread: take every version that is not current and whose hash is not
 * in used[0..n) out of the registry, and return them (count in *out_n, NULL
 * if none). Nothing can find them any more; close them with plugins_close
 * off the loop (dlclose runs their destructors).
 */
plugin **plugins_retire_unused(plugins *set, char (*used)[PLUGIN_HASH_LEN + 1], size_t n, size_t *out_n);
/* Worker thread: dlclose and free retired versions, and the array. */
void plugins_close(plugin **retired, size_t n);

/* ---- reporting ------------------------------------------------------------------ */

typedef enum plugin_outcome {
    PLUGIN_LOADED,
    PLUGIN_UNCHANGED,
    PLUGIN_REFUSED,
    PLUGIN_REMOVED
} plugin_outcome;

/* What the last open or reload did with each file (and each plugin whose file vanished). */
typedef void (*plugins_report_cb)(void *user, const char *file, const plugin *p, plugin_outcome outcome);
void plugins_report(plugins *set, plugins_report_cb cb, void *user);

/* Every loaded version, current or not. */
typedef void (*plugins_each_cb)(void *user, const plugin *p);
void plugins_each(plugins *set, plugins_each_cb cb, void *user);

#endif
