#!/usr/bin/env python3
"""GET /v1/executions filters and GET /v1/executions/stats, through the real binary.

Triggers a known mix of executions (noop, echo, fail; metadata on some; two
batches apart in time) and checks each filter against what was triggered:
several states, several functions, metadata pairs ANDed, the created and
finished ranges, text in the error, cursor paging across a filtered list,
counts per state, and the 400s for malformed filters.
"""

import sys
import time
import urllib.parse

from harness import Host, check, check_eq, rfc3339, run


def ids_of(items):
    return [i["id"] for i in items]


def listing(h, query):
    items, _ = h.list_all(query, limit=3)
    return items


def main():
    with Host(plugins=["testfns"]) as h:
        made = {}  # id -> (function, metadata)

        def trig(fn, args=None, metadata=None):
            fields = {"metadata": metadata} if metadata is not None else {}
            eid = h.trigger_ok(fn, args, **fields)
            made[eid] = (fn, metadata or {})
            return eid

        first = [trig("noop", metadata={"team": "billing", "tier": "gold"}),
                 trig("echo", {"x": 1}, metadata={"team": "billing", "tier": "silver"}),
                 trig("fail", metadata={"team": "search"})]
        for e in first:
            h.wait_final(e)
        time.sleep(0.05)
        boundary = time.time()
        time.sleep(0.05)
        second = [trig("noop", metadata={"team": "billing", "tier": "gold"}),
                  trig("fail", metadata={"team": "billing", "tier": "gold"}),
                  trig("echo", {"y": 2}),
                  trig("noop")]
        for e in second:
            h.wait_final(e)
        everything = first + second
        newest_first = list(reversed(everything))

        # No filter: everything, newest first, across pages of 3.
        check_eq(ids_of(listing(h, "")), newest_first, "an unfiltered list pages over every execution")

        # Several functions, given either way.
        want = [e for e in newest_first if made[e][0] in ("noop", "fail")]
        check_eq(ids_of(listing(h, "function=noop,fail")), want, "function=noop,fail lists both functions")
        check_eq(ids_of(listing(h, "function=noop&function=fail")), want, "function= repeated lists both")

        # Several states.
        failed = [e for e in newest_first if made[e][0] == "fail"]
        check_eq(ids_of(listing(h, "state=failed")), failed, "state=failed lists the failures")
        check_eq(ids_of(listing(h, "state=failed,succeeded")), newest_first, "state=failed,succeeded lists all")
        check_eq(ids_of(listing(h, "state=queued&state=running")), [], "nothing is queued or running")

        # Functions and states together.
        check_eq(ids_of(listing(h, "function=echo,fail&state=failed")), failed,
                 "function=echo,fail&state=failed lists only the failures")

        # Metadata pairs, ANDed.
        billing = [e for e in newest_first if made[e][1].get("team") == "billing"]
        check_eq(ids_of(listing(h, "metadata=team%3Dbilling")), billing, "metadata=team=billing")
        gold = [e for e in billing if made[e][1].get("tier") == "gold"]
        check_eq(ids_of(listing(h, "metadata=team%3Dbilling&metadata=tier%3Dgold")), gold,
                 "metadata=team=billing AND tier=gold")
        check_eq(ids_of(listing(h, "metadata=team%3Dbilling&metadata=tier%3Dgold&state=failed")),
                 [e for e in gold if made[e][0] == "fail"], "metadata pairs AND a state")
        check_eq(ids_of(listing(h, "metadata=team%3Dnobody")), [], "an unknown metadata value matches nothing")
        # A value that only starts like a stored one does not match.
        check_eq(ids_of(listing(h, "metadata=team%3Dbill")), [], "metadata values match whole, not as prefixes")

        # Created range (indexed by the id's time).
        since = "created_from=" + urllib.parse.quote(rfc3339(boundary))
        until = "created_to=" + urllib.parse.quote(rfc3339(boundary))
        check_eq(ids_of(listing(h, since)), list(reversed(second)), "created_from keeps the second batch")
        check_eq(ids_of(listing(h, until)), list(reversed(first)), "created_to keeps the first batch")
        check_eq(ids_of(listing(h, since + "&function=noop")),
                 [e for e in reversed(second) if made[e][0] == "noop"], "created_from with a function")

        # Finished range (checked per record).
        fin = {e: h.execution(e)["finished_at"] for e in everything}
        check(all(fin.values()), "every execution has a finished_at")
        check_eq(ids_of(listing(h, "finished_from=" + urllib.parse.quote(rfc3339(boundary)))),
                 list(reversed(second)), "finished_from keeps what finished after the boundary")
        check_eq(ids_of(listing(h, "finished_to=" + urllib.parse.quote(rfc3339(boundary)))),
                 list(reversed(first)), "finished_to keeps what finished before it")

        # Text in the error (checked per record).
        check_eq(ids_of(listing(h, "error_contains=deliberate")), failed, "error_contains=deliberate")
        check_eq(ids_of(listing(h, "error_contains=" + urllib.parse.quote("no such words"))), [],
                 "error_contains with other text matches nothing")

        # A cursor from a filtered page goes on with the same filter.
        status, doc, _ = h.get("/v1/executions?metadata=team%3Dbilling&limit=2")
        check_eq(status, 200, "a filtered first page")
        check_eq(ids_of(doc["data"]), billing[:2], "the first page holds the two newest matches")
        check(doc["next_cursor"], "the first page has a next_cursor")
        status, doc, _ = h.get("/v1/executions?metadata=team%3Dbilling&limit=2&cursor=" + doc["next_cursor"])
        check_eq(ids_of(doc["data"]), billing[2:4], "the second page goes on after the cursor")

        # Counts per state.
        status, doc, _ = h.get("/v1/executions/stats")
        check_eq(status, 200, "GET /v1/executions/stats")
        check_eq(doc["counts"]["failed"], len(failed), "stats: failed count")
        check_eq(doc["counts"]["succeeded"], len(everything) - len(failed), "stats: succeeded count")
        check_eq(doc["counts"]["queued"], 0, "stats: queued count")
        check_eq(doc["total"], len(everything), "stats: total")
        check_eq(doc["exact"], True, "stats: exact")
        status, doc, _ = h.get("/v1/executions/stats?function=noop")
        check_eq(doc["function"], "noop", "stats?function=noop names it")
        check_eq(doc["counts"]["succeeded"], sum(1 for e in everything if made[e][0] == "noop"),
                 "stats?function=noop counts only noop")
        check_eq(doc["counts"]["failed"], 0, "noop never failed")
        status, doc, _ = h.get("/v1/executions/stats?function=%9Cecho")
        check(status == 400 and doc["error"]["code"] == "invalid_query" and "\ufffd" not in str(doc),
              "stats of a name no function can have (not even UTF-8): 400, not echoed", (status, doc))

        # Malformed filters are 400 naming the parameter.
        for query, word in (("state=bogus", "state"), ("metadata=novalue", "metadata"),
                            ("created_from=yesterday", "created_from"), ("finished_to=2026-13-01T00:00:00Z", "finished_to"),
                            ("limit=0", "limit"), ("cursor=xyz", "cursor")):
            status, doc, _ = h.get("/v1/executions?" + query)
            check(status == 400 and word in doc["error"]["message"], "?%s is 400 naming %s" % (query, word), doc)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
