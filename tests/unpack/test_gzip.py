"""GzipUnpacker: names from FNAME or the artifact, concatenated members, bombs, budgets, corrupt streams."""

from __future__ import annotations

import gzip
import random
import struct
import tracemalloc
import zlib

import pytest

from triage.config import load_config
from triage.errors import ConfigError
from triage.model import NoteKind
from triage.plugins import Child
from triage.unpack.gzip import GzipUnpacker

from ._fake_ctx import FakeConfig, FakeContext, view

MiB = 1024 * 1024


def unpack(
    data: bytes, name: str | None = "file.gz", ctx: FakeContext | None = None, options: dict[str, object] | None = None
) -> tuple[list[Child], FakeContext]:
    ctx = ctx or FakeContext()
    unpacker = GzipUnpacker()
    unpacker.setup(FakeConfig(unpack={"gzip": dict(options or {})}))  # type: ignore[arg-type]
    return list(unpacker.unpack(view(data, name, ("gzip",)), ctx)), ctx


def gz(payload: bytes, *, fname: bytes | None = None, mtime: int = 1_714_500_000) -> bytes:
    """A gzip member written by hand, so FNAME can hold any bytes (GzipFile insists on Latin-1)."""
    flags = 0x08 if fname is not None else 0
    header = b"\x1f\x8b\x08" + bytes((flags,)) + struct.pack("<L", mtime) + b"\x00\x03"
    if fname is not None:
        header += fname + b"\x00"
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = comp.compress(payload) + comp.flush()
    return header + body + struct.pack("<LL", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)


def test_basic_with_fname() -> None:
    children, ctx = unpack(gz(b"hello gzip" * 100, fname=b"report.csv"))
    assert len(children) == 1
    child = children[0]
    assert child.data == b"hello gzip" * 100
    assert child.name == "report.csv"
    assert child.meta["name_source"] == "fname"
    assert child.meta["mtime"] == "2024-04-30T18:00:00Z"
    assert ctx.emits == [] and ctx.notes == []


def test_stdlib_gzip_without_fname_takes_the_artifact_name() -> None:
    children, _ = unpack(gzip.compress(b"data", mtime=0), "invoice.xlsx.gz")
    assert children[0].name == "invoice.xlsx"
    assert children[0].meta["name_source"] == "artifact"
    assert "mtime" not in children[0].meta


@pytest.mark.parametrize(
    ("artifact", "expected"), [("backup.tgz", "backup.tar"), ("A.GZ", "A"), ("noext", None), (None, None)]
)
def test_names_from_the_artifact(artifact: str | None, expected: str | None) -> None:
    children, _ = unpack(gzip.compress(b"x"), artifact)
    assert children[0].name == expected


def test_cp932_fname() -> None:
    children, _ = unpack(gz(b"MZ", fname="請求書.exe".encode("cp932")))
    assert children[0].name == "請求書.exe"


def test_latin1_fname() -> None:
    children, _ = unpack(gz(b"x", fname="café\xff.txt".encode("latin-1")))
    assert children[0].name == "café\xff.txt"


def test_fname_with_traversal_is_flagged() -> None:
    children, _ = unpack(gz(b"x", fname=b"../../etc/cron.d/job"))
    assert children[0].meta["path_traversal"] is True


def test_concatenated_members_are_joined() -> None:
    children, ctx = unpack(gz(b"first ", fname=b"a.txt") + gz(b"second"))
    assert children[0].data == b"first second"
    assert children[0].meta["members"] == 2
    assert ctx.notes == []


def test_trailing_bytes_are_recorded() -> None:
    children, ctx = unpack(gz(b"payload") + b"\x00" * 100 + b"junk")
    assert children[0].data == b"payload"
    assert children[0].meta["trailing_bytes"] == 104
    assert ctx.notes == []


