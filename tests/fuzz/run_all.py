"""`make fuzz`: run every harness for FUZZ_SECONDS each, one after another, and print per harness the executions,
exec/s and crashes (distinct exceptions recorded by the harness, plus libFuzzer's timeout / out-of-memory stops).

A harness that libFuzzer stops early (a timeout or the RSS limit) is restarted for the rest of its time.
Findings go to tests/fuzz/findings/<harness>/ (gitignored). Not part of `make test` or CI.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FINDINGS = HERE / "findings"
_RUNS = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_DONE = re.compile(r"Done (\d+) runs in")
_STOP = re.compile(r"==\d+== ERROR: libFuzzer: (\S+)|ERROR: libFuzzer: (\S+)")


def harnesses(only: list[str]) -> list[Path]:
    found = sorted(HERE.glob("fuzz_*.py"))
    if only:
        found = [p for p in found if p.stem.removeprefix("fuzz_") in only]
    return found


def run_one(path: Path, seconds: int, rss_mb: int, timeout: int) -> tuple[int, float, int, list[str]]:
    """(executions, exec/s, distinct crashes, libFuzzer stops) for one harness."""
    name = path.stem.removeprefix("fuzz_")
    out_dir = FINDINGS / name
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "fuzz.log"
    crashes_log = out_dir / "crashes.log"
    crashes_before = len(crashes_log.read_text(encoding="utf-8").splitlines()) if crashes_log.exists() else 0
    env = {**os.environ, "FUZZ_KEEP_GOING": "1"}
    runs = 0
    stops: list[str] = []
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as sink:
        while (left := seconds - (time.monotonic() - started)) > 5:
            cmd = [
                sys.executable,
                str(path),
                f"-max_total_time={int(left)}",
                f"-rss_limit_mb={rss_mb}",
                f"-timeout={timeout}",
                "-print_final_stats=1",
            ]
            proc = subprocess.run(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, check=False
            )
            sink.write(proc.stdout)
            counted = _RUNS.findall(proc.stdout) or _DONE.findall(proc.stdout)
            runs += int(counted[-1]) if counted else 0
            stop = _STOP.search(proc.stdout)
            if proc.returncode == 0:
                break
            stops.append(next(g for g in stop.groups() if g) if stop else f"exit {proc.returncode}")
            if not stop:
                break  # not a libFuzzer stop (e.g. an import error): restarting would fail the same way
    elapsed = max(time.monotonic() - started, 1e-9)
    crashes_after = len(crashes_log.read_text(encoding="utf-8").splitlines()) if crashes_log.exists() else 0
    return runs, runs / elapsed, crashes_after - crashes_before, stops


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "300")))
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--timeout", type=int, default=20, help="libFuzzer's per-input timeout in seconds")
    parser.add_argument("only", nargs="*", help="harness names (zip, engine, ...); default: all")
    args = parser.parse_args()
    total_crashes = 0
    rows = []
    for path in harnesses(args.only):
        name = path.stem.removeprefix("fuzz_")
        print(f"== {name}: {args.seconds}s", flush=True)
        runs, rate, crashes, stops = run_one(path, args.seconds, args.rss_limit_mb, args.timeout)
        total_crashes += crashes + len(stops)
        extra = f", libFuzzer stops: {', '.join(stops)}" if stops else ""
        line = f"{name}: {runs} executions, {rate:.1f} exec/s, {crashes} new crash(es){extra}"
        rows.append(line)
        print(line, flush=True)
    print("\n".join(["== summary", *rows]))
    print(f"findings: {FINDINGS}")
    return 1 if total_crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
