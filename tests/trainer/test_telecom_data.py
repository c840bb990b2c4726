"""The generated telecom task checked against independent formulas, and the TeleQnA / ORAN-Bench
loaders on good and malformed files."""

from __future__ import annotations

import json
import logging
import math
import re

import pytest

from contract.files import DataFileError
from contract.schema import Status
from rewards.telecom.datasets import load_oran_bench, load_teleqna
from rewards.telecom.service import grade
from rewards.verifier import Request
from trainer.data.telecom import TOPICS, telecom_splits

# TS 38.101-1 Table 5.3.3-1, minimum guard band per side (kHz), by SCS (kHz) and bandwidth (MHz).
# With Figure 5.3.3-1: guard = (1000 * BW - 12 * SCS * N_RB) / 2 - SCS / 2, so N_RB follows.
MIN_GUARD_KHZ = {
    15: {5: 242.5, 10: 312.5, 15: 382.5, 20: 452.5, 25: 522.5, 30: 592.5, 40: 552.5, 50: 692.5},
    30: {5: 505, 10: 665, 15: 645, 20: 805, 25: 785, 30: 945, 40: 905, 50: 1045, 60: 825, 70: 965, 80: 925, 90: 885, 100: 845},
    60: {10: 1010, 15: 990, 20: 1330, 25: 1310, 30: 1290, 40: 1610, 50: 1570, 60: 1530, 70: 1490, 80: 1450, 90: 1410, 100: 1370},
}


