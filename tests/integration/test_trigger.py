"""Trigger -> result, end to end through the real host, the examples and onboarding plugins, HTTP and the CLI.

Covers: the 202 {id,state} answer, /result long-poll, every field of the
execution record, failures, stored logs, wait-mode triggers, cursor paging
(newest first, every execution exactly once) and the function/state filters,
and the CLI commands run/show/result/ls/logs/functions.
"""

import json
import re
import sys
import urllib.parse

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq, parse_time, time_ms

ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
EXEC_FIELDS = (
    "id", "function", "state", "args", "result", "error", "metadata", "attempts",
    "created_at", "scheduled_at", "started_at", "finished_at", "parent_id", "children", "plugin",
)
EXAMPLES = ("always_fails", "add", "noop", "sleep_ms")
ONBOARDING = ("user_onboarding", "send_welcome_email", "import_contacts_from_hubspot", "send_tutorials_email_if_no_actions")


def check_functions(h):
    status, doc, _ = h.get("/v1/functions")
    check_eq(status, 200, "GET /v1/functions status")
    by_name = {f["name"]: f for f in doc["data"]}
    for name in EXAMPLES:
        check(name in by_name, "GET /v1/functions lists %s" % name, doc)
        plugin = by_name[name].get("plugin") or {}
        check(
            plugin.get("name") == "examples" and plugin.get("version") == "1.0.0"
            and str(plugin.get("file", "")).endswith("examples.so"),
            "%s is from plugin examples 1.0.0, file examples.so" % name, by_name[name],
        )
    for name in ONBOARDING:
        plugin = (by_name.get(name) or {}).get("plugin") or {}
        check(
            plugin.get("name") == "onboarding" and str(plugin.get("file", "")).endswith("onboarding.so"),
            "%s is from plugin onboarding, file onboarding.so" % name, by_name.get(name),
        )


def check_record(doc, function, args, metadata, plugin=("examples", "1.0.0")):
    missing = [f for f in EXEC_FIELDS if f not in doc]
    check(not missing, "execution record has every field", "missing %r in %r" % (missing, doc))
    check(ID_RE.match(doc["id"]) is not None, "id is a 26-character ULID", doc["id"])
    check_eq(doc["function"], function, "record.function")
    check_eq(doc["args"], args, "record.args round-trips")
    check_eq(doc["metadata"], metadata, "record.metadata round-trips")
    check_eq({k: doc["plugin"][k] for k in ("name", "version")}, {"name": plugin[0], "version": plugin[1]}, "record.plugin")
    check(re.fullmatch(r"[0-9a-f]{16}", doc["plugin"].get("hash") or ""), "record.plugin.hash pins a version", doc["plugin"])
    check_eq(doc["parent_id"], None, "record.parent_id")
    check_eq(doc["children"], [], "record.children")
    for f in ("created_at", "scheduled_at", "started_at", "finished_at"):
        try:
            parse_time(doc[f])
            good = doc[f].endswith("Z")
        except ValueError:
            good = False
        check(good, "record.%s is an RFC 3339 UTC time" % f, doc[f])
    created, scheduled = time_ms(doc["created_at"]), time_ms(doc["scheduled_at"])
    started, finished = time_ms(doc["started_at"]), time_ms(doc["finished_at"])
    check(created <= scheduled <= started <= finished, "created <= scheduled <= started <= finished", doc)
    check(scheduled - created < 50, "an immediate execution is scheduled at its creation", doc)


