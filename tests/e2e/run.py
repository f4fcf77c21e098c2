"""The dashboard's browser test (ctest -R e2e): a real `tarry serve` with the example plugins,
the e2e test plugin (tests/plugins/e2e.c: a workflow that logs across a sleep then fails, a
function with a 2 s retention) and a token, its failure notifications going to a webhook
receiver started here, and tests/e2e/dashboard.mjs driving Debian's Chromium through
playwright-core.

It fails (never skips) when node or Chromium is missing: scripts/deps installs both. The npm
packages (playwright-core, pinned in package-lock.json) are installed with `npm ci` when
node_modules is missing or was installed from another lockfile. Screenshots go to
<build>/e2e-artifacts/. Under a sanitizer the harness fails the test on any report in the
host log, as for every integration test.
"""

import fcntl
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.join(os.environ.get("TARRY_SRC", ""), "tests", "integration"))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = os.environ.get("TARRY_CHROMIUM", "/usr/bin/chromium")
TOKEN = "e2e-token-0123456789abcdef"


def need(cond, what):
    if not cond:
        print("FAILED: %s (scripts/deps installs it)" % what, flush=True)
        sys.exit(1)


def npm_ci():
    """`npm ci` into tests/e2e/node_modules unless it already holds this lockfile's packages.
    A lock on the lockfile keeps two builds' runs (build/, build-asan/) from installing at once."""
    lock = os.path.join(HERE, "package-lock.json")
    with open(lock, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(HERE, "node_modules", ".tarry-lockfile-sha256")
    with open(lock, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            with open(stamp) as f:
                if f.read().strip() == digest:
                    return
        except OSError:
            pass
        print("e2e: npm ci (node_modules is missing or from another lockfile)", flush=True)
        subprocess.run(["npm", "ci", "--prefix", HERE, "--no-audit", "--no-fund"], check=True, timeout=600)
        with open(stamp, "w") as f:
            f.write(digest + "\n")


class Receiver(http.server.BaseHTTPRequestHandler):
    """The webhook the host notifies: answers 204 to every POST and keeps its path and JSON
    body; GET /received gives the test what came, in order."""

    received = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            self.received.append({"path": self.path, "body": json.loads(body or b"null")})
        self.send_response(204)
        self.end_headers()

    def do_GET(self):
        with self.lock:
            out = json.dumps(self.received).encode()
        self.send_response(200 if self.path == "/received" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, fmt, *args):
        pass  # the test prints what matters


def main():
    need(shutil.which("node"), "node is not installed")
    need(shutil.which("npm"), "npm is not installed")
    need(os.access(CHROMIUM, os.X_OK), "Chromium is not at %s" % CHROMIUM)
    npm_ci()
    artifacts = os.path.join(harness.BUILD, "e2e-artifacts")
    shutil.rmtree(artifacts, ignore_errors=True)
    os.makedirs(artifacts)
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = "http://127.0.0.1:%d" % receiver.server_address[1]
    # The query is a secret the page must not show (docs/API.md: `url` without query).
    host_env = {"TARRY_TOKEN": TOKEN, "TARRY_NOTIFY_URL": hook + "/hook?secret=e2e-hook-secret"}
    try:
        with harness.Host(plugins=["examples", "onboarding", "e2e"], workers=4, extra_env=host_env) as host:
            env = dict(os.environ, TARRY_URL=host.url, TARRY_TOKEN=TOKEN, TARRY_PLUGINS=host.plugins_dir,
                       TARRY_ARTIFACTS=artifacts, TARRY_CHROMIUM=CHROMIUM, TARRY_HOOK=hook)
            rc = subprocess.run(["node", os.path.join(HERE, "dashboard.mjs")], env=env, timeout=300).returncode
            harness.check_eq(rc, 0, "the browser test passed (dashboard.mjs)")
    finally:
        receiver.shutdown()
    print("e2e: screenshots in %s: %s" % (artifacts, ", ".join(sorted(os.listdir(artifacts)))), flush=True)


if __name__ == "__main__":
    main()
