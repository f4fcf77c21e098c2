"""Shared helpers for the toolkit's end-to-end tests (test_install.py, test_new.py).

They use tarry the way a plugin author does: install the SDK into a temporary
prefix with `cmake --install`, then build plugins out of tree against it.

Environment (set by CTest): TARRY_BUILD (the build folder to install from),
TARRY_SRC, TARRY_BIN, TARRY_CC, TARRY_CMAKE, TARRY_CTEST, and
TARRY_KIT_SANITIZE_FLAGS (the sanitizer flags of a TARRY_SANITIZE build: the
installed kit library is instrumented then, so whatever links it must use them).
"""

import glob
import os
import shlex
import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402  (check(), run(), Host)
from harness import check  # noqa: E402,F401

BUILD = os.environ.get("TARRY_BUILD", "")
CC = os.environ.get("TARRY_CC") or "cc"
CMAKE = os.environ.get("TARRY_CMAKE") or "cmake"
CTEST = os.environ.get("TARRY_CTEST") or "ctest"
SANITIZE = os.environ.get("TARRY_KIT_SANITIZE_FLAGS", "")


def sh(argv, cwd=None, env=None, shell=False, expect_ok=True, what=None):
    """Run a command, print it, and return (returncode, combined output). Fails the test if expect_ok and it fails."""
    shown = argv if isinstance(argv, str) else " ".join(shlex.quote(a) for a in argv)
    print("$ " + shown, flush=True)
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(argv, cwd=cwd, env=full_env, shell=shell, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)
    out = proc.stdout + proc.stderr
    if expect_ok:
        check(proc.returncode == 0, what or ("`%s` succeeds" % shown), out[-4000:])
    return proc.returncode, out


def install_sdk(prefix):
    """`cmake --install BUILD --prefix prefix`; returns the folder holding tarry.pc."""
    sh([CMAKE, "--install", BUILD, "--prefix", prefix], what="cmake --install puts tarry into %s" % prefix)
    for rel in ("include/tarry.h", "include/tarry_test.h"):
        check(os.path.isfile(os.path.join(prefix, rel)), "installed %s" % rel)
    pcs = glob.glob(os.path.join(prefix, "lib*", "**", "tarry.pc"), recursive=True)
    check(len(pcs) == 1, "installed one tarry.pc", pcs)
    pc_dir = os.path.dirname(pcs[0])
    check(os.path.isfile(os.path.join(pc_dir, "tarry-test.pc")), "installed tarry-test.pc")
    configs = glob.glob(os.path.join(prefix, "lib*", "**", "cmake", "tarry", "tarryConfig.cmake"), recursive=True)
    check(len(configs) == 1, "installed the CMake package (tarryConfig.cmake)", configs)
    libs = glob.glob(os.path.join(prefix, "lib*", "**", "libtarry_test.a"), recursive=True)
    check(len(libs) == 1, "installed the test kit library libtarry_test.a", libs)
    return pc_dir


def cmake_build(src, build, prefix, extra=()):
    """Configure and build an out-of-tree project against the installed SDK; returns (rc, output) of the build."""
    flags = "-Werror " + SANITIZE
    sh([CMAKE, "-S", src, "-B", build, "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_C_COMPILER=" + CC,
        "-DCMAKE_C_FLAGS=" + flags.strip()] + list(extra),
       what="configure %s with find_package(tarry) from %s" % (os.path.basename(src), prefix))
    return sh([CMAKE, "--build", build, "-j", "2"], expect_ok=False)


def undefined_symbols(so_path):
    """The dynamic symbols a shared object needs from elsewhere."""
    _, out = sh(["nm", "-D", "--undefined-only", so_path])
    return [line.split()[-1] for line in out.splitlines() if line.strip()]


def exported_symbols(so_path):
    _, out = sh(["nm", "-D", "--defined-only", so_path])
    return [line.split()[-1] for line in out.splitlines() if line.strip()]
