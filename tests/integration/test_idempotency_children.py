#!/usr/bin/env python3
"""Per-execution options on children (tarry_call_opts, header revision 4), through
a compiled plugin (tests/plugins/idem_children.c) and the real binary.

- a child called with metadata, discard_after and an idempotency key carries
  them (metadata shown and listed by the by_meta index, discard_at, key);
- a second parent calling with the same key and args, once the child is
  finished, gets the same child and its result (no new child); a trigger with
  that key answers 200 with the same child (one namespace per function);
- the same key with other args fails the second parent's call, naming the key;
- a second parent calling while the child still runs fails at once with a
  message saying so (the documented limit: a parent is woken only by its own
  children), and a third call after the child finished gets its result;
- metadata over the limits refuses the call (the parent fails naming it).
"""

import json
import sys
import time

from harness import Host, check, check_eq, run, time_ms


def parent(h, **fields):
    return h.trigger_ok("idem_parent", fields)


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

        # A child still running when a second parent calls with its key.
        d1 = parent(h, key="k2", child="idem_slow", args={"ms": 1500})
        h.wait_for(d1, lambda x: x["state"] == "waiting", "parent D1 waits for its slow child")
        d2 = parent(h, key="k2", child="idem_slow", args={"ms": 1500})
        rd2 = h.wait_final(d2)
        check(rd2["state"] == "failed" and "not finished" in rd2["error"] and "k2" in rd2["error"],
              "parent D2 fails at once: the child is not finished (the documented limit)", rd2["error"])
        rd1 = h.wait_final(d1)
        check_eq(rd1["state"], "succeeded", "parent D1 gets its child's result")
        d3 = parent(h, key="k2", child="idem_slow", args={"ms": 1500})
        rd3 = h.wait_final(d3)
        check_eq(rd3["result"], rd1["result"], "parent D3, after the child finished, gets the same child and result")
        items, _ = h.list_all("function=idem_slow")
        check_eq(len(items), 1, "one idem_slow execution in all")

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
    return 0


if __name__ == "__main__":
    run(main)
