"""Every rule in rules/yara carries its meta and examples: it fires on each positive and not on its negatives."""

from __future__ import annotations

from typing import Any

import pytest
import yara
from samplekit.yara_examples import RuleExamples, rule_examples

from tests.conftest import ROOT
from triage.analyzers.yara_scan import REQUIRED_META, rule_files

RULES_DIR = ROOT / "rules" / "yara"
SEVERITIES = ("low", "medium", "high", "critical")
EXAMPLES = rule_examples()


@pytest.fixture(scope="module")
def rules() -> Any:
    return yara.compile(filepaths={p.stem: str(p) for p in rule_files(RULES_DIR)})


def _public(rules: Any) -> list[Any]:
    return [r for r in rules if not r.is_private]


def test_every_rule_has_meta(rules: Any) -> None:
    ids: list[str] = []
    for rule in _public(rules):
        for key in REQUIRED_META:
            assert isinstance(rule.meta.get(key), str) and rule.meta[key].strip(), (rule.identifier, key)
        assert rule.meta["severity"] in SEVERITIES, rule.identifier
        assert rule.identifier.startswith("TRIAGE_"), rule.identifier
        ids.append(rule.meta["id"])
    assert len(ids) == len(set(ids)), "meta ids must be unique"


def test_every_rule_has_examples_and_every_example_a_rule(rules: Any) -> None:
    names = {r.identifier for r in _public(rules)}
    covered = {e.rule for e in EXAMPLES}
    assert names == covered
    for entry in EXAMPLES:
        assert entry.positives and entry.negatives, entry.rule


def test_rule_files_compile_without_slow_strings() -> None:
    for path in rule_files(RULES_DIR):
        yara.compile(filepath=str(path), error_on_warning=True)  # a "may slow down scanning" warning fails


@pytest.mark.parametrize("entry", EXAMPLES, ids=lambda e: e.rule)
def test_rule_fires_on_positives_and_not_on_negatives(rules: Any, entry: RuleExamples) -> None:
    for example in entry.positives:
        hits = {m.rule for m in rules.match(data=example.data)}
        assert entry.rule in hits, f"{entry.rule} missed positive {example.name!r}"
    for example in entry.negatives:
        hits = {m.rule for m in rules.match(data=example.data)}
        assert entry.rule not in hits, f"{entry.rule} fired on negative {example.name!r}"


def test_examples_are_deterministic() -> None:
    assert rule_examples() == EXAMPLES
