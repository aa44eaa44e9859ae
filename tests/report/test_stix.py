"""STIX 2.1 export: every sample's bundle parses back with stix2, every reference resolves inside the bundle,
every indicator pattern is valid STIX patterning (and, when installed, the OASIS stix2-validator agrees);
attacker-controlled strings stay inside their pattern literals; the sharing policy holds; the CLI writes it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import stix2
from hypothesis import HealthCheck, given, settings
from stix2patterns.pattern import Pattern
from stix2patterns.validator import run_validator

from tests.conftest import CORPUS, ROOT, make_message
from tests.report._hostile import HOSTILE_FIELDS, corpus_sample, rewritten
from triage.engine import Engine
from triage.frontends.cli import main
from triage.model import Artifact, Iocs, Level, Report, Verdict
from triage.report.stix import TRIAGE_EXTENSION_ID, render_stix

SAMPLES = sorted((ROOT / "samples").glob("*.eml"))
SCO_TYPES = {"file", "email-addr", "email-message", "url", "domain-name", "ipv4-addr", "ipv6-addr"}


@pytest.fixture(scope="module")
def reports(engine: Engine) -> dict[str, Report]:
    return {p.name: engine.scan(p.read_bytes(), name=p.name) for p in SAMPLES}


@pytest.fixture(scope="module")
def bundles(reports: dict[str, Report]) -> dict[str, str]:
    return {name: render_stix([report]) for name, report in reports.items()}


def _refs(value: Any, key: str = "") -> list[str]:
    """Every id a STIX object points at: *_ref / *_refs properties at any depth, and extension-definition keys."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k.endswith("_ref") and isinstance(v, str):
                found.append(v)
            elif k.endswith("_refs") and isinstance(v, list):
                found.extend(v)
            else:
                found.extend(_refs(v, k))
            if key == "extensions" and k.startswith("extension-definition--"):
                found.append(k)
    elif isinstance(value, list):
        for item in value:
            found.extend(_refs(item, key))
    return found


def _unquote(literal: str) -> str:
    assert literal.startswith("'") and literal.endswith("'")
    return literal[1:-1].replace("\\'", "'").replace("\\\\", "\\")


def check_bundle(text: str) -> dict[str, Any]:
    """Asserts the spec constraints this export promises; returns the bundle as JSON."""
    data = json.loads(text)
    assert data["type"] == "bundle"
    parsed = stix2.parse(text, allow_custom=True)  # required properties, types, vocabularies, id formats
    assert len(parsed.objects) == len(data["objects"])
    ids = [o["id"] for o in data["objects"]]
    assert len(ids) == len(set(ids)), "an object appears twice"
    known = set(ids)
    for obj in data["objects"]:
        assert obj["spec_version"] == "2.1"
        missing = [r for r in _refs(obj) if r not in known]
        assert not missing, f"{obj['id']} points outside the bundle: {missing}"
        if obj["type"] == "indicator":
            assert obj["pattern_type"] == "stix"
            assert run_validator(obj["pattern"], stix_version="2.1") == [], obj["pattern"]
        if obj["type"] not in ("marking-definition", "identity", "extension-definition"):
            assert obj["object_marking_refs"], f"{obj['id']} has no TLP marking"
    return data


def _by_type(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in data["objects"] if o["type"] == kind]


def _patterns(data: dict[str, Any]) -> dict[str, list[str]]:
    """object type -> the values its indicators match, unescaped from the pattern literals."""
    out: dict[str, list[str]] = {}
    for ind in _by_type(data, "indicator"):
        for kind, comparisons in Pattern(ind["pattern"]).inspect().comparisons.items():
            for _path, op, literal in comparisons:
                assert op == "="
                out.setdefault(kind, []).append(_unquote(literal))
    return out


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_validates(reports: dict[str, Report], bundles: dict[str, str], path: Path) -> None:
    report = reports[path.name]
    data = check_bundle(bundles[path.name])
    analysis = _by_type(data, "malware-analysis")
    assert len(analysis) == 1
    assert analysis[0]["product"] == "triage"
    assert analysis[0].get("x_triage_finding_ids", []) == report.finding_ids()  # STIX lists are never empty
    expected = {"malicious": "malicious", "suspicious": "suspicious", "clean": "benign"}[report.verdict.level.value]
    if report.verdict.level is Level.CLEAN and not report.verdict.complete:
        expected = "unknown"
    assert analysis[0]["result"] == expected
    (summary,) = _by_type(data, "report")
    assert summary["x_triage_verdict"] == report.verdict.level.value
    assert summary["x_triage_score"] == report.score.total
    assert summary["extensions"] == {TRIAGE_EXTENSION_ID: {"extension_type": "toplevel-property-extension"}}
    shared_hashes = {f["hashes"]["SHA-256"] for f in _by_type(data, "file")}
    assert set(report.iocs.hashes) <= shared_hashes


