"""`tarry new NAME [DIR]`: the skeleton builds against the installed SDK, its test passes, a host runs it.

  - writes NAME.c, test_NAME.c, CMakeLists.txt, README.md and .gitignore, in
    DIR or ./NAME, and says what it wrote;
  - refuses, writing nothing, when any of those files exists (all or
    nothing), and refuses names that are not C identifiers or that CMake
    reserves;
  - the skeleton configures with find_package(tarry) against an SDK installed
    with `cmake --install`, builds with -Wall -Wextra -Werror, and its kit
    test passes under CTest; the README's pkg-config commands work too;
  - the built NAME.so loads in a real `tarry serve`, and its workflow
    (a child call, an await, a step) succeeds there.
"""

import filecmp
import os
import shutil
import tempfile

import kit_support
from kit_support import CC, SANITIZE, check, sh

BIN = os.environ.get("TARRY_BIN", "")
FILES = ["demo.c", "test_demo.c", "CMakeLists.txt", "README.md", ".gitignore"]


def main():
    top = tempfile.mkdtemp(prefix="tarry-kit-new-")
    try:
        prefix = os.path.join(top, "prefix")
        pc_dir = kit_support.install_sdk(prefix)

        _, out = sh([BIN, "--help"])
        check("new NAME [DIR]" in out, "`tarry --help` lists `new NAME [DIR]`", out)

        # ---- writing the skeleton
        proj = os.path.join(top, "work", "demo-plugin")
        rc, out = sh([BIN, "new", "demo", proj], what="tarry new demo DIR succeeds")
        for name in FILES:
            path = os.path.join(proj, name)
            check(os.path.isfile(path), "wrote %s" % name)
            check("created " + path in out, "said it created %s" % name, out)
        with open(os.path.join(proj, "demo.c")) as f:
            source = f.read()
        check("@NAME@" not in source and 'TARRY_PLUGIN("demo"' in source and "demo_welcome" in source,
              "demo.c has NAME filled in everywhere")

        # ---- never overwriting
        snapshot = os.path.join(top, "snapshot")
        shutil.copytree(proj, snapshot)
        rc, out = sh([BIN, "new", "demo", proj], expect_ok=False)
        check(rc == 1 and "already exists" in out and "nothing was written" in out,
              "a second tarry new into the same folder is refused", out)
        check(not filecmp.dircmp(proj, snapshot).diff_files, "... and changed nothing")
        partial = os.path.join(top, "partial")
        os.makedirs(partial)
        with open(os.path.join(partial, "README.md"), "w") as f:
            f.write("mine\n")
        rc, out = sh([BIN, "new", "demo", partial], expect_ok=False)
        check(rc == 1 and "README.md already exists" in out, "one existing file refuses the whole skeleton", out)
        check(sorted(os.listdir(partial)) == ["README.md"], "... writing none of the others",
              os.listdir(partial))
        with open(os.path.join(partial, "README.md")) as f:
            check(f.read() == "mine\n", "... and leaving the existing file alone")

        # ---- names
        for bad, why in (("9lives", "start with a letter"), ("has-dash", "only letters, digits"),
                         ("test", "CMake reserves"), ("x" * 65, "longer than 64"), ("", "empty")):
            target = os.path.join(top, "bad-name")
            rc, out = sh([BIN, "new", bad, target], expect_ok=False)
            check(rc == 2 and why in out and not os.path.exists(target),
                  "tarry new %r is refused (%s), nothing created" % (bad[:12], why), out)
        rc, out = sh([BIN, "new"], expect_ok=False)
        check(rc == 2 and "usage: tarry new NAME [DIR]" in out, "tarry new without a name prints usage", out)
        rc, out = sh([BIN, "new", "a", "b", "c"], expect_ok=False)
        check(rc == 2 and "too many arguments" in out, "tarry new with three words is refused", out)

        # ---- the default folder is ./NAME
        cwd = os.path.join(top, "cwd")
        os.makedirs(cwd)
        sh([BIN, "new", "second"], cwd=cwd, what="tarry new second (no DIR) succeeds")
        check(os.path.isfile(os.path.join(cwd, "second", "second.c")), "tarry new NAME writes ./NAME/NAME.c")

        # ---- building and testing it with CMake against the installed SDK
        build = os.path.join(proj, "build")
        rc, out = kit_support.cmake_build(proj, build, prefix)
        check(rc == 0, "the skeleton builds with find_package(tarry), -Wall -Wextra -Werror", out[-4000:])
        so = os.path.join(build, "demo.so")
        check(os.path.isfile(so), "it builds demo.so")
        check(not [s for s in kit_support.undefined_symbols(so) if s.startswith("tarry")],
              "demo.so needs no symbol from the host")
        _, out = sh([kit_support.CTEST, "--test-dir", build, "--output-on-failure", "-V"],
                    what="the skeleton's kit test passes under CTest")
        check("100% tests passed" in out and "all passed" in out and "FAILED:" not in out,
              "test_demo: every check passed", out[-3000:])

        # ---- the README's pkg-config route
        by_hand = os.path.join(top, "by-hand")
        shutil.copytree(proj, by_hand, ignore=shutil.ignore_patterns("build"))
        env = {"PKG_CONFIG_PATH": pc_dir}
        sh("%s $(pkg-config --cflags tarry) -shared -fPIC -o demo.so demo.c" % CC, cwd=by_hand, env=env, shell=True,
           what="README: cc $(pkg-config --cflags tarry) -shared -fPIC -o demo.so demo.c")
        sh("%s %s $(pkg-config --cflags tarry-test) -DTARRY_PLUGIN_PATH='\"./demo.so\"' -o test_demo test_demo.c "
           "$(pkg-config --libs tarry-test) && ./test_demo" % (CC, SANITIZE),
           cwd=by_hand, env=env, shell=True, what="README: the kit test built with pkg-config passes")

        # ---- a real host runs it
        h = kit_support.harness.Host(start=False)
        shutil.copyfile(so, os.path.join(h.plugins_dir, "demo.so"))
        h.start()
        r = h.cli("functions")
        check(r.returncode == 0 and "demo_greet" in r.stdout and "demo_welcome" in r.stdout,
              "tarry functions lists the skeleton's functions", r.stdout + r.stderr)
        status, doc = h.trigger("demo_welcome", {"name": "Ann"}, wait="20s")
        check(status == 200 and doc.get("state") == "succeeded", "demo_welcome succeeds in the host", doc)
        check(doc.get("result") == {"welcomed": True, "greeting": {"greeting": "hello", "to": {"name": "Ann"}}},
              "its result is the greeting of its child", doc.get("result"))
        h.stop()
        h.cleanup()
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    kit_support.harness.run(main)
