"""Office documents (OLE .doc/.xls/.ppt and OOXML): macros, DDE, external relationships, code page, encryption.

- VBA and XLM (Excel 4) macros, with oletools' olevba and mraptor: ``DOC_MACRO_AUTOEXEC`` for a macro that runs
  itself (AutoOpen, Document_Open, Workbook_Open, Auto_Open…), ``DOC_MACRO_SUSPICIOUS`` for what it can do
  (Shell, CreateObject, URLDownloadToFile, PowerShell, Chr()/Base64 obfuscation…; full strength when mraptor
  calls it suspicious or a strong keyword from the options appears), ``DOC_MACRO_PRESENT`` for any macro. The
  IOCs olevba finds (URLs, IPs) go into the report's ``iocs``.
- ``DOC_DDE``: DDE/DDEAUTO fields and DDE links (msodde's readers for .doc, .xls, .docx and .xlsx).
- ``DOC_EXTERNAL_TEMPLATE``: OOXML relationships with ``TargetMode="External"`` that Office follows on opening
  (attachedTemplate — remote template injection —, oleObject, frame, subDocument, ``mhtml:`` targets); the URL is
  the evidence and an IOC. Plain hyperlinks are not followed on opening and are left to the URL analyzer's world.
- ``DOC_CHINESE_CODEPAGE``: the document's summary information says it was saved under a simplified (936,
  GB18030) or traditional (950) Chinese code page — evidence for the language question, weak on its own.
- meta: ``codepage``, ``author``/``last_saved_by``/``creating_application`` (bounded), ``macros``.

Encryption and embedded objects are the unpacker's (triage.unpack.office): it yields the decrypted document and
the objects, which come back here. Zip-based input is checked (entry count, declared sizes, ratio) before any
library reads it, because olevba and msodde read whole members with the stdlib zipfile.
"""

from __future__ import annotations

import io
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triage.biff import BOUNDSHEET, FILEPASS, globals_has
from triage.errors import ConfigError
from triage.model import Finding, NoteKind
from triage.names import escape_controls
from triage.plugins import ArtifactView, PluginContext, Scope
from triage.registry import declared_emits
from triage.rulefiles import check_options
from triage.unpack.office import OLE_MAGIC, declares_dtd, is_office_target, quiet_oletools

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["OfficeAnalyzer", "open_vba", "zip_guard"]

_CHINESE_CODEPAGES: Mapping[int, str] = {
    936: "simplified Chinese (GBK)",
    54936: "simplified Chinese (GB18030)",
    20936: "simplified Chinese (GB2312)",
    10008: "simplified Chinese (Mac)",
    950: "traditional Chinese (Big5)",
    10002: "traditional Chinese (Mac)",
}
# Relationship types (the last path segment of Type) Office fetches by itself when the document opens.
_AUTO_FETCH = frozenset({"attachedtemplate", "oleobject", "frame", "subdocument", "package", "externallinkpath"})
_MAX_ZIP_ENTRIES = 5000
_MAX_RATIO = 200
_RATIO_FLOOR = 16 * 1024 * 1024
_MAX_RELS_SIZE = 2 * 1024 * 1024
_MAX_RELS_FILES = 500
_MAX_EVIDENCE_KEYWORDS = 12
_DEFAULT_STRONG = (
    "shell",
    "wscript.shell",
    "shell.application",
    "createobject",
    "getobject",
    "urldownloadtofile",
    "powershell",
    "cmd.exe",
    "mshta",
    "certutil",
    "regsvr32",
    "rundll32",
    "xmlhttp",
    "winhttp",
    "adodb.stream",
    "savetofile",
    "shellexecute",
    "callbyname",
    "macscript",
    "exec",
    "virtualalloc",
    "rtlmovememory",
    "createthread",
    "xlm macro",
    "register",
)
_OPTIONS = frozenset({"strong_keywords"})


@dataclass(frozen=True)
class _Options:
    strong_keywords: frozenset[str] = frozenset(_DEFAULT_STRONG)


