"""Building plugins safely (issue 11).

- sdk/tarry.h compiles warning-free with -Wall -Wextra -pedantic -Werror as
  C11 (gcc and clang when present) and as C++17 (g++), with every macro used.
- The README's plugin (the ```c block of "## Write a plugin") builds with the
  README's one-line build (-Wall -Wextra -Werror added, -Wl,-z,defs), needs
  no JSON library, and runs in the host: the step, the child and the 2-day
  sleep are in its journal.
- A plugin that uses a library it does not link fails at link time with
  -Wl,-z,defs (and links without it: the failure would come at load time).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq

SDK = os.path.join(harness.SRC, "sdk")
CC = os.environ.get("TARRY_CC") or "cc"

USES_EVERYTHING = r"""
#include <tarry.h>
static tarry_status f(tarry_ctx *ctx, const char *args)
{
    int64_t n = 0;
    double d = 0;
    int b = 0;
    tarry_handle h;
    tarry_result r;
    tarry_call_opts opts = {0};
    (void)tarry_json_int(ctx, args, "a", &n);
    (void)tarry_json_num(ctx, args, "a", &d);
    (void)tarry_json_bool(ctx, args, "a", &b);
    (void)tarry_json_has(ctx, args, "a");
    (void)tarry_json_raw(ctx, args, "a");
    (void)tarry_json_str(ctx, args, "a");
    tarry_log(ctx, TARRY_LOG_INFO, "%s %s", tarry_last_error(ctx), tarry_execution_id(ctx));
    TARRY_TRY(tarry_call(ctx, "f", tarry_json(ctx, "{\"n\":%lld}", (long long)n), &opts, &h));
    TARRY_TRY(tarry_await(ctx, &h, &r));
    TARRY_TRY(tarry_sleep(ctx, "1s"));
    if (tarry_patched(ctx, "x") && tarry_is_cancelled(ctx) == 0 && tarry_now_ms(ctx) > 0 && tarry_attempt(ctx))
        return (tarry_status)tarry_fail_permanent(ctx, "%s", tarry_strerror(TARRY_EINVAL));
    return (tarry_status)tarry_set_result(ctx, r.value_json);
}
TARRY_PLUGIN("all", "1", TARRY_FUNCTION("f", f));
"""


def compiles(compiler, std, source, suffix, tmp):
    path = os.path.join(tmp, "uses" + suffix)
    with open(path, "w") as f:
        f.write(source)
    r = subprocess.run([compiler, "-std=" + std, "-Wall", "-Wextra", "-pedantic", "-Werror", "-I", SDK,
                        "-shared", "-fPIC", "-Wl,-z,defs", "-o", os.path.join(tmp, "uses.so"), path],
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def main():
    tmp = tempfile.mkdtemp(prefix="tarry-sdk-build-")
    try:
        for compiler, std, suffix in ((CC, "c11", ".c"), ("clang", "c11", ".c"), ("g++", "c++17", ".cpp"),
                                      ("clang++", "c++17", ".cpp")):
            if not shutil.which(compiler):
                print("skip: %s is not installed" % compiler)
                continue
            source = USES_EVERYTHING
            if suffix == ".cpp":
                source = source.replace("tarry_call_opts opts = {0};", "tarry_call_opts opts{};")
            rc, out = compiles(compiler, std, source, suffix, tmp)
            check_eq((rc, out), (0, ""), "tarry.h is warning-free under %s -std=%s -Wall -Wextra -pedantic" % (compiler, std))

        # -z defs: a library the plugin forgot fails the build, not the host's dlopen.
        forgot = os.path.join(tmp, "forgot.c")
        with open(forgot, "w") as f:
            f.write('#include <tarry.h>\nextern void *cJSON_Parse(const char *);\n'
                    'static tarry_status f(tarry_ctx *ctx, const char *a) { (void)ctx; return cJSON_Parse(a) ? TARRY_OK : TARRY_FAILED; }\n'
                    'TARRY_PLUGIN("forgot", "1", TARRY_FUNCTION("f", f));\n')
        base = [CC, "-Wall", "-Wextra", "-I", SDK, "-shared", "-fPIC", "-o", os.path.join(tmp, "forgot.so"), forgot]
        r = subprocess.run(base + ["-Wl,-z,defs"], capture_output=True, text=True)
        check(r.returncode != 0 and "cJSON_Parse" in r.stderr, "-z defs fails the link, naming the symbol", r.stderr)
        r = subprocess.run(base, capture_output=True, text=True)
        check_eq(r.returncode, 0, "without -z defs the same plugin links (and would fail only when loaded)")

        # The README's plugin, built with the README's one line.
        with open(os.path.join(harness.SRC, "README.md")) as f:
            readme = f.read()
        section = readme[readme.index("## Write a plugin"):]
        block = re.search(r"```c\n(.*?)```", section, re.S).group(1)
        lines = [l for l in block.splitlines() if l.strip()]
        check(len(lines) <= 45 and "cJSON" not in block, "the README's workflow is short and has no cJSON", len(lines))
        line = re.search(r"```sh\n(cc [^\n]*invoices\.c)\n```", section).group(1)
        plugins = os.path.join(tmp, "plugins")
        os.makedirs(plugins)
        with open(os.path.join(tmp, "invoices.c"), "w") as f:
            f.write(block)
        argv = line.replace("path/to/tarry/sdk", SDK).split()
        argv[0] = CC
        argv.insert(1, "-Werror")
        r = subprocess.run(argv, cwd=tmp, capture_output=True, text=True)
        check_eq((r.returncode, r.stderr), (0, ""), "the README's one-line build builds it warning-free: %s" % " ".join(argv))
        so = os.path.join(plugins, "invoices.so")
        undefined = subprocess.run(["nm", "-D", "--undefined-only", so], capture_output=True, text=True).stdout
        check("cJSON" not in undefined, "it needs no JSON library", undefined)

        with harness.Host(workers=2, start=False) as h:
            shutil.copyfile(so, os.path.join(h.plugins_dir, "invoices.so"))
            h.start()
            eid = h.trigger_ok("invoice", {"customer": {"email": "pay@example.com"}, "amount_cents": 1250})
            # Waiting twice: on its child, then on the 2-day sleep (wake_at set): wait for the sleep.
            doc = h.wait_for(eid, lambda d: d.get("state") == "waiting" and d.get("wake_at"),
                             "the invoice sleeps 2 days", timeout=20)
            status, doc, _ = h.get("/v1/executions/%s?journal=true" % eid)
            kinds = [(e.get("kind"), e.get("name")) for e in doc.get("journal", [])]
            check_eq(kinds[:3], [("step", "charge"), ("call", "send_email"), ("sleep", "2 days")],
                     "the journal: the step, the child, the 2-day sleep")
            check_eq(doc["journal"][0].get("result"), {"charged": 1250}, "the step's result")
            status, doc = h.trigger("invoice", {"amount_cents": 1}, wait="10s")
            check_eq(doc.get("error"), "args: customer.email: missing", "a missing field fails with its reason")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


harness.run(main)
