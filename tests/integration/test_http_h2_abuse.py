"""Hostile HTTP/2 (h2c) clients (issue 8, items 10 and 11), each attack as it was made:

- Rapid reset (CVE-2023-44487) on the trigger endpoint: HEADERS + RST_STREAM in a loop on one
  connection. Before: every reset trigger became an execution (1.5 million in 10 s). Now the
  connection is closed once it has abandoned TARRY_MAX_RESETS requests, so at most about that
  many executions exist, and other clients are served throughout.
- Rapid reset on GET /v1/executions?limit=1000: the connection is closed the same way.
- Bodies that never end on many streams: the connection is closed once it has sent
  TARRY_MAX_CONN_BUFFER bytes no request has used (before: 100 streams x 16 MiB each).
- An idle connection kept alive by PING: closed after TARRY_IDLE_TIMEOUT all the same.
- Connection caps: with TARRY_MAX_CONNECTIONS=20, 40 idle h2c connections never lock out a new
  client (the longest idle gives way); 20 busy ones (long-polls) make the 21st get 503.

Needs Debian's python3-h2 (scripts/deps); re-runs itself under /usr/bin/python3 when the
python3 on PATH lacks it.
"""

import os
import socket
import sys
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
except ImportError:
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

import harness
from harness import check, check_eq


