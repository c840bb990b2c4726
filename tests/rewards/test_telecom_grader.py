"""The telecom grader on tables of responses: every accepted form earns 1, every rejected one 0,
and each verdict's detail says what was read."""

from __future__ import annotations

import pytest

from contract.schema import Status
from rewards.telecom.service import grade
from rewards.verifier import Request

SCS = {"kind": "mcq", "options": ["15 kHz", "30 kHz", "60 kHz", "120 kHz"], "answer": 2}
SCS_GOLD = {**SCS, "answer": "option 2: 30 kHz"}
SCS_LETTER = {**SCS, "answer": "B"}
GAIN = {"kind": "numeric", "answer": 23.5, "unit": "dB", "rel_tol": 0.01}
POWER = {"kind": "numeric", "answer": 30.0, "unit": "dBm", "rel_tol": 0.001}
SLOT = {"kind": "numeric", "answer": 0.25, "unit": "ms", "rel_tol": 0.01}
RATE = {"kind": "numeric", "answer": 100.0, "unit": "Mbit/s", "rel_tol": 0.01}
NOISE_DENSITY = {"kind": "numeric", "answer": -174.0, "unit": "dBm/Hz", "rel_tol": 0.001}
COUNT = {"kind": "numeric", "answer": 106, "unit": "", "rel_tol": 0}
CARRIER = {"kind": "numeric", "answer": 3.5, "unit": "GHz", "rel_tol": 0.001}
FR = {"kind": "label", "answer": "FR2", "labels": ["FR1", "FR2", "FR2-2"]}
FREE_LABEL = {"kind": "label", "answer": "C3"}

ACCEPTED = [
    # mcq: the option's number, letter, boxed value or text; the gold reference forms
    (SCS, "2"),
    (SCS, "option 2"),
    (SCS, "Option 2."),
    (SCS, "B"),
    (SCS, "(b)"),
    (SCS, "b)"),
    (SCS, "\\boxed{B}"),
    (SCS, "\\boxed{2}"),
    (SCS, "The answer is 30 kHz."),
    (SCS, "Option 2: 30 kHz"),
    (SCS, "**Answer:** option B (30 kHz)"),
    (SCS, "Subcarrier spacing doubles with mu. The correct option is (2)."),
    (SCS, "Since mu = 1, the spacing is 15 * 2 = 30 kHz. \\boxed{2}"),
    (SCS, "\\boxed{30 kHz}"),
    (SCS, "I think the answer is B"),
    (SCS_GOLD, "\\boxed{2}"),
    (SCS_LETTER, "option 2"),
    # numeric: value and unit, converted; no unit means the reference's unit
    (GAIN, "\\boxed{23.5}"),
    (GAIN, "\\boxed{23.5 dB}"),
    (GAIN, "\\boxed{23.4}\\,\\text{dB}"),
    (GAIN, "The gain is 223.87 (linear), so the answer is 223.87 linear."),
    (GAIN, "Answer: 223.9x"),
    (GAIN, "answer: 23.5 decibels"),
    (GAIN, "So G = 10 + 13.5 = 23.5 dB"),
    (GAIN, "The gain at 3.5 GHz over 2 km is 23.5 dB."),
    (GAIN, "G = 10 log10(223.9) = 23.5 dB. That is a lot."),
    (POWER, "\\boxed{1 W}"),
    (POWER, "\\boxed{1000 mW}"),
    (POWER, "\\boxed{0 dBW}"),
    (POWER, "The answer is 30 dBm (1 W)."),
    (POWER, "Answer: 1.0 \\times 10^{3} mW"),
    (SLOT, "\\boxed{250 us}"),
    (SLOT, "\\boxed{250 \\mu s}"),
    (SLOT, "\\boxed{250 µs}"),
    (SLOT, "\\boxed{2.5e-4 s}"),
    (SLOT, "answer: 0.25ms"),
    (RATE, "\\boxed{0.1 Gbps}"),
    (RATE, "\\boxed{100 Mb/s}"),
    (RATE, "\\boxed{12.5 MB/s}"),
    (RATE, "\\boxed{100,000 kbps}"),
    (RATE, "Answer: 100 mbps"),
    (NOISE_DENSITY, "\\boxed{-174 dBm/Hz}"),
    (NOISE_DENSITY, "\\boxed{-204 dBW/Hz}"),
    (NOISE_DENSITY, "\\boxed{−114 dBm/MHz}"),
    (NOISE_DENSITY, "\\boxed{4e-21 W/Hz}"),
    (COUNT, "\\boxed{106}"),
    (COUNT, "The answer is 106 PRBs."),
    (CARRIER, "\\boxed{3500 MHz}"),
    (CARRIER, "\\boxed{3.5 \\text{ GHz}}"),
    (CARRIER, "\\boxed{3.5e9 Hz}"),
    # label: one label, whole words, any case
    (FR, "\\boxed{FR2}"),
    (FR, "fr2"),
    (FR, "The carrier at 28 GHz is in FR2."),
    (FR, "Answer: **FR2**"),
    (FREE_LABEL, "\\boxed{c3}"),
    (FREE_LABEL, "Answer: C3."),
]

