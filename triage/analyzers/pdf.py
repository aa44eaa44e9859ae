"""PDF payloads: JavaScript, automatic actions, Launch, embedded files, obfuscated names, remote actions, links.

The document is read by `triage.pdfscan` (pikepdf/qpdf, with a raw-token scan beside it; see there for why).
What each finding means:

- ``PDF_JAVASCRIPT``: script in a /JS entry (an action in the catalog's /Names tree, /OpenAction, /AA, an
  annotation, a form field) or in an XFA form. Full strength when it runs by itself or calls functions exploits
  and droppers use (eval, unescape, util.printf, exportDataObject...); 0.6 when only form events run it.
- ``PDF_AUTO_ACTION``: /OpenAction, a document, page or annotation /AA event that fires without a click, or
  document-level JavaScript, triggering an action that leaves the page view. Full strength for JavaScript, Launch,
  ImportData, GoToE, Rendition and RichMediaExecute; 0.5 for URI, SubmitForm and GoToR (opening a link).
- ``PDF_LAUNCH``: a /Launch action; the target and its parameters are the evidence. Full strength when it runs a
  program or interpreter (cmd.exe, powershell...) or fires by itself, 0.7 otherwise.
- ``PDF_EMBEDDED_FILE``: an embedded file (the /EmbeddedFiles tree, a FileAttachment annotation, any file spec,
  or an orphan /EmbeddedFile stream). Full strength for executable content or names, 0.3 for data formats
  (XML invoices, text, images), 0.6 otherwise. The PDF unpacker extracts each one.
- ``PDF_OBFUSCATED_NAME``: a name with a needless ``#xx`` escape of a letter or digit (``/J#61vaScript``); full
  strength when it spells a name readers act on.
- ``PDF_REMOTE_ACTION``: SubmitForm, GoToR, GoToE or ImportData pointing outside the document; full strength for a
  URL or a UNC path (``\\\\host\\share`` leaks the Windows credentials hash).
- ``PDF_RICH_MEDIA``: Flash/RichMedia content, the carrier of a decade of reader exploits.

URIs (link actions and URL targets) go to the report's IOCs. A document qpdf cannot open at all is judged by its raw
tokens (strength 0.8) with an ``unparsable`` Note; names in the raw bytes that the parsed structure does not reach
(an older revision, an unreferenced object) count at 0.5. A PDF that needs a user password is
``ARCHIVE_ENCRYPTED``; the message's password candidates are tried (``ARCHIVE_PASSWORD_IN_BODY`` when one opens it,
``ARCHIVE_ENCRYPTED_NO_PASSWORD`` and an ``encrypted_no_password`` Note when none does). A PDF with only an owner
password opens without one: that is metadata, not a finding. A damaged file that qpdf repairs is meta
``pdf_repaired``; objects lost in the repair are an ``unparsable`` Note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from triage.analyzers.executable import EXECUTABLE_EXTENSIONS
from triage.model import Finding, JsonValue, NoteKind
from triage.names import escape_controls, real_extension
from triage.pdfscan import ACTIVE_ACTIONS, TOKENS, Action, PdfFacts, PdfLimits, pdf_limits, scan_pdf
from triage.plugins import ArtifactView, PluginContext, Scope
from triage.registry import declared_emits
from triage.unpack.trials import report_no_password, report_opened

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["PdfAnalyzer"]

_STRONG_AUTO = frozenset({"JavaScript", "Launch", "ImportData", "GoToE", "Rendition", "RichMediaExecute"})
_REMOTE = frozenset({"SubmitForm", "GoToR", "GoToE", "ImportData"})
# Functions of Acrobat's JavaScript API that exploits (CVE-2007-5659, CVE-2008-2992, CVE-2009-0927, CVE-2009-1492,
# CVE-2009-4324...) and droppers call, and the usual unpacking of an obfuscated payload.
_JS_SUSPICIOUS = re.compile(
    r"\b(eval|unescape|String\.fromCharCode|util\.printf|Collab\.collectEmailInfo|Collab\.getIcon|"
    r"media\.newPlayer|spell\.customDictionaryOpen|getAnnots|exportDataObject|launchURL|importDataObject|"
    r"app\.openDoc|submitForm|getURL|app\.setTimeOut|util\.stringFromStream)\b"
)
_INTERPRETERS = re.compile(
    r"(?i)(^|[\\/\s\"'])(cmd|powershell|pwsh|mshta|wscript|cscript|rundll32|regsvr32|certutil|bitsadmin|msiexec|"
    r"schtasks|curl|wget|bash|sh)(\.exe)?($|[\s\"'])"
)
_DATA_EXTENSIONS = frozenset({"xml", "txt", "csv", "json", "png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff"})
_SCRIPT_HEAD = 80
_EVIDENCE_ITEMS = 5
_FILE_HEAD = 512


def _q(text: str | None, limit: int = 120) -> str:
    shown = escape_controls(text or "")
    return f'"{shown if len(shown) <= limit else shown[: limit - 1] + "…"}"'


def _unc(target: str) -> bool:
    return target.startswith(("\\\\", "//"))


def _where(action: Action) -> str:
    trigger = action.triggers[0] if action.triggers else "no automatic trigger"
    return f"{trigger} → {action.kind} (obj {action.obj})"


class PdfAnalyzer:
    name = "pdf"
    scope = Scope.ARTIFACT
    accepts = frozenset({"pdf"})
    emits = declared_emits(__name__, "PdfAnalyzer")

    def __init__(self) -> None:
        self._limits = PdfLimits()

    def setup(self, config: Config) -> None:
        self._limits = pdf_limits(config.analyzer_options(self.name), "analyzers.pdf")

    def analyze(self, target: ArtifactView, ctx: PluginContext) -> Iterable[Finding]:
        if not target.readable or not target.data:
            return []
        facts = scan_pdf(target.data, ctx, self._limits, file_head=_FILE_HEAD)
        self._meta(facts, ctx)
        self._encryption(facts, target, ctx)
        if not facts.parsed and not facts.encryption.needs_user_password:
            detail = f"PDF structure unreadable ({facts.error}); judged by a raw token scan only"
            if facts.unreadable_streams:
                detail += f", {facts.unreadable_streams} stream(s) would not inflate"
            ctx.note(NoteKind.UNPARSABLE, detail)
        if facts.repaired and facts.damaged_objects:
            ctx.note(
                NoteKind.UNPARSABLE,
                f"damaged PDF: {facts.damaged_objects} object(s) unreadable after repair (raw tokens judged instead)",
            )
        if facts.objects_skipped:
            ctx.note(
                NoteKind.LIMIT_SIZE,
                f"walked the first {facts.objects} PDF objects; {facts.objects_skipped} more past max_objects",
            )
        if facts.qpdf_limit_hits:
            ctx.note(
                NoteKind.LIMIT_SIZE,
                f"qpdf refused {facts.qpdf_limit_hits} stream(s) past {self._limits.max_decoded_stream} decoded bytes",
            )
        self._javascript(facts, ctx)
        self._auto(facts, ctx)
        self._launch(facts, ctx)
        self._embedded(facts, ctx)
        self._obfuscated(facts, ctx)
        self._remote(facts, ctx)
        if facts.rich_media or facts.tokens.count("RichMedia"):
            ctx.emit("PDF_RICH_MEDIA", ("RichMedia (Flash/3D) content",))
        for uri in facts.uris:
            ctx.add_ioc("urls", uri)
        return []

    # -- meta and encryption ---------------------------------------------------------------------------------
    def _meta(self, facts: PdfFacts, ctx: PluginContext) -> None:
        if facts.parsed:
            ctx.set_meta("pdf_objects", facts.objects)
        if facts.repaired:
            ctx.set_meta("pdf_repaired", True)
        if facts.warnings:
            ctx.set_meta("pdf_warnings", len(facts.warnings))
        if facts.damaged_objects:
            ctx.set_meta("pdf_damaged_objects", facts.damaged_objects)
        tokens: dict[str, JsonValue] = {t: facts.tokens.count(t) for t in TOKENS if facts.tokens.count(t)}
        if tokens:
            ctx.set_meta("pdf_tokens", tokens)
        kinds: dict[str, JsonValue] = {}
        for action in facts.actions:
            kinds[action.kind] = int(kinds.get(action.kind, 0)) + 1
        if kinds:
            ctx.set_meta("pdf_actions", kinds)
        if facts.xfa:
            ctx.set_meta("pdf_xfa", True)
        if facts.uris:
            ctx.set_meta("pdf_uris", len(facts.uris))
        if facts.encryption.encrypted:
            ctx.set_meta("pdf_encryption", facts.encryption.description)
            ctx.set_meta("pdf_user_password", facts.encryption.needs_user_password)

    def _encryption(self, facts: PdfFacts, target: ArtifactView, ctx: PluginContext) -> None:
        enc = facts.encryption
        if not enc.needs_user_password:
            return
        name = target.name or target.id
        ctx.emit("ARCHIVE_ENCRYPTED", (escape_controls(name), "PDF needs a password to open", enc.description))
        if enc.opened_with is not None:
            report_opened(ctx, enc.opened_with, what="PDF")
        else:
            report_no_password(ctx, name, enc.tried, why=enc.description, what="PDF")

    # -- findings --------------------------------------------------------------------------------------------
    def _raw_only(self, facts: PdfFacts, found: bool, names: tuple[str, ...]) -> tuple[float, str] | None:
        """(strength, evidence) when raw tokens show what the structure did not."""
        count = sum(facts.tokens.count(n) for n in names)
        if found or not count or any(facts.reached.get(n) for n in names):
            return None
        shown = " or /".join(names)
        if not facts.parsed:
            return 0.8, f"{count} /{shown} token(s) in the raw bytes (structure not readable)"
        # In a damaged file the reader's repair may well reach what qpdf's did not: judge as unreadable.
        strength = 0.8 if facts.repaired else 0.5
        return strength, f"{count} /{shown} token(s) in the raw bytes that the parsed structure does not reach"

    def _javascript(self, facts: PdfFacts, ctx: PluginContext) -> None:
        scripts = facts.scripts
        js_actions = [a for a in facts.actions if a.kind == "JavaScript"]
        raw = self._raw_only(facts, bool(scripts or js_actions), ("JavaScript", "JS"))
        if raw is not None:
            ctx.emit("PDF_JAVASCRIPT", (raw[1],), strength=raw[0])
            return
        if not scripts and not js_actions:
            return
        evidence = [f"{len(scripts)} script(s)"]
        calls: dict[str, None] = {}
        for script in scripts:
            calls.update(dict.fromkeys(m.group(1) for m in _JS_SUSPICIOUS.finditer(script.text)))
        auto = any(s.auto for s in scripts) or any(a.auto for a in js_actions)
        for script in scripts[:_EVIDENCE_ITEMS]:
            trigger = f" via {script.triggers[0]}" if script.triggers else ""
            size = f"{len(script.text)} chars" + (", truncated" if script.truncated else "")
            evidence.append(f"{script.context} (obj {script.obj}){trigger}, {size}")
        if calls:
            evidence.append("calls " + ", ".join(list(calls)[:10]))
        if scripts:
            head = " ".join(scripts[0].text.split())[:_SCRIPT_HEAD]
            evidence.append(f"begins {_q(head)}")
        ctx.emit("PDF_JAVASCRIPT", evidence, strength=1.0 if auto or calls else 0.6)

    def _auto(self, facts: PdfFacts, ctx: PluginContext) -> None:
        fired = [a for a in facts.actions if a.auto and a.kind in ACTIVE_ACTIONS]
        if not fired:
            # An /OpenAction that is a page destination, or a form's /AA, is normal: only raw tokens the
            # structure never reached count, and only in a file that needed repair or could not be read.
            unreached = not facts.parsed or facts.repaired
            raw = self._raw_only(facts, False, ("OpenAction", "AA")) if unreached else None
            if raw is not None:
                ctx.emit("PDF_AUTO_ACTION", (raw[1],), strength=raw[0] * 0.5)
            return
        evidence = []
        for action in fired[:_EVIDENCE_ITEMS]:
            target = f" {_q(action.target)}" if action.target else ""
            evidence.append(_where(action) + target)
        strong = any(a.kind in _STRONG_AUTO for a in fired)
        ctx.emit("PDF_AUTO_ACTION", evidence, strength=1.0 if strong else 0.5)

    def _launch(self, facts: PdfFacts, ctx: PluginContext) -> None:
        launches = [a for a in facts.actions if a.kind == "Launch"]
        raw = self._raw_only(facts, bool(launches), ("Launch",))
        if raw is not None:
            ctx.emit("PDF_LAUNCH", (raw[1],), strength=raw[0])
            return
        if not launches:
            return
        evidence: list[str] = []
        strong = False
        for action in launches[:_EVIDENCE_ITEMS]:
            target = action.target or ""
            line = f"Launch {_q(target)}" if target else "Launch with no readable target"
            if action.params:
                line += f" with parameters {_q(action.params, 200)}"
            evidence.append(line)
            evidence.append(_where(action))
            runs = _INTERPRETERS.search(target) is not None or real_extension(target) in EXECUTABLE_EXTENSIONS
            strong = strong or runs or action.auto
        ctx.emit("PDF_LAUNCH", evidence, strength=1.0 if strong else 0.7)

    def _embedded(self, facts: PdfFacts, ctx: PluginContext) -> None:
        files = facts.embedded
        raw = self._raw_only(facts, bool(files), ("EmbeddedFile", "EmbeddedFiles"))
        if raw is not None:
            ctx.emit("PDF_EMBEDDED_FILE", (raw[1],), strength=raw[0] * 0.75)
            return
        if not files:
            return
        evidence = [f"{len(files)} embedded file(s)"]
        strength = 0.0
        for item in files:
            ext = real_extension(item.name) if item.name else ""
            executable = item.head.startswith(b"MZ") or ext in EXECUTABLE_EXTENSIONS
            strength = max(strength, 1.0 if executable else 0.3 if ext in _DATA_EXTENSIONS else 0.6)
            if len(evidence) <= _EVIDENCE_ITEMS:
                line = f"{_q(item.name) if item.name else 'unnamed'} (obj {item.obj}, {', '.join(item.contexts)})"
                if item.declared_size is not None:
                    line += f", declares {item.declared_size} bytes"
                if item.head.startswith(b"MZ"):
                    line += ", content starts with MZ (Windows executable)"
                evidence.append(line)
        ctx.emit("PDF_EMBEDDED_FILE", evidence, strength=strength)

    def _obfuscated(self, facts: PdfFacts, ctx: PluginContext) -> None:
        names = facts.tokens.obfuscated
        if not names:
            return
        meaningful = {f"/{t}" for t in TOKENS} | {f"/{k}" for k in ACTIVE_ACTIONS}
        strong = any(decoded in meaningful for _, decoded in names)
        evidence = [f"{_q(raw, 60)} is {_q(decoded, 60)}" for raw, decoded in names[:_EVIDENCE_ITEMS]]
        ctx.emit("PDF_OBFUSCATED_NAME", evidence, strength=1.0 if strong else 0.5)

    def _remote(self, facts: PdfFacts, ctx: PluginContext) -> None:
        remote = [a for a in facts.actions if a.kind in _REMOTE and a.target]
        if not remote:
            return
        evidence = []
        strong = False
        for action in remote[:_EVIDENCE_ITEMS]:
            target = action.target or ""
            outside = action.target_is_url or _unc(target)
            strong = strong or outside
            evidence.append(f"{action.kind} to {_q(target)}" + (" (UNC path)" if _unc(target) else ""))
        ctx.emit("PDF_REMOTE_ACTION", evidence, strength=1.0 if strong else 0.5)