def number(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, (pattern, text)
    return float(m[1])


def independent_answer(text: str) -> float | str:
    """The answer recomputed from the question text alone, with textbook forms of each formula."""
    if "as a linear ratio" in text:
        return 10 ** (number(r"of (-?[\d.]+) dB", text) / 10)
    if "(linear). What is it in dB" in text:
        return 10 * math.log10(number(r"is ([\d.]+) \(linear\)", text))
    if "to milliwatts" in text:
        return 10 ** (number(r"of (-?\d+) dBm", text) / 10)
    if "transmitter delivers" in text:
        return 30 + 10 * math.log10(number(r"delivers ([\d.]+) W", text))
    if "free-space path loss" in text:  # 32.45 + 20 log10(d / km) + 20 log10(f / MHz)
        return 32.4478 + 20 * math.log10(number(r"over ([\d.]+) km", text)) + 20 * math.log10(1e3 * number(r"of ([\d.]+) GHz", text))
    if "thermal noise power" in text:  # -174 dBm/Hz + 10 log10(B / Hz) + NF
        nf = number(r"a (\d+) dB noise figure", text) if "noise figure" in text else 0.0
        return -173.975 + 10 * math.log10(number(r"in a ([\d.]+) MHz", text) * 1e6) + nf
    if "Shannon capacity" in text:
        b, snr_db = number(r"of a (\d+) MHz", text), number(r"SNR of (-?\d+) dB", text)
        return b * math.log(1 + 10 ** (snr_db / 10)) / math.log(2)
    if "received power" in text:
        p, gt, gr = number(r"A (\d+) dBm", text), number(r"a (\d+) dBi antenna", text), number(r"a (\d+) dBi receive", text)
        d, f, losses = number(r"([\d.]+) km away", text), number(r"at ([\d.]+) GHz", text), number(r"with (\d+) dB of cable", text)
        return p + gt + gr - (32.4478 + 20 * math.log10(d) + 20 * math.log10(f * 1e3)) - losses
    if "N_RB" in text:
        bw, scs = number(r"of a (\d+) MHz channel", text), number(r"with (\d+) kHz", text)
        return (1000 * bw - 2 * (MIN_GUARD_KHZ[int(scs)][int(bw)] + scs / 2)) / (12 * scs)
    if "frequency range" in text:
        f_mhz = 1e3 * number(r"at ([\d.]+) GHz", text)
        return "FR1" if 410 <= f_mhz <= 7125 else "FR2" if 24250 <= f_mhz <= 71000 else "neither"
    if "5G NR" in text:  # numerology: 15 kHz * 2^mu, 1 ms / 2^mu per slot, 14 symbols per slot
        mu = number(r"mu = (\d)", text) if "mu =" in text else math.log2(number(r"(\d+) kHz subcarrier", text) / 15)
        if "subcarrier spacing of" in text:
            return 15 * 2**mu
        if "how long is one slot" in text:
            return 1 / 2**mu
        if "10 ms radio frame" in text:
            return 10 * 2**mu
        if "slots are in one 1 ms subframe" in text:
            return 2**mu
        if "OFDM symbols" in text:
            return 14 * 2**mu
    raise AssertionError(f"no independent formula for: {text}")


def stated_answer(reference: dict) -> float | str:
    if reference["kind"] == "mcq":
        return float(reference["options"][reference["answer"] - 1].split()[0])
    return reference["answer"]


TRAIN, TEST = telecom_splits(train_size=1500, test_size=300, seed=3)


def test_every_generated_answer_matches_an_independent_formula():
    for s in TRAIN + TEST:
        text = s.prompt[0].content.split("\n")[0]
        expected, stated = independent_answer(text), stated_answer(s.reference)
        if isinstance(expected, str):
            assert stated == expected, text
        else:  # mcq options are written to 2-4 decimals; free answers are exact
            places = 0.006 if s.reference["kind"] == "mcq" else 1e-9
            assert stated == pytest.approx(expected, rel=2e-3 if "path loss" in text or "received" in text or "noise" in text else places, abs=0.02 if s.reference["kind"] == "mcq" else 0.003), text
    assert len(TRAIN) == 1500 and len(TEST) == 300


def test_every_topic_appears_and_both_splits_mix_kinds():
    texts = " ".join(s.prompt[0].content for s in TRAIN)
    for marker in ("linear ratio", "in dB?", "milliwatts", "transmitter delivers", "path loss", "thermal noise", "Shannon", "received power", "N_RB", "frequency range", "slot"):
        assert marker in texts, marker
    assert {s.reference["kind"] for s in TEST} == {"mcq", "numeric", "label"}


def test_splits_are_disjoint_deterministic_and_seeded():
    question = lambda s: (s.prompt[0].content.split("\n")[0], s.reference["kind"])  # noqa: E731
    assert not {question(s) for s in TRAIN} & {question(s) for s in TEST}
    again_train, again_test = telecom_splits(train_size=1500, test_size=300, seed=3)
    assert [s.model_dump() for s in again_test] == [s.model_dump() for s in TEST]
    other, _ = telecom_splits(train_size=1500, test_size=300, seed=4)
    assert [s.prompt for s in other[:20]] != [s.prompt for s in again_train[:20]]


def test_the_grader_accepts_each_right_answer_and_rejects_each_distractor():
    for s in TRAIN[:400]:
        ref = s.reference
        if ref["kind"] == "mcq":
            right = f"\\boxed{{{ref['answer']}}}"
            wrong = f"\\boxed{{{ref['answer'] % len(ref['options']) + 1}}}"
        elif ref["kind"] == "numeric":
            right = f"The answer is \\boxed{{{ref['answer']!r} {ref['unit']}}}"
            wrong = f"\\boxed{{{ref['answer'] * 1.5 + 1:.6g} {ref['unit']}}}"
        else:
            right, wrong = f"\\boxed{{{ref['answer']}}}", "\\boxed{FR1}" if ref["answer"] == "FR2" else "\\boxed{FR2}"
        assert grade(Request("x", ref, right)).status == Status.OK, (s.prompt, right)
        assert grade(Request("x", ref, wrong)).status == Status.WRONG, (s.prompt, wrong)


def test_topic_selection_and_errors():
    train, test = telecom_splits(train_size=20, test_size=5, topics=["numerology"])
    assert all("5G NR" in s.prompt[0].content for s in train + test)
    with pytest.raises(ValueError, match="data.telecom.topics: unknown topic.*bogus"):
        telecom_splits(topics=["bogus"])
    with pytest.raises(ValueError, match="only .* distinct questions"):
        telecom_splits(train_size=500, test_size=50, topics=["frequency_range"])
    assert set(TOPICS) >= {"path_loss", "shannon", "numerology", "resource_blocks"}


# ---------------------------------------------------------------- loaders

TELEQNA = {
    "question 0": {"question": "Which SCS does NR numerology 1 use?", "option 1": "15 kHz", "option 2": "30 kHz", "option 3": "60 kHz",
                   "answer": "option 2: 30 kHz", "explanation": "15 * 2^1.", "category": "Standards specifications"},
    "question 1": {"question": "What does PRB stand for?", "option 1": "Physical resource block", "option 2": "Primary radio bearer",
                   "answer": "option 1: Physical resource block", "explanation": "", "category": "Lexicon"},
}  # fmt: skip


def test_teleqna_file_becomes_mcq_samples(tmp_path):
    path = tmp_path / "teleqna.json"
    path.write_text(json.dumps(TELEQNA, indent=1))
    samples = load_teleqna(path)
    assert [s.reference["options"] for s in samples] == [["15 kHz", "30 kHz", "60 kHz"], ["Physical resource block", "Primary radio bearer"]]
    assert samples[0].verifier == "telecom" and "2. 30 kHz" in samples[0].prompt[0].content
    assert grade(Request("x", samples[0].reference, "\\boxed{2}")).status == Status.OK


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"question": "", "option 1": "a", "option 2": "b", "answer": "option 1: a"}, "field 'question'"),
        ({"question": "q", "option 1": "a", "option 3": "b", "answer": "option 1: a"}, "without gaps"),
        ({"question": "q", "option 1": "a", "option 2": "b", "answer": "option 2: c"}, "does not match option 2"),
        ({"question": "q", "option 1": "a", "option 2": "b", "answer": "option 5: e"}, "outside 1..2"),
        ({"question": "q", "option 1": "a", "option 2": 7, "answer": "option 1: a"}, "must be a string"),
        ("just text", "expected an object"),
    ],
)
def test_teleqna_bad_entries_are_reported_with_file_line_and_field_and_skipped(tmp_path, caplog, broken, message):
    path = tmp_path / "teleqna.json"
    path.write_text(json.dumps({**TELEQNA, "question 2": broken}, indent=1))
    with caplog.at_level(logging.WARNING):
        samples = load_teleqna(path)
    assert len(samples) == 2
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if '"question 2"' in text)
    assert any(f"teleqna.json:{line} ('question 2')" in r.message and message in r.message for r in caplog.records), caplog.text


