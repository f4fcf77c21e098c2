"""A plugin written in C++17 runs in the host (issue 11).

tests/plugins/cpp_plugin.cpp is built with g++ -std=c++17 -Wall -Wextra
-pedantic -Werror against tarry.h as it is. Here: it exports an unmangled
`tarry_plugin` descriptor and needs nothing from the host, the host loads
it, a plain function (std::string, the JSON helpers) and a workflow (a
child, a step whose body is a lambda) succeed, and the options given as a
tarry_function_def value reach the host.
"""

import subprocess
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
import harness
from harness import check, check_eq


def main():
    so = harness.plugin_path("cpp_plugin")
    defined = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True, check=True).stdout
    check(any(line.split()[-1] == "tarry_plugin" for line in defined.splitlines()),
          "the descriptor is exported unmangled as tarry_plugin", defined)
    undefined = subprocess.run(["nm", "-D", "--undefined-only", so], capture_output=True, text=True, check=True).stdout
    check("tarry" not in undefined and "cJSON" not in undefined, "it needs no host or JSON symbol", undefined)

    with harness.Host(plugins=["cpp_plugin"], workers=2) as h:
        status, doc = h.trigger("cpp_greet", {"name": "Zoë \"Z\""}, wait="10s")
        check_eq(doc.get("result"), {"greeting": "hello Zoë \"Z\"", "chars": len("hello Zoë \"Z\"".encode())},
                 "a C++ function's result, built with tarry_json")

        status, doc = h.trigger("cpp_flow", {"name": "ann"}, wait="10s")
        check_eq(doc.get("result"), {"child": {"greeting": "hello ann", "chars": 9}, "step": {"upper": "HELLO ANN"}},
                 "a C++ workflow: child, await, a lambda step")

        status, doc = h.trigger("cpp_greet", {}, wait="10s")
        check_eq(doc.get("error"), "args: name: missing", "a missing field's reason, in C++ too")

        status, fns, _ = h.get("/v1/functions")
        by_name = {f["name"]: f for f in fns.get("data", [])}
        check_eq(set(by_name) >= {"cpp_greet", "cpp_flow", "cpp_limited"}, True, "all three functions are served")
        check_eq(by_name["cpp_limited"]["options"].get("concurrency"), 1, "options from a tarry_function_def value")
        check_eq(by_name["cpp_greet"]["options"].get("concurrency"), None, "TARRY_FUNCTION's entry has the defaults")


harness.run(main)
