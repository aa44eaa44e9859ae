"""Throughput of the engine over ../shared/corpus/phishing_pot beside the stdlib parse of the same messages.

Prints, in one run: messages/s, p50/p99 latency and peak RSS for
  - the floor: stdlib `email` parse (compat32, what ingest uses, and policy.default for reference),
  - the engine: `Engine().scan` (ingest, walk, analyzers, scoring),
and the wall time of `triage scan` on one sample, interpreter start included (median of several runs).

    .venv/bin/python bench/scan_corpus.py [--corpus DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import gc
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "phishing_pot"
SAMPLE = ROOT / "samples" / "01_welcome_party_zip_exe.eml"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(label: str, messages: list[bytes], fn: Callable[[bytes], object], repeat: int) -> float:
    latencies: list[float] = []
    gc.collect()
    start = time.perf_counter()
    for _ in range(repeat):
        for raw in messages:
            t0 = time.perf_counter()
            fn(raw)
            latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    rate = len(latencies) / elapsed
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(
        f"{label:<34} {rate:9.1f} msg/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   peak RSS {_peak_rss_mib():7.1f} MiB"
    )
    return rate


def _cli_wall(sample: Path, runs: int) -> float:
    exe = ROOT / ".venv" / "bin" / "triage"
    cmd = [str(exe) if exe.exists() else "triage", "scan", str(sample)]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cli-runs", type=int, default=7)
    args = parser.parse_args()

    files = sorted(p for p in args.corpus.iterdir() if p.is_file())
    if not files:
        print(f"no messages under {args.corpus}", file=sys.stderr)
        return 1
    messages = [p.read_bytes() for p in files]
    total = sum(len(m) for m in messages)
    print(f"corpus: {args.corpus} — {len(messages)} messages, {total / 1e6:.1f} MB, repeat {args.repeat}")
    print(f"peak RSS before scanning: {_peak_rss_mib():.1f} MiB")

    compat = email.policy.compat32
    default = email.policy.default
    floor = _measure(
        "floor: email parse (compat32)",
        messages,
        lambda raw: email.message_from_bytes(raw, policy=compat),
        args.repeat,
    )
    _measure(
        "ref: email parse (policy.default)",
        messages,
        lambda raw: email.message_from_bytes(raw, policy=default),
        args.repeat,
    )

    from triage.engine import Engine

    t0 = time.perf_counter()
    engine = Engine()
    print(f"Engine() set-up: {(time.perf_counter() - t0) * 1000:.1f} ms")
    verdicts: dict[str, int] = {}
    crashed = 0

    def scan(raw: bytes) -> None:
        nonlocal crashed
        report = engine.scan(raw)
        verdicts[report.verdict.level.value] = verdicts.get(report.verdict.level.value, 0) + 1
        crashed += sum(1 for n in report.notes if n.kind.value == "crashed")

    rate = _measure("triage: Engine.scan", messages, scan, args.repeat)
    print(f"engine / floor: {floor / rate:.2f}x slower (target ≤ 3x)")

    # The message-level analyzers (sender, links, origin, Japanese text, lures) against the foundation's
    # artifact analyzers alone: their cost is bounded at 20 % of the corpus scan time.
    from triage.analyzers.executable import ExecutableAnalyzer
    from triage.analyzers.filename import FilenameAnalyzer

    lean = Engine(analyzers=(FilenameAnalyzer(), ExecutableAnalyzer()))
    lean_rate = _measure("baseline: artifact analyzers only", messages, lambda raw: lean.scan(raw), args.repeat)
    print(f"message analyzers add {(lean_rate / rate - 1) * 100:.1f} % to the scan time (target ≤ 20 %)")
    print(f"verdicts: {dict(sorted(verdicts.items()))}; crashed notes: {crashed}")

    if SAMPLE.exists():
        wall = _cli_wall(SAMPLE, args.cli_runs)
        print(
            f"`triage scan {SAMPLE.name}` wall time (median of {args.cli_runs}): {wall * 1000:.0f} ms (target ≤ 600 ms)"
        )
        baseline = statistics.median([_time_cmd([sys.executable, "-c", "pass"]) for _ in range(args.cli_runs)])
        print(f"baseline: bare interpreter start: {baseline * 1000:.0f} ms")
    return 0


def _time_cmd(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
