"""Scans in worker processes with a hard deadline and bounded memory (DESIGN §7), for the gateway and batch sweeps.

`ScanPool.scan(raw, envelope, name) -> Outcome` may be called from many threads at once (pymilter calls back from
one thread per SMTP connection). Each call borrows an idle worker, hands it the message over a pipe and waits at
most until the deadline. A worker that overruns is killed by the parent (SIGKILL: no signals or alarms are
needed in the calling process) and replaced; one that dies, raises, or runs out of its address-space limit
(RLIMIT_AS) is replaced too. Whatever went wrong, the caller gets an `Outcome` whose `failure` says which kind,
so one policy (on_error / on_timeout) applies to all of them.

Workers are started with multiprocessing's "forkserver" method (forking a threaded milter is unsafe). The fork
server imports the engine once, so a replacement worker only builds its Engine and runs a warm-up scan: measured
on a busy 2-core machine, a replacement was ready (and had scanned) in 1.35 s with "forkserver" against 3.8 s with
"spawn", which pays a fresh interpreter and all imports per worker. As multiprocessing
requires, the calling program's main module must be safe to import (an `if __name__ == "__main__"` guard). Each
worker builds its Engine once, then scans until it is recycled after `recycle_after` messages. Reports come back
as JSON, not pickle: a worker that a crafted message subverted must not be able to run code in the parent by what
it sends.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from triage.errors import ConfigError
from triage.gateway.policy import FailureKind
from triage.model import Envelope, Report

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from triage.config import Config

DEFAULT_FACTORY = "triage.engine:Engine"
# The engine's own cooperative deadline is set this much below the hard one, so a slow scan usually ends with a
# partial report (a `timeout` note, verdict incomplete) instead of being killed with nothing. The engine gives
# message analyzers up to MESSAGE_GRACE_SECONDS after its deadline; this margin covers that and the transfer.
_SOFT_MARGIN_SECONDS = 3.0
_MIN_SOFT_SECONDS = 0.5
_READY_TIMEOUT = 120.0  # building an Engine takes ~0.2 s; a cold start of a fresh interpreter a few seconds
_READY_POLL_SECONDS = 0.01  # how often a caller waiting for a worker looks whether a warming one is ready
_WARM_UP = b"From: warm-up@example.org\r\nSubject: warm-up\r\n\r\nwarm-up\r\n"
_PRELOAD = ("triage.engine", "triage.registry", "triage.config")


class Scanner(Protocol):
    def scan(self, raw: bytes, *, envelope: Envelope | None = None, name: str | None = None) -> Report: ...


@dataclass(frozen=True)
class WorkerSpec:
    """How a worker builds its scanner. Everything here crosses a process boundary: plain values only.

    `factory` is "module:callable"; it is called with the loaded Config and returns an object with Engine's
    `scan`. The default is the Engine itself; a site may name its own (an Engine with extra analyzers).
    """

    site_file: str | None = None
    rules: str | None = None
    factory: str = DEFAULT_FACTORY
    memory_mb: int = 1536
    soft_seconds: float | None = None  # the engine's max_seconds, when lower than the configured one
    # A long-lived worker (the milter's) loads every plugin before its first message; a one-shot one (`triage
    # filter`) loads only what its message needs, as `triage scan` does.
    warm_up: bool = True


@dataclass(frozen=True)
class Outcome:
    """A scan's result: a report, or why there is none."""

    report: Report | None = None
    failure: FailureKind | None = None
    detail: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.report is not None


def load_factory(path: str) -> Callable[[Config], Scanner]:
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise ConfigError(f"engine factory {path!r} is not module:callable")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"engine factory {path!r}: {exc}") from exc
    if not callable(obj):
        raise ConfigError(f"engine factory {path!r} is not callable")
    return obj  # type: ignore[no-any-return]


