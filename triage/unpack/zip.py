"""ZIP archives: members out, encrypted ones opened with the message's password candidates, bombs flagged.

The stdlib ``zipfile`` does not read members here, for two reasons found in its source: it parses the whole
central directory when the archive is opened (no cap on entries, no deadline), and it decompresses bzip2 and
LZMA chunks without an output bound, so 4 KiB of bzip2 can allocate gigabytes in one call. This module parses
the central directory itself, up to ``max_members_listed`` entries, and streams each member through a
decompressor called with ``max_length``, so output never passes min(size budget, bomb threshold). ZipCrypto is
decrypted here (a wrong password fails on the check byte, or on the CRC); WinZip AES needs pyzipper, imported
only when an AES member is met, after a cheap PBKDF2 check of the password verifier.

Member names without the UTF-8 flag are decoded as Japanese Windows writes them (CP932), after UTF-8 (macOS
writes UTF-8 without the flag) and before CP437; an Info-ZIP Unicode Path field wins when its CRC matches.
Nothing is written to disk, so traversal names ("../", absolute, backslashes) are kept and flagged in meta.
"""

from __future__ import annotations

import bz2
import hashlib
import itertools
import lzma
import math
import re
import struct
import unicodedata
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from triage.errors import ConfigError
from triage.model import JsonValue, NoteKind
from triage.plugins import ArtifactView, Child, PasswordCandidate, PluginContext
from triage.registry import declared_emits
from triage.unpack.trials import NOT_FROM_MESSAGE, in_order_for

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["BombLimits", "ZipUnpacker", "bomb_limits", "has_traversal", "inflate_limit", "show"]

# Password sources that are not the message itself: their success is not ARCHIVE_PASSWORD_IN_BODY.

_LOCAL_SIG = b"PK\x03\x04"
_CENTRAL_SIG = b"PK\x01\x02"
_EOCD_SIG = b"PK\x05\x06"
_EOCD64_SIG = b"PK\x06\x06"
_EOCD64_LOCATOR_SIG = b"PK\x06\x07"
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL_SIZE = 30
_LOCATOR_SIZE = 20
_MAX_EOCD_TRIES = 8

_FLAG_ENCRYPTED = 0x1
_FLAG_DESCRIPTOR = 0x8
_FLAG_STRONG = 0x40
_FLAG_UTF8 = 0x800

_STORED, _DEFLATED, _BZIP2, _LZMA, _AES = 0, 8, 12, 14, 99
_METHOD_NAMES: Mapping[int, str] = MappingProxyType(
    {
        0: "stored",
        1: "shrink",
        6: "implode",
        8: "deflate",
        9: "deflate64",
        12: "bzip2",
        14: "lzma",
        93: "zstd",
        95: "xz",
        96: "jpeg",
        97: "wavpack",
        98: "ppmd",
        99: "aes",
    }
)
_SUPPORTED = frozenset({_STORED, _DEFLATED, _BZIP2, _LZMA})
_EXTRA_ZIP64 = 0x0001
_EXTRA_UNICODE_PATH = 0x7075
_EXTRA_AES = 0x9901
_AES_SALT: Mapping[int, int] = MappingProxyType({1: 8, 2: 12, 3: 16})  # by the strength byte
_AES_KEY: Mapping[int, int] = MappingProxyType({1: 16, 2: 24, 3: 32})
_AES_MAC = 10
_ZIPCRYPTO_HEADER = 12

_IN_CHUNK = 64 * 1024  # compressed bytes per step: the deadline is checked this often
_OUT_STEP = 1024 * 1024  # decompressed bytes per call
_DEADLINE_EVERY = 256  # central-directory entries between deadline checks

# CRC-32 table for the ZipCrypto key schedule, from zlib: table[i] = ~crc32(byte i, seed ~0).
_CRC_TABLE: tuple[int, ...] = tuple(zlib.crc32(bytes((i,)), 0xFFFFFFFF) ^ 0xFFFFFFFF for i in range(256))

# Why a member has no content, in Child.meta["unreadable"].
UNREADABLE_ENCRYPTED = "encrypted, no password"
UNREADABLE_TOO_LARGE = "exceeds the size budget"
UNREADABLE_BOMB = "decompression bomb"
UNREADABLE_CORRUPT = "corrupt"


# -- shared with gzip ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BombLimits:
    """A member is a bomb when it inflates past `ratio` times its compressed size and reaches `min_size`."""

    ratio: float = 100.0
    min_size: int = 1024 * 1024

    def threshold(self, compressed: int) -> int:
        """The smallest output size that makes `compressed` bytes a bomb."""
        return max(self.min_size, int(self.ratio * compressed) + 1)

    def declared_bomb(self, size: int, compressed: int) -> bool:
        return compressed > 0 and size >= self.min_size and size > self.ratio * compressed


