"""Load through a real Postfix with and without `triage milter`: messages/s, added latency, nothing lost.

Starts a throw-away Postfix on 127.0.0.1 (the gateway tests' harness, tests/gateway/_postfix.py), drives N
concurrent SMTP sessions sending a fixed mix of samples/*.eml and corpus messages (/work/shared/corpus/**/*.eml)
through a Postfix without a milter (the baseline) and one with the milter, in alternating rounds, and prints for
each: messages/s, p50/p99 latency of the SMTP transaction (MAIL FROM to the reply to DATA) for messages under
1 MB, and sent vs delivered/held/rejected. The added latency is the milter's percentile minus the baseline's.
It also prints the CPU time the milter and its workers spent per message, which does not depend on how busy
the machine is.

Needs root and Debian's postfix (like the gateway tests). Bounded: --messages and --sessions, loopback only.
    .venv/bin/python bench/gateway_load.py --sessions 20 --messages 400
"""

from __future__ import annotations

import argparse
import json
import os
import random
import smtplib
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from gateway._postfix import DOMAIN, Milter, Postfix, _descendants, running_postfix  # noqa: E402

CORPUS = Path(os.environ.get("TRIAGE_CORPUS", ROOT.parent / "shared" / "corpus"))
SMALL = 1024 * 1024
SITE = """
[gateway]
workers = 2
deadline_seconds = 20.0
"""


@dataclass
class Run:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, messages < 1 MB
    accepted: int = 0
    rejected: int = 0
    tempfailed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    delivered: int = 0
    held: int = 0


def load_messages(count: int, seed: int) -> list[bytes]:
    paths = sorted((ROOT / "samples").glob("*.eml"))
    corpus = sorted(p for p in CORPUS.rglob("*.eml") if p.stat().st_size < 4 * SMALL) if CORPUS.exists() else []
    rng = random.Random(seed)
    rng.shuffle(corpus)
    chosen = paths + corpus[: max(0, count - len(paths))]
    out: list[bytes] = []
    for path in chosen:
        raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # SMTP wants CRLF
        out.append(raw)
    while len(out) < count:  # not enough corpus: repeat the mix
        out.append(out[len(out) % max(1, len(chosen))])
    return out[:count]


