/*
 * plugin_files.h - which files of the plugins folder may be loaded, reading
 * them without blocking, and checking the version store's copies.
 *
 * Part of the plugins room (plugins.c is its only user). A plugin runs
 * inside the host with all its rights, so a file someone else could have
 * written is refused, not loaded:
 *   - only regular files are read; a FIFO, socket or device named *.so is
 *     refused (opened with O_NONBLOCK, so a FIFO never hangs a scan);
 *   - names starting with '.' are not plugins (editors' and deploys'
 *     temporary files): they are skipped without a word;
 *   - a symbolic link is followed only when it resolves inside the folder;
 *   - a file or folder writable by group or others, or owned by a user who
 *     is neither the host's nor root, is refused;
 *   - the bytes hashed are the bytes read from the descriptor that was
 *     checked, and those bytes are what the version store keeps and dlopen
 *     loads; a store copy is loaded only after its content is hashed again
 *     and matches its name (plugin_files_verify_stored).
 *
 * Threads: any (no shared state). May not: dlopen, touch the registry.
 */
#ifndef TARRY_PLUGIN_FILES_H
#define TARRY_PLUGIN_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "plugins.h"

/* Whether a folder entry is a plugin candidate: "*.so", not a dotfile. */
bool plugin_files_candidate(const char *name);

/*
 * Whether folder `dir` may hold plugins: 0, or TARRY_EINVAL with the
 * reason in `why` (writable by group or others, owned by another user).
 * A folder that cannot be read at all is not refused here (ENOENT and the
 * like are the scan's to report): 0.
 */
int plugin_files_check_dir(const char *dir, char *why, size_t whylen);

/*
 * Read plugin file `path` (an entry of folder `dir`) after checking it as
 * the top of this file says. On 0, *bytes (malloc'd, the caller frees) and
 * *len hold its content and `hash` its version hash (PLUGIN_HASH_LEN hex
 * digits of its SHA-256). Else TARRY_EINVAL (refused) or TARRY_EIO
 * (unreadable), with the reason in `why` and *bytes NULL.
 */
int plugin_files_read(const char *dir, const char *path, char **bytes, size_t *len,
                      char hash[PLUGIN_HASH_LEN + 1], char *why, size_t whylen);

/*
 * Whether the version store's copy `stored` is a regular file whose content
 * hashes to `hash`: 0, TARRY_ENOTFOUND (no such file), TARRY_EINVAL (not a
 * regular file, or other content: the reason names the hash it has), or
 * TARRY_EIO, with the reason in `why`.
 */
int plugin_files_verify_stored(const char *stored, const char *hash, char *why, size_t whylen);
/* The same, and on 0 the checked content in *bytes (malloc'd, the caller frees) and *len. */
int plugin_files_read_stored(const char *stored, const char *hash, char **bytes, size_t *len, char *why,
                             size_t whylen);

/* The version hash of `len` bytes. 0, or TARRY_EIO if the digest failed. */
int plugin_files_hash(const char *bytes, size_t len, char hash[PLUGIN_HASH_LEN + 1]);

#endif
