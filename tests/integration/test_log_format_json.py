"""The host's own log as JSON (issue 10): with --log-format json (here TARRY_LOG_FORMAT=json) every
line the host writes on stderr, from the supervisor and from the engine, is one JSON object with
time, level, pid and msg, even when the message carries quotes, a newline and bytes that are not
UTF-8 (a plugin file whose name holds them, refused at load), and the supervisor's line when its
engine is killed. A bad --log-format is refused.
"""

import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

ODD = b'bad "name"\nwith\xff\xfe bytes.so'


def host_lines(h):
    with open(h.log_path, "rb") as f:
        raw = f.read()
    return [line for line in raw.split(b"\n") if line and not line.startswith(b"=== harness:")]


def main():
    with harness.Host(plugins=["testfns"], extra_env={"TARRY_LOG_FORMAT": "json"}) as h:
        supervisor, engine = h.proc.pid, h.engine_pid()
        # Not a shared object at all: refused at the reload, the refusal naming the file.
        with open(os.path.join(os.fsencode(h.plugins_dir), ODD), "wb") as f:
            f.write(b"not an ELF file")
        h.reload()
        h.wait_log("refused")
        # The supervisor speaks when its engine dies: it logs the death and starts another.
        os.kill(engine, 9)
        h.wait_log("restarting")
        h.wait_healthy()
        h.stop()
        lines = host_lines(h)
        check(len(lines) >= 3, "the host logged", lines)
        pids, refusal = set(), None
        for line in lines:
            try:
                doc = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise harness.CheckFailed("FAILED: a log line is not JSON (%s): %r" % (exc, line))
            check(isinstance(doc, dict) and set(doc) == {"time", "level", "pid", "msg"},
                  "a line is an object with time, level, pid and msg", doc)
            check(doc["level"] in ("debug", "info", "warn", "error"), "a known level", doc)
            harness.parse_time(doc["time"])
            check(isinstance(doc["pid"], int), "pid is a number", doc)
            pids.add(doc["pid"])
            if "with\ufffd\ufffd bytes.so" in doc["msg"]:
                refusal = doc
        check(refusal is not None, "the refusal names the odd file", lines)
        check('bad "name"\nwith\ufffd\ufffd bytes.so' in refusal["msg"],
              "quotes and the newline come back as they were, bad bytes as U+FFFD", refusal)
        check_eq(refusal["level"], "error", "the refusal's level")
        check(supervisor in pids and engine in pids, "both processes log JSON", (pids, supervisor, engine))

    # The flag itself, and a format it does not know.
    p = subprocess.run([harness.BIN, "serve", "--log-format", "yaml"], capture_output=True, text=True, timeout=30)
    check_eq(p.returncode, 2, "--log-format yaml is refused")
    check("text or json" in p.stderr, "the refusal says what it wants", p.stderr)


if __name__ == "__main__":
    harness.run(main)
