"""A PluginContext for unpacker tests: records what the plugin reports and hands it given candidates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from triage.config import PasswordOptions
from triage.model import Artifact, JsonValue, NoteKind
from triage.plugins import ArtifactView, DeadlineExceeded, PasswordCandidate


@dataclass
class FakeConfig:
    """Just what unpackers read from Config in setup()."""

    unpack: dict[str, dict[str, Any]] = field(default_factory=dict)
    passwords: PasswordOptions = field(default_factory=PasswordOptions)

    def unpack_options(self, name: str) -> Mapping[str, Any]:
        return self.unpack.get(name, {})


class FakeContext:
    def __init__(
        self,
        *,
        candidates: Sequence[PasswordCandidate] = (),
        max_child_size: int = 50 * 1024 * 1024,
        artifact_id: str = "a1",
        deadline_after: int | None = None,
        config: FakeConfig | None = None,
    ) -> None:
        self._candidates = tuple(candidates)
        self._max_child_size = max_child_size
        self._artifact_id = artifact_id
        self._deadline_after = deadline_after
        self._config = config or FakeConfig()
        self.emits: list[tuple[str, tuple[str, ...]]] = []
        self.notes: list[tuple[NoteKind, str]] = []
        self.meta: dict[str, JsonValue] = {}
        self.deadline_checks = 0
        self.candidate_calls = 0
        self.iocs: list[tuple[str, str]] = []

    # -- PluginContext ---------------------------------------------------------------------------------------
    @property
    def artifact_id(self) -> str | None:
        return self._artifact_id

    @property
    def config(self) -> Any:
        return self._config

    def emit(
        self, finding_id: str, evidence: Sequence[str] = (), *, strength: float = 1.0, artifact: str | None = None
    ) -> None:
        assert all(isinstance(e, str) for e in evidence)
        self.emits.append((finding_id, tuple(evidence)))

    def note(self, kind: NoteKind, detail: str, *, artifact: str | None = None) -> None:
        self.notes.append((kind, detail))

    def set_meta(self, key: str, value: JsonValue, *, artifact: str | None = None) -> None:
        self.meta[key] = value

    def check_deadline(self) -> None:
        self.deadline_checks += 1
        if self._deadline_after is not None and self.deadline_checks > self._deadline_after:
            raise DeadlineExceeded("test")

    def remaining_seconds(self) -> float:
        return 30.0

    def max_child_size(self) -> int:
        return self._max_child_size

    def password_candidates(self) -> Sequence[PasswordCandidate]:
        self.candidate_calls += 1
        return self._candidates

    def password_seconds_left(self) -> float:
        return 30.0

    def spend_password_seconds(self, seconds: float) -> None:
        pass

    def add_message(self, artifact_id: str, parsed: Any) -> None:
        pass

    def parsed_for(self, artifact_id: str) -> Any:
        return None

    def add_ioc(self, kind: str, value: str) -> None:
        self.iocs.append((kind, value))

    # -- helpers for assertions ------------------------------------------------------------------------------
    def ids(self) -> list[str]:
        return [finding_id for finding_id, _ in self.emits]

    def evidence(self, finding_id: str) -> tuple[str, ...]:
        matches = [ev for fid, ev in self.emits if fid == finding_id]
        assert len(matches) == 1, f"{finding_id} emitted {len(matches)} times"
        return matches[0]

    def note_kinds(self) -> list[NoteKind]:
        return [kind for kind, _ in self.notes]


def view(data: bytes, name: str | None = "sample.zip", types: tuple[str, ...] = ("zip",)) -> ArtifactView:
    artifact = Artifact(
        id="a1",
        parent="a0",
        depth=1,
        name=name,
        display_name=name,
        declared_type=None,
        types=types,
        size=len(data),
        md5=None,
        sha1=None,
        sha256=None,
        meta={},
    )
    return ArtifactView(artifact=artifact, data=data)


def pw(value: str, source: str = "body") -> PasswordCandidate:
    return PasswordCandidate(value=value, source=source)
