"""JSON input is never changed silently (issue 8, item 13).

A request body with invalid UTF-8 (overlong forms and surrogates too), a NUL
(raw or \\u0000), trailing text, a duplicate key at any depth, or a number a
double cannot hold as written (an integer past 2^53, 1e999) is refused with
400 invalid_json naming the field; nothing is created. What is accepted is
stored and served byte for byte as it came (args are not re-printed), and a
plugin's result is served as the plugin wrote it.
"""

import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, check_error

TRIG = "/v1/functions/echo/executions"


def post_raw(h, path, body, method="POST"):
    status, doc, _ = h.client.call(method, path, headers={"Content-Type": "application/json"}, raw_body=body)
    return status, doc


def main():
    with harness.Host(plugins=["testfns"], workers=2) as h:
        refused = [
            (b'{"args": {"user": {"id": 9007199254740993}}}', "args.user.id: integer 9007199254740993 cannot be represented exactly"),
            (b'{"args": [1, -12345678901234567890]}', "args[1]: integer -12345678901234567890 cannot be represented exactly"),
            (b'{"args": {"x": 1e999}}', "args.x: number 1e999 is out of range"),
            (b'{"args": {"name": "a\\u0000b"}}', "args.name: \\u0000 (NUL) in a string"),
            (b'{"args": {"name": "a\x00b"}}', "args.name: NUL byte in a string"),
            (b'{"args": 1} trailing', "unexpected text after the JSON value"),
            (b'{"args": 1}\x00{"args": 2}', "unexpected NUL byte after the JSON value"),
            (b'{"args": 1, "args": 2}', "args: duplicate key"),
            (b'{"args": {"user": {"id": 1, "id": 2}}}', "args.user.id: duplicate key"),
            (b'{"args": [{"k": 1, "\\u006b": 2}]}', "args[0].k: duplicate key"),
            (b'{"args": {"name": "Ren\xe9"}}', "args.name: invalid UTF-8 (byte 0xE9) in a string"),
            (b'{"args": "\xc0\xaf"}', "args: invalid UTF-8 (byte 0xC0)"),
            (b'{"args": "\xed\xa0\x80"}', "args: invalid UTF-8 (byte 0xED)"),
            (b'{"args": "\\udc00"}', "args: unpaired surrogate \\uDC00"),
            (b'{"args": 01}', "args: a number may not start with 0"),
            (b'{"args": "tab\there"}', "args: control character 0x09"),
        ]
        for body, want in refused:
            status, doc = post_raw(h, TRIG, body)
            check_error(status, doc, 400, "invalid_json", "refused: %r" % body)
            message = (doc or {}).get("error", {}).get("message", "")
            check(message.startswith("the body is not valid JSON: " + want), "the message names the field: %r" % want, message)
        status, page, _ = h.get("/v1/executions?limit=10")
        check_eq(page["data"], [], "no refused body created an execution")

        # The same rules for the other bodies that take JSON.
        status, doc = post_raw(h, "/v1/executions/01ARZ3NDEKTSV4RRFFQ69G5FAV/schedule", b'{"in": "1s", "in": "2s"}', method="PATCH")
        check_error(status, doc, 400, "invalid_json", "a reschedule body with a duplicate key")
        check("in: duplicate key" in doc["error"]["message"], "the reschedule error names the key", doc)

        # Accepted args are kept byte for byte: spacing, key order, number spelling, escapes.
        args_text = b'{"b" : 1.50,  "a": [2e3, -0, "\\u00e9\xc3\xa9", 9007199254740992, {"z": null}], "big": 1E+2}'
        status, doc = post_raw(h, TRIG + "?wait=10s", b'{"args": ' + args_text + b"}")
        check(status == 200, "a strict body with odd spelling is accepted", doc)
        check_eq(doc.get("state"), "succeeded", "echo ran")
        status, _, raw = h.client.raw("GET", "/v1/executions/%s" % doc["id"])
        check(b'"args":' + args_text + b"," in raw, "the args are served exactly as they were sent", raw[:400])
        check(b'"result":' + args_text + b"," in raw, "echo's result (the args it got) is served as it wrote it", raw[:400])
        status, page, _ = h.get("/v1/executions?limit=10")
        check_eq(len(page["data"]), 1, "the accepted trigger is listed, and the list page is valid JSON")

        # The CLI says the same before sending, and sends args as written.
        p = h.cli("run", "echo", '{"user": {"id": 9007199254740993}}')
        check(p.returncode == 2 and "user.id: integer 9007199254740993 cannot be represented exactly" in p.stderr, "tarry run refuses what the host would, naming the field", p.stderr)
        p = h.cli("run", "echo", '{"b" : 1.50, "big": 18446744073709551616}')
        check_eq(p.returncode, 0, "tarry run sends strict args")
        exec_id = p.stdout.strip()
        h.wait_final(exec_id)
        status, _, raw = h.client.raw("GET", "/v1/executions/%s" % exec_id)
        check(b'"args":{"b" : 1.50, "big": 18446744073709551616},' in raw, "tarry run's args arrive byte for byte", raw[:300])
        check(h.healthy(), "the host is still serving")


if __name__ == "__main__":
    harness.run(main)
