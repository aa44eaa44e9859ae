"""Every sample gets the verdict its README row says, and matches its golden report (ids, evidence, verdict).

Regenerate the goldens after an intended change with:  TRIAGE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_samples.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPORT_KEYS, ROOT
from triage.engine import Engine
from triage.model import Report
from triage.report.json import escape_unsafe, render_json

SAMPLES = sorted((ROOT / "samples").glob("*.eml"))
GOLDEN = ROOT / "tests" / "golden"
_ROW = re.compile(r"^\| (\S+\.eml) \| (clean|suspicious|malicious) \|(.*)\|\s*$")


def _readme_rows() -> dict[str, tuple[str, set[str]]]:
    rows: dict[str, tuple[str, set[str]]] = {}
    for line in (ROOT / "samples" / "README.md").read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            ids = {x.strip() for x in m.group(3).split(",") if x.strip()}
            rows[m.group(1)] = (m.group(2), ids)
    return rows


def _golden_view(report: Report) -> dict[str, Any]:
    names = {a.id: a.name for a in report.artifacts}
    return {
        "verdict": report.verdict.level.value,
        "complete": report.verdict.complete,
        "score": report.score.total,
        "message": {"from": report.message.from_, "subject": report.message.subject},
        "forwarded_by": report.forwarded_by.from_ if report.forwarded_by else None,
        "artifacts": [
            [a.depth, a.name if a.depth else None, a.display_name if a.depth else None, list(a.types), a.sha256]
            for a in report.artifacts
        ],
        "findings": sorted(
            (
                [f.id, names.get(f.artifact) if f.artifact != report.artifacts[0].id else None, list(f.evidence)]
                for f in report.findings
            ),
            key=lambda row: (row[0], row[1] or "", row[2]),
        ),
        "notes": sorted([n.kind.value, n.component] for n in report.notes),
    }


def test_every_sample_has_a_readme_row() -> None:
    assert SAMPLES
    assert set(_readme_rows()) == {p.name for p in SAMPLES}


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_verdict_matches_readme(engine: Engine, path: Path) -> None:
    verdict, ids = _readme_rows()[path.name]
    report = engine.scan(path.read_bytes(), name=path.name)
    assert report.verdict.level.value == verdict
    assert set(report.finding_ids()) == ids
    assert report.verdict.complete


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_matches_golden(engine: Engine, path: Path) -> None:
    report = engine.scan(path.read_bytes(), name=path.name)
    view = _golden_view(report)
    golden = GOLDEN / (path.stem + ".json")
    if os.environ.get("TRIAGE_UPDATE_GOLDEN"):
        golden.write_text(escape_unsafe(json.dumps(view, ensure_ascii=False, indent=1)) + "\n", encoding="utf-8")
    assert golden.exists(), f"no golden for {path.name}: run with TRIAGE_UPDATE_GOLDEN=1"
    assert view == json.loads(golden.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_json_has_the_design_keys(engine: Engine, path: Path) -> None:
    doc = json.loads(render_json(engine.scan(path.read_bytes(), name=path.name)))
    assert set(doc) >= REPORT_KEYS
    assert set(doc["message"]) >= {
        "from",
        "from_display",
        "reply_to",
        "return_path",
        "sender",
        "to",
        "subject",
        "date",
        "message_id",
        "received",
        "authentication",
    }
    assert set(doc["message"]["authentication"]) == {"spf", "dkim", "dmarc"}
    for art in doc["artifacts"]:
        assert set(art) >= {
            "id",
            "parent",
            "depth",
            "name",
            "display_name",
            "declared_type",
            "types",
            "size",
            "md5",
            "sha1",
            "sha256",
            "meta",
        }
    for finding in doc["findings"]:
        assert set(finding) >= {"id", "artifact", "analyzer", "strength", "evidence", "weight"}
    assert set(doc["iocs"]) == {"urls", "domains", "ips", "emails", "hashes"}
    assert set(doc["verdict"]) == {"level", "complete"}


def test_forwarded_sample_analyses_the_original(engine: Engine) -> None:
    report = engine.scan((ROOT / "samples" / "08_forwarded_welcome_party.eml").read_bytes())
    assert report.message.subject == "歓迎会のお知らせ"
    assert report.message.from_ == "sato.hanako@corp-example-jp.example.net"
    assert report.forwarded_by is not None and report.forwarded_by.from_ == "suzuki@corp.example.jp"
    fwd = [f for f in report.findings if f.id == "FORWARDED_ORIGINAL"]
    assert fwd and fwd[0].weight == 0
    assert report.message.artifact != report.artifacts[0].id
