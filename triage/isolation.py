"""Scans in worker processes with a hard deadline and bounded memory (DESIGN §7), for the gateway and batch sweeps.

`ScanPool.scan(raw, envelope, name) -> Outcome` may be called from many threads at once (pymilter calls back from
one thread per SMTP connection). Each call puts the message in the pool's queue, which the workers read
themselves, and waits for its reply at most until the deadline. A worker that overruns is killed by the parent
(SIGKILL: no signals or alarms are needed in the calling process) and replaced; one that dies, raises, or runs
out of its address-space limit (RLIMIT_AS) is replaced too. Whatever went wrong, the caller gets an `Outcome`
whose `failure` says which kind, so one policy (on_error / on_timeout) applies to all of them.

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
import itertools
import json
import os
import select
import selectors
import signal
import socket
import struct
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
_SWEEP_SECONDS = 0.05  # how often the dispatcher looks for a worker past its job's deadline
_RESPAWN_MIN_SECONDS = 0.1  # back-off when a replacement worker cannot start, doubling up to the maximum
_RESPAWN_MAX_SECONDS = 5.0
_READ_CHUNK = 1 << 20
_QUEUE_SPARE = 6  # tickets in the shared queue beyond one per worker: what a worker finds when it finishes a scan
_MAX_REPLY = 256 * 1024 * 1024  # a report is a few hundred KB at most; a worker that claims more is not ours any more
_WARM_UP = b"From: warm-up@example.org\r\nSubject: warm-up\r\n\r\nwarm-up\r\n"
_PRELOAD = ("triage.engine", "triage.registry", "triage.config")

# The shared queue's tickets: job id, and the job's deadline in CLOCK_MONOTONIC nanoseconds (one clock for every
# process on the machine), so a worker skips a message whose caller has already given up.
_TICKET = struct.Struct("<qq")
_HEADER_LENGTH = struct.Struct("<I")  # a job's memory file: this, the JSON header, then the message
_REPLY_HEAD = struct.Struct("<qQ")  # on a job's reply socket: the job id and the length of the JSON reply after it
# What a worker writes on its pipe (its replies go on each job's own socket, straight to the waiting caller), one
# multiprocessing frame (a big-endian length, then the bytes) each, tagged:
_HELLO = b"H"  # JSON {"ready": ...}, once, when its scanner is built
_RECYCLE = b"R"  # it has scanned recycle_after messages: start its successor
_CGROUP = b"C"  # the path of its memory cgroup's OOM-kill counter, when it finds itself in a new cgroup
_STOP = b"S"  # the only thing the pool writes: leave after the current scan
_FRAME = struct.Struct("!i")
_LONG_FRAME = struct.Struct("!Q")
# A worker's slot, memory shared with the pool: the job it is scanning (0: none), that job's deadline, and its
# cgroup's OOM-kill count when the scan started (-1: none to read).
_SLOT_JOB, _SLOT_END, _SLOT_OOM, _SLOT_SIZE = 0, 1, 2, 3


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
    conn: Connection,
    jobs: socket.socket,
    slot: Any,
    spec: WorkerSpec,
    recycle_after: int,
    owner: int | None = None,
    parent_end: Connection | None = None,
) -> None:
    """Body of a worker process: limit memory, build the scanner once, then take messages from the pool's shared
    queue until the pool says stop (or closes this worker's pipe)."""
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
        conn.send_bytes(_HELLO + json.dumps({"ready": False, "detail": f"{type(exc).__name__}: {exc}"}).encode())
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
    try:
        conn.send_bytes(_HELLO + b'{"ready": true}')
    except OSError:
        return  # the pool closed while we were warming up
    oom = _OomWatch(conn)
    scans = 0
    while True:
        try:
            readable, _, _ = select.select([conn.fileno(), jobs.fileno()], [], [])
        except (OSError, ValueError):
            return
        if conn.fileno() in readable:
            return  # the pool said stop, or closed our pipe: recycled or shutting down
        try:
            ticket, fds, _flags, _addr = socket.recv_fds(jobs, _TICKET.size, 2, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            continue  # another worker took it
        except OSError:
            return
        if len(ticket) != _TICKET.size or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        message_fd, reply_fd = fds
        job, end_ns = _TICKET.unpack(ticket)
        if time.monotonic_ns() >= end_ns:  # its caller has given up: nobody is waiting for this one
            os.close(message_fd)
            os.close(reply_fd)
            continue
        slot[_SLOT_END] = end_ns
        slot[_SLOT_OOM] = oom.count()
        slot[_SLOT_JOB] = job
        reply = _scan_job(scanner, message_fd)
        with socket.socket(fileno=reply_fd) as caller:
            try:
                body = json.dumps(reply).encode()
            except MemoryError:
                body = b'{"kind": "memory", "detail": "the worker ran out of memory"}'
            with contextlib.suppress(OSError):  # the caller gave up (a deadline) and closed its end
                caller.sendall(_REPLY_HEAD.pack(job, len(body)) + body)
        slot[_SLOT_JOB] = 0
        if reply["kind"] == FailureKind.MEMORY.value:
            return  # after a MemoryError the heap may be in any state: start afresh
        scans += 1
        if scans == recycle_after:
            with contextlib.suppress(OSError):
                conn.send_bytes(_RECYCLE)  # the pool starts our successor; we serve until it is ready


def _scan_job(scanner: Scanner, fd: int) -> dict[str, Any]:
    """Read one job (header length, JSON header, message) from its memory file and scan it."""
    try:
        with open(fd, "rb") as job:
            (length,) = _HEADER_LENGTH.unpack(job.read(_HEADER_LENGTH.size))
            header = json.loads(job.read(length))
            raw = job.read()
        envelope = Envelope(**{**header["envelope"], "rcpt_to": tuple(header["envelope"]["rcpt_to"])})
        report = scanner.scan(raw, envelope=envelope if header["has_envelope"] else None, name=header["name"])
        return {"kind": "ok", "report": report.to_dict()}
    except MemoryError:
        return {"kind": FailureKind.MEMORY.value, "detail": "the worker ran out of memory"}
    except Exception as exc:
        tail = traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:]
        return {"kind": FailureKind.CRASHED.value, "detail": "".join(tail).strip()[-800:]}


class _OomWatch:
    """The worker's memory cgroup's out-of-memory kill count, read as each scan starts and kept in the worker's
    slot: if the worker is then SIGKILLed and the count went up, the pool knows it was the OOM killer. When the
    worker finds itself in another cgroup (moved by an administrator, or a test) it tells the pool the counter
    file to read after its death."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._cgroups = b""
        self._file: Path | None = None

    def count(self) -> int:
        try:
            with open("/proc/self/cgroup", "rb") as membership:
                cgroups = membership.read(4096)
        except OSError:
            return -1
        if cgroups != self._cgroups:
            self._cgroups = cgroups
            self._file = oom_counter_file(os.getpid())
            with contextlib.suppress(OSError):
                self._conn.send_bytes(_CGROUP + str(self._file or "").encode())
        kills = read_oom_kills(self._file) if self._file is not None else None
        return -1 if kills is None else kills


# -- the parent side --------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    slot: Any  # shared with the worker: the job it is scanning (0: none), that job's end, the OOM count at its start
    ready: bool = False
    recycled: bool = False  # reached recycle_after: its successor holds its place, it serves until one is ready
    stopped: bool = False  # told to stop (recycled and replaced): it exits after its current scan
    oom_file: Path | None = None
    inbox: bytearray = field(default_factory=bytearray)


@dataclass(eq=False)
class _Job:
    """A message handed to the pool. The worker that takes it answers on `answer`'s other end, which travels
    with the ticket; the pool keeps that end too, to wake the caller when it has the word instead (the worker
    died, or the pool is closing)."""

    id: int
    end: float
    answer: socket.socket
    poke: socket.socket
    done: threading.Event = field(default_factory=threading.Event)
    failure: tuple[FailureKind, str] | None = None
    memory: int = -1  # the memory file holding the message, until its ticket is in the shared queue
    sent: bool = False  # its ticket is in the shared queue (or a worker has taken it)

    def fail(self, kind: FailureKind, detail: str) -> None:
        """The pool's word on this job (lock held): the caller wakes and takes it."""
        if self.done.is_set():
            return
        self.failure = (kind, detail)
        self.done.set()
        with contextlib.suppress(OSError):
            self.poke.send(b"!", socket.MSG_DONTWAIT)


@dataclass
class PoolStats:
    scans: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    workers_started: int = 0


class ScanPool:
    """A fixed number of scanning processes behind a thread-safe `scan` (one more while a recycled worker's
    successor warms up). Use as a context manager.

    Messages wait in one queue that every ready worker reads itself: a worker that finishes a scan takes the next
    message at once, without waiting for a thread of this process to be scheduled (on a busy gateway that hand-over
    left workers idle half the time while messages queued). The queue is a local datagram socket of small tickets
    (job id, deadline), each carrying a memory file that holds the message and the end of a socket the worker
    answers on, straight to the caller waiting on the other end; a worker killed at any moment cannot leave half a
    message in the queue. Beyond `workers + 6` jobs queued or scanning, the line waits in this process, in arrival
    order (the kernel holds only ~10 such tickets and wakes blocked senders in any order). One dispatcher thread
    reads the workers' own pipes: it sees a worker die (and tells the
    caller of the job it was on), starts replacements and successors, and kills a worker still on a job past its
    deadline.
    """

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
        self._mutex = threading.Lock()
        self._workers: list[_Worker] = []
        self._procs: dict[int, BaseProcess] = {}  # every worker process we own and have not reaped, by pid
        self._jobs: dict[int, _Job] = {}  # submitted and not yet answered or given up, by id
        self._waiting: deque[_Job] = deque()  # jobs not yet in the shared queue, in arrival order
        self._outstanding = 0  # jobs in the shared queue or being scanned
        self._depth = workers + _QUEUE_SPARE
        self._job_ids = itertools.count(1)
        self._closing = False  # no new scans; in-flight ones still get their replies
        self._stopping = False  # the dispatcher ends
        self._started = False
        self._spawn_after = 0.0  # back-off when replacements fail to start
        self._spawn_delay = _RESPAWN_MIN_SECONDS
        self._queue: socket.socket | None = None  # our end of the shared queue
        self._queue_out: socket.socket | None = None  # the workers' end
        self._wake_r = self._wake_w = -1
        self._selector: selectors.BaseSelector | None = None
        self._dispatcher: threading.Thread | None = None
        self.stats = PoolStats()

    # -- life cycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every worker and wait until each has built its scanner; a ConfigError if one cannot."""
        with self._mutex:
            if self._started:
                return
            self._started = True
            self._queue, self._queue_out = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
            os.set_blocking(self._wake_w, False)
            self._selector = selectors.DefaultSelector()
            self._selector.register(self._wake_r, selectors.EVENT_READ, None)
            fresh = [self._spawn() for _ in range(self.size)]
        try:
            for worker in fresh:
                self._wait_ready(worker, time.monotonic() + _READY_TIMEOUT)
        except BaseException:
            self.close(grace=0)
            raise
        with self._mutex:
            for worker in fresh:
                self._watch(worker)
        self._dispatcher = threading.Thread(target=self._dispatch, name="triage-pool", daemon=True)
        self._dispatcher.start()

    def __enter__(self) -> ScanPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def worker_pids(self) -> list[int]:
        with self._mutex:
            return sorted(self._procs)

    @property
    def in_flight(self) -> int:
        """Messages handed to the pool and not answered yet (scanning or queued)."""
        with self._mutex:
            return len(self._jobs)

    def close(self, grace: float = 0.0) -> None:
        """Refuse new scans, give in-flight ones up to `grace` seconds, then stop every worker.

        A scan still running when the grace ends returns a TIMEOUT outcome ("shutting down") to its caller.
        """
        end = time.monotonic() + grace
        with self._mutex:
            self._closing = True
        while time.monotonic() < end:
            with self._mutex:
                if not self._jobs:
                    break
            time.sleep(0.01)
        with self._mutex:
            for job in self._jobs.values():
                job.fail(FailureKind.TIMEOUT, "the gateway is shutting down")
            self._waiting.clear()
            self._stopping = True
        self._wake()
        if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
            self._dispatcher.join(timeout=5)
        with self._mutex:
            workers, self._workers = self._workers, []
        for worker in workers:
            if worker.slot[_SLOT_JOB]:
                worker.process.kill()  # past the grace: its caller has its answer already
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send_bytes(_STOP)
            with contextlib.suppress(OSError):
                worker.conn.close()  # an idle worker exits as soon as it reads that
        for worker in workers:
            self._reap(worker, wait=1.0)
        with self._mutex:
            leftover = list(self._procs.values())
        for proc in leftover:  # warming up when we closed, or a pid we never saw reaped
            proc.kill()
            proc.join(timeout=2)
        with self._mutex:
            for proc in leftover:
                if proc.pid is not None and not proc.is_alive():
                    self._procs.pop(proc.pid, None)
            queue, self._queue = self._queue, None
            queue_out, self._queue_out = self._queue_out, None
            selector, self._selector = self._selector, None
            wake = (self._wake_r, self._wake_w)
            self._wake_r = self._wake_w = -1
        for sock in (queue, queue_out):
            if sock is not None:
                sock.close()  # tickets nobody took go with it, and their memory files
        if selector is not None:
            selector.close()
        for fd in wake:
            if fd >= 0:
                os.close(fd)

    # -- scanning ------------------------------------------------------------------------------------------------
    def scan(
        self,
        raw: bytes,
        envelope: Envelope | None = None,
        name: str | None = None,
        *,
        deadline: float | None = None,
    ) -> Outcome:
        """Scan `raw` in a worker within `deadline` seconds (the pool's by default), the wait in the queue
        included. Never raises for anything the message or the worker does."""
        return self.scan_chunks([raw], envelope, name, deadline=deadline)

    def scan_chunks(
        self,
        chunks: list[bytes],
        envelope: Envelope | None = None,
        name: str | None = None,
        *,
        deadline: float | None = None,
    ) -> Outcome:
        """`scan` of the message made of `chunks`, which are written to the job's memory file and then removed
        from the list (it is left empty): a message waiting for a worker is kept once, not twice. The milter
        hands over what libmilter gave it this way."""
        started = time.monotonic()
        end = started + (deadline if deadline is not None else self.deadline)
        size = sum(len(chunk) for chunk in chunks)
        if self.max_message_size is not None and size > self.max_message_size:
            chunks.clear()
            return self._fail(FailureKind.TOO_LARGE, f"{size} bytes > {self.max_message_size}", started)
        answer, poke = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        job = _Job(id=next(self._job_ids), end=end, answer=answer, poke=poke)
        try:
            return self._scan(job, chunks, envelope, name, started)
        finally:
            chunks.clear()
            with self._mutex:
                self._jobs.pop(job.id, None)
                if job.memory >= 0:
                    os.close(job.memory)
                    job.memory = -1
            answer.close()
            poke.close()

    def _scan(
        self, job: _Job, chunks: list[bytes], envelope: Envelope | None, name: str | None, started: float
    ) -> Outcome:
        try:
            job.memory = self._write_job(chunks, envelope, name)
        except (OSError, ValueError) as exc:
            return self._fail(FailureKind.CRASHED, f"the message could not be queued: {exc}", started)
        with self._mutex:
            if self._closing or self._queue is None:
                return self._fail_locked(FailureKind.TIMEOUT, "the gateway is shutting down", started)
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._refill_locked()
        reply = self._await(job)
        with self._mutex:
            self._jobs.pop(job.id, None)
            if job.sent:
                self._outstanding -= 1
            else:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(job)
            self._refill_locked()
            scanning = None
            if reply is None and job.failure is None:
                scanning = next((w for w in self._workers if w.slot[_SLOT_JOB] == job.id), None)
        if reply is not None:
            return self._outcome(reply, started)
        if job.failure is not None:
            return self._fail(*job.failure, started)
        if scanning is not None:
            scanning.process.kill()  # the dispatcher sees it go and starts a replacement
            return self._fail(FailureKind.TIMEOUT, f"no result within {job.end - started:g}s", started)
        return self._fail(FailureKind.TIMEOUT, "no worker became free before the deadline", started)

    def _refill_locked(self) -> None:
        """Move waiting jobs, first come first served, into the shared queue while fewer than `_depth` are in it
        or being scanned (lock held). The kernel keeps at most net.unix.max_dgram_qlen (10 by default) tickets
        in a local datagram queue and wakes blocked senders in no particular order, so the line beyond that is
        kept here, in order; the queue stays deep enough that a worker never waits for this process to refill it."""
        queue = self._queue
        while self._waiting and self._outstanding < self._depth and queue is not None:
            job = self._waiting[0]
            ticket = _TICKET.pack(job.id, int(job.end * 1e9))  # CLOCK_MONOTONIC: one clock for every process
            try:
                socket.send_fds(queue, [ticket], [job.memory, job.poke.fileno()], socket.MSG_DONTWAIT)
            except BlockingIOError:
                return  # full after all (a lower max_dgram_qlen): the next finished job, or the sweep, retries
            except OSError as exc:
                self._waiting.popleft()
                job.fail(FailureKind.CRASHED, f"the message could not be queued: {exc}")
                continue
            self._waiting.popleft()
            job.sent = True
            self._outstanding += 1
            os.close(job.memory)  # the ticket keeps the file alive until a worker has read it
            job.memory = -1

    def _await(self, job: _Job) -> bytes | None:
        """The worker's reply, read straight from the job's socket (no thread of ours between the worker and its
        caller); None at the deadline or when the pool has the word (`job.failure`)."""
        received = bytearray()
        need = -1
        poller = select.poll()
        poller.register(job.answer, select.POLLIN)
        while True:
            remaining = job.end - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                return None
            chunk = job.answer.recv(_READ_CHUNK)
            if not chunk:
                return None
            received += chunk
            if need < 0 and len(received) >= _REPLY_HEAD.size:
                job_id, length = _REPLY_HEAD.unpack_from(received)
                if job_id != job.id or length > _MAX_REPLY:
                    return b'{"kind": "crashed", "detail": "the worker answered out of turn"}'
                need = _REPLY_HEAD.size + length
            if 0 <= need <= len(received):
                return bytes(received[_REPLY_HEAD.size : need])  # a whole reply, even if the worker died after it
            if job.done.is_set():
                return None  # the pool's poke: the worker died before it had answered (or we are closing)

    @staticmethod
    def _write_job(chunks: list[bytes], envelope: Envelope | None, name: str | None) -> int:
        """A memory file holding the job: the header's length, the JSON header, then the message (its chunks are
        removed from the list as they are written)."""
        header = json.dumps(
            {"envelope": asdict(envelope or Envelope()), "has_envelope": envelope is not None, "name": name}
        ).encode()
        fd = os.memfd_create("triage-job", os.MFD_CLOEXEC)
        try:
            with open(fd, "wb", closefd=False) as memory:
                memory.write(_HEADER_LENGTH.pack(len(header)))
                memory.write(header)
                chunks.reverse()  # pop from the end: each chunk is freed as soon as it is written
                while chunks:
                    memory.write(chunks.pop())
            os.lseek(fd, 0, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _outcome(self, reply: bytes, started: float) -> Outcome:
        try:
            answer = json.loads(reply)
        except ValueError as exc:
            return self._fail(FailureKind.CRASHED, f"unreadable reply: {exc}", started)
        kind = answer.get("kind") if isinstance(answer, dict) else None
        if kind == "ok":
            try:
                report = Report.from_dict(answer["report"])
            except (KeyError, TypeError, ValueError) as exc:
                return self._fail(FailureKind.CRASHED, f"unreadable report: {exc}", started)
            with self._mutex:
                self.stats.scans += 1
            return Outcome(report=report, seconds=round(time.monotonic() - started, 4))
        failure = FailureKind.MEMORY if kind == FailureKind.MEMORY.value else FailureKind.CRASHED
        detail = str(answer.get("detail", "")) if isinstance(answer, dict) else ""
        return self._fail(failure, detail, started)

    def _fail(self, kind: FailureKind, detail: str, started: float) -> Outcome:
        with self._mutex:
            return self._fail_locked(kind, detail, started)

    def _fail_locked(self, kind: FailureKind, detail: str, started: float) -> Outcome:
        self.stats.failures[kind.value] = self.stats.failures.get(kind.value, 0) + 1
        return Outcome(failure=kind, detail=detail, seconds=round(time.monotonic() - started, 4))

    # -- workers -------------------------------------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        """A new worker process (not yet ready). Called with the lock held."""
        parent, child = self._mp.Pipe(duplex=True)
        slot = self._mp.RawArray("q", _SLOT_SIZE)
        proc = self._mp.Process(  # type: ignore[attr-defined]  # typeshed's BaseContext lacks Process
            target=_worker_main,
            args=(
                child,
                self._queue_out,
                slot,
                self.spec,
                self.recycle_after,
                os.getpid(),
                parent if self._forks else None,
            ),
            daemon=True,
            name="triage-worker",
        )
        proc.start()
        child.close()
        if proc.pid is not None:
            self._procs[proc.pid] = proc
        self.stats.workers_started += 1
        worker = _Worker(process=proc, conn=parent, slot=slot)
        self._workers.append(worker)
        return worker

    def _wait_ready(self, worker: _Worker, end: float) -> None:
        """At start: wait for a worker's hello (a ConfigError if it cannot build its scanner)."""
        try:
            if not worker.conn.poll(max(0.0, end - time.monotonic())):
                raise ConfigError("a scanning worker could not start: it did not answer")
            hello = worker.conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise ConfigError(f"a scanning worker could not start: {self._death(worker, 'at start')}") from exc
        state = _hello(hello)
        if state is not True:
            raise ConfigError(f"a scanning worker could not start: {state}")
        worker.ready = True

    def _watch(self, worker: _Worker) -> None:
        """Hand a worker's pipe to the dispatcher (lock held)."""
        os.set_blocking(worker.conn.fileno(), False)
        if self._selector is not None:
            self._selector.register(worker.conn.fileno(), selectors.EVENT_READ, worker)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")

    # -- the dispatcher thread -------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        # Process-directed signals are for the program's own threads (the milter waits for SIGTERM in one and
        # hands it on to libmilter's): one delivered here would take the default action, ending the process.
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        while True:
            with self._mutex:
                selector, stopping = self._selector, self._stopping
            if selector is None or stopping:
                return
            try:
                events = selector.select(timeout=_SWEEP_SECONDS)
                for key, _mask in events:
                    if key.data is None:
                        with contextlib.suppress(OSError):
                            os.read(self._wake_r, 4096)
                    else:
                        self._read(key.data)
                self._sweep()
                self._fill()
                with self._mutex:
                    self._refill_locked()
            except Exception:  # a bug here must not stop every scan for good: the next round starts afresh
                time.sleep(_SWEEP_SECONDS)

    def _read(self, worker: _Worker) -> None:
        """Take what a worker wrote; whole frames (multiprocessing's: a length, then the bytes) are handled."""
        try:
            chunk = os.read(worker.conn.fileno(), _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._buried(worker)
            return
        inbox = worker.inbox
        inbox += chunk
        while len(inbox) >= 4:
            (size,) = _FRAME.unpack_from(inbox)
            start = 4
            if size == -1:  # multiprocessing's long form: an 8-byte length follows
                if len(inbox) < 12:
                    return
                (size,) = _LONG_FRAME.unpack_from(inbox, 4)
                start = 12
            if size < 1 or size > _MAX_REPLY:
                self._kill(worker)  # no worker of ours writes that: it is not one of ours any more
                return
            if len(inbox) < start + size:
                return
            frame = bytes(inbox[start : start + size])
            del inbox[: start + size]
            self._handle(worker, frame)

    def _handle(self, worker: _Worker, frame: bytes) -> None:
        tag, body = frame[:1], frame[1:]
        if tag == _RECYCLE:
            with self._mutex:
                if not worker.recycled and not self._closing:
                    # Recycled without a gap: the successor builds its Engine while this one goes on serving.
                    worker.recycled = True
                    self._fill_locked()
        elif tag == _HELLO:
            state = _hello(body)
            if state is True:
                with self._mutex:
                    worker.ready = True
                    self._spawn_delay = _RESPAWN_MIN_SECONDS
                    outgoing = next((w for w in self._workers if w.recycled and not w.stopped), None)
                    if outgoing is not None:
                        outgoing.stopped = True
                if outgoing is not None:
                    with contextlib.suppress(OSError, ValueError):
                        outgoing.conn.send_bytes(_STOP)  # it leaves after the scan it is on, if any
            else:
                self._kill(worker)
        elif tag == _CGROUP:
            worker.oom_file = _cgroup_counter(body)
        else:
            self._kill(worker)

    @staticmethod
    def _kill(worker: _Worker) -> None:
        worker.process.kill()  # its pipe closes; _buried gives its job (if anyone still waits for it) an outcome

    def _buried(self, worker: _Worker) -> None:
        """A worker's pipe closed: it exited or was killed. Its job (if any) gets an outcome; it is replaced."""
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(worker.conn.fileno())
        job_id = worker.slot[_SLOT_JOB]
        oom_before = worker.slot[_SLOT_OOM]
        detail = self._death(worker, "during the scan")
        with self._mutex:
            if worker in self._workers:
                self._workers.remove(worker)
            if not worker.ready:
                # it died building its Engine: do not start the next one at once, or a broken set-up spins
                self._spawn_after = time.monotonic() + self._spawn_delay
                self._spawn_delay = min(self._spawn_delay * 2, _RESPAWN_MAX_SECONDS)
            job = self._jobs.get(job_id) if job_id else None
            if job is not None:
                if self._closing:
                    job.fail(FailureKind.TIMEOUT, "the gateway is shutting down")
                elif self._killed_for_memory(worker, oom_before):
                    job.fail(FailureKind.MEMORY, "the out-of-memory killer ended the worker during the scan")
                else:
                    job.fail(FailureKind.CRASHED, detail)
        self._reap(worker, wait=0)
        self._fill()

    def _reap(self, worker: _Worker, wait: float) -> None:
        with contextlib.suppress(OSError):
            worker.conn.close()
        worker.process.join(timeout=wait)
        if worker.process.is_alive() and wait:
            worker.process.kill()
            worker.process.join(timeout=2.0)
        if not worker.process.is_alive():
            with self._mutex:
                if worker.process.pid is not None:
                    self._procs.pop(worker.process.pid, None)

    def _fill(self) -> None:
        with self._mutex:
            self._fill_locked()

    def _fill_locked(self) -> None:
        """Start workers until `size` hold a place (a recycled one's successor holds its place)."""
        if self._closing or not self._started or time.monotonic() < self._spawn_after:
            return
        while sum(1 for w in self._workers if not w.recycled) < self.size:
            try:
                self._watch(self._spawn())
            except (OSError, RuntimeError, ValueError):
                # the system refuses a process now: the pool runs short and tries again shortly
                self._spawn_after = time.monotonic() + self._spawn_delay
                self._spawn_delay = min(self._spawn_delay * 2, _RESPAWN_MAX_SECONDS)
                return

    def _sweep(self) -> None:
        """Kill a worker still on a job whose deadline has passed (its caller has stopped waiting)."""
        late = time.monotonic_ns() - int(_SWEEP_SECONDS * 1e9)
        with self._mutex:
            overdue = [w for w in self._workers if w.slot[_SLOT_JOB] and w.slot[_SLOT_END] < late]
        for worker in overdue:
            self._kill(worker)

    def _killed_for_memory(self, worker: _Worker, before: int) -> bool:
        """A SIGKILL while the cgroup's OOM-kill count went up: the kernel's OOM killer (a cgroup's MemoryMax,
        or the whole machine short of memory), not a crash. The policy is the same; the log says which."""
        if before < 0 or worker.oom_file is None or worker.process.exitcode != -signal.SIGKILL:
            return False
        after = read_oom_kills(worker.oom_file)
        return after is not None and after > before

    def _death(self, worker: _Worker, when: str) -> str:
        worker.process.join(timeout=1)
        code = worker.process.exitcode
        if code is None:
            return f"the worker stopped answering {when}"
        if code < 0:
            return f"the worker died {when} (signal {-code})"
        return f"the worker exited {when} (status {code})"


def _hello(frame: bytes) -> bool | str:
    """True for a worker's "ready", else why it is not (a worker that could not build its scanner says why)."""
    if frame[:1] == _HELLO:
        frame = frame[1:]
    try:
        hello = json.loads(frame)
    except ValueError:
        return "an unreadable hello"
    if isinstance(hello, dict) and hello.get("ready") is True:
        return True
    return str(hello.get("detail", "")) if isinstance(hello, dict) else "an unreadable hello"


def _cgroup_counter(name: bytes) -> Path | None:
    """The OOM-kill counter file a worker names, if it is one (a subverted worker must not make us read any file)."""
    try:
        path = Path(name.decode())
    except UnicodeDecodeError:
        return None
    if (
        not path.is_absolute()
        or ".." in path.parts
        or path.parts[:4] != ("/", "sys", "fs", "cgroup")
        or path.name not in ("memory.events", "memory.oom_control")
    ):
        return None
    return path
