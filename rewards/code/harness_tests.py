"""The trusted side of a HumanEval-style check, run as the program inside the sandbox.

It never runs the solution in its own process. In order:
  1. makes itself non-dumpable (a same-uid process cannot read its memory, fds or environment);
  2. starts the worker (``harness_worker.py``), which waits for a go;
  3. reads ``secret.json`` (the test code, the trusted setup code, the entry point and a nonce)
     and deletes it, then tells the worker to go: only now does the solution run, in the worker;
  4. runs the setup code and the test code here, with the entry point bound to a proxy: each call
     sends its arguments to the worker and gets back the result as plain data (None, bool, int,
     float, str, bytes, and lists, tuples, sets and dicts of them, rebuilt here with their exact
     types); anything else, an exception or the worker's death fails the call;
  5. prints ``<nonce> PASS`` only when ``check(candidate)`` returned (``<nonce> PASSED k n`` when
     it returned the count of passed tests out of n, for tests that go on past a failure).

So a solution that exits early (sys.exit, os._exit, atexit), returns an object whose __eq__ is
always true, patches builtins or AssertionError, or looks for the test source gains nothing: it
never shares a process with the asserts, never sees the test code, and cannot print the nonce.
Nor can it plant a module for the tests to import: the harness's own modules are imported before
the solution starts, and the working directory is then taken off the import path.

Standard library only, for whichever python3 the sandbox runs.
"""

import builtins
import ctypes
import json
import os
import subprocess
import sys

sys.path.insert(0, os.getcwd())  # the harness's own modules, loaded before the solution runs
import harness_calls  # noqa: E402,F401 - the tests' `from harness_calls import` gets this copy
from harness_wire import decode, encode  # noqa: E402

del sys.path[0]  # the solution can write files here: nothing the tests import may come from it

PR_SET_DUMPABLE = 4


class Candidate:
    """The entry point as the tests see it: a call runs in the worker."""

    def __init__(self, to_worker, from_worker):
        self.to_worker, self.from_worker = to_worker, from_worker

    def __call__(self, *args, **kwargs):
        self.to_worker.write(json.dumps({"args": encode(list(args)), "kwargs": encode(kwargs)}) + "\n")
        self.to_worker.flush()
        line = self.from_worker.readline()
        if not line:
            raise RuntimeError("the candidate's process ended")
        reply = json.loads(line)
        if "error" in reply:
            kind = getattr(builtins, reply["error"], None)
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                kind = RuntimeError
            raise kind(reply.get("message", ""))
        return decode(reply["result"])


def main():
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    replies_r, replies_w = os.pipe()
    worker = subprocess.Popen(
        [sys.executable, "-I", "-S", "harness_worker.py", str(replies_w)],
        stdin=subprocess.PIPE, stdout=sys.stderr.fileno(), pass_fds=(replies_w,), text=True,
    )
    os.close(replies_w)
    with open("secret.json") as f:
        secret = json.load(f)
    os.unlink("secret.json")
    entry_point = secret["entry_point"]
    worker.stdin.write(json.dumps({"entry_point": entry_point}) + "\n")
    worker.stdin.flush()
    from_worker = os.fdopen(replies_r, "r")
    ready = json.loads(from_worker.readline() or '{"error": "RuntimeError", "message": "the worker ended"}')
    if "error" in ready:
        sys.stderr.write("the solution failed to load: %s: %s\n" % (ready["error"], ready.get("message", "")))
        sys.exit(1)
    candidate = Candidate(worker.stdin, from_worker)
    namespace = {"__name__": "__tests__"}
    exec(compile(secret.get("setup_code") or "", "setup", "exec"), namespace)
    namespace[entry_point] = candidate
    exec(compile(secret["test_code"], "tests", "exec"), namespace)
    counts = namespace["check"](candidate)
    if isinstance(counts, tuple):  # (passed, total) of tests that run past a failure
        sys.stdout.write("%s PASSED %d %d\n" % (secret["nonce"], counts[0], counts[1]))
    else:
        sys.stdout.write(secret["nonce"] + " PASS\n")
    sys.stdout.flush()
    worker.kill()


if __name__ == "__main__":
    main()
