"""LiveCodeBench's private test cases are decoded without unpickling anything but plain data."""

from __future__ import annotations

import base64
import json
import pathlib
import pickle
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.code import plain_pickle
from rewards.code.plain_pickle import UnsafePickleError, decode_private_cases, loads_plain


def plain(with_bytes: bool):
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    return st.recursive(
        leaves | st.binary() if with_bytes else leaves,
        lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=20,
    )


def pack(value, protocol=pickle.DEFAULT_PROTOCOL) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(value, protocol=protocol))).decode()


@settings(max_examples=300, deadline=None)
@given(data=st.data(), protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_plain_data_loads_as_pickle_would(data, protocol):
    value = data.draw(plain(with_bytes=protocol >= 3))  # protocols 0-2 rebuild bytes by a call, which is refused
    assert loads_plain(pickle.dumps(value, protocol=protocol)) == value


def test_bytes_of_old_protocols_are_refused_as_a_call():
    with pytest.raises(UnsafePickleError, match="names"):
        loads_plain(pickle.dumps(b"x", protocol=2))


def test_private_cases_decode_as_livecodebench_stores_them():
    cases = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}, {"input": "[1, 2]", "output": "3", "testtype": "functional"}]
    assert decode_private_cases(pack(json.dumps(cases))) == cases
    assert decode_private_cases(json.dumps(cases)) == cases  # already JSON


class Touch:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_pickle_that_would_call_something_is_refused_before_it_runs(tmp_path, protocol):
    marker = tmp_path / "ran"
    with pytest.raises(UnsafePickleError, match="only plain strings, numbers, lists and dicts"):
        decode_private_cases(pack([Touch(str(marker))], protocol))
    assert not marker.exists()


@pytest.mark.parametrize(
    "field,message",
    [
        ("not base64 at all!", "neither JSON nor base64"),
        (base64.b64encode(b"plain bytes").decode(), "not zlib data"),
        (base64.b64encode(zlib.compress(b"\x80\x04\x95garbage")).decode(), "not a readable pickle"),
        (base64.b64encode(zlib.compress(pickle.dumps({"a": 1}))).decode(), "holds a dict"),
    ],
)
def test_fields_that_are_not_test_cases_are_refused(field, message):
    with pytest.raises(UnsafePickleError, match=message):
        decode_private_cases(field)


def test_decompression_is_capped(monkeypatch):
    monkeypatch.setattr(plain_pickle, "MAX_DECOMPRESSED_BYTES", 1000)
    with pytest.raises(UnsafePickleError, match="inflates past"):
        decode_private_cases(pack("x" * 5000))
