"""The adversarial corpus (issue 8): crafted messages built in code, on demand, each with what a scan must report.

Every case is a whole RFC 822 message. Nothing here is written to disk and nothing large is kept: `Case.build`
makes the bytes when called (every case in about a second or less: bombs are written as repeated deflate blocks,
not by compressing gigabytes). Payloads are inert: zeros, random bytes, and the harmless builders of
`samples/samplekit/` (truncated and corrupted here).

Other tests import this module (the gateway fault test feeds the `small` cases through Postfix): keep `Case` and
`all_cases()` stable.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import hmac
import importlib
import io
import random
import struct
import sys
import tarfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = ["Case", "all_cases", "message"]

MiB = 1024 * 1024
_SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]  # the whole RFC 822 message, built on demand
    expect_notes: frozenset[str]  # NoteKind values that must appear (may be empty)
    expect_findings: frozenset[str]  # finding ids that must appear (may be empty)
    incomplete: bool | None  # True: complete=false expected; False: complete; None: either
    small: bool  # under ~2 MB built: the gateway helper feeds these through Postfix


def _kit(module: str) -> ModuleType:
    """A samplekit module (samples/ is on sys.path under pytest; added here for other callers)."""
    if str(_SAMPLES) not in sys.path:
        sys.path.insert(0, str(_SAMPLES))
    return importlib.import_module(f"samplekit.{module}")


# -- messages ---------------------------------------------------------------------------------------------------------

Header = tuple[str, str | bytes]


def _headers(headers: Sequence[Header]) -> bytes:
    out = bytearray()
    for name, value in headers:
        out += name.encode("ascii") + b": " + (value if isinstance(value, bytes) else value.encode("utf-8")) + b"\r\n"
    return bytes(out)


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def attachment(name: str, data: bytes, ctype: str = "application/octet-stream") -> bytes:
    """One base64 attachment part (message/rfc822 parts are kept as they are, as mailers send them)."""
    if ctype == "message/rfc822":
        return _headers([("Content-Type", ctype), ("Content-Disposition", f'attachment; filename="{name}"')]) + (
            b"\r\n" + data
        )
    heads: list[Header] = [
        ("Content-Type", f'{ctype}; name="{name}"'),
        ("Content-Disposition", f'attachment; filename="{name}"'),
        ("Content-Transfer-Encoding", "base64"),
    ]
    return _headers(heads) + b"\r\n" + _b64(data)


def message(
    *,
    subject: str | bytes = "資料送付の件",
    body: str = "お世話になっております。資料を添付いたします。",
    attachments: Sequence[tuple[str, bytes, str]] = (),
    parts: Sequence[bytes] = (),
    headers: Sequence[Header] = (),
    boundary: str = "==adversarial-boundary==",
) -> bytes:
    """A multipart/mixed message: a UTF-8 text body, then `attachments` (name, bytes, type), then raw `parts`."""
    head: list[Header] = [
        ("From", "Taro Yamada <taro@example.co.jp>"),
        ("To", "hanako@example.jp"),
        ("Subject", subject),
        ("Date", "Mon, 16 Nov 2026 10:00:00 +0900"),
        ("Message-ID", "<adversarial@example.co.jp>"),
        ("MIME-Version", "1.0"),
        *headers,
        ("Content-Type", f'multipart/mixed; boundary="{boundary}"'),
    ]
    text = _headers([("Content-Type", 'text/plain; charset="utf-8"'), ("Content-Transfer-Encoding", "base64")])
    chunks = [text + b"\r\n" + _b64(body.encode())]
    chunks += [attachment(*a) for a in attachments]
    chunks += parts
    delim = b"--" + boundary.encode()
    out = bytearray(_headers(head) + b"\r\n")
    for chunk in chunks:
        out += delim + b"\r\n" + chunk + b"\r\n"
    out += delim + b"--\r\n"
    return bytes(out)


# -- raw ZIP writing (every field under our control) -----------------------------------------------------------------

_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_EOCD = struct.Struct("<4s4H2LH")
_CRC_TABLE = tuple(zlib.crc32(bytes((i,)), 0xFFFFFFFF) ^ 0xFFFFFFFF for i in range(256))


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _deflate_zeros(size: int, *, zlib_wrapped: bool = False) -> bytes:
    """`size` zeros deflated, fast: after a full flush every MiB compresses to the same bytes, so one is repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, 15 if zlib_wrapped else -15)
    whole, rest = divmod(size, MiB)
    first = c.compress(bytes(MiB)) + c.flush(zlib.Z_FULL_FLUSH) if whole else c.compress(b"")
    repeat = c.compress(bytes(MiB)) + c.flush(zlib.Z_FULL_FLUSH) if whole > 1 else b""
    tail = c.compress(bytes(rest)) + c.flush()
    if zlib_wrapped:  # the trailer is the Adler-32 of all the data, not of what this compressor saw
        adler = 1
        for done in range(0, size, MiB):
            adler = zlib.adler32(bytes(min(MiB, size - done)), adler)
        tail = tail[:-4] + struct.pack(">I", adler)
    return first + repeat * max(0, whole - 1) + tail


