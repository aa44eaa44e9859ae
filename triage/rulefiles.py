"""Reading rules and configuration files: every failure becomes a ConfigError naming the file, at start-up."""

from __future__ import annotations

import tomllib
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