class H2:
    """A bare h2c (prior knowledge) client connection that can misbehave."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.authority = "127.0.0.1:%d" % port
        self.closed = False
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def headers(self, method, path, end_stream=True, extra=()):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"), (":authority", self.authority)]
        self.conn.send_headers(sid, hdrs + list(extra), end_stream=end_stream)
        return sid

    def pump(self, timeout=0.0):
        """Read what has arrived (waiting up to timeout); returns the events; sets closed on EOF/GOAWAY."""
        events = []
        self.sock.settimeout(timeout if timeout > 0 else 0.0001)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    self.closed = True
                    break
                try:
                    evs = self.conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    self.closed = True
                    break
                events.extend(evs)
                for e in evs:  # give the window back, or answers stop after 64 KiB
                    if isinstance(e, h2.events.DataReceived) and e.flow_controlled_length:
                        try:
                            self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                        except h2.exceptions.StreamClosedError:
                            pass
                if any(isinstance(e, h2.events.ConnectionTerminated) for e in evs):
                    self.closed = True
                self.flush()
                self.sock.settimeout(0.0001)
        except (socket.timeout, BlockingIOError):
            pass
        except OSError:
            self.closed = True
        return events

    def wait_closed(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.pump(0.2)
        return self.closed

    def close(self):
        self.sock.close()


def count_all(h):
    items, _ = h.list_all(limit=1000)
    return len(items)


def rapid_reset(h, path, method, n):
    """HEADERS + RST_STREAM n times on one connection; returns the connection."""
    c = H2(h.port)
    extra = [("content-type", "application/json")] if method == "POST" else []
    sent = 0
    for i in range(n):
        if c.closed:
            break
        try:
            sid = c.headers(method, path, end_stream=True, extra=extra)
            c.conn.reset_stream(sid)
        except h2.exceptions.ProtocolError:
            break
        sent += 1
        if i % 50 == 49:
            c.flush()
            c.pump()
    c.flush()
    c.wait_closed(30.0)
    return c, sent


def main():
    env = {"TARRY_MAX_RESETS": "50", "TARRY_MAX_CONN_BUFFER": "1MiB", "TARRY_IDLE_TIMEOUT": "2s",
           "TARRY_MAX_CONNECTIONS": "20", "TARRY_MAX_CONNECTIONS_PER_ADDR": "20"}
    with harness.Host(plugins=["testfns"], extra_env=env) as h:
        # ---- rapid reset on the trigger ----
        c, sent = rapid_reset(h, "/v1/functions/noop/executions", "POST", 20000)
        check(c.closed, "rapid reset on the trigger: the host closes the connection (after %d HEADERS+RST sent)" % sent)
        c.close()
        check(h.healthy(), "other clients are served after the attack")
        made = count_all(h)
        check(made <= 50 + 100, "at most --max-resets + --max-streams executions came of it (%d, of %d sent)"
              % (made, sent))
        check("abandoned (reset)" in h.log_text(), "the host logs why it closed the connection")

        # ---- rapid reset on a large list ----
        for _ in range(30):
            h.trigger_ok("noop")
        c, sent = rapid_reset(h, "/v1/executions?limit=1000", "GET", 20000)
        check(c.closed, "rapid reset on GET /v1/executions?limit=1000: the connection is closed (%d sent)" % sent)
        c.close()
        check(h.healthy(), "and the host serves others")

        # ---- a well-behaved h2 client is never counted as resetting ----
        c = H2(h.port)
        answered = 0
        for i in range(120):
            sid = c.headers("GET", "/v1/functions")
            c.flush()
            deadline = time.monotonic() + 10
            done = False
            while not done and time.monotonic() < deadline:
                for e in c.pump(0.05):
                    if isinstance(e, h2.events.StreamEnded) and e.stream_id == sid:
                        done = True
            answered += done
        check_eq(answered, 120, "120 requests answered in turn on one connection (more than --max-resets)")
        check(not c.closed, "and that connection stays open")
        c.close()

        # ---- bodies that never end ----
        c = H2(h.port)
        c.pump(0.2)
        streams = [c.headers("POST", "/v1/functions/noop/executions", end_stream=False,
                             extra=[("content-type", "application/json")]) for _ in range(50)]
        c.flush()
        chunk = b" " * 16000
        sent_bytes = 0
        while not c.closed and sent_bytes < 64 * 1024 * 1024:
            progressed = False
            for sid in streams:
                try:
                    if c.conn.local_flow_control_window(sid) >= len(chunk):
                        c.conn.send_data(sid, chunk)
                        sent_bytes += len(chunk)
                        progressed = True
                except (h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError):
                    pass
            c.flush()
            c.pump(0.01 if progressed else 0.2)
        check(c.closed, "bodies that never end: the connection is closed (after %d bytes sent)" % sent_bytes)
        check(sent_bytes < 8 * 1024 * 1024, "long before 8 MiB were buffered (limit 1 MiB)")
        check("--max-conn-buffer" in h.log_text(), "the log names --max-conn-buffer")
        c.close()
        check(h.healthy(), "the host serves others")

        # ---- PING does not keep an idle connection alive ----
        c = H2(h.port)
        sid = c.headers("GET", "/healthz")
        c.flush()
        pings = 0
        deadline = time.monotonic() + 60
        while not c.closed and time.monotonic() < deadline:
            try:
                c.conn.ping(b"%08d" % pings)
            except h2.exceptions.ProtocolError:
                break
            pings += 1
            c.flush()
            c.pump(0.3)
        check(c.closed, "an idle connection sending PING is closed all the same (%d PINGs sent)" % pings)
        c.close()

        # ---- connection caps ----
        idle = [H2(h.port) for _ in range(40)]
        for c in idle:
            c.pump(0.01)
        status, _, _ = h.new_client().call("GET", "/v1/functions")
        check_eq(status, 200, "with 40 idle h2c connections open (cap 20), a new client is served")
        gone = 0
        for c in idle:
            c.pump(0.05)
            gone += c.closed
            c.close()
        check(gone >= 20, "the longest idle connections gave way (%d of 40 closed)" % gone)

        # 20 busy connections: long-polls on an execution that waits an hour.
        eid = h.trigger_ok("noop", delay="1 hour")
        busy = []
        for _ in range(20):
            c = H2(h.port)
            c.headers("GET", "/v1/executions/%s/result?wait=60s" % eid)
            # Streams run in order: once /healthz is answered, the long-poll before it is in flight.
            probe = c.headers("GET", "/healthz")
            c.flush()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(
                    isinstance(e, h2.events.StreamEnded) and e.stream_id == probe for e in c.pump(0.1)):
                pass
            busy.append(c)
        s = socket.create_connection(("127.0.0.1", h.port), timeout=10)
        s.sendall(b"GET /v1/functions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        s.close()
        check(got.startswith(b"HTTP/1.1 503") and b"too_many_connections" in got,
              "with 20 busy connections (cap 20) the 21st gets 503 too_many_connections and is closed", got[:300])
        for c in busy:
            c.close()

    # ---- the open-file limit: `ulimit -n 256` and 300 idle h2c connections kept alive by PING ----
    wrapper_dir = harness.tempfile.mkdtemp(prefix="tarry-ulimit-")
    real_bin = harness.BIN
    try:
        for soft_only in (True, False):
            wrapper = os.path.join(wrapper_dir, "tarry-%s" % ("soft" if soft_only else "hard"))
            with open(wrapper, "w") as f:
                f.write("#!/bin/sh\nulimit %s 256 || exit 1\nexec %s \"$@\"\n" % ("-Sn" if soft_only else "-n", real_bin))
            os.chmod(wrapper, 0o755)
            harness.BIN = wrapper
            with harness.Host(plugins=["testfns"]) as h:
                log = h.log_text()
                if soft_only:
                    check("raised the open-file limit from 256" in log, "a soft limit of 256 is raised to the hard one", log)
                else:
                    check("128 connections" in log, "with a hard limit of 256, 128 connections (128 fds kept back)", log)
                conns = []
                for _ in range(300):
                    try:
                        conns.append(H2(h.port, timeout=5))
                    except OSError:
                        break
                for c in conns:
                    c.conn.ping(b"keepaliv")
                    c.flush()
                status, _, _ = h.new_client().call("GET", "/v1/functions")
                check_eq(status, 200, "%s: with 300 h2c connections kept alive by PING, a new client is served"
                         % ("ulimit -Sn 256" if soft_only else "ulimit -n 256"))
                for c in conns:
                    c.close()
    finally:
        harness.BIN = real_bin
        harness.shutil.rmtree(wrapper_dir, ignore_errors=True)


harness.run(main)
