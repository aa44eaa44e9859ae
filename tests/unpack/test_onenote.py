"""OneNoteUnpacker: embedded files out of a OneNote section, named only when the name agrees with the content."""

from __future__ import annotations

import pytest
from samplekit import carriers

from tests.analyzers._carriers import Ctx, one, view_of
from tests.conftest import make_message
from triage.config import load_config
from triage.engine import Engine
from triage.model import NoteKind
from triage.plugins import Child
from triage.unpack.onenote import OneNoteUnpacker, find_file_data, sniff_script

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
BAT = b"@echo off\r\necho triage harmless sample\r\n"


@pytest.fixture(scope="module")
def unpacker() -> OneNoteUnpacker:
    plugin = OneNoteUnpacker()
    plugin.setup(load_config())
    return plugin


def run(unpacker: OneNoteUnpacker, data: bytes, **kwargs: object) -> tuple[list[Child], Ctx]:
    ctx = Ctx(**kwargs)  # type: ignore[arg-type]
    return list(unpacker.unpack(view_of(data, "notes.one"), ctx)), ctx  # type: ignore[arg-type]


def test_embedded_batch_file(unpacker: OneNoteUnpacker) -> None:
    children, ctx = run(unpacker, carriers.onenote_like([PNG, BAT], names=["image1.png", "open.cmd"]))
    assert [c.data for c in children] == [PNG, BAT]
    assert children[1].name == "open.cmd" and children[1].meta["script"] == "script-bat"
    assert children[0].name is None  # a picture is never given a guessed name
    assert not any(c.meta.get("footer_missing") for c in children)
    assert ctx.emits == [
        (
            "ONENOTE_EMBEDDED_FILE",
            ('embedded script-bat of 40 bytes named "open.cmd"', "file names in the section: image1.png, open.cmd"),
        )
    ]
    assert ctx.emit_strengths["ONENOTE_EMBEDDED_FILE"] == 1.0
    assert ctx.meta["embedded_names"] == ["image1.png", "open.cmd"]


def test_pictures_only_is_quiet(unpacker: OneNoteUnpacker) -> None:
    children, ctx = run(unpacker, carriers.onenote_like([PNG, PNG + b"x"]))
    assert len(children) == 2 and ctx.emits == []


def test_other_document_is_half_strength(unpacker: OneNoteUnpacker) -> None:
    _, ctx = run(unpacker, carriers.onenote_like([b"%PDF-1.7\n" + b"\x00" * 64]))
    assert ctx.emit_strengths["ONENOTE_EMBEDDED_FILE"] == 0.5


def test_name_must_agree_with_content(unpacker: OneNoteUnpacker) -> None:
    # a .hta name does not go to a batch payload, and two candidates are one too many
    children, _ = run(unpacker, carriers.onenote_like([BAT], names=["invoice.hta"]))
    assert children[0].name is None
    children, _ = run(unpacker, carriers.onenote_like([BAT], names=["a.bat", "b.cmd"]))
    assert children[0].name is None


def test_copies_are_analysed_once(unpacker: OneNoteUnpacker) -> None:
    children, ctx = run(unpacker, carriers.onenote_like([BAT, BAT]))
    assert len(children) == 1
    assert len(ctx.evidence("ONENOTE_EMBEDDED_FILE")) == 2  # both copies are still reported


def test_budget_and_limits(unpacker: OneNoteUnpacker) -> None:
    children, ctx = run(unpacker, carriers.onenote_like([BAT * 10]), max_child_size=50)
    assert children[0].data is None and children[0].declared_size == 400
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()
    assert find_file_data(carriers.onenote_like([BAT] * 5), 3) == (
        find_file_data(carriers.onenote_like([BAT] * 5), 3)[0],
        True,
    )


def test_truncated_and_lying_lengths(unpacker: OneNoteUnpacker) -> None:
    data = carriers.onenote_like([BAT])
    children, _ = run(unpacker, data[:-30])
    assert children[0].meta.get("footer_missing") is True
    lying = bytearray(data)
    at = data.find(carriers.FILE_DATA_HEADER) + 16
    lying[at : at + 8] = (2**63).to_bytes(8, "little")
    children, _ = run(unpacker, bytes(lying))
    assert "truncated" in children[0].meta


def test_sniff_script() -> None:
    assert sniff_script(b"@echo off\r\n") == "script-bat"
    assert sniff_script(b"<html><head><hta:application/></head></html>") == "hta"
    assert sniff_script(b'Dim x\r\nSet s = CreateObject("WScript.Shell")') == "script-vbs"
    assert sniff_script(b"Dear customer,\r\nplease find") is None
    assert sniff_script(b"\x00\x01\x02") is None


@pytest.mark.parametrize(
    ("archive", "named"),
    [("09_onenote__1__stage1.7z", "Open.cmd"), ("09_onenote__3__stage1.7z", "mynewfiles.hta")],
)
def test_real_onenote_droppers(unpacker: OneNoteUnpacker, archive: str, named: str) -> None:
    _, data = one(archive)
    children, ctx = run(unpacker, data)
    assert ctx.emit_strengths["ONENOTE_EMBEDDED_FILE"] == 1.0
    assert named in [c.name for c in children]
    assert not any(c.meta.get("footer_missing") for c in children)


def test_real_onenote_in_a_message() -> None:
    name, data = one("09_onenote__1__stage1.7z")
    report = Engine().scan(make_message(attachments=[(name, data, "application/onenote")]))
    ids = set(report.finding_ids())
    assert {"ONENOTE_EMBEDDED_FILE", "SCRIPT_DOWNLOADER", "ATTACHMENT_EXECUTABLE"} <= ids
    assert "https://aradcapital.com/MpD8Yk/00.gif" in report.iocs.urls
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]
