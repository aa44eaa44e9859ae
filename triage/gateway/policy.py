"""The gateway's failure and action policy: the `[gateway]` table of `rules/scoring.toml`, validated at start-up.

Per verdict it says what to do with a message (accept, tag, quarantine, reject, tempfail); when no verdict could be
reached (the engine crashed, timed out, ran out of memory, or the message is larger than the gateway scans) it says
whether to accept the message with an `X-Triage-Error` header or to ask the sender to retry. A site file may
override any key; an unknown key or a wrong value is a ConfigError before the first mail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from triage.errors import ConfigError
from triage.model import Level, Report


class Action(StrEnum):
    ACCEPT = "accept"  # deliver as it came (X-Triage-* headers from outside are still removed)
    TAG = "tag"  # deliver with X-Triage-* headers, and the subject prefix of the level if any
    QUARANTINE = "quarantine"  # tag, then hold (Postfix hold queue) for an administrator
    REJECT = "reject"  # 550 5.7.1
    TEMPFAIL = "tempfail"  # 451 4.7.1: the sender retries later


class FailAction(StrEnum):
    ACCEPT = "accept"  # deliver, tagged with X-Triage-Error: never lose or delay legitimate mail
    TEMPFAIL = "tempfail"  # the sending MTA keeps the message and retries


class FailureKind(StrEnum):
    """Why no verdict was reached. The gateway treats them alike, by on_error / on_timeout / on_too_large."""

    CRASHED = "crashed"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    TOO_LARGE = "too_large"


MIB = 1024 * 1024


@dataclass(frozen=True)
class GatewayPolicy:
    clean: Action = Action.TAG
    suspicious: Action = Action.TAG
    malicious: Action = Action.QUARANTINE
    on_error: FailAction = FailAction.ACCEPT
    on_timeout: FailAction = FailAction.ACCEPT
    on_too_large: FailAction = FailAction.ACCEPT
    reject_reason: str = "Message refused: it looks like a targeted attack"
    subject_prefix: Mapping[str, str] = field(default_factory=dict)  # level -> prefix; absent or "" = none
    max_message_size: int = 50 * MIB  # larger messages are not buffered nor scanned: on_too_large
    deadline_seconds: float = 20.0  # hard: the worker is killed after this (keep below Postfix's milter timeouts)
    workers: int = 2  # the cores the scanner gets: workers take their next message themselves, none waits on us
    recycle_after: int = 1000  # a worker is replaced after this many messages
    worker_memory_mb: int = 1536  # address-space limit of each worker (RLIMIT_AS)

    def action(self, level: Level) -> Action:
        return {Level.CLEAN: self.clean, Level.SUSPICIOUS: self.suspicious, Level.MALICIOUS: self.malicious}[level]

    def on_failure(self, kind: FailureKind) -> FailAction:
        if kind is FailureKind.TIMEOUT:
            return self.on_timeout
        if kind is FailureKind.TOO_LARGE:
            return self.on_too_large
        return self.on_error  # crashed and memory alike

    def prefix(self, level: Level) -> str:
        return self.subject_prefix.get(level.value, "")

    def updated(self, overrides: Mapping[str, Any], origin: str) -> GatewayPolicy:
        """This policy with `overrides` (a [gateway] table) applied, each key validated."""
        return replace(self, **_parse(overrides, origin))


def _choice(value: Any, kind: type[StrEnum], where: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in kind)
        raise ConfigError(f"{where}: {value!r} is not one of {allowed}") from None


def _positive(value: Any, types: tuple[type, ...], where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or not isinstance(value, types):
        raise ConfigError(f"{where}: expected a positive number")
    return value


def _header_text(value: Any, where: str, limit: int) -> str:
    # These strings go into SMTP replies and headers: no line breaks, no controls, bounded.
    if not isinstance(value, str) or len(value) > limit or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ConfigError(f"{where}: expected one line of text of at most {limit} characters")
    return value


def _parse(doc: Mapping[str, Any], origin: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        where = f"{origin}: gateway.{key}"
        if key in ("clean", "suspicious", "malicious"):
            out[key] = _choice(value, Action, where)
        elif key in ("on_error", "on_timeout", "on_too_large"):
            out[key] = _choice(value, FailAction, where)
        elif key == "reject_reason":
            text = _header_text(value, where, 200)
            if not text.isascii() or "%" in text:
                raise ConfigError(f"{where}: SMTP replies are ASCII, without '%' (libmilter drops such replies)")
            out[key] = text
        elif key == "subject_prefix":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table of level = prefix")
            levels = {lv.value for lv in Level}
            for level, prefix in value.items():
                if level not in levels:
                    raise ConfigError(f"{where}: unknown level {level!r}")
                _header_text(prefix, f"{where}.{level}", 60)
            out[key] = dict(value)
        elif key in ("max_message_size", "workers", "recycle_after", "worker_memory_mb"):
            out[key] = _positive(value, (int,), where)
        elif key == "deadline_seconds":
            out[key] = float(_positive(value, (int, float), where))
        else:
            raise ConfigError(f"{origin}: unknown key gateway.{key}")
    if int(out.get("worker_memory_mb", 256)) < 256:
        raise ConfigError(f"{origin}: gateway.worker_memory_mb below 256 cannot even load the engine")
    return out


def parse_gateway(doc: Any, origin: str) -> GatewayPolicy:
    if not isinstance(doc, dict):
        raise ConfigError(f"{origin}: [gateway] must be a table")
    return GatewayPolicy().updated(doc, origin)


@dataclass(frozen=True)
class Decision:
    """What the gateway does with one message: the action, the headers to add, and the SMTP reply if any."""

    action: Action
    headers: tuple[tuple[str, str], ...] = ()
    subject_prefix: str = ""
    reply: tuple[str, str, str] | None = None  # (code, enhanced code, text) for reject / tempfail
    failure: FailureKind | None = None


_FAILURE_TEXT = {
    FailureKind.CRASHED: "the scanner failed",
    FailureKind.TIMEOUT: "no verdict within the deadline",
    FailureKind.MEMORY: "the scanner ran out of memory",
    FailureKind.TOO_LARGE: "larger than the gateway scans",
}
TEMPFAIL_REPLY = ("451", "4.7.1", "Message could not be checked now, please try again later")


def decide(
    policy: GatewayPolicy, report: Report | None, failure: FailureKind | None, *, linesep: str = "\n"
) -> Decision:
    """The policy applied to a scan's outcome: a report, or the kind of failure that left none."""
    from triage.report.headers import error_header, verdict_headers

    if report is None:
        kind = failure or FailureKind.CRASHED
        if policy.on_failure(kind) is FailAction.TEMPFAIL:
            return Decision(action=Action.TEMPFAIL, reply=TEMPFAIL_REPLY, failure=kind)
        return Decision(action=Action.ACCEPT, headers=(error_header(kind.value, _FAILURE_TEXT[kind]),), failure=kind)
    level = report.verdict.level
    action = policy.action(level)
    if action is Action.REJECT:
        return Decision(action=action, reply=("550", "5.7.1", policy.reject_reason))
    if action is Action.TEMPFAIL:
        return Decision(action=action, reply=TEMPFAIL_REPLY)
    if action is Action.ACCEPT:
        return Decision(action=action)
    return Decision(
        action=action, headers=tuple(verdict_headers(report, linesep=linesep)), subject_prefix=policy.prefix(level)
    )
