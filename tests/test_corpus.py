"""Every real message in ../shared/corpus scans without a crash (mail folders and the quarantine zip, in memory).

The .msg and office folders belong to later issues. The quarantine zip holds real malware: its messages are
read into memory with the password its sources ship it with and never written to disk.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from triage.engine import Engine
from triage.model import NoteKind

MAIL_FOLDERS = ("phishing_pot", "mailing-lists", "parser-fixtures")

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")


def _mail_files() -> list[Path]:
    files: list[Path] = []
    for folder in MAIL_FOLDERS:
        files.extend(p for p in sorted((CORPUS / folder).rglob("*")) if p.is_file())
    return files


def test_corpus_is_there() -> None:
    assert len(_mail_files()) > 3000


def test_every_corpus_message_scans_without_crash(engine: Engine) -> None:
    failures: list[str] = []
    for path in _mail_files():
        report = engine.scan(path.read_bytes(), name=path.name)
        crashed = [n for n in report.notes if n.kind is NoteKind.CRASHED]
        if crashed:
            failures.append(f"{path.relative_to(CORPUS)}: {crashed[0].component}: {crashed[0].detail[-300:]}")
    assert not failures, "\n".join(failures[:20])


def test_quarantined_messages_scan_without_crash_in_memory(engine: Engine) -> None:
    archive = CORPUS / "quarantine-infected.zip"
    failures: list[str] = []
    with zipfile.ZipFile(archive) as zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
        assert names
        for name in names:
            report = engine.scan(zf.read(name, pwd=b"infected"), name=name)
            crashed = [n for n in report.notes if n.kind is NoteKind.CRASHED]
            if crashed:
                failures.append(f"{name}: {crashed[0].component}: {crashed[0].detail[-300:]}")
    assert not failures, "\n".join(failures)
