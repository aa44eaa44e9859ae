"""tar archives (stdlib tarfile, from memory) and single-stream bzip2 / xz files (one child each).

A .tar.gz, .tar.bz2 or .tar.xz is two steps through the engine: the gzip / bzip2 / xz unpacker yields the tar,
whose type tag brings it here. bzip2 and xz are decompressed incrementally with ``max_length`` so output never
passes min(size budget, bomb threshold); concatenated streams (pbzip2, ``cat a.xz b.xz``) are joined, as the
command-line tools do. liblzma gets a memory limit: an xz header may declare a dictionary of gigabytes.

tar itself does not compress; only GNU sparse members expand, and every member's declared size is checked
against the budget before a byte is read. Only regular files are yielded; links are listed in meta. Names are
re-decoded (UTF-8, then CP932) from the raw header bytes, and traversal names are flagged, never followed.
"""

from __future__ import annotations

import bz2
import io
import lzma
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from triage.model import JsonValue, NoteKind
from triage.plugins import ArtifactView, Child, DeadlineExceeded, PluginContext
from triage.registry import declared_emits
from triage.unpack.archive_common import (
    UNREADABLE_CORRUPT,
    UNREADABLE_TOO_LARGE,
    Member,
    StreamResult,
    archive_options,
    decode_legacy,
    read_capped,
    report_corrupt,
    report_too_large,
    show,
    stream_child,
)
from triage.unpack.zip import BombLimits, bomb_limits, has_traversal, inflate_limit

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["CompressedStreamUnpacker", "TarUnpacker"]

_IN_CHUNK = 64 * 1024
_OUT_STEP = 1024 * 1024
_XZ_MEMLIMIT = 256 * 1024 * 1024  # xz -9 needs 65 MiB to decode; more is a trap
_BZ2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_LINK_NAMES_KEPT = 20


def _raw_name(name: str) -> str:
    """tarfile decodes names as UTF-8 with surrogateescape: undo that and decode as Japanese senders write."""
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return name
    return decode_legacy(raw)[0]


class TarUnpacker:
    """Regular files out of a tar archive (ustar, GNU, pax), read from memory."""

    name = "tar"
    accepts = frozenset({"tar"})
    emits = declared_emits(__name__, "TarUnpacker")

    def __init__(self) -> None:
        self._opts = archive_options({}, "tar")

    def setup(self, config: Config) -> None:
        self._opts = archive_options(config.unpack_options("tar"), "tar")

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        import tarfile

        data = target.data
        try:
            archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 - closed by `with` below
        except DeadlineExceeded:
            raise
        except Exception as exc:  # hostile bytes: any library error means unreadable
            ctx.note(NoteKind.UNPARSABLE, f"not a readable tar archive: {type(exc).__name__}: {show(str(exc))}")
            return
        links: list[str] = []
        listed = 0
        with archive:
            while True:
                ctx.check_deadline()
                try:
                    info = archive.next()
                except DeadlineExceeded:
                    raise
                except Exception as exc:  # as above
                    ctx.note(NoteKind.UNPARSABLE, f"tar header damaged after {listed} members: {type(exc).__name__}")
                    break
                if info is None:
                    break
                listed += 1
                if listed > self._opts.max_members_listed:
                    ctx.note(
                        NoteKind.LIMIT_FILES,
                        f"listed the first {self._opts.max_members_listed} members; more follow",
                    )
                    break
                name = _raw_name(info.name)
                if info.issym() or info.islnk():
                    if len(links) < _LINK_NAMES_KEPT:
                        links.append(f"{show(name)} -> {show(_raw_name(info.linkname))}")
                    continue
                if not info.isreg():
                    continue
                yield self._member(archive, info, name, ctx)
        if links:
            shown_links: list[JsonValue] = [*links]
            ctx.set_meta("links", shown_links)

    def _member(self, archive: Any, info: Any, name: str, ctx: PluginContext) -> Child:
        mtime = None
        if isinstance(info.mtime, int | float) and 0 < info.mtime < 253402300800:
            mtime = datetime.fromtimestamp(info.mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        extra: dict[str, JsonValue] = {}
        if info.issparse():
            extra["sparse"] = True
        member = Member(name=name, size=int(info.size), mtime=mtime, extra=extra)
        cap = ctx.max_child_size()
        if member.size > cap:
            report_too_large(ctx, name, member.size, cap)
            return member.unreadable(UNREADABLE_TOO_LARGE)
        try:
            stream = archive.extractfile(info)
            if stream is None:
                return member.unreadable(UNREADABLE_CORRUPT)
            content = read_capped(stream, member.size, ctx.check_deadline)
        except DeadlineExceeded:
            raise
        except Exception as exc:  # a member running past the end of the data, and the like
            report_corrupt(ctx, name, f"{type(exc).__name__}: {exc}")
            return member.unreadable(UNREADABLE_CORRUPT)
        if len(content) > member.size:
            report_corrupt(ctx, name, "more data than the header declares")
            return member.unreadable(UNREADABLE_CORRUPT)
        return member.child(content)


# -- single-stream compressors ---------------------------------------------------------------------------------


def _decompressor(kind: str) -> Any:
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=_XZ_MEMLIMIT)


