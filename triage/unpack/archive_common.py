"""What the non-zip archive unpackers (7z, RAR, LZH, tar, ISO, CAB) share: option parsing, member names and
metadata, the bomb / size-budget / corrupt outcomes reported the same way as zip.py does, and bounded reads;
and, for the single-stream compressors (gzip, bzip2, xz), one way to turn a bounded decompression into a child.

Bomb thresholds, traversal detection and evidence escaping come from `triage.unpack.zip` (one definition);
this module only adds what every "list, check declared sizes, read into memory" unpacker repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from triage.errors import ConfigError
from triage.model import JsonValue, NoteKind
from triage.plugins import Child, PluginContext
from triage.unpack.zip import (
    UNREADABLE_BOMB,
    UNREADABLE_CORRUPT,
    UNREADABLE_ENCRYPTED,
    UNREADABLE_TOO_LARGE,
    BombLimits,
    bomb_limits,
    has_traversal,
    show,
)

__all__ = [
    "UNREADABLE_BOMB",
    "UNREADABLE_CORRUPT",
    "UNREADABLE_ENCRYPTED",
    "UNREADABLE_TOO_LARGE",
    "ArchiveOptions",
    "Member",
    "StreamResult",
    "archive_options",
    "decode_legacy",
    "read_capped",
    "report_bomb",
    "report_corrupt",
    "report_too_large",
    "show",
    "stream_child",
]

_READ_STEP = 1024 * 1024
# FILE_ATTRIBUTE_* bits that Explorer acts on: a hidden DLL beside a visible .lnk is the ISO/IMG malspam pattern.
_ATTR_HIDDEN = 0x2
_ATTR_SYSTEM = 0x4


@dataclass(frozen=True)
class ArchiveOptions:
    """An archive unpacker's options: bomb limits, how many members to list, how many passwords to try."""

    bombs: BombLimits
    max_members_listed: int
    max_attempts: int


def _positive_int(options: Mapping[str, Any], key: str, default: int, section: str) -> int:
    value: object = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"[unpack.{section}] {key} must be a non-negative integer")
    return value


def archive_options(
    options: Mapping[str, Any], section: str, *, default_members: int = 5000, default_attempts: int | None = None
) -> ArchiveOptions:
    """bomb_ratio, bomb_min_size, max_members_listed and (when `default_attempts` is given) max_attempts;
    any other key is an error at start-up."""
    extra = {"max_members_listed"} | ({"max_attempts"} if default_attempts is not None else set())
    bombs = bomb_limits(options, section, frozenset(extra))
    listed = _positive_int(options, "max_members_listed", default_members, section)
    attempts = _positive_int(options, "max_attempts", default_attempts or 0, section)
    return ArchiveOptions(bombs=bombs, max_members_listed=listed, max_attempts=attempts)


def decode_legacy(raw: bytes) -> tuple[str, str]:
    """A member name stored without a declared charset: UTF-8, then CP932 (Japanese Windows archivers), then
    Latin-1 (never fails). Returns (name, encoding)."""
    if raw.isascii():
        return raw.decode("ascii"), "ascii"
    for codec in ("utf-8", "cp932"):
        try:
            return raw.decode(codec), codec
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1"), "latin-1"


@dataclass(frozen=True)
class Member:
    """One listed archive member, as every unpacker here reports it."""

    name: str
    size: int  # declared uncompressed size
    compressed: int | None = None  # declared stored size, when the format has one per member
    encrypted: bool = False
    hidden: bool = False
    system: bool = False
    mtime: str | None = None
    extra: Mapping[str, JsonValue] | None = None

    @staticmethod
    def attributes(attr: int | None) -> tuple[bool, bool]:
        """(hidden, system) from Windows FILE_ATTRIBUTE_* bits."""
        if attr is None:
            return False, False
        return bool(attr & _ATTR_HIDDEN), bool(attr & _ATTR_SYSTEM)

    def meta(self) -> dict[str, JsonValue]:
        meta: dict[str, JsonValue] = {"encrypted": self.encrypted}
        if self.compressed is not None:
            meta["compressed_size"] = self.compressed
        if self.mtime:
            meta["mtime"] = self.mtime
        if self.hidden:
            meta["hidden"] = True
        if self.system:
            meta["system"] = True
        if has_traversal(self.name):
            meta["path_traversal"] = True
        if self.extra:
            meta.update(self.extra)
        return meta

    def unreadable(self, reason: str, meta: Mapping[str, JsonValue] | None = None) -> Child:
        return Child(
            data=None, name=self.name, declared_size=self.size, meta={**(meta or self.meta()), "unreadable": reason}
        )

    def child(self, data: bytes, meta: Mapping[str, JsonValue] | None = None) -> Child:
        out = dict(meta or self.meta())
        if len(data) != self.size:
            out["declared_size_differs"] = True
        return Child(data=data, name=self.name, declared_size=self.size, meta=out)


