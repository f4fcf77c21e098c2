"""Plugin files a host must not trust (issue 8, items 6, 7 and 8).

A plugin runs inside the host with all its rights, so the host loads only
files that nobody but its own user (or root) could have written:

  1. A FIFO named *.so neither hangs the start nor a reload: it is refused
     as "a FIFO", logged and listed in GET /v1/plugins and `tarry plugins`.
  2. Group- or world-writable files, a file owned by another non-root user
     (chown nobody, when the test runs as root, as CI does), and a symbolic
     link out of the folder are refused the same way; a link to a file
     inside the folder loads; a dotfile (.hidden.so) is ignored: not
     loaded, not listed.
  3. A world-writable plugins folder: every file in it is refused, with one
     log line for the folder.
  4. The version store: bytes planted at data/plugins/<hash>.so of a real
     plugin are replaced by the real plugin's (which is what serves), and a
     planted file for a pinned version whose folder file is gone is never
     loaded: on LMDB its execution is blocked (still pinned to its version);
     on PostgreSQL the database's copy of that version's bytes replaces the
     plant and the execution runs its own code.
"""

import os
import shutil
import stat
import sys
import tempfile

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def by_file(h):
    return {os.path.basename(p.get("file") or ""): p for p in h.plugins() if p.get("file")}


def refused(h, listed, file_name, words):
    """file_name is listed with state error and a reason holding every word; the log names it."""
    p = listed.get(file_name)
    check(p is not None and p.get("state") == "error", "%s is listed with state error" % file_name, p)
    reason = (p.get("error") or "").lower()
    missing = [w for w in words if w.lower() not in reason]
    check(not missing, "%s: the reason says %s" % (file_name, ", ".join(words)), "reason %r lacks %r" % (reason, missing))
    lines = [l for l in h.log_text().splitlines() if file_name in l and "refused" in l]
    check(lines, "the host log has a line refusing %s" % file_name, h.log_tail())
    print("   %s" % lines[-1].strip())


def files_and_links():
    outside = tempfile.mkdtemp(prefix="tarry-it-outside-")
    try:
        with harness.Host(plugins=["testfns"], start=False) as h:
            d = h.plugins_dir
            os.mkfifo(os.path.join(d, "fifo.so"))
            h.install("rl_v1", "world.so")
            os.chmod(os.path.join(d, "world.so"), 0o666)
            h.install("rl_v1", "group.so")
            os.chmod(os.path.join(d, "group.so"), 0o664)
            shutil.copyfile(harness.plugin_path("wflog"), os.path.join(outside, "outside.so"))
            os.symlink(os.path.join(outside, "outside.so"), os.path.join(d, "out_link.so"))
            os.mkdir(os.path.join(d, "lib"))
            shutil.copyfile(harness.plugin_path("wflog"), os.path.join(d, "lib", "wflog.so"))
            os.symlink("lib/wflog.so", os.path.join(d, "in_link.so"))
            h.install("rl_v2", ".hidden.so")
            as_root = os.geteuid() == 0
            if as_root:
                h.install("rl_v1", "other_owner.so")
                os.chown(os.path.join(d, "other_owner.so"), 65534, 65534)
            h.start()  # would hang (no /healthz) if the FIFO were opened for reading

            listed = by_file(h)
            refused(h, listed, "fifo.so", ["fifo", "regular file"])
            refused(h, listed, "world.so", ["writable by everyone", "0666"])
            refused(h, listed, "group.so", ["writable by its group", "0664"])
            refused(h, listed, "out_link.so", ["symbolic link", "outside the plugins folder"])
            if as_root:
                refused(h, listed, "other_owner.so", ["owned by uid 65534", "neither the host's user"])
            else:
                print("skip: not root, so no file can be given to another owner (CI runs as root)")
            check(".hidden.so" not in listed, "a dotfile is not listed", sorted(listed))
            check(not [l for l in h.log_text().splitlines() if ".hidden.so" in l], "a dotfile is not even logged")
            check(listed.get("in_link.so", {}).get("state") == "loaded", "a link to a file inside the folder loads", listed.get("in_link.so"))
            check(listed.get("testfns.so", {}).get("state") == "loaded", "testfns.so loads next to them")

            status, doc, _ = h.get("/v1/functions")
            served = {f["name"] for f in doc["data"]}
            check("rl_version" not in served, "no refused file's function is served (rl_version)", sorted(served))
            check("logged_sleep" in served, "the linked plugin's functions are served")
            status, doc = h.trigger("echo", {"ok": 1}, wait="10s")
            check(status == 200 and doc.get("result") == {"ok": 1}, "the host serves next to the refused files", (status, doc))

            p = h.cli("plugins")
            check(p.returncode == 0, "tarry plugins runs", p.stderr)
            for name in ("fifo.so", "world.so", "group.so", "out_link.so"):
                check(name in p.stdout, "tarry plugins shows %s" % name, p.stdout)
            check("FIFO" in p.stdout and "outside the plugins folder" in p.stdout, "tarry plugins gives the reasons", p.stdout)

            # A reload with a second FIFO answers, and says the same.
            os.mkfifo(os.path.join(d, "fifo2.so"))
            status, doc = h.reload()
            check_eq(status, 200, "a reload with a FIFO in the folder answers")
            states = {os.path.basename(p.get("file") or p.get("name")): p.get("state") for p in doc["data"]}
            check_eq(states.get("fifo2.so"), "error", "the reload reports the new FIFO as an error")
            check_eq(states.get("testfns.so"), "unchanged", "the reload keeps testfns")
    finally:
        shutil.rmtree(outside, ignore_errors=True)