def main():
    with harness.Host(plugins=["examples", "onboarding"], workers=2) as h:
        check_functions(h)

        # ---- trigger, then long-poll the result ------------------------
        status, doc = h.trigger("add", {"a": 1, "b": 2}, metadata={"tenant": "acme", "source": "test"})
        check_eq(status, 202, "POST add -> 202")
        check(set(doc) >= {"id", "state"} and doc["state"] in ("queued", "running"), "202 body is {id, state queued|running}", doc)
        add_id = doc["id"]
        status, res, _ = h.get("/v1/executions/%s/result?wait=10s" % add_id)
        check_eq(status, 200, "GET result?wait=10s -> 200 once final")
        check_eq(res, {"id": add_id, "state": "succeeded", "result": {"sum": 3}, "error": None}, "result body")

        rec = h.execution(add_id)
        check_record(rec, "add", {"a": 1, "b": 2}, {"tenant": "acme", "source": "test"})
        check_eq(rec["state"], "succeeded", "record.state")
        check_eq(rec["result"], {"sum": 3}, "record.result")
        check_eq(rec["error"], None, "record.error of a success")
        check_eq(rec["attempts"], 1, "record.attempts")

        # ---- failures ---------------------------------------------------
        fail_id = h.trigger_ok("always_fails", {"x": 1})
        rec = h.wait_final(fail_id)
        check_eq(rec["state"], "failed", "always_fails ends failed")
        check(isinstance(rec["error"], str) and "on purpose" in rec["error"], "failed record carries the function's error", rec)
        check_eq(rec["result"], None, "failed record has no result")
        check(rec["attempts"] >= 1, "failed record counts its attempts", rec)
        check_record(rec, "always_fails", {"x": 1}, {})

        bad_add = h.trigger_ok("add", {"a": 1, "b": "two"})
        rec = h.wait_final(bad_add)
        check(rec["state"] == "failed" and "args.b" in (rec["error"] or ""), "add with a non-number fails naming args.b", rec)

        # ---- logs -------------------------------------------------------
        mail_id = h.trigger_ok("send_welcome_email", {"user_id": 7, "email": "ann@example.com", "name": "Ann"})
        rec = h.wait_final(mail_id)
        check_eq(rec["result"], {"sent": True, "to": "ann@example.com"}, "send_welcome_email result")
        status, logs, _ = h.get("/v1/executions/%s/logs" % mail_id)
        check_eq(status, 200, "GET logs -> 200")
        lines = logs["data"]
        check(
            any(l["level"] == "info" and "ann@example.com" in l["message"] for l in lines),
            "the function's tarry_log line is stored (level info)", lines,
        )
        bad = []
        for l in lines:
            try:
                parse_time(l.get("time"))
            except ValueError:
                bad.append(l)
        check(lines and not bad, "log lines carry RFC 3339 times", bad)

        # ---- wait-mode trigger -----------------------------------------
        status, doc = h.trigger("add", {"a": 20, "b": 22}, wait="5s")
        check_eq(status, 200, "POST add?wait=5s -> 200")
        check(doc.get("state") == "succeeded" and doc.get("result") == {"sum": 42}, "wait-mode answer is the finished execution", doc)
        check_record(doc, "add", {"a": 20, "b": 22}, {})
        status, doc = h.trigger("always_fails", None, wait="5s")
        check(status == 200 and doc.get("state") == "failed" and doc.get("error"), "wait-mode on a failing function -> 200 state failed", (status, doc))
        check_eq(doc.get("args"), None, "args default to null")
        status, doc = h.trigger("sleep_ms", {"ms": 3000}, wait="200ms")
        check(status == 202 and doc.get("state") in ("queued", "running"), "wait-mode that times out -> 202 {id,state}", (status, doc))
        slow_id = doc["id"]
        status, res, _ = h.get("/v1/executions/%s/result?wait=100ms" % slow_id)
        check(status == 202 and res.get("result") is None and res.get("state") in ("queued", "running"), "result?wait=100ms of a running execution -> 202", (status, res))
        check_eq(h.wait_final(slow_id)["result"], {"slept_ms": 3000}, "sleep_ms result")

        # ---- paging: 7 noops, limit 3 ----------------------------------
        noop_ids = [h.trigger_ok("noop", {"n": i}) for i in range(7)]
        for i in noop_ids:
            h.wait_final(i)
        seen, pages, cursor = [], [], None
        while True:
            q = "/v1/executions?function=noop&limit=3" + ("&cursor=" + urllib.parse.quote(cursor, safe="") if cursor else "")
            status, doc, _ = h.get(q)
            check_eq(status, 200, "GET %s" % q)
            pages.append(len(doc["data"]))
            seen.extend(e["id"] for e in doc["data"])
            cursor = doc.get("next_cursor")
            if not cursor or len(pages) > 10:
                break
        check_eq(sorted(seen), sorted(noop_ids), "paging sees every noop")
        check_eq(len(seen), len(set(seen)), "paging sees each exactly once")
        check_eq(seen, list(reversed(noop_ids)), "paging is newest first")
        check(pages[:2] == [3, 3] and sum(pages) == 7, "pages hold 3, 3, then the rest", pages)
        items, _ = h.list_all()
        times = [time_ms(e["created_at"]) for e in items]
        check(times == sorted(times, reverse=True), "the unfiltered list is newest first", times)

        # ---- filters ----------------------------------------------------
        failed, _ = h.list_all("state=failed")
        check(failed and all(e["state"] == "failed" for e in failed), "state=failed lists only failed executions", failed)
        check({fail_id, bad_add} <= {e["id"] for e in failed}, "state=failed includes the failures")
        both, _ = h.list_all("function=add&state=succeeded")
        ids = {e["id"] for e in both}
        check(add_id in ids and bad_add not in ids and all(e["function"] == "add" for e in both), "function=add&state=succeeded", both)
        only_fail, _ = h.list_all("function=always_fails")
        check(all(e["function"] == "always_fails" for e in only_fail) and fail_id in {e["id"] for e in only_fail}, "function=always_fails", only_fail)

        # ---- CLI ----------------------------------------------------------
        p = h.cli("functions")
        check(p.returncode == 0 and all(n in p.stdout for n in EXAMPLES), "tarry functions lists the examples", p.stdout + p.stderr)
        p = h.cli("run", "add", '{"a":2,"b":5}', "--wait")
        check(p.returncode == 0 and p.stdout.strip() == '{"sum":7}', "tarry run add --wait prints the result as compact JSON, exit 0", (p.returncode, p.stdout, p.stderr))
        p = h.cli("run", "add", '{"a":3,"b":4}', "--wait", "--json")
        try:
            ran = json.loads(p.stdout)
        except ValueError:
            ran = {}
        check(p.returncode == 0 and ran.get("state") == "succeeded" and ran.get("result") == {"sum": 7}, "tarry run --wait --json prints the execution", (p.returncode, p.stdout, p.stderr))
        run_id = ran["id"]
        check_eq(h.execution(run_id)["result"], {"sum": 7}, "the CLI's execution is stored")
        p = h.cli("run", "always_fails", "--wait")
        check(p.returncode == 1 and "on purpose" in p.stdout + p.stderr, "tarry run always_fails --wait exits 1 with the error", (p.returncode, p.stdout, p.stderr))
        p = h.cli("run", "send_welcome_email", '{"user_id":8,"email":"bob@example.com"}', "--metadata", '{"k":"v"}')
        check(p.returncode == 0 and ID_RE.match(p.stdout.strip()), "tarry run without --wait prints only the id", (p.returncode, p.stdout, p.stderr))
        bob = p.stdout.strip()
        check_eq(h.wait_final(bob)["metadata"], {"k": "v"}, "tarry run --metadata is stored")
        p = h.cli("show", add_id)
        check(p.returncode == 0 and add_id in p.stdout and "succeeded" in p.stdout and "add" in p.stdout, "tarry show ID", p.stdout + p.stderr)
        p = h.cli("show", add_id, "--json")
        try:
            shown = json.loads(p.stdout)
        except ValueError:
            shown = None
        check(p.returncode == 0 and shown and shown.get("id") == add_id and shown.get("result") == {"sum": 3}, "tarry show ID --json prints the API's JSON", p.stdout + p.stderr)
        p = h.cli("result", add_id)
        check(p.returncode == 0 and re.search(r'"sum"\s*:\s*3\b', p.stdout), "tarry result ID", p.stdout + p.stderr)
        p = h.cli("ls", "--function", "add", "--state", "succeeded")
        check(p.returncode == 0 and add_id in p.stdout and run_id in p.stdout and bad_add not in p.stdout and fail_id not in p.stdout, "tarry ls --function add --state succeeded", p.stdout + p.stderr)
        p = h.cli("ls", "--state", "failed", "--json")
        try:
            listed = {e["id"] for e in json.loads(p.stdout)["data"]}
        except (ValueError, KeyError, TypeError):
            listed = set()
        check(p.returncode == 0 and {fail_id, bad_add} <= listed and add_id not in listed, "tarry ls --state failed --json", p.stdout + p.stderr)
        p = h.cli("logs", bob)
        check(p.returncode == 0 and "bob@example.com" in p.stdout, "tarry logs ID", p.stdout + p.stderr)
        p = h.cli("show", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
        check(p.returncode == 1, "tarry show of an unknown id exits 1", (p.returncode, p.stdout, p.stderr))
        p = h.cli("run", "no_such_function")
        check(p.returncode == 1 and "no_such_function" in p.stdout + p.stderr, "tarry run of an unknown function exits 1 naming it", (p.returncode, p.stdout, p.stderr))
        p = h.cli("run", "add", "{not json")
        check(p.returncode == 2, "tarry run with invalid ARGS_JSON is a usage error (exit 2)", (p.returncode, p.stderr))
        p = h.cli("run", "sleep_ms", '{"ms":3000}', "--wait=200ms")
        check(p.returncode == 3, "tarry run --wait=200ms that runs out exits 3", (p.returncode, p.stdout, p.stderr))
        p = h.cli("frobnicate")
        check(p.returncode == 2, "an unknown subcommand is a usage error (exit 2)", (p.returncode, p.stderr))
        h.kill9()
        p = h.cli("ls")
        check(p.returncode == 2, "the CLI exits 2 when the host is unreachable", (p.returncode, p.stderr))


harness.run(main)
