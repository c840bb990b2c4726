"""The built-in telecom task: radio-engineering questions with exactly computed answers.

Every question is drawn from seeded parameters and its answer computed from the formula or the
table of the standard, never looked up from a dataset:

- dB and linear ratios, dBm and W: r[dB] = 10 log10(r), P[dBm] = 10 log10(P / 1 mW);
- free-space path loss (Friis): FSPL[dB] = 20 log10(4 pi d f / c), c = 299 792 458 m/s;
- thermal noise: N = k T B with k = 1.380649e-23 J/K (SI), T = 290 K, plus the noise figure;
- Shannon capacity: C = B log2(1 + SNR);
- link budget: P_rx = P_tx + G_tx + G_rx - FSPL - losses;
- 5G NR numerology (3GPP TS 38.211, 4.2-4.3): subcarrier spacing 15 * 2^mu kHz, slot 1 ms / 2^mu,
  2^mu slots per subframe and 10 * 2^mu per frame, 14 OFDM symbols per slot (normal CP);
- maximum transmission bandwidth N_RB for a channel bandwidth and subcarrier spacing (FR1,
  3GPP TS 38.101-1, Table 5.3.2-1);
- the frequency range of a carrier (labels FR1 / FR2, TS 38.101-1 and 38.101-2).

Numeric questions also come as mcq variants whose distractors are the values of typical mistakes
(20 log10 for a power ratio, a kHz/MHz slip, the neighbouring numerology). Questions are unique
by prompt, shuffled with the seed and split so that no prompt is in both train and test.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from contract.schema import ChatMessage, Sample

C = 299_792_458.0  # m/s
K_BOLTZMANN = 1.380649e-23  # J/K
T0 = 290.0  # K, the reference noise temperature

# 3GPP TS 38.101-1 Table 5.3.2-1: N_RB by subcarrier spacing (kHz) and channel bandwidth (MHz).
NRB_FR1: dict[int, dict[int, int]] = {
    15: {5: 25, 10: 52, 15: 79, 20: 106, 25: 133, 30: 160, 40: 216, 50: 270},
    30: {5: 11, 10: 24, 15: 38, 20: 51, 25: 65, 30: 78, 40: 106, 50: 133, 60: 162, 70: 189, 80: 217, 90: 245, 100: 273},
    60: {10: 11, 15: 18, 20: 24, 25: 31, 30: 38, 40: 51, 50: 65, 60: 79, 70: 93, 80: 107, 90: 121, 100: 135},
}
FR1_MHZ = (410.0, 7125.0)
FR2_MHZ = (24250.0, 71000.0)
CARRIERS_GHZ = [0.617, 0.7, 0.75, 0.85, 0.9, 1.5, 1.8, 1.9, 2.1, 2.3, 2.5, 2.6, 3.5, 3.7, 4.5, 4.9, 5.9, 6.4, 7.0,
                24.5, 26.0, 27.5, 28.0, 37.0, 39.0, 40.0, 43.0, 47.0, 50.0, 57.0, 60.0, 66.0, 70.0]  # fmt: skip
BOXED_VALUE = "Give the final answer with its unit in \\boxed{}."
BOXED_COUNT = "Give the final answer as a number in \\boxed{}."
BOXED_OPTION = "Answer with the option number in \\boxed{}."


@dataclass(frozen=True)
class Question:
    """One generated question before it becomes a sample."""

    text: str
    answer: float | str
    unit: str = ""  # numeric: the answer's unit ("" for a count)
    distractors: list[float] = field(default_factory=list)  # numeric: wrong values for the mcq variant
    labels: list[str] = field(default_factory=list)  # label questions
    decimals: int = 2  # how the mcq options are written
    noun: str = ""  # counts: what is counted, written in mcq options ("4 slots") so no option reads as an option number


def fspl_db(d_m: float, f_hz: float) -> float:
    return 20 * math.log10(4 * math.pi * d_m * f_hz / C)


def noise_dbm(bandwidth_hz: float, noise_figure_db: float = 0.0) -> float:
    return 10 * math.log10(K_BOLTZMANN * T0 * bandwidth_hz / 1e-3) + noise_figure_db


def _db_to_linear(rng: random.Random) -> Question:
    x = rng.choice([v / 2 for v in range(-20, 81) if v])
    return Question(f"Express a power ratio of {x:g} dB as a linear ratio.", 10 ** (x / 10), "linear", [10 ** (x / 20), x / 10, 10 ** (x / 10) * 2], decimals=3)


def _linear_to_db(rng: random.Random) -> Question:
    r = rng.choice([1.5, 2, 3, 4, 5, 8, 10, 20, 25, 50, 64, 100, 200, 500, 1000, 2000, 5000, 0.5, 0.25, 0.1, 0.01])
    return Question(f"A power ratio is {r:g} (linear). What is it in dB?", 10 * math.log10(r), "dB", [20 * math.log10(r), math.log10(r), 10 * math.log(r)])


def _dbm_to_mw(rng: random.Random) -> Question:
    p = rng.randint(-30, 46)
    return Question(f"Convert a power of {p} dBm to milliwatts.", 10 ** (p / 10), "mW", [10 ** ((p - 30) / 10), 10 ** (p / 20), p / 10], decimals=4)


def _watt_to_dbm(rng: random.Random) -> Question:
    w = rng.choice([0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 4, 5, 10, 20, 40, 80, 100, 200])
    dbm = 10 * math.log10(w * 1e3)
    return Question(f"A transmitter delivers {w:g} W. What is its output power in dBm?", dbm, "dBm", [dbm - 30, 20 * math.log10(w * 1e3), dbm + 30])


def _path_loss(rng: random.Random) -> Question:
    d_km = rng.choice([0.05, 0.1, 0.2, 0.5, *range(1, 51)])
    f_ghz = rng.choice([0.7, 0.8, 0.9, 1.8, 2.1, 2.6, 3.5, 4.9, 26, 28, 39])
    loss = fspl_db(d_km * 1e3, f_ghz * 1e9)
    return Question(
        f"What is the free-space path loss over {d_km:g} km at a carrier frequency of {f_ghz:g} GHz (c = 299 792 458 m/s)?",
        loss, "dB", [loss - 6.0206, loss + 60, loss / 2],
    )  # fmt: skip


def _thermal_noise(rng: random.Random) -> Question:
    b_mhz = rng.choice([0.18, 1.4, 3, 5, 10, 15, 20, 25, 40, 50, 60, 80, 100, 200, 400])
    nf = rng.choice([0, 0, 0, *range(1, 11)])
    n = noise_dbm(b_mhz * 1e6, nf)
    where = f" of a receiver with a {nf} dB noise figure" if nf else ""
    return Question(
        f"What is the thermal noise power{where} in a {b_mhz:g} MHz bandwidth at 290 K (k = 1.380649e-23 J/K), in dBm?",
        n, "dBm", [n - 60, n - nf - 30 if nf else n + 30, n + 30 if nf else n - 30],
    )  # fmt: skip


def _shannon(rng: random.Random) -> Question:
    b_mhz = rng.choice([1, 5, 10, 15, 20, 25, 40, 50, 80, 100])
    snr_db = rng.randint(-5, 30)
    capacity = b_mhz * math.log2(1 + 10 ** (snr_db / 10))
    return Question(
        f"What is the Shannon capacity of a {b_mhz} MHz channel at an SNR of {snr_db} dB, in Mbit/s?",
        capacity, "Mbit/s", [b_mhz * math.log2(1 + snr_db) if snr_db > -1 else capacity * 2, b_mhz * math.log10(1 + 10 ** (snr_db / 10)), capacity * 8],
    )  # fmt: skip


def _link_budget(rng: random.Random) -> Question:
    p, gt, gr = rng.choice([20, 23, 30, 33, 40, 43, 46]), rng.choice([0, 3, 6, 12, 15, 18]), rng.choice([0, 2, 3, 6])
    d_km, f_ghz, losses = rng.choice([0.5, 1, 2, 5, 10]), rng.choice([0.9, 1.8, 2.6, 3.5]), rng.choice([0, 2, 3, 5])
    loss = fspl_db(d_km * 1e3, f_ghz * 1e9)
    rx = p + gt + gr - loss - losses
    return Question(
        f"A {p} dBm transmitter with a {gt} dBi antenna reaches a {gr} dBi receive antenna {d_km:g} km away in free space at "
        f"{f_ghz:g} GHz, with {losses} dB of cable and other losses. What is the received power in dBm?",
        rx, "dBm", [rx + 2 * losses if losses else rx + 6.0206, rx - gt - gr, rx + loss / 2],
    )  # fmt: skip


def _numerology(rng: random.Random) -> Question:
    mu = rng.randint(0, 4)
    scs = 15 * 2**mu
    others = [15 * 2**m for m in range(5) if m != mu]
    asks: list[Callable[[], Question]] = [
        lambda: Question(f"In 5G NR, what is the subcarrier spacing of numerology mu = {mu}?", scs, "kHz", others),
        lambda: Question(f"In 5G NR, how long is one slot with {scs} kHz subcarrier spacing?", 1 / 2**mu, "ms", [1 / 2**m for m in range(5) if m != mu], decimals=4),
        lambda: Question(f"In 5G NR with {scs} kHz subcarrier spacing, how many slots are in one 10 ms radio frame?", 10 * 2**mu, "", [10 * 2**m for m in range(5) if m != mu] + [14 * 2**mu], decimals=0, noun="slots"),
        lambda: Question(f"In 5G NR numerology mu = {mu}, how many slots are in one 1 ms subframe?", 2**mu, "", [2**m for m in range(5) if m != mu], decimals=0, noun="slots"),
        lambda: Question(f"In 5G NR with {scs} kHz subcarrier spacing and normal cyclic prefix, how many OFDM symbols are in one 1 ms subframe?", 14 * 2**mu, "", [12 * 2**mu, 7 * 2**mu, 14 * 2 ** ((mu + 1) % 5)], decimals=0, noun="symbols"),
    ]  # fmt: skip
    return rng.choice(asks)()


def _resource_blocks(rng: random.Random) -> Question:
    scs = rng.choice(sorted(NRB_FR1))
    bw = rng.choice(sorted(NRB_FR1[scs]))
    nrb = NRB_FR1[scs][bw]
    wrong = {v for s, row in NRB_FR1.items() for b, v in row.items() if (s == scs) != (b == bw) and v != nrb}
    distractors = sorted(wrong, key=lambda v: abs(v - nrb))[:3]
    return Question(
        f"In 5G NR FR1 (3GPP TS 38.101-1), what is the maximum transmission bandwidth configuration N_RB, in resource blocks, "
        f"of a {bw} MHz channel with {scs} kHz subcarrier spacing?",
        nrb, "", distractors, decimals=0, noun="RBs",
    )  # fmt: skip


def _frequency_range(rng: random.Random) -> Question:
    f_ghz = rng.choice(CARRIERS_GHZ)
    label = "FR1" if FR1_MHZ[0] <= f_ghz * 1e3 <= FR1_MHZ[1] else "FR2"
    return Question(f"A 5G NR carrier is at {f_ghz:g} GHz. Is it in frequency range FR1 or FR2?", label, labels=["FR1", "FR2"])


TOPICS: dict[str, Callable[[random.Random], Question]] = {
    "db_linear": _db_to_linear, "linear_db": _linear_to_db, "dbm_mw": _dbm_to_mw, "watt_dbm": _watt_to_dbm,
    "path_loss": _path_loss, "thermal_noise": _thermal_noise, "shannon": _shannon, "link_budget": _link_budget,
    "numerology": _numerology, "resource_blocks": _resource_blocks, "frequency_range": _frequency_range,
}  # fmt: skip


def _format(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}" if decimals else f"{value:.0f}"


def to_reference(q: Question, mcq: bool, rng: random.Random) -> tuple[str, dict]:
    """(prompt, reference) of a question, as an mcq when ``mcq`` and it has enough distractors."""
    if q.labels:
        return f"{q.text} Answer with the label in \\boxed{{}}.", {"kind": "label", "answer": q.answer, "labels": q.labels}
    assert isinstance(q.answer, (int, float))
    unit = f" {q.unit or q.noun}" if (q.unit or q.noun) and q.unit != "linear" else ""
    right = _format(q.answer, q.decimals) + unit
    wrong = list(dict.fromkeys(_format(v, q.decimals) + unit for v in q.distractors if math.isfinite(v)))
    wrong = [w for w in wrong if w != right][:3]
    if mcq and len(wrong) == 3:
        options = [right, *wrong]
        rng.shuffle(options)
        listed = "\n".join(f"{i}. {o}" for i, o in enumerate(options, 1))
        return f"{q.text}\n{listed}\n{BOXED_OPTION}", {"kind": "mcq", "options": options, "answer": options.index(right) + 1}
    suffix = BOXED_COUNT if not q.unit else BOXED_VALUE
    reference = {"kind": "numeric", "answer": q.answer, "unit": q.unit, "rel_tol": 0.01}
    if q.unit in ("dB", "dBm"):
        reference["abs_tol"] = 0.05  # a logarithmic answer near 0 still gets a usable tolerance
    if not q.unit:
        reference["rel_tol"] = 0.0  # counts are exact
    return f"{q.text} {suffix}", reference


def telecom_splits(train_size: int = 2000, test_size: int = 200, seed: int = 0, topics: list[str] | None = None, mcq_share: float = 0.5) -> tuple[list[Sample], list[Sample]]:
    """(train, test) samples, unique by question (an mcq and a free-answer form of one question are
    two questions); ``mcq_share`` of the numeric questions come as mcq."""
    chosen = topics or list(TOPICS)
    unknown = sorted(set(chosen) - set(TOPICS))
    if unknown:
        raise ValueError(f"data.telecom.topics: unknown topic(s) {', '.join(unknown)}: choose from {', '.join(TOPICS)}")
    rng = random.Random(seed)
    wanted = train_size + test_size
    seen: dict[tuple[str, str], tuple[str, dict]] = {}  # (question, kind) -> (prompt, reference)
    for _ in range(50 * wanted):
        if len(seen) == wanted:
            break
        question = TOPICS[rng.choice(chosen)](rng)
        prompt, reference = to_reference(question, rng.random() < mcq_share, rng)
        seen.setdefault((question.text, reference["kind"]), (prompt, reference))
    if len(seen) < wanted:
        raise ValueError(f"data.telecom: only {len(seen)} distinct questions from topics {chosen}, {wanted} asked: lower train_size/test_size or add topics")
    items = list(seen.values())
    rng.shuffle(items)

    def sample(split: str, i: int, prompt: str, reference: dict) -> Sample:
        return Sample(id=f"telecom-{split}-{i}", verifier="telecom", prompt=[ChatMessage(role="user", content=prompt)], reference=reference)

    test = [sample("test", i, p, r) for i, (p, r) in enumerate(items[:test_size])]
    train = [sample("train", i, p, r) for i, (p, r) in enumerate(items[test_size:])]
    return train, test
