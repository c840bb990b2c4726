"""Decode LiveCodeBench's stored private test cases without ever unpickling an arbitrary object.

LiveCodeBench keeps a problem's private test cases as ``base64(zlib(pickle(json_text)))``. A pickle
can name any importable callable and call it on load, so :func:`loads_plain` accepts only what
plain data needs (strings, numbers, booleans, None, lists, tuples, dicts, and bytes from protocol
3 on): any opcode that would import a name (a class, a function) is refused with
:class:`UnsafePickleError` before anything runs; without an imported name there is nothing to
call. (Protocols 0-2 rebuild bytes by calling ``bytes`` or ``_codecs.encode``, so they are refused
too.) Decompression is capped, so a small field cannot expand
into gigabytes.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import zlib
from typing import Any

MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024


class UnsafePickleError(ValueError):
    """A pickle that asks for more than plain data, or a field that is not a pickle at all."""


class _PlainUnpickler(pickle.Unpickler):
    """An unpickler that imports nothing: every global (class, function) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise UnsafePickleError(f"the pickle names {module}.{name}: only plain strings, numbers, lists and dicts are accepted, so it was not loaded")


def loads_plain(data: bytes) -> Any:
    """The plain value a pickle holds; :class:`UnsafePickleError` for anything that would import
    or call a name (``find_class`` is where every such opcode must go)."""
    try:
        return _PlainUnpickler(io.BytesIO(data)).load()
    except UnsafePickleError:
        raise
    except Exception as e:  # a truncated or damaged pickle: pickle raises many types
        raise UnsafePickleError(f"not a readable pickle ({type(e).__name__}: {e})") from None


def decode_private_cases(field: str) -> list[dict[str, Any]]:
    """LiveCodeBench's ``private_test_cases`` field: base64, then zlib, then a pickled JSON text of
    a list of ``{"input", "output", "testtype"}``. A field that is already JSON text is read as is."""
    stripped = field.strip()
    if stripped.startswith("["):
        cases = json.loads(stripped)
    else:
        try:
            packed = base64.b64decode(stripped, validate=True)
        except binascii.Error as e:
            raise UnsafePickleError(f"private_test_cases is neither JSON nor base64 ({e})") from None
        inflate = zlib.decompressobj()
        try:
            raw = inflate.decompress(packed, MAX_DECOMPRESSED_BYTES)
        except zlib.error as e:
            raise UnsafePickleError(f"private_test_cases is not zlib data ({e})") from None
        if inflate.unconsumed_tail:
            raise UnsafePickleError(f"private_test_cases inflates past {MAX_DECOMPRESSED_BYTES // 2**20} MiB: refused")
        value = loads_plain(raw)
        cases = json.loads(value) if isinstance(value, (str, bytes)) else value
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
        raise UnsafePickleError(f"private_test_cases holds a {type(cases).__name__}, not a list of test cases")
    return cases
