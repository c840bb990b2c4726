"""Telecom units: what quantity each symbol measures and how to convert between them.

Every unit maps a value to its quantity's base unit and back: power ratio -> linear ratio, power
-> W, power spectral density -> W/Hz, frequency -> Hz, time -> s, data rate -> bit/s, length -> m.
Logarithmic units convert through the exponential: P[W] = 10^((P[dBm] - 30) / 10),
r = 10^(r[dB] / 10), PSD[W/Hz] = 10^((PSD[dBm/Hz] - 30) / 10). Bits and bytes stay distinct: a
capital B is a byte (8 bits), so "MB/s" is 8x "Mb/s"; a lower-case spelling of a rate ("mbps")
always means bits.

Symbols match exactly first ("mW", "MB/s"), then case-insensitively where the lower-case spelling
names one unit only ("MHZ", "dbm", "mbps"; never "MW", which would be megawatts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

RATIO, POWER, PSD, FREQUENCY, TIME, RATE, LENGTH = "power ratio", "power", "power spectral density", "frequency", "time", "data rate", "length"


@dataclass(frozen=True)
class Unit:
    symbol: str  # canonical spelling, as written in details
    quantity: str  # RATIO, POWER, ...
    scale: float  # base units per unit (linear units), or the base unit's scale of the logarithm's argument
    log_offset: float | None = None  # logarithmic units: base = scale * 10^((value - log_offset) / 10)

    def to_base(self, value: float) -> float:
        """Value in the quantity's base unit; OverflowError past the float range."""
        if self.log_offset is None:
            return value * self.scale
        return self.scale * 10.0 ** ((value - self.log_offset) / 10.0)

    def from_base(self, value: float) -> float:
        """The base-unit value in this unit; ValueError for a non-positive value in a logarithmic unit."""
        if self.log_offset is None:
            return value / self.scale
        if value <= 0:
            raise ValueError(f"{value:g} has no value in {self.symbol} (a logarithm of a non-positive number)")
        return 10.0 * math.log10(value / self.scale) + self.log_offset


def _linear(quantity: str, **symbols: float) -> dict[str, Unit]:
    return {s: Unit(s, quantity, scale) for s, scale in symbols.items()}


UNITS: dict[str, Unit] = {
    "dB": Unit("dB", RATIO, 1.0, 0.0),
    "linear": Unit("linear", RATIO, 1.0),
    "dBm": Unit("dBm", POWER, 1.0, 30.0),
    "dBW": Unit("dBW", POWER, 1.0, 0.0),
    **_linear(POWER, W=1.0, kW=1e3, mW=1e-3, uW=1e-6, nW=1e-9),
    "dBm/Hz": Unit("dBm/Hz", PSD, 1.0, 30.0),
    "dBW/Hz": Unit("dBW/Hz", PSD, 1.0, 0.0),
    "dBm/kHz": Unit("dBm/kHz", PSD, 1e-3, 30.0),
    "dBm/MHz": Unit("dBm/MHz", PSD, 1e-6, 30.0),
    **_linear(PSD, **{"W/Hz": 1.0, "mW/Hz": 1e-3}),
    **_linear(FREQUENCY, Hz=1.0, kHz=1e3, MHz=1e6, GHz=1e9, THz=1e12),
    **_linear(TIME, s=1.0, ms=1e-3, us=1e-6, ns=1e-9),
    **_linear(RATE, **{"bit/s": 1.0, "kbit/s": 1e3, "Mbit/s": 1e6, "Gbit/s": 1e9, "Tbit/s": 1e12}),
    **_linear(RATE, **{"B/s": 8.0, "kB/s": 8e3, "MB/s": 8e6, "GB/s": 8e9}),
    **_linear(LENGTH, m=1.0, km=1e3, cm=1e-2, mm=1e-3),
}

# Other spellings of the same units, matched exactly.
ALIASES: dict[str, str] = {
    "dBi": "dB", "decibel": "dB", "decibels": "dB", "x": "linear", "×": "linear", "times": "linear",
    "watt": "W", "watts": "W", "milliwatt": "mW", "milliwatts": "mW", "µW": "uW", "μW": "uW",
    "hertz": "Hz", "sec": "s", "second": "s", "seconds": "s", "msec": "ms", "millisecond": "ms", "milliseconds": "ms",
    "µs": "us", "μs": "us", "microsecond": "us", "microseconds": "us", "nanoseconds": "ns",
    "bps": "bit/s", "b/s": "bit/s", "kbps": "kbit/s", "kb/s": "kbit/s", "Mbps": "Mbit/s", "Mb/s": "Mbit/s",
    "Gbps": "Gbit/s", "Gb/s": "Gbit/s", "Tbps": "Tbit/s", "Tb/s": "Tbit/s",
    "Bps": "B/s", "kBps": "kB/s", "KB/s": "kB/s", "MBps": "MB/s", "GBps": "GB/s",
    "meter": "m", "meters": "m", "metre": "m", "metres": "m", "kilometers": "km", "kilometres": "km",
}  # fmt: skip

# Lower-case spellings that name one unit only (never a byte rate: those need the capital B).
_FOLDED: dict[str, str] = {
    **{s.lower(): s for s in ("dB", "dBm", "dBW", "dBm/Hz", "dBW/Hz", "dBm/kHz", "dBm/MHz", "W", "kW", "Hz", "kHz", "MHz", "GHz", "THz", "dBi")},
    **{s.lower(): s for s in ("bps", "kbps", "Mbps", "Gbps", "Tbps", "b/s", "kb/s", "Mb/s", "Gb/s", "bit/s", "kbit/s", "Mbit/s", "Gbit/s")},
}


def find_unit(text: str) -> Unit | None:
    """The unit spelled ``text`` ("dBm", "MHZ", "Mbps", "µs"), or None when it is not a unit."""
    name = ALIASES.get(text, text)
    if name in UNITS:
        return UNITS[name]
    folded = _FOLDED.get(text.lower())
    return UNITS[ALIASES.get(folded, folded)] if folded else None


def convert(value: float, source: Unit, target: Unit) -> float:
    """``value`` in ``source`` expressed in ``target`` (same quantity). Raises ValueError for
    different quantities or a value with no logarithm, OverflowError past the float range."""
    if source.quantity != target.quantity:
        raise ValueError(f"{source.symbol} measures {source.quantity}, {target.symbol} measures {target.quantity}")
    if source == target:
        return value
    return target.from_base(source.to_base(value))


def unit_spellings() -> list[str]:
    """Every spelling :func:`find_unit` knows, longest first (for building a matching pattern)."""
    return sorted({*UNITS, *ALIASES, *_FOLDED}, key=len, reverse=True)