def _number(options: Mapping[str, Any], key: str, default: float, section: str, *, integer: bool) -> float:
    value: object = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise ConfigError(f"[unpack.{section}] {key} must be {'an integer' if integer else 'a number'}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (key != "bomb_min_size" and number == 0):
        raise ConfigError(f"[unpack.{section}] {key} must be positive")
    return number


def bomb_limits(options: Mapping[str, Any], section: str, extra_keys: frozenset[str] = frozenset()) -> BombLimits:
    """Read and validate bomb_ratio / bomb_min_size; any key not known here or in `extra_keys` is an error."""
    unknown = sorted(set(options) - {"bomb_ratio", "bomb_min_size"} - extra_keys)
    if unknown:
        raise ConfigError(f"[unpack.{section}] unknown option(s): {', '.join(unknown)}")
    ratio = _number(options, "bomb_ratio", BombLimits.ratio, section, integer=False)
    min_size = int(_number(options, "bomb_min_size", BombLimits.min_size, section, integer=True))
    return BombLimits(ratio=float(ratio), min_size=min_size)


def inflate_limit(cap: int, bombs: BombLimits, compressed: int) -> int:
    """How many output bytes a reader may produce before it must stop: one past the budget or the bomb line."""
    return min(cap + 1, bombs.threshold(compressed))


def show(text: str, limit: int = 200) -> str:
    """Evidence text: control, format (bidi) and separator characters escaped, never raw; length bounded."""
    out = []
    for ch in text[:limit]:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out) + ("…" if len(text) > limit else "")


_DRIVE = re.compile(r"^[A-Za-z]:")


def has_traversal(name: str) -> bool:
    """A name that would leave the extraction folder, or that Windows reads as a path: "../", "/x", "C:", "\\"."""
    if name.startswith(("/", "\\")) or "\\" in name or _DRIVE.match(name):
        return True
    return ".." in name.split("/")


# -- the central directory -----------------------------------------------------------------------------------------


class _Unparsable(Exception):
    """The archive's structure cannot be read; the message says why."""


@dataclass(frozen=True)
class _Aes:
    version: int
    strength: int
    method: int


@dataclass(frozen=True)
class _Entry:
    raw_name: bytes
    name: str
    name_encoding: str
    nul_in_name: bool
    flags: int
    method: int
    crc: int
    compress_size: int
    file_size: int
    offset: int  # of the local header, in the artifact's bytes
    dos_time: int
    dos_date: int
    aes: _Aes | None

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & _FLAG_ENCRYPTED) or self.method == _AES

    @property
    def is_dir(self) -> bool:
        # Extractors make a folder of such a name whatever data follows; a few bytes of empty deflate do.
        return self.name.endswith(("/", "\\")) and self.file_size == 0

    @property
    def real_method(self) -> int:
        return self.aes.method if self.aes is not None else self.method

    @property
    def encryption(self) -> str | None:
        if not self.encrypted:
            return None
        if self.aes is not None:
            return f"AES-{_AES_KEY.get(self.aes.strength, 0) * 8}"
        if self.method == _AES:
            return "AES (no parameters)"
        if self.flags & _FLAG_STRONG:
            return "PKWARE strong encryption"
        return "ZipCrypto"

    @property
    def mtime(self) -> str:
        d, t = self.dos_date, self.dos_time
        return (
            f"{(d >> 9) + 1980:04d}-{(d >> 5) & 0xF:02d}-{d & 0x1F:02d}"
            f"T{t >> 11:02d}:{(t >> 5) & 0x3F:02d}:{(t & 0x1F) * 2:02d}"
        )

    def meta(self) -> dict[str, JsonValue]:
        meta: dict[str, JsonValue] = {
            "compressed_size": self.compress_size,
            "compress_type": _METHOD_NAMES.get(self.real_method, str(self.real_method)),
            "encrypted": self.encrypted,
            "mtime": self.mtime,
            "name_encoding": self.name_encoding,
        }
        if self.encrypted:
            meta["encryption"] = self.encryption
        if has_traversal(self.name):
            meta["path_traversal"] = True
        if self.nul_in_name:
            meta["name_truncated_at_nul"] = True
        return meta


@dataclass(frozen=True)
class _Directory:
    entries: tuple[_Entry, ...]
    declared_total: int
    stopped: str | None  # "limit" or "corrupt" when the listing ended early
    prepended: int  # bytes before the archive (a self-extractor stub, a polyglot)