def open_folder():
    with harness.Host(plugins=["testfns"], start=False) as h:
        os.chmod(h.plugins_dir, 0o777)
        h.start()
        listed = by_file(h)
        refused(h, listed, "testfns.so", ["plugins folder", "writable by everyone"])
        lines = [l for l in h.log_text().splitlines() if "plugins folder %s refused" % h.plugins_dir in l]
        check_eq(len(lines), 1, "one log line refuses the folder")
        status, doc, _ = h.get("/v1/functions")
        check_eq(doc["data"], [], "nothing is served from a world-writable folder")
        # Fixed and reloaded: it loads.
        os.chmod(h.plugins_dir, 0o755)
        status, doc = h.reload()
        check(status == 200 and h.current_hash("testfns"), "after chmod go-w and a reload, testfns loads", doc)


def planted_store():
    store = None
    with harness.Host(plugins=["testfns", "wflog"]) as h:
        store = os.path.join(h.data_dir, "plugins")
        real = harness.plugin_hash("testfns")
        wflog = harness.plugin_hash("wflog")
        sleeper = h.trigger_ok("logged_sleep", {"sleep": "1h"})
        h.wait_state(sleeper, "waiting")
        h.stop()

        # Plant another plugin's bytes at testfns's hash; the real file is still in the folder.
        planted = harness.plugin_path("rl_v1")
        shutil.copyfile(planted, os.path.join(store, real + ".so"))
        # And at wflog's hash, whose folder file is gone: a pinned version only the store has.
        h.uninstall("wflog.so")
        shutil.copyfile(planted, os.path.join(store, wflog + ".so"))
        h.start()

        check_eq(h.current_hash("testfns"), real, "testfns serves with its real hash")
        status, doc, _ = h.get("/v1/functions")
        served = {f["name"] for f in doc["data"]}
        check("echo" in served and "rl_version" not in served, "testfns's functions, not the planted plugin's", sorted(served))
        status, doc = h.trigger("echo", {"real": True}, wait="10s")
        check(status == 200 and doc.get("result") == {"real": True}, "echo runs the real code", (status, doc))
        log = h.log_text()
        check("version store: %s/%s.so holds content with hash" % (store, real) in log and "replacing it" in log,
              "the log says the planted store file was replaced", h.log_tail())
        with open(os.path.join(store, real + ".so"), "rb") as f, open(harness.plugin_path("testfns"), "rb") as g:
            check(f.read() == g.read(), "the store holds the real plugin's bytes again")

        names = {p.get("name") for p in h.plugins()}
        check("rl" not in names, "the planted plugin is not loaded as any version", h.plugins())
        status, doc = h.reschedule(sleeper)
        doc = h.wait_state(sleeper, ("blocked", "failed", "succeeded"))
        if h.store == "postgres":
            # The database keeps every version's bytes (plugin_versions): the real ones replace the plant.
            check("plugin version %s fetched into the version store" % wflog in log and "planted" in log,
                  "the planted file for the pinned version is replaced from the database, logged", h.log_tail())
            with open(os.path.join(store, wflog + ".so"), "rb") as f:
                check(f.read() == open(harness.plugin_path("wflog"), "rb").read(),
                      "the store holds wflog's real bytes again")
            check_eq((doc["state"], doc["plugin"]["hash"]), ("succeeded", wflog),
                     "the execution pinned to it runs its own version's code")
        else:
            check("plugin version %s refused from the version store" % wflog in log and "planted" in log,
                  "the planted file for the pinned version is refused, logged", h.log_tail())
            # The pinned execution never runs the planted code: when its sleep ends it cannot run at all.
            check_eq(doc["state"], "blocked", "the execution pinned to the planted version is blocked, not run")
            check_eq(doc["plugin"]["hash"], wflog, "and stays pinned to its version")
            print("   blocked: %s" % doc.get("error"))


def main():
    files_and_links()
    open_folder()
    planted_store()


harness.run(main)
