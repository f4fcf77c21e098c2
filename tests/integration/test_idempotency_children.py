#!/usr/bin/env python3
"""Per-execution options on children (tarry_call_opts, header revision 4), through
a compiled plugin (tests/plugins/idem_children.c) and the real binary.

- a child called with metadata, discard_after and an idempotency key carries
  them (metadata shown and listed by the by_meta index, discard_at, key);
- a second parent calling with the same key and args, once the child is
  finished, gets the same child and its result (no new child); a trigger with
  that key answers 200 with the same child (one namespace per function);
- the same key with other args fails the second parent's call, naming the key;
- a second parent calling while the child still runs (it waits on a gate file
  the test creates: no timing) waits for it like for its own: its call entry
  stays pending, naming the same child; when the gate opens both parents get
  the same child and result, and the child ran once; a detached call with the
  key gets the outcome in its journal entry; a third call after the end gets
  it at once;
- the same across a kill -9 while both parents wait (the link is durable);
- a second parent cancelled while it waits does not cancel the shared child,
  and the first parent still gets the result;
- a shared child failing for good (after its retries) fails both parents with
  its error;
- metadata over the limits refuses the call (the parent fails naming it).
"""

import json
import os
import sys
import time

from harness import Host, check, check_eq, run, time_ms


def parent(h, **fields):
    return h.trigger_ok("idem_parent", fields)


def read_lines(path):
    with open(path) as f:
        return f.read().split("\n")[:-1]


def call_entry(doc):
    """(status, child id) of the parent's one call entry."""
    calls = [j for j in doc["journal"] if j["kind"] == "call"]
    check_eq(len(calls), 1, "one call in %s's journal" % doc["id"])
    return calls[0]["status"], calls[0]["child_id"]


def wait_waiting(h, eid, what):
    """Until eid waits (or ends: then fail at once, saying how)."""
    doc = h.wait_state(eid, ("waiting", "succeeded", "failed", "cancelled"))
    check_eq((doc["state"], doc.get("error")), ("waiting", None), what)
    return doc


def waiting_pair(h, key, child_fn, args, name):
    """A parent that made a keyed child which now waits behind its gate: (parent id, child id)."""
    p = parent(h, key=key, child=child_fn, args=args)
    doc = wait_waiting(h, p, "%s1 waits" % name)
    status, child = call_entry(doc)
    h.wait_state(child, "running")
    check_eq(status, "pending", "%s1 waits for its child" % name)
    return p, child


