"""OfficeAnalyzer: macros, DDE, external relationships and code page, on documents built in code and real ones."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samplekit import office as so
from samplekit.cfb import build_cfb

from tests.conftest import CORPUS
from tests.unpack._fake_ctx import FakeContext, view
from triage.analyzers.office import OfficeAnalyzer, may_hold_macros, zip_guard
from triage.config import load_config
from triage.filetype import FileTyper
from triage.model import NoteKind

OLETOOLS = CORPUS / "office" / "oletools-test-data"
HELSECERT = CORPUS / "office" / "helsecert-malspam-7z-infected"


class Ctx(FakeContext):
    """FakeContext that also records IOCs and the strength of each finding."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.iocs: list[tuple[str, str]] = []
        self.strengths: dict[str, float] = {}

    def add_ioc(self, kind: str, value: str) -> None:
        self.iocs.append((kind, value))

    def emit(self, finding_id: str, evidence: Any = (), *, strength: float = 1.0, artifact: str | None = None) -> None:
        super().emit(finding_id, tuple(evidence), strength=strength, artifact=artifact)
        self.strengths[finding_id] = strength


@pytest.fixture(scope="module")
def analyzer() -> OfficeAnalyzer:
    a = OfficeAnalyzer()
    a.setup(load_config())
    return a


def run(analyzer: OfficeAnalyzer, data: bytes, name: str, **kwargs: Any) -> Ctx:
    ctx = Ctx(**kwargs)
    types = FileTyper().tags(data, name)
    assert list(analyzer.analyze(view(data, name, types), ctx)) == []
    return ctx


# -- built in code -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "build", "entry"),
    [
        ("report.doc", so.macro_doc, "AutoOpen"),
        ("book.xls", so.macro_xls, "Workbook_Open"),
        ("report.docm", so.macro_docm, "AutoOpen"),
    ],
)
def test_vba_macro_autoexec_and_suspicious(analyzer: OfficeAnalyzer, name: str, build: Any, entry: str) -> None:
    ctx = run(analyzer, build(), name)
    assert entry in ctx.evidence("DOC_MACRO_AUTOEXEC")
    suspicious = ctx.evidence("DOC_MACRO_SUSPICIOUS")
    assert "Shell" in suspicious and any(e.startswith("mraptor: suspicious") for e in suspicious)
    assert ctx.strengths["DOC_MACRO_SUSPICIOUS"] == 1.0
    assert ctx.evidence("DOC_MACRO_PRESENT")[0] == "VBA macros"
    assert ctx.meta["macros"] == "VBA"
    assert ctx.notes == []


def test_macro_without_autoexec_or_danger_is_only_present(analyzer: OfficeAnalyzer) -> None:
    ctx = run(analyzer, so.macro_doc("Sub Hello()\r\n    x = 1 + 2\r\nEnd Sub\r\n"), "calc.doc")
    assert ctx.ids() == ["DOC_MACRO_PRESENT"]


def test_weak_keywords_give_half_strength(analyzer: OfficeAnalyzer) -> None:
    # "Open" on a file is in olevba's suspicious list but does nothing on its own: not a strong keyword
    macro = 'Sub Tidy()\r\n    Open "notes.txt" For Input As #1\r\n    Close #1\r\nEnd Sub\r\n'
    ctx = run(analyzer, so.macro_doc(macro), "tidy.doc")
    assert "DOC_MACRO_SUSPICIOUS" in ctx.ids() and "DOC_MACRO_AUTOEXEC" not in ctx.ids()
    assert ctx.strengths["DOC_MACRO_SUSPICIOUS"] == 0.5


def test_macro_iocs_go_to_the_report(analyzer: OfficeAnalyzer) -> None:
    macro = 'Sub AutoOpen()\r\n    u = "http://dl.example.invalid/payload.bin"\r\n    ip = "203.0.113.7"\r\nEnd Sub\r\n'
    ctx = run(analyzer, so.macro_docm(macro), "m.docm")
    assert ("urls", "http://dl.example.invalid/payload.bin") in ctx.iocs
    assert ("domains", "dl.example.invalid") in ctx.iocs
    assert ("ips", "203.0.113.7") in ctx.iocs


def test_macro_prefilter_spares_olevba_only_when_nothing_can_hold_macros() -> None:
    assert not may_hold_macros(so.docx(), ("zip", "ooxml", "docx"))
    assert may_hold_macros(so.macro_docm(), ("zip", "ooxml", "docx"))
    renamed = so.docx(extra={"ppt/MicrosoftData.google": build_cfb(so.vba_project({"Module1": "Sub A()\r\nEnd Sub"}))})
    assert may_hold_macros(renamed, ("zip", "ooxml", "docx"))
    assert may_hold_macros(so.macro_doc(), ("ole", "doc"))
    assert not may_hold_macros(build_cfb({"WordDocument": b"\x00" * 600}), ("ole", "doc"))


