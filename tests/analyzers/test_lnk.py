"""LnkAnalyzer: interpreter targets, hidden arguments, decoy icons; arguments judged by the script scanner."""

from __future__ import annotations

import pytest
from samplekit import carriers

from tests.analyzers._carriers import Ctx, by_id, one, view_of
from tests.conftest import make_message
from triage.analyzers.lnk import LnkAnalyzer, read_lnk
from triage.config import load_config
from triage.engine import Engine
from triage.model import Finding, NoteKind


@pytest.fixture(scope="module")
def analyzer() -> LnkAnalyzer:
    plugin = LnkAnalyzer()
    plugin.setup(load_config())
    return plugin


def run(analyzer: LnkAnalyzer, data: bytes, name: str = "a.lnk") -> tuple[dict[str, Finding], Ctx]:
    ctx = Ctx()
    findings = list(analyzer.analyze(view_of(data, name), ctx))  # type: ignore[arg-type]
    return by_id(findings), ctx


def test_builder_output_is_read_by_lnkparse3() -> None:
    facts = read_lnk(carriers.lnk_powershell_pdf_icon())
    assert facts.target.endswith("powershell.exe")
    assert facts.arguments.startswith("-NoProfile -WindowStyle Hidden")
    assert facts.icon_location.endswith("AcroRd32.exe")
    assert facts.working_dir == "%TEMP%"
    assert facts.window_style == "SW_SHOWMINNOACTIVE"


def test_powershell_with_pdf_icon(analyzer: LnkAnalyzer) -> None:
    found, ctx = run(analyzer, carriers.lnk_powershell_pdf_icon())
    assert set(found) == {"LNK_SUSPICIOUS_TARGET", "LNK_ICON_DECOY", "SCRIPT_LAUNCHER"}
    target = found["LNK_SUSPICIOUS_TARGET"]
    assert target.strength == 1.0
    assert target.evidence[0] == r"target C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
    assert target.evidence[1].startswith("arguments: -NoProfile -WindowStyle Hidden -Command")
    assert "window SW_SHOWMINNOACTIVE" in target.evidence
    decoy = found["LNK_ICON_DECOY"]
    assert decoy.strength == 1.0 and "a document handler's icon" in decoy.evidence
    meta = ctx.meta["lnk"]
    assert isinstance(meta, dict) and meta["icon_location"].endswith("AcroRd32.exe")


def test_padded_arguments_are_hidden(analyzer: LnkAnalyzer) -> None:
    found, _ = run(analyzer, carriers.lnk_powershell_pdf_icon(padding=300))
    evidence = found["LNK_HIDDEN_ARGUMENTS"].evidence
    assert any("Explorer shows 260" in e for e in evidence)
    assert "a run of 301 blanks inside the arguments" in evidence


def test_ordinary_shortcut_is_quiet(analyzer: LnkAnalyzer) -> None:
    lnk = carriers.build_lnk(
        r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
        arguments=r'"C:\Users\taro\Documents\議事録.docx"',
        icon_location=r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
    )
    found, ctx = run(analyzer, lnk)
    assert found == {}
    assert ctx.notes == []


def test_interpreter_without_arguments_is_half_strength(analyzer: LnkAnalyzer) -> None:
    found, _ = run(analyzer, carriers.build_lnk(r"C:\Windows\System32\cmd.exe", icon_location=r"C:\x\report.pdf"))
    assert found["LNK_SUSPICIOUS_TARGET"].strength == 0.5
    assert found["LNK_ICON_DECOY"].evidence[1] == "the icon of a .pdf file"


def test_mshta_downloader_arguments(analyzer: LnkAnalyzer) -> None:
    lnk = carriers.build_lnk(r"C:\Windows\System32\mshta.exe", arguments="http://update.example.invalid/a.hta")
    found, ctx = run(analyzer, lnk)
    assert found["SCRIPT_DOWNLOADER"].evidence[0] == "shortcut downloads: mshta with a URL"
    assert ("urls", "http://update.example.invalid/a.hta") in ctx.iocs


@pytest.mark.parametrize("cut", [0, 10, 76, 100, 200])
def test_truncated_shortcut_is_unparsable_or_partial_never_a_crash(analyzer: LnkAnalyzer, cut: int) -> None:
    data = carriers.lnk_powershell_pdf_icon()[:cut] if cut else b"L\x00\x00\x00garbage"
    _, ctx = run(analyzer, data)
    assert ctx.note_kinds() in ([], [NoteKind.UNPARSABLE])


def test_real_lnk_dropper(analyzer: LnkAnalyzer) -> None:
    name, data = one("03_lnk__3__stage1.7z")
    found, ctx = run(analyzer, data, name)
    assert {"LNK_SUSPICIOUS_TARGET", "LNK_HIDDEN_ARGUMENTS", "LNK_ICON_DECOY", "SCRIPT_DOWNLOADER"} <= set(found)
    assert found["LNK_SUSPICIOUS_TARGET"].evidence[0] == r"target C:\Windows\System32\cmd.exe"
    assert any("certutil -decode" in e for e in found["SCRIPT_DOWNLOADER"].evidence)
    assert ("domains", "nrgtik.mx") in ctx.iocs
    meta = ctx.meta["lnk"]
    assert isinstance(meta, dict) and meta["machine_id"] == "desktop-je2hdr7"


def test_real_lnk_in_a_message() -> None:
    name, data = one("03_lnk__3__stage1.7z")
    report = Engine().scan(make_message(attachments=[(name, data, "application/octet-stream")]))
    assert {"LNK_SUSPICIOUS_TARGET", "ATTACHMENT_EXECUTABLE", "SCRIPT_DOWNLOADER"} <= set(report.finding_ids())
    assert report.verdict.level.value == "malicious"
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]