def _read_directory(data: bytes, max_listed: int, check_deadline: Callable[[], None]) -> _Directory:
    empty: tuple[int, int, int, int] | None = None
    for eocd in _eocd_candidates(data):
        located = _locate_directory(data, eocd)
        if located is None:
            continue
        if located[0] == located[1]:
            # An empty-archive record can hide in the comment of a real one: prefer a record with entries.
            empty = empty or located
            continue
        start, end, total, prepended = located
        return _parse_entries(data, start, end, total, prepended, max_listed, check_deadline)
    if empty is not None:
        return _Directory((), 0, None, 0)
    raise _Unparsable("no end-of-central-directory record that points at a central directory")


def _eocd_candidates(data: bytes) -> Iterator[int]:
    low = max(0, len(data) - (0xFFFF + _EOCD.size))
    pos = data.rfind(_EOCD_SIG, low)
    tries = 0
    while pos >= 0 and tries < _MAX_EOCD_TRIES:
        tries += 1
        if pos + _EOCD.size <= len(data):
            yield pos
        pos = data.rfind(_EOCD_SIG, low, pos)


def _locate_directory(data: bytes, eocd: int) -> tuple[int, int, int, int] | None:
    """(start, end, declared entries, prepended bytes) of the central directory the EOCD at `eocd`
    describes, or None when it points at nothing."""
    _, _, _, _, total, cd_size, cd_offset, _ = _EOCD.unpack_from(data, eocd)
    cd_end = eocd
    loc = eocd - _LOCATOR_SIZE
    rec64 = loc - _EOCD64.size
    if rec64 >= 0 and data[loc : loc + 4] == _EOCD64_LOCATOR_SIG and data[rec64 : rec64 + 4] == _EOCD64_SIG:
        fields = _EOCD64.unpack_from(data, rec64)
        total, cd_size, cd_offset = fields[7], fields[8], fields[9]
        cd_end = rec64
    if total == 0 and cd_size == 0:
        return cd_end, cd_end, 0, 0
    # Trust the size over the offset, as zipfile does: bytes prepended to the archive (a self-extractor
    # stub, a polyglot) shift every offset by the same amount.
    start = cd_end - cd_size
    if start >= 0 and start >= cd_offset and data[start : start + 4] == _CENTRAL_SIG:
        return start, cd_end, total, start - cd_offset
    if cd_offset + 4 <= len(data) and data[cd_offset : cd_offset + 4] == _CENTRAL_SIG:
        return cd_offset, min(len(data), cd_offset + cd_size), total, 0
    return None


def _extra_fields(extra: bytes) -> dict[int, bytes]:
    fields: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        if len(body) < size:
            break  # a field running past the extra block: the rest is noise
        fields.setdefault(kind, body)
        pos += 4 + size
    return fields


def _parse_entries(
    data: bytes,
    start: int,
    end: int,
    total: int,
    prepended: int,
    max_listed: int,
    check_deadline: Callable[[], None],
) -> _Directory:
    entries: list[_Entry] = []
    stopped: str | None = None
    pos = start
    while pos + _CENTRAL.size <= end:
        if len(entries) >= max_listed:
            stopped = "limit"
            break
        if len(entries) % _DEADLINE_EVERY == 0:
            check_deadline()
        if data[pos : pos + 4] != _CENTRAL_SIG:
            stopped = "corrupt"
            break
        f = _CENTRAL.unpack_from(data, pos)
        flags, method, dos_time, dos_date, crc, csize, usize = f[5], f[6], f[7], f[8], f[9], f[10], f[11]
        name_len, extra_len, comment_len, offset = f[12], f[13], f[14], f[18]
        body = pos + _CENTRAL.size
        if body + name_len + extra_len + comment_len > len(data):
            stopped = "corrupt"
            break
        raw_name = data[body : body + name_len]
        extras = _extra_fields(data[body + name_len : body + name_len + extra_len])
        usize, csize, offset = _zip64_sizes(extras.get(_EXTRA_ZIP64), usize, csize, offset)
        name, encoding = _decode_name(raw_name, flags, extras.get(_EXTRA_UNICODE_PATH))
        nul = "\x00" in name
        entries.append(
            _Entry(
                raw_name=raw_name,
                name=name.split("\x00", 1)[0],  # C-string readers (Explorer) stop there too
                name_encoding=encoding,
                nul_in_name=nul,
                flags=flags,
                method=method,
                crc=crc,
                compress_size=csize,
                file_size=usize,
                offset=offset + prepended,
                dos_time=dos_time,
                dos_date=dos_date,
                aes=_aes_params(extras.get(_EXTRA_AES)),
            )
        )
        pos = body + name_len + extra_len + comment_len
    return _Directory(tuple(entries), total, stopped, prepended)


