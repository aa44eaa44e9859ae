"""RAR archives (RAR4 and RAR5): rarfile parses the headers in-process; Debian's ``unar`` decompresses.

Why not rarfile's own extraction: with an in-memory archive it writes the archive (or a one-member copy of it)
to a temp file under /tmp and reads the tool's stdout with no time or size bound. Here the archive is put in a
memfd (an anonymous in-memory file: nothing reaches a disk) that the child inherits; ``unar`` reads it through
``/proc/self/fd/N`` and writes the member chosen by *index* (never by name: names are wildcard patterns to
these tools) to stdout. The child gets an argv list (no shell), a minimal environment, its own session, and is
killed when its output passes the member's declared size or the scan's deadline. Debian's ``7zz`` has no RAR
codec (non-free), so ``unar`` is the backend. Stored, unencrypted members are read by rarfile in-process.

Passwords: RAR5 header encryption carries a check value, so rarfile verifies a guess in-process; an encrypted
member is opened by running ``unar -p`` on the smallest encrypted member for each candidate (the password is one
argv item: visible in the process table of this host for the child's lifetime, never to a shell).
"""

from __future__ import annotations

import io
import os
import selectors
import shutil
import subprocess
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triage.model import JsonValue, NoteKind
from triage.plugins import ArtifactView, Child, DeadlineExceeded, PluginContext
from triage.registry import declared_emits
from triage.unpack.archive_common import (
    UNREADABLE_BOMB,
    UNREADABLE_CORRUPT,
    UNREADABLE_ENCRYPTED,
    UNREADABLE_TOO_LARGE,
    Member,
    archive_options,
    read_capped,
    report_bomb,
    report_corrupt,
    report_too_large,
    show,
)
from triage.unpack.trials import report_no_password, report_opened, try_passwords

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["RarUnpacker"]

_UNAR = "unar"
_STORED = 0x30  # RAR_M0
_OS_WIN32 = 2
_READ_STEP = 64 * 1024
_STDERR_KEPT = 2048
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
_DEFAULT_ATTEMPTS = 40
# RAR5 header encryption derives its key with 2^n PBKDF2-SHA256 rounds, n from the archive (rarfile allows 24:
# several seconds a guess, in one call no deadline check reaches). WinRAR writes 15; 20 still costs well under a
# second a guess.
_MAX_KDF_SHIFT = 20


class _ToolError(Exception):
    """unar could not produce the member; the message says why."""


@dataclass(frozen=True)
class _Entry:
    index: int  # position in the archive's entry list, as unar's -i counts
    info: Any
    member: Member
    stored: bool
    crc: int | None  # CRC-32 to verify, when the format gives a usable one


def _mtime(info: Any) -> str | None:
    try:
        y, mo, d, h, mi, s = info.date_time
        return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
    except (AttributeError, TypeError, ValueError):
        return None


def _entries(archive: Any) -> list[_Entry]:
    out: list[_Entry] = []
    for index, info in enumerate(archive.infolist()):
        if info.is_dir():
            continue
        encrypted = bool(info.needs_password())
        attributes = info.mode if getattr(info, "host_os", None) == _OS_WIN32 else None
        hidden, system = Member.attributes(attributes if isinstance(attributes, int) else None)
        extra: dict[str, JsonValue] = {"format": f"RAR{5 if type(info).__name__.startswith('Rar5') else 4}"}
        if info.is_symlink():
            extra["symlink"] = True
        member = Member(
            name=str(info.filename),
            size=int(info.file_size or 0),
            compressed=int(info.compress_size or 0),
            encrypted=encrypted,
            hidden=hidden,
            system=system,
            mtime=_mtime(info),
            extra=extra,
        )
        crc = info.CRC if isinstance(info.CRC, int) and not encrypted else None
        out.append(_Entry(index, info, member, info.compress_type == _STORED and not encrypted, crc))
    return out


class _Memfd:
    """The archive in an anonymous in-memory file a child process can open by path; closed on exit."""

    def __init__(self, data: bytes) -> None:
        self.fd = os.memfd_create("triage-rar", os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except BaseException:
            os.close(self.fd)
            raise

    @property
    def path(self) -> str:
        return f"/proc/self/fd/{self.fd}"

    def __enter__(self) -> _Memfd:
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)