def _crc_zeros(size: int) -> int:
    crc, chunk = 0, bytes(MiB)
    for done in range(0, size, MiB):
        crc = zlib.crc32(chunk[: min(MiB, size - done)], crc)
    return crc


def _zipcrypto(password: bytes, payload: bytes, crc: int) -> bytes:
    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(byte: int) -> None:
        k0 = (keys[0] >> 8) ^ _CRC_TABLE[(keys[0] ^ byte) & 0xFF]
        k1 = ((keys[1] + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[:] = [k0, k1, (keys[2] >> 8) ^ _CRC_TABLE[(keys[2] ^ (k1 >> 24)) & 0xFF]]

    for byte in password:
        update(byte)
    out = bytearray()
    for byte in b"\x5a" * 11 + bytes(((crc >> 24) & 0xFF,)) + payload:
        k = keys[2] | 2
        out.append(byte ^ (((k * (k ^ 1)) >> 8) & 0xFF))
        update(byte)
    return bytes(out)


@functools.lru_cache(maxsize=8)
def _aes_keys(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    material = hashlib.pbkdf2_hmac("sha1", password, salt, 1000, 66)
    return material[:32], material[32:64], material[64:]


def _winzip_aes(password: bytes, payload: bytes, salt: bytes) -> bytes:
    """WinZip AE-2, AES-256: salt, password verifier, AES-CTR (little-endian counter from 1), HMAC-SHA1/10."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key, mac_key, verifier = _aes_keys(password, salt)
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # the CTR keystream, counter built by hand
    blocks = (len(payload) + 15) // 16
    stream = encryptor.update(b"".join((i + 1).to_bytes(16, "little") for i in range(blocks)))
    cipher = bytes(a ^ b for a, b in zip(payload, stream, strict=False))
    mac = hmac.new(mac_key, cipher, "sha1")
    return salt + verifier + cipher + mac.digest()[:10]


@dataclass(frozen=True)
class _Member:
    name: bytes
    data: bytes = b""
    method: int = 8
    password: bytes | None = None
    aes: bool = False
    unix_mode: int | None = None  # st_mode in the external attributes (symlinks: 0o120777)
    compressed: bytes | None = None  # ready-made payload: then crc and size must be given
    crc: int = 0
    size: int = 0


def _zip(members: Sequence[_Member]) -> bytes:
    out = bytearray()
    central = bytearray()
    for index, m in enumerate(members):
        flags, method, extra = 0, m.method, b""
        if m.compressed is not None:
            payload, crc, usize = m.compressed, m.crc, m.size
        else:
            payload = _deflate(m.data) if m.method == 8 else m.data
            crc, usize = zlib.crc32(m.data), len(m.data)
        if m.password is not None and m.aes:
            salt = hashlib.sha256(b"salt%d" % (index % 4)).digest()[:16]  # a few salts: key derivation is slow
            payload = _winzip_aes(m.password, payload, salt)
            extra = struct.pack("<HHH2sBH", 0x9901, 7, 2, b"AE", 3, m.method)
            flags, method, crc = 1, 99, 0
        elif m.password is not None:
            payload = _zipcrypto(m.password, payload, crc)
            flags = 1
        offset = len(out)
        out += _LOCAL.pack(
            b"PK\x03\x04", 20, 0, flags, method, 0, 0x5821, crc, len(payload), usize, len(m.name), len(extra)
        )
        out += m.name + extra + payload
        made_by, attrs = (3, (m.unix_mode << 16)) if m.unix_mode is not None else (0, 0x20)
        central += _CENTRAL.pack(
            b"PK\x01\x02", 20, made_by, 20, 0, flags, method, 0, 0x5821, crc, len(payload), usize,
            len(m.name), len(extra), 0, 0, 0, attrs, offset,
        )  # fmt: skip
        central += m.name + extra
    count = min(len(members), 0xFFFF)
    return bytes(out + central + _EOCD.pack(b"PK\x05\x06", 0, 0, count, count, len(central), len(out), 0))


# -- builders -------------------------------------------------------------------------------------------------------


def _exe() -> bytes:
    data: bytes = _kit("archives").harmless_exe()
    return data


def _zip_bomb_single() -> bytes:
    size = 200 * MiB  # 200 MiB of zeros in ~200 KiB: ratio ~1000:1
    bomb = _zip([_Member(b"report.txt", compressed=_deflate_zeros(size), crc=_crc_zeros(size), size=size)])
    return message(attachments=[("report.zip", bomb, "application/zip")])


def _gzip_bomb() -> bytes:
    size = 200 * MiB
    header = b"\x1f\x8b\x08\x08" + bytes(4) + b"\x02\x03" + b"invoice.exe\x00"
    bomb = header + _deflate_zeros(size) + struct.pack("<II", _crc_zeros(size), size & 0xFFFFFFFF)
    return message(attachments=[("invoice.exe.gz", bomb, "application/gzip")])


def _zip_bomb_overlapping(files: int = 250, kernel_size: int = 2 * MiB) -> bytes:
    """Fifield's "better zip bomb": each local header is quoted (a stored deflate block) by the previous entry's
    data, so every entry's data runs on through all later entries into one shared kernel."""
    kernel = _deflate_zeros(kernel_size)
    kernel_plain_crc_input = bytes(kernel_size)
    names = [b"%04d.txt" % i for i in range(files)]
    headers: list[bytes] = [b""] * files
    sizes: list[tuple[int, int, int]] = [(0, 0, 0)] * files  # crc, csize, usize
    quoted_plain = b""  # the local headers that later entries expand to, in order
    csize = len(kernel)
    for i in reversed(range(files)):
        usize = len(quoted_plain) + kernel_size
        crc = zlib.crc32(kernel_plain_crc_input, zlib.crc32(quoted_plain))
        sizes[i] = (crc, csize, usize)
        headers[i] = _LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 8, 0, 0x5821, crc, csize, usize, len(names[i]), 0) + names[i]
        quoted_plain = headers[i] + quoted_plain
        csize += 5 + len(headers[i])
    out = bytearray()
    offsets = []
    for i in range(files):
        offsets.append(len(out))
        out += headers[i]
        if i + 1 < files:
            nxt = len(headers[i + 1])
            out += b"\x00" + struct.pack("<HH", nxt, nxt ^ 0xFFFF)  # a non-final stored block quoting it
    out += kernel
    central = bytearray()
    for i in range(files):
        crc, csize, usize = sizes[i]
        central += _CENTRAL.pack(
            b"PK\x01\x02", 20, 0, 20, 0, 0, 8, 0, 0x5821, crc, csize, usize, len(names[i]), 0, 0, 0, 0, 0x20,
            offsets[i],
        ) + names[i]  # fmt: skip
    bomb = bytes(out + central + _EOCD.pack(b"PK\x05\x06", 0, 0, files, files, len(central), len(out), 0))
    return message(attachments=[("overlap.zip", bomb, "application/zip")])


def _zip_bomb_nested(levels: int = 4, width: int = 16) -> bytes:
    """42.zip-style: `width` copies of the level below at every level; the leaves are 20 MiB of zeros each."""
    size = 20 * MiB
    current = _zip([_Member(b"0.dat", compressed=_deflate_zeros(size), crc=_crc_zeros(size), size=size)])
    for level in range(levels):
        current = _zip([_Member(b"lib%d_%d.zip" % (level, i), current) for i in range(width)])
    return message(attachments=[("42.zip", current, "application/zip")])


def _zip_many_members(count: int = 100_000) -> bytes:
    members = [_Member(b"f/%06d.txt" % i, b"x", method=0) for i in range(count)]
    return message(attachments=[("many.zip", _zip(members), "application/zip")])


def _traversal_names() -> bytes:
    evil = b"echo harmless\n"
    members = [
        _Member(b"../../../../tmp/triage-escape.txt", evil),
        _Member(b"/etc/cron.d/triage-escape", evil),
        _Member(b"..\\..\\Windows\\Temp\\escape.bat", evil),
        _Member(b"C:\\Users\\Public\\escape.exe", _exe()),
        _Member(b"ok/../../escape.txt", evil),
        _Member(b"link-to-passwd", b"/etc/passwd", method=0, unix_mode=0o120777),
        _Member(b"link-to-parent", b"../../..", method=0, unix_mode=0o120777),
    ]
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, target in (("../../tmp/triage-escape.txt", None), ("/etc/triage-abs", None), ("ln", "/etc/passwd")):
            info = tarfile.TarInfo(name)
            info.mtime = 1_795_000_000
            if target is None:
                info.size = len(evil)
                archive.addfile(info, io.BytesIO(evil))
            else:
                info.type, info.linkname = tarfile.SYMTYPE, target
                archive.addfile(info)
        hard = tarfile.TarInfo("hard")
        hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/shadow"
        archive.addfile(hard)
    return message(
        attachments=[
            ("names.zip", _zip(members), "application/zip"),
            ("names.tar", tar.getvalue(), "application/x-tar"),
        ]
    )


def _nest_50() -> bytes:
    """50 containers deep, cycling zip → 7z → gzip → message/rfc822, around a harmless exe."""
    sevenzip = _kit("archives").sevenzip
    data, name = _exe(), "payload.exe"
    for level in range(50):
        kind = level % 4
        if kind == 0:
            data, name = _zip([_Member(name.encode(), data)]), f"l{level}.zip"
        elif kind == 1:
            data, name = sevenzip([(name, data)]), f"l{level}.7z"
        elif kind == 2:
            data, name = gzip.compress(data, mtime=0), f"l{level}.gz"
        else:
            data, name = message(subject=f"level {level}", attachments=[(name, data, "application/octet-stream")]), ""
            name = f"l{level}.eml"
    ctype = "message/rfc822" if name.endswith(".eml") else "application/octet-stream"
    return message(attachments=[(name, data, ctype)])


def _mime_10k_parts() -> bytes:
    return message(attachments=[(f"part{i:05d}.txt", b"x", "text/plain") for i in range(10_000)])


def _long_headers() -> bytes:
    line = "a" * MiB
    part = _headers(
        [("Content-Type", f'application/octet-stream; name="{"n" * MiB}.exe"'), ("Content-Transfer-Encoding", "base64")]
    )
    return message(
        subject=line,
        headers=[
            ("X-Junk", "b" * MiB),
            ("Received", f"from {'c' * MiB} by mx.example.jp"),
            ("To", "<" + "d" * MiB + ">"),
        ],
        parts=[part + b"\r\n" + _b64(_exe())],
    )


def _boundary_missing() -> bytes:
    raw = message(attachments=[("a.exe", _exe(), "application/octet-stream")])
    return raw.replace(b'multipart/mixed; boundary="==adversarial-boundary=="', b"multipart/mixed", 1)


def _boundary_never_used() -> bytes:
    raw = message(attachments=[("a.exe", _exe(), "application/octet-stream")])
    return raw.replace(b'boundary="==adversarial-boundary=="', b'boundary="not-the-one-used"', 1)


def _boundary_duplicated() -> bytes:
    """A nested multipart reusing its parent's boundary, an unclosed inner part, and a boundary prefix clash."""
    inner = _headers([("Content-Type", 'multipart/mixed; boundary="==adversarial-boundary=="')]) + (
        b"\r\n--==adversarial-boundary==\r\n" + attachment("inner.exe", _exe()) + b"\r\n"
    )  # never closed
    clash = _headers([("Content-Type", 'multipart/alternative; boundary="==adversarial"')]) + (
        b"\r\n--==adversarial\r\nContent-Type: text/plain\r\n\r\nprefix\r\n"
    )
    return message(parts=[inner, clash, attachment("outer.exe", _exe())])


def _charsets() -> bytes:
    words = [
        "=?x-unknown-charset?B?5pel5pys6Kqe?=",
        "=?utf-8?Q?=ZZ=E3=81?=",
        "=?iso-2022-jp?B?GyRC?=",
        "=?utf-8?B?!!!not-base64!!!?=",
        "=?utf-7?B?K0FHRUFhUS0=?=",
        "=?base64_codec?B?eHh4?=",
        "=?unicode_escape?Q?=5Cu0041?=",
        "=?utf-8*ja?B?5pel?=",
        "=?" + "x" * 5000 + "?B?eA==?=",
    ]
    subject = " ".join(words) + " " + " ".join(["=?utf-8?B?44GC?="] * 10_000)
    bodies = []
    for charset in ("x-no-such", "utf-16", "utf-32", "base64_codec", "rot13", "idna", "punycode", "uu_codec", "\xff"):
        bodies.append(
            _headers([("Content-Type", f"text/plain; charset={charset}".encode("latin-1"))])
            + b"\r\n\xff\xfe\x00\xd8broken \x1b$B\x1b(J\r\n"
        )
    name = "=?shift_jis?B?gqKCpA==?=" + "=?utf-8?Q?=E3=81?=" * 100 + ".exe"
    bodies.append(attachment(name, _exe()))
    return message(
        subject=subject,
        headers=[("From", "=?koi8-r?B?!!!?= <a@example.com>"), ("Reply-To", "=?utf-8?Q?=00=01?= <b@example.com>")],
        parts=bodies,
    )


def _mangle(data: bytes, seed: int) -> list[tuple[str, bytes]]:
    """Truncations and corruptions of one valid file: what a damaged or hostile variant looks like."""
    rng = random.Random(seed)
    flipped = bytearray(data)
    for _ in range(max(8, len(data) // 50)):
        flipped[rng.randrange(len(flipped))] = rng.randrange(256)
    return [
        ("half", data[: len(data) // 2]),
        ("tenth", data[: max(1, len(data) // 10)]),
        ("header-only", data[:64]),
        ("flipped", bytes(flipped)),
    ]


def _documents(kind: str) -> Callable[[], bytes]:
    def build() -> bytes:
        valid, ext, extra = _VALID[kind]()
        variants = [(f"{label}.{ext}", blob) for label, blob in _mangle(valid, seed=len(kind))]
        variants += [(f"{label}.{ext}", blob) for label, blob in extra]
        return message(attachments=[(name, blob, "application/octet-stream") for name, blob in variants])

    return build


def _pe_docs() -> tuple[bytes, str, list[tuple[str, bytes]]]:
    pe = _kit("pe").beacon_pe()
    lfanew = struct.unpack_from("<I", pe, 0x3C)[0]
    bad_lfanew = pe[:0x3C] + struct.pack("<I", 0xFFFFFFF0) + pe[0x40:]
    many_sections = pe[: lfanew + 6] + struct.pack("<H", 0xFFFF) + pe[lfanew + 8 :]
    big_optional = pe[: lfanew + 20] + struct.pack("<H", 0xFFFF) + pe[lfanew + 22 :]
    return pe, "exe", [("lfanew", bad_lfanew), ("sections", many_sections), ("optional", big_optional)]


def _ole_docs() -> tuple[bytes, str, list[tuple[str, bytes]]]:
    doc = _kit("office").macro_doc()
    fat_loop = doc[:0x2C] + struct.pack("<I", 0x7FFFFFFF) + doc[0x30:0x4C] + struct.pack("<I", 0) * 109 + doc[0x200:]
    dir_loop = doc[:0x30] + struct.pack("<I", 0) + doc[0x34:]
    huge_sector = doc[:0x1E] + struct.pack("<H", 30) + doc[0x20:]
    return doc, "doc", [("fat-loop", fat_loop), ("dir-self", dir_loop), ("sector-shift", huge_sector)]


def _ooxml_docs() -> tuple[bytes, str, list[tuple[str, bytes]]]:
    office = _kit("office")
    docm = office.macro_docm()
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
        + ']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
    ).encode()
    external = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">&x;</Relationships>'
    )
    types = (
        b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        b'wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="r1" '
        b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        b'Target="word/document.xml"/></Relationships>'
    )
    laughs_docx = _zip(
        [_Member(b"[Content_Types].xml", types), _Member(b"_rels/.rels", rels), _Member(b"word/document.xml", laughs)]
    )
    entity_docx = _zip([_Member(b"[Content_Types].xml", types), _Member(b"_rels/.rels", external)])
    size = 40 * MiB
    bomb_docx = _zip(
        [
            _Member(b"[Content_Types].xml", types),
            _Member(b"_rels/.rels", rels),
            _Member(b"word/document.xml", b"<w:document/>"),
            _Member(b"word/media/image1.png", compressed=_deflate_zeros(size), crc=_crc_zeros(size), size=size),
        ]
    )
    return docm, "docm", [("laughs", laughs_docx), ("entity", entity_docx), ("bomb", bomb_docx)]


def _pdf_docs() -> tuple[bytes, str, list[tuple[str, bytes]]]:
    pdf = _kit("pdf")
    js = pdf.javascript_pdf()
    deep = pdf.build_pdf([b"<< /Type /Catalog /Kids " + b"[" * 100_000 + b"]" * 100_000 + b" >>"])
    size = 200 * MiB
    bomb = pdf.build_pdf(
        [
            b"<< /Type /Catalog /Names << /JavaScript 2 0 R >> >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % (len(z := _deflate_zeros(size, zlib_wrapped=True)))
            + z
            + b"\nendstream",
        ]
    )
    loop = (
        js.rsplit(b"startxref", 1)[0]
        + b"trailer\n<< /Size 9 /Root 1 0 R /Prev 0 >>\nstartxref\n0\n%%EOF\n"
        + b"1 0 obj << /Next 1 0 R /S /JavaScript /JS (app.alert(1)) /OpenAction 1 0 R >> endobj\n"
    )
    return js, "pdf", [("deep", deep), ("bomb", bomb), ("loop", loop)]


def _rtf_docs() -> tuple[bytes, str, list[tuple[str, bytes]]]:
    rtf = _kit("carriers").rtf_package("invoice.exe", _exe())
    deep = b"{\\rtf1" + b"{" * 200_000 + b"x" + b"}" * 200_000 + b"}"
    bin_len = b"{\\rtf1{\\object\\objemb{\\*\\objdata \\bin999999999999 " + b"\x00" * 1000 + b"}}}"
    hex_flood = b"{\\rtf1{\\object\\objemb{\\*\\objdata " + b"0105" * (2 * MiB) + b"}}}"
    return rtf, "rtf", [("deep", deep), ("bin", bin_len), ("hexflood", hex_flood)]


def _lnk_docs() -> tuple[bytes, str, list[tuple[str, bytes]]]:
    lnk = _kit("carriers").lnk_powershell_pdf_icon()
    bad_info = lnk[:0x4C] + struct.pack("<I", 0xFFFFFFFF) + lnk[0x50:]
    strings = lnk[:-4] + struct.pack("<H", 0xFFFF) + b"A\x00" * 10
    idlist = lnk[:0x14] + struct.pack("<I", struct.unpack_from("<I", lnk, 0x14)[0] | 1) + lnk[0x18:0x4C] + b"\xff\xff"
    return lnk, "lnk", [("linkinfo", bad_info), ("strings", strings), ("idlist", idlist + lnk[0x4C:])]


_VALID: dict[str, Callable[[], tuple[bytes, str, list[tuple[str, bytes]]]]] = {
    "pe": _pe_docs,
    "ole": _ole_docs,
    "ooxml": _ooxml_docs,
    "pdf": _pdf_docs,
    "rtf": _rtf_docs,
    "lnk": _lnk_docs,
}

_WRONG = "not-in-the-message-7731"
_PAYLOAD = b"MZ harmless test payload " * 4


def _encrypted_zip_many(aes: bool, count: int) -> Callable[[], bytes]:
    def build() -> bytes:
        members = [_Member(b"doc/%05d.exe" % i, _PAYLOAD, password=_WRONG.encode(), aes=aes) for i in range(count)]
        body = "パスワードは別途お送りします。\nパスワード：abc12345\n"
        return message(body=body, attachments=[("secure.zip", _zip(members), "application/zip")])

    return build


def _encrypted_7z_many() -> bytes:
    members = [(f"doc/{i:05d}.exe", _PAYLOAD) for i in range(2000)]
    archive = _kit("archives").sevenzip(members, password=_WRONG)
    return message(body="パスワード：abc12345\n", attachments=[("secure.7z", archive, "application/x-7z-compressed")])


def _password_blowup() -> bytes:
    rng = random.Random(42)
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    lines = [f"パスワード：{''.join(rng.choice(alphabet) for _ in range(10))}" for _ in range(400)]
    lines += [f"PW: {''.join(rng.choice(alphabet) for _ in range(12))}" for _ in range(200)]
    attachments = [
        (f"zc{i}.zip", _zip([_Member(b"a%d.exe" % i, _PAYLOAD, password=_WRONG.encode())]), "application/zip")
        for i in range(10)
    ]
    attachments += [
        (
            f"aes{i}.zip",
            _zip([_Member(b"b%d.exe" % i, _PAYLOAD, password=_WRONG.encode(), aes=True)]),
            "application/zip",
        )
        for i in range(5)
    ]
    sevenzip = _kit("archives").sevenzip
    attachments += [
        (f"s{i}.7z", sevenzip([(f"c{i}.exe", _PAYLOAD)], password=_WRONG), "application/x-7z-compressed")
        for i in range(2)
    ]
    attachments.append(("doc.docx", _kit("office").encrypted_docx(_WRONG), "application/octet-stream"))
    return message(body="\n".join(lines), attachments=attachments)


def _big_attachment(mib: int) -> Callable[[], bytes]:
    def build() -> bytes:
        # 57 input bytes make one 76-character base64 line, so a block of whole lines encodes once and repeats
        block = random.Random(mib).randbytes(57 * 18396)  # 1 MiB - 4 bytes
        heads = [
            ("Content-Type", "application/octet-stream"),
            ("Content-Disposition", 'attachment; filename="backup.bin"'),
            ("Content-Transfer-Encoding", "base64"),
        ]
        part = _headers(heads) + b"\r\n" + _b64(block) * (mib + mib // 1000 + 1)
        return message(parts=[part])

    return build


# -- the catalogue ----------------------------------------------------------------------------------------------------


def _case(
    name: str,
    build: Callable[[], bytes],
    notes: Sequence[str] = (),
    findings: Sequence[str] = (),
    incomplete: bool | None = None,
    *,
    small: bool = True,
) -> Case:
    return Case(name, build, frozenset(notes), frozenset(findings), incomplete, small)


def all_cases() -> tuple[Case, ...]:
    """Every adversarial case, in a stable order (names are unique and safe as test ids)."""
    return (
        _case("zip_bomb_single", _zip_bomb_single, ["limit_size"], ["ARCHIVE_BOMB"], True),
        _case("gzip_bomb", _gzip_bomb, ["limit_size"], ["ARCHIVE_BOMB"], True),
        _case("zip_bomb_overlapping", _zip_bomb_overlapping, ["limit_size"], ["ARCHIVE_BOMB"], True),
        _case("zip_bomb_nested_42", _zip_bomb_nested, ["limit_files"], ["LIMIT_EXCEEDED"], True),
        _case("zip_100k_members", _zip_many_members, ["limit_files"], ["LIMIT_EXCEEDED"], True, small=False),
        _case("traversal_and_symlink_names", _traversal_names, [], ["ATTACHMENT_EXECUTABLE"]),
        _case("nest_50_zip_7z_gz_rfc822", _nest_50, ["limit_depth"], ["LIMIT_EXCEEDED"], True),
        _case("mime_10k_parts", _mime_10k_parts, ["limit_files"], ["LIMIT_EXCEEDED"], True),
        _case("header_lines_1mb", _long_headers, [], ["ATTACHMENT_EXECUTABLE"], small=False),
        _case("boundary_missing", _boundary_missing),
        _case("boundary_never_used", _boundary_never_used),
        _case("boundary_duplicated_unclosed", _boundary_duplicated, [], ["ATTACHMENT_EXECUTABLE"]),
        _case("invalid_charsets_rfc2047", _charsets, [], ["ATTACHMENT_EXECUTABLE"]),
        _case("malformed_pe", _documents("pe"), [], ["ATTACHMENT_EXECUTABLE"]),
        _case("malformed_ole", _documents("ole"), ["unparsable"], [], True),
        _case("malformed_ooxml", _documents("ooxml"), ["unparsable", "limit_size"], ["ARCHIVE_BOMB"], True),
        _case("malformed_pdf", _documents("pdf"), ["unparsable"], [], True),
        _case("malformed_rtf", _documents("rtf"), small=False),
        _case("malformed_lnk", _documents("lnk"), ["unparsable"], [], True),
        _case(
            "zipcrypto_3000_members",
            _encrypted_zip_many(aes=False, count=3000),
            ["encrypted_no_password", "limit_files"],
            ["ARCHIVE_ENCRYPTED_NO_PASSWORD", "LIMIT_EXCEEDED"],
            True,
        ),
        _case(
            "aes_zip_2000_members",
            _encrypted_zip_many(aes=True, count=2000),
            ["encrypted_no_password", "limit_files"],
            ["ARCHIVE_ENCRYPTED_NO_PASSWORD", "LIMIT_EXCEEDED"],
            True,
        ),
        _case(
            "sevenzip_encrypted_2000_members",
            _encrypted_7z_many,
            ["encrypted_no_password", "limit_files"],
            ["ARCHIVE_ENCRYPTED_NO_PASSWORD"],
            True,
        ),
        _case("password_blowup", _password_blowup, ["encrypted_no_password"], ["ARCHIVE_ENCRYPTED_NO_PASSWORD"], True),
        _case("attachment_70mb", _big_attachment(70), ["limit_size"], ["LIMIT_EXCEEDED"], True, small=False),
        _case("attachment_100mb", _big_attachment(100), ["limit_size"], ["LIMIT_EXCEEDED"], True, small=False),
    )