def test_bomb_is_flagged_with_small_memory() -> None:
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(MiB)
    data = b"".join([comp.compress(chunk) for _ in range(50)] + [comp.flush()])
    tracemalloc.start()
    try:
        children, ctx = unpack(data, "zeros.bin.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * MiB
    assert children[0].data is None and children[0].meta["unreadable"] == "decompression bomb"
    evidence = ctx.evidence("ARCHIVE_BOMB")
    # worded as every other unpacker words it (archive_common.report_bomb)
    assert evidence[0] == "zeros.bin" and evidence[1].startswith("ratio ") and evidence[2].startswith("inflated past ")
    assert ctx.note_kinds() == [NoteKind.LIMIT_SIZE]


def test_bomb_thresholds_come_from_config() -> None:
    data = gzip.compress(bytes(200_000))
    children, ctx = unpack(data)
    assert children[0].data == bytes(200_000)
    children, ctx = unpack(data, options={"bomb_min_size": 10_000, "bomb_ratio": 20})
    assert children[0].data is None and ctx.ids() == ["ARCHIVE_BOMB"]


def test_larger_than_the_budget() -> None:
    blob = random.Random(1).randbytes(5000)
    children, ctx = unpack(gzip.compress(blob), ctx=FakeContext(max_child_size=1000))
    assert children[0].data is None and children[0].meta["unreadable"] == "exceeds the size budget"
    assert ctx.note_kinds() == [NoteKind.LIMIT_SIZE]
    assert ctx.emits == []


def test_corrupt_stream() -> None:
    data = bytearray(gzip.compress(random.Random(2).randbytes(3000)))
    data[-8] ^= 0xFF  # the CRC in the trailer
    children, ctx = unpack(bytes(data))
    assert children[0].data is None and children[0].meta["unreadable"] == "corrupt"
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_garbage_header_yields_nothing() -> None:
    children, ctx = unpack(b"\x1f\x8b\x07" + b"\x00" * 40)
    assert children == []
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]
    children, ctx = unpack(b"not gzip at all, just text")
    assert children == [] and ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_unterminated_fname() -> None:
    children, ctx = unpack(b"\x1f\x8b\x08\x08" + b"\x00" * 6 + b"A" * 5000)
    assert children == [] and ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_truncated_stream_yields_what_it_held() -> None:
    payload = random.Random(3).randbytes(200_000)
    data = gzip.compress(payload)
    children, ctx = unpack(data[: len(data) // 2])
    child = children[0]
    assert child.data is not None and 0 < len(child.data) < len(payload)
    assert payload.startswith(child.data)
    assert child.meta["truncated"] is True
    assert ctx.note_kinds() == [NoteKind.UNPARSABLE]


def test_mutated_streams_never_raise() -> None:
    rng = random.Random(99)
    base = gz(b"some text " * 500, fname=b"a.txt") + gz(rng.randbytes(500))
    for _ in range(500):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        unpack(bytes(data), ctx=FakeContext(max_child_size=rng.choice([10, 10**6])))


@pytest.mark.parametrize("options", [{"bomb_ratio": "x"}, {"bomb_min_size": -1}, {"max_members_listed": 5}])
def test_bad_options_are_config_errors(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        GzipUnpacker().setup(FakeConfig(unpack={"gzip": options}))  # type: ignore[arg-type]


def test_shipped_config_sets_up() -> None:
    config = load_config()
    unpacker = GzipUnpacker()
    unpacker.setup(config)
    config.scoring.check_emits(unpacker.name, unpacker.emits)


def test_a_bidi_name_is_escaped_in_notes() -> None:
    data = bytearray(gz(random.Random(3).randbytes(3000), fname="報告書\u202efdp.exe".encode()))
    data[-8] ^= 0xFF  # a corrupt stream, so the name appears in a Note
    _, ctx = unpack(bytes(data))
    ((_, detail),) = ctx.notes
    assert "u202efdp.exe" in detail and "\u202e" not in detail  # shown as an escape, never as the character
