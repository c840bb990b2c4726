"""Runs a tool episode's newest code block in a fresh interpreter, after its earlier blocks.

Sent to the sandbox as the program, with the blocks as files block_0.py .. block_N.py and N as the
only argument. Blocks 0 .. N-1 run first, silently and with their errors ignored, to rebuild the
state they left (no state survives between calls); then block N runs as a script would, in the
same namespace, and a traceback it raises is printed without this file's frame. Standard library
only: it runs in the sandbox's bare Python.
"""

import os
import sys
import traceback

newest = int(sys.argv[1])
namespace = {"__name__": "__main__", "__builtins__": __builtins__}
real_out, real_err = sys.stdout, sys.stderr
with open(os.devnull, "w") as silent:
    for i in range(newest):
        with open(f"block_{i}.py", encoding="utf-8") as f:
            source = f.read()
        sys.stdout = sys.stderr = silent
        try:
            exec(compile(source, f"<block {i}>", "exec"), namespace)
        except BaseException:  # an earlier block's error was shown when it first ran
            pass
        finally:
            sys.stdout, sys.stderr = real_out, real_err
with open(f"block_{newest}.py", encoding="utf-8") as f:
    source = f.read()
try:
    exec(compile(source, "<block>", "exec"), namespace)
except SystemExit:
    raise
except BaseException as error:
    traceback.print_exception(type(error), error, error.__traceback__.tb_next)
    sys.exit(1)
