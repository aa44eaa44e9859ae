"""Deterministic, harmless Windows PE images with chosen imports, sections, strings, resources and overlay.

`build_pe(...)` writes a PE32 (or PE32+ with ``bits=64``) byte by byte. The only code is one ``ret`` (0xC3) at
the entry point: nothing else in it is ever executed, it only has to parse like what it imitates — an import
table naming chosen DLL functions (the imports are never bound), UPX-style sections full of seeded noise,
a forged timestamp, version info claiming another name, icons, an appended archive (a self-extractor's
overlay), a certificate table (random bytes, not a real signature), and strings such as a gate URL or a beacon
format. Layout: headers (0x400), ``.text`` at RVA 0x1000, the caller's sections, ``.rdata`` (strings, import
table, debug directory), ``.rsrc`` (resources), then the overlay and the certificate table.

`noise(size, seed)` gives incompressible bytes from a seeded generator; `sfx_pe(archive)` a stub with an
archive appended; `beacon_pe()` the report's malware: host discovery and network imports, a gate URL, and
``Name:%s IP:%s OS:%s``.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "CODE",
    "DATA",
    "RWX",
    "Resource",
    "Section",
    "beacon_pe",
    "build_pe",
    "noise",
    "sfx_pe",
    "upx_like_pe",
    "version_info",
]

FILE_ALIGN = 0x200
SECTION_ALIGN = 0x1000
HEADERS_SIZE = 0x400
IMAGE_BASE = 0x400000
DEFAULT_TIMESTAMP = 1_705_276_800  # 2024-01-15T00:00:00Z

_SCN_CODE = 0x00000020
_SCN_INITIALIZED = 0x00000040
_SCN_UNINITIALIZED = 0x00000080
_SCN_EXECUTE = 0x20000000
_SCN_READ = 0x40000000
_SCN_WRITE = 0x80000000
CODE = _SCN_CODE | _SCN_EXECUTE | _SCN_READ
DATA = _SCN_INITIALIZED | _SCN_READ
RWX = _SCN_CODE | _SCN_INITIALIZED | _SCN_EXECUTE | _SCN_READ | _SCN_WRITE

RT_ICON = 3
RT_RCDATA = 10
RT_GROUP_ICON = 14
RT_VERSION = 16
_LANG_JA = 0x411


@dataclass(frozen=True)
class Section:
    """A section: its name (up to 8 bytes), content on disk, size in memory (default: the content's), flags."""

    name: bytes
    data: bytes
    characteristics: int = DATA
    virtual_size: int | None = None


@dataclass(frozen=True)
class Resource:
    type_id: int
    name_id: int
    data: bytes
    name: str | None = None  # a named entry ("CABINET") instead of name_id


@dataclass
class _Blob:
    """A section's content built at a known RVA."""

    data: bytearray = field(default_factory=bytearray)

    def put(self, chunk: bytes, align: int = 1) -> int:
        while len(self.data) % align:
            self.data.append(0)
        at = len(self.data)
        self.data += chunk
        return at


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


def noise(size: int, seed: int = 1) -> bytes:
    """`size` bytes from a seeded generator: incompressible (entropy close to 8 bits per byte), deterministic."""
    return random.Random(seed).randbytes(size)


# -- version info ----------------------------------------------------------------------------------------------
def _vs_block(key: str, value: bytes, children: Sequence[bytes], *, text: bool, value_length: int) -> bytes:
    body = bytearray(6)
    body += key.encode("utf-16-le") + b"\x00\x00"
    while len(body) % 4:
        body.append(0)
    body += value
    for child in children:
        while len(body) % 4:
            body.append(0)
        body += child
    struct.pack_into("<HHH", body, 0, len(body), value_length, 1 if text else 0)
    return bytes(body)


def version_info(strings: Mapping[str, str], *, version: tuple[int, int, int, int] = (1, 0, 0, 0)) -> bytes:
    """A VS_VERSIONINFO resource: fixed file info and one Japanese/Unicode string table with `strings`."""
    ms, ls = (version[0] << 16) | version[1], (version[2] << 16) | version[3]
    fixed = struct.pack("<13I", 0xFEEF04BD, 0x00010000, ms, ls, ms, ls, 0x3F, 0, 0x40004, 1, 0, 0, 0)
    entries = []
    for name, text in strings.items():
        value = text.encode("utf-16-le") + b"\x00\x00"
        entries.append(_vs_block(name, value, (), text=True, value_length=len(text) + 1))
    table = _vs_block("041104b0", b"", entries, text=True, value_length=0)
    string_info = _vs_block("StringFileInfo", b"", [table], text=True, value_length=0)
    var = _vs_block("Translation", struct.pack("<HH", _LANG_JA, 1200), (), text=False, value_length=4)
    var_info = _vs_block("VarFileInfo", b"", [var], text=True, value_length=0)
    return _vs_block("VS_VERSION_INFO", fixed, [string_info, var_info], text=False, value_length=len(fixed))


def icon_resources(sizes: Sequence[int] = (16, 32)) -> list[Resource]:
    """RT_ICON images (placeholder bytes, not real bitmaps) and the RT_GROUP_ICON that lists them."""
    out: list[Resource] = []
    group = bytearray(struct.pack("<HHH", 0, 1, len(sizes)))
    for index, size in enumerate(sizes, start=1):
        image = struct.pack("<IiiHH", 40, size, size * 2, 1, 32) + bytes(size * size // 8)
        out.append(Resource(RT_ICON, index, image))
        group += struct.pack("<BBBBHHIH", size % 256, size % 256, 0, 0, 1, 32, len(image), index)
    out.append(Resource(RT_GROUP_ICON, 1, bytes(group)))
    return out


# -- tables ----------------------------------------------------------------------------------------------------
def _rdata(
    rva: int,
    imports: Mapping[str, Sequence[str]],
    strings: Sequence[str],
    wide_strings: Sequence[str],
    bits: int,
    repro: bool,
) -> tuple[bytes, dict[int, tuple[int, int]]]:
    """.rdata at `rva`: strings, the import table, a debug directory; and the data directories it fills."""
    blob = _Blob()
    for text in strings:
        blob.put(text.encode("latin-1") + b"\x00")
    for text in wide_strings:
        blob.put(text.encode("utf-16-le") + b"\x00\x00", align=2)
    directories: dict[int, tuple[int, int]] = {}
    if imports:
        thunk = 8 if bits == 64 else 4
        descriptors_at = blob.put(bytes(20 * (len(imports) + 1)), align=4)
        iat_start = len(blob.data)
        for index, (dll, functions) in enumerate(imports.items()):
            names = [blob.put(struct.pack("<H", 0) + f.encode("ascii") + b"\x00", align=2) for f in functions]
            dll_at = blob.put(dll.encode("ascii") + b"\x00", align=2)
            fmt = "<Q" if thunk == 8 else "<I"
            table = b"".join(struct.pack(fmt, rva + n) for n in names) + bytes(thunk)
            ilt_at = blob.put(table, align=thunk)
            iat_at = blob.put(table, align=thunk)
            iat_start = min(iat_start, iat_at)
            struct.pack_into(
                "<IIIII", blob.data, descriptors_at + 20 * index, rva + ilt_at, 0, 0, rva + dll_at, rva + iat_at
            )
        directories[1] = (rva + descriptors_at, 20 * (len(imports) + 1))
    if repro:
        debug_at = blob.put(struct.pack("<IIHHIIII", 0, 0, 0, 0, 16, 0, 0, 0), align=4)
        directories[6] = (rva + debug_at, 28)
    if not blob.data:
        blob.put(b"\x00")
    return bytes(blob.data), directories


def _rsrc(rva: int, resources: Sequence[Resource]) -> bytes:
    """A resource tree (type → name → one Japanese-language leaf) and the data, at `rva`."""
    by_type: dict[int, list[Resource]] = {}
    for res in resources:
        by_type.setdefault(res.type_id, []).append(res)
    types = sorted(by_type)
    # sizes first: every directory is 16 bytes + 8 per entry
    dir_size = 16 + 8 * len(types)
    for t in types:
        dir_size += 16 + 8 * len(by_type[t]) + (16 + 8) * len(by_type[t])
    names_at = dir_size
    name_blobs: list[bytes] = []
    for t in types:
        for res in by_type[t]:
            if res.name is not None:
                name_blobs.append(struct.pack("<H", len(res.name)) + res.name.encode("utf-16-le"))
    entries_at = _align(names_at + sum(_align(len(b), 2) for b in name_blobs), 4)
    data_at = entries_at + 16 * len(resources)
    out = bytearray(data_at)
    pos = 0

    def directory(count_named: int, count_id: int) -> int:
        nonlocal pos
        at = pos
        struct.pack_into("<IIHHHH", out, at, 0, 0, 0, 0, count_named, count_id)
        pos += 16 + 8 * (count_named + count_id)
        return at

    root = directory(0, len(types))
    name_pos = names_at
    leaf_index = 0
    blobs = bytearray()
    for ti, t in enumerate(types):
        group = sorted(by_type[t], key=lambda r: (r.name is None, r.name or "", r.name_id))
        named = sum(1 for r in group if r.name is not None)
        type_dir = directory(named, len(group) - named)
        struct.pack_into("<II", out, root + 16 + 8 * ti, t, 0x80000000 | type_dir)
        for ni, res in enumerate(group):
            lang_dir = directory(0, 1)
            if res.name is not None:
                struct.pack_into("<H", out, name_pos, len(res.name))
                out[name_pos + 2 : name_pos + 2 + 2 * len(res.name)] = res.name.encode("utf-16-le")
                name_field = 0x80000000 | name_pos
                name_pos += _align(2 + 2 * len(res.name), 2)
            else:
                name_field = res.name_id
            struct.pack_into("<II", out, type_dir + 16 + 8 * ni, name_field, 0x80000000 | lang_dir)
            entry = entries_at + 16 * leaf_index
            leaf_index += 1
            struct.pack_into("<II", out, lang_dir + 16, _LANG_JA, entry)
            while len(blobs) % 8:
                blobs.append(0)
            offset = data_at + len(blobs)
            blobs += res.data
            struct.pack_into("<IIII", out, entry, rva + offset, len(res.data), 0, 0)
    return bytes(out + blobs)


# -- the image -------------------------------------------------------------------------------------------------
def build_pe(
    *,
    imports: Mapping[str, Sequence[str]] | None = None,
    sections: Sequence[Section] = (),
    strings: Sequence[str] = (),
    wide_strings: Sequence[str] = (),
    resources: Sequence[Resource] = (),
    timestamp: int = DEFAULT_TIMESTAMP,
    overlay: bytes = b"",
    certificate: bytes | None = None,
    entry_section: bytes | None = None,
    bits: int = 32,
    dll: bool = False,
    dotnet: bool = False,
    repro: bool = False,
    text_characteristics: int = CODE,
) -> bytes:
    """A PE image as described in the module doc. `entry_section` puts the entry point at the start of that
    section instead of `.text`'s ``ret``; `certificate` appends a WIN_CERTIFICATE holding those bytes."""
    layout: list[tuple[bytes, bytes, int, int]] = []  # name, raw content, flags, virtual size
    layout.append((b".text", b"\xc3" + bytes(15), text_characteristics, 16))
    for section in sections:
        size = section.virtual_size if section.virtual_size is not None else max(1, len(section.data))
        layout.append((section.name, section.data, section.characteristics, size))
    rva = SECTION_ALIGN
    rvas: list[int] = []
    for _, raw, _, virtual in layout:
        rvas.append(rva)
        rva += _align(max(virtual, len(raw), 1), SECTION_ALIGN)
    rdata_rva = rva
    rdata, directories = _rdata(rdata_rva, imports or {}, strings, wide_strings, bits, repro)
    layout.append((b".rdata", rdata, DATA, len(rdata)))
    rvas.append(rdata_rva)
    rva += _align(len(rdata), SECTION_ALIGN)
    if resources:
        rsrc = _rsrc(rva, resources)
        directories[2] = (rva, len(rsrc))
        layout.append((b".rsrc", rsrc, DATA, len(rsrc)))
        rvas.append(rva)
        rva += _align(len(rsrc), SECTION_ALIGN)
    size_of_image = rva
    if dotnet:
        directories[14] = (rvas[0], 0x48)

    entry = rvas[0]
    if entry_section is not None:
        entry = next(r for (name, *_), r in zip(layout, rvas, strict=True) if name == entry_section)

    body = bytearray()
    headers_out: list[bytes] = []
    offset = HEADERS_SIZE
    for (name, raw, flags, virtual), section_rva in zip(layout, rvas, strict=True):
        raw_size = _align(len(raw), FILE_ALIGN) if raw else 0
        pointer = offset if raw_size else 0
        headers_out.append(
            struct.pack("<8sIIIIIIHHI", name[:8], virtual, section_rva, raw_size, pointer, 0, 0, 0, 0, flags)
        )
        body += raw + bytes(raw_size - len(raw))
        offset += raw_size

    machine = 0x8664 if bits == 64 else 0x14C
    characteristics = 0x0002 | (0x0020 if bits == 64 else 0x0100) | (0x2000 if dll else 0)
    optional_size = (112 if bits == 64 else 96) + 16 * 8
    file_header = struct.pack(
        "<HHIIIHH", machine, len(layout), timestamp & 0xFFFFFFFF, 0, 0, optional_size, characteristics
    )
    code_size = _align(len(layout[0][1]), FILE_ALIGN)
    if bits == 64:
        optional = struct.pack(
            "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII",
            0x20B, 14, 0, code_size, 0, 0, entry, rvas[0], 0x140000000, SECTION_ALIGN, FILE_ALIGN,
            6, 0, 0, 0, 6, 0, 0, size_of_image, HEADERS_SIZE, 0, 2, 0x8160,
            0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
        )  # fmt: skip
    else:
        optional = struct.pack(
            "<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
            0x10B, 14, 0, code_size, 0, 0, entry, rvas[0], rdata_rva, IMAGE_BASE, SECTION_ALIGN, FILE_ALIGN,
            6, 0, 0, 0, 6, 0, 0, size_of_image, HEADERS_SIZE, 0, 2, 0x8140,
            0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
        )  # fmt: skip
    image_end = HEADERS_SIZE + len(body)
    tail = bytearray(overlay)
    if certificate is not None:
        while (image_end + len(tail)) % 8:
            tail.append(0)
        cert_at = image_end + len(tail)
        record = struct.pack("<IHH", 8 + len(certificate), 0x0200, 0x0002) + certificate
        record += bytes(_align(len(record), 8) - len(record))
        tail += record
        directories[4] = (cert_at, len(record))
    table = bytearray(16 * 8)
    for index, (address, size) in directories.items():
        struct.pack_into("<II", table, index * 8, address, size)

    dos = bytearray(64)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)
    headers = bytes(dos) + b"PE\x00\x00" + file_header + optional + bytes(table) + b"".join(headers_out)
    if len(headers) > HEADERS_SIZE:
        raise ValueError("too many sections for the header space")
    headers += bytes(HEADERS_SIZE - len(headers))
    return headers + bytes(body) + bytes(tail)


# -- ready-made images -----------------------------------------------------------------------------------------
BEACON_URL = "http://update.example.invalid/gate.php"
BEACON_FORMAT = "Name:%s IP:%s OS:%s"


def beacon_pe(*, timestamp: int = DEFAULT_TIMESTAMP, original_name: str | None = "svchost.exe") -> bytes:
    """The report's malware, harmless: host discovery and network imports, a gate URL, the beacon format, and
    version info naming a Windows program."""
    resources = [Resource(RT_VERSION, 1, version_info({"OriginalFilename": original_name}))] if original_name else []
    return build_pe(
        imports={
            "KERNEL32.dll": ["GetComputerNameA", "GetVersionExA", "ExitProcess"],
            "WS2_32.dll": ["gethostbyname", "gethostname", "WSAStartup"],
            "WININET.dll": ["InternetOpenA", "InternetConnectA", "HttpOpenRequestA", "HttpSendRequestA"],
        },
        strings=[BEACON_URL, BEACON_FORMAT, "Mozilla/4.0 (compatible; MSIE 8.0)"],
        resources=resources,
        timestamp=timestamp,
    )


def upx_like_pe(*, seed: int = 7, size: int = 16 * 1024) -> bytes:
    """UPX's layout: an empty UPX0 that is large in memory, UPX1 with packed (here: random) bytes, entry in UPX1,
    and the two imports a packer stub needs. The first byte of UPX1, where execution would start, is a `ret`."""
    return build_pe(
        imports={"KERNEL32.DLL": ["LoadLibraryA", "GetProcAddress", "VirtualProtect", "ExitProcess"]},
        sections=[
            Section(b"UPX0", b"", RWX, virtual_size=0x40000),
            # The entry point is a `ret` in front of the noise: the sample runs nothing even on Windows.
            Section(b"UPX1", b"\xc3" + noise(size - 1, seed), RWX),
        ],
        entry_section=b"UPX1",
    )


def sfx_pe(archive: bytes, *, certificate: bytes | None = None) -> bytes:
    """A self-extractor: a stub with `archive` appended as its overlay (and optionally a certificate table)."""
    return build_pe(
        imports={"KERNEL32.dll": ["CreateFileW", "ReadFile", "WriteFile", "ExitProcess"]},
        overlay=archive,
        certificate=certificate,
    )
