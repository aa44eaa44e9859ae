"""A whole sweep: every message scanned once, the database answers the responder's questions, the flat
exports match, an interrupted sweep resumes without scanning anything twice."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from batch.conftest import SHARED, SweepFn, build_export
from triage.batch.progress import NoProgress
from triage.batch.store import DB_NAME, ResultStore, StoreExists
from triage.batch.sweep import SweepOptions, run_sweep
from triage.sources.msg import OLE_MAGIC


def test_sweep_database_and_exports(tmp_path: Path, sweep: SweepFn) -> None:
    build_export(tmp_path / "export")
    # hostile files: an OLE header with junk named .msg (fails in the worker), a zip that is not one (fails in
    # the source walk); each is one error record, and the sweep goes on
    (tmp_path / "export" / "broken.msg").write_bytes(OLE_MAGIC + b"\xff" * 3000)
    (tmp_path / "export" / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    summary = sweep([tmp_path / "export"], jobs=2)
    assert summary.scanned == 10 and summary.errors == 2
    store = ResultStore(tmp_path / "out" / DB_NAME)
    errors = dict(store.db.execute("SELECT source_id, error_kind FROM messages WHERE status = 'error'").fetchall())
    assert sorted(errors.values()) == ["unparsable", "unparsable"]
    ids = [r.source_id for r in store.rows()]
    assert len(ids) == len(set(ids)) == 8
    sha = hashlib.sha256(SHARED).hexdigest()
    assert store.recipients_of_attachment(sha) == [
        "boss0@example.jp",
        "boss2@example.jp",
        "boss4@example.jp",
        "md@example.jp",
        "user0@example.jp",
        "user2@example.jp",
        "user4@example.jp",
    ]
    indexes = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"artifacts_sha256", "findings_finding", "messages_sender_domain"} <= indexes
    lines = (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8 and all(json.loads(line)["verdict"]["level"] for line in lines)
    with (tmp_path / "out" / "summary.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["source_id"] for r in rows) == sorted([*ids, *errors])
    store.close()
    with pytest.raises(StoreExists):
        sweep([tmp_path / "export"])


class _StopAfter(NoProgress):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def advance(self, outcome: str, size: int) -> None:
        super().advance(outcome, size)
        if self.tally.scanned >= self.n:
            raise KeyboardInterrupt


def test_interrupted_sweep_resumes_without_rescanning(tmp_path: Path) -> None:
    build_export(tmp_path / "export", n_mbox=10)
    opts = SweepOptions(sources=(str(tmp_path / "export"),), out=tmp_path / "out", jobs=1, chunk_size=2)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(opts, _StopAfter(3))
    store = ResultStore(tmp_path / "out" / DB_NAME)
    first = {r.source_id for r in store.rows()}
    store.close()
    assert 3 <= len(first) < 12
    progress = NoProgress()
    summary = run_sweep(SweepOptions(sources=opts.sources, out=opts.out, jobs=1, resume=True), progress)
    assert summary.skipped == len(first)
    assert summary.scanned == 12 - len(first)
    store = ResultStore(tmp_path / "out" / DB_NAME)
    rows = store.rows()
    assert len(rows) == 12 == len({r.source_id for r in rows})
    store.close()
    lines = (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 12