def build_scanner(spec: WorkerSpec) -> Scanner:
    """The scanner a worker uses (also usable in-process, e.g. to check a configuration)."""
    from pathlib import Path

    from triage.config import load_config

    overrides: dict[str, Any] = {}
    config = load_config(spec.site_file, rules=Path(spec.rules) if spec.rules else None)
    if spec.soft_seconds is not None and spec.soft_seconds < config.limits.max_seconds:
        overrides = {"limits": {"max_seconds": spec.soft_seconds}}
        config = load_config(spec.site_file, rules=Path(spec.rules) if spec.rules else None, overrides=overrides)
    return load_factory(spec.factory)(config)


def oom_counter_file(pid: int) -> Path | None:
    """The file that counts out-of-memory kills in `pid`'s memory cgroup: `memory.events` (cgroup v2) or
    `memory.oom_control` (v1); None when neither can be read."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, sep, rest = line.partition(":")
        controllers, sep2, path = rest.partition(":")
        if not sep or not sep2:
            continue
        relative = path.lstrip("/")
        if controllers == "":
            candidate = Path("/sys/fs/cgroup") / relative / "memory.events"
        elif "memory" in controllers.split(","):
            candidate = Path("/sys/fs/cgroup/memory") / relative / "memory.oom_control"
        else:
            continue
        if read_oom_kills(candidate) is not None:
            return candidate
    return None


def read_oom_kills(counter: Path) -> int | None:
    """The `oom_kill` value of a cgroup's memory.events or memory.oom_control file."""
    try:
        text = counter.read_text()
    except OSError:
        return None
    for row in text.splitlines():
        key, _, value = row.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


# -- the worker process ---------------------------------------------------------------------------------------------


def exit_with_owner(owner: int) -> None:
    """Exit as soon as the process that owns the pool is gone, even in the middle of a scan.

    A killed milter (SIGKILL, the OOM killer) cannot enforce the deadline any more, and the fork server lives as
    long as any worker holds its "alive" pipe: without this a scan stuck in a library would run on, orphaned.
    """
    import select

    try:
        fd = os.pidfd_open(owner)
    except (OSError, AttributeError):  # already gone, or no pidfd (Linux < 5.3): nobody to watch for
        if not _owner_alive(owner):
            os._exit(1)
        return

    def wait() -> None:
        select.select([fd], [], [])  # readable when the owner exits
        os._exit(1)

    threading.Thread(target=wait, name="triage-owner-watch", daemon=True).start()


def _owner_alive(owner: int) -> bool:
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _worker_main(
    conn: Connection, spec: WorkerSpec, owner: int | None = None, parent_end: Connection | None = None
) -> None:
    """Body of a worker process: limit memory, build the scanner once, then scan until the pipe closes."""
    import resource

    if parent_end is not None:
        # Forked, not spawned: we hold a copy of the pool's end of our pipe, and the pool's close would never
        # reach us as end-of-file while we do.
        parent_end.close()

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the parent, which shuts us down
    if owner is not None:
        exit_with_owner(owner)
    limit = spec.memory_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard < 0 else min(limit, hard), hard))
    try:
        scanner = build_scanner(spec)
    except Exception as exc:  # a bad configuration: say so once, the parent refuses to start
        conn.send_bytes(json.dumps({"ready": False, "detail": f"{type(exc).__name__}: {exc}"}).encode())
        return
    with contextlib.suppress(Exception):
        # The first scan pays for lazy imports, plugin set-up and libmagic's database: pay it here, not on the
        # first mail. An Engine has warm_up (every plugin loaded); another scanner gets one throw-away scan.
        if spec.warm_up:
            warm_up = getattr(scanner, "warm_up", None)
            if callable(warm_up):
                warm_up()
            scanner.scan(_WARM_UP, name="warm-up")
    # The engine and what warm-up loaded live as long as the worker: out of the collector's sight, a full
    # collection stops walking ~86,000 objects (~50 ms, every thousand messages or so, a stall in the tail).
    gc.collect()
    gc.freeze()
    conn.send_bytes(b'{"ready": true}')
    while True:
        try:
            header = json.loads(conn.recv_bytes())
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the parent closed the pipe: recycled or shutting down
        try:
            envelope = Envelope(**{**header["envelope"], "rcpt_to": tuple(header["envelope"]["rcpt_to"])})
            report = scanner.scan(raw, envelope=envelope if header["has_envelope"] else None, name=header["name"])
            reply = {"kind": "ok", "report": report.to_dict()}
        except MemoryError:
            reply = {"kind": FailureKind.MEMORY.value, "detail": "the worker ran out of memory"}
        except Exception as exc:
            tail = traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:]
            reply = {"kind": FailureKind.CRASHED.value, "detail": "".join(tail).strip()[-800:]}
        try:
            conn.send_bytes(json.dumps(reply).encode())
        except MemoryError:
            conn.send_bytes(b'{"kind": "memory", "detail": "the worker ran out of memory"}')
        del raw
        if reply["kind"] == FailureKind.MEMORY.value:
            return  # after a MemoryError the heap may be in any state: start afresh