def test_oasis_validator_accepts_every_sample(bundles: dict[str, str]) -> None:
    validator = pytest.importorskip("stix2validator")
    # The validator's JSON-schema pass costs ~10 ms an object; one object of each shape (type, properties present,
    # what an indicator's pattern looks at) from all samples keeps the run short and still covers every shape.
    shapes: dict[tuple[str, ...], dict[str, Any]] = {}
    for text in bundles.values():
        for obj in json.loads(text)["objects"]:
            what = obj["pattern"].split(":")[0] if obj["type"] == "indicator" else ""
            shapes.setdefault((obj["type"], what, *sorted(obj)), obj)
    assert {"email-message", "file", "indicator", "malware-analysis", "report", "relationship"} <= {
        k[0] for k in shapes
    }
    text = json.dumps(
        {"type": "bundle", "id": "bundle--0b7c5d1e-4f3a-4c2b-9e8d-7a6f5e4d3c2b", "objects": list(shapes.values())}
    )
    result = validator.validate_string(text, validator.ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    # Warnings allowed: {202} an indicator based-on an observable (permitted, not in the suggested list) and
    # {271} a MIME type that is not IANA-registered (what the attacker's MIME header said, e.g. x-zip-compressed).
    codes = {str(w).partition("{")[2].partition("}")[0] for w in result.warnings}
    assert codes <= {"202", "271"}, [str(w) for w in result.warnings]


def test_malicious_sample_shares_payload_c2_and_sender(reports: dict[str, Report]) -> None:
    report = reports["15_beacon_exe_in_password_zip.eml"]
    data = check_bundle(render_stix([report]))
    exe = next(a for a in report.artifacts if "pe-exe" in a.types)
    zipped = report.artifact(exe.parent or "")
    patterns = _patterns(data)
    assert exe.sha256 in patterns["file"] and zipped.sha256 in patterns["file"]
    assert set(report.iocs.urls) <= set(patterns["url"])
    assert patterns["email-addr"] == [report.message.from_]
    assert all(i["indicator_types"] == ["malicious-activity"] for i in _by_type(data, "indicator"))
    files = {f["hashes"]["SHA-256"]: f for f in _by_type(data, "file")}
    assert files[zipped.sha256 or ""]["contains_refs"] == [files[exe.sha256 or ""]["id"]]
    (email,) = _by_type(data, "email-message")
    assert [p["body_raw_ref"] for p in email["body_multipart"]] == [files[zipped.sha256 or ""]["id"]]
    addrs = {a["id"]: a["value"] for a in _by_type(data, "email-addr")}
    assert addrs[email["from_ref"]] == report.message.from_
    assert [addrs[r] for r in email["to_refs"]] == list(report.message.to)
    (analysis,) = _by_type(data, "malware-analysis")
    assert files[report.input.sha256]["id"] == analysis["sample_ref"]
    # indicators are based on their observables and indicate the payload
    rels = {
        (r["source_ref"].split("--")[0], r["relationship_type"], r["target_ref"].split("--")[0])
        for r in _by_type(data, "relationship")
    }
    assert {("indicator", "based-on", "file"), ("indicator", "indicates", "malware")} <= rels
    assert ("malware-analysis", "static-analysis-of", "malware") in rels


def test_government_link_text_and_recipients_are_never_indicators(reports: dict[str, Report]) -> None:
    report = reports["12_gov_lookalike_domain.eml"]
    assert any(".go.jp" in u for u in report.iocs.urls)  # the lure quotes the genuine site as link text
    data = check_bundle(render_stix([report]))
    patterns = _patterns(data)
    values = [v for vs in patterns.values() for v in vs]
    assert not [v for v in values if "nisc.go.jp/" in v or v.endswith(".go.jp")]
    assert "http://nisc-go-jp.example.net/update/tool.html" in patterns["url"]
    assert not set(report.message.to) & set(values)
    # the genuine URL is still shared as an observable, for context
    assert any(u["value"].startswith("https://www.nisc.go.jp/") for u in _by_type(data, "url"))


def test_clean_message_has_observables_but_no_indicators(reports: dict[str, Report]) -> None:
    report = reports["09_benign_business_iso2022jp.eml"]
    data = check_bundle(render_stix([report]))
    assert _by_type(data, "indicator") == []
    assert _by_type(data, "email-message")
    incomplete = dataclasses.replace(report, verdict=Verdict(Level.CLEAN, complete=False))
    (analysis,) = _by_type(check_bundle(render_stix([incomplete])), "malware-analysis")
    assert analysis["result"] == "unknown"


def test_tlp_marking_default_amber_and_option(reports: dict[str, Report]) -> None:
    report = reports["05_rlo_exe.eml"]
    for tlp, marking in (("amber", stix2.TLP_AMBER), ("red", stix2.TLP_RED), ("clear", stix2.TLP_WHITE)):
        data = check_bundle(render_stix([report], tlp=tlp) if tlp != "amber" else render_stix([report]))
        marked = [o for o in data["objects"] if "object_marking_refs" in o]
        assert marked and all(o["object_marking_refs"] == [marking.id] for o in marked)
        assert [m["id"] for m in _by_type(data, "marking-definition")] == [marking.id]
    with pytest.raises(ValueError, match="TLP"):
        render_stix([report], tlp="purple")


def test_several_reports_make_one_bundle_with_deterministic_observables(reports: dict[str, Report]) -> None:
    chosen = [reports[n] for n in ("15_beacon_exe_in_password_zip.eml", "17_self_extracting_exe.eml")]
    first = check_bundle(render_stix(chosen))
    again = check_bundle(render_stix(chosen))
    assert len(_by_type(first, "report")) == 2
    assert len(_by_type(first, "identity")) == 1
    scos = {o["id"] for o in first["objects"] if o["type"] in SCO_TYPES}
    assert scos == {o["id"] for o in again["objects"] if o["type"] in SCO_TYPES}
    # both messages beacon to the same URL: one observable, referenced from both reports
    (url,) = [u for u in _by_type(first, "url") if u["value"] == "http://update.example.invalid/gate.php"]
    assert all(url["id"] in r["object_refs"] for r in _by_type(first, "report"))


HOSTILE = [
    "http://evil.example.net/a'] OR [file:name = 'x",
    "http://evil.example.net/back\\slash\\'quote",
    "http://evil.example.net/line\nbreak\r\ttab",
    "http://evil.example.net/\u202egnp.exe",
]


def _hostile_report(report: Report) -> Report:
    art = report.artifacts[1]
    renamed = dataclasses.replace(art, name="a'b\\c\"] OR [x\n\u202eexe.pdf", declared_type="text/plain'\"")
    message = dataclasses.replace(
        report.message,
        subject="'] OR [email-addr:value = 'x' \\ \"q\"\n\u202e",
        from_="o'brien+'] OR [x@evil.example.net",  # not an address: kept as a header field
        from_display="\"'] OR [\\",
        reply_to=("o.brien+x@evil.example.net",),
        date="not a date at all",
    )
    artifacts = tuple(renamed if a.id == art.id else a for a in report.artifacts)
    extra = Artifact(
        id="ax",
        parent=report.artifacts[0].id,
        depth=1,
        name="x'y.exe",
        display_name="x'y.exe",
        declared_type=None,
        types=("pe",),
        size=1,
        md5=None,
        sha1=None,
        sha256="f" * 64,
    )
    iocs = Iocs(
        urls=tuple(HOSTILE),
        domains=("evil'.example.net", "back\\slash.example.net"),
        ips=("203.0.113.7", "2001:db8::1", "not-an-ip'"),
        emails=(*report.iocs.emails, "x'] OR [@evil.example.net", "it's@evil.example.net"),
        hashes=(*report.iocs.hashes, "f" * 64),
    )
    return dataclasses.replace(
        report,
        message=message,
        artifacts=(*artifacts, extra),
        iocs=iocs,
        verdict=Verdict(Level.MALICIOUS, complete=True),
    )


def test_hostile_strings_stay_inside_their_literals(reports: dict[str, Report]) -> None:
    report = _hostile_report(reports["15_beacon_exe_in_password_zip.eml"])
    text = render_stix([report])
    assert "\u202e" not in text  # escaped for terminals; JSON decodes it back
    data = check_bundle(text)
    patterns = _patterns(data)
    # url objects hold RFC 3986 URIs: what a URI cannot hold is percent-encoded, nothing else changes
    assert sorted(unquote(u) for u in patterns["url"]) == sorted(HOSTILE)
    assert all(u.isascii() and u.isprintable() and " " not in u for u in patterns["url"])
    assert sorted(patterns["domain-name"]) == ["back\\slash.example.net", "evil'.example.net"]
    assert "o.brien+x@evil.example.net" in patterns["email-addr"]
    # not addresses, or not ones the OASIS validator accepts (it's@…): no email-addr, no indicator
    assert not [a for a in patterns["email-addr"] if "OR" in a or "'" in a]
    # one comparison per indicator: nothing escaped its literal to add an OR
    for ind in _by_type(data, "indicator"):
        comparisons = Pattern(ind["pattern"]).inspect().comparisons
        assert sum(len(v) for v in comparisons.values()) == 1
    (email,) = _by_type(data, "email-message")
    assert email["subject"] == report.message.subject
    assert "from_ref" not in email and email["additional_header_fields"]["From"] == report.message.from_
    assert "date" not in email  # an unparsable Date is left out, not guessed
    assert "2001:db8::1" in {a["value"] for a in _by_type(data, "ipv6-addr")}


def test_hostile_message_scanned_end_to_end(engine: Engine) -> None:
    raw = make_message(
        subject="請求書 '] OR [url:value = 'x' \\",
        sender='"\'] OR [" <attacker@evil.example.net>',
        body="こちら: http://evil.example.net/dl.php?id='];x=\\ から",
        attachments=[("a'b\\c.exe", b"MZ" + b"\0" * 200, "application/octet-stream")],
    )
    report = engine.scan(raw, name="hostile.eml")
    assert report.verdict.level is not Level.CLEAN
    data = check_bundle(render_stix([report]))
    urls = _patterns(data).get("url", [])
    assert urls and all(unquote(u) in report.iocs.urls for u in urls)


def test_cli_format_stix(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan", "--format", "stix", str(ROOT / "samples" / "15_beacon_exe_in_password_zip.eml")])
    out = capsys.readouterr().out
    assert code == 4
    data = check_bundle(out)
    assert _by_type(data, "report")[0]["x_triage_verdict"] == "malicious"
    assert main(["scan", "--json", "--format", "stix", str(SAMPLES[0])]) == 2
    capsys.readouterr()
    # --json stays, as another name for --format json
    outputs = []
    for flags in (["--json"], ["--format", "json"]):
        assert main(["scan", *flags, str(SAMPLES[0])]) == 4
        doc = json.loads(capsys.readouterr().out)
        outputs.append({k: v for k, v in doc.items() if k != "timings"})
    assert outputs[0] == outputs[1]


def test_cli_several_messages_one_bundle(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(ROOT / "samples" / n) for n in ("09_benign_business_iso2022jp.eml", "05_rlo_exe.eml")]
    code = main(["scan", "--format", "stix", "--tlp", "green", *paths])
    out = capsys.readouterr().out
    assert code == 4
    data = check_bundle(out)
    assert len(_by_type(data, "report")) == 2
    assert [m["id"] for m in _by_type(data, "marking-definition")] == [stix2.TLP_GREEN.id]


def test_batch_writes_stix_and_misp_for_hostile_messages(tmp_path: Path) -> None:
    from pymisp import MISPEvent

    src = tmp_path / "in"
    src.mkdir()
    for name in ("09_benign_business_iso2022jp.eml", "15_beacon_exe_in_password_zip.eml", "05_rlo_exe.eml"):
        (src / name).write_bytes((ROOT / "samples" / name).read_bytes())
    stix_file, misp_file = tmp_path / "share.stix.json", tmp_path / "share.misp.jsonl"
    args = ["batch", str(src), "--out", str(tmp_path / "out"), "--jobs", "1", "--quiet", "--no-ppap"]
    code = main([*args, "--stix", str(stix_file), "--misp", str(misp_file)])
    assert code == 4
    data = check_bundle(stix_file.read_text(encoding="utf-8"))
    verdicts = sorted(r["x_triage_verdict"] for r in _by_type(data, "report"))
    assert verdicts == ["malicious", "malicious"]  # the clean message is not shared
    lines = misp_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    for line in lines:
        event = MISPEvent()
        event.load(line)
        assert any(t.name == 'triage:verdict="malicious"' for t in event.tags)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=HOSTILE_FIELDS)
def test_any_strings_give_a_valid_bundle(reports: dict[str, Report], fields: dict[str, Any]) -> None:
    report = rewritten(reports["15_beacon_exe_in_password_zip.eml"], **fields)
    data = check_bundle(render_stix([report]))
    patterns = _patterns(data)
    assert all(u.isascii() and u.isprintable() and " " not in u for u in patterns.get("url", []))


@pytest.mark.skipif(not (CORPUS / "phishing_pot").is_dir(), reason="../shared/corpus is not present")
def test_real_mail_gives_bundles_the_oasis_validator_accepts(engine: Engine) -> None:
    validator = pytest.importorskip("stix2validator")
    reports = [engine.scan(p.read_bytes(), name=p.name) for p in corpus_sample(12)]
    text = render_stix(reports)
    check_bundle(text)
    result = validator.validate_string(text, validator.ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
