"""The fuzz tests (tests/test_fuzz.py) with many more examples, and how many inputs each tried.

Runs pytest on the fuzz module with VERITY_FUZZ_EXAMPLES set, collects the count of inputs each
test tried (a test that scores batches tries several inputs per example), and prints one row per
test: examples, inputs, rows that mapped (dataset rows), seconds, and whether it passed. The suite
runs the same tests with 100 examples each.

Usage: python bench/fuzz.py [--examples 2000] [--out docs/results/fuzz.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000, help="hypothesis examples per test (the code verifier's test takes a fifth)")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "counts.jsonl"
        junit = Path(tmp) / "junit.xml"
        env = {**os.environ, "VERITY_FUZZ_EXAMPLES": str(args.examples), "VERITY_FUZZ_REPORT": str(report)}
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_fuzz.py", f"--junitxml={junit}", "-o", "junit_duration_report=call"], cwd=ROOT, env=env)
        seconds = time.monotonic() - started
        counts = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
        outcomes = junit_outcomes(junit)
    lines = [f"$ python bench/fuzz.py --examples {args.examples}", f"{'test':<72} {'examples':>8} {'inputs':>8} {'mapped':>7} {'s':>7}  result"]
    for c in counts:
        outcome, took = outcomes.get(c["test"], ("?", 0.0))
        lines.append(f"{c['test']:<72} {c['examples']:>8} {c['inputs']:>8} {c.get('mapped', ''):>7} {took:>7.1f}  {outcome}")
    lines.append(f"{'total':<72} {'':>8} {sum(c['inputs'] for c in counts):>8} {'':>7} {seconds:>7.1f}  {'all passed' if result.returncode == 0 else 'FAILURES (see above)'}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return result.returncode


def junit_outcomes(path: Path) -> dict[str, tuple[str, float]]:
    """test name -> (passed / failed / skipped, seconds), from pytest's JUnit XML."""
    import xml.etree.ElementTree as ET

    if not path.exists():
        return {}
    outcomes = {}
    for case in ET.parse(path).iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        outcome = "failed" if failed else "skipped" if case.find("skipped") is not None else "passed"
        outcomes[case.get("name")] = (outcome, float(case.get("time", 0)))
    return outcomes


if __name__ == "__main__":
    sys.exit(main())
