"""RtfUnpacker: RTF objects out as children (rtfobj), exploit classes flagged, budget obeyed."""

from __future__ import annotations

import pytest
from samplekit import carriers

from tests.analyzers._carriers import Ctx, oletools_file, view_of
from triage.config import load_config
from triage.model import NoteKind
from triage.plugins import Child
from triage.unpack.rtf import RtfUnpacker, exploit_reason


@pytest.fixture(scope="module")
def unpacker() -> RtfUnpacker:
    plugin = RtfUnpacker()
    plugin.setup(load_config())
    return plugin


def run(unpacker: RtfUnpacker, data: bytes, **kwargs: object) -> tuple[list[Child], Ctx]:
    ctx = Ctx(**kwargs)  # type: ignore[arg-type]
    return list(unpacker.unpack(view_of(data, "a.rtf"), ctx)), ctx  # type: ignore[arg-type]


def test_equation_object_is_extracted_and_flagged(unpacker: RtfUnpacker) -> None:
    (child,), ctx = run(unpacker, carriers.rtf_equation())
    assert child.data is not None and child.data.startswith(b"\xd0\xcf\x11\xe0")  # the embedded compound file
    assert child.meta["decoded"] == "rtf-object"
    assert child.meta["class_name"] == "Equation.3"
    assert ctx.emits == [("DOC_RTF_EXPLOIT", ("object class: Equation Editor (CVE-2017-11882 / CVE-2018-0802)",))]


def test_obfuscated_objdata_still_decodes(unpacker: RtfUnpacker) -> None:
    (child,), ctx = run(unpacker, carriers.rtf_equation(hex_junk=True))
    assert child.data is not None and child.data.startswith(b"\xd0\xcf\x11\xe0")
    assert ctx.ids() == ["DOC_RTF_EXPLOIT"]


def test_package_payload_gets_its_name(unpacker: RtfUnpacker) -> None:
    payload = b"@echo off\r\necho harmless\r\n"
    (child,), ctx = run(unpacker, carriers.rtf_package("run.bat", payload))
    assert child.name == "run.bat"
    assert child.data == payload
    assert child.meta["object"] == "OLE Package"
    assert child.meta["embedded"] == "rtf-package" and "decoded" not in child.meta
    assert child.meta["package_source"] == "C:\\Users\\Public\\run.bat"
    assert ctx.emits == []


def test_size_budget(unpacker: RtfUnpacker) -> None:
    (child,), ctx = run(unpacker, carriers.rtf_equation(), max_child_size=100)
    assert child.data is None and child.declared_size == 2560
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()


def test_no_objects(unpacker: RtfUnpacker) -> None:
    assert run(unpacker, b"{\\rtf1 hello}")[0] == []
    # the RTF specification mentions \\objdata as text only: nothing to parse
    assert run(unpacker, oletools_file("msodde/RTF-Spec-1.7.rtf"))[0] == []


@pytest.mark.parametrize(
    "data",
    [
        b"{\\rtf1{\\object{\\*\\objdata " + b"0" * 3 + b"}}",
        b"{\\rt{\\object\\objdata zz}",
        b"{\\rtf1\\objdata" + b"{" * 5000,
    ],
)
def test_hostile_rtf_is_survived(unpacker: RtfUnpacker, data: bytes) -> None:
    _, ctx = run(unpacker, data)
    assert set(ctx.note_kinds()) <= {NoteKind.UNPARSABLE}


def test_exploit_reason() -> None:
    assert exploit_reason("Equation.3") is not None
    assert exploit_reason("Word.Document.8") is None
    assert exploit_reason("Foo", "URL Moniker (may trigger CVE-2017-0199)") is not None


def test_package_dropper_in_a_message() -> None:
    from tests.conftest import make_message
    from triage.engine import Engine

    rtf = carriers.rtf_package("請求書.pdf.bat", b"@echo off\r\necho harmless\r\n")
    report = Engine().scan(make_message(attachments=[("案内.rtf", rtf, "application/rtf")]))
    assert {"ATTACHMENT_EXECUTABLE", "FILENAME_DOUBLE_EXT"} <= set(report.finding_ids())
