"""Final-answer extraction from a model response: string manipulation only (no eval, no sympy).

:func:`extract_final_answer` scans the last ``MAX_RESPONSE_CHARS`` characters of a response, after
:func:`normalize_text`, and returns an :class:`Extraction` (a LaTeX fragment without delimiters plus
the rule that found it) or ``None``. Rules, in priority order; the first rule that finds something
wins, and within a rule the last occurrence in the text wins:

1. ``boxed``: ``\\boxed{...}`` / ``\\fbox{...}``, nested braces matched in one iterative pass
   (``\\{`` and ``\\}`` are literal), or the brace-less ``\\boxed 5``. Unterminated or empty boxes
   are skipped.
2. ``hashes``: GSM8K-style ``#### 72``: the rest of that line. A markdown heading (a word right
   after the hashes, as in ``#### Step 2``) is skipped.
3. ``answer_is``: "the answer is X", "final answer: X", "Answer: X" (any case, markdown bold
   allowed): X up to the end of its sentence or line; a clause after ", <word>" is dropped, and an
   X that starts with a math span is only that span.
4. ``latex_delimiters``: the last ``\\( \\)``, ``\\[ \\]``, ``$$ $$`` or ``$ $`` span; for an
   equation, the right-hand side of its last "=". ``$`` follows Pandoc's rule (no space inside
   the delimiters, no digit right after the closing one), so "costs $5 and $10" is not math.
   A span holding a lone letter ("the value of $x$ is 5") is skipped.
5. ``final_number``: the last plain number ("-3.5", "1,234" -> "1234", "3/4" -> "\\frac{3}{4}").

:func:`normalize_text` turns unicode minus signs (and an en dash, or an em dash before a digit)
into "-", vulgar fractions and the fraction slash into ``\\frac{a}{b}`` ("2½" -> ``\\frac{5}{2}``),
``\\frac12`` / ``\\dfrac`` / ``\\tfrac`` into ``\\frac{1}{2}``, no-break spaces into spaces (between
digit groups, as in "1 000", they are thousands separators and dropped), and removes ``\\!``, ``\\,``,
``\\left``, ``\\right``, surrounding whitespace and a final period.

Every answer is cleaned the same way: normalized again, unwrapped from ``$``/``\\( \\)``, with
currency (``$18``, ``18 dollars``) and trailing words after a number ("5 apples") removed and
thousands separators dropped from a lone number (never inside tuples or sets). Every regex here
runs in linear time: no nested quantifiers over overlapping classes, and patterns that start with
a run of digits or a quantifier are anchored by a lookbehind so they never restart inside a run.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_RESPONSE_CHARS = 20_000


@dataclass(frozen=True)
class Extraction:
    answer: str  # LaTeX fragment without delimiters, e.g. "\\frac{1}{2}", "-3", "x^2+1"
    source: str  # boxed | hashes | answer_is | latex_delimiters | final_number


_SPACE_CHARS = "\u00a0\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
_VULGAR_CHARS = "\u00bc\u00bd\u00be" + "".join(map(chr, range(0x2150, 0x215F))) + "\u2189"
_VULGAR_PARTS = {ch: tuple(map(int, unicodedata.normalize("NFKC", ch).split("\u2044"))) for ch in _VULGAR_CHARS}
_CHAR_MAP: dict[int, str | None] = {
    **dict.fromkeys(map(ord, "\u2212\u2010\u2011\u2012\u2013\u02d7\u2796\ufe63\uff0d"), "-"),
    **dict.fromkeys(map(ord, _SPACE_CHARS), " "),
    **dict.fromkeys(map(ord, "\u200b\u2060\ufeff"), None),
    **{ord(ch): f"\\frac{{{num}}}{{{den}}}" for ch, (num, den) in _VULGAR_PARTS.items()},
}
_SPACE_THOUSANDS = re.compile(r"(?<=\d)[\u00a0\u202f\u2009](?=\d{3}(?!\d))")
_EM_DASH_MINUS = re.compile("\u2014(?=\\d)")
_MIXED_NUMBER = re.compile(rf"(?<![\d.])(\d{{1,9}})([{_VULGAR_CHARS}])")
_SLASH_FRACTION = re.compile(r"(?<!\d)(\d{1,9})\u2044(\d{1,9})(?!\d)")
_FRAC_NAME = re.compile(r"\\[dtc]frac(?![a-zA-Z])")
_FRAC_ARG = r"(\{[^{}]*\}|\\[a-zA-Z]+|[^\s{}\\])"
_FRAC_ARGS = re.compile(rf"\\frac(?![a-zA-Z])(?!\{{[^{{}}]*\}}\{{)\s*{_FRAC_ARG}\s*{_FRAC_ARG}")
_SPACING = re.compile(r"\\[!,;:]|\\(?:left|right)(?![a-zA-Z])\.?|\\displaystyle(?![a-zA-Z])")
_BRACED_COMMA = re.compile(r"(?<=\d)\{,\}(?=\d)")

_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])\s*")
_BOX_TOKEN = re.compile(r"-?\d+(?:[.,/]\d+)*|[A-Za-z](?!\w)")
_BRACE = re.compile(r"\\[\\{}]|[{}]")
_HASHES = re.compile(r"(?<!#)####(?!#)[ \t]*([^\n]*)")
_HEADING = re.compile(r"[\s*_]*[A-Za-z]{2}")
_ANSWER_IS = re.compile(r"\banswer(?:\*\*)?(?:\s+is\b|\s*:)\s*:?[\s*]*([^\n]*)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?=\s|$)")
_CLAUSE = re.compile(r",\s+(?=[A-Za-z]{2})")
_MATH = re.compile(
    r"\\\(((?:[^\\]|\\(?![()]))*?)\\\)"  # \( ... \), content never holds another \( or \)
    r"|\\\[((?:[^\\]|\\(?![\[\]]))*?)\\\]"  # \[ ... \]
    r"|\$\$([^$]+)\$\$"  # $$ ... $$
    r"|(?<![\\$])\$(?![\s$])([^$\n]*)(?<![\s\\])\$(?!\d)"  # $ ... $, Pandoc's rule
)
_LONE_LETTER = re.compile(r"[A-Za-z]")
_NUMBER = re.compile(
    r"(?:(?<![\w)\]}])-)?(?:\\frac\{\d+\}\{\d+\}|(?<![\w.])"
    r"(?:\d+/\d+|\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+))"
)
_CURRENCY = re.compile(r"\\?\$\s*(?=-?[.\d])|\\(?:text|mbox|mathrm)\{\s*(?:dollars?|USD)\s*\}")
_NUMBER_THEN_WORDS = re.compile(r"(-?[\d.,/]+)\s+[A-Za-z]{2}[A-Za-z\s]*")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SIMPLE_FRACTION = re.compile(r"(-?)(\d+)/(\d+)")


def _mixed_number(match: re.Match[str]) -> str:
    """``\\frac{5}{2}`` for a whole number followed by a vulgar fraction ("2½")."""
    num, den = _VULGAR_PARTS[match[2]]
    return f"\\frac{{{int(match[1]) * den + num}}}{{{den}}}"


def _frac_args(match: re.Match[str]) -> str:
    """``\\frac12`` / ``\\frac 1 2`` / ``\\frac\\pi2`` -> braced arguments."""
    num, den = (arg if arg.startswith("{") else "{" + arg + "}" for arg in match.groups())
    return f"\\frac{num}{den}"


def normalize_text(text: str) -> str:
    """Unify minus signs, spaces, fractions and spacing macros; strip whitespace and a final period."""
    text = _MIXED_NUMBER.sub(_mixed_number, _SPACE_THOUSANDS.sub("", text))
    text = _EM_DASH_MINUS.sub("-", text.translate(_CHAR_MAP))
    text = _SLASH_FRACTION.sub(r"\\frac{\1}{\2}", text).replace("\u2044", "/")
    text = _FRAC_ARGS.sub(_frac_args, _FRAC_NAME.sub(r"\\frac", text))
    text = _BRACED_COMMA.sub(",", _SPACING.sub("", text)).strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()
    return text


def _unwrap(answer: str) -> str:
    """Drop one pair of math delimiters wrapping the whole answer."""
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        inner = answer[len(left) : -len(right)]
        if answer.startswith(left) and answer.endswith(right) and inner.strip() and left not in inner:
            return inner.strip()
    return answer


def _clean(answer: str) -> str:
    """Normalize an extracted answer; "" when nothing is left."""
    answer = _unwrap(normalize_text(answer).strip("*").strip())
    answer = _CURRENCY.sub("", answer).strip()
    if words := _NUMBER_THEN_WORDS.fullmatch(answer):
        answer = words[1]
    if _THOUSANDS.fullmatch(answer):
        answer = answer.replace(",", "")
    if fraction := _SIMPLE_FRACTION.fullmatch(answer):
        answer = f"{fraction[1]}\\frac{{{fraction[2]}}}{{{fraction[3]}}}"
    return answer


def _matching_braces(text: str) -> dict[int, int]:
    """Map the index of each ``{`` to that of its matching ``}``, in one iterative pass."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for match in _BRACE.finditer(text):
        if match[0] == "{":
            stack.append(match.start())
        elif match[0] == "}" and stack:
            pairs[stack.pop()] = match.start()
    return pairs