# -- the parent side --------------------------------------------------------------------------------------------------


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    scans: int = 0
    oom_file: Path | None = None  # its memory cgroup's out-of-memory kill counter, found at its first scan
    oom_looked: bool = False
    successor: _Worker | None = None  # set when it reached recycle_after: it serves until this one is ready


@dataclass
class PoolStats:
    scans: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    workers_started: int = 0


class ScanPool:
    """A fixed number of scanning processes behind a thread-safe `scan` (one more while a recycled worker's
    successor warms up). Use as a context manager."""

    def __init__(
        self,
        spec: WorkerSpec | None = None,
        *,
        workers: int = 2,
        deadline: float = 20.0,
        recycle_after: int = 1000,
        max_message_size: int | None = None,
        start_method: str = "forkserver",
    ) -> None:
        if workers < 1 or deadline <= 0 or recycle_after < 1:
            raise ValueError("workers, deadline and recycle_after must be positive")
        import multiprocessing

        base = spec or WorkerSpec()
        if base.soft_seconds is None:
            soft = max(_MIN_SOFT_SECONDS, min(deadline - _SOFT_MARGIN_SECONDS, deadline * 0.75))
            base = WorkerSpec(**{**asdict(base), "soft_seconds": soft})
        self.spec = base
        self.size = workers
        self.deadline = deadline
        self.recycle_after = recycle_after
        self.max_message_size = max_message_size
        self._mp = multiprocessing.get_context(start_method)
        self._forks = start_method == "fork"
        if start_method == "forkserver":
            # Imports happen once in the fork server, for a warmed-up worker the plugins' parser libraries too
            # (~0.6 s): a worker, first or replacement, then only builds and warms up its Engine.
            from triage.registry import warm_modules

            modules = (*_PRELOAD, *warm_modules()) if base.warm_up else _PRELOAD
            self._mp.set_forkserver_preload(list(dict.fromkeys(modules)))
        # One lock; waiting callers each wait on a condition of their own over it, and only the first in line is
        # woken when a worker comes free: waking all twenty of a busy gateway's sessions for every message cost
        # twenty GIL hand-offs a message in the milter, for one of them to go on.
        self._mutex = threading.RLock()
        self._lock = threading.Condition(self._mutex)  # close() waiting for in-flight scans, start-up
        self._idle: list[_Worker] = []
        self._procs: dict[int, BaseProcess] = {}  # every worker process we own and have not reaped, by pid
        self._busy = 0
        self._waiting: deque[threading.Condition] = deque()  # callers waiting for a worker, in arrival order
        self._closing = False
        self._started = False
        self.stats = PoolStats()

    # -- life cycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every worker and wait until each has built its scanner; a ConfigError if one cannot."""
        with self._lock:
            if self._started:
                return
            self._started = True
            fresh = [self._spawn() for _ in range(self.size)]
        try:
            for worker in fresh:
                if not self._wait_ready(worker, time.monotonic() + _READY_TIMEOUT, raise_config=True):
                    raise ConfigError(f"a scanning worker could not start: {self._death(worker, 'at start')}")
        except BaseException:
            self.close(grace=0)
            raise
        with self._lock:
            self._idle.extend(fresh)
            self._lock.notify_all()
            self._wake_next()

    def __enter__(self) -> ScanPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def worker_pids(self) -> list[int]:
        with self._lock:
            return sorted(self._procs)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._busy

    def close(self, grace: float = 0.0) -> None:
        """Refuse new scans, give in-flight ones up to `grace` seconds, then stop every worker.

        A scan still running when the grace ends returns a TIMEOUT outcome ("shutting down") to its caller.
        """
        end = time.monotonic() + grace
        with self._lock:
            self._closing = True
            self._lock.notify_all()
            for waiter in self._waiting:
                waiter.notify()
            while self._busy and time.monotonic() < end:
                self._lock.wait(timeout=max(0.0, end - time.monotonic()))
            idle, self._idle = self._idle, []
        for worker in idle:
            with contextlib.suppress(OSError):
                worker.conn.close()  # an idle worker exits as soon as its pipe closes
        for worker in idle:
            self._retire(worker)
        with self._lock:
            leftover = list(self._procs.values())
        # Busy workers past the grace: their callers are waiting on the pipe; killing them ends the wait.
        for proc in leftover:
            proc.kill()
        for proc in leftover:
            proc.join(timeout=2)
        with self._lock:
            for proc in leftover:
                if proc.pid is not None and not proc.is_alive():
                    self._procs.pop(proc.pid, None)

    # -- scanning ------------------------------------------------------------------------------------------------
    def scan(
        self,
        raw: bytes,
        envelope: Envelope | None = None,
        name: str | None = None,
        *,
        deadline: float | None = None,
    ) -> Outcome:
        """Scan `raw` in a worker within `deadline` seconds (the pool's by default), waiting for a free worker
        included. Never raises for anything the message or the worker does."""
        started = time.monotonic()
        end = started + (deadline if deadline is not None else self.deadline)
        if self.max_message_size is not None and len(raw) > self.max_message_size:
            return self._fail(FailureKind.TOO_LARGE, f"{len(raw)} bytes > {self.max_message_size}", started)
        worker = self._acquire(end)
        for _ in range(3):
            # A worker that died while idle (killed from outside, the OOM killer) is not this message's fault.
            if worker is None or worker.process.is_alive():
                break
            self._release(worker, healthy=False)
            worker = self._acquire(end)
        if worker is None:
            with self._lock:
                closing = self._closing
            detail = "the gateway is shutting down" if closing else "no worker became free before the deadline"
            return self._fail(FailureKind.TIMEOUT, detail, started)
        healthy = False
        try:
            if not worker.ready and not self._wait_ready(worker, end):
                return self._fail(FailureKind.CRASHED, self._death(worker, "before it was ready"), started)
            outcome, healthy = self._run(worker, raw, envelope, name, end, started)
            return outcome
        finally:
            self._release(worker, healthy)

    def _run(
        self, worker: _Worker, raw: bytes, envelope: Envelope | None, name: str | None, end: float, started: float
    ) -> tuple[Outcome, bool]:
        header = {
            "envelope": asdict(envelope or Envelope()),
            "has_envelope": envelope is not None,
            "name": name,
        }
        oom_before = self._oom_kills(worker)
        try:
            worker.conn.send_bytes(json.dumps(header).encode())
            worker.conn.send_bytes(raw)
            worker.scans += 1
            if not worker.conn.poll(max(0.0, end - time.monotonic())):
                with self._lock:
                    closing = self._closing
                worker.process.kill()
                detail = "the gateway is shutting down" if closing else f"no result within {self.deadline:g}s"
                return self._fail(FailureKind.TIMEOUT, detail, started), False
            reply = json.loads(worker.conn.recv_bytes())
        except (EOFError, OSError, ValueError):
            with self._lock:
                closing = self._closing
            if closing:
                return self._fail(FailureKind.TIMEOUT, "the gateway is shutting down", started), False
            detail = self._death(worker, "during the scan")
            if self._killed_for_memory(worker, oom_before):
                detail = "the out-of-memory killer ended the worker during the scan"
                return self._fail(FailureKind.MEMORY, detail, started), False
            return self._fail(FailureKind.CRASHED, detail, started), False
        kind = reply.get("kind") if isinstance(reply, dict) else None
        if kind == "ok":
            try:
                report = Report.from_dict(reply["report"])
            except (KeyError, TypeError, ValueError) as exc:
                return self._fail(FailureKind.CRASHED, f"unreadable report: {exc}", started), False
            with self._lock:
                self.stats.scans += 1
            return Outcome(report=report, seconds=round(time.monotonic() - started, 4)), True
        failure = FailureKind.MEMORY if kind == FailureKind.MEMORY.value else FailureKind.CRASHED
        detail = str(reply.get("detail", "")) if isinstance(reply, dict) else ""
        # A scan that raised leaves a usable worker; one out of memory has exited by itself.
        return self._fail(failure, detail, started), failure is FailureKind.CRASHED

    def _fail(self, kind: FailureKind, detail: str, started: float) -> Outcome:
        with self._lock:
            self.stats.failures[kind.value] = self.stats.failures.get(kind.value, 0) + 1
        return Outcome(failure=kind, detail=detail, seconds=round(time.monotonic() - started, 4))

    # -- workers -------------------------------------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        """A new worker process (not yet ready). Called with the lock held."""
        parent, child = self._mp.Pipe(duplex=True)
        proc = self._mp.Process(  # type: ignore[attr-defined]  # typeshed's BaseContext lacks Process
            target=_worker_main,
            args=(child, self.spec, os.getpid(), parent if self._forks else None),
            daemon=True,
            name="triage-worker",
        )
        proc.start()
        child.close()
        if proc.pid is not None:
            self._procs[proc.pid] = proc
        self.stats.workers_started += 1
        return _Worker(process=proc, conn=parent)

    def _replenish(self) -> None:
        """Start a worker in place of one that is gone (lock held). If the system refuses a process now, the pool
        runs one short and the next `_acquire` tries again; a scan never raises because of it."""
        try:
            self._idle.append(self._spawn())
        except (OSError, RuntimeError, ValueError):
            self._lock.wait(timeout=0.05)

    def _wait_ready(self, worker: _Worker, end: float, *, raise_config: bool = False) -> bool:
        try:
            if not worker.conn.poll(max(0.0, end - time.monotonic())):
                return False
            hello = json.loads(worker.conn.recv_bytes())
        except (EOFError, OSError, ValueError):
            return False
        if isinstance(hello, dict) and hello.get("ready") is True:
            worker.ready = True
            return True
        if raise_config:
            detail = hello.get("detail", "") if isinstance(hello, dict) else ""
            raise ConfigError(f"a scanning worker could not start: {detail}")
        return False

    def _oom_kills(self, worker: _Worker) -> int | None:
        """The worker's memory cgroup's count of out-of-memory kills now (None where there is none to read)."""
        if not worker.oom_looked:
            worker.oom_looked = True
            if worker.process.pid is not None:
                worker.oom_file = oom_counter_file(worker.process.pid)
        return read_oom_kills(worker.oom_file) if worker.oom_file is not None else None

    def _killed_for_memory(self, worker: _Worker, before: int | None) -> bool:
        """A SIGKILL while the cgroup's OOM-kill count went up: the kernel's OOM killer (a cgroup's MemoryMax,
        or the whole machine short of memory), not a crash. The policy is the same; the log says which."""
        if before is None or worker.process.exitcode != -signal.SIGKILL:
            return False
        after = read_oom_kills(worker.oom_file) if worker.oom_file is not None else None
        return after is not None and after > before

    def _death(self, worker: _Worker, when: str) -> str:
        worker.process.join(timeout=1)
        code = worker.process.exitcode
        if code is None:
            return f"the worker stopped answering {when}"
        if code < 0:
            return f"the worker died {when} (signal {-code})"
        return f"the worker exited {when} (status {code})"

    def _acquire(self, end: float) -> _Worker | None:
        """The next idle worker, first come first served (a free-for-all would starve some callers: the tail
        latency of a busy gateway), or None at the deadline or on close."""
        ticket = threading.Condition(self._mutex)
        with self._lock:
            self._waiting.append(ticket)
            try:
                while not self._closing:
                    if self._idle and self._waiting[0] is ticket:
                        worker = self._pick()
                        if worker is not None:
                            self._busy += 1
                            return worker
                    remaining = end - time.monotonic()
                    if remaining <= 0:
                        return None
                    if self._busy + len(self._idle) < self.size:
                        self._replenish()  # an earlier replacement could not be started: try again now
                        continue
                    # A warming worker says "ready" on its pipe, not through this condition: look again soon.
                    warming = any(not w.ready for w in self._idle)
                    ticket.wait(timeout=min(remaining, _READY_POLL_SECONDS) if warming else remaining)
                return None
            finally:
                self._waiting.remove(ticket)
                self._wake_next()  # the next in line may go

    def _wake_next(self) -> None:
        """Wake the first caller in line (lock held): it takes a worker or waits again."""
        if self._waiting:
            self._waiting[0].notify()

    def _pick(self) -> _Worker | None:
        """The idle worker to hand out (lock held): one that is ready, or has just said so (or died: the caller
        sees that at once). A replacement still building its Engine (~0.3 s) is taken only when no busy worker
        can come free sooner, so a recycle does not put the next message behind a warm-up."""
        for worker in [w for w in self._idle if w.successor is not None and self._answered(w.successor)]:
            self._idle.remove(worker)  # its successor is ready: it goes
            self._dismiss(worker)
        for index in range(len(self._idle) - 1, -1, -1):
            if self._answered(self._idle[index]):
                return self._idle.pop(index)
        if self._busy == 0:
            return self._idle.pop()
        return None

    @staticmethod
    def _answered(worker: _Worker) -> bool:
        """Ready, or has just said so on its pipe (or died: whoever takes it sees that at once)."""
        try:
            return worker.ready or worker.conn.poll(0)
        except (OSError, ValueError):
            return True

    def _release(self, worker: _Worker, healthy: bool) -> None:
        usable = healthy and worker.process.is_alive()
        with self._lock:
            self._busy -= 1
            keep = usable and not self._closing
            if keep and worker.successor is not None:
                keep = not self._answered(worker.successor)
            elif keep and worker.scans >= self.recycle_after:
                # Recycled without a gap: the successor builds its Engine while this one goes on serving, so a
                # busy gateway never runs a worker short (that took a worker away for ~0.3 s, seconds under load).
                try:
                    worker.successor = self._spawn()
                    self._idle.append(worker.successor)
                except (OSError, RuntimeError, ValueError):
                    keep = False
            if keep:
                self._idle.append(worker)
            elif not self._closing and worker.successor is None:
                self._replenish()  # its successor builds its Engine while the next messages wait at most that long
            self._lock.notify_all()
            self._wake_next()
        if not keep:
            self._dismiss(worker)

    def _dismiss(self, worker: _Worker) -> None:
        threading.Thread(target=self._retire, args=(worker,), daemon=True, name="triage-retire").start()

    def _retire(self, worker: _Worker) -> None:
        """Stop a worker: close its pipe (it exits at once when idle), kill it if it does not."""
        with contextlib.suppress(OSError):
            worker.conn.close()
        worker.process.join(timeout=1.0)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=2.0)
        with self._lock:
            if worker.process.pid is not None:
                self._procs.pop(worker.process.pid, None)
