"""RAR: hand-built RAR4 stored archives (rarfile reads them in-process), the flags that matter (hidden,
encrypted, traversal), garbage, and the corpus's real RAR5 malspam decompressed through unar from a memfd."""

from __future__ import annotations

import email
import email.policy
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from triage.errors import ConfigError
from triage.model import NoteKind
from triage.plugins import Child, DeadlineExceeded
from triage.unpack.rar import RarUnpacker

from ._fake_ctx import FakeConfig, FakeContext, pw, view

QUARANTINE = CORPUS / "quarantine-infected.zip"
RAR_MESSAGES = (
    "mailing-lists/driverdev-devel-malspam/013013-60811b169795.eml",  # PO#00341.pdf.rar
    "mailing-lists/driverdev-devel-malspam/010384-ccde82de9cb1.eml",  # a RAR named .gz
)
_MARKER = b"Rar!\x1a\x07\x00"


def _block(head_type: int, flags: int, body: bytes) -> bytes:
    """A RAR4 block: HEAD_CRC is the low 16 bits of the CRC-32 of everything after it."""
    rest = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest


def rar4(members: list[tuple[bytes, bytes]], *, attr: int = 0x20, encrypted: bool = False) -> bytes:
    """A RAR 2.9 (RAR4) archive of stored members, written field by field (no free tool writes RAR)."""
    out = bytearray(_MARKER)
    out += _block(0x73, 0, bytes(6))  # main header: two reserved fields
    for name, data in members:
        flags = 0x8000 | (0x0004 if encrypted else 0)
        body = struct.pack(
            "<IIBIIBBHI", len(data), len(data), 2, zlib.crc32(data), 0x5D725000, 29, 0x30, len(name), attr
        )
        out += _block(0x74, flags, body + name) + data
    out += _block(0x7B, 0x4000, b"")
    return bytes(out)


def unpack(data: bytes, ctx: FakeContext | None = None, name: str = "a.rar") -> tuple[list[Child], FakeContext]:
    ctx = ctx or FakeContext()
    unpacker = RarUnpacker()
    unpacker.setup(FakeConfig())  # type: ignore[arg-type]
    return list(unpacker.unpack(view(data, name, ("rar",)), ctx)), ctx


def test_stored_members_are_read_in_process() -> None:
    children, ctx = unpack(rar4([(b"invoice.exe", b"MZ payload"), (b"note.txt", b"hello")]))
    assert [(c.name, c.data) for c in children] == [("invoice.exe", b"MZ payload"), ("note.txt", b"hello")]
    assert children[0].meta["format"] == "RAR4"
    assert ctx.emits == [] and ctx.notes == []


def test_hidden_attribute_and_traversal_go_to_meta() -> None:
    children, _ = unpack(rar4([(b"..\\..\\startup.exe", b"MZ")], attr=0x22))
    meta = children[0].meta
    assert meta["hidden"] is True and meta["path_traversal"] is True


def test_crc_mismatch_is_corrupt_not_content() -> None:
    archive = bytearray(rar4([(b"a.txt", b"hello world")]))
    archive[-12] ^= 0x01  # inside the stored data, before the end block
    children, ctx = unpack(bytes(archive))
    assert children[0].data is None and children[0].meta["unreadable"] == "corrupt"
    assert NoteKind.UNPARSABLE in ctx.note_kinds()


def test_encrypted_member_without_password_is_reported_with_its_name() -> None:
    children, ctx = unpack(rar4([(b"secret.exe", b"\x00" * 32)], encrypted=True), FakeContext(candidates=[pw("nope")]))
    assert [(c.name, c.data, c.meta["unreadable"]) for c in children] == [
        ("secret.exe", None, "encrypted, no password")
    ]
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED", "ARCHIVE_ENCRYPTED_NO_PASSWORD"]
    assert "1 password candidate(s) tried" in ctx.evidence("ARCHIVE_ENCRYPTED_NO_PASSWORD")  # one unar run
    assert NoteKind.ENCRYPTED_NO_PASSWORD in ctx.note_kinds()


def test_member_over_the_budget_is_not_read() -> None:
    children, ctx = unpack(rar4([(b"big.bin", b"x" * 5000)]), FakeContext(max_child_size=1000))
    assert children[0].data is None and children[0].meta["unreadable"] == "exceeds the size budget"
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()


@pytest.mark.parametrize("data", [b"Rar!\x1a\x07\x00", b"Rar!\x1a\x07\x01\x00" + b"\xff" * 64, _MARKER + b"\x00" * 100])
def test_garbage_is_unparsable_never_a_crash(data: bytes) -> None:
    children, ctx = unpack(data)
    assert children == []
    assert NoteKind.UNPARSABLE in ctx.note_kinds()


def test_truncated_archive_keeps_the_members_before_the_damage_and_says_so() -> None:
    archive = rar4([(b"a.txt", b"first"), (b"b.txt", b"second")])
    children, ctx = unpack(archive[:-20])  # cuts into the second member's data and the end block
    assert [c.data for c in children][:1] == [b"first"]
    assert NoteKind.UNPARSABLE in ctx.note_kinds()


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(ConfigError):
        RarUnpacker().setup(FakeConfig(unpack={"rar": {"max_atempts": 3}}))  # type: ignore[arg-type]


def _corpus_rar(path_in_zip: str) -> tuple[str, bytes]:
    with zipfile.ZipFile(QUARANTINE) as quarantine:
        raw = quarantine.read(path_in_zip, pwd=b"infected")  # in memory only: real malware
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for part in message.walk():
        name = part.get_filename()
        if name:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return name, payload
    raise AssertionError("no attachment")


@pytest.mark.skipif(not QUARANTINE.is_file(), reason="quarantine corpus absent")
@pytest.mark.parametrize("path_in_zip", RAR_MESSAGES)
def test_corpus_rar5_decompresses_through_unar_without_temp_files(
    path_in_zip: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    name, data = _corpus_rar(path_in_zip)
    children, ctx = unpack(data, name=name)
    assert len(children) == 1 and children[0].data is not None
    assert children[0].data[:2] == b"MZ" and len(children[0].data) == children[0].declared_size
    assert children[0].name is not None and children[0].name.endswith(".exe")
    assert children[0].meta["format"] == "RAR5"
    assert ctx.notes == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not QUARANTINE.is_file(), reason="quarantine corpus absent")
def test_unar_output_is_bounded_by_the_declared_size() -> None:
    name, data = _corpus_rar(RAR_MESSAGES[0])
    children, ctx = unpack(data, FakeContext(max_child_size=1000), name=name)
    assert children[0].data is None
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()


@pytest.mark.skipif(not QUARANTINE.is_file(), reason="quarantine corpus absent")
def test_deadline_kills_the_decompressor() -> None:
    name, data = _corpus_rar(RAR_MESSAGES[0])
    with pytest.raises(DeadlineExceeded):
        unpack(data, FakeContext(deadline_after=2), name=name)
