"""Reading rules and configuration files: every failure becomes a ConfigError naming the file, at start-up."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import rtoml

from triage.errors import ConfigError


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML 1.0 document. rtoml (Rust) rather than the stdlib's pure-Python tomllib: a one-message scan reads
    a dozen rules files, which cost tomllib ~60 ms of the start-up and rtoml ~5."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        doc = rtoml.loads(text)
    except rtoml.TomlParsingError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: invalid TOML: not a table")
    return doc


def check_options(options: Mapping[str, Any], allowed: Collection[str], section: str) -> None:
    """A plugin's options table may only hold the keys the plugin knows: a typo fails at start-up."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"[{section}]: unknown option(s) {', '.join(unknown)}")
