"""The client commands' command lines, outputs and exit statuses (docs/API.md, "CLI").

Drives the real `tarry` binary against a real host with the testfns and wf plugins:
option forms (`--opt V`, `--opt=V`, a bare `--wait`, `--wait D`, `--` and negative
numbers as ARGS_JSON, `--url` before or after the command), help, every usage error
(exit 2, message and synopsis on stderr), id checks before any request, the readable
outputs of run, result, show (with its journal timeline), reschedule, ls (paging hint),
logs, plugins and upgrade, and the exit statuses 0, 1, 2 and 3.
"""

import re
import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

ID_RE = re.compile(r"^[0-9A-Z]{26}$")
TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def tarry(*args, env=None):
    """Run `tarry ARGS...` (no --url added); returns the CompletedProcess."""
    return subprocess.run([harness.BIN] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, env=env)


def usage_error(p, what, message, synopsis=None):
    """Exit 2, the message on stderr, the synopsis after it when given, nothing on stdout."""
    ok = p.returncode == 2 and message in p.stderr and p.stdout == ""
    if synopsis is not None:
        ok = ok and ("usage: tarry " + synopsis) in p.stderr
    check(ok, "%s: exit 2, says %r" % (what, message), (p.returncode, p.stdout, p.stderr))


def main():
    with harness.Host(plugins=["testfns", "wf"]) as h:
        # ---- help ------------------------------------------------------------
        for argv in (["help", "run"], ["run", "--help"], ["run", "-h"], ["run", "f", "--delay", "1s", "--help"]):
            p = h.cli(*argv)
            check(p.returncode == 0 and p.stdout.startswith("usage: tarry [--url URL] run NAME [ARGS_JSON]")
                  and "--metadata K=V" in p.stdout and "--url URL" in p.stdout,
                  "tarry %s prints run's help, exit 0" % " ".join(argv), (p.returncode, p.stdout, p.stderr))
        p = h.cli("help")
        check(p.returncode == 0 and all(c in p.stdout for c in ("run NAME", "show ID", "reschedule ID", "upgrade ID")),
              "tarry help lists every client command", p.stdout)
        p = h.cli()
        check(p.returncode == 2 and "which command?" in p.stderr, "tarry --url URL alone asks which command", p.stderr)
        p = h.cli("frobnicate")
        check(p.returncode == 2 and "unknown command 'frobnicate'" in p.stderr and "run NAME" in p.stderr,
              "an unknown command lists the commands", p.stderr)

        # ---- usage errors: exit 2 before any request ------------------------------
        run_syn = "run NAME [ARGS_JSON] [--delay D | --at TIME]"
        usage_error(h.cli("run"), "run without NAME", "tarry run: missing NAME, the function to run", run_syn)
        usage_error(h.cli("run", ""), "run with an empty NAME", "missing NAME", run_syn)
        usage_error(h.cli("run", "echo", "--bogus"), "an unknown long option", "tarry run: unknown option '--bogus'", run_syn)
        usage_error(h.cli("run", "echo", "-x"), "an unknown short option", "tarry run: unknown option '-x'", run_syn)
        usage_error(h.cli("run", "echo", "--json=1"), "a value for a flag", "tarry run: --json takes no value", run_syn)
        usage_error(h.cli("run", "echo", "--delay"), "a value option at the end", "tarry run: --delay needs a value", run_syn)
        usage_error(h.cli("run", "echo", "1", "2"), "a third word", "tarry run: unexpected argument '2'", run_syn)
        usage_error(h.cli("run", "echo", "--delay", "1s", "--at", "2030-01-01T00:00:00Z"), "--delay with --at",
                    "give --delay or --at, not both", run_syn)
        usage_error(h.cli("run", "echo", "--delay", "1 dy"), "a bad --delay", "tarry run: --delay: ")
        usage_error(h.cli("run", "echo", "--at", "tomorrow"), "a bad --at", "(give an RFC 3339 time")
        usage_error(h.cli("run", "echo", "--wait", "10"), "--wait 10 (no unit)", "tarry run: --wait: ")
        usage_error(h.cli("run", "echo", "{bad"), "invalid ARGS_JSON", "ARGS_JSON is not valid JSON")
        usage_error(h.cli("run", "echo", "--metadata", "[1]"), "--metadata neither K=V nor an object",
                    '--metadata: "[1]" is not KEY=VALUE')
        usage_error(h.cli("run", "echo", "--metadata", '{"a":1}'), "--metadata with a number",
                    'the value of "a" is a number')
        usage_error(h.cli("show", "abc"), "show of a malformed id", "tarry show: 'abc' is not an execution id")
        usage_error(h.cli("show", "../../v1/functions/echo/executions"), "an id that is a path",
                    "is not an execution id")
        usage_error(h.cli("show"), "show without ID", "tarry show: missing ID, the execution's id", "show ID")
        usage_error(h.cli("result", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--wait", "soon"), "result --wait soon", "--wait: ")
        usage_error(h.cli("reschedule", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--in", "1m", "--at", "2030-01-01T00:00:00Z"),
                    "reschedule --in with --at", "give --in or --at, not both")
        usage_error(h.cli("ls", "extra"), "ls with a word", "tarry ls: unexpected argument 'extra'")
        usage_error(h.cli("upgrade"), "upgrade with neither ID nor --function",
                    "give an execution ID or --function F (one of them)")
        usage_error(h.cli("upgrade", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--function", "echo"),
                    "upgrade with both", "give an execution ID or --function F (one of them)")
        p = tarry("run", "echo", "--url")
        check(p.returncode == 2 and "--url" in p.stderr and "needs a value" in p.stderr, "--url without a value", p.stderr)

        # ---- option forms -------------------------------------------------------------
        p = h.cli("run", "echo", '{"a":1}', "--wait")
        check_eq((p.returncode, p.stdout), (0, '{"a":1}\n'), "run NAME ARGS --wait prints the result")
        p = h.cli("run", "echo", "--wait", '{"a":2}')
        check_eq((p.returncode, p.stdout), (0, '{"a":2}\n'), "a JSON word after a bare --wait is ARGS_JSON")
        p = h.cli("run", "echo", "3", "--wait", "20s")
        check_eq((p.returncode, p.stdout), (0, "3\n"), "--wait D takes a word that starts with a digit")
        p = h.cli("run", "echo", "4", "--wait=20s")
        check_eq((p.returncode, p.stdout), (0, "4\n"), "--wait=D")
        p = h.cli("run", "echo", "-5", "--wait")
        check_eq((p.returncode, p.stdout), (0, "-5\n"), "a negative number is ARGS_JSON, not an option")
        p = h.cli("run", "--wait", "--", "echo", "-1.5")
        check_eq((p.returncode, p.stdout), (0, "-1.5\n"), "`--` ends the options")
        p = h.cli("run", "echo", '"x"', "--wait", "--wait=30s", "--json")
        check(p.returncode == 0 and '"result":"x"' in p.stdout.replace(" ", ""), "a repeated option keeps the last", p.stdout)
        p = tarry("run", "echo", "6", "--wait", "--url", h.url)
        check_eq((p.returncode, p.stdout), (0, "6\n"), "--url after the command")
        p = tarry("run", "echo", "7", "--url=" + h.url, "--wait")
        check_eq((p.returncode, p.stdout), (0, "7\n"), "--url=URL among the options")
        p = tarry("--url=" + h.url, "run", "echo", "8", "--wait")
        check_eq((p.returncode, p.stdout), (0, "8\n"), "--url=URL before the command")

        # ---- run, result, logs ------------------------------------------------------------
        p = h.cli("run", "noop")
        check(p.returncode == 0 and ID_RE.match(p.stdout.strip()) and p.stdout.count("\n") == 1,
              "run without --wait prints only the id", (p.stdout, p.stderr))
        p = h.cli("run", "fail", "--wait")
        check(p.returncode == 1 and p.stdout == "" and re.search(r"tarry: execution \w{26} failed: deliberate failure", p.stderr),
              "a failure: exit 1, the error on stderr", (p.returncode, p.stdout, p.stderr))
        p = h.cli("run", "slow", '{"ms": 5000}', "--wait=100ms")
        slow_id = p.stdout.strip()
        check(p.returncode == 3 and ID_RE.match(slow_id) and "is still " in p.stderr and "tarry result " + slow_id in p.stderr,
              "a wait that runs out: exit 3, the id on stdout, how to wait longer on stderr", (p.returncode, p.stdout, p.stderr))
        p = h.cli("result", slow_id, "--wait", "0s")
        check(p.returncode == 3 and p.stdout == "" and "is still" in p.stderr, "result --wait 0s of a running one: exit 3", (p.returncode, p.stdout, p.stderr))
        p = h.cli("result", slow_id, "--wait", "30s", "--json")
        check(p.returncode == 0 and '"slept_ms":5000' in p.stdout.replace(" ", ""), "result --wait --json prints the result answer", p.stdout)
        p = h.cli("run", "log_lines", "--wait")
        check_eq(p.returncode, 0, "log_lines succeeds")
        ids = h.cli("ls", "--function", "log_lines", "--json")
        log_id = re.search(r'"id":"(\w{26})"', ids.stdout.replace(" ", "")).group(1)
        p = h.cli("logs", log_id)
        lines = p.stdout.splitlines()
        check(p.returncode == 0 and len(lines) == 3 and re.match(TIME + r"  info   #1  log line 1 \(info\)$", lines[0])
              and re.match(TIME + r"  warn   #1  log line 2", lines[1]) and re.match(TIME + r"  error  #1  log line 3", lines[2]),
              "logs prints time, level, attempt, message per line", p.stdout)
        p = h.cli("logs", slow_id)
        check(p.returncode == 0 and p.stdout == "" and "has no log lines" in p.stderr, "logs of an execution without lines", p.stderr)
        p = h.cli("show", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
        check(p.returncode == 1 and "execution_not_found, HTTP 404" in p.stderr, "an error answer: message (code, HTTP status)", p.stderr)

        # ---- reschedule, show -------------------------------------------------------------
        p = h.cli("run", "noop", "--delay", "1h")
        later = p.stdout.strip()
        check(p.returncode == 0 and ID_RE.match(later), "run --delay 1h prints the id", p.stdout)
        p = h.cli("reschedule", later, "--in", "2h")
        check(p.returncode == 0 and re.match(r"^%s noop starts %s \(in (1h 59m|2h\))" % (later, TIME), p.stdout),
              "reschedule --in 2h prints ID FUNCTION starts T (in D)", p.stdout + p.stderr)
        p = h.cli("show", later)
        check(p.returncode == 0 and re.search(r"^state:\s+scheduled$", p.stdout, re.M)
              and re.search(r"^scheduled:\s+%s \(in (1h 59m|2h\))" % TIME, p.stdout, re.M)
              and re.search(r"^result:\s+- \(not final yet\)$", p.stdout, re.M),
              "show of a scheduled one says when it starts", p.stdout)
        p = h.cli("reschedule", later)
        check(p.returncode == 0 and p.stdout.startswith(later + " noop "), "reschedule without a time fires it now", p.stdout)
        p = h.cli("reschedule", later)
        check(p.returncode == 1 and "not_reschedulable, HTTP 409" in p.stderr, "no pending timer: the host's 409, exit 1", p.stderr)
        p = h.cli("run", "sleeper", '{"duration": "1h"}')
        sleeper = p.stdout.strip()
        h.wait_state(sleeper, "waiting")
        p = h.cli("show", sleeper)
        check(p.returncode == 0 and re.search(r"^wakes:\s+%s \(in (59m|1h\))" % TIME, p.stdout, re.M)
              and re.search(r"^journal:\n  #0  sleep  1h  pending  wakes %s \(in (59m|1h\))" % TIME, p.stdout, re.M),
              "show prints wakes: and the journal's pending sleep", p.stdout)
        p = h.cli("reschedule", sleeper, "--in", "3h")
        check(p.returncode == 0 and re.match(r"^%s sleeper wakes %s \(in (2h 59m|3h\))" % (sleeper, TIME), p.stdout),
              "reschedule of a sleep prints wakes T (in D)", p.stdout)
        p = h.cli("show", sleeper, "--json")
        check(p.returncode == 0 and p.stdout.startswith("{") and '"journal"' in p.stdout, "show --json prints the API's object", p.stdout)

        # ---- ls, plugins, functions, upgrade ---------------------------------------------------
        for _ in range(2):
            # Finished before ls: a running one would add the RUN TIME column.
            h.wait_final(h.trigger_ok("noop"), timeout=30)
        p = h.cli("ls", "--function", "noop", "--limit", "1")
        lines = p.stdout.splitlines()
        check(p.returncode == 0 and len(lines) == 3 and lines[0].split() == ["ID", "FUNCTION", "STATE", "ATTEMPTS", "CREATED", "FINISHED"]
              and re.match(r"^more: tarry --url %s ls --function noop --limit 1 --cursor \w{26}$" % re.escape(h.url), lines[2]),
              "ls prints a table and the command for the next page", p.stdout)
        p = h.cli("ls", "--function", "nothing_by_that_name")
        check(p.returncode == 0 and p.stdout == "" and "no executions match" in p.stderr, "ls with no match", (p.stdout, p.stderr))
        p = h.cli("plugins")
        check(p.returncode == 0 and p.stdout.split("\n")[0].split() == ["FILE", "NAME", "VERSION", "HASH", "STATE", "PINNED", "FUNCTIONS"]
              and "testfns" in p.stdout and "wf_sleep" in p.stdout, "plugins prints a table", p.stdout)
        p = h.cli("functions")
        check(p.returncode == 0 and p.stdout.split("\n")[0].split() == ["FUNCTION", "PLUGIN", "VERSION", "RETRY", "MAX", "DURATION",
                                                                    "CONCURRENCY", "CRON", "NEXT", "CRON", "RETENTION"],
              "functions prints a table", p.stdout)
        p = h.cli("upgrade", sleeper)
        check(p.returncode == 0 and re.match(r"^%s sleeper -> plugin wf 1\.0\.0 \(\w{16}\), waiting$" % sleeper, p.stdout),
              "upgrade ID prints ID FUNCTION -> plugin VERSION (HASH), STATE", p.stdout + p.stderr)
        p = h.cli("upgrade", "--function", "sleeper")
        check(p.returncode == 0 and p.stdout.startswith(sleeper + " sleeper -> plugin wf"), "upgrade --function F", p.stdout + p.stderr)

        # ---- the host is gone --------------------------------------------------------------------
        h.kill9()
        p = h.cli("functions")
        check(p.returncode == 2 and "cannot reach the tarry host at " + h.url in p.stderr, "an unreachable host: exit 2, says so", p.stderr)


harness.run(main)
