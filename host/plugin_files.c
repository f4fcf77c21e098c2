/*
 * plugin_files.c - the plugins folder's files as the host may trust them:
 * which are candidates, which are refused and why, reading them without
 * blocking, and checking the version store's copies against their names.
 *
 * May not: dlopen, touch the registry (plugins.c does both), log (the
 * caller logs the reason with the plugin it refuses).
 */
#include "plugin_files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "status.h"

bool plugin_files_candidate(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 3 && strcmp(name + n - 3, ".so") == 0;
}

int plugin_files_hash(const char *bytes, size_t len, char hash[PLUGIN_HASH_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!EVP_Digest(bytes, len, md, &mdlen, EVP_sha256(), NULL) || mdlen < PLUGIN_HASH_LEN / 2)
        return TARRY_EIO;
    for (int i = 0; i < PLUGIN_HASH_LEN / 2; i++)
        snprintf(hash + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static const char *file_kind(mode_t mode)
{
    return S_ISFIFO(mode)   ? "a FIFO"
           : S_ISSOCK(mode) ? "a socket"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISDIR(mode)  ? "a directory"
                            : "not a regular file";
}

/* Who may have written a file or folder with this stat: 0, or TARRY_EINVAL with why. */
static int check_writers(const struct stat *st, const char *what, char *why, size_t whylen)
{
    uid_t self = geteuid();

    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, whylen,
                 "%s is writable by %s (mode %04o): a plugin runs with the host's rights, so only its owner "
                 "may write it (chmod go-w)",
                 what, (st->st_mode & S_IWOTH) ? "everyone" : "its group", (unsigned)(st->st_mode & 07777));
        return TARRY_EINVAL;
    }
    if (st->st_uid != self && st->st_uid != 0) {
        struct passwd pw, *found = NULL;
        char buf[1024];
        getpwuid_r(st->st_uid, &pw, buf, sizeof buf, &found);
        snprintf(why, whylen,
                 "%s is owned by uid %u%s%s%s, neither the host's user (uid %u) nor root: a plugin runs "
                 "with the host's rights (chown it)",
                 what, (unsigned)st->st_uid, found ? " (" : "", found ? found->pw_name : "", found ? ")" : "",
                 (unsigned)self);
        return TARRY_EINVAL;
    }
    return 0;
}

int plugin_files_check_dir(const char *dir, char *why, size_t whylen)
{
    struct stat st;

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0;
    return check_writers(&st, "the plugins folder", why, whylen);
}

/* All of a regular file's bytes from `fd`. 0, or TARRY_EIO (errno set) / TARRY_ENOMEM. */
static int read_all(int fd, const struct stat *st, char **bytes, size_t *len)
{
    size_t size = (size_t)st->st_size, got = 0;
    char *buf = malloc(size + 1);

    if (!buf)
        return TARRY_ENOMEM;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO; /* shrank while read: a deploy is writing it in place */
            free(buf);
            return TARRY_EIO;
        }
        got += (size_t)n;
    }
    *bytes = buf;
    *len = size;
    return 0;
}

/* Whether `path` (resolved) is strictly inside `dir` (resolved). */
static bool inside(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    return strncmp(dir, path, n) == 0 && (path[n] == '/' || (n == 1 && dir[0] == '/')) && path[n + 1];
}

int plugin_files_read(const char *dir, const char *path, char **bytes, size_t *len,
                      char hash[PLUGIN_HASH_LEN + 1], char *why, size_t whylen)
{
    char real_dir[PATH_MAX], real[PATH_MAX];
    const char *open_path = path;
    struct stat st;
    int fd, rc;

    *bytes = NULL;
    if (lstat(path, &st) != 0) {
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
        return TARRY_EIO;
    }
    if (S_ISLNK(st.st_mode)) {
        /* A link is a plugin only where its target is: inside the folder,
         * under the same checks. One that leaves it would load whatever
         * someone can put there. */
        if (!realpath(dir, real_dir) || !realpath(path, real)) {
            snprintf(why, whylen, "is a symbolic link that cannot be resolved: %s", strerror(errno));
            return TARRY_EINVAL;
        }
        if (!inside(real_dir, real)) {
            snprintf(why, whylen,
                     "is a symbolic link to %s, outside the plugins folder %s: links are followed only "
                     "inside it",
                     real, real_dir);
            return TARRY_EINVAL;
        }
        open_path = real;
    }
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer;
     * O_NOFOLLOW: the name checked above is the file opened (a link swapped
     * in meanwhile fails here instead of being followed). */
    if ((fd = open(open_path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        if (errno == ELOOP) {
            snprintf(why, whylen, "became a symbolic link while it was read: try again");
            return TARRY_EINVAL;
        }
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
        return TARRY_EIO;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
        close(fd);
        return TARRY_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "is %s: only regular files are loaded", file_kind(st.st_mode));
        close(fd);
        return TARRY_EINVAL;
    }
    if ((rc = check_writers(&st, "the file", why, whylen)) != 0) {
        close(fd);
        return rc;
    }
    rc = read_all(fd, &st, bytes, len);
    close(fd);
    if (rc == TARRY_ENOMEM) {
        snprintf(why, whylen, "out of memory reading it (%lld bytes)", (long long)st.st_size);
        return TARRY_EIO;
    }
    if (rc != 0) {
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
        return rc;
    }
    if (plugin_files_hash(*bytes, *len, hash) != 0) {
        free(*bytes);
        *bytes = NULL;
        snprintf(why, whylen, "cannot compute its SHA-256");
        return TARRY_EIO;
    }
    return 0;
}

int plugin_files_verify_stored(const char *stored, const char *hash, char *why, size_t whylen)
{
    return plugin_files_read_stored(stored, hash, NULL, NULL, why, whylen);
}

int plugin_files_read_stored(const char *stored, const char *hash, char **out, size_t *out_len, char *why,
                             size_t whylen)
{
    char have[PLUGIN_HASH_LEN + 1];
    char *bytes = NULL;
    size_t len = 0;
    struct stat st;
    int fd, rc;

    if ((fd = open(stored, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        int err = errno;
        snprintf(why, whylen, "%s: %s", stored,
                 err == ELOOP ? "is a symbolic link; the version store holds only the copies it wrote"
                              : strerror(err));
        return err == ENOENT ? TARRY_ENOTFOUND : err == ELOOP ? TARRY_EINVAL : TARRY_EIO;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "%s: %s", stored, strerror(errno));
        close(fd);
        return TARRY_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "%s is %s, not a copy the version store wrote", stored, file_kind(st.st_mode));
        close(fd);
        return TARRY_EINVAL;
    }
    rc = read_all(fd, &st, &bytes, &len);
    close(fd);
    if (rc != 0) {
        snprintf(why, whylen, "%s: %s", stored,
                 rc == TARRY_ENOMEM ? "out of memory reading it" : strerror(errno));
        return TARRY_EIO;
    }
    rc = plugin_files_hash(bytes, len, have);
    if (rc != 0) {
        free(bytes);
        snprintf(why, whylen, "%s: cannot compute its SHA-256", stored);
        return TARRY_EIO;
    }
    if (strcmp(have, hash) != 0) {
        free(bytes);
        snprintf(why, whylen, "%s holds content with hash %s, not %s: it was changed or planted", stored,
                 have, hash);
        return TARRY_EINVAL;
    }
    if (out) {
        *out = bytes;
        *out_len = len;
    } else {
        free(bytes);
    }
    return 0;
}
