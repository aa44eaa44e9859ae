"""The data that crosses module boundaries: artifacts, message facts, findings, notes, scores, the report.

Everything here is a frozen dataclass. A `Report` round-trips through JSON (`to_dict` / `from_dict`) with the
stable keys of DESIGN §5; tools and tests rely on those keys, so change their meaning only with a
`SCHEMA_VERSION` bump.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1

JsonValue = Any  # what json.loads can return; meta values must stay in that set


class NoteKind(StrEnum):
    """Why part of the input could not be analysed. Any note makes the verdict incomplete."""

    UNPARSABLE = "unparsable"
    ENCRYPTED_NO_PASSWORD = "encrypted_no_password"  # noqa: S105 - a reason, not a secret
    LIMIT_DEPTH = "limit_depth"
    LIMIT_FILES = "limit_files"
    LIMIT_SIZE = "limit_size"
    TIMEOUT = "timeout"
    CRASHED = "crashed"


class Level(StrEnum):
    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]


_LEVEL_RANK = {Level.CLEAN: 0, Level.SUSPICIOUS: 1, Level.MALICIOUS: 2}


@dataclass(frozen=True)
class Envelope:
    """What the SMTP transaction said, when a gateway hands us the message."""

    client_ip: str | None = None
    helo: str | None = None
    mail_from: str | None = None
    rcpt_to: tuple[str, ...] = ()
    queue_id: str | None = None


@dataclass(frozen=True)
class Artifact:
    """One node of the analysed tree: the message, a MIME part, an archive member, an embedded object."""

    id: str
    parent: str | None
    depth: int
    name: str | None
    display_name: str | None
    declared_type: str | None
    types: tuple[str, ...]
    size: int
    md5: str | None
    sha1: str | None
    sha256: str | None
    meta: Mapping[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Hop:
    """One Received header, parsed (first hop = the one nearest the sender)."""

    raw: str
    from_: str | None = None
    by: str | None = None
    with_: str | None = None
    date: str | None = None
    for_: str | None = None


@dataclass(frozen=True)
class Authentication:
    spf: str | None = None
    dkim: str | None = None
    dmarc: str | None = None


@dataclass(frozen=True)
class MessageInfo:
    """Header facts of one message, decoded to text (RFC 2047, Japanese charsets)."""

    from_: str | None = None
    from_display: str | None = None
    reply_to: tuple[str, ...] = ()
    return_path: str | None = None
    sender: str | None = None
    to: tuple[str, ...] = ()
    subject: str | None = None
    date: str | None = None
    message_id: str | None = None
    received: tuple[Hop, ...] = ()
    authentication: Authentication = field(default_factory=Authentication)
    artifact: str | None = None  # the artifact id of this message in the tree


@dataclass(frozen=True)
class Finding:
    """Evidence that something is present. Analyzers never set `weight`; scoring does."""

    id: str
    artifact: str
    analyzer: str
    strength: float = 1.0
    evidence: tuple[str, ...] = ()
    weight: float = 0.0


@dataclass(frozen=True)
class Note:
    """What could not be analysed, and why."""

    kind: NoteKind
    artifact: str | None
    component: str
    detail: str


@dataclass(frozen=True)
class Score:
    total: float
    groups: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    level: Level
    complete: bool


@dataclass(frozen=True)
class InputInfo:
    name: str | None
    size: int
    sha256: str


@dataclass(frozen=True)
class Iocs:
    urls: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    hashes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    input: InputInfo
    message: MessageInfo
    artifacts: tuple[Artifact, ...]
    findings: tuple[Finding, ...]
    notes: tuple[Note, ...]
    iocs: Iocs
    score: Score
    verdict: Verdict
    timings: Mapping[str, float] = field(default_factory=dict)
    forwarded_by: MessageInfo | None = None  # the wrapper, when the analysed message was unwrapped
    tool_name: str = "triage"
    tool_version: str = "0"
    schema_version: int = SCHEMA_VERSION

    def artifact(self, artifact_id: str) -> Artifact:
        for art in self.artifacts:
            if art.id == artifact_id:
                return art
        raise KeyError(artifact_id)

    def finding_ids(self) -> list[str]:
        return sorted({f.id for f in self.findings})

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "schema_version": self.schema_version,
            "tool": {"name": self.tool_name, "version": self.tool_version},
            "input": {"name": self.input.name, "size": self.input.size, "sha256": self.input.sha256},
            "message": _message_to_dict(self.message),
            "forwarded_by": _message_to_dict(self.forwarded_by) if self.forwarded_by else None,
            "artifacts": [_artifact_to_dict(a) for a in self.artifacts],
            "findings": [
                {
                    "id": f.id,
                    "artifact": f.artifact,
                    "analyzer": f.analyzer,
                    "strength": f.strength,
                    "evidence": list(f.evidence),
                    "weight": f.weight,
                }
                for f in self.findings
            ],
            "notes": [
                {"kind": n.kind.value, "artifact": n.artifact, "component": n.component, "detail": n.detail}
                for n in self.notes
            ],
            "iocs": {
                "urls": list(self.iocs.urls),
                "domains": list(self.iocs.domains),
                "ips": list(self.iocs.ips),
                "emails": list(self.iocs.emails),
                "hashes": list(self.iocs.hashes),
            },
            "score": {"total": self.score.total, "groups": dict(self.score.groups)},
            "verdict": {"level": self.verdict.level.value, "complete": self.verdict.complete},
            "timings": dict(self.timings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, JsonValue]) -> Report:
        fwd = data.get("forwarded_by")
        return cls(
            schema_version=int(data["schema_version"]),
            tool_name=data["tool"]["name"],
            tool_version=data["tool"]["version"],
            input=InputInfo(**data["input"]),
            message=_message_from_dict(data["message"]),
            forwarded_by=_message_from_dict(fwd) if fwd else None,
            artifacts=tuple(_artifact_from_dict(a) for a in data["artifacts"]),
            findings=tuple(
                Finding(
                    id=f["id"],
                    artifact=f["artifact"],
                    analyzer=f["analyzer"],
                    strength=float(f["strength"]),
                    evidence=tuple(f["evidence"]),
                    weight=float(f["weight"]),
                )
                for f in data["findings"]
            ),
            notes=tuple(
                Note(
                    kind=NoteKind(n["kind"]),
                    artifact=n["artifact"],
                    component=n["component"],
                    detail=n["detail"],
                )
                for n in data["notes"]
            ),
            iocs=Iocs(**{k: tuple(v) for k, v in data["iocs"].items()}),
            score=Score(total=float(data["score"]["total"]), groups=dict(data["score"]["groups"])),
            verdict=Verdict(level=Level(data["verdict"]["level"]), complete=bool(data["verdict"]["complete"])),
            timings=dict(data.get("timings", {})),
        )


def _artifact_to_dict(a: Artifact) -> dict[str, JsonValue]:
    return {
        "id": a.id,
        "parent": a.parent,
        "depth": a.depth,
        "name": a.name,
        "display_name": a.display_name,
        "declared_type": a.declared_type,
        "types": list(a.types),
        "size": a.size,
        "md5": a.md5,
        "sha1": a.sha1,
        "sha256": a.sha256,
        "meta": dict(a.meta),
    }


def _artifact_from_dict(d: Mapping[str, JsonValue]) -> Artifact:
    return Artifact(**{**d, "types": tuple(d["types"]), "meta": dict(d["meta"])})


def _message_to_dict(m: MessageInfo) -> dict[str, JsonValue]:
    return {
        "from": m.from_,
        "from_display": m.from_display,
        "reply_to": list(m.reply_to),
        "return_path": m.return_path,
        "sender": m.sender,
        "to": list(m.to),
        "subject": m.subject,
        "date": m.date,
        "message_id": m.message_id,
        "received": [
            {"raw": h.raw, "from": h.from_, "by": h.by, "with": h.with_, "date": h.date, "for": h.for_}
            for h in m.received
        ],
        "authentication": {
            "spf": m.authentication.spf,
            "dkim": m.authentication.dkim,
            "dmarc": m.authentication.dmarc,
        },
        "artifact": m.artifact,
    }


def _message_from_dict(d: Mapping[str, JsonValue]) -> MessageInfo:
    return MessageInfo(
        from_=d["from"],
        from_display=d["from_display"],
        reply_to=tuple(d["reply_to"]),
        return_path=d["return_path"],
        sender=d["sender"],
        to=tuple(d["to"]),
        subject=d["subject"],
        date=d["date"],
        message_id=d["message_id"],
        received=tuple(
            Hop(raw=h["raw"], from_=h["from"], by=h["by"], with_=h["with"], date=h["date"], for_=h["for"])
            for h in d["received"]
        ),
        authentication=Authentication(**d["authentication"]),
        artifact=d.get("artifact"),
    )


def worst(levels: Sequence[Level]) -> Level:
    return max(levels, key=lambda lv: lv.rank, default=Level.CLEAN)