def zip_guard(data: bytes, max_member: int) -> str | None:
    """Why a zip must not be handed to a library that reads whole members (olevba, msodde), or None."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except Exception as exc:  # zipfile raises several kinds on a broken directory
        return f"zip structure unreadable ({type(exc).__name__})"
    if len(infos) > _MAX_ZIP_ENTRIES:
        return f"{len(infos)} zip entries"
    for info in infos:
        if info.file_size > max_member:
            return f"member {escape_controls(info.filename)!r} declares {info.file_size} bytes"
        if info.file_size > _RATIO_FLOOR and info.file_size > _MAX_RATIO * max(1, info.compress_size):
            return (
                f"member {escape_controls(info.filename)!r} inflates {info.file_size // max(1, info.compress_size)}:1"
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return f"member {escape_controls(info.filename)!r} uses compression method {info.compress_type}"
    return None


def open_vba(target: ArtifactView, ctx: PluginContext, *, notes: bool = False) -> Any:
    """olevba's VBA_Parser on the artifact's bytes (in memory), or None when it cannot or must not be read."""
    data = target.data
    if data[:2] == b"PK":
        why = zip_guard(data, ctx.max_child_size())
        if why is not None:
            if notes:
                ctx.note(NoteKind.UNPARSABLE, f"OOXML not analysed: {why}")
            return None
    elif not data.startswith(OLE_MAGIC):
        return None
    if not may_hold_macros(data, target.types):
        return None  # olevba's import alone costs a quarter of a second: spare it documents without macros
    quiet_oletools()
    from oletools import olevba

    try:
        return olevba.VBA_Parser(target.name or "document", data=data, relaxed=True)
    except Exception as exc:  # olevba raises its own and olefile's errors on hostile files
        if notes:
            ctx.note(NoteKind.UNPARSABLE, f"olevba could not open the document: {type(exc).__name__}: {exc}"[:300])
        return None


def may_hold_macros(data: bytes, types: tuple[str, ...]) -> bool:
    """A cheap look at the structure: could olevba find VBA or XLM macros here? Errs on the side of yes."""
    if data[:2] == b"PK":
        import zipfile

        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for info in zf.infolist()[:_MAX_ZIP_ENTRIES]:
                    name = info.filename.lower()
                    if "vba" in name or "macrosheet" in name:
                        return True
                    if name.endswith((".xml", ".rels")) or info.file_size < len(OLE_MAGIC):
                        continue
                    # olevba opens every OLE member, whatever its name ("ppt/MicrosoftData.google" in the wild)
                    with zf.open(info) as member:
                        if member.read(len(OLE_MAGIC)) == OLE_MAGIC:
                            return True
        except Exception:  # let olevba judge what zipfile cannot list
            return True
        return False
    if "ppt" in types:
        return True  # PowerPoint 97 keeps its VBA inside the document stream
    import olefile

    try:
        with olefile.OleFileIO(data) as ole:
            paths = [[part.lower() for part in path] for path in ole.listdir(streams=True, storages=True)]
            if any("vba" in part or part == "_vba_project_cur" or part == "macros" for p in paths for part in p):
                return True
            for path in (["workbook"], ["book"]):
                if path in paths:
                    return _biff_macro_sheet(ole.openstream(path[0]).read(_BIFF_GLOBALS_SCAN))
    except Exception:  # a broken directory: olevba (relaxed) may still read it
        return True
    return False


_BIFF_GLOBALS_SCAN = 4 * 1024 * 1024


def _biff_macro_sheet(stream: bytes) -> bool:
    """True when the BIFF globals substream lists an Excel 4 macro sheet (BOUNDSHEET dt=1) or is encrypted
    (FILEPASS: the rest cannot be read here, let olevba judge)."""
    return globals_has(
        stream, lambda rec_id, body: rec_id == FILEPASS or (rec_id == BOUNDSHEET and len(body) >= 6 and body[5] == 1)
    )


class OfficeAnalyzer:
    name = "office"
    scope = Scope.ARTIFACT
    accepts = frozenset({"ole", "doc", "xls", "ppt", "ooxml", "ooxml-encrypted", "docx", "xlsx", "pptx"})
    emits = declared_emits(__name__, "OfficeAnalyzer")

    def __init__(self) -> None:
        self._options = _Options()

    def setup(self, config: Config) -> None:
        options = config.analyzer_options(self.name)
        check_options(options, _OPTIONS, "analyzers.office")
        strong = options.get("strong_keywords", list(_DEFAULT_STRONG))
        if not isinstance(strong, list) or not all(isinstance(k, str) and k for k in strong):
            raise ConfigError("[analyzers.office] strong_keywords must be a list of non-empty strings")
        self._options = _Options(strong_keywords=frozenset(k.lower() for k in strong))

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        if not is_office_target(target.types) or not target.readable:
            return []
        data = target.data
        parser = open_vba(target, ctx, notes=True)
        if parser is not None:
            try:
                self._macros(parser, ctx)
            except Exception as exc:  # olevba on crafted VBA projects raises anything
                ctx.note(NoteKind.UNPARSABLE, f"macros not analysed: {type(exc).__name__}: {exc}"[:300])
            finally:
                parser.close()
        if data.startswith(OLE_MAGIC):
            self._ole(target, ctx)
        elif parser is not None or ("ooxml" in target.types and zip_guard(data, ctx.max_child_size()) is None):
            self._relationships(data, ctx)
            self._ooxml_dde(target, ctx)
        return []

    # -- macros ----------------------------------------------------------------------------------------------------
    def _macros(self, parser: Any, ctx: PluginContext) -> None:
        vba = bool(parser.detect_vba_macros())
        ctx.check_deadline()
        xlm = bool(parser.detect_xlm_macros())
        if not vba and not xlm:
            return
        kinds = [k for k, present in (("VBA", vba), ("XLM", xlm)) if present]
        ctx.set_meta("macros", "+".join(kinds))
        ctx.check_deadline()
        results = list(parser.analyze_macros())
        autoexec: dict[str, None] = {}
        suspicious: dict[str, None] = {}
        for kind, keyword, _description in results:
            word = escape_controls(str(keyword))[:80]
            if kind == "AutoExec":
                autoexec.setdefault(word)
            elif kind in ("Suspicious", "Hex String", "Base64 String", "Dridex string", "VBA string"):
                label = word if kind == "Suspicious" else f"obfuscation: {kind}"
                suspicious.setdefault(label)
            elif kind == "IOC":
                _add_ioc(ctx, str(keyword))
        code = ""
        if vba:
            code = "\n".join(str(c) for _, _, _, c in parser.extract_macros())[:2_000_000]
        ctx.check_deadline()
        flags = ""
        raptor_suspicious = False
        if code:
            from oletools import mraptor

            raptor = mraptor.MacroRaptor(code)
            raptor.scan()
            flags = str(raptor.get_flags())
            raptor_suspicious = bool(raptor.suspicious)
        evidence_kind = " and ".join(kinds) + " macros"
        ctx.emit("DOC_MACRO_PRESENT", (evidence_kind,) + ((f"mraptor flags {flags}",) if flags else ()), strength=1.0)
        if autoexec:
            ctx.emit("DOC_MACRO_AUTOEXEC", _first(autoexec))
        if suspicious or raptor_suspicious:
            strong = raptor_suspicious or any(k.lower() in self._options.strong_keywords for k in suspicious)
            evidence = list(_first(suspicious))
            if raptor_suspicious:
                evidence.insert(0, f"mraptor: suspicious ({flags})")
            ctx.emit("DOC_MACRO_SUSPICIOUS", evidence, strength=1.0 if strong else 0.5)

    # -- OLE: code page, DDE -------------------------------------------------------------------------------------
    def _ole(self, target: ArtifactView, ctx: PluginContext) -> None:
        import olefile

        try:
            ole = olefile.OleFileIO(target.data)
        except Exception as exc:  # olefile raises many kinds on hostile headers
            ctx.note(NoteKind.UNPARSABLE, f"OLE structure unreadable: {type(exc).__name__}: {exc}"[:300])
            return
        try:
            self._summary(ole, ctx)
            ctx.check_deadline()
            if "ooxml-encrypted" not in target.types:
                self._ole_dde(ole, target, ctx)
        finally:
            ole.close()

    def _summary(self, ole: Any, ctx: PluginContext) -> None:
        try:
            meta = ole.get_metadata()
        except Exception:  # a crafted property set is missing metadata, not a finding
            return
        for key, attr in (
            ("author", "author"),
            ("last_saved_by", "last_saved_by"),
            ("creating_application", "creating_application"),
        ):
            value = getattr(meta, attr, None)
            if isinstance(value, bytes):
                value = value.decode(_codec(meta.codepage), "replace")
            if value:
                ctx.set_meta(key, escape_controls(str(value))[:200])
        pages = {cp for cp in (meta.codepage, meta.codepage_doc) if isinstance(cp, int)}
        if meta.codepage is not None:
            ctx.set_meta("codepage", int(meta.codepage))
        chinese = sorted(cp for cp in pages if cp in _CHINESE_CODEPAGES)
        if chinese:
            ctx.emit(
                "DOC_CHINESE_CODEPAGE",
                [f"document properties saved under code page {cp} ({_CHINESE_CODEPAGES[cp]})" for cp in chinese],
            )

    def _ole_dde(self, ole: Any, target: ArtifactView, ctx: PluginContext) -> None:
        quiet_oletools()
        try:
            if "xls" in target.types:
                from oletools import msodde

                links = msodde.process_xls(target.data)
            elif "doc" in target.types:
                links = _doc_dde(ole, ctx)
            else:
                return
        except Exception as exc:  # msodde's record parsers raise on crafted records
            ctx.note(NoteKind.UNPARSABLE, f"DDE fields not read: {type(exc).__name__}: {exc}"[:300])
            return
        _emit_dde(ctx, links)

    # -- OOXML -----------------------------------------------------------------------------------------------------
    def _ooxml_dde(self, target: ArtifactView, ctx: PluginContext) -> None:
        if not _ooxml_may_hold_dde(target.data, target.types):
            return  # spare the msodde import (a sixth of a second) when there is no field or external link
        quiet_oletools()
        from oletools import msodde

        try:
            if "xlsx" in target.types:
                links = msodde.process_xlsx(io.BytesIO(target.data))
            elif "docx" in target.types:
                links = msodde.process_docx(io.BytesIO(target.data), msodde.FIELD_FILTER_DDE)
            else:
                return
        except Exception as exc:  # XML and record parsers raise on crafted parts
            ctx.note(NoteKind.UNPARSABLE, f"DDE fields not read: {type(exc).__name__}: {exc}"[:300])
            return
        _emit_dde(ctx, links)

    def _relationships(self, data: bytes, ctx: PluginContext) -> None:
        import zipfile
        from xml.etree import ElementTree

        found: list[tuple[float, str]] = []
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            rels = [i for i in zf.infolist() if i.filename.lower().endswith(".rels")][:_MAX_RELS_FILES]
            for info in rels:
                ctx.check_deadline()
                if info.file_size > _MAX_RELS_SIZE:
                    continue
                try:
                    xml = zf.read(info)
                except Exception:  # noqa: S112 - a corrupt member holds no relationship we can show
                    continue
                if declares_dtd(xml):
                    continue  # relationship parts have no DTD; entity tricks are refused, not expanded
                try:
                    # no DTD reaches the parser (checked above by expat, in any encoding); expat >= 2.4 bounds expansion
                    root = ElementTree.fromstring(xml)  # noqa: S314 - see the line above
                except ElementTree.ParseError:
                    continue
                for rel in root.iter():
                    if not rel.tag.endswith("Relationship") or rel.get("TargetMode", "").lower() != "external":
                        continue
                    kind = rel.get("Type", "").rsplit("/", 1)[-1]
                    target = rel.get("Target", "")
                    if kind.lower() == "hyperlink" or not target:
                        continue
                    auto = kind.lower() in _AUTO_FETCH or target.lower().startswith(("mhtml:", "\\\\"))
                    shown = escape_controls(target)[:240]
                    found.append((1.0 if auto else 0.5, f"{kind} → {shown} (in {escape_controls(info.filename)})"))
                    _add_ioc(ctx, target)
        if found:
            strength = max(s for s, _ in found)
            ctx.emit("DOC_EXTERNAL_TEMPLATE", [e for _, e in found][:_MAX_EVIDENCE_KEYWORDS], strength=strength)


_FIELD_MARKERS = (b"instrtext", b"fldsimple")
_DOC_DDE_HINT = re.compile(rb"\x13(?:[\x00\s])*[dD]\x00?[dD]\x00?[eE]")


def _ooxml_may_hold_dde(data: bytes, types: tuple[str, ...]) -> bool:
    """Word parts with field codes, or an Excel workbook with external links or binary parts."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist()[:_MAX_ZIP_ENTRIES]:
            name = info.filename.lower()
            if "xlsx" in types and ("externallink" in name or name.endswith(".bin")):
                return True
            if "docx" in types and name.startswith("word/") and name.endswith(".xml"):
                if info.file_size > _MAX_PART_SCAN:
                    return True
                try:
                    part = zf.read(info).lower()
                except Exception:  # noqa: S112 - a corrupt part: msodde would not read it either
                    continue
                if any(marker in part for marker in _FIELD_MARKERS):
                    return True
    return False


