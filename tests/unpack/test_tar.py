"""tar from memory, and single-stream bzip2 / xz: names, links, sparse expansion under the budget, bounded
incremental decompression, concatenated streams, bombs, truncation, garbage."""

from __future__ import annotations

import bz2
import io
import lzma
import tarfile
import zlib

import pytest
from samplekit.archives import harmless_exe, tar_xz

from triage.errors import ConfigError
from triage.model import NoteKind
from triage.plugins import Child, DeadlineExceeded
from triage.unpack.tar import CompressedStreamUnpacker, TarUnpacker

from ._fake_ctx import FakeConfig, FakeContext, view

MiB = 1024 * 1024


def make_tar(members: list[tuple[str, bytes]], links: list[tuple[str, str]] = ()) -> bytes:  # type: ignore[assignment]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def untar(data: bytes, ctx: FakeContext | None = None) -> tuple[list[Child], FakeContext]:
    ctx = ctx or FakeContext()
    unpacker = TarUnpacker()
    unpacker.setup(FakeConfig())  # type: ignore[arg-type]
    return list(unpacker.unpack(view(data, "a.tar", ("tar",)), ctx)), ctx


def decompress(
    data: bytes, kind: str, name: str, ctx: FakeContext | None = None, options: dict[str, object] | None = None
) -> tuple[list[Child], FakeContext]:
    ctx = ctx or FakeContext()
    unpacker = CompressedStreamUnpacker()
    unpacker.setup(FakeConfig(unpack={kind: dict(options or {})}))  # type: ignore[arg-type]
    return list(unpacker.unpack(view(data, name, (kind,)), ctx)), ctx


def test_tar_regular_files_out_links_listed() -> None:
    exe = harmless_exe()
    children, ctx = untar(make_tar([("docs/請求書.exe", exe), ("../evil.txt", b"e")], [("link", "/etc/passwd")]))
    assert [(c.name, c.data) for c in children] == [("docs/請求書.exe", exe), ("../evil.txt", b"e")]
    assert children[1].meta["path_traversal"] is True
    assert ctx.meta["links"] == ["link -> /etc/passwd"]


def test_tar_cp932_names_are_decoded() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT, encoding="cp932") as archive:
        info = tarfile.TarInfo("資料.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    children, _ = untar(buffer.getvalue())
    assert children[0].name == "資料.txt"


def test_tar_member_over_the_budget_is_not_read() -> None:
    children, ctx = untar(make_tar([("a.bin", b"a" * 5000), ("b.txt", b"b")]), FakeContext(max_child_size=1000))
    assert [c.data for c in children] == [None, b"b"]
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()


def test_tar_truncated_and_garbage() -> None:
    archive = make_tar([("a.txt", b"x" * 3000)])
    children, ctx = untar(archive[:1024])
    assert children[0].data is None and NoteKind.UNPARSABLE in ctx.note_kinds()
    children, ctx = untar(b"\xff" * 1024)
    assert children == [] and NoteKind.UNPARSABLE in ctx.note_kinds()


def test_tar_xz_sample_goes_xz_then_tar() -> None:
    children, _ = decompress(tar_xz(), "xz", "report.tar.xz")
    assert children[0].name == "report.tar"
    members, _ = untar(children[0].data or b"")
    assert [(m.name, m.data) for m in members] == [("report/年次報告.exe", harmless_exe())]


@pytest.mark.parametrize(
    ("kind", "compress", "name", "inner"),
    [
        ("bzip2", bz2.compress, "a.txt.bz2", "a.txt"),
        ("bzip2", bz2.compress, "a.tbz2", "a.tar"),
        ("xz", lzma.compress, "a.txz", "a.tar"),
        ("xz", lzma.compress, None, None),
    ],
)
def test_single_stream_names(kind: str, compress: object, name: str | None, inner: str | None) -> None:
    data = compress(b"hello")  # type: ignore[operator]
    children, ctx = decompress(data, kind, name or "")
    assert [(c.name, c.data) for c in children] == [(inner, b"hello")]
    assert ctx.notes == []


@pytest.mark.parametrize(("kind", "compress"), [("bzip2", bz2.compress), ("xz", lzma.compress)])
def test_concatenated_streams_are_joined(kind: str, compress: object) -> None:
    data = compress(b"one ") + compress(b"two")  # type: ignore[operator]
    children, _ = decompress(data, kind, "x.bin." + ("bz2" if kind == "bzip2" else "xz"))
    assert children[0].data == b"one two" and children[0].meta["streams"] == 2


@pytest.mark.parametrize(("kind", "compress"), [("bzip2", bz2.compress), ("xz", lzma.compress)])
def test_bomb_stops_at_the_threshold(kind: str, compress: object) -> None:
    data = compress(bytes(8 * MiB))  # type: ignore[operator]
    children, ctx = decompress(data, kind, "z", options={"bomb_min_size": MiB})
    assert ctx.ids() == ["ARCHIVE_BOMB"]
    assert children[0].data is None and children[0].meta["unreadable"] == "decompression bomb"


def test_size_budget_stops_decompression() -> None:
    children, ctx = decompress(lzma.compress(bytes(range(256)) * 100), "xz", "a.xz", FakeContext(max_child_size=1000))
    assert children[0].data is None and children[0].meta["unreadable"] == "exceeds the size budget"
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()


def test_truncated_stream_keeps_what_it_held() -> None:
    payload = bytes(range(256)) * 400
    data = bz2.compress(payload)
    children, ctx = decompress(data[: len(data) // 2], "bzip2", "a.bz2")
    assert children[0].meta.get("truncated") is True or children[0].data is None
    assert NoteKind.UNPARSABLE in ctx.note_kinds()


@pytest.mark.parametrize(("kind", "data"), [("bzip2", b"BZh9" + b"\xff" * 64), ("xz", b"\xfd7zXZ\x00" + b"\x00" * 64)])
def test_corrupt_stream_is_unparsable(kind: str, data: bytes) -> None:
    children, ctx = decompress(data, kind, "a")
    assert children[0].data is None
    assert NoteKind.UNPARSABLE in ctx.note_kinds()


def test_xz_dictionary_over_the_memory_limit_is_refused() -> None:
    # an xz header asking for a 1.5 GiB dictionary: liblzma's memlimit refuses it before allocating
    data = bytearray(lzma.compress(b"x", format=lzma.FORMAT_XZ, filters=[{"id": lzma.FILTER_LZMA2}]))
    header_size = (data[12] + 1) * 4  # the block header follows the 12-byte stream header
    assert data[14] == 0x21  # the LZMA2 filter; its one property byte encodes the dictionary size
    data[16] = 39  # 2^(11 + 39 // 2) * (2 + 39 % 2) bytes = 1.5 GiB
    data[12 + header_size - 4 : 12 + header_size] = zlib.crc32(data[12 : 12 + header_size - 4]).to_bytes(4, "little")
    children, ctx = decompress(bytes(data), "xz", "a.xz")
    assert children[0].data is None
    assert "Memory" in ctx.notes[0][1] or "memory" in ctx.notes[0][1]


def test_deadline_is_checked() -> None:
    with pytest.raises(DeadlineExceeded):
        decompress(lzma.compress(bytes(8 * MiB)), "xz", "a.xz", FakeContext(deadline_after=2), {"bomb_ratio": 1e9})


def test_unknown_options_are_errors() -> None:
    with pytest.raises(ConfigError):
        CompressedStreamUnpacker().setup(FakeConfig(unpack={"xz": {"max_members_listed": 3}}))  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        TarUnpacker().setup(FakeConfig(unpack={"tar": {"bomb": 3}}))  # type: ignore[arg-type]