REJECTED = [
    # mcq: wrong, several, hedged, all listed, nothing named
    (SCS, "\\boxed{C}", "chose option 3"),
    (SCS, "either 2 or 3", "names 2 options"),
    (SCS, "The answer is B or C", "names 2 options"),
    (SCS, "1, 2, 3, 4", "names 4 options"),
    (SCS, "The answer is 15 kHz, 30 kHz, 60 kHz or 120 kHz", "names 4 options"),
    (SCS, "\\boxed{2} and \\boxed{3}", "names 2 options"),
    (SCS, "The answer is B (not A)", "names 2 options"),
    (SCS, "It depends on the numerology.", "no option named"),
    (SCS, "The answer is 45 kHz", "no option named"),
    (SCS, "\\boxed{7}", "no option named"),
    # numeric: wrong value, wrong quantity, several values, ranges, non-finite, overflow, unknown unit
    (GAIN, "\\boxed{25}", "off by"),
    (GAIN, "\\boxed{23.5 dBm}", "dBm measures power"),
    (GAIN, "\\boxed{23.5 Hz}", "Hz measures frequency"),
    (GAIN, "Answer: 23.5 dB or 25 dB", "different values"),
    (GAIN, "\\boxed{20-30 dB}", "range"),
    (GAIN, "\\boxed{23.5 \\pm 1 dB}", "different values"),
    (GAIN, "\\boxed{nan}", "non-finite"),
    (GAIN, "\\boxed{inf dB}", "non-finite"),
    (GAIN, "\\boxed{\\infty}", "non-finite"),
    (GAIN, "\\boxed{1e999}", "overflows"),
    (GAIN, "\\boxed{1e30 linear}", "off by"),
    (GAIN, "\\boxed{23.5 MW}", "unknown unit"),
    (GAIN, "\\boxed{23.5} and \\boxed{30}", "different values"),
    (GAIN, "The gain is large.", "no number"),
    (GAIN, "either 23.5 dB or 25 dB", "different values"),
    (GAIN, "It is 23.5 dB. With 3 antennas it is 28 dB.", "different values"),
    (POWER, "\\boxed{30 dB}", "dB measures power ratio"),
    (POWER, "\\boxed{1 mW}", "off by"),
    (POWER, "\\boxed{-1 W}", "no value in dBm"),
    (POWER, "\\boxed{1e308 dBW}", "overflows"),
    (SLOT, "\\boxed{0.25 s}", "off by"),
    (RATE, "\\boxed{100 MB/s}", "off by"),
    (RATE, "\\boxed{12.5 Mbps}", "off by"),
    (COUNT, "\\boxed{107}", "off by"),
    (COUNT, "\\boxed{106 kHz}", "has a unit"),
    (CARRIER, "\\boxed{3.5 MHz}", "off by"),
    # label: wrong, several, a longer label that contains the right one, nothing
    (FR, "\\boxed{FR1}", "wrong"),
    (FR, "FR1 or FR2", "names 2 labels"),
    (FR, "\\boxed{FR2-2}", "wrong"),
    (FR, "It is millimetre wave.", "no label"),
    (FREE_LABEL, "\\boxed{C3 or C4}", "not exactly"),
]


