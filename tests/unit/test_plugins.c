/*
 * test_plugins.c - the plugins room through its real path: .so files
 * copied into a folder, dlopen()ed from the version store, applied.
 *
 *   - a descriptor in the first layout of ABI 1 (tests/plugins/old_layout.c,
 *     smaller than today's) loads as header revision 1, as tarry.h promises;
 *   - plugins_apply is all or nothing: with the k-th memory allocation of
 *     an apply failing, for every k until one apply needs no more, the
 *     registry is either wholly the old version or wholly the new one
 *     (every function of the current version findable, one current version).
 *
 * Allocation failures are injected with the linker's --wrap=malloc,calloc,
 * realloc on this test binary (CMakeLists.txt): the wrappers pass every call
 * through to libc unless a test armed them, and count what they failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugins.h"

/* ---- allocation failures ------------------------------------------------------------ */

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *ptr, size_t size);

static long alloc_countdown; /* 0: off; n > 0: the n-th allocation from now fails */
static int alloc_failed;     /* how many the wrappers failed since armed */

static int alloc_fails_now(void)
{
    if (alloc_countdown <= 0 || --alloc_countdown > 0)
        return 0;
    alloc_failed++;
    return 1;
}

void *__wrap_malloc(size_t size)
{
    return alloc_fails_now() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t count, size_t size)
{
    return alloc_fails_now() ? NULL : __real_calloc(count, size);
}

void *__wrap_realloc(void *ptr, size_t size)
{
    return alloc_fails_now() ? NULL : __real_realloc(ptr, size);
}

static void alloc_fail_at(long k)
{
    alloc_failed = 0;
    alloc_countdown = k;
}

static void alloc_fail_off(void)
{
    alloc_countdown = 0;
}

/* ---- a plugins folder of our own ------------------------------------------------------ */

typedef struct folder {
    char top[64], dir[96], store[96];
} folder;

static void folder_make(folder *f)
{
    snprintf(f->top, sizeof f->top, "/tmp/tarry-unit-plugins-XXXXXX");
    assert_non_null(mkdtemp(f->top));
    snprintf(f->dir, sizeof f->dir, "%s/plugins", f->top);
    snprintf(f->store, sizeof f->store, "%s/store", f->top);
    assert_int_equal(mkdir(f->dir, 0755), 0);
}

static void folder_remove(folder *f)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->top);
    assert_int_equal(system(cmd), 0);
}

/* Copy built test plugin `name` into the folder as `as`, atomically (as a deploy does). */
static void install(const folder *f, const char *name, const char *as)
{
    char from[512], tmp[256], to[256], buf[65536];
    ssize_t n;
    int in, out;

    snprintf(from, sizeof from, "%s/%s/%s.so", TARRY_TEST_PLUGINS, name, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", f->dir, as);
    snprintf(to, sizeof to, "%s/%s", f->dir, as);
    in = open(from, O_RDONLY);
    if (in < 0)
        fail_msg("cannot open the built plugin %s", from);
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(out >= 0);
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
    assert_int_equal(rename(tmp, to), 0);
}

/* ---- the first descriptor layout ------------------------------------------------------- */

static void test_first_layout_loads_as_revision_1(void **state)
{
    folder f;
    plugins *set;
    const plugin_fn *fn;
    (void)state;

    folder_make(&f);
    install(&f, "old_layout", "old_layout.so");
    assert_int_equal(plugins_open(&set, f.dir, f.store, NULL), 0);
    fn = plugins_find(set, "old_later");
    assert_non_null(fn);
    assert_null(fn->owner->error);
    assert_string_equal(fn->owner->name, "old_layout");
    assert_int_equal(fn->owner->header_revision, 1);
    assert_non_null(plugins_find(set, "old_child"));
    plugins_free(set);
    folder_remove(&f);
}

/* ---- plugins_apply under out of memory ------------------------------------------------ */

typedef struct census {
    int current;      /* versions marked current */
    int current_rl;   /* ... of plugin rl */
    const plugin *rl; /* the current version of rl */
} census;

static void count_version(void *user, const plugin *p)
{
    census *c = user;
    if (p->current) {
        c->current++;
        if (p->name && strcmp(p->name, "rl") == 0) {
            c->current_rl++;
            c->rl = p;
        }
    }
}

/* The registry is whole: one current rl, and every function it has is what plugins_find answers. */
static const char *registry_version(plugins *set)
{
    census c = {0};
    const plugin_fn *fn;

    plugins_each(set, count_version, &c);
    assert_int_equal(c.current_rl, 1);
    assert_int_equal(c.current, 1);
    assert_int_equal(c.rl->fn_count, 3);
    for (size_t i = 0; i < c.rl->fn_count; i++) {
        fn = plugins_find(set, c.rl->fns[i].name);
        if (fn != &c.rl->fns[i])
            fail_msg("version %s of rl is current, but plugins_find(\"%s\") answers %s", c.rl->version,
                     c.rl->fns[i].name, fn ? fn->owner->version : "nothing");
    }
    return c.rl->version;
}

static void apply_scan(plugins *set)
{
    plugins_apply(set, plugins_scan_dir(set));
}

static void test_apply_is_all_or_nothing(void **state)
{
    folder f;
    plugins *set;
    long k;
    int failed_applies = 0;
    (void)state;

    folder_make(&f);
    install(&f, "rl_v1", "rl.so");
    assert_int_equal(plugins_open(&set, f.dir, f.store, NULL), 0);
    assert_string_equal(registry_version(set), "1.0.0");
    install(&f, "rl_v2", "rl.so");
    for (k = 1;; k++) {
        plugins_scan *scan = plugins_scan_dir(set);
        const char *version;

        alloc_fail_at(k);
        plugins_apply(set, scan);
        alloc_fail_off();
        version = registry_version(set);
        if (!alloc_failed) {
            /* This apply needed fewer than k allocations: it succeeded whole. */
            assert_string_equal(version, "2.0.0");
            break;
        }
        failed_applies++;
        if (strcmp(version, "2.0.0") == 0) {
            /* The failure hit after the change (a log line, say): back to v1 for the next k. */
            install(&f, "rl_v1", "rl.so");
            apply_scan(set);
            assert_string_equal(registry_version(set), "1.0.0");
            install(&f, "rl_v2", "rl.so");
        }
    }
    printf("plugins_apply: an allocation failed at each of %d points; the registry stayed whole each time\n",
           failed_applies);
    assert_true(failed_applies >= 3);
    plugins_free(set);
    folder_remove(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_layout_loads_as_revision_1),
        cmocka_unit_test(test_apply_is_all_or_nothing),
    };
    return cmocka_run_group_tests_name("plugins", tests, NULL, NULL);
}
