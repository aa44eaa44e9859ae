"""Files inside a Windows executable: self-extractors' archives (WinRAR, 7-Zip, WinZip, IExpress cab), and
executables carried by droppers and binders.

A self-extracting archive is a small PE stub with the archive appended after its last section (the overlay) or
stored as a resource (IExpress keeps its cab in RCDATA "CABINET"). `find_embedded` looks for a zip, 7z, RAR or
cab signature at the start of every resource and in the first `search_bytes` of the overlay, and checks each
hit against its format's header before believing it (a zip needs its end-of-central-directory record, a 7z its
start header, a cab its declared size). A dropper keeps its payload as a resource, a binder appends a second
program: a PE header at the start of a resource or of the overlay is an embedded executable. `PeOverlayUnpacker`
yields each file found as a child; the archive unpackers pick archives up by their type tags, the PE analyzer
the executables. The PE analyzer calls `find_embedded` too, to report PE_SFX_ARCHIVE, PE_EMBEDDED_EXECUTABLE
and the overlay's place.

Everything is read from the bytes in memory with pefile (fast_load, resource directory only). An Authenticode
signature after the overlay is not part of it. A zip written for the whole file (`zip -A`, WinZip's
self-extractor: its offsets count from the start of the PE) is handed over with its central directory offsets
rebased, so the zip unpacker reads it as a stand-alone archive. pefile failing on the file is the analyzer's to
report (an `unparsable` note); the unpacker then yields nothing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triage.model import JsonValue, NoteKind
from triage.plugins import ArtifactView, Child, PluginContext
from triage.rulefiles import check_options
from triage.unpack.zip import UNREADABLE_TOO_LARGE

if TYPE_CHECKING:
    from triage.config import Config

__all__ = [
    "ARCHIVE_KINDS",
    "EXECUTABLE_KINDS",
    "EmbeddedFile",
    "PeError",
    "PeOverlayUnpacker",
    "ResourceLeaf",
    "certificate_span",
    "embedded_bytes",
    "find_embedded",
    "load_pe",
    "overlay_span",
    "resource_leaves",
]

DEFAULT_SEARCH_BYTES = 1024 * 1024  # how far into the overlay an archive may start (7-Zip SFX config before it)
MAX_RESOURCE_LEAVES = 1024
MAX_ARCHIVES = 16
_SECURITY = 4
_CERT_SLACK = 16  # an Authenticode table may be followed by a few bytes of padding

_ZIP_LOCAL = b"PK\x03\x04"
_ZIP_EOCD = b"PK\x05\x06"
_ZIP_CENTRAL = b"PK\x01\x02"
_SEVEN_Z = b"7z\xbc\xaf\x27\x1c"
_RAR4 = b"Rar!\x1a\x07\x00"
_RAR5 = b"Rar!\x1a\x07\x01\x00"
_CAB = b"MSCF\x00\x00\x00\x00"
_SIGNATURES = ((_ZIP_LOCAL, "zip"), (_SEVEN_Z, "7z"), (_RAR4, "rar"), (_RAR5, "rar"), (_CAB, "cab"))
_EOCD_SIZE = 22
_DLL_FLAG = 0x2000
ARCHIVE_KINDS = frozenset({"zip", "7z", "rar", "cab"})
EXECUTABLE_KINDS = frozenset({"exe", "dll"})
_MAX_TRIES = 8  # signature hits per format checked in the overlay before giving up on it
_MAX_ZIP_COMMENT = 0xFFFF


class PeError(Exception):
    """pefile could not read the data as a PE."""


@dataclass(frozen=True)
class EmbeddedFile:
    """An archive or executable found inside a PE: its format, where it is, and how to hand it over."""

    kind: str  # "zip", "7z", "rar", "cab" (ARCHIVE_KINDS), or "exe", "dll" (EXECUTABLE_KINDS)
    source: str  # "overlay" or "resource"
    offset: int
    size: int
    resource: str | None = None  # "RT_RCDATA/CABINET" for a resource
    rebase: int = 0  # a zip whose offsets count from the start of the PE: subtract this from them
    truncated: bool = False  # the header declares more bytes than the file holds

    @property
    def where(self) -> str:
        if self.source == "resource":
            return f"resource {self.resource} at offset {self.offset}"
        return f"overlay at offset {self.offset}"

    @property
    def child_name(self) -> str:
        if self.source == "resource" and self.resource:
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.resource.replace("/", "-"))
            return f"resource-{safe[:60]}.{self.kind}"
        return f"overlay.{self.kind}"

    def meta(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {"embedded_in": self.source, "offset": self.offset}
        if self.resource:
            out["resource"] = self.resource
        if self.truncated:
            out["truncated"] = True
        return out


@dataclass(frozen=True)
class ResourceLeaf:
    type_name: str  # "RT_ICON", "RT_RCDATA", or the type's own name
    name: str  # the entry's name or numeric id
    offset: int  # file offset of the data
    size: int


def load_pe(data: bytes, directories: Sequence[str] = ()) -> Any:
    """A pefile.PE over `data` (headers and sections, plus the named data directories); PeError when it fails."""
    import pefile

    try:
        pe = pefile.PE(data=data, fast_load=True)
        if directories:
            pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY[d] for d in directories])
    except Exception as exc:  # pefile raises anything on crafted input: PEFormatError, struct/Index/ValueError...
        raise PeError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    return pe


def certificate_span(pe: Any, size: int) -> tuple[int, int] | None:
    """[start, end) of the Authenticode certificate table (the security directory holds a file offset)."""
    try:
        directory = pe.OPTIONAL_HEADER.DATA_DIRECTORY[_SECURITY]
        start, length = int(directory.VirtualAddress), int(directory.Size)
    except (AttributeError, IndexError):
        return None
    if start <= 0 or length <= 0 or start + length > size:
        return None
    return start, start + length


def overlay_span(pe: Any, size: int) -> tuple[int, int] | None:
    """[start, end) of the bytes after the image (sections, headers, directories), without a trailing signature."""
    try:
        start = pe.get_overlay_data_start_offset()
    except Exception:  # a directory pefile cannot map: treat as no overlay rather than guess
        return None
    # pefile answers 0 for a PE truncated inside its headers: that "overlay" would be the whole file again, which
    # the engine would carve out of itself level after level (an adversarial-corpus find)
    if start is None or start <= 0 or start >= size:
        return None
    end = size
    cert = certificate_span(pe, size)
    if cert is not None and cert[0] >= start and cert[1] >= size - _CERT_SLACK:
        end = cert[0]
    return (start, end) if end > start else None


def resource_leaves(
    pe: Any, size: int, check: Callable[[], None], limit: int = MAX_RESOURCE_LEAVES
) -> Iterator[ResourceLeaf]:
    """The resource tree's data entries (type / name / language), in file order of the tree, at most `limit`."""
    import pefile

    root = getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None)
    if root is None:
        return
    count = 0
    for type_entry in getattr(root, "entries", ()):
        check()
        if type_entry.name is not None:
            type_name = str(type_entry.name)
        else:
            type_name = pefile.RESOURCE_TYPE.get(type_entry.id, str(type_entry.id))
        for name_entry in getattr(getattr(type_entry, "directory", None), "entries", ()):
            name = str(name_entry.name) if name_entry.name is not None else str(name_entry.id)
            for lang_entry in getattr(getattr(name_entry, "directory", None), "entries", ()):
                leaf = getattr(lang_entry, "data", None)
                if leaf is None:
                    continue
                count += 1
                if count > limit:
                    return
                if count % 64 == 0:
                    check()
                try:
                    offset = pe.get_offset_from_rva(leaf.struct.OffsetToData)
                except Exception:  # an RVA outside every section: not stored in the file
                    offset = None
                length = int(leaf.struct.Size)
                if offset is None or offset < 0 or offset >= size or length <= 0:
                    continue
                yield ResourceLeaf(type_name, name, int(offset), min(length, size - int(offset)))


