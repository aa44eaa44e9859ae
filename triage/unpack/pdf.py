"""PDF: embedded files and JavaScript source out as children, so the whole pipeline sees them.

Embedded files (the /EmbeddedFiles tree, FileAttachment annotations, any file spec, orphan /EmbeddedFile streams)
come out under their file-spec name, decoded with an output cap: min(the size budget, the bomb line of
``[unpack.pdf]`` bomb_ratio/bomb_min_size, as for zip and gzip). Each JavaScript source (a /JS string or stream, an
XFA <script>) comes out as a text child named ``<object number>.js`` with meta ``decoded = "pdf-js"``, for the
YARA and script analyzers.

The document is walked by `triage.pdfscan`, the same way as the PDF analyzer does; a PDF that needs a user
password is opened with the message's candidates again. Reporting the encryption outcome and an unreadable
structure is the analyzer's job: here a document that will not open yields no children, silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from triage.errors import ConfigError
from triage.model import JsonValue, NoteKind
from triage.pdfscan import Decoded, EmbeddedFile, PdfDocument, PdfLimits, open_document, pdf_limits
from triage.plugins import ArtifactView, Child, PluginContext
from triage.registry import declared_emits
from triage.unpack.zip import (
    UNREADABLE_BOMB,
    UNREADABLE_CORRUPT,
    UNREADABLE_TOO_LARGE,
    BombLimits,
    bomb_limits,
    show,
)

if TYPE_CHECKING:
    from triage.config import Config

__all__ = ["PdfUnpacker"]

_DEFAULT_MAX_CHILDREN = 100


class PdfUnpacker:
    name = "pdf"
    accepts = frozenset({"pdf"})
    emits = declared_emits(__name__, "PdfUnpacker")

    def __init__(self) -> None:
        self._limits = PdfLimits()
        self._bombs = BombLimits()
        self._max_children = _DEFAULT_MAX_CHILDREN

    def setup(self, config: Config) -> None:
        options = config.unpack_options("pdf")
        self._bombs = bomb_limits(options, "pdf", frozenset({"max_children"}))
        value = options.get("max_children", _DEFAULT_MAX_CHILDREN)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError("[unpack.pdf] max_children must be a positive integer")
        self._max_children = value
        # The walk's limits are the analyzer's: one place says how far a PDF is read.
        self._limits = pdf_limits(config.analyzer_options("pdf"), "analyzers.pdf")

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        if not target.data:
            return
        with open_document(target.data, ctx, self._limits, tokens=False) as doc:
            facts = doc.facts
            if not facts.parsed:
                return
            total = len(facts.embedded) + len(facts.scripts)
            if total > self._max_children:
                ctx.note(
                    NoteKind.LIMIT_FILES,
                    f"PDF holds {total} embedded files and scripts; the first {self._max_children} are extracted",
                )
            budget = self._max_children
            for item in facts.embedded:
                if budget <= 0:
                    return
                budget -= 1
                ctx.check_deadline()
                yield self._file(doc, item, ctx)
            used: set[str] = set()
            for script in facts.scripts:
                if budget <= 0:
                    return
                budget -= 1
                ctx.check_deadline()
                name = f"{script.obj}.js"
                suffix = 2
                while name in used:
                    name = f"{script.obj}-{suffix}.js"
                    suffix += 1
                used.add(name)
                meta: dict[str, JsonValue] = {
                    "decoded": "pdf-js",
                    "pdf_object": script.obj,
                    "pdf_context": script.context,
                }
                if script.triggers:
                    meta["pdf_triggers"] = list(script.triggers[:5])
                if script.truncated:
                    meta["truncated"] = True
                    ctx.note(
                        NoteKind.LIMIT_SIZE,
                        f"JavaScript in object {script.obj} cut at {self._limits.max_script_bytes} bytes",
                    )
                yield Child(data=script.text.encode("utf-8"), name=name, meta=meta)

    def _file(self, doc: PdfDocument, item: EmbeddedFile, ctx: PluginContext) -> Child:
        name = item.name or f"embedded-{item.obj}"
        shown = show(name)
        meta: dict[str, JsonValue] = {"pdf_object": item.obj, "pdf_context": ", ".join(item.contexts)}
        if item.subtype:
            meta["mime"] = item.subtype
        cap = ctx.max_child_size()
        bombs = self._bombs
        stops: dict[str, int] = {}

        def limit(encoded: int) -> int:
            stops["bomb_line"] = bombs.threshold(encoded) - 1
            stops["encoded"] = encoded
            return min(cap, stops["bomb_line"])

        content: Decoded = doc.decode(item, limit)

        def unreadable(reason: str) -> Child:
            return Child(data=None, name=name, declared_size=item.declared_size, meta={**meta, "unreadable": reason})

        if content.problem == "too_large":
            encoded = stops.get("encoded", 0)
            if stops.get("bomb_line", cap) <= cap:
                ratio = stops["bomb_line"] / encoded if encoded else float("inf")
                ctx.emit("ARCHIVE_BOMB", (shown, f"ratio over {ratio:.0f}:1", f"from {encoded} encoded bytes"))
                ctx.note(NoteKind.LIMIT_SIZE, f"embedded file {shown!r} not extracted: a decompression bomb")
                return unreadable(UNREADABLE_BOMB)
            ctx.note(NoteKind.LIMIT_SIZE, f"embedded file {shown!r} decodes past the size budget ({cap} bytes left)")
            return unreadable(UNREADABLE_TOO_LARGE)
        if content.problem is not None:
            ctx.note(NoteKind.UNPARSABLE, f"embedded file {shown!r}: {content.problem}")
            if not content.data:
                return unreadable(UNREADABLE_CORRUPT)
            meta["decode_problem"] = content.problem
        elif content.truncated:
            meta["truncated"] = True
            ctx.note(NoteKind.UNPARSABLE, f"embedded file {shown!r}: stream ends early; {len(content.data)} bytes")
        return Child(data=content.data, name=name, declared_size=item.declared_size, meta=meta)
