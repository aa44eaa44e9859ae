"""FilenameAnalyzer: FILENAME_RLO, FILENAME_DOUBLE_EXT, FILENAME_TYPE_MISMATCH — must fire and must not fire."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest
from _pe import minimal_pe

from tests.conftest import artifact_view
from triage.analyzers.filename import FilenameAnalyzer, load_extension_rules, parse_extension_rules
from triage.config import load_config
from triage.errors import ConfigError
from triage.filetype import FileTyper
from triage.model import Finding
from triage.plugins import ArtifactView


@pytest.fixture(scope="module")
def analyzer() -> FilenameAnalyzer:
    plugin = FilenameAnalyzer()
    plugin.setup(load_config())
    return plugin


def view(name: str | None, types: tuple[str, ...] = ("unknown",), *, unreadable: bool = False) -> ArtifactView:
    return artifact_view(name, types, unreadable=unreadable, artifact_id="a1", depth=1)


def run(analyzer: FilenameAnalyzer, target: ArtifactView) -> dict[str, Finding]:
    findings = list(analyzer.analyze(target, None))  # type: ignore[arg-type] - the analyzer needs no context
    ids = [f.id for f in findings]
    assert len(ids) == len(set(ids)), "one finding per id per artifact"
    for f in findings:
        assert f.artifact == "a1" and f.analyzer == "filename" and 0 < f.strength <= 1
        assert not any(
            unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp", "Cs"} for item in f.evidence for ch in item
        ), f.evidence
    return {f.id: f for f in findings}


def test_rule_file_examples(analyzer: FilenameAnalyzer) -> None:
    assert analyzer.rules.examples, "the rules file carries examples"
    for example in analyzer.rules.examples:
        fired = set(run(analyzer, view(example.name, example.types)))
        assert fired == example.fires, example.name


# -- FILENAME_RLO ------------------------------------------------------------------------------------------------
def test_rlo_classic(analyzer: FilenameAnalyzer) -> None:
    found = run(analyzer, view("report\u202efdp.exe", ("pe", "pe-exe")))
    rlo = found["FILENAME_RLO"]
    assert rlo.strength == 1.0
    assert rlo.evidence == (
        'name "report\\u202efdp.exe"',
        'displays as "reportexe.pdf"',
        "U+202E RIGHT-TO-LEFT OVERRIDE",
    )
    double = found["FILENAME_DOUBLE_EXT"]
    assert 'displayed extension ".pdf", real extension ".exe"' in double.evidence
    assert double.strength == 1.0


def test_rlo_scr_png(analyzer: FilenameAnalyzer) -> None:
    found = run(analyzer, view("SPEC\u202egnp.scr", ("pe", "pe-exe")))
    assert 'displays as "SPECrcs.png"' in found["FILENAME_RLO"].evidence
    assert 'displayed extension ".png", real extension ".scr"' in found["FILENAME_DOUBLE_EXT"].evidence


@pytest.mark.parametrize(
    ("name", "strength", "codepoint"),
    [
        ("invoice\u200b.pdf", 0.6, "U+200B ZERO WIDTH SPACE"),
        ("請求書\u200d.pdf", 0.6, "U+200D ZERO WIDTH JOINER"),
        ("a\ufeffb.txt", 0.6, "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("\u3164.exe", 0.6, "U+3164 HANGUL FILLER"),
        ("doc\u2800.pdf", 0.6, "U+2800 BRAILLE PATTERN BLANK"),
        ("x\u00ady.pdf", 0.6, "U+00AD SOFT HYPHEN"),
        ("x\u200ey.pdf", 0.6, "U+200E LEFT-TO-RIGHT MARK"),
        ("x\u200fy.pdf", 1.0, "U+200F RIGHT-TO-LEFT MARK"),
        ("x\u061cy.pdf", 1.0, "U+061C ARABIC LETTER MARK"),
        ("x\u2067y\u2069.pdf", 1.0, "U+2067 RIGHT-TO-LEFT ISOLATE, U+2069 POP DIRECTIONAL ISOLATE"),
        ("x\u202by.pdf", 1.0, "U+202B RIGHT-TO-LEFT EMBEDDING"),
    ],
)
def test_invisible_characters(analyzer: FilenameAnalyzer, name: str, strength: float, codepoint: str) -> None:
    rlo = run(analyzer, view(name, ("pdf",)))["FILENAME_RLO"]
    assert rlo.strength == strength
    assert rlo.evidence[2] == codepoint


@pytest.mark.parametrize(
    "name",
    [
        "会議資料.pdf",
        "2011_08 議事録（案）.docx",
        "naïve résumé.pdf",
        "写真 2024-05-01.jpg",
        "\u0645\u0644\u0641.pdf",
        "report (final).pdf",
        "資料　第1回.pdf",
    ],
)
def test_ordinary_names_are_quiet(analyzer: FilenameAnalyzer, name: str) -> None:
    assert run(analyzer, view(name, ("pdf",) if name.endswith(".pdf") else ("unknown",))) == {}


# -- FILENAME_DOUBLE_EXT -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "strength", "evidence"),
    [
        ("report.pdf.exe", 1.0, 'decoy extension ".pdf" before ".exe"'),
        ("写真.jpg.scr", 1.0, 'decoy extension ".jpg" before ".scr"'),
        ("invoice.pdf                 .exe", 1.0, '17 padding characters before ".exe"'),
        ("invoice.doc____________.exe", 1.0, '12 padding characters before ".exe"'),
        ("file.pdf .exe", 1.0, 'decoy extension ".pdf" before ".exe"'),
        ("資料.pdf\u3000\u3000\u3000\u3000\u3000\u3000.exe", 1.0, '6 padding characters before ".exe"'),
        ("report.PDF.EXE", 1.0, 'decoy extension ".pdf" before ".exe"'),
        ("report.pdf.exe. . ", 1.0, 'decoy extension ".pdf" before ".exe"'),
        ("議事録.pdf.lnk", 1.0, 'decoy extension ".pdf" before ".lnk"'),
        ("請求書.docx.js", 1.0, 'decoy extension ".docx" before ".js"'),
        ("report.pd\u200bf.exe", 1.0, 'decoy extension ".pdf" before ".exe"'),
        ("setup                          .exe", 0.7, '26 padding characters before ".exe"'),
        ("見積書.xlsx.iso", 1.0, 'decoy extension ".xlsx" before ".iso"'),
    ],
)
def test_double_extension_fires(analyzer: FilenameAnalyzer, name: str, strength: float, evidence: str) -> None:
    double = run(analyzer, view(name, ("unknown",)))["FILENAME_DOUBLE_EXT"]
    assert double.strength == strength
    assert evidence in double.evidence


@pytest.mark.parametrize(
    "name",
    [
        "archive.tar.gz",
        "report.2024.pdf",
        "v1.2.3.zip",
        "data.csv.gz",
        "photo.jpg.zip",
        "setup.exe",
        "my.report.exe",
        "file .exe",
        "a.b.c.d.e.f.exe",
        "document.pdf",
        "report.exe.pdf",
        "x.pdf.ex\u200be",
        "photo\u202egpj.zip",
        ".pdf",
    ],
)
def test_double_extension_quiet(analyzer: FilenameAnalyzer, name: str) -> None:
    assert "FILENAME_DOUBLE_EXT" not in run(analyzer, view(name))


def test_padding_run_option() -> None:
    plugin = FilenameAnalyzer()
    plugin.setup(load_config(overrides={"analyzers": {"filename": {"padding_run": 30}}}))
    assert "FILENAME_DOUBLE_EXT" not in run(plugin, view("setup                          .exe"))
    assert "FILENAME_DOUBLE_EXT" in run(plugin, view("report.pdf .exe"))


# -- FILENAME_TYPE_MISMATCH --------------------------------------------------------------------------------------
def test_japanese_doc_that_is_a_pe(analyzer: FilenameAnalyzer) -> None:
    types = FileTyper().tags(minimal_pe(), "2011_08.doc")
    mismatch = run(analyzer, view("2011_08.doc", types))["FILENAME_TYPE_MISMATCH"]
    assert mismatch.strength == 1.0
    assert mismatch.evidence[0] == 'named ".doc", content is "pe-exe"'


@pytest.mark.parametrize(
    ("name", "types", "strength"),
    [
        ("写真.jpg", ("pe", "pe-dll"), 1.0),
        ("readme.txt", ("lnk",), 1.0),
        ("manual.pdf", ("chm",), 1.0),
        ("notes.txt", ("text", "hta"), 1.0),
        ("song.mp3", ("pe", "pe-exe"), 1.0),  # not in the expected table, still an executable in disguise
        ("setup.pdf", ("ole", "msi"), 1.0),
        ("a.doc", ("elf",), 1.0),
        ("資料.pdf", ("zip",), 0.5),
        ("資料.docx", ("pdf",), 0.5),
        ("表.xls", ("text", "html"), 0.3),
        ("archive.zip", ("rar",), 0.3),
        ("archive.zip", ("7z",), 0.3),
        ("image.png", ("text", "html"), 0.5),
    ],
)
def test_type_mismatch_fires(analyzer: FilenameAnalyzer, name: str, types: tuple[str, ...], strength: float) -> None:
    assert run(analyzer, view(name, types))["FILENAME_TYPE_MISMATCH"].strength == strength


@pytest.mark.parametrize(
    ("name", "types"),
    [
        ("会議資料.pdf", ("pdf",)),
        ("議事録.doc", ("rtf",)),  # Word saves RTF as .doc
        ("議事録.doc", ("ole", "doc")),
        ("報告書.docx", ("zip", "ooxml", "docx")),
        ("報告書.docx", ("ole", "ooxml-encrypted")),  # password-protected OOXML is an OLE file
        ("setup.exe", ("pe", "pe-exe")),
        ("library.dll", ("pe", "pe-dll", "dotnet")),
        ("invoice.js", ("text", "script-js")),  # script tags come from the name: nothing to disagree with
        ("page.html", ("text", "html", "hta")),
        ("lib.jar", ("zip", "jar")),
        ("lib.zip", ("zip", "jar")),
        ("blob.pdf", ("unknown",)),  # unrecognised content is not evidence
        ("blob.pdf", ("empty",)),
        ("noext", ("pe", "pe-exe")),
        ("movie.mp4", ("unknown",)),
        ("archive.tar.gz", ("gzip",)),
    ],
)
def test_type_mismatch_quiet(analyzer: FilenameAnalyzer, name: str, types: tuple[str, ...]) -> None:
    assert "FILENAME_TYPE_MISMATCH" not in run(analyzer, view(name, types))


def test_unreadable_member_is_checked_by_name_only(analyzer: FilenameAnalyzer) -> None:
    assert run(analyzer, view("歓迎会.exe", unreadable=True)) == {}
    assert run(analyzer, view("資料.pdf", unreadable=True)) == {}
    found = run(analyzer, view("歓迎会\u202efdp.exe", unreadable=True))
    assert set(found) == {"FILENAME_RLO", "FILENAME_DOUBLE_EXT"}


def test_no_name_no_findings(analyzer: FilenameAnalyzer) -> None:
    assert run(analyzer, view(None, ("pe", "pe-exe"))) == {}
    assert run(analyzer, view("", ("pe", "pe-exe"))) == {}


def test_hostile_names_stay_short_and_finish(analyzer: FilenameAnalyzer) -> None:
    for name in (
        "\u202e" * 50_000 + "fdp.exe",
        "a" * 100_000 + ".pdf" + " " * 50_000 + ".exe",
        "\u200b" * 100_000,
        "." * 100_000,
        "\u05d0(" * 20_000 + ".exe",
    ):
        for finding in run(analyzer, view(name, ("pe", "pe-exe"))).values():
            assert all(len(item) < 400 for item in finding.evidence)


# -- configuration -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"padding_run": 0},
        {"padding_run": "6"},
        {"padding_run": True},
        {"unknown": 1},
        {"extensions": ""},
        {"extensions": "lists/does-not-exist.toml"},
    ],
)
def test_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        FilenameAnalyzer().setup(load_config(overrides={"analyzers": {"filename": options}}))


def _rules_doc() -> dict[str, Any]:
    return {
        "double_ext": {"dangerous": ["exe"], "decoy": ["pdf"]},
        "executable_content": {"pe": ["exe"]},
        "expected": {"pdf": {"ok": ["pdf"]}},
    }


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(extra={}),
        lambda d: d["double_ext"].update(dangerous=["EXE"]),
        lambda d: d["double_ext"].update(decoy=[".pdf"]),
        lambda d: d["double_ext"].update(decoy=["exe"]),
        lambda d: d["double_ext"].update(other=[]),
        lambda d: d["executable_content"].update(bogus=["x"]),
        lambda d: d["executable_content"].update({"script-js": ["js"]}),
        lambda d: d["expected"].update(doc={"ok": ["not-a-tag"]}),
        lambda d: d["expected"].update(doc={"weak": ["ole"]}),
        lambda d: d["expected"].update(doc={"ok": "ole"}),
        lambda d: d.update(examples=[{"name": "x", "types": [], "fires": ["NOPE"]}]),
        lambda d: d.update(examples=[{"name": "x", "types": ["nope"], "fires": []}]),
        lambda d: d.pop("double_ext"),
    ],
)
def test_bad_rules_are_config_errors(mutate: Any) -> None:
    doc = _rules_doc()
    parse_extension_rules(doc, "good")
    mutate(doc)
    with pytest.raises(ConfigError):
        parse_extension_rules(doc, "bad")


def test_unreadable_or_invalid_rules_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[double_ext\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_extension_rules(broken)
    with pytest.raises(ConfigError):
        load_extension_rules(tmp_path / "missing.toml")


def test_emitted_ids_are_declared() -> None:
    load_config().scoring.check_emits("filename", FilenameAnalyzer.emits)
