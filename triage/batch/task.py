"""What crosses process (and machine) boundaries in a sweep: the engine recipe, a task, a result.

Everything is a small frozen, picklable dataclass: the local pool sends them through pipes and Dask ships them
to other hosts. The engine recipe carries the site configuration as data, not as a path, because a remote
worker may not see the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.config import Config, load_config
from triage.model import Report
from triage.rulefiles import read_toml

# error kinds of a message that has no report
CRASHED = "crashed"
TIMEOUT = "timeout"
UNPARSABLE = "unparsable"
NOT_MAIL = "not_mail"


@dataclass(frozen=True)
class EngineSpec:
    """How every worker builds its Engine: the site configuration (as JSON) and `--password` values."""

    overrides_json: str = "{}"
    passwords: tuple[str, ...] = ()

    @classmethod
    def from_site_file(cls, site_file: Path | None, passwords: tuple[str, ...] = ()) -> EngineSpec:
        doc: dict[str, Any] = read_toml(site_file) if site_file is not None else {}
        return cls(overrides_json=json.dumps(doc, sort_keys=True), passwords=passwords)

    def config(self) -> Config:
        overrides = json.loads(self.overrides_json)
        return load_config(overrides=overrides or None, passwords=self.passwords)


@dataclass(frozen=True)
class Task:
    """One message to scan. `kind` is "rfc822" or "msg"; `passwords` are tried first (a PPAP retry)."""

    seq: int
    source_id: str
    container: str
    folder: str
    kind: str
    data: bytes
    size: int
    passwords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Extras:
    """Facts the report does not carry that pairing and grouping need, taken from the parsed message."""

    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()  # To, Cc, Bcc, Delivered-To addresses, lower-case
    password_offers: tuple[str, ...] = ()  # password candidates written in this message's own text
    text_sample: str = ""  # the start of the body, whitespace-folded, for near-duplicate grouping


@dataclass(frozen=True)
class ScanResult:
    """A report, or the reason there is none (`error_kind`)."""

    seq: int
    source_id: str
    container: str
    folder: str
    size: int
    report: Report | None
    report_json: str = ""
    error_kind: str = ""
    error_detail: str = ""
    extras: Extras = field(default_factory=Extras)
    seconds: float = 0.0
    passwords: tuple[str, ...] = ()
    raw: bytes = b""  # the scanned bytes, returned only when an encrypted archive stayed closed (PPAP retry)


def error_result(task: Task, kind: str, detail: str) -> ScanResult:
    return ScanResult(
        seq=task.seq,
        source_id=task.source_id,
        container=task.container,
        folder=task.folder,
        size=task.size,
        report=None,
        error_kind=kind,
        error_detail=detail,
        passwords=task.passwords,
    )
