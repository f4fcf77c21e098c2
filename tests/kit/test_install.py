"""The installed SDK, used out of tree as a plugin author would (issue 4, the toolkit).

`cmake --install` puts tarry.h, tarry_test.h, the test kit library, a CMake
package and pkg-config files into a fresh prefix. Then, outside the source
tree:
  - pkg-config: the README's one-line `cc $(pkg-config --cflags tarry)
    -shared -fPIC` builds a plugin that needs no host symbol and exports
    `tarry_plugin`; a test built with `pkg-config --libs tarry-test` loads it
    with the test kit and runs its workflow (stubbed child, virtual clock);
  - CMake: find_package(tarry) + tarry_add_plugin() builds NAME.so (no `lib`
    prefix), tarry_add_plugin_test() builds and registers the test, and
    CTest runs it; tarry_add_plugin() links with -z defs, so a plugin using
    a symbol nothing provides fails to build instead of failing to load.
"""

import os
import shutil
import tempfile

import kit_support
from kit_support import CC, SANITIZE, check, sh

PLUGIN = r'''
#include <tarry.h>

#include <stdio.h>

static tarry_status shout(tarry_ctx *ctx, const char *args_json)
{
    char result[256];
    snprintf(result, sizeof result, "{\"shouted\":%s}", args_json);
    return (tarry_status)tarry_set_result(ctx, result);
}

/* Shout now, and again after a day. */
static tarry_status twice(tarry_ctx *ctx, const char *args_json)
{
    tarry_call_opts later = {.delay = "1 day"};
    tarry_handle now;
    tarry_result r;

    TARRY_TRY(tarry_call(ctx, "shout", args_json, NULL, &now));
    TARRY_TRY(tarry_await(ctx, &now, &r));
    TARRY_TRY(tarry_call(ctx, "shout", args_json, &later, NULL));
    return (tarry_status)tarry_set_result(ctx, r.value_json);
}

TARRY_PLUGIN("hello", "1.0.0", TARRY_FUNCTION("shout", shout), TARRY_FUNCTION("twice", twice));
'''

TEST = r'''
#include <tarry_test.h>

#include <stdio.h>

int main(void)
{
    tarry_test *t = tarry_test_new();
    int ok = 1;

    ok &= tarry_test_load(t, TARRY_PLUGIN_PATH) == TARRY_OK;
    ok &= tarry_test_run(t, "twice", "\"hi\"") == TARRY_TEST_SUCCEEDED;
    ok &= tarry_test_assert_journal(t, "call shout -> ok", "call shout after 1 day -> ok", NULL);
    ok &= tarry_test_assert_json(t, tarry_test_result(t), "shouted", "\"hi\"");
    ok &= tarry_test_now(t) == TARRY_TEST_EPOCH_MS + 86400000;
    tarry_test_stub(t, "shout", TARRY_FAILED, "hoarse");
    ok &= tarry_test_run(t, "twice", "\"hi\"") == TARRY_TEST_FAILED;
    printf("%s\n", ok ? "kit test passed" : "kit test FAILED");
    tarry_test_free(t);
    return ok ? 0 : 1;
}
'''

