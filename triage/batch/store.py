"""The sweep's results database (SQLite): one writer, batched transactions, indexes for the questions a
responder asks ("who else got this attachment?", "every message with finding X", "everything from this domain").

Tables: messages (one row per source id, with the full JSON report compressed), recipients, artifacts,
findings, iocs, notes, password_offers (candidates written in a message's text, for PPAP pairing), raw_pending
(the bytes of messages whose encrypted archive stayed closed, kept so a pairing can retry them without going
back to the sources), campaigns + campaign_members, ppap_pairs, and meta (run settings).
"""

from __future__ import annotations

import ipaddress
import json
import re
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from triage.batch.task import ScanResult
from triage.model import Report
from triage.report.json import parse_json

DB_NAME = "results.sqlite"
SCHEMA_VERSION = 1
NO_PASSWORD = "ARCHIVE_ENCRYPTED_NO_PASSWORD"  # noqa: S105 - a finding id

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    source_id TEXT NOT NULL UNIQUE,
    container TEXT NOT NULL,
    folder TEXT NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL,            -- ok | error | skipped
    error_kind TEXT NOT NULL,
    error_detail TEXT NOT NULL,
    input_sha256 TEXT,
    message_id TEXT,
    in_reply_to TEXT,
    refs TEXT,                       -- JSON list
    sender TEXT,
    sender_domain TEXT,
    subject TEXT,
    date TEXT,
    date_ts REAL,
    first_external_hop TEXT,
    verdict TEXT,
    complete INTEGER,
    score REAL,
    text_sample TEXT,
    seconds REAL,
    report BLOB                      -- zlib(JSON report)
);
CREATE INDEX IF NOT EXISTS messages_sender_domain ON messages (sender_domain);
CREATE INDEX IF NOT EXISTS messages_message_id ON messages (message_id);
CREATE INDEX IF NOT EXISTS messages_seq ON messages (seq);
CREATE TABLE IF NOT EXISTS recipients (message INTEGER NOT NULL, address TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS recipients_message ON recipients (message);
CREATE INDEX IF NOT EXISTS recipients_address ON recipients (address);
CREATE TABLE IF NOT EXISTS artifacts (
    message INTEGER NOT NULL, artifact TEXT NOT NULL, parent TEXT, depth INTEGER, name TEXT, types TEXT,
    size INTEGER, md5 TEXT, sha1 TEXT, sha256 TEXT
);
CREATE INDEX IF NOT EXISTS artifacts_sha256 ON artifacts (sha256);
CREATE INDEX IF NOT EXISTS artifacts_message ON artifacts (message);
CREATE TABLE IF NOT EXISTS findings (
    message INTEGER NOT NULL, finding TEXT NOT NULL, artifact TEXT, analyzer TEXT, strength REAL, weight REAL,
    evidence TEXT
);
CREATE INDEX IF NOT EXISTS findings_finding ON findings (finding);
CREATE INDEX IF NOT EXISTS findings_message ON findings (message);
CREATE TABLE IF NOT EXISTS iocs (message INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS iocs_value ON iocs (value);
CREATE INDEX IF NOT EXISTS iocs_message ON iocs (message);
CREATE TABLE IF NOT EXISTS notes (
    message INTEGER NOT NULL, kind TEXT, artifact TEXT, component TEXT, detail TEXT
);
CREATE INDEX IF NOT EXISTS notes_message ON notes (message);
CREATE TABLE IF NOT EXISTS password_offers (message INTEGER NOT NULL, position INTEGER, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS password_offers_message ON password_offers (message);
CREATE TABLE IF NOT EXISTS raw_pending (message INTEGER PRIMARY KEY, raw BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, messages INTEGER, recipients INTEGER,
    worst TEXT, first_date TEXT, last_date TEXT
);
CREATE TABLE IF NOT EXISTS campaign_members (campaign INTEGER NOT NULL, message INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS campaign_members_message ON campaign_members (message);
CREATE TABLE IF NOT EXISTS ppap_pairs (
    archive_message INTEGER NOT NULL, password_message INTEGER NOT NULL, password TEXT, delay_seconds REAL,
    opened INTEGER NOT NULL
);
"""

_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
_CHILD_TABLES = ("recipients", "artifacts", "findings", "iocs", "notes", "password_offers")


class StoreExists(Exception):
    """The output directory already holds results and --resume was not given."""


@dataclass(frozen=True)
class Row:
    """One message row as the post-sweep steps read it."""

    id: int
    seq: int
    source_id: str
    message_id: str
    in_reply_to: str
    refs: tuple[str, ...]
    sender: str
    subject: str
    date_ts: float | None
    verdict: str
    container: str
    folder: str
    size: int


class ResultStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        self._batch: list[ScanResult] = []

    @classmethod
    def open(cls, out: Path, *, resume: bool) -> ResultStore:
        out.mkdir(parents=True, exist_ok=True)
        path = out / DB_NAME
        if path.exists() and not resume:
            raise StoreExists(f"{path} exists: pass --resume to continue that sweep, or choose another --out")
        return cls(path)

    def close(self) -> None:
        self.flush()
        self.db.close()

    # -- writing ---------------------------------------------------------------------------------------------
    def done_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT source_id FROM messages")}

    def add(self, result: ScanResult, *, batch_size: int = 200) -> None:
        self._batch.append(result)
        if len(self._batch) >= batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        with _transaction(self.db):
            for result in batch:
                self._write(result)

    def replace(self, result: ScanResult) -> int:
        """Rewrite a message's rows (a PPAP retry produced a new report); returns its row id."""
        self.flush()
        with _transaction(self.db):
            return self._write(result)

    def _write(self, r: ScanResult) -> int:
        old = self.db.execute("SELECT id FROM messages WHERE source_id = ?", (r.source_id,)).fetchone()
        if old is not None:
            for table in _CHILD_TABLES:
                self.db.execute(f"DELETE FROM {table} WHERE message = ?", (old[0],))  # noqa: S608 - fixed names
            self.db.execute("DELETE FROM raw_pending WHERE message = ?", (old[0],))
            self.db.execute("DELETE FROM messages WHERE id = ?", (old[0],))
        report = r.report
        status = "ok" if report is not None else ("skipped" if r.error_kind == "not_mail" else "error")
        values: dict[str, object] = {
            "seq": r.seq,
            "source_id": r.source_id,
            "container": r.container,
            "folder": r.folder,
            "size": r.size,
            "status": status,
            "error_kind": r.error_kind,
            "error_detail": r.error_detail,
            "seconds": r.seconds,
        }
        if report is not None:
            info = report.message
            sender = (info.from_ or "").lower()
            values.update(
                input_sha256=report.input.sha256,
                message_id=normalise_id(info.message_id or ""),
                in_reply_to=r.extras.in_reply_to,
                refs=json.dumps(list(r.extras.references)),
                sender=sender,
                sender_domain=sender.rpartition("@")[2] if "@" in sender else "",
                subject=info.subject or "",
                date=info.date or "",
                date_ts=date_ts(info.date),
                first_external_hop=first_external_hop(report),
                verdict=report.verdict.level.value,
                complete=int(report.verdict.complete),
                score=report.score.total,
                text_sample=r.extras.text_sample,
                report=zlib.compress((r.report_json or "").encode("utf-8"), 6),
            )
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        # the column names are the keys of the dict literal above, never data; every value is a placeholder
        cur = self.db.execute(f"INSERT INTO messages ({cols}) VALUES ({marks})", tuple(values.values()))  # noqa: S608
        row = int(cur.lastrowid or 0)
        if report is None:
            return row
        self.db.executemany("INSERT INTO recipients VALUES (?, ?)", [(row, a) for a in _recipients(report, r)])
        self.db.executemany(
            "INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (row, a.id, a.parent, a.depth, a.name, ",".join(a.types), a.size, a.md5, a.sha1, a.sha256)
                for a in report.artifacts
            ],
        )
        self.db.executemany(
            "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(row, f.id, f.artifact, f.analyzer, f.strength, f.weight, _evidence(f.evidence)) for f in report.findings],
        )
        iocs = report.iocs
        self.db.executemany(
            "INSERT INTO iocs VALUES (?, ?, ?)",
            [
                (row, kind, value)
                for kind, values_ in (
                    ("urls", iocs.urls),
                    ("domains", iocs.domains),
                    ("ips", iocs.ips),
                    ("emails", iocs.emails),
                    ("hashes", iocs.hashes),
                )
                for value in values_
            ],
        )
        self.db.executemany(
            "INSERT INTO notes VALUES (?, ?, ?, ?, ?)",
            [(row, n.kind.value, n.artifact, n.component, n.detail) for n in report.notes],
        )
        self.db.executemany(
            "INSERT INTO password_offers VALUES (?, ?, ?)",
            [(row, i, v) for i, v in enumerate(r.extras.password_offers)],
        )
        return row

    def update_scores_many(self, updates: list[tuple[int, Report, str]]) -> None:
        """New weights, score and verdict for messages (rescoring), in one transaction; other rows stay."""
        with _transaction(self.db):
            for message, report, report_json in updates:
                self.db.execute(
                    "UPDATE messages SET verdict = ?, complete = ?, score = ?, report = ? WHERE id = ?",
                    (
                        report.verdict.level.value,
                        int(report.verdict.complete),
                        report.score.total,
                        zlib.compress(report_json.encode("utf-8"), 6),
                        message,
                    ),
                )
                self.db.execute("DELETE FROM findings WHERE message = ?", (message,))
                self.db.executemany(
                    "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (message, f.id, f.artifact, f.analyzer, f.strength, f.weight, _evidence(f.evidence))
                        for f in report.findings
                    ],
                )

    def keep_raw(self, source_id: str, raw: bytes) -> None:
        """Keep the bytes of a message whose archive stayed closed, for a PPAP retry after the sweep."""
        self.flush()
        row = self.db.execute("SELECT id FROM messages WHERE source_id = ?", (source_id,)).fetchone()
        if row is not None:
            with _transaction(self.db):
                self.db.execute("INSERT OR REPLACE INTO raw_pending VALUES (?, ?)", (row[0], raw))

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- reading ---------------------------------------------------------------------------------------------
    def rows(self) -> list[Row]:
        """Every scanned message (status ok), in source order."""
        self.flush()
        query = (
            "SELECT id, seq, source_id, message_id, in_reply_to, refs, sender, subject, date_ts, verdict, "
            "container, folder, size FROM messages WHERE status = 'ok' ORDER BY seq"
        )
        return [
            Row(
                id=r[0],
                seq=r[1],
                source_id=r[2],
                message_id=r[3] or "",
                in_reply_to=r[4] or "",
                refs=tuple(json.loads(r[5] or "[]")),
                sender=r[6] or "",
                subject=r[7] or "",
                date_ts=r[8],
                verdict=r[9] or "",
                container=r[10],
                folder=r[11],
                size=r[12],
            )
            for r in self.db.execute(query)
        ]

    def report(self, message: int) -> Report | None:
        row = self.db.execute("SELECT report FROM messages WHERE id = ?", (message,)).fetchone()
        if row is None or row[0] is None:
            return None
        return parse_json(zlib.decompress(row[0]).decode("utf-8"))

    def reports(self) -> Iterator[tuple[int, str, Report]]:
        """Every report in source order (id, source id, report), streamed."""
        self.flush()
        with closing(self.db.cursor()) as cur:
            cur.execute("SELECT id, source_id, report FROM messages WHERE report IS NOT NULL ORDER BY seq")
            for mid, sid, blob in cur:
                yield mid, sid, parse_json(zlib.decompress(blob).decode("utf-8"))

    def with_finding(self, finding: str) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT DISTINCT message FROM findings WHERE finding = ?", (finding,))}

    def all_offers(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for message, value in self.db.execute("SELECT message, value FROM password_offers ORDER BY message, position"):
            out.setdefault(message, []).append(value)
        return out

    def add_pair(self, archive: int, password_message: int, password: str, delay: float | None, opened: bool) -> None:
        with _transaction(self.db):
            self.db.execute(
                "INSERT INTO ppap_pairs VALUES (?, ?, ?, ?, ?)",
                (archive, password_message, password, delay, int(opened)),
            )

    def raw(self, message: int) -> bytes | None:
        row = self.db.execute("SELECT raw FROM raw_pending WHERE message = ?", (message,)).fetchone()
        return bytes(row[0]) if row is not None else None

    def offers(self, message: int) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT value FROM password_offers WHERE message = ? ORDER BY position", (message,)
            )
        ]

    def recipients_of_attachment(self, sha256: str) -> list[str]:
        """All recipients of messages with an artifact of this SHA-256 (the question a responder asks first)."""
        query = (
            "SELECT DISTINCT r.address FROM artifacts a JOIN recipients r ON r.message = a.message "
            "WHERE a.sha256 = ? ORDER BY r.address"
        )
        return [r[0] for r in self.db.execute(query, (sha256.lower(),))]


class _transaction:
    """BEGIN … COMMIT (ROLLBACK on error) on an autocommit connection: one transaction per batch."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _evidence(evidence: tuple[str, ...]) -> str:
    return json.dumps(list(evidence), ensure_ascii=False)


def normalise_id(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    return value if value.startswith("<") else f"<{value.strip('<>')}>"


def date_ts(value: str | None) -> float | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    try:
        return when.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def first_external_hop(report: Report) -> str:
    """The IP of the last outside server (the one that handed the message to the receiving side)."""
    for hop in reversed(report.message.received):
        for match in _IPV4.finditer(hop.from_ or ""):
            try:
                ip = ipaddress.ip_address(match.group(1))
            except ValueError:
                continue
            if ip.is_global:
                return str(ip)
    return ""


def _recipients(report: Report, r: ScanResult) -> list[str]:
    seen = dict.fromkeys(a.strip().lower() for a in report.message.to if "@" in a)
    seen.update(dict.fromkeys(r.extras.recipients))
    return list(seen)
