"""ISO 9660 / Joliet / Rock Ridge / UDF disk images (pycdlib, from a BytesIO): malspam's .iso and .img files.

Windows mounts an image on double-click and shows its UDF tree when there is one, else Joliet; so the members
are listed from the namespace Explorer would show (UDF, Joliet, Rock Ridge, then plain ISO 9660) and the
namespace is recorded in meta. The usual payload is a visible .lnk beside a hidden DLL or script: the hidden
flag (ISO 9660 "existence" bit, UDF file characteristic 0x01) goes into each member's meta as ``hidden``.

pycdlib looks files up by path, which a crafted name (a "/" inside a UDF name, duplicates) can defeat, so the
tree is walked through pycdlib's parsed records and each file is read through its inode, in bounded steps.
VHD/VHDX images are not handled here (they stay an `unparsable` note from the engine).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triage.model import NoteKind
from triage.plugins import ArtifactView, Child, DeadlineExceeded, PluginContext
from triage.unpack.archive_common import (
    UNREADABLE_CORRUPT,
    UNREADABLE_TOO_LARGE,
    Member,
    archive_options,
    read_capped,
    report_corrupt,
    report_too_large,
    show,
)

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["IsoUnpacker"]

_MAX_DEPTH = 64  # directory nesting walked; deeper trees are noted
_ISO_HIDDEN = 0x01  # ISO 9660 file flags bit 0: "existence" (hidden)
_UDF_HIDDEN = 0x01  # UDF File Identifier Descriptor characteristics bit 0


@dataclass(frozen=True)
class _File:
    path: str
    size: int
    hidden: bool
    inode: Any


def _iso_name(rec: Any, namespace: str) -> str:
    if namespace == "rock_ridge" and rec.rock_ridge is not None:
        with contextlib.suppress(Exception):  # a damaged RR entry: fall back to the ISO name
            return bytes(rec.rock_ridge.name()).decode("utf-8", "replace")
    raw = bytes(rec.file_identifier())
    if namespace == "joliet":
        return raw.decode("utf-16-be", "replace")
    name = raw.decode("latin-1")
    if ";" in name:
        name = name.rsplit(";", 1)[0]
    return name[:-1] if name.endswith(".") else name  # "README.;1": a name without an extension


def _walk(iso: Any, namespace: str, limit: int, ctx: PluginContext) -> tuple[list[_File], str | None]:
    """The files of one namespace (at most `limit`), and why the walk stopped early, if it did."""
    files: list[_File] = []
    if namespace == "udf":
        stack: list[tuple[Any, str, int]] = [(iso.udf_root, "", 0)]
    elif namespace == "joliet":
        stack = [(iso.joliet_vd.root_directory_record(), "", 0)]
    else:
        stack = [(iso.pvd.root_directory_record(), "", 0)]
    seen: set[int] = set()
    stopped: str | None = None
    while stack:
        ctx.check_deadline()
        directory, prefix, depth = stack.pop()
        if id(directory) in seen:
            continue
        seen.add(id(directory))
        if depth > _MAX_DEPTH:
            stopped = f"directories nested deeper than {_MAX_DEPTH}"
            continue
        for name, rec, hidden in _children(directory, namespace):
            if len(files) >= limit:
                return files, f"listed the first {limit} files (max_members_listed)"
            path = f"{prefix}{name}"
            if rec.is_dir():
                stack.append((rec, path + "/", depth + 1))
            elif rec.is_file() and rec.inode is not None:
                files.append(_File(path=path, size=int(rec.get_data_length()), hidden=hidden, inode=rec.inode))
    return files, stopped


def _children(directory: Any, namespace: str) -> Iterator[tuple[str, Any, bool]]:
    if namespace == "udf":
        for fid in list(directory.fi_descs.values()):
            if fid.is_parent() or fid.file_entry is None:
                continue
            encoding = fid.encoding or "latin-1"
            name = bytes(fid.fi).decode(encoding, "replace")
            yield name, fid.file_entry, bool(fid.file_characteristics & _UDF_HIDDEN)
        return
    for rec in list(directory.children):
        if rec is None or rec.is_dot() or rec.is_dotdot():
            continue
        yield _iso_name(rec, namespace), rec, bool(rec.file_flags & _ISO_HIDDEN)


class IsoUnpacker:
    """Files out of an ISO 9660 / UDF image, with the namespace Windows would show."""

    name = "iso"
    accepts = frozenset({"iso"})
    emits: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self._opts = archive_options({}, "iso")

    def setup(self, config: Config) -> None:
        self._opts = archive_options(config.unpack_options("iso"), "iso")

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        import pycdlib

        iso = pycdlib.PyCdlib()
        try:
            iso.open_fp(io.BytesIO(target.data))
            namespace = (
                "udf"
                if iso.has_udf()
                else "joliet"
                if iso.has_joliet()
                else "rock_ridge"
                if iso.has_rock_ridge()
                else "iso9660"
            )
            files, stopped = _walk(iso, namespace, self._opts.max_members_listed, ctx)
        except DeadlineExceeded:
            raise
        except Exception as exc:  # hostile bytes: any library error means unreadable
            ctx.note(NoteKind.UNPARSABLE, f"not a readable ISO/UDF image: {type(exc).__name__}: {show(str(exc))}")
            return
        ctx.set_meta("namespace", namespace)
        if stopped:
            ctx.note(NoteKind.LIMIT_FILES, stopped)
        hidden = [f.path for f in files if f.hidden]
        if hidden:
            ctx.set_meta("hidden_files", len(hidden))
        block = int(iso.logical_block_size)
        for entry in files:
            ctx.check_deadline()
            yield self._member(entry, block, namespace, ctx)

    def _member(self, entry: _File, block: int, namespace: str, ctx: PluginContext) -> Child:
        from pycdlib.pycdlibio import PyCdlibIO

        member = Member(name=entry.path, size=entry.size, hidden=entry.hidden, extra={"namespace": namespace})
        cap = ctx.max_child_size()
        if entry.size > cap:
            report_too_large(ctx, entry.path, entry.size, cap)
            return member.unreadable(UNREADABLE_TOO_LARGE)
        try:
            with PyCdlibIO(entry.inode, block) as stream:
                content = read_capped(stream, entry.size, ctx.check_deadline)
        except DeadlineExceeded:
            raise
        except Exception as exc:  # an extent pointing outside the image, and the like
            report_corrupt(ctx, entry.path, f"{type(exc).__name__}: {exc}")
            return member.unreadable(UNREADABLE_CORRUPT)
        return member.child(content)