def score(reference: dict, response: str):
    return grade(Request(id="s", reference=reference, response=response))


@pytest.mark.parametrize(("reference", "response"), ACCEPTED)
def test_accepted_forms_earn_1(reference, response):
    s = score(reference, response)
    assert (s.status, s.reward) == (Status.OK, 1.0), s.detail
    assert s.detail


@pytest.mark.parametrize(("reference", "response", "why"), REJECTED)
def test_rejected_forms_earn_0_and_say_why(reference, response, why):
    s = score(reference, response)
    assert (s.status, s.reward) == (Status.WRONG, 0.0)
    assert why in s.detail, s.detail


def test_the_tables_are_large():
    assert len(ACCEPTED) + len(REJECTED) >= 60


def test_detail_names_what_was_extracted():
    s = score(POWER, "so the output is \\boxed{1 W}")
    assert "'1 W'" in s.detail and "30 dBm" in s.detail and "boxed" in s.detail
    s = score(SCS, "\\boxed{C}")
    assert "option 3" in s.detail and "option 2 ('30 kHz')" in s.detail


@pytest.mark.parametrize(
    ("reference", "field"),
    [
        ({"kind": "essay", "answer": "x"}, "reference.kind"),
        ({"answer": 2, "options": ["a", "b"]}, "reference.kind"),
        ({"kind": "mcq", "options": ["a"], "answer": 1}, "reference.options"),
        ({"kind": "mcq", "options": ["a", "b"], "answer": 3}, "outside 1..2"),
        ({"kind": "mcq", "options": ["a", "b"], "answer": 0}, "outside 1..2"),
        ({"kind": "mcq", "options": ["a", "b"], "answer": "option 2: c"}, "does not match option 2"),
        ({"kind": "mcq", "options": ["a", " "], "answer": 1}, "non-empty"),
        ({"kind": "mcq", "options": ["a", "b"], "answer": "perhaps"}, "names no option"),
        ({"kind": "numeric", "answer": "many", "unit": "dB"}, "reference.answer"),
        ({"kind": "numeric", "answer": float("nan"), "unit": "dB"}, "finite"),
        ({"kind": "numeric", "answer": 1.0, "unit": "furlong"}, "unknown unit 'furlong'"),
        ({"kind": "numeric", "answer": 1.0, "unit": "dB", "rel_tol": -1}, "reference.rel_tol"),
        ({"kind": "numeric", "answer": 1.0, "tolerance": 0.1}, "reference.tolerance"),
        ({"kind": "label", "answer": "C9", "labels": ["C1", "C2"]}, "not one of the labels"),
        ({"kind": "label", "answer": "", "labels": ["C1"]}, "reference.answer"),
    ],
)
def test_bad_references_are_invalid_and_name_the_field(reference, field):
    s = score(reference, "\\boxed{1}")
    assert s.status == Status.INVALID and s.reward == 0.0
    assert field in s.detail, s.detail


def test_huge_and_hostile_responses_are_graded_quickly_and_safely():
    """Linear-time patterns: a 1 MB response of digits, units and braces is graded (0), not hung."""
    for junk in ("1" * 1_000_000, "dB " * 300_000, "{" * 500_000 + "\\boxed{", "1e" * 400_000, "option " * 100_000):
        s = score(GAIN, junk)
        assert s.status in (Status.OK, Status.WRONG)
