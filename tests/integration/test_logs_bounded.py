"""A function that logs without end cannot flood the store or block the host (issue 8, item 5).

`loud` writes 100,000 lines of 4 KiB (416 MB before the bounds). With the
defaults the host keeps 10,000 lines per execution, each cut to 4 KiB, counts
the other 90,000 (the last line says "90000 lines dropped", the logs answer's
`dropped` field too), and serves the lines in bounded pages
(?after=CURSOR&limit=N, next_cursor) that `tarry logs` follows. While the
flood is written and read, other requests are answered. With
--log-max-lines/--log-line-max (here through their variables) the bounds
move, the count goes on across a workflow's passes, a long line is cut at a
character boundary and a byte that is no UTF-8 becomes '?'.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, check_error

LINES, BYTES = 100000, 4096
DEFAULT_MAX_LINES, DEFAULT_LINE_MAX, DEFAULT_PAGE, MAX_PAGE = 10000, 4096, 1000, 10000


def all_pages(h, exec_id, limit=None):
    """Follow next_cursor from the first page; returns (lines, pages, last page's doc)."""
    lines, pages, cursor = [], 0, None
    while True:
        query = []
        if limit:
            query.append("limit=%d" % limit)
        if cursor is not None:
            query.append("after=" + cursor)
        path = "/v1/executions/%s/logs%s" % (exec_id, "?" + "&".join(query) if query else "")
        status, doc, _ = h.get(path)
        check(status == 200, "GET %s answers 200" % path, (status, doc))
        pages += 1
        check(len(doc["data"]) <= (limit or DEFAULT_PAGE), "a page holds at most the limit", len(doc["data"]))
        lines += doc["data"]
        cursor = doc["next_cursor"]
        if cursor is None:
            return lines, pages, doc
        check(pages < 1000, "the pages end", pages)


def main():
    with harness.Host(plugins=["loud"], workers=2) as h:
        # Others are answered while the flood is logged and stored: a request on another
        # connection gets its answer before the flood's execution is final.
        answered = []
        loud_id = h.trigger_ok("loud", {"lines": LINES, "bytes": BYTES})
        other = h.new_client()
        while True:
            status, doc, _ = other.call("POST", "/v1/functions/quick/executions?wait=30s", {})
            answered.append(status == 200 and doc.get("result") == {"quick": True})
            if h.execution(loud_id)["state"] in harness.FINAL_STATES:
                break
        check(all(answered), "every other trigger was answered with its result meanwhile (%d)" % len(answered), answered)
        doc = h.wait_final(loud_id, timeout=300)
        check_eq(doc["state"], "succeeded", "loud succeeded")
        check_eq(doc["result"], {"logged": LINES}, "it logged all it wanted to")

        # The first page is bounded by default, and says what was dropped.
        status, first, _ = h.get("/v1/executions/%s/logs" % loud_id)
        check_eq(len(first["data"]), DEFAULT_PAGE, "the default page is 1000 lines")
        check_eq(first["dropped"], LINES - DEFAULT_MAX_LINES, "the answer counts the dropped lines")
        check(isinstance(first["next_cursor"], str), "a next_cursor leads on", first["next_cursor"])

        # Following the pages (read while another client keeps being answered).
        stop = threading.Event()
        during = []

        def poke():
            c = h.new_client()
            while not stop.is_set():
                s, d, _ = c.call("GET", "/v1/executions/%s" % loud_id)
                during.append(s == 200 and d.get("id") == loud_id)

        t = threading.Thread(target=poke)
        t.start()
        try:
            lines, pages, last = all_pages(h, loud_id, limit=MAX_PAGE)
        finally:
            stop.set()
            t.join()
        check(during and all(during), "another client was answered while the pages were read (%d)" % len(during), during[:5])
        check_eq(len(lines), DEFAULT_MAX_LINES + 1, "10,000 lines are kept, and one line says what was dropped")
        check(pages >= 2, "the lines came in more than one page", pages)
        check_eq([l["seq"] for l in lines[:-1]], list(range(DEFAULT_MAX_LINES)), "the kept lines are the first ones, in order")
        check(all(l["message"].startswith("line %d x" % i) for i, l in enumerate(lines[:-1])), "each kept line is the one logged", lines[0]["message"][:20])
        longest = max(len(l["message"].encode()) for l in lines)
        check(longest <= DEFAULT_LINE_MAX, "no line is longer than 4 KiB", longest)
        check_eq(len(lines[0]["message"].encode()), DEFAULT_LINE_MAX, "a longer line is cut to 4 KiB")
        marker = lines[-1]
        check_eq(marker["level"], "warn", "the dropped-lines line is a warning")
        check(marker["message"].startswith("%d lines dropped" % (LINES - DEFAULT_MAX_LINES)), "the last line says how many were dropped", marker)
        check_eq(last["dropped"], LINES - DEFAULT_MAX_LINES, "every page carries the count")

        # Bad paging queries are refused, not guessed at.
        for query in ("limit=0", "limit=10001", "limit=x", "after=x", "after=-1", "after=99999999999"):
            status, doc, _ = h.get("/v1/executions/%s/logs?%s" % (loud_id, query))
            check_error(status, doc, 400, "invalid_query", "logs?%s" % query)
        status, doc, _ = h.get("/v1/executions/%s/logs?after=4294967296" % loud_id)
        check(status == 200 and doc["data"] == [] and doc["next_cursor"] is None, "a cursor past the end is an empty last page", doc)

        # `tarry logs` follows the pages to the end.
        p = h.cli("logs", loud_id, timeout=300)
        check_eq(p.returncode, 0, "tarry logs exits 0")
        out = p.stdout.splitlines()
        check_eq(len(out), DEFAULT_MAX_LINES + 1, "tarry logs prints every kept line and the dropped-lines line")
        check("%d lines dropped" % (LINES - DEFAULT_MAX_LINES) in out[-1], "the last printed line says what was dropped", out[-1][:120])
        p = h.cli("logs", loud_id, "--json", timeout=300)
        docs = [json.loads(l) for l in p.stdout.splitlines()]
        check_eq(sum(len(d["data"]) for d in docs), DEFAULT_MAX_LINES + 1, "tarry logs --json prints every page's answer")
        check(h.healthy(), "the host is still serving")

    # Smaller bounds, across the passes of a workflow.
    env = {"TARRY_LOG_MAX_LINES": "5", "TARRY_LOG_LINE_MAX": "100"}
    with harness.Host(plugins=["loud"], workers=2, extra_env=env) as h:
        exec_id = h.trigger_ok("loud_flow", {"lines": 3, "passes": 3})
        doc = h.wait_final(exec_id, timeout=60)
        check_eq(doc["state"], "succeeded", "loud_flow succeeded")
        lines, _, last = all_pages(h, exec_id, limit=2)
        messages = [l["message"] for l in lines]
        # 3 passes of 3 lines, the accents line and the latin-1 line: 11 logged, 5 kept.
        check_eq(messages[:5], ["pass 0 line 0", "pass 0 line 1", "pass 0 line 2", "pass 1 line 0", "pass 1 line 1"], "the first 5 lines are kept, none twice across passes")
        check_eq(last["dropped"], 6, "the 6 lines past the limit are counted across passes")
        check_eq(len(messages), 6, "5 lines and the dropped-lines line")
        check(messages[5].startswith("6 lines dropped"), "the last line has the total", messages[5])

        # Cutting and cleaning, on a host with room for the lines.
        h.stop()
        h.extra_env = {"TARRY_LOG_LINE_MAX": "101"}
        h.start()
        exec_id = h.trigger_ok("loud_flow", {"lines": 0, "passes": 1})
        h.wait_final(exec_id, timeout=60)
        lines, _, last = all_pages(h, exec_id)
        messages = [l["message"] for l in lines]
        check_eq(last["dropped"], 0, "nothing dropped")
        check_eq(messages[0], "\u00e9" * 50, "a 400-byte line is cut to 101 bytes at a character boundary (100 bytes, 50 characters)")
        check_eq(messages[1], "latin1 ? here", "a byte that is no UTF-8 is stored as '?'")

    # The options are checked before anything starts.
    for env in ({"TARRY_LOG_MAX_LINES": "0"}, {"TARRY_LOG_LINE_MAX": "10"}):
        folder = tempfile.mkdtemp(prefix="tarry-it-")
        try:
            argv = [harness.BIN, "serve", "--data", os.path.join(folder, "data"), "--plugins", folder, "--listen", "127.0.0.1:0"]
            p = subprocess.run(argv, env=dict(os.environ, **env), capture_output=True, text=True, timeout=30)
            check(p.returncode != 0 and list(env)[0] in p.stderr, "%r is refused, naming the variable" % env, p.stderr)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

if __name__ == "__main__":
    harness.run(main)
