"""RTF documents: embedded objects out as children (oletools rtfobj, imported on first use), exploit classes
flagged.

Each ``\\objdata`` object becomes a child, so every analyzer (YARA included) sees the decoded bytes: an OLE
Package's payload under the file name the sender gave it (meta ``embedded = "rtf-package"``: the name and
executable checks apply, the recipient can run it from the document), else the embedded OLE data (a compound
file such as an Equation Editor object) or the object's raw bytes, unnamed, with meta ``decoded =
"rtf-object"``. Children past the size budget enter the tree unreadable, with their declared size.

DOC_RTF_EXPLOIT is emitted here, from the class name inside the object's OLE 1.0 header and from its CLSID
(oletools' list of CLSIDs tied to CVEs): Equation Editor (CVE-2017-11882 / CVE-2018-0802), OLE2Link and
monikers (CVE-2017-0199 / 8570), MSCOMCTL ListView/TreeView/Toolbar (CVE-2012-0158). The lexical checks
(pFragments, obfuscation) are the RTF analyzer's (triage.analyzers.rtf).

rtfobj walks every byte in Python (seconds on a multi-megabyte document), so it only sees the document from
the ``{\\object`` group before the first ``\\objdata``; a document without that control word has no objects.
Options ([unpack.rtf]): ``max_objects`` (default 256), ``max_input`` (bytes handed to rtfobj, default 32 MiB).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triage.errors import ConfigError
from triage.model import JsonValue, NoteKind
from triage.names import escape_controls
from triage.plugins import ArtifactView, Child, PluginContext
from triage.registry import declared_emits
from triage.rulefiles import check_options

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["RtfUnpacker", "exploit_reason"]

DEFAULT_MAX_OBJECTS = 256
DEFAULT_MAX_INPUT = 32 * 1024 * 1024
_OPTIONS = frozenset({"max_objects", "max_input"})

# OLE 1.0 class names (lower-case prefixes) of objects exploits ride on
_EXPLOIT_CLASSES: tuple[tuple[str, str], ...] = (
    ("equation.", "Equation Editor (CVE-2017-11882 / CVE-2018-0802)"),
    ("microsoft equation", "Equation Editor (CVE-2017-11882 / CVE-2018-0802)"),
    ("ole2link", "OLE2Link (CVE-2017-0199)"),
    ("mscomctllib.listviewctrl", "MSCOMCTL ListView (CVE-2012-0158)"),
    ("mscomctl.listviewctrl", "MSCOMCTL ListView (CVE-2012-0158)"),
    ("mscomctllib.treectrl", "MSCOMCTL TreeView (CVE-2012-0158)"),
    ("mscomctl.treectrl", "MSCOMCTL TreeView (CVE-2012-0158)"),
    ("mscomctllib.toolbar", "MSCOMCTL Toolbar (CVE-2012-0158)"),
    ("scriptbridge", "ScriptBridge (CVE-2017-8570)"),
)
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_MAX_OBJDATA_PROBES = 10_000


def exploit_reason(class_name: str, clsid_description: str = "") -> str | None:
    """Why an object of this class (and CLSID description) is an exploit carrier, or None."""
    low = class_name.strip().lower()
    for prefix, reason in _EXPLOIT_CLASSES:
        if low.startswith(prefix):
            return reason
    if clsid_description and _CVE.search(clsid_description):
        return escape_controls(clsid_description)[:160]
    return None


def _first_objdata(data: bytes) -> int:
    """Where the first \\objdata control word is; an escaped "\\\\objdata" (text, as in the RTF specification
    itself) does not count. -1 when there is none. (str.find, not a regex: a lookbehind regex costs 0.1 s/MB.)"""
    pos = data.find(b"\\objdata")
    for _ in range(_MAX_OBJDATA_PROBES):
        if pos <= 0 or data[pos - 1] != 0x5C:
            return pos
        pos = data.find(b"\\objdata", pos + 8)
    return -1


def _ansi_name(name: str) -> str:
    """A package file name as Windows wrote it: oletools decodes the ANSI bytes as latin-1, but a Japanese
    system writes CP932 (請求書.exe), so the bytes are re-read as UTF-8, then CP932, else kept."""
    try:
        raw = name.encode("latin-1")
    except UnicodeEncodeError:
        return name
    if raw.isascii():
        return name
    for codec in ("utf-8", "cp932"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return name


@dataclass(frozen=True)
class _Settings:
    max_objects: int = DEFAULT_MAX_OBJECTS
    max_input: int = DEFAULT_MAX_INPUT


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\x00")
    return value if isinstance(value, str) else ""


class RtfUnpacker:
    name = "rtf"
    accepts = frozenset({"rtf"})
    emits = declared_emits(__name__, "RtfUnpacker")

    def __init__(self) -> None:
        self._settings = _Settings()

    def setup(self, config: Config) -> None:
        options = config.unpack_options(self.name)
        check_options(options, _OPTIONS, f"unpack.{self.name}")
        values = {}
        for key, default in (("max_objects", DEFAULT_MAX_OBJECTS), ("max_input", DEFAULT_MAX_INPUT)):
            value = options.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"[unpack.{self.name}] {key} must be a positive integer")
            values[key] = value
        self._settings = _Settings(**values)

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        data = target.data
        first = _first_objdata(data)
        if first < 0:
            return
        start = data.rfind(b"{\\object", 0, first)
        start = 0 if start < 0 else start
        window = data[start : start + self._settings.max_input]
        if start + self._settings.max_input < len(data):
            ctx.note(NoteKind.LIMIT_SIZE, f"RTF objects searched in the first {self._settings.max_input} bytes only")
        objects = self._parse(window, ctx)
        if objects is None:
            return
        reasons: dict[str, None] = {}
        for index, obj in enumerate(objects):
            ctx.check_deadline()
            if index >= self._settings.max_objects:
                ctx.note(NoteKind.LIMIT_FILES, f"RTF has more than {self._settings.max_objects} objects; rest skipped")
                break
            child, reason = self._child(obj, index, start, ctx)
            if reason is not None:
                reasons[reason] = None
            if child is not None:
                yield child
        if reasons:
            ctx.emit("DOC_RTF_EXPLOIT", [f"object class: {r}" for r in reasons])

    def _parse(self, window: bytes, ctx: PluginContext) -> list[Any] | None:
        from oletools import rtfobj

        try:
            parser = rtfobj.RtfObjParser(window)
            parser.parse()
        except Exception as exc:  # rtfobj raises anything on crafted input
            ctx.note(NoteKind.UNPARSABLE, f"rtfobj failed: {type(exc).__name__}: {escape_controls(str(exc))[:160]}")
            return None
        return list(parser.objects)

    def _child(self, obj: Any, index: int, base: int, ctx: PluginContext) -> tuple[Child | None, str | None]:
        class_name = _text(getattr(obj, "class_name", b""))
        clsid_desc = _text(getattr(obj, "clsid_desc", ""))
        reason = exploit_reason(class_name, clsid_desc) if class_name or clsid_desc else None
        meta: dict[str, JsonValue] = {"decoded": "rtf-object", "rtf_offset": base + int(getattr(obj, "start", 0))}
        if class_name:
            meta["class_name"] = escape_controls(class_name)[:120]
        clsid = _text(getattr(obj, "clsid", ""))
        if clsid:
            meta["clsid"] = clsid
        if reason:
            meta["exploit"] = reason
        name: str | None = None
        if getattr(obj, "is_package", False) and getattr(obj, "olepkgdata", None):
            payload = bytes(obj.olepkgdata)
            name = _ansi_name(_text(getattr(obj, "filename", ""))) or None
            meta["package_source"] = escape_controls(_ansi_name(_text(getattr(obj, "src_path", ""))))[:200]
            meta["object"] = "OLE Package"
            # The file and its name are the sender's (a double-click on the icon runs it), not a name we gave to
            # decoded content: "decoded" would make the name and executable checks look away.
            del meta["decoded"]
            meta["embedded"] = "rtf-package"
        elif getattr(obj, "is_ole", False) and getattr(obj, "oledata", None):
            payload = bytes(obj.oledata)
            meta["object"] = "OLE object"
        else:
            payload = bytes(getattr(obj, "rawdata", b"") or b"")
            meta["object"] = "raw object data"
        if not payload:
            return None, reason
        cap = ctx.max_child_size()
        if len(payload) > cap:
            ctx.note(NoteKind.LIMIT_SIZE, f"RTF object {index} of {len(payload)} bytes exceeds the size budget")
            return Child(
                data=None, name=name, declared_size=len(payload), meta={**meta, "unreadable": "too large"}
            ), reason
        return Child(data=payload, name=name, declared_type=class_name or None, meta=meta), reason
