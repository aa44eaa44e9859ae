"""Office documents as containers: the decrypted document, embedded objects and decoded macros out as children.

What comes out, so that every part gets the whole pipeline (filetype, analyzers, YARA, nested unpacking):

- an encrypted document (an OLE file holding an ECMA-376 ``EncryptedPackage``, or a .doc/.xls/.ppt with RC4 /
  CryptoAPI encryption): the decrypted document, decrypted in memory with msoffcrypto-tool, with the message's
  password candidates and Office's well-known default ``VelvetSweatshop`` (an .xls "encrypted" with it opens
  without a prompt). It is ``ARCHIVE_ENCRYPTED`` either way; one no candidate opens is never called clean.
- OLE Package payloads (``\\x01Ole10Native`` streams, read with oletools' oleobj) and the ``Package`` /
  ``CONTENTS`` streams of embedded objects; a payload that is an executable by name or content is
  ``DOC_EMBEDDED_EXECUTABLE`` on the object that carries it.
- OOXML members other than the document's own XML parts: ``*/embeddings/*`` and ActiveX binaries, and anything
  an OOXML package has no business holding. An OLE member (``oleObject1.bin``) comes back through here.
- each VBA module's decoded source as a text child ``<module>.vba`` (meta ``decoded="vba"``), and XLM macros as
  ``xlm_macros.xlm`` (``decoded="xlm"``), so text rules (YARA) see what the macro really says.

Bounds: the zip side goes through ZipUnpacker (bounded central directory, streamed inflation, bombs); OLE
streams and the ``EncryptedPackage`` are size-checked against ``ctx.max_child_size()`` before they are read.
oletools and msoffcrypto-tool are imported on first use: their import costs a quarter of a second.
"""

from __future__ import annotations

import hashlib
import io
import struct
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from triage.biff import FILEPASS, globals_has
from triage.errors import ConfigError
from triage.model import JsonValue, NoteKind
from triage.names import escape_controls, real_extension
from triage.plugins import ArtifactView, Child, PasswordCandidate, PluginContext
from triage.registry import declared_emits
from triage.rulefiles import check_options
from triage.unpack.trials import report_no_password, report_opened, try_passwords
from triage.unpack.zip import ZipUnpacker

if TYPE_CHECKING:
    from triage.config import Config

__all__ = [
    "OFFICE_TAGS",
    "OfficeUnpacker",
    "executable_reason",
    "is_office_target",
    "may_be_encrypted",
    "quiet_oletools",
]

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Every tag an Office document or a part of one carries (triage.filetype).
OFFICE_TAGS = frozenset({"ole", "doc", "xls", "ppt", "ooxml", "ooxml-encrypted", "docx", "xlsx", "pptx"})
# OLE files that are not documents: Outlook messages and installer packages belong to other readers.
_NOT_DOCUMENTS = frozenset({"msg", "msi"})
DEFAULT_PASSWORD = PasswordCandidate("VelvetSweatshop", "default")

_EXECUTABLE_EXTENSIONS = frozenset(
    {"exe", "scr", "com", "pif", "cpl", "dll", "sys", "bat", "cmd", "js", "jse", "vbs", "vbe", "wsf", "wsh", "hta"}
    | {"ps1", "lnk", "msi", "jar", "chm", "reg", "inf", "sct", "url", "iqy", "settingcontent-ms", "application"}
)
# OOXML members that are the document itself, not something it carries.
_OOXML_OWN_SUFFIXES = (".xml", ".rels", ".vml", ".sigs", ".psdsor", ".psdsxs")
_OOXML_OWN_DIRS = ("/media/", "/fonts/", "/printersettings/", "docprops/", "customxml/", "/thumbnail", "/theme/")
_EMBEDDED_STREAMS = frozenset({"package", "contents", "\x01ole10native"})

_DEFAULTS: Mapping[str, int] = {"max_objects": 200, "max_macro_chars": 2_000_000}
_DEFAULT_DECRYPT_SECONDS = 3.0
# Guesses stop this long before the scan's deadline, so the outcome is still reported (not lost to a timeout).
_DEADLINE_MARGIN = 1.0
# The agile spinCount is the document's own: one guess at 2^31 rounds is hours of SHA-512 in one call, past every
# deadline check. Office writes 100,000; ten times that is still about a second a guess.
MAX_SPIN_COUNT = 1_000_000


