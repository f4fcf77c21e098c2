"""TARRY_TOKEN: with a token every request but /healthz needs the bearer
header, and the host refuses to listen beyond loopback without one.
"""

import os
import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

TOKEN = "s3cret-token"


def main():
    with harness.Host(plugins=["testfns"], extra_env={"TARRY_TOKEN": TOKEN}) as h:
        status, doc, hdrs = h.client.call("GET", "/v1/functions")
        check_eq(status, 401, "no Authorization header: 401")
        check_eq(doc["error"]["code"], "unauthorized", "the error code says unauthorized")
        check_eq(hdrs.get("www-authenticate"), "Bearer", "401 names the Bearer scheme")
        status, _, _ = h.client.call("GET", "/v1/functions", headers={"Authorization": "Bearer wrong"})
        check_eq(status, 401, "a wrong token: 401")
        status, _, _ = h.client.call("POST", "/v1/functions/noop/executions", {"args": None},
                                     headers={"Authorization": "Bearer " + TOKEN[:-1]})
        check_eq(status, 401, "a token that is a prefix of the real one: 401, and nothing is triggered")
        auth = {"Authorization": "Bearer " + TOKEN}
        status, doc, _ = h.client.call("POST", "/v1/functions/noop/executions", {"args": None}, headers=auth)
        check_eq(status, 202, "the right token: the trigger is accepted")
        status, doc, _ = h.client.call("GET", "/v1/executions?limit=10", headers=auth)
        check_eq(len(doc["data"]), 1, "exactly one execution exists (the refused triggers left nothing)")
        check(h.healthy(), "/healthz answers without a token")
        argv = [harness.BIN, "--url", h.url, "run", "noop", "--wait"]
        cli = subprocess.run(argv, env=dict(os.environ, TARRY_TOKEN=TOKEN), capture_output=True, text=True, timeout=60)
        check_eq(cli.returncode, 0, "the CLI sends TARRY_TOKEN as its bearer token")
        env = {k: v for k, v in os.environ.items() if k != "TARRY_TOKEN"}
        cli = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        check(cli.returncode == 1 and "401" in cli.stderr, "without it the CLI reports the 401", cli.stderr)

    # Beyond loopback without a token: refused before anything starts.
    env = {k: v for k, v in os.environ.items() if k != "TARRY_TOKEN"}
    proc = subprocess.run(
        [harness.BIN, "serve", "--listen", "0.0.0.0:%d" % harness.free_port(), "--data", "/nonexistent/never-created"],
        env=env, capture_output=True, text=True, timeout=30,
    )
    check_eq(proc.returncode, 2, "listening on 0.0.0.0 without TARRY_TOKEN exits 2")
    check("TARRY_TOKEN" in proc.stderr, "and says TARRY_TOKEN is needed", proc.stderr)
    check(not os.path.exists("/nonexistent/never-created"), "before touching the data folder")


harness.run(main)