def _archive_at(data: bytes, pos: int, end: int) -> tuple[str, int, bool, int] | None:
    """(kind, size, truncated, rebase) when a believable archive starts at `pos` (within [pos, end))."""
    head = data[pos : pos + 8]
    for magic, kind in _SIGNATURES:
        if not head.startswith(magic):
            continue
        if kind == "zip":
            return _zip_at(data, pos, end)
        if kind == "7z":
            if pos + 32 > end:
                return None
            next_offset, next_size = struct.unpack_from("<QQ", data, pos + 12)
            total = 32 + next_offset + next_size
            if next_size == 0 or next_offset > 1 << 40:
                return None
            return "7z", min(total, end - pos), total > end - pos, 0
        if kind == "cab":
            if pos + 36 > end:
                return None
            (declared,) = struct.unpack_from("<I", data, pos + 8)
            if declared < 36:
                return None
            return "cab", min(declared, end - pos), declared > end - pos, 0
        return "rar", end - pos, False, 0
    return None


def _pe_at(data: bytes, pos: int, end: int) -> str | None:
    """ "exe" or "dll" when a PE header starts at `pos` (MZ, e_lfanew in range, "PE\\0\\0" there)."""
    if data[pos : pos + 2] != b"MZ" or pos + 0x40 > end:
        return None
    (lfanew,) = struct.unpack_from("<I", data, pos + 0x3C)
    header = pos + lfanew
    if lfanew < 0x40 or header + 24 > end or data[header : header + 4] != b"PE\x00\x00":
        return None
    (characteristics,) = struct.unpack_from("<H", data, header + 22)
    return "dll" if characteristics & _DLL_FLAG else "exe"


