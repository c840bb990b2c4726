"""The languages the sandbox runs: where the source goes, how it is compiled and started."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.isolation import find_compiler, find_python


@dataclass(frozen=True)
class Language:
    name: str
    source: str  # file name of the program in the working directory
    run: tuple[str, ...]  # argv; the request's own argv is appended
    compile: tuple[str, ...] | None = None  # argv of the compile step, None for interpreted languages


def available_languages() -> dict[str, Language]:
    """Python 3 always (the sandbox needs it); C++ when g++ is installed."""
    languages = {"python": Language("python", "main.py", (find_python(), "-I", "main.py"))}
    gxx = find_compiler()
    if gxx:
        languages["cpp"] = Language("cpp", "main.cpp", ("./main",), (gxx, "-std=c++17", "-O2", "-pipe", "-o", "main", "main.cpp"))
    return languages
