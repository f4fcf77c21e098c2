/*
 * plugins.c - dlopen, descriptor checks, the registry of plugin versions.
 *
 * May not: touch the store or the loop (what hosts sharing a store need goes
 * through the hooks the host gives, plugins.h). plugins_open loads before the loop
 * starts; a reload's scan (dlopen of new files) runs on a worker thread
 * (plugins_scan_dir) and only its application (plugins_apply, no dlopen)
 * runs on the loop. The descriptor checks are the journal core's
 * (sdk/core/jcore_plugin.h), shared with the test kit.
 */
#include "plugins.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stddef.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlog.h"
#include "jcore_plugin.h"
#include "plugin_files.h"
#include "status.h"

#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

_Static_assert(PLUGIN_NAME_MAX == JCORE_NAME_MAX, "one name limit for the host and the kit");

/* One file of a scan: a version already loaded, a new one, or refused. */
typedef struct scanned {
    char *file;
    plugin *p;        /* the version (new, or loaded before); owned here if new or refused */
    bool fresh;       /* loaded by this scan */
    bool was_current; /* p served before this scan (set by apply) */
} scanned;

struct plugins_scan {
    scanned *files;
    size_t count;
    char **removed; /* plugin names that were current and have no file now (filled by apply) */
    size_t removed_count;
    plugins_scan *next_dropped; /* in plugins.dropped */
};

