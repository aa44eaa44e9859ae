"""Configuration: the shipped defaults in `rules/analyzers.toml`, a site file on top, validated at start-up.

Every key has a declared type in `_SCHEMA`; an unknown section or key, or a value of the wrong type, is a
`ConfigError` when the Engine is built, never in the middle of a mail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from triage.errors import ConfigError
from triage.rulefiles import read_toml
from triage.scoring.table import ScoringTable, load_scoring_table

__all__ = ["Config", "ConfigError", "Limits", "PasswordOptions", "load_config", "rules_dir"]


def rules_dir() -> Path:
    """Where the shipped rules live: inside the installed package, or beside it in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_rules", here.parent / "rules"):
        if (candidate / "scoring.toml").is_file():
            return candidate
    raise ConfigError(f"cannot find the rules directory next to {here}")


@dataclass(frozen=True)
class Limits:
    """One budget per scan (DESIGN §7); names follow ClamAV's."""

    max_depth: int = 12
    max_files: int = 2000
    max_file_size: int = 50 * 1024 * 1024
    max_total_size: int = 200 * 1024 * 1024
    max_seconds: float = 30.0
    max_message_size: int = 100 * 1024 * 1024


@dataclass(frozen=True)
class PasswordOptions:
    max_candidates: int = 200
    max_attempts: int = 100
    max_seconds: float = 10.0  # guessing time per scan, all encrypted containers together
    wordlist: str = "lists/passwords.txt"
    keywords: str = "lists/password_keywords.txt"
    extra: tuple[str, ...] = ()  # --password values


@dataclass(frozen=True)
class Config:
    limits: Limits
    passwords: PasswordOptions
    unpack: Mapping[str, Mapping[str, Any]]
    analyzers: Mapping[str, Mapping[str, Any]]
    scoring: ScoringTable
    rules: Path = field(default_factory=rules_dir)
    yara_rule_dirs: tuple[Path, ...] = ()  # --rules folders, compiled after the shipped and site rules

    def unpack_options(self, name: str) -> Mapping[str, Any]:
        return self.unpack.get(name, {})

    def analyzer_options(self, name: str) -> Mapping[str, Any]:
        return self.analyzers.get(name, {})

    def rules_path(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else self.rules / path


_INT = (int,)
_NUM = (int, float)
_STR = (str,)

# section -> key -> accepted python types. Sections "unpack" and "analyzers" hold one table per plugin with
# free-form options: each plugin validates its own options in setup().
_SCHEMA: dict[str, dict[str, tuple[type, ...]]] = {
    "limits": {
        "max_depth": _INT,
        "max_files": _INT,
        "max_file_size": _INT,
        "max_total_size": _INT,
        "max_seconds": _NUM,
        "max_message_size": _INT,
    },
    "passwords": {
        "max_candidates": _INT,
        "max_attempts": _INT,
        "max_seconds": _NUM,
        "wordlist": _STR,
        "keywords": _STR,
    },
}
_PLUGIN_SECTIONS = ("unpack", "analyzers")
# A site file may override the gateway policy of scoring.toml; its keys are validated by GatewayPolicy.updated.
_GATEWAY_SECTION = "gateway"


def _validate(doc: Mapping[str, Any], origin: str) -> None:
    for section, body in doc.items():
        if section in _PLUGIN_SECTIONS:
            if not isinstance(body, dict) or not all(isinstance(v, dict) for v in body.values()):
                raise ConfigError(f"{origin}: [{section}] must hold one table per plugin")
            continue
        if section == _GATEWAY_SECTION:
            if not isinstance(body, dict):
                raise ConfigError(f"{origin}: [{section}] must be a table")
            continue
        if section not in _SCHEMA:
            raise ConfigError(f"{origin}: unknown section [{section}]")
        if not isinstance(body, dict):
            raise ConfigError(f"{origin}: [{section}] must be a table")
        for key, value in body.items():
            allowed = _SCHEMA[section].get(key)
            if allowed is None:
                raise ConfigError(f"{origin}: unknown key {section}.{key}")
            if isinstance(value, bool) or not isinstance(value, allowed):
                raise ConfigError(f"{origin}: {section}.{key} has the wrong type ({type(value).__name__})")
            if isinstance(value, int | float) and value <= 0:
                raise ConfigError(f"{origin}: {section}.{key} must be positive")


def merge_tables(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """`top` over `base`: tables merged key by key, any other value replaced."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_tables(out[key], value)
        else:
            out[key] = value
    return out


def load_config(
    site_file: Path | str | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    passwords: tuple[str, ...] = (),
    rules: Path | None = None,
    yara_rules: tuple[Path, ...] = (),
) -> Config:
    """Shipped defaults, then the site file, then `overrides` (same shape; used by tests and front ends)."""
    root = rules or rules_dir()
    defaults_path = root / "analyzers.toml"
    doc = read_toml(defaults_path)
    _validate(doc, str(defaults_path))
    if site_file is not None:
        site = read_toml(Path(site_file))
        _validate(site, str(site_file))
        doc = merge_tables(doc, site)
    if overrides:
        _validate(overrides, "overrides")
        doc = merge_tables(doc, overrides)
    limits = Limits(**doc.get("limits", {}))
    pw = PasswordOptions(**doc.get("passwords", {}), extra=tuple(passwords))
    return Config(
        limits=limits,
        passwords=pw,
        unpack=doc.get("unpack", {}),
        analyzers=doc.get("analyzers", {}),
        scoring=_with_site_gateway(load_scoring_table(root / "scoring.toml"), doc.get(_GATEWAY_SECTION)),
        rules=root,
        yara_rule_dirs=tuple(yara_rules),
    )


def _with_site_gateway(table: ScoringTable, site: Mapping[str, Any] | None) -> ScoringTable:
    """The shipped [gateway] policy with the site file's (and overrides') [gateway] keys on top, validated."""
    if not site:
        return table
    return replace(table, gateway=table.gateway.updated(site, "site configuration"))
