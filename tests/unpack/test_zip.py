"""ZipUnpacker: names, encryption and passwords, bombs and budgets, and hostile archives that must not crash."""

from __future__ import annotations

import bz2
import io
import random
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Sequence

import pytest
import pyzipper

from triage.config import PasswordOptions, load_config
from triage.errors import ConfigError
from triage.model import Finding, JsonValue, Note, NoteKind
from triage.plugins import Child, DeadlineExceeded, PasswordCandidate, Unpacker
from triage.runner import CallContext, ScanState, run_call
from triage.unpack.zip import ZipUnpacker, has_traversal, show

from ._fake_ctx import FakeConfig, FakeContext, pw, view
from ._zipbuild import Member, build_zip, deflate, unicode_path_extra
from ._zipcrypto import passes_check_byte, zipcrypto_encrypt

MiB = 1024 * 1024


def unpack(
    data: bytes,
    ctx: FakeContext | None = None,
    *,
    zip_options: dict[str, object] | None = None,
    max_attempts: int = 100,
    name: str = "sample.zip",
) -> tuple[list[Child], FakeContext]:
    ctx = ctx or FakeContext()
    unpacker = ZipUnpacker()
    unpacker.setup(
        FakeConfig(
            unpack={"zip": dict(zip_options or {})},  # type: ignore[arg-type]
            passwords=PasswordOptions(max_attempts=max_attempts),
        )
    )
    return list(unpacker.unpack(view(data, name), ctx)), ctx


