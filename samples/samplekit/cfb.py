"""A minimal Compound File Binary (OLE2, MS-CFB version 3) writer, for building harmless test documents.

olefile reads compound files but cannot create them. `build_cfb({"WordDocument": b"...", "Macros": {...}})`
lays out a version-3 file (512-byte sectors): streams under the 4096-byte cutoff go to the mini stream (64-byte
mini sectors, with a MiniFAT), larger ones to regular sectors; one FAT, at most 109 FAT sectors (no DIFAT
sectors: about 6.8 MB of content, plenty for samples). Sibling trees are balanced binary trees in CFB name order
(all entries black). Deterministic: no timestamps, same input, same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Union

__all__ = ["Tree", "build_cfb"]

Tree = Mapping[str, Union[bytes, "Tree"]]

_SECTOR = 512
_MINI = 64
_CUTOFF = 4096
_FREESECT = 0xFFFFFFFF
_ENDOFCHAIN = 0xFFFFFFFE
_FATSECT = 0xFFFFFFFD
_NOSTREAM = 0xFFFFFFFF
_STORAGE, _STREAM, _ROOT = 1, 2, 5


@dataclass
class _Entry:
    name: str
    kind: int
    data: bytes = b""
    children: list[_Entry] = field(default_factory=list)
    clsid: bytes = b"\x00" * 16
    sid: int = 0
    left: int = _NOSTREAM
    right: int = _NOSTREAM
    child: int = _NOSTREAM
    start: int = _ENDOFCHAIN
    size: int = 0


def _order(entry: _Entry) -> tuple[int, str]:
    # MS-CFB 2.6.4: shorter names first, then an upper-case comparison
    return (len(entry.name), entry.name.upper())


def _entries(tree: Tree) -> list[_Entry]:
    out = []
    for name, value in tree.items():
        if len(name) > 31:
            raise ValueError(f"CFB names are at most 31 characters: {name!r}")
        if isinstance(value, bytes | bytearray):
            out.append(_Entry(name, _STREAM, bytes(value)))
        else:
            out.append(_Entry(name, _STORAGE, children=_entries(value)))
    return sorted(out, key=_order)


def _number(entry: _Entry, flat: list[_Entry]) -> None:
    for child in entry.children:
        child.sid = len(flat)
        flat.append(child)
        _number(child, flat)


def _link(entries: list[_Entry]) -> int:
    """Make a balanced tree of sorted siblings; returns the root's sid."""
    if not entries:
        return _NOSTREAM
    mid = len(entries) // 2
    node = entries[mid]
    node.left = _link(entries[:mid])
    node.right = _link(entries[mid + 1 :])
    return node.sid


def _link_all(entry: _Entry) -> None:
    entry.child = _link(entry.children)
    for child in entry.children:
        _link_all(child)


def build_cfb(tree: Tree, *, root_clsid: bytes = b"\x00" * 16) -> bytes:
    """The bytes of a compound file holding `tree` (name -> stream bytes, or name -> sub-tree for a storage)."""
    root = _Entry("Root Entry", _ROOT, children=_entries(tree), clsid=root_clsid)
    flat = [root]
    _number(root, flat)
    _link_all(root)

    # mini stream: small streams packed in 64-byte mini sectors
    mini = bytearray()
    minifat: list[int] = []
    big: list[_Entry] = []
    for entry in flat:
        if entry.kind != _STREAM:
            continue
        entry.size = len(entry.data)
        if entry.size == 0:
            entry.start = _ENDOFCHAIN
        elif entry.size < _CUTOFF:
            first = len(minifat)
            count = -(-entry.size // _MINI)
            entry.start = first
            minifat.extend(range(first + 1, first + count))
            minifat.append(_ENDOFCHAIN)
            mini += entry.data + b"\x00" * (count * _MINI - entry.size)
        else:
            big.append(entry)

    sectors: list[bytes] = []
    fat: list[int] = []

    def place(blob: bytes) -> int:
        if not blob:
            return _ENDOFCHAIN
        count = -(-len(blob) // _SECTOR)
        first = len(sectors)
        padded = blob + b"\x00" * (count * _SECTOR - len(blob))
        for i in range(count):
            sectors.append(padded[i * _SECTOR : (i + 1) * _SECTOR])
            fat.append(first + i + 1 if i < count - 1 else _ENDOFCHAIN)
        return first

    root.start = place(bytes(mini))
    root.size = len(mini)
    for entry in big:
        entry.start = place(entry.data)
    minifat_blob = b"".join(struct.pack("<I", v) for v in minifat)
    minifat_blob += struct.pack("<I", _FREESECT) * ((-len(minifat)) % (_SECTOR // 4))
    first_minifat = place(minifat_blob) if minifat else _ENDOFCHAIN
    minifat_sectors = len(minifat_blob) // _SECTOR if minifat else 0

    directory = b"".join(_direntry(e) for e in flat)
    directory += _empty_direntry() * ((-len(flat)) % (_SECTOR // 128))
    first_dir = place(directory)

    # FAT sectors describe themselves too: grow until they cover every sector
    per_fat = _SECTOR // 4
    fat_count = 1
    while fat_count * per_fat < len(sectors) + fat_count:
        fat_count += 1
    if fat_count > 109:
        raise ValueError("content too large for a header-only DIFAT")
    fat_start = len(sectors)
    fat.extend([_FATSECT] * fat_count)
    fat.extend([_FREESECT] * (fat_count * per_fat - len(fat)))
    fat_blob = b"".join(struct.pack("<I", v) for v in fat)
    for i in range(fat_count):
        sectors.append(fat_blob[i * _SECTOR : (i + 1) * _SECTOR])

    difat = [fat_start + i for i in range(fat_count)] + [_FREESECT] * (109 - fat_count)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"\x00" * 16,
        0x003E,
        0x0003,
        0xFFFE,
        9,
        6,
        b"\x00" * 6,
        0,  # directory sectors (0 in version 3)
        fat_count,
        first_dir,
        0,  # transaction signature
        _CUTOFF,
        first_minifat,
        minifat_sectors,
        _ENDOFCHAIN,  # first DIFAT sector
        0,
    ) + b"".join(struct.pack("<I", v) for v in difat)
    assert len(header) == _SECTOR
    return header + b"".join(sectors)


def _direntry(entry: _Entry) -> bytes:
    name = entry.name.encode("utf-16-le") + b"\x00\x00"
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        name,
        len(name),
        entry.kind,
        1,  # black
        entry.left,
        entry.right,
        entry.child,
        entry.clsid,
        0,
        0,
        0,
        entry.start if entry.kind != _STORAGE else 0,
        entry.size if entry.kind != _STORAGE else 0,
    )


def _empty_direntry() -> bytes:
    return struct.pack("<64sHBBIII16sIQQIQ", b"", 0, 0, 0, _NOSTREAM, _NOSTREAM, _NOSTREAM, b"\x00" * 16, 0, 0, 0, 0, 0)
