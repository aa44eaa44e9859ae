"""Microsoft Cabinet (.cab) files with cabarchive: stored and MSZIP folders, in memory.

cabarchive decompresses every folder while it parses, with no output bound, so the CFDATA block headers are
walked here first (a few bytes each): the sum of their declared uncompressed sizes is what cabarchive will
produce (it rejects a block whose output differs), and it is checked against the size budget and the bomb ratio
before cabarchive runs. LZX and Quantum folders are not supported by cabarchive: an `unparsable` note (7-Zip
could read them, at the price of a subprocess; MSZIP is what cabinet makers use by default).

Names: cabarchive decodes every name as UTF-8 and keys members by name, so a Japanese cabinet (CP932 names, no
UTF-8 attribute) fails whole and duplicate names collapse. The CFFILE table is read here too; cabarchive is
handed a copy whose names are replaced by unique ASCII placeholders of the same length, and each member gets
its real name back (UTF-8 when the cabinet says so, else UTF-8 / CP932 / Latin-1) with its attribute bits.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from triage.model import NoteKind
from triage.plugins import ArtifactView, Child, DeadlineExceeded, PluginContext
from triage.registry import declared_emits
from triage.unpack.archive_common import (
    UNREADABLE_BOMB,
    UNREADABLE_TOO_LARGE,
    Member,
    archive_options,
    decode_legacy,
    report_bomb,
    show,
)

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["CabUnpacker"]

_HEADER = struct.Struct("<4s4xL4xL4xBBHHHHH")
_RESERVE = struct.Struct("<HBB")
_FOLDER = struct.Struct("<LHH")
_DATA = struct.Struct("<LHH")
_FILE = struct.Struct("<LLHHHH")  # size, offset in folder, folder index, date, time, attributes
_FLAG_RESERVE = 0x0004
_ATTR_NAME_IS_UTF = 0x80
_MAX_NAME = 256
_METHODS = {0: "stored", 1: "MSZIP", 2: "Quantum", 3: "LZX"}
_ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class _Bad(Exception):
    """The cabinet's structure cannot be walked."""


@dataclass(frozen=True)
class _File:
    name_at: int
    raw_name: bytes
    attributes: int
    date: int
    time: int

    @property
    def name(self) -> str:
        if self.attributes & _ATTR_NAME_IS_UTF:
            return self.raw_name.decode("utf-8", "replace")
        return decode_legacy(self.raw_name)[0]

    @property
    def mtime(self) -> str | None:
        d, t = self.date, self.time
        if not d:
            return None
        return (
            f"{(d >> 9) + 1980:04d}-{(d >> 5) & 0xF:02d}-{d & 0x1F:02d}"
            f"T{t >> 11:02d}:{(t >> 5) & 0x3F:02d}:{(t & 0x1F) * 2:02d}"
        )


@dataclass(frozen=True)
class _Cabinet:
    total: int  # declared uncompressed bytes of all folders
    methods: frozenset[str]
    files: tuple[_File, ...]


def _walk(data: bytes, max_files: int, ctx: PluginContext) -> _Cabinet:
    """The declared sizes (from the block headers) and the file table, without decompressing anything."""
    try:
        _, _, files_at, _, _, folders, count, flags, _, _ = _HEADER.unpack_from(data)
        pos = _HEADER.size
        folder_reserve = block_reserve = 0
        if flags & _FLAG_RESERVE:
            header_reserve, folder_reserve, block_reserve = _RESERVE.unpack_from(data, pos)
            pos += _RESERVE.size + header_reserve
        methods: set[str] = set()
        total = 0
        for _ in range(folders):
            ctx.check_deadline()
            first, blocks, compression = _FOLDER.unpack_from(data, pos)
            pos += _FOLDER.size + folder_reserve
            methods.add(_METHODS.get(compression & 0x000F, f"type {compression & 0x000F}"))
            at = first
            for index in range(blocks):
                if index % 1024 == 0:
                    ctx.check_deadline()
                _, compressed, uncompressed = _DATA.unpack_from(data, at)
                total += uncompressed
                at += _DATA.size + block_reserve + compressed
        if count > max_files:
            raise _Bad(f"declares {count} files (max_members_listed is {max_files})")
        files: list[_File] = []
        at = files_at
        for _ in range(count):
            _, _, _, date, time, attributes = _FILE.unpack_from(data, at)
            name_at = at + _FILE.size
            end = data.find(b"\x00", name_at, name_at + _MAX_NAME)
            if end < 0:
                raise _Bad("a file name is not terminated")
            files.append(_File(name_at, data[name_at:end], attributes, date, time))
            at = end + 1
    except struct.error as exc:
        raise _Bad("a table runs past the end of the file") from exc
    return _Cabinet(total=total, methods=frozenset(methods), files=tuple(files))