struct plugins {
    char *dir, *store_dir;
    plugins_hooks hooks; /* all NULL: none */
    uv_rwlock_t lock;    /* guards gens and index against worker-thread lookups */
    plugin **gens;       /* every loaded version; never shrinks */
    size_t gen_count;
    const plugin_fn **index; /* the current versions' functions, sorted by name */
    size_t index_count;
    plugins_scan *last; /* what the last open or reload did */
    plugin **retired;   /* loaded, then refused for a name clash: never run, closed at exit */
    size_t retired_count;
    plugins_scan *dropped; /* scans apply could not take (out of memory): their versions close at exit */
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
refuse(plugin *p, const char *fmt, ...)
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

const plugin_fn *plugins_find(plugins *set, const char *name)
{
    plugin_fn key = {.name = name};
    const plugin_fn *k = &key, **hit = NULL;

    uv_rwlock_rdlock(&set->lock);
    /* bsearch must not see the NULL of an empty index */
    if (set->index_count)
        hit = bsearch(&k, set->index, set->index_count, sizeof *set->index, by_name);
    uv_rwlock_rdunlock(&set->lock);
    return hit ? *hit : NULL;
}

static plugin *gen_by_hash(plugins *set, const char *hash)
{
    for (size_t i = 0; i < set->gen_count; i++)
        if (strcmp(set->gens[i]->hash, hash) == 0)
            return set->gens[i];
    return NULL;
}

const plugin_fn *plugins_find_version(plugins *set, const char *hash, const char *name)
{
    const plugin_fn *found = NULL;
    plugin *p;

    uv_rwlock_rdlock(&set->lock);
    if ((p = gen_by_hash(set, hash)))
        for (size_t i = 0; i < p->fn_count && !found; i++)
            if (strcmp(p->fns[i].name, name) == 0)
                found = &p->fns[i];
    uv_rwlock_rdunlock(&set->lock);
    return found;
}

/* Check the descriptor (jcore_plugin.h) and copy what outlives it; p->error says why not. */
static void validate(plugin *p, const tarry_plugin_def *def)
{
    jcore_plugin_info info;
    char err[1024];
    int rc = jcore_plugin_check(def, &info, err, sizeof err);

    if (info.name) {
        /* Named even when refused, so the report says which plugin it was. */
        p->name = strdup(info.name);
        p->version = strdup(info.version);
    }
    if (rc != 0) {
        refuse(p, "%s", err);
        return;
    }
    if (!(p->fns = calloc(def->function_count, sizeof *p->fns))) {
        refuse(p, "out of memory");
        return;
    }
    for (size_t i = 0; i < def->function_count; i++) {
        const tarry_function_def *f = jcore_plugin_function(def, i);
        p->fns[i].name = f->name;
        p->fns[i].fn = f->fn;
        p->fns[i].owner = p;
        if (fn_options_parse(f, def->function_size, info.header_revision, &p->fns[i].opts, err, sizeof err) !=
            0) {
            refuse(p, "function \"%s\": %s", f->name, err);
            free(p->fns);
            p->fns = NULL;
            return;
        }
    }
    p->fn_count = def->function_count;
    p->header_revision = info.header_revision;
}

/* A version refused after it was loaded: none of its code may run. */
static void unload(plugin *p)
{
    free(p->fns);
    p->fns = NULL;
    p->fn_count = 0;
    dlclose(p->handle);
    p->handle = NULL;
}

/* dlopen `p->stored` and check it; p->error says why not. */
static void load_one(plugin *p)
{
    const tarry_plugin_def *def;

    /* RTLD_LOCAL: plugins never see each other's symbols; RTLD_NOW: a
     * missing symbol is an error now, not a crash in the middle of a run. */
    if (!(p->handle = dlopen(p->stored, RTLD_NOW | RTLD_LOCAL))) {
        const char *why = dlerror();
        refuse(p, "cannot load: %s", why ? why : "unknown dlopen error");
        return;
    }
    dlerror();
    if (!(def = dlsym(p->handle, "tarry_plugin")))
        refuse(p, "no `tarry_plugin` descriptor exported; declare the plugin with TARRY_PLUGIN(...)");
    else
        validate(p, def);
    if (p->error)
        unload(p);
}

static void plugin_free(plugin *p)
{
    if (!p)
        return;
    if (p->handle)
        dlclose(p->handle);
    free(p->fns);
    free(p->file);
    free(p->stored);
    free(p->name);
    free(p->version);
    free(p->error);
    free(p);
}

/* Write the store's copy once, atomically (temp file + rename), so a copy
 * that exists is always whole. One that exists already is kept only if its
 * content still hashes to its name: anything else there (a planted file, a
 * FIFO) is replaced by these bytes, so the folder's real plugin wins. */
static int store_copy(const char *stored, const char *hash, const char *bytes, size_t len)
{
    /* Two workers may write one version at once (upgrades fetching it): each its own temp file. */
    static atomic_uint copies;
    char tmp[4200], why[1024];
    FILE *f;
    int rc = plugin_files_verify_stored(stored, hash, why, sizeof why);

    if (rc == 0)
        return 0;
    if (rc != TARRY_ENOTFOUND)
        hlog(HLOG_ERROR, "version store: %s; replacing it with the plugin's own bytes", why);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.%u", stored, (int)getpid(), atomic_fetch_add(&copies, 1));
    if (!(f = fopen(tmp, "wb")))
        return -1;
    if (fwrite(bytes, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        unlink(tmp);
        return -1;
    }
    fclose(f);
    return rename(tmp, stored);
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Find, store and load one file of the folder; `dir_refused`: why the whole folder is refused, or NULL. */
static void scan_one(plugins *set, scanned *sc, const char *dir_refused)
{
    char hash[PLUGIN_HASH_LEN + 1], name[PLUGIN_HASH_LEN + 4], why[1024];
    char *bytes = NULL;
    size_t len = 0;
    plugin *p;

    if (!(p = calloc(1, sizeof *p)))
        return;
    p->file = strdup(sc->file);
    sc->p = p;
    sc->fresh = true;
    if (dir_refused) {
        refuse(p, "%s", dir_refused);
        return;
    }
    if (plugin_files_read(set->dir, sc->file, &bytes, &len, hash, why, sizeof why) != 0) {
        refuse(p, "%s", why);
        return;
    }
    memcpy(p->hash, hash, sizeof hash);
    uv_rwlock_rdlock(&set->lock);
    plugin *known = gen_by_hash(set, hash);
    uv_rwlock_rdunlock(&set->lock);
    if (known) {
        /* The same bytes are loaded already: reuse that version. */
        plugin_free(p);
        free(bytes);
        sc->p = known;
        sc->fresh = false;
        return;
    }
    snprintf(name, sizeof name, "%s.so", hash);
    p->stored = path_join(set->store_dir, name);
    if (!p->stored || store_copy(p->stored, hash, bytes, len) != 0) {
        refuse(p, "cannot copy into the version store %s: %s", set->store_dir, strerror(errno));
        free(bytes);
        return;
    }
    load_one(p);
    /* Kept for the other hosts before it can serve: nothing is pinned to a version they cannot load. */
    if (!p->error && set->hooks.keep &&
        set->hooks.keep(set->hooks.user, p, bytes, len, why, sizeof why) != 0) {
        refuse(p, "%s", why);
        unload(p);
    }
    free(bytes);
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

plugins_scan *plugins_scan_dir(plugins *set)
{
    plugins_scan *scan = calloc(1, sizeof *scan);
    char dir_why[1024];
    bool dir_bad;
    char **names = NULL;
    size_t n = 0;
    DIR *d;
    struct dirent *e;

    if (!scan)
        return NULL;
    if (!(d = opendir(set->dir))) {
        hlog(HLOG_WARN, "plugins folder %s cannot be read (%s): no plugins in it", set->dir, strerror(errno));
        return scan;
    }
    while ((e = readdir(d))) {
        char **grown;
        if (!plugin_files_candidate(e->d_name) || !(grown = realloc(names, (n + 1) * sizeof *names)))
            continue;
        names = grown;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    /* A folder others can write to is as untrusted as its files: each file
     * is refused with the folder's reason (and listed so). */
    if ((dir_bad = plugin_files_check_dir(set->dir, dir_why, sizeof dir_why) != 0))
        hlog(HLOG_ERROR, "plugins folder %s refused: %s; no plugin is loaded from it", set->dir, dir_why);
    if (n) /* qsort's array must not be NULL, even for no elements */
        qsort(names, n, sizeof *names, by_string);
    scan->files = calloc(n ? n : 1, sizeof *scan->files);
    for (size_t i = 0; scan->files && i < n; i++) {
        scanned *sc = &scan->files[scan->count];
        if (!(sc->file = path_join(set->dir, names[i])))
            continue;
        scan->count++;
        scan_one(set, sc, dir_bad ? dir_why : NULL);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return scan;
}

static void scan_free(plugins_scan *scan)
{
    if (!scan)
        return;
    for (size_t i = 0; i < scan->count; i++) {
        if (scan->files[i].fresh && scan->files[i].p && !scan->files[i].p->handle)
            plugin_free(scan->files[i].p); /* refused: not a version */
        free(scan->files[i].file);
    }
    for (size_t i = 0; i < scan->removed_count; i++)
        free(scan->removed[i]);
    free(scan->removed);
    free(scan->files);
    free(scan);
}

static int add_gen(plugins *set, plugin *p)
{
    plugin **grown = realloc(set->gens, (set->gen_count + 1) * sizeof *grown);
    if (!grown)
        return TARRY_ENOMEM;
    set->gens = grown;
    set->gens[set->gen_count++] = p;
    return 0;
}

/* The version that is current for `file` (same folder path) or plugin `name`. */
static plugin *current_for(plugins *set, const char *file, const char *name)
{
    for (size_t g = 0; g < set->gen_count; g++) {
        plugin *q = set->gens[g];
        if (q->current &&
            ((file && strcmp(q->file, file) == 0) || (name && q->name && strcmp(q->name, name) == 0)))
            return q;
    }
    return NULL;
}

/* Whether p's plugin name or one of its functions is taken by one of chosen[0..n). */
static const plugin *clash_with(plugin *const *chosen, size_t n, const plugin *p, const char **what)
{
    for (size_t j = 0; j < n; j++) {
        const plugin *q = chosen[j];
        if (!q || q == p)
            continue;
        if (strcmp(q->name, p->name) == 0) {
            *what = NULL;
            return q;
        }
        for (size_t a = 0; a < p->fn_count; a++)
            for (size_t b = 0; b < q->fn_count; b++)
                if (strcmp(p->fns[a].name, q->fns[b].name) == 0) {
                    *what = p->fns[a].name;
                    return q;
                }
    }
    return NULL;
}

/* A scan apply could not take: kept whole (its new versions stay mapped,
 * unused) until plugins_free, so the loop thread never runs a dlclose. */
static void scan_drop(plugins *set, plugins_scan *scan)
{
    scan->next_dropped = set->dropped;
    set->dropped = scan;
}

/* At exit: a dropped scan and every version it loaded. */
static void scan_free_dropped(plugins_scan *scan)
{
    for (size_t i = 0; i < scan->count; i++) {
        if (scan->files[i].fresh && scan->files[i].p && scan->files[i].p->handle) {
            plugin_free(scan->files[i].p);
            scan->files[i].p = NULL;
        }
    }
    scan_free(scan);
}

/* Whether a fresh, valid version of this scan would take no part in the registry. */
static bool fresh_unused(plugins *set, const scanned *sc, const plugin *chosen)
{
    return sc->fresh && sc->p && sc->p->handle && sc->p != chosen && !gen_by_hash(set, sc->p->hash);
}

/*
 * All or nothing: everything the new registry needs is allocated before
 * any of it changes, so on out of memory the current versions, their index
 * and the last report stay exactly as they were.
 */
/* Whether `old` (or another version of its plugin) is among the chosen current versions. */
static bool kept_by(plugin *const *chosen, size_t n, const plugin *old)
{
    for (size_t i = 0; i < n; i++)
        if (chosen[i] == old || (chosen[i] && strcmp(chosen[i]->name, old->name) == 0))
            return true;
    return false;
}

void plugins_apply(plugins *set, plugins_scan *scan)
{
    size_t n = scan->count, fn_total = 0, gens_needed = 0, retire_needed = 0, removed_count = 0, count = 0;
    plugin **chosen = calloc(n ? n : 1, sizeof *chosen);
    bool *added = calloc(n ? n : 1, sizeof *added);   /* chosen[i] joins the versions */
    bool *retire = calloc(n ? n : 1, sizeof *retire); /* files[i].p is loaded but takes no part */
    const plugin_fn **index = NULL;
    char **removed = NULL;
    bool out_of_memory = false;

    if (!chosen || !added || !retire) {
        free(chosen);
        free(added);
        free(retire);
        hlog(HLOG_ERROR, "out of memory applying a scan of %s: the plugins stay as they were", set->dir);
        scan_drop(set, scan);
        return;
    }
    /*
     * Pick the current versions. What already serves goes first, so a new
     * file can never displace or duplicate a working plugin by a name clash:
     *   1. files whose version is current already (unchanged);
     *   2. new or changed files, in file order, refused on a clash;
     *   3. for a file that failed (unreadable, bad ABI, ...), the version
     *      that served from that same file, or under that plugin name, stays.
     * Steps 1 and 2 touch only the scan (`current` changes on this thread only).
     */
    for (size_t i = 0; i < n; i++) {
        plugin *p = scan->files[i].p;
        scan->files[i].was_current = p && p->current;
        if (p && p->handle && !scan->files[i].fresh && p->current)
            chosen[i] = p;
    }
    for (size_t i = 0; i < n; i++) {
        plugin *p = scan->files[i].p;
        const plugin *other;
        const char *what = NULL;
        if (chosen[i] || !p || !p->handle || p->error)
            continue;
        if ((other = clash_with(chosen, n, p, &what))) {
            if (scan->files[i].fresh) {
                if (what)
                    refuse(p, "function \"%s\" is already provided by plugin \"%s\" (%s)", what, other->name,
                           other->file);
                else
                    refuse(p, "plugin \"%s\" is already provided by %s", p->name, other->file);
                p->fn_count = 0; /* loaded but unused: its code may not run */
            }
            continue;
        }
        chosen[i] = p;
    }
    uv_rwlock_wrlock(&set->lock); /* gens may grow on a worker (plugins_load_stored) */
    for (size_t i = 0; i < n; i++) {
        plugin *p = scan->files[i].p, *old;
        const char *what;
        if (chosen[i] || !p)
            continue;
        old = current_for(set, scan->files[i].file, p->name);
        if (old && !clash_with(chosen, n, old, &what))
            chosen[i] = old;
    }

    /* What the change needs, counted and allocated while nothing changed yet. */
    for (size_t i = 0; i < n; i++) {
        plugin *p = chosen[i];
        if (p) {
            fn_total += p->fn_count;
            added[i] = scan->files[i].fresh && p == scan->files[i].p && !gen_by_hash(set, p->hash);
            gens_needed += added[i];
        }
        retire[i] = fresh_unused(set, &scan->files[i], p);
        retire_needed += retire[i];
    }
    for (size_t g = 0; g < set->gen_count; g++) {
        removed_count += set->gens[g]->current && !kept_by(chosen, n, set->gens[g]);
    }
    if (fn_total && !(index = malloc(fn_total * sizeof *index)))
        out_of_memory = true;
    if (!out_of_memory && removed_count && !(removed = calloc(removed_count, sizeof *removed)))
        out_of_memory = true;
    if (!out_of_memory && gens_needed) {
        /* Room for the new versions; the count (what is in the registry) does not change yet. */
        plugin **grown = realloc(set->gens, (set->gen_count + gens_needed) * sizeof *grown);
        if (grown)
            set->gens = grown;
        else
            out_of_memory = true;
    }
    if (!out_of_memory && retire_needed) {
        plugin **grown = realloc(set->retired, (set->retired_count + retire_needed) * sizeof *grown);
        if (grown)
            set->retired = grown;
        else
            out_of_memory = true;
    }
    for (size_t g = 0, r = 0; !out_of_memory && g < set->gen_count; g++) {
        plugin *old = set->gens[g];
        if (old->current && !kept_by(chosen, n, old) && !(removed[r++] = strdup(old->name)))
            out_of_memory = true;
    }
    if (out_of_memory) {
        uv_rwlock_wrunlock(&set->lock);
        for (size_t r = 0; removed && r < removed_count; r++)
            free(removed[r]);
        free(removed);
        free(index);
        free(chosen);
        free(added);
        free(retire);
        hlog(HLOG_ERROR, "out of memory applying a scan of %s: the plugins stay as they were", set->dir);
        scan_drop(set, scan);
        return;
    }

    /* The change itself: nothing below allocates or fails. */
    for (size_t g = 0; g < set->gen_count; g++)
        set->gens[g]->current = false;
    for (size_t i = 0; i < n; i++) {
        plugin *p = chosen[i];
        if (!p)
            continue;
        if (added[i])
            set->gens[set->gen_count++] = p;
        p->current = true;
        for (size_t f = 0; f < p->fn_count; f++)
            index[count++] = &p->fns[f];
    }
    for (size_t i = 0; i < n; i++) {
        /* A valid file refused for a clash stays mapped (its constructors
         * ran; unloading on the loop thread would run its destructors), but
         * it is no version: nothing can pin it. */
        if (retire[i]) {
            set->retired[set->retired_count++] = scan->files[i].p;
            scan->files[i].fresh = false; /* the scan no longer owns it */
        }
    }
    if (count)
        qsort(index, count, sizeof *index, by_name);
    free(set->index);
    set->index = index;
    set->index_count = count;
    scan->removed = removed;
    scan->removed_count = removed_count;
    uv_rwlock_wrunlock(&set->lock);

    for (size_t i = 0; i < n; i++) {
        plugin *p = chosen[i];
        if (p && added[i])
            hlog(HLOG_INFO, "plugin %s %s (%s) loaded from %s (%zu functions)", p->name, p->version, p->hash,
                 p->file, p->fn_count);
        else if (p && p == scan->files[i].p && !scan->files[i].was_current)
            hlog(HLOG_INFO, "plugin %s %s (%s) from %s is current again", p->name, p->version, p->hash,
                 p->file);
    }
    for (size_t i = 0; i < scan->removed_count; i++)
        hlog(HLOG_WARN,
             "plugin %s removed from %s: its functions take no new triggers; unfinished executions run on",
             scan->removed[i], set->dir);
    free(chosen);
    free(added);
    free(retire);
    scan_free(set->last);
    set->last = scan;
}

int plugins_open(plugins **out, const char *dir, const char *store_dir, const plugins_hooks *hooks)
{
    plugins *set = calloc(1, sizeof *set);

    if (!set)
        return TARRY_ENOMEM;
    if (hooks)
        set->hooks = *hooks;
    if (mkdir(store_dir, 0755) != 0 && errno != EEXIST) {
        hlog(HLOG_ERROR, "cannot create the plugin version store %s: %s", store_dir, strerror(errno));
        free(set);
        return TARRY_EIO;
    }
    set->dir = strdup(dir);
    set->store_dir = strdup(store_dir);
    uv_rwlock_init(&set->lock);
    plugins_apply(set, plugins_scan_dir(set));
    *out = set;
    return 0;
}

bool plugins_find_version_loaded(plugins *set, const char *hash)
{
    uv_rwlock_rdlock(&set->lock);
    bool found = gen_by_hash(set, hash) != NULL;
    uv_rwlock_rdunlock(&set->lock);
    return found;
}

/*
 * Version `hash` for p->stored from the hooks (the local copy is missing, or is not its content:
 * `local_why` says which): checked against the hash, then written into the version store whole.
 * 0; TARRY_ENOTFOUND with the hooks' reason in `elsewhere` (the caller logs it); or TARRY_EINVAL /
 * TARRY_EIO, logged here.
 */
static int fetch_stored(plugins *set, plugin *p, const char *hash, const char *local_why, char *elsewhere,
                        size_t elsewhere_len)
{
    char have[PLUGIN_HASH_LEN + 1];
    char *bytes = NULL;
    size_t len = 0;
    int err, rc = set->hooks.fetch(set->hooks.user, hash, &bytes, &len, elsewhere, elsewhere_len);

    if (rc == TARRY_ENOTFOUND) {
        free(bytes);
        return rc;
    }
    if (rc != 0) {
        free(bytes);
        hlog(HLOG_ERROR, "plugin version %s cannot be loaded: %s; %s", hash, local_why, elsewhere);
        return TARRY_EIO;
    }
    if (plugin_files_hash(bytes, len, have) != 0 || strcmp(have, hash) != 0) {
        free(bytes);
        hlog(HLOG_ERROR, "plugin version %s refused: the bytes fetched for it hash to %s", hash, have);
        return TARRY_EINVAL;
    }
    rc = store_copy(p->stored, hash, bytes, len);
    err = errno;
    free(bytes);
    if (rc != 0) {
        hlog(HLOG_ERROR, "plugin version %s cannot be written into the version store %s: %s", hash,
             set->store_dir, strerror(err));
        return TARRY_EIO;
    }
    hlog(HLOG_INFO, "plugin version %s fetched into the version store %s (%s; %s)", hash, set->store_dir,
         local_why, elsewhere);
    return 0;
}

int plugins_load_stored(plugins *set, const char *hash)
{
    char name[PLUGIN_HASH_LEN + 4], why[1024], elsewhere[1024] = "";
    char *bytes = NULL;
    size_t len = 0;
    bool fetched = false;
    plugin *p;
    int rc;

    if (plugins_find_version_loaded(set, hash))
        return 0;
    if (strlen(hash) != PLUGIN_HASH_LEN || strspn(hash, "0123456789abcdef") != PLUGIN_HASH_LEN)
        return TARRY_EINVAL;
    if (!(p = calloc(1, sizeof *p)))
        return TARRY_ENOMEM;
    snprintf(name, sizeof name, "%s.so", hash);
    memcpy(p->hash, hash, PLUGIN_HASH_LEN + 1);
    p->stored = path_join(set->store_dir, name);
    p->file = strdup(p->stored ? p->stored : "");
    if (!p->stored) {
        plugin_free(p);
        return TARRY_ENOMEM;
    }
    /* The store is trusted only as far as its content matches its names:
     * a file planted or changed there is never loaded; the hooks may have
     * the real bytes (checked against the hash in turn). */
    rc = plugin_files_read_stored(p->stored, hash, &bytes, &len, why, sizeof why);
    if ((rc == TARRY_ENOTFOUND || rc == TARRY_EINVAL) && set->hooks.fetch) {
        int local = rc;
        rc = fetch_stored(set, p, hash,
                          local == TARRY_ENOTFOUND ? "missing from this host's version store" : why,
                          elsewhere, sizeof elsewhere);
        if (rc == TARRY_ENOTFOUND)
            rc = local; /* nowhere else either: as without hooks, with where else it looked */
        else if (rc != 0) {
            plugin_free(p);
            return rc;
        } else
            fetched = true;
    }
    if (rc != 0) {
        if (rc == TARRY_ENOTFOUND)
            hlog(HLOG_ERROR, "plugin version %s is missing from the version store %s%s%s", hash,
                 set->store_dir, elsewhere[0] ? "; " : "", elsewhere);
        else
            hlog(HLOG_ERROR, "plugin version %s refused from the version store: %s%s%s", hash, why,
                 elsewhere[0] ? "; " : "", elsewhere);
        plugin_free(p);
        return rc == TARRY_ENOTFOUND ? TARRY_ENOTFOUND : TARRY_EINVAL;
    }
    load_one(p);
    if (p->error) {
        free(bytes);
        plugin_free(p);
        return TARRY_EINVAL;
    }
    /* A version this host had before its bytes were kept for all (an older host's): keep them now. */
    if (!fetched && set->hooks.keep && set->hooks.keep(set->hooks.user, p, bytes, len, why, sizeof why) != 0)
        hlog(HLOG_WARN, "plugin %s %s (%s): %s; other hosts cannot load it", p->name, p->version, hash, why);
    free(bytes);
    uv_rwlock_wrlock(&set->lock);
    if (gen_by_hash(set, hash)) {
        /* Loaded meanwhile by another thread: keep that one. */
        uv_rwlock_wrunlock(&set->lock);
        plugin_free(p);
        return 0;
    }
    add_gen(set, p);
    uv_rwlock_wrunlock(&set->lock);
    hlog(HLOG_INFO, "plugin %s %s (%s) loaded from the version store for executions pinned to it", p->name,
         p->version, p->hash);
    return 0;
}

plugin **plugins_retire_unused(plugins *set, char (*used)[PLUGIN_HASH_LEN + 1], size_t n, size_t *out_n)
{
    plugin **retired = NULL;
    size_t count = 0, kept = 0;

    uv_rwlock_wrlock(&set->lock);
    for (size_t g = 0; g < set->gen_count; g++) {
        plugin *p = set->gens[g];
        bool in_use = p->current;
        for (size_t i = 0; i < n && !in_use; i++)
            in_use = strcmp(used[i], p->hash) == 0;
        if (!in_use) {
            plugin **grown = realloc(retired, (count + 1) * sizeof *grown);
            if (grown) {
                retired = grown;
                retired[count++] = p;
                continue;
            }
        }
        set->gens[kept++] = p;
    }
    set->gen_count = kept;
    uv_rwlock_wrunlock(&set->lock);
    for (size_t i = 0; i < count; i++)
        hlog(HLOG_INFO, "plugin %s %s (%s): no unfinished execution uses it any more; unloading it",
             retired[i]->name, retired[i]->version, retired[i]->hash);
    *out_n = count;
    return retired;
}

void plugins_close(plugin **retired, size_t n)
{
    for (size_t i = 0; i < n; i++)
        plugin_free(retired[i]);
    free(retired);
}

void plugins_free(plugins *set)
{
    if (!set)
        return;
    scan_free(set->last);
    while (set->dropped) {
        plugins_scan *next = set->dropped->next_dropped;
        scan_free_dropped(set->dropped);
        set->dropped = next;
    }
    for (size_t i = 0; i < set->gen_count; i++)
        plugin_free(set->gens[i]);
    for (size_t i = 0; i < set->retired_count; i++)
        plugin_free(set->retired[i]);
    free(set->retired);
    free(set->gens);
    free(set->index);
    free(set->dir);
    free(set->store_dir);
    uv_rwlock_destroy(&set->lock);
    free(set);
}

void plugins_report(plugins *set, plugins_report_cb cb, void *user)
{
    plugins_scan *scan = set->last;
    for (size_t i = 0; scan && i < scan->count; i++) {
        const plugin *p = scan->files[i].p;
        plugin_outcome o = !p || !p->handle || p->error                          ? PLUGIN_REFUSED
                           : scan->files[i].fresh || !scan->files[i].was_current ? PLUGIN_LOADED
                                                                                 : PLUGIN_UNCHANGED;
        cb(user, scan->files[i].file, p, o);
    }
    for (size_t i = 0; scan && i < scan->removed_count; i++)
        cb(user, scan->removed[i], NULL, PLUGIN_REMOVED);
}

void plugins_each(plugins *set, plugins_each_cb cb, void *user)
{
    for (size_t i = 0; i < set->gen_count; i++)
        cb(user, set->gens[i]);
}