def _zip_at(data: bytes, pos: int, end: int) -> tuple[str, int, bool, int] | None:
    eocd = data.rfind(_ZIP_EOCD, max(pos, end - _EOCD_SIZE - _MAX_ZIP_COMMENT), end)
    if eocd < 0 or eocd + _EOCD_SIZE > end:
        return None
    cd_size, cd_offset = struct.unpack_from("<II", data, eocd + 12)
    cd_start = eocd - cd_size
    rebase = 0
    if cd_start >= pos and cd_offset == cd_start and cd_offset != cd_start - pos and pos > 0:
        rebase = pos  # offsets from the start of the file (zip -A): rebased when handed over
    return "zip", end - pos, False, rebase


def _search(data: bytes, start: int, end: int, search_bytes: int) -> tuple[int, tuple[str, int, bool, int]] | None:
    """The first believable archive starting in [start, start + search_bytes) of the region [start, end)."""
    limit = min(end, start + search_bytes)
    hits: list[int] = []
    for magic, _ in _SIGNATURES:
        pos = data.find(magic, start, min(limit + len(magic), end))
        tries = 0
        while pos >= 0 and tries < _MAX_TRIES:
            hits.append(pos)
            tries += 1
            pos = data.find(magic, pos + 1, min(limit + len(magic), end))
    for pos in sorted(hits):
        found = _archive_at(data, pos, end)
        if found is not None:
            return pos, found
    return None


