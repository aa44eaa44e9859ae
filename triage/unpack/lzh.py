"""LZH / LHA archives (lhafile): still sent by Japanese senders, and by attackers imitating them.

lhafile parses the headers (levels 0-2) from a BytesIO and supports -lh0- (stored), -lh5-, -lh6-, -lh7- and
directories; other methods (-lh1-, -lzs-, level 3 headers...) make it refuse the whole archive, which becomes an
`unparsable` note. Its `read()` decodes a member in one call, so members are decoded here through lhafile's
own `lzhlib` session, one step (about 64 KiB) at a time, with a deadline check and an output bound per step.
Names are stored as raw bytes (lhafile hands them over as Latin-1): they are re-decoded as CP932 after UTF-8,
with the "\\" and 0xFF path separators Japanese archivers write shown as "/".
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from triage.model import JsonValue, NoteKind
from triage.plugins import ArtifactView, Child, DeadlineExceeded, PluginContext
from triage.registry import declared_emits
from triage.unpack.archive_common import (
    UNREADABLE_BOMB,
    UNREADABLE_CORRUPT,
    UNREADABLE_TOO_LARGE,
    Member,
    archive_options,
    decode_legacy,
    report_bomb,
    report_corrupt,
    report_too_large,
    show,
)

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["LzhUnpacker"]

_DIRECTORY = b"-lhd-"


def _name(latin1: str) -> tuple[str, str]:
    raw = latin1.encode("latin-1", "replace").replace(b"\xff", b"/")
    name, encoding = decode_legacy(raw)
    return name, encoding


def _open(data: bytes) -> Any:
    import lhafile

    try:
        return lhafile.LhaFile(io.BytesIO(data))
    except lhafile.BadLhafile:
        if data.endswith(b"\x00"):
            raise
    # Some archivers omit the final zero byte that lhafile needs to see the end.
    return lhafile.LhaFile(io.BytesIO(data + b"\x00"))


def _decode(data: bytes, info: Any, limit: int, ctx: PluginContext) -> tuple[bytes, int]:
    """(content, CRC-16) of one member, decoded step by step; raises ValueError past `limit` bytes."""
    import lzhlib  # lhafile's C decoder, no stubs

    fin = io.BytesIO(data[info.file_offset : info.file_offset + info.compress_size])
    fout = io.BytesIO()
    session = lzhlib.LZHDecodeSession(fin, fout, info)
    while True:
        ctx.check_deadline()
        done = session.do_next()
        if fout.tell() > limit:
            raise ValueError("member decodes past its declared size")
        if done:
            break
    return fout.getvalue(), int(session.crc16)


class LzhUnpacker:
    """Lists and decodes LZH members."""

    name = "lzh"
    accepts = frozenset({"lzh"})
    emits = declared_emits(__name__, "LzhUnpacker")

    def __init__(self) -> None:
        self._opts = archive_options({}, "lzh")

    def setup(self, config: Config) -> None:
        self._opts = archive_options(config.unpack_options("lzh"), "lzh")

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        data = target.data
        try:
            archive = _open(data)
            infos = list(archive.infolist())
        except DeadlineExceeded:
            raise
        except Exception as exc:  # hostile bytes: any library error means unreadable
            ctx.note(NoteKind.UNPARSABLE, f"not a readable LZH archive: {type(exc).__name__}: {show(str(exc))}")
            return
        if len(infos) > self._opts.max_members_listed:
            ctx.note(
                NoteKind.LIMIT_FILES,
                f"listed the first {self._opts.max_members_listed} of {len(infos)} members (max_members_listed)",
            )
            infos = infos[: self._opts.max_members_listed]
        for info in infos:
            ctx.check_deadline()
            if info.compress_type == _DIRECTORY:
                continue
            yield self._member(data, info, ctx)

    def _member(self, data: bytes, info: Any, ctx: PluginContext) -> Child:
        name, encoding = _name(str(info.filename))
        method = bytes(info.compress_type).decode("ascii", "replace")
        extra: dict[str, JsonValue] = {"compress_type": method, "name_encoding": encoding}
        if info.comment:
            extra["comment"] = show(_name(str(info.comment))[0])
        try:
            mtime: str | None = info.date_time.strftime("%Y-%m-%dT%H:%M:%S")
        except (AttributeError, ValueError):
            mtime = None
        member = Member(
            name=name, size=int(info.file_size), compressed=int(info.compress_size), mtime=mtime, extra=extra
        )
        bombs = self._opts.bombs
        if bombs.declared_bomb(member.size, int(info.compress_size)):
            report_bomb(ctx, bombs, name, member.size, int(info.compress_size), declared=True)
            return member.unreadable(UNREADABLE_BOMB)
        cap = ctx.max_child_size()
        if member.size > cap:
            report_too_large(ctx, name, member.size, cap)
            return member.unreadable(UNREADABLE_TOO_LARGE)
        try:
            content, crc = _decode(data, info, member.size, ctx)
        except DeadlineExceeded:
            raise
        except Exception as exc:  # the decoder rejects noise with assorted errors
            report_corrupt(ctx, name, f"{type(exc).__name__}: {exc}")
            return member.unreadable(UNREADABLE_CORRUPT)
        if crc != info.CRC:
            report_corrupt(ctx, name, "CRC mismatch")
            return member.unreadable(UNREADABLE_CORRUPT)
        return member.child(content)
