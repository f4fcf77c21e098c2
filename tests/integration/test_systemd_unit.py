"""The systemd unit in scripts/systemd/ works as written: systemd accepts it, and the host
started with its ExecStart line serves, reloads on its ExecReload signal and drains on its
KillSignal with a clean exit.

The unit's absolute paths are mapped onto a temporary folder (binary -> the built tarry,
/etc/tarry/plugins -> a plugins folder, /var/lib/tarry -> a data folder, the port -> 0); the
rest of the command line is used as the unit gives it, so a flag the unit passes that the
host no longer understands fails here.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import harness
from harness import check, check_eq

UNIT = os.path.join(harness.SRC, "scripts", "systemd", "tarry.service")


def unit_values(text, key):
    return [m.group(1).strip() for m in re.finditer(r"^%s=(.*)$" % re.escape(key), text, re.M)]


def main():
    text = open(UNIT).read()
    tmp = tempfile.mkdtemp(prefix="tarry-unit-")
    try:
        plugins = os.path.join(tmp, "etc", "plugins")
        state = os.path.join(tmp, "state")
        os.makedirs(plugins)
        os.makedirs(state, mode=0o700)
        shutil.copyfile(harness.plugin_path("examples"), os.path.join(plugins, "examples.so"))

        (exec_start,) = unit_values(text, "ExecStart")
        mapped = (
            exec_start.replace("/usr/local/bin/tarry", harness.BIN)
            .replace("/etc/tarry/plugins", plugins)
            .replace("/var/lib/tarry", state)
            .replace("127.0.0.1:7373", "127.0.0.1:0")
        )
        check("127.0.0.1:0" in mapped and harness.BIN in mapped, "ExecStart maps onto the test folder")

        analyze = shutil.which("systemd-analyze")
        if analyze:
            local = os.path.join(tmp, "tarry.service")
            with open(local, "w") as f:
                f.write(text.replace(exec_start, mapped))
            out = subprocess.run(
                [analyze, "verify", "--man=no", local], capture_output=True, text=True, timeout=60
            )
            problems = [l for l in (out.stdout + out.stderr).splitlines() if "tarry.service" in l]
            check_eq(problems, [], "systemd-analyze verify finds nothing wrong with the unit")
        else:
            print("note: systemd-analyze is not installed; the unit's syntax was not verified")

        check_eq(unit_values(text, "ExecReload"), ["/bin/kill -HUP $MAINPID"], "reload is SIGHUP")
        check_eq(unit_values(text, "KillSignal"), ["SIGTERM"], "stop is SIGTERM (a drain)")
        check_eq(unit_values(text, "RestartPreventExitStatus"), ["78"], "a configuration error is not restarted")

        data = re.search(r"--data (\S+)", mapped).group(1)
        log = open(os.path.join(tmp, "host.log"), "wb")
        proc = subprocess.Popen(shlex.split(mapped), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            addr = os.path.join(data, harness.ADDR_FILE)
            deadline = time.monotonic() + 30
            port = None
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    m = re.fullmatch(r"127\.0\.0\.1:(\d+)\n", open(addr).read())
                    if m:
                        port = int(m.group(1))
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            check(port is not None, "the unit's ExecStart starts a host that serves",
                  open(os.path.join(tmp, "host.log")).read()[-3000:])
            client = harness.Client("127.0.0.1", port)
            status, doc, _ = client.post("/v1/functions/noop/executions", {})
            check(status == 202, "a trigger is accepted", (status, doc, open(os.path.join(tmp, "host.log")).read()[-2000:]))

            os.kill(proc.pid, signal.SIGHUP)  # ExecReload
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "SIGHUP: reloading" not in open(os.path.join(tmp, "host.log")).read():
                time.sleep(0.05)
            check("SIGHUP: reloading" in open(os.path.join(tmp, "host.log")).read(), "SIGHUP reloads the plugins")
            status, doc, _ = client.get("/v1/functions")
            check_eq(status, 200, "the host serves after the reload")

            proc.send_signal(signal.SIGTERM)  # KillSignal
            check_eq(proc.wait(timeout=60), 0, "SIGTERM drains and exits 0 (systemd sees a clean stop)")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except harness.CheckFailed as e:
        print(e)
        sys.exit(1)
