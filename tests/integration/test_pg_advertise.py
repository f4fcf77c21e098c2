"""--advertise: the address the other hosts reach a host at, when it is not the one it listens on.

Two hosts on one PostgreSQL store, one worker each. Host A is started again with TARRY_ADVERTISE
set to localhost and its port (it still listens on 127.0.0.1):
  - its row in `hosts` and GET /v1/cluster give that address, not the one it bound;
  - a cancel sent to host B of an execution queued on A is sent on to A at that name, and
    answered by A (Tarry-Answered-By), 200 cancelled;
  - values that are not HOST:PORT (no port, a scheme, a path) stop `tarry serve` with exit 2 and a
    message naming --advertise or TARRY_ADVERTISE.
"""

import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def refused(args, env, what):
    p = subprocess.run([harness.BIN, "serve"] + args, env=env, capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "advertise" in p.stderr.lower() and "HOST:PORT" in p.stderr,
          "%s is refused (exit 2, the reason named)" % what, (p.returncode, p.stderr))


def main():
    name, url = harness.new_pg_store()
    pg = harness.pg_cluster()
    with harness.Host(plugins=["testfns"], workers=1, store_url=url) as a, \
            harness.Host(plugins=["testfns"], workers=1, store_url=url) as b:
        a.stop()
        advertised = "localhost:%d" % a.port
        a.extra_env["TARRY_ADVERTISE"] = advertised
        a.start()
        ida = a.host_id()
        check_eq(pg.psql(name, "SELECT address FROM hosts WHERE id = '%s'" % ida)[0][0], advertised,
                 "A's row in hosts has the advertised address")
        status, doc, _ = b.client.get("/v1/cluster")
        check_eq(status, 200, "GET /v1/cluster")
        shown = [h.get("address") for h in doc.get("hosts", []) if h.get("id") == ida]
        check_eq(shown, [advertised], "the cluster view shows A at its advertised address")

        running = a.trigger_ok("slow", {"ms": 3000})
        a.wait_for(running, lambda d: d["state"] == "running", "a slow execution runs on A")
        queued = a.trigger_ok("slow", {"ms": 10})
        status, doc, hdrs = b.client.call("POST", "/v1/executions/%s/cancel" % queued, {})
        check((status, doc.get("state"), hdrs.get("tarry-answered-by")) == (200, "cancelled", ida),
              "a cancel sent to B of an execution queued on A is answered by A at its advertised name",
              (status, doc, hdrs.get("tarry-answered-by")))
        check_eq(a.wait_final(running, timeout=30).get("state"), "succeeded", "the slow one succeeds")

    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("TARRY_")}
    for value in ("example.com", "http://example.com:7373", "example.com:7373/api", "example.com:0"):
        refused(["--advertise", value], env, "--advertise %r" % value)
    refused([], dict(env, TARRY_ADVERTISE="example.com:notaport"), "TARRY_ADVERTISE 'example.com:notaport'")


harness.run(main)
