"""7z archives (py7zr): members read into memory, encrypted content and encrypted headers opened with the
message's password candidates, bombs flagged before anything is decompressed.

py7zr reads from a BytesIO. Its public `extract(factory=...)` rejects the whole archive when one name has a
"../" and keys its writers by (renamed) names, so members are handed to py7zr's `Worker` directly, one
in-memory sink per member id, never a path: nothing touches the disk whatever the names say. py7zr stops each
member at its declared size, so declared sizes are checked first (size budget, ratio → ARCHIVE_BOMB); the sinks
check the deadline on every write. The encoded header's declared size is checked before py7zr decodes it.

7-Zip derives its AES key with 2^19 SHA-256 rounds (about 0.15 s in py7zr), so wrong guesses are expensive:
`[unpack.sevenzip] max_attempts` bounds them separately from the global `[passwords] max_attempts`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

from triage.model import JsonValue, NoteKind
from triage.plugins import ArtifactView, Child, DeadlineExceeded, PluginContext
from triage.registry import declared_emits
from triage.unpack.archive_common import (
    UNREADABLE_BOMB,
    UNREADABLE_CORRUPT,
    UNREADABLE_ENCRYPTED,
    UNREADABLE_TOO_LARGE,
    ArchiveOptions,
    Member,
    archive_options,
    report_bomb,
    report_corrupt,
    report_too_large,
    show,
)
from triage.unpack.trials import report_no_password, report_opened, try_passwords

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["SevenZipUnpacker"]

_SIGNATURE = b"7z\xbc\xaf\x27\x1c"
_START_HEADER = struct.Struct("<6s2BLQQL")  # signature, version, start-header CRC, next header offset/size/CRC
_ENCODED_HEADER = 0x17
# A real header costs tens of bytes per member; py7zr builds Python objects for every entry, so a header
# decoding to hundreds of MiB is a memory bomb of its own.
_MAX_HEADER = 8 * 1024 * 1024
_DEFAULT_ATTEMPTS = 40
_AES = b"\x06\xf1\x07\x01"
_LZMA2 = b"\x21"
_LZMA = b"\x03\x01\x01"
# 7-Zip writes 2^19 rounds. Each extra power doubles the cost of every guess; an archive asking for more is
# refused rather than allowed to burn the scan's time.
_MAX_CYCLES = 20
_KEY_CHUNK = 1 << 16  # counters hashed per buffer when deriving a key
_START = 32  # the signature header; packed streams start after it


class _Unopenable(Exception):
    """py7zr cannot read the archive's structure; the message says why."""


class _TooLarge(Exception):
    """A member wrote past the bytes it was allowed."""


def _io_classes() -> tuple[type[Any], type[Any]]:
    """py7zr's writer interfaces, implemented in memory (py7zr is imported on first use, not at start-up)."""
    from py7zr.io import Py7zIO, WriterFactory

    class Sink(Py7zIO):
        """One member's bytes; stops at its limit and checks the deadline on every write."""

        def __init__(self, limit: int, ctx: PluginContext) -> None:
            # BytesIO rather than bytearray: getvalue() hands its buffer over without a second copy.
            self.buffer = io.BytesIO()
            self.limit = limit
            self.ctx = ctx
            self.done = False

        def write(self, s: bytes | bytearray) -> int:
            self.ctx.check_deadline()
            if self.buffer.tell() + len(s) > self.limit:
                raise _TooLarge
            return self.buffer.write(s)

        def read(self, size: int | None = None) -> bytes:
            return b""

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

        def flush(self) -> None:
            return None

        def size(self) -> int:
            return self.buffer.tell()

        def close(self) -> None:
            self.done = True

    class Factory(WriterFactory):
        """One sink per member id (the MemIO name we gave it), limited to the member's declared size."""

        def __init__(self, limits: dict[str, int], ctx: PluginContext) -> None:
            self.limits = limits
            self.ctx = ctx
            self.sinks: dict[str, Sink] = {}

        def create(self, filename: str) -> Sink:
            sink = Sink(self.limits.get(filename, 0), self.ctx)
            self.sinks[filename] = sink
            return sink

    return Sink, Factory