def boxes(text: str) -> list[tuple[str, int]]:
    """(raw content, offset just past the box) of every complete ``\\boxed{...}`` / ``\\fbox``
    (or brace-less ``\\boxed 5``) in ``text``, in order; unterminated boxes are left out."""
    found = list(_BOX.finditer(text))
    pairs = _matching_braces(text) if found else {}
    out = []
    for box in found:
        start = box.end()
        if text.startswith("{", start):
            end = pairs.get(start)
            if end is not None:
                out.append((text[start + 1 : end], end + 1))
        elif token := _BOX_TOKEN.match(text, start):
            out.append((token[0], token.end()))
    return out


def _boxed(text: str) -> str:
    """Cleaned content of the last complete, non-empty box, or ""."""
    for content, _ in reversed(boxes(text)):
        if answer := _clean(content):
            return answer
    return ""


def _hashes(text: str) -> str:
    """Cleaned text after the last ``####`` that is not a markdown heading, or ""."""
    for match in reversed(list(_HASHES.finditer(text))):
        if not _HEADING.match(match[1]) and (answer := _clean(match[1])):
            return answer
    return ""


def _math_content(match: re.Match[str]) -> str:
    """Content of a ``_MATH`` match, whichever delimiter it used."""
    return next(group for group in match.groups() if group is not None)


