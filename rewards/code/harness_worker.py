"""The untrusted side of a HumanEval-style check: the solution's process (see harness_tests.py).

Waits for the go (the entry point's name) on stdin, loads ``solution.py`` and finds the entry
point (a function, or a method of ``class Solution``), then answers calls:
one JSON line in (arguments), one JSON line out on the reply pipe (the result as tagged plain
data, or the exception's type name). Its stdout is the harness's stderr, so the solution's prints
never mix with the harness's verdict.
"""

import json
import os
import sys

sys.path.insert(0, os.getcwd())
from harness_wire import decode, encode  # noqa: E402


def entry_point(namespace, name):
    """The solution's function ``name``, or else the method ``name`` of its ``class Solution``
    (LeetCode style, as LiveCodeBench and APPS call it)."""
    if name in namespace:
        return namespace[name]
    if isinstance(namespace.get("Solution"), type) and hasattr(namespace["Solution"], name):
        return getattr(namespace["Solution"](), name)
    raise NameError("the solution defines no function %s and no class Solution with a method %s" % (name, name))


def main():
    replies = os.fdopen(int(sys.argv[1]), "w")

    def reply(message):
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    go = json.loads(sys.stdin.readline())
    namespace = {"__name__": "__solution__"}
    try:
        with open("solution.py") as f:
            exec(compile(f.read(), "solution.py", "exec"), namespace)
        function = entry_point(namespace, go["entry_point"])
    except BaseException as e:  # noqa: BLE001 - whatever the solution raises is its failure
        reply({"error": type(e).__name__, "message": str(e)[:500]})
        return
    reply({"ready": True})
    for line in sys.stdin:
        call = json.loads(line)
        try:
            result = {"result": encode(function(*decode(call["args"]), **decode(call["kwargs"])))}
        except BaseException as e:  # noqa: BLE001
            result = {"error": type(e).__name__, "message": str(e)[:500]}
        reply(result)


if __name__ == "__main__":
    main()
