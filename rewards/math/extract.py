"""Final-answer extraction from a model response (string manipulation only: no eval).

Rules, in priority order; the first rule that finds something wins, and within a rule the last
occurrence in the text wins:
  1. boxed: the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces matched) or ``\\boxed 5``;
  2. hashes: GSM8K-style ``#### 72``;
  3. answer_is: "the answer is X", "final answer: X", "Answer: X";
  4. latex_delimiters: the last ``\\( \\)``, ``\\[ \\]``, ``$$ $$`` or ``$ $`` span (right side of its last "=");
  5. final_number: the last plain number ("1,234", "-3.5", "3/4").
Text is normalized first: unicode minus and dashes, vulgar fractions (``2½`` -> ``\\frac{5}{2}``),
``\\frac12`` -> ``\\frac{1}{2}``, spacing macros. Only the last MAX_RESPONSE_CHARS are scanned.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

MAX_RESPONSE_CHARS = 20_000


@dataclass(frozen=True)
class Extraction:
    answer: str  # LaTeX fragment without delimiters
    source: str  # boxed | hashes | answer_is | latex_delimiters | final_number


_MINUS = dict.fromkeys(map(ord, "\u2212\u2012\u2013\u2014\ufe63\uff0d"), "-")
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2009\u202f\u2007"), " ")
_VULGAR = re.compile(r"(\d*)([\u00bc-\u00be\u2150-\u215e])")
_FRAC_SHORT = re.compile(r"\\[dt]?frac\s*(\d)\s*(\d)")
_FRAC_NAMES = re.compile(r"\\[dt]frac")
_SPACING = re.compile(r"\\[!,;:]|\\left|\\right")
_HASHES = re.compile(r"####[ \t]*([^\n]+)")
_ANSWER_IS = re.compile(r"(?:the\s+(?:final\s+)?answer\s+is|final\s+answer\s*:|answer\s*:)[ \t]*:?[ \t]*([^\n]+)", re.IGNORECASE)
_DELIMS = [re.compile(r"\\\((.+?)\\\)", re.S), re.compile(r"\\\[(.+?)\\\]", re.S), re.compile(r"\$\$([^$]+)\$\$"), re.compile(r"\$([^$\n]+)\$")]
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def _vulgar(match: re.Match) -> str:
    value = Fraction(unicodedata.numeric(match.group(2))).limit_denominator(16)
    if match.group(1):
        value += int(match.group(1))
    return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def normalize_text(text: str) -> str:
    text = text.translate(_MINUS).translate(_SPACES).replace("\u2044", "/")
    text = _VULGAR.sub(_vulgar, text)
    text = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", text)
    text = _FRAC_NAMES.sub(r"\\frac", text)
    return _SPACING.sub("", text)


def _clean(answer: str) -> str:
    answer = answer.strip().rstrip(".").strip()
    for left, right in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if answer.startswith(left) and answer.endswith(right) and len(answer) > len(left) + len(right):
            answer = answer[len(left) : -len(right)].strip()
    if _THOUSANDS.match(answer):
        answer = answer.replace(",", "")
    if re.fullmatch(r"-?\d+/\d+", answer):
        num, den = answer.split("/")
        answer = f"\\frac{{{num}}}{{{den}}}"
    return answer


def _last_boxed(text: str) -> str | None:
    """Content of the last complete \\boxed{...}/\\fbox{...}, scanning braces iteratively."""
    for match in reversed(list(re.finditer(r"\\(?:boxed|fbox)", text))):
        i = match.end()
        if text[i : i + 1] == " " and re.match(r" ([^\s{}$]+)", text[i:]):
            return re.match(r" ([^\s{}$]+)", text[i:]).group(1)
        if text[i : i + 1] != "{":
            continue
        depth = 0
        for j in range(i, len(text)):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    return text[i + 1 : j]
    return None


def _last(pattern: re.Pattern, text: str) -> str | None:
    last = None
    for last in pattern.finditer(text):
        pass
    return last.group(1) if last else None


def extract_final_answer(response: str) -> Extraction | None:
    text = normalize_text(response[-MAX_RESPONSE_CHARS:])
    boxed = _last_boxed(text)
    if boxed is not None and boxed.strip():
        return Extraction(_clean(boxed), "boxed")
    for source, pattern in (("hashes", _HASHES), ("answer_is", _ANSWER_IS)):
        found = _last(pattern, text)
        if found and _clean(found):
            return Extraction(_clean(found), source)
    spans = [(m.start(), m.group(1)) for p in _DELIMS for m in p.finditer(text)]
    if spans:
        content = max(spans)[1].rsplit("=", 1)[-1]
        if _clean(content):
            return Extraction(_clean(content), "latex_delimiters")
    number = _last(re.compile(f"({_NUMBER.pattern})"), text)
    return Extraction(_clean(number), "final_number") if number else None
