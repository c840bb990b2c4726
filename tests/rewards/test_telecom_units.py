"""Unit conversions against values computed by hand."""

from __future__ import annotations

import math

import pytest

from rewards.telecom.units import UNITS, convert, find_unit

HAND = [
    # (value, from, to, expected): each worked out on paper
    (30.0, "dBm", "W", 1.0),  # 10^((30-30)/10) W
    (0.0, "dBm", "mW", 1.0),
    (-30.0, "dBm", "uW", 1.0),  # 1 uW = 1e-6 W = 10^(-60/10) W -> -60 dBW = -30 dBm
    (1.0, "W", "dBW", 0.0),
    (2.0, "W", "dBm", 30 + 10 * math.log10(2)),  # 33.0103 dBm
    (43.0, "dBm", "W", 19.952623149688797),  # 10^1.3
    (20.0, "dBW", "dBm", 50.0),
    (3.0, "dB", "linear", 1.9952623149688795),  # 10^0.3
    (100.0, "linear", "dB", 20.0),
    (0.5, "linear", "dB", -3.010299956639812),
    (-174.0, "dBm/Hz", "dBW/Hz", -204.0),
    (-174.0, "dBm/Hz", "dBm/MHz", -114.0),  # + 10 log10(1e6)
    (-174.0, "dBm/Hz", "mW/Hz", 10**-17.4),
    (3.5, "GHz", "MHz", 3500.0),
    (30.0, "kHz", "Hz", 30000.0),
    (0.125, "ms", "us", 125.0),
    (66.7, "us", "s", 66.7e-6),
    (1.0, "Gbit/s", "Mbit/s", 1000.0),
    (1.0, "MB/s", "Mbit/s", 8.0),  # bytes are 8 bits
    (100.0, "Mbit/s", "MB/s", 12.5),
    (1.5, "km", "m", 1500.0),
]


@pytest.mark.parametrize(("value", "source", "target", "expected"), HAND)
def test_conversions_match_hand_computed_values(value, source, target, expected):
    assert convert(value, find_unit(source), find_unit(target)) == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("symbol", sorted(UNITS))
def test_every_unit_round_trips_through_its_base(symbol):
    unit = UNITS[symbol]
    for value in (-20.0, 0.5, 3.0, 1234.5) if unit.log_offset is not None else (0.001, 0.5, 3.0, 1234.5):
        assert unit.from_base(unit.to_base(value)) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("spelling", "symbol"),
    [("MHZ", "MHz"), ("mhz", "MHz"), ("DBM", "dBm"), ("dbm/hz", "dBm/Hz"), ("Mbps", "Mbit/s"), ("mbps", "Mbit/s"), ("MBps", "MB/s"),
     ("MB/s", "MB/s"), ("Mb/s", "Mbit/s"), ("µs", "us"), ("μs", "us"), ("dBi", "dB"), ("x", "linear"), ("watts", "W"), ("mW", "mW")],
)  # fmt: skip
def test_spellings(spelling, symbol):
    assert find_unit(spelling).symbol == symbol


@pytest.mark.parametrize("spelling", ["MW", "furlong", "S", "", "dBz"])
def test_non_units(spelling):
    assert find_unit(spelling) is None


def test_different_quantities_and_impossible_values_are_refused():
    with pytest.raises(ValueError, match="dBm measures power, dB measures power ratio"):
        convert(3.0, find_unit("dBm"), find_unit("dB"))
    with pytest.raises(ValueError, match="no value in dBm"):
        convert(-1.0, find_unit("W"), find_unit("dBm"))
    with pytest.raises(ValueError, match="no value in dBm"):
        convert(0.0, find_unit("mW"), find_unit("dBm"))
    with pytest.raises(OverflowError):
        convert(1e6, find_unit("dB"), find_unit("linear"))
