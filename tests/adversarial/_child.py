"""The scanning child of test_bounds: builds adversarial cases and scans them, watching every disk write.

Run as a script by test_bounds.py, with an address-space limit (RLIMIT_AS) set here before anything large is
made. It reads case names on stdin, one a line, and answers each with one JSON line on stdout: the report's
notes, findings and `complete`, the scan's seconds, its peak resident memory (VmHWM, reset before each scan through
/proc/self/clear_refs), and every write-ish audit event (PEP 578) raised while the engine ran. The audit hook sees
Python-level opens, os/shutil/tempfile calls and subprocesses; C libraries writing on their own are caught by the
parent instead, which runs this child with cwd, TMPDIR and HOME in empty folders and checks they stay empty.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve()
for extra in (_HERE.parents[1], _HERE.parents[2] / "samples"):  # tests/ (for adversarial.cases), samples/
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_WATCHED = (
    "os.mkdir",
    "os.rename",
    "os.remove",
    "os.rmdir",
    "os.symlink",
    "os.link",
    "os.chmod",
    "os.chown",
    "os.truncate",
    "os.utime",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "shutil.",
    "tempfile.",
    "subprocess.Popen",
    "ctypes.dlopen",
)
_ALLOWED_PATHS = ("/dev/null",)


def _offending(event: str, args: tuple[Any, ...]) -> str | None:
    """A description of the event when it may write to disk or run something; None when it is harmless."""
    if event == "open":
        path, mode, flags = args
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if not writes or isinstance(path, int) or str(path) in _ALLOWED_PATHS:
            return None  # an already-open descriptor (a pipe, a memfd) or the null device
        return f"open {path!r} mode={mode!r} flags={flags!r}"
    if event == "subprocess.Popen":
        argv = [str(a) for a in (args[1] if isinstance(args[1], list | tuple) else [args[1]])]
        tool = Path(str(args[0] or argv[0])).name
        # unar is the one tool we run; it must write to stdout only ("-o -"), never to a folder
        outputs = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-o", "-output-directory")]
        if tool == "unar" and outputs and all(o == "-" for o in outputs):
            return None
        return f"subprocess {argv!r}"
    if event == "ctypes.dlopen":
        return None  # loading a library (libmagic, yara) is not a write
    if event.startswith(_WATCHED):
        return f"{event} {args!r}"[:300]
    return None


def _install_hook(sink: list[str], armed: list[bool]) -> None:
    def hook(event: str, args: tuple[Any, ...]) -> None:
        if armed[0]:
            found = _offending(event, args)
            if found is not None:
                sink.append(found)

    sys.addaudithook(hook)


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:  # "5" resets VmHWM (Linux ≥ 4.0)
        handle.write("5")


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    memory_mb = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 1024 * 1024, resource.RLIM_INFINITY))
    from adversarial.cases import all_cases
    from triage.engine import Engine

    cases: dict[str, Callable[[], bytes]] = {c.name: c.build for c in all_cases()}
    engine = Engine()
    engine.scan(b"From: a@example.org\r\nSubject: warm-up\r\n\r\nwarm-up\r\n")  # lazy imports, libmagic's database
    # python-magic finds libmagic with ctypes.util.find_library, which runs `ldconfig -p` when first imported:
    # a fixed command, not the message's doing, so it is paid here, before the watch starts
    import magic  # noqa: F401

    events: list[str] = []
    armed = [False]
    _install_hook(events, armed)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        name = line.strip()
        raw = cases[name]()
        gc.collect()
        _reset_peak()
        base = _status_kb("VmRSS")
        events.clear()
        armed[0] = True
        started = time.monotonic()
        try:
            report = engine.scan(raw, name=f"{name}.eml")
            error = None
        except BaseException as exc:  # the engine must not raise: report what it raised
            report, error = None, f"{type(exc).__name__}: {exc}"[:500]
        seconds = time.monotonic() - started
        armed[0] = False
        result = {
            "name": name,
            "size": len(raw),
            "seconds": round(seconds, 3),
            "base_rss_mb": round(base / 1024, 1),
            "peak_rss_mb": round(_status_kb("VmHWM") / 1024, 1),
            "events": list(events),
            "error": error,
        }
        if report is not None:
            result |= {
                "notes": [[n.kind.value, n.component, n.detail[:200]] for n in report.notes],
                "findings": sorted({f.id for f in report.findings}),
                "complete": report.verdict.complete,
                "level": report.verdict.level.value,
            }
        del raw, report
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
