"""Calls one plugin under the scan's budget and owns plugin failure (DESIGN §7).

A call gets its own `CallContext`, which buffers the findings, notes and metadata the plugin reports. When the
call returns, the buffer is committed to the scan. When it raises, the call's partial findings and metadata are
discarded, a `crashed` Note with a short traceback is recorded, and the scan goes on. A plugin that runs past
the deadline (it raises `DeadlineExceeded` from `check_deadline`) gets a `timeout` Note instead.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from triage.model import Finding, JsonValue, Note, NoteKind
from triage.plugins import DeadlineExceeded, PasswordCandidate

if TYPE_CHECKING:
    from triage.config import Config

_TRACE_LINES = 6
_MAX_EVIDENCE_ITEMS = 20
_MAX_EVIDENCE_CHARS = 300
_MAX_IOCS_PER_CALL = 1000
IOC_KINDS = frozenset({"urls", "domains", "ips", "emails", "hashes"})


class ScanState:
    """What a call context needs from the running scan. Implemented by the engine."""

    config: Config
    deadline: float
    findings: list[Finding]
    notes: list[Note]

    def commit_meta(self, artifact: str, key: str, value: JsonValue) -> None:
        raise NotImplementedError

    def max_child_size(self) -> int:
        raise NotImplementedError

    def password_candidates(self) -> Sequence[PasswordCandidate]:
        raise NotImplementedError

    def add_message(self, artifact_id: str, parsed: Any) -> None:
        raise NotImplementedError

    def add_iocs(self, iocs: Sequence[tuple[str, str]]) -> None:
        raise NotImplementedError

    def parsed_for(self, artifact_id: str) -> Any:
        raise NotImplementedError

    password_seconds_spent: float = 0.0

    def password_seconds_left(self) -> float:
        """What is left of the scan's password-guessing time ([passwords] max_seconds), shared by every container."""
        return self.config.passwords.max_seconds - self.password_seconds_spent

    def spend_password_seconds(self, seconds: float) -> None:
        self.password_seconds_spent += seconds


def clip_evidence(evidence: Iterable[str]) -> tuple[str, ...]:
    """Evidence stays short: a bounded number of bounded strings."""
    out: list[str] = []
    for item in evidence:
        if len(out) >= _MAX_EVIDENCE_ITEMS:
            out.append("…")
            break
        text = str(item)
        out.append(text if len(text) <= _MAX_EVIDENCE_CHARS else text[: _MAX_EVIDENCE_CHARS - 1] + "…")
    return tuple(out)


@dataclass
class CallContext:
    """The PluginContext of one plugin call."""

    state: ScanState
    component: str
    artifact_id: str | None
    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    meta: list[tuple[str, str, JsonValue]] = field(default_factory=list)
    iocs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def config(self) -> Config:
        return self.state.config

    def emit(
        self,
        finding_id: str,
        evidence: Sequence[str] = (),
        *,
        strength: float = 1.0,
        artifact: str | None = None,
    ) -> None:
        target = artifact or self.artifact_id
        if target is None:
            raise ValueError("emit needs an artifact")
        self.findings.append(
            Finding(
                id=finding_id,
                artifact=target,
                analyzer=self.component,
                strength=strength,
                evidence=clip_evidence(evidence),
            )
        )

    def note(self, kind: NoteKind, detail: str, *, artifact: str | None = None) -> None:
        self.notes.append(
            Note(
                kind=kind,
                artifact=artifact or self.artifact_id,
                component=self.component,
                detail=detail[:500],
            )
        )

    def set_meta(self, key: str, value: JsonValue, *, artifact: str | None = None) -> None:
        target = artifact or self.artifact_id
        if target is None:
            raise ValueError("set_meta needs an artifact")
        self.meta.append((target, key, value))

    def check_deadline(self) -> None:
        if time.monotonic() >= self.state.deadline:
            raise DeadlineExceeded(self.component)

    def remaining_seconds(self) -> float:
        return max(0.0, self.state.deadline - time.monotonic())

    def max_child_size(self) -> int:
        return self.state.max_child_size()

    def password_candidates(self) -> Sequence[PasswordCandidate]:
        return self.state.password_candidates()

    def password_seconds_left(self) -> float:
        return self.state.password_seconds_left()

    def spend_password_seconds(self, seconds: float) -> None:
        self.state.spend_password_seconds(seconds)

    def add_message(self, artifact_id: str, parsed: Any) -> None:
        self.state.add_message(artifact_id, parsed)

    def add_ioc(self, kind: str, value: str) -> None:
        if kind not in IOC_KINDS:
            raise ValueError(f"unknown ioc kind {kind!r}")
        if value and len(self.iocs) < _MAX_IOCS_PER_CALL:
            self.iocs.append((kind, value[: _MAX_EVIDENCE_CHARS * 4]))

    def parsed_for(self, artifact_id: str) -> Any:
        return self.state.parsed_for(artifact_id)

    def commit(self, *, keep_findings: bool = True) -> None:
        if keep_findings:
            self.state.findings.extend(self.findings)
            for artifact, key, value in self.meta:
                self.state.commit_meta(artifact, key, value)
            if self.iocs:
                self.state.add_iocs(self.iocs)
        self.state.notes.extend(self.notes)


def _short_traceback(exc: BaseException) -> str:
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    tail = "".join(frames[-_TRACE_LINES:]).strip()
    return tail[-1500:]


class CallOutcome:
    OK = "ok"
    CRASHED = "crashed"
    TIMEOUT = "timeout"


def run_call(ctx: CallContext, call: Callable[[CallContext], None]) -> str:
    """Run `call(ctx)`; commit its output, or turn its failure into a Note. Returns a CallOutcome value."""
    try:
        call(ctx)
    except DeadlineExceeded:
        ctx.commit(keep_findings=False)
        ctx.state.notes.append(
            Note(NoteKind.TIMEOUT, ctx.artifact_id, ctx.component, "the scan deadline passed during this step")
        )
        return CallOutcome.TIMEOUT
    except MemoryError:
        ctx.commit(keep_findings=False)
        ctx.state.notes.append(Note(NoteKind.CRASHED, ctx.artifact_id, ctx.component, "MemoryError"))
        return CallOutcome.CRASHED
    except Exception as exc:
        ctx.commit(keep_findings=False)
        ctx.state.notes.append(
            Note(
                NoteKind.CRASHED,
                ctx.artifact_id,
                ctx.component,
                f"{type(exc).__name__}: {_short_traceback(exc)}",
            )
        )
        return CallOutcome.CRASHED
    ctx.commit()
    return CallOutcome.OK
