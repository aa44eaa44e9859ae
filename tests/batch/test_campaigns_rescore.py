"""Campaigns group flagged messages with what they share; rescoring applies new weights without analysis."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pe import minimal_pe
from conftest import make_message

from batch.conftest import SweepFn
from triage.batch.rescore import load_table, rescore_report, rescore_store
from triage.batch.store import DB_NAME, ResultStore
from triage.errors import ConfigError
from triage.frontends.cli import main


def _box(messages: list[bytes]) -> bytes:
    return b"".join(
        b"From x@example.com Mon Nov 16 10:00:00 2026\n" + m.replace(b"\r\n", b"\n") + b"\n" for m in messages
    )


def _campaign_mail(i: int, *, exe: bool) -> bytes:
    return make_message(
        subject=f"【重要】会議資料の送付 {i}",
        sender=f"sender{i}@lure-example.com",
        to=f"victim{i}@example.jp",
        body="会議資料を添付します。ご確認ください。" * 3,
        attachments=[("資料.exe", minimal_pe(), "application/octet-stream")] if exe else [],
    )


def test_campaigns_and_rescore(tmp_path: Path, sweep: SweepFn) -> None:
    mails = [_campaign_mail(i, exe=True) for i in range(3)]
    mails.append(make_message(subject="unrelated", sender="a@clean-one.example", to="x@example.jp"))
    mails.append(make_message(subject="unrelated 2", sender="b@clean-one.example", to="y@example.jp"))
    (tmp_path / "box.mbox").write_bytes(_box(mails))
    summary = sweep([tmp_path / "box.mbox"])
    kinds = {(c.kind, len(c.messages)) for c in summary.campaigns}
    assert ("attachment", 3) in kinds and ("sender_domain", 3) in kinds and ("similar_text", 3) in kinds
    assert all(c.key != "clean-one.example" for c in summary.campaigns)  # all-clean groups are not campaigns
    attachment = next(c for c in summary.campaigns if c.kind == "attachment")
    assert attachment.recipients == 3 and attachment.worst in ("suspicious", "malicious")
    store = ResultStore(tmp_path / "out" / DB_NAME)
    assert store.db.execute("SELECT COUNT(*) FROM campaign_members").fetchone()[0] >= 9

    # Rescore: ATTACHMENT_EXECUTABLE worth nothing turns the lure mails' verdicts down, without a scan.
    overrides = tmp_path / "weights.toml"
    overrides.write_text(
        "[symbols.ATTACHMENT_EXECUTABLE]\nweight = 0.0\n[verdict]\nsuspicious = 8.5\nmalicious = 9.0\n"
    )
    before = {sid: r.verdict.level.value for _, sid, r in store.reports()}
    result = rescore_store(store, load_table(overrides))
    after = {sid: r.verdict.level.value for _, sid, r in store.reports()}
    assert result.messages == 5 and result.changed >= 3
    assert before != after and set(after.values()) == {"clean"}
    assert (
        store.db.execute(
            "SELECT COUNT(*) FROM findings WHERE finding = 'ATTACHMENT_EXECUTABLE' AND weight > 0"
        ).fetchone()[0]
        == 0
    )
    store.close()
    # and back with the shipped weights, through the CLI
    assert main(["rescore", str(tmp_path / "out")]) == 0
    store = ResultStore(tmp_path / "out" / DB_NAME)
    assert {sid: r.verdict.level.value for _, sid, r in store.reports()} == before
    store.close()


def test_rescore_refuses_a_table_without_a_saved_symbol(tmp_path: Path) -> None:
    from triage.engine import Engine

    report = Engine().scan(make_message(attachments=[("a.exe", minimal_pe(), "application/octet-stream")]))
    table = load_table(None)
    assert rescore_report(report, table).verdict == report.verdict
    bad = tmp_path / "bad.toml"
    bad.write_text("[verdict]\nsuspicious = 20.0\nmalicious = 10.0\n")
    with pytest.raises(ConfigError):
        load_table(bad)


def test_campaign_dates_are_first_and_last_in_time_not_in_text_order(tmp_path: Path, sweep: SweepFn) -> None:
    dates = ["Wed, 31 Jul 2024 09:00:00 +0900", "Fri, 02 Aug 2024 09:00:00 +0900", "Thu, 01 Aug 2024 23:30:00 -0700"]
    mails = [
        _campaign_mail(i, exe=True).replace(b"Mon, 16 Nov 2026 10:00:00 +0900", date.encode())
        for i, date in enumerate(dates)
    ]
    (tmp_path / "box.mbox").write_bytes(_box(mails))
    summary = sweep([tmp_path / "box.mbox"])
    attachment = next(c for c in summary.campaigns if c.kind == "attachment")
    # as text "Fri, 02 Aug" < "Thu, 01 Aug" < "Wed, 31 Jul"; in time 31 Jul < 2 Aug 09:00 JST < 1 Aug 23:30 PDT
    assert (attachment.first_date, attachment.last_date) == (dates[0], dates[2])
