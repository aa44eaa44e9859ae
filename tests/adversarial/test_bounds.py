"""Every adversarial case through the engine in a child process: within the deadline and memory bound, with the
expected Notes/findings and `complete` flag, never `crashed`, and nothing written to disk (issue 8, part 2).

One child (`_child.py`) scans the cases in turn, so the engine is built once; it runs under the scanning worker's
address-space limit, with cwd, TMPDIR and HOME in empty folders that must stay empty, and reports the Python-level
write and subprocess events (PEP 578 audit hook) seen while each scan ran. A child that overruns its deadline is
killed and the case fails; the next case gets a fresh child. Each case runs once (~60 s for the corpus here).

Peak memory is the child's VmHWM during the scan, which includes the engine itself (~140 MiB) and the message the
child built: the bound is `_PEAK_MB`, higher for the two ~100 MB messages (the scanning worker's whole budget is
`MEMORY_MB`). Measured on the 2-core CI machine: at most ~240 MiB for the small cases, ~640 MiB for the 70 MiB
attachment (parsed, decoded, hashed), ~320 MiB for the 100 MiB one (over max_message_size: hashed only).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from triage.config import load_config
from triage.engine import MESSAGE_GRACE_SECONDS
from triage.isolation import WorkerSpec

from ._child import _offending
from .cases import Case, all_cases

CHILD = Path(__file__).with_name("_child.py")
MEMORY_MB = WorkerSpec().memory_mb  # the address-space limit a scanning worker runs under
_PEAK_MB = 500  # peak RSS of the child while scanning any case but those below (MiB)
_PEAK_MB_LARGE = {"attachment_70mb": 1000, "attachment_100mb": 600}
_BUILD_SECONDS = 20.0  # allowance for building a case in the child before its scan starts (parent's hard timeout)
_READY_SECONDS = 120.0


class _Child:
    """The scanning child process: started lazily, replaced after it overran or died."""

    def __init__(self, cwd: Path, tmp: Path, home: Path, log: Path) -> None:
        self.cwd, self.tmp, self.home, self.log = cwd, tmp, home, log
        self.proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def _start(self) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "TMPDIR": str(self.tmp),
            "TMP": str(self.tmp),
            "TEMP": str(self.tmp),
            "HOME": str(self.home),
        }
        with self.log.open("ab") as log:
            proc = subprocess.Popen(  # our own script, fixed argv
                [sys.executable, str(CHILD), str(MEMORY_MB)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=self.cwd,
                env=env,
            )
        self.proc, self._buffer = proc, b""
        ready = self._read_line(_READY_SECONDS)
        assert ready is not None and json.loads(ready) == {"ready": True}, f"the child did not start: {self.tail()}"
        return proc

    def _read_line(self, timeout: float) -> bytes | None:
        assert self.proc is not None and self.proc.stdout is not None
        end = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = end - time.monotonic()
                if left <= 0 or not selector.select(left):
                    return None
                piece = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not piece:
                    return None  # the child died
                self._buffer += piece
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def scan(self, name: str, timeout: float) -> dict[str, Any] | None:
        """The child's result for one case, or None when it did not answer in time (it is then killed)."""
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        assert proc.stdin is not None
        proc.stdin.write(name.encode() + b"\n")
        proc.stdin.flush()
        line = self._read_line(timeout)
        if line is None:
            self.close()
            return None
        result: dict[str, Any] = json.loads(line)
        return result

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self.proc = None


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Child]:
    root = tmp_path_factory.mktemp("adversarial")
    dirs = [root / name for name in ("cwd", "tmp", "home")]
    for folder in dirs:
        folder.mkdir()
    runner = _Child(*dirs, log=root / "child-stderr.txt")
    yield runner
    runner.close()


def _left_behind(runner: _Child) -> list[str]:
    return [str(path) for folder in (runner.cwd, runner.tmp, runner.home) for path in folder.iterdir()]


_DEADLINE = load_config().limits.max_seconds + MESSAGE_GRACE_SECONDS


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_case_is_bounded(case: Case, child: _Child) -> None:
    result = child.scan(case.name, _DEADLINE + _BUILD_SECONDS)
    assert result is not None, f"{case.name}: no report within {_DEADLINE + _BUILD_SECONDS:g}s\n{child.tail()}"
    assert result["error"] is None, result["error"]
    assert result["seconds"] <= _DEADLINE
    assert result["peak_rss_mb"] <= _PEAK_MB_LARGE.get(case.name, _PEAK_MB)
    notes = {kind for kind, _, _ in result["notes"]}
    assert "crashed" not in notes, [n for n in result["notes"] if n[0] == "crashed"]
    assert case.expect_notes <= notes, result["notes"]
    assert case.expect_findings <= set(result["findings"]), result["findings"]
    if case.incomplete is not None:
        assert result["complete"] is not case.incomplete, result["notes"]
    assert result["events"] == [], "the scan wrote to disk or ran a program"
    assert _left_behind(child) == [], "files appeared in the child's cwd, TMPDIR or HOME"


def test_the_watch_sees_writes_and_programs() -> None:
    """The audit-hook filter the child uses: what counts as a write or a run, and what is let through."""
    assert _offending("open", ("/tmp/x", "wb", 0)) is not None
    assert _offending("open", ("/tmp/x", None, os.O_WRONLY | os.O_CREAT)) is not None
    assert _offending("open", ("/tmp/x", "rb", 0)) is None
    assert _offending("open", ("/dev/null", "wb", 0)) is None
    assert _offending("open", (5, "wb", 0)) is None  # an inherited descriptor: a pipe or a memfd
    assert _offending("os.mkdir", ("/tmp/d", 0o777, -1)) is not None
    assert _offending("tempfile.mkstemp", ("/tmp/x",)) is not None
    assert _offending("shutil.copyfile", ("a", "b")) is not None
    assert (
        _offending("subprocess.Popen", ("unar", ["unar", "-o", "-", "-i", "/proc/self/fd/3", "0"], None, None)) is None
    )
    assert _offending("subprocess.Popen", ("unar", ["unar", "-o", "/tmp/out", "x.rar"], None, None)) is not None
    assert _offending("subprocess.Popen", ("sh", ["sh", "-c", "id"], None, None)) is not None
