/*
 * scaffold.c - `tarry new NAME [DIR]`: render the plugin templates into DIR.
 *
 * All or nothing: every target is checked before the first is written and
 * created with O_EXCL (never overwriting a file that appeared meanwhile),
 * and a failure part-way removes what this run wrote. libc only: it needs
 * no host, store or network.
 */
#include "scaffold.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scaffold_templates.h"

#define SCAFFOLD_NAME_MAX 64 /* function names are NAME_welcome: well under the host's 128 */
#define SCAFFOLD_EXIT_OK 0
#define SCAFFOLD_EXIT_FAILED 1
#define SCAFFOLD_EXIT_USAGE 2
#define TEMPLATE_COUNT (sizeof scaffold_templates / sizeof scaffold_templates[0])

void scaffold_usage(FILE *out)
{
    fprintf(out, "  %-40s %s\n", "new NAME [DIR]",
            "write a plugin skeleton (source, test, CMakeLists.txt) into DIR");
}

static void help(FILE *out)
{
    fputs("usage: tarry new NAME [DIR]\n\n"
          "Write a ready-to-build tarry plugin into DIR (default ./NAME): NAME.c (a function and a\n"
          "workflow), test_NAME.c (tests with the test kit), CMakeLists.txt (find_package(tarry)),\n"
          "README.md and .gitignore. NAME is a C identifier ([A-Za-z_][A-Za-z0-9_]*); the plugin's\n"
          "functions are NAME_greet and NAME_welcome. Existing files are never overwritten.\n",
          out);
}

/* CMake reserves these target names; a plugin target may not take them. */
static int cmake_reserved(const char *name)
{
    static const char *const reserved[] = {
        "all",        "clean",          "help",      "install",
        "package",    "package_source", "test",      "depend",
        "edit_cache", "rebuild_cache",  "ALL_BUILD", "ZERO_CHECK",
        "RUN_TESTS",  "INSTALL",        "PACKAGE",   "list_install_components"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(name, reserved[i]) == 0)
            return 1;
    return 0;
}

/* Why NAME cannot be a plugin name, or NULL if it can. */
static const char *name_problem(const char *name)
{
    size_t len = strlen(name);

    if (len == 0)
        return "it is empty";
    if (len > SCAFFOLD_NAME_MAX)
        return "it is longer than 64 bytes";
    if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return "it must start with a letter or '_'";
    for (size_t i = 1; i < len; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return "it may hold only letters, digits and '_' (it names C functions and a CMake target)";
    }
    if (cmake_reserved(name))
        return "CMake reserves it as a target name";
    return NULL;
}

/* The template's text with every @NAME@ replaced; the caller frees it. NULL when out of memory. */
static char *render(const char *text, const char *name)
{
    static const char mark[] = "@NAME@";
    size_t marks = 0, name_len = strlen(name), len;
    const char *at;
    char *out, *o;

    for (at = text; (at = strstr(at, mark)); at += sizeof mark - 1)
        marks++;
    len = strlen(text) - marks * (sizeof mark - 1) + marks * name_len;
    if (!(out = malloc(len + 1)))
        return NULL;
    for (o = out, at = text;;) {
        const char *next = strstr(at, mark);
        size_t chunk = next ? (size_t)(next - at) : strlen(at);
        memcpy(o, at, chunk);
        o += chunk;
        if (!next)
            break;
        memcpy(o, name, name_len);
        o += name_len;
        at = next + sizeof mark - 1;
    }
    *o = '\0';
    return out;
}

