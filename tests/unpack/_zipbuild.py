"""A raw ZIP writer for tests: every field the stdlib would normalise can be set (names without the UTF-8
flag, lying sizes, bad CRCs, ZipCrypto, entries sharing one local header)."""

from __future__ import annotations

import bz2
import struct
import zlib
from dataclasses import dataclass

from ._zipcrypto import zipcrypto_encrypt

_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_EOCD = struct.Struct("<4s4H2LH")


@dataclass
class Member:
    name: str | bytes
    data: bytes = b""
    method: int = 0  # 0 stored, 8 deflate, 12 bzip2; anything else stores `data` under that method number
    utf8: bool | None = None  # None: set the flag when a str name is not ASCII
    extra: bytes = b""
    password: bytes | None = None  # ZipCrypto
    compressed: bytes | None = None  # a ready payload; then give crc and size
    crc: int | None = None
    size: int | None = None  # the declared uncompressed size
    alias_of: int | None = None  # a central entry pointing at that member's local header (no local record)
    date_time: tuple[int, int, int, int, int, int] = (2024, 5, 1, 12, 34, 56)


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def unicode_path_extra(raw_name: bytes, unicode_name: str, *, crc: int | None = None) -> bytes:
    body = b"\x01" + struct.pack("<L", zlib.crc32(raw_name) if crc is None else crc) + unicode_name.encode()
    return struct.pack("<HH", 0x7075, len(body)) + body


def build_zip(members: list[Member], *, prepend: bytes = b"", comment: bytes = b"") -> bytes:
    out = bytearray(prepend)
    centrals: list[bytes] = []
    records: list[tuple[int, int, int, int, int]] = []  # offset, flags, crc, csize, usize per member
    for m in members:
        raw = m.name if isinstance(m.name, bytes) else m.name.encode("utf-8")
        utf8 = m.utf8 if m.utf8 is not None else (isinstance(m.name, str) and not m.name.isascii())
        flags = 0x800 if utf8 else 0
        y, mo, d, h, mi, s = m.date_time
        dos_date = ((y - 1980) << 9) | (mo << 5) | d
        dos_time = (h << 11) | (mi << 5) | (s // 2)
        if m.alias_of is not None:
            offset, flags, crc, csize, usize = records[m.alias_of]
        else:
            crc = zlib.crc32(m.data) if m.crc is None else m.crc
            usize = len(m.data) if m.size is None else m.size
            if m.compressed is not None:
                payload = m.compressed
            elif m.method == 8:
                payload = deflate(m.data)
            elif m.method == 12:
                payload = bz2.compress(m.data)
            else:
                payload = m.data
            if m.password is not None:
                payload = zipcrypto_encrypt(m.password, payload, crc)
                flags |= 0x1
            csize = len(payload)
            offset = len(out) - len(prepend)
            out += _LOCAL.pack(
                b"PK\x03\x04", 20, 0, flags, m.method, dos_time, dos_date, crc, csize, usize, len(raw), len(m.extra)
            )
            out += raw + m.extra + payload
        records.append((offset, flags, crc, csize, usize))
        centrals.append(
            _CENTRAL.pack(
                b"PK\x01\x02",
                20,
                0,
                20,
                0,
                flags,
                m.method,
                dos_time,
                dos_date,
                crc,
                csize,
                usize,
                len(raw),
                len(m.extra),
                0,
                0,
                0,
                0,
                offset,
            )
            + raw
            + m.extra
        )
    cd_offset = len(out) - len(prepend)
    cd = b"".join(centrals)
    out += cd
    out += _EOCD.pack(b"PK\x05\x06", 0, 0, len(members), len(members), len(cd), cd_offset, len(comment))
    out += comment
    return bytes(out)
