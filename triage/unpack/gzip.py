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
from triage.registry import declared_emits
from triage.unpack.archive_common import StreamResult, stream_child
from triage.unpack.zip import (
    BombLimits,
    bomb_limits,
    has_traversal,
    inflate_limit,
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


class GzipUnpacker:
    """Inflates a gzip stream into one child."""

    name = "gzip"
    accepts = frozenset({"gzip"})
    emits = declared_emits(__name__, "GzipUnpacker")

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
        shown = name or target.name or target.id  # escaped where it is shown

        cap = ctx.max_child_size()
        result = _gunzip(data, inflate_limit(cap, self._bombs, len(data)), ctx)
        yield stream_child(
            ctx,
            result,
            kind="gzip",
            compressed=len(data),
            bombs=self._bombs,
            cap=cap,
            name=name,
            shown=shown,
            meta=meta,
            count_key="members",
        )


def _gunzip(data: bytes, stop_at: int, ctx: PluginContext) -> StreamResult:
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
                    return StreamResult(bytes(out), members, truncated=False, trailing=trailing)
                # Another member follows (cat a.gz b.gz): gunzip joins them, so do we.
                decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
                pending = rest
                continue
            if not piece and not pending and pos >= len(data):
                return StreamResult(bytes(out), members, truncated=True, trailing=0)
    except zlib.error as exc:
        return StreamResult(bytes(out), members, truncated=False, trailing=0, error=str(exc))
    return StreamResult(bytes(out), members, truncated=False, trailing=0)
