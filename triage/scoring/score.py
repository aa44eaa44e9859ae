"""Findings × weights → Score and Verdict. Pure: no I/O, no state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from triage.model import Finding, Level, Note, Score, Verdict
from triage.scoring.table import ScoringTable

COMPOSITE_ANALYZER = "scoring"


@dataclass(frozen=True)
class Scored:
    findings: tuple[Finding, ...]  # with weights set, composites appended
    score: Score
    verdict: Verdict


def score(findings: Sequence[Finding], notes: Sequence[Note], table: ScoringTable, root_artifact: str) -> Scored:
    """Each id counts once, at its strongest finding; groups are capped; composites add on top."""
    weighted: list[Finding] = []
    best: dict[str, float] = {}
    for finding in findings:
        symbol = table.symbols[finding.id]
        contribution = round(symbol.weight * max(0.0, min(1.0, finding.strength)), 3)
        weighted.append(replace(finding, weight=contribution))
        best[finding.id] = max(best.get(finding.id, 0.0), contribution)

    present = set(best)
    for comp in table.composites:
        if all(member in present for member in comp.all_of):
            weighted.append(
                Finding(
                    id=comp.id,
                    artifact=root_artifact,
                    analyzer=COMPOSITE_ANALYZER,
                    strength=1.0,
                    evidence=tuple(comp.all_of),
                    weight=comp.weight,
                )
            )

    raw_groups: dict[str, float] = {}
    for sid, contribution in best.items():
        group = table.symbols[sid].group
        raw_groups[group] = raw_groups.get(group, 0.0) + contribution
    for comp in table.composites:
        if all(member in present for member in comp.all_of):
            raw_groups[comp.group] = raw_groups.get(comp.group, 0.0) + comp.weight

    groups = {g: round(min(v, table.group_caps[g]), 3) for g, v in sorted(raw_groups.items())}
    total = round(sum(groups.values()), 3)

    if total >= table.malicious:
        level = Level.MALICIOUS
    elif total >= table.suspicious:
        level = Level.SUSPICIOUS
    else:
        level = Level.CLEAN
    for sid in present:
        floor = table.symbols[sid].min_level
        if floor is not None and floor.rank > level.rank:
            level = floor
    complete = not notes
    if not complete and table.incomplete_floor.rank > level.rank:
        level = table.incomplete_floor
    return Scored(findings=tuple(weighted), score=Score(total=total, groups=groups), verdict=Verdict(level, complete))
