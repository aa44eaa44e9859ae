"""Reading rules and configuration files: every failure becomes a ConfigError naming the file, at start-up."""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from triage.errors import ConfigError


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def check_options(options: Mapping[str, Any], allowed: Collection[str], section: str) -> None:
    """A plugin's options table may only hold the keys the plugin knows: a typo fails at start-up."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"[{section}]: unknown option(s) {', '.join(unknown)}")
