"""Build the harmless, synthetic sample messages in ``samples/``.

Every message here re-enacts a trick from the National Police Agency's published examples of 標的型メール攻撃
(targeted e-mail attacks) with fictional people and domains, and with payloads that cannot do anything:

* every "executable" is a 1 KiB PE image built byte by byte by :func:`minimal_pe`: one ``.text`` section
  whose entry point is a single ``ret`` (0xC3), no imports, no resources, no other code;
* every PDF is written by hand by :func:`build_pdf`; the only script in any of them is ``app.alert("sample");``.

Run it from the project root::

    .venv/bin/python samples/build_samples.py

It overwrites ``samples/*.eml``, then parses every message back with the standard library and checks that each
attachment (and each archive member) extracts to exactly the bytes that were put in; any mismatch is an error.

The output is deterministic: fixed dates, Message-IDs, MIME boundaries and zip timestamps; the ZipCrypto header
bytes and the AES salt come from SHA-256 of fixed labels instead of a random source. Running it twice gives
byte-identical files on the same machine (deflate output depends on the zlib build, which may differ elsewhere).

The MIME text is assembled by hand rather than with :mod:`email.generator`, so that each sample shows exactly
the encodings Japanese mailers use (ISO-2022-JP bodies, RFC 2047 words in ``name=``, RFC 2231 ``filename*=``).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import email
import email.message
import email.policy
import hashlib
import io
import quopri
import struct
import sys
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

import pyzipper  # its package imports pyzipper.zipfile_aes, used below as an attribute

HERE = Path(__file__).resolve().parent
JST = dt.timezone(dt.timedelta(hours=9))

# --------------------------------------------------------------------------------------------------------------
# A harmless PE
# --------------------------------------------------------------------------------------------------------------


def minimal_pe(timestamp: int) -> bytes:
    """Return a 1024-byte PE32 (i386, GUI subsystem) whose only code is ``ret`` at the entry point.

    Layout: a 64-byte DOS header with ``e_lfanew`` = 0x40 (no DOS stub program), the ``PE\\0\\0`` signature, the
    COFF header, a PE32 optional header with 16 empty data directories (so: no imports, no relocations, no
    resources), one ``.text`` section table entry; headers padded to 0x200, then the section's raw data: one
    0xC3 byte padded with zeros to 0x200. ``timestamp`` only makes each sample's hash distinct.
    """
    file_align, section_align, image_base = 0x200, 0x1000, 0x400000
    text_rva = 0x1000
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)  # e_lfanew
    coff = struct.pack(
        "<HHIIIHH",
        0x014C,  # Machine: i386
        1,  # NumberOfSections
        timestamp,  # TimeDateStamp
        0,  # PointerToSymbolTable
        0,  # NumberOfSymbols
        0xE0,  # SizeOfOptionalHeader (PE32, 16 data directories)
        0x0102,  # Characteristics: EXECUTABLE_IMAGE | 32BIT_MACHINE
    )
    optional = struct.pack(
        "<HBBIIIIII",
        0x010B,  # Magic: PE32
        14,  # MajorLinkerVersion
        0,  # MinorLinkerVersion
        file_align,  # SizeOfCode
        0,  # SizeOfInitializedData
        0,  # SizeOfUninitializedData
        text_rva,  # AddressOfEntryPoint -> the ret
        text_rva,  # BaseOfCode
        0x2000,  # BaseOfData
    )
    optional += struct.pack(
        "<IIIHHHHHHIIIIHHIIIIII",
        image_base,  # ImageBase
        section_align,  # SectionAlignment
        file_align,  # FileAlignment
        6,  # MajorOperatingSystemVersion
        0,  # MinorOperatingSystemVersion
        0,  # MajorImageVersion
        0,  # MinorImageVersion
        6,  # MajorSubsystemVersion
        0,  # MinorSubsystemVersion
        0,  # Win32VersionValue
        0x2000,  # SizeOfImage: headers page + .text page
        file_align,  # SizeOfHeaders
        0,  # CheckSum
        2,  # Subsystem: Windows GUI
        0x8100,  # DllCharacteristics: NX_COMPAT | TERMINAL_SERVER_AWARE
        0x100000,  # SizeOfStackReserve
        0x1000,  # SizeOfStackCommit
        0x100000,  # SizeOfHeapReserve
        0x1000,  # SizeOfHeapCommit
        0,  # LoaderFlags
        16,  # NumberOfRvaAndSizes
    )
    optional += bytes(16 * 8)  # every data directory empty
    assert len(optional) == 0xE0
    section = struct.pack(
        "<8sIIIIIIHHI",
        b".text",
        1,  # VirtualSize: one byte of code
        text_rva,  # VirtualAddress
        file_align,  # SizeOfRawData
        file_align,  # PointerToRawData
        0,
        0,
        0,
        0,
        0x60000020,  # CODE | EXECUTE | READ
    )
    headers = bytes(dos) + b"PE\0\0" + coff + optional + section
    headers = headers.ljust(file_align, b"\0")
    text = b"\xc3".ljust(file_align, b"\0")  # ret
    return headers + text


def _unix(year: int, month: int, day: int) -> int:
    """Seconds since the epoch for midnight UTC of a date: a plausible PE link time."""
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp())


# --------------------------------------------------------------------------------------------------------------
# Zip archives written by hand: CP932 names without the UTF-8 flag, and traditional PKWARE (ZipCrypto) encryption
# --------------------------------------------------------------------------------------------------------------


def _make_crc_table() -> tuple[int, ...]:
    """The CRC-32 table for the reflected polynomial 0xEDB88320."""
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def _crc_byte(crc: int, byte: int) -> int:
    """One step of CRC-32 (the update ZipCrypto's key schedule uses)."""
    return (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]


class ZipCrypto:
    """The traditional PKWARE stream cipher (APPNOTE 6.1): three 32-bit keys updated with CRC-32."""

    def __init__(self, password: bytes) -> None:
        self.k0, self.k1, self.k2 = 0x12345678, 0x23456789, 0x34567890
        for b in password:
            self._update(b)

    def _update(self, plain: int) -> None:
        self.k0 = _crc_byte(self.k0, plain)
        self.k1 = (self.k1 + (self.k0 & 0xFF)) & 0xFFFFFFFF
        self.k1 = (self.k1 * 134775813 + 1) & 0xFFFFFFFF
        self.k2 = _crc_byte(self.k2, (self.k1 >> 24) & 0xFF)

    def _stream_byte(self) -> int:
        temp = (self.k2 | 2) & 0xFFFF
        return ((temp * (temp ^ 1)) >> 8) & 0xFF

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt ``data``, advancing the keys (call for the 12-byte header first, then the data)."""
        out = bytearray()
        for b in data:
            out.append(b ^ self._stream_byte())
            self._update(b)
        return bytes(out)


@dataclass(frozen=True)
class ZipMember:
    """One file for :func:`build_zip`; ``name`` is the exact bytes written into the headers."""

    name: bytes
    data: bytes
    when: tuple[int, int, int, int, int, int]
    utf8: bool = False
    deflate: bool = True
    password: bytes | None = None


def _dos_datetime(when: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    year, month, day, hour, minute, second = when
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def _deflate(data: bytes) -> bytes:
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush()


def build_zip(members: Sequence[ZipMember]) -> bytes:
    """Write a zip archive by hand: local headers, data, central directory, end record.

    Made-by is MS-DOS (as Windows tools write), external attributes are FILE_ATTRIBUTE_ARCHIVE, the UTF-8 flag
    (0x800) is set only where ``utf8`` is true, and a member with a password is encrypted with ZipCrypto: a
    12-byte header (11 fixed pseudo-random bytes, then the CRC's high byte, since no data descriptor is used)
    followed by the encrypted compressed data, with flag bit 0x1 set.
    """
    out = bytearray()
    central = bytearray()
    for m in members:
        crc = zlib.crc32(m.data) & 0xFFFFFFFF
        method = 8 if m.deflate else 0
        payload = _deflate(m.data) if m.deflate else m.data
        flags = 0
        if m.utf8:
            flags |= 0x800
        if m.password is not None:
            flags |= 0x1
            filler = hashlib.sha256(b"triage sample zipcrypto header:" + m.name).digest()[:11]
            cipher = ZipCrypto(m.password)
            payload = cipher.encrypt(filler + bytes([crc >> 24])) + cipher.encrypt(payload)
        version = 20 if (m.deflate or m.password is not None) else 10
        dos_time, dos_date = _dos_datetime(m.when)
        offset = len(out)
        out += struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            version,
            flags,
            method,
            dos_time,
            dos_date,
            crc,
            len(payload),
            len(m.data),
            len(m.name),
            0,
        )
        out += m.name + payload
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,  # version made by: MS-DOS, 2.0
            version,
            flags,
            method,
            dos_time,
            dos_date,
            crc,
            len(payload),
            len(m.data),
            len(m.name),
            0,  # extra length
            0,  # comment length
            0,  # disk number start
            0,  # internal attributes
            0x20,  # external attributes: FILE_ATTRIBUTE_ARCHIVE
            offset,
        )
        central += m.name
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), cd_offset, 0)
    return bytes(out)


def stdlib_zip(name: str, data: bytes, when: tuple[int, int, int, int, int, int]) -> bytes:
    """A one-member deflated zip made with :mod:`zipfile` (names stay ASCII here)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo(name, date_time=when)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 0  # MS-DOS, whatever platform builds it
        info.external_attr = 0x20
        zf.writestr(info, data)
    return buf.getvalue()


class _FixedRandom:
    """Stands in for ``Cryptodome.Random`` inside pyzipper while one archive is written: SHA-256 of a label."""

    def __init__(self, label: bytes) -> None:
        self._label = label

    def new(self) -> _FixedRandom:
        return self

    def read(self, n: int) -> bytes:
        stream = b""
        counter = 0
        while len(stream) < n:
            stream += hashlib.sha256(self._label + counter.to_bytes(4, "big")).digest()
            counter += 1
        return stream[:n]


@contextlib.contextmanager
def _fixed_aes_salt(label: bytes) -> Iterator[None]:
    """Make pyzipper's AES salt deterministic inside this block only (samples, never real secrets)."""
    original = pyzipper.zipfile_aes.Random
    pyzipper.zipfile_aes.Random = _FixedRandom(label)
    try:
        yield
    finally:
        pyzipper.zipfile_aes.Random = original


def aes_zip(name: str, data: bytes, password: bytes, when: tuple[int, int, int, int, int, int]) -> bytes:
    """A one-member WinZip AES-256 zip made with pyzipper, with a salt fixed for reproducibility."""
    buf = io.BytesIO()
    with (
        _fixed_aes_salt(b"triage sample aes salt:" + name.encode()),
        pyzipper.AESZipFile(buf, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf,
    ):
        zf.setpassword(password)
        info = pyzipper.zipfile_aes.AESZipInfo(name, date_time=when)
        info.compress_type = pyzipper.ZIP_DEFLATED
        info.create_system = 0
        info.external_attr = 0x20
        zf.writestr(info, data)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------------------
# PDFs written by hand
# --------------------------------------------------------------------------------------------------------------


def pdf_stream(entries: str, data: bytes) -> bytes:
    """An object body for a stream: the dictionary ``entries`` plus /Length, then the data."""
    return f"<< {entries} /Length {len(data)} >>\nstream\n".encode("ascii") + data + b"\nendstream"


def build_pdf(objects: Sequence[bytes]) -> bytes:
    """Serialise objects numbered 1..n (object 1 is the catalog) with a correct xref table and trailer."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode("ascii")
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode("ascii")
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode("ascii")
    return bytes(out)


def _page_objects(lines: Sequence[str], first: int) -> tuple[bytes, bytes, bytes]:
    """Page, content stream and font objects for one A4 page of Helvetica text; ``first`` is the page's number."""
    ops = ["BT", "/F1 20 Tf", "72 770 Td", "24 TL"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    content = "\n".join(ops).encode("ascii")
    page = (
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {first + 1} 0 R "
        f"/Resources << /Font << /F1 {first + 2} 0 R >> >> >>"
    ).encode("ascii")
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    return page, pdf_stream("", content), font


def text_pdf(lines: Sequence[str]) -> bytes:
    """A benign one-page PDF: catalog, pages, page, content, font."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    return build_pdf([catalog, pages, *_page_objects(lines, 3)])


def javascript_pdf(lines: Sequence[str], script: str) -> bytes:
    """A one-page PDF whose catalog's /OpenAction runs a /JavaScript action (the script must be harmless)."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>"
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    escaped = script.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    action = f"<< /Type /Action /S /JavaScript /JS ({escaped}) >>".encode("ascii")
    return build_pdf([catalog, pages, *_page_objects(lines, 3), action])


def embedded_file_pdf(lines: Sequence[str], name: str, data: bytes, mime: str) -> bytes:
    """A one-page PDF carrying ``data`` as an embedded file in the catalog's /EmbeddedFiles name tree."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles 6 0 R >> >>"
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    name_tree = f"<< /Names [({name}) 7 0 R] >>".encode("ascii")
    filespec = f"<< /Type /Filespec /F ({name}) /UF ({name}) /EF << /F 8 0 R >> >>".encode("ascii")
    subtype = mime.replace("/", "#2F")
    embedded = pdf_stream(
        f"/Type /EmbeddedFile /Subtype /{subtype} /Filter /FlateDecode /Params << /Size {len(data)} >>",
        zlib.compress(data, 9),
    )
    return build_pdf([catalog, pages, *_page_objects(lines, 3), name_tree, filespec, embedded])


# --------------------------------------------------------------------------------------------------------------
# MIME, assembled by hand
# --------------------------------------------------------------------------------------------------------------


def encoded_words(text: str, charset: str, limit: int = 66) -> list[str]:
    """RFC 2047 B-encoded words for ``text``, split between characters so no word exceeds ``limit``.

    Each word is encoded on its own, so an ISO-2022-JP word always returns to ASCII before it ends.
    """
    codec = {"UTF-8": "utf-8", "ISO-2022-JP": "iso-2022-jp"}[charset]

    def word(s: str) -> str:
        return f"=?{charset}?B?{base64.b64encode(s.encode(codec)).decode('ascii')}?="

    words: list[str] = []
    chunk = ""
    for ch in text:
        if chunk and len(word(chunk + ch)) > limit:
            words.append(word(chunk))
            chunk = ch
        else:
            chunk += ch
    if chunk:
        words.append(word(chunk))
    return words


def ew(text: str, charset: str = "UTF-8") -> str:
    """``text`` as RFC 2047 words folded onto continuation lines, or as is when it is plain ASCII."""
    if text.isascii():
        return text
    return "\n ".join(encoded_words(text, charset))


def mailbox(display: str, address: str, charset: str = "UTF-8") -> str:
    """A ``display <address>`` mailbox with the display name RFC 2047-encoded when it is not ASCII."""
    if display.isascii():
        return f'"{display}" <{address}>'
    # One word only: some decoders (Python's email.policy.default among them) put a space between adjacent
    # encoded words inside a display name, so a split name would not come back as it was.
    (word,) = encoded_words(display, charset, limit=75)
    separator = "\n " if len(word) + len(address) > 66 else " "
    return f"{word}{separator}<{address}>"


def rfc2231(param: str, value: str) -> str:
    """``param*=UTF-8''...`` (percent-encoded UTF-8), as Thunderbird and Python write non-ASCII file names."""
    return f"{param}*=UTF-8''{quote(value, safe='')}"


def rfc2047_param(param: str, value: str, charset: str = "UTF-8") -> str:
    """``param="=?...?="``: not standard for parameters, but what Outlook and many Japanese mailers write."""
    return f'{param}="{" ".join(encoded_words(value, charset))}"'


@dataclass
class Part:
    """A MIME entity: headers (already encoded, may contain folded lines) and either a body or child parts."""

    headers: list[tuple[str, str]]
    body: bytes = b""
    boundary: str | None = None
    parts: list[Part] = field(default_factory=list)

    def render(self) -> bytes:
        """The entity as bytes with LF line ends; a multipart's children each keep their own final newline."""
        head = "".join(f"{name}: {value}\n" for name, value in self.headers).encode("ascii")
        if self.boundary is None:
            return head + b"\n" + self.body
        out = bytearray(head + b"\n" + b"This is a multi-part message in MIME format.\n")
        for child in self.parts:
            out += f"\n--{self.boundary}\n".encode("ascii") + child.render()
        out += f"\n--{self.boundary}--\n".encode("ascii")
        return bytes(out)


def b64_body(data: bytes) -> bytes:
    """Base64 in 76-character lines."""
    return base64.encodebytes(data)


def text_part(text: str, charset: str, cte: str) -> Part:
    """A text/plain part: ``charset`` UTF-8 with base64 or quoted-printable, or ISO-2022-JP with 7bit."""
    lines = text.split("\n")
    if charset == "ISO-2022-JP":
        assert cte == "7bit"
        body = b"\n".join(line.encode("iso-2022-jp") for line in lines)
        assert body.isascii()
    elif charset == "GB2312":
        # Chinese tooling labels GBK bytes "gb2312"; GBK is what can carry kana and Japanese kanji forms.
        assert cte == "base64"
        body = b64_body(text.encode("gbk"))
    elif cte == "base64":
        body = b64_body(text.encode("utf-8"))
    else:
        assert cte == "quoted-printable"
        body = quopri.encodestring(text.encode("utf-8"))
    if not body.endswith(b"\n"):
        body += b"\n"
    return Part(
        [("Content-Type", f"text/plain; charset={charset}"), ("Content-Transfer-Encoding", cte)],
        body,
    )


def attachment_part(content_type: str, data: bytes, name_params: tuple[str, str]) -> Part:
    """A base64 attachment; ``name_params`` are the encoded ``name`` and ``filename`` parameters."""
    name, filename = name_params
    return Part(
        [
            ("Content-Type", f"{content_type};\n {name}"),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-Disposition", f"attachment;\n {filename}"),
        ],
        b64_body(data),
    )


def names_rfc2047(value: str, charset: str = "UTF-8") -> tuple[str, str]:
    """Outlook / Japanese-mailer style: ``name="=?..?="`` and ``filename="=?..?="`` (ASCII names quoted plainly)."""
    if value.isascii():
        return f'name="{value}"', f'filename="{value}"'
    return rfc2047_param("name", value, charset), rfc2047_param("filename", value, charset)


def names_rfc2231(value: str) -> tuple[str, str]:
    """Thunderbird / Python style: ``name*=UTF-8''...`` and ``filename*=UTF-8''...``."""
    return rfc2231("name", value), rfc2231("filename", value)


def received(
    from_host: str, from_ip: str, by_host: str, queue_id: str, for_addr: str, when: dt.datetime, tls: bool = False
) -> tuple[str, str]:
    """A Postfix-style Received header."""
    proto = "ESMTPS" if tls else "ESMTP"
    return (
        "Received",
        f"from {from_host}\n\t({from_host} [{from_ip}])\n\tby {by_host} (Postfix) with {proto} id {queue_id}\n"
        f"\tfor <{for_addr}>; {format_datetime(when)}",
    )


def at(year: int, month: int, day: int, hour: int, minute: int, second: int) -> dt.datetime:
    """A fixed time in JST."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=JST)


def message(
    *,
    trace: Sequence[tuple[str, str]],
    from_: str,
    to: str,
    subject: str,
    date: dt.datetime,
    message_id: str,
    boundary: str,
    parts: Sequence[Part],
    mailer: str | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> Part:
    """A multipart/mixed top-level message with trace headers first, as a delivered message has them."""
    headers = [*trace, *extra, ("From", from_), ("To", to), ("Subject", subject), ("Date", format_datetime(date))]
    headers += [("Message-ID", message_id), ("MIME-Version", "1.0")]
    if mailer:
        headers.append(("X-Mailer", mailer))
    headers.append(("Content-Type", f'multipart/mixed;\n boundary="{boundary}"'))
    return Part(headers, boundary=boundary, parts=list(parts))


def external_trace(
    sender_host: str, sender_ip: str, rcpt: str, when: dt.datetime, ids: tuple[str, str], return_path: str
) -> list[tuple[str, str]]:
    """Return-Path plus two hops: the sender's server to our MX, our MX to the mailbox server."""
    hop1 = when + dt.timedelta(seconds=4)
    hop2 = when + dt.timedelta(seconds=5)
    return [
        ("Return-Path", f"<{return_path}>"),
        received("mx1.corp.example.jp", "192.0.2.10", "mbox1.corp.example.jp", ids[1], rcpt, hop2),
        received(sender_host, sender_ip, "mx1.corp.example.jp", ids[0], rcpt, hop1, tls=True),
    ]


# --------------------------------------------------------------------------------------------------------------
# The samples
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """An attachment, as the stdlib should extract it back: decoded file name and bytes."""

    filename: str
    data: bytes


@dataclass
class Sample:
    """One .eml file and what must come back out of it."""

    file: str
    raw: bytes
    attachments: list[Expected]


def sample_01() -> tuple[Sample, bytes]:
    """歓迎会のお知らせ with 歓迎会.zip holding 歓迎会.exe, the member name in CP932 without the UTF-8 flag."""
    exe = minimal_pe(_unix(2011, 4, 11))
    zip_bytes = build_zip([ZipMember("歓迎会.exe".encode("cp932"), exe, (2011, 4, 12, 18, 20, 14))])
    body = (
        "各位\n\n"
        "お疲れ様です。総務課の佐藤です。\n\n"
        "新しく着任された皆様の歓迎会を下記のとおり開催いたします。\n"
        "詳細は添付ファイルをご確認ください。\n\n"
        "日時：4月22日（金）18時30分から\n"
        "場所：添付ファイルに記載しております\n\n"
        "出欠は4月18日（月）までにご連絡ください。\n\n"
        "よろしくお願いいたします。\n\n"
        "総務課 佐藤 花子\n"
    )
    when = at(2011, 4, 13, 9, 41, 55)
    msg = message(
        trace=external_trace(
            "smtp.corp-example-jp.example.net",
            "203.0.113.57",
            "suzuki@corp.example.jp",
            when,
            ("8B7D23A0019", "3F2A11C0042"),
            "sato.hanako@corp-example-jp.example.net",
        ),
        from_=mailbox("総務課 佐藤 花子", "sato.hanako@corp-example-jp.example.net"),
        to=mailbox("鈴木 一郎", "suzuki@corp.example.jp"),
        subject=ew("歓迎会のお知らせ"),
        date=when,
        message_id="<20110413094155.5C1E7A@corp-example-jp.example.net>",
        boundary="----=_NextPart_000_0001_01CBF9A1.2B3C4D50",
        mailer="Microsoft Outlook 14.0",
        parts=[
            text_part(body, "UTF-8", "base64"),
            attachment_part("application/x-zip-compressed", zip_bytes, names_rfc2047("歓迎会.zip")),
        ],
    )
    return Sample("01_welcome_party_zip_exe.eml", msg.render(), [Expected("歓迎会.zip", zip_bytes)]), exe


def sample_02() -> tuple[Sample, bytes]:
    """2011_08.doc that is a PE, sent from a free-mail address by someone signing as a ministry official."""
    exe = minimal_pe(_unix(2011, 8, 29))
    body = (
        "田中様\n\n"
        "プライベートアドレスより失礼いたします。\n"
        "総合政策省の山田です。\n\n"
        "先日の打合せでお話しした件について、\n"
        "8月分の取りまとめ資料をお送りいたします。\n"
        "ご確認のほど、よろしくお願いいたします。\n\n"
        "----------------------------------------\n"
        "総合政策省 国際協力局 調整課\n"
        "山田 太郎\n"
        "TEL：03-0000-1234（内線 5678）\n"
        "----------------------------------------\n"
    )
    when = at(2011, 9, 5, 14, 3, 21)
    msg = message(
        trace=external_trace(
            "smtp-out.freemail.example.com",
            "198.51.100.23",
            "tanaka@corp.example.jp",
            when,
            ("1D44E5B0021", "6A0B71C0077"),
            "yamada.taro.1972@freemail.example.com",
        ),
        from_=mailbox("山田 太郎", "yamada.taro.1972@freemail.example.com", "ISO-2022-JP"),
        to=mailbox("田中 様", "tanaka@corp.example.jp", "ISO-2022-JP"),
        subject=ew("8月分資料の送付", "ISO-2022-JP"),
        date=when,
        message_id="<CAF3x9kQ2011090514032100@mail.freemail.example.com>",
        boundary="20110905140321--0002",
        parts=[
            text_part(body, "ISO-2022-JP", "7bit"),
            attachment_part("application/msword", exe, names_rfc2047("2011_08.doc")),
        ],
    )
    return Sample("02_2011_08_doc_is_exe.eml", msg.render(), [Expected("2011_08.doc", exe)]), exe


def sample_03() -> Sample:
    """A New-Year greeting that also wishes a merry Christmas, with MERRY_CHRISTMAS.pdf (/OpenAction JavaScript)."""
    pdf = javascript_pdf(["Merry Christmas"], 'app.alert("sample");')
    body = (
        "謹賀新年\n\n"
        "旧年中は大変お世話になりました。\n"
        "本年も変わらぬご厚誼のほど、よろしくお願い申し上げます。\n\n"
        "メリークリスマス！\n"
        "ささやかながら、グリーティングカードをお送りします。\n"
        "添付ファイルをご覧ください。\n\n"
        "平成24年 元旦\n\n"
        "株式会社サンプル商事\n"
        "高橋 一郎\n"
    )
    when = at(2011, 12, 27, 10, 15, 2)
    msg = message(
        trace=external_trace(
            "mail.sample-shoji.example.com",
            "203.0.113.88",
            "tanaka@corp.example.jp",
            when,
            ("52E0F1A0104", "0C93D2B0055"),
            "takahashi@sample-shoji.example.com",
        ),
        from_=mailbox("高橋 一郎", "takahashi@sample-shoji.example.com"),
        to=mailbox("田中 様", "tanaka@corp.example.jp"),
        subject=ew("謹賀新年"),
        date=when,
        message_id="<201112271015.AB12CD34@sample-shoji.example.com>",
        boundary="------------030405060708090A0B0C0D0E",
        mailer="Becky! ver. 2.57.01",
        parts=[
            text_part(body, "UTF-8", "quoted-printable"),
            attachment_part("application/pdf", pdf, names_rfc2047("MERRY_CHRISTMAS.pdf")),
        ],
    )
    return Sample("03_merry_christmas_pdf.eml", msg.render(), [Expected("MERRY_CHRISTMAS.pdf", pdf)])


def sample_04() -> tuple[Sample, bytes]:
    """2012_calendar.pdf carrying calendar.exe in its /EmbeddedFiles name tree."""
    exe = minimal_pe(_unix(2012, 1, 5))
    pdf = embedded_file_pdf(
        ["2012 Calendar", "January 2012", "Su Mo Tu We Th Fr Sa", " 1  2  3  4  5  6  7"],
        "calendar.exe",
        exe,
        "application/x-msdownload",
    )
    body = (
        "いつも大変お世話になっております。\n\n"
        "2012年のカレンダーを作成いたしましたので、お送りいたします。\n"
        "添付のPDFファイルを開いてご利用ください。\n\n"
        "今年もどうぞよろしくお願いいたします。\n\n"
        "カレンダー情報センター 広報室\n"
    )
    when = at(2012, 1, 10, 11, 32, 40)
    msg = message(
        trace=external_trace(
            "smtp.calendar-info.example.com",
            "198.51.100.140",
            "tanaka@corp.example.jp",
            when,
            ("7F19A2C0310", "9D04E3A0018"),
            "koho@calendar-info.example.com",
        ),
        from_=mailbox("カレンダー情報センター 広報室", "koho@calendar-info.example.com"),
        to=mailbox("田中 様", "tanaka@corp.example.jp"),
        subject=ew("2012年カレンダーのご案内"),
        date=when,
        message_id="<20120110113240.7F19A2@calendar-info.example.com>",
        boundary="=_2012011011324000_0004",
        parts=[
            text_part(body, "UTF-8", "base64"),
            attachment_part("application/pdf", pdf, names_rfc2047("2012_calendar.pdf")),
        ],
    )
    return Sample("04_2012_calendar_pdf.eml", msg.render(), [Expected("2012_calendar.pdf", pdf)]), exe


def sample_05() -> Sample:
    """報告書<RLO>fdp.exe: displays as 報告書exe.pdf; RFC 2231 UTF-8 file name."""
    exe = minimal_pe(_unix(2026, 2, 12))
    name = "報告書\u202efdp.exe"
    body = (
        "関係各位\n\n"
        "お疲れ様です。監査室です。\n\n"
        "先般実施いたしました監査の報告書を送付いたします。\n"
        "内容をご確認のうえ、今週中にご返信くださいますようお願いいたします。\n\n"
        "監査室\n"
    )
    when = at(2026, 2, 16, 16, 48, 9)
    msg = message(
        trace=external_trace(
            "mail.mof-go-jp.example.net",
            "203.0.113.201",
            "tanaka@corp.example.jp",
            when,
            ("4C2B8E10A7F", "E81F0570C22"),
            "audit@mof-go-jp.example.net",
        ),
        from_=mailbox("監査室", "audit@mof-go-jp.example.net"),
        to=mailbox("田中 様", "tanaka@corp.example.jp"),
        subject=ew("監査報告書の送付について"),
        date=when,
        message_id="<a7c1e0f2-5b3d-4e88-9f10-20260216164809@mof-go-jp.example.net>",
        boundary="------------0B1C2D3E4F5A6B7C8D9E0F10",
        mailer=None,
        extra=[("User-Agent", "Mozilla Thunderbird")],
        parts=[
            text_part(body, "UTF-8", "base64"),
            attachment_part("application/octet-stream", exe, names_rfc2231(name)),
        ],
    )
    return Sample("05_rlo_exe.eml", msg.render(), [Expected(name, exe)])


def sample_06() -> tuple[Sample, bytes]:
    """資料.zip (ZipCrypto, password Kinen2026) with the password written full-width in the body."""
    exe = minimal_pe(_unix(2026, 2, 26))
    zip_bytes = build_zip(
        [ZipMember("資料.exe".encode(), exe, (2026, 3, 2, 9, 10, 30), utf8=True, password=b"Kinen2026")]
    )
    body = (
        "お世話になっております。\n"
        "独立行政法人サンプル研究機構の中村です。\n\n"
        "ご依頼のありました資料を送付いたします。\n"
        "セキュリティのため、添付ファイルは暗号化しております。\n"
        "解凍の際は以下のパスワードをご入力ください。\n\n"
        "パスワード：Ｋｉｎｅｎ２０２６\n\n"
        "何卒よろしくお願いいたします。\n\n"
        "中村 健\n"
    )
    when = at(2026, 3, 2, 9, 25, 44)
    msg = message(
        trace=external_trace(
            "smtp.kenkyu-kikou.example.com",
            "198.51.100.77",
            "tanaka@corp.example.jp",
            when,
            ("2B7A0C91D35", "F3E8A41B0C6"),
            "nakamura@kenkyu-kikou.example.com",
        ),
        from_=mailbox("中村 健", "nakamura@kenkyu-kikou.example.com"),
        to=mailbox("田中 様", "tanaka@corp.example.jp"),
        subject=ew("資料送付の件"),
        date=when,
        message_id="<20260302092544.2B7A0C91D35@kenkyu-kikou.example.com>",
        boundary="------------6F1A2B3C4D5E6F7A8B9C0D1E",
        extra=[("User-Agent", "Mozilla Thunderbird")],
        parts=[
            text_part(body, "UTF-8", "base64"),
            attachment_part("application/zip", zip_bytes, names_rfc2231("資料.zip")),
        ],
    )
    return Sample("06_password_zip_in_body.eml", msg.render(), [Expected("資料.zip", zip_bytes)]), exe


def sample_07() -> tuple[Sample, bytes, bytes]:
    """請求書.zip (WinZip AES-256 by pyzipper) holding 請求書.pdf.exe; password 「pass-7731」 in the body."""
    exe = minimal_pe(_unix(2026, 3, 6))
    zip_bytes = aes_zip("請求書.pdf.exe", exe, b"pass-7731", (2026, 3, 10, 8, 55, 2))
    body = (
        "ご担当者様\n\n"
        "いつもお世話になっております。\n"
        "株式会社サンプル物流 経理部の木村でございます。\n\n"
        "今月分の請求書をお送りいたします。\n"
        "添付ファイルはパスワード付きZIPとなっております。\n\n"
        "解凍パスワードは「pass-7731」です。\n\n"
        "お手数ですが、ご確認のほどよろしくお願いいたします。\n"
    )
    when = at(2026, 3, 10, 9, 2, 17)
    msg = message(
        trace=external_trace(
            "mail.sample-butsuryu.example.com",
            "203.0.113.19",
            "tanaka@corp.example.jp",
            when,
            ("8E2D7F40B13", "1A6C93E0F48"),
            "kimura@sample-butsuryu.example.com",
        ),
        from_=mailbox("木村 さくら", "kimura@sample-butsuryu.example.com"),
        to=mailbox("田中 様", "tanaka@corp.example.jp"),
        subject=ew("請求書送付のご案内"),
        date=when,
        message_id="<TYCP286MB1234ABCD20260310090217@mail.sample-butsuryu.example.com>",
        boundary="_004_TYCP286MB1234ABCD_",
        mailer="Microsoft Outlook 16.0",
        parts=[
            text_part(body, "UTF-8", "base64"),
            attachment_part("application/x-zip-compressed", zip_bytes, names_rfc2047("請求書.zip")),
        ],
    )
    return Sample("07_aes_zip_password_in_body.eml", msg.render(), [Expected("請求書.zip", zip_bytes)]), exe, zip_bytes


def sample_08(original: Sample) -> Sample:
    """A colleague forwards sample 1 to the CSIRT as a message/rfc822 attachment."""
    body = (
        "CSIRT ご担当者様\n\n"
        "お疲れ様です。総務部の鈴木です。\n"
        "不審なメールが届いたので転送します。\n"
        "添付ファイルは開いていません。\n\n"
        "鈴木 一郎\n"
    )
    when = at(2011, 4, 13, 10, 5, 31)
    inner_name = "歓迎会のお知らせ.eml"
    forwarded = Part(
        [
            ("Content-Type", f"message/rfc822;\n {rfc2047_param('name', inner_name)}"),
            ("Content-Transfer-Encoding", "7bit"),
            ("Content-Disposition", f"attachment;\n {rfc2047_param('filename', inner_name)}"),
        ],
        original.raw,
    )
    msg = message(
        trace=[
            ("Return-Path", "<suzuki@corp.example.jp>"),
            received(
                "pc-suzuki.corp.example.jp",
                "192.0.2.141",
                "mbox1.corp.example.jp",
                "B0C7D21A0E4",
                "csirt@corp.example.jp",
                when + dt.timedelta(seconds=1),
            ),
        ],
        extra=[("Authentication-Results", "mbox1.corp.example.jp;\n\tspf=pass smtp.mailfrom=corp.example.jp")],
        from_=mailbox("鈴木 一郎", "suzuki@corp.example.jp"),
        to=mailbox("CSIRT", "csirt@corp.example.jp"),
        subject="Fwd: " + ew("歓迎会のお知らせ"),
        date=when,
        message_id="<20110413100531.B0C7D2@corp.example.jp>",
        boundary="----=_NextPart_000_0008_01CBF9A4.7E8F9A00",
        mailer="Microsoft Outlook 14.0",
        parts=[text_part(body, "UTF-8", "base64"), forwarded],
    )
    # The stdlib walks into the forwarded message, so sample 1's attachment is what comes back out.
    return Sample("08_forwarded_welcome_party.eml", msg.render(), list(original.attachments))


def sample_09() -> Sample:
    """A normal ISO-2022-JP business mail with a benign PDF: must stay clean."""
    pdf = text_pdf(["FY2026 Regular Meeting", "Agenda", "1. Q4 results", "2. Schedule for April", "3. Other"])
    body = (
        "株式会社コーポ\n"
        "田中様\n\n"
        "いつもお世話になっております。\n"
        "サンギョウ株式会社の小林です。\n\n"
        "3月19日（木）の定例会議で使用する資料をお送りいたします。\n"
        "事前にお目通しいただけますと幸いです。\n\n"
        "ご不明な点がございましたら、お気軽にお問い合わせください。\n"
        "引き続きどうぞよろしくお願いいたします。\n\n"
        "--\n"
        "サンギョウ株式会社 営業部\n"
        "小林 真理子\n"
        "kobayashi.mariko@sangyo.example.co.jp\n"
    )
    when = at(2026, 3, 12, 13, 30, 6)
    msg = message(
        trace=external_trace(
            "mx-out.sangyo.example.co.jp",
            "198.51.100.9",
            "tanaka@corp.example.jp",
            when,
            ("3A9B1C20E57", "C4D5E60F718"),
            "kobayashi.mariko@sangyo.example.co.jp",
        ),
        extra=[("Authentication-Results", "mx1.corp.example.jp;\n\tspf=pass smtp.mailfrom=sangyo.example.co.jp")],
        from_=mailbox("小林 真理子", "kobayashi.mariko@sangyo.example.co.jp", "ISO-2022-JP"),
        to=mailbox("田中 様", "tanaka@corp.example.jp", "ISO-2022-JP"),
        subject=ew("会議資料の送付", "ISO-2022-JP"),
        date=when,
        message_id="<20260312133006.3A9B1C20E57@sangyo.example.co.jp>",
        boundary="=_NextPart_20260312133006_0009",
        mailer="Becky! ver. 2.81.06",
        parts=[
            text_part(body, "ISO-2022-JP", "7bit"),
            attachment_part("application/pdf", pdf, names_rfc2047("会議資料.pdf", "ISO-2022-JP")),
        ],
    )
    return Sample("09_benign_business_iso2022jp.eml", msg.render(), [Expected("会議資料.pdf", pdf)])


def html_part(html: str) -> Part:
    """A text/html part in UTF-8, quoted-printable."""
    return Part(
        [("Content-Type", "text/html; charset=UTF-8"), ("Content-Transfer-Encoding", "quoted-printable")],
        quopri.encodestring(html.encode("utf-8")),
    )


def alternative(boundary: str, parts: Sequence[Part]) -> Part:
    """A multipart/alternative body (text and HTML)."""
    return Part(
        [("Content-Type", f'multipart/alternative;\n boundary="{boundary}"')], boundary=boundary, parts=list(parts)
    )


def sample_11() -> Sample:
    """A ministry's name in the display name, an address that is not the ministry's: the NPA's spoofed senders."""
    pdf = text_pdf(["Meeting attendance report", "Participants: (list)", "Next meeting: TBD"])
    body = (
        "関係各位\n\n"
        "いつもお世話になっております。\n"
        "経済産業省 商務情報政策局の高橋です。\n\n"
        "先日開催された情報セキュリティ対策会議の出席報告を送付いたします。\n"
        "内容をご確認のうえ、ご意見がございましたらご連絡ください。\n\n"
        "よろしくお願いいたします。\n\n"
        "経済産業省 商務情報政策局\n"
        "高橋 誠\n"
    )
    when = at(2026, 6, 8, 10, 12, 40)
    msg = message(
        trace=external_trace(
            "mail.keizai-joho.example.com",
            "203.0.113.140",
            "tanaka@corp.example.jp",
            when,
            ("7E21C90B3A1", "0D4F8A61B22"),
            "takahashi@keizai-joho.example.com",
        ),
        from_=mailbox("経済産業省 高橋誠", "takahashi@keizai-joho.example.com", "ISO-2022-JP"),
        to=mailbox("田中 様", "tanaka@corp.example.jp"),
        subject=ew("会議出席報告"),
        date=when,
        message_id="<20260608101240.7E21C90B3A1@keizai-joho.example.com>",
        boundary="----=_Part_0011_20260608101240",
        mailer="Microsoft Outlook 16.0",
        parts=[
            text_part(body, "UTF-8", "base64"),
            attachment_part("application/pdf", pdf, names_rfc2047("会議出席報告.pdf")),
        ],
    )
    return Sample("11_spoofed_ministry_display_name.eml", msg.render(), [Expected("会議出席報告.pdf", pdf)])


def sample_12() -> Sample:
    """A sender domain that imitates a go.jp domain (go.jp.<other>), and a link to a go-jp lookalike."""
    url = "http://nisc-go-jp.example.net/update/tool.html"
    text = (
        "関係各位\n\n"
        "内閣サイバーセキュリティセンターです。\n\n"
        "政府機関を狙った不正アクセスが確認されています。\n"
        "下記のページから対策ツールを入手し、本日中に適用してください。\n\n"
        f"{url}\n\n"
        "内閣サイバーセキュリティセンター\n"
    )
    html = (
        "<html><body><p>関係各位</p><p>内閣サイバーセキュリティセンターです。</p>"
        "<p>政府機関を狙った不正アクセスが確認されています。<br>"
        "下記のページから対策ツールを入手し、本日中に適用してください。</p>"
        f'<p><a href="{url}">https://www.nisc.go.jp/update/</a></p>'
        "<p>内閣サイバーセキュリティセンター</p></body></html>"
    )
    when = at(2026, 7, 1, 8, 55, 3)
    sender = "alert@nisc.go.jp.security-check.example.com"
    msg = message(
        trace=external_trace(
            "mail.security-check.example.com",
            "198.51.100.61",
            "tanaka@corp.example.jp",
            when,
            ("5B6C7D8E9F0", "A1B2C3D4E5F"),
            sender,
        ),
        extra=[("Authentication-Results", "mx1.corp.example.jp;\n\tspf=none smtp.mailfrom=security-check.example.com")],
        from_=mailbox("内閣サイバーセキュリティセンター", sender, "ISO-2022-JP"),
        to=mailbox("田中 様", "tanaka@corp.example.jp"),
        subject=ew("【重要】不正アクセス対策のお願い"),
        date=when,
        message_id="<20260701085503.5B6C7D8E9F0@security-check.example.com>",
        boundary="----=_Part_0012_20260701085503",
        parts=[
            alternative("----=_Alt_0012_20260701085503", [text_part(text, "UTF-8", "base64"), html_part(html)]),
        ],
    )
    return Sample("12_gov_lookalike_domain.eml", msg.render(), [])


def sample_13() -> tuple[Sample, bytes]:
    """Japanese written with Chinese tooling: GBK bytes labelled gb2312, +0800, Foxmail, simplified kanji."""
    exe = minimal_pe(_unix(2026, 3, 9))
    zip_bytes = build_zip([ZipMember("被害状況.exe".encode("cp932"), exe, (2026, 3, 10, 9, 0, 0))])
    body = (
        "各位\n\n"
        "お世话になっております。\n"
        "地震による被害状况について、资料をお送りします。\n"
        "添付ファイルをご确认ください。\n\n"
        "よろしくお愿いいたします。\n"
    )
    when = dt.datetime(2026, 3, 11, 10, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    msg = message(
        trace=external_trace(
            "smtp.mail-relay.example.net",
            "203.0.113.88",
            "tanaka@corp.example.jp",
            when,
            ("9C8B7A6F5E4", "3D2C1B0A9F8"),
            "info@disaster-info.example.net",
        ),
        from_=mailbox("防災情報センター", "info@disaster-info.example.net"),
        to=mailbox("田中 様", "tanaka@corp.example.jp"),
        subject=ew("地震被害状况について"),
        date=when,
        message_id="<202603111020000001@disaster-info.example.net>",
        boundary="----=_NextPart_0013_20260311102000",
        mailer="Foxmail 7.2.25.228[cn]",
        parts=[
            text_part(body, "GB2312", "base64"),
            attachment_part("application/zip", zip_bytes, names_rfc2047("资料.zip")),
        ],
    )
    return Sample("13_chinese_origin_japanese.eml", msg.render(), [Expected("资料.zip", zip_bytes)]), exe


def sample_14() -> Sample:
    """Unnatural Japanese from the NPA report: 「ご確認するようお願いいたします」「お願いたします」."""
    pdf = text_pdf(["FY2026 budget (draft)", "Section 1", "Section 2"])
    body = (
        "田中様\n\n"
        "いつもお世話になります。\n"
        "来年度の予算案について資料を送ります。\n"
        "添付ファイルをご確認するようお願いいたします。\n"
        "ご不明点があればお問い合わせ下さいますよう、よろしくお願いたします。\n\n"
        "企画部 伊藤\n"
    )
    when = at(2026, 9, 14, 15, 2, 11)
    msg = message(
        trace=external_trace(
            "mail.kikaku-net.example.com",
            "198.51.100.190",
            "tanaka@corp.example.jp",
            when,
            ("2E3F4A5B6C7", "8D9E0F1A2B3"),
            "ito@kikaku-net.example.com",
        ),
        from_=mailbox("伊藤 健一", "ito@kikaku-net.example.com"),
        to=mailbox("田中 様", "tanaka@corp.example.jp"),
        subject=ew("予算案の資料"),
        date=when,
        message_id="<20260914150211.2E3F4A5B6C7@kikaku-net.example.com>",
        boundary="----=_Part_0014_20260914150211",
        parts=[
            text_part(body, "UTF-8", "base64"),
            attachment_part("application/pdf", pdf, names_rfc2047("予算案.pdf")),
        ],
    )
    return Sample("14_unnatural_japanese.eml", msg.render(), [Expected("予算案.pdf", pdf)])


NEST_TEXT = "This is the innermost file of a zip nested five levels deep.\nIt is plain text and harmless.\n"


def nested_zips() -> list[bytes]:
    """archive_level1.zip ⊃ archive_level2.zip ⊃ … ⊃ archive_level5.zip ⊃ readme.txt; returns level 1..5."""
    when = (2026, 3, 23, 17, 0, 0)
    inner = stdlib_zip("readme.txt", NEST_TEXT.encode("ascii"), when)
    levels = [inner]
    for level in range(4, 0, -1):
        levels.insert(0, stdlib_zip(f"archive_level{level + 1}.zip", levels[0], when))
    return levels


def sample_10() -> Sample:
    """A zip in a zip … five levels deep holding a text file: shows the walk, nothing to find."""
    levels = nested_zips()
    body = (
        "伊藤です。\n\n"
        "依頼のあったテスト用のファイルを送ります。\n"
        "ZIPを5段階に重ねて圧縮しています。最後の階層にテキストファイルが1つ入っています。\n\n"
        "情報システム課 伊藤\n"
    )
    when = at(2026, 3, 23, 17, 4, 12)
    msg = message(
        trace=[
            ("Return-Path", "<ito@corp.example.jp>"),
            received(
                "pc-ito.corp.example.jp",
                "192.0.2.152",
                "mbox1.corp.example.jp",
                "D7E8F9A0B1C",
                "tanaka@corp.example.jp",
                when + dt.timedelta(seconds=1),
            ),
        ],
        from_=mailbox("伊藤 翔", "ito@corp.example.jp"),
        to=mailbox("田中 様", "tanaka@corp.example.jp"),
        subject=ew("テスト用ファイル（多重ZIP）"),
        date=when,
        message_id="<20260323170412.D7E8F9@corp.example.jp>",
        boundary="------------1A2B3C4D5E6F7A8B9C0D1E2F",
        extra=[("User-Agent", "Mozilla Thunderbird")],
        parts=[
            text_part(body, "UTF-8", "base64"),
            attachment_part("application/zip", levels[0], names_rfc2231("archive_level1.zip")),
        ],
    )
    return Sample("10_nested_zip_5_levels.eml", msg.render(), [Expected("archive_level1.zip", levels[0])])


# --------------------------------------------------------------------------------------------------------------
# Checking what was written
# --------------------------------------------------------------------------------------------------------------


def _decoded_filename(part: email.message.Message) -> str | None:
    """The attachment's file name as a CSIRT tool would decode it: RFC 2231 or RFC 2047 in quotes."""
    name = part.get_filename()
    if name is None:
        return None
    return str(make_header(decode_header(name)))


def _attachments(msg: email.message.Message) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    for part in msg.walk():
        name = _decoded_filename(part)
        if name is None or part.get_content_type() == "message/rfc822":
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes), name
        found.append((name, payload))
    return found


def _first_child(part: email.message.Message) -> email.message.Message:
    """The first sub-part of a multipart, or the message inside a message/rfc822 part."""
    child = part.get_payload(0)
    assert isinstance(child, email.message.Message)
    return child


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"verification failed: {what}")


def _parse(raw: bytes) -> email.message.Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def verify_messages(samples: Sequence[Sample]) -> None:
    """Parse every message back: 7-bit clean, the usual headers, no defects, attachments byte for byte."""
    for sample in samples:
        raw = sample.raw
        _check(raw.isascii(), f"{sample.file} is 7-bit clean")
        msg = _parse(raw)
        for header in ("Date", "Message-ID", "From", "To", "Subject", "MIME-Version", "Received"):
            _check(msg[header] is not None, f"{sample.file} has {header}")
        _check(not msg.defects, f"{sample.file} parses without defects: {msg.defects}")
        got = _attachments(msg)
        want = [(e.filename, e.data) for e in sample.attachments]
        _check(got == want, f"{sample.file} attachments {[n for n, _ in got]} == {[n for n, _ in want]}")
        for part in msg.walk():
            _check(not part.defects, f"{sample.file} part defects {part.defects}")


def verify(samples: Sequence[Sample], pe_by_file: dict[str, bytes], aes_zip_bytes: bytes) -> None:
    """Parse every message back and check headers, attachments and archive members byte for byte."""
    verify_messages(samples)
    by_file = {s.file: s for s in samples}

    # 01: CP932 name, no UTF-8 flag, PE inside.
    zip01 = by_file["01_welcome_party_zip_exe.eml"].attachments[0].data
    with zipfile.ZipFile(io.BytesIO(zip01)) as zf:
        (info,) = zf.infolist()
        _check(info.flag_bits & 0x800 == 0, "01 UTF-8 flag clear")
        _check(info.filename.encode("cp437") == "歓迎会.exe".encode("cp932"), "01 name bytes are CP932")
        _check(zf.read(info) == pe_by_file["01"], "01 member is the PE")
    with zipfile.ZipFile(io.BytesIO(zip01), metadata_encoding="cp932") as zf:
        _check(zf.namelist() == ["歓迎会.exe"], "01 name decodes as CP932")

    # 02: the .doc is the PE.
    _check(by_file["02_2011_08_doc_is_exe.eml"].attachments[0].data == pe_by_file["02"], "02 doc is the PE")

    # 05: the RLO survived the RFC 2231 round trip.
    _check("\u202e" in by_file["05_rlo_exe.eml"].attachments[0].filename, "05 name holds U+202E")

    # 06: ZipCrypto opens with Kinen2026 and not without it.
    zip06 = by_file["06_password_zip_in_body.eml"].attachments[0].data
    with zipfile.ZipFile(io.BytesIO(zip06)) as zf:
        (info,) = zf.infolist()
        _check(info.flag_bits & 0x1 == 1, "06 encrypted flag set")
        _check(info.filename == "資料.exe", "06 member name")
        _check(zf.read(info, pwd=b"Kinen2026") == pe_by_file["06"], "06 decrypts to the PE")
        try:
            zf.read(info)
        except RuntimeError:
            pass
        else:
            raise SystemExit("verification failed: 06 opened without a password")
    text06 = _first_child(_parse(by_file["06_password_zip_in_body.eml"].raw)).get_payload(decode=True)
    _check(isinstance(text06, bytes), "06 body decodes")
    assert isinstance(text06, bytes)
    _check("パスワード：Ｋｉｎｅｎ２０２６" in text06.decode("utf-8"), "06 body holds the full-width password")

    # 07: WinZip AES-256 opens with pass-7731.
    _check(struct.unpack_from("<H", aes_zip_bytes, 8) == (99,), "07 local header method is 99 (AES)")
    with pyzipper.AESZipFile(io.BytesIO(aes_zip_bytes)) as zf:
        (info,) = zf.infolist()
        _check(info.flag_bits & 0x1 == 1, "07 encrypted flag set")
        _check(info.wz_aes_strength == 3, "07 is AES-256")
        _check(info.filename == "請求書.pdf.exe", "07 member name")
        zf.setpassword(b"pass-7731")
        _check(zf.read(info) == pe_by_file["07"], "07 decrypts to the PE")

    # 08: the forwarded part is sample 1, byte for byte, and its attachment comes back.
    msg08 = _parse(by_file["08_forwarded_welcome_party.eml"].raw)
    rfc822 = [p for p in msg08.walk() if p.get_content_type() == "message/rfc822"]
    _check(len(rfc822) == 1, "08 has one message/rfc822 part")
    inner = _first_child(rfc822[0])
    _check(str(make_header(decode_header(inner["Subject"]))) == "歓迎会のお知らせ", "08 inner subject")
    _check(_attachments(inner) == [("歓迎会.zip", zip01)], "08 inner attachment is sample 1's zip")
    raw08 = by_file["08_forwarded_welcome_party.eml"].raw
    _check(by_file["01_welcome_party_zip_exe.eml"].raw in raw08, "08 embeds sample 1 verbatim")

    # 04: the embedded file inflates to the PE.
    pdf04 = by_file["04_2012_calendar_pdf.eml"].attachments[0].data
    start = pdf04.index(b"stream\n", pdf04.index(b"/Type /EmbeddedFile")) + len(b"stream\n")
    end = pdf04.index(b"\nendstream", start)
    _check(zlib.decompress(pdf04[start:end]) == pe_by_file["04"], "04 embedded file is the PE")

    # 10: walk the five levels down to the text.
    data = by_file["10_nested_zip_5_levels.eml"].attachments[0].data
    for level in range(2, 6):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _check(zf.namelist() == [f"archive_level{level}.zip"], f"10 level {level - 1} holds level {level}")
            data = zf.read(f"archive_level{level}.zip")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        _check(zf.namelist() == ["readme.txt"], "10 level 5 holds readme.txt")
        _check(zf.read("readme.txt").decode("ascii") == NEST_TEXT, "10 text")

    # Every PE is the harmless one: ret at the entry point, nothing else in the section.
    for key, pe in pe_by_file.items():
        _check(len(pe) == 1024 and pe[:2] == b"MZ" and pe[0x40:0x44] == b"PE\0\0", f"PE {key} headers")
        _check(pe[0x200:] == b"\xc3" + bytes(0x1FF), f"PE {key} code is a single ret")


def build() -> list[Path]:
    """Build every sample, verify it, write it; return the paths written."""
    s01, pe01 = sample_01()
    s02, pe02 = sample_02()
    s03 = sample_03()
    s04, pe04 = sample_04()
    s05 = sample_05()
    s06, pe06 = sample_06()
    s07, pe07, zip07 = sample_07()
    s08 = sample_08(s01)
    s09 = sample_09()
    s10 = sample_10()
    s11 = sample_11()
    s12 = sample_12()
    s13, pe13 = sample_13()
    s14 = sample_14()
    samples = [s01, s02, s03, s04, s05, s06, s07, s08, s09, s10, s11, s12, s13, s14]
    pes = {"01": pe01, "02": pe02, "04": pe04, "06": pe06, "07": pe07, "13": pe13}
    verify(samples, pes, zip07)
    # The payload samples (15 and up) use this module's helpers; imported here, after it has loaded.
    from payload_messages import payload_samples, verify_payloads

    payloads = payload_samples()
    verify_messages(payloads)
    problems = verify_payloads(payloads)
    _check(not problems, "; ".join(problems))
    samples += payloads
    written = []
    for sample in samples:
        path = HERE / sample.file
        path.write_bytes(sample.raw)
        written.append(path)
    return written


def main() -> int:
    """Build, verify and write the samples; print what was written."""
    for path in build():
        print(f"{path.stat().st_size:8d}  {hashlib.sha256(path.read_bytes()).hexdigest()[:16]}  {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
