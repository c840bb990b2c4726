"""A scoring step with one 300-case problem among ordinary ones, under the code verifier's budgets,
side by side in one run.

The step: 63 samples of a 5-case stdin/stdout problem answered right, plus one sample of a
300-case problem whose program is either slow but right (each case sleeps 50 ms) or stuck (each
case spins until its 0.5 s CPU limit). Each set-up scores the whole step through a real code
verifier on a real sandbox (both local services, started here):

- every case, no budget: ``--code-reward fraction --max-seconds 1e6`` (each case runs, as a
  verifier that runs every case in one call would);
- all-or-nothing, default budget: ``--code-reward all`` (a failing case ends the problem; 60 s);
- fraction, 10 s budget: ``--code-reward fraction --max-seconds 10``;
- all-or-nothing, first 20 cases: ``--max-tests 20``.

Printed: the step's scoring wall time, its ratio to the ordinary step without the long problem,
and the long problem's status, cases run and sandbox calls.

    python bench/code_long_tail.py [--out docs/results/code-long-tail.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from contract.schema import Sample
from rewards.builtin import code_serve_args
from rewards.client import VerifierClient
from serving.client import ClientOptions
from serving.local import LocalServices

SETUPS = {
    "every case, no budget": ("fraction", None, 1e6),
    "all-or-nothing, 60 s budget": ("all", None, 60.0),
    "fraction, 10 s budget": ("fraction", None, 10.0),
    "all-or-nothing, first 20 cases": ("all", 20, 60.0),
}
ORDINARY = Sample(
    id="ordinary", verifier="code", prompt="add",
    reference={"tests": [{"stdin": f"{i} {i + 1}\n", "stdout": f"{2 * i + 1}\n"} for i in range(5)]},
    response="```python\na, b = map(int, input().split())\nprint(a + b)\n```",
)  # fmt: skip
LONG = {"tests": [{"stdin": f"{i}\n", "stdout": f"{2 * i}\n"} for i in range(300)], "time_limit_s": 0.5}
LONG_PROGRAMS = {
    "slow but right": "import time\ntime.sleep(0.05)\nprint(2 * int(input()))",
    "stuck": "int(input())\nwhile True:\n    pass",
}


def step(long_program: str | None) -> list[Sample]:
    samples = [ORDINARY.model_copy(update={"id": f"ordinary-{i}"}) for i in range(63)]
    if long_program is not None:
        samples.append(Sample(id="long", verifier="code", prompt="double", reference=LONG, response=f"```python\n{LONG_PROGRAMS[long_program]}\n```"))
    return samples


async def score(address: str, samples: list[Sample]):
    client = VerifierClient([address], ClientOptions(deadline_s=1800.0))
    try:
        start = time.perf_counter()
        scores = await client.score(samples)
        return time.perf_counter() - start, scores
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    lines = ["setup | long problem's program | step scoring s | x ordinary step | long problem: status, cases run, sandbox calls"]
    with LocalServices(["sandbox"]) as sandbox:
        for name, (reward, max_tests, max_seconds) in SETUPS.items():
            service_args = {"code": code_serve_args(reward, max_tests, max_seconds) + ["--sandbox", sandbox["sandbox"][0]]}
            with LocalServices(["code"], service_args=service_args) as code:
                address = code["code"][0]
                asyncio.run(score(address, step(None)))  # warm the pool
                base, _ = asyncio.run(score(address, step(None)))
                for kind in LONG_PROGRAMS:
                    seconds, scores = asyncio.run(score(address, step(kind)))
                    long = scores[-1]
                    c = long.components
                    lines.append(f"{name} | {kind} | {seconds:.1f} | {seconds / base:.1f} | {long.status.value}, {c['cases_run']:.0f}, {c['sandbox_calls']:.0f}")
                    print(lines[-1], flush=True)
                lines.append(f"{name} | (none: 63 ordinary samples) | {base:.2f} | 1.0 |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(f"$ python bench/code_long_tail.py --out {args.out}\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
