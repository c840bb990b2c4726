"""Grading one telecom response against its reference: mcq, numeric and label answers.

Each grader reads only the answer spans of :func:`~rewards.telecom.extract.answer_spans` and
returns a :class:`Verdict` whose ``detail`` says what was extracted and why it scored as it did.
None of them rewards guessing: an answer that asserts more than one option, value or label, a
hedge ("either 2 or 3"), a range ("20-30 dB") or a list of every option earns 0.

- mcq: an option is named by its number ("2", "option 2", "(2)"), its letter ("B", "(b)",
  "option b"), or its text (case-insensitive, whole words). Option texts are matched first and
  masked, so "option 2: 30 kHz" names option 2 once. A capital "A" or "I" followed by a lower-case
  word is an article or a pronoun in free text, not a choice.
- numeric: every quantity of a boxed or "answer is" span is converted to the reference's unit
  (:mod:`rewards.telecom.units`); a number without a unit is in the reference's unit; they must all
  agree within the tolerance. With no such span, the answer is the final statement of the response
  (its last sentence with a number, after its last "="), whose quantities of other kinds
  (the "2 km" of "the loss over 2 km is 98 dB") only describe the question.
  NaN, infinities, overflow, an unknown unit or a unit of another quantity earn 0.
- label: one label of the reference's set, whole words, case-insensitive; with no set, the span
  itself must be the label.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from rewards.telecom.extract import UNIT_PATTERN, Span, answer_spans, final_statement, has_range, names_non_finite, normalize, quantities
from rewards.telecom.reference import LabelReference, McqReference, NumericReference
from rewards.telecom.units import convert

_OPTION_WORD = re.compile(r"\boptions?\s?\(?([a-z]|\d{1,2})\)?(?![\w])", re.IGNORECASE)
_PARENTHESIZED = re.compile(r"\(([a-z]|\d{1,2})\)", re.IGNORECASE)
_CLOSING = re.compile(r"(?<![\w(.,-])([a-z]|\d{1,2})[).](?!\w)", re.IGNORECASE)
_NUMBER = re.compile(rf"(?<![\w.,^-])(\d{{1,2}})(?![\w%^]|[.,]\d|\s?(?:{UNIT_PATTERN})(?![\w/]))", re.IGNORECASE)  # not a value with a unit
_CAPITAL = re.compile(r"(?<![\w'])([A-Z])(?![\w'])")
_ARTICLE = re.compile(r"[AI] [a-z]")
_DECORATION = " \t*_`'\".,:;!()[]"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    detail: str


def _quote(span: Span, limit: int = 80) -> str:
    text = span.text if len(span.text) <= limit else "..." + span.text[-limit:]
    return f"{span.source} '{text}'"


def grade_mcq(ref: McqReference, response: str) -> Verdict:
    spans = answer_spans(response)
    named: dict[int, str] = {}
    for span in spans:
        for k, how in _options_named(span, ref.options).items():
            named.setdefault(k, how)
    right = f"option {ref.index} ('{ref.options[ref.index - 1]}')"
    where = "; ".join(_quote(s) for s in spans)
    if not named:
        return Verdict(False, f"no option named in {where}; the answer is {right}")
    if len(named) > 1:
        listed = ", ".join(f"{k} ({how})" for k, how in sorted(named.items()))
        return Verdict(False, f"names {len(named)} options in {where}: {listed}; exactly one must be chosen")
    (k, how), = named.items()
    verdict = "right" if k == ref.index else f"wrong: the answer is {right}"
    return Verdict(k == ref.index, f"chose option {k} ({how}) in {where}: {verdict}")


def _options_named(span: Span, options: list[str]) -> dict[int, str]:
    """1-based option -> how it was named, for every option the span names."""
    n = len(options)
    named: dict[int, str] = {}
    masked = span.text
    for k in sorted(range(1, n + 1), key=lambda k: -len(options[k - 1])):
        phrase = normalize(options[k - 1]).rstrip(".")
        pattern = re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)", re.IGNORECASE)
        if phrase and pattern.search(masked):
            named.setdefault(k, f"its text '{options[k - 1]}'")
            masked = pattern.sub(lambda m: " " * len(m[0]), masked)  # its words name nothing else

    def add(token: str, how: str) -> None:
        k = int(token) if token.isdigit() else ord(token.upper()) - ord("A") + 1
        if 1 <= k <= n:
            named.setdefault(k, how)

    for pattern, how in ((_OPTION_WORD, "'option {}'"), (_PARENTHESIZED, "'({})'"), (_CLOSING, "'{}'"), (_NUMBER, "'{}'")):
        for m in pattern.finditer(masked):
            add(m[1], how.format(m[1]))
            masked = masked[: m.start()] + " " * (m.end() - m.start()) + masked[m.end() :]
    for m in _CAPITAL.finditer(masked):
        if span.source == "response" and _ARTICLE.match(masked, m.start()):
            continue
        add(m[1], f"'{m[1]}'")
    if masked.strip(_DECORATION).lower() in {chr(ord("a") + i) for i in range(n)}:
        add(masked.strip(_DECORATION), f"'{masked.strip(_DECORATION)}'")
    return named


def grade_numeric(ref: NumericReference, response: str) -> Verdict:
    target = ref.unit_spec
    expected = f"{ref.answer:g}{' ' + ref.unit if ref.unit else ''}"
    tolerance = max(ref.rel_tol * abs(ref.answer), ref.abs_tol)
    values: list[tuple[float, str]] = []  # (value in the reference's unit, as written)
    spans = answer_spans(response)
    for span in spans:
        if names_non_finite(span.text):
            return Verdict(False, f"{_quote(span)} asserts a non-finite value")
        if span.source != "response" and has_range(span.text):
            return Verdict(False, f"{_quote(span)} gives a range, not one value")
        found = quantities(span.text)
        if span.source == "response":  # free text: its final statement, without the quantities it merely mentions
            found = [q for q in quantities(final_statement(span.text)) if q.unit is None and not q.unit_text or target and q.unit and q.unit.quantity == target.quantity]
        for q in found:
            if not math.isfinite(q.value):
                return Verdict(False, f"'{q.text}' in {_quote(span)} overflows a float")
            if q.unit_text and q.unit is None:
                return Verdict(False, f"'{q.text}' in {_quote(span)}: unknown unit '{q.unit_text}'")
            if q.unit is not None and target is None:
                return Verdict(False, f"'{q.text}' in {_quote(span)} has a unit ({q.unit.symbol}); the answer is a plain number, {expected}")
            try:
                value = convert(q.value, q.unit, target) if q.unit is not None else q.value
            except ValueError as e:
                return Verdict(False, f"'{q.text}' in {_quote(span)}: {e}; the answer is {expected}")
            except OverflowError:
                return Verdict(False, f"'{q.text}' in {_quote(span)} overflows a float in {target.symbol}")
            values.append((value, q.text))
    where = "; ".join(_quote(s) for s in spans)
    if not values:
        return Verdict(False, f"no number in {where}; the answer is {expected}")
    first = values[0][0]
    if any(not _close(v, first, ref.rel_tol, ref.abs_tol) for v, _ in values[1:]):
        listed = ", ".join(f"'{t}'" for _, t in values)
        return Verdict(False, f"asserts different values in {where}: {listed}")
    value, written = values[-1]
    shown = f"'{written}' = {value:.6g}{' ' + ref.unit if ref.unit else ''}"
    if abs(value - ref.answer) <= tolerance * (1 + 1e-12) + 1e-300:
        return Verdict(True, f"{shown} from {where}: within {tolerance:.3g} of {expected}")
    return Verdict(False, f"{shown} from {where}: off by {value - ref.answer:+.4g}, more than {tolerance:.3g} from {expected}")


def _close(a: float, b: float, rel_tol: float, abs_tol: float) -> bool:
    return abs(a - b) <= max(rel_tol * max(abs(a), abs(b)), abs_tol) * (1 + 1e-12) + 1e-300


def grade_label(ref: LabelReference, response: str) -> Verdict:
    spans = answer_spans(response)
    where = "; ".join(_quote(s) for s in spans)
    answer = ref.answer.strip()
    if ref.labels is None:
        said = {s.text.strip(_DECORATION) for s in spans}
        if len(said) == 1 and said.pop().lower() == answer.lower():
            return Verdict(True, f"{where} is the label '{answer}'")
        return Verdict(False, f"{where} is not exactly the label '{answer}'")
    found: dict[str, str] = {}
    patterns = [(label, re.compile(rf"(?<![\w-]){re.escape(label.strip().lower())}(?![\w-])")) for label in sorted(ref.labels, key=len, reverse=True)]
    for span in spans:
        folded = span.text.lower()
        for label, pattern in patterns:
            if pattern.search(folded):
                found.setdefault(label.strip().lower(), label.strip())
                folded = pattern.sub(lambda m: " " * len(m[0]), folded)
    if not found:
        return Verdict(False, f"no label of {ref.labels} in {where}; the answer is '{answer}'")
    if len(found) > 1:
        return Verdict(False, f"names {len(found)} labels in {where}: {', '.join(sorted(found.values()))}; exactly one must be chosen")
    (label,) = found.values()
    ok = label.lower() == answer.lower()
    return Verdict(ok, f"chose '{label}' in {where}: {'right' if ok else f'wrong: the answer is {answer!r}'}")
