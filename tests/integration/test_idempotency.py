#!/usr/bin/env python3
"""Idempotency keys and metadata limits on triggers, through the real binary.

- the first trigger with a key is 202; the same key with the same args (also
  spelled differently) is 200 with the same execution, before and after it
  finished; the same key with other args is 409 naming the key; the key is per
  function; a key survives a restart;
- 8 connections sending one key at once (a barrier releases them together):
  exactly one execution exists, and every answer names it;
- with --idempotency-ttl 1s, a key is free again once expired: a new execution;
- metadata over Defer's limits, a bad key and a bad discard_after are 400s
  naming what is wrong; discard_after is stored as discard_at.
"""

import json
import sys
import threading
import time
import urllib.parse

from harness import Client, Host, check, check_eq, check_error, run, time_ms


def post(client, fn, body):
    return client.post("/v1/functions/%s/executions" % fn, body)


def count_with_key(h, key):
    items, _ = h.list_all("")
    return [i["id"] for i in items if i.get("idempotency_key") == key]


def main():
    with Host(plugins=["testfns"], extra_env={"TARRY_IDEMPOTENCY_TTL": "1h"}) as h:
        c = h.client
        status, first, _ = post(c, "echo", {"args": {"order": 42, "items": [1, 2]}, "idempotency_key": "order-42"})
        check_eq(status, 202, "the first trigger with a key is accepted (202)")
        eid = first["id"]
        status, again, _ = post(c, "echo", {"args": {"items": [1, 2], "order": 42}, "idempotency_key": "order-42"})
        check_eq(status, 200, "the same key and the same args (members in another order) answer 200")
        check_eq(again["id"], eid, "... with the first execution")
        check_eq(again["idempotency_key"], "order-42", "... which shows its key")
        h.wait_final(eid)
        status, done, _ = post(c, "echo", {"args": {"order": 42, "items": [1, 2]}, "idempotency_key": "order-42"})
        check(status == 200 and done["id"] == eid and done["state"] == "succeeded",
              "after it finished, the key still answers 200 with it, succeeded", (status, done))
        check_eq(done["result"], {"order": 42, "items": [1, 2]}, "... with its result")
        status, doc, _ = post(c, "echo", {"args": {"order": 43}, "idempotency_key": "order-42"})
        check_error(status, doc, 409, "idempotency_conflict", "the same key with other args",
                    message_has=("order-42", "echo", "other args"))
        status, doc, _ = post(c, "noop", {"idempotency_key": "order-42"})
        check(status == 202 and doc["id"] != eid, "the same key on another function is another execution", doc)
        check_eq(len(count_with_key(h, "order-42")), 2, "two executions hold the key: one per function")

        # Eight connections, one key, at once.
        clients = [h.new_client() for _ in range(8)]
        barrier = threading.Barrier(8)
        answers = [None] * 8

        def send(i):
            barrier.wait()
            answers[i] = post(clients[i], "slow", {"args": {"ms": 200}, "idempotency_key": "burst"})

        threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for cl in clients:
            cl.close()
        statuses = sorted(a[0] for a in answers)
        ids = {a[1]["id"] for a in answers}
        check_eq(len(ids), 1, "8 connections with one key got one execution id")
        check(statuses.count(202) == 1 and statuses.count(200) == 7,
              "exactly one of them was 202 (created), the other seven 200", statuses)
        burst = ids.pop()
        check_eq(count_with_key(h, "burst"), [burst], "the store holds exactly one execution with the key")
        h.wait_final(burst)

        # Restart: the key is durable.
        h.stop()
        h.start()
        status, doc, _ = h.client.post("/v1/functions/echo/executions",
                                       {"args": {"order": 42, "items": [1, 2]}, "idempotency_key": "order-42"})
        check(status == 200 and doc["id"] == eid, "after a restart the key still names its execution", (status, doc))

        # A ?wait trigger with a key answers like one without once it finished.
        status, doc, _ = h.client.post("/v1/functions/echo/executions?wait=10s",
                                       {"args": {"w": 1}, "idempotency_key": "waited"})
        check(status == 200 and doc["state"] == "succeeded", "a keyed ?wait trigger waits for the result", (status, doc))
        status, doc2, _ = h.client.post("/v1/functions/echo/executions?wait=10s",
                                        {"args": {"w": 1}, "idempotency_key": "waited"})
        check(status == 200 and doc2["id"] == doc["id"], "... and its duplicate names the same one", doc2)

        # Validation.
        c = h.client
        cases = [
            ({"idempotency_key": ""}, "idempotency_key", "empty"),
            ({"idempotency_key": "k" * 257}, "idempotency_key", "256"),
            ({"idempotency_key": "tab\there"}, "idempotency_key", "control"),
            ({"idempotency_key": 7}, "idempotency_key", "string"),
            ({"metadata": {"k%d" % i: "v" for i in range(26)}}, "metadata", "26 pairs"),
            ({"metadata": {"team": "x" * 257}}, "metadata.\"team\"", "256"),
            ({"metadata": {"k" * 257: "x"}}, "metadata", "256"),
            ({"metadata": {"team": ""}}, "metadata.\"team\"", "empty"),
            ({"metadata": {"team": 5}}, "metadata.\"team\"", "string"),
            ({"metadata": ["a"]}, "metadata", "object"),
            ({"discard_after": "soon"}, "discard_after", "soon"),
            ({"discard_after": "2026-13-01T00:00:00Z"}, "discard_after", "month"),
        ]
        for body, names, word in cases:
            status, doc, _ = post(c, "noop", body)
            check_error(status, doc, 400, "invalid_field", "trigger with %s" % json.dumps(body)[:60],
                        message_has=(names, word))
        check_eq(h.execution(first["id"])["id"], eid, "refused triggers changed nothing")
        status, doc, _ = post(c, "noop", {"metadata": {"k%d" % i: "v" * 256 for i in range(25)}})
        check_eq(status, 202, "25 pairs of 256-character values are accepted")

        # discard_after is stored as a time (what happens then is the discard feature's).
        before = time.time() * 1000
        status, doc, _ = post(c, "noop", {"delay": "1h", "discard_after": "10m"})
        check_eq(status, 202, "a trigger with discard_after")
        at = time_ms(h.execution(doc["id"])["discard_at"])
        check(before + 600000 - 1000 <= at <= time.time() * 1000 + 600000 + 1000,
              "discard_at is ten minutes from the trigger", at)
        status, doc, _ = post(c, "noop", {"delay": "1h", "discard_after": "2030-01-01T00:00:00Z"})
        check_eq(h.execution(doc["id"])["discard_at"], "2030-01-01T00:00:00.000Z", "discard_after as an RFC 3339 time")

    # Expiry: with a 3 s TTL the key is free again after it. (Long enough that a loaded machine
    # still sends the two triggers after the expiry within one TTL of each other.)
    with Host(plugins=["testfns"], extra_env={"TARRY_IDEMPOTENCY_TTL": "3s"}) as h:
        status, a, _ = post(h.client, "noop", {"idempotency_key": "short"})
        check_eq(status, 202, "a key with a 3s TTL")
        status, b, _ = post(h.client, "noop", {"idempotency_key": "short"})
        check(status == 200 and b["id"] == a["id"], "within the TTL the key answers 200", (status, b))
        time.sleep(3.3)
        status, c2, _ = post(h.client, "noop", {"idempotency_key": "short"})
        check(status == 202 and c2["id"] != a["id"], "after the TTL the key makes a new execution", (status, c2))
        status, d, _ = post(h.client, "noop", {"idempotency_key": "short"})
        check(status == 200 and d["id"] == c2["id"], "... which the key now names", (status, d))
    return 0


if __name__ == "__main__":
    run(main)
