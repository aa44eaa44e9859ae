"""PeOverlayUnpacker and find_embedded: self-extractors' archives in the overlay or a resource, handed over as
children; certificate tables left out; zips written for the whole file rebased; budgets; hostile input."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest
from samplekit.pe import RT_RCDATA, Resource, build_pe, noise, sfx_pe

from tests.conftest import make_message, make_zip
from triage.engine import Engine
from triage.errors import ConfigError
from triage.model import NoteKind
from triage.plugins import Child
from triage.unpack.pe_overlay import PeError, PeOverlayUnpacker, find_embedded, load_pe, overlay_span

from ._fake_ctx import FakeConfig, FakeContext, view


def unpack(data: bytes, ctx: FakeContext | None = None) -> tuple[list[Child], FakeContext]:
    ctx = ctx or FakeContext()
    unpacker = PeOverlayUnpacker()
    unpacker.setup(FakeConfig())  # type: ignore[arg-type]
    return list(unpacker.unpack(view(data, "setup.exe", ("pe", "pe-exe")), ctx)), ctx


def seven_zip(members: dict[str, bytes]) -> bytes:
    import py7zr

    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return buffer.getvalue()


def cab(members: dict[str, bytes]) -> bytes:
    import cabarchive

    archive = cabarchive.CabArchive()
    for name, data in members.items():
        archive[name] = cabarchive.CabFile(data)
    return bytes(archive.save())


def whole_file_zip(stub: bytes, members: dict[str, bytes]) -> bytes:
    """A zip appended to `stub` whose offsets count from the start of the file (as `zip -A` writes them)."""
    buffer = io.BytesIO(stub)
    buffer.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buffer, "a") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_overlay_is_yielded_exactly() -> None:
    archive = make_zip([("readme.txt", b"hello"), ("payload.exe", b"MZ fake")])
    children, ctx = unpack(sfx_pe(archive))
    assert [c.name for c in children] == ["overlay.zip"]
    assert children[0].data == archive
    assert children[0].meta["embedded_in"] == "overlay"
    assert ctx.notes == [] and ctx.emits == []


def test_certificate_after_the_overlay_is_not_part_of_it() -> None:
    archive = make_zip([("a.txt", b"hello")])
    pe_bytes = sfx_pe(archive, certificate=b"http://crl.example-ca.test/ca.crl" + noise(300, 3))
    pe = load_pe(pe_bytes)
    start, end = overlay_span(pe, len(pe_bytes)) or (0, 0)
    # the overlay is the archive and the padding that aligns the certificate table to 8 bytes
    assert pe_bytes[start:end].startswith(archive)
    assert end - start - len(archive) < 8 and not pe_bytes[start + len(archive) : end].strip(b"\x00")
    assert b"crl.example-ca" not in pe_bytes[start:end]
    children, _ = unpack(pe_bytes)
    assert children[0].data == pe_bytes[start:end]


def test_zip_with_whole_file_offsets_is_rebased() -> None:
    stub = sfx_pe(b"")
    pe_bytes = whole_file_zip(stub, {"doc.txt": b"document text", "tool.exe": b"MZ not really"})
    assert zipfile.ZipFile(io.BytesIO(pe_bytes)).read("doc.txt") == b"document text"  # Python reads it either way
    children, _ = unpack(pe_bytes)
    assert children[0].data is not None
    rebased = zipfile.ZipFile(io.BytesIO(children[0].data))
    assert rebased.read("doc.txt") == b"document text"
    assert rebased.read("tool.exe") == b"MZ not really"


def test_seven_zip_after_an_sfx_config_block() -> None:
    archive = seven_zip({"setup.exe": b"inner", "readme.txt": b"text"})
    config = b';!@Install@!UTF-8!\r\nRunProgram="setup.exe"\r\n;!@InstallEnd@!\r\n'
    pe_bytes = sfx_pe(config + archive + b"trailing junk")
    children, _ = unpack(pe_bytes)
    assert [c.name for c in children] == ["overlay.7z"]
    assert children[0].data == archive  # the start header says where it ends


def test_rar_overlay() -> None:
    rar = b"Rar!\x1a\x07\x01\x00" + noise(200, 5)
    children, _ = unpack(sfx_pe(rar))
    assert [(c.name, c.data) for c in children] == [("overlay.rar", rar)]


def test_cab_in_a_named_resource() -> None:
    archive = cab({"run.bat": b"echo harmless"})
    pe_bytes = build_pe(resources=[Resource(RT_RCDATA, 0, archive, name="CABINET")])
    children, _ = unpack(pe_bytes)
    assert [c.name for c in children] == ["resource-RT_RCDATA-CABINET.cab"]
    assert children[0].data == archive
    assert children[0].meta["resource"] == "RT_RCDATA/CABINET"


def test_executables_in_resources_and_overlay() -> None:
    payload = build_pe(dll=True)
    children, _ = unpack(build_pe(resources=[Resource(RT_RCDATA, 7, payload)]))
    assert [(c.name, c.data) for c in children] == [("resource-RT_RCDATA-7.dll", payload)]
    children, _ = unpack(sfx_pe(build_pe()))
    assert [c.name for c in children] == ["overlay.exe"]
    # "MZ" without a PE header is not an executable
    assert unpack(build_pe(resources=[Resource(RT_RCDATA, 7, b"MZ" + bytes(200))]))[0] == []


def test_nothing_to_yield() -> None:
    assert unpack(build_pe())[0] == []
    assert unpack(sfx_pe(noise(5000, 9)))[0] == []
    # a zip signature with no end-of-central-directory record is not an archive
    assert unpack(sfx_pe(b"PK\x03\x04" + noise(500, 2)))[0] == []
    # a 7z signature with an empty next header is not one either
    assert unpack(sfx_pe(b"7z\xbc\xaf\x27\x1c" + bytes(26)))[0] == []


def test_size_budget() -> None:
    archive = make_zip([("big.bin", noise(4000, 1))])
    children, ctx = unpack(sfx_pe(archive), FakeContext(max_child_size=1000))
    assert len(children) == 1 and children[0].data is None
    assert children[0].declared_size == len(archive)
    assert children[0].meta["unreadable"] == "exceeds the size budget"
    assert ctx.note_kinds() == [NoteKind.LIMIT_SIZE]


def test_not_a_pe_yields_nothing_silently() -> None:
    children, ctx = unpack(b"MZ" + bytes(100))
    assert children == [] and ctx.notes == []
    with pytest.raises(PeError):
        load_pe(b"MZ" + bytes(100))


def test_find_embedded_reports_truncated_headers() -> None:
    archive = seven_zip({"a.txt": b"x" * 100})
    pe_bytes = sfx_pe(archive[:-20])
    found = find_embedded(load_pe(pe_bytes, ("IMAGE_DIRECTORY_ENTRY_RESOURCE",)), pe_bytes, lambda: None)
    assert [(f.kind, f.truncated) for f in found] == [("7z", True)]


def test_unknown_options_fail_setup() -> None:
    with pytest.raises(ConfigError):
        PeOverlayUnpacker().setup(FakeConfig(unpack={"pe_overlay": {"bogus": 1}}))  # type: ignore[arg-type]


def test_engine_unpacks_the_sfx_archive_members(engine: Engine) -> None:
    inner = build_pe(strings=["http://payload.example.com/x"])
    pe_bytes = whole_file_zip(sfx_pe(b""), {"inner.exe": inner})
    report = engine.scan(make_message(attachments=[("setup.exe", pe_bytes, "application/octet-stream")]))
    names = [a.name for a in report.artifacts]
    assert "overlay.zip" in names and "inner.exe" in names
    assert not [n for n in report.notes if n.kind is NoteKind.CRASHED]
    inner_art = next(a for a in report.artifacts if a.name == "inner.exe")
    assert "pe" in inner_art.types


def test_struct_sanity_of_the_rebase_on_a_damaged_directory() -> None:
    stub = sfx_pe(b"")
    pe_bytes = bytearray(whole_file_zip(stub, {"a.txt": b"aaaa"}))
    central = pe_bytes.rfind(b"PK\x01\x02")
    struct.pack_into("<I", pe_bytes, central, 0)  # break the central directory's signature
    children, _ = unpack(bytes(pe_bytes))
    # handed over unchanged: the zip unpacker reports what it cannot read
    assert len(children) == 1 and children[0].data == bytes(pe_bytes[len(stub) :])


def test_pe_truncated_in_its_headers_has_no_overlay() -> None:
    # pefile puts the overlay of such a file at offset 0: yielding it would hand the whole file back as its own child
    truncated = build_pe()[:256]
    assert overlay_span(load_pe(truncated), len(truncated)) is None
    children, ctx = unpack(truncated)
    assert children == [] and ctx.notes == []
