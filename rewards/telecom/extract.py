"""What a telecom response asserts: its answer spans, and the quantities written in them.

:func:`answer_spans` picks where the answer is, in priority order:

1. ``boxed``: every complete ``\\boxed{...}`` (a unit written right after a box is part of it,
   as in ``\\boxed{23.5}\\,\\text{dB}``);
2. ``answer_is``: the rest of the line after the last "the answer is", "Answer:", "the correct
   option is" (any case, markdown bold allowed);
3. ``response``: the whole response (its last ``MAX_RESPONSE_CHARS`` characters).

:func:`quantities` reads numbers with their units from a span after :func:`normalize`: signs,
decimals, thousands separators ("1,000"), exponents ("1.2e-3", "1.2 \\times 10^{-3}", "10^-3"),
``\\frac{a}{b}``, and a unit right after the number ("30kHz", "-174 dBm/Hz"). A number glued to
letters that are not a unit ("5G", "3GPP", "n78") is an identifier, not a quantity. Every
pattern runs in linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rewards.math.extract import MAX_RESPONSE_CHARS, boxes
from rewards.telecom.units import Unit, find_unit, unit_spellings

_ANSWER_IS = re.compile(r"\b(?:answer|correct (?:option|choice))(?:\*\*)?(?:\s+is\b|\s*:)\s*:?[\s*]*([^\n]*)", re.IGNORECASE)
_LATEX_WRAPPERS = re.compile(r"\\(?:text|textrm|mathrm|mbox|operatorname|mathbf|textbf)\s*\{([^{}]*)\}")
_LATEX_FRACTION = re.compile(r"\\[dt]?frac\s*\{\s*(-?\d+(?:\.\d+)?)\s*\}\s*\{\s*(\d+(?:\.\d+)?)\s*\}")
_LATEX_SYMBOLS = {
    r"\times": "×", r"\cdot": "·", r"\approx": "≈", r"\sim": "≈", r"\infty": "∞", r"\%": "%",
    r"\left": "", r"\right": "", r"\,": " ", r"\;": " ", r"\:": " ", r"\!": "", r"\ ": " ", "~": " ", "$": "",
}  # fmt: skip
_LATEX_MICRO = re.compile(r"\\mu(?![a-zA-Z])\s*")  # "\mu s" -> "µs"
_LATEX_SYMBOL = re.compile("|".join(re.escape(k) for k in sorted(_LATEX_SYMBOLS, key=len, reverse=True)))
_CHARS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2012": "-", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u03bc": "µ", "{": "", "}": ""})
_SUPERSCRIPT = re.compile("([⁺⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)")
_SUPERSCRIPT_CHARS = str.maketrans("⁺⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "+-0123456789")

UNIT_PATTERN = "|".join(re.escape(u) for u in unit_spellings())  # any unit spelling (match case-insensitively)
_QUANTITY = re.compile(
    r"(?<![\w.^/-])(?P<sign>[-+]?)(?P<mantissa>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?:[eE](?P<e>[-+]?\d{1,4})|\s?[×x*·]\s?10\s?\^\s?\(?(?P<times10>[-+]?\d{1,4})\)?|\^\s?\(?(?P<power>[-+]?\d{1,4})\)?)?"
    rf"(?:\s?(?P<unit>{UNIT_PATTERN})(?![\w/]))?"
    r"(?P<glued>(?<=\d)[A-Za-z])?",
    re.IGNORECASE,
)
_UNIT_AHEAD = re.compile(rf"({UNIT_PATTERN})(?![\w/])", re.IGNORECASE)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z])|\n")
_RANGE = re.compile(r"\d\s?[-–]\s?\d")  # "20-30 dB": a range, not the number 20
_NON_FINITE = re.compile(r"\b(?:nan|inf|infinity|infinite)\b|∞", re.IGNORECASE)


@dataclass(frozen=True)
class Quantity:
    value: float  # may be inf when the written number overflows a float
    unit: Unit | None  # None: no unit written, or one this module does not know
    unit_text: str  # the unit as written, "" when none
    text: str  # the whole quantity as written (after normalization)


@dataclass(frozen=True)
class Span:
    text: str  # normalized
    source: str  # boxed | answer_is | response


def normalize(text: str) -> str:
    """LaTeX wrappers and spacing to plain text, unicode minus signs and superscript exponents to
    ASCII, braces removed: ``\\text{dB}`` -> ``dB``, ``10^{-3}`` -> ``10^-3``, ``10⁻³`` -> ``10^-3``."""
    text = _LATEX_WRAPPERS.sub(r" \1", text)
    text = _LATEX_FRACTION.sub(lambda m: repr(float(m[1]) / float(m[2])) if float(m[2]) else m[0], text)
    text = _LATEX_MICRO.sub("µ", text)
    text = _LATEX_SYMBOL.sub(lambda m: _LATEX_SYMBOLS[m[0]], text)
    text = _SUPERSCRIPT.sub(lambda m: "^" + m[1].translate(_SUPERSCRIPT_CHARS), text)
    return " ".join(text.translate(_CHARS).split())


def answer_spans(response: str) -> list[Span]:
    """The spans holding the response's answer (see the module docstring); never empty."""
    text = response[-MAX_RESPONSE_CHARS:]
    boxed = [(content, end) for content, end in boxes(text) if content.strip()]
    if boxed:
        spans = []
        for content, end in boxed:
            inner = normalize(content)
            found = quantities(inner)
            if found and not found[-1].unit_text and (unit := _UNIT_AHEAD.match(normalize(text[end : end + 40]))):
                inner += " " + unit[1]
            spans.append(Span(inner, "boxed"))
        return spans
    marked = list(_ANSWER_IS.finditer(text))
    for match in reversed(marked):
        if match[1].strip(" *.:"):
            return [Span(normalize(match[1]), "answer_is")]
    return [Span(normalize(text), "response")]


def quantities(span: str) -> list[Quantity]:
    """Every number in a normalized span with the unit written right after it, in order."""
    out = []
    for m in _QUANTITY.finditer(span):
        if m["glued"]:
            continue  # "5G", "3GPP": an identifier
        mantissa = m["mantissa"].replace(",", "")
        exponent = m["e"] or m["times10"]
        try:
            value = float(f"{m['sign']}{mantissa}e{exponent}" if exponent else f"{m['sign']}{mantissa}")
            if m["power"]:
                value = float(m["sign"] + "1") * float(mantissa) ** int(m["power"])
        except (OverflowError, ZeroDivisionError):
            value = float("inf")
        unit = m["unit"] or ""
        out.append(Quantity(value, find_unit(unit) if unit else None, unit, m[0].strip()))
    return out


def final_statement(text: str) -> str:
    """The last sentence (or line) of ``text`` that holds a digit, from after its last "=" or
    "≈" on: where free text without a box or an "answer is" states its result."""
    sentences = [s for s in _SENTENCE_BREAK.split(text) if any(c.isdigit() for c in s)]
    return re.split(r"[=≈]", sentences[-1])[-1].strip() if sentences else ""


def has_range(span: str) -> bool:
    """``span`` writes a range of numbers ("20-30 dB", "20 – 30")."""
    return _RANGE.search(span) is not None


def names_non_finite(span: str) -> bool:
    """``span`` asserts NaN or an infinity in words or symbols."""
    return _NON_FINITE.search(span) is not None
