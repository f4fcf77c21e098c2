"""Hostile HTTP/1.1 clients (issue 8, items 9 and 12), each attack first as it was made:

- DNS rebinding: a request with Host: evil.example is refused (403 host_not_allowed) on a
  loopback listener; loopback names (localhost, 127.x, [::1], with or without our port) and
  names from TARRY_ALLOW_HOST are served; a loopback name with another port is refused.
- CSRF: a trigger and a reload sent with a foreign Origin are refused (403 origin_not_allowed)
  and create nothing; the host's own Origin and an Origin from TARRY_CORS_ORIGIN work.
- A body without Content-Type: application/json is refused (415), also with no Content-Type.
- CORS: no Access-Control-* headers and no preflight answer unless TARRY_CORS_ORIGIN names the
  Origin; then the preflight is answered 204 and answers carry Access-Control-Allow-Origin.
- A body over TARRY_MAX_BODY: 413 body_too_large (JSON).
- Request smuggling: Content-Length with Transfer-Encoding, or two different Content-Lengths:
  400, the connection is closed, and the request hidden in the body is never answered.
"""

import json
import socket
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, check_error

TRIGGER = "/v1/functions/noop/executions"


def raw_exchange(port, data, timeout=10.0):
    """Send raw bytes on a fresh connection; read until the server closes it (or the timeout).
    Returns (bytes received, whether the server closed the connection)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    got, closed = b"", False
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            got += chunk
    except socket.timeout:
        pass
    s.close()
    return got, closed


def count_executions(h):
    status, doc, _ = h.client.call("GET", "/v1/executions?limit=100")
    check_eq(status, 200, "listing executions works")
    return len(doc["data"])


def main():
    env = {"TARRY_ALLOW_HOST": "tarry.internal, other.internal:8080", "TARRY_MAX_BODY": "64KiB"}
    with harness.Host(plugins=["testfns"], extra_env=env) as h:
        port = h.port
        c = h.client
        body = {"args": {"x": 1}}

        # ---- Host (DNS rebinding) ----
        for host in ("evil.example", "evil.example:%d" % port, "localhost:1", "127.0.0.1.evil.example", "::1"):
            status, doc, _ = c.call("GET", "/v1/functions", headers={"Host": host})
            check_error(status, doc, 403, "host_not_allowed", "GET with Host %r" % host)
        status, doc, _ = c.call("POST", TRIGGER, body, headers={"Host": "evil.example"})
        check_error(status, doc, 403, "host_not_allowed", "a trigger with Host: evil.example")
        for host in ("localhost", "LocalHost:%d" % port, "127.0.0.1:%d" % port, "127.3.4.5", "[::1]:%d" % port,
                     "tarry.internal", "tarry.internal:9999", "other.internal:8080"):
            status, _, _ = c.call("GET", "/v1/functions", headers={"Host": host})
            check_eq(status, 200, "GET with Host %r is served" % host)
        status, _, _ = c.call("GET", "/v1/functions", headers={"Host": "other.internal:8081"})
        check_eq(status, 403, "a listed host:port is served on that port only")

        # ---- Origin (CSRF) ----
        evil = {"Origin": "http://evil.example"}
        status, doc, _ = c.call("POST", TRIGGER, body, headers=evil)
        check_error(status, doc, 403, "origin_not_allowed", "a cross-site trigger (Origin: http://evil.example)")
        status, doc, _ = c.call("POST", TRIGGER, None, headers=evil)
        check_error(status, doc, 403, "origin_not_allowed", "a cross-site trigger with no body and no Content-Type")
        status, doc, _ = c.call("POST", "/v1/plugins/reload", None, headers=evil)
        check_error(status, doc, 403, "origin_not_allowed", "a cross-site POST /v1/plugins/reload")
        status, doc, _ = c.call("POST", TRIGGER, body, headers={"Origin": "null"})
        check_error(status, doc, 403, "origin_not_allowed", "Origin: null (a sandboxed page)")
        check_eq(count_executions(h), 0, "the refused triggers created nothing")
        status, doc, _ = c.call("GET", "/v1/functions", headers=evil)
        check_eq(status, 200, "a cross-site GET is answered (the browser keeps it from the page: no CORS)")
        status, _, rh = c.call("GET", "/v1/functions", headers=evil)
        check(not any(k.startswith("access-control-") for k in rh), "and carries no Access-Control-* header", rh)
        status, _, _ = c.call("POST", TRIGGER, body, headers={"Origin": "http://127.0.0.1:%d" % port})
        check_eq(status, 202, "a trigger from the host's own Origin is accepted")
        status, _, _ = c.call("POST", TRIGGER, body)
        check_eq(status, 202, "a trigger with no Origin (curl, the CLI) is accepted")

        # ---- Content-Type ----
        status, doc, _ = c.call("POST", TRIGGER, None, raw_body=json.dumps(body))
        check_error(status, doc, 415, "unsupported_media_type", "a JSON body sent with no Content-Type")
        status, doc, _ = c.call("POST", TRIGGER, None, raw_body=json.dumps(body), headers={"Content-Type": "text/plain"})
        check_error(status, doc, 415, "unsupported_media_type", "a body sent as text/plain (a cross-site form's kind)")
        status, doc, _ = c.call("PATCH", "/v1/executions/01JDXN5Z8B3M8Q2W4T6Y8A0C2E/schedule", None,
                                raw_body="{}", headers={"Content-Type": "application/x-www-form-urlencoded"})
        check_error(status, doc, 415, "unsupported_media_type", "a form-encoded PATCH")
        status, _, _ = c.call("POST", TRIGGER, None, raw_body=json.dumps(body),
                              headers={"Content-Type": "Application/JSON; charset=utf-8"})
        check_eq(status, 202, "application/json with a charset, in any case, is accepted")
        check_eq(count_executions(h), 3, "exactly the three accepted triggers exist")

        # ---- CORS: off unless configured ----
        status, _, rh = c.call("OPTIONS", TRIGGER, None, headers={
            "Origin": "http://app.example", "Access-Control-Request-Method": "POST"})
        check(status != 204 and not any(k.startswith("access-control-") for k in rh),
              "no preflight answer without TARRY_CORS_ORIGIN (%d, no Access-Control-*)" % status, rh)

        # ---- body size ----
        big = json.dumps({"args": "x" * (100 * 1024)})
        status, doc, _ = c.call("POST", TRIGGER, None, raw_body=big, headers={"Content-Type": "application/json"})
        check_error(status, doc, 413, "body_too_large", "a 100 KiB body with TARRY_MAX_BODY=64KiB", ("--max-body",))

        # ---- request smuggling (HTTP/1.1) ----
        smuggled = b"GET /v1/functions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        chunked_body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(b"{}"), b"{}")
        attacks = {
            "Content-Length and Transfer-Encoding": (
                b"POST " + TRIGGER.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(chunked_body) + chunked_body + smuggled),
            "Transfer-Encoding before Content-Length": (
                b"POST " + TRIGGER.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunked_body + smuggled),
            "two different Content-Lengths": (
                b"POST " + TRIGGER.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 2\r\nContent-Length: %d\r\n\r\n{}" % (2 + len(smuggled)) + smuggled),
        }
        for what, data in attacks.items():
            got, closed = raw_exchange(port, data)
            head = got.split(b"\r\n", 1)[0]
            check(head.startswith(b"HTTP/1.1 400"), "%s: 400" % what, got[:300])
            check(b"bad_request" in got, "%s: the JSON error says bad_request" % what, got[:300])
            check(closed, "%s: the connection is closed after the answer" % what)
            check_eq(got.count(b"HTTP/1.1 "), 1, "%s: the request hidden in the body is never answered" % what)
        check_eq(count_executions(h), 3, "the smuggling attempts triggered nothing")
        got, closed = raw_exchange(port, b"POST " + TRIGGER.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   b"Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\n"
                                   b"Connection: close\r\n\r\n{}")
        check(got.startswith(b"HTTP/1.1 202"), "two equal Content-Lengths are one length: 202", got[:300])

    # ---- CORS when configured ----
    with harness.Host(plugins=["testfns"], extra_env={"TARRY_CORS_ORIGIN": "http://app.example"}) as h:
        c = h.client
        app = {"Origin": "http://app.example"}
        status, _, rh = c.call("OPTIONS", TRIGGER, None, headers=dict(app, **{"Access-Control-Request-Method": "POST"}))
        check_eq(status, 204, "a preflight from TARRY_CORS_ORIGIN is answered 204")
        check_eq(rh.get("access-control-allow-origin"), "http://app.example", "naming the origin")
        check("POST" in rh.get("access-control-allow-methods", ""), "allowing POST", rh)
        check("content-type" in rh.get("access-control-allow-headers", "").lower(), "and Content-Type", rh)
        status, _, rh = c.call("POST", TRIGGER, {"args": 1}, headers=app)
        check_eq(status, 202, "a trigger from the configured origin is accepted")
        check_eq(rh.get("access-control-allow-origin"), "http://app.example", "with Access-Control-Allow-Origin")
        status, doc, rh = c.call("POST", TRIGGER, {"args": 1}, headers={"Origin": "http://evil.example"})
        check_error(status, doc, 403, "origin_not_allowed", "another origin is still refused")
        check("access-control-allow-origin" not in rh, "and gets no CORS header", rh)


harness.run(main)