def _placeholder(index: int, length: int) -> bytes | None:
    """A unique ASCII name of exactly `length` bytes for file `index`, or None when that length is too short."""
    out = bytearray()
    for _ in range(length):
        index, digit = divmod(index, len(_ALPHABET))
        out.append(_ALPHABET[digit])
    return bytes(out) if index == 0 else None


class CabUnpacker:
    """Files out of a cabinet."""

    name = "cab"
    accepts = frozenset({"cab"})
    emits = declared_emits(__name__, "CabUnpacker")

    def __init__(self) -> None:
        self._opts = archive_options({}, "cab")

    def setup(self, config: Config) -> None:
        self._opts = archive_options(config.unpack_options("cab"), "cab")

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        data = target.data
        archive_name = target.name or target.id
        try:
            cabinet = _walk(data, self._opts.max_members_listed, ctx)
        except _Bad as exc:
            ctx.note(NoteKind.UNPARSABLE, f"not a readable cabinet: {exc}")
            return
        ctx.set_meta("compression", ", ".join(sorted(cabinet.methods)))
        bombs = self._opts.bombs
        if bombs.declared_bomb(cabinet.total, len(data)):
            report_bomb(ctx, bombs, archive_name, cabinet.total, len(data), declared=True)
            for entry in cabinet.files:
                yield Child(data=None, name=entry.name, meta={"unreadable": UNREADABLE_BOMB})
            return
        cap = ctx.max_child_size()
        if cabinet.total > cap:
            ctx.note(NoteKind.LIMIT_SIZE, f"cabinet folders declare {cabinet.total} bytes; the budget has {cap} left")
            for entry in cabinet.files:
                yield Child(data=None, name=entry.name, meta={"unreadable": UNREADABLE_TOO_LARGE})
            return
        patched = bytearray(data)
        keys: list[str | None] = []
        for index, entry in enumerate(cabinet.files):
            placeholder = _placeholder(index, len(entry.raw_name))
            # A name too short to be unique gets "~" (outside the alphabet): never looked up, never a collision.
            patched[entry.name_at : entry.name_at + len(entry.raw_name)] = placeholder or b"~" * len(entry.raw_name)
            keys.append(placeholder.decode("ascii") if placeholder is not None else None)
        try:
            from cabarchive import CabArchive

            archive = CabArchive(bytes(patched))
        except DeadlineExceeded:
            raise
        except Exception as exc:  # hostile bytes; LZX/Quantum raise NotSupportedError
            ctx.note(NoteKind.UNPARSABLE, f"cabinet not extracted: {type(exc).__name__}: {show(str(exc))}")
            return
        for entry, key in zip(cabinet.files, keys, strict=True):
            ctx.check_deadline()
            hidden, system = Member.attributes(entry.attributes)
            content = archive.get(key) if key is not None else None
            member = Member(
                name=entry.name,
                size=len(content.buf or b"") if content is not None else 0,
                hidden=hidden,
                system=system,
                mtime=entry.mtime,
            )
            if content is None:
                ctx.note(NoteKind.UNPARSABLE, f"member {show(entry.name)!r}: name too short to address")
                yield member.unreadable("unaddressable name")
                continue
            yield member.child(bytes(content.buf or b""))