def _check_header_size(data: bytes) -> None:
    """Refuse an encoded header that declares more than _MAX_HEADER decoded bytes, before py7zr decodes it."""
    if len(data) < _START_HEADER.size:
        raise _Unopenable("shorter than the 7z start header")
    _, _, _, _, offset, size, _ = _START_HEADER.unpack_from(data)
    start = _START_HEADER.size + offset
    if size > _MAX_HEADER:
        raise _Unopenable(f"header of {size} bytes")
    if start + size > len(data) or size == 0:
        return  # py7zr reports this itself
    if data[start] != _ENCODED_HEADER:
        return
    from py7zr.archiveinfo import HeaderStreamsInfo

    buffer = io.BytesIO(data[start + 1 : start + size])
    try:
        streams = HeaderStreamsInfo.retrieve(buffer)
        declared = sum(int(folder.unpacksizes[-1]) for folder in streams.unpackinfo.folders if folder.unpacksizes)
    except DeadlineExceeded:
        raise
    except Exception as exc:  # hostile bytes: any library error means unreadable
        raise _Unopenable(f"encoded header unreadable ({type(exc).__name__})") from exc
    if declared > _MAX_HEADER:
        raise _Unopenable(f"encoded header declares {declared} decoded bytes (limit {_MAX_HEADER})")


def _open(data: bytes, password: str | None) -> Any:
    import py7zr

    _use_fast_key_derivation()
    return py7zr.SevenZipFile(io.BytesIO(data), mode="r", password=password)


def _use_fast_key_derivation() -> None:
    """Have py7zr derive AES keys with `_derive_key` (the same key, about six times faster).

    py7zr derives the key again for the header and for every folder it decrypts, in a Python loop over 2^19
    counters (~160 ms each): once a candidate has passed `_plausible`, opening and reading the archive cost most
    of a 7z scan (and of a gateway worker's time). The replacement returns exactly what py7zr's function returns
    (a test checks it), so it is safe for any other user of py7zr in the process.
    """
    import py7zr.compressor

    compressor: Any = py7zr.compressor
    original = compressor.calculate_key
    if getattr(original, "_triage_fast", False):
        return

    def calculate_key(password: bytes, cycles: int, salt: bytes, digest: str) -> bytes:
        if digest != "sha256" or len(password) % 2:
            return bytes(original(password, cycles, salt, digest))
        return _derive_key_bytes(password, cycles, salt)

    calculate_key._triage_fast = True  # type: ignore[attr-defined]
    compressor.calculate_key = calculate_key


def _is_password_required(exc: Exception) -> bool:
    from py7zr.exceptions import PasswordRequired

    return isinstance(exc, PasswordRequired)


def _needs_password(entry: Any) -> bool:
    from py7zr.compressor import SupportedMethods

    folder = entry.folder
    return folder is not None and bool(SupportedMethods.needs_password(folder.coders))


@dataclass(frozen=True)
class _Entry:
    id: int
    member: Member
    empty: bool


