"""scoring.toml is validated at load: unknown keys, undeclared groups, composites naming unknown symbols."""

from __future__ import annotations

from typing import Any

import pytest

from triage.config import ConfigError, load_config, rules_dir
from triage.scoring.table import load_scoring_table, parse_scoring_table


def _doc(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "verdict": {"suspicious": 4, "malicious": 9},
        "groups": {"g": {"cap": 10}, "composite": {"cap": 5}},
        "symbols": {"A_ONE": {"weight": 3, "group": "g"}, "B_TWO": {"weight": 2, "group": "g"}},
    }
    doc.update(extra)
    return doc


def test_shipped_table_is_valid() -> None:
    table = load_scoring_table(rules_dir() / "scoring.toml")
    for required in (
        "FORWARDED_ORIGINAL",
        "FILENAME_RLO",
        "FILENAME_DOUBLE_EXT",
        "FILENAME_TYPE_MISMATCH",
        "ATTACHMENT_EXECUTABLE",
        "ARCHIVE_ENCRYPTED",
        "ARCHIVE_PASSWORD_IN_BODY",
        "ARCHIVE_ENCRYPTED_NO_PASSWORD",
        "LIMIT_EXCEEDED",
        "ARCHIVE_BOMB",
    ):
        assert required in table.symbols
    assert table.symbols["FORWARDED_ORIGINAL"].weight == 0


def test_minimal_table_parses() -> None:
    table = parse_scoring_table(_doc(), "t")
    assert table.symbols["A_ONE"].weight == 3


@pytest.mark.parametrize(
    "doc",
    [
        _doc(extra_section={}),
        _doc(verdict={"suspicious": 9, "malicious": 4}),
        _doc(verdict={"suspicious": 4, "malicious": 9, "other": 1}),
        _doc(symbols={"A_ONE": {"weight": 3, "group": "missing"}}),
        _doc(symbols={"lower_case": {"weight": 3, "group": "g"}}),
        _doc(symbols={"A_ONE": {"weight": "3", "group": "g"}}),
        _doc(symbols={"A_ONE": {"weight": 3, "group": "g", "colour": "red"}}),
        _doc(symbols={"A_ONE": {"weight": 3, "group": "g", "min_level": "dire"}}),
        _doc(composites=[{"id": "C_X", "all": ["A_ONE", "NOPE"], "weight": 1}]),
        _doc(composites=[{"id": "A_ONE", "all": ["B_TWO"], "weight": 1}]),
        _doc(composites=[{"id": "C_X", "all": [], "weight": 1}]),
        _doc(groups={"g": {"cap": "ten"}}),
    ],
)
def test_invalid_tables_fail(doc: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        parse_scoring_table(doc, "t")


def test_check_emits_rejects_undeclared_ids() -> None:
    table = load_config().scoring
    table.check_emits("ok", ["FILENAME_RLO"])
    with pytest.raises(ConfigError, match="NOT_DECLARED"):
        table.check_emits("bad", ["FILENAME_RLO", "NOT_DECLARED"])