def stdlib_zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def aes_zip(files: dict[str, bytes], password: bytes, *, bits: int = 256) -> bytes:
    buf = io.BytesIO()
    with pyzipper.AESZipFile(buf, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(password)
        zf.setencryption(pyzipper.WZ_AES, nbits=bits)
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


# -- plain archives and names ----------------------------------------------------------------------------------


def test_plain_zip_yields_members_with_meta() -> None:
    data = stdlib_zip({"docs/report.txt": b"hello " * 100, "docs/": b"", "a.bin": bytes(range(256))})
    children, ctx = unpack(data)
    assert [c.name for c in children] == ["docs/report.txt", "a.bin"]  # the directory entry is skipped
    assert children[0].data == b"hello " * 100
    assert children[1].data == bytes(range(256))
    meta = children[0].meta
    assert meta["compress_type"] == "deflate"
    assert meta["encrypted"] is False
    assert meta["name_encoding"] == "ascii"
    assert isinstance(meta["compressed_size"], int) and meta["compressed_size"] < 600
    assert len(str(meta["mtime"])) == 19 and str(meta["mtime"])[10] == "T"
    assert children[0].declared_size == 600
    assert ctx.emits == [] and ctx.notes == [] and ctx.meta == {}
    assert ctx.candidate_calls == 0  # nothing encrypted: the message text is never scanned for passwords


def test_mtime_from_dos_fields() -> None:
    children, _ = unpack(build_zip([Member("a.txt", b"x", date_time=(2023, 12, 24, 23, 59, 58))]))
    assert children[0].meta["mtime"] == "2023-12-24T23:59:58"


def test_cp932_name_without_utf8_flag() -> None:
    raw = "歓迎会.exe".encode("cp932")
    children, _ = unpack(build_zip([Member(raw, b"MZ")]))
    assert children[0].name == "歓迎会.exe"
    assert children[0].meta["name_encoding"] == "cp932"


def test_utf8_flag_name() -> None:
    children, _ = unpack(stdlib_zip({"資料/会議の案内.pdf": b"%PDF"}))
    assert children[0].name == "資料/会議の案内.pdf"
    assert children[0].meta["name_encoding"] == "utf-8-flag"


def test_utf8_name_without_flag_as_macos_writes_it() -> None:
    children, _ = unpack(build_zip([Member("議事録.docx".encode(), b"PK", utf8=False)]))
    assert children[0].name == "議事録.docx"
    assert children[0].meta["name_encoding"] == "utf-8"


def test_lying_utf8_flag_falls_back_to_cp932() -> None:
    children, _ = unpack(build_zip([Member("請求書.exe".encode("cp932"), b"MZ", utf8=True)]))
    assert children[0].name == "請求書.exe"
    assert children[0].meta["name_encoding"] == "cp932"


def test_cp437_when_nothing_else_decodes() -> None:
    raw = b"\x81\xff.txt"  # invalid in UTF-8 and in CP932
    children, _ = unpack(build_zip([Member(raw, b"x")]))
    assert children[0].name == raw.decode("cp437")
    assert children[0].meta["name_encoding"] == "cp437"


def test_unicode_path_extra_wins_when_its_crc_matches() -> None:
    raw = b"????.txt"
    good = Member(raw, b"x", extra=unicode_path_extra(raw, "報告書.txt"))
    stale = Member(b"old.txt", b"y", extra=unicode_path_extra(b"other", "偽物.txt"))
    children, _ = unpack(build_zip([good, stale]))
    assert children[0].name == "報告書.txt"
    assert children[0].meta["name_encoding"] == "unicode-path-extra"
    assert children[1].name == "old.txt"  # the CRC names another file name: ignored


@pytest.mark.parametrize("name", ["../../evil.exe", "/etc/cron.d/x", "dir\\x.exe", "C:/Users/x.exe", "a/../../b"])
def test_traversal_names_are_kept_and_flagged(name: str) -> None:
    children, _ = unpack(build_zip([Member(name, b"x")]))
    assert children[0].name == name
    assert children[0].meta["path_traversal"] is True


def test_ordinary_nested_name_is_not_traversal() -> None:
    children, _ = unpack(build_zip([Member("dir/sub/x..txt", b"x")]))
    assert "path_traversal" not in children[0].meta
    assert not has_traversal("a/b..c/d")


def test_nul_in_name_is_cut_and_flagged() -> None:
    children, _ = unpack(build_zip([Member(b"invoice.pdf\x00.exe", b"x")]))
    assert children[0].name == "invoice.pdf"
    assert children[0].meta["name_truncated_at_nul"] is True


def test_local_name_differing_from_central_is_recorded() -> None:
    data = bytearray(build_zip([Member("a.pdf", b"x")]))
    local_name_at = 30
    data[local_name_at : local_name_at + 5] = b"a.exe"
    children, _ = unpack(bytes(data))
    assert children[0].name == "a.pdf"
    assert children[0].meta["local_name"] == "a.exe"


def test_bzip2_and_lzma_members() -> None:
    payload = b"The quick brown fox " * 500
    for compression, label in ((zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "lzma")):
        children, ctx = unpack(stdlib_zip({"f.txt": payload}, compression))
        assert children[0].data == payload, label
        assert children[0].meta["compress_type"] == label
        assert ctx.notes == []


def test_lzma_huge_declared_dictionary_is_clamped() -> None:
    payload = b"abc" * 1000
    data = bytearray(stdlib_zip({"f.txt": payload}, zipfile.ZIP_LZMA))
    # The member's LZMA properties start after the 30-byte local header, the name and 4 header bytes.
    props_at = 30 + len("f.txt") + 4
    data[props_at + 1 : props_at + 5] = struct.pack("<L", 0xFFFFFFFF)
    tracemalloc.start()
    try:
        children, _ = unpack(bytes(data), FakeContext(max_child_size=MiB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert children[0].data == payload
    assert peak < 20 * MiB


def test_prepended_stub_shifts_offsets() -> None:
    stub = b"MZ" + b"\x90" * 5000  # a self-extractor's executable part
    data = stub + stdlib_zip({"a.txt": b"inside"})
    children, ctx = unpack(data)
    assert children[0].data == b"inside"
    assert ctx.meta["prepended_bytes"] == len(stub)


def test_archive_comment_with_fake_eocd_does_not_fool_the_reader() -> None:
    real = stdlib_zip({"a.txt": b"inside"})
    fake = b"PK\x05\x06" + b"\x00" * 18
    data = real[:-2] + struct.pack("<H", len(fake)) + fake
    children, _ = unpack(data)
    assert [c.data for c in children] == [b"inside"]


# -- corrupt and hostile archives ------------------------------------------------------------------------------


def test_truncated_zip_is_unparsable_and_yields_nothing() -> None:
    data = stdlib_zip({"a.txt": b"a" * 5000, "b.txt": b"b" * 5000})
    children, ctx = unpack(data[: len(data) // 2])
    assert children == []
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_garbage_is_unparsable() -> None:
    children, ctx = unpack(random.Random(7).randbytes(10_000))
    assert children == []
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_empty_archive() -> None:
    children, ctx = unpack(stdlib_zip({}))
    assert children == [] and ctx.notes == []


def test_central_directory_cut_short_keeps_earlier_entries() -> None:
    data = build_zip([Member("a.txt", b"aaa"), Member("b.txt", b"bbb")])
    cd_size = struct.unpack_from("<L", data, len(data) - 10)[0]
    cd_start = len(data) - 22 - cd_size
    second = data.index(b"PK\x01\x02", cd_start + 4)
    broken = data[:second] + b"XX" + data[second + 2 :]
    children, ctx = unpack(broken)
    assert [c.name for c in children] == ["a.txt"]
    assert NoteKind.UNPARSABLE in ctx.note_kinds()


def test_bad_crc_on_plain_member_is_corrupt() -> None:
    children, ctx = unpack(build_zip([Member("a.txt", b"hello", method=8, crc=0x1234)]))
    assert children[0].data is None
    assert children[0].meta["unreadable"] == "corrupt"
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_broken_deflate_stream_is_corrupt() -> None:
    children, ctx = unpack(
        build_zip([Member("a.txt", b"x" * 100, method=8, compressed=b"\xff" * 40, crc=zlib.crc32(b"x" * 100))])
    )
    assert children[0].data is None and children[0].meta["unreadable"] == "corrupt"
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_unsupported_method_is_noted() -> None:
    children, ctx = unpack(build_zip([Member("a.txt", b"whatever", method=9)]))
    assert children[0].data is None
    assert "deflate64" in str(children[0].meta["unreadable"])
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_local_header_missing() -> None:
    data = bytearray(build_zip([Member("a.txt", b"hello")]))
    data[0:4] = b"XXXX"
    children, ctx = unpack(bytes(data))
    assert children[0].data is None and children[0].meta["unreadable"] == "corrupt"
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_mutated_archives_never_raise() -> None:
    rng = random.Random(1234)
    base = [
        stdlib_zip({"a.txt": b"hello" * 300, "b/c.bin": rng.randbytes(2000)}),
        stdlib_zip({"a.txt": b"x" * 3000}, zipfile.ZIP_BZIP2),
        stdlib_zip({"a.txt": b"y" * 3000}, zipfile.ZIP_LZMA),
        build_zip([Member("s.txt", b"secret" * 100, method=8, password=b"pw")]),
        aes_zip({"s.txt": b"secret" * 100}, b"pw"),
    ]
    for i in range(400):
        data = bytearray(base[i % len(base)])
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        unpack(bytes(data), FakeContext(candidates=[pw("pw"), pw("nope")]))


# -- encryption --------------------------------------------------------------------------------------------------


def test_zipcrypto_opened_with_password_from_body() -> None:
    members = [
        Member("請求書.exe", b"MZ" + b"\x00" * 500, method=8, password=b"Tk7-pass"),
        Member("readme.txt", b"read me", method=0, password=b"Tk7-pass"),
    ]
    ctx = FakeContext(candidates=[pw("wrong"), pw("Tk7-pass"), pw("later")])
    children, ctx = unpack(build_zip(members), ctx)
    assert [c.data for c in children] == [b"MZ" + b"\x00" * 500, b"read me"]
    assert all(c.meta["encrypted"] is True and c.meta["encryption"] == "ZipCrypto" for c in children)
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED", "ARCHIVE_PASSWORD_IN_BODY"]
    assert ctx.evidence("ARCHIVE_ENCRYPTED") == ("sample.zip", "2 encrypted member(s)", "ZipCrypto")
    assert ctx.evidence("ARCHIVE_PASSWORD_IN_BODY") == ('opened with "Tk7-pass" found in the body',)
    assert ctx.meta == {"encrypted": True, "password": "Tk7-pass", "password_source": "body"}
    assert ctx.notes == []
    assert ctx.candidate_calls == 1


def test_the_working_password_is_reused_without_spending_the_budget() -> None:
    members = [Member(f"m{i}.txt", b"data %d" % i, method=8, password=b"right") for i in range(5)]
    ctx = FakeContext(candidates=[pw("bad"), pw("right")])
    children, ctx = unpack(build_zip(members), ctx, max_attempts=2)
    assert [c.data for c in children] == [b"data %d" % i for i in range(5)]
    assert "ARCHIVE_ENCRYPTED_NO_PASSWORD" not in ctx.ids()


def test_max_attempts_caps_the_guessing() -> None:
    ctx = FakeContext(candidates=[pw("a"), pw("b"), pw("right")])
    children, ctx = unpack(build_zip([Member("x.txt", b"x", password=b"right")]), ctx, max_attempts=2)
    assert children[0].data is None
    assert ctx.evidence("ARCHIVE_ENCRYPTED_NO_PASSWORD")[2] == "2 password candidate(s) tried"


def test_wrong_password_that_passes_the_check_byte_is_rejected_by_crc() -> None:
    for method in (0, 8):
        payload = b"confidential " * 40
        crc = zlib.crc32(payload)
        encrypted = zipcrypto_encrypt(b"right", deflate(payload) if method == 8 else payload, crc)
        impostor = next(f"guess{i}" for i in range(100_000) if passes_check_byte(f"guess{i}".encode(), encrypted, crc))
        ctx = FakeContext(candidates=[pw(impostor), pw("right")])
        children, ctx = unpack(build_zip([Member("a.txt", payload, method=method, password=b"right")]), ctx)
        assert children[0].data == payload
        assert ctx.meta["password"] == "right"
        assert ctx.notes == []


def test_wrong_passwords_give_no_password_finding_and_unreadable_children() -> None:
    members = [
        Member("歓迎会.exe", b"MZ" * 100, method=8, password=b"secret"),
        Member("案内.pdf.exe", b"MZ" * 50, method=8, password=b"secret"),
        Member("plain.txt", b"not encrypted"),
    ]
    ctx = FakeContext(candidates=[pw("guess1"), pw("guess2", "list"), pw("guess3", "cli")])
    children, ctx = unpack(build_zip(members), ctx)
    assert [c.name for c in children] == ["歓迎会.exe", "案内.pdf.exe", "plain.txt"]
    for child in children[:2]:
        assert child.data is None
        assert child.meta["encrypted"] is True
        assert child.meta["unreadable"] == "encrypted, no password"
    assert children[0].declared_size == 200
    assert children[2].data == b"not encrypted"
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED", "ARCHIVE_ENCRYPTED_NO_PASSWORD"]  # once per archive
    assert ctx.evidence("ARCHIVE_ENCRYPTED")[1] == "2 encrypted member(s)"
    assert ctx.note_kinds() == [NoteKind.ENCRYPTED_NO_PASSWORD]
    assert ctx.meta == {"encrypted": True}


def test_no_candidates_at_all() -> None:
    children, ctx = unpack(build_zip([Member("a.exe", b"MZ", password=b"x")]))
    assert children[0].data is None
    assert "ARCHIVE_ENCRYPTED_NO_PASSWORD" in ctx.ids()


@pytest.mark.parametrize("source", ["list", "cli"])
def test_password_not_from_the_message_is_not_password_in_body(source: str) -> None:
    ctx = FakeContext(candidates=[pw("nope"), pw("infected", source)])
    children, ctx = unpack(build_zip([Member("a.exe", b"MZ", method=8, password=b"infected")]), ctx)
    assert children[0].data == b"MZ"
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED"]
    assert ctx.meta["password_source"] == source


def test_non_ascii_password_tried_in_cp932() -> None:
    ctx = FakeContext(candidates=[pw("さくら2024")])
    children, _ = unpack(build_zip([Member("a.txt", b"x", password="さくら2024".encode("cp932"))]), ctx)
    assert children[0].data == b"x"


@pytest.mark.parametrize("bits", [128, 256])
def test_aes_opened(bits: int) -> None:
    data = aes_zip({"invoice.exe": b"MZ" + b"\x01" * 1000, "b.txt": b"bee"}, b"Aes-Pass1", bits=bits)
    ctx = FakeContext(candidates=[pw("no"), pw("Aes-Pass1", "html")])
    children, ctx = unpack(data, ctx)
    assert [c.data for c in children] == [b"MZ" + b"\x01" * 1000, b"bee"]
    assert children[0].meta["encryption"] == f"AES-{bits}"
    assert children[0].meta["compress_type"] == "deflate"
    assert ctx.evidence("ARCHIVE_ENCRYPTED") == ("sample.zip", "2 encrypted member(s)", f"AES-{bits}")
    assert ctx.evidence("ARCHIVE_PASSWORD_IN_BODY") == ('opened with "Aes-Pass1" found in the html',)
    assert ctx.meta["password_source"] == "html"


def test_aes_wrong_password() -> None:
    ctx = FakeContext(candidates=[pw(f"guess{i}") for i in range(20)])
    children, ctx = unpack(aes_zip({"a.exe": b"MZ"}, b"Right1"), ctx)
    assert children[0].data is None and children[0].meta["unreadable"] == "encrypted, no password"
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED", "ARCHIVE_ENCRYPTED_NO_PASSWORD"]
    assert ctx.note_kinds() == [NoteKind.ENCRYPTED_NO_PASSWORD]


def test_aes_tampered_data_fails_the_mac() -> None:
    data = bytearray(aes_zip({"a.txt": random.Random(5).randbytes(2000)}, b"pw"))
    data[500] ^= 0xFF  # inside the encrypted stream
    ctx = FakeContext(candidates=[pw("pw")])
    children, ctx = unpack(bytes(data), ctx)
    assert children[0].data is None
    assert "ARCHIVE_PASSWORD_IN_BODY" not in ctx.ids()


def test_strong_encryption_cannot_be_opened() -> None:
    member = Member("a.txt", b"x" * 50)
    data = bytearray(build_zip([member]))
    for at in (6, data.index(b"PK\x01\x02") + 8):  # general-purpose flags, local and central
        struct.pack_into("<H", data, at, 0x41)
    ctx = FakeContext(candidates=[pw("x")])
    children, ctx = unpack(bytes(data), ctx)
    assert children[0].data is None
    assert children[0].meta["encryption"] == "PKWARE strong encryption"
    assert "ARCHIVE_ENCRYPTED_NO_PASSWORD" in ctx.ids()


# -- bombs and budgets -------------------------------------------------------------------------------------------


def zeros_zip(size: int, *, declared: int | None = None) -> bytes:
    """A deflated run of zeros, compressed in chunks so the test itself stays small."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = []
    crc = 0
    chunk = bytes(MiB)
    for _ in range(size // MiB):
        parts.append(comp.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    parts.append(comp.flush())
    return build_zip(
        [
            Member(
                "zeros.bin", method=8, compressed=b"".join(parts), crc=crc, size=size if declared is None else declared
            ),
            Member("after.txt", b"still listed"),
        ]
    )


def test_ratio_bomb_is_flagged_without_extracting() -> None:
    data = zeros_zip(50 * MiB)
    tracemalloc.start()
    try:
        children, ctx = unpack(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * MiB
    assert children[0].data is None and children[0].meta["unreadable"] == "decompression bomb"
    assert children[0].declared_size == 50 * MiB
    assert children[1].data == b"still listed"
    evidence = ctx.evidence("ARCHIVE_BOMB")
    assert evidence[0] == "zeros.bin" and evidence[1].startswith("ratio ")
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()


def test_ratio_bomb_with_a_lying_declared_size_is_caught_while_streaming() -> None:
    data = zeros_zip(50 * MiB, declared=1000)
    tracemalloc.start()
    try:
        children, ctx = unpack(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * MiB
    assert children[0].data is None and children[0].meta["unreadable"] == "decompression bomb"
    assert "inflated past" in ctx.evidence("ARCHIVE_BOMB")[2]


def test_bzip2_bomb_with_a_lying_size_stays_small() -> None:
    # bzip2 packs 50 MiB of zeros into ~100 bytes: the stdlib zipfile would inflate it in one call.
    comp = bz2.BZ2Compressor(9)
    chunk = bytes(MiB)
    parts = [comp.compress(chunk) for _ in range(50)] + [comp.flush()]
    payload = b"".join(parts)
    assert len(payload) < 1000
    data = build_zip([Member("z.bin", method=12, compressed=payload, crc=0, size=10)])
    tracemalloc.start()
    try:
        children, ctx = unpack(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * MiB
    assert children[0].data is None
    assert "ARCHIVE_BOMB" in ctx.ids()


def test_bomb_thresholds_come_from_config() -> None:
    data = build_zip([Member("z.bin", bytes(300_000), method=8)])
    children, ctx = unpack(data)
    assert children[0].data == bytes(300_000)  # under bomb_min_size by default
    children, ctx = unpack(data, zip_options={"bomb_min_size": 100_000, "bomb_ratio": 50})
    assert children[0].data is None and "ARCHIVE_BOMB" in ctx.ids()


def test_overlapping_entries_bomb() -> None:
    members = [Member("0.bin", bytes(100_000), method=8)] + [
        Member(f"{i}.bin", method=8, alias_of=0) for i in range(1, 50)
    ]
    children, ctx = unpack(build_zip(members))
    assert children == []
    evidence = ctx.evidence("ARCHIVE_BOMB")
    assert "49 entries overlap" in evidence[1]
    assert ctx.note_kinds() == [NoteKind.LIMIT_SIZE]


def test_member_larger_than_the_budget() -> None:
    blob = random.Random(3).randbytes(5000)  # incompressible: not a bomb, just big
    ctx = FakeContext(max_child_size=1000)
    children, ctx = unpack(build_zip([Member("big.bin", blob, method=8), Member("small.txt", b"ok")]), ctx)
    assert children[0].data is None and children[0].meta["unreadable"] == "exceeds the size budget"
    assert children[0].declared_size == 5000
    assert children[1].data == b"ok"
    assert ctx.note_kinds() == [NoteKind.LIMIT_SIZE]
    assert ctx.emits == []


def test_member_lying_about_its_size_is_stopped_at_the_budget() -> None:
    blob = random.Random(4).randbytes(5000)
    ctx = FakeContext(max_child_size=1000)
    children, ctx = unpack(build_zip([Member("big.bin", blob, method=8, size=10)]), ctx)
    assert children[0].data is None and children[0].meta["unreadable"] == "exceeds the size budget"
    assert ctx.note_kinds() == [NoteKind.LIMIT_SIZE]


def test_size_mismatch_is_recorded() -> None:
    children, _ = unpack(build_zip([Member("a.txt", b"hello world", method=8, size=3)]))
    assert children[0].data == b"hello world"
    assert children[0].meta["declared_size_differs"] is True


def test_many_members_are_capped_by_max_members_listed() -> None:
    data = build_zip([Member(f"f{i}.txt", b"") for i in range(10_000)])
    ctx = FakeContext()
    children, ctx = unpack(data, ctx, zip_options={"max_members_listed": 1000})
    assert len(children) == 1000
    assert ctx.note_kinds() == [NoteKind.LIMIT_FILES]
    assert "10000" in ctx.notes[0][1]
    assert ctx.deadline_checks >= 1000  # once per member yielded, and while listing


def test_deadline_is_checked_while_listing() -> None:
    data = build_zip([Member(f"f{i}.txt", b"") for i in range(3000)])
    with pytest.raises(DeadlineExceeded):
        unpack(data, FakeContext(deadline_after=3))


def test_engine_can_stop_pulling_children_early() -> None:
    data = build_zip([Member(f"f{i}.txt", b"x", password=b"pw") for i in range(10)])
    ctx = FakeContext(candidates=[pw("nope")])
    unpacker = ZipUnpacker()
    children = unpacker.unpack(view(data), ctx)
    first = next(children)
    del children  # what the engine does when max_files is reached: it stops iterating
    assert first.data is None
    # Everything a scan must know was said with the first child.
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED", "ARCHIVE_ENCRYPTED_NO_PASSWORD"]


# -- setup -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"bomb_ratio": "100"},
        {"bomb_ratio": True},
        {"bomb_ratio": 0},
        {"bomb_ratio": -5},
        {"bomb_ratio": float("nan")},
        {"bomb_min_size": 1.5},
        {"max_members_listed": 0},
        {"max_members_listed": 10.0},
        {"unknown_option": 1},
    ],
)
def test_bad_options_are_config_errors(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ZipUnpacker().setup(FakeConfig(unpack={"zip": options}))  # type: ignore[arg-type]


def test_shipped_config_sets_up() -> None:
    config = load_config()
    unpacker = ZipUnpacker()
    unpacker.setup(config)
    config.scoring.check_emits(unpacker.name, unpacker.emits)


def test_show_escapes_bidi_and_controls() -> None:
    assert show("abc\u202efdp.exe\x00") == "abc\\u202efdp.exe\\u0000"
    assert show("x" * 500, 10) == "x" * 10 + "…"


def test_through_the_runner_call_context() -> None:
    state = _State()
    ctx = CallContext(state, "zip", "a1")
    unpacker: Unpacker = ZipUnpacker()
    unpacker.setup(state.config)
    data = build_zip([Member("a.exe", b"MZ", method=8, password=b"pw")])
    children: list[Child] = []
    outcome = run_call(ctx, lambda c: children.extend(unpacker.unpack(view(data), c)))
    assert outcome == "ok"
    assert children[0].data == b"MZ"
    assert sorted(f.id for f in state.findings) == ["ARCHIVE_ENCRYPTED", "ARCHIVE_PASSWORD_IN_BODY"]
    assert state.meta == {("a1", "encrypted"): True, ("a1", "password"): "pw", ("a1", "password_source"): "body"}


class _State(ScanState):
    def __init__(self) -> None:
        self.config = load_config()
        self.deadline = time.monotonic() + 30
        self.findings: list[Finding] = []
        self.notes: list[Note] = []
        self.meta: dict[tuple[str, str], JsonValue] = {}

    def commit_meta(self, artifact: str, key: str, value: JsonValue) -> None:
        self.meta[(artifact, key)] = value

    def max_child_size(self) -> int:
        return MiB

    def password_candidates(self) -> Sequence[PasswordCandidate]:
        return (PasswordCandidate("nope", "list"), PasswordCandidate("pw", "body"))
