"""YaraAnalyzer: compiling shipped and site rules (failing fast), scanning artifacts, evidence, limits, the CLI."""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from samplekit import yara_examples as ye

from tests.conftest import make_message, make_zip
from triage.analyzers.yara_scan import YaraAnalyzer
from triage.config import Config, load_config
from triage.engine import Engine
from triage.errors import ConfigError
from triage.frontends.cli import main
from triage.model import Artifact, Finding, JsonValue, NoteKind
from triage.plugins import ArtifactView, DeadlineExceeded

SITE_RULE = """
rule SITE_Marker
{
    meta:
        id = "SITE_MARKER"
        severity = "low"
        description = "our test marker"
    strings:
        $m = "TRIAGE-SITE-MARKER-7f3a"
    condition:
        $m
}
"""


class Ctx:
    """Just enough PluginContext: records notes, a settable remaining time and deadline."""

    def __init__(self, remaining: float = 30.0, expired: bool = False) -> None:
        self.notes: list[tuple[NoteKind, str]] = []
        self.remaining = remaining
        self.expired = expired

    @property
    def artifact_id(self) -> str | None:
        return "a1"

    def note(self, kind: NoteKind, detail: str, *, artifact: str | None = None) -> None:
        self.notes.append((kind, detail))

    def check_deadline(self) -> None:
        if self.expired:
            raise DeadlineExceeded("test")

    def remaining_seconds(self) -> float:
        return self.remaining


def view(
    data: bytes, *, meta: dict[str, JsonValue] | None = None, types: tuple[str, ...] = ("unknown",)
) -> ArtifactView:
    artifact = Artifact(
        id="a1",
        parent="a0",
        depth=1,
        name="x.bin",
        display_name="x.bin",
        declared_type=None,
        types=types,
        size=len(data),
        md5=None,
        sha1=None,
        sha256=None,
        meta=meta or {},
    )
    return ArtifactView(artifact=artifact, data=data)


def analyzer_for(config: Config) -> YaraAnalyzer:
    analyzer = YaraAnalyzer()
    analyzer.setup(config)
    return analyzer


def scan(analyzer: YaraAnalyzer, data: bytes, ctx: Ctx | None = None, **kw: Any) -> list[Finding]:
    return list(analyzer.analyze(view(data, **kw), ctx or Ctx()))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def analyzer() -> YaraAnalyzer:
    return analyzer_for(load_config())


def site_dir(tmp_path: Path, text: str = SITE_RULE, name: str = "site.yar") -> Path:
    folder = tmp_path / "site_rules"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def with_yara(**options: Any) -> Config:
    return load_config(overrides={"analyzers": {"yara": options}})


# -- compiling ---------------------------------------------------------------------------------------------------
def test_shipped_rules_compile_with_their_files(analyzer: YaraAnalyzer) -> None:
    names = {p.name for p in analyzer.ruleset.files}
    assert {
        "embedded_pe.yar",
        "shellcode.yar",
        "rtf_obfuscation.yar",
        "js_heapspray.yar",
        "beacon_strings.yar",
    } <= names
    assert analyzer.ruleset.count >= 15


