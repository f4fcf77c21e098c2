"""The README's walk-through, "From zero to a safe upgrade: an invoice workflow", as a user runs it.

The README marks its pieces with HTML comments: `<!-- walkthrough:sh -->`
(commands), `<!-- walkthrough:invoice.c -->` and `<!-- walkthrough:test_invoice.c -->`
(files the user writes), `<!-- walkthrough:v2 -->` and `<!-- walkthrough:v2-fixed -->`
(edits of invoice.c: a snippet whose last line is a line of v1, put in its
place). This test takes them in the README's order:

  - installs the SDK and the `tarry` binary into $HOME/.local of a fresh
    HOME (as `cmake --install build --prefix ~/.local` does);
  - feeds every command line to one bash session (so `cd`, `export` and
    `$id` carry over as in the user's terminal), writes the files between
    them, and checks each line's exit status: 1 where the README's comment
    says "exit 1", else 0. `cc` lines get -Werror (and the sanitizer flags
    of a sanitizer build for the kit test); `tarry serve` is the one line it
    does not run: it starts a real host (harness.Host) on the folder's
    plugins/ instead, on a port of its own (TARRY_URL);
  - the v1 workflow is under 80 lines and uses no JSON library;
  - the kit program passes on v1 (a crash after the step's commit and a
    resume: the step ran once), replays the exported real run: v1 fits, v2
    differs at #4, v2-fixed fits;
  - the host: the run sleeps at #4; after v2's deploy the dry run says 1
    would block at step 4 naming both commands and the id, and `tarry
    upgrade ID` is refused at once with the run still on v1; after
    v2-fixed's deploy the dry run says 1 fit, the upgrade moves it, and
    after `tarry reschedule` it completes on v2-fixed with the reminder sent.
"""

import os
import re
import shutil
import subprocess
import tempfile

import kit_support
from kit_support import CC, SANITIZE, check

harness = kit_support.harness
check_eq = harness.check_eq
SENTINEL = "__walkthrough_rc="


def readme_pieces():
    """[(kind, text)] in README order: kind is 'sh', a file name, 'v2' or 'v2-fixed'."""
    with open(os.path.join(harness.SRC, "README.md")) as f:
        readme = f.read()
    pieces = re.findall(r"<!-- walkthrough:([\w.-]+) -->\n```\w*\n(.*?)```", readme, re.S)
    check(len(pieces) >= 8, "the README marks the walk-through's pieces", [k for k, _ in pieces])
    return pieces


