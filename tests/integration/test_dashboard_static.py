"""The dashboard's files as the host serves them (host/api_static.c, docs/API.md "Dashboard"):

- GET / is the page and /ui/<file> its files, embedded in the binary: the page names the
  script and stylesheet it loads, and each answer is the bytes of web/<file>, with its
  Content-Type, the CSP allowing only this origin, nosniff, no-referrer, no-cache and an ETag;
  If-None-Match with that ETag is 304 without a body; HEAD has the headers and no body.
- With a token, the files load without it (they hold no data) while /v1 still answers 401.
- Unknown files (also ../, %2F, a folder) are 404; POST on / is 405 naming GET, HEAD.
- JSON answers carry nosniff and a CSP that runs and frames nothing.
- The page's own state-changing calls pass the Origin rule: a POST whose Origin is the
  host's name, also a name added with TARRY_ALLOW_HOST, is accepted, another site's refused.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

TOKEN = "static-test-token-0123456789"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
WEB = os.path.join(harness.SRC, "web")
AUTH = {"Authorization": "Bearer " + TOKEN}


def main():
    env = {"TARRY_TOKEN": TOKEN, "TARRY_ALLOW_HOST": "dash.internal"}
    with harness.Host(plugins=["examples"], extra_env=env) as h:
        c = h.client
        status, rh, body = c.raw("GET", "/")
        check_eq(status, 200, "GET / answers without a token")
        with open(os.path.join(WEB, "index.html"), "rb") as f:
            check_eq(body, f.read(), "GET / is web/index.html, byte for byte")
        check(b'src="/ui/app.js"' in body and b'href="/ui/app.css"' in body, "the page loads /ui/app.js and /ui/app.css")
        check_eq(rh.get("content-type"), "text/html; charset=utf-8", "the page's Content-Type")
        check_eq(rh.get("content-security-policy"), CSP, "the page's Content-Security-Policy")
        check_eq(rh.get("x-content-type-options"), "nosniff", "nosniff")
        check_eq(rh.get("referrer-policy"), "no-referrer", "no referrer")
        check_eq(rh.get("cache-control"), "no-cache", "the page is revalidated on every load")

        for name, ctype in (("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8"),
                            ("favicon.svg", "image/svg+xml")):
            status, rh, body = c.raw("GET", "/ui/" + name)
            check_eq(status, 200, "GET /ui/%s" % name)
            with open(os.path.join(WEB, name), "rb") as f:
                check_eq(body, f.read(), "/ui/%s is web/%s" % (name, name))
            check_eq(rh.get("content-type"), ctype, "its Content-Type")
            check_eq(rh.get("content-security-policy"), CSP, "its CSP")
            etag = rh.get("etag", "")
            check(len(etag) == 18 and etag.startswith('"') and etag.endswith('"'), "it has a quoted ETag (%s)" % etag)
            status, rh2, body2 = c.raw("GET", "/ui/" + name, headers={"If-None-Match": etag})
            check_eq((status, body2), (304, b""), "If-None-Match with its ETag: 304 without a body")
            status, _, body2 = c.raw("GET", "/ui/" + name, headers={"If-None-Match": '"0000000000000000"'})
            check_eq(status, 200, "another ETag: the file again")
        status, rh, body = c.raw("HEAD", "/ui/app.js")
        check_eq((status, body), (200, b""), "HEAD /ui/app.js: 200 without a body")
        check_eq(rh.get("content-type"), "text/javascript; charset=utf-8", "with the headers")

        for path in ("/ui/nope.js", "/ui/", "/ui/../web/app.js", "/ui/%2e%2e%2fapp.js", "/ui/x/app.js", "/index.html"):
            status, rh, _ = c.raw("GET", path)
            check_eq(status, 404 if path != "/index.html" else 401, "GET %s matches no file" % path)
        status, doc, rh = c.call("POST", "/", {})
        check_eq(status, 405, "POST / is not allowed")
        check_eq(rh.get("allow"), "GET, HEAD", "Allow names GET, HEAD")

        status, doc, rh = c.call("GET", "/v1/executions")
        check_eq(status, 401, "the API still wants the token")
        check_eq(rh.get("x-content-type-options"), "nosniff", "a JSON answer says nosniff")
        check_eq(rh.get("content-security-policy"), "default-src 'none'; frame-ancestors 'none'",
                 "a JSON answer's CSP runs and frames nothing")

        # The page's POSTs: same origin on loopback and on an --allow-host name; not another site's.
        trigger = "/v1/functions/noop/executions"
        for host in ("127.0.0.1:%d" % h.port, "dash.internal:%d" % h.port):
            hdrs = dict(AUTH, Host=host, Origin="http://" + host)
            status, doc, _ = c.call("POST", trigger, {"args": None}, headers=hdrs)
            check_eq(status, 202, "a trigger from the dashboard at http://%s is accepted" % host)
        hdrs = dict(AUTH, Host="dash.internal:%d" % h.port, Origin="http://evil.example")
        status, doc, _ = c.call("POST", trigger, {"args": None}, headers=hdrs)
        check_eq(status, 403, "a trigger from another site's page is refused")


if __name__ == "__main__":
    main()
