"""TARRY_TOKEN: with a token every request but /healthz needs the bearer
header, and the host refuses to listen beyond loopback without one. A token
shorter than 16 characters (or holding a space) stops the host at start with
exit 78; the scheme is matched in any case; a guess of the right length is as
wrong as any other.
"""

import os
import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

TOKEN = "s3cret-token-0123456789"


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
        for scheme in ("bearer", "BEARER", "BeArEr"):
            status, _, _ = h.client.call("GET", "/v1/functions", headers={"Authorization": scheme + " " + TOKEN})
            check_eq(status, 200, "the scheme %r is accepted (schemes are case-insensitive)" % scheme)
        status, _, _ = h.client.call("GET", "/v1/functions", headers={"Authorization": "Bearer   " + TOKEN})
        check_eq(status, 200, "several spaces after the scheme are accepted")
        same_len = TOKEN[:-1] + ("x" if TOKEN[-1] != "x" else "y")
        status, _, _ = h.client.call("GET", "/v1/functions", headers={"Authorization": "Bearer " + same_len})
        check_eq(status, 401, "a wrong token of the right length: 401")
        status, _, _ = h.client.call("GET", "/v1/functions", headers={"Authorization": "Basic " + TOKEN})
        check_eq(status, 401, "another scheme: 401")
        status, _, _ = h.client.call("GET", "/v1/functions", headers={"Authorization": "Bearer"})
        check_eq(status, 401, "the scheme with no token: 401")
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


    # Weak tokens: refused at start with exit 78 (a configuration error; the supervisor does not
    # restart it) and a message that says why, before anything listens.
    for weak, why in ((" ", "one space"), ("short-token", "11 characters"), ("a" * 15, "15 characters"),
                      ("sixteen chars ok", "16 characters with spaces")):
        proc = subprocess.run(
            [harness.BIN, "serve", "--listen", "127.0.0.1:0", "--data", "/nonexistent/never-created"],
            env=dict(os.environ, TARRY_TOKEN=weak), capture_output=True, text=True, timeout=30,
        )
        check_eq(proc.returncode, 78, "TARRY_TOKEN of %s: exit 78" % why)
        check("TARRY_TOKEN" in proc.stderr, "and the message names TARRY_TOKEN", proc.stderr)
    check(not os.path.exists("/nonexistent/never-created"), "before touching the data folder")


harness.run(main)
