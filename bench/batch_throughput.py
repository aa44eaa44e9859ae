"""Mailbox sweep throughput and memory: `triage batch` beside the stdlib parse floor, and flat memory on a
big generated mbox.

Prints, in one run:
  1. an mbox built from every .eml under ../shared/corpus (in a temp dir of its own), then
     - the stdlib parse floor: mailbox.mbox iteration + email.parser.BytesParser(policy=default) + every part's
       content decoded, in one process (and that rate × cores, the floor if parsing alone used every core),
     - `triage batch` over the same mbox with every core (the sweep's scan phase, and the whole run with PPAP
       pairing, campaigns and exports), and the ratio to the floor (target ≥ 1/3),
     - peak RSS of each worker process (target ≤ 300 MiB) and of the parent;
  2. a generated mbox of --big-mb MiB (default 1024) swept the same way, with RSS sampled along the run to
     show it stays flat: the mbox is streamed and never held in memory.

    .venv/bin/python bench/batch_throughput.py [--corpus DIR] [--big-mb N] [--jobs N] [--skip-big]
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import email.policy
import mailbox
import os
import tempfile
import threading
import time
from pathlib import Path

from triage.batch.progress import NoProgress
from triage.batch.sweep import SweepOptions, run_sweep

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


def _corpus_messages(corpus: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(corpus.rglob("*.eml")) if p.is_file()]


def _mbox_record(raw: bytes) -> bytes:
    text = raw.replace(b"\r\n", b"\n")
    lines = [(b">" + line) if line.lstrip(b">").startswith(b"From ") else line for line in text.split(b"\n")]
    body = b"\n".join(lines)
    if not body.endswith(b"\n"):
        body += b"\n"
    return b"From bench@example.com Mon Nov 16 10:00:00 2026\n" + body + b"\n"


def write_mbox(path: Path, messages: list[bytes], target_bytes: int = 0) -> int:
    """Every message once, or repeated until the file reaches target_bytes; returns the message count."""
    count = 0
    size = 0
    with path.open("wb") as fh:
        while True:
            for raw in messages:
                record = _mbox_record(raw)
                fh.write(record)
                size += len(record)
                count += 1
                if target_bytes and size >= target_bytes:
                    return count
            if not target_bytes:
                return count


def parse_floor(path: Path) -> tuple[int, float]:
    parser = email.parser.BytesParser(policy=email.policy.default)
    start = time.perf_counter()
    n = 0
    box = mailbox.mbox(str(path), factory=None, create=False)
    for key in box.iterkeys():
        msg = parser.parsebytes(box.get_bytes(key))
        for part in msg.walk():
            if not part.is_multipart():
                with contextlib.suppress(LookupError, ValueError, AssertionError, TypeError):
                    part.get_content()
        n += 1
    return n, time.perf_counter() - start


class RssSampler:
    """Peak RSS (VmHWM) of this process and of every descendant, sampled from /proc while a sweep runs."""

    def __init__(self, every: float = 0.5) -> None:
        self.every = every
        self.peaks: dict[int, tuple[int, int]] = {}  # pid -> (parent pid, peak KiB)
        self.timeline: list[tuple[float, int, int]] = []  # seconds, parent RSS KiB, largest worker RSS KiB
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.every):
            parents: dict[int, int] = {}
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        stat = Path(f"/proc/{entry}/stat").read_text()
                        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
                    except (OSError, ValueError, IndexError):
                        continue
            family = {me}
            changed = True
            while changed:
                changed = False
                for pid, ppid in parents.items():
                    if ppid in family and pid not in family:
                        family.add(pid)
                        changed = True
            now_parent = 0
            now_worker = 0
            grandchildren = {pid for pid in family if parents.get(pid) != me}
            for pid in family:
                status = _status(pid)
                if not status:
                    continue
                hwm, rss = status
                old = self.peaks.get(pid, (0, 0))[1]
                self.peaks[pid] = (parents.get(pid, 0), max(old, hwm))
                if pid == me:
                    now_parent = rss
                elif pid in grandchildren:
                    now_worker = max(now_worker, rss)
            self.timeline.append((time.monotonic() - self._t0, now_parent, now_worker))


def _status(pid: int) -> tuple[int, int] | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    try:
        return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])
    except (KeyError, ValueError, IndexError):
        return None


def sweep(path: Path, out: Path, jobs: int) -> tuple[dict[str, int], float, float, RssSampler]:
    progress = NoProgress()
    with RssSampler() as sampler:
        start = time.perf_counter()
        summary = run_sweep(SweepOptions(sources=(str(path),), out=out, jobs=jobs), progress)
        total = time.perf_counter() - start
    scan_phase = (progress.tally.stopped or time.monotonic()) - progress.tally.started
    del summary
    return dict(progress.tally.counts), total, min(total, scan_phase), sampler


def _report_rss(sampler: RssSampler) -> None:
    me = os.getpid()
    # Workers are forked by the forkserver (our child), so they are our grandchildren; our direct children are
    # the forkserver and the resource tracker.
    workers = [(pid, kib) for pid, (ppid, kib) in sampler.peaks.items() if pid != me and ppid != me]
    parent = sampler.peaks.get(me, (0, 0))[1]
    print(f"  peak RSS parent: {parent / 1024:.0f} MiB")
    if workers:
        peaks = sorted(kib / 1024 for _, kib in workers)
        print(f"  peak RSS per worker: max {peaks[-1]:.0f} MiB, min {peaks[0]:.0f} MiB over {len(peaks)} processes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--big-mb", type=int, default=1024, help="size of the generated mbox (MiB)")
    ap.add_argument("--skip-big", action="store_true")
    args = ap.parse_args()
    messages = _corpus_messages(args.corpus)
    if not messages:
        raise SystemExit(f"no .eml under {args.corpus}")
    with tempfile.TemporaryDirectory(prefix="triage-bench-") as tmp:
        work = Path(tmp)
        box = work / "corpus.mbox"
        n = write_mbox(box, messages)
        print(f"corpus mbox: {n} messages, {box.stat().st_size / 2**20:.1f} MiB; {args.jobs} jobs")
        parsed, seconds = parse_floor(box)
        floor = parsed / seconds
        print(
            f"stdlib parse floor: {parsed} messages in {seconds:.1f}s = {floor:.0f} msg/s in one process "
            f"({floor * args.jobs:.0f} msg/s if it used all {args.jobs} cores)"
        )
        counts, total, scan, sampler = sweep(box, work / "out", args.jobs)
        done = sum(counts.values())
        print(
            f"triage batch: {done} messages; scan phase {scan:.1f}s = {done / scan:.1f} msg/s; "
            f"whole run (with PPAP, campaigns, exports) {total:.1f}s = {done / total:.1f} msg/s"
        )
        print(
            f"  ratio to the one-process floor: {done / scan / floor:.2f} (target ≥ 0.33); "
            f"to the all-cores floor: {done / scan / floor / args.jobs:.2f}"
        )
        print(f"  outcomes: {counts}")
        _report_rss(sampler)
        if args.skip_big:
            return
        big = work / "big.mbox"
        n = write_mbox(big, messages, args.big_mb * 2**20)
        print(f"generated mbox: {n} messages, {big.stat().st_size / 2**20:.0f} MiB")
        counts, total, scan, sampler = sweep(big, work / "out-big", args.jobs)
        done = sum(counts.values())
        print(f"triage batch: {done} messages in {total:.0f}s = {done / total:.1f} msg/s")
        _report_rss(sampler)
        line = sampler.timeline
        if line:
            print("  RSS along the run (s: parent MiB / largest worker MiB):")
            step = max(1, len(line) // 10)
            for t, parent, worker in line[::step]:
                print(f"    {t:7.0f}s: {parent / 1024:6.0f} / {worker / 1024:6.0f}")


if __name__ == "__main__":
    main()
