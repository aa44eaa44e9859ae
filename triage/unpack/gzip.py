"""gzip streams: one member out, named from the header's FNAME field or from the artifact's own name.

Decompression is streamed with ``max_length`` so output never passes min(size budget, bomb threshold); the
gzip trailer's ISIZE is never trusted. Concatenated gzip members (``cat a.gz b.gz``) are joined into one
output, as gunzip does. A truncated stream yields what it held, marked truncated; a corrupt one yields nothing.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from triage.model import JsonValue, NoteKind
from triage.plugins import ArtifactView, Child, PluginContext
from triage.unpack.zip import (
    UNREADABLE_BOMB,
    UNREADABLE_CORRUPT,
    UNREADABLE_TOO_LARGE,
    BombLimits,
    bomb_limits,
    has_traversal,
    inflate_limit,
    show,
)

if TYPE_CHECKING:
    from triage.config import Config

_MAGIC = b"\x1f\x8b"
_DEFLATE = 8
_FEXTRA, _FNAME, _FCOMMENT = 0x04, 0x08, 0x10
_MAX_NAME_BYTES = 4096
_IN_CHUNK = 64 * 1024
_OUT_STEP = 1024 * 1024


class _BadHeader(Exception):
    """The data does not start with a gzip header we can read."""


@dataclass(frozen=True)
class _Header:
    name: bytes | None
    mtime: int


def _header(data: bytes) -> _Header:
    if len(data) < 18 or data[:2] != _MAGIC:
        raise _BadHeader("no gzip magic")
    if data[2] != _DEFLATE:
        raise _BadHeader(f"compression method {data[2]} is not deflate")
    flags = data[3]
    (mtime,) = struct.unpack_from("<L", data, 4)
    pos = 10
    if flags & _FEXTRA:
        if pos + 2 > len(data):
            raise _BadHeader("header cut short")
        (extra_len,) = struct.unpack_from("<H", data, pos)
        pos += 2 + extra_len
    name = None
    if flags & _FNAME:
        end = data.find(b"\x00", pos, pos + _MAX_NAME_BYTES + 1)
        if end < 0:
            raise _BadHeader("file name field not terminated")
        name = data[pos:end]
    return _Header(name=name, mtime=mtime)


def _decode_name(raw: bytes) -> str:
    # RFC 1952 says Latin-1; Linux gzip stores the bytes as they were (UTF-8), Japanese Windows tools CP932.
    if raw.isascii():
        return raw.decode("ascii")
    for codec in ("utf-8", "cp932"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _name_from_artifact(name: str | None) -> str | None:
    if not name:
        return None
    lower = name.lower()
    if lower.endswith(".tgz"):
        return name[:-4] + ".tar"
    if lower.endswith(".gz") and len(name) > 3:
        return name[:-3]
    return None


@dataclass(frozen=True)
class _Gunzip:
    data: bytes
    members: int
    truncated: bool
    trailing: int  # bytes after the last member that are not another member
    error: str | None = None


class GzipUnpacker:
    """Inflates a gzip stream into one child."""

    name = "gzip"
    accepts = frozenset({"gzip"})
    emits = frozenset({"ARCHIVE_BOMB"})

    def __init__(self) -> None:
        self._bombs = BombLimits()

    def setup(self, config: Config) -> None:
        self._bombs = bomb_limits(config.unpack_options("gzip"), "gzip")

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        data = target.data
        try:
            header = _header(data)
        except _BadHeader as exc:
            ctx.note(NoteKind.UNPARSABLE, f"not a readable gzip stream: {exc}")
            return
        meta: dict[str, JsonValue] = {"compressed_size": len(data)}
        if header.name is not None:
            name: str | None = _decode_name(header.name)
            meta["name_source"] = "fname"
        else:
            name = _name_from_artifact(target.name)
            if name is not None:
                meta["name_source"] = "artifact"
        if name is not None and has_traversal(name):
            meta["path_traversal"] = True
        if header.mtime:
            meta["mtime"] = datetime.fromtimestamp(header.mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        shown = show(name or target.name or target.id)

        def unreadable(reason: str) -> Child:
            return Child(data=None, name=name, meta={**meta, "unreadable": reason})

        cap = ctx.max_child_size()
        stop_at = inflate_limit(cap, self._bombs, len(data))
        result = _gunzip(data, stop_at, ctx)
        produced = len(result.data)
        if produced >= self._bombs.threshold(len(data)):
            ratio = produced / len(data)
            ctx.emit(
                "ARCHIVE_BOMB", (shown, f"ratio over {ratio:.0f}:1", f"inflated past {produced} bytes from {len(data)}")
            )
            ctx.note(
                NoteKind.LIMIT_SIZE,
                f"{shown!r} not extracted: a decompression bomb "
                f"(ratio over {ratio:.0f}:1, limit {self._bombs.ratio:g})",
            )
            yield unreadable(UNREADABLE_BOMB)
            return
        if produced > cap:
            ctx.note(NoteKind.LIMIT_SIZE, f"{shown!r} inflates past the size budget ({cap} bytes left)")
            yield unreadable(UNREADABLE_TOO_LARGE)
            return
        if result.error is not None:
            ctx.note(NoteKind.UNPARSABLE, f"{shown!r}: corrupt gzip data ({result.error})")
            yield unreadable(UNREADABLE_CORRUPT)
            return
        if result.members > 1:
            meta["members"] = result.members
        if result.trailing:
            meta["trailing_bytes"] = result.trailing
        if result.truncated:
            # What was inflated is real content: analyse it, but the verdict cannot be complete.
            meta["truncated"] = True
            ctx.note(NoteKind.UNPARSABLE, f"{shown!r}: gzip stream ends early; {produced} bytes recovered")
        yield Child(data=result.data, name=name, meta=meta)


def _gunzip(data: bytes, stop_at: int, ctx: PluginContext) -> _Gunzip:
    """Inflate every member until the input ends or output reaches `stop_at` bytes."""
    src = memoryview(data)
    out = bytearray()
    members = 0
    pos = 0  # input consumed into the decompressor so far
    pending = b""  # input handed over but not yet consumed
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        while len(out) < stop_at:
            ctx.check_deadline()
            if not pending and pos < len(data):
                pending = bytes(src[pos : pos + _IN_CHUNK])
                pos += len(pending)
            piece = decomp.decompress(pending, min(stop_at - len(out), _OUT_STEP))
            pending = decomp.unconsumed_tail
            out += piece
            if decomp.eof:
                members += 1
                rest = decomp.unused_data
                if len(rest) < len(_MAGIC) and pos < len(data):
                    more = bytes(src[pos : pos + _IN_CHUNK])
                    pos += len(more)
                    rest += more
                if not rest.startswith(_MAGIC):
                    trailing = len(rest) + len(data) - pos
                    return _Gunzip(bytes(out), members, truncated=False, trailing=trailing)
                # Another member follows (cat a.gz b.gz): gunzip joins them, so do we.
                decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
                pending = rest
                continue
            if not piece and not pending and pos >= len(data):
                return _Gunzip(bytes(out), members, truncated=True, trailing=0)
    except zlib.error as exc:
        return _Gunzip(bytes(out), members, truncated=False, trailing=0, error=str(exc))
    return _Gunzip(bytes(out), members, truncated=False, trailing=0)
