"""Following an execution's log (issue 10): GET /v1/executions/ID/logs?follow=1 as server-sent events,
and `tarry logs ID -f`.

- A workflow that logged three lines and sleeps: a raw HTTP client following it gets those lines
  (with time, level, attempt 1) while the execution is still waiting; after the sleep is fired the
  last line arrives, then the `end` event with the state, then the stream closes.
- Attempts: a function that fails its first attempt and is retried shows attempt 1 then attempt 2;
  the page answer carries the same attempt on each line.
- A finished execution: everything, then `end`, at once; ?after= starts at a cursor; Last-Event-ID
  resumes after the line it names; an unknown id is a 404 JSON error; follow=maybe is a 400.
- Clients that go away mid-stream free their follower (tarry_log_followers in /metrics falls back
  to 0) and the host serves on after many of them.
- `tarry logs ID -f` prints lines as they come and exits 0 when the execution succeeded, 1 when it
  failed; `tarry logs ID` shows the attempt column.

No wall-clock assertions: the workflow waits on a durable sleep that the test fires.
"""

import json
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, check_error


class Stream:
    """A raw HTTP/1.1 client for one event stream: the head, then events as they come."""

    def __init__(self, port, path, headers=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (path, extra)).encode())
        self.buf = b""
        self.body = b""
        self.closed = False
        head = self._until(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if l)}

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
        return data

    def _until(self, sep):
        while sep not in self.buf:
            data = self._recv()
            check(data, "the stream goes on until %r" % sep, self.buf[-200:])
            self.buf += data
        out, self.buf = self.buf.split(sep, 1)
        return out

    def _chunk(self):
        """The next chunk of the chunked body (b"" at its end)."""
        size = int(self._until(b"\r\n").split(b";")[0], 16)
        while len(self.buf) < size + 2:
            data = self._recv()
            check(data, "a whole chunk", self.buf[-200:])
            self.buf += data
        chunk, self.buf = self.buf[:size], self.buf[size + 2:]
        return chunk

    def event(self):
        """The next event as (name, data dict, id) skipping comments; None when the stream ended."""
        while b"\n\n" not in self.body:
            chunk = self._chunk()
            if not chunk:
                check(not self.body.strip(), "no half event at the end", self.body)
                return None
            self.body += chunk
        raw, self.body = self.body.split(b"\n\n", 1)
        fields = {}
        for line in raw.decode().split("\n"):
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if not fields:
            return self.event()  # a keepalive comment alone
        return fields.get("event"), json.loads(fields["data"]), fields.get("id")

    def ends(self):
        """The chunked body's end, then the connection is still usable or closed: either is an end."""
        check_eq(self.event(), None, "nothing after the end event")

    def close(self):
        self.sock.close()


def follow_path(exec_id, query=""):
    return "/v1/executions/%s/logs?follow=1%s" % (exec_id, query)


def lines_until_end(s):
    lines = []
    while True:
        ev = s.event()
        check(ev is not None, "the stream ends with an end event", lines)
        name, data, ev_id = ev
        if name == "end":
            return lines, data
        check_eq(name, "line", "an event before the end")
        check_eq(ev_id, str(data["seq"]), "the event's id is the line's seq")
        lines.append(data)


