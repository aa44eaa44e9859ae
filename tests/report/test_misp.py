"""MISP export: every sample's event loads back into PyMISP and every object matches its bundled template
(required attributes, attribute types, known relations), references resolve, `to_ids` follows the sharing
policy, hostile strings stay values, and `triage scan --format misp` writes one event a line."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

import pymisp
import pytest
from hypothesis import HealthCheck, given, settings
from pymisp import MISPEvent

from tests.conftest import CORPUS, ROOT
from tests.report._hostile import HOSTILE_FIELDS, corpus_sample, rewritten
from triage.engine import Engine
from triage.frontends.cli import main
from triage.model import Iocs, Level, Report, Verdict
from triage.report.misp import render_misp, render_misp_json

SAMPLES = sorted((ROOT / "samples").glob("*.eml"))
MISP_DATA = Path(pymisp.__file__).parent / "data" / "misp-objects"


@pytest.fixture(scope="module")
def reports(engine: Engine) -> dict[str, Report]:
    return {p.name: engine.scan(p.read_bytes(), name=p.name) for p in SAMPLES}


@cache
def _template(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MISP_DATA / "objects" / name / "definition.json").read_text(encoding="utf-8"))
    return data


@cache
def _relations() -> frozenset[str]:
    data = json.loads((MISP_DATA / "relationships" / "definition.json").read_text(encoding="utf-8"))
    return frozenset(v["name"] for v in data["values"])


def check_event(doc: dict[str, Any]) -> MISPEvent:
    """Loads the event back into PyMISP and asserts every object matches its template; returns the event."""
    assert set(doc) == {"Event"}
    event = MISPEvent()
    event.load(json.dumps(doc))
    assert event.info and event.threat_level_id in (1, 2, 3, 4) and event.analysis in (0, 1, 2)
    uuids = {o.uuid for o in event.objects} | {a.uuid for a in event.attributes}
    for obj in event.objects:
        template = _template(obj.name)
        allowed = template["attributes"]
        relations = [a.object_relation for a in obj.attributes]
        assert relations, f"{obj.name} object without attributes"
        for attr in obj.attributes:
            assert attr.object_relation in allowed, f"{obj.name}: unknown relation {attr.object_relation}"
            spec = allowed[attr.object_relation]
            assert attr.type == spec["misp-attribute"], f"{obj.name}.{attr.object_relation}: type {attr.type}"
            if "values_list" in spec:
                assert attr.value in spec["values_list"]
            if not spec.get("multiple"):
                assert relations.count(attr.object_relation) == 1, f"{obj.name}.{attr.object_relation} repeated"
            assert str(attr.value) != ""
        assert set(template.get("required", [])) <= set(relations)
        if template.get("requiredOneOf"):
            assert set(template["requiredOneOf"]) & set(relations), f"{obj.name}: none of requiredOneOf"
        for ref in obj.references:
            assert ref.relationship_type in _relations(), ref.relationship_type
            assert ref.referenced_uuid in uuids, f"{obj.name} refers outside the event"
    return event


def _attrs(event: MISPEvent, obj_name: str, relation: str) -> list[Any]:
    return [a for o in event.objects if o.name == obj_name for a in o.attributes if a.object_relation == relation]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_validates(reports: dict[str, Report], path: Path) -> None:
    report = reports[path.name]
    event = check_event(render_misp(report))
    tags = {t.name for t in event.tags}
    assert "tlp:amber" in tags
    assert f'triage:verdict="{report.verdict.level.value}"' in tags
    assert {f'triage:finding="{i}"' for i in report.finding_ids()} <= tags
    assert [o.name for o in event.objects].count("email") == 1
    assert {a.value for a in _attrs(event, "file", "sha256")} == set(report.iocs.hashes)
    assert event.threat_level_id == {Level.MALICIOUS: 1, Level.SUSPICIOUS: 2, Level.CLEAN: 3}[report.verdict.level]
    if report.verdict.level is Level.CLEAN:
        assert not [a for o in event.objects for a in o.attributes if a.to_ids]


def test_to_ids_on_a_malicious_sample(reports: dict[str, Report]) -> None:
    report = reports["15_beacon_exe_in_password_zip.eml"]
    event = check_event(render_misp(report))
    exe = next(a for a in report.artifacts if "pe-exe" in a.types)
    hashes = {a.value: a.to_ids for a in _attrs(event, "file", "sha256")}
    assert hashes[exe.sha256] is True
    assert hashes[report.artifact(exe.parent or "").sha256] is True  # the archive that carried it
    assert [a.to_ids for a in _attrs(event, "email", "to")] == [False]
    assert [a.to_ids for a in _attrs(event, "email", "subject")] == [False]
    assert {a.to_ids for a in _attrs(event, "file", "filename")} == {False}
    assert [(a.value, a.to_ids) for a in _attrs(event, "email", "from")] == [(report.message.from_, True)]
    assert [(a.value, a.to_ids) for a in _attrs(event, "url", "url")] == [
        ("http://update.example.invalid/gate.php", True)
    ]
    # the C2 URL came out of the executable: that file connects to it
    by_uuid = {o.uuid: o for o in event.objects}
    exe_obj = next(o for o in event.objects if any(a.value == exe.sha256 for a in o.attributes))
    assert [(r.relationship_type, by_uuid[r.referenced_uuid].name) for r in exe_obj.references] == [
        ("connects-to", "url")
    ]
    email = next(o for o in event.objects if o.name == "email")
    assert [(r.relationship_type, by_uuid[r.referenced_uuid].name) for r in email.references] == [("includes", "file")]
    assert event.analysis == 2 and event.threat_level_id == 1


def test_victim_domain_and_government_hosts_are_not_for_ids(reports: dict[str, Report]) -> None:
    report = reports["12_gov_lookalike_domain.eml"]
    event = check_event(render_misp(report))
    flagged = {a.value for o in event.objects for a in o.attributes if a.to_ids}
    assert "http://nisc-go-jp.example.net/update/tool.html" in flagged
    assert "nisc-go-jp.example.net" in flagged
    assert not [v for v in flagged if ".go.jp/" in v or v.endswith(".go.jp")]
    own = dataclasses.replace(report, iocs=dataclasses.replace(report.iocs, domains=("mail.corp.example.jp",)))
    event = check_event(render_misp(own))
    assert [a.to_ids for a in _attrs(event, "domain-ip", "domain")] == [False]


def test_incomplete_scan_is_ongoing_and_tlp_option(reports: dict[str, Report]) -> None:
    report = reports["09_benign_business_iso2022jp.eml"]
    incomplete = dataclasses.replace(report, verdict=Verdict(Level.CLEAN, complete=False))
    event = check_event(render_misp(incomplete, tlp="green"))
    assert event.analysis == 1 and event.threat_level_id == 4
    assert "tlp:green" in {t.name for t in event.tags} and "tlp:amber" not in {t.name for t in event.tags}
    with pytest.raises(ValueError, match="TLP"):
        render_misp(report, tlp="purple")


def test_hostile_strings_stay_values(reports: dict[str, Report]) -> None:
    base = reports["15_beacon_exe_in_password_zip.eml"]
    art = base.artifacts[2]
    hostile_name = "a'b\\c\"] OR [x\u202eexe.pdf"
    subject = "'] OR [email-addr:value = 'x' \\ \"q\"\n\u202e件名"
    report = dataclasses.replace(
        base,
        message=dataclasses.replace(
            base.message, subject=subject, date="garbage", from_display='"\\', from_="netto.de", to=("a b@x.jp",)
        ),
        artifacts=tuple(dataclasses.replace(a, name=hostile_name) if a.id == art.id else a for a in base.artifacts),
        iocs=Iocs(
            urls=("http://evil.example.net/a'] OR [\\\"x\n", "http://[::1"),
            domains=("evil'.example.net",),
            ips=("203.0.113.7", "not an ip"),
            emails=(*base.iocs.emails, "x'\"@evil.example.net", "it's@evil.example.net"),
            hashes=base.iocs.hashes,
        ),
    )
    line = render_misp_json(report)
    assert "\n" not in line and "\u202e" not in line
    event = check_event(json.loads(line))
    assert [a.value for a in _attrs(event, "email", "subject")] == [subject.strip()]
    assert hostile_name in {a.value for a in _attrs(event, "file", "fullpath")}  # a backslash is a path separator
    assert 'c"] OR [x\u202eexe.pdf' in {a.value for a in _attrs(event, "file", "filename")}
    assert "http://evil.example.net/a'] OR [\\\"x" in {a.value for a in _attrs(event, "url", "url")}
    assert [a.value for a in _attrs(event, "domain-ip", "ip")] == ["203.0.113.7"]  # not an address: left out
    assert {a.value for a in event.attributes} == {"it's@evil.example.net"}  # x'"@… is not an address
    assert _attrs(event, "email", "send-date") == []
    assert _attrs(event, "email", "from") == [] and _attrs(event, "email", "to") == []
    assert {"From: netto.de", "To: a b@x.jp"} <= {a.value for a in _attrs(event, "email", "header")}


def test_cli_format_misp_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(ROOT / "samples" / n) for n in ("05_rlo_exe.eml", "09_benign_business_iso2022jp.eml")]
    code = main(["scan", "--format", "misp", *paths])
    lines = capsys.readouterr().out.splitlines()
    assert code == 4
    assert len(lines) == 2
    infos = [check_event(json.loads(line)).info for line in lines]
    assert infos[0].startswith("triage: malicious") and infos[1].startswith("triage: clean")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=HOSTILE_FIELDS)
def test_any_strings_give_a_valid_event(reports: dict[str, Report], fields: dict[str, Any]) -> None:
    report = rewritten(reports["15_beacon_exe_in_password_zip.eml"], **fields)
    event = check_event(json.loads(render_misp_json(report)))
    if fields["level"] is Level.CLEAN:
        assert not [a for o in event.objects for a in o.attributes if a.to_ids]


@pytest.mark.skipif(not (CORPUS / "phishing_pot").is_dir(), reason="../shared/corpus is not present")
def test_real_mail_gives_valid_events(engine: Engine) -> None:
    for path in corpus_sample(25):
        check_event(json.loads(render_misp_json(engine.scan(path.read_bytes(), name=path.name))))