def _zip64_sizes(body: bytes | None, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    if body is None:
        return usize, csize, offset
    pos = 0
    values = [usize, csize, offset]
    for i in range(3):
        if values[i] == 0xFFFFFFFF and pos + 8 <= len(body):
            values[i] = struct.unpack_from("<Q", body, pos)[0]
            pos += 8
    return values[0], values[1], values[2]


def _aes_params(body: bytes | None) -> _Aes | None:
    if body is None or len(body) < 7 or body[2:4] != b"AE":
        return None
    version, _, strength, method = struct.unpack_from("<H2sBH", body, 0)
    return _Aes(version=version, strength=strength, method=method)


def _decode_name(raw: bytes, flags: int, unicode_path: bytes | None) -> tuple[str, str]:
    if flags & _FLAG_UTF8:
        try:
            return raw.decode("utf-8"), "utf-8-flag"
        except UnicodeDecodeError:
            pass  # a lying flag: decode as if it were absent
    if unicode_path is not None and len(unicode_path) > 5 and unicode_path[0] == 1:
        (crc,) = struct.unpack_from("<L", unicode_path, 1)
        if crc == zlib.crc32(raw):
            try:
                return unicode_path[5:].decode("utf-8"), "unicode-path-extra"
            except UnicodeDecodeError:
                pass
    if raw.isascii():
        return raw.decode("ascii"), "ascii"
    # macOS writes UTF-8 without the flag; Japanese Windows writes CP932; CP437 is the format's default.
    for codec in ("utf-8", "cp932"):
        try:
            return raw.decode(codec), codec
        except UnicodeDecodeError:
            continue
    return raw.decode("cp437"), "cp437"


def _overlapping(entries: Sequence[_Entry], size: int) -> int:
    """How many entries start inside another entry's data: Fifield's "better zip bomb" reuses one stream."""
    ordered = sorted((e for e in entries if e.offset + _LOCAL_SIZE + e.compress_size <= size), key=lambda e: e.offset)
    count = 0
    for prev, cur in itertools.pairwise(ordered):
        if cur.offset < prev.offset + _LOCAL_SIZE + prev.compress_size:
            count += 1
    return count


# -- decryption ----------------------------------------------------------------------------------------------------


class _Decrypter(Protocol):
    def decrypt(self, data: bytes) -> bytes: ...


class _ZipCrypto:
    """The traditional PKWARE stream cipher (APPNOTE 6.1): three keys stirred by each plaintext byte."""

    def __init__(self, password: bytes) -> None:
        self.k0, self.k1, self.k2 = 0x12345678, 0x23456789, 0x34567890
        for byte in password:
            self._update(byte)

    def _update(self, byte: int) -> None:
        self.k0 = (self.k0 >> 8) ^ _CRC_TABLE[(self.k0 ^ byte) & 0xFF]
        self.k1 = ((self.k1 + (self.k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        self.k2 = (self.k2 >> 8) ^ _CRC_TABLE[(self.k2 ^ (self.k1 >> 24)) & 0xFF]

    def decrypt(self, data: bytes) -> bytes:
        k0, k1, k2 = self.k0, self.k1, self.k2
        table = _CRC_TABLE
        out = bytearray(data)
        for i, c in enumerate(out):
            k = k2 | 2
            c ^= ((k * (k ^ 1)) >> 8) & 0xFF
            out[i] = c
            k0 = (k0 >> 8) ^ table[(k0 ^ c) & 0xFF]
            k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
            k2 = (k2 >> 8) ^ table[(k2 ^ (k1 >> 24)) & 0xFF]
        self.k0, self.k1, self.k2 = k0, k1, k2
        return bytes(out)


@dataclass(frozen=True)
class _AesInfo:
    """The two attributes pyzipper's AESZipDecrypter reads from a ZipInfo."""

    filename: str
    wz_aes_strength: int


class _AesStream:
    """WinZip AES (AE-1/AE-2): AES-CTR over the compressed data, HMAC-SHA1 (10 bytes) after it."""

    def __init__(self, decrypter: Any) -> None:
        self._decrypter = decrypter

    def decrypt(self, data: bytes) -> bytes:
        return bytes(self._decrypter.decrypt(data))

    def mac_ok(self, mac: bytes) -> bool:
        import pyzipper

        try:
            self._decrypter.check_hmac(mac)
        except pyzipper.BadZipFile:
            return False
        return True


def _aes_open(entry: _Entry, password: bytes, header: bytes) -> _AesStream | None:
    """An AES stream when `password` passes the 2-byte verifier, else None. PBKDF2 runs in hashlib (C) so
    wrong candidates cost little; pyzipper is imported only for a password that passes."""
    assert entry.aes is not None
    strength = entry.aes.strength
    salt_len, key_len = _AES_SALT[strength], _AES_KEY[strength]
    salt, verifier = header[:salt_len], header[salt_len : salt_len + 2]
    material = hashlib.pbkdf2_hmac("sha1", password, salt, 1000, 2 * key_len + 2)
    if material[-2:] != verifier:
        return None
    import pyzipper

    try:
        return _AesStream(pyzipper.zipfile_aes.AESZipDecrypter(_AesInfo(entry.name, strength), password, header))
    except RuntimeError:  # pyzipper's own "Bad password" check disagrees: treat as wrong
        return None


# -- decompression -------------------------------------------------------------------------------------------------


class _Decoder:
    """One member's decompressor behind one interface: feed compressed bytes, pull bounded output."""

    def __init__(self, method: int, max_output: int) -> None:
        self.method = method
        self.eof = False
        self._pending = b""
        self._max_output = max_output
        self._zlib: Any = zlib.decompressobj(-15) if method == _DEFLATED else None
        self._other: Any = bz2.BZ2Decompressor() if method == _BZIP2 else None
        self._lzma_header = bytearray()

    def feed(self, data: bytes) -> None:
        if self.method == _LZMA and self._other is None:
            self._lzma_header += data
            self._start_lzma()
            return
        self._pending = self._pending + data if self._pending else data

    def _start_lzma(self) -> None:
        # APPNOTE 5.8.8: version (2), properties size (2), properties (5: lc/lp/pb, dictionary size).
        head = self._lzma_header
        if len(head) < 4:
            return
        (props_size,) = struct.unpack_from("<H", head, 2)
        if props_size != 5:
            raise lzma.LZMAError(f"LZMA properties of {props_size} bytes")
        if len(head) < 9:
            return
        props = head[4]
        lc, rest = props % 9, props // 9
        lp, pb = rest % 5, rest // 5
        (dict_size,) = struct.unpack_from("<L", head, 5)
        # liblzma allocates the declared dictionary up front; output is capped, so a larger one is never needed.
        dict_size = max(4096, min(dict_size, self._max_output))
        filters = [{"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc, "lp": lp, "pb": pb}]
        self._other = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=filters)
        self._pending = bytes(head[9:])
        self._lzma_header = bytearray()

    def pull(self, max_length: int) -> bytes:
        if self.eof or max_length <= 0:
            return b""
        if self.method == _STORED:
            out, self._pending = self._pending[:max_length], self._pending[max_length:]
            return out
        if self._zlib is not None:
            out = self._zlib.decompress(self._pending, max_length)
            self._pending = self._zlib.unconsumed_tail
            self.eof = self._zlib.eof
            return bytes(out)
        if self._other is None:  # LZMA still waiting for its header
            return b""
        if self._other.needs_input and not self._pending:
            return b""
        out = self._other.decompress(self._pending, max_length)
        self._pending = b""
        self.eof = self._other.eof
        return bytes(out)

    @property
    def must_end(self) -> bool:
        """Whether the format marks its own end (raw LZMA in zip may not: it ends with its input)."""
        return self.method in (_DEFLATED, _BZIP2)


@dataclass(frozen=True)
class _Read:
    data: bytes | None = None
    problem: str | None = None  # None, or one of the _P_* values
    detail: str = ""
    produced: int = 0


_P_TOO_LARGE = "too_large"
_P_BOMB = "bomb"
_P_CORRUPT = "corrupt"
_P_WRONG = "wrong_password"
_DECODE_ERRORS = (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError)


def _inflate(
    src: memoryview,
    entry: _Entry,
    decrypter: _Decrypter | None,
    cap: int,
    bombs: BombLimits,
    check_deadline: Callable[[], None],
) -> _Read:
    stop_at = inflate_limit(cap, bombs, entry.compress_size)
    decoder = _Decoder(entry.real_method, cap + 1)
    out = bytearray()
    crc = 0
    try:
        for pos in range(0, len(src), _IN_CHUNK):
            check_deadline()
            chunk = bytes(src[pos : pos + _IN_CHUNK])
            decoder.feed(decrypter.decrypt(chunk) if decrypter is not None else chunk)
            while len(out) < stop_at and not decoder.eof:
                piece = decoder.pull(min(stop_at - len(out), _OUT_STEP))
                if not piece:
                    break
                out += piece
                crc = zlib.crc32(piece, crc)
                check_deadline()
            if len(out) >= stop_at or decoder.eof:
                break
        # Output the decoder still holds after the last input (a long match at the very end).
        while len(out) < stop_at and not decoder.eof:
            piece = decoder.pull(min(stop_at - len(out), _OUT_STEP))
            if not piece:
                break
            out += piece
            crc = zlib.crc32(piece, crc)
            check_deadline()
    except _DECODE_ERRORS as exc:
        return _Read(problem=_P_CORRUPT, detail=f"{type(exc).__name__}: {exc}", produced=len(out))
    if len(out) >= bombs.threshold(entry.compress_size):
        return _Read(problem=_P_BOMB, produced=len(out))
    if len(out) > cap:
        return _Read(problem=_P_TOO_LARGE, produced=len(out))
    if decoder.must_end and not decoder.eof:
        return _Read(problem=_P_CORRUPT, detail="compressed data ends early", produced=len(out))
    skip_crc = entry.aes is not None and entry.aes.version == 2 and entry.crc == 0  # AE-2 leaves CRC at 0
    if not skip_crc and crc != entry.crc:
        return _Read(problem=_P_CORRUPT, detail="CRC mismatch", produced=len(out))
    return _Read(data=bytes(out), produced=len(out))


# -- the unpacker --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ZipSettings:
    bombs: BombLimits = field(default_factory=BombLimits)
    max_members_listed: int = 5000
    max_attempts: int = 100


@dataclass
class _ArchiveState:
    """What one archive's unpack call learns as it goes; never outlives the call."""

    archive: str
    encrypted_count: int
    attempts_left: int
    candidates: Sequence[PasswordCandidate] | None = None
    working: PasswordCandidate | None = None
    tried: int = 0
    no_password_reported: bool = False
    password_reported: bool = False


class ZipUnpacker:
    """Lists and extracts ZIP members (also JAR, OOXML, APK…: their members are worth a look)."""

    name = "zip"
    accepts = frozenset({"zip"})
    emits = declared_emits(__name__, "ZipUnpacker")

    def __init__(self) -> None:
        self._settings = _ZipSettings()

    def setup(self, config: Config) -> None:
        options = config.unpack_options("zip")
        bombs = bomb_limits(options, "zip", frozenset({"max_members_listed"}))
        listed = int(_number(options, "max_members_listed", 5000, "zip", integer=True))
        attempts = config.passwords.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise ConfigError("[passwords] max_attempts must be a non-negative integer")
        self._settings = _ZipSettings(bombs=bombs, max_members_listed=listed, max_attempts=attempts)

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        data = target.data
        try:
            directory = _read_directory(data, self._settings.max_members_listed, ctx.check_deadline)
        except _Unparsable as exc:
            ctx.note(NoteKind.UNPARSABLE, f"not a readable zip: {exc}")
            return
        except struct.error as exc:  # a record cut short by the end of the data
            ctx.note(NoteKind.UNPARSABLE, f"not a readable zip: {exc}")
            return
        archive = show(target.name or target.id)
        if directory.prepended:
            ctx.set_meta("prepended_bytes", directory.prepended)
        if directory.stopped == "limit":
            ctx.note(
                NoteKind.LIMIT_FILES,
                f"listed the first {len(directory.entries)} entries (the archive declares "
                f"{directory.declared_total}); max_members_listed is {self._settings.max_members_listed}",
            )
        elif directory.stopped == "corrupt":
            ctx.note(NoteKind.UNPARSABLE, f"central directory damaged after {len(directory.entries)} entries")

        overlaps = _overlapping(directory.entries, len(data))
        if overlaps:
            ctx.emit("ARCHIVE_BOMB", (archive, f"{overlaps} entries overlap another entry's data"))
            ctx.note(NoteKind.LIMIT_SIZE, f"not extracted: {overlaps} overlapping entries (a zip bomb)")
            return

        members = [e for e in directory.entries if not e.is_dir]
        encrypted = [e for e in members if e.encrypted]
        state = _ArchiveState(
            archive=archive, encrypted_count=len(encrypted), attempts_left=self._settings.max_attempts
        )
        if encrypted:
            # Said before any member is yielded: the engine may stop pulling children at its file limit.
            ctx.set_meta("encrypted", True)
            methods = sorted({e.encryption or "" for e in encrypted})
            ctx.emit("ARCHIVE_ENCRYPTED", (archive, f"{len(encrypted)} encrypted member(s)", ", ".join(methods)))
        for entry in members:
            ctx.check_deadline()
            yield self._member(data, entry, state, ctx)

    # -- one member ----------------------------------------------------------------------------------------------
    def _member(self, data: bytes, entry: _Entry, state: _ArchiveState, ctx: PluginContext) -> Child:
        meta = entry.meta()
        shown = show(entry.name)
        bombs = self._settings.bombs

        def unreadable(reason: str) -> Child:
            return Child(data=None, name=entry.name, declared_size=entry.file_size, meta={**meta, "unreadable": reason})

        if bombs.declared_bomb(entry.file_size, entry.compress_size):
            return self._bomb(entry, entry.file_size, ctx, unreadable, declared=True)
        cap = ctx.max_child_size()
        if entry.file_size > cap:
            ctx.note(
                NoteKind.LIMIT_SIZE,
                f"member {shown!r} declares {entry.file_size} bytes; the size budget has {cap} left",
            )
            return unreadable(UNREADABLE_TOO_LARGE)
        if entry.real_method not in _SUPPORTED or (entry.method == _AES and entry.aes is None):
            method = _METHOD_NAMES.get(entry.real_method, str(entry.real_method))
            if entry.encrypted:
                return self._no_password(entry, ctx, state, unreadable, why=f"{entry.encryption}, {method}")
            ctx.note(NoteKind.UNPARSABLE, f"member {shown!r}: compression method {method} is not supported")
            return unreadable(f"unsupported compression method {method}")
        span = _data_span(data, entry)
        if isinstance(span, str):
            ctx.note(NoteKind.UNPARSABLE, f"member {shown!r}: {span}")
            return unreadable(UNREADABLE_CORRUPT)
        start, end, local_name = span
        if local_name != entry.raw_name:
            # Tools disagree on which name to show: an evasion trick, and the analyst should see both.
            meta["local_name"] = _decode_name(local_name, entry.flags, None)[0]

        if entry.encrypted:
            if entry.flags & _FLAG_STRONG or (entry.aes is not None and entry.aes.strength not in _AES_KEY):
                return self._no_password(entry, ctx, state, unreadable, why=entry.encryption or "")
            result = self._open_encrypted(data, entry, start, end, cap, state, ctx)
            if result is None:
                return self._no_password(entry, ctx, state, unreadable, why="")
        else:
            result = _inflate(memoryview(data)[start:end], entry, None, cap, bombs, ctx.check_deadline)

        if result.problem == _P_BOMB:
            return self._bomb(entry, result.produced, ctx, unreadable, declared=False)
        if result.problem == _P_TOO_LARGE:
            ctx.note(NoteKind.LIMIT_SIZE, f"member {shown!r} inflates past the size budget ({cap} bytes left)")
            return unreadable(UNREADABLE_TOO_LARGE)
        if result.problem is not None or result.data is None:
            ctx.note(NoteKind.UNPARSABLE, f"member {shown!r}: {result.detail or 'unreadable'}")
            return unreadable(UNREADABLE_CORRUPT)
        if len(result.data) != entry.file_size:
            meta["declared_size_differs"] = True
        return Child(data=result.data, name=entry.name, declared_size=entry.file_size, meta=meta)

    def _bomb(
        self, entry: _Entry, size: int, ctx: PluginContext, unreadable: Callable[[str], Child], *, declared: bool
    ) -> Child:
        ratio = size / entry.compress_size if entry.compress_size else float("inf")
        how = "declares" if declared else "inflated past"
        ctx.emit(
            "ARCHIVE_BOMB", (show(entry.name), f"ratio {ratio:.0f}:1", f"{how} {size} bytes from {entry.compress_size}")
        )
        ctx.note(
            NoteKind.LIMIT_SIZE,
            f"member {show(entry.name)!r} not extracted: a decompression bomb "
            f"(ratio {ratio:.0f}:1 over {self._settings.bombs.ratio:g})",
        )
        return unreadable(UNREADABLE_BOMB)

    def _no_password(
        self, entry: _Entry, ctx: PluginContext, state: _ArchiveState, unreadable: Callable[[str], Child], *, why: str
    ) -> Child:
        if not state.no_password_reported:
            state.no_password_reported = True
            evidence = [
                state.archive,
                f"{state.encrypted_count} encrypted member(s)",
                f"{state.tried} password candidate(s) tried",
            ]
            if why:
                evidence.append(f"cannot decrypt: {why}")
            ctx.emit("ARCHIVE_ENCRYPTED_NO_PASSWORD", evidence)
            ctx.note(
                NoteKind.ENCRYPTED_NO_PASSWORD,
                f"no password opened {show(entry.name)!r} ({state.tried} tried)"
                + (f"; cannot decrypt {why}" if why else ""),
            )
        return unreadable(UNREADABLE_ENCRYPTED)

    def _open_encrypted(
        self, data: bytes, entry: _Entry, start: int, end: int, cap: int, state: _ArchiveState, ctx: PluginContext
    ) -> _Read | None:
        """The member's content with the first candidate that opens it; None when none does."""
        if state.candidates is None:
            state.candidates = tuple(in_order_for(ctx.password_candidates(), "archive"))
        order = [state.working] if state.working is not None else []
        order += [c for c in state.candidates if c is not state.working]
        for candidate in order:
            for password in _password_bytes(candidate.value):
                ctx.check_deadline()
                if candidate is not state.working:
                    # The password that opened a sibling is free; every other guess spends the budget.
                    if state.attempts_left <= 0:
                        return None
                    state.attempts_left -= 1
                    state.tried += 1
                result = self._try_password(data, entry, start, end, password, cap, ctx)
                if result.problem == _P_WRONG:
                    continue
                if result.problem is None:
                    self._opened(candidate, state, ctx)
                # A bomb or an oversized member ends the search: no later password would read it.
                return result
        return None

    def _try_password(
        self, data: bytes, entry: _Entry, start: int, end: int, password: bytes, cap: int, ctx: PluginContext
    ) -> _Read:
        src = memoryview(data)[start:end]
        decrypter: _Decrypter
        if entry.aes is not None:
            header_len = _AES_SALT[entry.aes.strength] + 2
            if len(src) < header_len + _AES_MAC:
                return _Read(problem=_P_WRONG)
            stream = _aes_open(entry, password, bytes(src[:header_len]))
            if stream is None:
                return _Read(problem=_P_WRONG)
            result = _inflate(src[header_len:-_AES_MAC], entry, stream, cap, self._settings.bombs, ctx.check_deadline)
            if result.problem is None and not stream.mac_ok(bytes(src[-_AES_MAC:])):
                return _Read(problem=_P_WRONG)
        else:
            if len(src) < _ZIPCRYPTO_HEADER:
                return _Read(problem=_P_WRONG)
            zc = _ZipCrypto(password)
            header = zc.decrypt(bytes(src[:_ZIPCRYPTO_HEADER]))
            # The last header byte repeats the CRC's high byte (or the time's, with a data descriptor):
            # 255 of 256 wrong passwords stop here.
            check = (entry.dos_time >> 8) if entry.flags & _FLAG_DESCRIPTOR else (entry.crc >> 24)
            if header[-1] != check & 0xFF:
                return _Read(problem=_P_WRONG)
            decrypter = zc
            result = _inflate(src[_ZIPCRYPTO_HEADER:], entry, decrypter, cap, self._settings.bombs, ctx.check_deadline)
        if result.problem == _P_CORRUPT:
            # With a wrong key that passed the check byte, the stream is noise: not a corrupt member.
            return _Read(problem=_P_WRONG)
        return result

    def _opened(self, candidate: PasswordCandidate, state: _ArchiveState, ctx: PluginContext) -> None:
        state.working = candidate
        if state.password_reported:
            return
        state.password_reported = True
        ctx.set_meta("password", candidate.value)
        ctx.set_meta("password_source", candidate.source)
        if candidate.source not in NOT_FROM_MESSAGE:
            ctx.emit(
                "ARCHIVE_PASSWORD_IN_BODY", (f'opened with "{show(candidate.value)}" found in the {candidate.source}',)
            )


def _data_span(data: bytes, entry: _Entry) -> tuple[int, int, bytes] | str:
    """(start, end, local name) of the member's stored bytes, or why they cannot be found."""
    off = entry.offset
    if off < 0 or off + _LOCAL_SIZE > len(data) or data[off : off + 4] != _LOCAL_SIG:
        return "no local header where the central directory points"
    name_len, extra_len = struct.unpack_from("<HH", data, off + 26)
    start = off + _LOCAL_SIZE + name_len + extra_len
    end = start + entry.compress_size
    if end > len(data):
        return "member data runs past the end of the archive"
    return start, end, data[off + _LOCAL_SIZE : off + _LOCAL_SIZE + name_len]


def _password_bytes(value: str) -> list[bytes]:
    """A password as bytes: UTF-8 (7-Zip, AES), then CP932 (Japanese Windows archivers) when it differs."""
    out: list[bytes] = []
    for codec in ("utf-8", "cp932"):
        try:
            encoded = value.encode(codec)
        except UnicodeEncodeError:
            continue
        if encoded and encoded not in out:
            out.append(encoded)
    return out
