"""Failure notifications (issue 10): webhooks POSTed from a durable outbox.

Through the real binary and the "testfns" plugin ("fail" fails for good, "noop"
succeeds), against a local HTTP receiver this test starts (http.server in a thread)
that records every POST and answers as each case asks. The host runs with the
test-only TARRY_TEST_NOTIFY_SCALE=20: backoff waits and the 5 s / 10 s timeouts are
20 times shorter. Cases, each gated on what the host or the receiver reports:
  - a failing execution -> one POST with the Slack shape (text + blocks) and tarry's
    fields (id, function, state, error, attempts, link under --public-url); a webhook
    limited to another function gets nothing; a succeeded execution gets nothing; the
    execution shows its notification (URL without its query), /metrics counts it and
    `tarry show` prints it;
  - a receiver answering 500, then 200: delivered on attempt 2, last_error "HTTP 500";
  - a receiver that is down (connection refused), then up: delivered after retries;
  - a slow receiver (sleeps past the total timeout): retried, and the host serves
    triggers meanwhile;
  - kill -9 while a failure's notification is pending (receiver down): delivered after
    the restart, exactly one POST received;
  - kill -9 right after the receiver answered 2xx: delivered, at most one duplicate;
  - configuration errors: exit 2 with a message naming the file, key or flag.
"""

import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
import harness
from harness import check, check_eq

SCALE = "20"
PUBLIC = "https://tarry.example.com/"


