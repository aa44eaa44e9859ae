"""A test-only engine factory for the gateway tests: an Engine that fails on demand.

Loaded in the scanning workers through the milter's --engine-factory (the production injection point); a message
asks for its failure with an `X-Test-Fault:` header. Nothing here is reachable from the shipped code paths.
"""

from __future__ import annotations

import gc
import os
import struct
import sys
import time
from dataclasses import replace
from typing import Any

from triage.config import Config
from triage.engine import Engine
from triage.model import Envelope, Report


class FaultyEngine(Engine):
    def scan(self, raw: bytes, *, envelope: Envelope | None = None, name: str | None = None) -> Report:
        head = raw[:4096]
        if b"X-Test-Fault: raise" in head:
            raise RuntimeError("injected engine crash")
        if b"X-Test-Fault: late-exit" in head:
            time.sleep(0.3)
            os._exit(70)  # the worker dies without a word, after a while
        if b"X-Test-Fault: babble" in head or b"X-Test-Fault: oversize" in head:
            # a worker subverted by its message writes to the pool on its own: a frame of no kind the pool knows,
            # or a length no reply has; the pool must kill it (the scan is then cut short: crashed)
            conn = _worker_pipe()
            if b"X-Test-Fault: babble" in head:
                conn.send_bytes(b"Xnonsense")
            else:
                os.write(conn.fileno(), struct.pack("!i", 2**31 - 1))
            time.sleep(5)
        if b"X-Test-Fault: exit" in head:
            os._exit(70)  # the worker dies without a word
        if b"X-Test-Fault: nap" in head:
            time.sleep(0.3)  # a slow message that still finishes
        if b"X-Test-Fault: sleep" in head:
            time.sleep(3600)  # only the parent's hard deadline ends this
        if b"X-Test-Fault: grow" in head:
            # Memory the kernel must really provide, 32 MiB at a time: in a memory cgroup with a limit below the
            # worker's own address-space limit, the kernel's OOM killer ends the worker (SIGKILL).
            hog = [b"\x01" * (32 * 1024**2) for _ in range(64)]
            del hog
        if b"X-Test-Fault: memory" in head:
            hog = bytearray(8 * 1024**3)  # over the worker's RLIMIT_AS: MemoryError
            del hog
        started = time.monotonic_ns()
        if b"X-Test-Fault: stamp" in head:
            time.sleep(0.1)
        report = super().scan(raw, envelope=envelope, name=name)
        if b"X-Test-Fault: stamp" in head:
            # when this scan ran, on the clock every process shares, in a field the test can read back
            return replace(report, message=replace(report.message, subject=f"{started},{time.monotonic_ns()}"))
        if b"X-Test-Fault: huge" in head:
            # a reply far larger than a socket's buffer
            return replace(report, message=replace(report.message, subject="x" * 3_000_000))
        if b"X-Test-Fault: frozen" in head:
            # what the worker's collector no longer walks, in a field the test can read back
            return replace(report, message=replace(report.message, subject=f"frozen={gc.get_freeze_count()}"))
        return report


def _worker_pipe() -> Any:
    """The worker's own pipe to its pool, found in the worker's main frame (test-only: what a subverted worker
    could reach)."""
    frame = sys._getframe()
    while frame is not None and frame.f_code.co_name != "_worker_main":
        frame = frame.f_back  # type: ignore[assignment]
    assert frame is not None, "not in a scanning worker"
    return frame.f_locals["conn"]


def make_engine(config: Config) -> FaultyEngine:
    return FaultyEngine(config)


def make_slow_engine(config: Config) -> FaultyEngine:
    """An engine that takes TRIAGE_TEST_SLOW_BUILD seconds to build (read when the worker builds it)."""
    time.sleep(float(os.environ.get("TRIAGE_TEST_SLOW_BUILD", "0")))
    return FaultyEngine(config)