_MAX_PART_SCAN = 32 * 1024 * 1024


def _doc_dde(ole: Any, ctx: PluginContext) -> str:
    """DDE field instructions in a Word binary document's streams (msodde's field reader, stream by stream)."""
    parts: list[str] = []
    for path in ole.listdir(streams=True, storages=False):
        ctx.check_deadline()
        if path[-1] not in ("WordDocument", "1Table", "0Table", "Data"):
            continue
        try:
            raw = ole.openstream(path).read()
        except Exception:  # noqa: S112 - an unreadable stream holds no field we can show
            continue
        if _DOC_DDE_HINT.search(raw):
            # msodde reads byte by byte in Python: only streams with a field starting "DDE" are worth it
            from oletools import msodde

            parts.extend(msodde.process_doc_stream(io.BytesIO(raw)))
    return "\n".join(parts)


def _emit_dde(ctx: PluginContext, links: str) -> None:
    fields = [escape_controls(" ".join(line.split()))[:240] for line in str(links or "").splitlines() if line.strip()]
    if fields:
        ctx.emit("DOC_DDE", fields[:_MAX_EVIDENCE_KEYWORDS])
        for field in fields:
            for url in re.findall(r"https?://[^\s\"'\\]+", field):
                _add_ioc(ctx, url)