def report_bomb(
    ctx: PluginContext, bombs: BombLimits, name: str, size: int, compressed: int, *, declared: bool
) -> None:
    """ARCHIVE_BOMB and a limit_size Note, worded as zip.py words them."""
    ratio = size / compressed if compressed else float("inf")
    how = "declares" if declared else "inflated past"
    ctx.emit("ARCHIVE_BOMB", (show(name), f"ratio {ratio:.0f}:1", f"{how} {size} bytes from {compressed}"))
    ctx.note(
        NoteKind.LIMIT_SIZE,
        f"{show(name)!r} not extracted: a decompression bomb (ratio {ratio:.0f}:1 over {bombs.ratio:g})",
    )


def report_too_large(ctx: PluginContext, name: str, size: int, cap: int) -> None:
    ctx.note(NoteKind.LIMIT_SIZE, f"member {show(name)!r} declares {size} bytes; the size budget has {cap} left")


def report_corrupt(ctx: PluginContext, name: str, detail: str) -> None:
    ctx.note(NoteKind.UNPARSABLE, f"member {show(name)!r}: {show(detail, 300)}")


def read_capped(stream: BinaryIO, limit: int, check_deadline: Callable[[], None]) -> bytes:
    """Up to `limit` + 1 bytes from `stream` (one more than allowed tells the caller it was too long)."""
    out = bytearray()
    while len(out) <= limit:
        check_deadline()
        piece = stream.read(min(_READ_STEP, limit + 1 - len(out)))
        if not piece:
            break
        out += piece
    return bytes(out)


@dataclass(frozen=True)
class StreamResult:
    """A single-stream decompression, stopped at its output bound: what came out and how it ended."""

    data: bytes
    streams: int  # concatenated members decoded (cat a.gz b.gz; pbzip2)
    truncated: bool  # the input ended inside a stream
    trailing: int  # bytes after the last stream that are not another stream
    error: str | None = None  # the stream is corrupt


def stream_child(
    ctx: PluginContext,
    result: StreamResult,
    *,
    kind: str,
    compressed: int,
    bombs: BombLimits,
    cap: int,
    name: str | None,
    shown: str,
    meta: dict[str, JsonValue],
    count_key: str = "streams",
) -> Child:
    """The one child of a gzip / bzip2 / xz file, or an unreadable child with the bomb, budget or corrupt
    outcome reported; a truncated stream yields what it held, with a Note (the verdict cannot be complete)."""
    produced = len(result.data)

    def unreadable(reason: str) -> Child:
        return Child(data=None, name=name, meta={**meta, "unreadable": reason})

    if produced >= bombs.threshold(compressed):
        report_bomb(ctx, bombs, shown, produced, compressed, declared=False)
        return unreadable(UNREADABLE_BOMB)
    if produced > cap:
        ctx.note(NoteKind.LIMIT_SIZE, f"{show(shown)!r} decompresses past the size budget ({cap} bytes left)")
        return unreadable(UNREADABLE_TOO_LARGE)
    if result.error is not None:
        ctx.note(NoteKind.UNPARSABLE, f"{show(shown)!r}: corrupt {kind} data ({show(result.error)})")
        return unreadable(UNREADABLE_CORRUPT)
    if result.streams > 1:
        meta[count_key] = result.streams
    if result.trailing:
        meta["trailing_bytes"] = result.trailing
    if result.truncated:
        meta["truncated"] = True
        ctx.note(NoteKind.UNPARSABLE, f"{show(shown)!r}: {kind} stream ends early; {produced} bytes recovered")
    return Child(data=result.data, name=name, meta=meta)