class Receiver:
    """A local webhook receiver. plan[path] is a list of actions taken in order, one per
    POST (the last one repeats): an int status, ("sleep", seconds, status), or
    ("kill_after", host, status): answer, then SIGKILL the host's process group."""

    def __init__(self, port=0):
        self.posts = []  # (path, parsed body)
        self.plan = {}
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.port = port
        self.server = None

    def start(self):
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rec.cond:
                    rec.posts.append((self.path, json.loads(body), self.headers.get("Content-Type")))
                    steps = rec.plan.get(self.path, [200])
                    action = steps.pop(0) if len(steps) > 1 else steps[0]
                    rec.cond.notify_all()
                if isinstance(action, tuple) and action[0] == "sleep":
                    time.sleep(action[1])
                    action = action[2]
                kill = None
                if isinstance(action, tuple) and action[0] == "kill_after":
                    kill, action = action[1], action[2]
                self.send_response(action)
                self.send_header("Content-Length", "2")
                self.end_headers()
                try:
                    self.wfile.write(b"ok")
                    self.wfile.flush()
                except OSError:
                    pass
                if kill is not None:
                    try:
                        os.killpg(kill.proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def for_id(self, exec_id, path=None):
        with self.lock:
            return [b for (p, b, _) in self.posts if b.get("tarry", {}).get("id") == exec_id and (path is None or p == path)]

    def wait_posts(self, exec_id, count, timeout=60.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len([1 for (_, b, _) in self.posts if b.get("tarry", {}).get("id") == exec_id]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise harness.CheckFailed("FAILED: the receiver never got %d POST(s) for %s" % (count, exec_id))
                self.cond.wait(left)


def unused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def notifications(h, x):
    return h.execution(x)["notifications"]


def wait_notification(h, x, pred, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            ns = notifications(h, x)
            if ns and all(pred(n) for n in ns):
                print("ok: %s" % what, flush=True)
                return ns
        except (OSError, harness.CheckFailed):
            ns = None
        if time.monotonic() > deadline:
            raise harness.CheckFailed("FAILED: %s: notifications %r" % (what, ns))
        time.sleep(0.05)


def notify_metrics(h):
    status, _, body = h.client.raw("GET", "/metrics")
    check_eq(status, 200, "GET /metrics")
    out = {}
    for line in body.decode().splitlines():
        m = re.fullmatch(r'tarry_notifications_total\{outcome="(\w+)"\} (\d+)', line)
        if m:
            out[m.group(1)] = int(m.group(2))
        m = re.fullmatch(r"tarry_notifications_pending (\d+)", line)
        if m:
            out["pending"] = int(m.group(1))
    return out


def host_env(hooks, **more):
    env = {"TARRY_NOTIFY_URL": " ".join(hooks), "TARRY_TEST_NOTIFY_SCALE": SCALE, "TARRY_PUBLIC_URL": PUBLIC}
    env.update(more)
    return env


def case_shape_and_filter(rcv):
    hooks = [rcv.url("/all?token=secret"), "echo,noop2=" + rcv.url("/only-echo")]
    with harness.Host(plugins=["testfns"], extra_env=host_env(hooks)) as h:
        ok = h.trigger_ok("noop")
        check_eq(h.wait_final(ok)["state"], "succeeded", "noop succeeds")
        x = h.trigger_ok("fail")
        doc = h.wait_final(x)
        check_eq(doc["state"], "failed", "fail fails for good")
        rcv.wait_posts(x, 1)
        ns = wait_notification(h, x, lambda n: n["state"] == "delivered", "the failure's notification is delivered")
        posts = rcv.for_id(x)
        check_eq(len(posts), 1, "one POST for one failure and one matching webhook")
        with rcv.lock:
            paths = [p for (p, b, _) in rcv.posts if b.get("tarry", {}).get("id") == x]
            ctype = [c for (p, b, c) in rcv.posts if b.get("tarry", {}).get("id") == x][0]
        check_eq(paths, ["/all?token=secret"], "sent to the webhook for every function, not the one limited to echo")
        check_eq(ctype, "application/json", "the body is sent as JSON")
        body = posts[0]
        link = "https://tarry.example.com/#/executions/" + x
        check(isinstance(body.get("text"), str) and x in body["text"] and "deliberate failure" in body["text"]
              and link in body["text"], "Slack's text names the execution, its error and the link", body)
        blocks = body.get("blocks")
        check(isinstance(blocks, list) and blocks and blocks[0]["type"] == "section"
              and blocks[0]["text"]["type"] == "mrkdwn" and link in blocks[0]["text"]["text"],
              "Slack blocks: a mrkdwn section with the link", blocks)
        t = body["tarry"]
        check_eq((t["id"], t["function"], t["state"], t["error"], t["attempts"], t["url"]),
                 (x, "fail", "failed", "deliberate failure", 1, link), "tarry's fields in the body")
        check_eq(len(ns), 1, "the execution lists one notification")
        n = ns[0]
        check_eq(n["url"], rcv.url("/all"), "the webhook is shown without its query (a token stays on the host)")
        check_eq((n["attempts"], n["last_error"]), (1, None), "delivered on the first attempt")
        check(harness.time_ms(n["delivered_at"]) >= harness.time_ms(doc["finished_at"]), "delivered_at after the failure", n)
        check_eq(h.execution(ok)["notifications"], [], "a succeeded execution has no notification")
        check_eq(rcv.for_id(ok), [], "and nothing was POSTed for it")
        m = notify_metrics(h)
        check_eq((m.get("delivered"), m.get("failed"), m.get("pending")), (1, 0, 0), "/metrics counts the delivery")
        p = h.cli("show", x)
        check(p.returncode == 0 and "notifications" in p.stdout.lower() and "delivered" in p.stdout,
              "`tarry show` prints the notification", p.stdout + p.stderr)


def case_500_then_200_and_down_then_up(rcv):
    down_port = unused_port()
    late = Receiver(down_port)
    rcv.plan["/flaky"] = [500, 200]
    with harness.Host(plugins=["testfns"], extra_env=host_env([rcv.url("/flaky")])) as h:
        x = h.trigger_ok("fail")
        ns = wait_notification(h, x, lambda n: n["state"] == "delivered", "500 then 200: delivered")
        check_eq((ns[0]["attempts"], ns[0]["last_error"]), (2, "HTTP 500"), "on attempt 2, after an HTTP 500")
        check_eq(len(rcv.for_id(x)), 2, "the receiver saw both attempts")
        m = notify_metrics(h)
        check_eq((m.get("delivered"), m.get("retried")), (1, 1), "/metrics: one retried, one delivered")
    with harness.Host(plugins=["testfns"], extra_env=host_env(["http://127.0.0.1:%d/late" % down_port])) as h:
        x = h.trigger_ok("fail")
        ns = wait_notification(h, x, lambda n: n["attempts"] >= 2 and n["state"] == "pending",
                               "receiver down: retried, still pending")
        check("onnect" in (ns[0]["last_error"] or ""), "last_error says the connection failed", ns)
        late.start()
        try:
            ns = wait_notification(h, x, lambda n: n["state"] == "delivered", "receiver up: delivered")
            check(ns[0]["attempts"] >= 3, "after the failed attempts", ns)
            check_eq(len(late.for_id(x)), 1, "one POST reached the receiver")
        finally:
            late.stop()


def case_slow(rcv):
    rcv.plan["/slow"] = [("sleep", 3.0, 200), 200]
    with harness.Host(plugins=["testfns"], extra_env=host_env([rcv.url("/slow")])) as h:
        x = h.trigger_ok("fail")
        rcv.wait_posts(x, 1)
        # The receiver holds the first POST: the host keeps serving meanwhile.
        status, doc = h.trigger("noop", wait="10s")
        check_eq((status, doc.get("state")), (200, "succeeded"), "a trigger is served while the receiver is slow")
        ns = wait_notification(h, x, lambda n: n["state"] == "delivered", "slow receiver: delivered on a retry")
        why = (ns[0]["last_error"] or "").lower()
        check(ns[0]["attempts"] >= 2 and ("timeout" in why or "timed out" in why),
              "the slow attempt timed out and was retried", ns)


def case_kill_pending():
    port = unused_port()
    late = Receiver(port)
    with harness.Host(plugins=["testfns"], extra_env=host_env(["http://127.0.0.1:%d/k" % port])) as h:
        x = h.trigger_ok("fail")
        wait_notification(h, x, lambda n: n["state"] == "pending" and n["attempts"] >= 1, "pending while the receiver is down")
        h.kill9()
        print("killed the host (-9) with the notification pending", flush=True)
        late.start()
        try:
            h.start()
            ns = wait_notification(h, x, lambda n: n["state"] == "delivered", "delivered after the restart")
            late.wait_posts(x, 1)
            check_eq(len(late.for_id(x)), 1, "exactly one POST reached the receiver")
            check_eq(notify_metrics(h).get("delivered"), 1, "one delivery recorded since the restart")
        finally:
            late.stop()


def case_kill_after_delivery(rcv):
    with harness.Host(plugins=["testfns"], extra_env=host_env([rcv.url("/killer")])) as h:
        rcv.plan["/killer"] = [("kill_after", h, 200), 200]
        x = h.trigger_ok("fail")
        rcv.wait_posts(x, 1)
        h.kill9()
        print("killed the host (-9) right after the receiver answered 200", flush=True)
        h.start()
        ns = wait_notification(h, x, lambda n: n["state"] == "delivered", "delivered after the restart")
        got = len(rcv.for_id(x))
        check(1 <= got <= 2, "at most one duplicate (the 2xx and its record raced the kill): %d POST(s)" % got, got)


def case_config_errors():
    d = tempfile.mkdtemp(prefix="tarry-notify-cfg-")
    try:
        def serve(*args):
            return subprocess.run([harness.BIN, "serve", "--data", os.path.join(d, "data"), "--plugins", d] + list(args),
                                  capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)

        cases = [
            ('{"webhooks": [{"url": "ftp://x/y"}]}', ["webhooks[0]", "http"]),
            ('{"webhooks": [{"url": "https://x/y", "fns": ["a"]}]}', ["webhooks[0]", "fns"]),
            ('{"hooks": []}', ["hooks"]),
            ('{"webhooks": [', ["not valid JSON"]),
            ('{"webhooks": [{"url": "https://x/y", "functions": []}]}', ["functions"]),
        ]
        for i, (text, words) in enumerate(cases):
            path = os.path.join(d, "notify%d.json" % i)
            with open(path, "w") as f:
                f.write(text)
            p = serve("--notify-config", path)
            check(p.returncode == 2 and path in p.stderr and all(w in p.stderr for w in words),
                  "config %r: exit 2 naming the file and %s" % (text, words), (p.returncode, p.stderr))
        p = serve("--notify-config", os.path.join(d, "missing.json"))
        check(p.returncode == 2 and "missing.json" in p.stderr, "a missing config file: exit 2 naming it", p.stderr)
        for spec, word in (("ftp://x/y", "http"), ("not a url", "URL"), ("a b=https://x/", "function name"),
                           ("https://", "URL")):
            p = serve("--notify-url", spec)
            check(p.returncode == 2 and "--notify-url" in p.stderr and word in p.stderr,
                  "--notify-url %r: exit 2 (%s)" % (spec, word), (p.returncode, p.stderr))
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def main():
    case_config_errors()
    rcv = Receiver().start()
    try:
        case_shape_and_filter(rcv)
        case_500_then_200_and_down_then_up(rcv)
        case_slow(rcv)
        case_kill_pending()
        case_kill_after_delivery(rcv)
    finally:
        rcv.stop()


if __name__ == "__main__":
    harness.run(main)
