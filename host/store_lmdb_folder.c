/*
 * store_lmdb_folder.c - see store_lmdb_folder.h.
 *
 * May not: include lmdb.h (store_lmdb.c passes the data file's descriptor).
 */
#include "store_lmdb_folder.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "status.h"

static void path_in(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

/* 1 when `path` exists, 0 when it does not, -1 when we cannot tell (errno set). */
static int exists(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return 1;
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

int store_folder_admit(const char *dir, bool *data_exists, char *err, size_t errlen)
{
    char data[4096], marker[4096];
    int have_data, have_marker;

    path_in(data, sizeof data, dir, STORE_DATA_FILE);
    path_in(marker, sizeof marker, dir, STORE_MARKER);
    have_data = exists(data);
    have_marker = exists(marker);
    *data_exists = have_data == 1;
    if (have_data == 0 && have_marker == 1) {
        snprintf(err, errlen,
                 "data folder %s held a tarry store (%s is there) but its %s is gone: the store was deleted "
                 "or the folder replaced, and every execution it held is lost. Restore it from a backup, or "
                 "start with --init to create a new, empty store there",
                 dir, STORE_MARKER, STORE_DATA_FILE);
        return TARRY_ELOST;
    }
    return 0;
}

/* Write `text` to the marker atomically (a temporary file renamed over it), durably. */
static int marker_write(const char *dir, const char *text)
{
    char path[4096], tmp[4096 + 8];
    size_t len = strlen(text);
    int fd, dfd, rc = 0;

    path_in(path, sizeof path, dir, STORE_MARKER);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return TARRY_EIO;
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
        rc = TARRY_EIO;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = TARRY_EIO;
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(dfd); /* the rename itself */
        close(dfd);
    }
    return 0;
}

static void now_text(char *out, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int store_folder_mark(const char *dir)
{
    char marker[4096], text[512], when[32];
    int have;

    path_in(marker, sizeof marker, dir, STORE_MARKER);
    if ((have = exists(marker)) != 0)
        return have == 1 ? 0 : TARRY_EIO;
    now_text(when, sizeof when);
    snprintf(text, sizeof text,
             "A tarry store lives in this folder (created or first seen %s by pid %d).\n"
             "If %s is ever missing while this file is here, `tarry serve` refuses to start\n"
             "rather than create a new, empty store: pass --init to do that on purpose.\n",
             when, (int)getpid(), STORE_DATA_FILE);
    return marker_write(dir, text);
}

int store_folder_init(const char *dir, bool *had_marker, char *err, size_t errlen)
{
    char data[4096], marker[4096];
    int have_data;

    *had_marker = false;
    path_in(data, sizeof data, dir, STORE_DATA_FILE);
    path_in(marker, sizeof marker, dir, STORE_MARKER);
    if ((have_data = exists(data)) != 0) {
        if (have_data < 0) {
            snprintf(err, errlen, "cannot look at %s: %s", data, strerror(errno));
            return TARRY_EIO;
        }
        return 0; /* a store is there: --init never replaces one */
    }
    if (unlink(marker) == 0)
        *had_marker = true;
    else if (errno != ENOENT && errno != ENOTDIR) {
        snprintf(err, errlen, "cannot remove %s: %s", marker, strerror(errno));
        return TARRY_EIO;
    }
    return 0;
}

static int id_of_fd(int fd, store_file_id *out)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return TARRY_EIO;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    return 0;
}

int store_folder_remember(const char *dir, int data_fd, int lock_fd, store_folder_ids *out)
{
    out->data_fd = data_fd;
    out->lock_fd = lock_fd;
    out->notify_fd = -1;
    if ((out->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return TARRY_EIO;
    /* Without a watch (inotify limits) every commit looks at the files instead. */
    if ((out->notify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) >= 0 &&
        inotify_add_watch(out->notify_fd, dir,
                          IN_DELETE | IN_MOVED_FROM | IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF |
                              IN_MOVE_SELF) < 0) {
        close(out->notify_fd);
        out->notify_fd = -1;
    }
    if (id_of_fd(out->dir_fd, &out->dir) != 0 || id_of_fd(data_fd, &out->data) != 0 ||
        id_of_fd(lock_fd, &out->lock) != 0) {
        store_folder_forget(out);
        return TARRY_EIO;
    }
    return 0;
}

void store_folder_forget(store_folder_ids *ids)
{
    if (ids->dir_fd >= 0)
        close(ids->dir_fd);
    if (ids->notify_fd >= 0)
        close(ids->notify_fd);
    ids->dir_fd = ids->notify_fd = -1;
}

/* 0: still linked; TARRY_ELOST: deleted (why says which); cannot tell: 0. */
static int still_linked(int fd, const char *what, char *why, size_t whylen)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_nlink > 0)
        return 0;
    snprintf(why, whylen, "%s was deleted under the running host", what);
    return TARRY_ELOST;
}

int store_folder_check_open(const store_folder_ids *ids, char *why, size_t whylen)
{
    /* Events are only a reason to look: drain them all, then look once. */
    char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool changed = ids->notify_fd < 0;
    int rc;

    while (ids->notify_fd >= 0 && read(ids->notify_fd, events, sizeof events) > 0)
        changed = true;
    if (!changed)
        return 0;
    if ((rc = still_linked(ids->dir_fd, "the data folder", why, whylen)) != 0 ||
        (rc = still_linked(ids->data_fd, "the store file", why, whylen)) != 0)
        return rc;
    return still_linked(ids->lock_fd, "the lock file", why, whylen);
}

/* 0: the same file; TARRY_ELOST: gone or another one (why says which); else cannot tell: 0. */
static int same_file(const char *path, const store_file_id *was, const char *what, char *why, size_t whylen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            return 0;
        snprintf(why, whylen, "%s %s was deleted under the running host", what, path);
        return TARRY_ELOST;
    }
    if (st.st_dev != was->dev || st.st_ino != was->ino) {
        snprintf(why, whylen, "%s %s was replaced by another under the running host", what, path);
        return TARRY_ELOST;
    }
    return 0;
}

int store_folder_check(const char *dir, const store_folder_ids *ids, char *why, size_t whylen)
{
    char path[4096];
    int rc;

    if ((rc = same_file(dir, &ids->dir, "the data folder", why, whylen)) != 0)
        return rc;
    path_in(path, sizeof path, dir, STORE_DATA_FILE);
    if ((rc = same_file(path, &ids->data, "the store file", why, whylen)) != 0)
        return rc;
    path_in(path, sizeof path, dir, STORE_LOCK_FILE);
    return same_file(path, &ids->lock, "the lock file", why, whylen);
}

void store_folder_mark_lost(const char *dir, const char *why)
{
    char data[4096], text[1024], when[32];

    path_in(data, sizeof data, dir, STORE_DATA_FILE);
    if (exists(data) != 0)
        return; /* a store file is there (a restored or replaced one): leave it to the next start */
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return;
    now_text(when, sizeof when);
    snprintf(text, sizeof text,
             "The tarry store that lived in this folder was lost while host pid %d ran (%s, found %s):\n"
             "every execution it held is gone. `tarry serve` refuses to start here until the store is\n"
             "restored, or until it is started with --init to create a new, empty store.\n",
             (int)getpid(), why, when);
    marker_write(dir, text);
}
