"""``verity serve sandbox --no-proc``, as the compose stack runs it (Docker masks the container's
/proc, so no fresh one can be mounted): programs still run, see no /proc at all, and stay without
network and without new namespaces."""

from __future__ import annotations

import textwrap

import pytest

from contract.v1 import sandbox_pb2 as pb
from tests.conftest import UID_BASE, running_sandbox_server

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def no_proc_server():
    with running_sandbox_server(UID_BASE + 10, 1, "--no-proc") as server:
        yield server


def test_programs_run_without_proc(no_proc_server):
    r = no_proc_server.run("import os\nprint(6 * 7, os.path.exists('/proc'), os.path.exists('/proc/self'))")
    assert r.status == pb.EXEC_STATUS_OK and r.stdout == b"42 False False\n", r


def test_still_no_network_and_no_new_namespaces(no_proc_server):
    code = textwrap.dedent(f"""
        import ctypes, socket
        libc = ctypes.CDLL(None, use_errno=True)
        results = [libc.unshare(0x10000000) == -1 and ctypes.get_errno()]  # CLONE_NEWUSER: EPERM
        try:
            socket.create_connection(("127.0.0.1", {no_proc_server.port}), timeout=2)
            results.append("connected")
        except OSError:
            results.append("no network")
        print(results)
    """)
    r = no_proc_server.run(code)
    assert r.status == pb.EXEC_STATUS_OK and r.stdout == b"[1, 'no network']\n", r
