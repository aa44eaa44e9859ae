"""Configuration loads the shipped defaults, layers a site file, and fails fast on anything unknown."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.config import ConfigError, load_config


def test_shipped_defaults_load() -> None:
    config = load_config()
    assert config.limits.max_depth > 0
    assert config.limits.max_seconds > 0
    assert "FILENAME_RLO" in config.scoring.symbols


def test_site_file_overrides_one_key(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[limits]\nmax_depth = 3\n")
    config = load_config(site)
    assert config.limits.max_depth == 3
    assert config.limits.max_files == load_config().limits.max_files


@pytest.mark.parametrize(
    "text",
    [
        "[limits]\nmax_dept = 3\n",  # typo in a key
        "[limitz]\nmax_depth = 3\n",  # unknown section
        '[limits]\nmax_depth = "3"\n',  # wrong type
        "[limits]\nmax_depth = true\n",  # bool is not an int here
        "[limits]\nmax_seconds = 0\n",  # must be positive
        "[passwords]\nwordlist = 3\n",
        "[analyzers]\nfilename = 3\n",  # plugin sections hold tables
        "this is not toml",
    ],
)
def test_bad_site_file_is_an_error(tmp_path: Path, text: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text(text)
    with pytest.raises(ConfigError):
        load_config(site)


def test_missing_site_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path / "absent.toml")


def test_overrides_are_validated() -> None:
    with pytest.raises(ConfigError):
        load_config(overrides={"limits": {"nope": 1}})