def main():
    with Host(plugins=["idem_children"]) as h:
        meta = json.dumps({"order": "42", "team": "billing"})
        before = time.time() * 1000
        a = parent(h, key="k1", args={"n": 1}, metadata=meta, discard_after="1h")
        ra = h.wait_final(a)
        check_eq(ra["state"], "succeeded", "parent A succeeded")
        child = ra["result"]["child"]
        check_eq(ra["result"]["value"], {"n": 1}, "A got its child's result")
        rc = h.execution(child)
        check_eq(rc["idempotency_key"], "k1", "the child carries the idempotency key")
        check_eq(rc["metadata"], {"order": "42", "team": "billing"}, "the child carries the metadata")
        at = time_ms(rc["discard_at"])
        check(before + 3600000 - 2000 <= at <= time.time() * 1000 + 3600000, "the child's discard_at is 1h after the call", rc["discard_at"])
        status, doc, _ = h.get("/v1/executions?metadata=order%3D42")
        check_eq([i["id"] for i in doc["data"]], [child], "the metadata index lists the child")

        b = parent(h, key="k1", args={"n": 1})
        rb = h.wait_final(b)
        check_eq(rb["state"], "succeeded", "parent B (same key, same args) succeeded")
        check_eq(rb["result"], {"child": child, "value": {"n": 1}}, "B got the same child and its result")
        items, _ = h.list_all("function=idem_echo")
        check_eq([i["id"] for i in items], [child], "still exactly one idem_echo execution")
        status, doc, _ = h.client.post("/v1/functions/idem_echo/executions", {"args": {"n": 1}, "idempotency_key": "k1"})
        check(status == 200 and doc["id"] == child, "a trigger with the child's key answers 200 with the child", (status, doc))

        c = parent(h, key="k1", args={"n": 2})
        rc2 = h.wait_final(c)
        check(rc2["state"] == "failed" and "k1" in rc2["error"] and "other args" in rc2["error"],
              "parent C (same key, other args) fails naming the key", rc2["error"])

        # A child still running when a second parent calls with its key: both wait for it.
        gate = os.path.join(h.dir, "gate-k2")
        count = os.path.join(h.dir, "count-k2")
        gargs = {"count": count, "gate": gate}
        d1, child = waiting_pair(h, "k2", "idem_gate", gargs, "D")
        d2 = parent(h, key="k2", child="idem_gate", args=gargs)
        wd2 = wait_waiting(h, d2, "D2 waits for the shared child")
        check_eq(call_entry(wd2), ("pending", child), "D2's call entry waits, pending, on D1's child")
        dd = parent(h, key="k2", child="idem_gate", args=gargs, detached=True)
        check_eq(h.wait_final(dd)["state"], "succeeded", "a detached call with the key returns at once")
        check_eq(h.execution(child)["state"], "running", "the child still runs behind its gate")
        open(gate, "w").close()
        rd1, rd2 = h.wait_final(d1), h.wait_final(d2)
        check_eq(rd1["state"], "succeeded", "parent D1 gets its child's result")
        check_eq(rd2["state"], "succeeded", "parent D2, which waited for the shared child, succeeds")
        check_eq(rd2["result"], rd1["result"], "D1 and D2 got the same child and result")
        check_eq(rd1["result"]["child"], child, "... the child D1 made")
        check_eq(read_lines(count), ["attempt 1"], "the shared child ran once")
        check_eq(call_entry(h.execution(dd)), ("succeeded", child), "the detached call's entry got the outcome")
        d3 = parent(h, key="k2", child="idem_gate", args=gargs)
        rd3 = h.wait_final(d3)
        check_eq(rd3["result"], rd1["result"], "parent D3, after the child finished, gets the same child and result")
        items, _ = h.list_all("function=idem_gate")
        check_eq(len(items), 1, "one idem_gate execution in all")

        # A second parent cancelled while it waits: the shared child goes on for the first.
        gate = os.path.join(h.dir, "gate-k4")
        gargs = {"count": os.path.join(h.dir, "count-k4"), "gate": gate}
        e1, child = waiting_pair(h, "k4", "idem_gate", gargs, "E")
        e2 = parent(h, key="k4", child="idem_gate", args=gargs)
        wait_waiting(h, e2, "E2 waits for the shared child")
        status, doc, _ = h.call("POST", "/v1/executions/%s/cancel" % e2, {})
        check(status == 200 and doc["state"] == "cancelled", "E2 is cancelled while it waits", (status, doc))
        rc_ = h.execution(child)
        check(rc_["state"] == "running" and not rc_.get("cancel_requested"),
              "the shared child, made by E1, is not cancelled with E2", rc_)
        open(gate, "w").close()
        re1 = h.wait_final(e1)
        check_eq(re1["state"], "succeeded", "E1 still gets the shared child's result")
        check_eq(h.wait_final(child)["state"], "succeeded", "the shared child succeeded")
        re2 = h.execution(e2)
        check_eq(re2["state"], "cancelled", "E2 stays cancelled (its end woke nobody)")

        # A shared child failing for good, after its retries: both parents fail with its error.
        gate = os.path.join(h.dir, "gate-k5")
        count = os.path.join(h.dir, "count-k5")
        gargs = {"count": count, "gate": gate, "fail": True}
        f1, child = waiting_pair(h, "k5", "idem_gate_retry", gargs, "F")
        f2 = parent(h, key="k5", child="idem_gate_retry", args=gargs)
        wait_waiting(h, f2, "F2 waits for the shared child")
        open(gate, "w").close()
        rf1, rf2 = h.wait_final(f1), h.wait_final(f2)
        for name, r in (("F1", rf1), ("F2", rf2)):
            check(r["state"] == "failed" and "the gate says fail" in r["error"] and child[:26] in r["error"],
                  "%s fails with the shared child's error" % name, r["error"])
        check_eq(read_lines(count), ["attempt 1", "attempt 2"], "the child was retried once, then failed for good")
        check_eq(call_entry(h.execution(f2))[0], "failed", "F2's call entry holds the failure")

        # Refused options.
        e = parent(h, key="k3", metadata=json.dumps({"k%d" % i: "v" for i in range(26)}))
        re_ = h.wait_final(e)
        lines = [l["message"] for l in h.logs(e)]
        check(re_["state"] == "failed" and any("opts->metadata: 26 pairs; at most 25" in l for l in lines),
              "too much child metadata refuses the call, and the log says why", (re_["error"], lines))
        f = parent(h, key="")
        rf = h.wait_final(f)
        lines = [l["message"] for l in h.logs(f)]
        check(rf["state"] == "failed" and any("opts->idempotency_key: is empty" in l for l in lines),
              "an empty child idempotency key refuses the call", (rf["error"], lines))
        items, _ = h.list_all("function=idem_echo")
        check_eq(len(items), 1, "refused calls made no child")

    # Both parents wait across a kill -9: the link is durable with the second call's entry.
    with Host(plugins=["idem_children"]) as h:
        gate = os.path.join(h.dir, "gate-k6")
        gargs = {"count": os.path.join(h.dir, "count-k6"), "gate": gate}
        g1, child = waiting_pair(h, "k6", "idem_gate", gargs, "G")
        g2 = parent(h, key="k6", child="idem_gate", args=gargs)
        wait_waiting(h, g2, "G2 waits for the shared child")
        h.kill9()
        h.restart()
        check_eq(call_entry(h.execution(g2)), ("pending", child), "after the restart G2 still waits on the child")
        open(gate, "w").close()
        rg1, rg2 = h.wait_final(g1), h.wait_final(g2)
        check_eq(rg1["state"], "succeeded", "G1 gets the result after the restart")
        check_eq(rg2["state"], "succeeded", "G2 gets it too: its link survived the kill -9")
        check_eq(rg2["result"], rg1["result"], "the same child and result")
        items, _ = h.list_all("function=idem_gate")
        check_eq(len(items), 1, "one idem_gate execution")
    return 0


if __name__ == "__main__":
    run(main)