def _run_unar(tool: str, archive: _Memfd, index: int, password: str, limit: int, ctx: PluginContext) -> bytes:
    """Member `index` from unar's stdout; at most `limit` bytes, within the scan's deadline."""
    # The password comes from the message: it is only ever the value of -p (unar takes the next argument whatever
    # it looks like), and "--" ends the options before the positional arguments.
    argv = [tool, "-q", "-nr", "-D", "-o", "-", "-p", password, "-i", "--", archive.path, str(index)]
    proc = subprocess.Popen(  # noqa: S603 - argv list, no shell; content only as -p's value; the archive is a memfd
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(archive.fd,),
        env=_ENV,
        start_new_session=True,
    )
    out = bytearray()
    err = bytearray()
    try:
        assert proc.stdout is not None and proc.stderr is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            selector.register(proc.stderr, selectors.EVENT_READ)
            open_streams = 2
            while open_streams:
                ctx.check_deadline()
                wait = max(0.0, min(0.5, ctx.remaining_seconds()))
                for key, _ in selector.select(timeout=wait):
                    piece = os.read(key.fd, _READ_STEP)
                    if not piece:
                        selector.unregister(key.fileobj)
                        open_streams -= 1
                    elif key.fileobj is proc.stdout:
                        out += piece
                        if len(out) > limit:
                            raise _ToolError("output runs past the declared size")
                    elif len(err) < _STDERR_KEPT:
                        err += piece
        deadline = time.monotonic() + max(0.1, min(5.0, ctx.remaining_seconds()))
        while proc.poll() is None:
            ctx.check_deadline()
            if time.monotonic() > deadline:
                raise _ToolError("unar did not exit")
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    if proc.returncode != 0:
        detail = bytes(err).decode("utf-8", "replace").strip().splitlines()
        raise _ToolError(f"unar exit {proc.returncode}" + (f": {detail[-1]}" if detail else ""))
    return bytes(out)


