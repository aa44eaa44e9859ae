"""The contracts between the engine and its plugins (DESIGN §4): unpackers, analyzers, and what they are handed.

A plugin may also define `prepare()`: the one-off work it otherwise defers to first use (compiling patterns,
loading a dictionary). `Engine.warm_up` calls it, and so does start-up for plugins whose options a site changed,
so a bad site file fails at start-up, never in the middle of a mail.

Plugins never see the engine's internals. They get a frozen view of their target and a `PluginContext` through
which they report findings, notes and artifact metadata, ask for password candidates, and check the budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from triage.model import Artifact, Envelope, Finding, JsonValue, MessageInfo, NoteKind

if TYPE_CHECKING:
    from triage.config import Config


class Scope(StrEnum):
    MESSAGE = "message"
    ARTIFACT = "artifact"


class DeadlineExceeded(Exception):
    """Raised by `PluginContext.check_deadline` once the scan's deadline has passed."""


@dataclass(frozen=True)
class ArtifactView:
    """An artifact as a plugin sees it: its record and its bytes (empty when the content could not be read)."""

    artifact: Artifact
    data: bytes

    @property
    def id(self) -> str:
        return self.artifact.id

    @property
    def name(self) -> str | None:
        return self.artifact.name

    @property
    def types(self) -> tuple[str, ...]:
        return self.artifact.types

    @property
    def readable(self) -> bool:
        return not self.artifact.meta.get("unreadable")


@dataclass(frozen=True)
class Child:
    """What an unpacker yields: a member's bytes and name.

    `data=None` means the member exists but its content could not be read (an encrypted member with no working
    password); it still enters the tree so its name is checked. `declared_size` is what the container claims.
    `parsed` lets an unpacker hand over an object it already built (a parsed email) so it is not parsed twice.
    """

    data: bytes | None
    name: str | None = None
    declared_type: str | None = None
    declared_size: int | None = None
    meta: Mapping[str, JsonValue] = field(default_factory=dict)
    parsed: Any = None


@dataclass(frozen=True)
class PasswordCandidate:
    value: str
    source: str  # "body", "subject", "html", "list", "cli", ...
    # What the words around its cue say it opens: "archive" (解凍, ZIP, 添付) or "document" (文書, Word, PDF), or
    # "" when they say neither or both. A mail that gives one password for the ZIP and one for the Word file
    # inside has each container try its own first (an agile-encrypted document costs ~0.1 s a wrong guess).
    hint: str = ""


@dataclass(frozen=True)
class MessageView:
    """The message under analysis, as message-scope analyzers see it."""

    info: MessageInfo
    artifact: str
    headers: tuple[tuple[str, str], ...]  # decoded, in order
    text: str  # text/plain bodies, decoded
    html_text: str  # HTML bodies reduced to text
    html: str  # HTML bodies as sent (decoded to str)
    defects: tuple[str, ...]
    charsets: tuple[str, ...] = ()  # every charset declared in headers and parts, lower-case
    x_mailer: str | None = None  # X-Mailer or User-Agent
    attachment_names: tuple[str, ...] = ()  # names of the message's own attachments (not archive members)
    envelope: Envelope | None = None
    raw: bytes = b""  # the message's bytes as received (empty for an unwrapped forward: only its parse is kept)
    forwarded_how: str | None = None  # "rfc822", "attached-eml", "inline" when unwrapped from a forward
    wrapper: MessageInfo | None = None


class PluginContext(Protocol):
    """What the engine offers a plugin during one call."""

    @property
    def artifact_id(self) -> str | None: ...

    @property
    def config(self) -> Config: ...

    def emit(
        self,
        finding_id: str,
        evidence: Sequence[str] = (),
        *,
        strength: float = 1.0,
        artifact: str | None = None,
    ) -> None: ...

    def note(self, kind: NoteKind, detail: str, *, artifact: str | None = None) -> None: ...

    def set_meta(self, key: str, value: JsonValue, *, artifact: str | None = None) -> None: ...

    def check_deadline(self) -> None:
        """Raise DeadlineExceeded when the scan is out of time. Call it inside every loop over input."""

    def remaining_seconds(self) -> float: ...

    def max_child_size(self) -> int:
        """The largest member worth extracting now: min(max_file_size, bytes left in the total budget)."""

    def password_candidates(self) -> Sequence[PasswordCandidate]: ...

    def password_seconds_left(self) -> float:
        """Password-guessing time left in this scan; `try_passwords` stops guessing when it runs out."""

    def spend_password_seconds(self, seconds: float) -> None: ...

    def add_ioc(self, kind: str, value: str) -> None:
        """Record an indicator for the report's `iocs`: kind is one of urls, domains, ips, emails, hashes."""

    def add_message(self, artifact_id: str, parsed: Any) -> None:
        """Register a parsed message found in the tree (its text feeds password candidates)."""

    def parsed_for(self, artifact_id: str) -> Any:
        """A parsed object an unpacker handed over with its Child, or None."""


class Unpacker(Protocol):
    name: str
    accepts: frozenset[str]
    emits: frozenset[str]

    def setup(self, config: Config) -> None: ...

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]: ...


class Analyzer(Protocol):
    name: str
    scope: Scope
    accepts: frozenset[str]  # type tags (artifact scope); ignored for message scope
    emits: frozenset[str]

    def setup(self, config: Config) -> None: ...

    def analyze(self, target: Any, ctx: PluginContext) -> Iterable[Finding]:
        """Findings about `target` (an ArtifactView, or a MessageView for message scope); notes via ctx.note."""
