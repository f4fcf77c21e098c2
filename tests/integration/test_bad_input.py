"""Every kind of bad request gets the documented JSON error, and none of them hurts the host.

Each case checks the status, the error code and that the message names the
field or thing at fault. At the end the host must still serve, and the
executions made before the barrage must all still be there.
"""

import json
import socket
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, check_error

UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # well-formed, never made by this host
MIB = 1 << 20


def post_raw(h, path, body, content_type="application/json"):
    headers = {"Content-Type": content_type} if content_type else {}
    status, doc, _ = h.client.call("POST", path, headers=headers, raw_body=body)
    return status, doc


def read_response(sock):
    """Read one HTTP response (Content-Length framed, or up to close) -> (status, body bytes)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            lengths = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if lengths and len(rest) >= lengths[0]:
                break
    if not data.startswith(b"HTTP/1."):
        return None, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), rest


def oversized_post(h, path, size):
    """POST a `size`-byte JSON body on a fresh socket. The server may answer
    413 before reading the body and close; then sending fails part-way, which
    is fine: read whatever answer arrived."""
    prefix, suffix = b'{"args":"', b'"}'
    body = prefix + b"x" * (size - len(prefix) - len(suffix)) + suffix
    head = (
        "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: %d\r\nConnection: close\r\n\r\n" % (path, len(body))
    ).encode()
    with socket.create_connection(("127.0.0.1", h.port), timeout=30) as s:
        try:
            s.sendall(head)
            for off in range(0, len(body), 65536):
                s.sendall(body[off : off + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, raw = read_response(s)
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = {"_unparsed": raw[:200]}
    return status, doc


def main():
    with harness.Host(plugins=["examples"], workers=2) as h:
        before = [h.trigger_ok("add", {"a": i, "b": 1}) for i in range(5)]
        for i in before:
            h.wait_final(i)
        trig = "/v1/functions/noop/executions"

        # ---- malformed bodies ------------------------------------------
        for body in ('{"args": ', "not json", '{"args": 1,}', "{'args': 1}", "\x00"):
            status, doc = post_raw(h, trig, body)
            check_error(status, doc, 400, "invalid_json", "malformed JSON %r" % body)
        status, doc = post_raw(h, trig, "[1, 2]")
        check_error(status, doc, 400, ("invalid_json", "invalid_field"), "a JSON body that is not an object")
        deep = "[" * 100000 + "]" * 100000
        status, doc = post_raw(h, trig, '{"args": %s}' % deep)
        check(status == 400, "args nested 100,000 deep -> 400 (a parser without a depth limit would overflow its stack)", (status, doc))
        check(h.healthy(), "the host survives deeply nested JSON")

        # ---- accepted shapes ---------------------------------------------
        for args in ("str", [1, 2], 5, None, {"nested": {"x": [True, None]}}):
            status, doc, _ = h.call("POST", trig, {"args": args})
            check_eq(status, 202, "args may be any JSON (%r)" % (args,))
        status, doc = post_raw(h, trig, "", content_type=None)
        check_eq(status, 202, "an empty body means {}")
        status, doc = post_raw(h, trig, "{}", content_type="application/json; charset=utf-8")
        check_eq(status, 202, "Content-Type application/json; charset=utf-8 is accepted")

        # ---- wrong field types and values --------------------------------
        cases = [
            ({"delay": 5}, "delay"),
            ({"delay": ["1s"]}, "delay"),
            ({"delay": "1 dy"}, "delay"),
            ({"delay": ""}, "delay"),
            ({"delay": "10"}, "delay"),
            ({"delay": "-5s"}, "delay"),
            ({"run_at": 12345}, "run_at"),
            ({"run_at": "tomorrow"}, "run_at"),
            ({"run_at": "2026-13-01T00:00:00Z"}, "run_at"),
            ({"run_at": "2026-02-30T00:00:00Z"}, "run_at"),
            ({"metadata": "x"}, "metadata"),
            ({"metadata": [1]}, "metadata"),
            ({"metadata": {"k": 1}}, "metadata"),
        ]
        for body, field in cases:
            status, doc, _ = h.call("POST", trig, body)
            check_error(status, doc, 400, "invalid_field", "body %r" % (body,), message_has=(field,))
        status, doc, _ = h.call("POST", trig, {"delay": "1 dy"})
        check("dy" in doc["error"]["message"], "the bad duration's message quotes the bad unit", doc)
        status, doc, _ = h.call("POST", trig, {"delay": "1s", "run_at": "2030-01-01T00:00:00Z"})
        err = check_error(status, doc, 400, "invalid_field", "both delay and run_at")
        check("delay" in err["message"] and "run_at" in err["message"], "the message names delay and run_at", err)

        # ---- unknown things ----------------------------------------------
        status, doc, _ = h.call("POST", "/v1/functions/no_such_fn/executions", {})
        check_error(status, doc, 404, "function_not_found", "trigger of an unknown function", message_has=("no_such_fn",))
        for sub in ("", "/result", "/logs"):
            status, doc, _ = h.get("/v1/executions/%s%s" % (UNKNOWN_ID, sub))
            check_error(status, doc, 404, "execution_not_found", "GET unknown execution%s" % sub)
        for bad in ("abc", "01ARZ3NDEKTSV4RRFFQ69G5FAVX", "01ARZ3NDEKTSV4RRFFQ69G5FA!", "01ARZ3NDEKTSV4RRFFQ69G5FAU"):
            status, doc, _ = h.get("/v1/executions/" + bad)
            check_error(status, doc, 400, "invalid_id", "GET /v1/executions/%s" % bad)
        status, doc, _ = h.get("/v1/no/such/route")
        check_error(status, doc, 404, "not_found", "unknown route")

        # ---- size, media type, method ------------------------------------
        status, doc = oversized_post(h, trig, MIB + 1)
        check_error(status, doc, 413, "body_too_large", "a body of 1 MiB + 1 byte")
        status, doc = oversized_post(h, trig, 8 * MIB)
        check_error(status, doc, 413, "body_too_large", "a body of 8 MiB")
        status, doc = oversized_post(h, trig, MIB)
        check_eq(status, 202, "a body of exactly 1 MiB is accepted")
        status, doc = post_raw(h, trig, "{}", content_type="text/plain")
        check_error(status, doc, 415, "unsupported_media_type", "Content-Type text/plain")
        status, doc = post_raw(h, trig, "{}", content_type="application/x-www-form-urlencoded")
        check_error(status, doc, 415, "unsupported_media_type", "Content-Type form-urlencoded")
        for method, path, allowed in (
            ("PUT", trig, "POST"),
            ("DELETE", trig, "POST"),
            ("POST", "/v1/executions/" + before[0], "GET"),
            ("DELETE", "/v1/executions", "GET"),
            ("POST", "/healthz", "GET"),
        ):
            status, doc, headers = h.call(method, path, raw_body="{}" if method != "DELETE" else None,
                                          headers={"Content-Type": "application/json"})
            check_error(status, doc, 405, "method_not_allowed", "%s %s" % (method, path))
            check(allowed in headers.get("allow", ""), "405 for %s %s has Allow: %s" % (method, path, allowed), headers)

        # ---- bad query parameters -----------------------------------------
        for q in (
            "/v1/executions?limit=0", "/v1/executions?limit=1001", "/v1/executions?limit=abc",
            "/v1/executions?limit=-1", "/v1/executions?state=nope", "/v1/executions?cursor=%21%21%21",
            "/v1/executions/%s/result?wait=forever" % before[0], "/v1/executions/%s/result?wait=5" % before[0],
            "/v1/executions/%s/result?wait=11m" % before[0],
        ):
            status, doc, _ = h.get(q)
            name = q.split("?")[1].split("=")[0]
            check_error(status, doc, 400, "invalid_query", "GET " + q, message_has=(name,))
        status, doc, _ = h.call("POST", trig + "?wait=soon", {})
        check_error(status, doc, 400, "invalid_query", "trigger ?wait=soon", message_has=("wait",))

        # ---- nothing lost ----------------------------------------------------
        check(h.healthy(), "the host still answers /healthz")
        for i, eid in enumerate(before):
            rec = h.execution(eid)
            check(rec["state"] == "succeeded" and rec["result"] == {"sum": i + 1}, "execution %s from before is intact" % eid, rec)
        listed = {e["id"] for e in h.list_all("function=add")[0]}
        check(set(before) <= listed, "the list still has every execution from before")
        status, doc = h.trigger("add", {"a": 4, "b": 5}, wait="5s")
        check(status == 200 and doc.get("result") == {"sum": 9}, "a new trigger still works", (status, doc))
        # A triggered-but-refused request must not have created anything.
        noops, _ = h.list_all("function=noop")
        check_eq(len(noops), 8, "only the 8 accepted noop triggers exist (refused ones created nothing)")


harness.run(main)