def test_plain_docx_is_silent(analyzer: OfficeAnalyzer) -> None:
    ctx = run(analyzer, so.docx(), "meeting.docx")
    assert ctx.ids() == [] and ctx.notes == []


def test_remote_template(analyzer: OfficeAnalyzer) -> None:
    url = "http://templates.example.invalid/t.dotm"
    ctx = run(analyzer, so.remote_template_docx(url), "t.docx")
    (evidence,) = ctx.evidence("DOC_EXTERNAL_TEMPLATE")
    assert evidence.startswith("attachedTemplate → " + url)
    assert ctx.strengths["DOC_EXTERNAL_TEMPLATE"] == 1.0
    assert ("urls", url) in ctx.iocs and ("domains", "templates.example.invalid") in ctx.iocs


def test_external_hyperlink_does_not_fire(analyzer: OfficeAnalyzer) -> None:
    rels = [("rId7", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink",
             "https://www.example.invalid/", True)]  # fmt: skip
    ctx = run(analyzer, so.docx(document_rels=rels), "link.docx")
    assert "DOC_EXTERNAL_TEMPLATE" not in ctx.ids()


def test_remote_image_is_half_strength(analyzer: OfficeAnalyzer) -> None:
    rels = [("rId8", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image",
             "http://track.example.invalid/p.png", True)]  # fmt: skip
    ctx = run(analyzer, so.docx(document_rels=rels), "img.docx")
    assert ctx.strengths["DOC_EXTERNAL_TEMPLATE"] == 0.5


def test_mhtml_ole_object_target(analyzer: OfficeAnalyzer) -> None:
    # the CVE-2021-40444 shape: an external oleObject with an mhtml: target
    target = "mhtml:http://x.example.invalid/a.html!x-usc:http://x.example.invalid/a.html"
    rels = [("rId9", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/oleObject", target, True)]
    ctx = run(analyzer, so.docx(document_rels=rels), "ole.docx")
    assert "oleObject → mhtml:" in ctx.evidence("DOC_EXTERNAL_TEMPLATE")[0]
    assert ("urls", "http://x.example.invalid/a.html") in ctx.iocs


def test_rels_with_entities_are_refused(analyzer: OfficeAnalyzer) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="r" Type="x/attachedTemplate" Target="&b;" TargetMode="External"/></Relationships>'
    )
    ctx = run(analyzer, so.docx(extra={"word/_rels/settings.xml.rels": bomb}), "e.docx")
    assert ctx.ids() == []


def test_dde_docx(analyzer: OfficeAnalyzer) -> None:
    ctx = run(analyzer, so.dde_docx(), "dde.docx")
    (field,) = ctx.evidence("DOC_DDE")
    assert field.startswith("DDEAUTO") and "cmd.exe" in field


def test_dde_in_word_binary(analyzer: OfficeAnalyzer) -> None:
    text = '\x13 DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe "/k calc.exe" \x14result\x15'
    ctx = run(analyzer, so.macro_doc("Sub A()\r\nEnd Sub\r\n", text=text), "dde.doc")
    assert any(f.startswith("DDEAUTO") for f in ctx.evidence("DOC_DDE"))


def test_chinese_codepage(analyzer: OfficeAnalyzer) -> None:
    ctx = run(analyzer, so.macro_doc(codepage=936), "cn.doc")
    assert ctx.evidence("DOC_CHINESE_CODEPAGE") == (
        "document properties saved under code page 936 (simplified Chinese (GBK))",
    )
    assert ctx.meta["codepage"] == 936
    assert ctx.meta["author"] == "Taro Yamada"


def test_japanese_codepage_does_not_fire(analyzer: OfficeAnalyzer) -> None:
    ctx = run(analyzer, so.macro_doc(codepage=932), "jp.doc")
    assert "DOC_CHINESE_CODEPAGE" not in ctx.ids()
    assert ctx.meta["codepage"] == 932


def test_outlook_message_is_left_alone(analyzer: OfficeAnalyzer) -> None:
    ctx = Ctx()
    analyzer.analyze(view(so.macro_doc(), "x.msg", ("ole", "msg")), ctx)
    assert ctx.ids() == [] and ctx.notes == []


@pytest.mark.parametrize(
    ("data", "name", "types"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 600, "broken.doc", ("ole", "doc")),
        (so.macro_doc()[:1500], "cut.doc", ("ole", "doc")),
        (so.macro_docm()[:900], "cut.docm", ("zip", "ooxml", "docx")),
        (b"PK\x03\x04garbage", "g.docx", ("zip", "ooxml", "docx")),
    ],
)
def test_hostile_input_never_crashes(analyzer: OfficeAnalyzer, data: bytes, name: str, types: tuple[str, ...]) -> None:
    ctx = Ctx()
    assert list(analyzer.analyze(view(data, name, types), ctx)) == []
    assert set(ctx.ids()) <= {"DOC_MACRO_PRESENT"}


