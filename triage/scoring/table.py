"""Load and validate `rules/scoring.toml`: symbol weights and groups, group caps, composites, verdict thresholds.

Weights live only here. Analyzers emit evidence (ids with a strength); this table says what each id is worth.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.errors import ConfigError
from triage.gateway.policy import GatewayPolicy, parse_gateway
from triage.model import Level
from triage.rulefiles import read_toml

_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


@dataclass(frozen=True)
class Symbol:
    id: str
    weight: float
    group: str
    title: str
    description: str
    min_level: Level | None = None  # the verdict is at least this when the symbol is present


@dataclass(frozen=True)
class Composite:
    id: str
    all_of: tuple[str, ...]
    weight: float
    group: str
    title: str
    description: str = ""


@dataclass(frozen=True)
class ScoringTable:
    symbols: Mapping[str, Symbol]
    group_caps: Mapping[str, float]
    composites: tuple[Composite, ...]
    suspicious: float
    malicious: float
    incomplete_floor: Level
    gateway: GatewayPolicy = field(default_factory=GatewayPolicy)  # what the milter and filter do per verdict

    def check_emits(self, plugin: str, emits: Iterable[str]) -> None:
        missing = sorted(set(emits) - set(self.symbols))
        if missing:
            raise ConfigError(f"{plugin} emits ids missing from scoring.toml: {', '.join(missing)}")

    def title(self, finding_id: str) -> str:
        entry = self._entry(finding_id)
        return entry.title if entry is not None else finding_id

    def group(self, finding_id: str) -> str:
        """The score group of a symbol or composite; "other" for an id the table does not know."""
        entry = self._entry(finding_id)
        return entry.group if entry is not None else "other"

    def _entry(self, finding_id: str) -> Symbol | Composite | None:
        sym = self.symbols.get(finding_id)
        if sym is not None:
            return sym
        return next((comp for comp in self.composites if comp.id == finding_id), None)


def _valid_id(value: str) -> bool:
    return bool(value) and value[0].isalpha() and set(value) <= _ID_CHARS


def _level(value: Any, where: str) -> Level:
    try:
        return Level(value)
    except ValueError:
        raise ConfigError(f"{where}: unknown level {value!r}") from None


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number")
    return float(value)


def parse_scoring_table(doc: Mapping[str, Any], origin: str) -> ScoringTable:
    known = {"verdict", "groups", "symbols", "composites", "gateway"}
    unknown = set(doc) - known
    if unknown:
        raise ConfigError(f"{origin}: unknown section(s) {sorted(unknown)}")

    verdict = doc.get("verdict", {})
    extra = set(verdict) - {"suspicious", "malicious", "incomplete_floor"}
    if extra:
        raise ConfigError(f"{origin}: unknown key(s) in [verdict]: {sorted(extra)}")
    suspicious = _number(verdict.get("suspicious"), f"{origin}: verdict.suspicious")
    malicious = _number(verdict.get("malicious"), f"{origin}: verdict.malicious")
    if not 0 < suspicious < malicious:
        raise ConfigError(f"{origin}: need 0 < verdict.suspicious < verdict.malicious")
    floor = _level(verdict.get("incomplete_floor", "suspicious"), f"{origin}: verdict.incomplete_floor")

    caps: dict[str, float] = {}
    for name, body in doc.get("groups", {}).items():
        if not isinstance(body, dict) or set(body) - {"cap", "description"}:
            raise ConfigError(f"{origin}: groups.{name} takes only 'cap' and 'description'")
        caps[name] = _number(body.get("cap"), f"{origin}: groups.{name}.cap")

    symbols: dict[str, Symbol] = {}
    for sid, body in doc.get("symbols", {}).items():
        where = f"{origin}: symbols.{sid}"
        if not _valid_id(sid):
            raise ConfigError(f"{where}: ids are UPPER_SNAKE")
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: must be a table")
        extra = set(body) - {"weight", "group", "title", "description", "min_level"}
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {sorted(extra)}")
        group = body.get("group")
        if group not in caps:
            raise ConfigError(f"{where}: group {group!r} is not declared in [groups]")
        symbols[sid] = Symbol(
            id=sid,
            weight=_number(body.get("weight"), f"{where}.weight"),
            group=group,
            title=str(body.get("title", sid)),
            description=str(body.get("description", "")),
            min_level=_level(body["min_level"], where) if "min_level" in body else None,
        )

    composites: list[Composite] = []
    for index, body in enumerate(doc.get("composites", [])):
        where = f"{origin}: composites[{index}]"
        extra = set(body) - {"id", "all", "weight", "group", "title", "description"}
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {sorted(extra)}")
        cid = body.get("id", "")
        if not _valid_id(cid) or cid in symbols:
            raise ConfigError(f"{where}: id {cid!r} must be UPPER_SNAKE and not a symbol")
        members = tuple(body.get("all", ()))
        unknown_members = [m for m in members if m not in symbols]
        if not members or unknown_members:
            raise ConfigError(f"{where}: names unknown symbol(s) {unknown_members or '(none given)'}")
        group = body.get("group", "composite")
        if group not in caps:
            raise ConfigError(f"{where}: group {group!r} is not declared in [groups]")
        composites.append(
            Composite(
                id=cid,
                all_of=members,
                weight=_number(body.get("weight"), f"{where}.weight"),
                group=group,
                title=str(body.get("title", cid)),
                description=str(body.get("description", "")),
            )
        )

    return ScoringTable(
        symbols=symbols,
        group_caps=caps,
        composites=tuple(composites),
        suspicious=suspicious,
        malicious=malicious,
        incomplete_floor=floor,
        gateway=parse_gateway(doc["gateway"], origin) if "gateway" in doc else GatewayPolicy(),
    )


def load_scoring_table(path: Path) -> ScoringTable:
    doc = read_toml(path)
    return parse_scoring_table(doc, str(path))
