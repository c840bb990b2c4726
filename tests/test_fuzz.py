"""Bad input, fuzzed: sample decoding, every answer extractor, the telecom unit parser, code
references and dataset rows get random and adversarial inputs (hypothesis). None may crash, none
may hang, and every sample ends with a clear status: OK, WRONG, INVALID or TIMEOUT with a detail,
never ERROR (which means the infrastructure failed, and is dropped from training).

``VERITY_FUZZ_EXAMPLES`` sets the examples per test (default 100); with ``VERITY_FUZZ_REPORT``
naming a file, each test appends how many inputs it tried (``bench/fuzz.py`` runs them so).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.files import read_jsonl
from contract.schema import FIELDS, Sample, SampleError, Status, parse_sample
from contract.v1 import verifier_pb2 as pb
from rewards.code.datasets import ROW_FORMATS
from rewards.code.extract import extract_program
from rewards.code.reference import CodeReferenceError, parse_reference
from rewards.code.service import CodeVerifier
from rewards.host import _decode
from rewards.math.extract import extract_final_answer
from rewards.telecom.datasets import mcq_sample
from rewards.telecom.extract import answer_spans, final_statement, quantities
from rewards.telecom.service import TelecomVerifier
from rewards.telecom.units import convert, find_unit, unit_spellings
from rewards.verifier import Request
from tests.conftest import ServerThread, score_samples

EXAMPLES = int(os.environ.get("VERITY_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture], database=None)
CODE_EXAMPLES = max(EXAMPLES // 5, 5)  # each runs up to 6 programs in the sandbox
HANG_S = 30.0  # far past any per-sample budget: a call still running then is stuck
CLEAR = {Status.OK, Status.WRONG, Status.INVALID, Status.TIMEOUT}

# Pieces of the syntax the parsers look for, glued with random text: inputs near the paths that matter.
FRAGMENTS = [
    "\\boxed{", "\\fbox{", "}", "{", "$", "$$", "\\(", "\\)", "\\frac{", "\\dfrac", "\\sqrt{", "^", "_", "\\pi", "\\infty", "\\%",
    "####", "The answer is", "answer:", "Final Answer:", "=", "-", "+", "*", "/", ".", ",", "e", "E", "1e309", "nan", "inf", "0", "7", "42", "3.14",
    "123456789012345678901234567890", " ", "\n", "(", ")", "[", "]", "option", "Option B", "(c)", "A", "I", "either", "or", "to", "between",
    "dB", "dBm", "dBi", "mW", "W", "MHz", "kHz", "GHz", "Mbps", "ms", "µs", "km", "m/s", "%", "x10^", "×", "```", "```python\n", "```cpp\n",
    "def f(x):\n    return x\n", "print(input())\n", "import os\n", "class Solution:\n", "\\text{", "\u200b", "\u0000", "\ud7ff", "é", "二",
]  # fmt: skip
texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=80).map("".join)
long_texts = st.one_of(texts, st.builds(lambda piece, n: piece * n, st.sampled_from(FRAGMENTS), st.integers(100, 5000)))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), texts)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(texts, inner, max_size=5), max_leaves=20)


@pytest.fixture
def tried(request):
    """Counts this test's inputs; appended to $VERITY_FUZZ_REPORT, when set, as one JSON line."""
    counter = {"inputs": 0}
    yield counter
    report = os.environ.get("VERITY_FUZZ_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(json.dumps({"test": request.node.name, "examples": EXAMPLES, **counter}) + "\n")


def finishes(fn, *args):
    """``fn(*args)``, failing the test if it is still running after HANG_S seconds."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(fn(*args)), daemon=True)
    thread.start()
    thread.join(HANG_S)
    assert not thread.is_alive(), f"{fn.__name__} hung on {args!r:.300}"
    return result[0] if result else None


def assert_clear(scores, samples) -> None:
    assert len(scores) == len(samples)
    for score, sample in zip(scores, samples):
        assert score.id == sample.id
        assert score.status in CLEAR, (score, sample)
        assert score.status is Status.OK or score.detail, score
        assert 0.0 <= score.reward <= 1.0


# --- sample decoding: files, rows, the wire ---


rows = st.dictionaries(st.sampled_from([*FIELDS, "refrence", "respone", "promt", "extra"]), json_values, max_size=7)


@FUZZ
@given(rows=st.lists(st.one_of(rows, json_values), min_size=1, max_size=20))
def test_every_row_is_a_sample_or_an_error_naming_its_field(tried, rows):
    for i, row in enumerate(rows):
        tried["inputs"] += 1
        try:
            sample = parse_sample(row, f"data.jsonl:{i}")
        except SampleError as e:
            assert str(e).startswith(f"data.jsonl:{i}: ") and ("field" in str(e) or "expected a JSON object" in str(e)), e
        else:
            assert sample.id and isinstance(sample.reference, dict)


@FUZZ
@given(lines=st.lists(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())), min_size=1, max_size=20))
def test_every_line_of_a_file_decodes_or_says_why(tried, tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("fuzz") / "data.jsonl"
    path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
    tried["inputs"] += len(lines)
    if not path.read_bytes().strip():
        return
    for line in read_jsonl(path):
        assert line.error is None or line.row is None
        if line.error:
            assert line.error.startswith(line.where) and ("UTF-8" in line.error or "JSON" in line.error)


@FUZZ
@given(ident=texts, reference=st.one_of(texts, json_values.map(json.dumps)), response=long_texts, prompt=texts)
def test_every_sample_on_the_wire_is_a_request_or_invalid_naming_the_field(tried, ident, reference, response, prompt):
    tried["inputs"] += 1
    decoded = _decode(pb.Sample(id=ident, reference_json=reference, response=response, prompt_text=prompt))
    if isinstance(decoded, Request):
        assert decoded.id == ident and isinstance(decoded.reference, dict)
    else:
        assert decoded.status is Status.INVALID and decoded.detail.startswith("sample.")


# --- answer extractors and the unit parser ---


@FUZZ
@given(response=long_texts)
def test_the_answer_extractors_return_or_say_none(tried, response):
    tried["inputs"] += 1
    found = finishes(extract_final_answer, response)
    assert found is None or isinstance(found.answer, str)
    program = finishes(extract_program, response)
    assert program is None or isinstance(program, str)
    for span in finishes(answer_spans, response):
        finishes(quantities, span.text)
    assert isinstance(finishes(final_statement, response), str)


spellings = st.sampled_from(unit_spellings())


@FUZZ
@given(text=st.one_of(texts, spellings, spellings.map(str.upper), spellings.map(lambda s: f" {s} ")), value=st.floats(allow_nan=True, allow_infinity=True), target=spellings)
def test_the_unit_parser_finds_a_unit_or_none_and_converts_or_refuses(tried, text, value, target):
    tried["inputs"] += 1
    unit, other = find_unit(text), find_unit(target)
    assert other is not None  # every spelling it lists, it finds
    if unit is None:
        return
    try:
        converted = convert(value, unit, other)
    except (ValueError, OverflowError) as e:
        assert str(e) or isinstance(e, OverflowError)
    else:
        assert isinstance(converted, float)


# --- verifiers: every sample ends with a clear status ---


def telecom_references():
    mcq = st.fixed_dictionaries({"kind": st.just("mcq"), "options": st.lists(texts, max_size=6), "answer": st.one_of(st.integers(-2, 8), texts)})
    numeric = st.fixed_dictionaries({"kind": st.just("numeric"), "answer": st.one_of(st.floats(allow_nan=True, allow_infinity=True), texts), "unit": st.one_of(spellings, texts)}, optional={"rel_tol": st.floats(-1, 2), "abs_tol": st.floats(-1, 1e9)})
    label = st.fixed_dictionaries({"kind": st.just("label"), "answer": texts}, optional={"labels": st.lists(texts, max_size=5)})
    return st.one_of(mcq, numeric, label, st.dictionaries(texts, json_values, max_size=4))


@FUZZ
@given(batch=st.lists(st.tuples(telecom_references(), long_texts), min_size=1, max_size=16))
def test_the_telecom_grader_gives_every_response_a_clear_status(tried, batch):
    tried["inputs"] += len(batch)
    requests = [Request(id=str(i), reference=ref, response=response) for i, (ref, response) in enumerate(batch)]
    assert_clear(finishes(lambda: asyncio.run(TelecomVerifier().score(requests))), requests)


def math_references():
    return st.one_of(st.fixed_dictionaries({"answer": st.one_of(texts, st.integers(), st.floats(allow_nan=True, allow_infinity=True))}), st.dictionaries(texts, json_values, max_size=3))


@FUZZ
@given(batch=st.lists(st.tuples(math_references(), long_texts), min_size=1, max_size=16))
def test_the_math_service_gives_every_response_a_clear_status(tried, math_server, batch):
    tried["inputs"] += len(batch)
    samples = [Sample(id=str(i), reference=ref, response=response) for i, (ref, response) in enumerate(batch)]
    assert_clear(score_samples(math_server.address, samples, deadline_s=120, retries=0)[0], samples)


def code_references():
    io_test = st.fixed_dictionaries({"stdin": texts, "stdout": texts})
    io = st.fixed_dictionaries({"tests": st.lists(io_test, max_size=3)}, optional={"compare": st.sampled_from(["lines", "tokens", "exact", 7]), "rel_tol": st.floats(-1, 1), "prelude": texts, "time_limit_s": st.floats(-1, 3)})
    calls = st.fixed_dictionaries({"calls": st.lists(st.fixed_dictionaries({"args": json_values, "expected": json_values}), max_size=3), "entry_point": st.sampled_from(["f", "Solution.f", "", "1x", "print"])})
    function = st.fixed_dictionaries({"test_code": texts, "entry_point": st.sampled_from(["f", "", "x y"])})
    return st.one_of(io, calls, function, st.dictionaries(texts, json_values, max_size=3))


@FUZZ
@given(reference=code_references())
def test_a_code_reference_parses_or_says_which_field(tried, reference):
    tried["inputs"] += 1
    try:
        parse_reference(reference)
    except CodeReferenceError as e:
        assert str(e).startswith("reference")


format_keys = ["question", "input_output", "starter_code", "question_content", "public_test_cases", "private_test_cases", "metadata", "prompt", "verification_info", "problem", "tests", "reward_model", "extra_info", "task_id", "test", "entry_point", "text", "code", "test_list", "test_setup_code", "problem_id"]
field_values = st.one_of(json_values, json_values.map(json.dumps), st.fixed_dictionaries({"ground_truth": st.one_of(json_values, json_values.map(json.dumps))}), st.binary(max_size=40).map(lambda b: b.hex()))
case_values = st.one_of(texts, json_values, json_values.map(json.dumps))
cases = st.lists(st.fixed_dictionaries({"input": case_values, "output": case_values}, optional={"type": st.sampled_from(["stdin_stdout", "function_call", "x"]), "testtype": st.sampled_from(["stdin", "functional"]), "fn_name": texts, "metadata": case_values}), max_size=3)
apps_tests = st.fixed_dictionaries({"inputs": st.lists(case_values, max_size=3), "outputs": st.lists(case_values, max_size=3)}, optional={"fn_name": st.one_of(texts, json_values)})
maybe_json = lambda strategy: st.one_of(strategy, strategy.map(json.dumps))  # noqa: E731 - a field given as JSON text or as it is
# rows near each format's own shape, so that the mappers go past their first check
near_rows = {
    "apps": st.fixed_dictionaries({"question": texts, "input_output": maybe_json(apps_tests)}, optional={"starter_code": case_values, "problem_id": json_values}),
    "livecodebench": st.fixed_dictionaries({"question_content": texts, "public_test_cases": maybe_json(cases)}, optional={"private_test_cases": st.one_of(texts, cases.map(json.dumps)), "metadata": maybe_json(st.fixed_dictionaries({"func_name": case_values}))}),
    "prime": st.fixed_dictionaries({"prompt": texts, "verification_info": maybe_json(st.fixed_dictionaries({"test_cases": cases}))}),
    "deepcoder": st.fixed_dictionaries({"problem": texts, "tests": maybe_json(st.one_of(cases, apps_tests))}, optional={"metadata": maybe_json(st.fixed_dictionaries({"func_name": case_values}))}),
    "verl": st.fixed_dictionaries({"prompt": st.one_of(texts, st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "x"]), "content": case_values}), max_size=2)), "reward_model": st.fixed_dictionaries({"ground_truth": maybe_json(st.one_of(cases, apps_tests, st.fixed_dictionaries({"test_cases": cases})))})}),
    "humaneval": st.fixed_dictionaries({"prompt": texts, "test": texts, "entry_point": case_values}, optional={"task_id": json_values, "response": case_values}),
    "mbpp": st.fixed_dictionaries({"text": texts, "code": case_values, "test_list": st.one_of(st.lists(case_values, max_size=3), json_values)}, optional={"test_setup_code": case_values, "task_id": json_values}),
}


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(sorted(ROW_FORMATS)))
def test_a_dataset_row_maps_to_a_sample_or_says_which_field(tried, data, fmt):
    row = data.draw(st.one_of(near_rows[fmt], st.dictionaries(st.sampled_from(format_keys), field_values, max_size=8)))
    tried["inputs"] += 1
    try:
        sample = parse_sample(ROW_FORMATS[fmt](row, 0), "rows.jsonl:1")
    except ValueError as e:  # how every loader reports and skips a row
        assert str(e)
    else:
        tried["mapped"] = tried.get("mapped", 0) + 1
        assert sample.verifier == "code"
        parse_reference(sample.reference)  # a mapped row's reference is one the code verifier takes


@FUZZ
@given(question=json_values, options=st.one_of(st.lists(json_values, max_size=6), json_values), answer=json_values)
def test_a_telecom_dataset_row_maps_or_says_which_field(tried, question, options, answer):
    tried["inputs"] += 1
    try:
        sample = mcq_sample("q1", question, options, answer, "teleqna.json:q1")
    except ValueError as e:
        assert str(e).startswith("teleqna.json:q1")
    else:
        assert sample.reference["kind"] == "mcq"


@pytest.fixture(scope="module")
def code_address(sandbox_server):
    server = ServerThread(CodeVerifier([sandbox_server.address], max_seconds=20)).start()
    yield server.address
    server.stop()


programs = st.lists(st.sampled_from(["print(input())\n", "import sys\n", "x = 1/0\n", "while True: pass\n", "print('a' * 10**6)\n", "def f(*a):\n    return a\n", "class Solution:\n    def f(self, *a):\n        return 1\n", "raise SystemExit(3)\n", "print(", "\x00"]), max_size=4).map(lambda parts: "```python\n" + "".join(parts) + "```")


@pytest.mark.sandbox
@settings(FUZZ, max_examples=CODE_EXAMPLES)
@given(batch=st.lists(st.tuples(code_references(), st.one_of(programs, texts)), min_size=1, max_size=6))
def test_the_code_verifier_gives_every_program_a_clear_status(tried, code_address, batch):
    tried["inputs"] += len(batch)
    tried["examples"] = CODE_EXAMPLES
    samples = [Sample(id=str(i), verifier="code", reference=ref, response=response) for i, (ref, response) in enumerate(batch)]
    assert_clear(score_samples(code_address, samples, deadline_s=300, retries=0)[0], samples)
