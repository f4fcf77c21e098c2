"""A reload asked of one host reloads every host of the database, and each shows what it serves.

Two hosts on one PostgreSQL store, each with its own plugins folder holding plugin "rl" v1
(tests/plugins/rl_v1.c, as rl.so):
  - GET /v1/cluster on either lists both hosts with the versions they serve (rl v1's hash);
  - rl v2 is copied into both folders; POST /v1/plugins/reload on the first answers with its
    own reload (rl v2 loaded), and the second, told through the database, reloads too: it
    says so in its log, its new triggers run v2, and the first's GET /v1/cluster shows it
    serving v2;
  - `tarry reload` against the second reloads the first the same way (rl v1 copied back).
"""

import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

TOLD = "another host asked every host to reload its plugins"


def served(h, by):
    """{host id: [plugin hashes]} as host `by` lists them."""
    status, doc, _ = by.client.get("/v1/cluster")
    if status != 200:
        raise harness.CheckFailed("GET /v1/cluster: %s %r" % (status, doc))
    return {x["id"]: sorted(p["hash"] for p in x.get("plugins", [])) for x in doc["hosts"] if not x.get("left_at")}


def self_id(h):
    status, doc, _ = h.client.get("/v1/cluster")
    check_eq(status, 200, "GET /v1/cluster")
    return doc["hosts"][0]["id"]


def wait_for(what, pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            check(False, "%s within %.0f s" % (what, timeout))
        time.sleep(0.1)
    check(True, what)


def runs(h, version):
    status, doc = h.trigger("rl_version", wait="10s")
    return status == 200 and doc.get("result") == {"version": version}


def main():
    rl = {v: harness.plugin_hash("rl_v%d" % v) for v in (1, 2)}
    _, url = harness.new_pg_store()
    with harness.Host(plugins=[("rl_v1", "rl.so")], store_url=url) as first, \
            harness.Host(plugins=[("rl_v1", "rl.so")], store_url=url) as second:
        ids = [self_id(first), self_id(second)]
        wait_for("both hosts are listed serving rl v1",
                 lambda: all(served(first, first).get(i) == [rl[1]] for i in ids))

        first.install("rl_v2", "rl.so")
        second.install("rl_v2", "rl.so")
        status, doc, _ = first.client.post("/v1/plugins/reload", {})
        check_eq(status, 200, "POST /v1/plugins/reload on the first host")
        check([x.get("hash") for x in doc["data"] if x.get("state") == "loaded"] == [rl[2]],
              "answers with its own reload: rl v2 loaded", doc)
        check(runs(first, 2), "the first host runs v2")
        wait_for("the second host is told to reload", lambda: TOLD in second.log_text())
        wait_for("and runs v2", lambda: runs(second, 2))
        wait_for("the first host lists the second serving v2", lambda: served(first, first).get(ids[1]) == [rl[2]])
        check(TOLD not in first.log_text(), "the host that asked is not told again")

        first.install("rl_v1", "rl.so")
        second.install("rl_v1", "rl.so")
        p = second.cli("reload")
        check_eq(p.returncode, 0, "tarry reload against the second host")
        wait_for("the first host reloads too and runs v1", lambda: runs(first, 1))
        wait_for("the second lists both serving v1", lambda: all(served(second, second).get(i) == [rl[1]] for i in ids))


harness.run(main)
