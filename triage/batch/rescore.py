"""Scores and verdicts recomputed from saved findings with other weights: no message is analysed again.

`rescore_report` is pure (a Report and a ScoringTable in, a Report out); `rescore_store` applies it to every
message of a sweep's database, keeping the rows in step with the JSON report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from triage.batch.store import ResultStore
from triage.config import merge_tables, rules_dir
from triage.errors import ConfigError
from triage.model import Finding, Report
from triage.report.json import render_json
from triage.rulefiles import read_toml
from triage.scoring.score import COMPOSITE_ANALYZER, score
from triage.scoring.table import ScoringTable, parse_scoring_table


def load_table(overrides: Path | None) -> ScoringTable:
    """The shipped scoring table with `overrides` (a TOML file of the same shape, possibly partial) on top."""
    shipped = rules_dir() / "scoring.toml"
    doc = read_toml(shipped)
    if overrides is not None:
        doc = merge_tables(doc, read_toml(overrides))
    return parse_scoring_table(doc, str(overrides or shipped))


def rescore_report(report: Report, table: ScoringTable, extra: tuple[Finding, ...] = ()) -> Report:
    """The report scored with `table`; composites are derived again, `extra` findings are added first."""
    findings = [f for f in report.findings if f.analyzer != COMPOSITE_ANALYZER]
    findings.extend(extra)
    unknown = sorted({f.id for f in findings} - set(table.symbols))
    if unknown:
        raise ConfigError(f"the scoring table lacks symbols found in saved results: {', '.join(unknown)}")
    root = report.artifacts[0].id if report.artifacts else "a0"
    scored = score(findings, report.notes, table, root)
    return replace(report, findings=scored.findings, score=scored.score, verdict=scored.verdict)


@dataclass(frozen=True)
class RescoreSummary:
    messages: int
    changed: int
    before: dict[str, int]
    after: dict[str, int]


def rescore_store(store: ResultStore, table: ScoringTable, *, batch: int = 500) -> RescoreSummary:
    """Every saved report rescored; reads through a second connection (WAL snapshot) while writing in batches,
    so memory stays bounded by `batch` reports however large the sweep."""
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    changed = 0
    pending: list[tuple[int, Report]] = []
    reader = ResultStore(store.path)
    try:
        for message, _, report in reader.reports():
            new = rescore_report(report, table)
            before[report.verdict.level.value] += 1
            after[new.verdict.level.value] += 1
            if new.verdict != report.verdict or new.score != report.score or new.findings != report.findings:
                changed += 1
                pending.append((message, new))
            if len(pending) >= batch:
                store.update_scores_many([(m, r, render_json(r)) for m, r in pending])
                pending = []
    finally:
        reader.db.close()
    if pending:
        store.update_scores_many([(m, r, render_json(r)) for m, r in pending])
    return RescoreSummary(messages=sum(before.values()), changed=changed, before=dict(before), after=dict(after))
