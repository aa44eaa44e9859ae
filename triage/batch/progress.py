"""Sweep progress: a rich bar on a terminal (messages, rate, ETA, per-verdict counts), plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any, Protocol, TextIO

_LOG_EVERY = 10.0  # seconds between plain log lines


class Progress(Protocol):
    def start(self, total_bytes: int) -> None: ...

    def advance(self, outcome: str, size: int) -> None:
        """One message done: `outcome` is its verdict, an error kind, or "done" for one skipped on resume."""

    def stop(self) -> None: ...


class Tally:
    """Counts shared by both displays."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.bytes_done = 0
        self.total_bytes = 0
        self.started = time.monotonic()
        self.stopped: float | None = None  # when the scan phase ended (PPAP, campaigns and exports follow)

    def add(self, outcome: str, size: int) -> None:
        self.counts[outcome] += 1
        self.bytes_done += size

    @property
    def scanned(self) -> int:
        return sum(n for k, n in self.counts.items() if k != "done")

    def rate(self) -> float:
        elapsed = max(1e-6, time.monotonic() - self.started)
        return self.scanned / elapsed

    def eta(self) -> float | None:
        if not self.total_bytes or not self.bytes_done:
            return None
        elapsed = time.monotonic() - self.started
        left = max(0, self.total_bytes - self.bytes_done)
        return elapsed * left / self.bytes_done

    def line(self) -> str:
        parts = " ".join(f"{k}={n}" for k, n in sorted(self.counts.items()))
        eta = self.eta()
        eta_text = f", ETA {eta:.0f}s" if eta is not None else ""
        pct = f", {100 * self.bytes_done / self.total_bytes:.0f}%" if self.total_bytes else ""
        return f"{self.scanned} messages ({self.rate():.1f}/s{pct}{eta_text}) {parts}"


class LogProgress:
    def __init__(self, stream: TextIO | None = None, every: float = _LOG_EVERY) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.tally = Tally()
        self._last = 0.0

    def start(self, total_bytes: int) -> None:
        self.tally.total_bytes = total_bytes
        self._last = time.monotonic()

    def advance(self, outcome: str, size: int) -> None:
        self.tally.add(outcome, size)
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            print(f"triage batch: {self.tally.line()}", file=self.stream, flush=True)

    def stop(self) -> None:
        self.tally.stopped = time.monotonic()
        print(f"triage batch: {self.tally.line()}", file=self.stream, flush=True)


class RichProgress:
    def __init__(self) -> None:
        self.tally = Tally()
        self._progress: Any = None
        self._task: Any = None

    def start(self, total_bytes: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.tally.total_bytes = total_bytes
        self._progress = Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task("sweep", total=max(1, total_bytes), status="")
        self._progress.start()

    def advance(self, outcome: str, size: int) -> None:
        self.tally.add(outcome, size)
        if self._progress is not None:
            self._progress.update(self._task, completed=self.tally.bytes_done, status=self.tally.line())

    def stop(self) -> None:
        self.tally.stopped = time.monotonic()
        if self._progress is not None:
            self._progress.update(self._task, completed=self.tally.total_bytes, status=self.tally.line())
            self._progress.stop()


class NoProgress:
    def __init__(self) -> None:
        self.tally = Tally()

    def start(self, total_bytes: int) -> None:
        self.tally.total_bytes = total_bytes

    def advance(self, outcome: str, size: int) -> None:
        self.tally.add(outcome, size)

    def stop(self) -> None:
        self.tally.stopped = time.monotonic()


def for_terminal(quiet: bool = False) -> Progress:
    if quiet:
        return NoProgress()
    return RichProgress() if sys.stderr.isatty() else LogProgress()