def test_zip_bomb_member_is_not_handed_to_olevba(analyzer: OfficeAnalyzer) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
        zf.writestr("word/vbaProject.bin", b"\x00" * (3 * 1024 * 1024))
    data = buffer.getvalue()
    assert zip_guard(data, 1024 * 1024) is not None
    ctx = run(analyzer, data, "bomb.docm", max_child_size=1024 * 1024)
    assert ctx.ids() == []
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


# -- real documents ------------------------------------------------------------------------------------------------
def helsecert(prefix: str) -> Iterator[tuple[str, bytes]]:
    """The documents of the helsecert malspam cases starting with `prefix`, read into memory (never to disk)."""
    py7zr = pytest.importorskip("py7zr")
    from py7zr.io import BytesIOFactory

    paths = sorted(HELSECERT.glob(f"{prefix}*.7z"))
    if not paths:
        pytest.skip("helsecert corpus not present")
    for path in paths:
        factory = BytesIOFactory(20 * 1024 * 1024)
        with py7zr.SevenZipFile(path, password="infected") as archive:
            archive.extractall(factory=factory)
        for name, product in factory.products.items():
            product.seek(0)
            yield name, product.read()


def corpus_file(relative: str) -> bytes:
    path = OLETOOLS / relative
    if not path.exists():
        pytest.skip(f"{relative} not in the corpus")
    return path.read_bytes()


@pytest.mark.parametrize("prefix", ["04_doc__1", "04_doc__4", "06_excel__1", "06_excel__3", "12_ppt__1"])
def test_real_macro_documents(analyzer: OfficeAnalyzer, prefix: str) -> None:
    for name, data in helsecert(prefix):
        ctx = run(analyzer, data, name)
        assert "DOC_MACRO_AUTOEXEC" in ctx.ids(), name
        assert "DOC_MACRO_SUSPICIOUS" in ctx.ids(), name


@pytest.mark.parametrize("prefix", ["04_doc__3", "12_ppt__2"])
def test_real_external_relationships(analyzer: OfficeAnalyzer, prefix: str) -> None:
    for name, data in helsecert(prefix):
        ctx = run(analyzer, data, name)
        assert "DOC_EXTERNAL_TEMPLATE" in ctx.ids(), name
        assert any(kind == "urls" for kind, _ in ctx.iocs)


def test_real_xlm_macro_sheet(analyzer: OfficeAnalyzer) -> None:
    ctx = run(analyzer, corpus_file("excel4-macros/excel4_sample_macro.xls"), "excel4.xls")
    assert ctx.evidence("DOC_MACRO_AUTOEXEC") == ("Auto_Open",)
    assert ctx.meta["macros"] == "XLM"


@pytest.mark.parametrize("relative", ["msodde/dde-test.docx", "msodde/dde-test.docm", "msodde/dde-test.xlsx",
                                      "msodde/dde-test.xlsm", "msodde/dde-test.xlsb"])  # fmt: skip
def test_real_dde(analyzer: OfficeAnalyzer, relative: str) -> None:
    ctx = run(analyzer, corpus_file(relative), Path(relative).name)
    assert "DOC_DDE" in ctx.ids()


CLEAN = ["msodde/harmless-clean.docx", "msodde/harmless-clean.doc", "oleobj/embedded-simple-2007.docx",
         "oleobj/embedded-simple-2007.xls"]  # fmt: skip


@pytest.mark.parametrize("relative", CLEAN)
def test_real_clean_documents_are_silent(analyzer: OfficeAnalyzer, relative: str) -> None:
    ctx = run(analyzer, corpus_file(relative), Path(relative).name)
    assert ctx.ids() == [] and ctx.notes == []


def test_real_external_link_samples() -> None:
    a = OfficeAnalyzer()
    a.setup(load_config())
    paths = sorted((OLETOOLS / "oleobj" / "external_link").glob("*"))
    if not paths:
        pytest.skip("oletools external_link samples not present")
    for path in paths:
        ctx = run(a, path.read_bytes(), path.name)
        assert "DOC_EXTERNAL_TEMPLATE" in ctx.ids(), path.name


def test_sample_builders_are_deterministic() -> None:
    from _pe import minimal_pe

    for build in (so.macro_doc, so.macro_xls, so.macro_docm, so.remote_template_docx, so.dde_docx):
        assert build() == build(), build.__name__
    assert so.package_docx(minimal_pe()) == so.package_docx(minimal_pe())