def drive(postfix: Postfix, messages: list[bytes], sessions: int, name: str) -> Run:
    run = Run(name)
    lock = threading.Lock()
    shares = [messages[i::sessions] for i in range(sessions)]

    def session(share: list[bytes]) -> None:
        try:
            smtp = postfix.smtp()
        except OSError as exc:
            with lock:
                run.errors.append(f"connect: {exc}")
            return
        with smtp:
            for raw in share:
                started = time.monotonic()
                try:
                    smtp.sendmail("bench@example.org", [f"user@{DOMAIN}"], raw)
                    outcome = "accepted"
                except smtplib.SMTPDataError as exc:
                    outcome = "rejected" if exc.smtp_code >= 500 else "tempfailed"
                    smtp.rset()
                except smtplib.SMTPException as exc:
                    with lock:
                        run.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                elapsed = time.monotonic() - started
                with lock:
                    setattr(run, outcome, getattr(run, outcome) + 1)
                    if len(raw) < SMALL:
                        run.latencies.append(elapsed)

    threads = [threading.Thread(target=session, args=(share,)) for share in shares]
    delivered0, held0 = postfix.count_delivered(), postfix.count_held()
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    run.seconds = time.monotonic() - started
    # wait until everything accepted is in the Maildir or the hold queue
    end = time.monotonic() + 120
    while time.monotonic() < end:
        run.delivered, run.held = postfix.count_delivered() - delivered0, postfix.count_held() - held0
        if run.delivered + run.held >= run.accepted:
            break
        time.sleep(0.2)
    return run


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of `pid` and everything under it, reaped children included."""
    total = 0.0
    for proc in (pid, *_descendants(pid)):
        try:
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(run: Run, total: int) -> None:
    lost = run.accepted - run.delivered - run.held
    print(
        f"{run.name:>9}: {total / run.seconds:7.1f} msg/s  p50 {pct(run.latencies, 0.5) * 1000:7.1f} ms  "
        f"p99 {pct(run.latencies, 0.99) * 1000:7.1f} ms  sent {total}  accepted {run.accepted}  "
        f"delivered {run.delivered}  held {run.held}  rejected {run.rejected}  tempfailed {run.tempfailed}  "
        f"errors {len(run.errors)}  lost {lost}"
    )
    for error in run.errors[:5]:
        print(f"           {error}")


def merge(runs: list[Run], name: str) -> Run:
    total = Run(name)
    for run in runs:
        total.latencies += run.latencies
        total.errors += run.errors
        for key in ("accepted", "rejected", "tempfailed", "seconds", "delivered", "held"):
            setattr(total, key, getattr(total, key) + getattr(run, key))
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20, help="concurrent SMTP sessions (max 100)")
    parser.add_argument("--messages", type=int, default=400, help="messages per run (max 5000)")
    parser.add_argument("--rounds", type=int, default=2, help="baseline and milter runs, interleaved (max 10)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    sessions = max(1, min(args.sessions, 100))
    rounds = max(1, min(args.rounds, 10))
    messages = load_messages(max(1, min(args.messages, 5000)), args.seed)
    small = sum(1 for m in messages if len(m) < SMALL)
    print(
        f"{len(messages)} messages ({small} under 1 MB) x {rounds} rounds, {sessions} concurrent sessions, "
        "127.0.0.1 only"
    )
    warm = messages[: min(20, len(messages))]
    baselines: list[Run] = []
    gateways: list[Run] = []
    milter_cpu = 0.0
    # Both Postfix instances stay up and the runs alternate, so a change in the machine's load hits both alike.
    with running_postfix(with_milter=False) as plain, running_postfix(with_milter=True) as postfix:
        milter = Milter(postfix, SITE, factory=None)
        milter.start()
        try:
            drive(plain, warm, min(sessions, 5), "warm-up")
            drive(postfix, warm, min(sessions, 5), "warm-up")
            assert milter.proc is not None
            for index in range(rounds):
                baselines.append(drive(plain, messages, sessions, f"baseline{index}"))
                cpu0 = cpu_seconds(milter.proc.pid)
                gateways.append(drive(postfix, messages, sessions, f"milter{index}"))
                milter_cpu += cpu_seconds(milter.proc.pid) - cpu0
            events = [json.loads(line) for line in milter.log().splitlines() if '"event": "message"' in line]
            scan_ms = [float(e["duration_ms"]) for e in events[len(warm) :]]
        finally:
            milter.stop()
    baseline, gateway = merge(baselines, "baseline"), merge(gateways, "milter")
    sent = len(messages) * rounds
    report(baseline, sent)
    report(gateway, sent)
    added50 = (pct(gateway.latencies, 0.5) - pct(baseline.latencies, 0.5)) * 1000
    added99 = (pct(gateway.latencies, 0.99) - pct(baseline.latencies, 0.99)) * 1000
    mean_added = (statistics.fmean(gateway.latencies) - statistics.fmean(baseline.latencies)) * 1000
    print(f"added latency (<1 MB): p50 {added50:.1f} ms  p99 {added99:.1f} ms  mean {mean_added:.1f} ms")
    print(f"milter CPU (milter + workers): {milter_cpu * 1000 / sent:.1f} ms per message")
    print(
        f"end-of-message to verdict in the milter (scan + wait for a worker): p50 {pct(scan_ms, 0.5):.1f} ms  "
        f"p99 {pct(scan_ms, 0.99):.1f} ms"
    )
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    lost = gateway.accepted - gateway.delivered - gateway.held
    print(f"target p99 added <= 150 ms: {'met' if added99 <= 150 else 'NOT met'}; lost: {lost}")
    return 0 if lost == 0 and not gateway.errors else 1


if __name__ == "__main__":
    sys.exit(main())
