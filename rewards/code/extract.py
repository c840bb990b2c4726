"""The program in a response: the last non-empty fenced code block of the language (or untagged),
else the whole response when it parses as a program of that language (Python only: C++ needs a
fence)."""

from __future__ import annotations

import ast
import re
import warnings

FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE)
TAGS = {
    "python": {"python", "py", "python3", ""},
    "cpp": {"cpp", "c++", "cc", "cxx", ""},
}


def extract_program(response: str, language: str = "python") -> str | None:
    """The program to run, or None when the response holds none."""
    tags = TAGS.get(language, {language, ""})
    blocks = [m.group(3) for m in FENCE.finditer(response) if m.group(2).lower() in tags and m.group(3).strip()]
    if blocks:
        return blocks[-1]
    if language == "python" and response.strip() and _parses(response):
        return response
    return None


def _parses(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            ast.parse(source)
        return True
    except (SyntaxError, ValueError):
        return False