def main():
    with harness.Host(plugins=["wflog"]) as h:
        # ---- a waiting workflow: lines before the end, then the rest and `end` ----
        wf = h.trigger_ok("logged_sleep", {"sleep": "1h"})
        h.wait_state(wf, ["waiting"])
        s = Stream(h.port, follow_path(wf))
        check_eq(s.status, 200, "follow answers 200")
        check(s.headers.get("content-type", "").startswith("text/event-stream"), "an event stream", s.headers)
        check(s.headers.get("x-content-type-options") == "nosniff"
              and "default-src 'none'" in s.headers.get("content-security-policy", ""),
              "the stream is never sniffed nor run as a document (nosniff, CSP)", s.headers)
        got = [s.event() for _ in range(3)]
        check_eq([(n, d["message"], d["level"], d["attempt"]) for n, d, _ in got],
                 [("line", "start", "info", 1), ("line", "in step body", "warn", 1), ("line", "before sleep", "info", 1)],
                 "the lines logged so far, with level and attempt")
        check_eq(h.execution(wf)["state"], "waiting", "they came while the execution is still waiting")
        harness.parse_time(got[0][1]["time"])
        check_eq(h.metrics().get("tarry_log_followers"), 1.0, "one follower")
        check_eq(h.reschedule(wf)[0], 200, "the sleep is fired")
        rest, end = lines_until_end(s)
        check_eq([(d["seq"], d["message"], d["level"]) for d in rest], [(3, "after sleep", "error")], "the last line")
        check_eq(end, {"state": "succeeded", "dropped": 0}, "the end event")
        s.ends()
        s.close()
        h.wait_metric("tarry_log_followers", 0.0)

        # ---- a finished execution: all at once; cursors ----
        s = Stream(h.port, follow_path(wf))
        lines, end = lines_until_end(s)
        check_eq([d["seq"] for d in lines], [0, 1, 2, 3], "a finished execution's every line")
        check_eq(end["state"], "succeeded", "then its end")
        s.close()
        s = Stream(h.port, follow_path(wf, "&after=2"))
        check_eq([d["seq"] for d in lines_until_end(s)[0]], [2, 3], "after=2 starts at line 2")
        s.close()
        s = Stream(h.port, follow_path(wf), {"Last-Event-ID": "1"})
        check_eq([d["seq"] for d in lines_until_end(s)[0]], [2, 3], "Last-Event-ID 1 resumes at line 2")
        s.close()

        # ---- attempts across a retry ----
        rt = h.trigger_ok("logged_retry", {"fail": 1})
        h.wait_final(rt)
        s = Stream(h.port, follow_path(rt))
        lines, end = lines_until_end(s)
        check_eq([(d["attempt"], d["message"]) for d in lines], [(1, "attempt 1"), (2, "attempt 2")],
                 "each line names its attempt")
        check_eq(end["state"], "succeeded", "the retried execution's end")
        s.close()
        status, doc, _ = h.get("/v1/executions/%s/logs" % rt)
        check_eq([(d["attempt"], d["message"]) for d in doc["data"]], [(1, "attempt 1"), (2, "attempt 2")],
                 "the page answer carries the attempt too")

        # ---- errors ----
        status, doc, _ = h.get(follow_path("0" * 26))
        check_error(status, doc, 404, "execution_not_found", "follow of an unknown id")
        status, doc, _ = h.get("/v1/executions/%s/logs?follow=maybe" % rt)
        check_error(status, doc, 400, "invalid_query", "follow=maybe")

        # ---- clients that go away mid-stream ----
        waiting = [h.trigger_ok("logged_sleep", {"sleep": "1h"}) for _ in range(3)]
        for w in waiting:
            h.wait_state(w, ["waiting"])
        for i in range(60):
            s = Stream(h.port, follow_path(waiting[i % 3]))
            check_eq(s.event()[0], "line", "a first line")
            s.close()  # gone before the end
        for w in waiting:
            check_eq(h.reschedule(w)[0], 200, "the sleep is fired")
            h.wait_final(w)
        # Each dead follower is found out by the next write (the execution's last lines and end).
        h.wait_metric("tarry_log_followers", 0.0)
        check(h.healthy(), "the host serves on")

        # ---- the CLI ----
        wf2 = h.trigger_ok("logged_sleep", {"sleep": "1h"})
        h.wait_state(wf2, ["waiting"])
        p = subprocess.Popen([harness.BIN, "--url", h.url, "logs", wf2, "-f"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        first = [p.stdout.readline() for _ in range(3)]
        check(all("#1" in l for l in first) and "before sleep" in first[2], "-f prints the lines so far", first)
        check_eq(p.poll(), None, "and keeps following while the execution waits")
        h.reschedule(wf2)
        out, err = p.communicate(timeout=60)
        check_eq(p.returncode, 0, "-f exits 0 once the execution succeeded (%s)" % err)
        check("after sleep" in out, "the last line came", out)
        failed = h.trigger_ok("logged_retry", {"fail": 3})
        p = h.cli("logs", failed, "--follow")
        check_eq(p.returncode, 1, "--follow exits 1 when the execution failed")
        check_eq([l.split()[2] for l in p.stdout.splitlines()], ["#1", "#2", "#3"], "one line per attempt")
        p = h.cli("logs", rt)
        check_eq(p.returncode, 0, "tarry logs")
        check("#2  attempt 2" in p.stdout, "the attempt column", p.stdout)


if __name__ == "__main__":
    harness.run(main)