class RarUnpacker:
    """Lists RAR members with rarfile, extracts them in memory through unar."""

    name = "rar"
    accepts = frozenset({"rar"})
    emits = declared_emits(__name__, "RarUnpacker")

    def __init__(self) -> None:
        self._opts = archive_options({}, "rar", default_attempts=_DEFAULT_ATTEMPTS)

    def setup(self, config: Config) -> None:
        self._opts = archive_options(config.unpack_options("rar"), "rar", default_attempts=_DEFAULT_ATTEMPTS)

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        import rarfile

        data = target.data
        archive_name = target.name or target.id
        try:
            archive = rarfile.RarFile(io.BytesIO(data))
            header_encrypted = not archive.infolist() and archive.needs_password()
        except DeadlineExceeded:
            raise
        except Exception as exc:  # hostile bytes: any library error means unreadable
            ctx.note(NoteKind.UNPARSABLE, f"not a readable RAR archive: {type(exc).__name__}: {show(str(exc))}")
            return
        password: str | None = None
        if header_encrypted:
            ctx.set_meta("encrypted", True)
            ctx.set_meta("header_encrypted", True)
            ctx.emit("ARCHIVE_ENCRYPTED", (show(archive_name), "RAR header encryption: member names hidden"))

            def open_headers(pw: str) -> Any:
                try:
                    candidate = rarfile.RarFile(io.BytesIO(data))
                    candidate.setpassword(pw)
                    return candidate if candidate.infolist() else None
                except DeadlineExceeded:
                    raise
                except Exception:  # a wrong password: check value mismatch or noise
                    return None

            kdf = getattr(getattr(archive._file_parser, "_hdrenc_main", None), "encryption_kdf_count", None)
            if isinstance(kdf, int) and kdf > _MAX_KDF_SHIFT:
                why = f"header key derivation asks for 2^{kdf} rounds a guess (limit 2^{_MAX_KDF_SHIFT}): not tried"
                report_no_password(ctx, archive_name, 0, why=why)
                return
            opened, tried = try_passwords(ctx, open_headers, max_attempts=self._opts.max_attempts, kind="archive")
            if opened is None:
                report_no_password(ctx, archive_name, tried, why="header encryption hides the member names")
                return
            report_opened(ctx, opened.candidate)
            password = opened.candidate.value
            archive = opened.value
        try:
            entries = _entries(archive)
            # rarfile stops at the first bad header and keeps what it listed: a damaged or truncated archive
            # may hide members, so it can never count as fully read.
            damaged = getattr(archive._file_parser, "_parse_error", None)
        except DeadlineExceeded:
            raise
        except Exception as exc:  # as above
            ctx.note(NoteKind.UNPARSABLE, f"RAR member list unreadable: {type(exc).__name__}")
            return
        if damaged or not archive.infolist():
            why = show(str(damaged)) if damaged else "no members listed"
            ctx.note(NoteKind.UNPARSABLE, f"RAR headers damaged after {len(entries)} member(s): {why}")
        if archive.is_solid():
            ctx.set_meta("solid", True)
        if len(entries) > self._opts.max_members_listed:
            ctx.note(NoteKind.LIMIT_FILES, f"listed the first {self._opts.max_members_listed} of {len(entries)}")
            entries = entries[: self._opts.max_members_listed]
        yield from self._members(archive, data, archive_name, entries, password, ctx)

    def _members(
        self,
        archive: Any,
        data: bytes,
        archive_name: str,
        entries: list[_Entry],
        password: str | None,
        ctx: PluginContext,
    ) -> Iterator[Child]:
        tool = shutil.which(_UNAR, path=_ENV["PATH"])
        needs_tool = [e for e in entries if not e.stored]
        if needs_tool and tool is None:
            ctx.note(NoteKind.UNPARSABLE, "RAR members not extracted: unar is not installed")
        if not hasattr(os, "memfd_create"):
            tool = None
        encrypted = [e for e in entries if e.member.encrypted]
        with _Memfd(data) if needs_tool and tool is not None else _NoFile() as fd:
            if encrypted and password is None:
                ctx.set_meta("encrypted", True)
                ctx.emit("ARCHIVE_ENCRYPTED", (show(archive_name), f"{len(encrypted)} encrypted member(s)"))
                probe = min(encrypted, key=lambda e: e.member.size)
                opened = None
                tried = 0
                if tool is not None and isinstance(fd, _Memfd) and probe.member.size <= ctx.max_child_size():
                    probe_tool, probe_fd = tool, fd

                    def attempt(pw: str) -> bytes | None:
                        try:
                            content = _run_unar(probe_tool, probe_fd, probe.index, pw, probe.member.size, ctx)
                        except _ToolError:
                            return None
                        return content if len(content) == probe.member.size else None

                    opened, tried = try_passwords(ctx, attempt, max_attempts=self._opts.max_attempts, kind="archive")
                if opened is None:
                    report_no_password(ctx, archive_name, tried)
                    for entry in encrypted:
                        yield entry.member.unreadable(UNREADABLE_ENCRYPTED)
                    entries = [e for e in entries if not e.member.encrypted]
                else:
                    report_opened(ctx, opened.candidate)
                    password = opened.candidate.value
            for entry in entries:
                ctx.check_deadline()
                yield self._member(archive, entry, tool, fd if isinstance(fd, _Memfd) else None, password, ctx)

    def _member(
        self,
        archive: Any,
        entry: _Entry,
        tool: str | None,
        fd: _Memfd | None,
        password: str | None,
        ctx: PluginContext,
    ) -> Child:
        member = entry.member
        bombs = self._opts.bombs
        if member.compressed and bombs.declared_bomb(member.size, member.compressed):
            report_bomb(ctx, bombs, member.name, member.size, member.compressed, declared=True)
            return member.unreadable(UNREADABLE_BOMB)
        cap = ctx.max_child_size()
        if member.size > cap:
            report_too_large(ctx, member.name, member.size, cap)
            return member.unreadable(UNREADABLE_TOO_LARGE)
        try:
            if entry.stored:
                with archive.open(entry.info) as stream:
                    content = read_capped(stream, member.size, ctx.check_deadline)
            elif tool is None or fd is None:
                return member.unreadable("no RAR decompressor available")
            else:
                content = _run_unar(tool, fd, entry.index, password or "", member.size, ctx)
        except DeadlineExceeded:
            raise
        except Exception as exc:  # rarfile and unar failures alike mean "not readable"
            report_corrupt(ctx, member.name, f"{type(exc).__name__}: {exc}")
            return member.unreadable(UNREADABLE_CORRUPT)
        if len(content) != member.size or (entry.crc is not None and zlib.crc32(content) != entry.crc):
            report_corrupt(ctx, member.name, "content does not match the header's size or CRC")
            return member.unreadable(UNREADABLE_CORRUPT)
        return member.child(content)


class _NoFile:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None
