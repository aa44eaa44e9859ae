"""The sweep's flat outputs, rebuilt from the database at the end of every run (so a resumed or re-paired
sweep never leaves stale lines): results.jsonl (one JSON report per line, source order) and summary.csv."""

from __future__ import annotations

import csv
import zlib
from contextlib import closing
from pathlib import Path

from triage.batch.store import ResultStore

JSONL = "results.jsonl"
CSV = "summary.csv"
_COLUMNS = (
    "source_id",
    "container",
    "folder",
    "status",
    "error_kind",
    "verdict",
    "complete",
    "score",
    "sender",
    "subject",
    "date",
    "message_id",
    "findings",
    "error_detail",
)


def write_exports(store: ResultStore, out: Path) -> None:
    store.flush()
    db = store.db
    jsonl_tmp = out / (JSONL + ".tmp")
    csv_tmp = out / (CSV + ".tmp")
    with jsonl_tmp.open("w", encoding="utf-8") as jf, closing(db.cursor()) as cur:
        cur.execute("SELECT report FROM messages WHERE report IS NOT NULL ORDER BY seq")
        for (blob,) in cur:
            jf.write(zlib.decompress(blob).decode("utf-8"))
            jf.write("\n")
    findings: dict[int, list[str]] = {}
    for message, finding in db.execute("SELECT DISTINCT message, finding FROM findings ORDER BY message, finding"):
        findings.setdefault(message, []).append(finding)
    with csv_tmp.open("w", encoding="utf-8", newline="") as cf, closing(db.cursor()) as cur:
        writer = csv.writer(cf)
        writer.writerow(_COLUMNS)
        cur.execute(
            "SELECT id, source_id, container, folder, status, error_kind, verdict, complete, score, sender, subject, "
            "date, message_id, error_detail FROM messages ORDER BY seq"
        )
        for row in cur:
            mid, *rest = row
            values = [("" if v is None else v) for v in rest]
            writer.writerow([*values[:12], ";".join(findings.get(mid, [])), values[12]])
    jsonl_tmp.replace(out / JSONL)
    csv_tmp.replace(out / CSV)