class Shell:
    """One bash session, fed a line at a time, as a user's terminal."""

    def __init__(self, cwd, env):
        self.proc = subprocess.Popen(["bash", "--norc", "--noprofile"], cwd=cwd, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def run(self, line):
        """Run one line; returns (exit status, output)."""
        self.proc.stdin.write(line + "\nprintf '\\n%s%%d\\n' $?\n" % SENTINEL)
        self.proc.stdin.flush()
        out = []
        while True:
            got = self.proc.stdout.readline()
            if not got:
                check(False, "bash is still there after: %s" % line, "".join(out))
            if got.startswith(SENTINEL):
                text = "".join(out)[:-1]  # the newline echoed before the sentinel
                if re.search(r"ERROR: (Address|Leak|Undefined|Thread)Sanitizer|runtime error:", text):
                    check(False, "no sanitizer report from: %s" % line, text)
                return int(got[len(SENTINEL):]), text
            out.append(got)

    def value(self, name):
        return self.run('printf "%%s" "$%s"' % name)[1]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def apply_snippet(v1, snippet):
    """The README's edit: the snippet's last line is a line of v1; the snippet goes in its place."""
    last = snippet.rstrip("\n").split("\n")[-1] + "\n"
    check_eq(v1.count(last), 1, "the snippet's last line is one line of invoice.c v1: %r" % last)
    return v1.replace(last, snippet)


def main():
    top = tempfile.mkdtemp(prefix="tarry-walkthrough-")
    shell = None
    try:
        home = os.path.join(top, "home")
        work = os.path.join(top, "work")
        os.makedirs(work)
        kit_support.install_sdk(os.path.join(home, ".local"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TARRY_")}
        env.update({"HOME": home, "LC_ALL": "C"})
        shell = Shell(work, env)
        with harness.Host(workers=2, start=False) as host:
            walk(shell, host, work)
    finally:
        if shell:
            shell.close()
        shutil.rmtree(top, ignore_errors=True)


def walk(shell, host, work):
    """Every piece of the README's walk-through, in order."""
    pieces = readme_pieces()
    files = {}  # what the user wrote, by name
    outputs = {}  # the output of each line run, by line (the last run)
    exec_id = None
    cwd = work
    for kind, text in pieces:
        if kind in ("invoice.c", "test_invoice.c", "v2", "v2-fixed"):
            name = kind if kind.endswith(".c") else "invoice.c"
            if kind == "invoice.c":
                lines = text.split("\n")[:-1]
                check(len(lines) < 80, "the v1 workflow is under 80 lines (%d)" % len(lines))
                check("cJSON" not in text and "json.h" not in text, "and uses no JSON library")
                files["v1"] = text
            body = apply_snippet(files["v1"], text) if kind.startswith("v2") else text
            with open(os.path.join(cwd, name), "w") as f:
                f.write(body)
            files[kind] = body
            continue
        for line in text.split("\n"):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            command = line.split("  #")[0].strip()
            if command.startswith("tarry serve"):
                # Not run: a real host of the harness on this folder's plugins/, on its own port.
                check("--plugins plugins" in command, "the README's host serves ./plugins", command)
                host.start()
                shell.run("export TARRY_URL=%s" % host.url)
                continue
            run = command
            if command.startswith("cc "):
                extra = ["-Werror"] + ([SANITIZE] if SANITIZE and "tarry-test" in command else [])
                run = " ".join([CC] + extra) + " " + command[3:]
            rc, out = shell.run(run)
            print("$ %s\n%s" % (run, out), flush=True)
            want = 1 if "exit 1" in line else 0
            check_eq(rc, want, "exit status of `%s`" % command)
            outputs[command] = out
            if command.startswith("tarry new invoice"):
                cwd = os.path.join(work, "invoice")
                check(os.path.isfile(os.path.join(cwd, "test_invoice.c")), "tarry new wrote the skeleton")
                # The user's ./plugins is the plugins folder of the harness's host.
                os.symlink(host.plugins_dir, os.path.join(cwd, "plugins"))
            if command.startswith("id=$(tarry run invoice"):
                exec_id = shell.value("id")
                check(re.fullmatch(r"[0-9A-Z]{26}", exec_id) is not None, "tarry run printed the id", exec_id)
                host.wait_for(exec_id, lambda d: len(d.get("journal") or []) == 5
                              and d["journal"][4]["kind"] == "sleep" and d["journal"][4]["status"] == "pending",
                              "the invoice sleeps at #4", timeout=30)
            after(command, out, host, exec_id, files, cwd)
    check("tarry reschedule $id && tarry result $id --wait 1m" in outputs, "the walk-through ran to its end")


STATE = {}


def after(command, out, host, exec_id, files, cwd):
    """What each command of the walk-through must have done (by where the walk-through is)."""
    version = "v2-fixed" if "v2-fixed" in files else "v2" if "v2" in files else "v1"
    if command.startswith("./test_invoice ./invoice.so") and "run.json" not in command:
        check("all passed" in out, "the kit test passes on v1: crash after the step's commit, resume, step ran once",
              out)
    elif command.startswith("./test_invoice ./invoice.so run.json"):
        if version == "v2":
            check('run.json: differs at #4: journal has sleep "2 days", code issued step "notify_accounting"' in out,
                  "the kit replays the exported run against v2: it differs at #4, naming both commands", out)
        else:
            check("run.json: fits" in out and "all passed" in out,
                  "the kit replays the exported real run: %s fits" % version, out)
    elif command == "tarry show $id":
        check(re.search(r"state:\s+waiting", out) and re.search(r"#4\s+sleep\s+2 days\s+pending", out),
              "tarry show: waiting in the 2-day sleep at #4", out)
        doc = host.execution(exec_id)
        kinds = [(e["kind"], e.get("name")) for e in doc["journal"]]
        check_eq(kinds, [("call", "render_pdf"), ("call", "email_customer"), ("call", "archive_pdf"),
                         ("step", "mark_sent"), ("sleep", "2 days")], "the journal: a child, two in parallel, the step, the sleep")
        at = doc["journal"][3].get("result") or {}
        check(isinstance(at.get("at"), int) and at["at"] > 0, "the step's body read the clock", doc["journal"][3])
        STATE["v1_hash"] = doc["plugin"]["hash"]
    elif command == "tarry export $id > run.json":
        with open(os.path.join(cwd, "run.json")) as f:
            text = f.read()
        check('"tarry-export"' in text and exec_id in text, "run.json is the exported run", text[:200])
    elif command.startswith("cp invoice.so plugins/ && tarry reload"):
        STATE[version + "_hash"] = host.current_hash("invoice")
        check(STATE[version + "_hash"] not in (None, STATE.get("v1_hash")), "%s is deployed" % version, out)
        check(STATE[version + "_hash"] in out, "tarry reload shows the new version's hash", out)
    elif command.startswith("tarry upgrade --function invoice --dry-run"):
        if version == "v2":
            check("(version %s): 1 checked: 0 fit, 1 would block" % STATE["v2_hash"] in out,
                  "the dry run: 1 checked against v2, 1 would block", out)
            check('1 would block: nondeterminism at step 4: journal has sleep "2 days", code issued step '
                  '"notify_accounting"' in out and exec_id in out, "it says where, what differs, and which run", out)
        else:
            check("1 checked: 1 fit, 0 would block" in out, "the dry run against v2-fixed: 1 fit", out)
        check_eq(host.execution(exec_id)["plugin"]["hash"], STATE["v1_hash"], "the dry run moved nothing")
    elif command == "tarry upgrade $id":
        doc = host.execution(exec_id)
        if version == "v2":
            check("would_block" in out and "step 4" in out and 'code issued step "notify_accounting"' in out,
                  "the upgrade is refused at once, naming the step", out)
            check_eq((doc["state"], doc["plugin"]["hash"], len(doc["journal"])), ("waiting", STATE["v1_hash"], 5),
                     "refused: it still sleeps on v1, its journal as it was")
        else:
            check_eq((doc["state"], doc["plugin"]["hash"]), ("waiting", STATE["v2-fixed_hash"]),
                     "the upgrade moved it to v2-fixed, still asleep")
    elif command.startswith("tarry reschedule $id"):
        check('"pdf":"https://files.example.com/inv.pdf"' in out, "tarry result prints the invoice's result", out)
        doc = host.wait_final(exec_id, timeout=30)
        check_eq((doc["state"], doc["plugin"]["hash"]), ("succeeded", STATE["v2-fixed_hash"]),
                 "it completed on v2-fixed")
        kinds = [(e["kind"], e.get("name")) for e in doc["journal"]]
        check_eq(kinds[4:], [("sleep", "2 days"), ("call", "send_reminder")],
                 "after the sleep it sent the reminder (no notify_accounting for an old run)")


if __name__ == "__main__":
    harness.run(main)
