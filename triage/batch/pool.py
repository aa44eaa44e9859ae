"""The local engine of a sweep: worker processes with a hard per-message deadline.

Each worker builds its Engine once and takes one chunk of tasks at a time through its own pipe, answering one
result per message, so the parent always knows which message a worker is on. A worker that passes the hard
deadline on one message is killed and replaced: that message becomes a `timeout` error record and the rest of
its chunk is retried on another worker. A worker that dies (a crash in a C library, the OOM killer) is handled
the same way with a `crashed` record. Workers ignore SIGINT: Ctrl-C reaches the parent, which stops them.

This overlaps with triage/isolation.py (the gateway's pool, written at the same time): the sweep needs chunked
work and retries of a chunk's remainder, the gateway one message per request; they may merge later.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from triage.batch.task import CRASHED, TIMEOUT, EngineSpec, ScanResult, Task, error_result

_MAX_START_FAILURES = 3
_POLL_SECONDS = 0.5


class TaskScanner(Protocol):
    def run(self, task: Task) -> ScanResult: ...


ScannerFactory = Callable[[EngineSpec], TaskScanner]


class WorkerStartError(RuntimeError):
    """Workers cannot start (e.g. the configuration does not load in them)."""


def default_factory(spec: EngineSpec) -> TaskScanner:
    from triage.batch.work import Scanner

    return Scanner(spec)


def _worker_main(
    spec: EngineSpec, factory: ScannerFactory, conn: Connection, memory_mb: int | None, owner: int | None = None
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if owner is not None:
        from triage.isolation import exit_with_owner

        exit_with_owner(owner)  # a killed sweep leaves no worker scanning on, orphaned
    if memory_mb:
        # A message that makes a library allocate without bound fails with MemoryError (a `crashed` note) or
        # kills this worker (a `crashed` record), not the machine.
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        scanner = factory(spec)
    except Exception as exc:  # reported to the parent, which stops the sweep: no worker could do better
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        if chunk is None:
            return
        for task in chunk:
            conn.send(("result", scanner.run(task)))


@dataclass
class _Worker:
    proc: BaseProcess
    conn: Connection
    ready: bool = False
    pending: deque[Task] = field(default_factory=deque)
    since: float = 0.0  # when the worker started its current message


@dataclass
class PoolStats:
    timeouts: int = 0
    crashes: int = 0
    respawns: int = 0


class LocalPool:
    def __init__(
        self,
        spec: EngineSpec,
        *,
        jobs: int,
        hard_seconds: float,
        factory: ScannerFactory = default_factory,
        start_method: str = "forkserver",
        memory_mb: int | None = None,
    ) -> None:
        self.memory_mb = memory_mb
        self.spec = spec
        self.jobs = max(1, jobs)
        self.hard_seconds = hard_seconds
        self.factory = factory
        self.ctx: Any = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # Each worker warms its Engine up (every plugin's parser library): import those once, here.
            from triage.registry import warm_modules

            self.ctx.set_forkserver_preload(["triage.batch.pool", "triage.batch.work", *warm_modules()])
        self.stats = PoolStats()
        self._failures = 0

    def _spawn(self) -> _Worker:
        parent, child = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(
            target=_worker_main, args=(self.spec, self.factory, child, self.memory_mb, os.getpid()), daemon=True
        )
        proc.start()
        child.close()
        return _Worker(proc=proc, conn=parent)

    def run(self, chunks: Iterable[list[Task]], emit: Callable[[ScanResult], None]) -> PoolStats:
        """Scan every task of every chunk; `emit` gets each result (in the calling thread)."""
        source: Iterator[list[Task]] = iter(chunks)
        backlog: deque[list[Task]] = deque()
        exhausted = False
        workers = [self._spawn() for _ in range(self.jobs)]
        try:
            while True:
                for w in workers:
                    if w.ready and not w.pending:
                        chunk = backlog.popleft() if backlog else None
                        if chunk is None and not exhausted:
                            chunk = next(source, None)
                            exhausted = chunk is None
                        if chunk:
                            w.pending = deque(chunk)
                            w.since = time.monotonic()
                            w.conn.send(chunk)
                if exhausted and not backlog and not any(w.pending for w in workers):
                    break
                self._wait(workers, backlog, emit)
        finally:
            self._stop(workers)
        return self.stats

    def _wait(self, workers: list[_Worker], backlog: deque[list[Task]], emit: Callable[[ScanResult], None]) -> None:
        now = time.monotonic()
        busy = [w.since + self.hard_seconds - now for w in workers if w.pending]
        timeout = max(0.0, min([_POLL_SECONDS, *busy]))
        waitables: list[Any] = [w.conn for w in workers] + [w.proc.sentinel for w in workers]
        ready = set(wait(waitables, timeout))
        for i, w in enumerate(workers):
            dead = False
            if w.conn in ready or w.proc.sentinel in ready:
                try:
                    while w.conn.poll():
                        self._handle(w, w.conn.recv(), emit)
                except (EOFError, OSError):
                    dead = True
                if w.proc.sentinel in ready and not w.proc.is_alive():
                    dead = True
            if dead:
                workers[i] = self._replace(
                    w, backlog, emit, CRASHED, f"worker process died (exit code {w.proc.exitcode})"
                )
            elif w.pending and time.monotonic() - w.since > self.hard_seconds:
                workers[i] = self._replace(
                    w, backlog, emit, TIMEOUT, f"hard deadline of {self.hard_seconds:g}s passed; worker killed"
                )

    def _handle(self, w: _Worker, message: tuple[str, Any], emit: Callable[[ScanResult], None]) -> None:
        kind, payload = message
        if kind == "ready":
            w.ready = True
            self._failures = 0
        elif kind == "result" and w.pending:
            w.pending.popleft()
            w.since = time.monotonic()
            emit(payload)
        elif kind == "fatal":
            raise WorkerStartError(f"a worker could not start: {payload}")

    def _replace(
        self, w: _Worker, backlog: deque[list[Task]], emit: Callable[[ScanResult], None], kind: str, detail: str
    ) -> _Worker:
        if w.pending:
            current = w.pending.popleft()
            if kind == TIMEOUT:
                self.stats.timeouts += 1
            else:
                self.stats.crashes += 1
            emit(error_result(current, kind, detail))
            if w.pending:
                backlog.appendleft(list(w.pending))
        elif not w.ready:
            self._failures += 1
            if self._failures >= _MAX_START_FAILURES:
                raise WorkerStartError(f"workers die while starting ({detail})")
        self._kill(w)
        self.stats.respawns += 1
        return self._spawn()

    def _kill(self, w: _Worker) -> None:
        if w.proc.is_alive():
            w.proc.kill()
        w.proc.join(timeout=5)
        w.conn.close()

    def _stop(self, workers: list[_Worker]) -> None:
        """Idle workers are asked to exit; busy ones (an interrupted sweep) are killed: their work is not kept."""
        for w in workers:
            if w.pending and w.proc.is_alive():
                w.proc.kill()
            elif w.proc.is_alive():
                with contextlib.suppress(OSError):
                    w.conn.send(None)
        deadline = time.monotonic() + 2.0
        for w in workers:
            w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=5)
            w.conn.close()
