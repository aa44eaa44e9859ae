"""Findings × weights → score and verdict: each id once at its strongest, group caps, composites, floors."""

from __future__ import annotations

from triage.model import Finding, Level, Note, NoteKind
from triage.scoring.score import score
from triage.scoring.table import parse_scoring_table

TABLE = parse_scoring_table(
    {
        "verdict": {"suspicious": 4, "malicious": 9, "incomplete_floor": "suspicious"},
        "groups": {"g": {"cap": 5}, "h": {"cap": 20}, "composite": {"cap": 3}},
        "symbols": {
            "A_ONE": {"weight": 3, "group": "g"},
            "B_TWO": {"weight": 4, "group": "g"},
            "C_THREE": {"weight": 10, "group": "h"},
            "D_FLOOR": {"weight": 0.5, "group": "h", "min_level": "malicious"},
        },
        "composites": [{"id": "AB_BOTH", "all": ["A_ONE", "C_THREE"], "weight": 5, "group": "composite"}],
    },
    "test",
)


def _f(fid: str, strength: float = 1.0, artifact: str = "a0") -> Finding:
    return Finding(id=fid, artifact=artifact, analyzer="t", strength=strength)


def test_no_findings_is_clean_and_complete() -> None:
    result = score([], [], TABLE, "a0")
    assert result.score.total == 0
    assert result.verdict.level is Level.CLEAN
    assert result.verdict.complete


def test_each_id_counts_once_at_its_strongest() -> None:
    result = score([_f("A_ONE", 0.5), _f("A_ONE", 1.0, "a1"), _f("A_ONE", 0.2)], [], TABLE, "a0")
    assert result.score.total == 3
    assert [f.weight for f in result.findings] == [1.5, 3, 0.6]


def test_group_cap_applies() -> None:
    result = score([_f("A_ONE"), _f("B_TWO")], [], TABLE, "a0")
    assert result.score.groups["g"] == 5
    assert result.verdict.level is Level.SUSPICIOUS


def test_threshold_malicious() -> None:
    assert score([_f("C_THREE")], [], TABLE, "a0").verdict.level is Level.MALICIOUS


def test_composite_fires_when_all_members_present() -> None:
    result = score([_f("A_ONE"), _f("C_THREE")], [], TABLE, "a0")
    composite = [f for f in result.findings if f.id == "AB_BOTH"]
    assert len(composite) == 1
    assert composite[0].evidence == ("A_ONE", "C_THREE")
    assert result.score.groups["composite"] == 3  # capped
    assert not [f for f in score([_f("A_ONE")], [], TABLE, "a0").findings if f.id == "AB_BOTH"]


def test_min_level_floor() -> None:
    result = score([_f("D_FLOOR")], [], TABLE, "a0")
    assert result.score.total == 0.5
    assert result.verdict.level is Level.MALICIOUS


def test_incomplete_is_never_clean() -> None:
    note = Note(NoteKind.ENCRYPTED_NO_PASSWORD, "a1", "zip", "no password")
    result = score([], [note], TABLE, "a0")
    assert not result.verdict.complete
    assert result.verdict.level is Level.SUSPICIOUS


def test_strength_is_clamped() -> None:
    assert score([_f("A_ONE", 7.0)], [], TABLE, "a0").score.total == 3
