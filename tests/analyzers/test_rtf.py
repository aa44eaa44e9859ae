"""RtfAnalyzer: exploit markers read from control words, and the tricks that hide RTF objects."""

from __future__ import annotations

import pytest
from samplekit import carriers

from tests.analyzers._carriers import Ctx, by_id, oletools_file, oletools_zip_member, view_of
from tests.conftest import make_message
from triage.analyzers.rtf import RtfAnalyzer
from triage.config import load_config
from triage.engine import Engine
from triage.model import Finding, NoteKind


@pytest.fixture(scope="module")
def analyzer() -> RtfAnalyzer:
    plugin = RtfAnalyzer()
    plugin.setup(load_config())
    return plugin


def run(analyzer: RtfAnalyzer, data: bytes) -> dict[str, Finding]:
    return by_id(list(analyzer.analyze(view_of(data, "a.rtf"), Ctx())))  # type: ignore[arg-type]


def test_equation_object(analyzer: RtfAnalyzer) -> None:
    found = run(analyzer, carriers.rtf_equation())
    assert set(found) == {"DOC_RTF_EXPLOIT"}
    assert found["DOC_RTF_EXPLOIT"].evidence == (
        "\\objclass Equation.3: Equation Editor (CVE-2017-11882 / CVE-2018-0802)",
    )


def test_junk_in_objdata(analyzer: RtfAnalyzer) -> None:
    found = run(analyzer, carriers.rtf_equation(hex_junk=True))
    assert found["RTF_OBFUSCATED"].strength == 1.0
    assert found["RTF_OBFUSCATED"].evidence[0].endswith("non-hex characters inside \\objdata")


@pytest.mark.parametrize(
    ("class_name", "cve"),
    [
        ("OLE2Link", "CVE-2017-0199"),
        ("MSComctlLib.ListViewCtrl.2", "CVE-2012-0158"),
        ("MSComctlLib.TreeCtrl.2", "CVE-2012-0158"),
    ],
)
def test_other_exploit_classes(analyzer: RtfAnalyzer, class_name: str, cve: str) -> None:
    found = run(analyzer, carriers.rtf_object(class_name, b"harmless"))
    assert cve in found["DOC_RTF_EXPLOIT"].evidence[0]


def test_pfragments(analyzer: RtfAnalyzer) -> None:
    rtf = b"{\\rtf1{\\shp{\\*\\shpinst{\\sp{\\sn pFragments}{\\sv 1;1;ffff}}}}}"
    assert run(analyzer, rtf)["DOC_RTF_EXPLOIT"].evidence == ("pFragments shape property (CVE-2010-3333)",)


def test_nesting_and_bin(analyzer: RtfAnalyzer) -> None:
    rtf = b"{\\rtf1" + b"{" * 150 + b"x" + b"}" * 150 + b"\\bin3 abc\\bin2 ab\\bin1 a}"
    found = run(analyzer, rtf)
    assert found["RTF_OBFUSCATED"].evidence == ("3 \\bin run(s)", "groups nested 151 deep")
    assert found["RTF_OBFUSCATED"].strength == 1.0


def test_plain_document_is_quiet(analyzer: RtfAnalyzer) -> None:
    rtf = b"{\\rtf1\\ansi{\\fonttbl{\\f0 MS Mincho;}}\\f0 \\'89\\'ef\\'8b\\'63\\par}"
    assert run(analyzer, rtf) == {}
    # an embedded picture of a harmless class is not an exploit
    assert run(analyzer, carriers.rtf_object("Paint.Picture", b"harmless")) == {}


def test_rtf_specification_is_quiet(analyzer: RtfAnalyzer) -> None:
    assert run(analyzer, oletools_file("msodde/RTF-Spec-1.7.rtf")) == {}


def test_real_rtfobj_samples(analyzer: RtfAnalyzer) -> None:
    found = run(analyzer, oletools_file("rtfobj/issue_251.rtf"))
    assert "Equation Editor" in found["DOC_RTF_EXPLOIT"].evidence[0]
    assert "\\objupdate: the object loads without a click" in found["DOC_RTF_EXPLOIT"].evidence
    assert found["RTF_OBFUSCATED"].strength == 1.0
    (data,) = oletools_zip_member("rtfobj/issue_185.rtf.zip").values()
    found = run(analyzer, data)
    assert found["RTF_OBFUSCATED"].evidence[0].startswith("header")


def test_equation_rtf_in_a_message() -> None:
    report = Engine().scan(make_message(attachments=[("見積書.rtf", carriers.rtf_equation(), "application/rtf")]))
    assert "DOC_RTF_EXPLOIT" in report.finding_ids()
    objects = [a for a in report.artifacts if a.meta.get("decoded") == "rtf-object"]
    assert len(objects) == 1 and objects[0].meta["class_name"] == "Equation.3"
    assert report.verdict.level.value != "clean"
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]
