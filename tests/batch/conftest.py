"""Helpers for sweep tests: a directory of mail built in code, and a quick sweep runner."""

from __future__ import annotations

import io
import mailbox
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import make_message

from triage.batch.ppap import DEFAULT_WINDOW
from triage.batch.sweep import SweepOptions, SweepSummary, run_sweep

SHARED = b"MZ shared attachment bytes, the same in several mails " * 4


def build_export(root: Path, n_mbox: int = 6) -> None:
    root.mkdir(parents=True, exist_ok=True)
    out = b""
    for i in range(n_mbox):
        raw = make_message(
            subject=f"お知らせ {i}",
            to=f"user{i}@example.jp",
            attachments=[("資料.bin", SHARED, "application/octet-stream")] if i % 2 == 0 else [],
            headers=[("Cc", f"boss{i}@example.jp")],
        )
        out += b"From x@example.com Mon Nov 16 10:00:00 2026\n" + raw.replace(b"\r\n", b"\n") + b"\n"
    (root / "box.mbox").write_bytes(out)
    box = mailbox.Maildir(str(root / "Maildir"), create=True)
    box.add(
        make_message(subject="maildir", to="md@example.jp", attachments=[("x.bin", SHARED, "application/octet-stream")])
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a.eml", make_message(subject="zipped", to="zip@example.jp"))
    (root / "mails.zip").write_bytes(buffer.getvalue())


SweepFn = Callable[..., SweepSummary]


@pytest.fixture
def sweep(tmp_path: Path) -> SweepFn:
    """Runs a sweep of `sources` into tmp_path/out."""

    def _run(sources: list[Path], *, jobs: int = 1, ppap_window: float = DEFAULT_WINDOW) -> SweepSummary:
        opts = SweepOptions(
            sources=tuple(str(s) for s in sources), out=tmp_path / "out", jobs=jobs, ppap_window=ppap_window
        )
        return run_sweep(opts)

    return _run