_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def _add_ioc(ctx: PluginContext, value: str) -> None:
    """A URL (and its host), an IP address or a UNC host, as the report's iocs want them."""
    value = value.strip()
    if value.lower().startswith("mhtml:"):
        value = value[6:].split("!", 1)[0]
    if _IPV4.match(value):
        ctx.add_ioc("ips", value)
        return
    host = ""
    if re.match(r"^[a-z][a-z0-9+.-]*://", value, re.IGNORECASE):
        ctx.add_ioc("urls", value)
        try:
            host = urllib.parse.urlsplit(value).hostname or ""
        except ValueError:
            host = ""
    elif value.startswith("\\\\"):
        host = value[2:].split("\\", 1)[0].split("@", 1)[0]
    if host:
        ctx.add_ioc("ips" if _IPV4.match(host) else "domains", host.lower())


def _first(items: Mapping[str, None] | Sequence[str]) -> tuple[str, ...]:
    values = list(items)
    if len(values) > _MAX_EVIDENCE_KEYWORDS:
        return (*values[:_MAX_EVIDENCE_KEYWORDS], f"… {len(values) - _MAX_EVIDENCE_KEYWORDS} more")
    return tuple(values)


def _codec(codepage: object) -> str:
    if isinstance(codepage, int):
        try:
            name = f"cp{codepage}"
            "".encode(name)
            return name
        except LookupError:
            pass
    return "latin-1"