def _answer_is(text: str) -> str:
    """Cleaned X of the last "the answer is X" / "Answer: X", or ""."""
    for match in reversed(list(_ANSWER_IS.finditer(text))):
        phrase = match[1]
        if span := _MATH.match(phrase):
            phrase = _math_content(span)
        else:
            phrase = _CLAUSE.split(_SENTENCE_END.split(phrase, 1)[0], 1)[0]
        if answer := _clean(phrase):
            return answer
    return ""


def _latex_span(text: str) -> str:
    """Cleaned content (right of its last "=") of the last math span not holding a lone letter."""
    for match in reversed(list(_MATH.finditer(text))):
        answer = _clean(_math_content(match).rsplit("=", 1)[-1])
        if answer and not _LONE_LETTER.fullmatch(answer):
            return answer
    return ""


def _final_number(text: str) -> str:
    """The last plain number in the text, cleaned, or ""."""
    last = None
    for last in _NUMBER.finditer(text):
        pass
    return _clean(last[0]) if last else ""


_RULES = (
    ("boxed", _boxed),
    ("hashes", _hashes),
    ("answer_is", _answer_is),
    ("latex_delimiters", _latex_span),
    ("final_number", _final_number),
)


def extract_final_answer(response: str) -> Extraction | None:
    """The final answer of a model response by the first rule that finds one, or None."""
    text = normalize_text(response[-MAX_RESPONSE_CHARS:])
    for source, rule in _RULES:
        if answer := rule(text):
            return Extraction(answer, source)
    return None
