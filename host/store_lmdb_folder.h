/*
 * store_lmdb_folder.h - the data folder's identity: is the store still there,
 * and may a store be created here?
 *
 * Two ways to lose every acknowledged execution without a word, both closed
 * here:
 *   - the folder is deleted (or replaced) under a running host: LMDB goes on
 *     writing into files nobody can open again, and the next start finds an
 *     empty folder. The store remembers the device and inode of the folder,
 *     of its data file and of its lock file when it opens, and checks them
 *     after every commit and every second (store_check_folder in store.h);
 *   - a start in a folder whose store is gone would create a new, empty one.
 *     Creating a store writes a marker (STORE_MARKER) next to it; a folder
 *     with the marker and no data file is refused unless the user asks for a
 *     new store (`tarry serve --init`). A host that finds its folder gone
 *     writes the marker again, saying what happened, so no later start can
 *     quietly begin anew there. A folder that never held a store (missing,
 *     or without the marker) is first use: the store is created.
 *
 * libc only (store_lmdb.c holds the LMDB side). Not thread-safe per folder, and
 * needs none: one host per folder (the lock in store_lmdb.c).
 */
#ifndef TARRY_STORE_LMDB_FOLDER_H
#define TARRY_STORE_LMDB_FOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define STORE_MARKER "tarry.store" /* in the data folder: a store was created here */
#define STORE_DATA_FILE "data.mdb" /* LMDB's data file in the folder */
#define STORE_LOCK_FILE "tarry.lock"

typedef struct store_file_id {
    dev_t dev;
    ino_t ino;
} store_file_id;

/* The folder, its data file and its lock file, as they were when the store opened. */
typedef struct store_folder_ids {
    store_file_id dir, data, lock;
    int dir_fd, data_fd, lock_fd; /* open while the store is: fstat sees a deletion without a path walk */
    int notify_fd;                /* inotify on the folder (-1: none, then every commit checks) */
} store_folder_ids;

/*
 * Before opening: may a store be opened or created in `dir`? 0 when the data
 * file exists (*exists = true) or the folder never held a store (*exists =
 * false: it is created); TARRY_ELOST, with the reason and what to do in err,
 * when the marker says a store was here and its data file is gone.
 */
int store_folder_admit(const char *dir, bool *exists, char *err, size_t errlen);

/* After opening: write the marker if it is missing (a new store, or one from
 * before markers). Returns 0 or TARRY_EIO. */
int store_folder_mark(const char *dir);

/*
 * `tarry serve --init`: allow a new, empty store in `dir`. A folder whose
 * data file exists is left alone (--init never deletes a store); otherwise
 * the marker goes, so the next open creates the store. Returns 0 (with
 * *had_marker saying whether a lost store's marker was removed) or TARRY_EIO.
 */
int store_folder_init(const char *dir, bool *had_marker, char *err, size_t errlen);

/* Record what the folder, its data file (data_fd) and lock file (lock_fd) are now; the folder
 * is opened (store_folder_forget closes it; the other two descriptors stay the caller's). */
int store_folder_remember(const char *dir, int data_fd, int lock_fd, store_folder_ids *out);
void store_folder_forget(store_folder_ids *ids);

/*
 * After every commit, on its critical path: 0, or TARRY_ELOST when the folder,
 * its data file or its lock file was deleted (its link count is 0). The
 * folder is watched with inotify: a commit reads the watch without waiting
 * and looks at the files (three fstat()s of open descriptors) only when
 * something in the folder changed. Measured here, a path walk per commit
 * cost ~50 us of every acknowledgement and the three fstat()s ~40 us more
 * than none. A folder renamed or replaced, which keeps its links, is found
 * by store_folder_check, every second.
 */
int store_folder_check_open(const store_folder_ids *ids, char *why, size_t whylen);

/* 0 while the folder is the one remembered; TARRY_ELOST with the reason in why
 * when it, its data file or its lock file is missing or another file now. A
 * check that cannot look (EIO, EACCES) says nothing: only proof of loss counts. */
int store_folder_check(const char *dir, const store_folder_ids *ids, char *why, size_t whylen);

/* The store in `dir` is gone: write the marker again (creating the folder),
 * with the reason, so no later start creates a new store there by itself. */
void store_folder_mark_lost(const char *dir, const char *why);

#endif
