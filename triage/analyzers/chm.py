"""Compiled HTML Help (.chm): the directory listed, the readable pages checked for the classic CHM dropper.

There is no maintained pure-Python CHM reader (pychm needs the chmlib C library), so the ITSF header, the ITSP
directory header and its PMGL listing chunks are parsed here, bounded (entries, chunks, deadline). Entries in
content section 0 are stored uncompressed and are read; entries in section 1 ("MSCompressed") are LZX-compressed
and out of reach without an LZX decoder: they are listed, and an ``unparsable`` Note says how many were not
analysed, so a CHM is never called clean on what could not be read.

- CHM_SCRIPT: a readable page holding the HTML Help ShortCut control (``classid`` ``adb880a6-d8ff-11cf-9377-
  00aa003b7a11`` with ``Command`` ``ShortCut``: the command in ``Item1`` runs when the page opens) at 1.0, or
  script that downloads or starts an interpreter (the script scanner of triage.analyzers.script), or an entry
  named like an executable or script inside the help file (0.6).

Meta ``chm``: entry count, the first entry names, how many are compressed. Options ([analyzers.chm]): the script
scanner's ``patterns``/``max_decoded``, ``max_entries``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from triage.analyzers.script import ScriptScanner, add_url_iocs, decode_text, scanner_from_options
from triage.errors import ConfigError
from triage.model import Finding, NoteKind
from triage.names import escape_controls
from triage.plugins import ArtifactView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["ChmAnalyzer", "ChmDirectory", "ChmEntry", "ChmError", "read_directory"]

_OPTIONS = frozenset({"patterns", "max_decoded", "max_text", "max_entries"})
DEFAULT_MAX_ENTRIES = 20_000
_MAX_CHUNKS = 65_536
_MAX_NAME = 1024
_MAX_PAGE = 4 * 1024 * 1024
_META_NAMES = 40
_SHORTCUT_CLSID = re.compile(r"(?i)adb880a6-d8ff-11cf-9377-00aa003b7a11")
_OBJECT = re.compile(r"(?is)<object\b[^>]{0,2000}>(.{0,20000}?)</object>")
_PARAM = re.compile(r"""(?is)<param\b[^>]*?\bname\s*=\s*["']?([^"'\s>]+)["']?[^>]*?\bvalue\s*=\s*(["'])(.*?)\2""")
_TEXT_EXTENSIONS = (".htm", ".html", ".hhc", ".hhk", ".js", ".vbs", ".txt", ".xml", ".css", ".hta", ".sct")
_EXECUTABLE_EXTENSIONS = (
    ".exe",
    ".dll",
    ".scr",
    ".js",
    ".jse",
    ".vbs",
    ".vbe",
    ".ps1",
    ".bat",
    ".cmd",
    ".hta",
    ".sct",
    ".wsf",
    ".lnk",
)


class ChmError(ValueError):
    """The file's structure cannot be read; the message says why."""


@dataclass(frozen=True)
class ChmEntry:
    name: str
    section: int
    offset: int
    length: int


@dataclass(frozen=True)
class ChmDirectory:
    entries: tuple[ChmEntry, ...]
    content_offset: int  # where content section 0 starts in the file
    truncated: bool  # the listing stopped at max_entries


def _encint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A CHM ENCINT (7 bits per byte, big-endian, high bit = more) and the position after it."""
    value = 0
    for _ in range(9):
        if pos >= end:
            raise ChmError("directory entry runs past its chunk")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos
    raise ChmError("ENCINT longer than 63 bits")


def read_directory(data: bytes, max_entries: int, check_deadline: object = None) -> ChmDirectory:
    """The PMGL listing of an ITSF file. Raises ChmError on a structure it cannot follow."""
    if len(data) < 0x58 or data[:4] != b"ITSF":
        raise ChmError("no ITSF header")
    version, header_len = struct.unpack_from("<II", data, 4)
    dir_offset, dir_length = struct.unpack_from("<QQ", data, 0x48)
    if version >= 3 and header_len >= 0x60 and len(data) >= 0x60:
        content_offset = struct.unpack_from("<Q", data, 0x58)[0]
    else:
        content_offset = dir_offset + dir_length
    if dir_offset + 0x54 > len(data) or data[dir_offset : dir_offset + 4] != b"ITSP":
        raise ChmError("no ITSP directory header where the ITSF header points")
    itsp_len, _, chunk_size = struct.unpack_from("<III", data, dir_offset + 8)
    first_pmgl, last_pmgl = struct.unpack_from("<ii", data, dir_offset + 0x20)
    chunk_count = struct.unpack_from("<I", data, dir_offset + 0x2C)[0]
    if not 0x20 <= chunk_size <= 1 << 20 or itsp_len < 0x20:
        raise ChmError(f"implausible directory chunk size {chunk_size}")
    chunks_at = dir_offset + itsp_len
    entries: list[ChmEntry] = []
    truncated = False
    chunk = max(0, first_pmgl)
    seen: set[int] = set()
    while 0 <= chunk < min(chunk_count, _MAX_CHUNKS) and chunk not in seen:
        seen.add(chunk)
        if callable(check_deadline):
            check_deadline()
        start = chunks_at + chunk * chunk_size
        if start + chunk_size > len(data):
            raise ChmError(f"directory chunk {chunk} runs past the end of the file")
        if data[start : start + 4] != b"PMGL":
            break
        free, _, _, next_chunk = struct.unpack_from("<Iiii", data, start + 4)
        end = start + chunk_size - min(free, chunk_size - 0x14)
        for entry in _chunk_entries(data, start + 0x14, end):
            if len(entries) >= max_entries:
                truncated = True
                break
            entries.append(entry)
        if truncated or chunk == last_pmgl:
            break
        chunk = next_chunk
    return ChmDirectory(tuple(entries), content_offset, truncated)


def _chunk_entries(data: bytes, pos: int, end: int) -> Iterator[ChmEntry]:
    while pos < end:
        name_len, pos = _encint(data, pos, end)
        if name_len == 0 or name_len > _MAX_NAME or pos + name_len > end:
            return
        name = data[pos : pos + name_len].decode("utf-8", errors="replace")
        pos += name_len
        section, pos = _encint(data, pos, end)
        offset, pos = _encint(data, pos, end)
        length, pos = _encint(data, pos, end)
        yield ChmEntry(name, section, offset, length)


class ChmAnalyzer:
    name = "chm"
    scope = Scope.ARTIFACT
    accepts = frozenset({"chm"})
    emits = declared_emits(__name__, "ChmAnalyzer")

    def __init__(self) -> None:
        self._scanner: ScriptScanner | None = None
        self._max_entries = DEFAULT_MAX_ENTRIES

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, f"analyzers.{self.name}")
        self._scanner, _ = scanner_from_options(config, options, f"analyzers.{self.name}")
        max_entries = options.get("max_entries", DEFAULT_MAX_ENTRIES)
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries <= 0:
            raise ConfigError(f"[analyzers.{self.name}] max_entries must be a positive integer")
        self._max_entries = max_entries

    def prepare(self) -> None:
        if self._scanner is not None:
            self._scanner.prepare()

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        if self._scanner is None or not target.readable or not target.data:
            return []
        data = target.data
        try:
            directory = read_directory(data, self._max_entries, ctx.check_deadline)
        except (ChmError, struct.error) as exc:
            ctx.note(NoteKind.UNPARSABLE, f"CHM directory not read: {exc}")
            return []
        files = [e for e in directory.entries if not e.name.endswith("/")]
        compressed = [e for e in files if e.section != 0 and e.length > 0]
        ctx.set_meta(
            "chm",
            {
                "entries": len(files),
                "compressed": len(compressed),
                "names": [escape_controls(e.name)[:200] for e in files[:_META_NAMES]],
            },
        )
        if directory.truncated:
            ctx.note(NoteKind.LIMIT_FILES, f"CHM listing stopped at {self._max_entries} entries")
        evidence: list[str] = []
        strength = 0.0
        for entry in files:
            ctx.check_deadline()
            low = entry.name.lower()
            if low.endswith(_EXECUTABLE_EXTENSIONS) and not low.startswith(("/#", "/$", "::")):
                evidence.append(f"contains {escape_controls(entry.name)[:120]}")
                strength = max(strength, 0.6)
            if entry.section != 0 or entry.length == 0:
                continue
            page = self._page(data, directory, entry)
            if page is None:
                continue
            found, page_strength = self._check_page(entry.name, page, ctx)
            evidence.extend(found)
            strength = max(strength, page_strength)
        internal = sum(1 for e in compressed if not e.name.startswith(("/#", "/$", "::")))
        if internal:
            ctx.note(
                NoteKind.UNPARSABLE,
                f"{internal} CHM page(s) in the LZX-compressed section not analysed (no LZX decoder)",
            )
        if not evidence or strength == 0.0:
            return []
        return [
            Finding(
                id="CHM_SCRIPT", artifact=target.id, analyzer=self.name, strength=strength, evidence=tuple(evidence[:8])
            )
        ]

    def _page(self, data: bytes, directory: ChmDirectory, entry: ChmEntry) -> str | None:
        start = directory.content_offset + entry.offset
        if entry.length > _MAX_PAGE or start + entry.length > len(data):
            return None
        raw = data[start : start + entry.length]
        if not entry.name.lower().endswith(_TEXT_EXTENSIONS) and b"\x00" in raw[:512]:
            return None
        return decode_text(raw, _MAX_PAGE)

    def _check_page(self, name: str, page: str, ctx: PluginContext) -> tuple[list[str], float]:
        assert self._scanner is not None
        evidence: list[str] = []
        strength = 0.0
        shown = escape_controls(name)[:80]
        for m in _OBJECT.finditer(page):
            if not _SHORTCUT_CLSID.search(m.group(0)):
                continue
            params = {p.group(1).lower(): p.group(3) for p in _PARAM.finditer(m.group(1))}
            if params.get("command", "").lower().startswith("shortcut"):
                command = escape_controls(" ".join(params.get("item1", "").split()))[:160]
                evidence.append(f"{shown}: HTML Help ShortCut control runs: {command}")
                strength = 1.0
        scan = self._scanner.scan(page, ctx.check_deadline)
        add_url_iocs(ctx, scan.urls)
        kinds = scan.kinds()
        if "download" in kinds or "launch" in kinds:
            labels = ", ".join(h.label for h in scan.hits if h.kind in ("download", "launch"))
            evidence.append(f"{shown}: script {labels[:160]}")
            strength = 1.0
        return evidence, strength
