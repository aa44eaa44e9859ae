"""CAB: cabinets written by cabarchive (stored and MSZIP), attributes, the declared-size walk that runs before
cabarchive decompresses anything, unsupported LZX, garbage."""

from __future__ import annotations

import struct

import pytest
from cabarchive import CabArchive, CabFile
from samplekit.archives import harmless_exe

from triage.errors import ConfigError
from triage.model import NoteKind
from triage.plugins import Child
from triage.unpack.cab import CabUnpacker

from ._fake_ctx import FakeConfig, FakeContext, view

MiB = 1024 * 1024


def cab(members: list[tuple[str, bytes, bool]], *, compress: bool = True) -> bytes:
    archive = CabArchive()
    for name, data, hidden in members:
        entry = CabFile(data)
        entry.is_hidden = hidden
        archive[name] = entry
    return archive.save(compress=compress)


def unpack(
    data: bytes, ctx: FakeContext | None = None, options: dict[str, object] | None = None
) -> tuple[list[Child], FakeContext]:
    ctx = ctx or FakeContext()
    unpacker = CabUnpacker()
    unpacker.setup(FakeConfig(unpack={"cab": dict(options or {})}))  # type: ignore[arg-type]
    return list(unpacker.unpack(view(data, "update.cab", ("cab",)), ctx)), ctx


@pytest.mark.parametrize("compress", [True, False])
def test_members_and_hidden_flag(compress: bool) -> None:
    exe = harmless_exe()
    children, ctx = unpack(cab([("setup.exe", exe, False), ("sub\\payload.dll", exe, True)], compress=compress))
    by_name = {c.name: c for c in children}
    assert by_name["setup.exe"].data == exe and by_name["sub\\payload.dll"].data == exe
    assert by_name["sub\\payload.dll"].meta["hidden"] is True
    assert ctx.meta["compression"] == ("MSZIP" if compress else "stored")
    assert ctx.notes == []


def test_declared_bomb_is_refused_before_cabarchive_runs() -> None:
    children, ctx = unpack(cab([("zeros.bin", bytes(8 * MiB), False)]), options={"bomb_min_size": MiB})
    assert ctx.ids() == ["ARCHIVE_BOMB"]
    assert [(c.name, c.data, c.meta["unreadable"]) for c in children] == [("zeros.bin", None, "decompression bomb")]


def _rename(data: bytes, old: str, new: bytes) -> bytes:
    raw = old.encode("ascii")
    assert len(new) == len(raw) and data.count(raw) == 1
    return data.replace(raw, new)


def test_cp932_names_and_duplicates_are_kept() -> None:
    # cabarchive alone fails on a CP932 name (it decodes UTF-8) and keeps one of two equal names
    data = cab([("aaaaaa.exe", b"MZ first", False), ("bbbbbb.exe", b"MZ second", False)])
    data = _rename(data, "aaaaaa", "請求書".encode("cp932"))
    data = _rename(data, "bbbbbb", "請求書".encode("cp932"))
    children, ctx = unpack(data)
    assert sorted((c.name, c.data) for c in children) == [("請求書.exe", b"MZ first"), ("請求書.exe", b"MZ second")]
    assert ctx.notes == []


def test_over_the_budget_is_not_decompressed() -> None:
    children, ctx = unpack(cab([("a.bin", bytes(range(256)) * 40, False)]), FakeContext(max_child_size=1000))
    assert children[0].data is None and children[0].meta["unreadable"] == "exceeds the size budget"
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()


def test_lzx_folder_is_unparsable() -> None:
    data = bytearray(cab([("a.txt", b"hello", False)]))
    folder = 36  # CFFOLDER follows the 36-byte CFHEADER: coffCabStart (4), cCFData (2), typeCompress (2)
    struct.pack_into("<H", data, folder + 6, 3)
    children, ctx = unpack(bytes(data))
    assert children == []
    assert NoteKind.UNPARSABLE in ctx.note_kinds()
    assert "LZX" in ctx.meta["compression"]


@pytest.mark.parametrize("data", [b"MSCF\x00\x00\x00\x00", b"MSCF\x00\x00\x00\x00" + b"\xff" * 60])
def test_garbage_is_unparsable(data: bytes) -> None:
    children, ctx = unpack(data)
    assert children == []
    assert NoteKind.UNPARSABLE in ctx.note_kinds()


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(ConfigError):
        CabUnpacker().setup(FakeConfig(unpack={"cab": {"ratio": 1}}))  # type: ignore[arg-type]