def _mtime(entry: Any) -> str | None:
    try:
        stamp = entry.lastwritetime
        if stamp is None:
            return None
        return str(stamp.as_datetime().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    except (ValueError, OverflowError, OSError, AttributeError, TypeError):
        return None


def _entries(archive: Any, limit: int, ctx: PluginContext) -> tuple[list[_Entry], int]:
    """(the first `limit` non-directory members, how many members the archive lists)."""
    out: list[_Entry] = []
    files = archive.files
    for entry in files:
        if len(out) % 256 == 0:
            ctx.check_deadline()
        if entry.is_directory:
            continue
        if len(out) >= limit:
            break
        name = str(entry.filename)
        attributes = entry.file_properties().get("attributes")
        hidden, system = Member.attributes(attributes if isinstance(attributes, int) else None)
        compressed = entry.compressed
        extra: dict[str, JsonValue] = {}
        if entry.is_symlink:
            extra["symlink"] = True
        out.append(
            _Entry(
                id=int(entry.id),
                member=Member(
                    name=name,
                    size=int(entry.uncompressed or 0),
                    compressed=int(compressed) if compressed is not None else None,
                    encrypted=_needs_password(entry),
                    hidden=hidden,
                    system=system,
                    mtime=_mtime(entry),
                    extra=extra,
                ),
                empty=bool(entry.emptystream),
            )
        )
    return out, len(files)


def _extract(data: bytes, password: str | None, targets: Sequence[_Entry], ctx: PluginContext) -> dict[int, bytes]:
    """The targets' bytes, read in one pass of py7zr's worker into in-memory sinks (never a path)."""
    from py7zr.io import MemIO

    archive = _open(data, password)
    try:
        limits = {str(t.id): t.member.size for t in targets}
        factory = _io_classes()[1](limits, ctx)
        wanted = {t.id for t in targets}
        worker = archive.worker
        for entry in archive.files:
            if entry.id in wanted and not entry.is_directory:
                worker.register_filelike(entry.id, MemIO(str(entry.id), factory))
            else:
                worker.register_filelike(entry.id, None)
        worker.extract(archive.fp, None, parallel=False)
        return {int(key): sink.buffer.getvalue() for key, sink in factory.sinks.items() if sink.done}
    finally:
        archive.close()


@dataclass(frozen=True)
class _Lock:
    """What a password guess can be checked against without py7zr: the AES parameters of one encrypted
    folder, its first cipher block, and the coder the plaintext feeds (LZMA or LZMA2), when that is known."""

    cycles: int
    salt: bytes
    iv: bytes
    first_block: bytes
    inner: bytes | None  # _LZMA / _LZMA2 when the folder is exactly AES + that coder, else None


def _lock(coders: Sequence[Any], data: bytes, start: int) -> _Lock | None:
    """The folder's lock, or None when it has no (readable) AES coder."""
    aes = next((c for c in coders if c.get("method") == _AES), None)
    if aes is None:
        return None
    props = bytes(aes.get("properties") or b"")
    if len(props) < 2 or not props[0] & 0xC0:
        return None
    salt_size = (props[0] >> 7 & 1) + (props[1] >> 4)
    iv_size = (props[0] >> 6 & 1) + (props[1] & 0x0F)
    salt = props[2 : 2 + salt_size]
    iv = props[2 + salt_size : 2 + salt_size + iv_size].ljust(16, b"\x00")
    others = [bytes(c.get("method", b"")) for c in coders if c is not aes]
    inner = others[0] if len(others) == 1 and others[0] in (_LZMA, _LZMA2) else None
    return _Lock(cycles=props[0] & 0x3F, salt=salt, iv=iv, first_block=data[start : start + 16], inner=inner)


def _derive_key(password: str, cycles: int, salt: bytes) -> bytes:
    """7-Zip's key: SHA-256 over (salt + UTF-16LE password + 64-bit counter) for counter 0 .. 2^cycles - 1.

    Same result as py7zr's helper, built with a few strided copies per 65536 counters instead of one Python
    object per counter: about ten times faster, which is what makes trying the message's candidates cheap.
    """
    return _derive_key_bytes(password.encode("utf-16-le"), cycles, salt)


def _derive_key_bytes(password: bytes, cycles: int, salt: bytes) -> bytes:
    """`_derive_key` for a password already encoded as UTF-16LE (py7zr's calling convention); remembered while
    one archive is unpacked."""
    memo = _KEYS.get()
    if memo is None:
        return _derive(password, cycles, salt)
    key = (bytes(password), cycles, bytes(salt))
    if key not in memo:
        memo[key] = _derive(password, cycles, salt)
    return memo[key]


# The keys derived while one archive is unpacked (see SevenZipUnpacker.unpack); None outside.
_KEYS: ContextVar[dict[tuple[bytes, int, bytes], bytes] | None] = ContextVar("triage_7z_keys", default=None)


def _derive(password: bytes, cycles: int, salt: bytes) -> bytes:
    prefix = salt + password
    if cycles == 0x3F:
        return (prefix + bytes(32))[:32]
    total = 1 << cycles
    per = min(total, _KEY_CHUNK)
    stride = len(prefix) + 8
    template = bytearray(per * stride)
    for k, byte in enumerate(prefix):
        template[k::stride] = bytes((byte,)) * per
    low = bytes(range(256)) * (per // 256) if per >= 256 else bytes(range(per))
    template[len(prefix) :: stride] = low
    if per > 256:
        template[len(prefix) + 1 :: stride] = b"".join(bytes((v,)) * 256 for v in range(per // 256))
    digest = hashlib.sha256()
    for chunk in range(total // per):
        high = (chunk * per) >> 16
        for j in range(6):  # counter bytes 2..7 are constant within a 65536-counter chunk
            template[len(prefix) + 2 + j :: stride] = bytes((high >> (8 * j) & 0xFF,)) * per
        digest.update(template)
    return digest.digest()


def _plausible(lock: _Lock, password: str) -> bool:
    """Whether `password` decrypts the folder's first block into the start of an LZMA / LZMA2 stream.

    A wrong key gives noise that passes about once in a hundred guesses (mostly a first byte 0x00 or 0x01, which
    a real LZMA2 stream may start with); only those (and the right one) go on to py7zr's full check. Unknown
    inner coders cannot be checked here and always pass.
    """
    if lock.inner is None or len(lock.first_block) < 16:
        return True
    from Cryptodome.Cipher import AES

    key = _derive_key(password, lock.cycles, lock.salt)
    block = AES.new(key, AES.MODE_CBC, lock.iv).decrypt(lock.first_block)
    if lock.inner == _LZMA:
        return block[0] == 0  # the range coder's first byte is always zero
    control = block[0]
    if control in (0x00, 0x01):  # end of stream, or an uncompressed chunk that resets the dictionary
        return True
    # The first LZMA chunk must reset state, properties and dictionary (0xE0-0xFF); then unpacked size (2),
    # packed size (2), the lc/lp/pb byte (< 225) and the range coder's first byte (zero).
    return control >= 0xE0 and block[5] < 225 and block[6] == 0


def _header_lock(data: bytes) -> _Lock | None:
    """The lock of an encrypted (encoded) header, read with py7zr's own parser."""
    if len(data) < _START_HEADER.size:
        return None
    _, _, _, _, offset, size, _ = _START_HEADER.unpack_from(data)
    start = _START_HEADER.size + offset
    if start + size > len(data) or size == 0 or data[start] != _ENCODED_HEADER:
        return None
    from py7zr.archiveinfo import HeaderStreamsInfo

    streams = HeaderStreamsInfo.retrieve(io.BytesIO(data[start + 1 : start + size]))
    folders = streams.unpackinfo.folders
    if not folders:
        return None
    return _lock(folders[0].coders, data, _START + int(streams.packinfo.packpos))


def _content_lock(archive: Any, data: bytes) -> _Lock | None:
    """The lock of the first encrypted folder, when every folder has one packed stream (the usual layout)."""
    streams = archive.header.main_streams
    if streams is None:
        return None
    folders = streams.unpackinfo.folders
    positions = streams.packinfo.packpositions
    if len(positions) != len(folders) + 1:
        return None
    for index, folder in enumerate(folders):
        lock = _lock(folder.coders, data, _START + int(streams.packinfo.packpos) + int(positions[index]))
        if lock is not None:
            return lock
    return None


def _guess_cost_refused(lock: _Lock | None) -> str:
    if lock is not None and lock.cycles > _MAX_CYCLES and lock.cycles != 0x3F:
        return f"key derivation of 2^{lock.cycles} rounds per guess refused (7-Zip uses 2^19)"
    return ""


class SevenZipUnpacker:
    """Lists and extracts 7z members; encrypted ones are opened with the message's password candidates."""

    name = "sevenzip"
    accepts = frozenset({"7z"})
    emits = declared_emits(__name__, "SevenZipUnpacker")

    def __init__(self) -> None:
        self._opts = archive_options({}, "sevenzip", default_attempts=_DEFAULT_ATTEMPTS)

    def setup(self, config: Config) -> None:
        self._opts = archive_options(config.unpack_options("sevenzip"), "sevenzip", default_attempts=_DEFAULT_ATTEMPTS)

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        # One archive derives the same key for the plausibility check, py7zr's header and each folder (7-Zip
        # writes one salt): each password's key is derived once per archive, and forgotten after it.
        keys = _KEYS.set({})
        try:
            yield from self._unpack(target, ctx)
        finally:
            with contextlib.suppress(ValueError):  # closed from another context: nothing of ours to restore
                _KEYS.reset(keys)

    def _unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        data = target.data
        archive_name = target.name or target.id
        shown = show(archive_name)
        password: str | None = None
        try:
            _check_header_size(data)
            archive = _open(data, None)
        except DeadlineExceeded:
            raise
        except _Unopenable as exc:
            ctx.note(NoteKind.UNPARSABLE, f"not a readable 7z archive: {exc}")
            return
        except Exception as exc:  # hostile bytes: any library error means unreadable
            if not _is_password_required(exc):
                ctx.note(NoteKind.UNPARSABLE, f"not a readable 7z archive: {type(exc).__name__}: {show(str(exc))}")
                return
            archive = None
        if archive is None:
            # Header encryption: even the names are hidden until a password opens the header.
            ctx.set_meta("encrypted", True)
            ctx.set_meta("header_encrypted", True)
            ctx.emit("ARCHIVE_ENCRYPTED", (shown, "7z header encryption: member names hidden", "AES-256"))
            try:
                lock = _header_lock(data)
            except DeadlineExceeded:
                raise
            except Exception:  # an unreadable header lock only means every guess goes to py7zr
                lock = None
            refused = _guess_cost_refused(lock)
            opened, tried = (None, 0)
            if not refused:
                opened, tried = try_passwords(
                    ctx,
                    lambda pw: _try_open(data, pw) if lock is None or _plausible(lock, pw) else None,
                    max_attempts=self._opts.max_attempts,
                    kind="archive",
                )
            if opened is None:
                why = refused or "header encryption hides the member names"
                report_no_password(ctx, archive_name, tried, why=why)
                return
            report_opened(ctx, opened.candidate)
            password = opened.candidate.value
            archive = opened.value
        try:
            entries, listed = _entries(archive, self._opts.max_members_listed, ctx)
            lock = _content_lock(archive, data) if password is None else None
        except DeadlineExceeded:
            raise
        except Exception as exc:  # as above
            ctx.note(NoteKind.UNPARSABLE, f"7z member list unreadable: {type(exc).__name__}")
            return
        finally:
            archive.close()
        if len(entries) >= self._opts.max_members_listed and listed > len(entries):
            ctx.note(
                NoteKind.LIMIT_FILES,
                f"listed the first {len(entries)} members (the archive has {listed}); "
                f"max_members_listed is {self._opts.max_members_listed}",
            )
        yield from self._members(data, archive_name, entries, password, lock, ctx)

    def _members(
        self,
        data: bytes,
        archive_name: str,
        entries: list[_Entry],
        password: str | None,
        lock: _Lock | None,
        ctx: PluginContext,
    ) -> Iterator[Child]:
        opts: ArchiveOptions = self._opts
        encrypted = [e for e in entries if e.member.encrypted]
        if encrypted and password is None:
            ctx.set_meta("encrypted", True)
            ctx.emit("ARCHIVE_ENCRYPTED", (show(archive_name), f"{len(encrypted)} encrypted member(s)", "AES-256"))
        total_declared = sum(e.member.size for e in entries)
        if opts.bombs.declared_bomb(total_declared, len(data)):
            report_bomb(ctx, opts.bombs, archive_name, total_declared, len(data), declared=True)
            for entry in entries:
                yield entry.member.unreadable(UNREADABLE_BOMB)
            return
        # Sizes are judged before any password is tried: a guess decompresses the member it is tried on.
        pending: list[_Entry] = []
        for entry in entries:
            member = entry.member
            cap = ctx.max_child_size()
            if member.compressed and opts.bombs.declared_bomb(member.size, member.compressed):
                report_bomb(ctx, opts.bombs, member.name, member.size, member.compressed, declared=True)
                yield member.unreadable(UNREADABLE_BOMB)
            elif member.size > cap:
                report_too_large(ctx, member.name, member.size, cap)
                yield member.unreadable(UNREADABLE_TOO_LARGE)
            elif entry.empty:
                yield member.child(b"")
            else:
                pending.append(entry)
        locked = [e for e in pending if e.member.encrypted]
        if locked and password is None:
            # Each guess is tried on the smallest encrypted member, after the in-process lock check.
            probe = min(locked, key=lambda e: e.member.size)
            refused = _guess_cost_refused(lock)
            opened, tried = None, 0
            if not refused:
                opened, tried = try_passwords(
                    ctx,
                    lambda pw: _try_extract(data, pw, probe, ctx) if lock is None or _plausible(lock, pw) else None,
                    max_attempts=opts.max_attempts,
                    kind="archive",
                )
            if opened is None:
                report_no_password(ctx, archive_name, tried, why=refused)
                for entry in locked:
                    yield entry.member.unreadable(UNREADABLE_ENCRYPTED)
                pending = [e for e in pending if not e.member.encrypted]
            else:
                report_opened(ctx, opened.candidate)
                password = opened.candidate.value
                yield probe.member.child(opened.value)
                pending = [e for e in pending if e is not probe]
        while pending:
            # One pass of the worker per batch whose declared sizes fit what the budget has left now.
            cap = ctx.max_child_size()
            batch: list[_Entry] = []
            used = 0
            for entry in pending:
                if batch and used + entry.member.size > cap:
                    break
                batch.append(entry)
                used += entry.member.size
            pending = pending[len(batch) :]
            yield from self._batch(data, password, batch, ctx)

    def _batch(self, data: bytes, password: str | None, batch: list[_Entry], ctx: PluginContext) -> Iterator[Child]:
        if batch[0].member.size > ctx.max_child_size():
            for entry in batch:
                report_too_large(ctx, entry.member.name, entry.member.size, ctx.max_child_size())
                yield entry.member.unreadable(UNREADABLE_TOO_LARGE)
            return
        try:
            got = _extract(data, password, batch, ctx)
        except DeadlineExceeded:
            raise
        except Exception as exc:  # a CRC or decoder error anywhere fails the pass
            if len(batch) > 1:
                # Read them one by one so one corrupt member does not hide the others.
                for entry in batch:
                    yield from self._batch(data, password, [entry], ctx)
                return
            entry = batch[0]
            report_corrupt(ctx, entry.member.name, f"{type(exc).__name__}: {exc}")
            yield entry.member.unreadable(UNREADABLE_CORRUPT)
            return
        for entry in batch:
            content = got.get(entry.id)
            if content is None:
                report_corrupt(ctx, entry.member.name, "no data produced")
                yield entry.member.unreadable(UNREADABLE_CORRUPT)
            else:
                yield entry.member.child(content)


def _try_open(data: bytes, password: str) -> Any:
    """The archive opened with `password` (header encryption), or None when it is wrong."""
    try:
        archive = _open(data, password)
        _ = list(archive.files)
    except DeadlineExceeded:
        raise
    except Exception:  # a wrong key decrypts the header to noise: any error means "wrong"
        return None
    return archive


def _try_extract(data: bytes, password: str, probe: _Entry, ctx: PluginContext) -> bytes | None:
    """The probe member's content with `password`, or None when it is wrong (or the member is corrupt)."""
    try:
        got = _extract(data, password, [probe], ctx)
    except DeadlineExceeded:
        raise
    except Exception:  # a wrong key yields noise: decoder, CRC or parse errors
        return None
    return got.get(probe.id)
