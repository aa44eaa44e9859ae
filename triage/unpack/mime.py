"""The MIME unpacker: an email artifact's parts become child artifacts (bodies, attachments, nested messages).

Parsing is `ingest.eml`'s job; this module only maps `ParsedEmail.parts` to `Child` records. Nested messages are
handed over already parsed, and the forwarded original is handed over as the very object `find_original`
returned, because the engine finds the message under analysis by identity.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from triage.ingest.eml import ParsedEmail, parse_email
from triage.ingest.forward import find_original
from triage.model import JsonValue, NoteKind
from triage.plugins import ArtifactView, Child, PluginContext

if TYPE_CHECKING:
    from triage.config import Config


class MimeUnpacker:
    """Unpacks "email" artifacts into their MIME parts."""

    name = "mime"
    accepts = frozenset({"email"})
    emits: frozenset[str] = frozenset()

    def setup(self, config: Config) -> None:
        """Nothing to prepare: parsing limits live in ingest.eml."""

    def unpack(self, target: ArtifactView, ctx: PluginContext) -> Iterator[Child]:
        parsed = ctx.parsed_for(target.id)
        if not isinstance(parsed, ParsedEmail):
            parsed = parse_email(target.data, deadline=time.monotonic() + ctx.remaining_seconds())
        if parsed.cut_short and target.artifact.depth > 0:  # the engine notes the top message's own
            ctx.note(NoteKind.TIMEOUT, "the scan's deadline passed while parsing this message")
        ctx.add_message(target.id, parsed)
        original = find_original(parsed)
        original_path = original.part_path if original is not None else None
        for part in parsed.parts:
            ctx.check_deadline()
            meta: dict[str, JsonValue] = {"mime_path": part.path}
            if part.disposition is not None:
                meta["disposition"] = part.disposition
            if part.charset is not None:
                meta["charset"] = part.charset
            if part.is_body:
                meta["body"] = True
            budget = ctx.max_child_size()
            if len(part.payload) > budget:
                ctx.note(
                    NoteKind.LIMIT_SIZE,
                    f"MIME part {part.path} of {len(part.payload)} bytes exceeds the size budget ({budget} bytes)",
                )
                yield Child(
                    data=None,
                    name=part.filename,
                    declared_type=part.content_type,
                    declared_size=len(part.payload),
                    meta={**meta, "unreadable": "exceeds the size budget"},
                )
                continue
            nested = part.message
            if original is not None and original_path is not None and part.path == original_path:
                nested = original.parsed
            yield Child(
                data=part.payload,
                name=part.filename,
                declared_type=part.content_type,
                meta=meta,
                parsed=nested,
            )