def test_site_rules_from_config_and_from_cli_option(tmp_path: Path) -> None:
    folder = site_dir(tmp_path)
    for config in (with_yara(rule_dirs=[str(folder)]), load_config(yara_rules=(folder,))):
        found = scan(analyzer_for(config), b"xx TRIAGE-SITE-MARKER-7f3a xx")
        assert len(found) == 1
        assert found[0].strength == 0.25  # severity low
        assert found[0].evidence[0].startswith("rule SITE_Marker (id SITE_MARKER, low): our test marker")
        assert any(e.startswith("site rule (site") for e in found[0].evidence)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rule broken { condition: $nope }", "do not compile"),
        ('rule nometa { strings: $a = "x" condition: $a }', "lacks meta id, severity, description"),
        (
            'rule noid { meta: severity = "high" description = "d" strings: $a = "x" condition: $a }',
            "lacks meta id",
        ),
        (
            'rule badsev { meta: id = "X" severity = "urgent" description = "d" strings: $a = "x" condition: $a }',
            "severity 'urgent'",
        ),
        (
            'rule intmeta { meta: id = 5 severity = "high" description = "d" strings: $a = "x" condition: $a }',
            "lacks meta id",
        ),
    ],
)
def test_bad_site_rules_fail_at_start_up(tmp_path: Path, text: str, message: str) -> None:
    folder = site_dir(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        analyzer_for(load_config(yara_rules=(folder,)))
    assert "site.yar" in str(info.value)


def test_private_helper_rules_need_no_meta(tmp_path: Path) -> None:
    text = 'private rule helper { strings: $a = "abc" condition: $a }\n' + SITE_RULE.replace("$m\n", "$m and helper\n")
    found = scan(analyzer_for(load_config(yara_rules=(site_dir(tmp_path, text),))), b"abc TRIAGE-SITE-MARKER-7f3a")
    assert [f.evidence[0].split()[1] for f in found] == ["SITE_Marker"]


def test_missing_or_empty_rule_folder_fails(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        analyzer_for(load_config(yara_rules=(tmp_path / "nope",)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no"):
        analyzer_for(load_config(yara_rules=(tmp_path / "empty",)))


def test_same_file_name_in_two_folders_does_not_clash(tmp_path: Path) -> None:
    first = site_dir(tmp_path)
    second = tmp_path / "more"
    second.mkdir()
    (second / "site.yar").write_text(SITE_RULE, encoding="utf-8")
    found = scan(analyzer_for(load_config(yara_rules=(first, second))), b"TRIAGE-SITE-MARKER-7f3a")
    assert len(found) == 2


@pytest.mark.parametrize(
    "options",
    [
        {"unknown": 1},
        {"timeout": 0},
        {"max_scan_size": "big"},
        {"rule_dirs": "rules"},
        {"severity": {"high": 2.0}},
        {"severity": {"low": "weak"}},
    ],
)
def test_bad_options_fail(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"\[analyzers.yara\]"):
        analyzer_for(with_yara(**options))


def test_engine_refuses_to_start_with_a_broken_rule(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Engine(load_config(yara_rules=(site_dir(tmp_path, "rule x { condition: nope }"),)))


# -- scanning ----------------------------------------------------------------------------------------------------
def test_evidence_names_rule_meta_and_strings(analyzer: YaraAnalyzer) -> None:
    (finding,) = scan(analyzer, ye.pdf_with_hidden_exe())
    assert finding.id == "YARA_MATCH" and finding.analyzer == "yara" and finding.artifact == "a1"
    assert finding.evidence[0].startswith("rule TRIAGE_PE_Stub_In_NonPE (id EMBEDDED_PE, high): ")
    offset = ye.pdf_with_hidden_exe().find(b"This program cannot")
    assert finding.evidence[1] == f"strings: $dos at {offset:#x}"
    assert finding.strength == 0.8


def test_xor_key_and_repeat_count_in_evidence(analyzer: YaraAnalyzer) -> None:
    data = ye.jpeg_with_xor_exe(0x5A) + ye.jpeg_with_xor_exe(0x5A)
    (finding,) = scan(analyzer, data)
    assert "(xor 0x5a) ×2" in finding.evidence[1]
    assert finding.strength == 1.0  # critical


def test_one_finding_per_rule_and_a_few_strings(analyzer: YaraAnalyzer) -> None:
    winexec_hash = b"\x68\x31\x8b\x6f\x87"
    data = ye.shellcode_blob("call_pop", "fnstenv", "peb_fs", "peb_gs", "api_hashes", "ror13_loop") + winexec_hash
    found = scan(analyzer, data)
    rules = sorted(f.evidence[0].split()[1] for f in found)
    assert rules == ["TRIAGE_Shellcode_API_Hashing", "TRIAGE_Shellcode_GetPC", "TRIAGE_Shellcode_PEB_Access"]
    hashing = next(f for f in found if "API_Hashing" in f.evidence[0])
    assert hashing.evidence[1].startswith("strings: ") and hashing.evidence[1].endswith(", +1 more")
    assert hashing.evidence[1].count(" at 0x") == 4  # max_strings


def test_decoded_children_are_named_in_evidence(analyzer: YaraAnalyzer) -> None:
    vba = b'Sub AutoOpen()\r\n  s = "Name:%s IP:%s OS:%s"\r\nEnd Sub\r\n'
    (finding,) = scan(analyzer, vba, meta={"decoded": "vba"}, types=("text",))
    assert "in decoded vba content" in finding.evidence


def test_severity_table_sets_strength() -> None:
    custom = analyzer_for(with_yara(severity={"low": 0.1, "medium": 0.2, "high": 0.3, "critical": 0.4}))
    (finding,) = scan(custom, ye.beacon_blob())
    assert finding.strength == 0.3


def test_nothing_to_scan(analyzer: YaraAnalyzer) -> None:
    assert scan(analyzer, b"") == []
    unreadable = view(ye.pdf_with_hidden_exe(), meta={"unreadable": "content not available"})
    assert list(analyzer.analyze(unreadable, Ctx())) == []  # type: ignore[arg-type]


def test_hostile_bytes_do_not_fire_or_crash(analyzer: YaraAnalyzer) -> None:
    import random

    rng = random.Random(7)
    for size in (1, 3, 4, 100, 0x8010, 300_000):
        assert scan(analyzer, bytes(rng.getrandbits(8) for _ in range(size))) == []
    assert scan(analyzer, b"\x00" * 100_000) == []
    assert scan(analyzer, b"{\\rtf1" + b"\\objdata 0" * 20_000) == []


def test_past_max_scan_size_scans_the_head_and_says_so() -> None:
    small = analyzer_for(with_yara(max_scan_size=1000))
    ctx = Ctx()
    head = ye.beacon_blob()
    found = scan(small, head + b"\x00" * 5000 + ye.pdf_with_hidden_exe(), ctx)
    assert [f.evidence[0].split()[1] for f in found] == ["TRIAGE_Beacon_Host_IP_OS"]
    assert ctx.notes and ctx.notes[0][0] is NoteKind.LIMIT_SIZE and "first 1000 of" in ctx.notes[0][1]


def test_timeout_is_a_note(tmp_path: Path) -> None:
    slow = (
        'import "hash"\nrule SITE_Slow { meta: id = "SLOW" severity = "low" description = "slow" '
        'condition: for all i in (0..filesize) : (hash.md5(i, filesize - i) != "0") }'
    )
    analyzer = analyzer_for(load_config(yara_rules=(site_dir(tmp_path, slow),)))
    ctx = Ctx(remaining=0.4)  # less than a second left: YARA still gets its smallest timeout, 1 s
    assert scan(analyzer, b"\x00" * 1_000_000, ctx) == []
    assert [k for k, _ in ctx.notes] == [NoteKind.TIMEOUT]
    assert "1s" in ctx.notes[0][1]


def test_expired_deadline_is_raised_not_scanned(analyzer: YaraAnalyzer) -> None:
    with pytest.raises(DeadlineExceeded):
        scan(analyzer, ye.beacon_blob(), Ctx(expired=True))


def test_pickles_for_worker_processes(analyzer: YaraAnalyzer) -> None:
    clone = pickle.loads(pickle.dumps(analyzer))
    assert clone.ruleset.count == analyzer.ruleset.count
    assert [f.evidence[0] for f in scan(clone, ye.beacon_blob())] == [
        f.evidence[0] for f in scan(analyzer, ye.beacon_blob())
    ]


# -- through the engine and the CLI ----------------------------------------------------------------------------
def _yara_findings(report_findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in report_findings if f.id == "YARA_MATCH"]


def test_engine_scans_attachments_and_archive_members(engine: Engine) -> None:
    raw = make_message(
        attachments=[
            ("請求書.pdf", ye.pdf_with_hidden_exe(), "application/pdf"),
            ("data.zip", make_zip([("readme.txt", b"hello"), ("cfg.bin", ye.beacon_blob())]), "application/zip"),
        ]
    )
    report = engine.scan(raw, name="t.eml")
    found = _yara_findings(report.findings)
    where = {report.artifact(f.artifact).name: f.evidence[0].split()[1] for f in found}
    assert where == {"請求書.pdf": "TRIAGE_PE_Stub_In_NonPE", "cfg.bin": "TRIAGE_Beacon_Host_IP_OS"}
    assert report.verdict.complete


def test_engine_plain_message_has_no_yara_match(engine: Engine) -> None:
    raw = make_message(
        body="会議資料を添付します。よろしくお願いします。",
        attachments=[("資料.pdf", ye.pdf_with_hidden_exe(exe=False), "application/pdf")],
    )
    report = engine.scan(raw)
    assert not _yara_findings(report.findings)
    assert not report.notes


def test_cli_rules_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(make_message(attachments=[("a.txt", b"TRIAGE-SITE-MARKER-7f3a", "text/plain")]))
    code = main(["scan", "--json", "--rules", str(site_dir(tmp_path)), str(eml)])
    doc = json.loads(capsys.readouterr().out)
    assert code in (0, 3, 4)
    assert any(f["id"] == "YARA_MATCH" and "SITE_MARKER" in f["evidence"][0] for f in doc["findings"])


def test_cli_bad_rules_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(make_message())
    code = main(["scan", "--rules", str(site_dir(tmp_path, "rule x { condition: nope }")), str(eml)])
    assert code == 2
    assert "YARA" in capsys.readouterr().err
