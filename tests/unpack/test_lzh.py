"""LZH: hand-built level-0 -lh0- archives (CP932 names, as Japanese LHA writes them), CRC checks, budget,
declared bombs, garbage."""

from __future__ import annotations

import struct

import pytest
from samplekit.archives import harmless_exe, lzh_stored

from triage.errors import ConfigError
from triage.model import NoteKind
from triage.plugins import Child, DeadlineExceeded
from triage.unpack.lzh import LzhUnpacker

from ._fake_ctx import FakeConfig, FakeContext, view


def unpack(
    data: bytes, ctx: FakeContext | None = None, options: dict[str, object] | None = None
) -> tuple[list[Child], FakeContext]:
    ctx = ctx or FakeContext()
    unpacker = LzhUnpacker()
    unpacker.setup(FakeConfig(unpack={"lzh": dict(options or {})}))  # type: ignore[arg-type]
    return list(unpacker.unpack(view(data, "見積.lzh", ("lzh",)), ctx)), ctx


def test_stored_members_with_japanese_names() -> None:
    exe = harmless_exe()
    children, ctx = unpack(lzh_stored([("見積書.exe", exe), ("説明.txt", "こんにちは".encode("cp932"))]))
    assert [(c.name, c.data) for c in children] == [("見積書.exe", exe), ("説明.txt", "こんにちは".encode("cp932"))]
    assert children[0].meta["name_encoding"] == "cp932" and children[0].meta["compress_type"] == "-lh0-"
    assert ctx.notes == []


def test_archive_without_the_final_zero_byte_still_opens() -> None:
    children, _ = unpack(lzh_stored([("a.txt", b"abc")])[:-1])
    assert [c.data for c in children] == [b"abc"]


def test_crc_mismatch_is_corrupt() -> None:
    archive = bytearray(lzh_stored([("a.txt", b"hello world")]))
    archive[-3] ^= 0x01  # last byte of the data, before the end marker
    children, ctx = unpack(bytes(archive))
    assert children[0].data is None and children[0].meta["unreadable"] == "corrupt"
    assert NoteKind.UNPARSABLE in ctx.note_kinds()


def test_backslash_path_is_flagged() -> None:
    children, _ = unpack(lzh_stored([("..\\startup\\a.exe", b"MZ")]))
    assert children[0].meta["path_traversal"] is True


def test_member_over_the_budget_is_not_decoded() -> None:
    children, ctx = unpack(lzh_stored([("big.bin", b"x" * 4000)]), FakeContext(max_child_size=1000))
    assert children[0].data is None and children[0].meta["unreadable"] == "exceeds the size budget"
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()


def test_declared_ratio_bomb_is_refused() -> None:
    archive = bytearray(lzh_stored([("z.bin", bytes(100))]))
    # -lh5- declaring 64 MiB out of 100 bytes: refused from the header alone, the data is never decoded
    archive[2:7] = b"-lh5-"
    archive[11:15] = struct.pack("<I", 64 * 1024 * 1024)
    archive[1] = sum(archive[2 : 2 + archive[0]]) & 0xFF
    children, ctx = unpack(bytes(archive))
    assert ctx.ids() == ["ARCHIVE_BOMB"]
    assert children[0].data is None and children[0].meta["unreadable"] == "decompression bomb"


@pytest.mark.parametrize(
    "data",
    [
        b"\x20\x00-lh0-" + b"\xff" * 10,
        b"\x05\x00-lh9-" + b"\x00" * 40,
        b"\x30\x00-lh0-" + b"\x00" * 13 + b"\x07" + b"\x00" * 30,
    ],
)
def test_garbage_is_unparsable_never_a_crash(data: bytes) -> None:
    children, ctx = unpack(data)
    assert all(c.data is None for c in children)
    assert NoteKind.UNPARSABLE in ctx.note_kinds()


def test_deadline_is_checked_while_decoding() -> None:
    with pytest.raises(DeadlineExceeded):
        unpack(lzh_stored([("a.bin", b"x" * 300_000)]), FakeContext(deadline_after=1))


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(ConfigError):
        LzhUnpacker().setup(FakeConfig(unpack={"lzh": {"max_attempts": 3}}))  # type: ignore[arg-type]
