"""PPAP: an mbox with an encrypted zip mail and, 5 minutes later, the password mail; the sweep pairs them,
opens the archive and reports what is inside."""

from __future__ import annotations

import json
from pathlib import Path

from _pe import minimal_pe
from samplekit.batch import PPAP_PASSWORD, mbox, ppap_messages

from batch.conftest import SweepFn
from triage.batch.ppap import FINDING, in_window, related, subject_stem
from triage.batch.store import DB_NAME, ResultStore, Row


def _row(**kw: object) -> Row:
    base: dict[str, object] = dict(
        id=1, seq=1, source_id="s", message_id="", in_reply_to="", refs=(), sender="", subject="", date_ts=None,
        verdict="clean", container="c", folder="", size=0,
    )  # fmt: skip
    base.update(kw)
    return Row(**base)  # type: ignore[arg-type]


def test_archive_opened_with_the_followup_password(tmp_path: Path, sweep: SweepFn) -> None:
    (tmp_path / "box.mbox").write_bytes(mbox(ppap_messages(minimal_pe())))
    summary = sweep([tmp_path / "box.mbox"], jobs=2)
    assert len(summary.pairs) == 1
    pair = summary.pairs[0]
    assert pair.opened and pair.password == PPAP_PASSWORD and pair.delay_seconds == 300.0
    store = ResultStore(tmp_path / "out" / DB_NAME)
    reports = {sid: r for _, sid, r in store.reports()}
    archive = reports[pair.archive_source]
    ids = archive.finding_ids()
    assert "ATTACHMENT_EXECUTABLE" in ids and FINDING in ids
    assert "ARCHIVE_ENCRYPTED_NO_PASSWORD" not in ids and archive.verdict.complete
    exe = next(a for a in archive.artifacts if a.name == "見積書.exe")
    assert any(f.id == "ATTACHMENT_EXECUTABLE" and f.artifact == exe.id for f in archive.findings)
    followup = next(f for f in archive.findings if f.id == FINDING)
    assert "archive message: <ppap-archive@example-trading.co.jp>" in followup.evidence
    assert "password message: <ppap-password@example-trading.co.jp>" in followup.evidence
    assert followup.weight > 0
    (archive_row, _password_row, password, opened) = store.db.execute(
        "SELECT archive_message, password_message, password, opened FROM ppap_pairs"
    ).fetchone()
    assert password == PPAP_PASSWORD and opened == 1
    found = store.db.execute("SELECT COUNT(*) FROM findings WHERE finding = ? AND message = ?", (FINDING, archive_row))
    assert found.fetchone()[0] == 1
    # the flat export carries the new report too
    lines = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert any(FINDING in {f["id"] for f in doc["findings"]} for doc in lines)
    store.close()


def test_no_pairing_outside_the_window(tmp_path: Path, sweep: SweepFn) -> None:
    (tmp_path / "box.mbox").write_bytes(mbox(ppap_messages(minimal_pe())))
    summary = sweep([tmp_path / "box.mbox"], ppap_window=120.0)
    assert summary.pairs == ()
    store = ResultStore(tmp_path / "out" / DB_NAME)
    assert store.with_finding("ARCHIVE_ENCRYPTED_NO_PASSWORD") and not store.with_finding(FINDING)
    store.close()


def test_subject_stem_and_relations() -> None:
    assert subject_stem("【パスワード】お見積書の送付") == subject_stem("【ご確認】お見積書の送付")
    assert subject_stem("Re: Fwd: 資料") == subject_stem("資料")
    archive = _row(message_id="<a@x>", sender="a@x.jp", subject="資料の送付", date_ts=1000.0)
    assert related(archive, _row(id=2, in_reply_to="<a@x>"))
    assert related(archive, _row(id=2, refs=("<z@x>", "<a@x>")))
    assert related(archive, _row(id=2, sender="a@x.jp"))
    assert related(archive, _row(id=2, subject="【PW】資料の送付"))
    assert not related(archive, _row(id=2, sender="b@y.jp", subject="別件"))
    assert in_window(archive, _row(id=2, date_ts=1000.0 + 3600), 86400)
    assert not in_window(archive, _row(id=2, date_ts=1000.0 + 2 * 86400), 86400)
    assert not in_window(archive, _row(id=2, date_ts=1000.0 - 3600), 86400)
