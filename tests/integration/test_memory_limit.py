"""The engine's memory limit (issue 8, item 4).

With TARRY_MEMORY_LIMIT=512MiB the engine process runs under RLIMIT_AS =
512 MiB + the store's map (1 TiB of sparse address space, not counted), and
the supervisor stays unlimited. A function whose allocation runs away
(tests/plugins/hog.c: 1 MiB blocks until malloc says no) gets NULL from
malloc and fails its own execution with its own error; a function running
beside it succeeds; the engine is not restarted and the host keeps serving.
Without the limit the hog would get its 8 GiB (untouched, so harmless) and
succeed: the test would fail.

Under ASan or TSan the limit cannot work (they reserve terabytes of shadow
memory at start): the host says it does not apply it and serves, and this
test checks only that.

A bad --memory-limit is refused at the command line.
"""

import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

LIMIT_MIB = 512
MAP_BYTES = 1 << 40  # the store's default map


def sanitizer():
    """The sanitizer the build uses (TARRY_SANITIZE in its CMake cache), or None."""
    try:
        with open(os.path.join(harness.BUILD, "CMakeCache.txt")) as f:
            m = re.search(r"^TARRY_SANITIZE:STRING=(\S*)$", f.read(), re.M)
    except OSError:
        return None
    value = m.group(1) if m else "OFF"
    return None if value in ("", "OFF") else value


def address_limit(pid):
    """The soft RLIMIT_AS of a process: bytes, or None for unlimited."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max address space"):
                soft = line.split()[3]
                return None if soft == "unlimited" else int(soft)
    raise harness.CheckFailed("no address-space line in /proc/%d/limits" % pid)


def bad_values():
    for value, words in (("12XB", "12XB"), ("1MiB", "below 64MiB")):
        p = subprocess.run([harness.BIN, "serve", "--memory-limit", value], capture_output=True, text=True, timeout=30)
        check(p.returncode == 2 and words in p.stderr, "--memory-limit %s is refused (exit 2, says %r)" % (value, words), p.stderr)


def main():
    bad_values()
    env = {"TARRY_MEMORY_LIMIT": "%dMiB" % LIMIT_MIB}
    san = sanitizer()
    if san:
        with harness.Host(plugins=["testfns"], workers=2, extra_env=env) as h:
            check("--memory-limit %d MiB is not applied" % LIMIT_MIB in h.log_text(), "under %s the host says the limit is not applied" % san, h.log_tail())
            status, doc = h.trigger("echo", {"ok": 1}, wait="30s")
            check(status == 200 and doc.get("state") == "succeeded", "and serves", (status, doc))
        print("skip: the runaway-allocation half under TARRY_SANITIZE=%s: the sanitizer reserves terabytes of "
              "shadow memory, so no address-space limit can apply" % san)
        return

    with harness.Host(plugins=["hog", "testfns"], workers=2, extra_env=env) as h:
        check("memory limit %d MiB for the engine" % LIMIT_MIB in h.log_text(), "the host logs the limit", h.log_tail())
        supervisor = h.proc.pid
        engines = [p for p in h.pids() if p != supervisor]
        check_eq(len(engines), 1, "one engine process")
        engine = engines[0]
        check_eq(address_limit(supervisor), None, "the supervisor has no address-space limit")
        if h.store == "lmdb":
            check_eq(address_limit(engine), LIMIT_MIB * 1024 * 1024 + MAP_BYTES,
                     "the engine's RLIMIT_AS is the limit plus the LMDB store's map")
        else:
            check_eq(address_limit(engine), LIMIT_MIB * 1024 * 1024,
                     "the engine's RLIMIT_AS is the limit (a PostgreSQL store maps nothing)")

        beside = h.trigger_ok("slow", {"ms": 3000})
        h.wait_state(beside, "running")
        status, doc = h.trigger("hog", {}, wait="60s")
        check_eq(status, 200, "the hog's trigger answers with its outcome")
        check_eq(doc.get("state"), "failed", "the hog's execution failed")
        m = re.fullmatch(r"malloc failed after (\d+) MiB", doc.get("error") or "")
        check(m and 0 < int(m.group(1)) < LIMIT_MIB, "with its own error: malloc said no before %d MiB" % LIMIT_MIB, doc)
        print("   hog: %s" % doc["error"])

        check_eq(h.wait_final(beside)["state"], "succeeded", "the function running beside it succeeded")
        status, doc = h.trigger("echo", {"after": True}, wait="30s")
        check(status == 200 and doc.get("result") == {"after": True}, "the host keeps serving", (status, doc))
        check_eq([p for p in h.pids() if p != supervisor], [engine], "the engine was not restarted")
        check("restarting" not in h.log_text(), "no engine death in the log", h.log_tail())


harness.run(main)