class SpinCountTooHigh(ValueError):
    """An encrypted document asks for more key-derivation rounds than MAX_SPIN_COUNT."""


class _GiveUp(Exception):
    """Password guessing on one document ran out of its time budget."""


def is_office_target(types: tuple[str, ...]) -> bool:
    """An artifact the Office plugins should read: Office tags, and not an Outlook message or an installer."""
    return not OFFICE_TAGS.isdisjoint(types) and _NOT_DOCUMENTS.isdisjoint(types)


def executable_reason(name: str | None, data: bytes | None) -> str | None:
    """Why an embedded payload is an executable ("content MZ", 'name ".exe"'), or None."""
    if data is not None:
        if data[:2] == b"MZ":
            return "content: MZ executable header"
        if data[:4] == b"\x7fELF":
            return "content: ELF executable"
        if data[:20] == b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46":
            return "content: Windows shortcut (LNK)"
    if name:
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        ext = real_extension(base)
        if ext in _EXECUTABLE_EXTENSIONS:
            return f'name: ".{ext}"'
    return None


def quiet_oletools() -> None:
    """oletools logs every oddity of hostile input at WARNING/ERROR to the root handler; our notes say it."""
    import logging

    for name in ("olevba", "oleobj", "msodde", "oleid", "mraptor", "ooxml", "xls_parser", "crypto", "olefile"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


@dataclass(frozen=True)
class _Settings:
    max_objects: int = _DEFAULTS["max_objects"]
    max_macro_chars: int = _DEFAULTS["max_macro_chars"]
    decrypt_seconds: float = _DEFAULT_DECRYPT_SECONDS


class OfficeUnpacker:
    name = "office"
    accepts = OFFICE_TAGS
    emits = declared_emits(__name__, "OfficeUnpacker")

    def __init__(self) -> None:
        self._settings = _Settings()
        self._zip = ZipUnpacker()

    def setup(self, config: Config) -> None:
        options = config.unpack_options(self.name)
        check_options(options, {*_DEFAULTS, "decrypt_seconds"}, "unpack.office")
        values: dict[str, int] = {}
        for key, default in _DEFAULTS.items():
            value = options.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"[unpack.office] {key} must be a positive integer")
            values[key] = value
        seconds = options.get("decrypt_seconds", _DEFAULT_DECRYPT_SECONDS)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds < 1e6:
            raise ConfigError("[unpack.office] decrypt_seconds must be a positive number")
        self._settings = _Settings(**values, decrypt_seconds=float(seconds))
        self._zip.setup(config)

    # -- entry ---------------------------------------------------------------------------------------------------
    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        if not is_office_target(target.types):
            return
        data = target.data
        decrypted = False
        if data.startswith(OLE_MAGIC):
            decrypted = yield from self._ole(target, ctx)
        elif "zip" in target.types:
            yield from self._ooxml(target, ctx)
        if not decrypted and (data.startswith(OLE_MAGIC) or "ooxml" in target.types):
            # a decrypted copy comes back through the pipeline: its macros are taken from it, once
            yield from self._macros(target, ctx)

    # -- encrypted documents -------------------------------------------------------------------------------------
    def _encrypted(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        """The decrypted document; nothing for a plain document, or when no password opens it (then a finding
        and a Note say so: the document itself stays in the tree, never called clean)."""
        if not may_be_encrypted(target.data, target.types):
            return  # msoffcrypto's import costs a tenth of a second: spare it plain documents
        name = target.name or "document"
        if _encryption_info_has_dtd(target.data):
            ctx.emit("ARCHIVE_ENCRYPTED", (escape_controls(name), "encrypted Office document (DTD in EncryptionInfo)"))
            ctx.note(NoteKind.UNPARSABLE, "not decrypted: its EncryptionInfo XML declares a DTD (refused unparsed)")
            return
        import msoffcrypto

        try:
            office = msoffcrypto.OfficeFile(io.BytesIO(target.data))
            encrypted = bool(office.is_encrypted())
        except Exception as exc:  # msoffcrypto rejects what it cannot identify: then it is not an encrypted document
            if "ooxml-encrypted" in target.types:  # ... unless it has an EncryptedPackage: never call that clean
                ctx.emit("ARCHIVE_ENCRYPTED", (escape_controls(name), "encrypted Office document (unreadable)"))
                ctx.note(NoteKind.UNPARSABLE, f"not decrypted: {type(exc).__name__}: {exc}"[:300])
            return
        if not encrypted:
            return
        scheme = _scheme(office)
        ctx.set_meta("encrypted", True)
        ctx.set_meta("encryption", scheme)
        ctx.emit("ARCHIVE_ENCRYPTED", (escape_controls(name), f"encrypted Office document ({scheme})"))
        declared = _declared_size(office, target.data)
        cap = ctx.max_child_size()
        if declared is None or declared > cap:
            why = "no EncryptedPackage size" if declared is None else f"declares {declared} bytes, over the budget"
            ctx.note(NoteKind.LIMIT_SIZE if declared else NoteKind.UNPARSABLE, f"not decrypted: {why}")
            return

        failure: list[str] = []
        # ECMA-376 agile key derivation is 100,000 SHA-512 rounds per guess (a tenth of a second or more): the
        # guesses get a time budget of their own, and the outcome is reported even when it runs out.
        budget = min(self._settings.decrypt_seconds, ctx.remaining_seconds() - _DEADLINE_MARGIN)
        started = time.monotonic()
        tries = 0

        def attempt(password: str) -> bytes | None:
            nonlocal tries
            if time.monotonic() - started > budget:
                raise _GiveUp
            tries += 1
            return _decrypt(target.data, password, cap, failure)

        try:
            opened, tried = try_passwords(ctx, attempt, extra=[DEFAULT_PASSWORD], kind="document")
        except _GiveUp:
            opened, tried = None, tries
            failure.insert(0, f"gave up guessing after {budget:.1f} s (decrypt_seconds)")
        if opened is None:
            why = failure[0] if failure else ""
            report_no_password(ctx, name, tried, why=why, what="document")
            return
        if opened.candidate.source == DEFAULT_PASSWORD.source:
            # Office's built-in default is no password from the message: record it, it is no evidence
            ctx.set_meta("password", opened.candidate.value)
            ctx.set_meta("password_source", opened.candidate.source)
        else:
            report_opened(ctx, opened.candidate, what="document")
        meta: dict[str, JsonValue] = {
            "decrypted": True,
            "encryption": scheme,
            "password_source": opened.candidate.source,
        }
        yield Child(data=opened.value, name=name, meta=meta)

    # -- OLE -------------------------------------------------------------------------------------------------------
    def _ole(self, target: ArtifactView, ctx: PluginContext) -> Generator[Child, None, bool]:
        """Children of an OLE file; True when it was an encrypted document that opened."""
        decrypted = False
        if not {"doc", "xls", "ppt", "ooxml-encrypted"}.isdisjoint(target.types):
            for child in self._encrypted(target, ctx):
                decrypted = child.data is not None
                yield child
        if decrypted or "ooxml-encrypted" in target.types:
            return decrypted  # the plain document comes back through the pipeline and is unpacked then
        import olefile

        try:
            ole = olefile.OleFileIO(target.data)
        except Exception as exc:  # olefile raises many kinds on hostile headers
            ctx.note(NoteKind.UNPARSABLE, f"OLE structure unreadable: {type(exc).__name__}: {exc}"[:300])
            return False
        try:
            yield from self._ole_objects(ole, ctx)
        finally:
            ole.close()
        return False

    def _ole_objects(self, ole: Any, ctx: PluginContext) -> Iterator[Child]:
        count = 0
        try:
            entries = ole.listdir(streams=True, storages=False)
        except Exception as exc:  # a looping or broken directory
            ctx.note(NoteKind.UNPARSABLE, f"OLE directory unreadable: {type(exc).__name__}")
            return
        for path in entries:
            ctx.check_deadline()
            leaf = path[-1].lower()
            if leaf not in _EMBEDDED_STREAMS:
                continue
            if count >= self._settings.max_objects:
                ctx.note(NoteKind.LIMIT_FILES, f"more than {self._settings.max_objects} embedded objects")
                return
            count += 1
            shown = "/".join(escape_controls(p) for p in path)
            try:
                size = int(ole.get_size(path))
            except Exception:  # noqa: S112 - a directory entry olefile cannot size is not an object
                continue
            if size > ctx.max_child_size():
                ctx.note(NoteKind.LIMIT_SIZE, f"embedded stream {shown!r} of {size} bytes exceeds the size budget")
                yield Child(
                    data=None, name=path[-1], declared_size=size, meta={"unreadable": "exceeds the size budget"}
                )
                continue
            try:
                raw = ole.openstream(path).read(size)
            except Exception as exc:  # a stream running past the file or through a broken FAT
                ctx.note(NoteKind.UNPARSABLE, f"embedded stream {shown!r} unreadable: {type(exc).__name__}")
                continue
            if leaf == "\x01ole10native":
                child = _package_child(raw, shown, ctx)
            else:
                child = Child(data=raw, name=path[-1], meta={"embedded": "ole-stream", "stream": shown})
                reason = executable_reason(None, raw)
                if reason:
                    ctx.emit("DOC_EMBEDDED_EXECUTABLE", (f"embedded stream {shown}", reason))
            if child is not None:
                yield child

    # -- OOXML -----------------------------------------------------------------------------------------------------
    def _ooxml(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        count = 0
        for child in self._zip.unpack(target, ctx):
            ctx.check_deadline()
            member = (child.name or "").replace("\\", "/")
            if not _carried(member):
                continue
            if count >= self._settings.max_objects:
                ctx.note(NoteKind.LIMIT_FILES, f"more than {self._settings.max_objects} embedded parts")
                return
            count += 1
            reason = executable_reason(member, child.data)
            if reason and child.data is not None and not child.data.startswith(OLE_MAGIC):
                ctx.emit("DOC_EMBEDDED_EXECUTABLE", (f"part {escape_controls(member)}", reason))
            yield Child(
                data=child.data,
                name=child.name,
                declared_size=child.declared_size,
                meta={**child.meta, "embedded": "ooxml-part"},
            )

    # -- macros ----------------------------------------------------------------------------------------------------
    def _macros(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        if "ooxml-encrypted" in target.types:
            return
        from triage.analyzers.office import open_vba  # the analyzer owns the guarded olevba entry

        parser = open_vba(target, ctx)
        if parser is None:
            return
        try:
            budget = min(self._settings.max_macro_chars, ctx.max_child_size())
            seen: set[tuple[str, str]] = set()
            if parser.detect_vba_macros():
                for _container, stream, module, code in parser.extract_macros():
                    ctx.check_deadline()
                    text = code if isinstance(code, str) else bytes(code).decode("utf-8", "replace")
                    key = (str(stream), text)
                    if key in seen or not text.strip():
                        continue
                    seen.add(key)
                    payload = text.encode("utf-8")[:budget]
                    if not payload:
                        ctx.note(NoteKind.LIMIT_SIZE, "decoded macros exceed max_macro_chars")
                        return
                    budget -= len(payload)
                    stem = str(module).rsplit(".", 1)[0] or "module"
                    meta: dict[str, JsonValue] = {"decoded": "vba", "stream": escape_controls(str(stream))}
                    yield Child(data=payload, name=f"{stem}.vba", declared_type="text/plain", meta=meta)
            ctx.check_deadline()
            xlm = getattr(parser, "xlm_macros", None) if parser.detect_xlm_macros() else None
            if xlm:
                listing = "\n".join(str(line) for line in xlm).encode("utf-8")[:budget]
                if listing:
                    yield Child(
                        data=listing, name="xlm_macros.xlm", declared_type="text/plain", meta={"decoded": "xlm"}
                    )
        except Exception as exc:  # olevba on crafted VBA projects raises anything
            ctx.note(NoteKind.UNPARSABLE, f"VBA source not extracted: {type(exc).__name__}: {exc}"[:300])
        finally:
            parser.close()


_PPT_ENCRYPTED_TOKEN = 0xF3D1C4DF  # CurrentUserAtom.headerToken of an encrypted presentation


def may_be_encrypted(data: bytes, types: tuple[str, ...]) -> bool:
    """A cheap look at the flags Office sets: could this OLE document be encrypted? Errs on the side of yes."""
    if "ooxml-encrypted" in types:
        return True
    import olefile

    try:
        with olefile.OleFileIO(data) as ole:
            if ole.exists("EncryptedPackage") or ole.exists("EncryptedSummary"):
                return True
            if "doc" in types and ole.exists("WordDocument"):
                fib = ole.openstream("WordDocument").read(12)
                return len(fib) < 12 or bool(struct.unpack_from("<H", fib, 0x0A)[0] & 0x0100)  # fEncrypted
            if "xls" in types:
                for stream in ("Workbook", "Book"):
                    if ole.exists(stream):
                        return _biff_filepass(ole.openstream(stream).read(_BIFF_SCAN))
            if "ppt" in types and ole.exists("Current User"):
                atom = ole.openstream("Current User").read(16)
                return len(atom) < 16 or struct.unpack_from("<I", atom, 12)[0] == _PPT_ENCRYPTED_TOKEN
    except Exception:  # a broken directory: let msoffcrypto judge
        return True
    return False


_BIFF_SCAN = 4 * 1024 * 1024


def _biff_filepass(stream: bytes) -> bool:
    """True when the BIFF globals substream has a FILEPASS record before its EOF (the workbook is encrypted)."""
    return globals_has(stream, lambda rec_id, _: rec_id == FILEPASS)


def _carried(member: str) -> bool:
    """An OOXML member that is not part of the document's own markup: embeddings, ActiveX, smuggled files."""
    lower = member.lower()
    if lower.endswith("/") or lower.endswith("vbaproject.bin") or lower.endswith("vbadata.xml"):
        return False  # the VBA project's source comes out decoded instead
    if "/embeddings/" in lower or ("/activex/" in lower and not lower.endswith(".xml")):
        return True
    if lower.endswith(_OOXML_OWN_SUFFIXES) or any(d in lower for d in _OOXML_OWN_DIRS):
        return False
    return not lower.endswith((".bin", ".jpeg", ".jpg", ".png", ".emf", ".wmf", ".gif", ".tif", ".bmp", ".odttf"))


def _package_child(raw: bytes, shown: str, ctx: PluginContext) -> Child | None:
    """The file inside an OLE Package (\\x01Ole10Native), or a note when the structure is broken."""
    from oletools import oleobj

    try:
        native = oleobj.OleNativeStream(raw)
    except Exception as exc:  # truncated or crafted package headers
        ctx.note(NoteKind.UNPARSABLE, f"OLE Package {shown!r} unreadable: {type(exc).__name__}")
        return None
    filename = _ansi(native.filename)
    src_path, temp_path = _ansi(native.src_path), _ansi(native.temp_path)
    meta: dict[str, JsonValue] = {
        "embedded": "ole-package",
        "stream": shown,
        "src_path": escape_controls(src_path)[:300],
        "temp_path": escape_controls(temp_path)[:300],
    }
    if native.is_link:
        meta["linked"] = True
        meta["unreadable"] = "a link, no data"
        return Child(data=None, name=filename or None, meta=meta)
    payload = bytes(native.data or b"")
    if native.actual_size is not None and native.actual_size != len(payload):
        meta["declared_size"] = int(native.actual_size)
    reason = None
    for candidate in (filename, src_path, temp_path):
        reason = executable_reason(candidate, payload if candidate == filename else None)
        if reason:
            break
    if reason:
        ctx.emit(
            "DOC_EMBEDDED_EXECUTABLE",
            (f'OLE Package "{escape_controls(filename)}" ({len(payload)} bytes)', reason, f"in {shown}"),
        )
    return Child(data=payload, name=filename or None, meta=meta)


def _ansi(value: object) -> str:
    """A package string as the sender wrote it: oleobj decodes non-ASCII bytes as Latin-1, but a Japanese
    sender's ANSI code page is CP932 (UTF-8 first, for the rare writer that uses it)."""
    text = str(value or "")
    if text.isascii():
        return text
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return text
    for codec in ("utf-8", "cp932"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return text


def _scheme(office: Any) -> str:
    kind = getattr(office, "type", None)
    if kind:
        return f"ECMA-376 {kind}"
    return {"Doc97File": "Word 97 RC4", "Xls97File": "Excel 97 RC4", "Ppt97File": "PowerPoint 97 RC4"}.get(
        type(office).__name__, type(office).__name__
    )


_MAX_ENCRYPTION_INFO = 1024 * 1024


def _encryption_info_has_dtd(data: bytes) -> bool:
    """Does this OLE file's EncryptionInfo stream carry XML with a DTD? msoffcrypto parses agile EncryptionInfo with
    minidom, which expands internal entities: a 400-byte "billion laughs" costs it seconds of CPU before expat's
    amplification limit stops it. Real EncryptionInfo XML has no DTD (MS-OFFCRYPTO 2.3.4.10), so one with a DTD
    never reaches minidom. Expat itself finds the DOCTYPE, in whatever encoding the XML declares, before any entity
    is declared or expanded (defusedxml's forbid_dtd does the same)."""
    if not data.startswith(OLE_MAGIC):
        return False
    import olefile

    try:
        with olefile.OleFileIO(data) as ole:
            if not ole.exists("EncryptionInfo"):
                return False
            info = ole.openstream("EncryptionInfo").read(_MAX_ENCRYPTION_INFO)
    except Exception:  # an unreadable directory: msoffcrypto will not get as far as the XML either
        return False
    return declares_dtd(info[8:])  # after the version (4 bytes) and the flags (4 bytes)


class _DtdFound(Exception):
    pass


def declares_dtd(xml: bytes) -> bool:
    from xml.parsers import expat

    def refuse(*_: object) -> None:
        raise _DtdFound

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(xml, True)
    except _DtdFound:
        return True
    except expat.ExpatError:
        return False  # not well-formed: minidom refuses it at once too
    return False


def _declared_size(office: Any, data: bytes) -> int | None:
    """The decrypted size the document declares: EncryptedPackage's StreamSize, else the file's own size."""
    if type(office).__name__ != "OOXMLFile":
        return len(data)
    import olefile

    try:
        with olefile.OleFileIO(data) as ole, ole.openstream("EncryptedPackage") as stream:
            head = stream.read(8)
    except Exception:  # no such stream, or a broken directory
        return None
    if len(head) < 8:
        return None
    # StreamSize is 8 bytes, but writers (msoffcrypto among them) leave junk in the high half and readers
    # (Office, msoffcrypto) use only the low 4 bytes: so do we.
    return int(struct.unpack("<I", head[:4])[0])


def _decrypt(data: bytes, password: str, cap: int, failure: list[str]) -> bytes | None:
    """The decrypted document, or None for a wrong password; a scheme msoffcrypto cannot handle is recorded once."""
    import msoffcrypto
    from msoffcrypto import exceptions

    _derive_agile_hash_once()
    _derive_standard_key_natively()
    memo = _AGILE_MEMO.set({})
    try:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        if type(office).__name__ == "OOXMLFile":
            office.load_key(password=password, verify_password=True)
        else:
            office.load_key(password=password)
        out = io.BytesIO()
        office.decrypt(out)
    except exceptions.InvalidKeyError:
        return None
    except Exception as exc:  # unsupported schemes and corrupt streams: not a wrong password
        if not failure:
            failure.append(f"cannot decrypt: {type(exc).__name__}: {exc}"[:200])
        return None
    finally:
        _AGILE_MEMO.reset(memo)
    result = out.getvalue()
    if not result or len(result) > cap:
        if not failure:
            failure.append("decrypted content empty or over the size budget")
        return None
    return result


# The agile-encryption hashes derived during one `_decrypt` call (see `_derive_agile_hash_once`); None outside.
_AGILE_MEMO: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("triage_agile_memo", default=None)


def _derive_agile_hash_once() -> None:
    """Have msoffcrypto-tool derive each agile-encryption password hash once per decryption instead of twice.

    `load_key(verify_password=True)` runs the 100,000-round SHA-512 derivation for the verifier and again for the
    key: about 0.15 s each, which made a right password cost twice a wrong one. Inside `_decrypt` (and only there:
    the memo lives in a context variable set for that call) the replacement reuses the first result and returns
    copies, so callers see exactly what the original returns.
    """
    from msoffcrypto.method.ecma376_agile import ECMA376Agile

    original = ECMA376Agile._derive_iterated_hash_from_password
    if not getattr(original, "_triage_memo", False):
        ECMA376Agile._derive_iterated_hash_from_password = staticmethod(memoized_derivation(native_first(original)))


def _derive_standard_key_natively() -> None:
    """Have msoffcrypto-tool's ECMA-376 *standard* encryption key (Office 2007) derived with the 50,000 SHA-1 rounds
    in C when `triage.native` is built: ~0.05 s of Python loop per password guess otherwise."""
    from msoffcrypto.method.ecma376_standard import ECMA376Standard

    original = ECMA376Standard.makekey_from_password
    if not getattr(original, "_triage_native", False):
        ECMA376Standard.makekey_from_password = staticmethod(native_standard_key(original))


STANDARD_ROUNDS = 50_000  # MS-OFFCRYPTO 2.3.4.7: fixed for standard encryption


def native_standard_key(original: Callable[..., bytes]) -> Callable[..., bytes]:
    """msoffcrypto's `makekey_from_password` (MS-OFFCRYPTO 2.3.4.7), the same bytes, with the iterated SHA-1 in C;
    msoffcrypto's own function when the library is not built."""
    from triage import native

    def makekey(
        password: str, alg_id: int, alg_id_hash: int, provider_type: int, key_size: int, salt_size: int, salt: bytes
    ) -> bytes:
        start = _sha1(bytes(salt) + password.encode("utf-16le"))
        iterated = native.iterate_hash("SHA1", start, STANDARD_ROUNDS)
        if iterated is None:
            return original(password, alg_id, alg_id_hash, provider_type, key_size, salt_size, salt)
        final = _sha1(iterated + b"\0\0\0\0")  # block 0
        inner = _sha1(bytes(b ^ 0x36 for b in final) + b"\x36" * (64 - len(final)))
        outer = _sha1(bytes(b ^ 0x5C for b in final) + b"\x5c" * (64 - len(final)))
        return (inner + outer)[: key_size // 8]

    makekey._triage_native = True  # type: ignore[attr-defined]
    makekey.__wrapped__ = original  # type: ignore[attr-defined]
    return makekey


def _sha1(data: bytes) -> bytes:
    # the format's hash, computed to read the file, not to protect anything of ours
    return hashlib.sha1(data, usedforsecurity=False).digest()


class _Digest:
    """A finished hash as msoffcrypto uses the one its derivation returns: only `digest()` (and our memo's copy)."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def digest(self) -> bytes:
        return self._value

    def copy(self) -> _Digest:
        return self


def native_first(original: Callable[[str, bytes, str, int], Any]) -> Callable[[str, bytes, str, int], Any]:
    """msoffcrypto's derivation, with the rounds in C (`triage.native`, ~3x faster) when that library is built."""
    from triage import native

    def derive(password: str, salt: bytes, algorithm: str, rounds: int) -> Any:
        digest = algorithm if algorithm in native.DIGEST_SIZES else "SHA1"  # msoffcrypto's choice for other names
        start = hashlib.new(digest, bytes(salt) + password.encode("utf-16le")).digest()
        final = native.iterate_hash(digest, start, rounds)
        return _Digest(final) if final is not None else original(password, salt, algorithm, rounds)

    return derive


def memoized_derivation(original: Callable[[str, bytes, str, int], Any]) -> Callable[[str, bytes, str, int], Any]:
    """`original`, remembering its results while `_AGILE_MEMO` holds a dict (copies of hash objects returned)."""

    def derive(password: str, salt: bytes, algorithm: str, rounds: int) -> Any:
        if rounds > MAX_SPIN_COUNT:
            raise SpinCountTooHigh(f"spinCount {rounds} is over the {MAX_SPIN_COUNT} this scanner derives")
        memo = _AGILE_MEMO.get()
        if memo is None:
            return original(password, salt, algorithm, rounds)
        key = (password, bytes(salt), algorithm, rounds)
        if key not in memo:
            memo[key] = original(password, salt, algorithm, rounds)
        return memo[key].copy()

    derive._triage_memo = True  # type: ignore[attr-defined]
    return derive
