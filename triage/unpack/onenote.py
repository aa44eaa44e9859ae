"""OneNote sections (.one): the files embedded in them, out as children; ONENOTE_EMBEDDED_FILE for droppers.

OneNote stores every embedded file (pictures included) in a FileDataStoreObject: the header GUID
{BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}, a 64-bit length, 12 unused bytes, the file, padding to 8 bytes and the
footer GUID {71FBA722-0F79-4A0B-BB13-899256426B24}. No Python library reads the revision store that names
them, so the objects are found by their GUID (bounded: count, sizes, deadline), and names come from the
section's UTF-16 strings: a name is given to a payload only when its extension agrees with what the payload
is (a ``.hta`` name for HTML application content, ``.cmd``/``.bat`` for batch text...), never guessed
otherwise. Text payloads that read as a script carry meta ``script`` (the type tag) so the script analyzer
reads them even when unnamed.

ONENOTE_EMBEDDED_FILE (emitted here): a payload that is not a picture; 1.0 when it is executable by content
(PE, script) or by a file name in the section, else 0.5. Pictures alone are what OneNote pages hold.
Options ([unpack.onenote]): ``max_objects`` (default 512).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from triage.analyzers.executable import EXECUTABLE_EXTENSIONS
from triage.errors import ConfigError
from triage.model import JsonValue, NoteKind
from triage.names import escape_controls, real_extension
from triage.plugins import ArtifactView, Child, PluginContext
from triage.registry import declared_emits
from triage.rulefiles import check_options

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["OneNoteUnpacker", "find_file_data", "sniff_script"]

FILE_DATA_HEADER = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
FILE_DATA_FOOTER = bytes.fromhex("22a7fb71790f0b4abb13899256426b24")
DEFAULT_MAX_OBJECTS = 512
_OPTIONS = frozenset({"max_objects"})
_MAX_NAMES = 64
_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"\xd7\xcd\xc6\x9a",
    b"RIFF",
)
_NAME = re.compile(rb"(?:[\x20-\x7e]\x00){1,120}\.\x00(?:[A-Za-z0-9]\x00){1,5}(?=\x00\x00)")
# What Windows runs on double-click, plus what OneNote droppers hand over to be opened next (DLLs, disk images,
# archives).
_EXECUTABLE_EXTENSIONS = EXECUTABLE_EXTENSIONS | {"dll", "iso", "img", "vhd", "vhdx", "zip", "rar", "7z"}
# script type tag -> the extensions a name may have for it
_SCRIPT_EXTENSIONS = {
    "script-bat": frozenset({"bat", "cmd"}),
    "hta": frozenset({"hta"}),
    "script-vbs": frozenset({"vbs", "vbe"}),
    "script-js": frozenset({"js", "jse"}),
    "script-ps1": frozenset({"ps1"}),
    "wsf": frozenset({"wsf", "wsh"}),
}


@dataclass(frozen=True)
class FileData:
    offset: int  # of the payload in the section
    length: int  # declared
    footer_ok: bool


def find_file_data(data: bytes, max_objects: int) -> tuple[list[FileData], bool]:
    """FileDataStoreObjects by their header GUID; (objects, stopped at max_objects)."""
    found: list[FileData] = []
    pos = data.find(FILE_DATA_HEADER)
    while pos >= 0:
        if len(found) >= max_objects:
            return found, True
        if pos + 36 <= len(data):
            length = struct.unpack_from("<Q", data, pos + 16)[0]
            start = pos + 36
            end = start + length
            footer_at = end + (-(36 + length) % 8)  # the structure is padded to a multiple of 8 bytes
            footer_ok = data[footer_at : footer_at + 16] == FILE_DATA_FOOTER
            found.append(FileData(start, length, footer_ok))
            if footer_ok:
                pos = data.find(FILE_DATA_HEADER, footer_at + 16)
                continue
        pos = data.find(FILE_DATA_HEADER, pos + 16)
    return found, False


def sniff_script(payload: bytes) -> str | None:
    """The script type tag of text content, judged by its first lines, or None."""
    head = payload[:4096]
    if b"\x00" in head[:512]:
        return None
    low = head.lower().lstrip(b"\xef\xbb\xbf \t\r\n")
    if b"<hta:application" in low or (low.startswith((b"<", b"<!")) and b"<script" in payload[:1_000_000].lower()):
        return "hta"
    if low.startswith((b"@echo", b"echo ", b"set ", b"start ", b"cmd ", b"cmd.exe", b"powershell", b"rem ", b"::")):
        return "script-bat"
    if b"<job" in low or b"<package" in low:
        return "wsf"
    if re.search(rb"(?m)^\s*(?:dim|set|sub|function|on error resume next)\b.*$", low) and b"createobject" in low:
        return "script-vbs"
    if b"activexobject" in low or b"wscript.createobject" in low:
        return "script-js"
    if re.search(rb"\$[a-z_]\w*\s*=", low) and (b"new-object" in low or b"invoke-" in low or b"[system." in low):
        return "script-ps1"
    return None


class OneNoteUnpacker:
    name = "onenote"
    accepts = frozenset({"onenote"})
    emits = declared_emits(__name__, "OneNoteUnpacker")

    def __init__(self) -> None:
        self._max_objects = DEFAULT_MAX_OBJECTS

    def setup(self, config: Config) -> None:
        options = config.unpack_options(self.name)
        check_options(options, _OPTIONS, f"unpack.{self.name}")
        value = options.get("max_objects", DEFAULT_MAX_OBJECTS)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"[unpack.{self.name}] max_objects must be a positive integer")
        self._max_objects = value

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        data = target.data
        objects, stopped = find_file_data(data, self._max_objects)
        if stopped:
            ctx.note(NoteKind.LIMIT_FILES, f"OneNote section has more than {self._max_objects} embedded files")
        names = _section_names(data)
        if names:
            ctx.set_meta("embedded_names", [escape_controls(n)[:200] for n in names])
        evidence: list[str] = []
        executable = any(real_extension(n) in _EXECUTABLE_EXTENSIONS for n in names)
        seen: set[bytes] = set()
        for index, obj in enumerate(objects):
            ctx.check_deadline()
            available = max(0, min(obj.length, len(data) - obj.offset))
            payload = data[obj.offset : obj.offset + available]
            meta: dict[str, JsonValue] = {"onenote_offset": obj.offset}
            if not obj.footer_ok:
                meta["footer_missing"] = True
            if available < obj.length:
                meta["truncated"] = f"declared {obj.length} bytes, {available} present"
            picture = payload.startswith(_IMAGE_MAGIC)
            script = None if picture else sniff_script(payload)
            if script is not None:
                meta["script"] = script
            name = _name_for(script, payload, names)
            if not picture:
                kind = "Windows executable" if payload.startswith(b"MZ") else (script or "file")
                executable = executable or payload.startswith(b"MZ") or script is not None
                evidence.append(f"embedded {kind} of {obj.length} bytes" + (f' named "{name}"' if name else ""))
            key = hashlib.sha256(payload).digest()
            if key in seen:
                continue  # OneNote keeps copies of the same file; one is enough to analyse
            seen.add(key)
            cap = ctx.max_child_size()
            if len(payload) > cap:
                ctx.note(
                    NoteKind.LIMIT_SIZE, f"OneNote embedded file {index} of {len(payload)} bytes exceeds the budget"
                )
                yield Child(data=None, name=name, declared_size=obj.length, meta={**meta, "unreadable": "too large"})
                continue
            yield Child(data=payload, name=name, declared_size=obj.length, meta=meta)
        if evidence:
            if names:
                evidence.append("file names in the section: " + ", ".join(escape_controls(n)[:60] for n in names[:4]))
            ctx.emit("ONENOTE_EMBEDDED_FILE", evidence[:8], strength=1.0 if executable else 0.5)


def _section_names(data: bytes) -> list[str]:
    """Distinct file names (basenames) written as UTF-16LE strings in the section."""
    names: dict[str, None] = {}
    for m in _NAME.finditer(data):
        name = m.group(0).decode("utf-16-le").replace("/", "\\").rsplit("\\", 1)[-1].strip()
        if name and not name.startswith("."):
            names.setdefault(name)
        if len(names) >= _MAX_NAMES:
            break
    return list(names)


def _name_for(script: str | None, payload: bytes, names: list[str]) -> str | None:
    """A section name whose extension agrees with the payload's content, when exactly one does."""
    if payload.startswith(b"MZ"):
        wanted = frozenset({"exe", "scr", "dll", "com", "pif", "cpl"})
    elif script is not None:
        wanted = _SCRIPT_EXTENSIONS.get(script, frozenset())
    else:
        return None
    matches = [n for n in names if real_extension(n) in wanted]
    return matches[0] if len(matches) == 1 else None
