"""Load on each service: throughput and latency under 1, 8 and 64 clients, a burst past the
concurrency bound, and a soak that watches memory and file descriptors.

Every service is a real `verity serve NAME` subprocess on loopback (the code verifier with its
own sandbox); every client has its own gRPC channel and sends one request at a time:

- levels: 1, 8 and 64 concurrent clients send --requests requests each level (at least 10 each) (one sample per
  Score call; one program per Execute call); requests per second and p50/p99 latency in ms.
- burst: 4 x the service's bound (--max-concurrent-rpcs, 64 by default) clients send one heavy
  request at once (32 math samples, 1024 telecom ones; a program that sleeps 0.5 s). Calls past the bound must be answered
  RESOURCE_EXHAUSTED at once, not queued: their latency is printed beside the accepted ones'.
- soak: --soak requests (default 20,000) from 8 clients; the resident memory (MiB) and open file
  descriptors of the service's whole process tree (workers and slots included) are sampled as it
  goes, and printed at the start (after a warm-up) and at the end.

Usage: python bench/load.py [--services math telecom code sandbox] [--requests 400] [--soak 20000]
       [--out docs/results/load.txt] [--plot docs/results/load.png]
Run as root (the sandbox gives each slot its own uid).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from contract.schema import Sample
from contract.v1 import sandbox_pb2, sandbox_pb2_grpc, verifier_pb2, verifier_pb2_grpc
from contract.wire import sample_to_pb
from serving.local import LocalServices

LEVELS = (1, 8, 64)
SOAK_CLIENTS = 8
WARMUP = 500  # soak requests before the first memory reading
SAMPLE_EVERY = 500  # soak requests between readings


def math_sample(i: int) -> Sample:
    return Sample(id=str(i), reference={"answer": "\\frac{1}{2}"}, response="\\boxed{" + ["0.5", "1/2", "\\frac{2}{4}", "0.25"][i % 4] + "}")


def telecom_sample(i: int) -> Sample:
    return Sample(id=str(i), verifier="telecom", reference={"kind": "numeric", "answer": 30, "unit": "dBm"}, response=["\\boxed{1 W}", "30 dBm", "20 dBm"][i % 3])


def code_sample(i: int, program: str = "print(int(input()) * 2)") -> Sample:
    return Sample(id=str(i), verifier="code", reference={"tests": [{"stdin": "21\n", "stdout": "42\n"}]}, response=f"```python\n{program}\n```")


@dataclass
class Service:
    """How to call one service: its stub, its method, and a light and a heavy request."""

    stub: type
    method: str
    light: Callable[[int], object]
    heavy: Callable[[int], object]


def score_request(make: Callable[[int], Sample], n: int) -> Callable[[int], object]:
    return lambda i: verifier_pb2.ScoreRequest(samples=[sample_to_pb(make(i * n + k)) for k in range(n)])


SERVICES = {
    "math": Service(verifier_pb2_grpc.VerifierStub, "Score", score_request(math_sample, 1), score_request(math_sample, 32)),
    "telecom": Service(verifier_pb2_grpc.VerifierStub, "Score", score_request(telecom_sample, 1), score_request(telecom_sample, 1024)),
    "code": Service(verifier_pb2_grpc.VerifierStub, "Score", score_request(code_sample, 1), lambda i: verifier_pb2.ScoreRequest(samples=[sample_to_pb(code_sample(i, "import time\ntime.sleep(0.5)\nprint(42)"))])),
    "sandbox": Service(sandbox_pb2_grpc.SandboxStub, "Execute", lambda i: sandbox_pb2.ExecuteRequest(code=b"print(int(input()) * 2)", language="python", stdin=b"21\n"), lambda i: sandbox_pb2.ExecuteRequest(code=b"import time\ntime.sleep(0.5)", language="python")),
}


@dataclass
class Calls:
    """Latencies (s) by the status code each call ended with."""

    latency: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, code: str, seconds: float) -> None:
        self.latency.setdefault(code, []).append(seconds)

    def count(self, code: str) -> int:
        return len(self.latency.get(code, []))


async def one_call(stub, method: str, request, calls: Calls) -> None:
    started = time.perf_counter()
    try:
        await getattr(stub, method)(request, timeout=600)
        code = "OK"
    except grpc.aio.AioRpcError as e:
        code = e.code().name
    calls.add(code, time.perf_counter() - started)


async def drive(address: str, svc: Service, clients: int, requests: int, make: Callable[[int], object], tick: Callable[[], None] = lambda: None, every: Callable[[int], None] | None = None) -> Calls:
    """``clients`` channels, each sending its share of ``requests`` one at a time."""
    calls = Calls()
    channels = [grpc.aio.insecure_channel(address) for _ in range(clients)]
    stubs = [svc.stub(c) for c in channels]
    await asyncio.gather(*(c.channel_ready() for c in channels))
    counter = iter(range(requests))
    started = time.perf_counter()

    async def client(stub) -> None:
        for i in counter:
            await one_call(stub, svc.method, make(i), calls)
            tick()
            if every and i % SAMPLE_EVERY == 0:
                every(i)

    await asyncio.gather(*(client(s) for s in stubs))
    calls.seconds = time.perf_counter() - started
    await asyncio.gather(*(c.close() for c in channels))
    return calls


async def burst(address: str, svc: Service, clients: int) -> Calls:
    """``clients`` channels, all connected first, each sending one heavy request at once."""
    calls = Calls()
    channels = [grpc.aio.insecure_channel(address) for _ in range(clients)]
    await asyncio.gather(*(c.channel_ready() for c in channels))
    await asyncio.gather(*(one_call(svc.stub(c), svc.method, svc.heavy(i), calls) for i, c in enumerate(channels)))
    await asyncio.gather(*(c.close() for c in channels))
    return calls


def tree_usage(pid: int) -> tuple[float, int]:
    """Resident MiB and open file descriptors of ``pid`` and all its descendants."""
    rss = fds = 0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            rss += proc.memory_info().rss
            fds += proc.num_fds()
        except psutil.NoSuchProcess:
            continue
    return rss / 2**20, fds


def ms(values: list[float], q: float) -> float:
    return 1000 * statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else 1000 * values[0] if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", nargs="+", default=list(SERVICES), choices=list(SERVICES))
    parser.add_argument("--requests", type=int, default=400, help="requests per client level")
    parser.add_argument("--soak", type=int, default=20_000, help="requests of the soak (0: none)")
    parser.add_argument("--bound", type=int, default=64, help="the services' --max-concurrent-rpcs")
    parser.add_argument("--out", type=Path, help="also write the tables here")
    parser.add_argument("--plot", type=Path, help="memory and descriptors over the soak, as PNG")
    args = parser.parse_args()
    lines = [f"$ python bench/load.py --services {' '.join(args.services)} --requests {args.requests} --soak {args.soak} --bound {args.bound}"]
    levels, bursts, soaks = [], [], {}
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()) as bar:
        for name in args.services:
            svc = SERVICES[name]
            services = LocalServices([name], service_args={name: ["--max-concurrent-rpcs", str(args.bound)]})
            with services as endpoints:
                address, pid = endpoints[name][0], services.processes[name].pid
                for clients in LEVELS:
                    requests = max(args.requests, 10 * clients)
                    task = bar.add_task(f"{name}: {clients} clients", total=requests)
                    calls = asyncio.run(drive(address, svc, clients, requests, svc.light, lambda: bar.advance(task)))
                    levels.append((name, clients, calls))
                bursts.append((name, asyncio.run(burst(address, svc, 4 * args.bound))))
                if args.soak:
                    task = bar.add_task(f"{name}: soak", total=args.soak)
                    readings: list[tuple[int, float, int]] = []
                    asyncio.run(drive(address, svc, SOAK_CLIENTS, args.soak, svc.light, lambda: bar.advance(task), lambda i: readings.append((i, *tree_usage(pid))) if i >= WARMUP else None))
                    readings.append((args.soak, *tree_usage(pid)))
                    soaks[name] = readings
    lines += level_table(levels) + burst_table(bursts, args.bound) + soak_table(soaks)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.plot and soaks:
        plot(soaks, args.plot)
    return 0


def level_table(levels) -> list[str]:
    rows = ["", "Levels: clients each sending one request at a time (one sample per Score call, one program per Execute).", f"{'service':<9} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses"]
    for name, clients, calls in levels:
        ok = calls.latency.get("OK", [])
        total = sum(len(v) for v in calls.latency.values())
        rows.append(f"{name:<9} {clients:>7} {total / calls.seconds:>8.1f} {ms(ok, 50):>8.1f} {ms(ok, 99):>8.1f}  {dict(Counter({k: len(v) for k, v in calls.latency.items()}))}")
    return rows


def burst_table(bursts, bound: int) -> list[str]:
    rows = ["", f"Burst: {4 * bound} clients send one heavy request at once to a service bounded at {bound} concurrent calls.", f"{'service':<9} {'accepted':>8} {'refused':>8} {'refused p50/p99 ms':>19} {'accepted p50/p99 ms':>20}  other"]
    for name, calls in bursts:
        ok, refused = calls.latency.get("OK", []), calls.latency.get("RESOURCE_EXHAUSTED", [])
        other = {k: len(v) for k, v in calls.latency.items() if k not in ("OK", "RESOURCE_EXHAUSTED")}
        rows.append(f"{name:<9} {len(ok):>8} {len(refused):>8} {ms(refused, 50):>9.1f}/{ms(refused, 99):<9.1f} {ms(ok, 50):>10.1f}/{ms(ok, 99):<9.1f}  {other or '-'}")
    return rows


def soak_table(soaks) -> list[str]:
    if not soaks:
        return []
    rows = ["", f"Soak: {SOAK_CLIENTS} clients; memory and descriptors of the service's process tree after {WARMUP} requests and at the end.", f"{'service':<9} {'requests':>8} {'RSS MiB start':>13} {'end':>7} {'max':>7} {'fds start':>9} {'end':>5} {'max':>5}"]
    for name, readings in soaks.items():
        (_, rss0, fd0), (n, rss1, fd1) = readings[0], readings[-1]
        rows.append(f"{name:<9} {n:>8} {rss0:>13.1f} {rss1:>7.1f} {max(r[1] for r in readings):>7.1f} {fd0:>9} {fd1:>5} {max(r[2] for r in readings):>5}")
    return rows


def plot(soaks, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (mem, fds) = plt.subplots(1, 2, figsize=(11, 4))
    for name, readings in soaks.items():
        x = [r[0] for r in readings]
        mem.plot(x, [r[1] for r in readings], label=name)
        fds.plot(x, [r[2] for r in readings], label=name)
    mem.set(title="Resident memory of the service's process tree", xlabel="requests", ylabel="MiB")
    fds.set(title="Open file descriptors of the process tree", xlabel="requests", ylabel="descriptors")
    for ax in (mem, fds):
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    raise SystemExit(main())