def find_embedded(
    pe: Any,
    data: bytes,
    check: Callable[[], None],
    *,
    search_bytes: int = DEFAULT_SEARCH_BYTES,
    limit: int = MAX_ARCHIVES,
) -> tuple[EmbeddedFile, ...]:
    """Archives in the overlay and at the start of resources, and executables at the start of either (the
    resource directory must have been parsed)."""
    out: list[EmbeddedFile] = []
    size = len(data)
    span = overlay_span(pe, size)
    if span is not None:
        binder = _pe_at(data, span[0], span[1])
        hit = _search(data, span[0], span[1], search_bytes) if binder is None else None
        if binder is not None:
            out.append(EmbeddedFile(binder, "overlay", span[0], span[1] - span[0]))
        elif hit is not None:
            pos, (kind, length, truncated, rebase) = hit
            out.append(EmbeddedFile(kind, "overlay", pos, length, None, rebase, truncated))
    for leaf in resource_leaves(pe, size, check):
        if len(out) >= limit:
            break
        end = leaf.offset + leaf.size
        executable = _pe_at(data, leaf.offset, end)
        if executable is not None:
            out.append(EmbeddedFile(executable, "resource", leaf.offset, leaf.size, f"{leaf.type_name}/{leaf.name}"))
            continue
        found = _archive_at(data, leaf.offset, end)
        if found is not None:
            kind, length, truncated, rebase = found
            out.append(
                EmbeddedFile(kind, "resource", leaf.offset, length, f"{leaf.type_name}/{leaf.name}", rebase, truncated)
            )
    return tuple(out)


def embedded_bytes(data: bytes, found: EmbeddedFile, check: Callable[[], None]) -> bytes:
    """The file's bytes, a zip's central directory rebased when its offsets count from the start of the PE."""
    chunk = data[found.offset : found.offset + found.size]
    if found.kind != "zip" or found.rebase <= 0:
        return chunk
    return _rebase_zip(chunk, found.rebase, check)


def _rebase_zip(chunk: bytes, rebase: int, check: Callable[[], None]) -> bytes:
    """Subtract `rebase` from the central directory's local-header offsets and from the EOCD's directory offset.
    Left as it is when anything does not add up (ZIP64 offsets, a damaged directory)."""
    out = bytearray(chunk)
    eocd = out.rfind(_ZIP_EOCD, max(0, len(out) - _EOCD_SIZE - _MAX_ZIP_COMMENT))
    if eocd < 0 or eocd + _EOCD_SIZE > len(out):
        return chunk
    total, cd_size, cd_offset = struct.unpack_from("<HII", out, eocd + 10)
    if cd_offset < rebase or cd_offset == 0xFFFFFFFF:
        return chunk
    pos = eocd - cd_size
    for index in range(total):
        if index % 256 == 255:
            check()
        if pos < 0 or pos + 46 > eocd or out[pos : pos + 4] != _ZIP_CENTRAL:
            return chunk
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", out, pos + 28)
        (local,) = struct.unpack_from("<I", out, pos + 42)
        if local == 0xFFFFFFFF or local < rebase:
            return chunk
        struct.pack_into("<I", out, pos + 42, local - rebase)
        pos += 46 + name_len + extra_len + comment_len
    struct.pack_into("<I", out, eocd + 16, cd_offset - rebase)
    return bytes(out)


class PeOverlayUnpacker:
    """Yields the archives a PE carries (see the module doc)."""

    name = "pe_overlay"
    accepts = frozenset({"pe"})
    emits: frozenset[str] = frozenset()

    def setup(self, config: Config) -> None:
        check_options(config.unpack_options(self.name), (), f"unpack.{self.name}")

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        data = target.data
        try:
            pe = load_pe(data, ("IMAGE_DIRECTORY_ENTRY_RESOURCE",))
            found = find_embedded(pe, data, ctx.check_deadline)
        except PeError:
            return  # the PE analyzer reports the file as unparsable
        for item in found:
            ctx.check_deadline()
            cap = ctx.max_child_size()
            if item.size > cap:
                ctx.note(
                    NoteKind.LIMIT_SIZE,
                    f"{item.kind} archive in the {item.where} is {item.size} bytes; the size budget has {cap} left",
                )
                yield Child(
                    data=None,
                    name=item.child_name,
                    declared_size=item.size,
                    meta={**item.meta(), "unreadable": UNREADABLE_TOO_LARGE},
                )
                continue
            yield Child(data=embedded_bytes(data, item, ctx.check_deadline), name=item.child_name, meta=item.meta())