/* The file a template becomes: "NAME.c.in" -> "DIR/demo.c", "gitignore.in" -> "DIR/.gitignore". */
static int target_path(const char *dir, const char *template_name, const char *name, char *out, size_t outlen)
{
    size_t len = strlen(template_name);
    const char *base = template_name;
    char file[PATH_MAX];
    int n;

    if (len > 3 && strcmp(template_name + len - 3, ".in") == 0)
        len -= 3;
    if (strncmp(base, "gitignore", len) == 0 && len == 9)
        n = snprintf(file, sizeof file, ".gitignore");
    else if (strncmp(base, "test_NAME", 9) == 0)
        n = snprintf(file, sizeof file, "test_%s%.*s", name, (int)(len - 9), base + 9);
    else if (strncmp(base, "NAME", 4) == 0)
        n = snprintf(file, sizeof file, "%s%.*s", name, (int)(len - 4), base + 4);
    else
        n = snprintf(file, sizeof file, "%.*s", (int)len, base);
    if (n < 0 || (size_t)n >= sizeof file)
        return -1;
    n = snprintf(out, outlen, "%s/%s", dir, file);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* mkdir -p: 0, or -1 with errno set. */
static int make_dirs(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, len + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Create `path` (which must not exist) holding `text`. 0, or -1 with errno set (nothing left behind). */
static int write_new(const char *path, const char *text)
{
    size_t len = strlen(text), done = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644), err;

    if (fd < 0)
        return -1;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        done += (size_t)n;
    }
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    return 0;
fail:
    err = errno ? errno : EIO;
    if (fd >= 0)
        close(fd);
    unlink(path);
    errno = err;
    return -1;
}

int scaffold_main(int argc, char **argv)
{
    const char *words[2] = {NULL, NULL}, *name, *dir, *problem;
    char paths[TEMPLATE_COUNT][PATH_MAX];
    size_t written = 0, nwords = 0;
    struct stat st;
    int rc = SCAFFOLD_EXIT_FAILED;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            help(stdout);
            return SCAFFOLD_EXIT_OK;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "tarry new: unknown option '%s'\n", argv[i]);
            help(stderr);
            return SCAFFOLD_EXIT_USAGE;
        }
        if (nwords == 2) {
            fprintf(stderr, "tarry new: too many arguments (from '%s')\n", argv[i]);
            help(stderr);
            return SCAFFOLD_EXIT_USAGE;
        }
        words[nwords++] = argv[i];
    }
    if (nwords == 0) {
        help(stderr);
        return SCAFFOLD_EXIT_USAGE;
    }
    name = words[0];
    dir = words[1] ? words[1] : name;
    if ((problem = name_problem(name))) {
        fprintf(stderr, "tarry new: \"%s\" cannot name a plugin: %s\n", name, problem);
        return SCAFFOLD_EXIT_USAGE;
    }

    /* Check every target first: refusing part-way would leave half a skeleton. */
    for (size_t i = 0; i < TEMPLATE_COUNT; i++) {
        if (target_path(dir, scaffold_templates[i].name, name, paths[i], sizeof paths[i]) != 0) {
            fprintf(stderr, "tarry new: the folder name \"%s\" is too long\n", dir);
            return SCAFFOLD_EXIT_USAGE;
        }
        if (lstat(paths[i], &st) == 0) {
            fprintf(stderr, "tarry new: %s already exists; nothing was written (choose another folder)\n",
                    paths[i]);
            return SCAFFOLD_EXIT_FAILED;
        }
    }
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "tarry new: %s exists and is not a folder\n", dir);
        return SCAFFOLD_EXIT_FAILED;
    }
    if (make_dirs(dir) != 0) {
        fprintf(stderr, "tarry new: cannot create the folder %s: %s\n", dir, strerror(errno));
        return SCAFFOLD_EXIT_FAILED;
    }
    for (written = 0; written < TEMPLATE_COUNT; written++) {
        char *text = render(scaffold_templates[written].text, name);
        int failed = !text || write_new(paths[written], text) != 0;
        int err = text ? errno : ENOMEM;
        free(text);
        if (failed) {
            fprintf(stderr, "tarry new: cannot write %s: %s; removing what was written\n", paths[written],
                    strerror(err));
            goto fail;
        }
    }
    for (size_t i = 0; i < TEMPLATE_COUNT; i++)
        printf("created %s\n", paths[i]);
    printf("\nnext, with the tarry SDK installed (cmake --install BUILD --prefix PREFIX):\n"
           "  cd %s\n"
           "  cmake -B build -DCMAKE_PREFIX_PATH=PREFIX && cmake --build build\n"
           "  ctest --test-dir build --output-on-failure\n"
           "then copy build/%s.so into the host's plugins folder.\n",
           dir, name);
    return SCAFFOLD_EXIT_OK;
fail:
    while (written > 0)
        unlink(paths[--written]);
    return rc;
}
