"""A cancel or upgrade sent to one host of an execution another host holds: the holder answers.

Two hosts on one PostgreSQL store, one worker each. Host A runs a slow execution and holds three
more queued behind it in its memory; every request below goes to host B:
  - an upgrade of a queued one (to its current version) is answered by A (Tarry-Answered-By), 200;
  - a cancel of a queued one: 200 cancelled, answered by A, and it stays cancelled;
  - a cancel of the running one: 202 (cancel requested) from A, and it ends cancelled;
  - a request that another host already sent on (Tarry-Forwarded-By) goes no further: 409 conflict;
  - with A's recorded address made unreachable, a cancel is 503 holder_unreachable and changes
    nothing (the execution is not cancelled and later succeeds);
  - with it pointing at a listener that reads the request and hangs up, 503 commit_unknown (the
    request left: whether it was acted on is unknown);
  - with it pointing at a listener that never answers, a client that gives up and goes leaves B
    serving (the call is dropped with the client);
  - the holder's answer comes back as it gave it: a 503 with its Retry-After;
  - the executions not cancelled succeed, each in one attempt, all on A;
  - a reschedule (PATCH) of a sleeping workflow that A holds at that instant (its claim of the
    timer, made here with psql) is answered by A, 200, and the sleep moves.
"""

import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def expect(got, want, what, doc):
    check(got == want, what, {"got": got, "want": want, "answer": doc})


def via(h, path, body=None, headers=None):
    status, doc, hdrs = h.client.call("POST", path, body if body is not None else {}, headers=headers)
    return status, doc, hdrs


def fake_holder(answer):
    """A listener on a free port that reads one request, then hangs up (answer False), holds the
    connection open for 30 s (answer None) or sends `answer` (bytes). Returns its address."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve():
        conn, _ = srv.accept()
        conn.recv(65536)
        if answer is None:
            time.sleep(30)
        elif answer:
            conn.sendall(answer)
        conn.close()
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return "127.0.0.1:%d" % srv.getsockname()[1]


def main():
    name, url = harness.new_pg_store()
    pg = harness.pg_cluster()
    with harness.Host(plugins=["testfns", "cancel"], workers=1, store_url=url) as a, \
            harness.Host(plugins=["testfns", "cancel"], workers=1, store_url=url) as b:
        ida = a.host_id()
        running = a.trigger_ok("slow", {"ms": 6000})
        a.wait_for(running, lambda d: d["state"] == "running", "the slow execution runs on A")
        upgraded, cancelled, guarded, unreached = [a.trigger_ok("slow", {"ms": 10}) for _ in range(4)]

        status, doc, hdrs = via(b, "/v1/executions/%s/upgrade" % upgraded)
        expect((status, hdrs.get("tarry-answered-by")), (200, ida),
                 "an upgrade sent to B of an execution queued on A is answered by A", doc)

        status, doc, hdrs = via(b, "/v1/executions/%s/cancel" % cancelled)
        expect((status, doc.get("state"), hdrs.get("tarry-answered-by")), (200, "cancelled", ida),
                 "a cancel sent to B of an execution queued on A: cancelled by A", doc)

        status, doc, hdrs = via(b, "/v1/executions/%s/cancel" % guarded, headers={"Tarry-Forwarded-By": "0" * 16})
        expect((status, (doc or {}).get("error", {}).get("code")), (409, "conflict"),
                 "a request another host sent on already goes no further", doc)

        address = pg.psql(name, "SELECT address FROM hosts WHERE id = '%s'" % ida)[0][0]
        pg.psql(name, "UPDATE hosts SET address = '127.0.0.1:1' WHERE id = '%s'" % ida)
        status, doc, hdrs = via(b, "/v1/executions/%s/cancel" % unreached)
        expect((status, (doc or {}).get("error", {}).get("code")), (503, "holder_unreachable"),
                 "a holder that cannot be reached: 503, nothing accepted", doc)

        pg.psql(name, "UPDATE hosts SET address = '%s' WHERE id = '%s'" % (fake_holder(False), ida))
        status, doc, hdrs = via(b, "/v1/executions/%s/cancel" % unreached)
        expect((status, (doc or {}).get("error", {}).get("code")), (503, "commit_unknown"),
               "a holder that hangs up after reading the request: 503 commit_unknown", doc)

        body = b'{"error": {"code": "store_full", "message": "full"}}'
        answer = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 60\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        pg.psql(name, "UPDATE hosts SET address = '%s' WHERE id = '%s'" % (fake_holder(answer), ida))
        status, doc, hdrs = via(b, "/v1/executions/%s/cancel" % unreached)
        expect((status, (doc or {}).get("error", {}).get("code"), hdrs.get("retry-after")), (503, "store_full", "60"),
               "the holder's 503 comes back with its Retry-After", doc)

        pg.psql(name, "UPDATE hosts SET address = '%s' WHERE id = '%s'" % (fake_holder(None), ida))
        conn = socket.create_connection(("127.0.0.1", b.port))
        body = b"{}"
        conn.sendall(b"POST /v1/executions/%s/cancel HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                     b"\r\nContent-Length: %d\r\n\r\n%s" % (unreached.encode(), len(body), body))
        time.sleep(0.5)
        conn.close()
        status, doc, _ = b.client.get("/healthz")
        check_eq(status, 200, "B serves after a client left while its request waited on a silent holder")
        pg.psql(name, "UPDATE hosts SET address = '%s' WHERE id = '%s'" % (address, ida))

        status, doc, hdrs = via(b, "/v1/executions/%s/cancel" % running)
        expect((status, doc.get("cancel_requested"), hdrs.get("tarry-answered-by")), (202, True, ida),
                 "a cancel sent to B of an execution running on A: requested by A", doc)

        want = {running: "cancelled", upgraded: "succeeded", cancelled: "cancelled", guarded: "succeeded",
                unreached: "succeeded"}
        for x, state in want.items():
            check_eq(b.wait_final(x, timeout=60).get("state"), state, "execution %s ends %s" % (x, state))
        rows = pg.psql(name, "SELECT exec_id, count(*), min(host_id), max(host_id) FROM attempts GROUP BY exec_id")
        ran = {r[0]: (int(r[1]), r[2], r[3]) for r in rows}
        for x in (running, upgraded, guarded, unreached):
            check_eq(ran.get(x), (1, ida, ida), "execution %s ran once, on A" % x)

        sleeper = a.trigger_ok("cancel_sleeper", {"duration": "1h"})
        a.wait_for(sleeper, lambda d: d["state"] == "waiting", "the sleeper sleeps")
        pg.psql(name, "UPDATE executions SET lease_owner = '%s' WHERE id = '%s'" % (ida, sleeper))
        status, doc, hdrs = b.client.call("PATCH", "/v1/executions/%s/schedule" % sleeper, {"in": "2h"})
        expect((status, hdrs.get("tarry-answered-by")), (200, ida),
               "a reschedule sent to B of a sleep A holds is answered by A", doc)
        wake = b.execution(sleeper).get("wake_at") or ""
        check(wake > harness.rfc3339(time.time() + 3600), "the sleep moved to 2 h from now", wake)


harness.run(main)
