"""The PDF unpacker: embedded files and JavaScript sources as children, under the size budget and bomb line."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from samplekit import pdf as sk

from tests._pe import minimal_pe
from tests.conftest import make_message
from tests.unpack._fake_ctx import FakeConfig, FakeContext, pw, view
from triage.config import load_config
from triage.engine import Engine
from triage.errors import ConfigError
from triage.model import NoteKind
from triage.plugins import Child, PasswordCandidate
from triage.unpack.pdf import PdfUnpacker


@dataclass
class _Config(FakeConfig):
    analyzers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def analyzer_options(self, name: str) -> Mapping[str, Any]:
        return self.analyzers.get(name, {})


class Ctx(FakeContext):
    def add_ioc(self, kind: str, value: str) -> None:
        raise AssertionError("the unpacker reports no IOCs")


def unpack(
    data: bytes,
    candidates: Sequence[PasswordCandidate] = (),
    *,
    unpack_options: dict[str, Any] | None = None,
    max_child_size: int = 50 * 1024 * 1024,
) -> tuple[list[Child], Ctx]:
    config = _Config(unpack={"pdf": unpack_options or {}})
    ctx = Ctx(candidates=candidates, config=config, max_child_size=max_child_size)
    unpacker = PdfUnpacker()
    unpacker.setup(config)  # type: ignore[arg-type]
    return list(unpacker.unpack(view(data, "doc.pdf", ("pdf",)), ctx)), ctx


def test_text_pdf_has_no_children() -> None:
    children, ctx = unpack(sk.text_pdf())
    assert children == []
    assert ctx.notes == []


def test_embedded_executable_comes_out_whole() -> None:
    exe = minimal_pe()
    children, ctx = unpack(sk.embedded_file_pdf("calendar.exe", exe, "application/x-msdownload"))
    assert len(children) == 1
    child = children[0]
    assert child.name == "calendar.exe"
    assert child.data == exe
    assert child.declared_size == len(exe)
    assert child.meta == {"pdf_object": 8, "pdf_context": "/EmbeddedFiles", "mime": "application/x-msdownload"}
    assert ctx.notes == []


def test_file_attachment_annotation() -> None:
    children, _ = unpack(sk.file_attachment_pdf("report.docx", b"PK\x03\x04 not really"))
    assert [(c.name, c.data, c.meta["pdf_context"]) for c in children] == [
        ("report.docx", b"PK\x03\x04 not really", "FileAttachment annotation")
    ]


def test_javascript_source_is_a_text_child() -> None:
    children, _ = unpack(sk.javascript_pdf())
    assert len(children) == 1
    child = children[0]
    assert child.name == "6.js"
    assert child.data == sk.SCRIPT.encode()
    assert child.meta["decoded"] == "pdf-js"
    assert child.meta["pdf_triggers"] == ["/OpenAction"]


def test_scripts_from_object_streams_and_obfuscated_names() -> None:
    for data in (sk.objstm_javascript_pdf(), sk.obfuscated_names_pdf()):
        children, _ = unpack(data)
        assert [c.data for c in children] == [sk.SCRIPT.encode()]


def test_hex_and_flate_and_lzw_and_run_length_filters() -> None:
    script = b'app.alert("sample");'
    lzw = bytes.fromhex("800B6050220C0C8501")  # ISO 32000 §7.4.4.2's example: "-----A---B"
    run_length = bytes([len(script) - 1]) + script + b"\x80"
    streams = [
        ("/Filter [/ASCIIHexDecode /FlateDecode]", zlib.compress(script).hex().upper().encode() + b">"),
        ("/Filter /A85", b"<~" + __import__("base64").a85encode(script) + b"~>"),
        ("/Filter /LZWDecode", lzw),
        ("/Filter /RunLengthDecode", run_length),
    ]
    for entries, encoded in streams:
        objects = [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
            b"<< /S /JavaScript /JS 5 0 R >>",
            sk.stream(entries, encoded),
        ]
        children, _ = unpack(sk.build_pdf(objects))
        expected = b"-----A---B" if "LZW" in entries else script
        assert [c.data for c in children] == [expected], entries


def test_encrypted_pdf_opens_with_a_candidate() -> None:
    children, ctx = unpack(sk.encrypted_pdf("Km-7731"), [pw("Km-7731")])
    assert [c.data for c in children] == [sk.SCRIPT.encode()]
    assert ctx.emits == []  # reporting the password is the analyzer's job


def test_encrypted_pdf_without_password_yields_nothing_quietly() -> None:
    children, ctx = unpack(sk.encrypted_pdf("Km-7731"), [pw("wrong")])
    assert children == []
    assert ctx.notes == []
    assert ctx.emits == []


def test_unreadable_pdf_yields_nothing() -> None:
    children, ctx = unpack(sk.fragment_pdf())
    assert children == []
    assert ctx.notes == []


def test_embedded_bomb() -> None:
    bomb = b"\x00" * (4 << 20)
    data = sk.embedded_file_pdf("zeros.bin", bomb)
    children, ctx = unpack(data, unpack_options={"bomb_ratio": 100, "bomb_min_size": 1 << 20})
    assert children[0].data is None
    assert children[0].meta["unreadable"] == "decompression bomb"
    assert ctx.ids() == ["ARCHIVE_BOMB"]
    assert ctx.note_kinds() == [NoteKind.LIMIT_SIZE]


def test_embedded_file_past_the_size_budget() -> None:
    data = sk.embedded_file_pdf("big.bin", bytes(range(256)) * 64)  # 16 KiB, ratio far below a bomb
    children, ctx = unpack(data, max_child_size=1000)
    assert children[0].data is None
    assert children[0].meta["unreadable"] == "exceeds the size budget"
    assert ctx.ids() == []
    assert ctx.note_kinds() == [NoteKind.LIMIT_SIZE]


def test_corrupt_embedded_stream_keeps_what_inflated() -> None:
    payload = b"".join(hashlib.sha256(i.to_bytes(2, "big")).digest() for i in range(1000))  # 32 KB, incompressible
    deflate = zlib.compressobj()
    # a full flush ends on a byte boundary: 0xFF there starts a block of the reserved type 3
    damaged = deflate.compress(payload[:20000]) + deflate.flush(zlib.Z_FULL_FLUSH) + b"\xff" * 40
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(a.bin) 4 0 R] >> >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        b"<< /Type /Filespec /F (a.bin) /EF << /F 5 0 R >> >>",
        sk.stream("/Type /EmbeddedFile /Filter /FlateDecode", damaged),
    ]
    children, ctx = unpack(sk.build_pdf(objects))
    child = children[0]
    assert child.data is not None and 0 < len(child.data) < len(payload)
    assert payload.startswith(child.data)
    assert "decode_problem" in child.meta
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_max_children() -> None:
    names = "".join(f"(f{i}.txt) {10 + i} 0 R " for i in range(5))
    objects: list[bytes] = [
        f"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [{names}] >> >> >>".encode(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        *[b"<< >>"] * 6,
        *[f"<< /Type /Filespec /F (f{i}.txt) /EF << /F {15 + i} 0 R >> >>".encode() for i in range(5)],
        *[sk.stream("/Type /EmbeddedFile", f"file {i}".encode()) for i in range(5)],
    ]
    children, ctx = unpack(sk.build_pdf(objects), unpack_options={"max_children": 3})
    assert [c.name for c in children] == ["f0.txt", "f1.txt", "f2.txt"]
    assert ctx.note_kinds() == [NoteKind.LIMIT_FILES]


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError):
        PdfUnpacker().setup(_Config(unpack={"pdf": {"max_child": 3}}))  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        PdfUnpacker().setup(_Config(unpack={"pdf": {"max_children": True}}))  # type: ignore[arg-type]


def test_shipped_config_sets_up() -> None:
    config = load_config()
    unpacker = PdfUnpacker()
    unpacker.setup(config)
    config.scoring.check_emits(unpacker.name, unpacker.emits)


def test_engine_extracts_the_embedded_executable(engine: Engine) -> None:
    raw = make_message(
        subject="2012年カレンダー",
        attachments=[("2012_calendar.pdf", sk.embedded_file_pdf("calendar.exe", minimal_pe()), "application/pdf")],
    )
    report = engine.scan(raw)
    by_name = {a.name: a for a in report.artifacts}
    exe = by_name["calendar.exe"]
    assert "pe-exe" in exe.types
    assert exe.parent == by_name["2012_calendar.pdf"].id
    found = {(f.id, f.artifact) for f in report.findings}
    assert ("ATTACHMENT_EXECUTABLE", exe.id) in found
    assert ("PDF_EMBEDDED_FILE", by_name["2012_calendar.pdf"].id) in found
    assert exe.sha256 in report.iocs.hashes