BROKEN = r'''
#include <tarry.h>

extern int not_defined_anywhere(void);

static tarry_status uses_missing(tarry_ctx *ctx, const char *args_json)
{
    (void)args_json;
    return not_defined_anywhere() ? TARRY_OK : tarry_set_error(ctx, "no");
}

TARRY_PLUGIN("broken", "1.0.0", TARRY_FUNCTION("uses_missing", uses_missing));
'''


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def main():
    top = tempfile.mkdtemp(prefix="tarry-kit-install-")
    try:
        prefix = os.path.join(top, "prefix")
        pc_dir = kit_support.install_sdk(prefix)
        env = {"PKG_CONFIG_PATH": pc_dir}

        # ---- pkg-config: the README's one-liner, verbatim but for the output path
        by_hand = os.path.join(top, "by-hand")
        os.makedirs(by_hand)
        write(os.path.join(by_hand, "hello.c"), PLUGIN)
        write(os.path.join(by_hand, "test_hello.c"), TEST)
        sh('%s $(pkg-config --cflags tarry) -shared -fPIC -Wall -Wextra -Werror -o hello.so hello.c' % CC,
           cwd=by_hand, env=env, shell=True, what="cc $(pkg-config --cflags tarry) -shared -fPIC builds hello.so")
        so = os.path.join(by_hand, "hello.so")
        undefined = kit_support.undefined_symbols(so)
        check(not [s for s in undefined if s.startswith("tarry")], "hello.so needs no symbol from the host", undefined)
        check("tarry_plugin" in kit_support.exported_symbols(so), "hello.so exports tarry_plugin")
        sh('%s %s $(pkg-config --cflags tarry-test) -Wall -Wextra -Werror -DTARRY_PLUGIN_PATH=\'"%s"\' '
           '-o test_hello test_hello.c $(pkg-config --libs tarry-test)' % (CC, SANITIZE, so),
           cwd=by_hand, env=env, shell=True, what="a test links the kit with $(pkg-config --libs tarry-test)")
        _, out = sh([os.path.join(by_hand, "test_hello")], what="the pkg-config-built kit test passes")
        check("kit test passed" in out, "the kit ran hello.so's workflow: stubbed failure, skipped day", out)

        # ---- CMake: find_package(tarry), tarry_add_plugin, tarry_add_plugin_test
        proj = os.path.join(top, "with-cmake")
        os.makedirs(proj)
        write(os.path.join(proj, "hello.c"), PLUGIN)
        write(os.path.join(proj, "test_hello.c"), TEST)
        write(os.path.join(proj, "CMakeLists.txt"),
              "cmake_minimum_required(VERSION 3.18)\n"
              "project(hello LANGUAGES C)\n"
              "find_package(tarry 0.1 REQUIRED)\n"
              "tarry_add_plugin(hello SOURCES hello.c)\n"
              "enable_testing()\n"
              "tarry_add_plugin_test(test_hello SOURCES test_hello.c PLUGIN hello)\n")
        build = os.path.join(proj, "build")
        rc, out = kit_support.cmake_build(proj, build, prefix)
        check(rc == 0, "cmake --build builds the plugin and its test", out[-4000:])
        so = os.path.join(build, "hello.so")
        check(os.path.isfile(so), "tarry_add_plugin made hello.so (a MODULE, no lib prefix)")
        check(not os.path.exists(os.path.join(build, "libhello.so")), "no libhello.so")
        check(not [s for s in kit_support.undefined_symbols(so) if s.startswith("tarry")],
              "the CMake-built hello.so needs no symbol from the host")
        _, out = sh([kit_support.CTEST, "--test-dir", build, "--output-on-failure"],
                    what="ctest runs the test registered by tarry_add_plugin_test")
        check("100% tests passed" in out, "ctest: 100% tests passed", out)

        # ---- -z defs: a missing symbol fails the build, not the host's dlopen
        broken = os.path.join(top, "broken")
        os.makedirs(broken)
        write(os.path.join(broken, "broken.c"), BROKEN)
        write(os.path.join(broken, "CMakeLists.txt"),
              "cmake_minimum_required(VERSION 3.18)\n"
              "project(broken LANGUAGES C)\n"
              "find_package(tarry REQUIRED)\n"
              "tarry_add_plugin(broken SOURCES broken.c)\n")
        rc, out = kit_support.cmake_build(broken, os.path.join(broken, "build"), prefix)
        check(rc != 0 and "not_defined_anywhere" in out,
              "tarry_add_plugin links with -z defs: an undefined symbol fails the build, naming it", out[-2000:])

        # ---- the package's version: a newer major version is refused
        newer = os.path.join(top, "newer")
        os.makedirs(newer)
        write(os.path.join(newer, "CMakeLists.txt"),
              "cmake_minimum_required(VERSION 3.18)\nproject(newer LANGUAGES C)\nfind_package(tarry 1.0 REQUIRED)\n")
        rc, out = sh([kit_support.CMAKE, "-S", newer, "-B", os.path.join(newer, "build"),
                      "-DCMAKE_PREFIX_PATH=" + prefix], expect_ok=False)
        check(rc != 0 and "compatible with requested version" in " ".join(out.split()),
              "find_package(tarry 1.0) refuses the 0.x SDK (tarryConfigVersion.cmake)", out[-2000:])
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    kit_support.harness.run(main)