def _decompress(kind: str, data: bytes, stop_at: int, check_deadline: Callable[[], None]) -> StreamResult:
    """Decompress every concatenated stream until the input ends or output reaches `stop_at` bytes."""
    magic = _BZ2_MAGIC if kind == "bzip2" else _XZ_MAGIC
    src = memoryview(data)
    out = bytearray()
    streams = 0
    pos = 0
    pending = b""
    decomp = _decompressor(kind)
    try:
        while len(out) < stop_at:
            check_deadline()
            if decomp.needs_input and not pending:
                if pos >= len(data):
                    return StreamResult(bytes(out), streams, truncated=True, trailing=0)
                pending = bytes(src[pos : pos + _IN_CHUNK])
                pos += len(pending)
            piece = decomp.decompress(pending, min(stop_at - len(out), _OUT_STEP))
            pending = b""
            out += piece
            if decomp.eof:
                streams += 1
                rest = decomp.unused_data + bytes(src[pos : pos + _IN_CHUNK])
                pos = min(len(data), pos + _IN_CHUNK)
                if kind == "xz":
                    rest = rest.lstrip(b"\x00")  # xz allows stream padding between streams
                if not rest.startswith(magic):
                    return StreamResult(bytes(out), streams, truncated=False, trailing=len(rest) + len(data) - pos)
                decomp = _decompressor(kind)
                pending = rest
    except (OSError, EOFError, ValueError, lzma.LZMAError, MemoryError) as exc:
        return StreamResult(bytes(out), streams, truncated=False, trailing=0, error=f"{type(exc).__name__}: {exc}")
    return StreamResult(bytes(out), streams, truncated=False, trailing=0)


_SUFFIXES = {
    "bzip2": ((".tbz2", ".tar"), (".tbz", ".tar"), (".bz2", ""), (".bz", "")),
    "xz": ((".txz", ".tar"), (".xz", "")),
}


def _inner_name(kind: str, name: str | None) -> str | None:
    if not name:
        return None
    lower = name.lower()
    for suffix, replacement in _SUFFIXES[kind]:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)] + replacement
    return None


class CompressedStreamUnpacker:
    """bzip2 and xz files: one child, named from the artifact (``a.tar.xz`` → ``a.tar``)."""

    name = "bzip2-xz"
    accepts = frozenset({"bzip2", "xz"})
    emits = declared_emits(__name__, "CompressedStreamUnpacker")

    def __init__(self) -> None:
        self._bombs = {"bzip2": BombLimits(), "xz": BombLimits()}

    def setup(self, config: Config) -> None:
        self._bombs = {kind: bomb_limits(config.unpack_options(kind), kind) for kind in ("bzip2", "xz")}

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        kind = "bzip2" if "bzip2" in target.types else "xz"
        bombs = self._bombs[kind]
        data = target.data
        name = _inner_name(kind, target.name)
        meta: dict[str, JsonValue] = {"compressed_size": len(data), "format": kind}
        if name is not None and has_traversal(name):
            meta["path_traversal"] = True
        shown = name or target.name or target.id

        cap = ctx.max_child_size()
        result = _decompress(kind, data, inflate_limit(cap, bombs, len(data)), ctx.check_deadline)
        yield stream_child(
            ctx, result, kind=kind, compressed=len(data), bombs=bombs, cap=cap, name=name, shown=shown, meta=meta
        )
