"""PPAP pairing: an encrypted archive in one mail, its password in the next (the Japanese "PPAP" habit, and
the attackers who copy it).

After the sweep, each message whose encrypted archive stayed closed (ARCHIVE_ENCRYPTED_NO_PASSWORD, its bytes
kept in `raw_pending`) is paired with later messages that are related to it — same sender, same thread
(In-Reply-To / References), or the same subject stem — sent within the window (default 24 h), whose own text
offers password candidates. The archive message is scanned again with those candidates tried first; when one
opens it, the new report replaces the old one, with ARCHIVE_PASSWORD_IN_FOLLOWUP naming both messages, and the
payload findings inside the archive. Each pairing, opened or not, is a row of `ppap_pairs`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from triage.batch.rescore import rescore_report
from triage.batch.store import NO_PASSWORD, ResultStore, Row
from triage.batch.task import ScanResult, Task
from triage.batch.work import FOLLOWUP_SOURCE
from triage.model import Finding, Report
from triage.names import escape_controls
from triage.report.json import render_json
from triage.scoring.table import ScoringTable

FINDING = "ARCHIVE_PASSWORD_IN_FOLLOWUP"
ANALYZER = "batch.ppap"
DEFAULT_WINDOW = 24 * 3600.0
_CLOCK_SKEW = 300.0  # a password mail "before" the archive by a few minutes is clock skew, not order
_MAX_CANDIDATES = 50
_MAX_FOLLOWERS = 20
# Subject decorations that differ between the archive mail and its password mail.
_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|答复|回复|転送|返信)\s*[:：]\s*)+", re.IGNORECASE)
_BRACKETED = re.compile(r"[【\[\(（〔<＜《][^】\]\)）〕>＞》]{0,40}[】\]\)）〕>＞》]")
_PASSWORD_WORDS = re.compile(r"(パスワード|パスワ[一ー-]ド|解凍|\b(?:password|passwd|pass|pw)\b)", re.IGNORECASE)


class Runner(Protocol):
    def run(self, chunks: Iterable[list[Task]], emit: Callable[[ScanResult], None]) -> Any: ...


@dataclass(frozen=True)
class PairOutcome:
    archive_source: str
    archive_message_id: str
    password_source: str
    password_message_id: str
    password: str
    delay_seconds: float | None
    opened: bool
    verdict_before: str = ""
    verdict_after: str = ""


def subject_stem(subject: str) -> str:
    text = unicodedata.normalize("NFKC", subject or "").lower()
    text = _REPLY_PREFIX.sub("", text)
    text = _BRACKETED.sub(" ", text)
    text = _PASSWORD_WORDS.sub(" ", text)
    return " ".join(re.sub(r"[\s:：_\-―ー・/|]+", " ", text).split())


def related(archive: Row, other: Row) -> bool:
    if archive.message_id and (other.in_reply_to == archive.message_id or archive.message_id in other.refs):
        return True
    if archive.sender and other.sender == archive.sender:
        return True
    stem = subject_stem(archive.subject)
    return len(stem) >= 4 and stem == subject_stem(other.subject)


def in_window(archive: Row, other: Row, window: float) -> bool:
    if archive.date_ts is not None and other.date_ts is not None:
        return -_CLOCK_SKEW <= other.date_ts - archive.date_ts <= window
    # Without dates only the export order and the thread say "later".
    return (
        other.seq > archive.seq
        and bool(archive.message_id)
        and (other.in_reply_to == archive.message_id or archive.message_id in other.refs)
    )


def followers(archive: Row, rows: Sequence[Row], offers: dict[int, list[str]], window: float) -> list[Row]:
    found = [
        r
        for r in rows
        if r.id != archive.id and r.id in offers and related(archive, r) and in_window(archive, r, window)
    ]
    found.sort(key=lambda r: (r.date_ts if r.date_ts is not None else float("inf"), r.seq))
    return found[:_MAX_FOLLOWERS]


def run_ppap(
    store: ResultStore, runner: Runner, table: ScoringTable, *, window: float = DEFAULT_WINDOW
) -> list[PairOutcome]:
    locked = store.with_finding(NO_PASSWORD)
    if not locked:
        return []
    rows = store.rows()
    offers = store.all_offers()
    plans: dict[str, tuple[Row, list[Row]]] = {}
    tasks: list[Task] = []
    for archive in rows:
        if archive.id not in locked:
            continue
        raw = store.raw(archive.id)
        if raw is None:
            continue
        later = followers(archive, rows, offers, window)
        candidates = list(dict.fromkeys(v for r in later for v in offers[r.id]))[:_MAX_CANDIDATES]
        if not candidates:
            continue
        plans[archive.source_id] = (archive, later)
        tasks.append(
            Task(
                seq=archive.seq,
                source_id=archive.source_id,
                container=archive.container,
                folder=archive.folder,
                kind="rfc822",
                data=raw,
                size=archive.size,
                passwords=tuple(candidates),
            )
        )
    results: list[ScanResult] = []
    if tasks:
        runner.run([tasks[i : i + 4] for i in range(0, len(tasks), 4)], results.append)
    outcomes: list[PairOutcome] = []
    for result in sorted(results, key=lambda r: r.seq):
        archive, later = plans[result.source_id]
        outcomes.append(_apply(store, table, archive, later, offers, result))
    return outcomes


def _apply(
    store: ResultStore,
    table: ScoringTable,
    archive: Row,
    later: list[Row],
    offers: dict[int, list[str]],
    result: ScanResult,
) -> PairOutcome:
    report = result.report
    opened = _opened_with_followup(report) if report is not None else None
    if report is None or opened is None:
        first = later[0]
        store.add_pair(archive.id, first.id, "", _delay(archive, first), opened=False)
        return PairOutcome(
            archive.source_id, archive.message_id, first.source_id, first.message_id, "", _delay(archive, first), False
        )
    artifact_id, name, password = opened
    giver = next((r for r in later if password in offers[r.id]), later[0])
    delay = _delay(archive, giver)
    evidence = (
        escape_controls(f"{name or artifact_id} opened with a password sent in a later message"),
        f"archive message: {escape_controls(archive.message_id or archive.source_id)}",
        f"password message: {escape_controls(giver.message_id or giver.source_id)}",
        *((f"sent {delay / 60:.0f} min after the archive",) if delay is not None else ()),
    )
    finding = Finding(id=FINDING, artifact=artifact_id, analyzer=ANALYZER, evidence=evidence)
    new_report = rescore_report(report, table, (finding,))
    store.replace(replace(result, report=new_report, report_json=render_json(new_report), raw=b""))
    row = next(r for r in store.rows() if r.source_id == archive.source_id)
    store.add_pair(row.id, giver.id, password, delay, opened=True)
    return PairOutcome(
        archive.source_id,
        archive.message_id,
        giver.source_id,
        giver.message_id,
        password,
        delay,
        True,
        archive.verdict,
        new_report.verdict.level.value,
    )


def _opened_with_followup(report: Report) -> tuple[str, str | None, str] | None:
    for artifact in report.artifacts:
        if artifact.meta.get("password_source") == FOLLOWUP_SOURCE and isinstance(artifact.meta.get("password"), str):
            return artifact.id, artifact.name, str(artifact.meta["password"])
    return None


def _delay(archive: Row, other: Row) -> float | None:
    if archive.date_ts is None or other.date_ts is None:
        return None
    return other.date_ts - archive.date_ts