def test_teleqna_unusable_files(tmp_path):
    path = tmp_path / "t.json"
    with pytest.raises(DataFileError, match="no such file"):
        load_teleqna(path)
    path.write_text('{"question 0": {"question": "q",\n "option 1": }')
    with pytest.raises(DataFileError, match=r"t.json:2: not valid JSON"):
        load_teleqna(path)
    path.write_text("[1, 2]")
    with pytest.raises(DataFileError, match="expected a JSON object"):
        load_teleqna(path)
    path.write_text(json.dumps({"question 0": {"question": "q"}}))
    with pytest.raises(DataFileError, match="no usable sample"):
        load_teleqna(path)


def test_oran_bench_lines_become_mcq_samples(tmp_path, caplog):
    path = tmp_path / "fin_E.json"
    lines = [
        json.dumps(["Which interface links the near-RT RIC and the E2 nodes?", ["1. A1", "2. E2", "3. O1", "4. F1"], "2"]),
        "",
        "not json",
        json.dumps({"question": "q"}),
        json.dumps(["q", ["1. a", "2. b"], "5"]),
        json.dumps(["q", ["1. a", 2], "1"]),
        json.dumps(["", ["1. a", "2. b"], "1"]),
        json.dumps(["Which O-RAN interface carries management?", ["1. O1", "2. E2", "3. A1", "4. Open FH"], 1]),
    ]
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING):
        samples = load_oran_bench(path)
    assert [s.reference["options"] for s in samples] == [["A1", "E2", "O1", "F1"], ["O1", "E2", "A1", "Open FH"]]
    assert grade(Request("x", samples[0].reference, "\\boxed{2}")).status == Status.OK
    assert grade(Request("x", samples[1].reference, "The answer is O1")).status == Status.OK
    messages = caplog.text
    for where, why in [(3, "not valid JSON"), (4, "expected [question"), (5, "outside 1..2"), (6, "must hold strings"), (7, "field 'question'")]:
        assert re.search(rf"fin_E.json:{where}: .*{re.escape(why)}", messages), (where, why, messages)


def test_oran_bench_unusable_files(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        load_oran_bench(tmp_path / "missing.json")
    path = tmp_path / "bad.json"
    path.write_text("[]\n")
    with pytest.raises(DataFileError, match="no usable sample"):
        load_oran_bench(path)
